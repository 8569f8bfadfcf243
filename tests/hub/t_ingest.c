/* t_ingest.c - inbound messages end to end: a fake hub publishes, the stack's worker writes the
 * database. Presence and the old-session will rule, printers.sync on connect (secrets in the
 * command, not in the log), heartbeat, status batching and mapping, events driving job and
 * printer state (with event_id dedup and job_completed queued once), discovery, and hostile
 * messages dropped without effect. The status flush and the heartbeat's unknown-hub check are
 * also driven in this process (the real ingest code on the test's own connection, no broker), so
 * a test decides exactly what one batch holds and counts the statements it costs. */
#include "th.h"

#include "ingest.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct db_query Q_I_HUB = {
	"SELECT CONCAT_WS('|', is_online, IFNULL(session_id, '-'), IFNULL(firmware_version, '-'),"
	" IFNULL(hardware_version, '-'), IFNULL(mac_address, '-'), IFNULL(ip_address, '-'))"
	" FROM hubs WHERE id = ?"
};
static const struct db_query Q_I_HUB_ONLINE = {
	"SELECT CONCAT(is_online, '|', IFNULL(session_id, '-')) FROM hubs WHERE id = ?"
};
static const struct db_query Q_I_PRINTER = {
	"SELECT CONCAT(status, '/', is_connected) FROM printers WHERE id = ?"
};
static const struct db_query Q_I_PRINTER_MORE = {
	"SELECT CONCAT_WS('|', status, is_connected, cleared, IFNULL(connection_error, '-'),"
	" IFNULL(firmware_version, '-'), IFNULL(current_filament_type, '-'),"
	" IFNULL(current_color_hex, '-'), total_print_time) FROM printers WHERE id = ?"
};
static const struct db_query Q_I_SET_PRINTER = {
	"UPDATE printers SET status = ? WHERE id = ?"
};
static const struct db_query Q_I_SET_PRINTER_LINK = {
	"UPDATE printers SET status = 'idle', is_connected = 1 WHERE id = ?"
};
static const struct db_query Q_I_SEEN_OLD = {
	"UPDATE hubs SET last_seen_at = NOW(3) - INTERVAL 1 HOUR WHERE id = ?"
};
static const struct db_query Q_I_SEEN_RECENT = {
	"SELECT last_seen_at > NOW(3) - INTERVAL 30 SECOND FROM hubs WHERE id = ?"
};
static const struct db_query Q_I_CMD_STATUS = {
	"SELECT status FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_I_CMD_PARAMS = {
	"SELECT params FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_I_LIVE = {
	"SELECT CONCAT_WS('|', seq, status, IFNULL(progress, '-'), IFNULL(nozzle_temp, '-'),"
	" IFNULL(target_nozzle_temp, '-'), IFNULL(bed_temp, '-'), IFNULL(layer_num, '-'),"
	" IFNULL(total_layers, '-'), IFNULL(remaining_time_seconds, '-'), IFNULL(job_id, '-'))"
	" FROM printer_live_status WHERE printer_id = ?"
};
static const struct db_query Q_I_LIVE_SEQ = {
	"SELECT seq FROM printer_live_status WHERE printer_id = ?"
};
static const struct db_query Q_I_COMMITS = {
	"SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
	" WHERE VARIABLE_NAME = 'COM_COMMIT'"
};
static const struct db_query Q_I_JOB = {
	"SELECT status FROM print_jobs WHERE id = ?"
};
static const struct db_query Q_I_JOB_MORE = {
	"SELECT CONCAT_WS('|', status, progress_percentage, IFNULL(actual_print_time_minutes, '-'),"
	" time_completed IS NOT NULL, IFNULL(failure_reason, '-')) FROM print_jobs WHERE id = ?"
};
static const struct db_query Q_I_COMPLETED_QUEUED = {
	"SELECT COUNT(*) FROM queue_jobs WHERE queue = 'PRINT_EVENTS' AND type = 'job_completed'"
	" AND dedup_key = CONCAT('job_completed:', ?)"
};
static const struct db_query Q_I_EVENT_SEEN = {
	"SELECT COUNT(*) FROM hub_events WHERE event_id = ?"
};
static const struct db_query Q_I_FAILURE = {
	"SELECT CONCAT_WS('|', failure_type, IFNULL(error_code, '-'), IFNULL(progress_at_failure, '-'),"
	" IFNULL(layer_at_failure, '-'), IFNULL(failure_reason, '-')) FROM printer_failures"
	" WHERE print_job_id = ?"
};
static const struct db_query Q_I_DISCOVERY = {
	"SELECT CONCAT_WS('|', discovered_at, JSON_LENGTH(printers),"
	" JSON_UNQUOTE(JSON_EXTRACT(printers, '$[0].ip_address')),"
	" JSON_UNQUOTE(JSON_EXTRACT(printers, '$[0].serial_number')),"
	" JSON_UNQUOTE(JSON_EXTRACT(printers, '$[0].model')),"
	" JSON_UNQUOTE(JSON_EXTRACT(printers, '$[0].name')),"
	" JSON_TYPE(JSON_EXTRACT(printers, '$[1].model'))) FROM hub_discoveries WHERE hub_id = ?"
};

/* ------------------------------------------------------------------ presence */

static void test_presence_online_sync_offline(void)
{
	struct thub h;
	char p[37], secret[40], expect[256], v[4096];
	if (th_hub_create(&h) < 0)
		return;
	snprintf(secret, sizeof secret, "AC-%ld", (long)(th_now_ms() % 100000000));
	th_printer(&h, "idle", secret, p);
	CU_ASSERT_EQUAL_FATAL(th_hub_connect(&h, true), 0);
	snprintf(expect, sizeof expect, "1|%s|1.2.0|ESP32-S3|a4:cf:12:34:56:78|192.168.1.20",
		 h.session);
	CU_ASSERT(th_wait_eq(&Q_I_HUB, DB_ARGS(DS(h.id)), expect, 10000) >= 0);

	/* §4.1: printers.sync after connect, fire-and-forget, the printers with their secrets */
	json_t *sync = th_wait_cmd(&h, "printers.sync", NULL, 5000);
	CU_ASSERT_PTR_NOT_NULL(sync);
	if (sync) {
		const char *cid = json_string_value(json_object_get(sync, "command_id"));
		json_t *list = json_object_get(json_object_get(sync, "params"), "printers");
		json_t *p0 = json_array_get(list, 0);
		CU_ASSERT(json_is_false(json_object_get(sync, "expect_ack")));
		CU_ASSERT(json_is_null(json_object_get(sync, "printer_id")));
		CU_ASSERT_EQUAL(json_array_size(list), 1);
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p0, "printer_id")), p);
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p0, "kind")), "bambu");
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p0, "host")), "192.168.1.40");
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p0, "access_code")), secret);
		CU_ASSERT(json_is_object(json_object_get(p0, "options")));
		/* acked when published; the secret is neither in the row nor in the log */
		CU_ASSERT(cid && th_wait_eq(&Q_I_CMD_STATUS, DB_ARGS(DS(cid)), "acked", 5000) >= 0);
		CU_ASSERT(cid && th_get(&Q_I_CMD_PARAMS, DB_ARGS(DS(cid)), v, sizeof v) == 1 &&
			  strstr(v, secret) == NULL);
		CU_ASSERT(th_ack(&h, sync, true, NULL, NULL) == 0);
		json_decref(sync);
	}
	th_pump(300);
	CU_ASSERT_EQUAL(th_worker_log_count(secret), 0);

	/* a clean goodbye: offline presence of the current session */
	th_hub_close(&h);
	snprintf(expect, sizeof expect, "0|%s", h.session);
	CU_ASSERT(th_wait_eq(&Q_I_HUB_ONLINE, DB_ARGS(DS(h.id)), expect, 10000) >= 0);
	CU_ASSERT(th_wait_eq(&Q_I_PRINTER, DB_ARGS(DS(p)), "offline/0", 5000) >= 0);
}

/* The will of an old session must not mark a reconnected hub offline (§4.1). */
static void test_presence_old_session(void)
{
	struct thub a, b;
	char p[37], expect[128], needle[128], old_session[37];
	if (th_hub_up(&a) < 0)
		return;
	th_printer(&a, "idle", NULL, p);
	snprintf(old_session, sizeof old_session, "%s", a.session);

	/* the same hub connects again (session B): the broker drops A and publishes A's will */
	b = a;
	memset(b.inbox, 0, sizeof b.inbox);
	b.ninbox = 0;
	b.mosq = NULL;
	CU_ASSERT_FATAL(th_hub_connect(&b, true) == 0);
	snprintf(expect, sizeof expect, "1|%s", b.session);
	CU_ASSERT(th_wait_eq(&Q_I_HUB_ONLINE, DB_ARGS(DS(a.id)), expect, 10000) >= 0);
	th_pump(500);
	char v[256];
	CU_ASSERT(th_get(&Q_I_HUB_ONLINE, DB_ARGS(DS(a.id)), v, sizeof v) == 1 &&
		  strcmp(v, expect) == 0);
	th_hub_kill(&a); /* its socket is already gone */
	/* (A's will may have arrived before B's presence and set the printer offline) */
	th_exec(&Q_I_SET_PRINTER_LINK, DB_ARGS(DS(p)));

	/* a late will of session A, explicitly: ignored (and logged) */
	snprintf(needle, sizeof needle, "offline presence of hub %s for old session %s", a.id,
		 old_session);
	int before = th_worker_log_count(needle);
	json_t *late = th_presence(&b, false, old_session);
	th_pub(&b, b.id, "state", late);
	json_decref(late);
	int64_t end = th_now_ms() + 5000;
	while (th_worker_log_count(needle) <= before && th_now_ms() < end)
		th_pump(20);
	CU_ASSERT(th_worker_log_count(needle) > before);
	CU_ASSERT(th_get(&Q_I_HUB_ONLINE, DB_ARGS(DS(a.id)), v, sizeof v) == 1 &&
		  strcmp(v, expect) == 0);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "idle/1") == 0);

	/* the will of the current session: offline, printers offline */
	th_hub_kill(&b);
	snprintf(expect, sizeof expect, "0|%s", b.session);
	CU_ASSERT(th_wait_eq(&Q_I_HUB_ONLINE, DB_ARGS(DS(a.id)), expect, 10000) >= 0);
	CU_ASSERT(th_wait_eq(&Q_I_PRINTER, DB_ARGS(DS(p)), "offline/0", 5000) >= 0);
}

static void test_heartbeat(void)
{
	struct thub h;
	if (th_hub_up(&h) < 0)
		return;
	th_exec(&Q_I_SEEN_OLD, DB_ARGS(DS(h.id)));
	char v[16];
	CU_ASSERT(th_get(&Q_I_SEEN_RECENT, DB_ARGS(DS(h.id)), v, sizeof v) == 1 &&
		  strcmp(v, "0") == 0);
	json_t *hb = th_msg("heartbeat", h.id,
			    json_pack("{s:s,s:i,s:I,s:i,s:b,s:s,s:[],s:i,s:n}", "session_id",
				      h.session, "seq", 1, "ts", (json_int_t)util_now_ms(),
				      "uptime_s", 100, "clock_synced", 1, "firmware_version",
				      "1.2.1", "printers", "pending_commands", 0,
				      "free_storage_bytes"));
	th_pub(&h, h.id, "heartbeat", hb);
	json_decref(hb);
	CU_ASSERT(th_wait_eq(&Q_I_SEEN_RECENT, DB_ARGS(DS(h.id)), "1", 5000) >= 0);
	th_hub_close(&h);
}

/* ------------------------------------------------------------------ status (§6) */

static json_t *status_msg(const struct thub *h, const char *printer, long long seq,
			  const char *state, int connected, double progress)
{
	return th_msg("status", h->id,
		      json_pack("{s:s,s:I,s:I,s:b,s:s,s:s,s:s,s:n,s:s,s:f,s:i,s:i,s:i,s:i,"
				"s:{s:f,s:f,s:f,s:f,s:n},s:{s:i,s:s,s:s},s:b,s:b,s:n}",
				"printer_id", printer, "seq", (json_int_t)seq, "ts",
				(json_int_t)util_now_ms(), "connected", connected, "state", state,
				"phase", "printing", "native_state", "RUNNING", "job_id",
				"file_name", "bracket.3mf", "progress_pct", progress, "layer_num",
				54, "total_layers", 128, "remaining_s", 720, "elapsed_s", 510,
				"temps", "nozzle", 219.8, "nozzle_target", 220.0, "bed", 59.9,
				"bed_target", 60.0, "chamber", "filament", "tray_now", 0, "type",
				"PLA", "color_hex", "#00AE42", "light_on", 1, "bed_clear", 0,
				"error"));
}

static void test_status_batching(void)
{
	struct thub h;
	char p1[37], p2[37], p3[37], v[512], c0[32], c1[32];
	if (th_hub_up(&h) < 0)
		return;
	th_printer(&h, "idle", NULL, p1);
	th_printer(&h, "idle", NULL, p2);
	th_printer(&h, "maintenance", NULL, p3);
	CU_ASSERT(th_get(&Q_I_COMMITS, NULL, 0, c0, sizeof c0) == 1);
	/* 20 reports per printer, as fast as the broker takes them */
	for (int seq = 1; seq <= 20; seq++) {
		json_t *m1 = status_msg(&h, p1, seq, "printing", 1, seq * 5 - 5);
		json_t *m2 = status_msg(&h, p2, seq, seq < 20 ? "printing" : "offline", seq < 20, 10);
		json_t *m3 = status_msg(&h, p3, seq, "printing", 1, 10);
		th_pub(&h, h.id, "status", m1);
		th_pub(&h, h.id, "status", m2);
		th_pub(&h, h.id, "status", m3);
		json_decref(m1);
		json_decref(m2);
		json_decref(m3);
	}
	CU_ASSERT(th_wait_eq(&Q_I_LIVE_SEQ, DB_ARGS(DS(p1)), "20", 5000) >= 0);
	CU_ASSERT(th_wait_eq(&Q_I_LIVE_SEQ, DB_ARGS(DS(p2)), "20", 5000) >= 0);
	CU_ASSERT(th_wait_eq(&Q_I_LIVE_SEQ, DB_ARGS(DS(p3)), "20", 5000) >= 0);
	CU_ASSERT(th_get(&Q_I_COMMITS, NULL, 0, c1, sizeof c1) == 1);
	long long commits = atoll(c1) - atoll(c0);
	/* 60 messages: batched, not one transaction each */
	CU_ASSERT(commits >= 1 && commits < 25);
	if (commits >= 25)
		fprintf(stderr, "\n  %lld commits for 60 status messages\n", commits);
	CU_ASSERT(th_get(&Q_I_LIVE, DB_ARGS(DS(p1)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "20|printing|95|219.80|220.00|59.90|54|128|720|-");
	CU_ASSERT(th_get(&Q_I_PRINTER_MORE, DB_ARGS(DS(p1)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "printing|1|1|-|-|PLA|#00AE42|0");
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p2)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "offline/0");
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p3)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "maintenance/1"); /* maintenance is kept */

	/* an older seq is dropped; a newer one lands; an error is stored */
	json_t *old = status_msg(&h, p1, 5, "idle", 1, 1);
	th_pub(&h, h.id, "status", old);
	json_decref(old);
	json_t *next = status_msg(&h, p2, 21, "error", 1, 10);
	json_object_set_new(next, "error",
			    json_pack("{s:s,s:s}", "code", "HMS_0300", "message", "nozzle clog"));
	th_pub(&h, h.id, "status", next);
	json_decref(next);
	CU_ASSERT(th_wait_eq(&Q_I_LIVE_SEQ, DB_ARGS(DS(p2)), "21", 5000) >= 0);
	CU_ASSERT(th_get(&Q_I_PRINTER_MORE, DB_ARGS(DS(p2)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "error|1|1|HMS_0300: nozzle clog|-|PLA|#00AE42|0");
	CU_ASSERT(th_get(&Q_I_LIVE_SEQ, DB_ARGS(DS(p1)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "20");
	th_hub_close(&h);
}

/* ------------------------------------------------------------------ in this process */

static const struct db_query Q_I_LIVE_ROW = {
	"SELECT CONCAT_WS('|', IFNULL(seq, '-'), status, IFNULL(progress, '-'), IFNULL(job_id, '-'))"
	" FROM printer_live_status WHERE printer_id = ?"
};
static const struct db_query Q_I_HUB_LIVE_AT = {
	"SELECT COUNT(*) FROM printer_live_status l JOIN printers p ON p.id = l.printer_id"
	" WHERE p.hub_id = ? AND l.seq = ? AND l.status = ?"
};
static const struct db_query Q_I_HUB_PRINTERS_IN = {
	"SELECT COUNT(*) FROM printers WHERE hub_id = ? AND status = ? AND is_connected = 1"
};
/* statements this connection ran: INSERT (both kinds) | UPDATE */
static const struct db_query Q_I_MY_WRITES = {
	"SELECT CONCAT(SUM(IF(VARIABLE_NAME = 'COM_UPDATE', 0, VARIABLE_VALUE)), '|',"
	" SUM(IF(VARIABLE_NAME = 'COM_UPDATE', VARIABLE_VALUE, 0)))"
	" FROM information_schema.SESSION_STATUS"
	" WHERE VARIABLE_NAME IN ('COM_INSERT', 'COM_INSERT_SELECT', 'COM_UPDATE')"
};
static const struct db_query Q_I_SET_PRINTER_AT = {
	"UPDATE printers SET status = ?, updated_at = NOW(3) + INTERVAL ? SECOND WHERE id = ?"
};
static const struct db_query Q_I_MOVE_HUB = {
	"UPDATE hubs SET account_id = ? WHERE id = ?"
};
static const struct db_query Q_I_MOVE_PRINTERS = {
	"UPDATE printers SET account_id = ? WHERE hub_id = ?"
};
static const struct db_query Q_I_MOVE_PRINTER = {
	"UPDATE printers SET account_id = ? WHERE id = ?"
};
static const struct db_query Q_I_UNCLAIM = {
	"UPDATE hubs SET account_id = NULL WHERE id = ?"
};
static const struct db_query Q_I_SEEN_NOW = {
	"SELECT last_seen_at = NOW(3) FROM hubs WHERE id = ?"
};
static const struct db_query Q_I_JOB_PCT = {
	"SELECT CONCAT(status, '|', progress_percentage) FROM print_jobs WHERE id = ?"
};

/* The ingest state of this process, on the test's connection. */
static struct hubctx local_ctx(void)
{
	struct hubctx c = { .db = tdb, .worker_id = "test-hub" };
	c.in = ingest_new();
	CU_ASSERT_PTR_NOT_NULL(c.in);
	return c;
}

/* Hands m (stolen) to ingest as if it came on apf/v1/<hub>/<kind>. */
static void feed(struct hubctx *c, const char *hub, const char *kind, json_t *m)
{
	char topic[128];
	snprintf(topic, sizeof topic, "apf/v1/%s/%s", hub, kind);
	char *t = json_dumps(m, JSON_COMPACT);
	CU_ASSERT_EQUAL(ingest_message(c, topic, t, strlen(t), false), E_OK);
	free(t);
	json_decref(m);
}

/* This process's log (stderr, where ingest writes) goes to a file between log_capture and
 * log_release; log_release returns how often needle was logged. */
struct capture {
	FILE *f;
	int saved;
};

static struct capture log_capture(void)
{
	struct capture k = { tmpfile(), -1 };
	fflush(stderr);
	if (k.f) {
		k.saved = dup(2);
		dup2(fileno(k.f), 2);
	}
	return k;
}

static int log_release(struct capture *k, const char *needle)
{
	int n = 0;
	fflush(stderr);
	if (k->saved >= 0) {
		dup2(k->saved, 2);
		close(k->saved);
	}
	if (!k->f)
		return -1;
	char line[4096];
	rewind(k->f);
	while (fgets(line, sizeof line, k->f))
		n += strstr(line, needle) != NULL;
	fclose(k->f);
	return n;
}

/* *ins / *upd: INSERT / UPDATE statements run on the test's connection so far. */
static void my_writes(long long *ins, long long *upd)
{
	char v[64];
	*ins = *upd = -1;
	CU_ASSERT(th_get(&Q_I_MY_WRITES, NULL, 0, v, sizeof v) == 1 &&
		  sscanf(v, "%lld|%lld", ins, upd) == 2);
}

/* Several reports of one printer in one batch: one row written, the latest (by seq; without
 * seq the last one received); an older seq arriving later changes nothing. */
static void test_flush_latest_wins(void)
{
	struct thub h;
	char p1[37], p2[37], v[256];
	if (th_hub_create(&h) < 0)
		return;
	th_printer(&h, "idle", NULL, p1);
	th_printer(&h, "idle", NULL, p2);
	struct hubctx c = local_ctx();
	if (!c.in)
		return;
	feed(&c, h.id, "status", status_msg(&h, p1, 1, "printing", 1, 10));
	feed(&c, h.id, "status", status_msg(&h, p1, 3, "paused", 1, 30));
	feed(&c, h.id, "status", status_msg(&h, p1, 2, "idle", 1, 20)); /* older: dropped */
	json_t *m = status_msg(&h, p2, 0, "printing", 1, 5);
	json_object_del(m, "seq");
	feed(&c, h.id, "status", m);
	m = status_msg(&h, p2, 0, "error", 1, 7);
	json_object_del(m, "seq");
	feed(&c, h.id, "status", m);
	CU_ASSERT_EQUAL(ingest_buffered(c.in), 2);
	long long i0, u0, i1, u1;
	my_writes(&i0, &u0);
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
	my_writes(&i1, &u1);
	CU_ASSERT_EQUAL(ingest_buffered(c.in), 0);
	CU_ASSERT_EQUAL(i1 - i0, 1); /* both live rows in one statement */
	CU_ASSERT_EQUAL(u1 - u0, 2); /* both printers changed */
	CU_ASSERT(th_get(&Q_I_LIVE_ROW, DB_ARGS(DS(p1)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "3|paused|30|-");
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p1)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "paused/1");
	CU_ASSERT(th_get(&Q_I_LIVE_ROW, DB_ARGS(DS(p2)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "-|error|7|-");
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p2)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "error/1");
	/* the older seq in a later batch */
	feed(&c, h.id, "status", status_msg(&h, p1, 2, "idle", 1, 20));
	CU_ASSERT_EQUAL(ingest_buffered(c.in), 0);
	ingest_free(c.in);
}

/* More rows than the largest chunk (128) and than a batch (INGEST_BATCH, flushed at once):
 * every row written; a second round that changes no printer runs no UPDATE and a handful of
 * INSERTs. */
#define MANY 300
static void test_flush_many(void)
{
	struct thub h;
	static char p[MANY][37];
	char v[64], seq[8];
	if (th_hub_create(&h) < 0)
		return;
	for (int i = 0; i < MANY; i++)
		th_printer(&h, "idle", NULL, p[i]);
	struct hubctx c = local_ctx();
	if (!c.in)
		return;
	for (int round = 1; round <= 2; round++) {
		long long i0, u0, i1, u1;
		my_writes(&i0, &u0);
		for (int i = 0; i < MANY; i++)
			feed(&c, h.id, "status", status_msg(&h, p[i], round, "printing", 1, round));
		CU_ASSERT_EQUAL(ingest_buffered(c.in), MANY - INGEST_BATCH);
		CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
		my_writes(&i1, &u1);
		snprintf(seq, sizeof seq, "%d", round);
		CU_ASSERT(th_get(&Q_I_HUB_LIVE_AT, DB_ARGS(DS(h.id), DS(seq), DS("printing")), v,
				 sizeof v) == 1 &&
			  atoi(v) == MANY);
		CU_ASSERT(th_get(&Q_I_HUB_PRINTERS_IN, DB_ARGS(DS(h.id), DS("printing")), v,
				 sizeof v) == 1 &&
			  atoi(v) == MANY);
		/* round 1: every printer idle → printing; round 2: nothing changes */
		CU_ASSERT_EQUAL(u1 - u0, round == 1 ? MANY : 0);
		CU_ASSERT(i1 - i0 >= 2 && i1 - i0 <= 10);
		if (i1 - i0 > 10)
			fprintf(stderr, "\n  %lld INSERTs for %d live rows\n", i1 - i0, MANY);
	}
	ingest_free(c.in);
}

/* One batch with printers of two hubs of two accounts, a printer moved to another account
 * than its hub's, and a report of hub B's printer through hub A: only the printers of the
 * reporting hub and its account are written, and the hostile report does not displace hub B's
 * own report of that printer. */
static void test_flush_two_accounts(void)
{
	struct thub a, b;
	char pa[37], pb[37], px[37], v[256];
	if (th_hub_create(&a) < 0 || th_hub_create(&b) < 0)
		return;
	const char *args[] = { "account", "create", "--name", "hub tests, second account", NULL };
	json_t *out = NULL;
	char other[37] = "";
	if (th_admin(args, &out) == 0 && json_string_value(json_object_get(out, "id")))
		snprintf(other, sizeof other, "%s", json_string_value(json_object_get(out, "id")));
	json_decref(out);
	CU_ASSERT_FATAL(other[0] != '\0');
	th_printer(&a, "idle", NULL, pa);
	th_printer(&a, "idle", NULL, px);
	th_printer(&b, "idle", NULL, pb);
	th_exec(&Q_I_MOVE_HUB, DB_ARGS(DS(other), DS(b.id)));
	th_exec(&Q_I_MOVE_PRINTERS, DB_ARGS(DS(other), DS(b.id)));
	th_exec(&Q_I_MOVE_PRINTER, DB_ARGS(DS(other), DS(px))); /* on hub A, account B */
	struct hubctx c = local_ctx();
	if (!c.in)
		return;
	feed(&c, a.id, "status", status_msg(&a, pa, 1, "printing", 1, 11));
	feed(&c, b.id, "status", status_msg(&b, pb, 1, "paused", 1, 22));
	feed(&c, a.id, "status", status_msg(&a, px, 1, "printing", 1, 33));
	feed(&c, a.id, "status", status_msg(&a, pb, 2, "error", 1, 44)); /* B's printer via A */
	CU_ASSERT_EQUAL(ingest_buffered(c.in), 4);
	struct capture k = log_capture();
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
	char needle[160];
	snprintf(needle, sizeof needle, "dropped: not a printer of claimed hub %s", a.id);
	CU_ASSERT_EQUAL(log_release(&k, needle), 2);
	CU_ASSERT(th_get(&Q_I_LIVE_ROW, DB_ARGS(DS(pa)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "1|printing|11|-");
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(pa)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "printing/1");
	CU_ASSERT(th_get(&Q_I_LIVE_ROW, DB_ARGS(DS(pb)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "1|paused|22|-");
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(pb)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "paused/1");
	CU_ASSERT_EQUAL(th_get(&Q_I_LIVE_ROW, DB_ARGS(DS(px)), v, sizeof v), 0);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(px)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "idle/1");
	ingest_free(c.in);
}

/* A report received before the printer row last changed (an API command's optimistic
 * transition) does not overwrite it, the live row is still written; a report received after a
 * change made behind the worker's back does, even when it repeats the last one written. */
static void test_flush_older_than_row(void)
{
	struct thub h;
	char p[37], v[256];
	if (th_hub_create(&h) < 0)
		return;
	th_printer(&h, "printing", NULL, p);
	struct hubctx c = local_ctx();
	if (!c.in)
		return;
	th_exec(&Q_I_SET_PRINTER_AT, DB_ARGS(DS("paused"), DI(3600), DS(p)));
	feed(&c, h.id, "status", status_msg(&h, p, 1, "printing", 1, 50));
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
	CU_ASSERT(th_get(&Q_I_LIVE_ROW, DB_ARGS(DS(p)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "1|printing|50|-");
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "paused/1");
	/* the row changed earlier than the next report: the report wins */
	th_exec(&Q_I_SET_PRINTER_AT, DB_ARGS(DS("paused"), DI(-1), DS(p)));
	feed(&c, h.id, "status", status_msg(&h, p, 2, "printing", 1, 51));
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "printing/1");
	/* changed again behind the worker's back: the same report as the last one written lands */
	th_exec(&Q_I_SET_PRINTER_AT, DB_ARGS(DS("paused"), DI(-1), DS(p)));
	feed(&c, h.id, "status", status_msg(&h, p, 3, "printing", 1, 51));
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "printing/1");
	/* maintenance keeps its status; the link flag still follows the report */
	th_exec(&Q_I_SET_PRINTER_AT, DB_ARGS(DS("maintenance"), DI(-1), DS(p)));
	feed(&c, h.id, "status", status_msg(&h, p, 4, "idle", 0, 0));
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "maintenance/0");
	ingest_free(c.in);
}

/* Job progress from status: the printer's own job while printing or paused, only when it
 * moves (no statement otherwise). */
static void test_flush_job_progress(void)
{
	struct thub h;
	char p[37], q[37], j[37], k[37], v[64];
	if (th_hub_create(&h) < 0)
		return;
	th_printer(&h, "printing", NULL, p);
	th_printer(&h, "idle", NULL, q);
	th_job(p, "printing", j);
	th_job(q, "queued", k);
	struct hubctx c = local_ctx();
	if (!c.in)
		return;
	json_t *m = status_msg(&h, p, 1, "printing", 1, 42);
	json_object_set_new(m, "job_id", json_string(j));
	feed(&c, h.id, "status", m);
	m = status_msg(&h, q, 1, "idle", 1, 50);
	json_object_set_new(m, "job_id", json_string(k));
	feed(&c, h.id, "status", m);
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
	CU_ASSERT(th_get(&Q_I_JOB_PCT, DB_ARGS(DS(j)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "printing|42");
	CU_ASSERT(th_get(&Q_I_JOB_PCT, DB_ARGS(DS(k)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "queued|0");
	/* another printer's job; then the same progress again: no UPDATE at all */
	m = status_msg(&h, p, 2, "printing", 1, 60);
	json_object_set_new(m, "job_id", json_string(k));
	feed(&c, h.id, "status", m);
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
	CU_ASSERT(th_get(&Q_I_JOB_PCT, DB_ARGS(DS(k)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "queued|0");
	long long i0, u0, i1, u1;
	my_writes(&i0, &u0);
	m = status_msg(&h, p, 3, "printing", 1, 42);
	json_object_set_new(m, "job_id", json_string(j));
	feed(&c, h.id, "status", m);
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
	my_writes(&i1, &u1);
	CU_ASSERT_EQUAL(u1 - u0, 0);
	char expect[64];
	snprintf(expect, sizeof expect, "3|printing|42|%s", j);
	CU_ASSERT(th_get(&Q_I_LIVE_ROW, DB_ARGS(DS(p)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, expect);
	ingest_free(c.in);
}

/* While the database is away the batch keeps the latest report of at most INGEST_BATCH
 * printers: a printer already in it is still updated, further printers are dropped. */
static void test_flush_batch_full(void)
{
	struct thub h;
	char p[37], q[37], v[256];
	if (th_hub_create(&h) < 0)
		return;
	th_printer(&h, "idle", NULL, p);
	th_printer(&h, "idle", NULL, q);
	struct hubctx c = local_ctx();
	if (!c.in)
		return;
	c.db = NULL; /* no database call may happen: it would crash */
	c.db_down = true;
	feed(&c, h.id, "status", status_msg(&h, p, 1, "printing", 1, 1));
	for (int i = 1; i < INGEST_BATCH + 10; i++) {
		char other[37];
		util_uuid(other);
		feed(&c, h.id, "status", status_msg(&h, other, 1, "idle", 1, 0));
	}
	CU_ASSERT_EQUAL(ingest_buffered(c.in), INGEST_BATCH);
	feed(&c, h.id, "status", status_msg(&h, p, 2, "paused", 1, 2));
	feed(&c, h.id, "status", status_msg(&h, q, 1, "printing", 1, 3));
	CU_ASSERT_EQUAL(ingest_buffered(c.in), INGEST_BATCH);
	c.db = tdb;
	c.db_down = false;
	struct capture k = log_capture();
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
	CU_ASSERT_EQUAL(log_release(&k, "status reports of printers beyond a full batch were"
				       " dropped"), 1);
	CU_ASSERT_EQUAL(ingest_buffered(c.in), 0);
	CU_ASSERT(th_get(&Q_I_LIVE_ROW, DB_ARGS(DS(p)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "2|paused|2|-");
	CU_ASSERT_EQUAL(th_get(&Q_I_LIVE_ROW, DB_ARGS(DS(q)), v, sizeof v), 0);
	ingest_free(c.in);
}

static json_t *heartbeat_msg(const char *hub, int seq)
{
	return th_msg("heartbeat", hub,
		      json_pack("{s:i,s:I,s:s}", "seq", seq, "ts", (json_int_t)util_now_ms(),
				"firmware_version", "1.2.1"));
}

/* A heartbeat that changes nothing (the same millisecond: here the clock of the connection is
 * stopped) is not "from an unknown hub"; one of an unclaimed or unknown hub is. */
static void test_heartbeat_unchanged(void)
{
	struct thub h;
	char v[16], needle[160], ghost[37];
	if (th_hub_create(&h) < 0)
		return;
	struct hubctx c = local_ctx();
	if (!c.in)
		return;
	CU_ASSERT_EQUAL_FATAL(db_exec_text(tdb, "SET timestamp = UNIX_TIMESTAMP(NOW(6))"), E_OK);
	snprintf(needle, sizeof needle, "heartbeat from unknown or unclaimed hub %s dropped", h.id);
	struct capture k = log_capture();
	feed(&c, h.id, "heartbeat", heartbeat_msg(h.id, 1));
	feed(&c, h.id, "heartbeat", heartbeat_msg(h.id, 2)); /* changes no column */
	CU_ASSERT_EQUAL(log_release(&k, needle), 0);
	CU_ASSERT(th_get(&Q_I_SEEN_NOW, DB_ARGS(DS(h.id)), v, sizeof v) == 1 &&
		  strcmp(v, "1") == 0);
	th_exec(&Q_I_UNCLAIM, DB_ARGS(DS(h.id)));
	util_uuid(ghost);
	k = log_capture();
	feed(&c, h.id, "heartbeat", heartbeat_msg(h.id, 3));
	feed(&c, ghost, "heartbeat", heartbeat_msg(ghost, 1));
	CU_ASSERT_EQUAL(log_release(&k, "heartbeat from unknown or unclaimed hub"), 2);
	CU_ASSERT_EQUAL(db_exec_text(tdb, "SET timestamp = DEFAULT"), E_OK);
	ingest_free(c.in);
}

/* ------------------------------------------------------------------ events (§7) */

static void send_event(struct thub *h, const char *event_id, const char *event,
		       const char *printer, const char *job, json_t *data)
{
	json_t *m = th_msg("event", h->id,
			   json_pack("{s:s,s:s,s:s?,s:s?,s:n,s:I,s:o}", "event_id", event_id,
				     "event", event, "printer_id", printer, "job_id", job,
				     "command_id", "ts", (json_int_t)util_now_ms(), "data",
				     data ? data : json_object()));
	th_pub(h, h->id, "event", m);
	json_decref(m);
}

/* Sends an event and waits until the worker recorded its id (1) or must have seen it. */
static void event_wait(struct thub *h, const char *event, const char *printer, const char *job,
		       json_t *data, char id_out[37])
{
	char id[37];
	util_uuid(id);
	send_event(h, id, event, printer, job, data);
	CU_ASSERT(th_wait_eq(&Q_I_EVENT_SEEN, DB_ARGS(DS(id)), "1", 5000) >= 0);
	if (id_out)
		memcpy(id_out, id, 37);
}

static void test_events_job_lifecycle(void)
{
	struct thub h;
	char p[37], j1[37], v[512], e_paused[37], e_done[37];
	if (th_hub_up(&h) < 0)
		return;
	th_printer(&h, "idle", NULL, p);
	th_job(p, "processing", j1); /* print.start was accepted */

	event_wait(&h, "job.transfer", p, j1, json_pack("{s:s,s:i}", "stage", "downloading", "pct", 40),
		   NULL);
	CU_ASSERT(th_get(&Q_I_JOB, DB_ARGS(DS(j1)), v, sizeof v) == 1 &&
		  strcmp(v, "processing") == 0);
	event_wait(&h, "job.transfer", p, j1, json_pack("{s:s}", "stage", "complete"), NULL);
	CU_ASSERT(th_get(&Q_I_JOB, DB_ARGS(DS(j1)), v, sizeof v) == 1 &&
		  strcmp(v, "uploaded") == 0);
	event_wait(&h, "job.started", p, j1, json_pack("{s:i}", "total_layers", 128), NULL);
	CU_ASSERT(th_get(&Q_I_JOB, DB_ARGS(DS(j1)), v, sizeof v) == 1 &&
		  strcmp(v, "printing") == 0);
	CU_ASSERT(th_get(&Q_I_PRINTER_MORE, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strncmp(v, "printing|1|0|", 13) == 0); /* bed no longer clear */
	event_wait(&h, "job.paused", p, j1, json_pack("{s:s}", "by", "printer"), e_paused);
	CU_ASSERT(th_get(&Q_I_JOB, DB_ARGS(DS(j1)), v, sizeof v) == 1 && strcmp(v, "paused") == 0);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "paused/1") == 0);
	event_wait(&h, "job.resumed", p, j1, NULL, NULL);
	CU_ASSERT(th_get(&Q_I_JOB, DB_ARGS(DS(j1)), v, sizeof v) == 1 &&
		  strcmp(v, "printing") == 0);

	/* the same event_id again: ignored (the job stays printing) */
	send_event(&h, e_paused, "job.paused", p, j1, NULL);
	event_wait(&h, "job.progress", p, j1, json_pack("{s:i}", "progress_pct", 42), NULL);
	CU_ASSERT(th_get(&Q_I_JOB_MORE, DB_ARGS(DS(j1)), v, sizeof v) == 1 &&
		  strcmp(v, "printing|42|-|0|-") == 0);

	event_wait(&h, "job.completed", p, j1,
		   json_pack("{s:i,s:i}", "duration_s", 1216, "layers_printed", 128), e_done);
	CU_ASSERT(th_get(&Q_I_JOB_MORE, DB_ARGS(DS(j1)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "completed|100|21|1|-");
	CU_ASSERT(th_get(&Q_I_PRINTER_MORE, DB_ARGS(DS(p)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "idle|1|0|-|-|-|-|21"); /* print time added once */
	CU_ASSERT(th_get(&Q_I_COMPLETED_QUEUED, DB_ARGS(DS(j1)), v, sizeof v) == 1 &&
		  strcmp(v, "1") == 0);
	/* completed again: a redelivery (same id) and a re-emission (new id) change nothing */
	send_event(&h, e_done, "job.completed", p, j1, NULL);
	event_wait(&h, "job.completed", p, j1, json_pack("{s:i}", "duration_s", 999), NULL);
	CU_ASSERT(th_get(&Q_I_COMPLETED_QUEUED, DB_ARGS(DS(j1)), v, sizeof v) == 1 &&
		  strcmp(v, "1") == 0);
	CU_ASSERT(th_get(&Q_I_JOB_MORE, DB_ARGS(DS(j1)), v, sizeof v) == 1 &&
		  strcmp(v, "completed|100|21|1|-") == 0);
	CU_ASSERT(th_get(&Q_I_PRINTER_MORE, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "idle|1|0|-|-|-|-|21") == 0);
	th_hub_close(&h);
}

static void test_events_failed_cancelled_printer(void)
{
	struct thub h;
	char p[37], j2[37], j3[37], j4[37], v[512];
	if (th_hub_up(&h) < 0)
		return;
	th_printer(&h, "printing", NULL, p);
	th_job(p, "printing", j2);
	event_wait(&h, "job.failed", p, j2,
		   json_pack("{s:s,s:s,s:s,s:i,s:i}", "stage", "printing", "code",
			     "FILAMENT_RUNOUT", "reason", "spool empty", "progress_pct", 37,
			     "layer_num", 12),
		   NULL);
	CU_ASSERT(th_get(&Q_I_JOB_MORE, DB_ARGS(DS(j2)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "failed|0|-|1|FILAMENT_RUNOUT: spool empty");
	CU_ASSERT(th_get(&Q_I_PRINTER_MORE, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strncmp(v, "error|1|1|FILAMENT_RUNOUT: spool empty|", 39) == 0);
	CU_ASSERT(th_get(&Q_I_FAILURE, DB_ARGS(DS(j2)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "filament_runout|FILAMENT_RUNOUT|37|12|FILAMENT_RUNOUT: spool empty");

	/* a transfer failure fails the job but leaves the printer alone */
	th_exec(&Q_I_SET_PRINTER, DB_ARGS(DS("idle"), DS(p)));
	th_job(p, "processing", j3);
	event_wait(&h, "job.failed", p, j3,
		   json_pack("{s:s,s:s,s:s}", "stage", "verify", "code", "HASH_MISMATCH", "reason",
			     "sha256 differs"),
		   NULL);
	CU_ASSERT(th_get(&Q_I_JOB, DB_ARGS(DS(j3)), v, sizeof v) == 1 && strcmp(v, "failed") == 0);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "idle/1") == 0);
	CU_ASSERT(th_get(&Q_I_FAILURE, DB_ARGS(DS(j3)), v, sizeof v) == 1 &&
		  strncmp(v, "unknown|HASH_MISMATCH|", 22) == 0);

	/* cancelled while paused: job cancelled, printer idle */
	th_exec(&Q_I_SET_PRINTER, DB_ARGS(DS("paused"), DS(p)));
	th_job(p, "paused", j4);
	event_wait(&h, "job.cancelled", p, j4, json_pack("{s:s}", "by", "printer"), NULL);
	CU_ASSERT(th_get(&Q_I_JOB, DB_ARGS(DS(j4)), v, sizeof v) == 1 &&
		  strcmp(v, "cancelled") == 0);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "idle/1") == 0);

	/* printer link events; an event without job (printed from the panel) moves the printer */
	event_wait(&h, "printer.disconnected", p, NULL, json_pack("{s:s}", "reason", "timeout"),
		   NULL);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "offline/0") == 0);
	event_wait(&h, "printer.connected", p, NULL,
		   json_pack("{s:s,s:s}", "model", "P1S", "firmware_version", "01.07.00.00"), NULL);
	CU_ASSERT(th_get(&Q_I_PRINTER_MORE, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strncmp(v, "idle|1|1|", 9) == 0 && strstr(v, "|01.07.00.00|") != NULL);
	event_wait(&h, "job.started", p, NULL, NULL, NULL);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "printing/1") == 0);
	event_wait(&h, "printer.error", p, NULL,
		   json_pack("{s:s,s:s,s:s}", "code", "0300_0100", "message", "fan", "severity",
			     "serious"),
		   NULL);
	CU_ASSERT(th_get(&Q_I_PRINTER_MORE, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strstr(v, "|0300_0100: fan|") != NULL);
	/* maintenance is never overwritten by an event */
	th_exec(&Q_I_SET_PRINTER, DB_ARGS(DS("maintenance"), DS(p)));
	event_wait(&h, "printer.disconnected", p, NULL, NULL, NULL);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "maintenance/0") == 0);
	th_hub_close(&h);
}

/* ------------------------------------------------------------------ discovery (§8) */

static void test_discovery_replaces(void)
{
	struct thub h;
	if (th_hub_up(&h) < 0)
		return;
	json_t *d = th_msg(
		"discovery", h.id,
		json_pack("{s:n,s:s,s:I,s:I,s:b,s:[{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:n},"
			  "{s:s,s:s,s:n,s:n,s:s,s:i,s:n,s:s,s:n}]}",
			  "command_id", "scan_id", "f0e1a2b3-0000-4000-8000-000000000001", "started_at",
			  (json_int_t)1767225600000LL, "finished_at", (json_int_t)1767225610000LL,
			  "complete", 1, "printers", "kind", "bambu", "name", "Farm-P1S-03", "model",
			  "C12", "serial_number", "01P00A000000000", "ip", "192.168.1.40", "port",
			  8883, "firmware_version", "01.07.00.00", "method", "bambu_ssdp",
			  "configured_printer_id", "kind", "moonraker", "name", "voron", "model",
			  "serial_number", "ip", "192.168.1.41", "port", 7125, "firmware_version",
			  "method", "mdns", "configured_printer_id"));
	th_pub(&h, h.id, "discovery", d);
	json_decref(d);
	CU_ASSERT(th_wait_eq(&Q_I_DISCOVERY, DB_ARGS(DS(h.id)),
			     "1767225610000|2|192.168.1.40|01P00A000000000|C12|Farm-P1S-03|NULL",
			     5000) >= 0);
	d = th_msg("discovery", h.id,
		   json_pack("{s:n,s:s,s:I,s:I,s:b,s:[{s:s,s:s,s:s,s:s,s:s}]}", "command_id",
			     "scan_id", "f0e1a2b3-0000-4000-8000-000000000002", "started_at",
			     (json_int_t)1767225700000LL, "finished_at", (json_int_t)1767225705000LL,
			     "complete", 0, "printers", "kind", "octoprint", "name", "op", "model",
			     "MK3", "serial_number", "X1", "ip", "192.168.1.50"));
	th_pub(&h, h.id, "discovery", d);
	json_decref(d);
	CU_ASSERT(th_wait_eq(&Q_I_DISCOVERY, DB_ARGS(DS(h.id)),
			     "1767225705000|1|192.168.1.50|X1|MK3|op", 5000) >= 0);
	th_hub_close(&h);
}

/* ------------------------------------------------------------------ hostile messages */

static void test_hostile_dropped(void)
{
	struct thub h, other;
	char p[37], j[37], po[37], jo[37], v[256], bad[6][37];
	if (th_hub_up(&h) < 0 || th_hub_create(&other) < 0)
		return;
	th_printer(&h, "printing", NULL, p);
	th_job(p, "printing", j);
	th_printer(&other, "printing", NULL, po); /* a printer of another hub */
	th_job(po, "printing", jo);
	for (int i = 0; i < 6; i++)
		util_uuid(bad[i]);
	char topic[128];
	snprintf(topic, sizeof topic, "apf/v1/%s/event", h.id);
	th_pub_raw(&h, topic, "{not json", 9, false);
	th_pub_raw(&h, topic, "[1,2,3]", 7, false);
	/* hub_id in the payload differs from the topic's */
	json_t *m = th_msg("event", other.id,
			   json_pack("{s:s,s:s,s:s,s:s,s:n,s:I,s:{}}", "event_id", bad[0], "event",
				     "job.cancelled", "printer_id", p, "job_id", j, "command_id",
				     "ts", (json_int_t)util_now_ms(), "data"));
	th_pub(&h, h.id, "event", m);
	json_decref(m);
	/* wrong protocol version, wrong type, wrong field types */
	m = th_msg("event", h.id,
		   json_pack("{s:s,s:s,s:s,s:s}", "event_id", bad[1], "event", "job.cancelled",
			     "printer_id", p, "job_id", j));
	json_object_set_new(m, "v", json_integer(2));
	th_pub(&h, h.id, "event", m);
	json_object_set_new(m, "v", json_integer(1));
	json_object_set_new(m, "type", json_string("status"));
	json_object_set_new(m, "event_id", json_string(bad[2]));
	th_pub(&h, h.id, "event", m);
	json_object_set_new(m, "type", json_string("event"));
	json_object_set_new(m, "event_id", json_string(bad[3]));
	json_object_set_new(m, "job_id", json_integer(7));
	th_pub(&h, h.id, "event", m);
	json_decref(m);
	/* another hub's printer and job through this hub */
	send_event(&h, bad[4], "job.cancelled", po, jo, NULL);
	/* over 64 KiB, yet under the broker's packet limit (which would disconnect the hub): the
	 * worker's own check drops it */
	size_t big = 64 * 1024 + 256;
	char *text = malloc(big + 1);
	int n = snprintf(text, big, "{\"v\":1,\"type\":\"event\",\"hub_id\":\"%s\",\"event_id\":"
			 "\"%s\",\"event\":\"job.cancelled\",\"printer_id\":\"%s\",\"job_id\":"
			 "\"%s\",\"data\":{\"reason\":\"", h.id, bad[5], p, j);
	memset(text + n, 'x', big - (size_t)n - 3);
	memcpy(text + big - 3, "\"}}", 3);
	text[big] = '\0';
	th_pub_raw(&h, topic, text, big, false);
	free(text);
	/* a status for the other hub's printer, a status with a bad state */
	json_t *s = th_msg("status", h.id,
			   json_pack("{s:s,s:i,s:b,s:s}", "printer_id", po, "seq", 1, "connected",
				     1, "state", "idle"));
	th_pub(&h, h.id, "status", s);
	json_object_set_new(s, "printer_id", json_string(p));
	json_object_set_new(s, "state", json_string("exploded"));
	th_pub(&h, h.id, "status", s);
	json_decref(s);

	/* control: a valid event after all of them is applied */
	event_wait(&h, "job.paused", p, j, NULL, NULL);
	CU_ASSERT(th_get(&Q_I_JOB, DB_ARGS(DS(j)), v, sizeof v) == 1 && strcmp(v, "paused") == 0);
	th_pump(300);
	CU_ASSERT(th_get(&Q_I_JOB, DB_ARGS(DS(jo)), v, sizeof v) == 1 &&
		  strcmp(v, "printing") == 0);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(po)), v, sizeof v) == 1 &&
		  strcmp(v, "printing/1") == 0);
	CU_ASSERT(th_get(&Q_I_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "paused/1") == 0);
	for (int i = 0; i < 6; i++)
		CU_ASSERT(th_get(&Q_I_EVENT_SEEN, DB_ARGS(DS(bad[i])), v, sizeof v) == 1 &&
			  strcmp(v, "0") == 0);
	CU_ASSERT(th_worker_alive());
	th_hub_close(&h);
}

int suite_ingest_add(void)
{
	CU_pSuite s = CU_add_suite("ingest", NULL, NULL);
	if (!s ||
	    !CU_add_test(s, "presence online: hub row, printers.sync with secrets, not logged;"
			    " offline", test_presence_online_sync_offline) ||
	    !CU_add_test(s, "presence: a will of an old session is ignored",
			 test_presence_old_session) ||
	    !CU_add_test(s, "heartbeat updates last_seen_at", test_heartbeat) ||
	    !CU_add_test(s, "status: batched, mapped, maintenance kept, older seq dropped",
			 test_status_batching) ||
	    !CU_add_test(s, "status flush: the latest report per printer in a batch wins",
			 test_flush_latest_wins) ||
	    !CU_add_test(s, "status flush: more rows than a chunk and a batch; no UPDATE when"
			    " nothing changes", test_flush_many) ||
	    !CU_add_test(s, "status flush: two accounts and hubs in one batch, foreign printers"
			    " dropped", test_flush_two_accounts) ||
	    !CU_add_test(s, "status flush: a report older than the printer row does not"
			    " overwrite it", test_flush_older_than_row) ||
	    !CU_add_test(s, "status flush: job progress only for the printer's running job",
			 test_flush_job_progress) ||
	    !CU_add_test(s, "status batch full while the database is away",
			 test_flush_batch_full) ||
	    !CU_add_test(s, "heartbeat that changes nothing is not from an unknown hub",
			 test_heartbeat_unchanged) ||
	    !CU_add_test(s, "events: job lifecycle, dedup, job_completed queued once",
			 test_events_job_lifecycle) ||
	    !CU_add_test(s, "events: failed, cancelled, printer link and error",
			 test_events_failed_cancelled_printer) ||
	    !CU_add_test(s, "discovery replaces the hub's list", test_discovery_replaces) ||
	    !CU_add_test(s, "malformed, foreign and oversized messages are dropped",
			 test_hostile_dropped))
		return -1;
	return 0;
}
