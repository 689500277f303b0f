/* Writes schemas/run.schema.json and schemas/workspace.schema.json from the
 * tables in src/spec/formats.c, so that the schema editors use and the
 * validator amlspec runs are the same thing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "spec/schema.h"
#include "util/buf.h"

static int write_schema(const char *dir, const char *name, const schema *s)
{
	json_object *doc = schema_to_json(s);
	buf path = BUF_INIT;
	buf_printf(&path, "%s/%s", dir, name);
	const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
								      JSON_C_TO_STRING_NOSLASHESCAPE);
	FILE *f = fopen(path.ptr, "w");
	int rc = 0;
	if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0) {
		fprintf(stderr, "gen_schema: %s: %s\n", path.ptr, strerror(errno));
		rc = 1;
	}
	buf_free(&path);
	json_object_put(doc);
	return rc;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "schemas";
	mkdir(dir, 0755);
	return write_schema(dir, "run.schema.json", &schema_run_spec) |
	       write_schema(dir, "workspace.schema.json", &schema_workspace);
}
