/* plan: desired (the specs as they are now) against applied (state.json),
 * per spec: create, rerun with every reason, or nothing to do. */
#ifndef AMLSPEC_PLAN_H
#define AMLSPEC_PLAN_H

#include <json-c/json.h>
#include <stdio.h>

#include "cmd/cli.h"
#include "cmd/specset.h"
#include "util/buf.h"
#include "env/lockfile.h"
#include "env/resolve.h"
#include "snapshot/snapshot.h"
#include "workspace/state.h"

typedef enum { PLAN_NOOP, PLAN_CREATE, PLAN_RERUN } plan_action;

typedef struct field_change {
	char *path;
	char *old_value;   /* JSON text, NULL when absent */
	char *new_value;
} field_change;

typedef struct plan_entry {
	spec_file *file;           /* borrowed from the specset */
	plan_action action;
	strlist reasons;           /* one line each, for the summary */
	strlist notes;             /* information that is not a reason (an upgrade exists, ...) */
	char *pin_name;            /* an unpinned curated reference that apply will pin */
	field_change *fields;
	size_t nfields;
	bool env_changed;
	json_object *env_old;      /* resolved environment JSON as applied (borrowed from state), or NULL */
	resolved_env env;          /* as it resolves now */
	json_object *env_changes;  /* array of {"kind","what","old","new"} */
	snapshot_info snap;
	char *old_snapshot;
	bool source_changed;
	snapshot_diff source_diff;
	char *last_run_id;
	char *last_run_status;
	char *last_run_error;
} plan_entry;

typedef struct plan {
	plan_entry *entries;
	size_t count;
	char *lineage;
	long long serial;
	size_t ncreate, nrerun, nnoop;
} plan;

typedef struct plan_opts {
	bool rerun_all;           /* apply --rerun */
	bool fatal_limits;
	const lockfile *lock;     /* amlspec.lock, or NULL to resolve unpinned references to the latest */
} plan_opts;

/* Builds the plan for every valid spec in set (one workspace: ws). */
int plan_build(plan *out, specset *set, workspace *ws, const state *st, const char *state_dir,
	       const plan_opts *opts, diag_list *diags);
void plan_free(plan *p);

/* Shared with diff: field-by-field differences of two spec JSON objects,
 * environment content differences, and lock-aware resolution. */
void plan_diff_fields(field_change **fields, size_t *n, const char *prefix, json_object *old, json_object *new);
json_object *plan_env_diff(const envdef *old, const envdef *new);
int plan_resolve_locked(resolved_env *out, strlist *notes, char **pin_name, const run_spec *spec, const catalog *cat,
			const lockfile *lock, diag_list *diags);
/* Appends text to b, cut to fit limit bytes with a note pointing at the JSON
 * form (GitHub comments are limited to 65,536 characters). */
void markdown_bounded(buf *out, const char *head, const char *details, size_t limit, const char *json_hint);

void plan_render_text(const plan *p, const cli *ctx, FILE *out);
json_object *plan_render_json(const plan *p, const cli *ctx);
void plan_render_markdown(const plan *p, FILE *out);
/* The state entry apply records for an entry, given the run id. */
json_object *plan_entry_state_json(const plan_entry *e, const char *run_id, const char *workspace_root);

#endif
