/* schema: the spec formats as data. One table per format drives both the
 * validator (schema_check, over a ytree) and the JSON Schema documents in
 * schemas/ (schema_to_json, run at build time by tools/gen_schema), so the
 * tool and the editors' schema cannot drift. */
#ifndef AMLSPEC_SCHEMA_H
#define AMLSPEC_SCHEMA_H

#include <json-c/json.h>
#include <stdbool.h>

#include "../util/diag.h"
#include "ytree.h"

typedef enum {
	SCH_STRING,   /* a string (pattern, enum, min_len apply) */
	SCH_INTEGER,  /* an integer (min, max apply) */
	SCH_BOOLEAN,
	SCH_SCALAR,   /* string, number or boolean, used as its text (arguments, variables) */
	SCH_DURATION, /* integer seconds, or a string such as 30s, 15m, 2h, 1d */
	SCH_ARRAY,    /* items */
	SCH_OBJECT,   /* fields; unknown keys are errors */
	SCH_MAP,      /* free keys matching key_pattern -> items */
	SCH_STRING_OR_OBJECT, /* a string (pattern), or an object (alt) */
	SCH_TAGGED,   /* an object whose `type` key picks one of variants */
} schema_type;

enum {
	SF_REQUIRED = 1 << 0,
};

struct schema;

typedef struct schema_field {
	const char *name;
	const struct schema *schema;
	unsigned flags;
	const char *conflicts_with; /* may not appear together with this key */
} schema_field;

typedef struct schema_variant {
	const char *tag;                 /* value of `type` */
	const struct schema *schema;     /* an SCH_OBJECT that has a `type` field */
} schema_variant;

typedef struct schema {
	schema_type type;
	const char *title;
	const char *description;
	const char *examples_json;       /* a JSON array, for editors */
	const char *default_json;
	/* strings */
	const char *pattern;             /* ERE that is also a valid ECMA-262 regex */
	const char *pattern_hint;        /* what the pattern means, for messages */
	const char *const *enum_values;  /* NULL-terminated */
	unsigned min_len;
	/* integers */
	long long min, max;
	bool has_min, has_max;
	const char *range_message;       /* printf with the value, instead of "must be at most" */
	/* containers */
	const struct schema *items;      /* ARRAY elements, MAP values */
	unsigned min_items;
	bool unique_items;
	const char *key_pattern;         /* MAP keys */
	const char *key_hint;
	const schema_field *fields;      /* OBJECT, terminated by a zero entry */
	const char *const *exactly_one_of; /* OBJECT: exactly one of these keys */
	const struct schema *alt;        /* STRING_OR_OBJECT: the object form */
	const schema_variant *variants;  /* TAGGED, terminated by a zero entry */
	/* root only */
	const char *id;
} schema;

/* Checks node against s, appending one diagnostic per problem (all of them).
 * path is the key path of node ("" for the root). Returns the number of errors. */
size_t schema_check(const schema *s, const ynode *node, const char *file, const char *path,
		    diag_list *diags);

/* The JSON Schema 2020-12 document for s. Caller frees with json_object_put. */
json_object *schema_to_json(const schema *s);

/* Duration text (or integer seconds) to seconds; -1 when not a duration. */
long long schema_parse_duration(const char *text);

/* The value of a YAML 1.2 core integer (decimal with an optional sign, 0o
 * octal, 0x hexadecimal: 010 is ten), saturated to the long long range.
 * false when text is not such an integer. */
bool schema_int_value(const char *text, long long *out);

/* The integer value of scalar node n: a YAML 1.2 integer, or a number with
 * an integral value, since JSON (and so editors and ajv) has one number
 * type: 1.0 and 3.6e3 are the integers 1 and 3600. */
bool schema_integer_node(const ynode *n, long long *out);

/* Whether text matches an ERE pattern (compiled once per thread and cached). */
bool schema_match(const char *pattern, const char *text);
/* Frees the calling thread's compiled patterns (a thread calls it before it
 * ends; they are compiled again if it matches more). */
void schema_thread_cache_free(void);

/* The formats. */
extern const schema schema_run_spec;
extern const schema schema_workspace;
extern const schema schema_environment_inline;
extern const schema schema_catalog_entry;

#endif
