/* The slurm target: a run is a batch job. Files and environments go to
 * work_dir, a folder every node sees: written directly when the Slurm
 * commands are installed here, or by the runner (runner.py) on a login node
 * reached through an ssh target (login:). The batch
 * script is generated text (remote_slurm_script) and sbatch gets its options
 * as argv. Slurm is the run's supervisor: status comes from squeue, then
 * scontrol, then the job-completion log; see docs/targets/slurm.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "env/materialize.h"
#include "launch/launch.h"
#include "snapshot/snapshot.h"
#include "target/remote.h"
#include "target/target.h"
#include "util/fs.h"


static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int slurm_check(const target_config *cfg, const run_spec *spec, const resolved_env *env, diag_list *diags)
{
	int rc = AML_OK;
	const char *name = cfg ? cfg->name : "?";
	if (!cfg || !kvlist_get(&cfg->options, "work_dir"))
		rc = diag_error(diags, spec->file, 0, 0, "target",
				"target: %s (slurm) needs work_dir: a folder on a file system every node shares", name);
	if (spec->framework == FW_PYSPARK)
		rc = diag_error(diags, spec->file, 0, 0, "framework",
				"framework: pyspark cannot run on target %s (slurm): amlspec does not start a Spark "
				"cluster inside an allocation; use an ssh target with spark-submit, or azureml",
				name);
	if ((spec->framework == FW_PYTHON || spec->framework == FW_TENSORFLOW) &&
	    (spec->node_count > 1 || spec->process_count_per_node > 1))
		rc = diag_error(diags, spec->file, 0, 0, "distribution",
				"distribution: framework %s starts one process on target %s (slurm); more nodes or "
				"processes need framework mpi or pytorch",
				framework_name(spec->framework), name);
	if (env && env->def.docker_enabled)
		rc = diag_error(diags, spec->file, 0, 0, "environment.docker.enabled",
				"environment.docker.enabled: running inside a container is not supported on target %s "
				"(slurm); set enabled: false",
				name);
	if (cfg && !kvlist_get(&cfg->options, "login")) {
		char *sb = launch_which("sbatch");
		if (!sb)
			rc = diag_error(diags, spec->file, 0, 0, "target",
					"target: %s (slurm) has no login: (an ssh target that reaches the cluster), so "
					"sbatch must be on this machine's PATH, and it is not",
					name);
		free(sb);
	}
	return rc;
}

/* The login target's options, when there is one: the workspace is not at
 * hand in poll/logs/cancel, so prepare copies them into the record. */
static const target_config *login_of(const run_job *job)
{
	const char *login = kvlist_get(&job->cfg->options, "login");
	return login ? workspace_target(job->ws, login) : NULL;
}

static int host_for_job(remote_host **out, const run_job *job, diag_list *diags)
{
	const target_config *l = login_of(job);
	if (kvlist_get(&job->cfg->options, "login") && !l)
		return diag_error(diags, NULL, 0, 0, NULL, "target %s: login '%s' is not an ssh target", job->cfg->name,
				  kvlist_get(&job->cfg->options, "login"));
	if (l)
		return remote_host_from_ssh(out, l, diags);
	/* the runner here: this machine's python3 (the nodes' interpreter is
	 * the target's python, used in the batch script) */
	*out = remote_host_local(job->cfg->name, "python3", kvlist_get(&job->cfg->options, "work_dir"));
	return AML_OK;
}

static const char *digest_hex(const resolved_env *env)
{
	return env->digest && !strncmp(env->digest, "sha256:", 7) ? env->digest + 7 : "";
}

static void sbatch_argv(json_object *a, const run_job *job, const char *run_dir, const char *cwd)
{
	const run_spec *s = job->spec;
	const target_config *cfg = job->cfg;
#define ADD(str) json_object_array_add(a, json_object_new_string(str))
#define ADDF(...)                                         \
	do {                                              \
		char *t_ = xasprintf(__VA_ARGS__);        \
		json_object_array_add(a, json_object_new_string(t_)); \
		free(t_);                                 \
	} while (0)
	ADD("sbatch");
	ADD("--parsable");
	ADDF("--job-name=%s", job->record->id);
	ADDF("--output=%s/driver.log", run_dir);
	ADDF("--chdir=%s", cwd);
	ADDF("--nodes=%ld", s->node_count);
	ADDF("--ntasks-per-node=%ld", s->process_count_per_node);
	if (s->timeout_seconds != RUN_SPEC_DEFAULT_TIMEOUT) {
		/* one minute beyond the script's own timeout, so that the script's
		 * watchdog (exact, with a message) acts first; Slurm counts minutes */
		buf t = BUF_INIT;
		remote_slurm_time(&t, s->timeout_seconds + 60);
		ADDF("--time=%s", t.ptr);
		buf_free(&t);
	}
	const char *part = kvlist_get(&cfg->options, "partition");
	const char *acct = kvlist_get(&cfg->options, "account");
	if (part)
		ADDF("--partition=%s", part);
	if (acct)
		ADDF("--account=%s", acct);
	for (size_t i = 0; i < cfg->sbatch_args.count; i++)
		ADD(cfg->sbatch_args.items[i]);
	ADDF("%s/job.sh", run_dir);
#undef ADD
#undef ADDF
}

static int slurm_prepare(run_job *job, diag_list *diags)
{
	run_record *rec = job->record;
	int rc = slurm_check(job->cfg, job->spec, job->env, diags);
	json_object *secrets = NULL;
	if (!rc)
		rc = remote_secrets(&secrets, job->spec, diags);
	json_object_put(secrets);
	if (rc)
		return rc;
	remote_host *h = NULL;
	remote_cache c = { 0 };
	buf script = BUF_INIT;
	rc = host_for_job(&h, job, diags);
	if (rc)
		return rc;
	remote_cache_load(&c, job->state_dir, h);
	if (h->local) {
		/* this machine: nothing to ask */
		char *e = fs_expand_home(h->work_dir);
		char *abs = fs_absolute(e);
		json_object_object_add(c.doc, "work_dir", json_object_new_string(abs));
		json_object_object_del(c.doc, "python");
		free(e);
		free(abs);
	} else if (!remote_cache_str(&c, "work_dir")) {
		rc = remote_cache_hello(&c, h, diags);
		if (!rc)
			rc = remote_cache_save(&c, diags);
		if (rc)
			goto done;
	}
	const char *wd = remote_cache_str(&c, "work_dir");
	char *run_dir = xasprintf("%s/runs/%s", wd, rec->id);
	char *cwd = fs_join(run_dir, "wd");
	char *prefix = NULL, *bin = NULL, *python = NULL;
	if (job->env->def.user_managed) {
		const char *ip = job->env->def.interpreter_path;
		const char *tp = kvlist_get(&job->cfg->options, "python");
		python = xstrdup(ip ? ip : tp ? tp : "python3");
	} else {
		prefix = xasprintf("%s/envs/%s", wd, digest_hex(job->env));
		bin = fs_join(prefix, "bin");
		python = fs_join(bin, "python");
	}
	slurm_script_opts so = { job->spec, rec->id, run_dir, cwd, python, bin, &job->env->def.variables };
	rc = remote_slurm_script(&script, &so, diags);
	if (!rc) {
		run_record_set_str(rec, "cwd", cwd);
		run_record_set_str(rec, "python", python);
		json_object_object_add(rec->doc, "env_prefix", prefix ? json_object_new_string(prefix) : NULL);
		json_object_object_add(rec->doc, "job_script", json_object_new_string(script.ptr));
		json_object *argv = json_object_new_array();
		sbatch_argv(argv, job, run_dir, cwd);
		remote_rec_set(rec, "sbatch", argv);
		char *label = remote_host_label(h);
		remote_rec_set(rec, "host", json_object_new_string(label));
		free(label);
		remote_rec_set(rec, "work_dir", json_object_new_string(wd));
		remote_rec_set(rec, "run_dir", json_object_new_string(run_dir));
		remote_rec_set(rec, "runner_python",
			       remote_cache_str(&c, "python") ? json_object_new_string(remote_cache_str(&c, "python"))
							      : NULL);
		const target_config *l = login_of(job);
		if (l)
			remote_rec_set(rec, "ssh", remote_options_json(l));
		rc = run_record_save(rec, diags);
	}
	free(run_dir);
	free(cwd);
	free(prefix);
	free(bin);
	free(python);
done:
	buf_free(&script);
	remote_cache_free(&c);
	remote_host_free(h);
	return rc;
}

/* Slurm without login: the shared folder is here, so the files, the
 * environment and the script are written directly and sbatch runs from
 * argv (secrets reach the job through sbatch's --export=ALL default, from
 * this process's environment, where they already are). */
static int stage_here(run_job *job, const remote_host *h, buf *sbatch_out, buf *sbatch_err, int *sbatch_status,
		      diag_list *diags)
{
	run_record *rec = job->record;
	const char *wd = remote_rec_str(rec, "work_dir");
	const char *run_dir = remote_rec_str(rec, "run_dir");
	char *runs = fs_join(wd, "runs");
	char *cwd = fs_join(run_dir, "wd");
	char *envs = fs_join(wd, "envs");
	char *script = fs_join(run_dir, "job.sh");
	strlist argv = STRLIST_INIT;
	env_instance inst = { 0 };
	int rc = AML_OK;
	if (fs_mkdirs(runs, 0700) < 0 || mkdir(run_dir, 0700) < 0) {
		rc = diag_errno(diags, run_dir, "target %s: cannot create the run's folder", h->target);
		goto done;
	}
	rc = snapshot_checkout(job->snapshot_store, job->snapshot_tree, cwd, diags);
	if (rc)
		goto done;
	static const char *const subs[] = { "outputs", "logs" };
	for (size_t i = 0; i < 2; i++) {
		char *p = fs_join(cwd, subs[i]);
		fs_mkdirs(p, 0755);
		free(p);
	}
	if (!job->env->def.user_managed) {
		materialize_opts mo = { envs, job->progress };
		rc = env_materialize(&inst, job->env, &mo, diags);
		if (rc)
			goto done;
		json_object_object_add(rec->doc, "env_reused", json_object_new_boolean(inst.reused));
	}
	const char *text = run_record_str(rec, "job_script");
	if (fs_write_atomic(script, text, strlen(text), 0700) < 0) {
		rc = diag_errno(diags, script, "target %s: cannot write the batch script", h->target);
		goto done;
	}
	json_object *r, *a;
	json_object_object_get_ex(rec->doc, "remote", &r);
	json_object_object_get_ex(r, "sbatch", &a);
	for (size_t i = 0; i < json_object_array_length(a); i++)
		strlist_add(&argv, json_object_get_string(json_object_array_get_idx(a, i)));
	strlist_add_owned(&argv, NULL);
	remote_io io = REMOTE_IO_INIT;
	io.out = sbatch_out;
	io.err = sbatch_err;
	io.timeout = 300;
	rc = remote_run_local(sbatch_status, (const char *const *)argv.items, &io, diags);
	if (rc == AML_ENOTFOUND)
		diag_error(diags, NULL, 0, 0, NULL, "target %s: sbatch is not installed here", h->target);
done:
	env_instance_free(&inst);
	strlist_free(&argv);
	free(runs);
	free(cwd);
	free(envs);
	free(script);
	return rc;
}

static int slurm_submit(run_job *job, diag_list *diags)
{
	run_record *rec = job->record;
	remote_host *h = NULL;
	remote_cache c = { 0 };
	remote_tree tree = { 0 };
	json_object *secrets = NULL, *resp = NULL;
	int rc = host_for_job(&h, job, diags);
	if (rc)
		return rc;
	remote_cache_load(&c, job->state_dir, h);
	rc = remote_secrets(&secrets, job->spec, diags);
	if (rc)
		goto done;
	json_object *known = NULL, *v;
	json_object *sb = NULL, *out = NULL, *err = NULL, *src = NULL;
	if (h->local) {
		buf o = BUF_INIT, e = BUF_INIT;
		int st = -1;
		rc = stage_here(job, h, &o, &e, &st, diags);
		if (!rc) {
			resp = json_object_new_object();
			sb = json_object_new_object();
			json_object_object_add(sb, "rc", json_object_new_int(st));
			json_object_object_add(sb, "out", json_object_new_string(o.ptr));
			json_object_object_add(sb, "err", json_object_new_string(e.ptr));
			json_object_object_add(resp, "sbatch", sb);
		}
		buf_free(&o);
		buf_free(&e);
		if (rc)
			goto done;
		goto submitted;
	}
	rc = remote_tree_list(&tree, job->snapshot_store, job->snapshot_tree,
					      json_object_object_get(c.doc, "blobs"), diags);
	if (rc)
		goto done;
	json_object_object_get_ex(c.doc, "blobs", &known);
	for (int attempt = 0;; attempt++) {
		if (attempt == 3) {
			rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: the host's answers did not settle", h->target);
			goto done;
		}
		strlist blobs = STRLIST_INIT;
		json_object *req_blobs = json_object_new_array();
		json_object *seen = json_object_new_object();
		for (size_t i = 0; i < tree.count; i++) {
			const char *b = tree.files[i].blob;
			if (json_object_object_get_ex(known, b, NULL) || json_object_object_get_ex(seen, b, NULL))
				continue;
			json_object_object_add(seen, b, NULL);
			strlist_add(&blobs, b);
			json_object *e = json_object_new_array();
			json_object_array_add(e, json_object_new_string(b));
			json_object_array_add(e, json_object_new_int64((int64_t)tree.files[i].size));
			json_object_array_add(req_blobs, e);
		}
		json_object_put(seen);
		json_object *req = json_object_new_object();
		json_object_object_add(req, "action", json_object_new_string("stage"));
		json_object_object_add(req, "work_dir", json_object_new_string(h->work_dir));
		json_object_object_add(req, "expect_work_dir", json_object_new_string(remote_rec_str(rec, "work_dir")));
		json_object_object_add(req, "run_id", json_object_new_string(rec->id));
		json_object_object_add(req, "files", remote_tree_json(&tree));
		json_object_object_add(req, "blobs", req_blobs);
		if (!job->env->def.user_managed)
			json_object_object_add(req, "env", remote_env_request(job->env));
		json_object_object_add(req, "job_script", json_object_get(json_object_object_get(rec->doc, "job_script")));
		json_object *r;
		json_object_object_get_ex(rec->doc, "remote", &r);
		json_object_object_add(req, "sbatch", json_object_get(json_object_object_get(r, "sbatch")));
		json_object_object_add(req, "secrets", json_object_get(secrets));
		remote_blob_feed feed = { job->snapshot_store, &blobs, 0, NULL };
		remote_call call = REMOTE_CALL_INIT;
		call.request = req;
		call.feed = remote_blob_feed_fn;
		call.feed_ctx = &feed;
		call.python = remote_cache_str(&c, "python");
		call.progress = job->progress;
		json_object_put(resp);
		resp = NULL;
		rc = remote_runner(&resp, NULL, h, &call, diags);
		remote_blob_feed_close(&feed);
		json_object_put(req);
		strlist_free(&blobs);
		if (rc)
			goto done;
		if (json_object_object_get_ex(resp, "ok", &v) && json_object_get_boolean(v))
			break;
		if (json_object_object_get_ex(resp, "missing", &v)) {
			for (size_t i = 0; i < json_object_array_length(v); i++)
				json_object_object_del(known, json_object_get_string(json_object_array_get_idx(v, i)));
			continue;
		}
		if (json_object_object_get_ex(resp, "stale", &v)) {
			/* work_dir moved (a new home folder?): the paths in the script
			 * are wrong; forget what we knew and ask for a new plan */
			json_object_object_del(c.doc, "work_dir");
			remote_cache_save(&c, diags);
			rc = diag_error(diags, NULL, 0, 0, NULL,
					"target %s: work_dir now resolves to another folder on the host; apply again", h->target);
			goto done;
		}
		rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: %s", h->target,
				json_object_object_get_ex(resp, "error", &v) ? json_object_get_string(v) : "the host refused");
		goto done;
	}
	for (size_t i = 0; i < tree.count; i++)
		json_object_object_add(known, tree.files[i].blob, json_object_new_int64((int64_t)tree.files[i].size));
	remote_cache_save(&c, diags);
	if (json_object_object_get_ex(resp, "env_reused", &v))
		json_object_object_add(rec->doc, "env_reused", json_object_get(v));
submitted:
	json_object_object_get_ex(resp, "sbatch", &sb);
	json_object_object_get_ex(sb, "out", &out);
	json_object_object_get_ex(sb, "err", &err);
	json_object_object_get_ex(sb, "rc", &src);
	long long id = out ? remote_slurm_job_id(json_object_get_string(out)) : 0;
	if (!sb || json_object_get_int(src) != 0 || !id) {
		const char *e = err ? json_object_get_string(err) : "";
		buf m = BUF_INIT;
		buf_add(&m, e, strcspn(e, "\n") < 600 ? strlen(e) : 600);
		while (m.len && (m.ptr[m.len - 1] == '\n' || m.ptr[m.len - 1] == ' '))
			buf_truncate(&m, m.len - 1);
		rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: sbatch refused the job (status %d)%s%s", h->target,
				src ? json_object_get_int(src) : -1, m.len ? ": " : "", m.ptr);
		buf_free(&m);
		goto done;
	}
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", id);
	remote_rec_set(rec, "job_id", json_object_new_string(ids));
	run_record_set_status(rec, RS_QUEUED);
	rc = run_record_save(rec, diags);
	if (job->progress)
		fprintf(job->progress, "  Slurm job %s\n", ids);
done:
	json_object_put(resp);
	json_object_put(secrets);
	remote_tree_free(&tree);
	remote_cache_free(&c);
	remote_host_free(h);
	return rc;
}

/* ---- polling ---- */

typedef struct cmd_result {
	int status;
	buf out, err;
} cmd_result;

static int run_cmd(cmd_result *r, const remote_host *h, const char *const *argv, diag_list *diags)
{
	remote_io io = REMOTE_IO_INIT;
	r->out = (buf)BUF_INIT;
	r->err = (buf)BUF_INIT;
	io.out = &r->out;
	io.err = &r->err;
	io.timeout = 120;
	int rc = remote_exec(&r->status, h, argv, &io, diags);
	if (rc == AML_ENOTFOUND)
		diag_error(diags, NULL, 0, 0, NULL, "target %s: %s is not installed on %s", h->target, argv[0],
			   h->local ? "this machine" : h->host);
	return rc;
}

static void cmd_free(cmd_result *r)
{
	buf_free(&r->out);
	buf_free(&r->err);
}

static bool unknown_job(const cmd_result *r)
{
	return r->status != 0 && strstr(r->err.ptr, "Invalid job id");
}

static int transient(const remote_host *h, const char *what, const cmd_result *r, diag_list *diags)
{
	char *e = xstrndup(r->err.ptr, strcspn(r->err.ptr, "\n"));
	diag_error(diags, NULL, 0, 0, NULL, "target %s: %s failed (status %d): %s", h->target, what, r->status,
		   *e ? e : "no message");
	free(e);
	return AML_EIO;
}

/* Slurm prints times in the controller's local time, without a zone. */
static void set_time(run_record *rec, const char *key, const char *slurm_time)
{
	struct tm tm = { 0 };
	if (!slurm_time || !*slurm_time || !strptime(slurm_time, "%Y-%m-%dT%H:%M:%S", &tm))
		return;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	if (t == (time_t)-1)
		return;
	struct tm u;
	gmtime_r(&t, &u);
	char b[40];
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S.000Z", &u);
	run_record_set_str(rec, key, b);
}

/* What a finished job's fields say, into the record. */
static void apply_final(run_record *rec, const char *text, const remote_host *h, const char *source)
{
	char *state = remote_slurm_field(text, "JobState");
	char *reason = remote_slurm_field(text, "Reason");
	char *exitc = remote_slurm_field(text, "ExitCode");
	char *start = remote_slurm_field(text, "StartTime");
	char *end = remote_slurm_field(text, "EndTime");
	run_status s = remote_slurm_status(state);
	int code = atoi(exitc), sig = strchr(exitc, ':') ? atoi(strchr(exitc, ':') + 1) : 0;
	if (strcmp(start, "Unknown") && strcmp(start, "None"))
		set_time(rec, "started_at", start);
	if (strcmp(end, "Unknown") && strcmp(end, "None"))
		set_time(rec, "ended_at", end);
	if (!run_record_str(rec, "ended_at")) {
		char *now = time_now_rfc3339();
		run_record_set_str(rec, "ended_at", now);
		free(now);
	}
	if (*exitc)
		run_record_set_int(rec, "exit_code", sig ? 128 + sig : code);
	remote_rec_set(rec, "slurm_state", json_object_new_string(state));
	remote_rec_set(rec, "slurm_source", json_object_new_string(source));
	char *msg = NULL;
	bool has_reason = *reason && strcmp(reason, "None");
	if (!strncmp(state, "TIMEOUT", 7))
		msg = xstrdup("timed out (the Slurm time limit, --time, was reached)");
	else if (!strncmp(state, "OUT_OF_MEMORY", 13))
		msg = xstrdup("out of memory (Slurm OUT_OF_MEMORY)");
	else if (!strncmp(state, "NODE_FAIL", 9))
		msg = xasprintf("a node failed (Slurm NODE_FAIL%s%s)", has_reason ? ": " : "", has_reason ? reason : "");
	else if (s == RS_CANCELED)
		msg = xstrdup("canceled (scancel)");
	else if (s == RS_FAILED && sig)
		msg = xasprintf("killed by signal %d", sig);
	else if (s == RS_FAILED && !strncmp(state, "FAILED", 6))
		msg = xasprintf("exited with code %d", code);
	else if (s == RS_FAILED)
		msg = xasprintf("Slurm state %s%s%s", state, has_reason ? ": " : "", has_reason ? reason : "");
	if (s == RS_FAILED && (code == 124 || code == 137)) {
		/* the script's own watchdog leaves a marker */
		const char *rd = remote_rec_str(rec, "run_dir");
		if (rd) {
			char *marker = fs_join(rd, "timed_out");
			const char *argv[] = { "test", "-e", marker, NULL };
			cmd_result r;
			diag_list quiet = DIAG_LIST_INIT;
			if (run_cmd(&r, h, argv, &quiet) == AML_OK && r.status == 0) {
				free(msg);
				msg = xasprintf("timed out after %llds (limits.timeout)",
						run_record_int(rec, "timeout_seconds", 0));
			}
			cmd_free(&r);
			diag_list_free(&quiet);
			free(marker);
		}
	}
	if (msg)
		run_record_set_str(rec, "error", msg);
	run_record_set_str(rec, "status", run_status_name(s == RS_UNKNOWN ? RS_FAILED : s));
	free(msg);
	free(state);
	free(reason);
	free(exitc);
	free(start);
	free(end);
}

/* The job's line in the job-completion log (JobCompType=jobcomp/filetxt). */
static int jobcomp_line(char **out, const remote_host *h, const char *id, diag_list *diags)
{
	*out = NULL;
	const char *argv[] = { "scontrol", "show", "config", NULL };
	cmd_result r;
	int rc = run_cmd(&r, h, argv, diags);
	if (rc || r.status != 0) {
		rc = rc ? rc : transient(h, "scontrol show config", &r, diags);
		cmd_free(&r);
		return rc;
	}
	char *type = NULL, *loc = NULL;
	for (char *line = r.out.ptr; line && *line;) {
		char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char *eq = memchr(line, '=', n);
		if (eq) {
			size_t kl = (size_t)(eq - line);
			while (kl && line[kl - 1] == ' ')
				kl--;
			const char *v = eq + 1;
			while (*v == ' ')
				v++;
			size_t vl = n - (size_t)(v - line);
			if (kl == 11 && !strncmp(line, "JobCompType", 11))
				type = xstrndup(v, vl);
			else if (kl == 10 && !strncmp(line, "JobCompLoc", 10))
				loc = xstrndup(v, vl);
		}
		line = nl ? nl + 1 : NULL;
	}
	cmd_free(&r);
	if (type && strstr(type, "filetxt") && loc && *loc) {
		char *pat = xasprintf("JobId=%s ", id);
		const char *gargv[] = { "grep", "-F", "-e", pat, loc, NULL };
		rc = run_cmd(&r, h, gargv, diags);
		if (!rc && r.status == 0) {
			/* the last line for this id (ids restart after a clean slurmctld) */
			char *last = NULL;
			for (char *line = r.out.ptr; line && *line;) {
				char *nl = strchr(line, '\n');
				if (!strncmp(line, pat, strlen(pat)))
					last = line;
				line = nl ? nl + 1 : NULL;
			}
			if (last)
				*out = xstrndup(last, strcspn(last, "\n"));
		} else if (!rc && r.status > 1) {
			rc = transient(h, "reading the job completion log", &r, diags);
		}
		cmd_free(&r);
		free(pat);
	}
	free(type);
	free(loc);
	return rc;
}

static bool synced(const run_record *rec)
{
	json_object *r, *v;
	return json_object_object_get_ex(rec->doc, "remote", &r) && json_object_object_get_ex(r, "synced", &v) &&
	       json_object_get_boolean(v);
}

static void set_checked(run_record *rec)
{
	char *now = time_now_rfc3339();
	run_record_set_str(rec, "status_updated_at", now);
	free(now);
}

/* Asks Slurm, updates rec (not saved). */
static int ask_slurm(run_record *rec, const remote_host *h, diag_list *diags)
{
	const char *id = remote_rec_str(rec, "job_id");
	if (!id)
		return diag_error(diags, NULL, 0, 0, NULL, "run %s has no Slurm job id", rec->id);
	const char *sq[] = { "squeue", "-h", "-t", "all", "-j", id, "-o", "%T|%r", NULL };
	cmd_result r;
	int rc = run_cmd(&r, h, sq, diags);
	if (rc) {
		cmd_free(&r);
		return rc;
	}
	if (r.status != 0 && !unknown_job(&r)) {
		rc = transient(h, "squeue", &r, diags);
		cmd_free(&r);
		return rc;
	}
	if (r.status == 0 && r.out.len) {
		char *bar = strchr(r.out.ptr, '|');
		char *state = xstrndup(r.out.ptr, bar ? (size_t)(bar - r.out.ptr) : strcspn(r.out.ptr, "\n"));
		char *reason = bar ? xstrndup(bar + 1, strcspn(bar + 1, "\n")) : xstrdup("");
		run_status s = remote_slurm_status(state);
		remote_rec_set(rec, "slurm_state", json_object_new_string(state));
		remote_rec_set(rec, "slurm_reason", json_object_new_string(reason));
		free(state);
		free(reason);
		if (s != RS_UNKNOWN && !run_status_terminal(s)) {
			if ((s == RS_RUNNING || s == RS_FINALIZING) && !run_record_str(rec, "started_at")) {
				char *now = time_now_rfc3339();
				run_record_set_str(rec, "started_at", now);
				free(now);
			}
			run_record_set_str(rec, "status", run_status_name(s));
			cmd_free(&r);
			return AML_OK;
		}
	}
	cmd_free(&r);

	/* finished, or no longer listed: scontrol knows it until MinJobAge */
	const char *sc[] = { "scontrol", "show", "job", "-o", id, NULL };
	rc = run_cmd(&r, h, sc, diags);
	if (rc) {
		cmd_free(&r);
		return rc;
	}
	if (r.status == 0 && strstr(r.out.ptr, "JobState=")) {
		char *state = remote_slurm_field(r.out.ptr, "JobState");
		run_status s = remote_slurm_status(state);
		free(state);
		if (run_status_terminal(s))
			apply_final(rec, r.out.ptr, h, "scontrol");
		else if (s != RS_UNKNOWN)
			run_record_set_str(rec, "status", run_status_name(s));
		cmd_free(&r);
		return AML_OK;
	}
	if (!unknown_job(&r)) {
		rc = transient(h, "scontrol show job", &r, diags);
		cmd_free(&r);
		return rc;
	}
	cmd_free(&r);

	char *line = NULL;
	rc = jobcomp_line(&line, h, id, diags);
	if (rc)
		return rc;
	if (line) {
		apply_final(rec, line, h, "jobcomp");
		free(line);
		return AML_OK;
	}
	char *msg = xasprintf("job vanished: Slurm no longer knows job %s (squeue, scontrol and the job completion "
			      "log have no record of it)", id);
	run_record_set_str(rec, "status", run_status_name(RS_FAILED));
	run_record_set_str(rec, "error", msg);
	json_object_object_add(rec->doc, "lost", json_object_new_boolean(1));
	if (!run_record_str(rec, "ended_at")) {
		char *now = time_now_rfc3339();
		run_record_set_str(rec, "ended_at", now);
		free(now);
	}
	free(msg);
	return AML_OK;
}

/* Status from Slurm, then (once over) the log's end, metrics and outputs. */
static int refresh(run_record *rec, diag_list *diags)
{
	remote_host *h = NULL;
	int rc = remote_host_for_record(&h, rec, diags);
	if (rc)
		return rc;
	if (!run_status_terminal(run_record_status(rec)))
		rc = ask_slurm(rec, h, diags);
	if (!rc && run_status_terminal(run_record_status(rec)) && !synced(rec))
		rc = remote_sync(rec, h, false, true, diags);
	if (!rc) {
		set_checked(rec);
		remote_mark_refreshed(rec);
	}
	remote_host_free(h);
	int src = run_record_save(rec, diags);
	return rc ? rc : src;
}

static int slurm_poll(const target_config *cfg, run_record *rec, diag_list *diags)
{
	(void)cfg;
	run_status s = run_record_status(rec);
	if (run_status_terminal(s) && (synced(rec) || !remote_rec_str(rec, "job_id")))
		return AML_OK;
	if (!run_status_terminal(s) && remote_recently_refreshed(rec))
		return AML_OK;
	return refresh(rec, diags);
}

static int fetch_log(run_record *rec, diag_list *diags)
{
	remote_host *h = NULL;
	int rc = remote_host_for_record(&h, rec, diags);
	if (!rc)
		rc = remote_sync(rec, h, false, false, diags);
	remote_host_free(h);
	return rc;
}

static int slurm_logs(const target_config *cfg, run_record *rec, bool follow, int fd, long long *offset,
		      diag_list *diags)
{
	if (!remote_rec_str(rec, "job_id") || synced(rec))
		return remote_mirror_copy(rec, fd, offset);
	if (!follow) {
		int rc = fetch_log(rec, diags);
		int crc = remote_mirror_copy(rec, fd, offset);
		return rc ? rc : crc;
	}
	int failures = 0;
	for (;;) {
		diag_list quiet = DIAG_LIST_INIT;
		int rc = fetch_log(rec, &quiet);
		if (remote_mirror_copy(rec, fd, offset)) {
			diag_list_free(&quiet);
			return AML_EIO;
		}
		int prc = refresh(rec, &quiet);
		(void)cfg;
		if (!prc && run_status_terminal(run_record_status(rec))) {
			diag_list_free(&quiet);
			return remote_mirror_copy(rec, fd, offset);
		}
		failures = rc || prc ? failures + 1 : 0;
		if (failures >= 30) { /* about a minute of a controller that does not answer */
			diag_list_move(diags, &quiet);
			return AML_EIO;
		}
		diag_list_free(&quiet);
		sleep_s(1.0);
	}
}

static int slurm_cancel(const target_config *cfg, run_record *rec, double grace, diag_list *diags)
{
	(void)cfg;
	remote_host *h = NULL;
	int rc = remote_host_for_record(&h, rec, diags);
	if (rc)
		return rc;
	if (!run_status_terminal(run_record_status(rec)))
		ask_slurm(rec, h, diags);
	run_status s = run_record_status(rec);
	const char *id = remote_rec_str(rec, "job_id");
	if (run_status_terminal(s) || !id) {
		rc = diag_error(diags, NULL, 0, 0, NULL, "run %s has already ended (%s)", rec->id, run_status_name(s));
		goto done;
	}
	char *ids = xstrdup(id);
	const char *argv[] = { "scancel", ids, NULL };
	cmd_result r;
	rc = run_cmd(&r, h, argv, diags);
	if (!rc && r.status != 0)
		rc = transient(h, "scancel", &r, diags);
	cmd_free(&r);
	free(ids);
	if (rc)
		goto done;
	run_record_set_str(rec, "status", run_status_name(RS_CANCEL_REQUESTED));
	run_record_save(rec, diags);
	/* Slurm signals the job's processes (TERM, then KILL after its KillWait) */
	double deadline = time_now() + grace + 60;
	while (time_now() < deadline) {
		diag_list quiet = DIAG_LIST_INIT;
		ask_slurm(rec, h, &quiet);
		diag_list_free(&quiet);
		if (run_status_terminal(run_record_status(rec)))
			break;
		sleep_s(0.2);
	}
	if (!run_status_terminal(run_record_status(rec))) {
		rc = diag_error(diags, NULL, 0, 0, NULL, "run %s: Slurm has not ended job %s yet (it was asked to)",
				rec->id, remote_rec_str(rec, "job_id"));
		goto done;
	}
	diag_list quiet = DIAG_LIST_INIT;
	remote_sync(rec, h, false, true, &quiet);
	diag_list_free(&quiet);
	set_checked(rec);
	run_record_save(rec, diags);
done:
	remote_host_free(h);
	return rc;
}

const target_ops target_slurm = {
	.type = "slurm",
	.check = slurm_check,
	.prepare = slurm_prepare,
	.submit = slurm_submit,
	.poll = slurm_poll,
	.logs = slurm_logs,
	.cancel = slurm_cancel,
};
