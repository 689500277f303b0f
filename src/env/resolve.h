/* resolve: a spec's environment reference to one concrete definition and
 * its digest. */
#ifndef AMLSPEC_RESOLVE_H
#define AMLSPEC_RESOLVE_H

#include "env/catalog.h"
#include "spec/run_spec.h"

typedef struct resolved_env {
	char *label;          /* AzureML-Minimal@36, inline, inline extends X@N, default */
	char *curated_name;   /* NULL for inline without extends and the default */
	long curated_version;
	envdef def;
	char *digest;         /* sha256:... */
} resolved_env;

int env_resolve(resolved_env *out, const env_spec *es, const catalog *cat, diag_list *diags);
/* Resolves NAME[@VERSION] alone (envs show). */
int env_resolve_ref(resolved_env *out, const char *ref, const catalog *cat, diag_list *diags);
void resolved_env_free(resolved_env *r);
struct json_object *resolved_env_to_json(const resolved_env *r);

#endif
