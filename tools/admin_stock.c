/* admin_stock.c - apf-admin: stock ledger and analytics rollup checks (see admin.h). */
#include "admin.h"

#include "stock.h"

#include <stdio.h>

/* --------------------------------------------------------------------------------- stock */

/* Decimal text without trailing zeros: "12.50" → "12.5", "3.00" → "3". */
#define TRIMMED(c) "TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST(" c " AS CHAR)))"
static const struct rfield F_STOCK_MOVE[] = {
	COL(id, INT) COL(account_id, STR) COL(counter, STR) COLX(delta, TRIMMED("delta"), NUM)
	COLX(level_after, TRIMMED("level_after"), NUM) COL(reason, STR) COL(note, STR)
	COL(ref_id, STR) COL(request_id, STR) COL(created_at, TIME) RES_FIELD_END
};
static const struct output OUT_STOCK_HISTORY = {
	F_STOCK_MOVE, " FROM stock_movements WHERE item_id = ? ORDER BY created_at, id"
};

static void stock_diff_row(const struct stock_diff *d, void *ctx)
{
	json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s, s:s}", "counter",
					     stock_counter_name(d->counter), "account_id",
					     d->account_id, "item_id", d->item_id, "level", d->level,
					     "ledger", d->ledger));
}

/* Every counter against the sum of its movements; the differences printed, exit 1 if any. */
/* The end of a verify command whose c->out holds data (the n rows that differ): ok printed when
 * n is 0 (exit 0), else the rows and "n what" (exit 1). */
static int verified(struct ctx *c, long n, const char *ok, const char *what)
{
	if (n == 0) {
		json_object_del(c->out, "data");
		if (!c->opt[O_JSON]) {
			json_decref(c->out);
			c->out = NULL;
			puts(ok);
		}
		return 0;
	}
	print_result(c);
	json_decref(c->out);
	c->out = NULL;
	return fail("%ld %s", n, what);
}

int cmd_stock_verify(struct ctx *c)
{
	json_t *rows = json_array();
	long n = rows ? stock_verify(c->db, c->opt[O_ACCOUNT], stock_diff_row, rows) : -1;
	if (n < 0) {
		json_decref(rows);
		return fail("cannot read the stock counters and the ledger");
	}
	c->out = json_pack("{s:I, s:o}", "differences", (json_int_t)n, "data", rows);
	if (!c->out)
		return fail("out of memory");
	return verified(c, n, "stock ledger verified: every counter equals the sum of its movements",
			"stock counter(s) differ from the ledger");
}

/* Rollup rows of analytics that differ from their recomputation from the source rows
 * (the view analytics_rollup_drift of sql/0014_analytics_rollups.sql, docs/analytics.md). */
static const struct rfield F_DRIFT[] = {
	COL(rollup, STR) COL(account_id, STR) COL(kind, INT) COL(grp, STR) COL(day, STR)
	COL(sub, STR) RES_FIELD_END
};
static const struct output OUT_DRIFT = {
	F_DRIFT, " FROM analytics_rollup_drift WHERE ? IS NULL OR account_id = ?"
	" ORDER BY rollup, account_id, kind, grp, day, sub LIMIT 1000"
};

int cmd_analytics_verify(struct ctx *c)
{
	const char *a = c->opt[O_ACCOUNT];
	if (q_list(c, &OUT_DRIFT, DB_ARGS(DS(a), DS(a)), &c->out))
		return EXIT_FAIL;
	long n = (long)json_array_size(json_object_get(c->out, "data"));
	json_object_set_new(c->out, "differences", json_integer((json_int_t)n));
	return verified(c, n, "analytics rollups verified: every row equals its recomputation",
			"analytics rollup row(s) differ from their recomputation");
}

struct reconcile {
	struct db *db;
	json_t *rows;
	enum api_err err;
};

static void stock_reconcile_row(const struct stock_diff *d, void *ctx)
{
	struct reconcile *rc = ctx;
	const struct stock_src src = { "reconciliation", "apf-admin stock reconcile", NULL, NULL };
	if (!rc->err)
		rc->err = stock_record(rc->db, d->account_id, d->counter, d->item_id, &src, NULL);
	stock_diff_row(d, rc->rows);
}

/* Records the difference of every counter that disagrees with its ledger as a
 * "reconciliation" movement (after a manual change of the database), in one transaction. */
int cmd_stock_reconcile(struct ctx *c)
{
	struct reconcile rc = { c->db, json_array(), E_OK };
	long n = -1;
	if (rc.rows && db_begin(c->db) == E_OK) {
		n = stock_verify(c->db, c->opt[O_ACCOUNT], stock_reconcile_row, &rc);
		if (n >= 0 && !rc.err && db_commit(c->db) == E_OK)
			rc.err = E_OK;
		else {
			db_rollback(c->db);
			n = -1;
		}
	}
	if (n < 0) {
		json_decref(rc.rows);
		return fail("cannot reconcile the stock ledger");
	}
	c->out = json_pack("{s:I, s:o}", "reconciled", (json_int_t)n, "data", rc.rows);
	return c->out ? 0 : fail("out of memory");
}

int cmd_stock_history(struct ctx *c)
{
	return q_list(c, &OUT_STOCK_HISTORY, DB_ARGS(DS(c->arg)), &c->out)
		       ? EXIT_FAIL : 0;
}
