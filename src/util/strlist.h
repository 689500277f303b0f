/* Owned lists of strings and of key/value pairs. */
#ifndef AMLSPEC_STRLIST_H
#define AMLSPEC_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strlist {
	char **items;
	size_t count;
	size_t alloc;
} strlist;

#define STRLIST_INIT { NULL, 0, 0 }

void strlist_free(strlist *l);
void strlist_add(strlist *l, const char *s);
void strlist_add_owned(strlist *l, char *s);
bool strlist_contains(const strlist *l, const char *s);
void strlist_copy(strlist *dst, const strlist *src);
void strlist_sort(strlist *l);
bool strlist_equal(const strlist *a, const strlist *b);

typedef struct kvpair {
	char *key;
	char *value;
} kvpair;

typedef struct kvlist {
	kvpair *items;
	size_t count;
	size_t alloc;
} kvlist;

#define KVLIST_INIT { NULL, 0, 0 }

void kvlist_free(kvlist *l);
/* Sets key (replacing an existing value in place). */
void kvlist_set(kvlist *l, const char *key, const char *value);
const char *kvlist_get(const kvlist *l, const char *key);
void kvlist_copy(kvlist *dst, const kvlist *src);
void kvlist_sort(kvlist *l);

#endif
