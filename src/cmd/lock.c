/* amlspec lock [--upgrade] [PATH...]: write or move the pins in amlspec.lock
 * for every unpinned curated environment the specs use. */
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/specset.h"
#include "env/lockfile.h"
#include "util/fs.h"
#include "workspace/state.h"

static const char usage[] =
	"usage: amlspec lock [--upgrade] [PATH...]\n"
	"\n"
	"Pins each unpinned curated environment (NAME without @VERSION) that the\n"
	"specs use to the catalog's latest version, in amlspec.lock at the\n"
	"workspace root. Existing pins stay unless --upgrade moves them.\n";

int cmd_lock(int argc, char **argv, cli *ctx)
{
	bool upgrade = false;
	char **paths = NULL;
	int npaths = 0;
	const cli_opt options[] = { { "--upgrade", &upgrade, NULL }, { NULL, NULL, NULL } };
	int parsed = cli_parse(ctx, argc, argv, usage, options, &paths, &npaths);
	if (parsed >= 0)
		return parsed;
	specset set = SPECSET_INIT;
	diag_list diags = DIAG_LIST_INIT;
	workspace *ws = NULL;
	lockfile lf = { 0 };
	state_lock *wl = NULL;
	char *state_dir = NULL;
	int exit_code = EXIT_FAIL;
	json_object *changes = json_object_new_array();
	if (specset_load(&set, npaths, paths, ctx, &diags) || specset_workspace(&ws, &set, ctx, &diags))
		goto done;
	state_dir = workspace_state_dir(ws);
	if (fs_mkdirs(state_dir, 0700) < 0) {
		diag_errno(&diags, state_dir, "cannot create the state folder");
		goto done;
	}
	if (state_lock_acquire(&wl, state_dir, "lock", ctx->lock_timeout, &diags) ||
	    lockfile_load(&lf, ws->root, &diags))
		goto done;
	const catalog *cat = workspace_catalog(ws, &diags);
	for (size_t i = 0; i < set.nfiles; i++) {
		const run_spec *s = set.files[i].spec;
		if (!s || !s->environment.ref_name || s->environment.ref_version)
			continue;
		const catalog_entry *ce = catalog_find(cat, s->environment.ref_name);
		if (!ce)
			continue;
		const lock_pin *pin = lockfile_get(&lf, ce->name);
		const catalog_version *latest = catalog_entry_latest(ce);
		long old = pin ? pin->version : 0;
		if (pin && !upgrade)
			continue;
		char *d = envdef_digest(&latest->def);
		bool same = pin && pin->version == latest->version && !strcmp(pin->digest, d);
		if (!same) {
			lockfile_set(&lf, ce->name, latest->version, d);
			json_object *c = json_object_new_object();
			json_object_object_add(c, "name", json_object_new_string(ce->name));
			json_object_object_add(c, "from", old ? json_object_new_int64(old) : NULL);
			json_object_object_add(c, "to", json_object_new_int64(latest->version));
			json_object_object_add(c, "digest", json_object_new_string(d));
			json_object_array_add(changes, c);
			if (ctx->output == OUT_TEXT) {
				if (old)
					printf("%s: @%ld -> @%ld (%s)\n", ce->name, old, latest->version, d);
				else
					printf("%s: pinned @%ld (%s)\n", ce->name, latest->version, d);
			}
		}
		free(d);
	}
	if (!lf.exists)
		lf.dirty = true;
	if (lockfile_save(&lf, &diags))
		goto done;
	if (ctx->output == OUT_JSON) {
		json_object *o = cli_envelope(ctx);
		json_object_object_add(o, "file", json_object_new_string(lf.path));
		json_object_object_add(o, "changes", json_object_get(changes));
		cli_print_json(o);
	} else if (!json_object_array_length(changes)) {
		printf("amlspec.lock is up to date.\n");
	}
	exit_code = EXIT_OK;
done:
	diag_list_sort(&diags);
	cli_print_diags(ctx, &diags, stderr);
	json_object_put(changes);
	state_lock_release(wl);
	lockfile_free(&lf);
	free(state_dir);
	specset_free(&set);
	diag_list_free(&diags);
	free(paths);
	return exit_code;
}
