/* runcmd: what logs, cancel and status RUN_ID share: find the workspace,
 * resolve a run id (or unique prefix), load its record and its target. */
#ifndef AMLSPEC_RUNCMD_H
#define AMLSPEC_RUNCMD_H

#include "cmd/cli.h"
#include "target/target.h"
#include "workspace/runs.h"
#include "workspace/workspace.h"

typedef struct runcmd {
	workspace *ws;
	char *state_dir;
	run_record *rec;
	const target_ops *ops;
	const target_config *cfg;
	diag_list diags;
} runcmd;

#define RUNCMD_INIT { NULL, NULL, NULL, NULL, NULL, DIAG_LIST_INIT }

/* Prints its own errors; returns non-zero on failure. */
int runcmd_open(runcmd *r, const char *id, const cli *ctx);
void runcmd_close(runcmd *r);
int runcmd_open_workspace(runcmd *r, const cli *ctx);

#endif
