/* hubcmds.c - publishing hub_commands rows, recording ACKs, refusals, timeouts and lost hubs
 * (see hubcmds.h; the row contract is common/hubcmd.h), and the HUB_COMMANDS/hub.discover job.
 *
 * Ordering: a batch of pending rows is read (plain SELECT, oldest first), each published and
 * then marked sent (its own statement). Only the worker holding the MQTT link lease publishes
 * (workers/loop.c; its writes carry the lease token: docs/scale-out.md), so no row lock is
 * needed to keep two publishers apart, and the command waits for no transaction round trip.
 * Publishing happens before the mark: if the mark fails (or is fenced) the row stays pending
 * and is published again with the same command_id, which the hub answers from its duplicate
 * memory (§5.4) instead of executing twice. Outcomes that revert (HUB_OFFLINE) and the `acked` of fire-and-forget rows go
 * through hubcmd_finish (its own transaction). */
#include "hubcmds.h"

#include "hubcmd.h"
#include "hubjson.h"
#include "log.h"
#include "mqtt.h"
#include "queue.h"
#include "sqlfrag.h"
#include "util.h"
#include "worker.h"
#include "wstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUMP_BATCH 32
#define PUMP_ROUNDS 8
#define SWEEP_BATCH 64
#define LOST_BATCH 500

static const struct db_query Q_HC_PENDING = {
	"SELECT command_id, hub_id, printer_id, job_id, action, params, expect_ack, timeout_ms,"
	" CAST(ROUND(UNIX_TIMESTAMP(issued_at) * 1000) AS SIGNED),"
	" CAST(ROUND(UNIX_TIMESTAMP(expires_at) * 1000) AS SIGNED), expires_at <= NOW(3), waiter,"
	" (SELECT " HUB_LIVE_SQL("h") " FROM hubs h WHERE h.id = hub_commands.hub_id),"
	" IFNULL(request_id, '')"
	" FROM hub_commands WHERE status = 'pending' ORDER BY issued_at LIMIT 32"
};
static const struct db_query Q_HC_CHECK = {
	"SELECT IFNULL(SUM(status = 'pending'), 0), IFNULL(SUM(expires_at <= NOW(3)), 0)"
	" FROM hub_commands WHERE status IN ('pending', 'sent')"
};
static const struct db_query Q_HC_EXPIRED = {
	"SELECT command_id, status, timeout_ms, action, IFNULL(request_id, '') FROM hub_commands"
	" WHERE status IN ('pending', 'sent') AND expires_at <= NOW(3) ORDER BY expires_at LIMIT 64"
};
static const struct db_query Q_HC_ACK_ROW = {
	"SELECT hub_id, status, expect_ack, action, IFNULL(request_id, '') FROM hub_commands"
	" WHERE command_id = ?"
};
static const struct db_query Q_HC_OPEN_OF_HUB = {
	"SELECT command_id, action, IFNULL(request_id, '') FROM hub_commands WHERE hub_id = ?"
	" AND status IN ('pending', 'sent') ORDER BY issued_at LIMIT 500"
};
static const struct db_query Q_HC_RESEND = {
	"UPDATE hub_commands SET status = 'pending' WHERE hub_id = ? AND status = 'sent'"
	" AND expires_at > NOW(3)"
};
#define PRINTER_COLS "id, connection_type, model, ip_address, serial_number, access_code"
static const struct db_query Q_HC_PRINTER = {
	"SELECT " PRINTER_COLS " FROM printers WHERE id = ?"
};
static const struct db_query Q_HC_HUB_PRINTERS = {
	"SELECT " PRINTER_COLS " FROM printers WHERE hub_id = ? ORDER BY sort_order, name, id"
};
static const struct db_query Q_HC_HUB_ACCOUNT = {
	"SELECT account_id FROM hubs WHERE id = ?"
};

enum api_err hubctx_db_error(struct hubctx *c, enum api_err err)
{
	if (err == E_SERVICE_UNAVAILABLE) {
		c->db_down = true;
		if (!c->db_err)
			c->db_err = err;
	}
	return err;
}

/* ------------------------------------------------------------------ printer objects (§5.2) */

/* printers.connection_type → the protocol's printer kind. */
static const struct {
	const char *connection;
	const char *kind;
} printer_kinds[] = {
	{ "bambu", "bambu" },
	{ "klipper", "moonraker" },
	{ "prusa", "prusalink" },
	{ "octoprint", "octoprint" },
	{ "other", "other" },
};

static const char *printer_kind(const char *connection)
{
	for (size_t i = 0; connection && i < sizeof printer_kinds / sizeof printer_kinds[0]; i++)
		if (strcmp(printer_kinds[i].connection, connection) == 0)
			return printer_kinds[i].kind;
	return "other";
}

/* Row of PRINTER_COLS → printer object (secrets included). */
static json_t *printer_json(const struct db_res *res, unsigned long r)
{
	json_t *options = json_pack("{s:b,s:n,s:n,s:n,s:n}", "require_bed_clear", 0,
				    "light_command", "load_macro", "unload_macro",
				    "clear_bed_macro");
	if (!options)
		return NULL;
	return json_pack("{s:s,s:s,s:s?,s:s?,s:n,s:s?,s:s?,s:n,s:n,s:n,s:o}", "printer_id",
			 db_get(res, r, 0), "kind", printer_kind(db_get(res, r, 1)), "model",
			 db_get(res, r, 2), "host", db_get(res, r, 3), "port", "serial_number",
			 db_get(res, r, 4), "access_code", db_get(res, r, 5), "api_key", "username",
			 "password", "options", options);
}

enum api_err hubcmds_printer_object(struct db *db, const char *printer_id, json_t **out)
{
	struct db_res res;
	*out = NULL;
	enum api_err err = db_exec(db, &Q_HC_PRINTER, DB_ARGS(DS(printer_id)), &res);
	if (!err && res.nrows == 1 && !(*out = printer_json(&res, 0)))
		err = E_INTERNAL_ERROR;
	db_res_free(&res);
	return err;
}

/* ------------------------------------------------------------------ publishing */

struct pending {
	const char *id, *hub, *printer, *job, *action, *waiter;
	json_t *params;           /* owned */
	int expect_ack;
	long long timeout_ms, issued_at, expires_at;
};

typedef enum api_err enrich_fn(struct hubctx *c, const struct pending *p);

/* printers.sync: the hub's whole printer list, from the printers table. */
static enum api_err enrich_sync(struct hubctx *c, const struct pending *p)
{
	struct db_res res;
	enum api_err err = db_exec(c->db, &Q_HC_HUB_PRINTERS, DB_ARGS(DS(p->hub)), &res);
	json_t *list = err ? NULL : json_array();
	for (unsigned long r = 0; list && r < res.nrows; r++)
		if (json_array_append_new(list, printer_json(&res, r)) < 0)
			err = E_INTERNAL_ERROR;
	db_res_free(&res);
	if (!err && (!list || json_object_set_new(p->params, "printers", list) < 0))
		return E_INTERNAL_ERROR;
	if (err)
		json_decref(list);
	return err;
}

/* printer.configure: the stored printer (with its secrets) over what the API put in
 * params.printer; a removed printer keeps the API's object (at least its id). */
static enum api_err enrich_configure(struct hubctx *c, const struct pending *p)
{
	json_t *stored = NULL;
	enum api_err err = p->printer ? hubcmds_printer_object(c->db, p->printer, &stored) : E_OK;
	if (err)
		return err;
	json_t *given = json_object_get(p->params, "printer");
	if (stored) {
		if (json_is_object(given)) {
			json_t *opt = json_object_get(given, "options");
			if (json_is_object(opt))
				json_object_set(stored, "options", opt);
		}
		json_object_set_new(p->params, "printer", stored);
	} else if (!json_is_object(given) && p->printer) {
		json_object_set_new(p->params, "printer",
				    json_pack("{s:s}", "printer_id", p->printer));
	}
	return E_OK;
}

static const struct {
	const char *action;
	enrich_fn *fn;
} enrichers[] = {
	{ "printers.sync", enrich_sync },
	{ "printer.configure", enrich_configure },
};

static enrich_fn *enricher(const char *action)
{
	for (size_t i = 0; i < sizeof enrichers / sizeof enrichers[0]; i++)
		if (strcmp(enrichers[i].action, action) == 0)
			return enrichers[i].fn;
	return NULL;
}

/* The §5.1 envelope as text (caller frees), NULL when out of memory. */
static char *envelope(const struct pending *p)
{
	json_t *env = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s?,s:I,s:I,s:I,s:b,s:O}", "v", 1, "type",
				"command", "hub_id", p->hub, "command_id", p->id, "action",
				p->action, "printer_id", p->printer, "issued_at",
				(json_int_t)p->issued_at, "expires_at", (json_int_t)p->expires_at,
				"ttl_ms", (json_int_t)p->timeout_ms, "expect_ack", p->expect_ack,
				"params", p->params);
	char *text = env ? json_dumps(env, JSON_COMPACT) : NULL;
	json_decref(env);
	return text;
}

/* Waiter sockets of the awaited rows this worker published, so a positive ACK can be recorded
 * in one statement (hubcmd_ack_fast) and the waiting API process told at once. A row that is not
 * here (published before a restart, or pushed out by newer rows) takes hubcmd_finish, which
 * reads the waiter from the row. */
#define SENT_SLOTS 256
static struct {
	char id[37];
	char waiter[HUBCMD_WAITER_MAX];
	char rid[LOG_RID_MAX + 1];  /* the request that issued it, for the ACK's log line */
} sent_ring[SENT_SLOTS];
static unsigned sent_next;

static void sent_remember(const char *id, const char *waiter)
{
	unsigned i = sent_next++ % SENT_SLOTS;
	snprintf(sent_ring[i].id, sizeof sent_ring[i].id, "%s", id);
	snprintf(sent_ring[i].waiter, sizeof sent_ring[i].waiter, "%s", waiter);
	snprintf(sent_ring[i].rid, sizeof sent_ring[i].rid, "%s", log_request());
}

/* Copies and forgets id's waiter; 0 when unknown. */
static int sent_take(const char *id, char *waiter, size_t size)
{
	for (unsigned i = 0; i < SENT_SLOTS; i++)
		if (strcmp(sent_ring[i].id, id) == 0) {
			snprintf(waiter, size, "%s", sent_ring[i].waiter);
			log_set_request(sent_ring[i].rid);
			sent_ring[i].id[0] = '\0';
			return 1;
		}
	return 0;
}

/* Publishes one claimed row; *sent 1 when it went out. */
static enum api_err publish_row(struct hubctx *c, struct pending *p, int *sent)
{
	*sent = 0;
	enrich_fn *fn = enricher(p->action);
	enum api_err err = fn ? fn(c, p) : E_OK;
	if (err)
		return err;
	char topic[128], *text = envelope(p);
	if (!text || mqtt_topic(topic, sizeof topic, p->hub, "cmd") < 0) {
		free(text);
		return E_INTERNAL_ERROR;
	}
	int rc = c->publish ? c->publish(c->ud, topic, text, strlen(text), 1) : -1;
	/* the text may hold printer secrets: wipe it */
	memset(text, 0, strlen(text));
	free(text);
	if (rc != 0)
		return E_OK; /* link gone: the row stays pending */
	int changed = 0;
	err = hubcmd_mark_sent(c->db, p->id, c->worker_id, &changed);
	if (!err)
		*sent = 1;
	if (!err && p->expect_ack && p->waiter && *p->waiter)
		sent_remember(p->id, p->waiter);
	return err;
}

struct idlist {
	unsigned n;
	char id[PUMP_BATCH][37];
	char action[PUMP_BATCH][24];
	char rid[PUMP_BATCH][LOG_RID_MAX + 1];
};

static void idlist_add(struct idlist *l, const char *id, const char *action)
{
	if (l->n >= PUMP_BATCH)
		return;
	snprintf(l->id[l->n], sizeof l->id[0], "%s", id);
	snprintf(l->action[l->n], sizeof l->action[0], "%s", action);
	snprintf(l->rid[l->n], sizeof l->rid[0], "%s", log_request());
	l->n++;
}

static enum api_err finish_list(struct hubctx *c, const struct idlist *l, const char *status,
				const char *code, const char *message)
{
	for (unsigned i = 0; i < l->n; i++) {
		int changed = 0;
		log_set_request(l->rid[i]);
		enum api_err err = hubcmd_finish(c->db, l->id[i], status, code, message, NULL, 0, 0,
						 &changed);
		if (err) {
			log_set_request(NULL);
			return err;
		}
		if (changed)
			wstats_cmd(code ? WSTATS_CMD_OFFLINE : WSTATS_CMD_ACKED);
		if (changed && code)
			log_info("hub command %s (%s): %s %s", l->id[i], l->action[i], status, code);
	}
	log_set_request(NULL);
	return E_OK;
}

static void pending_from_row(struct pending *p, const struct db_res *res, unsigned long r)
{
	p->id = db_get(res, r, 0);
	p->hub = db_get(res, r, 1);
	p->printer = db_get(res, r, 2);
	p->job = db_get(res, r, 3);
	p->action = db_get(res, r, 4);
	const char *params = db_get(res, r, 5);
	p->params = params ? json_loads(params, 0, NULL) : NULL;
	if (!json_is_object(p->params)) {
		json_decref(p->params);
		p->params = json_object();
	}
	p->expect_ack = db_get_int(res, r, 6, 1) != 0;
	p->timeout_ms = db_get_int(res, r, 7, 0);
	p->issued_at = db_get_int(res, r, 8, 0);
	p->expires_at = db_get_int(res, r, 9, 0);
	p->waiter = db_get(res, r, 11);
}

static enum api_err pump_batch(struct hubctx *c, int *published, int *more)
{
	struct db_res res;
	struct idlist offline = { 0 }, acked = { 0 };
	*more = 0;
	enum api_err err = db_exec(c->db, &Q_HC_PENDING, NULL, 0, &res);
	for (unsigned long r = 0; !err && r < res.nrows; r++) {
		if (db_get_int(&res, r, 10, 0))
			continue; /* past expires_at before it went out: the sweep times it out */
		struct pending p;
		int sent = 0;
		log_set_request(db_get(&res, r, 13)); /* the lines of this command carry its request */
		pending_from_row(&p, &res, r);
		if (!p.id || !p.hub || !p.action || !p.params) {
			json_decref(p.params);
			continue;
		}
		/* the hub's liveness, read by the claim without locking the hubs row */
		int live = db_get_int(&res, r, 12, 0) == 1;
		if (!live)
			idlist_add(&offline, p.id, p.action);
		else
			err = publish_row(c, &p, &sent);
		json_decref(p.params);
		if (!err && live && !sent)
			break; /* the link went away */
		if (sent) {
			(*published)++;
			wstats_cmd(WSTATS_CMD_PUBLISHED);
			log_info("hub command %s (%s) published to hub %s%s", p.id, p.action, p.hub,
				 p.expect_ack ? "" : " (fire-and-forget)");
			if (!p.expect_ack)
				idlist_add(&acked, p.id, p.action);
		}
	}
	log_set_request(NULL);
	if (!err)
		*more = res.nrows == PUMP_BATCH;
	db_res_free(&res);
	if (err)
		return err;
	err = finish_list(c, &offline, "failed", "HUB_OFFLINE", "hub is offline or stale");
	if (!err)
		err = finish_list(c, &acked, "acked", NULL, NULL);
	return err;
}

enum api_err hubcmds_pump(struct hubctx *c, int *published)
{
	int n = 0, more = 1;
	enum api_err err = E_OK;
	for (int round = 0; !err && more && round < PUMP_ROUNDS; round++) {
		if (c->db_down || !c->link_up || !c->link_up(c->ud))
			break;
		err = pump_batch(c, &n, &more);
	}
	if (published)
		*published = n;
	return hubctx_db_error(c, err);
}

/* ------------------------------------------------------------------ outcomes */

enum api_err hubcmds_check(struct hubctx *c, long long *pending, long long *expired)
{
	struct db_res res;
	enum api_err err = db_exec(c->db, &Q_HC_CHECK, NULL, 0, &res);
	*pending = err ? 0 : db_get_int(&res, 0, 0, 0);
	*expired = err ? 0 : db_get_int(&res, 0, 1, 0);
	db_res_free(&res);
	return hubctx_db_error(c, err);
}

enum api_err hubcmds_sweep(struct hubctx *c, int *n)
{
	struct db_res res;
	int count = 0;
	enum api_err err = db_exec(c->db, &Q_HC_EXPIRED, NULL, 0, &res);
	for (unsigned long r = 0; !err && r < res.nrows; r++) {
		const char *id = db_get(&res, r, 0), *was = db_get(&res, r, 1);
		char msg[96];
		int changed = 0;
		if (strcmp(was, "sent") == 0)
			snprintf(msg, sizeof msg, "no ACK from the hub within %lld ms",
				 db_get_int(&res, r, 2, 0));
		else
			snprintf(msg, sizeof msg, "not published before it expired");
		log_set_request(db_get(&res, r, 4));
		err = hubcmd_finish(c->db, id, "timeout", NULL, msg, NULL, 0, 0, &changed);
		if (!err && changed) {
			count++;
			wstats_cmd(WSTATS_CMD_TIMEOUT);
			log_info("hub command %s (%s): timeout (%s)", id, db_get(&res, r, 3), msg);
		}
	}
	log_set_request(NULL);
	db_res_free(&res);
	if (n)
		*n = count;
	return hubctx_db_error(c, err);
}

enum api_err hubcmds_ack(struct hubctx *c, const char *hub_id, const json_t *ack)
{
	char id[37], code[33], message[1001];
	long long received = 0, ts = 0;
	int ok = -1;
	const json_t *result = NULL;
	if (!hj_str(ack, "command_id", HJ_REQUIRED | HJ_UUID, id, sizeof id) ||
	    !hj_bool(ack, "ok", HJ_REQUIRED, &ok) ||
	    !hj_str(ack, "code", HJ_CUT, code, sizeof code) ||
	    !hj_str(ack, "message", HJ_CUT, message, sizeof message) ||
	    !hj_obj(ack, "result", 0, &result) ||
	    !hj_int(ack, "received_at", 0, 0, 1LL << 50, &received, NULL) ||
	    !hj_int(ack, "ts", 0, 0, 1LL << 50, &ts, NULL)) {
		log_warn("ACK from hub %s dropped: malformed fields", hub_id);
		return E_OK;
	}
	char waiter[HUBCMD_WAITER_MAX];
	if (ok && sent_take(id, waiter, sizeof waiter)) {
		const char *c_code = code[0] ? code : "OK";
		int changed = 0;
		enum api_err err = hubcmd_ack_fast(c->db, id, hub_id, c_code,
						   message[0] ? message : NULL, result, received,
						   ts, waiter, &changed);
		if (changed) {
			wstats_cmd(WSTATS_CMD_ACKED);
			log_info("hub command %s acked by hub %s (%s)", id, hub_id, LOG_STR(c_code));
		}
		log_set_request(NULL);
		if (err || changed)
			return hubctx_db_error(c, err);
	}
	struct db_res res;
	enum api_err err = db_exec(c->db, &Q_HC_ACK_ROW, DB_ARGS(DS(id)), &res);
	if (err) {
		db_res_free(&res);
		return hubctx_db_error(c, err);
	}
	const char *row_hub = db_get(&res, 0, 0), *status = db_get(&res, 0, 1);
	if (res.nrows == 1 && row_hub && strcmp(row_hub, hub_id) == 0)
		log_set_request(db_get(&res, 0, 4));
	if (res.nrows != 1) {
		log_warn("ACK from hub %s for unknown command %s ignored", hub_id, id);
	} else if (strcmp(row_hub, hub_id) != 0) {
		log_warn("ACK from hub %s for command %s of another hub dropped", hub_id, id);
	} else if (strcmp(status, "pending") != 0 && strcmp(status, "sent") != 0) {
		log_info("%s ACK for command %s (%s) from hub %s ignored: row already %s (ok %s, %s)",
			 db_get_int(&res, 0, 2, 1) ? "late or duplicate" : "fire-and-forget", id,
			 db_get(&res, 0, 3), hub_id, status, ok ? "true" : "false",
			 LOG_STR(code[0] ? code : "-"));
	} else {
		const char *to = ok ? "acked" : strcmp(code, "EXPIRED") == 0 ? "expired" : "failed";
		const char *c_code = code[0] ? code : ok ? "OK" : "INTERNAL";
		int changed = 0;
		err = hubcmd_finish(c->db, id, to, c_code, message[0] ? message : NULL, result,
				    received, ts, &changed);
		if (!err && changed)
			wstats_cmd(ok ? WSTATS_CMD_ACKED : to[0] == 'e' ? WSTATS_CMD_EXPIRED
							       : WSTATS_CMD_FAILED);
		if (!err)
			log_info("hub command %s (%s) %s by hub %s (%s)%s", id, db_get(&res, 0, 3),
				 to, hub_id, LOG_STR(c_code), changed ? "" : " [row changed meanwhile]");
	}
	log_set_request(NULL);
	db_res_free(&res);
	return hubctx_db_error(c, err);
}

enum api_err hubcmds_hub_lost(struct hubctx *c, const char *hub_id)
{
	struct db_res res;
	enum api_err err = db_exec(c->db, &Q_HC_OPEN_OF_HUB, DB_ARGS(DS(hub_id)), &res);
	for (unsigned long r = 0; !err && r < res.nrows; r++) {
		int changed = 0;
		log_set_request(db_get(&res, r, 2));
		err = hubcmd_finish(c->db, db_get(&res, r, 0), "failed", "HUB_OFFLINE",
				    "hub went offline", NULL, 0, 0, &changed);
		if (!err && changed) {
			wstats_cmd(WSTATS_CMD_OFFLINE);
			log_info("hub command %s (%s): failed HUB_OFFLINE (hub %s went offline)",
				 db_get(&res, r, 0), db_get(&res, r, 1), hub_id);
		}
	}
	log_set_request(NULL);
	db_res_free(&res);
	return hubctx_db_error(c, err);
}

static enum api_err insert_command(struct db *db, const char *account_id, const char *hub_id,
				   const char *action, const json_t *params, int expect_ack,
				   char command_id[37])
{
	struct hubcmd cmd = {
		.account_id = account_id,
		.hub_id = hub_id,
		.action = action,
		.params = params,
		.expect_ack = expect_ack,
		.revert = { .printer_cleared_from = -1, .printer_cleared_to = -1 },
	};
	enum api_err err = hubcmd_insert(db, &cmd);
	if (!err)
		memcpy(command_id, cmd.command_id, 37);
	return err;
}

enum api_err hubcmds_sync(struct hubctx *c, const char *hub_id, const char *account_id)
{
	char id[37];
	/* params stay {} in the row: the printer list (with secrets) is added when published */
	enum api_err err = insert_command(c->db, account_id, hub_id, "printers.sync", NULL, 0, id);
	if (!err) {
		c->pump_due = true;
		log_info("hub command %s (printers.sync) queued for hub %s", id, hub_id);
	}
	return hubctx_db_error(c, err);
}

enum api_err hubcmds_resend(struct hubctx *c, const char *hub_id, int *n)
{
	enum api_err err = db_exec(c->db, &Q_HC_RESEND, DB_ARGS(DS(hub_id)), NULL);
	*n = err ? 0 : (int)db_affected(c->db);
	if (*n > 0)
		c->pump_due = true;
	return hubctx_db_error(c, err);
}

/* ------------------------------------------------------------------ queue job */

/* HUB_COMMANDS/hub.discover, payload {"hub_id", optional "timeout_s"} (apf-admin hub scan):
 * inserts a hub.discover row and wakes the worker holding the MQTT link, which publishes it.
 * A redelivered job (lease expired after the insert) asks for a second scan: harmless. */
enum api_err hub_discover(struct job_ctx *ctx)
{
	const json_t *pl = ctx->item->payload;
	char hub[37];
	long long timeout_s = 10;
	int set = 0;
	if (!hj_str(pl, "hub_id", HJ_REQUIRED | HJ_UUID, hub, sizeof hub) ||
	    !hj_int(pl, "timeout_s", 0, 1, 60, &timeout_s, &set))
		return job_fail(ctx, E_VALIDATION_ERROR, "payload needs hub_id (UUID) and an"
				" optional timeout_s 1-60");
	if (!set)
		timeout_s = 10;
	struct db_res res;
	enum api_err err = db_exec(ctx->db, &Q_HC_HUB_ACCOUNT, DB_ARGS(DS(hub)), &res);
	if (err) {
		db_res_free(&res);
		return job_fail(ctx, err, "hub lookup failed: %s", err_code(err));
	}
	char account[37] = "";
	if (res.nrows == 1 && db_get(&res, 0, 0))
		snprintf(account, sizeof account, "%s", db_get(&res, 0, 0));
	unsigned long rows = res.nrows;
	db_res_free(&res);
	if (rows != 1)
		return job_fail(ctx, E_HUB_NOT_FOUND, "hub %s not found", hub);
	if (!account[0])
		return job_fail(ctx, E_HUB_NOT_FOUND, "hub %s is not claimed", hub);

	json_t *params = json_pack("{s:I}", "timeout_s", (json_int_t)timeout_s);
	char id[37];
	err = params ? insert_command(ctx->db, account, hub, "hub.discover", params, 1, id)
		     : E_INTERNAL_ERROR;
	json_decref(params);
	if (err)
		return job_fail(ctx, err, "inserting the hub.discover command failed: %s",
				err_code(err));
	queue_wake();
	log_info("hub command %s (hub.discover) queued for hub %s", id, hub);
	return E_OK;
}
