/* housekeeping.c - jobs of queue HOUSEKEEPING.
 *
 *   housekeeping.purge   deletes queue_jobs rows in state 'done' finished more than conf
 *                        `queue_keep_days` (default 7) days ago, rate_windows and auth_failures
 *                        rows older than 10 minutes (or two failed-authentication windows, if
 *                        longer), and the uploads that never became a file
 *                        or version: their objects and rows once the token expired an hour ago
 *                        (common/uploads.c), and the Idempotency-Key records past their
 *                        24 hours (docs/idempotency.md); logs the counts. Dead jobs are kept: they wait for
 *                        an operator (`apf-admin queue retry`). Every worker pushes one per UTC
 *                        hour (dedup_key "purge:YYYY-MM-DD-HH"), so at most one runs per hour. */
#include "worker.h"

#include "apikey.h"
#include "cfg.h"
#include "log.h"
#include "uploads.h"

/* Batches keep each DELETE's locks short on a large table. */
#define PURGE_BATCH 5000

static const struct db_query Q_HK_PURGE_DONE = {
	"DELETE FROM queue_jobs WHERE state = 'done' AND finished_at < NOW(3) - INTERVAL ? DAY"
	" LIMIT ?"
};
/* The shared counters (InnoDB, docs/scale-out.md "Database"): small batches on the
 * window_start index, each its own autocommit statement, so the requests counting into the
 * current windows never wait long behind a purge. */
#define WINDOW_BATCH 1000
static const struct db_query Q_HK_PURGE_RATE = {
	"DELETE FROM rate_windows WHERE window_start < UNIX_TIMESTAMP() - 600 LIMIT ?"
};
static const struct db_query Q_HK_PURGE_AUTH = {
	"DELETE FROM auth_failures WHERE window_start < UNIX_TIMESTAMP() - GREATEST(600, 2 * ?)"
	" LIMIT ?"
};

/* Idempotency-Key records past their expires_at, done or abandoned in progress alike. */
static const struct db_query Q_HK_PURGE_IDEM = {
	"DELETE FROM idempotency_keys WHERE expires_at <= NOW(3) LIMIT ?"
};
/* Webhook events past conf webhook_keep_days (default 30) with no pending delivery; their
 * deliveries go with them (docs/webhooks.md). */
static const struct db_query Q_HK_PURGE_WEBHOOKS = {
	"DELETE FROM webhook_events WHERE created_at < NOW(3) - INTERVAL ? DAY AND NOT EXISTS"
	" (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id"
	" AND d.status = 'pending') LIMIT ?"
};

/* Runs a DELETE ... LIMIT batch (its last argument) until it deletes less than a batch; adds
 * the rows deleted to *total. */
static enum api_err purge_batches(struct db *db, const struct db_query *q, struct db_arg *args,
				  unsigned nargs, unsigned long long batch,
				  unsigned long long *total)
{
	unsigned long long n;
	args[nargs - 1] = DI(batch);
	do {
		enum api_err err = db_exec(db, q, args, nargs, NULL);
		if (err)
			return err;
		n = db_affected(db);
		*total += n;
	} while (n == batch);
	return E_OK;
}

enum api_err housekeeping_purge(struct job_ctx *ctx)
{
	long days = cfg_int("queue_keep_days", 7);
	if (days < 0)
		days = 7;
	unsigned long long jobs = 0, windows = 0;
	struct db_arg done_args[] = { DI(days), DNULL };
	enum api_err err = purge_batches(ctx->db, &Q_HK_PURGE_DONE, done_args, 2, PURGE_BATCH,
					 &jobs);
	if (err)
		return job_fail(ctx, err, "deleting finished queue jobs failed: %s", err_code(err));

	struct db_arg rate_args[] = { DNULL };
	err = purge_batches(ctx->db, &Q_HK_PURGE_RATE, rate_args, 1, WINDOW_BATCH, &windows);
	if (err)
		return job_fail(ctx, err, "deleting rate windows failed: %s", err_code(err));
	struct db_arg auth_args[] = { DI(cfg_int("auth_fail_window", AUTH_FAIL_WINDOW_DEFAULT)),
				      DNULL };
	err = purge_batches(ctx->db, &Q_HK_PURGE_AUTH, auth_args, 2, WINDOW_BATCH, &windows);
	if (err)
		return job_fail(ctx, err, "deleting failed-authentication windows failed: %s",
				err_code(err));

	unsigned long long idem = 0;
	struct db_arg idem_args[] = { DNULL };
	err = purge_batches(ctx->db, &Q_HK_PURGE_IDEM, idem_args, 1, WINDOW_BATCH, &idem);
	if (err)
		return job_fail(ctx, err, "deleting expired idempotency records failed: %s",
				err_code(err));
	unsigned long long events = 0;
	struct db_arg hook_args[] = { DI(cfg_int("webhook_keep_days", 30)), DNULL };
	err = purge_batches(ctx->db, &Q_HK_PURGE_WEBHOOKS, hook_args, 2, WINDOW_BATCH, &events);
	if (err)
		return job_fail(ctx, err, "deleting old webhook events failed: %s", err_code(err));

	unsigned long long objects = 0, uploads = 0;
	err = uploads_collect(ctx->db, UPLOADS_GRACE_SECONDS, &objects, &uploads);
	if (err)
		return job_fail(ctx, err, "collecting expired uploads failed: %s", err_code(err));

	log_info("housekeeping.purge: deleted %llu done queue jobs older than %ld days, "
		 "%llu rate windows older than 10 minutes, %llu expired idempotency records, "
		 "%llu objects of %llu expired uploads, %llu webhook events",
		 jobs, days, windows, idem, objects, uploads, events);
	return E_OK;
}
