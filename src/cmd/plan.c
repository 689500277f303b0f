/* amlspec plan [PATH...]: what apply would do, and why. */
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/specset.h"
#include "plan/plan.h"

static const char usage[] =
	"usage: amlspec plan [PATH...] [--rerun] [--fatal-limits]\n"
	"\n"
	"Compares each spec with what was last applied and shows, per spec,\n"
	"+ create, ~ rerun (with every reason), or nothing. Exit 0: no changes;\n"
	"2: changes; 1: error. --output json|markdown for tools and reviews.\n";

int cmd_plan(int argc, char **argv, cli *ctx)
{
	plan_opts opts = { 0 };
	char **paths = xcalloc((size_t)argc + 1, sizeof(char *));
	int npaths = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			free(paths);
			fputs(usage, stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--rerun")) {
			opts.rerun_all = true;
		} else if (!strcmp(argv[i], "--fatal-limits")) {
			opts.fatal_limits = true;
		} else if (argv[i][0] == '-') {
			free(paths);
			cli_error(ctx, "unknown option '%s'", argv[i]);
			return cli_usage(ctx, usage);
		} else {
			paths[npaths++] = argv[i];
		}
	}
	specset set = SPECSET_INIT;
	diag_list diags = DIAG_LIST_INIT;
	workspace *ws = NULL;
	state *st = NULL;
	plan p = { 0 };
	int exit_code = EXIT_FAIL;
	char *state_dir = NULL;
	if (specset_load(&set, npaths, paths, ctx, &diags) || specset_workspace(&ws, &set, ctx, &diags))
		goto done;
	state_dir = workspace_state_dir(ws);
	if (state_load(&st, state_dir, &diags))
		goto done;
	if (plan_build(&p, &set, ws, st, state_dir, &opts, &diags))
		goto done;
	cli_print_diags(ctx, &diags, stderr);
	diag_list_free(&diags);
	if (ctx->output == OUT_JSON)
		cli_print_json(plan_render_json(&p, ctx));
	else if (ctx->output == OUT_MARKDOWN)
		plan_render_markdown(&p, stdout);
	else
		plan_render_text(&p, ctx, stdout);
	exit_code = p.ncreate + p.nrerun ? EXIT_CHANGES : EXIT_OK;
done:
	if (exit_code == EXIT_FAIL) {
		diag_list_sort(&diags);
		cli_print_diags(ctx, &diags, stderr);
	}
	plan_free(&p);
	state_free(st);
	free(state_dir);
	specset_free(&set);
	diag_list_free(&diags);
	free(paths);
	return exit_code;
}
