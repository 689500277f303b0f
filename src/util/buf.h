/* A growable, always NUL-terminated byte buffer (after git's strbuf).
 * BUF_INIT is a valid empty buffer; buf_free releases it, buf_detach hands the
 * bytes to the caller. Allocation failure aborts: a CLI has no sane recovery. */
#ifndef AMLSPEC_BUF_H
#define AMLSPEC_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
	char *ptr;
	size_t len;
	size_t cap;
} buf;

extern char buf__empty[];
#define BUF_INIT { buf__empty, 0, 0 }

void buf_init(buf *b);
void buf_free(buf *b);
void buf_grow(buf *b, size_t extra);
void buf_add(buf *b, const void *data, size_t len);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap);
void buf_clear(buf *b);
void buf_truncate(buf *b, size_t len);
char *buf_detach(buf *b);
/* Appends s as a JSON string literal (with quotes). */
void buf_put_json_string(buf *b, const char *s);
/* Reads a whole file; fails (returns -1, errno set) if larger than max_size. */
int buf_read_file(buf *b, const char *path, size_t max_size);

/* xmalloc family: abort on OOM (see buf.h header comment). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
