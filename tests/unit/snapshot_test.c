/* Unit tests for src/snapshot: tree ids against the git binary, ignore rules,
 * diff, anchor + gc, checkout, and concurrent snapshots. Each test gets a
 * fresh temporary folder with src/ and (by default) store.git beside it. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot/snapshot.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/git2_dyn.h"

typedef struct fixture {
	char *root;
	char *src;
	char *store;
	diag_list diags;
} fixture;

static int setup(void **state)
{
	fixture *fx = xcalloc(1, sizeof(*fx));
	fx->root = tu_mkdtemp();
	fx->src = fs_join(fx->root, "src");
	fx->store = fs_join(fx->root, "store.git");
	fs_mkdirs(fx->src, 0755);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	fixture *fx = *state;
	tu_rmtree(fx->root);
	diag_list_free(&fx->diags);
	free(fx->store);
	free(fx->src);
	free(fx->root);
	free(fx);
	return 0;
}

/* ---- helpers ---- */

/* Runs argv with stdout captured into out (stderr dropped); exit status. */
static int run_out(buf *out, const char *cwd, const char *const argv[])
{
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (cwd && chdir(cwd) < 0)
			_exit(127);
		int devnull = open("/dev/null", O_WRONLY);
		dup2(fds[1], 1);
		if (devnull >= 0)
			dup2(devnull, 2);
		close(fds[0]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	char tmp[4096];
	ssize_t r;
	while ((r = read(fds[0], tmp, sizeof(tmp))) > 0)
		if (out)
			buf_add(out, tmp, (size_t)r);
	close(fds[0]);
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	if (out)
		while (out->len && (out->ptr[out->len - 1] == '\n'))
			buf_truncate(out, out->len - 1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* git --git-dir=GITDIR [--work-tree=WT] ARGS... (NULL-terminated). */
static int git(buf *out, const char *gitdir, const char *worktree, ...)
{
	const char *argv[32];
	size_t n = 0;
	char *gd = xasprintf("--git-dir=%s", gitdir);
	char *wt = worktree ? xasprintf("--work-tree=%s", worktree) : NULL;
	argv[n++] = "git";
	argv[n++] = gd;
	if (wt)
		argv[n++] = wt;
	/* the user's global excludes must not change what git compares with */
	argv[n++] = "-c";
	argv[n++] = "core.excludesFile=/dev/null";
	va_list ap;
	va_start(ap, worktree);
	const char *a;
	while ((a = va_arg(ap, const char *)) && n < 31)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	int rc = run_out(out, NULL, argv);
	free(wt);
	free(gd);
	return rc;
}

static void write_file(const fixture *fx, const char *name, const char *text, unsigned mode)
{
	tu_write(fx->src, name, text);
	char *p = fs_join(fx->src, name);
	assert_int_equal(chmod(p, mode), 0);
	free(p);
}

static void make_link(const fixture *fx, const char *name, const char *target)
{
	char *p = fs_join(fx->src, name);
	char *dir = fs_dirname(p);
	fs_mkdirs(dir, 0755);
	assert_int_equal(symlink(target, p), 0);
	free(dir);
	free(p);
}

static void set_mtime(const fixture *fx, const char *name, time_t when)
{
	char *p = fs_join(fx->src, name);
	struct timeval tv[2] = { { when, 0 }, { when, 0 } };
	assert_int_equal(utimes(p, tv), 0);
	free(p);
}

static int age_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	return utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

/* Backdates everything in src, so that no file is "racily clean" (modified
 * in the same clock tick as the index was written: git then re-hashes it),
 * which would make assertions about cache rewrites depend on timing. */
static void age_source(const fixture *fx)
{
	assert_int_equal(nftw(fx->src, age_one, 16, FTW_PHYS), 0);
}

static void remove_path(const fixture *fx, const char *name)
{
	char *p = fs_join(fx->src, name);
	assert_int_equal(fs_remove_tree(p), 0);
	free(p);
}

static int take_opts(const fixture *fx, snapshot_info *info, snapshot_opts *opts, diag_list *diags)
{
	opts->store = fx->store;
	opts->source_dir = fx->src;
	if (!opts->display_dir)
		opts->display_dir = "proj";
	return snapshot_take(info, opts, diags);
}

/* Takes a snapshot that must succeed without diagnostics. */
static void take(fixture *fx, snapshot_info *info)
{
	snapshot_opts opts = { 0 };
	diag_list diags = DIAG_LIST_INIT;
	int rc = take_opts(fx, info, &opts, &diags);
	for (size_t i = 0; i < diags.count; i++)
		print_error("unexpected diagnostic: %s\n", diags.items[i].message);
	assert_int_equal(rc, 0);
	assert_int_equal(diags.count, 0);
	assert_int_equal(strlen(info->tree_id), 40);
	diag_list_free(&diags);
}

/* What `git add -A && git write-tree` gives for src, with the fixed
 * exclusions given to git as info/exclude. */
static void git_write_tree_of(const fixture *fx, char out[41])
{
	char *scratch = fs_join(fx->root, "scratch.git");
	buf b = BUF_INIT;
	fs_remove_tree(scratch);
	const char *init[] = { "git", "init", "-q", "--bare", scratch, NULL };
	assert_int_equal(tu_run(NULL, init), 0);
	tu_write(scratch, "info/exclude", "/outputs\n/.amlspec\n");
	assert_int_equal(git(NULL, scratch, fx->src, "add", "-A", NULL), 0);
	assert_int_equal(git(&b, scratch, fx->src, "write-tree", NULL), 0);
	assert_int_equal(b.len, 40);
	memcpy(out, b.ptr, 41);
	buf_free(&b);
	free(scratch);
}

/* `git ls-tree -r` of a snapshot: "mode type id\tpath" lines. */
static char *ls_tree(const fixture *fx, const char *tree)
{
	buf b = BUF_INIT;
	assert_int_equal(git(&b, fx->store, NULL, "ls-tree", "-r", "--full-tree", tree, NULL), 0);
	buf_putc(&b, '\n');
	return buf_detach(&b);
}

static bool tree_has(const fixture *fx, const char *tree, const char *path)
{
	char *ls = ls_tree(fx, tree);
	char *needle = xasprintf("\t%s\n", path);
	bool found = strstr(ls, needle) != NULL;
	free(needle);
	free(ls);
	return found;
}

/* The mode string of path in tree ("100755"), or "" when absent. */
static void tree_mode(const fixture *fx, const char *tree, const char *path, char mode[7])
{
	char *ls = ls_tree(fx, tree);
	char *needle = xasprintf("\t%s\n", path);
	mode[0] = '\0';
	for (char *line = ls; *line;) {
		char *nl = strchr(line, '\n');
		size_t len = (size_t)(nl - line) + 1;
		if (len > strlen(needle) && !strncmp(nl + 1 - strlen(needle), needle, strlen(needle))) {
			memcpy(mode, line, 6);
			mode[6] = '\0';
		}
		line = nl + 1;
	}
	free(needle);
	free(ls);
}

static bool diags_mention(const diag_list *d, diag_severity sev, const char *what)
{
	for (size_t i = 0; i < d->count; i++) {
		buf b = BUF_INIT;
		diag_format(&b, &d->items[i]);
		bool hit = d->items[i].severity == sev && strstr(b.ptr, what);
		buf_free(&b);
		if (hit)
			return true;
	}
	return false;
}

static char *index_file(const fixture *fx)
{
	/* the index, not its stat cache (index-*.stat) */
	char *pattern = xasprintf("%s/amlspec/index-????????????????", fx->store);
	glob_t g;
	char *path = NULL;
	if (glob(pattern, 0, NULL, &g) == 0) {
		assert_int_equal(g.gl_pathc, 1);
		path = xstrdup(g.gl_pathv[0]);
		globfree(&g);
	}
	free(pattern);
	return path;
}

/* ---- tests ---- */

static void populate_sample(const fixture *fx)
{
	write_file(fx, "train.py", "print('train')\n", 0644);
	write_file(fx, "run.sh", "#!/bin/sh\necho hi\n", 0755);
	write_file(fx, "pkg/model.py", "class M: pass\n", 0644);
	write_file(fx, "pkg/sub/data.txt", "1,2,3\n", 0644);
	write_file(fx, "pkg/.gitignore", "*.tmp\n!keep.tmp\n", 0644);
	write_file(fx, "pkg/scratch.tmp", "x\n", 0644);
	write_file(fx, "pkg/keep.tmp", "kept\n", 0644);
	write_file(fx, ".gitignore", "*.log\nbuild/\n", 0644);
	write_file(fx, "debug.log", "noise\n", 0644);
	write_file(fx, "build/out.o", "obj\n", 0644);
	write_file(fx, "outputs/model.bin", "weights\n", 0644);
	write_file(fx, "logs/train.txt", "epoch 1\n", 0644);
	make_link(fx, "latest.py", "pkg/model.py");
	make_link(fx, "pkgdir", "pkg");
}

static void test_tree_matches_git(void **state)
{
	fixture *fx = *state;
	snapshot_info info;
	char expect[41], mode[7];

	populate_sample(fx);
	take(fx, &info);
	git_write_tree_of(fx, expect);
	assert_string_equal(info.tree_id, expect);
	/* the comparison is not vacuous: these decide the id */
	assert_true(tree_has(fx, info.tree_id, "pkg/keep.tmp"));
	assert_false(tree_has(fx, info.tree_id, "pkg/scratch.tmp"));
	assert_false(tree_has(fx, info.tree_id, "outputs/model.bin"));
	assert_true(tree_has(fx, info.tree_id, "logs/train.txt"));
	tree_mode(fx, info.tree_id, "run.sh", mode);
	assert_string_equal(mode, "100755");
	tree_mode(fx, info.tree_id, "latest.py", mode);
	assert_string_equal(mode, "120000");
	/* train.py run.sh pkg/model.py pkg/sub/data.txt pkg/.gitignore
	 * pkg/keep.tmp .gitignore logs/train.txt latest.py pkgdir */
	assert_int_equal(info.files, 10);
}

static void test_gitignore_honoured(void **state)
{
	fixture *fx = *state;
	snapshot_info info;

	write_file(fx, ".gitignore", "*.log\ndata/\n/top-only.txt\n", 0644);
	write_file(fx, "a.py", "a\n", 0644);
	write_file(fx, "x.log", "x\n", 0644);
	write_file(fx, "data/big.csv", "1\n", 0644);
	write_file(fx, "top-only.txt", "t\n", 0644);
	write_file(fx, "sub/top-only.txt", "kept: the rule is anchored\n", 0644);
	write_file(fx, "sub/deep/y.log", "y\n", 0644);
	take(fx, &info);
	assert_true(tree_has(fx, info.tree_id, "a.py"));
	assert_true(tree_has(fx, info.tree_id, ".gitignore"));
	assert_false(tree_has(fx, info.tree_id, "x.log"));
	assert_false(tree_has(fx, info.tree_id, "sub/deep/y.log"));
	assert_false(tree_has(fx, info.tree_id, "data/big.csv"));
	assert_false(tree_has(fx, info.tree_id, "top-only.txt"));
	assert_true(tree_has(fx, info.tree_id, "sub/top-only.txt"));
	assert_int_equal(info.files, 3);
}

static void test_amlignore_replaces_gitignore(void **state)
{
	fixture *fx = *state;
	snapshot_info info;
	char expect[41];

	write_file(fx, ".gitignore", "*.log\n", 0644);
	write_file(fx, "sub/.gitignore", "*.tmp\n", 0644);
	write_file(fx, ".amlignore", "*.csv\ncache/\n", 0644);
	write_file(fx, "a.log", "a\n", 0644);
	write_file(fx, "sub/b.tmp", "b\n", 0644);
	write_file(fx, "c.csv", "c\n", 0644);
	write_file(fx, "cache/d.py", "d\n", 0644);
	write_file(fx, "e.py", "e\n", 0644);
	write_file(fx, "outputs/o.bin", "o\n", 0644);
	const char *init[] = { "git", "init", "-q", fx->src, NULL };
	assert_int_equal(tu_run(NULL, init), 0);
	take(fx, &info);
	assert_true(tree_has(fx, info.tree_id, "a.log"));
	assert_true(tree_has(fx, info.tree_id, "sub/b.tmp"));
	assert_true(tree_has(fx, info.tree_id, ".amlignore"));
	assert_true(tree_has(fx, info.tree_id, "e.py"));
	assert_false(tree_has(fx, info.tree_id, "c.csv"));
	assert_false(tree_has(fx, info.tree_id, "cache/d.py"));
	assert_false(tree_has(fx, info.tree_id, "outputs/o.bin"));
	assert_false(tree_has(fx, info.tree_id, ".git/HEAD"));

	/* Same as git given only the .amlignore rules (no .gitignore files). */
	remove_path(fx, ".gitignore");
	remove_path(fx, "sub/.gitignore");
	remove_path(fx, ".git");
	char *scratch = fs_join(fx->root, "scratch.git");
	const char *ginit[] = { "git", "init", "-q", "--bare", scratch, NULL };
	assert_int_equal(tu_run(NULL, ginit), 0);
	tu_write(scratch, "info/exclude", "/outputs\n*.csv\ncache/\n");
	assert_int_equal(git(NULL, scratch, fx->src, "add", "-A", NULL), 0);
	buf b = BUF_INIT;
	assert_int_equal(git(&b, scratch, fx->src, "write-tree", NULL), 0);
	memcpy(expect, b.ptr, 41);
	buf_free(&b);
	free(scratch);
	take(fx, &info);
	assert_string_equal(info.tree_id, expect);
}

static void test_fixed_exclusions(void **state)
{
	fixture *fx = *state;
	snapshot_info info;

	/* the store where the embedded workspace keeps it: inside the source */
	free(fx->store);
	fx->store = fs_join(fx->src, ".amlspec/snapshots.git");
	const char *init[] = { "git", "init", "-q", fx->src, NULL };
	assert_int_equal(tu_run(NULL, init), 0);
	/* a user's rules cannot bring any of them back */
	write_file(fx, ".gitignore", "!outputs/\n!outputs\n!.amlspec/\n!.amlspec\n!.git\n", 0644);
	write_file(fx, ".amlspec/state.json", "{}\n", 0644);
	write_file(fx, "outputs/model.bin", "w\n", 0644);
	write_file(fx, "sub/outputs/kept.txt", "only the top-level outputs is left out\n", 0644);
	write_file(fx, "logs/run.txt", "logs are part of the snapshot\n", 0644);
	write_file(fx, "main.py", "m\n", 0644);
	take(fx, &info);
	char *ls = ls_tree(fx, info.tree_id);
	assert_null(strstr(ls, ".amlspec"));
	assert_null(strstr(ls, "\toutputs/"));
	assert_null(strstr(ls, ".git/"));
	assert_non_null(strstr(ls, "\tsub/outputs/kept.txt\n"));
	assert_non_null(strstr(ls, "\tlogs/run.txt\n"));
	assert_non_null(strstr(ls, "\tmain.py\n"));
	free(ls);
	assert_int_equal(info.files, 4);
	/* The store grew (objects, index); the snapshot does not see it. */
	snapshot_info again;
	take(fx, &again);
	assert_string_equal(again.tree_id, info.tree_id);
}

static void test_store_elsewhere_inside_source(void **state)
{
	fixture *fx = *state;
	snapshot_info info, again;

	free(fx->store);
	fx->store = fs_join(fx->src, "my [store].git");
	write_file(fx, "a.py", "a\n", 0644);
	take(fx, &info);
	assert_false(tree_has(fx, info.tree_id, "my [store].git/HEAD"));
	assert_int_equal(info.files, 1);
	take(fx, &again);
	assert_string_equal(again.tree_id, info.tree_id);
}

static void test_nested_gitignore(void **state)
{
	fixture *fx = *state;
	snapshot_info info;
	char expect[41];

	/* A negation that re-includes what a parent folder's .gitignore left
	 * out is not used here: libgit2 (1.5 up to 1.9) does not honour it,
	 * git does (libgit2 issue #7284). Within one file it works. */
	write_file(fx, ".gitignore", "*.bak\n", 0644);
	write_file(fx, "sub/.gitignore", "*.tmp\n!keep.tmp\nlocal/\n", 0644);
	write_file(fx, "sub/keep.tmp", "k\n", 0644);
	write_file(fx, "sub/drop.tmp", "d\n", 0644);
	write_file(fx, "sub/deeper/z.bak", "z\n", 0644);
	write_file(fx, "sub/local/l.py", "l\n", 0644);
	write_file(fx, "local/top.py", "kept: the sub rule does not apply here\n", 0644);
	write_file(fx, "top.tmp", "kept: *.tmp is sub's rule\n", 0644);
	take(fx, &info);
	assert_true(tree_has(fx, info.tree_id, "sub/keep.tmp"));
	assert_false(tree_has(fx, info.tree_id, "sub/drop.tmp"));
	assert_false(tree_has(fx, info.tree_id, "sub/deeper/z.bak"));
	assert_false(tree_has(fx, info.tree_id, "sub/local/l.py"));
	assert_true(tree_has(fx, info.tree_id, "local/top.py"));
	assert_true(tree_has(fx, info.tree_id, "top.tmp"));
	git_write_tree_of(fx, expect);
	assert_string_equal(info.tree_id, expect);
}

static void test_resnapshot_unchanged(void **state)
{
	fixture *fx = *state;
	snapshot_info first, again, changed, reverted;
	struct stat before, after;

	populate_sample(fx);
	age_source(fx);
	take(fx, &first);
	char *idx = index_file(fx);
	assert_non_null(idx);
	assert_int_equal(stat(idx, &before), 0);
	take(fx, &again);
	assert_string_equal(again.tree_id, first.tree_id);
	assert_int_equal(again.files, first.files);
	assert_int_equal(again.bytes, first.bytes);
	/* nothing changed: the cache was not even rewritten */
	assert_int_equal(stat(idx, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);

	/* a touched file with the same content keeps the id */
	set_mtime(fx, "train.py", 1000000000);
	take(fx, &again);
	assert_string_equal(again.tree_id, first.tree_id);
	/* ... and its fresh stat data is saved, so it is hashed once, not on
	 * every later snapshot: the cache is rewritten now, then left alone */
	assert_int_equal(stat(idx, &after), 0);
	assert_int_not_equal(before.st_ino, after.st_ino);
	before = after;
	take(fx, &again);
	assert_int_equal(stat(idx, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);

	write_file(fx, "train.py", "print('changed')\n", 0644);
	take(fx, &changed);
	assert_string_not_equal(changed.tree_id, first.tree_id);
	write_file(fx, "train.py", "print('train')\n", 0644);
	take(fx, &reverted);
	assert_string_equal(reverted.tree_id, first.tree_id);
	free(idx);
}

static void test_rule_changes_apply_to_cached_files(void **state)
{
	fixture *fx = *state;
	snapshot_info info;
	char expect[41];

	write_file(fx, "a.py", "a\n", 0644);
	write_file(fx, "x.log", "x\n", 0644);
	write_file(fx, "data/d.csv", "d\n", 0644);
	take(fx, &info);
	assert_true(tree_has(fx, info.tree_id, "x.log"));
	assert_true(tree_has(fx, info.tree_id, "data/d.csv"));

	/* files already in the cache leave the snapshot when a rule ignores them */
	write_file(fx, ".gitignore", "*.log\ndata/\n", 0644);
	take(fx, &info);
	assert_false(tree_has(fx, info.tree_id, "x.log"));
	assert_false(tree_has(fx, info.tree_id, "data/d.csv"));
	git_write_tree_of(fx, expect);
	assert_string_equal(info.tree_id, expect);

	/* an .amlignore replaces the .gitignore: x.log comes back, a.py goes */
	write_file(fx, ".amlignore", "*.py\n", 0644);
	take(fx, &info);
	assert_true(tree_has(fx, info.tree_id, "x.log"));
	assert_true(tree_has(fx, info.tree_id, "data/d.csv"));
	assert_false(tree_has(fx, info.tree_id, "a.py"));

	/* and without it, the .gitignore rules are back */
	remove_path(fx, ".amlignore");
	take(fx, &info);
	assert_string_equal(info.tree_id, expect);
}

static void test_self_ignoring_gitignore(void **state)
{
	fixture *fx = *state;
	snapshot_info info;

	/* a .gitignore that ignores itself is not in the snapshot, yet its
	 * rules count, and so do changes to them */
	write_file(fx, "sub/.gitignore", ".gitignore\n*.tmp\n", 0644);
	write_file(fx, "sub/a.tmp", "a\n", 0644);
	write_file(fx, "sub/b.dat", "b\n", 0644);
	take(fx, &info);
	assert_false(tree_has(fx, info.tree_id, "sub/.gitignore"));
	assert_false(tree_has(fx, info.tree_id, "sub/a.tmp"));
	assert_true(tree_has(fx, info.tree_id, "sub/b.dat"));
	write_file(fx, "sub/.gitignore", ".gitignore\n*.dat\n", 0644);
	take(fx, &info);
	assert_true(tree_has(fx, info.tree_id, "sub/a.tmp"));
	assert_false(tree_has(fx, info.tree_id, "sub/b.dat"));
}

static const snapshot_change *find_change(const snapshot_diff *d, const char *path, snapshot_change_kind kind)
{
	for (size_t i = 0; i < d->count; i++)
		if (!strcmp(d->changes[i].path, path) && d->changes[i].kind == kind)
			return &d->changes[i];
	return NULL;
}

static void test_diff_with_sizes(void **state)
{
	fixture *fx = *state;
	snapshot_info one, two;
	snapshot_diff d;
	diag_list diags = DIAG_LIST_INIT;

	write_file(fx, "keep.txt", "same\n", 0644);         /* 5 */
	write_file(fx, "mod.txt", "123456789\n", 0644);     /* 10 */
	write_file(fx, "gone.txt", "bye bye", 0644);         /* 7 */
	write_file(fx, "shape", "file\n", 0644);            /* 5, becomes a folder */
	take(fx, &one);
	write_file(fx, "mod.txt", "123456789012345678901234\n", 0644); /* 25 */
	write_file(fx, "new.txt", "new", 0644);                         /* 3 */
	remove_path(fx, "gone.txt");
	remove_path(fx, "shape");
	write_file(fx, "shape/inner", "in\n", 0644); /* 3 */
	take(fx, &two);

	assert_int_equal(snapshot_diff_trees(&d, fx->store, one.tree_id, two.tree_id, &diags), 0);
	assert_int_equal(d.count, 5);
	assert_int_equal(d.added, 2);
	assert_int_equal(d.modified, 1);
	assert_int_equal(d.removed, 2);
	/* sorted by path, a removed path before one added at the same place */
	assert_string_equal(d.changes[0].path, "gone.txt");
	assert_string_equal(d.changes[1].path, "mod.txt");
	assert_string_equal(d.changes[2].path, "new.txt");
	assert_string_equal(d.changes[3].path, "shape");
	assert_string_equal(d.changes[4].path, "shape/inner");
	const snapshot_change *c = find_change(&d, "mod.txt", SNAP_MODIFIED);
	assert_non_null(c);
	assert_int_equal(c->old_size, 10);
	assert_int_equal(c->new_size, 25);
	c = find_change(&d, "gone.txt", SNAP_REMOVED);
	assert_non_null(c);
	assert_int_equal(c->old_size, 7);
	assert_int_equal(c->new_size, 0);
	c = find_change(&d, "new.txt", SNAP_ADDED);
	assert_non_null(c);
	assert_int_equal(c->new_size, 3);
	assert_non_null(find_change(&d, "shape", SNAP_REMOVED));
	assert_non_null(find_change(&d, "shape/inner", SNAP_ADDED));
	/* added 3 + 3, grown 15; removed 7 + 5 */
	assert_int_equal(d.bytes_added, 21);
	assert_int_equal(d.bytes_removed, 12);

	json_object *j = snapshot_diff_to_json(&d);
	json_object *v;
	assert_true(json_object_object_get_ex(j, "added", &v));
	assert_int_equal(json_object_get_int64(v), 2);
	assert_true(json_object_object_get_ex(j, "bytes_removed", &v));
	assert_int_equal(json_object_get_int64(v), 12);
	assert_true(json_object_object_get_ex(j, "files", &v));
	assert_int_equal(json_object_array_length(v), 5);
	json_object *f1 = json_object_array_get_idx(v, 1), *fv;
	assert_true(json_object_object_get_ex(f1, "status", &fv));
	assert_string_equal(json_object_get_string(fv), "M");
	assert_true(json_object_object_get_ex(f1, "path", &fv));
	assert_string_equal(json_object_get_string(fv), "mod.txt");
	assert_true(json_object_object_get_ex(f1, "old_size", &fv));
	assert_int_equal(json_object_get_int64(fv), 10);
	assert_true(json_object_object_get_ex(f1, "new_size", &fv));
	assert_int_equal(json_object_get_int64(fv), 25);
	json_object_put(j);
	snapshot_diff_free(&d);

	/* no old tree: everything is added */
	assert_int_equal(snapshot_diff_trees(&d, fx->store, NULL, one.tree_id, &diags), 0);
	assert_int_equal(d.added, 4);
	assert_int_equal(d.bytes_added, 5 + 10 + 7 + 5);
	snapshot_diff_free(&d);

	/* same tree: nothing */
	assert_int_equal(snapshot_diff_trees(&d, fx->store, one.tree_id, one.tree_id, &diags), 0);
	assert_int_equal(d.count, 0);
	snapshot_diff_free(&d);

	assert_true(snapshot_diff_trees(&d, fx->store, one.tree_id, "0123456789012345678901234567890123456789",
					&diags) < 0);
	assert_true(diags.errors > 0);
	diag_list_free(&diags);
}

static void test_diff_typechange_and_empty(void **state)
{
	fixture *fx = *state;
	snapshot_info empty, one, two;
	snapshot_diff d;
	diag_list diags = DIAG_LIST_INIT;

	take(fx, &empty); /* an empty folder is the empty tree */
	assert_string_equal(empty.tree_id, "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
	assert_int_equal(empty.files, 0);
	write_file(fx, "target.txt", "0123456789", 0644);
	write_file(fx, "swap", "a file first\n", 0644);
	take(fx, &one);
	remove_path(fx, "swap");
	make_link(fx, "swap", "target.txt");
	take(fx, &two);
	assert_int_equal(snapshot_diff_trees(&d, fx->store, one.tree_id, two.tree_id, &diags), 0);
	assert_int_equal(d.count, 1);
	assert_int_equal(d.changes[0].kind, SNAP_MODIFIED);
	assert_string_equal(d.changes[0].path, "swap");
	assert_int_equal(d.changes[0].old_size, 13);
	assert_int_equal(d.changes[0].new_size, 10); /* a link's blob is its target */
	assert_int_equal(d.bytes_removed, 3);
	assert_int_equal(d.bytes_added, 0);
	snapshot_diff_free(&d);
	/* revisions that peel to a tree work too */
	assert_int_equal(snapshot_anchor(fx->store, two.tree_id, "exp_1_00000001", &diags), 0);
	assert_int_equal(snapshot_diff_trees(&d, fx->store, empty.tree_id, "refs/amlspec/runs/exp_1_00000001",
					     &diags), 0);
	assert_int_equal(d.added, 2);
	snapshot_diff_free(&d);
	assert_int_equal(diags.count, 0);
}

static void test_checkout_reproduces_files_modes_links(void **state)
{
	fixture *fx = *state;
	snapshot_info info;
	diag_list diags = DIAG_LIST_INIT;
	struct stat st;
	char target[64];

	write_file(fx, "run.sh", "#!/bin/sh\necho hi\n", 0755);
	write_file(fx, "data.txt", "data\n", 0644);
	write_file(fx, "sub/x.py", "x = 1\n", 0644);
	make_link(fx, "latest", "data.txt");
	make_link(fx, "subdir", "sub");
	make_link(fx, "sub/up", "../data.txt");
	take(fx, &info);

	char *dest = fs_join(fx->root, "co/deep/run");
	assert_int_equal(snapshot_checkout(fx->store, info.tree_id, dest, &diags), 0);
	assert_int_equal(diags.count, 0);
	char *p = fs_join(dest, "run.sh");
	assert_int_equal(stat(p, &st), 0);
	assert_true(st.st_mode & S_IXUSR);
	free(p);
	p = fs_join(dest, "data.txt");
	assert_int_equal(stat(p, &st), 0);
	assert_false(st.st_mode & S_IXUSR);
	buf b = BUF_INIT;
	assert_int_equal(buf_read_file(&b, p, 1024), 0);
	assert_string_equal(b.ptr, "data\n");
	buf_free(&b);
	free(p);
	p = fs_join(dest, "sub/x.py");
	assert_true(fs_is_file(p));
	free(p);
	p = fs_join(dest, "latest");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "data.txt");
	free(p);
	p = fs_join(dest, "subdir");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	free(p);
	/* no index or other git files written into the checkout */
	p = fs_join(dest, ".git");
	assert_false(fs_exists(p));
	free(p);
	char *store_index = fs_join(fx->store, "index");
	assert_false(fs_exists(store_index));
	free(store_index);

	/* the same snapshot checked out again is the same tree */
	snapshot_info back;
	fixture other = *fx;
	other.src = dest;
	take(&other, &back);
	assert_string_equal(back.tree_id, info.tree_id);

	/* a folder that is not empty is refused */
	assert_true(snapshot_checkout(fx->store, info.tree_id, dest, &diags) < 0);
	assert_true(diags_mention(&diags, DIAG_ERROR, "not an empty folder"));
	diag_list_free(&diags);
	free(dest);
}

static void test_symlink_outside_refused(void **state)
{
	fixture *fx = *state;
	snapshot_info info;
	snapshot_opts opts = { 0 };
	diag_list diags = DIAG_LIST_INIT;

	tu_write(fx->root, "outside/secret.txt", "s\n");
	write_file(fx, "a.py", "a\n", 0644);
	make_link(fx, "sub/deeper/evil", "../../../outside");
	make_link(fx, "abs", "/etc/hostname");
	make_link(fx, "dangling-out", "../nowhere/at/all");
	make_link(fx, "dangling-in", "not/there/yet");
	make_link(fx, "inside-abs", fx->src);
	make_link(fx, "outputs/elsewhere", "/etc"); /* left out with outputs/ */
	int rc = take_opts(fx, &info, &opts, &diags);
	assert_true(rc < 0);
	assert_string_equal(info.tree_id, "");
	assert_true(diags_mention(&diags, DIAG_ERROR, "proj/sub/deeper/evil"));
	assert_true(diags_mention(&diags, DIAG_ERROR, "proj/abs"));
	assert_true(diags_mention(&diags, DIAG_ERROR, "proj/dangling-out"));
	assert_false(diags_mention(&diags, DIAG_ERROR, "dangling-in"));
	assert_false(diags_mention(&diags, DIAG_ERROR, "inside-abs"));
	assert_false(diags_mention(&diags, DIAG_ERROR, "elsewhere"));
	assert_int_equal(diags.errors, 3);
	diag_list_free(&diags);

	/* ignored links do not matter */
	write_file(fx, ".gitignore", "evil\n/abs\ndangling-out\n", 0644);
	take(fx, &info);
	assert_true(tree_has(fx, info.tree_id, "dangling-in"));
	assert_false(tree_has(fx, info.tree_id, "abs"));
}

static void test_limits(void **state)
{
	fixture *fx = *state;
	snapshot_info info;
	diag_list diags = DIAG_LIST_INIT;

	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%d.txt", i);
		write_file(fx, name, "0123456789", 0644);
	}
	take(fx, &info); /* Azure ML's limits: far away */
	assert_int_equal(info.files, 5);
	assert_int_equal(info.bytes, 50);

	snapshot_opts opts = { .warn_files = 4 };
	assert_int_equal(take_opts(fx, &info, &opts, &diags), 0);
	assert_int_equal(diags.warnings, 1);
	assert_int_equal(diags.errors, 0);
	assert_true(diags_mention(&diags, DIAG_WARNING, "your project exceeds the file limit of 4"));
	assert_int_equal(strlen(info.tree_id), 40);
	diag_list_free(&diags);

	snapshot_opts sized = { .warn_bytes = 49 };
	assert_int_equal(take_opts(fx, &info, &sized, &diags), 0);
	assert_true(diags_mention(&diags, DIAG_WARNING, "your total snapshot size exceeds the limit of"));
	assert_true(diags_mention(&diags, DIAG_WARNING, "http://aka.ms/aml-largefiles"));
	diag_list_free(&diags);

	snapshot_opts fatal = { .warn_files = 4, .warn_bytes = 49, .fatal_limits = true };
	assert_true(take_opts(fx, &info, &fatal, &diags) < 0);
	assert_int_equal(diags.errors, 2);
	assert_string_equal(info.tree_id, "");
	diag_list_free(&diags);

	snapshot_opts exact = { .warn_files = 5, .warn_bytes = 50, .fatal_limits = true };
	assert_int_equal(take_opts(fx, &info, &exact, &diags), 0);
	assert_int_equal(diags.count, 0);
}

static void test_anchor_survives_gc(void **state)
{
	fixture *fx = *state;
	snapshot_info kept, loose, again;
	diag_list diags = DIAG_LIST_INIT;
	buf b = BUF_INIT;

	write_file(fx, "a.py", "version 1\n", 0644);
	take(fx, &kept);
	assert_int_equal(snapshot_anchor(fx->store, kept.tree_id, "exp_1700000000_0badc0de", &diags), 0);
	write_file(fx, "a.py", "version 2, never anchored\n", 0644);
	set_mtime(fx, "a.py", 1000000000); /* not racy: the cache is trusted */
	take(fx, &loose);

	assert_int_equal(git(&b, fx->store, NULL, "rev-parse", "refs/amlspec/runs/exp_1700000000_0badc0de^{tree}",
			     NULL), 0);
	assert_string_equal(b.ptr, kept.tree_id);
	buf_clear(&b);
	assert_int_equal(git(&b, fx->store, NULL, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s",
			     "refs/amlspec/runs/exp_1700000000_0badc0de", NULL), 0);
	assert_string_equal(b.ptr,
			    "amlspec <amlspec@localhost>|amlspec <amlspec@localhost>|snapshot for run exp_1700000000_0badc0de");
	buf_clear(&b);

	assert_int_equal(git(NULL, fx->store, NULL, "gc", "-q", "--prune=now", NULL), 0);
	assert_int_equal(git(NULL, fx->store, NULL, "cat-file", "-e", kept.tree_id, NULL), 0);
	char *blob = xasprintf("%s:a.py", kept.tree_id);
	assert_int_equal(git(&b, fx->store, NULL, "cat-file", "-p", blob, NULL), 0);
	assert_string_equal(b.ptr, "version 1");
	free(blob);
	/* not vacuous: the unanchored snapshot is gone */
	assert_int_not_equal(git(NULL, fx->store, NULL, "cat-file", "-e", loose.tree_id, NULL), 0);

	/* The cache no longer matches the store; a snapshot must notice: here
	 * the cached tree id names a pruned tree... */
	take(fx, &again);
	assert_string_equal(again.tree_id, loose.tree_id);
	assert_int_equal(git(NULL, fx->store, NULL, "cat-file", "-e", loose.tree_id, NULL), 0);
	blob = xasprintf("%s:a.py", loose.tree_id);
	assert_int_equal(git(NULL, fx->store, NULL, "cat-file", "-e", blob, NULL), 0);
	free(blob);
	/* ... and here a touched file makes libgit2 refresh a pruned entry */
	assert_int_equal(git(NULL, fx->store, NULL, "gc", "-q", "--prune=now", NULL), 0);
	assert_int_not_equal(git(NULL, fx->store, NULL, "cat-file", "-e", loose.tree_id, NULL), 0);
	set_mtime(fx, "a.py", 1100000000);
	take(fx, &again);
	assert_string_equal(again.tree_id, loose.tree_id);
	assert_int_equal(git(NULL, fx->store, NULL, "cat-file", "-e", loose.tree_id, NULL), 0);

	/* anchoring is idempotent for the same tree, a conflict otherwise */
	assert_int_equal(snapshot_anchor(fx->store, kept.tree_id, "exp_1700000000_0badc0de", &diags), 0);
	assert_int_equal(snapshot_anchor(fx->store, loose.tree_id, "exp_1700000000_0badc0de", &diags), AML_ECONFLICT);
	assert_true(snapshot_anchor(fx->store, kept.tree_id, "bad name..", &diags) < 0);
	assert_true(snapshot_anchor(fx->store, "ffffffffffffffffffffffffffffffffffffffff", "exp_2", &diags) < 0);
	assert_int_equal(diags.errors, 3);
	diag_list_free(&diags);
	buf_free(&b);
}

/* Writes a raw tree object with one entry, bypassing libgit2's checks. */
static void raw_tree(git_oid *out, git_odb *odb, const char *mode, const char *name, const git_oid *id)
{
	buf t = BUF_INIT;
	buf_printf(&t, "%s %s", mode, name);
	buf_putc(&t, '\0');
	buf_add(&t, id->id, GIT_OID_RAWSZ);
	assert_int_equal(git_odb_write(out, odb, t.ptr, t.len, GIT_OBJECT_TREE), 0);
	buf_free(&t);
}

static void test_checkout_refuses_unsafe_trees(void **state)
{
	fixture *fx = *state;
	snapshot_info info;
	diag_list diags = DIAG_LIST_INIT;
	git_repository *repo;
	git_odb *odb;
	git_oid blob, link, inner, evil_dots, evil_link;
	char hex[41];

	write_file(fx, "a.py", "a\n", 0644);
	take(fx, &info); /* creates the store */
	git_libgit2_init();
	assert_int_equal(git_repository_open_bare(&repo, fx->store), 0);
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_odb_write(&blob, odb, "pwned\n", 6, GIT_OBJECT_BLOB), 0);
	raw_tree(&inner, odb, "100644", "x", &blob);
	raw_tree(&evil_dots, odb, "40000", "..", &inner);
	assert_int_equal(git_odb_write(&link, odb, "../../../etc/passwd", 19, GIT_OBJECT_BLOB), 0);
	raw_tree(&evil_link, odb, "120000", "innocent", &link);
	git_odb_free(odb);
	git_repository_free(repo);
	git_libgit2_shutdown();

	char *dest = fs_join(fx->root, "co");
	git_oid_tostr(hex, sizeof(hex), &evil_dots);
	assert_true(snapshot_checkout(fx->store, hex, dest, &diags) < 0);
	assert_true(diags_mention(&diags, DIAG_ERROR, "unsafe path '..'"));
	char *escaped = fs_join(fx->root, "x");
	assert_false(fs_exists(escaped));
	free(escaped);
	git_oid_tostr(hex, sizeof(hex), &evil_link);
	assert_true(snapshot_checkout(fx->store, hex, dest, &diags) < 0);
	assert_true(diags_mention(&diags, DIAG_ERROR, "innocent"));
	char *l = fs_join(dest, "innocent");
	assert_false(fs_exists(l));
	free(l);
	diag_list_free(&diags);
	free(dest);
}

static void test_concurrent_snapshots(void **state)
{
	fixture *fx = *state;
	enum { WORKERS = 4, ROUNDS = 3 };
	char expect[41];

	for (int i = 0; i < 400; i++) {
		char name[64];
		snprintf(name, sizeof(name), "d%02d/f%03d.py", i % 20, i);
		write_file(fx, name, "print('concurrency')\n# padding padding padding\n", 0644);
	}
	for (int round = 0; round < ROUNDS; round++) {
		char name[32];
		snprintf(name, sizeof(name), "round%d.txt", round);
		write_file(fx, name, name, 0644);
		int fds[WORKERS][2];
		pid_t pids[WORKERS];
		for (int w = 0; w < WORKERS; w++) {
			assert_int_equal(pipe(fds[w]), 0);
			pids[w] = fork();
			assert_true(pids[w] >= 0);
			if (pids[w] == 0) {
				snapshot_info info;
				snapshot_opts opts = { 0 };
				diag_list diags = DIAG_LIST_INIT;
				close(fds[w][0]);
				int rc = take_opts(fx, &info, &opts, &diags);
				for (size_t i = 0; i < diags.count; i++)
					fprintf(stderr, "worker %d: %s\n", w, diags.items[i].message);
				if (write(fds[w][1], info.tree_id, 41) != 41)
					rc = -1;
				_exit(rc == 0 && diags.count == 0 ? 0 : 1);
			}
			close(fds[w][1]);
		}
		git_write_tree_of(fx, expect);
		for (int w = 0; w < WORKERS; w++) {
			char got[41] = { 0 };
			int st;
			assert_int_equal(read(fds[w][0], got, 41), 41);
			close(fds[w][0]);
			assert_int_equal(waitpid(pids[w], &st, 0), pids[w]);
			assert_true(WIFEXITED(st));
			assert_int_equal(WEXITSTATUS(st), 0);
			assert_string_equal(got, expect);
		}
	}
	/* no private index copies are left behind */
	char *pattern = xasprintf("%s/amlspec/*.tmp-*", fx->store);
	glob_t g;
	assert_int_equal(glob(pattern, 0, NULL, &g), GLOB_NOMATCH);
	free(pattern);
	/* and the surviving cache is sound */
	snapshot_info info;
	take(fx, &info);
	assert_string_equal(info.tree_id, expect);
}

static void test_nested_repository_files_included(void **state)
{
	fixture *fx = *state;
	snapshot_info info, again;

	write_file(fx, "main.py", "import vendor\n", 0644);
	write_file(fx, "vendor/lib.py", "def f(): pass\n", 0644);
	write_file(fx, "vendor/.gitignore", "*.pyc\n", 0644);
	write_file(fx, "vendor/lib.pyc", "bytecode\n", 0644);
	write_file(fx, "vendor/pkg/deep.py", "deep\n", 0644);
	char *vendor = fs_join(fx->src, "vendor");
	const char *init[] = { "git", "init", "-q", vendor, NULL };
	assert_int_equal(tu_run(NULL, init), 0);
	const char *add[] = { "git", "-C", vendor, "add", "-A", NULL };
	assert_int_equal(tu_run(NULL, add), 0);
	const char *commit[] = { "git", "-C", vendor, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v", NULL };
	assert_int_equal(tu_run(NULL, commit), 0);
	free(vendor);

	take(fx, &info);
	assert_true(tree_has(fx, info.tree_id, "vendor/lib.py"));
	assert_true(tree_has(fx, info.tree_id, "vendor/pkg/deep.py"));
	assert_false(tree_has(fx, info.tree_id, "vendor/lib.pyc"));
	assert_false(tree_has(fx, info.tree_id, "vendor/.git/HEAD"));
	char mode[7];
	tree_mode(fx, info.tree_id, "vendor", mode);
	assert_string_equal(mode, ""); /* no submodule link */
	take(fx, &again);
	assert_string_equal(again.tree_id, info.tree_id);
	write_file(fx, "vendor/lib.py", "def f(): return 1\n", 0644);
	write_file(fx, "vendor/new.py", "n\n", 0644);
	take(fx, &again);
	assert_string_not_equal(again.tree_id, info.tree_id);
	assert_true(tree_has(fx, again.tree_id, "vendor/new.py"));
}

static void test_user_git_config_does_not_apply(void **state)
{
	fixture *fx = *state;
	snapshot_info info;
	char *home = fs_join(fx->root, "home");
	char *xdg = fs_join(fx->root, "xdg");
	char *old_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	char *old_xdg = getenv("XDG_CONFIG_HOME") ? xstrdup(getenv("XDG_CONFIG_HOME")) : NULL;

	tu_write(home, ".gitconfig", "[core]\n\texcludesFile = ~/myignore\n\tautocrlf = true\n");
	tu_write(home, "myignore", "*.py\n");
	tu_write(xdg, "git/ignore", "*.txt\n");
	tu_write(xdg, "git/attributes", "* text eol=lf\n");
	write_file(fx, "a.py", "a\n", 0644);
	write_file(fx, "b.txt", "crlf\r\n", 0644);
	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	take(fx, &info);
	if (old_home)
		setenv("HOME", old_home, 1);
	else
		unsetenv("HOME");
	if (old_xdg)
		setenv("XDG_CONFIG_HOME", old_xdg, 1);
	else
		unsetenv("XDG_CONFIG_HOME");

	assert_true(tree_has(fx, info.tree_id, "a.py"));
	assert_true(tree_has(fx, info.tree_id, "b.txt"));
	/* the CRLF is stored as it is (no eol conversion from the user's files) */
	buf b = BUF_INIT;
	char *spec = xasprintf("%s:b.txt", info.tree_id);
	assert_int_equal(git(&b, fx->store, NULL, "cat-file", "-s", spec, NULL), 0);
	assert_string_equal(b.ptr, "6");
	free(spec);
	buf_free(&b);
	free(old_xdg);
	free(old_home);
	free(xdg);
	free(home);
}

static void test_bad_input(void **state)
{
	fixture *fx = *state;
	snapshot_info info;
	diag_list diags = DIAG_LIST_INIT;
	snapshot_opts opts = { .store = fx->store, .source_dir = "/nonexistent/amlspec/src" };

	assert_true(snapshot_take(&info, &opts, &diags) < 0);
	assert_int_equal(diags.errors, 1);
	/* a folder that is neither empty nor a repository is not taken over */
	tu_write(fx->root, "notastore/file", "x\n");
	char *bogus = fs_join(fx->root, "notastore");
	snapshot_opts bad = { .store = bogus, .source_dir = fx->src };
	assert_true(snapshot_take(&info, &bad, &diags) < 0);
	assert_true(diags_mention(&diags, DIAG_ERROR, "not a snapshot store"));
	char *moved = fs_join(bogus, "file");
	assert_true(fs_exists(moved));
	free(moved);
	free(bogus);
	assert_true(snapshot_anchor(fx->store, "abc", "run", &diags) < 0); /* no store yet */
	diag_list_free(&diags);
}

/* ---- the stat cache (index-*.stat): the fast path must give exactly what a
 * full snapshot gives, and must step aside whenever anything changed ---- */

/* A short racy window, so that tests need not wait 2 s for their files to
 * settle; test_stat_cache_racy_window checks the real one. */
enum { TEST_RACY_MS = 100 };

static void settle(void)
{
	usleep((TEST_RACY_MS + 60) * 1000);
}

static char *stat_file(const fixture *fx)
{
	char *idx = index_file(fx);
	char *p;
	assert_non_null(idx);
	p = xasprintf("%s.stat", idx);
	free(idx);
	return p;
}

static int take_racy(const fixture *fx, snapshot_info *info, unsigned racy_ms, diag_list *diags)
{
	snapshot_opts opts = { .racy_ms = racy_ms };
	return take_opts(fx, info, &opts, diags);
}

/* A snapshot that must succeed, and whose answer must be what a full
 * snapshot gives (the stat cache removed first). Returns whether the first
 * one came from the stat cache. */
static bool take_checked(fixture *fx, snapshot_info *info)
{
	snapshot_info full;
	diag_list diags = DIAG_LIST_INIT;
	assert_int_equal(take_racy(fx, info, TEST_RACY_MS, &diags), 0);
	assert_int_equal(diags.count, 0);
	char *sc = stat_file(fx);
	unlink(sc);
	free(sc);
	assert_int_equal(take_racy(fx, &full, TEST_RACY_MS, &diags), 0);
	assert_int_equal(diags.count, 0);
	assert_false(full.from_cache);
	assert_string_equal(info->tree_id, full.tree_id);
	assert_int_equal(info->files, full.files);
	assert_int_equal(info->bytes, full.bytes);
	return info->from_cache;
}

/* Lets the source settle, then makes sure the next snapshot of it comes
 * from the stat cache: the change a test makes next is then the only
 * reason for the fast path to step aside. (Twice: the first snapshot may
 * create the store, whose files are then too recent as well.) */
static void prime(fixture *fx, snapshot_info *info)
{
	snapshot_info first;
	settle();
	take_checked(fx, &first);
	settle();
	take_checked(fx, &first);
	assert_true(take_checked(fx, info));
	assert_string_equal(info->tree_id, first.tree_id);
}

/* After a change: not from the cache, the full snapshot's answer, and (in
 * .gitignore mode) git's. */
static void expect_rescan(fixture *fx, snapshot_info *info, bool compare_git)
{
	assert_false(take_checked(fx, info));
	if (compare_git) {
		char expect[41];
		git_write_tree_of(fx, expect);
		assert_string_equal(info->tree_id, expect);
	}
}

static void test_stat_cache_unchanged_and_content(void **state)
{
	fixture *fx = *state;
	snapshot_info before, after;
	struct stat st;

	populate_sample(fx);
	prime(fx, &before);
	/* next to the index, named after it */
	char *sc = stat_file(fx);
	assert_int_equal(stat(sc, &st), 0);
	free(sc);
	/* a file rewritten with other bytes of the same size */
	write_file(fx, "train.py", "print('TRAIN')\n", 0644);
	expect_rescan(fx, &after, true);
	assert_string_not_equal(after.tree_id, before.tree_id);
	/* the full snapshot left a cache that is used again */
	settle();
	take_checked(fx, &after);
	assert_true(take_checked(fx, &after));
}

static void test_stat_cache_new_and_deleted_files(void **state)
{
	fixture *fx = *state;
	snapshot_info before, after;

	populate_sample(fx);
	write_file(fx, "logs/a.log", "ignored\n", 0644); /* logs/: only ignored files... */
	remove_path(fx, "logs/train.txt");
	prime(fx, &before);
	assert_false(tree_has(fx, before.tree_id, "logs/a.log"));
	/* ... and then one that is not */
	write_file(fx, "logs/new.txt", "n\n", 0644);
	expect_rescan(fx, &after, true);
	assert_true(tree_has(fx, after.tree_id, "logs/new.txt"));

	/* a new file in a new subfolder of a subfolder */
	prime(fx, &before);
	write_file(fx, "pkg/sub/deeper/new.py", "n\n", 0644);
	expect_rescan(fx, &after, true);
	assert_true(tree_has(fx, after.tree_id, "pkg/sub/deeper/new.py"));

	/* a new file in a folder that held no file at all */
	char *empty = fs_join(fx->src, "empty/inner");
	assert_int_equal(fs_mkdirs(empty, 0755), 0);
	free(empty);
	prime(fx, &before);
	write_file(fx, "empty/inner/x.py", "x\n", 0644);
	expect_rescan(fx, &after, true);
	assert_true(tree_has(fx, after.tree_id, "empty/inner/x.py"));

	/* a deleted file */
	prime(fx, &before);
	remove_path(fx, "pkg/model.py");
	expect_rescan(fx, &after, true);
	assert_false(tree_has(fx, after.tree_id, "pkg/model.py"));
}

static void test_stat_cache_mode_change(void **state)
{
	fixture *fx = *state;
	snapshot_info before, after;
	char mode[7];

	populate_sample(fx);
	prime(fx, &before);
	char *p = fs_join(fx->src, "train.py");
	assert_int_equal(chmod(p, 0755), 0);
	free(p);
	expect_rescan(fx, &after, true);
	tree_mode(fx, after.tree_id, "train.py", mode);
	assert_string_equal(mode, "100755");
}

static void test_stat_cache_ignore_files(void **state)
{
	fixture *fx = *state;
	snapshot_info before, after;

	populate_sample(fx);
	write_file(fx, "notes.txt", "n\n", 0644);
	/* .amlignore created */
	prime(fx, &before);
	write_file(fx, ".amlignore", "*.txt\n", 0644);
	expect_rescan(fx, &after, false);
	assert_false(tree_has(fx, after.tree_id, "notes.txt"));
	assert_true(tree_has(fx, after.tree_id, "debug.log")); /* the .gitignore no longer applies */
	/* edited, same size */
	prime(fx, &before);
	write_file(fx, ".amlignore", "*.log\n", 0644);
	expect_rescan(fx, &after, false);
	assert_true(tree_has(fx, after.tree_id, "notes.txt"));
	assert_false(tree_has(fx, after.tree_id, "debug.log"));
	/* deleted */
	prime(fx, &before);
	remove_path(fx, ".amlignore");
	expect_rescan(fx, &after, true);
	assert_false(tree_has(fx, after.tree_id, "debug.log"));

	/* an .amlignore that leaves itself out is no indexed file: its own
	 * record (and the rules' hash) must tell an edit */
	write_file(fx, ".amlignore", "*.txt\n.amlignore\n", 0644);
	prime(fx, &before);
	assert_false(tree_has(fx, before.tree_id, ".amlignore"));
	assert_false(tree_has(fx, before.tree_id, "notes.txt"));
	write_file(fx, ".amlignore", "*.log\n.amlignore\n", 0644);
	expect_rescan(fx, &after, false);
	assert_true(tree_has(fx, after.tree_id, "notes.txt"));
	remove_path(fx, ".amlignore");

	/* a folder whose .gitignore leaves out everything in it, itself too */
	write_file(fx, "all/.gitignore", "*\n", 0644);
	write_file(fx, "all/keep.txt", "k\n", 0644);
	prime(fx, &before);
	assert_false(tree_has(fx, before.tree_id, "all/keep.txt"));
	write_file(fx, "all/.gitignore", "*\n!keep.txt\n", 0644);
	expect_rescan(fx, &after, false);
	assert_true(tree_has(fx, after.tree_id, "all/keep.txt"));

	/* libgit2 reads the store's info/exclude too: the fast path steps
	 * aside. (What the full snapshot then makes of it is its own business:
	 * its rules fingerprint leaves that file out, so files already indexed
	 * stay.) */
	prime(fx, &before);
	tu_write(fx->store, "info/exclude", "notes.txt\n");
	expect_rescan(fx, &after, false);
	tu_write(fx->store, "info/exclude", "");

	/* a .gitignore in a subfolder edited, same size */
	prime(fx, &before);
	assert_false(tree_has(fx, before.tree_id, "pkg/scratch.tmp"));
	write_file(fx, "pkg/.gitignore", "*.tmq\n!keep.tmp\n", 0644);
	expect_rescan(fx, &after, true);
	assert_true(tree_has(fx, after.tree_id, "pkg/scratch.tmp"));

	/* a .gitignore that ignores itself is in no index, yet its rules count */
	write_file(fx, "sub/.gitignore", ".gitignore\n*.tmp\n", 0644);
	write_file(fx, "sub/a.tmp", "a\n", 0644);
	write_file(fx, "sub/b.dat", "b\n", 0644);
	prime(fx, &before);
	assert_false(tree_has(fx, before.tree_id, "sub/a.tmp"));
	write_file(fx, "sub/.gitignore", ".gitignore\n*.dat\n", 0644);
	expect_rescan(fx, &after, false);
	assert_true(tree_has(fx, after.tree_id, "sub/a.tmp"));
	assert_false(tree_has(fx, after.tree_id, "sub/b.dat"));
}

static void test_stat_cache_links(void **state)
{
	fixture *fx = *state;
	snapshot_info before, after;
	diag_list diags = DIAG_LIST_INIT;

	populate_sample(fx);
	tu_write(fx->root, "outside/model.py", "secret\n");
	/* a link that resolves through a folder the scan never enters */
	write_file(fx, ".gitignore", "*.log\nbuild/\nign/\n", 0644);
	make_link(fx, "ign/p", "../pkg");
	make_link(fx, "via", "ign/p/model.py");
	prime(fx, &before);
	assert_true(tree_has(fx, before.tree_id, "via"));

	/* the link itself changed to point outside */
	remove_path(fx, "latest.py");
	make_link(fx, "latest.py", "../outside/model.py");
	assert_true(take_racy(fx, &after, TEST_RACY_MS, &diags) < 0);
	assert_false(after.from_cache);
	assert_true(diags_mention(&diags, DIAG_ERROR, "proj/latest.py"));
	diag_list_free(&diags);
	remove_path(fx, "latest.py");
	make_link(fx, "latest.py", "pkg/model.py");

	/* nothing the cache lists changed, yet `via` now leads outside: the
	 * fast path must check links again, as a full snapshot does */
	prime(fx, &before);
	remove_path(fx, "ign/p");
	char *outside = fs_join(fx->root, "outside");
	make_link(fx, "ign/p", outside);
	free(outside);
	char *sc = stat_file(fx);
	struct stat cache_before, cache_after;
	assert_int_equal(stat(sc, &cache_before), 0);
	for (int full = 0; full < 2; full++) {
		if (full) {
			/* the fast path decided (a full snapshot rewrites the cache) */
			assert_int_equal(stat(sc, &cache_after), 0);
			assert_int_equal(cache_after.st_ino, cache_before.st_ino);
			unlink(sc);
		}
		assert_true(take_racy(fx, &after, TEST_RACY_MS, &diags) < 0);
		assert_string_equal(after.tree_id, "");
		assert_true(diags_mention(&diags, DIAG_ERROR, "proj/via"));
		assert_int_equal(diags.errors, 1);
		diag_list_free(&diags);
	}
	free(sc);
}

static void test_stat_cache_tree_object(void **state)
{
	fixture *fx = *state;
	snapshot_info before, after;
	diag_list diags = DIAG_LIST_INIT;

	populate_sample(fx);
	prime(fx, &before);
	/* the tree is gone from the store: the snapshot stores it again */
	char *loose = xasprintf("%s/objects/%.2s/%s", fx->store, before.tree_id, before.tree_id + 2);
	assert_int_equal(unlink(loose), 0);
	expect_rescan(fx, &after, true);
	assert_string_equal(after.tree_id, before.tree_id);
	assert_true(fs_exists(loose));

	/* packed by git gc (anchored, so kept): still found, from the pack */
	assert_int_equal(snapshot_anchor(fx->store, before.tree_id, "exp_1_pack", &diags), 0);
	assert_int_equal(diags.count, 0);
	assert_int_equal(git(NULL, fx->store, NULL, "gc", "-q", NULL), 0);
	assert_false(fs_exists(loose));
	prime(fx, &after);
	assert_string_equal(after.tree_id, before.tree_id);
	free(loose);
}

static void test_stat_cache_racy_modification(void **state)
{
	fixture *fx = *state;
	snapshot_info before, after;
	struct stat st;

	populate_sample(fx);
	prime(fx, &before);
	/* same size, and the mtime put back to what the cache holds: only the
	 * ctime (which no program can set) tells */
	char *p = fs_join(fx->src, "pkg/model.py");
	assert_int_equal(lstat(p, &st), 0);
	write_file(fx, "pkg/model.py", "class N: pass\n", 0644);
	struct timespec ts[2] = { st.st_atim, st.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
	struct stat now;
	assert_int_equal(lstat(p, &now), 0);
	assert_int_equal(now.st_size, st.st_size);
	assert_int_equal(now.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
	free(p);
	expect_rescan(fx, &after, true);
	assert_string_not_equal(after.tree_id, before.tree_id);
}

static void test_stat_cache_racy_window(void **state)
{
	fixture *fx = *state;
	snapshot_info info;
	diag_list diags = DIAG_LIST_INIT;

	/* Files just written: with the real window (2 s) no cache is written,
	 * so a change in the same clock tick cannot go unseen. */
	populate_sample(fx);
	assert_int_equal(take_racy(fx, &info, 0, &diags), 0);
	char *sc = stat_file(fx);
	assert_false(fs_exists(sc));
	assert_int_equal(take_racy(fx, &info, 0, &diags), 0);
	assert_false(info.from_cache);
	/* A cache written with a short window is not trusted with a longer one
	 * (train.py changed about 160 ms before the snapshot that wrote it). */
	prime(fx, &info);
	write_file(fx, "train.py", "print('again')\n", 0644);
	settle();
	assert_int_equal(take_racy(fx, &info, TEST_RACY_MS, &diags), 0);
	assert_false(info.from_cache);
	assert_true(fs_exists(sc));
	assert_int_equal(take_racy(fx, &info, 0, &diags), 0);
	assert_false(info.from_cache);
	assert_false(fs_exists(sc));
	assert_int_equal(diags.count, 0);
	free(sc);
}

static void test_stat_cache_damaged(void **state)
{
	fixture *fx = *state;
	snapshot_info before, after;
	buf b = BUF_INIT;

	populate_sample(fx);
	prime(fx, &before);
	char *sc = stat_file(fx);
	assert_int_equal(buf_read_file(&b, sc, 0), 0);
	const size_t len = b.len;
	for (int kind = 0; kind < 6; kind++) {
		buf d = BUF_INIT;
		buf_add(&d, b.ptr, b.len);
		switch (kind) {
		case 0: /* cut short */
			buf_truncate(&d, len / 2);
			break;
		case 1: /* a digit of the tree id changed */
		{
			char *tree = memmem(d.ptr, d.len, "tree ", 5);
			assert_non_null(tree);
			tree[5] = tree[5] == '0' ? '1' : '0';
			break;
		}
		case 2: /* the last record (count and checksum) gone */
			buf_truncate(&d, len - 1);
			while (d.len && d.ptr[d.len - 1] != '\0')
				buf_truncate(&d, d.len - 1);
			break;
		case 3:
			buf_clear(&d);
			buf_puts(&d, "not a cache\n");
			break;
		case 4:
			buf_clear(&d);
			break;
		case 5: { /* a count changed: only the checksum tells */
			char *count = memmem(d.ptr, d.len, "count ", 6);
			assert_non_null(count);
			count[6] = count[6] == '9' ? '8' : (char)(count[6] + 1);
			break;
		}
		}
		assert_int_equal(fs_write_atomic(sc, d.ptr, d.len, 0644), 0);
		buf_free(&d);
		expect_rescan(fx, &after, true);
		assert_string_equal(after.tree_id, before.tree_id);
		assert_true(take_checked(fx, &after)); /* and it was written again */
	}
	buf_free(&b);
	free(sc);
}

static void test_stat_cache_many_files(void **state)
{
	fixture *fx = *state;
	snapshot_info before, after;

	/* over 1,000 entries: checked on several threads, each with a share */
	for (int i = 0; i < 1500; i++) {
		char name[64];
		snprintf(name, sizeof(name), "d%02d/f%04d.py", i % 30, i);
		write_file(fx, name, "x = 1\n", 0644);
	}
	prime(fx, &before);
	assert_int_equal(before.files, 1500);
	/* a change near the end of the list, then near the start */
	write_file(fx, "d29/f1499.py", "x = 2\n", 0644);
	expect_rescan(fx, &after, true);
	prime(fx, &before);
	write_file(fx, "d00/f0000.py", "x = 3\n", 0644);
	expect_rescan(fx, &after, true);
	assert_string_not_equal(after.tree_id, before.tree_id);
}

static void test_stat_cache_limits(void **state)
{
	fixture *fx = *state;
	snapshot_info before, info;
	diag_list diags = DIAG_LIST_INIT;

	populate_sample(fx);
	prime(fx, &before);
	/* the options may differ from the full snapshot's: judged again */
	snapshot_opts warn = { .warn_files = 2, .racy_ms = TEST_RACY_MS };
	assert_int_equal(take_opts(fx, &info, &warn, &diags), 0);
	assert_true(info.from_cache);
	assert_int_equal(info.files, before.files);
	assert_true(diags_mention(&diags, DIAG_WARNING, "your project exceeds the file limit of 2"));
	diag_list_free(&diags);
	snapshot_opts fatal = { .warn_bytes = 10, .fatal_limits = true, .racy_ms = TEST_RACY_MS };
	assert_true(take_opts(fx, &info, &fatal, &diags) < 0);
	assert_string_equal(info.tree_id, "");
	assert_true(diags_mention(&diags, DIAG_ERROR, "your total snapshot size exceeds the limit"));
	assert_int_equal(diags.errors, 1);
	diag_list_free(&diags);
	assert_true(take_checked(fx, &info));
}

int main(void)
{
	/* the git binary used for comparison must not read the user's config */
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tree_matches_git, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gitignore_honoured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_amlignore_replaces_gitignore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixed_exclusions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_elsewhere_inside_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_gitignore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resnapshot_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_changes_apply_to_cached_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_ignoring_gitignore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_with_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_typechange_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkout_reproduces_files_modes_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_outside_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_survives_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkout_refuses_unsafe_trees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_snapshots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_repository_files_included, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_git_config_does_not_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_unchanged_and_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_new_and_deleted_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_mode_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_ignore_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_tree_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_racy_modification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_racy_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_many_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_limits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
