/* runs: the record of each run, <state>/runs/<run_id>/run.json, written
 * atomically. Immutable facts (spec, environment, snapshot, provenance) are
 * written once by apply; status fields are updated by whoever watches the run
 * (the local supervisor, or a remote target's poll). */
#ifndef AMLSPEC_RUNS_H
#define AMLSPEC_RUNS_H

#include <json-c/json.h>
#include <stdbool.h>

#include "util/diag.h"
#include "util/strlist.h"

typedef enum {
	RS_NOT_STARTED,
	RS_QUEUED,
	RS_PREPARING,
	RS_RUNNING,
	RS_FINALIZING,
	RS_CANCEL_REQUESTED,
	RS_COMPLETED,
	RS_FAILED,
	RS_CANCELED,
	RS_UNKNOWN,
} run_status;

const char *run_status_name(run_status s);
run_status run_status_parse(const char *name);
bool run_status_terminal(run_status s);

typedef struct run_record {
	char *dir;          /* <state>/runs/<id> */
	char *id;
	json_object *doc;   /* the whole run.json (owned) */
	int end_fd;         /* readable at the run's end (EOF), or -1: a local run
			     * started by this process; lets apply wait without polling */
} run_record;

/* <experiment>_<unix seconds>_<8 hex> */
char *run_id_new(const char *experiment);
char *runs_dir(const char *state_dir);

/* A new record in <state>/runs/<id>/ (folder created, mode 0700). */
int run_record_create(run_record **out, const char *state_dir, const char *id, json_object *doc, diag_list *diags);
int run_record_load(run_record **out, const char *state_dir, const char *id, diag_list *diags);
int run_record_load_dir(run_record **out, const char *dir, diag_list *diags);
int run_record_save(run_record *r, diag_list *diags);
void run_record_free(run_record *r);

run_status run_record_status(const run_record *r);
const char *run_record_str(const run_record *r, const char *key);
long long run_record_int(const run_record *r, const char *key, long long dflt);
void run_record_set_str(run_record *r, const char *key, const char *value);
void run_record_set_int(run_record *r, const char *key, long long value);
void run_record_set_status(run_record *r, run_status s);

/* Removes run folders left half-made (.tmp-<id>) by an apply killed
 * between creating one and renaming it into place. Records are created only
 * under the workspace lock, so the caller must hold it: then none of them is
 * in progress. Returns how many were removed. */
size_t runs_sweep_partial(const char *state_dir);
/* Every run id in the state folder (sorted). */
int runs_list(strlist *ids, const char *state_dir, diag_list *diags);
/* A unique run id (or unique prefix) to the full id. */
int runs_find(char **out, const char *state_dir, const char *prefix, diag_list *diags);

/* The supervisor holds an fcntl lock on <run dir>/supervisor.lock while it
 * watches the run; when the lock is free but the record is not terminal, the
 * supervisor died and the outcome is unknown. */
bool run_supervisor_alive(const run_record *r);

/* Appends the files under root as {"path", "size"} objects, sorted, at most
 * 10,000 (a run's outputs/ and logs/, as every supervisor records them). */
void runs_list_files(json_object *arr, const char *root);

/* RFC 3339 UTC time for now / for t. Caller frees. */
char *time_now_rfc3339(void);
double time_now(void);
/* Seconds since the epoch for an RFC 3339 UTC time as written above; 0 if unparsable. */
double time_parse_rfc3339(const char *t);

#endif
