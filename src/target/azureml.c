/* The azureml target: a run is an Azure ML command job, created through the
 * REST API (api-version 2023-04-01) of the workspace named in amlspec.yaml.
 *
 * prepare: the snapshot becomes a code asset named amlspec-<experiment> whose
 *          version is the snapshot's tree id (reused when it exists, else
 *          uploaded through startPendingUpload and registered); the
 *          environment is a curated id, or an inline definition registered as
 *          amlspec:<32 hex of its digest> (reused when it exists).
 * submit:  PUT jobs/<run id> with the CommandJob body.
 * poll:    GET jobs/<run id>, at most every AZUREML_RUN_POLLING_INTERVAL_MIN
 *          seconds (2) growing to _MAX (60) while nothing changes; statuses map
 *          onto amlspec's; transitions are appended to the run's driver.log.
 * logs:    that driver.log: the job's status transitions and its studio URL
 *          (the job's own output lives in Azure ML's run history, outside
 *          the REST API this target speaks; docs/targets/azureml.md).
 * cancel:  POST jobs/<run id>/cancel, then wait for Canceled. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "azureml/arm.h"
#include "azureml/auth.h"
#include "azureml/blob.h"
#include "azureml/body.h"
#include "snapshot/snapshot.h"
#include "target/target.h"
#include "util/buf.h"
#include "util/fs.h"

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double env_seconds(const char *name, double dflt)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return dflt;
	char *end;
	double d = strtod(v, &end);
	return end != v && d > 0 ? d : dflt;
}

static double poll_min(void)
{
	return env_seconds("AZUREML_RUN_POLLING_INTERVAL_MIN", 2.0);
}

static double poll_max(void)
{
	double mx = env_seconds("AZUREML_RUN_POLLING_INTERVAL_MAX", 60.0);
	return mx < poll_min() ? poll_min() : mx;
}

static json_object *jget(json_object *o, const char *k)
{
	json_object *v = NULL;
	if (o && json_object_is_type(o, json_type_object))
		json_object_object_get_ex(o, k, &v);
	return v;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v = jget(o, k);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static json_object *azure_obj(run_record *rec)
{
	json_object *a = jget(rec->doc, "azureml");
	if (!a) {
		a = json_object_new_object();
		json_object_object_add(rec->doc, "azureml", a);
	}
	return a;
}

static void set_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

/* Appends one timestamped line to the run's driver.log (the azureml logs). */
static void log_line(const run_record *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(const run_record *rec, const char *fmt, ...)
{
	char *path = fs_join(rec->dir, "driver.log");
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	free(path);
	if (fd < 0)
		return;
	buf b = BUF_INIT;
	char *now = time_now_rfc3339();
	buf_printf(&b, "%s  ", now);
	free(now);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	buf_putc(&b, '\n');
	ssize_t w = write(fd, b.ptr, b.len);
	(void)w;
	close(fd);
	buf_free(&b);
}

/* ---- check ---- */

static int static_check(const target_config *cfg, const run_spec *spec, diag_list *diags)
{
	int rc = AML_OK;
	azml_target t;
	if (azml_target_parse(&t, cfg, diags))
		rc = AML_EINVALID;
	else
		azml_target_free(&t);
	if (spec->framework == FW_PYSPARK)
		rc = diag_error(diags, spec->file, 0, 0, "framework",
				"framework: pyspark runs as an Azure ML Spark job, which the azureml target (command "
				"jobs) does not create; use framework python, mpi, pytorch or tensorflow");
	if (spec->secrets.count)
		rc = diag_error(diags, spec->file, 0, 0, "secrets",
				"secrets: the azureml target refuses secrets (%s%s): their values would be stored in the "
				"job definition, readable by anyone who can read the workspace's jobs; read them in the "
				"script from the workspace's Key Vault instead",
				spec->secrets.items[0], spec->secrets.count > 1 ? ", ..." : "");
	return rc;
}

/* Targets already checked against Azure in this process (plan_build runs
 * twice in apply, once per spec): their note is given once. */
static strlist checked_targets;

static int network_check(const target_config *cfg, diag_list *diags)
{
	if (strlist_contains(&checked_targets, cfg->name))
		return AML_OK;
	azure_auth_method m = azure_auth_detect();
	if (m == AZURE_AUTH_NONE) {
		strlist_add(&checked_targets, cfg->name);
		diag_add(diags, DIAG_NOTE, NULL, 0, 0, NULL,
			 "target %s (azureml): workspace and compute not checked: no Azure credentials (AZURE_ACCESS_TOKEN; "
			 "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET; or az login)",
			 cfg->name);
		return AML_OK;
	}
	arm_client *a = NULL;
	int rc = arm_client_open(&a, cfg, diags);
	if (rc)
		return rc;
	rc = arm_request(a, "GET", "", NULL, 0, NULL, NULL, diags);
	if (!rc) {
		char *rel = xasprintf("/computes/%s", a->target.compute);
		rc = arm_request(a, "GET", rel, NULL, 0, NULL, NULL, diags);
		free(rel);
	}
	if (!rc) {
		strlist_add(&checked_targets, cfg->name);
		diag_add(diags, DIAG_NOTE, NULL, 0, 0, NULL,
			 "target %s (azureml): workspace %s and compute %s found (credentials: %s)", cfg->name,
			 a->target.workspace_name, a->target.compute, azure_auth_method_name(m));
	}
	arm_client_free(a);
	return rc;
}

static int azml_check(const target_config *cfg, const run_spec *spec, const resolved_env *env, diag_list *diags)
{
	(void)env;
	if (!cfg)
		return diag_error(diags, spec->file, 0, 0, "target", "target: the azureml target needs its settings");
	int rc = static_check(cfg, spec, diags);
	if (rc)
		return rc;
	if (!target_check_remote)
		return rc;
	return network_check(cfg, diags);
}

/* ---- prepare ---- */

static char *journal_path(const char *state_dir, const char *name, const char *version)
{
	char *dir = fs_join(state_dir, "azureml/uploads");
	char *file = xasprintf("%s@%s.json", name, version);
	char *p = fs_join(dir, file);
	free(dir);
	free(file);
	return p;
}

static int upload_code(arm_client *a, run_job *job, const char *name, const char *version, json_object *info,
		       diag_list *diags)
{
	run_record *rec = job->record;
	char *jpath = journal_path(job->state_dir, name, version);
	char *dest = fs_join(rec->dir, "code");
	char *rel = xasprintf("/codes/%s/versions/%s", name, version);
	char *start_rel = xasprintf("%s/startPendingUpload", rel);
	char *pending = NULL;
	json_object *resp = NULL, *body = NULL;
	bool resume = false;
	int rc = AML_OK;

	/* the journal keeps the pending upload id (no credential): a new attempt
	 * gets the same blob folder back and sends only what is missing */
	json_object *journal = fs_is_file(jpath) ? json_object_from_file(jpath) : NULL;
	if (jstr(journal, "pending_upload_id")) {
		pending = xstrdup(jstr(journal, "pending_upload_id"));
		resume = true;
	}
	json_object_put(journal);
	if (!pending) {
		pending = azml_uuid();
		char *jdir = fs_dirname(jpath);
		fs_mkdirs(jdir, 0700);
		free(jdir);
		json_object *j = json_object_new_object();
		set_str(j, "pending_upload_id", pending);
		set_str(j, "code", name);
		set_str(j, "version", version);
		char *now = time_now_rfc3339();
		set_str(j, "started_at", now);
		free(now);
		const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY);
		if (fs_write_atomic(jpath, text, strlen(text), 0600) < 0)
			diag_warning(diags, jpath, 0, 0, NULL, "cannot keep the upload journal: an interrupted upload "
								"would start over");
		json_object_put(j);
	}
	body = json_object_new_object();
	set_str(body, "pendingUploadId", pending);
	set_str(body, "pendingUploadType", "TemporaryBlobReference");
	rc = arm_request(a, "POST", start_rel, body, 0, &resp, NULL, diags);
	json_object_put(body);
	body = NULL;
	if (rc)
		goto done;
	json_object *ref = jget(resp, "blobReferenceForConsumption");
	json_object *cred = jget(ref, "credential");
	const char *blob_uri = jstr(ref, "blobUri");
	const char *sas_uri = jstr(cred, "sasUri");
	if (!blob_uri || !sas_uri || (jstr(cred, "credentialType") && strcmp(jstr(cred, "credentialType"), "SAS"))) {
		rc = diag_error(diags, NULL, 0, 0, NULL,
				"Azure ML: startPendingUpload for code %s:%s gave no blob URI with a SAS credential", name,
				version);
		goto done;
	}
	if (fs_exists(dest))
		fs_remove_tree(dest);
	rc = snapshot_checkout(job->snapshot_store, job->snapshot_tree, dest, diags);
	if (rc)
		goto done;
	if (job->progress)
		fprintf(job->progress, "  %s snapshot %.12s as code %s\n", resume ? "resuming the upload of" : "uploading",
			version, name);
	blob_upload_stats st;
	blob_upload_opts bo = { blob_uri, sas_uri, dest, resume, 0 };
	rc = azml_blob_upload_dir(a->http, &bo, &st, diags);
	json_object_object_add(info, "files_uploaded", json_object_new_int64((int64_t)st.files_sent));
	json_object_object_add(info, "files_already_uploaded", json_object_new_int64((int64_t)st.files_skipped));
	json_object_object_add(info, "bytes_uploaded", json_object_new_int64((int64_t)st.bytes_sent));
	if (rc)
		goto done;
	if (job->progress) {
		fprintf(job->progress, "  uploaded %zu file%s (%llu bytes)", st.files_sent, st.files_sent == 1 ? "" : "s",
			(unsigned long long)st.bytes_sent);
		if (st.files_skipped)
			fprintf(job->progress, "; %zu already uploaded before", st.files_skipped);
		fputc('\n', job->progress);
	}
	body = json_object_new_object();
	json_object *props = json_object_new_object();
	set_str(props, "codeUri", blob_uri);
	json_object_object_add(props, "isAnonymous", json_object_new_boolean(0));
	set_str(props, "description", "Source snapshot uploaded by amlspec");
	json_object *pp = json_object_new_object();
	set_str(pp, "amlspec.snapshot", version);
	json_object_object_add(props, "properties", pp);
	json_object_object_add(body, "properties", props);
	rc = arm_request(a, "PUT", rel, body, 0, NULL, NULL, diags);
	if (!rc) {
		unlink(jpath);
		fs_remove_tree(dest);
	}
done:
	json_object_put(body);
	json_object_put(resp);
	free(pending);
	free(start_rel);
	free(rel);
	free(dest);
	free(jpath);
	return rc;
}

static int prepare_code(arm_client *a, run_job *job, json_object *info, diag_list *diags)
{
	char *name = azml_code_name(job->spec->experiment);
	const char *version = job->snapshot_tree;
	char *rel = xasprintf("/codes/%s/versions/%s", name, version);
	int rc = arm_request(a, "GET", rel, NULL, ARM_ALLOW_404, NULL, NULL, diags);
	bool reused = rc == AML_OK;
	if (rc == AML_ENOTFOUND)
		rc = upload_code(a, job, name, version, info, diags);
	if (!rc) {
		char *id = xasprintf("%s%s", a->workspace_id, rel);
		set_str(info, "code_id", id);
		json_object_object_add(info, "code_reused", json_object_new_boolean(reused));
		if (reused && job->progress)
			fprintf(job->progress, "  code %s:%.12s is already in the workspace: nothing to upload\n", name, version);
		if (reused) {
			/* registered meanwhile (elsewhere): a journal left here is moot */
			char *jpath = journal_path(job->state_dir, name, version);
			unlink(jpath);
			free(jpath);
		}
		free(id);
	}
	free(rel);
	free(name);
	return rc;
}

static int prepare_environment(arm_client *a, run_job *job, json_object *info, diag_list *diags)
{
	const resolved_env *env = job->env;
	if (azml_env_is_curated(job->spec, env)) {
		char *id = azml_curated_environment_id(&a->target, env->curated_name, env->curated_version);
		set_str(info, "environment_id", id);
		json_object_object_add(info, "environment_registered", json_object_new_boolean(0));
		json_object_object_add(job->record->doc, "env_reused", json_object_new_boolean(1));
		free(id);
		return AML_OK;
	}
	char *version = azml_environment_version(env->digest);
	char *rel = xasprintf("/environments/%s/versions/%s", AZML_ENV_NAME, version);
	int rc = arm_request(a, "GET", rel, NULL, ARM_ALLOW_404, NULL, NULL, diags);
	bool exists = rc == AML_OK;
	if (rc == AML_ENOTFOUND) {
		json_object *body = azml_environment_body(env);
		rc = arm_request(a, "PUT", rel, body, 0, NULL, NULL, diags);
		json_object_put(body);
		if (!rc && job->progress)
			fprintf(job->progress, "  registered environment %s:%s (%s)\n", AZML_ENV_NAME, version, env->label);
	}
	if (!rc) {
		char *id = azml_registered_environment_id(&a->target, env);
		set_str(info, "environment_id", id);
		json_object_object_add(info, "environment_registered", json_object_new_boolean(!exists));
		json_object_object_add(job->record->doc, "env_reused", json_object_new_boolean(exists));
		free(id);
	}
	free(rel);
	free(version);
	return rc;
}

/* apply calls prepare, then submit. Between the two, <run dir>/submit.lock
 * is held: a poll that finds a run with no job yet can tell one being
 * submitted right now from one whose submitter died. */
static int submit_lock_fd = -1;

static void submit_lock_take(const run_record *rec)
{
	char *path = fs_join(rec->dir, "submit.lock");
	submit_lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (submit_lock_fd >= 0 && flock(submit_lock_fd, LOCK_EX | LOCK_NB) < 0) {
		close(submit_lock_fd);
		submit_lock_fd = -1;
	}
}

static void submit_lock_release(void)
{
	if (submit_lock_fd >= 0)
		close(submit_lock_fd);
	submit_lock_fd = -1;
}

static bool submitter_alive(const run_record *rec)
{
	char *path = fs_join(rec->dir, "submit.lock");
	int fd = open(path, O_RDWR | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return false;
	bool held = flock(fd, LOCK_EX | LOCK_NB) < 0;
	close(fd);
	return held;
}

static int azml_prepare(run_job *job, diag_list *diags)
{
	if (!job->cfg)
		return diag_error(diags, NULL, 0, 0, NULL, "the azureml target needs its settings in amlspec.yaml");
	int rc = static_check(job->cfg, job->spec, diags);
	if (rc)
		return rc;
	arm_client *a = NULL;
	rc = arm_client_open(&a, job->cfg, diags);
	if (rc)
		return rc;
	run_record *rec = job->record;
	submit_lock_take(rec);
	json_object *info = azure_obj(rec);
	set_str(info, "workspace_id", a->workspace_id);
	set_str(info, "compute", a->target.compute);
	rc = prepare_code(a, job, info, diags);
	if (!rc)
		rc = prepare_environment(a, job, info, diags);
	diag_list quiet = DIAG_LIST_INIT;
	int src = run_record_save(rec, rc ? &quiet : diags);
	diag_list_free(&quiet);
	arm_client_free(a);
	if (rc || src)
		submit_lock_release(); /* no submit follows */
	return rc ? rc : src;
}

/* ---- submit ---- */

static void note_status(run_record *rec, json_object *info, const char *azure_status)
{
	run_status s = azml_status_map(azure_status);
	run_status old = run_record_status(rec);
	const char *old_azure = jstr(info, "remote_status");
	bool changed = !old_azure || !azure_status || strcmp(old_azure, azure_status);
	if (changed) {
		const char *ours = run_status_name(s);
		if (azure_status && strcmp(ours, azure_status))
			log_line(rec, "status %s (amlspec: %s)", azure_status, ours);
		else
			log_line(rec, "status %s", azure_status ? azure_status : "(none given)");
	}
	set_str(info, "remote_status", azure_status);
	if (s != old || !run_record_str(rec, "status_updated_at"))
		run_record_set_status(rec, s);
	else {
		char *now = time_now_rfc3339();
		run_record_set_str(rec, "status_updated_at", now);
		free(now);
	}
	char *now = time_now_rfc3339();
	if ((s == RS_RUNNING || s == RS_FINALIZING || run_status_terminal(s)) && !run_record_str(rec, "started_at"))
		run_record_set_str(rec, "started_at", now);
	if (run_status_terminal(s) && !run_record_str(rec, "ended_at")) {
		run_record_set_str(rec, "ended_at", now);
		const char *studio = run_record_str(rec, "studio_url");
		if (s == RS_FAILED && !run_record_str(rec, "error")) {
			char *e = xasprintf("the Azure ML job failed%s%s", studio ? "; its logs are in the studio: " : "",
					    studio ? studio : "");
			run_record_set_str(rec, "error", e);
			free(e);
		} else if (s == RS_CANCELED && !run_record_str(rec, "error")) {
			run_record_set_str(rec, "error", "canceled");
		}
		if (s == RS_COMPLETED)
			run_record_set_int(rec, "exit_code", 0);
		if (studio)
			log_line(rec, "the job's own output (user_logs/std_log.txt) and outputs/ are in the studio: %s", studio);
	}
	free(now);
}

static void schedule_poll(json_object *info, bool changed)
{
	json_object *iv = jget(info, "poll_interval");
	double interval = iv ? json_object_get_double(iv) : 0;
	interval = changed || interval <= 0 ? poll_min() : interval * 1.5;
	if (interval > poll_max())
		interval = poll_max();
	json_object_object_add(info, "poll_interval", json_object_new_double(interval));
	json_object_object_add(info, "next_poll_at", json_object_new_double(time_now() + interval));
}

static int azml_submit(run_job *job, diag_list *diags)
{
	run_record *rec = job->record;
	arm_client *a = NULL;
	int rc = arm_client_open(&a, job->cfg, diags);
	if (rc) {
		submit_lock_release();
		return rc;
	}
	json_object *info = azure_obj(rec);
	char *compute_id = azml_compute_id(&a->target);
	kvlist extra = KVLIST_INIT;
	kvlist_set(&extra, "PYTHONUNBUFFERED", "1");
	kvlist_set(&extra, "AMLSPEC_RUN_ID", rec->id);
	kvlist_set(&extra, "AMLSPEC_EXPERIMENT", job->spec->experiment);
	kvlist_set(&extra, "AMLSPEC_OUTPUTS_DIR", "outputs");
	kvlist_set(&extra, "AMLSPEC_METRICS_FILE", "outputs/metrics.jsonl");
	char n[32];
	snprintf(n, sizeof(n), "%ld", job->spec->node_count);
	kvlist_set(&extra, "AMLSPEC_NUM_NODES", n);
	azml_job_params p = {
		.spec = job->spec, .env = job->env, .environment_id = jstr(info, "environment_id"),
		.code_id = jstr(info, "code_id"), .compute_id = compute_id, .instance_type = a->target.instance_type,
		.properties = jget(rec->doc, "properties"), .extra_variables = &extra,
	};
	json_object *body = azml_job_body(&p);
	char *rel = xasprintf("/jobs/%s", rec->id);
	json_object *resp = NULL;
	rc = arm_request(a, "PUT", rel, body, 0, &resp, NULL, diags);
	if (!rc) {
		json_object *props = jget(resp, "properties");
		const char *studio = jstr(jget(jget(props, "services"), "Studio"), "endpoint");
		set_str(info, "job_name", rec->id);
		char *job_id = xasprintf("%s%s", a->workspace_id, rel);
		set_str(info, "job_id", jstr(resp, "id") ? jstr(resp, "id") : job_id);
		free(job_id);
		if (studio)
			run_record_set_str(rec, "studio_url", studio);
		char *now = time_now_rfc3339();
		run_record_set_str(rec, "submitted_at", now);
		free(now);
		log_line(rec, "submitted Azure ML job %s to workspace %s, compute %s", rec->id, a->target.workspace_name,
			 a->target.compute);
		if (studio)
			log_line(rec, "studio: %s", studio);
		const char *st = jstr(props, "status");
		note_status(rec, info, st ? st : "NotStarted");
		schedule_poll(info, true);
		rc = run_record_save(rec, diags);
	}
	json_object_put(resp);
	json_object_put(body);
	free(rel);
	kvlist_free(&extra);
	free(compute_id);
	arm_client_free(a);
	submit_lock_release();
	return rc;
}

/* ---- poll ---- */

static int lock_run(const run_record *rec)
{
	char *path = fs_join(rec->dir, "poll.lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void reload(run_record *rec)
{
	diag_list quiet = DIAG_LIST_INIT;
	run_record *fresh = NULL;
	if (run_record_load_dir(&fresh, rec->dir, &quiet) == AML_OK) {
		json_object_put(rec->doc);
		rec->doc = json_object_get(fresh->doc);
		run_record_free(fresh);
	}
	diag_list_free(&quiet);
}

static int poll_now(const target_config *cfg, run_record *rec, bool force, diag_list *diags)
{
	if (run_status_terminal(run_record_status(rec)))
		return AML_OK;
	int fd = lock_run(rec);
	reload(rec);
	int rc = AML_OK;
	json_object *info = azure_obj(rec);
	json_object *next = jget(info, "next_poll_at");
	const char *name = jstr(info, "job_name");
	bool orphan = false;
	if (run_status_terminal(run_record_status(rec)))
		goto done;
	if (!name) {
		/* not submitted yet: being submitted, or its submitter died (maybe
		 * after the job was created: the job's name is the run id) */
		if (submitter_alive(rec) || (!force && next && time_now() < json_object_get_double(next)))
			goto done;
		name = rec->id;
		orphan = true;
	}
	if (!force && next && time_now() < json_object_get_double(next))
		goto done;
	if (!cfg) {
		rc = diag_error(diags, NULL, 0, 0, NULL, "run %s: its azureml target is no longer declared", rec->id);
		goto done;
	}
	arm_client *a = NULL;
	rc = arm_client_open(&a, cfg, diags);
	if (!rc) {
		char *rel = xasprintf("/jobs/%s", name);
		json_object *resp = NULL;
		rc = arm_request(a, "GET", rel, NULL, ARM_ALLOW_404, &resp, NULL, diags);
		if (rc == AML_ENOTFOUND && orphan) {
			log_line(rec, "the run was never submitted (the command that prepared it stopped)");
			run_record_set_str(rec, "error", "the run was never submitted to Azure ML (the command that prepared "
							 "it stopped)");
			note_status(rec, info, "Failed");
			rc = AML_OK;
		} else if (rc == AML_ENOTFOUND) {
			log_line(rec, "the job is gone from the workspace (deleted?)");
			run_record_set_str(rec, "error", "the Azure ML job no longer exists in the workspace");
			note_status(rec, info, "Failed");
			rc = AML_OK;
		} else if (!rc) {
			if (orphan) {
				log_line(rec, "found job %s, submitted by a command that stopped before recording it", name);
				set_str(info, "job_name", name);
				char *jid = xasprintf("%s/jobs/%s", a->workspace_id, name);
				set_str(info, "job_id", jid);
				free(jid);
			}
			const char *st = jstr(jget(resp, "properties"), "status");
			const char *old = jstr(info, "remote_status");
			bool changed = !old || !st || strcmp(old, st);
			note_status(rec, info, st);
			const char *studio = jstr(jget(jget(jget(resp, "properties"), "services"), "Studio"), "endpoint");
			if (studio && !run_record_str(rec, "studio_url"))
				run_record_set_str(rec, "studio_url", studio);
			schedule_poll(info, changed);
		} else {
			schedule_poll(info, false);
		}
		json_object_put(resp);
		free(rel);
		arm_client_free(a);
	}
	diag_list quiet = DIAG_LIST_INIT;
	run_record_save(rec, rc ? &quiet : diags);
	diag_list_free(&quiet);
done:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int azml_poll(const target_config *cfg, run_record *rec, diag_list *diags)
{
	return poll_now(cfg, rec, false, diags);
}

/* ---- logs ---- */

static int copy_from(const char *path, int out, long long *offset)
{
	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return 0;
	char b[65536];
	int rc = 0;
	for (;;) {
		ssize_t n = pread(in, b, sizeof(b), (off_t)*offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, b + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = -1;
				break;
			}
			done += w;
		}
		if (rc)
			break;
		*offset += n;
	}
	close(in);
	return rc;
}

static int azml_logs(const target_config *cfg, run_record *rec, bool follow, int fd, long long *offset,
		     diag_list *diags)
{
	char *path = fs_join(rec->dir, "driver.log");
	int rc = AML_OK;
	for (;;) {
		int prc = azml_poll(cfg, rec, diags);
		if (copy_from(path, fd, offset) < 0) {
			rc = AML_EIO;
			break;
		}
		if (!follow || run_status_terminal(run_record_status(rec)))
			break;
		if (prc) {
			rc = prc;
			break;
		}
		sleep_s(0.2);
	}
	free(path);
	return rc;
}

/* ---- cancel ---- */

static int azml_cancel(const target_config *cfg, run_record *rec, double grace, diag_list *diags)
{
	int rc = poll_now(cfg, rec, true, diags);
	if (rc)
		return rc;
	run_status s = run_record_status(rec);
	if (run_status_terminal(s))
		return diag_error(diags, NULL, 0, 0, NULL, "run %s has already ended (%s)", rec->id, run_status_name(s));
	json_object *info = azure_obj(rec);
	const char *name = jstr(info, "job_name");
	if (!name)
		return diag_error(diags, NULL, 0, 0, NULL, "run %s was never submitted to Azure ML", rec->id);
	arm_client *a = NULL;
	rc = arm_client_open(&a, cfg, diags);
	if (rc)
		return rc;
	char *rel = xasprintf("/jobs/%s/cancel", name);
	rc = arm_request(a, "POST", rel, NULL, 0, NULL, NULL, diags);
	free(rel);
	arm_client_free(a);
	if (rc)
		return rc;
	int fd = lock_run(rec);
	reload(rec);
	info = azure_obj(rec);
	log_line(rec, "cancel requested");
	if (!run_status_terminal(run_record_status(rec))) {
		run_record_set_status(rec, RS_CANCEL_REQUESTED);
		schedule_poll(info, true);
	}
	rc = run_record_save(rec, diags);
	if (fd >= 0)
		close(fd);
	if (rc)
		return rc;
	/* Azure ML cancels asynchronously: wait a while for Canceled */
	double deadline = time_now() + (grace > 5 ? grace : 5);
	while (!run_status_terminal(run_record_status(rec)) && time_now() < deadline) {
		sleep_s(0.1);
		if (poll_now(cfg, rec, false, diags))
			break;
	}
	return AML_OK;
}

const target_ops target_azureml = {
	.type = "azureml",
	.check = azml_check,
	.prepare = azml_prepare,
	.submit = azml_submit,
	.poll = azml_poll,
	.logs = azml_logs,
	.cancel = azml_cancel,
};
