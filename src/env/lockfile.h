/* lockfile: amlspec.lock at the workspace root pins which version (and
 * digest) each unpinned curated reference resolves to, so a catalog change
 * is a reviewable diff (like .terraform.lock.hcl). Text written by amlspec,
 * deterministic (sorted by name). */
#ifndef AMLSPEC_LOCKFILE_H
#define AMLSPEC_LOCKFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/diag.h"

typedef struct lock_pin {
	char *name;
	long version;
	char *digest;
} lock_pin;

typedef struct lockfile {
	char *path;
	lock_pin *pins;
	size_t count;
	bool exists;
	bool dirty;     /* changed since loaded */
} lockfile;

int lockfile_load(lockfile *out, const char *workspace_root, diag_list *diags);
/* Reads pins from text (a lock file at a git revision) into out. */
int lockfile_parse(lockfile *out, const char *text, size_t len, diag_list *diags);
void lockfile_free(lockfile *l);
const lock_pin *lockfile_get(const lockfile *l, const char *name);
void lockfile_set(lockfile *l, const char *name, long version, const char *digest);
/* Writes atomically when something changed (set dirty to force). */
int lockfile_save(lockfile *l, diag_list *diags);
/* The file's text as it would be written. Caller frees. */
char *lockfile_text(const lockfile *l);

#endif
