/* t_materials.c - materials (docs/materials.md): filament, packaging, components and parts
 * through one set of rows run over the four kinds (create, get, list, update: projections,
 * never-exposed and never-accepted fields, 404 of another account, scopes, validation), the R4
 * status at its boundaries on create and update with the stock movement of each change, the
 * list filters and order, consume (a movement and a usage row; below zero changes nothing, also
 * under concurrent requests) and the batch availability check of components. */
#include "cases.h"

#include "apitest.h"

#include "util.h"

#include <stdio.h>
#include <string.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const FIL_KEYS[] = {
	"id", "type", "color", "hex_code", "brand", "diameter", "remaining_grams",
	"spool_weight_grams", "low_threshold", "status", "location", "created_at", "updated_at", NULL
};
static const char *const PKG_KEYS[] = {
	"id", "type", "name", "color", "brand", "size", "remaining_units", "low_threshold",
	"status", "location", "created_at", "updated_at", NULL
};
static const char *const CMP_KEYS[] = {
	"id", "type", "name", "color", "brand", "diameter", "size", "remaining_units",
	"low_threshold", "status", "location", "created_at", "updated_at", NULL
};
static const char *const PRT_KEYS[] = {
	"id", "type", "name", "color", "brand", "remaining_units", "low_threshold", "status",
	"location", "created_at", "updated_at", NULL
};

/* One kind as the tests see it. */
struct kind {
	const char *seg;         /* below /materials */
	const char *required;    /* required members besides type, each followed by ',' */
	const char *remaining;   /* the counted member */
	const char *counter;     /* stock_movements.counter */
	const char *table;
	const char *const *keys; /* the projection */
	const char *own;         /* a member only this kind has (a string), or NULL */
	const char *default_threshold; /* low_threshold of a create without one (JSON) */
};

static const struct kind KINDS[] = {
	{ "filament", "\"color\":\"Red\",", "remaining_grams", "filament_inventory.remaining_grams",
	  "filament_inventory", FIL_KEYS, "hex_code", "100.0" },
	{ "packaging", "", "remaining_units", "packaging_inventory.remaining_units",
	  "packaging_inventory", PKG_KEYS, "size", "null" },
	{ "components", "", "remaining_units", "accessories_inventory.remaining_units",
	  "accessories_inventory", CMP_KEYS, "diameter", "null" },
	{ "parts", "", "remaining_units", "printer_parts_inventory.remaining_units",
	  "printer_parts_inventory", PRT_KEYS, NULL, "null" },
};
#define NKINDS (sizeof KINDS / sizeof KINDS[0])

/* The item's movements: count, and the latest as one text. */
static const struct db_query Q_MOVES = {
	"SELECT COUNT(*) FROM stock_movements WHERE item_id = ?"
};
static const struct db_query Q_LAST_MOVE = {
	"SELECT CONCAT_WS('|', counter, delta, level_after, reason, IFNULL(note, '-'),"
	" IFNULL(request_id, '-')) FROM stock_movements WHERE item_id = ? ORDER BY id DESC LIMIT 1"
};
static const struct db_query Q_USAGE = {
	"SELECT CONCAT_WS('|', COUNT(*), IFNULL(MAX(material_type), '-'),"
	" IFNULL(MAX(usage_amount), '-'), IFNULL(MAX(reason), '-'), IFNULL(MAX(notes), '-'))"
	" FROM material_usage_history WHERE material_id = ?"
};
static const struct db_query Q_CMP_ROW = {
	"SELECT CONCAT_WS('|', remaining_units, status) FROM accessories_inventory WHERE id = ?"
};
/* Fixture state: an older row (the API stamps the time of the request). */
#define AGE(table) \
	{ "UPDATE " table " SET created_at = NOW(3) - INTERVAL ? MINUTE WHERE id = ?" }
static const struct db_query Q_AGE[NKINDS] = {
	AGE("filament_inventory"), AGE("packaging_inventory"), AGE("accessories_inventory"),
	AGE("printer_parts_inventory"),
};

/* POST /materials/<kind> of {"type": type, <required> extra}; the new id into id. */
static int make(const struct tenant *t, const struct kind *k, const char *type, const char *extra,
		char id[FX_ID])
{
	char path[64], body[512];
	snprintf(path, sizeof path, "/materials/%s", k->seg);
	snprintf(body, sizeof body, "{\"type\":\"%s\",%s%s}", type, k->required,
		 extra && extra[0] ? extra : "\"location\":null");
	return fx_created(t->key, path, body, id);
}

/* "<counter>|<delta>|<level>|<reason>|<note>" of the item's latest movement equals want
 * (amounts as decimal text, two places), and the item has n movements. */
static void moves_are(const struct kind *k, const char *id, int n, const char *delta,
		      const char *level, const char *reason, const char *note)
{
	char got[512], want[512], d[32], l[32], count[16];
	if (FX_TEXT(count, Q_MOVES, DS(id)) == 0)
		CHECK(atoi(count) == n, NULL, "%s %s: %d movements, got %s", k->seg, id, n, count);
	if (n == 0 || FX_TEXT(got, Q_LAST_MOVE, DS(id)) < 0)
		return;
	snprintf(d, sizeof d, "%s.00", delta); /* delta / level_after are DECIMAL(14,2) */
	snprintf(l, sizeof l, "%s.00", level);
	snprintf(want, sizeof want, "%s|%s|%s|%s|%s|", k->counter, d, l, reason, note);
	CHECK(strncmp(got, want, strlen(want)) == 0, NULL, "%s: latest movement %s, want %s...",
	      k->seg, got, want);
}

/* Create, get and list of each kind: exact projection, values, defaults, the opening movement. */
static void test_create_each_kind(void)
{
	struct tenant t;
	char id[FX_ID], bare[FX_ID], path[128], body[512], amount[256];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	for (size_t i = 0; i < NKINDS; i++) {
		const struct kind *k = &KINDS[i];
		snprintf(body, sizeof body, "{\"type\":\"PLA\",%s\"brand\":\"Acme\",\"%s\":25,"
			 "\"low_threshold\":10,\"location\":\"Shelf 2\",\"unknown\":1}",
			 k->required, k->remaining);
		snprintf(path, sizeof path, "/materials/%s", k->seg);
		api("POST", path, t.key, body, &r);
		if (!EXPECT(r, 201, NULL))
			continue;
		json_t *m = rdata(&r);
		KEYS(m, k->keys, &r);
		snprintf(id, sizeof id, "%s", jstr(m, "id") ? jstr(m, "id") : "");
		CHECK(util_is_uuid(id), &r, "id is a UUID");
		STR_EQ(jstr(m, "type"), "PLA", &r);
		STR_EQ(jstr(m, "brand"), "Acme", &r);
		STR_EQ(jstr(m, "location"), "Shelf 2", &r);
		STR_EQ(jstr(m, "status"), "in_stock", &r);
		CHECK(json_number_value(json_object_get(m, k->remaining)) == 25, &r, "remaining 25");
		CHECK(json_number_value(json_object_get(m, "low_threshold")) == 10, &r, "threshold");
		CHECK(is_iso_ms(jstr(m, "created_at")) && is_iso_ms(jstr(m, "updated_at")), &r,
		      "times are ISO-8601 ms Z");
		moves_are(k, id, 1, "25", "25", "created", "-");
		/* the detail is the same shape */
		snprintf(path, sizeof path, "/materials/%s/%s", k->seg, id);
		api("GET", path, t.key, NULL, &r);
		if (EXPECT(r, 200, NULL)) {
			KEYS(rdata(&r), k->keys, &r);
			STR_EQ(jstr(rdata(&r), "id"), id, &r);
		}
		/* the least body: nothing on hand (out_of_stock, no movement), the kind's defaults */
		FX(make(&t, k, "Bare", NULL, bare));
		snprintf(path, sizeof path, "/materials/%s/%s", k->seg, bare);
		api("GET", path, t.key, NULL, &r);
		if (EXPECT(r, 200, NULL)) {
			m = rdata(&r);
			STR_EQ(jstr(m, "status"), "out_of_stock", &r);
			CHECK(json_number_value(json_object_get(m, k->remaining)) == 0, &r, "0 on hand");
			char *th = json_dumps(json_object_get(m, "low_threshold"), JSON_ENCODE_ANY);
			STR_EQ(th, k->default_threshold, &r);
			free(th);
			if (i == 0) {
				STR_EQ(jstr(m, "diameter"), "1.75mm", &r);
				CHECK(json_number_value(json_object_get(m, "spool_weight_grams")) == 1000,
				      &r, "spool weight 1000");
			}
		}
		moves_are(k, bare, 0, NULL, NULL, NULL, NULL);
		/* newest first, both in the list, in the list shape */
		snprintf(path, sizeof path, "/materials/%s", k->seg);
		FX(FX_SQL(Q_AGE[i], DI(5), DS(id)));
		api("GET", path, t.key, NULL, &r);
		if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 2, &r)) {
			STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), bare, &r);
			STR_EQ(jstr(json_array_get(rdata(&r), 1), "id"), id, &r);
			KEYS(json_array_get(rdata(&r), 0), k->keys, &r);
			/* paged as every list without paging of its own (docs/materials.md) */
			INT_EQ(jint(json_object_get(r.json, "meta"), "limit"), 50, &r);
			INT_EQ(jint(json_object_get(r.json, "meta"), "count"), 2, &r);
		}
		snprintf(path, sizeof path, "/materials/%s?limit=1&offset=1", k->seg);
		api("GET", path, t.key, NULL, &r);
		if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r))
			STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), id, &r);
		snprintf(path, sizeof path, "/materials/%s?limit=101", k->seg);
		api("GET", path, t.key, NULL, &r);
		if (EXPECT(r, 422, "VALIDATION_ERROR"))
			CHECK(rdetail(&r, "limit") != NULL, &r, "names limit");
	}
	/* filament amounts keep two decimals */
	FX(make(&t, &KINDS[0], "PETG", "\"remaining_grams\":12.346,\"low_threshold\":0.5", id));
	snprintf(path, sizeof path, "/materials/filament/%s", id);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_number_value(json_object_get(rdata(&r), "remaining_grams")) == 12.35, &r,
		      "rounded to 12.35");
	if (FX_TEXT(amount, Q_LAST_MOVE, DS(id)) == 0)
		CHECK(strstr(amount, "|12.35|12.35|created|") != NULL, NULL, "movement %s", amount);
}

/* The same rows for every kind: vars kind, id (the account's), other (another account's),
 * req (the kind's required members). */
static const struct case_row KIND_ROWS[] = {
	{ "GET", "/materials/{kind}/{id}", "read", NULL, 200, NULL,
	  { "data.id={id}", "!data.cost_per_unit", "!data.reorder_link", "!data.account_id",
	    "!data.compatible_models" } },
	{ "GET", "/materials/{kind}/{other}", "read", NULL, 404, "MATERIAL_NOT_FOUND", { NULL } },
	{ "GET", "/materials/{kind}/" NO_SUCH_ID, "read", NULL, 404, "MATERIAL_NOT_FOUND", { NULL } },
	{ "GET", "/materials/{kind}/not-an-id", "read", NULL, 404, "MATERIAL_NOT_FOUND", { NULL } },
	{ "PATCH", "/materials/{kind}/{other}", "write", "{\"location\":\"Mine\"}",
	  404, "MATERIAL_NOT_FOUND", { NULL } },
	{ "PATCH", "/materials/{kind}/" NO_SUCH_ID, "write", "{\"location\":\"x\"}",
	  404, "MATERIAL_NOT_FOUND", { NULL } },
	{ "GET", "/materials/{kind}/{other}", CASE_OTHER, NULL, 200, NULL, { "data.id={other}" } },
	/* scopes */
	{ "GET", "/materials/{kind}", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	{ "GET", "/materials/{kind}/{id}", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	{ "POST", "/materials/{kind}", "read", "{\"type\":\"T\",{req}\"location\":null}",
	  403, "INSUFFICIENT_SCOPE", { NULL } },
	{ "PATCH", "/materials/{kind}/{id}", "read", "{\"location\":\"x\"}",
	  403, "INSUFFICIENT_SCOPE", { NULL } },
	/* never accepted: 422 naming them */
	{ "POST", "/materials/{kind}", "write", "{\"type\":\"T\",{req}\"cost_per_unit\":5}",
	  422, "VALIDATION_ERROR", { "details.cost_per_unit", "!details.type" } },
	{ "POST", "/materials/{kind}", "write", "{\"type\":\"T\",{req}\"reorder_link\":\"http://x\"}",
	  422, "VALIDATION_ERROR", { "details.reorder_link" } },
	{ "POST", "/materials/{kind}", "write", "{\"type\":\"T\",{req}\"status\":\"in_stock\"}",
	  422, "VALIDATION_ERROR", { "details.status" } },
	{ "POST", "/materials/{kind}", "write", "{\"type\":\"T\",{req}\"account_id\":\"{other}\"}",
	  422, "VALIDATION_ERROR", { "details.account_id" } },
	{ "PATCH", "/materials/{kind}/{id}", "write", "{\"status\":\"low\"}",
	  422, "VALIDATION_ERROR", { "details.status" } },
	{ "PATCH", "/materials/{kind}/{id}", "write", "{\"location\":\"x\",\"cost_per_unit\":1}",
	  422, "VALIDATION_ERROR", { "details.cost_per_unit" } },
	{ "PATCH", "/materials/{kind}/{id}", "write", "{\"reorder_link\":null}",
	  422, "VALIDATION_ERROR", { "details.reorder_link" } },
	/* bad input */
	{ "POST", "/materials/{kind}", "write", "{{req}\"location\":null}",
	  422, "VALIDATION_ERROR", { "details.type" } },
	{ "POST", "/materials/{kind}", "write", "{\"type\":\"\",{req}\"location\":null}",
	  422, "VALIDATION_ERROR", { "details.type" } },
	{ "POST", "/materials/{kind}", "write", "{\"type\":7,{req}\"location\":null}",
	  422, "VALIDATION_ERROR", { "details.type" } },
	{ "POST", "/materials/{kind}", "write", "{\"type\":\"T\",{req}\"low_threshold\":-1}",
	  422, "VALIDATION_ERROR", { "details.low_threshold" } },
	{ "POST", "/materials/{kind}", "write", "{\"type\":\"T\",{req}\"low_threshold\":\"5\"}",
	  422, "VALIDATION_ERROR", { "details.low_threshold" } },
	{ "POST", "/materials/{kind}", "write", "{\"type\":\"T\",{req}\"brand\":7}",
	  422, "VALIDATION_ERROR", { "details.brand" } },
	{ "POST", "/materials/{kind}", "write", "[]", 422, "VALIDATION_ERROR", { "details.body" } },
	{ "PATCH", "/materials/{kind}/{id}", "write", "{\"type\":null}",
	  422, "VALIDATION_ERROR", { "details.type" } },
	{ "PATCH", "/materials/{kind}/{id}", "write", "{\"location\":7}",
	  422, "VALIDATION_ERROR", { "details.location" } },
	{ "PATCH", "/materials/{kind}/{id}", "write", "{}", 400, "NO_UPDATES", { NULL } },
	{ "PATCH", "/materials/{kind}/{id}", "write", "{\"unknown\":1}", 400, "NO_UPDATES", { NULL } },
	{ "GET", "/materials/{kind}?low_stock=maybe", "read", NULL,
	  422, "VALIDATION_ERROR", { "details.low_stock" } },
	/* a valid update answers the detail */
	{ "PATCH", "/materials/{kind}/{id}", "write", "{\"location\":\"Bin 4\",\"brand\":null}",
	  200, NULL, { "data.id={id}", "data.location=Bin 4", "data.brand=null",
		       "!data.cost_per_unit" } },
};

static void test_rows_each_kind(void)
{
	struct case_ctx c;
	char id[FX_ID], other[FX_ID], path[128], body[256], v[256];
	RESP(r);
	FX(case_init(&c));
	for (size_t i = 0; i < NKINDS; i++) {
		const struct kind *k = &KINDS[i];
		FX(make(&c.t, k, "Mine", NULL, id));
		FX(make(&c.other, k, "Theirs", NULL, other));
		case_var(&c, "kind", k->seg);
		case_var(&c, "id", id);
		case_var(&c, "other", other);
		case_var(&c, "req", k->required);
		CASE_RUN(&c, KIND_ROWS);
		/* the counted member: never negative, a number */
		static const char *const bad[] = { "-1", "\"5\"", "null", "true" };
		for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
			snprintf(path, sizeof path, "/materials/%s", k->seg);
			snprintf(body, sizeof body, "{\"type\":\"T\",%s\"%s\":%s}", k->required,
				 k->remaining, bad[b]);
			api("POST", path, c.t.key, body, &r);
			if (EXPECT(r, 422, "VALIDATION_ERROR"))
				CHECK(rdetail(&r, k->remaining) != NULL, &r, "names %s", k->remaining);
			snprintf(path, sizeof path, "/materials/%s/%s", k->seg, id);
			snprintf(body, sizeof body, "{\"%s\":%s}", k->remaining, bad[b]);
			api("PATCH", path, c.t.key, body, &r);
			if (EXPECT(r, 422, "VALIDATION_ERROR"))
				CHECK(rdetail(&r, k->remaining) != NULL, &r, "names %s", k->remaining);
		}
		/* a member of another kind is ignored like any unknown one */
		snprintf(path, sizeof path, "/materials/%s/%s", k->seg, id);
		api("PATCH", path, c.t.key, i == 0 ? "{\"name\":\"x\"}" : "{\"spool_weight_grams\":1}",
		    &r);
		EXPECT(r, 400, "NO_UPDATES");
		/* the kind's own member is accepted */
		if (k->own) {
			snprintf(body, sizeof body, "{\"%s\":\"#ABCDEF\"}", k->own);
			api("PATCH", path, c.t.key, body, &r);
			if (EXPECT(r, 200, NULL))
				STR_EQ(jstr(rdata(&r), k->own), "#ABCDEF", &r);
		}
		/* the other account's row did not change, nothing moved */
		snprintf(path, sizeof path, "/materials/%s/%s", k->seg, other);
		api("GET", path, c.other.key, NULL, &r);
		if (EXPECT(r, 200, NULL))
			CHECK(json_is_null(json_object_get(rdata(&r), "location")), &r,
			      "another account's row unchanged");
		if (FX_TEXT(v, Q_MOVES, DS(id)) == 0)
			STR_EQ(v, "0", NULL);
	}
	/* parts never take compatible_models; filament's limits are its own */
	static const struct case_row own_rows[] = {
		{ "POST", "/materials/parts", "write", "{\"type\":\"T\",\"compatible_models\":[\"X1\"]}",
		  422, "VALIDATION_ERROR", { "details.compatible_models" } },
		{ "POST", "/materials/filament", "write", "{\"type\":\"PLA\"}",
		  422, "VALIDATION_ERROR", { "details.color", "!details.type" } },
		{ "POST", "/materials/filament", "write", "{\"type\":\"PLA\",\"color\":\"\"}",
		  422, "VALIDATION_ERROR", { "details.color" } },
		{ "POST", "/materials/filament", "write",
		  "{\"type\":\"PLA\",\"color\":\"R\",\"hex_code\":\"#1234567\"}",
		  422, "VALIDATION_ERROR", { "details.hex_code" } },
		{ "POST", "/materials/filament", "write",
		  "{\"type\":\"PLA\",\"color\":\"R\",\"remaining_grams\":100000000}",
		  422, "VALIDATION_ERROR", { "details.remaining_grams" } },
		{ "POST", "/materials/filament", "write",
		  "{\"type\":\"PLA\",\"color\":\"R\",\"spool_weight_grams\":-1}",
		  422, "VALIDATION_ERROR", { "details.spool_weight_grams" } },
		{ "POST", "/materials/packaging", "write",
		  "{\"type\":\"Box\",\"remaining_units\":1.5}",
		  422, "VALIDATION_ERROR", { "details.remaining_units" } },
		{ "POST", "/materials/packaging", "write",
		  "{\"type\":\"Box\",\"remaining_units\":2147483648}",
		  422, "VALIDATION_ERROR", { "details.remaining_units" } },
		{ "POST", "/materials/components", "write",
		  "{\"type\":\"Screw\",\"size\":\"" "123456789012345678901234567890123456789012345678901"
		  "\"}", 422, "VALIDATION_ERROR", { "details.size" } },
	};
	CASE_RUN(&c, own_rows);
}

/* R4 on create, update and consume, at the boundaries, with the movement of each change. */
static void test_status_and_ledger(void)
{
	struct tenant t;
	char id[FX_ID], path[128], body[256], lv[32], dl[32];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	for (size_t i = 0; i < NKINDS; i++) {
		const struct kind *k = &KINDS[i];
		/* create: remaining / threshold -> status */
		static const struct {
			const char *remaining, *threshold, *status;
		} on_create[] = {
			{ "0", "10", "out_of_stock" }, { "0", "0", "out_of_stock" },
			{ "0", "null", "out_of_stock" }, { "10", "10", "low" }, { "1", "10", "low" },
			{ "11", "10", "in_stock" }, { "1", "0", "in_stock" }, { "1", "null", "in_stock" },
		};
		for (size_t c = 0; c < sizeof on_create / sizeof on_create[0]; c++) {
			snprintf(body, sizeof body, "\"%s\":%s,\"low_threshold\":%s", k->remaining,
				 on_create[c].remaining, on_create[c].threshold);
			FX(make(&t, k, "R4", body, id));
			snprintf(path, sizeof path, "/materials/%s/%s", k->seg, id);
			api("GET", path, t.key, NULL, &r);
			if (EXPECT(r, 200, NULL))
				CHECK(strcmp(jstr(rdata(&r), "status"), on_create[c].status) == 0, &r,
				      "%s: %s on hand, threshold %s: %s", k->seg,
				      on_create[c].remaining, on_create[c].threshold,
				      on_create[c].status);
			int moved = strcmp(on_create[c].remaining, "0") != 0;
			moves_are(k, id, moved, on_create[c].remaining, on_create[c].remaining,
				  "created", "-");
		}
		/* update: from 11 on hand, threshold 10 (in_stock) */
		snprintf(body, sizeof body, "\"%s\":11,\"low_threshold\":10", k->remaining);
		FX(make(&t, k, "Moves", body, id));
		snprintf(path, sizeof path, "/materials/%s/%s", k->seg, id);
		static const struct {
			const char *patch;   /* %s: the counted member */
			const char *status;
			int moves;           /* movements after it */
			const char *delta, *level;
		} steps[] = {
			{ "{\"{id}\":10}", "low", 2, "-1", "10" },                 /* at the threshold */
			{ "{\"low_threshold\":9}", "in_stock", 2, NULL, NULL },  /* threshold: no move */
			{ "{\"low_threshold\":0}", "in_stock", 2, NULL, NULL },  /* 0 = none */
			{ "{\"low_threshold\":null}", "in_stock", 2, NULL, NULL },
			{ "{\"low_threshold\":10}", "low", 2, NULL, NULL },
			{ "{\"location\":\"Top\"}", "low", 2, NULL, NULL },      /* no counter */
			{ "{\"{id}\":10,\"location\":\"A\"}", "low", 2, NULL, NULL }, /* same: no move */
			{ "{\"{id}\":0}", "out_of_stock", 3, "-10", "0" },
			{ "{\"{id}\":0,\"low_threshold\":0}", "out_of_stock", 3, NULL, NULL },
			{ "{\"{id}\":40,\"low_threshold\":40}", "low", 4, "40", "40" },
			{ "{\"{id}\":41}", "in_stock", 5, "1", "41" },
		};
		for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
			fx_fill(body, sizeof body, steps[s].patch, k->remaining);
			api("PATCH", path, t.key, body, &r);
			if (EXPECT(r, 200, NULL)) {
				KEYS(rdata(&r), k->keys, &r);
				CHECK(strcmp(jstr(rdata(&r), "status"), steps[s].status) == 0, &r,
				      "%s after %s: %s", k->seg, body, steps[s].status);
			}
			if (steps[s].delta)
				moves_are(k, id, steps[s].moves, steps[s].delta, steps[s].level,
					  "updated", "-");
			else if (FX_TEXT(lv, Q_MOVES, DS(id)) == 0)
				CHECK(atoi(lv) == steps[s].moves, NULL, "%s after %s: %d movements,"
				      " got %s", k->seg, body, steps[s].moves, lv);
		}
		/* a refused update changes nothing */
		snprintf(body, sizeof body, "{\"%s\":-1}", k->remaining);
		api("PATCH", path, t.key, body, &r);
		EXPECT(r, 422, "VALIDATION_ERROR");
		api("GET", path, t.key, NULL, &r);
		if (EXPECT(r, 200, NULL)) {
			CHECK(json_number_value(json_object_get(rdata(&r), k->remaining)) == 41, &r,
			      "still 41");
			snprintf(dl, sizeof dl, "%s", jstr(rdata(&r), "status"));
			STR_EQ(dl, "in_stock", &r);
		}
		moves_are(k, id, 5, "1", "41", "updated", "-");
	}
}

/* Filters: low_stock for every kind (a set threshold, whatever R4 says of 0), filament's
 * material_type and color (exact, case-sensitive); another account's rows never listed. */
static void test_list_filters(void)
{
	struct tenant t, o;
	char a[FX_ID], b[FX_ID], c[FX_ID], d[FX_ID], x[FX_ID], path[160], body[128];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	for (size_t i = 0; i < NKINDS; i++) {
		const struct kind *k = &KINDS[i];
		snprintf(body, sizeof body, "\"%s\":5,\"low_threshold\":5", k->remaining);
		FX(make(&t, k, "PLA", body, a)); /* at the threshold: low */
		snprintf(body, sizeof body, "\"%s\":6,\"low_threshold\":5", k->remaining);
		FX(make(&t, k, "PETG", body, b)); /* above */
		snprintf(body, sizeof body, "\"%s\":0,\"low_threshold\":0", k->remaining);
		FX(make(&t, k, "pla", body, c)); /* 0 <= 0: listed as low stock (out_of_stock) */
		snprintf(body, sizeof body, "\"%s\":0,\"low_threshold\":null", k->remaining);
		FX(make(&t, k, "PLA", body, d)); /* no threshold: never low stock */
		FX(make(&o, k, "PLA", body, x));
		FX(FX_SQL(Q_AGE[i], DI(4), DS(a)));
		FX(FX_SQL(Q_AGE[i], DI(3), DS(b)));
		FX(FX_SQL(Q_AGE[i], DI(2), DS(c)));
		FX(FX_SQL(Q_AGE[i], DI(1), DS(d)));
		const struct {
			const char *query;
			const char *ids[5];
		} views[] = {
			{ "", { d, c, b, a, NULL } },
			{ "?low_stock=true", { c, a, NULL } },
			{ "?low_stock=false", { d, b, NULL } },
			/* filament only (an unknown parameter elsewhere) */
			{ "?material_type=PLA", { d, a, NULL } },
			{ "?material_type=pla&low_stock=true", { c, NULL } },
			{ "?color=red", { NULL } },
			{ "?color=Red&material_type=PETG", { b, NULL } },
		};
		size_t nviews = i == 0 ? sizeof views / sizeof views[0] : 3;
		for (size_t v = 0; v < nviews; v++) {
			snprintf(path, sizeof path, "/materials/%s%s", k->seg, views[v].query);
			api("GET", path, t.key, NULL, &r);
			if (!EXPECT(r, 200, NULL))
				continue;
			size_t n = 0;
			while (views[v].ids[n])
				n++;
			if (!CHECK(json_array_size(rdata(&r)) == n, &r, "%s: %zu rows", path, n))
				continue;
			for (size_t j = 0; j < n; j++)
				STR_EQ(jstr(json_array_get(rdata(&r), j), "id"), views[v].ids[j], &r);
			CHECK(!strstr(r.body, x), &r, "another account's row is not listed");
		}
	}
	static const struct case_row bad[] = {
		{ "GET", "/materials/filament?material_type=", "read", NULL,
		  422, "VALIDATION_ERROR", { "details.material_type" } },
		{ "GET", "/materials/filament?color=", "read", NULL,
		  422, "VALIDATION_ERROR", { "details.color" } },
		{ "GET", "/materials/parts?low_stock=2", "read", NULL,
		  422, "VALIDATION_ERROR", { "details.low_stock" } },
	};
	struct case_ctx cc;
	FX(case_init(&cc));
	CASE_RUN(&cc, bad);
}

/* POST /materials/components/{id}/consume: through the ledger, one usage row; refused below 0
 * without any change. */
static void test_consume(void)
{
	struct case_ctx c;
	char id[FX_ID], other[FX_ID], fil[FX_ID], path[160], v[256];
	const struct kind *k = &KINDS[2];
	RESP(r);
	FX(case_init(&c));
	FX(make(&c.t, k, "Magnet", "\"remaining_units\":5,\"low_threshold\":2", id));
	FX(make(&c.other, k, "Magnet", "\"remaining_units\":5", other));
	FX(make(&c.t, &KINDS[0], "PLA", "\"remaining_grams\":5", fil));
	snprintf(path, sizeof path, "/materials/components/%s/consume", id);
	api_call(&(struct call){ .method = "POST", .path = path, .key = c.t.key,
				 .body = "{\"quantity\":2,\"reason\":\"damaged\",\"notes\":\"dropped\"}",
				 .headers = { "X-Request-Id: consume-test-1" } }, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r), *cm = json_object_get(d, "component"),
		       *cs = json_object_get(d, "consumed");
		static const char *const data_keys[] = { "component", "consumed", NULL };
		static const char *const consumed_keys[] = {
			"quantity", "notes", "previous_quantity", "new_quantity", NULL
		};
		KEYS(d, data_keys, &r);
		KEYS(cm, CMP_KEYS, &r);
		KEYS(cs, consumed_keys, &r);
		INT_EQ(jint(cm, "remaining_units"), 3, &r);
		STR_EQ(jstr(cm, "status"), "in_stock", &r);
		INT_EQ(jint(cs, "quantity"), 2, &r);
		STR_EQ(jstr(cs, "notes"), "dropped", &r);
		INT_EQ(jint(cs, "previous_quantity"), 5, &r);
		INT_EQ(jint(cs, "new_quantity"), 3, &r);
	}
	if (FX_TEXT(v, Q_LAST_MOVE, DS(id)) == 0)
		STR_EQ(v, "accessories_inventory.remaining_units|-2.00|3.00|consume|dropped|"
			  "consume-test-1", NULL);
	if (FX_TEXT(v, Q_USAGE, DS(id)) == 0)
		STR_EQ(v, "1|accessory|2.000|damaged|dropped", NULL);
	/* down to the threshold: low; no reason: manual_adjustment, no note */
	api("POST", path, c.t.key, "{\"quantity\":1}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(json_object_get(rdata(&r), "component"), "status"), "low", &r);
		CHECK(json_is_null(json_object_get(json_object_get(rdata(&r), "consumed"), "notes")),
		      &r, "notes null");
	}
	moves_are(k, id, 3, "-1", "2", "consume", "-");
	if (FX_TEXT(v, Q_USAGE, DS(id)) == 0)
		CHECK(strncmp(v, "2|accessory|", 12) == 0, NULL, "two usage rows: %s", v);
	/* more than there is: refused, nothing changes */
	api("POST", path, c.t.key, "{\"quantity\":3,\"notes\":\"too many\"}", &r);
	EXPECT(r, 400, "INSUFFICIENT_QUANTITY");
	if (FX_TEXT(v, Q_CMP_ROW, DS(id)) == 0)
		STR_EQ(v, "2|low", NULL);
	moves_are(k, id, 3, "-1", "2", "consume", "-");
	if (FX_TEXT(v, Q_USAGE, DS(id)) == 0)
		CHECK(strncmp(v, "2|", 2) == 0, NULL, "still two usage rows: %s", v);
	/* exactly what there is: out_of_stock */
	api("POST", path, c.t.key, "{\"quantity\":2,\"reason\":\"other\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(json_object_get(rdata(&r), "component"), "status"), "out_of_stock", &r);
		INT_EQ(jint(json_object_get(rdata(&r), "consumed"), "new_quantity"), 0, &r);
	}
	moves_are(k, id, 4, "-2", "0", "consume", "-");
	api("POST", path, c.t.key, "{\"quantity\":1}", &r);
	EXPECT(r, 400, "INSUFFICIENT_QUANTITY");
	moves_are(k, id, 4, "-2", "0", "consume", "-");

	FX(make(&c.t, k, "Spare", "\"remaining_units\":9", id));
	case_var(&c, "id", id);
	case_var(&c, "other", other);
	case_var(&c, "fil", fil);
	static const struct case_row rows[] = {
		{ "POST", "/materials/components/{other}/consume", "write", "{\"quantity\":1}",
		  404, "MATERIAL_NOT_FOUND", { NULL } },
		{ "POST", "/materials/components/" NO_SUCH_ID "/consume", "write", "{\"quantity\":1}",
		  404, "MATERIAL_NOT_FOUND", { NULL } },
		{ "POST", "/materials/components/{fil}/consume", "write", "{\"quantity\":1}",
		  404, "MATERIAL_NOT_FOUND", { NULL } },
		{ "POST", "/materials/components/{id}/consume", "read", "{\"quantity\":1}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "POST", "/materials/components/{id}/consume", "write", "{}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/materials/components/{id}/consume", "write", "{\"quantity\":0}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/materials/components/{id}/consume", "write", "{\"quantity\":-3}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/materials/components/{id}/consume", "write", "{\"quantity\":\"1\"}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/materials/components/{id}/consume", "write", "{\"quantity\":1.5}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/materials/components/{id}/consume", "write",
		  "{\"quantity\":1,\"reason\":\"assembly_completion\"}",
		  422, "VALIDATION_ERROR", { "details.reason" } },
		{ "POST", "/materials/components/{id}/consume", "write",
		  "{\"quantity\":1,\"reason\":\"lost\"}", 422, "VALIDATION_ERROR", { "details.reason" } },
		{ "POST", "/materials/components/{id}/consume", "write",
		  "{\"quantity\":1,\"notes\":7}", 422, "VALIDATION_ERROR", { "details.notes" } },
		{ "POST", "/materials/components/{id}/consume", "write",
		  "{\"quantity\":10}", 400, "INSUFFICIENT_QUANTITY", { NULL } },
		{ "POST", "/materials/components/{id}/consume", "write",
		  "{\"quantity\":9,\"notes\":null}", 200, NULL,
		  { "data.component.id={id}", "data.component.remaining_units=0",
		    "data.consumed.previous_quantity=9", "data.consumed.notes=null",
		    "data.component.status=out_of_stock", "!data.component.cost_per_unit" } },
	};
	CASE_RUN(&c, rows);
	/* only components are consumed this way */
	snprintf(path, sizeof path, "/materials/filament/%s/consume", fil);
	api("POST", path, c.t.key, "{\"quantity\":1}", &r);
	EXPECT(r, 404, "NOT_FOUND");
	/* the other account's and the filament were not touched */
	if (FX_TEXT(v, Q_CMP_ROW, DS(other)) == 0)
		STR_EQ(v, "5|in_stock", NULL);
	moves_are(&KINDS[0], fil, 1, "5", "5", "created", "-");
	if (FX_TEXT(v, Q_USAGE, DS(other)) == 0)
		CHECK(strncmp(v, "0|", 2) == 0, NULL, "no usage for another account's: %s", v);
	/* the notes longer than 500 are refused, 500 are kept */
	char body[700];
	snprintf(path, sizeof path, "/materials/components/%s/consume", other);
	snprintf(body, sizeof body, "{\"quantity\":1,\"notes\":\"%s\"}", rep(0, "n", 501));
	api("POST", path, c.other.key, body, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "notes") != NULL, &r, "names notes");
	snprintf(body, sizeof body, "{\"quantity\":1,\"notes\":\"%s\"}", rep(0, "n", 500));
	api("POST", path, c.other.key, body, &r);
	EXPECT(r, 200, NULL);
}

/* Consumes at once of one component: each sees the level the one before it left (the row is
 * locked), so exactly as many succeed as there are units and the ledger follows every one. */
static void test_consume_concurrent(void)
{
	struct tenant t;
	char id[FX_ID], path[160], auth[128], v[256];
	struct resp out[8];
	int seen[5] = { 0 }, ok = 0, refused = 0;
	FX(fx_tenant(&t, "read,write"));
	FX(make(&t, &KINDS[2], "Nut", "\"remaining_units\":5,\"low_threshold\":1", id));
	snprintf(path, sizeof path, "/materials/components/%s/consume", id);
	snprintf(auth, sizeof auth, "Bearer %s", t.key);
	memset(out, 0, sizeof out);
	struct call c = { .method = "POST", .path = path, .auth = auth, .body = "{\"quantity\":1}" };
	int n = api_burst(&c, 8, out);
	INT_EQ(n, 8, NULL);
	for (int i = 0; i < n; i++) {
		long long left = jint(json_object_get(rdata(&out[i]), "consumed"), "new_quantity");
		if (out[i].status == 200 && left >= 0 && left < 5 && !seen[left]) {
			seen[left] = 1;
			ok++;
		} else if (out[i].status == 400 &&
			   strcmp(jstr(out[i].json, "code"), "INSUFFICIENT_QUANTITY") == 0) {
			refused++;
		} else {
			CHECK(0, &out[i], "unexpected answer");
		}
		resp_free(&out[i]);
	}
	INT_EQ(ok, 5, NULL);
	INT_EQ(refused, 3, NULL);
	if (FX_TEXT(v, Q_CMP_ROW, DS(id)) == 0)
		STR_EQ(v, "0|out_of_stock", NULL);
	moves_are(&KINDS[2], id, 6, "-1", "0", "consume", "-");
	if (FX_TEXT(v, Q_USAGE, DS(id)) == 0)
		CHECK(strncmp(v, "5|", 2) == 0, NULL, "five usage rows: %s", v);
}

/* POST /materials/components/check-availability: by type (case-insensitive), summed over the
 * account's rows, the oldest row's id; a pure read. */
static void test_check_availability(void)
{
	struct case_ctx c;
	char old[FX_ID], young[FX_ID], magnet[FX_ID], theirs[FX_ID], pkg[FX_ID], v[32], before[32];
	const struct kind *k = &KINDS[2];
	RESP(r);
	FX(case_init(&c));
	FX(make(&c.t, k, "M3 Screw", "\"remaining_units\":5", young));
	FX(make(&c.t, k, "M3 Screw", "\"remaining_units\":10", old));
	FX(FX_SQL(Q_AGE[2], DI(10), DS(old)));
	FX(make(&c.t, k, "Magnet", "\"remaining_units\":0", magnet));
	FX(make(&c.other, k, "Cable", "\"remaining_units\":50", theirs));
	FX(make(&c.t, &KINDS[1], "Cable", "\"remaining_units\":50", pkg)); /* not a component */
	FX(FX_TEXT(before, Q_MOVES, DS(old)));
	api("POST", "/materials/components/check-availability", c.t.key,
	    "{\"components\":[{\"component_type\":\"m3 screw\",\"quantity_needed\":12},"
	    "{\"component_type\":\"Magnet\",\"quantity_needed\":1},"
	    "{\"component_type\":\"Cable\",\"quantity_needed\":1},"
	    "{\"component_type\":\"M3 SCREW\",\"quantity_needed\":20}]}", &r);
	if (EXPECT(r, 200, NULL)) {
		static const char *const top[] = { "has_shortage", "components", NULL };
		static const char *const entry[] = {
			"component_type", "quantity_needed", "quantity_available", "has_shortage",
			"shortage_amount", "component_id", NULL
		};
		json_t *d = rdata(&r), *l = json_object_get(d, "components");
		KEYS(d, top, &r);
		INT_EQ(jbool(d, "has_shortage"), 1, &r);
		if (INT_EQ(json_array_size(l), 4, &r)) {
			json_t *e0 = json_array_get(l, 0), *e1 = json_array_get(l, 1),
			       *e2 = json_array_get(l, 2), *e3 = json_array_get(l, 3);
			for (size_t i = 0; i < 4; i++)
				KEYS(json_array_get(l, i), entry, &r);
			STR_EQ(jstr(e0, "component_type"), "m3 screw", &r);
			INT_EQ(jint(e0, "quantity_needed"), 12, &r);
			INT_EQ(jint(e0, "quantity_available"), 15, &r);
			INT_EQ(jbool(e0, "has_shortage"), 0, &r);
			INT_EQ(jint(e0, "shortage_amount"), 0, &r);
			STR_EQ(jstr(e0, "component_id"), old, &r);
			INT_EQ(jint(e1, "quantity_available"), 0, &r);
			INT_EQ(jbool(e1, "has_shortage"), 1, &r);
			INT_EQ(jint(e1, "shortage_amount"), 1, &r);
			STR_EQ(jstr(e1, "component_id"), magnet, &r);
			INT_EQ(jint(e2, "quantity_available"), 0, &r);
			INT_EQ(jint(e2, "shortage_amount"), 1, &r);
			CHECK(json_is_null(json_object_get(e2, "component_id")), &r, "no such type: null");
			STR_EQ(jstr(e3, "component_type"), "M3 SCREW", &r);
			INT_EQ(jint(e3, "shortage_amount"), 5, &r);
			INT_EQ(jbool(e3, "has_shortage"), 1, &r);
		}
	}
	FX(FX_TEXT(v, Q_MOVES, DS(old)));
	STR_EQ(v, before, NULL);
	if (FX_TEXT(v, Q_CMP_ROW, DS(old)) == 0)
		STR_EQ(v, "10|in_stock", NULL);
	case_var(&c, "old", old);
	static const struct case_row rows[] = {
		{ "POST", "/materials/components/check-availability", "read",
		  "{\"components\":[{\"component_type\":\"M3 Screw\",\"quantity_needed\":15}]}",
		  200, NULL, { "data.has_shortage=false", "data.components[0].shortage_amount=0",
			       "data.components[0].quantity_available=15",
			       "data.components[0].component_id={old}" } },
		{ "POST", "/materials/components/check-availability", CASE_OTHER,
		  "{\"components\":[{\"component_type\":\"M3 Screw\",\"quantity_needed\":1}]}",
		  200, NULL, { "data.has_shortage=true", "data.components[0].component_id=null" } },
		{ "POST", "/materials/components/check-availability", "write",
		  "{\"components\":[{\"component_type\":\"M3 Screw\",\"quantity_needed\":1}]}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "POST", "/materials/components/check-availability", "read", "{}",
		  422, "VALIDATION_ERROR", { "details.components" } },
		{ "POST", "/materials/components/check-availability", "read", "{\"components\":[]}",
		  422, "VALIDATION_ERROR", { "details.components" } },
		{ "POST", "/materials/components/check-availability", "read", "{\"components\":{}}",
		  422, "VALIDATION_ERROR", { "details.components" } },
		{ "POST", "/materials/components/check-availability", "read",
		  "{\"components\":[{\"quantity_needed\":1}]}",
		  422, "VALIDATION_ERROR", { "details.components[0].component_type" } },
		{ "POST", "/materials/components/check-availability", "read",
		  "{\"components\":[{\"component_type\":\"A\",\"quantity_needed\":1},"
		  "{\"component_type\":\"A\",\"quantity_needed\":0}]}",
		  422, "VALIDATION_ERROR", { "details.components[1].quantity_needed" } },
		{ "POST", "/materials/components/check-availability", "read",
		  "{\"components\":[{\"component_type\":\"\",\"quantity_needed\":1}]}",
		  422, "VALIDATION_ERROR", { "details.components[0].component_type" } },
		{ "POST", "/materials/components/check-availability", "read",
		  "{\"components\":[7]}", 422, "VALIDATION_ERROR", { "details.components[0]" } },
	};
	CASE_RUN(&c, rows);
}

int suite_materials(void)
{
	CU_pSuite s = CU_add_suite("materials", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_create_each_kind);
	ADD_TEST(s, test_rows_each_kind);
	ADD_TEST(s, test_status_and_ledger);
	ADD_TEST(s, test_list_filters);
	ADD_TEST(s, test_consume);
	ADD_TEST(s, test_consume_concurrent);
	ADD_TEST(s, test_check_availability);
	return 0;
}
