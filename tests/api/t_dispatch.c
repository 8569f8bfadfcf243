/* t_dispatch.c - auto-dispatch (docs/dispatch.md): the /v1/dispatch endpoints, the queue's
 * reasons, a farm of two simulated hubs and eight printers working through 30 jobs, and two
 * dispatchers at once. */
#include "apitest.h"
#include "fixture.h"
#include "rig.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct db_query Q_SETTINGS_ROW = {
	"SELECT CONCAT(enabled, '|', max_starts_in_flight_per_hub, '|', min_seconds_between_starts)"
	" FROM dispatch_settings WHERE account_id = ?"
};
static const struct db_query Q_OPTED = {
	"SELECT COUNT(*) FROM dispatch_printers WHERE printer_id = ?"
};
static const struct db_query Q_PRINTER_STATE = {
	"UPDATE printers SET status = 'idle', cleared = ?, current_filament_type = ?,"
	" current_color_hex = ?, current_color = ? WHERE id = ?"
};
static const struct db_query Q_ENABLE = {
	"INSERT INTO dispatch_settings (account_id, enabled, max_starts_in_flight_per_hub,"
	" min_seconds_between_starts) VALUES (?, 1, ?, ?) ON DUPLICATE KEY UPDATE enabled = 1,"
	" max_starts_in_flight_per_hub = VALUES(max_starts_in_flight_per_hub),"
	" min_seconds_between_starts = VALUES(min_seconds_between_starts)"
};
static const struct db_query Q_OFF = {
	"UPDATE dispatch_settings SET enabled = 0 WHERE account_id = ?"
};
static const struct db_query Q_OPT_IN = {
	"INSERT IGNORE INTO dispatch_printers (printer_id, account_id)"
	" SELECT id, account_id FROM printers WHERE id = ?"
};

static const char *dpath(const char *printer)
{
	static char buf[4][120];
	static int slot;
	char *b = buf[slot++ % 4];
	snprintf(b, sizeof buf[0], "/dispatch/printers/%.40s", printer);
	return b;
}

/* ------------------------------------------------------------------------- endpoints */

static void test_dispatch_settings(void)
{
	struct tenant t, other;
	char key_read[FX_KEY];
	RESP(r);
	FX(fx_tenant(&t, "read,write,control"));
	FX(fx_tenant_key(&t, "read", key_read));
	FX(fx_tenant(&other, "read,write"));

	api("GET", "/dispatch/settings", key_read, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		static const char *const keys[] = { "enabled", "max_starts_in_flight_per_hub",
						    "min_seconds_between_starts", NULL };
		KEYS(rdata(&r), keys, &r);
		INT_EQ(jbool(rdata(&r), "enabled"), 0, &r);
		INT_EQ(jint(rdata(&r), "max_starts_in_flight_per_hub"), 2, &r);
		INT_EQ(jint(rdata(&r), "min_seconds_between_starts"), 30, &r);
	}
	api("PATCH", "/dispatch/settings", key_read, "{\"enabled\": true}", &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	api("PATCH", "/dispatch/settings", t.key, "{}", &r);
	EXPECT(r, 400, "NO_UPDATES");
	api("PATCH", "/dispatch/settings", t.key, "{\"max_starts_in_flight_per_hub\": 0}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "max_starts_in_flight_per_hub"), &r, "names the field");
	api("PATCH", "/dispatch/settings", t.key, "{\"min_seconds_between_starts\": 3601}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "min_seconds_between_starts"), &r, "names the field");
	api("PATCH", "/dispatch/settings", t.key, "{\"enabled\": \"yes\"}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "enabled"), &r, "names the field");
	static const struct db_query Q_SETTINGS_ROWS = {
		"SELECT COUNT(*) FROM dispatch_settings WHERE account_id = ?"
	};
	INT_EQ(fx_count(&Q_SETTINGS_ROWS, t.account), 0, NULL); /* a refusal stores nothing */

	api("PATCH", "/dispatch/settings", t.key,
	    "{\"enabled\": true, \"min_seconds_between_starts\": 7}", &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "enabled"), 1, &r);
		INT_EQ(jint(rdata(&r), "max_starts_in_flight_per_hub"), 2, &r);
		INT_EQ(jint(rdata(&r), "min_seconds_between_starts"), 7, &r);
	}
	DB_IS(&Q_SETTINGS_ROW, t.account, "1|2|7");
	api("PATCH", "/dispatch/settings", t.key, "{\"max_starts_in_flight_per_hub\": 5}", &r);
	EXPECT(r, 200, NULL);
	DB_IS(&Q_SETTINGS_ROW, t.account, "1|5|7");
	api("GET", "/dispatch/settings", key_read, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jint(rdata(&r), "max_starts_in_flight_per_hub"), 5, &r);
	/* another account keeps its own (the defaults) */
	api("GET", "/dispatch/settings", other.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jbool(rdata(&r), "enabled"), 0, &r);

	/* apf-admin dispatch set / show: the same settings */
	json_t *j = FX_ADMIN("dispatch", "set", "--account", other.account, "--max-in-flight", "3",
			     "--min-gap", "0");
	CHECK(j && jint(j, "max_starts_in_flight_per_hub") == 3 &&
		      jint(j, "min_seconds_between_starts") == 0 && jbool(j, "enabled") == 0,
	      NULL, "apf-admin dispatch set answers the settings");
	json_decref(j);
	DB_IS(&Q_SETTINGS_ROW, other.account, "0|3|0");
	api("GET", "/dispatch/settings", other.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jint(rdata(&r), "max_starts_in_flight_per_hub"), 3, &r);
	j = FX_ADMIN("dispatch", "show", "--account", t.account);
	CHECK(j && jbool(j, "enabled") == 1 && jint(j, "min_seconds_between_starts") == 7, NULL,
	      "apf-admin dispatch show reads the API's change");
	json_decref(j);
	int st = 0;
	json_decref(fx_admin_exit((const char *const[]){ "dispatch", "set", "--account",
							 NO_SUCH_ID, "--enabled", "on", NULL },
				  &st));
	CHECK(st != 0, NULL, "an unknown account is refused (exit %d)", st);
	json_decref(fx_admin_exit((const char *const[]){ "dispatch", "set", "--account",
							 other.account, "--min-gap", "3601", NULL },
				  &st));
	CHECK(st != 0, NULL, "a gap out of range is refused (exit %d)", st);
	/* the API's change and apf-admin's stay per account */
	api("PATCH", "/dispatch/settings", t.key, "{\"enabled\": false}", &r);
	EXPECT(r, 200, NULL);
}

static void test_dispatch_printers(void)
{
	struct tenant t, other;
	char key_read[FX_KEY], hub[FX_ID], printer[FX_ID], foreign_hub[FX_ID], foreign[FX_ID];
	char tag[9], name[64];
	RESP(r);
	FX(fx_tenant(&t, "read,write,control"));
	FX(fx_tenant_key(&t, "read", key_read));
	FX(fx_tenant(&other, "read,write"));
	snprintf(name, sizeof name, "dispatch hub %s", fx_tag(tag));
	FX(fx_hub(t.account, name, hub));
	FX(fx_printer(t.account, hub, name, "X1 Carbon", printer));
	FX(fx_hub(other.account, name, foreign_hub));
	FX(fx_printer(other.account, foreign_hub, name, "X1 Carbon", foreign));

	api("PUT", dpath(printer), key_read, "{\"enabled\": true}", &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	api("PUT", dpath(printer), t.key, "{}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "enabled"), &r, "names the field");
	api("PUT", dpath(printer), t.key, "{\"enabled\": 1}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	api("PUT", dpath(foreign), t.key, "{\"enabled\": true}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	INT_EQ(fx_count(&Q_OPTED, foreign), 0, NULL);
	api("PUT", dpath(NO_SUCH_ID), t.key, "{\"enabled\": true}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");

	api("PUT", dpath(printer), t.key, "{\"enabled\": true}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "printer_id"), printer, &r);
		INT_EQ(jbool(rdata(&r), "enabled"), 1, &r);
	}
	INT_EQ(fx_count(&Q_OPTED, printer), 1, NULL);
	api("PUT", dpath(printer), t.key, "{\"enabled\": true}", &r); /* idempotent */
	EXPECT(r, 200, NULL);
	api("GET", "/dispatch/printers", key_read, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *list = rdata(&r);
		INT_EQ((long long)json_array_size(list), 1, &r);
		json_t *p = json_array_get(list, 0);
		STR_EQ(jstr(p, "printer_id"), printer, &r);
		INT_EQ(jbool(p, "enabled"), 1, &r);
	}
	api("GET", "/dispatch/printers?limit=0", key_read, NULL, &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	api("GET", "/dispatch/printers", other.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) /* the other account sees its own printer only */
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "printer_id"), foreign, &r);
	api("PUT", dpath(printer), t.key, "{\"enabled\": false}", &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jbool(rdata(&r), "enabled"), 0, &r);
	INT_EQ(fx_count(&Q_OPTED, printer), 0, NULL);
}

/* The reason of job in GET /dispatch/queue (r holds the answer), "" when absent. */
static const char *reason_of(const struct resp *r, const char *job)
{
	size_t i;
	json_t *e;
	json_array_foreach(rdata(r), i, e)
		if (jstr(e, "job_id") && strcmp(jstr(e, "job_id"), job) == 0)
			return jstr(e, "reason");
	return "";
}

/* Every reason a queued job can wait for, without a hub process (no start can happen). */
static void test_dispatch_queue_reasons(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char a1_file[FX_ID], v[FX_ID], k[256], p1s[FX_ID], maint[FX_ID], product[FX_ID];
	char blue[FX_ID], body[300], tag[9];
	char j_model[FX_ID], j_fil[FX_ID], j_bed[FX_ID], j_assigned[FX_ID], j_hub[FX_ID];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(rig_add_file(g, "a1.gcode", "N2S", 600, a1_file, v, k));
	char p1s_file[FX_ID];
	FX(rig_add_file(g, "p1s.gcode", "C12", 600, p1s_file, v, k));
	FX(fx_printer(rig_account(g), rig_hub(g), "P1S dispatch", "P1S", p1s));
	FX(fx_printer(rig_account(g), rig_hub(g), "P1S maint", "P1S", maint));
	FX(FX_SQL(Q_PRINTER_STATE, DI(0), DS("PLA"), DS("#FF0000"), DS("Red"), DS(rig_printer(g))));
	FX(FX_SQL(Q_PRINTER_STATE, DI(0), DS("PLA"), DS("#FF0000"), DS("Red"), DS(p1s)));
	FX(FX_SQL(Q_PRINTER_STATE, DI(1), DS("PLA"), DS("#FF0000"), DS("Red"), DS(maint)));
	static const struct db_query Q_MAINT = {
		"UPDATE printers SET in_maintenance = 1, status = 'maintenance' WHERE id = ?"
	};
	FX(FX_SQL(Q_MAINT, DS(maint)));
	snprintf(body, sizeof body, "{\"name\":\"Dispatch %s\"}", fx_tag(tag));
	FX(fx_created(rig_key(g), "/products", body, product));
	snprintf(body, sizeof body, "{\"sku\":\"DB-%s\",\"color\":\"Blue\",\"filament_type\":"
		 "\"PETG\",\"hex_code\":\"#0000FF\"}", tag);
	char path[120];
	snprintf(path, sizeof path, "/products/%s/skus", product);
	FX(fx_created(rig_key(g), path, body, blue));

	FX(rig_job_of(g, a1_file, NULL, NULL, j_model));
	snprintf(body, sizeof body, "\"product_sku_id\": \"%s\"", blue);
	FX(rig_job_of(g, rig_file(g), NULL, body, j_fil));
	FX(rig_job_of(g, p1s_file, NULL, NULL, j_bed));
	FX(rig_job(g, rig_printer(g), NULL, j_assigned));
	FX(rig_job(g, NULL, NULL, j_hub));
	for (const char *const *p = (const char *const[]){ rig_printer(g), p1s, maint, NULL }; *p;
	     p++) {
		api("PUT", dpath(*p), rig_key(g), "{\"enabled\": true}", &r);
		EXPECT(r, 200, NULL);
	}

	api("GET", "/dispatch/queue", rig_key_read(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ((long long)json_array_size(rdata(&r)), 5, &r);
		STR_EQ(reason_of(&r, j_model), "dispatch_disabled", &r);
		json_t *first = json_array_get(rdata(&r), 0);
		static const char *const keys[] = { "job_id", "position", "reason", "printer_id",
						    "candidate_printer_id", NULL };
		KEYS(first, keys, &r);
		INT_EQ(jint(first, "position"), 1, &r);
	}
	api("GET", "/dispatch/queue", rig_key_write(g), NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	/* enabled; the hub is live but no bed is clear: nothing can start */
	FX(fx_hub_online(rig_hub(g), 0));
	api("PATCH", "/dispatch/settings", rig_key(g), "{\"enabled\": true}", &r);
	EXPECT(r, 200, NULL);
	api("GET", "/dispatch/queue", rig_key_read(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(reason_of(&r, j_model), "no_printer_of_model", &r);
		STR_EQ(reason_of(&r, j_fil), "filament_mismatch", &r);
		STR_EQ(reason_of(&r, j_bed), "bed_not_clear", &r);
		STR_EQ(reason_of(&r, j_assigned), "printer_assigned", &r);
		STR_EQ(reason_of(&r, j_hub), "bed_not_clear", &r);
	}
	/* the P1S with the dirty bed opted out: the one in maintenance is what is left */
	static const struct db_query Q_OUT = { "DELETE FROM dispatch_printers WHERE printer_id = ?" };
	FX(FX_SQL(Q_OUT, DS(p1s)));
	api("GET", "/dispatch/queue", rig_key_read(g), NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(reason_of(&r, j_bed), "maintenance", &r);
	FX(fx_hub_offline(rig_hub(g)));
	api("GET", "/dispatch/queue", rig_key_read(g), NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(reason_of(&r, j_bed), "hub_offline", &r);
		STR_EQ(reason_of(&r, j_hub), "hub_offline", &r);
	}
	/* another account's queue does not show these jobs */
	struct tenant other;
	FX(fx_tenant(&other, "read"));
	api("GET", "/dispatch/queue", other.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ((long long)json_array_size(rdata(&r)), 0, &r);
	rig_free(g);
}

static const struct db_query Q_SORT = { "UPDATE printers SET sort_order = ? WHERE id = ?" };
static const struct db_query Q_CANCEL = {
	"UPDATE print_jobs SET status = 'cancelled' WHERE id = ?"
};

/* The queue's reason of job (GET /dispatch/queue with the rig's read key) is want; with
 * candidate non-NULL, so is candidate_printer_id. */
static void reason_is(struct rig *g, const char *job, const char *want, const char *candidate,
		      int line)
{
	RESP(r);
	api("GET", "/dispatch/queue", rig_key_read(g), NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return;
	size_t i;
	json_t *e, *found = NULL;
	json_array_foreach(rdata(&r), i, e)
		if (jstr(e, "job_id") && strcmp(jstr(e, "job_id"), job) == 0)
			found = e;
	CHECK(found && strcmp(jstr(found, "reason"), want) == 0, &r,
	      "line %d: reason %s, want %s", line, found ? jstr(found, "reason") : "(absent)",
	      want);
	if (found && candidate)
		CHECK(jstr(found, "candidate_printer_id") &&
			      strcmp(jstr(found, "candidate_printer_id"), candidate) == 0,
		      &r, "line %d: candidate_printer_id %s", line, candidate);
	if (found && !candidate)
		CHECK(json_is_null(json_object_get(found, "candidate_printer_id")), &r,
		      "line %d: no candidate while waiting", line);
}
#define REASON_IS(g, job, want, candidate) reason_is((g), (job), (want), (candidate), __LINE__)

/* ready, staggering (in-flight limit, then the gap), all_busy, hub_offline, each asserted on
 * one job while its situation changes. The job's row is locked by the test the whole time, so
 * no dispatch pass (the workers' own) can start it: the queue is a plain read and answers
 * what a pass would do. */
static void test_dispatch_reasons_each(void)
{
	struct rig *g = rig_new();
	char p2[FX_ID], job[FX_ID], other[FX_ID];
	static const struct db_query Q_LOCK_JOB = {
		"SELECT id FROM print_jobs WHERE id = ? FOR UPDATE"
	};
	static const struct db_query Q_STARTING = {
		"UPDATE print_jobs SET status = 'processing' WHERE id = ?"
	};
	static const struct db_query Q_PRINTING = {
		"UPDATE printers SET status = 'printing' WHERE id = ?"
	};
	static const struct db_query Q_GAP = {
		"UPDATE dispatch_settings SET max_starts_in_flight_per_hub = 2,"
		" min_seconds_between_starts = 3600 WHERE account_id = ?"
	};
	static const struct db_query Q_RECENT_START = {
		"INSERT INTO hub_commands (command_id, account_id, hub_id, printer_id, job_id, action,"
		" params, status, issued_at, expires_at, timeout_ms)"
		" SELECT UUID(), account_id, hub_id, id, NULL, 'print.start', '{}', 'acked', NOW(3),"
		" NOW(3), 1000 FROM printers WHERE id = ?"
	};
	FX(rig_make(g, "X1 Carbon", 0));
	FX(fx_hub_online(rig_hub(g), 0));
	FX(fx_printer(rig_account(g), rig_hub(g), "X1 second", "X1 Carbon", p2));
	FX(FX_SQL(Q_SORT, DI(0), DS(rig_printer(g))));
	FX(FX_SQL(Q_SORT, DI(1), DS(p2)));
	for (const char *const *p = (const char *const[]){ rig_printer(g), p2, NULL }; *p; p++) {
		FX(FX_SQL(Q_PRINTER_STATE, DI(1), DS(NULL), DS(NULL), DS(NULL), DS(*p)));
		FX(FX_SQL(Q_OPT_IN, DS(*p)));
	}
	FX(rig_job(g, NULL, NULL, job));
	FX(rig_job(g, p2, NULL, other)); /* a person's: dispatch leaves it alone */
	struct db *tx = db_open();
	if (!tx || db_begin(tx) != E_OK ||
	    db_exec(tx, &Q_LOCK_JOB, DB_ARGS(DS(job)), NULL) != E_OK) {
		CHECK(0, NULL, "the job's row is not locked");
		db_close(tx);
		rig_free(g);
		return;
	}
	FX(FX_SQL(Q_ENABLE, DS(rig_account(g)), DI(1), DI(0)));
	REASON_IS(g, job, "ready", rig_printer(g));
	REASON_IS(g, other, "printer_assigned", NULL);
	/* the other printer starting a job: the hub is at its limit of 1 */
	FX(FX_SQL(Q_STARTING, DS(other)));
	REASON_IS(g, job, "staggering", NULL);
	/* limit 2, but the hub's last start was just now and the gap is an hour */
	FX(FX_SQL(Q_GAP, DS(rig_account(g))));
	FX(FX_SQL(Q_RECENT_START, DS(p2)));
	REASON_IS(g, job, "staggering", NULL);
	/* the free printer prints too: every fitting printer is busy */
	FX(FX_SQL(Q_PRINTING, DS(rig_printer(g))));
	REASON_IS(g, job, "all_busy", NULL);
	FX(fx_hub_offline(rig_hub(g)));
	REASON_IS(g, job, "hub_offline", NULL);
	/* a pass waiting for the row finds the job no longer queued */
	if (db_exec(tx, &Q_CANCEL, DB_ARGS(DS(job)), NULL) != E_OK || db_commit(tx) != E_OK)
		CHECK(0, NULL, "the job was not cancelled");
	db_close(tx);
	FX(FX_SQL(Q_CANCEL, DS(other)));
	FX(FX_SQL(Q_OFF, DS(rig_account(g))));
	rig_free(g);
}

static const struct db_query Q_STARTS_OF_JOB = {
	"SELECT IFNULL(GROUP_CONCAT(CONCAT(printer_id, ':', status) ORDER BY issued_at), '')"
	" FROM hub_commands WHERE job_id = ? AND action = 'print.start'"
};

/* A second hub for the rig's account: h filled (hub id, MQTT password). 0 or -1. */
static int second_hub(struct rig *g, struct hubx *h, const char *name)
{
	json_t *hub = FX_ADMIN("hub", "create", "--account", rig_account(g), "--name", name);
	int ok = jstr(hub, "id") && jstr(hub, "mqtt_password");
	if (ok) {
		snprintf(h->hub, sizeof h->hub, "%s", jstr(hub, "id"));
		snprintf(h->password, sizeof h->password, "%s", jstr(hub, "mqtt_password"));
	}
	json_decref(hub);
	CHECK(ok, NULL, "second hub not created");
	return ok ? 0 : -1;
}

/* A printer's hub goes offline after the dispatched start reached it and before it was
 * acknowledged: the start fails (hub lost or no ACK), the revert puts the job back in the
 * queue unassigned, and a later pass starts it on the matching printer of the other hub.
 * Nothing is started twice. */
static void test_dispatch_hub_lost(void)
{
	struct rig *g = rig_new();
	struct hubx *h2 = calloc(1, sizeof *h2);
	char pb[FX_ID], job[FX_ID], tag[9], name[64], starts[300], want[200];
	RESP(r);
	if (!h2)
		return;
	FX(rig_make(g, "X1 Carbon", 0));
	snprintf(name, sizeof name, "lost hub %s", fx_tag(tag));
	if (second_hub(g, h2, name) < 0) {
		free(h2);
		return;
	}
	FX(fx_printer(rig_account(g), h2->hub, "X1 other hub", "X1 Carbon", pb));
	FX(FX_SQL(Q_SORT, DI(0), DS(rig_printer(g))));
	FX(FX_SQL(Q_SORT, DI(1), DS(pb)));
	for (const char *const *p = (const char *const[]){ rig_printer(g), pb, NULL }; *p; p++) {
		FX(FX_SQL(Q_PRINTER_STATE, DI(1), DS(NULL), DS(NULL), DS(NULL), DS(*p)));
		FX(FX_SQL(Q_OPT_IN, DS(*p)));
	}
	FX(rig_job(g, NULL, NULL, job));
	FX(hx_start(&g->hx, rig_key(g)));
	if (hx_start(h2, rig_key(g)) < 0) {
		free(h2);
		return;
	}
	FX(hx_fault(&g->hx, "timeout action=print.start")); /* the first hub never ACKs */
	FX(FX_SQL(Q_ENABLE, DS(rig_account(g)), DI(2), DI(0)));
	json_decref(FX_ADMIN("dispatch", "run", "--account", rig_account(g)));
	snprintf(want, sizeof want, "%s:sent", rig_printer(g));
	DB_BECOMES(&Q_STARTS_OF_JOB, job, want, 30000); /* the first printer of the order got it */
	FX(hx_fault(&g->hx, "kill"));
	/* the start fails, the job is queued again and goes to the other hub's printer */
	int64_t end = util_now_ms() + 2 * DEADLINE_MS;
	snprintf(want, sizeof want, "%s:acked", pb);
	do {
		json_decref(FX_ADMIN("dispatch", "run", "--account", rig_account(g)));
		FX_TEXT(starts, Q_STARTS_OF_JOB, DS(job));
		if (strstr(starts, want))
			break;
		sleep_ms(500);
	} while (util_now_ms() < end);
	char *comma = strchr(starts, ',');
	CHECK(comma && strncmp(starts, rig_printer(g), strlen(rig_printer(g))) == 0 &&
		      !strstr(starts, ":acked,") && strcmp(comma + 1, want) == 0,
	      NULL, "one failed start on the lost hub, then one acknowledged on the other: %s",
	      starts);
	api("GET", jpath(job, NULL), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "printer_id"), pb, &r);
	sleep_ms(1000); /* one more pass may run: still nothing started twice */
	json_decref(FX_ADMIN("dispatch", "run", "--account", rig_account(g)));
	FX_TEXT(starts, Q_STARTS_OF_JOB, DS(job));
	comma = strchr(starts, ',');
	CHECK(comma && !strchr(comma + 1, ','), NULL, "two starts in all: %s", starts);
	FX_SQL(Q_OFF, DS(rig_account(g)));
	hx_stop(h2);
	free(h2);
	rig_free(g);
}

/* ------------------------------------------------------------------- two dispatchers */

static pid_t spawn_run(const char *account)
{
	static char path[600];
	snprintf(path, sizeof path, "%s/apf-admin", getenv("APF_BIN") ? getenv("APF_BIN") : "build/bin");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execl(path, "apf-admin", "dispatch", "run", "--account", account, "--json", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static const struct db_query Q_STARTS_OF_ACCOUNT = {
	"SELECT COUNT(*) FROM hub_commands WHERE account_id = ? AND action = 'print.start'"
};
static const struct db_query Q_JOBS_STARTED_TWICE = {
	"SELECT COUNT(*) FROM (SELECT job_id FROM hub_commands WHERE account_id = ?"
	" AND action = 'print.start' GROUP BY job_id HAVING COUNT(*) > 1) x"
};
static const struct db_query Q_PRINTERS_TWICE = {
	"SELECT COUNT(*) FROM (SELECT printer_id FROM print_jobs WHERE account_id = ?"
	" AND status IN ('processing', 'uploaded', 'printing', 'paused')"
	" GROUP BY printer_id HAVING COUNT(*) > 1) x"
};
static const struct db_query Q_RUNNING = {
	"SELECT COUNT(*) FROM print_jobs WHERE account_id = ? AND status = 'processing'"
};

/* The rig (no hub process, its hub live) with n X1 Carbon printers on its hub (the rig's
 * first), idle, beds clear, PLA red loaded, opted in. 0 or -1. */
static int free_printers(struct rig *g, int n, char printers[][FX_ID])
{
	if (rig_make(g, "X1 Carbon", 0) < 0 || fx_hub_online(rig_hub(g), 0) < 0)
		return -1;
	snprintf(printers[0], FX_ID, "%s", rig_printer(g));
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "X1 free %d", i);
		if ((i > 0 && fx_printer(rig_account(g), rig_hub(g), name, "X1 Carbon",
					 printers[i]) < 0) ||
		    FX_SQL(Q_PRINTER_STATE, DI(1), DS("PLA"), DS("#FF0000"), DS("Red"),
			   DS(printers[i])) < 0 ||
		    FX_SQL(Q_OPT_IN, DS(printers[i])) < 0)
			return -1;
	}
	return 0;
}

/* Three dispatch passes at once (two apf-admin processes and the workers' own) over six free
 * printers and twelve jobs: six starts, each job once, each printer once. */
static void test_dispatch_two_dispatchers(void)
{
	struct rig *g = rig_new();
	char printers[6][FX_ID], job[FX_ID];
	FX(free_printers(g, 6, printers));
	for (int i = 0; i < 12; i++)
		FX(rig_job(g, NULL, NULL, job));
	/* on without the API's nudge, so the passes below start together */
	FX(FX_SQL(Q_ENABLE, DS(rig_account(g)), DI(100), DI(0)));
	pid_t a = spawn_run(rig_account(g)), b = spawn_run(rig_account(g));
	int sa = -1, sb = -1;
	waitpid(a, &sa, 0);
	waitpid(b, &sb, 0);
	CHECK(WIFEXITED(sa) && WEXITSTATUS(sa) == 0, NULL, "first dispatcher exited %d", sa);
	CHECK(WIFEXITED(sb) && WEXITSTATUS(sb) == 0, NULL, "second dispatcher exited %d", sb);
	sleep_ms(1500); /* a periodic pass of the workers may still be running */
	INT_EQ(fx_count(&Q_STARTS_OF_ACCOUNT, rig_account(g)), 6, NULL);
	INT_EQ(fx_count(&Q_JOBS_STARTED_TWICE, rig_account(g)), 0, NULL);
	INT_EQ(fx_count(&Q_PRINTERS_TWICE, rig_account(g)), 0, NULL);
	INT_EQ(fx_count(&Q_RUNNING, rig_account(g)), 6, NULL);
	FX(FX_SQL(Q_OFF, DS(rig_account(g))));
	rig_free(g);
}

/* ------------------------------------------------------------------------------ farm */

static const struct db_query Q_DONE = {
	"SELECT COUNT(*) FROM print_jobs WHERE account_id = ? AND status = 'completed'"
};
static const struct db_query Q_TO_CLEAR = {
	"SELECT IFNULL(GROUP_CONCAT(id), '') FROM printers WHERE account_id = ? AND status = 'idle'"
	" AND cleared = 0"
};
/* Every job on a printer of its file's model, with the SKU's filament when it has one. */
static const struct db_query Q_WRONG_PRINTER = {
	"SELECT COUNT(*) FROM print_jobs j JOIN print_files f ON f.id = j.print_file_id"
	" JOIN printers p ON p.id = j.printer_id LEFT JOIN product_skus s ON s.id = j.product_sku_id"
	" WHERE j.account_id = ? AND ((f.printer_model_id = 'BL-P001' AND p.model <> 'X1 Carbon')"
	" OR (f.printer_model_id = 'C12' AND p.model <> 'P1S')"
	" OR (s.id IS NOT NULL AND (p.current_filament_type <> s.filament_type"
	"  OR p.current_color_hex <> s.hex_code)))"
};
/* Two jobs of one printer whose [started, completed] overlap. */
static const struct db_query Q_OVERLAP = {
	"SELECT COUNT(*) FROM print_jobs a JOIN print_jobs b ON a.printer_id = b.printer_id"
	" AND a.id < b.id WHERE a.account_id = ? AND a.time_started < b.time_completed"
	" AND b.time_started < a.time_completed"
};
/* Two start commands on one hub closer than the 1 s the test sets. */
static const struct db_query Q_STAGGER_BROKEN = {
	"SELECT COUNT(*) FROM (SELECT issued_at, LAG(issued_at) OVER (PARTITION BY hub_id"
	" ORDER BY issued_at) prev FROM hub_commands WHERE account_id = ?"
	" AND action = 'print.start') x"
	" WHERE prev IS NOT NULL AND issued_at < prev + INTERVAL 1 SECOND"
};
static const struct db_query Q_ACKED_TWICE = {
	"SELECT COUNT(*) FROM (SELECT job_id FROM hub_commands WHERE account_id = ?"
	" AND action = 'print.start' AND status = 'acked' GROUP BY job_id HAVING COUNT(*) > 1) x"
};
/* Every start, when it commits: a test-only trigger on print_jobs records, for each job of
 * the account entering processing / uploaded, how many jobs of its hub are then in flight (the
 * transaction's own view: the dispatcher serialises an account's starts). Not sampled: each
 * step of the run is in the table. */
static int flight_watch(const char *account)
{
	char sql[1400];
	if (fx_schema_sql("CREATE TABLE IF NOT EXISTS test_dispatch_flight (account_id CHAR(36),"
			  " hub_id CHAR(36), job_id CHAR(36), n INT,"
			  " at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))") < 0 ||
	    fx_schema_sql("DROP TRIGGER IF EXISTS test_dispatch_flight") < 0)
		return -1;
	snprintf(sql, sizeof sql,
		 "CREATE TRIGGER test_dispatch_flight AFTER UPDATE ON print_jobs FOR EACH ROW"
		 " IF NEW.account_id = '%s' AND NEW.status IN ('processing', 'uploaded')"
		 " AND OLD.status NOT IN ('processing', 'uploaded') THEN"
		 " INSERT INTO test_dispatch_flight (account_id, hub_id, job_id, n)"
		 " SELECT NEW.account_id, p.hub_id, NEW.id, (SELECT COUNT(*) FROM print_jobs j"
		 " JOIN printers q ON q.id = j.printer_id WHERE q.hub_id = p.hub_id"
		 " AND j.status IN ('processing', 'uploaded')) FROM printers p"
		 " WHERE p.id = NEW.printer_id; END IF", account);
	return fx_schema_sql(sql);
}

static void flight_unwatch(void)
{
	fx_schema_sql("DROP TRIGGER IF EXISTS test_dispatch_flight");
}

static const struct db_query Q_MAX_IN_FLIGHT = {
	"SELECT IFNULL(MAX(n), 0) FROM test_dispatch_flight WHERE account_id = ?"
};
static const struct db_query Q_FLIGHT_STEPS = {
	"SELECT COUNT(*) FROM test_dispatch_flight WHERE account_id = ?"
};
/* A start that failed (refused / no ACK) whose job was then printed on another printer. */
static const struct db_query Q_MOVED_ON = {
	"SELECT COUNT(DISTINCT c.job_id) FROM hub_commands c JOIN print_jobs j ON j.id = c.job_id"
	" WHERE c.account_id = ? AND c.action = 'print.start' AND c.status <> 'acked'"
	" AND j.status = 'completed' AND j.printer_id <> c.printer_id"
};

/* The in-flight limit exactly: four free printers on one hub without a hub process (a start
 * stays in flight), four jobs, three passes at once (two apf-admin processes and one more):
 * with the limit 1 one start, with 2 one more; the trigger saw each start with at most the
 * limit in flight. */
static void test_dispatch_in_flight_exact(void)
{
	struct rig *g = rig_new();
	char printers[4][FX_ID], job[FX_ID];
	static const struct db_query Q_LIMIT = {
		"UPDATE dispatch_settings SET max_starts_in_flight_per_hub = ? WHERE account_id = ?"
	};
	FX(free_printers(g, 4, printers));
	for (int i = 0; i < 4; i++)
		FX(rig_job(g, NULL, NULL, job));
	FX(flight_watch(rig_account(g)));
	for (int limit = 1; limit <= 2; limit++) {
		if (limit == 1)
			FX(FX_SQL(Q_ENABLE, DS(rig_account(g)), DI(1), DI(0)));
		else
			FX(FX_SQL(Q_LIMIT, DI(2), DS(rig_account(g))));
		pid_t a = spawn_run(rig_account(g)), b = spawn_run(rig_account(g));
		json_decref(FX_ADMIN("dispatch", "run", "--account", rig_account(g)));
		waitpid(a, NULL, 0);
		waitpid(b, NULL, 0);
		sleep_ms(1000); /* a periodic pass of the workers may still be running */
		INT_EQ(fx_count(&Q_STARTS_OF_ACCOUNT, rig_account(g)), limit, NULL);
		INT_EQ(fx_count(&Q_RUNNING, rig_account(g)), limit, NULL);
		INT_EQ(fx_count(&Q_FLIGHT_STEPS, rig_account(g)), limit, NULL);
		INT_EQ(fx_count(&Q_MAX_IN_FLIGHT, rig_account(g)), limit, NULL);
	}
	FX_SQL(Q_OFF, DS(rig_account(g)));
	flight_unwatch();
	rig_free(g);
}

/* 30 jobs of two models and two filaments over 8 printers on two simulated hubs; one printer
 * refuses its first start, another never acknowledges it (a printer gone mid-dispatch). The
 * test clears beds as a person would and runs a dispatch pass every half second besides the
 * workers' own. */
static void test_dispatch_farm(void)
{
	struct rig *g = rig_new();
	struct hubx *h2 = calloc(1, sizeof *h2);
	RESP(r);
	char fx1[FX_ID], fp1[FX_ID], v[FX_ID], k[256], printers[8][FX_ID], product[FX_ID];
	char sku[2][FX_ID], body[300], tag[9], path[120], job[FX_ID], name[64];
	if (!h2)
		return;
	FX(rig_make(g, "X1 Carbon", 0));
	FX(rig_add_file(g, "x1.gcode", "BL-P001", 60, fx1, v, k));
	FX(rig_add_file(g, "p1s.gcode", "C12", 60, fp1, v, k));
	snprintf(name, sizeof name, "farm hub %s", fx_tag(tag));
	json_t *hub = FX_ADMIN("hub", "create", "--account", rig_account(g), "--name", name);
	if (!jstr(hub, "id") || !jstr(hub, "mqtt_password")) {
		json_decref(hub);
		free(h2);
		CHECK(0, NULL, "second hub not created");
		return;
	}
	snprintf(h2->hub, sizeof h2->hub, "%s", jstr(hub, "id"));
	snprintf(h2->password, sizeof h2->password, "%s", jstr(hub, "mqtt_password"));
	json_decref(hub);
	snprintf(printers[0], FX_ID, "%s", rig_printer(g));
	for (int i = 1; i < 8; i++) {
		snprintf(name, sizeof name, "farm %d %s", i, tag);
		FX(fx_printer(rig_account(g), i < 4 ? rig_hub(g) : h2->hub, name,
			      (i % 4) < 2 ? "X1 Carbon" : "P1S", printers[i]));
	}
	for (int i = 0; i < 8; i++)
		FX(FX_SQL(Q_PRINTER_STATE, DI(1), DS(NULL), DS(NULL), DS(NULL), DS(printers[i])));
	snprintf(body, sizeof body, "{\"name\":\"Farm %s\"}", tag);
	FX(fx_created(rig_key(g), "/products", body, product));
	snprintf(path, sizeof path, "/products/%s/skus", product);
	snprintf(body, sizeof body, "{\"sku\":\"FG-%s\",\"color\":\"Green\",\"filament_type\":"
		 "\"PLA\",\"hex_code\":\"#00AE42\"}", tag);
	FX(fx_created(rig_key(g), path, body, sku[0]));
	snprintf(body, sizeof body, "{\"sku\":\"FB-%s\",\"color\":\"Black\",\"filament_type\":"
		 "\"PETG\",\"hex_code\":\"#161616\"}", tag);
	FX(fx_created(rig_key(g), path, body, sku[1]));
	for (int i = 0; i < 30; i++) {
		snprintf(body, sizeof body, "\"product_sku_id\": \"%s\"", sku[i % 3 == 0 ? 0 : 1]);
		FX(rig_job_of(g, i % 2 ? fp1 : fx1, NULL, i % 3 == 2 ? NULL : body, job));
	}
	for (int i = 0; i < 8; i++) {
		api("PUT", dpath(printers[i]), rig_key(g), "{\"enabled\": true}", &r);
		EXPECT(r, 200, NULL);
	}
	FX(hx_start(&g->hx, rig_key(g)));
	if (hx_start(h2, rig_key(g)) < 0) {
		free(h2);
		return;
	}
	/* the simulator's trays: 0 green PLA (loaded at start), 2 black PETG: odd printers load it */
	static const struct db_query Q_FILAMENT = {
		"SELECT CONCAT(IFNULL(current_filament_type, '-'), '|',"
		" IFNULL(current_color_hex, '-')) FROM printers WHERE id = ?"
	};
	for (int i = 1; i < 8; i += 2) {
		post(ppath(printers[i], "/filament/load"), rig_key(g), "{\"tray_id\": 2}", &r);
		EXPECT(r, 200, NULL);
	}
	for (int i = 0; i < 8; i++)
		DB_BECOMES(&Q_FILAMENT, printers[i], i % 2 ? "PETG|#161616" : "PLA|#00AE42", 30000);
	/* printer 4 (X1, green) refuses its first start; printer 7 (P1S, blue) never ACKs it */
	char spec[200];
	snprintf(spec, sizeof spec, "refuse action=print.start printer=%s code=PRINTER_BUSY count=1",
		 printers[4]);
	int ok = hx_fault(h2, spec) == 0;
	snprintf(spec, sizeof spec, "timeout action=print.start printer=%s count=1", printers[7]);
	ok = ok && hx_fault(h2, spec) == 0;
	ok = ok && flight_watch(rig_account(g)) == 0;
	api("PATCH", "/dispatch/settings", rig_key(g),
	    "{\"enabled\": true, \"max_starts_in_flight_per_hub\": 2,"
	    " \"min_seconds_between_starts\": 1}", &r);
	ok = ok && EXPECT(r, 200, NULL);

	long long done = 0;
	for (long waited = 0; ok && waited < 150000; waited += 500) {
		done = fx_count(&Q_DONE, rig_account(g));
		if (done >= 30)
			break;
		char list[8 * 40] = "";
		FX_TEXT(list, Q_TO_CLEAR, DS(rig_account(g)));
		for (char *save = NULL, *id = strtok_r(list, ",", &save); id;
		     id = strtok_r(NULL, ",", &save))
			post(ppath(id, "/control"), rig_key(g), "{\"action\": \"clear_bed\"}", &r);
		json_decref(FX_ADMIN("dispatch", "run", "--account", rig_account(g)));
		sleep_ms(500);
	}
	INT_EQ(done, 30, NULL);
	INT_EQ(fx_count(&Q_WRONG_PRINTER, rig_account(g)), 0, NULL);
	INT_EQ(fx_count(&Q_OVERLAP, rig_account(g)), 0, NULL);
	INT_EQ(fx_count(&Q_STAGGER_BROKEN, rig_account(g)), 0, NULL);
	flight_unwatch();
	long long flight = fx_count(&Q_MAX_IN_FLIGHT, rig_account(g));
	CHECK(flight >= 1 && flight <= 2, NULL, "at most 2 starts in flight per hub at every"
	      " start (most: %lld)", flight);
	/* every start was seen: 30 jobs and the two that failed once */
	CHECK(fx_count(&Q_FLIGHT_STEPS, rig_account(g)) >= 32, NULL, "each start recorded");
	INT_EQ(fx_count(&Q_ACKED_TWICE, rig_account(g)), 0, NULL);
	INT_EQ(fx_count(&Q_MOVED_ON, rig_account(g)), 2, NULL);
	FX_SQL(Q_OFF, DS(rig_account(g)));
	hx_stop(h2);
	free(h2);
	rig_free(g);
}

int suite_dispatch(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("dispatch", NULL, NULL, NULL, rig_sweep);
	if (!s)
		return -1;
	ADD_TEST(s, test_dispatch_settings);
	ADD_TEST(s, test_dispatch_printers);
	ADD_TEST(s, test_dispatch_queue_reasons);
	ADD_TEST(s, test_dispatch_reasons_each);
	ADD_TEST(s, test_dispatch_hub_lost);
	ADD_TEST(s, test_dispatch_two_dispatchers);
	ADD_TEST(s, test_dispatch_in_flight_exact);
	ADD_TEST(s, test_dispatch_farm);
	return 0;
}
