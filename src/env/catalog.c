#include "catalog.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spec/schema.h"
#include "util/fs.h"

void catalog_free(catalog *c)
{
	for (size_t i = 0; i < c->count; i++) {
		catalog_entry *e = &c->entries[i];
		for (size_t j = 0; j < e->count; j++) {
			free(e->versions[j].description);
			envdef_free(&e->versions[j].def);
		}
		free(e->versions);
		free(e->name);
		free(e->description);
		free(e->source);
		free(e->file);
	}
	free(c->entries);
	memset(c, 0, sizeof(*c));
}

static void scalar_list(strlist *l, const ynode *seq)
{
	if (!seq || seq->kind != YN_SEQ)
		return;
	for (size_t i = 0; i < seq->count; i++)
		if (seq->items[i]->kind == YN_SCALAR)
			strlist_add(l, seq->items[i]->value);
}

static char *scalar_dup(const ynode *n)
{
	return n && n->kind == YN_SCALAR ? xstrdup(n->value) : NULL;
}

/* Decoding runs on documents that failed the schema too: only a scalar
 * spelled true is true. */
static bool is_true(const ynode *n)
{
	return n && n->kind == YN_SCALAR && !strcasecmp(n->value, "true");
}

void envdef_from_ynode(envdef *out, envdef *present, const ynode *map)
{
	const ynode *py = ynode_map_get(map, "python");
	const ynode *dk = ynode_map_get(map, "docker");
	const ynode *vars = ynode_map_get(map, "environment_variables");
	if (py) {
		out->python_version = scalar_dup(ynode_map_get(py, "version"));
		out->interpreter_path = scalar_dup(ynode_map_get(py, "interpreter_path"));
		const ynode *um = ynode_map_get(py, "user_managed_dependencies");
		if (um) {
			out->user_managed = is_true(um);
			if (present)
				present->user_managed = true;
		}
		scalar_list(&out->channels, ynode_map_get(py, "channels"));
		scalar_list(&out->conda_packages, ynode_map_get(py, "conda_packages"));
		scalar_list(&out->pip_packages, ynode_map_get(py, "pip_packages"));
	}
	if (dk) {
		const ynode *en = ynode_map_get(dk, "enabled");
		if (en) {
			out->docker_enabled = is_true(en);
			if (present)
				present->docker_enabled = true;
		}
		out->base_image = scalar_dup(ynode_map_get(dk, "base_image"));
	}
	if (vars && vars->kind == YN_MAP)
		for (size_t i = 0; i < vars->count; i++)
			if (ynode_map_value(vars, i)->kind == YN_SCALAR)
				kvlist_set(&out->variables, ynode_map_key(vars, i)->value, ynode_map_value(vars, i)->value);
}

static int cmp_version(const void *a, const void *b)
{
	long x = ((const catalog_version *)a)->version, y = ((const catalog_version *)b)->version;
	return (x > y) - (x < y);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const catalog_entry *)a)->name, ((const catalog_entry *)b)->name);
}

static bool builtin_shape_ok(const ynode *root)
{
	const ynode *name = ynode_map_get(root, "name"), *versions = ynode_map_get(root, "versions");
	if (!name || name->kind != YN_SCALAR || !versions || versions->kind != YN_SEQ || !versions->count)
		return false;
	for (size_t i = 0; i < versions->count; i++)
		if (versions->items[i]->kind != YN_MAP || !ynode_map_get(versions->items[i], "version"))
			return false;
	return true;
}

int catalog_load_text(catalog *c, const char *file, const char *text, size_t len, bool builtin, diag_list *diags)
{
	ydoc *doc = NULL;
	int rc = ydoc_parse(&doc, file, text, len, NULL, diags);
	if (rc)
		return rc;
	if (!doc->root) {
		ydoc_free(doc);
		return diag_error(diags, file, 1, 1, NULL, "empty catalog file");
	}
	/* The built-in files are checked against the schema by the tests
	 * (catalog_test: test_builtin_schema), not at every start, where
	 * compiling the schema's patterns for them cost two thirds of
	 * validating one spec. What the code below relies on is still checked. */
	if (builtin ? !builtin_shape_ok(doc->root)
		    : schema_check(&schema_catalog_entry, doc->root, file, "", diags) != 0) {
		if (builtin)
			diag_error(diags, file, 1, 1, NULL, "built-in catalog file is malformed (built from broken sources?)");
		ydoc_free(doc);
		return AML_EINVALID;
	}
	const ynode *name = ynode_map_get(doc->root, "name");
	if (catalog_find(c, name->value)) {
		const catalog_entry *prev = catalog_find(c, name->value);
		rc = diag_error(diags, file, name->line, name->col, "name",
				"name: environment '%s' is already defined in %s", name->value, prev->file);
		ydoc_free(doc);
		return rc;
	}
	const ynode *versions = ynode_map_get(doc->root, "versions");
	catalog_entry e = { 0 };
	e.name = xstrdup(name->value);
	e.description = scalar_dup(ynode_map_get(doc->root, "description"));
	e.source = scalar_dup(ynode_map_get(doc->root, "source"));
	e.file = xstrdup(file);
	e.builtin = builtin;
	e.versions = xcalloc(versions->count, sizeof(*e.versions));
	for (size_t i = 0; i < versions->count; i++) {
		const ynode *v = versions->items[i];
		const ynode *vn = ynode_map_get(v, "version");
		catalog_version *cv = &e.versions[e.count];
		long long num = 0;
		schema_integer_node(vn, &num);
		cv->version = (long)num;
		for (size_t j = 0; j < e.count; j++)
			if (e.versions[j].version == cv->version) {
				rc = diag_error(diags, file, vn->line, vn->col, "versions",
						"versions: version %ld of '%s' is defined twice", cv->version, e.name);
				break;
			}
		cv->description = scalar_dup(ynode_map_get(v, "description"));
		envdef_from_ynode(&cv->def, NULL, v);
		e.count++;
	}
	qsort(e.versions, e.count, sizeof(*e.versions), cmp_version);
	if (c->count == c->alloc) {
		c->alloc = c->alloc ? c->alloc * 2 : 32;
		c->entries = xrealloc(c->entries, c->alloc * sizeof(*c->entries));
	}
	c->entries[c->count++] = e;
	qsort(c->entries, c->count, sizeof(*c->entries), cmp_entry);
	ydoc_free(doc);
	return rc;
}

int catalog_load_builtin(catalog *c, diag_list *diags)
{
	int rc = AML_OK;
	for (size_t i = 0; i < catalog_builtin_count; i++) {
		const catalog_blob *b = &catalog_builtin_files[i];
		char *name = xasprintf("<built-in>/environments/%s", b->name);
		if (catalog_load_text(c, name, (const char *)b->data, b->len, true, diags))
			rc = AML_EINVALID;
		free(name);
	}
	return rc;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int catalog_load_dir(catalog *c, const char *dir, const char *display_dir, diag_list *diags)
{
	DIR *d = opendir(dir);
	if (!d)
		return diag_errno(diags, display_dir, "cannot open catalog folder");
	strlist names = STRLIST_INIT;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] != '.' && ((l > 5 && !strcmp(de->d_name + l - 5, ".yaml")) ||
					     (l > 4 && !strcmp(de->d_name + l - 4, ".yml"))))
			strlist_add(&names, de->d_name);
	}
	closedir(d);
	if (names.count > 1)
		qsort(names.items, names.count, sizeof(char *), cmp_cstr);
	int rc = AML_OK;
	for (size_t i = 0; i < names.count; i++) {
		char *path = fs_join(dir, names.items[i]);
		char *shown = fs_join(display_dir, names.items[i]);
		buf text = BUF_INIT;
		if (buf_read_file(&text, path, 1024 * 1024) < 0)
			rc = diag_errno(diags, shown, "cannot read");
		else if (catalog_load_text(c, shown, text.ptr, text.len, false, diags))
			rc = AML_EINVALID;
		buf_free(&text);
		free(path);
		free(shown);
	}
	strlist_free(&names);
	return rc;
}

const catalog_entry *catalog_find(const catalog *c, const char *name)
{
	for (size_t i = 0; i < c->count; i++)
		if (!strcmp(c->entries[i].name, name))
			return &c->entries[i];
	return NULL;
}

const catalog_version *catalog_entry_version(const catalog_entry *e, long version)
{
	for (size_t i = 0; i < e->count; i++)
		if (e->versions[i].version == version)
			return &e->versions[i];
	return NULL;
}

const catalog_version *catalog_entry_latest(const catalog_entry *e)
{
	return e->count ? &e->versions[e->count - 1] : NULL;
}

const char **catalog_names(const catalog *c, size_t *n)
{
	const char **names = xcalloc(c->count + 1, sizeof(*names));
	for (size_t i = 0; i < c->count; i++)
		names[i] = c->entries[i].name;
	*n = c->count;
	return names;
}

char *catalog_split_ref(const char *ref, long *version)
{
	const char *at = strrchr(ref, '@');
	*version = 0;
	if (!at)
		return xstrdup(ref);
	/* written but not a positive integer (@0, @x): -1, which no entry has,
	 * rather than 0, which would mean the latest */
	long long v = 0;
	const char *p = at + 1;
	while (*p >= '0' && *p <= '9' && v <= 1000000000LL)
		v = v * 10 + (*p++ - '0');
	*version = p > at + 1 && !*p && v > 0 && v <= 1000000000LL ? (long)v : -1;
	return xstrndup(ref, (size_t)(at - ref));
}
