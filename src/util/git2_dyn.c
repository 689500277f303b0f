/* libgit2's table (git2_dyn.h), opened on first use. */
#define AMLSPEC_DYN_IMPL
#include "util/git2_dyn.h"

#include "util/dynlib.h"

DYNLIB_DEFINE(struct amlspec_git2, amlspec_git2, AMLSPEC_GIT2_FUNCTIONS, AMLSPEC_GIT2_SONAME, "libgit2-1.5")
