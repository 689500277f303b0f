#include "cmd/specset.h"

#include <stdlib.h>
#include <string.h>

#include "spec/discover.h"
#include "util/fs.h"

void specset_free(specset *set)
{
	for (size_t i = 0; i < set->nfiles; i++) {
		free(set->files[i].path);
		free(set->files[i].display);
		run_spec_free(set->files[i].spec);
	}
	free(set->files);
	for (size_t i = 0; i < set->nworkspaces; i++)
		workspace_free(set->workspaces[i]);
	free(set->workspaces);
	memset(set, 0, sizeof(*set));
}

static spec_file *add_file(specset *set, const char *path)
{
	set->files = xrealloc(set->files, (set->nfiles + 1) * sizeof(*set->files));
	spec_file *f = &set->files[set->nfiles++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	char *abs = fs_absolute(path);
	f->display = path_for_display(abs);
	free(abs);
	f->valid = true;
	return f;
}

/* The workspace for a folder, opened once per root; its own file
 * (amlspec.yaml) is checked when it is first opened and listed among the
 * files. */
static workspace *workspace_for_dir(specset *set, const char *dir, const cli *ctx, diag_list *diags)
{
	char *root = NULL;
	int rc = workspace_find_root(&root, dir, ctx->workspace_dir, diags);
	if (rc)
		return NULL;
	for (size_t i = 0; i < set->nworkspaces; i++)
		if (!strcmp(set->workspaces[i]->root, root)) {
			free(root);
			return set->workspaces[i];
		}
	workspace *ws = NULL;
	size_t before = diags->errors;
	workspace_open(&ws, root, diags);
	free(root);
	set->workspaces = xrealloc(set->workspaces, (set->nworkspaces + 1) * sizeof(*set->workspaces));
	set->workspaces[set->nworkspaces++] = ws;
	if (ws->config_path) {
		spec_file *f = add_file(set, ws->config_path);
		f->is_workspace = true;
		f->valid = diags->errors == before;
		f->ws = ws;
	}
	return ws;
}

static workspace *workspace_for(specset *set, const char *file, const cli *ctx, diag_list *diags)
{
	char *dir = fs_dirname(file);
	workspace *ws = workspace_for_dir(set, dir, ctx, diags);
	free(dir);
	return ws;
}

int specset_load(specset *set, int npaths, char **paths, const cli *ctx, diag_list *diags)
{
	strlist files = STRLIST_INIT;
	static char *dot[] = { "." };
	if (npaths == 0) {
		npaths = 1;
		paths = dot;
	}
	for (int i = 0; i < npaths; i++) {
		if (spec_discover(&files, paths[i], diags)) {
			/* not there: a file that failed (the error is in diags) */
			add_file(set, paths[i])->valid = false;
			continue;
		}
		/* a folder's workspace file is checked even with no spec in it */
		if (fs_is_dir(paths[i]))
			workspace_for_dir(set, paths[i], ctx, diags);
	}
	strlist seen = STRLIST_INIT;
	for (size_t i = 0; i < files.count; i++) {
		const char *path = files.items[i];
		/* a file reached twice (a.run.yaml .) is one spec, not a clash */
		char *real = fs_realpath(path);
		if (real && strlist_contains(&seen, real)) {
			free(real);
			continue;
		}
		if (real)
			strlist_add_owned(&seen, real);
		if (!strcmp(fs_basename(path), "amlspec.yaml")) {
			workspace_for(set, path, ctx, diags);
			continue;
		}
		workspace *ws = workspace_for(set, path, ctx, diags);
		spec_file *f = add_file(set, path);
		f->ws = ws;
		if (!ws) {
			f->valid = false;
			continue;
		}
		f->valid = run_spec_load(&f->spec, path, f->display, ws, diags) == AML_OK;
	}
	strlist_free(&files);
	strlist_free(&seen);
	/* one address per spec within a workspace */
	for (size_t i = 0; i < set->nfiles; i++) {
		spec_file *a = &set->files[i];
		if (!a->spec)
			continue;
		for (size_t j = 0; j < i; j++) {
			spec_file *b = &set->files[j];
			if (b->spec && b->ws == a->ws && !strcmp(a->spec->address, b->spec->address)) {
				/* at the name when it is written, else at the experiment */
				const run_spec *sa = a->spec;
				diag_error(diags, a->display, sa->name_line ? sa->name_line : sa->experiment_line,
					   sa->name_line ? sa->name_col : sa->experiment_col, "name",
					   "two specs have the address %s: this file and %s; set a different 'name:'",
					   a->spec->address, b->display);
				a->valid = false;
				break;
			}
		}
	}
	return diags->errors ? AML_EINVALID : AML_OK;
}

int specset_workspace(workspace **out, specset *set, const cli *ctx, diag_list *diags)
{
	*out = NULL;
	workspace *ws = NULL;
	for (size_t i = 0; i < set->nfiles; i++) {
		if (!set->files[i].ws || set->files[i].is_workspace)
			continue;
		if (ws && set->files[i].ws != ws)
			return diag_error(diags, set->files[i].display, 0, 0, NULL,
					  "belongs to workspace %s, but other specs given belong to %s; run one workspace at a time",
					  set->files[i].ws->root, ws->root);
		ws = set->files[i].ws;
	}
	if (!ws) {
		char *root = NULL;
		int rc = workspace_find_root(&root, ".", ctx->workspace_dir, diags);
		if (rc)
			return rc;
		for (size_t i = 0; i < set->nworkspaces && !ws; i++)
			if (!strcmp(set->workspaces[i]->root, root))
				ws = set->workspaces[i];
		if (!ws) {
			rc = workspace_open(&ws, root, diags);
			set->workspaces = xrealloc(set->workspaces, (set->nworkspaces + 1) * sizeof(*set->workspaces));
			set->workspaces[set->nworkspaces++] = ws;
		}
		free(root);
		if (rc)
			return rc;
	}
	*out = ws;
	return AML_OK;
}
