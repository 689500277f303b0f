#include "strlist.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

void strlist_free(strlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = l->alloc = 0;
}

void strlist_add_owned(strlist *l, char *s)
{
	if (l->count == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 8;
		l->items = xrealloc(l->items, l->alloc * sizeof(*l->items));
	}
	l->items[l->count++] = s;
}

void strlist_add(strlist *l, const char *s)
{
	strlist_add_owned(l, xstrdup(s));
}

bool strlist_contains(const strlist *l, const char *s)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->items[i], s))
			return true;
	return false;
}

void strlist_copy(strlist *dst, const strlist *src)
{
	for (size_t i = 0; i < src->count; i++)
		strlist_add(dst, src->items[i]);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strlist_sort(strlist *l)
{
	if (l->count > 1)
		qsort(l->items, l->count, sizeof(*l->items), cmp_strp);
}

bool strlist_equal(const strlist *a, const strlist *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->items[i], b->items[i]))
			return false;
	return true;
}

void kvlist_free(kvlist *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->count = l->alloc = 0;
}

void kvlist_set(kvlist *l, const char *key, const char *value)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->items[i].key, key)) {
			free(l->items[i].value);
			l->items[i].value = xstrdup(value);
			return;
		}
	if (l->count == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 8;
		l->items = xrealloc(l->items, l->alloc * sizeof(*l->items));
	}
	l->items[l->count].key = xstrdup(key);
	l->items[l->count].value = xstrdup(value);
	l->count++;
}

const char *kvlist_get(const kvlist *l, const char *key)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->items[i].key, key))
			return l->items[i].value;
	return NULL;
}

void kvlist_copy(kvlist *dst, const kvlist *src)
{
	for (size_t i = 0; i < src->count; i++)
		kvlist_set(dst, src->items[i].key, src->items[i].value);
}

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const kvpair *)a)->key, ((const kvpair *)b)->key);
}

void kvlist_sort(kvlist *l)
{
	if (l->count > 1)
		qsort(l->items, l->count, sizeof(*l->items), cmp_kv);
}
