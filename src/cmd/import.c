/* amlspec import JOB.yml: an Azure ML CLI v2 command job as a run.yaml on
 * stdout; what has no amlspec equivalent is named in warnings on stderr. */
#include <stdlib.h>
#include <string.h>

#include "azureml/jobyaml.h"
#include "cmd/cli.h"
#include "util/fs.h"

static const char usage[] =
	"usage: amlspec import JOB.yml\n"
	"\n"
	"Reads an Azure ML CLI v2 command job (as in Azure/azureml-examples) and\n"
	"writes the equivalent run.yaml to stdout. Literal inputs are put into the\n"
	"arguments; what cannot be carried over (data inputs' mounting, outputs,\n"
	"identity, services, ...) is listed as warnings on stderr. Paths in the\n"
	"result are relative to JOB.yml's folder: save it there. Exit 0, or 1 when\n"
	"the file is not a command job amlspec can express.\n";

int cmd_import(int argc, char **argv, cli *ctx)
{
	char **args = NULL;
	int nargs = 0;
	int parsed = cli_parse(ctx, argc, argv, usage, NULL, &args, &nargs);
	if (parsed >= 0)
		return parsed;
	const char *path = nargs ? args[0] : NULL;
	if (nargs > 1) {
		cli_error(ctx, "one job file at a time ('%s')", args[1]);
		free(args);
		return cli_usage(ctx, usage);
	}
	free(args);
	if (!path) {
		cli_error(ctx, "a JOB.yml is required");
		return cli_usage(ctx, usage);
	}
	diag_list diags = DIAG_LIST_INIT;
	workspace *ws = NULL;
	char *root = NULL;
	char *abs = fs_absolute(path);
	char *dir = fs_dirname(abs);
	/* the workspace the job file sits in: its azureml targets and catalogs */
	diag_list wd = DIAG_LIST_INIT;
	if (workspace_find_root(&root, dir, ctx->workspace_dir, &wd) == AML_OK &&
	    workspace_open(&ws, root, &wd) != AML_OK)
		diag_warning(&diags, NULL, 0, 0, NULL,
			     "the workspace at %s cannot be opened (amlspec validate says why); targets and catalogs are "
			     "not consulted",
			     root);
	diag_list_free(&wd);
	buf out = BUF_INIT;
	char *shown = path_for_display(abs);
	int rc = azml_import_job_yaml(&out, path, shown, ws, &diags);
	diag_list_sort(&diags);
	cli_print_diags(ctx, &diags, stderr);
	if (!rc)
		fwrite(out.ptr, 1, out.len, stdout);
	buf_free(&out);
	free(shown);
	workspace_free(ws);
	free(root);
	free(dir);
	free(abs);
	diag_list_free(&diags);
	return rc ? EXIT_FAIL : EXIT_OK;
}
