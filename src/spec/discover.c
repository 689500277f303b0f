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

static void walk(strlist *out, const char *dir, unsigned depth)
{
	if (depth > 32)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	strlist names = STRLIST_INIT;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && strcmp(de->d_name, "node_modules"))
			strlist_add(&names, de->d_name);
	closedir(d);
	strlist_sort(&names);
	for (size_t i = 0; i < names.count; i++) {
		char *p = fs_join(dir, names.items[i]);
		struct stat st;
		if (lstat(p, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				walk(out, p, depth + 1);
			else if (S_ISREG(st.st_mode) && spec_is_spec_name(names.items[i]))
				strlist_add(out, p);
		}
		free(p);
	}
	strlist_free(&names);
}

int spec_discover(strlist *out, const char *path, diag_list *diags)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return diag_errno(diags, path, "cannot open");
	if (S_ISDIR(st.st_mode)) {
		size_t before = out->count;
		walk(out, path, 0);
		if (out->count == before)
			diag_warning(diags, path, 0, 0, NULL, "no run.yaml or *.run.yaml files found in this folder");
		return AML_OK;
	}
	strlist_add(out, path);
	return AML_OK;
}
