/* apf-worker - the queue worker daemon: `apf-worker [--conf FILE] [--id NAME]`.
 *
 * Claims jobs from queue_jobs (common/queue.h) and runs the handlers of workers/jobs.def; the
 * event loop, wake socket, signals and database back-off live in loop.c. The id (default
 * $APF_WORKER_ID, else the pid) names this worker in queue_jobs.locked_by and in its secondary
 * wake socket; several workers may run against one database. */
#include "cfg.h"
#include "log.h"
#include "loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr, "usage: apf-worker [--conf FILE] [--id NAME]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct worker_opts o = { .conf = NULL, .id = getenv("APF_WORKER_ID") };
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--conf") == 0 && i + 1 < argc)
			o.conf = argv[++i];
		else if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
			o.id = argv[++i];
		else
			return usage();
	}
	log_set_name("apf-worker");
	if (cfg_load(o.conf) < 0)
		return 1;
	return worker_loop_run(&o);
}
