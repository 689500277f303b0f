/* remote: hosts, quoting, running programs, the runner protocol, snapshot
 * files and run-record mirrors shared by ssh.c and slurm.c (see remote.h). */
#include "target/remote.h"

#include <dirent.h>
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

#include "env/envdef.h"
#include "launch/launch.h"
#include "util/fs.h"
#include "util/git.h"
#include "util/git2_dyn.h"

extern const char remote_runner_py[];
extern const size_t remote_runner_py_len;

/* Reads the program from stdin (its length first), then runs it; the rest of
 * stdin (request and payload) is left for it. Constant text: no user value. */
static const char runner_loader[] =
	"import sys;b=sys.stdin.buffer;exec(compile(b.read(int(b.readline())),'amlspec-runner','exec'))";

/* ------------------------------------------------------------------ quoting */

static bool bare_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '/' || c == '-';
}

void remote_quote(buf *out, const char *word)
{
	bool bare = *word != '\0';
	for (const char *p = word; *p && bare; p++)
		bare = bare_word_char(*p);
	if (bare) {
		buf_puts(out, word);
		return;
	}
	buf_putc(out, '\'');
	for (const char *p = word; *p; p++) {
		if (*p == '\'')
			buf_puts(out, "'\\''");
		else
			buf_putc(out, *p);
	}
	buf_putc(out, '\'');
}

void remote_quote_argv(buf *out, const char *const *argv)
{
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			buf_putc(out, ' ');
		remote_quote(out, argv[i]);
	}
}

int remote_ssh_option_value(buf *out, const char *value)
{
	if (strpbrk(value, "\"\\\n\r") || strstr(value, "${"))
		return -1;
	bool space = strpbrk(value, " \t") != NULL;
	if (space)
		buf_putc(out, '"');
	for (const char *p = value; *p; p++) {
		if (*p == '%')
			buf_putc(out, '%');
		buf_putc(out, *p);
	}
	if (space)
		buf_putc(out, '"');
	return 0;
}

/* ------------------------------------------------------------------ hosts */

void remote_host_free(remote_host *h)
{
	if (!h)
		return;
	free(h->target);
	free(h->host);
	free(h->user);
	free(h->port);
	free(h->identity_file);
	free(h->known_hosts);
	free(h->control_dir);
	free(h->python);
	free(h->work_dir);
	free(h);
}

remote_host *remote_host_local(const char *target, const char *python, const char *work_dir)
{
	remote_host *h = xcalloc(1, sizeof(*h));
	h->local = true;
	h->target = xstrdup(target);
	h->python = xstrdup(python && *python ? python : "python3");
	h->work_dir = xstrdup(work_dir && *work_dir ? work_dir : "~/amlspec");
	return h;
}

char *remote_host_label(const remote_host *h)
{
	if (h->local)
		return xstrdup("this machine");
	return xasprintf("%s%s%s%s%s", h->user ? h->user : "", h->user ? "@" : "", h->host, h->port ? ":" : "",
			 h->port ? h->port : "");
}

/* The longest ControlPath folder: a socket path holds 107 bytes, and ssh
 * adds "/" + 40 hex (our name) + a 17-byte temporary suffix while it binds. */
#define CONTROL_DIR_MAX 48

static int private_dir(const char *dir, diag_list *diags)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return diag_errno(diags, dir, "cannot create the ssh control folder");
	struct stat st;
	if (lstat(dir, &st) < 0)
		return diag_errno(diags, dir, "cannot check the ssh control folder");
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return diag_error(diags, dir, 0, 0, NULL,
				  "the ssh control folder %s must be a folder owned by you with mode 0700 (it holds "
				  "sockets that reach your hosts); remove it or set AMLSPEC_SSH_CONTROL_DIR", dir);
	return AML_OK;
}

int remote_control_dir(char **out, diag_list *diags)
{
	*out = NULL;
	const char *env = getenv("AMLSPEC_SSH_CONTROL_DIR");
	char *dir = NULL;
	if (env && *env) {
		dir = xstrdup(env);
	} else {
		const char *rt = getenv("XDG_RUNTIME_DIR");
		if (rt && rt[0] == '/')
			dir = fs_join(rt, "amlspec-ssh");
		if (!dir || strlen(dir) > CONTROL_DIR_MAX) {
			free(dir);
			dir = xasprintf("/tmp/amlspec-ssh-%ld", (long)geteuid());
		}
	}
	if (strlen(dir) > CONTROL_DIR_MAX) {
		int rc = diag_error(diags, NULL, 0, 0, NULL,
				    "the ssh control folder %s is too long for a socket path (at most %d characters)", dir,
				    CONTROL_DIR_MAX);
		free(dir);
		return rc;
	}
	int rc = private_dir(dir, diags);
	if (rc) {
		free(dir);
		return rc;
	}
	*out = dir;
	return AML_OK;
}

static char *opt_path(const target_config *cfg, const char *key)
{
	const char *v = kvlist_get(&cfg->options, key);
	if (!v)
		return NULL;
	char *e = fs_expand_home(v);
	char *abs = fs_absolute(e);
	free(e);
	return abs;
}

int remote_host_from_ssh(remote_host **out, const target_config *cfg, diag_list *diags)
{
	*out = NULL;
	remote_host *h = xcalloc(1, sizeof(*h));
	int rc = AML_OK;
	const char *where = cfg->name;
	h->target = xstrdup(cfg->name);
	const char *host = kvlist_get(&cfg->options, "host");
	const char *user = kvlist_get(&cfg->options, "user");
	const char *port = kvlist_get(&cfg->options, "port");
	h->host = xstrdup(host ? host : "");
	h->user = user ? xstrdup(user) : NULL;
	h->port = port ? xstrdup(port) : NULL;
	h->identity_file = opt_path(cfg, "identity_file");
	h->known_hosts = opt_path(cfg, "known_hosts");
	const char *py = kvlist_get(&cfg->options, "python");
	const char *wd = kvlist_get(&cfg->options, "work_dir");
	h->python = xstrdup(py ? py : "python3");
	h->work_dir = xstrdup(wd ? wd : "~/amlspec");

	if (!*h->host || h->host[0] == '-' || strpbrk(h->host, " \t\n\r'\"\\"))
		rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: host '%s' is not a host name or address", where,
				h->host);
	if (h->user && (h->user[0] == '-' || strpbrk(h->user, " \t\n\r'\"\\@")))
		rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: user '%s' is not a user name", where, h->user);
	buf tmp = BUF_INIT;
	if (h->identity_file) {
		if (remote_ssh_option_value(&tmp, h->identity_file) < 0)
			rc = diag_error(diags, NULL, 0, 0, NULL,
					"target %s: identity_file %s has characters ssh would misread (\", \\, ${)", where,
					h->identity_file);
		else if (!fs_is_file(h->identity_file))
			rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: identity_file %s does not exist", where,
					h->identity_file);
	}
	buf_clear(&tmp);
	if (h->known_hosts) {
		if (remote_ssh_option_value(&tmp, h->known_hosts) < 0)
			rc = diag_error(diags, NULL, 0, 0, NULL,
					"target %s: known_hosts %s has characters ssh would misread (\", \\, ${)", where,
					h->known_hosts);
		else if (!fs_is_file(h->known_hosts))
			rc = diag_error(diags, NULL, 0, 0, NULL,
					"target %s: known_hosts %s does not exist (host key checking is always on; "
					"create it with ssh-keyscan, checking the key)", where, h->known_hosts);
	}
	buf_free(&tmp);
	if (!rc)
		rc = remote_control_dir(&h->control_dir, diags);
	if (rc) {
		remote_host_free(h);
		return rc;
	}
	*out = h;
	return AML_OK;
}

static void add_opt(strlist *l, const char *kv)
{
	strlist_add(l, "-o");
	strlist_add(l, kv);
}

void remote_ssh_argv(strlist *out, const remote_host *h, const char *const *words)
{
	buf b = BUF_INIT;
	strlist_add(out, "ssh");
	add_opt(out, "BatchMode=yes");
	add_opt(out, "StrictHostKeyChecking=yes");
	/* always named, so that ssh never writes ~/.ssh/known_hosts itself */
	char *kh = h->known_hosts ? xstrdup(h->known_hosts) : fs_expand_home("~/.ssh/known_hosts");
	buf_puts(&b, "UserKnownHostsFile=");
	if (remote_ssh_option_value(&b, kh) == 0)
		add_opt(out, b.ptr);
	free(kh);
	add_opt(out, "ControlMaster=auto");
	/* one master per connection setting, not only per user@host:port (ssh's
	 * %C): a target with another known_hosts or key must not ride on a
	 * connection that was checked and authenticated for a different one */
	buf_clear(&b);
	buf_printf(&b, "%s\n%s\n%s\n%s\n%s", h->user ? h->user : "", h->host, h->port ? h->port : "",
		   h->identity_file ? h->identity_file : "", h->known_hosts ? h->known_hosts : "");
	char hex[65];
	sha256_hex(b.ptr, b.len, hex);
	hex[40] = '\0';
	buf_clear(&b);
	buf_printf(&b, "ControlPath=%s/%s", h->control_dir, hex);
	add_opt(out, b.ptr);
	add_opt(out, "ControlPersist=60");
	add_opt(out, "ConnectTimeout=20");
	add_opt(out, "ServerAliveInterval=15");
	add_opt(out, "ServerAliveCountMax=4");
	add_opt(out, "ForwardAgent=no");
	add_opt(out, "ForwardX11=no");
	add_opt(out, "RequestTTY=no");
	add_opt(out, "LogLevel=ERROR");
	if (h->identity_file) {
		buf_clear(&b);
		buf_puts(&b, "IdentityFile=");
		remote_ssh_option_value(&b, h->identity_file);
		add_opt(out, b.ptr);
		add_opt(out, "IdentitiesOnly=yes");
	}
	if (h->port) {
		strlist_add(out, "-p");
		strlist_add(out, h->port);
	}
	if (h->user) {
		strlist_add(out, "-l");
		strlist_add(out, h->user);
	}
	strlist_add(out, "--");
	strlist_add(out, h->host);
	if (words && words[0]) {
		buf_clear(&b);
		remote_quote_argv(&b, words);
		strlist_add(out, b.ptr);
	}
	buf_free(&b);
}

/* ------------------------------------------------------------------ running programs */

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int write_all_fd(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int deliver_out(const remote_io *io, const char *data, size_t n)
{
	if (io->out)
		buf_add(io->out, data, n);
	if (io->out_fd >= 0 && write_all_fd(io->out_fd, data, n) < 0)
		return -1;
	if (io->on_out && io->on_out(io->on_out_ctx, data, n) < 0)
		return -1;
	return 0;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct child {
	pid_t pid;
	int in, out, err; /* our ends: its stdin, stdout, stderr */
} child;

/* Starts argv with three pipes (ours close-on-exec, non-blocking). A program
 * that cannot be started is an error of the call (AML_ENOTFOUND), reported
 * through a close-on-exec pipe, not an exit status 127 to guess about.
 * (util/proc's proc_run takes stdin from an fd; the runner needs a request
 * and its payload written while its answers are read, so this has its own
 * loop.) */
static int spawn_child(child *c, const char *const *argv, diag_list *diags)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, ep[2] = { -1, -1 };
	c->pid = -1;
	c->in = c->out = c->err = -1;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    pipe2(ep, O_CLOEXEC) < 0) {
		int rc = diag_errno(diags, NULL, "pipe");
		int *all[] = { in, out, err, ep };
		for (size_t i = 0; i < 4; i++)
			for (size_t k = 0; k < 2; k++)
				if (all[i][k] >= 0)
					close(all[i][k]);
		return rc;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		sigset_t empty;
		sigemptyset(&empty);
		sigprocmask(SIG_SETMASK, &empty, NULL);
		execvp(argv[0], (char *const *)argv);
		int e = errno;
		if (write(ep[1], &e, sizeof(e)) < 0) {
			/* nothing more to do */
		}
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	close(ep[1]);
	if (pid < 0) {
		int rc = diag_errno(diags, NULL, "fork");
		close(in[1]);
		close(out[0]);
		close(err[0]);
		close(ep[0]);
		return rc;
	}
	int exec_errno = 0;
	ssize_t en;
	while ((en = read(ep[0], &exec_errno, sizeof(exec_errno))) < 0 && errno == EINTR)
		;
	close(ep[0]);
	if (en == (ssize_t)sizeof(exec_errno)) {
		close(in[1]);
		close(out[0]);
		close(err[0]);
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		errno = exec_errno;
		diag_errno(diags, NULL, "cannot run %s", argv[0]);
		return AML_ENOTFOUND;
	}
	set_nonblock(in[1]);
	set_nonblock(out[0]);
	set_nonblock(err[0]);
	c->pid = pid;
	c->in = in[1];
	c->out = out[0];
	c->err = err[0];
	return AML_OK;
}

static int exit_code_of(int wstatus)
{
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

int remote_run_local(int *status, const char *const *argv, const remote_io *io, diag_list *diags)
{
	static const remote_io none = REMOTE_IO_INIT;
	if (!io)
		io = &none;
	*status = -1;
	struct sigaction ign = { 0 }, old_pipe;
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old_pipe);
	child ch;
	int rc = spawn_child(&ch, argv, diags);
	if (rc) {
		sigaction(SIGPIPE, &old_pipe, NULL);
		return rc;
	}
	pid_t pid = ch.pid;
	buf pending = BUF_INIT;
	size_t pend_off = 0;
	if (io->input && io->input_len)
		buf_add(&pending, io->input, io->input_len);
	bool feed_done = io->feed == NULL;
	int infd = ch.in, outfd = ch.out, errfd = ch.err;
	double deadline = io->timeout > 0 ? mono_now() + io->timeout : 0;
	double drain_until = 0;
	bool exited = false, killed = false;
	int wstatus = 0;
	char rb[65536];

	while (outfd >= 0 || errfd >= 0 || infd >= 0) {
		/* refill stdin */
		if (infd >= 0 && pend_off == pending.len) {
			buf_clear(&pending);
			pend_off = 0;
			while (!feed_done && pending.len < 65536) {
				int f = io->feed(io->feed_ctx, &pending, diags);
				if (f < 0) {
					rc = AML_ERROR;
					feed_done = true;
					kill(pid, SIGKILL);
					killed = true;
				} else if (f == 1) {
					feed_done = true;
				}
			}
			if (pending.len == 0 && feed_done) {
				close(infd);
				infd = -1;
			}
		}
		if (exited && infd >= 0) {
			close(infd);
			infd = -1;
		}
		struct pollfd pf[3];
		int n = 0, iin = -1, iout = -1, ierr = -1;
		if (infd >= 0) {
			pf[n] = (struct pollfd){ infd, POLLOUT, 0 };
			iin = n++;
		}
		if (outfd >= 0) {
			pf[n] = (struct pollfd){ outfd, POLLIN, 0 };
			iout = n++;
		}
		if (errfd >= 0) {
			pf[n] = (struct pollfd){ errfd, POLLIN, 0 };
			ierr = n++;
		}
		if (n == 0)
			break;
		int pr = poll(pf, (nfds_t)n, 100);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr > 0) {
			if (iin >= 0 && pf[iin].revents) {
				ssize_t w = write(infd, pending.ptr + pend_off, pending.len - pend_off);
				if (w > 0) {
					pend_off += (size_t)w;
				} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
					/* the program stopped reading: what it says next tells why */
					close(infd);
					infd = -1;
				}
			}
			if (iout >= 0 && pf[iout].revents) {
				ssize_t r = read(outfd, rb, sizeof(rb));
				if (r > 0) {
					if (deliver_out(io, rb, (size_t)r) < 0 && !killed) {
						kill(pid, SIGKILL);
						killed = true;
						rc = AML_EIO;
					}
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					close(outfd);
					outfd = -1;
				}
			}
			if (ierr >= 0 && pf[ierr].revents) {
				ssize_t r = read(errfd, rb, sizeof(rb));
				if (r > 0) {
					if (io->err)
						buf_add(io->err, rb, (size_t)r);
					if (io->progress) {
						fwrite(rb, 1, (size_t)r, io->progress);
						fflush(io->progress);
					}
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					close(errfd);
					errfd = -1;
				}
			}
		}
		if (!exited) {
			pid_t w = waitpid(pid, &wstatus, WNOHANG);
			if (w == pid) {
				exited = true;
				/* something the program started may hold its pipes: read
				 * what is there, then stop waiting for EOF */
				drain_until = mono_now() + 1.0;
			}
		}
		if (exited && mono_now() > drain_until)
			break;
		if (deadline && !killed && mono_now() > deadline) {
			kill(pid, SIGKILL);
			killed = true;
			diag_error(diags, NULL, 0, 0, NULL, "%s did not finish within %.0f s and was stopped", argv[0],
				   io->timeout);
			rc = AML_EIO;
		}
	}
	if (infd >= 0)
		close(infd);
	if (outfd >= 0)
		close(outfd);
	if (errfd >= 0)
		close(errfd);
	if (!exited)
		while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
			;
	buf_free(&pending);
	sigaction(SIGPIPE, &old_pipe, NULL);
	*status = exit_code_of(wstatus);
	return rc;
}

/* ssh's own failures (exit 255) in words a user can act on. */
static int ssh_failure(const remote_host *h, const char *err, diag_list *diags)
{
	char *label = remote_host_label(h);
	const char *e = err ? err : "";
	int rc;
	if (strstr(e, "Host key verification failed") || strstr(e, "No ED25519 host key is known") ||
	    strstr(e, "host key is known") || strstr(e, "REMOTE HOST IDENTIFICATION HAS CHANGED")) {
		rc = diag_error(diags, NULL, 0, 0, NULL,
				"target %s: the host key of %s is not in %s (or does not match it); host key checking "
				"stays on: add the host's key to that file (ssh-keyscan%s%s %s, after checking the "
				"fingerprint) or name another file with known_hosts: in amlspec.yaml",
				h->target, label, h->known_hosts ? h->known_hosts : "~/.ssh/known_hosts", h->port ? " -p " : "",
				h->port ? h->port : "", h->host);
	} else if (strstr(e, "Permission denied")) {
		rc = diag_error(diags, NULL, 0, 0, NULL,
				"target %s: %s refused the login (%s); check user: and identity_file: in amlspec.yaml",
				h->target, label, e);
	} else {
		rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: cannot reach %s: %s", h->target, label,
				*e ? e : "ssh failed without a message");
	}
	free(label);
	return rc;
}

static char *first_lines(const buf *b, size_t max)
{
	size_t n = b->len;
	while (n && (b->ptr[n - 1] == '\n' || b->ptr[n - 1] == '\r'))
		n--;
	if (n > max)
		n = max;
	char *s = xstrndup(b->ptr, n);
	for (char *p = s; *p; p++)
		if (*p == '\r')
			*p = ' ';
	return s;
}

int remote_exec(int *status, const remote_host *h, const char *const *argv, const remote_io *io, diag_list *diags)
{
	if (h->local)
		return remote_run_local(status, argv, io, diags);
	static const remote_io none = REMOTE_IO_INIT;
	remote_io my = io ? *io : none;
	buf err = BUF_INIT;
	if (!my.err)
		my.err = &err;
	strlist args = STRLIST_INIT;
	remote_ssh_argv(&args, h, argv);
	strlist_add_owned(&args, NULL);
	int rc = remote_run_local(status, (const char *const *)args.items, &my, diags);
	if (rc == AML_OK && *status == 255) {
		char *msg = first_lines(my.err, 600);
		ssh_failure(h, msg, diags);
		rc = AML_EIO;
		free(msg);
	}
	if (rc == AML_ENOTFOUND)
		rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: the OpenSSH client (ssh) is not installed here",
				h->target);
	strlist_free(&args);
	buf_free(&err);
	return rc;
}

/* ------------------------------------------------------------------ the runner */

/* The runner's own failures, from its exit status and what it printed. */
static int runner_failure(const remote_host *h, const char *python, int status, const buf *err, diag_list *diags)
{
	char *label = remote_host_label(h);
	char *msg = first_lines(err, 2000);
	if (!h->local && status == 255)
		ssh_failure(h, msg, diags);
	else if (status == 127) {
		diag_error(diags, NULL, 0, 0, NULL,
			   "target %s: python interpreter '%s' not found on %s (set python: for the target)", h->target,
			   python, label);
		free(msg);
		free(label);
		return AML_ENOTFOUND;
	}
	else
		diag_error(diags, NULL, 0, 0, NULL, "target %s: the runner on %s failed (status %d)%s%s", h->target,
			   label, status, *msg ? ": " : "", msg);
	free(msg);
	free(label);
	return AML_EIO;
}

static void runner_argv(strlist *out, const remote_host *h, const char *python)
{
	const char *words[] = { python, "-c", runner_loader, NULL };
	if (h->local) {
		for (size_t i = 0; words[i]; i++)
			strlist_add(out, words[i]);
	} else {
		remote_ssh_argv(out, h, words);
	}
	strlist_add_owned(out, NULL);
}

static void runner_program(buf *b)
{
	buf_printf(b, "%zu\n", remote_runner_py_len);
	buf_add(b, remote_runner_py, remote_runner_py_len);
}

static void request_line(buf *b, json_object *req)
{
	buf_puts(b, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_putc(b, '\n');
}

/* One runner process per host and interpreter serves every call of this
 * command: a remote command costs a login shell and a Python start each,
 * which dominate a call (hundreds of milliseconds with a busy .bashrc). */
typedef struct session {
	char *key;
	const remote_host *host; /* for messages; valid during a call only */
	child ch;
	buf err;                 /* what it printed on stderr (last call) */
	bool fresh;              /* not used for a call yet */
} session;

#define MAX_SESSIONS 8
static session sessions[MAX_SESSIONS];
static bool sessions_hooked;

static void session_end(session *s)
{
	if (s->ch.in >= 0)
		close(s->ch.in);
	if (s->ch.out >= 0)
		close(s->ch.out);
	if (s->ch.err >= 0)
		close(s->ch.err);
	if (s->ch.pid > 0) {
		/* end of its input ends it; do not wait long for a stuck one */
		int st;
		double until = mono_now() + 2.0;
		while (waitpid(s->ch.pid, &st, WNOHANG) == 0) {
			if (mono_now() > until) {
				kill(s->ch.pid, SIGKILL);
				while (waitpid(s->ch.pid, &st, 0) < 0 && errno == EINTR)
					;
				break;
			}
			struct timespec ts = { 0, 2000000L };
			nanosleep(&ts, NULL);
		}
	}
	free(s->key);
	buf_free(&s->err);
	memset(s, 0, sizeof(*s));
	s->ch.in = s->ch.out = s->ch.err = -1;
}

static void sessions_end_all(void)
{
	for (size_t i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].key)
			session_end(&sessions[i]);
}

void remote_sessions_close(void)
{
	sessions_end_all();
}

static char *session_key(const remote_host *h, const char *python)
{
	char *label = remote_host_label(h);
	char *k = xasprintf("%s|%s|%s|%s|%s", label, h->identity_file ? h->identity_file : "",
			    h->known_hosts ? h->known_hosts : "", h->control_dir ? h->control_dir : "", python);
	free(label);
	return k;
}

static session *session_get(const remote_host *h, const char *python, diag_list *diags)
{
	char *key = session_key(h, python);
	session *free_slot = NULL;
	for (size_t i = 0; i < MAX_SESSIONS; i++) {
		if (sessions[i].key && !strcmp(sessions[i].key, key)) {
			free(key);
			return &sessions[i];
		}
		if (!sessions[i].key && !free_slot)
			free_slot = &sessions[i];
	}
	if (!free_slot) {
		session_end(&sessions[0]); /* more hosts than slots: the oldest goes */
		free_slot = &sessions[0];
	}
	if (!sessions_hooked) {
		atexit(sessions_end_all);
		sessions_hooked = true;
	}
	strlist argv = STRLIST_INIT;
	runner_argv(&argv, h, python);
	child ch;
	int rc = spawn_child(&ch, (const char *const *)argv.items, diags);
	strlist_free(&argv);
	if (rc) {
		free(key);
		if (rc == AML_ENOTFOUND && !h->local)
			diag_error(diags, NULL, 0, 0, NULL, "target %s: the OpenSSH client (ssh) is not installed here",
				   h->target);
		else if (rc == AML_ENOTFOUND)
			diag_error(diags, NULL, 0, 0, NULL, "target %s: python interpreter '%s' not found here", h->target,
				   python);
		return NULL;
	}
	session *s = free_slot;
	memset(s, 0, sizeof(*s));
	s->key = key;
	s->ch = ch;
	s->err = (buf)BUF_INIT;
	s->fresh = true;
	return s;
}

/* Sends a request (and the runner's program first, on a new session) and
 * reads one answer with its payload. */
static int session_call(session *s, const remote_host *h, const char *python, const remote_call *c, json_object **resp,
			buf *payload, bool *answered, diag_list *diags)
{
	*answered = false;
	buf pending = BUF_INIT, out = BUF_INIT;
	size_t pend_off = 0;
	if (s->fresh)
		runner_program(&pending);
	s->fresh = false;
	request_line(&pending, c->request);
	buf_clear(&s->err);
	bool feed_done = c->feed == NULL;
	size_t line_end = 0, need = 0; /* bytes of the answer: line + payload */
	json_object *j = NULL;
	double deadline = c->timeout > 0 ? mono_now() + c->timeout : 0;
	int rc = AML_OK;
	bool eof = false, writing = true;
	char rb[65536];

	struct sigaction ign = { 0 }, old_pipe;
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old_pipe);
	for (;;) {
		if (writing && pend_off == pending.len) {
			buf_clear(&pending);
			pend_off = 0;
			while (!feed_done && pending.len < 65536) {
				int f = c->feed(c->feed_ctx, &pending, diags);
				if (f < 0) {
					rc = AML_ERROR;
					goto broken;
				}
				feed_done = f == 1;
			}
			if (pending.len == 0)
				writing = false;
		}
		if (need && out.len >= need)
			break;
		if (eof)
			break;
		struct pollfd pf[3];
		int n = 0, iin = -1, iout = -1, ierr = -1;
		if (writing) {
			pf[n] = (struct pollfd){ s->ch.in, POLLOUT, 0 };
			iin = n++;
		}
		pf[n] = (struct pollfd){ s->ch.out, POLLIN, 0 };
		iout = n++;
		if (s->ch.err >= 0) {
			pf[n] = (struct pollfd){ s->ch.err, POLLIN, 0 };
			ierr = n++;
		}
		int pr = poll(pf, (nfds_t)n, 200);
		if (pr < 0 && errno != EINTR) {
			rc = diag_errno(diags, NULL, "poll");
			goto broken;
		}
		if (pr > 0) {
			if (iin >= 0 && pf[iin].revents) {
				ssize_t w = write(s->ch.in, pending.ptr + pend_off, pending.len - pend_off);
				if (w > 0)
					pend_off += (size_t)w;
				else if (w < 0 && errno != EAGAIN && errno != EINTR)
					writing = false; /* it stopped reading: its answer or its end says why */
			}
			if (pf[iout].revents) {
				ssize_t r = read(s->ch.out, rb, sizeof(rb));
				if (r > 0)
					buf_add(&out, rb, (size_t)r);
				else if (r == 0 || (errno != EAGAIN && errno != EINTR))
					eof = true;
			}
			if (ierr >= 0 && pf[ierr].revents) {
				ssize_t r = read(s->ch.err, rb, sizeof(rb));
				if (r > 0) {
					buf_add(&s->err, rb, (size_t)r);
					if (c->progress) {
						fwrite(rb, 1, (size_t)r, c->progress);
						fflush(c->progress);
					}
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					close(s->ch.err);
					s->ch.err = -1;
				}
			}
		}
		if (!line_end) {
			const char *nl = memchr(out.ptr, '\n', out.len);
			if (nl) {
				line_end = (size_t)(nl - out.ptr) + 1;
				char *line = xstrndup(out.ptr, line_end - 1);
				j = json_tokener_parse(line);
				free(line);
				if (!j || !json_object_is_type(j, json_type_object)) {
					char *m = first_lines(&out, 300);
					diag_error(diags, NULL, 0, 0, NULL, "target %s: the runner answered nonsense: %s",
						   h->target, m);
					free(m);
					rc = AML_EIO;
					goto broken;
				}
				need = line_end;
				json_object *parts;
				if (json_object_object_get_ex(j, "payload", &parts))
					for (size_t i = 0; i < json_object_array_length(parts); i++)
						need += (size_t)json_object_get_int64(
							json_object_array_get_idx(json_object_array_get_idx(parts, i), 1));
			}
		}
		if (deadline && mono_now() > deadline) {
			diag_error(diags, NULL, 0, 0, NULL, "target %s: the runner did not answer within %.0f s", h->target,
				   c->timeout);
			rc = AML_EIO;
			goto broken;
		}
	}
	if (!need || out.len < need) {
		/* it ended without a (whole) answer: why */
		int st = 0;
		double until = mono_now() + 2.0;
		pid_t w;
		while ((w = waitpid(s->ch.pid, &st, WNOHANG)) == 0 && mono_now() < until) {
			/* its last words */
			ssize_t r;
			while (s->ch.err >= 0 && (r = read(s->ch.err, rb, sizeof(rb))) > 0)
				buf_add(&s->err, rb, (size_t)r);
			struct timespec ts = { 0, 5000000L };
			nanosleep(&ts, NULL);
		}
		if (w == s->ch.pid)
			s->ch.pid = -1;
		rc = runner_failure(h, python, w > 0 ? exit_code_of(st) : -1, &s->err, diags);
		goto broken;
	}
	*answered = true;
	*resp = j;
	j = NULL;
	if (payload)
		buf_add(payload, out.ptr + line_end, need - line_end);
	json_object *closing;
	if (json_object_object_get_ex(*resp, "closing", &closing) && json_object_get_boolean(closing))
		session_end(s);
	goto done;
broken:
	session_end(s);
done:
	sigaction(SIGPIPE, &old_pipe, NULL);
	json_object_put(j);
	buf_free(&pending);
	buf_free(&out);
	return rc;
}

/* A one-shot runner whose output is a stream ("follow"). */
static int runner_stream(const remote_host *h, const char *python, const remote_call *c, diag_list *diags)
{
	buf input = BUF_INIT, err = BUF_INIT;
	runner_program(&input);
	request_line(&input, c->request);
	remote_io io = REMOTE_IO_INIT;
	io.input = input.ptr;
	io.input_len = input.len;
	io.out_fd = c->stream_fd;
	io.on_out = c->on_stream;
	io.on_out_ctx = c->on_stream_ctx;
	io.err = &err;
	io.progress = c->progress;
	io.timeout = c->timeout;
	strlist argv = STRLIST_INIT;
	runner_argv(&argv, h, python);
	int status = -1;
	int rc = remote_run_local(&status, (const char *const *)argv.items, &io, diags);
	if (rc == AML_ENOTFOUND)
		rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: cannot start %s", h->target, argv.items[0]);
	else if (!rc && status != 0)
		rc = runner_failure(h, python, status, &err, diags);
	strlist_free(&argv);
	buf_free(&input);
	buf_free(&err);
	return rc ? AML_EIO : AML_OK;
}

int remote_runner(json_object **resp, buf *payload, const remote_host *h, const remote_call *c, diag_list *diags)
{
	*resp = NULL;
	const char *python = c->python && *c->python ? c->python : h->python;
	if (c->stream_fd >= 0 || c->on_stream)
		return runner_stream(h, python, c, diags);
	const char *action = NULL;
	json_object *a;
	if (json_object_object_get_ex(c->request, "action", &a))
		action = json_object_get_string(a);
	/* a reused session may have lost its connection: calls that change
	 * nothing on the host are tried once more on a new one */
	bool retry_ok = action && (!strcmp(action, "hello") || !strcmp(action, "poll"));
	bool other_python = false;
	for (int attempt = 0; attempt < 3; attempt++) {
		session *s = session_get(h, python, diags);
		if (!s)
			return AML_EIO;
		bool reused = !s->fresh, answered = false;
		diag_list mine = DIAG_LIST_INIT;
		int rc = session_call(s, h, python, c, resp, payload, &answered, &mine);
		if (rc && !answered && reused && retry_ok && attempt == 0) {
			diag_list_free(&mine);
			continue;
		}
		if (rc == AML_ENOTFOUND && !other_python && strcmp(python, h->python)) {
			/* the interpreter remembered for this run is gone (an upgraded
			 * host): the target's own python runs the runner as well */
			other_python = true;
			python = h->python;
			diag_list_free(&mine);
			continue;
		}
		diag_list_move(diags, &mine);
		diag_list_free(&mine);
		return rc ? AML_EIO : AML_OK;
	}
	return AML_EIO;
}

bool remote_payload_part(json_object *resp, const buf *payload, const char *name, const char **data, size_t *len)
{
	json_object *parts;
	*data = NULL;
	*len = 0;
	if (!json_object_object_get_ex(resp, "payload", &parts) || !json_object_is_type(parts, json_type_array))
		return false;
	size_t off = 0;
	for (size_t i = 0; i < json_object_array_length(parts); i++) {
		json_object *p = json_object_array_get_idx(parts, i);
		const char *n = json_object_get_string(json_object_array_get_idx(p, 0));
		int64_t sz = json_object_get_int64(json_object_array_get_idx(p, 1));
		if (sz < 0 || off + (size_t)sz > payload->len)
			return false;
		if (n && !strcmp(n, name)) {
			*data = payload->ptr + off;
			*len = (size_t)sz;
			return true;
		}
		off += (size_t)sz;
	}
	return false;
}

/* ------------------------------------------------------------------ snapshots */

static int git_fail(diag_list *diags, const char *what)
{
	return diag_error(diags, NULL, 0, 0, NULL, "%s: %s", what, amlgit_error());
}

typedef struct walk_ctx {
	remote_tree *t;
	size_t alloc;
	git_odb *odb;
	json_object *sizes;
	int rc;
} walk_ctx;

static int walk_cb(const char *root, const git_tree_entry *entry, void *payload)
{
	walk_ctx *w = payload;
	git_filemode_t mode = git_tree_entry_filemode(entry);
	if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE && mode != GIT_FILEMODE_LINK)
		return 0; /* trees are walked into; submodules are not part of a snapshot */
	size_t len = 0;
	git_object_t type;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(entry));
	json_object *known;
	if (w->sizes && json_object_object_get_ex(w->sizes, hex, &known) && json_object_get_int64(known) >= 0 &&
	    json_object_is_type(known, json_type_int)) {
		len = (size_t)json_object_get_int64(known);
	} else if (git_odb_read_header(&len, &type, w->odb, git_tree_entry_id(entry)) < 0) {
		w->rc = -1;
		return -1;
	}
	if (w->t->count == w->alloc) {
		w->alloc = w->alloc ? w->alloc * 2 : 64;
		w->t->files = xrealloc(w->t->files, w->alloc * sizeof(*w->t->files));
	}
	remote_file *f = &w->t->files[w->t->count++];
	f->path = xasprintf("%s%s", root, git_tree_entry_name(entry));
	f->mode = (unsigned)mode;
	memcpy(f->blob, hex, sizeof(f->blob));
	f->size = len;
	return 0;
}

int remote_tree_list(remote_tree *out, const char *store, const char *tree_id, json_object *sizes,
		     diag_list *diags)
{
	memset(out, 0, sizeof(*out));
	if (amlgit_init())
		return git_fail(diags, "cannot start libgit2");
	git_repository *repo = NULL;
	git_tree *tree = NULL;
	git_odb *odb = NULL;
	git_oid oid;
	int rc = AML_OK;
	if (git_repository_open_bare(&repo, store) < 0) {
		rc = git_fail(diags, "cannot open the snapshot store");
		goto done;
	}
	if (git_oid_fromstr(&oid, tree_id) < 0 || git_tree_lookup(&tree, repo, &oid) < 0) {
		rc = git_fail(diags, "cannot read the snapshot");
		goto done;
	}
	if (git_repository_odb(&odb, repo) < 0) {
		rc = git_fail(diags, "cannot read the snapshot store");
		goto done;
	}
	walk_ctx w = { out, 0, odb, sizes, 0 };
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, walk_cb, &w) < 0 || w.rc) {
		rc = git_fail(diags, "cannot list the snapshot's files");
		goto done;
	}
done:
	if (rc)
		remote_tree_free(out);
	git_odb_free(odb);
	git_tree_free(tree);
	git_repository_free(repo);
	amlgit_shutdown();
	return rc;
}

void remote_tree_free(remote_tree *t)
{
	for (size_t i = 0; i < t->count; i++)
		free(t->files[i].path);
	free(t->files);
	memset(t, 0, sizeof(*t));
}

json_object *remote_tree_json(const remote_tree *t)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < t->count; i++) {
		json_object *f = json_object_new_array();
		json_object_array_add(f, json_object_new_string(t->files[i].path));
		json_object_array_add(f, json_object_new_int64(t->files[i].mode));
		json_object_array_add(f, json_object_new_string(t->files[i].blob));
		json_object_array_add(f, json_object_new_int64((int64_t)t->files[i].size));
		json_object_array_add(a, f);
	}
	return a;
}

int remote_blob_feed_fn(void *ctx, buf *chunk, diag_list *diags)
{
	remote_blob_feed *f = ctx;
	if (f->next >= f->blobs->count)
		return 1;
	if (!f->repo) {
		if (amlgit_init())
			return git_fail(diags, "cannot start libgit2");
		git_repository *r = NULL;
		if (git_repository_open_bare(&r, f->store) < 0) {
			int rc = git_fail(diags, "cannot open the snapshot store");
			amlgit_shutdown();
			return rc;
		}
		f->repo = r;
	}
	git_oid oid;
	git_blob *blob = NULL;
	if (git_oid_fromstr(&oid, f->blobs->items[f->next]) < 0 || git_blob_lookup(&blob, f->repo, &oid) < 0)
		return git_fail(diags, "cannot read a file of the snapshot");
	buf_add(chunk, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	f->next++;
	return f->next >= f->blobs->count ? 1 : 0;
}

void remote_blob_feed_close(remote_blob_feed *f)
{
	if (f->repo) {
		git_repository_free(f->repo);
		amlgit_shutdown();
		f->repo = NULL;
	}
}

/* ------------------------------------------------------------------ host cache */

static char *cache_key(const remote_host *h)
{
	if (h->local)
		return xasprintf("local|%s", h->work_dir);
	return xasprintf("%s@%s:%s|%s", h->user ? h->user : "", h->host, h->port ? h->port : "", h->work_dir);
}

void remote_cache_load(remote_cache *c, const char *state_dir, const remote_host *h)
{
	char *dir = fs_join(state_dir, "remote");
	char *name = xasprintf("%s.json", h->target);
	c->path = fs_join(dir, name);
	free(name);
	free(dir);
	c->doc = NULL;
	char *key = cache_key(h);
	json_object *d = json_object_from_file(c->path);
	json_object *k;
	if (d && json_object_is_type(d, json_type_object) && json_object_object_get_ex(d, "key", &k) &&
	    !strcmp(json_object_get_string(k), key)) {
		c->doc = d;
	} else {
		json_object_put(d);
		c->doc = json_object_new_object();
		json_object_object_add(c->doc, "key", json_object_new_string(key));
	}
	json_object *x;
	if (!json_object_object_get_ex(c->doc, "blobs", &x) || !json_object_is_type(x, json_type_object))
		json_object_object_add(c->doc, "blobs", json_object_new_object());
	if (!json_object_object_get_ex(c->doc, "pythons", &x) || !json_object_is_type(x, json_type_object))
		json_object_object_add(c->doc, "pythons", json_object_new_object());
	free(key);
}

int remote_cache_save(remote_cache *c, diag_list *diags)
{
	char *dir = fs_dirname(c->path);
	int rc = AML_OK;
	if (fs_mkdirs(dir, 0700) < 0) {
		rc = diag_errno(diags, dir, "cannot create");
	} else {
		const char *text = json_object_to_json_string_ext(c->doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		if (fs_write_atomic(c->path, text, strlen(text), 0600) < 0)
			rc = diag_errno(diags, c->path, "cannot write");
	}
	free(dir);
	return rc;
}

void remote_cache_free(remote_cache *c)
{
	free(c->path);
	json_object_put(c->doc);
	c->path = NULL;
	c->doc = NULL;
}

const char *remote_cache_str(const remote_cache *c, const char *key)
{
	json_object *v;
	if (!c->doc || !json_object_object_get_ex(c->doc, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int remote_cache_hello(remote_cache *c, const remote_host *h, diag_list *diags)
{
	remote_call call = REMOTE_CALL_INIT;
	call.request = json_object_new_object();
	json_object_object_add(call.request, "action", json_object_new_string("hello"));
	json_object_object_add(call.request, "work_dir", json_object_new_string(h->work_dir));
	call.timeout = 120;
	json_object *resp = NULL;
	int rc = remote_runner(&resp, NULL, h, &call, diags);
	json_object_put(call.request);
	if (rc)
		return rc;
	json_object *ok, *v;
	if (!json_object_object_get_ex(resp, "ok", &ok) || !json_object_get_boolean(ok)) {
		const char *e = json_object_object_get_ex(resp, "error", &v) ? json_object_get_string(v) : "no answer";
		rc = diag_error(diags, NULL, 0, 0, NULL, "target %s: the host did not answer: %s", h->target, e);
		json_object_put(resp);
		return AML_EIO;
	}
	static const char *const keys[] = { "work_dir", "python", "python_version", "machine", "system" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_object_get_ex(resp, keys[i], &v))
			json_object_object_add(c->doc, keys[i], json_object_get(v));
	json_object_put(resp);
	return AML_OK;
}

/* ------------------------------------------------------------------ run records */

char *remote_state_dir_of(const run_record *rec)
{
	char *runs = fs_dirname(rec->dir);
	char *state = fs_dirname(runs);
	free(runs);
	return state;
}

const char *remote_rec_str(const run_record *rec, const char *key)
{
	json_object *r, *v;
	if (!json_object_object_get_ex(rec->doc, "remote", &r) || !json_object_object_get_ex(r, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

void remote_rec_set(run_record *rec, const char *key, json_object *value)
{
	json_object *r;
	if (!json_object_object_get_ex(rec->doc, "remote", &r) || !json_object_is_type(r, json_type_object)) {
		r = json_object_new_object();
		json_object_object_add(rec->doc, "remote", r);
	}
	json_object_object_add(r, key, value);
}

long long remote_mirror_size(const run_record *rec)
{
	char *p = fs_join(rec->dir, "driver.log");
	struct stat st;
	long long n = stat(p, &st) == 0 ? (long long)st.st_size : 0;
	free(p);
	return n;
}

long long remote_mirror_append(const run_record *rec, long long offset, const char *data, size_t len)
{
	long long have = remote_mirror_size(rec);
	if (offset > have || offset + (long long)len <= have)
		return have;
	size_t skip = (size_t)(have - offset);
	char *p = fs_join(rec->dir, "driver.log");
	int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	free(p);
	if (fd < 0)
		return have;
	if (write_all_fd(fd, data + skip, len - skip) == 0)
		have += (long long)(len - skip);
	close(fd);
	return have;
}

int remote_mirror_copy(const run_record *rec, int fd, long long *offset)
{
	char *p = fs_join(rec->dir, "driver.log");
	int in = open(p, O_RDONLY | O_CLOEXEC);
	free(p);
	if (in < 0)
		return AML_OK;
	char b[65536];
	int rc = AML_OK;
	for (;;) {
		ssize_t n = pread(in, b, sizeof(b), (off_t)*offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (write_all_fd(fd, b, (size_t)n) < 0) {
			rc = AML_EIO;
			break;
		}
		*offset += n;
	}
	close(in);
	return rc;
}

void remote_mirror_metrics(const run_record *rec, const char *data, size_t len)
{
	char *p = fs_join(rec->dir, "metrics.jsonl");
	if (fs_write_atomic(p, data, len, 0600) < 0) {
		/* metrics stay on the host; status shows none */
	}
	free(p);
}

static char last_refreshed_id[256];
static double last_refreshed_at;

bool remote_recently_refreshed(const run_record *rec)
{
	return !strcmp(last_refreshed_id, rec->id) && mono_now() - last_refreshed_at < REMOTE_FRESH_SECONDS;
}

void remote_mark_refreshed(const run_record *rec)
{
	snprintf(last_refreshed_id, sizeof(last_refreshed_id), "%s", rec->id);
	last_refreshed_at = mono_now();
}

json_object *remote_options_json(const target_config *cfg)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(cfg->name));
	for (size_t i = 0; i < cfg->options.count; i++)
		json_object_object_add(o, cfg->options.items[i].key, json_object_new_string(cfg->options.items[i].value));
	return o;
}

int remote_host_for_record(remote_host **out, const run_record *rec, diag_list *diags)
{
	*out = NULL;
	json_object *r, *ssh;
	if (!json_object_object_get_ex(rec->doc, "remote", &r))
		return diag_error(diags, NULL, 0, 0, NULL, "run %s has no remote facts in its record", rec->id);
	if (json_object_object_get_ex(r, "ssh", &ssh) && json_object_is_type(ssh, json_type_object)) {
		target_config cfg = { 0 };
		json_object_object_foreach(ssh, k, v) {
			if (!strcmp(k, "name"))
				cfg.name = (char *)json_object_get_string(v);
			else
				kvlist_set(&cfg.options, k, json_object_get_string(v));
		}
		if (!cfg.name)
			cfg.name = (char *)"?";
		cfg.type = (char *)"ssh";
		int rc = remote_host_from_ssh(out, &cfg, diags);
		kvlist_free(&cfg.options);
		return rc;
	}
	const char *t = run_record_str(rec, "target");
	*out = remote_host_local(t ? t : "?", remote_rec_str(rec, "runner_python"), remote_rec_str(rec, "work_dir"));
	return AML_OK;
}

void remote_rec_merge(run_record *rec, json_object *rr)
{
	static const char *const keys[] = { "started_at", "ended_at", "exit_code", "error", "pid", "pgid",
					    "supervisor_pid", "outputs", "logs", "metrics_count", "lost" };
	if (!rr || !json_object_is_type(rr, json_type_object))
		return;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_object *v;
		if (json_object_object_get_ex(rr, keys[i], &v))
			json_object_object_add(rec->doc, keys[i], json_object_get(v));
	}
	json_object *st;
	if (json_object_object_get_ex(rr, "status", &st)) {
		run_status s = run_status_parse(json_object_get_string(st));
		if (s != RS_UNKNOWN)
			run_record_set_str(rec, "status", run_status_name(s));
	}
}

static bool resp_ok(json_object *resp)
{
	json_object *ok;
	return json_object_object_get_ex(resp, "ok", &ok) && json_object_get_boolean(ok);
}

static long long count_newlines(const char *data, size_t len)
{
	long long n = 0;
	for (size_t i = 0; i < len; i++)
		n += data[i] == '\n';
	return n;
}

/* remote_sync for a run whose folder is on this machine (a Slurm cluster
 * without login): plain file reads, no runner. */
static int local_sync(run_record *rec, bool final, diag_list *diags)
{
	(void)diags;
	const char *rd = remote_rec_str(rec, "run_dir");
	if (!rd || !fs_is_dir(rd)) {
		run_record_set_str(rec, "status", run_status_name(RS_FAILED));
		char *msg = xasprintf("the run's folder %s is gone", rd ? rd : "?");
		run_record_set_str(rec, "error", msg);
		free(msg);
		remote_rec_set(rec, "synced", json_object_new_boolean(1));
		return AML_OK;
	}
	char *log = fs_join(rd, "driver.log");
	int fd = open(log, O_RDONLY | O_CLOEXEC);
	free(log);
	if (fd >= 0) {
		char b[65536];
		for (;;) {
			long long have = remote_mirror_size(rec);
			ssize_t n = pread(fd, b, sizeof(b), (off_t)have);
			if (n <= 0 || remote_mirror_append(rec, have, b, (size_t)n) == have)
				break;
		}
		close(fd);
	}
	if (!final)
		return AML_OK;
	char *mf = fs_join(rd, "metrics.jsonl");
	buf m = BUF_INIT;
	if (buf_read_file(&m, mf, 64u << 20) == 0)
		remote_mirror_metrics(rec, m.ptr, m.len);
	run_record_set_int(rec, "metrics_count", count_newlines(m.ptr, m.len));
	buf_free(&m);
	free(mf);
	static const char *const lists[] = { "outputs", "logs" };
	for (size_t i = 0; i < 2; i++) {
		char *wd = xasprintf("%s/wd/%s", rd, lists[i]);
		json_object *arr = json_object_new_array();
		runs_list_files(arr, wd);
		json_object_object_add(rec->doc, lists[i], arr);
		free(wd);
	}
	remote_rec_set(rec, "synced", json_object_new_boolean(1));
	return AML_OK;
}

int remote_sync(run_record *rec, const remote_host *h, bool with_record, bool final, diag_list *diags)
{
	if (h->local && !with_record)
		return local_sync(rec, final, diags);
	const char *wd = remote_rec_str(rec, "work_dir");
	for (int round = 0; round < 64; round++) {
		long long have = remote_mirror_size(rec);
		remote_call c = REMOTE_CALL_INIT;
		c.request = json_object_new_object();
		json_object_object_add(c.request, "action", json_object_new_string("poll"));
		json_object_object_add(c.request, "work_dir", json_object_new_string(wd ? wd : h->work_dir));
		json_object_object_add(c.request, "run_id", json_object_new_string(rec->id));
		json_object_object_add(c.request, "record", json_object_new_boolean(with_record));
		json_object_object_add(c.request, "log_offset", json_object_new_int64(have));
		json_object_object_add(c.request, "metrics", json_object_new_boolean(with_record || final));
		json_object_object_add(c.request, "lists", json_object_new_boolean(!with_record && final));
		c.python = remote_rec_str(rec, "runner_python");
		c.timeout = 300;
		json_object *resp = NULL;
		buf payload = BUF_INIT;
		int rc = remote_runner(&resp, &payload, h, &c, diags);
		json_object_put(c.request);
		if (rc) {
			buf_free(&payload);
			return rc;
		}
		json_object *v;
		if (!resp_ok(resp)) {
			if (json_object_object_get_ex(resp, "gone", &v) && json_object_get_boolean(v)) {
				/* the host lost the run's folder: nothing will ever say more */
				run_record_set_str(rec, "status", run_status_name(RS_FAILED));
				json_object_object_get_ex(resp, "error", &v);
				run_record_set_str(rec, "error", json_object_get_string(v));
				if (!run_record_str(rec, "ended_at")) {
					char *now = time_now_rfc3339();
					run_record_set_str(rec, "ended_at", now);
					free(now);
				}
				remote_rec_set(rec, "synced", json_object_new_boolean(1));
				json_object_put(resp);
				buf_free(&payload);
				return AML_OK;
			}
			const char *e = json_object_object_get_ex(resp, "error", &v) ? json_object_get_string(v) : "?";
			diag_error(diags, NULL, 0, 0, NULL, "target %s: %s", h->target, e);
			json_object_put(resp);
			buf_free(&payload);
			return AML_EIO;
		}
		bool ended = final;
		if (with_record && json_object_object_get_ex(resp, "record", &v) && v) {
			remote_rec_merge(rec, v);
			ended = run_status_terminal(run_record_status(rec));
		}
		const char *data;
		size_t len, loglen = 0;
		if (remote_payload_part(resp, &payload, "log", &data, &loglen))
			have = remote_mirror_append(rec, have, data, loglen);
		if (ended && remote_payload_part(resp, &payload, "metrics", &data, &len))
			remote_mirror_metrics(rec, data, len);
		if (!with_record && final) {
			static const char *const keys[] = { "outputs", "logs", "metrics_count" };
			for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				if (json_object_object_get_ex(resp, keys[i], &v))
					json_object_object_add(rec->doc, keys[i], json_object_get(v));
		}
		long long size = json_object_object_get_ex(resp, "log_size", &v) ? json_object_get_int64(v) : have;
		json_object_put(resp);
		buf_free(&payload);
		if (have < size && loglen > 0)
			continue; /* a long log: the rest in the next round */
		if (ended)
			remote_rec_set(rec, "synced", json_object_new_boolean(1));
		return AML_OK;
	}
	return AML_OK;
}

json_object *remote_env_request(const resolved_env *env)
{
	json_object *e = json_object_new_object();
	json_object_object_add(e, "digest", json_object_new_string(env->digest));
	json_object_object_add(e, "label", json_object_new_string(env->label ? env->label : ""));
	json_object_object_add(e, "def", envdef_to_json(&env->def));
	return e;
}

int remote_secrets(json_object **out, const run_spec *spec, diag_list *diags)
{
	int rc = AML_OK;
	*out = json_object_new_object();
	for (size_t i = 0; i < spec->secrets.count; i++) {
		const char *v = getenv(spec->secrets.items[i]);
		if (!v)
			rc = diag_error(diags, spec->file, 0, 0, "secrets",
					"secrets: %s is not set in your environment; export it before apply",
					spec->secrets.items[i]);
		else
			json_object_object_add(*out, spec->secrets.items[i], json_object_new_string(v));
	}
	return rc;
}

/* ------------------------------------------------------------------ Slurm text */

void remote_slurm_time(buf *out, long long seconds)
{
	if (seconds < 60)
		seconds = 60;
	long long minutes = (seconds + 59) / 60;
	long long d = minutes / (24 * 60), h = (minutes / 60) % 24, m = minutes % 60;
	buf_printf(out, "%lld-%02lld:%02lld:00", d, h, m);
}

run_status remote_slurm_status(const char *state)
{
	static const struct {
		const char *name;
		run_status st;
	} map[] = {
		{ "PENDING", RS_QUEUED },        { "REQUEUED", RS_QUEUED },     { "REQUEUE_HOLD", RS_QUEUED },
		{ "REQUEUE_FED", RS_QUEUED },    { "RESV_DEL_HOLD", RS_QUEUED }, { "CONFIGURING", RS_PREPARING },
		{ "RUNNING", RS_RUNNING },       { "SUSPENDED", RS_RUNNING },   { "STOPPED", RS_RUNNING },
		{ "RESIZING", RS_RUNNING },      { "SIGNALING", RS_RUNNING },   { "STAGE_OUT", RS_FINALIZING },
		{ "COMPLETING", RS_FINALIZING }, { "COMPLETED", RS_COMPLETED }, { "FAILED", RS_FAILED },
		{ "NODE_FAIL", RS_FAILED },      { "OUT_OF_MEMORY", RS_FAILED }, { "TIMEOUT", RS_FAILED },
		{ "BOOT_FAIL", RS_FAILED },      { "DEADLINE", RS_FAILED },     { "PREEMPTED", RS_FAILED },
		{ "SPECIAL_EXIT", RS_FAILED },   { "REVOKED", RS_FAILED },      { "CANCELLED", RS_CANCELED },
	};
	if (!state)
		return RS_UNKNOWN;
	/* "CANCELLED by 0", "COMPLETING+" and similar decorations */
	size_t n = strcspn(state, " +|\t\n");
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].name) == n && !strncmp(map[i].name, state, n))
			return map[i].st;
	return RS_UNKNOWN;
}

char *remote_slurm_field(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p;) {
		const char *hit = strstr(p, key);
		if (!hit)
			break;
		bool start = hit == text || hit[-1] == ' ' || hit[-1] == '\n' || hit[-1] == '\t';
		if (start && hit[kl] == '=') {
			const char *v = hit + kl + 1;
			return xstrndup(v, strcspn(v, " \t\n"));
		}
		p = hit + 1;
	}
	return xstrdup("");
}

long long remote_slurm_job_id(const char *out)
{
	const char *p = out;
	while (*p == ' ' || *p == '\n')
		p++;
	char *end;
	long long id = strtoll(p, &end, 10);
	if (end == p || id <= 0 || (*end && *end != ';' && *end != '\n' && *end != ' ' && *end != '\r'))
		return 0;
	return id;
}

static void sh_export(buf *out, const char *key, const char *value)
{
	buf_printf(out, "export %s=", key);
	remote_quote(out, value);
	buf_putc(out, '\n');
}

static bool is_identifier(const char *s)
{
	if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* The per-task wrapper for pytorch under srun: maps Slurm's task variables to
 * torchrun's and runs its arguments ("$@"). Constant text. */
static const char torch_task_wrapper[] =
	"export RANK=\"$SLURM_PROCID\" LOCAL_RANK=\"$SLURM_LOCALID\" GROUP_RANK=\"$SLURM_NODEID\" "
	"NODE_RANK=\"$SLURM_NODEID\" AMLSPEC_NODE_RANK=\"$SLURM_NODEID\"; exec \"$@\"";

int remote_slurm_script(buf *out, const slurm_script_opts *o, diag_list *diags)
{
	const run_spec *s = o->spec;
	json_object *env = NULL, *argv = NULL;
	int rc = AML_OK;
	char *outputs = fs_join(o->wd, "outputs");
	char *metrics = fs_join(o->run_dir, "metrics.jsonl");
	char *marker = fs_join(o->run_dir, "timed_out");
	launch_context lc = {
		.run_id = o->run_id, .python = o->python, .env_bin_dir = NULL, .outputs_dir = outputs,
		.metrics_file = metrics, .node_ips = "127.0.0.1", .node_rank = 0, .num_nodes = s->node_count,
		.master_port = 29500, .env_variables = o->env_variables, .mpirun = "mpirun",
	};
	env = launch_base_env(s, &lc);
	argv = launch_script_argv(s, &lc);

	buf_printf(out, "#!/bin/bash\n"
			"# Batch script for amlspec run %s (%s), generated by amlspec.\n"
			"# Every value that comes from the spec is single-quoted: nothing in it is evaluated.\n"
			"# sbatch gets its options on the command line (see run.json: remote.sbatch).\n",
		   o->run_id, s->address);
	buf_puts(out, "set -u\ncd ");
	remote_quote(out, o->wd);
	buf_puts(out, " || exit 1\n");
	json_object_object_foreach(env, k, v) {
		if (!is_identifier(k)) {
			rc = diag_error(diags, s->file, 0, 0, "environment_variables",
					"environment_variables: '%s' is not a variable name a shell can set", k);
			goto done;
		}
		if (!strcmp(k, "AMLSPEC_NODE_IPS") || !strcmp(k, "AMLSPEC_NODE_RANK") || !strcmp(k, "AMLSPEC_NUM_NODES"))
			continue; /* from Slurm's allocation, below */
		sh_export(out, k, json_object_get_string(v));
	}
	if (o->env_bin_dir) {
		buf_puts(out, "export PATH=");
		remote_quote(out, o->env_bin_dir);
		buf_puts(out, "\"${PATH:+:$PATH}\"\n");
	}
	/* the allocation's nodes: addresses when they resolve, else names */
	buf_puts(out,
		 "if [ \"${SLURM_JOB_NUM_NODES:-1}\" -gt 1 ]; then\n"
		 "\tamlspec_nodes=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\")\n"
		 "else\n"
		 "\tamlspec_nodes=${SLURMD_NODENAME:-$(hostname)}\n"
		 "fi\n"
		 "AMLSPEC_NODE_IPS=\n"
		 "for amlspec_h in $amlspec_nodes; do\n"
		 "\tamlspec_ip=\n"
		 "\tread -r amlspec_ip amlspec_rest < <(getent ahostsv4 \"$amlspec_h\" 2>/dev/null)\n"
		 "\tAMLSPEC_NODE_IPS=${AMLSPEC_NODE_IPS:+$AMLSPEC_NODE_IPS,}${amlspec_ip:-$amlspec_h}\n"
		 "done\n"
		 "export AMLSPEC_NODE_IPS AMLSPEC_NODE_RANK=\"${SLURM_NODEID:-0}\"\n"
		 "export AMLSPEC_NUM_NODES=\"${SLURM_JOB_NUM_NODES:-1}\"\n");
	if (s->framework == FW_MPI) {
		buf_puts(out, "if [ \"$(id -u)\" = 0 ]; then\n"
			      "\t# Open MPI refuses root without these; runs here are the user's own\n"
			      "\texport OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1\n"
			      "fi\n");
	}
	if (s->framework == FW_PYTORCH) {
		buf_printf(out, "export MASTER_ADDR=\"${AMLSPEC_NODE_IPS%%%%,*}\"\n"
				"export MASTER_PORT=$((29500 + ${SLURM_JOB_ID:-0} %% 1000))\n"
				"export WORLD_SIZE=\"${SLURM_NTASKS:-%ld}\" LOCAL_WORLD_SIZE=%ld\n",
			   s->node_count * s->process_count_per_node, s->process_count_per_node);
	}
	buf_printf(out, "amlspec_start=$SECONDS\n"
			"timeout --kill-after=10s %llds ",
		   s->timeout_seconds);
	switch (s->framework) {
	case FW_MPI:
		/* Debian's Slurm 22.05 cannot start Open MPI 4.1 ranks itself (srun
		 * --mpi=pmix fails to load PMIx, pmi2 and none fail in MPI_Init):
		 * mpirun inside the allocation finds it through SLURM_* and starts
		 * its daemons with srun, one slot per task. */
		buf_printf(out, "mpirun -np %ld ", s->node_count * s->process_count_per_node);
		break;
	case FW_PYTORCH:
		buf_printf(out, "srun --kill-on-bad-exit=1 --nodes=%ld --ntasks-per-node=%ld bash -c ", s->node_count,
			   s->process_count_per_node);
		remote_quote(out, torch_task_wrapper);
		buf_puts(out, " amlspec-task ");
		break;
	default:
		break;
	}
	for (size_t i = 0; i < json_object_array_length(argv); i++) {
		if (i)
			buf_putc(out, ' ');
		remote_quote(out, json_object_get_string(json_object_array_get_idx(argv, i)));
	}
	buf_printf(out, "\namlspec_rc=$?\n"
			"if { [ \"$amlspec_rc\" -eq 124 ] || [ \"$amlspec_rc\" -eq 137 ]; } &&\n"
			"   [ $((SECONDS - amlspec_start)) -ge %lld ]; then\n"
			"\techo \"amlspec: timed out after %llds (limits.timeout)\" >&2\n"
			"\t: > ",
		   s->timeout_seconds, s->timeout_seconds);
	remote_quote(out, marker);
	buf_puts(out, "\nfi\nexit \"$amlspec_rc\"\n");
done:
	json_object_put(env);
	json_object_put(argv);
	free(outputs);
	free(metrics);
	free(marker);
	return rc;
}
