/* revision: files as they are at a git revision, or in the work tree, read
 * with libgit2 (no checkout, no git binary). Used by `diff`. */
#ifndef AMLSPEC_REVISION_H
#define AMLSPEC_REVISION_H

#include <stdint.h>

#include "util/buf.h"
#include "util/diag.h"
#include "util/strlist.h"

typedef struct rev_view rev_view;

/* Opens the repository around start_dir at rev (NULL: the work tree). */
int rev_open(rev_view **out, const char *start_dir, const char *rev, diag_list *diags);
void rev_close(rev_view *v);
const char *rev_label(const rev_view *v);   /* "HEAD (1a2b3c4)", "work tree" */
const char *rev_workdir(const rev_view *v); /* the work tree root (real path) */
/* Spec files (run.yaml, *.run.yaml) under any of the repo-relative prefixes
 * ("" for all), sorted. */
int rev_list_specs(rev_view *v, const strlist *prefixes, strlist *out, diag_list *diags);
/* A file's content; AML_ENOTFOUND when absent at this revision. */
int rev_read(rev_view *v, const char *path, buf *out, diag_list *diags);

typedef struct rev_dir_diff {
	size_t added, modified, removed;
	uint64_t bytes_added, bytes_removed, bytes_before, bytes_after;
	size_t files_before, files_after;
	strlist lines;  /* "A path (size)" ... sorted by path, at most 200 */
} rev_dir_diff;

/* Compares folder dir (repo-relative; "" = root) between two views. */
int rev_diff_dir(rev_dir_diff *out, rev_view *a, rev_view *b, const char *dir, diag_list *diags);
void rev_dir_diff_free(rev_dir_diff *d);

#endif
