/* Plan renderers: text for terminals, JSON (docs/json-format.md) for tools,
 * Markdown for pull-request comments. All deterministic: entries in spec
 * file order, lists sorted where the order carries no meaning. */
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "util/buf.h"
#include "workspace/runs.h"

#define MAX_LISTED_FILES 20

static const char *action_symbol(plan_action a)
{
	return a == PLAN_CREATE ? "+" : a == PLAN_RERUN ? "~" : "=";
}

static const char *action_word(plan_action a)
{
	return a == PLAN_CREATE ? "create" : a == PLAN_RERUN ? "rerun" : "no-op";
}

/* 1234567 -> "1.2 MB" */
static void human_bytes(buf *b, unsigned long long n)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)n;
	size_t u = 0;
	while (v >= 1000 && u < 4)
		v /= 1000, u++;
	if (u == 0)
		buf_printf(b, "%llu B", n);
	else
		buf_printf(b, "%.1f %s", v, units[u]);
}

static const char *short_digest(const char *d, char out[24])
{
	if (!d)
		return "(none)";
	const char *hex = strchr(d, ':');
	hex = hex ? hex + 1 : d;
	snprintf(out, 24, "sha256:%.12s", hex);
	return out;
}

static const char *clip(const char *s, buf *tmp)
{
	buf_clear(tmp);
	if (!s)
		return "(absent)";
	if (strlen(s) <= 120)
		return s;
	buf_add(tmp, s, 117);
	buf_puts(tmp, "...");
	return tmp->ptr;
}

static void env_change_text(buf *b, json_object *c)
{
	json_object *k, *w, *o, *n;
	json_object_object_get_ex(c, "kind", &k);
	json_object_object_get_ex(c, "what", &w);
	json_object_object_get_ex(c, "old", &o);
	json_object_object_get_ex(c, "new", &n);
	const char *kind = json_object_get_string(k);
	if (!strcmp(kind, "added"))
		buf_printf(b, "%s: + %s", json_object_get_string(w), json_object_get_string(n));
	else if (!strcmp(kind, "removed"))
		buf_printf(b, "%s: - %s", json_object_get_string(w), json_object_get_string(o));
	else
		buf_printf(b, "%s: %s -> %s", json_object_get_string(w), json_object_get_string(o), json_object_get_string(n));
}

static void source_summary(buf *b, const snapshot_diff *d)
{
	buf_printf(b, "%zu added, %zu modified, %zu removed (", d->added, d->modified, d->removed);
	buf_puts(b, "+");
	human_bytes(b, d->bytes_added);
	buf_puts(b, ", -");
	human_bytes(b, d->bytes_removed);
	buf_puts(b, ")");
}

static void file_line(buf *b, const snapshot_change *c)
{
	buf_printf(b, "%c %s (", (char)c->kind, c->path);
	if (c->kind == SNAP_MODIFIED) {
		human_bytes(b, c->old_size);
		buf_puts(b, " -> ");
		human_bytes(b, c->new_size);
	} else {
		human_bytes(b, c->kind == SNAP_ADDED ? c->new_size : c->old_size);
	}
	buf_puts(b, ")");
}

void plan_render_text(const plan *p, const cli *ctx, FILE *out)
{
	buf b = BUF_INIT, tmp = BUF_INIT, line = BUF_INIT;
	char d1[24], d2[24];
	for (size_t i = 0; i < p->count; i++) {
		const plan_entry *e = &p->entries[i];
		if (e->action == PLAN_NOOP) {
			for (size_t k = 0; k < e->notes.count; k++)
				buf_printf(&b, "note: %s: %s\n\n", e->file->spec->address, e->notes.items[k]);
			continue;
		}
		const run_spec *s = e->file->spec;
		const char *col = e->action == PLAN_CREATE ? C_GREEN : C_YELLOW;
		buf_printf(&b, "%s%s %s%s %s%s  (%s)\n", cli_c(ctx, col), action_symbol(e->action), action_word(e->action),
			   cli_c(ctx, C_RESET), cli_c(ctx, C_BOLD), s->address, e->file->display);
		buf_puts(&b, cli_c(ctx, C_RESET));
		if (e->action == PLAN_CREATE) {
			buf_printf(&b, "    target: %s, framework: %s\n", s->target, framework_name(s->framework));
			buf_printf(&b, "    environment: %s (%s)\n", e->env.label, short_digest(e->env.digest, d1));
			buf_printf(&b, "    source: %s, %llu files, ", s->source_directory, (unsigned long long)e->snap.files);
			human_bytes(&b, e->snap.bytes);
			buf_printf(&b, " (snapshot %.12s)\n", e->snap.tree_id);
		}
		if (e->nfields) {
			buf_puts(&b, "    spec changed:\n");
			for (size_t k = 0; k < e->nfields; k++) {
				buf_printf(&b, "      %s: %s", e->fields[k].path, clip(e->fields[k].old_value, &tmp));
				buf_printf(&b, " -> %s\n", clip(e->fields[k].new_value, &tmp));
			}
		}
		if (e->env_changed && e->action == PLAN_RERUN) {
			const char *od = NULL;
			json_object *v;
			if (e->env_old && json_object_object_get_ex(e->env_old, "digest", &v))
				od = json_object_get_string(v);
			buf_printf(&b, "    environment resolves differently: %s -> %s (%s)\n", short_digest(od, d1),
				   short_digest(e->env.digest, d2), e->env.label);
			for (size_t k = 0; e->env_changes && k < json_object_array_length(e->env_changes); k++) {
				buf_clear(&line);
				env_change_text(&line, json_object_array_get_idx(e->env_changes, k));
				buf_printf(&b, "      %s\n", line.ptr);
			}
		}
		if (e->source_changed && e->action == PLAN_RERUN) {
			buf_puts(&b, "    source changed: ");
			source_summary(&b, &e->source_diff);
			buf_putc(&b, '\n');
			for (size_t k = 0; k < e->source_diff.count && k < MAX_LISTED_FILES; k++) {
				buf_clear(&line);
				file_line(&line, &e->source_diff.changes[k]);
				buf_printf(&b, "      %s\n", line.ptr);
			}
			if (e->source_diff.count > MAX_LISTED_FILES)
				buf_printf(&b, "      ... and %zu more\n", e->source_diff.count - MAX_LISTED_FILES);
		}
		if (e->last_run_id && e->action == PLAN_RERUN) {
			run_status ls = run_status_parse(e->last_run_status);
			if (ls == RS_FAILED || ls == RS_CANCELED || !strcmp(e->last_run_status, "Missing"))
				buf_printf(&b, "    last run %s: %s%s%s\n", e->last_run_id, e->last_run_status,
					   e->last_run_error ? ": " : "", e->last_run_error ? e->last_run_error : "");
		}
		for (size_t k = 0; k < e->notes.count; k++)
			buf_printf(&b, "    note: %s\n", e->notes.items[k]);
		for (size_t k = 0; k < e->reasons.count; k++)
			if (!strcmp(e->reasons.items[k], "--rerun"))
				buf_puts(&b, "    forced by --rerun\n");
		buf_putc(&b, '\n');
	}
	if (p->ncreate + p->nrerun == 0)
		buf_printf(&b, "No changes. %zu spec%s up to date.\n", p->nnoop, p->nnoop == 1 ? "" : "s");
	else
		buf_printf(&b, "Plan: %zu to create, %zu to rerun, %zu unchanged.\n", p->ncreate, p->nrerun, p->nnoop);
	fputs(b.ptr, out);
	buf_free(&b);
	buf_free(&tmp);
	buf_free(&line);
}

static json_object *parse_or_null(const char *text)
{
	return text ? json_tokener_parse(text) : NULL;
}

static json_object *entry_json(const plan_entry *e)
{
	const run_spec *s = e->file->spec;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "address", json_object_new_string(s->address));
	json_object_object_add(o, "file", json_object_new_string(e->file->display));
	json_object_object_add(o, "target", json_object_new_string(s->target));
	json_object *acts = json_object_new_array();
	/* Terraform's vocabulary: a rerun updates the spec's resource */
	json_object_array_add(acts, json_object_new_string(e->action == PLAN_CREATE ? "create"
							   : e->action == PLAN_RERUN ? "update" : "no-op"));
	json_object_object_add(o, "actions", acts);
	json_object_object_add(o, "amlspec_action", json_object_new_string(action_word(e->action)));
	json_object *reasons = json_object_new_array();
	for (size_t k = 0; k < e->reasons.count; k++)
		json_object_array_add(reasons, json_object_new_string(e->reasons.items[k]));
	json_object_object_add(o, "reasons", reasons);
	json_object *notes = json_object_new_array();
	for (size_t k = 0; k < e->notes.count; k++)
		json_object_array_add(notes, json_object_new_string(e->notes.items[k]));
	json_object_object_add(o, "notes", notes);
	json_object *fields = json_object_new_array();
	for (size_t k = 0; k < e->nfields; k++) {
		json_object *f = json_object_new_object();
		json_object_object_add(f, "path", json_object_new_string(e->fields[k].path));
		json_object_object_add(f, "old", parse_or_null(e->fields[k].old_value));
		json_object_object_add(f, "new", parse_or_null(e->fields[k].new_value));
		json_object_array_add(fields, f);
	}
	json_object_object_add(o, "fields", fields);
	json_object *env = json_object_new_object();
	json_object_object_add(env, "label", json_object_new_string(e->env.label));
	json_object_object_add(env, "digest", json_object_new_string(e->env.digest));
	json_object *od = NULL;
	if (e->env_old)
		json_object_object_get_ex(e->env_old, "digest", &od);
	json_object_object_add(env, "previous_digest", od ? json_object_get(od) : NULL);
	json_object_object_add(env, "changed", json_object_new_boolean(e->env_changed && e->action != PLAN_CREATE));
	json_object_object_add(env, "changes", e->env_changes ? json_object_get(e->env_changes) : json_object_new_array());
	json_object_object_add(o, "environment", env);
	json_object *src = json_object_new_object();
	json_object_object_add(src, "snapshot", json_object_new_string(e->snap.tree_id));
	json_object_object_add(src, "previous_snapshot", e->old_snapshot ? json_object_new_string(e->old_snapshot) : NULL);
	json_object_object_add(src, "files", json_object_new_int64((int64_t)e->snap.files));
	json_object_object_add(src, "bytes", json_object_new_int64((int64_t)e->snap.bytes));
	json_object_object_add(src, "changed", json_object_new_boolean(e->source_changed && e->action != PLAN_CREATE));
	json_object_object_add(src, "diff", e->source_changed && e->action != PLAN_CREATE
						    ? snapshot_diff_to_json(&e->source_diff) : NULL);
	json_object_object_add(o, "source", src);
	if (e->last_run_id) {
		json_object *lr = json_object_new_object();
		json_object_object_add(lr, "id", json_object_new_string(e->last_run_id));
		json_object_object_add(lr, "status", json_object_new_string(e->last_run_status));
		json_object_object_add(o, "last_run", lr);
	} else {
		json_object_object_add(o, "last_run", NULL);
	}
	return o;
}

json_object *plan_render_json(const plan *p, const cli *ctx)
{
	json_object *o = cli_envelope(ctx);
	json_object *st = json_object_new_object();
	json_object_object_add(st, "lineage", json_object_new_string(p->lineage));
	json_object_object_add(st, "serial", json_object_new_int64(p->serial));
	json_object_object_add(o, "state", st);
	json_object *rc = json_object_new_array();
	for (size_t i = 0; i < p->count; i++)
		json_object_array_add(rc, entry_json(&p->entries[i]));
	json_object_object_add(o, "resource_changes", rc);
	json_object *sum = json_object_new_object();
	json_object_object_add(sum, "create", json_object_new_int64((int64_t)p->ncreate));
	json_object_object_add(sum, "rerun", json_object_new_int64((int64_t)p->nrerun));
	json_object_object_add(sum, "unchanged", json_object_new_int64((int64_t)p->nnoop));
	json_object_object_add(o, "summary", sum);
	json_object_object_add(o, "changes", json_object_new_boolean(p->ncreate + p->nrerun > 0));
	return o;
}

static void md_escape(buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '|' || *s == '`' || *s == '<' || *s == '>' || *s == '*' || *s == '_')
			buf_putc(b, '\\');
		buf_putc(b, *s == '\n' ? ' ' : *s);
	}
}

void markdown_bounded(buf *out, const char *head, const char *details, size_t limit, const char *json_hint)
{
	static const char open[] = "\n<details><summary>Details</summary>\n\n```\n";
	static const char close[] = "```\n\n</details>\n";
	size_t hl = strlen(head);
	if (hl > limit - 512) {
		/* even the table is too long: cut it at a line boundary */
		size_t cut = limit - 512;
		while (cut > 0 && head[cut - 1] != '\n')
			cut--;
		buf_add(out, head, cut);
		buf_printf(out, "\n_The list is cut to stay under %zu characters; %s has everything._\n", limit, json_hint);
		return;
	}
	buf_puts(out, head);
	if (!details || !*details)
		return;
	size_t room = limit - hl - strlen(open) - strlen(close) - 256;
	size_t dl = strlen(details);
	buf_puts(out, open);
	if (dl <= room) {
		buf_puts(out, details);
	} else {
		size_t cut = room;
		while (cut > 0 && details[cut - 1] != '\n')
			cut--;
		buf_add(out, details, cut);
		buf_printf(out, "... (%zu more characters cut; %s has everything)\n", dl - cut, json_hint);
	}
	buf_puts(out, close);
}

void plan_render_markdown(const plan *p, FILE *out)
{
	buf head = BUF_INIT, b = BUF_INIT;
	buf_printf(&head, "### amlspec plan: %zu to create, %zu to rerun, %zu unchanged\n\n", p->ncreate, p->nrerun,
		   p->nnoop);
	char *details = NULL;
	size_t dlen = 0;
	if (p->ncreate + p->nrerun) {
		buf_puts(&head, "| | spec | file | why |\n|---|---|---|---|\n");
		for (size_t i = 0; i < p->count; i++) {
			const plan_entry *e = &p->entries[i];
			if (e->action == PLAN_NOOP)
				continue;
			buf_printf(&head, "| %s %s | `%s` | `%s` | ", action_symbol(e->action), action_word(e->action),
				   e->file->spec->address, e->file->display);
			for (size_t k = 0; k < e->reasons.count; k++) {
				if (k)
					buf_puts(&head, "; ");
				md_escape(&head, e->reasons.items[k]);
			}
			buf_puts(&head, " |\n");
		}
		cli quiet = { 0 };
		FILE *mem = open_memstream(&details, &dlen);
		if (mem) {
			plan_render_text(p, &quiet, mem);
			fclose(mem);
		}
	} else {
		buf_puts(&head, "No changes.\n");
	}
	markdown_bounded(&b, head.ptr, details, 65536, "`amlspec plan --output json`");
	fputs(b.ptr, out);
	free(details);
	buf_free(&head);
	buf_free(&b);
}
