/* state: what was applied, in <workspace>/.amlspec/state.json (json-c).
 * Written atomically (temp file, fsync, rename, fsync of the folder) with the
 * previous version kept as state.json.backup; carries format_version, a
 * lineage id and a serial that grows with every write. A newer format is
 * refused; a corrupt file is recovered from the backup with a warning. */
#ifndef AMLSPEC_STATE_H
#define AMLSPEC_STATE_H

#include <json-c/json.h>

#include "util/diag.h"

#define STATE_FORMAT_VERSION 1

typedef struct state {
	char *dir;            /* the state folder */
	char *lineage;
	long long serial;
	json_object *specs;   /* {"exp/name": {...}}: owned by the state */
} state;

/* Loads dir/state.json; a missing file gives an empty state with a new lineage. */
int state_load(state **out, const char *dir, diag_list *diags);
/* serial+1, then writes atomically with a backup of the previous file (mode 0600). */
int state_save(state *s, diag_list *diags);
void state_free(state *s);

/* The exclusive workspace lock (fcntl on dir/lock). The holder's pid, host,
 * command and start time are written into the file as JSON. A second taker
 * waits up to timeout seconds and then fails naming the holder. A lock left
 * by a dead process is taken over (fcntl locks die with their process). */
typedef struct state_lock state_lock;
int state_lock_acquire(state_lock **out, const char *dir, const char *command, double timeout, diag_list *diags);
void state_lock_release(state_lock *l);

#endif
