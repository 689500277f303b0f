/* amlspec logs RUN_ID [-f]: the run's driver log (stdout and stderr of the
 * script), followed to the end of the run with -f. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/runcmd.h"

static const char usage[] =
	"usage: amlspec logs RUN_ID [-f]\n"
	"\n"
	"Prints the run's driver log; -f follows it until the run ends.\n"
	"RUN_ID may be a unique prefix.\n";

int cmd_logs(int argc, char **argv, cli *ctx)
{
	bool follow = false;
	char **args = NULL;
	int nargs = 0;
	const cli_opt options[] = { { "-f|--follow", &follow, NULL }, { NULL, NULL, NULL } };
	int parsed = cli_parse(ctx, argc, argv, usage, options, &args, &nargs);
	if (parsed >= 0)
		return parsed;
	const char *id = nargs == 1 ? args[0] : NULL;
	free(args);
	if (!id)
		return cli_usage(ctx, usage);
	runcmd rc_ = RUNCMD_INIT;
	int rc = runcmd_open(&rc_, id, ctx);
	if (rc) {
		runcmd_close(&rc_);
		return EXIT_FAIL;
	}
	long long off = 0;
	rc = rc_.ops->logs(rc_.cfg, rc_.rec, follow, STDOUT_FILENO, &off, &rc_.diags);
	cli_print_diags(ctx, &rc_.diags, stderr);
	runcmd_close(&rc_);
	return rc ? EXIT_FAIL : EXIT_OK;
}
