#include "workspace.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/schema.h"
#include "spec/ytree.h"
#include "util/fs.h"

char *path_for_display(const char *abs_path)
{
	char cwd[PATH_MAX];
	return path_for_display_from(getcwd(cwd, sizeof(cwd)), abs_path);
}

char *path_for_display_from(const char *cwd, const char *abs_path)
{
	if (cwd && fs_is_within(cwd, abs_path)) {
		if (!strcmp(cwd, abs_path))
			return xstrdup(".");
		return xstrdup(abs_path + strlen(cwd) + (strcmp(cwd, "/") ? 1 : 0));
	}
	return xstrdup(abs_path);
}

int workspace_find_root(char **out, const char *start_dir, const char *explicit_dir, diag_list *diags)
{
	*out = NULL;
	if (explicit_dir) {
		char *r = fs_realpath(explicit_dir);
		if (!r || !fs_is_dir(r)) {
			free(r);
			return diag_error(diags, explicit_dir, 0, 0, NULL, "--workspace: not a directory");
		}
		*out = r;
		return AML_OK;
	}
	char *dir = fs_realpath(start_dir);
	if (!dir)
		return diag_errno(diags, start_dir, "cannot resolve");
	/* nearest amlspec.yaml, then nearest .git */
	char *git_root = NULL;
	char *d = xstrdup(dir);
	for (;;) {
		char *cfg = fs_join(d, "amlspec.yaml");
		bool has_cfg = fs_is_file(cfg);
		free(cfg);
		if (has_cfg) {
			*out = d;
			free(dir);
			free(git_root);
			return AML_OK;
		}
		if (!git_root) {
			char *g = fs_join(d, ".git");
			if (fs_exists(g))
				git_root = xstrdup(d);
			free(g);
		}
		if (!strcmp(d, "/"))
			break;
		char *up = fs_dirname(d);
		free(d);
		d = up;
	}
	free(d);
	free(dir);
	if (git_root) {
		*out = git_root;
		return AML_OK;
	}
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return diag_errno(diags, NULL, "cannot get the current directory");
	*out = fs_realpath(cwd);
	return AML_OK;
}

void workspace_free(workspace *ws)
{
	if (!ws)
		return;
	for (size_t i = 0; i < ws->ntargets; i++) {
		free(ws->targets[i].name);
		free(ws->targets[i].type);
		kvlist_free(&ws->targets[i].options);
		strlist_free(&ws->targets[i].sbatch_args);
	}
	free(ws->targets);
	free(ws->root);
	free(ws->config_path);
	free(ws->config_display);
	free(ws->name);
	strlist_free(&ws->catalog_dirs);
	strlist_free(&ws->catalog_displays);
	catalog_free(&ws->cat);
	diag_list_free(&ws->cat_diags);
	pthread_mutex_destroy(&ws->cat_lock);
	free(ws);
}

static bool is_string(const ynode *n)
{
	return n && n->kind == YN_SCALAR && n->stype == YS_STRING;
}

/* Checks and reads amlspec.yaml. Like run specs, the checks beyond shape run
 * even when the shape is wrong (so every problem shows in one pass), and the
 * targets are declared whatever their shape (so that specs naming them get
 * no second error): values of the wrong shape are taken as absent. */
static int load_config(workspace *ws, diag_list *diags)
{
	ydoc *doc = NULL;
	const char *file = ws->config_display;
	int rc = ydoc_load_file(&doc, ws->config_path, file, NULL, diags);
	if (rc)
		return rc;
	if (!doc->root) {
		/* an empty amlspec.yaml just marks the workspace */
		ydoc_free(doc);
		return AML_OK;
	}
	if (schema_check(&schema_workspace, doc->root, file, "", diags))
		rc = AML_EINVALID;
	if (doc->root->kind != YN_MAP) {
		ydoc_free(doc);
		return rc;
	}
	const ynode *n = ynode_map_get(doc->root, "workspace");
	if (is_string(n))
		ws->name = xstrdup(n->value);
	const ynode *targets = ynode_map_get(doc->root, "targets");
	if (targets && targets->kind == YN_MAP) {
		ws->targets = xcalloc(targets->count, sizeof(*ws->targets));
		for (size_t i = 0; i < targets->count; i++) {
			const ynode *k = ynode_map_key(targets, i), *v = ynode_map_value(targets, i);
			target_config *t = &ws->targets[ws->ntargets++];
			t->name = xstrdup(k->value);
			t->line = k->line;
			t->col = k->col;
			const ynode *type = ynode_map_get(v, "type");
			t->type = xstrdup(is_string(type) ? type->value : "");
			for (size_t j = 0; v->kind == YN_MAP && j < v->count; j++) {
				const ynode *ok = ynode_map_key(v, j), *ov = ynode_map_value(v, j);
				if (ov->kind == YN_SCALAR)
					kvlist_set(&t->options, ok->value, ov->value);
				else if (!strcmp(ok->value, "sbatch_args") && ov->kind == YN_SEQ)
					for (size_t a = 0; a < ov->count; a++)
						if (ov->items[a]->kind == YN_SCALAR)
							strlist_add(&t->sbatch_args, ov->items[a]->value);
			}
			if (!strcmp(t->name, "local"))
				rc = diag_error(diags, file, k->line, k->col, "targets.local",
						"targets.local: 'local' is built in and cannot be redefined");
		}
		/* a slurm login must name an ssh target */
		for (size_t i = 0; i < ws->ntargets; i++) {
			const ynode *ln = ynode_map_get(ynode_map_value(targets, i), "login");
			if (!is_string(ln) || !schema_match("^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$", ln->value))
				continue; /* the schema said why */
			const target_config *l = workspace_target(ws, ln->value);
			char *path = xasprintf("targets.%s.login", ws->targets[i].name);
			if (!l) {
				const char **names = xcalloc(ws->ntargets, sizeof(*names));
				for (size_t j = 0; j < ws->ntargets; j++)
					names[j] = ws->targets[j].name;
				const char *sug = diag_suggest(ln->value, names, ws->ntargets);
				char *hint = sug ? xasprintf(" (did you mean '%s'?)", sug) : xstrdup("");
				rc = diag_error(diags, file, ln->line, ln->col, path,
						"%s: '%s' is not a target declared here%s; login must name an ssh target", path,
						ln->value, hint);
				free(hint);
				free(names);
			} else if (strcmp(l->type, "ssh") && (!strcmp(l->type, "slurm") || !strcmp(l->type, "azureml"))) {
				rc = diag_error(diags, file, ln->line, ln->col, path,
						"%s: '%s' is %s %s target; login must name an ssh target", path, ln->value,
						l->type[0] == 'a' ? "an" : "a", l->type);
			}
			free(path);
		}
	}
	const ynode *cats = ynode_map_get(doc->root, "catalogs");
	for (size_t i = 0; cats && cats->kind == YN_SEQ && i < cats->count; i++) {
		const ynode *c = cats->items[i];
		if (!is_string(c) || !*c->value)
			continue;
		char *abs = fs_join(ws->root, c->value);
		char *real = fs_realpath(abs);
		char *path = xasprintf("catalogs[%zu]", i);
		if (!real)
			rc = diag_error(diags, file, c->line, c->col, path, "%s: folder '%s' does not exist", path, c->value);
		else if (!fs_is_within(ws->root, real))
			rc = diag_error(diags, file, c->line, c->col, path, "%s: '%s' is outside the workspace", path,
					c->value);
		else if (!fs_is_dir(real))
			rc = diag_error(diags, file, c->line, c->col, path, "%s: '%s' is not a folder", path, c->value);
		else {
			strlist_add(&ws->catalog_dirs, real);
			strlist_add_owned(&ws->catalog_displays, path_for_display(real));
		}
		free(path);
		free(abs);
		free(real);
	}
	ydoc_free(doc);
	return rc;
}

int workspace_open(workspace **out, const char *root, diag_list *diags)
{
	workspace *ws = xcalloc(1, sizeof(*ws));
	pthread_mutex_init(&ws->cat_lock, NULL);
	ws->root = xstrdup(root);
	char *cfg = fs_join(root, "amlspec.yaml");
	int rc = AML_OK;
	if (fs_is_file(cfg)) {
		ws->config_path = cfg;
		ws->config_display = path_for_display(cfg);
		rc = load_config(ws, diags);
	} else {
		free(cfg);
	}
	*out = ws;
	return rc;
}

const catalog *workspace_catalog(workspace *ws, diag_list *diags)
{
	pthread_mutex_lock(&ws->cat_lock);
	if (ws->cat_state == 0) {
		int rc = catalog_load_builtin(&ws->cat, &ws->cat_diags);
		for (size_t i = 0; i < ws->catalog_dirs.count; i++)
			if (catalog_load_dir(&ws->cat, ws->catalog_dirs.items[i], ws->catalog_displays.items[i],
					     &ws->cat_diags))
				rc = AML_EINVALID;
		ws->cat_state = rc ? -1 : 1;
		if (diags && !ws->cat_report_later)
			for (size_t i = 0; i < ws->cat_diags.count; i++) {
				diag *d = &ws->cat_diags.items[i];
				diag_add(diags, d->severity, d->file, d->line, d->col, d->path, "%s", d->message);
			}
	}
	pthread_mutex_unlock(&ws->cat_lock);
	return &ws->cat;
}

const target_config *workspace_target(const workspace *ws, const char *name)
{
	for (size_t i = 0; i < ws->ntargets; i++)
		if (!strcmp(ws->targets[i].name, name))
			return &ws->targets[i];
	return NULL;
}

char *workspace_state_dir(const workspace *ws)
{
	return fs_join(ws->root, ".amlspec");
}
