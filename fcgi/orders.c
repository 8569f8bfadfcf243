/* orders.c - Orders: list and get (the generic handlers, fcgi/routes.def), create (the order and
 * its lines in one transaction), update (metadata, status, shipping and tracking; no stock
 * effect) and the counts with the last-30-day revenue. The fields are fcgi/orders.def and
 * fcgi/order_items.def; fulfilment and production are fcgi/order_fulfil.c. docs/orders.md has
 * the choices the spec leaves open. */
#include "orders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const order_statuses[] = {
	"pending", "processing", "printed", "assembled", "shipped", "fulfilled", "cancelled",
	"refunded", NULL
};
/* What a client may create; the stored enum also has amazon (imported orders). */
static const char *const order_platforms_in[] = { "shopify", "etsy", "manual", "other", NULL };
static const char *const order_platforms[] = {
	"shopify", "amazon", "etsy", "manual", "other", NULL
};

static const struct rfield order_item_fields[] = {
#define FIELD RES_FIELD
#include "order_items.def"
#undef FIELD
	RES_FIELD_END
};

/* One entry of POST /orders' items: the input of each order_items.def row, required where the
 * row says RF_REQUIRED. */
#define ITEM_IN(name, sql, out, in, flags) ITEM_IN_(name, flags, RES_IN_##in)
#define ITEM_IN_(name, flags, ...) ITEM_IN__(name, flags, __VA_ARGS__)
#define ITEM_IN__(name, flags, type, jflags, lo, hi, u) \
	{ #name, type, (jflags) | (((flags) & RF_REQUIRED) ? JF_REQUIRED : 0u), lo, hi, u },
static const struct jfield order_item_entry[] = {
#define FIELD ITEM_IN
#include "order_items.def"
#undef FIELD
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield order_item_in[] = {
	{ "items", JF_OBJECT, 0, 0, 0, { .sub = order_item_entry } }
};

/* Lines in the order given at creation (created_at, then position). */
const struct resource order_item_res = {
	.noun = "order line", .table = "order_items", .from = "order_items i", .alias = "i",
	.not_found = E_ORDER_ITEM_NOT_FOUND, .fields = order_item_fields,
	.order = "i.created_at, i.position, i.id", .paging = RP_NONE, .detail = RF_LIST,
};

static const struct rfield order_fields[] = {
#define FIELD RES_FIELD
#include "orders.def"
#undef FIELD
	RES_FIELD_END
};

static const struct rfilter order_filters[] = {
	RES_FILTER("status", ENUM(order_statuses), "o.status = ?", EXACT),
	RES_FILTER("platform", ENUM(order_platforms), "o.platform = ?", EXACT),
	RES_FILTER("from", TIME, "o.order_date >= ?", SINCE),
	RES_FILTER("to", TIME, "o.order_date <= ?", UNTIL),
	RES_FILTER_END
};

static const struct rchild order_children[] = {
	{ "items", &order_item_res, RF_LIST, "i.order_id = ?", NULL },
	{ NULL, NULL, 0, NULL, NULL }
};

static const struct runique order_uniques[] = {
	{ "uq_orders_account_number", E_DUPLICATE_ORDER_NUMBER, "order_number" },
	{ NULL, E_OK, NULL }
};

/* Most recent first. */
const struct resource order_res = {
	.noun = "order", .table = "orders", .from = "orders o", .alias = "o",
	.not_found = E_ORDER_NOT_FOUND, .fields = order_fields, .filters = order_filters,
	.order = "o.order_date DESC, o.created_at DESC, o.id DESC", .paging = RP_ALWAYS,
	.children = order_children, .uniques = order_uniques, .touch = "updated_at = NOW(3)",
};

/* The SKU of a line and its active finished good: by id, or by code for a line without one. */
#define LINE_SKU_SQL(cond)                                                                  \
	"SELECT s.id, fg.id FROM product_skus s LEFT JOIN finished_goods fg"                  \
	" ON fg.product_sku_id = s.id AND fg.account_id = s.account_id AND fg.is_active = 1"  \
	" WHERE s.account_id = ? AND " cond
static const struct db_query Q_SKU_BY_ID = { LINE_SKU_SQL("s.id = ?") };
static const struct db_query Q_SKU_BY_CODE = { LINE_SKU_SQL("s.sku = ?") };
static const struct db_query Q_LINE_INSERT = {
	"INSERT INTO order_items (id, account_id, order_id, position, finished_good_id,"
	" product_sku_id, sku, product_name, quantity, unit_price, total_price, notes)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
};

/* The checks the field rows cannot make: an e-mail address (one @ with text either side, no
 * spaces), a tracking URL (http or https). */
void orders_check_contacts(struct req *r)
{
	const char *e = jhelp_str(r->body, "customer_email");
	const char *at = e ? strchr(e, '@') : NULL;
	if (e && (!at || at == e || !at[1] || strchr(at + 1, '@') || strpbrk(e, " \t\r\n")))
		req_problem(r, "customer_email", "customer_email must be an e-mail address");
	const char *u = jhelp_str(r->body, "tracking_url");
	if (u && *u && strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)
		req_problem(r, "tracking_url", "tracking_url must be an http(s) URL");
}

/* MAN-YYYYMMDD-XXXX (manual) or PF-YYYYMMDD-XXXX, XXXX from A-Z without I and O, and 2-9. */
static int order_number(const char *platform, char out[32])
{
	static const char ALPHABET[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char rnd[4];
	char tail[5], date[9];
	time_t now = time(NULL);
	struct tm tm;
	if (util_random(rnd, sizeof rnd) < 0 || !gmtime_r(&now, &tm))
		return -1;
	for (int i = 0; i < 4; i++)
		tail[i] = ALPHABET[rnd[i] % (sizeof ALPHABET - 1)];
	tail[4] = '\0';
	strftime(date, sizeof date, "%Y%m%d", &tm);
	snprintf(out, 32, "%s-%s-%s", strcmp(platform, "manual") == 0 ? "MAN" : "PF", date, tail);
	return 0;
}

/* Each line's SKU (by id: another account's or unknown is 400 INVALID_PRODUCT_SKU; without an
 * id, an exact code match or none) and its finished good, into ids (2 per line). */
static enum api_err resolve_lines(struct req *r, const json_t *items, char (*ids)[UUID_LEN + 1])
{
	for (size_t i = 0; i < json_array_size(items); i++) {
		const json_t *it = json_array_get(items, i);
		const char *sku_id = jhelp_str(it, "product_sku_id");
		struct db_res rs;
		enum api_err err = sku_id
			? db_exec(r->db, &Q_SKU_BY_ID, DB_ARGS(DS(r->account_id), DS(sku_id)), &rs)
			: db_exec(r->db, &Q_SKU_BY_CODE,
				  DB_ARGS(DS(r->account_id), DS(jhelp_str(it, "sku"))), &rs);
		if (err)
			return err;
		ids[2 * i][0] = ids[2 * i + 1][0] = '\0';
		if (rs.nrows) {
			DB_COPY(ids[2 * i], &rs, 0, 0);
			DB_COPY(ids[2 * i + 1], &rs, 0, 1);
		}
		db_res_free(&rs);
		if (sku_id && !ids[2 * i][0])
			return req_fail(r, E_INVALID_PRODUCT_SKU, "items[%zu].product_sku_id: no SKU %s"
					" in this account", i, sku_id);
	}
	return E_OK;
}

static enum api_err insert_lines(struct req *r, const char *order, const json_t *items,
				 char (*ids)[UUID_LEN + 1])
{
	for (size_t i = 0; i < json_array_size(items); i++) {
		const json_t *it = json_array_get(items, i);
		long long qty = json_integer_value(json_object_get(it, "quantity"));
		long long price = json_integer_value(json_object_get(it, "unit_price"));
		char id[UUID_LEN + 1];
		if (util_uuid(id) < 0)
			return E_INTERNAL_ERROR;
		const char *sku = ids[2 * i][0] ? ids[2 * i] : NULL;
		const char *fg = ids[2 * i + 1][0] ? ids[2 * i + 1] : NULL;
		enum api_err err = db_exec(
			r->db, &Q_LINE_INSERT,
			DB_ARGS(DS(id), DS(r->account_id), DS(order), DI(i), DS(fg), DS(sku),
				DS(jhelp_str(it, "sku")), DS(jhelp_str(it, "product_name")), DI(qty),
				DI(price), DI(qty * price), DS(jhelp_str(it, "notes"))),
			NULL);
		if (err)
			return err;
	}
	return E_OK;
}

#define ORDER_NUMBER_TRIES 5

/* The order (status pending) and its lines, one transaction (route R_TXN). A generated order
 * number that is taken is drawn again; a given one answers 409. */
enum api_err orders_create(struct req *r)
{
	int bad = res_check_body(r, &order_res, RF_CREATE);
	orders_check_contacts(r);
	if (bad || req_invalid(r))
		return E_VALIDATION_ERROR;
	const json_t *items = json_object_get(r->body, "items");
	size_t n = json_array_size(items);
	char(*ids)[UUID_LEN + 1] = calloc(2 * n, sizeof *ids);
	if (!ids)
		return E_INTERNAL_ERROR;
	long long sum = 0;
	enum api_err err = resolve_lines(r, items, ids);
	for (size_t i = 0; !err && i < n; i++) {
		const json_t *it = json_array_get(items, i);
		sum += json_integer_value(json_object_get(it, "quantity")) *
		       json_integer_value(json_object_get(it, "unit_price"));
	}
	const char *given = jhelp_str(r->body, "order_number");
	const char *platform = jhelp_str(r->body, "platform");
	char id[UUID_LEN + 1] = "", number[32];
	for (int tries = 1; !err; tries++) {
		struct sqlb b;
		if (!given && order_number(platform ? platform : "manual", number) < 0) {
			err = E_INTERNAL_ERROR;
			break;
		}
		if ((err = res_insert_begin(&b, r, &order_res, id)) != E_OK) {
			sqlb_release(&b);
			break;
		}
		if (!given)
			res_set(&b, "order_number = ?", DS(number));
		if (!json_object_get(r->body, "total_revenue"))
			res_set(&b, "total_revenue = ?", DI(sum));
		err = res_insert_run(r, &order_res, &b);
		if (err != E_DUPLICATE_ORDER_NUMBER || given || tries >= ORDER_NUMBER_TRIES)
			break;
		req_reset_answer(r); /* a generated number already taken: draw another */
		err = E_OK;
	}
	if (!err)
		err = insert_lines(r, id, items, ids);
	free(ids);
	return err ? err : res_reply(r, &order_res, id, 1);
}

/* Metadata, status (any to any, no stock effect), shipping and tracking; lines and the fields
 * fixed at creation are refused (422 naming them). Entering shipped or fulfilled stamps
 * shipped_at when it is empty. Answers ORD without the lines. */
enum api_err orders_update(struct req *r)
{
	const char *id = req_param(r, "id");
	int bad = res_check_body(r, &order_res, RF_PATCH);
	orders_check_contacts(r);
	if (bad || req_invalid(r))
		return E_VALIDATION_ERROR;
	enum api_err err = res_need_updates(r, &order_res);
	if (!err)
		err = res_exists(r, &order_res, id);
	if (err)
		return err;
	struct sqlb b;
	res_update_begin(&b, r, &order_res);
	const char *status = jhelp_str(r->body, "status");
	if (status)
		res_set(&b, "shipped_at = IF(? IN ('shipped', 'fulfilled'),"
			" IFNULL(shipped_at, NOW(3)), shipped_at)", DS(status));
	if ((err = res_update_run(r, &order_res, &b)) != E_OK)
		return err;
	return res_reply_view(r, &order_res, id, RF_LIST, 0);
}

/* ----------------------------------------------------------------------------- counts */

#define LAST_30_DAYS \
	"(o.order_date >= UTC_TIMESTAMP(3) - INTERVAL 30 DAY" \
	" AND o.status NOT IN ('cancelled', 'refunded'))"
#define SUM_30(col) "SUM(IF(" LAST_30_DAYS ", " col ", 0))"
static const struct db_query Q_STATS = {
	"SELECT o.status, o.platform, COUNT(*), SUM(" LAST_30_DAYS "), " SUM_30("o.total_revenue")
	", " SUM_30("o.shipping_cost") ", " SUM_30("o.tax_amount") ", "
	SUM_30("o.discount_amount") " FROM orders o WHERE o.account_id = ?"
	" GROUP BY o.status, o.platform"
};

/* Every value of values with 0, as an object. */
static json_t *zeros(const char *const *values)
{
	json_t *o = json_object();
	for (; *values; values++)
		json_object_set_new(o, *values, json_integer(0));
	return o;
}

static void add_to(json_t *o, const char *key, long long n)
{
	json_t *v = json_object_get(o, key);
	if (v)
		json_integer_set(v, json_integer_value(v) + n);
}

/* Counts by status and platform (every value, 0 for none), pending_fulfillment (pending,
 * processing, printed, assembled) and the last 30 days without cancelled and refunded. */
enum api_err orders_stats(struct req *r)
{
	static const char *const LAST_30[] = {
		"total_orders", "total_revenue", "total_shipping", "total_tax", "total_discount"
	};
	struct db_res rs;
	enum api_err err = db_exec(r->db, &Q_STATS, DB_ARGS(DS(r->account_id)), &rs);
	if (err)
		return err;
	json_t *by_status = zeros(order_statuses), *by_platform = zeros(order_platforms);
	long long total = 0, pending = 0, last[5] = { 0 };
	for (unsigned long i = 0; i < rs.nrows; i++) {
		const char *status = db_get(&rs, i, 0);
		long long n = db_get_int(&rs, i, 2, 0);
		total += n;
		add_to(by_status, status, n);
		add_to(by_platform, db_get(&rs, i, 1), n);
		int si = jhelp_enum_index(order_statuses, status);
		if (si >= 0 && si < 4) /* pending, processing, printed, assembled */
			pending += n;
		for (unsigned k = 0; k < 5; k++)
			last[k] += db_get_int(&rs, i, 3 + k, 0);
	}
	db_res_free(&rs);
	json_t *l30 = json_object();
	for (unsigned k = 0; k < 5; k++)
		json_object_set_new(l30, LAST_30[k], json_integer(last[k]));
	json_object_set_new(l30, "avg_order_value",
			    json_integer(last[0] ? (last[1] + last[0] / 2) / last[0] : 0));
	return req_ok(r, json_pack("{s:I, s:o, s:o, s:I, s:o}", "total_orders", (json_int_t)total,
				   "by_status", by_status, "by_platform", by_platform,
				   "pending_fulfillment", (json_int_t)pending, "last_30_days", l30));
}
