/* jobyaml: amlspec specs to and from Azure ML CLI v2 command-job YAML
 * (https://azuremlschemas.azureedge.net/latest/commandJob.schema.json), as
 * written in Azure's azureml-examples repository. */
#ifndef AMLSPEC_AZUREML_JOBYAML_H
#define AMLSPEC_AZUREML_JOBYAML_H

#include <json-c/json.h>

#include "azureml/arm.h"
#include "env/resolve.h"
#include "spec/run_spec.h"
#include "util/buf.h"
#include "util/diag.h"
#include "workspace/workspace.h"

/* The command-job YAML for spec on target t: code is the spec's
 * source_directory (relative to the spec's folder, as the YAML's own `code:`
 * is relative to the YAML file), limits.timeout in seconds. properties:
 * string values to record (git provenance), or NULL. */
void azml_export_job_yaml(buf *out, const run_spec *spec, const resolved_env *env, const azml_target *t,
			  json_object *properties);

/* A run.yaml (text) from the command-job YAML at path (display: how to name
 * it). ws, when known, resolves `compute:` to a declared azureml target and
 * checks curated names against its catalog. What cannot be carried over is a
 * warning in diags; what makes no spec at all is an error. */
int azml_import_job_yaml(buf *out, const char *path, const char *display, workspace *ws, diag_list *diags);

#endif
