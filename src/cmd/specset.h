/* specset: the specs a verb works on, loaded from PATH arguments with their
 * workspaces (validate, plan, apply and status all start here). */
#ifndef AMLSPEC_SPECSET_H
#define AMLSPEC_SPECSET_H

#include "cmd/cli.h"
#include "spec/run_spec.h"
#include "workspace/workspace.h"

typedef struct spec_file {
	char *path;
	char *display;
	bool is_workspace;   /* amlspec.yaml rather than a run spec */
	bool valid;
	run_spec *spec;      /* NULL when invalid or a workspace file */
	workspace *ws;       /* borrowed from the set */
} spec_file;

typedef struct specset {
	spec_file *files;
	size_t nfiles, alloc;
	workspace **workspaces;
	size_t nworkspaces;
	char *cwd;           /* while loading: the working directory, asked once */
	char *last_dir;      /* the folder of the last spec placed, and its workspace */
	workspace *last_ws;
} specset;

#define SPECSET_INIT { 0 }

/* Loads every spec named by paths (default "."), each against its workspace
 * (or ctx->workspace_dir). Duplicate addresses are errors. Returns AML_OK or
 * AML_EINVALID. */
int specset_load(specset *set, int npaths, char **paths, const cli *ctx, diag_list *diags);
void specset_free(specset *set);



/* For verbs that act on one workspace: the single workspace of the loaded
 * specs (or, with no specs, of ctx->workspace_dir or the current folder).
 * The workspace is owned by the set. */
int specset_workspace(workspace **out, specset *set, const cli *ctx, diag_list *diags);
#endif
