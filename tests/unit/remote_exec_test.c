/* Running programs with fed stdin and captured output; the runner protocol
 * against this machine (no ssh): hello, stage with blobs from a real
 * snapshot store, missing and stale answers, start, poll, logs, cancel. */
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "target/remote.h"
#include "util/buf.h"
#include "util/fs.h"

static int feed_count;

/* 1 MiB in 64 KiB chunks */
static int feed_mib(void *ctx, buf *chunk, diag_list *diags)
{
	(void)ctx;
	(void)diags;
	for (int i = 0; i < 65536; i++)
		buf_putc(chunk, (char)('a' + (feed_count + i) % 26));
	feed_count += 65536;
	return feed_count >= (1 << 20) ? 1 : 0;
}

static void test_run_local(void **state)
{
	(void)state;
	diag_list d = DIAG_LIST_INIT;
	int status;
	buf out = BUF_INIT, err = BUF_INIT;
	remote_io io = REMOTE_IO_INIT;
	io.out = &out;
	io.err = &err;

	/* input given and fed, echoed back while it is still being written */
	io.input = "head:";
	io.input_len = 5;
	io.feed = feed_mib;
	feed_count = 0;
	const char *cat[] = { "cat", NULL };
	assert_int_equal(remote_run_local(&status, cat, &io, &d), AML_OK);
	assert_int_equal(status, 0);
	assert_int_equal(out.len, 5 + (1 << 20));
	assert_memory_equal(out.ptr, "head:abc", 8);

	/* stderr apart, exit codes, signals */
	buf_clear(&out);
	remote_io io2 = REMOTE_IO_INIT;
	io2.out = &out;
	io2.err = &err;
	const char *sh[] = { "sh", "-c", "echo out; echo err >&2; exit 7", NULL };
	assert_int_equal(remote_run_local(&status, sh, &io2, &d), AML_OK);
	assert_int_equal(status, 7);
	assert_string_equal(out.ptr, "out\n");
	assert_string_equal(err.ptr, "err\n");
	const char *kill9[] = { "sh", "-c", "kill -9 $$", NULL };
	assert_int_equal(remote_run_local(&status, kill9, NULL, &d), AML_OK);
	assert_int_equal(status, 128 + 9);

	/* a program that does not read its input does not hang the writer */
	remote_io io3 = REMOTE_IO_INIT;
	io3.feed = feed_mib;
	feed_count = 0;
	const char *tru[] = { "true", NULL };
	assert_int_equal(remote_run_local(&status, tru, &io3, &d), AML_OK);
	assert_int_equal(status, 0);
	assert_int_equal(d.errors, 0);

	/* not found is an error of the call */
	const char *nope[] = { "/nonexistent/program", NULL };
	assert_int_equal(remote_run_local(&status, nope, NULL, &d), AML_ENOTFOUND);
	assert_int_equal(status, -1);
	assert_int_equal(d.errors, 1);
	diag_list_free(&d);

	/* a timeout stops the program */
	remote_io io4 = REMOTE_IO_INIT;
	io4.timeout = 0.3;
	const char *slow[] = { "sleep", "30", NULL };
	time_t t0 = time(NULL);
	assert_int_equal(remote_run_local(&status, slow, &io4, &d), AML_EIO);
	assert_true(time(NULL) - t0 < 5);
	assert_int_equal(status, 128 + SIGKILL);
	assert_non_null(strstr(d.items[0].message, "did not finish"));
	diag_list_free(&d);

	/* a daemon that keeps the pipe open does not keep us waiting */
	remote_io io5 = REMOTE_IO_INIT;
	buf_clear(&out);
	io5.out = &out;
	const char *daemon_[] = { "sh", "-c", "sleep 5 & echo started", NULL };
	t0 = time(NULL);
	assert_int_equal(remote_run_local(&status, daemon_, &io5, &d), AML_OK);
	assert_true(time(NULL) - t0 < 4);
	assert_string_equal(out.ptr, "started\n");
	buf_free(&out);
	buf_free(&err);
	diag_list_free(&d);
}

/* ------------------------------------------------------------------ runner */

typedef struct fixture {
	char *dir;
	char *store;
	char *tree;
	char *work;
	remote_host *h;
} fixture;

static char *git_out(const char *cwd, const char *const argv[], const char *input)
{
	buf out = BUF_INIT;
	remote_io io = REMOTE_IO_INIT;
	io.out = &out;
	if (input) {
		io.input = input;
		io.input_len = strlen(input);
	}
	int status;
	diag_list d = DIAG_LIST_INIT;
	char *old = getcwd(NULL, 0);
	if (cwd && chdir(cwd) < 0)
		abort();
	assert_int_equal(remote_run_local(&status, argv, &io, &d), AML_OK);
	if (chdir(old) < 0)
		abort();
	free(old);
	assert_int_equal(status, 0);
	diag_list_free(&d);
	while (out.len && out.ptr[out.len - 1] == '\n')
		buf_truncate(&out, out.len - 1);
	return buf_detach(&out);
}

/* A bare store with a tree: train.py, run.sh (executable), pkg/__init__.py,
 * link -> train.py (symlink). */
static int setup(void **state)
{
	fixture *f = xcalloc(1, sizeof(*f));
	f->dir = tu_mkdtemp();
	f->store = fs_join(f->dir, "snapshots.git");
	f->work = fs_join(f->dir, "remote");
	const char *init[] = { "git", "init", "-q", "--bare", f->store, NULL };
	free(git_out(NULL, init, NULL));
	const char *hashw[] = { "git", "--git-dir", f->store, "hash-object", "-w", "--stdin", NULL };
	char *b1 = git_out(NULL, hashw, "import os\nprint('train', os.getcwd())\n");
	char *b2 = git_out(NULL, hashw, "#!/bin/sh\necho run\n");
	char *b3 = git_out(NULL, hashw, "");
	char *b4 = git_out(NULL, hashw, "train.py");
	const char *mk[] = { "git", "--git-dir", f->store, "mktree", NULL };
	char *sub_in = xasprintf("100644 blob %s\t__init__.py\n", b3);
	char *sub = git_out(NULL, mk, sub_in);
	char *top_in = xasprintf("100644 blob %s\ttrain.py\n100755 blob %s\trun.sh\n040000 tree %s\tpkg\n"
				 "120000 blob %s\tlink\n",
				 b1, b2, sub, b4);
	f->tree = git_out(NULL, mk, top_in);
	free(b1);
	free(b2);
	free(b3);
	free(b4);
	free(sub_in);
	free(sub);
	free(top_in);
	f->h = remote_host_local("t", "python3", f->work);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	remote_host_free(f->h);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->store);
	free(f->tree);
	free(f->work);
	free(f);
	return 0;
}

static void test_tree_list(void **state)
{
	fixture *f = *state;
	remote_tree t;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(remote_tree_list(&t, f->store, f->tree, NULL, &d), AML_OK);
	assert_int_equal(t.count, 4);
	int seen = 0;
	for (size_t i = 0; i < t.count; i++) {
		if (!strcmp(t.files[i].path, "pkg/__init__.py")) {
			assert_int_equal(t.files[i].mode, 0100644);
			assert_int_equal(t.files[i].size, 0);
			seen |= 1;
		} else if (!strcmp(t.files[i].path, "run.sh")) {
			assert_int_equal(t.files[i].mode, 0100755);
			seen |= 2;
		} else if (!strcmp(t.files[i].path, "link")) {
			assert_int_equal(t.files[i].mode, 0120000);
			assert_int_equal(t.files[i].size, 8);
			seen |= 4;
		} else if (!strcmp(t.files[i].path, "train.py")) {
			seen |= 8;
		}
	}
	assert_int_equal(seen, 15);
	remote_tree_free(&t);
	assert_int_not_equal(remote_tree_list(&t, f->store, "0000000000000000000000000000000000000000", NULL, &d), AML_OK);
	diag_list_free(&d);
}

static json_object *call(fixture *f, json_object *req, remote_feed_fn feed, void *ctx, buf *payload)
{
	remote_call c = REMOTE_CALL_INIT;
	c.request = req;
	c.feed = feed;
	c.feed_ctx = ctx;
	c.timeout = 120;
	json_object *resp = NULL;
	diag_list d = DIAG_LIST_INIT;
	int rc = remote_runner(&resp, payload, f->h, &c, &d);
	if (rc)
		for (size_t i = 0; i < d.count; i++)
			fprintf(stderr, "runner: %s\n", d.items[i].message);
	assert_int_equal(rc, AML_OK);
	diag_list_free(&d);
	json_object_put(req);
	return resp;
}

static const char *sget(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static bool bget(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static json_object *stage_request(fixture *f, const char *run_id, const remote_tree *t, json_object *blobs,
				  const char *expect_wd)
{
	json_object *req = json_object_new_object();
	json_object_object_add(req, "action", json_object_new_string("stage"));
	json_object_object_add(req, "work_dir", json_object_new_string(f->work));
	if (expect_wd)
		json_object_object_add(req, "expect_work_dir", json_object_new_string(expect_wd));
	json_object_object_add(req, "run_id", json_object_new_string(run_id));
	json_object_object_add(req, "files", remote_tree_json(t));
	json_object_object_add(req, "blobs", blobs ? blobs : json_object_new_array());
	return req;
}

static json_object *wait_done(fixture *f, const char *run_id)
{
	for (int i = 0; i < 600; i++) {
		json_object *req = json_object_new_object();
		json_object_object_add(req, "action", json_object_new_string("poll"));
		json_object_object_add(req, "work_dir", json_object_new_string(f->work));
		json_object_object_add(req, "run_id", json_object_new_string(run_id));
		json_object_object_add(req, "log_offset", json_object_new_int(0));
		json_object_object_add(req, "metrics", json_object_new_boolean(1));
		buf payload = BUF_INIT;
		json_object *resp = call(f, req, NULL, NULL, &payload);
		buf_free(&payload);
		json_object *rec = json_object_object_get(resp, "record");
		const char *st = sget(rec, "status");
		if (st && (!strcmp(st, "Completed") || !strcmp(st, "Failed") || !strcmp(st, "Canceled")))
			return resp;
		json_object_put(resp);
		struct timespec ts = { 0, 50000000L };
		nanosleep(&ts, NULL);
	}
	fail_msg("the run did not end");
	return NULL;
}

static void test_runner(void **state)
{
	fixture *f = *state;
	diag_list d = DIAG_LIST_INIT;

	json_object *req = json_object_new_object();
	json_object_object_add(req, "action", json_object_new_string("hello"));
	json_object_object_add(req, "work_dir", json_object_new_string(f->work));
	json_object *hello = call(f, req, NULL, NULL, NULL);
	assert_true(bget(hello, "ok"));
	assert_string_equal(sget(hello, "work_dir"), f->work);
	assert_non_null(sget(hello, "python"));
	assert_non_null(sget(hello, "machine"));
	char *python = xstrdup(sget(hello, "python"));
	json_object_put(hello);

	remote_tree t;
	assert_int_equal(remote_tree_list(&t, f->store, f->tree, NULL, &d), AML_OK);

	/* nothing sent: every blob is missing, nothing is staged */
	json_object *resp = call(f, stage_request(f, "r_1_00000001", &t, NULL, f->work), NULL, NULL, NULL);
	assert_false(bget(resp, "ok"));
	assert_int_equal(json_object_array_length(json_object_object_get(resp, "missing")), 4);
	json_object_put(resp);

	/* a work_dir that resolves elsewhere than expected: stale */
	resp = call(f, stage_request(f, "r_1_00000001", &t, NULL, "/elsewhere"), NULL, NULL, NULL);
	assert_string_equal(sget(resp, "stale"), "work_dir");
	json_object_put(resp);

	/* the blobs as payload; a user-managed environment; start a run */
	strlist blobs = STRLIST_INIT;
	json_object *jb = json_object_new_array();
	for (size_t i = 0; i < t.count; i++) {
		strlist_add(&blobs, t.files[i].blob);
		json_object *e = json_object_new_array();
		json_object_array_add(e, json_object_new_string(t.files[i].blob));
		json_object_array_add(e, json_object_new_int64((int64_t)t.files[i].size));
		json_object_array_add(jb, e);
	}
	remote_blob_feed feed = { f->store, &blobs, 0, NULL };
	req = stage_request(f, "r_1_00000001", &t, jb, f->work);
	json_object *env = json_object_new_object();
	json_object_object_add(env, "digest", json_object_new_string("sha256:0"));
	json_object *def = json_tokener_parse("{\"python\": {\"user_managed_dependencies\": true}}");
	json_object_object_add(env, "def", def);
	json_object_object_add(req, "env", env);
	char *run_dir = xasprintf("%s/runs/r_1_00000001", f->work);
	char *cwd = xasprintf("%s/wd", run_dir);
	char *recs = xasprintf("{\"run_id\": \"r_1_00000001\", \"cwd\": \"%s\", \"timeout_seconds\": 60, "
			       "\"processes\": [{\"argv\": [\"%s\", \"train.py\"], \"env\": {\"X\": \"1\"}}]}",
			       cwd, python);
	json_object_object_add(req, "record", json_tokener_parse(recs));
	json_object_object_add(req, "secrets", json_tokener_parse("{\"A_SECRET\": \"v\"}"));
	resp = call(f, req, remote_blob_feed_fn, &feed, NULL);
	remote_blob_feed_close(&feed);
	assert_true(bget(resp, "ok"));
	assert_string_equal(sget(resp, "python"), python);
	assert_string_equal(sget(resp, "run_dir"), run_dir);
	json_object *rec = json_object_object_get(resp, "record");
	assert_non_null(rec);
	const char *st = sget(rec, "status");
	assert_true(!strcmp(st, "Running") || !strcmp(st, "Completed"));
	json_object_put(resp);

	/* the checkout: modes and the symlink */
	char *p = xasprintf("%s/run.sh", cwd);
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	assert_true(sb.st_mode & 0100);
	free(p);
	p = xasprintf("%s/link", cwd);
	assert_int_equal(lstat(p, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
	free(p);
	p = xasprintf("%s/pkg/__init__.py", cwd);
	assert_true(fs_is_file(p));
	free(p);

	buf payload = BUF_INIT;
	resp = wait_done(f, "r_1_00000001");
	assert_string_equal(sget(json_object_object_get(resp, "record"), "status"), "Completed");
	json_object_put(resp);
	req = json_object_new_object();
	json_object_object_add(req, "action", json_object_new_string("poll"));
	json_object_object_add(req, "work_dir", json_object_new_string(f->work));
	json_object_object_add(req, "run_id", json_object_new_string("r_1_00000001"));
	json_object_object_add(req, "log_offset", json_object_new_int(6));
	resp = call(f, req, NULL, NULL, &payload);
	const char *data;
	size_t len;
	assert_true(remote_payload_part(resp, &payload, "log", &data, &len));
	char *expect = xasprintf("%s\n", cwd); /* what follows "train " */
	assert_int_equal(len, strlen(expect));
	assert_memory_equal(data, expect, len);
	free(expect);
	json_object_put(resp);
	buf_free(&payload);

	/* the same run id again is refused; a second run needs no blobs */
	resp = call(f, stage_request(f, "r_1_00000001", &t, NULL, f->work), NULL, NULL, NULL);
	assert_false(bget(resp, "ok"));
	assert_non_null(strstr(sget(resp, "error"), "exists already"));
	json_object_put(resp);

	/* a run to cancel */
	req = stage_request(f, "r_2_00000002", &t, NULL, f->work);
	json_object_object_add(req, "env", json_tokener_parse("{\"digest\": \"sha256:0\", \"def\": {\"python\": "
							      "{\"user_managed_dependencies\": true}}}"));
	char *run2 = xasprintf("%s/runs/r_2_00000002/wd", f->work);
	char *recs2 = xasprintf("{\"run_id\": \"r_2_00000002\", \"cwd\": \"%s\", \"timeout_seconds\": 60, "
				"\"processes\": [{\"argv\": [\"sleep\", \"30\"], \"env\": {}}]}",
				run2);
	json_object_object_add(req, "record", json_tokener_parse(recs2));
	resp = call(f, req, NULL, NULL, NULL);
	assert_true(bget(resp, "ok"));
	assert_string_equal(sget(json_object_object_get(resp, "record"), "status"), "Running");
	json_object_put(resp);
	req = json_object_new_object();
	json_object_object_add(req, "action", json_object_new_string("cancel"));
	json_object_object_add(req, "work_dir", json_object_new_string(f->work));
	json_object_object_add(req, "run_id", json_object_new_string("r_2_00000002"));
	json_object_object_add(req, "grace", json_object_new_double(2));
	resp = call(f, req, NULL, NULL, NULL);
	assert_true(bget(resp, "ok"));
	assert_string_equal(sget(json_object_object_get(resp, "record"), "status"), "Canceled");
	json_object_put(resp);

	/* a run whose folder is gone */
	req = json_object_new_object();
	json_object_object_add(req, "action", json_object_new_string("poll"));
	json_object_object_add(req, "work_dir", json_object_new_string(f->work));
	json_object_object_add(req, "run_id", json_object_new_string("r_9_00000009"));
	resp = call(f, req, NULL, NULL, NULL);
	assert_true(bget(resp, "gone"));
	json_object_put(resp);

	/* an unknown action, and a damaged object, are refused */
	req = json_tokener_parse("{\"action\": \"format_disk\"}");
	resp = call(f, req, NULL, NULL, NULL);
	assert_false(bget(resp, "ok"));
	assert_non_null(strstr(sget(resp, "error"), "unknown action"));
	json_object_put(resp);

	free(recs2);
	free(run2);
	free(recs);
	free(cwd);
	free(run_dir);
	strlist_free(&blobs);
	remote_tree_free(&t);
	free(python);
	diag_list_free(&d);
}

static void test_cache(void **state)
{
	fixture *f = *state;
	char *state_dir = fs_join(f->dir, "state");
	remote_cache c;
	remote_cache_load(&c, state_dir, f->h);
	assert_null(remote_cache_str(&c, "work_dir"));
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(remote_cache_hello(&c, f->h, &d), AML_OK);
	assert_string_equal(remote_cache_str(&c, "work_dir"), f->work);
	json_object_object_add(json_object_object_get(c.doc, "blobs"), "abc", json_object_new_int(1));
	assert_int_equal(remote_cache_save(&c, &d), AML_OK);
	remote_cache_free(&c);

	remote_cache_load(&c, state_dir, f->h);
	assert_string_equal(remote_cache_str(&c, "work_dir"), f->work);
	assert_true(json_object_object_get_ex(json_object_object_get(c.doc, "blobs"), "abc", NULL));
	remote_cache_free(&c);

	/* another work_dir: what was known does not apply */
	remote_host *other = remote_host_local("t", "python3", "/tmp/elsewhere");
	remote_cache_load(&c, state_dir, other);
	assert_null(remote_cache_str(&c, "work_dir"));
	assert_false(json_object_object_get_ex(json_object_object_get(c.doc, "blobs"), "abc", NULL));
	remote_cache_free(&c);
	remote_host_free(other);
	diag_list_free(&d);
	free(state_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_local),
		cmocka_unit_test_setup_teardown(test_tree_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
