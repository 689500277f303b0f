#include "cmd/runcmd.h"

#include <stdlib.h>

int runcmd_open_workspace(runcmd *r, const cli *ctx)
{
	char *root = NULL;
	int rc = workspace_find_root(&root, ".", ctx->workspace_dir, &r->diags);
	if (!rc)
		rc = workspace_open(&r->ws, root, &r->diags);
	free(root);
	if (rc) {
		cli_print_diags(ctx, &r->diags, stderr);
		return rc;
	}
	r->state_dir = workspace_state_dir(r->ws);
	return AML_OK;
}

int runcmd_open(runcmd *r, const char *id, const cli *ctx)
{
	int rc = runcmd_open_workspace(r, ctx);
	if (rc)
		return rc;
	char *full = NULL;
	rc = runs_find(&full, r->state_dir, id, &r->diags);
	if (!rc)
		rc = run_record_load(&r->rec, r->state_dir, full, &r->diags);
	free(full);
	if (!rc) {
		const char *t = run_record_str(r->rec, "target");
		r->ops = target_for(r->ws, t ? t : "local", &r->cfg);
		if (!r->ops)
			rc = diag_error(&r->diags, NULL, 0, 0, NULL, "run %s uses target '%s', which is no longer declared",
					r->rec->id, t);
	}
	if (rc) {
		cli_print_diags(ctx, &r->diags, stderr);
		return rc;
	}
	return AML_OK;
}

void runcmd_close(runcmd *r)
{
	run_record_free(r->rec);
	free(r->state_dir);
	workspace_free(r->ws);
	diag_list_free(&r->diags);
}
