/* azureml body: shell quoting and splitting, ISO 8601 durations, conda
 * files, YAML scalars, status mapping, the CommandJob body. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "azureml/arm.h"
#include "azureml/body.h"

static void check_quote(const char *in, const char *want)
{
	char *q = azml_shell_quote(in);
	assert_string_equal(q, want);
	free(q);
}

static void test_shell_quote(void **state)
{
	(void)state;
	check_quote("train.py", "train.py");
	check_quote("--lr", "--lr");
	check_quote("0.01", "0.01");
	check_quote("a/b:c,d@e%f+g", "a/b:c,d@e%f+g");
	check_quote("", "''");
	check_quote("a b", "'a b'");
	check_quote("it's", "'it'\\''s'");
	check_quote("'", "''\\'''");
	check_quote("$HOME", "'$HOME'");
	check_quote("`id`", "'`id`'");
	check_quote("*.py", "'*.py'");
	check_quote("~/x", "'~/x'");
	check_quote("a;b", "'a;b'");
	check_quote("a&&b", "'a&&b'");
	check_quote("x>y", "'x>y'");
	check_quote("--lr=0.1", "'--lr=0.1'");
	check_quote("line\nbreak", "'line\nbreak'");
	check_quote("\"dq\"", "'\"dq\"'");
	check_quote("back\\slash", "'back\\slash'");
	check_quote("#comment", "'#comment'");
	check_quote("${{inputs.lr}}", "'${{inputs.lr}}'");
}

/* Whatever the word, quoting it and splitting the result as a shell would
 * gives the word back. */
static void test_quote_split_roundtrip(void **state)
{
	(void)state;
	const char *words[] = { "plain", "", "a b", "it's", "'", "''", "\"", "$x", "${y}", "`z`", "a\\b", "*", "?",
				"[a]", "{a,b}", "~", "#", "a;b|c&d", "<>", "()", "tab\there", "new\nline", "é ü",
				"--flag=value", "'quoted' and \"double\"", "\\'", "end\\" };
	size_t n = sizeof(words) / sizeof(words[0]);
	buf line = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		char *q = azml_shell_quote(words[i]);
		if (line.len)
			buf_putc(&line, ' ');
		buf_puts(&line, q);
		free(q);
	}
	strlist out = STRLIST_INIT;
	assert_int_equal(azml_shell_split(line.ptr, &out), 0);
	assert_int_equal(out.count, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(out.items[i], words[i]);
	strlist_free(&out);
	buf_free(&line);
}

static int split(const char *line, strlist *out)
{
	strlist_free(out);
	strlist init = STRLIST_INIT;
	*out = init;
	return azml_shell_split(line, out);
}

static void test_shell_split(void **state)
{
	(void)state;
	strlist w = STRLIST_INIT;
	assert_int_equal(split("python main.py  --C 0.8\n --kernel rbf", &w), 0);
	assert_int_equal(w.count, 6);
	assert_string_equal(w.items[0], "python");
	assert_string_equal(w.items[5], "rbf");
	assert_int_equal(split("echo \"a b\" 'c d' e\\ f", &w), 0);
	assert_int_equal(w.count, 4);
	assert_string_equal(w.items[1], "a b");
	assert_string_equal(w.items[2], "c d");
	assert_string_equal(w.items[3], "e f");
	assert_int_equal(split("x \"\" ''", &w), 0);
	assert_int_equal(w.count, 3);
	assert_string_equal(w.items[1], "");
	/* what only a shell can do */
	assert_int_equal(split("pip install x && python a.py", &w), 1);
	assert_int_equal(split("echo $HELLO", &w), 1);
	assert_int_equal(split("echo \"$HELLO\"", &w), 1);
	assert_int_equal(split("ls *.py", &w), 1);
	assert_int_equal(split("python a.py > out.txt", &w), 1);
	assert_int_equal(split("A=1 python a.py", &w), 1);
	assert_int_equal(split("cat ~/x", &w), 1);
	assert_int_equal(split("python a.py # comment", &w), 1);
	assert_int_equal(split("a | b", &w), 1);
	assert_int_equal(split("echo `id`", &w), 1);
	/* quoted, the same characters are plain text */
	assert_int_equal(split("echo '$HELLO' '&&' 'a=b'", &w), 0);
	assert_int_equal(split("python a.py --opt=x", &w), 0);
	/* a quote that is not closed */
	assert_int_equal(split("echo 'oops", &w), -1);
	assert_int_equal(split("echo \"oops", &w), -1);
	strlist_free(&w);
}

static void check_iso(long long s, const char *want)
{
	char *d = azml_iso8601_duration(s);
	assert_string_equal(d, want);
	assert_int_equal(azml_parse_iso8601_duration(d), s < 0 ? 0 : s);
	free(d);
}

static void test_iso8601(void **state)
{
	(void)state;
	check_iso(0, "PT0S");
	check_iso(1, "PT1S");
	check_iso(59, "PT59S");
	check_iso(60, "PT1M");
	check_iso(3600, "PT1H");
	check_iso(5400, "PT1H30M");
	check_iso(7205, "PT2H5S");
	check_iso(86400, "P1D");
	check_iso(90061, "P1DT1H1M1S");
	check_iso(30LL * 86400, "P30D");
	check_iso(400LL * 86400 + 1, "P400DT1S");
	assert_int_equal(azml_parse_iso8601_duration("PT5M"), 300);
	assert_int_equal(azml_parse_iso8601_duration("P1W"), 7 * 86400);
	assert_int_equal(azml_parse_iso8601_duration("PT0.5S"), 0);
	assert_int_equal(azml_parse_iso8601_duration("P"), -1);
	assert_int_equal(azml_parse_iso8601_duration("PT"), -1);
	assert_int_equal(azml_parse_iso8601_duration("P1H"), -1);
	assert_int_equal(azml_parse_iso8601_duration("PT1D"), -1);
	assert_int_equal(azml_parse_iso8601_duration("2h"), -1);
	assert_int_equal(azml_parse_iso8601_duration(NULL), -1);
}

static void check_scalar(const char *in, const char *want)
{
	buf b = BUF_INIT;
	azml_yaml_scalar(&b, in);
	assert_string_equal(b.ptr, want);
	buf_free(&b);
}

static void test_yaml_scalar(void **state)
{
	(void)state;
	check_scalar("plain", "plain");
	check_scalar("--lr", "--lr");
	check_scalar("numpy==1.26.4", "numpy==1.26.4");
	check_scalar("pandas>=1.1,<1.2", "pandas>=1.1,<1.2");
	check_scalar("azureml:cpu-cluster", "azureml:cpu-cluster");
	check_scalar("", "\"\"");
	check_scalar("yes", "\"yes\"");
	check_scalar("Off", "\"Off\"");
	check_scalar("null", "\"null\"");
	check_scalar("~", "\"~\"");
	check_scalar("0.1", "\"0.1\"");
	check_scalar("10", "\"10\"");
	check_scalar("-1", "\"-1\"");
	check_scalar(".5", "\".5\"");
	check_scalar("3.11", "\"3.11\"");
	check_scalar("a: b", "\"a: b\"");
	check_scalar("a:", "\"a:\"");
	check_scalar("x #y", "\"x #y\"");
	check_scalar("x#y", "x#y");
	check_scalar("- x", "\"- x\"");
	check_scalar("-", "\"-\"");
	check_scalar("*alias", "\"*alias\"");
	check_scalar("&anchor", "\"&anchor\"");
	check_scalar("!tag", "\"!tag\"");
	check_scalar("{a}", "\"{a}\"");
	check_scalar("[a]", "\"[a]\"");
	check_scalar("'q'", "\"'q'\"");
	check_scalar("\"q\"", "\"\\\"q\\\"\"");
	check_scalar("two\nlines", "\"two\\nlines\"");
	check_scalar("trailing ", "\"trailing \"");
	check_scalar(" leading", "\" leading\"");
	check_scalar("%x", "\"%x\"");
	check_scalar("@x", "\"@x\"");
	check_scalar("`x`", "\"`x`\"");
	check_scalar("|x", "\"|x\"");
	check_scalar(">x", "\">x\"");
}

static void test_conda_yaml(void **state)
{
	(void)state;
	envdef e = ENVDEF_INIT;
	e.python_version = xstrdup("3.11");
	strlist_add(&e.channels, "conda-forge");
	strlist_add(&e.conda_packages, "numpy=1.26");
	strlist_add(&e.pip_packages, "pandas>=1.1,<1.2");
	strlist_add(&e.pip_packages, "torch==2.1.0");
	char *y = azml_conda_yaml(&e);
	assert_string_equal(y, "name: amlspec\n"
			       "channels:\n"
			       "  - conda-forge\n"
			       "dependencies:\n"
			       "  - python=3.11\n"
			       "  - numpy=1.26\n"
			       "  - pip\n"
			       "  - pip:\n"
			       "      - pandas>=1.1,<1.2\n"
			       "      - torch==2.1.0\n");
	free(y);
	/* python and pip already among the conda packages: not twice */
	strlist_add(&e.conda_packages, "python=3.11.4");
	strlist_add(&e.conda_packages, "pip==23.0");
	y = azml_conda_yaml(&e);
	assert_null(strstr(y, "- python=3.11\n"));
	assert_non_null(strstr(y, "- python=3.11.4\n"));
	assert_null(strstr(y, "  - pip\n"));
	free(y);
	/* user-managed: no conda file at all */
	e.user_managed = true;
	assert_null(azml_conda_yaml(&e));
	assert_string_equal(azml_env_image(&e), AZML_DEFAULT_IMAGE);
	e.base_image = xstrdup("python:3.11");
	assert_string_equal(azml_env_image(&e), "python:3.11");
	envdef_free(&e);
}

static void test_status_map(void **state)
{
	(void)state;
	assert_int_equal(azml_status_map("NotStarted"), RS_NOT_STARTED);
	assert_int_equal(azml_status_map("Starting"), RS_PREPARING);
	assert_int_equal(azml_status_map("Provisioning"), RS_PREPARING);
	assert_int_equal(azml_status_map("Preparing"), RS_PREPARING);
	assert_int_equal(azml_status_map("Queued"), RS_QUEUED);
	assert_int_equal(azml_status_map("Running"), RS_RUNNING);
	assert_int_equal(azml_status_map("Finalizing"), RS_FINALIZING);
	assert_int_equal(azml_status_map("CancelRequested"), RS_CANCEL_REQUESTED);
	assert_int_equal(azml_status_map("Completed"), RS_COMPLETED);
	assert_int_equal(azml_status_map("Failed"), RS_FAILED);
	assert_int_equal(azml_status_map("Canceled"), RS_CANCELED);
	assert_int_equal(azml_status_map("NotResponding"), RS_RUNNING);
	assert_int_equal(azml_status_map("Paused"), RS_RUNNING);
	assert_int_equal(azml_status_map("Unknown"), RS_UNKNOWN);
	assert_int_equal(azml_status_map("SomethingNew"), RS_UNKNOWN);
	assert_int_equal(azml_status_map(NULL), RS_UNKNOWN);
	/* every amlspec status is reachable and the terminal ones stay terminal */
	assert_true(run_status_terminal(azml_status_map("Completed")));
	assert_false(run_status_terminal(azml_status_map("NotResponding")));
}

static target_config *make_cfg(const char *endpoint, const char *sub, const char *form)
{
	target_config *c = xcalloc(1, sizeof(*c));
	c->name = xstrdup("cloud");
	c->type = xstrdup("azureml");
	kvlist_set(&c->options, "type", "azureml");
	kvlist_set(&c->options, "subscription_id", sub);
	kvlist_set(&c->options, "resource_group", "ml-rg");
	kvlist_set(&c->options, "workspace_name", "ml-ws");
	kvlist_set(&c->options, "compute", "cpu-cluster");
	if (endpoint)
		kvlist_set(&c->options, "endpoint", endpoint);
	if (form)
		kvlist_set(&c->options, "curated_environments", form);
	return c;
}

static void free_cfg(target_config *c)
{
	free(c->name);
	free(c->type);
	kvlist_free(&c->options);
	free(c);
}

#define SUB "00000000-1111-2222-3333-444444444444"
#define WSID "/subscriptions/" SUB "/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/ml-ws"

static void test_target_parse(void **state)
{
	(void)state;
	diag_list d = DIAG_LIST_INIT;
	azml_target t;
	target_config *c = make_cfg(NULL, SUB, NULL);
	assert_int_equal(azml_target_parse(&t, c, &d), AML_OK);
	assert_string_equal(t.endpoint, "https://management.azure.com");
	assert_int_equal(t.curated_form, AZML_CURATED_REGISTRY);
	char *ws = azml_workspace_id(&t), *comp = azml_compute_id(&t);
	assert_string_equal(ws, WSID);
	assert_string_equal(comp, WSID "/computes/cpu-cluster");
	free(ws);
	free(comp);
	azml_target_free(&t);
	free_cfg(c);

	/* loopback http is accepted, a trailing slash dropped */
	c = make_cfg("http://127.0.0.1:8080/", SUB, "workspace");
	assert_int_equal(azml_target_parse(&t, c, &d), AML_OK);
	assert_string_equal(t.endpoint, "http://127.0.0.1:8080");
	assert_int_equal(t.curated_form, AZML_CURATED_WORKSPACE);
	azml_target_free(&t);
	free_cfg(c);
	assert_int_equal(d.count, 0);

	/* plain http elsewhere, and a subscription that is not a GUID, are refused */
	c = make_cfg("http://management.azure.com", "my-subscription", NULL);
	assert_int_not_equal(azml_target_parse(&t, c, &d), AML_OK);
	assert_int_equal(d.errors, 2);
	assert_non_null(strstr(d.items[0].message, "subscription_id 'my-subscription' is not a subscription id"));
	assert_non_null(strstr(d.items[1].message, "only for loopback hosts"));
	free_cfg(c);
	diag_list_free(&d);

	c = make_cfg("https://example.com", SUB, NULL);
	kvlist_set(&c->options, "workspace_name", "a/b");
	assert_int_not_equal(azml_target_parse(&t, c, &d), AML_OK);
	assert_non_null(strstr(d.items[0].message, "cannot be part of an Azure resource id"));
	free_cfg(c);
	diag_list_free(&d);
}

static run_spec *make_spec(void)
{
	run_spec *s = xcalloc(1, sizeof(*s));
	s->experiment = xstrdup("exp");
	s->name = xstrdup("base");
	s->script = xstrdup("train.py");
	strlist_add(&s->arguments, "--lr");
	strlist_add(&s->arguments, "0.1");
	strlist_add(&s->arguments, "it's");
	kvlist_set(&s->environment_variables, "EPOCHS", "10");
	kvlist_set(&s->tags, "team", "vision");
	s->framework = FW_PYTHON;
	s->node_count = 1;
	s->process_count_per_node = 1;
	s->timeout_seconds = 7200;
	s->environment.kind = ENV_INLINE;
	return s;
}

static void free_spec(run_spec *s)
{
	free(s->experiment);
	free(s->name);
	free(s->script);
	strlist_free(&s->arguments);
	strlist_free(&s->command);
	kvlist_free(&s->environment_variables);
	kvlist_free(&s->tags);
	free(s);
}

static const char *jpath(json_object *o, const char *a, const char *b)
{
	json_object *x = NULL, *y = NULL;
	json_object_object_get_ex(o, a, &x);
	if (!b)
		return x ? json_object_get_string(x) : NULL;
	json_object_object_get_ex(x, b, &y);
	return y ? json_object_get_string(y) : NULL;
}

static void test_job_body(void **state)
{
	(void)state;
	run_spec *s = make_spec();
	resolved_env env = { 0 };
	env.label = xstrdup("inline");
	env.digest = xstrdup("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	kvlist_set(&env.def.variables, "FROM_ENV", "1");
	kvlist_set(&env.def.variables, "EPOCHS", "5");
	kvlist extra = KVLIST_INIT;
	kvlist_set(&extra, "AMLSPEC_RUN_ID", "exp_1_abcd");
	json_object *props = json_object_new_object();
	json_object_object_add(props, "ContentSnapshotId", json_object_new_string("abc"));
	json_object_object_add(props, "not-a-string", json_object_new_int(1));
	azml_job_params p = { s, &env, "env-id", "code-id", "compute-id", "Standard_D2", props, &extra };
	json_object *o = azml_job_body(&p);
	json_object *pr = json_object_object_get(o, "properties");
	assert_string_equal(jpath(pr, "jobType", NULL), "Command");
	assert_string_equal(jpath(pr, "command", NULL), "python train.py --lr 0.1 'it'\\''s'");
	assert_string_equal(jpath(pr, "experimentName", NULL), "exp");
	assert_string_equal(jpath(pr, "displayName", NULL), "base");
	assert_null(jpath(pr, "description", NULL));
	assert_string_equal(jpath(pr, "codeId", NULL), "code-id");
	assert_string_equal(jpath(pr, "environmentId", NULL), "env-id");
	assert_string_equal(jpath(pr, "computeId", NULL), "compute-id");
	assert_string_equal(jpath(pr, "limits", "jobLimitsType"), "Command");
	assert_string_equal(jpath(pr, "limits", "timeout"), "PT2H");
	assert_string_equal(jpath(pr, "resources", "instanceCount"), "1");
	assert_string_equal(jpath(pr, "resources", "instanceType"), "Standard_D2");
	assert_string_equal(jpath(pr, "tags", "team"), "vision");
	assert_string_equal(jpath(pr, "properties", "ContentSnapshotId"), "abc");
	assert_null(jpath(pr, "properties", "not-a-string"));
	/* the environment's variables, the spec's over them, then the extra ones */
	assert_string_equal(jpath(pr, "environmentVariables", "FROM_ENV"), "1");
	assert_string_equal(jpath(pr, "environmentVariables", "EPOCHS"), "10");
	assert_string_equal(jpath(pr, "environmentVariables", "AMLSPEC_RUN_ID"), "exp_1_abcd");
	assert_null(json_object_object_get(pr, "distribution"));
	json_object_put(o);

	s->framework = FW_PYTORCH;
	s->node_count = 2;
	s->process_count_per_node = 4;
	o = azml_job_body(&p);
	pr = json_object_object_get(o, "properties");
	assert_string_equal(jpath(pr, "distribution", "distributionType"), "PyTorch");
	assert_string_equal(jpath(pr, "distribution", "processCountPerInstance"), "4");
	assert_string_equal(jpath(pr, "resources", "instanceCount"), "2");
	json_object_put(o);
	s->framework = FW_MPI;
	o = azml_job_body(&p);
	assert_string_equal(jpath(json_object_object_get(o, "properties"), "distribution", "distributionType"), "Mpi");
	json_object_put(o);
	s->framework = FW_TENSORFLOW;
	o = azml_job_body(&p);
	pr = json_object_object_get(o, "properties");
	assert_string_equal(jpath(pr, "distribution", "distributionType"), "TensorFlow");
	assert_string_equal(jpath(pr, "distribution", "workerCount"), "8");
	assert_string_equal(jpath(pr, "distribution", "parameterServerCount"), "0");
	json_object_put(o);

	/* a curated environment carries its own variables */
	s->environment.kind = ENV_CURATED;
	env.curated_name = xstrdup("AzureML-Minimal");
	env.curated_version = 36;
	o = azml_job_body(&p);
	assert_null(jpath(json_object_object_get(o, "properties"), "environmentVariables", "FROM_ENV"));
	json_object_put(o);

	/* a command list, every word quoted */
	free(s->script);
	s->script = NULL;
	strlist_add(&s->command, "bash");
	strlist_add(&s->command, "-c");
	strlist_add(&s->command, "echo $HOME && ls");
	char *cmd = azml_command_line(s, &env.def);
	assert_string_equal(cmd, "bash -c 'echo $HOME && ls'");
	free(cmd);

	json_object_put(props);
	kvlist_free(&extra);
	resolved_env_free(&env);
	free_spec(s);
}

static void test_environment_ids(void **state)
{
	(void)state;
	diag_list d = DIAG_LIST_INIT;
	azml_target t;
	target_config *c = make_cfg(NULL, SUB, NULL);
	assert_int_equal(azml_target_parse(&t, c, &d), AML_OK);
	char *id = azml_curated_environment_id(&t, "AzureML-Minimal", 36);
	assert_string_equal(id, "azureml://registries/azureml/environments/AzureML-Minimal/versions/36");
	free(id);
	t.curated_form = AZML_CURATED_WORKSPACE;
	id = azml_curated_environment_id(&t, "AzureML-Minimal", 36);
	assert_string_equal(id, WSID "/environments/AzureML-Minimal/versions/36");
	free(id);
	resolved_env env = { 0 };
	env.label = xstrdup("inline");
	env.digest = xstrdup("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	char *ver = azml_environment_version(env.digest);
	assert_string_equal(ver, "0123456789abcdef0123456789abcdef");
	free(ver);
	id = azml_registered_environment_id(&t, &env);
	assert_string_equal(id, WSID "/environments/amlspec/versions/0123456789abcdef0123456789abcdef");
	free(id);
	json_object *b = azml_environment_body(&env);
	json_object *p = json_object_object_get(b, "properties");
	assert_string_equal(jpath(p, "image", NULL), AZML_DEFAULT_IMAGE);
	assert_string_equal(jpath(p, "osType", NULL), "Linux");
	assert_non_null(strstr(jpath(p, "condaFile", NULL), "dependencies:"));
	assert_string_equal(jpath(p, "tags", "amlspec.digest"), env.digest);
	json_object_put(b);
	char *code = azml_code_name("exp");
	assert_string_equal(code, "amlspec-exp");
	free(code);
	resolved_env_free(&env);
	azml_target_free(&t);
	free_cfg(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shell_quote),	 cmocka_unit_test(test_quote_split_roundtrip),
		cmocka_unit_test(test_shell_split),	 cmocka_unit_test(test_iso8601),
		cmocka_unit_test(test_yaml_scalar),	 cmocka_unit_test(test_conda_yaml),
		cmocka_unit_test(test_status_map),	 cmocka_unit_test(test_target_parse),
		cmocka_unit_test(test_job_body),	 cmocka_unit_test(test_environment_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
