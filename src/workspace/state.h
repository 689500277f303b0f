/* state: what was applied, in <workspace>/.amlspec/state.json (json-c).
 * Written atomically (temp file, fsync, rename, fsync of the folder) with the
 * previous version kept as state.json.backup; carries format_version, a
 * lineage id and a serial that grows with every write. A newer format is
 * refused; a corrupt file is recovered from the backup with a warning. */
#ifndef AMLSPEC_STATE_H
#define AMLSPEC_STATE_H

#include <json-c/json.h>
#include <stdbool.h>

#include "util/diag.h"

#define STATE_FORMAT_VERSION 1

typedef struct state {
	char *dir;            /* the state folder */
	char *lineage;
	long long serial;
	json_object *specs;   /* {"exp/name": {...}}: owned by the state */
	json_object *extra;   /* other top-level keys, kept in file order and written back: owned */
	bool recovered;       /* loaded from state.json.backup because state.json was damaged */
} state;

/* Loads dir/state.json; a missing file gives an empty state with a new lineage
 * (serial 0). A damaged state.json (or a missing one beside a backup) is
 * recovered from state.json.backup with warnings (s->recovered); when both
 * are unusable, or the format is newer than STATE_FORMAT_VERSION, it fails. */
int state_load(state **out, const char *dir, diag_list *diags);
/* serial+1, then writes atomically with a backup of the previous file (mode
 * 0600), creating dir if needed. Fails with AML_ECONFLICT when state.json on
 * disk is no longer the version that was loaded (other lineage or serial):
 * hold the workspace lock from load to save. A damaged state.json is kept as
 * state.json.corrupt instead of becoming the backup. On failure the state
 * is unchanged (serial included). */
int state_save(state *s, diag_list *diags);
void state_free(state *s);

/* The exclusive workspace lock (fcntl on dir/lock). The holder's pid, host,
 * command and start time are written into the file as JSON. A second taker
 * waits up to timeout seconds (polling every 50 ms; 0: one try; negative:
 * forever) and then fails with AML_ELOCKED naming the holder. A lock left by
 * a dead process is taken over (fcntl locks die with their process).
 *
 * fcntl locks belong to the process, not to the descriptor: closing ANY
 * descriptor of dir/lock in the holding process drops the lock, and a second
 * acquire in the same process would "succeed" and then drop the lock on its
 * release. So a process acquires at most once per folder (a second attempt
 * fails with AML_ELOCKED), and must not open dir/lock by other means
 * (state_lock_holder knows this). The lock is not inherited by fork()ed
 * children, which is what lets a run supervisor outlive the command that
 * started it without holding the workspace. The lock file is never deleted
 * (that would let two processes lock two different files); release empties it. */
typedef struct state_lock state_lock;
int state_lock_acquire(state_lock **out, const char *dir, const char *command, double timeout, diag_list *diags);
void state_lock_release(state_lock *l);
/* Who holds the lock of dir now: *json_out is the holder's JSON
 * ({"pid", "host", "command", "started_at"}; just {"pid"} when the holder has
 * not written it yet), or NULL when nobody holds it. Caller frees. Returns
 * AML_OK, or AML_EIO with errno set. */
int state_lock_holder(char **json_out, const char *dir);

#endif
