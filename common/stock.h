/* stock.h - finished-goods stock movement when a print job completes (inventory spec R2/R3).
 *
 * Exactly once per job: the caller first moves the job printing → completed with a conditional
 * UPDATE (WHERE status = 'printing') and calls stock_job_completed() only when that UPDATE changed
 * the row, inside the same transaction. A second completion (repeated request, concurrent request,
 * the hub's job.completed arriving after POST /jobs/{id}/complete) loses the conditional UPDATE
 * and never reaches this function, so stock cannot move twice. The PRINT_EVENTS job_completed push
 * carries the dedup key "job_completed:<job_id>" as a second guard for downstream work.
 *
 * Used by POST /jobs/{id}/complete (fcgi/jobs.c) and by the worker's job.completed handler. */
#ifndef APF_STOCK_H
#define APF_STOCK_H

#include "db.h"

#include <stddef.h>

/* R3, the finished-good status rule, as one SQL expression over the row's own columns (first
 * match wins): nothing ready and nothing awaiting assembly → out_of_stock; anything awaiting
 * assembly → needs_assembly; at or below a set threshold → low_stock; else in_stock. */
#define STOCK_STATUS_SQL \
	"(CASE WHEN ready_stock <= 0 AND quantity_needs_assembly <= 0 THEN 'out_of_stock'" \
	" WHEN quantity_needs_assembly > 0 THEN 'needs_assembly'" \
	" WHEN low_stock_threshold IS NOT NULL AND ready_stock <= low_stock_threshold" \
	" THEN 'low_stock' ELSE 'in_stock' END)"

#define STOCK_JOB_COMPLETED_TYPE "job_completed"

/* What stock_job_completed did. */
struct stock_move {
	int moved;                  /* 1 when a finished good changed (the job has an existing SKU) */
	char finished_good_id[37];  /* "" when nothing moved */
	long long ready_added;      /* units added to ready_stock */
	long long assembly_added;   /* units added to quantity_needs_assembly */
};

/* For job_id (of account_id) that has just become completed, inside the caller's transaction:
 * requires_assembly ? quantity_needs_assembly += number_of_units : ready_stock += number_of_units
 * on the SKU's finished-goods row (created when missing), status recomputed (R3); then queues
 * PRINT_EVENTS job_completed (dedup "job_completed:<job_id>"). Jobs without a SKU (or whose SKU
 * was deleted) move no stock but still queue the event. The caller calls queue_wake() after its
 * commit. out may be NULL. */
enum api_err stock_job_completed(struct db *db, const char *account_id, const char *job_id,
				 struct stock_move *out);

/* "job_completed:<job_id>" into buf. */
const char *stock_dedup_key(const char *job_id, char *buf, size_t size);

#endif
