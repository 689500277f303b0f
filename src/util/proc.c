/* Children are started with fork() + execve() and a close-on-exec error
 * pipe (as Python's subprocess does) rather than posix_spawn(): the child
 * reports a failed chdir() or execve() through the pipe, so "not found" is an
 * error of the call and not an exit status 127 to guess about, and this
 * holds under valgrind too (which turns glibc's CLONE_VFORK posix_spawn into
 * a plain fork and loses its error reporting). Between fork() and execve()
 * the child calls only async-signal-safe functions: everything that
 * allocates (PATH search, the environment array) happens in the parent. */
/* pipe2() needs _GNU_SOURCE, which the build defines for every file.
 * O_CLOEXEC at creation matters: another fork() between pipe() and fcntl()
 * would leak the pipe into that child and keep end-of-file from coming. */

#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fs.h"

extern char **environ;

static bool is_output_piped(const proc_output *o)
{
	return o->file || o->capture;
}

static size_t env_name_len(const char *entry)
{
	return strcspn(entry, "=");
}

static bool same_env_name(const char *a, const char *b)
{
	size_t la = env_name_len(a), lb = env_name_len(b);
	return la == lb && !strncmp(a, b, la);
}

/* The caller's environment with `add` applied. The strings stay borrowed
 * (from environ and from add); only the array is new. */
static char **build_env(const char *const *add)
{
	size_t n = 0, m = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	for (const char *const *a = add; *a; a++)
		m++;
	char **envp = xcalloc(n + m + 1, sizeof(*envp));
	size_t k = 0;
	for (char **e = environ; e && *e; e++) {
		bool overridden = false;
		for (const char *const *a = add; *a && !overridden; a++)
			overridden = same_env_name(*e, *a);
		if (!overridden)
			envp[k++] = *e;
	}
	for (const char *const *a = add; *a; a++) {
		if (!strchr(*a, '='))
			continue; /* "NAME" alone: an unset, already done above */
		/* with the same name given twice, the last one wins */
		bool later = false;
		for (const char *const *b = a + 1; *b && !later; b++)
			later = same_env_name(*a, *b);
		if (!later)
			envp[k++] = (char *)*a;
	}
	envp[k] = NULL;
	return envp;
}

static const char *env_lookup(char *const *envp, const char *name)
{
	size_t nl = strlen(name);
	for (; *envp; envp++)
		if (!strncmp(*envp, name, nl) && (*envp)[nl] == '=')
			return *envp + nl + 1;
	return NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The fd the child's stream `target` gets, made > 2 in the parent: the
 * child dup2()s 0, 1, 2 in turn, and a source among 0..2 could already have
 * been overwritten (say stdout into a pipe, then stderr to the caller's fd
 * 1). *own is set when the fd is ours to close after the fork. Returns -1
 * for "leave as inherited" and -2 on error (errno set). */
static int child_source(int fd, bool write, int *own)
{
	*own = -1;
	if (fd == PROC_INHERIT || fd == PROC_TO_STDOUT)
		return -1;
	int d;
	if (fd == PROC_DEVNULL)
		d = open("/dev/null", (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	else if (fd >= 0)
		d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	else {
		errno = EINVAL;
		return -2;
	}
	if (d < 0)
		return -2;
	*own = d;
	return d;
}

/* What the child reports through the error pipe before _exit(127). */
typedef struct child_error {
	int stage; /* 1 chdir, 2 exec, 3 redirect */
	int err;
} child_error;

static void child_fail(int pipe_fd, int stage)
{
	child_error ce = { stage, errno };
	ssize_t w = write(pipe_fd, &ce, sizeof(ce));
	(void)w;
	_exit(127);
}

static const int reset_signals[] = { SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGALRM,
				     SIGUSR1, SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ };

/* In the child: async-signal-safe calls only. */
static void child_exec(const char *path, char *const argv[], char *const envp[], const proc_opts *o, int src[3],
		       int errpipe)
{
	if (o->new_process_group)
		setpgid(0, 0);
	if (o->cwd && chdir(o->cwd) < 0)
		child_fail(errpipe, 1);
	for (int t = 0; t < 3; t++)
		if (src[t] >= 0 && dup2(src[t], t) < 0)
			child_fail(errpipe, 3);
	if (o->err.fd == PROC_TO_STDOUT && !is_output_piped(&o->err) && dup2(1, 2) < 0)
		child_fail(errpipe, 3);
	/* execve keeps ignored signals ignored and the signal mask as it was:
	 * the child must not inherit what the caller chose to ignore or block
	 * (with SIGPIPE ignored, a writer into a closed pipe gets EPIPE errors
	 * instead of ending quietly; with SIGINT ignored, Ctrl-C misses it).
	 * Handled signals are reset by execve itself. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof(reset_signals) / sizeof(reset_signals[0]); i++)
		sigaction(reset_signals[i], &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(path, argv, envp);
	child_fail(errpipe, 2);
}

/* Starts the child. With piped outputs, *out_r / *err_r receive the read
 * ends (else -1). */
static int spawn_child(pid_t *pid_out, int *out_r, int *err_r, const char *const argv[], const proc_opts *o,
		       diag_list *diags)
{
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, errpipe[2] = { -1, -1 };
	int own[3] = { -1, -1, -1 };
	int src[3] = { -1, -1, -1 };
	char **envp = NULL;
	char *path = NULL;
	int rc = AML_OK;

	*out_r = *err_r = -1;
	if (!argv || !argv[0] || !*argv[0])
		return diag_error(diags, NULL, 0, 0, NULL, "no program to run (empty argv)");
	if (o->out.fd == PROC_TO_STDOUT && !is_output_piped(&o->out))
		return diag_error(diags, NULL, 0, 0, NULL, "proc: stdout cannot be redirected to itself");
	if (o->in_fd == PROC_TO_STDOUT)
		return diag_error(diags, NULL, 0, 0, NULL, "proc: stdin cannot come from stdout");

	envp = o->env ? build_env(o->env) : environ;
	if (strchr(argv[0], '/')) {
		path = xstrdup(argv[0]); /* relative: resolved by execve after the chdir */
	} else {
		path = proc_which(argv[0], env_lookup(envp, "PATH"));
		if (!path) {
			diag_error(diags, NULL, 0, 0, NULL, "cannot run '%s': not found on PATH", argv[0]);
			rc = AML_ENOTFOUND;
			goto done;
		}
	}

	src[0] = child_source(o->in_fd, false, &own[0]);
	if (src[0] == -2)
		goto sys_error;
	if (is_output_piped(&o->out)) {
		if (pipe2(outp, O_CLOEXEC) < 0)
			goto sys_error;
		src[1] = outp[1];
	} else if ((src[1] = child_source(o->out.fd, true, &own[1])) == -2) {
		goto sys_error;
	}
	if (is_output_piped(&o->err)) {
		if (pipe2(errp, O_CLOEXEC) < 0)
			goto sys_error;
		src[2] = errp[1];
	} else if ((src[2] = child_source(o->err.fd, true, &own[2])) == -2) {
		goto sys_error;
	}
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		goto sys_error;

	/* Signals stay blocked from fork() until the child has reset its
	 * dispositions: the caller's handlers must never run in the child. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid == 0)
		child_exec(path, (char *const *)argv, envp, o, src, errpipe[1]);
	int fork_errno = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		errno = fork_errno;
		goto sys_error;
	}
	if (o->new_process_group)
		setpgid(pid, pid); /* also here, so kill(-pid) works as soon as we return */
	close_fd(&errpipe[1]);

	child_error ce;
	ssize_t n;
	do
		n = read(errpipe[0], &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(ce)) {
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (ce.stage == 1)
			diag_error(diags, NULL, 0, 0, NULL, "cannot run '%s' in %s: %s", argv[0], o->cwd,
				   strerror(ce.err));
		else if (ce.stage == 2)
			diag_error(diags, NULL, 0, 0, NULL, "cannot run '%s': %s", argv[0], strerror(ce.err));
		else
			diag_error(diags, NULL, 0, 0, NULL, "cannot redirect the output of '%s': %s", argv[0],
				   strerror(ce.err));
		rc = ce.stage == 3 ? AML_EIO : AML_ENOTFOUND;
		goto done;
	}
	*pid_out = pid;
	*out_r = outp[0];
	*err_r = errp[0];
	outp[0] = errp[0] = -1;
	goto done;

sys_error:
	rc = diag_errno(diags, NULL, "cannot start '%s'", argv[0]);
done:
	/* the write ends belong to the child now; the parent must drop its
	 * copies or it would never see end-of-file */
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	close_fd(&errpipe[0]);
	close_fd(&errpipe[1]);
	for (int i = 0; i < 3; i++)
		close_fd(&own[i]);
	if (envp != environ)
		free(envp);
	free(path);
	return rc;
}

int proc_spawn(pid_t *pid, const char *const argv[], const proc_opts *opts, diag_list *diags)
{
	proc_opts defaults = PROC_OPTS_INIT;
	const proc_opts *o = opts ? opts : &defaults;
	if (is_output_piped(&o->out) || is_output_piped(&o->err))
		return diag_error(diags, NULL, 0, 0, NULL,
				  "proc_spawn cannot copy output to a FILE or buffer; use proc_run or an fd");
	int out_r, err_r;
	return spawn_child(pid, &out_r, &err_r, argv, o, diags);
}

static void deliver(const proc_output *o, const char *data, size_t n)
{
	if (o->file)
		fwrite(data, 1, n, o->file);
	if (o->capture)
		buf_add(o->capture, data, n);
}

/* Copies both pipes until both reach end-of-file. A read error ends that
 * stream only: losing output must not leave the child unreaped. */
static void pump(int out_r, const proc_output *out, int err_r, const proc_output *err)
{
	char chunk[16384];
	struct pollfd p[2] = { { out_r, POLLIN, 0 }, { err_r, POLLIN, 0 } };
	const proc_output *sink[2] = { out, err };
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		/* poll ignores negative fds */
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			ssize_t n = read(p[i].fd, chunk, sizeof(chunk));
			if (n > 0) {
				deliver(sink[i], chunk, (size_t)n);
				continue;
			}
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			close(p[i].fd);
			p[i].fd = -1;
		}
	}
	for (int i = 0; i < 2; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	if (out->file)
		fflush(out->file);
	if (err->file)
		fflush(err->file);
}

int proc_wait(proc_status *out, pid_t pid, diag_list *diags)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return diag_errno(diags, NULL, "waiting for process %ld", (long)pid);
	}
	if (WIFEXITED(st)) {
		out->exit_code = WEXITSTATUS(st);
		out->signal = 0;
	} else {
		out->exit_code = -1;
		out->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	}
	return AML_OK;
}

int proc_run(proc_status *out, const char *const argv[], const proc_opts *opts, diag_list *diags)
{
	proc_opts defaults = PROC_OPTS_INIT;
	const proc_opts *o = opts ? opts : &defaults;
	pid_t pid;
	int out_r, err_r;
	out->exit_code = -1;
	out->signal = 0;
	int rc = spawn_child(&pid, &out_r, &err_r, argv, o, diags);
	if (rc)
		return rc;
	if (out_r >= 0 || err_r >= 0)
		pump(out_r, &o->out, err_r, &o->err);
	return proc_wait(out, pid, diags);
}

bool proc_status_ok(const proc_status *s)
{
	return s->exit_code == 0 && s->signal == 0;
}

void proc_status_describe(buf *out, const proc_status *s)
{
	if (s->signal)
		buf_printf(out, "was killed by signal %d (%s)", s->signal, strsignal(s->signal));
	else
		buf_printf(out, "exited with status %d", s->exit_code);
}

static bool is_executable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *proc_which(const char *name, const char *path)
{
	if (!name || !*name)
		return NULL;
	if (strchr(name, '/'))
		return is_executable_file(name) ? fs_absolute(name) : NULL;
	if (!path)
		path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	const char *p = path;
	while (*p) {
		size_t len = strcspn(p, ":");
		if (len && p[0] == '/') {
			char *dir = xstrndup(p, len);
			char *cand = fs_join(dir, name);
			free(dir);
			if (is_executable_file(cand))
				return cand;
			free(cand);
		}
		p += len;
		if (*p == ':')
			p++;
	}
	return NULL;
}

static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,+@%-", *s))
			return true;
	return false;
}

void proc_format_argv(buf *out, const char *const argv[])
{
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			buf_putc(out, ' ');
		if (!needs_quotes(argv[i])) {
			buf_puts(out, argv[i]);
			continue;
		}
		buf_putc(out, '\'');
		for (const char *c = argv[i]; *c; c++) {
			if (*c == '\'')
				buf_puts(out, "'\\''");
			else
				buf_putc(out, *c);
		}
		buf_putc(out, '\'');
	}
}
