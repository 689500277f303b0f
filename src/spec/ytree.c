#include "ytree.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../util/buf.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef struct builder {
	ydoc *doc;
	const ydoc_limits *lim;
	diag_list *diags;
	ynode **stack;
	size_t depth;
	size_t alloc;
	size_t nodes;
	int failed;  /* stop parsing */
	int bad;     /* keep parsing to report more, but the document is invalid */
	size_t ci, bi; /* a character index and its byte offset (marks move forward) */
	bool ascii;    /* no multi-byte character: a character index is a byte offset */
} builder;

/* ---- memory: the nodes, their texts and item arrays live in an arena
 * owned by the document, freed at once. A spec is a few dozen nodes, and a
 * malloc and free for each of them and of each text was a tenth of
 * validating a thousand specs. ---- */

typedef struct ychunk {
	struct ychunk *next;
	size_t used, size;
	max_align_t data[];
} ychunk;

#define YCHUNK_FIRST 4096
#define YCHUNK_MAX (256 * 1024)

static void *arena_alloc(ydoc *doc, size_t n)
{
	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	ychunk *c = doc->arena;
	if (!c || c->size - c->used < n) {
		size_t size = c ? (c->size < YCHUNK_MAX ? 2 * c->size : YCHUNK_MAX) : YCHUNK_FIRST;
		if (size < n)
			size = n;
		ychunk *fresh = xmalloc(sizeof(*fresh) + size);
		fresh->size = size;
		fresh->used = 0;
		fresh->next = c;
		doc->arena = c = fresh;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	return memset(p, 0, n);
}

static char *arena_strndup(ydoc *doc, const char *s, size_t n)
{
	char *p = arena_alloc(doc, n + 1);
	memcpy(p, s, n);
	return p;
}

void ydoc_free(ydoc *doc)
{
	if (!doc)
		return;
	for (ychunk *c = doc->arena, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(doc->file);
	free(doc->text);
	free(doc);
}

/* ---- pre-checks that give better positions than libyaml's messages ---- */

static size_t bom_len(const char *text, size_t len)
{
	return len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3) ? 3 : 0;
}

/* The characters YAML allows in a stream (c-printable), as libyaml checks. */
static bool yaml_printable(unsigned cp)
{
	return cp == 0x09 || cp == 0x0A || cp == 0x0D || (cp >= 0x20 && cp <= 0x7E) || cp == 0x85 ||
	       (cp >= 0xA0 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

/* Returns 0 if valid; else fills line/col (1-based, col in characters) and
 * the message. Checked before libyaml, whose reader errors carry only a
 * byte offset and no character. */
static int check_utf8(const char *s, size_t len, bool *ascii, unsigned *line, unsigned *col, char what[64])
{
	*ascii = true;
	unsigned ln = 1, cl = 1, cp = 0;
	size_t i = bom_len(s, len); /* not a column, as for libyaml */
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t need;
		if (c >= 0x20 && c < 0x7F) { /* most of any spec */
			i++, cl++;
			continue;
		}
		if (c == 0) {
			*line = ln, *col = cl;
			snprintf(what, 64, "NUL byte in file");
			return -1;
		}
		if (c < 0x80) {
			cp = c;
			if (!yaml_printable(cp))
				goto control;
			if (c == '\n')
				ln++, cl = 0;
			i++, cl++;
			continue;
		}
		*ascii = false;
		if ((c & 0xE0) == 0xC0)
			need = 1, cp = c & 0x1F;
		else if ((c & 0xF0) == 0xE0)
			need = 2, cp = c & 0x0F;
		else if ((c & 0xF8) == 0xF0)
			need = 3, cp = c & 0x07;
		else
			goto bad;
		for (size_t k = 1; k <= need; k++) {
			if (i + k >= len)
				goto bad;
			unsigned char d = (unsigned char)s[i + k];
			if ((d & 0xC0) != 0x80)
				goto bad;
			cp = (cp << 6) | (d & 0x3F);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			goto bad;
		if (!yaml_printable(cp))
			goto control;
		i += need + 1;
		cl++;
	}
	return 0;
bad:
	*line = ln, *col = cl;
	snprintf(what, 64, "invalid UTF-8 byte sequence");
	return -1;
control:
	*line = ln, *col = cl;
	snprintf(what, 64, "control character U+%04X is not allowed in YAML", cp);
	return -1;
}

/* Advances from character index ci at byte bi to character index index. */
static size_t advance(const char *text, size_t len, size_t ci, size_t bi, size_t index)
{
	for (; ci < index && bi < len; ci++) {
		bi++;
		while (bi < len && ((unsigned char)text[bi] & 0xC0) == 0x80)
			bi++;
	}
	return bi;
}

/* Byte offset of libyaml's mark index, which counts characters (not bytes)
 * from after the byte order mark. */
static size_t char_to_byte(const char *text, size_t len, size_t index)
{
	return advance(text, len, 0, bom_len(text, len), index);
}

/* ---- scalar typing (YAML 1.2 core schema) ---- */

static bool all_in(const char *s, const char *set)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr(set, *s))
			return false;
	return true;
}

static bool is_core_float(const char *s)
{
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF"))
		return true;
	if (p == s && (!strcmp(p, ".nan") || !strcmp(p, ".NaN") || !strcmp(p, ".NAN")))
		return true;
	int digits = 0;
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits++;
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

static yscalar_type resolve_plain(const char *v)
{
	/* most plain scalars are words: only these first characters can start
	 * a null, a boolean or a number */
	switch (*v) {
	case '\0':
		return YS_NULL;
	case '~':
		return v[1] ? YS_STRING : YS_NULL;
	case 'n': case 'N':
		return !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL") ? YS_NULL : YS_STRING;
	case 't': case 'T':
		return !strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE") ? YS_BOOL : YS_STRING;
	case 'f': case 'F':
		return !strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE") ? YS_BOOL : YS_STRING;
	default:
		if (!strchr("0123456789+-.", *v))
			return YS_STRING;
	}
	const char *p = v;
	if (*p == '+' || *p == '-')
		p++;
	if (all_in(p, "0123456789"))
		return YS_INT;
	if (p == v && (!strncmp(v, "0o", 2) && all_in(v + 2, "01234567")))
		return YS_INT;
	if (p == v && (!strncmp(v, "0x", 2) && all_in(v + 2, "0123456789abcdefABCDEF")))
		return YS_INT;
	if (is_core_float(v))
		return YS_FLOAT;
	return YS_STRING;
}

/* ---- building ---- */

/* char_to_byte, incrementally: marks mostly move forward. */
static size_t mark_byte(builder *b, const yaml_mark_t *m)
{
	if (b->ascii)
		return bom_len(b->doc->text, b->doc->len) + m->index;
	if (m->index < b->ci) {
		b->ci = 0;
		b->bi = bom_len(b->doc->text, b->doc->len);
	}
	b->bi = advance(b->doc->text, b->doc->len, b->ci, b->bi, m->index);
	b->ci = m->index;
	return b->bi;
}

static ynode *node_new(builder *b, ynode_kind kind, const yaml_mark_t *m)
{
	if (++b->nodes > b->lim->max_nodes) {
		if (!b->failed)
			diag_error(b->diags, b->doc->file, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
				   "document has more than %zu nodes; refusing to load it", b->lim->max_nodes);
		b->failed = 1;
		return NULL;
	}
	ynode *n = arena_alloc(b->doc, sizeof(*n));
	n->kind = kind;
	n->line = (unsigned)m->line + 1;
	n->col = (unsigned)m->column + 1;
	n->start = mark_byte(b, m);
	return n;
}

static void child_append(ydoc *doc, ynode *parent, ynode *child)
{
	size_t total = parent->kind == YN_MAP ? 2 * parent->count + parent->key_pending : parent->count;
	/* capacity doubles (it is the next power of two of total, from 4), so
	 * the arrays left behind in the arena add up to less than the last one */
	if (total < 4 ? total == 0 : (total & (total - 1)) == 0) {
		ynode **items = arena_alloc(doc, (total < 4 ? 4 : 2 * total) * sizeof(*items));
		if (total)
			memcpy(items, parent->items, total * sizeof(*items));
		parent->items = items;
	}
	parent->items[total] = child;
	if (parent->kind == YN_MAP) {
		if (parent->key_pending)
			parent->count++;
		parent->key_pending = !parent->key_pending;
	} else {
		parent->count++;
	}
}

static int check_tag(builder *b, const yaml_char_t *tag, ynode *n)
{
	if (!tag)
		return 0;
	const char *t = (const char *)tag;
	if (!strcmp(t, "!"))
		return 0;
	if (!strncmp(t, TAG_PREFIX, strlen(TAG_PREFIX))) {
		const char *k = t + strlen(TAG_PREFIX);
		if (n->kind == YN_SCALAR) {
			if (!strcmp(k, "str")) {
				n->stype = YS_STRING;
				return 0;
			}
			yscalar_type want = !strcmp(k, "int") ? YS_INT : !strcmp(k, "float") ? YS_FLOAT
					  : !strcmp(k, "bool") ? YS_BOOL : !strcmp(k, "null") ? YS_NULL : YS_STRING;
			if (want != YS_STRING && resolve_plain(n->value) == want) {
				n->stype = want;
				return 0;
			}
		} else if ((n->kind == YN_SEQ && !strcmp(k, "seq")) || (n->kind == YN_MAP && !strcmp(k, "map"))) {
			return 0;
		}
	}
	/* as written: !!binary rather than tag:yaml.org,2002:binary */
	bool core = !strncmp(t, TAG_PREFIX, strlen(TAG_PREFIX));
	diag_error(b->diags, b->doc->file, n->line, n->col, NULL, "unsupported YAML tag '%s%s'", core ? "!!" : "",
		   core ? t + strlen(TAG_PREFIX) : t);
	return -1;
}

static int attach(builder *b, ynode *n)
{
	if (b->depth == 0) {
		b->doc->root = n;
		return 0;
	}
	ynode *parent = b->stack[b->depth - 1];
	if (parent->kind == YN_MAP && !parent->key_pending) {
		/* n is a key */
		if (n->kind != YN_SCALAR) {
			diag_error(b->diags, b->doc->file, n->line, n->col, NULL,
				   "mapping keys must be plain strings, not a %s", ynode_kind_name(n));
			b->bad = 1;
		}
	}
	child_append(b->doc, parent, n);
	return 0;
}

typedef struct keyref {
	const char *key;
	size_t i;
} keyref;

static int cmp_keyref(const void *a, const void *b)
{
	const keyref *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Reports each key that repeats an earlier one of map, in document order.
 * Sorting keeps a hostile mapping of 50,000 keys cheap. */
static void report_duplicate(builder *b, const ynode *k, const ynode *f)
{
	diag_error(b->diags, b->doc->file, k->line, k->col, NULL,
		   "duplicate key '%s' (first defined at line %u, column %u)", k->value, f->line, f->col);
	b->bad = 1;
}

static void check_duplicates(builder *b, const ynode *map)
{
	if (map->count < 2)
		return;
	if (map->count <= 16) {
		/* a spec's mappings are small: comparing pairs beats sorting */
		for (size_t i = 1; i < map->count; i++) {
			const ynode *k = ynode_map_key(map, i);
			if (k->kind != YN_SCALAR)
				continue;
			for (size_t j = 0; j < i; j++) {
				const ynode *f = ynode_map_key(map, j);
				if (f->kind == YN_SCALAR && !strcmp(f->value, k->value)) {
					report_duplicate(b, k, f);
					break;
				}
			}
		}
		return;
	}
	keyref *refs = xmalloc(map->count * sizeof(*refs));
	size_t *first = xmalloc(map->count * sizeof(*first));
	size_t n = 0;
	for (size_t i = 0; i < map->count; i++) {
		first[i] = i;
		if (ynode_map_key(map, i)->kind == YN_SCALAR)
			refs[n++] = (keyref){ ynode_map_key(map, i)->value, i };
	}
	qsort(refs, n, sizeof(*refs), cmp_keyref);
	for (size_t j = 1; j < n; j++)
		if (!strcmp(refs[j].key, refs[j - 1].key))
			first[refs[j].i] = first[refs[j - 1].i];
	for (size_t i = 0; i < map->count; i++) {
		if (first[i] == i)
			continue;
		report_duplicate(b, ynode_map_key(map, i), ynode_map_key(map, first[i]));
	}
	free(first);
	free(refs);
}

static int push(builder *b, ynode *n)
{
	if (b->depth >= b->lim->max_depth) {
		diag_error(b->diags, b->doc->file, n->line, n->col, NULL,
			   "nesting deeper than %u levels; refusing to load it", b->lim->max_depth);
		b->failed = 1;
		return -1;
	}
	if (b->depth == b->alloc) {
		b->alloc = b->alloc ? b->alloc * 2 : 16;
		b->stack = xrealloc(b->stack, b->alloc * sizeof(*b->stack));
	}
	b->stack[b->depth++] = n;
	return 0;
}

static void report_parser_error(builder *b, yaml_parser_t *p)
{
	unsigned line = (unsigned)p->problem_mark.line + 1, col = (unsigned)p->problem_mark.column + 1;
	if (p->error != YAML_READER_ERROR) {
		/* libyaml's messages about tabs are obscure ("found character that
		 * cannot start any token"): a tab at the problem, or in the
		 * indentation of its line, is the cause */
		const char *t = b->doc->text;
		size_t at = char_to_byte(t, b->doc->len, p->problem_mark.index), bol = at;
		while (bol > 0 && t[bol - 1] != '\n')
			bol--;
		if (bol == 0)
			bol = bom_len(t, b->doc->len);
		size_t i = bol;
		while (i < b->doc->len && t[i] == ' ')
			i++;
		if (i < b->doc->len && t[i] == '\t') {
			diag_error(b->diags, b->doc->file, line, (unsigned)(i - bol) + 1, NULL,
				   "tab character in indentation; YAML allows only spaces");
			return;
		}
		if (at < b->doc->len && t[at] == '\t') {
			diag_error(b->diags, b->doc->file, line, col, NULL, "tab character where YAML expects a space");
			return;
		}
	}
	buf m = BUF_INIT;
	buf_puts(&m, p->problem ? p->problem : "YAML syntax error");
	if (p->context)
		buf_printf(&m, " (%s at line %u, column %u)", p->context, (unsigned)p->context_mark.line + 1,
			   (unsigned)p->context_mark.column + 1);
	if (p->error == YAML_READER_ERROR) {
		/* reader errors carry a byte offset rather than a line (the
		 * pre-checks catch what libyaml's reader refuses) */
		line = 0, col = 0;
	}
	diag_error(b->diags, b->doc->file, line, col, NULL, "%s", m.ptr);
	buf_free(&m);
}

int ydoc_parse(ydoc **out, const char *file, const char *data, size_t len,
	       const ydoc_limits *limits, diag_list *diags)
{
	static const ydoc_limits deflim = YDOC_LIMITS_DEFAULT;
	const ydoc_limits *lim = limits ? limits : &deflim;
	*out = NULL;
	if (len > lim->max_bytes)
		return diag_error(diags, file, 0, 0, NULL, "file is %zu bytes; the limit is %zu bytes", len,
				  lim->max_bytes);

	unsigned line, col;
	char what[64];
	bool ascii;
	if (check_utf8(data, len, &ascii, &line, &col, what))
		return diag_error(diags, file, line, col, NULL, "%s", what);

	ydoc *doc = xcalloc(1, sizeof(*doc));
	doc->file = xstrdup(file);
	doc->text = xstrndup(data, len);
	doc->len = len;

	builder b = { doc, lim, diags, NULL, 0, 0, 0, 0, 0, 0, bom_len(doc->text, len), ascii };
	yaml_parser_t parser;
	yaml_event_t ev;
	size_t ndocs = 0;
	int done = 0;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)doc->text, len);
	while (!done && !b.failed) {
		if (!yaml_parser_parse(&parser, &ev)) {
			report_parser_error(&b, &parser);
			b.failed = 1;
			break;
		}
		const yaml_mark_t *m = &ev.start_mark;
		ynode *n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1) {
				diag_error(diags, file, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
					   "more than one YAML document in the file; a spec is one document");
				b.failed = 1;
			}
			break;
		case YAML_ALIAS_EVENT:
			diag_error(diags, file, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
				   "YAML aliases (*%s) are not supported; write the value out", ev.data.alias.anchor);
			b.bad = 1;
			if ((n = node_new(&b, YN_SCALAR, m))) {
				n->value = arena_strndup(doc, "", 0);
				n->stype = YS_NULL;
				attach(&b, n);
			}
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.anchor) {
				diag_error(diags, file, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
					   "YAML anchors (&%s) are not supported", ev.data.scalar.anchor);
				b.bad = 1;
			}
			if (strlen((const char *)ev.data.scalar.value) != ev.data.scalar.length) {
				diag_error(diags, file, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
					   "NUL character in a string");
				b.failed = 1;
				break;
			}
			if (!(n = node_new(&b, YN_SCALAR, m)))
				break;
			n->value = arena_strndup(doc, (const char *)ev.data.scalar.value, ev.data.scalar.length);
			n->end = mark_byte(&b, &ev.end_mark);
			n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
			n->stype = n->quoted ? YS_STRING : resolve_plain(n->value);
			if (check_tag(&b, ev.data.scalar.tag, n))
				b.bad = 1;
			attach(&b, n);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			int is_map = ev.type == YAML_MAPPING_START_EVENT;
			const yaml_char_t *anchor = is_map ? ev.data.mapping_start.anchor : ev.data.sequence_start.anchor;
			if (anchor) {
				diag_error(diags, file, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
					   "YAML anchors (&%s) are not supported", anchor);
				b.bad = 1;
			}
			if (!(n = node_new(&b, is_map ? YN_MAP : YN_SEQ, m)))
				break;
			n->flow = is_map ? ev.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
					 : ev.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
			if (check_tag(&b, is_map ? ev.data.mapping_start.tag : ev.data.sequence_start.tag, n))
				b.bad = 1;
			attach(&b, n);
			push(&b, n);
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: {
			ynode *top = b.stack[--b.depth];
			top->end = mark_byte(&b, &ev.end_mark);
			if (top->kind == YN_MAP)
				check_duplicates(&b, top);
			break;
		}
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	/* mappings left open by an error: their duplicates are problems too */
	while (b.depth > 0) {
		ynode *top = b.stack[--b.depth];
		if (top->kind == YN_MAP)
			check_duplicates(&b, top);
	}
	free(b.stack);
	if (b.failed || b.bad) {
		ydoc_free(doc);
		return AML_EINVALID;
	}
	*out = doc;
	return AML_OK;
}

int ydoc_load_file(ydoc **out, const char *path, const char *display_name,
		   const ydoc_limits *limits, diag_list *diags)
{
	static const ydoc_limits deflim = YDOC_LIMITS_DEFAULT;
	const ydoc_limits *lim = limits ? limits : &deflim;
	const char *name = display_name ? display_name : path;
	buf data = BUF_INIT;
	*out = NULL;
	if (buf_read_file(&data, path, lim->max_bytes) < 0) {
		int rc;
		if (errno == EFBIG)
			rc = diag_error(diags, name, 0, 0, NULL, "file is larger than %zu bytes; refusing to read it",
					lim->max_bytes);
		else
			rc = diag_errno(diags, name, "cannot read");
		buf_free(&data);
		return rc;
	}
	int rc = ydoc_parse(out, name, data.ptr, data.len, lim, diags);
	buf_free(&data);
	return rc;
}

ynode *ynode_map_get(const ynode *map, const char *key)
{
	if (!map || map->kind != YN_MAP)
		return NULL;
	for (size_t i = 0; i < map->count; i++)
		if (!strcmp(ynode_map_key(map, i)->value, key))
			return ynode_map_value(map, i);
	return NULL;
}

bool ynode_is_scalar(const ynode *n)
{
	return n && n->kind == YN_SCALAR;
}

const char *ynode_kind_name(const ynode *n)
{
	if (!n)
		return "nothing";
	switch (n->kind) {
	case YN_SEQ: return "sequence";
	case YN_MAP: return "mapping";
	default: break;
	}
	switch (n->stype) {
	case YS_NULL: return "null";
	case YS_BOOL: return "boolean";
	case YS_INT: return "integer";
	case YS_FLOAT: return "number";
	default: return "string";
	}
}
