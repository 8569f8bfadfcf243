#include "hubcmd.h"

#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct db_query Q_INSERT = {
	"INSERT INTO hub_commands (command_id, account_id, hub_id, printer_id, job_id, action,"
	" params, expect_ack, status, revert, timeout_ms, expires_at, request_id)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, NOW(3) + INTERVAL ? MICROSECOND, ?)"
};
static const struct db_query Q_STATUS = {
	"SELECT status, IFNULL(ack_code, ''), IFNULL(ack_message, '') FROM hub_commands"
	" WHERE command_id = ?"
};
static const struct db_query Q_LOCK = {
	"SELECT status, revert, expires_at < NOW(3) FROM hub_commands WHERE command_id = ? FOR UPDATE"
};
static const struct db_query Q_FINISH = {
	"UPDATE hub_commands SET status = ?, ack_ok = ?, ack_code = ?, ack_message = ?,"
	" ack_result = ?, hub_received_at = ?, hub_acked_at = ?, finished_at = NOW(3),"
	" revert_applied = ? WHERE command_id = ?"
};
static const struct db_query Q_SENT = {
	"UPDATE hub_commands SET status = 'sent', sent_at = NOW(3), worker_id = ?"
	" WHERE command_id = ? AND status = 'pending'"
};
static const struct db_query Q_REVERT_JOB = {
	"UPDATE print_jobs SET status = ?, time_started = IF(?, NULL, time_started),"
	" time_completed = IF(?, NULL, time_completed), updated_at = NOW(3)"
	" WHERE id = ? AND status = ?"
};
static const struct db_query Q_REVERT_PRINTER = {
	"UPDATE printers SET status = ?, updated_at = NOW(3) WHERE id = ? AND status = ?"
};
static const struct db_query Q_REVERT_CLEARED = {
	"UPDATE printers SET cleared = ?, updated_at = NOW(3) WHERE id = ? AND cleared = ?"
};

static const struct {
	const char *action;
	unsigned ms;
} timeouts[] = {
	{ "print.start", 15000 },
	{ "filament.load", 20000 },
	{ "filament.unload", 20000 },
	{ "hub.discover", 5000 },
	{ "hub.config", 5000 },
	{ "hub.disconnect", 5000 },
};

unsigned hubcmd_default_timeout_ms(const char *action)
{
	for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++)
		if (strcmp(timeouts[i].action, action) == 0)
			return timeouts[i].ms;
	return 10000;
}

static json_t *revert_json(const struct hubcmd_revert *rv)
{
	json_t *o = json_object();
	if (rv->job_id && rv->job_from && rv->job_to) {
		json_object_set_new(o, "job_id", json_string(rv->job_id));
		json_object_set_new(o, "job_from", json_string(rv->job_from));
		json_object_set_new(o, "job_to", json_string(rv->job_to));
		json_object_set_new(o, "job_clear_started", json_boolean(rv->job_clear_started));
		json_object_set_new(o, "job_clear_completed", json_boolean(rv->job_clear_completed));
	}
	if (rv->printer_id && rv->printer_from && rv->printer_to) {
		json_object_set_new(o, "printer_id", json_string(rv->printer_id));
		json_object_set_new(o, "printer_from", json_string(rv->printer_from));
		json_object_set_new(o, "printer_to", json_string(rv->printer_to));
	}
	if (rv->printer_id && rv->printer_cleared_from >= 0) {
		json_object_set_new(o, "printer_id", json_string(rv->printer_id));
		json_object_set_new(o, "cleared_from", json_integer(rv->printer_cleared_from));
		json_object_set_new(o, "cleared_to", json_integer(rv->printer_cleared_to));
	}
	return o;
}

enum api_err hubcmd_insert(struct db *db, struct hubcmd *c)
{
	if (util_uuid(c->command_id) < 0)
		return E_INTERNAL_ERROR;
	unsigned ms = c->timeout_ms ? c->timeout_ms : hubcmd_default_timeout_ms(c->action);
	c->timeout_ms = ms;
	json_t *rv = revert_json(&c->revert);
	char *rvtext = json_object_size(rv) ? json_dumps(rv, JSON_COMPACT) : NULL;
	char *ptext = c->params ? json_dumps(c->params, JSON_COMPACT) : strdup("{}");
	json_decref(rv);
	enum api_err err = E_INTERNAL_ERROR;
	if (ptext)
		err = db_exec(db, &Q_INSERT,
			      DB_ARGS(DS(c->command_id), DS(c->account_id), DS(c->hub_id),
				      DS(c->printer_id), DS(c->job_id), DS(c->action), DS(ptext),
				      DI(c->expect_ack ? 1 : 0), DS(rvtext), DI(ms),
				      DI((long long)ms * 1000), DS(c->request_id)),
			      NULL);
	free(rvtext);
	free(ptext);
	return err;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000L };
	nanosleep(&ts, NULL);
}

static int final_status(const char *s, enum hubcmd_outcome *out, const char *code)
{
	if (strcmp(s, "acked") == 0)
		*out = HC_ACKED;
	else if (strcmp(s, "failed") == 0)
		*out = strcmp(code, "HUB_OFFLINE") == 0 ? HC_HUB_OFFLINE : HC_FAILED;
	else if (strcmp(s, "timeout") == 0 || strcmp(s, "expired") == 0)
		*out = HC_TIMEOUT;
	else
		return 0;
	return 1;
}

enum api_err hubcmd_wait(struct db *db, const char *command_id, unsigned timeout_ms,
			 enum hubcmd_outcome *out, char *code, size_t codesz, char *message,
			 size_t msgsz)
{
	int64_t deadline = util_now_ms() + timeout_ms + 2000;
	unsigned pause_us = 250; /* 0.25, 0.5, 1, 2 ... 100 ms: an ACK takes ~1-2 ms */
	*out = HC_TIMEOUT;
	for (;;) {
		struct db_res res;
		enum api_err err = db_exec(db, &Q_STATUS, DB_ARGS(DS(command_id)), &res);
		if (err)
			return err;
		if (res.nrows == 1 && final_status(db_get(&res, 0, 0), out, db_get(&res, 0, 1))) {
			if (code)
				snprintf(code, codesz, "%s", db_get(&res, 0, 1));
			if (message)
				snprintf(message, msgsz, "%s", db_get(&res, 0, 2));
			db_res_free(&res);
			return E_OK;
		}
		db_res_free(&res);
		int64_t now = util_now_ms();
		if (now >= deadline)
			return E_OK; /* HC_TIMEOUT: the worker's expiry pass records and reverts it */
		if (now + pause_us / 1000 > deadline)
			pause_us = (unsigned)(deadline - now) * 1000;
		sleep_us(pause_us);
		if (pause_us < 100000)
			pause_us *= 2;
	}
}

enum api_err hubcmd_outcome_err(enum hubcmd_outcome o)
{
	switch (o) {
	case HC_ACKED:
		return E_OK;
	case HC_FAILED:
		return E_HUB_COMMAND_FAILED;
	case HC_HUB_OFFLINE:
		return E_HUB_OFFLINE;
	case HC_TIMEOUT:
		break;
	}
	return E_HUB_TIMEOUT;
}

/* Compare-and-set restore of the optimistic transition; returns 1 when anything was restored. */
static enum api_err apply_revert(struct db *db, const json_t *rv, int *applied)
{
	enum api_err err = E_OK;
	*applied = 0;
	const char *job = json_string_value(json_object_get(rv, "job_id"));
	const char *printer = json_string_value(json_object_get(rv, "printer_id"));
	if (job) {
		err = db_exec(db, &Q_REVERT_JOB,
			      DB_ARGS(DS(json_string_value(json_object_get(rv, "job_to"))),
				      DI(json_is_true(json_object_get(rv, "job_clear_started"))),
				      DI(json_is_true(json_object_get(rv, "job_clear_completed"))),
				      DS(job), DS(json_string_value(json_object_get(rv, "job_from")))),
			      NULL);
		*applied |= db_affected(db) > 0;
	}
	if (!err && printer && json_object_get(rv, "printer_from")) {
		err = db_exec(db, &Q_REVERT_PRINTER,
			      DB_ARGS(DS(json_string_value(json_object_get(rv, "printer_to"))),
				      DS(printer),
				      DS(json_string_value(json_object_get(rv, "printer_from")))),
			      NULL);
		*applied |= db_affected(db) > 0;
	}
	if (!err && printer && json_object_get(rv, "cleared_from")) {
		err = db_exec(db, &Q_REVERT_CLEARED,
			      DB_ARGS(DI(json_integer_value(json_object_get(rv, "cleared_to"))),
				      DS(printer),
				      DI(json_integer_value(json_object_get(rv, "cleared_from")))),
			      NULL);
		*applied |= db_affected(db) > 0;
	}
	return err;
}

enum api_err hubcmd_finish(struct db *db, const char *command_id, const char *status,
			   const char *code, const char *message, const json_t *result,
			   long long hub_received_at, long long hub_acked_at, int *changed)
{
	struct db_res res;
	*changed = 0;
	enum api_err err = db_begin(db);
	if (err)
		return err;
	err = db_exec(db, &Q_LOCK, DB_ARGS(DS(command_id)), &res);
	if (err)
		goto fail;
	const char *cur = db_get(&res, 0, 0);
	if (res.nrows != 1 || !cur || (strcmp(cur, "pending") != 0 && strcmp(cur, "sent") != 0)) {
		db_res_free(&res);
		db_rollback(db);
		return E_OK; /* unknown, or already final: duplicate / late ACK */
	}
	int acked = strcmp(status, "acked") == 0, applied = 0;
	if (acked && db_get_int(&res, 0, 2, 0)) {
		/* an ACK after the command expired (its worker was away): the API has answered
		 * 504 and promised a revert, so it counts as a timeout (hub-protocol §5.4); the
		 * printer's next status report reconciles what it really did */
		log_warn("command %s: ACK after expiry recorded as timeout", command_id);
		status = "timeout";
		acked = 0;
	}
	json_t *rv = db_get(&res, 0, 1) ? json_loads(db_get(&res, 0, 1), 0, NULL) : NULL;
	db_res_free(&res);
	if (!acked && rv)
		err = apply_revert(db, rv, &applied);
	json_decref(rv);
	if (err)
		goto fail;
	char *rtext = result ? json_dumps(result, JSON_COMPACT) : NULL;
	err = db_exec(db, &Q_FINISH,
		      DB_ARGS(DS(status), DI(acked), DS(code), DS(message), DS(rtext),
			      hub_received_at ? DI(hub_received_at) : DNULL,
			      hub_acked_at ? DI(hub_acked_at) : DNULL,
			      acked ? DNULL : DI(applied), DS(command_id)),
		      NULL);
	free(rtext);
	if (err)
		goto fail;
	err = db_commit(db);
	if (!err)
		*changed = 1;
	return err;
fail:
	db_rollback(db);
	return err;
}

enum api_err hubcmd_mark_sent(struct db *db, const char *command_id, const char *worker_id,
			      int *changed)
{
	enum api_err err = db_exec(db, &Q_SENT, DB_ARGS(DS(worker_id), DS(command_id)), NULL);
	*changed = !err && db_affected(db) > 0;
	return err;
}
