/* ytree: a YAML document as a tree of nodes that keep their exact source
 * positions. Built from libyaml's event stream (not its document API) so that
 * we see anchors, duplicate keys, tags and extra documents, and can bound depth
 * and size before anything large is allocated. See docs/design.md. */
#ifndef AMLSPEC_YTREE_H
#define AMLSPEC_YTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/diag.h"

typedef enum { YN_SCALAR, YN_SEQ, YN_MAP } ynode_kind;

/* Type of a scalar under the YAML 1.2 core schema (what JSON-based tools such
 * as editors and ajv see): quoted scalars are always strings. */
typedef enum { YS_STRING, YS_NULL, YS_BOOL, YS_INT, YS_FLOAT } yscalar_type;

typedef struct ynode {
	ynode_kind kind;
	yscalar_type stype;
	bool quoted;              /* scalar written with quotes or as a block scalar */
	bool flow;                /* sequence/mapping written in flow style */
	bool key_pending;         /* while building a mapping: a key awaits its value */
	unsigned line, col;       /* 1-based start */
	size_t start, end;        /* byte offsets in the source */
	char *value;              /* scalar text (NUL-terminated) */
	struct ynode **items;     /* seq: items; map: key0, value0, key1, value1, ... */
	size_t count;             /* seq: number of items; map: number of pairs */
} ynode;

typedef struct ydoc {
	char *file;   /* name used in diagnostics */
	ynode *root;  /* NULL for an empty document */
	char *text;   /* the source, NUL-terminated */
	size_t len;
	void *arena;  /* private: the memory of the nodes */
} ydoc;

typedef struct ydoc_limits {
	size_t max_bytes;
	unsigned max_depth;
	size_t max_nodes;
} ydoc_limits;

#define YDOC_LIMITS_DEFAULT { 1024 * 1024, 64, 100000 }

/* Parses data (copied). On any error returns AML_EINVALID with diagnostics and
 * *out = NULL. Reports: invalid UTF-8, tabs in indentation, syntax errors at
 * libyaml's problem mark, anchors/aliases, tags, duplicate keys, non-scalar
 * keys, several documents, and the limits. An empty document gives a doc whose
 * root is NULL. */
int ydoc_parse(ydoc **out, const char *file, const char *data, size_t len,
	       const ydoc_limits *limits, diag_list *diags);
/* Reads the file first; refuses over limits->max_bytes without reading it all. */
int ydoc_load_file(ydoc **out, const char *path, const char *display_name,
		   const ydoc_limits *limits, diag_list *diags);
void ydoc_free(ydoc *doc);

ynode *ynode_map_get(const ynode *map, const char *key);
static inline ynode *ynode_map_key(const ynode *map, size_t i) { return map->items[2 * i]; }
static inline ynode *ynode_map_value(const ynode *map, size_t i) { return map->items[2 * i + 1]; }
const char *ynode_kind_name(const ynode *n); /* "string", "integer", "mapping", ... */
bool ynode_is_scalar(const ynode *n);

#endif
