#include "launch/launch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"

char *launch_which(const char *prog)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? fs_absolute(prog) : NULL;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char *copy = xstrdup(path), *save = NULL;
	char *found = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *cand = fs_join(*dir ? dir : ".", prog);
		if (access(cand, X_OK) == 0 && fs_is_file(cand))
			found = fs_absolute(cand);
		free(cand);
	}
	free(copy);
	return found;
}

static void setv(json_object *env, const char *k, const char *v)
{
	json_object_object_add(env, k, json_object_new_string(v));
}

static void setl(json_object *env, const char *k, long v)
{
	char b[32];
	snprintf(b, sizeof(b), "%ld", v);
	setv(env, k, b);
}

json_object *launch_base_env(const run_spec *spec, const launch_context *lc)
{
	json_object *env = json_object_new_object();
	/* the environment's own variables first, so the spec's win */
	if (lc->env_variables)
		for (size_t i = 0; i < lc->env_variables->count; i++)
			setv(env, lc->env_variables->items[i].key, lc->env_variables->items[i].value);
	for (size_t i = 0; i < spec->environment_variables.count; i++)
		setv(env, spec->environment_variables.items[i].key, spec->environment_variables.items[i].value);
	setv(env, "PYTHONUNBUFFERED", "1");
	setv(env, "AMLSPEC_RUN_ID", lc->run_id);
	setv(env, "AMLSPEC_EXPERIMENT", spec->experiment);
	setv(env, "AMLSPEC_OUTPUTS_DIR", lc->outputs_dir);
	setv(env, "AMLSPEC_METRICS_FILE", lc->metrics_file);
	setl(env, "AMLSPEC_NODE_RANK", lc->node_rank);
	setl(env, "AMLSPEC_NUM_NODES", lc->num_nodes);
	setv(env, "AMLSPEC_NODE_IPS", lc->node_ips ? lc->node_ips : "127.0.0.1");
	if (lc->env_bin_dir) {
		const char *path = getenv("PATH");
		char *p = xasprintf("%s:%s", lc->env_bin_dir, path ? path : "/usr/local/bin:/usr/bin:/bin");
		setv(env, "PATH", p);
		free(p);
	}
	return env;
}

json_object *launch_script_argv(const run_spec *spec, const launch_context *lc)
{
	json_object *a = json_object_new_array();
	if (spec->script) {
		json_object_array_add(a, json_object_new_string(lc->python));
		json_object_array_add(a, json_object_new_string(spec->script));
		for (size_t i = 0; i < spec->arguments.count; i++)
			json_object_array_add(a, json_object_new_string(spec->arguments.items[i]));
	} else {
		for (size_t i = 0; i < spec->command.count; i++)
			json_object_array_add(a, json_object_new_string(spec->command.items[i]));
	}
	return a;
}

static json_object *process(json_object *argv, json_object *env)
{
	json_object *p = json_object_new_object();
	json_object_object_add(p, "argv", argv);
	json_object_object_add(p, "env", env);
	return p;
}

int launch_plan(json_object **out, const run_spec *spec, const launch_context *lc, diag_list *diags)
{
	json_object *procs = json_object_new_array();
	long per_node = spec->process_count_per_node;
	long world = per_node * lc->num_nodes;
	switch (spec->framework) {
	case FW_PYTHON:
	case FW_TENSORFLOW:
		json_object_array_add(procs, process(launch_script_argv(spec, lc), launch_base_env(spec, lc)));
		break;
	case FW_PYSPARK: {
		char *submit = lc->spark_submit ? xstrdup(lc->spark_submit) : NULL;
		const char *home = getenv("SPARK_HOME");
		if (!submit && home && *home) {
			char *cand = xasprintf("%s/bin/spark-submit", home);
			if (access(cand, X_OK) == 0)
				submit = cand;
			else
				free(cand);
		}
		if (!submit)
			submit = launch_which("spark-submit");
		if (!submit) {
			json_object_put(procs);
			return diag_error(diags, spec->file, 0, 0, "framework",
					  "framework pyspark needs spark-submit: set SPARK_HOME or put spark-submit on PATH");
		}
		json_object *a = json_object_new_array();
		json_object_array_add(a, json_object_new_string(submit));
		json_object_array_add(a, json_object_new_string(spec->script ? spec->script : spec->command.items[0]));
		const strlist *rest = spec->script ? &spec->arguments : &spec->command;
		for (size_t i = spec->script ? 0 : 1; i < rest->count; i++)
			json_object_array_add(a, json_object_new_string(rest->items[i]));
		json_object *env = launch_base_env(spec, lc);
		setv(env, "PYSPARK_PYTHON", lc->python);
		json_object_array_add(procs, process(a, env));
		free(submit);
		break;
	}
	case FW_MPI: {
		char *mpirun = lc->mpirun ? xstrdup(lc->mpirun) : launch_which("mpirun");
		if (!mpirun) {
			json_object_put(procs);
			return diag_error(diags, spec->file, 0, 0, "framework",
					  "framework mpi needs mpirun on PATH (Debian: apt-get install openmpi-bin)");
		}
		json_object *a = json_object_new_array();
		json_object_array_add(a, json_object_new_string(mpirun));
		json_object_array_add(a, json_object_new_string("-np"));
		char n[32];
		snprintf(n, sizeof(n), "%ld", per_node);
		json_object_array_add(a, json_object_new_string(n));
		json_object_array_add(a, json_object_new_string("--oversubscribe"));
		json_object *inner = launch_script_argv(spec, lc);
		for (size_t i = 0; i < json_object_array_length(inner); i++)
			json_object_array_add(a, json_object_get(json_object_array_get_idx(inner, i)));
		json_object_put(inner);
		json_object *env = launch_base_env(spec, lc);
		if (geteuid() == 0) {
			/* Open MPI refuses root without these; runs here are the user's own */
			setv(env, "OMPI_ALLOW_RUN_AS_ROOT", "1");
			setv(env, "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
		}
		json_object_array_add(procs, process(a, env));
		free(mpirun);
		break;
	}
	case FW_PYTORCH:
		/* torchrun's contract without needing torch: one process per slot */
		for (long r = 0; r < per_node; r++) {
			json_object *env = launch_base_env(spec, lc);
			setl(env, "RANK", lc->node_rank * per_node + r);
			setl(env, "LOCAL_RANK", r);
			setl(env, "WORLD_SIZE", world);
			setl(env, "LOCAL_WORLD_SIZE", per_node);
			setl(env, "GROUP_RANK", lc->node_rank);
			setl(env, "NODE_RANK", lc->node_rank);
			char *first = xstrdup(lc->node_ips ? lc->node_ips : "127.0.0.1");
			char *comma = strchr(first, ',');
			if (comma)
				*comma = '\0';
			setv(env, "MASTER_ADDR", first);
			free(first);
			setl(env, "MASTER_PORT", lc->master_port ? lc->master_port : 29500);
			json_object_array_add(procs, process(launch_script_argv(spec, lc), env));
		}
		break;
	}
	*out = procs;
	return AML_OK;
}
