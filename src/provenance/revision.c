#include "provenance/revision.h"
#include "util/git.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spec/discover.h"
#include "util/fs.h"
#include "util/git2_dyn.h"

struct rev_view {
	git_repository *repo;
	git_tree *tree;      /* NULL: the work tree */
	char *label;
	char *workdir;
};

static int git_fail(diag_list *diags, const char *what)
{
	const git_error *e = git_error_last();
	return diag_error(diags, NULL, 0, 0, NULL, "%s: %s", what, e && e->message ? e->message : "libgit2 error");
}

int rev_open(rev_view **out, const char *start_dir, const char *rev, diag_list *diags)
{
	*out = NULL;
	amlgit_init();
	rev_view *v = xcalloc(1, sizeof(*v));
	git_buf found = { 0 };
	int rc = AML_OK;
	if (git_repository_discover(&found, start_dir, 0, NULL) < 0) {
		rc = diag_error(diags, NULL, 0, 0, NULL, "%s is not inside a git repository", start_dir);
		goto fail;
	}
	if (git_repository_open(&v->repo, found.ptr) < 0) {
		rc = git_fail(diags, "cannot open the repository");
		goto fail;
	}
	if (git_repository_is_bare(v->repo)) {
		rc = diag_error(diags, NULL, 0, 0, NULL, "the repository at %s has no work tree", found.ptr);
		goto fail;
	}
	char *wd = fs_realpath(git_repository_workdir(v->repo));
	v->workdir = wd ? wd : xstrdup(git_repository_workdir(v->repo));
	if (rev) {
		git_object *obj = NULL;
		if (git_revparse_single(&obj, v->repo, rev) < 0) {
			rc = diag_error(diags, NULL, 0, 0, NULL, "unknown revision '%s'", rev);
			goto fail;
		}
		int prc = git_object_peel((git_object **)&v->tree, obj, GIT_OBJECT_TREE);
		const git_oid *cid = git_object_id(obj);
		char shortid[8];
		git_oid_tostr(shortid, sizeof(shortid), cid);
		v->label = xasprintf("%s (%s)", rev, shortid);
		git_object_free(obj);
		if (prc < 0) {
			rc = diag_error(diags, NULL, 0, 0, NULL, "'%s' does not name a commit or tree", rev);
			goto fail;
		}
	} else {
		v->label = xstrdup("work tree");
	}
	git_buf_dispose(&found);
	*out = v;
	return AML_OK;
fail:
	git_buf_dispose(&found);
	rev_close(v);
	return rc;
}

void rev_close(rev_view *v)
{
	if (!v)
		return;
	git_tree_free(v->tree);
	git_repository_free(v->repo);
	free(v->label);
	free(v->workdir);
	free(v);
	amlgit_shutdown();
}

const char *rev_label(const rev_view *v)
{
	return v->label;
}

const char *rev_workdir(const rev_view *v)
{
	return v->workdir;
}

static bool under_prefixes(const char *path, const strlist *prefixes)
{
	if (!prefixes || !prefixes->count)
		return true;
	for (size_t i = 0; i < prefixes->count; i++) {
		const char *p = prefixes->items[i];
		size_t l = strlen(p);
		if (!l || !strcmp(p, ".") || !strcmp(path, p) || (!strncmp(path, p, l) && (p[l - 1] == '/' || path[l] == '/')))
			return true;
	}
	return false;
}

typedef struct walk_ctx {
	const strlist *prefixes;
	strlist *out;
} walk_ctx;

static int tree_walk_cb(const char *root, const git_tree_entry *entry, void *payload)
{
	walk_ctx *w = payload;
	if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB || !spec_is_spec_name(git_tree_entry_name(entry)))
		return 0;
	char *path = xasprintf("%s%s", root, git_tree_entry_name(entry));
	if (under_prefixes(path, w->prefixes))
		strlist_add_owned(w->out, path);
	else
		free(path);
	return 0;
}

static void walk_dir(rev_view *v, const char *rel, unsigned depth, const strlist *prefixes, strlist *out)
{
	if (depth > 32)
		return;
	char *dir = *rel ? fs_join(v->workdir, rel) : xstrdup(v->workdir);
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return;
	struct dirent *de;
	strlist names = STRLIST_INIT;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, ".git") &&
		    strcmp(de->d_name, ".amlspec"))
			strlist_add(&names, de->d_name);
	closedir(d);
	strlist_sort(&names);
	for (size_t i = 0; i < names.count; i++) {
		char *r = *rel ? fs_join(rel, names.items[i]) : xstrdup(names.items[i]);
		char *full = fs_join(v->workdir, r);
		struct stat st;
		int ignored = 0;
		git_ignore_path_is_ignored(&ignored, v->repo, r);
		if (!ignored && lstat(full, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				walk_dir(v, r, depth + 1, prefixes, out);
			else if (S_ISREG(st.st_mode) && spec_is_spec_name(names.items[i]) && under_prefixes(r, prefixes))
				strlist_add(out, r);
		}
		free(full);
		free(r);
	}
	strlist_free(&names);
}

int rev_list_specs(rev_view *v, const strlist *prefixes, strlist *out, diag_list *diags)
{
	if (v->tree) {
		walk_ctx w = { prefixes, out };
		if (git_tree_walk(v->tree, GIT_TREEWALK_PRE, tree_walk_cb, &w) < 0)
			return git_fail(diags, "cannot read the tree");
	} else {
		walk_dir(v, "", 0, prefixes, out);
	}
	strlist_sort(out);
	return AML_OK;
}

int rev_read(rev_view *v, const char *path, buf *out, diag_list *diags)
{
	if (!v->tree) {
		char *full = fs_join(v->workdir, path);
		int rc = AML_OK;
		if (!fs_is_file(full))
			rc = AML_ENOTFOUND;
		else if (buf_read_file(out, full, 1024 * 1024) < 0)
			rc = diag_errno(diags, path, "cannot read");
		free(full);
		return rc;
	}
	git_tree_entry *te = NULL;
	if (git_tree_entry_bypath(&te, v->tree, path) < 0)
		return AML_ENOTFOUND;
	git_blob *blob = NULL;
	int rc = AML_OK;
	if (git_tree_entry_type(te) != GIT_OBJECT_BLOB || git_blob_lookup(&blob, v->repo, git_tree_entry_id(te)) < 0)
		rc = AML_ENOTFOUND;
	else
		buf_add(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	git_tree_entry_free(te);
	return rc;
}

/* ---- folder comparison ---- */

typedef struct file_ent {
	char *path;
	git_oid oid;
	uint64_t size;
} file_ent;

typedef struct file_list {
	file_ent *items;
	size_t count, alloc;
} file_list;

static void fl_add(file_list *l, const char *path, const git_oid *oid, uint64_t size)
{
	if (l->count == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 64;
		l->items = xrealloc(l->items, l->alloc * sizeof(*l->items));
	}
	l->items[l->count].path = xstrdup(path);
	git_oid_cpy(&l->items[l->count].oid, oid);
	l->items[l->count].size = size;
	l->count++;
}

static void fl_free(file_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i].path);
	free(l->items);
}

static int cmp_ent(const void *a, const void *b)
{
	return strcmp(((const file_ent *)a)->path, ((const file_ent *)b)->path);
}

typedef struct tree_files_ctx {
	git_repository *repo;
	file_list *list;
} tree_files_ctx;

static int tree_files_cb(const char *root, const git_tree_entry *e, void *payload)
{
	tree_files_ctx *c = payload;
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	size_t size = 0;
	git_object_t type;
	git_odb *odb = NULL;
	if (git_repository_odb(&odb, c->repo) == 0) {
		git_odb_read_header(&size, &type, odb, git_tree_entry_id(e));
		git_odb_free(odb);
	}
	char *p = xasprintf("%s%s", root, git_tree_entry_name(e));
	fl_add(c->list, p, git_tree_entry_id(e), size);
	free(p);
	return 0;
}

static void workdir_files(rev_view *v, const char *rel, const char *base, unsigned depth, file_list *l)
{
	if (depth > 64)
		return;
	char *dir = *rel ? fs_join(v->workdir, rel) : xstrdup(v->workdir);
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
			continue;
		char *r = *rel ? fs_join(rel, de->d_name) : xstrdup(de->d_name);
		char *full = fs_join(v->workdir, r);
		int ignored = 0;
		git_ignore_path_is_ignored(&ignored, v->repo, r);
		struct stat st;
		if (!ignored && lstat(full, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				workdir_files(v, r, base, depth + 1, l);
			} else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
				git_oid oid;
				if (S_ISREG(st.st_mode))
					git_odb_hashfile(&oid, full, GIT_OBJECT_BLOB);
				else
					memset(&oid, 0, sizeof(oid));
				fl_add(l, r + strlen(base) + (*base ? 1 : 0), &oid, (uint64_t)st.st_size);
			}
		}
		free(full);
		free(r);
	}
	closedir(d);
}

static int dir_files(rev_view *v, const char *dir, file_list *l, diag_list *diags)
{
	(void)diags;
	if (v->tree) {
		git_tree *sub = NULL;
		if (!*dir || !strcmp(dir, ".")) {
			git_tree_dup(&sub, v->tree);
		} else {
			git_tree_entry *te = NULL;
			if (git_tree_entry_bypath(&te, v->tree, dir) < 0)
				return AML_OK; /* absent: no files */
			if (git_tree_entry_type(te) == GIT_OBJECT_TREE)
				git_tree_lookup(&sub, v->repo, git_tree_entry_id(te));
			git_tree_entry_free(te);
		}
		if (sub) {
			tree_files_ctx c = { v->repo, l };
			git_tree_walk(sub, GIT_TREEWALK_PRE, tree_files_cb, &c);
			git_tree_free(sub);
		}
	} else {
		workdir_files(v, !strcmp(dir, ".") ? "" : dir, !strcmp(dir, ".") ? "" : dir, 0, l);
	}
	if (l->count > 1)
		qsort(l->items, l->count, sizeof(*l->items), cmp_ent);
	return AML_OK;
}

void rev_dir_diff_free(rev_dir_diff *d)
{
	strlist_free(&d->lines);
	memset(d, 0, sizeof(*d));
}

int rev_diff_dir(rev_dir_diff *out, rev_view *a, rev_view *b, const char *dir, diag_list *diags)
{
	memset(out, 0, sizeof(*out));
	file_list la = { 0 }, lb = { 0 };
	dir_files(a, dir, &la, diags);
	dir_files(b, dir, &lb, diags);
	size_t i = 0, j = 0;
	out->files_before = la.count;
	out->files_after = lb.count;
	for (size_t k = 0; k < la.count; k++)
		out->bytes_before += la.items[k].size;
	for (size_t k = 0; k < lb.count; k++)
		out->bytes_after += lb.items[k].size;
	while (i < la.count || j < lb.count) {
		int c = i >= la.count ? 1 : j >= lb.count ? -1 : strcmp(la.items[i].path, lb.items[j].path);
		if (c < 0) {
			out->removed++;
			out->bytes_removed += la.items[i].size;
			if (out->lines.count < 200)
				strlist_add_owned(&out->lines, xasprintf("D %s (%llu B)", la.items[i].path,
									 (unsigned long long)la.items[i].size));
			i++;
		} else if (c > 0) {
			out->added++;
			out->bytes_added += lb.items[j].size;
			if (out->lines.count < 200)
				strlist_add_owned(&out->lines, xasprintf("A %s (%llu B)", lb.items[j].path,
									 (unsigned long long)lb.items[j].size));
			j++;
		} else {
			if (!git_oid_equal(&la.items[i].oid, &lb.items[j].oid)) {
				out->modified++;
				if (out->lines.count < 200)
					strlist_add_owned(&out->lines,
							  xasprintf("M %s (%llu B -> %llu B)", lb.items[j].path,
								    (unsigned long long)la.items[i].size,
								    (unsigned long long)lb.items[j].size));
			}
			i++, j++;
		}
	}
	fl_free(&la);
	fl_free(&lb);
	return AML_OK;
}
