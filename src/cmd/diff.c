/* amlspec diff [REV_A [REV_B]] [PATH...]: what changed in the specs between
 * two git revisions (default HEAD against the work tree), by meaning:
 * specs added, removed, renamed; fields old -> new; environments compared
 * after resolution; source folders summarised. Read with libgit2. */
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "env/lockfile.h"
#include "env/resolve.h"
#include "plan/plan.h"
#include "provenance/revision.h"
#include "spec/run_spec.h"
#include "util/buf.h"
#include "util/fs.h"
#include "workspace/workspace.h"

static const char usage[] =
	"usage: amlspec diff [REV_A [REV_B]] [-- PATH...]\n"
	"\n"
	"Compares the run specs at two git revisions (default: HEAD against the\n"
	"work tree): specs added, removed and renamed, fields old -> new,\n"
	"environments after resolution, source folders. Exit 0: no differences;\n"
	"2: differences; 1: error. --output json|markdown.\n";

typedef struct side {
	rev_view *v;
	lockfile lock;
	strlist files;      /* repo-relative spec paths */
	run_spec **specs;   /* parallel to files; NULL when the file does not parse */
} side;

typedef enum { D_ADDED, D_REMOVED, D_CHANGED, D_RENAMED } dkind;

typedef struct dentry {
	dkind kind;
	const run_spec *a, *b;
	const char *file_a, *file_b;
	field_change *fields;
	size_t nfields;
	resolved_env env_a, env_b;
	bool env_changed;
	json_object *env_changes;
	bool src_changed;
	rev_dir_diff src;
	char *src_dir;
} dentry;

static void side_free(side *s)
{
	for (size_t i = 0; i < s->files.count; i++)
		run_spec_free(s->specs[i]);
	free(s->specs);
	strlist_free(&s->files);
	lockfile_free(&s->lock);
	rev_close(s->v);
}

static int side_load(side *s, const char *rev, const strlist *prefixes, const char *lock_rel, diag_list *diags)
{
	int rc = rev_open(&s->v, ".", rev, diags);
	if (rc)
		return rc;
	buf text = BUF_INIT;
	if (rev_read(s->v, lock_rel, &text, diags) == AML_OK)
		lockfile_parse(&s->lock, text.ptr, text.len, diags);
	buf_free(&text);
	rc = rev_list_specs(s->v, prefixes, &s->files, diags);
	if (rc)
		return rc;
	s->specs = xcalloc(s->files.count + 1, sizeof(*s->specs));
	for (size_t i = 0; i < s->files.count; i++) {
		buf t = BUF_INIT;
		if (rev_read(s->v, s->files.items[i], &t, diags) == AML_OK) {
			char *shown = xasprintf("%s:%s", rev ? rev : "", s->files.items[i]);
			char *full = fs_join(rev_workdir(s->v), s->files.items[i]);
			diag_list quiet = DIAG_LIST_INIT;
			if (run_spec_parse_text(&s->specs[i], rev ? shown : s->files.items[i], full, t.ptr, t.len, &quiet))
				diag_warning(diags, rev ? shown : s->files.items[i], 0, 0, NULL,
					     "not compared: the spec has errors at %s (amlspec validate shows them)",
					     rev_label(s->v));
			diag_list_free(&quiet);
			free(full);
			free(shown);
		}
		buf_free(&t);
	}
	return AML_OK;
}

/* repo-relative folder of a spec's source_directory */
static char *source_rel(const char *spec_path, const run_spec *s)
{
	char *dir = fs_dirname(spec_path);
	char *joined = !strcmp(dir, ".") ? xstrdup(s->source_directory) : fs_join(dir, s->source_directory);
	/* fold a/./b and a/../b lexically, relative to the repository root */
	char *rooted = xasprintf("/%s", joined);
	char *norm = fs_absolute(rooted);
	char *rel = xstrdup(norm[1] ? norm + 1 : "");
	free(norm);
	free(rooted);
	free(joined);
	free(dir);
	return rel;
}

static void dentry_free(dentry *d)
{
	for (size_t i = 0; i < d->nfields; i++) {
		free(d->fields[i].path);
		free(d->fields[i].old_value);
		free(d->fields[i].new_value);
	}
	free(d->fields);
	resolved_env_free(&d->env_a);
	resolved_env_free(&d->env_b);
	json_object_put(d->env_changes);
	rev_dir_diff_free(&d->src);
	free(d->src_dir);
}

static void compare(dentry *d, side *sa, side *sb, const catalog *cat, diag_list *diags)
{
	json_object *ja = run_spec_to_json(d->a), *jb = run_spec_to_json(d->b);
	plan_diff_fields(&d->fields, &d->nfields, "", ja, jb);
	json_object_put(ja);
	json_object_put(jb);
	diag_list quiet = DIAG_LIST_INIT;
	int ra = plan_resolve_locked(&d->env_a, NULL, NULL, d->a, cat, &sa->lock, &quiet);
	int rb = plan_resolve_locked(&d->env_b, NULL, NULL, d->b, cat, &sb->lock, &quiet);
	if (!ra && !rb && strcmp(d->env_a.digest, d->env_b.digest)) {
		d->env_changed = true;
		d->env_changes = plan_env_diff(&d->env_a.def, &d->env_b.def);
	} else if (!ra && !rb && strcmp(d->env_a.label, d->env_b.label)) {
		d->env_changed = true; /* same content under another name or version */
		d->env_changes = json_object_new_array();
	}
	diag_list_free(&quiet);
	char *da = source_rel(d->file_a, d->a), *db = source_rel(d->file_b, d->b);
	if (!strcmp(da, db)) {
		rev_diff_dir(&d->src, sa->v, sb->v, da, diags);
		d->src_changed = d->src.added + d->src.modified + d->src.removed > 0;
		d->src_dir = da;
		da = NULL;
	}
	free(da);
	free(db);
}

static const char *kind_word(dkind k)
{
	return k == D_ADDED ? "added" : k == D_REMOVED ? "removed" : k == D_RENAMED ? "renamed" : "changed";
}

static void render_text(buf *b, dentry *d, size_t n, side *sa, side *sb)
{
	buf_printf(b, "amlspec diff %s -> %s\n\n", rev_label(sa->v), rev_label(sb->v));
	for (size_t i = 0; i < n; i++) {
		dentry *e = &d[i];
		const run_spec *s = e->b ? e->b : e->a;
		switch (e->kind) {
		case D_ADDED:
			buf_printf(b, "+ %s  (%s)\n", s->address, e->file_b);
			break;
		case D_REMOVED:
			buf_printf(b, "- %s  (%s)\n", s->address, e->file_a);
			break;
		case D_RENAMED:
			buf_printf(b, "> %s  (%s -> %s)\n", s->address, e->file_a, e->file_b);
			break;
		case D_CHANGED:
			buf_printf(b, "~ %s  (%s)\n", s->address, e->file_b);
			break;
		}
		for (size_t k = 0; k < e->nfields; k++)
			buf_printf(b, "    %s: %s -> %s\n", e->fields[k].path,
				   e->fields[k].old_value ? e->fields[k].old_value : "(absent)",
				   e->fields[k].new_value ? e->fields[k].new_value : "(absent)");
		if (e->env_changed) {
			buf_printf(b, "    environment: %s -> %s\n", e->env_a.label, e->env_b.label);
			for (size_t k = 0; e->env_changes && k < json_object_array_length(e->env_changes); k++) {
				json_object *c = json_object_array_get_idx(e->env_changes, k);
				const char *kind = json_object_get_string(json_object_object_get(c, "kind"));
				const char *what = json_object_get_string(json_object_object_get(c, "what"));
				const char *o = json_object_get_string(json_object_object_get(c, "old"));
				const char *nn = json_object_get_string(json_object_object_get(c, "new"));
				if (!strcmp(kind, "added"))
					buf_printf(b, "      %s: + %s\n", what, nn);
				else if (!strcmp(kind, "removed"))
					buf_printf(b, "      %s: - %s\n", what, o);
				else
					buf_printf(b, "      %s: %s -> %s\n", what, o, nn);
			}
		}
		if (e->src_changed) {
			buf_printf(b, "    source %s: %zu added, %zu modified, %zu removed (%llu -> %llu bytes)\n",
				   *e->src_dir ? e->src_dir : ".", e->src.added, e->src.modified, e->src.removed,
				   (unsigned long long)e->src.bytes_before, (unsigned long long)e->src.bytes_after);
			for (size_t k = 0; k < e->src.lines.count && k < 20; k++)
				buf_printf(b, "      %s\n", e->src.lines.items[k]);
			if (e->src.lines.count > 20)
				buf_printf(b, "      ... and %zu more\n", e->src.added + e->src.modified + e->src.removed - 20);
		}
	}
}

static json_object *entry_json(dentry *e)
{
	const run_spec *s = e->b ? e->b : e->a;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "address", json_object_new_string(s->address));
	json_object_object_add(o, "change", json_object_new_string(kind_word(e->kind)));
	json_object_object_add(o, "file_before", e->file_a ? json_object_new_string(e->file_a) : NULL);
	json_object_object_add(o, "file_after", e->file_b ? json_object_new_string(e->file_b) : NULL);
	json_object *fields = json_object_new_array();
	for (size_t k = 0; k < e->nfields; k++) {
		json_object *f = json_object_new_object();
		json_object_object_add(f, "path", json_object_new_string(e->fields[k].path));
		json_object_object_add(f, "old", e->fields[k].old_value ? json_tokener_parse(e->fields[k].old_value) : NULL);
		json_object_object_add(f, "new", e->fields[k].new_value ? json_tokener_parse(e->fields[k].new_value) : NULL);
		json_object_array_add(fields, f);
	}
	json_object_object_add(o, "fields", fields);
	if (e->env_changed) {
		json_object *env = json_object_new_object();
		json_object_object_add(env, "before", json_object_new_string(e->env_a.label));
		json_object_object_add(env, "after", json_object_new_string(e->env_b.label));
		json_object_object_add(env, "digest_before", json_object_new_string(e->env_a.digest));
		json_object_object_add(env, "digest_after", json_object_new_string(e->env_b.digest));
		json_object_object_add(env, "changes", json_object_get(e->env_changes));
		json_object_object_add(o, "environment", env);
	} else {
		json_object_object_add(o, "environment", NULL);
	}
	if (e->src_changed) {
		json_object *src = json_object_new_object();
		json_object_object_add(src, "folder", json_object_new_string(e->src_dir));
		json_object_object_add(src, "added", json_object_new_int64((int64_t)e->src.added));
		json_object_object_add(src, "modified", json_object_new_int64((int64_t)e->src.modified));
		json_object_object_add(src, "removed", json_object_new_int64((int64_t)e->src.removed));
		json_object_object_add(src, "bytes_before", json_object_new_int64((int64_t)e->src.bytes_before));
		json_object_object_add(src, "bytes_after", json_object_new_int64((int64_t)e->src.bytes_after));
		json_object *files = json_object_new_array();
		for (size_t k = 0; k < e->src.lines.count; k++)
			json_object_array_add(files, json_object_new_string(e->src.lines.items[k]));
		json_object_object_add(src, "files", files);
		json_object_object_add(o, "source", src);
	} else {
		json_object_object_add(o, "source", NULL);
	}
	return o;
}

int cmd_diff(int argc, char **argv, cli *ctx)
{
	const char *revs[2] = { NULL, NULL };
	int nrevs = 0;
	strlist prefixes = STRLIST_INIT;
	bool after_dashes = false;
	for (int i = 1; i < argc; i++) {
		if (!after_dashes && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
			fputs(usage, stdout);
			strlist_free(&prefixes);
			return EXIT_OK;
		} else if (!after_dashes && !strcmp(argv[i], "--")) {
			after_dashes = true;
		} else if (!after_dashes && argv[i][0] == '-') {
			cli_error(ctx, "unknown option '%s'", argv[i]);
			strlist_free(&prefixes);
			return cli_usage(ctx, usage);
		} else if (!after_dashes && nrevs < 2 && !fs_exists(argv[i])) {
			revs[nrevs++] = argv[i];
		} else {
			strlist_add(&prefixes, argv[i]);
		}
	}
	diag_list diags = DIAG_LIST_INIT;
	side sa = { 0 }, sb = { 0 };
	workspace *ws = NULL;
	dentry *d = NULL;
	size_t n = 0;
	int exit_code = EXIT_FAIL;
	char *root = NULL;
	strlist rel_prefixes = STRLIST_INIT;
	const char *rev_a = nrevs ? revs[0] : "HEAD";
	const char *rev_b = nrevs == 2 ? revs[1] : NULL;

	if (workspace_find_root(&root, ".", ctx->workspace_dir, &diags) || workspace_open(&ws, root, &diags))
		goto done;
	if (side_load(&sa, rev_a, NULL, "amlspec.lock", &diags))
		goto done;
	/* paths are given relative to the cwd; specs are listed repo-relative */
	for (size_t i = 0; i < prefixes.count; i++) {
		char *abs = fs_absolute(prefixes.items[i]);
		strlist_add_owned(&rel_prefixes, fs_relative(rev_workdir(sa.v), abs));
		free(abs);
	}
	char *lock_rel = fs_relative(rev_workdir(sa.v), ws->root);
	char *lock_path = strcmp(lock_rel, ".") ? fs_join(lock_rel, "amlspec.lock") : xstrdup("amlspec.lock");
	free(lock_rel);
	side_free(&sa);
	memset(&sa, 0, sizeof(sa));
	int rc = side_load(&sa, rev_a, &rel_prefixes, lock_path, &diags);
	if (!rc)
		rc = side_load(&sb, rev_b, &rel_prefixes, lock_path, &diags);
	free(lock_path);
	if (rc)
		goto done;
	const catalog *cat = workspace_catalog(ws, &diags);

	d = xcalloc(sa.files.count + sb.files.count + 1, sizeof(*d));
	bool *used_b = xcalloc(sb.files.count + 1, sizeof(bool));
	for (size_t i = 0; i < sa.files.count; i++) {
		run_spec *a = sa.specs[i];
		if (!a)
			continue;
		size_t j;
		for (j = 0; j < sb.files.count; j++)
			if (sb.specs[j] && !used_b[j] && !strcmp(sb.specs[j]->address, a->address))
				break;
		dentry *e = &d[n];
		memset(e, 0, sizeof(*e));
		e->a = a;
		e->file_a = sa.files.items[i];
		if (j == sb.files.count) {
			e->kind = D_REMOVED;
			n++;
			continue;
		}
		used_b[j] = true;
		e->b = sb.specs[j];
		e->file_b = sb.files.items[j];
		e->kind = strcmp(e->file_a, e->file_b) ? D_RENAMED : D_CHANGED;
		compare(e, &sa, &sb, cat, &diags);
		if (e->kind == D_RENAMED || e->nfields || e->env_changed || e->src_changed)
			n++;
		else
			dentry_free(e);
	}
	for (size_t j = 0; j < sb.files.count; j++) {
		if (!sb.specs[j] || used_b[j])
			continue;
		dentry *e = &d[n++];
		memset(e, 0, sizeof(*e));
		e->kind = D_ADDED;
		e->b = sb.specs[j];
		e->file_b = sb.files.items[j];
	}
	free(used_b);

	size_t counts[4] = { 0 };
	for (size_t i = 0; i < n; i++)
		counts[d[i].kind]++;
	cli_print_diags(ctx, &diags, stderr);
	if (ctx->output == OUT_JSON) {
		json_object *o = cli_envelope(ctx);
		json_object_object_add(o, "from", json_object_new_string(rev_label(sa.v)));
		json_object_object_add(o, "to", json_object_new_string(rev_label(sb.v)));
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, entry_json(&d[i]));
		json_object_object_add(o, "specs", arr);
		json_object *sum = json_object_new_object();
		json_object_object_add(sum, "added", json_object_new_int64((int64_t)counts[D_ADDED]));
		json_object_object_add(sum, "removed", json_object_new_int64((int64_t)counts[D_REMOVED]));
		json_object_object_add(sum, "changed", json_object_new_int64((int64_t)counts[D_CHANGED]));
		json_object_object_add(sum, "renamed", json_object_new_int64((int64_t)counts[D_RENAMED]));
		json_object_object_add(o, "summary", sum);
		cli_print_json(o);
	} else {
		buf body = BUF_INIT;
		render_text(&body, d, n, &sa, &sb);
		buf sum = BUF_INIT;
		if (n)
			buf_printf(&sum, "%zu spec%s: %zu added, %zu removed, %zu changed, %zu renamed.\n", n,
				   n == 1 ? " differs" : "s differ", counts[D_ADDED], counts[D_REMOVED], counts[D_CHANGED], counts[D_RENAMED]);
		else
			buf_puts(&sum, "No differences.\n");
		if (ctx->output == OUT_MARKDOWN) {
			buf head = BUF_INIT, out = BUF_INIT;
			buf_printf(&head, "### amlspec diff %s → %s: %s\n", rev_label(sa.v), rev_label(sb.v), sum.ptr);
			if (n) {
				buf_puts(&head, "| | spec | file |\n|---|---|---|\n");
				for (size_t i = 0; i < n; i++) {
					const run_spec *s = d[i].b ? d[i].b : d[i].a;
					buf_printf(&head, "| %s | `%s` | `%s` |\n", kind_word(d[i].kind), s->address,
						   d[i].file_b ? d[i].file_b : d[i].file_a);
				}
			}
			markdown_bounded(&out, head.ptr, n ? body.ptr : NULL, 65536, "`amlspec diff --output json`");
			fputs(out.ptr, stdout);
			buf_free(&head);
			buf_free(&out);
		} else {
			fputs(body.ptr, stdout);
			if (n)
				fputc('\n', stdout);
			fputs(sum.ptr, stdout);
		}
		buf_free(&sum);
		buf_free(&body);
	}
	exit_code = n ? EXIT_CHANGES : EXIT_OK;
done:
	if (exit_code == EXIT_FAIL)
		cli_print_diags(ctx, &diags, stderr);
	for (size_t i = 0; i < n; i++)
		dentry_free(&d[i]);
	free(d);
	side_free(&sa);
	side_free(&sb);
	workspace_free(ws);
	free(root);
	strlist_free(&prefixes);
	strlist_free(&rel_prefixes);
	diag_list_free(&diags);
	return exit_code;
}
