#include "diag.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void diag_list_free(diag_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->items[i].file);
		free(l->items[i].path);
		free(l->items[i].message);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

int diag_addv(diag_list *l, diag_severity sev, const char *file, unsigned line, unsigned col,
	      const char *path, const char *fmt, va_list ap)
{
	if (l->count == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 8;
		l->items = xrealloc(l->items, l->alloc * sizeof(*l->items));
	}
	diag *d = &l->items[l->count++];
	buf m = BUF_INIT;
	buf_vprintf(&m, fmt, ap);
	d->severity = sev;
	d->file = file ? xstrdup(file) : NULL;
	d->line = line;
	d->col = col;
	d->path = path && *path ? xstrdup(path) : NULL;
	d->message = buf_detach(&m);
	if (sev == DIAG_ERROR) {
		l->errors++;
		return AML_EINVALID;
	}
	if (sev == DIAG_WARNING)
		l->warnings++;
	return AML_OK;
}

int diag_add(diag_list *l, diag_severity sev, const char *file, unsigned line, unsigned col,
	     const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = diag_addv(l, sev, file, line, col, path, fmt, ap);
	va_end(ap);
	return rc;
}

int diag_errno(diag_list *l, const char *file, const char *fmt, ...)
{
	int e = errno;
	buf m = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&m, fmt, ap);
	va_end(ap);
	diag_add(l, DIAG_ERROR, file, 0, 0, NULL, "%s: %s", m.ptr, strerror(e));
	buf_free(&m);
	errno = e;
	return AML_EIO;
}

void diag_list_move(diag_list *dst, diag_list *src)
{
	for (size_t i = 0; i < src->count; i++) {
		if (dst->count == dst->alloc) {
			dst->alloc = dst->alloc ? dst->alloc * 2 : 8;
			dst->items = xrealloc(dst->items, dst->alloc * sizeof(*dst->items));
		}
		dst->items[dst->count++] = src->items[i];
	}
	dst->errors += src->errors;
	dst->warnings += src->warnings;
	free(src->items);
	memset(src, 0, sizeof(*src));
}

static int cmp_str(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int cmp_diag(const diag *p, const diag *d)
{
	int c = cmp_str(p->file, d->file);
	if (c == 0)
		c = (p->line > d->line) - (p->line < d->line);
	if (c == 0)
		c = (p->col > d->col) - (p->col < d->col);
	return c;
}

void diag_list_sort(diag_list *l)
{
	/* bottom-up merge sort: stable, and O(n log n) for the hostile file
	 * with 50,000 unknown keys as much as for the usual handful */
	size_t n = l->count;
	if (n < 2)
		return;
	diag *a = l->items, *tmp = xmalloc(n * sizeof(*tmp));
	for (size_t width = 1; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				tmp[k++] = cmp_diag(&a[j], &a[i]) < 0 ? a[j++] : a[i++];
			while (i < mid)
				tmp[k++] = a[i++];
			while (j < hi)
				tmp[k++] = a[j++];
		}
		diag *t = a;
		a = tmp;
		tmp = t;
	}
	if (a != l->items) {
		memcpy(l->items, a, n * sizeof(*a));
		tmp = a;
	}
	free(tmp);
}

const char *diag_severity_name(diag_severity s)
{
	switch (s) {
	case DIAG_ERROR: return "error";
	case DIAG_WARNING: return "warning";
	default: return "note";
	}
}

void diag_format(buf *out, const diag *d)
{
	if (d->file) {
		buf_puts(out, d->file);
		if (d->line)
			buf_printf(out, ":%u:%u", d->line, d->col);
		buf_puts(out, ": ");
	}
	buf_printf(out, "%s: %s", diag_severity_name(d->severity), d->message);
}

/* Optimal string alignment distance (Levenshtein plus adjacent
 * transpositions, so "lcoal" is one edit from "local"), case-insensitive. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t d[65][65];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			char ca = (char)tolower((unsigned char)a[i - 1]), cb = (char)tolower((unsigned char)b[j - 1]);
			size_t best = d[i - 1][j - 1] + (ca != cb);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

const char *diag_suggest(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	size_t wl = strlen(word);
	for (size_t i = 0; i < n; i++) {
		if (!candidates[i])
			continue;
		if (strcasecmp(word, candidates[i]) == 0)
			return candidates[i];
		size_t d = edit_distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	/* a plausible typo: at most a third of the word, and at least one edit allowed */
	size_t limit = wl / 3 > 1 ? wl / 3 : 1;
	if (limit > 4)
		limit = 4;
	return best_d <= limit ? best : NULL;
}
