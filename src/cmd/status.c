/* amlspec status [RUN_ID | PATH...]: runs newest first, drift between the
 * specs and what was applied; with RUN_ID, that run in full. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cli.h"
#include "cmd/runcmd.h"
#include "cmd/specset.h"
#include "plan/plan.h"
#include "util/buf.h"
#include "util/fs.h"
#include "workspace/state.h"

static const char usage[] =
	"usage: amlspec status [PATH...] [--refresh]\n"
	"       amlspec status RUN_ID\n"
	"\n"
	"Lists the workspace's runs, newest first, and the specs that drifted\n"
	"from their last run (PATH: which specs to compare; default: all specs\n"
	"in the workspace). With a run id (or unique prefix): that run in full.\n"
	"Runs on remote targets (ssh, slurm) show the status last fetched and\n"
	"how old it is; --refresh asks the targets first (a run with a RUN_ID\n"
	"is always asked).\n";

/* "12s", "3m04s", "2h05m" since an RFC 3339 time; "-" when unknown. */
static void age_text(buf *b, const char *when)
{
	double t = time_parse_rfc3339(when);
	if (!t) {
		buf_puts(b, "-");
		return;
	}
	double d = time_now() - t;
	if (d < 0)
		d = 0;
	if (d < 60)
		buf_printf(b, "%ds", (int)d);
	else if (d < 3600)
		buf_printf(b, "%dm%02ds", (int)d / 60, (int)d % 60);
	else
		buf_printf(b, "%dh%02dm", (int)d / 3600, ((int)d % 3600) / 60);
}

static void duration(buf *b, const run_record *r)
{
	double a = time_parse_rfc3339(run_record_str(r, "started_at"));
	double e = time_parse_rfc3339(run_record_str(r, "ended_at"));
	if (!a) {
		buf_puts(b, "-");
		return;
	}
	double d = (e ? e : time_now()) - a;
	if (d < 0)
		d = 0;
	if (d < 60)
		buf_printf(b, "%.1fs", d);
	else if (d < 3600)
		buf_printf(b, "%dm%02ds", (int)d / 60, (int)d % 60);
	else
		buf_printf(b, "%dh%02dm", (int)d / 3600, ((int)d % 3600) / 60);
}

static const char *display_time(const char *t, char out[24])
{
	if (!t)
		return "-";
	snprintf(out, 24, "%.10s %.8s", t, strlen(t) > 11 ? t + 11 : "");
	return out;
}

static int cmp_created_desc(const void *a, const void *b)
{
	const run_record *x = *(run_record *const *)a, *y = *(run_record *const *)b;
	const char *ca = run_record_str(x, "created_at"), *cb = run_record_str(y, "created_at");
	int c = strcmp(cb ? cb : "", ca ? ca : "");
	return c ? c : strcmp(y->id, x->id);
}

/* metrics.jsonl -> {"name": {"last": v, "step": s, "count": n}} */
static json_object *metrics_summary(const char *run_dir)
{
	json_object *sum = json_object_new_object();
	char *path = fs_join(run_dir, "metrics.jsonl");
	FILE *f = fopen(path, "r");
	free(path);
	if (!f)
		return sum;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		json_object *m = json_tokener_parse(line), *name, *value, *step;
		if (m && json_object_object_get_ex(m, "name", &name) && json_object_is_type(name, json_type_string) &&
		    json_object_object_get_ex(m, "value", &value)) {
			json_object *e;
			if (!json_object_object_get_ex(sum, json_object_get_string(name), &e)) {
				e = json_object_new_object();
				json_object_object_add(e, "count", json_object_new_int64(0));
				json_object_object_add(sum, json_object_get_string(name), e);
			}
			json_object_object_add(e, "last", json_object_get(value));
			json_object_object_add(e, "step", json_object_object_get_ex(m, "step", &step) ? json_object_get(step)
													: NULL);
			json_object_object_add(e, "count",
					       json_object_new_int64(json_object_get_int64(json_object_object_get(e, "count")) + 1));
		}
		json_object_put(m);
	}
	free(line);
	fclose(f);
	return sum;
}

static void print_kv(const char *k, const char *v)
{
	printf("  %-18s %s\n", k, v ? v : "-");
}

static int status_one(const char *id, cli *ctx)
{
	runcmd r = RUNCMD_INIT;
	if (runcmd_open(&r, id, ctx))
		return runcmd_close(&r), EXIT_FAIL;
	if (r.ops->poll(r.cfg, r.rec, &r.diags) && r.cfg)
		/* a remote target that cannot be reached: show what is known, say so */
		cli_print_diags(ctx, &r.diags, stderr);
	json_object *metrics = metrics_summary(r.rec->dir);
	if (ctx->output == OUT_JSON) {
		json_object *o = cli_envelope(ctx);
		json_object *run = json_object_get(r.rec->doc);
		json_object_object_del(run, "processes"); /* launch details: in run.json */
		json_object_object_add(o, "run", run);
		json_object_object_add(o, "metrics", json_object_get(metrics));
		json_object_object_add(o, "run_dir", json_object_new_string(r.rec->dir));
		cli_print_json(o);
	} else {
		run_record *rec = r.rec;
		run_status s = run_record_status(rec);
		buf d = BUF_INIT;
		duration(&d, rec);
		printf("%s%s%s\n", cli_c(ctx, C_BOLD), rec->id, cli_c(ctx, C_RESET));
		print_kv("spec", run_record_str(rec, "address"));
		print_kv("file", run_record_str(rec, "spec_file"));
		print_kv("target", run_record_str(rec, "target"));
		if (run_record_str(rec, "studio_url"))
			print_kv("studio", run_record_str(rec, "studio_url"));
		print_kv("status", run_status_name(s));
		if (r.cfg) {
			buf age = BUF_INIT;
			age_text(&age, run_record_str(rec, "status_updated_at"));
			buf_printf(&age, " ago (%s)", run_record_str(rec, "status_updated_at") ? run_record_str(rec, "status_updated_at") : "never");
			print_kv("status checked", age.ptr);
			buf_free(&age);
		}
		if (run_record_str(rec, "error"))
			print_kv("error", run_record_str(rec, "error"));
		long long code = run_record_int(rec, "exit_code", -1);
		if (code >= 0)
			printf("  %-18s %lld\n", "exit code", code);
		print_kv("created", run_record_str(rec, "created_at"));
		print_kv("started", run_record_str(rec, "started_at"));
		print_kv("ended", run_record_str(rec, "ended_at"));
		print_kv("duration", d.ptr);
		json_object *env, *v, *snap, *props, *reasons;
		if (json_object_object_get_ex(rec->doc, "environment", &env)) {
			print_kv("environment", json_object_object_get_ex(env, "label", &v) ? json_object_get_string(v) : NULL);
			print_kv("env digest", json_object_object_get_ex(env, "digest", &v) ? json_object_get_string(v) : NULL);
		}
		print_kv("python", run_record_str(rec, "python"));
		if (json_object_object_get_ex(rec->doc, "snapshot", &snap)) {
			buf sb = BUF_INIT;
			buf_printf(&sb, "%s (%lld files, %lld bytes)",
				   json_object_get_string(json_object_object_get(snap, "tree")),
				   (long long)json_object_get_int64(json_object_object_get(snap, "files")),
				   (long long)json_object_get_int64(json_object_object_get(snap, "bytes")));
			print_kv("snapshot", sb.ptr);
			buf_free(&sb);
		}
		if (json_object_object_get_ex(rec->doc, "reasons", &reasons) && json_object_array_length(reasons)) {
			printf("  reasons:\n");
			for (size_t i = 0; i < json_object_array_length(reasons); i++)
				printf("    %s\n", json_object_get_string(json_object_array_get_idx(reasons, i)));
		}
		if (json_object_object_get_ex(rec->doc, "properties", &props) && json_object_object_length(props)) {
			printf("  properties:\n");
			json_object_object_foreach(props, k, pv) {
				printf("    %s: %s\n", k, json_object_get_string(pv));
			}
		}
		if (json_object_object_length(metrics)) {
			printf("  metrics:\n");
			json_object_object_foreach(metrics, mk, mv) {
				json_object *step = json_object_object_get(mv, "step");
				printf("    %s: %s", mk, json_object_to_json_string(json_object_object_get(mv, "last")));
				if (step)
					printf(" (step %s)", json_object_get_string(step));
				long long cnt = (long long)json_object_get_int64(json_object_object_get(mv, "count"));
				printf(", %lld value%s\n", cnt, cnt == 1 ? "" : "s");
			}
		}
		json_object *outs;
		if (json_object_object_get_ex(rec->doc, "outputs", &outs) && json_object_array_length(outs)) {
			json_object *rem = json_object_object_get(rec->doc, "remote");
			const char *rhost = json_object_get_string(json_object_object_get(rem, "host"));
			const char *rdir = json_object_get_string(json_object_object_get(rem, "run_dir"));
			if (rhost && rdir) /* a remote run's outputs stay where it ran */
				printf("  outputs (%s:%s/wd/outputs):\n", rhost, rdir);
			else
				printf("  outputs (%s/wd/outputs):\n", rec->dir);
			for (size_t i = 0; i < json_object_array_length(outs); i++) {
				json_object *f = json_object_array_get_idx(outs, i);
				printf("    %s (%lld bytes)\n", json_object_get_string(json_object_object_get(f, "path")),
				       (long long)json_object_get_int64(json_object_object_get(f, "size")));
			}
		}
		printf("  log: %s/driver.log\n", rec->dir);
		buf_free(&d);
	}
	json_object_put(metrics);
	runcmd_close(&r);
	return EXIT_OK;
}

static bool looks_like_run_id(const char *arg, const char *state_dir)
{
	if (fs_exists(arg))
		return false;
	diag_list quiet = DIAG_LIST_INIT;
	char *full = NULL;
	bool found = runs_find(&full, state_dir, arg, &quiet) == AML_OK;
	free(full);
	diag_list_free(&quiet);
	return found || !strchr(arg, '/');
}

int cmd_status(int argc, char **argv, cli *ctx)
{
	char **paths = NULL;
	int npaths = 0;
	bool refresh = false;
	const cli_opt options[] = { { "--refresh", &refresh, NULL }, { NULL, NULL, NULL } };
	int parsed = cli_parse(ctx, argc, argv, usage, options, &paths, &npaths);
	if (parsed >= 0)
		return parsed;
	runcmd r = RUNCMD_INIT;
	if (runcmd_open_workspace(&r, ctx)) {
		free(paths);
		runcmd_close(&r);
		return EXIT_FAIL;
	}
	if (npaths == 1 && looks_like_run_id(paths[0], r.state_dir)) {
		runcmd_close(&r);
		int rc = status_one(paths[0], ctx);
		free(paths);
		return rc;
	}

	/* all runs */
	strlist ids = STRLIST_INIT;
	runs_list(&ids, r.state_dir, &r.diags);
	run_record **recs = xcalloc(ids.count + 1, sizeof(*recs));
	size_t n = 0;
	for (size_t i = 0; i < ids.count; i++) {
		run_record *rec = NULL;
		if (run_record_load(&rec, r.state_dir, ids.items[i], &r.diags))
			continue;
		const target_config *cfg = NULL;
		const char *t = run_record_str(rec, "target");
		const target_ops *ops = target_for(r.ws, t ? t : "local", &cfg);
		/* local runs are files here: always current; remote ones cost a
		 * round trip each, so only on request */
		if (ops && (!cfg || refresh)) {
			diag_list pd = DIAG_LIST_INIT;
			if (ops->poll(cfg, rec, &pd) && cfg) {
				fprintf(stderr, "amlspec status: warning: run %s: cannot refresh its status from target %s "
						"(showing the last known):\n", rec->id, cfg->name);
				cli_print_diags(ctx, &pd, stderr);
			}
			diag_list_free(&pd);
		}
		recs[n++] = rec;
	}
	qsort(recs, n, sizeof(*recs), cmp_created_desc);

	/* drift: the specs against state */
	specset set = SPECSET_INIT;
	diag_list sd = DIAG_LIST_INIT;
	state *st = NULL;
	plan p = { 0 };
	bool drift_known = false;
	char *root_arg = xstrdup(r.ws->root);
	char *one[] = { root_arg };
	cli sub = *ctx;
	sub.workspace_dir = r.ws->root;
	/* what reading the state says (recovered from the backup, unreadable) is
	 * shown: the user must hear of a damaged state from any command */
	diag_list std = DIAG_LIST_INIT;
	bool state_ok = true;
	target_check_remote = false; /* drift needs no network round trip */
	if (specset_load(&set, npaths ? npaths : 1, npaths ? paths : one, &sub, &sd) == AML_OK) {
		workspace *ws = NULL;
		plan_opts po = { 0 };
		if (specset_workspace(&ws, &set, &sub, &sd) == AML_OK) {
			state_ok = state_load(&st, r.state_dir, &std) == AML_OK;
			if (state_ok && plan_build(&p, &set, ws, st, r.state_dir, &po, &sd) == AML_OK)
				drift_known = true;
		}
	}
	cli_print_diags(ctx, &std, stderr);
	diag_list_free(&std);

	if (ctx->output == OUT_JSON) {
		json_object *o = cli_envelope(ctx);
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			json_object *j = json_object_new_object();
			static const char *const keys[] = { "run_id", "experiment", "name", "target", "status",
							    "created_at", "started_at", "ended_at", "error" };
			for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
				const char *v = run_record_str(recs[i], keys[k]);
				json_object_object_add(j, keys[k], v ? json_object_new_string(v) : NULL);
			}
			long long code = run_record_int(recs[i], "exit_code", -1);
			json_object_object_add(j, "exit_code", code >= 0 ? json_object_new_int64(code) : NULL);
			json_object_object_add(j, "status_checked_at", json_object_new_string(run_record_str(recs[i], "status_updated_at") ? run_record_str(recs[i], "status_updated_at") : ""));
			json_object_array_add(arr, j);
		}
		json_object_object_add(o, "runs", arr);
		json_object *drift = json_object_new_array();
		for (size_t i = 0; drift_known && i < p.count; i++) {
			if (p.entries[i].action == PLAN_NOOP)
				continue;
			json_object *d = json_object_new_object();
			json_object_object_add(d, "address", json_object_new_string(p.entries[i].file->spec->address));
			json_object_object_add(d, "file", json_object_new_string(p.entries[i].file->display));
			json_object_object_add(d, "action", json_object_new_string(p.entries[i].action == PLAN_CREATE ? "create" : "rerun"));
			json_object *rs = json_object_new_array();
			for (size_t k = 0; k < p.entries[i].reasons.count; k++)
				json_object_array_add(rs, json_object_new_string(p.entries[i].reasons.items[k]));
			json_object_object_add(d, "reasons", rs);
			json_object_array_add(drift, d);
		}
		json_object_object_add(o, "drift", drift_known ? drift : (json_object_put(drift), NULL));
		cli_print_json(o);
	} else {
		if (!n)
			printf("No runs yet in %s.\n", r.ws->root);
		else
			printf("%s%-16s %-16s %-32s %-8s %-10s %-19s %s%s\n", cli_c(ctx, C_BOLD), "EXPERIMENT", "NAME", "RUN",
			       "TARGET", "STATUS", "STARTED", "DURATION", cli_c(ctx, C_RESET));
		for (size_t i = 0; i < n; i++) {
			buf d = BUF_INIT;
			char t[24];
			duration(&d, recs[i]);
			run_status s = run_record_status(recs[i]);
			const char *col = s == RS_COMPLETED ? C_GREEN : run_status_terminal(s) ? C_RED : C_YELLOW;
			printf("%-16s %-16s %-32s %-8s %s%-10s%s %-19s %s%s\n", run_record_str(recs[i], "experiment"),
			       run_record_str(recs[i], "name"), recs[i]->id, run_record_str(recs[i], "target"),
			       cli_c(ctx, col), run_status_name(s), cli_c(ctx, C_RESET),
			       display_time(run_record_str(recs[i], "started_at"), t), d.ptr,
			       json_object_get_boolean(json_object_object_get(recs[i]->doc, "lost")) ? "  (supervisor lost)" : "");
			if (json_object_object_get(recs[i]->doc, "remote") && !run_status_terminal(s)) {
				/* a remote status is as old as its last check */
				buf age = BUF_INIT;
				age_text(&age, run_record_str(recs[i], "status_updated_at"));
				printf("%-16s %-16s   status checked %s ago%s\n", "", "", age.ptr,
				       refresh ? "" : " (--refresh asks the target)");
				buf_free(&age);
			}
			buf_free(&d);
		}
		if (drift_known) {
			size_t nd = p.ncreate + p.nrerun;
			if (nd) {
				printf("\nDrift (%zu spec%s; amlspec plan shows why):\n", nd,
				       nd == 1 ? " differs from its last run" : "s differ from their last run");
				for (size_t i = 0; i < p.count; i++) {
					plan_entry *e = &p.entries[i];
					if (e->action == PLAN_NOOP)
						continue;
					printf("  %s %s: ", e->action == PLAN_CREATE ? "+" : "~", e->file->spec->address);
					for (size_t k = 0; k < e->reasons.count; k++)
						printf("%s%s", k ? "; " : "", e->reasons.items[k]);
					printf("\n");
				}
			} else if (p.count) {
				printf("\nNo drift: %zu spec%s last run.\n", p.count, p.count == 1 ? " matches its" : "s match their");
			}
		} else {
			printf(state_ok ? "\nDrift unknown: the specs have errors (amlspec validate shows them).\n"
					: "\nDrift unknown: the state cannot be read (see above).\n");
		}
	}
	plan_free(&p);
	state_free(st);
	specset_free(&set);
	diag_list_free(&sd);
	free(root_arg);
	for (size_t i = 0; i < n; i++)
		run_record_free(recs[i]);
	free(recs);
	strlist_free(&ids);
	runcmd_close(&r);
	free(paths);
	return EXIT_OK;
}
