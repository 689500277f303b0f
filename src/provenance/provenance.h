/* provenance: git facts about a source directory, recorded with each run
 * under Azure ML's and MLflow's property names. A folder outside git, or a
 * repository libgit2 cannot open, records nothing and fails nothing. */
#ifndef AMLSPEC_PROVENANCE_H
#define AMLSPEC_PROVENANCE_H

#include <json-c/json.h>
#include <stdbool.h>

#include "util/diag.h"

typedef struct provenance {
	bool available;
	char *repository_uri;   /* origin's URL (credentials stripped), or NULL */
	char *branch;           /* NULL when detached or unborn */
	char *commit;           /* full hex, NULL when unborn */
	bool dirty;             /* changes (untracked included, ignored excluded) under the source dir */
	char *work_tree;        /* repository root */
} provenance;

/* Never fails for a missing repository; adds a warning when one exists but
 * cannot be read (e.g. owned by another user). */
int provenance_collect(provenance *out, const char *source_dir, diag_list *diags);
void provenance_free(provenance *p);
/* {"azureml.git.repository_uri": ..., "azureml.git.branch", "azureml.git.commit",
 *  "azureml.git.dirty": "True"/"False", "mlflow.source.git.repoURL", ".branch", ".commit"};
 * an empty object when not available. */
json_object *provenance_to_properties(const provenance *p);

#endif
