#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/diag.h"
#include "util/fs.h"
#include "util/proc.h"

/* Runs argv capturing stdout (and stderr, merged when merge is set). */
static int run_capture(proc_status *st, buf *out, const char *const argv[], bool merge, diag_list *d)
{
	proc_opts o = PROC_OPTS_INIT;
	o.out.capture = out;
	if (merge)
		o.err.fd = PROC_TO_STDOUT;
	return proc_run(st, argv, &o, d);
}

static void test_exit_codes(void **state)
{
	(void)state;
	diag_list d = DIAG_LIST_INIT;
	proc_status st;
	const char *t[] = { "true", NULL };
	assert_int_equal(proc_run(&st, t, NULL, &d), AML_OK);
	assert_true(proc_status_ok(&st));
	assert_int_equal(st.exit_code, 0);
	assert_int_equal(st.signal, 0);

	const char *three[] = { "sh", "-c", "exit 3", NULL };
	assert_int_equal(proc_run(&st, three, NULL, &d), AML_OK);
	assert_false(proc_status_ok(&st));
	assert_int_equal(st.exit_code, 3);
	buf b = BUF_INIT;
	proc_status_describe(&b, &st);
	assert_string_equal(b.ptr, "exited with status 3");
	buf_clear(&b);

	const char *killed[] = { "sh", "-c", "kill -9 $$", NULL };
	assert_int_equal(proc_run(&st, killed, NULL, &d), AML_OK);
	assert_false(proc_status_ok(&st));
	assert_int_equal(st.exit_code, -1);
	assert_int_equal(st.signal, SIGKILL);
	proc_status_describe(&b, &st);
	assert_non_null(strstr(b.ptr, "killed by signal 9"));
	assert_int_equal(d.errors, 0);
	buf_free(&b);
	diag_list_free(&d);
}

static void test_not_found(void **state)
{
	(void)state;
	diag_list d = DIAG_LIST_INIT;
	proc_status st;
	const char *argv[] = { "amlspec-no-such-program-xyz", "arg", NULL };
	assert_int_equal(proc_run(&st, argv, NULL, &d), AML_ENOTFOUND);
	assert_int_equal(d.errors, 1);
	assert_non_null(strstr(d.items[0].message, "cannot run 'amlspec-no-such-program-xyz': not found"));
	diag_list_free(&d);

	/* with a slash: execve's own error */
	char *tmp = tu_mkdtemp();
	tu_write(tmp, "not-executable", "#!/bin/sh\necho no\n");
	char *plain = fs_join(tmp, "not-executable");
	const char *noexec[] = { plain, NULL };
	assert_int_equal(proc_run(&st, noexec, NULL, &d), AML_ENOTFOUND);
	assert_int_equal(d.errors, 1);
	assert_non_null(strstr(d.items[0].message, "Permission denied"));
	diag_list_free(&d);
	char *missing = fs_join(tmp, "missing");
	const char *nofile[] = { missing, NULL };
	assert_int_equal(proc_run(&st, nofile, NULL, &d), AML_ENOTFOUND);
	assert_non_null(strstr(d.items[0].message, "No such file"));
	diag_list_free(&d);

	/* the child's PATH (env additions included) is the one searched */
	tu_write(tmp, "bin/amlspec-proc-test-tool", "#!/bin/sh\necho found via PATH\n");
	char *tool = fs_join(tmp, "bin/amlspec-proc-test-tool");
	assert_int_equal(chmod(tool, 0755), 0);
	buf pathvar = BUF_INIT, out = BUF_INIT;
	buf_printf(&pathvar, "PATH=%s/bin:/usr/bin:/bin", tmp);
	const char *env[] = { pathvar.ptr, NULL };
	proc_opts o = PROC_OPTS_INIT;
	o.env = env;
	o.out.capture = &out;
	const char *viapath[] = { "amlspec-proc-test-tool", NULL };
	assert_int_equal(proc_run(&st, viapath, &o, &d), AML_OK);
	assert_string_equal(out.ptr, "found via PATH\n");
	assert_int_equal(d.errors, 0);
	buf_free(&pathvar);
	buf_free(&out);
	free(tool);
	free(missing);
	free(plain);
	tu_rmtree(tmp);
	free(tmp);

	const char *empty[] = { NULL };
	assert_int_not_equal(proc_run(&st, empty, NULL, &d), AML_OK);
	assert_int_equal(d.errors, 1);
	diag_list_free(&d);
}

/* Shell syntax in arguments is data, never interpreted. */
static void test_argv_literal(void **state)
{
	(void)state;
	diag_list d = DIAG_LIST_INIT;
	proc_status st;
	buf out = BUF_INIT;
	const char *argv[] = { "printf", "[%s]", "a b", "'single'", "\"double\"", "$(echo hi)", "`id`",
			       "*", "$HOME", "x;y|z&", "", "back\\slash", "new\nline", NULL };
	assert_int_equal(run_capture(&st, &out, argv, false, &d), AML_OK);
	assert_true(proc_status_ok(&st));
	assert_string_equal(out.ptr, "[a b]['single'][\"double\"][$(echo hi)][`id`][*][$HOME][x;y|z&][][back\\slash][new\nline]");
	buf_free(&out);
	diag_list_free(&d);
}

static void test_cwd(void **state)
{
	(void)state;
	char *tmp = tu_mkdtemp();
	char *real = fs_realpath(tmp);
	diag_list d = DIAG_LIST_INIT;
	proc_status st;
	buf out = BUF_INIT;
	proc_opts o = PROC_OPTS_INIT;
	o.cwd = tmp;
	o.out.capture = &out;
	const char *argv[] = { "pwd", "-P", NULL };
	assert_int_equal(proc_run(&st, argv, &o, &d), AML_OK);
	buf expect = BUF_INIT;
	buf_printf(&expect, "%s\n", real);
	assert_string_equal(out.ptr, expect.ptr);

	/* a relative program path is relative to cwd */
	tu_write(tmp, "hello.sh", "#!/bin/sh\necho hello from script\n");
	char *script = fs_join(tmp, "hello.sh");
	assert_int_equal(chmod(script, 0755), 0);
	buf_clear(&out);
	const char *rel[] = { "./hello.sh", NULL };
	assert_int_equal(proc_run(&st, rel, &o, &d), AML_OK);
	assert_string_equal(out.ptr, "hello from script\n");

	/* a missing cwd is a spawn error naming the folder */
	char *missing = fs_join(tmp, "no-such-dir");
	o.cwd = missing;
	assert_int_equal(proc_run(&st, argv, &o, &d), AML_ENOTFOUND);
	assert_int_equal(d.errors, 1);
	assert_non_null(strstr(d.items[0].message, "no-such-dir"));

	free(missing);
	free(script);
	buf_free(&expect);
	buf_free(&out);
	diag_list_free(&d);
	tu_rmtree(tmp);
	free(real);
	free(tmp);
}

static void test_env_additions(void **state)
{
	(void)state;
	setenv("AMLSPEC_PT_KEEP", "kept", 1);
	setenv("AMLSPEC_PT_OVERRIDE", "old", 1);
	setenv("AMLSPEC_PT_REMOVE", "gone", 1);
	const char *env[] = { "AMLSPEC_PT_NEW=hello world", "AMLSPEC_PT_OVERRIDE=new", "AMLSPEC_PT_REMOVE",
			      "AMLSPEC_PT_TWICE=first", "AMLSPEC_PT_TWICE=second", "AMLSPEC_PT_EMPTY=", NULL };
	diag_list d = DIAG_LIST_INIT;
	proc_status st;
	buf out = BUF_INIT;
	proc_opts o = PROC_OPTS_INIT;
	o.env = env;
	o.out.capture = &out;
	const char *argv[] = { "env", NULL };
	assert_int_equal(proc_run(&st, argv, &o, &d), AML_OK);
	assert_true(proc_status_ok(&st));
	assert_non_null(strstr(out.ptr, "\nAMLSPEC_PT_NEW=hello world\n"));
	assert_non_null(strstr(out.ptr, "AMLSPEC_PT_KEEP=kept\n"));
	assert_non_null(strstr(out.ptr, "AMLSPEC_PT_OVERRIDE=new\n"));
	assert_null(strstr(out.ptr, "AMLSPEC_PT_OVERRIDE=old"));
	assert_null(strstr(out.ptr, "AMLSPEC_PT_REMOVE"));
	assert_non_null(strstr(out.ptr, "AMLSPEC_PT_TWICE=second\n"));
	assert_null(strstr(out.ptr, "AMLSPEC_PT_TWICE=first"));
	assert_non_null(strstr(out.ptr, "AMLSPEC_PT_EMPTY=\n"));
	/* the caller's own environment is untouched */
	assert_string_equal(getenv("AMLSPEC_PT_OVERRIDE"), "old");
	assert_string_equal(getenv("AMLSPEC_PT_REMOVE"), "gone");
	unsetenv("AMLSPEC_PT_KEEP");
	unsetenv("AMLSPEC_PT_OVERRIDE");
	unsetenv("AMLSPEC_PT_REMOVE");
	buf_free(&out);
	diag_list_free(&d);
}

static void test_output_capture(void **state)
{
	(void)state;
	diag_list d = DIAG_LIST_INIT;
	proc_status st;
	buf out = BUF_INIT, err = BUF_INIT;
	const char *argv[] = { "sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 4", NULL };

	proc_opts o = PROC_OPTS_INIT;
	o.out.capture = &out;
	o.err.capture = &err;
	assert_int_equal(proc_run(&st, argv, &o, &d), AML_OK);
	assert_int_equal(st.exit_code, 4);
	assert_string_equal(out.ptr, "out1\nout2\n");
	assert_string_equal(err.ptr, "err1\n");

	/* 2>&1: one stream, in order */
	buf_clear(&out);
	assert_int_equal(run_capture(&st, &out, argv, true, &d), AML_OK);
	assert_string_equal(out.ptr, "out1\nerr1\nout2\n");

	/* stderr to /dev/null */
	buf_clear(&out);
	proc_opts q = PROC_OPTS_INIT;
	q.out.capture = &out;
	q.err.fd = PROC_DEVNULL;
	assert_int_equal(proc_run(&st, argv, &q, &d), AML_OK);
	assert_string_equal(out.ptr, "out1\nout2\n");

	/* tee: a FILE and a buffer at once */
	FILE *f = tmpfile();
	assert_non_null(f);
	buf_clear(&out);
	proc_opts t = PROC_OPTS_INIT;
	t.out.file = f;
	t.out.capture = &out;
	t.err.fd = PROC_TO_STDOUT;
	assert_int_equal(proc_run(&st, argv, &t, &d), AML_OK);
	assert_string_equal(out.ptr, "out1\nerr1\nout2\n");
	rewind(f);
	char line[64] = { 0 };
	size_t n = fread(line, 1, sizeof(line) - 1, f);
	line[n] = '\0';
	assert_string_equal(line, "out1\nerr1\nout2\n");
	fclose(f);

	assert_int_equal(d.errors, 0);
	buf_free(&out);
	buf_free(&err);
	diag_list_free(&d);
}

/* The child writes to a caller's fd directly, including the awkward case
 * of stdout into a pipe and stderr to the caller's fd 1. */
static void test_output_fd(void **state)
{
	(void)state;
	char *tmp = tu_mkdtemp();
	char *path = fs_join(tmp, "out.txt");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	diag_list d = DIAG_LIST_INIT;
	proc_status st;
	proc_opts o = PROC_OPTS_INIT;
	o.out.fd = fd;
	o.err.fd = PROC_TO_STDOUT;
	const char *argv[] = { "sh", "-c", "echo to-file; echo err-to-file >&2", NULL };
	assert_int_equal(proc_run(&st, argv, &o, &d), AML_OK);
	close(fd);
	buf b = BUF_INIT;
	assert_int_equal(buf_read_file(&b, path, 1 << 20), 0);
	assert_string_equal(b.ptr, "to-file\nerr-to-file\n");

	/* stderr to our fd 1 while stdout is piped: point our fd 1 at a file */
	fflush(stdout);
	int saved = dup(1);
	int f2 = open(path, O_WRONLY | O_TRUNC);
	assert_true(saved >= 0 && f2 >= 0);
	dup2(f2, 1);
	close(f2);
	buf out = BUF_INIT;
	proc_opts p = PROC_OPTS_INIT;
	p.out.capture = &out;
	p.err.fd = 1;
	assert_int_equal(proc_run(&st, argv, &p, &d), AML_OK);
	dup2(saved, 1);
	close(saved);
	assert_string_equal(out.ptr, "to-file\n");
	buf_clear(&b);
	assert_int_equal(buf_read_file(&b, path, 1 << 20), 0);
	assert_string_equal(b.ptr, "err-to-file\n");

	assert_int_equal(d.errors, 0);
	buf_free(&out);
	buf_free(&b);
	diag_list_free(&d);
	tu_rmtree(tmp);
	free(path);
	free(tmp);
}

/* Both pipes full at once must not deadlock. */
static void test_large_output(void **state)
{
	(void)state;
	diag_list d = DIAG_LIST_INIT;
	proc_status st;
	buf out = BUF_INIT, err = BUF_INIT;
	proc_opts o = PROC_OPTS_INIT;
	o.out.capture = &out;
	o.err.capture = &err;
	const char *argv[] = { "sh", "-c",
			       "head -c 1000000 /dev/zero >&2; head -c 1500000 /dev/zero; head -c 3 /dev/zero >&2",
			       NULL };
	assert_int_equal(proc_run(&st, argv, &o, &d), AML_OK);
	assert_true(proc_status_ok(&st));
	assert_int_equal(out.len, 1500000);
	assert_int_equal(err.len, 1000003);
	buf_free(&out);
	buf_free(&err);
	diag_list_free(&d);
}

static void test_stdin(void **state)
{
	(void)state;
	char *tmp = tu_mkdtemp();
	tu_write(tmp, "in.txt", "fed through stdin\n");
	char *path = fs_join(tmp, "in.txt");
	diag_list d = DIAG_LIST_INIT;
	proc_status st;
	buf out = BUF_INIT;
	proc_opts o = PROC_OPTS_INIT;
	o.out.capture = &out;
	o.in_fd = PROC_DEVNULL;
	const char *argv[] = { "cat", NULL };
	assert_int_equal(proc_run(&st, argv, &o, &d), AML_OK);
	assert_string_equal(out.ptr, "");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	o.in_fd = fd;
	assert_int_equal(proc_run(&st, argv, &o, &d), AML_OK);
	close(fd);
	assert_string_equal(out.ptr, "fed through stdin\n");
	buf_free(&out);
	diag_list_free(&d);
	tu_rmtree(tmp);
	free(path);
	free(tmp);
}

/* What the caller blocks or ignores does not reach the child. */
static void test_signal_hygiene(void **state)
{
	(void)state;
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	struct sigaction ign = { 0 }, oldpipe;
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &oldpipe);

	diag_list d = DIAG_LIST_INIT;
	proc_status st;
	buf out = BUF_INIT;
	const char *argv[] = { "cat", "/proc/self/status", NULL };
	assert_int_equal(run_capture(&st, &out, argv, false, &d), AML_OK);
	const char *ign_line = strstr(out.ptr, "SigIgn:");
	const char *blk_line = strstr(out.ptr, "SigBlk:");
	assert_non_null(ign_line);
	assert_non_null(blk_line);
	unsigned long long ignored = strtoull(ign_line + 7, NULL, 16);
	unsigned long long blocked = strtoull(blk_line + 7, NULL, 16);
	assert_false(ignored & (1ULL << (SIGPIPE - 1)));
	assert_false(blocked & (1ULL << (SIGTERM - 1)));

	const char *self_term[] = { "sh", "-c", "kill -TERM $$; exit 0", NULL };
	assert_int_equal(proc_run(&st, self_term, NULL, &d), AML_OK);
	assert_int_equal(st.signal, SIGTERM);

	sigaction(SIGPIPE, &oldpipe, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	buf_free(&out);
	diag_list_free(&d);
}

static void test_spawn_wait_process_group(void **state)
{
	(void)state;
	diag_list d = DIAG_LIST_INIT;
	proc_opts o = PROC_OPTS_INIT;
	o.new_process_group = true;
	o.out.fd = PROC_DEVNULL;
	pid_t pid;
	const char *argv[] = { "sleep", "30", NULL };
	assert_int_equal(proc_spawn(&pid, argv, &o, &d), AML_OK);
	assert_true(pid > 0);
	assert_int_equal(getpgid(pid), pid);
	assert_int_equal(kill(-pid, SIGTERM), 0);
	proc_status st;
	assert_int_equal(proc_wait(&st, pid, &d), AML_OK);
	assert_int_equal(st.signal, SIGTERM);

	/* nobody would drain a pipe: refused */
	buf b = BUF_INIT;
	o.out.capture = &b;
	assert_int_equal(proc_spawn(&pid, argv, &o, &d), AML_EINVALID);
	assert_int_equal(d.errors, 1);
	buf_free(&b);
	diag_list_free(&d);
}

static void test_which(void **state)
{
	(void)state;
	char *sh = proc_which("sh", NULL);
	assert_non_null(sh);
	assert_int_equal(sh[0], '/');
	free(sh);
	assert_null(proc_which("amlspec-no-such-program-xyz", NULL));
	assert_null(proc_which("", NULL));

	char *tmp = tu_mkdtemp();
	tu_write(tmp, "bin/tool", "#!/bin/sh\n");
	tu_write(tmp, "bin/plain", "not executable\n");
	char *tool = fs_join(tmp, "bin/tool");
	chmod(tool, 0755);
	char *bin = fs_join(tmp, "bin");
	buf path = BUF_INIT;
	buf_printf(&path, "relative/bin::%s", bin);
	char *found = proc_which("tool", path.ptr);
	assert_string_equal(found, tool);
	free(found);
	assert_null(proc_which("plain", path.ptr));
	/* relative PATH entries are never searched */
	char *cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(tmp), 0);
	assert_null(proc_which("tool", "bin"));
	found = proc_which("bin/tool", NULL); /* a name with a slash: made absolute */
	char *real_tool = fs_realpath(tool);
	char *real_found = found ? fs_realpath(found) : NULL;
	assert_non_null(real_found);
	assert_string_equal(real_found, real_tool);
	assert_int_equal(chdir(cwd), 0);
	free(real_found);
	free(real_tool);
	free(found);
	free(cwd);
	buf_free(&path);
	free(bin);
	free(tool);
	tu_rmtree(tmp);
	free(tmp);
}

static void test_format_argv(void **state)
{
	(void)state;
	buf b = BUF_INIT;
	const char *argv[] = { "/usr/bin/python3", "-m", "pip", "a b", "it's", "", "x==1.0", "$(id)", NULL };
	proc_format_argv(&b, argv);
	assert_string_equal(b.ptr, "/usr/bin/python3 -m pip 'a b' 'it'\\''s' '' x==1.0 '$(id)'");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_argv_literal),
		cmocka_unit_test(test_cwd),
		cmocka_unit_test(test_env_additions),
		cmocka_unit_test(test_output_capture),
		cmocka_unit_test(test_output_fd),
		cmocka_unit_test(test_large_output),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_signal_hygiene),
		cmocka_unit_test(test_spawn_wait_process_group),
		cmocka_unit_test(test_which),
		cmocka_unit_test(test_format_argv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
