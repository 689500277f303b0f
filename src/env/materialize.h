/* materialize: a resolved environment made real on this machine, once per
 * digest, under $XDG_CACHE_HOME/amlspec/envs/<hex> (default ~/.cache/...).
 * Built under a lock in a private folder and published with an atomic
 * rename, so concurrent applies never race and a killed build is never used.
 *
 * Layout of the cache root (details in materialize.c):
 *   <hex> -> .build-<hex>-XXXXXX   the published environment (a symlink:
 *                                  venvs cannot move, so the link is what
 *                                  gets renamed into place)
 *   .build-<hex>-XXXXXX/env.json   definition, python, build time
 *   .build-<hex>-XXXXXX/build.log  what venv/conda/pip printed
 *   <hex>.lock                     build lock (fcntl), never deleted
 * Build tools run with the cache root as their working folder and inherit
 * the caller's environment (PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf, ...). */
#ifndef AMLSPEC_MATERIALIZE_H
#define AMLSPEC_MATERIALIZE_H

#include <stdbool.h>
#include <stdio.h>

#include "env/resolve.h"
#include "util/diag.h"

typedef struct env_instance {
	char *python;    /* absolute path of the interpreter to run */
	char *prefix;    /* the cached environment's folder, NULL for user-managed */
	bool reused;     /* found in the cache (already built, possibly by a
			    concurrent process we waited for) */
} env_instance;

typedef struct materialize_opts {
	const char *cache_root;  /* NULL: $XDG_CACHE_HOME/amlspec/envs or ~/.cache/amlspec/envs;
				    a relative path is taken from the current folder */
	FILE *log;               /* build output goes here (NULL: discarded) */
} materialize_opts;

#define MATERIALIZE_OPTS_INIT { NULL, NULL }

/* user_managed: interpreter_path (or python3 on PATH) as it is, checked to
 * exist. Otherwise a venv with python_version (python3.X on PATH or pyenv's
 * versions; a clear error naming the missing version) and `pip install` of the
 * pip packages honouring the user's pip configuration; conda packages need
 * micromamba, mamba or conda on PATH (else a clear error). docker_enabled is
 * the caller's business (targets decide).
 *
 * User-managed: out->python is absolute (PATH searched; a relative
 * interpreter_path is taken from the current folder, ~/ expanded), prefix
 * NULL, reused false, nothing is installed (pip_packages are the user's
 * business) and a python_version the interpreter does not have is only a
 * warning. Otherwise out->prefix is <cache_root>/<hex> and out->python
 * <cache_root>/<hex>/bin/python (paths through the published link).
 * A cached environment costs a few stat() calls and no lock. */
int env_materialize(env_instance *out, const resolved_env *env, const materialize_opts *opts, diag_list *diags);
void env_instance_free(env_instance *e);
/* The cache folder in use: $XDG_CACHE_HOME/amlspec/envs (when absolute),
 * else $HOME/.cache/amlspec/envs (HOME from the password database when
 * unset); NULL when there is no home at all. Caller frees. */
char *env_cache_root(void);

/* An interpreter for `version`: "3.11" takes the highest 3.11.x, "3.11.7"
 * only 3.11.7. Looks for python3.X, python3 and python in every PATH folder
 * (pyenv's shims folder skipped) and at $PYENV_ROOT (or ~/.pyenv)
 * /versions/<X.Y.Z>/bin/python, asking each candidate `--version`; on a tie
 * the PATH one wins. version NULL or "": python3 as found on PATH. *out is
 * absolute, caller frees; a missing version is an error naming what was
 * found where. */
int env_find_python(char **out, const char *version, diag_list *diags);

#endif
