/* amlspec apply [PATH...] [--rerun] [--no-wait]: does what plan shows. For
 * each spec that needs a run: snapshot, environment, git provenance, run
 * record, start on the target, record in state; then stream the logs. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/specset.h"
#include "env/materialize.h"
#include "plan/plan.h"
#include "plan/saved.h"
#include "provenance/provenance.h"
#include "snapshot/snapshot.h"
#include "target/target.h"
#include "util/fs.h"
#include "workspace/runs.h"

static const char usage[] =
	"usage: amlspec apply [PATH... | PLANFILE] [--rerun] [--no-wait] [--fatal-limits]\n"
	"\n"
	"Starts a run for every spec that plan shows as + create or ~ rerun, and\n"
	"records it. --rerun starts a run even when nothing changed; --no-wait\n"
	"returns once the runs have started. PLANFILE (from plan -out) applies\n"
	"exactly that plan, or is refused if anything moved since.\n"
	"Exit 0 when every run completed,\n"
	"1 on an error or when a run failed.\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

typedef struct started {
	run_record *rec;
	const target_ops *ops;
	const target_config *cfg;
	char *address;
} started;

static json_object *new_run_doc(const plan_entry *e, const char *run_id, const workspace *ws,
				const provenance *prov)
{
	const run_spec *s = e->file->spec;
	json_object *o = json_object_new_object();
	char *now = time_now_rfc3339();
	json_object_object_add(o, "format_version", json_object_new_int(1));
	json_object_object_add(o, "run_id", json_object_new_string(run_id));
	json_object_object_add(o, "address", json_object_new_string(s->address));
	json_object_object_add(o, "experiment", json_object_new_string(s->experiment));
	json_object_object_add(o, "name", json_object_new_string(s->name));
	char *rel = fs_relative(ws->root, s->abs_file);
	json_object_object_add(o, "spec_file", json_object_new_string(rel));
	free(rel);
	json_object_object_add(o, "target", json_object_new_string(s->target));
	json_object_object_add(o, "status", json_object_new_string(run_status_name(RS_PREPARING)));
	json_object_object_add(o, "created_at", json_object_new_string(now));
	json_object_object_add(o, "reasons", json_object_new_array());
	for (size_t i = 0; i < e->reasons.count; i++)
		json_object_array_add(json_object_object_get(o, "reasons"), json_object_new_string(e->reasons.items[i]));
	json_object_object_add(o, "spec", run_spec_to_json(s));
	json_object_object_add(o, "environment", resolved_env_to_json(&e->env));
	json_object *snap = json_object_new_object();
	json_object_object_add(snap, "tree", json_object_new_string(e->snap.tree_id));
	json_object_object_add(snap, "files", json_object_new_int64((int64_t)e->snap.files));
	json_object_object_add(snap, "bytes", json_object_new_int64((int64_t)e->snap.bytes));
	json_object_object_add(o, "snapshot", snap);
	json_object *props = provenance_to_properties(prov);
	json_object_object_add(props, "ContentSnapshotId", json_object_new_string(e->snap.tree_id));
	json_object_object_add(o, "properties", props);
	json_object_object_add(o, "timeout_seconds", json_object_new_int64(s->timeout_seconds));
	json_object *sec = json_object_new_array();
	for (size_t i = 0; i < s->secrets.count; i++)
		json_object_array_add(sec, json_object_new_string(s->secrets.items[i]));
	json_object_object_add(o, "secrets", sec);
	free(now);
	return o;
}

/* Starts one entry's run; on success *out holds the record. State is saved
 * before the run starts, so a killed apply never forgets a run it started. */
static int start_one(started *out, plan_entry *e, workspace *ws, state *st, const char *state_dir, diag_list *diags)
{
	const run_spec *s = e->file->spec;
	const target_config *cfg = NULL;
	const target_ops *ops = target_for(ws, s->target, &cfg);
	char *run_id = run_id_new(s->experiment);
	char *store = fs_join(state_dir, "snapshots.git");
	provenance prov = { 0 };
	run_record *rec = NULL;
	int rc = AML_OK;

	provenance_collect(&prov, s->source_dir_abs, diags);
	rc = snapshot_anchor(store, e->snap.tree_id, run_id, diags);
	if (rc)
		goto done;
	rc = run_record_create(&rec, state_dir, run_id, new_run_doc(e, run_id, ws, &prov), diags);
	if (rc)
		goto done;
	/* the spec is applied once its run exists, even if it fails to start:
	 * plan then shows "last run Failed" as the reason to run again. Saved
	 * before the run can start, so that an apply killed at any point never
	 * leaves a run that executed and that the state does not know. */
	json_object_object_add(st->specs, s->address, plan_entry_state_json(e, run_id, ws->root));
	rc = state_save(st, diags) ? AML_EIO : AML_OK;
	run_job job = { s, &e->env, ws, cfg, state_dir, store, e->snap.tree_id, rec, stderr };
	if (!rc)
		rc = ops->prepare(&job, diags);
	if (!rc)
		rc = ops->submit(&job, diags);
	if (rc) {
		const char *msg = diags->count ? diags->items[diags->count - 1].message : "preparation failed";
		run_record_set_status(rec, RS_FAILED);
		run_record_set_str(rec, "error", msg);
		char *now = time_now_rfc3339();
		run_record_set_str(rec, "ended_at", now);
		free(now);
		diag_list quiet = DIAG_LIST_INIT;
		run_record_save(rec, &quiet);
		diag_list_free(&quiet);
	}
	out->rec = rec;
	rec = NULL;
	out->ops = ops;
	out->cfg = cfg;
	out->address = xstrdup(s->address);
done:
	run_record_free(rec);
	provenance_free(&prov);
	free(store);
	free(run_id);
	return rc;
}

static bool ask_cancel(void)
{
	if (!isatty(STDIN_FILENO))
		return false;
	fprintf(stderr, "\nCancel the run? [y/N] ");
	char line[16] = { 0 };
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

static const char *duration_text(const run_record *r, char out[32])
{
	double a = time_parse_rfc3339(run_record_str(r, "started_at"));
	double b = time_parse_rfc3339(run_record_str(r, "ended_at"));
	out[0] = '\0';
	if (a && b)
		snprintf(out, 32, "%.1fs", b > a ? b - a : 0.0);
	return out;
}

int cmd_apply(int argc, char **argv, cli *ctx)
{
	plan_opts opts = { 0 };
	bool no_wait = false;
	char **paths = NULL;
	int npaths = 0;
	const cli_opt options[] = {
		{ "--rerun", &opts.rerun_all, NULL },
		{ "--no-wait", &no_wait, NULL },
		{ "--fatal-limits", &opts.fatal_limits, NULL },
		{ NULL, NULL, NULL },
	};
	int parsed = cli_parse(ctx, argc, argv, usage, options, &paths, &npaths);
	if (parsed >= 0)
		return parsed;

	specset set = SPECSET_INIT;
	diag_list diags = DIAG_LIST_INIT;
	workspace *ws = NULL;
	state *st = NULL;
	state_lock *lock = NULL;
	plan p = { 0 };
	lockfile lock_file = { 0 };
	started *runs = NULL;
	size_t nruns = 0;
	int exit_code = EXIT_FAIL;
	char *state_dir = NULL;
	bool failed = false;
	json_object *saved = NULL;
	strlist saved_files = STRLIST_INIT;
	strlist built = STRLIST_INIT; /* digests this apply built (not cached) */

	if (npaths == 1) {
		int s = saved_plan_load(&saved, paths[0], &diags);
		if (s < 0)
			goto done;
		if (s == 1) {
			saved_plan_files(saved, &saved_files);
			npaths = (int)saved_files.count;
			free(paths);
			paths = xcalloc(saved_files.count + 1, sizeof(char *));
			for (size_t k = 0; k < saved_files.count; k++)
				paths[k] = saved_files.items[k];
			json_object *rr;
			if (json_object_object_get_ex(saved, "rerun", &rr) && json_object_get_boolean(rr))
				opts.rerun_all = true;
		}
	}
	if (specset_load(&set, npaths, paths, ctx, &diags) || specset_workspace(&ws, &set, ctx, &diags))
		goto done;
	state_dir = workspace_state_dir(ws);
	if (fs_mkdirs(state_dir, 0700) < 0) {
		diag_errno(&diags, state_dir, "cannot create the state folder");
		goto done;
	}

	/* Build the environments before taking the workspace lock: they are cached
	 * by digest under their own lock, and a long build should not hold off
	 * other commands on this workspace. */
	if (lockfile_load(&lock_file, ws->root, &diags))
		goto done;
	opts.lock = &lock_file;
	if (state_load(&st, state_dir, &diags) || plan_build(&p, &set, ws, st, state_dir, &opts, &diags))
		goto done;
	for (size_t i = 0; i < p.count; i++) {
		plan_entry *e = &p.entries[i];
		if (e->action == PLAN_NOOP || strcmp(e->file->spec->target, "local"))
			continue;
		env_instance inst = { 0 };
		materialize_opts mo = { NULL, stderr };
		if (!e->env.def.docker_enabled && env_materialize(&inst, &e->env, &mo, &diags))
			goto done;
		if (inst.prefix && !inst.reused && !strlist_contains(&built, e->env.digest))
			strlist_add(&built, e->env.digest);
		env_instance_free(&inst);
	}
	plan_free(&p);
	state_free(st);
	st = NULL;

	if (state_lock_acquire(&lock, state_dir, "apply", ctx->lock_timeout, &diags))
		goto done;
	runs_sweep_partial(state_dir);
	/* re-plan under the lock: another apply (or lock) may have run meanwhile */
	lockfile_free(&lock_file);
	if (lockfile_load(&lock_file, ws->root, &diags))
		goto done;
	opts.lock = &lock_file;
	if (state_load(&st, state_dir, &diags) || plan_build(&p, &set, ws, st, state_dir, &opts, &diags))
		goto done;
	if (saved && saved_plan_check(saved, &p, ws, &diags)) {
		diag_add(&diags, DIAG_ERROR, NULL, 0, 0, NULL,
			 "the saved plan is stale and was not applied; run 'amlspec plan -out FILE' again");
		goto done;
	}
	cli_print_diags(ctx, &diags, stderr);
	diag_list_free(&diags);

	runs = xcalloc(p.count + 1, sizeof(*runs));
	for (size_t i = 0; i < p.count; i++) {
		plan_entry *e = &p.entries[i];
		if (e->action == PLAN_NOOP)
			continue;
		if (ctx->output == OUT_TEXT)
			fprintf(stderr, "%s%s%s %s (%s)\n", cli_c(ctx, e->action == PLAN_CREATE ? C_GREEN : C_YELLOW),
				e->action == PLAN_CREATE ? "+ create" : "~ rerun", cli_c(ctx, C_RESET),
				e->file->spec->address, e->reasons.count ? e->reasons.items[0] : "");
		started *r = &runs[nruns];
		int rc = start_one(r, e, ws, st, state_dir, &diags);
		if (r->rec)
			nruns++;
		if (rc) {
			failed = true;
			cli_print_diags(ctx, &diags, stderr);
			diag_list_free(&diags);
			if (!r->rec)
				break;
			continue;
		}
		if (ctx->output == OUT_TEXT)
			fprintf(stderr, "  run %s started on %s (environment %s%s)\n", r->rec->id, e->file->spec->target,
				e->env.label, strlist_contains(&built, e->env.digest) ? ", built"
					      : json_object_get_boolean(json_object_object_get(r->rec->doc, "env_reused"))
						      ? ", cached" : "");
	}
	/* pin the unpinned curated references that these runs resolved */
	for (size_t i = 0; i < p.count; i++) {
		plan_entry *e = &p.entries[i];
		if (e->action == PLAN_NOOP || !e->pin_name)
			continue;
		const catalog_entry *ce = catalog_find(&ws->cat, e->pin_name);
		const catalog_version *v = ce ? catalog_entry_version(ce, e->env.curated_version) : NULL;
		if (v) {
			char *d = envdef_digest(&v->def);
			lockfile_set(&lock_file, ce->name, v->version, d);
			free(d);
		}
	}
	if (lockfile_save(&lock_file, &diags))
		failed = true;
	state_lock_release(lock);
	lock = NULL;

	if (nruns == 0 && !failed) {
		if (ctx->output == OUT_JSON) {
			json_object *o = cli_envelope(ctx);
			json_object_object_add(o, "runs", json_object_new_array());
			json_object_object_add(o, "summary", json_object_new_string("no changes"));
			cli_print_json(o);
		} else {
			printf("No changes. %zu spec%s up to date.\n", p.nnoop, p.nnoop == 1 ? "" : "s");
		}
		exit_code = EXIT_OK;
		goto done;
	}

	if (!no_wait) {
		struct sigaction sa = { 0 }, old;
		sa.sa_handler = on_sigint;
		sigaction(SIGINT, &sa, &old);
		for (size_t i = 0; i < nruns; i++) {
			started *r = &runs[i];
			if (run_status_terminal(run_record_status(r->rec)))
				continue;
			long long off = 0;
			long wait_ms = 2;
			if (ctx->output == OUT_TEXT && nruns > 1)
				fprintf(stderr, "--- %s (%s) ---\n", r->address, r->rec->id);
			/* follow in short slices so Ctrl-C can be answered */
			for (;;) {
				int fd = ctx->output == OUT_TEXT ? STDOUT_FILENO : -1;
				if (fd >= 0)
					r->ops->logs(r->cfg, r->rec, false, fd, &off, &diags);
				else
					r->ops->poll(r->cfg, r->rec, &diags);
				if (fd >= 0)
					r->ops->poll(r->cfg, r->rec, &diags);
				if (run_status_terminal(run_record_status(r->rec))) {
					if (fd >= 0)
						r->ops->logs(r->cfg, r->rec, false, fd, &off, &diags);
					break;
				}
				if (interrupted) {
					interrupted = 0;
					if (ask_cancel()) {
						r->ops->cancel(r->cfg, r->rec, 10, &diags);
					} else {
						fprintf(stderr, "\nThe run goes on: amlspec logs -f %s, amlspec status %s\n",
							r->rec->id, r->rec->id);
						no_wait = true;
						break;
					}
				}
				if (r->rec->end_fd >= 0) {
					/* wakes at once when the supervisor exits; at least every
					 * 100 ms to copy new log output */
					struct pollfd pf = { r->rec->end_fd, POLLIN, 0 };
					if (poll(&pf, 1, 100) > 0) {
						char c;
						if (read(r->rec->end_fd, &c, 1) <= 0) {
							close(r->rec->end_fd);
							r->rec->end_fd = -1;
						}
					}
				} else {
					/* short runs end fast: start polling at 2 ms, back off to 100 ms */
					struct timespec ts = { 0, wait_ms * 1000000L };
					nanosleep(&ts, NULL);
					if (wait_ms < 100)
						wait_ms = wait_ms * 2 > 100 ? 100 : wait_ms * 2;
				}
			}
			if (no_wait)
				break;
		}
		sigaction(SIGINT, &old, NULL);
	}

	size_t completed = 0, nfailed = 0;
	for (size_t i = 0; i < nruns; i++) {
		run_status s = run_record_status(runs[i].rec);
		completed += s == RS_COMPLETED;
		nfailed += s == RS_FAILED || s == RS_CANCELED;
	}
	if (ctx->output == OUT_JSON) {
		json_object *o = cli_envelope(ctx);
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < nruns; i++) {
			json_object *r = json_object_new_object();
			json_object_object_add(r, "run_id", json_object_new_string(runs[i].rec->id));
			json_object_object_add(r, "address", json_object_new_string(runs[i].address));
			json_object_object_add(r, "status",
					       json_object_new_string(run_status_name(run_record_status(runs[i].rec))));
			long long code = run_record_int(runs[i].rec, "exit_code", -1);
			json_object_object_add(r, "exit_code", code >= 0 ? json_object_new_int64(code) : NULL);
			const char *err = run_record_str(runs[i].rec, "error");
			json_object_object_add(r, "error", err ? json_object_new_string(err) : NULL);
			json_object_array_add(arr, r);
		}
		json_object_object_add(o, "runs", arr);
		cli_print_json(o);
	} else {
		for (size_t i = 0; i < nruns; i++) {
			run_status s = run_record_status(runs[i].rec);
			char dur[32];
			const char *err = run_record_str(runs[i].rec, "error");
			const char *col = s == RS_COMPLETED ? C_GREEN : run_status_terminal(s) ? C_RED : C_YELLOW;
			/* the first line of the error: the whole of it was printed above */
			int errlen = err ? (int)strcspn(err, "\n") : 0;
			fprintf(stderr, "%s %s%s%s%s%s%s%.*s\n", runs[i].rec->id, cli_c(ctx, col), run_status_name(s),
				cli_c(ctx, C_RESET), *duration_text(runs[i].rec, dur) ? " in " : "", dur,
				err && s != RS_COMPLETED ? ": " : "", err && s != RS_COMPLETED ? errlen : 0, err ? err : "");
		}
		if (no_wait)
			fprintf(stderr, "Apply: %zu run%s started.\n", nruns, nruns == 1 ? "" : "s");
		else
			fprintf(stderr, "Apply: %zu run%s, %zu completed, %zu failed.\n", nruns, nruns == 1 ? "" : "s",
				completed, nfailed);
	}
	if (!failed && (no_wait ? true : completed == nruns))
		exit_code = EXIT_OK;
done:
	if (diags.count) {
		diag_list_sort(&diags);
		cli_print_diags(ctx, &diags, stderr);
	}
	state_lock_release(lock);
	for (size_t i = 0; i < nruns; i++) {
		run_record_free(runs[i].rec);
		free(runs[i].address);
	}
	free(runs);
	plan_free(&p);
	lockfile_free(&lock_file);
	json_object_put(saved);
	strlist_free(&saved_files);
	strlist_free(&built);
	state_free(st);
	free(state_dir);
	specset_free(&set);
	diag_list_free(&diags);
	free(paths);
	return exit_code;
}
