/* snapshot: a source directory as a git tree in a bare object store
 * (<state>/snapshots.git). Content-addressed: unchanged files are not stored
 * again, and a private index per source directory gives git's stat cache so an
 * unchanged tree re-snapshots in milliseconds. Plain git can read the store. */
#ifndef AMLSPEC_SNAPSHOT_H
#define AMLSPEC_SNAPSHOT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/diag.h"

/* Azure ML's snapshot limits: beyond them a warning (or an error with fatal_limits). */
#define SNAPSHOT_WARN_BYTES (300ULL * 1024 * 1024)
#define SNAPSHOT_WARN_FILES 2000

typedef struct snapshot_opts {
	const char *store;        /* path of the bare repository (created if missing) */
	const char *source_dir;   /* real path of the source directory */
	const char *display_dir;  /* how to name it in messages */
	bool fatal_limits;        /* limits are errors instead of warnings */
	uint64_t warn_bytes;      /* 0: SNAPSHOT_WARN_BYTES (tests use small numbers) */
	uint64_t warn_files;      /* 0: SNAPSHOT_WARN_FILES */
	unsigned racy_ms;         /* 0: 2000. The stat cache trusts no file or folder changed less
				   * than this before a full snapshot (tests use less) */
} snapshot_opts;

typedef struct snapshot_info {
	char tree_id[41];         /* hex of the root tree */
	uint64_t files;
	uint64_t bytes;
	bool from_cache;          /* answered by the stat cache, without libgit2 */
} snapshot_info;

/* Ignore rules: <src>/.amlignore when present, else <src>/.gitignore (and
 * .gitignore files below, as git reads them); .git/, .amlspec/ and outputs/
 * (top level) are always left out. Symlinks are stored as links; a link that
 * points outside the source directory is an error naming it.
 *
 * Details: with .amlignore no .gitignore file applies at all (Azure ML's
 * rule). The user's global git config and excludes are never read. Nothing
 * in an ignore file can bring back the fixed exclusions, nor the store when
 * it lies inside the source. Files of a nested repository (a folder with its
 * own .git) are snapshotted as files, as Azure ML uploads them, where git
 * would record a submodule link. The tree id equals `git add -A && git
 * write-tree` for the same files and rules, except for that and for one
 * libgit2 divergence: a `!pattern` in a sub-folder's .gitignore cannot
 * re-include what a parent's .gitignore excluded (libgit2 issue #7284).
 * The store keeps a private index per source (store/amlspec/index-*), the
 * stat cache that makes unchanged files free; concurrent snapshots are safe.
 *
 * Beside it, index-*.stat is a stat signature of the whole source as the
 * last full snapshot saw it: every folder the scan entered, every file with
 * the stat data it had when read, and the files behind the ignore rules.
 * When all of it still matches (one fstatat per entry, on several threads,
 * no libgit2), the recorded tree is the answer (from_cache), after the
 * symbolic links and the limits are checked again. Anything else (a
 * difference, a change less than racy_ms before that snapshot, a missing
 * tree object, a damaged file) takes the full snapshot, which rewrites it.
 * The full snapshot initialises libgit2 for its own duration (about 4 ms with
 * Debian's build, which loads the CA bundle): a program making many calls
 * may hold git_libgit2_init() around them. */
int snapshot_take(snapshot_info *out, const snapshot_opts *opts, diag_list *diags);

/* Keeps tree_id reachable (a commit under refs/amlspec/runs/<run_id>) so that
 * git gc never prunes it. */
int snapshot_anchor(const char *store, const char *tree_id, const char *run_id, diag_list *diags);

typedef enum { SNAP_ADDED = 'A', SNAP_MODIFIED = 'M', SNAP_REMOVED = 'D' } snapshot_change_kind;

typedef struct snapshot_change {
	snapshot_change_kind kind;
	char *path;
	uint64_t old_size;
	uint64_t new_size;
} snapshot_change;

typedef struct snapshot_diff {
	snapshot_change *changes; /* sorted by path */
	size_t count;
	size_t added, modified, removed;
	uint64_t bytes_added, bytes_removed; /* sizes of added/removed files; a modified file adds
					      * new-old to bytes_added when it grew, old-new to
					      * bytes_removed when it shrank */
} snapshot_diff;

/* Changes from old_tree to new_tree (old_tree NULL: everything added). Tree
 * ids, or any revision that peels to a tree. No rename detection: a moved
 * file is D + A; a file that became a link (or back) is M. */
int snapshot_diff_trees(snapshot_diff *out, const char *store, const char *old_tree, const char *new_tree,
			diag_list *diags);
void snapshot_diff_free(snapshot_diff *d);
json_object *snapshot_diff_to_json(const snapshot_diff *d);

/* Writes the files of tree_id into dest (created; must not exist or be
 * empty), with their modes and symlinks. A tree with an unsafe name (.., .git,
 * a slash) or a relative link leading out of dest is refused before anything
 * is written. */
int snapshot_checkout(const char *store, const char *tree_id, const char *dest, diag_list *diags);

#endif
