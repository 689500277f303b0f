#include "plan/plan.h"

#include <stdlib.h>
#include <string.h>

#include "target/target.h"
#include "util/buf.h"
#include "util/fs.h"
#include "workspace/runs.h"

static void entry_free(plan_entry *e)
{
	strlist_free(&e->reasons);
	strlist_free(&e->notes);
	free(e->pin_name);
	for (size_t i = 0; i < e->nfields; i++) {
		free(e->fields[i].path);
		free(e->fields[i].old_value);
		free(e->fields[i].new_value);
	}
	free(e->fields);
	resolved_env_free(&e->env);
	json_object_put(e->env_changes);
	free(e->old_snapshot);
	snapshot_diff_free(&e->source_diff);
	free(e->last_run_id);
	free(e->last_run_status);
	free(e->last_run_error);
}

void plan_free(plan *p)
{
	for (size_t i = 0; i < p->count; i++)
		entry_free(&p->entries[i]);
	free(p->entries);
	free(p->lineage);
	memset(p, 0, sizeof(*p));
}

static char *json_text(json_object *o)
{
	if (!o)
		return NULL;
	return xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static void add_field(field_change **fields, size_t *n, const char *path, json_object *old, json_object *new)
{
	*fields = xrealloc(*fields, (*n + 1) * sizeof(**fields));
	field_change *f = &(*fields)[(*n)++];
	f->path = xstrdup(path);
	f->old_value = json_text(old);
	f->new_value = json_text(new);
}

static bool json_equal(json_object *a, json_object *b)
{
	if (!a || !b)
		return a == b;
	return json_object_equal(a, b);
}

/* Field-level differences between two spec JSON objects, recursing into
 * objects (environment.python.pip_packages) but not into arrays. */
void plan_diff_fields(field_change **fields, size_t *n, const char *prefix, json_object *old, json_object *new)
{
	buf path = BUF_INIT;
	json_object_object_foreach(new, k, nv) {
		json_object *ov = NULL;
		json_object_object_get_ex(old, k, &ov);
		buf_clear(&path);
		buf_printf(&path, "%s%s%s", prefix, *prefix ? "." : "", k);
		if (json_equal(ov, nv))
			continue;
		if (ov && nv && json_object_is_type(ov, json_type_object) && json_object_is_type(nv, json_type_object))
			plan_diff_fields(fields, n, path.ptr, ov, nv);
		else
			add_field(fields, n, path.ptr, ov, nv);
	}
	json_object_object_foreach(old, k2, ov2) {
		if (json_object_object_get_ex(new, k2, NULL))
			continue;
		buf_clear(&path);
		buf_printf(&path, "%s%s%s", prefix, *prefix ? "." : "", k2);
		add_field(fields, n, path.ptr, ov2, NULL);
	}
	buf_free(&path);
}

static void env_change(json_object *arr, const char *kind, const char *what, const char *old, const char *new)
{
	json_object *c = json_object_new_object();
	json_object_object_add(c, "kind", json_object_new_string(kind));
	json_object_object_add(c, "what", json_object_new_string(what));
	json_object_object_add(c, "old", old ? json_object_new_string(old) : NULL);
	json_object_object_add(c, "new", new ? json_object_new_string(new) : NULL);
	json_object_array_add(arr, c);
}

static void diff_scalar(json_object *arr, const char *what, const char *old, const char *new)
{
	if ((old == NULL) != (new == NULL) || (old && strcmp(old, new)))
		env_change(arr, old ? (new ? "changed" : "removed") : "added", what, old, new);
}

/* Packages compared by name, so a version bump reads as one change. */
static void diff_packages(json_object *arr, const char *what, const strlist *old, const strlist *new)
{
	for (size_t i = 0; i < new->count; i++) {
		char *n = envdef_package_name(new->items[i]);
		const char *match = NULL;
		for (size_t j = 0; j < old->count && !match; j++) {
			char *o = envdef_package_name(old->items[j]);
			if (!strcmp(o, n))
				match = old->items[j];
			free(o);
		}
		if (!match)
			env_change(arr, "added", what, NULL, new->items[i]);
		else if (strcmp(match, new->items[i]))
			env_change(arr, "changed", what, match, new->items[i]);
		free(n);
	}
	for (size_t j = 0; j < old->count; j++) {
		char *o = envdef_package_name(old->items[j]);
		bool found = false;
		for (size_t i = 0; i < new->count && !found; i++) {
			char *n = envdef_package_name(new->items[i]);
			found = !strcmp(o, n);
			free(n);
		}
		if (!found)
			env_change(arr, "removed", what, old->items[j], NULL);
		free(o);
	}
	/* same set, other order: order matters to solvers */
	if (json_object_array_length(arr) == 0 && !strlist_equal(old, new) && old->count == new->count)
		env_change(arr, "changed", what, "(order)", "(order)");
}

json_object *plan_env_diff(const envdef *old, const envdef *new)
{
	json_object *arr = json_object_new_array();
	diff_scalar(arr, "python", old->python_version, new->python_version);
	diff_scalar(arr, "user_managed_dependencies", old->user_managed ? "true" : "false",
		    new->user_managed ? "true" : "false");
	diff_scalar(arr, "interpreter_path", old->interpreter_path, new->interpreter_path);
	diff_packages(arr, "channel", &old->channels, &new->channels);
	diff_packages(arr, "conda", &old->conda_packages, &new->conda_packages);
	diff_packages(arr, "pip", &old->pip_packages, &new->pip_packages);
	diff_scalar(arr, "docker.enabled", old->docker_enabled ? "true" : "false", new->docker_enabled ? "true" : "false");
	diff_scalar(arr, "base_image", old->base_image, new->base_image);
	for (size_t i = 0; i < new->variables.count; i++)
		diff_scalar(arr, new->variables.items[i].key, kvlist_get(&old->variables, new->variables.items[i].key),
			    new->variables.items[i].value);
	for (size_t i = 0; i < old->variables.count; i++)
		if (!kvlist_get(&new->variables, old->variables.items[i].key))
			env_change(arr, "removed", old->variables.items[i].key, old->variables.items[i].value, NULL);
	return arr;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Resolves the spec's environment honouring amlspec.lock: an unpinned
 * curated reference takes the locked version, whose content must still have
 * the locked digest; without a pin it takes the latest and apply pins it. */
int plan_resolve_locked(resolved_env *out, strlist *notes, char **pin_name, const run_spec *spec, const catalog *cat,
			const lockfile *lock, diag_list *diags)
{
	env_spec es = spec->environment;
	const catalog_entry *ce = es.ref_name ? catalog_find(cat, es.ref_name) : NULL;
	if (ce && es.ref_version == 0 && lock) {
		const lock_pin *pin = lockfile_get(lock, ce->name);
		if (pin) {
			const catalog_version *v = catalog_entry_version(ce, pin->version);
			if (!v)
				return diag_error(diags, spec->file, 0, 0, "environment",
						  "amlspec.lock pins %s@%ld, which the catalog does not have; run 'amlspec lock --upgrade'",
						  ce->name, pin->version);
			char *d = envdef_digest(&v->def);
			int bad = strcmp(d, pin->digest);
			if (bad)
				diag_error(diags, spec->file, 0, 0, "environment",
					   "the catalog's content of %s@%ld changed since it was locked (%s, now %s); "
					   "run 'amlspec lock --upgrade' to accept it",
					   ce->name, pin->version, pin->digest, d);
			free(d);
			if (bad)
				return AML_EINVALID;
			es.ref_version = pin->version;
			const catalog_version *latest = catalog_entry_latest(ce);
			if (notes && latest->version != pin->version)
				strlist_add_owned(notes, xasprintf("%s is locked at @%ld; the catalog has @%ld "
								       "('amlspec lock --upgrade' moves it)",
								       ce->name, pin->version, latest->version));
		} else if (pin_name) {
			*pin_name = xstrdup(ce->name);
		}
	}
	return env_resolve(out, &es, cat, diags);
}

typedef struct snap_cache {
	char *dir;
	snapshot_info info;
	int rc;
} snap_cache;

int plan_build(plan *out, specset *set, workspace *ws, const state *st, const char *state_dir,
	       const plan_opts *opts, diag_list *diags)
{
	memset(out, 0, sizeof(*out));
	out->lineage = xstrdup(st->lineage ? st->lineage : "");
	out->serial = st->serial;
	char *store = fs_join(state_dir, "snapshots.git");
	snap_cache *cache = NULL;
	size_t ncache = 0;
	int rc = AML_OK;
	const catalog *cat = workspace_catalog(ws, diags);

	for (size_t i = 0; i < set->nfiles; i++) {
		spec_file *f = &set->files[i];
		if (!f->spec || f->ws != ws)
			continue;
		const run_spec *spec = f->spec;
		out->entries = xrealloc(out->entries, (out->count + 1) * sizeof(*out->entries));
		plan_entry *e = &out->entries[out->count++];
		memset(e, 0, sizeof(*e));
		e->file = f;
		if (plan_resolve_locked(&e->env, &e->notes, &e->pin_name, spec, cat, opts->lock, diags)) {
			rc = AML_EINVALID;
			continue;
		}
		const target_config *tcfg = NULL;
		const target_ops *t = target_for(ws, spec->target, &tcfg);
		if (!t) {
			rc = diag_error(diags, spec->file, 0, 0, "target",
					"target: '%s' (type %s) is not supported by this amlspec", spec->target,
					tcfg ? tcfg->type : "?");
			continue;
		}
		if (t->check && t->check(tcfg, spec, &e->env, diags)) {
			rc = AML_EINVALID;
			continue;
		}
		/* one snapshot per source directory */
		snap_cache *c = NULL;
		for (size_t k = 0; k < ncache; k++)
			if (!strcmp(cache[k].dir, spec->source_dir_abs))
				c = &cache[k];
		if (!c) {
			cache = xrealloc(cache, (ncache + 1) * sizeof(*cache));
			c = &cache[ncache++];
			memset(c, 0, sizeof(*c));
			c->dir = xstrdup(spec->source_dir_abs);
			char *shown = path_for_display(spec->source_dir_abs);
			snapshot_opts so = { store, spec->source_dir_abs, shown, opts->fatal_limits };
			c->rc = snapshot_take(&c->info, &so, diags);
			free(shown);
		}
		if (c->rc) {
			rc = c->rc;
			continue;
		}
		e->snap = c->info;

		json_object *applied = NULL;
		if (st->specs)
			json_object_object_get_ex(st->specs, spec->address, &applied);
		if (!applied) {
			e->action = PLAN_CREATE;
			strlist_add(&e->reasons, "new spec");
			continue;
		}
		json_object *now = run_spec_to_json(spec), *old_spec = NULL;
		json_object_object_get_ex(applied, "spec", &old_spec);
		if (old_spec)
			plan_diff_fields(&e->fields, &e->nfields, "", old_spec, now);
		json_object_put(now);
		if (e->nfields) {
			buf r = BUF_INIT;
			buf_puts(&r, "spec changed:");
			for (size_t k = 0; k < e->nfields; k++)
				buf_printf(&r, "%s %s", k ? "," : "", e->fields[k].path);
			strlist_add_owned(&e->reasons, buf_detach(&r));
		}
		json_object *old_env = NULL;
		json_object_object_get_ex(applied, "environment", &old_env);
		e->env_old = old_env;
		const char *old_digest = jstr(old_env, "digest");
		if (!old_digest || strcmp(old_digest, e->env.digest)) {
			e->env_changed = true;
			envdef od = ENVDEF_INIT;
			json_object *odef = NULL;
			if (old_env && json_object_object_get_ex(old_env, "definition", &odef))
				envdef_from_json(&od, odef);
			e->env_changes = plan_env_diff(&od, &e->env.def);
			envdef_free(&od);
			strlist_add_owned(&e->reasons, xasprintf("environment resolves differently (%s)", e->env.label));
		}
		const char *old_snap = jstr(applied, "snapshot");
		if (!old_snap || strcmp(old_snap, e->snap.tree_id)) {
			e->source_changed = true;
			e->old_snapshot = old_snap ? xstrdup(old_snap) : NULL;
			if (snapshot_diff_trees(&e->source_diff, store, old_snap, e->snap.tree_id, diags) == AML_OK)
				strlist_add_owned(&e->reasons,
						  xasprintf("source changed: %zu added, %zu modified, %zu removed",
							    e->source_diff.added, e->source_diff.modified,
							    e->source_diff.removed));
			else
				strlist_add(&e->reasons, "source changed");
		}
		const char *last = jstr(applied, "last_run");
		if (last) {
			e->last_run_id = xstrdup(last);
			run_record *rec = NULL;
			diag_list quiet = DIAG_LIST_INIT;
			if (run_record_load(&rec, state_dir, last, &quiet) == AML_OK) {
				const target_config *rc_cfg = NULL;
				const target_ops *rt = target_for(ws, run_record_str(rec, "target") ? run_record_str(rec, "target")
												 : "local", &rc_cfg);
				if (rt && rt->poll)
					rt->poll(rc_cfg, rec, &quiet);
				e->last_run_status = xstrdup(run_status_name(run_record_status(rec)));
				if (run_record_str(rec, "error"))
					e->last_run_error = xstrdup(run_record_str(rec, "error"));
				run_record_free(rec);
			} else {
				e->last_run_status = xstrdup("Missing");
			}
			diag_list_free(&quiet);
			run_status ls = run_status_parse(e->last_run_status);
			if (ls == RS_FAILED || ls == RS_CANCELED || !strcmp(e->last_run_status, "Missing"))
				strlist_add_owned(&e->reasons, xasprintf("last run %s %s", last, e->last_run_status));
		}
		if (opts->rerun_all && !e->reasons.count)
			strlist_add(&e->reasons, "--rerun");
		e->action = e->reasons.count ? PLAN_RERUN : PLAN_NOOP;
	}
	for (size_t i = 0; i < out->count; i++) {
		plan_action a = out->entries[i].action;
		out->ncreate += a == PLAN_CREATE;
		out->nrerun += a == PLAN_RERUN;
		out->nnoop += a == PLAN_NOOP;
	}
	for (size_t k = 0; k < ncache; k++)
		free(cache[k].dir);
	free(cache);
	free(store);
	return diags->errors ? AML_EINVALID : rc;
}

json_object *plan_entry_state_json(const plan_entry *e, const char *run_id, const char *workspace_root)
{
	const run_spec *s = e->file->spec;
	json_object *o = json_object_new_object();
	char *rel = fs_relative(workspace_root, s->abs_file);
	json_object_object_add(o, "file", json_object_new_string(rel));
	free(rel);
	json_object_object_add(o, "spec", run_spec_to_json(s));
	json_object_object_add(o, "environment", resolved_env_to_json(&e->env));
	json_object_object_add(o, "snapshot", json_object_new_string(e->snap.tree_id));
	json_object_object_add(o, "last_run", json_object_new_string(run_id));
	char *now = time_now_rfc3339();
	json_object_object_add(o, "applied_at", json_object_new_string(now));
	free(now);
	return o;
}
