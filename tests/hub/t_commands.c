/* t_commands.c - hub commands end to end (docs/hub-link.md, common/hubcmd.h): a row inserted
 * with hubcmd_insert + queue_wake reaches the fake hub as the §5.1 envelope within a second; ACK,
 * refusal (with revert), timeout (with revert), late and duplicate ACKs, the hub lost while
 * waiting, an offline or stale hub, fire-and-forget, `apf-admin hub scan`, secrets added at
 * publish time, ACKs from the wrong hub, the datagram that ends an API process's wait, and
 * events of a command that a later command of the same job overtook. */
#include "th.h"

#include "cfg.h"
#include "hubcmd.h"
#include "queue.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const struct db_query Q_C_ROW = {
	"SELECT CONCAT_WS('|', status, IFNULL(ack_code, '-'), IFNULL(revert_applied, '-'))"
	" FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_C_SENT = {
	"SELECT CONCAT_WS('|', status, worker_id IS NOT NULL, sent_at IS NOT NULL)"
	" FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_C_ACKED = {
	"SELECT CONCAT_WS('|', status, ack_ok, ack_code, IFNULL(ack_message, '-'),"
	" hub_received_at IS NOT NULL, hub_acked_at IS NOT NULL, IFNULL(revert_applied, '-'))"
	" FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_C_JOB = {
	"SELECT status FROM print_jobs WHERE id = ?"
};
static const struct db_query Q_C_PRINTER = {
	"SELECT status FROM printers WHERE id = ?"
};
static const struct db_query Q_C_SET_JOB = {
	"UPDATE print_jobs SET status = ? WHERE id = ?"
};
static const struct db_query Q_C_SET_PRINTER = {
	"UPDATE printers SET status = ? WHERE id = ?"
};
static const struct db_query Q_C_STALE = {
	"UPDATE hubs SET last_seen_at = NOW(3) - INTERVAL 5 MINUTE WHERE id = ?"
};
static const struct db_query Q_C_HUB_ONLINE = {
	"SELECT is_online FROM hubs WHERE id = ?"
};
static const struct db_query Q_C_WAITER = {
	"SELECT IFNULL(waiter, 'NULL') FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_C_SET_WAITER = {
	"UPDATE hub_commands SET waiter = ? WHERE command_id = ?"
};
static const struct db_query Q_C_TAMPER = {
	"UPDATE hub_commands SET status = 'failed', ack_code = 'TAMPERED' WHERE command_id = ?"
};
static const struct db_query Q_C_LIVE_SEQ = {
	"SELECT seq FROM printer_live_status WHERE printer_id = ?"
};
static const struct db_query Q_C_PARAMS = {
	"SELECT params FROM hub_commands WHERE command_id = ?"
};

/* The optimistic pause a pause endpoint would apply: job and printer printing → paused. */
static void optimistic_pause(const char *job, const char *printer, struct hubcmd_revert *rv)
{
	th_exec(&Q_C_SET_JOB, DB_ARGS(DS("paused"), DS(job)));
	th_exec(&Q_C_SET_PRINTER, DB_ARGS(DS("paused"), DS(printer)));
	*rv = (struct hubcmd_revert){ .job_id = job, .job_from = "paused", .job_to = "printing",
				      .printer_id = printer, .printer_from = "paused",
				      .printer_to = "printing", .printer_cleared_from = -1,
				      .printer_cleared_to = -1 };
}

/* Inserts a row as the API does (commit, then wake). */
static void command(const struct thub *h, const char *printer, const char *job, const char *action,
		    const json_t *params, int expect_ack, unsigned timeout_ms,
		    const struct hubcmd_revert *rv, char id[37])
{
	struct hubcmd c = {
		.account_id = th_account(),
		.hub_id = h->id,
		.printer_id = printer,
		.job_id = job,
		.action = action,
		.params = params,
		.expect_ack = expect_ack,
		.timeout_ms = timeout_ms,
		.request_id = "test-hub",
		.revert = { .printer_cleared_from = -1, .printer_cleared_to = -1 },
	};
	if (rv)
		c.revert = *rv;
	CU_ASSERT_EQUAL(hubcmd_insert(tdb, &c), E_OK);
	memcpy(id, c.command_id, 37);
	queue_wake();
}

static void setup(struct thub *h, char p[37], char j[37])
{
	CU_ASSERT_FATAL(th_hub_up(h) == 0);
	th_printer(h, "printing", NULL, p);
	th_job(p, "printing", j);
	th_inbox_clear(h);
}

/* A printing job on a live hub, paused optimistically, the pause published: the command as the
 * hub got it (the test stops when it does not arrive). */
static json_t *pause_sent(struct thub *h, char p[37], char j[37], struct hubcmd_revert *rv,
			  unsigned timeout_ms, char id[37])
{
	setup(h, p, j);
	optimistic_pause(j, p, rv);
	command(h, p, j, "print.pause", NULL, 1, timeout_ms, rv, id);
	json_t *cmd = th_wait_cmd(h, NULL, id, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	return cmd;
}

static void test_round_trip(void)
{
	struct thub h;
	char p[37], j[37], id[37], v[256];
	setup(&h, p, j);
	json_t *params = json_pack("{s:s}", "job_id", j);
	int64_t t0 = th_now_ms();
	command(&h, p, j, "print.pause", params, 1, 0, NULL, id);
	json_t *cmd = th_wait_cmd(&h, NULL, id, 3000);
	int64_t ms = th_now_ms() - t0;
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	CU_ASSERT(ms < 1000);
	if (ms >= 1000)
		fprintf(stderr, "\n  command arrived after %lld ms\n", (long long)ms);
	/* the §5.1 envelope */
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(cmd, "v")), 1);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(cmd, "type")), "command");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(cmd, "hub_id")), h.id);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(cmd, "action")), "print.pause");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(cmd, "printer_id")), p);
	json_int_t issued = json_integer_value(json_object_get(cmd, "issued_at"));
	json_int_t expires = json_integer_value(json_object_get(cmd, "expires_at"));
	CU_ASSERT(llabs((long long)issued - (long long)util_now_ms()) < 60000);
	CU_ASSERT_EQUAL(expires - issued, 10000);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(cmd, "ttl_ms")), 10000);
	CU_ASSERT(json_is_true(json_object_get(cmd, "expect_ack")));
	CU_ASSERT(json_equal(json_object_get(cmd, "params"), params));
	CU_ASSERT(th_get(&Q_C_SENT, DB_ARGS(DS(id)), v, sizeof v) == 1 &&
		  strcmp(v, "sent|1|1") == 0);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	CU_ASSERT(th_wait_eq(&Q_C_ACKED, DB_ARGS(DS(id)), "acked|1|OK|-|1|1|-", 5000) >= 0);
	json_decref(cmd);
	json_decref(params);
	th_hub_close(&h);
}

static void test_refused_reverts(void)
{
	struct thub h;
	char p[37], j[37], id[37], v[64];
	struct hubcmd_revert rv;
	json_t *cmd = pause_sent(&h, p, j, &rv, 0, id);
	CU_ASSERT(th_ack(&h, cmd, false, "PRINTER_REJECTED", "printer said no") == 0);
	CU_ASSERT(th_wait_eq(&Q_C_ACKED, DB_ARGS(DS(id)),
			     "failed|0|PRINTER_REJECTED|printer said no|1|1|1", 5000) >= 0);
	CU_ASSERT(th_get(&Q_C_JOB, DB_ARGS(DS(j)), v, sizeof v) == 1 && strcmp(v, "printing") == 0);
	CU_ASSERT(th_get(&Q_C_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "printing") == 0);
	json_decref(cmd);

	/* EXPIRED from the hub → expired, reverted too */
	optimistic_pause(j, p, &rv);
	command(&h, p, j, "print.pause", NULL, 1, 0, &rv, id);
	cmd = th_wait_cmd(&h, NULL, id, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	CU_ASSERT(th_ack(&h, cmd, false, "EXPIRED", NULL) == 0);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "expired|EXPIRED|1", 5000) >= 0);
	CU_ASSERT(th_get(&Q_C_JOB, DB_ARGS(DS(j)), v, sizeof v) == 1 && strcmp(v, "printing") == 0);
	json_decref(cmd);
	th_hub_close(&h);
}

static void test_timeout_then_late_ack(void)
{
	struct thub h;
	char p[37], j[37], id[37], v[64], needle[96];
	struct hubcmd_revert rv;
	json_t *cmd = pause_sent(&h, p, j, &rv, 1500, id);
	/* no ACK: timeout after 1.5 s (generous deadline), state restored */
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "timeout|-|1", 6000) >= 0);
	CU_ASSERT(th_get(&Q_C_JOB, DB_ARGS(DS(j)), v, sizeof v) == 1 && strcmp(v, "printing") == 0);
	CU_ASSERT(th_get(&Q_C_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "printing") == 0);
	/* the late ACK changes nothing, and is logged */
	snprintf(needle, sizeof needle, "ACK for command %s", id);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	CU_ASSERT(th_wait_worker_log(needle, 5000) >= 1);
	CU_ASSERT(th_get(&Q_C_ROW, DB_ARGS(DS(id)), v, sizeof v) == 1 &&
		  strcmp(v, "timeout|-|1") == 0);
	CU_ASSERT(th_get(&Q_C_JOB, DB_ARGS(DS(j)), v, sizeof v) == 1 && strcmp(v, "printing") == 0);
	json_decref(cmd);
	th_hub_close(&h);
}

static void test_duplicate_ack(void)
{
	struct thub h;
	char p[37], j[37], id[37], v[128], needle[96];
	setup(&h, p, j);
	json_t *params = json_pack("{s:s,s:f}", "heater", "nozzle", "target_c", 210.0);
	command(&h, p, NULL, "temperature.set", params, 1, 0, NULL, id);
	json_decref(params);
	json_t *cmd = th_wait_cmd(&h, "temperature.set", id, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "acked|OK|-", 5000) >= 0);
	snprintf(needle, sizeof needle, "duplicate ACK for command %s", id);
	CU_ASSERT(th_ack(&h, cmd, false, "PRINTER_BUSY", NULL) == 0); /* a second, different ACK */
	CU_ASSERT(th_wait_worker_log(needle, 5000) >= 1);
	CU_ASSERT(th_get(&Q_C_ACKED, DB_ARGS(DS(id)), v, sizeof v) == 1 &&
		  strcmp(v, "acked|1|OK|-|1|1|-") == 0);
	json_decref(cmd);
	th_hub_close(&h);
}

static void test_hub_lost_while_waiting(void)
{
	struct thub h;
	char p[37], j[37], id[37], v[64];
	struct hubcmd_revert rv;
	json_t *cmd = pause_sent(&h, p, j, &rv, 20000, id);
	json_decref(cmd);
	th_hub_kill(&h); /* connection lost: the broker publishes the will */
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "failed|HUB_OFFLINE|1", 10000) >= 0);
	CU_ASSERT(th_get(&Q_C_JOB, DB_ARGS(DS(j)), v, sizeof v) == 1 && strcmp(v, "printing") == 0);
	/* the revert ran before the printers went offline */
	CU_ASSERT(th_wait_eq(&Q_C_PRINTER, DB_ARGS(DS(p)), "offline", 5000) >= 0);
}

/* The hub's broker died (no will), the hub comes back with a new session: the command it was
 * sent and never answered is published again with its id, and its ACK then ends the row. A
 * command already past its expiry is not. */
static void test_resend_on_new_session(void)
{
	struct thub h;
	char p[37], j[37], id[37], old[37], v[64];
	struct hubcmd_revert rv;
	json_t *cmd = pause_sent(&h, p, j, &rv, 15000, id);
	json_decref(cmd);
	command(&h, p, NULL, "bed.clear", NULL, 1, 1000, NULL, old);
	json_decref(th_wait_cmd(&h, "bed.clear", old, 3000));
	th_sleep_ms(1100); /* `old` is past its expiry, not yet swept (or swept: timeout) */
	/* gone without a will: a clean DISCONNECT drops it */
	th_hub_drop(&h);
	CU_ASSERT(th_get(&Q_C_ROW, DB_ARGS(DS(id)), v, sizeof v) == 1 &&
		  strncmp(v, "sent|", 5) == 0);
	CU_ASSERT_FATAL(th_hub_connect(&h, true) == 0); /* new session, online presence */
	cmd = th_wait_cmd(&h, "print.pause", id, 5000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	json_t *again = th_wait_cmd(&h, "bed.clear", old, 500);
	CU_ASSERT_PTR_NULL(again);
	json_decref(again);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	json_decref(cmd);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "acked|OK|-", 3000) >= 0);
	CU_ASSERT(th_wait_eq(&Q_C_JOB, DB_ARGS(DS(j)), "paused", 1000) >= 0);
	CU_ASSERT(th_wait_worker_log("unanswered command(s) of its last session published again",
				     2000) >= 1);
	th_hub_close(&h);
}

static void test_offline_or_stale_hub(void)
{
	struct thub h;
	char p[37], j[37], id[37];
	struct hubcmd_revert rv;
	setup(&h, p, j);
	/* stale: presence says online, no heartbeat for 5 minutes */
	th_exec(&Q_C_STALE, DB_ARGS(DS(h.id)));
	optimistic_pause(j, p, &rv);
	command(&h, p, j, "print.pause", NULL, 1, 0, &rv, id);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "failed|HUB_OFFLINE|1", 3000) >= 0);
	CU_ASSERT(th_wait_eq(&Q_C_JOB, DB_ARGS(DS(j)), "printing", 1000) >= 0);
	json_t *cmd = th_wait_cmd(&h, "print.pause", NULL, 300);
	CU_ASSERT_PTR_NULL(cmd); /* never published */
	json_decref(cmd);
	th_hub_close(&h);
	/* offline: the same (no revert to apply) */
	CU_ASSERT(th_wait_eq(&Q_C_HUB_ONLINE, DB_ARGS(DS(h.id)), "0", 5000) >= 0);
	command(&h, p, NULL, "bed.clear", NULL, 1, 0, NULL, id);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "failed|HUB_OFFLINE|0", 3000) >= 0);
}

static void test_fire_and_forget(void)
{
	struct thub h;
	char p[37], j[37], id[37], needle[96];
	setup(&h, p, j);
	json_t *params = json_pack("{s:b}", "on", 1);
	command(&h, p, NULL, "light.set", params, 0, 0, NULL, id);
	json_decref(params);
	json_t *cmd = th_wait_cmd(&h, "light.set", id, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	CU_ASSERT(json_is_false(json_object_get(cmd, "expect_ack")));
	/* finished when published, before any ACK */
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "acked|-|-", 3000) >= 0);
	snprintf(needle, sizeof needle, "fire-and-forget ACK for command %s", id);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	CU_ASSERT(th_wait_worker_log(needle, 5000) >= 1);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "acked|-|-", 100) >= 0);
	json_decref(cmd);
	th_hub_close(&h);
}

static void test_admin_scan(void)
{
	struct thub h;
	if (th_hub_up(&h) < 0)
		return;
	th_inbox_clear(&h);
	const char *args[] = { "hub", "scan", h.id, NULL };
	json_t *out = NULL;
	CU_ASSERT_EQUAL(th_admin(args, &out), 0);
	json_decref(out);
	json_t *cmd = th_wait_cmd(&h, "hub.discover", NULL, 5000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	CU_ASSERT(json_is_null(json_object_get(cmd, "printer_id")));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(cmd, "params"),
							   "timeout_s")), 10);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(cmd, "ttl_ms")), 5000);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	const char *cid = json_string_value(json_object_get(cmd, "command_id"));
	CU_ASSERT(cid && th_wait_eq(&Q_C_ROW, DB_ARGS(DS(cid)), "acked|OK|-", 5000) >= 0);
	json_decref(cmd);
	th_hub_close(&h);
}

/* printer.configure: the stored printer with its secrets is added at publish time. */
static void test_configure_secrets(void)
{
	struct thub h;
	char p[37], id[37], secret[40], v[2048];
	if (th_hub_up(&h) < 0)
		return;
	snprintf(secret, sizeof secret, "CFG-%ld", (long)(th_now_ms() % 100000000));
	th_printer(&h, "idle", secret, p);
	th_inbox_clear(&h);
	json_t *params = json_pack("{s:s,s:{s:s,s:{s:b}}}", "op", "add", "printer", "printer_id", p,
				   "options", "require_bed_clear", 1);
	command(&h, p, NULL, "printer.configure", params, 1, 0, NULL, id);
	json_decref(params);
	json_t *cmd = th_wait_cmd(&h, "printer.configure", id, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	json_t *pr = json_object_get(json_object_get(cmd, "params"), "printer");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(cmd, "params"),
								 "op")), "add");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(pr, "access_code")), secret);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(pr, "serial_number")),
			       "01P00A000000001");
	CU_ASSERT(json_is_true(json_object_get(json_object_get(pr, "options"),
					       "require_bed_clear")));
	CU_ASSERT(th_get(&Q_C_PARAMS, DB_ARGS(DS(id)), v, sizeof v) == 1 &&
		  strstr(v, secret) == NULL);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "acked|OK|-", 5000) >= 0);
	CU_ASSERT_EQUAL(th_worker_log_count(secret), 0);
	json_decref(cmd);
	th_hub_close(&h);
}

/* Hub B cannot answer hub A's command (the row's hub must be the ACK's topic hub). */
static void test_ack_from_other_hub(void)
{
	struct thub a, b;
	char p[37], j[37], id[37], needle[128];
	setup(&a, p, j);
	CU_ASSERT_FATAL(th_hub_up(&b) == 0);
	command(&a, p, j, "print.resume", NULL, 1, 0, NULL, id);
	json_t *cmd = th_wait_cmd(&a, NULL, id, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	snprintf(needle, sizeof needle, "ACK from hub %s for command %s of another hub", b.id, id);
	CU_ASSERT(th_ack(&b, cmd, false, "INTERNAL", "spoofed") == 0);
	CU_ASSERT(th_wait_worker_log(needle, 5000) >= 1);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "sent|-|-", 100) >= 0);
	CU_ASSERT(th_ack(&a, cmd, true, NULL, NULL) == 0);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "acked|OK|-", 5000) >= 0);
	json_decref(cmd);
	th_hub_close(&a);
	th_hub_close(&b);
}

/* The waiting API process's side (common/hubcmd.c): its waiter path is stored in the rows it
 * inserts; the datagram only wakes hubcmd_wait, which answers from the row (proved by tampering
 * with the row after the `acked` datagram: the wait reports the row's outcome); another outcome
 * makes it read the row for the hub's code. */
static void test_waiter_socket(void)
{
	struct thub h;
	char p[37], j[37], id[37], path[108], v[128], code[64], message[128];
	enum hubcmd_outcome o;
	setup(&h, p, j);
	CU_ASSERT_FATAL(hubcmd_waiter_open() == 0);
	CU_ASSERT_FATAL(hubcmd_waiter_path((long)getpid(), path, sizeof path) == 0);
	CU_ASSERT(access(path, F_OK) == 0);

	json_t *params = json_pack("{s:s,s:f}", "heater", "bed", "target_c", 60.0);
	command(&h, p, NULL, "temperature.set", params, 1, 0, NULL, id);
	CU_ASSERT(th_get(&Q_C_WAITER, DB_ARGS(DS(id)), v, sizeof v) == 1 && strcmp(v, path) == 0);
	json_t *cmd = th_wait_cmd(&h, "temperature.set", id, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	json_decref(cmd);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "acked|OK|-", 5000) >= 0);
	th_exec(&Q_C_TAMPER, DB_ARGS(DS(id)));
	CU_ASSERT_EQUAL(hubcmd_wait(tdb, id, 3000, &o, code, sizeof code, message, sizeof message),
			E_OK);
	CU_ASSERT_EQUAL(o, HC_FAILED); /* from the row, not from the `acked` datagram */
	CU_ASSERT_STRING_EQUAL(code, "TAMPERED");

	command(&h, p, NULL, "temperature.set", params, 1, 0, NULL, id);
	cmd = th_wait_cmd(&h, "temperature.set", id, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	CU_ASSERT(th_ack(&h, cmd, false, "PRINTER_BUSY", "heating") == 0);
	json_decref(cmd);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "failed|PRINTER_BUSY|0", 5000) >= 0);
	CU_ASSERT_EQUAL(hubcmd_wait(tdb, id, 3000, &o, code, sizeof code, message, sizeof message),
			E_OK);
	CU_ASSERT_EQUAL(o, HC_FAILED);
	CU_ASSERT_STRING_EQUAL(code, "PRINTER_BUSY");
	CU_ASSERT_STRING_EQUAL(message, "heating");
	json_decref(params);

	hubcmd_waiter_close();
	CU_ASSERT(access(path, F_OK) != 0);
	command(&h, p, NULL, "bed.clear", NULL, 1, 0, NULL, id); /* no waiter: nothing stored */
	CU_ASSERT(th_get(&Q_C_WAITER, DB_ARGS(DS(id)), v, sizeof v) == 1 &&
		  strcmp(v, "NULL") == 0);
	cmd = th_wait_cmd(&h, "bed.clear", id, 3000);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	json_decref(cmd);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "acked|OK|-", 5000) >= 0);
	th_hub_close(&h);
}

/* Waits (pumping the fake hubs) for one datagram on fd; 1 with it in buf. */
static int recv_datagram(int fd, char *buf, size_t size, long timeout_ms)
{
	int64_t end = th_now_ms() + timeout_ms;
	while (th_now_ms() < end) {
		ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);
		if (n >= 0) {
			buf[n] = '\0';
			return 1;
		}
		th_pump(10);
	}
	return 0;
}

/* The worker's side: every final outcome recorded by hubcmd_finish (refusal, timeout) sends
 * "<command id> <status>" to the row's waiter, whoever set it. */
static void test_worker_notifies_waiter(void)
{
	struct thub h;
	char p[37], j[37], id[37], path[108], want[80], got[80];
	struct hubcmd_revert rv;
	setup(&h, p, j);
	snprintf(path, sizeof path, "/tmp/apf-test-hub-%ld.wait", (long)getpid());
	unlink(path);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);

	optimistic_pause(j, p, &rv);
	command(&h, p, j, "print.pause", NULL, 1, 0, &rv, id);
	json_t *cmd = th_wait_cmd(&h, NULL, id, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	th_exec(&Q_C_SET_WAITER, DB_ARGS(DS(path), DS(id)));
	CU_ASSERT(th_ack(&h, cmd, false, "INVALID_STATE", NULL) == 0);
	json_decref(cmd);
	snprintf(want, sizeof want, "%s failed", id);
	CU_ASSERT(recv_datagram(fd, got, sizeof got, 5000) && strcmp(got, want) == 0);
	CU_ASSERT(th_get(&Q_C_JOB, DB_ARGS(DS(j)), got, sizeof got) == 1 &&
		  strcmp(got, "printing") == 0);

	command(&h, p, NULL, "bed.clear", NULL, 1, 1000, NULL, id);
	th_exec(&Q_C_SET_WAITER, DB_ARGS(DS(path), DS(id)));
	cmd = th_wait_cmd(&h, "bed.clear", id, 3000); /* never ACKed: the sweep times it out */
	json_decref(cmd);
	snprintf(want, sizeof want, "%s timeout", id);
	CU_ASSERT(recv_datagram(fd, got, sizeof got, 8000) && strcmp(got, want) == 0);
	close(fd);
	unlink(path);
	th_hub_close(&h);
}

/* conf waiter_address: the API process also binds UDP on it and records "udp:IP:PORT"; a
 * datagram there is only a wake-up (a forged `acked` for a pending row leaves the wait to time
 * out); the worker sends outcomes of rows whose waiter is udp:... by UDP; addresses parse. */
static void test_waiter_udp(void)
{
	struct thub h;
	char p[37], j[37], id[37], v[128], code[64], message[128], want[80], got[80];
	enum hubcmd_outcome o;
	struct sockaddr_storage ss;
	socklen_t len;
	CU_ASSERT(hubcmd_waiter_parse("udp:127.0.0.1:4000", &ss, &len) == 0 &&
		  ss.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&ss)->sin_port) == 4000);
	CU_ASSERT(hubcmd_waiter_parse("udp:[::1]:65535", &ss, &len) == 0 &&
		  ss.ss_family == AF_INET6);
	CU_ASSERT(hubcmd_waiter_parse("udp:127.0.0.1", &ss, &len) < 0);
	CU_ASSERT(hubcmd_waiter_parse("udp:127.0.0.1:70000", &ss, &len) < 0);
	CU_ASSERT(hubcmd_waiter_parse("udp:host.example:1", &ss, &len) < 0);
	CU_ASSERT(hubcmd_waiter_parse("/run/apf-fcgi-1.wait", &ss, &len) < 0);

	setup(&h, p, j);
	cfg_set("waiter_address", "127.0.0.1");
	CU_ASSERT_FATAL(hubcmd_waiter_open() == 0);
	const char *mine = hubcmd_waiter();
	CU_ASSERT_FATAL(mine && strncmp(mine, "udp:127.0.0.1:", 14) == 0);
	char addr[64];
	snprintf(addr, sizeof addr, "%s", mine);

	command(&h, p, NULL, "bed.clear", NULL, 1, 0, NULL, id);
	CU_ASSERT(th_get(&Q_C_WAITER, DB_ARGS(DS(id)), v, sizeof v) == 1 && strcmp(v, addr) == 0);
	hubcmd_notify(addr, id, "acked"); /* forged: the row is still pending */
	CU_ASSERT_EQUAL(hubcmd_wait(tdb, id, 100, &o, code, sizeof code, message, sizeof message),
			E_OK);
	CU_ASSERT_EQUAL(o, HC_TIMEOUT);
	json_t *cmd = th_wait_cmd(&h, "bed.clear", id, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	json_decref(cmd);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "acked|OK|-", 5000) >= 0);
	CU_ASSERT_EQUAL(hubcmd_wait(tdb, id, 3000, &o, code, sizeof code, message, sizeof message),
			E_OK);
	CU_ASSERT_EQUAL(o, HC_ACKED);
	hubcmd_waiter_close();
	cfg_set("waiter_address", "");

	/* the worker's side: a row whose waiter is udp:... gets its outcome by UDP */
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof sa;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
			getsockname(fd, (struct sockaddr *)&sa, &salen) == 0);
	snprintf(addr, sizeof addr, "udp:127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
	command(&h, p, NULL, "bed.clear", NULL, 1, 0, NULL, id);
	cmd = th_wait_cmd(&h, "bed.clear", id, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	th_exec(&Q_C_SET_WAITER, DB_ARGS(DS(addr), DS(id)));
	CU_ASSERT(th_ack(&h, cmd, false, "PRINTER_BUSY", NULL) == 0);
	json_decref(cmd);
	snprintf(want, sizeof want, "%s failed", id);
	CU_ASSERT(recv_datagram(fd, got, sizeof got, 5000) && strcmp(got, want) == 0);
	close(fd);
	th_hub_close(&h);
}

static const struct db_query Q_C_LEASE_TOKEN = {
	"SELECT token FROM cluster_leases WHERE name = '" HUBCMD_LEASE "'"
};

/* Fencing (docs/scale-out.md): with a lease token that is not the lease row's, the worker's
 * outcome writes change nothing; with the row's token (or none: 0) they do. */
static void test_fencing(void)
{
	struct thub h;
	char p[37], j[37], id[37], v[64];
	int changed = -1;
	setup(&h, p, j);
	CU_ASSERT_FATAL(th_get(&Q_C_LEASE_TOKEN, NULL, 0, v, sizeof v) == 1);
	long long token = atoll(v);
	CU_ASSERT_FATAL(token > 0); /* the stack's worker holds the link */
	command(&h, p, NULL, "bed.clear", NULL, 1, 60000, NULL, id);
	json_t *cmd = th_wait_cmd(&h, "bed.clear", id, 3000); /* published, never ACKed */
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	json_decref(cmd);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "sent|-|-", 3000) >= 0);
	hubcmd_fence(token + 1000); /* a stale owner's token */
	CU_ASSERT_EQUAL(hubcmd_ack_fast(tdb, id, h.id, "OK", NULL, NULL, 0, 0, NULL, &changed),
			E_OK);
	CU_ASSERT_EQUAL(changed, 0);
	CU_ASSERT_EQUAL(hubcmd_finish(tdb, id, "failed", "STALE", NULL, NULL, 0, 0, &changed),
			E_OK);
	CU_ASSERT_EQUAL(changed, 0);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "sent|-|-", 100) >= 0);
	hubcmd_fence(token);
	CU_ASSERT_EQUAL(hubcmd_finish(tdb, id, "failed", "CURRENT", NULL, NULL, 0, 0, &changed),
			E_OK);
	CU_ASSERT_EQUAL(changed, 1);
	hubcmd_fence(0);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "failed|CURRENT|0", 100) >= 0);
	th_hub_close(&h);
}

static void send_job_event(struct thub *h, const char *event, const char *printer,
			   const char *job, const char *command_id)
{
	char eid[37];
	CU_ASSERT_FATAL(util_uuid(eid) == 0);
	json_t *m = th_msg("event", h->id,
			   json_pack("{s:s,s:s,s:s,s:s,s:s?,s:I,s:{s:s}}", "event_id", eid, "event",
				     event, "printer_id", printer, "job_id", job, "command_id",
				     command_id, "ts", (json_int_t)util_now_ms(), "data", "by",
				     command_id ? "command" : "printer"));
	th_pub(h, h->id, "event", m);
	json_decref(m);
}

/* pause (acked), resume (acked), then the hub's job.paused of the first command arrives: it
 * must not undo the resume. An event of the job's latest command, or one the printer caused
 * (no command_id), still applies. */
static void test_event_of_overtaken_command(void)
{
	struct thub h;
	char p[37], j[37], first[37], second[37], v[64], needle[160];
	struct hubcmd_revert rv;
	setup(&h, p, j);
	optimistic_pause(j, p, &rv);
	command(&h, p, j, "print.pause", NULL, 1, 0, &rv, first);
	json_t *cmd = th_wait_cmd(&h, NULL, first, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	json_decref(cmd);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(first)), "acked|OK|-", 5000) >= 0);
	th_exec(&Q_C_SET_JOB, DB_ARGS(DS("printing"), DS(j))); /* the resume's optimistic step */
	th_exec(&Q_C_SET_PRINTER, DB_ARGS(DS("printing"), DS(p)));
	command(&h, p, j, "print.resume", NULL, 1, 0, NULL, second);
	cmd = th_wait_cmd(&h, NULL, second, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	json_decref(cmd);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(second)), "acked|OK|-", 5000) >= 0);

	send_job_event(&h, "job.paused", p, j, first);
	snprintf(needle, sizeof needle, "job %s): superseded by a later command", j);
	CU_ASSERT(th_wait_worker_log(needle, 5000) == 1);
	CU_ASSERT(th_get(&Q_C_JOB, DB_ARGS(DS(j)), v, sizeof v) == 1 && strcmp(v, "printing") == 0);
	CU_ASSERT(th_get(&Q_C_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "printing") == 0);

	send_job_event(&h, "job.paused", p, j, NULL); /* paused on the printer itself */
	CU_ASSERT(th_wait_eq(&Q_C_JOB, DB_ARGS(DS(j)), "paused", 5000) >= 0);
	send_job_event(&h, "job.resumed", p, j, second); /* the latest command's own event */
	CU_ASSERT(th_wait_eq(&Q_C_JOB, DB_ARGS(DS(j)), "printing", 5000) >= 0);
	CU_ASSERT(th_worker_log_count(needle) == 1);
	th_hub_close(&h);
}

/* apf-admin printer create (the dashboard's "add printer"): the hub gets printer.configure `add`
 * with the stored printer, secrets included, in the same breath. */
static void test_admin_printer_create(void)
{
	struct thub h;
	char name[64], secret[40];
	json_t *out = NULL;
	CU_ASSERT_FATAL(th_hub_up(&h) == 0);
	th_inbox_clear(&h);
	snprintf(name, sizeof name, "admin-added-%lld", (long long)th_now_ms());
	snprintf(secret, sizeof secret, "ADM-%ld", (long)(th_now_ms() % 100000000));
	const char *args[] = { "printer", "create", "--account", th_account(), "--hub", h.id,
			       "--name", name, "--model", "P1S", "--access-code", secret, NULL };
	CU_ASSERT_FATAL(th_admin(args, &out) == 0);
	const char *id = json_string_value(json_object_get(out, "id"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(id);
	json_t *cmd = th_wait_cmd(&h, "printer.configure", NULL, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	json_t *params = json_object_get(cmd, "params");
	json_t *pr = json_object_get(params, "printer");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(params, "op")), "add");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(cmd, "printer_id")), id);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(pr, "printer_id")), id);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(pr, "model")), "P1S");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(pr, "access_code")), secret);
	const char *cid = json_string_value(json_object_get(cmd, "command_id"));
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	CU_ASSERT(cid && th_wait_eq(&Q_C_ROW, DB_ARGS(DS(cid)), "acked|OK|-", 5000) >= 0);
	json_decref(cmd);
	json_decref(out);
	th_hub_close(&h);
}

/* A status report made before the hub ran a command (its ts not after the ACK's received_at, or
 * the command still unanswered) does not undo the command's transition; a later one applies. */
static json_t *report(const struct thub *h, const char *printer, long long seq, long long ts,
		      const char *state)
{
	return th_msg("status", h->id,
		      json_pack("{s:s,s:I,s:I,s:b,s:s}", "printer_id", printer, "seq",
				(json_int_t)seq, "ts", (json_int_t)ts, "connected", 1, "state",
				state));
}

static void test_status_made_before_command(void)
{
	struct thub h;
	char p[37], j[37], id[37], v[64];
	struct hubcmd_revert rv;
	json_t *cmd = pause_sent(&h, p, j, &rv, 0, id);
	/* unanswered: a `printing` report is written to the live status, not to the printer */
	json_t *m = report(&h, p, 1, util_now_ms(), "printing");
	th_pub(&h, h.id, "status", m);
	json_decref(m);
	CU_ASSERT(th_wait_eq(&Q_C_LIVE_SEQ, DB_ARGS(DS(p)), "1", 5000) >= 0);
	CU_ASSERT(th_get_after(400, &Q_C_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "paused") == 0);
	/* the hub made the next report just before it took the command, then ACKed */
	long long made = util_now_ms();
	th_sleep_ms(5);
	CU_ASSERT(th_ack(&h, cmd, true, NULL, NULL) == 0);
	json_decref(cmd);
	CU_ASSERT(th_wait_eq(&Q_C_ROW, DB_ARGS(DS(id)), "acked|OK|-", 5000) >= 0);
	m = report(&h, p, 2, made, "printing");
	th_pub(&h, h.id, "status", m);
	json_decref(m);
	CU_ASSERT(th_wait_eq(&Q_C_LIVE_SEQ, DB_ARGS(DS(p)), "2", 5000) >= 0);
	CU_ASSERT(th_get_after(400, &Q_C_PRINTER, DB_ARGS(DS(p)), v, sizeof v) == 1 &&
		  strcmp(v, "paused") == 0);
	/* made after the hub took it: the printer really prints again (resumed on its screen) */
	th_sleep_ms(5);
	m = report(&h, p, 3, util_now_ms(), "printing");
	th_pub(&h, h.id, "status", m);
	json_decref(m);
	CU_ASSERT(th_wait_eq(&Q_C_PRINTER, DB_ARGS(DS(p)), "printing", 5000) >= 0);
	th_hub_close(&h);
}

int suite_commands_add(void)
{
	CU_pSuite s = CU_add_suite("commands", NULL, NULL);
	if (!s ||
	    !CU_add_test(s, "insert + wake: envelope on the cmd topic within 1 s; ACK → acked",
			 test_round_trip) ||
	    !CU_add_test(s, "refused → failed + revert; EXPIRED → expired", test_refused_reverts) ||
	    !CU_add_test(s, "no ACK → timeout + revert; a late ACK changes nothing",
			 test_timeout_then_late_ack) ||
	    !CU_add_test(s, "duplicate ACK changes nothing", test_duplicate_ack) ||
	    !CU_add_test(s, "hub lost while waiting → failed HUB_OFFLINE + revert",
			 test_hub_lost_while_waiting) ||
	    !CU_add_test(s, "a new session gets its unanswered, unexpired commands again",
			 test_resend_on_new_session) ||
	    !CU_add_test(s, "stale or offline hub → HUB_OFFLINE at once, not published",
			 test_offline_or_stale_hub) ||
	    !CU_add_test(s, "fire-and-forget: acked when published", test_fire_and_forget) ||
	    !CU_add_test(s, "apf-admin hub scan → hub.discover command", test_admin_scan) ||
	    !CU_add_test(s, "printer.configure carries the stored secrets, row and log do not",
			 test_configure_secrets) ||
	    !CU_add_test(s, "an ACK from another hub is dropped", test_ack_from_other_hub) ||
	    !CU_add_test(s, "waiter socket: stored in the row, a datagram wakes, the row answers",
			 test_waiter_socket) ||
	    !CU_add_test(s, "waiter_address: udp:IP:PORT stored; forged datagram changes nothing;"
			 " the worker notifies by UDP", test_waiter_udp) ||
	    !CU_add_test(s, "fencing: a stale lease token's outcome writes change nothing",
			 test_fencing) ||
	    !CU_add_test(s, "the worker sends every final outcome to the row's waiter",
			 test_worker_notifies_waiter) ||
	    !CU_add_test(s, "an event of an overtaken command changes nothing",
			 test_event_of_overtaken_command) ||
	    !CU_add_test(s, "apf-admin printer create → printer.configure add with secrets",
			 test_admin_printer_create) ||
	    !CU_add_test(s, "a status made before the hub took a command keeps its transition",
			 test_status_made_before_command))
		return -1;
	return 0;
}
