/* worker.h - running queue jobs: the job-type table (jobs.def) and the claim-and-run step.
 *
 * Shared by the daemon (loop.c, which owns the event loop) and by tests/db, which call
 * worker_run_due() directly. Nothing here blocks on anything but the database; no libev. */
#ifndef APF_WORKER_H
#define APF_WORKER_H

#include "db.h"
#include "queue.h"

#include <stddef.h>
#include <time.h>

/* What a handler gets. The connection is in autocommit mode; a handler that begins a
 * transaction ends it (one left open is rolled back and the attempt fails). */
struct job_ctx {
	struct db *db;                 /* borrowed */
	const struct queue_item *item; /* borrowed: the claimed job (payload owned by the item) */
	char error[512];               /* failure text for queue_jobs.last_error, set by job_fail */
};

/* E_OK: the job is done. Anything else: the attempt failed; ctx->error (or, when empty, the
 * code's name) is recorded and the job is retried with backoff, then dead-lettered. */
typedef enum api_err job_fn(struct job_ctx *ctx);

struct job_type {
	const char *queue;
	const char *type;
	job_fn *run;
	int lease_seconds;
};

#define JOB(queue, type, handler, lease) job_fn handler;
#include "jobs.def"
#undef JOB

/* The table expanded from jobs.def (for tests that iterate it). */
extern const struct job_type worker_jobs[];
extern const size_t worker_njobs;

/* Row for (queue, type), or NULL. Borrowed, static. */
const struct job_type *worker_job_find(const char *queue, const char *type);

/* Records the failure text of the current attempt and returns err (err != E_OK). */
enum api_err job_fail(struct job_ctx *ctx, enum api_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Lease taken by the claim itself, before the job's type is known; the row's own lease is set
 * right after when it differs. */
#define WORKER_CLAIM_LEASE 60

/* The distinct queues of jobs.def, NULL-terminated (static): the queues a worker claims from.
 * Jobs of other queues wait, ready, for a worker version that handles them. */
const char *const *worker_queues(void);

/* Claims at most one due job of queues (NULL: worker_queues()) and runs it: handler E_OK → queue_done, otherwise queue_fail with
 * the handler's text; a type without a row in jobs.def fails with "unknown job type". *ran is 1
 * when a job was claimed, whatever its outcome. Returns E_OK, or the database error that stopped
 * the claim or the acknowledgement (E_SERVICE_UNAVAILABLE when the server is gone); a job whose
 * acknowledgement was lost is re-delivered when its lease expires. locked_by: queue_jobs.locked_by. */
enum api_err worker_run_one(struct db *db, const char *locked_by, const char *const *queues,
			    int *ran);

/* Runs due jobs of worker_queues() until none is left. Returns how many were run, or -1 when a
 * database error stopped it. */
int worker_run_due(struct db *db, const char *locked_by);
/* The same for the given queues (tests use their own queues). */
int worker_run_due_from(struct db *db, const char *locked_by, const char *const *queues);

/* dedup_key of the housekeeping.purge job for the UTC hour of now: "purge:YYYY-MM-DD-HH". */
void worker_purge_key(time_t now, char *buf, size_t len);
/* Enqueues housekeeping.purge for the hour of now; a second push in the same hour (by any
 * worker) is a no-op returning the same id. *id_out may be NULL. */
enum api_err worker_push_purge(struct db *db, time_t now, long long *id_out);

#endif
