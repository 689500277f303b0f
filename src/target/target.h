/* target: where runs execute, behind one interface. Each target type is one
 * file (local.c, ...) exporting a target_ops; target_find() picks it. Apply
 * calls check, prepare, submit; status calls poll; logs and cancel map 1:1. */
#ifndef AMLSPEC_TARGET_H
#define AMLSPEC_TARGET_H

#include <stdbool.h>
#include <stdio.h>

#include "env/resolve.h"
#include "spec/run_spec.h"
#include "util/diag.h"
#include "workspace/runs.h"
#include "workspace/workspace.h"

typedef struct run_job {
	const run_spec *spec;
	const resolved_env *env;
	const workspace *ws;
	const target_config *cfg;   /* NULL for local */
	const char *state_dir;
	const char *snapshot_store;
	const char *snapshot_tree;
	run_record *record;         /* created by apply before prepare */
	FILE *progress;             /* human progress messages (stderr) or NULL */
} run_job;

typedef struct target_ops {
	const char *type;
	/* Whether this target can run the spec at all (plan and apply call it). */
	int (*check)(const target_config *cfg, const run_spec *spec, const resolved_env *env, diag_list *diags);
	/* Environment and files in place; fills the launch facts into the record. */
	int (*prepare)(run_job *job, diag_list *diags);
	/* Starts the run; on return the record has the target's handle. */
	int (*submit)(run_job *job, diag_list *diags);
	/* Refreshes the record's status from the target (and saves it). */
	int (*poll)(const target_config *cfg, run_record *rec, diag_list *diags);
	/* Copies the driver log to fd; follow: until the run ends. *offset is
	 * where to start and is advanced. */
	int (*logs)(const target_config *cfg, run_record *rec, bool follow, int fd, long long *offset,
		    diag_list *diags);
	int (*cancel)(const target_config *cfg, run_record *rec, double grace_seconds, diag_list *diags);
} target_ops;

extern const target_ops target_local;
extern const target_ops target_ssh;
extern const target_ops target_slurm;

/* Whether check may ask a remote service (plan and apply: yes; status, which
 * only wants drift, sets it false so that it costs no network round trip). */
extern bool target_check_remote;
extern const target_ops target_azureml;

/* The ops for a run's target name in the workspace ("local" or declared). */
const target_ops *target_for(const workspace *ws, const char *target_name, const target_config **cfg);
const target_ops *target_by_type(const char *type);

/* The hidden `amlspec __supervise` entry: watches a local run to its end. */
int supervisor_main(const char *run_dir, int notify_fd);

#endif
