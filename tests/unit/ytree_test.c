/* ytree: the YAML loader. Every diagnostic it can emit, with its exact line
 * and column, scalar typing under the YAML 1.2 core schema, and the limits
 * that keep hostile files cheap. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spec/ytree.h"
#include "util/buf.h"
#include "util/fs.h"

static diag_list D;

static ydoc *parse_n(const char *text, size_t len, const ydoc_limits *lim)
{
	diag_list_free(&D);
	ydoc *doc = (ydoc *)0x1;
	int rc = ydoc_parse(&doc, "t.yaml", text, len, lim, &D);
	if (rc) {
		assert_int_equal(rc, AML_EINVALID);
		assert_null(doc);
		assert_true(D.errors > 0);
	} else {
		assert_non_null(doc);
		assert_int_equal(D.count, 0);
	}
	return doc;
}

static ydoc *parse(const char *text)
{
	return parse_n(text, strlen(text), NULL);
}

/* The diagnostics, sorted, one "LINE:COL MESSAGE" per line. */
static char *diags_text(void)
{
	buf b = BUF_INIT;
	diag_list_sort(&D);
	for (size_t i = 0; i < D.count; i++) {
		assert_string_equal(D.items[i].file, "t.yaml");
		assert_int_equal(D.items[i].severity, DIAG_ERROR);
		assert_null(D.items[i].path);
		buf_printf(&b, "%u:%u %s\n", D.items[i].line, D.items[i].col, D.items[i].message);
	}
	return buf_detach(&b);
}

#define expect_invalid_n(text, len, lim, want)                                  \
	do {                                                                    \
		assert_null(parse_n((text), (len), (lim)));                     \
		char *got_ = diags_text();                                      \
		assert_string_equal(got_, (want));                              \
		free(got_);                                                     \
	} while (0)
#define expect_invalid(text, want) expect_invalid_n((text), strlen(text), NULL, (want))

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The time bounds are for a normal build; sanitizers and valgrind slow
 * everything down. */
static double time_limit(void)
{
	double t = 0.5;
#if defined(__SANITIZE_ADDRESS__)
	t *= 10;
#endif
	const char *pre = getenv("LD_PRELOAD");
	if (pre && strstr(pre, "vgpreload"))
		t *= 40;
	return t;
}

static int teardown(void **state)
{
	(void)state;
	diag_list_free(&D);
	return 0;
}

/* ---- a valid document ---- */

static void test_tree_shape_and_positions(void **state)
{
	(void)state;
	ydoc *doc = parse("# comment\nexperiment: mnist\nargs: [--lr, 0.01]\nenv:\n  A: '1'\n");
	ynode *r = doc->root;
	assert_int_equal(r->kind, YN_MAP);
	assert_false(r->flow);
	assert_int_equal(r->count, 3);
	assert_int_equal(r->line, 2);
	assert_int_equal(r->col, 1);
	ynode *k = ynode_map_key(r, 0), *v = ynode_map_value(r, 0);
	assert_string_equal(k->value, "experiment");
	assert_int_equal(k->line, 2);
	assert_int_equal(k->col, 1);
	assert_string_equal(v->value, "mnist");
	assert_int_equal(v->line, 2);
	assert_int_equal(v->col, 13);
	ynode *args = ynode_map_get(r, "args");
	assert_int_equal(args->kind, YN_SEQ);
	assert_true(args->flow);
	assert_int_equal(args->count, 2);
	assert_int_equal(args->line, 3);
	assert_int_equal(args->col, 7);
	assert_string_equal(args->items[1]->value, "0.01");
	assert_int_equal(args->items[1]->stype, YS_FLOAT);
	assert_int_equal(args->items[1]->col, 14);
	ynode *env = ynode_map_get(r, "env");
	assert_int_equal(env->kind, YN_MAP);
	assert_int_equal(env->line, 5);
	assert_int_equal(env->col, 3);
	ynode *a = ynode_map_get(env, "A");
	assert_true(a->quoted);
	assert_int_equal(a->stype, YS_STRING);
	assert_int_equal(a->col, 6);
	assert_null(ynode_map_get(r, "nope"));
	assert_null(ynode_map_get(args, "x"));
	assert_null(ynode_map_get(NULL, "x"));
	assert_true(ynode_is_scalar(v));
	assert_false(ynode_is_scalar(args));
	assert_false(ynode_is_scalar(NULL));
	assert_string_equal(doc->file, "t.yaml");
	assert_int_equal(doc->len, strlen(doc->text));
	ydoc_free(doc);
}

/* start and end are byte offsets into the text, whatever the characters */
static void test_byte_offsets(void **state)
{
	(void)state;
	const char *text = "\xc3\xa9t\xc3\xa9: \xe2\x82\xac" "ab\nc: [x, \"\xf0\x9f\x98\x80\"]\n";
	ydoc *doc = parse(text);
	ynode *k = ynode_map_key(doc->root, 0), *v = ynode_map_value(doc->root, 0);
	assert_int_equal(k->start, 0);
	assert_int_equal(k->end, 5);
	assert_int_equal(v->start, 7);
	assert_int_equal(v->end, 12);
	assert_int_equal(v->col, 6);
	ynode *seq = ynode_map_get(doc->root, "c");
	assert_int_equal(seq->start, 16);
	assert_memory_equal(doc->text + seq->start, "[x, \"\xf0\x9f\x98\x80\"]", seq->end - seq->start);
	assert_int_equal(seq->end - seq->start, 11);
	ynode *q = seq->items[1];
	assert_memory_equal(doc->text + q->start, "\"\xf0\x9f\x98\x80\"", q->end - q->start);
	assert_int_equal(q->end - q->start, 6);
	ydoc_free(doc);
}

/* a UTF-8 byte order mark is not a column, and not part of the text's nodes */
static void test_byte_order_mark(void **state)
{
	(void)state;
	ydoc *doc = parse("\xef\xbb\xbfk: v\n");
	ynode *v = ynode_map_value(doc->root, 0);
	assert_int_equal(ynode_map_key(doc->root, 0)->col, 1);
	assert_int_equal(v->col, 4);
	assert_int_equal(v->start, 6);
	assert_int_equal(v->end, 7);
	ydoc_free(doc);
	expect_invalid("\xef\xbb\xbfk: \xff\n", "1:4 invalid UTF-8 byte sequence\n");
	expect_invalid("\xef\xbb\xbfk: \x01\n", "1:4 control character U+0001 is not allowed in YAML\n");
	expect_invalid("\xef\xbb\xbf\tk: 1\n", "1:1 tab character in indentation; YAML allows only spaces\n");
}

static void test_kind_names(void **state)
{
	(void)state;
	ydoc *doc = parse("a: x\nb: 1\nc: 1.5\nd: true\ne: ~\nf: []\ng: {}\n");
	const char *want[] = { "string", "integer", "number", "boolean", "null", "sequence", "mapping" };
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(ynode_kind_name(ynode_map_value(doc->root, i)), want[i]);
	assert_string_equal(ynode_kind_name(NULL), "nothing");
	ydoc_free(doc);
}

static void test_empty_documents(void **state)
{
	(void)state;
	const char *empties[] = { "", "\n", "# only a comment\n", "   \n\n# x\n" };
	for (size_t i = 0; i < 4; i++) {
		ydoc *doc = parse(empties[i]);
		assert_null(doc->root);
		ydoc_free(doc);
	}
	/* an explicit document with nothing in it: a null scalar */
	ydoc *doc = parse("---\n");
	assert_non_null(doc->root);
	assert_int_equal(doc->root->kind, YN_SCALAR);
	assert_int_equal(doc->root->stype, YS_NULL);
	ydoc_free(doc);
	/* one document with explicit markers is one document */
	doc = parse("---\na: 1\n...\n");
	assert_int_equal(doc->root->count, 1);
	ydoc_free(doc);
}

/* ---- YAML 1.2 core schema typing ---- */

static void test_scalar_typing(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		yscalar_type type;
		bool quoted;
	} cases[] = {
		{ "3.10", YS_FLOAT, false },   { "\"3.10\"", YS_STRING, true }, { "'3.10'", YS_STRING, true },
		{ "010", YS_INT, false },      { "0x1F", YS_INT, false },       { "0o17", YS_INT, false },
		{ "-12", YS_INT, false },      { "+7", YS_INT, false },         { "0", YS_INT, false },
		{ "true", YS_BOOL, false },    { "True", YS_BOOL, false },      { "TRUE", YS_BOOL, false },
		{ "false", YS_BOOL, false },   { "False", YS_BOOL, false },     { "FALSE", YS_BOOL, false },
		{ "tRUE", YS_STRING, false },  { "yes", YS_STRING, false },     { "no", YS_STRING, false },
		{ "on", YS_STRING, false },    { "off", YS_STRING, false },     { "y", YS_STRING, false },
		{ "~", YS_NULL, false },       { "null", YS_NULL, false },      { "Null", YS_NULL, false },
		{ "NULL", YS_NULL, false },    { "", YS_NULL, false },          { "nULL", YS_STRING, false },
		{ ".inf", YS_FLOAT, false },   { "-.inf", YS_FLOAT, false },    { "+.Inf", YS_FLOAT, false },
		{ ".INF", YS_FLOAT, false },   { ".nan", YS_FLOAT, false },     { ".NaN", YS_FLOAT, false },
		{ "-.nan", YS_STRING, false }, { "1e3", YS_FLOAT, false },      { "1.5e-3", YS_FLOAT, false },
		{ "1E+3", YS_FLOAT, false },   { ".5", YS_FLOAT, false },       { "5.", YS_FLOAT, false },
		{ "1e", YS_STRING, false },    { ".", YS_STRING, false },       { "1_000", YS_STRING, false },
		{ "0b101", YS_STRING, false }, { "12:30", YS_STRING, false },   { "2024-01-01", YS_STRING, false },
		{ "0x", YS_STRING, false },    { "0xG", YS_STRING, false },     { "-0x1F", YS_STRING, false },
		{ "0o8", YS_STRING, false },   { "1.2.3", YS_STRING, false },   { "\"\"", YS_STRING, true },
		{ "\"true\"", YS_STRING, true }, { "'~'", YS_STRING, true },    { "!!str 3.10", YS_STRING, false },
		{ "!!int 3", YS_INT, false },  { "!!bool true", YS_BOOL, false }, { "!!null ~", YS_NULL, false },
		{ "!!float 1.5", YS_FLOAT, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = xasprintf("k: %s\n", cases[i].text);
		ydoc *doc = parse(text);
		ynode *v = ynode_map_value(doc->root, 0);
		if (v->stype != cases[i].type || v->quoted != cases[i].quoted)
			fail_msg("%s: type %d quoted %d, expected %d %d", cases[i].text, v->stype, v->quoted, cases[i].type,
				 cases[i].quoted);
		ydoc_free(doc);
		free(text);
	}
	/* block scalars are strings, and count as quoted */
	ydoc *doc = parse("k: |\n  3.10\nl: >-\n  true\n");
	assert_int_equal(ynode_map_value(doc->root, 0)->stype, YS_STRING);
	assert_true(ynode_map_value(doc->root, 0)->quoted);
	assert_string_equal(ynode_map_value(doc->root, 0)->value, "3.10\n");
	assert_int_equal(ynode_map_value(doc->root, 1)->stype, YS_STRING);
	assert_string_equal(ynode_map_value(doc->root, 1)->value, "true");
	ydoc_free(doc);
}

/* ---- syntax errors at libyaml's problem mark ---- */

static void test_syntax_errors(void **state)
{
	(void)state;
	/* unclosed flow sequence: the problem is where the sequence should go on */
	expect_invalid("a: [1, 2\nb: 3\n",
		       "2:2 did not find expected ',' or ']' (while parsing a flow sequence at line 1, column 4)\n");
	expect_invalid("a: [1, 2\n",
		       "2:1 did not find expected ',' or ']' (while parsing a flow sequence at line 1, column 4)\n");
	expect_invalid("a: {b: 1\n",
		       "2:1 did not find expected ',' or '}' (while parsing a flow mapping at line 1, column 4)\n");
	/* bad indentation */
	expect_invalid("a:\n  b: 1\n c: 2\n",
		       "3:2 did not find expected key (while parsing a block mapping at line 1, column 1)\n");
	expect_invalid("a: b: c\n", "1:5 mapping values are not allowed in this context\n");
	expect_invalid("a: \"unterminated\n",
		       "2:1 found unexpected end of stream (while scanning a quoted scalar at line 1, column 4)\n");
	expect_invalid("a: 1\n- b\n",
		       "2:1 did not find expected key (while parsing a block mapping at line 1, column 1)\n");
	expect_invalid("a: @x\n",
		       "1:4 found character that cannot start any token (while scanning for the next token at line 1, column 4)\n");
}

/* ---- tabs ---- */

static void test_tabs(void **state)
{
	(void)state;
	expect_invalid("a:\n\tb: 1\n", "2:1 tab character in indentation; YAML allows only spaces\n");
	expect_invalid("a:\n  b: 1\n  \tc: 1\n", "3:3 tab character in indentation; YAML allows only spaces\n");
	expect_invalid("a: 1\n\t\nb: 2\n", "2:1 tab character in indentation; YAML allows only spaces\n");
	expect_invalid("a: |\n  \tx\n", "2:3 tab character in indentation; YAML allows only spaces\n");
	expect_invalid("a: b\n\tc: d\n", "2:1 tab character in indentation; YAML allows only spaces\n");
	/* after '-' */
	expect_invalid("a:\n  - b\n  -\tc\n", "3:4 tab character where YAML expects a space\n");
	/* a tab elsewhere does not hide the real error */
	expect_invalid("a: 1\n \t# c\nb: [\n",
		       "4:1 did not find expected node content (while parsing a flow node at line 4, column 1)\n");
	expect_invalid("a: |\n  x\n  \ty\nb: [\n",
		       "5:1 did not find expected node content (while parsing a flow node at line 5, column 1)\n");
	/* tabs that are not indentation are fine */
	ydoc *doc = parse("a:\tb\nc: x\ty\nd: [1,\n\t2]\ne: |\n  x\n  \ty\n");
	assert_string_equal(ynode_map_get(doc->root, "a")->value, "b");
	assert_string_equal(ynode_map_get(doc->root, "c")->value, "x\ty");
	assert_int_equal(ynode_map_get(doc->root, "d")->count, 2);
	assert_string_equal(ynode_map_get(doc->root, "e")->value, "x\n\ty\n");
	ydoc_free(doc);
}

/* ---- encoding ---- */

static void test_invalid_utf8(void **state)
{
	(void)state;
	/* the column counts characters: é is one */
	expect_invalid("x: \xc3\xa9\xff\n", "1:5 invalid UTF-8 byte sequence\n");
	expect_invalid("a: 1\nbé: \xc3\xa9\xc3\xa9 \xe2\x82\n", "2:8 invalid UTF-8 byte sequence\n");
	/* truncated at the end of the file */
	expect_invalid("a: \xe2\x82", "1:4 invalid UTF-8 byte sequence\n");
	/* overlong encoding, surrogate, beyond U+10FFFF, stray continuation byte */
	expect_invalid("a: \xc0\x80\n", "1:4 invalid UTF-8 byte sequence\n");
	expect_invalid("a: \xed\xa0\x80\n", "1:4 invalid UTF-8 byte sequence\n");
	expect_invalid("a: \xf4\x90\x80\x80\n", "1:4 invalid UTF-8 byte sequence\n");
	expect_invalid("\n\n  \x80\n", "3:3 invalid UTF-8 byte sequence\n");
	/* valid multi-byte text of every length */
	ydoc *doc = parse("a: \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\n");
	assert_string_equal(ynode_map_value(doc->root, 0)->value, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	ydoc_free(doc);
}

static void test_nul(void **state)
{
	(void)state;
	expect_invalid_n("a: b\0c\n", 7, NULL, "1:5 NUL byte in file\n");
	expect_invalid_n("a: 1\n\0", 6, NULL, "2:1 NUL byte in file\n");
	/* an escaped NUL in a double-quoted string */
	expect_invalid("a: 1\nb: \"x\\0y\"\n", "2:4 NUL character in a string\n");
}

static void test_control_characters(void **state)
{
	(void)state;
	/* YAML allows only printable characters: say which one, and where */
	expect_invalid("a: b\x01\n", "1:5 control character U+0001 is not allowed in YAML\n");
	expect_invalid("a: 1\nb: \xc3\xa9\x7f\n", "2:5 control character U+007F is not allowed in YAML\n");
	expect_invalid("a: \xc2\x80\n", "1:4 control character U+0080 is not allowed in YAML\n");
	expect_invalid("a: \x1b[31m\n", "1:4 control character U+001B is not allowed in YAML\n");
	expect_invalid("a: \xef\xbf\xbe\n", "1:4 control character U+FFFE is not allowed in YAML\n");
	/* tab, CR LF and NBSP are fine */
	ydoc *doc = parse("a: x\ty\r\nb: \xc2\xa0z\r\n");
	assert_string_equal(ynode_map_get(doc->root, "a")->value, "x\ty");
	assert_int_equal(ynode_map_get(doc->root, "b")->line, 2);
	ydoc_free(doc);
}

/* ---- document structure ---- */

static void test_multiple_documents(void **state)
{
	(void)state;
	expect_invalid("a: 1\n---\nb: 2\n", "2:1 more than one YAML document in the file; a spec is one document\n");
	expect_invalid("---\na: 1\n---\n", "3:1 more than one YAML document in the file; a spec is one document\n");
}

static void test_anchors_and_aliases(void **state)
{
	(void)state;
	expect_invalid("a: &x 1\nb: *x\n",
		       "1:4 YAML anchors (&x) are not supported\n"
		       "2:4 YAML aliases (*x) are not supported; write the value out\n");
	expect_invalid("a: &m {b: 1}\n", "1:4 YAML anchors (&m) are not supported\n");
	expect_invalid("a: &s\n  - 1\n", "1:4 YAML anchors (&s) are not supported\n");
	expect_invalid("a:\n  - *undefined\n", "2:5 YAML aliases (*undefined) are not supported; write the value out\n");
	/* a merge key is just a key, and its alias is refused */
	expect_invalid("base: &b {x: 1}\nrun:\n  <<: *b\n",
		       "1:7 YAML anchors (&b) are not supported\n"
		       "3:7 YAML aliases (*b) are not supported; write the value out\n");
}

static void test_tags(void **state)
{
	(void)state;
	expect_invalid("a: !foo x\n", "1:4 unsupported YAML tag '!foo'\n");
	/* shown as written */
	expect_invalid("a: !!binary aGk=\n", "1:4 unsupported YAML tag '!!binary'\n");
	expect_invalid("a: !!int x\n", "1:4 unsupported YAML tag '!!int'\n");
	expect_invalid("a: !!map [1]\n", "1:4 unsupported YAML tag '!!map'\n");
	expect_invalid("a: !!set {x}\n", "1:4 unsupported YAML tag '!!set'\n");
	expect_invalid("a: !<tag:example.com,2000:x> 1\n", "1:4 unsupported YAML tag 'tag:example.com,2000:x'\n");
	ydoc *doc = parse("a: !!map {b: 1}\nc: !!seq [1]\nd: ! x\n");
	ydoc_free(doc);
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	expect_invalid("a: 1\nb: 2\na: 3\n", "3:1 duplicate key 'a' (first defined at line 1, column 1)\n");
	/* nested, in flow style, and several at once */
	expect_invalid("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n",
		       "4:3 duplicate key 'c' (first defined at line 3, column 3)\n"
		       "5:1 duplicate key 'a' (first defined at line 1, column 1)\n");
	expect_invalid("t: {x: 1, y: 2, x: 3}\n", "1:17 duplicate key 'x' (first defined at line 1, column 5)\n");
	expect_invalid("a: 1\na: 2\na: 3\n",
		       "2:1 duplicate key 'a' (first defined at line 1, column 1)\n"
		       "3:1 duplicate key 'a' (first defined at line 1, column 1)\n");
	/* quoting does not make a different key */
	expect_invalid("a: 1\n\"a\": 2\n", "2:1 duplicate key 'a' (first defined at line 1, column 1)\n");
	/* found even when the document fails later */
	expect_invalid("a: 1\na: 2\nb: [\n",
		       "2:1 duplicate key 'a' (first defined at line 1, column 1)\n"
		       "4:1 did not find expected node content (while parsing a flow node at line 4, column 1)\n");
	/* the same key in different mappings is fine */
	ydoc *doc = parse("a: {x: 1}\nb: {x: 1}\nc:\n  - x: 1\n  - x: 2\n");
	ydoc_free(doc);
}

/* A mapping with 50,000 keys (inside the node and size limits) is checked
 * for duplicates quickly, not in quadratic time. */
static void test_many_keys(void **state)
{
	(void)state;
	buf b = BUF_INIT;
	buf_puts(&b, "{");
	for (int i = 0; i < 49999; i++)
		buf_printf(&b, "%sk%d: 1", i ? ", " : "", i);
	buf_puts(&b, "}\n");
	assert_true(b.len < 1024 * 1024);
	double t0 = now();
	ydoc *doc = parse(b.ptr);
	assert_true(now() - t0 < time_limit());
	assert_int_equal(doc->root->count, 49999);
	ydoc_free(doc);
	/* every key twice: each second one is reported, in document order */
	buf_clear(&b);
	for (int i = 0; i < 20000; i++)
		buf_printf(&b, "k%d: 1\n", i);
	for (int i = 0; i < 20000; i++)
		buf_printf(&b, "k%d: 2\n", i);
	t0 = now();
	assert_null(parse(b.ptr));
	assert_true(now() - t0 < time_limit());
	assert_int_equal(D.count, 20000);
	assert_int_equal(D.items[0].line, 20001);
	assert_string_equal(D.items[0].message, "duplicate key 'k0' (first defined at line 1, column 1)");
	assert_int_equal(D.items[19999].line, 40000);
	assert_string_equal(D.items[19999].message, "duplicate key 'k19999' (first defined at line 20000, column 1)");
	buf_free(&b);
}

static void test_non_scalar_keys(void **state)
{
	(void)state;
	expect_invalid("? [a]\n: 1\n", "1:3 mapping keys must be plain strings, not a sequence\n");
	expect_invalid("? {a: 1}\n: 1\n", "1:3 mapping keys must be plain strings, not a mapping\n");
	expect_invalid("x: {[a]: 1}\n", "1:5 mapping keys must be plain strings, not a sequence\n");
}

/* ---- limits ---- */

static void test_depth_limit(void **state)
{
	(void)state;
	/* 10,000 nested '[' are refused at the 65th level, quickly */
	buf b = BUF_INIT;
	for (int i = 0; i < 10000; i++)
		buf_putc(&b, '[');
	double t0 = now();
	expect_invalid(b.ptr, "1:65 nesting deeper than 64 levels; refusing to load it\n");
	assert_true(now() - t0 < time_limit());
	buf_clear(&b);
	buf_puts(&b, "a: ");
	for (int i = 0; i < 10000; i++)
		buf_puts(&b, "{a: ");
	expect_invalid(b.ptr, "1:256 nesting deeper than 64 levels; refusing to load it\n");
	/* block style */
	buf_clear(&b);
	for (int i = 0; i < 70; i++) {
		for (int j = 0; j < i; j++)
			buf_puts(&b, "  ");
		buf_printf(&b, "k%d:\n", i);
	}
	expect_invalid(b.ptr, "65:129 nesting deeper than 64 levels; refusing to load it\n");
	/* exactly at the limit is fine */
	buf_clear(&b);
	for (int i = 0; i < 64; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < 64; i++)
		buf_putc(&b, ']');
	ydoc_free(parse(b.ptr));
	/* a lower limit */
	ydoc_limits lim = { 1024, 2, 100 };
	expect_invalid_n("a: [[1]]\n", 9, &lim, "1:5 nesting deeper than 2 levels; refusing to load it\n");
	buf_free(&b);
}

static void test_node_limit(void **state)
{
	(void)state;
	ydoc_limits lim = { 1024, 64, 5 };
	/* map, key, seq, 1, 2 = 5 nodes; the 6th is refused where it starts */
	ydoc_free(parse_n("a: [1, 2]\n", 10, &lim));
	expect_invalid_n("a: [1, 2, 3]\n", 13, &lim, "1:11 document has more than 5 nodes; refusing to load it\n");
	/* the default: 100,000 */
	buf b = BUF_INIT;
	buf_puts(&b, "a: [");
	for (int i = 0; i < 100001; i++)
		buf_puts(&b, i ? ",1" : "1");
	buf_puts(&b, "]\n");
	double t0 = now();
	expect_invalid(b.ptr, "1:199999 document has more than 100000 nodes; refusing to load it\n");
	assert_true(now() - t0 < time_limit());
	buf_free(&b);
}

static void test_size_limit_in_memory(void **state)
{
	(void)state;
	ydoc_limits lim = { 10, 64, 100 };
	ydoc_free(parse_n("a: 1234567", 10, &lim));
	diag_list_free(&D);
	ydoc *doc = NULL;
	assert_int_equal(ydoc_parse(&doc, "t.yaml", "a: 12345678", 11, &lim, &D), AML_EINVALID);
	assert_null(doc);
	assert_int_equal(D.count, 1);
	assert_int_equal(D.items[0].line, 0);
	assert_string_equal(D.items[0].message, "file is 11 bytes; the limit is 10 bytes");
}

static void test_size_limit_file(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = fs_join(dir, "big.run.yaml");
	/* a real 10 MB file */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	char line[100];
	memset(line, 'x', sizeof(line));
	line[0] = '#';
	line[99] = '\n';
	for (int i = 0; i < 100000; i++)
		fwrite(line, 1, sizeof(line), f);
	fclose(f);
	diag_list_free(&D);
	ydoc *doc = NULL;
	double t0 = now();
	assert_int_equal(ydoc_load_file(&doc, path, "big.run.yaml", NULL, &D), AML_EINVALID);
	assert_true(now() - t0 < time_limit());
	assert_null(doc);
	assert_int_equal(D.count, 1);
	assert_string_equal(D.items[0].file, "big.run.yaml");
	assert_int_equal(D.items[0].line, 0);
	assert_string_equal(D.items[0].message, "file is larger than 1048576 bytes; refusing to read it");

	/* a sparse 64 GB file: refused without reading it (reading would take minutes) */
	int fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	if (ftruncate(fd, (off_t)64 << 30) == 0) {
		close(fd);
		diag_list_free(&D);
		t0 = now();
		assert_int_equal(ydoc_load_file(&doc, path, "big.run.yaml", NULL, &D), AML_EINVALID);
		assert_true(now() - t0 < time_limit());
		assert_string_equal(D.items[0].message, "file is larger than 1048576 bytes; refusing to read it");
	} else {
		close(fd);
	}

	/* a pipe that never ends: reading stops past the limit */
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int w = open(path, O_WRONLY);
		char chunk[65536];
		memset(chunk, 'a', sizeof(chunk));
		for (;;)
			if (write(w, chunk, sizeof(chunk)) < 0)
				_exit(0);
	}
	diag_list_free(&D);
	t0 = now();
	assert_int_equal(ydoc_load_file(&doc, path, "big.run.yaml", NULL, &D), AML_EINVALID);
	assert_true(now() - t0 < time_limit());
	assert_string_equal(D.items[0].message, "file is larger than 1048576 bytes; refusing to read it");
	int st;
	waitpid(pid, &st, 0);

	/* a missing file */
	diag_list_free(&D);
	assert_int_equal(ydoc_load_file(&doc, "/nonexistent/x.yaml", "x.yaml", NULL, &D), AML_EIO);
	assert_string_equal(D.items[0].message, "cannot read: No such file or directory");
	/* a folder */
	diag_list_free(&D);
	assert_int_equal(ydoc_load_file(&doc, dir, "d", NULL, &D), AML_EIO);
	assert_string_equal(D.items[0].message, "cannot read: Is a directory");

	free(path);
	tu_rmtree(dir);
	free(dir);
}

static void test_load_file_ok(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "a.yaml", "k: v\n");
	char *path = fs_join(dir, "a.yaml");
	diag_list_free(&D);
	ydoc *doc = NULL;
	assert_int_equal(ydoc_load_file(&doc, path, NULL, NULL, &D), AML_OK);
	assert_string_equal(doc->file, path);
	assert_string_equal(ynode_map_get(doc->root, "k")->value, "v");
	ydoc_free(doc);
	free(path);
	tu_rmtree(dir);
	free(dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_tree_shape_and_positions, teardown),
		cmocka_unit_test_teardown(test_byte_offsets, teardown),
		cmocka_unit_test_teardown(test_byte_order_mark, teardown),
		cmocka_unit_test_teardown(test_kind_names, teardown),
		cmocka_unit_test_teardown(test_empty_documents, teardown),
		cmocka_unit_test_teardown(test_scalar_typing, teardown),
		cmocka_unit_test_teardown(test_syntax_errors, teardown),
		cmocka_unit_test_teardown(test_tabs, teardown),
		cmocka_unit_test_teardown(test_invalid_utf8, teardown),
		cmocka_unit_test_teardown(test_nul, teardown),
		cmocka_unit_test_teardown(test_control_characters, teardown),
		cmocka_unit_test_teardown(test_multiple_documents, teardown),
		cmocka_unit_test_teardown(test_anchors_and_aliases, teardown),
		cmocka_unit_test_teardown(test_tags, teardown),
		cmocka_unit_test_teardown(test_duplicate_keys, teardown),
		cmocka_unit_test_teardown(test_many_keys, teardown),
		cmocka_unit_test_teardown(test_non_scalar_keys, teardown),
		cmocka_unit_test_teardown(test_depth_limit, teardown),
		cmocka_unit_test_teardown(test_node_limit, teardown),
		cmocka_unit_test_teardown(test_size_limit_in_memory, teardown),
		cmocka_unit_test_teardown(test_size_limit_file, teardown),
		cmocka_unit_test_teardown(test_load_file_ok, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
