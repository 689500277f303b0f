/* diag: the diagnostics list, its order and format, and "did you mean". */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/diag.h"

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

static void test_suggest_typos(void **state)
{
	(void)state;
	const char *targets[] = { "local", "gpu-vm", "hpc" };
	/* an adjacent transposition is one edit */
	assert_string_equal(diag_suggest("lcoal", targets, 3), "local");
	assert_string_equal(diag_suggest("locl", targets, 3), "local");
	assert_string_equal(diag_suggest("gpu-v", targets, 3), "gpu-vm");
	assert_string_equal(diag_suggest("gpuvm", targets, 3), "gpu-vm");
	/* case differences alone are a match */
	assert_string_equal(diag_suggest("LOCAL", targets, 3), "local");
	assert_string_equal(diag_suggest("Hpc", targets, 3), "hpc");
	/* too far from everything */
	assert_null(diag_suggest("cloud", targets, 3));
	assert_null(diag_suggest("x", targets, 3));
	assert_null(diag_suggest("hpcxx", targets, 3));

	const char *keys[] = { "version", "experiment", "name", "description", "tags", "source_directory", "script",
			       "command", "arguments", "environment", "environment_variables", "secrets", "target",
			       "framework", "distribution", "limits" };
	size_t nk = sizeof(keys) / sizeof(keys[0]);
	assert_string_equal(diag_suggest("nmae", keys, nk), "name");
	assert_string_equal(diag_suggest("scirpt", keys, nk), "script");
	assert_string_equal(diag_suggest("enviroment", keys, nk), "environment");
	assert_string_equal(diag_suggest("environment_variable", keys, nk), "environment_variables");
	assert_null(diag_suggest("env_variables", keys, nk));
	assert_string_equal(diag_suggest("sourcedirectory", keys, nk), "source_directory");
	assert_string_equal(diag_suggest("experiments", keys, nk), "experiment");
	assert_string_equal(diag_suggest("Framework", keys, nk), "framework");
	assert_null(diag_suggest("timeout", keys, nk));
	assert_null(diag_suggest("", keys, nk));

	const char *envs[] = { "AzureML-Minimal", "AzureML-Tutorial", "AzureML-PyTorch-1.6-GPU" };
	assert_string_equal(diag_suggest("AzureML-Minmal", envs, 3), "AzureML-Minimal");
	assert_string_equal(diag_suggest("azureml-minimal", envs, 3), "AzureML-Minimal");
	assert_string_equal(diag_suggest("AzureML-Pytorch-1.6-GPU", envs, 3), "AzureML-PyTorch-1.6-GPU");
	assert_string_equal(diag_suggest("AzureML-PyTorch-1.5-GPU", envs, 3), "AzureML-PyTorch-1.6-GPU");
	assert_null(diag_suggest("Minimal", envs, 3));
}

static void test_suggest_limits(void **state)
{
	(void)state;
	/* the allowed distance grows with the word: a third of it, 1 to 4 edits */
	const char *c1[] = { "ab" };
	assert_string_equal(diag_suggest("ax", c1, 1), "ab");
	assert_null(diag_suggest("xy", c1, 1));
	const char *c2[] = { "abcdef" };
	assert_string_equal(diag_suggest("abcxyf", c2, 1), "abcdef");
	assert_null(diag_suggest("axcxyf", c2, 1));
	const char *c3[] = { "abcdefghijklmnopqrstuvwxyz" };
	assert_string_equal(diag_suggest("abcdefghijklmnopqrstuv", c3, 1), "abcdefghijklmnopqrstuvwxyz");
	assert_null(diag_suggest("abcdefghijklmnopqrstu", c3, 1));
	/* the closest wins; ties go to the first */
	const char *c4[] = { "gpu1", "gpu2", "gpu" };
	assert_string_equal(diag_suggest("gpu3", c4, 3), "gpu1");
	assert_string_equal(diag_suggest("gpu", c4, 3), "gpu");
	/* NULL candidates are skipped, an empty list suggests nothing */
	const char *c5[] = { NULL, "local" };
	assert_string_equal(diag_suggest("lcoal", c5, 2), "local");
	assert_null(diag_suggest("lcoal", c5, 0));
	/* very long words are not compared */
	char longw[100];
	memset(longw, 'a', 99);
	longw[99] = '\0';
	const char *c6[] = { longw };
	assert_null(diag_suggest("aaaa", c6, 1));
	assert_string_equal(diag_suggest(longw, c6, 1), longw);
}

static void test_add_and_counts(void **state)
{
	(void)state;
	diag_list l = DIAG_LIST_INIT;
	assert_int_equal(diag_error(&l, "a.yaml", 3, 4, "x.y", "bad %d", 7), AML_EINVALID);
	assert_int_equal(diag_warning(&l, "a.yaml", 1, 1, "", "careful"), AML_OK);
	assert_int_equal(diag_add(&l, DIAG_NOTE, NULL, 0, 0, NULL, "fyi"), AML_OK);
	for (int i = 0; i < 20; i++)
		diag_error(&l, "b.yaml", 1, 1, NULL, "e%d", i);
	assert_int_equal(l.count, 23);
	assert_int_equal(l.errors, 21);
	assert_int_equal(l.warnings, 1);
	assert_string_equal(l.items[0].message, "bad 7");
	assert_string_equal(l.items[0].path, "x.y");
	assert_null(l.items[1].path); /* an empty path is no path */
	assert_null(l.items[2].file);
	assert_string_equal(diag_severity_name(DIAG_ERROR), "error");
	assert_string_equal(diag_severity_name(DIAG_WARNING), "warning");
	assert_string_equal(diag_severity_name(DIAG_NOTE), "note");
	diag_list_free(&l);
	assert_int_equal(l.count, 0);
	assert_null(l.items);
}

static void test_format(void **state)
{
	(void)state;
	diag_list l = DIAG_LIST_INIT;
	diag_error(&l, "run.yaml", 12, 3, "target", "target: unknown");
	diag_warning(&l, "dir", 0, 0, NULL, "nothing here");
	diag_add(&l, DIAG_NOTE, NULL, 0, 0, NULL, "just so");
	const char *want[] = { "run.yaml:12:3: error: target: unknown", "dir: warning: nothing here", "note: just so" };
	for (size_t i = 0; i < 3; i++) {
		buf b = BUF_INIT;
		diag_format(&b, &l.items[i]);
		assert_string_equal(b.ptr, want[i]);
		buf_free(&b);
	}
	diag_list_free(&l);
}

static void test_errno(void **state)
{
	(void)state;
	diag_list l = DIAG_LIST_INIT;
	errno = ENOENT;
	assert_int_equal(diag_errno(&l, "x.yaml", "cannot read %s", "it"), AML_EIO);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(l.items[0].message, "cannot read it: No such file or directory");
	assert_int_equal(l.items[0].line, 0);
	assert_int_equal(l.errors, 1);
	diag_list_free(&l);
}

static void test_sort_is_stable(void **state)
{
	(void)state;
	diag_list l = DIAG_LIST_INIT;
	diag_error(&l, "b.yaml", 2, 1, NULL, "b2");
	diag_error(&l, "a.yaml", 5, 1, NULL, "a5-first");
	diag_error(&l, NULL, 0, 0, NULL, "nofile");
	diag_error(&l, "a.yaml", 5, 1, NULL, "a5-second");
	diag_error(&l, "a.yaml", 1, 9, NULL, "a1c9");
	diag_error(&l, "a.yaml", 1, 2, NULL, "a1c2");
	diag_error(&l, "a.yaml", 0, 0, NULL, "a-nopos");
	diag_error(&l, "a.yaml", 5, 1, NULL, "a5-third");
	diag_list_sort(&l);
	const char *want[] = { "nofile", "a-nopos", "a1c2", "a1c9", "a5-first", "a5-second", "a5-third", "b2" };
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(l.items[i].message, want[i]);
	diag_list_free(&l);
}

/* Many diagnostics from files given out of order sort quickly (a hostile
 * spec has up to 50,000 unknown keys). */
static void test_sort_many(void **state)
{
	(void)state;
	diag_list l = DIAG_LIST_INIT;
	const char *files[] = { "c.yaml", "b.yaml", "a.yaml" };
	for (int f = 0; f < 3; f++)
		for (unsigned i = 0; i < 50000; i++)
			diag_error(&l, files[f], i / 10 + 1, 50000 - i, NULL, "%s %u", files[f], i);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	diag_list_sort(&l);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < time_limit());
	assert_string_equal(l.items[0].message, "a.yaml 9");
	assert_string_equal(l.items[9].message, "a.yaml 0");
	assert_string_equal(l.items[50000].message, "b.yaml 9");
	assert_string_equal(l.items[149999].message, "c.yaml 49990");
	for (size_t i = 1; i < l.count; i++) {
		const diag *p = &l.items[i - 1], *d = &l.items[i];
		int c = strcmp(p->file, d->file);
		assert_true(c < 0 || (c == 0 && (p->line < d->line || (p->line == d->line && p->col < d->col))));
	}
	diag_list_free(&l);
}

static void test_move(void **state)
{
	(void)state;
	diag_list a = DIAG_LIST_INIT, b = DIAG_LIST_INIT;
	diag_error(&a, "a", 1, 1, NULL, "a1");
	for (int i = 0; i < 10; i++)
		diag_warning(&b, "b", 1, 1, NULL, "b%d", i);
	diag_error(&b, "b", 1, 1, NULL, "berr");
	diag_list_move(&a, &b);
	assert_int_equal(a.count, 12);
	assert_int_equal(a.errors, 2);
	assert_int_equal(a.warnings, 10);
	assert_string_equal(a.items[11].message, "berr");
	assert_int_equal(b.count, 0);
	assert_null(b.items);
	diag_list_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suggest_typos),
		cmocka_unit_test(test_suggest_limits),
		cmocka_unit_test(test_add_and_counts),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_errno),
		cmocka_unit_test(test_sort_is_stable),
		cmocka_unit_test(test_sort_many),
		cmocka_unit_test(test_move),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
