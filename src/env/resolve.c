#include "resolve.h"

#include <stdlib.h>
#include <string.h>

void resolved_env_free(resolved_env *r)
{
	free(r->label);
	free(r->curated_name);
	free(r->digest);
	envdef_free(&r->def);
	memset(r, 0, sizeof(*r));
}

static int lookup(const catalog_version **out, const catalog_entry **eout, const char *name, long version,
		  const catalog *cat, diag_list *diags)
{
	const catalog_entry *e = catalog_find(cat, name);
	if (!e)
		return diag_error(diags, NULL, 0, 0, NULL, "unknown curated environment '%s'", name);
	const catalog_version *v = version ? catalog_entry_version(e, version) : catalog_entry_latest(e);
	if (!v) {
		/* version -1: written as zero (references are checked against
		 * NAME@[0-9]+ before they are resolved) */
		buf list = BUF_INIT;
		for (size_t i = 0; i < e->count; i++)
			buf_printf(&list, "%s%ld", i ? ", " : "", e->versions[i].version);
		int rc = diag_error(diags, NULL, 0, 0, NULL, "curated environment '%s' has no version %ld (versions: %s)",
				    name, version < 0 ? 0 : version, list.ptr);
		buf_free(&list);
		return rc;
	}
	*out = v;
	*eout = e;
	return AML_OK;
}

int env_resolve(resolved_env *out, const env_spec *es, const catalog *cat, diag_list *diags)
{
	memset(out, 0, sizeof(*out));
	const catalog_version *v = NULL;
	const catalog_entry *e = NULL;
	if (es->ref_name) {
		int rc = lookup(&v, &e, es->ref_name, es->ref_version, cat, diags);
		if (rc)
			return rc;
		out->curated_name = xstrdup(e->name);
		out->curated_version = v->version;
		envdef_copy(&out->def, &v->def);
	}
	switch (es->kind) {
	case ENV_DEFAULT:
		out->label = xstrdup("default (python3 as found, user-managed)");
		out->def.user_managed = true;
		break;
	case ENV_CURATED:
		out->label = xasprintf("%s@%ld", e->name, v->version);
		break;
	case ENV_INLINE:
		out->label = e ? xasprintf("inline, extends %s@%ld", e->name, v->version) : xstrdup("inline");
		envdef_overlay(&out->def, &es->inline_def, &es->present);
		break;
	}
	out->digest = envdef_digest(&out->def);
	return AML_OK;
}

int env_resolve_ref(resolved_env *out, const char *ref, const catalog *cat, diag_list *diags)
{
	env_spec es = { 0 };
	es.kind = ENV_CURATED;
	es.ref_name = catalog_split_ref(ref, &es.ref_version);
	int rc = env_resolve(out, &es, cat, diags);
	free(es.ref_name);
	return rc;
}

json_object *resolved_env_to_json(const resolved_env *r)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "label", json_object_new_string(r->label));
	if (r->curated_name) {
		json_object_object_add(o, "curated_name", json_object_new_string(r->curated_name));
		json_object_object_add(o, "curated_version", json_object_new_int64(r->curated_version));
	}
	json_object_object_add(o, "digest", json_object_new_string(r->digest));
	json_object_object_add(o, "definition", envdef_to_json(&r->def));
	return o;
}
