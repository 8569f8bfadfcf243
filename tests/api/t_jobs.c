/* t_jobs.c - print jobs: POST /jobs (derived fields, every refusal), GET /jobs (order, paging,
 * filters), GET /jobs/history, GET /jobs/stats, GET /jobs/{id}, PATCH /jobs/{id}, and the
 * actions start (refusals in decisions.md order, the print.start command, download token and
 * file URL, hub outcomes with revert), pause, resume, stop, cancel, retry, complete (stock moved
 * exactly once, also under concurrent requests; the worker's job_completed refreshes the
 * account's daily analytics), plus file delivery to hubs (GET /hub/v1/files/{id}: token, hub
 * binding, expiry, Range, SHA-256) and a print failing at 40 %.
 * Hub processes come from the rig (rig.h: the simulator). */
#include "rig.h"

#include "cfg.h"
#include "util.h"

#include <stdlib.h>

static const char *const LIST_KEYS[] = {
	"id", "status", "printer_id", "product_id", "product_sku_id", "product_name", "file_name",
	"number_of_units", "color", "filament_type", "material_type", "progress_percentage",
	"estimated_print_time_minutes", "actual_print_time_minutes", "failure_reason",
	"time_submitted", "time_started", "time_completed", "created_at", "updated_at", NULL
};
static const char *const DETAIL_KEYS[] = {
	"id", "status", "printer_id", "product_id", "product_sku_id", "product_name", "file_name",
	"number_of_units", "color", "filament_type", "material_type", "progress_percentage",
	"estimated_print_time_minutes", "actual_print_time_minutes", "failure_reason",
	"time_submitted", "time_started", "time_completed", "created_at", "updated_at",
	"filament_needed_grams", "printer_name", "printer_model", "sku_name", "print_file_id",
	"requires_assembly", "quantity_per_print", NULL
};
static const char *const ACTION_KEYS[] = { "job_id", "printer_id", "status", "command_id", NULL };
static const char *const STATUSES[] = { "queued", "processing", "uploaded", "printing", "paused",
					"completed", "failed", "cancelled", NULL };

/* ------------------------------------------------------------------------ SQL fixtures */

static const struct db_query Q_PRODUCT = {
	"INSERT INTO products (id, account_id, name) VALUES (?, ?, ?)"
};
static const struct db_query Q_SKU = {
	"INSERT INTO product_skus (id, account_id, product_id, sku, color, filament_type)"
	" VALUES (?, ?, ?, ?, ?, ?)"
};
static const struct db_query Q_JOB_SET = {
	"UPDATE print_jobs SET status = ?, time_started = IF(? = 'queued', NULL,"
	" NOW(3) - INTERVAL 7 MINUTE), progress_percentage = IF(? = 'queued', 0, 30),"
	" time_completed = IF(? IN ('completed', 'failed', 'cancelled'), NOW(3), NULL),"
	" failure_reason = IF(? = 'failed', 'Nozzle clog', NULL) WHERE id = ?"
};
static const struct db_query Q_JOB_TIMES = {
	"UPDATE print_jobs SET created_at = ?, time_completed = ? WHERE id = ?"
};
static const struct db_query Q_JOB_CREATED = { "UPDATE print_jobs SET created_at = ? WHERE id = ?" };
static const struct db_query Q_PRINTER_FLAGS = {
	"UPDATE printers SET is_active = ?, in_maintenance = ? WHERE id = ?"
};
static const struct db_query Q_PRINTER_ACCOUNT = {
	"UPDATE printers SET account_id = ? WHERE id = ?"
};
static const struct db_query Q_JOB_ROW = {
	"SELECT CONCAT_WS('|', status, IFNULL(time_started, '~'), IFNULL(time_completed, '~'),"
	" progress_percentage, IFNULL(failure_reason, '~'), IFNULL(print_file_version_id, '~'))"
	" FROM print_jobs WHERE id = ?"
};
static const struct db_query Q_STOCK = {
	"SELECT CONCAT(ready_stock, '|', quantity_needs_assembly, '|', status)"
	" FROM finished_goods WHERE product_sku_id = ?"
};
static const struct db_query Q_EVENTS = {
	"SELECT COUNT(*) FROM queue_jobs WHERE queue = 'PRINT_EVENTS' AND type = 'job_completed'"
	" AND dedup_key = CONCAT('job_completed:', ?)"
};
/* The account's daily analytics summed over its days (a UTC midnight may split a test's jobs). */
static const struct db_query Q_DAY_SUMS = {
	"SELECT CONCAT(IFNULL(SUM(jobs_completed), 0), '|', IFNULL(SUM(units_produced), 0), '|',"
	" IFNULL(SUM(total_print_time_minutes), 0)) FROM daily_analytics WHERE account_id = ?"
};
static const struct db_query Q_CMD = {
	"SELECT CONCAT(action, '|', expect_ack, '|', status) FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_CMDS_OF_JOB = {
	"SELECT COUNT(*) FROM hub_commands WHERE job_id = ?"
};
static const struct db_query Q_TOKEN_OF = {
	"SELECT CONCAT(hub_id, '|', file_version_id, '|', LENGTH(token_hash), '|',"
	" TIMESTAMPDIFF(SECOND, NOW(3), expires_at) BETWEEN 840 AND 900, '|', IFNULL(command_id, ''))"
	" FROM hub_file_tokens WHERE job_id = ?"
};
/* The uses of the job's latest download token (no row: no token). */
static const struct db_query Q_TOKEN_USES = {
	"SELECT use_count FROM hub_file_tokens WHERE job_id = ? ORDER BY expires_at DESC LIMIT 1"
};
static const struct db_query Q_TOKEN_INSERT = {
	"INSERT INTO hub_file_tokens (token_hash, account_id, hub_id, job_id, file_version_id,"
	" expires_at) VALUES (?, ?, ?, ?, ?, NOW(3) + INTERVAL 15 MINUTE)"
};
static const struct db_query Q_TOKEN_EXPIRE = {
	"UPDATE hub_file_tokens SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE token_hash = ?"
};
static const struct db_query Q_HUB_RELEASE = { "UPDATE hubs SET account_id = NULL WHERE id = ?" };
static const struct db_query Q_FILE_MODEL_NONE = {
	"UPDATE print_files SET printer_model_id = NULL, printer_model_name = NULL WHERE id = ?"
};
static const struct db_query Q_VERSION_NONE = {
	"UPDATE print_file_versions SET is_current_version = 0 WHERE print_file_id = ?"
};

/* Finished goods already on the shelf before a completion (no endpoint of this group sets
 * them). */
static const struct db_query Q_FG_READY = {
	"UPDATE finished_goods SET ready_stock = ? WHERE product_sku_id = ?"
};

#define STOCK_IS(sku, want) DB_IS(&Q_STOCK, sku, want)
#define EVENTS_ARE(job, want) DB_IS(&Q_EVENTS, job, want)
/* GET /skus/{id} answers finished_goods_stock = want. */
#define SKU_FG_IS(key, sku, want) sku_fg_is((key), (sku), (want), __LINE__)

static void sku_fg_is(const char *key, const char *sku, long long want, int line)
{
	char path[96];
	RESP(r);
	snprintf(path, sizeof path, "/skus/%s", sku);
	api("GET", path, key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(jint(rdata(&r), "finished_goods_stock") == want, &r,
		      "line %d: finished_goods_stock %lld, want %lld", line,
		      jint(rdata(&r), "finished_goods_stock"), want);
}

/* A product with one SKU (color, filament type) in the account. */
static int make_sku(const char *account, const char *color, const char *type, char sku[FX_ID],
		    char product[FX_ID])
{
	char tag[9], name[64], code[64];
	util_uuid(product);
	util_uuid(sku);
	snprintf(name, sizeof name, "Widget %s", fx_tag(tag));
	snprintf(code, sizeof code, "WID-%s", tag);
	if (FX_SQL(Q_PRODUCT, DS(product), DS(account), DS(name)) < 0)
		return -1;
	return FX_SQL(Q_SKU, DS(sku), DS(account), DS(product), DS(code), DS(color), DS(type));
}

/* Sets a job's (and optionally its printer's) stored state. */
static int set_job(const char *job, const char *status)
{
	return FX_SQL(Q_JOB_SET, DS(status), DS(status), DS(status), DS(status), DS(status),
		      DS(job));
}

/* --------------------------------------------------------------------------- enqueue */

static void test_create(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char sku[FX_ID], product[FX_ID], body[1024];
	FX(rig_make(g, "Bambu Lab X1 Carbon", 0));
	FX(make_sku(rig_account(g), "Red", "PLA", sku, product));

	/* everything derived: file, SKU, printer copies */
	snprintf(body, sizeof body,
		 "{\"print_file_id\": \"%s\", \"printer_id\": \"%s\", \"product_sku_id\": \"%s\","
		 " \"number_of_units\": 4, \"quantity_per_print\": 2, \"requires_assembly\": true,"
		 " \"unknown_field\": 1}",
		 rig_file(g), rig_printer(g), sku);
	post("/jobs", rig_key_write(g), body, &r);
	if (EXPECT(r, 201, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, DETAIL_KEYS, &r);
		CHECK(util_is_uuid(jstr(d, "id")), &r, "id is a UUID");
		STR_EQ(jstr(d, "status"), "queued", &r);
		STR_EQ(jstr(d, "printer_id"), rig_printer(g), &r);
		STR_EQ(jstr(d, "product_sku_id"), sku, &r);
		STR_EQ(jstr(d, "product_id"), product, &r);
		CHECK(jstr(d, "product_name") && strncmp(jstr(d, "product_name"), "Widget ", 7) == 0,
		      &r, "product_name copied from the SKU's product");
		STR_EQ(jstr(d, "file_name"), "bracket.gcode", &r);
		STR_EQ(jstr(d, "print_file_id"), rig_file(g), &r);
		INT_EQ(jint(d, "number_of_units"), 4, &r);
		INT_EQ(jint(d, "quantity_per_print"), 2, &r);
		INT_EQ(jbool(d, "requires_assembly"), 1, &r);
		STR_EQ(jstr(d, "color"), "Red", &r);              /* SKU before file */
		STR_EQ(jstr(d, "filament_type"), "PLA", &r);
		STR_EQ(jstr(d, "material_type"), "PLA", &r);
		STR_EQ(jstr(d, "sku_name"), "Red (PLA)", &r);
		INT_EQ(jint(d, "progress_percentage"), 0, &r);
		INT_EQ(jint(d, "estimated_print_time_minutes"), 60, &r); /* 3600 s */
		CHECK(json_number_value(json_object_get(d, "filament_needed_grams")) == 12.5, &r,
		      "filament_needed_grams 12.5 from the file");
		STR_EQ(jstr(d, "printer_model"), "Bambu Lab X1 Carbon", &r);
		CHECK(jstr(d, "printer_name") != NULL, &r, "printer_name copied");
		CHECK(is_iso_ms(jstr(d, "time_submitted")) && is_iso_ms(jstr(d, "created_at")), &r,
		      "timestamps");
		CHECK(json_is_null(json_object_get(d, "time_started")), &r, "not started");
		CHECK(!strstr(r.body, "priority") && !strstr(r.body, "submitted_by") &&
			      !strstr(r.body, rig_account(g)),
		      &r, "internal fields never appear");
	}
	/* minimal: unassigned, defaults from the file (no SKU) */
	snprintf(body, sizeof body, "{\"print_file_id\": \"%s\"}", rig_file(g));
	post("/jobs", rig_key(g), body, &r);
	if (EXPECT(r, 201, NULL)) {
		json_t *d = rdata(&r);
		CHECK(json_is_null(json_object_get(d, "printer_id")), &r, "unassigned");
		CHECK(json_is_null(json_object_get(d, "product_sku_id")), &r, "no SKU");
		STR_EQ(jstr(d, "filament_type"), "PETG", &r);
		STR_EQ(jstr(d, "material_type"), "PETG", &r);
		STR_EQ(jstr(d, "color"), "#00AE42", &r);
		INT_EQ(jint(d, "number_of_units"), 1, &r);
		INT_EQ(jint(d, "quantity_per_print"), 1, &r);
		INT_EQ(jbool(d, "requires_assembly"), 0, &r);
		CHECK(json_is_null(json_object_get(d, "sku_name")) &&
			      json_is_null(json_object_get(d, "printer_name")),
		      &r, "no copies without SKU / printer");
	}
	/* body values win over SKU and file */
	snprintf(body, sizeof body,
		 "{\"print_file_id\": \"%s\", \"product_sku_id\": \"%s\", \"color\": \"Blue\","
		 " \"filament_type\": \"ABS\", \"material_type\": \"ASA\", \"printer_id\": null}",
		 rig_file(g), sku);
	post("/jobs", rig_key(g), body, &r);
	if (EXPECT(r, 201, NULL)) {
		STR_EQ(jstr(rdata(&r), "color"), "Blue", &r);
		STR_EQ(jstr(rdata(&r), "filament_type"), "ABS", &r);
		STR_EQ(jstr(rdata(&r), "material_type"), "ASA", &r);
		STR_EQ(jstr(rdata(&r), "sku_name"), "Red (PLA)", &r);
	}
	rig_free(g);
}

static void test_create_errors(void)
{
	struct rig *g = rig_new();
	struct tenant other;
	RESP(r);
	char body[1024], sku[FX_ID], product[FX_ID], mini[FX_ID], osku[FX_ID], oproduct[FX_ID];
	char tag[9], name[64];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(fx_tenant(&other, "read,write"));
	FX(make_sku(rig_account(g), "Red", "PLA", sku, product));
	FX(make_sku(other.account, "Red", "PLA", osku, oproduct));
	snprintf(name, sizeof name, "Mini %s", fx_tag(tag));
	FX(fx_printer(rig_account(g), rig_hub(g), name, "A1 mini", mini));

	post("/jobs", rig_key(g), "{}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "print_file_id"), &r, "names print_file_id");
	post("/jobs", rig_key(g), "{\"print_file_id\": \"\"}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	static const char *const bad[] = {
		"\"number_of_units\": 0", "\"quantity_per_print\": -1", "\"requires_assembly\": 1",
		"\"color\": 5", "\"priority\": 100", "\"submitted_by\": \"x\"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(body, sizeof body, "{\"print_file_id\": \"%s\", %s}", rig_file(g), bad[i]);
		post("/jobs", rig_key(g), body, &r);
		EXPECT(r, 422, "VALIDATION_ERROR");
	}
	snprintf(body, sizeof body, "{\"print_file_id\": \"%s\", \"color\": \"%s\"}", rig_file(g),
		 rep(0, "x", 51));
	post("/jobs", rig_key(g), body, &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	post("/jobs", rig_key(g), "{\"print_file_id\": ", &r);
	EXPECT(r, 400, "INVALID_REQUEST");

	/* unknown / another account's ids → 404 with the entity's code, in order file, printer,
	 * SKU */
	snprintf(body, sizeof body, "{\"print_file_id\": \"%s\", \"printer_id\": \"%s\"}", NO_SUCH_ID,
		 NO_SUCH_ID);
	post("/jobs", rig_key(g), body, &r);
	EXPECT(r, 404, "FILE_NOT_FOUND");
	post("/jobs", rig_key(g), "{\"print_file_id\": \"not-a-uuid\"}", &r);
	EXPECT(r, 404, "FILE_NOT_FOUND");
	snprintf(body, sizeof body, "{\"print_file_id\": \"%s\"}", rig_file(g));
	post("/jobs", other.key, body, &r);
	EXPECT(r, 404, "FILE_NOT_FOUND");
	snprintf(body, sizeof body,
		 "{\"print_file_id\": \"%s\", \"printer_id\": \"%s\", \"product_sku_id\": \"%s\"}",
		 rig_file(g), NO_SUCH_ID, NO_SUCH_ID);
	post("/jobs", rig_key(g), body, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	snprintf(body, sizeof body, "{\"print_file_id\": \"%s\", \"product_sku_id\": \"%s\"}",
		 rig_file(g), osku);
	post("/jobs", rig_key(g), body, &r);
	EXPECT(r, 404, "SKU_NOT_FOUND");
	/* model: file sliced for BL-P001 (X1 Carbon) on an A1 mini */
	snprintf(body, sizeof body, "{\"print_file_id\": \"%s\", \"printer_id\": \"%s\"}",
		 rig_file(g), mini);
	post("/jobs", rig_key(g), body, &r);
	EXPECT(r, 400, "PRINTER_MODEL_MISMATCH");
	/* 404 SKU beats the model check */
	snprintf(body, sizeof body,
		 "{\"print_file_id\": \"%s\", \"printer_id\": \"%s\", \"product_sku_id\": \"%s\"}",
		 rig_file(g), mini, NO_SUCH_ID);
	post("/jobs", rig_key(g), body, &r);
	EXPECT(r, 404, "SKU_NOT_FOUND");
	/* a file that states no model fits any printer */
	FX(FX_SQL(Q_FILE_MODEL_NONE, DS(rig_file(g))));
	snprintf(body, sizeof body, "{\"print_file_id\": \"%s\", \"printer_id\": \"%s\"}",
		 rig_file(g), mini);
	post("/jobs", rig_key(g), body, &r);
	EXPECT(r, 201, NULL);
	/* scope: enqueue needs write */
	post("/jobs", rig_key_control(g), body, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	post("/jobs", rig_key_read(g), body, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	rig_free(g);
}

/* ------------------------------------------------------------------------------ reads */

static void test_list(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char j[5][FX_ID];
	FX(rig_make(g, "X1 Carbon", 0));
	for (int i = 0; i < 5; i++)
		FX(rig_job(g, NULL, NULL, j[i]));
	/* j0 oldest ... j4 newest; j2 and j3 share a timestamp: id decides (descending) */
	static const char *const when[] = { "2026-01-01 10:00:00.000", "2026-01-02 10:00:00.000",
					    "2026-01-03 10:00:00.000", "2026-01-03 10:00:00.000",
					    "2026-01-04 10:00:00.000" };
	for (int i = 0; i < 5; i++)
		FX(FX_SQL(Q_JOB_CREATED, DS(when[i]), DS(j[i])));
	FX(set_job(j[1], "failed"));
	const char *hi = strcmp(j[2], j[3]) > 0 ? j[2] : j[3], *lo = hi == j[2] ? j[3] : j[2];
	const char *want[] = { j[4], hi, lo, j[1], j[0] };

	api("GET", "/jobs", rig_key_read(g), NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 5, &r)) {
		KEYS(json_array_get(rdata(&r), 0), LIST_KEYS, &r);
		for (int i = 0; i < 5; i++)
			STR_EQ(jstr(json_array_get(rdata(&r), (size_t)i), "id"), want[i], &r);
		json_t *m = json_object_get(r.json, "meta");
		INT_EQ(jint(m, "limit"), 50, &r);
		INT_EQ(jint(m, "offset"), 0, &r);
		INT_EQ(jint(m, "count"), 5, &r);
	}
	/* pages never skip or repeat */
	for (int off = 0; off < 5; off += 2) {
		char p[64];
		snprintf(p, sizeof p, "/jobs?limit=2&offset=%d", off);
		api("GET", p, rig_key(g), NULL, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		INT_EQ(jint(json_object_get(r.json, "meta"), "count"), off == 4 ? 1 : 2, &r);
		for (size_t i = 0; i < json_array_size(rdata(&r)); i++)
			STR_EQ(jstr(json_array_get(rdata(&r), i), "id"), want[off + (int)i], &r);
	}
	api("GET", "/jobs?status=failed", rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r))
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), j[1], &r);
	api("GET", "/jobs?status=printing", rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 0, &r);
	static const char *const bad[] = { "/jobs?status=bogus", "/jobs?status=", "/jobs?limit=0",
					   "/jobs?limit=101", "/jobs?offset=-1", "/jobs?limit=x" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		api("GET", bad[i], rig_key(g), NULL, &r);
		EXPECT(r, 422, "VALIDATION_ERROR");
	}
	api("GET", "/jobs?status=bogus", rig_key(g), NULL, &r);
	CHECK(rdetail(&r, "status"), &r, "details name status");
	/* another account sees none of them */
	struct tenant other;
	FX(fx_tenant(&other, "read"));
	api("GET", "/jobs", other.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 0, &r);
	api("GET", "/jobs", rig_key_write(g), NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	rig_free(g);
}

static void test_history(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char j[5][FX_ID];
	FX(rig_make(g, "X1 Carbon", 0));
	for (int i = 0; i < 5; i++)
		FX(rig_job(g, NULL, NULL, j[i]));
	/* j0 completed Jan 10, j1 failed Jan 12, j2 cancelled Jan 11 23:59:59.999, j3 queued,
	 * j4 failed without time_completed (older rows): sorts last */
	FX(set_job(j[0], "completed"));
	FX(set_job(j[1], "failed"));
	FX(set_job(j[2], "cancelled"));
	FX(set_job(j[4], "failed"));
	FX(FX_SQL(Q_JOB_TIMES, DS("2026-01-01 00:00:00.000"), DS("2026-01-10 08:00:00.000"), DS(j[0])));
	FX(FX_SQL(Q_JOB_TIMES, DS("2026-01-01 00:00:00.000"), DS("2026-01-12 08:00:00.000"), DS(j[1])));
	FX(FX_SQL(Q_JOB_TIMES, DS("2026-01-01 00:00:00.000"), DS("2026-01-11 23:59:59.999"), DS(j[2])));
	FX(FX_SQL(Q_JOB_TIMES, DS("2026-01-01 00:00:00.000"), DNULL, DS(j[4])));
	api("GET", "/jobs/history", rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 4, &r)) {
		const char *want[] = { j[1], j[2], j[0], j[4] };
		for (int i = 0; i < 4; i++)
			STR_EQ(jstr(json_array_get(rdata(&r), (size_t)i), "id"), want[i], &r);
		KEYS(json_array_get(rdata(&r), 0), LIST_KEYS, &r);
		INT_EQ(jint(json_object_get(r.json, "meta"), "count"), 4, &r);
	}
	/* inclusive bounds; a date-only `to` covers its whole day */
	api("GET", "/jobs/history?from=2026-01-10T08:00:00.000Z&to=2026-01-11", rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 2, &r)) {
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), j[2], &r);
		STR_EQ(jstr(json_array_get(rdata(&r), 1), "id"), j[0], &r);
	}
	api("GET", "/jobs/history?from=2026-01-12", rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r))
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), j[1], &r);
	api("GET", "/jobs/history?status=cancelled", rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 1, &r);
	api("GET", "/jobs/history?limit=1&offset=1", rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r))
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), j[2], &r);
	static const char *const bad[] = { "/jobs/history?from=yesterday",
					   "/jobs/history?to=2026-13-01",
					   "/jobs/history?from=2026-02-01&to=2026-01-01",
					   "/jobs/history?status=queued", "/jobs/history?limit=0" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		api("GET", bad[i], rig_key(g), NULL, &r);
		EXPECT(r, 422, "VALIDATION_ERROR");
	}
	rig_free(g);
}

static void test_stats(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char j[7][FX_ID];
	static const char *const keys[] = { "by_status", "active", "total", "completed_today", NULL };
	FX(rig_make(g, "X1 Carbon", 0));
	api("GET", "/jobs/stats", rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), keys, &r);
		KEYS(json_object_get(rdata(&r), "by_status"), STATUSES, &r);
		INT_EQ(jint(rdata(&r), "total"), 0, &r);
	}
	for (int i = 0; i < 7; i++)
		FX(rig_job(g, NULL, NULL, j[i]));
	FX(set_job(j[1], "printing"));
	FX(set_job(j[2], "paused"));
	FX(set_job(j[3], "processing"));
	FX(set_job(j[4], "completed"));
	FX(set_job(j[5], "completed"));
	FX(set_job(j[6], "cancelled"));
	/* j5 completed yesterday (UTC): not today */
	FX(FX_SQL(Q_JOB_TIMES, DS("2026-01-01 00:00:00.000"), DS("2000-01-01 12:00:00.000"), DS(j[5])));
	api("GET", "/jobs/stats", rig_key_read(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r), *by = json_object_get(d, "by_status");
		INT_EQ(jint(by, "queued"), 1, &r);
		INT_EQ(jint(by, "printing"), 1, &r);
		INT_EQ(jint(by, "paused"), 1, &r);
		INT_EQ(jint(by, "processing"), 1, &r);
		INT_EQ(jint(by, "uploaded"), 0, &r);
		INT_EQ(jint(by, "completed"), 2, &r);
		INT_EQ(jint(by, "failed"), 0, &r);
		INT_EQ(jint(by, "cancelled"), 1, &r);
		INT_EQ(jint(d, "active"), 3, &r);
		INT_EQ(jint(d, "total"), 7, &r);
		INT_EQ(jint(d, "completed_today"), 1, &r);
	}
	rig_free(g);
}

static void test_get_and_tenancy(void)
{
	struct rig *g = rig_new();
	struct tenant other;
	RESP(r);
	char job[FX_ID], snap[512], after[512];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(fx_tenant(&other, "read,write,control"));
	FX(rig_job(g, rig_printer(g), NULL, job));
	api("GET", jpath(job, NULL), rig_key_read(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), DETAIL_KEYS, &r);
		STR_EQ(jstr(rdata(&r), "id"), job, &r);
	}
	api("GET", jpath(NO_SUCH_ID, NULL), rig_key(g), NULL, &r);
	EXPECT(r, 404, "JOB_NOT_FOUND");
	api("GET", jpath("nope", NULL), rig_key(g), NULL, &r);
	EXPECT(r, 404, "JOB_NOT_FOUND");
	/* another account: every route answers 404 and nothing changes */
	FX(FX_TEXT(snap, Q_JOB_ROW, DS(job)));
	api("GET", jpath(job, NULL), other.key, NULL, &r);
	EXPECT(r, 404, "JOB_NOT_FOUND");
	api("PATCH", jpath(job, NULL), other.key, "{\"color\": \"Blue\"}", &r);
	EXPECT(r, 404, "JOB_NOT_FOUND");
	static const char *const actions[] = { "/start", "/pause", "/resume", "/stop", "/cancel",
					       "/retry", "/complete" };
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
		post(jpath(job, actions[i]), other.key, NULL, &r);
		EXPECT(r, 404, "JOB_NOT_FOUND");
		post(jpath(NO_SUCH_ID, actions[i]), rig_key(g), NULL, &r);
		EXPECT(r, 404, "JOB_NOT_FOUND");
	}
	FX(FX_TEXT(after, Q_JOB_ROW, DS(job)));
	STR_EQ(after, snap, NULL);
	rig_free(g);
}

/* ----------------------------------------------------------------------------- update */

static void test_patch(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID], p2[FX_ID], mini[FX_ID], tag[9], name[64], p2name[64], body[256];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(rig_job(g, rig_printer(g), NULL, job));
	snprintf(p2name, sizeof p2name, "Second %s", fx_tag(tag));
	FX(fx_printer(rig_account(g), rig_hub(g), p2name, "X1C", p2));
	snprintf(name, sizeof name, "Mini %s", fx_tag(tag));
	FX(fx_printer(rig_account(g), rig_hub(g), name, "A1 mini", mini));

	api("PATCH", jpath(job, NULL), rig_key_write(g),
	    "{\"color\": \"Green\", \"filament_type\": \"PETG\", \"material_type\": \"PETG\","
	    " \"number_of_units\": 6, \"quantity_per_print\": 3, \"requires_assembly\": true}",
	    &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, DETAIL_KEYS, &r);
		STR_EQ(jstr(d, "color"), "Green", &r);
		STR_EQ(jstr(d, "filament_type"), "PETG", &r);
		INT_EQ(jint(d, "number_of_units"), 6, &r);
		INT_EQ(jint(d, "quantity_per_print"), 3, &r);
		INT_EQ(jbool(d, "requires_assembly"), 1, &r);
		STR_EQ(jstr(d, "printer_id"), rig_printer(g), &r); /* untouched */
	}
	/* reassign: copies follow; X1C is the X1 Carbon */
	snprintf(body, sizeof body, "{\"printer_id\": \"%s\"}", p2);
	api("PATCH", jpath(job, NULL), rig_key(g), body, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "printer_id"), p2, &r);
		STR_EQ(jstr(rdata(&r), "printer_model"), "X1C", &r);
		STR_EQ(jstr(rdata(&r), "printer_name"), p2name, &r);
	}
	snprintf(body, sizeof body, "{\"printer_id\": \"%s\"}", mini);
	api("PATCH", jpath(job, NULL), rig_key(g), body, &r);
	EXPECT(r, 400, "PRINTER_MODEL_MISMATCH");
	snprintf(body, sizeof body, "{\"printer_id\": \"%s\"}", NO_SUCH_ID);
	api("PATCH", jpath(job, NULL), rig_key(g), body, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	api("PATCH", jpath(job, NULL), rig_key(g), "{\"printer_id\": null}", &r);
	if (EXPECT(r, 200, NULL)) {
		CHECK(json_is_null(json_object_get(rdata(&r), "printer_id")) &&
			      json_is_null(json_object_get(rdata(&r), "printer_name")),
		      &r, "unassigned");
	}
	/* refusals */
	api("PATCH", jpath(job, NULL), rig_key(g), "{}", &r);
	EXPECT(r, 400, "NO_UPDATES");
	api("PATCH", jpath(job, NULL), rig_key(g), "{\"status\": \"completed\"}", &r);
	EXPECT(r, 400, "NO_UPDATES");
	api("PATCH", jpath(job, NULL), rig_key(g), "{\"number_of_units\": 0}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	api("PATCH", jpath(job, NULL), rig_key(g), "{\"priority\": 200}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	api("PATCH", jpath(NO_SUCH_ID, NULL), rig_key(g), "{\"color\": \"x\"}", &r);
	EXPECT(r, 404, "JOB_NOT_FOUND");
	api("PATCH", jpath(job, NULL), rig_key_control(g), "{\"color\": \"x\"}", &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	/* running: metadata yes, printer no */
	FX(set_job(job, "printing"));
	api("PATCH", jpath(job, NULL), rig_key(g), "{\"color\": \"Black\"}", &r);
	EXPECT(r, 200, NULL);
	snprintf(body, sizeof body, "{\"printer_id\": \"%s\"}", p2);
	api("PATCH", jpath(job, NULL), rig_key(g), body, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	/* failed is not terminal: editable, printer too */
	FX(set_job(job, "failed"));
	api("PATCH", jpath(job, NULL), rig_key(g), body, &r);
	EXPECT(r, 200, NULL);
	static const char *const terminal[] = { "completed", "cancelled" };
	for (int i = 0; i < 2; i++) {
		FX(set_job(job, terminal[i]));
		api("PATCH", jpath(job, NULL), rig_key(g), "{\"color\": \"x\"}", &r);
		EXPECT(r, 400, "JOB_TERMINAL");
	}
	rig_free(g);
}

/* ---------------------------------------------------------------------------- start */

/* Every refusal of start, in decisions.md order: each step removes the first problem. */
static void test_start_refusals(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID], other_job[FX_ID], row[512], tag[9], name[64], mini[FX_ID], nohub[FX_ID];
	char path[1024];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(rig_job(g, NULL, NULL, job));
	FX(FX_TEXT(row, Q_JOB_ROW, DS(job)));
	const char *sp = jpath(job, "/start");

	post(jpath(NO_SUCH_ID, "/start"), rig_key(g), NULL, &r);
	EXPECT(r, 404, "JOB_NOT_FOUND");
	post(sp, rig_key_write(g), NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	/* job state first */
	FX(set_job(job, "printing"));
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	FX(set_job(job, "queued"));
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 400, "NO_PRINTER_ASSIGNED");
	/* a printer that left the account */
	snprintf(name, sizeof name, "Gone %s", fx_tag(tag));
	char gone[FX_ID];
	struct tenant other;
	FX(fx_tenant(&other, "read"));
	FX(fx_printer(rig_account(g), rig_hub(g), name, "X1 Carbon", gone));
	char body[256];
	snprintf(body, sizeof body, "{\"printer_id\": \"%s\"}", gone);
	api("PATCH", jpath(job, NULL), rig_key(g), body, &r);
	EXPECT(r, 200, NULL);
	FX(FX_SQL(Q_PRINTER_ACCOUNT, DS(other.account), DS(gone)));
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	/* the file has no stored content (object gone) */
	snprintf(body, sizeof body, "{\"printer_id\": \"%s\"}", rig_printer(g));
	api("PATCH", jpath(job, NULL), rig_key(g), body, &r);
	EXPECT(r, 200, NULL);
	snprintf(path, sizeof path, "%s/%s", cfg_str("file_store", ""), rig_store_key(g));
	char moved[1100];
	snprintf(moved, sizeof moved, "%s.away", path);
	CHECK(rename(path, moved) == 0, NULL, "move the stored object away");
	FX(fx_hub_online(rig_hub(g), 0));
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 404, "FILE_NOT_FOUND");
	CHECK(rename(moved, path) == 0, NULL, "put it back");
	/* no current version: nothing to hand a hub */
	FX(FX_SQL(Q_VERSION_NONE, DS(rig_file(g))));
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 404, "FILE_NOT_FOUND");
	static const struct db_query Q_VERSION_BACK = {
		"UPDATE print_file_versions SET is_current_version = 1 WHERE id = ?"
	};
	FX(FX_SQL(Q_VERSION_BACK, DS(rig_version(g))));
	/* model mismatch (the job was enqueued unassigned; the printer changed model) */
	snprintf(name, sizeof name, "Mini %s", fx_tag(tag));
	FX(fx_printer(rig_account(g), rig_hub(g), name, "X1 Carbon", mini));
	snprintf(body, sizeof body, "{\"printer_id\": \"%s\"}", mini);
	api("PATCH", jpath(job, NULL), rig_key(g), body, &r);
	EXPECT(r, 200, NULL);
	static const struct db_query Q_MODEL = { "UPDATE printers SET model = 'A1 mini' WHERE id = ?" };
	FX(FX_SQL(Q_MODEL, DS(mini)));
	FX(rig_printer_no_hub(mini));
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 400, "PRINTER_MODEL_MISMATCH"); /* before NO_HUB_ASSIGNED */
	/* no hub */
	snprintf(name, sizeof name, "No hub %s", fx_tag(tag));
	FX(fx_printer(rig_account(g), rig_hub(g), name, "X1 Carbon", nohub));
	FX(rig_printer_no_hub(nohub));
	FX(FX_SQL(Q_PRINTER_FLAGS, DI(0), DI(1), DS(nohub)));
	snprintf(body, sizeof body, "{\"printer_id\": \"%s\"}", nohub);
	api("PATCH", jpath(job, NULL), rig_key(g), body, &r);
	EXPECT(r, 200, NULL);
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 400, "NO_HUB_ASSIGNED"); /* before PRINTER_UNAVAILABLE (inactive) */
	/* unavailable printers: inactive, maintenance, error, busy with another job */
	snprintf(body, sizeof body, "{\"printer_id\": \"%s\"}", rig_printer(g));
	api("PATCH", jpath(job, NULL), rig_key(g), body, &r);
	EXPECT(r, 200, NULL);
	FX(fx_hub_offline(rig_hub(g)));
	FX(FX_SQL(Q_PRINTER_FLAGS, DI(0), DI(0), DS(rig_printer(g))));
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 400, "PRINTER_UNAVAILABLE"); /* before HUB_OFFLINE */
	FX(FX_SQL(Q_PRINTER_FLAGS, DI(1), DI(1), DS(rig_printer(g))));
	FX(fx_printer_status(rig_printer(g), "maintenance"));
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 400, "PRINTER_UNAVAILABLE");
	FX(FX_SQL(Q_PRINTER_FLAGS, DI(1), DI(0), DS(rig_printer(g))));
	FX(fx_printer_status(rig_printer(g), "error"));
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 400, "PRINTER_UNAVAILABLE");
	FX(fx_printer_status(rig_printer(g), "idle"));
	FX(rig_job(g, rig_printer(g), NULL, other_job));
	FX(set_job(other_job, "uploaded"));
	post(sp, rig_key(g), NULL, &r);
	if (EXPECT(r, 400, "PRINTER_UNAVAILABLE"))
		CHECK(strstr(jstr(r.json, "error"), "another job"), &r, "says why");
	FX(set_job(other_job, "completed"));
	/* hub offline (never connected), then stale */
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	FX(fx_hub_online(rig_hub(g), 121));
	post(sp, rig_key(g), NULL, &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	/* nothing moved, nothing sent */
	char after[512], n[16];
	FX(FX_TEXT(after, Q_JOB_ROW, DS(job)));
	STR_EQ(after, row, NULL);
	FX(FX_TEXT(n, Q_CMDS_OF_JOB, DS(job)));
	STR_EQ(n, "0", NULL);
	rig_free(g);
}

/* Start with a live hub: queued → processing at once, the print.start command (awaited) with
 * the file's URL under base_url's host, size, SHA-256 and a download token whose hash is
 * stored bound to hub and file version (the token itself is not kept in the command row). The
 * simulator then downloads the file with the token and the job goes on to printing. */
static void test_start(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID], params[4096], origin[512], want_url[700];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_job(g, rig_printer(g), NULL, job));
	post(jpath(job, "/start"), rig_key_control(g), NULL, &r);
	if (!EXPECT(r, 200, NULL)) {
		rig_free(g);
		return;
	}
	json_t *d = rdata(&r);
	KEYS(d, ACTION_KEYS, &r);
	STR_EQ(jstr(d, "job_id"), job, &r);
	STR_EQ(jstr(d, "printer_id"), rig_printer(g), &r);
	STR_EQ(jstr(d, "status"), "processing", &r);
	const char *cmd = jstr(d, "command_id");
	CHECK(util_is_uuid(cmd), &r, "command_id");
	char c[128];
	/* the command row and the token row must exist */
	FX_TEXT(c, Q_CMD, DS(cmd));
	CHECK(strncmp(c, "print.start|1|", 14) == 0, &r, "awaited print.start: \"%s\"", c);
	FX_TEXT(params, RIG_Q_CMD_PARAMS, DS(cmd));
	json_t *p = json_loads(params, 0, NULL), *f = json_object_get(p, "file");
	STR_EQ(jstr(p, "job_id"), job, &r);
	snprintf(origin, sizeof origin, "%s", client_base_url());
	char *slash = strstr(origin, "://");
	slash = slash ? strchr(slash + 3, '/') : NULL;
	if (slash)
		*slash = '\0';
	snprintf(want_url, sizeof want_url, "%s/hub/v1/files/%s", origin, rig_version(g));
	STR_EQ(jstr(f, "url"), want_url, &r);
	CHECK(!json_object_get(f, "token"), &r, "the token is not kept in the command row");
	STR_EQ(jstr(f, "name"), "bracket.gcode", &r);
	STR_EQ(jstr(f, "format"), "gcode", &r);
	CHECK(jint(f, "size_bytes") > 0 && jstr(f, "sha256") && strlen(jstr(f, "sha256")) == 64,
	      &r, "size and sha256");
	CHECK(jint(f, "token_expires_at") > util_now_ms() + 14 * 60000, &r, "15 min token");
	INT_EQ(jint(p, "plate"), 1, &r);
	INT_EQ(jint(json_object_get(p, "expected"), "print_time_s"), 3600, &r);
	STR_EQ(jstr(json_object_get(p, "expected"), "printer_model_id"), "BL-P001", &r);
	json_decref(p);
	char want_t[512];
	snprintf(want_t, sizeof want_t, "%s|%s|64|1|%s", rig_hub(g), rig_version(g),
		 cmd ? cmd : "");
	DB_IS(&Q_TOKEN_OF, job, want_t);
	api("GET", jpath(job, NULL), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(is_iso_ms(jstr(rdata(&r), "time_started")), &r, "time_started stamped");
	post(jpath(job, "/start"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	/* the simulator fetched the file with its token and printed */
	FX(rig_wait_field(rig_key(g), jpath(job, NULL), "status", "printing", DEADLINE_MS));
	char uses[16];
	FX_TEXT(uses, Q_TOKEN_USES, DS(job));
	CHECK(atoi(uses) >= 1, NULL, "the token was used (\"%s\")", uses);
	rig_free(g);
}

/* The hub refuses / never ACKs the start: the job is back to queued, time_started cleared. */
static void test_start_hub_outcomes(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_job(g, rig_printer(g), NULL, job));
	FX(hx_fault(rig_hubx(g), "refuse action=print.start code=BED_NOT_CLEAR"));
	post(jpath(job, "/start"), rig_key(g), NULL, &r);
	if (EXPECT(r, 503, "HUB_COMMAND_FAILED"))
		CHECK(strstr(jstr(r.json, "error"), "BED_NOT_CLEAR"), &r, "names the hub's code");
	JOB_BECOMES(job, "queued");
	static const struct db_query Q_STARTED = {
		"SELECT IFNULL(time_started, '~') FROM print_jobs WHERE id = ?"
	};
	DB_BECOMES(&Q_STARTED, job, "~", 10000);
	FX(hx_fault(rig_hubx(g), "timeout action=print.start"));
	int64_t t0 = util_now_ms();
	post(jpath(job, "/start"), rig_key(g), NULL, &r);
	EXPECT(r, 504, "HUB_TIMEOUT");
	CHECK(util_now_ms() - t0 >= 14000, &r, "waited for the 15 s start timeout");
	JOB_BECOMES(job, "queued");
	DB_BECOMES(&Q_STARTED, job, "~", 10000);
	/* the same job starts once the hub behaves */
	FX(hx_clear(rig_hubx(g)));
	post(jpath(job, "/start"), rig_key(g), NULL, &r);
	EXPECT(r, 200, NULL);
	rig_free(g);
}

/* --------------------------------------------------------------- pause / resume / stop */

static void test_pause_resume_stop(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));

	post(jpath(job, "/resume"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	post(jpath(job, "/pause"), rig_key_write(g), NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	post(jpath(job, "/pause"), rig_key_control(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), ACTION_KEYS, &r);
		STR_EQ(jstr(rdata(&r), "status"), "paused", &r);
		STR_EQ(jstr(rdata(&r), "printer_id"), rig_printer(g), &r);
		DB_IS(&Q_CMD, jstr(rdata(&r), "command_id"), "print.pause|1|acked");
	}
	JOB_IS(job, "paused");
	PRINTER_BECOMES(rig_printer(g), "paused");
	post(jpath(job, "/pause"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	post(jpath(job, "/resume"), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "printing", &r);
	JOB_IS(job, "printing");
	PRINTER_BECOMES(rig_printer(g), "printing");
	/* stop refused by the hub: the job keeps printing */
	FX(hx_fault(rig_hubx(g), "refuse action=print.stop code=PRINTER_REJECTED"));
	post(jpath(job, "/stop"), rig_key(g), NULL, &r);
	EXPECT(r, 503, "HUB_COMMAND_FAILED");
	JOB_BECOMES(job, "printing");
	PRINTER_BECOMES(rig_printer(g), "printing");
	FX(hx_clear(rig_hubx(g)));
	post(jpath(job, "/stop"), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "status"), "cancelled", &r);
		CHECK(util_is_uuid(jstr(rdata(&r), "command_id")), &r, "command sent");
	}
	JOB_IS(job, "cancelled");
	PRINTER_BECOMES(rig_printer(g), "idle");
	post(jpath(job, "/stop"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	rig_free(g);
}

/* Stop of a queued job: cancelled without a hub command (no printer needed); cancel. */
static void test_stop_queued_and_cancel(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char a[FX_ID], b[FX_ID], n[16];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(rig_job(g, NULL, NULL, a));
	post(jpath(a, "/stop"), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), ACTION_KEYS, &r);
		STR_EQ(jstr(rdata(&r), "status"), "cancelled", &r);
		CHECK(json_is_null(json_object_get(rdata(&r), "command_id")), &r, "no command");
		CHECK(json_is_null(json_object_get(rdata(&r), "printer_id")), &r, "no printer");
	}
	FX(FX_TEXT(n, Q_CMDS_OF_JOB, DS(a)));
	STR_EQ(n, "0", NULL);
	/* cancel of a queued job on a printer busy with another job leaves the printer alone */
	FX(rig_job(g, rig_printer(g), NULL, b));
	FX(fx_printer_status(rig_printer(g), "printing"));
	post(jpath(b, "/cancel"), rig_key_control(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "status"), "cancelled", &r);
		CHECK(json_is_null(json_object_get(rdata(&r), "command_id")), &r, "no command");
	}
	PRINTER_IS(rig_printer(g), "printing");
	api("GET", jpath(b, NULL), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(is_iso_ms(jstr(rdata(&r), "time_completed")), &r, "time_completed stamped");
	/* terminal states refuse; failed cannot be cancelled either */
	post(jpath(b, "/cancel"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	FX(set_job(b, "failed"));
	post(jpath(b, "/cancel"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	post(jpath(b, "/stop"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	FX(set_job(b, "completed"));
	post(jpath(b, "/cancel"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	post(jpath(b, "/cancel"), rig_key_write(g), NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	/* a running job whose hub is offline: cancelled anyway, nothing sent */
	FX(set_job(b, "printing"));
	FX(fx_hub_offline(rig_hub(g)));
	post(jpath(b, "/cancel"), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_is_null(json_object_get(rdata(&r), "command_id")), &r,
		      "no command to an offline hub");
	PRINTER_IS(rig_printer(g), "idle");
	rig_free(g);
}

/* Cancel of a running job: fire-and-forget stop (even when the hub never answers). */
static void test_cancel_running(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID], c[128];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	FX(hx_fault(rig_hubx(g), "timeout action=print.stop"));
	int64_t t0 = util_now_ms();
	post(jpath(job, "/cancel"), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "status"), "cancelled", &r);
		const char *cmd = jstr(rdata(&r), "command_id");
		CHECK(util_is_uuid(cmd), &r, "a stop was sent");
		FX_TEXT(c, Q_CMD, DS(cmd)); /* the row must exist */
		CHECK(strncmp(c, "print.stop|0|", 13) == 0, &r, "not awaited: \"%s\"", c);
	}
	CHECK(util_now_ms() - t0 < 5000, &r, "answered without waiting");
	JOB_IS(job, "cancelled");
	PRINTER_BECOMES(rig_printer(g), "idle");
	rig_free(g);
}

/* ------------------------------------------------------------------------------ retry */

static void test_retry(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(rig_job(g, rig_printer(g), NULL, job));
	post(jpath(job, "/retry"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	FX(set_job(job, "failed"));
	api("GET", jpath(job, NULL), rig_key(g), NULL, &r);
	const char *before = r.status == 200 ? jstr(rdata(&r), "time_submitted") : NULL;
	char was[40] = "";
	if (before)
		snprintf(was, sizeof was, "%s", before);
	sleep_ms(5);
	post(jpath(job, "/retry"), rig_key_control(g), NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	post(jpath(job, "/retry"), rig_key_write(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, DETAIL_KEYS, &r);
		STR_EQ(jstr(d, "status"), "queued", &r);
		INT_EQ(jint(d, "progress_percentage"), 0, &r);
		CHECK(json_is_null(json_object_get(d, "failure_reason")) &&
			      json_is_null(json_object_get(d, "time_started")) &&
			      json_is_null(json_object_get(d, "time_completed")) &&
			      json_is_null(json_object_get(d, "actual_print_time_minutes")),
		      &r, "failure, times and actual time cleared");
		STR_EQ(jstr(d, "printer_id"), rig_printer(g), &r);
		CHECK(iso_ms(jstr(d, "time_submitted")) > iso_ms(was), &r, "time_submitted renewed");
	}
	post(jpath(job, "/retry"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	rig_free(g);
}

/* --------------------------------------------------------------------------- complete */

static void test_complete(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char sku[FX_ID], product[FX_ID], job[FX_ID], job2[FX_ID], extra[256];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(make_sku(rig_account(g), "Red", "PLA", sku, product));
	snprintf(extra, sizeof extra, "\"product_sku_id\": \"%s\", \"number_of_units\": 3", sku);
	FX(rig_job(g, rig_printer(g), extra, job));

	post(jpath(job, "/complete"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION"); /* queued */
	FX(set_job(job, "printing"));
	FX(fx_printer_status(rig_printer(g), "printing"));
	post(jpath(job, "/complete"), rig_key(g), "{\"actual_print_time_minutes\": 0}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	post(jpath(job, "/complete"), rig_key_control(g), NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	post(jpath(job, "/complete"), rig_key_write(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, DETAIL_KEYS, &r);
		STR_EQ(jstr(d, "status"), "completed", &r);
		INT_EQ(jint(d, "progress_percentage"), 100, &r);
		INT_EQ(jint(d, "actual_print_time_minutes"), 8, &r); /* started 7 min ago, rounded up */
		CHECK(is_iso_ms(jstr(d, "time_completed")), &r, "time_completed");
	}
	STOCK_IS(sku, "3|0|low_stock"); /* threshold 5 */
	SKU_FG_IS(rig_key(g), sku, 3);
	EVENTS_ARE(job, "1");
	PRINTER_IS(rig_printer(g), "idle");
	/* again: refused, stock unchanged */
	post(jpath(job, "/complete"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	STOCK_IS(sku, "3|0|low_stock");
	SKU_FG_IS(rig_key(g), sku, 3);
	EVENTS_ARE(job, "1");
	/* requires_assembly: units wait for assembly; the given actual time is kept */
	snprintf(extra, sizeof extra,
		 "\"product_sku_id\": \"%s\", \"number_of_units\": 4, \"requires_assembly\": true", sku);
	FX(rig_job(g, rig_printer(g), extra, job2));
	FX(set_job(job2, "printing"));
	post(jpath(job2, "/complete"), rig_key(g), "{\"actual_print_time_minutes\": 95}", &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jint(rdata(&r), "actual_print_time_minutes"), 95, &r);
	STOCK_IS(sku, "3|4|needs_assembly");
	SKU_FG_IS(rig_key(g), sku, 7); /* ready + waiting for assembly */
	/* the worker runs each completion's job_completed: the account's daily analytics count
	 * both jobs, 3 + 4 units, 8 + 95 minutes */
	DB_BECOMES(&Q_DAY_SUMS, rig_account(g), "2|7|103", 30000);
	/* paused cannot be completed */
	FX(set_job(job2, "paused"));
	post(jpath(job2, "/complete"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	rig_free(g);
}

/* One product of the catalogue to the shelf, through the API: its SKU (2 ready), a print
 * file of the product stating 4 units per run (listed under the product), a job of that file
 * and SKU for the file's units and the product's requires_assembly; completing it adds the
 * units once (a second completion is refused and changes nothing), to ready_stock or, for a
 * product that requires assembly, to quantity_needs_assembly, and GET /skus/{id} follows. */
static const struct db_query Q_JOB_MOVES = {
	"SELECT GROUP_CONCAT(CONCAT(counter, ':', CAST(delta AS SIGNED), ':',"
	" CAST(level_after AS SIGNED)) SEPARATOR ',') FROM stock_movements"
	" WHERE ref_id = ? AND reason = 'job_completed'"
};

static const struct db_query Q_JOB_MOVE_REQUEST = {
	"SELECT IFNULL(MAX(request_id), 'none') FROM stock_movements WHERE ref_id = ?"
};

static void file_to_stock(struct rig *g, int assembly)
{
	RESP(r);
	char product[FX_ID], sku[FX_ID], file[FX_ID] = "", job[FX_ID], body[256], path[160];
	char name[64], tag[9], want[16];
	struct fx_upload u;
	snprintf(body, sizeof body, "{\"name\":\"Planter %s\",\"requires_assembly\":%s}",
		 fx_tag(tag), assembly ? "true" : "false");
	FX(fx_created(rig_key(g), "/products", body, product));
	snprintf(path, sizeof path, "/products/%s/skus", product);
	snprintf(body, sizeof body, "{\"sku\":\"PL-%s\",\"color\":\"Red\",\"filament_type\":"
		 "\"PLA\",\"stock_level\":2}", tag);
	FX(fx_created(rig_key(g), path, body, sku));
	SKU_FG_IS(rig_key(g), sku, 0); /* stock_level is the SKU's own counter */
	FX(FX_SQL(Q_FG_READY, DI(2), DS(sku)));
	FX(fx_stock_reconcile(rig_account(g)));
	SKU_FG_IS(rig_key(g), sku, 2);

	snprintf(name, sizeof name, "planter-%s.gcode.3mf", tag);
	FX(fx_upload(rig_key(g), "bambustudio_x1c_two_plates.gcode.3mf", name, &u));
	snprintf(body, sizeof body, "\"product_id\":\"%s\",\"number_of_units\":4", product);
	fx_create_file(rig_key(g), name, u.key, body, &r);
	if (EXPECT(r, 201, NULL)) {
		snprintf(file, sizeof file, "%s", jstr(rdata(&r), "id"));
		STR_EQ(jstr(rdata(&r), "product_id"), product, &r);
		INT_EQ(jint(rdata(&r), "number_of_units"), 4, &r);
	}
	FX(file[0] ? 0 : -1);
	snprintf(path, sizeof path, "/files?product_id=%s", product);
	api("GET", path, rig_key(g), NULL, &r);
	long long units = -1;
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r)) {
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), file, &r);
		units = jint(json_array_get(rdata(&r), 0), "number_of_units");
		INT_EQ(units, 4, &r);
	}
	snprintf(path, sizeof path, "/products/%s", product);
	api("GET", path, rig_key(g), NULL, &r);
	int product_assembly = EXPECT(r, 200, NULL) && jbool(rdata(&r), "requires_assembly") == 1;
	INT_EQ(product_assembly, assembly, &r);

	snprintf(body, sizeof body, "\"product_sku_id\":\"%s\",\"number_of_units\":%lld,"
		 "\"requires_assembly\":%s", sku, units, product_assembly ? "true" : "false");
	FX(rig_job_of(g, file, rig_printer(g), body, job));
	api("GET", jpath(job, NULL), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "product_id"), product, &r);
		INT_EQ(jint(rdata(&r), "number_of_units"), 4, &r);
	}
	FX(set_job(job, "printing"));
	post(jpath(job, "/complete"), rig_key(g), NULL, &r);
	EXPECT(r, 200, NULL);
	snprintf(want, sizeof want, "%s", assembly ? "2|4|" : "6|0|");
	char got[64];
	for (int again = 0; again < 2; again++) {
		FX(FX_TEXT(got, Q_STOCK, DS(sku)));
		CHECK(strncmp(got, want, strlen(want)) == 0, NULL, "stock %s, want %s...", got, want);
		SKU_FG_IS(rig_key(g), sku, 6);
		EVENTS_ARE(job, "1");
		/* one ledger movement, the job's, however often completion is asked for */
		FX(FX_TEXT(got, Q_JOB_MOVES, DS(job)));
		STR_EQ(got, assembly ? "finished_goods.quantity_needs_assembly:4:4"
				     : "finished_goods.ready_stock:4:6", NULL);
		post(jpath(job, "/complete"), rig_key(g), NULL, &r);
		EXPECT(r, 400, "INVALID_TRANSITION");
	}
}

static void test_file_to_stock(void)
{
	struct rig *g = rig_new();
	FX(rig_make(g, "X1 Carbon", 0));
	file_to_stock(g, 0);
	file_to_stock(g, 1);
	rig_free(g);
}

/* Many clients complete the same job at once: exactly one wins; stock moves once. */
static void test_complete_concurrent(void)
{
	struct rig *g = rig_new();
	char sku[FX_ID], product[FX_ID], job[FX_ID], extra[256], path[160], auth[128];
	struct resp out[8];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(make_sku(rig_account(g), "Blue", "PETG", sku, product));
	snprintf(extra, sizeof extra, "\"product_sku_id\": \"%s\", \"number_of_units\": 7", sku);
	FX(rig_job(g, rig_printer(g), extra, job));
	FX(set_job(job, "printing"));
	snprintf(path, sizeof path, "/jobs/%s/complete", job);
	snprintf(auth, sizeof auth, "Bearer %s", rig_key(g));
	struct call c = { .method = "POST", .path = path, .auth = auth };
	int n = api_burst(&c, 8, out);
	INT_EQ(n, 8, NULL);
	int ok = 0, refused = 0;
	for (int i = 0; i < n; i++) {
		if (out[i].status == 200)
			ok++;
		else if ((out[i].status == 400 &&
			  strcmp(jstr(out[i].json, "code"), "INVALID_TRANSITION") == 0) ||
			 (out[i].status == 409 &&
			  strcmp(jstr(out[i].json, "code"), "JOB_STATE_CHANGED") == 0))
			refused++;
		else
			CHECK(0, &out[i], "unexpected answer");
		resp_free(&out[i]);
	}
	INT_EQ(ok, 1, NULL);
	INT_EQ(refused, 7, NULL);
	STOCK_IS(sku, "7|0|in_stock");
	EVENTS_ARE(job, "1");
	rig_free(g);
}

/* --------------------------------------------------------------------- file delivery */

static long hub_get(const char *version, const char *token, const char *hub, const char *range,
		    struct resp *r)
{
	struct call c = { 0 };
	char p[256], auth[600], hh[128], rh[128];
	int h = 0;
	snprintf(p, sizeof p, "/hub/v1/files/%s", version);
	c.path = p;
	c.from_origin = 1;
	if (token) {
		snprintf(auth, sizeof auth, "Bearer %s", token);
		c.auth = auth;
	} else {
		c.auth = "";
	}
	if (hub) {
		snprintf(hh, sizeof hh, "X-Hub-Id: %s", hub);
		c.headers[h++] = hh;
	}
	if (range) {
		snprintf(rh, sizeof rh, "Range: %s", range);
		c.headers[h++] = rh;
	}
	return api_call(&c, r);
}

static void test_hub_files(void)
{
	struct rig *g = rig_new();
	struct rig *o = rig_new();
	RESP(r);
	char job[FX_ID], tok[64], hash[65], path[1024], sha[65], etag[80];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(rig_make(o, "X1 Carbon", 0));
	FX(rig_job(g, rig_printer(g), NULL, job));
	/* a token as start mints it: 43 base64url characters, stored as SHA-256 */
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[43];
	util_random(raw, sizeof raw);
	for (int i = 0; i < 43; i++)
		tok[i] = b64[raw[i] & 63];
	tok[43] = '\0';
	char other_tok[44];
	memcpy(other_tok, tok, sizeof other_tok);
	other_tok[0] = other_tok[0] == 'A' ? 'B' : 'A';
	util_sha256_hex(tok, strlen(tok), hash);
	FX(FX_SQL(Q_TOKEN_INSERT, DS(hash), DS(rig_account(g)), DS(rig_hub(g)), DS(job),
		  DS(rig_version(g))));
	snprintf(path, sizeof path, "%s/%s", cfg_str("file_store", ""), rig_store_key(g));
	FILE *fp = fopen(path, "rb");
	char file[8192];
	size_t n = fp ? fread(file, 1, sizeof file, fp) : 0;
	if (fp)
		fclose(fp);
	CHECK(n > 200, NULL, "read the stored object");
	util_sha256_hex(file, n, sha);
	snprintf(etag, sizeof etag, "\"sha256:%s\"", sha);

	hub_get(rig_version(g), tok, rig_hub(g), NULL, &r);
	if (INT_EQ(r.status, 200, &r)) {
		INT_EQ((long long)r.len, (long long)n, &r);
		CHECK(r.len == n && memcmp(r.body, file, n) == 0, &r, "the bytes of the file");
		STR_EQ(resp_header(&r, "X-Content-SHA256"), sha, &r);
		STR_EQ(resp_header(&r, "ETag"), etag, &r);
		STR_EQ(resp_header(&r, "Accept-Ranges"), "bytes", &r);
		STR_EQ(resp_header(&r, "Content-Type"), "text/x.gcode", &r);
		CHECK(resp_header(&r, "X-Request-Id") != NULL, &r, "X-Request-Id");
	}
	hub_get(rig_version(g), tok, rig_hub(g), "bytes=10-19", &r);
	if (INT_EQ(r.status, 206, &r)) {
		CHECK(r.len == 10 && memcmp(r.body, file + 10, 10) == 0, &r, "bytes 10-19");
		char cr[64];
		snprintf(cr, sizeof cr, "bytes 10-19/%zu", n);
		STR_EQ(resp_header(&r, "Content-Range"), cr, &r);
	}
	hub_get(rig_version(g), tok, rig_hub(g), "bytes=-5", &r);
	if (INT_EQ(r.status, 206, &r))
		CHECK(r.len == 5 && memcmp(r.body, file + n - 5, 5) == 0, &r, "last 5 bytes");
	hub_get(rig_version(g), tok, rig_hub(g), "bytes=100-", &r);
	if (INT_EQ(r.status, 206, &r))
		CHECK(r.len == n - 100 && memcmp(r.body, file + 100, n - 100) == 0, &r, "resume at 100");
	hub_get(rig_version(g), tok, rig_hub(g), "bytes=99999999-", &r);
	INT_EQ(r.status, 416, &r);
	/* refusals */
	hub_get(rig_version(g), NULL, rig_hub(g), NULL, &r);
	EXPECT(r, 401, "TOKEN_INVALID");
	hub_get(rig_version(g), "not-a-token", rig_hub(g), NULL, &r);
	EXPECT(r, 401, "TOKEN_INVALID");
	hub_get(rig_version(g), other_tok, rig_hub(g), NULL, &r);
	EXPECT(r, 401, "TOKEN_INVALID");
	hub_get(rig_version(o), tok, rig_hub(g), NULL, &r); /* another file */
	EXPECT(r, 401, "TOKEN_INVALID");
	hub_get(rig_version(g), tok, rig_hub(o), NULL, &r); /* another hub */
	EXPECT(r, 403, "TOKEN_HUB_MISMATCH");
	hub_get(rig_version(g), tok, NULL, NULL, &r);
	EXPECT(r, 403, "TOKEN_HUB_MISMATCH");
	/* an API key is no download token */
	hub_get(rig_version(g), rig_key(g), rig_hub(g), NULL, &r);
	EXPECT(r, 401, "TOKEN_INVALID");
	hub_get("nope", tok, rig_hub(g), NULL, &r);
	INT_EQ(r.status, 404, &r);
	/* reusable within the TTL, then gone */
	hub_get(rig_version(g), tok, rig_hub(g), NULL, &r);
	INT_EQ(r.status, 200, &r);
	DB_IS(&Q_TOKEN_USES, job, "6"); /* the refused calls are not counted */
	FX(FX_SQL(Q_TOKEN_EXPIRE, DS(hash)));
	hub_get(rig_version(g), tok, rig_hub(g), NULL, &r);
	EXPECT(r, 410, "TOKEN_EXPIRED");
	/* a released hub's tokens stop working */
	static const struct db_query Q_TOKEN_FRESH = {
		"UPDATE hub_file_tokens SET expires_at = NOW(3) + INTERVAL 10 MINUTE WHERE token_hash = ?"
	};
	FX(FX_SQL(Q_TOKEN_FRESH, DS(hash)));
	FX(FX_SQL(Q_HUB_RELEASE, DS(rig_hub(g))));
	hub_get(rig_version(g), tok, rig_hub(g), NULL, &r);
	EXPECT(r, 401, "TOKEN_INVALID");
	rig_free(g);
	rig_free(o);
}

/* ------------------------------------------------------------------ printer failure */

/* The simulator fails the print at 40 %: the job ends failed with a reason and
 * time_completed, the printer shows error. */
static void test_print_fails_at_40(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char file[FX_ID], version[FX_ID], key[256], job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	/* a short print: 600 s simulated (30 s at the tests' time scale) */
	FX(rig_add_file(g, "short.gcode", "BL-P001", 600, file, version, key));
	FX(rig_job_of(g, file, rig_printer(g), NULL, job));
	FX(hx_fault(rig_hubx(g), "fail_at pct=40 code=NOZZLE_CLOG message=\"Nozzle clogged\""));
	post(jpath(job, "/start"), rig_key(g), NULL, &r);
	EXPECT(r, 200, NULL);
	FX(rig_wait_field(rig_key(g), jpath(job, NULL), "status", "failed", 3 * DEADLINE_MS));
	api("GET", jpath(job, NULL), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		CHECK(jstr(rdata(&r), "failure_reason") != NULL, &r, "failure_reason set");
		CHECK(is_iso_ms(jstr(rdata(&r), "time_completed")), &r, "time_completed set");
		long long pct = jint(rdata(&r), "progress_percentage");
		CHECK(pct >= 35 && pct <= 45, &r, "failed near 40 %% (%lld)", pct);
	}
	PRINTER_BECOMES(rig_printer(g), "error");
	/* failed jobs can be re-queued */
	post(jpath(job, "/retry"), rig_key(g), NULL, &r);
	EXPECT(r, 200, NULL);
	rig_free(g);
}

/* The hub reports the end of the print: the job completes once, the stock moves once, and a
 * later POST /complete is refused without touching the stock. */
static void test_hub_completion_moves_stock_once(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char file[FX_ID], version[FX_ID], key[256], extra[128], sku[FX_ID], product[FX_ID];
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(make_sku(rig_account(g), "Green", "PLA", sku, product));
	FX(rig_add_file(g, "quick.gcode", "BL-P001", 300, file, version, key));
	snprintf(extra, sizeof extra, "\"product_sku_id\": \"%s\", \"number_of_units\": 2", sku);
	FX(rig_job_of(g, file, rig_printer(g), extra, job));
	post(jpath(job, "/start"), rig_key(g), NULL, &r);
	EXPECT(r, 200, NULL);
	FX(rig_wait_field(rig_key(g), jpath(job, NULL), "status", "completed", 3 * DEADLINE_MS));
	api("GET", jpath(job, NULL), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jint(rdata(&r), "progress_percentage"), 100, &r);
		CHECK(is_iso_ms(jstr(rdata(&r), "time_completed")), &r, "time_completed");
	}
	STOCK_IS(sku, "2|0|low_stock");
	SKU_FG_IS(rig_key(g), sku, 2);
	EVENTS_ARE(job, "1");
	post(jpath(job, "/complete"), rig_key(g), NULL, &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	STOCK_IS(sku, "2|0|low_stock");
	SKU_FG_IS(rig_key(g), sku, 2);
	/* the hub's completion and the refused API one: one ledger movement, no request id */
	char moves[256];
	FX(FX_TEXT(moves, Q_JOB_MOVES, DS(job)));
	STR_EQ(moves, "finished_goods.ready_stock:2:2", NULL);
	FX(FX_TEXT(moves, Q_JOB_MOVE_REQUEST, DS(job)));
	STR_EQ(moves, "none", NULL);
	PRINTER_BECOMES(rig_printer(g), "idle");
	rig_free(g);
}

int suite_jobs(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("jobs", NULL, NULL, NULL, rig_sweep);
	if (!s)
		return -1;
	ADD_TEST(s, test_create);
	ADD_TEST(s, test_create_errors);
	ADD_TEST(s, test_list);
	ADD_TEST(s, test_history);
	ADD_TEST(s, test_stats);
	ADD_TEST(s, test_get_and_tenancy);
	ADD_TEST(s, test_patch);
	ADD_TEST(s, test_start_refusals);
	ADD_TEST(s, test_start);
	ADD_TEST(s, test_start_hub_outcomes);
	ADD_TEST(s, test_pause_resume_stop);
	ADD_TEST(s, test_stop_queued_and_cancel);
	ADD_TEST(s, test_cancel_running);
	ADD_TEST(s, test_retry);
	ADD_TEST(s, test_complete);
	ADD_TEST(s, test_complete_concurrent);
	ADD_TEST(s, test_file_to_stock);
	ADD_TEST(s, test_hub_files);
	ADD_TEST(s, test_print_fails_at_40);
	ADD_TEST(s, test_hub_completion_moves_stock_once);
	return 0;
}
