/* autodispatch.c - /v1/dispatch: auto-dispatch settings, per-printer opt-in and the queue with
 * each job's reason to wait (docs/dispatch.md). The dispatcher itself is workers/dispatcher.c;
 * its view of an account, shared with GET /dispatch/queue, is common/autodisp.c. */
#include "autodisp.h"
#include "jhelp.h"
#include "openapi.h"
#include "queue.h"
#include "req.h"
#include "routes.h"

#include <stdio.h>
#include <string.h>

static const struct db_query Q_DA_PRINTERS = {
	"SELECT p.id, p.name, p.model, IFNULL(p.hub_id, ''), d.printer_id IS NOT NULL,"
	" COUNT(*) OVER ()"
	" FROM printers p LEFT JOIN dispatch_printers d ON d.printer_id = p.id"
	" WHERE p.account_id = ? ORDER BY p.sort_order, p.name, p.id LIMIT ? OFFSET ?"
};
static const struct db_query Q_DA_PRINTER = {
	"SELECT id FROM printers WHERE account_id = ? AND id = ? FOR UPDATE"
};
static const struct db_query Q_DA_OPT_IN = {
	"INSERT IGNORE INTO dispatch_printers (printer_id, account_id) VALUES (?, ?)"
};
static const struct db_query Q_DA_OPT_OUT = {
	"DELETE FROM dispatch_printers WHERE printer_id = ? AND account_id = ?"
};

static const struct jfield F_DISPATCH_SETTINGS[] = {
	{ "enabled", JF_BOOL, 0, 0, 0, { NULL } },
	{ "max_starts_in_flight_per_hub", JF_INT, 0, 1, AD_MAX_IN_FLIGHT_LIMIT, { NULL } },
	{ "min_seconds_between_starts", JF_INT, 0, 0, AD_MIN_GAP_LIMIT, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(autodispatch_settings_patch, F_DISPATCH_SETTINGS);
static const struct jfield F_DISPATCH_PRINTER[] = {
	{ "enabled", JF_BOOL, JF_REQUIRED, 0, 0, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(autodispatch_printer_put, F_DISPATCH_PRINTER);

static enum api_err settings_reply(struct req *r)
{
	struct ad_settings s;
	enum api_err err = ad_settings_get(r->db, r->account_id, 0, &s);
	if (err)
		return err;
	return req_ok(r, json_pack("{s:b, s:I, s:I}", "enabled", s.enabled,
				   "max_starts_in_flight_per_hub", (json_int_t)s.max_in_flight,
				   "min_seconds_between_starts", (json_int_t)s.min_gap_s));
}

/* GET /dispatch/settings: the defaults until changed. */
enum api_err autodispatch_settings_get(struct req *r)
{
	return settings_reply(r);
}

static struct db_arg opt_int(const json_t *body, const char *name)
{
	const json_t *v = json_object_get(body, name);
	if (json_is_boolean(v))
		return DI(json_is_true(v));
	return v ? DI(json_integer_value(v)) : DNULL;
}

/* PATCH /dispatch/settings: any of the three; an empty change is 400 NO_UPDATES. */
enum api_err autodispatch_settings_patch(struct req *r)
{
	if (req_check_body(r, F_DISPATCH_SETTINGS))
		return E_VALIDATION_ERROR;
	const json_t *b = r->body;
	struct db_arg on = opt_int(b, "enabled"), max = opt_int(b, "max_starts_in_flight_per_hub"),
		      gap = opt_int(b, "min_seconds_between_starts");
	if (on.t == DB_NULL && max.t == DB_NULL && gap.t == DB_NULL)
		return req_fail(r, E_NO_UPDATES, "Give enabled, max_starts_in_flight_per_hub or"
				" min_seconds_between_starts");
	enum api_err err = ad_settings_set(r->db, r->account_id, on, max, gap);
	if (!err)
		err = ad_nudge(r->db, r->account_id);
	return err ? err : settings_reply(r);
}

/* GET /dispatch/printers: every printer of the account with its opt-in. */
enum api_err autodispatch_printers_list(struct req *r)
{
	long long limit, offset, total = 0;
	struct db_res res;
	if (req_paging(r, &limit, &offset))
		return E_VALIDATION_ERROR;
	enum api_err err = db_exec(r->db, &Q_DA_PRINTERS,
				   DB_ARGS(DS(r->account_id), DI(limit), DI(offset)), &res);
	if (err)
		return err;
	json_t *list = json_array();
	for (unsigned long i = 0; i < res.nrows; i++) {
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s?, s:b}", "printer_id",
						      db_get(&res, i, 0), "name", db_get(&res, i, 1),
						      "model", db_get(&res, i, 2), "hub_id",
						      *db_get(&res, i, 3) ? db_get(&res, i, 3) : NULL,
						      "enabled", db_get_int(&res, i, 4, 0) != 0));
		total = db_get_int(&res, i, 5, 0);
	}
	db_res_free(&res);
	if (!res.nrows && offset > 0) { /* past the end: the count alone */
		static const struct db_query Q_N = {
			"SELECT COUNT(*) FROM printers WHERE account_id = ?"
		};
		if ((err = db_exec(r->db, &Q_N, DB_ARGS(DS(r->account_id)), &res)) != E_OK) {
			json_decref(list);
			return err;
		}
		total = db_get_int(&res, 0, 0, 0);
		db_res_free(&res);
	}
	req_page_meta(r, limit, offset, total);
	return req_ok(r, list);
}

/* PUT /dispatch/printers/{id} {enabled}: the printer takes dispatched jobs or not. */
enum api_err autodispatch_printer_put(struct req *r)
{
	struct db_res res;
	const char *id = req_param(r, "id");
	enum api_err err = req_fetch_one(r, &Q_DA_PRINTER, DB_ARGS(DS(r->account_id), DS(id)), &res,
					 E_PRINTER_NOT_FOUND);
	if (err)
		return err;
	db_res_free(&res);
	if (req_check_body(r, F_DISPATCH_PRINTER))
		return E_VALIDATION_ERROR;
	int on = json_is_true(json_object_get(r->body, "enabled"));
	err = db_exec(r->db, on ? &Q_DA_OPT_IN : &Q_DA_OPT_OUT, DB_ARGS(DS(id), DS(r->account_id)),
		      NULL);
	if (!err && on)
		err = ad_nudge(r->db, r->account_id);
	return err ? err : req_ok(r, json_pack("{s:s, s:b}", "printer_id", id, "enabled", on));
}

/* GET /dispatch/queue: the queued jobs in dispatch order, each with why it still waits
 * ("ready": it starts at the next run); jobs placed earlier in the order take their printers. */
enum api_err autodispatch_queue(struct req *r)
{
	long long limit, offset;
	struct ad_plan p;
	if (req_paging(r, &limit, &offset))
		return E_VALIDATION_ERROR;
	enum api_err err = ad_load(r->db, r->account_id, &p);
	if (err)
		return err;
	json_t *list = json_array();
	for (size_t i = 0; i < p.njobs; i++) {
		enum ad_reason why = AD_OK;
		int k = ad_pick(&p, i, &why);
		if (k >= 0)
			ad_took(&p, k);
		if ((long long)i < offset || (long long)i >= offset + limit)
			continue;
		const struct ad_job *j = &p.jobs[i];
		json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:s?, s:s?}", "job_id", j->id,
						      "position", (json_int_t)i + 1, "reason",
						      ad_reason_names[why], "printer_id",
						      j->printer_id[0] ? j->printer_id : NULL,
						      "candidate_printer_id",
						      k >= 0 ? p.printers[k].id : NULL));
	}
	req_page_meta(r, limit, offset, (long long)p.njobs);
	ad_free(&p);
	return req_ok(r, list);
}
