/* discover: PATH arguments to spec files. A file is taken as it is; a folder
 * is searched recursively for run.yaml and *.run.yaml (hidden folders and
 * .amlspec are skipped). The result is sorted, so output is deterministic. */
#ifndef AMLSPEC_DISCOVER_H
#define AMLSPEC_DISCOVER_H

#include "util/diag.h"
#include "util/strlist.h"

int spec_discover(strlist *out, const char *path, diag_list *diags);
bool spec_is_spec_name(const char *name);
/* The search itself: files under dir whose name want() accepts, sorted, in
 * folders other than hidden ones and node_modules; links are not followed. */
void spec_walk(strlist *out, const char *dir, bool (*want)(const char *name));

#endif
