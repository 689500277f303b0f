/* Slurm text: --time, job states, scontrol/jobcomp fields, sbatch output,
 * and the generated batch script (run with bash outside Slurm: every value
 * must reach the program as it was written, and the timeout must leave its
 * marker). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "target/remote.h"
#include "util/buf.h"
#include "util/fs.h"

static void test_time(void **state)
{
	(void)state;
	static const struct {
		long long s;
		const char *t;
	} cases[] = {
		{ 1, "0-00:01:00" },       { 30, "0-00:01:00" },     { 60, "0-00:01:00" },
		{ 61, "0-00:02:00" },      { 7200, "0-02:00:00" },   { 86400, "1-00:00:00" },
		{ 86401, "1-00:01:00" },   { 2592000, "30-00:00:00" }, { 90061, "1-01:02:00" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf b = BUF_INIT;
		remote_slurm_time(&b, cases[i].s);
		assert_string_equal(b.ptr, cases[i].t);
		buf_free(&b);
	}
}

static void test_states(void **state)
{
	(void)state;
	assert_int_equal(remote_slurm_status("PENDING"), RS_QUEUED);
	assert_int_equal(remote_slurm_status("CONFIGURING"), RS_PREPARING);
	assert_int_equal(remote_slurm_status("RUNNING"), RS_RUNNING);
	assert_int_equal(remote_slurm_status("COMPLETING"), RS_FINALIZING);
	assert_int_equal(remote_slurm_status("COMPLETED"), RS_COMPLETED);
	assert_int_equal(remote_slurm_status("FAILED"), RS_FAILED);
	assert_int_equal(remote_slurm_status("NODE_FAIL"), RS_FAILED);
	assert_int_equal(remote_slurm_status("OUT_OF_MEMORY"), RS_FAILED);
	assert_int_equal(remote_slurm_status("TIMEOUT"), RS_FAILED);
	assert_int_equal(remote_slurm_status("CANCELLED"), RS_CANCELED);
	assert_int_equal(remote_slurm_status("CANCELLED by 0"), RS_CANCELED);
	assert_int_equal(remote_slurm_status("CANCELLED+"), RS_CANCELED);
	assert_int_equal(remote_slurm_status("COMPLETED|None"), RS_COMPLETED);
	assert_int_equal(remote_slurm_status("RUN"), RS_UNKNOWN);
	assert_int_equal(remote_slurm_status(""), RS_UNKNOWN);
	assert_int_equal(remote_slurm_status(NULL), RS_UNKNOWN);
}

static void test_fields(void **state)
{
	(void)state;
	const char *sc = "JobId=12 JobName=x UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) "
			 "ExitCode=3:0 RunTime=00:00:01 StartTime=2026-11-27T16:47:43 EndTime=2026-11-27T16:47:44 "
			 "DerivedExitCode=0:0 StdOut=/a b/driver.log\n";
	char *v = remote_slurm_field(sc, "JobState");
	assert_string_equal(v, "FAILED");
	free(v);
	v = remote_slurm_field(sc, "ExitCode"); /* not DerivedExitCode's */
	assert_string_equal(v, "3:0");
	free(v);
	v = remote_slurm_field(sc, "Reason");
	assert_string_equal(v, "NonZeroExitCode");
	free(v);
	v = remote_slurm_field(sc, "Nope");
	assert_string_equal(v, "");
	free(v);
	const char *jc = "JobId=9 UserId=root(0) GroupId=root(0) Name=h JobState=CANCELLED Partition=debug "
			 "ExitCode=0:15 \n";
	v = remote_slurm_field(jc, "JobState");
	assert_string_equal(v, "CANCELLED");
	free(v);
	v = remote_slurm_field(jc, "ExitCode");
	assert_string_equal(v, "0:15");
	free(v);

	assert_int_equal(remote_slurm_job_id("123\n"), 123);
	assert_int_equal(remote_slurm_job_id("4567;cluster\n"), 4567);
	assert_int_equal(remote_slurm_job_id(""), 0);
	assert_int_equal(remote_slurm_job_id("Submitted batch job 5\n"), 0);
	assert_int_equal(remote_slurm_job_id("12abc"), 0);
	assert_int_equal(remote_slurm_job_id("-3"), 0);
}

static run_spec *spec_new(framework_kind fw, long nodes, long per_node, long long timeout)
{
	run_spec *s = xcalloc(1, sizeof(*s));
	s->file = xstrdup("run.yaml");
	s->address = xstrdup("exp/it's");
	s->experiment = xstrdup("exp");
	s->name = xstrdup("it's");
	s->script = xstrdup("train.py");
	s->framework = fw;
	s->node_count = nodes;
	s->process_count_per_node = per_node;
	s->timeout_seconds = timeout;
	strlist_add(&s->arguments, "it's");
	strlist_add(&s->arguments, "$(touch pwned)");
	strlist_add(&s->arguments, "a  b");
	strlist_add(&s->arguments, "`id`");
	strlist_add(&s->arguments, "\"");
	strlist_add(&s->arguments, "*");
	strlist_add(&s->arguments, "");
	kvlist_set(&s->environment_variables, "ODD", "x'; echo pwned; '$HOME\nline2");
	return s;
}

static void spec_del(run_spec *s)
{
	free(s->file);
	free(s->address);
	free(s->experiment);
	free(s->name);
	free(s->script);
	strlist_free(&s->arguments);
	kvlist_free(&s->environment_variables);
	free(s);
}

static int run_bash(buf *out, const char *script_path)
{
	const char *argv[] = { "bash", script_path, NULL };
	remote_io io = REMOTE_IO_INIT;
	io.out = out;
	io.err = out;
	int status = -1;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(remote_run_local(&status, argv, &io, &d), AML_OK);
	diag_list_free(&d);
	return status;
}

static void test_script(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *run_dir = fs_join(dir, "run dir");
	char *wd = fs_join(run_dir, "wd");
	fs_mkdirs(wd, 0755);
	/* a stand-in interpreter that prints its arguments and one variable */
	tu_write(dir, "fakepy",
		 "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\necho\nprintf 'ODD=[%s]\\n' \"$ODD\"\n"
		 "printf 'OUT=[%s]\\n' \"$AMLSPEC_OUTPUTS_DIR\"\n");
	char *py = fs_join(dir, "fakepy");
	chmod(py, 0755);
	run_spec *s = spec_new(FW_PYTHON, 1, 1, 120);
	kvlist vars = KVLIST_INIT;
	kvlist_set(&vars, "FROM_ENV", "e v");
	slurm_script_opts o = { s, "exp_1_00000001", run_dir, wd, py, "/opt/env dir/bin", &vars };
	buf script = BUF_INIT;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(remote_slurm_script(&script, &o, &d), AML_OK);
	assert_non_null(strstr(script.ptr, "export ODD='x'\\''; echo pwned; '\\''$HOME\nline2'\n"));
	assert_non_null(strstr(script.ptr, "export FROM_ENV='e v'\n"));
	assert_non_null(strstr(script.ptr, "export PATH='/opt/env dir/bin'\"${PATH:+:$PATH}\"\n"));
	assert_non_null(strstr(script.ptr, "timeout --kill-after=10s 120s "));
	tu_write(dir, "job.sh", script.ptr);
	char *path = fs_join(dir, "job.sh");
	buf out = BUF_INIT;
	int status = run_bash(&out, path);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out.ptr, "[it's][$(touch pwned)][a  b][`id`][\"][*][]\n"));
	assert_non_null(strstr(out.ptr, "ODD=[x'; echo pwned; '$HOME\nline2]\n"));
	char *outs = xasprintf("OUT=[%s/outputs]\n", wd);
	assert_non_null(strstr(out.ptr, outs));
	free(outs);
	char *pwned = fs_join(wd, "pwned");
	assert_false(fs_exists(pwned));
	free(pwned);
	buf_free(&out);
	buf_free(&script);
	spec_del(s);

	/* the timeout: the script stops the program and leaves the marker */
	tu_write(dir, "fakepy", "#!/bin/sh\necho sleeping\nexec sleep 30\n");
	s = spec_new(FW_PYTHON, 1, 1, 1);
	o.spec = s;
	assert_int_equal(remote_slurm_script(&script, &o, &d), AML_OK);
	tu_write(dir, "job.sh", script.ptr);
	time_t t0 = time(NULL);
	status = run_bash(&out, path);
	assert_true(time(NULL) - t0 < 10);
	assert_int_equal(status, 124);
	assert_non_null(strstr(out.ptr, "amlspec: timed out after 1s (limits.timeout)"));
	char *marker = fs_join(run_dir, "timed_out");
	assert_true(fs_exists(marker));
	free(marker);
	buf_free(&out);
	buf_free(&script);
	spec_del(s);

	/* mpi: mpirun inside the allocation; pytorch: srun with the task wrapper */
	s = spec_new(FW_MPI, 2, 3, 60);
	o.spec = s;
	assert_int_equal(remote_slurm_script(&script, &o, &d), AML_OK);
	assert_non_null(strstr(script.ptr, "mpirun -np 6 "));
	assert_non_null(strstr(script.ptr, "OMPI_ALLOW_RUN_AS_ROOT=1"));
	buf_free(&script);
	spec_del(s);
	s = spec_new(FW_PYTORCH, 2, 4, 60);
	o.spec = s;
	assert_int_equal(remote_slurm_script(&script, &o, &d), AML_OK);
	assert_non_null(strstr(script.ptr, "srun --kill-on-bad-exit=1 --nodes=2 --ntasks-per-node=4 bash -c "));
	assert_non_null(strstr(script.ptr, "RANK=\"$SLURM_PROCID\""));
	assert_non_null(strstr(script.ptr, "LOCAL_WORLD_SIZE=4"));
	assert_non_null(strstr(script.ptr, "WORLD_SIZE=\"${SLURM_NTASKS:-8}\""));
	tu_write(dir, "job.sh", script.ptr);
	const char *n[] = { "bash", "-n", path, NULL };
	int st = -1;
	assert_int_equal(remote_run_local(&st, n, NULL, &d), AML_OK);
	assert_int_equal(st, 0);
	buf_free(&script);
	spec_del(s);

	assert_int_equal(d.errors, 0);
	diag_list_free(&d);
	kvlist_free(&vars);
	free(path);
	free(py);
	free(wd);
	free(run_dir);
	tu_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_script),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
