/* stock_ledger.c - the stock counters and their ledger (see stock.h, docs/stock.md).
 *
 * One table row per counter says where it lives and how its status follows it; the statements
 * are assembled from it once and interned (db_intern), so each counter has its own prepared
 * statements and no counter is written by hand anywhere else. */
#include "stock.h"
#include "webhook.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct counter_def {
	const char *name;   /* stored in stock_movements.counter */
	const char *table;
	const char *column;
	const char *status; /* expression for the row's status column; NULL: no stored status */
	int decimals;       /* 2 for DECIMAL(10,2) grams, else 0 */
	double max;         /* the column's largest value */
} COUNTERS[SC_COUNT] = {
	[SC_READY] = { "finished_goods.ready_stock", "finished_goods", "ready_stock",
		       STOCK_STATUS_SQL, 0, INT_MAX },
	[SC_NEEDS_ASSEMBLY] = { "finished_goods.quantity_needs_assembly", "finished_goods",
				"quantity_needs_assembly", STOCK_STATUS_SQL, 0, INT_MAX },
	[SC_SKU_LEVEL] = { "product_skus.stock_level", "product_skus", "stock_level", NULL, 0,
			   INT_MAX },
	[SC_FILAMENT] = { "filament_inventory.remaining_grams", "filament_inventory",
			  "remaining_grams", STOCK_MATERIAL_STATUS_SQL("remaining_grams"), 2,
			  99999999.99 },
	[SC_PACKAGING] = { "packaging_inventory.remaining_units", "packaging_inventory",
			   "remaining_units", STOCK_MATERIAL_STATUS_SQL("remaining_units"), 0,
			   INT_MAX },
	[SC_COMPONENT] = { "accessories_inventory.remaining_units", "accessories_inventory",
			   "remaining_units", STOCK_MATERIAL_STATUS_SQL("remaining_units"), 0,
			   INT_MAX },
	[SC_PART] = { "printer_parts_inventory.remaining_units", "printer_parts_inventory",
		      "remaining_units", STOCK_MATERIAL_STATUS_SQL("remaining_units"), 0,
		      INT_MAX },
};

enum { Q_LOCK, Q_ADD_READ, Q_SET, Q_RECORD_READ, Q_RESTATUS, Q_VERIFY_ALL, Q_VERIFY_ONE, Q_STATUS,
       Q_KINDS };

static const struct db_query Q_MOVE = {
	"INSERT INTO stock_movements (account_id, counter, item_id, delta, level_after, reason,"
	" note, ref_id, request_id) VALUES (?, ?, ?, ?, ?, ?, LEFT(?, 500), ?, LEFT(?, 64))"
};

/* The statement of kind k for counter c, assembled on first use. NULL when out of memory. */
static const struct db_query *query(enum stock_counter c, int k)
{
	static const struct db_query *cache[SC_COUNT][Q_KINDS];
	if (cache[c][k])
		return cache[c][k];
	const struct counter_def *d = &COUNTERS[c];
	const char *t = d->table, *col = d->column;
	char sql[2048], status[1024] = "";
	if (d->status)
		snprintf(status, sizeof status, "status = %s, ", d->status);
	switch (k) {
	case Q_LOCK:
		snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE account_id = ? AND id = ?"
			 " FOR UPDATE", col, t);
		break;
	case Q_ADD_READ: /* before, after, delta as the column's decimals, status before */
		snprintf(sql, sizeof sql, "SELECT %s, CAST(%s + CAST(? AS DECIMAL(16,2))"
			 " AS DECIMAL(16,%d)), CAST(CAST(? AS DECIMAL(16,2)) AS DECIMAL(16,%d)), %s"
			 " FROM %s WHERE account_id = ? AND id = ? FOR UPDATE",
			 col, col, d->decimals, d->decimals, d->status ? "status" : "NULL", t);
		break;
	case Q_STATUS:
		snprintf(sql, sizeof sql, "SELECT status FROM %s WHERE account_id = ? AND id = ?", t);
		break;
	case Q_SET:
		snprintf(sql, sizeof sql, "UPDATE %s SET %s = ?, %supdated_at = NOW(3)"
			 " WHERE account_id = ? AND id = ?", t, col, status);
		break;
	case Q_RECORD_READ: /* level, ledger sum, level - sum */
		snprintf(sql, sizeof sql, "SELECT t.%s, CAST(COALESCE(s.total, 0) AS DECIMAL(16,%d)),"
			 " CAST(t.%s - COALESCE(s.total, 0) AS DECIMAL(16,%d)) FROM %s t"
			 " LEFT JOIN (SELECT SUM(delta) AS total FROM stock_movements"
			 " WHERE account_id = ? AND counter = '%s' AND item_id = ?) s ON 1"
			 " WHERE t.account_id = ? AND t.id = ? FOR UPDATE",
			 col, d->decimals, col, d->decimals, t, d->name);
		break;
	case Q_RESTATUS:
		if (!d->status)
			return NULL;
		snprintf(sql, sizeof sql, "UPDATE %s SET status = %s WHERE account_id = ? AND id = ?",
			 t, d->status);
		break;
	case Q_VERIFY_ALL:
	case Q_VERIFY_ONE:
		snprintf(sql, sizeof sql, "SELECT t.account_id, t.id, t.%s,"
			 " CAST(COALESCE(SUM(m.delta), 0) AS DECIMAL(16,%d)) FROM %s t"
			 " LEFT JOIN stock_movements m ON m.account_id = t.account_id"
			 " AND m.counter = '%s' AND m.item_id = t.id%s"
			 " GROUP BY t.account_id, t.id, t.%s"
			 " HAVING t.%s <> COALESCE(SUM(m.delta), 0) ORDER BY t.account_id, t.id",
			 col, d->decimals, t, d->name,
			 k == Q_VERIFY_ONE ? " WHERE t.account_id = ?" : "", col, col);
		break;
	default:
		return NULL;
	}
	return cache[c][k] = db_intern(sql);
}

const char *stock_counter_name(enum stock_counter c)
{
	return (unsigned)c < SC_COUNT ? COUNTERS[c].name : "";
}

int stock_counter_from_name(const char *name)
{
	for (int c = 0; c < SC_COUNT; c++)
		if (name && strcmp(COUNTERS[c].name, name) == 0)
			return c;
	return -1;
}

static void set_level(char *dst, size_t size, long long *num, const char *text)
{
	snprintf(dst, size, "%s", text ? text : "0");
	*num = strtoll(dst, NULL, 10);
}

static enum api_err move(struct db *db, const char *account_id, enum stock_counter c,
			 const char *item_id, const char *delta, const char *after,
			 const struct stock_src *src)
{
	return db_exec(db, &Q_MOVE,
		       DB_ARGS(DS(account_id), DS(COUNTERS[c].name), DS(item_id), DS(delta),
			       DS(after), DS(src && src->reason ? src->reason : "unspecified"),
			       DS(src ? src->note : NULL), DS(src ? src->ref_id : NULL),
			       DS(src ? src->request_id : NULL)),
		       NULL);
}

/* The webhook event of a row whose status became low or out of stock (common/webhook.h). */
static enum api_err status_event(struct db *db, const char *account_id, enum stock_counter c,
				 const char *item_id, const char *was, const char *level)
{
	struct db_res res;
	char now[32];
	const struct db_query *q = query(c, Q_STATUS);
	if (!q)
		return E_INTERNAL_ERROR;
	enum api_err err = db_exec(db, q, DB_ARGS(DS(account_id), DS(item_id)), &res);
	DB_COPY(now, &res, 0, 0);
	db_res_free(&res);
	if (err || strcmp(was, now) == 0)
		return err;
	return webhook_stock(db, account_id, COUNTERS[c].table, item_id, now, level);
}

enum api_err stock_lock(struct db *db, const char *account_id, enum stock_counter c,
			const char *item_id, struct stock_level *out)
{
	struct db_res res;
	const struct db_query *q = query(c, Q_LOCK);
	if (!q)
		return E_INTERNAL_ERROR;
	enum api_err err = db_exec(db, q, DB_ARGS(DS(account_id), DS(item_id)), &res);
	if (err)
		return err;
	if (res.nrows != 1)
		err = E_NOT_FOUND;
	else if (out) {
		memset(out, 0, sizeof *out);
		set_level(out->before, sizeof out->before, &out->before_i, db_get(&res, 0, 0));
		set_level(out->after, sizeof out->after, &out->after_i, db_get(&res, 0, 0));
	}
	db_res_free(&res);
	return err;
}

enum api_err stock_add(struct db *db, const char *account_id, enum stock_counter c,
		       const char *item_id, const char *delta, const struct stock_src *src,
		       struct stock_level *out)
{
	struct stock_level lv;
	struct db_res res;
	const struct db_query *qr = query(c, Q_ADD_READ), *qs = query(c, Q_SET);
	memset(&lv, 0, sizeof lv);
	if (!qr || !qs)
		return E_INTERNAL_ERROR;
	enum api_err err = db_exec(db, qr, DB_ARGS(DS(delta), DS(delta), DS(account_id),
						   DS(item_id)), &res);
	if (err)
		return err;
	if (res.nrows != 1) {
		db_res_free(&res);
		return E_NOT_FOUND;
	}
	char d[32], was[32];
	set_level(lv.before, sizeof lv.before, &lv.before_i, db_get(&res, 0, 0));
	set_level(lv.after, sizeof lv.after, &lv.after_i, db_get(&res, 0, 1));
	snprintf(d, sizeof d, "%s", db_get(&res, 0, 2) ? db_get(&res, 0, 2) : "0");
	DB_COPY(was, &res, 0, 3);
	db_res_free(&res);
	double after = strtod(lv.after, NULL), dv = strtod(d, NULL);
	if (after < 0 || after > COUNTERS[c].max) {
		lv.refused = 1;
		snprintf(lv.after, sizeof lv.after, "%s", lv.before);
		lv.after_i = lv.before_i;
	} else if (dv != 0) {
		err = db_exec(db, qs, DB_ARGS(DS(lv.after), DS(account_id), DS(item_id)), NULL);
		if (!err)
			err = move(db, account_id, c, item_id, d, lv.after, src);
		if (!err && COUNTERS[c].status)
			err = status_event(db, account_id, c, item_id, was, lv.after);
	}
	if (!err && out)
		*out = lv;
	return err;
}

enum api_err stock_add_int(struct db *db, const char *account_id, enum stock_counter c,
			   const char *item_id, long long delta, const struct stock_src *src,
			   struct stock_level *out)
{
	char d[32];
	snprintf(d, sizeof d, "%lld", delta);
	return stock_add(db, account_id, c, item_id, d, src, out);
}

/* Also after stock_record: a status that crossed into low / out of stock announces it
 * (status_event), whatever path changed the level or the threshold. */
enum api_err stock_restatus(struct db *db, const char *account_id, enum stock_counter c,
			    const char *item_id)
{
	const struct db_query *q = query(c, Q_RESTATUS), *qs = query(c, Q_STATUS);
	struct db_res res;
	struct stock_level lv;
	char was[32];
	if (!COUNTERS[c].status)
		return E_OK;
	if (!q || !qs)
		return E_INTERNAL_ERROR;
	/* the row locked first: its status before is the one this change replaces */
	enum api_err err = stock_lock(db, account_id, c, item_id, &lv);
	if (err)
		return err == E_NOT_FOUND ? E_OK : err;
	if ((err = db_exec(db, qs, DB_ARGS(DS(account_id), DS(item_id)), &res)) == E_OK)
		DB_COPY(was, &res, 0, 0);
	db_res_free(&res);
	if (!err)
		err = db_exec(db, q, DB_ARGS(DS(account_id), DS(item_id)), NULL);
	if (err)
		return err;
	return status_event(db, account_id, c, item_id, was, lv.after);
}

enum api_err stock_record(struct db *db, const char *account_id, enum stock_counter c,
			  const char *item_id, const struct stock_src *src,
			  struct stock_level *out)
{
	struct stock_level lv;
	struct db_res res;
	const struct db_query *q = query(c, Q_RECORD_READ);
	memset(&lv, 0, sizeof lv);
	if (!q)
		return E_INTERNAL_ERROR;
	enum api_err err = db_exec(db, q, DB_ARGS(DS(account_id), DS(item_id), DS(account_id),
						  DS(item_id)), &res);
	if (err)
		return err;
	if (res.nrows != 1) {
		db_res_free(&res);
		return E_NOT_FOUND;
	}
	char d[32];
	set_level(lv.after, sizeof lv.after, &lv.after_i, db_get(&res, 0, 0));
	set_level(lv.before, sizeof lv.before, &lv.before_i, db_get(&res, 0, 1));
	snprintf(d, sizeof d, "%s", db_get(&res, 0, 2) ? db_get(&res, 0, 2) : "0");
	db_res_free(&res);
	if (strtod(d, NULL) != 0)
		err = move(db, account_id, c, item_id, d, lv.after, src);
	if (!err)
		err = stock_restatus(db, account_id, c, item_id);
	if (!err && out)
		*out = lv;
	return err;
}

static const struct db_query Q_RETIRE_SKU = {
	"SELECT s.id, fg.id FROM product_skus s LEFT JOIN finished_goods fg"
	" ON fg.product_sku_id = s.id AND fg.account_id = s.account_id"
	" WHERE s.account_id = ? AND s.id = ?"
};
static const struct db_query Q_RETIRE_PRODUCT = {
	"SELECT s.id, fg.id FROM product_skus s LEFT JOIN finished_goods fg"
	" ON fg.product_sku_id = s.id AND fg.account_id = s.account_id"
	" WHERE s.account_id = ? AND s.product_id = ?"
};

/* counter of item to 0 through the ledger. */
static enum api_err zero(struct db *db, const char *account_id, enum stock_counter c,
			 const char *item_id, const struct stock_src *src)
{
	struct stock_level lv;
	enum api_err err = stock_lock(db, account_id, c, item_id, &lv);
	if (err || strtod(lv.before, NULL) == 0)
		return err == E_NOT_FOUND ? E_OK : err;
	char d[40];
	snprintf(d, sizeof d, "-%s", lv.before);
	return stock_add(db, account_id, c, item_id, d, src, NULL);
}

enum api_err stock_retire(struct db *db, const char *account_id, const char *sku_id,
			  const char *product_id, const struct stock_src *src)
{
	struct db_res res;
	enum api_err err = db_exec(db, sku_id ? &Q_RETIRE_SKU : &Q_RETIRE_PRODUCT,
				   DB_ARGS(DS(account_id), DS(sku_id ? sku_id : product_id)), &res);
	for (unsigned long i = 0; !err && i < res.nrows; i++) {
		const char *fg = db_get(&res, i, 1);
		err = zero(db, account_id, SC_SKU_LEVEL, db_get(&res, i, 0), src);
		if (!err && fg)
			err = zero(db, account_id, SC_READY, fg, src);
		if (!err && fg)
			err = zero(db, account_id, SC_NEEDS_ASSEMBLY, fg, src);
	}
	db_res_free(&res);
	return err;
}

long stock_verify(struct db *db, const char *account_id,
		  void (*fn)(const struct stock_diff *d, void *ctx), void *ctx)
{
	long found = 0;
	for (int c = 0; c < SC_COUNT; c++) {
		struct db_res res;
		const struct db_query *q = query(c, account_id ? Q_VERIFY_ONE : Q_VERIFY_ALL);
		if (!q)
			return -1;
		enum api_err err = account_id ? db_exec(db, q, DB_ARGS(DS(account_id)), &res)
					      : db_exec(db, q, NULL, 0, &res);
		if (err)
			return -1;
		for (unsigned long i = 0; i < res.nrows; i++, found++) {
			struct stock_diff d;
			memset(&d, 0, sizeof d);
			d.counter = (enum stock_counter)c;
			DB_COPY(d.account_id, &res, i, 0);
			DB_COPY(d.item_id, &res, i, 1);
			DB_COPY(d.level, &res, i, 2);
			DB_COPY(d.ledger, &res, i, 3);
			if (fn)
				fn(&d, ctx);
		}
		db_res_free(&res);
	}
	return found;
}
