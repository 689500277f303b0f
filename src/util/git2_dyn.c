#define AMLSPEC_DYN_IMPL
#include "util/git2_dyn.h"

#include <dlfcn.h>
#include <stdio.h>

#include "util/dynlib.h"

static struct amlspec_git2 api;

static bool resolve(void *h, char *why, size_t len)
{
#define RESOLVE(f)                                                                \
	if (!(*(void **)&api.f = dlsym(h, #f))) {                               \
		snprintf(why, len, "%s has no function " #f " (a different version?)", AMLSPEC_GIT2_SONAME); \
		return false;                                                      \
	}
	AMLSPEC_GIT2_FUNCTIONS(RESOLVE)
#undef RESOLVE
	return true;
}

static dynlib lib = DYNLIB_INIT(AMLSPEC_GIT2_SONAME, "libgit2-1.5", resolve);

const struct amlspec_git2 *amlspec_git2(void)
{
	if (atomic_load_explicit(&lib.state, memory_order_acquire) != 1)
		dynlib_require(&lib);
	return &api;
}
