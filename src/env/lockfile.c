#include "env/lockfile.h"

#include <stdlib.h>
#include <string.h>

#include "spec/ytree.h"
#include "util/buf.h"
#include "util/fs.h"

void lockfile_free(lockfile *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->pins[i].name);
		free(l->pins[i].digest);
	}
	free(l->pins);
	free(l->path);
	memset(l, 0, sizeof(*l));
}

const lock_pin *lockfile_get(const lockfile *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->pins[i].name, name))
			return &l->pins[i];
	return NULL;
}

static int cmp_pin(const void *a, const void *b)
{
	return strcmp(((const lock_pin *)a)->name, ((const lock_pin *)b)->name);
}

void lockfile_set(lockfile *l, const char *name, long version, const char *digest)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->pins[i].name, name)) {
			if (l->pins[i].version == version && !strcmp(l->pins[i].digest, digest))
				return;
			l->pins[i].version = version;
			free(l->pins[i].digest);
			l->pins[i].digest = xstrdup(digest);
			l->dirty = true;
			return;
		}
	l->pins = xrealloc(l->pins, (l->count + 1) * sizeof(*l->pins));
	l->pins[l->count].name = xstrdup(name);
	l->pins[l->count].version = version;
	l->pins[l->count].digest = xstrdup(digest);
	l->count++;
	qsort(l->pins, l->count, sizeof(*l->pins), cmp_pin);
	l->dirty = true;
}

int lockfile_load(lockfile *out, const char *root, diag_list *diags)
{
	memset(out, 0, sizeof(*out));
	out->path = fs_join(root, "amlspec.lock");
	if (!fs_is_file(out->path))
		return AML_OK;
	out->exists = true;
	buf text = BUF_INIT;
	int rc = buf_read_file(&text, out->path, 1024 * 1024) < 0 ? diag_errno(diags, "amlspec.lock", "cannot read")
								    : lockfile_parse(out, text.ptr, text.len, diags);
	buf_free(&text);
	return rc;
}

int lockfile_parse(lockfile *out, const char *text, size_t len, diag_list *diags)
{
	ydoc *doc = NULL;
	int rc = ydoc_parse(&doc, "amlspec.lock", text, len, NULL, diags);
	if (rc)
		return rc;
	const ynode *envs = doc->root ? ynode_map_get(doc->root, "environments") : NULL;
	if (doc->root && (doc->root->kind != YN_MAP || (envs && envs->kind != YN_MAP))) {
		ydoc_free(doc);
		return diag_error(diags, "amlspec.lock", 1, 1, NULL,
				  "not an amlspec lock file; delete it and run 'amlspec lock'");
	}
	for (size_t i = 0; envs && i < envs->count; i++) {
		const ynode *k = ynode_map_key(envs, i), *v = ynode_map_value(envs, i);
		const ynode *ver = ynode_map_get(v, "version"), *dig = ynode_map_get(v, "digest");
		if (!ver || !dig || ver->kind != YN_SCALAR || dig->kind != YN_SCALAR || ver->stype != YS_INT) {
			rc = diag_error(diags, "amlspec.lock", k->line, k->col, k->value,
					"environments.%s: needs an integer version and a digest", k->value);
			continue;
		}
		lockfile_set(out, k->value, strtol(ver->value, NULL, 10), dig->value);
	}
	out->dirty = false;
	ydoc_free(doc);
	return rc;
}

char *lockfile_text(const lockfile *l)
{
	buf b = BUF_INIT;
	buf_puts(&b, "# amlspec.lock: the version and digest each unpinned curated environment resolves to.\n"
		     "# Written by amlspec (apply, lock); review changes like code. 'amlspec lock --upgrade' moves pins.\n"
		     "version: 1\n");
	if (!l->count) {
		buf_puts(&b, "environments: {}\n");
		return buf_detach(&b);
	}
	buf_puts(&b, "environments:\n");
	for (size_t i = 0; i < l->count; i++)
		buf_printf(&b, "  %s:\n    version: %ld\n    digest: %s\n", l->pins[i].name, l->pins[i].version,
			   l->pins[i].digest);
	return buf_detach(&b);
}

int lockfile_save(lockfile *l, diag_list *diags)
{
	if (!l->dirty)
		return AML_OK;
	char *text = lockfile_text(l);
	int rc = AML_OK;
	if (fs_write_atomic(l->path, text, strlen(text), 0644) < 0)
		rc = diag_errno(diags, l->path, "cannot write");
	else
		l->dirty = false, l->exists = true;
	free(text);
	return rc;
}
