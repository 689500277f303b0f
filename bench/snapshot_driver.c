/* Benchmark driver for the snapshot module (built by bench/snapshot.sh, not
 * by CMake): snapshot_driver STORE SOURCE [REPEAT] takes a snapshot, prints
 * the tree id, counts and wall time, and the process's peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "snapshot/snapshot.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s STORE SOURCE\n", argv[0]);
		return 2;
	}
	snapshot_opts opts = { .store = argv[1], .source_dir = argv[2], .display_dir = argv[2] };
	snapshot_info info;
	diag_list diags = DIAG_LIST_INIT;
	double t0 = now();
	int rc = snapshot_take(&info, &opts, &diags);
	double t1 = now();
	for (size_t i = 0; i < diags.count; i++) {
		buf b = BUF_INIT;
		diag_format(&b, &diags.items[i]);
		fprintf(stderr, "%s\n", b.ptr);
		buf_free(&b);
	}
	diag_list_free(&diags);
	if (rc < 0)
		return 1;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("tree %s files %llu bytes %llu seconds %.3f maxrss_kb %ld\n", info.tree_id,
	       (unsigned long long)info.files, (unsigned long long)info.bytes, t1 - t0, ru.ru_maxrss);
	return 0;
}
