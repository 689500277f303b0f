/* launch: how a framework starts a script, as a list of processes (argv and
 * the variables each one gets). Targets run what this says; no target builds
 * its own command line, and nothing here goes through a shell. */
#ifndef AMLSPEC_LAUNCH_H
#define AMLSPEC_LAUNCH_H

#include <json-c/json.h>

#include "spec/run_spec.h"
#include "util/diag.h"
#include "util/strlist.h"

typedef struct launch_context {
	const char *run_id;
	const char *python;        /* interpreter of the materialized environment */
	const char *env_bin_dir;   /* prepended to PATH (NULL: none) */
	const char *outputs_dir;
	const char *metrics_file;
	const char *node_ips;      /* comma-separated; "127.0.0.1" for local */
	long node_rank;
	long num_nodes;
	int master_port;
	const kvlist *env_variables; /* from the resolved environment */
	/* Programs for framework mpi and pyspark. NULL: found on this machine
	 * (mpirun on PATH; SPARK_HOME or PATH for spark-submit). A remote target
	 * names them as the host will find them ("mpirun"). */
	const char *mpirun;
	const char *spark_submit;
} launch_context;

/* [{"argv": [...], "env": {...}}, ...] for the processes one node starts.
 * Variables: the spec's and the environment's, AMLSPEC_*, and the framework's
 * (RANK, WORLD_SIZE, MASTER_ADDR, ... for pytorch; mpirun sets OMPI_*). */
int launch_plan(json_object **out, const run_spec *spec, const launch_context *lc, diag_list *diags);

/* The pieces launch_plan builds each process from, for targets that write
 * their own launcher (a Slurm batch script): the variables every process gets
 * (spec, environment, PYTHONUNBUFFERED, AMLSPEC_*, PATH when env_bin_dir is
 * set) and the script's argv (python script arguments..., or the command). */
json_object *launch_base_env(const run_spec *spec, const launch_context *lc);
json_object *launch_script_argv(const run_spec *spec, const launch_context *lc);

/* Finds prog on PATH; a new absolute path or NULL. */
char *launch_which(const char *prog);

#endif
