/* t_ledger.c - the stock ledger (docs/stock.md): a counter's changes through the API write one
 * movement each (delta, level, reason, note, request id), a refused change writes none,
 * `apf-admin stock verify` finds a counter changed behind the ledger's back and `stock
 * reconcile` records it, `stock history` lists an item's movements. The last test verifies every
 * counter of every account after the suites before it (registered late in main.c): any write
 * path that skipped the ledger fails it. */
#include "apitest.h"

#include <string.h>

static const struct db_query Q_MOVES = {
	"SELECT COUNT(*) FROM stock_movements WHERE item_id = ?"
};
/* The item's latest movement as one text. */
static const struct db_query Q_LAST_MOVE = {
	"SELECT CONCAT_WS('|', counter, CAST(delta AS SIGNED), CAST(level_after AS SIGNED), reason,"
	" IFNULL(note, '-'), IFNULL(request_id, '-')) FROM stock_movements WHERE item_id = ?"
	" ORDER BY id DESC LIMIT 1"
};
static const struct db_query Q_SET_LEVEL = {
	"UPDATE product_skus SET stock_level = ? WHERE id = ?"
};

/* A product with one SKU holding `level` component units; the SKU id into sku. */
static int sku_at(const struct tenant *t, int level, char sku[FX_ID])
{
	char product[FX_ID], path[160], body[160];
	if (fx_created(t->key, "/products", "{\"name\":\"Ledger vase\"}", product) < 0)
		return -1;
	snprintf(path, sizeof path, "/products/%s/skus", product);
	snprintf(body, sizeof body, "{\"sku\":\"LED-1\",\"color\":\"Red\",\"stock_level\":%d}", level);
	return fx_created(t->key, path, body, sku);
}

static void test_api_writes_movements(void)
{
	struct tenant t;
	char sku[FX_ID], v[256], path[160], want[256];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(sku_at(&t, 5, sku));
	/* the opening level of a created item */
	if (FX_TEXT(v, Q_LAST_MOVE, DS(sku)) == 0)
		CHECK(strncmp(v, "product_skus.stock_level|5|5|created|-|", 39) == 0, NULL,
		      "movement of the created SKU: %s", v);
	/* an adjustment: its delta, the level after, its reason text and the request's id */
	snprintf(path, sizeof path, "/skus/%s/adjust", sku);
	api_call(&(struct call){ .method = "POST", .path = path, .key = t.key,
				 .body = "{\"adjustment\":-2,\"reason\":\"cycle count\"}",
				 .headers = { "X-Request-Id: ledger-test-adjust-1" } }, &r);
	if (EXPECT(r, 200, NULL) && FX_TEXT(v, Q_LAST_MOVE, DS(sku)) == 0) {
		snprintf(want, sizeof want,
			 "product_skus.stock_level|-2|3|adjust|cycle count|ledger-test-adjust-1");
		STR_EQ(v, want, &r);
	}
	/* refused (below 0): nothing changes, no movement */
	api("POST", path, t.key, "{\"adjustment\":-4}", &r);
	EXPECT(r, 400, "INVALID_STOCK_LEVEL");
	if (FX_TEXT(v, Q_MOVES, DS(sku)) == 0)
		STR_EQ(v, "2", &r);
	/* zero: no movement either */
	api("POST", path, t.key, "{\"adjustment\":0}", &r);
	EXPECT(r, 200, NULL);
	if (FX_TEXT(v, Q_MOVES, DS(sku)) == 0)
		STR_EQ(v, "2", &r);
}

static void test_verify_and_reconcile(void)
{
	struct tenant t;
	char sku[FX_ID], v[64];
	int st = -1;
	FX(fx_tenant(&t, "read,write"));
	FX(sku_at(&t, 4, sku));
	json_t *j = FX_ADMIN("stock", "verify", "--account", t.account);
	CHECK(j && json_integer_value(json_object_get(j, "differences")) == 0, NULL,
	      "a fresh account verifies clean");
	json_decref(j);

	/* a change behind the ledger's back is found, named, and fails the command */
	FX(FX_SQL(Q_SET_LEVEL, DI(9), DS(sku)));
	j = fx_admin_exit((const char *const[]){ "stock", "verify", "--account", t.account, NULL },
			  &st);
	INT_EQ(st, 1, NULL);
	const json_t *d = json_array_get(json_object_get(j, "data"), 0);
	CHECK(json_integer_value(json_object_get(j, "differences")) == 1 &&
		      json_array_size(json_object_get(j, "data")) == 1,
	      NULL, "one difference reported");
	STR_EQ(jstr(d, "counter"), "product_skus.stock_level", NULL);
	STR_EQ(jstr(d, "item_id"), sku, NULL);
	STR_EQ(jstr(d, "level"), "9", NULL);
	STR_EQ(jstr(d, "ledger"), "4", NULL);
	json_decref(j);

	/* reconcile records the difference; verify is clean again; history shows both */
	j = FX_ADMIN("stock", "reconcile", "--account", t.account);
	CHECK(j && json_integer_value(json_object_get(j, "reconciled")) == 1, NULL,
	      "one counter reconciled");
	json_decref(j);
	j = FX_ADMIN("stock", "verify", "--account", t.account);
	CHECK(j && json_integer_value(json_object_get(j, "differences")) == 0, NULL,
	      "clean after reconcile");
	json_decref(j);
	j = FX_ADMIN("stock", "history", sku);
	const json_t *rows = json_object_get(j, "data");
	if (CHECK(json_array_size(rows) == 2, NULL, "two movements, got %zu",
		  json_array_size(rows))) {
		STR_EQ(jstr(json_array_get(rows, 0), "reason"), "created", NULL);
		STR_EQ(jstr(json_array_get(rows, 1), "reason"), "reconciliation", NULL);
		INT_EQ(jint(json_array_get(rows, 1), "delta"), 5, NULL);
		INT_EQ(jint(json_array_get(rows, 1), "level_after"), 9, NULL);
	}
	json_decref(j);
	if (FX_TEXT(v, Q_MOVES, DS(sku)) == 0)
		STR_EQ(v, "2", NULL);
}

/* After every suite registered before this one: each counter of each account equals the sum
 * of its movements. */
static void test_everything_verifies(void)
{
	int st = -1;
	json_t *j = fx_admin_exit((const char *const[]){ "stock", "verify", NULL }, &st);
	const json_t *diffs = json_object_get(j, "data");
	for (size_t i = 0; i < json_array_size(diffs); i++) {
		const json_t *d = json_array_get(diffs, i);
		CHECK(0, NULL, "%s %s (account %s): counter %s, ledger %s", jstr(d, "counter"),
		      jstr(d, "item_id"), jstr(d, "account_id"), jstr(d, "level"), jstr(d, "ledger"));
	}
	INT_EQ(st, 0, NULL);
	json_decref(j);
}

/* After every suite registered before this one (jobs completed and failed by the API and by
 * hub events, orders, failures, usage): the analytics rollups of every account equal their
 * recomputation from the source rows (docs/analytics.md "Rollups"). */
static void test_analytics_rollups_verify(void)
{
	int st = -1;
	json_t *j = fx_admin_exit((const char *const[]){ "analytics", "verify", NULL }, &st);
	const json_t *diffs = json_object_get(j, "data");
	for (size_t i = 0; i < json_array_size(diffs); i++) {
		const json_t *d = json_array_get(diffs, i);
		CHECK(0, NULL, "%s rollup (account %s) kind %lld grp '%s' day %s sub '%s' differs",
		      jstr(d, "rollup"), jstr(d, "account_id"), jint(d, "kind"), jstr(d, "grp"),
		      jstr(d, "day"), jstr(d, "sub"));
	}
	INT_EQ(st, 0, NULL);
	json_decref(j);
}

int suite_ledger(void)
{
	CU_pSuite s = CU_add_suite("ledger", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_api_writes_movements);
	ADD_TEST(s, test_verify_and_reconcile);
	ADD_TEST(s, test_everything_verifies);
	ADD_TEST(s, test_analytics_rollups_verify);
	return 0;
}
