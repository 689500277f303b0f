#include "plan/saved.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/fs.h"

#define SAVED_KIND "amlspec-saved-plan"

static char *file_sha256(const char *path)
{
	buf b = BUF_INIT;
	char hex[65];
	if (buf_read_file(&b, path, 16 * 1024 * 1024) < 0) {
		buf_free(&b);
		return NULL;
	}
	sha256_hex(b.ptr, b.len, hex);
	buf_free(&b);
	return xasprintf("sha256:%s", hex);
}

static char *lock_sha(const workspace *ws)
{
	char *p = fs_join(ws->root, "amlspec.lock");
	char *d = fs_is_file(p) ? file_sha256(p) : NULL;
	free(p);
	return d;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v) : NULL;
}

static const char *action_name(plan_action a)
{
	return a == PLAN_CREATE ? "create" : a == PLAN_RERUN ? "rerun" : "no-op";
}

json_object *saved_plan_new(const plan *p, const workspace *ws, const cli *ctx)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "format_version", json_object_new_string("1.0"));
	json_object_object_add(o, "kind", json_object_new_string(SAVED_KIND));
	json_object_object_add(o, "workspace", json_object_new_string(ws->root));
	json_object *st = json_object_new_object();
	json_object_object_add(st, "lineage", json_object_new_string(p->lineage));
	json_object_object_add(st, "serial", json_object_new_int64(p->serial));
	json_object_object_add(o, "state", st);
	char *ls = lock_sha(ws);
	json_object_object_add(o, "lock_file", ls ? json_object_new_string(ls) : NULL);
	free(ls);
	json_object *entries = json_object_new_array();
	for (size_t i = 0; i < p->count; i++) {
		const plan_entry *e = &p->entries[i];
		json_object *j = json_object_new_object();
		json_object_object_add(j, "address", json_object_new_string(e->file->spec->address));
		json_object_object_add(j, "file", json_object_new_string(e->file->spec->abs_file));
		char *fs = file_sha256(e->file->spec->abs_file);
		json_object_object_add(j, "file_sha256", fs ? json_object_new_string(fs) : NULL);
		free(fs);
		json_object_object_add(j, "environment_digest", json_object_new_string(e->env.digest));
		json_object_object_add(j, "snapshot", json_object_new_string(e->snap.tree_id));
		json_object_object_add(j, "action", json_object_new_string(action_name(e->action)));
		json_object_array_add(entries, j);
	}
	json_object_object_add(o, "entries", entries);
	json_object_object_add(o, "plan", plan_render_json(p, ctx));
	return o;
}

int saved_plan_write(json_object *saved, const char *path, diag_list *diags)
{
	const char *text = json_object_to_json_string_ext(saved, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
									  JSON_C_TO_STRING_NOSLASHESCAPE);
	buf b = BUF_INIT;
	buf_puts(&b, text);
	buf_putc(&b, '\n');
	int rc = fs_write_atomic(path, b.ptr, b.len, 0600) < 0 ? diag_errno(diags, path, "cannot write the plan") : AML_OK;
	buf_free(&b);
	return rc;
}

int saved_plan_load(json_object **out, const char *path, diag_list *diags)
{
	*out = NULL;
	if (!fs_is_file(path))
		return 0;
	size_t l = strlen(path);
	if (l >= 5 && (!strcmp(path + l - 5, ".yaml") || (l >= 4 && !strcmp(path + l - 4, ".yml"))))
		return 0;
	buf b = BUF_INIT;
	if (buf_read_file(&b, path, 256 * 1024 * 1024) < 0) {
		buf_free(&b);
		return diag_errno(diags, path, "cannot read");
	}
	json_object *o = json_tokener_parse(b.ptr);
	buf_free(&b);
	if (!o || !jstr(o, "kind") || strcmp(jstr(o, "kind"), SAVED_KIND)) {
		json_object_put(o);
		return 0;
	}
	*out = o;
	return 1;
}

void saved_plan_files(const json_object *saved, strlist *files)
{
	json_object *entries;
	if (!json_object_object_get_ex(saved, "entries", &entries) || !json_object_is_type(entries, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(entries); i++) {
		const char *f = jstr(json_object_array_get_idx(entries, i), "file");
		if (f)
			strlist_add(files, f);
	}
}

int saved_plan_check(const json_object *saved, const plan *p, const workspace *ws, diag_list *diags)
{
	size_t before = diags->errors;
	json_object *st, *entries, *v;
	const char *root = jstr((json_object *)saved, "workspace");
	if (!root || strcmp(root, ws->root))
		diag_error(diags, NULL, 0, 0, NULL, "the plan was made for workspace %s, not %s", root ? root : "?", ws->root);
	if (json_object_object_get_ex(saved, "state", &st) && json_object_is_type(st, json_type_object)) {
		const char *lin = jstr(st, "lineage");
		long long serial = json_object_object_get_ex(st, "serial", &v) ? json_object_get_int64(v) : -1;
		/* a missing state.json gets a fresh lineage each time it is read, so
		 * a plan made before any state existed is judged by serial alone */
		if (serial != 0 && (!lin || strcmp(lin, p->lineage)))
			diag_error(diags, NULL, 0, 0, NULL, "the state is not the one the plan was made against (lineage %s, now %s)",
				   lin ? lin : "?", p->lineage);
		else if (serial != p->serial)
			diag_error(diags, NULL, 0, 0, NULL,
				   "the state moved since the plan was made (serial %lld, now %lld): something was applied meanwhile",
				   serial, p->serial);
	}
	char *ls = lock_sha(ws);
	const char *saved_ls = jstr((json_object *)saved, "lock_file");
	if ((ls == NULL) != (saved_ls == NULL) || (ls && strcmp(ls, saved_ls)))
		diag_error(diags, NULL, 0, 0, NULL, "amlspec.lock changed since the plan was made");
	free(ls);
	if (!json_object_object_get_ex(saved, "entries", &entries) || !json_object_is_type(entries, json_type_array))
		return diag_error(diags, NULL, 0, 0, NULL, "the saved plan has no entries");
	if (json_object_array_length(entries) != p->count)
		diag_error(diags, NULL, 0, 0, NULL, "the plan covered %zu specs, now there are %zu",
			   json_object_array_length(entries), p->count);
	for (size_t i = 0; i < json_object_array_length(entries) && i < p->count; i++) {
		json_object *j = json_object_array_get_idx(entries, i);
		const plan_entry *e = &p->entries[i];
		const char *addr = jstr(j, "address");
		if (!addr || strcmp(addr, e->file->spec->address)) {
			diag_error(diags, NULL, 0, 0, NULL, "the plan's spec %s is now %s", addr ? addr : "?", e->file->spec->address);
			continue;
		}
		char *fs = file_sha256(e->file->spec->abs_file);
		const char *sf = jstr(j, "file_sha256");
		if (!fs || !sf || strcmp(fs, sf))
			diag_error(diags, e->file->display, 0, 0, NULL, "%s: the spec file changed since the plan was made", addr);
		free(fs);
		if (strcmp(jstr(j, "environment_digest") ? jstr(j, "environment_digest") : "", e->env.digest))
			diag_error(diags, NULL, 0, 0, NULL, "%s: the environment resolves differently since the plan was made", addr);
		if (strcmp(jstr(j, "snapshot") ? jstr(j, "snapshot") : "", e->snap.tree_id))
			diag_error(diags, NULL, 0, 0, NULL, "%s: the source directory changed since the plan was made", addr);
		if (strcmp(jstr(j, "action") ? jstr(j, "action") : "", action_name(e->action)))
			diag_error(diags, NULL, 0, 0, NULL, "%s: the plan said %s, now it is %s", addr, jstr(j, "action"),
				   action_name(e->action));
	}
	return diags->errors > before ? AML_ECONFLICT : AML_OK;
}
