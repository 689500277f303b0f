/* amlspec export --format azureml-job-yaml|azureml-rest-json [--target NAME] RUN.yaml:
 * the spec as an Azure ML CLI v2 command job (YAML), or as the REST body the
 * azureml target would PUT to jobs/{id} (JSON). */
#include <stdlib.h>
#include <string.h>

#include "azureml/arm.h"
#include "azureml/body.h"
#include "azureml/jobyaml.h"
#include "cmd/cli.h"
#include "cmd/specset.h"
#include "provenance/provenance.h"
#include "snapshot/snapshot.h"
#include "util/fs.h"

static const char usage[] =
	"usage: amlspec export --format azureml-job-yaml|azureml-rest-json [--target NAME] RUN.yaml\n"
	"\n"
	"Writes the spec to stdout as an Azure ML CLI v2 command job (azureml-job-yaml,\n"
	"for `az ml job create --file`), or as the body amlspec PUTs to the REST API's\n"
	"jobs/{id} (azureml-rest-json, api-version " ARM_API_VERSION "). The spec's target must be\n"
	"an azureml target of amlspec.yaml, or name one with --target.\n";

int cmd_export(int argc, char **argv, cli *ctx)
{
	const char *format = NULL, *target_name = NULL, *path = NULL;
	char **args = NULL;
	int nargs = 0;
	const cli_opt options[] = {
		{ "--format", NULL, &format },
		{ "--target", NULL, &target_name },
		{ NULL, NULL, NULL },
	};
	int parsed = cli_parse(ctx, argc, argv, usage, options, &args, &nargs);
	if (parsed >= 0)
		return parsed;
	path = nargs ? args[0] : NULL;
	if (nargs > 1) {
		cli_error(ctx, "one spec at a time ('%s')", args[1]);
		free(args);
		return cli_usage(ctx, usage);
	}
	free(args);
	if (!format || !path) {
		cli_error(ctx, "%s", !format ? "--format is required" : "a RUN.yaml is required");
		return cli_usage(ctx, usage);
	}
	bool yaml = !strcmp(format, "azureml-job-yaml");
	if (!yaml && strcmp(format, "azureml-rest-json")) {
		cli_error(ctx, "--format must be azureml-job-yaml or azureml-rest-json, not '%s'", format);
		return cli_usage(ctx, usage);
	}

	specset set = SPECSET_INIT;
	diag_list diags = DIAG_LIST_INIT;
	workspace *ws = NULL;
	resolved_env env = { 0 };
	azml_target t = { 0 };
	bool have_target = false, have_env = false;
	provenance prov = { 0 };
	json_object *props = NULL;
	char *state_dir = NULL, *store = NULL;
	int exit_code = EXIT_FAIL;
	char *one[] = { (char *)path };

	if (specset_load(&set, 1, one, ctx, &diags) || specset_workspace(&ws, &set, ctx, &diags))
		goto done;
	const run_spec *spec = NULL;
	size_t nspecs = 0;
	for (size_t i = 0; i < set.nfiles; i++)
		if (set.files[i].spec && !set.files[i].is_workspace) {
			spec = set.files[i].spec;
			nspecs++;
		}
	if (!spec || nspecs != 1) {
		diag_error(&diags, path, 0, 0, NULL, "export takes one run spec file");
		goto done;
	}
	const char *tname = target_name ? target_name : spec->target;
	const target_config *cfg = workspace_target(ws, tname);
	if (!cfg || strcmp(cfg->type, "azureml")) {
		diag_error(&diags, spec->file, 0, 0, "target",
			   "target: '%s' is not an azureml target of %s; export needs one (name it with --target)", tname,
			   ws->config_display ? ws->config_display : "amlspec.yaml (none found)");
		goto done;
	}
	if (azml_target_parse(&t, cfg, &diags))
		goto done;
	have_target = true;
	if (spec->framework == FW_PYSPARK) {
		diag_error(&diags, spec->file, 0, 0, "framework",
			   "framework: pyspark has no command-job equivalent (it is an Azure ML Spark job)");
		goto done;
	}
	if (spec->secrets.count)
		diag_warning(&diags, spec->file, 0, 0, "secrets",
			     "secrets: not exported (their values would be written into the job definition); the azureml "
			     "target refuses them");
	if (env_resolve(&env, &spec->environment, workspace_catalog(ws, &diags), &diags))
		goto done;
	have_env = true;
	provenance_collect(&prov, spec->source_dir_abs, &diags);
	props = provenance_to_properties(&prov);

	buf out = BUF_INIT;
	if (yaml) {
		azml_export_job_yaml(&out, spec, &env, &t, props);
	} else {
		state_dir = workspace_state_dir(ws);
		store = fs_join(state_dir, "snapshots.git");
		if (fs_mkdirs(state_dir, 0700) < 0) {
			diag_errno(&diags, state_dir, "cannot create the state folder");
			goto done;
		}
		char *shown = path_for_display(spec->source_dir_abs);
		snapshot_opts so = { store, spec->source_dir_abs, shown, false };
		snapshot_info si;
		int src = snapshot_take(&si, &so, &diags);
		free(shown);
		if (src)
			goto done;
		json_object_object_add(props, "ContentSnapshotId", json_object_new_string(si.tree_id));
		char *wsid = azml_workspace_id(&t);
		char *code_name = azml_code_name(spec->experiment);
		char *code_id = xasprintf("%s/codes/%s/versions/%s", wsid, code_name, si.tree_id);
		char *env_id = azml_env_is_curated(spec, &env)
				       ? azml_curated_environment_id(&t, env.curated_name, env.curated_version)
				       : azml_registered_environment_id(&t, &env);
		char *compute_id = azml_compute_id(&t);
		azml_job_params p = { spec, &env, env_id, code_id, compute_id, t.instance_type, props, NULL };
		json_object *body = azml_job_body(&p);
		buf_puts(&out, json_object_to_json_string_ext(body, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
										 JSON_C_TO_STRING_NOSLASHESCAPE));
		buf_putc(&out, '\n');
		json_object_put(body);
		free(compute_id);
		free(env_id);
		free(code_id);
		free(code_name);
		free(wsid);
	}
	fwrite(out.ptr, 1, out.len, stdout);
	buf_free(&out);
	exit_code = EXIT_OK;
done:
	diag_list_sort(&diags);
	cli_print_diags(ctx, &diags, stderr);
	json_object_put(props);
	provenance_free(&prov);
	if (have_env)
		resolved_env_free(&env);
	if (have_target)
		azml_target_free(&t);
	free(store);
	free(state_dir);
	specset_free(&set);
	diag_list_free(&diags);
	return exit_code;
}
