/* env_materialize with real venvs and a real pip, offline: a wheelhouse
 * built by tests/fixtures/make_wheelhouse.py, PIP_NO_INDEX=1 and
 * PIP_FIND_LINKS pointing at it. Each venv build takes a few seconds, so
 * every test uses its own digest in one shared cache root and builds at most
 * once; the conda paths use a fake micromamba (a shell script) instead. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "env/materialize.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/proc.h"

typedef struct fixture {
	char *tmp;        /* everything below lives here */
	char *wheels;
	char *cache;
	char *logpath;
	FILE *log;
} fixture;

static fixture fx;

static char *source_dir(void)
{
	const char *s = getenv("AMLSPEC_SOURCE_DIR");
	if (s && *s)
		return xstrdup(s);
	/* run by hand: this file is tests/unit/materialize_test.c */
	char *d1 = fs_dirname(__FILE__);
	char *d2 = fs_dirname(d1);
	char *d3 = fs_dirname(d2);
	free(d1);
	free(d2);
	return d3;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int group_setup(void **state)
{
	(void)state;
	fx.tmp = tu_mkdtemp();
	fx.wheels = fs_join(fx.tmp, "wheels");
	fx.cache = fs_join(fx.tmp, "cache/envs");
	fx.logpath = fs_join(fx.tmp, "build.log");
	fx.log = fopen(fx.logpath, "w");
	if (!fx.log)
		return -1;
	char *src = source_dir();
	char *script = fs_join(src, "tests/fixtures/make_wheelhouse.py");
	const char *argv[] = { "python3", script, fx.wheels, NULL };
	int rc = tu_run(NULL, argv);
	free(script);
	free(src);
	if (rc != 0) {
		fprintf(stderr, "make_wheelhouse.py failed (%d)\n", rc);
		return -1;
	}
	/* pip sees only our wheelhouse, whatever the machine's pip.conf says */
	setenv("PIP_NO_INDEX", "1", 1);
	setenv("PIP_FIND_LINKS", fx.wheels, 1);
	setenv("PIP_CONFIG_FILE", "/dev/null", 1);
	setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1", 1);
	unsetenv("PIP_INDEX_URL");
	unsetenv("PIP_EXTRA_INDEX_URL");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (fx.log)
		fclose(fx.log);
	if (getenv("AMLSPEC_KEEP_TMP"))
		fprintf(stderr, "kept %s\n", fx.tmp);
	else
		tu_rmtree(fx.tmp);
	free(fx.tmp);
	free(fx.wheels);
	free(fx.cache);
	free(fx.logpath);
	return 0;
}

/* A resolved environment with these pip packages (NULL-terminated). */
static void make_env(resolved_env *r, const char *label, const char *const *pip)
{
	memset(r, 0, sizeof(*r));
	r->label = xstrdup(label);
	for (size_t i = 0; pip && pip[i]; i++)
		strlist_add(&r->def.pip_packages, pip[i]);
}

static void seal(resolved_env *r)
{
	free(r->digest);
	r->digest = envdef_digest(&r->def);
}

static const char *hex_of(const resolved_env *r)
{
	return r->digest + strlen("sha256:");
}

/* Names in the cache root starting with prefix. */
static int count_entries(const char *prefix)
{
	DIR *d = opendir(fx.cache);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			n++;
	closedir(d);
	return n;
}

static int count_builds(const resolved_env *r)
{
	char *prefix = xasprintf(".build-%s-", hex_of(r));
	int n = count_entries(prefix);
	free(prefix);
	return n;
}

static bool published(const resolved_env *r)
{
	char *p = fs_join(fx.cache, hex_of(r));
	bool e = fs_exists(p);
	free(p);
	return e;
}

/* `python -c code`: exit status 0? */
static bool python_ok(const char *python, const char *code)
{
	const char *argv[] = { python, "-c", code, NULL };
	diag_list d = DIAG_LIST_INIT;
	proc_status st;
	proc_opts o = PROC_OPTS_INIT;
	o.out.file = fx.log;
	o.err.fd = PROC_TO_STDOUT;
	bool ok = proc_run(&st, argv, &o, &d) == AML_OK && proc_status_ok(&st);
	diag_list_free(&d);
	return ok;
}

static bool has_message(const diag_list *d, const char *needle)
{
	for (size_t i = 0; i < d->count; i++)
		if (strstr(d->items[i].message, needle))
			return true;
	return false;
}

static void print_diags(const diag_list *d)
{
	for (size_t i = 0; i < d->count; i++)
		fprintf(stderr, "  diag: %s\n", d->items[i].message);
}

/* Builds, imports, and then reuses in well under the 50 ms budget. */
static void test_build_and_reuse(void **state)
{
	(void)state;
	resolved_env r;
	const char *pkgs[] = { "amlspec_tinypkg==0.1.0", NULL };
	make_env(&r, "inline tinypkg 0.1.0", pkgs);
	seal(&r);
	materialize_opts mo = { fx.cache, fx.log };
	diag_list d = DIAG_LIST_INIT;
	env_instance e;

	double t0 = now_ms();
	int rc = env_materialize(&e, &r, &mo, &d);
	double built = now_ms() - t0;
	if (rc)
		print_diags(&d);
	assert_int_equal(rc, AML_OK);
	assert_false(e.reused);
	char *expect_prefix = fs_join(fx.cache, hex_of(&r));
	assert_string_equal(e.prefix, expect_prefix);
	char *expect_python = fs_join(expect_prefix, "bin/python");
	assert_string_equal(e.python, expect_python);
	assert_true(fs_exists(e.python));
	assert_true(python_ok(e.python, "import amlspec_tinypkg, sys\n"
					"assert amlspec_tinypkg.__version__ == '0.1.0', amlspec_tinypkg.__version__\n"
					"assert sys.prefix != sys.base_prefix\n"));
	assert_int_equal(count_builds(&r), 1);

	/* env.json records the definition and the interpreter */
	char *json_path = fs_join(e.prefix, "env.json");
	json_object *j = json_object_from_file(json_path);
	assert_non_null(j);
	json_object *v;
	assert_true(json_object_object_get_ex(j, "digest", &v));
	assert_string_equal(json_object_get_string(v), r.digest);
	assert_true(json_object_object_get_ex(j, "python", &v));
	assert_string_equal(json_object_get_string(v), expect_python);
	assert_true(json_object_object_get_ex(j, "built_at", &v));
	assert_true(json_object_object_get_ex(j, "definition", &v));
	json_object_put(j);
	char *build_log = fs_join(e.prefix, "build.log");
	assert_true(fs_is_file(build_log));
	free(build_log);
	env_instance_free(&e);

	/* the second time: found, no lock, a few stat() calls */
	t0 = now_ms();
	rc = env_materialize(&e, &r, &mo, &d);
	double reused = now_ms() - t0;
	assert_int_equal(rc, AML_OK);
	assert_true(e.reused);
	assert_string_equal(e.prefix, expect_prefix);
	assert_string_equal(e.python, expect_python);
	assert_true(reused < 50.0);
	fprintf(stderr, "  venv+pip build %.0f ms, reuse %.3f ms\n", built, reused);
	env_instance_free(&e);

	assert_int_equal(d.errors, 0);
	free(json_path);
	free(expect_python);
	free(expect_prefix);
	diag_list_free(&d);
	resolved_env_free(&r);
}

/* Two processes materialize one new digest at once: one builds, the other
 * waits for the lock and reuses. Also: a different digest is a different
 * environment. */
static void test_concurrent_builds(void **state)
{
	(void)state;
	resolved_env r;
	const char *pkgs[] = { "amlspec_tinypkg==0.2.0", "amlspec_otherpkg", NULL };
	make_env(&r, "inline tinypkg 0.2.0 + otherpkg", pkgs);
	seal(&r);
	fflush(NULL);
	pid_t kids[2];
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			char *lp = xasprintf("%s.child%d", fx.logpath, i);
			FILE *log = fopen(lp, "w");
			materialize_opts mo = { fx.cache, log };
			diag_list d = DIAG_LIST_INIT;
			env_instance e;
			int rc = env_materialize(&e, &r, &mo, &d);
			int code = rc ? 2 : e.reused ? 1 : 0;
			if (log)
				fclose(log);
			/* freed so that the child is leak-clean under valgrind too */
			env_instance_free(&e);
			diag_list_free(&d);
			resolved_env_free(&r);
			free(lp);
			/* _exit: no cmocka, no atexit handlers in the child */
			_exit(code);
		}
	}
	int codes[2];
	for (int i = 0; i < 2; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st));
		codes[i] = WEXITSTATUS(st);
	}
	/* one built (0), one reused (1) */
	assert_int_equal(codes[0] + codes[1], 1);
	assert_int_equal(count_builds(&r), 1);

	materialize_opts mo = { fx.cache, fx.log };
	diag_list d = DIAG_LIST_INIT;
	env_instance e;
	assert_int_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	assert_true(e.reused);
	assert_true(python_ok(e.python, "import amlspec_tinypkg, amlspec_otherpkg\n"
					"assert amlspec_tinypkg.__version__ == '0.2.0'\n"
					"assert amlspec_otherpkg.__version__ == '1.0.0'\n"));
	/* not the 0.1.0 environment of the other test */
	assert_null(strstr(e.prefix, "/.build-"));
	assert_string_equal(fs_basename(e.prefix), hex_of(&r));
	env_instance_free(&e);
	diag_list_free(&d);
	resolved_env_free(&r);
}

/* pip fails: an error quoting pip, nothing published, nothing left over. */
static void test_pip_failure(void **state)
{
	(void)state;
	resolved_env r;
	const char *pkgs[] = { "amlspec_tinypkg==0.1.0", "amlspec_nosuchpkg==9.9", NULL };
	make_env(&r, "inline broken", pkgs);
	seal(&r);
	materialize_opts mo = { fx.cache, fx.log };
	diag_list d = DIAG_LIST_INIT;
	env_instance e;
	assert_int_not_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	assert_int_equal(d.errors, 1);
	assert_true(has_message(&d, "pip install failed for environment inline broken (python exited with status 1)"));
	fprintf(stderr, "  message: %s\n", d.items[0].message);
	assert_true(has_message(&d, "amlspec_nosuchpkg"));
	assert_null(e.python);
	assert_null(e.prefix);
	assert_false(published(&r));
	assert_int_equal(count_builds(&r), 0);
	char *tmplink = xasprintf("%s/%s.tmp", fx.cache, hex_of(&r));
	assert_false(fs_exists(tmplink));
	free(tmplink);
	diag_list_free(&d);
	resolved_env_free(&r);
}

/* A build killed midway (after venv creation) publishes nothing; the next
 * call cleans up and builds. */
static void test_killed_build(void **state)
{
	(void)state;
	resolved_env r;
	const char *pkgs[] = { "amlspec_otherpkg==1.0.0", "amlspec_tinypkg==0.1.0", NULL };
	make_env(&r, "inline killed", pkgs);
	seal(&r);
	fflush(NULL);
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		/* its own process group, so that venv and pip die with it */
		setpgid(0, 0);
		materialize_opts mo = { fx.cache, NULL };
		diag_list d = DIAG_LIST_INIT;
		env_instance e;
		int rc = env_materialize(&e, &r, &mo, &d);
		_exit(rc ? 2 : 0);
	}
	setpgid(kid, kid);

	/* wait for the venv to exist (bin/pip comes last from ensurepip) */
	char *pattern = xasprintf(".build-%s-", hex_of(&r));
	bool seen = false;
	for (int i = 0; i < 12000 && !seen; i++) { /* up to 2 minutes on a loaded machine */
		DIR *dir = opendir(fx.cache);
		struct dirent *de;
		while (dir && (de = readdir(dir)) && !seen) {
			if (strncmp(de->d_name, pattern, strlen(pattern)))
				continue;
			char *pip = xasprintf("%s/%s/bin/pip", fx.cache, de->d_name);
			seen = fs_exists(pip);
			free(pip);
		}
		if (dir)
			closedir(dir);
		if (!seen)
			usleep(10000);
	}
	assert_true(seen);
	assert_int_equal(kill(-kid, SIGKILL), 0);
	int st;
	assert_int_equal(waitpid(kid, &st, 0), kid);
	assert_true(WIFSIGNALED(st));
	assert_false(published(&r));
	assert_int_equal(count_builds(&r), 1); /* the killed one's leftovers */

	materialize_opts mo = { fx.cache, fx.log };
	diag_list d = DIAG_LIST_INIT;
	env_instance e;
	int rc = env_materialize(&e, &r, &mo, &d);
	if (rc)
		print_diags(&d);
	assert_int_equal(rc, AML_OK);
	assert_false(e.reused);
	assert_true(published(&r));
	assert_int_equal(count_builds(&r), 1); /* the new one only */
	assert_true(python_ok(e.python, "import amlspec_otherpkg, amlspec_tinypkg"));
	env_instance_free(&e);
	free(pattern);
	diag_list_free(&d);
	resolved_env_free(&r);
}

static void test_user_managed(void **state)
{
	(void)state;
	resolved_env r;
	make_env(&r, "default", NULL);
	r.def.user_managed = true;
	seal(&r);
	materialize_opts mo = { fx.cache, fx.log };
	diag_list d = DIAG_LIST_INIT;
	env_instance e;

	/* default: python3 on PATH, made absolute */
	char *python3 = proc_which("python3", NULL);
	assert_non_null(python3);
	assert_int_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	assert_string_equal(e.python, python3);
	assert_null(e.prefix);
	env_instance_free(&e);

	/* an explicit interpreter is used as it is */
	r.def.interpreter_path = xstrdup(python3);
	assert_int_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	assert_string_equal(e.python, python3);
	env_instance_free(&e);
	assert_int_equal(d.errors, 0);

	/* a version the interpreter does not have: a warning only */
	r.def.python_version = xstrdup("2.1");
	assert_int_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	assert_int_equal(d.warnings, 1);
	assert_true(has_message(&d, "asks for python 2.1"));
	env_instance_free(&e);
	diag_list_free(&d);

	/* missing */
	free(r.def.interpreter_path);
	r.def.interpreter_path = xstrdup("/nonexistent/bin/python3");
	assert_int_not_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	assert_true(has_message(&d, "interpreter /nonexistent/bin/python3 does not exist"));
	assert_null(e.python);
	diag_list_free(&d);

	/* not executable */
	tu_write(fx.tmp, "notexec/python3", "#!/bin/sh\n");
	free(r.def.interpreter_path);
	r.def.interpreter_path = fs_join(fx.tmp, "notexec/python3");
	assert_int_not_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	assert_true(has_message(&d, "is not an executable file"));
	diag_list_free(&d);

	/* a bare name not on PATH */
	free(r.def.interpreter_path);
	r.def.interpreter_path = xstrdup("amlspec-no-such-python");
	assert_int_not_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	assert_true(has_message(&d, "'amlspec-no-such-python' not found on PATH"));
	diag_list_free(&d);

	free(python3);
	resolved_env_free(&r);
}

static void test_missing_python_version(void **state)
{
	(void)state;
	resolved_env r;
	const char *pkgs[] = { "amlspec_tinypkg==0.1.0", NULL };
	make_env(&r, "inline py2.1", pkgs);
	r.def.python_version = xstrdup("2.1.9");
	seal(&r);
	materialize_opts mo = { fx.cache, fx.log };
	diag_list d = DIAG_LIST_INIT;
	env_instance e;
	assert_int_not_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	assert_int_equal(d.errors, 1);
	fprintf(stderr, "  message: %s\n", d.items[0].message);
	assert_true(has_message(&d, "python 2.1.9 not found on PATH or among pyenv versions"));
	assert_true(has_message(&d, "change environment.python.version"));
	assert_string_equal(d.items[0].path, "environment.python.version");
	assert_false(published(&r));
	assert_int_equal(count_builds(&r), 0);
	diag_list_free(&d);

	free(r.def.python_version);
	r.def.python_version = xstrdup("3.x");
	seal(&r);
	assert_int_not_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	assert_true(has_message(&d, "'3.x' is not a Python version"));
	diag_list_free(&d);
	resolved_env_free(&r);
}

/* Saves and restores an environment variable around a test. */
typedef struct saved_var {
	const char *name;
	char *value;
} saved_var;

static saved_var save_var(const char *name)
{
	const char *v = getenv(name);
	saved_var s = { name, v ? xstrdup(v) : NULL };
	return s;
}

static void restore_var(saved_var *s)
{
	if (s->value)
		setenv(s->name, s->value, 1);
	else
		unsetenv(s->name);
	free(s->value);
	s->value = NULL;
}

static void fake_python(const char *dir, const char *name, const char *version)
{
	char *text = xasprintf("#!/bin/sh\necho 'Python %s'\n", version);
	tu_write(dir, name, text);
	char *p = fs_join(dir, name);
	assert_int_equal(chmod(p, 0755), 0);
	free(p);
	free(text);
}

/* Version search on a fake PATH and a fake pyenv: highest matching patch,
 * numeric order, PATH wins ties, shims skipped. */
static void test_find_python(void **state)
{
	(void)state;
	saved_var path = save_var("PATH"), proot = save_var("PYENV_ROOT");
	char *root = fs_join(fx.tmp, "fakepy");
	char *pyenv = fs_join(root, "pyenv");
	char *bin = fs_join(root, "bin");
	char *shims = fs_join(pyenv, "shims");
	fake_python(pyenv, "versions/3.99.1/bin/python", "3.99.1");
	fake_python(pyenv, "versions/3.99.12/bin/python", "3.99.12");
	fake_python(pyenv, "versions/3.99.3/bin/python", "3.99.3");
	fake_python(pyenv, "versions/3.98.0/bin/python", "3.98.0");
	fake_python(pyenv, "versions/miniconda3-latest/bin/python", "3.99.50");
	fake_python(pyenv, "shims/python3.99", "3.99.99");
	fake_python(bin, "python3.99", "3.99.5");
	fake_python(bin, "python3.98", "3.98.0");
	char *newpath = xasprintf("%s:%s:%s", shims, bin, path.value ? path.value : "/usr/bin:/bin");
	setenv("PATH", newpath, 1);
	setenv("PYENV_ROOT", pyenv, 1);

	diag_list d = DIAG_LIST_INIT;
	char *found = NULL;
	char *expect;

	assert_int_equal(env_find_python(&found, "3.99", &d), AML_OK);
	expect = fs_join(pyenv, "versions/3.99.12/bin/python");
	assert_string_equal(found, expect);
	free(expect);
	free(found);

	assert_int_equal(env_find_python(&found, "3.99.5", &d), AML_OK);
	expect = fs_join(bin, "python3.99");
	assert_string_equal(found, expect);
	free(expect);
	free(found);

	assert_int_equal(env_find_python(&found, "3.99.3", &d), AML_OK);
	expect = fs_join(pyenv, "versions/3.99.3/bin/python");
	assert_string_equal(found, expect);
	free(expect);
	free(found);

	/* same version on PATH and in pyenv: PATH first */
	assert_int_equal(env_find_python(&found, "3.98", &d), AML_OK);
	expect = fs_join(bin, "python3.98");
	assert_string_equal(found, expect);
	free(expect);
	free(found);
	assert_int_equal(d.errors, 0);

	/* missing: says where it looked and what it saw */
	assert_int_not_equal(env_find_python(&found, "3.97", &d), AML_OK);
	assert_null(found);
	assert_int_equal(d.errors, 1);
	fprintf(stderr, "  message: %s\n", d.items[0].message);
	assert_true(has_message(&d, "python 3.97 not found on PATH or among pyenv versions"));
	assert_true(has_message(&d, "3.98.0, 3.99.1, 3.99.3, 3.99.12, miniconda3-latest"));
	char *versions = fs_join(pyenv, "versions");
	assert_true(has_message(&d, versions));
	free(versions);
	diag_list_free(&d);

	restore_var(&path);
	restore_var(&proot);
	free(newpath);
	free(shims);
	free(bin);
	free(pyenv);
	free(root);
}

static void test_conda_missing(void **state)
{
	(void)state;
	saved_var path = save_var("PATH"), mexe = save_var("MAMBA_EXE"), cexe = save_var("CONDA_EXE");
	char *empty = fs_join(fx.tmp, "emptybin");
	fs_mkdirs(empty, 0755);
	setenv("PATH", empty, 1);
	unsetenv("MAMBA_EXE");
	unsetenv("CONDA_EXE");

	resolved_env r;
	make_env(&r, "AzureML-Minimal@36", NULL);
	r.def.python_version = xstrdup("3.6.2");
	strlist_add(&r.def.channels, "conda-forge");
	strlist_add(&r.def.conda_packages, "python=3.6.2");
	seal(&r);
	materialize_opts mo = { fx.cache, fx.log };
	diag_list d = DIAG_LIST_INIT;
	env_instance e;
	assert_int_not_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	restore_var(&path);
	restore_var(&mexe);
	restore_var(&cexe);
	assert_int_equal(d.errors, 1);
	assert_true(has_message(&d, "none of micromamba, mamba or conda is on PATH"));
	assert_true(has_message(&d, "python=3.6.2"));
	assert_true(has_message(&d, "pip_packages"));
	assert_true(has_message(&d, "user_managed_dependencies"));
	assert_false(published(&r));
	assert_int_equal(count_builds(&r), 0);
	diag_list_free(&d);
	resolved_env_free(&r);
	free(empty);
}

/* A fake micromamba (a script) shows the arguments we pass and lets the
 * publish/rebuild logic run in milliseconds. */
static void test_conda_fake_and_repair(void **state)
{
	(void)state;
	saved_var path = save_var("PATH");
	char *bin = fs_join(fx.tmp, "condabin");
	char *argsfile = fs_join(fx.tmp, "micromamba.args");
	char *python3 = proc_which("python3", NULL);
	assert_non_null(python3);
	char *script = xasprintf("#!/bin/sh\n"
				 "printf '%%s\\n' \"$@\" > '%s'\n"
				 "prefix=\"$4\"\n"
				 "mkdir -p \"$prefix/bin\" && ln -s '%s' \"$prefix/bin/python\"\n",
				 argsfile, python3);
	tu_write(bin, "micromamba", script);
	char *tool = fs_join(bin, "micromamba");
	chmod(tool, 0755);
	char *newpath = xasprintf("%s:%s", bin, path.value ? path.value : "/usr/bin:/bin");
	setenv("PATH", newpath, 1);

	resolved_env r;
	make_env(&r, "inline conda", NULL);
	r.def.python_version = xstrdup("3.11");
	strlist_add(&r.def.channels, "conda-forge");
	strlist_add(&r.def.channels, "defaults");
	strlist_add(&r.def.conda_packages, "numpy=1.26");
	seal(&r);

	/* garbage a killed build would leave: removed under the lock */
	char *junk = xasprintf(".build-%s-junk00", hex_of(&r));
	char *junkfile = xasprintf("%s/bin/python", junk);
	tu_write(fx.cache, junkfile, "");
	free(junkfile);
	char *junkdir = fs_join(fx.cache, junk);
	char *tmplink = xasprintf("%s/%s.tmp", fx.cache, hex_of(&r));
	assert_int_equal(symlink(junk, tmplink), 0);

	materialize_opts mo = { fx.cache, fx.log };
	diag_list d = DIAG_LIST_INIT;
	env_instance e;
	int rc = env_materialize(&e, &r, &mo, &d);
	if (rc)
		print_diags(&d);
	assert_int_equal(rc, AML_OK);
	assert_false(e.reused);
	assert_false(fs_exists(junkdir));
	assert_false(fs_exists(tmplink));
	assert_int_equal(count_builds(&r), 1);

	buf args = BUF_INIT;
	assert_int_equal(buf_read_file(&args, argsfile, 1 << 16), 0);
	char *link = fs_join(fx.cache, hex_of(&r));
	char target[4096];
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	char *expect = xasprintf("create\n-y\n-p\n%s/%s\n-c\nconda-forge\n-c\ndefaults\npython=3.11\nnumpy=1.26\n",
				 fx.cache, target);
	assert_string_equal(args.ptr, expect);
	free(expect);

	/* a published env that lost its record is rebuilt, not used */
	char *record = fs_join(e.prefix, "env.json");
	assert_int_equal(unlink(record), 0);
	env_instance_free(&e);
	rc = env_materialize(&e, &r, &mo, &d);
	assert_int_equal(rc, AML_OK);
	assert_false(e.reused);
	assert_true(fs_is_file(record));
	assert_int_equal(count_builds(&r), 1);
	char target2[4096];
	n = readlink(link, target2, sizeof(target2) - 1);
	assert_true(n > 0);
	target2[n] = '\0';
	assert_string_not_equal(target, target2);
	env_instance_free(&e);

	restore_var(&path);
	free(record);
	free(link);
	buf_free(&args);
	free(tmplink);
	free(junkdir);
	free(junk);
	diag_list_free(&d);
	resolved_env_free(&r);
	free(newpath);
	free(tool);
	free(script);
	free(python3);
	free(argsfile);
	free(bin);
}

static void test_cache_root(void **state)
{
	(void)state;
	saved_var xdg = save_var("XDG_CACHE_HOME"), home = save_var("HOME");
	setenv("XDG_CACHE_HOME", "/x/cache", 1);
	char *c = env_cache_root();
	assert_string_equal(c, "/x/cache/amlspec/envs");
	free(c);
	setenv("XDG_CACHE_HOME", "relative/cache", 1); /* invalid per XDG: ignored */
	setenv("HOME", "/home/someone", 1);
	c = env_cache_root();
	assert_string_equal(c, "/home/someone/.cache/amlspec/envs");
	free(c);
	unsetenv("XDG_CACHE_HOME");
	c = env_cache_root();
	assert_string_equal(c, "/home/someone/.cache/amlspec/envs");
	free(c);
	restore_var(&xdg);
	restore_var(&home);
}

static void test_bad_digest(void **state)
{
	(void)state;
	resolved_env r;
	make_env(&r, "inline", NULL);
	r.digest = xstrdup("sha256:../../etc");
	materialize_opts mo = { fx.cache, fx.log };
	diag_list d = DIAG_LIST_INIT;
	env_instance e;
	assert_int_not_equal(env_materialize(&e, &r, &mo, &d), AML_OK);
	assert_true(has_message(&d, "is not a sha256 digest"));
	diag_list_free(&d);
	resolved_env_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_root),
		cmocka_unit_test(test_bad_digest),
		cmocka_unit_test(test_find_python),
		cmocka_unit_test(test_user_managed),
		cmocka_unit_test(test_missing_python_version),
		cmocka_unit_test(test_conda_missing),
		cmocka_unit_test(test_conda_fake_and_repair),
		cmocka_unit_test(test_build_and_reuse),
		cmocka_unit_test(test_concurrent_builds),
		cmocka_unit_test(test_pip_failure),
		cmocka_unit_test(test_killed_build),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
