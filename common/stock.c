/* stock.c - finished-goods stock movement on job completion (see stock.h). */
#include "stock.h"

#include "queue.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const struct db_query Q_JOB = {
	"SELECT j.product_sku_id, j.number_of_units, j.requires_assembly, j.material_type,"
	" j.printer_id, j.actual_print_time_minutes, j.order_id, j.order_item_id,"
	" DATE_FORMAT(j.time_completed, '%Y-%m-%dT%H:%i:%s.%fZ')"
	" FROM print_jobs j WHERE j.account_id = ? AND j.id = ?"
};
/* One row per SKU (uq_finished_goods_sku): created with nothing on hand when missing; the job
 * becomes the row's latest print job. The SELECT from product_skus keeps the account boundary
 * (no row for another account's SKU). The counters then move through the ledger. */
static const struct db_query Q_FG_ENSURE = {
	"INSERT INTO finished_goods (id, account_id, product_sku_id, print_job_id, sku, color,"
	" material, requires_assembly, status)"
	" SELECT ?, s.account_id, s.id, ?, s.sku, s.color,"
	" LEFT(IFNULL(NULLIF(s.filament_type, ''), IFNULL(NULLIF(?, ''), 'PLA')), 50), ?,"
	" 'out_of_stock' FROM product_skus s WHERE s.account_id = ? AND s.id = ?"
	" ON DUPLICATE KEY UPDATE print_job_id = VALUES(print_job_id), updated_at = NOW(3)"
};
static const struct db_query Q_FG_ID = {
	"SELECT id FROM finished_goods WHERE account_id = ? AND product_sku_id = ?"
};
static const struct db_query Q_FG_AWAITING = {
	"UPDATE finished_goods SET assembly_status = 'needs_assembly'"
	" WHERE account_id = ? AND id = ?"
};

const char *stock_dedup_key(const char *job_id, char *buf, size_t size)
{
	snprintf(buf, size, "job_completed:%s", job_id);
	return buf;
}

enum api_err stock_job_completed(struct db *db, const char *account_id, const char *job_id,
				 const char *request_id, struct stock_move *out)
{
	struct stock_move mv;
	struct db_res res;
	memset(&mv, 0, sizeof mv);
	enum api_err err = db_exec(db, &Q_JOB, DB_ARGS(DS(account_id), DS(job_id)), &res);
	if (err)
		return err;
	if (res.nrows != 1) {
		db_res_free(&res);
		return E_JOB_NOT_FOUND;
	}
	char sku[37] = "", printer[37] = "", order[37] = "", item[37] = "", material[101] = "";
	char completed[40] = "";
	snprintf(sku, sizeof sku, "%s", db_get(&res, 0, 0) ? db_get(&res, 0, 0) : "");
	long long units = db_get_int(&res, 0, 1, 1);
	int assembly = db_get_int(&res, 0, 2, 0) != 0;
	snprintf(material, sizeof material, "%s", db_get(&res, 0, 3) ? db_get(&res, 0, 3) : "");
	snprintf(printer, sizeof printer, "%s", db_get(&res, 0, 4) ? db_get(&res, 0, 4) : "");
	long long actual = db_get_int(&res, 0, 5, -1);
	snprintf(order, sizeof order, "%s", db_get(&res, 0, 6) ? db_get(&res, 0, 6) : "");
	snprintf(item, sizeof item, "%s", db_get(&res, 0, 7) ? db_get(&res, 0, 7) : "");
	snprintf(completed, sizeof completed, "%s", db_get(&res, 0, 8) ? db_get(&res, 0, 8) : "");
	db_res_free(&res);
	/* DATE_FORMAT %f gives microseconds: keep milliseconds */
	if (strlen(completed) == 27)
		memmove(completed + 23, completed + 26, 2);

	if (sku[0]) {
		char fg_id[UUID_LEN + 1];
		if (util_uuid(fg_id) < 0)
			return E_INTERNAL_ERROR;
		err = db_exec(db, &Q_FG_ENSURE,
			      DB_ARGS(DS(fg_id), DS(job_id), DS(material), DI(assembly),
				      DS(account_id), DS(sku)),
			      NULL);
		if (!err)
			err = db_exec(db, &Q_FG_ID, DB_ARGS(DS(account_id), DS(sku)), &res);
		if (err)
			return err;
		if (res.nrows == 1) { /* none: the SKU is gone (or not in this account) */
			DB_COPY(mv.finished_good_id, &res, 0, 0);
			mv.moved = 1;
		}
		db_res_free(&res);
	}
	if (mv.moved) {
		const struct stock_src src = { STOCK_JOB_COMPLETED_TYPE, NULL, job_id, request_id };
		struct stock_level lv;
		err = stock_add_int(db, account_id, assembly ? SC_NEEDS_ASSEMBLY : SC_READY,
				    mv.finished_good_id, units, &src, &lv);
		if (!err && lv.refused)
			err = E_INTERNAL_ERROR; /* beyond the column: logged, the completion retried */
		if (!err && assembly)
			err = db_exec(db, &Q_FG_AWAITING, DB_ARGS(DS(account_id),
								  DS(mv.finished_good_id)), NULL);
		if (err)
			return err;
		(assembly ? &mv.assembly_added : &mv.ready_added)[0] = units;
	}

	char key[128];
	json_t *payload = json_pack("{s:s, s:s?, s:s?, s:s?, s:I, s:b, s:I, s:I, s:s?, s:s?, s:s?}",
				    "job_id", job_id, "printer_id", printer[0] ? printer : NULL,
				    "product_sku_id", sku[0] ? sku : NULL, "finished_good_id",
				    mv.moved ? mv.finished_good_id : NULL, "number_of_units",
				    (json_int_t)units, "requires_assembly", assembly, "ready_added",
				    (json_int_t)mv.ready_added, "assembly_added",
				    (json_int_t)mv.assembly_added, "order_id", order[0] ? order : NULL,
				    "order_item_id", item[0] ? item : NULL, "completed_at",
				    completed[0] ? completed : NULL);
	if (!payload)
		return E_INTERNAL_ERROR;
	if (actual >= 0)
		json_object_set_new(payload, "actual_print_time_minutes", json_integer(actual));
	err = queue_push(db, QUEUE_PRINT_EVENTS, STOCK_JOB_COMPLETED_TYPE, account_id, payload,
			 stock_dedup_key(job_id, key, sizeof key), 0, NULL);
	json_decref(payload);
	if (!err && out)
		*out = mv;
	return err;
}
