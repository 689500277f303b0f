/* Diagnostics: the problems found in user input, each tied to a file
 * position and a key path. Library code appends to a diag_list and returns an
 * error code; only a verb decides how to print them and which exit code to use. */
#ifndef AMLSPEC_DIAG_H
#define AMLSPEC_DIAG_H

#include <stddef.h>

#include "buf.h"

/* Error codes returned by library functions (0 is success). */
enum {
	AML_OK = 0,
	AML_ERROR = -1,     /* generic failure; details in the diag_list */
	AML_EINVALID = -2,  /* user input is invalid */
	AML_ENOTFOUND = -3,
	AML_EIO = -4,
	AML_ELOCKED = -5,
	AML_ECONFLICT = -6, /* state moved under us */
	AML_ECANCELED = -7,
};

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } diag_severity;

typedef struct diag {
	diag_severity severity;
	char *file;     /* may be NULL */
	unsigned line;  /* 1-based; 0 = no position */
	unsigned col;   /* 1-based */
	char *path;     /* key path such as environment.python.version; may be NULL */
	char *message;
} diag;

typedef struct diag_list {
	diag *items;
	size_t count;
	size_t alloc;
	size_t errors;
	size_t warnings;
} diag_list;

#define DIAG_LIST_INIT { NULL, 0, 0, 0, 0 }

void diag_list_free(diag_list *l);
/* Adds a diagnostic; returns AML_EINVALID for errors so callers can write
 * `return diag_error(...)`, AML_OK otherwise. */
int diag_add(diag_list *l, diag_severity sev, const char *file, unsigned line, unsigned col,
	     const char *path, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
int diag_addv(diag_list *l, diag_severity sev, const char *file, unsigned line, unsigned col,
	      const char *path, const char *fmt, va_list ap);
#define diag_error(l, f, ln, c, p, ...) diag_add((l), DIAG_ERROR, (f), (ln), (c), (p), __VA_ARGS__)
#define diag_warning(l, f, ln, c, p, ...) diag_add((l), DIAG_WARNING, (f), (ln), (c), (p), __VA_ARGS__)
/* Errors about the system rather than input (no position): message plus strerror. */
int diag_errno(diag_list *l, const char *file, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_list_move(diag_list *dst, diag_list *src);
/* Stable order: by file, line, column, then insertion order. */
void diag_list_sort(diag_list *l);
const char *diag_severity_name(diag_severity s);
/* "file:line:col: error: message" (omitting parts that are absent). */
void diag_format(buf *out, const diag *d);

/* Edit distance suggestion: returns the candidate closest to word, or NULL if
 * none is close enough to be a plausible typo. */
const char *diag_suggest(const char *word, const char *const *candidates, size_t n);

#endif
