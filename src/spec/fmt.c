/* fmt: canonical layout for spec files, built on token positions.
 *
 * Why not load-and-dump: libyaml has no comment token or event, and libfyaml
 * 0.7.12 drops most comments even in its experimental comment mode
 * (shared/reference/c-libraries.md A1(e) and addendum). So the formatter never
 * regenerates YAML from a tree. It reads the source text as lines, finds every
 * node's byte range from libyaml's events (libyaml marks count characters, so
 * indexes are mapped to bytes), finds the '-' of sequence items from the
 * scanner's tokens, finds comments as the '#' that lie outside every scalar,
 * and then re-emits lines: moved, re-indented and trimmed, never rewritten
 * from parsed values.
 *
 * The model. A block mapping or block sequence is a list of entries; an entry
 * is the line of its key (or '-'), plus the lines of its value. Every comment
 * belongs to exactly one place:
 *   trail   the end of an entry's own line (`key: value  # here`);
 *   lead    comment lines above an entry, up to the previous entry;
 *   tail    comment lines after the last entry of a mapping or sequence that
 *           are indented at least as deep as its keys (or '-'); shallower ones
 *           lead the next outer entry;
 *   header  everything before the first top-level entry (comments such as
 *           `# yaml-language-server: $schema=...`, `%YAML`, `---`): it stays
 *           at the top, and a comment block at the end of the file stays at
 *           the end;
 *   inside  comments within an entry that is left as written.
 * A comment moves with the entry it belongs to, so a comment block above an
 * entry follows that entry when the keys are reordered, also when a blank line
 * separates them (a section comment in the middle of a file leads what follows);
 * blank lines above an entry move with it too. Which comment belongs where is
 * decided on the input and checked again on the output, so an ambiguous layout
 * cannot silently change attachment.
 *
 * What changes:
 *   - key order: mappings whose format is known (the top level of a run spec
 *     or amlspec.yaml, environment, environment.python, environment.docker,
 *     distribution, limits, each target by its type) are sorted in the order of
 *     the fields in src/spec/formats.c, stably. A mapping with a key the format
 *     does not know, free-form maps (tags, environment_variables, targets) and
 *     mappings inside sequence items keep their order;
 *   - indentation: 2 spaces per level; sequences are indented under their key;
 *   - `key: value` with one space after the colon, and `- item`;
 *   - no trailing whitespace, one blank line at most between lines, none at the
 *     start of a mapping or sequence or of the file, exactly one newline at the
 *     end, LF line endings (a UTF-8 byte order mark is kept);
 *   - quotes are dropped where the plain form is the same string for YAML 1.2
 *     (core schema), YAML 1.1 readers and libyaml (plain_ok() below):
 *     `experiment: "mnist"` becomes `experiment: mnist`, while "3.11", "10",
 *     "yes", "on", "~" and anything with ':' or '#' keep their quotes. Quotes
 *     are never added: a number where the format wants a string is for
 *     `validate` to report, not for fmt to change.
 *   - comment lines take the indentation of what they belong to; a trailing
 *     comment keeps its distance from the text before it.
 *
 * Left as written (the entry's lines move and shift as one block, nothing
 * inside them changes): block scalars (| and >), scalars or flow collections
 * that span lines, a value on the line after its key unless it is a block
 * mapping or sequence, tags on collections, nested sequences on one line
 * (`- - a`), items whose mapping starts on the line after the '-'. Flow
 * collections on one line are kept byte for byte. The whole file is left as
 * written (with a warning) when its top level is not a block mapping, or it
 * has explicit keys (`? key`), a document end marker, CR or Unicode line
 * breaks other than CRLF, a block scalar at the end without a final newline,
 * or a line that cannot be re-indented safely.
 *
 * Checks on every result, before anything is returned (verify()): the result
 * must load, with the same tree as the input (kinds, scalar values and their
 * YAML 1.2 types, flow or block, and each mapping's keys either in the input's
 * order or in its canonical order); every comment must be attached to the same
 * entry in the same way when the result is read back; and formatting the
 * result again must change nothing. Anything else is refused as an internal
 * error and the file is kept as it is.
 */
#include "spec/fmt.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "spec/ytree.h"
#include "util/fs.h"

enum { CK_UNSET, CK_HEADER, CK_LEAD, CK_TRAIL, CK_TAIL, CK_INSIDE };
static const char *const kind_names[] = { "?", "header", "lead", "trail", "tail", "inside" };

enum { LF_END_IN_SCALAR = 1, LF_IN_BLOCK = 2 };

typedef struct lrange {
	size_t first, count;   /* lines [first, first + count) */
} lrange;

typedef struct fcomment {
	size_t start, end;     /* from '#' to the end of the line, trailing blanks excluded */
	size_t line;
	bool own_line;         /* nothing but blanks before it */
	int kind;
	const char *owner;     /* key path, borrowed from an entry or a node */
} fcomment;

typedef struct srange {
	size_t start, end;
	bool block;
} srange;

typedef struct fnode fnode;
typedef struct fentry fentry;

struct fnode {
	ynode_kind kind;
	int style;             /* scalars: yaml_scalar_style_t */
	bool flow;
	bool keep;             /* ends with a keep-chomping block scalar (|+, >+) */
	size_t start, end;     /* bytes, from the events */
	size_t last;           /* just after the node's last character (block collections: of the last child) */
	char *value;
	fnode **kids;          /* mapping: key0, value0, key1, value1, ... */
	size_t nkids;
	/* block collections that are laid out entry by entry */
	fentry *entries;
	size_t nentries;
	size_t *order;         /* emission order */
	size_t col;            /* source column of the keys or '-' */
	bool item_map;         /* a mapping that starts on the line of its item's '-' */
	fentry *owner;         /* the entry whose value this is; NULL for the root */
	const char *path;      /* borrowed from owner; "" for the root */
	const schema *sch;
	lrange tail;
};

struct fentry {
	fnode *container;
	fnode *key;            /* NULL for sequence items */
	fnode *value;
	size_t line, col;      /* line of the key or '-', and its column */
	size_t last_line;      /* last line of the entry's own text (its region when verbatim) */
	size_t content_end;    /* laid out: byte after the line's content */
	bool verbatim;
	bool item_map;         /* laid out as '- ' + the first entry of a mapping */
	bool keep_end;
	long trail;            /* comment index, or -1 */
	lrange lead;
	char *path;
};

typedef struct fmodel {
	char *text;            /* LF line ends, no byte order mark; owned */
	size_t len;
	size_t *ls, *le;       /* line i is text[ls[i], le[i]) without its '\n' */
	size_t nlines;
	unsigned char *lflag;
	long *line_comment;    /* own-line comment on each line, or -1 */
	fnode *root;
	srange *sr;
	size_t nsr, asr;
	size_t *dashes;        /* offsets of block entry ('-') tokens, ascending */
	size_t ndashes, adashes;
	fcomment *cm;
	size_t ncm, acm;
	fentry **anchors;      /* laid-out and verbatim entries in source order */
	size_t nanchors, aanchors;
	lrange header;
	const schema *sch;
	const char *unsupported;   /* set: leave the file as written, for this reason */
	size_t unsupported_line;   /* 1-based; 0 when none */
} fmodel;

static void unsupported(fmodel *m, size_t line0, const char *why)
{
	if (m->unsupported)
		return;
	m->unsupported = why;
	m->unsupported_line = line0 + 1;
}

/* ---- schema lookups ---- */

const schema *fmt_schema_for_path(const char *path)
{
	return !strcmp(fs_basename(path), "amlspec.yaml") ? &schema_workspace : &schema_run_spec;
}

static const schema *object_schema(const schema *s, const char *type_value)
{
	if (!s)
		return NULL;
	switch (s->type) {
	case SCH_OBJECT:
		return s;
	case SCH_STRING_OR_OBJECT:
		return object_schema(s->alt, type_value);
	case SCH_TAGGED:
		for (const schema_variant *v = s->variants; v && v->tag; v++)
			if (type_value && !strcmp(v->tag, type_value))
				return v->schema;
		return NULL;
	default:
		return NULL;
	}
}

/* Rank of key in obj's fields; -1 when unknown. */
static long field_rank(const schema *obj, const char *key)
{
	for (long i = 0; obj && obj->fields[i].name; i++)
		if (!strcmp(obj->fields[i].name, key))
			return i;
	return -1;
}

static const schema *member_schema(const schema *s, const schema *obj, const char *key)
{
	long r = field_rank(obj, key);
	if (r >= 0)
		return obj->fields[r].schema;
	if (!obj && s && s->type == SCH_MAP)
		return s->items;
	return NULL;
}

static const schema *item_schema(const schema *s)
{
	return s && s->type == SCH_ARRAY ? s->items : NULL;
}

/* ---- text ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool blank_span(const char *t, size_t a, size_t b)
{
	for (size_t i = a; i < b; i++)
		if (!is_blank(t[i]))
			return false;
	return true;
}

static size_t line_of(const fmodel *m, size_t off)
{
	size_t lo = 0, hi = m->nlines;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (m->ls[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static size_t rstrip_end(const char *t, size_t a, size_t b)
{
	while (b > a && is_blank(t[b - 1]))
		b--;
	return b;
}

static bool line_blank(const fmodel *m, size_t i)
{
	return blank_span(m->text, m->ls[i], m->le[i]);
}

static size_t leading_spaces(const fmodel *m, size_t i)
{
	size_t p = m->ls[i];
	while (p < m->le[i] && m->text[p] == ' ')
		p++;
	return p - m->ls[i];
}

static void split_lines(fmodel *m)
{
	size_t n = 1;
	for (size_t i = 0; i < m->len; i++)
		n += m->text[i] == '\n';
	if (m->len && m->text[m->len - 1] == '\n')
		n--;
	if (!m->len)
		n = 0;
	m->ls = xcalloc(n + 1, sizeof(*m->ls));
	m->le = xcalloc(n + 1, sizeof(*m->le));
	m->lflag = xcalloc(n + 1, 1);
	m->line_comment = xcalloc(n + 1, sizeof(*m->line_comment));
	size_t line = 0, start = 0;
	for (size_t i = 0; i <= m->len && line < n; i++) {
		if (i == m->len || m->text[i] == '\n') {
			m->ls[line] = start;
			m->le[line] = i;
			m->line_comment[line] = -1;
			line++;
			start = i + 1;
		}
	}
	m->nlines = n;
	m->ls[n] = m->len;
	m->le[n] = m->len;
}

/* ---- nodes from libyaml's events ---- */

static void node_free(fnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	for (size_t i = 0; i < n->nentries; i++)
		free(n->entries[i].path);
	free(n->entries);
	free(n->order);
	free(n->kids);
	free(n->value);
	free(n);
}

static void model_free(fmodel *m)
{
	node_free(m->root);
	free(m->text);
	free(m->ls);
	free(m->le);
	free(m->lflag);
	free(m->line_comment);
	free(m->sr);
	free(m->dashes);
	free(m->cm);
	free(m->anchors);
	memset(m, 0, sizeof(*m));
}

static bool is_block_style(const fnode *n)
{
	return n->kind == YN_SCALAR &&
	       (n->style == YAML_LITERAL_SCALAR_STYLE || n->style == YAML_FOLDED_SCALAR_STYLE);
}

/* For a block scalar: keep chomping, and `last` before the blank lines that
 * are not part of its value. */
static void block_scalar_bounds(const fmodel *m, fnode *n)
{
	const char *t = m->text;
	size_t p = n->start + 1;
	while (p < n->end && (t[p] == '+' || t[p] == '-' || (t[p] >= '0' && t[p] <= '9'))) {
		if (t[p] == '+')
			n->keep = true;
		p++;
	}
	n->last = n->end;
	if (n->keep)
		return;
	while (n->last > n->start + 1 && (is_blank(t[n->last - 1]) || t[n->last - 1] == '\n'))
		n->last--;
}

static void add_srange(fmodel *m, size_t start, size_t end, bool block)
{
	if (m->nsr == m->asr) {
		m->asr = m->asr ? 2 * m->asr : 64;
		m->sr = xrealloc(m->sr, m->asr * sizeof(*m->sr));
	}
	m->sr[m->nsr++] = (srange){ start, end, block };
}

static void kid_add(fnode *parent, fnode *kid)
{
	parent->kids = xrealloc(parent->kids, (parent->nkids + 1) * sizeof(*parent->kids));
	parent->kids[parent->nkids++] = kid;
}

/* Builds m->root from the events and m->dashes from the tokens. The text has
 * already loaded with ytree, so a libyaml error here is unexpected. */
static int build_nodes(fmodel *m)
{
	size_t nchars = 0;
	for (size_t i = 0; i < m->len; i++)
		nchars += ((unsigned char)m->text[i] & 0xC0) != 0x80;
	size_t *c2b = xcalloc(nchars + 2, sizeof(*c2b));
	for (size_t i = 0, c = 0; i < m->len; i++)
		if (((unsigned char)m->text[i] & 0xC0) != 0x80)
			c2b[c++] = i;
	c2b[nchars] = c2b[nchars + 1] = m->len;
#define BYTE(mark) c2b[(mark).index <= nchars ? (mark).index : nchars]

	int rc = 0;
	yaml_parser_t p;
	yaml_token_t tok;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)m->text, m->len);
	for (;;) {
		if (!yaml_parser_scan(&p, &tok)) {
			rc = -1;
			break;
		}
		yaml_token_type_t type = tok.type;
		if (type == YAML_BLOCK_ENTRY_TOKEN) {
			if (m->ndashes == m->adashes) {
				m->adashes = m->adashes ? 2 * m->adashes : 32;
				m->dashes = xrealloc(m->dashes, m->adashes * sizeof(*m->dashes));
			}
			m->dashes[m->ndashes++] = BYTE(tok.start_mark);
		} else if (type == YAML_KEY_TOKEN && tok.end_mark.index > tok.start_mark.index) {
			unsupported(m, tok.start_mark.line, "an explicit key ('? key')");
		} else if (type == YAML_DOCUMENT_END_TOKEN) {
			unsupported(m, tok.start_mark.line, "a document end marker ('...')");
		}
		yaml_token_delete(&tok);
		if (type == YAML_STREAM_END_TOKEN)
			break;
	}
	yaml_parser_delete(&p);
	if (rc)
		goto done;

	yaml_event_t ev;
	fnode **stack = NULL;
	size_t depth = 0, alloc = 0;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)m->text, m->len);
	for (int finished = 0; !finished;) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = -1;
			break;
		}
		fnode *n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			finished = 1;
			break;
		case YAML_SCALAR_EVENT:
			n = xcalloc(1, sizeof(*n));
			n->kind = YN_SCALAR;
			n->style = ev.data.scalar.style;
			n->start = BYTE(ev.start_mark);
			n->end = BYTE(ev.end_mark);
			n->last = n->end;
			n->value = xstrndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
			if (is_block_style(n))
				block_scalar_bounds(m, n);
			if (n->end > n->start)
				add_srange(m, n->start, n->end, is_block_style(n));
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			n = xcalloc(1, sizeof(*n));
			n->kind = ev.type == YAML_MAPPING_START_EVENT ? YN_MAP : YN_SEQ;
			n->flow = n->kind == YN_MAP ? ev.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
						    : ev.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
			n->start = BYTE(ev.start_mark);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: {
			fnode *top = stack[--depth];
			top->end = BYTE(ev.end_mark);
			if (top->flow || !top->nkids) {
				top->last = top->end;
			} else {
				fnode *lastkid = top->kids[top->nkids - 1];
				top->last = lastkid->last;
				top->keep = lastkid->keep;
			}
			break;
		}
		default:
			break;
		}
		if (n) {
			if (depth)
				kid_add(stack[depth - 1], n);
			else if (!m->root)
				m->root = n;
			else
				node_free(n); /* a second document: ytree refuses those */
			if (n->kind != YN_SCALAR) {
				if (depth == alloc) {
					alloc = alloc ? 2 * alloc : 16;
					stack = xrealloc(stack, alloc * sizeof(*stack));
				}
				stack[depth++] = n;
			}
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	free(stack);
done:
#undef BYTE
	free(c2b);
	return rc;
}

/* ---- comments ---- */

static void add_comment(fmodel *m, size_t start, size_t line)
{
	if (m->ncm == m->acm) {
		m->acm = m->acm ? 2 * m->acm : 32;
		m->cm = xrealloc(m->cm, m->acm * sizeof(*m->cm));
	}
	fcomment *c = &m->cm[m->ncm];
	memset(c, 0, sizeof(*c));
	c->start = start;
	c->end = rstrip_end(m->text, start, m->le[line]);
	c->line = line;
	c->own_line = blank_span(m->text, m->ls[line], start);
	if (c->own_line)
		m->line_comment[line] = (long)m->ncm;
	m->ncm++;
}

/* A comment is a '#' at the start of a line or after a blank that lies outside
 * every scalar. A block scalar's header line (`key: |  # note`) is scanned
 * too: its content starts on the next line. Also marks the lines whose end
 * lies inside a scalar, and the lines within block scalars. */
static void find_comments(fmodel *m)
{
	for (size_t k = 0; k < m->nsr; k++) {
		srange *s = &m->sr[k];
		size_t a = line_of(m, s->start), b = line_of(m, s->end > s->start ? s->end - 1 : s->start);
		for (size_t i = a; i <= b && i < m->nlines; i++) {
			if (m->le[i] >= s->start && m->le[i] < s->end)
				m->lflag[i] |= LF_END_IN_SCALAR;
			if (s->block && i > a)
				m->lflag[i] |= LF_IN_BLOCK;
		}
		if (s->block) /* scan the header line */
			s->start = a + 1 < m->nlines ? m->ls[a + 1] : m->len;
	}
	size_t si = 0;
	for (size_t i = 0; i < m->nlines; i++) {
		size_t p = m->ls[i];
		while (p < m->le[i]) {
			while (si < m->nsr && m->sr[si].end <= p)
				si++;
			/* ranges are in source order; a later one may start before an
			 * earlier one ends only when nested, which scalars never are */
			if (si < m->nsr && m->sr[si].start <= p) {
				p = m->sr[si].end;
				continue;
			}
			if (m->text[p] == '#' && (p == m->ls[i] || is_blank(m->text[p - 1]))) {
				add_comment(m, p, i);
				break;
			}
			p++;
		}
	}
}

static long comment_at(const fmodel *m, size_t off)
{
	size_t lo = 0, hi = m->ncm;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->cm[mid].start < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->ncm && m->cm[lo].start == off ? (long)lo : -1;
}

/* Whether the rest of line from q is blanks, then the end or a comment. */
static bool rest_ok(const fmodel *m, size_t q, size_t line)
{
	while (q < m->le[line] && is_blank(m->text[q]))
		q++;
	return q == m->le[line] || comment_at(m, q) >= 0;
}

static long trailing_comment(const fmodel *m, size_t from, size_t line)
{
	size_t q = from;
	while (q < m->le[line] && is_blank(m->text[q]))
		q++;
	return q < m->le[line] ? comment_at(m, q) : -1;
}

/* ---- layout analysis ---- */

enum { M_VERBATIM, M_NORMAL, M_ITEM_MAP };

static void push_anchor(fmodel *m, fentry *e)
{
	if (m->nanchors == m->aanchors) {
		m->aanchors = m->aanchors ? 2 * m->aanchors : 32;
		m->anchors = xrealloc(m->anchors, m->aanchors * sizeof(*m->anchors));
	}
	m->anchors[m->nanchors++] = e;
}

/* A one-line value that is laid out: a scalar other than a block scalar, or
 * a flow collection. Sets *vend to the byte after it. */
static bool inline_value(const fmodel *m, const fnode *v, size_t line, size_t after, size_t *vend)
{
	if (!((v->kind == YN_SCALAR && !is_block_style(v)) || (v->kind != YN_SCALAR && v->flow)))
		return false;
	size_t e = v->kind == YN_SCALAR ? v->end : v->last;
	if (e <= v->start || line_of(m, v->start) != line || line_of(m, e - 1) != line)
		return false;
	if (v->start <= after || !blank_span(m->text, after, v->start) || !rest_ok(m, e, line))
		return false;
	*vend = e;
	return true;
}

static bool empty_value(const fnode *v)
{
	return v->kind == YN_SCALAR && v->start == v->end;
}

static int map_entry_mode(const fmodel *m, const fnode *map, size_t i, size_t *cend)
{
	const fnode *k = map->kids[2 * i], *v = map->kids[2 * i + 1];
	size_t line = line_of(m, k->start);
	if (k->kind != YN_SCALAR || k->end <= k->start || line_of(m, k->end - 1) != line)
		return M_VERBATIM;
	size_t p = k->end;
	while (p < m->le[line] && is_blank(m->text[p]))
		p++;
	if (p >= m->le[line] || m->text[p] != ':')
		return M_VERBATIM;
	p++;
	if (empty_value(v)) {
		if (v->start != p || !rest_ok(m, p, line))
			return M_VERBATIM;
		*cend = p;
		return M_NORMAL;
	}
	if (inline_value(m, v, line, p, cend))
		return M_NORMAL;
	if (v->kind != YN_SCALAR && !v->flow && line_of(m, v->start) > line && rest_ok(m, p, line)) {
		*cend = p;
		return M_NORMAL;
	}
	return M_VERBATIM;
}

static int item_mode(const fmodel *m, const fnode *v, size_t dash, size_t *cend)
{
	size_t line = line_of(m, dash), p = dash + 1;
	if (empty_value(v)) {
		if (v->start != p || !rest_ok(m, p, line))
			return M_VERBATIM;
		*cend = p;
		return M_NORMAL;
	}
	if (inline_value(m, v, line, p, cend))
		return M_NORMAL;
	if (v->kind == YN_MAP && !v->flow && v->nkids && line_of(m, v->start) == line && v->start > p &&
	    blank_span(m->text, p, v->start)) {
		size_t ce;
		if (map_entry_mode(m, v, 0, &ce) == M_NORMAL)
			return M_ITEM_MAP;
	}
	return M_VERBATIM;
}

static void set_region(const fmodel *m, fentry *e)
{
	const fnode *v = e->value;
	size_t last = v->last > v->start ? line_of(m, v->last - 1) : line_of(m, v->start);
	e->last_line = last > e->line ? last : e->line;
	e->keep_end = v->keep;
}

static size_t first_dash_from(const fmodel *m, size_t off)
{
	size_t lo = 0, hi = m->ndashes;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->dashes[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->ndashes ? m->dashes[lo] : SIZE_MAX;
}

static void analyze_container(fmodel *m, fnode *c);

static void analyze_child(fmodel *m, fentry *e, const schema *s)
{
	fnode *v = e->value;
	v->owner = e;
	v->path = e->path;
	v->sch = s;
	analyze_container(m, v);
}

static const char *type_value(const fnode *map)
{
	for (size_t i = 0; i + 1 < map->nkids; i += 2)
		if (!strcmp(map->kids[i]->value, "type") && map->kids[i + 1]->kind == YN_SCALAR)
			return map->kids[i + 1]->value;
	return NULL;
}

static void sort_entries(fnode *c)
{
	for (size_t i = 0; i < c->nentries; i++)
		c->order[i] = i;
	if (c->item_map)
		return;
	const schema *obj = object_schema(c->sch, type_value(c));
	if (!obj)
		return;
	long *rank = xcalloc(c->nentries, sizeof(*rank));
	for (size_t i = 0; i < c->nentries; i++)
		if ((rank[i] = field_rank(obj, c->entries[i].key->value)) < 0)
			goto done; /* a key the format does not know: keep the order */
	for (size_t i = 1; i < c->nentries; i++) { /* stable insertion sort */
		size_t x = c->order[i], j = i;
		while (j > 0 && rank[c->order[j - 1]] > rank[x]) {
			c->order[j] = c->order[j - 1];
			j--;
		}
		c->order[j] = x;
	}
done:
	free(rank);
}

static void analyze_map(fmodel *m, fnode *c)
{
	c->nentries = c->nkids / 2;
	c->entries = xcalloc(c->nentries, sizeof(*c->entries));
	c->order = xcalloc(c->nentries, sizeof(*c->order));
	const schema *obj = object_schema(c->sch, type_value(c));
	for (size_t i = 0; i < c->nentries; i++) {
		fentry *e = &c->entries[i];
		e->container = c;
		e->key = c->kids[2 * i];
		e->value = c->kids[2 * i + 1];
		e->trail = -1;
		e->line = line_of(m, e->key->start);
		e->col = e->key->start - m->ls[e->line];
		e->last_line = e->line;
		e->path = *c->path ? xasprintf("%s.%s", c->path, e->key->value) : xstrdup(e->key->value);
		if (!(c->item_map && i == 0) && !blank_span(m->text, m->ls[e->line], e->key->start))
			unsupported(m, e->line, "text before a key on its line");
		if (i == 0)
			c->col = e->col;
		size_t cend = 0;
		push_anchor(m, e);
		if (map_entry_mode(m, c, i, &cend) == M_NORMAL) {
			e->content_end = cend;
			e->trail = trailing_comment(m, cend, e->line);
			if (e->value->kind != YN_SCALAR && !e->value->flow)
				analyze_child(m, e, member_schema(c->sch, obj, e->key->value));
		} else {
			e->verbatim = true;
			set_region(m, e);
		}
	}
	sort_entries(c);
}

static void analyze_seq(fmodel *m, fnode *c)
{
	c->nentries = c->nkids;
	c->entries = xcalloc(c->nentries, sizeof(*c->entries));
	c->order = xcalloc(c->nentries, sizeof(*c->order));
	for (size_t i = 0; i < c->nentries; i++) {
		fentry *e = &c->entries[i];
		c->order[i] = i;
		e->container = c;
		e->value = c->kids[i];
		e->trail = -1;
		e->path = xasprintf("%s[%zu]", c->path, i);
		size_t dash = first_dash_from(m, i == 0 ? c->start : c->kids[i - 1]->last);
		bool found = dash < m->len && m->text[dash] == '-' &&
			     (empty_value(e->value) ? e->value->start == dash + 1 : dash < e->value->start);
		if (!found) {
			e->line = e->last_line = line_of(m, e->value->start);
			unsupported(m, e->line, "a sequence item the formatter cannot place");
			e->verbatim = true;
			push_anchor(m, e);
			continue;
		}
		e->line = line_of(m, dash);
		e->col = dash - m->ls[e->line];
		e->last_line = e->line;
		if (!blank_span(m->text, m->ls[e->line], dash))
			unsupported(m, e->line, "text before '-' on its line");
		if (i == 0)
			c->col = e->col;
		size_t cend = 0;
		push_anchor(m, e);
		int mode = item_mode(m, e->value, dash, &cend);
		if (mode == M_NORMAL) {
			e->content_end = cend;
			e->trail = trailing_comment(m, cend, e->line);
		} else if (mode == M_ITEM_MAP) {
			e->item_map = true;
			e->value->item_map = true;
			analyze_child(m, e, item_schema(c->sch));
		} else {
			e->verbatim = true;
			set_region(m, e);
		}
	}
}

static void analyze_container(fmodel *m, fnode *c)
{
	if (c->kind == YN_MAP)
		analyze_map(m, c);
	else
		analyze_seq(m, c);
}

/* ---- gaps: the comment and blank lines between entries ---- */

static void set_kind(fmodel *m, size_t first, size_t end, int kind, const char *owner)
{
	for (size_t i = first; i < end; i++)
		if (m->line_comment[i] >= 0) {
			fcomment *c = &m->cm[m->line_comment[i]];
			c->kind = kind;
			c->owner = owner;
		}
}

static bool gap_line_ok(const fmodel *m, size_t i)
{
	return line_blank(m, i) || m->line_comment[i] >= 0;
}

/* The column from which a comment line belongs to the container c. A
 * sequence written at its key's column (`key:` then `- a` below it) shares
 * that column with the mapping around it; a comment there leads the next key. */
static size_t owning_col(const fnode *c)
{
	if (c->kind == YN_SEQ && c->owner && c->col <= c->owner->col)
		return c->owner->col + 1;
	return c->col;
}

static void assign_gap(fmodel *m, fentry *prev, fentry *next)
{
	size_t first = prev->last_line + 1, end = next ? next->line : m->nlines;
	if (next && next->line <= prev->last_line) {
		if (!(prev->item_map && next->container->owner == prev && next->line == prev->line))
			unsupported(m, next->line, "two entries on one line");
		return;
	}
	for (size_t i = first; i < end; i++)
		if (!gap_line_ok(m, i)) {
			unsupported(m, i, "unexpected text between entries");
			return;
		}
	if (next && next->container->owner == prev) { /* the first entry of prev's value */
		next->lead = (lrange){ first, end - first };
		set_kind(m, first, end, CK_LEAD, next->path);
		return;
	}
	/* the mappings and sequences that end here, deepest first */
	fnode *chain[128];
	size_t n = 0;
	for (fnode *x = prev->container; x != (next ? next->container : NULL);
	     x = x->owner ? x->owner->container : NULL) {
		if (!x || n == sizeof(chain) / sizeof(chain[0])) {
			unsupported(m, first, "nesting the formatter cannot follow");
			return;
		}
		chain[n++] = x;
	}
	size_t j = 0, pending = first;
	for (size_t i = first; i < end; i++) {
		long ci = m->line_comment[i];
		if (ci < 0)
			continue;
		size_t col = m->cm[ci].start - m->ls[i];
		while (j < n && owning_col(chain[j]) > col)
			j++;
		if (j == n) {
			if (next)
				break; /* this and what follows lead the next entry */
			j = n - 1;  /* at the end of the file: the top level's tail */
		}
		fnode *x = chain[j];
		if (!x->tail.count)
			x->tail.first = pending;
		x->tail.count = i + 1 - x->tail.first;
		m->cm[ci].kind = CK_TAIL;
		m->cm[ci].owner = x->path;
		pending = i + 1;
	}
	if (next) {
		next->lead = (lrange){ pending, end - pending };
		set_kind(m, pending, end, CK_LEAD, next->path);
	}
}

static void assign_prelude(fmodel *m)
{
	fentry *e0 = m->anchors[0];
	for (size_t i = 0; i < e0->line; i++) {
		if (gap_line_ok(m, i))
			continue;
		const char *t = m->text + m->ls[i];
		size_t n = m->le[i] - m->ls[i];
		if (*t == '%' || (n >= 3 && !strncmp(t, "---", 3) && (n == 3 || is_blank(t[3])) && rest_ok(m, m->ls[i] + 3, i)))
			continue;
		unsupported(m, i, "unexpected text before the first key");
		return;
	}
	size_t s = e0->line;
	m->header = (lrange){ 0, s };
	for (size_t c = 0; c < m->ncm && m->cm[c].line < s; c++) { /* also comments on marker lines */
		m->cm[c].kind = CK_HEADER;
		m->cm[c].owner = "";
	}
}

static void place_comments(fmodel *m)
{
	assign_prelude(m);
	for (size_t k = 1; k < m->nanchors; k++)
		assign_gap(m, m->anchors[k - 1], m->anchors[k]);
	assign_gap(m, m->anchors[m->nanchors - 1], NULL);
	for (size_t k = 0; k < m->nanchors; k++) {
		fentry *e = m->anchors[k];
		if (e->trail >= 0) {
			m->cm[e->trail].kind = CK_TRAIL;
			m->cm[e->trail].owner = e->path;
		}
	}
	/* the rest lie within entries left as written (anchors are in line order) */
	for (size_t c = 0, k = 0; c < m->ncm; c++) {
		if (m->cm[c].kind != CK_UNSET)
			continue;
		while (k < m->nanchors && m->anchors[k]->last_line < m->cm[c].line)
			k++;
		for (size_t j = k; j < m->nanchors && m->anchors[j]->line <= m->cm[c].line; j++)
			if (m->anchors[j]->verbatim && m->anchors[j]->last_line >= m->cm[c].line) {
				m->cm[c].kind = CK_INSIDE;
				m->cm[c].owner = m->anchors[j]->path;
				break;
			}
	}
	for (size_t c = 0; c < m->ncm; c++)
		if (m->cm[c].kind == CK_UNSET)
			unsupported(m, m->cm[c].line, "a comment the formatter cannot place");
}

/* Normalizes text (drops a UTF-8 byte order mark, CRLF -> LF) and analyzes
 * it. Returns -1 when libyaml fails on it (unexpected after ytree loaded it). */
static int model_load(fmodel *m, const char *text, size_t len, const schema *sch, bool *bom)
{
	memset(m, 0, sizeof(*m));
	m->sch = sch;
	*bom = len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3);
	if (*bom)
		text += 3, len -= 3;
	m->text = xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')
			continue;
		if (text[i] == '\r')
			unsupported(m, 0, "carriage returns that do not end lines");
		if ((unsigned char)text[i] == 0xC2 && i + 1 < len && (unsigned char)text[i + 1] == 0x85)
			unsupported(m, 0, "Unicode line breaks (U+0085)");
		if ((unsigned char)text[i] == 0xE2 && i + 2 < len && (unsigned char)text[i + 1] == 0x80 &&
		    ((unsigned char)text[i + 2] == 0xA8 || (unsigned char)text[i + 2] == 0xA9))
			unsupported(m, 0, "Unicode line breaks (U+2028, U+2029)");
		m->text[n++] = text[i];
	}
	m->text[n] = '\0';
	m->len = n;
	if (m->unsupported)
		return 0;
	split_lines(m);
	if (build_nodes(m) < 0)
		return -1;
	find_comments(m);
	if (!m->root)
		return 0;
	if (m->root->kind != YN_MAP || m->root->flow || !m->root->nkids) {
		unsupported(m, line_of(m, m->root->start), "the top level is not a block mapping");
		return 0;
	}
	if (m->len && m->text[m->len - 1] != '\n') {
		for (size_t k = 0; k < m->nsr; k++)
			if (m->sr[k].block && m->sr[k].end >= m->len)
				unsupported(m, m->nlines - 1, "a block scalar at the end of the file without a final newline");
	}
	m->root->path = "";
	m->root->sch = sch;
	analyze_container(m, m->root);
	if (!m->unsupported)
		place_comments(m);
	return 0;
}

/* ---- quoting ---- */

/* Whether s, written plain in block context, reads back as the same string
 * under YAML 1.2 (core schema), YAML 1.1 (PyYAML, the Azure ML CLI) and
 * libyaml. Deliberately narrow: when in doubt the quotes stay. */
static bool plain_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 256 || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || strchr("_./~@=+-()^$ ", c)))
			return false;
	}
	if (isdigit((unsigned char)s[0]) || s[0] == '+' || s[0] == '@' || s[0] == '=')
		return false;
	if (s[0] == '-' && (n == 1 || s[1] == ' ' || s[1] == '.' || isdigit((unsigned char)s[1]) || !strncmp(s, "---", 3)))
		return false;
	if (s[0] == '.' && !(s[1] == '/' || (s[1] == '.' && s[2] == '/')))
		return false;
	if (s[0] == '~' && s[1] != '/')
		return false;
	static const char *const words[] = { "y", "n", "yes", "no", "on", "off", "true", "false", "null", NULL };
	for (size_t i = 0; words[i]; i++)
		if (!strcasecmp(s, words[i]))
			return false;
	return true;
}

/* ---- emitting ---- */

typedef struct emitter {
	const fmodel *m;
	bool header;      /* the file has a header with text */
	buf out;
	bool any;         /* a line was written */
	bool last_blank;
	bool last_keep;   /* the last line ends a keep-chomping block scalar: no blank line may follow */
	bool failed;
	size_t fail_line;
} emitter;

static void em_spaces(emitter *em, size_t n)
{
	static const char spaces[] = "                                ";
	for (; n > sizeof(spaces) - 1; n -= sizeof(spaces) - 1)
		buf_add(&em->out, spaces, sizeof(spaces) - 1);
	buf_add(&em->out, spaces, n);
}

static void em_eol(emitter *em, bool blank)
{
	buf_putc(&em->out, '\n');
	em->any = true;
	em->last_blank = blank;
	em->last_keep = false;
}

static void em_blank(emitter *em)
{
	if (!em->any || em->last_blank || em->last_keep)
		return;
	em_eol(em, true);
}

static void em_comment_line(emitter *em, size_t indent, long ci)
{
	const fcomment *c = &em->m->cm[ci];
	em_spaces(em, indent);
	buf_add(&em->out, em->m->text + c->start, c->end - c->start);
	em_eol(em, false);
}

static bool has_comment(const fmodel *m, lrange r)
{
	for (size_t i = r.first; i < r.first + r.count; i++)
		if (m->line_comment[i] >= 0)
			return true;
	return false;
}

static void em_gap(emitter *em, lrange r, size_t indent, bool drop_leading_blanks)
{
	bool seen = false;
	for (size_t i = r.first; i < r.first + r.count; i++) {
		long ci = em->m->line_comment[i];
		if (ci < 0) {
			if (seen || !drop_leading_blanks)
				em_blank(em);
			continue;
		}
		em_comment_line(em, indent, ci);
		seen = true;
	}
}

static void em_scalar(emitter *em, const fnode *n)
{
	const char *t = em->m->text;
	if (n->kind == YN_SCALAR && (t[n->start] == '"' || t[n->start] == '\'') &&
	    (n->style == YAML_DOUBLE_QUOTED_SCALAR_STYLE || n->style == YAML_SINGLE_QUOTED_SCALAR_STYLE) &&
	    plain_ok(n->value)) {
		buf_puts(&em->out, n->value);
		return;
	}
	size_t e = n->kind == YN_SCALAR ? n->end : n->last;
	buf_add(&em->out, t + n->start, e - n->start);
}

static void em_trail(emitter *em, const fentry *e)
{
	if (e->trail < 0)
		return;
	const fcomment *c = &em->m->cm[e->trail];
	buf_add(&em->out, em->m->text + e->content_end, c->start - e->content_end);
	buf_add(&em->out, em->m->text + c->start, c->end - c->start);
}

/* An entry left as written: its lines, shifted as one block from its column
 * to indent. Trailing blanks go except where a line ends inside a scalar;
 * lines within block scalars keep their blanks. */
static void em_verbatim(emitter *em, const fentry *e, size_t indent)
{
	const fmodel *m = em->m;
	long delta = (long)indent - (long)e->col;
	for (size_t i = e->line; i <= e->last_line; i++) {
		size_t s = m->ls[i], t = m->le[i];
		size_t sp = i == e->line ? e->col : leading_spaces(m, i);
		size_t end = (m->lflag[i] & LF_END_IN_SCALAR) ? t : rstrip_end(m->text, s + sp, t);
		bool empty = end == s + sp;
		long nsp;
		if (empty && !(m->lflag[i] & LF_IN_BLOCK)) {
			nsp = 0;
		} else if (empty) {
			nsp = sp == 0 ? 0 : (long)sp + delta < 0 ? 0 : (long)sp + delta;
		} else if ((long)sp + delta >= 0) {
			nsp = (long)sp + delta;
		} else if (m->line_comment[i] >= 0 && !(m->lflag[i] & LF_IN_BLOCK)) {
			nsp = 0;
		} else {
			em->failed = true;
			em->fail_line = i;
			return;
		}
		em_spaces(em, (size_t)nsp);
		buf_add(&em->out, m->text + s + sp, end - (s + sp));
		em_eol(em, false);
	}
	em->last_keep = e->keep_end;
}

static void em_container(emitter *em, const fnode *c, size_t indent);

static void em_entry(emitter *em, const fentry *e, size_t indent, bool dash)
{
	if (e->verbatim) {
		em_verbatim(em, e, indent);
		return;
	}
	const fnode *v = e->value;
	if (e->item_map) { /* '- ' and the mapping's first entry on one line */
		em_container(em, v, indent + 2);
		return;
	}
	if (dash) {
		em_spaces(em, indent - 2);
		buf_puts(&em->out, "- ");
	} else {
		em_spaces(em, indent);
	}
	if (e->key) {
		em_scalar(em, e->key);
		buf_putc(&em->out, ':');
	} else {
		buf_putc(&em->out, '-');
	}
	bool below = v->kind != YN_SCALAR && !v->flow;
	if (!below && !empty_value(v)) {
		buf_putc(&em->out, ' ');
		em_scalar(em, v);
	}
	em_trail(em, e);
	em_eol(em, false);
	if (below)
		em_container(em, v, indent + 2);
}

/* indent: the new column of c's keys or '-'. The first entry of an item
 * mapping is written after its item's '- ' (at indent - 2). */
static void em_container(emitter *em, const fnode *c, size_t indent)
{
	for (size_t k = 0; k < c->nentries && !em->failed; k++) {
		const fentry *e = &c->entries[c->order[k]];
		if (c->item_map && k == 0) { /* on its item's line, after '- ' */
			em_entry(em, e, indent, true);
			continue;
		}
		if (k == 0 && c == em->m->root && em->header && has_comment(em->m, e->lead))
			em_blank(em); /* keep the entry's own comments apart from the header */
		em_gap(em, e->lead, indent, k == 0);
		em_entry(em, e, indent, false);
	}
	em_gap(em, c->tail, indent, false);
}

static int emit_model(buf *out, const fmodel *m, size_t *fail_line)
{
	emitter em = { m, false, BUF_INIT, false, false, false, false, 0 };
	for (size_t i = 0; i < m->header.count; i++) {
		size_t s = m->ls[i], t = rstrip_end(m->text, m->ls[i], m->le[i]);
		if (s == t) {
			em_blank(&em);
			continue;
		}
		em.header = true;
		buf_add(&em.out, m->text + s, t - s);
		em_eol(&em, false);
	}
	em_container(&em, m->root, 0);
	if (em.failed) {
		*fail_line = em.fail_line + 1;
		buf_free(&em.out);
		return -1;
	}
	buf_add(out, em.out.ptr, em.out.len);
	buf_free(&em.out);
	return 0;
}

/* ---- checks ---- */

typedef struct crec {
	char *key;    /* "kind path\t# text" */
	size_t line;  /* 1-based, for messages */
} crec;

static int crec_cmp(const void *a, const void *b)
{
	return strcmp(((const crec *)a)->key, ((const crec *)b)->key);
}

/* The comments' attachments, sorted. A lead of the first top-level entry (in
 * canonical order) counts as header: when reordering brings an entry with a
 * detached comment block to the top, that block reads back as the header. */
static crec *collect_records(const fmodel *m, size_t *n)
{
	crec *r = xcalloc(m->ncm + 1, sizeof(*r));
	const char *first = NULL;
	if (!m->unsupported && m->root && m->root->nentries)
		first = m->root->entries[m->root->order[0]].path;
	for (size_t i = 0; i < m->ncm; i++) {
		const fcomment *c = &m->cm[i];
		int kind = m->unsupported ? CK_INSIDE : c->kind;
		const char *owner = m->unsupported || !c->owner ? "" : c->owner;
		if (kind == CK_LEAD && first && !strcmp(owner, first))
			kind = CK_HEADER, owner = "";
		r[i].key = xasprintf("%s %s\t%.*s", kind_names[kind], owner, (int)(c->end - c->start), m->text + c->start);
		r[i].line = c->line + 1;
	}
	qsort(r, m->ncm, sizeof(*r), crec_cmp);
	*n = m->ncm;
	return r;
}

static void records_free(crec *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].key);
	free(r);
}

static const schema *object_schema_y(const schema *s, const ynode *map)
{
	const ynode *t = ynode_map_get(map, "type");
	return object_schema(s, t && t->kind == YN_SCALAR ? t->value : NULL);
}

static long rank_or_last(const schema *obj, const char *key)
{
	long r = field_rank(obj, key);
	return r < 0 ? 1L << 30 : r;
}

/* Whether b is a (the output's) the same tree as a (the input's): kinds,
 * values and YAML 1.2 types of scalars, flow or block; mappings with the
 * same keys, in a's order or in a's canonical order. On a difference, where
 * gets its key path. */
static bool tree_equal(const ynode *a, const ynode *b, const schema *s, buf *where, const char *path)
{
	if (!a || !b)
		return a == b;
	if (a->kind != b->kind || a->flow != b->flow)
		goto differ;
	if (a->kind == YN_SCALAR) {
		if (a->stype != b->stype || strcmp(a->value, b->value))
			goto differ;
		return true;
	}
	if (a->count != b->count)
		goto differ;
	if (a->kind == YN_SEQ) {
		for (size_t i = 0; i < a->count; i++) {
			char *p = xasprintf("%s[%zu]", path, i);
			bool ok = tree_equal(a->items[i], b->items[i], item_schema(s), where, p);
			free(p);
			if (!ok)
				return false;
		}
		return true;
	}
	const schema *obj = object_schema_y(s, a);
	size_t *canon = xcalloc(a->count + 1, sizeof(*canon)); /* a's keys in canonical order (stable) */
	size_t *at = xcalloc(a->count + 1, sizeof(*at));       /* where a's key i is in b */
	bool same_order = true, canonical = true, ok = true, inner = false;
	for (size_t i = 0; i < a->count; i++) {
		size_t j = i;
		long r = rank_or_last(obj, ynode_map_key(a, i)->value);
		while (j > 0 && rank_or_last(obj, ynode_map_key(a, canon[j - 1])->value) > r) {
			canon[j] = canon[j - 1];
			j--;
		}
		canon[j] = i;
	}
	for (size_t i = 0; i < a->count; i++) {
		const char *kb = ynode_map_key(b, i)->value;
		same_order = same_order && !strcmp(ynode_map_key(a, i)->value, kb);
		canonical = canonical && !strcmp(ynode_map_key(a, canon[i])->value, kb);
		at[canon[i]] = i;
	}
	if (same_order)
		for (size_t i = 0; i < a->count; i++)
			at[i] = i;
	else if (!(obj && canonical))
		ok = false;
	for (size_t i = 0; i < a->count && ok; i++) {
		const ynode *ka = ynode_map_key(a, i);
		if (ynode_map_key(b, at[i])->stype != ka->stype) {
			ok = false;
			break;
		}
		char *p = *path ? xasprintf("%s.%s", path, ka->value) : xstrdup(ka->value);
		ok = tree_equal(ynode_map_value(a, i), ynode_map_value(b, at[i]), member_schema(s, obj, ka->value), where, p);
		inner = !ok; /* where is set */
		free(p);
	}
	free(canon);
	free(at);
	if (ok || inner)
		return ok;
	goto differ;
differ:
	buf_puts(where, *path ? path : "the top level");
	return false;
}

static int refuse(diag_list *diags, const char *file, size_t line, const char *what)
{
	diag_error(diags, file, (unsigned)line, line ? 1 : 0, NULL,
		   "internal error: formatting would %s; the file is left as it is (please report this)", what);
	return AML_ERROR;
}

/* The invariants, on the result out of formatting m (whose input loaded as
 * in): see the top of this file. */
static int verify(const ydoc *in, const fmodel *m, const char *out, size_t outlen, const schema *sch,
		  const char *file, diag_list *diags)
{
	diag_list tmp = DIAG_LIST_INIT;
	ydoc *od = NULL;
	fmodel m2;
	bool bom, loaded = false;
	buf where = BUF_INIT, again = BUF_INIT;
	crec *r1 = NULL, *r2 = NULL;
	size_t n1 = 0, n2 = 0, fl = 0;
	int rc = AML_ERROR;

	if (ydoc_parse(&od, file, out, outlen, NULL, &tmp)) {
		buf_printf(&where, "produce YAML that does not load (%s)", tmp.count ? tmp.items[0].message : "?");
		refuse(diags, file, tmp.count ? tmp.items[0].line : 0, where.ptr);
		goto done;
	}
	if (!tree_equal(in->root, od->root, sch, &where, "")) {
		char *what = xasprintf("change the value of %s", where.ptr);
		refuse(diags, file, 0, what);
		free(what);
		goto done;
	}
	loaded = true;
	if (model_load(&m2, out, outlen, sch, &bom) < 0 || m2.unsupported || !m2.root) {
		refuse(diags, file, 0, "produce a layout it cannot read back");
		goto done;
	}
	r1 = collect_records(m, &n1);
	r2 = collect_records(&m2, &n2);
	for (size_t i = 0, j = 0; i < n1 || j < n2; i++, j++) {
		int c = i < n1 && j < n2 ? strcmp(r1[i].key, r2[j].key) : i < n1 ? -1 : 1;
		if (c) {
			refuse(diags, file, c < 0 ? r1[i].line : 0,
			       c < 0 ? "lose a comment or move it away from what it annotates"
				     : "add or duplicate a comment");
			goto done;
		}
	}
	if (emit_model(&again, &m2, &fl) < 0 || again.len != m2.len || memcmp(again.ptr, m2.text, m2.len)) {
		refuse(diags, file, 0, "not be stable (a second run would change the result again)");
		goto done;
	}
	rc = AML_OK;
done:
	if (loaded)
		model_free(&m2);
	records_free(r1, n1);
	records_free(r2, n2);
	buf_free(&where);
	buf_free(&again);
	ydoc_free(od);
	diag_list_free(&tmp);
	return rc;
}

/* ---- the API ---- */

int fmt_format(buf *out, const char *file, const char *text, size_t len, const schema *sch, diag_list *diags)
{
	ydoc *doc = NULL;
	if (ydoc_parse(&doc, file, text, len, NULL, diags))
		return AML_EINVALID;
	fmodel m;
	bool bom;
	buf res = BUF_INIT;
	size_t fail_line = 0;
	int rc = AML_OK;
	if (model_load(&m, text, len, sch, &bom) < 0) {
		rc = refuse(diags, file, 0, "need a second reading that libyaml refuses");
		goto done;
	}
	if (!m.root && !m.unsupported) { /* nothing but comments: leave it */
		buf_add(out, text, len);
		goto done;
	}
	if (!m.unsupported && emit_model(&res, &m, &fail_line) < 0)
		unsupported(&m, fail_line - 1, "a line that cannot be re-indented safely");
	if (m.unsupported) {
		diag_warning(diags, file, (unsigned)m.unsupported_line, m.unsupported_line ? 1 : 0, NULL,
			     "left as written: %s", m.unsupported);
		buf_add(out, text, len);
		goto done;
	}
	buf final = BUF_INIT;
	if (bom)
		buf_add(&final, "\xEF\xBB\xBF", 3);
	buf_add(&final, res.ptr, res.len);
	if (!(final.len == len && !memcmp(final.ptr, text, len)))
		rc = verify(doc, &m, final.ptr, final.len, sch, file, diags);
	if (rc == AML_OK)
		buf_add(out, final.ptr, final.len);
	buf_free(&final);
done:
	buf_free(&res);
	model_free(&m);
	ydoc_free(doc);
	return rc;
}

int fmt_comment_attachments(strlist *out, const char *text, size_t len, const schema *sch)
{
	diag_list tmp = DIAG_LIST_INIT;
	ydoc *doc = NULL;
	int rc = ydoc_parse(&doc, "-", text, len, NULL, &tmp);
	diag_list_free(&tmp);
	ydoc_free(doc);
	if (rc)
		return AML_EINVALID;
	fmodel m;
	bool bom;
	if (model_load(&m, text, len, sch, &bom) < 0) {
		model_free(&m);
		return AML_EINVALID;
	}
	size_t n;
	crec *r = collect_records(&m, &n);
	for (size_t i = 0; i < n; i++)
		strlist_add(out, r[i].key);
	records_free(r, n);
	model_free(&m);
	return AML_OK;
}

/* ---- unified diff ---- */

typedef struct dline {
	const char *p;
	size_t n;  /* with its '\n' when it has one */
} dline;

static size_t split_dlines(const char *s, size_t len, dline **out)
{
	size_t n = 0, cap = 16;
	dline *l = xmalloc(cap * sizeof(*l));
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - s) + 1 : len;
		if (n == cap)
			l = xrealloc(l, (cap *= 2) * sizeof(*l));
		l[n++] = (dline){ s + i, e - i };
		i = e;
	}
	*out = l;
	return n;
}

static bool dline_eq(dline a, dline b)
{
	return a.n == b.n && !memcmp(a.p, b.p, a.n);
}

typedef struct dop {
	char op;      /* ' ', '-', '+' */
	size_t ai, bi; /* lines of a and b consumed before this one */
} dop;

static void diff_line(buf *out, char op, dline l)
{
	buf_putc(out, op);
	bool nl = l.n && l.p[l.n - 1] == '\n';
	buf_add(out, l.p, nl ? l.n - 1 : l.n);
	buf_puts(out, nl ? "\n" : "\n\\ No newline at end of file\n");
}

void fmt_unified_diff(buf *out, const char *a_label, const char *b_label, const char *a, size_t alen,
		      const char *b, size_t blen)
{
	if (alen == blen && !memcmp(a, b, alen))
		return;
	dline *A, *B;
	size_t na = split_dlines(a, alen, &A), nb = split_dlines(b, blen, &B);
	size_t pre = 0, suf = 0;
	while (pre < na && pre < nb && dline_eq(A[pre], B[pre]))
		pre++;
	while (suf < na - pre && suf < nb - pre && dline_eq(A[na - 1 - suf], B[nb - 1 - suf]))
		suf++;
	size_t n = na - pre - suf, m = nb - pre - suf;
	dop *ops = xcalloc(na + nb + 1, sizeof(*ops));
	size_t nops = 0, ai = 0, bi = 0;
#define OP(c) (ops[nops++] = (dop){ (c), ai, bi }, ai += (c) != '+', bi += (c) != '-')
	for (size_t i = 0; i < pre; i++)
		OP(' ');
	if (n && m && n <= 4000000 / m) {
		/* longest common subsequence of the middle; ties delete first */
		uint32_t *L = xcalloc((n + 1) * (m + 1), sizeof(*L));
#define LCS(i, j) L[(i) * (m + 1) + (j)]
		for (size_t i = n; i-- > 0;)
			for (size_t j = m; j-- > 0;)
				LCS(i, j) = dline_eq(A[pre + i], B[pre + j]) ? LCS(i + 1, j + 1) + 1
					    : LCS(i + 1, j) >= LCS(i, j + 1) ? LCS(i + 1, j) : LCS(i, j + 1);
		size_t i = 0, j = 0;
		while (i < n || j < m) {
			if (i < n && j < m && dline_eq(A[pre + i], B[pre + j]))
				OP(' '), i++, j++;
			else if (i < n && (j == m || LCS(i + 1, j) >= LCS(i, j + 1)))
				OP('-'), i++;
			else
				OP('+'), j++;
		}
#undef LCS
		free(L);
	} else {
		for (size_t i = 0; i < n; i++)
			OP('-');
		for (size_t j = 0; j < m; j++)
			OP('+');
	}
	for (size_t i = 0; i < suf; i++)
		OP(' ');
#undef OP
	buf_printf(out, "--- %s\n+++ %s\n", a_label, b_label);
	const size_t ctx = 3;
	for (size_t k = 0; k < nops;) {
		if (ops[k].op == ' ') {
			k++;
			continue;
		}
		size_t start = k > ctx ? k - ctx : 0, end = k; /* end: one past the last change */
		for (size_t j = k; j < nops; j++) {
			if (ops[j].op != ' ')
				end = j + 1;
			else if (j - end >= 2 * ctx)
				break;
		}
		size_t stop = end + ctx < nops ? end + ctx : nops;
		size_t acount = 0, bcount = 0;
		for (size_t j = start; j < stop; j++)
			acount += ops[j].op != '+', bcount += ops[j].op != '-';
		buf_printf(out, "@@ -%zu,%zu +%zu,%zu @@\n", ops[start].ai + (acount ? 1 : 0), acount,
			   ops[start].bi + (bcount ? 1 : 0), bcount);
		for (size_t j = start; j < stop; j++)
			diff_line(out, ops[j].op, ops[j].op == '+' ? B[ops[j].bi] : A[ops[j].ai]);
		k = stop;
	}
	free(ops);
	free(A);
	free(B);
}
