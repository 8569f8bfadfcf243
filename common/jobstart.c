/* jobstart.c - the start of a print job, shared by the API and the dispatcher (jobstart.h). */
#include "jobstart.h"

#include "b64.h"
#include "cfg.h"
#include "jhelp.h"
#include "meta.h"
#include "sqlfrag.h"
#include "states.h"
#include "storage.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The dispatcher's job: still queued and unassigned, locked first (the order everywhere). */
static const struct db_query Q_JS_CLAIM = {
	"SELECT status, printer_id IS NULL FROM print_jobs WHERE account_id = ? AND id = ?"
	" FOR UPDATE"
};
static const struct db_query Q_JS_ASSIGN = {
	"UPDATE print_jobs j JOIN printers p ON p.id = ? AND p.account_id = j.account_id"
	" SET j.printer_id = p.id, j.printer_name = p.name, j.printer_model = p.model,"
	" j.updated_at = NOW(3) WHERE j.account_id = ? AND j.id = ? AND j.printer_id IS NULL"
};
/* The job and its printer, both locked for the rest of the transaction, so two starts on one
 * printer are serialised and the second sees the first's job. The hub's liveness comes from a
 * scalar subquery, which MariaDB reads without locking the hubs row. */
static const struct db_query Q_JS_LOCK = {
	"SELECT j.status, j.printer_id, j.print_file_id, j.plate,"
	" p.id, p.status, p.hub_id, p.is_active, p.in_maintenance, p.model, p.has_ams,"
	" (SELECT " HUB_LIVE_SQL("h") " FROM hubs h WHERE h.id = p.hub_id)"
	" FROM print_jobs j LEFT JOIN printers p ON p.id = j.printer_id AND p.account_id = j.account_id"
	" WHERE j.account_id = ? AND j.id = ? FOR UPDATE"
};
static const struct db_query Q_JS_FILE = {
	"SELECT f.name, f.file_format, IFNULL(NULLIF(f.printer_model_id, ''), f.printer_model_name),"
	" f.print_time_seconds, f.layer_count, v.id, IFNULL(v.storage_key, f.storage_key),"
	" IFNULL(v.file_size_bytes, f.file_size_bytes), IFNULL(v.sha256, f.sha256),"
	" NULLIF(f.printer_model_id, '')"
	" FROM print_files f LEFT JOIN print_file_versions v"
	" ON v.print_file_id = f.id AND v.is_current_version = 1"
	" WHERE f.account_id = ? AND f.id = ?"
};
static const struct db_query Q_JS_BUSY = {
	"SELECT COUNT(*) FROM print_jobs o WHERE o.printer_id = ? AND o.id <> ?"
	" AND FIND_IN_SET(o.status, ?)"
};
/* The start's compare-and-set on the state read (states.c row "start": ST_STARTED). */
static const struct db_query Q_JS_START = {
	"UPDATE print_jobs SET status = ?, time_started = NOW(3),"
	" print_file_version_id = IFNULL(?, print_file_version_id), updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ? AND status = ?"
};
static const struct db_query Q_JS_TOKEN = {
	"INSERT INTO hub_file_tokens (token_hash, account_id, hub_id, job_id, file_version_id,"
	" command_id, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
};
static const struct db_query Q_JS_SCRUB = {
	"UPDATE hub_commands SET params = JSON_REMOVE(params, '$.file.token')"
	" WHERE command_id = ? AND JSON_EXISTS(params, '$.file.token')"
};

struct js_file {
	char name[256], format[16], model[201], model_id[101];
	long long print_time_s, layers, size;
	char storage_key[513], sha256[SHA256_HEX_LEN + 1];
	int found;
};

static enum api_err refuse(struct jobstart *s, enum api_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum api_err refuse(struct jobstart *s, enum api_err err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->message, sizeof s->message, fmt, ap);
	va_end(ap);
	return err;
}

int jobstart_new_token(char *out)
{
	return b64_random_token(32, out, HUBFILE_TOKEN_LEN + 1);
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
	for (const char *c = name; *c && n + 1 < sizeof clean; c++) {
		char ch = *c;
		int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			 (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
		clean[n++] = ok ? ch : '_';
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

enum api_err jobstart_lock(struct db *db, const char *account_id, const char *job_id,
			   struct job_lock *l)
{
	struct db_res res;
	memset(l, 0, sizeof *l);
	enum api_err err = db_exec(db, &Q_JS_LOCK, DB_ARGS(DS(account_id), DS(job_id)), &res);
	if (err)
		return err;
	if (res.nrows != 1) {
		db_res_free(&res);
		return E_JOB_NOT_FOUND;
	}
	DB_COPY(l->status, &res, 0, 0);
	DB_COPY(l->printer_id, &res, 0, 1);
	DB_COPY(l->file_id, &res, 0, 2);
	l->plate = (int)db_get_int(&res, 0, 3, 1);
	if (db_get(&res, 0, 4)) {
		l->found = 1;
		DB_COPY(l->pstatus, &res, 0, 5);
		DB_COPY(l->hub_id, &res, 0, 6);
		l->active = db_get_int(&res, 0, 7, 1) != 0;
		l->maintenance = db_get_int(&res, 0, 8, 0) != 0;
		DB_COPY(l->model, &res, 0, 9);
		l->has_ams = db_get_int(&res, 0, 10, 0) != 0;
		l->hub_live = l->hub_id[0] && db_get_int(&res, 0, 11, 0) != 0;
	}
	db_res_free(&res);
	return E_OK;
}

static enum api_err lock_job(struct jobstart *s, struct job_lock *j)
{
	enum api_err err = jobstart_lock(s->db, s->account_id, s->job_id, j);
	if (!err) {
		memcpy(s->printer_id, j->printer_id, sizeof s->printer_id);
		memcpy(s->hub_id, j->hub_id, sizeof s->hub_id);
	}
	return err;
}

/* The dispatcher's assignment: the job still queued and unassigned gets the printer. */
static enum api_err assign(struct jobstart *s)
{
	struct db_res res;
	enum api_err err = db_exec(s->db, &Q_JS_CLAIM, DB_ARGS(DS(s->account_id), DS(s->job_id)),
				   &res);
	if (err)
		return err;
	int ok = res.nrows == 1 && strcmp(db_get(&res, 0, 0), "queued") == 0 &&
		 db_get_int(&res, 0, 1, 0) == 1;
	int found = res.nrows == 1;
	db_res_free(&res);
	if (!found)
		return E_JOB_NOT_FOUND;
	if (!ok)
		return refuse(s, E_JOB_STATE_CHANGED, "The job is no longer queued and unassigned");
	err = db_exec(s->db, &Q_JS_ASSIGN,
		      DB_ARGS(DS(s->assign_printer), DS(s->account_id), DS(s->job_id)), NULL);
	if (!err && db_affected(s->db) != 1)
		return refuse(s, E_PRINTER_NOT_FOUND, "The printer no longer exists");
	return err;
}

static enum api_err load_file(struct jobstart *s, const char *file_id, struct js_file *f)
{
	struct db_res res;
	memset(f, 0, sizeof *f);
	if (!file_id[0])
		return E_OK;
	enum api_err err = db_exec(s->db, &Q_JS_FILE, DB_ARGS(DS(s->account_id), DS(file_id)),
				   &res);
	if (err)
		return err;
	if (res.nrows == 1) {
		f->found = 1;
		DB_COPY(f->name, &res, 0, 0);
		DB_COPY(f->format, &res, 0, 1);
		DB_COPY(f->model, &res, 0, 2);
		f->print_time_s = db_get_int(&res, 0, 3, -1);
		f->layers = db_get_int(&res, 0, 4, -1);
		DB_COPY(s->version_id, &res, 0, 5);
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
static enum api_err check_file(struct jobstart *s, struct js_file *f)
{
	uint64_t size;
	if (!f->found)
		return refuse(s, E_FILE_NOT_FOUND, "The job's print file no longer exists");
	if (!s->version_id[0] || !f->storage_key[0] ||
	    storage_stat(f->storage_key, &size) != STORAGE_OK)
		return refuse(s, E_FILE_NOT_FOUND, "The job's print file has no stored content");
	if (f->size < 0 || strlen(f->sha256) != SHA256_HEX_LEN) {
		if (storage_sha256(f->storage_key, f->sha256, &size) != STORAGE_OK)
			return refuse(s, E_FILE_NOT_FOUND, "The job's print file cannot be read");
		f->size = (long long)size;
	}
	return E_OK;
}

/* The configuration, in the documented order after the job's state: printer, file, model,
 * hub, the printer being free, the hub being live. */
static enum api_err check_ready(struct jobstart *s, const struct job_lock *j, struct js_file *f)
{
	if (!s->printer_id[0])
		return refuse(s, E_NO_PRINTER_ASSIGNED, "Job has no printer assigned; assign one"
			      " with PATCH /v1/jobs/%s", s->job_id);
	if (!j->found)
		return refuse(s, E_PRINTER_NOT_FOUND, "The job's printer no longer exists");
	enum api_err err = check_file(s, f);
	if (err)
		return err;
	if (!meta_model_matches(f->model, j->model))
		return refuse(s, E_PRINTER_MODEL_MISMATCH, "The file was sliced for %s; the printer is"
			      " a %s", f->model, j->model);
	if (!s->hub_id[0])
		return refuse(s, E_NO_HUB_ASSIGNED, "The job's printer has no hub assigned");
	char running[64];
	struct db_res res;
	err = db_exec(s->db, &Q_JS_BUSY,
		      DB_ARGS(DS(s->printer_id), DS(s->job_id),
			      DS(states_job_list(JOBS_RUNNING, running, sizeof running))),
		      &res);
	if (err)
		return err;
	long long busy = db_get_int(&res, 0, 0, 0);
	db_res_free(&res);
	const char *why = NULL;
	if (!j->active)
		why = "is inactive";
	else if (j->maintenance || strcmp(j->pstatus, "maintenance") == 0)
		why = "is in maintenance";
	else if (busy > 0)
		why = "is running another job";
	else if (strcmp(j->pstatus, "idle") != 0 &&
		 !(strcmp(j->pstatus, "offline") == 0 && !j->hub_live))
		return refuse(s, E_PRINTER_UNAVAILABLE, "Printer is %s", j->pstatus);
	if (why)
		return refuse(s, E_PRINTER_UNAVAILABLE, "Printer %s", why);
	if (!j->hub_live)
		return refuse(s, E_HUB_OFFLINE, "The printer's hub is offline");
	return E_OK;
}

/* print.start params with the download token (docs/jobs-and-control.md, POST
 * /jobs/{id}/start; the token: "File delivery to hubs"). */
static json_t *start_params(const struct jobstart *s, const struct job_lock *j,
			    const struct js_file *f)
{
	char origin[512], url[700], fname[80];
	origin_of(cfg_str("base_url", "https://localhost/v1"), origin, sizeof origin);
	snprintf(url, sizeof url, "%s/hub/v1/files/%s", origin, s->version_id);
	printer_file_name(f->name, fname, sizeof fname);
	json_t *file = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:s}", "url", url, "token",
				 s->token, "token_expires_at", (json_int_t)s->token_exp, "name",
				 fname, "format", format_of(f->format, f->name), "size_bytes",
				 (json_int_t)f->size, "sha256", f->sha256);
	json_t *expected = json_pack("{s:s?, s:o, s:o}", "printer_model_id",
				     f->model_id[0] ? f->model_id : NULL, "print_time_s",
				     f->print_time_s >= 0 ? json_integer(f->print_time_s) : json_null(),
				     "total_layers",
				     f->layers >= 0 ? json_integer(f->layers) : json_null());
	json_t *options = json_pack("{s:b, s:b, s:b, s:n}", "bed_leveling", 1, "timelapse", 0,
				    "use_ams", j->has_ams, "ams_mapping");
	return json_pack("{s:s, s:o, s:i, s:o, s:o}", "job_id", s->job_id, "file", file, "plate",
			 j->plate > 0 ? j->plate : 1, "options", options, "expected", expected);
}

enum api_err jobstart_stage(struct jobstart *s)
{
	const struct job_rule *rule = states_job_rule("start");
	struct job_lock j;
	struct js_file f;
	char allowed[64];
	json_decref(s->params);
	s->params = NULL;
	s->message[0] = s->printer_id[0] = s->hub_id[0] = s->version_id[0] = '\0';
	memset(&s->cmd, 0, sizeof s->cmd);
	s->cmd.revert.printer_cleared_from = -1;
	enum api_err err = s->assign_printer ? assign(s) : E_OK;
	if (err || (err = lock_job(s, &j)) != E_OK)
		return err;
	if (!states_job_allows(rule, j.status))
		return refuse(s, rule->refusal, "Cannot start a job that is %s (allowed from: %s)",
			      j.status, states_job_list(rule->from, allowed, sizeof allowed));
	if ((err = load_file(s, j.file_id, &f)) != E_OK)
		return err;
	err = db_exec(s->db, &Q_JS_START,
		      DB_ARGS(DS(states_job_names[rule->to]),
			      DS(s->version_id[0] ? s->version_id : NULL), DS(s->account_id),
			      DS(s->job_id), DS(j.status)),
		      NULL);
	if (!err && db_affected(s->db) != 1)
		return refuse(s, E_JOB_STATE_CHANGED, "The job changed state meanwhile; reload it");
	if (err || (err = check_ready(s, &j, &f)) != E_OK)
		return err;
	if (jobstart_new_token(s->token) < 0)
		return E_INTERNAL_ERROR;
	s->token_exp = util_now_ms() + HUBFILE_TOKEN_TTL_MS;
	if (!(s->params = start_params(s, &j, &f)))
		return E_INTERNAL_ERROR;
	struct hubcmd *c = &s->cmd;
	c->account_id = s->account_id;
	c->request_id = s->request_id;
	c->hub_id = s->hub_id;
	c->printer_id = s->printer_id;
	c->job_id = s->job_id;
	c->action = rule->hub_action;
	c->params = s->params;
	c->expect_ack = 1;
	c->awaited = s->awaited;
	c->revert.job_id = s->job_id;
	c->revert.job_from = states_job_names[rule->to];
	c->revert.job_to = states_job_names[states_job_index(j.status)];
	c->revert.job_clear_started = 1;
	c->revert.job_unassign = s->assign_printer != NULL;
	return E_OK;
}

enum api_err jobstart_token(struct jobstart *s)
{
	char hash[SHA256_HEX_LEN + 1], exp[24];
	util_sha256_hex(s->token, strlen(s->token), hash);
	util_ms_to_db(s->token_exp, exp);
	return db_exec(s->db, &Q_JS_TOKEN,
		       DB_ARGS(DS(hash), DS(s->account_id), DS(s->hub_id), DS(s->job_id),
			       DS(s->version_id), DS(s->cmd.command_id), DS(exp)),
		       NULL);
}

enum api_err jobstart_run(struct jobstart *s)
{
	enum api_err err = jobstart_stage(s);
	if (!err)
		err = hubcmd_insert(s->db, &s->cmd);
	if (!err)
		err = jobstart_token(s);
	return err;
}

void jobstart_done(struct jobstart *s)
{
	json_decref(s->params);
	s->params = NULL;
	s->cmd.params = NULL;
}

enum api_err jobstart_scrub_token(struct db *db, const char *command_id)
{
	return db_exec(db, &Q_JS_SCRUB, DB_ARGS(DS(command_id)), NULL);
}
