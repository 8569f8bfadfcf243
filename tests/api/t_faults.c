/* t_faults.c - the hub link under infrastructure faults, over HTTPS with the real simulator on
 * the stack's broker (they need apf-hubsim built: hx_skip_without_sim):
 *
 *   - heartbeats stop (simulator `silent`): once the last one is over 2 minutes old (shortened
 *     by moving hubs.last_seen_at back) the API refuses with 503 HUB_OFFLINE before changing
 *     anything, GET /hubs/{id} says is_stale, the printer shows offline; heartbeats back → the
 *     hub is live again and a pause round-trips;
 *   - the worker holding MQTT is killed with SIGKILL while awaited pauses are in flight, (a)
 *     published and their ACKs delayed by the hub, (b) not yet published (worker stopped first):
 *     every API request answers 200, 503 or 504 (never 500), the restarted worker (scripts/
 *     stack.sh start) finishes every hub_commands row, and each job agrees with its printer,
 *     in the acked state or reverted;
 *   - mosquitto restarted while the hub is connected: stopping, it sends the hubs' wills, so a
 *     pause during the outage is refused (503 HUB_OFFLINE; 504 and reverted had the will been
 *     lost) and never reaches the hub later; afterwards the worker and the simulator reconnect
 *     by themselves and a pause round-trips within a bounded time (90 s);
 *   - MariaDB stopped while the hub reports status and a pause waits for its ACK, which the hub
 *     sends (delayed) while the database is away: the waiting request answers 503, the worker
 *     and apf-fcgi keep running, the ACK kept in the worker's backlog is applied once MariaDB is
 *     back (row `acked`, job and printer paused), no command stays open, commands round-trip and
 *     telemetry is written again.
 *
 * Every test leaves the stack running (scripts/stack.sh status), restarting what it stopped.
 * Stack control: APF_SRC (source tree, for scripts/stack.sh; default "."), APF_BIN is passed on
 * (so an ASan stack is restarted with ASan binaries), APF_VAR = conf var_dir. Measured times are
 * printed as "[faults] ..." lines on stderr. The rig (account, hub, simulator) is rig.h's. */
#include "inflight.h"
#include "rig.h"

#include "cfg.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#define RECOVER_MS 120000L     /* a service restart plus the reconnect back-offs */
#define FARM_MAX 4
#define PRINT_S 36000          /* the prints never end during a test (30 min at scale 20) */

/* ============================================================================== helpers */

/* scripts/stack.sh VERB on this stack (output appended to var_dir/log/t_faults-stack.log). */
static int stack_sh(const char *verb)
{
	const char *src = getenv("APF_SRC") && *getenv("APF_SRC") ? getenv("APF_SRC") : ".";
	const char *var = cfg_str("var_dir", ".");
	char cmd[3072];
	snprintf(cmd, sizeof cmd,
		 "APF_VAR='%s' '%s/scripts/stack.sh' %s >> '%s/log/t_faults-stack.log' 2>&1", var,
		 src, verb, var);
	int rc = system(cmd);
	return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Every service of the stack is running; if not, start what is missing (so the next test has
 * a stack) and record the failure. */
static void stack_healthy(void)
{
	int rc = stack_sh("status");
	CHECK(rc == 0, NULL, "scripts/stack.sh status: every service running (exit %d; see"
	      " %s/log/t_faults-stack.log)", rc, cfg_str("var_dir", "."));
	if (rc != 0)
		stack_sh("start");
}

static const struct db_query Q_OPEN_CMDS = {
	"SELECT COUNT(*) FROM hub_commands WHERE hub_id = ? AND status IN ('pending', 'sent')"
};
static const struct db_query Q_CMDS_IN = {
	"SELECT COUNT(*) FROM hub_commands WHERE hub_id = ? AND action = 'print.pause'"
	" AND status = ?"
};
static const struct db_query Q_CMD_OUTCOME = {
	"SELECT CONCAT(status, '|', IFNULL(ack_code, '-'), '|', IFNULL(revert_applied, '-'))"
	" FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_LAST_CMD = {
	"SELECT command_id FROM hub_commands WHERE printer_id = ? AND action = ?"
	" ORDER BY issued_at DESC LIMIT 1"
};
static const struct db_query Q_PAIR = {
	"SELECT CONCAT(j.status, '/', p.status) FROM print_jobs j JOIN printers p"
	" ON p.id = j.printer_id WHERE j.id = ?"
};
static const struct db_query Q_PAUSE_ROWS = {
	"SELECT COUNT(*) FROM hub_commands WHERE hub_id = ? AND action IN ('print.pause',"
	" 'print.resume')"
};
static const struct db_query Q_LIVE_AT = {
	"SELECT CAST(ROUND(UNIX_TIMESTAMP(received_at) * 1000) AS SIGNED)"
	" FROM printer_live_status WHERE printer_id = ?"
};

/* First cell of q(id) as a number, or -1. */
static long long db_num(const struct db_query *q, const char *id)
{
	char v[64];
	if (fx_sql_text(q, DB_ARGS(DS(id)), v, sizeof v) < 0 || !v[0])
		return -1;
	return atoll(v);
}

static long long cmds_in(const char *hub, const char *status)
{
	char v[32];
	if (FX_TEXT(v, Q_CMDS_IN, DS(hub), DS(status)) < 0)
		return -1;
	return atoll(v);
}

/* Waits until the hub has no pending / sent command; the time it took, or -1 (failure noted). */
static long open_cmds_drain(const char *hub, long ms)
{
	int64_t t0 = util_now_ms(), end = t0 + ms;
	long long n = -1;
	do {
		n = db_num(&Q_OPEN_CMDS, hub);
		if (n == 0)
			return (long)(util_now_ms() - t0);
		sleep_ms(200);
	} while (util_now_ms() < end);
	CHECK(0, NULL, "hub %s still has %lld pending/sent commands after %ld s", hub, n, ms / 1000);
	return -1;
}

/* scripts/stack.sh start brings the killed worker back; waits until the hub has no open
 * command. Returns when the restart began. */
static int64_t worker_restart(const char *hub)
{
	int64_t t_up = util_now_ms();
	CHECK(stack_sh("start") == 0, NULL, "scripts/stack.sh start restarts the worker");
	open_cmds_drain(hub, RECOVER_MS);
	fprintf(stderr, "\n[faults]   every command final %lld ms after scripts/stack.sh start began",
		(long long)(util_now_ms() - t_up));
	return t_up;
}

/* The printer's latest print.pause command id: 0, or -1 (failure noted) when it has none. */
static int last_pause(const char *printer, char id[40])
{
	if (fx_sql_text(&Q_LAST_CMD, DB_ARGS(DS(printer), DS("print.pause")), id, 40) < 0)
		return -1; /* failure noted */
	return CHECK(id[0], NULL, "printer %s has a print.pause command", printer) ? 0 : -1;
}

/* "job/printer" stored statuses of a job's pair. */
static void pair_of(const char *job, char out[64])
{
	if (fx_sql_text(&Q_PAIR, DB_ARGS(DS(job)), out, 64) < 0)
		snprintf(out, 64, "?");
}

/* Waits until job and printer agree (printing/printing or paused/paused) and stay so for
 * 3 s; out receives the pair. 0, or -1 (failure noted). */
static int pair_settles(const char *job, char out[64], long ms)
{
	int64_t end = util_now_ms() + ms, since = 0;
	char last[64] = "";
	for (;;) {
		pair_of(job, out);
		int agree = strcmp(out, "printing/printing") == 0 || strcmp(out, "paused/paused") == 0;
		int64_t now = util_now_ms();
		if (!agree || strcmp(out, last) != 0)
			since = agree ? now : 0;
		snprintf(last, sizeof last, "%s", out);
		if (since && now - since >= 3000)
			return 0;
		if (now > end)
			break;
		sleep_ms(200);
	}
	CHECK(0, NULL, "job %s and its printer do not agree: %s after %ld s", job, out, ms / 1000);
	return -1;
}

/* 200, 503 or 504 (never 500, never a broken transfer). */
static void preq_check(const struct preq *q)
{
	CHECK(q->status == 200 || q->status == 503 || q->status == 504, NULL,
	      "POST %s answered %ld %s after %ld ms: want 200, 503 or 504", q->path, q->status,
	      q->code, q->ms);
	fprintf(stderr, "\n[faults]   POST %s -> %ld %s (%ld ms)", q->path, q->status,
		q->code[0] ? q->code : "OK", q->ms);
}

/* =============================================================================== farm */

/* One account, one hub (the simulator), n printers each running a long print. */
struct farm {
	struct rig *g;
	int n;
	char printer[FARM_MAX][FX_ID];
	char job[FARM_MAX][FX_ID];
	char file[FX_ID], version[FX_ID], store[256];
};

/* Waits until GET /jobs/{id} and GET /printers/{id} both say want. */
static int farm_wait(struct farm *f, int i, const char *want, long ms)
{
	if (rig_wait_field(rig_key(f->g), jpath(f->job[i], NULL), "status", want, ms) < 0)
		return -1;
	return rig_wait_field(rig_key(f->g), ppath(f->printer[i], NULL), "status", want,
			      ms);
}

static int farm_make(struct farm *f, int n)
{
	char tag[9], name[64];
	memset(f, 0, sizeof *f);
	f->n = n;
	f->g = rig_new();
	if (rig_make(f->g, "X1 Carbon", 0) < 0 ||
	    rig_add_file(f->g, "long-part.gcode", "BL-P001", PRINT_S, f->file, f->version,
			 f->store) < 0)
		return -1;
	snprintf(f->printer[0], FX_ID, "%s", rig_printer(f->g));
	for (int i = 1; i < n; i++) {
		snprintf(name, sizeof name, "Fault printer %d %s", i, fx_tag(tag));
		if (fx_printer(rig_account(f->g), rig_hub(f->g), name, "X1 Carbon", f->printer[i]) < 0)
			return -1;
	}
	/* printers exist before the hub connects: printers.sync hands it all of them */
	if (hx_start(rig_hubx(f->g), rig_key(f->g)) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		RESP(r);
		if (rig_job_of(f->g, f->file, f->printer[i], NULL, f->job[i]) < 0)
			return -1;
		post(jpath(f->job[i], "/start"), rig_key(f->g), NULL, &r);
		if (!EXPECT(r, 200, NULL))
			return -1;
	}
	for (int i = 0; i < n; i++)
		if (farm_wait(f, i, "printing", DEADLINE_MS) < 0)
			return -1;
	return 0;
}

static void farm_free(struct farm *f)
{
	rig_free(f->g);
	f->g = NULL;
}

/* A fault spec for the farm's simulator ("clear all": every fault cleared). 0, or -1 with the
 * failure noted by hx_fault / hx_clear. */
static int fault(struct farm *f, const char *spec)
{
	return strcmp(spec, "clear all") == 0 ? hx_clear(rig_hubx(f->g))
					      : hx_fault(rig_hubx(f->g), spec);
}

/* POSTs path until it answers 200 (a client retrying through an outage); the time from the
 * first attempt to the 200, or -1 after ms. Each answer must be 200, 503 or 504. */
static long until_ok(const char *key, const char *path, const char *body, long ms)
{
	int64_t t0 = util_now_ms(), end = t0 + ms;
	RESP(r);
	do {
		api("POST", path, key, body, &r);
		if (r.status == 200)
			return (long)(util_now_ms() - t0);
		CHECK(r.status == 503 || r.status == 504, &r, "while recovering: 503 or 504, not %ld",
		      r.status);
		if (r.status != 503 && r.status != 504)
			return -1;
		sleep_ms(500);
	} while (util_now_ms() < end);
	CHECK(0, &r, "POST %s did not succeed within %ld s", path, ms / 1000);
	return -1;
}

/* =============================================================================== tests */

/* Heartbeats stop while the link stays up. Past 2 minutes (last_seen_at moved back) the hub is
 * stale: commands are refused with 503 HUB_OFFLINE before anything changes, GET /hubs/{id} says
 * is_stale, the printer shows offline. Heartbeats back: live again, a pause round-trips. */
static void test_heartbeats_stop(void)
{
	struct farm f;
	RESP(r);
	char v[64];
	if (hx_skip_without_sim())
		return;
	FX(farm_make(&f, 1));
	const char *key = rig_key(f.g), *hub = rig_hub(f.g);
	FX(fault(&f, "stop_heartbeats"));
	sleep_ms(1500); /* a heartbeat already in flight lands first */
	FX(rig_hub_stale(hub));

	api("POST", jpath(f.job[0], "/pause"), key, NULL, &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	api("POST", ppath(f.printer[0], "/control"), key, "{\"action\": \"pause\"}",
	    &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	api("GET", hpath(hub, NULL), key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "is_stale"), 1, &r);
		INT_EQ(jbool(rdata(&r), "is_online"), 1, &r); /* presence still says online */
	}
	api("GET", ppath(f.printer[0], NULL), key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "offline", &r);
	api("GET", ppath(f.printer[0], "/status"), key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "hub_online"), 0, &r);
		STR_EQ(jstr(rdata(&r), "status"), "offline", &r);
		CHECK(json_is_null(json_object_get(rdata(&r), "progress")), &r, "no live values");
	}
	/* nothing changed, nothing queued */
	pair_of(f.job[0], v);
	STR_EQ(v, "printing/printing", NULL);
	FX(FX_TEXT(v, Q_PAUSE_ROWS, DS(hub)));
	STR_EQ(v, "0", NULL);

	/* heartbeats back: live within one heartbeat interval (30 s simulated = 1.5 s) */
	FX(fault(&f, "clear stop_heartbeats"));
	int64_t t0 = util_now_ms(), end = t0 + DEADLINE_MS;
	do {
		api("GET", hpath(hub, NULL), key, NULL, &r);
		if (r.status == 200 && jbool(rdata(&r), "is_stale") == 0)
			break;
		sleep_ms(150);
	} while (util_now_ms() < end);
	if (EXPECT(r, 200, NULL))
		CHECK(jbool(rdata(&r), "is_stale") == 0, &r, "fresh again");
	fprintf(stderr, "\n[faults] heartbeats back: hub live again after %lld ms",
		(long long)(util_now_ms() - t0));
	api("POST", jpath(f.job[0], "/pause"), key, NULL, &r);
	EXPECT(r, 200, NULL);
	farm_wait(&f, 0, "paused", DEADLINE_MS);
	api("POST", jpath(f.job[0], "/resume"), key, NULL, &r);
	EXPECT(r, 200, NULL);
	farm_free(&f);
	stack_healthy();
}

/* Parallel pauses on every printer of the farm, half through /jobs/{id}/pause, half through
 * /printers/{id}/control. */
static void pauses_start(struct farm *f, struct preq *q)
{
	for (int i = 0; i < f->n; i++) {
		memset(&q[i], 0, sizeof q[i]);
		q[i].key = rig_key(f->g);
		if (i % 2 == 0) {
			snprintf(q[i].path, sizeof q[i].path, "/jobs/%s/pause", f->job[i]);
		} else {
			snprintf(q[i].path, sizeof q[i].path, "/printers/%s/control", f->printer[i]);
			q[i].body = "{\"action\": \"pause\"}";
		}
		preq_start(&q[i]);
	}
}

/* Waits until n pause rows of hub are in status; -1 after ms (failure noted). */
static int cmds_reach(const char *hub, const char *status, long long n, long ms)
{
	int64_t end = util_now_ms() + ms;
	long long got = -1;
	do {
		got = cmds_in(hub, status);
		if (got >= n)
			return 0;
		sleep_ms(50);
	} while (util_now_ms() < end);
	CHECK(0, NULL, "%lld of %lld pause commands of hub %s reached \"%s\"", got, n, hub, status);
	return -1;
}

/* The worker dies (SIGKILL) after publishing the pauses; the hub executes them and ACKs 4 s
 * later, into the broker's queue for the worker's persistent session. The worker stays dead
 * past the commands' expiry and the API's wait (10 + 2 s), then scripts/stack.sh starts it. */
static void test_worker_killed_after_publish(void)
{
	struct farm f;
	struct preq q[FARM_MAX];
	char pair[64], outcome[96];
	if (hx_skip_without_sim())
		return;
	FX(farm_make(&f, FARM_MAX));
	const char *hub = rig_hub(f.g);
	pid_t worker = fx_service_pid("apf-worker-1");
	CU_ASSERT_FATAL(fx_alive(worker));
	FX(fault(&f, "delay ms=4000 action=print.pause"));

	pauses_start(&f, q);
	int published = cmds_reach(hub, "sent", f.n, DEADLINE_MS);
	CHECK(kill(worker, SIGKILL) == 0, NULL, "SIGKILL apf-worker-1 (%d)", (int)worker);
	int64_t t_kill = util_now_ms();
	CHECK(fx_wait_gone(worker, 10000) == 0, NULL, "the worker is gone");
	fprintf(stderr, "\n[faults] worker killed with %s pauses published (ACKs delayed 4 s):",
		published == 0 ? "all" : "NOT all");
	for (int i = 0; i < f.n; i++) {
		preq_join(&q[i]);
		preq_check(&q[i]);
	}
	/* past the commands' expiry: the restarted worker finds them expired */
	while (util_now_ms() - t_kill < 13000)
		sleep_ms(200);
	int64_t t_up = worker_restart(hub);

	for (int i = 0; i < f.n; i++) {
		char id[40] = "";
		if (last_pause(f.printer[i], id) < 0)
			continue; /* noted */
		FX_TEXT(outcome, Q_CMD_OUTCOME, DS(id));
		pair_settles(f.job[i], pair, RECOVER_MS);
		fprintf(stderr, "\n[faults]   command %s: %s; job/printer %s", id, outcome, pair);
		/* an acked pause leaves both paused; any other end was reverted, and the hub's
		 * own report and events (it did pause) then move both to paused: they agree */
		if (strncmp(outcome, "acked|", 6) == 0)
			STR_EQ(pair, "paused/paused", NULL);
		else
			CHECK(strncmp(outcome, "timeout|", 8) == 0 || strncmp(outcome, "failed|", 7) == 0,
			      NULL, "command %s ended %s", id, outcome);
		/* the API answered before the outcome existed: never a success for a row that
		 * did not end acked */
		if (q[i].status == 200)
			CHECK(strncmp(outcome, "acked|", 6) == 0, NULL,
			      "200 for a pause that ended %s", outcome);
		/* after a 504 ("the change is reverted") the row never ends acked: an ACK the broker
		 * kept for the dead worker is late (hub-protocol §5.4) and counts as a timeout */
		if (q[i].status == 504)
			CHECK(strncmp(outcome, "acked|", 6) != 0, NULL,
			      "answered 504 but the late ACK made command %s %s", id, outcome);
	}
	fprintf(stderr, "\n[faults]   settled %lld ms after the restart",
		(long long)(util_now_ms() - t_up));
	/* the link works again: every printer resumes (or pauses) with a round trip */
	FX(fault(&f, "clear all"));
	for (int i = 0; i < f.n; i++) {
		pair_of(f.job[i], pair);
		const char *act = strcmp(pair, "paused/paused") == 0 ? "resume" : "pause";
		char p[200];
		snprintf(p, sizeof p, "/jobs/%s/%s", f.job[i], act);
		CHECK(until_ok(rig_key(f.g), p, NULL, DEADLINE_MS) >= 0, NULL, "%s round-trips", act);
	}
	farm_free(&f);
	stack_healthy();
}

/* The worker is stopped (SIGSTOP) before it can publish; pauses are requested; then it is
 * killed and restarted after their expiry: the hub never received them, the rows end
 * `timeout` with the revert applied, jobs and printers are printing again. */
static void test_worker_killed_before_publish(void)
{
	struct farm f;
	struct preq q[FARM_MAX];
	char pair[64], outcome[96];
	if (hx_skip_without_sim())
		return;
	FX(farm_make(&f, 3));
	const char *hub = rig_hub(f.g);
	pid_t worker = fx_service_pid("apf-worker-1");
	CU_ASSERT_FATAL(fx_alive(worker));
	CHECK(kill(worker, SIGSTOP) == 0, NULL, "SIGSTOP apf-worker-1");
	pauses_start(&f, q);
	cmds_reach(hub, "pending", f.n, DEADLINE_MS);
	/* the optimistic change is visible while the command waits */
	pair_of(f.job[0], pair);
	STR_EQ(pair, "paused/paused", NULL);
	CHECK(kill(worker, SIGKILL) == 0, NULL, "SIGKILL apf-worker-1");
	kill(worker, SIGCONT);
	CHECK(fx_wait_gone(worker, 10000) == 0, NULL, "the worker is gone");
	fprintf(stderr, "\n[faults] worker killed with %d pauses not yet published:", f.n);
	for (int i = 0; i < f.n; i++) {
		preq_join(&q[i]);
		preq_check(&q[i]);
		CHECK(q[i].status == 504 || q[i].status == 503, NULL,
		      "no ACK possible: 503/504, got %ld", q[i].status);
	}
	worker_restart(hub);
	for (int i = 0; i < f.n; i++) {
		char id[40] = "";
		if (last_pause(f.printer[i], id) < 0)
			continue; /* noted */
		FX_TEXT(outcome, Q_CMD_OUTCOME, DS(id));
		STR_EQ(outcome, "timeout|-|1", NULL);
		pair_settles(f.job[i], pair, DEADLINE_MS);
		STR_EQ(pair, "printing/printing", NULL); /* reverted, and never executed */
		fprintf(stderr, "\n[faults]   command %s: %s; job/printer %s", id, outcome, pair);
	}
	/* an expired row is never published late: the prints keep printing */
	sleep_ms(3000);
	for (int i = 0; i < f.n; i++) {
		pair_of(f.job[i], pair);
		STR_EQ(pair, "printing/printing", NULL);
	}
	CHECK(until_ok(rig_key(f.g), jpath(f.job[0], "/pause"), NULL, DEADLINE_MS) >= 0,
	      NULL, "a pause round-trips after the restart");
	farm_free(&f);
	stack_healthy();
}

/* mosquitto restarted (stopped by pid, started by scripts/stack.sh) while the hub is
 * connected. */
static void test_broker_restart(void)
{
	struct farm f;
	RESP(r);
	char pair[64];
	if (hx_skip_without_sim())
		return;
	FX(farm_make(&f, 1));
	const char *key = rig_key(f.g), *hub = rig_hub(f.g);
	pid_t worker = fx_service_pid("apf-worker-1"), mq = fx_service_pid("mosquitto");
	CU_ASSERT_FATAL(fx_alive(mq));
	CHECK(kill(mq, SIGTERM) == 0, NULL, "SIGTERM mosquitto");
	CHECK(fx_wait_gone(mq, 15000) == 0, NULL, "mosquitto stopped");
	int64_t t_down = util_now_ms();

	/* during the outage: mosquitto sends the hubs' wills as it shuts down, so the hub is
	 * offline and a command is refused before anything changes (503 HUB_OFFLINE); had the will
	 * been lost, the command could not be published and would time out (504), reverted */
	api("POST", jpath(f.job[0], "/pause"), key, NULL, &r);
	CHECK((r.status == 503 && strcmp(jstr(r.json, "code"), "HUB_OFFLINE") == 0) ||
		      (r.status == 504 && strcmp(jstr(r.json, "code"), "HUB_TIMEOUT") == 0),
	      &r, "pause without a broker: 503 HUB_OFFLINE or 504 HUB_TIMEOUT");
	fprintf(stderr, "\n[faults] broker down: pause -> %ld %s", r.status,
		jstr(r.json, "code") ? jstr(r.json, "code") : "");
	CHECK(open_cmds_drain(hub, DEADLINE_MS) >= 0, NULL, "the command ended while the broker"
	      " was down");
	FX(FX_TEXT(pair, RIG_Q_JOB_STATUS, DS(f.job[0])));
	STR_EQ(pair, "printing", NULL); /* the job never moved */
	api("GET", ppath(f.printer[0], NULL), key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "offline", &r);
	while (util_now_ms() - t_down < 10000) /* a 10 s outage: the back-offs reach 8 s */
		sleep_ms(200);

	CHECK(stack_sh("start") == 0, NULL, "scripts/stack.sh start restarts mosquitto");
	int64_t t_up = util_now_ms();
	fprintf(stderr, "\n[faults]   broker was down %lld ms", (long long)(t_up - t_down));
	CHECK(fx_alive(worker), NULL, "the worker survived the broker outage (pid %d)", (int)worker);
	long rt = until_ok(key, jpath(f.job[0], "/pause"), NULL, RECOVER_MS);
	fprintf(stderr, "\n[faults]   first pause round trip %ld ms after the broker came back", rt);
	CHECK(rt >= 0 && rt < 90000, NULL, "the link recovered within 90 s (%ld ms)", rt);
	farm_wait(&f, 0, "paused", DEADLINE_MS);
	/* the simulator is back on the broker: heartbeats arrive (last_seen_at after t_up) */
	api("GET", hpath(hub, NULL), key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "is_online"), 1, &r);
		CHECK(iso_ms(jstr(rdata(&r), "last_seen_at")) >= t_up - 1000, &r,
		      "heard from the hub since the broker came back");
	}
	CHECK(until_ok(key, jpath(f.job[0], "/resume"), NULL, DEADLINE_MS) >= 0, NULL,
	      "resume round-trips");
	/* the refused pause was never delivered later */
	pair_settles(f.job[0], pair, DEADLINE_MS);
	STR_EQ(pair, "printing/printing", NULL);
	farm_free(&f);
	stack_healthy();
}

/* MariaDB stopped while the hub reports status and a pause waits for its ACK, which the hub
 * delays by DB_ACK_DELAY_MS so that it goes out while the database is away; restarted with
 * scripts/stack.sh once the ACK is out. The ACK waits in the worker's backlog and is applied when
 * the database is back: the row ends `acked` (hub_acked_at, the hub's wall clock on this machine,
 * proves the ACK was sent between the database's stop and its restart, finished_at that it was
 * recorded after), job and printer `paused`. The row's expiry is moved 60 s on before the outage:
 * left at 10 s it would race the worker's database back-off (1, 2, 4, 8 s), and an ACK replayed
 * after it ends `timeout` (hub-link.md), which is another test's subject. */
#define DB_ACK_DELAY_MS 7000L

static const struct db_query Q_CMD_LATER = {
	"UPDATE hub_commands SET expires_at = expires_at + INTERVAL 60 SECOND"
	" WHERE command_id = ? AND status = 'sent'"
};
static const struct db_query Q_CMD_EXPIRES_IN = {
	"SELECT TIMESTAMPDIFF(SECOND, NOW(3), expires_at) FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_CMD_ACKED_AT = {
	"SELECT IFNULL(hub_acked_at, -1) FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_CMD_FINISHED_AT = {
	"SELECT IFNULL(CAST(ROUND(UNIX_TIMESTAMP(finished_at) * 1000) AS SIGNED), -1)"
	" FROM hub_commands WHERE command_id = ?"
};

static void test_database_restart(void)
{
	struct farm f;
	struct preq q;
	char pair[64], outcome[96], id[40] = "", spec[80];
	if (hx_skip_without_sim())
		return;
	FX(farm_make(&f, 1));
	const char *key = rig_key(f.g), *hub = rig_hub(f.g);
	pid_t worker = fx_service_pid("apf-worker-1"), fcgi = fx_service_pid("apf-fcgi"),
	      db = fx_service_pid("mariadb");
	CU_ASSERT_FATAL(fx_alive(worker) && fx_alive(fcgi) && fx_alive(db));
	snprintf(spec, sizeof spec, "delay ms=%ld action=print.pause", DB_ACK_DELAY_MS);
	FX(fault(&f, spec));

	memset(&q, 0, sizeof q);
	q.key = key;
	snprintf(q.path, sizeof q.path, "/jobs/%s/pause", f.job[0]);
	int64_t t_req = util_now_ms();
	preq_start(&q);
	/* a failed step joins the request's thread (q lives on this stack) before it returns */
	if (cmds_reach(hub, "sent", 1, DEADLINE_MS) < 0 || last_pause(f.printer[0], id) < 0 ||
	    FX_SQL(Q_CMD_LATER, DS(id)) < 0) {
		preq_join(&q);
		return;
	}
	long long expires_in = db_num(&Q_CMD_EXPIRES_IN, id);
	CHECK(expires_in > 50, NULL, "command %s expires in %lld s, past the outage", id,
	      expires_in);
	CHECK(kill(db, SIGTERM) == 0, NULL, "SIGTERM mariadb");
	int gone = fx_wait_gone(db, 60000) == 0;
	int64_t t_down = util_now_ms();
	CHECK(gone, NULL, "MariaDB (pid %d) stopped after SIGTERM", (int)db);
	if (!gone) {
		preq_join(&q);
		return; /* the teardown starts what is missing */
	}
	CHECK(t_down < t_req + DB_ACK_DELAY_MS, NULL, "MariaDB stopped %lld ms after the request,"
	      " before the hub's ACK (%ld ms)", (long long)(t_down - t_req), DB_ACK_DELAY_MS);
	/* the ACK and several status reports arrive meanwhile */
	while (util_now_ms() < t_req + DB_ACK_DELAY_MS + 2000 || util_now_ms() < t_down + 3000)
		sleep_ms(200);
	CHECK(fx_alive(worker), NULL, "the worker keeps running without its database");
	int64_t t_up = util_now_ms();
	CHECK(stack_sh("start") == 0, NULL, "scripts/stack.sh start restarts MariaDB");
	fprintf(stderr, "\n[faults] MariaDB down %lld ms with a pause waiting for its ACK:",
		(long long)(t_up - t_down));
	preq_join(&q);
	preq_check(&q);
	/* its outcome was unknown while the database was away */
	CHECK(q.status == 503 && strcmp(q.code, "SERVICE_UNAVAILABLE") == 0, NULL,
	      "the waiting pause answered %ld %s, want 503 SERVICE_UNAVAILABLE", q.status, q.code);
	CHECK(fx_alive(worker) && fx_service_pid("apf-worker-1") == worker, NULL,
	      "the same worker runs (pid %d)", (int)worker);
	CHECK(fx_alive(fcgi) && fx_service_pid("apf-fcgi") == fcgi, NULL, "the same apf-fcgi runs");

	long drained = open_cmds_drain(hub, RECOVER_MS);
	FX(FX_TEXT(outcome, Q_CMD_OUTCOME, DS(id)));
	pair_settles(f.job[0], pair, RECOVER_MS);
	long long acked_at = db_num(&Q_CMD_ACKED_AT, id), finished = db_num(&Q_CMD_FINISHED_AT, id);
	fprintf(stderr, "\n[faults]   no open command %ld ms after the restart; command %s: %s"
		" (hub ACK %+lld ms after MariaDB stopped, recorded %+lld ms after the restart"
		" began); job/printer %s", drained, id, outcome, acked_at - (long long)t_down,
		finished - (long long)t_up, pair);
	/* the ACK the hub sent while the database was away is applied when it is back */
	STR_EQ(outcome, "acked|OK|-", NULL);
	STR_EQ(pair, "paused/paused", NULL);
	CHECK(acked_at > t_down && acked_at < t_up, NULL, "the hub ACKed at %lld, between MariaDB's"
	      " stop (%lld) and its restart (%lld)", acked_at, (long long)t_down, (long long)t_up);
	CHECK(finished >= t_up, NULL, "the ACK was recorded at %lld, after the restart began (%lld)",
	      finished, (long long)t_up);

	/* telemetry is written again */
	int64_t end = util_now_ms() + RECOVER_MS;
	long long at = -1;
	while ((at = db_num(&Q_LIVE_AT, f.printer[0])) < t_up && util_now_ms() < end)
		sleep_ms(250);
	CHECK(at >= t_up, NULL, "printer_live_status written again after the restart");
	fprintf(stderr, "\n[faults]   telemetry written again %lld ms after the restart",
		(long long)(util_now_ms() - t_up));
	/* commands round-trip */
	FX(fault(&f, "clear all"));
	long rt = until_ok(key, jpath(f.job[0], "/resume"), NULL, RECOVER_MS);
	fprintf(stderr, "\n[faults]   resume round-trips %ld ms after the restart",
		rt < 0 ? -1L : (long)(util_now_ms() - t_up));
	CHECK(open_cmds_drain(hub, DEADLINE_MS) >= 0, NULL, "nothing left pending");
	farm_wait(&f, 0, "printing", DEADLINE_MS);
	farm_free(&f);
	stack_healthy();
}

/* After every test, also one that stopped at a failed step: the rigs' simulators are stopped,
 * a worker left stopped (SIGSTOP) continues, and whatever service is down is started again, so
 * the next test and suite find a whole stack. */
static void faults_teardown(void)
{
	rig_sweep();
	pid_t worker = fx_service_pid("apf-worker-1");
	if (fx_alive(worker))
		kill(worker, SIGCONT);
	if (stack_sh("status") != 0)
		stack_sh("start");
}

int suite_faults(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("hub link faults", NULL, NULL, NULL,
							    faults_teardown);
	if (!s)
		return -1;
	ADD_TEST(s, test_heartbeats_stop);
	ADD_TEST(s, test_worker_killed_after_publish);
	ADD_TEST(s, test_worker_killed_before_publish);
	ADD_TEST(s, test_broker_restart);
	ADD_TEST(s, test_database_restart);
	return 0;
}
