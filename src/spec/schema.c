#include "schema.h"

#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"

/* ---- pattern cache ---- */

/* glibc's regexec is slow on bounded repetitions such as the names'
 * [A-Za-z0-9_-]{0,254}: 3.5 to 8 us a match, against 0.3 us for the same
 * pattern with *, which made pattern matching 40% of validating many specs.
 * So a pattern with X{0,N} is also compiled "relaxed", with X* instead. The
 * relaxed pattern accepts a superset, so its "no" is final; and on a text of
 * at most N bytes (N the smallest bound replaced) its "yes" is exact too, since
 * a match never needs more non-empty iterations of X than the text has
 * characters. Longer texts are checked with the exact pattern. */
typedef struct re_entry {
	char *pattern; /* a copy: callers' patterns need not outlive the call */
	const char *caller; /* the pointer it was first asked with (a fast key) */
	regex_t re;
	int ok;
	regex_t relaxed;
	int relaxed_ok;
	size_t relaxed_max; /* texts up to this length are decided by relaxed */
} re_entry;

/* Per thread: specs are checked on several threads, and glibc's regexec
 * serialises callers of one regex_t on a lock inside it. */
static _Thread_local re_entry re_cache[32];
static _Thread_local size_t re_count;

/* Recent answers, per thread: a sweep of specs repeats the same experiment,
 * target, environment and variable names, and regexec costs some thousand
 * instructions even for these small patterns. Direct-mapped by a hash of
 * the entry and the text; texts that do not fit are not remembered. */
typedef struct re_memo {
	const re_entry *e;
	unsigned char len;
	bool match;
	char text[46];
} re_memo;

static _Thread_local re_memo re_memos[256];

static re_memo *memo_slot(const re_entry *e, const char *text, size_t len)
{
	uint32_t h = 2166136261u ^ (uint32_t)(uintptr_t)e;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)text[i]) * 16777619u;
	return &re_memos[h & 255];
}

void schema_thread_cache_free(void)
{
	memset(re_memos, 0, sizeof(re_memos));
	for (size_t i = 0; i < re_count; i++) {
		if (re_cache[i].ok)
			regfree(&re_cache[i].re);
		if (re_cache[i].relaxed_ok)
			regfree(&re_cache[i].relaxed);
		free(re_cache[i].pattern);
	}
	re_count = 0;
}

/* pattern with every {0,N} outside brackets turned into *; NULL if none. */
static char *relax_pattern(const char *pattern, size_t *max_len)
{
	buf b = BUF_INIT;
	size_t lim = (size_t)-1;
	for (const char *p = pattern; *p;) {
		if (*p == '\\' && p[1]) {
			buf_add(&b, p, 2);
			p += 2;
		} else if (*p == '[') {
			const char *q = p + 1;
			if (*q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			if (!*q)
				break; /* malformed: leave it to regcomp */
			buf_add(&b, p, (size_t)(q + 1 - p));
			p = q + 1;
		} else if (p[0] == '{' && p[1] == '0' && p[2] == ',' && p[3] >= '0' && p[3] <= '9') {
			char *end;
			unsigned long n = strtoul(p + 3, &end, 10);
			if (*end != '}')
				break;
			if (n < lim)
				lim = n;
			buf_putc(&b, '*');
			p = end + 1;
		} else {
			buf_putc(&b, *p++);
		}
	}
	if (lim == (size_t)-1 || b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	*max_len = lim;
	return buf_detach(&b);
}

static void re_entry_init(re_entry *e, const char *pattern)
{
	e->pattern = xstrdup(pattern);
	e->caller = pattern;
	e->ok = regcomp(&e->re, pattern, REG_EXTENDED | REG_NOSUB) == 0;
	e->relaxed_ok = 0;
	char *relaxed = e->ok ? relax_pattern(pattern, &e->relaxed_max) : NULL;
	if (relaxed) {
		e->relaxed_ok = regcomp(&e->relaxed, relaxed, REG_EXTENDED | REG_NOSUB) == 0;
		free(relaxed);
	}
}

bool schema_match(const char *pattern, const char *text)
{
	re_entry *e = NULL;
	/* the tables' patterns are static strings: their address finds them at
	 * once; the text comparison covers any other caller */
	for (size_t i = 0; i < re_count && !e; i++)
		if (re_cache[i].caller == pattern && !strcmp(re_cache[i].pattern, pattern))
			e = &re_cache[i];
	for (size_t i = 0; i < re_count && !e; i++)
		if (!strcmp(re_cache[i].pattern, pattern))
			e = &re_cache[i];
	regex_t local;
	if (!e) {
		if (re_count < sizeof(re_cache) / sizeof(re_cache[0])) {
			e = &re_cache[re_count++];
			re_entry_init(e, pattern);
		} else {
			if (regcomp(&local, pattern, REG_EXTENDED | REG_NOSUB))
				return false;
			bool m = regexec(&local, text, 0, NULL, 0) == 0;
			regfree(&local);
			return m;
		}
	}
	if (!e->ok)
		return false;
	size_t len = strlen(text);
	re_memo *m = len < sizeof(m->text) ? memo_slot(e, text, len) : NULL;
	if (m && m->e == e && m->len == len && !memcmp(m->text, text, len))
		return m->match;
	bool match;
	if (e->relaxed_ok && regexec(&e->relaxed, text, 0, NULL, 0) != 0)
		match = false;
	else if (e->relaxed_ok && len <= e->relaxed_max)
		match = true;
	else
		match = regexec(&e->re, text, 0, NULL, 0) == 0;
	if (m) {
		m->e = e;
		m->len = (unsigned char)len;
		m->match = match;
		memcpy(m->text, text, len);
	}
	return match;
}

long long schema_parse_duration(const char *text)
{
	if (!text || !*text)
		return -1;
	long long v = 0;
	const char *p = text;
	while (*p >= '0' && *p <= '9') {
		if (v > 1000000000000LL)
			return -1;
		v = v * 10 + (*p - '0');
		p++;
	}
	if (p == text)
		return -1;
	long long mul = 1;
	switch (*p) {
	case '\0': return v;
	case 's': mul = 1; break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return -1;
	}
	if (p[1])
		return -1;
	return v * mul;
}

bool schema_int_value(const char *text, long long *out)
{
	const char *p = text;
	int base = 10, neg = 0;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	else if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o'))
		base = p[1] == 'x' ? 16 : 8, p += 2;
	if (!*p)
		return false;
	unsigned long long v = 0;
	bool big = false;
	for (; *p; p++) {
		int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
			: *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : 99;
		if (d >= base)
			return false;
		if (v > (1ULL << 63) / (unsigned)base)
			big = true;
		else
			v = v * (unsigned)base + (unsigned)d;
	}
	if (big || v > (1ULL << 63))
		v = 1ULL << 63;
	if (neg)
		*out = v == (1ULL << 63) ? LLONG_MIN : -(long long)v;
	else
		*out = v >= (1ULL << 63) ? LLONG_MAX : (long long)v;
	return true;
}

bool schema_integer_node(const ynode *n, long long *out)
{
	if (!n || n->kind != YN_SCALAR)
		return false;
	if (n->stype == YS_INT)
		return schema_int_value(n->value, out);
	if (n->stype != YS_FLOAT || strchr(n->value, 'n') || strchr(n->value, 'N'))
		return false; /* .inf, .nan */
	char *end;
	double v = strtod(n->value, &end);
	if (*end || !(v > -9.2e18 && v < 9.2e18) || (double)(long long)v != v)
		return false;
	*out = (long long)v;
	return true;
}

/* ---- checking ---- */

typedef struct ctx {
	const char *file;
	diag_list *diags;
	size_t errors;
} ctx;

static void err(ctx *c, const ynode *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void err(ctx *c, const ynode *n, const char *path, const char *fmt, ...)
{
	buf m = BUF_INIT;
	va_list ap;
	if (path && *path)
		buf_printf(&m, "%s: ", path);
	va_start(ap, fmt);
	buf_vprintf(&m, fmt, ap);
	va_end(ap);
	diag_error(c->diags, c->file, n ? n->line : 1, n ? n->col : 1, path, "%s", m.ptr);
	buf_free(&m);
	c->errors++;
}

static const char *type_word(schema_type t)
{
	switch (t) {
	case SCH_STRING: return "a string";
	case SCH_INTEGER: return "an integer";
	case SCH_BOOLEAN: return "a boolean (true or false)";
	case SCH_SCALAR: return "a string, number or boolean";
	case SCH_DURATION: return "a duration (seconds, or such as 30s, 15m, 2h, 1d)";
	case SCH_ARRAY: return "a sequence";
	case SCH_OBJECT: case SCH_MAP: case SCH_TAGGED: return "a mapping";
	case SCH_STRING_OR_OBJECT: return "a string or a mapping";
	}
	return "?";
}

static void got_wrong(ctx *c, const schema *s, const ynode *n, const char *path)
{
	if (n->kind == YN_SCALAR && n->stype == YS_NULL)
		err(c, n, path, "expected %s, got an empty value", type_word(s->type));
	else if (n->kind == YN_SCALAR && n->stype != YS_STRING && s->type == SCH_STRING)
		err(c, n, path, "expected %s, got %s %s; quote it (\"%s\") to keep it as written",
		    type_word(s->type), ynode_kind_name(n), n->value, n->value);
	else
		err(c, n, path, "expected %s, got %s", type_word(s->type),
		    n->kind == YN_SCALAR ? (n->stype == YS_INT ? "an integer" : n->stype == YS_FLOAT ? "a number"
					  : n->stype == YS_BOOL ? "a boolean" : "a string")
					 : n->kind == YN_SEQ ? "a sequence" : "a mapping");
}

/* Key paths are built for every node checked, so no printf here: this is
 * a tenth of validate's time otherwise. */
static void child_path(buf *out, const char *path, const char *key)
{
	buf_clear(out);
	if (path && *path) {
		buf_puts(out, path);
		buf_putc(out, '.');
	}
	buf_puts(out, key);
}

static void index_path(buf *out, const char *path, size_t i)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "[%zu]", i);
	buf_clear(out);
	buf_puts(out, path);
	buf_add(out, num, (size_t)n);
}

static size_t enum_count(const char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

static void check_string_value(ctx *c, const schema *s, const ynode *n, const char *path)
{
	const char *v = n->value;
	if (s->min_len && strlen(v) < s->min_len) {
		err(c, n, path, strlen(v) ? "must be at least %u characters" : "must not be empty", s->min_len);
		return;
	}
	if (s->enum_values) {
		for (size_t i = 0; s->enum_values[i]; i++)
			if (!strcmp(v, s->enum_values[i]))
				return;
		buf list = BUF_INIT;
		for (size_t i = 0; s->enum_values[i]; i++)
			buf_printf(&list, "%s%s", i ? ", " : "", s->enum_values[i]);
		const char *sug = diag_suggest(v, s->enum_values, enum_count(s->enum_values));
		if (sug)
			err(c, n, path, "invalid value '%s' (did you mean '%s'? expected one of: %s)", v, sug, list.ptr);
		else
			err(c, n, path, "invalid value '%s' (expected one of: %s)", v, list.ptr);
		buf_free(&list);
		return;
	}
	if (s->pattern && !schema_match(s->pattern, v))
		err(c, n, path, "invalid value '%s': %s", v, s->pattern_hint ? s->pattern_hint : s->pattern);
}

static void check_node(ctx *c, const schema *s, const ynode *n, const char *path);

static void check_object(ctx *c, const schema *s, const ynode *n, const char *path)
{
	buf cp = BUF_INIT;
	const char *names[64];
	size_t nnames = 0;
	for (const schema_field *f = s->fields; f && f->name; f++)
		if (nnames < 64)
			names[nnames++] = f->name;

	for (size_t i = 0; i < n->count; i++) {
		const ynode *k = ynode_map_key(n, i), *v = ynode_map_value(n, i);
		const schema_field *f = NULL;
		for (const schema_field *g = s->fields; g && g->name; g++)
			if (!strcmp(g->name, k->value)) {
				f = g;
				break;
			}
		child_path(&cp, path, k->value);
		if (!f) {
			const char *sug = diag_suggest(k->value, names, nnames);
			if (sug)
				err(c, k, cp.ptr, "unknown key (did you mean '%s'?)", sug);
			else
				err(c, k, cp.ptr, "unknown key");
			continue;
		}
		if (f->conflicts_with && ynode_map_get(n, f->conflicts_with))
			err(c, k, cp.ptr, "cannot be used together with '%s'", f->conflicts_with);
		check_node(c, f->schema, v, cp.ptr);
	}
	for (const schema_field *f = s->fields; f && f->name; f++) {
		if ((f->flags & SF_REQUIRED) && !ynode_map_get(n, f->name)) {
			child_path(&cp, path, f->name);
			err(c, n, cp.ptr, "missing required key");
		}
	}
	if (s->exactly_one_of) {
		size_t present = 0;
		buf list = BUF_INIT;
		for (size_t i = 0; s->exactly_one_of[i]; i++)
			if (ynode_map_get(n, s->exactly_one_of[i]))
				present++;
		if (present != 1)
			for (size_t i = 0; s->exactly_one_of[i]; i++)
				buf_printf(&list, "%s'%s'", i ? (s->exactly_one_of[i + 1] ? ", " : " or ") : "",
					   s->exactly_one_of[i]);
		if (present == 0)
			err(c, n, path, "needs exactly one of %s; none is given", list.ptr);
		else if (present > 1) {
			/* point at the second one */
			const ynode *second = n;
			size_t seen = 0;
			for (size_t i = 0; i < n->count && second == n; i++)
				for (size_t j = 0; s->exactly_one_of[j]; j++)
					if (!strcmp(ynode_map_key(n, i)->value, s->exactly_one_of[j]) && ++seen == 2)
						second = ynode_map_key(n, i);
			err(c, second, path, "needs exactly one of %s; more than one is given", list.ptr);
		}
		buf_free(&list);
	}
	buf_free(&cp);
}

static void check_node(ctx *c, const schema *s, const ynode *n, const char *path)
{
	buf cp = BUF_INIT;
	switch (s->type) {
	case SCH_STRING:
		if (n->kind != YN_SCALAR || n->stype != YS_STRING) {
			got_wrong(c, s, n, path);
			break;
		}
		check_string_value(c, s, n, path);
		break;
	case SCH_INTEGER: {
		long long v = 0;
		if (!schema_integer_node(n, &v)) {
			got_wrong(c, s, n, path);
			break;
		}
		{
			if (s->range_message && ((s->has_min && v < s->min) || (s->has_max && v > s->max)))
				err(c, n, path, s->range_message, n->value);
			else if (s->has_min && v < s->min)
				err(c, n, path, "must be at least %lld, got %s", s->min, n->value);
			else if (s->has_max && v > s->max)
				err(c, n, path, "must be at most %lld, got %s", s->max, n->value);
		}
		break;
	}
	case SCH_BOOLEAN:
		if (n->kind != YN_SCALAR || n->stype != YS_BOOL)
			got_wrong(c, s, n, path);
		break;
	case SCH_SCALAR:
		if (n->kind != YN_SCALAR || n->stype == YS_NULL)
			got_wrong(c, s, n, path);
		break;
	case SCH_DURATION: {
		long long v = 0;
		if (schema_integer_node(n, &v)) {
			if (v < 1)
				err(c, n, path, "must be at least 1 second");
		} else if (n->kind == YN_SCALAR && n->stype == YS_STRING) {
			long long d = schema_parse_duration(n->value);
			if (d < 0 || !schema_match(s->pattern, n->value))
				err(c, n, path, "invalid duration '%s' (use seconds, or a number with s, m, h or d: 30s, 15m, 2h, 1d)",
				    n->value);
			else if (d < 1)
				err(c, n, path, "must be at least 1 second");
		} else {
			got_wrong(c, s, n, path);
		}
		break;
	}
	case SCH_ARRAY:
		if (n->kind != YN_SEQ) {
			got_wrong(c, s, n, path);
			break;
		}
		if (n->count < s->min_items)
			err(c, n, path, "needs at least %u item%s", s->min_items, s->min_items == 1 ? "" : "s");
		for (size_t i = 0; i < n->count; i++) {
			index_path(&cp, path, i);
			check_node(c, s->items, n->items[i], cp.ptr);
			if (s->unique_items && n->items[i]->kind == YN_SCALAR)
				for (size_t j = 0; j < i; j++)
					if (n->items[j]->kind == YN_SCALAR && !strcmp(n->items[j]->value, n->items[i]->value)) {
						err(c, n->items[i], cp.ptr, "duplicate item '%s'", n->items[i]->value);
						break;
					}
		}
		break;
	case SCH_MAP:
		if (n->kind != YN_MAP) {
			got_wrong(c, s, n, path);
			break;
		}
		for (size_t i = 0; i < n->count; i++) {
			const ynode *k = ynode_map_key(n, i);
			child_path(&cp, path, k->value);
			if (s->key_pattern && !schema_match(s->key_pattern, k->value))
				err(c, k, cp.ptr, "invalid key '%s': %s", k->value, s->key_hint ? s->key_hint : s->key_pattern);
			check_node(c, s->items, ynode_map_value(n, i), cp.ptr);
		}
		break;
	case SCH_OBJECT:
		if (n->kind != YN_MAP) {
			got_wrong(c, s, n, path);
			break;
		}
		check_object(c, s, n, path);
		break;
	case SCH_STRING_OR_OBJECT:
		if (n->kind == YN_SCALAR && n->stype == YS_STRING)
			check_string_value(c, s, n, path);
		else if (n->kind == YN_MAP)
			check_node(c, s->alt, n, path);
		else
			got_wrong(c, s, n, path);
		break;
	case SCH_TAGGED: {
		if (n->kind != YN_MAP) {
			got_wrong(c, s, n, path);
			break;
		}
		const ynode *t = ynode_map_get(n, "type");
		const char *tags[16];
		size_t ntags = 0;
		buf list = BUF_INIT;
		for (const schema_variant *v = s->variants; v->tag; v++) {
			buf_printf(&list, "%s%s", ntags ? ", " : "", v->tag);
			tags[ntags++] = v->tag;
		}
		child_path(&cp, path, "type");
		if (!t) {
			err(c, n, cp.ptr, "missing required key (one of: %s)", list.ptr);
		} else if (t->kind != YN_SCALAR || t->stype != YS_STRING) {
			err(c, t, cp.ptr, "expected one of: %s", list.ptr);
		} else {
			const schema_variant *hit = NULL;
			for (const schema_variant *v = s->variants; v->tag; v++)
				if (!strcmp(v->tag, t->value))
					hit = v;
			if (hit) {
				check_node(c, hit->schema, n, path);
			} else {
				const char *sug = diag_suggest(t->value, tags, ntags);
				if (sug)
					err(c, t, cp.ptr, "invalid value '%s' (did you mean '%s'? expected one of: %s)", t->value,
					    sug, list.ptr);
				else
					err(c, t, cp.ptr, "invalid value '%s' (expected one of: %s)", t->value, list.ptr);
			}
		}
		buf_free(&list);
		break;
	}
	}
	buf_free(&cp);
}

size_t schema_check(const schema *s, const ynode *node, const char *file, const char *path,
		    diag_list *diags)
{
	ctx c = { file, diags, 0 };
	check_node(&c, s, node, path ? path : "");
	return c.errors;
}

/* ---- JSON Schema generation ---- */

static json_object *parse_json(const char *text)
{
	return text ? json_tokener_parse(text) : NULL;
}

static void add_common(json_object *o, const schema *s)
{
	if (s->title)
		json_object_object_add(o, "title", json_object_new_string(s->title));
	if (s->description)
		json_object_object_add(o, "description", json_object_new_string(s->description));
	json_object *d = parse_json(s->default_json);
	if (d || (s->default_json && !strcmp(s->default_json, "null")))
		json_object_object_add(o, "default", d);
	json_object *e = parse_json(s->examples_json);
	if (e)
		json_object_object_add(o, "examples", e);
}

static json_object *string_json(const schema *s)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("string"));
	if (s->min_len)
		json_object_object_add(o, "minLength", json_object_new_int((int)s->min_len));
	if (s->enum_values) {
		json_object *a = json_object_new_array();
		for (size_t i = 0; s->enum_values[i]; i++)
			json_object_array_add(a, json_object_new_string(s->enum_values[i]));
		json_object_object_add(o, "enum", a);
	}
	if (s->pattern)
		json_object_object_add(o, "pattern", json_object_new_string(s->pattern));
	return o;
}

static json_object *node_json(const schema *s);

static json_object *object_json(const schema *s)
{
	json_object *o = json_object_new_object();
	json_object *props = json_object_new_object();
	json_object *req = json_object_new_array();
	json_object *not_together = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("object"));
	for (const schema_field *f = s->fields; f && f->name; f++) {
		json_object_object_add(props, f->name, node_json(f->schema));
		if (f->flags & SF_REQUIRED)
			json_object_array_add(req, json_object_new_string(f->name));
		if (f->conflicts_with) {
			/* "if f is present, conflicts_with must not be" */
			json_object *dep = json_object_new_object();
			json_object *not = json_object_new_object();
			json_object *r = json_object_new_array();
			json_object_array_add(r, json_object_new_string(f->conflicts_with));
			json_object_object_add(not, "required", r);
			json_object_object_add(dep, "not", not);
			json_object_object_add(not_together, f->name, dep);
		}
	}
	json_object_object_add(o, "properties", props);
	if (json_object_array_length(req))
		json_object_object_add(o, "required", req);
	else
		json_object_put(req);
	if (json_object_object_length(not_together))
		json_object_object_add(o, "dependentSchemas", not_together);
	else
		json_object_put(not_together);
	if (s->exactly_one_of) {
		json_object *one = json_object_new_array();
		for (size_t i = 0; s->exactly_one_of[i]; i++) {
			json_object *alt = json_object_new_object();
			json_object *r = json_object_new_array();
			json_object_array_add(r, json_object_new_string(s->exactly_one_of[i]));
			json_object_object_add(alt, "required", r);
			json_object_array_add(one, alt);
		}
		json_object_object_add(o, "oneOf", one);
	}
	json_object_object_add(o, "additionalProperties", json_object_new_boolean(0));
	return o;
}

static json_object *node_json(const schema *s)
{
	json_object *o = NULL;
	switch (s->type) {
	case SCH_STRING:
		o = string_json(s);
		break;
	case SCH_INTEGER:
		o = json_object_new_object();
		json_object_object_add(o, "type", json_object_new_string("integer"));
		if (s->has_min)
			json_object_object_add(o, "minimum", json_object_new_int64(s->min));
		if (s->has_max)
			json_object_object_add(o, "maximum", json_object_new_int64(s->max));
		break;
	case SCH_BOOLEAN:
		o = json_object_new_object();
		json_object_object_add(o, "type", json_object_new_string("boolean"));
		break;
	case SCH_SCALAR: {
		o = json_object_new_object();
		json_object *t = json_object_new_array();
		json_object_array_add(t, json_object_new_string("string"));
		json_object_array_add(t, json_object_new_string("number"));
		json_object_array_add(t, json_object_new_string("boolean"));
		json_object_object_add(o, "type", t);
		break;
	}
	case SCH_DURATION: {
		o = json_object_new_object();
		json_object *any = json_object_new_array();
		json_object *i = json_object_new_object();
		json_object_object_add(i, "type", json_object_new_string("integer"));
		json_object_object_add(i, "minimum", json_object_new_int(1));
		json_object *st = json_object_new_object();
		json_object_object_add(st, "type", json_object_new_string("string"));
		json_object_object_add(st, "pattern", json_object_new_string(s->pattern));
		/* a duration is at least 1 second, as the checker requires of both
		 * forms: no string of only zeros, whatever its unit ("0", "0s", "00d") */
		json_object *zero = json_object_new_object();
		json_object_object_add(zero, "pattern", json_object_new_string("^0+[a-z]?$"));
		json_object_object_add(st, "not", zero);
		json_object_array_add(any, i);
		json_object_array_add(any, st);
		json_object_object_add(o, "oneOf", any);
		break;
	}
	case SCH_ARRAY:
		o = json_object_new_object();
		json_object_object_add(o, "type", json_object_new_string("array"));
		json_object_object_add(o, "items", node_json(s->items));
		if (s->min_items)
			json_object_object_add(o, "minItems", json_object_new_int((int)s->min_items));
		if (s->unique_items)
			json_object_object_add(o, "uniqueItems", json_object_new_boolean(1));
		break;
	case SCH_MAP:
		o = json_object_new_object();
		json_object_object_add(o, "type", json_object_new_string("object"));
		if (s->key_pattern) {
			json_object *pn = json_object_new_object();
			json_object_object_add(pn, "pattern", json_object_new_string(s->key_pattern));
			json_object_object_add(o, "propertyNames", pn);
		}
		json_object_object_add(o, "additionalProperties", node_json(s->items));
		break;
	case SCH_OBJECT:
		o = object_json(s);
		break;
	case SCH_STRING_OR_OBJECT: {
		o = json_object_new_object();
		json_object *any = json_object_new_array();
		json_object_array_add(any, string_json(s));
		json_object_array_add(any, node_json(s->alt));
		json_object_object_add(o, "oneOf", any);
		break;
	}
	case SCH_TAGGED: {
		o = json_object_new_object();
		json_object_object_add(o, "type", json_object_new_string("object"));
		json_object *req = json_object_new_array();
		json_object_array_add(req, json_object_new_string("type"));
		json_object_object_add(o, "required", req);
		/* `type` picks the variant, as in the checker: an unknown type is
		 * one error on `type` (enum), and a known one is checked against
		 * its variant only (if/then), so editors report that variant's
		 * problems rather than every variant's, as a oneOf would. */
		json_object *tags = json_object_new_array();
		json_object *all = json_object_new_array();
		for (const schema_variant *v = s->variants; v->tag; v++) {
			json_object_array_add(tags, json_object_new_string(v->tag));
			json_object *cond = json_object_new_object();
			json_object *cprops = json_object_new_object();
			json_object *ctype = json_object_new_object();
			json_object *creq = json_object_new_array();
			json_object_object_add(ctype, "const", json_object_new_string(v->tag));
			json_object_object_add(cprops, "type", ctype);
			json_object_object_add(cond, "properties", cprops);
			json_object_array_add(creq, json_object_new_string("type"));
			json_object_object_add(cond, "required", creq);
			json_object *branch = json_object_new_object();
			json_object_object_add(branch, "if", cond);
			json_object_object_add(branch, "then", node_json(v->schema));
			json_object_array_add(all, branch);
		}
		json_object *props = json_object_new_object();
		json_object *type = json_object_new_object();
		json_object_object_add(type, "type", json_object_new_string("string"));
		json_object_object_add(type, "enum", tags);
		json_object_object_add(props, "type", type);
		json_object_object_add(o, "properties", props);
		json_object_object_add(o, "allOf", all);
		break;
	}
	}
	add_common(o, s);
	return o;
}

json_object *schema_to_json(const schema *s)
{
	json_object *root = json_object_new_object();
	json_object_object_add(root, "$schema", json_object_new_string("https://json-schema.org/draft/2020-12/schema"));
	if (s->id)
		json_object_object_add(root, "$id", json_object_new_string(s->id));
	json_object *body = node_json(s);
	json_object_object_foreach(body, key, val) {
		json_object_object_add(root, key, json_object_get(val));
	}
	json_object_put(body);
	return root;
}
