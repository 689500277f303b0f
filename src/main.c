/* amlspec: declarative training runs. main() parses the global options and
 * dispatches to one cmd_<verb>() per file in src/cmd/ (after git's git.c). */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"

struct cmd {
	const char *name;
	cmd_fn fn;
	const char *help;
};

/* Sorted by name. */
static const struct cmd commands[] = {
	{ "apply", cmd_apply, "start the runs that plan shows" },
	{ "cancel", cmd_cancel, "stop a run" },
	{ "diff", cmd_diff, "what the specs mean differently between two git revisions" },
	{ "envs", cmd_envs, "list curated environments, show a resolved one" },
	{ "export", cmd_export, "a spec as an Azure ML CLI v2 job (YAML) or REST body" },
	{ "fmt", cmd_fmt, "canonical layout for specs" },
	{ "import", cmd_import, "an Azure ML CLI v2 command job as a run.yaml" },
	{ "lock", cmd_lock, "write or move the pins in amlspec.lock" },
	{ "logs", cmd_logs, "print (or follow) a run's driver log" },
	{ "plan", cmd_plan, "show what apply would do, and why" },
	{ "status", cmd_status, "runs, their state, and drift from the specs" },
	{ "validate", cmd_validate, "check specs and the workspace file" },
	{ "__supervise", cmd_supervise, NULL },
};

static const char usage_text[] =
	"usage: amlspec [--output text|json|markdown] [--workspace DIR] [--no-color] <command> [<args>]\n"
	"\n"
	"commands:\n";

static int print_usage(FILE *f)
{
	fputs(usage_text, f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].help)
			fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fputs("\n'amlspec <command> --help' describes a command. Exit codes: docs/exit-codes.md\n", f);
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

/* Removes the global options from argv wherever they appear (before "--"),
 * so that `amlspec validate --output json x` and `amlspec --output json
 * validate x` both work. Returns -1 on a bad value. */
static int take_global_options(int *argc, char **argv, cli *ctx)
{
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		bool missing = false;
		const char *v;
		if (!strcmp(argv[i], "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if ((v = cli_opt_value(*argc, argv, &i, "--output", &missing)) ||
		    (!missing && (v = cli_opt_value(*argc, argv, &i, "-o", &missing)))) {
			if (!strcmp(v, "text"))
				ctx->output = OUT_TEXT;
			else if (!strcmp(v, "json"))
				ctx->output = OUT_JSON;
			else if (!strcmp(v, "markdown") || !strcmp(v, "md"))
				ctx->output = OUT_MARKDOWN;
			else {
				fprintf(stderr, "amlspec: --output must be text, json or markdown, not '%s'\n", v);
				return -1;
			}
		} else if (!missing && (v = cli_opt_value(*argc, argv, &i, "--workspace", &missing))) {
			ctx->workspace_dir = v;
		} else if (!missing && (v = cli_opt_value(*argc, argv, &i, "--lock-timeout", &missing))) {
			char *end;
			ctx->lock_timeout = strtod(v, &end);
			if (*end || ctx->lock_timeout < 0) {
				fprintf(stderr, "amlspec: --lock-timeout takes seconds, not '%s'\n", v);
				return -1;
			}
		} else if (!missing && !strcmp(argv[i], "--no-color")) {
			ctx->color = false;
		} else if (!missing && !strcmp(argv[i], "--verbose")) {
			ctx->verbose = true;
		} else if (missing) {
			fprintf(stderr, "amlspec: %s needs a value\n", argv[i]);
			return -1;
		} else {
			argv[out++] = argv[i];
		}
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "C");
	cli ctx = { 0 };
	const char *nc = getenv("NO_COLOR");
	ctx.color = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) && !(nc && *nc) &&
		    !(getenv("TERM") && !strcmp(getenv("TERM"), "dumb"));
	ctx.lock_timeout = 5.0;
	if (take_global_options(&argc, argv, &ctx) < 0)
		return EXIT_USAGE;
	if (ctx.verbose)
		setenv("AMLSPEC_HTTP_TRACE", "1", 0); /* remote targets trace requests, secrets masked */
	if (argc < 2)
		return print_usage(stderr);
	const char *verb = argv[1];
	if (!strcmp(verb, "--help") || !strcmp(verb, "-h") || !strcmp(verb, "help"))
		return print_usage(stdout);
	if (!strcmp(verb, "--version") || !strcmp(verb, "version")) {
		printf("amlspec %s\n", AMLSPEC_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, verb)) {
			ctx.verb = verb;
			return commands[i].fn(argc - 1, argv + 1, &ctx);
		}
	fprintf(stderr, "amlspec: '%s' is not a command. See 'amlspec --help'.\n", verb);
	return EXIT_USAGE;
}
