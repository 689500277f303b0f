/* The supervisor: a small process per local run that starts the run's
 * processes in their own process group, enforces the timeout, and records
 * the outcome in run.json, even when the command that started it is gone.
 * It holds an fcntl lock on supervisor.lock for its whole life, so that a
 * reader can tell "still watched" from "the watcher died". */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target/target.h"
#include "util/buf.h"
#include "util/fs.h"

#define KILL_GRACE_SECONDS 10

typedef struct proc {
	pid_t pid;
	int status;
	bool done;
} proc;

static long count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	long n = 0;
	int c;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void exec_process(json_object *p, const char *cwd, int logfd, pid_t pgid)
{
	setpgid(0, pgid);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		dup2(devnull, 0);
	dup2(logfd, 1);
	dup2(logfd, 2);
	if (chdir(cwd) < 0) {
		dprintf(2, "amlspec: cannot enter %s: %s\n", cwd, strerror(errno));
		_exit(127);
	}
	json_object *env, *argv;
	if (json_object_object_get_ex(p, "env", &env)) {
		json_object_object_foreach(env, k, v) {
			setenv(k, json_object_get_string(v), 1);
		}
	}
	json_object_object_get_ex(p, "argv", &argv);
	size_t n = json_object_array_length(argv);
	char **av = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		av[i] = (char *)json_object_get_string(json_object_array_get_idx(argv, i));
	execvp(av[0], av);
	dprintf(2, "amlspec: cannot start %s: %s\n", av[0], strerror(errno));
	_exit(127);
}

static void finish(run_record *rec, run_status st, int exit_code, const char *error)
{
	char *now = time_now_rfc3339();
	run_record_set_str(rec, "ended_at", now);
	free(now);
	if (exit_code >= 0)
		run_record_set_int(rec, "exit_code", exit_code);
	if (error)
		run_record_set_str(rec, "error", error);
	char *wd = fs_join(rec->dir, "wd");
	json_object *outputs = json_object_new_array();
	char *od = fs_join(wd, "outputs");
	runs_list_files(outputs, od);
	json_object_object_add(rec->doc, "outputs", outputs);
	json_object *logs = json_object_new_array();
	char *ld = fs_join(wd, "logs");
	runs_list_files(logs, ld);
	json_object_object_add(rec->doc, "logs", logs);
	char *mf = fs_join(rec->dir, "metrics.jsonl");
	run_record_set_int(rec, "metrics_count", count_lines(mf));
	free(mf);
	free(od);
	free(ld);
	free(wd);
	run_record_set_status(rec, st);
	diag_list d = DIAG_LIST_INIT;
	run_record_save(rec, &d);
	diag_list_free(&d);
}

int supervisor_main(const char *run_dir, int notify_fd)
{
	diag_list diags = DIAG_LIST_INIT;
	run_record *rec = NULL;
	int rc = 1;
	proc *procs = NULL;
	size_t nprocs = 0;
	char *lockp = fs_join(run_dir, "supervisor.lock");
	int lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (lockfd < 0 || fcntl(lockfd, F_SETLK, &fl) < 0)
		goto out; /* another supervisor watches this run */
	if (notify_fd >= 0)
		fcntl(notify_fd, F_SETFD, FD_CLOEXEC); /* the run's processes must not hold it open */
	dprintf(lockfd, "%ld\n", (long)getpid());
	if (run_record_load_dir(&rec, run_dir, &diags))
		goto out;
	/* a reader declared it lost before we got here: it stays not started */
	if (run_status_terminal(run_record_status(rec)))
		goto out;
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	const char *cwd = run_record_str(rec, "cwd");
	long long timeout = run_record_int(rec, "timeout_seconds", 30LL * 86400);
	json_object *plist;
	if (!cwd || !json_object_object_get_ex(rec->doc, "processes", &plist) ||
	    !json_object_is_type(plist, json_type_array) || json_object_array_length(plist) == 0) {
		finish(rec, RS_FAILED, -1, "the run record has nothing to start");
		goto out;
	}
	char *logp = fs_join(run_dir, "driver.log");
	int logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	free(logp);
	if (logfd < 0) {
		finish(rec, RS_FAILED, -1, "cannot open driver.log");
		goto out;
	}
	/* the script appends to it with its own umask: create it private first */
	char *metp = fs_join(run_dir, "metrics.jsonl");
	int metfd = open(metp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	free(metp);
	if (metfd >= 0)
		close(metfd);

	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);

	nprocs = json_object_array_length(plist);
	procs = xcalloc(nprocs, sizeof(*procs));
	pid_t pgid = 0;
	for (size_t i = 0; i < nprocs; i++) {
		pid_t pid = fork();
		if (pid == 0)
			exec_process(json_object_array_get_idx(plist, i), cwd, logfd, pgid);
		if (pid < 0) {
			if (pgid)
				kill(-pgid, SIGKILL);
			finish(rec, RS_FAILED, -1, "cannot start the run's process (fork failed)");
			goto out;
		}
		setpgid(pid, pgid ? pgid : pid); /* also in the parent: no race with kill(-pgid) */
		if (!pgid)
			pgid = pid;
		procs[i].pid = pid;
	}
	close(logfd);
	char *now = time_now_rfc3339();
	run_record_set_str(rec, "started_at", now);
	free(now);
	run_record_set_int(rec, "pid", procs[0].pid);
	run_record_set_int(rec, "pgid", pgid);
	run_record_set_int(rec, "supervisor_pid", getpid());
	run_record_set_status(rec, RS_RUNNING);
	run_record_save(rec, &diags);
	if (notify_fd >= 0 && write(notify_fd, "S", 1) < 0) {
		/* the starter may be gone; the run goes on */
	}

	double deadline = time_now() + (double)timeout;
	double kill_at = 0;
	bool timed_out = false, failed_one = false;
	size_t alive = nprocs;
	int first_bad = 0;
	while (alive) {
		struct timespec ts = { 1, 0 };
		double left = deadline - time_now();
		if (!timed_out && left < 1.0 && left > 0)
			ts.tv_sec = 0, ts.tv_nsec = (long)(left * 1e9);
		sigtimedwait(&chld, NULL, &ts);
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			for (size_t i = 0; i < nprocs; i++)
				if (procs[i].pid == p && !procs[i].done) {
					procs[i].done = true;
					procs[i].status = st;
					alive--;
					int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
					if (code && !first_bad)
						first_bad = code;
					if (code && alive && !failed_one) {
						/* one process of a distributed run failed: stop the others */
						failed_one = true;
						kill(-pgid, SIGTERM);
						kill_at = time_now() + KILL_GRACE_SECONDS;
					}
				}
		}
		if (!timed_out && time_now() >= deadline) {
			timed_out = true;
			kill(-pgid, SIGTERM);
			kill_at = time_now() + KILL_GRACE_SECONDS;
		}
		if (kill_at && time_now() >= kill_at) {
			kill(-pgid, SIGKILL);
			kill_at = 0;
		}
	}
	/* leftovers the script started in its group do not outlive the run */
	kill(-pgid, SIGKILL);

	int code = WIFEXITED(procs[0].status) ? WEXITSTATUS(procs[0].status) : 128 + WTERMSIG(procs[0].status);
	if (first_bad)
		code = first_bad;
	char *req = fs_join(run_dir, "cancel.request");
	bool canceled = fs_exists(req);
	free(req);
	run_record_set_status(rec, RS_FINALIZING);
	if (canceled) {
		finish(rec, RS_CANCELED, code, "canceled by request");
	} else if (timed_out) {
		char *msg = xasprintf("timed out after %llds (limits.timeout)", timeout);
		finish(rec, RS_FAILED, code, msg);
		free(msg);
	} else if (code == 0) {
		finish(rec, RS_COMPLETED, 0, NULL);
	} else {
		char *msg = !WIFEXITED(procs[0].status) && !first_bad
				    ? xasprintf("killed by signal %d", WTERMSIG(procs[0].status))
				    : xasprintf("exited with code %d", code);
		finish(rec, RS_FAILED, code, msg);
		free(msg);
	}
	rc = 0;
out:
	if (notify_fd >= 0)
		close(notify_fd);
	free(procs);
	run_record_free(rec);
	diag_list_free(&diags);
	free(lockp);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}
