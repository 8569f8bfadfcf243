/* worker.c - the claim-and-run step: claim one due job, find its row in jobs.def, run the
 * handler, acknowledge (done / failed with backoff / dead). Used by the daemon's event loop one
 * job per iteration and by tests/db through worker_run_due(). */
#include "worker.h"

#include "log.h"
#include "wstats.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Sets the row's own lease once its type is known; attempts fences out a stale claim. */
static const struct db_query Q_WORKER_LEASE = {
	"UPDATE queue_jobs SET lease_until = NOW(3) + INTERVAL ? SECOND, updated_at = NOW(3)"
	" WHERE id = ? AND state = 'running' AND attempts = ?"
};

const struct job_type worker_jobs[] = {
#define JOB(queue, type, handler, lease) { queue, type, handler, lease },
#include "jobs.def"
#undef JOB
};
const size_t worker_njobs = sizeof worker_jobs / sizeof worker_jobs[0];

const char *const *worker_queues(void)
{
	static const char *list[sizeof worker_jobs / sizeof worker_jobs[0] + 1];
	if (!list[0]) {
		size_t n = 0;
		for (size_t i = 0; i < worker_njobs; i++) {
			size_t k = 0;
			while (k < n && strcmp(list[k], worker_jobs[i].queue) != 0)
				k++;
			if (k == n)
				list[n++] = worker_jobs[i].queue;
		}
	}
	return list;
}

const struct job_type *worker_job_find(const char *queue, const char *type)
{
	for (size_t i = 0; i < worker_njobs; i++)
		if (strcmp(worker_jobs[i].type, type) == 0 && strcmp(worker_jobs[i].queue, queue) == 0)
			return &worker_jobs[i];
	return NULL;
}

enum api_err job_fail(struct job_ctx *ctx, enum api_err err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
	va_end(ap);
	return err;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static enum api_err job_run(struct job_ctx *ctx, const struct job_type *jt)
{
	const struct queue_item *it = ctx->item;
	if (!jt)
		return job_fail(ctx, E_NOT_IMPLEMENTED, "unknown job type %s/%s", it->queue, it->type);
	if (jt->lease_seconds != WORKER_CLAIM_LEASE) {
		enum api_err err = db_exec(ctx->db, &Q_WORKER_LEASE,
					   DB_ARGS(DI(jt->lease_seconds), DI(it->id), DI(it->attempts)),
					   NULL);
		if (err)
			return job_fail(ctx, err, "could not set the lease: %s", err_code(err));
	}
	enum api_err err = jt->run(ctx);
	if (db_in_txn(ctx->db)) {
		log_error("job %lld (%s) left a transaction open; rolled back", it->id, it->type);
		db_rollback(ctx->db);
		if (!err)
			err = job_fail(ctx, E_INTERNAL_ERROR, "handler left a transaction open");
	}
	return err;
}

enum api_err worker_run_one(struct db *db, const char *locked_by, const char *const *queues,
			    int *ran)
{
	struct queue_item it;
	int found = 0;
	*ran = 0;
	enum api_err err = queue_claim_from(db, locked_by, WORKER_CLAIM_LEASE,
					    queues ? queues : worker_queues(), &it, &found);
	if (err || !found)
		return err;
	*ran = 1;
	log_set_request(it.request_id); /* the job's lines carry the request that queued it */

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct job_ctx ctx = { .db = db, .item = &it };
	enum api_err jerr = job_run(&ctx, worker_job_find(it.queue, it.type));
	if (!jerr) {
		err = queue_done(db, &it);
		if (!err && db_affected(db) == 0)
			log_warn("job %lld (%s) was no longer ours when it finished (lease expired?)",
				 it.id, it.type);
		else if (!err)
			log_info("job %lld (%s) done in %.0f ms (attempt %u)", it.id, it.type,
				 ms_since(&t0), it.attempts);
		if (!err)
			wstats_job(WSTATS_JOB_DONE);
	} else {
		if (!ctx.error[0])
			snprintf(ctx.error, sizeof ctx.error, "%s", err_code(jerr));
		log_warn("job %lld (%s) attempt %u/%u failed: %s", it.id, it.type, it.attempts,
			 it.max_attempts, ctx.error);
		err = queue_fail(db, &it, ctx.error);
		if (!err)
			wstats_job(it.attempts >= it.max_attempts ? WSTATS_JOB_DEAD : WSTATS_JOB_RETRY);
	}
	if (err)
		log_error("job %lld (%s): acknowledgement failed (%s); redelivered after its lease",
			  it.id, it.type, err_code(err));
	queue_item_release(&it);
	log_set_request(NULL);
	return err;
}

int worker_run_due(struct db *db, const char *locked_by)
{
	return worker_run_due_from(db, locked_by, NULL);
}

int worker_run_due_from(struct db *db, const char *locked_by, const char *const *queues)
{
	int n = 0;
	for (;;) {
		int ran;
		if (worker_run_one(db, locked_by, queues, &ran) != E_OK)
			return -1;
		if (!ran)
			return n;
		n++;
	}
}

void worker_purge_key(time_t now, char *buf, size_t len)
{
	struct tm tm;
	gmtime_r(&now, &tm);
	if (strftime(buf, len, "purge:%Y-%m-%d-%H", &tm) == 0 && len)
		buf[0] = '\0';
}

enum api_err worker_push_purge(struct db *db, time_t now, long long *id_out)
{
	char key[64];
	worker_purge_key(now, key, sizeof key);
	json_t *payload = json_object();
	if (!payload)
		return E_INTERNAL_ERROR;
	enum api_err err = queue_push(db, QUEUE_HOUSEKEEPING, "housekeeping.purge", NULL, payload, key,
				      0, id_out);
	json_decref(payload);
	return err;
}
