/* t_printers.c - GET /printers (projection, order, filters, derived status), GET
 * /printers/{id}, GET /printers/stats, PATCH /printers/{id}, PUT /printers/{id}/maintenance:
 * success paths, every documented error, tenancy (another account's printer is 404 and stays
 * unchanged) and the fields that must never appear. */
#include "apitest.h"

#include <stdlib.h>
#include <time.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const LIST_KEYS[] = {
	"id", "name", "model", "manufacturer", "status", "location", "nozzle_size",
	"current_color", "current_color_hex", "current_filament_type", "current_build_plate",
	"has_ams", "is_active", "created_at", "updated_at", NULL
};
static const char *const DETAIL_KEYS[] = {
	"id", "name", "model", "manufacturer", "status", "location", "nozzle_size",
	"current_color", "current_color_hex", "current_filament_type", "current_build_plate",
	"has_ams", "is_active", "created_at", "updated_at", "firmware_version", "total_print_time",
	"filament_level", "last_maintenance_date", "in_maintenance", "maintenance_type", "notes",
	NULL
};
static const char *const STATS_KEYS[] = { "total", "active", "by_status", NULL };
static const char *const STATUS_KEYS[] = {
	"idle", "printing", "paused", "maintenance", "offline", "error", NULL
};

#define SECRET_IP "10.66.55.44"
#define SECRET_SERIAL "01P00C4A0912345"
#define SECRET_CODE "ac-93f1c2"
#define SECRET_NOTES "belt tension checked by Sam"

static const struct db_query Q_P_DETAILS = {
	"UPDATE printers SET ip_address = ?, serial_number = ?, access_code = ?, notes = ?,"
	" connection_type = 'klipper', nozzle_size = 0.4, has_ams = 1, current_color = 'Red',"
	" current_color_hex = '#FF0000', current_filament_type = 'PLA',"
	" current_build_plate = 'Textured PEI', manufacturer = 'Bambu Lab', location = 'Shelf 1',"
	" firmware_version = '01.08.00', total_print_time = 1234, filament_level = 800"
	" WHERE id = ?"
};
static const struct db_query Q_P_SORT = { "UPDATE printers SET sort_order = ? WHERE id = ?" };
static const struct db_query Q_P_ACTIVE = { "UPDATE printers SET is_active = ? WHERE id = ?" };
static const struct db_query Q_P_LOCATION = { "UPDATE printers SET location = ? WHERE id = ?" };
static const struct db_query Q_P_NO_HUB = { "UPDATE printers SET hub_id = NULL WHERE id = ?" };
static const struct db_query Q_P_OLD_UPDATED = {
	"UPDATE printers SET updated_at = '2020-01-01 00:00:00.000' WHERE id = ?"
};
static const struct db_query Q_P_MAINT = {
	"UPDATE printers SET status = 'maintenance', in_maintenance = 1 WHERE id = ?"
};
/* Everything a refused change must leave as it was. */
static const struct db_query Q_P_SNAPSHOT = {
	"SELECT CONCAT_WS('|', name, IFNULL(location, '~'), IFNULL(notes, '~'), status,"
	" in_maintenance, IFNULL(maintenance_type, '~'), IFNULL(last_maintenance_date, '~'),"
	" IFNULL(ip_address, '~'), IFNULL(serial_number, '~'), IFNULL(access_code, '~'),"
	" IFNULL(hub_id, '~'), connection_type, updated_at) FROM printers WHERE id = ?"
};
static const struct db_query Q_P_STATUS = { "SELECT status FROM printers WHERE id = ?" };

struct snap {
	char text[4096];
};

static int snapshot(const char *printer, struct snap *s)
{
	return FX_TEXT(s->text, Q_P_SNAPSHOT, DS(printer));
}

/* The printer's row is exactly as in s. */
static void unchanged(const char *printer, const struct snap *s, const char *file, unsigned line)
{
	struct snap now;
	if (snapshot(printer, &now) == 0)
		at_str(now.text, s->text, "stored printer row", NULL, file, line);
}
#define UNCHANGED(printer, s) unchanged((printer), (s), __FILE__, __LINE__)

/* An account with a read,write key and one hub, online unless told otherwise. */
struct farm {
	struct tenant t;
	char hub[FX_ID];
};

static int make_farm(struct farm *f, int online)
{
	if (fx_tenant(&f->t, "read,write") < 0 || fx_hub(f->t.account, "Farm hub", f->hub) < 0)
		return -1;
	return online ? fx_hub_online(f->hub, 0) : 0;
}

static int add(const struct farm *f, const char *name, char id[FX_ID])
{
	return fx_printer(f->t.account, f->hub, name, "X1 Carbon", id);
}

static const char *ppath(const char *id, const char *suffix)
{
	static char buf[4][256];
	static int slot;
	char *b = buf[slot++ & 3];
	snprintf(b, sizeof buf[0], "/printers/%s%s", id, suffix ? suffix : "");
	return b;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "a|b|c": the names of a list response, sorted (sorted = 0: in response order). */
static const char *names(const struct resp *r, int sorted, char *out, size_t size)
{
	const char *v[64];
	size_t n = 0, o = 0;
	json_t *list = rdata(r);
	for (size_t i = 0; i < json_array_size(list) && n < 64; i++)
		v[n++] = jstr(json_array_get(list, i), "name");
	if (sorted)
		qsort(v, n, sizeof v[0], cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < n && o < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%s", i ? "|" : "", v[i] ? v[i] : "?");
	return out;
}

/* GET path answers 200 with exactly these names (sorted "a|b"). */
static void list_is(const char *key, const char *path, const char *want, const char *file,
		    unsigned line)
{
	RESP(r);
	char got[2048];
	api("GET", path, key, NULL, &r);
	if (at_expect(&r, 200, NULL, file, line))
		at_str(names(&r, 1, got, sizeof got), want, path, &r, file, line);
}
#define LIST_IS(key, path, want) list_is((key), (path), (want), __FILE__, __LINE__)

/* A 422 whose details name exactly these fields (and whose message names the first). */
static void expect_422(const struct resp *r, const char *const *fields, const char *file,
		       unsigned line)
{
	if (!at_expect(r, 422, "VALIDATION_ERROR", file, line))
		return;
	json_t *d = json_object_get(r->json, "details");
	size_t n = 0;
	for (; fields[n]; n++) {
		json_t *l = json_object_get(d, fields[n]);
		at_check(json_is_array(l) && json_array_size(l) > 0 &&
				 json_is_string(json_array_get(l, 0)) &&
				 strstr(json_string_value(json_array_get(l, 0)), fields[n]),
			 r, file, line, "details.%s holds a message naming it", fields[n]);
	}
	at_check(json_object_size(d) == n, r, file, line, "details names %zu field(s)", n);
	const char *msg = jstr(r->json, "error");
	at_check(msg && strstr(msg, fields[0]), r, file, line, "the error message names %s",
		 fields[0]);
}
#define EXPECT_422(r, ...) expect_422(&(r), (const char *[]){ __VA_ARGS__, NULL }, __FILE__, __LINE__)

/* ----------------------------------------------------------------------------- reads */

static void test_projection(void)
{
	struct farm f;
	char p[FX_ID];
	RESP(r);
	FX(make_farm(&f, 1));
	FX(add(&f, "Projected", p));
	FX(FX_SQL(Q_P_DETAILS, DS(SECRET_IP), DS(SECRET_SERIAL), DS(SECRET_CODE), DS(SECRET_NOTES),
		  DS(p)));
	static const char *const hidden[] = { SECRET_IP, SECRET_SERIAL, SECRET_CODE, "klipper",
					      "ip_address", "access_code", "serial_number",
					      "hub_id", "connection_type", "sort_order",
					      "account_id", "is_connected", "cleared" };
	api("GET", "/printers", f.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r)) {
		json_t *p0 = json_array_get(rdata(&r), 0);
		KEYS(p0, LIST_KEYS, &r);
		STR_EQ(jstr(p0, "id"), p, &r);
		STR_EQ(jstr(p0, "name"), "Projected", &r);
		STR_EQ(jstr(p0, "model"), "X1 Carbon", &r);
		STR_EQ(jstr(p0, "manufacturer"), "Bambu Lab", &r);
		STR_EQ(jstr(p0, "status"), "idle", &r);
		STR_EQ(jstr(p0, "location"), "Shelf 1", &r);
		json_t *nz = json_object_get(p0, "nozzle_size");
		CHECK(json_is_number(nz) && json_number_value(nz) == 0.4, &r, "nozzle_size is 0.4");
		STR_EQ(jstr(p0, "current_color"), "Red", &r);
		STR_EQ(jstr(p0, "current_color_hex"), "#FF0000", &r);
		STR_EQ(jstr(p0, "current_filament_type"), "PLA", &r);
		STR_EQ(jstr(p0, "current_build_plate"), "Textured PEI", &r);
		INT_EQ(jbool(p0, "has_ams"), 1, &r);
		INT_EQ(jbool(p0, "is_active"), 1, &r);
		CHECK(is_iso_ms(jstr(p0, "created_at")) && is_iso_ms(jstr(p0, "updated_at")), &r,
		      "timestamps are ISO-8601 ms Z");
		CHECK(!strstr(r.body, SECRET_NOTES), &r, "notes are not in the list projection");
		CHECK(!strstr(r.body, f.hub), &r, "the hub id is never exposed");
		for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
			CHECK(!strstr(r.body, hidden[i]), &r, "\"%s\" must not appear", hidden[i]);
	}
	api("GET", ppath(p, NULL), f.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, DETAIL_KEYS, &r);
		STR_EQ(jstr(d, "id"), p, &r);
		STR_EQ(jstr(d, "notes"), SECRET_NOTES, &r);
		STR_EQ(jstr(d, "firmware_version"), "01.08.00", &r);
		INT_EQ(jint(d, "total_print_time"), 1234, &r);
		INT_EQ(jint(d, "filament_level"), 800, &r);
		CHECK(json_is_null(json_object_get(d, "last_maintenance_date")), &r,
		      "last_maintenance_date null");
		INT_EQ(jbool(d, "in_maintenance"), 0, &r);
		CHECK(json_is_null(json_object_get(d, "maintenance_type")), &r, "maintenance_type null");
		CHECK(!strstr(r.body, f.hub), &r, "the hub id is never exposed");
		for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
			CHECK(!strstr(r.body, hidden[i]), &r, "\"%s\" must not appear", hidden[i]);
	}
	/* the write responses (detail projection) hide the same fields */
	api("PATCH", ppath(p, NULL), f.t.key, "{\"location\":\"Shelf 2\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), DETAIL_KEYS, &r);
		STR_EQ(jstr(rdata(&r), "notes"), SECRET_NOTES, &r);
		CHECK(!strstr(r.body, f.hub), &r, "the hub id is never exposed");
		for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
			CHECK(!strstr(r.body, hidden[i]), &r, "\"%s\" must not appear", hidden[i]);
	}
	api("PUT", ppath(p, "/maintenance"), f.t.key, "{\"in_maintenance\":true}", &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), DETAIL_KEYS, &r);
		CHECK(!strstr(r.body, f.hub), &r, "the hub id is never exposed");
		for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
			CHECK(!strstr(r.body, hidden[i]), &r, "\"%s\" must not appear", hidden[i]);
	}
	/* a fresh printer: defaults, nulls */
	char q[FX_ID];
	FX(add(&f, "Plain", q));
	api("GET", ppath(q, NULL), f.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, DETAIL_KEYS, &r);
		CHECK(json_is_null(json_object_get(d, "location")) &&
			      json_is_null(json_object_get(d, "notes")) &&
			      json_is_null(json_object_get(d, "nozzle_size")),
		      &r, "unset fields are null");
		INT_EQ(jbool(d, "has_ams"), 0, &r);
		INT_EQ(jint(d, "total_print_time"), 0, &r);
	}
}

static void test_order_and_tenancy(void)
{
	struct farm a, b;
	char id[FX_ID];
	RESP(r);
	char got[512];
	FX(make_farm(&a, 1));
	FX(make_farm(&b, 1));
	FX(add(&a, "Zeta", id));
	FX(add(&a, "beta", id));
	FX(FX_SQL(Q_P_SORT, DI(5), DS(id)));
	FX(add(&a, "alpha", id));
	FX(add(&a, "Mid", id));
	FX(FX_SQL(Q_P_SORT, DI(-1), DS(id)));
	FX(add(&a, "Bravo", id));
	FX(add(&b, "Aaa other account", id));
	api("GET", "/printers", a.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(names(&r, 0, got, sizeof got), "Mid|alpha|Bravo|Zeta|beta", &r);
	CHECK(!strstr(r.body, id), &r, "another account's printer is not listed");
	api("GET", "/printers", b.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(names(&r, 0, got, sizeof got), "Aaa other account", &r);
}

static void test_filters(void)
{
	struct farm f;
	char id[FX_ID], off_hub[FX_ID], path[512], enc[256];
	FX(make_farm(&f, 1));
	FX(fx_hub(f.t.account, "Offline hub", off_hub));
	FX(add(&f, "Front Left", id));
	FX(FX_SQL(Q_P_LOCATION, DS("Shelf A"), DS(id)));
	FX(add(&f, "Front Right", id));
	FX(FX_SQL(Q_P_LOCATION, DS("Shelf A2"), DS(id)));
	FX(fx_printer_status(id, "printing"));
	FX(add(&f, "Back 100% Done", id));
	FX(FX_SQL(Q_P_LOCATION, DS("Shelf B"), DS(id)));
	FX(FX_SQL(Q_P_ACTIVE, DI(0), DS(id)));
	FX(add(&f, "Back 100 Done", id));
	FX(FX_SQL(Q_P_MAINT, DS(id)));
	FX(add(&f, "snake_case", id));
	FX(add(&f, "snakeXcase", id));
	FX(fx_printer(f.t.account, off_hub, "Remote", "P1S", id));
	const char *k = f.t.key;

	LIST_IS(k, "/printers", "Back 100 Done|Back 100% Done|Front Left|Front Right|Remote|"
				"snakeXcase|snake_case");
	LIST_IS(k, "/printers?is_active=false", "Back 100% Done");
	LIST_IS(k, "/printers?is_active=true",
		"Back 100 Done|Front Left|Front Right|Remote|snakeXcase|snake_case");
	LIST_IS(k, "/printers?status=idle", "Back 100% Done|Front Left|snakeXcase|snake_case");
	LIST_IS(k, "/printers?status=printing", "Front Right");
	LIST_IS(k, "/printers?status=maintenance", "Back 100 Done");
	LIST_IS(k, "/printers?status=offline", "Remote");
	LIST_IS(k, "/printers?status=error", "");
	LIST_IS(k, "/printers?status=paused", "");
	LIST_IS(k, "/printers?location=Shelf%20A", "Front Left");
	LIST_IS(k, "/printers?location=Shelf+A2", "Front Right");
	LIST_IS(k, "/printers?location=Shelf", "");
	LIST_IS(k, "/printers?search=front", "Front Left|Front Right");
	LIST_IS(k, "/printers?search=FRONT", "Front Left|Front Right");
	LIST_IS(k, "/printers?search=t%20L", "Front Left");
	LIST_IS(k, "/printers?search=%25", "Back 100% Done");
	LIST_IS(k, "/printers?search=100%25", "Back 100% Done");
	LIST_IS(k, "/printers?search=_", "snake_case");
	LIST_IS(k, "/printers?search=e_c", "snake_case");
	LIST_IS(k, "/printers?search=%5C", "");
	LIST_IS(k, "/printers?search=zzz", "");
	LIST_IS(k, "/printers?search=front&status=printing", "Front Right");
	LIST_IS(k, "/printers?is_active=true&location=Shelf%20B", "");
	LIST_IS(k, "/printers?is_active=false&search=back&status=idle", "Back 100% Done");
	/* the longest allowed search and location */
	snprintf(path, sizeof path, "/printers?search=%s", rep(0, "a", 120));
	LIST_IS(k, path, "");
	snprintf(path, sizeof path, "/printers?location=%s", url_enc(rep(0, "b", 200), enc, sizeof enc));
	LIST_IS(k, path, "");
}

static void test_filter_validation(void)
{
	struct tenant t;
	char path[512];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	static const struct {
		const char *query, *field;
	} cases[] = {
		{ "is_active=yes", "is_active" }, { "is_active=1", "is_active" },
		{ "is_active=", "is_active" },    { "is_active=TRUE", "is_active" },
		{ "status=bogus", "status" },     { "status=IDLE", "status" },
		{ "status=", "status" },          { "search=", "search" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(path, sizeof path, "/printers?%s", cases[i].query);
		api("GET", path, t.key, NULL, &r);
		EXPECT_422(r, cases[i].field);
	}
	snprintf(path, sizeof path, "/printers?search=%s", rep(0, "a", 121));
	api("GET", path, t.key, NULL, &r);
	EXPECT_422(r, "search");
	snprintf(path, sizeof path, "/printers?location=%s", rep(0, "b", 201));
	api("GET", path, t.key, NULL, &r);
	EXPECT_422(r, "location");
	/* every problem at once */
	api("GET", "/printers?is_active=maybe&status=sleeping", t.key, NULL, &r);
	EXPECT_422(r, "is_active", "status");
	/* unknown parameters are ignored */
	api("GET", "/printers?colour=red", t.key, NULL, &r);
	EXPECT(r, 200, NULL);
}

static void test_status_derivation(void)
{
	struct farm f;
	char off_hub[FX_ID], idle[FX_ID], printing[FX_ID], maint[FX_ID], err[FX_ID];
	char q_idle[FX_ID], q_maint[FX_ID], q_printing[FX_ID], nohub[FX_ID];
	RESP(r);
	FX(make_farm(&f, 1));
	FX(fx_hub(f.t.account, "Down hub", off_hub));
	FX(add(&f, "On idle", idle));
	FX(add(&f, "On printing", printing));
	FX(fx_printer_status(printing, "printing"));
	FX(add(&f, "On maintenance", maint));
	FX(FX_SQL(Q_P_MAINT, DS(maint)));
	FX(add(&f, "On error", err));
	FX(fx_printer_status(err, "error"));
	FX(fx_printer(f.t.account, off_hub, "Off idle", "P1S", q_idle));
	FX(fx_printer(f.t.account, off_hub, "Off maintenance", "P1S", q_maint));
	FX(FX_SQL(Q_P_MAINT, DS(q_maint)));
	FX(fx_printer(f.t.account, off_hub, "Off printing", "P1S", q_printing));
	FX(fx_printer_status(q_printing, "printing"));
	FX(add(&f, "No hub", nohub));
	FX(FX_SQL(Q_P_NO_HUB, DS(nohub)));
	FX(fx_printer_status(nohub, "paused"));

	const struct {
		const char *id, *fresh, *stale;
	} want[] = {
		{ idle, "idle", "offline" },           { printing, "printing", "offline" },
		{ maint, "maintenance", "maintenance" }, { err, "error", "offline" },
		{ q_idle, "offline", "offline" },        { q_maint, "maintenance", "maintenance" },
		{ q_printing, "offline", "offline" },    { nohub, "paused", "paused" },
	};
	for (int phase = 0; phase < 2; phase++) {
		for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
			const char *w = phase ? want[i].stale : want[i].fresh;
			api("GET", ppath(want[i].id, NULL), f.t.key, NULL, &r);
			if (EXPECT(r, 200, NULL))
				STR_EQ(jstr(rdata(&r), "status"), w, &r);
		}
		api("GET", "/printers", f.t.key, NULL, &r);
		if (EXPECT(r, 200, NULL)) {
			json_t *list = rdata(&r);
			for (size_t j = 0; j < json_array_size(list); j++) {
				json_t *p = json_array_get(list, j);
				for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
					if (strcmp(jstr(p, "id"), want[i].id) == 0)
						STR_EQ(jstr(p, "status"),
						       phase ? want[i].stale : want[i].fresh, &r);
			}
		}
		if (phase == 0) {
			LIST_IS(f.t.key, "/printers?status=offline", "Off idle|Off printing");
			LIST_IS(f.t.key, "/printers?status=idle", "On idle");
			/* the hub's heartbeat is now 3 minutes old */
			FX(fx_hub_online(f.hub, 180));
		} else {
			LIST_IS(f.t.key, "/printers?status=offline",
				"Off idle|Off printing|On error|On idle|On printing");
			LIST_IS(f.t.key, "/printers?status=idle", "");
			LIST_IS(f.t.key, "/printers?status=maintenance", "Off maintenance|On maintenance");
		}
	}
}

static void test_stats(void)
{
	struct farm f, other;
	char id[FX_ID], off_hub[FX_ID];
	RESP(r);
	FX(make_farm(&f, 1));
	FX(make_farm(&other, 1));
	FX(add(&other, "Not counted", id));
	api("GET", "/printers/stats", f.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), STATS_KEYS, &r);
		KEYS(json_object_get(rdata(&r), "by_status"), STATUS_KEYS, &r);
		INT_EQ(jint(rdata(&r), "total"), 0, &r);
		INT_EQ(jint(rdata(&r), "active"), 0, &r);
		for (int i = 0; STATUS_KEYS[i]; i++)
			INT_EQ(jint(json_object_get(rdata(&r), "by_status"), STATUS_KEYS[i]), 0, &r);
	}
	FX(fx_hub(f.t.account, "Down hub", off_hub));
	FX(add(&f, "Idle 1", id));
	FX(add(&f, "Idle 2", id));
	FX(add(&f, "Idle inactive", id));
	FX(FX_SQL(Q_P_ACTIVE, DI(0), DS(id)));
	FX(add(&f, "Printing", id));
	FX(fx_printer_status(id, "printing"));
	FX(add(&f, "Paused", id));
	FX(fx_printer_status(id, "paused"));
	FX(add(&f, "Error", id));
	FX(fx_printer_status(id, "error"));
	FX(add(&f, "Maintenance", id));
	FX(FX_SQL(Q_P_MAINT, DS(id)));
	FX(fx_printer(f.t.account, off_hub, "Behind offline hub", "P1S", id));
	FX(fx_printer(f.t.account, off_hub, "Printing behind offline hub", "P1S", id));
	FX(fx_printer_status(id, "printing"));
	FX(FX_SQL(Q_P_ACTIVE, DI(0), DS(id)));
	api("GET", "/printers/stats", f.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r), *by = json_object_get(d, "by_status");
		KEYS(d, STATS_KEYS, &r);
		KEYS(by, STATUS_KEYS, &r);
		INT_EQ(jint(d, "total"), 9, &r);
		INT_EQ(jint(d, "active"), 7, &r);
		INT_EQ(jint(by, "idle"), 3, &r);
		INT_EQ(jint(by, "printing"), 1, &r);
		INT_EQ(jint(by, "paused"), 1, &r);
		INT_EQ(jint(by, "maintenance"), 1, &r);
		INT_EQ(jint(by, "offline"), 2, &r);
		INT_EQ(jint(by, "error"), 1, &r);
	}
}

static void test_get_not_found(void)
{
	struct farm a, b;
	char theirs[FX_ID];
	RESP(r);
	FX(make_farm(&a, 1));
	FX(make_farm(&b, 1));
	FX(add(&b, "Theirs", theirs));
	const char *ids[] = { NO_SUCH_ID, theirs, "x", "stats2", rep(2, "f", 300) };
	for (int i = 0; i < 5; i++) {
		api("GET", ppath(ids[i], NULL), a.t.key, NULL, &r);
		EXPECT(r, 404, "PRINTER_NOT_FOUND");
	}
	api("GET", ppath(theirs, NULL), b.t.key, NULL, &r);
	EXPECT(r, 200, NULL);
}

/* A path id is matched exactly: a printer's id plus a trailing space (%20) is an id that does not
 * exist, so it is a 404 and nothing changes. */
static void test_id_matched_exactly(void)
{
	struct farm f;
	char p[FX_ID], spaced[FX_ID + 8];
	struct snap s;
	RESP(r);
	FX(make_farm(&f, 1));
	FX(add(&f, "Exact", p));
	FX(snapshot(p, &s));
	snprintf(spaced, sizeof spaced, "%s%%20", p);
	api("GET", ppath(spaced, NULL), f.t.key, NULL, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	api("PATCH", ppath(spaced, NULL), f.t.key, "{\"location\":\"Spaced\"}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	api("PUT", ppath(spaced, "/maintenance"), f.t.key, "{\"in_maintenance\":true}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	UNCHANGED(p, &s);
}

/* ------------------------------------------------------------------------------ PATCH */

static void test_patch(void)
{
	struct farm f;
	char p[FX_ID], body[4200];
	RESP(r);
	RESP(g);
	FX(make_farm(&f, 1));
	FX(add(&f, "Before", p));
	api("GET", ppath(p, NULL), f.t.key, NULL, &g);
	char created[40];
	snprintf(created, sizeof created, "%s", g.json ? jstr(rdata(&g), "created_at") : "?");
	FX(FX_SQL(Q_P_OLD_UPDATED, DS(p)));
	api("PATCH", ppath(p, NULL), f.t.key,
	    "{\"name\":\"After\",\"location\":\"Bay 3\",\"notes\":\"Check belts\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, DETAIL_KEYS, &r);
		STR_EQ(jstr(d, "id"), p, &r);
		STR_EQ(jstr(d, "name"), "After", &r);
		STR_EQ(jstr(d, "location"), "Bay 3", &r);
		STR_EQ(jstr(d, "notes"), "Check belts", &r);
		STR_EQ(jstr(d, "model"), "X1 Carbon", &r);
		STR_EQ(jstr(d, "status"), "idle", &r);
		STR_EQ(jstr(d, "created_at"), created, &r);
		long long up = iso_ms(jstr(d, "updated_at")), now = (long long)time(NULL) * 1000;
		CHECK(up > now - 60000 && up < now + 60000, &r, "updated_at advanced to about now");
	}
	/* what was written reads back */
	api("GET", ppath(p, NULL), f.t.key, NULL, &g);
	if (EXPECT(g, 200, NULL) && r.json)
		CHECK(json_equal(rdata(&g), rdata(&r)), &g, "GET returns what PATCH returned");
	/* only the fields sent change; null clears */
	api("PATCH", ppath(p, NULL), f.t.key, "{\"notes\":\"Only notes\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "name"), "After", &r);
		STR_EQ(jstr(rdata(&r), "location"), "Bay 3", &r);
		STR_EQ(jstr(rdata(&r), "notes"), "Only notes", &r);
	}
	api("PATCH", ppath(p, NULL), f.t.key, "{\"location\":null,\"notes\":null}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "name"), "After", &r);
		CHECK(json_is_null(json_object_get(rdata(&r), "location")) &&
			      json_is_null(json_object_get(rdata(&r), "notes")),
		      &r, "null clears location and notes");
	}
	/* unknown members are ignored next to a known one */
	api("PATCH", ppath(p, NULL), f.t.key, "{\"name\":\"After 2\",\"colour\":\"red\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "name"), "After 2", &r);
	/* the longest values, counted in characters */
	snprintf(body, sizeof body, "{\"name\":\"%s\"}", rep(0, "\xc3\xa9", 120));
	api("PATCH", ppath(p, NULL), f.t.key, body, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "name"), rep(0, "\xc3\xa9", 120), &r);
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"location\":\"%s\"}", rep(0, "n", 120),
		 rep(1, "l", 200));
	api("PATCH", ppath(p, NULL), f.t.key, body, &r);
	EXPECT(r, 200, NULL);
	snprintf(body, sizeof body, "{\"notes\":\"%s\"}", rep(0, "\xe2\x82\xac", 1000));
	api("PATCH", ppath(p, NULL), f.t.key, body, &r);
	EXPECT(r, 200, NULL);
	snprintf(body, sizeof body, "{\"notes\":\"%s\"}", rep(0, "x", 2000));
	api("PATCH", ppath(p, NULL), f.t.key, body, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(strlen(jstr(rdata(&r), "notes") ? jstr(rdata(&r), "notes") : ""), 2000, &r);
	/* the list shows the new name but never the notes */
	api("GET", "/printers", f.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "name"), rep(0, "n", 120), &r);
		CHECK(!json_object_get(json_array_get(rdata(&r), 0), "notes"), &r,
		      "no notes in the list");
	}
}

static void test_patch_no_updates(void)
{
	struct farm f;
	char p[FX_ID];
	struct snap s;
	RESP(r);
	FX(make_farm(&f, 1));
	FX(add(&f, "Stable", p));
	FX(snapshot(p, &s));
	static const char *const bodies[] = {
		"{}", "{\"colour\":\"red\"}", "{\"status\":\"idle\"}", "{\"is_active\":false}",
		"{\"model\":\"P1S\"}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		api("PATCH", ppath(p, NULL), f.t.key, bodies[i], &r);
		EXPECT(r, 400, "NO_UPDATES");
	}
	UNCHANGED(p, &s);
}

static void test_patch_validation(void)
{
	struct farm f;
	char p[FX_ID], body[4200];
	struct snap s;
	RESP(r);
	FX(make_farm(&f, 1));
	FX(add(&f, "Valid", p));
	FX(snapshot(p, &s));
	const struct {
		const char *member, *value, *field;
	} cases[] = {
		{ "name", "\"\"", "name" },
		{ "name", NULL, "name" }, /* 121 characters */
		{ "name", "null", "name" },
		{ "name", "5", "name" },
		{ "name", "true", "name" },
		{ "name", "[\"x\"]", "name" },
		{ "location", NULL, "location" }, /* 201 */
		{ "location", "5", "location" },
		{ "location", "{}", "location" },
		{ "notes", NULL, "notes" }, /* 2001 */
		{ "notes", "[]", "notes" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *v = cases[i].value;
		char big[2100];
		if (!v) {
			int n = strcmp(cases[i].member, "name") == 0	   ? 121
				: strcmp(cases[i].member, "location") == 0 ? 201
									   : 2001;
			snprintf(big, sizeof big, "\"%s\"", rep(0, "z", n));
			v = big;
		}
		snprintf(body, sizeof body, "{\"%s\":%s}", cases[i].member, v);
		api("PATCH", ppath(p, NULL), f.t.key, body, &r);
		EXPECT_422(r, cases[i].field);
	}
	/* 121 characters of two bytes each */
	snprintf(body, sizeof body, "{\"name\":\"%s\"}", rep(0, "\xc3\xa9", 121));
	api("PATCH", ppath(p, NULL), f.t.key, body, &r);
	EXPECT_422(r, "name");
	/* every problem at once; a valid field next to an invalid one is not applied */
	api("PATCH", ppath(p, NULL), f.t.key, "{\"name\":\"\",\"location\":5,\"notes\":7}", &r);
	EXPECT_422(r, "name", "location", "notes");
	api("PATCH", ppath(p, NULL), f.t.key, "{\"name\":\"Good name\",\"location\":5}", &r);
	EXPECT_422(r, "location");
	UNCHANGED(p, &s);
}

static void test_patch_rejected_fields(void)
{
	struct farm f;
	char p[FX_ID], body[256];
	struct snap s;
	RESP(r);
	FX(make_farm(&f, 1));
	FX(add(&f, "Guarded", p));
	FX(FX_SQL(Q_P_DETAILS, DS(SECRET_IP), DS(SECRET_SERIAL), DS(SECRET_CODE), DS(SECRET_NOTES),
		  DS(p)));
	FX(snapshot(p, &s));
	static const char *const fields[] = { "ip_address", "access_code", "serial_number", "hub_id",
					      "connection_type" };
	static const char *const values[] = { "\"192.168.9.9\"", "null", "\"\"", "5", "\"prusa\"" };
	for (int i = 0; i < 5; i++) {
		for (int v = 0; v < 5; v++) {
			snprintf(body, sizeof body, "{\"name\":\"Sneaky\",\"%s\":%s}", fields[i],
				 values[v]);
			api("PATCH", ppath(p, NULL), f.t.key, body, &r);
			EXPECT_422(r, fields[i]);
		}
	}
	/* alone too (not NO_UPDATES: the client must learn the change did not happen) */
	api("PATCH", ppath(p, NULL), f.t.key, "{\"ip_address\":\"192.168.9.9\"}", &r);
	EXPECT_422(r, "ip_address");
	UNCHANGED(p, &s);
}

static void test_patch_duplicate_name(void)
{
	struct farm a, b;
	char one[FX_ID], two[FX_ID], theirs[FX_ID];
	struct snap s;
	RESP(r);
	FX(make_farm(&a, 1));
	FX(make_farm(&b, 1));
	FX(add(&a, "One", one));
	FX(add(&a, "Two", two));
	FX(add(&b, "Shared name", theirs));
	FX(snapshot(two, &s));
	api("PATCH", ppath(two, NULL), a.t.key, "{\"name\":\"One\"}", &r);
	if (EXPECT(r, 409, "DUPLICATE_NAME"))
		CHECK(strstr(jstr(r.json, "error"), "One") != NULL, &r, "the message names the name");
	api("PATCH", ppath(two, NULL), a.t.key, "{\"name\":\"One\",\"location\":\"Moved\"}", &r);
	EXPECT(r, 409, "DUPLICATE_NAME");
	UNCHANGED(two, &s);
	/* its own name is no conflict */
	api("PATCH", ppath(one, NULL), a.t.key, "{\"name\":\"One\",\"location\":\"Here\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "location"), "Here", &r);
	/* names are unique per account, not across accounts */
	api("PATCH", ppath(one, NULL), a.t.key, "{\"name\":\"Shared name\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "name"), "Shared name", &r);
	/* a freed name can be taken */
	api("PATCH", ppath(two, NULL), a.t.key, "{\"name\":\"One\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "name"), "One", &r);
}

static void test_patch_other_account(void)
{
	struct farm a, b;
	char theirs[FX_ID], mine[FX_ID];
	struct snap s;
	RESP(r);
	FX(make_farm(&a, 1));
	FX(make_farm(&b, 1));
	FX(add(&a, "Mine", mine));
	FX(add(&b, "Theirs", theirs));
	FX(snapshot(theirs, &s));
	api("PATCH", ppath(theirs, NULL), a.t.key, "{\"name\":\"Hijacked\",\"notes\":\"x\"}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	/* a name taken in the caller's account changes nothing either */
	api("PATCH", ppath(theirs, NULL), a.t.key, "{\"name\":\"Mine\"}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	api("PATCH", ppath(NO_SUCH_ID, NULL), a.t.key, "{\"name\":\"Ghost\"}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	UNCHANGED(theirs, &s);
	api("GET", ppath(theirs, NULL), b.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "name"), "Theirs", &r);
}

/* ------------------------------------------------------------------------ maintenance */

static void test_maintenance_cycle(void)
{
	struct farm f;
	char p[FX_ID], st[32];
	RESP(r);
	FX(make_farm(&f, 1));
	FX(add(&f, "Serviced", p));
	FX(FX_SQL(Q_P_OLD_UPDATED, DS(p)));
	long long now = (long long)time(NULL) * 1000;
	api("PUT", ppath(p, "/maintenance"), f.t.key,
	    "{\"in_maintenance\":true,\"maintenance_type\":\"Nozzle swap\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, DETAIL_KEYS, &r);
		STR_EQ(jstr(d, "status"), "maintenance", &r);
		INT_EQ(jbool(d, "in_maintenance"), 1, &r);
		STR_EQ(jstr(d, "maintenance_type"), "Nozzle swap", &r);
		CHECK(json_is_null(json_object_get(d, "last_maintenance_date")), &r,
		      "last_maintenance_date is set on the way out only");
		CHECK(iso_ms(jstr(d, "updated_at")) > now - 60000, &r, "updated_at advanced");
	}
	LIST_IS(f.t.key, "/printers?status=maintenance", "Serviced");
	/* on again: stays on, the type is updated */
	api("PUT", ppath(p, "/maintenance"), f.t.key,
	    "{\"in_maintenance\":true,\"maintenance_type\":\"Belt\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "status"), "maintenance", &r);
		STR_EQ(jstr(rdata(&r), "maintenance_type"), "Belt", &r);
	}
	/* off: idle (hub online), type cleared, date stamped */
	api("PUT", ppath(p, "/maintenance"), f.t.key, "{\"in_maintenance\":false}", &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		STR_EQ(jstr(d, "status"), "idle", &r);
		INT_EQ(jbool(d, "in_maintenance"), 0, &r);
		CHECK(json_is_null(json_object_get(d, "maintenance_type")), &r, "type cleared");
		long long at = iso_ms(jstr(d, "last_maintenance_date"));
		CHECK(at > now - 60000 && at < now + 60000, &r, "last_maintenance_date is about now");
	}
	FX(FX_TEXT(st, Q_P_STATUS, DS(p)));
	STR_EQ(st, "idle", NULL);
	/* on without a type: null type; off again keeps the date moving forward */
	api("PUT", ppath(p, "/maintenance"), f.t.key, "{\"in_maintenance\":true}", &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_is_null(json_object_get(rdata(&r), "maintenance_type")) &&
			      is_iso_ms(jstr(rdata(&r), "last_maintenance_date")),
		      &r, "no type; the last date is kept while in maintenance");
	api("PUT", ppath(p, "/maintenance"), f.t.key,
	    "{\"in_maintenance\":false,\"maintenance_type\":null}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "idle", &r);
}

static void test_maintenance_hub_offline(void)
{
	struct farm f;
	char p[FX_ID], loose[FX_ID], st[32];
	RESP(r);
	FX(make_farm(&f, 0));
	FX(add(&f, "Behind a dead hub", p));
	FX(add(&f, "No hub", loose));
	FX(FX_SQL(Q_P_NO_HUB, DS(loose)));
	api("PUT", ppath(p, "/maintenance"), f.t.key, "{\"in_maintenance\":true}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "maintenance", &r);
	api("PUT", ppath(p, "/maintenance"), f.t.key, "{\"in_maintenance\":false}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "status"), "offline", &r);
		INT_EQ(jbool(rdata(&r), "in_maintenance"), 0, &r);
		CHECK(is_iso_ms(jstr(rdata(&r), "last_maintenance_date")), &r, "date stamped");
	}
	FX(FX_TEXT(st, Q_P_STATUS, DS(p)));
	STR_EQ(st, "offline", NULL);
	/* a printer without a hub leaves maintenance as idle */
	api("PUT", ppath(loose, "/maintenance"), f.t.key, "{\"in_maintenance\":true}", &r);
	EXPECT(r, 200, NULL);
	api("PUT", ppath(loose, "/maintenance"), f.t.key, "{\"in_maintenance\":false}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "idle", &r);
}

static void test_maintenance_noop(void)
{
	struct farm f;
	char p[FX_ID];
	RESP(r);
	FX(make_farm(&f, 1));
	FX(add(&f, "Never serviced", p));
	api("PUT", ppath(p, "/maintenance"), f.t.key, "{\"in_maintenance\":false}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "status"), "idle", &r);
		INT_EQ(jbool(rdata(&r), "in_maintenance"), 0, &r);
		CHECK(json_is_null(json_object_get(rdata(&r), "last_maintenance_date")), &r,
		      "turning off what is off stamps no date");
	}
	/* from error: allowed */
	FX(fx_printer_status(p, "error"));
	api("PUT", ppath(p, "/maintenance"), f.t.key, "{\"in_maintenance\":true}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "maintenance", &r);
}

static void test_maintenance_printing(void)
{
	struct farm f;
	char p[FX_ID];
	struct snap s;
	RESP(r);
	FX(make_farm(&f, 1));
	FX(add(&f, "Busy", p));
	static const char *const busy[] = { "printing", "paused" };
	for (int i = 0; i < 2; i++) {
		FX(fx_printer_status(p, busy[i]));
		FX(snapshot(p, &s));
		api("PUT", ppath(p, "/maintenance"), f.t.key,
		    "{\"in_maintenance\":true,\"maintenance_type\":\"Clog\"}", &r);
		if (EXPECT(r, 400, "PRINTER_PRINTING"))
			CHECK(strstr(jstr(r.json, "error"), busy[i]) != NULL, &r,
			      "the message names the status");
		UNCHANGED(p, &s);
		api("GET", ppath(p, NULL), f.t.key, NULL, &r);
		if (EXPECT(r, 200, NULL))
			STR_EQ(jstr(rdata(&r), "status"), busy[i], &r);
	}
}

static void test_maintenance_validation(void)
{
	struct farm f;
	char p[FX_ID], body[512];
	struct snap s;
	RESP(r);
	FX(make_farm(&f, 1));
	FX(add(&f, "Strict", p));
	FX(snapshot(p, &s));
	const struct {
		const char *body, *field;
	} cases[] = {
		{ "{}", "in_maintenance" },
		{ "{\"maintenance_type\":\"x\"}", "in_maintenance" },
		{ "{\"in_maintenance\":\"true\"}", "in_maintenance" },
		{ "{\"in_maintenance\":1}", "in_maintenance" },
		{ "{\"in_maintenance\":null}", "in_maintenance" },
		{ "{\"in_maintenance\":[true]}", "in_maintenance" },
		{ "{\"in_maintenance\":true,\"maintenance_type\":5}", "maintenance_type" },
		{ "{\"in_maintenance\":true,\"maintenance_type\":{}}", "maintenance_type" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		api("PUT", ppath(p, "/maintenance"), f.t.key, cases[i].body, &r);
		EXPECT_422(r, cases[i].field);
	}
	snprintf(body, sizeof body, "{\"in_maintenance\":true,\"maintenance_type\":\"%s\"}",
		 rep(0, "t", 121));
	api("PUT", ppath(p, "/maintenance"), f.t.key, body, &r);
	EXPECT_422(r, "maintenance_type");
	api("PUT", ppath(p, "/maintenance"), f.t.key, "{\"in_maintenance\":5,\"maintenance_type\":5}",
	    &r);
	EXPECT_422(r, "in_maintenance", "maintenance_type");
	UNCHANGED(p, &s);
	snprintf(body, sizeof body, "{\"in_maintenance\":true,\"maintenance_type\":\"%s\"}",
		 rep(0, "t", 120));
	api("PUT", ppath(p, "/maintenance"), f.t.key, body, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "maintenance_type"), rep(0, "t", 120), &r);
}

static void test_maintenance_not_found(void)
{
	struct farm a, b;
	char theirs[FX_ID];
	struct snap s;
	RESP(r);
	FX(make_farm(&a, 1));
	FX(make_farm(&b, 1));
	FX(add(&b, "Theirs", theirs));
	FX(snapshot(theirs, &s));
	api("PUT", ppath(theirs, "/maintenance"), a.t.key, "{\"in_maintenance\":true}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	api("PUT", ppath(NO_SUCH_ID, "/maintenance"), a.t.key, "{\"in_maintenance\":true}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	api("PUT", ppath("x", "/maintenance"), a.t.key, "{\"in_maintenance\":false}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	UNCHANGED(theirs, &s);
	api("GET", ppath(theirs, NULL), b.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jbool(rdata(&r), "in_maintenance"), 0, &r);
}

int suite_printers(void)
{
	CU_pSuite s = CU_add_suite("printers", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_projection);
	ADD_TEST(s, test_order_and_tenancy);
	ADD_TEST(s, test_filters);
	ADD_TEST(s, test_filter_validation);
	ADD_TEST(s, test_status_derivation);
	ADD_TEST(s, test_stats);
	ADD_TEST(s, test_get_not_found);
	ADD_TEST(s, test_id_matched_exactly);
	ADD_TEST(s, test_patch);
	ADD_TEST(s, test_patch_no_updates);
	ADD_TEST(s, test_patch_validation);
	ADD_TEST(s, test_patch_rejected_fields);
	ADD_TEST(s, test_patch_duplicate_name);
	ADD_TEST(s, test_patch_other_account);
	ADD_TEST(s, test_maintenance_cycle);
	ADD_TEST(s, test_maintenance_hub_offline);
	ADD_TEST(s, test_maintenance_noop);
	ADD_TEST(s, test_maintenance_printing);
	ADD_TEST(s, test_maintenance_validation);
	ADD_TEST(s, test_maintenance_not_found);
	return 0;
}
