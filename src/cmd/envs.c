/* amlspec envs list | envs show NAME[@VERSION] */
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "env/resolve.h"
#include "spec/schema.h"
#include "util/fs.h"
#include "workspace/workspace.h"

static const char usage[] =
	"usage: amlspec envs list\n"
	"       amlspec envs show NAME[@VERSION]\n"
	"\n"
	"Lists the curated environments (built in, and the workspace's catalogs:),\n"
	"or shows one resolved to its canonical definition and digest.\n";

static void print_list_text(const char *title, const strlist *l)
{
	if (!l->count)
		return;
	printf("  %s:\n", title);
	for (size_t i = 0; i < l->count; i++)
		printf("    - %s\n", l->items[i]);
}

static void print_resolved_text(const cli *ctx, const resolved_env *r, const catalog_entry *e)
{
	const envdef *d = &r->def;
	printf("%s%s%s\n", cli_c(ctx, C_BOLD), r->label, cli_c(ctx, C_RESET));
	if (e && e->description)
		printf("%s\n", e->description);
	printf("digest: %s\n", r->digest);
	if (e)
		printf("defined in: %s\n", e->file);
	printf("python:\n");
	printf("  version: %s\n", d->python_version ? d->python_version : "(as found)");
	if (d->user_managed)
		printf("  user_managed_dependencies: true\n  interpreter_path: %s\n",
		       d->interpreter_path ? d->interpreter_path : "python3 (PATH)");
	print_list_text("channels", &d->channels);
	print_list_text("conda_packages", &d->conda_packages);
	print_list_text("pip_packages", &d->pip_packages);
	printf("docker:\n  enabled: %s\n  base_image: %s\n", d->docker_enabled ? "true" : "false",
	       d->base_image ? d->base_image : "(none)");
	if (d->variables.count) {
		printf("environment_variables:\n");
		for (size_t i = 0; i < d->variables.count; i++)
			printf("  %s: %s\n", d->variables.items[i].key, d->variables.items[i].value);
	}
}

static int open_ws(workspace **ws, const cli *ctx, diag_list *diags)
{
	char *root = NULL;
	int rc = workspace_find_root(&root, ".", ctx->workspace_dir, diags);
	if (rc)
		return rc;
	rc = workspace_open(ws, root, diags);
	free(root);
	return rc;
}

static int envs_list(cli *ctx, workspace *ws)
{
	const catalog *cat = &ws->cat;
	if (ctx->output == OUT_JSON) {
		json_object *o = cli_envelope(ctx);
		json_object *a = json_object_new_array();
		for (size_t i = 0; i < cat->count; i++) {
			const catalog_entry *e = &cat->entries[i];
			json_object *eo = json_object_new_object();
			json_object_object_add(eo, "name", json_object_new_string(e->name));
			json_object_object_add(eo, "description", e->description ? json_object_new_string(e->description) : NULL);
			json_object_object_add(eo, "builtin", json_object_new_boolean(e->builtin));
			json_object_object_add(eo, "file", json_object_new_string(e->file));
			json_object *vs = json_object_new_array();
			for (size_t j = 0; j < e->count; j++)
				json_object_array_add(vs, json_object_new_int64(e->versions[j].version));
			json_object_object_add(eo, "versions", vs);
			json_object_object_add(eo, "latest", json_object_new_int64(catalog_entry_latest(e)->version));
			json_object_array_add(a, eo);
		}
		json_object_object_add(o, "environments", a);
		cli_print_json(o);
		return EXIT_OK;
	}
	size_t w = 4;
	for (size_t i = 0; i < cat->count; i++)
		if (strlen(cat->entries[i].name) > w)
			w = strlen(cat->entries[i].name);
	printf("%s%-*s  %-6s  %-8s  %s%s\n", cli_c(ctx, C_BOLD), (int)w, "NAME", "LATEST", "VERSIONS", "PYTHON",
	       cli_c(ctx, C_RESET));
	for (size_t i = 0; i < cat->count; i++) {
		const catalog_entry *e = &cat->entries[i];
		const catalog_version *l = catalog_entry_latest(e);
		printf("%-*s  %-6ld  %-8zu  %s%s\n", (int)w, e->name, l->version, e->count,
		       l->def.python_version ? l->def.python_version : "-", e->builtin ? "" : "  (team catalog)");
	}
	return EXIT_OK;
}

static int envs_show(cli *ctx, workspace *ws, const char *ref)
{
	diag_list diags = DIAG_LIST_INIT;
	resolved_env r;
	long version = 0;
	/* as in specs: NAME@x is not 'the latest NAME' */
	if (!schema_match("^[A-Za-z0-9][A-Za-z0-9._-]{0,254}(@[0-9]+)?$", ref))
		return cli_error(ctx, "invalid reference '%s': expected NAME or NAME@VERSION", ref);
	char *name = catalog_split_ref(ref, &version);
	const catalog_entry *e = catalog_find(&ws->cat, name);
	int rc = EXIT_OK;
	if (!e) {
		size_t n = 0;
		const char **names = catalog_names(&ws->cat, &n);
		const char *sug = diag_suggest(name, names, n);
		if (sug)
			rc = cli_error(ctx, "unknown curated environment '%s' (did you mean '%s'?)", name, sug);
		else
			rc = cli_error(ctx, "unknown curated environment '%s'; 'amlspec envs list' shows the catalog", name);
		free(names);
	} else if (env_resolve_ref(&r, ref, &ws->cat, &diags)) {
		rc = cli_error(ctx, "%s", diags.items[0].message);
	} else {
		if (ctx->output == OUT_JSON) {
			json_object *o = cli_envelope(ctx);
			json_object_object_add(o, "environment", resolved_env_to_json(&r));
			cli_print_json(o);
		} else {
			print_resolved_text(ctx, &r, e);
		}
		resolved_env_free(&r);
	}
	free(name);
	diag_list_free(&diags);
	return rc;
}

int cmd_envs(int argc, char **argv, cli *ctx)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "list") && strcmp(sub, "show")) {
		static const char *const subs[] = { "list", "show" };
		const char *sug = diag_suggest(sub, subs, 2);
		if (sug)
			cli_error(ctx, "unknown subcommand '%s' (did you mean '%s'?)", sub, sug);
		else
			cli_error(ctx, "unknown subcommand '%s'", sub);
		return cli_usage(ctx, usage);
	}
	if (!strcmp(sub, "list") && argc != 2)
		return cli_usage(ctx, usage);
	if (!strcmp(sub, "show") && argc != 3)
		return cli_usage(ctx, usage);

	diag_list diags = DIAG_LIST_INIT;
	workspace *ws = NULL;
	int rc = open_ws(&ws, ctx, &diags);
	if (!rc) {
		workspace_catalog(ws, &diags);
		if (diags.errors)
			rc = AML_EINVALID;
	}
	if (rc) {
		cli_print_diags(ctx, &diags, stderr);
		workspace_free(ws);
		diag_list_free(&diags);
		return EXIT_FAIL;
	}
	cli_print_diags(ctx, &diags, stderr);
	rc = !strcmp(sub, "list") ? envs_list(ctx, ws) : envs_show(ctx, ws, argv[2]);
	workspace_free(ws);
	diag_list_free(&diags);
	return rc;
}
