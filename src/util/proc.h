/* proc: run a program from an argv vector and wait for it.
 *
 * Never through a shell: every argv element reaches the program as one
 * literal argument, so spaces, quotes, `$()` and globs mean nothing special.
 * (Nothing in amlspec may run a program through a shell; use this instead.)
 *
 *	proc_opts o = PROC_OPTS_INIT;
 *	buf out = BUF_INIT;
 *	o.cwd = dir;
 *	o.out.capture = &out;            // stdout into a buffer
 *	o.err.fd = PROC_TO_STDOUT;       // 2>&1
 *	proc_status st;
 *	const char *argv[] = { "git", "status", NULL };
 *	if (proc_run(&st, argv, &o, diags) == AML_OK && proc_status_ok(&st)) ...
 *
 * Programs are started with fork() + execve() and an error pipe: a program
 * that cannot be started (not found, not executable, a cwd that does not
 * exist) is an error of the call, never a mysterious exit status 127. The
 * child gets default dispositions for the usual signals and an empty signal
 * mask, whatever the caller ignores or blocks (a child must not inherit an
 * ignored SIGPIPE, for instance). File descriptors the caller opened without
 * O_CLOEXEC are inherited as usual, so open yours with O_CLOEXEC. Not for
 * multithreaded callers (the mask is set with sigprocmask). */
#ifndef AMLSPEC_PROC_H
#define AMLSPEC_PROC_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "util/buf.h"
#include "util/diag.h"

/* Special values for proc_output.fd and proc_opts.in_fd (real fds are >= 0). */
enum {
	PROC_INHERIT = -1,   /* the caller's own stream */
	PROC_DEVNULL = -2,   /* /dev/null */
	PROC_TO_STDOUT = -3, /* stderr only: wherever stdout goes (2>&1) */
};

/* Where one of the child's output streams goes. With `file` or `capture`
 * set, the stream comes back through a pipe that proc_run() copies into the
 * file and/or appends to the buffer (both may be set: a tee), and `fd` is
 * ignored. Otherwise the child writes to `fd` directly. */
typedef struct proc_output {
	int fd;       /* PROC_INHERIT, PROC_DEVNULL, PROC_TO_STDOUT (err only) or an open fd */
	FILE *file;   /* copy here (fwrite; not closed) */
	buf *capture; /* append here */
} proc_output;

typedef struct proc_opts {
	unsigned version;        /* PROC_OPTS_VERSION */
	const char *cwd;         /* NULL: the caller's; a relative argv[0] with a slash is then relative to cwd */
	/* NULL-terminated list applied on top of the caller's environment:
	 * "NAME=VALUE" sets (replacing), "NAME" alone removes. NULL: inherit
	 * unchanged. argv[0] without a slash is searched in the child's PATH
	 * (so a PATH given here counts), as proc_which() does. */
	const char *const *env;
	int in_fd;               /* PROC_INHERIT, PROC_DEVNULL or an open fd */
	proc_output out;
	proc_output err;
	/* The child leads a new process group: kill(-pid, sig) then reaches
	 * everything it starts, and the terminal's Ctrl-C does not. */
	bool new_process_group;
} proc_opts;

#define PROC_OPTS_VERSION 1
#define PROC_OPTS_INIT \
	{ PROC_OPTS_VERSION, NULL, NULL, PROC_INHERIT, { PROC_INHERIT, NULL, NULL }, { PROC_INHERIT, NULL, NULL }, false }

/* How a child ended. */
typedef struct proc_status {
	int exit_code; /* 0..255 when it exited; -1 when a signal killed it */
	int signal;    /* the signal that killed it; 0 when it exited */
} proc_status;

/* Runs argv (argv[0] searched in PATH when it has no slash; scripts need a
 * #! line: there is no fallback to /bin/sh) with opts (NULL:
 * PROC_OPTS_INIT), copies piped output while it runs, and waits for it.
 * Returns AML_OK when the program ran, whatever its exit status (see out);
 * AML_ENOTFOUND when it could not be started (not found, not executable,
 * bad cwd: the spawn errno is in the diagnostic); AML_EINVALID for
 * contradictory options; AML_EIO for system failures. Output is
 * copied until the child and everything that inherited its pipes close
 * them, so a daemon left holding stdout keeps proc_run waiting. */
int proc_run(proc_status *out, const char *const argv[], const proc_opts *opts, diag_list *diags);

/* Starts argv without waiting; *pid is the child. Only fd redirection is
 * possible here (file and capture must be NULL: nobody would drain the pipe).
 * Reap the child with proc_wait(). Errors as for proc_run. */
int proc_spawn(pid_t *pid, const char *const argv[], const proc_opts *opts, diag_list *diags);

/* Waits for the child pid (retrying on EINTR). AML_OK or AML_EIO. */
int proc_wait(proc_status *out, pid_t pid, diag_list *diags);

/* Exited with status 0. */
bool proc_status_ok(const proc_status *s);
/* "exited with status 3" or "was killed by signal 9 (Killed)". */
void proc_status_describe(buf *out, const proc_status *s);

/* The first executable regular file named `name` in the directories of
 * `path` (NULL: $PATH; relative and empty entries are skipped, so "." in
 * PATH never picks up a program from the current folder). A name with a
 * slash is returned made absolute if it is executable. Caller frees; NULL
 * when none. */
char *proc_which(const char *name, const char *path);

/* argv as a shell-readable line for logs and messages: arguments that need
 * it are single-quoted. Only for display: nothing ever runs this text. */
void proc_format_argv(buf *out, const char *const argv[]);

#endif
