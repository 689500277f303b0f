/* amlspec validate [PATH...]: every problem in every spec, in one pass. */
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/specset.h"

static const char usage[] =
	"usage: amlspec validate [PATH...]\n"
	"\n"
	"Checks run specs (files, or folders searched for run.yaml and *.run.yaml;\n"
	"default: the current folder) and the workspace file amlspec.yaml.\n"
	"Exit 0 when everything is valid, 1 otherwise.\n";

int cmd_validate(int argc, char **argv, cli *ctx)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return EXIT_OK;
		}
		if (argv[i][0] == '-' && strcmp(argv[i], "-") && strcmp(argv[i], "--"))
			return cli_error(ctx, "unknown option '%s'", argv[i]) ? cli_usage(ctx, usage) : EXIT_USAGE;
	}
	specset set = SPECSET_INIT;
	diag_list diags = DIAG_LIST_INIT;
	specset_load(&set, argc - 1, argv + 1, ctx, &diags);
	diag_list_sort(&diags);
	bool valid = diags.errors == 0;

	if (ctx->output == OUT_JSON) {
		json_object *o = cli_envelope(ctx);
		json_object_object_add(o, "valid", json_object_new_boolean(valid));
		json_object *files = json_object_new_array();
		for (size_t i = 0; i < set.nfiles; i++) {
			json_object *f = json_object_new_object();
			json_object_object_add(f, "file", json_object_new_string(set.files[i].display));
			json_object_object_add(f, "kind", json_object_new_string(set.files[i].is_workspace ? "workspace" : "run"));
			if (set.files[i].spec)
				json_object_object_add(f, "address", json_object_new_string(set.files[i].spec->address));
			json_object_object_add(f, "valid", json_object_new_boolean(set.files[i].valid));
			json_object_array_add(files, f);
		}
		json_object_object_add(o, "files", files);
		json_object_object_add(o, "error_count", json_object_new_int64((int64_t)diags.errors));
		json_object_object_add(o, "warning_count", json_object_new_int64((int64_t)diags.warnings));
		json_object_object_add(o, "diagnostics", cli_diags_json(&diags));
		cli_print_json(o);
	} else {
		cli_print_diags(ctx, &diags, stderr);
		size_t nspecs = 0, bad = 0;
		for (size_t i = 0; i < set.nfiles; i++) {
			nspecs += !set.files[i].is_workspace;
			bad += !set.files[i].valid;
		}
		if (valid)
			printf("%s%zu spec%s valid%s\n", cli_c(ctx, C_GREEN), nspecs, nspecs == 1 ? "" : "s",
			       cli_c(ctx, C_RESET));
		else
			fprintf(stderr, "%zu error%s in %zu of %zu file%s\n", diags.errors, diags.errors == 1 ? "" : "s", bad,
				set.nfiles, set.nfiles == 1 ? "" : "s");
	}
	specset_free(&set);
	diag_list_free(&diags);
	return valid ? EXIT_OK : EXIT_FAIL;
}
