#include "cmd/specset.h"

#include <stdint.h>
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

typedef struct path_ref {
	char *real;
	size_t index;
} path_ref;

static int cmp_path_ref(const void *a, const void *b)
{
	const path_ref *x = a, *y = b;
	int c = strcmp(x->real, y->real);
	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* dup[i] is true when files[i] is the same file as an earlier one
 * (O(n log n): sweeps of thousands of specs are normal). */
static bool *mark_duplicate_files(const strlist *files)
{
	bool *dup = xcalloc(files->count + 1, sizeof(bool));
	path_ref *refs = xcalloc(files->count + 1, sizeof(*refs));
	size_t n = 0;
	for (size_t i = 0; i < files->count; i++) {
		char *real = fs_realpath(files->items[i]);
		if (real)
			refs[n++] = (path_ref){ real, i };
	}
	qsort(refs, n, sizeof(*refs), cmp_path_ref);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(refs[i].real, refs[i - 1].real))
			dup[refs[i].index] = true;
	for (size_t i = 0; i < n; i++)
		free(refs[i].real);
	free(refs);
	return dup;
}

static int cmp_by_address(const void *a, const void *b)
{
	const spec_file *x = *(spec_file *const *)a, *y = *(spec_file *const *)b;
	if (x->ws != y->ws)
		return (uintptr_t)x->ws < (uintptr_t)y->ws ? -1 : 1;
	int c = strcmp(x->spec->address, y->spec->address);
	return c ? c : (x < y ? -1 : x > y);
}

/* One address per spec within a workspace: every later file with an
 * address already taken is an error naming the first. */
static void check_addresses(specset *set, diag_list *diags)
{
	spec_file **v = xcalloc(set->nfiles + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < set->nfiles; i++)
		if (set->files[i].spec)
			v[n++] = &set->files[i];
	qsort(v, n, sizeof(*v), cmp_by_address);
	size_t first = 0;
	for (size_t i = 1; i < n; i++) {
		spec_file *a = v[i], *b = v[first];
		if (a->ws != b->ws || strcmp(a->spec->address, b->spec->address)) {
			first = i;
			continue;
		}
		/* at the name when it is written, else at the experiment */
		const run_spec *sa = a->spec;
		diag_error(diags, a->display, sa->name_line ? sa->name_line : sa->experiment_line,
			   sa->name_line ? sa->name_col : sa->experiment_col, "name",
			   "two specs have the address %s: this file and %s; set a different 'name:'", sa->address,
			   b->display);
		a->valid = false;
	}
	free(v);
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
	/* a file reached twice (a.run.yaml .) is one spec, not a clash; only
	 * several PATH arguments can reach a file twice */
	bool *dup = npaths > 1 ? mark_duplicate_files(&files) : NULL;
	for (size_t i = 0; i < files.count; i++) {
		const char *path = files.items[i];
		if (dup && dup[i])
			continue;
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
	free(dup);
	check_addresses(set, diags);
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
