/* git: the one place where libgit2 is started and stopped. Several modules
 * (provenance, snapshot) use libgit2 independently; each pairs
 * amlgit_init() with amlgit_shutdown() around its work, and libgit2 is torn
 * down only when the last user is done. */
#ifndef AMLSPEC_GIT_H
#define AMLSPEC_GIT_H

/* AML_OK, or AML_ERROR when libgit2 cannot start (message: amlgit_error()). */
int amlgit_init(void);
/* Must be paired with a successful amlgit_init(). */
void amlgit_shutdown(void);
/* libgit2's last error message, or "unknown libgit2 error"; never NULL. */
const char *amlgit_error(void);

#endif
