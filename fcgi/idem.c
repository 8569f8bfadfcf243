#include "idem.h"

#include "admit.h"
#include "cfg.h"
#include "hubaction.h"
#include "log.h"
#include "routes.h"

#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records live 24 hours (docs/idempotency.md). */
#define IDEM_TTL_S (24 * 3600)
/* An in_progress record without a hub command whose claim is older than this is released to
 * the next request with the same key: its owner died (conf idempotency_claim_seconds). */
#define IDEM_CLAIM_S_DEFAULT 600
/* Answers above this are stored without their body (docs/idempotency.md "Limits"). */
#define IDEM_MAX_BODY (4L * 1024 * 1024)

static const struct db_query Q_IDEM_CLAIM = {
	"INSERT INTO idempotency_keys (key_id, idem_key, account_id, fingerprint, state, owner,"
	" claimed_at, created_at, expires_at)"
	" VALUES (?, ?, ?, ?, 'in_progress', ?, NOW(3), NOW(3), NOW(3) + INTERVAL ? SECOND)"
};
static const struct db_query Q_IDEM_READ = {
	"SELECT fingerprint, state, status, body, command_id, owner, expires_at <= NOW(3),"
	" claimed_at < NOW(3) - INTERVAL ? SECOND"
	" FROM idempotency_keys WHERE key_id = ? AND idem_key = ? AND account_id = ?"
};
/* An expired record (not yet purged) is a new one. */
static const struct db_query Q_IDEM_RENEW = {
	"UPDATE idempotency_keys SET fingerprint = ?, state = 'in_progress', owner = ?,"
	" claimed_at = NOW(3), command_id = NULL, status = NULL, body = NULL, created_at = NOW(3),"
	" expires_at = NOW(3) + INTERVAL ? SECOND"
	" WHERE key_id = ? AND idem_key = ? AND expires_at <= NOW(3)"
};
static const struct db_query Q_IDEM_TAKEOVER = {
	"UPDATE idempotency_keys SET owner = ?, claimed_at = NOW(3)"
	" WHERE key_id = ? AND idem_key = ? AND state = 'in_progress' AND owner = ?"
};
static const struct db_query Q_IDEM_STORE = {
	"UPDATE idempotency_keys SET state = 'done', status = ?, body = ?"
	" WHERE key_id = ? AND idem_key = ? AND owner = ? AND state = 'in_progress'"
};
static const struct db_query Q_IDEM_COMMAND = {
	"UPDATE idempotency_keys SET command_id = ?, body = ?"
	" WHERE key_id = ? AND idem_key = ? AND owner = ? AND state = 'in_progress'"
};
static const struct db_query Q_IDEM_RELEASE = {
	"DELETE FROM idempotency_keys"
	" WHERE key_id = ? AND idem_key = ? AND owner = ? AND state = 'in_progress'"
};
static const struct db_query Q_IDEM_OUTCOME = {
	"SELECT status, IFNULL(ack_code, ''), IFNULL(ack_message, ''), action, revert IS NOT NULL,"
	" timeout_ms FROM hub_commands WHERE command_id = ? AND account_id = ?"
};

int idem_check_key(struct req *r)
{
	if (r->method != M_POST && r->method != M_PATCH)
		return 0;
	const char *h = FCGX_GetParam("HTTP_IDEMPOTENCY_KEY", r->fcgi->envp);
	if (!h)
		return 0;
	size_t n = strlen(h);
	int ok = n >= 1 && n < sizeof r->idem.key;
	for (size_t i = 0; ok && i < n; i++)
		ok = h[i] >= 0x20 && h[i] <= 0x7e;
	if (!ok) {
		req_problem(r, "Idempotency-Key",
			    "Idempotency-Key must be 1 to %zu printable ASCII characters",
			    sizeof r->idem.key - 1);
		req_fail(r, E_VALIDATION_ERROR, "Validation failed: Idempotency-Key must be 1 to %zu"
			 " printable ASCII characters", sizeof r->idem.key - 1);
		return -1;
	}
	memcpy(r->idem.key, h, n + 1);
	/* R_RAW bodies are streamed by their handler: their type and length stand in for them */
	const char *ct = FCGX_GetParam("CONTENT_TYPE", r->fcgi->envp);
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", r->fcgi->envp);
	char raw[600];
	int len = snprintf(raw, sizeof raw, "raw\n%.256s\n%.32s", ct ? ct : "", cl ? cl : "");
	util_sha256_hex(raw, (size_t)(len < 0 ? 0 : len), r->idem.body_sha);
	return 0;
}

void idem_body_hash(struct req *r, const char *body, size_t len)
{
	util_sha256_hex(body, len, r->idem.body_sha);
}

/* SHA-256 of method, the URI as sent (path and query) and the body's SHA-256. */
static void fingerprint(struct req *r)
{
	const char *uri = FCGX_GetParam("REQUEST_URI", r->fcgi->envp);
	size_t n = strlen(uri ? uri : "") + 128;
	char *s = malloc(n);
	if (!s) {
		r->idem.fp[0] = '\0';
		return;
	}
	int len = snprintf(s, n, "%s\n%s\n%s", method_name(r->method), uri ? uri : "",
			   r->idem.body_sha);
	util_sha256_hex(s, (size_t)(len < 0 ? 0 : len), r->idem.fp);
	free(s);
}

static enum api_err in_use(struct req *r)
{
	return req_fail(r, E_IDEMPOTENCY_KEY_IN_USE, "A request with this Idempotency-Key is still"
			" in progress; retry after it has been answered");
}

/* The answer of a record whose request died while its hub command was in flight, from the
 * command's row: E_OK with the stored success answer as the replay, the outcome's error, or
 * 409 while the command is not final yet. */
static enum api_err rebuild(struct req *r, const char *command_id, const char *old_owner,
			    const char *pending)
{
	struct db_res res;
	enum api_err err = db_exec(r->db, &Q_IDEM_OUTCOME, DB_ARGS(DS(command_id),
								   DS(r->account_id)), &res);
	if (err)
		return err;
	char status[16], code[64], message[300], action[32];
	DB_COPY(status, &res, 0, 0);
	DB_COPY(code, &res, 0, 1);
	DB_COPY(message, &res, 0, 2);
	DB_COPY(action, &res, 0, 3);
	int reverts = db_get_int(&res, 0, 4, 0) != 0;
	unsigned timeout_ms = (unsigned)db_get_int(&res, 0, 5, 0);
	int found = res.nrows == 1;
	db_res_free(&res);
	if (found && (strcmp(status, "pending") == 0 || strcmp(status, "sent") == 0))
		return in_use(r);
	err = db_exec(r->db, &Q_IDEM_TAKEOVER, DB_ARGS(DS(r->idem.owner), DS(r->key_id),
						       DS(r->idem.key), DS(old_owner)), NULL);
	if (err)
		return err;
	if (db_affected(r->db) != 1)
		return in_use(r); /* another retry rebuilds it */
	r->idem.claimed = r->idem.command = 1;
	req_header(r, "Idempotent-Replayed: true");
	enum hubcmd_outcome o = HC_TIMEOUT;
	if (strcmp(status, "acked") == 0)
		o = HC_ACKED;
	else if (strcmp(status, "failed") == 0)
		o = strcmp(code, "HUB_OFFLINE") == 0 ? HC_HUB_OFFLINE : HC_FAILED;
	if (o != HC_ACKED || !found)
		return hubaction_outcome(r, action, reverts, timeout_ms, o, code, message);
	r->idem.replay = 1;
	r->idem.out_status = 200;
	r->idem.out_body = strdup(pending ? pending : "{\"success\":true,\"data\":null}");
	return r->idem.out_body ? E_OK : E_INTERNAL_ERROR;
}

enum api_err idem_claim(struct req *r)
{
	long claim_s = cfg_int("idempotency_claim_seconds", IDEM_CLAIM_S_DEFAULT);
	if (claim_s < 1)
		claim_s = IDEM_CLAIM_S_DEFAULT;
	fingerprint(r);
	if (!r->idem.fp[0] || util_uuid(r->idem.owner) < 0)
		return E_INTERNAL_ERROR;
	for (int attempt = 0; attempt < 3; attempt++) {
		enum api_err err = db_exec(r->db, &Q_IDEM_CLAIM,
					   DB_ARGS(DS(r->key_id), DS(r->idem.key), DS(r->account_id),
						   DS(r->idem.fp), DS(r->idem.owner), DI(IDEM_TTL_S)),
					   NULL);
		if (err == E_OK) {
			r->idem.claimed = 1;
			return E_OK;
		}
		if (err != E_CONFLICT)
			return err;
		struct db_res res;
		err = db_exec(r->db, &Q_IDEM_READ, DB_ARGS(DI(claim_s), DS(r->key_id),
							   DS(r->idem.key), DS(r->account_id)), &res);
		if (err)
			return err;
		if (res.nrows != 1) { /* purged meanwhile: claim again */
			db_res_free(&res);
			continue;
		}
		char fp[SHA256_HEX_LEN + 1], state[16], command[UUID_LEN + 1], owner[UUID_LEN + 1];
		DB_COPY(fp, &res, 0, 0);
		DB_COPY(state, &res, 0, 1);
		DB_COPY(command, &res, 0, 4);
		DB_COPY(owner, &res, 0, 5);
		int expired = db_get_int(&res, 0, 6, 0) != 0, stale = db_get_int(&res, 0, 7, 0) != 0;
		if (expired) {
			db_res_free(&res);
			err = db_exec(r->db, &Q_IDEM_RENEW,
				      DB_ARGS(DS(r->idem.fp), DS(r->idem.owner), DI(IDEM_TTL_S),
					      DS(r->key_id), DS(r->idem.key)), NULL);
			if (err)
				return err;
			if (db_affected(r->db) == 1) {
				r->idem.claimed = 1;
				return E_OK;
			}
			continue;
		}
		if (strcmp(fp, r->idem.fp) != 0) {
			db_res_free(&res);
			return req_fail(r, E_IDEMPOTENCY_KEY_MISMATCH, "This Idempotency-Key was used"
					" with a different request (method, path, query or body)");
		}
		if (strcmp(state, "done") == 0) {
			const char *body = db_get(&res, 0, 3);
			r->idem.replay = 1;
			r->idem.out_status = (int)db_get_int(&res, 0, 2, 200);
			r->idem.out_body = strdup(body ? body : "{\"success\":true,\"data\":null}");
			db_res_free(&res);
			req_header(r, "Idempotent-Replayed: true");
			return r->idem.out_body ? E_OK : E_INTERNAL_ERROR;
		}
		if (command[0]) {
			char *pending = db_get(&res, 0, 3) ? strdup(db_get(&res, 0, 3)) : NULL;
			db_res_free(&res);
			err = rebuild(r, command, owner, pending);
			free(pending);
			return err;
		}
		db_res_free(&res);
		if (!stale)
			return in_use(r);
		err = db_exec(r->db, &Q_IDEM_TAKEOVER, DB_ARGS(DS(r->idem.owner), DS(r->key_id),
							       DS(r->idem.key), DS(owner)), NULL);
		if (err)
			return err;
		if (db_affected(r->db) == 1) {
			log_warn("request %s: Idempotency-Key claim of a request gone for %ld s taken"
				 " over", r->request_id, claim_s);
			r->idem.claimed = 1;
			return E_OK;
		}
	}
	return in_use(r);
}

static enum api_err store(struct req *r, int status, const char *body)
{
	if (body && strlen(body) > (size_t)IDEM_MAX_BODY)
		body = NULL;
	enum api_err err = db_exec(r->db, &Q_IDEM_STORE,
				   DB_ARGS(DI(status), DS(body), DS(r->key_id), DS(r->idem.key),
					   DS(r->idem.owner)), NULL);
	if (!err && db_affected(r->db) != 1) {
		log_warn("request %s: its Idempotency-Key record was taken over before it was"
			 " stored", r->request_id);
		return E_CONFLICT;
	}
	return err;
}

enum api_err idem_store_txn(struct req *r, int status, const char *body)
{
	if (!r->idem.claimed)
		return E_OK;
	enum api_err err = store(r, status, body);
	r->idem.txn_stored = err == E_OK; /* counts once the transaction commits */
	return err;
}

void idem_hash_body(struct req *r, struct body_reader *b)
{
	if (!r->idem.key[0])
		return;
	if (!r->idem.body_md) {
		r->idem.body_md = EVP_MD_CTX_new();
		if (r->idem.body_md && !EVP_DigestInit_ex(r->idem.body_md, EVP_sha256(), NULL)) {
			EVP_MD_CTX_free(r->idem.body_md);
			r->idem.body_md = NULL;
		}
	}
	b->md = r->idem.body_md;
}

enum api_err idem_claim_streamed(struct req *r)
{
	if (!r->idem.key[0])
		return E_OK;
	unsigned char md[32];
	unsigned len = 0;
	if (!r->idem.body_md || !EVP_DigestFinal_ex(r->idem.body_md, md, &len) || len != 32)
		return E_INTERNAL_ERROR;
	EVP_MD_CTX_free(r->idem.body_md);
	r->idem.body_md = NULL;
	/* SHA-256 of the type and the streamed bytes' hash (hex) */
	const char *ct = FCGX_GetParam("CONTENT_TYPE", r->fcgi->envp);
	char raw[400];
	int n = snprintf(raw, sizeof raw, "stream\n%.256s\n", ct ? ct : "");
	for (unsigned i = 0; i < 32 && n > 0 && (size_t)n + 2 < sizeof raw; i++)
		n += snprintf(raw + n, sizeof raw - (size_t)n, "%02x", md[i]);
	util_sha256_hex(raw, (size_t)(n < 0 ? 0 : n), r->idem.body_sha);
	return idem_claim(r);
}

enum api_err idem_command(struct req *r, const char *command_id, json_t *data)
{
	if (!r->idem.claimed) {
		json_decref(data);
		return E_OK;
	}
	char *body = data ? idem_envelope(data) : NULL;
	json_decref(data);
	enum api_err err = db_exec(r->db, &Q_IDEM_COMMAND,
				   DB_ARGS(DS(command_id), DS(body), DS(r->key_id), DS(r->idem.key),
					   DS(r->idem.owner)), NULL);
	free(body);
	return err;
}

void idem_finish(struct req *r, int status, const char *body)
{
	if (!r->idem.claimed || r->idem.stored)
		return;
	r->idem.stored = 1;
	if ((status >= 500 || status == 429) && !r->idem.command) {
		db_exec(r->db, &Q_IDEM_RELEASE, DB_ARGS(DS(r->key_id), DS(r->idem.key),
							DS(r->idem.owner)), NULL);
		return;
	}
	if (store(r, status, body) != E_OK)
		log_warn("request %s: its answer was not stored under its Idempotency-Key",
			 r->request_id);
}

void idem_free(struct req *r)
{
	free(r->idem.out_body);
	r->idem.out_body = NULL;
	EVP_MD_CTX_free(r->idem.body_md);
	r->idem.body_md = NULL;
}

char *idem_envelope(json_t *data)
{
	json_t *out = json_pack("{s:b, s:O}", "success", 1, "data", data ? data : json_null());
	char *text = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
	json_decref(out);
	return text;
}

int idem_test_fault_at(struct req *r, const char *point)
{
	if (cfg_int("test_fault_hooks", 0) != 1 || !r->fcgi)
		return 0;
	const char *h = FCGX_GetParam("HTTP_X_APF_TEST_FAULT", r->fcgi->envp);
	return h && strcmp(h, point) == 0;
}

void idem_test_fault(struct req *r, const char *point)
{
	if (idem_test_fault_at(r, point)) {
		log_warn("request %s: test fault %s: the child kills itself", r->request_id, point);
		raise(SIGKILL);
	}
}
