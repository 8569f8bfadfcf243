/* printer_cmds.c - the physical printer actions: control (pause,
 * resume, stop, clear bed), chamber light, heater setpoint, filament load / unload.
 *
 * Each action is a row of common/states.c (printer rules): accepted states, the state after, the
 * hub command, whether the API waits for the ACK, and the job action mirrored onto the printer's
 * running job (control pause / resume / stop move that job too, so job and printer never
 * disagree). Awaited commands follow common/hubcmd.h: optimistic change and hub_commands row
 * (with its revert) in one transaction, commit, queue_wake(), wait; the worker reverts.
 *
 * Order of refusals (decisions.md): 404 → 422 → NO_HUB_ASSIGNED → HUB_OFFLINE → INVALID_STATE →
 * the account's / the host's share of waiting children (TOO_MANY_HUB_COMMANDS, SERVER_BUSY:
 * fcgi/admit.c) → the hub's outcome. */
#include "admit.h"
#include "hubcmd.h"
#include "queue.h"
#include "req.h"
#include "sqlfrag.h"
#include "states.h"

#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------- actions */

static const struct db_query Q_PRINTER = {
	"SELECT p.id, p.hub_id, p.hub_id IS NOT NULL AND " HUB_LIVE_SQL("h")
	" FROM printers p LEFT JOIN hubs h ON h.id = p.hub_id WHERE p.account_id = ? AND p.id = ?"
};
static const struct db_query Q_PRINTER_LOCK = {
	"SELECT p.status, p.cleared FROM printers p WHERE p.account_id = ? AND p.id = ? FOR UPDATE"
};
static const struct db_query Q_PRINTER_SET = {
	"UPDATE printers SET status = ?, cleared = IF(?, 1, cleared), updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};
/* The job the printer is executing (mirror target of control pause / resume / stop). */
static const struct db_query Q_RUNNING_JOB = {
	"SELECT j.id, j.status FROM print_jobs j WHERE j.account_id = ? AND j.printer_id = ?"
	" AND FIND_IN_SET(j.status, ?) ORDER BY j.time_started DESC, j.id DESC LIMIT 1 FOR UPDATE"
};
static const struct db_query Q_JOB_MIRROR = {
	"UPDATE print_jobs SET status = ?,"
	" time_completed = IF(?, NOW(3), time_completed), updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ? AND status = ?"
};
static const struct db_query Q_CLEAR_FILAMENT = {
	"UPDATE printers SET current_color = NULL, current_color_hex = NULL,"
	" current_filament_type = NULL, updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};

static const char *const control_actions[] = { "pause", "resume", "stop", "clear_bed", NULL };
static const char *const heaters[] = { "nozzle", "bed", NULL };

static const struct jfield F_CONTROL[] = {
	{ "action", JF_ENUM, JF_REQUIRED, 0, 0, { control_actions } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield F_TEMPERATURE[] = {
	{ "heater", JF_ENUM, JF_REQUIRED, 0, 0, { heaters } },
	{ "temperature", JF_NUMBER, JF_REQUIRED, 0, 300, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield F_LOAD[] = {
	{ "tray_id", JF_INT, 0, 0, 0, { NULL } }, /* 0–15 or 254: checked below */
	{ "temperature", JF_INT, 0, 0, 300, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield F_UNLOAD[] = {
	{ "temperature", JF_INT, 0, 0, 300, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};

#define BED_MAX 120
#define DEFAULT_FILAMENT_TEMP 220
#define EXTERNAL_SPOOL 254

#define COPY(dst, res, row, col) \
	snprintf((dst), sizeof(dst), "%s", db_get((res), (row), (col)) ? db_get((res), (row), (col)) : "")

/* The path's printer, as the actions need it. */
struct printer {
	char id[UUID_LEN + 1];
	char hub_id[UUID_LEN + 1];
	int hub_live;
};

/* What an executed action reports. */
struct done {
	char command_id[UUID_LEN + 1];
	char status[16]; /* printer status after the action */
};

static enum api_err load_printer(struct req *r, struct printer *p)
{
	struct db_res res;
	memset(p, 0, sizeof *p);
	enum api_err err = req_fetch_one(r, &Q_PRINTER,
					 DB_ARGS(DS(r->account_id), DS(req_param(r, "id"))), &res,
					 E_PRINTER_NOT_FOUND);
	if (err)
		return err;
	COPY(p->id, &res, 0, 0);
	COPY(p->hub_id, &res, 0, 1);
	p->hub_live = db_get_int(&res, 0, 2, 0) != 0;
	db_res_free(&res);
	return E_OK;
}

/* 404, then the body against fields (422). */
static enum api_err load_and_check(struct req *r, struct printer *p, const struct jfield *fields)
{
	enum api_err err = load_printer(r, p);
	if (err)
		return err;
	if (fields && r->body && req_check_body(r, fields)) /* no body: every field defaults */
		return E_VALIDATION_ERROR;
	return E_OK;
}

static enum api_err outcome_fail(struct req *r, enum hubcmd_outcome o, const char *action,
				 unsigned timeout_ms, const char *code, const char *message,
				 int reverts)
{
	const char *rv = reverts ? "; the change was reverted" : "";
	enum api_err err = hubcmd_outcome_err(o);
	switch (o) {
	case HC_FAILED:
		return req_fail(r, err, "Hub refused %s: %s%s%s%s", action, code[0] ? code : "FAILED",
				message[0] ? " - " : "", message, rv);
	case HC_HUB_OFFLINE:
		return req_fail(r, err, "Hub went offline before acknowledging %s%s", action, rv);
	case HC_TIMEOUT:
		return req_fail(r, err, "Hub did not acknowledge %s within %u s%s", action,
				timeout_ms / 1000, reverts ? "; the change is reverted" : "");
	case HC_ACKED:
		break;
	}
	return E_OK;
}

/* Runs the printer rule of `action` on p with params (borrowed): hub checks, state check, the
 * optimistic change (printer and mirrored job), the command, and for awaited ones the ACK. */
static enum api_err run_action_once(struct req *r, const struct printer *p, const char *action,
				    const json_t *params, struct done *d)
{
	const struct printer_rule *rule = states_printer_rule(action);
	const struct job_rule *mirror = rule->job_action ? states_job_rule(rule->job_action) : NULL;
	struct db_res res;
	struct hubcmd c;
	char status[16], job_id[UUID_LEN + 1] = "", job_status[16] = "", set[96];
	int cleared, changed_status = 0, changed_bed = 0, changed_job = 0;
	json_t *cmd_params = NULL;

	memset(d, 0, sizeof *d);
	memset(&c, 0, sizeof c);
	if (!p->hub_id[0])
		return req_fail(r, E_NO_HUB_ASSIGNED, "Printer has no hub assigned");
	if (!p->hub_live)
		return req_fail(r, E_HUB_OFFLINE, "The printer's hub is offline");
	enum api_err err = db_begin(r->db);
	if (err)
		return err;
	/* lock order everywhere: the job row, then its printer */
	if (mirror) {
		err = db_exec(r->db, &Q_RUNNING_JOB,
			      DB_ARGS(DS(r->account_id), DS(p->id),
				      DS(states_job_list(mirror->from & JOBS_ON_PRINTER, set, sizeof set))),
			      &res);
		if (err)
			goto fail;
		if (res.nrows == 1) {
			COPY(job_id, &res, 0, 0);
			COPY(job_status, &res, 0, 1);
		}
		db_res_free(&res);
	}
	err = db_exec(r->db, &Q_PRINTER_LOCK, DB_ARGS(DS(r->account_id), DS(p->id)), &res);
	if (err)
		goto fail;
	if (res.nrows != 1) {
		db_res_free(&res);
		err = E_PRINTER_NOT_FOUND;
		goto fail;
	}
	COPY(status, &res, 0, 0);
	cleared = db_get_int(&res, 0, 1, 1) != 0;
	db_res_free(&res);
	if (!states_printer_allows(rule, status)) {
		err = req_fail(r, E_INVALID_STATE, "Cannot %s a printer that is %s (allowed from: %s)",
			       strcmp(action, "clear_bed") == 0 ? "clear the bed of" : action, status,
			       states_printer_list(rule->from, set, sizeof set));
		goto fail;
	}

	const char *after = rule->to == NO_CHANGE ? status : states_printer_names[rule->to];
	changed_status = strcmp(after, status) != 0;
	changed_bed = (rule->stamps & ST_BED_CLEARED) && !cleared;
	if (changed_status || changed_bed) {
		err = db_exec(r->db, &Q_PRINTER_SET, DB_ARGS(DS(after), DI(changed_bed),
							     DS(r->account_id), DS(p->id)), NULL);
		if (err)
			goto fail;
	}
	if (mirror) {
		if (job_id[0]) {
			err = db_exec(r->db, &Q_JOB_MIRROR,
				      DB_ARGS(DS(states_job_names[mirror->to]),
					      DI((mirror->stamps & ST_COMPLETED) != 0), DS(r->account_id),
					      DS(job_id), DS(job_status)),
				      NULL);
			if (err)
				goto fail;
			changed_job = db_affected(r->db) == 1;
		}
	}

	cmd_params = params ? json_deep_copy(params) : json_object();
	if (!cmd_params) {
		err = E_INTERNAL_ERROR;
		goto fail;
	}
	if (mirror)
		json_object_set_new(cmd_params, "job_id", job_id[0] ? json_string(job_id) : json_null());
	c.account_id = r->account_id;
	c.hub_id = p->hub_id;
	c.printer_id = p->id;
	c.job_id = job_id[0] ? job_id : NULL;
	c.action = rule->hub_action;
	c.params = cmd_params;
	c.expect_ack = rule->hub_wait;
	c.awaited = rule->hub_wait;
	c.request_id = r->request_id;
	c.revert.printer_cleared_from = -1;
	if (rule->hub_wait) {
		if (changed_job) {
			c.revert.job_id = job_id;
			c.revert.job_from = states_job_names[mirror->to];
			c.revert.job_to = job_status;
			c.revert.job_clear_completed = (mirror->stamps & ST_COMPLETED) != 0;
		}
		if (changed_status) {
			c.revert.printer_id = p->id;
			c.revert.printer_from = after;
			c.revert.printer_to = status;
		}
		if (changed_bed) {
			c.revert.printer_id = p->id;
			c.revert.printer_cleared_from = 1;
			c.revert.printer_cleared_to = 0;
		}
	}
	err = admit_command(r, &c); /* the account's wait lock last: job, printer, account */
	json_decref(cmd_params);
	if (err)
		goto fail;
	err = db_commit(r->db);
	if (err)
		return err;
	queue_wake();
	snprintf(d->command_id, sizeof d->command_id, "%s", c.command_id);
	snprintf(d->status, sizeof d->status, "%s", after);
	if (!rule->hub_wait)
		return E_OK;
	enum hubcmd_outcome o;
	char code[64] = "", message[300] = "";
	err = hubcmd_wait(r->db, c.command_id, c.timeout_ms, &o, code, sizeof code, message,
			  sizeof message);
	if (err)
		return err;
	return outcome_fail(r, o, c.action, c.timeout_ms, code, message,
			    changed_status || changed_bed || changed_job);
fail:
	db_rollback(r->db);
	return err;
}

/* A deadlock or lock-wait timeout against another transaction (the worker claiming commands,
 * a hub event) rolled ours back entirely: the action runs again, at most three times. */
static enum api_err run_action(struct req *r, const struct printer *p, const char *action,
			       const json_t *params, struct done *d)
{
	enum api_err err;
	for (int i = 0; i < 3; i++) {
		err = run_action_once(r, p, action, params, d);
		unsigned e = db_errno(r->db);
		if (err != E_INTERNAL_ERROR || (e != 1213 && e != 1205))
			break;
		r->errmsg[0] = '\0';
	}
	return err;
}

/* ---------------------------------------------------------------------------- handlers */

enum api_err printers_control(struct req *r)
{
	struct printer p;
	struct done d;
	enum api_err err = load_and_check(r, &p, F_CONTROL);
	if (err)
		return err;
	const char *action = jhelp_str(r->body, "action");
	err = run_action(r, &p, action, NULL, &d);
	if (err)
		return err;
	return req_ok(r, json_pack("{s:s, s:s, s:s, s:s}", "printer_id", p.id, "action", action,
				   "status", d.status, "command_id", d.command_id));
}

/* state: true | false | "on" | "off". */
enum api_err printers_light(struct req *r)
{
	struct printer p;
	struct done d;
	enum api_err err = load_and_check(r, &p, NULL);
	if (err)
		return err;
	json_t *v = json_object_get(r->body, "state");
	int on = -1;
	if (json_is_boolean(v))
		on = json_is_true(v);
	else if (json_is_string(v) && strcmp(json_string_value(v), "on") == 0)
		on = 1;
	else if (json_is_string(v) && strcmp(json_string_value(v), "off") == 0)
		on = 0;
	if (on < 0) {
		req_problem(r, "state", v ? "state must be true, false, \"on\" or \"off\""
					  : "state is required");
		return E_VALIDATION_ERROR;
	}
	json_t *params = json_pack("{s:b}", "on", on);
	err = run_action(r, &p, "light", params, &d);
	json_decref(params);
	if (err)
		return err;
	return req_ok(r, json_pack("{s:s, s:b, s:s}", "printer_id", p.id, "state", on, "command_id",
				   d.command_id));
}

/* heater nozzle 0–300 °C, bed 0–120 °C. */
enum api_err printers_temperature(struct req *r)
{
	struct printer p;
	struct done d;
	enum api_err err = load_and_check(r, &p, F_TEMPERATURE);
	if (err)
		return err;
	const char *heater = jhelp_str(r->body, "heater");
	double t = json_number_value(json_object_get(r->body, "temperature"));
	if (strcmp(heater, "bed") == 0 && t > BED_MAX) {
		req_problem(r, "temperature", "temperature must be between 0 and %d for the bed",
			    BED_MAX);
		return E_VALIDATION_ERROR;
	}
	json_t *params = json_pack("{s:s, s:f}", "heater", heater, "target_c", t);
	err = run_action(r, &p, "temperature", params, &d);
	json_decref(params);
	if (err)
		return err;
	json_t *temp = json_deep_copy(json_object_get(r->body, "temperature"));
	return req_ok(r, json_pack("{s:s, s:s, s:o, s:s}", "printer_id", p.id, "heater", heater,
				   "temperature", temp, "command_id", d.command_id));
}

/* tray_id 0–15 (AMS: ams_id × 4 + slot) or 254 (external spool, default); temperature 220. */
enum api_err printers_filament_load(struct req *r)
{
	struct printer p;
	struct done d;
	enum api_err err = load_and_check(r, &p, F_LOAD);
	if (err)
		return err;
	json_t *tv = json_object_get(r->body, "tray_id"), *cv = json_object_get(r->body, "temperature");
	long long tray = tv ? json_integer_value(tv) : EXTERNAL_SPOOL;
	long long temp = cv ? json_integer_value(cv) : DEFAULT_FILAMENT_TEMP;
	if (tray < 0 || (tray > 15 && tray != EXTERNAL_SPOOL)) {
		req_problem(r, "tray_id", "tray_id must be 0 to 15 (AMS tray) or 254 (external spool)");
		return E_VALIDATION_ERROR;
	}
	json_t *params = json_pack("{s:I, s:I}", "tray_id", (json_int_t)tray, "temperature_c",
				   (json_int_t)temp);
	err = run_action(r, &p, "load_filament", params, &d);
	json_decref(params);
	if (err)
		return err;
	return req_ok(r, json_pack("{s:s, s:s, s:I, s:I, s:s}", "printer_id", p.id, "action",
				   "load_filament", "tray_id", (json_int_t)tray, "temperature",
				   (json_int_t)temp, "command_id", d.command_id));
}

/* temperature 220 unless given; the stored filament (colour, type) is forgotten after the ACK. */
enum api_err printers_filament_unload(struct req *r)
{
	struct printer p;
	struct done d;
	enum api_err err = load_and_check(r, &p, F_UNLOAD);
	if (err)
		return err;
	json_t *cv = json_object_get(r->body, "temperature");
	long long temp = cv ? json_integer_value(cv) : DEFAULT_FILAMENT_TEMP;
	json_t *params = json_pack("{s:I}", "temperature_c", (json_int_t)temp);
	err = run_action(r, &p, "unload_filament", params, &d);
	json_decref(params);
	if (err)
		return err;
	err = db_exec(r->db, &Q_CLEAR_FILAMENT, DB_ARGS(DS(r->account_id), DS(p.id)), NULL);
	if (err)
		return err;
	return req_ok(r, json_pack("{s:s, s:s, s:s}", "printer_id", p.id, "action",
				   "unload_filament", "command_id", d.command_id));
}
