/* The local target: the run executes on this machine under a supervisor
 * process (supervisor.c) that outlives the command which started it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env/materialize.h"
#include "launch/launch.h"
#include "snapshot/snapshot.h"
#include "target/target.h"
#include "util/buf.h"
#include "util/fs.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int local_check(const target_config *cfg, const run_spec *spec, const resolved_env *env, diag_list *diags)
{
	(void)cfg;
	int rc = AML_OK;
	if (spec->node_count > 1)
		rc = diag_error(diags, spec->file, 0, 0, "distribution.node_count",
				"distribution.node_count: the local target is one node; node_count %ld needs a cluster target",
				spec->node_count);
	if (env && env->def.docker_enabled) {
		char *docker = launch_which("docker");
		char *podman = launch_which("podman");
		if (!docker && !podman)
			rc = diag_error(diags, spec->file, 0, 0, "environment.docker.enabled",
					"environment.docker.enabled: true needs a container engine (docker or podman) on this "
					"machine, and none is on PATH; set enabled: false to run with the environment's Python");
		else
			rc = diag_error(diags, spec->file, 0, 0, "environment.docker.enabled",
					"environment.docker.enabled: running inside a container on the local target is not "
					"supported by this amlspec; set enabled: false (the base image is still recorded)");
		free(docker);
		free(podman);
	}
	return rc;
}

static int check_secrets(const run_spec *spec, diag_list *diags)
{
	int rc = AML_OK;
	for (size_t i = 0; i < spec->secrets.count; i++)
		if (!getenv(spec->secrets.items[i]))
			rc = diag_error(diags, spec->file, 0, 0, "secrets",
					"secrets: %s is not set in your environment; export it before apply",
					spec->secrets.items[i]);
	return rc;
}

static int local_prepare(run_job *job, diag_list *diags)
{
	const run_spec *spec = job->spec;
	run_record *rec = job->record;
	int rc = local_check(job->cfg, spec, job->env, diags);
	if (!rc)
		rc = check_secrets(spec, diags);
	if (rc)
		return rc;

	env_instance inst = { 0 };
	materialize_opts mo = { NULL, job->progress };
	rc = env_materialize(&inst, job->env, &mo, diags);
	if (rc)
		return rc;

	char *wd = fs_join(rec->dir, "wd");
	char *outputs = fs_join(wd, "outputs");
	char *logs = fs_join(wd, "logs");
	char *metrics = fs_join(rec->dir, "metrics.jsonl");
	char *bin = NULL;
	json_object *procs = NULL;
	rc = snapshot_checkout(job->snapshot_store, job->snapshot_tree, wd, diags);
	if (rc)
		goto done;
	if (fs_mkdirs(outputs, 0755) < 0 || fs_mkdirs(logs, 0755) < 0) {
		rc = diag_errno(diags, wd, "cannot create outputs/ and logs/");
		goto done;
	}
	if (inst.prefix)
		bin = fs_dirname(inst.python);
	launch_context lc = {
		.run_id = rec->id, .python = inst.python, .env_bin_dir = bin, .outputs_dir = outputs,
		.metrics_file = metrics, .node_ips = "127.0.0.1", .node_rank = 0, .num_nodes = 1,
		.master_port = 29500, .env_variables = &job->env->def.variables,
	};
	rc = launch_plan(&procs, spec, &lc, diags);
	if (rc)
		goto done;
	json_object_object_add(rec->doc, "processes", procs);
	procs = NULL;
	run_record_set_str(rec, "cwd", wd);
	run_record_set_str(rec, "python", inst.python);
	run_record_set_str(rec, "env_prefix", inst.prefix);
	json_object_object_add(rec->doc, "env_reused", json_object_new_boolean(inst.reused));
	rc = run_record_save(rec, diags);
done:
	json_object_put(procs);
	free(bin);
	free(wd);
	free(outputs);
	free(logs);
	free(metrics);
	env_instance_free(&inst);
	return rc;
}

static char *self_exe(void)
{
	char b[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", b, sizeof(b) - 1);
	if (n <= 0)
		return NULL;
	b[n] = '\0';
	return xstrdup(b);
}

static int local_submit(run_job *job, diag_list *diags)
{
	run_record *rec = job->record;
	char *exe = self_exe();
	if (!exe)
		return diag_errno(diags, NULL, "cannot find the amlspec executable");
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		free(exe);
		return diag_errno(diags, NULL, "pipe");
	}
	char fdarg[16];
	snprintf(fdarg, sizeof(fdarg), "%d", pfd[1]);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		free(exe);
		close(pfd[0]);
		close(pfd[1]);
		return diag_errno(diags, NULL, "fork");
	}
	if (pid == 0) {
		/* first child: a new session, then the supervisor as a grandchild so
		 * that it is nobody's zombie and survives this command */
		setsid();
		pid_t g = fork();
		if (g != 0)
			_exit(g < 0 ? 1 : 0);
		int fl = fcntl(pfd[1], F_GETFD);
		fcntl(pfd[1], F_SETFD, fl & ~FD_CLOEXEC);
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		char *const argv[] = { exe, "__supervise", rec->dir, fdarg, NULL };
		execv(exe, argv);
		_exit(127);
	}
	free(exe);
	close(pfd[1]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	/* the supervisor writes one byte once the run has started (or closes the
	 * pipe on failure) */
	struct pollfd p = { pfd[0], POLLIN, 0 };
	char c = 0;
	int ready = poll(&p, 1, 30000);
	ssize_t n = ready > 0 ? read(pfd[0], &c, 1) : 0;
	/* the supervisor keeps its end open until the run has been recorded:
	 * end of file on this pipe tells apply the run is over */
	if (n == 1 && c == 'S')
		rec->end_fd = pfd[0];
	else
		close(pfd[0]);
	run_record *fresh = NULL;
	int rc = run_record_load_dir(&fresh, rec->dir, diags);
	if (rc)
		return rc;
	json_object_put(rec->doc);
	rec->doc = json_object_get(fresh->doc);
	run_record_free(fresh);
	if (n != 1 || c != 'S') {
		const char *err = run_record_str(rec, "error");
		return diag_error(diags, NULL, 0, 0, NULL, "run %s did not start: %s", rec->id,
				  err ? err : "the supervisor did not report back");
	}
	return AML_OK;
}

static bool cancel_requested(const run_record *rec)
{
	char *p = fs_join(rec->dir, "cancel.request");
	bool r = fs_exists(p);
	free(p);
	return r;
}

static int local_poll(const target_config *cfg, run_record *rec, diag_list *diags)
{
	(void)cfg;
	run_record *fresh = NULL;
	int rc = run_record_load_dir(&fresh, rec->dir, diags);
	if (rc)
		return rc;
	json_object_put(rec->doc);
	rec->doc = json_object_get(fresh->doc);
	run_record_free(fresh);
	run_status s = run_record_status(rec);
	if (run_status_terminal(s))
		return AML_OK;
	if (!run_supervisor_alive(rec)) {
		/* re-read: the supervisor may have finished between the two reads */
		run_record *again = NULL;
		if (run_record_load_dir(&again, rec->dir, diags) == AML_OK) {
			json_object_put(rec->doc);
			rec->doc = json_object_get(again->doc);
			run_record_free(again);
		}
		if (run_status_terminal(run_record_status(rec)))
			return AML_OK;
		if (s == RS_NOT_STARTED || s == RS_PREPARING) {
			run_record_set_status(rec, RS_FAILED);
			run_record_set_str(rec, "error", "the run was never started (the command that prepared it stopped)");
		} else {
			run_record_set_status(rec, RS_FAILED);
			run_record_set_str(rec, "error", "the supervisor process died; the run's outcome is unknown");
		}
		json_object_object_add(rec->doc, "lost", json_object_new_boolean(1));
		char *now = time_now_rfc3339();
		run_record_set_str(rec, "ended_at", now);
		free(now);
		return run_record_save(rec, diags);
	}
	if (cancel_requested(rec))
		run_record_set_str(rec, "status", run_status_name(RS_CANCEL_REQUESTED));
	return AML_OK;
}

static int copy_new(int in, int out, long long *offset)
{
	char b[65536];
	int any = 0;
	for (;;) {
		ssize_t n = pread(in, b, sizeof(b), (off_t)*offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return any;
		const char *p = b;
		ssize_t left = n;
		while (left > 0) {
			ssize_t w = write(out, p, (size_t)left);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			p += w;
			left -= w;
		}
		*offset += n;
		any = 1;
	}
}

static int local_logs(const target_config *cfg, run_record *rec, bool follow, int fd, long long *offset,
		      diag_list *diags)
{
	char *path = fs_join(rec->dir, "driver.log");
	int in = -1;
	int rc = AML_OK;
	for (;;) {
		if (in < 0)
			in = open(path, O_RDONLY | O_CLOEXEC);
		if (in >= 0 && copy_new(in, fd, offset) < 0) {
			rc = AML_EIO;
			break;
		}
		if (!follow)
			break;
		if (local_poll(cfg, rec, diags))
			break;
		if (run_status_terminal(run_record_status(rec))) {
			if (in < 0)
				in = open(path, O_RDONLY | O_CLOEXEC);
			if (in >= 0)
				copy_new(in, fd, offset);
			break;
		}
		sleep_ms(50);
	}
	if (in >= 0)
		close(in);
	if (!follow && in < 0 && !run_status_terminal(run_record_status(rec)))
		rc = AML_OK; /* nothing written yet */
	free(path);
	return rc;
}

static int local_cancel(const target_config *cfg, run_record *rec, double grace, diag_list *diags)
{
	int rc = local_poll(cfg, rec, diags);
	if (rc)
		return rc;
	run_status s = run_record_status(rec);
	if (run_status_terminal(s))
		return diag_error(diags, NULL, 0, 0, NULL, "run %s has already ended (%s)", rec->id, run_status_name(s));
	char *req = fs_join(rec->dir, "cancel.request");
	char *now = time_now_rfc3339();
	int rc2 = fs_write_atomic(req, now, strlen(now), 0600);
	free(now);
	free(req);
	if (rc2 < 0)
		return diag_errno(diags, rec->dir, "cannot record the cancel request");
	long long pgid = run_record_int(rec, "pgid", 0);
	if (pgid > 1)
		kill(-(pid_t)pgid, SIGTERM);
	double deadline = time_now() + grace;
	bool killed = false;
	for (;;) {
		if (local_poll(cfg, rec, diags))
			return AML_ERROR;
		if (run_status_terminal(run_record_status(rec)))
			return AML_OK;
		if (!killed && time_now() > deadline) {
			if (pgid > 1)
				kill(-(pid_t)pgid, SIGKILL);
			killed = true;
			deadline = time_now() + 10;
		} else if (killed && time_now() > deadline) {
			return diag_error(diags, NULL, 0, 0, NULL, "run %s did not stop", rec->id);
		}
		sleep_ms(50);
	}
}

const target_ops target_local = {
	.type = "local",
	.check = local_check,
	.prepare = local_prepare,
	.submit = local_submit,
	.poll = local_poll,
	.logs = local_logs,
	.cancel = local_cancel,
};
