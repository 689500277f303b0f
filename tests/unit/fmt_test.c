/* fmt: the corpus in tests/data/fmt (comments everywhere, scrambled keys, odd
 * indentation, needless quotes) keeps every comment and its attachment, loads
 * to the same tree, formats to itself a second time, and matches the golden
 * *.expected files; plus quoting rules, files left as written, the diff, and
 * the verb's in-place rewrite. The tree and comment checks here are written
 * independently of the ones inside fmt.c. */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "spec/fmt.h"
#include "spec/ytree.h"
#include "util/buf.h"
#include "util/fs.h"

static char *data_dir(void)
{
	const char *d = getenv("AMLSPEC_TEST_DATA");
	assert_non_null(d);
	return fs_join(d, "fmt");
}

static void read_all(buf *b, const char *path)
{
	buf_clear(b);
	if (buf_read_file(b, path, 1 << 20) < 0)
		fail_msg("cannot read %s", path);
}

/* Formats text; fails the test on anything but AML_OK without warnings. */
static void format_ok(buf *out, const char *name, const char *text, size_t len, const schema *sch)
{
	diag_list d = DIAG_LIST_INIT;
	buf_clear(out);
	int rc = fmt_format(out, name, text, len, sch, &d);
	if (rc != AML_OK || d.count) {
		buf msg = BUF_INIT;
		for (size_t i = 0; i < d.count; i++)
			diag_format(&msg, &d.items[i]), buf_putc(&msg, '\n');
		fail_msg("%s: fmt_format returned %d\n%s", name, rc, msg.ptr);
	}
	diag_list_free(&d);
}

/* An independent tree comparison: mappings by key (any order), sequences in
 * order, scalars by YAML 1.2 type and value. */
static bool same_tree(const ynode *a, const ynode *b)
{
	if (!a || !b)
		return a == b;
	if (a->kind != b->kind || a->count != b->count)
		return false;
	if (a->kind == YN_SCALAR)
		return a->stype == b->stype && !strcmp(a->value, b->value);
	if (a->kind == YN_SEQ) {
		for (size_t i = 0; i < a->count; i++)
			if (!same_tree(a->items[i], b->items[i]))
				return false;
		return true;
	}
	for (size_t i = 0; i < a->count; i++) {
		const ynode *vb = ynode_map_get(b, ynode_map_key(a, i)->value);
		if (!vb || !same_tree(ynode_map_value(a, i), vb))
			return false;
	}
	return true;
}

static size_t count_occurrences(const char *hay, const char *needle)
{
	size_t n = 0, l = strlen(needle);
	for (const char *p = hay; (p = strstr(p, needle)); p += l)
		n++;
	return n;
}

/* in -> out keeps the tree, every comment (text and attachment), and is stable. */
static void check_invariants(const char *name, const char *in, size_t inlen, const char *out, size_t outlen,
			     const schema *sch)
{
	diag_list d = DIAG_LIST_INIT;
	ydoc *a = NULL, *b = NULL;
	assert_int_equal(ydoc_parse(&a, name, in, inlen, NULL, &d), AML_OK);
	assert_int_equal(ydoc_parse(&b, name, out, outlen, NULL, &d), AML_OK);
	if (!same_tree(a->root, b->root))
		fail_msg("%s: the formatted file loads to a different tree", name);
	ydoc_free(a);
	ydoc_free(b);
	diag_list_free(&d);

	strlist ca = STRLIST_INIT, cb = STRLIST_INIT;
	assert_int_equal(fmt_comment_attachments(&ca, in, inlen, sch), AML_OK);
	assert_int_equal(fmt_comment_attachments(&cb, out, outlen, sch), AML_OK);
	for (size_t i = 0; i < ca.count || i < cb.count; i++)
		if (i >= ca.count || i >= cb.count || strcmp(ca.items[i], cb.items[i]))
			fail_msg("%s: comment attachment differs: '%s' vs '%s'", name, i < ca.count ? ca.items[i] : "(none)",
				 i < cb.count ? cb.items[i] : "(none)");
	/* each comment's text occurs as often in the output as in the input */
	for (size_t i = 0; i < ca.count; i++) {
		const char *text = strchr(ca.items[i], '\t') + 1;
		if (count_occurrences(in, text) != count_occurrences(out, text))
			fail_msg("%s: comment '%s' occurs %zu times before and %zu after", name, text,
				 count_occurrences(in, text), count_occurrences(out, text));
	}
	strlist_free(&ca);
	strlist_free(&cb);

	buf again = BUF_INIT;
	format_ok(&again, name, out, outlen, sch);
	if (again.len != outlen || memcmp(again.ptr, out, outlen))
		fail_msg("%s: a second run changes the file again:\n%s", name, again.ptr);
	buf_free(&again);
}

static void corpus_walk(const char *dir, size_t *nfiles, size_t *ngolden)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	strlist names = STRLIST_INIT;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			strlist_add(&names, de->d_name);
	closedir(d);
	strlist_sort(&names);
	buf in = BUF_INIT, out = BUF_INIT, want = BUF_INIT, variant = BUF_INIT, vout = BUF_INIT;
	for (size_t i = 0; i < names.count; i++) {
		char *path = fs_join(dir, names.items[i]);
		size_t l = strlen(path);
		if (fs_is_dir(path)) {
			corpus_walk(path, nfiles, ngolden);
		} else if (l > 5 && !strcmp(path + l - 5, ".yaml")) {
			const schema *sch = fmt_schema_for_path(path);
			read_all(&in, path);
			format_ok(&out, path, in.ptr, in.len, sch);
			check_invariants(path, in.ptr, in.len, out.ptr, out.len, sch);
			char *golden = xasprintf("%s.expected", path);
			if (fs_exists(golden)) {
				read_all(&want, golden);
				if (want.len != out.len || memcmp(want.ptr, out.ptr, out.len)) {
					buf patch = BUF_INIT;
					fmt_unified_diff(&patch, golden, "got", want.ptr, want.len, out.ptr, out.len);
					fail_msg("%s differs from %s:\n%s", path, golden, patch.ptr);
				}
				++*ngolden;
			}
			free(golden);
			/* the same file with CRLF line ends formats to the same result */
			buf_clear(&variant);
			for (size_t k = 0; k < in.len; k++) {
				if (in.ptr[k] == '\n')
					buf_putc(&variant, '\r');
				buf_putc(&variant, in.ptr[k]);
			}
			format_ok(&vout, path, variant.ptr, variant.len, sch);
			if (vout.len != out.len || memcmp(vout.ptr, out.ptr, out.len))
				fail_msg("%s: with CRLF line ends the result differs:\n%s", path, vout.ptr);
			/* and with a byte order mark, which it keeps */
			buf_clear(&variant);
			buf_puts(&variant, "\xEF\xBB\xBF");
			buf_add(&variant, in.ptr, in.len);
			format_ok(&vout, path, variant.ptr, variant.len, sch);
			if (vout.len != out.len + 3 || memcmp(vout.ptr, "\xEF\xBB\xBF", 3) || memcmp(vout.ptr + 3, out.ptr, out.len))
				fail_msg("%s: with a byte order mark the result differs:\n%s", path, vout.ptr);
			check_invariants(path, variant.ptr, variant.len, vout.ptr, vout.len, sch);
			++*nfiles;
		}
		free(path);
	}
	buf_free(&in);
	buf_free(&out);
	buf_free(&want);
	buf_free(&variant);
	buf_free(&vout);
	strlist_free(&names);
}

static void test_corpus(void **state)
{
	(void)state;
	char *dir = data_dir();
	size_t nfiles = 0, ngolden = 0;
	corpus_walk(dir, &nfiles, &ngolden);
	assert_true(nfiles >= 15);
	assert_true(ngolden >= 8);
	free(dir);
}

static void test_canonical_unchanged(void **state)
{
	(void)state;
	char *dir = data_dir(), *path = fs_join(dir, "canonical.run.yaml");
	buf in = BUF_INIT, out = BUF_INIT;
	read_all(&in, path);
	format_ok(&out, path, in.ptr, in.len, &schema_run_spec);
	assert_int_equal(out.len, in.len);
	assert_memory_equal(out.ptr, in.ptr, in.len);
	buf_free(&in);
	buf_free(&out);
	free(path);
	free(dir);
}

static void expect_format(const char *in, const char *want)
{
	buf out = BUF_INIT;
	format_ok(&out, "t.run.yaml", in, strlen(in), &schema_run_spec);
	assert_string_equal(out.ptr, want);
	check_invariants("t.run.yaml", in, strlen(in), out.ptr, out.len, &schema_run_spec);
	buf_free(&out);
}

static void test_reorder_moves_comments(void **state)
{
	(void)state;
	expect_format("# title\n"
		      "script: train.py   # entry\n"
		      "# which experiment\n"
		      "experiment: mnist\n"
		      "limits:\n"
		      "    # a day\n"
		      "    timeout: 1d\n"
		      "environment:\n"
		      "    python:\n"
		      "        pip_packages: [numpy]\n"
		      "        version: \"3.11\"\n"
		      "        # tail of python\n"
		      "    extends: AzureML-Minimal   # base\n"
		      "# end\n",
		      "# title\n"
		      "\n"
		      "# which experiment\n"
		      "experiment: mnist\n"
		      "script: train.py   # entry\n"
		      "environment:\n"
		      "  extends: AzureML-Minimal   # base\n"
		      "  python:\n"
		      "    version: \"3.11\"\n"
		      "    pip_packages: [numpy]\n"
		      "    # tail of python\n"
		      "limits:\n"
		      "  # a day\n"
		      "  timeout: 1d\n"
		      "# end\n");
	/* free-form maps (tags, environment_variables) keep their order */
	expect_format("experiment: e\ntags:\n  z: 1\n  a: 2\n", "experiment: e\ntags:\n  z: 1\n  a: 2\n");
	/* an unknown key keeps its mapping's order (validate reports it) */
	expect_format("script: s\nscrpit: t\nexperiment: e\n", "script: s\nscrpit: t\nexperiment: e\n");
	/* a comment at the column of an indentless sequence leads the next key */
	expect_format("experiment: e\nscript: s\narguments:\n- a\n# about target\ntarget: local\n",
		      "experiment: e\nscript: s\narguments:\n  - a\n# about target\ntarget: local\n");
}

static void test_layout(void **state)
{
	(void)state;
	/* spacing, blank lines, trailing blanks, final newline */
	expect_format("\n\nexperiment:    e   \nscript :  s\n\n\n\ntarget: local", "experiment: e\nscript: s\n\ntarget: local\n");
	/* sequences are indented under their key; '- ' with one space */
	expect_format("experiment: e\nscript: s\narguments:\n-    a\n-\n-   b   # c\n",
		      "experiment: e\nscript: s\narguments:\n  - a\n  -\n  - b   # c\n");
	/* a block scalar moves with its key and keeps its text; |+ keeps its blank lines */
	expect_format("script: |+\n    a\n\n\nexperiment: e\n", "experiment: e\nscript: |+\n    a\n\n\n");
	/* 4-space nesting becomes 2, a block scalar shifts as one block */
	expect_format("experiment: e\ntags:\n    t: |\n        x\n          y\n",
		      "experiment: e\ntags:\n  t: |\n      x\n        y\n");
}

static void test_quotes(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "\"mnist\"", "mnist" },         { "'train.py'", "train.py" },   { "\"./src\"", "./src" },
		{ "\"--lr\"", "--lr" },           { "\"a b\"", "a b" },           { "\"numpy==1.26.4\"", "numpy==1.26.4" },
		{ "\"~/x\"", "~/x" },             { "\"../up\"", "../up" },       { "\"run-1\"", "run-1" },
		{ "\"3.11\"", "\"3.11\"" },       { "\"10\"", "\"10\"" },         { "\"1e3\"", "\"1e3\"" },
		{ "\"0x1F\"", "\"0x1F\"" },       { "\".inf\"", "\".inf\"" },     { "\"-1\"", "\"-1\"" },
		{ "\"yes\"", "\"yes\"" },         { "\"No\"", "\"No\"" },         { "\"on\"", "\"on\"" },
		{ "\"true\"", "\"true\"" },       { "\"null\"", "\"null\"" },     { "\"~\"", "\"~\"" },
		{ "\"\"", "\"\"" },               { "\" x\"", "\" x\"" },         { "\"a: b\"", "\"a: b\"" },
		{ "\"a #b\"", "\"a #b\"" },       { "\"[x]\"", "\"[x]\"" },       { "\"{x}\"", "\"{x}\"" },
		{ "\"*x\"", "\"*x\"" },           { "\"&x\"", "\"&x\"" },         { "\"!x\"", "\"!x\"" },
		{ "\"|x\"", "\"|x\"" },           { "\">x\"", "\">x\"" },         { "\"%x\"", "\"%x\"" },
		{ "\"@x\"", "\"@x\"" },           { "\"`x\"", "\"`x\"" },         { "\"-\"", "\"-\"" },
		{ "\"- x\"", "\"- x\"" },         { "\"---\"", "\"---\"" },       { "\"?x\"", "\"?x\"" },
		{ "\"it's\"", "\"it's\"" },       { "\"é\"", "\"é\"" },           { "\"a\\tb\"", "\"a\\tb\"" },
		{ "\"2024-01-01\"", "\"2024-01-01\"" }, { "\"=\"", "\"=\"" },     { "\".hidden\"", "\".hidden\"" },
		{ "!!str x", "!!str x" },         { "3.11", "3.11" },             { "yes", "yes" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *in = xasprintf("experiment: e\ntags:\n  k: %s\n", cases[i][0]);
		char *want = xasprintf("experiment: e\ntags:\n  k: %s\n", cases[i][1]);
		expect_format(in, want);
		free(in);
		free(want);
	}
	/* keys too */
	expect_format("\"experiment\": e\n'script': s\n", "experiment: e\nscript: s\n");
	/* flow collections stay byte for byte */
	expect_format("experiment: e\nscript: s\narguments: [\"--lr\",   \"0.01\"]\n",
		      "experiment: e\nscript: s\narguments: [\"--lr\",   \"0.01\"]\n");
}

static void expect_as_written(const char *in, const char *why)
{
	diag_list d = DIAG_LIST_INIT;
	buf out = BUF_INIT;
	assert_int_equal(fmt_format(&out, "t.run.yaml", in, strlen(in), &schema_run_spec, &d), AML_OK);
	assert_string_equal(out.ptr, in);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 1);
	if (!strstr(d.items[0].message, why))
		fail_msg("warning '%s' does not mention '%s'", d.items[0].message, why);
	buf_free(&out);
	diag_list_free(&d);
}

static void test_left_as_written(void **state)
{
	(void)state;
	expect_as_written("{experiment: e, script: s}\n", "not a block mapping");
	expect_as_written("? experiment\n: e\nscript:  s\n", "explicit key");
	expect_as_written("script:  s\nexperiment: e\n...\n", "document end");
	expect_as_written("script:  s\nexperiment: |\n  e", "without a final newline");
	expect_as_written("script:  s\rexperiment: e\n", "carriage return");
	/* a comment-only file is left alone without a word */
	diag_list d = DIAG_LIST_INIT;
	buf out = BUF_INIT;
	assert_int_equal(fmt_format(&out, "t.run.yaml", "# nothing\n", 10, &schema_run_spec, &d), AML_OK);
	assert_string_equal(out.ptr, "# nothing\n");
	assert_int_equal(d.count, 0);
	buf_free(&out);
	diag_list_free(&d);
}

static void test_invalid(void **state)
{
	(void)state;
	diag_list d = DIAG_LIST_INIT;
	buf out = BUF_INIT;
	const char *in = "experiment: [a\nscript: x\n";
	assert_int_equal(fmt_format(&out, "bad.run.yaml", in, strlen(in), &schema_run_spec, &d), AML_EINVALID);
	assert_int_equal(out.len, 0);
	assert_int_equal(d.errors, 1);
	assert_string_equal(d.items[0].file, "bad.run.yaml");
	assert_int_equal(d.items[0].line, 2);
	assert_int_equal(d.items[0].col, 7);
	diag_list_free(&d);
	/* what the loader refuses, fmt refuses too */
	in = "experiment: &a x\nscript: *a\n";
	assert_int_equal(fmt_format(&out, "bad.run.yaml", in, strlen(in), &schema_run_spec, &d), AML_EINVALID);
	assert_true(d.errors >= 1);
	buf_free(&out);
	diag_list_free(&d);
}

static void test_workspace_schema(void **state)
{
	(void)state;
	assert_ptr_equal(fmt_schema_for_path("a/b/amlspec.yaml"), &schema_workspace);
	assert_ptr_equal(fmt_schema_for_path("a/run.yaml"), &schema_run_spec);
	buf out = BUF_INIT;
	const char *in = "targets:\n  box:\n    host: h\n    type: ssh\nversion: 1\n";
	format_ok(&out, "amlspec.yaml", in, strlen(in), &schema_workspace);
	assert_string_equal(out.ptr, "version: 1\ntargets:\n  box:\n    type: ssh\n    host: h\n");
	buf_free(&out);
}

static void expect_diff(const char *a, const char *b, const char *want)
{
	buf out = BUF_INIT;
	fmt_unified_diff(&out, "a/x", "b/x", a, strlen(a), b, strlen(b));
	assert_string_equal(out.ptr, want);
	buf_free(&out);
}

static void test_diff(void **state)
{
	(void)state;
	expect_diff("same\n", "same\n", "");
	expect_diff("a\nb\nc\n", "a\nB\nc\n", "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
	expect_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\nY\n12\n",
		    "--- a/x\n+++ b/x\n@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n 4\n 5\n@@ -8,5 +8,5 @@\n 8\n 9\n 10\n-11\n+Y\n 12\n");
	expect_diff("a\nb", "a\nb\n", "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
	expect_diff("", "a\n", "--- a/x\n+++ b/x\n@@ -0,0 +1,1 @@\n+a\n");
	expect_diff("x\ny\n", "y\nx\n", "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-x\n y\n+x\n");
}

/* Runs the verb in-process with its output silenced; returns its exit code. */
static int run_fmt(const char *const *args, size_t n)
{
	char *argv[8];
	assert_true(n < 8);
	for (size_t i = 0; i < n; i++)
		argv[i] = (char *)args[i];
	argv[n] = NULL;
	cli ctx = { .verb = "fmt" };
	fflush(stdout);
	fflush(stderr);
	int out = dup(1), err = dup(2), devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, 1);
	dup2(devnull, 2);
	int rc = cmd_fmt((int)n, argv, &ctx);
	fflush(stdout);
	fflush(stderr);
	dup2(out, 1);
	dup2(err, 2);
	close(out);
	close(err);
	close(devnull);
	return rc;
}

static void test_cmd_rewrites_in_place(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "run.yaml", "script: s   # the script\nexperiment: e\n");
	tu_write(dir, "sub/amlspec.yaml", "version: 1\n");
	tu_write(dir, "sub/notes.yaml", "b: 1\na: 2\n");
	char *path = fs_join(dir, "run.yaml"), *notes = fs_join(dir, "sub/notes.yaml");
	assert_int_equal(chmod(path, 0640), 0);

	const char *check[] = { "fmt", "--check", dir };
	const char *diff[] = { "fmt", "--diff", dir };
	const char *write[] = { "fmt", dir };
	const char *bad[] = { "fmt", "--bogus" };
	assert_int_equal(run_fmt(bad, 2), EXIT_USAGE);
	assert_int_equal(run_fmt(check, 3), EXIT_FMT);
	assert_int_equal(run_fmt(diff, 3), EXIT_OK);
	buf b = BUF_INIT;
	read_all(&b, path);
	assert_string_equal(b.ptr, "script: s   # the script\nexperiment: e\n"); /* --check and --diff change nothing */
	assert_int_equal(run_fmt(write, 2), EXIT_OK);
	read_all(&b, path);
	assert_string_equal(b.ptr, "experiment: e\nscript: s   # the script\n");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	read_all(&b, notes); /* not a spec name: a folder search leaves it alone */
	assert_string_equal(b.ptr, "b: 1\na: 2\n");
	assert_int_equal(run_fmt(check, 3), EXIT_OK);

	tu_write(dir, "broken.run.yaml", "experiment: [a\n");
	assert_int_equal(run_fmt(write, 2), EXIT_FAIL);
	char *broken = fs_join(dir, "broken.run.yaml");
	read_all(&b, broken); /* reported and left alone */
	assert_string_equal(b.ptr, "experiment: [a\n");
	free(broken);
	buf_free(&b);
	free(path);
	free(notes);
	tu_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_canonical_unchanged),
		cmocka_unit_test(test_reorder_moves_comments),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_left_as_written),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_workspace_schema),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_cmd_rewrites_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
