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

#include "cfg.h"
#include "hubaction.h"
#include "hubfiles.h"
#include "meta.h"
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
/* The file's current version, the object the hub downloads. */
static const struct db_query Q_FILE_FOR_START = {
	"SELECT f.name, f.file_format, IFNULL(NULLIF(f.printer_model_id, ''), f.printer_model_name),"
	" f.print_time_seconds, f.layer_count, v.id, IFNULL(v.storage_key, f.storage_key),"
	" IFNULL(v.file_size_bytes, f.file_size_bytes), IFNULL(v.sha256, f.sha256),"
	" NULLIF(f.printer_model_id, '')"
	" FROM print_files f LEFT JOIN print_file_versions v"
	" ON v.print_file_id = f.id AND v.is_current_version = 1"
	" WHERE f.account_id = ? AND f.id = ?"
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

/* An action's job and the printer it runs on, both locked for the rest of the transaction (the
 * job's row first: the order everywhere), so two starts on one printer are serialised and the
 * second sees the first's job. The hub's liveness comes from a scalar subquery, which MariaDB
 * reads without locking the hubs row (heartbeats are not held up by the action). */
static const struct db_query Q_JOB_PRINTER_LOCK = {
	"SELECT j.status, j.printer_id, j.print_file_id, j.plate,"
	" p.id, p.status, p.hub_id, p.is_active, p.in_maintenance, p.model, p.has_ams,"
	" (SELECT " HUB_LIVE_SQL("h") " FROM hubs h WHERE h.id = p.hub_id)"
	" FROM print_jobs j LEFT JOIN printers p ON p.id = j.printer_id AND p.account_id = j.account_id"
	" WHERE j.account_id = ? AND j.id = ? FOR UPDATE"
};
static const struct db_query Q_PRINTER_BUSY = {
	"SELECT COUNT(*) FROM print_jobs o WHERE o.printer_id = ? AND o.id <> ?"
	" AND FIND_IN_SET(o.status, ?)"
};
static const struct db_query Q_PRINTER_EFFECT = {
	"UPDATE printers SET status = ?, cleared = IF(?, 0, cleared),"
	" total_print_time = total_print_time + ?, updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_TOKEN_INSERT = {
	"INSERT INTO hub_file_tokens (token_hash, account_id, hub_id, job_id, file_version_id,"
	" command_id, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
};
/* The token is in the command only while it travels to the hub. */
static const struct db_query Q_SCRUB_TOKEN = {
	"UPDATE hub_commands SET params = JSON_REMOVE(params, '$.file.token')"
	" WHERE command_id = ? AND JSON_EXISTS(params, '$.file.token')"
};

static const struct jfield F_JOB_COMPLETE[] = {
	{ "actual_print_time_minutes", JF_INT, 0, 1, 10000000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};

/* ---------------------------------------------------------------------------- helpers */

/* The state of the path's job. */
struct job_state {
	char id[UUID_LEN + 1];
	char status[16];
	char printer_id[UUID_LEN + 1];
	char file_id[UUID_LEN + 1];
	int plate;
};

/* Columns 0-3 of Q_JOB_STATE / Q_JOB_PRINTER_LOCK. */
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

/* The locked printer of a job action. */
struct printer_lock {
	int found;
	char status[16];
	char hub_id[UUID_LEN + 1];
	int active, maintenance, has_ams, hub_live;
	char model[121];
};

/* In the caller's transaction: the path's job (404 JOB_NOT_FOUND) and its printer, locked. */
static enum api_err lock_job_printer(struct req *r, struct job_state *j, struct printer_lock *p)
{
	struct db_res res;
	memset(j, 0, sizeof *j);
	memset(p, 0, sizeof *p);
	snprintf(j->id, sizeof j->id, "%s", req_param(r, "id"));
	enum api_err err = req_fetch_one(r, &Q_JOB_PRINTER_LOCK,
					 DB_ARGS(DS(r->account_id), DS(j->id)), &res, E_JOB_NOT_FOUND);
	if (err)
		return err;
	job_from_row(j, &res);
	if (db_get(&res, 0, 4)) {
		p->found = 1;
		DB_COPY(p->status, &res, 0, 5);
		DB_COPY(p->hub_id, &res, 0, 6);
		p->active = db_get_int(&res, 0, 7, 1) != 0;
		p->maintenance = db_get_int(&res, 0, 8, 0) != 0;
		DB_COPY(p->model, &res, 0, 9);
		p->has_ams = db_get_int(&res, 0, 10, 0) != 0;
		p->hub_live = p->hub_id[0] && db_get_int(&res, 0, 11, 0) != 0;
	}
	db_res_free(&res);
	return E_OK;
}

/* The rule's effect on the locked printer of job j, applied only while the job occupies it
 * (a queued job cancelled never touches a printer busy with another job): *from receives the
 * state it had when it changed (for the revert), "" when untouched. */
static enum api_err printer_effect(struct req *r, const struct job_rule *rule,
				   const struct job_state *j, const struct printer_lock *p,
				   long long minutes, const char **from)
{
	*from = "";
	if (!p->found || !states_job_in(JOBS_RUNNING, j->status))
		return E_OK;
	int moves = rule->printer_to != NO_CHANGE && states_printer_in(rule->printer_from, p->status);
	int dirty = (rule->stamps & ST_BED_DIRTY) != 0;
	if (!(rule->stamps & ST_PRINT_TIME))
		minutes = 0;
	if (!moves && !dirty && minutes <= 0)
		return E_OK;
	const char *to = moves ? states_printer_names[rule->printer_to] : p->status;
	enum api_err err = db_exec(r->db, &Q_PRINTER_EFFECT,
				   DB_ARGS(DS(to), DI(dirty), DI(minutes > 0 ? minutes : 0),
					   DS(r->account_id), DS(j->printer_id)),
				   NULL);
	if (!err && moves)
		*from = p->status;
	return err;
}

/* base_url's scheme and authority: "https://host:port". */
static void origin_of(const char *base, char *out, size_t size)
{
	const char *p = strstr(base, "://");
	const char *slash = p ? strchr(p + 3, '/') : NULL;
	size_t n = slash ? (size_t)(slash - base) : strlen(base);
	snprintf(out, size, "%.*s", (int)n, base);
}

/* The file name the printer stores: [A-Za-z0-9._-], at most 64 characters, extension kept. */
static void printer_file_name(const char *name, char *out, size_t size)
{
	char clean[256];
	size_t n = 0;
	for (const char *s = name; *s && n + 1 < sizeof clean; s++) {
		char c = *s;
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 c == '.' || c == '_' || c == '-';
		clean[n++] = ok ? c : '_';
	}
	clean[n] = '\0';
	if (n > 64) {
		const char *ext = n > 10 && strcmp(clean + n - 10, ".gcode.3mf") == 0 ? clean + n - 10
										: strrchr(clean, '.');
		size_t el = ext && strlen(ext) <= 16 ? strlen(ext) : 0;
		memmove(clean + 64 - el, clean + n - el, el + 1);
	}
	snprintf(out, size, "%s", clean[0] ? clean : "print");
}

static const char *format_of(const char *stored, const char *name)
{
	static const char *const fmts[] = { "3mf", "gcode", "bgcode", "stl", "obj", "amf", NULL };
	if (stored && jhelp_enum_index(fmts, stored) >= 0)
		return stored;
	const char *dot = name ? strrchr(name, '.') : NULL;
	if (dot && jhelp_enum_index(fmts, dot + 1) >= 0)
		return dot + 1;
	return "gcode";
}

/* -------------------------------------------------------------------------- job start */

/* What the start needs of the job's file. */
struct start_file {
	char name[256], format[16], model[201], model_id[101];
	long long print_time_s, layers, size;
	char version_id[UUID_LEN + 1], storage_key[513], sha256[SHA256_HEX_LEN + 1];
	int found;
};

static enum api_err load_start_file(struct req *r, const char *file_id, struct start_file *f)
{
	struct db_res res;
	memset(f, 0, sizeof *f);
	if (!file_id[0])
		return E_OK;
	enum api_err err = db_exec(r->db, &Q_FILE_FOR_START, DB_ARGS(DS(r->account_id),
								     DS(file_id)), &res);
	if (err)
		return err;
	if (res.nrows == 1) {
		f->found = 1;
		DB_COPY(f->name, &res, 0, 0);
		DB_COPY(f->format, &res, 0, 1);
		DB_COPY(f->model, &res, 0, 2);
		f->print_time_s = db_get_int(&res, 0, 3, -1);
		f->layers = db_get_int(&res, 0, 4, -1);
		DB_COPY(f->version_id, &res, 0, 5);
		DB_COPY(f->storage_key, &res, 0, 6);
		f->size = db_get_int(&res, 0, 7, -1);
		DB_COPY(f->sha256, &res, 0, 8);
		DB_COPY(f->model_id, &res, 0, 9);
	}
	db_res_free(&res);
	return E_OK;
}

/* FILE_NOT_FOUND unless the file row, its current version and the stored object exist; fills
 * size and SHA-256 from the object when the row lacks them. */
static enum api_err check_start_file(struct req *r, struct start_file *f)
{
	uint64_t size;
	if (!f->found)
		return req_fail(r, E_FILE_NOT_FOUND, "The job's print file no longer exists");
	if (!f->version_id[0] || !f->storage_key[0] ||
	    storage_stat(f->storage_key, &size) != STORAGE_OK)
		return req_fail(r, E_FILE_NOT_FOUND, "The job's print file has no stored content");
	if (f->size < 0 || strlen(f->sha256) != SHA256_HEX_LEN) {
		if (storage_sha256(f->storage_key, f->sha256, &size) != STORAGE_OK)
			return req_fail(r, E_FILE_NOT_FOUND, "The job's print file cannot be read");
		f->size = (long long)size;
	}
	return E_OK;
}

/* print.start params with a new download token (docs/jobs-and-control.md, POST
 * /jobs/{id}/start; the token: "File delivery to hubs"). */
static json_t *start_params(const struct job_state *j, const struct start_file *f,
			    const struct printer_lock *p, const char *token, long long token_exp)
{
	char origin[512], url[700], fname[80];
	origin_of(cfg_str("base_url", "https://localhost/v1"), origin, sizeof origin);
	snprintf(url, sizeof url, "%s/hub/v1/files/%s", origin, f->version_id);
	printer_file_name(f->name, fname, sizeof fname);
	json_t *file = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:s}", "url", url, "token", token,
				 "token_expires_at", (json_int_t)token_exp, "name", fname,
				 "format", format_of(f->format, f->name), "size_bytes",
				 (json_int_t)f->size, "sha256", f->sha256);
	json_t *expected = json_pack("{s:s?, s:o, s:o}", "printer_model_id",
				     f->model_id[0] ? f->model_id : NULL, "print_time_s",
				     f->print_time_s >= 0 ? json_integer(f->print_time_s) : json_null(),
				     "total_layers",
				     f->layers >= 0 ? json_integer(f->layers) : json_null());
	json_t *options = json_pack("{s:b, s:b, s:b, s:n}", "bed_leveling", 1, "timelapse", 0,
				    "use_ams", p->has_ams, "ams_mapping");
	return json_pack("{s:s, s:o, s:i, s:o, s:o}", "job_id", j->id, "file", file, "plate",
			 j->plate > 0 ? j->plate : 1, "options", options, "expected", expected);
}

/* --------------------------------------------------------------------- the hub action */

/* One job action, across the attempts of its transaction. */
struct job_action {
	const struct job_rule *rule;
	int starting;
	struct job_state j;
	struct printer_lock p;
	struct start_file f;
	char token[HUBFILE_TOKEN_LEN + 1];
	long long token_exp;
	const char *printer_from;
};

/* What an awaited command needs before it may go, in the documented order after the job's
 * state: the printer, the start's file, the hub, the printer being free. */
static enum api_err check_ready(struct req *r, struct job_action *x)
{
	const struct job_state *j = &x->j;
	const struct printer_lock *p = &x->p;
	if (!j->printer_id[0])
		return req_fail(r, E_NO_PRINTER_ASSIGNED, "Job has no printer assigned; assign one"
				" with PATCH /v1/jobs/%s", j->id);
	if (!p->found)
		return req_fail(r, E_PRINTER_NOT_FOUND, "The job's printer no longer exists");
	enum api_err err;
	if (x->starting) {
		if ((err = check_start_file(r, &x->f)) != E_OK)
			return err;
		if (!meta_model_matches(x->f.model, p->model))
			return req_fail(r, E_PRINTER_MODEL_MISMATCH, "The file was sliced for %s; the"
					" printer is a %s", x->f.model, p->model);
	}
	if (!p->hub_id[0])
		return req_fail(r, E_NO_HUB_ASSIGNED, "The job's printer has no hub assigned");
	if (x->starting) {
		char running[64], why[64] = "";
		struct db_res res;
		err = db_exec(r->db, &Q_PRINTER_BUSY,
			      DB_ARGS(DS(j->printer_id), DS(j->id),
				      DS(states_job_list(JOBS_RUNNING, running, sizeof running))),
			      &res);
		if (err)
			return err;
		long long busy = db_get_int(&res, 0, 0, 0);
		db_res_free(&res);
		if (!p->active)
			snprintf(why, sizeof why, "is inactive");
		else if (p->maintenance || strcmp(p->status, "maintenance") == 0)
			snprintf(why, sizeof why, "is in maintenance");
		else if (busy > 0)
			snprintf(why, sizeof why, "is running another job");
		else if (strcmp(p->status, "idle") != 0 &&
			 !(strcmp(p->status, "offline") == 0 && !p->hub_live))
			snprintf(why, sizeof why, "is %s", p->status);
		if (why[0])
			return req_fail(r, E_PRINTER_UNAVAILABLE, "Printer %s", why);
	}
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
	memset(&x->f, 0, sizeof x->f);
	/* the start's file (a plain read): the transition records its version */
	if (x->starting && send && rule->hub_wait &&
	    (err = load_start_file(r, j->file_id, &x->f)) != E_OK)
		return err;
	err = apply_transition(r, rule, j, x->starting && x->f.version_id[0] ? x->f.version_id : NULL,
			       0);
	if (err)
		return err;
	if (send && rule->hub_wait)
		err = check_ready(r, x);
	else if (send) /* fire-and-forget: only to a live hub */
		send = x->p.found && x->p.hub_id[0] && x->p.hub_live;
	if (err || (err = printer_effect(r, rule, j, &x->p, 0, &x->printer_from)) != E_OK || !send)
		return err;

	if (x->starting) {
		if (hubfiles_new_token(x->token) < 0)
			return E_INTERNAL_ERROR;
		x->token_exp = util_now_ms() + HUBFILE_TOKEN_TTL_MS;
		a->params = start_params(j, &x->f, &x->p, x->token, x->token_exp);
	} else {
		a->params = json_pack("{s:s}", "job_id", j->id);
	}
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

/* After the command row: the start's download token names the command. */
static enum api_err stage_token(struct req *r, struct hubaction *a)
{
	struct job_action *x = a->ctx;
	char hash[SHA256_HEX_LEN + 1], exp[24];
	if (!x->starting)
		return E_OK;
	util_sha256_hex(x->token, strlen(x->token), hash);
	util_ms_to_db(x->token_exp, exp);
	return db_exec(r->db, &Q_TOKEN_INSERT,
		       DB_ARGS(DS(hash), DS(r->account_id), DS(x->p.hub_id), DS(x->j.id),
			       DS(x->f.version_id), DS(a->cmd.command_id), DS(exp)),
		       NULL);
}

/* The hub action of the rule `action` on the path's job. */
static enum api_err job_action(struct req *r, const char *action)
{
	struct job_action x = { .rule = states_job_rule(action),
				.starting = strcmp(action, "start") == 0 };
	struct hubaction a = { .stage = stage_job, .staged = stage_token, .ctx = &x };
	enum api_err err = hubaction_run(r, &a);
	if (x.starting && a.waited) /* the token is in the command only while it travels */
		db_exec(r->db, &Q_SCRUB_TOKEN, DB_ARGS(DS(a.cmd.command_id)), NULL);
	if (err)
		return err;
	return req_ok(r, json_pack("{s:s, s:s?, s:s, s:s?}", "job_id", x.j.id, "printer_id",
				   x.j.printer_id[0] ? x.j.printer_id : NULL, "status",
				   states_job_names[x.rule->to], "command_id",
				   a.send ? a.cmd.command_id : NULL));
}

/* ---------------------------------------------------------------------------- handlers */

/* POST /jobs/{id}/start, /pause, /resume, /stop, /cancel: the rule named by the path's last
 * segment (common/states.c). */
enum api_err jobs_action(struct req *r)
{
	return job_action(r, strrchr(r->route->path, '/') + 1);
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
	return err ? err : res_reply(r, &job_res, j.id, 0);
}

/* printing → completed exactly once: only the request whose compare-and-set wins moves the
 * printer, the stock and queues job_completed, all in one transaction. */
static enum api_err complete_txn(struct db *db, void *ctx)
{
	struct req *r = ctx;
	const struct job_rule *rule = states_job_rule("complete");
	struct job_state j;
	struct printer_lock p;
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
	return stock_job_completed(db, r->account_id, j.id, r->request_id, NULL);
}

enum api_err jobs_complete(struct req *r)
{
	enum api_err err = db_txn(r->db, complete_txn, r);
	if (err)
		return err;
	queue_wake();
	return res_reply(r, &job_res, req_param(r, "id"), 0);
}
