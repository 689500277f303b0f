/* workspace: where runs are recorded. Discovery (DESIGN §1): the nearest
 * amlspec.yaml above the spec; else the git work tree root; else the current
 * directory. Holds the parsed amlspec.yaml and, lazily, the catalog. */
#ifndef AMLSPEC_WORKSPACE_H
#define AMLSPEC_WORKSPACE_H

#include <pthread.h>

#include "env/catalog.h"
#include "util/diag.h"
#include "util/strlist.h"

typedef struct target_config {
	char *name;
	char *type;          /* ssh, slurm, azureml */
	kvlist options;      /* scalar options as written (host, port, ...) */
	strlist sbatch_args;
	unsigned line, col;
} target_config;

typedef struct workspace {
	char *root;          /* real path */
	char *config_path;   /* absolute path of amlspec.yaml, or NULL */
	char *config_display;
	char *name;
	target_config *targets;
	size_t ntargets;
	strlist catalog_dirs;      /* absolute */
	strlist catalog_displays;
	catalog cat;
	int cat_state;       /* 0 not loaded, 1 loaded, -1 failed */
	diag_list cat_diags; /* problems met loading the catalog */
	pthread_mutex_t cat_lock; /* specs are loaded on several threads */
	bool cat_report_later;    /* set while they are: the catalog's problems are then
				   * reported once by the loader, not to whichever spec
				   * happened to need the catalog first */
} workspace;

/* Finds the root for a spec in start_dir (a directory); explicit (from
 * --workspace) wins. Returns a new real path. */
int workspace_find_root(char **out, const char *start_dir, const char *explicit_dir, diag_list *diags);
/* Opens the workspace at root: parses and checks amlspec.yaml if present. */
int workspace_open(workspace **out, const char *root, diag_list *diags);
void workspace_free(workspace *ws);
/* The catalog (built-in plus the workspace's folders), loaded on first use
 * (by one thread; the others wait). Its problems go to the diags of the
 * first caller only. */
const catalog *workspace_catalog(workspace *ws, diag_list *diags);
const target_config *workspace_target(const workspace *ws, const char *name);
/* "path relative to cwd when inside it, else absolute". Caller frees. */
char *path_for_display(const char *abs_path);
/* The same against a known working directory (NULL: unknown, absolute). */
char *path_for_display_from(const char *cwd, const char *abs_path);
/* <root>/.amlspec */
char *workspace_state_dir(const workspace *ws);

#endif
