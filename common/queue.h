/* queue.h - the MariaDB-backed work queue (table queue_jobs).
 *
 * Producers (the API, apf-admin) push rows inside their own transaction when they have one and
 * call queue_wake() after commit, so a worker picks the row up at once instead of at its next
 * poll. Workers claim one row at a time with SELECT ... FOR UPDATE SKIP LOCKED and a lease;
 * a row whose worker died is claimed again when its lease expires. A claim whose commit loses a
 * lock conflict (on Galera: two workers on two nodes took the same row, the later one fails
 * certification with 1213) is not a claim: the loser goes on to the next row (docs/scale-out.md
 * "Database"). A failed attempt is retried
 * with exponential backoff; after max_attempts it is dead-lettered (state 'dead') until
 * `apf-admin queue retry ID`. */
#ifndef APF_QUEUE_H
#define APF_QUEUE_H

#include "db.h"

#include <jansson.h>

#define QUEUE_FILE_PROCESSING "FILE_PROCESSING"
#define QUEUE_PRINT_EVENTS    "PRINT_EVENTS"
#define QUEUE_HOUSEKEEPING    "HOUSEKEEPING"
#define QUEUE_HUB_COMMANDS    "HUB_COMMANDS"
#define QUEUE_DISPATCH        "DISPATCH"

struct queue_item {
	long long id;
	char queue[33];
	char type[65];
	char account_id[37];
	json_t *payload;      /* owned; released by queue_item_release */
	unsigned attempts;    /* including the current one */
	unsigned max_attempts;
	char request_id[65];  /* the API request that queued it ("" when none) */
};

/* Adds a job, recording the request id of the log context (log_request(): the API request or
 * the job being handled, docs/observability.md). payload is borrowed. dedup_key (may be NULL) makes a second push with the same
 * (queue, dedup_key) a no-op. max_attempts 0 means the default (5). *id_out may be NULL. */
enum api_err queue_push(struct db *db, const char *queue, const char *type,
			const char *account_id, const json_t *payload, const char *dedup_key,
			unsigned max_attempts, long long *id_out);
/* Tells the worker daemons (datagram to conf `worker_socket`) that work is waiting. Never blocks;
 * a missing worker is not an error (it polls as a fallback). */
void queue_wake(void);

/* Claims the next runnable job (ready and due, or running with an expired lease). *found is 0
 * when there is none. lease_seconds bounds how long the worker may hold it. */
enum api_err queue_claim(struct db *db, const char *worker_id, int lease_seconds,
			 struct queue_item *out, int *found);
/* The same, restricted to the listed queues (NULL-terminated, borrowed; NULL: any queue). */
enum api_err queue_claim_from(struct db *db, const char *worker_id, int lease_seconds,
			      const char *const *queues, struct queue_item *out, int *found);
/* Marks a claimed job done. */
enum api_err queue_done(struct db *db, const struct queue_item *it);
/* Records a failed attempt: back to 'ready' after backoff, or 'dead' after max_attempts. */
enum api_err queue_fail(struct db *db, const struct queue_item *it, const char *error);
/* Re-queues a dead job (attempts reset). *found 0 when no dead job has that id. */
enum api_err queue_retry(struct db *db, long long id, int *found);
void queue_item_release(struct queue_item *it);

/* Seconds to wait before attempt n+1 after n failed attempts: 2^n * 5 s, at most 1 hour. */
long queue_backoff_seconds(unsigned failed_attempts);

#endif
