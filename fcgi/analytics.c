/* analytics.c - GET /analytics/{overview,production,revenue,printers,inventory,failures}.
 *
 * The windowed totals of jobs, orders, failures and material usage are read from the rollups of
 * sql/0014_analytics_rollups.sql (per day and group) and the running totals of
 * sql/0018_analytics_running.sql (per printer and per failure type), which triggers keep exact
 * on every write of their source tables; the live counts, the lists ("recent", low stock, spools)
 * and production with both filters read the source tables through the covering indexes of
 * sql/0013_analytics.sql. Nothing reads the daily_analytics table. An endpoint is a list of
 * sections (a query, the JSON member its rows become, the map of its columns); the handler runs them and derives its summary from their
 * rows in C, with exact integer rounding. docs/analytics.md has the definitions and the choices
 * the spec leaves open (window defaults, public printer status, hub liveness, rounding). */
#include "routes.h"

#include "sqlb.h"
#include "sqlfrag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS 86400000LL
#define DEFAULT_DAYS 30
#define LAST_DAY 2932894 /* 9999-12-30: the day after it still has a 4-digit year */

/* ------------------------------------------------------------------------ the window */

/* The request's window: from and to inclusive UTC days, as "YYYY-MM-DD"; hi is the day after
 * to, so a timestamp column is in the window when col >= from AND col < hi (a DATE or DATETIME
 * compared with a date-only text is compared with its midnight). */
struct win {
	char from[11], to[11], hi[11], today[11], tomorrow[11];
	long long days;              /* to - from + 1 */
	const char *printer;         /* printer_id filter or NULL */
	const char *product;         /* product_id filter or NULL */
};

static void day_text(long long day, char out[11])
{
	time_t t = (time_t)(day * 86400);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

static long long floor_div(long long a, long long b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* A date (or a date-time: its UTC day) of the query into *day; 0 absent, 1 present, -1 bad. */
static int query_day(struct req *r, const char *name, long long *day)
{
	const char *v = req_query(r, name);
	int64_t ms;
	if (!v)
		return 0;
	if (util_iso_parse(v, &ms) < 0) {
		req_problem(r, name, "%s must be a date (YYYY-MM-DD) or an ISO-8601 date-time", name);
		return -1;
	}
	*day = floor_div(ms, DAY_MS);
	if (*day < 0 || *day > LAST_DAY) {
		req_problem(r, name, "%s must be between 1970-01-01 and 9999-12-30", name);
		return -1;
	}
	return 1;
}

/* from / to (defaults: to = today, from = 30 days before to), and the filters the endpoint
 * takes. Problems are recorded (422 naming the parameter). */
static int win_parse(struct req *r, struct win *w, int ranged, int printer, int product)
{
	memset(w, 0, sizeof *w);
	long long today = floor_div(util_now_ms(), DAY_MS), from = 0, to = today;
	day_text(today, w->today);
	day_text(today + 1, w->tomorrow);
	if (!ranged)
		return 0;
	int hf = query_day(r, "from", &from), ht = query_day(r, "to", &to);
	if (hf < 0 || ht < 0)
		return -1;
	if (!hf)
		from = to - DEFAULT_DAYS < 0 ? 0 : to - DEFAULT_DAYS;
	if (from > to) {
		req_problem(r, "from", "from must not be after to");
		return -1;
	}
	if (printer && req_query_str(r, "printer_id", 1, 100, &w->printer) < 0)
		return -1;
	if (product && req_query_str(r, "product_id", 1, 100, &w->product) < 0)
		return -1;
	day_text(from, w->from);
	day_text(to, w->to);
	day_text(to + 1, w->hi);
	w->days = to - from + 1;
	return 0;
}

static json_t *win_range(const struct win *w)
{
	return json_pack("{s:s, s:s}", "from", w->from, "to", w->to);
}

/* --------------------------------------------------------------------- sections */

/* One query of an endpoint. Each `?` of head is described by one letter of binds: a the
 * account, f the window's first day, h the day after its last, t today, n tomorrow. The
 * optional filters (with one ? each) go between head and tail when the request has them. when: the filters with which the section
 * runs (W_* bits; 0 = always). */
#define W_NONE 1        /* no filter */
#define W_PRINTER 2     /* printer_id only */
#define W_PRODUCT 4     /* product_id only */
#define W_BOTH 8        /* printer_id and product_id */
struct asec {
	const char *member;          /* member of data its rows become (NULL: the caller's) */
	const char *head;
	const char *binds;
	const char *printer;         /* " AND x.printer_id = ?" or NULL (no such filter) */
	const char *product;
	const char *tail;
	const struct jcol *cols;
	unsigned when;
};

/* Every section runs without index condition pushdown, and the window reads name their covering
 * index (FORCE INDEX). On MariaDB 10.11, once a prepared statement has fetched whole rows of a
 * table (a join by primary key, as GET /jobs does), the next prepared statements on that table
 * may be planned with pushdown or another index and a row lookup per entry instead of reading
 * their covering index alone: four to ten times slower over a large window
 * (docs/analytics.md). */
#define NO_ICP "SET STATEMENT optimizer_switch = 'index_condition_pushdown=off' FOR "

/* Runs s; its rows as a new array (also set as data[s->member] when member is set: then the
 * array is borrowed). NULL with *err set on failure. */
static json_t *sec_run(struct req *r, const struct win *w, const struct asec *s, json_t *data,
		       enum api_err *err)
{
	struct sqlb b;
	struct db_res res;
	sqlb_init(&b, NO_ICP);
	sqlb_add(&b, s->head);
	for (const char *c = s->binds; *c; c++) {
		const char *v = *c == 'a' ? r->account_id : *c == 'f' ? w->from
			      : *c == 'h' ? w->hi : *c == 't' ? w->today : w->tomorrow;
		sqlb_bind(&b, NULL, DS(v));
	}
	if (s->printer && w->printer)
		sqlb_bind(&b, s->printer, DS(w->printer));
	if (s->product && w->product)
		sqlb_bind(&b, s->product, DS(w->product));
	sqlb_add(&b, s->tail);
	*err = sqlb_exec(r->db, &b, &res);
	sqlb_release(&b);
	if (*err)
		return NULL;
	json_t *rows = jhelp_rows(s->cols, &res);
	db_res_free(&res);
	if (!rows) {
		*err = E_INTERNAL_ERROR;
		return NULL;
	}
	if (s->member)
		json_object_set_new(data, s->member, rows);
	return rows;
}

/* Runs every section of a NULL-member-terminated table into data. */
static enum api_err secs_run(struct req *r, const struct win *w, const struct asec *secs,
			     size_t n, json_t *data)
{
	enum api_err err = E_OK;
	for (size_t i = 0; i < n && !err; i++) {
		unsigned state = w->printer && w->product ? W_BOTH : w->printer ? W_PRINTER
				 : w->product ? W_PRODUCT : W_NONE;
		if (secs[i].when && !(secs[i].when & state))
			continue;
		json_t *rows = sec_run(r, w, &secs[i], data, &err);
		if (!secs[i].member)
			json_decref(rows);
	}
	return err;
}
#define SECS_RUN(r, w, secs, data) \
	secs_run((r), (w), (secs), sizeof(secs) / sizeof((secs)[0]), (data))

/* Integer member of an object (0 when absent or null). */
static long long jn(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? (long long)json_integer_value(v)
	       : json_is_real(v) ? (long long)json_real_value(v) : 0;
}

/* Sum of member k over the objects of a. */
static long long jsum(const json_t *a, const char *k)
{
	long long s = 0;
	for (size_t i = 0; i < json_array_size(a); i++)
		s += jn(json_array_get(a, i), k);
	return s;
}

/* num / den rounded half up (num >= 0, den > 0): exact, no floating point. */
static long long div_round(long long num, long long den)
{
	return (2 * num + den) / (2 * den);
}

/* A percentage in tenths, 1 decimal, as the JSON number. */
static json_t *tenths(long long t)
{
	return json_real((double)t / 10.0);
}

/* part / whole x 100 in tenths (half up); dflt tenths when whole is 0. */
static long long pct_tenths(long long part, long long whole, long long dflt)
{
	return whole > 0 ? div_round(1000 * part, whole) : dflt;
}

static enum api_err answer(struct req *r, json_t *data, enum api_err err)
{
	if (err) {
		json_decref(data);
		return err;
	}
	return data ? req_ok(r, data) : E_INTERNAL_ERROR;
}

/* Rows folded by their string member key, in order of first appearance: one object per key
 * value with key and the integer members sums added up. */
static json_t *fold(const json_t *rows, const char *key, const char *const *sums)
{
	json_t *out = json_array(), *idx = json_object();
	for (size_t i = 0; i < json_array_size(rows); i++) {
		const json_t *row = json_array_get(rows, i);
		const char *k = json_string_value(json_object_get(row, key));
		if (!k)
			continue;
		json_t *o = json_object_get(idx, k);
		if (!o) {
			o = json_object();
			json_object_set(o, key, json_object_get(row, key));
			json_array_append_new(out, o);
			json_object_set(idx, k, o);
		}
		for (const char *const *m = sums; *m; m++)
			json_object_set_new(o, *m, json_integer(jn(o, *m) + jn(row, *m)));
	}
	json_decref(idx);
	return out;
}

/* Objects whose first member is a name and second a count: count descending, then name. */
static int count_then_name(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	void *ia = json_object_iter(a), *ib = json_object_iter(b);
	long long ca = json_integer_value(json_object_iter_value(json_object_iter_next(a, ia)));
	long long cb = json_integer_value(json_object_iter_value(json_object_iter_next(b, ib)));
	if (ca != cb)
		return ca > cb ? -1 : 1;
	return strcmp(json_string_value(json_object_iter_value(ia)),
		      json_string_value(json_object_iter_value(ib)));
}

/* Objects by the string of their first member. */
static int first_name(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	return strcmp(json_string_value(json_object_iter_value(json_object_iter(a))),
		      json_string_value(json_object_iter_value(json_object_iter(b))));
}

/* a sorted in place by cmp. */
static void sort_array(json_t *a, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(a);
	json_t **v = n ? malloc(n * sizeof *v) : NULL;
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(a, i));
	qsort(v, n, sizeof *v, cmp);
	json_array_clear(a);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, v[i]);
	free(v);
}
#define sort_by_count(a) sort_array((a), count_then_name)
#define sort_by_name(a) sort_array((a), first_name)

/* The rows of data's "_days" (by day and group) folded into member (by their group key, count
 * descending, then name) and day_member (by date, ascending); "_days" dropped. Returns the
 * groups (borrowed). */
static json_t *fold_days(json_t *data, const char *key, const char *const *sums,
			 const char *const *day_sums, const char *member, const char *day_member)
{
	const json_t *rows = json_object_get(data, "_days");
	json_t *groups = fold(rows, key, sums);
	sort_by_count(groups);
	json_object_set_new(data, member, groups);
	json_object_set_new(data, day_member, fold(rows, "date", day_sums));
	json_object_del(data, "_days");
	return groups;
}

/* Member k of every object of a, thousandths as an integer, becomes member to, a number. */
static void milli_to_number(json_t *a, const char *k, const char *to)
{
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *o = json_array_get(a, i);
		long long v = jn(o, k);
		json_object_del(o, k);
		json_object_set_new(o, to, json_real((double)v / 1000.0));
	}
}

/* Jobs that finished (completed or failed) in [?, ?): the UTC day of
 * COALESCE(time_completed, updated_at), read as two index ranges (docs/analytics.md): jobs with
 * time_completed in the window, and those without one whose updated_at is in it. */
#define FINISHED                                                                            \
	" FROM print_jobs j FORCE INDEX (ix_jobs_an_completed, ix_jobs_an_printer_completed,"  \
	" ix_jobs_an_product_completed) WHERE j.account_id = ? AND j.status IN ('completed', 'failed')"
#define FINISHED_IN FINISHED " AND j.time_completed >= ? AND j.time_completed < ?"
#define FINISHED_UNDATED_IN \
	FINISHED " AND j.time_completed IS NULL AND j.updated_at >= ? AND j.updated_at < ?"

/* ---------------------------------------------------------------------- overview */

/* GET /analytics/overview: live counts of the account (no window). Printers by their public
 * status (as GET /printers shows it), hubs online by the heartbeat rule, tasks open. */
static const struct jcol C_GROUP[] = { { "key", JC_STR }, { "count", JC_INT }, { NULL, 0 } };
static const struct jcol C_COUNTS[] = {
	{ "a", JC_INT }, { "b", JC_INT }, { NULL, 0 }
};
#define LOW_SKU_FROM                                                                        \
	" FROM product_skus s JOIN products p ON p.id = s.product_id AND p.account_id = s.account_id" \
	" WHERE s.account_id = ? AND p.product_type <> 'kit_part' AND s.is_active = 1"          \
	" AND s.stock_level <= s.low_stock_threshold"
static const struct asec OVERVIEW[] = {
	{ "printers", "SELECT " PRINTER_STATUS_SQL ", COUNT(*) FROM printers p"
	  " LEFT JOIN hubs h ON h.id = p.hub_id WHERE p.account_id = ? AND p.is_active = 1",
	  "a", NULL, NULL, " GROUP BY 1", C_GROUP, 0 },
	{ "jobs", "SELECT j.status, COUNT(*) FROM print_jobs j WHERE j.account_id = ?"
	  " AND j.status IN ('queued', 'processing', 'uploaded', 'printing')",
	  "a", NULL, NULL, " GROUP BY j.status", C_GROUP, 0 },
	/* today's finished jobs: the per-day rollup row (UTC day of time_completed, else
	 * updated_at), one row whatever the day's volume */
	{ "today", "SELECT COALESCE(SUM(completed), 0), COALESCE(SUM(failed), 0)"
	  " FROM analytics_job_days WHERE account_id = ? AND kind = 1 AND grp = '' AND day = ?",
	  "at", NULL, NULL, "", C_COUNTS, 0 },
	{ "tasks", "SELECT t.task_type, COUNT(*) FROM worklist_tasks t WHERE t.account_id = ?"
	  " AND t.status IN ('pending', 'in_progress')", "a", NULL, NULL, " GROUP BY t.task_type",
	  C_GROUP, 0 },
	{ "hubs", "SELECT COUNT(*), COALESCE(SUM(" HUB_LIVE_SQL("h") "), 0) FROM hubs h"
	  " WHERE h.account_id = ?", "a", NULL, NULL, "", C_COUNTS, 0 },
	{ "low", "SELECT COUNT(*), 0" LOW_SKU_FROM, "a", NULL, NULL, "", C_COUNTS, 0 },
};

/* {name: count} of every name (0 when absent from the grouped rows), plus total when set. */
static json_t *counts_of(const json_t *rows, const char *const *names, const char *total)
{
	json_t *o = json_object();
	long long sum = 0;
	if (total)
		json_object_set_new(o, total, json_integer(0));
	for (const char *const *n = names; *n; n++)
		json_object_set_new(o, *n, json_integer(0));
	for (size_t i = 0; i < json_array_size(rows); i++) {
		const json_t *row = json_array_get(rows, i);
		const char *k = json_string_value(json_object_get(row, "key"));
		if (k && json_object_get(o, k) && (!total || strcmp(k, total) != 0))
			json_object_set_new(o, k, json_integer(jn(row, "count")));
		sum += jn(row, "count");
	}
	if (total)
		json_object_set_new(o, total, json_integer(sum));
	return o;
}

static const char *const PRINTER_STATES[] = {
	"idle", "printing", "paused", "maintenance", "offline", "error", NULL
};
static const char *const OPEN_JOB_STATES[] = { "queued", "printing", "processing", NULL };
static const char *const TASK_TYPES[] = {
	"collection", "assembly", "filament_change", "maintenance", "quality_check", NULL
};

enum api_err analytics_overview(struct req *r)
{
	struct win w;
	win_parse(r, &w, 0, 0, 0);
	json_t *raw = json_object(), *data = json_object();
	enum api_err err = SECS_RUN(r, &w, OVERVIEW, raw);
	if (!err) {
		const json_t *today = json_array_get(json_object_get(raw, "today"), 0);
		const json_t *hubs = json_array_get(json_object_get(raw, "hubs"), 0);
		const json_t *low = json_array_get(json_object_get(raw, "low"), 0);
		json_t *jobs = counts_of(json_object_get(raw, "jobs"), OPEN_JOB_STATES, "pending");
		json_object_set_new(jobs, "today_completed",
				    json_integer(jn(today, "a")));
		json_object_set_new(jobs, "today_failed",
				    json_integer(jn(today, "b")));
		json_object_set_new(data, "date", json_string(w.today));
		json_object_set_new(data, "printers",
				    counts_of(json_object_get(raw, "printers"), PRINTER_STATES, "total"));
		json_object_set_new(data, "jobs", jobs);
		json_object_set_new(data, "tasks",
				    counts_of(json_object_get(raw, "tasks"), TASK_TYPES, "pending"));
		json_object_set_new(data, "hubs", json_pack("{s:I, s:I}", "total",
							    (json_int_t)jn(hubs, "a"), "online",
							    (json_int_t)jn(hubs, "b")));
		json_object_set_new(data, "alerts",
				    json_pack("{s:I}", "low_stock", (json_int_t)jn(low, "a")));
	}
	json_decref(raw);
	return answer(r, data, err);
}

/* ------------------------------------------------------------- windowed endpoints */

/* An endpoint with a window: its sections (run in order into data, after date_range and a
 * summary placeholder) and the function that derives the summary from their rows (it may
 * reshape them and drop helper members, whose names start with '_'). */
#define F_PRINTER 1u
#define F_PRODUCT 2u
struct aendpoint {
	unsigned filters;
	const struct asec *secs;
	size_t nsecs;
	json_t *(*summary)(json_t *data, const struct win *w);
};
#define ENDPOINT(filters, secs, summary) \
	{ (filters), (secs), sizeof(secs) / sizeof((secs)[0]), (summary) }

static enum api_err endpoint_run(struct req *r, const struct aendpoint *e)
{
	struct win w;
	if (win_parse(r, &w, 1, e->filters & F_PRINTER, e->filters & F_PRODUCT) < 0)
		return E_VALIDATION_ERROR;
	json_t *data = json_object();
	json_object_set_new(data, "date_range", win_range(&w));
	json_object_set_new(data, "summary", json_null());
	enum api_err err = secs_run(r, &w, e->secs, e->nsecs, data);
	json_t *summary = err ? NULL : e->summary(data, &w);
	if (!err && !summary)
		err = E_INTERNAL_ERROR;
	if (summary)
		json_object_set_new(data, "summary", summary);
	return answer(r, data, err);
}

/* -------------------------------------------------------------------- production */

/* Jobs that finished (completed or failed) by their UTC finishing day, and the revenue of the
 * orders by order day (only without a printer or product filter). */
static const struct jcol C_PROD_DAY[] = {
	{ "date", JC_STR }, { "jobs_completed", JC_INT }, { "jobs_failed", JC_INT },
	{ "units_produced", JC_INT }, { "total_print_time_minutes", JC_INT }, { NULL, 0 }
};
static const struct jcol C_DAY_REVENUE[] = {
	{ "date", JC_STR }, { "revenue_cents", JC_INT }, { NULL, 0 }
};
/* The window's order days (the rollup of orders not cancelled or refunded). */
#define ORDER_DAYS                                                                          \
	" FROM analytics_order_days x WHERE x.account_id = ? AND x.day >= ? AND x.day < ?"
/* The window's finished-job days of rollup kind k (1 all, 2 per printer, 3 per product: the
 * filter compares grp). A filter whose printer or product no longer exists matches nothing,
 * as in the source rows, whose reference the foreign key set to NULL without firing the
 * triggers (docs/analytics.md). */
#define JOB_DAYS(k, when, printer, product, tail)                                           \
	{ "_dated", "SELECT x.day, x.completed, x.failed, x.units, x.minutes"                  \
	  " FROM analytics_job_days x WHERE x.account_id = ? AND x.kind = " k                    \
	  " AND x.day >= ? AND x.day < ? AND x.jobs <> 0", "afh", printer, product,             \
	  tail " ORDER BY x.day", C_PROD_DAY, when }
#define EXISTS_IN(table) \
	" AND EXISTS (SELECT 1 FROM " table " e WHERE e.id = x.grp AND e.account_id = x.account_id)"
/* With both filters: the source rows (no rollup per printer and product). */
#define PRODUCTION_DAYS(member, day, where)                                                \
	{ member, "SELECT DATE(" day "), SUM(j.status = 'completed'), SUM(j.status = 'failed'),"  \
	  " SUM(IF(j.status = 'completed', j.number_of_units, 0)),"                              \
	  " SUM(COALESCE(j.actual_print_time_minutes, 0))" where, "afh",                        \
	  " AND j.printer_id = ?", " AND j.product_id = ?", " GROUP BY 1", C_PROD_DAY, W_BOTH }
static const struct asec PRODUCTION[] = {
	JOB_DAYS("1 AND x.grp = ''", W_NONE, NULL, NULL, ""),
	JOB_DAYS("2", W_PRINTER, " AND x.grp = ?", NULL, EXISTS_IN("printers")),
	JOB_DAYS("3", W_PRODUCT, NULL, " AND x.grp = ?", EXISTS_IN("products")),
	PRODUCTION_DAYS("_dated", "j.time_completed", FINISHED_IN),
	PRODUCTION_DAYS("_undated", "j.updated_at", FINISHED_UNDATED_IN),
	{ "_revenue", "SELECT x.day, SUM(x.revenue)" ORDER_DAYS, "afh", NULL, NULL,
	  " GROUP BY x.day HAVING SUM(x.orders) <> 0 ORDER BY x.day", C_DAY_REVENUE, W_NONE },
};

/* The job days and the revenue days (both ascending) merged into one ascending series;
 * revenue NULL (filtered): revenue_cents null in every day. */
static json_t *merge_days(const json_t *jobs, const json_t *revenue)
{
	json_t *out = json_array();
	size_t i = 0, k = 0, nj = json_array_size(jobs), nr = revenue ? json_array_size(revenue) : 0;
	while (i < nj || k < nr) {
		json_t *a = json_array_get(jobs, i);
		const json_t *b = revenue ? json_array_get(revenue, k) : NULL;
		int c = !a ? 1 : !b ? -1 : strcmp(json_string_value(json_object_get(a, "date")),
						  json_string_value(json_object_get(b, "date")));
		json_t *day;
		if (c <= 0) {
			day = json_incref(a);
			i++;
		} else {
			day = json_pack("{s:O, s:i, s:i, s:i, s:i}", "date", json_object_get(b, "date"),
					"jobs_completed", 0, "jobs_failed", 0, "units_produced", 0,
					"total_print_time_minutes", 0);
		}
		json_object_set_new(day, "revenue_cents",
				    !revenue ? json_null()
				    : c >= 0 ? json_integer(jn(b, "revenue_cents")) : json_integer(0));
		if (revenue && c >= 0)
			k++;
		json_array_append_new(out, day);
	}
	return out;
}

static json_t *production_summary(json_t *data, const struct win *w)
{
	(void)w;
	static const char *const SUMS[] = {
		"jobs_completed", "jobs_failed", "units_produced", "total_print_time_minutes", NULL
	};
	json_t *both = json_array();
	json_array_extend(both, json_object_get(data, "_dated"));
	json_array_extend(both, json_object_get(data, "_undated"));
	json_t *jobs = fold(both, "date", SUMS);
	json_decref(both);
	sort_by_name(jobs);
	const json_t *revenue = json_object_get(data, "_revenue"); /* NULL when filtered */
	long long done = jsum(jobs, "jobs_completed"), failed = jsum(jobs, "jobs_failed");
	json_t *s = json_pack("{s:I, s:I, s:o, s:I, s:I, s:o}",
			      "jobs_completed", (json_int_t)done, "jobs_failed", (json_int_t)failed,
			      "completion_rate", tenths(pct_tenths(done, done + failed, 0)),
			      "units_produced", (json_int_t)jsum(jobs, "units_produced"),
			      "total_print_time_hours",
			      (json_int_t)div_round(jsum(jobs, "total_print_time_minutes"), 60),
			      "revenue_cents",
			      revenue ? json_integer(jsum(revenue, "revenue_cents")) : json_null());
	json_object_set_new(data, "daily", merge_days(jobs, revenue));
	json_decref(jobs);
	json_object_del(data, "_revenue");
	json_object_del(data, "_dated");
	json_object_del(data, "_undated");
	return s;
}

/* ----------------------------------------------------------------------- revenue */

static const struct jcol C_DAY_PLATFORM[] = {
	{ "date", JC_STR }, { "platform", JC_STR }, { "revenue_cents", JC_INT }, { "orders", JC_INT },
	{ NULL, 0 }
};
/* One read of the window's orders, by day and platform; both lists are folded from it. */
static const struct asec REVENUE[] = {
	{ "_days", "SELECT x.day, x.platform, x.revenue, x.orders" ORDER_DAYS, "afh", NULL, NULL,
	  " AND x.orders <> 0 ORDER BY x.day", C_DAY_PLATFORM, 0 },
};

static json_t *revenue_summary(json_t *data, const struct win *w)
{
	(void)w;
	static const char *const SUMS[] = { "revenue_cents", "orders", NULL };
	static const char *const DAY_SUMS[] = { "revenue_cents", NULL };
	const json_t *p = fold_days(data, "platform", SUMS, DAY_SUMS, "by_platform", "daily");
	long long total = jsum(p, "revenue_cents"), n = jsum(p, "orders");
	return json_pack("{s:I, s:I, s:I}", "total_revenue_cents", (json_int_t)total, "order_count",
			 (json_int_t)n, "average_order_value",
			 (json_int_t)(n ? div_round(total, n) : 0));
}

/* ---------------------------------------------------------------------- printers */

/* The totals of the window from the running totals of kind k (sql/0018_analytics_running.sql,
 * docs/analytics.md "Running totals"), per group (r.sub): the group's latest row before the day
 * after the window minus its latest row before the window's first day, sign m.s. The latest rows
 * come from a loose index scan (a few index dives per group, whatever the length of the window
 * and of the history), which MariaDB 10.11 plans only when the key's leading columns are ranges,
 * not equalities: hence BETWEEN over one value. Binds "aahaafa"; cols sums of m.s * r.<column>. */
#define RUNNING_LATEST(k, sign)                                                              \
	"SELECT sub, MAX(day) d, " sign " s FROM analytics_running WHERE account_id BETWEEN ? AND ?" \
	" AND kind BETWEEN " k " AND " k " AND day < ? GROUP BY account_id, kind, sub"
#define RUNNING(k, cols)                                                                     \
	"SELECT r.sub, " cols " FROM (" RUNNING_LATEST(k, "1") " UNION ALL "                    \
	RUNNING_LATEST(k, "-1") ") m STRAIGHT_JOIN analytics_running r ON r.account_id = ? AND"    \
	" r.kind = " k " AND r.sub = m.sub AND r.day = m.d"
#define RUNNING_BINDS "aahaafa"

/* Active printers by name; their jobs by submission day and failures by creation day in the
 * window, per printer from the running totals (kind 1), matched here by id. */
static const struct jcol C_PRINTER[] = {
	{ "id", JC_STR }, { "name", JC_STR }, { "model", JC_STR }, { "status", JC_STR },
	{ "in_maintenance", JC_BOOL }, { NULL, 0 }
};
static const struct jcol C_PRINTER_TOTALS[] = {
	{ "id", JC_STR }, { "total_jobs", JC_INT }, { "completed", JC_INT }, { "failed", JC_INT },
	{ "minutes", JC_INT }, { "failure_count", JC_INT }, { NULL, 0 }
};
static const struct asec PRINTERS[] = {
	{ "printers", "SELECT p.id, p.name, p.model, " PRINTER_STATUS_SQL ", p.in_maintenance"
	  " FROM printers p LEFT JOIN hubs h ON h.id = p.hub_id WHERE p.account_id = ?"
	  " AND p.is_active = 1", "a", NULL, NULL, " ORDER BY p.name, p.id", C_PRINTER, 0 },
	{ "_totals", RUNNING("1", "SUM(m.s * r.jobs), SUM(m.s * r.completed), SUM(m.s * r.failed),"
	  " SUM(m.s * r.minutes), SUM(m.s * r.failures)"), RUNNING_BINDS, NULL, NULL,
	  " GROUP BY r.sub", C_PRINTER_TOTALS, 0 },
};

/* {id: row} of rows (borrowed rows). */
static json_t *by_id(const json_t *rows)
{
	json_t *m = json_object();
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i);
		const char *id = json_string_value(json_object_get(row, "id"));
		if (id)
			json_object_set(m, id, row);
	}
	return m;
}

static json_t *printers_summary(json_t *data, const struct win *w)
{
	json_t *totals = by_id(json_object_get(data, "_totals"));
	const json_t *rows = json_object_get(data, "printers");
	long long window_min = w->days * 1440, util_sum = 0, rate_sum = 0, total_jobs = 0, hours = 0;
	size_t n = json_array_size(rows);
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(rows, i);
		const char *id = json_string_value(json_object_get(p, "id"));
		const json_t *j = json_object_get(totals, id ? id : "");
		long long total = jn(j, "total_jobs"), done = jn(j, "completed");
		long long minutes = jn(j, "minutes");
		long long rate = pct_tenths(done, total, 1000), util = pct_tenths(minutes, window_min, 0);
		if (util > 1000)
			util = 1000;
		long long h = div_round(minutes, 60);
		json_object_set_new(p, "total_jobs", json_integer(total));
		json_object_set_new(p, "completed", json_integer(done));
		json_object_set_new(p, "failed", json_integer(jn(j, "failed")));
		json_object_set_new(p, "failure_count", json_integer(jn(j, "failure_count")));
		json_object_set_new(p, "success_rate", tenths(rate));
		json_object_set_new(p, "total_print_hours", json_integer(h));
		json_object_set_new(p, "utilization_percent", tenths(util));
		util_sum += util;
		rate_sum += rate;
		total_jobs += total;
		hours += h;
	}
	json_decref(totals);
	json_object_del(data, "_totals");
	return json_pack("{s:I, s:o, s:o, s:I, s:I}", "total_printers", (json_int_t)n,
			 "average_utilization", tenths(n ? div_round(util_sum, (long long)n) : 0),
			 "average_success_rate", tenths(n ? div_round(rate_sum, (long long)n) : 1000),
			 "total_jobs", (json_int_t)total_jobs, "total_print_hours", (json_int_t)hours);
}

/* --------------------------------------------------------------------- inventory */

static const struct jcol C_LOW_SKU[] = {
	{ "id", JC_STR }, { "sku", JC_STR }, { "color", JC_STR }, { "stock_level", JC_INT },
	{ "low_stock_threshold", JC_INT }, { "product_name", JC_STR }, { NULL, 0 }
};
static const struct jcol C_SPOOL[] = {
	{ "type", JC_STR }, { "color", JC_STR }, { "status", JC_STR },
	{ "remaining_grams", JC_NUM }, { "low_threshold", JC_NUM }, { NULL, 0 }
};
static const struct jcol C_USAGE[] = {
	{ "date", JC_STR }, { "material_type", JC_STR }, { "milli", JC_INT }, { NULL, 0 }
};
static const struct asec INVENTORY[] = {
	{ "low_stock_items", "SELECT s.id, s.sku, s.color, s.stock_level, s.low_stock_threshold,"
	  " p.name" LOW_SKU_FROM, "a", NULL, NULL, " ORDER BY s.stock_level, s.sku, s.id LIMIT 20",
	  C_LOW_SKU, 0 },
	{ "filament_inventory", "SELECT f.type, f.color, f.status, f.remaining_grams,"
	  " f.low_threshold FROM filament_inventory f WHERE f.account_id = ?", "a", NULL, NULL,
	  " ORDER BY f.remaining_grams, f.id", C_SPOOL, 0 },
	/* one read of the window's usage rollup, by day and type, in exact thousandths */
	{ "_days", "SELECT x.day, x.material_type, CAST(x.amount * 1000 AS SIGNED)"
	  " FROM analytics_usage_days x WHERE x.account_id = ? AND x.day >= ? AND x.day < ?"
	  " AND x.entries <> 0", "afh", NULL, NULL, " ORDER BY x.day", C_USAGE, 0 },
	{ "_low", "SELECT COUNT(*), 0" LOW_SKU_FROM, "a", NULL, NULL, "", C_COUNTS, 0 },
};

static json_t *inventory_summary(json_t *data, const struct win *w)
{
	(void)w;
	long long low_spools = 0;
	const json_t *spools = json_object_get(data, "filament_inventory");
	for (size_t i = 0; i < json_array_size(spools); i++) {
		const char *st = json_string_value(json_object_get(json_array_get(spools, i), "status"));
		low_spools += st && (!strcmp(st, "low") || !strcmp(st, "out_of_stock"));
	}
	static const char *const SUMS[] = { "milli", NULL };
	json_t *types = fold_days(data, "material_type", SUMS, SUMS, "material_usage", "usage_trend");
	milli_to_number(types, "milli", "total_usage");
	milli_to_number(json_object_get(data, "usage_trend"), "milli", "usage");
	long long low = jn(json_array_get(json_object_get(data, "_low"), 0), "a");
	json_object_del(data, "_low");
	return json_pack("{s:I, s:I, s:I}", "low_stock_skus", (json_int_t)low,
			 "low_filament_spools", (json_int_t)low_spools, "total_material_types",
			 (json_int_t)json_array_size(json_object_get(data, "material_usage")));
}

/* ---------------------------------------------------------------------- failures */

static const struct jcol C_FAIL_TYPE[] = {
	{ "failure_type", JC_STR }, { "count", JC_INT }, { "resolved", JC_INT }, { NULL, 0 }
};
static const struct jcol C_FAIL_DAY[] = { { "date", JC_STR }, { "count", JC_INT }, { NULL, 0 } };
static const struct jcol C_BY_PRINTER[] = {
	{ "printer_id", JC_STR }, { "printer_name", JC_STR }, { "count", JC_INT }, { NULL, 0 }
};
static const struct jcol C_FAILURE[] = {
	{ "id", JC_STR }, { "printer_id", JC_STR }, { "printer_name", JC_STR },
	{ "print_job_id", JC_STR }, { "file_name", JC_STR }, { "failure_type", JC_STR },
	{ "failure_reason", JC_STR }, { "error_code", JC_STR }, { "progress_at_failure", JC_INT },
	{ "print_time_at_failure", JC_INT }, { "layer_at_failure", JC_INT },
	{ "resolved_at", JC_TIME }, { "created_at", JC_TIME }, { NULL, 0 }
};
#define FAILURES_WINDOW                                                                       \
	" WHERE f.account_id = ? AND f.created_at >= ? AND f.created_at < ?"
#define FAILURE_PRINTER \
	" LEFT JOIN printers p ON p.id = f.printer_id AND p.account_id = f.account_id"
#define F_PRINTER_COND " AND f.printer_id = ?"
/* The window's failure rollup rows of kind k (1 by type; 2 by printer and type, grp the
 * printer). */
#define FAILURE_DAYS(k)                                                                      \
	" FROM analytics_failure_days x WHERE x.account_id = ? AND x.kind = " k                   \
	" AND x.day >= ? AND x.day < ? AND x.failures <> 0"
/* by_type (with the resolved counts of the summary) and daily_trend, each summed by the
 * database from the rows by day and type; with printer_id, the printer's rows (none when it no
 * longer exists: see JOB_DAYS) */
#define FAILURE_SUMS(member, what, k, printer, tail, cols, when)                             \
	{ member, "SELECT " what FAILURE_DAYS(k), "afh", printer, NULL, tail, cols, when }
#define BY_TYPE "x.sub, SUM(x.failures), SUM(x.resolved)"
#define BY_DAY "x.day, SUM(x.failures)"
static const struct asec FAILURES[] = {
	{ "by_type", RUNNING("2", "SUM(m.s * r.failures) n, SUM(m.s * r.resolved)"), RUNNING_BINDS,
	  NULL, NULL, " GROUP BY r.sub HAVING n <> 0", C_FAIL_TYPE, W_NONE },
	FAILURE_SUMS("by_type", BY_TYPE, "2", " AND x.grp = ?",
		     EXISTS_IN("printers") " GROUP BY x.sub", C_FAIL_TYPE, W_PRINTER),
	FAILURE_SUMS("daily_trend", "x.day, x.failures", "5 AND x.grp = ''", NULL, " ORDER BY x.day",
		     C_FAIL_DAY, W_NONE),
	FAILURE_SUMS("daily_trend", BY_DAY, "2", " AND x.grp = ?",
		     EXISTS_IN("printers") " GROUP BY x.day ORDER BY x.day", C_FAIL_DAY, W_PRINTER),
	/* the 10 largest groups by printer; the failures of a printer that no longer exists are
	 * those without printer (its foreign key set them to NULL) */
	{ "by_printer", "SELECT IF(p.id IS NULL, NULL, y.sub) g, MAX(p.name), SUM(y.n) n FROM ("
	  RUNNING("1", "SUM(m.s * r.failures) n") " GROUP BY r.sub) y LEFT JOIN printers p"
	  " ON p.id = y.sub AND p.account_id = ?", RUNNING_BINDS "a", NULL, NULL,
	  " GROUP BY g HAVING n <> 0 ORDER BY n DESC, g LIMIT 10", C_BY_PRINTER, W_NONE },
	{ "by_printer", "SELECT x.grp, MAX(p.name), SUM(x.failures) n FROM analytics_failure_days x"
	  " JOIN printers p ON p.id = x.grp AND p.account_id = x.account_id WHERE x.account_id = ?"
	  " AND x.kind = 2 AND x.day >= ? AND x.day < ?", "afh", " AND x.grp = ?", NULL,
	  " GROUP BY x.grp HAVING n <> 0", C_BY_PRINTER, W_PRINTER },
	{ "recent", "SELECT f.id, f.printer_id, p.name, f.print_job_id, j.file_name, f.failure_type,"
	  " f.failure_reason, f.error_code, f.progress_at_failure, f.print_time_at_failure,"
	  " f.layer_at_failure, f.resolved_at, f.created_at FROM printer_failures f" FAILURE_PRINTER
	  " LEFT JOIN print_jobs j ON j.id = f.print_job_id AND j.account_id = f.account_id"
	  FAILURES_WINDOW, "afh", F_PRINTER_COND, NULL,
	  " ORDER BY f.created_at DESC, f.id DESC LIMIT 20", C_FAILURE, 0 },
};

static json_t *failures_summary(json_t *data, const struct win *w)
{
	(void)w;
	json_t *types = json_object_get(data, "by_type");
	sort_by_count(types);
	long long total = jsum(types, "count"), resolved = jsum(types, "resolved");
	for (size_t i = 0; i < json_array_size(types); i++)
		json_object_del(json_array_get(types, i), "resolved");
	return json_pack("{s:I, s:I, s:I, s:o}", "total_failures", (json_int_t)total, "resolved",
			 (json_int_t)resolved, "unresolved", (json_int_t)(total - resolved),
			 "resolution_rate", tenths(pct_tenths(resolved, total, 1000)));
}

/* ------------------------------------------------------------------------ routes */

static const struct aendpoint EP_PRODUCTION = ENDPOINT(F_PRINTER | F_PRODUCT, PRODUCTION,
						       production_summary);
static const struct aendpoint EP_REVENUE = ENDPOINT(0, REVENUE, revenue_summary);
static const struct aendpoint EP_PRINTERS = ENDPOINT(0, PRINTERS, printers_summary);
static const struct aendpoint EP_INVENTORY = ENDPOINT(0, INVENTORY, inventory_summary);
static const struct aendpoint EP_FAILURES = ENDPOINT(F_PRINTER, FAILURES, failures_summary);

enum api_err analytics_production(struct req *r) { return endpoint_run(r, &EP_PRODUCTION); }
enum api_err analytics_revenue(struct req *r) { return endpoint_run(r, &EP_REVENUE); }
enum api_err analytics_printers(struct req *r) { return endpoint_run(r, &EP_PRINTERS); }
enum api_err analytics_inventory(struct req *r) { return endpoint_run(r, &EP_INVENTORY); }
enum api_err analytics_failures(struct req *r) { return endpoint_run(r, &EP_FAILURES); }
