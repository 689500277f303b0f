/* materialize: a resolved environment made real on this machine, once per
 * digest, under $XDG_CACHE_HOME/amlspec/envs/<hex> (default ~/.cache/...).
 * Built under a lock in a private folder and published with an atomic
 * rename, so concurrent applies never race and a killed build is never used. */
#ifndef AMLSPEC_MATERIALIZE_H
#define AMLSPEC_MATERIALIZE_H

#include <stdbool.h>
#include <stdio.h>

#include "env/resolve.h"
#include "util/diag.h"

typedef struct env_instance {
	char *python;    /* absolute path of the interpreter to run */
	char *prefix;    /* the cached environment's folder, NULL for user-managed */
	bool reused;     /* found in the cache */
} env_instance;

typedef struct materialize_opts {
	const char *cache_root;  /* NULL: $XDG_CACHE_HOME/amlspec/envs or ~/.cache/amlspec/envs */
	FILE *log;               /* build output goes here (NULL: discarded) */
} materialize_opts;

/* user_managed: interpreter_path (or python3 on PATH) as it is, checked to
 * exist. Otherwise a venv with python_version (python3.X on PATH or pyenv's
 * versions; a clear error naming the missing version) and `pip install` of the
 * pip packages honouring the user's pip configuration; conda packages need
 * micromamba, mamba or conda on PATH (else a clear error). docker_enabled is
 * the caller's business (targets decide). */
int env_materialize(env_instance *out, const resolved_env *env, const materialize_opts *opts, diag_list *diags);
void env_instance_free(env_instance *e);
/* The cache folder in use. Caller frees. */
char *env_cache_root(void);

#endif
