/* jobs.c - Print jobs: enqueue, list, history, counts, get, update, and the actions start,
 * pause, resume, stop, cancel, retry, complete.
 *
 * Every move of a job (and the printer it runs on) is a row of common/states.c; the handlers
 * look the row up and apply it. Actions that talk to a hub follow common/hubcmd.h: in ONE
 * transaction the optimistic transition (compare-and-set on the state read) and the
 * hub_commands row carrying its revert; commit; queue_wake(); wait for the ACK. The worker
 * records the outcome and reverts; this file never reverts.
 *
 * Order of refusals (decisions.md): 404 → 422 → job state (INVALID_TRANSITION) → configuration
 * (NO_PRINTER_ASSIGNED, PRINTER_NOT_FOUND, FILE_NOT_FOUND, PRINTER_MODEL_MISMATCH,
 * NO_HUB_ASSIGNED, PRINTER_UNAVAILABLE) → hub connectivity (HUB_OFFLINE) → the account's / the
 * host's share of waiting children (TOO_MANY_HUB_COMMANDS, SERVER_BUSY: fcgi/admit.c) → the hub's
 * outcome. */
#include "admit.h"
#include "cfg.h"
#include "hubcmd.h"
#include "hubfiles.h"
#include "storage.h"
#include "log.h"
#include "meta.h"
#include "queue.h"
#include "req.h"
#include "sqlfrag.h"
#include "states.h"
#include "stock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------------ projections */

static const struct jcol C_JOB[] = {
	{ "id", JC_STR },
	{ "status", JC_STR },
	{ "printer_id", JC_STR },
	{ "product_id", JC_STR },
	{ "product_sku_id", JC_STR },
	{ "product_name", JC_STR },
	{ "file_name", JC_STR },
	{ "number_of_units", JC_INT },
	{ "color", JC_STR },
	{ "filament_type", JC_STR },
	{ "material_type", JC_STR },
	{ "progress_percentage", JC_INT },
	{ "estimated_print_time_minutes", JC_INT },
	{ "actual_print_time_minutes", JC_INT },
	{ "failure_reason", JC_STR },
	{ "time_submitted", JC_TIME },
	{ "time_started", JC_TIME },
	{ "time_completed", JC_TIME },
	{ "created_at", JC_TIME },
	{ "updated_at", JC_TIME },
	{ NULL, 0 }
};
static const struct jcol C_JOB_DETAIL[] = {
	{ "filament_needed_grams", JC_NUM },
	{ "printer_name", JC_STR },
	{ "printer_model", JC_STR },
	{ "sku_name", JC_STR },
	{ "print_file_id", JC_STR },
	{ "requires_assembly", JC_BOOL },
	{ "quantity_per_print", JC_INT },
	{ NULL, 0 }
};
#define JOB_NCOLS (sizeof C_JOB / sizeof C_JOB[0] - 1)

#define JOB_COLUMNS \
	"j.id, j.status, j.printer_id, j.product_id, j.product_sku_id, j.product_name," \
	" j.file_name, j.number_of_units, j.color, j.filament_type, j.material_type," \
	" j.progress_percentage, j.estimated_print_time_minutes, j.actual_print_time_minutes," \
	" j.failure_reason, j.time_submitted, j.time_started, j.time_completed, j.created_at," \
	" j.updated_at"
#define JOB_DETAIL_COLUMNS \
	JOB_COLUMNS ", j.filament_needed_grams, j.printer_name, j.printer_model, j.sku_name," \
	" j.print_file_id, j.requires_assembly, j.quantity_per_print"

/* ---------------------------------------------------------------------------- queries */

/* Optional filters are bound as (value, value): NULL disables the condition. */
static const struct db_query Q_JOBS_LIST = {
	"SELECT " JOB_COLUMNS " FROM print_jobs j WHERE j.account_id = ?"
	" AND (? IS NULL OR j.status = ?)"
	" AND (? IS NULL OR j.printer_id = ?)"
	" AND (? IS NULL OR j.product_sku_id = ?)"
	" AND (? IS NULL OR j.print_file_id = ?)"
	" ORDER BY j.created_at DESC, j.id DESC LIMIT ? OFFSET ?"
};
/* Newest time_completed first; a job without one (older rows) sorts last. */
static const struct db_query Q_JOBS_HISTORY = {
	"SELECT " JOB_COLUMNS " FROM print_jobs j WHERE j.account_id = ?"
	" AND j.status IN ('completed', 'failed', 'cancelled')"
	" AND (? IS NULL OR j.status = ?)"
	" AND (? IS NULL OR j.time_completed >= ?)"
	" AND (? IS NULL OR j.time_completed <= ?)"
	" ORDER BY j.time_completed IS NULL, j.time_completed DESC, j.id DESC LIMIT ? OFFSET ?"
};
static const struct db_query Q_JOBS_STATS = {
	"SELECT j.status, COUNT(*), SUM(j.status = 'completed' AND j.time_completed >= UTC_DATE())"
	" FROM print_jobs j WHERE j.account_id = ? GROUP BY j.status"
};
static const struct db_query Q_JOB_GET = {
	"SELECT " JOB_DETAIL_COLUMNS " FROM print_jobs j WHERE j.account_id = ? AND j.id = ?"
};
/* What retry reads first (no lock: the change itself is a compare-and-set). */
static const struct db_query Q_JOB_STATE = {
	"SELECT j.status, j.printer_id, j.print_file_id, j.plate FROM print_jobs j"
	" WHERE j.account_id = ? AND j.id = ?"
};
/* Lock order everywhere (API, worker, reverts): the job row, then its printer. */
static const struct db_query Q_JOB_LOCK = {
	"SELECT j.status, j.printer_id, j.print_file_id FROM print_jobs j"
	" WHERE j.account_id = ? AND j.id = ? FOR UPDATE"
};

static const struct db_query Q_FILE_FOR_JOB = {
	"SELECT f.id, f.name, f.print_time_seconds, f.filament_weight_grams, f.filament_type,"
	" f.filament_color, IFNULL(NULLIF(f.printer_model_id, ''), f.printer_model_name)"
	" FROM print_files f WHERE f.account_id = ? AND f.id = ?"
};
static const struct db_query Q_FILE_MODEL = {
	"SELECT IFNULL(NULLIF(f.printer_model_id, ''), f.printer_model_name)"
	" FROM print_files f WHERE f.account_id = ? AND f.id = ?"
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
static const struct db_query Q_PRINTER_BRIEF = {
	"SELECT p.id, p.name, p.model FROM printers p WHERE p.account_id = ? AND p.id = ?"
};
static const struct db_query Q_SKU_FOR_JOB = {
	"SELECT s.id, s.color, s.filament_type, s.product_id, pr.name"
	" FROM product_skus s JOIN products pr ON pr.id = s.product_id"
	" WHERE s.account_id = ? AND s.id = ?"
};
static const struct db_query Q_JOB_INSERT = {
	"INSERT INTO print_jobs (id, account_id, printer_id, print_file_id, product_sku_id,"
	" submitted_by, file_name, status, color, filament_type, material_type, number_of_units,"
	" quantity_per_print, requires_assembly, filament_needed_grams,"
	" estimated_print_time_minutes, progress_percentage, priority, time_submitted, product_id,"
	" product_name, sku_name, printer_model, printer_name, created_at, updated_at)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, 0, 50, NOW(3), ?, ?, ?, ?,"
	" ?, NOW(3), NOW(3))"
};
static const struct db_query Q_JOB_UPDATE = {
	"UPDATE print_jobs SET printer_id = IF(?, ?, printer_id),"
	" printer_name = IF(?, ?, printer_name), printer_model = IF(?, ?, printer_model),"
	" color = IF(?, ?, color), filament_type = IF(?, ?, filament_type),"
	" material_type = IF(?, ?, material_type), number_of_units = IF(?, ?, number_of_units),"
	" quantity_per_print = IF(?, ?, quantity_per_print),"
	" requires_assembly = IF(?, ?, requires_assembly), updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
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

/* ------------------------------------------------------------------------ field tables */

#define JOB_REJECTS                                                   \
	{ "priority", JF_ANY, JF_REJECT, 0, 0, { NULL } },                \
	{ "bambu_job_id", JF_ANY, JF_REJECT, 0, 0, { NULL } },            \
	{ "last_sync_time", JF_ANY, JF_REJECT, 0, 0, { NULL } },          \
	{ "submitted_by", JF_ANY, JF_REJECT, 0, 0, { NULL } },            \
	{ "printer_numeric_id", JF_ANY, JF_REJECT, 0, 0, { NULL } }

/* The fields both enqueue and PATCH take. */
#define JOB_METADATA_FIELDS                                                      \
	{ "printer_id", JF_STRING, JF_NULLABLE, 1, 64, { NULL } },                   \
	{ "color", JF_STRING, 0, 0, 50, { NULL } },                                  \
	{ "filament_type", JF_STRING, 0, 0, 50, { NULL } },                          \
	{ "material_type", JF_STRING, 0, 0, 50, { NULL } },                          \
	{ "number_of_units", JF_INT, 0, 1, 1000000, { NULL } },                      \
	{ "quantity_per_print", JF_INT, 0, 1, 1000000, { NULL } },                   \
	{ "requires_assembly", JF_BOOL, 0, 0, 0, { NULL } }

static const struct jfield F_JOB_CREATE[] = {
	{ "print_file_id", JF_STRING, JF_REQUIRED, 1, 64, { NULL } },
	{ "product_sku_id", JF_STRING, JF_NULLABLE, 1, 64, { NULL } },
	JOB_METADATA_FIELDS,
	JOB_REJECTS,
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield F_JOB_UPDATE[] = {
	JOB_METADATA_FIELDS,
	JOB_REJECTS,
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const char *const job_updatable[] = { "printer_id", "color", "filament_type",
					     "material_type", "number_of_units",
					     "quantity_per_print", "requires_assembly", NULL };
static const struct jfield F_JOB_COMPLETE[] = {
	{ "actual_print_time_minutes", JF_INT, 0, 1, 10000000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};

static const char *const history_statuses[] = { "completed", "failed", "cancelled", NULL };

/* ---------------------------------------------------------------------------- helpers */

#define COPY(dst, res, row, col) \
	snprintf((dst), sizeof(dst), "%s", db_get((res), (row), (col)) ? db_get((res), (row), (col)) : "")

/* A body id names a row only when it is a UUID (else "" = nothing; see normalize_ids in
 * dispatch.c for the same rule on path ids). */
static const char *body_id(const json_t *body, const char *key, char out[UUID_LEN + 1])
{
	const char *v = jhelp_str(body, key);
	out[0] = '\0';
	if (v && util_is_uuid(v))
		for (int i = 0; i <= UUID_LEN; i++)
			out[i] = (char)(v[i] >= 'A' && v[i] <= 'F' ? v[i] - 'A' + 'a' : v[i]);
	return out;
}

/* The detail projection of job id (or JOB_NOT_FOUND). */
static enum api_err job_detail(struct req *r, const char *id, json_t **out)
{
	struct db_res res;
	enum api_err err = req_fetch_one(r, &Q_JOB_GET, DB_ARGS(DS(r->account_id), DS(id)), &res,
					 E_JOB_NOT_FOUND);
	if (err)
		return err;
	*out = jhelp_row(C_JOB, &res, 0, 0);
	jhelp_row_into(*out, C_JOB_DETAIL, &res, 0, JOB_NCOLS);
	db_res_free(&res);
	return E_OK;
}

static enum api_err reply_detail(struct req *r, const char *id)
{
	json_t *out;
	enum api_err err = job_detail(r, id, &out);
	return err ? err : req_ok(r, out);
}

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
	COPY(j->status, res, 0, 0);
	COPY(j->printer_id, res, 0, 1);
	COPY(j->file_id, res, 0, 2);
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

/* The rule's refusal for a job in the wrong state. */
static enum api_err refuse(struct req *r, const struct job_rule *rule, const char *status)
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
	return err;
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
		COPY(p->status, &res, 0, 5);
		COPY(p->hub_id, &res, 0, 6);
		p->active = db_get_int(&res, 0, 7, 1) != 0;
		p->maintenance = db_get_int(&res, 0, 8, 0) != 0;
		COPY(p->model, &res, 0, 9);
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

/* "Hub refused ..." style message for a failed outcome. */
static enum api_err outcome_fail(struct req *r, enum hubcmd_outcome o, const char *action,
				 unsigned timeout_ms, const char *code, const char *message)
{
	enum api_err err = hubcmd_outcome_err(o);
	switch (o) {
	case HC_FAILED:
		return req_fail(r, err, "Hub refused %s: %s%s%s; the change was reverted", action,
				code[0] ? code : "FAILED", message[0] ? " - " : "", message);
	case HC_HUB_OFFLINE:
		return req_fail(r, err, "Hub went offline before acknowledging %s; the change was"
				" reverted", action);
	case HC_TIMEOUT:
		return req_fail(r, err, "Hub did not acknowledge %s within %u s; the change is"
				" reverted", action, timeout_ms / 1000);
	case HC_ACKED:
		break;
	}
	return E_OK;
}

/* Waits for the ACK of an awaited command; E_OK when acked, else the error (message set). */
static enum api_err await_command(struct req *r, struct hubcmd *c)
{
	enum hubcmd_outcome o;
	char code[64] = "", message[300] = "";
	enum api_err err = hubcmd_wait(r->db, c->command_id, c->timeout_ms, &o, code, sizeof code,
				       message, sizeof message);
	if (err)
		return err;
	return outcome_fail(r, o, c->action, c->timeout_ms, code, message);
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
		COPY(f->name, &res, 0, 0);
		COPY(f->format, &res, 0, 1);
		COPY(f->model, &res, 0, 2);
		f->print_time_s = db_get_int(&res, 0, 3, -1);
		f->layers = db_get_int(&res, 0, 4, -1);
		COPY(f->version_id, &res, 0, 5);
		COPY(f->storage_key, &res, 0, 6);
		f->size = db_get_int(&res, 0, 7, -1);
		COPY(f->sha256, &res, 0, 8);
		COPY(f->model_id, &res, 0, 9);
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

/* print.start params (hub-protocol §5.2) with a new download token (§9). */
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

/* ------------------------------------------------------------------- generic job action */

/* A deadlock or lock-wait timeout against another transaction (the worker claiming commands,
 * a hub event) rolled ours back entirely: it is safe to run the action again. */
static int lock_conflict(struct req *r, enum api_err err)
{
	unsigned e = db_errno(r->db);
	if (err != E_INTERNAL_ERROR || (e != 1213 && e != 1205))
		return 0;
	r->errmsg[0] = '\0';
	return 1;
}
#define LOCK_ATTEMPTS 3

/* start, pause, resume, stop, cancel: the rule of `action` applied to the path's job. */
static enum api_err job_action_once(struct req *r, const char *action)
{
	const struct job_rule *rule = states_job_rule(action);
	struct job_state j;
	struct printer_lock p;
	struct start_file f;
	struct hubcmd c;
	char token[HUBFILE_TOKEN_LEN + 1] = "", token_hash[SHA256_HEX_LEN + 1];
	long long token_exp = 0;
	json_t *params = NULL;
	const char *printer_from = "";
	int starting = strcmp(action, "start") == 0, sent = 0, send = 0;
	memset(&f, 0, sizeof f);
	memset(&c, 0, sizeof c);

	enum api_err err = db_begin(r->db);
	if (err)
		return err;
	if ((err = lock_job_printer(r, &j, &p)) != E_OK)
		goto fail;
	if (!states_job_allows(rule, j.status)) {
		err = refuse(r, rule, j.status);
		goto fail;
	}
	send = states_job_sends(rule, j.status);
	/* the start's file (a plain read): the transition records its version */
	if (starting && send && rule->hub_wait && (err = load_start_file(r, j.file_id, &f)) != E_OK)
		goto fail;
	err = apply_transition(r, rule, &j, starting && f.version_id[0] ? f.version_id : NULL, 0);
	if (err)
		goto fail;
	if (send && rule->hub_wait) {
		/* configuration, in decisions.md order */
		if (!j.printer_id[0]) {
			err = req_fail(r, E_NO_PRINTER_ASSIGNED, "Job has no printer assigned;"
				       " assign one with PATCH /v1/jobs/%s", j.id);
			goto fail;
		}
		if (!p.found) {
			err = req_fail(r, E_PRINTER_NOT_FOUND, "The job's printer no longer exists");
			goto fail;
		}
		if (starting) {
			if ((err = check_start_file(r, &f)) != E_OK)
				goto fail;
			if (!meta_model_matches(f.model, p.model)) {
				err = req_fail(r, E_PRINTER_MODEL_MISMATCH, "The file was sliced for %s;"
					       " the printer is a %s", f.model, p.model);
				goto fail;
			}
		}
		if (!p.hub_id[0]) {
			err = req_fail(r, E_NO_HUB_ASSIGNED, "The job's printer has no hub assigned");
			goto fail;
		}
		if (starting) {
			char running[64];
			struct db_res res;
			err = db_exec(r->db, &Q_PRINTER_BUSY,
				      DB_ARGS(DS(j.printer_id), DS(j.id),
					      DS(states_job_list(JOBS_RUNNING, running, sizeof running))),
				      &res);
			if (err)
				goto fail;
			long long busy = db_get_int(&res, 0, 0, 0);
			db_res_free(&res);
			char why[64] = "";
			if (!p.active)
				snprintf(why, sizeof why, "is inactive");
			else if (p.maintenance || strcmp(p.status, "maintenance") == 0)
				snprintf(why, sizeof why, "is in maintenance");
			else if (busy > 0)
				snprintf(why, sizeof why, "is running another job");
			else if (strcmp(p.status, "idle") != 0 &&
				 !(strcmp(p.status, "offline") == 0 && !p.hub_live))
				snprintf(why, sizeof why, "is %s", p.status);
			if (why[0]) {
				err = req_fail(r, E_PRINTER_UNAVAILABLE, "Printer %s", why);
				goto fail;
			}
		}
		if (!p.hub_live) {
			err = req_fail(r, E_HUB_OFFLINE, "The printer's hub is offline");
			goto fail;
		}
	} else if (send) {
		send = p.found && p.hub_id[0] && p.hub_live; /* fire-and-forget: only to a live hub */
	}

	err = printer_effect(r, rule, &j, &p, 0, &printer_from);
	if (err)
		goto fail;

	if (send) {
		if (starting) {
			if (hubfiles_new_token(token) < 0) {
				err = E_INTERNAL_ERROR;
				goto fail;
			}
			token_exp = util_now_ms() + HUBFILE_TOKEN_TTL_MS;
			params = start_params(&j, &f, &p, token, token_exp);
		} else {
			params = json_pack("{s:s}", "job_id", j.id);
		}
		if (!params) {
			err = E_INTERNAL_ERROR;
			goto fail;
		}
		c.account_id = r->account_id;
		c.hub_id = p.hub_id;
		c.printer_id = j.printer_id;
		c.job_id = j.id;
		c.action = rule->hub_action;
		c.params = params;
		c.expect_ack = rule->hub_wait;
		c.awaited = rule->hub_wait;
		c.request_id = r->request_id;
		if (rule->hub_wait) {
			c.revert.job_id = j.id;
			c.revert.job_from = states_job_names[rule->to];
			c.revert.job_to = j.status;
			c.revert.job_clear_started = (rule->stamps & ST_STARTED) != 0;
			c.revert.job_clear_completed = (rule->stamps & ST_COMPLETED) != 0;
			if (printer_from[0]) {
				c.revert.printer_id = j.printer_id;
				c.revert.printer_from = states_printer_names[rule->printer_to];
				c.revert.printer_to = printer_from;
			}
		}
		c.revert.printer_cleared_from = -1;
		err = admit_command(r, &c); /* the account's wait lock last: job, printer, account */
		if (err)
			goto fail;
		if (starting) {
			char exp[24];
			util_sha256_hex(token, strlen(token), token_hash);
			util_ms_to_db(token_exp, exp);
			err = db_exec(r->db, &Q_TOKEN_INSERT,
				      DB_ARGS(DS(token_hash), DS(r->account_id), DS(p.hub_id), DS(j.id),
					      DS(f.version_id), DS(c.command_id), DS(exp)),
				      NULL);
			if (err)
				goto fail;
		}
		sent = 1;
	}
	json_decref(params);
	params = NULL;
	err = db_commit(r->db);
	if (err)
		return err;
	if (sent) {
		queue_wake();
		if (rule->hub_wait) {
			err = await_command(r, &c);
			if (starting)
				db_exec(r->db, &Q_SCRUB_TOKEN, DB_ARGS(DS(c.command_id)), NULL);
			if (err)
				return err;
		}
	}
	return req_ok(r, json_pack("{s:s, s:s?, s:s, s:s?}", "job_id", j.id, "printer_id",
				   j.printer_id[0] ? j.printer_id : NULL, "status",
				   states_job_names[rule->to], "command_id",
				   sent ? c.command_id : NULL));
fail:
	json_decref(params);
	db_rollback(r->db);
	return err;
}

static enum api_err job_action(struct req *r, const char *action)
{
	enum api_err err;
	for (int i = 0; (err = job_action_once(r, action)) != E_OK && i + 1 < LOCK_ATTEMPTS &&
			lock_conflict(r, err);
	     i++)
		;
	return err;
}

/* ---------------------------------------------------------------------------- handlers */

enum api_err jobs_list(struct req *r)
{
	long long limit, offset;
	const char *status = NULL, *printer = NULL, *sku = NULL, *file = NULL;
	req_paging(r, &limit, &offset);
	req_query_enum(r, "status", states_job_names, &status);
	req_query_str(r, "printer_id", 1, 64, &printer);
	req_query_str(r, "product_sku_id", 1, 64, &sku);
	req_query_str(r, "print_file_id", 1, 64, &file);
	if (req_invalid(r))
		return E_VALIDATION_ERROR;
	return req_list_sql(r, &Q_JOBS_LIST,
			    DB_ARGS(DS(r->account_id), DS(status), DS(status), DS(printer), DS(printer),
				    DS(sku), DS(sku), DS(file), DS(file), DI(limit), DI(offset)),
			    C_JOB, limit, offset);
}

/* A date-only `to` ("2026-01-31") includes that whole UTC day. */
static int date_only(const char *s)
{
	return s && strlen(s) == 10;
}

enum api_err jobs_history(struct req *r)
{
	long long limit, offset;
	int64_t from = 0, to = 0;
	const char *status = NULL;
	char dfrom[24], dto[24];
	req_paging(r, &limit, &offset);
	req_query_enum(r, "status", history_statuses, &status);
	int bad = req_query_time(r, "from", &from) | req_query_time(r, "to", &to);
	const char *qf = req_query(r, "from"), *qt = req_query(r, "to");
	if (!bad && qt && date_only(qt))
		to += 86400000LL - 1;
	if (!bad && qf && qt && from > to)
		req_problem(r, "from", "from must not be after to");
	if (req_invalid(r))
		return E_VALIDATION_ERROR;
	util_ms_to_db(from, dfrom);
	util_ms_to_db(to, dto);
	return req_list_sql(r, &Q_JOBS_HISTORY,
			    DB_ARGS(DS(r->account_id), DS(status), DS(status), DS(qf ? dfrom : NULL),
				    DS(qf ? dfrom : NULL), DS(qt ? dto : NULL), DS(qt ? dto : NULL),
				    DI(limit), DI(offset)),
			    C_JOB, limit, offset);
}

enum api_err jobs_stats(struct req *r)
{
	struct db_res res;
	enum api_err err = db_exec(r->db, &Q_JOBS_STATS, DB_ARGS(DS(r->account_id)), &res);
	if (err)
		return err;
	json_t *by = json_object();
	long long total = 0, active = 0, today = 0;
	for (int i = 0; states_job_names[i]; i++)
		json_object_set_new(by, states_job_names[i], json_integer(0));
	for (unsigned long i = 0; i < res.nrows; i++) {
		long long n = db_get_int(&res, i, 1, 0);
		int s = states_job_index(db_get(&res, i, 0));
		if (s < 0)
			continue;
		json_object_set_new(by, states_job_names[s], json_integer(n));
		total += n;
		if (JOBS_RUNNING & JOB_BIT(s))
			active += n;
		today += db_get_int(&res, i, 2, 0);
	}
	db_res_free(&res);
	return req_ok(r, json_pack("{s:o, s:I, s:I, s:I}", "by_status", by, "active",
				   (json_int_t)active, "total", (json_int_t)total, "completed_today",
				   (json_int_t)today));
}

enum api_err jobs_get(struct req *r)
{
	return reply_detail(r, req_param(r, "id"));
}

/* First non-empty of the strings (or ""). */
static const char *first_of(const char *a, const char *b, const char *c)
{
	return a && *a ? a : b && *b ? b : c ? c : "";
}

enum api_err jobs_create(struct req *r)
{
	char file_id[UUID_LEN + 1], printer_id[UUID_LEN + 1], sku_id[UUID_LEN + 1];
	char job_id[UUID_LEN + 1];
	struct db_res fres, pres, sres;
	int have_p = 0, have_s = 0;

	if (req_check_body(r, F_JOB_CREATE))
		return E_VALIDATION_ERROR;
	const json_t *b = r->body;
	body_id(b, "print_file_id", file_id);
	enum api_err err = req_fetch_one(r, &Q_FILE_FOR_JOB, DB_ARGS(DS(r->account_id),
								     DS(file_id)), &fres,
					 E_FILE_NOT_FOUND);
	if (err == E_FILE_NOT_FOUND)
		return req_fail(r, err, "No print file %s in this account",
				jhelp_str(b, "print_file_id"));
	if (err)
		return err;
	if (jhelp_str(b, "printer_id")) {
		err = req_fetch_one(r, &Q_PRINTER_BRIEF,
				    DB_ARGS(DS(r->account_id), DS(body_id(b, "printer_id", printer_id))),
				    &pres, E_PRINTER_NOT_FOUND);
		if (err) {
			db_res_free(&fres);
			return err != E_PRINTER_NOT_FOUND ? err
				: req_fail(r, err, "No printer %s in this account",
					   jhelp_str(b, "printer_id"));
		}
		have_p = 1;
	}
	if (jhelp_str(b, "product_sku_id")) {
		err = req_fetch_one(r, &Q_SKU_FOR_JOB,
				    DB_ARGS(DS(r->account_id),
					    DS(body_id(b, "product_sku_id", sku_id))),
				    &sres, E_SKU_NOT_FOUND);
		if (err) {
			db_res_free(&fres);
			if (have_p)
				db_res_free(&pres);
			return err != E_SKU_NOT_FOUND ? err
				: req_fail(r, err, "No product SKU %s in this account",
					   jhelp_str(b, "product_sku_id"));
		}
		have_s = 1;
	}
	const char *file_model = db_get(&fres, 0, 6);
	if (have_p && !meta_model_matches(file_model, db_get(&pres, 0, 2))) {
		err = req_fail(r, E_PRINTER_MODEL_MISMATCH, "The file was sliced for %s; printer \"%s\""
			       " is a %s", file_model, db_get(&pres, 0, 1), db_get(&pres, 0, 2));
		goto out;
	}

	const char *sku_color = have_s ? db_get(&sres, 0, 1) : NULL;
	const char *sku_type = have_s ? db_get(&sres, 0, 2) : NULL;
	const char *file_type = db_get(&fres, 0, 4);
	const char *color = first_of(jhelp_str(b, "color"), sku_color,
				     first_of(db_get(&fres, 0, 5), NULL, ""));
	const char *ftype = first_of(jhelp_str(b, "filament_type"), sku_type, file_type);
	const char *mtype = first_of(jhelp_str(b, "material_type"), sku_type,
				     first_of(file_type, NULL, "PLA"));
	char sku_name[256] = "";
	if (have_s)
		snprintf(sku_name, sizeof sku_name, sku_type && *sku_type ? "%s (%s)" : "%s",
			 sku_color ? sku_color : "", sku_type ? sku_type : "");
	long long secs = db_get_int(&fres, 0, 2, -1);
	json_t *units = json_object_get(b, "number_of_units");
	json_t *qpp = json_object_get(b, "quantity_per_print");
	if (util_uuid(job_id) < 0) {
		err = E_INTERNAL_ERROR;
		goto out;
	}
	err = db_exec(r->db, &Q_JOB_INSERT,
		      DB_ARGS(DS(job_id), DS(r->account_id), DS(have_p ? db_get(&pres, 0, 0) : NULL),
			      DS(db_get(&fres, 0, 0)), DS(have_s ? db_get(&sres, 0, 0) : NULL),
			      DS(r->user_id[0] ? r->user_id : NULL), DS(db_get(&fres, 0, 1)),
			      DS(color), DS(ftype), DS(mtype),
			      DI(units ? json_integer_value(units) : 1),
			      DI(qpp ? json_integer_value(qpp) : 1),
			      DI(json_is_true(json_object_get(b, "requires_assembly"))),
			      DS(db_get(&fres, 0, 3)), secs >= 0 ? DI((secs + 59) / 60) : DNULL,
			      DS(have_s ? db_get(&sres, 0, 3) : NULL),
			      DS(have_s ? db_get(&sres, 0, 4) : NULL), DS(have_s ? sku_name : NULL),
			      DS(have_p ? db_get(&pres, 0, 2) : NULL),
			      DS(have_p ? db_get(&pres, 0, 1) : NULL)),
		      NULL);
out:
	db_res_free(&fres);
	if (have_p)
		db_res_free(&pres);
	if (have_s)
		db_res_free(&sres);
	if (err)
		return err;
	json_t *out;
	err = job_detail(r, job_id, &out);
	return err ? err : req_created(r, out);
}

/* (present flag, value) argument pairs of an optional PATCH field. */
#define PATCH_STR(body, key) \
	DI(json_object_get(body, key) != NULL), DS(json_string_value(json_object_get(body, key)))
#define PATCH_INT(body, key) \
	DI(json_object_get(body, key) != NULL), DI(json_integer_value(json_object_get(body, key)))

enum api_err jobs_update(struct req *r)
{
	struct db_res res;
	char status[16], cur_printer[UUID_LEN + 1], file_id[UUID_LEN + 1];
	char printer_id[UUID_LEN + 1], pname[121] = "", pmodel[121] = "";
	int has = 0;

	if (req_check_body(r, F_JOB_UPDATE))
		return E_VALIDATION_ERROR;
	for (int i = 0; job_updatable[i]; i++)
		has |= json_object_get(r->body, job_updatable[i]) != NULL;
	if (!has)
		return req_fail(r, E_NO_UPDATES, "Nothing to update: send printer_id, color,"
				" filament_type, material_type, number_of_units, quantity_per_print"
				" or requires_assembly");
	const char *id = req_param(r, "id");
	enum api_err err = req_fetch_one(r, &Q_JOB_LOCK, DB_ARGS(DS(r->account_id), DS(id)), &res,
					 E_JOB_NOT_FOUND);
	if (err)
		return err;
	COPY(status, &res, 0, 0);
	COPY(cur_printer, &res, 0, 1);
	COPY(file_id, &res, 0, 2);
	db_res_free(&res);
	const struct job_rule *rule = states_job_rule("patch");
	if (!states_job_allows(rule, status))
		return refuse(r, rule, status);

	json_t *pv = json_object_get(r->body, "printer_id");
	int set_printer = pv != NULL;
	if (pv && !json_is_null(pv)) {
		err = req_fetch_one(r, &Q_PRINTER_BRIEF,
				    DB_ARGS(DS(r->account_id), DS(body_id(r->body, "printer_id",
									   printer_id))),
				    &res, E_PRINTER_NOT_FOUND);
		if (err)
			return err != E_PRINTER_NOT_FOUND ? err
				: req_fail(r, err, "No printer %s in this account",
					   json_string_value(pv));
		COPY(printer_id, &res, 0, 0);
		COPY(pname, &res, 0, 1);
		COPY(pmodel, &res, 0, 2);
		db_res_free(&res);
	} else {
		printer_id[0] = '\0';
	}
	if (set_printer && strcmp(printer_id, cur_printer) == 0)
		set_printer = 0; /* same printer: nothing to check or change */
	if (set_printer) {
		const struct job_rule *reassign = states_job_rule("reassign");
		if (!states_job_allows(reassign, status))
			return refuse(r, reassign, status);
		if (printer_id[0]) {
			char model[201] = "";
			if (db_exec(r->db, &Q_FILE_MODEL, DB_ARGS(DS(r->account_id), DS(file_id)),
				    &res) == E_OK) {
				COPY(model, &res, 0, 0);
				db_res_free(&res);
			}
			if (!meta_model_matches(model, pmodel))
				return req_fail(r, E_PRINTER_MODEL_MISMATCH, "The file was sliced for %s;"
						" printer \"%s\" is a %s", model, pname, pmodel);
		}
	}
	const char *np = printer_id[0] ? printer_id : NULL;
	err = db_exec(r->db, &Q_JOB_UPDATE,
		      DB_ARGS(DI(set_printer), DS(np), DI(set_printer), DS(np ? pname : NULL),
			      DI(set_printer), DS(np ? pmodel : NULL), PATCH_STR(r->body, "color"),
			      PATCH_STR(r->body, "filament_type"), PATCH_STR(r->body, "material_type"),
			      PATCH_INT(r->body, "number_of_units"),
			      PATCH_INT(r->body, "quantity_per_print"),
			      DI(json_object_get(r->body, "requires_assembly") != NULL),
			      DI(json_is_true(json_object_get(r->body, "requires_assembly"))),
			      DS(r->account_id), DS(id)),
		      NULL);
	return err ? err : reply_detail(r, id);
}

enum api_err jobs_start(struct req *r)
{
	return job_action(r, "start");
}

enum api_err jobs_pause(struct req *r)
{
	return job_action(r, "pause");
}

enum api_err jobs_resume(struct req *r)
{
	return job_action(r, "resume");
}

enum api_err jobs_stop(struct req *r)
{
	return job_action(r, "stop");
}

enum api_err jobs_cancel(struct req *r)
{
	return job_action(r, "cancel");
}

enum api_err jobs_retry(struct req *r)
{
	const struct job_rule *rule = states_job_rule("retry");
	struct job_state j;
	enum api_err err = load_job(r, &j);
	if (err)
		return err;
	if (!states_job_allows(rule, j.status))
		return refuse(r, rule, j.status);
	err = apply_transition(r, rule, &j, NULL, 0);
	if (err)
		return err;
	return reply_detail(r, j.id);
}

/* printing → completed exactly once: only the request whose compare-and-set wins moves the
 * printer, the stock and queues job_completed, all in one transaction. */
static enum api_err complete_once(struct req *r)
{
	const struct job_rule *rule = states_job_rule("complete");
	struct job_state j;
	struct printer_lock p;
	const char *printer_from;
	json_t *given = json_object_get(r->body, "actual_print_time_minutes");
	enum api_err err = db_begin(r->db);
	if (err)
		return err;
	if ((err = lock_job_printer(r, &j, &p)) != E_OK)
		goto fail;
	if (r->body && req_check_body(r, F_JOB_COMPLETE)) {
		err = E_VALIDATION_ERROR;
		goto fail;
	}
	if (!states_job_allows(rule, j.status)) {
		err = refuse(r, rule, j.status);
		goto fail;
	}
	if ((err = apply_transition(r, rule, &j, NULL, given ? json_integer_value(given) : 0)) !=
	    E_OK)
		goto fail;
	if ((err = printer_effect(r, rule, &j, &p, job_actual(r, j.id),
				  &printer_from)) != E_OK ||
	    (err = stock_job_completed(r->db, r->account_id, j.id, NULL)) != E_OK)
		goto fail;
	err = db_commit(r->db);
	if (err)
		return err;
	queue_wake();
	return reply_detail(r, j.id);
fail:
	db_rollback(r->db);
	return err;
}

enum api_err jobs_complete(struct req *r)
{
	enum api_err err;
	for (int i = 0;
	     (err = complete_once(r)) != E_OK && i + 1 < LOCK_ATTEMPTS && lock_conflict(r, err); i++)
		;
	return err;
}
