/* job_actions.c - what moves a print job: start, pause, resume, stop, cancel (hub actions),
 * retry, complete.
 *
 * Every move of a job (and of the printer it runs on) is a row of common/states.c; the handlers
 * look the row up and apply it. Actions that talk to a hub are one hub action each
 * (fcgi/hubaction.h): in ONE transaction the optimistic transition (compare-and-set on the state
 * read) and the hub_commands row carrying its revert; commit; wake; wait for the ACK. The worker
 * records the outcome and reverts; this file never reverts.
 *
 * Order of refusals (docs/jobs-and-control.md): 404 → 422 → job state (INVALID_TRANSITION) →
 * configuration (NO_PRINTER_ASSIGNED, PRINTER_NOT_FOUND, FILE_NOT_FOUND, PRINTER_MODEL_MISMATCH,
 * NO_HUB_ASSIGNED, PRINTER_UNAVAILABLE) → hub connectivity (HUB_OFFLINE) → the account's / the
 * host's share of waiting children (TOO_MANY_HUB_COMMANDS, SERVER_BUSY: fcgi/admit.c) → the hub's
 * outcome. */
#include "jobs.h"

#include "autodisp.h"
#include "cfg.h"
#include "hubaction.h"
#include "idem.h"
#include "jobstart.h"
#include "meta.h"
#include "openapi.h"
#include "queue.h"
#include "resources.h"
#include "sqlfrag.h"
#include "states.h"
#include "stock.h"
#include "storage.h"
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------- queries */

/* What retry reads first (no lock: the change itself is a compare-and-set). */
static const struct db_query Q_JOB_STATE = {
	"SELECT j.status, j.printer_id, j.print_file_id, j.plate FROM print_jobs j"
	" WHERE j.account_id = ? AND j.id = ?"
};
/* A transition of states.c with its stamps, as a compare-and-set on the state read before. */
static const struct db_query Q_JOB_TRANSITION = {
	"UPDATE print_jobs SET status = ?,"
	" time_started = CASE WHEN ? THEN NOW(3) WHEN ? THEN NULL ELSE time_started END,"
	" time_completed = CASE WHEN ? THEN NOW(3) WHEN ? THEN NULL ELSE time_completed END,"
	" progress_percentage = CASE WHEN ? THEN 100 WHEN ? THEN 0 ELSE progress_percentage END,"
	" actual_print_time_minutes = CASE WHEN ? THEN IFNULL(?, CEIL(GREATEST(0,"
	"   TIMESTAMPDIFF(MICROSECOND, time_started, NOW(3))) / 60000000))"
	"   WHEN ? THEN NULL ELSE actual_print_time_minutes END,"
	" failure_reason = IF(?, NULL, failure_reason), bambu_job_id = IF(?, NULL, bambu_job_id),"
	" time_submitted = IF(?, NOW(3), time_submitted),"
	" print_file_version_id = IFNULL(?, print_file_version_id), updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ? AND status = ?"
};
static const struct db_query Q_JOB_ACTUAL = {
	"SELECT IFNULL(actual_print_time_minutes, 0) FROM print_jobs WHERE id = ?"
};

static const struct db_query Q_PRINTER_EFFECT = {
	"UPDATE printers SET status = ?, cleared = IF(?, 0, cleared),"
	" total_print_time = total_print_time + ?, updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};
static const struct jfield F_JOB_COMPLETE[] = {
	{ "actual_print_time_minutes", JF_INT, 0, 1, 10000000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(jobs_complete, F_JOB_COMPLETE);

/* ---------------------------------------------------------------------------- helpers */

/* The state of the path's job. */
struct job_state {
	char id[UUID_LEN + 1];
	char status[16];
	char printer_id[UUID_LEN + 1];
	char file_id[UUID_LEN + 1];
	int plate;
};

/* Columns 0-3 of Q_JOB_STATE. */
static void job_from_row(struct job_state *j, const struct db_res *res)
{
	DB_COPY(j->status, res, 0, 0);
	DB_COPY(j->printer_id, res, 0, 1);
	DB_COPY(j->file_id, res, 0, 2);
	j->plate = (int)db_get_int(res, 0, 3, 1);
}

static enum api_err load_job(struct req *r, struct job_state *j)
{
	struct db_res res;
	memset(j, 0, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", req_param(r, "id"));
	enum api_err err = req_fetch_one(r, &Q_JOB_STATE, DB_ARGS(DS(r->account_id), DS(j->id)),
					 &res, E_JOB_NOT_FOUND);
	if (err)
		return err;
	job_from_row(j, &res);
	db_res_free(&res);
	return E_OK;
}

enum api_err job_refuse(struct req *r, const struct job_rule *rule, const char *status)
{
	char allowed[128];
	if (rule->refusal == E_JOB_TERMINAL)
		return req_fail(r, E_JOB_TERMINAL, "Job is %s: a %s job cannot be changed", status,
				status);
	return req_fail(r, rule->refusal, "Cannot %s a job that is %s (allowed from: %s)",
			rule->action, status, states_job_list(rule->from, allowed, sizeof allowed));
}

/* The compare-and-set of rule on job j (from j->status); a lost race (the job changed since it
 * was read) is 409 JOB_STATE_CHANGED. */
static enum api_err apply_transition(struct req *r, const struct job_rule *rule,
				     const struct job_state *j, const char *version_id,
				     long long actual)
{
	unsigned st = rule->stamps;
	const char *to = rule->to == NO_CHANGE ? j->status : states_job_names[rule->to];
	int requeue = (st & ST_REQUEUED) != 0, finished = (st & ST_FINISHED) != 0;
	enum api_err err = db_exec(
		r->db, &Q_JOB_TRANSITION,
		DB_ARGS(DS(to), DI((st & ST_STARTED) != 0), DI(requeue),
			DI((st & ST_COMPLETED) != 0), DI(requeue), DI(finished), DI(requeue),
			DI(finished), actual > 0 ? DI(actual) : DNULL, DI(requeue), DI(requeue),
			DI(requeue), DI(requeue), DS(version_id), DS(r->account_id), DS(j->id),
			DS(j->status)),
		NULL);
	if (!err && db_affected(r->db) != 1)
		return req_fail(r, E_JOB_STATE_CHANGED, "The job changed state meanwhile; reload it");
	return err ? err : webhook_job(r->db, r->account_id, j->id, j->status, to);
}

/* Minutes from a job's time_started (or the given value), for the printer's total. */
static long long job_actual(struct req *r, const char *job_id)
{
	struct db_res res;
	if (db_exec(r->db, &Q_JOB_ACTUAL, DB_ARGS(DS(job_id)), &res) != E_OK)
		return 0;
	long long v = db_get_int(&res, 0, 0, 0);
	db_res_free(&res);
	return v;
}

/* In the caller's transaction: the path's job (404 JOB_NOT_FOUND) and its printer, locked
 * (common/jobstart.c: the job's row first, the order everywhere). */
static enum api_err lock_job_printer(struct req *r, struct job_state *j, struct job_lock *p)
{
	memset(j, 0, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", req_param(r, "id"));
	enum api_err err = jobstart_lock(r->db, r->account_id, j->id, p);
	if (err)
		return err;
	memcpy(j->status, p->status, sizeof j->status);
	memcpy(j->printer_id, p->printer_id, sizeof j->printer_id);
	memcpy(j->file_id, p->file_id, sizeof j->file_id);
	j->plate = p->plate;
	return E_OK;
}

/* The rule's effect on the locked printer of job j, applied only while the job occupies it
 * (a queued job cancelled never touches a printer busy with another job): *from receives the
 * state it had when it changed (for the revert), "" when untouched. */
static enum api_err printer_effect(struct req *r, const struct job_rule *rule,
				   const struct job_state *j, const struct job_lock *p,
				   long long minutes, const char **from)
{
	*from = "";
	if (!p->found || !states_job_in(JOBS_RUNNING, j->status))
		return E_OK;
	int moves = rule->printer_to != NO_CHANGE && states_printer_in(rule->printer_from, p->pstatus);
	int dirty = (rule->stamps & ST_BED_DIRTY) != 0;
	if (!(rule->stamps & ST_PRINT_TIME))
		minutes = 0;
	if (!moves && !dirty && minutes <= 0)
		return E_OK;
	const char *to = moves ? states_printer_names[rule->printer_to] : p->pstatus;
	enum api_err err = db_exec(r->db, &Q_PRINTER_EFFECT,
				   DB_ARGS(DS(to), DI(dirty), DI(minutes > 0 ? minutes : 0),
					   DS(r->account_id), DS(j->printer_id)),
				   NULL);
	if (!err && moves)
		*from = p->pstatus;
	return err;
}

/* --------------------------------------------------------------------- the hub action */

/* One job action, across the attempts of its transaction. */
struct job_action {
	const struct job_rule *rule;
	struct job_state j;
	struct job_lock p;
	const char *printer_from;
};

/* What an awaited command (pause, resume, stop) needs before it may go, in the documented
 * order after the job's state: the printer, its hub, the hub being live. The start has its own
 * checks (common/jobstart.c). */
static enum api_err check_ready(struct req *r, struct job_action *x)
{
	const struct job_state *j = &x->j;
	const struct job_lock *p = &x->p;
	if (!j->printer_id[0])
		return req_fail(r, E_NO_PRINTER_ASSIGNED, "Job has no printer assigned; assign one"
				" with PATCH /v1/jobs/%s", j->id);
	if (!p->found)
		return req_fail(r, E_PRINTER_NOT_FOUND, "The job's printer no longer exists");
	if (!p->hub_id[0])
		return req_fail(r, E_NO_HUB_ASSIGNED, "The job's printer has no hub assigned");
	if (!p->hub_live)
		return req_fail(r, E_HUB_OFFLINE, "The printer's hub is offline");
	return E_OK;
}

/* In the action's transaction (hubaction.h): the job and its printer locked, the rule, the
 * transition, the printer's effect and the command with its revert. */
static enum api_err stage_job(struct req *r, struct hubaction *a)
{
	struct job_action *x = a->ctx;
	const struct job_rule *rule = x->rule;
	struct job_state *j = &x->j;
	enum api_err err = lock_job_printer(r, j, &x->p);
	if (err)
		return err;
	if (!states_job_allows(rule, j->status))
		return job_refuse(r, rule, j->status);
	int send = states_job_sends(rule, j->status);
	err = apply_transition(r, rule, j, NULL, 0);
	if (err)
		return err;
	if (send && rule->hub_wait)
		err = check_ready(r, x);
	else if (send) /* fire-and-forget: only to a live hub */
		send = x->p.found && x->p.hub_id[0] && x->p.hub_live;
	if (err || (err = printer_effect(r, rule, j, &x->p, 0, &x->printer_from)) != E_OK || !send)
		return err;

	a->params = json_pack("{s:s}", "job_id", j->id);
	if (!a->params)
		return E_INTERNAL_ERROR;
	struct hubcmd *c = &a->cmd;
	c->hub_id = x->p.hub_id;
	c->printer_id = j->printer_id;
	c->job_id = j->id;
	c->action = rule->hub_action;
	c->expect_ack = c->awaited = rule->hub_wait;
	if (rule->hub_wait) {
		c->revert.job_id = j->id;
		c->revert.job_from = states_job_names[rule->to];
		c->revert.job_to = j->status;
		c->revert.job_clear_started = (rule->stamps & ST_STARTED) != 0;
		c->revert.job_clear_completed = (rule->stamps & ST_COMPLETED) != 0;
		if (x->printer_from[0]) {
			c->revert.printer_id = j->printer_id;
			c->revert.printer_from = states_printer_names[rule->printer_to];
			c->revert.printer_to = x->printer_from;
		}
	}
	a->send = 1;
	a->reverts = 1;
	return E_OK;
}

/* The success answer of a job action (also written with the command: fcgi/idem.h). */
static json_t *job_answer(struct req *r, struct hubaction *a)
{
	const struct job_action *x = a->ctx;
	(void)r;
	return json_pack("{s:s, s:s?, s:s, s:s?}", "job_id", x->j.id, "printer_id",
			 x->j.printer_id[0] ? x->j.printer_id : NULL, "status",
			 states_job_names[x->rule->to], "command_id",
			 a->send ? a->cmd.command_id : NULL);
}

/* The hub action of the rule `action` on the path's job. */
static enum api_err job_action(struct req *r, const char *action)
{
	struct job_action x = { .rule = states_job_rule(action) };
	struct hubaction a = { .stage = stage_job, .answer = job_answer, .ctx = &x };
	enum api_err err = hubaction_run(r, &a);
	return err ? err : req_ok(r, job_answer(r, &a));
}

/* ---------------------------------------------------------------------------- the start */

/* The shared start (common/jobstart.c) as a hub action: its refusals answered here. */
static enum api_err stage_start(struct req *r, struct hubaction *a)
{
	struct jobstart *s = a->ctx;
	enum api_err err = jobstart_stage(s);
	if (err)
		return s->message[0] ? req_fail(r, err, "%s", s->message) : err;
	a->cmd = s->cmd;
	a->params = json_incref(s->params);
	a->send = 1;
	a->reverts = 1;
	return E_OK;
}

static enum api_err stage_start_token(struct req *r, struct hubaction *a)
{
	struct jobstart *s = a->ctx;
	(void)r;
	memcpy(s->cmd.command_id, a->cmd.command_id, sizeof s->cmd.command_id);
	return jobstart_token(s);
}

/* The start's success answer (also written with the command: fcgi/idem.h). */
static json_t *start_answer(struct req *r, struct hubaction *a)
{
	const struct jobstart *s = a->ctx;
	(void)r;
	return json_pack("{s:s, s:s, s:s, s:s}", "job_id", s->job_id, "printer_id", s->printer_id,
			 "status", "processing", "command_id", a->cmd.command_id);
}

/* POST /jobs/{id}/start: queued → processing and print.start, awaited. */
static enum api_err job_start(struct req *r)
{
	struct jobstart s = { .db = r->db, .account_id = r->account_id,
			      .job_id = req_param(r, "id"), .request_id = r->request_id,
			      .awaited = 1 };
	struct hubaction a = { .stage = stage_start, .staged = stage_start_token,
			       .answer = start_answer, .ctx = &s };
	enum api_err err = hubaction_run(r, &a);
	if (a.waited) /* the token is in the command only while it travels */
		jobstart_scrub_token(r->db, a.cmd.command_id);
	json_t *data = err ? NULL : start_answer(r, &a);
	jobstart_done(&s);
	return err ? err : req_ok(r, data);
}

/* ---------------------------------------------------------------------------- handlers */

/* POST /jobs/{id}/start, /pause, /resume, /stop, /cancel: the rule named by the path's last
 * segment (common/states.c). */
enum api_err jobs_action(struct req *r)
{
	const char *action = strrchr(r->route->path, '/') + 1;
	return strcmp(action, "start") == 0 ? job_start(r) : job_action(r, action);
}

/* failed → queued, a compare-and-set without a lock. */
enum api_err jobs_retry(struct req *r)
{
	const struct job_rule *rule = states_job_rule("retry");
	struct job_state j;
	enum api_err err = load_job(r, &j);
	if (err)
		return err;
	if (!states_job_allows(rule, j.status))
		return job_refuse(r, rule, j.status);
	err = apply_transition(r, rule, &j, NULL, 0);
	if (!err && !j.printer_id[0] && ad_nudge(r->db, r->account_id) == E_OK)
		queue_wake(); /* queued again, unassigned: auto-dispatch (docs/dispatch.md) */
	return err ? err : res_reply(r, &job_res, j.id, 0);
}

/* printing → completed exactly once: only the request whose compare-and-set wins moves the
 * printer, the stock and queues job_completed, all in one transaction. */
static enum api_err complete_txn(struct db *db, void *ctx)
{
	struct req *r = ctx;
	const struct job_rule *rule = states_job_rule("complete");
	struct job_state j;
	struct job_lock p;
	const char *printer_from;
	json_t *given = json_object_get(r->body, "actual_print_time_minutes");
	enum api_err err = lock_job_printer(r, &j, &p);
	if (err)
		return err;
	if (r->body && req_check_body(r, F_JOB_COMPLETE))
		return E_VALIDATION_ERROR;
	if (!states_job_allows(rule, j.status))
		return job_refuse(r, rule, j.status);
	if ((err = apply_transition(r, rule, &j, NULL, given ? json_integer_value(given) : 0)) ||
	    (err = printer_effect(r, rule, &j, &p, job_actual(r, j.id), &printer_from)))
		return err;
	if ((err = stock_job_completed(db, r->account_id, j.id, r->request_id, NULL)) != E_OK ||
	    (err = res_reply(r, &job_res, j.id, 0)) != E_OK)
		return err;
	return idem_store_answer(r); /* the Idempotency-Key answer commits with the completion */
}

enum api_err jobs_complete(struct req *r)
{
	enum api_err err = db_txn(r->db, complete_txn, r);
	if (err)
		return err;
	queue_wake();
	return E_OK; /* the answer: complete_txn's */
}
