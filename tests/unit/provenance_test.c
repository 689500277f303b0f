/* provenance: git facts about a source directory, checked against real
 * repositories made with the git binary. */
#include "testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provenance/provenance.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/fs.h"

typedef struct fixture {
	char *root;   /* temp folder, also $HOME so no user git config leaks in */
	char *repo;   /* root/proj: a repository with src/ committed on main */
} fixture;

#define GIT(dir, ...)                                                                  \
	do {                                                                           \
		const char *argv_[] = { "git", __VA_ARGS__, NULL };                    \
		assert_int_equal(tu_run((dir), argv_), 0);                             \
	} while (0)

/* Output of a command (stdout, trailing newline removed). */
static char *capture(const char *dir, const char *const argv[])
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (chdir(dir) < 0)
			_exit(127);
		dup2(fds[1], 1);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	buf b = BUF_INIT;
	char chunk[512];
	ssize_t n;
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	while (b.len && b.ptr[b.len - 1] == '\n')
		buf_truncate(&b, b.len - 1);
	return buf_detach(&b);
}

static char *head_commit(const char *dir)
{
	const char *argv[] = { "git", "rev-parse", "HEAD", NULL };
	return capture(dir, argv);
}

static int setup(void **ctx)
{
	fixture *f = calloc(1, sizeof(*f));
	f->root = tu_mkdtemp();
	setenv("HOME", f->root, 1);
	setenv("XDG_CONFIG_HOME", f->root, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "T", 1);
	setenv("GIT_AUTHOR_EMAIL", "t@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "T", 1);
	setenv("GIT_COMMITTER_EMAIL", "t@example.com", 1);
	f->repo = fs_join(f->root, "proj");
	tu_write(f->repo, "src/train.py", "print('hi')\n");
	tu_write(f->repo, "README.md", "# proj\n");
	tu_write(f->repo, ".gitignore", "*.log\nouts/\n");
	GIT(f->repo, "init", "-q", "-b", "main");
	GIT(f->repo, "add", ".");
	GIT(f->repo, "commit", "-q", "-m", "initial");
	GIT(f->repo, "remote", "add", "origin", "https://example.com/org/proj.git");
	*ctx = f;
	return 0;
}

static int teardown(void **ctx)
{
	fixture *f = *ctx;
	tu_rmtree(f->root);
	free(f->root);
	free(f->repo);
	free(f);
	return 0;
}

/* Collects for repo/rel, expecting success with no diagnostics. */
static void collect(provenance *p, const char *repo, const char *rel)
{
	char *dir = fs_join(repo, rel);
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(provenance_collect(p, dir, &d), AML_OK);
	for (size_t i = 0; i < d.count; i++)
		fprintf(stderr, "unexpected diag: %s\n", d.items[i].message);
	assert_int_equal(d.count, 0);
	diag_list_free(&d);
	free(dir);
}

static bool dirty_at(const char *repo, const char *rel)
{
	provenance p;
	collect(&p, repo, rel);
	assert_true(p.available);
	bool dirty = p.dirty;
	provenance_free(&p);
	return dirty;
}

static void test_clean_repo(void **ctx)
{
	fixture *f = *ctx;
	provenance p;
	collect(&p, f->repo, "src");
	char *commit = head_commit(f->repo);
	char *real = fs_realpath(f->repo);
	assert_true(p.available);
	assert_string_equal(p.branch, "main");
	assert_int_equal(strlen(commit), 40);
	assert_string_equal(p.commit, commit);
	assert_string_equal(p.repository_uri, "https://example.com/org/proj.git");
	assert_false(p.dirty);
	assert_string_equal(p.work_tree, real);

	json_object *props = provenance_to_properties(&p);
	char *want = xasprintf("{ \"azureml.git.repository_uri\": \"https://example.com/org/proj.git\", "
			       "\"azureml.git.branch\": \"main\", \"azureml.git.commit\": \"%s\", "
			       "\"azureml.git.dirty\": \"False\", "
			       "\"mlflow.source.git.repoURL\": \"https://example.com/org/proj.git\", "
			       "\"mlflow.source.git.branch\": \"main\", \"mlflow.source.git.commit\": \"%s\" }",
			       commit, commit);
	assert_string_equal(json_object_to_json_string_ext(props, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE),
			    want);
	json_object_put(props);
	free(want);

	/* the work tree root as source directory works too */
	provenance q;
	collect(&q, f->repo, ".");
	assert_true(q.available);
	assert_false(q.dirty);
	assert_string_equal(q.commit, commit);
	provenance_free(&q);
	free(commit);
	free(real);
	provenance_free(&p);
	/* free leaves a zeroed struct, so a double free is harmless */
	assert_null(p.commit);
	provenance_free(&p);
}

static void test_dirty_untracked_inside(void **ctx)
{
	fixture *f = *ctx;
	tu_write(f->repo, "src/pkg/new.py", "x = 1\n");
	assert_true(dirty_at(f->repo, "src"));
	provenance p;
	collect(&p, f->repo, "src");
	json_object *props = provenance_to_properties(&p);
	assert_string_equal(json_object_get_string(json_object_object_get(props, "azureml.git.dirty")), "True");
	json_object_put(props);
	provenance_free(&p);
}

static void test_dirty_modified_and_staged(void **ctx)
{
	fixture *f = *ctx;
	tu_write(f->repo, "src/train.py", "print('changed')\n");
	assert_true(dirty_at(f->repo, "src"));
	/* staged only (work tree equal to the index) still counts */
	GIT(f->repo, "add", "src/train.py");
	assert_true(dirty_at(f->repo, "src"));
	GIT(f->repo, "commit", "-q", "-m", "second");
	assert_false(dirty_at(f->repo, "src"));
	/* a deleted tracked file counts */
	char *p = fs_join(f->repo, "src/train.py");
	unlink(p);
	free(p);
	assert_true(dirty_at(f->repo, "src"));
}

static void test_source_inside_untracked_dir(void **ctx)
{
	fixture *f = *ctx;
	/* git lists "new/" alone unless asked to recurse; "new/exp" must still count */
	tu_write(f->repo, "new/exp/train.py", "x\n");
	assert_true(dirty_at(f->repo, "new/exp"));
}

static void test_change_outside_source_is_clean(void **ctx)
{
	fixture *f = *ctx;
	tu_write(f->repo, "README.md", "# changed\n");
	tu_write(f->repo, "other/new.txt", "x\n");
	/* a sibling whose name starts like the source dir's is outside it */
	tu_write(f->repo, "srcx/new.txt", "x\n");
	assert_false(dirty_at(f->repo, "src"));
	/* the same changes seen from the root: dirty (the check can fail) */
	assert_true(dirty_at(f->repo, "."));
}

static void test_glob_characters_in_source_dir(void **ctx)
{
	fixture *f = *ctx;
	tu_write(f->repo, "a*/run.py", "x\n");
	GIT(f->repo, "add", ".");
	GIT(f->repo, "commit", "-q", "-m", "glob dir");
	/* "a*" taken as a pattern would match "ab" */
	tu_write(f->repo, "ab/new.txt", "x\n");
	assert_false(dirty_at(f->repo, "a*"));
	tu_write(f->repo, "a*/new.txt", "x\n");
	assert_true(dirty_at(f->repo, "a*"));
}

static void test_ignored_files_clean(void **ctx)
{
	fixture *f = *ctx;
	tu_write(f->repo, "src/debug.log", "x\n");
	tu_write(f->repo, "src/outs/model.bin", "x\n");
	/* amlspec's own state folder at the top of the source directory */
	tu_write(f->repo, "src/.amlspec/state.json", "{}\n");
	assert_false(dirty_at(f->repo, "src"));
	/* ... but an .amlspec folder deeper down is source like any other */
	tu_write(f->repo, "src/pkg/.amlspec/x", "x\n");
	assert_true(dirty_at(f->repo, "src"));
}

static void test_detached_head(void **ctx)
{
	fixture *f = *ctx;
	char *commit = head_commit(f->repo);
	GIT(f->repo, "checkout", "-q", "--detach");
	provenance p;
	collect(&p, f->repo, "src");
	assert_true(p.available);
	assert_null(p.branch);
	assert_string_equal(p.commit, commit);
	json_object *props = provenance_to_properties(&p);
	assert_false(json_object_object_get_ex(props, "azureml.git.branch", NULL));
	assert_false(json_object_object_get_ex(props, "mlflow.source.git.branch", NULL));
	assert_true(json_object_object_get_ex(props, "azureml.git.commit", NULL));
	assert_int_equal(json_object_object_length(props), 5);
	json_object_put(props);
	provenance_free(&p);
	free(commit);
}

static void test_unborn_repo(void **ctx)
{
	fixture *f = *ctx;
	char *repo = fs_join(f->root, "fresh");
	tu_write(repo, "train.py", "x\n");
	GIT(repo, "init", "-q", "-b", "main");
	provenance p;
	collect(&p, repo, ".");
	assert_true(p.available);
	assert_null(p.branch);
	assert_null(p.commit);
	assert_null(p.repository_uri);
	assert_true(p.dirty);   /* train.py is untracked */
	json_object *props = provenance_to_properties(&p);
	assert_int_equal(json_object_object_length(props), 1);
	assert_string_equal(json_object_get_string(json_object_object_get(props, "azureml.git.dirty")), "True");
	json_object_put(props);
	provenance_free(&p);
	free(repo);
}

static void test_not_a_repo(void **ctx)
{
	fixture *f = *ctx;
	char *dir = fs_join(f->root, "plain");
	tu_write(dir, "train.py", "x\n");
	provenance p;
	collect(&p, dir, ".");   /* no diagnostics */
	assert_false(p.available);
	assert_null(p.commit);
	json_object *props = provenance_to_properties(&p);
	assert_int_equal(json_object_object_length(props), 0);
	json_object_put(props);
	provenance_free(&p);
	free(dir);
}

static void test_missing_source_dir(void **ctx)
{
	fixture *f = *ctx;
	char *dir = fs_join(f->root, "nope");
	provenance p;
	diag_list d = DIAG_LIST_INIT;
	assert_int_not_equal(provenance_collect(&p, dir, &d), AML_OK);
	assert_false(p.available);
	assert_int_equal(d.errors, 1);
	diag_list_free(&d);
	free(dir);
}

static void expect_unavailable_warning(const char *dir, const char *why)
{
	provenance p;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(provenance_collect(&p, dir, &d), AML_OK);
	assert_false(p.available);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 1);
	assert_non_null(strstr(d.items[0].message, "git provenance unavailable: cannot open the repository: "));
	assert_non_null(strstr(d.items[0].message, why));
	provenance_free(&p);
	diag_list_free(&d);
}

static void test_unreadable_repo_warns(void **ctx)
{
	fixture *f = *ctx;
	/* A hand-broken config. (A sha256 repository, extensions.objectformat,
	 * gives the warning too, but is not tested here: opening any format-1
	 * repository makes libgit2 1.5's git_regexp_match leak its PCRE2 match
	 * data, which would fail the valgrind and ASan runs.) */
	char *src = fs_join(f->repo, "src");
	tu_write(f->repo, ".git/config", "[core\n bad");
	expect_unavailable_warning(src, "config");
	free(src);
}

static void expect_uri(const char *repo, const char *url, const char *want)
{
	GIT(repo, "remote", "set-url", "origin", url);
	provenance p;
	collect(&p, repo, "src");
	assert_string_equal(p.repository_uri, want);
	provenance_free(&p);
}

static void test_credentials_stripped(void **ctx)
{
	fixture *f = *ctx;
	expect_uri(f->repo, "https://user:s3cret@example.com/org/proj.git", "https://example.com/org/proj.git");
	expect_uri(f->repo, "https://ghp_T0KEN@github.com/org/proj.git", "https://github.com/org/proj.git");
	expect_uri(f->repo, "HTTP://u:p@w@example.com:8080/p?x=1", "HTTP://example.com:8080/p?x=1");
	expect_uri(f->repo, "ssh://git@example.com/org/proj.git", "ssh://git@example.com/org/proj.git");
	expect_uri(f->repo, "ssh://git:pw@example.com/org/proj.git", "ssh://example.com/org/proj.git");
	expect_uri(f->repo, "git@github.com:org/proj.git", "git@github.com:org/proj.git");
	expect_uri(f->repo, "https://example.com/a@b/proj.git", "https://example.com/a@b/proj.git");
	expect_uri(f->repo, "/srv/git/proj.git", "/srv/git/proj.git");
}

/* like `git ls-remote --get-url`: url.<base>.insteadOf applies, longest match first */
static void test_instead_of(void **ctx)
{
	fixture *f = *ctx;
	GIT(f->repo, "config", "url.https://example.com/.insteadOf", "ex:");
	GIT(f->repo, "config", "url.https://mirror.example.com/deep/.insteadOf", "ex:deep/");
	GIT(f->repo, "config", "url.https://tok:en@secret.example.com/.insteadOf", "sec:");
	expect_uri(f->repo, "ex:org/proj.git", "https://example.com/org/proj.git");
	expect_uri(f->repo, "ex:deep/proj.git", "https://mirror.example.com/deep/proj.git");
	/* credentials that arrive through the rewrite are stripped too */
	expect_uri(f->repo, "sec:org/proj.git", "https://secret.example.com/org/proj.git");
}

static void test_no_origin(void **ctx)
{
	fixture *f = *ctx;
	GIT(f->repo, "remote", "rename", "origin", "upstream");
	provenance p;
	collect(&p, f->repo, "src");
	assert_true(p.available);
	assert_null(p.repository_uri);
	assert_non_null(p.commit);
	json_object *props = provenance_to_properties(&p);
	assert_false(json_object_object_get_ex(props, "azureml.git.repository_uri", NULL));
	assert_false(json_object_object_get_ex(props, "mlflow.source.git.repoURL", NULL));
	json_object_put(props);
	provenance_free(&p);
}

static void test_linked_worktree(void **ctx)
{
	fixture *f = *ctx;
	char *wt = fs_join(f->root, "wt");
	GIT(f->repo, "worktree", "add", "-q", "-b", "feature", wt);
	tu_write(wt, "src/extra.py", "x\n");
	provenance p;
	collect(&p, wt, "src");
	char *real = fs_realpath(wt);
	assert_true(p.available);
	assert_string_equal(p.branch, "feature");
	assert_string_equal(p.work_tree, real);
	assert_true(p.dirty);
	assert_string_equal(p.repository_uri, "https://example.com/org/proj.git");
	/* the main work tree is untouched by the change in the linked one */
	assert_false(dirty_at(f->repo, "src"));
	provenance_free(&p);
	free(real);
	free(wt);
}

static void test_foreign_owner(void **ctx)
{
	fixture *f = *ctx;
	if (geteuid() != 0)
		skip();   /* only root can give the repository to another user */
	const char *argv[] = { "chown", "-R", "nobody", f->repo, NULL };
	assert_int_equal(tu_run(NULL, argv), 0);
	provenance p;
	collect(&p, f->repo, "src");   /* no warning either */
	assert_true(p.available);
	assert_string_equal(p.branch, "main");
	assert_non_null(p.commit);
	provenance_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean_repo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_untracked_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_modified_and_staged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_inside_untracked_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_outside_source_is_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_glob_characters_in_source_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ignored_files_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detached_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unborn_repo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_repo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_source_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_repo_warns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credentials_stripped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instead_of, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_origin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linked_worktree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_owner, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
