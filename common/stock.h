/* stock.h - the stock counters, their ledger, and the finished-goods movement when a print job
 * completes (docs/stock.md).
 *
 * Every change of a stock counter goes through stock_add / stock_record, in the caller's
 * transaction: the counter's row is locked, changed, its status recomputed (R3 for finished
 * goods, R4 for materials) and one stock_movements row written with the delta, the resulting
 * level, the reason and what caused it. Nothing else writes these columns.
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

/* R4, the material status rule, over the counter column c and low_threshold: nothing left →
 * out_of_stock; a positive threshold reached → low; else in_stock. */
#define STOCK_MATERIAL_STATUS_SQL(c) \
	"(CASE WHEN " c " <= 0 THEN 'out_of_stock' WHEN low_threshold IS NOT NULL" \
	" AND low_threshold > 0 AND " c " <= low_threshold THEN 'low' ELSE 'in_stock' END)"

/* The counters the ledger follows; stock_counter_name() gives the stored name
 * ("finished_goods.ready_stock"). */
enum stock_counter {
	SC_READY,          /* finished_goods.ready_stock (status R3) */
	SC_NEEDS_ASSEMBLY, /* finished_goods.quantity_needs_assembly (status R3) */
	SC_SKU_LEVEL,      /* product_skus.stock_level (no stored status) */
	SC_FILAMENT,       /* filament_inventory.remaining_grams (status R4; two decimals) */
	SC_PACKAGING,      /* packaging_inventory.remaining_units (R4) */
	SC_COMPONENT,      /* accessories_inventory.remaining_units (R4) */
	SC_PART,           /* printer_parts_inventory.remaining_units (R4) */
	SC_COUNT
};

/* Why a counter moved: reason is a short word (adjust, order_fulfilment, job_completed, ...),
 * note the client's text, ref_id the order / task / job behind it, request_id the API request.
 * Any may be NULL but reason. */
struct stock_src {
	const char *reason;
	const char *note;
	const char *ref_id;
	const char *request_id;
};

/* A counter's level before and after a change, as decimal text ("12", "1000.50") and as an
 * integer (the text truncated; exact for every counter but filament). */
struct stock_level {
	char before[32], after[32];
	long long before_i, after_i;
	int refused; /* stock_add: the change would have taken the counter below 0 (or above its
		      * column); nothing changed */
};

const char *stock_counter_name(enum stock_counter c);
/* The counter with that stored name; -1 when none. */
int stock_counter_from_name(const char *name);

/* Locks item's row (SELECT ... FOR UPDATE) and reads the counter into out->before / before_i.
 * E_NOT_FOUND when the account has no such row. */
enum api_err stock_lock(struct db *db, const char *account_id, enum stock_counter c,
			const char *item_id, struct stock_level *out);

/* counter += delta (decimal text, e.g. "-3" or "12.5"), status recomputed, one movement
 * written; all in the caller's transaction. A result below 0 or beyond the column changes
 * nothing and sets out->refused (returns E_OK). E_NOT_FOUND when there is no such row. A delta
 * of 0 changes nothing and writes no movement. */
enum api_err stock_add(struct db *db, const char *account_id, enum stock_counter c,
		       const char *item_id, const char *delta, const struct stock_src *src,
		       struct stock_level *out);
enum api_err stock_add_int(struct db *db, const char *account_id, enum stock_counter c,
			   const char *item_id, long long delta, const struct stock_src *src,
			   struct stock_level *out);

/* After a direct write of the counter (a row created with a level, an update that sets it):
 * writes the movement that brings the ledger to the row's level (none when they agree) and
 * recomputes the status. out may be NULL. */
enum api_err stock_record(struct db *db, const char *account_id, enum stock_counter c,
			  const char *item_id, const struct stock_src *src,
			  struct stock_level *out);

/* Recomputes the stored status of item's row (after a threshold change); no movement. */
enum api_err stock_restatus(struct db *db, const char *account_id, enum stock_counter c,
			    const char *item_id);

/* Before a SKU's rows are deleted (a kit's composition replaced): brings the SKU's stock_level
 * and its finished good's counters to 0 through the ledger (reason "removed"), so the stock
 * that leaves with the rows leaves a movement. product_id instead of sku_id (sku_id NULL):
 * every SKU of that product. */
enum api_err stock_retire(struct db *db, const char *account_id, const char *sku_id,
			  const char *product_id, const struct stock_src *src);

/* One counter that disagrees with its ledger (stock_verify). */
struct stock_diff {
	enum stock_counter counter;
	char account_id[37], item_id[37];
	char level[32], ledger[32];
};
/* Compares every counter of every account (account_id NULL) or of one account with the sum of
 * its movements; calls fn for each difference. Returns the number of differences, or -1 on a
 * database error. */
long stock_verify(struct db *db, const char *account_id,
		  void (*fn)(const struct stock_diff *d, void *ctx), void *ctx);

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
 * on the SKU's finished-goods row (created when missing) through the ledger (reason
 * job_completed, ref_id the job, request_id the API request or NULL); then queues
 * PRINT_EVENTS job_completed (dedup "job_completed:<job_id>"). Jobs without a SKU (or whose SKU
 * was deleted) move no stock but still queue the event. The caller calls queue_wake() after its
 * commit. out may be NULL. */
enum api_err stock_job_completed(struct db *db, const char *account_id, const char *job_id,
				 const char *request_id, struct stock_move *out);

/* "job_completed:<job_id>" into buf. */
const char *stock_dedup_key(const char *job_id, char *buf, size_t size);

#endif
