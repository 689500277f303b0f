/* amlspec __supervise RUN_DIR [NOTIFY_FD]: internal; started by apply for a
 * local run (see src/target/supervisor.c). Not for users. */
#include <stdlib.h>

#include "cmd/cli.h"
#include "target/target.h"

int cmd_supervise(int argc, char **argv, cli *ctx)
{
	(void)ctx;
	if (argc < 2)
		return EXIT_USAGE;
	int fd = argc > 2 ? atoi(argv[2]) : -1;
	return supervisor_main(argv[1], fd) ? EXIT_FAIL : EXIT_OK;
}
