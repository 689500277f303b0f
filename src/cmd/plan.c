/* amlspec plan [PATH...]: what apply would do, and why. */
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/specset.h"
#include "plan/plan.h"
#include "plan/saved.h"

static const char usage[] =
	"usage: amlspec plan [PATH...] [-out FILE] [--rerun] [--fatal-limits]\n"
	"\n"
	"Compares each spec with what was last applied and shows, per spec,\n"
	"+ create, ~ rerun (with every reason), or nothing. Exit 0: no changes;\n"
	"2: changes; 1: error. --output json|markdown for tools and reviews.\n"
	"-out FILE saves the plan; 'amlspec apply FILE' then does exactly that\n"
	"plan, or refuses if the state or any input moved since.\n";

int cmd_plan(int argc, char **argv, cli *ctx)
{
	plan_opts opts = { 0 };
	const char *out_file = NULL;
	char **paths = NULL;
	int npaths = 0;
	const cli_opt options[] = {
		{ "-out|--out", NULL, &out_file },
		{ "--rerun", &opts.rerun_all, NULL },
		{ "--fatal-limits", &opts.fatal_limits, NULL },
		{ NULL, NULL, NULL },
	};
	int parsed = cli_parse(ctx, argc, argv, usage, options, &paths, &npaths);
	if (parsed >= 0)
		return parsed;
	specset set = SPECSET_INIT;
	diag_list diags = DIAG_LIST_INIT;
	workspace *ws = NULL;
	state *st = NULL;
	plan p = { 0 };
	lockfile lock = { 0 };
	int exit_code = EXIT_FAIL;
	char *state_dir = NULL;
	if (specset_load(&set, npaths, paths, ctx, &diags) || specset_workspace(&ws, &set, ctx, &diags))
		goto done;
	state_dir = workspace_state_dir(ws);
	if (lockfile_load(&lock, ws->root, &diags))
		goto done;
	opts.lock = &lock;
	if (state_load(&st, state_dir, &diags))
		goto done;
	if (plan_build(&p, &set, ws, st, state_dir, &opts, &diags))
		goto done;
	if (out_file) {
		json_object *saved = saved_plan_new(&p, ws, ctx);
		json_object_object_add(saved, "rerun", json_object_new_boolean(opts.rerun_all));
		int wrc = saved_plan_write(saved, out_file, &diags);
		json_object_put(saved);
		if (wrc)
			goto done;
	}
	cli_print_diags(ctx, &diags, stderr);
	diag_list_free(&diags);
	if (ctx->output == OUT_JSON)
		cli_print_json(plan_render_json(&p, ctx));
	else if (ctx->output == OUT_MARKDOWN)
		plan_render_markdown(&p, stdout);
	else
		plan_render_text(&p, ctx, stdout);
	if (out_file && ctx->output == OUT_TEXT)
		printf("Saved the plan to %s; 'amlspec apply %s' does exactly this.\n", out_file, out_file);
	exit_code = p.ncreate + p.nrerun ? EXIT_CHANGES : EXIT_OK;
done:
	if (exit_code == EXIT_FAIL) {
		diag_list_sort(&diags);
		cli_print_diags(ctx, &diags, stderr);
	}
	plan_free(&p);
	lockfile_free(&lock);
	state_free(st);
	free(state_dir);
	specset_free(&set);
	diag_list_free(&diags);
	free(paths);
	return exit_code;
}
