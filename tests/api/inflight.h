/* inflight.h - one API request run on a thread of its own with its own libcurl handle (its own
 * connection), so a test can stop or signal services while the request waits (a hub command
 * whose ACK the simulator delays). POST only: the hub actions are POSTs. */
#ifndef APF_API_INFLIGHT_H
#define APF_API_INFLIGHT_H

#include <pthread.h>
#include <stdint.h>

struct preq {
	char path[200];           /* below /v1 */
	const char *body;         /* JSON or NULL */
	const char *key;
	long status;              /* 0 = transport error */
	char code[48];            /* error envelope code, "" on success */
	char command_id[40];      /* data.command_id of a success */
	long ms;                  /* from the start of the transfer to its end */
	int64_t done_at;          /* util_now_ms() when the answer was complete */
	pthread_t th;
	int started;
};

/* Starts q (status, code and command_id cleared); a thread that cannot start is a recorded
 * failure. */
void preq_start(struct preq *q);
/* Waits for the answer of a started q. */
void preq_join(struct preq *q);

#endif
