/* run_spec and the workspace file: loading, decoding, and every semantic
 * check (paths, environments, targets, distribution, secrets, names,
 * addresses), each with its exact line, column and key path. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/specset.h"
#include "spec/run_spec.h"
#include "util/buf.h"
#include "util/fs.h"
#include "workspace/workspace.h"

static char *W;          /* the workspace root (a real path) */
static char *old_cwd;
static workspace *WS;
static diag_list D;

static int setup(void **state)
{
	(void)state;
	char *tmp = tu_mkdtemp();
	W = fs_realpath(tmp);
	free(tmp);
	old_cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(W), 0);
	tu_write(W, "src/train.py", "print('hi')\n");
	tu_write(W, "src/pkg/mod.py", "\n");
	WS = NULL;
	memset(&D, 0, sizeof(D));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	workspace_free(WS);
	WS = NULL;
	diag_list_free(&D);
	assert_int_equal(chdir(old_cwd), 0);
	free(old_cwd);
	tu_rmtree(W);
	free(W);
	return 0;
}

/* Opens the workspace at W (reading amlspec.yaml if one was written). */
static void open_ws(void)
{
	workspace_free(WS);
	WS = NULL;
	workspace_open(&WS, W, &D);
	assert_non_null(WS);
}

static char *diags_text(diag_list *l)
{
	buf b = BUF_INIT;
	diag_list_sort(l);
	for (size_t i = 0; i < l->count; i++) {
		const diag *d = &l->items[i];
		buf_printf(&b, "%s%s:%u:%u [%s] %s\n", d->severity == DIAG_WARNING ? "warning " : "", d->file ? d->file : "",
			   d->line, d->col, d->path ? d->path : "", d->message);
	}
	return buf_detach(&b);
}

/* Writes name (relative to W) and loads it as a run spec. */
static run_spec *load(const char *name, const char *text)
{
	if (!WS)
		open_ws();
	tu_write(W, name, text);
	char *path = fs_join(W, name);
	run_spec *s = (run_spec *)0x1;
	int rc = run_spec_load(&s, path, name, WS, &D);
	free(path);
	if (rc)
		assert_null(s);
	return s;
}

#define expect_spec(name, text, want)                                  \
	do {                                                           \
		diag_list_free(&D);                                    \
		run_spec *s_ = load((name), (text));                   \
		char *got_ = diags_text(&D);                           \
		assert_string_equal(got_, (want));                     \
		free(got_);                                            \
		if (!D.errors)                                         \
			assert_non_null(s_);                           \
		run_spec_free(s_);                                     \
	} while (0)

#define OK_SCRIPT "experiment: e\nsource_directory: src\nscript: train.py\n"

/* ---- decoding ---- */

static void test_minimal_and_defaults(void **state)
{
	(void)state;
	run_spec *s = load("a.run.yaml", "experiment: exp1\nscript: src/train.py\n");
	assert_non_null(s);
	assert_int_equal(D.count, 0);
	assert_string_equal(s->file, "a.run.yaml");
	assert_string_equal(s->experiment, "exp1");
	assert_string_equal(s->name, "a");
	assert_string_equal(s->address, "exp1/a");
	assert_string_equal(s->source_directory, ".");
	assert_string_equal(s->source_dir_abs, W);
	assert_string_equal(s->script, "src/train.py");
	assert_string_equal(s->target, "local");
	assert_int_equal(s->framework, FW_PYTHON);
	assert_int_equal(s->node_count, 1);
	assert_int_equal(s->process_count_per_node, 1);
	assert_int_equal(s->timeout_seconds, RUN_SPEC_DEFAULT_TIMEOUT);
	assert_int_equal(s->environment.kind, ENV_DEFAULT);
	assert_int_equal(s->experiment_line, 1);
	assert_int_equal(s->experiment_col, 13);
	run_spec_free(s);
}

static void test_full_decode(void **state)
{
	(void)state;
	run_spec *s = load("specs/full.run.yaml",
			   "version: 1\n"
			   "experiment: my_experiment\n"
			   "name: baseline\n"
			   "description: Logistic regression baseline\n"
			   "tags: {team: vision, n: 3}\n"
			   "source_directory: ../src\n"
			   "script: train.py\n"
			   "arguments: [--lr, 0.01, --epochs, 10, --flag, true]\n"
			   "environment: AzureML-Minimal@36\n"
			   "environment_variables: {EPOCHS: \"10\", B: 2}\n"
			   "secrets: [WANDB_API_KEY]\n"
			   "target: local\n"
			   "framework: pytorch\n"
			   "distribution:\n"
			   "  node_count: 2\n"
			   "  process_count_per_node: 4\n"
			   "limits:\n"
			   "  timeout: 2h\n");
	assert_non_null(s);
	assert_string_equal(s->address, "my_experiment/baseline");
	assert_string_equal(s->description, "Logistic regression baseline");
	assert_string_equal(kvlist_get(&s->tags, "n"), "3");
	char *src = fs_join(W, "src");
	assert_string_equal(s->source_dir_abs, src);
	free(src);
	assert_int_equal(s->arguments.count, 6);
	assert_string_equal(s->arguments.items[1], "0.01");
	assert_string_equal(s->arguments.items[5], "true");
	assert_int_equal(s->environment.kind, ENV_CURATED);
	assert_string_equal(s->environment.ref_name, "AzureML-Minimal");
	assert_int_equal(s->environment.ref_version, 36);
	assert_string_equal(kvlist_get(&s->environment_variables, "B"), "2");
	assert_string_equal(s->secrets.items[0], "WANDB_API_KEY");
	assert_int_equal(s->framework, FW_PYTORCH);
	assert_string_equal(framework_name(s->framework), "pytorch");
	assert_int_equal(s->node_count, 2);
	assert_int_equal(s->process_count_per_node, 4);
	assert_int_equal(s->timeout_seconds, 7200);

	json_object *o = run_spec_to_json(s);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			    "{\"experiment\":\"my_experiment\",\"name\":\"baseline\",\"description\":\"Logistic regression "
			    "baseline\",\"tags\":{\"n\":\"3\",\"team\":\"vision\"},\"source_directory\":\"..\\/src\",\"script\":"
			    "\"train.py\",\"arguments\":[\"--lr\",\"0.01\",\"--epochs\",\"10\",\"--flag\",\"true\"],"
			    "\"environment\":\"AzureML-Minimal\",\"environment_version\":36,\"environment_variables\":{\"B\":"
			    "\"2\",\"EPOCHS\":\"10\"},\"secrets\":[\"WANDB_API_KEY\"],\"target\":\"local\",\"framework\":"
			    "\"pytorch\",\"node_count\":2,\"process_count_per_node\":4,\"timeout_seconds\":7200}");
	json_object_put(o);
	run_spec_free(s);
}

static void test_command_and_inline_env(void **state)
{
	(void)state;
	run_spec *s = load("c.run.yaml",
			   "experiment: e\n"
			   "command: [python, -m, pkg.mod, 3]\n"
			   "environment:\n"
			   "  extends: AzureML-Minimal\n"
			   "  python:\n"
			   "    pip_packages: [numpy==1.26.4]\n"
			   "    user_managed_dependencies: true\n"
			   "  docker: {enabled: true}\n"
			   "limits: {timeout: 3600}\n");
	assert_non_null(s);
	assert_null(s->script);
	assert_int_equal(s->command.count, 4);
	assert_string_equal(s->command.items[3], "3");
	assert_int_equal(s->environment.kind, ENV_INLINE);
	assert_string_equal(s->environment.ref_name, "AzureML-Minimal");
	assert_int_equal(s->environment.ref_version, 0);
	assert_true(s->environment.inline_def.user_managed);
	assert_true(s->environment.present.user_managed);
	assert_true(s->environment.inline_def.docker_enabled);
	assert_string_equal(s->environment.inline_def.pip_packages.items[0], "numpy==1.26.4");
	assert_int_equal(s->timeout_seconds, 3600);
	/* user-managed with packages: a warning, not an error */
	char *got = diags_text(&D);
	assert_string_equal(got, "warning c.run.yaml:7:32 [environment.python.user_managed_dependencies] "
				 "environment.python.user_managed_dependencies: packages are not installed into a "
				 "user-managed environment; pip_packages and conda_packages are ignored\n");
	free(got);
	run_spec_free(s);
}

static void test_yaml12_integers_decode(void **state)
{
	(void)state;
	run_spec *s = load("i.run.yaml", OK_SCRIPT "framework: mpi\ndistribution: {node_count: 010, "
						 "process_count_per_node: 0x10}\nlimits: {timeout: 0o20}\n");
	assert_non_null(s);
	assert_int_equal(s->node_count, 10);
	assert_int_equal(s->process_count_per_node, 16);
	assert_int_equal(s->timeout_seconds, 16);
	run_spec_free(s);
	s = load("i.run.yaml", OK_SCRIPT "version: 1.0\nframework: mpi\ndistribution: {node_count: 2.0, "
					  "process_count_per_node: 1e1}\nlimits: {timeout: 3.6e3}\n");
	assert_non_null(s);
	assert_int_equal(s->node_count, 2);
	assert_int_equal(s->process_count_per_node, 10);
	assert_int_equal(s->timeout_seconds, 3600);
	run_spec_free(s);
}

static void test_durations_decode(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		long long seconds;
	} cases[] = { { "30s", 30 }, { "15m", 900 }, { "2h", 7200 }, { "1d", 86400 }, { "3600", 3600 }, { "\"90\"", 90 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = xasprintf(OK_SCRIPT "limits: {timeout: %s}\n", cases[i].text);
		run_spec *s = load("d.run.yaml", t);
		assert_non_null(s);
		assert_int_equal(s->timeout_seconds, cases[i].seconds);
		run_spec_free(s);
		free(t);
	}
}

/* ---- names and addresses ---- */

static void test_default_names(void **state)
{
	(void)state;
	static const struct {
		const char *file;
		const char *name;
	} cases[] = {
		{ "x.run.yaml", "x" },          { "x.run.yml", "x" },        { "mnist/run.yaml", "mnist" },
		{ "a/b/run.yml", "b" },         { "deep/er/train-2.run.yaml", "train-2" },
		{ "plain.yaml", "plain" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_spec *s = load(cases[i].file, "experiment: e\ncommand: [ls]\n");
		assert_non_null(s);
		assert_string_equal(s->name, cases[i].name);
		run_spec_free(s);
	}
	/* an explicit name wins */
	run_spec *s = load("x.run.yaml", "experiment: e\nname: other\ncommand: [ls]\n");
	assert_string_equal(s->address, "e/other");
	run_spec_free(s);
}

static void test_invalid_default_name(void **state)
{
	(void)state;
	expect_spec("my run.run.yaml", "experiment: e\ncommand: [ls]\n",
		    "my run.run.yaml:1:1 [name] name: the default name 'my run' (from the file name) is not a valid name; "
		    "set 'name:'\n");
	expect_spec("v1.2/run.yaml", "experiment: e\ncommand: [ls]\n",
		    "v1.2/run.yaml:1:1 [name] name: the default name 'v1.2' (from the file name) is not a valid name; set "
		    "'name:'\n");
	/* at the mapping, wherever it starts */
	expect_spec("my run.run.yaml", "# a comment\n\n  experiment: e\n  command: [ls]\n",
		    "my run.run.yaml:3:3 [name] name: the default name 'my run' (from the file name) is not a valid name; "
		    "set 'name:'\n");
	/* setting a name fixes it */
	expect_spec("my run.run.yaml", "experiment: e\nname: ok\ncommand: [ls]\n", "");
}

/* ---- the document itself ---- */

static void test_empty_and_non_mapping(void **state)
{
	(void)state;
	const char *empty = "e.run.yaml:1:1 [] file is empty; a run spec needs at least 'experiment' and 'script' (or "
			    "'command')\n";
	expect_spec("e.run.yaml", "", empty);
	expect_spec("e.run.yaml", "# nothing yet\n\n", empty);
	/* an explicit document with nothing in it, or only a null, is empty too */
	expect_spec("e.run.yaml", "---\n", empty);
	expect_spec("e.run.yaml", "~\n", empty);
	expect_spec("e.run.yaml", "- a\n- b\n", "e.run.yaml:1:1 [] a run spec must be a mapping of keys, not a sequence\n");
	expect_spec("e.run.yaml", "42\n", "e.run.yaml:1:1 [] a run spec must be a mapping of keys, not an integer\n");
	expect_spec("e.run.yaml", "true\n", "e.run.yaml:1:1 [] a run spec must be a mapping of keys, not a boolean\n");
	expect_spec("e.run.yaml", "\n\nhello\n", "e.run.yaml:3:1 [] a run spec must be a mapping of keys, not a string\n");
	/* syntax errors come from the loader, and nothing else is checked */
	expect_spec("e.run.yaml", "experiment: e\n\tscript: x\n",
		    "e.run.yaml:2:1 [] tab character in indentation; YAML allows only spaces\n");
	expect_spec("e.run.yaml", "experiment: e\nexperiment: f\n",
		    "e.run.yaml:2:1 [] duplicate key 'experiment' (first defined at line 1, column 1)\n");
}

/* ---- source_directory and script ---- */

static void test_source_directory(void **state)
{
	(void)state;
	tu_write(W, "notadir", "x\n");
	char *outside = tu_mkdtemp();
	char *outside_real = fs_realpath(outside);
	char *link = fs_join(W, "escape");
	assert_int_equal(symlink(outside_real, link), 0);
	char *inside_link = fs_join(W, "srclink");
	assert_int_equal(symlink("src", inside_link), 0);

	expect_spec("s.run.yaml", "experiment: e\nsource_directory: missing\nscript: train.py\n",
		    "s.run.yaml:2:19 [source_directory] source_directory: 'missing' does not exist\n");
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: notadir\nscript: train.py\n",
		    "s.run.yaml:2:19 [source_directory] source_directory: 'notadir' is not a directory\n");
	char *parent = fs_dirname(W);
	char *want = xasprintf("s.run.yaml:2:19 [source_directory] source_directory: '..' resolves to %s, outside the "
			       "workspace %s\n", parent, W);
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: ..\nscript: train.py\n", want);
	free(want);
	want = xasprintf("sub/s.run.yaml:2:19 [source_directory] source_directory: '../..' resolves to %s, outside the "
			 "workspace %s\n", parent, W);
	expect_spec("sub/s.run.yaml", "experiment: e\nsource_directory: ../..\nscript: train.py\n", want);
	free(want);
	/* via a symlink that points out */
	want = xasprintf("s.run.yaml:2:19 [source_directory] source_directory: 'escape' resolves to %s, outside the "
			 "workspace %s\n", outside_real, W);
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: escape\nscript: train.py\n", want);
	free(want);
	/* an absolute path is fine inside the workspace, not outside */
	char *t = xasprintf("experiment: e\nsource_directory: %s/src\nscript: train.py\n", W);
	expect_spec("s.run.yaml", t, "");
	free(t);
	t = xasprintf("experiment: e\nsource_directory: %s\ncommand: [ls]\n", outside_real);
	want = xasprintf("s.run.yaml:2:19 [source_directory] source_directory: '%s' resolves to %s, outside the workspace "
			 "%s\n", outside_real, outside_real, W);
	expect_spec("s.run.yaml", t, want);
	free(want);
	free(t);
	/* relative to the spec's folder; a symlink that stays inside is fine */
	expect_spec("sub/s.run.yaml", "experiment: e\nsource_directory: ../src\nscript: train.py\n", "");
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: srclink\nscript: train.py\n", "");
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: src/\nscript: pkg/mod.py\n", "");

	free(parent);
	free(inside_link);
	free(link);
	tu_rmtree(outside);
	free(outside);
	free(outside_real);
}

static void test_script(void **state)
{
	(void)state;
	tu_write(W, "secret.txt", "x\n");
	char *link = fs_join(W, "src/up.py");
	assert_int_equal(symlink("../secret.txt", link), 0);
	char *inlink = fs_join(W, "src/alias.py");
	assert_int_equal(symlink("train.py", inlink), 0);
	char *dangling = fs_join(W, "src/dangling.py");
	assert_int_equal(symlink("nowhere.py", dangling), 0);

	expect_spec("s.run.yaml", OK_SCRIPT, "");
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: src\nscript: alias.py\n", "");
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: src\nscript: missing.py\n",
		    "s.run.yaml:3:9 [script] script: 'missing.py' does not exist in source_directory src\n");
	/* relative to source_directory, not to the spec */
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: src\nscript: src/train.py\n",
		    "s.run.yaml:3:9 [script] script: 'src/train.py' does not exist in source_directory src\n");
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: src\nscript: ../secret.txt\n",
		    "s.run.yaml:3:9 [script] script: '../secret.txt' resolves outside source_directory src\n");
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: src\nscript: up.py\n",
		    "s.run.yaml:3:9 [script] script: 'up.py' resolves outside source_directory src\n");
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: src\nscript: /etc/passwd\n",
		    "s.run.yaml:3:9 [script] script: must be relative to source_directory, not an absolute path\n");
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: src\nscript: pkg\n",
		    "s.run.yaml:3:9 [script] script: 'pkg' is not a regular file\n");
	expect_spec("s.run.yaml", "experiment: e\nsource_directory: src\nscript: dangling.py\n",
		    "s.run.yaml:3:9 [script] script: 'dangling.py' does not exist in source_directory src\n");
	/* the default source_directory is the spec's folder */
	expect_spec("s.run.yaml", "experiment: e\nscript: train.py\n",
		    "s.run.yaml:2:9 [script] script: 'train.py' does not exist in source_directory .\n");
	/* with command, no script is looked for */
	expect_spec("s.run.yaml", "experiment: e\ncommand: [python, nothing.py]\n", "");
	free(link);
	free(inlink);
	free(dangling);
}

/* ---- environments ---- */

static void test_environments(void **state)
{
	(void)state;
	expect_spec("v.run.yaml", OK_SCRIPT "environment: AzureML-Minimal\n", "");
	expect_spec("v.run.yaml", OK_SCRIPT "environment: AzureML-Minimal@36\n", "");
	expect_spec("v.run.yaml", OK_SCRIPT "environment: AzureML-Minmal@36\n",
		    "v.run.yaml:4:14 [environment] environment: unknown curated environment 'AzureML-Minmal' (did you mean "
		    "'AzureML-Minimal'?)\n");
	expect_spec("v.run.yaml", OK_SCRIPT "environment: azureml-minimal\n",
		    "v.run.yaml:4:14 [environment] environment: unknown curated environment 'azureml-minimal' (did you "
		    "mean 'AzureML-Minimal'?)\n");
	expect_spec("v.run.yaml", OK_SCRIPT "environment: PyTorch\n",
		    "v.run.yaml:4:14 [environment] environment: unknown curated environment 'PyTorch' (amlspec envs list "
		    "shows the catalog)\n");
	expect_spec("v.run.yaml", OK_SCRIPT "environment: AzureML-Minimal@35\n",
		    "v.run.yaml:4:14 [environment] environment: 'AzureML-Minimal' has no version 35 (versions: 36)\n");
	expect_spec("v.run.yaml", OK_SCRIPT "environment: AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu@2\n",
		    "v.run.yaml:4:14 [environment] environment: 'AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu' has no version "
		    "2 (versions: 1, 11)\n");
	/* @0 is not 'the latest' */
	expect_spec("v.run.yaml", OK_SCRIPT "environment: AzureML-Minimal@0\n",
		    "v.run.yaml:4:14 [environment] environment: 'AzureML-Minimal' has no version 0 (versions: 36)\n");
	expect_spec("v.run.yaml", OK_SCRIPT "environment: {extends: AzureML-Minimal@000}\n",
		    "v.run.yaml:4:24 [environment.extends] environment.extends: 'AzureML-Minimal' has no version 000 "
		    "(versions: 36)\n");
	/* extends */
	expect_spec("v.run.yaml", OK_SCRIPT "environment:\n  extends: AzureML-Tutorail\n",
		    "v.run.yaml:5:12 [environment.extends] environment.extends: unknown curated environment "
		    "'AzureML-Tutorail' (did you mean 'AzureML-Tutorial'?)\n");
	expect_spec("v.run.yaml", OK_SCRIPT "environment: {extends: AzureML-Tutorial@1}\n",
		    "v.run.yaml:4:24 [environment.extends] environment.extends: 'AzureML-Tutorial' has no version 1 "
		    "(versions: 49)\n");
	expect_spec("v.run.yaml", OK_SCRIPT "environment: {python: {version: \"3.11\"}}\n", "");
	/* a reference the schema refuses is not looked up again */
	expect_spec("v.run.yaml", OK_SCRIPT "environment: bad name\n",
		    "v.run.yaml:4:14 [environment] environment: invalid value 'bad name': a curated environment NAME or "
		    "NAME@VERSION\n");
}

/* Values of the wrong shape in an inline environment are reported, and
 * decoding them must not crash. */
static void test_inline_env_wrong_shapes(void **state)
{
	(void)state;
	expect_spec("v.run.yaml", OK_SCRIPT "environment:\n  python: {user_managed_dependencies: [1]}\n"
				      "  docker: {enabled: {}}\n",
		    "v.run.yaml:5:39 [environment.python.user_managed_dependencies] "
		    "environment.python.user_managed_dependencies: expected a boolean (true or false), got a sequence\n"
		    "v.run.yaml:6:21 [environment.docker.enabled] environment.docker.enabled: expected a boolean (true or "
		    "false), got a mapping\n");
	expect_spec("v.run.yaml", OK_SCRIPT "environment:\n  environment_variables: {A: [x]}\n  python: [x]\n",
		    "v.run.yaml:5:30 [environment.environment_variables.A] environment.environment_variables.A: expected a "
		    "string, number or boolean, got a sequence\n"
		    "v.run.yaml:6:11 [environment.python] environment.python: expected a mapping, got a sequence\n");
}

/* ---- targets ---- */

static void test_targets_without_workspace_file(void **state)
{
	(void)state;
	expect_spec("t.run.yaml", OK_SCRIPT "target: local\n", "");
	expect_spec("t.run.yaml", OK_SCRIPT "target: lcoal\n",
		    "t.run.yaml:4:9 [target] target: unknown target 'lcoal' (did you mean 'local'?); targets are 'local' or "
		    "declared in amlspec.yaml (none found)\n");
	expect_spec("t.run.yaml", OK_SCRIPT "target: gpu-vm\n",
		    "t.run.yaml:4:9 [target] target: unknown target 'gpu-vm'; targets are 'local' or declared in "
		    "amlspec.yaml (none found)\n");
}

static void test_targets_declared(void **state)
{
	(void)state;
	tu_write(W, "amlspec.yaml",
		 "targets:\n"
		 "  gpu-vm: {type: ssh, host: 10.0.0.4}\n"
		 "  hpc: {type: slurm, work_dir: /shared, login: gpu-vm}\n");
	open_ws();
	assert_int_equal(D.count, 0);
	assert_int_equal(WS->ntargets, 2);
	assert_string_equal(WS->config_display, "amlspec.yaml");
	const target_config *t = workspace_target(WS, "hpc");
	assert_non_null(t);
	assert_string_equal(t->type, "slurm");
	assert_string_equal(kvlist_get(&t->options, "login"), "gpu-vm");
	assert_int_equal(t->line, 3);
	assert_int_equal(t->col, 3);
	assert_null(workspace_target(WS, "local"));

	expect_spec("t.run.yaml", OK_SCRIPT "target: gpu-vm\n", "");
	expect_spec("t.run.yaml", OK_SCRIPT "target: hpc\n", "");
	expect_spec("t.run.yaml", OK_SCRIPT "target: gpu-v\n",
		    "t.run.yaml:4:9 [target] target: unknown target 'gpu-v' (did you mean 'gpu-vm'?); targets are 'local' "
		    "or declared in amlspec.yaml\n");
	expect_spec("t.run.yaml", OK_SCRIPT "target: hcp\n",
		    "t.run.yaml:4:9 [target] target: unknown target 'hcp' (did you mean 'hpc'?); targets are 'local' or "
		    "declared in amlspec.yaml\n");
	expect_spec("t.run.yaml", OK_SCRIPT "target: lcoal\n",
		    "t.run.yaml:4:9 [target] target: unknown target 'lcoal' (did you mean 'local'?); targets are 'local' or "
		    "declared in amlspec.yaml\n");
}

/* ---- distribution and secrets ---- */

static void test_distribution(void **state)
{
	(void)state;
	expect_spec("d.run.yaml", OK_SCRIPT "framework: mpi\ndistribution: {node_count: 2}\n", "");
	expect_spec("d.run.yaml", OK_SCRIPT "framework: tensorflow\ndistribution:\n  process_count_per_node: 2\n", "");
	/* at the distribution key, not at its first item */
	expect_spec("d.run.yaml", OK_SCRIPT "framework: pyspark\ndistribution: {node_count: 2}\n",
		    "d.run.yaml:5:1 [distribution] distribution: applies to framework mpi, pytorch or tensorflow, not "
		    "pyspark\n");
	expect_spec("d.run.yaml", OK_SCRIPT "distribution:\n  node_count: 2\n",
		    "d.run.yaml:4:1 [distribution] distribution: applies to framework mpi, pytorch or tensorflow, not "
		    "python\n");
	/* a misspelt framework is one error, not two */
	expect_spec("d.run.yaml", OK_SCRIPT "framework: pytorh\ndistribution: {node_count: 2}\n",
		    "d.run.yaml:4:12 [framework] framework: invalid value 'pytorh' (did you mean 'pytorch'? expected one "
		    "of: python, mpi, pytorch, tensorflow, pyspark)\n");
}

static void test_secrets(void **state)
{
	(void)state;
	expect_spec("s.run.yaml", OK_SCRIPT "secrets: [A, B]\nenvironment_variables: {C: x}\n", "");
	expect_spec("s.run.yaml", OK_SCRIPT "secrets: [A, B]\nenvironment_variables: {B: x, A: y}\n",
		    "s.run.yaml:4:11 [secrets[0]] secrets[0]: 'A' is also set in environment_variables; a secret's value "
		    "comes only from the caller's environment\n"
		    "s.run.yaml:4:14 [secrets[1]] secrets[1]: 'B' is also set in environment_variables; a secret's value "
		    "comes only from the caller's environment\n");
	expect_spec("s.run.yaml", OK_SCRIPT "secrets:\n  - TOKEN\n  - TOKEN\n",
		    "s.run.yaml:6:5 [secrets[1]] secrets[1]: duplicate item 'TOKEN'\n");
}

/* ---- everything at once ---- */

static void test_all_problems_in_one_pass(void **state)
{
	(void)state;
	expect_spec("all.run.yaml",
		    "version: 2\n"
		    "experiment: my exp\n"
		    "nmae: x\n"
		    "source_directory: src\n"
		    "script: missing.py\n"
		    "environment: AzureML-Minmal@36\n"
		    "target: lcoal\n"
		    "framework: mpi\n"
		    "distribution: {node_count: 0}\n"
		    "limits: {timeout: 1.5h}\n",
		    "all.run.yaml:1:10 [version] version: unsupported version 2; this amlspec reads version 1\n"
		    "all.run.yaml:2:13 [experiment] experiment: invalid value 'my exp': use letters, digits, '_' and '-', "
		    "starting with a letter or digit (at most 255 characters)\n"
		    "all.run.yaml:3:1 [nmae] nmae: unknown key (did you mean 'name'?)\n"
		    "all.run.yaml:5:9 [script] script: 'missing.py' does not exist in source_directory src\n"
		    "all.run.yaml:6:14 [environment] environment: unknown curated environment 'AzureML-Minmal' (did you "
		    "mean 'AzureML-Minimal'?)\n"
		    "all.run.yaml:7:9 [target] target: unknown target 'lcoal' (did you mean 'local'?); targets are 'local' "
		    "or declared in amlspec.yaml (none found)\n"
		    "all.run.yaml:9:28 [distribution.node_count] distribution.node_count: must be at least 1, got 0\n"
		    "all.run.yaml:10:19 [limits.timeout] limits.timeout: invalid duration '1.5h' (use seconds, or a number "
		    "with s, m, h or d: 30s, 15m, 2h, 1d)\n");
}

/* ---- the workspace file ---- */

static char *ws_diags(const char *text)
{
	diag_list_free(&D);
	tu_write(W, "amlspec.yaml", text);
	open_ws();
	return diags_text(&D);
}

#define expect_ws(text, want)                          \
	do {                                           \
		char *got_ = ws_diags(text);           \
		assert_string_equal(got_, (want));     \
		free(got_);                            \
	} while (0)

static void test_workspace_file(void **state)
{
	(void)state;
	tu_write(W, "envs/team.yaml", "name: Team-Env\nversions:\n  - version: 1\n");
	expect_ws("version: 1\nworkspace: vision\ncatalogs: [envs/]\n", "");
	assert_string_equal(WS->name, "vision");
	assert_int_equal(WS->catalog_dirs.count, 1);
	/* the team catalog joins the built-in one */
	const catalog *cat = workspace_catalog(WS, &D);
	assert_int_equal(D.count, 0);
	const catalog_entry *e = catalog_find(cat, "Team-Env");
	assert_non_null(e);
	assert_false(e->builtin);
	assert_string_equal(e->file, "envs/team.yaml");
	assert_non_null(catalog_find(cat, "AzureML-Minimal"));
	expect_spec("t.run.yaml", OK_SCRIPT "environment: Team-Env@1\n", "");
	expect_spec("t.run.yaml", OK_SCRIPT "environment: Team-Evn\n",
		    "t.run.yaml:4:14 [environment] environment: unknown curated environment 'Team-Evn' (did you mean "
		    "'Team-Env'?)\n");

	/* an empty file just marks the workspace */
	expect_ws("", "");
	expect_ws("# nothing\n", "");

	expect_ws("targets:\n  local: {type: ssh, host: x}\n",
		  "amlspec.yaml:2:3 [targets.local] targets.local: 'local' is built in and cannot be redefined\n");
	expect_ws("targets:\n"
		  "  vm: {type: ssh, host: x}\n"
		  "  hpc: {type: slurm, work_dir: /w, login: vm}\n"
		  "  hpc2: {type: slurm, work_dir: /w, login: hpc}\n"
		  "  hpc3: {type: slurm, work_dir: /w, login: nope}\n"
		  "  hpc4: {type: slurm, work_dir: /w, login: az}\n"
		  "  az: {type: azureml, subscription_id: s, resource_group: r, workspace_name: w, compute: c}\n",
		  "amlspec.yaml:4:44 [targets.hpc2.login] targets.hpc2.login: 'hpc' is a slurm target; login must name an "
		  "ssh target\n"
		  "amlspec.yaml:5:44 [targets.hpc3.login] targets.hpc3.login: 'nope' is not a target declared here; login "
		  "must name an ssh target\n"
		  "amlspec.yaml:6:44 [targets.hpc4.login] targets.hpc4.login: 'az' is an azureml target; login must name an "
		  "ssh target\n");
	expect_ws("targets:\n"
		  "  gpu-vm: {type: ssh, host: x}\n"
		  "  hpc: {type: slurm, work_dir: /w, login: gpu-mv}\n",
		  "amlspec.yaml:3:43 [targets.hpc.login] targets.hpc.login: 'gpu-mv' is not a target declared here (did you "
		  "mean 'gpu-vm'?); login must name an ssh target\n");
	char *outside = tu_mkdtemp();
	char *link = fs_join(W, "outlink");
	assert_int_equal(symlink(outside, link), 0);
	char *t = xasprintf("catalogs: [missing/, ../, outlink, %s, envs, envs/team.yaml]\n", outside);
	char *want = xasprintf("amlspec.yaml:1:12 [catalogs[0]] catalogs[0]: folder 'missing/' does not exist\n"
			       "amlspec.yaml:1:22 [catalogs[1]] catalogs[1]: '../' is outside the workspace\n"
			       "amlspec.yaml:1:27 [catalogs[2]] catalogs[2]: 'outlink' is outside the workspace\n"
			       "amlspec.yaml:1:36 [catalogs[3]] catalogs[3]: '%s' is outside the workspace\n"
			       "amlspec.yaml:1:%zu [catalogs[5]] catalogs[5]: 'envs/team.yaml' is not a folder\n",
			       outside, 36 + strlen(outside) + 8);
	expect_ws(t, want);
	free(want);
	free(t);
	free(link);
	tu_rmtree(outside);
	free(outside);
	/* shape errors, and the other checks in the same pass */
	expect_ws("version: 2\n"
		  "targets:\n"
		  "  local: {type: ssh, host: x}\n"
		  "  vm: {type: shh, host: x}\n"
		  "  hpc: {type: slurm, work_dir: /w, login: hpc}\n"
		  "catalogs: [missing]\n",
		  "amlspec.yaml:1:10 [version] version: unsupported version 2; this amlspec reads version 1\n"
		  "amlspec.yaml:3:3 [targets.local] targets.local: 'local' is built in and cannot be redefined\n"
		  "amlspec.yaml:4:14 [targets.vm.type] targets.vm.type: invalid value 'shh' (did you mean 'ssh'? expected "
		  "one of: ssh, slurm, azureml)\n"
		  "amlspec.yaml:5:43 [targets.hpc.login] targets.hpc.login: 'hpc' is a slurm target; login must name an ssh "
		  "target\n"
		  "amlspec.yaml:6:12 [catalogs[0]] catalogs[0]: folder 'missing' does not exist\n");
	/* the targets are still declared: no second error in the specs */
	expect_spec("t.run.yaml", OK_SCRIPT "target: vm\n", "");
	expect_spec("t.run.yaml", OK_SCRIPT "target: vn\n",
		    "t.run.yaml:4:9 [target] target: unknown target 'vn' (did you mean 'vm'?); targets are 'local' or "
		    "declared in amlspec.yaml\n");
	/* a login the schema refused is not looked up as well */
	expect_ws("targets:\n  hpc: {type: slurm, work_dir: /w, login: login node}\n",
		  "amlspec.yaml:2:43 [targets.hpc.login] targets.hpc.login: invalid value 'login node': use letters, digits, "
		  "'_' and '-', starting with a letter or digit (at most 255 characters)\n");
	/* values of any shape are reported, never crash */
	expect_ws("workspace: [x]\ntargets:\n  a: ssh\n  b: {type: [ssh], login: [x], sbatch_args: x}\n"
		  "  c: {type: slurm, work_dir: /w, sbatch_args: [[x]]}\ncatalogs: [[x], 3]\n",
		  "amlspec.yaml:1:12 [workspace] workspace: expected a string, got a sequence\n"
		  "amlspec.yaml:3:6 [targets.a] targets.a: expected a mapping, got a string\n"
		  "amlspec.yaml:4:13 [targets.b.type] targets.b.type: expected one of: ssh, slurm, azureml\n"
		  "amlspec.yaml:5:48 [targets.c.sbatch_args[0]] targets.c.sbatch_args[0]: expected a string, got a "
		  "sequence\n"
		  "amlspec.yaml:6:12 [catalogs[0]] catalogs[0]: expected a string, got a sequence\n"
		  "amlspec.yaml:6:17 [catalogs[1]] catalogs[1]: expected a string, got integer 3; quote it (\"3\") to keep "
		  "it as written\n");
	expect_ws("- a\n", "amlspec.yaml:1:1 [] expected a mapping, got a sequence\n");
	/* shape errors */
	expect_ws("version: 2\ntargets:\n  vm: {type: shh, host: x}\n",
		  "amlspec.yaml:1:10 [version] version: unsupported version 2; this amlspec reads version 1\n"
		  "amlspec.yaml:3:14 [targets.vm.type] targets.vm.type: invalid value 'shh' (did you mean 'ssh'? expected "
		  "one of: ssh, slurm, azureml)\n");
	expect_ws("targets:\n  vm: {type: ssh}\n", "amlspec.yaml:2:7 [targets.vm.host] targets.vm.host: missing required key\n");
	expect_ws("targets:\n  vm: {type: ssh, host: x, port: 99999}\n",
		  "amlspec.yaml:2:34 [targets.vm.port] targets.vm.port: must be at most 65535, got 99999\n");
	expect_ws("targets:\n\t vm: {}\n", "amlspec.yaml:2:1 [] tab character in indentation; YAML allows only spaces\n");
}

static void test_workspace_discovery(void **state)
{
	(void)state;
	char *root = NULL;
	tu_write(W, "a/b/c/x.run.yaml", "x\n");
	char *deep = fs_join(W, "a/b/c");
	/* with neither amlspec.yaml nor .git above: the current directory */
	assert_int_equal(workspace_find_root(&root, deep, NULL, &D), AML_OK);
	assert_string_equal(root, W);
	free(root);
	/* the git work tree */
	tu_write(W, "a/.git/HEAD", "ref: refs/heads/main\n");
	assert_int_equal(workspace_find_root(&root, deep, NULL, &D), AML_OK);
	char *a = fs_join(W, "a");
	assert_string_equal(root, a);
	free(root);
	/* the nearest amlspec.yaml wins over git, even further up */
	tu_write(W, "amlspec.yaml", "");
	assert_int_equal(workspace_find_root(&root, deep, NULL, &D), AML_OK);
	assert_string_equal(root, W);
	free(root);
	tu_write(W, "a/b/amlspec.yaml", "");
	assert_int_equal(workspace_find_root(&root, deep, NULL, &D), AML_OK);
	char *b = fs_join(W, "a/b");
	assert_string_equal(root, b);
	free(root);
	/* --workspace */
	assert_int_equal(workspace_find_root(&root, deep, W, &D), AML_OK);
	assert_string_equal(root, W);
	free(root);
	assert_int_equal(workspace_find_root(&root, deep, "/nonexistent", &D), AML_EINVALID);
	assert_null(root);
	free(a);
	free(b);
	free(deep);
}

/* ---- several files: duplicate addresses ---- */

static void test_duplicate_addresses(void **state)
{
	(void)state;
	tu_write(W, ".git/HEAD", "ref: refs/heads/main\n");
	tu_write(W, "a.run.yaml", "experiment: e\nname: same\ncommand: [ls]\n");
	tu_write(W, "b.run.yaml", "experiment: e\nname: same\ncommand: [ls]\n");
	tu_write(W, "c/run.yaml", "experiment: e\ncommand: [ls]\n");
	tu_write(W, "c.run.yaml", "experiment: e\ncommand: [ls]\n");
	tu_write(W, "other.run.yaml", "experiment: f\nname: same\ncommand: [ls]\n");
	cli ctx = { .verb = "validate" };
	specset set = SPECSET_INIT;
	char *paths[] = { "." };
	assert_int_equal(specset_load(&set, 1, paths, &ctx, &D), AML_EINVALID);
	char *got = diags_text(&D);
	assert_string_equal(got, "b.run.yaml:2:7 [name] two specs have the address e/same: this file and a.run.yaml; set "
				 "a different 'name:'\n"
				 "c.run.yaml:1:13 [name] two specs have the address e/c: this file and c/run.yaml; set a "
				 "different 'name:'\n");
	free(got);
	assert_int_equal(set.nfiles, 5);
	assert_int_equal(set.nworkspaces, 1);
	specset_free(&set);
}

/* The same file reached twice is one spec, not a clash with itself. */
static void test_specset_same_file_twice(void **state)
{
	(void)state;
	tu_write(W, ".git/HEAD", "ref: refs/heads/main\n");
	tu_write(W, "a.run.yaml", "experiment: e\ncommand: [ls]\n");
	cli ctx = { .verb = "validate" };
	specset set = SPECSET_INIT;
	char *paths[] = { "a.run.yaml", ".", "./a.run.yaml" };
	assert_int_equal(specset_load(&set, 3, paths, &ctx, &D), AML_OK);
	assert_int_equal(D.count, 0);
	assert_int_equal(set.nfiles, 1);
	assert_true(set.files[0].valid);
	specset_free(&set);
}

/* A folder's workspace file is checked even when the folder holds no spec;
 * a path that is not there is a file that failed. */
static void test_specset_folders_and_missing(void **state)
{
	(void)state;
	tu_write(W, "amlspec.yaml", "version: 3\n");
	tu_write(W, "empty/README", "x\n");
	cli ctx = { .verb = "validate" };
	specset set = SPECSET_INIT;
	char *paths[] = { "empty" };
	assert_int_equal(specset_load(&set, 1, paths, &ctx, &D), AML_EINVALID);
	char *got = diags_text(&D);
	assert_string_equal(got, "amlspec.yaml:1:10 [version] version: unsupported version 3; this amlspec reads version 1\n"
				 "warning empty:0:0 [] no run.yaml or *.run.yaml files found in this folder\n");
	free(got);
	assert_int_equal(set.nfiles, 1);
	assert_true(set.files[0].is_workspace);
	assert_false(set.files[0].valid);
	specset_free(&set);
	diag_list_free(&D);

	tu_write(W, "amlspec.yaml", "version: 1\n");
	char *paths2[] = { "nope.run.yaml" };
	assert_int_equal(specset_load(&set, 1, paths2, &ctx, &D), AML_EINVALID);
	got = diags_text(&D);
	assert_string_equal(got, "nope.run.yaml:0:0 [] cannot open: No such file or directory\n");
	free(got);
	assert_int_equal(set.nfiles, 1);
	assert_string_equal(set.files[0].display, "nope.run.yaml");
	assert_false(set.files[0].valid);
	specset_free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_minimal_and_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_and_inline_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yaml12_integers_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durations_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_default_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_non_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_script, setup, teardown),
		cmocka_unit_test_setup_teardown(test_environments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline_env_wrong_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targets_without_workspace_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targets_declared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_distribution, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_problems_in_one_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workspace_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workspace_discovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_specset_same_file_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_specset_folders_and_missing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
