/* amlspec cancel RUN_ID: stops a run (SIGTERM to its process group, then
 * SIGKILL after a grace period on the local target); status Canceled. */
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/runcmd.h"

static const char usage[] =
	"usage: amlspec cancel RUN_ID [--grace SECONDS]\n"
	"\n"
	"Stops the run: SIGTERM, then SIGKILL after the grace period (default 10 s).\n";

int cmd_cancel(int argc, char **argv, cli *ctx)
{
	const char *grace_text = NULL;
	char **args = NULL;
	int nargs = 0;
	const cli_opt options[] = { { "--grace", NULL, &grace_text }, { NULL, NULL, NULL } };
	int parsed = cli_parse(ctx, argc, argv, usage, options, &args, &nargs);
	if (parsed >= 0)
		return parsed;
	const char *id = nargs == 1 ? args[0] : NULL;
	free(args);
	if (!id)
		return cli_usage(ctx, usage);
	double grace = grace_text ? strtod(grace_text, NULL) : 10;
	runcmd r = RUNCMD_INIT;
	if (runcmd_open(&r, id, ctx))
		return runcmd_close(&r), EXIT_FAIL;
	int rc = r.ops->cancel(r.cfg, r.rec, grace, &r.diags);
	if (rc) {
		cli_print_diags(ctx, &r.diags, stderr);
	} else if (ctx->output == OUT_JSON) {
		json_object *o = cli_envelope(ctx);
		json_object_object_add(o, "run_id", json_object_new_string(r.rec->id));
		json_object_object_add(o, "status", json_object_new_string(run_status_name(run_record_status(r.rec))));
		cli_print_json(o);
	} else {
		printf("%s %s\n", r.rec->id, run_status_name(run_record_status(r.rec)));
	}
	runcmd_close(&r);
	return rc ? EXIT_FAIL : EXIT_OK;
}
