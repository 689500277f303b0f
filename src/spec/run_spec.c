#include "run_spec.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env/catalog.h"
#include "spec/schema.h"
#include "spec/ytree.h"
#include "util/fs.h"

static const char *const framework_names[] = { "python", "mpi", "pytorch", "tensorflow", "pyspark" };

const char *framework_name(framework_kind f)
{
	return framework_names[f];
}

void run_spec_free(run_spec *s)
{
	if (!s)
		return;
	free(s->file);
	free(s->abs_file);
	free(s->address);
	free(s->experiment);
	free(s->name);
	free(s->description);
	kvlist_free(&s->tags);
	free(s->source_directory);
	free(s->source_dir_abs);
	free(s->script);
	strlist_free(&s->command);
	strlist_free(&s->arguments);
	free(s->environment.ref_name);
	envdef_free(&s->environment.inline_def);
	kvlist_free(&s->environment_variables);
	strlist_free(&s->secrets);
	free(s->target);
	free(s);
}

/* Decoding tolerates a document that failed the schema (so that semantic
 * checks still run and report in the same pass): values of the wrong shape
 * are taken as absent. */
static char *str_or(const ynode *n, const char *dflt)
{
	if (n && n->kind == YN_SCALAR && n->stype == YS_STRING)
		return xstrdup(n->value);
	return dflt ? xstrdup(dflt) : NULL;
}

static void scalars(strlist *l, const ynode *seq)
{
	if (seq && seq->kind == YN_SEQ)
		for (size_t i = 0; i < seq->count; i++)
			if (seq->items[i]->kind == YN_SCALAR)
				strlist_add(l, seq->items[i]->value);
}

static void pairs(kvlist *l, const ynode *map)
{
	if (map && map->kind == YN_MAP)
		for (size_t i = 0; i < map->count; i++)
			if (ynode_map_value(map, i)->kind == YN_SCALAR)
				kvlist_set(l, ynode_map_key(map, i)->value, ynode_map_value(map, i)->value);
}

static char *default_name(const char *abs_file)
{
	const char *base = fs_basename(abs_file);
	size_t l = strlen(base);
	if (!strcmp(base, "run.yaml") || !strcmp(base, "run.yml")) {
		char *dir = fs_dirname(abs_file);
		char *n = xstrdup(fs_basename(dir));
		free(dir);
		return n;
	}
	static const char *const suffixes[] = { ".run.yaml", ".run.yml", ".yaml", ".yml" };
	for (size_t i = 0; i < 4; i++) {
		size_t sl = strlen(suffixes[i]);
		if (l > sl && !strcmp(base + l - sl, suffixes[i]))
			return xstrndup(base, l - sl);
	}
	return xstrdup(base);
}

/* The position of key k's value (or of the key when the value is absent). */
static const ynode *at(const ynode *root, const char *k)
{
	const ynode *v = ynode_map_get(root, k);
	return v ? v : root;
}

static void check_environment(run_spec *s, const ynode *root, workspace *ws, diag_list *diags)
{
	const ynode *env = ynode_map_get(root, "environment");
	if (!env || (env->kind == YN_SCALAR && env->stype != YS_STRING) || env->kind == YN_SEQ)
		return;
	const ynode *refnode = env;
	const char *path = "environment";
	if (env->kind == YN_MAP) {
		refnode = ynode_map_get(env, "extends");
		path = "environment.extends";
		const ynode *py = ynode_map_get(env, "python");
		const ynode *um = py ? ynode_map_get(py, "user_managed_dependencies") : NULL;
		if (um && um->kind == YN_SCALAR && !strcmp(um->value, "true") && (ynode_map_get(py, "pip_packages") || ynode_map_get(py, "conda_packages")))
			diag_warning(diags, s->file, um->line, um->col, "environment.python.user_managed_dependencies",
				     "environment.python.user_managed_dependencies: packages are not installed into a "
				     "user-managed environment; pip_packages and conda_packages are ignored");
		if (!refnode || refnode->kind != YN_SCALAR || refnode->stype != YS_STRING)
			return;
	}
	if (!schema_match("^[A-Za-z0-9][A-Za-z0-9._-]{0,254}(@[0-9]+)?$", refnode->value))
		return; /* the schema already said why */
	const catalog *cat = workspace_catalog(ws, diags);
	long version = 0;
	char *name = catalog_split_ref(refnode->value, &version);
	const catalog_entry *e = catalog_find(cat, name);
	if (!e) {
		size_t n = 0;
		const char **names = catalog_names(cat, &n);
		const char *sug = diag_suggest(name, names, n);
		if (sug)
			diag_error(diags, s->file, refnode->line, refnode->col, path,
				   "%s: unknown curated environment '%s' (did you mean '%s'?)", path, name, sug);
		else
			diag_error(diags, s->file, refnode->line, refnode->col, path,
				   "%s: unknown curated environment '%s' (amlspec envs list shows the catalog)", path, name);
		free(names);
	} else if (version && !catalog_entry_version(e, version)) {
		buf list = BUF_INIT;
		for (size_t i = 0; i < e->count; i++)
			buf_printf(&list, "%s%ld", i ? ", " : "", e->versions[i].version);
		diag_error(diags, s->file, refnode->line, refnode->col, path,
			   "%s: '%s' has no version %s (versions: %s)", path, name, strrchr(refnode->value, '@') + 1,
			   list.ptr);
		buf_free(&list);
	}
	free(name);
}

#define CACHED_DIRS 16

typedef struct cached_dir {
	char *joined; /* spec folder + source_directory, as written */
	char *real;   /* NULL: does not resolve */
	bool is_dir;
} cached_dir;

struct run_spec_cache {
	char *cwd; /* NULL: unknown (getcwd failed) */
	cached_dir dirs[CACHED_DIRS];
	size_t ndirs, next;
};

run_spec_cache *run_spec_cache_new(const char *cwd)
{
	run_spec_cache *c = xcalloc(1, sizeof(*c));
	char here[PATH_MAX];
	if (!cwd)
		cwd = getcwd(here, sizeof(here));
	if (cwd)
		c->cwd = xstrdup(cwd);
	return c;
}

void run_spec_cache_free(run_spec_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->ndirs; i++) {
		free(c->dirs[i].joined);
		free(c->dirs[i].real);
	}
	free(c->cwd);
	free(c);
}

/* The real path of a source directory, from the cache when it was resolved
 * before; owned by the cache (or by *tmp, freed by the caller, without one). */
static const char *resolve_dir(run_spec_cache *c, const char *joined, bool *is_dir, char **tmp)
{
	*tmp = NULL;
	if (c)
		for (size_t i = 0; i < c->ndirs; i++)
			if (!strcmp(c->dirs[i].joined, joined)) {
				*is_dir = c->dirs[i].is_dir;
				return c->dirs[i].real;
			}
	char *real = fs_realpath(joined);
	*is_dir = real && fs_is_dir(real);
	if (!c)
		return *tmp = real;
	cached_dir *d = &c->dirs[c->ndirs < CACHED_DIRS ? c->ndirs++ : c->next++ % CACHED_DIRS];
	if (d->joined) {
		free(d->joined);
		free(d->real);
	}
	*d = (cached_dir){ xstrdup(joined), real, *is_dir };
	return real;
}

/* realpath() of dir/name for a dir that is real already: a plain name that is
 * not a link is its own real path, known from one lstat; anything else (a
 * path with folders, a link, "..") takes the full walk. */
static char *resolve_in(const char *dir, const char *name, bool *is_file)
{
	char *p = fs_join(dir, name);
	struct stat st;
	if (!strchr(name, '/') && strcmp(name, "..") && strcmp(name, ".") && lstat(p, &st) == 0 &&
	    !S_ISLNK(st.st_mode)) {
		*is_file = S_ISREG(st.st_mode);
		return p;
	}
	char *real = fs_realpath(p);
	free(p);
	*is_file = real && fs_is_file(real);
	return real;
}

static void check_paths(run_spec *s, const ynode *root, workspace *ws, run_spec_cache *cache, diag_list *diags)
{
	const ynode *sd = ynode_map_get(root, "source_directory");
	char *spec_dir = fs_dirname(s->abs_file);
	char *joined = fs_join(spec_dir, s->source_directory);
	char *tmp = NULL;
	bool is_dir = false;
	const char *real = resolve_dir(cache, joined, &is_dir, &tmp);
	const ynode *pos = sd ? sd : root;
	if (!real) {
		diag_error(diags, s->file, pos->line, pos->col, "source_directory",
			   "source_directory: '%s' does not exist", s->source_directory);
	} else if (!is_dir) {
		diag_error(diags, s->file, pos->line, pos->col, "source_directory",
			   "source_directory: '%s' is not a directory", s->source_directory);
	} else if (!fs_is_within(ws->root, real)) {
		diag_error(diags, s->file, pos->line, pos->col, "source_directory",
			   "source_directory: '%s' resolves to %s, outside the workspace %s", s->source_directory, real,
			   ws->root);
	} else {
		s->source_dir_abs = xstrdup(real);
		if (s->script && *s->script) {
			const ynode *sc = ynode_map_get(root, "script");
			bool is_file = false;
			char *sreal = s->script[0] == '/' ? NULL : resolve_in(real, s->script, &is_file);
			if (s->script[0] == '/')
				diag_error(diags, s->file, sc->line, sc->col, "script",
					   "script: must be relative to source_directory, not an absolute path");
			else if (!sreal)
				diag_error(diags, s->file, sc->line, sc->col, "script",
					   "script: '%s' does not exist in source_directory %s", s->script, s->source_directory);
			else if (!fs_is_within(real, sreal))
				diag_error(diags, s->file, sc->line, sc->col, "script",
					   "script: '%s' resolves outside source_directory %s", s->script, s->source_directory);
			else if (!is_file)
				diag_error(diags, s->file, sc->line, sc->col, "script", "script: '%s' is not a regular file",
					   s->script);
			free(sreal);
		}
	}
	free(tmp);
	free(joined);
	free(spec_dir);
}

static void check_target(run_spec *s, const ynode *root, workspace *ws, diag_list *diags)
{
	if (!schema_match("^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$", s->target) || !strcmp(s->target, "local") || workspace_target(ws, s->target))
		return;
	const ynode *t = at(root, "target");
	const char **names = xcalloc(ws->ntargets + 1, sizeof(*names));
	names[0] = "local";
	for (size_t i = 0; i < ws->ntargets; i++)
		names[i + 1] = ws->targets[i].name;
	const char *sug = diag_suggest(s->target, names, ws->ntargets + 1);
	const char *where = ws->config_display ? ws->config_display : "amlspec.yaml (none found)";
	if (sug)
		diag_error(diags, s->file, t->line, t->col, "target",
			   "target: unknown target '%s' (did you mean '%s'?); targets are 'local' or declared in %s",
			   s->target, sug, where);
	else
		diag_error(diags, s->file, t->line, t->col, "target",
			   "target: unknown target '%s'; targets are 'local' or declared in %s", s->target, where);
	free(names);
}

/* The key node of key k in map, for messages about the key as a whole. */
static const ynode *key_of(const ynode *map, const char *k)
{
	for (size_t i = 0; i < map->count; i++)
		if (!strcmp(ynode_map_key(map, i)->value, k))
			return ynode_map_key(map, i);
	return NULL;
}

static void check_distribution(run_spec *s, const ynode *root, diag_list *diags)
{
	const ynode *d = key_of(root, "distribution");
	const ynode *fw = ynode_map_get(root, "framework");
	/* with a framework the schema refused, the schema's error says it all */
	bool fw_known = !fw || (fw->kind == YN_SCALAR && fw->stype == YS_STRING &&
				!strcmp(fw->value, framework_name(s->framework)));
	if (d && fw_known && (s->framework == FW_PYTHON || s->framework == FW_PYSPARK))
		diag_error(diags, s->file, d->line, d->col, "distribution",
			   "distribution: applies to framework mpi, pytorch or tensorflow, not %s",
			   framework_name(s->framework));
	for (size_t i = 0; i < s->secrets.count; i++)
		if (kvlist_get(&s->environment_variables, s->secrets.items[i]) &&
		    ynode_map_get(root, "secrets")->count == s->secrets.count) {
			const ynode *sec = ynode_map_get(root, "secrets")->items[i];
			char *p = xasprintf("secrets[%zu]", i);
			diag_error(diags, s->file, sec->line, sec->col, p,
				   "%s: '%s' is also set in environment_variables; a secret's value comes only from the "
				   "caller's environment", p, s->secrets.items[i]);
			free(p);
		}
}

static void decode(run_spec *s, const ynode *root)
{
	const ynode *exp = ynode_map_get(root, "experiment");
	s->experiment = str_or(exp, "");
	s->experiment_line = exp ? exp->line : 1;
	s->experiment_col = exp ? exp->col : 1;
	const ynode *name = ynode_map_get(root, "name");
	s->name = str_or(name, NULL);
	if (s->name) {
		s->name_line = name->line;
		s->name_col = name->col;
	} else
		s->name = default_name(s->abs_file);
	s->address = xasprintf("%s/%s", s->experiment, s->name);
	s->description = str_or(ynode_map_get(root, "description"), NULL);
	pairs(&s->tags, ynode_map_get(root, "tags"));
	s->source_directory = str_or(ynode_map_get(root, "source_directory"), ".");
	s->script = str_or(ynode_map_get(root, "script"), NULL);
	scalars(&s->command, ynode_map_get(root, "command"));
	scalars(&s->arguments, ynode_map_get(root, "arguments"));
	pairs(&s->environment_variables, ynode_map_get(root, "environment_variables"));
	scalars(&s->secrets, ynode_map_get(root, "secrets"));
	s->target = str_or(ynode_map_get(root, "target"), "local");
	char *fw = str_or(ynode_map_get(root, "framework"), "python");
	s->framework = FW_PYTHON;
	for (size_t i = 0; i < 5; i++)
		if (!strcmp(fw, framework_names[i]))
			s->framework = (framework_kind)i;
	free(fw);
	s->node_count = 1;
	s->process_count_per_node = 1;
	const ynode *d = ynode_map_get(root, "distribution");
	if (d) {
		const ynode *n = ynode_map_get(d, "node_count");
		const ynode *p = ynode_map_get(d, "process_count_per_node");
		long long v;
		if (schema_integer_node(n, &v))
			s->node_count = (long)v;
		if (schema_integer_node(p, &v))
			s->process_count_per_node = (long)v;
	}
	s->timeout_seconds = RUN_SPEC_DEFAULT_TIMEOUT;
	const ynode *lim = ynode_map_get(root, "limits");
	const ynode *to = lim ? ynode_map_get(lim, "timeout") : NULL;
	long long seconds = -1;
	if (to && to->kind == YN_SCALAR && (to->stype == YS_INT || to->stype == YS_FLOAT))
		schema_integer_node(to, &seconds);
	else if (to && to->kind == YN_SCALAR)
		seconds = schema_parse_duration(to->value);
	if (seconds > 0)
		s->timeout_seconds = seconds;

	const ynode *env = ynode_map_get(root, "environment");
	env_spec *es = &s->environment;
	if (!env || (env->kind == YN_SCALAR && env->stype != YS_STRING) || env->kind == YN_SEQ) {
		es->kind = ENV_DEFAULT;
	} else if (env->kind == YN_SCALAR) {
		es->kind = ENV_CURATED;
		es->ref_name = catalog_split_ref(env->value, &es->ref_version);
	} else {
		es->kind = ENV_INLINE;
		const ynode *ext = ynode_map_get(env, "extends");
		if (ext && ext->kind == YN_SCALAR && ext->stype == YS_STRING)
			es->ref_name = catalog_split_ref(ext->value, &es->ref_version);
		envdef_from_ynode(&es->inline_def, &es->present, env);
	}
}

int run_spec_load(run_spec **out, const char *path, const char *display, workspace *ws, diag_list *diags)
{
	return run_spec_load_cached(out, path, display, ws, NULL, diags);
}

int run_spec_load_cached(run_spec **out, const char *path, const char *display, workspace *ws,
			 run_spec_cache *cache, diag_list *diags)
{
	ydoc *doc = NULL;
	size_t errors_before = diags->errors;
	*out = NULL;
	int rc = ydoc_load_file(&doc, path, display, NULL, diags);
	if (rc)
		return rc;
	/* nothing, '---' alone, or a null: empty */
	if (!doc->root || (doc->root->kind == YN_SCALAR && doc->root->stype == YS_NULL)) {
		ydoc_free(doc);
		return diag_error(diags, display, 1, 1, NULL,
				  "file is empty; a run spec needs at least 'experiment' and 'script' (or 'command')");
	}
	if (doc->root->kind != YN_MAP) {
		const char *kind = ynode_kind_name(doc->root);
		rc = diag_error(diags, display, doc->root->line, doc->root->col, NULL,
				"a run spec must be a mapping of keys, not %s %s", strchr("aeiou", kind[0]) ? "an" : "a",
				kind);
		ydoc_free(doc);
		return rc;
	}
	schema_check(&schema_run_spec, doc->root, display, "", diags);
	run_spec *s = xcalloc(1, sizeof(*s));
	s->file = xstrdup(display);
	s->abs_file = cache && cache->cwd ? fs_absolute_from(cache->cwd, path) : fs_absolute(path);
	decode(s, doc->root);
	if (!ynode_map_get(doc->root, "name") && !schema_match("^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$", s->name))
		diag_error(diags, display, doc->root->line, doc->root->col, "name",
			   "name: the default name '%s' (from the file name) is not a valid name; set 'name:'", s->name);
	if (*s->source_directory)
		check_paths(s, doc->root, ws, cache, diags);
	check_environment(s, doc->root, ws, diags);
	check_target(s, doc->root, ws, diags);
	check_distribution(s, doc->root, diags);
	ydoc_free(doc);
	if (diags->errors > errors_before) {
		run_spec_free(s);
		return AML_EINVALID;
	}
	*out = s;
	return AML_OK;
}

static json_object *list_json(const strlist *l)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < l->count; i++)
		json_object_array_add(a, json_object_new_string(l->items[i]));
	return a;
}

static json_object *map_json(const kvlist *l)
{
	kvlist sorted = KVLIST_INIT;
	kvlist_copy(&sorted, l);
	kvlist_sort(&sorted);
	json_object *o = json_object_new_object();
	for (size_t i = 0; i < sorted.count; i++)
		json_object_object_add(o, sorted.items[i].key, json_object_new_string(sorted.items[i].value));
	kvlist_free(&sorted);
	return o;
}

json_object *run_spec_to_json(const run_spec *s)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "experiment", json_object_new_string(s->experiment));
	json_object_object_add(o, "name", json_object_new_string(s->name));
	if (s->description)
		json_object_object_add(o, "description", json_object_new_string(s->description));
	json_object_object_add(o, "tags", map_json(&s->tags));
	json_object_object_add(o, "source_directory", json_object_new_string(s->source_directory));
	if (s->script)
		json_object_object_add(o, "script", json_object_new_string(s->script));
	else
		json_object_object_add(o, "command", list_json(&s->command));
	json_object_object_add(o, "arguments", list_json(&s->arguments));
	const env_spec *e = &s->environment;
	if (e->kind == ENV_CURATED) {
		json_object_object_add(o, "environment", json_object_new_string(e->ref_name));
		if (e->ref_version)
			json_object_object_add(o, "environment_version", json_object_new_int64(e->ref_version));
	} else if (e->kind == ENV_INLINE) {
		json_object *inl = envdef_to_json(&e->inline_def);
		if (e->ref_name)
			json_object_object_add(inl, "extends", json_object_new_string(e->ref_name));
		if (e->ref_version)
			json_object_object_add(inl, "extends_version", json_object_new_int64(e->ref_version));
		json_object_object_add(o, "environment", inl);
	}
	json_object_object_add(o, "environment_variables", map_json(&s->environment_variables));
	json_object_object_add(o, "secrets", list_json(&s->secrets));
	json_object_object_add(o, "target", json_object_new_string(s->target));
	json_object_object_add(o, "framework", json_object_new_string(framework_name(s->framework)));
	json_object_object_add(o, "node_count", json_object_new_int64(s->node_count));
	json_object_object_add(o, "process_count_per_node", json_object_new_int64(s->process_count_per_node));
	json_object_object_add(o, "timeout_seconds", json_object_new_int64(s->timeout_seconds));
	return o;
}

int run_spec_parse_text(run_spec **out, const char *display, const char *path_for_name, const char *text, size_t len,
			diag_list *diags)
{
	ydoc *doc = NULL;
	size_t errors_before = diags->errors;
	*out = NULL;
	int rc = ydoc_parse(&doc, display, text, len, NULL, diags);
	if (rc)
		return rc;
	if (!doc->root || doc->root->kind != YN_MAP) {
		ydoc_free(doc);
		return diag_error(diags, display, 1, 1, NULL, "not a run spec (empty, or not a mapping)");
	}
	schema_check(&schema_run_spec, doc->root, display, "", diags);
	run_spec *s = xcalloc(1, sizeof(*s));
	s->file = xstrdup(display);
	s->abs_file = xstrdup(path_for_name);
	decode(s, doc->root);
	ydoc_free(doc);
	if (diags->errors > errors_before) {
		run_spec_free(s);
		return AML_EINVALID;
	}
	*out = s;
	return AML_OK;
}
