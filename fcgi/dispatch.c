#include "dispatch.h"

#include "admit.h"
#include "anscache.h"
#include "apikey.h"
#include "cfg.h"
#include "hot.h"
#include "hubfiles.h"
#include "idem.h"
#include "jbuf.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"
#include "queue.h"
#include "req.h"
#include "routes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The key and, in the same round trip, the client address's failed authentications in the
 * current window: always one row (k.id NULL when no key has that hash). */
static const struct db_query Q_KEY_BY_HASH = {
	"SELECT k.id, k.account_id, IFNULL(k.user_id, ''), k.scopes, k.rate_limit, k.key_hash,"
	" k.revoked_at IS NOT NULL, k.expires_at IS NOT NULL AND k.expires_at <= NOW(3),"
	" IFNULL(f.fails, 0), IFNULL(FLOOR(UNIX_TIMESTAMP(k.expires_at) * 1000), 0)"
	" FROM (SELECT 1) one"
	" LEFT JOIN auth_failures f ON f.addr = ? AND f.window_start = ?"
	" LEFT JOIN api_keys k ON k.key_hash = ?"
};
/* One failure more for the address; LAST_INSERT_ID(expr) hands the new count back. */
static const struct db_query Q_AUTH_FAIL = {
	"INSERT INTO auth_failures (addr, window_start, fails) VALUES (?, ?, 1)"
	" ON DUPLICATE KEY UPDATE fails = LAST_INSERT_ID(fails + 1)"
};
static const struct db_query Q_AUTH_FAIL_PURGE = {
	"DELETE FROM auth_failures WHERE addr = ? AND window_start < ?"
};
static const struct db_query Q_RATE_PURGE = {
	"DELETE FROM rate_windows WHERE key_id = ? AND window_start < ?"
};
/* Adds requests to a key's window: one (a key not remembered) or a block this host leases
 * (fcgi/hot.h); LAST_INSERT_ID(expr) hands the new total back. */
static const struct db_query Q_RATE_ADD = {
	"INSERT INTO rate_windows (key_id, window_start, hits) VALUES (?, ?, ?)"
	" ON DUPLICATE KEY UPDATE hits = LAST_INSERT_ID(hits + VALUES(hits))"
};
static const struct db_query Q_KEY_USED = {
	"UPDATE api_keys SET last_used_at = NOW(3) WHERE id = ?"
};
/* The account's data version (fcgi/anscache.h): one row per account that ever wrote. */
static const struct db_query Q_DATA_VERSION = {
	"SELECT version FROM data_versions WHERE account_id = ?"
};
static const struct db_query Q_DATA_BUMP = {
	"INSERT INTO data_versions (account_id, version) VALUES (?, 1)"
	" ON DUPLICATE KEY UPDATE version = LAST_INSERT_ID(version + 1)"
};

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status >= 500 ? "Internal Server Error" : "OK";
	}
}

int json_text_depth(const char *s, size_t n)
{
	int depth = 0, max = 0, in_str = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return max;
}

char *dispatch_read_body(struct body_reader *b, size_t max, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		return NULL;
	for (;;) {
		if (n == cap) {
			if (cap >= max + 1)
				break;
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		int got = body_read(b, buf + n, (int)(cap - n));
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void parse_query(struct req *r, char *q)
{
	while (q && *q && r->nquery < REQ_MAX_QUERY) {
		char *amp = strchr(q, '&');
		if (amp)
			*amp = '\0';
		if (*q) {
			char *eq = strchr(q, '=');
			if (eq)
				*eq = '\0';
			url_decode(q, 1);
			if (eq)
				url_decode(eq + 1, 1);
			r->query[r->nquery].key = q;
			r->query[r->nquery].value = eq ? eq + 1 : (char *)"";
			r->nquery++;
		}
		q = amp ? amp + 1 : NULL;
	}
}

void dispatch_request_id(FCGX_Request *fr, char out[65])
{
	const char *h = FCGX_GetParam("HTTP_X_REQUEST_ID", fr->envp);
	size_t n = h ? strlen(h) : 0;
	int sane = n > 0 && n <= 64;
	for (size_t i = 0; sane && i < n; i++)
		sane = isalnum((unsigned char)h[i]) || h[i] == '-' || h[i] == '_' || h[i] == '.';
	if (sane)
		memcpy(out, h, n + 1);
	else
		util_uuid(out);
}

/* Failed authentications of one client address (auth_failures, shared by every host): the
 * current fixed window of conf auth_fail_window seconds and its limit (auth_fail_limit, 0 = off). */
struct auth_window {
	char addr[AUTH_ADDR_MAX];
	long limit, seconds;
	int64_t now, start;
};

static void auth_window(struct req *r, struct auth_window *w)
{
	auth_addr(FCGX_GetParam("REMOTE_ADDR", r->fcgi->envp), w->addr);
	w->limit = cfg_int("auth_fail_limit", AUTH_FAIL_LIMIT_DEFAULT);
	w->seconds = cfg_int("auth_fail_window", AUTH_FAIL_WINDOW_DEFAULT);
	if (w->seconds < 1)
		w->seconds = AUTH_FAIL_WINDOW_DEFAULT;
	w->now = (int64_t)time(NULL);
	w->start = w->now - w->now % w->seconds;
}

/* 429 for an address past its limit, until its window ends. */
static enum api_err auth_flooded(struct req *r, const struct auth_window *w)
{
	long retry = (long)(w->start + w->seconds - w->now);
	if (retry < 1)
		retry = 1;
	req_header(r, "Retry-After: %ld", retry);
	return req_fail(r, E_RATE_LIMITED, "Too many failed authentications from this address (%ld"
			" within %ld seconds); retry after %ld seconds", w->limit, w->seconds, retry);
}

/* Counts a failed key (one that cost a lookup) against the address: err, or 429 once past the
 * limit. A failure to count (the MEMORY table full under a wide flood) keeps err. */
static enum api_err auth_failed(struct req *r, const struct auth_window *w, enum api_err err)
{
	if (w->limit <= 0)
		return err;
	if (db_exec(r->db, &Q_AUTH_FAIL, DB_ARGS(DS(w->addr), DI(w->start)), NULL) != E_OK)
		return err;
	long fails = db_affected(r->db) == 1 ? 1 : (long)db_insert_id(r->db);
	if (fails == 1) /* first failure of a window: the address's older windows go */
		db_exec(r->db, &Q_AUTH_FAIL_PURGE, DB_ARGS(DS(w->addr), DI(w->start)), NULL);
	if (hot_enabled())
		hot_fail_note(w->addr, w->start, fails);
	return fails > w->limit ? auth_flooded(r, w) : err;
}

/* A key this host read less than HOT_KEY_TTL_MS ago (fcgi/hot.h): 1 with *err set (E_OK and
 * the principal filled, or 429 for an address this host saw fail too often), 0 to read it. An
 * expired record is read again (the database answers why). */
static int remembered_key(struct req *r, const struct auth_window *w, const char *hash,
			  long *rate_limit, enum api_err *err)
{
	struct hot_key k;
	if (w->limit > 0 && hot_fail_count(w->addr, w->start) >= w->limit) {
		*err = auth_flooded(r, w);
		return 1;
	}
	if (!hot_key_get(hash, &k) || (k.expires_ms && util_now_ms() >= k.expires_ms))
		return 0;
	metrics_hot(MH_KEY_MEMORY);
	memcpy(r->key_id, k.key_id, sizeof r->key_id);
	memcpy(r->account_id, k.account_id, sizeof r->account_id);
	memcpy(r->user_id, k.user_id, sizeof r->user_id);
	memcpy(r->key_hash, k.hash, sizeof r->key_hash);
	r->scopes = k.scopes;
	*rate_limit = k.rate_limit;
	r->key_hot = 1;
	*err = E_OK;
	return 1;
}

/* Authenticates the bearer key: fills the principal or returns an auth error. A malformed or
 * missing header costs no database work and is not counted; a well-formed key is looked up
 * together with its address's failures, and an address past its limit gets 429 whatever key
 * it sends. */
static enum api_err authenticate(struct req *r, long *rate_limit)
{
	char token[APIKEY_LEN + 1], hash[SHA256_HEX_LEN + 1];
	struct db_res res;
	struct auth_window w;
	enum api_err err = apikey_parse_bearer(FCGX_GetParam("HTTP_AUTHORIZATION", r->fcgi->envp),
					       token);
	if (err)
		return err;
	auth_window(r, &w);
	util_sha256_hex(token, APIKEY_LEN, hash);
	int hot = hot_enabled();
	if (hot && remembered_key(r, &w, hash, rate_limit, &err))
		return err;
	err = db_exec(r->db, &Q_KEY_BY_HASH, DB_ARGS(DS(w.addr), DI(w.start), DS(hash)), &res);
	if (err)
		return err;
	if (w.limit > 0 && db_get_int(&res, 0, 8, 0) >= w.limit) {
		db_res_free(&res);
		return auth_flooded(r, &w);
	}
	const char *stored = db_get(&res, 0, 5);
	if (res.nrows != 1 || !db_get(&res, 0, 0) || !stored || strlen(stored) != SHA256_HEX_LEN ||
	    !util_ct_equal(stored, hash, SHA256_HEX_LEN)) {
		db_res_free(&res);
		return auth_failed(r, &w, E_TOKEN_INVALID);
	}
	snprintf(r->key_id, sizeof r->key_id, "%s", db_get(&res, 0, 0));
	snprintf(r->account_id, sizeof r->account_id, "%s", db_get(&res, 0, 1));
	snprintf(r->user_id, sizeof r->user_id, "%s", db_get(&res, 0, 2));
	if (apikey_scopes_parse(db_get(&res, 0, 3), &r->scopes) < 0)
		r->scopes = 0;
	*rate_limit = (long)db_get_int(&res, 0, 4, cfg_int("rate_limit", 120));
	int revoked = db_get_int(&res, 0, 6, 0) != 0, expired = db_get_int(&res, 0, 7, 0) != 0;
	int64_t expires_ms = db_get_int(&res, 0, 9, 0);
	db_res_free(&res);
	if (revoked)
		return auth_failed(r, &w, E_TOKEN_REVOKED);
	if (expired)
		return auth_failed(r, &w, E_TOKEN_EXPIRED);
	snprintf(r->key_hash, sizeof r->key_hash, "%s", hash);
	if (hot) {
		metrics_hot(MH_KEY_DATABASE);
		struct hot_key k;
		memset(&k, 0, sizeof k);
		memcpy(k.hash, hash, sizeof k.hash);
		memcpy(k.key_id, r->key_id, sizeof k.key_id);
		memcpy(k.account_id, r->account_id, sizeof k.account_id);
		memcpy(k.user_id, r->user_id, sizeof k.user_id);
		k.scopes = r->scopes;
		k.rate_limit = *rate_limit;
		k.expires_ms = expires_ms;
		hot_key_put(&k);
		r->key_hot = 1;
	}
	return E_OK;
}

/* Adds n requests to the key's window in rate_windows: the window's new total, or -1 with
 * *err set. */
static long window_add(struct req *r, int64_t ws, long n, enum api_err *err)
{
	*err = db_exec(r->db, &Q_RATE_ADD, DB_ARGS(DS(r->key_id), DI(ws), DI(n)), NULL);
	if (*err)
		return -1;
	long total = db_affected(r->db) == 1 ? n : (long)db_insert_id(r->db);
	if (total == n) {
		/* first request of a window: once a minute per key, record use and drop old windows */
		db_exec(r->db, &Q_KEY_USED, DB_ARGS(DS(r->key_id)), NULL);
		db_exec(r->db, &Q_RATE_PURGE, DB_ARGS(DS(r->key_id), DI(ws)), NULL);
	}
	return total;
}

/* Counts this request against the key's window; sets the X-RateLimit-* headers. A remembered
 * key spends its host's lease (fcgi/hot.h); X-RateLimit-Remaining is then what is left of the
 * window as this host knows it, or, when several hosts may serve the key (conf api_hosts > 1,
 * or another host leased in this window), what is left of this host's lease: never more than
 * the key may still send. */
static enum api_err rate_limit(struct req *r, long limit)
{
	int64_t now = (int64_t)time(NULL);
	int64_t ws = rate_window_start(now);
	long hits, remaining = -1;
	enum api_err err = E_OK;
	struct hot_quota q;
	int rc = r->key_hot ? hot_rate_take(r->key_hash, ws, limit, &q) : 2;
	if (rc == 0) {
		long total = window_add(r, ws, q.block, &err);
		if (total < 0)
			return err;
		metrics_hot(MH_RATE_LEASE);
		rc = hot_rate_lease(r->key_hash, ws, limit, total, &q);
	}
	if (rc == 2) { /* not remembered: every request counted in the database */
		hits = window_add(r, ws, 1, &err);
		if (hits < 0)
			return err;
	} else {
		hits = q.hits;
		if (rc > 0 && (q.shared || cfg_int("api_hosts", 1) > 1))
			remaining = q.unspent;
	}
	struct rate_state s = rate_compute(now, ws, hits, limit);
	if (remaining >= 0 && remaining < s.remaining)
		s.remaining = remaining;
	req_header(r, "X-RateLimit-Limit: %ld", s.limit);
	req_header(r, "X-RateLimit-Remaining: %ld", s.remaining);
	req_header(r, "X-RateLimit-Reset: %lld", (long long)s.reset);
	if (s.limited) {
		req_header(r, "Retry-After: %ld", s.retry_after);
		return req_fail(r, E_RATE_LIMITED, "Rate limit of %ld requests per minute exceeded;"
				" retry after %ld seconds", s.limit, s.retry_after);
	}
	return E_OK;
}

static const char *scope_name(unsigned scope)
{
	return scope == S_READ ? "read" : scope == S_WRITE ? "write" : "control";
}

static enum api_err read_json_body(struct req *r)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", r->fcgi->envp);
	long long want = cl && *cl ? strtoll(cl, NULL, 10) : 0;
	if (want > REQ_MAX_BODY)
		return req_fail(r, E_PAYLOAD_TOO_LARGE, "Request body exceeds %d bytes", REQ_MAX_BODY);
	size_t len = 0;
	struct body_reader br;
	body_reader_init(&br, r->fcgi);
	char *text = dispatch_read_body(&br, REQ_MAX_BODY, &len);
	if (!text)
		return E_INTERNAL_ERROR;
	enum api_err err = E_OK;
	size_t i = 0;
	if (r->idem.key[0])
		idem_body_hash(r, text, len);
	while (i < len && isspace((unsigned char)text[i]))
		i++;
	if (br.timed_out) {
		err = admit_body_timeout(r, &br, "nothing was done");
	} else if (len > REQ_MAX_BODY) {
		err = req_fail(r, E_PAYLOAD_TOO_LARGE, "Request body exceeds %d bytes", REQ_MAX_BODY);
	} else if (i == len) {
		if (r->route->flags & R_BODY)
			r->body = json_object(); /* empty body: field checks name what is missing */
	} else {
		const char *ct = FCGX_GetParam("CONTENT_TYPE", r->fcgi->envp);
		if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
		    (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
			err = req_fail(r, E_INVALID_REQUEST, "Content-Type must be application/json");
		} else if (json_text_depth(text, len) > REQ_MAX_DEPTH) {
			err = req_fail(r, E_INVALID_REQUEST, "JSON nesting deeper than %d levels",
				       REQ_MAX_DEPTH);
		} else {
			json_error_t je;
			r->body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
			if (!r->body)
				err = req_fail(r, E_INVALID_REQUEST, "Invalid JSON at line %d column %d: %s",
					       je.line, je.column, je.text);
		}
	}
	free(text);
	return err;
}

static void send_json(struct req *r, int status, const char *body)
{
	size_t n = body ? strlen(body) : 0;
	FCGX_FPrintF(r->fcgi->out, "Status: %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
		     "Content-Length: %d\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n%s\r\n",
		     status, status_text(status), (int)n, r->request_id, r->headers);
	if (body)
		FCGX_PutStr(body, (int)n, r->fcgi->out);
}

/* The answer's JSON text (malloc'd; NULL when out of memory) and status, for a JSON answer. */
static char *answer_json(struct req *r, enum api_err err, unsigned allow, int *status)
{
	json_t *out;
	if (err == E_OK) {
		*status = r->status ? r->status : 200;
		out = json_pack("{s:b, s:O}", "success", 1, "data", r->data ? r->data : json_null());
		if (r->meta)
			json_object_set(out, "meta", r->meta);
	} else {
		const struct err_info *info = err_get(err);
		if (!info)
			info = err_get(E_INTERNAL_ERROR);
		*status = info->status;
		const char *msg = info->kind == PUBLIC && r->errmsg[0] ? r->errmsg : info->message;
		if (info->kind == INTERNAL || *status >= 500) {
			char path[512];
			log_error("request %s %s %s -> %s%s%s", r->request_id, method_name(r->method),
				  req_log_path(r, path, sizeof path), info->code,
				  r->errmsg[0] ? ": " : "", r->errmsg);
		}
		out = json_pack("{s:b, s:s, s:s}", "success", 0, "code", info->code, "error", msg);
		if (err == E_VALIDATION_ERROR && r->details)
			json_object_set(out, "details", r->details);
		if (r->error_extra)
			json_object_update(out, r->error_extra);
		if (err == E_METHOD_NOT_ALLOWED) {
			char list[64] = "";
			for (int m = 0; m < M__COUNT; m++)
				if (allow & (1u << m))
					snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
						 list[0] ? ", " : "", method_name((enum method)m));
			req_header(r, "Allow: %s", list);
		}
	}
	char *body = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(out);
	return body;
}

/* The success envelope around data that is already JSON text (no tree, no dump). */
static char *answer_text(struct req *r)
{
	struct jbuf b = JBUF_INIT;
	jbuf_puts(&b, "{\"success\":true,\"data\":");
	jbuf_puts(&b, r->data_text);
	if (r->meta) {
		char *meta = json_dumps(r->meta, JSON_COMPACT);
		jbuf_puts(&b, ",\"meta\":");
		jbuf_puts(&b, meta ? meta : "null");
		free(meta);
	}
	jbuf_putc(&b, '}');
	return jbuf_detach(&b);
}

/* A JSON answer's text and status (not for raw answers): the stored one of a replay, else the
 * handler's. */
static char *answer(struct req *r, enum api_err err, unsigned allow, int *status)
{
	if (r->idem.replay && err == E_OK) {
		*status = r->idem.out_status;
		return strdup(r->idem.out_body);
	}
	if (r->cached && err == E_OK) {
		*status = 200;
		char *body = r->cached;
		r->cached = NULL;
		return body;
	}
	if (err == E_OK && r->data_text) {
		*status = r->status ? r->status : 200;
		return answer_text(r);
	}
	return answer_json(r, err, allow, status);
}

/* Writes the answer (also into the request's Idempotency-Key record when it holds one and has
 * not stored it yet); returns its status. */
static int render(struct req *r, enum api_err err, unsigned allow)
{
	int status;
	if (err == E_OK && r->raw && !r->idem.replay) {
		status = r->status ? r->status : 200;
		idem_finish(r, status, NULL);
		FCGX_FPrintF(r->fcgi->out, "Status: %d %s\r\nContent-Type: %s\r\n"
			     "Content-Length: %d\r\nX-Request-Id: %s\r\n%s\r\n", status,
			     status_text(status), r->raw_type, (int)r->raw_len, r->request_id,
			     r->headers);
		FCGX_PutStr(r->raw, (int)r->raw_len, r->fcgi->out);
		return status;
	}
	char *body = answer(r, err, allow, &status);
	if (!body)
		status = 500;
	else if (r->cache_on && err == E_OK && status == 200)
		anscache_put(r->account_id, (unsigned)(r->route - routes),
			     FCGX_GetParam("REQUEST_URI", r->fcgi->envp), r->cache_version,
			     r->cache_made_ms, body, strlen(body));
	idem_finish(r, status, body);
	send_json(r, status, body ? body : "{\"success\":false,\"code\":\"INTERNAL_ERROR\",\"error\":\"Internal error\"}");
	free(body);
	return status;
}

/* Path ids ({id}, {itemId}, ...) are UUIDs. Anything else cannot name a row: it becomes "",
 * which matches nothing, so the handler answers its own 404 without special cases (and the
 * PAD SPACE collation cannot match "<id> " to "<id>"). Valid ones are lower-cased. */
static void normalize_ids(struct req *r)
{
	for (int i = 0; i < r->nparams; i++) {
		const char *name = r->param_names[i];
		size_t n = strcspn(name, "}");
		if (n < 3 || !(strncmp(name + n - 2, "id", 2) == 0 || strncmp(name + n - 2, "Id", 2) == 0))
			continue;
		char *v = r->param_vals[i];
		if (!util_is_uuid(v))
			v[0] = '\0';
		for (; *v; v++)
			*v = (char)tolower((unsigned char)*v);
	}
}

static enum api_err handle(struct req *r)
{
	enum api_err err = r->route->fn(r);
	return err == E_OK && req_invalid(r) ? E_VALIDATION_ERROR : err;
}

enum api_err idem_store_answer(struct req *r)
{
	if (!r->idem.claimed || r->raw)
		return E_OK;
	int status;
	char *body = answer(r, E_OK, 0, &status);
	if (!body)
		return E_INTERNAL_ERROR;
	enum api_err err = idem_store_txn(r, status, body);
	free(body);
	return err;
}

/* An R_TXN route, or any POST/PATCH holding an Idempotency-Key claim (but R_OWNTXN): the
 * handler is one attempt of a transaction (db_txn runs it again after a lock conflict, from an
 * empty answer), and the record's answer commits with the effect. */
static enum api_err handle_in_txn(struct db *db, void *ctx)
{
	struct req *r = ctx;
	(void)db;
	req_reset_answer(r);
	r->idem.txn_stored = 0;
	enum api_err err = handle(r);
	if (err == E_OK && idem_test_fault_at(r, "fail-5xx")) /* test hook: a 5xx, rolled back */
		return req_fail(r, E_SERVICE_UNAVAILABLE, "Test fault fail-5xx");
	return err == E_OK ? idem_store_answer(r) : err;
}

/* The account's data version: the host's (fcgi/hot.h), else read from the table. 0, or -1. */
static int data_version(struct req *r, uint64_t *v, int64_t t)
{
	if (hot_version_get(r->account_id, v))
		return 0;
	struct db_res res;
	if (db_exec(r->db, &Q_DATA_VERSION, DB_ARGS(DS(r->account_id)), &res) != E_OK)
		return -1;
	*v = res.nrows ? (uint64_t)db_get_int(&res, 0, 0, 0) : 0;
	db_res_free(&res);
	hot_version_checked(r->account_id, *v, t);
	metrics_hot(MH_VERSION_READ);
	return 0;
}

/* An R_CACHE read: the account's data version, and the answer stored under it when there is
 * one (1). A request with `Cache-Control: no-cache` is answered afresh (its answer is stored).
 * Without the version nothing is stored. */
static int cached_answer(struct req *r)
{
	int64_t t = peer_now_ms();
	if (data_version(r, &r->cache_version, t) < 0)
		return 0;
	r->cache_on = 1;
	r->cache_made_ms = t;
	const char *cc = FCGX_GetParam("HTTP_CACHE_CONTROL", r->fcgi->envp);
	if (cc && strcasestr(cc, "no-cache"))
		return 0;
	size_t len;
	const char *body = anscache_get(r->account_id, (unsigned)(r->route - routes),
					FCGX_GetParam("REQUEST_URI", r->fcgi->envp), r->cache_version,
					&len);
	if (!body || !(r->cached = malloc(len + 1))) {
		metrics_hot(MH_ANSWER_MADE);
		return 0;
	}
	metrics_hot(MH_ANSWER_STORED);
	memcpy(r->cached, body, len + 1);
	r->cached_len = len;
	r->cache_on = 0; /* given again, not stored again: its age stays */
	return 1;
}

/* After a request that may have written (any method but GET, once its handler ran): the
 * account's data version moves on before the answer is sent, so that no host gives an answer
 * stored before the change to this client's next read (fcgi/anscache.h). Every host bumps it,
 * whether it caches or not. */
static void data_changed(struct req *r)
{
	if (!r->account_id[0] || r->idem.replay)
		return;
	if (db_exec(r->db, &Q_DATA_BUMP, DB_ARGS(DS(r->account_id)), NULL) != E_OK) {
		log_warn("request %s: the account's data version was not moved on; other hosts may"
			 " answer reads from before this change for %d ms", r->request_id,
			 ANSCACHE_TTL_MS);
		return;
	}
	uint64_t v = db_affected(r->db) == 1 ? 1 : (uint64_t)db_insert_id(r->db);
	int64_t committed = peer_now_ms();
	hot_version_seen(r->account_id, v);
	/* the other hosts learn it now, or have read the table again by the deadline */
	const char *peers = cfg_str("api_peers", NULL);
	int missing = peers && *peers ? peer_notify(peers, r->account_id, v,
						    committed + HOT_VERSION_TTL_MS + 5) : 0;
	if (missing)
		metrics_hot(MH_PEER_UNACKED);
	if (missing)
		log_warn("request %s: %d API host(s) did not acknowledge the data-version notice;"
			 " answered after %d ms instead", r->request_id, missing,
			 HOT_VERSION_TTL_MS + 5);
}

static enum api_err run(struct req *r, unsigned *allow)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", r->fcgi->envp);
	const char *uri = FCGX_GetParam("REQUEST_URI", r->fcgi->envp);
	int m = method_parse(method);
	r->method = m < 0 ? M_GET : (enum method)m;
	char *full = strdup(uri ? uri : "/");
	if (!full)
		return E_INTERNAL_ERROR;
	char *q = strchr(full, '?');
	if (q)
		*q++ = '\0';
	if (strncmp(full, "/v1/", 4) != 0 && strcmp(full, "/v1") != 0) {
		free(full);
		return req_fail(r, E_NOT_FOUND, "No such endpoint");
	}
	r->path = strdup(full + 3);
	size_t pl = strlen(r->path);
	if (pl > 1 && r->path[pl - 1] == '/') /* tolerate one trailing slash */
		r->path[--pl] = '\0';
	parse_query(r, q);
	/* parse_query keeps pointers into `full`: it lives until the request ends */
	r->segs = NULL;
	r->route = m < 0 ? NULL : route_match(r, r->method, r->path, allow);
	if (m < 0)
		route_match(r, M_GET, r->path, allow);
	r->query_buf = full;
	if (!r->route) {
		if (*allow)
			return req_fail(r, E_METHOD_NOT_ALLOWED, "%s is not allowed on this path",
					method ? method : "?");
		return req_fail(r, E_NOT_FOUND, "No such endpoint: %s /v1%s", method ? method : "?",
				r->path);
	}
	normalize_ids(r);
	if (r->route->flags & R_PUBLIC)
		return handle(r);
	long limit = 0;
	enum api_err err = authenticate(r, &limit);
	if (err)
		return err;
	err = rate_limit(r, limit);
	if (err)
		return err;
	if (r->route->scope && !(r->scopes & r->route->scope))
		return req_fail(r, E_INSUFFICIENT_SCOPE, "API key missing required scope: %s",
				scope_name(r->route->scope));
	if ((r->route->flags & R_CACHE) && r->method == M_GET && hot_enabled() &&
	    cached_answer(r))
		return E_OK;
	if (idem_check_key(r) < 0)
		return E_VALIDATION_ERROR;
	if (r->route->flags & (R_BODY | R_OPTBODY)) {
		err = read_json_body(r);
		if (err)
			return err;
	}
	/* a streamed body (R_RAW) is claimed by its handler once read (idem_claim_streamed) */
	if (r->idem.key[0] && !(r->route->flags & R_RAW)) {
		err = idem_claim(r);
		if (err || r->idem.replay)
			return err;
	}
	r->idem.txn_stored = 0;
	int wrapped = !(r->route->flags & R_TXN) && r->idem.claimed &&
		      !(r->route->flags & R_OWNTXN);
	if ((r->route->flags & R_TXN) || wrapped)
		err = db_txn(r->db, handle_in_txn, r);
	else
		err = handle(r);
	if (wrapped && err == E_OK)
		queue_wake(); /* a wake the handler gave inside the transaction came before its work */
	/* the answer committed with the effect (R_OWNTXN handlers: in their own transaction) */
	r->idem.stored = err == E_OK && r->idem.txn_stored;
	if (db_in_txn(r->db)) {
		if (err == E_OK)
			err = db_commit(r->db);
		else
			db_rollback(r->db);
	}
	if (r->method != M_GET)
		data_changed(r);
	if (err == E_VALIDATION_ERROR && !r->errmsg[0]) {
		const char *first = NULL;
		json_t *v;
		json_object_foreach(r->details, first, v)
			break;
		req_fail(r, E_VALIDATION_ERROR, "Validation failed%s%s", first ? ": " : "",
			 first ? json_string_value(json_array_get(v, 0)) : "");
	}
	return err;
}

void dispatch(FCGX_Request *fr, struct db *db)
{
	struct req r;
	unsigned allow = 0;
	const char *uri = FCGX_GetParam("REQUEST_URI", fr->envp);
	memset(&r, 0, sizeof r);
	/* one id per request, in the X-Request-Id answer and every log line it causes; one
	 * access line at the end (fcgi/metrics.h, docs/observability.md) */
	dispatch_request_id(fr, r.request_id);
	metrics_begin(r.request_id);
	if (metrics_is_scrape(fr)) {
		metrics_end(metrics_slot(METRICS_SLOT_SCRAPE), metrics_serve(fr, db, r.request_id),
			    NULL, NULL);
		return;
	}
	if (uri && strncmp(uri, "/hub/v1/", 8) == 0) {
		/* the hubs' own routes (file delivery: docs/jobs-and-control.md): token auth, no
		 * API key */
		hubfiles_serve(fr, db);
		if (db_in_txn(db))
			db_rollback(db);
		metrics_end(metrics_slot(METRICS_SLOT_HUBFILES), 0, NULL, NULL);
		return;
	}
	r.fcgi = fr;
	r.db = db;
	enum api_err err = run(&r, &allow);
	idem_test_fault(&r, "after-commit"); /* the effect committed, the answer not sent */
	if (err == E_CONFLICT && !r.errmsg[0])
		req_fail(&r, E_CONFLICT, "Conflicting change");
	int status = render(&r, err, allow);
	if (db_in_txn(db))
		db_rollback(db);
	metrics_end(r.route ? (unsigned)(r.route - routes) : metrics_slot(METRICS_SLOT_UNMATCHED),
		    status, r.key_id, r.account_id);
	json_decref(r.body);
	json_decref(r.data);
	free(r.data_text);
	json_decref(r.meta);
	json_decref(r.details);
	json_decref(r.error_extra);
	free(r.raw);
	free(r.cached);
	free(r.path);
	free(r.segs);
	free(r.query_buf);
	idem_free(&r);
}

enum api_err unbuilt(struct req *r)
{
	return req_fail(r, E_NOT_IMPLEMENTED, "%s /v1%s is not implemented yet",
			method_name(r->route->method), r->route->path);
}
