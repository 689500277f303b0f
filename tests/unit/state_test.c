/* state: load/save, backup and recovery, format refusal, and the workspace
 * lock across processes (children made with fork, killed with SIGKILL). */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/diag.h"
#include "util/fs.h"
#include "workspace/state.h"

typedef struct fixture {
	char *root;   /* temp folder */
	char *dir;    /* root/.amlspec (not created: state_save must create it) */
} fixture;

/* Children that hold locks; teardown kills them, so a failed assertion in
 * the parent (cmocka jumps out of the test) leaves no process behind. */
static pid_t children[8];
static size_t nchildren;

static void track_child(pid_t pid)
{
	if (nchildren < sizeof(children) / sizeof(children[0]))
		children[nchildren++] = pid;
}

static int setup(void **ctx)
{
	fixture *f = calloc(1, sizeof(*f));
	f->root = tu_mkdtemp();
	f->dir = fs_join(f->root, ".amlspec");
	*ctx = f;
	return 0;
}

static int teardown(void **ctx)
{
	fixture *f = *ctx;
	for (size_t i = 0; i < nchildren; i++) {
		kill(children[i], SIGKILL);
		waitpid(children[i], NULL, 0);
	}
	nchildren = 0;
	tu_rmtree(f->root);
	free(f->root);
	free(f->dir);
	free(f);
	return 0;
}

static char *slurp(const char *dir, const char *name)
{
	char *path = fs_join(dir, name);
	buf b = BUF_INIT;
	int rc = buf_read_file(&b, path, 0);
	free(path);
	if (rc < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

static bool diags_contain(const diag_list *d, diag_severity sev, const char *needle)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->items[i].severity == sev && strstr(d->items[i].message, needle))
			return true;
	return false;
}

static void print_diags(const diag_list *d)
{
	for (size_t i = 0; i < d->count; i++) {
		buf b = BUF_INIT;
		diag_format(&b, &d->items[i]);
		fprintf(stderr, "  diag: %s\n", b.ptr);
		buf_free(&b);
	}
}

/* Loads, records one spec (value n), saves; returns the saved serial. */
static long long save_one(const char *dir, int n)
{
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, dir, &d), AML_OK);
	json_object *rec = json_object_new_object();
	json_object_object_add(rec, "n", json_object_new_int(n));
	json_object_object_add(s->specs, "exp/name", rec);
	int rc = state_save(s, &d);
	if (rc != AML_OK)
		print_diags(&d);
	assert_int_equal(rc, AML_OK);
	long long serial = s->serial;
	state_free(s);
	diag_list_free(&d);
	return serial;
}

static void test_missing_is_empty(void **ctx)
{
	fixture *f = *ctx;
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, f->dir, &d), AML_OK);
	assert_int_equal(d.count, 0);
	assert_int_equal(s->serial, 0);
	assert_false(s->recovered);
	assert_int_equal(json_object_object_length(s->specs), 0);
	/* a version 4 UUID: 8-4-4-4-12 lowercase hex, version nibble 4, variant 8..b */
	assert_int_equal(strlen(s->lineage), 36);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(s->lineage[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", s->lineage[i]));
	}
	assert_int_equal(s->lineage[14], '4');
	assert_non_null(strchr("89ab", s->lineage[19]));
	/* loading creates nothing */
	assert_false(fs_exists(f->dir));

	state *s2 = NULL;
	assert_int_equal(state_load(&s2, f->dir, &d), AML_OK);
	assert_string_not_equal(s->lineage, s2->lineage);
	state_free(s);
	state_free(s2);
	diag_list_free(&d);
}

static void test_round_trip(void **ctx)
{
	fixture *f = *ctx;
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, f->dir, &d), AML_OK);
	json_object *rec = json_tokener_parse("{\"spec\": {\"script\": \"a/b.py\", \"lr\": 0.5}, \"run\": \"x_1_ab\"}");
	json_object_object_add(s->specs, "exp/b", rec);
	json_object_object_add(s->specs, "exp/a", json_object_new_object());
	assert_int_equal(state_save(s, &d), AML_OK);
	assert_int_equal(s->serial, 1);

	state *r = NULL;
	assert_int_equal(state_load(&r, f->dir, &d), AML_OK);
	assert_int_equal(d.count, 0);
	assert_string_equal(r->lineage, s->lineage);
	assert_int_equal(r->serial, 1);
	assert_true(json_object_equal(r->specs, s->specs));

	/* the file: fixed key order, spaced pretty JSON, no escaped slashes,
	 * insertion order of specs kept, one trailing newline */
	char *text = slurp(f->dir, "state.json");
	assert_non_null(text);
	char *expect = xasprintf("{\n"
				 "  \"format_version\": 1,\n"
				 "  \"lineage\": \"%s\",\n"
				 "  \"serial\": 1,\n"
				 "  \"specs\": {\n"
				 "    \"exp/b\": {\n"
				 "      \"spec\": {\n"
				 "        \"script\": \"a/b.py\",\n"
				 "        \"lr\": 0.5\n"
				 "      },\n"
				 "      \"run\": \"x_1_ab\"\n"
				 "    },\n"
				 "    \"exp/a\": {\n"
				 "    }\n"
				 "  }\n"
				 "}\n", s->lineage);
	assert_string_equal(text, expect);
	free(expect);
	free(text);
	state_free(s);
	state_free(r);
	diag_list_free(&d);
}

static void test_serial_and_backup(void **ctx)
{
	fixture *f = *ctx;
	assert_int_equal(save_one(f->dir, 1), 1);
	/* one write: nothing to back up yet */
	char *none = slurp(f->dir, "state.json.backup");
	assert_null(none);
	char *first = slurp(f->dir, "state.json");
	assert_int_equal(save_one(f->dir, 2), 2);
	char *backup = slurp(f->dir, "state.json.backup");
	assert_non_null(backup);
	/* the backup is byte for byte the previous state.json */
	assert_string_equal(backup, first);
	free(backup);
	char *second = slurp(f->dir, "state.json");
	assert_int_equal(save_one(f->dir, 3), 3);
	backup = slurp(f->dir, "state.json.backup");
	assert_string_equal(backup, second);
	free(backup);
	free(first);
	free(second);
}

static void test_mode_0600(void **ctx)
{
	fixture *f = *ctx;
	mode_t old = umask(0);   /* a permissive umask must not widen the files */
	save_one(f->dir, 1);
	save_one(f->dir, 2);
	umask(old);
	const char *names[] = { "state.json", "state.json.backup" };
	for (int i = 0; i < 2; i++) {
		char *p = fs_join(f->dir, names[i]);
		struct stat st;
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		free(p);
	}
}

static void test_unknown_keys_kept(void **ctx)
{
	fixture *f = *ctx;
	fs_mkdirs(f->dir, 0755);
	tu_write(f->dir, "state.json",
		 "{\"zeta\": [1, 2], \"format_version\": 1, \"lineage\": \"L-1\", \"serial\": 7,"
		 " \"specs\": {}, \"alpha\": {\"k\": \"v\"}}");
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, f->dir, &d), AML_OK);
	assert_string_equal(s->lineage, "L-1");
	assert_int_equal(s->serial, 7);
	assert_int_equal(state_save(s, &d), AML_OK);
	assert_int_equal(s->serial, 8);
	char *text = slurp(f->dir, "state.json");
	/* known keys first, then the others in the order they were read */
	assert_string_equal(text, "{\n"
				  "  \"format_version\": 1,\n"
				  "  \"lineage\": \"L-1\",\n"
				  "  \"serial\": 8,\n"
				  "  \"specs\": {\n  },\n"
				  "  \"zeta\": [\n    1,\n    2\n  ],\n"
				  "  \"alpha\": {\n    \"k\": \"v\"\n  }\n"
				  "}\n");
	free(text);
	state_free(s);
	diag_list_free(&d);
}

static void truncate_file(const char *dir, const char *name, double keep)
{
	char *text = slurp(dir, name);
	assert_non_null(text);
	size_t n = (size_t)((double)strlen(text) * keep);
	char *cut = xstrndup(text, n);
	tu_write(dir, name, cut);
	free(cut);
	free(text);
}

static void test_truncated_recovered(void **ctx)
{
	fixture *f = *ctx;
	save_one(f->dir, 1);
	save_one(f->dir, 2);
	truncate_file(f->dir, "state.json", 0.5);
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, f->dir, &d), AML_OK);
	assert_true(s->recovered);
	assert_int_equal(s->serial, 1);
	json_object *rec = json_object_object_get(s->specs, "exp/name");
	assert_int_equal(json_object_get_int(json_object_object_get(rec, "n")), 1);
	/* warnings, not errors: the caller carries on */
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 2);
	assert_true(diags_contain(&d, DIAG_WARNING, "truncated"));
	assert_true(diags_contain(&d, DIAG_WARNING, "recovered the state from state.json.backup (serial 1)"));
	/* the parse problem is placed at the end of the cut file */
	char *text = slurp(f->dir, "state.json");
	unsigned lines = 1;
	for (char *c = text; *c; c++)
		lines += *c == '\n';
	assert_non_null(d.items[0].file);
	assert_non_null(strstr(d.items[0].file, "state.json"));
	assert_int_equal(d.items[0].line, lines);
	assert_true(d.items[0].col >= 1);
	diag_list_free(&d);

	/* the next save keeps the damaged file aside, and the good backup stays */
	char *backup_before = slurp(f->dir, "state.json.backup");
	assert_int_equal(state_save(s, &d), AML_OK);
	assert_int_equal(s->serial, 2);
	assert_true(diags_contain(&d, DIAG_WARNING, "state.json.corrupt"));
	char *corrupt = slurp(f->dir, "state.json.corrupt");
	assert_string_equal(corrupt, text);
	char *backup_after = slurp(f->dir, "state.json.backup");
	assert_string_equal(backup_after, backup_before);
	state_free(s);
	diag_list_free(&d);

	/* and state.json is whole again */
	assert_int_equal(state_load(&s, f->dir, &d), AML_OK);
	assert_false(s->recovered);
	assert_int_equal(s->serial, 2);
	assert_int_equal(d.count, 0);
	state_free(s);
	diag_list_free(&d);
	free(text);
	free(corrupt);
	free(backup_before);
	free(backup_after);
}

static void test_syntax_error_position(void **ctx)
{
	fixture *f = *ctx;
	save_one(f->dir, 1);
	save_one(f->dir, 2);
	/* line 3, column 15: the second comma */
	tu_write(f->dir, "state.json", "{\n  \"format_version\": 1,\n  \"serial\": 2,,\n}\n");
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, f->dir, &d), AML_OK);
	assert_int_equal(d.items[0].line, 3);
	assert_int_equal(d.items[0].col, 15);
	assert_int_equal(s->serial, 1);
	state_free(s);
	diag_list_free(&d);
}

static void test_strict_json(void **ctx)
{
	fixture *f = *ctx;
	save_one(f->dir, 1);
	save_one(f->dir, 2);
	/* json-c's lenient mode would accept the trailing comma and load serial 9 */
	tu_write(f->dir, "state.json",
		 "{\"format_version\": 1, \"lineage\": \"x\", \"serial\": 9, \"specs\": {},}\n");
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, f->dir, &d), AML_OK);
	assert_true(s->recovered);
	assert_int_equal(s->serial, 1);
	assert_int_equal(d.items[0].line, 1);
	assert_int_equal(d.items[0].col, 64); /* the "}" after the comma */
	state_free(s);
	diag_list_free(&d);
}

static void test_both_bad(void **ctx)
{
	fixture *f = *ctx;
	save_one(f->dir, 1);
	save_one(f->dir, 2);
	truncate_file(f->dir, "state.json", 0.5);
	truncate_file(f->dir, "state.json.backup", 0.3);
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_not_equal(state_load(&s, f->dir, &d), AML_OK);
	assert_null(s);
	assert_int_equal(d.errors, 2);
	assert_non_null(strstr(d.items[0].file, "state.json"));
	assert_non_null(strstr(d.items[1].file, "state.json.backup"));
	diag_list_free(&d);
}

/* Parsable JSON that is not a state: each is refused (no backup to fall back on). */
static void test_layout_checked(void **ctx)
{
	fixture *f = *ctx;
	static const struct {
		const char *text, *message;
	} cases[] = {
		{ "[1]", "the top level is not a JSON object" },
		{ "{\"format_version\": \"1\", \"lineage\": \"x\", \"serial\": 1, \"specs\": {}}", "\"format_version\" must be a positive integer" },
		{ "{\"format_version\": 0, \"lineage\": \"x\", \"serial\": 1, \"specs\": {}}", "\"format_version\" must be a positive integer" },
		{ "{\"format_version\": 1, \"serial\": 1, \"specs\": {}}", "\"lineage\" must be a non-empty string" },
		{ "{\"format_version\": 1, \"lineage\": \"\", \"serial\": 1, \"specs\": {}}", "\"lineage\" must be a non-empty string" },
		{ "{\"format_version\": 1, \"lineage\": \"x\", \"serial\": 1.5, \"specs\": {}}", "\"serial\" must be a non-negative integer" },
		{ "{\"format_version\": 1, \"lineage\": \"x\", \"serial\": 1}", "\"specs\" must be an object" },
		{ "{\"format_version\": 1, \"lineage\": \"x\", \"serial\": 1, \"specs\": []}", "\"specs\" must be an object" },
		{ "", "the file is empty" },
		/* json-c 0.16 strict rejects it itself; older ones leave it to parse_end */
		{ "{} {}", "cannot parse the state: unexpected" },
	};
	fs_mkdirs(f->dir, 0755);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tu_write(f->dir, "state.json", cases[i].text);
		diag_list d = DIAG_LIST_INIT;
		state *s = NULL;
		assert_int_equal(state_load(&s, f->dir, &d), AML_EINVALID);
		assert_null(s);
		if (!diags_contain(&d, DIAG_ERROR, cases[i].message)) {
			print_diags(&d);
			fail_msg("case %zu: no error containing %s", i, cases[i].message);
		}
		diag_list_free(&d);
	}
}

static void test_bad_without_backup(void **ctx)
{
	fixture *f = *ctx;
	save_one(f->dir, 1);
	tu_write(f->dir, "state.json", "{\"format_version\": 1, \"lineage\": \"x\", \"serial\": -3, \"specs\": {}}\n");
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, f->dir, &d), AML_EINVALID);
	assert_null(s);
	assert_true(diags_contain(&d, DIAG_ERROR, "\"serial\" must be a non-negative integer"));
	assert_true(diags_contain(&d, DIAG_ERROR, "no backup"));
	diag_list_free(&d);
}

static void test_missing_with_backup(void **ctx)
{
	fixture *f = *ctx;
	save_one(f->dir, 1);
	save_one(f->dir, 2);
	char *p = fs_join(f->dir, "state.json");
	unlink(p);
	free(p);
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, f->dir, &d), AML_OK);
	assert_true(s->recovered);
	assert_int_equal(s->serial, 1);
	assert_true(diags_contain(&d, DIAG_WARNING, "state.json is missing"));
	state_free(s);
	diag_list_free(&d);
}

static void test_newer_format_refused(void **ctx)
{
	fixture *f = *ctx;
	save_one(f->dir, 1);
	save_one(f->dir, 2);
	/* a newer format is refused even though a usable backup exists */
	tu_write(f->dir, "state.json", "{\"format_version\": 2, \"whatever\": true}\n");
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, f->dir, &d), AML_EINVALID);
	assert_null(s);
	assert_int_equal(d.errors, 1);
	assert_string_equal(d.items[0].message,
			    "state.json was written by a newer amlspec (format 2); this amlspec reads format 1");
	diag_list_free(&d);
}

static void test_newer_format_not_overwritten(void **ctx)
{
	fixture *f = *ctx;
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, f->dir, &d), AML_OK);
	/* a newer amlspec wrote the state after we read it */
	fs_mkdirs(f->dir, 0755);
	tu_write(f->dir, "state.json", "{\"format_version\": 3}\n");
	assert_int_not_equal(state_save(s, &d), AML_OK);
	assert_true(diags_contain(&d, DIAG_ERROR, "newer amlspec (format 3)"));
	assert_int_equal(s->serial, 0);
	char *text = slurp(f->dir, "state.json");
	assert_string_equal(text, "{\"format_version\": 3}\n");
	free(text);
	state_free(s);
	diag_list_free(&d);
}

static void test_conflict(void **ctx)
{
	fixture *f = *ctx;
	save_one(f->dir, 1);
	diag_list d = DIAG_LIST_INIT;
	state *s = NULL;
	assert_int_equal(state_load(&s, f->dir, &d), AML_OK);
	save_one(f->dir, 2);   /* someone else writes meanwhile */
	assert_int_equal(state_save(s, &d), AML_ECONFLICT);
	assert_true(diags_contain(&d, DIAG_ERROR, "changed since it was read"));
	assert_int_equal(s->serial, 1);
	/* a fresh state must not replace one that appeared meanwhile */
	state_free(s);
	diag_list_free(&d);
	char *other = fs_join(f->root, "other");
	assert_int_equal(state_load(&s, other, &d), AML_OK);
	free(s->dir);
	s->dir = xstrdup(f->dir);
	assert_int_equal(state_save(s, &d), AML_ECONFLICT);
	state_free(s);
	diag_list_free(&d);
	free(other);
}

/* ---- lock ---------------------------------------------------------------- */

/* A child that takes the lock, tells the parent over a pipe, then holds it
 * until it reads from hold_fd (or is killed). hold_ms > 0: releases after. */
static pid_t spawn_holder(const char *dir, int hold_ms)
{
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		diag_list d = DIAG_LIST_INIT;
		state_lock *l = NULL;
		if (state_lock_acquire(&l, dir, "amlspec apply exp/x", 5, &d) != AML_OK)
			_exit(3);
		if (write(ready[1], "k", 1) != 1)
			_exit(4);
		if (hold_ms > 0) {
			struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
			state_lock_release(l);
			_exit(0);
		}
		for (;;)
			pause();
	}
	track_child(pid);
	close(ready[1]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

static void kill_holder(pid_t pid)
{
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether another process would find the lock taken: a child tries once. */
static bool locked_for_others(const char *dir)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		diag_list cd = DIAG_LIST_INIT;
		state_lock *cl = NULL;
		int rc = state_lock_acquire(&cl, dir, "probe", 0, &cd);
		state_lock_release(cl);
		diag_list_free(&cd);
		_exit(rc == AML_ELOCKED ? 0 : rc == AML_OK ? 1 : 2);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_not_equal(WEXITSTATUS(st), 2);
	return WEXITSTATUS(st) == 0;
}

static void test_lock_basic(void **ctx)
{
	fixture *f = *ctx;
	diag_list d = DIAG_LIST_INIT;
	state_lock *l = NULL;
	char *holder = NULL;
	assert_int_equal(state_lock_holder(&holder, f->dir), AML_OK);
	assert_null(holder);
	assert_int_equal(state_lock_acquire(&l, f->dir, "amlspec apply", 0, &d), AML_OK);
	assert_non_null(l);

	char *path = fs_join(f->dir, "lock");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* the record, read through our own descriptor */
	assert_int_equal(state_lock_holder(&holder, f->dir), AML_OK);
	assert_non_null(holder);
	json_object *o = json_tokener_parse(holder);
	assert_non_null(o);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "pid")), getpid());
	assert_string_equal(json_object_get_string(json_object_object_get(o, "command")), "amlspec apply");
	char host[256] = "";
	gethostname(host, sizeof(host));
	assert_string_equal(json_object_get_string(json_object_object_get(o, "host")), host);
	const char *since = json_object_get_string(json_object_object_get(o, "started_at"));
	assert_int_equal(strlen(since), 20);
	assert_int_equal(since[10], 'T');
	assert_int_equal(since[19], 'Z');
	json_object_put(o);
	free(holder);
	/* reading the holder must not have dropped our lock: a child cannot take it */
	assert_true(locked_for_others(f->dir));

	/* a second acquire in the same process is refused, and keeps the first */
	state_lock *l2 = NULL;
	assert_int_equal(state_lock_acquire(&l2, f->dir, "again", 0, &d), AML_ELOCKED);
	assert_null(l2);
	assert_true(diags_contain(&d, DIAG_ERROR, "this process already holds"));

	state_lock_release(l);
	/* released: the file stays, empty */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(state_lock_holder(&holder, f->dir), AML_OK);
	assert_null(holder);
	/* and can be taken again */
	assert_int_equal(state_lock_acquire(&l, f->dir, "again", 0, &d), AML_OK);
	state_lock_release(l);
	free(path);
	diag_list_free(&d);
}

static void test_lock_contention_names_holder(void **ctx)
{
	fixture *f = *ctx;
	pid_t child = spawn_holder(f->dir, 0);
	diag_list d = DIAG_LIST_INIT;
	state_lock *l = NULL;

	char *holder = NULL;
	assert_int_equal(state_lock_holder(&holder, f->dir), AML_OK);
	assert_non_null(holder);
	json_object *o = json_tokener_parse(holder);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "pid")), child);
	json_object_put(o);
	free(holder);

	double t0 = now();
	int rc = state_lock_acquire(&l, f->dir, "amlspec plan", 0.3, &d);
	double took = now() - t0;
	assert_int_equal(rc, AML_ELOCKED);
	assert_null(l);
	assert_true(took >= 0.3);
	assert_true(took < 2.0);
	assert_int_equal(d.errors, 1);
	char host[256] = "";
	gethostname(host, sizeof(host));
	char *want = xasprintf("the workspace is locked by pid %d on %s (`amlspec apply exp/x`, since ",
			       (int)child, host);
	const char *msg = d.items[0].message;
	assert_true(strncmp(msg, want, strlen(want)) == 0);
	assert_non_null(strstr(msg, "Z); waited 0.3s"));
	free(want);
	kill_holder(child);
	diag_list_free(&d);
}

static void test_lock_dead_holder(void **ctx)
{
	fixture *f = *ctx;
	pid_t child = spawn_holder(f->dir, 0);
	diag_list d = DIAG_LIST_INIT;
	state_lock *l = NULL;
	assert_int_equal(state_lock_acquire(&l, f->dir, "x", 0, &d), AML_ELOCKED);
	diag_list_free(&d);

	kill_holder(child);
	/* the dead holder's record is still in the file, but nobody holds the lock */
	char *text = slurp(f->dir, "lock");
	assert_non_null(strstr(text, "amlspec apply exp/x"));
	free(text);
	char *holder = NULL;
	assert_int_equal(state_lock_holder(&holder, f->dir), AML_OK);
	assert_null(holder);

	assert_int_equal(state_lock_acquire(&l, f->dir, "after", 0, &d), AML_OK);
	text = slurp(f->dir, "lock");
	assert_null(strstr(text, "amlspec apply exp/x"));
	assert_non_null(strstr(text, "\"after\""));
	free(text);
	state_lock_release(l);
	diag_list_free(&d);
}

/* A new holder has the lock a moment before it rewrites the record, and a
 * SIGKILLed one leaves its record behind: the kernel's pid wins. */
static void test_lock_stale_record(void **ctx)
{
	fixture *f = *ctx;
	pid_t dead = spawn_holder(f->dir, 0);
	kill_holder(dead);
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t child = fork();
	if (child == 0) {
		char *path = fs_join(f->dir, "lock");
		int fd = open(path, O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0 || write(ready[1], "k", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	track_child(child);
	close(ready[1]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);

	char *holder = NULL;
	assert_int_equal(state_lock_holder(&holder, f->dir), AML_OK);
	assert_non_null(holder);
	char *want = xasprintf("{ \"pid\": %d }", (int)child);
	assert_string_equal(holder, want);
	free(want);
	free(holder);

	diag_list d = DIAG_LIST_INIT;
	state_lock *l = NULL;
	assert_int_equal(state_lock_acquire(&l, f->dir, "x", 0, &d), AML_ELOCKED);
	want = xasprintf("the workspace is locked by pid %d; waited ", (int)child);
	assert_true(strncmp(d.items[0].message, want, strlen(want)) == 0);
	free(want);
	diag_list_free(&d);
	kill_holder(child);
}

/* Whoever removes the lock file (rm -rf .amlspec) while a waiter waits must
 * not leave the waiter locking a file nobody else can see. */
static void test_lock_file_removed_while_waiting(void **ctx)
{
	fixture *f = *ctx;
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t child = fork();
	if (child == 0) {
		diag_list cd = DIAG_LIST_INIT;
		state_lock *cl = NULL;
		if (state_lock_acquire(&cl, f->dir, "doomed", 0, &cd) != AML_OK || write(ready[1], "k", 1) != 1)
			_exit(3);
		struct timespec ts = { 0, 300000000L };
		nanosleep(&ts, NULL);
		char *path = fs_join(f->dir, "lock");
		unlink(path);
		free(path);
		diag_list_free(&cd);
		_exit(0);   /* the kernel drops the lock on the unlinked file */
	}
	track_child(child);
	close(ready[1]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);

	diag_list d = DIAG_LIST_INIT;
	state_lock *l = NULL;
	assert_int_equal(state_lock_acquire(&l, f->dir, "survivor", 5, &d), AML_OK);
	char *path = fs_join(f->dir, "lock");
	assert_true(fs_exists(path));
	/* the lock we hold is the one at the path: another process sees it */
	assert_true(locked_for_others(f->dir));
	state_lock_release(l);
	assert_false(locked_for_others(f->dir));
	free(path);
	diag_list_free(&d);
}

static void test_lock_waits_for_release(void **ctx)
{
	fixture *f = *ctx;
	pid_t child = spawn_holder(f->dir, 300);
	diag_list d = DIAG_LIST_INIT;
	state_lock *l = NULL;
	double t0 = now();
	assert_int_equal(state_lock_acquire(&l, f->dir, "waiter", 10, &d), AML_OK);
	double took = now() - t0;
	assert_true(took > 0.1);
	assert_true(took < 5);
	state_lock_release(l);
	int st;
	waitpid(child, &st, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	diag_list_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_is_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial_and_backup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_0600, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_keys_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_recovered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_error_position, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strict_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_both_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_without_backup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_with_backup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_format_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_format_not_overwritten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_contention_names_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_dead_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_stale_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_file_removed_while_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_waits_for_release, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
