/* t_assembly.c - assembly tasks: create (product name and SKU code from the finished good's
 * SKU, no stock moved), list (status order, filters, paging), counts with every status, get with
 * the wiki article by its lookup chain, update (completed_at stamped on entering completed, kept
 * on leaving, no stock moved), and completion: print_assembly and kit_assembly move their
 * counters through the ledger (finished_goods and stock_movements read before and after),
 * partial completion, completing twice, a kit short of parts changes nothing, 16 concurrent kit
 * completions sharing too few parts. Every error code, scopes, another account's ids, fields
 * never exposed, 422 naming the field. docs/assembly.md. */
#include "cases.h"

#include "apitest.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const TASK_KEYS[] = {
	"id", "product_name", "sku", "quantity", "notes", "created_at", "updated_at",
	"completed_at", "status", "task_type", NULL
};
static const char *const TASK_DETAIL_KEYS[] = {
	"id", "product_name", "sku", "quantity", "notes", "created_at", "updated_at",
	"completed_at", "status", "task_type", "wiki_article", NULL
};
static const char *const WIKI_KEYS[] = {
	"id", "title", "slug", "excerpt", "category", "tags", "product_id", "sku_id",
	"is_published", "published_at", "meta_title", "meta_description", "featured_image_url",
	"description", "estimated_time_minutes", "difficulty", "tools_required", "created_at",
	"updated_at", "content", "sections", NULL
};

static const struct db_query Q_PRODUCT = {
	"INSERT INTO products (id, account_id, name) VALUES (?, ?, ?)"
};
static const struct db_query Q_SKU = {
	"INSERT INTO product_skus (id, account_id, product_id, sku, color) VALUES (?, ?, ?, ?, 'Red')"
};
/* A finished good: ready stock, units awaiting assembly, threshold 1. */
static const struct db_query Q_FG = {
	"INSERT INTO finished_goods (id, account_id, product_sku_id, sku, color, material,"
	" ready_stock, quantity_needs_assembly, low_stock_threshold) VALUES (?, ?, ?, ?, 'Red',"
	" 'PLA', ?, ?, 1)"
};
static const struct db_query Q_USER = {
	"INSERT INTO users (id, account_id, email, is_active) VALUES (?, ?, CONCAT(?, '@example.com'), ?)"
};
static const struct db_query Q_PACKAGING = {
	"INSERT INTO packaging_inventory (id, account_id, type, name, remaining_units)"
	" VALUES (?, ?, 'box', 'Gift box', ?)"
};
static const struct db_query Q_FILAMENT = {
	"INSERT INTO filament_inventory (id, account_id, type, color, remaining_grams)"
	" VALUES (?, ?, 'PLA', 'Black', ?)"
};
static const struct db_query Q_FG_STATE = {
	"SELECT CONCAT_WS(':', ready_stock, quantity_needs_assembly, status, assembly_status)"
	" FROM finished_goods WHERE id = ?"
};
static const struct db_query Q_READY_OF_SKU = {
	"SELECT ready_stock FROM finished_goods WHERE product_sku_id = ?"
};
static const struct db_query Q_PACKAGING_LEFT = {
	"SELECT remaining_units FROM packaging_inventory WHERE id = ?"
};
static const struct db_query Q_FILAMENT_LEFT = {
	"SELECT remaining_grams FROM filament_inventory WHERE id = ?"
};
/* The assembly movements of a counter's row, "counter:delta:level:reason:ref,..." in order. */
static const struct db_query Q_MOVES = {
	"SELECT IFNULL(GROUP_CONCAT(CONCAT_WS(':', SUBSTRING_INDEX(counter, '.', -1), delta,"
	" level_after, reason, ref_id) ORDER BY id SEPARATOR ','), '') FROM stock_movements"
	" WHERE item_id = ? AND reason IN ('assembly', 'kit_assembly')"
};
static const struct db_query Q_ACCOUNT_MOVES = {
	"SELECT COUNT(*) FROM stock_movements WHERE account_id = ?"
};
/* The ledger's sum of a row's kit_assembly movements. */
static const struct db_query Q_KIT_MOVED = {
	"SELECT CAST(IFNULL(SUM(delta), 0) AS SIGNED) FROM stock_movements WHERE item_id = ?"
	" AND reason = 'kit_assembly'"
};
static const struct db_query Q_TASK_STATE = {
	"SELECT CONCAT_WS(':', status, quantity, IFNULL(notes, '-'), completed_at IS NOT NULL)"
	" FROM assembly_tasks WHERE id = ?"
};
static const struct db_query Q_TASK_ASSIGNEE = {
	"SELECT IFNULL(assigned_to, '-') FROM assembly_tasks WHERE id = ?"
};
static const struct db_query Q_TASK_COMPLETED_AT = {
	"SELECT IFNULL(completed_at, '-') FROM assembly_tasks WHERE id = ?"
};
static const struct db_query Q_TASK_SET = {
	"UPDATE assembly_tasks SET status = ?, created_at = ? WHERE id = ?"
};
static const struct db_query Q_TASK_UNLINK = {
	"UPDATE assembly_tasks SET finished_good_id = NULL WHERE id = ?"
};
static const struct db_query Q_WORKLIST = {
	"INSERT INTO worklist_tasks (id, account_id, assembly_task_id, title, task_type)"
	" VALUES (?, ?, ?, 'Assemble', 'assembly')"
};
static const struct db_query Q_WORKLIST_STATUS = {
	"SELECT status FROM worklist_tasks WHERE id = ?"
};
static const struct db_query Q_PRODUCT_WIKI = {
	"UPDATE products SET wiki_id = ? WHERE id = ?"
};
static const struct db_query Q_WIKI_UPDATED = {
	"UPDATE wiki_articles SET updated_at = ? WHERE id = ?"
};
static const struct db_query Q_WIKI_INSERT = {
	"INSERT INTO wiki_articles (id, account_id, title, slug, sku_id, sections)"
	" VALUES (?, ?, 'Foreign', ?, ?, '[]')"
};

/* A product with one SKU and its finished good. */
struct good {
	char product[FX_ID], sku[FX_ID], fg[FX_ID];
};

static int good(const char *account, const char *name, const char *code, int ready, int needs,
		struct good *g)
{
	if (fx_uuid(g->product) < 0 || fx_uuid(g->sku) < 0 || fx_uuid(g->fg) < 0 ||
	    FX_SQL(Q_PRODUCT, DS(g->product), DS(account), DS(name)) < 0 ||
	    FX_SQL(Q_SKU, DS(g->sku), DS(account), DS(g->product), DS(code)) < 0 ||
	    FX_SQL(Q_FG, DS(g->fg), DS(account), DS(g->sku), DS(code), DI(ready), DI(needs)) < 0)
		return -1;
	return fx_stock_reconcile(account);
}

static int user(const char *account, int active, char id[FX_ID])
{
	if (fx_uuid(id) < 0)
		return -1;
	return FX_SQL(Q_USER, DS(id), DS(account), DS(id), DI(active));
}

static long long count_of(const struct db_query *q, const char *id)
{
	return fx_count(q, id);
}

/* POST path body answering 201: the task's id. */
static int task(const char *key, const char *fg, const char *extra, char id[FX_ID])
{
	char body[512];
	snprintf(body, sizeof body, "{\"finished_good_id\":\"%s\"%s%s}", fg, extra ? "," : "",
		 extra ? extra : "");
	return fx_created(key, "/assembly", body, id);
}

static void complete(const char *key, const char *id, const char *body, struct resp *r)
{
	char path[128];
	snprintf(path, sizeof path, "/assembly/%s/complete", id);
	api("POST", path, key, body, r);
}

/* -------------------------------------------------------------------------- tests */

static void test_create_and_errors(void)
{
	struct case_ctx c;
	struct good g, og;
	char u[FX_ID], idle[FX_ID], ou[FX_ID], id[FX_ID], otask[FX_ID], path[128];
	RESP(r);
	FX(case_init(&c));
	FX(good(c.t.account, "Widget", "W-1", 2, 5, &g));
	FX(good(c.other.account, "Widget", "W-1", 2, 5, &og));
	FX(user(c.t.account, 1, u));
	FX(user(c.t.account, 0, idle));
	FX(user(c.other.account, 1, ou));
	long long moves = count_of(&Q_ACCOUNT_MOVES, c.t.account);

	char body[512];
	snprintf(body, sizeof body, "{\"finished_good_id\":\"%s\",\"quantity\":3,"
		 "\"notes\":\"glue\",\"assigned_to\":\"%s\"}", g.fg, u);
	api("POST", "/assembly", c.t.key, body, &r);
	if (EXPECT(r, 201, NULL)) {
		json_t *t = rdata(&r);
		KEYS(t, TASK_KEYS, &r);
		CHECK(util_is_uuid(jstr(t, "id")), &r, "id is a UUID");
		STR_EQ(jstr(t, "product_name"), "Widget", &r);
		STR_EQ(jstr(t, "sku"), "W-1", &r);
		INT_EQ(jint(t, "quantity"), 3, &r);
		STR_EQ(jstr(t, "notes"), "glue", &r);
		STR_EQ(jstr(t, "status"), "pending", &r);
		STR_EQ(jstr(t, "task_type"), "print_assembly", &r);
		CHECK(is_iso_ms(jstr(t, "created_at")), &r, "created_at");
		CHECK(json_is_null(json_object_get(t, "completed_at")), &r, "completed_at null");
		snprintf(id, sizeof id, "%s", jstr(t, "id"));
		DB_IS(&Q_TASK_ASSIGNEE, id, u);
	} else
		return;
	/* no stock moved */
	DB_IS(&Q_FG_STATE, g.fg, "2:5:needs_assembly:printed");
	INT_EQ(count_of(&Q_ACCOUNT_MOVES, c.t.account), moves, NULL);
	FX(task(c.other.key, og.fg, NULL, otask));

	case_var(&c, "fg", g.fg);
	case_var(&c, "o_fg", og.fg);
	case_var(&c, "task", id);
	case_var(&c, "o_task", otask);
	case_var(&c, "user", u);
	case_var(&c, "idle", idle);
	case_var(&c, "o_user", ou);
	static const struct case_row rows[] = {
		/* create */
		{ "POST", "/assembly", "write", "{\"finished_good_id\":\"{fg}\"}", 201, NULL,
		  { "data.quantity=1", "data.notes=null", "!data.finished_good_id",
		    "!data.assigned_to" } },
		{ "POST", "/assembly", "write", "{}", 422, "VALIDATION_ERROR",
		  { "details.finished_good_id" } },
		{ "POST", "/assembly", "write", "{\"finished_good_id\":\"{fg}\",\"quantity\":0}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/assembly", "write", "{\"finished_good_id\":\"{fg}\",\"quantity\":\"2\"}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/assembly", "write", "{\"finished_good_id\":7}",
		  422, "VALIDATION_ERROR", { "details.finished_good_id" } },
		{ "POST", "/assembly", "write", "{\"finished_good_id\":\"{fg}\",\"order_id\":\"x\"}",
		  422, "VALIDATION_ERROR", { "details.order_id" } },
		{ "POST", "/assembly", "write", "{\"finished_good_id\":\"{fg}\",\"notes\":5}",
		  422, "VALIDATION_ERROR", { "details.notes" } },
		{ "POST", "/assembly", "write", "{\"finished_good_id\":\"" NO_SUCH_ID "\"}",
		  404, "FINISHED_GOOD_NOT_FOUND", { NULL } },
		{ "POST", "/assembly", "write", "{\"finished_good_id\":\"{o_fg}\"}",
		  404, "FINISHED_GOOD_NOT_FOUND", { NULL } },
		{ "POST", "/assembly", "write", "{\"finished_good_id\":\"{fg}\",\"assigned_to\":\"{o_user}\"}",
		  404, "USER_NOT_FOUND", { NULL } },
		{ "POST", "/assembly", "write", "{\"finished_good_id\":\"{fg}\",\"assigned_to\":\"{idle}\"}",
		  404, "USER_NOT_FOUND", { NULL } },
		{ "POST", "/assembly", "read", "{\"finished_good_id\":\"{fg}\"}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		/* get */
		{ "GET", "/assembly/{task}", "read", NULL, 200, NULL,
		  { "data.id={task}", "data.wiki_article=null", "!data.assigned_to",
		    "!data.finished_good_id", "!data.order_id", "!data.order_item_id" } },
		{ "GET", "/assembly/{task}", "read", NULL, 200, NULL,
		  { "!data.account_id", "!data.tenant_id", "data.quantity=3" } },
		{ "GET", "/assembly/{o_task}", "read", NULL, 404, "ASSEMBLY_TASK_NOT_FOUND", { NULL } },
		{ "GET", "/assembly/{task}", CASE_OTHER, NULL, 404, "ASSEMBLY_TASK_NOT_FOUND", { NULL } },
		{ "GET", "/assembly/" NO_SUCH_ID, "read", NULL, 404, "ASSEMBLY_TASK_NOT_FOUND", { NULL } },
		{ "GET", "/assembly/{task}", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		/* list and counts */
		{ "GET", "/assembly?status=done", "read", NULL, 422, "VALIDATION_ERROR",
		  { "details.status" } },
		{ "GET", "/assembly?task_type=x", "read", NULL, 422, "VALIDATION_ERROR",
		  { "details.task_type" } },
		{ "GET", "/assembly?limit=0", "read", NULL, 422, "VALIDATION_ERROR", { "details.limit" } },
		{ "GET", "/assembly?offset=-1", "read", NULL, 422, "VALIDATION_ERROR",
		  { "details.offset" } },
		{ "GET", "/assembly", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/assembly/stats", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/assembly", "read", NULL, 200, NULL,
		  { "!data[0].assigned_to", "!data[0].finished_good_id", "!data[0].order_id",
		    "!data[0].wiki_article", "meta.limit=50", "meta.count=2" } },
		/* update */
		{ "PATCH", "/assembly/{task}", "write", "{}", 400, "NO_UPDATES", { NULL } },
		{ "PATCH", "/assembly/{task}", "write", "{\"status\":\"cancelled\"}",
		  422, "VALIDATION_ERROR", { "details.status" } },
		{ "PATCH", "/assembly/{task}", "write", "{\"finished_good_id\":\"{fg}\"}",
		  422, "VALIDATION_ERROR", { "details.finished_good_id" } },
		{ "PATCH", "/assembly/{task}", "write", "{\"order_item_id\":\"x\"}",
		  422, "VALIDATION_ERROR", { "details.order_item_id" } },
		{ "PATCH", "/assembly/{task}", "write", "{\"quantity\":0}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "PATCH", "/assembly/{task}", "write", "{\"notes\":\"" "x" "\",\"quantity\":-3}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "PATCH", "/assembly/{task}", "write", "{\"assigned_to\":\"{idle}\"}",
		  404, "USER_NOT_FOUND", { NULL } },
		{ "PATCH", "/assembly/{task}", "write", "{\"assigned_to\":\"{o_user}\"}",
		  404, "USER_NOT_FOUND", { NULL } },
		{ "PATCH", "/assembly/{o_task}", "write", "{\"quantity\":2}",
		  404, "ASSEMBLY_TASK_NOT_FOUND", { NULL } },
		{ "PATCH", "/assembly/" NO_SUCH_ID, "write", "{\"quantity\":2}",
		  404, "ASSEMBLY_TASK_NOT_FOUND", { NULL } },
		{ "PATCH", "/assembly/{task}", "read", "{\"quantity\":2}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "PATCH", "/assembly/{task}", "write", "{\"quantity\":4,\"notes\":null}", 200, NULL,
		  { "data.quantity=4", "data.notes=null", "!data.assigned_to" } },
		/* complete */
		{ "POST", "/assembly/{task}/complete", "write", "{\"quantity_completed\":0}",
		  422, "VALIDATION_ERROR", { "details.quantity_completed" } },
		{ "POST", "/assembly/{task}/complete", "write", "{\"quantity_completed\":5}",
		  422, "VALIDATION_ERROR", { "details.quantity_completed" } },
		{ "POST", "/assembly/{task}/complete", "write", "{\"notes\":1}",
		  422, "VALIDATION_ERROR", { "details.notes" } },
		{ "POST", "/assembly/{o_task}/complete", "write", NULL,
		  404, "ASSEMBLY_TASK_NOT_FOUND", { NULL } },
		{ "POST", "/assembly/" NO_SUCH_ID "/complete", "write", NULL,
		  404, "ASSEMBLY_TASK_NOT_FOUND", { NULL } },
		{ "POST", "/assembly/{task}/complete", "read", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	};
	CASE_RUN(&c, rows);
	/* refusals and the field edits moved nothing; the other account's task is untouched */
	DB_IS(&Q_FG_STATE, g.fg, "2:5:needs_assembly:printed");
	DB_IS(&Q_FG_STATE, og.fg, "2:5:needs_assembly:printed");
	INT_EQ(count_of(&Q_ACCOUNT_MOVES, c.t.account), moves, NULL);
	DB_IS(&Q_TASK_STATE, otask, "pending:1:-:0");
	DB_IS(&Q_TASK_STATE, id, "pending:4:-:0");
	DB_IS(&Q_TASK_ASSIGNEE, id, u);
	snprintf(path, sizeof path, "/assembly/%s", id);
	api("PATCH", path, c.t.key, "{\"assigned_to\":null}", &r);
	if (EXPECT(r, 200, NULL))
		KEYS(rdata(&r), TASK_KEYS, &r);
	DB_IS(&Q_TASK_ASSIGNEE, id, "-");
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		KEYS(rdata(&r), TASK_DETAIL_KEYS, &r);
}

/* List order (in progress, pending, completed, cancelled; newest first inside), filters,
 * paging, and the counts of every status. */
static void test_list_and_stats(void)
{
	struct case_ctx c;
	struct good g;
	char t[5][FX_ID];
	static const char *const status[5] = {
		"pending", "pending", "in_progress", "completed", "cancelled"
	};
	static const char *const created[5] = {
		"2026-01-01 10:00:00", "2026-01-02 10:00:00", "2026-01-01 09:00:00",
		"2026-01-05 10:00:00", "2026-01-09 10:00:00"
	};
	FX(case_init(&c));
	FX(good(c.t.account, "Lamp", "L-1", 0, 0, &g));
	for (int i = 0; i < 5; i++) {
		char q[32];
		snprintf(q, sizeof q, "\"quantity\":%d", i + 1);
		FX(task(c.t.key, g.fg, q, t[i]));
		FX(FX_SQL(Q_TASK_SET, DS(status[i]), DS(created[i]), DS(t[i])));
	}
	static const char *const names[5] = { "t0", "t1", "t2", "t3", "t4" };
	for (int i = 0; i < 5; i++)
		case_var(&c, names[i], t[i]);
	static const struct case_row rows[] = {
		{ "GET", "/assembly", "read", NULL, 200, NULL,
		  { "data[0].id={t2}", "data[1].id={t1}", "data[2].id={t0}", "data[3].id={t3}",
		    "data[4].id={t4}", "meta.count=5" } },
		{ "GET", "/assembly?status=pending", "read", NULL, 200, NULL,
		  { "data[0].id={t1}", "data[1].id={t0}", "meta.count=2" } },
		{ "GET", "/assembly?status=cancelled", "read", NULL, 200, NULL,
		  { "data[0].id={t4}", "data[0].status=cancelled", "meta.count=1" } },
		{ "GET", "/assembly?task_type=kit_assembly", "read", NULL, 200, NULL,
		  { "meta.count=0" } },
		{ "GET", "/assembly?task_type=print_assembly&status=in_progress", "read", NULL, 200, NULL,
		  { "data[0].id={t2}", "data[0].quantity=3", "meta.count=1" } },
		{ "GET", "/assembly?limit=2&offset=1", "read", NULL, 200, NULL,
		  { "data[0].id={t1}", "data[1].id={t0}", "meta.limit=2", "meta.offset=1",
		    "meta.count=2" } },
		{ "GET", "/assembly", CASE_OTHER, NULL, 200, NULL, { "meta.count=0" } },
		{ "GET", "/assembly/stats", "read", NULL, 200, NULL,
		  { "data.by_status.pending.count=2", "data.by_status.pending.total_quantity=3",
		    "data.by_status.in_progress.count=1", "data.by_status.in_progress.total_quantity=3",
		    "data.by_status.completed.total_quantity=4", "data.total_units_awaiting=6" } },
		{ "GET", "/assembly/stats", "read", NULL, 200, NULL,
		  { "data.by_status.cancelled.count=1", "data.by_status.cancelled.total_quantity=5",
		    "data.by_status.completed.count=1" } },
		{ "GET", "/assembly/stats", CASE_OTHER, NULL, 200, NULL,
		  { "data.by_status.pending.count=0", "data.by_status.pending.total_quantity=0",
		    "data.by_status.in_progress.count=0", "data.by_status.completed.count=0",
		    "data.by_status.cancelled.total_quantity=0", "data.total_units_awaiting=0" } },
	};
	CASE_RUN(&c, rows);
}

/* PATCH never moves stock; entering completed stamps completed_at, leaving keeps it, and such a
 * task can no longer be completed with stock; a cancelled one neither. */
static void test_update_status(void)
{
	struct case_ctx c;
	struct good g;
	char id[FX_ID], cancelled[FX_ID], path[128], stamped[64], later[64];
	RESP(r);
	FX(case_init(&c));
	FX(good(c.t.account, "Vase", "V-1", 1, 4, &g));
	FX(task(c.t.key, g.fg, "\"quantity\":2", id));
	long long moves = count_of(&Q_ACCOUNT_MOVES, c.t.account);
	snprintf(path, sizeof path, "/assembly/%s", id);
	api("PATCH", path, c.t.key, "{\"status\":\"in_progress\"}", &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_is_null(json_object_get(rdata(&r), "completed_at")), &r, "not stamped");
	api("PATCH", path, c.t.key, "{\"status\":\"completed\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "status"), "completed", &r);
		CHECK(is_iso_ms(jstr(rdata(&r), "completed_at")), &r, "completed_at stamped");
	}
	FX(FX_TEXT(stamped, Q_TASK_COMPLETED_AT, DS(id)));
	CHECK(strcmp(stamped, "-") != 0, NULL, "completed_at stored");
	/* again completed: the first stamp stays */
	api("PATCH", path, c.t.key, "{\"status\":\"completed\",\"quantity\":3}", &r);
	EXPECT(r, 200, NULL);
	DB_IS(&Q_TASK_COMPLETED_AT, id, stamped);
	complete(c.t.key, id, NULL, &r);
	EXPECT(r, 400, "TASK_ALREADY_COMPLETED");
	api("PATCH", path, c.t.key, "{\"status\":\"pending\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "pending", &r);
	FX(FX_TEXT(later, Q_TASK_COMPLETED_AT, DS(id)));
	STR_EQ(later, stamped, NULL);
	DB_IS(&Q_FG_STATE, g.fg, "1:4:needs_assembly:printed");
	INT_EQ(count_of(&Q_ACCOUNT_MOVES, c.t.account), moves, NULL);

	FX(task(c.t.key, g.fg, NULL, cancelled));
	FX(FX_SQL(Q_TASK_SET, DS("cancelled"), DS("2026-01-01 00:00:00"), DS(cancelled)));
	complete(c.t.key, cancelled, NULL, &r);
	EXPECT(r, 400, "TASK_CANCELLED");
	DB_IS(&Q_TASK_STATE, cancelled, "cancelled:1:-:0");
	DB_IS(&Q_FG_STATE, g.fg, "1:4:needs_assembly:printed");
	INT_EQ(count_of(&Q_ACCOUNT_MOVES, c.t.account), moves, NULL);
}

/* R2 print_assembly: awaiting down by q (not below 0), ready up by q, assembly_status; partial
 * completion keeps the task open; a second completion is refused and moves nothing. */
static void test_complete_print(void)
{
	struct case_ctx c;
	struct good g;
	char id[FX_ID], id2[FX_ID], gone[FX_ID], wl[FX_ID], want[1024];
	RESP(r);
	FX(case_init(&c));
	FX(good(c.t.account, "Robot", "R-1", 2, 5, &g));
	FX(task(c.t.key, g.fg, "\"quantity\":3,\"notes\":\"first\"", id));
	FX(fx_uuid(wl));
	FX(FX_SQL(Q_WORKLIST, DS(wl), DS(c.t.account), DS(id)));
	DB_IS(&Q_MOVES, g.fg, "");

	complete(c.t.key, id, "{\"quantity_completed\":2,\"notes\":\"half\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		static const char *const keys[] = { "task", "quantity_completed", NULL };
		json_t *t = json_object_get(rdata(&r), "task");
		KEYS(rdata(&r), keys, &r);
		KEYS(t, TASK_KEYS, &r);
		INT_EQ(jint(rdata(&r), "quantity_completed"), 2, &r);
		INT_EQ(jint(t, "quantity"), 1, &r);
		STR_EQ(jstr(t, "status"), "pending", &r);
		STR_EQ(jstr(t, "notes"), "first\n---\nhalf", &r);
		CHECK(json_is_null(json_object_get(t, "completed_at")), &r, "still open");
	}
	DB_IS(&Q_FG_STATE, g.fg, "4:3:needs_assembly:needs_assembly");
	snprintf(want, sizeof want, "quantity_needs_assembly:-2.00:3.00:assembly:%s,"
		 "ready_stock:2.00:4.00:assembly:%s", id, id);
	DB_IS(&Q_MOVES, g.fg, want);
	DB_IS(&Q_WORKLIST_STATUS, wl, "pending");

	/* the rest (the task's quantity by default) closes it */
	complete(c.t.key, id, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *t = json_object_get(rdata(&r), "task");
		INT_EQ(jint(rdata(&r), "quantity_completed"), 1, &r);
		STR_EQ(jstr(t, "status"), "completed", &r);
		CHECK(is_iso_ms(jstr(t, "completed_at")), &r, "completed_at");
	}
	DB_IS(&Q_FG_STATE, g.fg, "5:2:needs_assembly:needs_assembly");
	DB_IS(&Q_TASK_STATE, id, "completed:1:first\n---\nhalf:1");
	DB_IS(&Q_WORKLIST_STATUS, wl, "completed");
	long long moves = count_of(&Q_ACCOUNT_MOVES, c.t.account);

	/* twice: refused, nothing moves */
	complete(c.t.key, id, NULL, &r);
	EXPECT(r, 400, "TASK_ALREADY_COMPLETED");
	complete(c.t.key, id, "{\"quantity_completed\":1}", &r);
	EXPECT(r, 400, "TASK_ALREADY_COMPLETED");
	DB_IS(&Q_FG_STATE, g.fg, "5:2:needs_assembly:needs_assembly");
	INT_EQ(count_of(&Q_ACCOUNT_MOVES, c.t.account), moves, NULL);

	/* more units than await assembly: awaiting stops at 0, all q become ready */
	FX(task(c.t.key, g.fg, "\"quantity\":4", id2));
	complete(c.t.key, id2, NULL, &r);
	EXPECT(r, 200, NULL);
	DB_IS(&Q_FG_STATE, g.fg, "9:0:in_stock:assembled");
	snprintf(want, sizeof want, "quantity_needs_assembly:-2.00:3.00:assembly:%s,"
		 "ready_stock:2.00:4.00:assembly:%s,quantity_needs_assembly:-1.00:2.00:assembly:%s,"
		 "ready_stock:1.00:5.00:assembly:%s,quantity_needs_assembly:-2.00:0.00:assembly:%s,"
		 "ready_stock:4.00:9.00:assembly:%s", id, id, id, id, id2, id2);
	DB_IS(&Q_MOVES, g.fg, want);

	/* a task whose finished good is gone */
	FX(task(c.t.key, g.fg, NULL, gone));
	FX(FX_SQL(Q_TASK_UNLINK, DS(gone)));
	moves = count_of(&Q_ACCOUNT_MOVES, c.t.account);
	complete(c.t.key, gone, NULL, &r);
	EXPECT(r, 404, "FINISHED_GOOD_NOT_FOUND");
	DB_IS(&Q_TASK_STATE, gone, "pending:1:-:0");
	INT_EQ(count_of(&Q_ACCOUNT_MOVES, c.t.account), moves, NULL);
}

/* A kit: 2 x P1 (7 ready), 1 x P2 (5 ready), a box (4 left) and 100.25 g of filament (500 g)
 * per kit. */
struct kit {
	struct good kit, p1, p2;
	char box[FX_ID], spool[FX_ID];
};

static int kit(const struct tenant *t, struct kit *k, int p1_ready, int p2_ready, int boxes,
	       double grams, int with_items)
{
	char body[1024], path[128], tag[9], name[64];
	RESP(r);
	snprintf(name, sizeof name, "Kit %s", fx_tag(tag));
	if (good(t->account, name, "KIT", 0, 0, &k->kit) < 0 ||
	    good(t->account, "Part one", "P1", p1_ready, 0, &k->p1) < 0 ||
	    good(t->account, "Part two", "P2", p2_ready, 0, &k->p2) < 0 ||
	    fx_uuid(k->box) < 0 || FX_SQL(Q_PACKAGING, DS(k->box), DS(t->account), DI(boxes)) < 0 ||
	    fx_uuid(k->spool) < 0 ||
	    FX_SQL(Q_FILAMENT, DS(k->spool), DS(t->account), DD(grams)) < 0 ||
	    fx_stock_reconcile(t->account) < 0)
		return -1;
	if (with_items)
		snprintf(body, sizeof body,
			 "{\"children\":[{\"child_sku_id\":\"%s\",\"quantity_required\":2},"
			 "{\"child_sku_id\":\"%s\",\"quantity_required\":1}],"
			 "\"inventory\":[{\"inventory_item_id\":\"%s\",\"quantity_required\":1},"
			 "{\"inventory_item_id\":\"%s\",\"quantity_required\":100.25}]}",
			 k->p1.sku, k->p2.sku, k->box, k->spool);
	else
		snprintf(body, sizeof body,
			 "{\"children\":[{\"child_sku_id\":\"%s\",\"quantity_required\":2},"
			 "{\"child_sku_id\":\"%s\",\"quantity_required\":1}]}",
			 k->p1.sku, k->p2.sku);
	snprintf(path, sizeof path, "/skus/%s/bom", k->kit.sku);
	api("PUT", path, t->key, body, &r);
	return EXPECT(r, 200, NULL) ? 0 : -1;
}

/* POST /skus/{kit}/assemble for q kits: the kit task's id. */
static int kit_task(const struct tenant *t, const struct kit *k, int q, char id[FX_ID])
{
	char path[128], body[64];
	snprintf(path, sizeof path, "/skus/%s/assemble", k->kit.sku);
	snprintf(body, sizeof body, "{\"quantity\":%d}", q);
	return fx_created(t->key, path, body, id);
}

/* R2 kit_assembly: every part down by q x r, the kit up by q, one movement each; a kit task
 * whose parts ran short since it was made is refused with its shortages and changes nothing. */
static void test_complete_kit(void)
{
	struct case_ctx c;
	struct kit k;
	char a[FX_ID], b[FX_ID], want[512], path[128];
	RESP(r);
	FX(case_init(&c));
	FX(kit(&c.t, &k, 7, 5, 4, 500.0, 1));
	/* both pass the check when made: pending tasks reserve nothing */
	FX(kit_task(&c.t, &k, 3, a));
	FX(kit_task(&c.t, &k, 2, b));

	complete(c.t.key, a, "{\"notes\":\"boxed\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *t = json_object_get(rdata(&r), "task");
		INT_EQ(jint(rdata(&r), "quantity_completed"), 3, &r);
		STR_EQ(jstr(t, "task_type"), "kit_assembly", &r);
		STR_EQ(jstr(t, "status"), "completed", &r);
		STR_EQ(jstr(t, "notes"), "boxed", &r);
	}
	DB_IS(&Q_FG_STATE, k.p1.fg, "1:0:low_stock:printed");
	DB_IS(&Q_FG_STATE, k.p2.fg, "2:0:in_stock:printed");
	DB_IS(&Q_FG_STATE, k.kit.fg, "3:0:in_stock:printed");
	DB_IS(&Q_PACKAGING_LEFT, k.box, "1");
	DB_IS(&Q_FILAMENT_LEFT, k.spool, "199.25");
	snprintf(want, sizeof want, "ready_stock:-6.00:1.00:kit_assembly:%s", a);
	DB_IS(&Q_MOVES, k.p1.fg, want);
	snprintf(want, sizeof want, "ready_stock:-3.00:2.00:kit_assembly:%s", a);
	DB_IS(&Q_MOVES, k.p2.fg, want);
	snprintf(want, sizeof want, "ready_stock:3.00:3.00:kit_assembly:%s", a);
	DB_IS(&Q_MOVES, k.kit.fg, want);
	snprintf(want, sizeof want, "remaining_units:-3.00:1.00:kit_assembly:%s", a);
	DB_IS(&Q_MOVES, k.box, want);
	snprintf(want, sizeof want, "remaining_grams:-300.75:199.25:kit_assembly:%s", a);
	DB_IS(&Q_MOVES, k.spool, want);

	/* 2 more kits: P1 1 < 4, the box 1 < 2; P2 (2) and the spool (199.25 < 200.5) */
	long long moves = count_of(&Q_ACCOUNT_MOVES, c.t.account);
	complete(c.t.key, b, "{\"notes\":\"late\"}", &r);
	if (EXPECT(r, 400, "INSUFFICIENT_FOR_KIT")) {
		json_t *sh = json_object_get(r.json, "shortages");
		if (CHECK(json_array_size(sh) == 3, &r, "three shortages")) {
			json_t *s1 = json_array_get(sh, 0);
			STR_EQ(jstr(s1, "child_sku_id"), k.p1.sku, &r);
			STR_EQ(jstr(s1, "child_sku"), "P1", &r);
			CHECK(json_number_value(json_object_get(s1, "required")) == 4.0, &r, "4");
			CHECK(json_number_value(json_object_get(s1, "on_hand")) == 1.0, &r, "1");
			CHECK(json_number_value(json_object_get(s1, "short_by")) == 3.0, &r, "3");
			STR_EQ(jstr(json_array_get(sh, 1), "inventory_item_id"), k.box, &r);
			STR_EQ(jstr(json_array_get(sh, 2), "item_name"), "PLA Black", &r);
			CHECK(json_number_value(json_object_get(json_array_get(sh, 2), "short_by")) ==
				      1.25, &r, "1.25 g short");
		}
	}
	DB_IS(&Q_FG_STATE, k.p1.fg, "1:0:low_stock:printed");
	DB_IS(&Q_FG_STATE, k.p2.fg, "2:0:in_stock:printed");
	DB_IS(&Q_FG_STATE, k.kit.fg, "3:0:in_stock:printed");
	DB_IS(&Q_PACKAGING_LEFT, k.box, "1");
	DB_IS(&Q_FILAMENT_LEFT, k.spool, "199.25");
	DB_IS(&Q_TASK_STATE, b, "pending:2:-:0");
	INT_EQ(count_of(&Q_ACCOUNT_MOVES, c.t.account), moves, NULL);

	/* one kit is still short of P1 (1 < 2) */
	complete(c.t.key, b, "{\"quantity_completed\":1}", &r);
	EXPECT(r, 400, "INSUFFICIENT_FOR_KIT");
	INT_EQ(count_of(&Q_ACCOUNT_MOVES, c.t.account), moves, NULL);
	/* the kit lost its BOM since: nothing to build from */
	snprintf(path, sizeof path, "/skus/%s/bom", k.kit.sku);
	api("PUT", path, c.t.key, "{}", &r);
	EXPECT(r, 200, NULL);
	complete(c.t.key, b, NULL, &r);
	EXPECT(r, 400, "NOT_COMPOSITE");
	DB_IS(&Q_TASK_STATE, b, "pending:2:-:0");
	DB_IS(&Q_FG_STATE, k.kit.fg, "3:0:in_stock:printed");
	INT_EQ(count_of(&Q_ACCOUNT_MOVES, c.t.account), moves, NULL);
}

/* 16 clients complete 16 one-kit tasks at once; the shared parts cover 10 kits (P1: 21 ready,
 * 2 per kit). Exactly the successful ones move stock, nothing goes below 0, no 5xx. */
#define RACERS 16
static void test_concurrent_kits(void)
{
	struct tenant t;
	struct kit k;
	char ids[RACERS][FX_ID], paths[RACERS][128], got[64];
	struct call calls[RACERS];
	static struct resp out[RACERS];
	FX(fx_tenant(&t, "read,write"));
	FX(kit(&t, &k, 21, 100, 0, 0.0, 0));
	for (int i = 0; i < RACERS; i++) {
		FX(kit_task(&t, &k, 1, ids[i]));
		snprintf(paths[i], sizeof paths[i], "/assembly/%s/complete", ids[i]);
		calls[i] = (struct call){ .method = "POST", .path = paths[i], .key = t.key };
	}
	int done = api_calls(calls, RACERS, out);
	INT_EQ(done, RACERS, NULL);
	int ok = 0, refused = 0;
	for (int i = 0; i < RACERS; i++) {
		const char *code = jstr(out[i].json, "code");
		if (out[i].status == 200)
			ok++;
		else if (out[i].status == 400 && code && strcmp(code, "INSUFFICIENT_FOR_KIT") == 0) {
			/* refused by the build check under lock, which names what is short */
			json_t *sh = json_object_get(out[i].json, "shortages");
			CHECK(json_array_size(sh) == 1 &&
				      strcmp(jstr(json_array_get(sh, 0), "child_sku"), "P1") == 0,
			      &out[i], "answer %d: P1 short", i);
			refused++;
		}
		else
			CHECK(0, &out[i], "answer %d: want 200 or 400 INSUFFICIENT_FOR_KIT", i);
		CHECK(out[i].status < 500, &out[i], "no 5xx");
	}
	INT_EQ(ok + refused, RACERS, NULL);
	INT_EQ(ok, 10, NULL);
	/* the ledger: the children lost exactly r per kit made, the kit gained one */
	INT_EQ(count_of(&Q_KIT_MOVED, k.p1.fg), -2LL * ok, NULL);
	INT_EQ(count_of(&Q_KIT_MOVED, k.p2.fg), -1LL * ok, NULL);
	INT_EQ(count_of(&Q_KIT_MOVED, k.kit.fg), ok, NULL);
	FX(FX_TEXT(got, Q_READY_OF_SKU, DS(k.p1.sku)));
	INT_EQ(atoll(got), 21 - 2LL * ok, NULL);
	CHECK(atoll(got) >= 0, NULL, "P1 not below 0");
	FX(FX_TEXT(got, Q_READY_OF_SKU, DS(k.p2.sku)));
	INT_EQ(atoll(got), 100 - ok, NULL);
	FX(FX_TEXT(got, Q_READY_OF_SKU, DS(k.kit.sku)));
	INT_EQ(atoll(got), ok, NULL);
	for (int i = 0; i < RACERS; i++) {
		DB_IS(&Q_TASK_STATE, ids[i], out[i].status == 200 ? "completed:1:-:1" : "pending:1:-:0");
		resp_free(&out[i]);
	}
}

/* The wiki article: the product's wiki_id, else the SKU's article, else the product's; never
 * another account's. */
static void test_wiki_chain(void)
{
	struct case_ctx c;
	struct good g;
	char id[FX_ID], path[128], body[256], by_product[FX_ID], by_sku[FX_ID], linked[FX_ID];
	char foreign[FX_ID], second[FX_ID], tag[9], slug[40];
	RESP(r);
	FX(case_init(&c));
	FX(good(c.t.account, "Drone", "D-1", 0, 0, &g));
	FX(task(c.t.key, g.fg, NULL, id));
	snprintf(path, sizeof path, "/assembly/%s", id);
	/* another account's article naming our SKU is not ours */
	FX(fx_uuid(foreign));
	snprintf(slug, sizeof slug, "foreign-%s", fx_tag(tag));
	FX(FX_SQL(Q_WIKI_INSERT, DS(foreign), DS(c.other.account), DS(slug), DS(g.sku)));
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_is_null(json_object_get(rdata(&r), "wiki_article")), &r, "no article");

	snprintf(body, sizeof body, "{\"title\":\"Drone build\",\"product_id\":\"%s\","
		 "\"content\":\"Step one\",\"tags\":[\"drone\"]}", g.product);
	FX(fx_created(c.t.key, "/wiki", body, by_product));
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *w = json_object_get(rdata(&r), "wiki_article");
		KEYS(w, WIKI_KEYS, &r);
		STR_EQ(jstr(w, "id"), by_product, &r);
		STR_EQ(jstr(w, "content"), "Step one", &r);
		STR_EQ(json_string_value(json_array_get(json_object_get(w, "tags"), 0)), "drone", &r);
		CHECK(json_is_array(json_object_get(w, "sections")), &r, "sections");
	}
	/* two about the product: the most recently updated */
	snprintf(body, sizeof body, "{\"title\":\"Drone build 2\",\"product_id\":\"%s\"}",
		 g.product);
	FX(fx_created(c.t.key, "/wiki", body, second));
	FX(FX_SQL(Q_WIKI_UPDATED, DS("2030-01-01 00:00:00"), DS(by_product)));
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(json_object_get(rdata(&r), "wiki_article"), "id"), by_product, &r);
	FX(FX_SQL(Q_WIKI_UPDATED, DS("2031-01-01 00:00:00"), DS(second)));
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(json_object_get(rdata(&r), "wiki_article"), "id"), second, &r);
	/* an older article about the SKU comes before them */
	snprintf(body, sizeof body, "{\"title\":\"D-1 build\",\"sku_id\":\"%s\"}", g.sku);
	FX(fx_created(c.t.key, "/wiki", body, by_sku));
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(json_object_get(rdata(&r), "wiki_article"), "id"), by_sku, &r);
	FX(fx_created(c.t.key, "/wiki", "{\"title\":\"Linked guide\"}", linked));
	FX(FX_SQL(Q_PRODUCT_WIKI, DS(linked), DS(g.product)));
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(json_object_get(rdata(&r), "wiki_article"), "id"), linked, &r);
	/* unlinked again: the SKU's article */
	FX(FX_SQL(Q_PRODUCT_WIKI, DNULL, DS(g.product)));
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(json_object_get(rdata(&r), "wiki_article"), "id"), by_sku, &r);
	/* another account's key sees no task at all */
	api("GET", path, c.other.key, NULL, &r);
	EXPECT(r, 404, "ASSEMBLY_TASK_NOT_FOUND");
}

int suite_assembly(void)
{
	CU_pSuite s = CU_add_suite("assembly", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_create_and_errors);
	ADD_TEST(s, test_list_and_stats);
	ADD_TEST(s, test_update_status);
	ADD_TEST(s, test_complete_print);
	ADD_TEST(s, test_complete_kit);
	ADD_TEST(s, test_concurrent_kits);
	ADD_TEST(s, test_wiki_chain);
	return 0;
}
