/* t_control.c - the printer side of hub commands: GET /printers/{id}/status, POST
 * /printers/{id}/control (pause, resume, stop, clear_bed; mirrored onto the running job),
 * /light (fire-and-forget), /temperature, /filament/load, /filament/unload. Every success, every
 * refusal in decisions.md order (404 → 422 → NO_HUB_ASSIGNED → HUB_OFFLINE → INVALID_STATE → the
 * hub's outcome), scopes, tenancy, and the hub outcomes end to end: refused (503
 * HUB_COMMAND_FAILED), no ACK (504 HUB_TIMEOUT), hub killed mid-command (503 HUB_OFFLINE or 504),
 * heartbeats stopped for more than 2 minutes (HUB_OFFLINE) — each with the optimistic change
 * reverted.
 *
 * The hub is the rig's (rig.h): the simulator. */
#include "rig.h"

#include "util.h"

#include <stdlib.h>

/* ============================================================================ the tests */

static const char *const STATUS_KEYS[] = {
	"printer_id", "hub_online", "status", "progress", "nozzle_temp", "bed_temp",
	"chamber_temp", "target_nozzle_temp", "target_bed_temp", "layer_num", "total_layers",
	"remaining_time_minutes", "current_job_id", "current_color", "current_color_hex",
	"current_filament_type", "last_telemetry_at", NULL
};
static const char *const LIVE_KEYS[] = {
	"progress", "nozzle_temp", "bed_temp", "chamber_temp", "target_nozzle_temp",
	"target_bed_temp", "layer_num", "total_layers", "remaining_time_minutes", NULL
};
static const char *const CONTROL_KEYS[] = { "printer_id", "action", "status", "command_id", NULL };

static const struct db_query Q_LIVE_ROW = {
	"INSERT INTO printer_live_status (printer_id, status, progress, nozzle_temp,"
	" target_nozzle_temp, bed_temp, target_bed_temp, chamber_temp, layer_num, total_layers,"
	" remaining_time_seconds, received_at) VALUES (?, 'printing', 42, 219.8, 220, 59.9, 60, 31,"
	" 54, 128, 721, NOW(3))"
	" ON DUPLICATE KEY UPDATE progress = 42, nozzle_temp = 219.8, received_at = NOW(3)"
};
static const struct db_query Q_CLEARED = { "SELECT cleared FROM printers WHERE id = ?" };
static const struct db_query Q_SET_CLEARED = { "UPDATE printers SET cleared = ? WHERE id = ?" };
static const struct db_query Q_CMD_OF = {
	"SELECT CONCAT(action, '|', expect_ack, '|', IFNULL(JSON_EXTRACT(params, '$.on'), ''), '|',"
	" IFNULL(JSON_UNQUOTE(JSON_EXTRACT(params, '$.job_id')), ''))"
	" FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_FILAMENT = {
	"UPDATE printers SET current_color = 'Red', current_color_hex = '#FF0000',"
	" current_filament_type = 'PLA' WHERE id = ?"
};
/* The stored filament: colour name (only the API sets it), colour hex and type (telemetry too). */
static const struct db_query Q_FILAMENT_OF = {
	"SELECT CONCAT_WS('|', IFNULL(current_color, '~'), IFNULL(current_color_hex, '~'),"
	" IFNULL(current_filament_type, '~')) FROM printers WHERE id = ?"
};
static const struct db_query Q_FILAMENT_REPORTED = {
	"SELECT CONCAT_WS('|', IFNULL(current_color_hex, '~'), IFNULL(current_filament_type, '~'))"
	" FROM printers WHERE id = ?"
};
static const struct db_query Q_FILAMENT_CMDS = {
	"SELECT COUNT(*) FROM hub_commands WHERE printer_id = ? AND action LIKE 'filament.%'"
};
/* "1" once the printer's latest stored status report was received at or after ? (epoch ms). */
static const struct db_query Q_REPORT_SINCE = {
	"SELECT UNIX_TIMESTAMP(received_at) * 1000 >= ? FROM printer_live_status"
	" WHERE printer_id = ?"
};
/* Commands an action sent the printer (the printer.configure of its creation by apf-admin is
 * not one). */
static const struct db_query Q_CMD_COUNT = {
	"SELECT COUNT(*) FROM hub_commands WHERE printer_id = ? AND action <> 'printer.configure'"
};

/* As post, but while the hub answers PRINTER_BUSY (a filament change still feeding) the request
 * is repeated, as a client would, for up to 60 s. */
static long post_when_free(const char *path, const char *key, const char *body, struct resp *r)
{
	int64_t end = util_now_ms() + DEADLINE_MS;
	for (;;) {
		post(path, key, body, r);
		const char *e = r->status == 503 ? jstr(r->json, "error") : NULL;
		if (!e || !strstr(e, "PRINTER_BUSY") || util_now_ms() > end)
			return r->status;
		sleep_ms(300);
	}
}

/* --------------------------------------------------------------------------- status */

static void test_status_offline_and_no_hub(void)
{
	struct rig *g = rig_new();
	RESP(r);
	FX(rig_make(g, "X1 Carbon", 0));
	FX(FX_SQL(Q_LIVE_ROW, DS(g->printer)));
	FX(FX_SQL(Q_FILAMENT, DS(g->printer)));
	/* hub never connected: hub_online false, every live field null, stored fields kept */
	api("GET", ppath(g->printer, "/status"), g->key_read, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, STATUS_KEYS, &r);
		STR_EQ(jstr(d, "printer_id"), g->printer, &r);
		INT_EQ(jbool(d, "hub_online"), 0, &r);
		STR_EQ(jstr(d, "status"), "offline", &r);
		for (int i = 0; LIVE_KEYS[i]; i++)
			CHECK(json_is_null(json_object_get(d, LIVE_KEYS[i])), &r, "%s is null offline",
			      LIVE_KEYS[i]);
		STR_EQ(jstr(d, "current_color"), "Red", &r);
		STR_EQ(jstr(d, "current_filament_type"), "PLA", &r);
		CHECK(is_iso_ms(jstr(d, "last_telemetry_at")), &r, "last_telemetry_at is stored data");
		CHECK(json_is_null(json_object_get(d, "current_job_id")), &r, "no job");
	}
	/* stale heartbeat (hub flag online, last seen 3 min ago): offline too */
	FX(fx_hub_online(g->hx.hub, 180));
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "hub_online"), 0, &r);
		CHECK(json_is_null(json_object_get(rdata(&r), "nozzle_temp")), &r, "null when stale");
	}
	/* fresh heartbeat: the stored telemetry is shown */
	FX(fx_hub_online(g->hx.hub, 0));
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		INT_EQ(jbool(d, "hub_online"), 1, &r);
		INT_EQ(jint(d, "progress"), 42, &r);
		INT_EQ(jint(d, "layer_num"), 54, &r);
		INT_EQ(jint(d, "total_layers"), 128, &r);
		INT_EQ(jint(d, "remaining_time_minutes"), 13, &r); /* 721 s rounded up */
		CHECK(json_number_value(json_object_get(d, "nozzle_temp")) > 219.7 &&
			      json_number_value(json_object_get(d, "nozzle_temp")) < 219.9,
		      &r, "nozzle_temp 219.8");
		CHECK(json_is_number(json_object_get(d, "target_bed_temp")), &r, "target_bed_temp");
	}
	/* a printer without a hub: hub_online false */
	FX(rig_printer_no_hub(g->printer));
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jbool(rdata(&r), "hub_online"), 0, &r);
	api("GET", ppath(NO_SUCH_ID, "/status"), g->t.key, NULL, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	api("GET", ppath("not-a-uuid", "/status"), g->t.key, NULL, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	api("GET", ppath(g->printer, "/status"), g->key_write, NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	rig_free(g);
}

/* With a live hub the simulator's telemetry reaches the status endpoint; the running job is
 * named. */
static void test_status_live(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	int64_t end = util_now_ms() + DEADLINE_MS;
	do {
		api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
		if (r.status == 200 && json_is_number(json_object_get(rdata(&r), "nozzle_temp")))
			break;
		sleep_ms(250);
	} while (util_now_ms() < end);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), STATUS_KEYS, &r);
		INT_EQ(jbool(rdata(&r), "hub_online"), 1, &r);
		CHECK(json_is_number(json_object_get(rdata(&r), "nozzle_temp")), &r,
		      "telemetry shows a nozzle temperature");
		CHECK(is_iso_ms(jstr(rdata(&r), "last_telemetry_at")), &r, "last_telemetry_at");
	}
	FX(rig_printing(g, job));
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "current_job_id"), job, &r);
		STR_EQ(jstr(rdata(&r), "status"), "printing", &r);
	}
	rig_free(g);
}

/* -------------------------------------------------------------------- refusal order */

static void test_control_refusals(void)
{
	struct rig *g = rig_new();
	struct tenant other;
	RESP(r);
	char nohub[FX_ID], tag[9], name[64];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(fx_tenant(&other, "read,write,control"));
	const char *ctl = ppath(g->printer, "/control");

	/* 404 beats 422: unknown id, non-UUID id, another account's printer */
	post(ppath(NO_SUCH_ID, "/control"), g->t.key, "{\"action\": \"dance\"}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	post(ppath("12345", "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	post(ctl, other.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	/* 422 beats NO_HUB_ASSIGNED / HUB_OFFLINE */
	post(ctl, g->t.key, "{}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "action"), &r, "details name action");
	post(ctl, g->t.key, "{\"action\": \"dance\"}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	post(ctl, g->t.key, "{\"action\": 7}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	post(ctl, g->t.key, "{\"action\": ", &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	/* NO_HUB_ASSIGNED beats HUB_OFFLINE and INVALID_STATE */
	snprintf(name, sizeof name, "No hub %s", fx_tag(tag));
	FX(fx_printer(g->t.account, g->hx.hub, name, "X1 Carbon", nohub));
	FX(rig_printer_no_hub(nohub));
	post(ppath(nohub, "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 400, "NO_HUB_ASSIGNED");
	post(ppath(nohub, "/control"), g->t.key, "{\"action\": \"dance\"}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	/* HUB_OFFLINE (never seen) beats INVALID_STATE (pausing an idle printer) */
	post(ctl, g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	/* stale: flag online but no heartbeat for 3 minutes */
	FX(fx_hub_online(g->hx.hub, 180));
	post(ctl, g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	/* live hub, wrong state: INVALID_STATE and nothing sent */
	FX(fx_hub_online(g->hx.hub, 0));
	post(ctl, g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");
	post(ctl, g->t.key, "{\"action\": \"resume\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");
	post(ctl, g->t.key, "{\"action\": \"stop\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");
	FX(fx_printer_status(g->printer, "printing"));
	post(ctl, g->t.key, "{\"action\": \"clear_bed\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");
	post(ctl, g->t.key, "{\"action\": \"resume\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");
	PRINTER_IS(g->printer, "printing");
	char n[16];
	FX(FX_TEXT(n, Q_CMD_COUNT, DS(g->printer)));
	STR_EQ(n, "0", NULL);
	rig_free(g);
}

/* Scopes: control routes need control (403 with a write or read key); status needs read. */
static void test_control_scopes(void)
{
	struct rig *g = rig_new();
	RESP(r);
	FX(rig_make(g, "X1 Carbon", 0));
	static const char *const routes[] = { "/control", "/light", "/temperature",
					      "/filament/load", "/filament/unload" };
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		post(ppath(g->printer, routes[i]), g->key_write, "{}", &r);
		EXPECT(r, 403, "INSUFFICIENT_SCOPE");
		post(ppath(g->printer, routes[i]), g->key_read, "{}", &r);
		EXPECT(r, 403, "INSUFFICIENT_SCOPE");
		/* a control key alone passes the scope check (then: the offline hub / validation) */
		post(ppath(g->printer, routes[i]), g->key_control, "{}", &r);
		CHECK(r.status == 422 || r.status == 503, &r, "control key passes the scope check");
	}
	api("GET", ppath(g->printer, "/status"), g->key_control, NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	rig_free(g);
}

/* ---------------------------------------------------------------- control with a hub */

static void test_control_pause_resume_stop(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID], want[128];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	const char *ctl = ppath(g->printer, "/control");

	/* the stored printer status is the hub's to report: a status sent just before the command
	 * may land after it, so the printer's status is awaited, the job's is immediate */
	post(ctl, g->key_control, "{\"action\": \"pause\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), CONTROL_KEYS, &r);
		STR_EQ(jstr(rdata(&r), "printer_id"), g->printer, &r);
		STR_EQ(jstr(rdata(&r), "action"), "pause", &r);
		STR_EQ(jstr(rdata(&r), "status"), "paused", &r);
		CHECK(util_is_uuid(jstr(rdata(&r), "command_id")), &r, "command_id is a UUID");
		/* the command row: awaited, carries the mirrored job */
		snprintf(want, sizeof want, "print.pause|1||%s", job);
		DB_IS(&Q_CMD_OF, jstr(rdata(&r), "command_id"), want);
	}
	PRINTER_BECOMES(g->printer, "paused");
	JOB_IS(job, "paused"); /* the job follows its printer */
	post(ctl, g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");

	post(ctl, g->t.key, "{\"action\": \"resume\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "printing", &r);
	PRINTER_BECOMES(g->printer, "printing");
	JOB_IS(job, "printing");

	post(ctl, g->t.key, "{\"action\": \"stop\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "idle", &r);
	PRINTER_BECOMES(g->printer, "idle");
	JOB_IS(job, "cancelled");
	api("GET", jpath(job, NULL), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(is_iso_ms(jstr(rdata(&r), "time_completed")), &r, "stop stamps time_completed");
	rig_free(g);
}

static void test_clear_bed(void)
{
	struct rig *g = rig_new();
	RESP(r);
	FX(rig_make(g, "X1 Carbon", 1));
	FX(FX_SQL(Q_SET_CLEARED, DI(0), DS(g->printer)));
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"clear_bed\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "action"), "clear_bed", &r);
		STR_EQ(jstr(rdata(&r), "status"), "idle", &r);
	}
	DB_IS(&Q_CLEARED, g->printer, "1");
	/* refused by the hub: the cleared flag is restored */
	FX(FX_SQL(Q_SET_CLEARED, DI(0), DS(g->printer)));
	FX(hx_fault(&g->hx, "refuse action=bed.clear code=PRINTER_REJECTED"));
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"clear_bed\"}", &r);
	EXPECT(r, 503, "HUB_COMMAND_FAILED");
	DB_IS(&Q_CLEARED, g->printer, "0");
	rig_free(g);
}

/* The hub refuses: 503 HUB_COMMAND_FAILED naming the hub's code; printer and job reverted. */
static void test_control_refused(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	FX(hx_fault(&g->hx, "refuse action=print.pause code=PRINTER_REJECTED"));
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	if (EXPECT(r, 503, "HUB_COMMAND_FAILED"))
		CHECK(strstr(jstr(r.json, "error"), "PRINTER_REJECTED"), &r, "names the hub's code");
	PRINTER_BECOMES(g->printer, "printing");
	JOB_BECOMES(job, "printing");
	/* and the job endpoint the same */
	post(jpath(job, NULL), g->t.key, NULL, &r); /* 405: POST on /jobs/{id} */
	EXPECT(r, 405, "METHOD_NOT_ALLOWED");
	char p[160];
	snprintf(p, sizeof p, "/jobs/%s/pause", job);
	post(p, g->t.key, NULL, &r);
	EXPECT(r, 503, "HUB_COMMAND_FAILED");
	JOB_BECOMES(job, "printing");
	PRINTER_BECOMES(g->printer, "printing");
	rig_free(g);
}

/* No ACK: 504 HUB_TIMEOUT after the command's timeout; the worker reverts. */
static void test_control_timeout(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	FX(hx_fault(&g->hx, "timeout action=print.pause"));
	int64_t t0 = util_now_ms();
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 504, "HUB_TIMEOUT");
	CHECK(util_now_ms() - t0 >= 9000, &r, "waited for the 10 s ACK timeout");
	PRINTER_BECOMES(g->printer, "printing");
	JOB_BECOMES(job, "printing");
	rig_free(g);
}

/* The hub dies while the API waits: 503 HUB_OFFLINE (lost, reported by the broker's will) or
 * 504 (not noticed before the timeout); either way reverted. */
static void test_control_hub_killed(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	FX(hx_fault(&g->hx, "timeout action=print.pause"));
	pid_t k = hx_fault_later(&g->hx, "kill", 1500);
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	hx_reap(k);
	CHECK((r.status == 503 && strcmp(jstr(r.json, "code"), "HUB_OFFLINE") == 0) ||
		      (r.status == 504 && strcmp(jstr(r.json, "code"), "HUB_TIMEOUT") == 0),
	      &r, "503 HUB_OFFLINE or 504 HUB_TIMEOUT");
	JOB_BECOMES(job, "printing");
	/* the hub is gone: the printer shows offline, new commands are refused at once */
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "hub_online"), 0, &r);
		STR_EQ(jstr(rdata(&r), "status"), "offline", &r);
	}
	rig_free(g);
}

/* Heartbeats stop (the link stays up); once the last one is over 2 minutes old the hub counts
 * as offline. The 2 minutes are shortened by moving last_seen_at back. */
static void test_heartbeats_stopped(void)
{
	struct rig *g = rig_new();
	RESP(r);
	FX(rig_make(g, "X1 Carbon", 1));
	FX(hx_fault(&g->hx, "stop_heartbeats"));
	sleep_ms(1500); /* a heartbeat already in flight lands first */
	FX(rig_hub_stale(g->hx.hub));
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"clear_bed\"}", &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	post(ppath(g->printer, "/light"), g->t.key, "{\"state\": true}", &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jbool(rdata(&r), "hub_online"), 0, &r);
	char n[16];
	FX(FX_TEXT(n, Q_CMD_COUNT, DS(g->printer)));
	STR_EQ(n, "0", NULL);
	rig_free(g);
}

/* ---------------------------------------------------------------------------- light */

static void test_light(void)
{
	struct rig *g = rig_new();
	RESP(r);
	static const char *const keys[] = { "printer_id", "state", "command_id", NULL };
	FX(rig_make(g, "X1 Carbon", 1));
	const char *lp = ppath(g->printer, "/light");
	static const struct {
		const char *body;
		int on;
	} ok[] = { { "{\"state\": true}", 1 }, { "{\"state\": false}", 0 },
		   { "{\"state\": \"on\"}", 1 }, { "{\"state\": \"off\"}", 0 } };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		post(lp, g->key_control, ok[i].body, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		KEYS(rdata(&r), keys, &r);
		INT_EQ(jbool(rdata(&r), "state"), ok[i].on, &r);
		DB_IS(&Q_CMD_OF, jstr(rdata(&r), "command_id"),
		      ok[i].on ? "light.set|0|true|" : "light.set|0|false|");
	}
	static const char *const bad[] = { "{}", "{\"state\": \"yes\"}", "{\"state\": 1}",
					   "{\"state\": null}", "{\"state\": \"ON\"}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		post(lp, g->t.key, bad[i], &r);
		if (EXPECT(r, 422, "VALIDATION_ERROR"))
			CHECK(rdetail(&r, "state"), &r, "details name state");
	}
	/* fire-and-forget: a hub that never ACKs does not hold the request */
	FX(hx_fault(&g->hx, "timeout action=light.set"));
	int64_t t0 = util_now_ms();
	post(lp, g->t.key, "{\"state\": true}", &r);
	EXPECT(r, 200, NULL);
	CHECK(util_now_ms() - t0 < 5000, &r, "answered without waiting for an ACK");
	post(ppath(NO_SUCH_ID, "/light"), g->t.key, "{\"state\": true}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	FX(rig_printer_no_hub(g->printer));
	post(lp, g->t.key, "{\"state\": true}", &r);
	EXPECT(r, 400, "NO_HUB_ASSIGNED");
	rig_free(g);
}

/* ----------------------------------------------------------------------- temperature */

static void test_temperature(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char params[512];
	static const char *const keys[] = { "printer_id", "heater", "temperature", "command_id",
					     NULL };
	FX(rig_make(g, "X1 Carbon", 1));
	const char *tp = ppath(g->printer, "/temperature");
	post(tp, g->t.key, "{\"heater\": \"nozzle\", \"temperature\": 210}", &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), keys, &r);
		STR_EQ(jstr(rdata(&r), "heater"), "nozzle", &r);
		INT_EQ(jint(rdata(&r), "temperature"), 210, &r);
		/* the command row must exist */
		FX_TEXT(params, RIG_Q_CMD_PARAMS, DS(jstr(rdata(&r), "command_id")));
		json_t *p = json_loads(params, 0, NULL);
		STR_EQ(jstr(p, "heater"), "nozzle", &r);
		CHECK(json_number_value(json_object_get(p, "target_c")) == 210.0, &r,
		      "target_c 210 in the command row");
		json_decref(p);
	}
	post(tp, g->t.key, "{\"heater\": \"bed\", \"temperature\": 120}", &r);
	EXPECT(r, 200, NULL);
	post(tp, g->t.key, "{\"heater\": \"bed\", \"temperature\": 55.5}", &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_number_value(json_object_get(rdata(&r), "temperature")) == 55.5, &r,
		      "temperature 55.5 kept");
	post(tp, g->t.key, "{\"heater\": \"nozzle\", \"temperature\": 0}", &r);
	EXPECT(r, 200, NULL);
	static const char *const bad[] = {
		"{\"heater\": \"bed\", \"temperature\": 121}",
		"{\"heater\": \"nozzle\", \"temperature\": 301}",
		"{\"heater\": \"nozzle\", \"temperature\": -1}",
		"{\"heater\": \"chamber\", \"temperature\": 40}",
		"{\"temperature\": 40}",
		"{\"heater\": \"nozzle\"}",
		"{\"heater\": \"nozzle\", \"temperature\": \"hot\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		post(tp, g->t.key, bad[i], &r);
		EXPECT(r, 422, "VALIDATION_ERROR");
	}
	FX(hx_fault(&g->hx, "refuse action=temperature.set code=UNSUPPORTED"));
	post(tp, g->t.key, "{\"heater\": \"nozzle\", \"temperature\": 200}", &r);
	if (EXPECT(r, 503, "HUB_COMMAND_FAILED"))
		CHECK(strstr(jstr(r.json, "error"), "UNSUPPORTED"), &r, "names the hub's code");
	rig_free(g);
}

/* -------------------------------------------------------------------------- filament */

/* Waits until the simulator's printer has no filament change under way. 0 or -1 (failure
 * noted). */
static int filament_settled(struct rig *g)
{
	int64_t end = util_now_ms() + DEADLINE_MS;
	for (;;) {
		json_t *p = hx_printer(&g->hx, g->printer);
		if (!p)
			return -1;
		const json_t *op = json_object_get(p, "filament_op");
		int known = op != NULL, busy = !json_is_null(op);
		json_decref(p);
		if (!known)
			return CHECK(0, NULL, "the simulator's status has no filament_op") - 1;
		if (!busy)
			return 0;
		if (util_now_ms() > end)
			return CHECK(0, NULL, "the filament change on %s did not finish in %ld s",
				     g->printer, DEADLINE_MS / 1000) - 1;
		sleep_ms(200);
	}
}

/* Waits until the worker has stored a status report of the printer that it received at or after
 * t_ms (with every report before it: the worker stores them in order). 0 or -1 (failure noted). */
static int report_stored_since(const char *printer, int64_t t_ms)
{
	char v[8] = "";
	int64_t end = util_now_ms() + DEADLINE_MS;
	do {
		int rc = FX_TEXT_POLL(v, Q_REPORT_SINCE, DI(t_ms), DS(printer));
		if (rc < 0)
			return -1;
		if (rc == 0 && strcmp(v, "1") == 0)
			return 0;
		sleep_ms(200);
	} while (util_now_ms() < end);
	return CHECK(0, NULL, "no status report of %s stored within %ld s", printer,
		     DEADLINE_MS / 1000) - 1;
}

/* Load and unload with the simulator: the commands and their rows; the filament the printer
 * then reports becomes the stored one; after an unload's ACK the stored filament is forgotten
 * (and an empty printer's telemetry does not bring it back); a refusal by the hub and a refusal
 * while printing or paused leave it exactly as it was. */
static void test_filament(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char params[512], before[128], cmds[16], job[FX_ID];
	static const char *const load_keys[] = { "printer_id", "action", "tray_id", "temperature",
						 "command_id", NULL };
	static const char *const unload_keys[] = { "printer_id", "action", "command_id", NULL };
	char lp[160], up[160]; /* own copies: ppath's buffers rotate */
	FX(rig_make(g, "X1 Carbon", 1));
	snprintf(lp, sizeof lp, "%s", ppath(g->printer, "/filament/load"));
	snprintf(up, sizeof up, "%s", ppath(g->printer, "/filament/unload"));

	post_when_free(lp, g->t.key, NULL, &r); /* no body: external spool at 220 °C */
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), load_keys, &r);
		STR_EQ(jstr(rdata(&r), "action"), "load_filament", &r);
		INT_EQ(jint(rdata(&r), "tray_id"), 254, &r);
		INT_EQ(jint(rdata(&r), "temperature"), 220, &r);
		/* the command row must exist */
		FX_TEXT(params, RIG_Q_CMD_PARAMS, DS(jstr(rdata(&r), "command_id")));
		json_t *p = json_loads(params, 0, NULL);
		INT_EQ(jint(p, "tray_id"), 254, &r);
		INT_EQ(jint(p, "temperature_c"), 220, &r);
		json_decref(p);
	}
	post_when_free(lp, g->t.key, "{\"tray_id\": 0}", &r);
	EXPECT(r, 200, NULL);
	/* AMS tray 2 of the simulator's X1 Carbon: PETG #161616 */
	post_when_free(lp, g->t.key, "{\"tray_id\": 2, \"temperature\": 250}", &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jint(rdata(&r), "tray_id"), 2, &r);
		INT_EQ(jint(rdata(&r), "temperature"), 250, &r);
	}
	static const char *const bad[] = { "{\"tray_id\": 16}", "{\"tray_id\": 253}",
					   "{\"tray_id\": 255}", "{\"tray_id\": -1}",
					   "{\"temperature\": 301}", "{\"tray_id\": \"ams\"}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		post(lp, g->t.key, bad[i], &r);
		EXPECT(r, 422, "VALIDATION_ERROR");
	}
	/* the loaded filament reaches the stored one through the printer's telemetry */
	FX(filament_settled(g));
	DB_BECOMES(&Q_FILAMENT_REPORTED, g->printer, "#161616|PETG", 30000);

	/* unload: the printer ends up empty and then reports no filament */
	post_when_free(up, g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), unload_keys, &r);
		STR_EQ(jstr(rdata(&r), "action"), "unload_filament", &r);
		FX_TEXT(params, RIG_Q_CMD_PARAMS, DS(jstr(rdata(&r), "command_id")));
		json_t *p = json_loads(params, 0, NULL);
		INT_EQ(jint(p, "temperature_c"), 220, &r);
		json_decref(p);
	}
	FX(filament_settled(g));
	FX(report_stored_since(g->printer, util_now_ms()));
	/* an empty printer: its telemetry leaves the stored filament alone, so the next unload
	 * shows what the API does */
	FX(FX_SQL(Q_FILAMENT, DS(g->printer)));
	FX(report_stored_since(g->printer, util_now_ms()));
	DB_IS(&Q_FILAMENT_OF, g->printer, "Red|#FF0000|PLA");
	post_when_free(up, g->t.key, NULL, &r);
	EXPECT(r, 200, NULL);
	DB_IS(&Q_FILAMENT_OF, g->printer, "~|~|~"); /* forgotten after the ACK */
	FX(report_stored_since(g->printer, util_now_ms()));
	DB_IS(&Q_FILAMENT_OF, g->printer, "~|~|~"); /* and not brought back */
	post(up, g->t.key, "{\"temperature\": 400}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");

	/* refused by the hub: the stored filament stays, also once later telemetry is stored */
	FX(FX_SQL(Q_FILAMENT, DS(g->printer)));
	FX(hx_fault(&g->hx, "refuse action=filament.* code=UNSUPPORTED"));
	post_when_free(up, g->t.key, "{\"temperature\": 230}", &r);
	if (EXPECT(r, 503, "HUB_COMMAND_FAILED"))
		CHECK(strstr(jstr(r.json, "error"), "UNSUPPORTED"), &r, "the fault's code");
	DB_IS(&Q_FILAMENT_OF, g->printer, "Red|#FF0000|PLA");
	post_when_free(lp, g->t.key, "{\"tray_id\": 1}", &r);
	EXPECT(r, 503, "HUB_COMMAND_FAILED");
	DB_IS(&Q_FILAMENT_OF, g->printer, "Red|#FF0000|PLA");
	FX(report_stored_since(g->printer, util_now_ms()));
	DB_IS(&Q_FILAMENT_OF, g->printer, "Red|#FF0000|PLA");
	FX(hx_clear(&g->hx));

	/* not while printing, nor paused: refused before anything is sent or changed */
	FX(filament_settled(g));
	FX(rig_printing(g, job));
	FX(FX_SQL(Q_FILAMENT, DS(g->printer))); /* a filament the refusals must not touch */
	FX(report_stored_since(g->printer, util_now_ms()));
	FX(FX_TEXT(before, Q_FILAMENT_OF, DS(g->printer)));
	FX(FX_TEXT(cmds, Q_FILAMENT_CMDS, DS(g->printer)));
	post(lp, g->t.key, NULL, &r);
	EXPECT(r, 400, "INVALID_STATE");
	post(up, g->t.key, NULL, &r);
	EXPECT(r, 400, "INVALID_STATE");
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 200, NULL);
	post(lp, g->t.key, "{\"tray_id\": 1}", &r);
	EXPECT(r, 400, "INVALID_STATE");
	post(up, g->t.key, NULL, &r);
	EXPECT(r, 400, "INVALID_STATE");
	FX(report_stored_since(g->printer, util_now_ms()));
	DB_IS(&Q_FILAMENT_OF, g->printer, before);
	DB_IS(&Q_FILAMENT_CMDS, g->printer, cmds);
	rig_free(g);
}

/* Another account's printer answers 404 on every action and nothing is sent. */
static void test_control_tenancy(void)
{
	struct rig *g = rig_new();
	struct tenant other;
	RESP(r);
	char n[16];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(fx_hub_online(g->hx.hub, 0));
	FX(fx_tenant(&other, "read,write,control"));
	static const struct {
		const char *suffix, *body;
	} calls[] = { { "/control", "{\"action\": \"clear_bed\"}" }, { "/light", "{\"state\": true}" },
		      { "/temperature", "{\"heater\": \"bed\", \"temperature\": 60}" },
		      { "/filament/load", NULL }, { "/filament/unload", NULL } };
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
		post(ppath(g->printer, calls[i].suffix), other.key, calls[i].body, &r);
		EXPECT(r, 404, "PRINTER_NOT_FOUND");
	}
	api("GET", ppath(g->printer, "/status"), other.key, NULL, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	FX(FX_TEXT(n, Q_CMD_COUNT, DS(g->printer)));
	STR_EQ(n, "0", NULL);
	rig_free(g);
}

int suite_control(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("printer control", NULL, NULL, NULL,
							    rig_sweep);
	if (!s)
		return -1;
	ADD_TEST(s, test_status_offline_and_no_hub);
	ADD_TEST(s, test_status_live);
	ADD_TEST(s, test_control_refusals);
	ADD_TEST(s, test_control_scopes);
	ADD_TEST(s, test_control_pause_resume_stop);
	ADD_TEST(s, test_clear_bed);
	ADD_TEST(s, test_control_refused);
	ADD_TEST(s, test_control_timeout);
	ADD_TEST(s, test_control_hub_killed);
	ADD_TEST(s, test_heartbeats_stopped);
	ADD_TEST(s, test_light);
	ADD_TEST(s, test_temperature);
	ADD_TEST(s, test_filament);
	ADD_TEST(s, test_control_tenancy);
	return 0;
}
