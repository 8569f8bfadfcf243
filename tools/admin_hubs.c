/* admin_hubs.c - apf-admin: hubs, their broker credentials, and printers (see admin.h). */
#include "admin.h"

#include "b64.h"
#include "dynsec.h"
#include "hubcmd.h"
#include "queue.h"
#include "sqlfrag.h"
#include "util.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#ifndef QUEUE_HUB_COMMANDS
#define QUEUE_HUB_COMMANDS "HUB_COMMANDS"
#endif

#define PRINTER_NAME_MAX 120
#define HUB_PASSWORD_BYTES 32

/* ------------------------------------------------------------------------------- queries */

static const struct db_query Q_HUB_INSERT = {
	"INSERT INTO hubs (id, account_id, name, mqtt_password_hash, claimed_at)"
	" VALUES (?, ?, ?, ?, NOW(3))"
};

/* docs/scale-out.md ("Broker credentials"): a revoked hub keeps its row, not its password */
static const struct db_query Q_HUB_REVOKE = {
	"UPDATE hubs SET mqtt_password_hash = NULL, updated_at = NOW(3) WHERE id = ?"
};

static const struct db_query Q_HUB_SET_ONLINE = {
	"UPDATE hubs SET is_online = ?, last_seen_at = NOW(3), updated_at = NOW(3) WHERE id = ?"
};

static const struct db_query Q_PRINTER_INSERT = {
	"INSERT INTO printers (id, account_id, hub_id, name, model, connection_type, serial_number,"
	" ip_address, access_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
};

/* ------------------------------------------------------------------------------ outputs */

/* The hub's MQTT user name is its id. */
static const struct rfield F_HUB_CREATED[] = {
	COL(id, STR) COL(name, STR) COLX(mqtt_username, "id", STR) RES_FIELD_END
};

static const struct output OUT_HUB_CREATED = { F_HUB_CREATED, " FROM hubs WHERE id = ?" };

static const struct output OUT_HUB_REVOKED = {
	F_HUB_CREATED, " FROM hubs WHERE id = ? AND mqtt_password_hash IS NULL"
};

static const struct rfield F_HUB_OWNER[] = { COL(id, STR) COL(account_id, STR) RES_FIELD_END };

static const struct output OUT_HUB_OWNER = { F_HUB_OWNER, " FROM hubs WHERE id = ?" };

static const struct output OUT_HUB_CREDENTIALED = {
	F_HUB_OWNER, " FROM hubs WHERE mqtt_password_hash IS NOT NULL ORDER BY id"
};

static const struct rfield F_HUB_PRESENCE[] = {
	COL(id, STR) COL(name, STR) COL(is_online, BOOL) COL(last_seen_at, TIME) RES_FIELD_END
};

static const struct output OUT_HUB_PRESENCE = { F_HUB_PRESENCE, " FROM hubs WHERE id = ?" };

/* The API's printer rows (fcgi/printers.def), their RF_ADMIN view: the status a client would
 * see (offline while the hub is not live) plus the hub id and connection type. */
static const struct rfield F_PRINTER[] = {
#define FIELD RES_FIELD
#include "printers.def"
#undef FIELD
	RES_FIELD_END
};
static const struct output OUT_PRINTER = {
	F_PRINTER, " FROM printers p LEFT JOIN hubs h ON h.id = p.hub_id WHERE p.id = ?"
};

/* ------------------------------------------------------------------------------ broker */

/* 32 random bytes as unpadded base64url (43 characters) into out[44]. */
static int hub_password(char out[44])
{
	return b64_random_token(HUB_PASSWORD_BYTES, out, 44);
}

/* ---------------------------------------------------------------------------------- hubs */

/* A change of a hub's broker credential (docs/scale-out.md, "Broker credentials"): its row
 * changed in a transaction that commits only after every broker took the change; when the
 * brokers or the commit fail, the brokers that took it are undone (undo: DS__COUNT when the
 * change cannot be undone). The answer is the hub's `out` row, with the new password when
 * there is one (printed once). */
struct hub_change {
	const char *what;                  /* "hub create", for messages */
	const struct db_query *row;
	const struct db_arg *args;
	unsigned nargs;
	const char *unchanged;             /* the row did not change: this failure; NULL: not checked */
	enum dynsec_op apply, undo;
	const char *password;              /* apply's password and the answer's; NULL: none */
	const char *broker_failed;         /* after the broker's error: what the brokers now hold */
	const char *undo_failed;           /* the warning when undo fails */
	const char *commit_failed;         /* more after a failed commit, or NULL */
	const struct output *out;
};

static int hub_change_run(struct ctx *c, const char *hub, const struct hub_change *h)
{
	char err[512];
	int rc = EXIT_FAIL, applied = 0, committed = 0;
	enum api_err e = db_begin(c->db);
	if (e != E_OK)
		return db_failed(c, e);
	if (q_exec(c, h->row, h->args, h->nargs, NULL))
		goto out;
	if (h->unchanged && db_affected(c->db) == 0) {
		fail("hub %s %s", hub, h->unchanged);
		goto out;
	}
	if (dynsec_apply(h->apply, hub, h->password, err, sizeof err)) {
		fail("%s: %s%s", h->what, err, h->broker_failed);
		goto out;
	}
	applied = 1;
	if ((e = db_commit(c->db)) != E_OK) {
		db_failed(c, e);
		if (h->commit_failed)
			fail("%s", h->commit_failed);
		goto out;
	}
	committed = 1;
	if (q_obj(c, h->out, DB_ARGS(DS(hub)), &c->out) || !c->out)
		goto out;
	if (h->password)
		json_object_set_new(c->out, "mqtt_password", json_string(h->password));
	rc = 0;
out:
	if (!committed) {
		if (db_in_txn(c->db))
			db_rollback(c->db);
		if (applied && h->undo != DS__COUNT &&
		    dynsec_apply(h->undo, hub, NULL, err, sizeof err))
			fprintf(stderr, "apf-admin: warning: hub %s %s: %s\n", hub, h->undo_failed, err);
	}
	return rc;
}

/* 0 when the hub c->arg exists, else EXIT_FAIL after a message. */
static int hub_exists(struct ctx *c)
{
	json_t *hub = NULL;
	if (q_obj(c, &OUT_HUB_OWNER, DB_ARGS(DS(c->arg)), &hub))
		return EXIT_FAIL;
	json_decref(hub);
	return hub ? 0 : fail("hub not found");
}

/* Creates a claimed hub and its broker client (username = client id = hub id) on every broker
 * of mqtt_hosts: when the commit fails, the client is deleted again everywhere. */
int cmd_hub_create(struct ctx *c)
{
	char id[UUID_LEN + 1], password[44], hash[SHA256_HEX_LEN + 1];
	if (util_uuid(id) < 0 || hub_password(password) < 0)
		return fail("cannot read random bytes");
	util_sha256_hex(password, strlen(password), hash);
	const struct hub_change h = {
		.what = "hub create", .row = &Q_HUB_INSERT,
		DB_ARGS(DS(id), DS(c->opt[O_ACCOUNT]), DS(c->opt[O_NAME]), DS(hash)),
		.apply = DS_HUB_CREATE, .undo = DS_HUB_DELETE, .password = password,
		.broker_failed = " (no broker keeps the hub)", .undo_failed = "left on a broker",
		.out = &OUT_HUB_CREATED,
	};
	int rc = hub_change_run(c, id, &h);
	OPENSSL_cleanse(password, sizeof password);
	return rc;
}

/* Revokes a hub's broker credential: its client is disabled on every broker (an open
 * connection is closed at once) and the row forgets the password hash; when the commit fails
 * the brokers are re-enabled. */
int cmd_hub_revoke(struct ctx *c)
{
	if (hub_exists(c))
		return EXIT_FAIL;
	const struct hub_change h = {
		.what = "hub revoke", .row = &Q_HUB_REVOKE, DB_ARGS(DS(c->arg)),
		.apply = DS_HUB_DISABLE, .undo = DS_HUB_ENABLE,
		.broker_failed = " (every broker keeps the hub as it was)",
		.undo_failed = "stays disabled", .out = &OUT_HUB_REVOKED,
	};
	return hub_change_run(c, c->arg, &h);
}

/* Sets up every broker of mqtt_hosts: default ACL access, the backend role and client (conf
 * mqtt_username / mqtt_password, set again where a broker refuses it), and the role of every hub that holds a credential (a client
 * imported from an old password file gets its ACLs here). Idempotent; scripts/stack.sh runs it
 * after the broker started. A hub whose client a broker lacks is listed: re-provision it. */
int cmd_broker_init(struct ctx *c)
{
	const char *user = cfg_str("mqtt_username", NULL), *pw = cfg_str("mqtt_password", NULL);
	struct dynsec_broker b[DYNSEC_MAX_BROKERS];
	char err[512];
	json_t *hubs = NULL;
	int n = dynsec_brokers(b, DYNSEC_MAX_BROKERS, err, sizeof err);
	if (n <= 0)
		return fail("%s", n ? err : "no broker: set mqtt_hosts or mqtt_host");
	if (!user || !pw)
		return fail("mqtt_username / mqtt_password missing in %s", cfg_path());
	if (dynsec_apply(DS_BACKEND, user, pw, err, sizeof err))
		return fail("broker init: %s", err);
	/* a new password closes the backend's connection: set it only where the conf's fails */
	for (int i = 0; i < n; i++)
		if (dynsec_login(&b[i], NULL, user, pw) != 0) {
			if (dynsec_apply(DS_PASSWORD, user, pw, err, sizeof err))
				return fail("broker init: %s", err);
			break;
		}
	if (q_list(c, &OUT_HUB_CREDENTIALED, NULL, 0, &hubs))
		return EXIT_FAIL;
	json_t *rows = json_object_get(hubs, "data"), *row, *missing = json_array();
	size_t i;
	json_array_foreach(rows, i, row) {
		const char *id = jhelp_str(row, "id");
		if (dynsec_apply(DS_HUB_ROLE, id, NULL, err, sizeof err)) {
			fprintf(stderr, "apf-admin: hub %s: %s\n", id, err);
			json_array_append_new(missing, json_string(id));
		}
	}
	c->out = json_pack("{s:i, s:I, s:o}", "brokers", n, "hubs", (json_int_t)json_array_size(rows),
			   "hubs_missing", missing);
	json_decref(hubs);
	return c->out ? 0 : fail("out of memory");
}

/* Queues a discovery request for the hub; the worker turns it into a hub.discover command. */
int cmd_hub_scan(struct ctx *c)
{
	json_t *hub = NULL, *payload = NULL;
	long long job = 0;
	int rc = EXIT_FAIL;
	enum api_err e;

	if (q_obj(c, &OUT_HUB_OWNER, DB_ARGS(DS(c->arg)), &hub))
		goto out;
	if (!hub) {
		fail("hub not found");
		goto out;
	}
	if (!jhelp_str(hub, "account_id")) {
		fail("hub %s is not claimed by an account", c->arg);
		goto out;
	}
	payload = json_pack("{s:s}", "hub_id", c->arg);
	e = queue_push(c->db, QUEUE_HUB_COMMANDS, "hub.discover", jhelp_str(hub, "account_id"),
		       payload, NULL, 0, &job);
	if (e) {
		db_failed(c, e);
		goto out;
	}
	queue_wake();
	c->out = json_pack("{s:I,s:s,s:s,s:s,s:O}", "id", (json_int_t)job, "queue",
			   QUEUE_HUB_COMMANDS, "type", "hub.discover", "hub_id", c->arg,
			   "payload", payload);
	rc = c->out ? 0 : fail("out of memory");
out:
	json_decref(hub);
	json_decref(payload);
	return rc;
}

/* Sets presence by hand (tests and demos without a hub link); last_seen_at = now. */
int cmd_hub_set_online(struct ctx *c)
{
	if (q_exec(c, &Q_HUB_SET_ONLINE, DB_ARGS(DI(c->opt[O_OFFLINE] ? 0 : 1), DS(c->arg)), NULL) ||
	    q_obj(c, &OUT_HUB_PRESENCE, DB_ARGS(DS(c->arg)), &c->out))
		return EXIT_FAIL;
	return c->out ? 0 : fail("hub not found");
}

/* ------------------------------------------------------------------------------ printers */

int cmd_printer_create(struct ctx *c)
{
	char id[UUID_LEN + 1];
	const char *conn = c->opt[O_CONNECTION] ? c->opt[O_CONNECTION] : "bambu";
	if (strlen(c->opt[O_NAME]) > PRINTER_NAME_MAX)
		return fail("--name: a printer name has at most %d characters", PRINTER_NAME_MAX);
	if (util_uuid(id) < 0)
		return fail("cannot read random bytes");
	enum api_err e = db_begin(c->db);
	if (e)
		return db_failed(c, e);
	if (q_exec(c, &Q_PRINTER_INSERT,
		   DB_ARGS(DS(id), DS(c->opt[O_ACCOUNT]), DS(c->opt[O_HUB]), DS(c->opt[O_NAME]),
			   DS(c->opt[O_MODEL]), DS(conn), DS(c->opt[O_SERIAL]), DS(c->opt[O_IP]),
			   DS(c->opt[O_ACCESS_CODE])),
		   "a printer with this name already exists in this account (DUPLICATE_NAME)")) {
		db_rollback(c->db);
		return EXIT_FAIL;
	}
	/* The hub learns of its new printer at once (printer.configure `add`, docs/hub-link.md;
	 * the worker puts in the stored printer with its secrets when it publishes). An offline
	 * hub's command fails HUB_OFFLINE; the printers.sync of its next connect carries it. */
	json_t *params = json_pack("{s:s, s:{s:s}}", "op", "add", "printer", "printer_id", id);
	struct hubcmd cmd = {
		.account_id = c->opt[O_ACCOUNT],
		.hub_id = c->opt[O_HUB],
		.printer_id = id,
		.action = "printer.configure",
		.params = params,
		.expect_ack = 1,
		.request_id = "apf-admin",
		.revert = { .printer_cleared_from = -1, .printer_cleared_to = -1 },
	};
	e = params ? hubcmd_insert(c->db, &cmd) : E_INTERNAL_ERROR;
	json_decref(params);
	if (!e)
		e = db_commit(c->db);
	if (e) {
		db_rollback(c->db);
		return db_failed(c, e);
	}
	queue_wake();
	return q_obj(c, &OUT_PRINTER, DB_ARGS(DS(id)), &c->out);
}

/* --------------------------------------------------------------------- hub credentials */

static const struct db_query Q_HUB_NEW_PASSWORD = {
	"UPDATE hubs SET mqtt_password_hash = ?, updated_at = NOW(3)"
	" WHERE id = ? AND mqtt_password_hash IS NOT NULL"
};

/* A new MQTT password for a hub, set on every broker of mqtt_hosts through the dynamic-security
 * plugin (setClientPassword, which closes the hub's open connection: it must log in again with
 * the new password) and its hash stored; printed once. The row commits only after every broker
 * took it. The plugin cannot give an old password back, so a broker that failed part-way leaves
 * the brokers before it with a password nobody was shown: the command exits 1 saying so, and
 * running it again sets a fresh one everywhere (docs/operations.md, "Hub credentials"). */
int cmd_hub_credentials_rotate(struct ctx *c)
{
	char password[44], hash[SHA256_HEX_LEN + 1];
	if (hub_exists(c))
		return EXIT_FAIL;
	if (hub_password(password) < 0)
		return fail("cannot read random bytes");
	util_sha256_hex(password, strlen(password), hash);
	const struct hub_change h = {
		.what = "hub credentials rotate", .row = &Q_HUB_NEW_PASSWORD,
		DB_ARGS(DS(hash), DS(c->arg)),
		.unchanged = "has no MQTT credential (revoked): nothing to rotate",
		.apply = DS_PASSWORD, .undo = DS__COUNT, .password = password,
		.broker_failed = "; brokers before that one may hold a new password that was not"
				 " shown: run the command again",
		.commit_failed = "every broker holds a new password that was not shown: run the"
				 " command again",
		.out = &OUT_HUB_CREATED,
	};
	int rc = hub_change_run(c, c->arg, &h);
	OPENSSL_cleanse(password, sizeof password);
	return rc;
}

/* Every hub (or one account's): presence and whether it holds a broker credential. */
static const struct rfield F_HUB_LIST[] = {
	COL(id, STR) COL(account_id, STR) COL(name, STR) COL(is_online, BOOL)
	COL(last_seen_at, TIME) COLX(has_credential, "mqtt_password_hash IS NOT NULL", BOOL)
	COL(created_at, TIME) RES_FIELD_END
};
static const struct output OUT_HUB_LIST = {
	F_HUB_LIST, " FROM hubs WHERE ? IS NULL OR account_id = ? ORDER BY account_id, name, id"
};

int cmd_hub_list(struct ctx *c)
{
	const char *a = c->opt[O_ACCOUNT];
	return q_list(c, &OUT_HUB_LIST, DB_ARGS(DS(a), DS(a)), &c->out);
}
