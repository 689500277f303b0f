/* dynlib: libraries opened on first use. A missing library or symbol is a
 * clear message naming it and the package, tried once; a present one
 * resolves and stays loaded; loading from many threads at once is safe. */
#include "testutil.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/crypto_dyn.h"
#include "util/dynlib.h"
#include "util/git2_dyn.h"

static int resolve_calls;
static size_t (*dyn_strlen)(const char *);

static bool resolve_libc(void *h, char *why, size_t len)
{
	resolve_calls++;
	if (!(*(void **)&dyn_strlen = dlsym(h, "strlen"))) {
		snprintf(why, len, "no strlen");
		return false;
	}
	return true;
}

static bool resolve_missing_symbol(void *h, char *why, size_t len)
{
	if (!dlsym(h, "amlspec_no_such_function")) {
		snprintf(why, len, "libc.so.6 has no function amlspec_no_such_function");
		return false;
	}
	return true;
}

static void test_missing_library(void **state)
{
	(void)state;
	dynlib lib = DYNLIB_INIT("libamlspec-not-installed.so.9", "amlspec-ghost", resolve_libc);
	resolve_calls = 0;
	assert_false(dynlib_load(&lib));
	assert_non_null(strstr(lib.why, "cannot load libamlspec-not-installed.so.9"));
	assert_non_null(strstr(lib.why, "amlspec-ghost package"));
	/* tried once: the answer is remembered */
	assert_false(dynlib_load(&lib));
	assert_int_equal(resolve_calls, 0);
}

static void test_missing_symbol(void **state)
{
	(void)state;
	dynlib lib = DYNLIB_INIT("libc.so.6", "libc6", resolve_missing_symbol);
	assert_false(dynlib_load(&lib));
	assert_string_equal(lib.why, "libc.so.6 has no function amlspec_no_such_function");
}

static dynlib shared_lib = DYNLIB_INIT("libc.so.6", "libc6", resolve_libc);

static void *load_in_thread(void *arg)
{
	(void)arg;
	return dynlib_load(&shared_lib) ? (void *)1 : NULL;
}

static void test_loaded_once_across_threads(void **state)
{
	(void)state;
	resolve_calls = 0;
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, load_in_thread, NULL), 0);
	for (int i = 0; i < 8; i++) {
		void *ok = NULL;
		pthread_join(t[i], &ok);
		assert_non_null(ok);
	}
	assert_int_equal(resolve_calls, 1);
	assert_int_equal(dyn_strlen("amlspec"), 7);
}

/* The real tables: every listed function resolves in the installed
 * libraries (amlspec_git2() ends the program otherwise), and calls go
 * through them. */
static void test_real_tables(void **state)
{
	(void)state;
	assert_non_null(amlspec_git2());
	int major = 0, minor = 0, rev = 0;
	assert_int_equal(git_libgit2_version(&major, &minor, &rev), 0);
	assert_true(major > 1 || (major == 1 && minor >= 5));
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	assert_int_equal(EVP_Digest("abc", 3, md, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(n, 32);
	assert_int_equal(md[0], 0xba); /* sha256("abc") = ba7816bf... */
	assert_int_equal(md[1], 0x78);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* the real tables first: glibc keeps 40 bytes that valgrind calls
		 * lost when a library is opened on a thread that then ends and a
		 * later dlopen maps new dependencies (amlspec's threads never
		 * open libraries: spec loading and the stat check need none) */
		cmocka_unit_test(test_real_tables),
		cmocka_unit_test(test_missing_library),
		cmocka_unit_test(test_missing_symbol),
		cmocka_unit_test(test_loaded_once_across_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
