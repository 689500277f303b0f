/* libFuzzer target: the run-spec loader (YAML events -> tree -> schema
 * checker -> decoder), on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "spec/run_spec.h"
#include "spec/schema.h"
#include "spec/ytree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	diag_list diags = DIAG_LIST_INIT;
	ydoc *doc = NULL;
	if (ydoc_parse(&doc, "fuzz.run.yaml", (const char *)data, size, NULL, &diags) == AML_OK && doc->root)
		schema_check(&schema_run_spec, doc->root, "fuzz.run.yaml", "", &diags);
	ydoc_free(doc);
	run_spec *s = NULL;
	if (run_spec_parse_text(&s, "fuzz.run.yaml", "/fuzz/dir/fuzz.run.yaml", (const char *)data, size, &diags) == AML_OK) {
		json_object *j = run_spec_to_json(s);
		json_object_put(j);
	}
	run_spec_free(s);
	diag_list_free(&diags);
	return 0;
}
