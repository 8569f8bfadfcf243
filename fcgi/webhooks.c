/* webhooks.c - Webhook endpoints: list, get, create (answers the secret once), update, delete,
 * rotate the secret, send a test event, recent deliveries. The fields are fcgi/webhooks.def and
 * fcgi/webhook_deliveries.def; events and delivery: common/webhook.h, workers/webhooks.c;
 * docs/webhooks.md. */
#include "resources.h"
#include "webhook.h"

#include <string.h>

static const struct jfield WEBHOOK_TYPE[] = {
	{ "event_types", JF_ENUM, 0, 0, 0, { .values = webhook_event_types } }
};

static const struct rfield webhook_fields[] = {
#define FIELD RES_FIELD
#include "webhooks.def"
#undef FIELD
	RES_FIELD_END
};

static const struct rfield delivery_fields[] = {
#define FIELD RES_FIELD
#include "webhook_deliveries.def"
#undef FIELD
	RES_FIELD_END
};

static int webhook_check(struct req *r, unsigned op);
static enum api_err webhook_write(struct req *r, struct sqlb *b, unsigned op);

/* Oldest first: a short list, no paging. */
const struct resource webhook_res = {
	.noun = "webhook", .table = "webhook_endpoints", .from = "webhook_endpoints wh",
	.alias = "wh", .not_found = E_WEBHOOK_NOT_FOUND, .fields = webhook_fields,
	.order = "wh.created_at, wh.id", .paging = RP_NONE, .touch = "updated_at = NOW(3)",
	.check = webhook_check, .write = webhook_write,
};

const struct resource webhook_delivery_res = {
	.noun = "webhook delivery", .table = "webhook_deliveries",
	.from = "webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"
		" LEFT JOIN webhook_queue q ON q.delivery_id = d.id", .alias = "d",
	.not_found = E_WEBHOOK_NOT_FOUND, .fields = delivery_fields,
	.order = "d.created_at DESC, d.id DESC", .paging = RP_NONE,
};

static const struct rchild webhook_children[] = {
	{ "deliveries", &webhook_delivery_res, RF_LIST, "d.endpoint_id = ?",
	  "d.created_at DESC, d.id DESC LIMIT 100" },
	{ NULL, NULL, 0, NULL, NULL }
};

/* GET /webhooks/{id}/deliveries: the endpoint record with its deliveries as a nested list. */
const struct resource webhook_log_res = {
	.noun = "webhook", .table = "webhook_endpoints", .from = "webhook_endpoints wh",
	.alias = "wh", .not_found = E_WEBHOOK_NOT_FOUND, .fields = webhook_fields,
	.order = "wh.created_at, wh.id", .paging = RP_NONE, .children = webhook_children,
};

static const struct db_query Q_ROTATE = {
	"UPDATE webhook_endpoints SET secret = ?, updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};

/* A present url: http(s), a host, resolving to addresses deliveries may reach. */
static int webhook_check(struct req *r, unsigned op)
{
	(void)op;
	const char *url = jhelp_str(r->body, "url");
	struct webhook_url u;
	const char *why;
	if (!url || strlen(url) > 2000)
		return 0;
	if (webhook_url_parse(url, &u) < 0) {
		req_problem(r, "url", "url must be an http:// or https:// URL with a host (no user "
			    "info, no fragment)");
		return 1;
	}
	if ((why = webhook_url_check(&u)) != NULL) {
		req_problem(r, "url", "%s", why);
		return 1;
	}
	return 0;
}

/* The deliveries the worker parked while the endpoint was disabled (and those waiting for a
 * retry) are due at once when it is enabled (docs/webhooks.md "Delivery"). */
static const struct db_query Q_WAKE = {
	"UPDATE webhook_queue SET due_at = NOW(3)"
	" WHERE endpoint_id = ? AND claim_token IS NULL AND due_at > NOW(3)"
};

/* enabled: true clears the reason and the failure streak and wakes the parked deliveries;
 * false records the client's reason. */
static enum api_err webhook_write(struct req *r, struct sqlb *b, unsigned op)
{
	const json_t *v = json_object_get(r->body, "enabled");
	if (!v)
		return E_OK;
	int on = json_is_true(v);
	enum api_err err;
	if (on && op == RF_PATCH &&
	    (err = db_exec(r->db, &Q_WAKE, DB_ARGS(DS(req_param(r, "id"))), NULL)) != E_OK)
		return err;
	res_set(b, "enabled = ?", DI(on));
	res_set(b, "disabled_reason = IF(? = 1, NULL, 'disabled through the API')", DI(on));
	res_set(b, "failure_streak = IF(? = 1, 0, failure_streak)", DI(on));
	res_set(b, "failing_since = IF(? = 1, NULL, failing_since)", DI(on));
	return E_OK;
}

/* The detail plus the secret: the only answers that show it. */
static enum api_err reply_with_secret(struct req *r, const char *id, const char *secret,
				      int created)
{
	json_t *out;
	enum api_err err = res_detail(r, &webhook_res, id, &out);
	if (err)
		return err;
	json_object_set_new(out, "secret", json_string(secret));
	return created ? req_created(r, out) : req_ok(r, out);
}

enum api_err webhooks_create(struct req *r)
{
	struct sqlb b;
	char id[UUID_LEN + 1], secret[WEBHOOK_SECRET_MAX];
	if (res_check_body(r, &webhook_res, RF_CREATE) || webhook_check(r, RF_CREATE))
		return E_VALIDATION_ERROR;
	if (webhook_secret_new(secret) < 0)
		return E_INTERNAL_ERROR;
	enum api_err err = res_insert_begin(&b, r, &webhook_res, id);
	if (!err) {
		res_set(&b, "secret = ?", DS(secret));
		err = webhook_write(r, &b, RF_CREATE);
	}
	if (err) {
		sqlb_release(&b);
		return err;
	}
	if ((err = res_insert_run(r, &webhook_res, &b)) != E_OK)
		return err;
	return reply_with_secret(r, id, secret, 1);
}

/* POST /webhooks/{id}/rotate-secret: a new secret at once (the old one stops signing). */
enum api_err webhooks_rotate(struct req *r)
{
	char secret[WEBHOOK_SECRET_MAX];
	const char *id = req_param(r, "id");
	enum api_err err = res_exists(r, &webhook_res, id);
	if (err)
		return err;
	if (webhook_secret_new(secret) < 0)
		return E_INTERNAL_ERROR;
	if ((err = db_exec(r->db, &Q_ROTATE, DB_ARGS(DS(secret), DS(r->account_id), DS(id)),
			   NULL)) != E_OK)
		return err;
	return reply_with_secret(r, id, secret, 0);
}

/* POST /webhooks/{id}/test: a webhook.test event to this endpoint only; 202 with its ids. */
enum api_err webhooks_test(struct req *r)
{
	char event[UUID_LEN + 1];
	const char *id = req_param(r, "id");
	enum api_err err = res_exists(r, &webhook_res, id);
	if (err)
		return err;
	err = webhook_emit_to(r->db, r->account_id, id, "webhook.test",
			      json_pack("{s:s}", "webhook_id", id), event);
	if (err)
		return err;
	req_ok(r, json_pack("{s:s, s:s, s:s}", "event_id", event, "type", "webhook.test",
			    "status", "pending"));
	r->status = 202;
	return E_OK;
}
