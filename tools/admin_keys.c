/* admin_keys.c - apf-admin: API keys (see admin.h). */
#include "admin.h"

#include "apikey.h"
#include "cfg.h"
#include "peer.h"
#include "util.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_PREFIX_SHOWN 12

/* Bit i of apikey_scopes_parse's result is scope_names[i]. */
static const char *const scope_names[] = { "read", "write", "control", NULL };

/* ------------------------------------------------------------------------------- queries */

static const struct db_query Q_KEY_INSERT = {
	"INSERT INTO api_keys (id, account_id, user_id, name, key_hash, key_prefix, scopes,"
	" rate_limit, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
};

/* Revoking twice keeps the first time. */
static const struct db_query Q_KEY_REVOKE = {
	"UPDATE api_keys SET revoked_at = IFNULL(revoked_at, NOW(3)) WHERE id = ?"
};

/* ------------------------------------------------------------------------------ outputs */

static const struct rfield F_KEY[] = {
	COL(id, STR) COL(name, STR) COL(scopes, STR) COL(expires_at, TIME) COL(rate_limit, INT)
	RES_FIELD_END
};

static const struct output OUT_KEY = { F_KEY, " FROM api_keys WHERE id = ?" };

static const struct rfield F_KEY_LIST[] = {
	COL(id, STR) COL(name, STR) COL(key_prefix, STR) COL(scopes, STR) COL(created_at, TIME)
	COL(last_used_at, TIME) COL(expires_at, TIME) COL(revoked_at, TIME) COL(rate_limit, INT)
	COL(user_id, STR) COL(account_id, STR) RES_FIELD_END
};

/* every account's keys without --account */
static const struct output OUT_KEY_LIST = {
	F_KEY_LIST, " FROM api_keys WHERE ? IS NULL OR account_id = ? ORDER BY account_id, created_at, id"
};

static const struct rfield F_KEY_REVOKED[] = {
	COL(id, STR) COL(name, STR) COL(revoked_at, TIME) RES_FIELD_END
};

static const struct output OUT_KEY_REVOKED = { F_KEY_REVOKED, " FROM api_keys WHERE id = ?" };

/* Canonical scope list ("read,write,control" order) of bits into buf. */
static const char *scopes_text(unsigned bits, char *buf, size_t size)
{
	size_t o = 0;
	buf[0] = '\0';
	for (unsigned i = 0; scope_names[i]; i++)
		if (bits & (1u << i))
			o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? "," : "", scope_names[i]);
	return buf;
}

/* ------------------------------------------------------------------------------ API keys */

/* The new key: its row (stores only the key's SHA-256 and a display prefix) and c->out, with
 * the key itself, printed once. scopes is the SET text ("read,write"); rate NULL: default. */
struct key_spec {
	const char *account, *user, *name, *scopes, *rate, *expires;
};

static int key_mint(struct ctx *c, const struct key_spec *k, char id[UUID_LEN + 1])
{
	char key[APIKEY_LEN + 1], hash[SHA256_HEX_LEN + 1], prefix[KEY_PREFIX_SHOWN + 1];
	int rc = EXIT_FAIL;
	if (util_uuid(id) < 0 || apikey_mint(key, hash) < 0) {
		fail("cannot read random bytes");
		goto out;
	}
	memcpy(prefix, key, KEY_PREFIX_SHOWN);
	prefix[KEY_PREFIX_SHOWN] = '\0';
	if (q_exec(c, &Q_KEY_INSERT,
		   DB_ARGS(DS(id), DS(k->account), DS(k->user), DS(k->name), DS(hash), DS(prefix),
			   DS(k->scopes), k->rate ? DI(strtoll(k->rate, NULL, 10)) : DNULL,
			   DS(k->expires)),
		   NULL) ||
	    q_obj(c, &OUT_KEY, DB_ARGS(DS(id)), &c->out))
		goto out;
	if (!c->out) {
		fail("key %s vanished after insert", id);
		goto out;
	}
	split_member(c->out, "scopes");
	json_object_set_new(c->out, "key", json_string(key));
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof key);
	return rc;
}

/* --expires-at as a DATETIME(3) text into buf (NULL when absent); warns when it is past. */
static const char *expires_opt(struct ctx *c, char buf[24])
{
	int64_t ms = 0;
	if (!c->opt[O_EXPIRES_AT])
		return NULL;
	util_iso_parse(c->opt[O_EXPIRES_AT], &ms);
	if (ms <= util_now_ms())
		fprintf(stderr, "apf-admin: warning: --expires-at is in the past: the key is expired "
			"from the start\n");
	util_ms_to_db(ms, buf);
	return buf;
}

int cmd_key_create(struct ctx *c)
{
	char id[UUID_LEN + 1], scopes[32], expires[24];
	unsigned bits = 0;
	apikey_scopes_parse(c->opt[O_SCOPES], &bits); /* validated by the parser */
	struct key_spec k = { c->opt[O_ACCOUNT], c->opt[O_USER], c->opt[O_NAME],
			      scopes_text(bits, scopes, sizeof scopes), c->opt[O_RATE_LIMIT],
			      expires_opt(c, expires) };
	return key_mint(c, &k, id);
}

/* After a key was revoked: the API hosts forget their key records at once (docs/hot-path.md),
 * by the notice "*" to this host's listener (conf peer_listen) and the other API hosts'
 * (api_peers). A host that does not answer drops the key within 0.5 s all the same. */
static void keys_changed(void)
{
	char list[2048];
	snprintf(list, sizeof list, "%s,%s", cfg_str("peer_listen", ""), cfg_str("api_peers", ""));
	int missing = peer_notify(list, "*", 0, peer_now_ms() + 1000);
	if (missing)
		fprintf(stderr, "apf-admin: %d API host(s) did not acknowledge; they stop accepting"
			" the key within 0.5 s\n", missing);
}

/* The spec has no rotation of a key in place (docs/operations.md, "Keys"): rotate = a new key
 * with the old one's account, owner, name, scopes, rate limit and expiry (or --expires-at),
 * and the old key revoked, in one transaction. The new key is printed once. */
static const struct db_query Q_KEY_OLD = {
	"SELECT account_id, user_id, name, scopes, rate_limit, expires_at, revoked_at"
	" FROM api_keys WHERE id = ? FOR UPDATE"
};

int cmd_key_rotate(struct ctx *c)
{
	char id[UUID_LEN + 1], expires[24];
	struct db_res old = { 0 };
	int rc = EXIT_FAIL;
	enum api_err e = db_begin(c->db);
	if (!e)
		e = db_exec(c->db, &Q_KEY_OLD, DB_ARGS(DS(c->arg)), &old);
	if (e) {
		db_failed(c, e);
		goto out;
	}
	if (old.nrows == 0) {
		fail("key not found");
		goto out;
	}
	if (db_get(&old, 0, 6)) {
		fail("key %s was revoked at %s: nothing to rotate (apf-admin key create)", c->arg,
		     db_get(&old, 0, 6));
		goto out;
	}
	const char *exp = expires_opt(c, expires);
	struct key_spec k = { db_get(&old, 0, 0), db_get(&old, 0, 1), db_get(&old, 0, 2),
			      db_get(&old, 0, 3), db_get(&old, 0, 4),
			      exp ? exp : db_get(&old, 0, 5) };
	if (key_mint(c, &k, id) || q_exec(c, &Q_KEY_REVOKE, DB_ARGS(DS(c->arg)), NULL))
		goto out;
	if ((e = db_commit(c->db)) != E_OK) {
		db_failed(c, e);
		goto out;
	}
	json_object_set_new(c->out, "replaces", json_string(c->arg));
	keys_changed();
	rc = 0;
out:
	if (db_in_txn(c->db))
		db_rollback(c->db);
	if (rc) {
		json_decref(c->out);
		c->out = NULL;
	}
	db_res_free(&old);
	return rc;
}

int cmd_key_list(struct ctx *c)
{
	const char *a = c->opt[O_ACCOUNT];
	if (q_list(c, &OUT_KEY_LIST, DB_ARGS(DS(a), DS(a)), &c->out))
		return EXIT_FAIL;
	json_t *data = json_object_get(c->out, "data");
	for (size_t i = 0; i < json_array_size(data); i++)
		split_member(json_array_get(data, i), "scopes");
	return 0;
}

int cmd_key_revoke(struct ctx *c)
{
	if (q_exec(c, &Q_KEY_REVOKE, DB_ARGS(DS(c->arg)), NULL) ||
	    q_obj(c, &OUT_KEY_REVOKED, DB_ARGS(DS(c->arg)), &c->out))
		return EXIT_FAIL;
	if (!c->out)
		return fail("key not found");
	keys_changed();
	return 0;
}
