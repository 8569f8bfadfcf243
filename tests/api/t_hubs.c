/* t_hubs.c - GET /hubs, /hubs/{id}, /hubs/{id}/connection, /hubs/{id}/discovered-printers:
 * tenancy, order, exact projections (no network or auth internals), is_stale, the printers
 * summary with derived statuses, discovery results, 404 and 403. */
#include "apitest.h"

#include "util.h"

#include <stdlib.h>
#include <time.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const HUB_LIST_KEYS[] = {
	"id", "name", "firmware_version", "hardware_version", "is_online", "last_seen_at",
	"printer_count", "claimed_at", "created_at", "updated_at", NULL
};
static const char *const HUB_DETAIL_KEYS[] = {
	"id", "name", "firmware_version", "hardware_version", "is_online", "last_seen_at",
	"printer_count", "claimed_at", "created_at", "updated_at", "is_stale", "printers", NULL
};
static const char *const HUB_PRINTER_KEYS[] = { "id", "name", "model", "status", NULL };
static const char *const HUB_CONNECTION_KEYS[] = {
	"id", "name", "is_online", "is_stale", "last_seen_at", "firmware_version", NULL
};
static const char *const DISCOVERY_KEYS[] = { "hub_id", "discovered_at", "printers", NULL };

static const struct db_query Q_HUB_UNNAME = { "UPDATE hubs SET name = NULL WHERE id = ?" };
static const struct db_query Q_HUB_CREATED_AT = {
	"UPDATE hubs SET created_at = ? WHERE id = ?"
};
static const struct db_query Q_HUB_INTERNALS = {
	"UPDATE hubs SET ip_address = ?, mac_address = ?, secret_hash = ?, session_id = ?,"
	" firmware_version = ?, hardware_version = ? WHERE id = ?"
};
static const struct db_query Q_PRINTER_MAINT = {
	"UPDATE printers SET status = 'maintenance', in_maintenance = 1 WHERE id = ?"
};
static const struct db_query Q_DISCOVERY = {
	"INSERT INTO hub_discoveries (hub_id, discovered_at, printers) VALUES (?, ?, ?)"
};

#define SECRET_IP "10.77.66.55"
#define SECRET_MAC "AA:BB:CC:DD:EE:0F"
#define SECRET_HASH "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7"
#define SECRET_SESSION "sess-7f3a9c"

static int hide_secrets(const char *hub, const char *fw, const char *hw)
{
	return FX_SQL(Q_HUB_INTERNALS, DS(SECRET_IP), DS(SECRET_MAC), DS(SECRET_HASH),
		      DS(SECRET_SESSION), DS(fw), DS(hw), DS(hub));
}

/* No network or authentication internal appears anywhere in the body. */
static void no_internals(const struct resp *r, const char *file, unsigned line)
{
	static const char *const words[] = {
		SECRET_IP, SECRET_MAC, SECRET_HASH, SECRET_SESSION, "secret", "mqtt", "ip_address",
		"mac_address", "session", "account_id", "password",
	};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		at_check(r->body && !strstr(r->body, words[i]), r, file, line,
			 "\"%s\" must not appear in a hub response", words[i]);
}
#define NO_INTERNALS(r) no_internals(&(r), __FILE__, __LINE__)

/* Typed members of a hub object shared by the list and the detail. */
static void hub_types(const json_t *h, const struct resp *r, const char *file, unsigned line)
{
	const char *ts[] = { "created_at", "updated_at" };
	at_check(jstr(h, "id") && util_is_uuid(jstr(h, "id")), r, file, line, "id is a UUID");
	at_check(json_is_string(json_object_get(h, "name")) || json_is_null(json_object_get(h, "name")),
		 r, file, line, "name is a string or null");
	at_check(jbool(h, "is_online") >= 0, r, file, line, "is_online is a boolean");
	at_check(json_is_integer(json_object_get(h, "printer_count")), r, file, line,
		 "printer_count is an integer");
	for (int i = 0; i < 2; i++)
		at_check(is_iso_ms(jstr(h, ts[i])), r, file, line, "%s is ISO-8601 ms Z", ts[i]);
	const char *nullable[] = { "last_seen_at", "claimed_at" };
	for (int i = 0; i < 2; i++) {
		const json_t *v = json_object_get(h, nullable[i]);
		at_check(json_is_null(v) || is_iso_ms(json_string_value(v)), r, file, line,
			 "%s is null or ISO-8601 ms Z", nullable[i]);
	}
}
#define HUB_TYPES(h, r) hub_types((h), &(r), __FILE__, __LINE__)

static void test_list(void)
{
	struct tenant a, b;
	char alpha[FX_ID], bravo[FX_ID], charlie[FX_ID], d1[FX_ID], d2[FX_ID], unnamed[FX_ID];
	char other[FX_ID], p[FX_ID];
	RESP(r);
	FX(fx_tenant(&a, "read"));
	FX(fx_tenant(&b, "read"));
	FX(fx_hub(a.account, "Charlie", charlie));
	FX(fx_hub(a.account, "alpha", alpha));
	FX(fx_hub(a.account, "Bravo", bravo));
	FX(fx_hub(a.account, "Dup", d1));
	FX(fx_hub(a.account, "Dup", d2));
	FX(fx_hub(a.account, "Unnamed", unnamed));
	FX(fx_hub(b.account, "Aardvark", other));
	FX(FX_SQL(Q_HUB_UNNAME, DS(unnamed)));
	FX(FX_SQL(Q_HUB_CREATED_AT, DS("2025-01-01 00:00:00.000"), DS(d1)));
	FX(FX_SQL(Q_HUB_CREATED_AT, DS("2025-06-01 00:00:00.000"), DS(d2)));
	FX(hide_secrets(alpha, "1.2.3", "rev B"));
	FX(hide_secrets(unnamed, NULL, NULL));
	FX(fx_printer(a.account, alpha, "A1", "X1 Carbon", p));
	FX(fx_printer(a.account, alpha, "A2", "P1S", p));
	FX(fx_printer(a.account, bravo, "B1", "A1 mini", p));
	FX(fx_printer(b.account, other, "O1", "P1S", p));

	api("GET", "/hubs", a.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return;
	json_t *list = rdata(&r);
	/* name (case-insensitive), unnamed last; equal names newest first */
	const char *want[] = { alpha, bravo, charlie, d2, d1, unnamed };
	const long long count[] = { 2, 1, 0, 0, 0, 0 };
	if (!INT_EQ(json_array_size(list), 6, &r))
		return;
	for (size_t i = 0; i < 6; i++) {
		json_t *h = json_array_get(list, i);
		STR_EQ(jstr(h, "id"), want[i], &r);
		KEYS(h, HUB_LIST_KEYS, &r);
		HUB_TYPES(h, r);
		INT_EQ(jint(h, "printer_count"), count[i], &r);
		INT_EQ(jbool(h, "is_online"), 0, &r);
		CHECK(json_is_null(json_object_get(h, "last_seen_at")), &r, "never seen: null");
	}
	json_t *first = json_array_get(list, 0);
	STR_EQ(jstr(first, "name"), "alpha", &r);
	STR_EQ(jstr(first, "firmware_version"), "1.2.3", &r);
	STR_EQ(jstr(first, "hardware_version"), "rev B", &r);
	CHECK(json_is_null(json_object_get(json_array_get(list, 5), "name")), &r, "unnamed: null");
	CHECK(json_is_null(json_object_get(json_array_get(list, 2), "firmware_version")), &r,
	      "firmware_version null when unknown");
	CHECK(!strstr(r.body, other), &r, "another account's hub is not listed");
	NO_INTERNALS(r);
	/* the other account sees only its own */
	api("GET", "/hubs", b.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r)) {
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), other, &r);
		INT_EQ(jint(json_array_get(rdata(&r), 0), "printer_count"), 1, &r);
	}
}

static void test_list_empty(void)
{
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read"));
	api("GET", "/hubs", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_is_array(rdata(&r)) && json_array_size(rdata(&r)) == 0, &r,
		      "no hubs: an empty array");
}

/* The detail's printers summary: names and statuses in this order. */
static void summary_is(const struct resp *r, const char *const *names, const char *const *status,
		       int n, const char *file, unsigned line)
{
	json_t *ps = json_object_get(rdata(r), "printers");
	if (!at_check(json_is_array(ps) && (int)json_array_size(ps) == n, r, file, line,
		      "printers summary has %d entries", n))
		return;
	for (int i = 0; i < n; i++) {
		json_t *p = json_array_get(ps, (size_t)i);
		at_keys(p, HUB_PRINTER_KEYS, r, file, line);
		at_str(jstr(p, "name"), names[i], "printers[].name", r, file, line);
		at_str(jstr(p, "status"), status[i], "printers[].status", r, file, line);
	}
}

static void test_detail(void)
{
	struct tenant t;
	char hub[FX_ID], hub2[FX_ID], pa[FX_ID], pb[FX_ID], pc[FX_ID], po[FX_ID], path[128];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	FX(fx_hub(t.account, "Detail hub", hub));
	FX(fx_hub(t.account, "Second hub", hub2));
	FX(fx_printer(t.account, hub, "b-printer", "X1 Carbon", pb));
	FX(fx_printer(t.account, hub, "A-printer", "P1S", pa));
	FX(fx_printer(t.account, hub, "c-printer", "A1 mini", pc));
	FX(fx_printer(t.account, hub2, "a-other-hub", "P1S", po));
	FX(FX_SQL(Q_PRINTER_MAINT, DS(pc)));
	FX(fx_printer_status(pb, "printing"));
	FX(hide_secrets(hub, "2.0.1", "v3"));
	snprintf(path, sizeof path, "/hubs/%s", hub);
	const char *names[] = { "A-printer", "b-printer", "c-printer" };

	/* never seen: stale, offline; printers offline except maintenance */
	api("GET", path, t.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return;
	json_t *d = rdata(&r);
	KEYS(d, HUB_DETAIL_KEYS, &r);
	HUB_TYPES(d, r);
	STR_EQ(jstr(d, "id"), hub, &r);
	STR_EQ(jstr(d, "name"), "Detail hub", &r);
	STR_EQ(jstr(d, "firmware_version"), "2.0.1", &r);
	STR_EQ(jstr(d, "hardware_version"), "v3", &r);
	INT_EQ(jint(d, "printer_count"), 3, &r);
	INT_EQ(jbool(d, "is_online"), 0, &r);
	INT_EQ(jbool(d, "is_stale"), 1, &r);
	CHECK(json_is_null(json_object_get(d, "last_seen_at")), &r, "never seen: last_seen_at null");
	summary_is(&r, names, (const char *[]){ "offline", "offline", "maintenance" }, 3, __FILE__,
		   __LINE__);
	json_t *first = json_array_get(json_object_get(d, "printers"), 0);
	STR_EQ(jstr(first, "id"), pa, &r);
	STR_EQ(jstr(first, "model"), "P1S", &r);
	NO_INTERNALS(r);

	/* online with a fresh heartbeat */
	FX(fx_hub_online(hub, 0));
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		d = rdata(&r);
		INT_EQ(jbool(d, "is_online"), 1, &r);
		INT_EQ(jbool(d, "is_stale"), 0, &r);
		long long seen = iso_ms(jstr(d, "last_seen_at"));
		long long now = (long long)time(NULL) * 1000;
		CHECK(seen > now - 30000 && seen < now + 30000, &r, "last_seen_at is about now");
		summary_is(&r, names, (const char *[]){ "idle", "printing", "maintenance" }, 3,
			   __FILE__, __LINE__);
	}
	/* a heartbeat a minute ago is still fresh */
	FX(fx_hub_online(hub, 60));
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "is_stale"), 0, &r);
		summary_is(&r, names, (const char *[]){ "idle", "printing", "maintenance" }, 3,
			   __FILE__, __LINE__);
	}
	/* three minutes ago: stale, and its printers show offline */
	FX(fx_hub_online(hub, 180));
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "is_stale"), 1, &r);
		summary_is(&r, names, (const char *[]){ "offline", "offline", "maintenance" }, 3,
			   __FILE__, __LINE__);
	}
	/* presence lost with a recent heartbeat: not stale, but offline */
	FX(fx_hub_online(hub, 5));
	FX(fx_hub_offline(hub));
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "is_online"), 0, &r);
		INT_EQ(jbool(rdata(&r), "is_stale"), 0, &r);
		summary_is(&r, names, (const char *[]){ "offline", "offline", "maintenance" }, 3,
			   __FILE__, __LINE__);
	}
	/* the second hub lists only its own printer */
	snprintf(path, sizeof path, "/hubs/%s", hub2);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		summary_is(&r, (const char *[]){ "a-other-hub" }, (const char *[]){ "offline" }, 1,
			   __FILE__, __LINE__);
}

static void test_connection(void)
{
	struct tenant t;
	char hub[FX_ID], path[160];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	FX(fx_hub(t.account, "Conn hub", hub));
	FX(hide_secrets(hub, "9.9.9", "hw1"));
	snprintf(path, sizeof path, "/hubs/%s/connection", hub);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, HUB_CONNECTION_KEYS, &r);
		STR_EQ(jstr(d, "id"), hub, &r);
		STR_EQ(jstr(d, "name"), "Conn hub", &r);
		STR_EQ(jstr(d, "firmware_version"), "9.9.9", &r);
		INT_EQ(jbool(d, "is_online"), 0, &r);
		INT_EQ(jbool(d, "is_stale"), 1, &r);
		CHECK(json_is_null(json_object_get(d, "last_seen_at")), &r, "never seen");
		NO_INTERNALS(r);
	}
	FX(fx_hub_online(hub, 2));
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		INT_EQ(jbool(d, "is_online"), 1, &r);
		INT_EQ(jbool(d, "is_stale"), 0, &r);
		CHECK(is_iso_ms(jstr(d, "last_seen_at")), &r, "last_seen_at is ISO-8601 ms Z");
	}
	FX(fx_hub_online(hub, 121));
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jbool(rdata(&r), "is_stale"), 1, &r);
}

static void test_discovered(void)
{
	static const char scan[] =
		"[{\"serial_number\":\"01S00A123456789\",\"ip_address\":\"192.168.1.50\","
		"\"model\":\"X1 Carbon\",\"name\":\"Lab X1\"},"
		"{\"serial_number\":\"03W00B987654321\",\"ip_address\":\"192.168.1.51\","
		"\"model\":null,\"name\":null}]";
	struct tenant t;
	char hub[FX_ID], path[160];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	FX(fx_hub(t.account, "Scan hub", hub));
	snprintf(path, sizeof path, "/hubs/%s/discovered-printers", hub);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, DISCOVERY_KEYS, &r);
		STR_EQ(jstr(d, "hub_id"), hub, &r);
		CHECK(json_is_null(json_object_get(d, "discovered_at")), &r,
		      "never scanned: discovered_at null");
		CHECK(json_is_array(json_object_get(d, "printers")) &&
			      json_array_size(json_object_get(d, "printers")) == 0,
		      &r, "never scanned: printers []");
	}
	FX(FX_SQL(Q_DISCOVERY, DS(hub), DI(1764000000123LL), DS(scan)));
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, DISCOVERY_KEYS, &r);
		json_t *at = json_object_get(d, "discovered_at");
		CHECK(json_is_integer(at) && json_integer_value(at) == 1764000000123LL, &r,
		      "discovered_at is the epoch-ms integer 1764000000123");
		json_t *want = json_loads(scan, 0, NULL);
		CHECK(json_equal(json_object_get(d, "printers"), want), &r,
		      "printers are the scan result, serial numbers and addresses included");
		json_decref(want);
	}
}

static void test_not_found(void)
{
	struct tenant a, b;
	char theirs[FX_ID], path[512];
	RESP(r);
	FX(fx_tenant(&a, "read"));
	FX(fx_tenant(&b, "read"));
	FX(fx_hub(b.account, "Not yours", theirs));
	static const char *const suffix[] = { "", "/connection", "/discovered-printers" };
	const char *ids[] = { NO_SUCH_ID, theirs, "x", "%20", rep(2, "0123456789", 30) };
	for (int s = 0; s < 3; s++) {
		for (int i = 0; i < 5; i++) {
			snprintf(path, sizeof path, "/hubs/%s%s", ids[i], suffix[s]);
			api("GET", path, a.key, NULL, &r);
			EXPECT(r, 404, "HUB_NOT_FOUND");
		}
		/* the owner sees it */
		snprintf(path, sizeof path, "/hubs/%s%s", theirs, suffix[s]);
		api("GET", path, b.key, NULL, &r);
		EXPECT(r, 200, NULL);
	}
}

/* A path id is matched exactly: a hub's id plus a trailing space (%20) does not exist. */
static void test_id_matched_exactly(void)
{
	struct tenant t;
	char hub[FX_ID], path[256];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	FX(fx_hub(t.account, "Exact hub", hub));
	static const char *const suffix[] = { "", "/connection", "/discovered-printers" };
	for (int s = 0; s < 3; s++) {
		snprintf(path, sizeof path, "/hubs/%s%%20%s", hub, suffix[s]);
		api("GET", path, t.key, NULL, &r);
		EXPECT(r, 404, "HUB_NOT_FOUND");
	}
}

static void test_scope(void)
{
	struct tenant t;
	char hub[FX_ID], path[160], rkey[FX_KEY];
	RESP(r);
	FX(fx_tenant(&t, "write,control"));
	FX(fx_tenant_key(&t, "read", rkey));
	FX(fx_hub(t.account, "Scoped hub", hub));
	static const char *const suffix[] = { "", "/connection", "/discovered-printers" };
	api("GET", "/hubs", t.key, NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	for (int s = 0; s < 3; s++) {
		snprintf(path, sizeof path, "/hubs/%s%s", hub, suffix[s]);
		api("GET", path, t.key, NULL, &r);
		if (EXPECT(r, 403, "INSUFFICIENT_SCOPE"))
			STR_EQ(jstr(r.json, "error"), "API key missing required scope: read", &r);
		api("GET", path, rkey, NULL, &r);
		EXPECT(r, 200, NULL);
	}
}

int suite_hubs(void)
{
	CU_pSuite s = CU_add_suite("hubs", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_list);
	ADD_TEST(s, test_list_empty);
	ADD_TEST(s, test_detail);
	ADD_TEST(s, test_connection);
	ADD_TEST(s, test_discovered);
	ADD_TEST(s, test_not_found);
	ADD_TEST(s, test_id_matched_exactly);
	ADD_TEST(s, test_scope);
	return 0;
}
