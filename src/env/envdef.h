/* envdef: an environment's content, the thing a digest names. Names and
 * versions are labels, not content: two definitions with the same packages,
 * Python, image and variables have the same digest (as Azure ML's hash). */
#ifndef AMLSPEC_ENVDEF_H
#define AMLSPEC_ENVDEF_H

#include <json-c/json.h>
#include <stdbool.h>

#include "util/strlist.h"

typedef struct envdef {
	char *python_version;      /* NULL: whatever the interpreter is */
	bool user_managed;
	char *interpreter_path;    /* NULL: python3 on PATH */
	strlist channels;
	strlist conda_packages;
	strlist pip_packages;
	bool docker_enabled;
	char *base_image;
	kvlist variables;
} envdef;

#define ENVDEF_INIT { 0 }

void envdef_free(envdef *e);
void envdef_copy(envdef *dst, const envdef *src);
/* Applies overrides from `over` on top of e (extends semantics): scalars
 * replace; packages add, and a package with the same name replaces the base's
 * entry in place; channels add if new; variables merge. */
void envdef_overlay(envdef *e, const envdef *over, const envdef *over_present);
/* Canonical JSON (fixed key order; lists keep their order; variables sorted). */
json_object *envdef_to_json(const envdef *e);
/* "sha256:<64 hex>" of the canonical JSON text. Caller frees. */
char *envdef_digest(const envdef *e);
/* Parses a definition written by envdef_to_json; 0 or -1. */
int envdef_from_json(envdef *out, json_object *o);
/* The package name of a requirement ("numpy==1.26" -> "numpy"), lowercased. */
char *envdef_package_name(const char *requirement);

/* sha256 of data as 64 hex characters into out[65]. */
void sha256_hex(const void *data, size_t len, char out[65]);

#endif
