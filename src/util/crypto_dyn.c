#define AMLSPEC_DYN_IMPL
#include "util/crypto_dyn.h"

#include <dlfcn.h>
#include <stdio.h>

#include "util/dynlib.h"

static struct amlspec_crypto api;

static bool resolve(void *h, char *why, size_t len)
{
#define RESOLVE(f)                                                                \
	if (!(*(void **)&api.f = dlsym(h, #f))) {                               \
		snprintf(why, len, "%s has no function " #f " (a different version?)", AMLSPEC_CRYPTO_SONAME); \
		return false;                                                      \
	}
	AMLSPEC_CRYPTO_FUNCTIONS(RESOLVE)
#undef RESOLVE
	return true;
}

static dynlib lib = DYNLIB_INIT(AMLSPEC_CRYPTO_SONAME, "libssl3", resolve);

const struct amlspec_crypto *amlspec_crypto(void)
{
	if (atomic_load_explicit(&lib.state, memory_order_acquire) != 1)
		dynlib_require(&lib);
	return &api;
}
