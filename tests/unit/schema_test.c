/* schema: the table-driven checker (every shape diagnostic, with its line,
 * column and key path) and the JSON Schema generated from the same tables. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "spec/schema.h"
#include "spec/ytree.h"
#include "util/buf.h"

/* Checks text against s; returns the diagnostics, sorted, one
 * "LINE:COL [PATH] MESSAGE" per line ("" when valid). */
static char *check(const schema *s, const char *text)
{
	diag_list d = DIAG_LIST_INIT;
	ydoc *doc = NULL;
	if (ydoc_parse(&doc, "t.yaml", text, strlen(text), NULL, &d) != AML_OK)
		fail_msg("does not parse: %s", d.count ? d.items[0].message : "?");
	size_t n = schema_check(s, doc->root, "t.yaml", "", &d);
	assert_int_equal(n, d.errors);
	diag_list_sort(&d);
	buf b = BUF_INIT;
	for (size_t i = 0; i < d.count; i++) {
		assert_string_equal(d.items[i].file, "t.yaml");
		assert_int_equal(d.items[i].severity, DIAG_ERROR);
		buf_printf(&b, "%u:%u [%s] %s\n", d.items[i].line, d.items[i].col, d.items[i].path ? d.items[i].path : "",
			   d.items[i].message);
	}
	diag_list_free(&d);
	ydoc_free(doc);
	return buf_detach(&b);
}

#define expect(s, text, want)                             \
	do {                                              \
		char *got_ = check((s), (text));          \
		assert_string_equal(got_, (want));        \
		free(got_);                               \
	} while (0)
#define expect_run(text, want) expect(&schema_run_spec, (text), (want))
#define expect_ws(text, want) expect(&schema_workspace, (text), (want))

#define MIN "experiment: e\nscript: t.py\n"

/* ---- run spec ---- */

static void test_valid_specs(void **state)
{
	(void)state;
	expect_run(MIN, "");
	expect_run("experiment: e\ncommand: [python, -m, pkg.train]\n", "");
	expect_run("version: 1\n"
		   "experiment: my_experiment\n"
		   "name: baseline-2\n"
		   "description: Logistic regression baseline\n"
		   "tags: {team: vision, priority: 1, gpu: true}\n"
		   "source_directory: ../../src\n"
		   "script: train.py\n"
		   "arguments: [--lr, 0.01, --epochs, 10, --fast, true]\n"
		   "environment: AzureML-Minimal@36\n"
		   "environment_variables: {EPOCHS: \"10\", OMP_NUM_THREADS: 4, _X: on}\n"
		   "secrets: [WANDB_API_KEY, HF_TOKEN]\n"
		   "target: gpu-vm\n"
		   "framework: pytorch\n"
		   "distribution:\n"
		   "  node_count: 2\n"
		   "  process_count_per_node: 1024\n"
		   "limits:\n"
		   "  timeout: 2h\n",
		   "");
	expect_run(MIN "environment:\n"
		       "  extends: AzureML-Minimal\n"
		       "  python:\n"
		       "    version: \"3.11\"\n"
		       "    pip_packages: [numpy==1.26.4]\n"
		       "    conda_packages: []\n"
		       "    channels: [conda-forge]\n"
		       "    user_managed_dependencies: false\n"
		       "    interpreter_path: /usr/bin/python3\n"
		       "  docker:\n"
		       "    enabled: true\n"
		       "    base_image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\n"
		       "  environment_variables: {A: b}\n",
		   "");
}

static void test_unknown_keys_everywhere(void **state)
{
	(void)state;
	expect_run(MIN "nmae: x\n", "3:1 [nmae] nmae: unknown key (did you mean 'name'?)\n");
	expect_run(MIN "zzz: x\n", "3:1 [zzz] zzz: unknown key\n");
	expect_run("experiment: e\nscirpt: t.py\ncommand: [x]\n",
		   "2:1 [scirpt] scirpt: unknown key (did you mean 'script'?)\n");
	expect_run(MIN "Framework: mpi\n", "3:1 [Framework] Framework: unknown key (did you mean 'framework'?)\n");
	expect_run(MIN "environment:\n  extend: AzureML-Minimal\n",
		   "4:3 [environment.extend] environment.extend: unknown key (did you mean 'extends'?)\n");
	expect_run(MIN "environment:\n  python:\n    verison: \"3.10\"\n    pip: [x]\n",
		   "5:5 [environment.python.verison] environment.python.verison: unknown key (did you mean 'version'?)\n"
		   "6:5 [environment.python.pip] environment.python.pip: unknown key\n");
	expect_run(MIN "environment: {docker: {enable: true}}\n",
		   "3:24 [environment.docker.enable] environment.docker.enable: unknown key (did you mean 'enabled'?)\n");
	expect_run(MIN "framework: mpi\ndistribution: {node_cont: 2}\n",
		   "4:16 [distribution.node_cont] distribution.node_cont: unknown key (did you mean 'node_count'?)\n");
	expect_run(MIN "limits:\n  timout: 10\n",
		   "4:3 [limits.timout] limits.timout: unknown key (did you mean 'timeout'?)\n");
}

static void test_missing_required(void **state)
{
	(void)state;
	/* at the position of the mapping that lacks the key */
	expect_run("script: t.py\n", "1:1 [experiment] experiment: missing required key\n");
	expect_run("# a comment\n\n  script: t.py\n", "3:3 [experiment] experiment: missing required key\n");
}

static void test_exactly_one_of_script_command(void **state)
{
	(void)state;
	expect_run("experiment: e\n", "1:1 [] needs exactly one of 'script' or 'command'; none is given\n");
	expect_run("experiment: e\nscript: t.py\ncommand: [x]\n",
		   "3:1 [] needs exactly one of 'script' or 'command'; more than one is given\n");
	expect_run("experiment: e\ncommand: [x]\nscript: t.py\n",
		   "3:1 [] needs exactly one of 'script' or 'command'; more than one is given\n");
	/* arguments go with script */
	expect_run("experiment: e\ncommand: [python, t.py]\narguments: [--x]\n",
		   "3:1 [arguments] arguments: cannot be used together with 'command'\n");
	expect_run("experiment: e\narguments: [--x]\ncommand: [python, t.py]\n",
		   "2:1 [arguments] arguments: cannot be used together with 'command'\n");
}

static void test_wrong_types(void **state)
{
	(void)state;
	/* a number where a string is expected: the quoting hint */
	expect_run("experiment: 3.10\nscript: t.py\n",
		   "1:13 [experiment] experiment: expected a string, got number 3.10; quote it (\"3.10\") to keep it as written\n");
	expect_run(MIN "environment:\n  python:\n    version: 3.10\n",
		   "5:14 [environment.python.version] environment.python.version: expected a string, got number 3.10; "
		   "quote it (\"3.10\") to keep it as written\n");
	expect_run(MIN "name: 123\n",
		   "3:7 [name] name: expected a string, got integer 123; quote it (\"123\") to keep it as written\n");
	expect_run(MIN "target: true\n",
		   "3:9 [target] target: expected a string, got boolean true; quote it (\"true\") to keep it as written\n");
	/* sequence vs mapping */
	expect_run(MIN "environment_variables: [A, B]\n",
		   "3:24 [environment_variables] environment_variables: expected a mapping, got a sequence\n");
	expect_run(MIN "tags:\n  - a\n", "4:3 [tags] tags: expected a mapping, got a sequence\n");
	expect_run("experiment: e\ncommand: {python: x}\n", "2:10 [command] command: expected a sequence, got a mapping\n");
	expect_run(MIN "arguments: --x\n", "3:12 [arguments] arguments: expected a sequence, got a string\n");
	expect_run(MIN "secrets: A\n", "3:10 [secrets] secrets: expected a sequence, got a string\n");
	expect_run(MIN "framework: mpi\ndistribution: 2\n",
		   "4:15 [distribution] distribution: expected a mapping, got an integer\n");
	expect_run(MIN "limits: [1]\n", "3:9 [limits] limits: expected a mapping, got a sequence\n");
	expect_run(MIN "environment: 36\n", "3:14 [environment] environment: expected a string or a mapping, got an integer\n");
	expect_run(MIN "environment: [a]\n", "3:14 [environment] environment: expected a string or a mapping, got a sequence\n");
	/* integers and booleans */
	expect_run(MIN "version: \"1\"\n", "3:10 [version] version: expected an integer, got a string\n");
	expect_run(MIN "version: 1.5\n", "3:10 [version] version: expected an integer, got a number\n");
	expect_run(MIN "framework: mpi\ndistribution: {node_count: two}\n",
		   "4:28 [distribution.node_count] distribution.node_count: expected an integer, got a string\n");
	expect_run(MIN "environment: {python: {user_managed_dependencies: yes}}\n",
		   "3:51 [environment.python.user_managed_dependencies] environment.python.user_managed_dependencies: "
		   "expected a boolean (true or false), got a string\n");
	expect_run(MIN "environment: {docker: {enabled: 1}}\n",
		   "3:33 [environment.docker.enabled] environment.docker.enabled: expected a boolean (true or false), got an integer\n");
	/* scalars (arguments, variables, tags) */
	expect_run(MIN "arguments: [--x, [1], {a: 1}, ~]\n",
		   "3:18 [arguments[1]] arguments[1]: expected a string, number or boolean, got a sequence\n"
		   "3:23 [arguments[2]] arguments[2]: expected a string, number or boolean, got a mapping\n"
		   "3:31 [arguments[3]] arguments[3]: expected a string, number or boolean, got an empty value\n");
	expect_run(MIN "environment_variables:\n  A:\n", "4:5 [environment_variables.A] environment_variables.A: expected a "
		   "string, number or boolean, got an empty value\n");
	expect_run(MIN "tags: {a: {b: c}}\n", "3:11 [tags.a] tags.a: expected a string, number or boolean, got a mapping\n");
	/* nothing where a string is expected: no quoting hint for an empty value */
	expect_run(MIN "description:\n", "3:13 [description] description: expected a string, got an empty value\n");
	expect_run("experiment: ~\nscript: t.py\n", "1:13 [experiment] experiment: expected a string, got an empty value\n");
	expect_run(MIN "environment: {python: {version: null}}\n",
		   "3:33 [environment.python.version] environment.python.version: expected a string, got an empty value\n");
	expect_run(MIN "framework: mpi\ndistribution: {node_count: }\n",
		   "4:28 [distribution.node_count] distribution.node_count: expected an integer, got an empty value\n");
	/* null where a mapping is expected */
	expect_run(MIN "limits:\n", "3:8 [limits] limits: expected a mapping, got an empty value\n");
	expect_run(MIN "environment: ~\n", "3:14 [environment] environment: expected a string or a mapping, got an empty value\n");
}

static void test_strings(void **state)
{
	(void)state;
	expect_run("experiment: e\nscript: \"\"\n", "2:9 [script] script: must not be empty\n");
	expect_run(MIN "source_directory: ''\n", "3:19 [source_directory] source_directory: must not be empty\n");
	expect_run("experiment: e\ncommand: []\n", "2:10 [command] command: needs at least 1 item\n");
	expect_run(MIN "environment: {python: {pip_packages: [numpy, \"\"]}}\n",
		   "3:46 [environment.python.pip_packages[1]] environment.python.pip_packages[1]: must not be empty\n");
}

static void test_enum(void **state)
{
	(void)state;
	expect_run(MIN "framework: pytorh\n",
		   "3:12 [framework] framework: invalid value 'pytorh' (did you mean 'pytorch'? expected one of: python, mpi, "
		   "pytorch, tensorflow, pyspark)\n");
	expect_run(MIN "framework: Python\n",
		   "3:12 [framework] framework: invalid value 'Python' (did you mean 'python'? expected one of: python, mpi, "
		   "pytorch, tensorflow, pyspark)\n");
	expect_run(MIN "framework: jax\n",
		   "3:12 [framework] framework: invalid value 'jax' (expected one of: python, mpi, pytorch, tensorflow, "
		   "pyspark)\n");
}

static void test_patterns(void **state)
{
	(void)state;
	const char *hint = "use letters, digits, '_' and '-', starting with a letter or digit (at most 255 characters)";
	char *want = xasprintf("1:13 [experiment] experiment: invalid value 'my exp': %s\n", hint);
	expect_run("experiment: my exp\nscript: t.py\n", want);
	free(want);
	want = xasprintf("3:7 [name] name: invalid value '-x': %s\n", hint);
	expect_run(MIN "name: -x\n", want);
	free(want);
	want = xasprintf("3:7 [name] name: invalid value 'a.b': %s\n", hint);
	expect_run(MIN "name: a.b\n", want);
	free(want);
	/* 255 characters are fine, 256 are not */
	buf b = BUF_INIT;
	buf_puts(&b, MIN "name: ");
	for (int i = 0; i < 255; i++)
		buf_putc(&b, 'n');
	buf_putc(&b, '\n');
	expect_run(b.ptr, "");
	buf_truncate(&b, b.len - 1);
	buf_puts(&b, "n\n");
	char *got = check(&schema_run_spec, b.ptr);
	assert_non_null(strstr(got, "3:7 [name] name: invalid value 'nnn"));
	free(got);
	buf_free(&b);
	want = xasprintf("3:9 [target] target: invalid value 'my vm': %s\n", hint);
	expect_run(MIN "target: my vm\n", want);
	free(want);
	expect_run(MIN "secrets: [OK_1, 1BAD, has-dash]\n",
		   "3:17 [secrets[1]] secrets[1]: invalid value '1BAD': an environment variable name: letters, digits and "
		   "'_', not starting with a digit\n"
		   "3:23 [secrets[2]] secrets[2]: invalid value 'has-dash': an environment variable name: letters, digits "
		   "and '_', not starting with a digit\n");
	expect_run(MIN "environment_variables: {1X: a, OK: b}\n",
		   "3:25 [environment_variables.1X] environment_variables.1X: invalid key '1X': an environment variable "
		   "name: letters, digits and '_', not starting with a digit\n");
	expect_run(MIN "environment: AzureML Minimal\n",
		   "3:14 [environment] environment: invalid value 'AzureML Minimal': a curated environment NAME or "
		   "NAME@VERSION\n");
	expect_run(MIN "environment: AzureML-Minimal@latest\n",
		   "3:14 [environment] environment: invalid value 'AzureML-Minimal@latest': a curated environment NAME or "
		   "NAME@VERSION\n");
	expect_run(MIN "environment: {extends: \"@3\"}\n",
		   "3:24 [environment.extends] environment.extends: invalid value '@3': a curated environment NAME or "
		   "NAME@VERSION\n");
	expect_run(MIN "environment: {python: {version: \"3.x\"}}\n",
		   "3:33 [environment.python.version] environment.python.version: invalid value '3.x': a Python version such "
		   "as \"3.11\" or \"3.11.7\"\n");
}

static void test_integer_ranges(void **state)
{
	(void)state;
	expect_run(MIN "version: 2\n", "3:10 [version] version: unsupported version 2; this amlspec reads version 1\n");
	expect_run(MIN "version: 0\n", "3:10 [version] version: unsupported version 0; this amlspec reads version 1\n");
	expect_run(MIN "framework: mpi\ndistribution:\n  node_count: 0\n  process_count_per_node: 1025\n",
		   "5:15 [distribution.node_count] distribution.node_count: must be at least 1, got 0\n"
		   "6:27 [distribution.process_count_per_node] distribution.process_count_per_node: must be at most 1024, "
		   "got 1025\n");
	expect_run(MIN "framework: mpi\ndistribution: {node_count: -3, process_count_per_node: 99999999999999999999999}\n",
		   "4:28 [distribution.node_count] distribution.node_count: must be at least 1, got -3\n"
		   "4:56 [distribution.process_count_per_node] distribution.process_count_per_node: must be at most 1024, "
		   "got 99999999999999999999999\n");
	expect_run(MIN "framework: mpi\ndistribution: {node_count: 1024, process_count_per_node: 1}\n", "");
	/* YAML 1.2 integers: 010 is ten, 0o17 is octal, 0x1F is hexadecimal */
	expect_run(MIN "version: 01\nframework: mpi\ndistribution: {node_count: 010, process_count_per_node: 0x400}\n", "");
	expect_run(MIN "framework: mpi\ndistribution: {node_count: 0o2000, process_count_per_node: 0o2001}\n",
		   "4:60 [distribution.process_count_per_node] distribution.process_count_per_node: must be at most 1024, "
		   "got 0o2001\n");
	expect_run(MIN "framework: mpi\ndistribution: {node_count: 0x0, process_count_per_node: 0x401}\n",
		   "4:28 [distribution.node_count] distribution.node_count: must be at least 1, got 0x0\n"
		   "4:57 [distribution.process_count_per_node] distribution.process_count_per_node: must be at most 1024, "
		   "got 0x401\n");
	expect_ws("targets:\n  vm: {type: ssh, host: x, port: 0x16}\n  vm2: {type: ssh, host: x, port: 0o200000}\n",
		  "3:35 [targets.vm2.port] targets.vm2.port: must be at most 65535, got 0o200000\n");
	/* JSON has one number type (ajv and editors see 1.0 and 3.6e3 as the
	 * integers 1 and 3600): an integral number is an integer */
	expect_run(MIN "version: 1.0\nframework: mpi\ndistribution: {node_count: 2.0, process_count_per_node: 1e1}\n"
		       "limits: {timeout: 3.6e3}\n",
		   "");
	expect_run(MIN "version: 1.5\nframework: mpi\ndistribution: {node_count: 2.5e3, process_count_per_node: 1e400}\n"
		       "limits: {timeout: .inf}\n",
		   "3:10 [version] version: expected an integer, got a number\n"
		   "5:28 [distribution.node_count] distribution.node_count: must be at most 1024, got 2.5e3\n"
		   "5:59 [distribution.process_count_per_node] distribution.process_count_per_node: expected an integer, "
		   "got a number\n"
		   "6:19 [limits.timeout] limits.timeout: expected a duration (seconds, or such as 30s, 15m, 2h, 1d), got a "
		   "number\n");
	expect_run(MIN "limits: {timeout: 0.0}\n", "3:19 [limits.timeout] limits.timeout: must be at least 1 second\n");
	expect_run(MIN "limits: {timeout: 0x10}\n", "");
	expect_run(MIN "limits: {timeout: 0o0}\n", "3:19 [limits.timeout] limits.timeout: must be at least 1 second\n");
}

static void test_int_value(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		long long value;
	} cases[] = {
		{ "0", 0 }, { "010", 10 }, { "-12", -12 }, { "+7", 7 }, { "0x1F", 31 }, { "0xff", 255 }, { "0o17", 15 },
		{ "99999999999999999999", 9223372036854775807LL }, { "-99999999999999999999", -9223372036854775807LL - 1 },
		{ "0x7fffffffffffffffff", 9223372036854775807LL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long v = 0;
		assert_true(schema_int_value(cases[i].text, &v));
		if (v != cases[i].value)
			fail_msg("%s: %lld, expected %lld", cases[i].text, v, cases[i].value);
	}
	const char *bad[] = { "", "x", "1.0", "0x", "0o8", "-0x1", "1e3", "12a", "0b1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long long v = 0;
		if (schema_int_value(bad[i], &v))
			fail_msg("%s was taken as an integer", bad[i]);
	}
}

static void test_durations(void **state)
{
	(void)state;
	const char *good[] = { "30s", "15m", "2h", "1d", "3600", "\"3600\"", "1", "'90m'" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *t = xasprintf(MIN "limits: {timeout: %s}\n", good[i]);
		char *got = check(&schema_run_spec, t);
		if (*got)
			fail_msg("%s: %s", good[i], got);
		free(got);
		free(t);
	}
	const char *usage = "(use seconds, or a number with s, m, h or d: 30s, 15m, 2h, 1d)";
	static const struct {
		const char *value;
		const char *message;
	} bad[] = {
		{ "2x", "invalid duration '2x' %s" },   { "\"1.5h\"", "invalid duration '1.5h' %s" },
		{ "1.5h", "invalid duration '1.5h' %s" }, { "h", "invalid duration 'h' %s" },
		{ "10S", "invalid duration '10S' %s" }, { "2h30m", "invalid duration '2h30m' %s" },
		{ "\" 2h\"", "invalid duration ' 2h' %s" }, { "\"-1\"", "invalid duration '-1' %s" },
		{ "0", "must be at least 1 second" },   { "-1", "must be at least 1 second" },
		{ "0s", "must be at least 1 second" },  { "\"0\"", "must be at least 1 second" },
		{ "1.5", "expected a duration (seconds, or such as 30s, 15m, 2h, 1d), got a number" },
		{ "true", "expected a duration (seconds, or such as 30s, 15m, 2h, 1d), got a boolean" },
		{ "[1]", "expected a duration (seconds, or such as 30s, 15m, 2h, 1d), got a sequence" },
		{ "~", "expected a duration (seconds, or such as 30s, 15m, 2h, 1d), got an empty value" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *t = xasprintf(MIN "limits: {timeout: %s}\n", bad[i].value);
		char *m = xasprintf(bad[i].message, usage);
		char *want = xasprintf("3:19 [limits.timeout] limits.timeout: %s\n", m);
		char *got = check(&schema_run_spec, t);
		if (strcmp(got, want))
			fail_msg("%s:\n got  %s want %s", bad[i].value, got, want);
		free(got);
		free(want);
		free(m);
		free(t);
	}
}

static void test_parse_duration(void **state)
{
	(void)state;
	assert_int_equal(schema_parse_duration("30s"), 30);
	assert_int_equal(schema_parse_duration("15m"), 900);
	assert_int_equal(schema_parse_duration("2h"), 7200);
	assert_int_equal(schema_parse_duration("1d"), 86400);
	assert_int_equal(schema_parse_duration("3600"), 3600);
	assert_int_equal(schema_parse_duration("0"), 0);
	assert_int_equal(schema_parse_duration("1000000000000d"), 86400000000000000LL);
	assert_int_equal(schema_parse_duration("2x"), -1);
	assert_int_equal(schema_parse_duration("-1"), -1);
	assert_int_equal(schema_parse_duration("1.5h"), -1);
	assert_int_equal(schema_parse_duration("h"), -1);
	assert_int_equal(schema_parse_duration("1hh"), -1);
	assert_int_equal(schema_parse_duration(""), -1);
	assert_int_equal(schema_parse_duration(NULL), -1);
	assert_int_equal(schema_parse_duration("99999999999999999999"), -1);
}

static void test_secrets_unique(void **state)
{
	(void)state;
	expect_run(MIN "secrets: [A, B, A, A]\n",
		   "3:17 [secrets[2]] secrets[2]: duplicate item 'A'\n"
		   "3:20 [secrets[3]] secrets[3]: duplicate item 'A'\n");
}

static void test_all_problems_in_one_pass(void **state)
{
	(void)state;
	expect_run("version: 2\n"
		   "nmae: x\n"
		   "framework: pytorh\n"
		   "limits: {timeout: 2x}\n",
		   "1:1 [experiment] experiment: missing required key\n"
		   "1:1 [] needs exactly one of 'script' or 'command'; none is given\n"
		   "1:10 [version] version: unsupported version 2; this amlspec reads version 1\n"
		   "2:1 [nmae] nmae: unknown key (did you mean 'name'?)\n"
		   "3:12 [framework] framework: invalid value 'pytorh' (did you mean 'pytorch'? expected one of: python, "
		   "mpi, pytorch, tensorflow, pyspark)\n"
		   "4:19 [limits.timeout] limits.timeout: invalid duration '2x' (use seconds, or a number with s, m, h or d: "
		   "30s, 15m, 2h, 1d)\n");
	/* a root that is not a mapping */
	expect_run("- a\n", "1:1 [] expected a mapping, got a sequence\n");
}

/* ---- workspace file ---- */

static void test_workspace_valid(void **state)
{
	(void)state;
	expect_ws("version: 1\n"
		  "workspace: vision-team\n"
		  "targets:\n"
		  "  gpu-vm:  {type: ssh, host: 10.0.0.4, port: 22, user: azureuser, identity_file: ~/.ssh/id_ed25519, "
		  "work_dir: ~/amlspec}\n"
		  "  hpc:     {type: slurm, partition: gpu, work_dir: /shared/amlspec, sbatch_args: [--gres=gpu:1]}\n"
		  "  cloud:   {type: azureml, subscription_id: \"...\", resource_group: ml-rg, workspace_name: ml-ws, "
		  "compute: cpu-cluster}\n"
		  "catalogs: [envs/]\n",
		  "");
	expect_ws("targets: {}\n", "");
}

static void test_workspace_errors(void **state)
{
	(void)state;
	expect_ws("targets:\n  gpu-vm: {type: shh, host: x}\n",
		  "2:18 [targets.gpu-vm.type] targets.gpu-vm.type: invalid value 'shh' (did you mean 'ssh'? expected one "
		  "of: ssh, slurm, azureml)\n");
	expect_ws("targets:\n  gpu-vm: {type: kubernetes}\n",
		  "2:18 [targets.gpu-vm.type] targets.gpu-vm.type: invalid value 'kubernetes' (expected one of: ssh, slurm, "
		  "azureml)\n");
	expect_ws("targets:\n  gpu-vm: {host: x}\n",
		  "2:11 [targets.gpu-vm.type] targets.gpu-vm.type: missing required key (one of: ssh, slurm, azureml)\n");
	expect_ws("targets:\n  gpu-vm: {type: 1}\n",
		  "2:18 [targets.gpu-vm.type] targets.gpu-vm.type: expected one of: ssh, slurm, azureml\n");
	expect_ws("targets:\n  gpu-vm: ssh\n", "2:11 [targets.gpu-vm] targets.gpu-vm: expected a mapping, got a string\n");
	/* missing host, at the target's mapping */
	expect_ws("targets:\n  gpu-vm:\n    type: ssh\n    user: me\n",
		  "3:5 [targets.gpu-vm.host] targets.gpu-vm.host: missing required key\n");
	/* port range */
	expect_ws("targets:\n  a: {type: ssh, host: x, port: 0}\n  b: {type: ssh, host: x, port: 65536}\n"
		  "  c: {type: ssh, host: x, port: 65535}\n  d: {type: ssh, host: x, port: \"22\"}\n",
		  "2:33 [targets.a.port] targets.a.port: must be at least 1, got 0\n"
		  "3:33 [targets.b.port] targets.b.port: must be at most 65535, got 65536\n"
		  "5:33 [targets.d.port] targets.d.port: expected an integer, got a string\n");
	/* keys of a variant, with suggestions from that variant */
	expect_ws("targets:\n  a: {type: ssh, hots: x}\n  h: {type: slurm, partion: gpu, work_dir: /w}\n",
		  "2:6 [targets.a.host] targets.a.host: missing required key\n"
		  "2:18 [targets.a.hots] targets.a.hots: unknown key (did you mean 'host'?)\n"
		  "3:20 [targets.h.partion] targets.h.partion: unknown key (did you mean 'partition'?)\n");
	expect_ws("targets:\n  h: {type: slurm}\n", "2:6 [targets.h.work_dir] targets.h.work_dir: missing required key\n");
	expect_ws("targets:\n  c: {type: azureml, subscription_id: s, resource_group: r, workspace_name: w, compute: c, "
		  "endpoint: ftp://x, curated_environments: registy}\n",
		  "2:102 [targets.c.endpoint] targets.c.endpoint: invalid value 'ftp://x': an http(s) URL\n"
		  "2:133 [targets.c.curated_environments] targets.c.curated_environments: invalid value 'registy' (did you "
		  "mean 'registry'? expected one of: registry, workspace)\n");
	expect_ws("targets:\n  my vm: {type: ssh, host: x}\n",
		  "2:3 [targets.my vm] targets.my vm: invalid key 'my vm': use letters, digits, '_' and '-', starting with "
		  "a letter or digit (at most 255 characters)\n");
	expect_ws("target:\n  a: {type: ssh, host: x}\nversion: 2\ncatalogs: envs\n",
		  "1:1 [target] target: unknown key (did you mean 'targets'?)\n"
		  "3:10 [version] version: unsupported version 2; this amlspec reads version 1\n"
		  "4:11 [catalogs] catalogs: expected a sequence, got a string\n");
}

/* ---- the generated JSON Schema ---- */

static json_object *get(json_object *o, const char *path)
{
	char *p = xstrdup(path), *save = NULL;
	for (char *k = strtok_r(p, "/", &save); k && o; k = strtok_r(NULL, "/", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(k));
		else if (!json_object_object_get_ex(o, k, &o))
			o = NULL;
	}
	free(p);
	return o;
}

static void test_json_schema(void **state)
{
	(void)state;
	json_object *s = schema_to_json(&schema_run_spec);
	assert_string_equal(json_object_get_string(get(s, "$schema")), "https://json-schema.org/draft/2020-12/schema");
	assert_string_equal(json_object_get_string(get(s, "$id")), "https://amlspec.dev/schemas/run.schema.json");
	assert_string_equal(json_object_get_string(get(s, "type")), "object");
	assert_false(json_object_get_boolean(get(s, "additionalProperties")));
	assert_string_equal(json_object_get_string(get(s, "required/0")), "experiment");
	assert_int_equal(json_object_array_length(get(s, "required")), 1);
	assert_string_equal(json_object_get_string(get(s, "oneOf/0/required/0")), "script");
	assert_string_equal(json_object_get_string(get(s, "oneOf/1/required/0")), "command");
	assert_string_equal(json_object_get_string(get(s, "dependentSchemas/arguments/not/required/0")), "command");
	assert_string_equal(json_object_get_string(get(s, "properties/experiment/pattern")),
			    "^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$");
	assert_int_equal(json_object_get_int(get(s, "properties/version/minimum")), 1);
	assert_int_equal(json_object_get_int(get(s, "properties/version/maximum")), 1);
	assert_string_equal(json_object_get_string(get(s, "properties/limits/properties/timeout/oneOf/0/type")), "integer");
	assert_string_equal(json_object_get_string(get(s, "properties/limits/properties/timeout/oneOf/1/pattern")),
			    "^[0-9]+[smhd]?$");
	assert_true(json_object_get_boolean(get(s, "properties/secrets/uniqueItems")));
	assert_int_equal(json_object_get_int(get(s, "properties/command/minItems")), 1);
	assert_string_equal(json_object_get_string(get(s, "properties/environment/oneOf/0/type")), "string");
	assert_string_equal(json_object_get_string(get(s, "properties/environment/oneOf/1/type")), "object");
	assert_string_equal(json_object_get_string(get(s, "properties/framework/enum/2")), "pytorch");
	assert_string_equal(json_object_get_string(get(s, "properties/target/default")), "local");
	assert_string_equal(json_object_get_string(get(s, "properties/environment_variables/propertyNames/pattern")),
			    "^[A-Za-z_][A-Za-z0-9_]*$");
	json_object_put(s);

	s = schema_to_json(&schema_workspace);
	assert_string_equal(json_object_get_string(get(s, "$id")), "https://amlspec.dev/schemas/workspace.schema.json");
	/* the target's type picks its variant (if/then), as in the checker */
	json_object *tagged = get(s, "properties/targets/additionalProperties");
	assert_string_equal(json_object_get_string(get(tagged, "required/0")), "type");
	assert_string_equal(json_object_get_string(get(tagged, "properties/type/enum/1")), "slurm");
	json_object *variants = get(tagged, "allOf");
	assert_int_equal(json_object_array_length(variants), 3);
	assert_string_equal(json_object_get_string(get(variants, "0/if/properties/type/const")), "ssh");
	assert_string_equal(json_object_get_string(get(variants, "0/then/required/1")), "host");
	assert_int_equal(json_object_get_int(get(variants, "0/then/properties/port/maximum")), 65535);
	assert_string_equal(json_object_get_string(get(variants, "1/if/properties/type/const")), "slurm");
	assert_string_equal(json_object_get_string(get(variants, "2/if/properties/type/const")), "azureml");
	json_object_put(s);
}

static void test_match(void **state)
{
	(void)state;
	assert_true(schema_match("^[a-z]+$", "abc"));
	assert_false(schema_match("^[a-z]+$", "ab1"));
	/* the same text at another address hits the cache too */
	char pat[] = "^[a-z]+$";
	assert_true(schema_match(pat, "x"));
	/* patterns need not outlive the call (the cache keeps its own copy),
	 * and more patterns than the cache holds still work */
	for (int i = 0; i < 40; i++) {
		char *p = xasprintf("^x{%d}$", i + 1);
		char *t = xasprintf("%0*d", i + 1, 0);
		for (char *c = t; *c; c++)
			*c = 'x';
		assert_true(schema_match(p, t));
		assert_false(schema_match(p, "y"));
		free(t);
		free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_specs),
		cmocka_unit_test(test_unknown_keys_everywhere),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_exactly_one_of_script_command),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_integer_ranges),
		cmocka_unit_test(test_int_value),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_secrets_unique),
		cmocka_unit_test(test_all_problems_in_one_pass),
		cmocka_unit_test(test_workspace_valid),
		cmocka_unit_test(test_workspace_errors),
		cmocka_unit_test(test_json_schema),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
