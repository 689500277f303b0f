/* The ssh target: a run executes on one host reached with the system
 * OpenSSH client, under a supervisor that the runner (runner.py) forks there,
 * detached, so that it survives a dropped connection.
 *
 * A submission is one runner call in the usual case ("stage"): the snapshot's
 * file list with the contents the host is not known to have (content-
 * addressed by git blob id), the environment to materialize, and the launch
 * plan. What amlspec learned about the host (its absolute work_dir, its
 * python, which blobs it holds) is cached in <state>/remote/<target>.json;
 * when the cache is wrong the runner says so ("missing", "stale") and the
 * call is repeated with the facts corrected. See docs/targets/ssh.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "launch/launch.h"
#include "target/remote.h"
#include "target/target.h"
#include "util/fs.h"


static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int ssh_check(const target_config *cfg, const run_spec *spec, const resolved_env *env, diag_list *diags)
{
	int rc = AML_OK;
	if (spec->node_count > 1)
		rc = diag_error(diags, spec->file, 0, 0, "distribution.node_count",
				"distribution.node_count: target %s (ssh) is one host; node_count %ld needs a slurm target",
				cfg ? cfg->name : "?", spec->node_count);
	if (env && env->def.docker_enabled)
		rc = diag_error(diags, spec->file, 0, 0, "environment.docker.enabled",
				"environment.docker.enabled: running inside a container is not supported on target %s "
				"(ssh); set enabled: false",
				cfg ? cfg->name : "?");
	return rc;
}

static const char *digest_hex(const resolved_env *env)
{
	return env->digest && !strncmp(env->digest, "sha256:", 7) ? env->digest + 7 : "";
}

/* The interpreter the run will get, as far as this machine knows: a venv's
 * path is fixed by the digest; a user-managed one is what the host said last
 * time (NULL: unknown yet, the runner will say). */
static char *expected_python(const remote_cache *c, const resolved_env *env)
{
	json_object *py, *v;
	if (env->def.user_managed) {
		if (json_object_object_get_ex(c->doc, "pythons", &py) && json_object_object_get_ex(py, env->digest, &v))
			return xstrdup(json_object_get_string(v));
		if (!env->def.interpreter_path && remote_cache_str(c, "python"))
			return xstrdup(remote_cache_str(c, "python"));
		return NULL;
	}
	return xasprintf("%s/envs/%s/bin/python", remote_cache_str(c, "work_dir"), digest_hex(env));
}

/* The launch plan with the host's paths, into the record. */
static int build_plan(run_job *job, const remote_cache *c, const remote_host *h, const char *python, diag_list *diags)
{
	run_record *rec = job->record;
	const char *wd = remote_cache_str(c, "work_dir");
	char *run_dir = xasprintf("%s/runs/%s", wd, rec->id);
	char *cwd = fs_join(run_dir, "wd");
	char *outputs = fs_join(cwd, "outputs");
	char *metrics = fs_join(run_dir, "metrics.jsonl");
	char *prefix = job->env->def.user_managed ? NULL : xasprintf("%s/envs/%s", wd, digest_hex(job->env));
	json_object *procs = NULL;
	launch_context lc = {
		.run_id = rec->id, .python = python ? python : h->python, .env_bin_dir = NULL, .outputs_dir = outputs,
		.metrics_file = metrics, .node_ips = "127.0.0.1", .node_rank = 0, .num_nodes = 1, .master_port = 29500,
		.env_variables = &job->env->def.variables, .mpirun = "mpirun", .spark_submit = "spark-submit",
	};
	int rc = launch_plan(&procs, job->spec, &lc, diags);
	if (!rc) {
		json_object_object_add(rec->doc, "processes", procs);
		run_record_set_str(rec, "cwd", cwd);
		json_object_object_add(rec->doc, "python", python ? json_object_new_string(python) : NULL);
		json_object_object_add(rec->doc, "env_prefix", prefix ? json_object_new_string(prefix) : NULL);
		json_object *pp = json_object_new_array();
		if (prefix) {
			char *bin = fs_join(prefix, "bin");
			json_object_array_add(pp, json_object_new_string(bin));
			free(bin);
		}
		json_object_object_add(rec->doc, "path_prepend", pp);
		char *label = remote_host_label(h);
		remote_rec_set(rec, "host", json_object_new_string(label));
		free(label);
		remote_rec_set(rec, "work_dir", json_object_new_string(wd));
		remote_rec_set(rec, "run_dir", json_object_new_string(run_dir));
		const char *rp = remote_cache_str(c, "python");
		remote_rec_set(rec, "runner_python", rp ? json_object_new_string(rp) : NULL);
		remote_rec_set(rec, "ssh", remote_options_json(job->cfg));
	}
	free(run_dir);
	free(cwd);
	free(outputs);
	free(metrics);
	free(prefix);
	return rc;
}

static int ssh_prepare(run_job *job, diag_list *diags)
{
	int rc = ssh_check(job->cfg, job->spec, job->env, diags);
	json_object *secrets = NULL;
	if (!rc)
		rc = remote_secrets(&secrets, job->spec, diags);
	json_object_put(secrets);
	if (rc)
		return rc;
	remote_host *h = NULL;
	remote_cache c = { 0 };
	char *python = NULL;
	rc = remote_host_from_ssh(&h, job->cfg, diags);
	if (rc)
		return rc;
	remote_cache_load(&c, job->state_dir, h);
	if (!remote_cache_str(&c, "work_dir") || !remote_cache_str(&c, "python")) {
		rc = remote_cache_hello(&c, h, diags);
		if (!rc)
			rc = remote_cache_save(&c, diags);
		if (rc)
			goto done;
	}
	python = expected_python(&c, job->env);
	rc = build_plan(job, &c, h, python, diags);
	if (!rc)
		rc = run_record_save(job->record, diags);
done:
	free(python);
	remote_cache_free(&c);
	remote_host_free(h);
	return rc;
}

static json_object *run_request(const run_record *rec)
{
	static const char *const keys[] = { "run_id", "cwd", "processes", "timeout_seconds", "path_prepend" };
	json_object *r = json_object_new_object();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_object *v;
		if (json_object_object_get_ex(rec->doc, keys[i], &v))
			json_object_object_add(r, keys[i], json_object_get(v));
	}
	return r;
}

/* The blobs of the tree the cache does not list, each once. */
static void blobs_to_send(strlist *out, json_object *req_blobs, const remote_tree *t, const remote_cache *c)
{
	json_object *known = NULL;
	json_object_object_get_ex(c->doc, "blobs", &known);
	json_object *seen = json_object_new_object();
	for (size_t i = 0; i < t->count; i++) {
		const char *b = t->files[i].blob;
		if ((known && json_object_object_get_ex(known, b, NULL)) || json_object_object_get_ex(seen, b, NULL))
			continue;
		json_object_object_add(seen, b, NULL);
		strlist_add(out, b);
		json_object *e = json_object_new_array();
		json_object_array_add(e, json_object_new_string(b));
		json_object_array_add(e, json_object_new_int64((int64_t)t->files[i].size));
		json_object_array_add(req_blobs, e);
	}
	json_object_put(seen);
}

static int ssh_submit(run_job *job, diag_list *diags)
{
	run_record *rec = job->record;
	remote_host *h = NULL;
	remote_cache c = { 0 };
	remote_tree tree = { 0 };
	json_object *secrets = NULL, *resp = NULL;
	int rc = remote_host_from_ssh(&h, job->cfg, diags);
	if (rc)
		return rc;
	remote_cache_load(&c, job->state_dir, h);
	rc = remote_secrets(&secrets, job->spec, diags);
	if (!rc)
		rc = remote_tree_list(&tree, job->snapshot_store, job->snapshot_tree,
					      json_object_object_get(c.doc, "blobs"), diags);
	if (rc)
		goto done;

	for (int attempt = 0;; attempt++) {
		if (attempt == 4) {
			rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: the host's answers did not settle after %d tries",
					h->target, attempt);
			goto done;
		}
		strlist blobs = STRLIST_INIT;
		remote_call call = REMOTE_CALL_INIT;
		json_object *req = json_object_new_object();
		json_object *req_blobs = json_object_new_array();
		blobs_to_send(&blobs, req_blobs, &tree, &c);
		json_object_object_add(req, "action", json_object_new_string("stage"));
		json_object_object_add(req, "work_dir", json_object_new_string(h->work_dir));
		json_object_object_add(req, "expect_work_dir", json_object_new_string(remote_cache_str(&c, "work_dir")));
		json_object_object_add(req, "run_id", json_object_new_string(rec->id));
		json_object_object_add(req, "files", remote_tree_json(&tree));
		json_object_object_add(req, "blobs", req_blobs);
		json_object_object_add(req, "env", remote_env_request(job->env));
		const char *py = run_record_str(rec, "python");
		if (py)
			json_object_object_add(req, "expect_python", json_object_new_string(py));
		json_object_object_add(req, "record", run_request(rec));
		json_object_object_add(req, "secrets", json_object_get(secrets));
		remote_blob_feed feed = { job->snapshot_store, &blobs, 0, NULL };
		call.request = req;
		call.feed = remote_blob_feed_fn;
		call.feed_ctx = &feed;
		call.python = remote_cache_str(&c, "python");
		call.progress = job->progress;
		if (job->progress && blobs.count)
			fprintf(job->progress, "  sending %zu file%s to %s\n", blobs.count, blobs.count == 1 ? "" : "s",
				h->host);
		json_object_put(resp);
		resp = NULL;
		rc = remote_runner(&resp, NULL, h, &call, diags);
		remote_blob_feed_close(&feed);
		json_object_put(req);
		strlist_free(&blobs);
		if (rc && call.python && attempt == 0) {
			/* the cached interpreter may be gone: ask the configured one */
			diag_list quiet = DIAG_LIST_INIT;
			int hrc = remote_cache_hello(&c, h, &quiet);
			diag_list_free(&quiet);
			if (!hrc)
				continue;
		}
		if (rc)
			goto done;
		json_object *v, *ok;
		if (json_object_object_get_ex(resp, "ok", &ok) && json_object_get_boolean(ok))
			break;
		if (json_object_object_get_ex(resp, "missing", &v)) {
			/* the cache said the host had these; it does not */
			json_object *known;
			json_object_object_get_ex(c.doc, "blobs", &known);
			for (size_t i = 0; i < json_object_array_length(v); i++)
				json_object_object_del(known, json_object_get_string(json_object_array_get_idx(v, i)));
			continue;
		}
		if (json_object_object_get_ex(resp, "stale", &v)) {
			json_object *w;
			if (json_object_object_get_ex(resp, "work_dir", &w))
				json_object_object_add(c.doc, "work_dir", json_object_get(w));
			if (!strcmp(json_object_get_string(v), "python") && json_object_object_get_ex(resp, "python", &w)) {
				json_object *pys;
				json_object_object_get_ex(c.doc, "pythons", &pys);
				json_object_object_add(pys, job->env->digest, json_object_get(w));
			}
			char *python = expected_python(&c, job->env);
			rc = build_plan(job, &c, h, python, diags);
			free(python);
			if (rc)
				goto done;
			continue;
		}
		rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: %s", h->target,
				json_object_object_get_ex(resp, "error", &v) ? json_object_get_string(v) : "the host refused");
		goto done;
	}

	/* the host has every blob of this tree now */
	json_object *known, *v;
	json_object_object_get_ex(c.doc, "blobs", &known);
	for (size_t i = 0; i < tree.count; i++)
		json_object_object_add(known, tree.files[i].blob, json_object_new_int64((int64_t)tree.files[i].size));
	if (json_object_object_get_ex(resp, "python", &v) && v) {
		json_object *pys;
		json_object_object_get_ex(c.doc, "pythons", &pys);
		json_object_object_add(pys, job->env->digest, json_object_get(v));
		json_object_object_add(rec->doc, "python", json_object_get(v));
	}
	if (json_object_object_get_ex(resp, "env_prefix", &v))
		json_object_object_add(rec->doc, "env_prefix", json_object_get(v));
	if (json_object_object_get_ex(resp, "env_reused", &v))
		json_object_object_add(rec->doc, "env_reused", json_object_get(v));
	remote_cache_save(&c, diags);
	if (json_object_object_get_ex(resp, "record", &v))
		remote_rec_merge(rec, v);
	run_record_set_status(rec, run_record_status(rec));
	rc = run_record_save(rec, diags);
	if (!rc && run_record_status(rec) == RS_FAILED) {
		const char *err = run_record_str(rec, "error");
		rc = diag_error(diags, NULL, 0, 0, NULL, "run %s did not start: %s", rec->id,
				err ? err : "the supervisor did not report back");
	}
done:
	json_object_put(resp);
	json_object_put(secrets);
	remote_tree_free(&tree);
	remote_cache_free(&c);
	remote_host_free(h);
	return rc;
}

static bool synced(const run_record *rec)
{
	json_object *r, *v;
	return json_object_object_get_ex(rec->doc, "remote", &r) && json_object_object_get_ex(r, "synced", &v) &&
	       json_object_get_boolean(v);
}

/* Asks the host; rec is saved when anything was learned. */
static int refresh(run_record *rec, diag_list *diags)
{
	remote_host *h = NULL;
	int rc = remote_host_for_record(&h, rec, diags);
	if (rc)
		return rc;
	rc = remote_sync(rec, h, true, false, diags);
	remote_host_free(h);
	if (rc)
		return rc;
	remote_mark_refreshed(rec);
	char *now = time_now_rfc3339();
	run_record_set_str(rec, "status_updated_at", now);
	free(now);
	return run_record_save(rec, diags);
}

static int ssh_poll(const target_config *cfg, run_record *rec, diag_list *diags)
{
	(void)cfg;
	run_status s = run_record_status(rec);
	if (run_status_terminal(s) && (synced(rec) || !remote_rec_str(rec, "work_dir")))
		return AML_OK;
	if (!run_status_terminal(s) && remote_recently_refreshed(rec))
		return AML_OK;
	return refresh(rec, diags);
}

typedef struct follow_ctx {
	run_record *rec;
	int fd;
	long long *offset;
} follow_ctx;

static int on_follow(void *ctx, const char *data, size_t len)
{
	follow_ctx *f = ctx;
	remote_mirror_append(f->rec, remote_mirror_size(f->rec), data, len);
	return remote_mirror_copy(f->rec, f->fd, f->offset) ? -1 : 0;
}

static int ssh_logs(const target_config *cfg, run_record *rec, bool follow, int fd, long long *offset,
		    diag_list *diags)
{
	(void)cfg;
	if (!remote_rec_str(rec, "work_dir"))
		return remote_mirror_copy(rec, fd, offset); /* never reached the host */
	if (synced(rec))
		return remote_mirror_copy(rec, fd, offset);
	if (!follow) {
		int rc = refresh(rec, diags);
		int crc = remote_mirror_copy(rec, fd, offset);
		return rc ? rc : crc;
	}
	remote_host *h = NULL;
	int rc = remote_host_for_record(&h, rec, diags);
	if (rc)
		return rc;
	int failures = 0;
	for (;;) {
		if (remote_mirror_copy(rec, fd, offset)) {
			rc = AML_EIO;
			break;
		}
		remote_call c = REMOTE_CALL_INIT;
		c.request = json_object_new_object();
		json_object_object_add(c.request, "action", json_object_new_string("follow"));
		json_object_object_add(c.request, "work_dir", json_object_new_string(remote_rec_str(rec, "work_dir")));
		json_object_object_add(c.request, "run_id", json_object_new_string(rec->id));
		json_object_object_add(c.request, "log_offset", json_object_new_int64(remote_mirror_size(rec)));
		c.python = remote_rec_str(rec, "runner_python");
		follow_ctx fc = { rec, fd, offset };
		c.on_stream = on_follow;
		c.on_stream_ctx = &fc;
		json_object *resp = NULL;
		diag_list quiet = DIAG_LIST_INIT;
		int frc = remote_runner(&resp, NULL, h, &c, &quiet);
		json_object_put(c.request);
		json_object_put(resp);
		/* the stream ends with the run, or with the connection */
		int prc = remote_sync(rec, h, true, false, &quiet);
		if (!prc) {
			char *now = time_now_rfc3339();
			run_record_set_str(rec, "status_updated_at", now);
			free(now);
			run_record_save(rec, &quiet);
		}
		if (!prc && run_status_terminal(run_record_status(rec))) {
			diag_list_free(&quiet);
			rc = remote_mirror_copy(rec, fd, offset);
			break;
		}
		failures = frc || prc ? failures + 1 : 0;
		if (failures >= 5) {
			diag_list_move(diags, &quiet);
			rc = AML_EIO;
			break;
		}
		diag_list_free(&quiet);
		sleep_s(1.0);
	}
	remote_host_free(h);
	return rc;
}

static int ssh_cancel(const target_config *cfg, run_record *rec, double grace, diag_list *diags)
{
	(void)cfg;
	run_status s = run_record_status(rec);
	if (run_status_terminal(s))
		return diag_error(diags, NULL, 0, 0, NULL, "run %s has already ended (%s)", rec->id, run_status_name(s));
	remote_host *h = NULL;
	int rc = remote_host_for_record(&h, rec, diags);
	if (rc)
		return rc;
	remote_call c = REMOTE_CALL_INIT;
	c.request = json_object_new_object();
	json_object_object_add(c.request, "action", json_object_new_string("cancel"));
	json_object_object_add(c.request, "work_dir", json_object_new_string(remote_rec_str(rec, "work_dir")));
	json_object_object_add(c.request, "run_id", json_object_new_string(rec->id));
	json_object_object_add(c.request, "grace", json_object_new_double(grace));
	c.python = remote_rec_str(rec, "runner_python");
	c.timeout = grace + 120;
	json_object *resp = NULL;
	rc = remote_runner(&resp, NULL, h, &c, diags);
	json_object_put(c.request);
	if (!rc) {
		json_object *v;
		if (json_object_object_get_ex(resp, "record", &v))
			remote_rec_merge(rec, v);
		if (json_object_object_get_ex(resp, "ended", &v) && json_object_get_boolean(v))
			rc = diag_error(diags, NULL, 0, 0, NULL, "run %s has already ended (%s)", rec->id,
					run_status_name(run_record_status(rec)));
		else if (!json_object_object_get_ex(resp, "ok", &v) || !json_object_get_boolean(v))
			rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: %s", h->target,
					json_object_object_get_ex(resp, "error", &v) ? json_object_get_string(v)
										     : "the host did not cancel the run");
		/* fetch the log's end and the metrics */
		diag_list quiet = DIAG_LIST_INIT;
		if (remote_sync(rec, h, true, false, &quiet) == AML_OK) {
			char *now = time_now_rfc3339();
			run_record_set_str(rec, "status_updated_at", now);
			free(now);
		}
		diag_list_free(&quiet);
		run_record_save(rec, diags);
	}
	json_object_put(resp);
	remote_host_free(h);
	return rc;
}

const target_ops target_ssh = {
	.type = "ssh",
	.check = ssh_check,
	.prepare = ssh_prepare,
	.submit = ssh_submit,
	.poll = ssh_poll,
	.logs = ssh_logs,
	.cancel = ssh_cancel,
};
