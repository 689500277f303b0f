/* run_spec: one run.yaml, loaded, checked (shape and meaning) and decoded. */
#ifndef AMLSPEC_RUN_SPEC_H
#define AMLSPEC_RUN_SPEC_H

#include "env/envdef.h"
#include "util/diag.h"
#include "util/strlist.h"
#include "workspace/workspace.h"

typedef enum { ENV_DEFAULT, ENV_CURATED, ENV_INLINE } env_kind;

typedef struct env_spec {
	env_kind kind;
	char *ref_name;      /* curated name, or the inline form's extends */
	long ref_version;    /* 0: latest */
	envdef inline_def;   /* inline body (without extends) */
	envdef present;      /* which booleans inline_def sets */
} env_spec;

typedef enum { FW_PYTHON, FW_MPI, FW_PYTORCH, FW_TENSORFLOW, FW_PYSPARK } framework_kind;

typedef struct run_spec {
	char *file;               /* as shown in messages */
	char *abs_file;
	char *address;            /* experiment/name */
	char *experiment;
	char *name;
	char *description;
	kvlist tags;
	char *source_directory;   /* as written (default ".") */
	char *source_dir_abs;     /* real path */
	char *script;             /* NULL with command */
	strlist command;
	strlist arguments;
	env_spec environment;
	kvlist environment_variables;
	strlist secrets;
	char *target;
	framework_kind framework;
	long node_count;
	long process_count_per_node;
	long long timeout_seconds;
	unsigned experiment_line, experiment_col; /* for cross-file messages */
	unsigned name_line, name_col;             /* 0 when the name is the default */
} run_spec;

#define RUN_SPEC_DEFAULT_TIMEOUT (30LL * 86400)

/* Loads and checks path (display name: display) against workspace ws. On
 * errors returns AML_EINVALID with every problem in diags and *out NULL. */
int run_spec_load(run_spec **out, const char *path, const char *display, workspace *ws, diag_list *diags);

/* What the loads of many specs in one command share: the working directory
 * and the real paths of source directories (a sweep of a thousand specs
 * usually names a handful), so each spec costs a stat of its script instead
 * of a realpath() walk of every component. One per thread; it trusts that
 * the program does not change directory while it is in use. */
typedef struct run_spec_cache run_spec_cache;
/* cwd: the working directory when the caller knows it (NULL: asked here). */
run_spec_cache *run_spec_cache_new(const char *cwd);
void run_spec_cache_free(run_spec_cache *c);
/* run_spec_load with a cache (NULL: none). */
int run_spec_load_cached(run_spec **out, const char *path, const char *display, workspace *ws,
			 run_spec_cache *cache, diag_list *diags);
/* Parses and checks the shape of a spec held in memory (a file at a git
 * revision): no file-system checks; path_for_name gives the default name. */
int run_spec_parse_text(run_spec **out, const char *display, const char *path_for_name, const char *text, size_t len,
			diag_list *diags);
void run_spec_free(run_spec *s);
const char *framework_name(framework_kind f);
/* The canonical JSON form of the spec's fields (for state and plan diffs). */
struct json_object *run_spec_to_json(const run_spec *s);

#endif
