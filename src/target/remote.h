/* remote: what the ssh and slurm targets share. A "host" is where the
 * target's work happens: a machine reached with the system OpenSSH client
 * (connection reuse through a ControlMaster socket in a private folder), or
 * this machine (a Slurm cluster whose commands are installed here).
 *
 * Nothing here builds a shell string from user input: local programs run
 * from argv; a remote command is an argv too, each word single-quoted for the
 * login shell that sshd hands it to (remote_quote). Work on the host is done
 * by the runner (src/target/runner.py, embedded), sent on stdin with each
 * call, with a JSON request and a binary payload; see runner.py for the
 * protocol and the layout under work_dir. */
#ifndef AMLSPEC_REMOTE_H
#define AMLSPEC_REMOTE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "env/resolve.h"
#include "spec/run_spec.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/strlist.h"
#include "workspace/runs.h"
#include "workspace/workspace.h"

/* ---- quoting ---- */

/* One word for a POSIX shell: 'it'\''s' (empty: ''). Safe for sh, bash,
 * dash, zsh and ksh login shells; a bare word when nothing needs quoting. */
void remote_quote(buf *out, const char *word);
/* Words joined by spaces, each quoted. */
void remote_quote_argv(buf *out, const char *const *argv);
/* A value for `ssh -o Key=VALUE` (ssh splits option values on whitespace
 * and expands %-tokens): %% for %, double quotes around whitespace. Values
 * ssh cannot take literally (a double quote, a backslash, "${", a newline)
 * are refused: -1. */
int remote_ssh_option_value(buf *out, const char *value);

/* ---- hosts ---- */

typedef struct remote_host {
	bool local;           /* this machine: argv runs directly */
	char *target;         /* target name, for messages */
	char *host;           /* ssh only */
	char *user;           /* NULL: ssh's default */
	char *port;           /* NULL: ssh's default */
	char *identity_file;  /* absolute, or NULL */
	char *known_hosts;    /* absolute, or NULL (~/.ssh/known_hosts) */
	char *control_dir;    /* private folder for the ControlMaster socket */
	char *python;         /* configured interpreter on the host ("python3") */
	char *work_dir;       /* as configured ("~/amlspec") */
} remote_host;

/* From an ssh target's options. Checks what can be checked here (values ssh
 * could misread, the identity and known_hosts files exist). */
int remote_host_from_ssh(remote_host **out, const target_config *cfg, diag_list *diags);
/* This machine, with the given interpreter and work folder. */
remote_host *remote_host_local(const char *target, const char *python, const char *work_dir);
void remote_host_free(remote_host *h);
/* "user@host:port" or "this machine". Caller frees. */
char *remote_host_label(const remote_host *h);

/* The private folder for ControlMaster sockets: $AMLSPEC_SSH_CONTROL_DIR,
 * else $XDG_RUNTIME_DIR/amlspec-ssh, else /tmp/amlspec-ssh-<uid>; created
 * 0700 and refused unless it is ours, 0700 and not a symlink. */
int remote_control_dir(char **out, diag_list *diags);

/* The ssh argv that runs `words` on h (quoted for the login shell). */
void remote_ssh_argv(strlist *out, const remote_host *h, const char *const *words);

/* ---- running programs ---- */

/* More standard input, asked for when what was given is written: append to
 * chunk; return 1 when there is no more, 0 to be called again, <0 on error. */
typedef int (*remote_feed_fn)(void *ctx, buf *chunk, diag_list *diags);

typedef struct remote_io {
	const char *input;       /* standard input (may hold NUL bytes) */
	size_t input_len;
	remote_feed_fn feed;     /* then this, until it returns 1 */
	void *feed_ctx;
	buf *out;                /* standard output captured here ... */
	int out_fd;              /* ... or copied to this fd (-1: neither) */
	int (*on_out)(void *ctx, const char *data, size_t len); /* ... or given to this */
	void *on_out_ctx;
	buf *err;                /* standard error captured here */
	FILE *progress;          /* and copied here (NULL: not) */
	double timeout;          /* seconds; 0: none. The program is killed then. */
} remote_io;

#define REMOTE_IO_INIT { NULL, 0, NULL, NULL, NULL, -1, NULL, NULL, NULL, NULL, 0 }

/* Runs argv here and waits. *status: exit code, or 128+signal, or -1 when it
 * could not be started (with a diagnostic, AML_ENOTFOUND). */
int remote_run_local(int *status, const char *const *argv, const remote_io *io, diag_list *diags);
/* Runs argv on the host (through ssh, or here). Exit status 255 from ssh is
 * a transport failure: AML_EIO with ssh's message made readable. */
int remote_exec(int *status, const remote_host *h, const char *const *argv, const remote_io *io, diag_list *diags);

/* ---- the runner ---- */

typedef struct remote_call {
	json_object *request;    /* {"action": ..., ...} */
	remote_feed_fn feed;     /* payload after the request line */
	void *feed_ctx;
	const char *python;      /* interpreter to run it (NULL: h->python) */
	FILE *progress;          /* the runner's stderr, live (NULL: kept for errors only) */
	int stream_fd;           /* "follow": raw output copied here */
	int (*on_stream)(void *ctx, const char *data, size_t len);
	void *on_stream_ctx;
	double timeout;
} remote_call;

#define REMOTE_CALL_INIT { NULL, NULL, NULL, NULL, NULL, -1, NULL, NULL, 0 }

/* Runs c->request on the host's runner; *resp is its answer (owned by the
 * caller), payload what followed it. The runner process is kept for the
 * next call to the same host and interpreter (a session per command); a
 * streaming call (stream_fd, on_stream) has a process of its own.
 * Transport problems: AML_EIO. An answer {"ok": false, "error": ...} is
 * returned as is (AML_OK): callers look. */
int remote_runner(json_object **resp, buf *payload, const remote_host *h, const remote_call *c, diag_list *diags);
/* Ends this command's runner sessions (also done at exit). */
void remote_sessions_close(void);
/* The payload part `name` of a runner answer ({"payload": [[name, size], ...]}). */
bool remote_payload_part(json_object *resp, const buf *payload, const char *name, const char **data, size_t *len);

/* ---- snapshots ---- */

typedef struct remote_file {
	char *path;
	unsigned mode;       /* git modes: 0100644, 0100755, 0120000 */
	char blob[41];
	uint64_t size;
} remote_file;

typedef struct remote_tree {
	remote_file *files;
	size_t count;
} remote_tree;

/* The files of tree_id in the snapshot store (a bare git repository).
 * sizes ({blob: size}, may be NULL) saves reading the size of blobs already
 * known: for loose objects that is a file opened and inflated each. */
int remote_tree_list(remote_tree *out, const char *store, const char *tree_id, json_object *sizes,
		     diag_list *diags);
void remote_tree_free(remote_tree *t);
/* [[path, mode, blob, size], ...] for the runner. */
json_object *remote_tree_json(const remote_tree *t);

/* Sends blobs from the store as a runner payload (feed function). */
typedef struct remote_blob_feed {
	const char *store;
	const strlist *blobs;
	size_t next;
	void *repo;           /* git_repository *, opened on first use */
} remote_blob_feed;
int remote_blob_feed_fn(void *ctx, buf *chunk, diag_list *diags);
void remote_blob_feed_close(remote_blob_feed *f);

/* ---- what amlspec remembers about a host (<state>/remote/<target>.json) ---- */

typedef struct remote_cache {
	char *path;
	json_object *doc;     /* {"key", "work_dir", "python", "machine", "blobs": {sha: size} (what the
			       * host holds), "pythons": {digest: path}} */
} remote_cache;

/* Loads the cache for h; a cache made for another host, user, port or
 * work_dir is dropped. */
void remote_cache_load(remote_cache *c, const char *state_dir, const remote_host *h);
int remote_cache_save(remote_cache *c, diag_list *diags);
void remote_cache_free(remote_cache *c);
const char *remote_cache_str(const remote_cache *c, const char *key);
/* Asks the host (runner "hello") and records work_dir, python, machine. */
int remote_cache_hello(remote_cache *c, const remote_host *h, diag_list *diags);

/* ---- run records ---- */

/* <state dir> of a run record (its folder's grandparent). Caller frees. */
char *remote_state_dir_of(const run_record *rec);
/* rec["remote"][key] */
const char *remote_rec_str(const run_record *rec, const char *key);
void remote_rec_set(run_record *rec, const char *key, json_object *value);
/* Appends data to the run's local copy of driver.log if it continues it
 * (the copy's size is offset); returns the copy's new size. */
long long remote_mirror_append(const run_record *rec, long long offset, const char *data, size_t len);
long long remote_mirror_size(const run_record *rec);
/* Copies the local driver.log from *offset to fd. */
int remote_mirror_copy(const run_record *rec, int fd, long long *offset);
/* Writes metrics.jsonl (from a runner payload) into the local run folder. */
void remote_mirror_metrics(const run_record *rec, const char *data, size_t len);
/* Within one command, polls of the same run closer together than
 * REMOTE_FRESH_SECONDS reuse the last answer (apply asks for logs and status
 * back to back). A new command always asks. */
#define REMOTE_FRESH_SECONDS 0.5
bool remote_recently_refreshed(const run_record *rec);
void remote_mark_refreshed(const run_record *rec);

/* The options of an ssh target, kept in each run record so that the run
 * stays reachable (poll, logs, cancel) whatever amlspec.yaml says later. */
json_object *remote_options_json(const target_config *cfg);
/* The host a run record names: remote.ssh (options) or this machine. */
int remote_host_for_record(remote_host **out, const run_record *rec, diag_list *diags);
/* Copies the facts of the supervisor's record (status, times, exit code,
 * error, pids, outputs, logs, metrics_count, lost) into rec. */
void remote_rec_merge(run_record *rec, json_object *remote_record);
/* Asks the runner for the run's news: its record (with_record: ssh runs),
 * driver.log from where the local copy ends, and once the run is over
 * (final, or a terminal record) metrics.jsonl and the outputs. Updates rec
 * (not saved); marks it remote.synced when nothing is left to fetch.
 * Transport problems: AML_EIO, rec untouched. */
int remote_sync(run_record *rec, const remote_host *h, bool with_record, bool final, diag_list *diags);

/* {"digest", "label", "def"} of an environment, for the runner's "stage". */
json_object *remote_env_request(const resolved_env *env);

/* The secrets the spec names, from this process's environment, for the
 * runner's request (never written anywhere). Errors for unset ones. */
int remote_secrets(json_object **out, const run_spec *spec, diag_list *diags);

/* ---- Slurm text ---- */

/* "D-HH:MM:SS" for seconds (rounded up to whole minutes, as Slurm counts). */
void remote_slurm_time(buf *out, long long seconds);
/* A Slurm job state to a run status; *terminal says whether it is final. */
run_status remote_slurm_status(const char *state);
/* Value of KEY= in `scontrol show job -o` / jobcomp text ("" when absent). Caller frees. */
char *remote_slurm_field(const char *text, const char *key);
/* The job id from `sbatch --parsable` output ("123" or "123;cluster"): 0 if none. */
long long remote_slurm_job_id(const char *out);

typedef struct slurm_script_opts {
	const run_spec *spec;
	const char *run_id;
	const char *run_dir;      /* on the shared file system */
	const char *wd;
	const char *python;
	const char *env_bin_dir;  /* NULL: none */
	const kvlist *env_variables;
} slurm_script_opts;

/* The batch script: generated text in which every value from the user is
 * single-quoted. Framework python/tensorflow: the script runs in the batch
 * step; mpi: mpirun inside the allocation; pytorch: srun, one task per slot,
 * with torchrun's variables from Slurm's. limits.timeout is enforced by the
 * script (timeout(1)), which leaves a `timed_out` marker in run_dir. */
int remote_slurm_script(buf *out, const slurm_script_opts *o, diag_list *diags);

#endif
