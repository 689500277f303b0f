/* body: what the azureml target sends, built from a spec without any
 * network: the command line (POSIX-quoted: Azure ML runs it through a shell),
 * ISO 8601 durations, the conda file of an inline environment, environment
 * and code names, and the CommandJob body of the REST API 2023-04-01. */
#ifndef AMLSPEC_AZUREML_BODY_H
#define AMLSPEC_AZUREML_BODY_H

#include <json-c/json.h>
#include <stdbool.h>

#include "azureml/arm.h"
#include "env/resolve.h"
#include "spec/run_spec.h"
#include "util/buf.h"
#include "workspace/runs.h"

/* The container name inline environments are registered under; the version
 * is derived from the environment digest. */
#define AZML_ENV_NAME "amlspec"
/* The image of an inline environment without docker.base_image (Azure ML's
 * DEFAULT_CPU_IMAGE family, reference azureml.md section 1). */
#define AZML_DEFAULT_IMAGE "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest"
#define AZML_JOB_SCHEMA_URL "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json"

/* One word for a POSIX shell: as it is when it is made only of characters no
 * shell treats specially, else single-quoted ('\'' for a quote). "" -> ''. */
char *azml_shell_quote(const char *word);
/* Splits a command line into words as a POSIX shell does for one simple
 * command (quotes, backslashes). Returns 0 with the words, 1 when the line
 * needs a shell (operators, redirections, $ expansions, backquotes, globs,
 * ~, comments, leading assignments), -1 when a quote is not closed. */
int azml_shell_split(const char *line, strlist *words);
/* The job's command: python SCRIPT ARGS... or the command list, every word
 * quoted. */
char *azml_command_line(const run_spec *spec, const envdef *env);
/* seconds -> "PT2H", "PT1H30M5S", "P30D", "P1DT2H", "PT0S". */
char *azml_iso8601_duration(long long seconds);
/* Parses what azml_iso8601_duration writes (and PnW, fractions of seconds
 * rounded down); -1 when it is not a duration. */
long long azml_parse_iso8601_duration(const char *s);

/* The conda file (YAML text) of an environment, or NULL when its dependencies
 * are user-managed (the image is used as it is). */
char *azml_conda_yaml(const envdef *e);
/* The image an environment runs in. */
const char *azml_env_image(const envdef *e);
/* The registered environment's version for a digest ("sha256:<hex>"): the
 * first 32 hex digits. Caller frees. */
char *azml_environment_version(const char *digest);
/* {"properties": {"image", "condaFile", "osType", "description", "tags"}}. */
json_object *azml_environment_body(const resolved_env *env);
/* Whether the spec names a curated environment (no inline changes). */
bool azml_env_is_curated(const run_spec *spec, const resolved_env *env);
/* azureml://registries/azureml/environments/N/versions/V (registry form) or
 * <workspace id>/environments/N/versions/V. */
char *azml_curated_environment_id(const azml_target *t, const char *name, long version);
char *azml_registered_environment_id(const azml_target *t, const resolved_env *env);
/* The code asset's container name for an experiment: amlspec-<experiment>. */
char *azml_code_name(const char *experiment);

/* Variables the job gets: the environment's (env NULL for a curated one,
 * which carries its own on Azure ML), then the spec's (which win). */
void azml_job_variables(kvlist *out, const run_spec *spec, const envdef *env);

typedef struct azml_job_params {
	const run_spec *spec;
	const resolved_env *env;
	const char *environment_id;
	const char *code_id;          /* NULL: no code asset */
	const char *compute_id;
	const char *instance_type;    /* NULL: the compute's default */
	json_object *properties;      /* borrowed: string values, or NULL */
	const kvlist *extra_variables; /* added last (AMLSPEC_* at apply), or NULL */
} azml_job_params;

/* {"properties": {"jobType": "Command", ...}}: the body of PUT jobs/{id}. */
json_object *azml_job_body(const azml_job_params *p);

/* Azure ML's JobStatus to amlspec's: Starting and Provisioning are
 * Preparing, NotResponding and Paused are Running (the job exists and has
 * not ended), anything unknown is Unknown. */
run_status azml_status_map(const char *azure_status);

/* A YAML scalar: plain when that reads back as the same string under YAML
 * 1.1 and 1.2, else double-quoted. */
void azml_yaml_scalar(buf *b, const char *s);

#endif
