/* catalog: curated environments by name and version. The built-in catalog
 * (specs/environments/) is compiled into the binary so that amlspec works
 * wherever it is copied; team catalogs are folders named in amlspec.yaml. */
#ifndef AMLSPEC_CATALOG_H
#define AMLSPEC_CATALOG_H

#include "env/envdef.h"
#include "spec/ytree.h"
#include "util/diag.h"

typedef struct catalog_version {
	long version;
	char *description;
	envdef def;
} catalog_version;

typedef struct catalog_entry {
	char *name;
	char *description;
	char *source;
	char *file;        /* where it was defined (a display path) */
	bool builtin;
	catalog_version *versions; /* ascending by version */
	size_t count;
} catalog_entry;

typedef struct catalog {
	catalog_entry *entries;    /* sorted by name once loading is done */
	size_t count;
	size_t alloc;
} catalog;

#define CATALOG_INIT { NULL, 0, 0 }

void catalog_free(catalog *c);
int catalog_load_builtin(catalog *c, diag_list *diags);
/* Loads every *.yaml file in dir; display_dir names it in messages. */
int catalog_load_dir(catalog *c, const char *dir, const char *display_dir, diag_list *diags);
/* Parses one entry from YAML text. */
int catalog_load_text(catalog *c, const char *file, const char *text, size_t len, bool builtin, diag_list *diags);

const catalog_entry *catalog_find(const catalog *c, const char *name);
const catalog_version *catalog_entry_version(const catalog_entry *e, long version);
const catalog_version *catalog_entry_latest(const catalog_entry *e);
/* All names, for "did you mean" (borrowed pointers; free the array). */
const char **catalog_names(const catalog *c, size_t *n);

/* Splits "NAME@VERSION": *version = 0 when absent. Returns a new name. */
char *catalog_split_ref(const char *ref, long *version);

/* Reads an environment body (python/docker/environment_variables keys of a
 * validated mapping) into out; present records which booleans were written. */
void envdef_from_ynode(envdef *out, envdef *present, const ynode *map);

/* Built-in data, generated at build time. */
typedef struct catalog_blob {
	const char *name;
	const unsigned char *data;
	size_t len;
} catalog_blob;
extern const catalog_blob catalog_builtin_files[];
extern const size_t catalog_builtin_count;

#endif
