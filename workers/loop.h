/* loop.h - the apf-worker daemon (event loop in loop.c, the only file that includes ev.h). */
#ifndef APF_LOOP_H
#define APF_LOOP_H

struct worker_opts {
	const char *conf; /* config path given with --conf; NULL: $APF_CONF, else var/apf.conf */
	const char *id;   /* worker id (--id / $APF_WORKER_ID); NULL or "": the pid */
};

/* Runs the daemon until SIGTERM/SIGINT; the configuration is already loaded. Returns the exit
 * status: 0 after a graceful stop, 1 when start-up failed. */
int worker_loop_run(const struct worker_opts *o);

#endif
