/* dynlib: shared libraries opened on first use instead of at start-up.
 *
 * Why: the dynamic loader maps, relocates and initialises every linked
 * library, and what each of them pulls in, before main() runs, whether the
 * command needs it or not. Measured on Debian 12 (2 cores): libcurl with its
 * TLS, Kerberos and LDAP libraries 2.7 ms, libgit2 with mbedtls, libssh2 and
 * pcre2 1.8 ms, OpenSSL's libcrypto 1.1 ms, against 0.8 ms for a program
 * linking only libyaml and json-c. `validate` checks a thousand specs in
 * about 20 ms, so linking them would be a quarter of it; `plan` on an
 * unchanged tree needs none of them. systemd opens its optional libraries
 * the same way.
 *
 * How: each library has a header (git2_dyn.h, crypto_dyn.h) listing the
 * functions used, a struct of pointers typed from the library's own header
 * (so the compiler still checks every call), and macros that send each call
 * through the struct. The binary does not link the library, so a call that
 * is not listed fails at link time rather than at run time. */
#ifndef AMLSPEC_DYNLIB_H
#define AMLSPEC_DYNLIB_H

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct dynlib {
	const char *soname;        /* as the build found it (CMakeLists.txt) */
	const char *package;       /* the Debian package that provides it, for the error */
	bool (*resolve)(void *handle, char *why, size_t len); /* fills the pointers */
	pthread_mutex_t lock;
	atomic_int state;          /* 0 not tried, 1 loaded, -1 failed */
	char why[512];
} dynlib;

#define DYNLIB_INIT(soname, package, resolve) { (soname), (package), (resolve), PTHREAD_MUTEX_INITIALIZER, 0, "" }

/* Defines, in the one .c file of a table, its pointers, their resolver and
 * the accessor `const type *accessor(void)` that opens the library on first
 * use and ends the program when it cannot (dynlib_require). functions is
 * the table's X-macro list. */
/* Inside a resolver (void *h, char *why, size_t len): fills api.f with the
 * library's prefix##f, or says which function is missing and returns false. */
#define DYNLIB_RESOLVE(api, prefix, f, soname)                                                                \
	if (!(*(void **)&(api).f = dlsym(h, prefix #f))) {                                                     \
		snprintf(why, len, "%s has no function " prefix #f " (another version?)", (soname));           \
		return false;                                                                                  \
	}
#define DYNLIB_RESOLVE_ONE(f) DYNLIB_RESOLVE(dynlib_api, "", f, dynlib_lib.soname)
#define DYNLIB_DEFINE(type, accessor, functions, soname, package)                                             \
	static type dynlib_api;                                                                                \
	static bool dynlib_resolve(void *h, char *why, size_t len);                                            \
	static dynlib dynlib_lib = DYNLIB_INIT(soname, package, dynlib_resolve);                              \
	static bool dynlib_resolve(void *h, char *why, size_t len)                                             \
	{                                                                                                      \
		functions(DYNLIB_RESOLVE_ONE) return true;                                                     \
	}                                                                                                      \
	const type *accessor(void)                                                                             \
	{                                                                                                      \
		if (atomic_load_explicit(&dynlib_lib.state, memory_order_acquire) != 1)                        \
			dynlib_require(&dynlib_lib);                                                           \
		return &dynlib_api;                                                                            \
	}

/* Opens the library once (thread-safe); true when its functions are ready,
 * else false with the reason in lib->why. */
bool dynlib_load(dynlib *lib);
/* For a library the program cannot work without: as dynlib_load, but a
 * failure (a broken installation) ends the program with status 1 and a
 * message naming the library and the package to reinstall. */
void dynlib_require(dynlib *lib);

#endif
