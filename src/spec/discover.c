#include "spec/discover.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fs.h"

bool spec_is_spec_name(const char *name)
{
	size_t l = strlen(name);
	return !strcmp(name, "run.yaml") || !strcmp(name, "run.yml") ||
	       (l > 9 && !strcmp(name + l - 9, ".run.yaml")) || (l > 8 && !strcmp(name + l - 8, ".run.yml"));
}

typedef struct entry {
	char *name;
	char kind; /* 'd' folder, 'f' regular file, '?' not known yet */
} entry;

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static void walk(strlist *out, const char *dir, bool (*want)(const char *name), unsigned depth)
{
	if (depth > 32)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	entry *v = NULL;
	size_t n = 0, alloc = 0;
	/* The entry's type from readdir spares a stat of every file of a
	 * source tree; it is looked up only on file systems that do not give
	 * it. Links are not followed, to files or to folders. */
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "node_modules"))
			continue;
		char kind = de->d_type == DT_DIR ? 'd' : de->d_type == DT_REG ? 'f' : de->d_type == DT_UNKNOWN ? '?' : 0;
		if (!kind || (kind == 'f' && !want(de->d_name)))
			continue;
		if (n == alloc) {
			alloc = alloc ? 2 * alloc : 16;
			v = xrealloc(v, alloc * sizeof(*v));
		}
		v[n++] = (entry){ xstrdup(de->d_name), kind };
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_entry);
	for (size_t i = 0; i < n; i++) {
		char *p = fs_join(dir, v[i].name);
		struct stat st;
		char kind = v[i].kind;
		if (kind == '?')
			kind = lstat(p, &st) < 0 ? 0 : S_ISDIR(st.st_mode) ? 'd' : S_ISREG(st.st_mode) ? 'f' : 0;
		if (kind == 'd')
			walk(out, p, want, depth + 1);
		else if (kind == 'f' && want(v[i].name))
			strlist_add(out, p);
		free(p);
		free(v[i].name);
	}
	free(v);
}

void spec_walk(strlist *out, const char *dir, bool (*want)(const char *name))
{
	walk(out, dir, want, 0);
}

int spec_discover(strlist *out, const char *path, diag_list *diags)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return diag_errno(diags, path, "cannot open");
	if (S_ISDIR(st.st_mode)) {
		size_t before = out->count;
		walk(out, path, spec_is_spec_name, 0);
		if (out->count == before)
			diag_warning(diags, path, 0, 0, NULL, "no run.yaml or *.run.yaml files found in this folder");
		return AML_OK;
	}
	strlist_add(out, path);
	return AML_OK;
}
