/* amlspec fmt [--check] [--diff] [PATH...]: canonical layout for run specs and
 * amlspec.yaml, every comment kept (the rules are in src/spec/fmt.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/cli.h"
#include "spec/discover.h"
#include "spec/fmt.h"
#include "spec/ytree.h"
#include "util/fs.h"
#include "util/strlist.h"
#include "workspace/workspace.h"

static const char usage[] =
	"usage: amlspec fmt [--check] [--diff] [PATH...]\n"
	"\n"
	"Rewrites run specs and amlspec.yaml in their canonical layout: keys in the\n"
	"order of the format, 2-space indentation, quotes only where needed, no\n"
	"trailing blanks. Comments stay with what they annotate. PATH is a file, or a\n"
	"folder searched for run.yaml, *.run.yaml and amlspec.yaml (default: .).\n"
	"\n"
	"  --check   change nothing; list the files that would change (exit 3 if any)\n"
	"  --diff    change nothing; print what would change as a unified diff\n"
	"\n"
	"Exit 0 when done (or nothing to do), 3 when --check finds work, 1 on an error\n"
	"(a file that does not load is reported and left alone).\n";

static bool fmt_candidate(const char *name)
{
	return spec_is_spec_name(name) || !strcmp(name, "amlspec.yaml");
}

static void collect(strlist *files, int npaths, char **paths, diag_list *diags)
{
	static char *dot[] = { "." };
	if (npaths == 0)
		npaths = 1, paths = dot;
	strlist seen = STRLIST_INIT;
	for (int i = 0; i < npaths; i++) {
		struct stat st;
		if (stat(paths[i], &st) < 0) {
			diag_errno(diags, paths[i], "cannot open");
			continue;
		}
		strlist found = STRLIST_INIT;
		if (S_ISDIR(st.st_mode)) {
			spec_walk(&found, paths[i], fmt_candidate);
			if (!found.count)
				diag_warning(diags, paths[i], 0, 0, NULL,
					     "no run.yaml, *.run.yaml or amlspec.yaml files found in this folder");
		} else {
			strlist_add(&found, paths[i]);
		}
		for (size_t k = 0; k < found.count; k++) {
			char *real = fs_realpath(found.items[k]);
			const char *id = real ? real : found.items[k];
			if (!strlist_contains(&seen, id)) {
				strlist_add(&seen, id);
				strlist_add(files, found.items[k]);
			}
			free(real);
		}
		strlist_free(&found);
	}
	strlist_free(&seen);
}

/* Rewrites the file behind path (through a symlink), atomically, keeping its mode. */
static int write_back(const char *path, const char *display, const buf *text, diag_list *diags)
{
	char *real = fs_realpath(path);
	struct stat st;
	int rc = AML_OK;
	if (!real || stat(real, &st) < 0 || fs_write_atomic(real, text->ptr, text->len, st.st_mode & 07777) < 0)
		rc = diag_errno(diags, display, "cannot write");
	free(real);
	return rc;
}

int cmd_fmt(int argc, char **argv, cli *ctx)
{
	bool check = false, diff = false;
	int first = 1;
	for (; first < argc; first++) {
		const char *a = argv[first];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--check")) {
			check = true;
		} else if (!strcmp(a, "--diff")) {
			diff = true;
		} else if (!strcmp(a, "--")) {
			first++;
			break;
		} else if (a[0] == '-' && a[1]) {
			cli_error(ctx, "unknown option '%s'", a);
			return cli_usage(ctx, usage);
		} else {
			break;
		}
	}
	for (int i = first; i < argc; i++)
		if (!strcmp(argv[i], "--check") || !strcmp(argv[i], "--diff")) {
			cli_error(ctx, "options come before the paths: '%s'", argv[i]);
			return cli_usage(ctx, usage);
		}

	diag_list diags = DIAG_LIST_INIT;
	strlist files = STRLIST_INIT;
	collect(&files, argc - first, argv + first, &diags);
	size_t changed = 0, failed = 0;
	json_object *jfiles = json_object_new_array();
	buf text = BUF_INIT, out = BUF_INIT, patch = BUF_INIT;
	const ydoc_limits lim = YDOC_LIMITS_DEFAULT;

	for (size_t i = 0; i < files.count; i++) {
		const char *path = files.items[i];
		char *abs = fs_absolute(path);
		char *display = path_for_display(abs);
		free(abs);
		buf_clear(&text);
		buf_clear(&out);
		buf_clear(&patch);
		bool ok = false, differs = false;
		if (buf_read_file(&text, path, lim.max_bytes) < 0) {
			if (errno == EFBIG)
				diag_error(&diags, display, 0, 0, NULL, "file is larger than %zu bytes; refusing to read it",
					   lim.max_bytes);
			else
				diag_errno(&diags, display, "cannot read");
		} else if (fmt_format(&out, display, text.ptr, text.len, fmt_schema_for_path(path), &diags) == AML_OK) {
			ok = true;
			differs = out.len != text.len || memcmp(out.ptr, text.ptr, text.len);
		}
		if (differs && diff) {
			char *a = xasprintf("a/%s", display), *b = xasprintf("b/%s", display);
			fmt_unified_diff(&patch, a, b, text.ptr, text.len, out.ptr, out.len);
			free(a);
			free(b);
		}
		if (differs && !check && !diff && write_back(path, display, &out, &diags) != AML_OK)
			ok = false;
		failed += !ok;
		changed += differs;
		json_object *f = json_object_new_object();
		json_object_object_add(f, "file", json_object_new_string(display));
		json_object_object_add(f, "changed", json_object_new_boolean(differs));
		if (!ok)
			json_object_object_add(f, "error", json_object_new_boolean(true));
		if (diff && differs)
			json_object_object_add(f, "diff", json_object_new_string_len(patch.ptr, (int)patch.len));
		json_object_array_add(jfiles, f);
		if (ctx->output != OUT_JSON && differs) {
			if (diff)
				fputs(patch.ptr, stdout);
			else
				printf("%s\n", display);
		}
		free(display);
	}
	diag_list_sort(&diags);
	cli_print_diags(ctx, &diags, stderr);
	if (ctx->output == OUT_JSON) {
		json_object *o = cli_envelope(ctx);
		json_object_object_add(o, "files", jfiles);
		cli_print_json(o);
	} else {
		json_object_put(jfiles);
	}
	int rc = diags.errors || failed ? EXIT_FAIL : check && changed ? EXIT_FMT : EXIT_OK;
	buf_free(&text);
	buf_free(&out);
	buf_free(&patch);
	strlist_free(&files);
	diag_list_free(&diags);
	return rc;
}
