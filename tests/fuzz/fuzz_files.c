/* libFuzzer target: the JSON files amlspec reads back (state.json, a saved
 * plan, a run record), written to a scratch folder and loaded. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "plan/saved.h"
#include "util/fs.h"
#include "workspace/runs.h"
#include "workspace/state.h"

static char *dir;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir) {
		/* tmpfs when there is one: fsync there costs nothing */
		char shm[] = "/dev/shm/amlspec-fuzz.XXXXXX", tmp[] = "/tmp/amlspec-fuzz.XXXXXX";
		char *d = mkdtemp(shm);
		dir = xstrdup(d ? d : mkdtemp(tmp));
	}
	diag_list diags = DIAG_LIST_INIT;
	char *path = fs_join(dir, "state.json");
	fs_write_atomic(path, data, size, 0600);
	char *backup = fs_join(dir, "state.json.backup");
	unlink(backup);
	state *st = NULL;
	/* a state that loads is written back too: the next serial, the backup */
	if (state_load(&st, dir, &diags) == AML_OK)
		state_save(st, &diags);
	state_free(st);

	char *plan = fs_join(dir, "plan.json");
	fs_write_atomic(plan, data, size, 0600);
	json_object *saved = NULL;
	if (saved_plan_load(&saved, plan, &diags) == 1) {
		strlist files = STRLIST_INIT;
		saved_plan_files(saved, &files);
		strlist_free(&files);
	}
	json_object_put(saved);

	char *run = fs_join(dir, "run.json");
	fs_write_atomic(run, data, size, 0600);
	run_record *rec = NULL;
	if (run_record_load_dir(&rec, dir, &diags) == AML_OK) {
		run_record_status(rec);
		run_record_str(rec, "target");
		run_record_int(rec, "pgid", 0);
	}
	run_record_free(rec);
	free(path);
	free(backup);
	free(plan);
	free(run);
	diag_list_free(&diags);
	return 0;
}
