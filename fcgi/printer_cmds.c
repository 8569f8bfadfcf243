/* printer_cmds.c - the physical printer actions: control (pause, resume, stop, clear bed),
 * chamber light, heater setpoint, filament load / unload.
 *
 * Each action is a row of common/states.c (printer rules): accepted states, the state after, the
 * hub command, whether the API waits for the ACK, and the job action mirrored onto the printer's
 * running job (control pause / resume / stop move that job too, so job and printer never
 * disagree). Each runs as one hub action (fcgi/hubaction.h): the optimistic change and the
 * command row with its revert in one transaction, commit, wake, wait; the worker reverts.
 *
 * Order of refusals (docs/jobs-and-control.md): 404 → 422 → NO_HUB_ASSIGNED → HUB_OFFLINE →
 * INVALID_STATE → the account's / the host's share of waiting children (TOO_MANY_HUB_COMMANDS,
 * SERVER_BUSY: fcgi/admit.c) → the hub's outcome. */
#include "autodisp.h"
#include "hubaction.h"
#include "openapi.h"
#include "queue.h"
#include "req.h"
#include "sqlfrag.h"
#include "states.h"

#include <stdio.h>
#include <string.h>

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
OPENAPI_BODY(printers_control, F_CONTROL);
static const struct jfield F_TEMPERATURE[] = {
	{ "heater", JF_ENUM, JF_REQUIRED, 0, 0, { heaters } },
	{ "temperature", JF_NUMBER, JF_REQUIRED, 0, 300, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(printers_temperature, F_TEMPERATURE);
static const struct jfield F_LOAD[] = {
	{ "tray_id", JF_INT, 0, 0, 0, { NULL } }, /* 0–15 or 254: checked below */
	{ "temperature", JF_INT, 0, 0, 300, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(printers_filament_load, F_LOAD);
static const struct jfield F_UNLOAD[] = {
	{ "temperature", JF_INT, 0, 0, 300, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(printers_filament_unload, F_UNLOAD);

#define BED_MAX 120
#define DEFAULT_FILAMENT_TEMP 220
#define EXTERNAL_SPOOL 254

/* The path's printer (read before the action, without a lock) and what its action did. */
struct printer_action {
	char id[UUID_LEN + 1];
	char hub_id[UUID_LEN + 1];
	int hub_live;
	const char *action;          /* the printer rule */
	const json_t *params;        /* borrowed: the command's own params (NULL = {}) */
	/* set by stage_action on each attempt */
	char status[16];             /* the printer's status before the action */
	const char *after;           /* ... and after it */
	char job_id[UUID_LEN + 1], job_status[16]; /* the mirrored job, if any */
	char command_id[UUID_LEN + 1];
	json_t *reply;               /* owned: the success answer but its status and command_id */
	int reply_status;            /* the answer names the status after the action */
};

/* The success answer: the handler's members, the status after the action when it names it, the
 * command id. */
static json_t *printer_reply(const struct printer_action *x, const char *command_id)
{
	json_t *o = json_deep_copy(x->reply);
	if (o && x->reply_status)
		json_object_set_new(o, "status", json_string(x->after));
	if (o)
		json_object_set_new(o, "command_id", json_string(command_id));
	return o;
}

/* hubaction's answer: the same, written with the command (fcgi/idem.h). */
static json_t *printer_answer(struct req *r, struct hubaction *a)
{
	(void)r;
	return printer_reply(a->ctx, a->cmd.command_id);
}

/* 404 PRINTER_NOT_FOUND, then the body against fields (422; no body: every field defaults). */
static enum api_err load_printer(struct req *r, struct printer_action *x, const struct jfield *fields)
{
	struct db_res res;
	memset(x, 0, sizeof *x);
	enum api_err err = req_fetch_one(r, &Q_PRINTER,
					 DB_ARGS(DS(r->account_id), DS(req_param(r, "id"))), &res,
					 E_PRINTER_NOT_FOUND);
	if (err)
		return err;
	DB_COPY(x->id, &res, 0, 0);
	DB_COPY(x->hub_id, &res, 0, 1);
	x->hub_live = db_get_int(&res, 0, 2, 0) != 0;
	db_res_free(&res);
	if (fields && r->body && req_check_body(r, fields))
		return E_VALIDATION_ERROR;
	return E_OK;
}

/* The printer's running job that `mirror` (a job rule) applies to, if any, locked: the job's
 * row first, the order everywhere. */
static enum api_err lock_mirrored_job(struct req *r, struct printer_action *x,
				      const struct job_rule *mirror)
{
	struct db_res res;
	char set[96];
	enum api_err err = db_exec(r->db, &Q_RUNNING_JOB,
				   DB_ARGS(DS(r->account_id), DS(x->id),
					   DS(states_job_list(mirror->from & JOBS_ON_PRINTER, set,
							      sizeof set))),
				   &res);
	if (err)
		return err;
	if (res.nrows == 1) {
		DB_COPY(x->job_id, &res, 0, 0);
		DB_COPY(x->job_status, &res, 0, 1);
	}
	db_res_free(&res);
	return E_OK;
}

/* In the action's transaction (hubaction.h): hub checks, locks (the running job, then the
 * printer), the rule, the optimistic change of printer and mirrored job, and the command. */
static enum api_err stage_action(struct req *r, struct hubaction *a)
{
	struct printer_action *x = a->ctx;
	const struct printer_rule *rule = states_printer_rule(x->action);
	const struct job_rule *mirror = rule->job_action ? states_job_rule(rule->job_action) : NULL;
	struct db_res res;
	char set[96];
	int changed_status, changed_bed, changed_job = 0;
	x->job_id[0] = x->job_status[0] = '\0';
	if (!x->hub_id[0])
		return req_fail(r, E_NO_HUB_ASSIGNED, "Printer has no hub assigned");
	if (!x->hub_live)
		return req_fail(r, E_HUB_OFFLINE, "The printer's hub is offline");
	enum api_err err = mirror ? lock_mirrored_job(r, x, mirror) : E_OK;
	if (err || (err = db_exec(r->db, &Q_PRINTER_LOCK, DB_ARGS(DS(r->account_id), DS(x->id)),
				   &res)) != E_OK)
		return err;
	if (res.nrows != 1) {
		db_res_free(&res);
		return E_PRINTER_NOT_FOUND;
	}
	DB_COPY(x->status, &res, 0, 0);
	int cleared = db_get_int(&res, 0, 1, 1) != 0;
	db_res_free(&res);
	if (!states_printer_allows(rule, x->status))
		return req_fail(r, E_INVALID_STATE, "Cannot %s a printer that is %s (allowed from: %s)",
				strcmp(x->action, "clear_bed") == 0 ? "clear the bed of" : x->action,
				x->status, states_printer_list(rule->from, set, sizeof set));

	x->after = rule->to == NO_CHANGE ? x->status : states_printer_names[rule->to];
	changed_status = strcmp(x->after, x->status) != 0;
	changed_bed = (rule->stamps & ST_BED_CLEARED) && !cleared;
	if ((changed_status || changed_bed) &&
	    (err = db_exec(r->db, &Q_PRINTER_SET, DB_ARGS(DS(x->after), DI(changed_bed),
							   DS(r->account_id), DS(x->id)), NULL)))
		return err;
	if (x->job_id[0]) {
		err = db_exec(r->db, &Q_JOB_MIRROR,
			      DB_ARGS(DS(states_job_names[mirror->to]),
				      DI((mirror->stamps & ST_COMPLETED) != 0), DS(r->account_id),
				      DS(x->job_id), DS(x->job_status)),
			      NULL);
		if (err)
			return err;
		changed_job = db_affected(r->db) == 1;
	}

	a->params = x->params ? json_deep_copy(x->params) : json_object();
	if (!a->params)
		return E_INTERNAL_ERROR;
	if (mirror)
		json_object_set_new(a->params, "job_id",
				    x->job_id[0] ? json_string(x->job_id) : json_null());
	struct hubcmd *c = &a->cmd;
	c->hub_id = x->hub_id;
	c->printer_id = x->id;
	c->job_id = x->job_id[0] ? x->job_id : NULL;
	c->action = rule->hub_action;
	c->expect_ack = c->awaited = rule->hub_wait;
	if (rule->hub_wait) {
		if (changed_job) {
			c->revert.job_id = x->job_id;
			c->revert.job_from = states_job_names[mirror->to];
			c->revert.job_to = x->job_status;
			c->revert.job_clear_completed = (mirror->stamps & ST_COMPLETED) != 0;
		}
		if (changed_status) {
			c->revert.printer_id = x->id;
			c->revert.printer_from = x->after;
			c->revert.printer_to = x->status;
		}
		if (changed_bed) {
			c->revert.printer_id = x->id;
			c->revert.printer_cleared_from = 1;
			c->revert.printer_cleared_to = 0;
		}
	}
	a->send = 1;
	a->reverts = changed_status || changed_bed || changed_job;
	return E_OK;
}

/* Runs the printer rule `action` on x as one hub action, with params and reply (the answer's
 * members: printer_reply) both stolen (NULL = {}). */
static enum api_err run_action(struct req *r, struct printer_action *x, const char *action,
			       json_t *params, json_t *reply)
{
	struct hubaction a = { .stage = stage_action, .answer = printer_answer, .ctx = x };
	x->action = action;
	x->params = params;
	x->reply = reply;
	enum api_err err = hubaction_run(r, &a);
	json_decref(params);
	x->params = NULL;
	snprintf(x->command_id, sizeof x->command_id, "%s", a.cmd.command_id);
	return err;
}

/* The success answer after run_action; frees the reply. */
static enum api_err reply(struct req *r, struct printer_action *x, enum api_err err)
{
	json_t *data = err ? NULL : printer_reply(x, x->command_id);
	json_decref(x->reply);
	x->reply = NULL;
	return err ? err : req_ok(r, data);
}

/* ---------------------------------------------------------------------------- handlers */

enum api_err printers_control(struct req *r)
{
	struct printer_action x;
	enum api_err err = load_printer(r, &x, F_CONTROL);
	const char *action = jhelp_str(r->body, "action");
	if (err)
		return err;
	x.reply_status = 1;
	err = run_action(r, &x, action, NULL,
			 json_pack("{s:s, s:s}", "printer_id", x.id, "action", action));
	if (!err && strcmp(action, "clear_bed") == 0 && ad_nudge(r->db, r->account_id) == E_OK)
		queue_wake(); /* a bed cleared: auto-dispatch (docs/dispatch.md) */
	return reply(r, &x, err);
}

/* state: true | false | "on" | "off". */
enum api_err printers_light(struct req *r)
{
	struct printer_action x;
	enum api_err err = load_printer(r, &x, NULL);
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
	err = run_action(r, &x, "light", json_pack("{s:b}", "on", on),
			 json_pack("{s:s, s:b}", "printer_id", x.id, "state", on));
	return reply(r, &x, err);
}

/* heater nozzle 0–300 °C, bed 0–120 °C. */
enum api_err printers_temperature(struct req *r)
{
	struct printer_action x;
	enum api_err err = load_printer(r, &x, F_TEMPERATURE);
	if (err)
		return err;
	const char *heater = jhelp_str(r->body, "heater");
	double t = json_number_value(json_object_get(r->body, "temperature"));
	if (strcmp(heater, "bed") == 0 && t > BED_MAX) {
		req_problem(r, "temperature", "temperature must be between 0 and %d for the bed",
			    BED_MAX);
		return E_VALIDATION_ERROR;
	}
	json_t *temp = json_deep_copy(json_object_get(r->body, "temperature"));
	err = run_action(r, &x, "temperature",
			 json_pack("{s:s, s:f}", "heater", heater, "target_c", t),
			 json_pack("{s:s, s:s, s:o}", "printer_id", x.id, "heater", heater,
				   "temperature", temp));
	return reply(r, &x, err);
}

/* tray_id 0–15 (AMS: ams_id × 4 + slot) or 254 (external spool, default); temperature 220. */
enum api_err printers_filament_load(struct req *r)
{
	struct printer_action x;
	enum api_err err = load_printer(r, &x, F_LOAD);
	if (err)
		return err;
	json_t *tv = json_object_get(r->body, "tray_id"), *cv = json_object_get(r->body, "temperature");
	long long tray = tv ? json_integer_value(tv) : EXTERNAL_SPOOL;
	long long temp = cv ? json_integer_value(cv) : DEFAULT_FILAMENT_TEMP;
	if (tray < 0 || (tray > 15 && tray != EXTERNAL_SPOOL)) {
		req_problem(r, "tray_id", "tray_id must be 0 to 15 (AMS tray) or 254 (external spool)");
		return E_VALIDATION_ERROR;
	}
	err = run_action(r, &x, "load_filament",
			 json_pack("{s:I, s:I}", "tray_id", (json_int_t)tray, "temperature_c",
				   (json_int_t)temp),
			 json_pack("{s:s, s:s, s:I, s:I}", "printer_id", x.id, "action",
				   "load_filament", "tray_id", (json_int_t)tray, "temperature",
				   (json_int_t)temp));
	return reply(r, &x, err);
}

/* temperature 220 unless given; the stored filament (colour, type) is forgotten after the ACK. */
enum api_err printers_filament_unload(struct req *r)
{
	struct printer_action x;
	enum api_err err = load_printer(r, &x, F_UNLOAD);
	if (err)
		return err;
	json_t *cv = json_object_get(r->body, "temperature");
	long long temp = cv ? json_integer_value(cv) : DEFAULT_FILAMENT_TEMP;
	err = run_action(r, &x, "unload_filament",
			 json_pack("{s:I}", "temperature_c", (json_int_t)temp),
			 json_pack("{s:s, s:s}", "printer_id", x.id, "action", "unload_filament"));
	if (!err)
		err = db_exec(r->db, &Q_CLEAR_FILAMENT, DB_ARGS(DS(r->account_id), DS(x.id)), NULL);
	return reply(r, &x, err);
}
