#include "git.h"

#include "diag.h"
#include "git2_dyn.h"

/* git_libgit2_init() keeps its own count of init/shutdown pairs, so this
 * wrapper does not count again; it exists so that every module starts
 * libgit2 the same way and so that any process-wide libgit2 option has one
 * home. The CLI is single-threaded, so no locking is needed here. */
/* The first successful init takes one more reference that is never given
 * back: with Debian's libgit2 (mbedTLS), every start from zero parses the
 * system CA bundle (tens of milliseconds), and a command that snapshots,
 * collects provenance and sends a snapshot would pay it several times.
 * The process's end releases it. */
static int permanent;

int amlgit_init(void)
{
	if (git_libgit2_init() < 0)
		return AML_ERROR;
	if (!permanent && git_libgit2_init() >= 0)
		permanent = 1;
	return AML_OK;
}

void amlgit_shutdown(void)
{
	git_libgit2_shutdown();
}

const char *amlgit_error(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}
