/* jobs.c - Print jobs: list, history, counts and get (the generic handlers, fcgi/routes.def),
 * enqueue and update. The fields are fcgi/jobs.def; what moves a job (start, pause, ...,
 * complete) is fcgi/job_actions.c.
 *
 * Enqueue and update name a file, a printer, a SKU by id: each is looked up in the account and
 * copied onto the job (names, models, colours), and a printer must take the file's model. */
#include "jobs.h"

#include "autodisp.h"
#include "meta.h"
#include "queue.h"
#include "resources.h"

#include <stdio.h>
#include <string.h>

static const struct rfield job_fields[] = {
#define FIELD RES_FIELD
#include "jobs.def"
#undef FIELD
	RES_FIELD_END
};

static const struct rfilter job_filters[] = {
	RES_FILTER("status", ENUM(states_job_names), "j.status = ?", EXACT),
	RES_FILTER("printer_id", STR(1, 64), "j.printer_id = ?", EXACT),
	RES_FILTER("product_sku_id", STR(1, 64), "j.product_sku_id = ?", EXACT),
	RES_FILTER("print_file_id", STR(1, 64), "j.print_file_id = ?", EXACT),
	RES_FILTER_END
};

#define JOB_RES                                                                          \
	.noun = "job", .table = "print_jobs", .from = "print_jobs j", .alias = "j",      \
	.not_found = E_JOB_NOT_FOUND, .fields = job_fields, .paging = RP_ALWAYS,           \
	.touch = "updated_at = NOW(3)"

static const struct rcounts job_counts = {
	.group = "j.status", .values = states_job_names, .by = "by_status",
	.members = { { "active", NULL, JOBS_RUNNING }, { "total", NULL, RC_ALL },
		     { "completed_today", "j.status = 'completed' AND j.time_completed >= UTC_DATE()",
		       0 } },
};

/* Newest first. */
const struct resource job_res = {
	JOB_RES, .filters = job_filters, .order = "j.created_at DESC, j.id DESC",
	.counts = &job_counts,
};

static const char *const history_statuses[] = { "completed", "failed", "cancelled", NULL };

static const struct rfilter history_filters[] = {
	RES_FILTER("status", ENUM(history_statuses), "j.status = ?", EXACT),
	RES_FILTER("from", TIME, "j.time_completed >= ?", SINCE),
	RES_FILTER("to", TIME, "j.time_completed <= ?", UNTIL),
	RES_FILTER_END
};

/* GET /jobs/history: finished jobs, newest time_completed first, one without it (older rows)
 * last; from / to bound time_completed, a date-only `to` includes that whole UTC day. */
const struct resource job_history_res = {
	JOB_RES, .filters = history_filters,
	.where = "j.status IN ('completed', 'failed', 'cancelled')",
	.order = "j.time_completed IS NULL, j.time_completed DESC, j.id DESC",
};

/* What enqueue and update read. The job is locked first: the order everywhere (API, worker,
 * reverts) is the job's row, then its printer. */
static const struct db_query Q_JOB_LOCK = {
	"SELECT j.status, j.printer_id, j.print_file_id FROM print_jobs j"
	" WHERE j.account_id = ? AND j.id = ? FOR UPDATE"
};
static const struct db_query Q_FILE_FOR_JOB = {
	"SELECT f.id, f.name, f.print_time_seconds, f.filament_weight_grams, f.filament_type,"
	" f.filament_color, IFNULL(NULLIF(f.printer_model_id, ''), f.printer_model_name)"
	" FROM print_files f WHERE f.account_id = ? AND f.id = ?"
};
static const struct db_query Q_FILE_MODEL = {
	"SELECT IFNULL(NULLIF(f.printer_model_id, ''), f.printer_model_name)"
	" FROM print_files f WHERE f.account_id = ? AND f.id = ?"
};
static const struct db_query Q_PRINTER_BRIEF = {
	"SELECT p.id, p.name, p.model FROM printers p WHERE p.account_id = ? AND p.id = ?"
};
static const struct db_query Q_SKU_FOR_JOB = {
	"SELECT s.id, s.color, s.filament_type, s.product_id, pr.name"
	" FROM product_skus s JOIN products pr ON pr.id = s.product_id"
	" WHERE s.account_id = ? AND s.id = ?"
};
static const struct db_query Q_JOB_INSERT = {
	"INSERT INTO print_jobs (id, account_id, printer_id, print_file_id, product_sku_id,"
	" submitted_by, file_name, status, color, filament_type, material_type, number_of_units,"
	" quantity_per_print, requires_assembly, filament_needed_grams,"
	" estimated_print_time_minutes, progress_percentage, priority, time_submitted, product_id,"
	" product_name, sku_name, printer_model, printer_name, created_at, updated_at)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, 0, 50, NOW(3), ?, ?, ?, ?,"
	" ?, NOW(3), NOW(3))"
};

/* A body id names a row only when it is a UUID (else "" = nothing; see normalize_ids in
 * dispatch.c for the same rule on path ids). */
static const char *body_id(const json_t *body, const char *key, char out[UUID_LEN + 1])
{
	const char *v = jhelp_str(body, key);
	out[0] = '\0';
	if (v && util_is_uuid(v))
		for (int i = 0; i <= UUID_LEN; i++)
			out[i] = (char)(v[i] >= 'A' && v[i] <= 'F' ? v[i] - 'A' + 'a' : v[i]);
	return out;
}

/* ----------------------------------------------------------------------------- writes */

/* The row of q for the body's id member `key` in the account (or notfound, "No <what> <id> in
 * this account"); an absent or null member looks nothing up (res stays empty). */
static enum api_err lookup(struct req *r, const struct db_query *q, const char *key,
			   const char *what, enum api_err notfound, struct db_res *res)
{
	char id[UUID_LEN + 1];
	memset(res, 0, sizeof *res);
	if (!jhelp_str(r->body, key))
		return E_OK;
	enum api_err err = req_fetch_one(r, q, DB_ARGS(DS(r->account_id),
						       DS(body_id(r->body, key, id))),
					 res, notfound);
	if (err == notfound)
		return req_fail(r, err, "No %s %s in this account", what, jhelp_str(r->body, key));
	return err;
}

/* First non-empty of the strings (or ""). */
static const char *first_of(const char *a, const char *b, const char *c)
{
	return a && *a ? a : b && *b ? b : c ? c : "";
}

/* The job takes the file's name, time and filament; the SKU's product, colour and type; the
 * printer's name and model. Colour and types given in the body win. */
enum api_err jobs_create(struct req *r)
{
	char job_id[UUID_LEN + 1], sku_name[256] = "";
	struct db_res fres = { 0 }, pres = { 0 }, sres = { 0 };
	const json_t *b = r->body;
	enum api_err err;

	if (res_check_body(r, &job_res, RF_CREATE))
		return E_VALIDATION_ERROR;
	if ((err = lookup(r, &Q_FILE_FOR_JOB, "print_file_id", "print file", E_FILE_NOT_FOUND,
			  &fres)) != E_OK ||
	    (err = lookup(r, &Q_PRINTER_BRIEF, "printer_id", "printer", E_PRINTER_NOT_FOUND,
			  &pres)) != E_OK ||
	    (err = lookup(r, &Q_SKU_FOR_JOB, "product_sku_id", "product SKU", E_SKU_NOT_FOUND,
			  &sres)) != E_OK)
		goto out;
	int have_p = pres.nrows > 0, have_s = sres.nrows > 0;
	const char *file_model = db_get(&fres, 0, 6);
	if (have_p && !meta_model_matches(file_model, db_get(&pres, 0, 2))) {
		err = req_fail(r, E_PRINTER_MODEL_MISMATCH, "The file was sliced for %s; printer \"%s\""
			       " is a %s", file_model, db_get(&pres, 0, 1), db_get(&pres, 0, 2));
		goto out;
	}

	const char *sku_color = db_get(&sres, 0, 1), *sku_type = db_get(&sres, 0, 2);
	const char *file_type = db_get(&fres, 0, 4);
	const char *color = first_of(jhelp_str(b, "color"), sku_color,
				     first_of(db_get(&fres, 0, 5), NULL, ""));
	const char *ftype = first_of(jhelp_str(b, "filament_type"), sku_type, file_type);
	const char *mtype = first_of(jhelp_str(b, "material_type"), sku_type,
				     first_of(file_type, NULL, "PLA"));
	if (have_s)
		snprintf(sku_name, sizeof sku_name, sku_type && *sku_type ? "%s (%s)" : "%s",
			 sku_color ? sku_color : "", sku_type ? sku_type : "");
	long long secs = db_get_int(&fres, 0, 2, -1);
	json_t *units = json_object_get(b, "number_of_units");
	json_t *qpp = json_object_get(b, "quantity_per_print");
	if (util_uuid(job_id) < 0) {
		err = E_INTERNAL_ERROR;
		goto out;
	}
	err = db_exec(r->db, &Q_JOB_INSERT,
		      DB_ARGS(DS(job_id), DS(r->account_id), DS(db_get(&pres, 0, 0)),
			      DS(db_get(&fres, 0, 0)), DS(db_get(&sres, 0, 0)),
			      DS(r->user_id[0] ? r->user_id : NULL), DS(db_get(&fres, 0, 1)),
			      DS(color), DS(ftype), DS(mtype),
			      DI(units ? json_integer_value(units) : 1),
			      DI(qpp ? json_integer_value(qpp) : 1),
			      DI(json_is_true(json_object_get(b, "requires_assembly"))),
			      DS(db_get(&fres, 0, 3)), secs >= 0 ? DI((secs + 59) / 60) : DNULL,
			      DS(db_get(&sres, 0, 3)), DS(db_get(&sres, 0, 4)),
			      DS(have_s ? sku_name : NULL), DS(db_get(&pres, 0, 2)),
			      DS(db_get(&pres, 0, 1))),
		      NULL);
out:
	db_res_free(&fres);
	db_res_free(&pres);
	db_res_free(&sres);
	if (!err && !json_is_string(json_object_get(r->body, "printer_id")) &&
	    ad_nudge(r->db, r->account_id) == E_OK) /* auto-dispatch (docs/dispatch.md) */
		queue_wake();
	return err ? err : res_reply(r, &job_res, job_id, 1);
}

/* Metadata of a job not yet final; a new printer only while queued or failed, and only one
 * that takes the file's model (its name and model are copied). Runs in one transaction with
 * the job locked (route R_TXN). */
enum api_err jobs_update(struct req *r)
{
	struct db_res res = { 0 };
	struct sqlb b;
	char status[16], cur_printer[UUID_LEN + 1], file_id[UUID_LEN + 1], model[201] = "";
	char printer_id[UUID_LEN + 1] = "", pname[121] = "", pmodel[121] = "";
	const char *id = req_param(r, "id");
	enum api_err err;

	if (res_check_body(r, &job_res, RF_PATCH))
		return E_VALIDATION_ERROR;
	if ((err = res_need_updates(r, &job_res)) != E_OK ||
	    (err = req_fetch_one(r, &Q_JOB_LOCK, DB_ARGS(DS(r->account_id), DS(id)), &res,
				 E_JOB_NOT_FOUND)) != E_OK)
		return err;
	DB_COPY(status, &res, 0, 0);
	DB_COPY(cur_printer, &res, 0, 1);
	DB_COPY(file_id, &res, 0, 2);
	db_res_free(&res);
	const struct job_rule *rule = states_job_rule("patch");
	if (!states_job_allows(rule, status))
		return job_refuse(r, rule, status);

	if ((err = lookup(r, &Q_PRINTER_BRIEF, "printer_id", "printer", E_PRINTER_NOT_FOUND,
			  &res)) != E_OK)
		return err;
	DB_COPY(printer_id, &res, 0, 0);
	DB_COPY(pname, &res, 0, 1);
	DB_COPY(pmodel, &res, 0, 2);
	db_res_free(&res);
	/* the same printer again: nothing to check or change */
	int set_printer = json_object_get(r->body, "printer_id") && strcmp(printer_id, cur_printer);
	if (set_printer) {
		const struct job_rule *reassign = states_job_rule("reassign");
		if (!states_job_allows(reassign, status))
			return job_refuse(r, reassign, status);
		if (printer_id[0] && db_exec(r->db, &Q_FILE_MODEL,
					     DB_ARGS(DS(r->account_id), DS(file_id)), &res) == E_OK) {
			DB_COPY(model, &res, 0, 0);
			db_res_free(&res);
		}
		if (printer_id[0] && !meta_model_matches(model, pmodel))
			return req_fail(r, E_PRINTER_MODEL_MISMATCH, "The file was sliced for %s;"
					" printer \"%s\" is a %s", model, pname, pmodel);
	}
	res_update_begin(&b, r, &job_res);
	if (set_printer) {
		const char *np = printer_id[0] ? printer_id : NULL;
		res_set(&b, "printer_id = ?", DS(np));
		res_set(&b, "printer_name = ?", DS(np ? pname : NULL));
		res_set(&b, "printer_model = ?", DS(np ? pmodel : NULL));
	}
	return res_update_end(r, &job_res, &b);
}
