/* libFuzzer target: the workspace file (amlspec.yaml) through the loader
 * and its schema, and the curated-catalog entry format. */
#include <stddef.h>
#include <stdint.h>

#include "env/catalog.h"
#include "spec/schema.h"
#include "spec/ytree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	diag_list diags = DIAG_LIST_INIT;
	ydoc *doc = NULL;
	if (ydoc_parse(&doc, "amlspec.yaml", (const char *)data, size, NULL, &diags) == AML_OK && doc->root)
		schema_check(&schema_workspace, doc->root, "amlspec.yaml", "", &diags);
	ydoc_free(doc);
	catalog cat = CATALOG_INIT;
	catalog_load_text(&cat, "fuzz.yaml", (const char *)data, size, false, &diags);
	catalog_free(&cat);
	diag_list_free(&diags);
	return 0;
}
