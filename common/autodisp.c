/* autodisp.c - auto-dispatch's view of an account (autodisp.h, docs/dispatch.md). */
#include "autodisp.h"

#include "meta.h"
#include "queue.h"
#include "sqlfrag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const ad_reason_names[] = {
	"ready", "staggering", "printer_refused", "bed_not_clear", "all_busy", "maintenance",
	"hub_offline", "filament_mismatch", "no_printer_of_model", "printer_assigned",
	"dispatch_disabled", NULL
};

#define RUNNING_SQL "('processing', 'uploaded', 'printing', 'paused')"
#define STARTING_SQL "('processing', 'uploaded')"

static const struct db_query Q_AD_SETTINGS = {
	"SELECT enabled, max_starts_in_flight_per_hub, min_seconds_between_starts"
	" FROM dispatch_settings WHERE account_id = ?"
};
static const struct db_query Q_AD_SETTINGS_LOCK = {
	"SELECT enabled, max_starts_in_flight_per_hub, min_seconds_between_starts"
	" FROM dispatch_settings WHERE account_id = ? FOR UPDATE"
};
static const struct db_query Q_AD_SET = {
	"INSERT INTO dispatch_settings (account_id, enabled, max_starts_in_flight_per_hub,"
	" min_seconds_between_starts) VALUES (?, IFNULL(?, 0), IFNULL(?, ?), IFNULL(?, ?))"
	" ON DUPLICATE KEY UPDATE enabled = IFNULL(?, enabled),"
	" max_starts_in_flight_per_hub = IFNULL(?, max_starts_in_flight_per_hub),"
	" min_seconds_between_starts = IFNULL(?, min_seconds_between_starts), updated_at = NOW(3)"
};
/* The opted-in, active printers with what their start depends on. */
static const struct db_query Q_AD_PRINTERS = {
	"SELECT p.id, IFNULL(p.hub_id, ''), p.model, IFNULL(p.current_filament_type, ''),"
	" IFNULL(p.current_color, ''), IFNULL(p.current_color_hex, ''),"
	" p.in_maintenance = 1 OR p.status = 'maintenance', p.status, p.cleared,"
	" IFNULL((SELECT " HUB_LIVE_SQL("h") " FROM hubs h WHERE h.id = p.hub_id), 0),"
	" (SELECT COUNT(*) FROM print_jobs o WHERE o.printer_id = p.id AND o.status IN "
	RUNNING_SQL "),"
	" (SELECT COUNT(*) FROM hub_commands c WHERE c.printer_id = p.id"
	"  AND c.status IN ('failed', 'timeout', 'expired') AND c.action = 'print.start'"
	"  AND c.finished_at > NOW(3) - INTERVAL ? SECOND)"
	" FROM dispatch_printers d JOIN printers p ON p.id = d.printer_id"
	" AND p.account_id = d.account_id"
	" WHERE d.account_id = ? AND p.is_active = 1 ORDER BY p.sort_order, p.name, p.id"
};
static const struct db_query Q_AD_FLIGHT = {
	"SELECT p.hub_id, COUNT(*) FROM print_jobs j JOIN printers p ON p.id = j.printer_id"
	" WHERE j.account_id = ? AND j.status IN " STARTING_SQL " AND p.hub_id IS NOT NULL"
	" GROUP BY p.hub_id"
};
static const struct db_query Q_AD_LAST = {
	"SELECT hub_id, TIMESTAMPDIFF(MICROSECOND, MAX(issued_at), NOW(3)) DIV 1000"
	" FROM hub_commands WHERE account_id = ? AND action = 'print.start'"
	" AND issued_at > NOW(3) - INTERVAL ? SECOND GROUP BY hub_id"
};
static const struct db_query Q_AD_HUB = {
	"SELECT (SELECT COUNT(*) FROM print_jobs j JOIN printers p ON p.id = j.printer_id"
	"  WHERE p.hub_id = ? AND p.account_id = ? AND j.status IN " STARTING_SQL "),"
	" (SELECT TIMESTAMPDIFF(MICROSECOND, MAX(issued_at), NOW(3)) DIV 1000 FROM hub_commands"
	"  WHERE hub_id = ? AND account_id = ? AND action = 'print.start'"
	"  AND issued_at > NOW(3) - INTERVAL ? SECOND)"
};
/* Queued jobs, highest priority first, then oldest (time_submitted: a retried job queues anew). */
static const struct db_query Q_AD_JOBS = {
	"SELECT j.id, IFNULL(j.printer_id, ''),"
	" IFNULL(NULLIF(f.printer_model_id, ''), IFNULL(f.printer_model_name, '')),"
	" IFNULL(j.product_sku_id, ''), IFNULL(s.filament_type, ''), IFNULL(s.color, ''),"
	" IFNULL(s.hex_code, '')"
	" FROM print_jobs j"
	" LEFT JOIN print_files f ON f.id = j.print_file_id AND f.account_id = j.account_id"
	" LEFT JOIN product_skus s ON s.id = j.product_sku_id AND s.account_id = j.account_id"
	" WHERE j.account_id = ? AND j.status = 'queued'"
	" ORDER BY j.priority DESC, j.time_submitted, j.id LIMIT ?"
};

static void settings_from(struct ad_settings *s, const struct db_res *res)
{
	s->enabled = db_get_int(res, 0, 0, 0) != 0;
	s->max_in_flight = (long)db_get_int(res, 0, 1, AD_DEFAULT_MAX_IN_FLIGHT);
	s->min_gap_s = (long)db_get_int(res, 0, 2, AD_DEFAULT_MIN_GAP_S);
}

enum api_err ad_settings_get(struct db *db, const char *account_id, int lock,
			     struct ad_settings *s)
{
	struct db_res res;
	s->enabled = 0;
	s->max_in_flight = AD_DEFAULT_MAX_IN_FLIGHT;
	s->min_gap_s = AD_DEFAULT_MIN_GAP_S;
	enum api_err err = db_exec(db, lock ? &Q_AD_SETTINGS_LOCK : &Q_AD_SETTINGS,
				   DB_ARGS(DS(account_id)), &res);
	if (err)
		return err;
	if (res.nrows == 1)
		settings_from(s, &res);
	db_res_free(&res);
	return E_OK;
}

enum api_err ad_settings_set(struct db *db, const char *account_id, struct db_arg enabled,
			     struct db_arg max_in_flight, struct db_arg min_gap_s)
{
	return db_exec(db, &Q_AD_SET,
		       DB_ARGS(DS(account_id), enabled, max_in_flight, DI(AD_DEFAULT_MAX_IN_FLIGHT),
			       min_gap_s, DI(AD_DEFAULT_MIN_GAP_S), enabled, max_in_flight,
			       min_gap_s),
		       NULL);
}

enum api_err ad_nudge(struct db *db, const char *account_id)
{
	struct ad_settings s;
	char key[80];
	enum api_err err = ad_settings_get(db, account_id, 0, &s);
	if (err || !s.enabled)
		return err;
	snprintf(key, sizeof key, "dispatch:%s:%lld", account_id, (long long)(util_now_ms() / 1000));
	json_t *payload = json_object();
	err = queue_push(db, QUEUE_DISPATCH, "dispatch.run", account_id, payload, key, 3, NULL);
	json_decref(payload);
	return err;
}

static int hub_index(struct ad_plan *p, const char *id, int add)
{
	for (size_t i = 0; i < p->nhubs; i++)
		if (strcmp(p->hubs[i].id, id) == 0)
			return (int)i;
	if (!add)
		return -1;
	struct ad_hub *h = &p->hubs[p->nhubs];
	memset(h, 0, sizeof *h);
	snprintf(h->id, sizeof h->id, "%s", id);
	h->since_ms = -1;
	return (int)p->nhubs++;
}

/* What keeps printer row i of res from a start (autodisp.h, enum ad_reason). */
static int printer_block(const struct db_res *res, unsigned long i, int hub)
{
	const char *status = db_get(res, i, 7);
	if (hub < 0 || db_get_int(res, i, 9, 0) == 0 || (status && strcmp(status, "offline") == 0))
		return AD_HUB_OFFLINE;
	if (db_get_int(res, i, 6, 0))
		return AD_MAINTENANCE;
	if (db_get_int(res, i, 10, 0) > 0 || !status || strcmp(status, "idle") != 0)
		return AD_ALL_BUSY;
	if (db_get_int(res, i, 8, 1) == 0)
		return AD_BED_NOT_CLEAR;
	if (db_get_int(res, i, 11, 0) > 0)
		return AD_REFUSED;
	return AD_OK;
}

static enum api_err load_printers(struct db *db, const char *account_id, struct ad_plan *p)
{
	struct db_res res;
	enum api_err err = db_exec(db, &Q_AD_PRINTERS,
				   DB_ARGS(DI(AD_REFUSED_BACKOFF_S), DS(account_id)), &res);
	if (err)
		return err;
	p->printers = calloc(res.nrows + 1, sizeof *p->printers);
	p->hubs = calloc(res.nrows + 1, sizeof *p->hubs);
	if (!p->printers || !p->hubs) {
		db_res_free(&res);
		return E_INTERNAL_ERROR;
	}
	for (unsigned long i = 0; i < res.nrows; i++) {
		struct ad_printer *pr = &p->printers[p->nprinters++];
		char hub[UUID_LEN + 1];
		DB_COPY(pr->id, &res, i, 0);
		DB_COPY(hub, &res, i, 1);
		DB_COPY(pr->model, &res, i, 2);
		DB_COPY(pr->ftype, &res, i, 3);
		DB_COPY(pr->color, &res, i, 4);
		DB_COPY(pr->hex, &res, i, 5);
		pr->hub = hub[0] ? hub_index(p, hub, 1) : -1;
		pr->block = printer_block(&res, i, pr->hub);
	}
	db_res_free(&res);
	return E_OK;
}

static enum api_err load_hubs(struct db *db, const char *account_id, struct ad_plan *p)
{
	struct db_res res;
	enum api_err err = db_exec(db, &Q_AD_FLIGHT, DB_ARGS(DS(account_id)), &res);
	if (err)
		return err;
	for (unsigned long i = 0; i < res.nrows; i++) {
		int h = hub_index(p, db_get(&res, i, 0), 0);
		if (h >= 0)
			p->hubs[h].in_flight = (long)db_get_int(&res, i, 1, 0);
	}
	db_res_free(&res);
	err = db_exec(db, &Q_AD_LAST, DB_ARGS(DS(account_id), DI(p->set.min_gap_s + 1)), &res);
	if (err)
		return err;
	for (unsigned long i = 0; i < res.nrows; i++) {
		int h = hub_index(p, db_get(&res, i, 0), 0);
		if (h >= 0)
			p->hubs[h].since_ms = db_get_int(&res, i, 1, -1);
	}
	db_res_free(&res);
	return E_OK;
}

static enum api_err load_jobs(struct db *db, const char *account_id, struct ad_plan *p)
{
	struct db_res res;
	enum api_err err = db_exec(db, &Q_AD_JOBS, DB_ARGS(DS(account_id), DI(AD_MAX_JOBS)), &res);
	if (err)
		return err;
	p->jobs = calloc(res.nrows + 1, sizeof *p->jobs);
	if (!p->jobs) {
		db_res_free(&res);
		return E_INTERNAL_ERROR;
	}
	for (unsigned long i = 0; i < res.nrows; i++) {
		struct ad_job *j = &p->jobs[p->njobs++];
		DB_COPY(j->id, &res, i, 0);
		DB_COPY(j->printer_id, &res, i, 1);
		DB_COPY(j->model, &res, i, 2);
		DB_COPY(j->sku, &res, i, 3);
		DB_COPY(j->ftype, &res, i, 4);
		DB_COPY(j->color, &res, i, 5);
		DB_COPY(j->hex, &res, i, 6);
	}
	db_res_free(&res);
	return E_OK;
}

enum api_err ad_load(struct db *db, const char *account_id, struct ad_plan *p)
{
	memset(p, 0, sizeof *p);
	enum api_err err = ad_settings_get(db, account_id, 0, &p->set);
	if (!err)
		err = load_printers(db, account_id, p);
	if (!err)
		err = load_hubs(db, account_id, p);
	if (!err)
		err = load_jobs(db, account_id, p);
	if (err)
		ad_free(p);
	return err;
}

void ad_free(struct ad_plan *p)
{
	free(p->hubs);
	free(p->printers);
	free(p->jobs);
	memset(p, 0, sizeof *p);
}

int ad_hub_open(const struct ad_settings *s, const struct ad_hub *h)
{
	return h->in_flight < s->max_in_flight &&
	       (h->since_ms < 0 || h->since_ms >= (long long)s->min_gap_s * 1000);
}

/* "#RRGGBB[AA]" or "RRGGBB": the six digits. */
static const char *hex6(const char *h)
{
	return h[0] == '#' ? h + 1 : h;
}

/* The printer's loaded filament fits the job's SKU (no SKU: anything fits): the SKU's filament
 * type, then its colour by hex code when both sides know one, else by name. */
static int filament_fits(const struct ad_job *j, const struct ad_printer *pr)
{
	if (!j->sku[0])
		return 1;
	if (j->ftype[0] && strcasecmp(j->ftype, pr->ftype) != 0)
		return 0;
	if (j->hex[0] && pr->hex[0])
		return strlen(hex6(pr->hex)) >= 6 && strncasecmp(hex6(j->hex), hex6(pr->hex), 6) == 0;
	return !j->color[0] || strcasecmp(j->color, pr->color) == 0;
}

int ad_pick(const struct ad_plan *p, size_t i, enum ad_reason *why)
{
	const struct ad_job *j = &p->jobs[i];
	int best = AD_NO_PRINTER_OF_MODEL, pick = -1;
	if (!p->set.enabled) {
		*why = AD_DISPATCH_DISABLED;
		return -1;
	}
	if (j->printer_id[0]) {
		*why = AD_PRINTER_ASSIGNED;
		return -1;
	}
	for (size_t k = 0; k < p->nprinters; k++) {
		const struct ad_printer *pr = &p->printers[k];
		if (!meta_model_matches(j->model, pr->model))
			continue;
		int r = AD_FILAMENT_MISMATCH;
		if (filament_fits(j, pr)) {
			r = pr->taken ? AD_ALL_BUSY : pr->block;
			if (r == AD_OK && !ad_hub_open(&p->set, &p->hubs[pr->hub]))
				r = AD_STAGGERING;
		}
		if (r < best) {
			best = r;
			pick = (int)k;
		}
	}
	*why = (enum ad_reason)best;
	return best == AD_OK ? pick : -1;
}

void ad_took(struct ad_plan *p, int k)
{
	struct ad_printer *pr = &p->printers[k];
	pr->taken = 1;
	if (pr->hub >= 0) {
		p->hubs[pr->hub].in_flight++;
		p->hubs[pr->hub].since_ms = 0;
	}
}

enum api_err ad_hub_read(struct db *db, const char *account_id, long gap_s, struct ad_hub *h)
{
	struct db_res res;
	enum api_err err = db_exec(db, &Q_AD_HUB,
				   DB_ARGS(DS(h->id), DS(account_id), DS(h->id), DS(account_id),
					   DI(gap_s + 1)),
				   &res);
	if (err)
		return err;
	h->in_flight = (long)db_get_int(&res, 0, 0, 0);
	h->since_ms = db_get_int(&res, 0, 1, -1);
	db_res_free(&res);
	return E_OK;
}
