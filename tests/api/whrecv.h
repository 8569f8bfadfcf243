/* whrecv.h - the webhook tests' receiver: an HTTP/1.1 listener on 127.0.0.1 in a thread of the
 * test process, recording every POST (headers webhook-id / -timestamp / -signature and the
 * body) and answering with a set status after a set delay. The recorded requests are written
 * as JSON lines for tests/webhooks/verify.js (the npm standardwebhooks package checks every
 * signature). */
#ifndef APF_API_WHRECV_H
#define APF_API_WHRECV_H

struct whrecv;

struct whrecv *whrecv_start(void);
/* Stops listening (connections are refused) / listens again on the same port. */
void whrecv_down(struct whrecv *w);
int whrecv_up(struct whrecv *w);
void whrecv_free(struct whrecv *w);
unsigned whrecv_port(const struct whrecv *w);
/* Answers status after delay_ms from now on. */
void whrecv_behave(struct whrecv *w, int status, int delay_ms);
/* Requests received completely so far (with path == NULL: all; else those whose path
 * matched). started: requests whose head was read (answered or not). */
int whrecv_count(struct whrecv *w, const char *path);
int whrecv_started(struct whrecv *w);
/* Number of requests whose body's "type" is type and path is path; distinct webhook-ids. */
int whrecv_count_type(struct whrecv *w, const char *path, const char *type, int distinct);
/* Waits until whrecv_count(path) >= n or ms passed; returns the count. */
int whrecv_wait(struct whrecv *w, const char *path, int n, long ms);
/* Writes the requests received on path as JSON lines {secret, id, timestamp, signature,
 * body} to file. Returns the number written, -1 on error. */
int whrecv_dump(struct whrecv *w, const char *path, const char *secret, const char *file);
/* The body of the i-th request on path (NULL when none). */
const char *whrecv_body(struct whrecv *w, const char *path, int i);

/* A receiver that accepts every connection and never answers (the sender's timeout ends each):
 * how many connections are open now, the most at once, how many in all. */
struct whstall;
struct whstall *whstall_start(void);
void whstall_free(struct whstall *s);
unsigned whstall_port(const struct whstall *s);
void whstall_counts(struct whstall *s, int *open, int *max_open, int *total);

#endif
