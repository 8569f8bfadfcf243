/* t_analytics.c - GET /analytics/{overview,production,revenue,printers,inventory,failures}:
 * every figure of every endpoint against a direct SQL computation over the source tables of a
 * mixed history built by SQL (jobs in every status across days and printers, some finished
 * without time_completed, failures resolved or not, orders in every status and platform,
 * material usage, SKUs and spools, hubs, tasks), with rows on both sides of each window edge;
 * a second account with another history in the same days (no figure may move); the filters;
 * the window (defaults, date-times, bad dates and ranges: 422 naming the parameter); no key
 * member with cost, profit, margin or price in it, nor the resolver, resolution or account;
 * scopes. The figures are read from rollups kept by triggers (docs/analytics.md "Rollups"):
 * test_rollups changes a third history by every path (API completion and cancellation, order
 * status changes, backdated SQL edits, deletions of rows, a printer, a product, a kit) and after
 * each step compares every figure over six windows (each way of reading months and days) and
 * runs apf-admin analytics verify. The expected figures are computed here from their
 * definitions over the source tables, not from the rollups or the queries of fcgi/analytics.c. */
#include "cases.h"

#include "apitest.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#define BIG 32768
#define WIN "from=2026-03-01&to=2026-03-10"
#define WIN_FROM "2026-03-01"
#define WIN_HI "2026-03-11"
#define WIN_DAYS 10

/* ------------------------------------------------------------------------ fixture history */

struct hist {
	struct tenant t;
	char printer[5][FX_ID];    /* Alpha idle, Beta printing (live hub), Gamma inactive, Delta
				    * maintenance, Epsilon idle on a stale hub (public: offline) */
	char product[2][FX_ID];
	char hub[2][FX_ID];
};

static const struct db_query Q_HUB = {
	"INSERT INTO hubs (id, account_id, name, is_online, last_seen_at) VALUES"
	" (?, ?, 'hub', ?, IF(? = 1, NOW(3), NOW(3) - INTERVAL 1 HOUR))"
};
static const struct db_query Q_PRINTER = {
	"INSERT INTO printers (id, account_id, hub_id, name, model, status, in_maintenance, is_active,"
	" ip_address, serial_number, access_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '10.0.0.9',"
	" 'SERIAL-X', 'ACCESS-X')"
};
static const struct db_query Q_PRODUCT = {
	"INSERT INTO products (id, account_id, name) VALUES (?, ?, ?)"
};
/* 25 SKUs of the first product: 22 at or below their threshold (stock 0..3, threshold 5),
 * 2 above it, 1 inactive and low; all with a price. (And a low SKU of a kit part below.) */
static const struct db_query Q_SKUS = {
	"INSERT INTO product_skus (id, account_id, product_id, sku, color, stock_level,"
	" low_stock_threshold, is_active, price)"
	" SELECT UUID(), ?, ?, CONCAT('AN-', ?, '-', LPAD(seq, 2, '0')), ELT(1 + seq % 3, 'Red',"
	"  'Blue', 'Green'), IF(seq IN (22, 23), 50, (seq * ?) % 4), 5, seq <> 24, 987654"
	" FROM seq_0_to_24"
};
static const struct db_query Q_KIT_PART_SKU = {
	"INSERT INTO products (id, account_id, name, product_type) VALUES (?, ?, CONCAT('Part ', ?),"
	" 'kit_part')"
};
static const struct db_query Q_KIT_SKU = {
	"INSERT INTO product_skus (id, account_id, product_id, sku, color, stock_level,"
	" low_stock_threshold) VALUES (UUID(), ?, ?, CONCAT('KP-', ?), 'Red', 0, 5)"
};
static const struct db_query Q_SPOOLS = {
	"INSERT INTO filament_inventory (id, account_id, type, color, brand, location,"
	" remaining_grams, low_threshold, status, cost_per_unit, reorder_link)"
	" SELECT UUID(), ?, ELT(1 + seq % 2, 'PLA', 'PETG'), ELT(1 + seq % 3, 'Red', 'Blue', 'Black'),"
	" 'BrandX', 'Shelf 9', (seq * 137.25 * ?) % 900, IF(seq % 4 = 0, NULL, 100.5),"
	" ELT(1 + seq % 4, 'in_stock', 'low', 'out_of_stock', 'on_order'), 4242, 'http://x'"
	" FROM seq_0_to_6"
};
/* 120 jobs, one every 5 hours from 2026-02-27 00:00 (to 2026-03-21): printers and products by
 * the row number, every status; a finished job without time_completed is bucketed by
 * updated_at. k varies the history per account. */
static const struct db_query Q_JOBS = {
	"INSERT INTO print_jobs (id, account_id, printer_id, product_id, file_name, status,"
	" number_of_units, actual_print_time_minutes, time_submitted, time_started, time_completed,"
	" created_at, updated_at)"
	" SELECT UUID(), ?, ELT(1 + (seq + ?) % 6, ?, ?, ?, ?, ?, NULL), ELT(1 + seq % 3, ?, ?, NULL),"
	" CONCAT('file-', seq, '.3mf'), ELT(1 + (seq * ?) % 8, 'queued', 'processing', 'uploaded',"
	" 'printing', 'paused', 'completed', 'failed', 'cancelled'), 1 + (seq * ?) % 4,"
	" IF(seq % 4 = 0, NULL, seq * 7 * ? + 3), sub, sub + INTERVAL 1 HOUR,"
	" IF(seq % 11 = 0, NULL, sub + INTERVAL seq % 30 HOUR), sub, sub + INTERVAL 19 HOUR"
	" FROM (SELECT seq, TIMESTAMP('2026-02-27 00:00:00') + INTERVAL seq * 5 HOUR sub"
	" FROM seq_0_to_119) x"
};
/* jobs that finished today (the overview's today_completed / today_failed) */
static const struct db_query Q_JOBS_TODAY = {
	"INSERT INTO print_jobs (id, account_id, printer_id, file_name, status, time_completed)"
	" SELECT UUID(), ?, ?, 'today.3mf', IF(seq < ?, 'completed', 'failed'), UTC_TIMESTAMP(3)"
	" FROM seq_0_to_4"
};
/* 40 failures, one every 7 hours from 2026-02-28 18:00 (to 2026-03-11 15:00), on the jobs of
 * the account (some on no printer), a third resolved. */
static const struct db_query Q_FAILURES = {
	"INSERT INTO printer_failures (id, account_id, printer_id, print_job_id, failure_type,"
	" failure_reason, error_code, progress_at_failure, print_time_at_failure, layer_at_failure,"
	" resolution, resolved_at, created_at)"
	" SELECT UUID(), ?, ELT(1 + (seq * ?) % 6, ?, ?, ?, ?, ?, NULL), j.id,"
	" ELT(1 + (seq * ?) % 12, 'nozzle_clog', 'bed_adhesion', 'layer_shift', 'filament_runout',"
	" 'power_loss', 'network_disconnect', 'firmware_error', 'mechanical', 'thermal',"
	" 'user_cancelled', 'unknown', 'other'), CONCAT('reason ', seq), IF(seq % 2, 'E42', NULL),"
	" seq * 2, seq * 3, IF(seq % 3, seq, NULL), IF(seq % 3 = 0, 'secret resolution', NULL),"
	" IF(seq % 3 = 0, TIMESTAMP('2026-03-12 00:00:00'), NULL),"
	" TIMESTAMP('2026-02-28 18:00:00') + INTERVAL seq * 7 HOUR"
	" FROM seq_0_to_39 s LEFT JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY time_submitted, id) n"
	" FROM print_jobs WHERE account_id = ?) j ON j.n = s.seq + 1"
};
/* 48 orders, one every 6 hours from 2026-02-28 12:00, every status and platform; and four on
 * the window's edges (2026-02-28 23:59:59.999 and 2026-03-11 00:00 outside, 2026-03-01 00:00
 * and 2026-03-10 23:59:59.999 inside). */
static const struct db_query Q_ORDERS = {
	"INSERT INTO orders (id, account_id, order_number, platform, customer_name, order_date,"
	" status, total_revenue, shipping_cost, tax_amount, discount_amount)"
	" SELECT UUID(), ?, CONCAT('AN-', seq), ELT(1 + (seq * ?) % 5, 'shopify', 'amazon', 'etsy',"
	" 'manual', 'other'), 'Customer', TIMESTAMP('2026-02-28 12:00:00') + INTERVAL seq * 6 HOUR,"
	" ELT(1 + seq % 8, 'pending', 'processing', 'printed', 'assembled', 'shipped', 'fulfilled',"
	" 'cancelled', 'refunded'), 1000 + seq * 37 * ?, 555, 333, 111 FROM seq_0_to_47"
	" UNION ALL SELECT UUID(), ?, CONCAT('EDGE-', seq), 'etsy', 'Edge', ELT(seq, "
	" '2026-02-28 23:59:59.999', '2026-03-01 00:00:00', '2026-03-10 23:59:59.999',"
	" '2026-03-11 00:00:00'), 'fulfilled', 100000 * seq, 0, 0, 0 FROM seq_1_to_4"
};
static const struct db_query Q_USAGE = {
	"INSERT INTO material_usage_history (id, account_id, material_type, material_id,"
	" usage_amount, usage_date, reason)"
	" SELECT UUID(), ?, ELT(1 + (seq * ?) % 4, 'filament', 'packaging', 'accessory', 'part'),"
	" UUID(), seq * 1.125 + ?, TIMESTAMP('2026-02-28 20:00:00') + INTERVAL seq * 7 HOUR, 'x'"
	" FROM seq_0_to_39"
};
static const struct db_query Q_TASKS = {
	"INSERT INTO worklist_tasks (id, account_id, title, task_type, status)"
	" SELECT UUID(), ?, 'task', ELT(1 + (seq * ?) % 5, 'assembly', 'filament_change',"
	" 'collection', 'maintenance', 'quality_check'), ELT(1 + seq % 4, 'pending', 'in_progress',"
	" 'completed', 'cancelled') FROM seq_0_to_16"
};

/* A history for a new account; k (1 or 3) varies every figure. */
static int hist_make(struct hist *h, int k)
{
	static const char *const NAMES[] = { "Alpha", "Beta", "Gamma", "Delta", "Epsilon" };
	static const char *const STATES[] = { "idle", "printing", "idle", "maintenance", "idle" };
	char tag[9];
	if (fx_tenant(&h->t, "read") < 0)
		return -1;
	const char *a = h->t.account;
	for (int i = 0; i < 2; i++)
		if (fx_uuid(h->hub[i]) < 0 || FX_SQL(Q_HUB, DS(h->hub[i]), DS(a), DI(i == 0), DI(i == 0)) < 0)
			return -1;
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof name, "%s %d", NAMES[i], k);
		if (fx_uuid(h->printer[i]) < 0 ||
		    FX_SQL(Q_PRINTER, DS(h->printer[i]), DS(a),
			   DS(i == 1 ? h->hub[0] : i == 4 ? h->hub[1] : NULL), DS(name),
			   DS(i % 2 ? "P1S" : "X1 Carbon"), DS(STATES[i]), DI(i == 3), DI(i != 2)) < 0)
			return -1;
	}
	for (int i = 0; i < 2; i++) {
		char name[32];
		snprintf(name, sizeof name, "Product %d %s", i, fx_tag(tag));
		if (fx_uuid(h->product[i]) < 0 || FX_SQL(Q_PRODUCT, DS(h->product[i]), DS(a), DS(name)) < 0)
			return -1;
	}
	char kit[FX_ID];
	fx_tag(tag);
	if (FX_SQL(Q_SKUS, DS(a), DS(h->product[0]), DS(tag), DI(k)) < 0 || fx_uuid(kit) < 0 ||
	    FX_SQL(Q_KIT_PART_SKU, DS(kit), DS(a), DS(tag)) < 0 ||
	    FX_SQL(Q_KIT_SKU, DS(a), DS(kit), DS(tag)) < 0 || fx_stock_reconcile(a) < 0)
		return -1;
	if (FX_SQL(Q_SPOOLS, DS(a), DI(k)) < 0 ||
	    FX_SQL(Q_JOBS, DS(a), DI(k), DS(h->printer[0]), DS(h->printer[1]), DS(h->printer[2]),
		   DS(h->printer[3]), DS(h->printer[4]), DS(h->product[0]), DS(h->product[1]), DI(k),
		   DI(k), DI(k)) < 0 ||
	    FX_SQL(Q_JOBS_TODAY, DS(a), DS(h->printer[0]), DI(k + 1)) < 0 ||
	    FX_SQL(Q_FAILURES, DS(a), DI(k), DS(h->printer[0]), DS(h->printer[1]), DS(h->printer[2]),
		   DS(h->printer[3]), DS(h->printer[4]), DI(k), DS(a)) < 0 ||
	    FX_SQL(Q_ORDERS, DS(a), DI(k), DI(k), DS(a)) < 0 ||
	    FX_SQL(Q_USAGE, DS(a), DI(k), DI(k)) < 0 || FX_SQL(Q_TASKS, DS(a), DI(k)) < 0)
		return -1;
	return fx_stock_reconcile(a);
}

/* ------------------------------------------------------------------ response as text */

/* Appends the members of o named in spec ("a,b:1,c:3": a real with 1 or 3 decimals) joined by
 * ','; strings as they are, null as "null", booleans 1/0. */
static void row_text(const json_t *o, const char *spec, char *out, size_t size)
{
	char key[64];
	const char *s = spec;
	while (*s) {
		size_t n = strcspn(s, ",");
		snprintf(key, sizeof key, "%.*s", (int)n, s);
		int dec = -1;
		char *colon = strchr(key, ':');
		if (colon) {
			dec = atoi(colon + 1);
			*colon = '\0';
		}
		const json_t *v = json_object_get(o, key);
		size_t len = strlen(out);
		char *w = out + len;
		size_t left = size - len;
		const char *sep = len && out[len - 1] != ';' && out[len - 1] != ',' ? "," : "";
		if (!v)
			snprintf(w, left, "%s<missing %s>", sep, key);
		else if (json_is_null(v))
			snprintf(w, left, "%snull", sep);
		else if (json_is_string(v))
			snprintf(w, left, "%s%s", sep, json_string_value(v));
		else if (json_is_boolean(v))
			snprintf(w, left, "%s%d", sep, json_is_true(v));
		else if (json_is_integer(v) && dec < 0)
			snprintf(w, left, "%s%lld", sep, (long long)json_integer_value(v));
		else if (dec >= 0 && (json_is_real(v) || json_is_integer(v)))
			snprintf(w, left, "%s%.*f", sep, dec, json_number_value(v));
		else
			snprintf(w, left, "%s<bad %s>", sep, key);
		s += n;
		if (*s == ',')
			s++;
	}
}

/* Rows of array a as "row;row;..." (see row_text). */
static void rows_text(const json_t *a, const char *spec, char *out, size_t size)
{
	out[0] = '\0';
	for (size_t i = 0; i < json_array_size(a); i++) {
		if (i)
			snprintf(out + strlen(out), size - strlen(out), ";");
		row_text(json_array_get(a, i), spec, out, size);
	}
}

/* The member (an object or array) at path "a.b" of data. */
static const json_t *at(const json_t *data, const char *path)
{
	char key[64];
	const json_t *v = data;
	while (*path && v) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof key, "%.*s", (int)n, path);
		v = json_object_get(v, key);
		path += n + (path[n] == '.');
	}
	return v;
}

/* data at path as rows (array) or one row (object) against the first cell of q(args). */
static void same_at(const struct resp *r, const char *path, const char *spec,
		    const struct db_query *q, const struct db_arg *args, unsigned nargs,
		    const char *file, unsigned line)
{
	static char got[BIG], want[BIG];
	const json_t *v = at(rdata(r), path);
	got[0] = '\0';
	if (json_is_array(v))
		rows_text(v, spec, got, sizeof got);
	else if (json_is_object(v))
		row_text(v, spec, got, sizeof got);
	else
		snprintf(got, sizeof got, "<no %s>", path);
	if (fx_sql_text_at(file, line, q, args, nargs, want, sizeof want) == 0) {
		char what[96];
		snprintf(what, sizeof what, "data.%s", path);
		at_str(got, want, what, r, file, line);
	}
}
#define SAME(r, path, spec, q, ...) \
	same_at(&(r), (path), (spec), &(q), DB_ARGS(__VA_ARGS__), __FILE__, __LINE__)

/* ------------------------------------------------------------- expected, computed in SQL */

/* A figure in tenths as "12.3". */
#define TENTHS(x) "CONCAT((" x ") DIV 10, '.', (" x ") MOD 10)"
/* part / whole x 100 in tenths, half up */
#define PCT(part, whole) "((2000 * (" part ") + (" whole ")) DIV (2 * (" whole ")))"
#define ROWS(expr, order) \
	"SELECT COALESCE(GROUP_CONCAT(" expr " ORDER BY " order " SEPARATOR ';'), '')"
#define ISO(c)                                                                             \
	"IFNULL(CONCAT(DATE_FORMAT(" c ", '%Y-%m-%dT%H:%i:%s.'),"                             \
	" LPAD(FLOOR(MICROSECOND(" c ") / 1000), 3, '0'), 'Z'), 'null')"

/* Finished jobs by finishing day and the orders that count as revenue by order day, in
 * [from, hi); args: account, printer (or NULL), product (or NULL), with_revenue (1/0), account,
 * from, hi. */
#define PRODUCTION_UNION                                                                       \
	" FROM (SELECT DATE(COALESCE(time_completed, updated_at)) d, status = 'completed' c,"      \
	" status = 'failed' f, IF(status = 'completed', number_of_units, 0) u,"                  \
	" IFNULL(actual_print_time_minutes, 0) m, 0 r FROM print_jobs WHERE account_id = ?"         \
	" AND status IN ('completed', 'failed') AND (? IS NULL OR printer_id = ?)"                 \
	" AND (? IS NULL OR product_id = ?)"                                                        \
	" UNION ALL SELECT DATE(order_date), 0, 0, 0, 0, total_revenue FROM orders WHERE ? = 1"    \
	" AND account_id = ? AND status NOT IN ('cancelled', 'refunded')) x"                       \
	" WHERE d >= ? AND d < ?"
static const struct db_query Q_PROD_DAILY = {
	ROWS("CONCAT_WS(',', d, c, f, u, m, IF(? = 1, r, 'null'))", "d")
	" FROM (SELECT d, SUM(c) c, SUM(f) f, SUM(u) u, SUM(m) m, SUM(r) r" PRODUCTION_UNION
	" GROUP BY d) y"
};
static const struct db_query Q_PROD_SUMMARY = {
	"SELECT CONCAT_WS(',', c, f, IF(c + f = 0, '0.0', " TENTHS(PCT("c", "c + f")) "), u,"
	" (2 * m + 60) DIV 120, IF(? = 1, r, 'null'))"
	" FROM (SELECT COALESCE(SUM(c), 0) c, COALESCE(SUM(f), 0) f, COALESCE(SUM(u), 0) u,"
	" COALESCE(SUM(m), 0) m, COALESCE(SUM(r), 0) r" PRODUCTION_UNION ") y"
};

static void production_in(const struct resp *r, const struct hist *h, const char *printer,
			  const char *product, const char *from, const char *hi, const char *file,
			  unsigned line)
{
	int rev = !printer && !product;
	const struct db_arg args[] = { DI(rev), DS(h->t.account), DS(printer), DS(printer),
				       DS(product), DS(product), DI(rev), DS(h->t.account),
				       DS(from), DS(hi) };
	same_at(r, "daily", "date,jobs_completed,jobs_failed,units_produced,"
		"total_print_time_minutes,revenue_cents", &Q_PROD_DAILY, args, 10, file, line);
	same_at(r, "summary", "jobs_completed,jobs_failed,completion_rate:1,units_produced,"
		"total_print_time_hours,revenue_cents", &Q_PROD_SUMMARY, args, 10, file, line);
}
#define production_is(r, h, printer, product, file, line) \
	production_in((r), (h), (printer), (product), WIN_FROM, WIN_HI, (file), (line))

#define ORDER_SET                                                                          \
	" FROM orders WHERE account_id = ? AND order_date >= ? AND order_date < ?"            \
	" AND status NOT IN ('cancelled', 'refunded')"
static const struct db_query Q_REV_SUMMARY = {
	"SELECT CONCAT_WS(',', COALESCE(SUM(total_revenue), 0), COUNT(*),"
	" IF(COUNT(*) = 0, 0, (2 * SUM(total_revenue) + COUNT(*)) DIV (2 * COUNT(*))))" ORDER_SET
};
static const struct db_query Q_REV_PLATFORM = {
	ROWS("CONCAT_WS(',', p, s, n)", "s DESC, p")
	" FROM (SELECT CONCAT(platform) p, SUM(total_revenue) s, COUNT(*) n" ORDER_SET
	" GROUP BY platform) x"
};
static const struct db_query Q_REV_DAILY = {
	ROWS("CONCAT_WS(',', d, s)", "d")
	" FROM (SELECT DATE(order_date) d, SUM(total_revenue) s" ORDER_SET " GROUP BY d) x"
};

/* Active printers by name: jobs submitted in the window, failures created in it. args:
 * the window's days, account, from, hi (x5), account. */
#define PRINTER_ROWS                                                                            \
	" FROM (SELECT ? * 1440 wm, p.id, p.name, p.model, IF(p.hub_id IS NOT NULL AND p.status <> 'maintenance'" \
	" AND NOT (h.is_online = 1 AND h.last_seen_at >= NOW(3) - INTERVAL 120 SECOND), 'offline',"  \
	" p.status) st, p.in_maintenance im,"                                                         \
	" (SELECT COUNT(*) FROM print_jobs j WHERE j.account_id = ? AND j.printer_id = p.id"          \
	" AND j.time_submitted >= ? AND j.time_submitted < ?) t,"                                    \
	" (SELECT COUNT(*) FROM print_jobs j WHERE j.account_id = p.account_id AND j.printer_id = p.id" \
	" AND j.status = 'completed' AND j.time_submitted >= ? AND j.time_submitted < ?) c,"          \
	" (SELECT COUNT(*) FROM print_jobs j WHERE j.account_id = p.account_id AND j.printer_id = p.id" \
	" AND j.status = 'failed' AND j.time_submitted >= ? AND j.time_submitted < ?) f,"             \
	" (SELECT IFNULL(SUM(j.actual_print_time_minutes), 0) FROM print_jobs j"                      \
	" WHERE j.account_id = p.account_id AND j.printer_id = p.id AND j.time_submitted >= ?"       \
	" AND j.time_submitted < ?) m,"                                                               \
	" (SELECT COUNT(*) FROM printer_failures x WHERE x.account_id = p.account_id"               \
	" AND x.printer_id = p.id AND x.created_at >= ? AND x.created_at < ?) fc"                   \
	" FROM printers p LEFT JOIN hubs h ON h.id = p.hub_id WHERE p.account_id = ?"              \
	" AND p.is_active = 1) a"
#define SUCCESS "IF(t = 0, 1000, " PCT("c", "t") ")"
#define UTIL "LEAST(1000, " PCT("m", "wm") ")"
static const struct db_query Q_PRINTERS = {
	ROWS("CONCAT_WS(',', id, name, model, st, im, t, c, f, fc, " TENTHS(SUCCESS) ","
	     " (2 * m + 60) DIV 120, " TENTHS(UTIL) ")", "name, id") PRINTER_ROWS
};
static const struct db_query Q_PRINTERS_SUMMARY = {
	"SELECT CONCAT_WS(',', COUNT(*), " TENTHS("IF(COUNT(*) = 0, 0, (2 * SUM(" UTIL ")"
	" + COUNT(*)) DIV (2 * COUNT(*)))") ", " TENTHS("IF(COUNT(*) = 0, 1000, (2 * SUM(" SUCCESS ")"
	" + COUNT(*)) DIV (2 * COUNT(*)))") ", COALESCE(SUM(t), 0),"
	" COALESCE(SUM((2 * m + 60) DIV 120), 0))" PRINTER_ROWS
};

#define FAILURE_SET                                                                            \
	" FROM printer_failures f WHERE f.account_id = ? AND f.created_at >= ? AND f.created_at < ?" \
	" AND (? IS NULL OR f.printer_id = ?)"
static const struct db_query Q_FAIL_SUMMARY = {
	"SELECT CONCAT_WS(',', n, r, n - r, IF(n = 0, '100.0', " TENTHS(PCT("r", "n")) "))"
	" FROM (SELECT COUNT(*) n, COALESCE(SUM(f.resolved_at IS NOT NULL), 0) r" FAILURE_SET ") x"
};
static const struct db_query Q_FAIL_TYPES = {
	ROWS("CONCAT_WS(',', t, n)", "n DESC, t")
	" FROM (SELECT CONCAT(f.failure_type) t, COUNT(*) n" FAILURE_SET " GROUP BY f.failure_type) x"
};
static const struct db_query Q_FAIL_PRINTERS = {
	"SELECT COALESCE(GROUP_CONCAT(CONCAT_WS(',', IFNULL(pid, 'null'), IFNULL(pname, 'null'), n)"
	" ORDER BY n DESC, pid SEPARATOR ';' LIMIT 10), '') FROM (SELECT f.printer_id pid,"
	" (SELECT p.name FROM printers p WHERE p.id = f.printer_id AND p.account_id = f.account_id)"
	" pname, COUNT(*) n" FAILURE_SET " GROUP BY f.printer_id) x"
};
static const struct db_query Q_FAIL_DAILY = {
	ROWS("CONCAT_WS(',', d, n)", "d")
	" FROM (SELECT DATE(f.created_at) d, COUNT(*) n" FAILURE_SET " GROUP BY d) x"
};
static const struct db_query Q_FAIL_RECENT = {
	"SELECT COALESCE(GROUP_CONCAT(CONCAT_WS(',', f.id, IFNULL(f.printer_id, 'null'),"
	" IFNULL((SELECT p.name FROM printers p WHERE p.id = f.printer_id"
	" AND p.account_id = f.account_id), 'null'), IFNULL(f.print_job_id, 'null'),"
	" IFNULL((SELECT j.file_name FROM print_jobs j WHERE j.id = f.print_job_id), 'null'),"
	" f.failure_type, IFNULL(f.failure_reason, 'null'), IFNULL(f.error_code, 'null'),"
	" IFNULL(f.progress_at_failure, 'null'), IFNULL(f.print_time_at_failure, 'null'),"
	" IFNULL(f.layer_at_failure, 'null'), " ISO("f.resolved_at") ", " ISO("f.created_at") ")"
	" ORDER BY f.created_at DESC, f.id DESC SEPARATOR ';' LIMIT 20), '')" FAILURE_SET
};

static void failures_in(const struct resp *r, const struct hist *h, const char *printer,
			const char *from, const char *hi, const char *file, unsigned line)
{
	const struct db_arg args[] = { DS(h->t.account), DS(from), DS(hi), DS(printer),
				       DS(printer) };
	same_at(r, "summary", "total_failures,resolved,unresolved,resolution_rate:1", &Q_FAIL_SUMMARY,
		args, 5, file, line);
	same_at(r, "by_type", "failure_type,count", &Q_FAIL_TYPES, args, 5, file, line);
	same_at(r, "by_printer", "printer_id,printer_name,count", &Q_FAIL_PRINTERS, args, 5, file,
		line);
	same_at(r, "daily_trend", "date,count", &Q_FAIL_DAILY, args, 5, file, line);
	same_at(r, "recent", "id,printer_id,printer_name,print_job_id,file_name,failure_type,"
		"failure_reason,error_code,progress_at_failure,print_time_at_failure,"
		"layer_at_failure,resolved_at,created_at", &Q_FAIL_RECENT, args, 5, file, line);
}
#define failures_are(r, h, printer, file, line) \
	failures_in((r), (h), (printer), WIN_FROM, WIN_HI, (file), (line))

#define LOW_SKUS                                                                                \
	" FROM product_skus s JOIN products p ON p.id = s.product_id WHERE s.account_id = ?"     \
	" AND s.is_active = 1 AND s.stock_level <= s.low_stock_threshold"                         \
	" AND p.product_type <> 'kit_part'"
static const struct db_query Q_LOW_ITEMS = {
	"SELECT COALESCE(GROUP_CONCAT(CONCAT_WS(',', s.id, s.sku, s.color, s.stock_level,"
	" s.low_stock_threshold, p.name) ORDER BY s.stock_level, s.sku, s.id SEPARATOR ';' LIMIT 20),"
	" '')" LOW_SKUS
};
static const struct db_query Q_SPOOL_ROWS = {
	ROWS("CONCAT_WS(',', type, color, status, CAST(remaining_grams AS DECIMAL(14,3)),"
	     " IFNULL(CAST(low_threshold AS DECIMAL(14,3)), 'null'))", "remaining_grams, id")
	" FROM filament_inventory WHERE account_id = ?"
};
#define USAGE_SET \
	" FROM material_usage_history WHERE account_id = ? AND usage_date >= ? AND usage_date < ?"
static const struct db_query Q_USAGE_TYPES = {
	ROWS("CONCAT_WS(',', t, CAST(s AS DECIMAL(14,3)))", "s DESC, t")
	" FROM (SELECT CONCAT(material_type) t, SUM(usage_amount) s" USAGE_SET " GROUP BY t) x"
};
static const struct db_query Q_USAGE_DAILY = {
	ROWS("CONCAT_WS(',', d, CAST(s AS DECIMAL(14,3)))", "d")
	" FROM (SELECT DATE(usage_date) d, SUM(usage_amount) s" USAGE_SET " GROUP BY d) x"
};
static const struct db_query Q_INV_SUMMARY = {
	"SELECT CONCAT_WS(',', (SELECT COUNT(*)" LOW_SKUS "), (SELECT COUNT(*) FROM"
	" filament_inventory WHERE account_id = ? AND status IN ('low', 'out_of_stock')),"
	" (SELECT COUNT(DISTINCT material_type)" USAGE_SET "))"
};

static const struct db_query Q_OVERVIEW = {
	"SELECT CONCAT_WS(',', UTC_DATE(),"
	/* printers: total, then each public status */
	" (SELECT COUNT(*) FROM printers p WHERE p.account_id = a.id AND p.is_active = 1),"
	" (SELECT CONCAT_WS(',', SUM(st = 'idle'), SUM(st = 'printing'), SUM(st = 'paused'),"
	" SUM(st = 'maintenance'), SUM(st = 'offline'), SUM(st = 'error')) FROM (SELECT"
	" IF(p.hub_id IS NOT NULL AND p.status <> 'maintenance' AND NOT (h.is_online = 1"
	" AND h.last_seen_at >= NOW(3) - INTERVAL 120 SECOND), 'offline', p.status) st FROM"
	" printers p LEFT JOIN hubs h ON h.id = p.hub_id WHERE p.account_id = ? AND p.is_active = 1)"
	" x),"
	/* jobs */
	" (SELECT COUNT(*) FROM print_jobs WHERE account_id = a.id AND status IN ('queued',"
	" 'processing', 'uploaded', 'printing')),"
	" (SELECT COUNT(*) FROM print_jobs WHERE account_id = a.id AND status = 'queued'),"
	" (SELECT COUNT(*) FROM print_jobs WHERE account_id = a.id AND status = 'printing'),"
	" (SELECT COUNT(*) FROM print_jobs WHERE account_id = a.id AND status = 'processing'),"
	" (SELECT COUNT(*) FROM print_jobs WHERE account_id = a.id AND status = 'completed'"
	" AND DATE(COALESCE(time_completed, updated_at)) = UTC_DATE()),"
	" (SELECT COUNT(*) FROM print_jobs WHERE account_id = a.id AND status = 'failed'"
	" AND DATE(COALESCE(time_completed, updated_at)) = UTC_DATE()),"
	/* tasks */
	" (SELECT COUNT(*) FROM worklist_tasks WHERE account_id = a.id AND status IN ('pending',"
	" 'in_progress')),"
	" (SELECT CONCAT_WS(',', SUM(tt = 'collection'), SUM(tt = 'assembly'),"
	" SUM(tt = 'filament_change'), SUM(tt = 'maintenance'), SUM(tt = 'quality_check')) FROM"
	" (SELECT CONCAT(t.task_type) tt FROM worklist_tasks t WHERE t.account_id = ?"
	" AND t.status IN ('pending', 'in_progress')) y),"
	/* hubs, alerts */
	" (SELECT COUNT(*) FROM hubs WHERE account_id = a.id),"
	" (SELECT COUNT(*) FROM hubs WHERE account_id = a.id AND is_online = 1"
	" AND last_seen_at >= NOW(3) - INTERVAL 120 SECOND),"
	" (SELECT COUNT(*) FROM product_skus s JOIN products p ON p.id = s.product_id"
	" WHERE s.account_id = a.id AND s.is_active = 1 AND s.stock_level <= s.low_stock_threshold"
	" AND p.product_type <> 'kit_part')) FROM accounts a WHERE a.id = ?"
};

/* ---------------------------------------------------------------------------- checks */

/* No member anywhere in v whose name holds cost / profit / margin / price, nor the resolver,
 * the resolution, the account, the spool's brand / location / reorder link, printer secrets. */
static int clean(const json_t *v, char *bad, size_t size)
{
	static const char *const WORDS[] = { "cost", "profit", "margin", "price", "valuation", NULL };
	static const char *const KEYS[] = { "resolved_by", "resolution", "account_id", "tenant_id",
					    "brand", "location", "reorder_link", "ip_address",
					    "serial_number", "access_code", "daily_analytics", NULL };
	if (json_is_object(v)) {
		for (void *it = json_object_iter((json_t *)v); it;
		     it = json_object_iter_next((json_t *)v, it)) {
			const char *k = json_object_iter_key(it);
			const json_t *x = json_object_iter_value(it);
			for (const char *const *w = WORDS; *w; w++)
				if (strstr(k, *w))
					return snprintf(bad, size, "%s", k), 0;
			for (const char *const *w = KEYS; *w; w++)
				if (!strcmp(k, *w))
					return snprintf(bad, size, "%s", k), 0;
			if (!clean(x, bad, size))
				return 0;
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			if (!clean(json_array_get(v, i), bad, size))
				return 0;
	}
	return 1;
}

static void never_exposed(const struct resp *r, const char *file, unsigned line)
{
	char bad[128] = "";
	at_check(clean(r->json, bad, sizeof bad), r, file, line, "no never-exposed member (%s)", bad);
	at_check(r->body && !strstr(r->body, "secret resolution") && !strstr(r->body, "ACCESS-X") &&
			 !strstr(r->body, "SERIAL-X") && !strstr(r->body, "BrandX") &&
			 !strstr(r->body, "Shelf 9"),
		 r, file, line, "no resolution, printer secret, brand or location value");
}
#define NEVER_EXPOSED(r) never_exposed(&(r), __FILE__, __LINE__)

static const struct db_query Q_HUB_FRESH = {
	"UPDATE hubs SET last_seen_at = NOW(3) WHERE id = ?"
};

static int get(const struct hist *h, const char *path, struct resp *r)
{
	/* the live hub stays live however long the suite runs (a heartbeat) */
	if (fx_sql(&Q_HUB_FRESH, DB_ARGS(DS(h->hub[0]))) < 0)
		return 0;
	api("GET", path, h->t.key, NULL, r);
	return at_expect(r, 200, NULL, __FILE__, __LINE__);
}

/* ----------------------------------------------------------------------------- tests */

static struct hist H, O;  /* the account under test, and another with another history */
static int made;

static int hists(void)
{
	if (!made)
		made = hist_make(&H, 1) == 0 && hist_make(&O, 3) == 0 ? 1 : -1;
	return made == 1 ? 0 : -1;
}

static void test_production(void)
{
	char path[256];
	RESP(r);
	FX(hists());
	const struct hist *hs[] = { &H, &O };
	for (int i = 0; i < 2; i++) {
		if (!get(hs[i], "/analytics/production?" WIN, &r))
			return;
		STR_EQ(jstr(at(rdata(&r), "date_range"), "from"), "2026-03-01", &r);
		STR_EQ(jstr(at(rdata(&r), "date_range"), "to"), "2026-03-10", &r);
		CHECK(json_array_size(at(rdata(&r), "daily")) >= 8, &r, "several days");
		production_is(&r, hs[i], NULL, NULL, __FILE__, __LINE__);
		NEVER_EXPOSED(r);
	}
	/* filters: no revenue (null), jobs of that printer / product only */
	snprintf(path, sizeof path, "/analytics/production?" WIN "&printer_id=%s", H.printer[1]);
	if (get(&H, path, &r)) {
		CHECK(json_is_null(at(rdata(&r), "summary.revenue_cents")), &r, "no revenue");
		production_is(&r, &H, H.printer[1], NULL, __FILE__, __LINE__);
	}
	snprintf(path, sizeof path, "/analytics/production?" WIN "&product_id=%s", H.product[0]);
	if (get(&H, path, &r))
		production_is(&r, &H, NULL, H.product[0], __FILE__, __LINE__);
	snprintf(path, sizeof path, "/analytics/production?" WIN "&printer_id=%s&product_id=%s",
		 H.printer[0], H.product[1]);
	if (get(&H, path, &r))
		production_is(&r, &H, H.printer[0], H.product[1], __FILE__, __LINE__);
	/* another account's printer, an unknown one: zeros */
	snprintf(path, sizeof path, "/analytics/production?" WIN "&printer_id=%s", O.printer[1]);
	if (get(&H, path, &r)) {
		INT_EQ(jint(at(rdata(&r), "summary"), "jobs_completed"), 0, &r);
		INT_EQ((long long)json_array_size(at(rdata(&r), "daily")), 0, &r);
	}
}

static void test_revenue(void)
{
	RESP(r);
	FX(hists());
	const struct hist *hs[] = { &H, &O };
	for (int i = 0; i < 2; i++) {
		if (!get(hs[i], "/analytics/revenue?" WIN, &r))
			return;
		SAME(r, "summary", "total_revenue_cents,order_count,average_order_value", Q_REV_SUMMARY,
		     DS(hs[i]->t.account), DS(WIN_FROM), DS(WIN_HI));
		SAME(r, "by_platform", "platform,revenue_cents,orders", Q_REV_PLATFORM,
		     DS(hs[i]->t.account), DS(WIN_FROM), DS(WIN_HI));
		SAME(r, "daily", "date,revenue_cents", Q_REV_DAILY, DS(hs[i]->t.account), DS(WIN_FROM),
		     DS(WIN_HI));
		NEVER_EXPOSED(r);
	}
	/* the edges: 2026-03-01 00:00 and 2026-03-10 23:59:59.999 in, the others out */
	if (get(&H, "/analytics/revenue?from=2026-03-01&to=2026-03-01", &r))
		SAME(r, "daily", "date,revenue_cents", Q_REV_DAILY, DS(H.t.account), DS("2026-03-01"),
		     DS("2026-03-02"));
	/* no orders: zeros */
	if (get(&H, "/analytics/revenue?from=2020-01-01&to=2020-01-31", &r)) {
		SAME(r, "summary", "total_revenue_cents,order_count,average_order_value", Q_REV_SUMMARY,
		     DS(H.t.account), DS("2020-01-01"), DS("2020-02-01"));
		INT_EQ(jint(at(rdata(&r), "summary"), "average_order_value"), 0, &r);
	}
}

static void test_printers(void)
{
	RESP(r);
	FX(hists());
	const struct hist *hs[] = { &H, &O };
	for (int i = 0; i < 2; i++) {
		const char *a = hs[i]->t.account;
		if (!get(hs[i], "/analytics/printers?" WIN, &r))
			return;
		SAME(r, "printers", "id,name,model,status,in_maintenance,total_jobs,completed,failed,"
		     "failure_count,success_rate:1,total_print_hours,utilization_percent:1", Q_PRINTERS,
		     DI(WIN_DAYS), DS(a), DS(WIN_FROM), DS(WIN_HI), DS(WIN_FROM), DS(WIN_HI), DS(WIN_FROM), DS(WIN_HI),
		     DS(WIN_FROM), DS(WIN_HI), DS(WIN_FROM), DS(WIN_HI), DS(a));
		SAME(r, "summary", "total_printers,average_utilization:1,average_success_rate:1,"
		     "total_jobs,total_print_hours", Q_PRINTERS_SUMMARY, DI(WIN_DAYS), DS(a), DS(WIN_FROM),
		     DS(WIN_HI), DS(WIN_FROM), DS(WIN_HI), DS(WIN_FROM), DS(WIN_HI), DS(WIN_FROM),
		     DS(WIN_HI), DS(WIN_FROM), DS(WIN_HI), DS(a));
		static const char *const KEYS[] = {
			"id", "name", "model", "status", "in_maintenance", "total_jobs", "completed",
			"failed", "failure_count", "success_rate", "total_print_hours",
			"utilization_percent", NULL
		};
		KEYS(json_array_get(at(rdata(&r), "printers"), 0), KEYS, &r);
		INT_EQ((long long)json_array_size(at(rdata(&r), "printers")), 4, &r);
		NEVER_EXPOSED(r);
	}
	/* the public status: Epsilon's hub is stale, so offline; Beta's is live */
	if (get(&H, "/analytics/printers?" WIN, &r)) {
		const json_t *p = at(rdata(&r), "printers");
		STR_EQ(jstr(json_array_get(p, 1), "name"), "Beta 1", &r);
		STR_EQ(jstr(json_array_get(p, 1), "status"), "printing", &r);
		STR_EQ(jstr(json_array_get(p, 3), "name"), "Epsilon 1", &r);
		STR_EQ(jstr(json_array_get(p, 3), "status"), "offline", &r);
	}
	/* a window without jobs: 100 % success, 0 % utilisation */
	if (get(&H, "/analytics/printers?from=2020-01-01&to=2020-01-02", &r)) {
		const json_t *s = at(rdata(&r), "summary");
		CHECK(json_number_value(json_object_get(s, "average_success_rate")) == 100.0, &r,
		      "100 %% success without jobs");
		CHECK(json_number_value(json_object_get(s, "average_utilization")) == 0.0, &r,
		      "0 %% utilisation without jobs");
	}
}

static void test_failures(void)
{
	char path[256];
	RESP(r);
	FX(hists());
	const struct hist *hs[] = { &H, &O };
	for (int i = 0; i < 2; i++) {
		if (!get(hs[i], "/analytics/failures?" WIN, &r))
			return;
		failures_are(&r, hs[i], NULL, __FILE__, __LINE__);
		INT_EQ((long long)json_array_size(at(rdata(&r), "recent")), 20, &r);
		NEVER_EXPOSED(r);
	}
	snprintf(path, sizeof path, "/analytics/failures?" WIN "&printer_id=%s", H.printer[3]);
	if (get(&H, path, &r))
		failures_are(&r, &H, H.printer[3], __FILE__, __LINE__);
	/* none: a resolution rate of 100 */
	if (get(&H, "/analytics/failures?from=2020-01-01&to=2020-01-01", &r))
		CHECK(json_number_value(at(rdata(&r), "summary.resolution_rate")) == 100.0, &r,
		      "100 without failures");
}

static void test_inventory(void)
{
	RESP(r);
	FX(hists());
	const struct hist *hs[] = { &H, &O };
	for (int i = 0; i < 2; i++) {
		const char *a = hs[i]->t.account;
		if (!get(hs[i], "/analytics/inventory?" WIN, &r))
			return;
		SAME(r, "low_stock_items", "id,sku,color,stock_level,low_stock_threshold,product_name",
		     Q_LOW_ITEMS, DS(a));
		SAME(r, "filament_inventory", "type,color,status,remaining_grams:3,low_threshold:3",
		     Q_SPOOL_ROWS, DS(a));
		SAME(r, "material_usage", "material_type,total_usage:3", Q_USAGE_TYPES, DS(a),
		     DS(WIN_FROM), DS(WIN_HI));
		SAME(r, "usage_trend", "date,usage:3", Q_USAGE_DAILY, DS(a), DS(WIN_FROM), DS(WIN_HI));
		SAME(r, "summary", "low_stock_skus,low_filament_spools,total_material_types",
		     Q_INV_SUMMARY, DS(a), DS(a), DS(a), DS(WIN_FROM), DS(WIN_HI));
		/* 22 low SKUs: the list stops at 20, the count does not */
		INT_EQ((long long)json_array_size(at(rdata(&r), "low_stock_items")), 20, &r);
		INT_EQ(jint(at(rdata(&r), "summary"), "low_stock_skus"), 22, &r);
		static const char *const SPOOL_KEYS[] = {
			"type", "color", "status", "remaining_grams", "low_threshold", NULL
		};
		KEYS(json_array_get(at(rdata(&r), "filament_inventory"), 0), SPOOL_KEYS, &r);
		NEVER_EXPOSED(r);
	}
}

static void test_overview(void)
{
	static char got[1024], want[1024];
	RESP(r);
	FX(hists());
	const struct hist *hs[] = { &H, &O };
	for (int i = 0; i < 2; i++) {
		if (!get(hs[i], "/analytics/overview", &r))
			return;
		const json_t *d = rdata(&r);
		static const char *const TOP[] = { "date", "printers", "jobs", "tasks", "hubs", "alerts",
						   NULL };
		KEYS(d, TOP, &r);
		snprintf(got, sizeof got, "%s,", jstr(d, "date") ? jstr(d, "date") : "?");
		row_text(at(d, "printers"), "total,idle,printing,paused,maintenance,offline,error", got,
			 sizeof got);
		strcat(got, ",");
		row_text(at(d, "jobs"), "pending,queued,printing,processing,today_completed,"
			 "today_failed", got, sizeof got);
		strcat(got, ",");
		row_text(at(d, "tasks"), "pending,collection,assembly,filament_change,maintenance,"
			 "quality_check", got, sizeof got);
		strcat(got, ",");
		row_text(at(d, "hubs"), "total,online", got, sizeof got);
		strcat(got, ",");
		row_text(at(d, "alerts"), "low_stock", got, sizeof got);
		if (FX_TEXT(want, Q_OVERVIEW, DS(hs[i]->t.account), DS(hs[i]->t.account),
			    DS(hs[i]->t.account)) == 0)
			STR_EQ(got, want, &r);
		INT_EQ(jint(at(d, "jobs"), "today_completed"), i == 0 ? 2 : 4, &r);
		INT_EQ(jint(at(d, "hubs"), "online"), 1, &r);
		NEVER_EXPOSED(r);
	}
}

/* The window: defaults, date-times (their UTC day), and every bad input. */
static void test_window(void)
{
	char today[11], from[11], path[160];
	time_t now = time(NULL);
	struct tm tm;
	RESP(r);
	FX(hists());
	strftime(today, sizeof today, "%Y-%m-%d", gmtime_r(&now, &tm));
	now -= 30 * 86400;
	strftime(from, sizeof from, "%Y-%m-%d", gmtime_r(&now, &tm));
	static const char *const RANGED[] = { "production", "revenue", "printers", "inventory",
					      "failures" };
	for (size_t i = 0; i < 5; i++) {
		snprintf(path, sizeof path, "/analytics/%s", RANGED[i]);
		if (get(&H, path, &r)) {
			STR_EQ(jstr(at(rdata(&r), "date_range"), "from"), from, &r);
			STR_EQ(jstr(at(rdata(&r), "date_range"), "to"), today, &r);
		}
	}
	/* a date-time counts by its UTC day; only `to`: the 30 days before it */
	if (get(&H, "/analytics/revenue?from=2026-03-01T23:30:00Z&to=2026-03-11T01:00:00%2B02:00", &r)) {
		STR_EQ(jstr(at(rdata(&r), "date_range"), "from"), "2026-03-01", &r);
		STR_EQ(jstr(at(rdata(&r), "date_range"), "to"), "2026-03-10", &r);
		SAME(r, "daily", "date,revenue_cents", Q_REV_DAILY, DS(H.t.account), DS(WIN_FROM),
		     DS(WIN_HI));
	}
	if (get(&H, "/analytics/failures?to=2026-03-31", &r))
		STR_EQ(jstr(at(rdata(&r), "date_range"), "from"), "2026-03-01", &r);
	if (get(&H, "/analytics/printers?from=2026-03-05&to=2026-03-05", &r))
		STR_EQ(jstr(at(rdata(&r), "date_range"), "to"), "2026-03-05", &r);
}

/* ------------------------------------------------------ rollups kept exact by every path */

/* Every windowed figure of h over [from, to] (hi = to + 1 day, days long) against the direct
 * computation, unfiltered and with each filter, and the rollups of the account equal to their
 * recomputation (apf-admin analytics verify). */
static void all_same(const struct hist *h, const char *from, const char *to, const char *hi,
		     int days, const char *file, unsigned line)
{
	char path[256], q[64];
	const char *a = h->t.account;
	RESP(r);
	snprintf(q, sizeof q, "from=%s&to=%s", from, to);
	snprintf(path, sizeof path, "/analytics/production?%s", q);
	if (get(h, path, &r))
		production_in(&r, h, NULL, NULL, from, hi, file, line);
	snprintf(path, sizeof path, "/analytics/production?%s&printer_id=%s", q, h->printer[1]);
	if (get(h, path, &r))
		production_in(&r, h, h->printer[1], NULL, from, hi, file, line);
	snprintf(path, sizeof path, "/analytics/production?%s&product_id=%s", q, h->product[0]);
	if (get(h, path, &r))
		production_in(&r, h, NULL, h->product[0], from, hi, file, line);
	snprintf(path, sizeof path, "/analytics/production?%s&printer_id=%s&product_id=%s", q,
		 h->printer[0], h->product[1]);
	if (get(h, path, &r))
		production_in(&r, h, h->printer[0], h->product[1], from, hi, file, line);
	snprintf(path, sizeof path, "/analytics/revenue?%s", q);
	if (get(h, path, &r)) {
		const struct db_arg args[] = { DS(a), DS(from), DS(hi) };
		same_at(&r, "summary", "total_revenue_cents,order_count,average_order_value",
			&Q_REV_SUMMARY, args, 3, file, line);
		same_at(&r, "by_platform", "platform,revenue_cents,orders", &Q_REV_PLATFORM, args, 3,
			file, line);
		same_at(&r, "daily", "date,revenue_cents", &Q_REV_DAILY, args, 3, file, line);
	}
	snprintf(path, sizeof path, "/analytics/printers?%s", q);
	if (get(h, path, &r)) {
		const struct db_arg args[] = {
			DI(days), DS(a), DS(from), DS(hi), DS(from), DS(hi), DS(from), DS(hi), DS(from),
			DS(hi), DS(from), DS(hi), DS(a)
		};
		same_at(&r, "printers", "id,name,model,status,in_maintenance,total_jobs,completed,"
			"failed,failure_count,success_rate:1,total_print_hours,utilization_percent:1",
			&Q_PRINTERS, args, 13, file, line);
		same_at(&r, "summary", "total_printers,average_utilization:1,average_success_rate:1,"
			"total_jobs,total_print_hours", &Q_PRINTERS_SUMMARY, args, 13, file, line);
	}
	snprintf(path, sizeof path, "/analytics/failures?%s", q);
	if (get(h, path, &r))
		failures_in(&r, h, NULL, from, hi, file, line);
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof path, "/analytics/failures?%s&printer_id=%s", q, h->printer[i]);
		if (get(h, path, &r))
			failures_in(&r, h, h->printer[i], from, hi, file, line);
	}
	snprintf(path, sizeof path, "/analytics/inventory?%s", q);
	if (get(h, path, &r)) {
		const struct db_arg args[] = { DS(a), DS(from), DS(hi) };
		same_at(&r, "material_usage", "material_type,total_usage:3", &Q_USAGE_TYPES, args, 3,
			file, line);
		same_at(&r, "usage_trend", "date,usage:3", &Q_USAGE_DAILY, args, 3, file, line);
	}
	int st = -1;
	json_t *j = fx_admin_exit((const char *const[]){ "analytics", "verify", "--account", a,
							 NULL }, &st);
	at_int(st, 0, "apf-admin analytics verify", NULL, file, line);
	json_decref(j);
}

/* The windows every step is checked over (docs/analytics.md "Months": a month the window covers
 * in part is read from its days in the window, or as the month minus its other days): inside
 * one month (its days; 2026-03-03 to 29: the month minus two ranges); 2026-03-05 to today (each
 * edge month minus its other days); 2026-02-28 to 2026-04-20 (a day of February; April minus
 * its last days, where rows are); 2026-03-20 to 2026-04-10 (the days of both edge months); two
 * whole months. */
static void windows_same(const struct hist *h, const char *file, unsigned line)
{
	char today[11], tomorrow[11];
	time_t now = time(NULL), t0 = 1772668800; /* 2026-03-05 */
	struct tm tm;
	strftime(today, sizeof today, "%Y-%m-%d", gmtime_r(&now, &tm));
	now += 86400;
	strftime(tomorrow, sizeof tomorrow, "%Y-%m-%d", gmtime_r(&now, &tm));
	all_same(h, WIN_FROM, "2026-03-10", WIN_HI, WIN_DAYS, file, line);
	all_same(h, "2026-03-03", "2026-03-29", "2026-03-30", 27, file, line);
	all_same(h, "2026-03-05", today, tomorrow, (int)((now - t0) / 86400), file, line);
	all_same(h, "2026-02-28", "2026-04-20", "2026-04-21", 52, file, line);
	all_same(h, "2026-03-20", "2026-04-10", "2026-04-11", 22, file, line);
	all_same(h, "2026-02-01", "2026-03-31", "2026-04-01", 59, file, line);
}
#define WINDOWS_SAME(h) windows_same((h), __FILE__, __LINE__)

static struct hist M; /* a third history, changed by every path */

static const struct db_query Q_JOB_AT = {
	"INSERT INTO print_jobs (id, account_id, printer_id, product_id, file_name, status,"
	" number_of_units, time_submitted, time_started) VALUES (?, ?, ?, ?, 'rollup.3mf', ?, 3,"
	" '2026-03-05 10:00:00', '2026-03-05 10:00:00')"
};
static const struct db_query Q_PENDING_ORDER = {
	"SELECT id FROM orders WHERE account_id = ? AND status = 'pending'"
	" AND order_date >= '2026-03-02' ORDER BY order_date LIMIT 1"
};
static const struct db_query Q_JOB_FAILS = {
	"UPDATE print_jobs SET status = 'failed', time_completed = '2026-03-08 09:30:00',"
	" actual_print_time_minutes = 77, updated_at = NOW(3) WHERE id = ?"
};
/* backdated edits (SQL standing for any path): a finishing day, an undated job's updated_at,
 * a submission day and printer, an order day, a failure's day and resolution, a usage */
static const struct db_query Q_BACKDATE_JOB = {
	"UPDATE print_jobs SET time_completed = '2026-02-20 10:00:00' WHERE id = ?"
};
static const struct db_query Q_BACKDATE_UNDATED = {
	"UPDATE print_jobs SET updated_at = '2026-03-31 23:59:59.999' WHERE account_id = ?"
	" AND status = 'completed' AND time_completed IS NULL ORDER BY time_submitted LIMIT 1"
};
static const struct db_query Q_MOVE_JOB = {
	"UPDATE print_jobs SET time_submitted = '2026-04-30 23:00:00', printer_id = ?,"
	" number_of_units = 9 WHERE account_id = ? AND status = 'completed' AND printer_id IS NOT NULL"
	" ORDER BY time_submitted LIMIT 1"
};
static const struct db_query Q_BACKDATE_ORDER = {
	"UPDATE orders SET order_date = '2026-02-14 23:00:00', total_revenue = total_revenue + 5"
	" WHERE id = ?"
};
static const struct db_query Q_FAILURE_EDIT = {
	"UPDATE printer_failures SET created_at = '2026-04-01 00:00:00', resolved_at = NOW(3),"
	" failure_type = 'thermal' WHERE account_id = ? AND resolved_at IS NULL"
	" ORDER BY created_at LIMIT 1"
};
static const struct db_query Q_USAGE_EDIT = {
	"UPDATE material_usage_history SET usage_amount = usage_amount + 1.5,"
	" usage_date = '2026-03-31 23:59:59.999', material_type = 'part' WHERE account_id = ?"
	" ORDER BY usage_date LIMIT 1"
};
static const struct db_query Q_DELETE_ROWS[] = {
	{ "DELETE FROM print_jobs WHERE account_id = ? AND status = 'failed' ORDER BY time_submitted"
	  " LIMIT 1" },
	{ "DELETE FROM orders WHERE account_id = ? AND status = 'shipped' ORDER BY order_date LIMIT 1" },
	{ "DELETE FROM printer_failures WHERE account_id = ? ORDER BY created_at DESC LIMIT 1" },
	{ "DELETE FROM material_usage_history WHERE account_id = ? ORDER BY usage_date DESC LIMIT 1" },
};
/* a printer and a product deleted: their jobs' and failures' references become NULL */
static const struct db_query Q_DELETE_PRINTER = { "DELETE FROM printers WHERE id = ?" };
static const struct db_query Q_DELETE_PRODUCT = { "DELETE FROM products WHERE id = ?" };
/* a kit and its part (deleted with the kit by a cascade), a job of the part in the window */
static const struct db_query Q_KIT = {
	"INSERT INTO products (id, account_id, name, product_type) VALUES (?, ?, CONCAT('Kit ', ?),"
	" 'kit')"
};
static const struct db_query Q_PART = {
	"INSERT INTO products (id, account_id, name, product_type, kit_product_id)"
	" VALUES (?, ?, CONCAT('Kit part ', ?), 'kit_part', ?)"
};
static const struct db_query Q_PART_JOB = {
	"INSERT INTO print_jobs (id, account_id, product_id, file_name, status, number_of_units,"
	" time_completed) VALUES (UUID(), ?, ?, 'part.3mf', 'completed', 2, '2026-03-03 03:00:00')"
};

static void test_rollups(void)
{
	char key[FX_KEY], path[160], job[FX_ID], job2[FX_ID], order[FX_ID];
	RESP(r);
	FX(hist_make(&M, 2));
	FX(fx_tenant_key(&M.t, "read,write,control", key));
	const char *a = M.t.account;
	WINDOWS_SAME(&M);
	/* a printing job completed through the API (finishes today) */
	FX(fx_uuid(job));
	FX(FX_SQL(Q_JOB_AT, DS(job), DS(a), DS(M.printer[1]), DS(M.product[0]), DS("printing")));
	WINDOWS_SAME(&M);
	snprintf(path, sizeof path, "/jobs/%s/complete", job);
	api("POST", path, key, "{\"actual_print_time_minutes\": 95}", &r);
	EXPECT(r, 200, NULL);
	WINDOWS_SAME(&M);
	/* a queued job cancelled through the API; another failed (as the worker does) */
	FX(fx_uuid(job2));
	FX(FX_SQL(Q_JOB_AT, DS(job2), DS(a), DS(M.printer[0]), DS(M.product[1]), DS("queued")));
	snprintf(path, sizeof path, "/jobs/%s/cancel", job2);
	api("POST", path, key, NULL, &r);
	EXPECT(r, 200, NULL);
	WINDOWS_SAME(&M);
	FX(FX_SQL(Q_JOB_FAILS, DS(job2)));
	WINDOWS_SAME(&M);
	/* an order cancelled, then back to pending, through the API */
	FX(FX_TEXT(order, Q_PENDING_ORDER, DS(a)));
	snprintf(path, sizeof path, "/orders/%s", order);
	api("PATCH", path, key, "{\"status\": \"cancelled\"}", &r);
	EXPECT(r, 200, NULL);
	WINDOWS_SAME(&M);
	api("PATCH", path, key, "{\"status\": \"pending\"}", &r);
	EXPECT(r, 200, NULL);
	WINDOWS_SAME(&M);
	/* backdated edits */
	FX(FX_SQL(Q_BACKDATE_JOB, DS(job)));
	FX(FX_SQL(Q_BACKDATE_UNDATED, DS(a)));
	FX(FX_SQL(Q_MOVE_JOB, DS(M.printer[3]), DS(a)));
	WINDOWS_SAME(&M);
	FX(FX_SQL(Q_BACKDATE_ORDER, DS(order)));
	FX(FX_SQL(Q_FAILURE_EDIT, DS(a)));
	FX(FX_SQL(Q_USAGE_EDIT, DS(a)));
	WINDOWS_SAME(&M);
	/* deleted rows, a deleted printer and product */
	for (size_t i = 0; i < sizeof Q_DELETE_ROWS / sizeof Q_DELETE_ROWS[0]; i++)
		FX(fx_sql(&Q_DELETE_ROWS[i], DB_ARGS(DS(a))));
	WINDOWS_SAME(&M);
	FX(FX_SQL(Q_DELETE_PRINTER, DS(M.printer[4])));
	FX(FX_SQL(Q_DELETE_PRODUCT, DS(M.product[1])));
	WINDOWS_SAME(&M);
	/* a kit deleted: its part goes by a cascade, the part's job keeps no product */
	char kit[FX_ID], part[FX_ID], tag[9];
	FX(fx_uuid(kit));
	FX(fx_uuid(part));
	fx_tag(tag);
	FX(FX_SQL(Q_KIT, DS(kit), DS(a), DS(tag)));
	FX(FX_SQL(Q_PART, DS(part), DS(a), DS(tag), DS(kit)));
	FX(FX_SQL(Q_PART_JOB, DS(a), DS(part)));
	snprintf(path, sizeof path, "/analytics/production?" WIN "&product_id=%s", part);
	if (get(&M, path, &r)) {
		INT_EQ(jint(at(rdata(&r), "summary"), "units_produced"), 2, &r);
		production_is(&r, &M, NULL, part, __FILE__, __LINE__);
	}
	FX(FX_SQL(Q_DELETE_PRODUCT, DS(kit)));
	if (get(&M, path, &r)) {
		INT_EQ(jint(at(rdata(&r), "summary"), "units_produced"), 0, &r);
		production_is(&r, &M, NULL, part, __FILE__, __LINE__);
	}
	WINDOWS_SAME(&M);
}

static struct case_ctx C;

/* Bad dates and ranges (422 naming the parameter), scopes, no key. */
static const struct case_row ERRORS[] = {
	{ "GET", "/analytics/production?from=2026-13-01", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.from", "!details.to" } },
	{ "GET", "/analytics/production?to=yesterday", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.to", "!details.from" } },
	{ "GET", "/analytics/production?from=2026-03-10&to=2026-03-01", "read", NULL, 422,
	  "VALIDATION_ERROR", { "details.from" } },
	{ "GET", "/analytics/production?printer_id=", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.printer_id" } },
	{ "GET", "/analytics/production?product_id=", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.product_id" } },
	{ "GET", "/analytics/revenue?from=2026-02-30", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.from" } },
	{ "GET", "/analytics/revenue?from=2026-3-1", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.from" } },
	{ "GET", "/analytics/revenue?from=1969-12-31", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.from" } },
	{ "GET", "/analytics/printers?from=2026-03-02&to=2026-03-01", "read", NULL, 422,
	  "VALIDATION_ERROR", { "details.from" } },
	{ "GET", "/analytics/printers?to=2026-03-01T25:00:00Z", "read", NULL, 422,
	  "VALIDATION_ERROR", { "details.to" } },
	{ "GET", "/analytics/inventory?from=&to=", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.from", "details.to" } },
	{ "GET", "/analytics/inventory?to=9999-12-31", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.to" } },
	{ "GET", "/analytics/failures?from=2026-03-01x", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.from" } },
	{ "GET", "/analytics/failures?printer_id=", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.printer_id" } },
	{ "GET", "/analytics/failures?to=2026-01-01&from=2026-01-02", "read", NULL, 422,
	  "VALIDATION_ERROR", { "details.from" } },
	/* overview takes no window: its parameters are ignored */
	{ "GET", "/analytics/overview?from=garbage", "read", NULL, 200, NULL, { "data.date" } },
	/* scopes: read only */
	{ "GET", "/analytics/overview", "write,control", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	{ "GET", "/analytics/production", "write,control", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	{ "GET", "/analytics/revenue", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	{ "GET", "/analytics/printers", "control", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	{ "GET", "/analytics/inventory", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	{ "GET", "/analytics/failures", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	{ "GET", "/analytics/failures", NULL, NULL, 401, "UNAUTHORIZED", { NULL } },
	{ "GET", "/analytics/revenue", NULL, NULL, 401, "UNAUTHORIZED", { NULL } },
	/* success with a read key, and nothing of an empty account */
	{ "GET", "/analytics/revenue", "read", NULL, 200, NULL,
	  { "data.summary.order_count=0", "data.summary.total_revenue_cents=0" } },
	{ "GET", "/analytics/production", "read", NULL, 200, NULL,
	  { "data.summary.jobs_completed=0", "data.summary.completion_rate=0.0",
	    "data.summary.revenue_cents=0" } },
	{ "GET", "/analytics/inventory", "read", NULL, 200, NULL,
	  { "data.summary.low_stock_skus=0", "data.low_stock_items" } },
	{ "GET", "/analytics/failures", "read", NULL, 200, NULL,
	  { "data.summary.total_failures=0", "data.summary.resolution_rate=100.0" } },
	{ "GET", "/analytics/printers", "read", NULL, 200, NULL,
	  { "data.summary.total_printers=0", "data.summary.average_success_rate=100.0" } },
	{ "GET", "/analytics/overview", "read", NULL, 200, NULL,
	  { "data.printers.total=0", "data.jobs.pending=0", "data.hubs.total=0" } },
};

static void test_errors(void)
{
	FX(case_init(&C));
	CASE_RUN(&C, ERRORS);
}

int suite_analytics(void)
{
	CU_pSuite s = CU_add_suite("analytics", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_errors);
	ADD_TEST(s, test_window);
	ADD_TEST(s, test_production);
	ADD_TEST(s, test_revenue);
	ADD_TEST(s, test_printers);
	ADD_TEST(s, test_failures);
	ADD_TEST(s, test_inventory);
	ADD_TEST(s, test_overview);
	ADD_TEST(s, test_rollups);
	return 0;
}
