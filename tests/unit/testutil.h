/* Helpers shared by the cmocka unit tests. */
#ifndef AMLSPEC_TESTUTIL_H
#define AMLSPEC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A fresh temporary directory (caller frees the string; tu_rmtree removes it). */
char *tu_mkdtemp(void);
void tu_rmtree(const char *dir);
/* Writes text to dir/name, creating parent folders. */
void tu_write(const char *dir, const char *name, const char *text);
/* Runs argv (no shell) in cwd; returns the exit status or -1. */
int tu_run(const char *cwd, const char *const argv[]);

#endif
