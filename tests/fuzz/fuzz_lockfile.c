/* libFuzzer target: amlspec.lock parsing and re-writing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "env/lockfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	diag_list diags = DIAG_LIST_INIT;
	lockfile l = { 0 };
	lockfile_parse(&l, (const char *)data, size, &diags);
	char *text = lockfile_text(&l);
	free(text);
	lockfile_free(&l);
	diag_list_free(&diags);
	return 0;
}
