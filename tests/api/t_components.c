/* t_components.c - assembly components: GET /products/components (catalog-wide, with
 * product_id), GET/POST/DELETE /products/{id}/components (append, replace in one transaction,
 * delete all); exact projections, PRODUCT_NOT_FOUND for another account's product, validation
 * naming the row's field with nothing changed, 403. Products are made directly in MariaDB. */
#include "cases.h"

#include "apitest.h"

#include "util.h"

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const COMPONENT_KEYS[] = {
	"id", "component_name", "component_type", "quantity_required", "notes", NULL
};
static const char *const CATALOG_KEYS[] = {
	"id", "product_id", "component_name", "component_type", "quantity_required", "notes", NULL
};

static const struct db_query Q_PRODUCT = {
	"INSERT INTO products (id, account_id, name) VALUES (?, ?, ?)"
};
/* The product's rows as "name:qty,..." in name order ("" when none). */
static const struct db_query Q_COMPONENT_ROWS = {
	"SELECT IFNULL(GROUP_CONCAT(CONCAT(component_name, ':', quantity_required)"
	" ORDER BY component_name SEPARATOR ','), '') FROM product_components WHERE product_id = ?"
};

static int make_product(const char *account, const char *name, char id[FX_ID])
{
	char uuid[UUID_LEN + 1];
	char tag[9], full[96];
	if (util_uuid(uuid) < 0)
		return -1;
	snprintf(full, sizeof full, "%s %s", name, fx_tag(tag));
	snprintf(id, FX_ID, "%s", uuid);
	return FX_SQL(Q_PRODUCT, DS(uuid), DS(account), DS(full));
}

static void rows_are(const char *product, const char *want)
{
	char rows[1024];
	if (FX_TEXT(rows, Q_COMPONENT_ROWS, DS(product)) == 0)
		STR_EQ(rows, want, NULL);
}

/* The list's component names, in order, are want (NULL-terminated); keys exactly keys. */
static void names_are(const struct resp *r, const char *const *want, const char *const *keys,
		      const char *file, unsigned line)
{
	json_t *list = rdata(r);
	size_t n = 0;
	while (want[n])
		n++;
	if (!at_check(json_is_array(list) && json_array_size(list) == n, r, file, line,
		      "%zu components", n))
		return;
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_array_get(list, i);
		at_keys(c, keys, r, file, line);
		at_str(jstr(c, "component_name"), want[i], "component_name", r, file, line);
		at_check(util_is_uuid(jstr(c, "id")), r, file, line, "id is a UUID");
	}
}
#define NAMES_ARE(r, keys, ...) \
	names_are(&(r), (const char *const[]){ __VA_ARGS__, NULL }, (keys), __FILE__, __LINE__)

static void test_bulk(void)
{
	struct tenant t;
	char p[FX_ID], path[128];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(make_product(t.account, "Lamp", p));
	snprintf(path, sizeof path, "/products/%s/components", p);
	api("POST", path, t.key,
	    "{\"components\":[{\"component_name\":\"Screw M3\",\"component_type\":\"hardware\","
	    "\"quantity_required\":4,\"notes\":\"10 mm\"},{\"component_name\":\"Cable\"}]}", &r);
	if (EXPECT(r, 201, NULL)) {
		NAMES_ARE(r, COMPONENT_KEYS, "Cable", "Screw M3");
		json_t *cable = json_array_get(rdata(&r), 0), *screw = json_array_get(rdata(&r), 1);
		INT_EQ(jint(cable, "quantity_required"), 1, &r);
		CHECK(json_is_null(json_object_get(cable, "component_type")), &r, "type null");
		CHECK(json_is_null(json_object_get(cable, "notes")), &r, "notes null");
		STR_EQ(jstr(screw, "component_type"), "hardware", &r);
		INT_EQ(jint(screw, "quantity_required"), 4, &r);
		STR_EQ(jstr(screw, "notes"), "10 mm", &r);
	}
	/* appended */
	api("POST", path, t.key, "{\"components\":[{\"component_name\":\"Label\"}],\"replace\":false}",
	    &r);
	if (EXPECT(r, 201, NULL))
		NAMES_ARE(r, COMPONENT_KEYS, "Cable", "Label", "Screw M3");
	rows_are(p, "Cable:1,Label:1,Screw M3:4");
	/* replaced */
	api("POST", path, t.key,
	    "{\"replace\":true,\"components\":[{\"component_name\":\"Bulb\",\"quantity_required\":2}]}",
	    &r);
	if (EXPECT(r, 201, NULL))
		NAMES_ARE(r, COMPONENT_KEYS, "Bulb");
	rows_are(p, "Bulb:2");
	/* the product's list says the same */
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		NAMES_ARE(r, COMPONENT_KEYS, "Bulb");
}

/* A bad row refuses the whole request: nothing deleted, nothing added. */
static void test_bulk_atomic(void)
{
	struct case_ctx c;
	char p[FX_ID], path[128];
	RESP(r);
	FX(case_init(&c));
	const struct tenant t = c.t;
	FX(make_product(t.account, "Atomic", p));
	snprintf(path, sizeof path, "/products/%s/components", p);
	api("POST", path, t.key,
	    "{\"components\":[{\"component_name\":\"A\"},{\"component_name\":\"B\",\"quantity_required\":3}]}",
	    &r);
	FX(EXPECT(r, 201, NULL) ? 0 : -1);
	static const struct case_row bad[] = {
		{ "POST", "{id}", "read,write",
		  "{\"replace\":true,\"components\":[{\"component_name\":\"C\"},"
		  "{\"component_name\":\"D\",\"quantity_required\":0}]}",
		  422, "VALIDATION_ERROR", { "details.components[1].quantity_required" } },
		{ "POST", "{id}", "read,write",
		  "{\"replace\":true,\"components\":[{\"component_name\":\"C\"},"
		  "{\"component_type\":\"x\"}]}",
		  422, "VALIDATION_ERROR", { "details.components[1].component_name" } },
		{ "POST", "{id}", "read,write", "{\"replace\":true,\"components\":[]}",
		  422, "VALIDATION_ERROR", { "details.components" } },
		{ "POST", "{id}", "read,write", "{\"replace\":true}",
		  422, "VALIDATION_ERROR", { "details.components" } },
		{ "POST", "{id}", "read,write",
		  "{\"replace\":\"yes\",\"components\":[{\"component_name\":\"C\"}]}",
		  422, "VALIDATION_ERROR", { "details.replace" } },
		{ "POST", "{id}", "read,write", "{\"components\":[{\"component_name\":\"\"}]}",
		  422, "VALIDATION_ERROR", { "details.components[0].component_name" } },
		{ "POST", "{id}", "read,write", "{\"components\":[\"C\"]}",
		  422, "VALIDATION_ERROR", { "details.components[0]" } },
		{ "POST", "{id}", "read,write",
		  "{\"components\":[{\"component_name\":\"C\",\"quantity_required\":1.5}]}",
		  422, "VALIDATION_ERROR", { "details.components[0].quantity_required" } },
		{ "POST", "{id}", "read,write",
		  "{\"components\":[{\"component_name\":\"C\",\"component_type\":7}]}",
		  422, "VALIDATION_ERROR", { "details.components[0].component_type" } },
	};
	case_var(&c, "id", path);
	CASE_RUN(&c, bad);
	char body[1024];
	snprintf(body, sizeof body,
		 "{\"replace\":true,\"components\":[{\"component_name\":\"C\",\"notes\":\"%s\"}]}",
		 rep(0, "n", 501));
	api("POST", path, t.key, body, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "components[0].notes"), &r, "notes named");
	/* 101 rows: over the limit */
	char big[4096] = "{\"replace\":true,\"components\":[";
	for (int i = 0; i < 101; i++)
		strcat(big, i ? ",{\"component_name\":\"x\"}" : "{\"component_name\":\"x\"}");
	strcat(big, "]}");
	api("POST", path, t.key, big, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "components"), &r, "components named");
	rows_are(p, "A:1,B:3");
}

static void test_not_found(void)
{
	struct case_ctx c;
	char mine[FX_ID], theirs[FX_ID], path[128];
	RESP(r);
	FX(case_init(&c));
	const struct tenant t = c.t, o = c.other;
	FX(make_product(t.account, "Mine", mine));
	FX(make_product(o.account, "Theirs", theirs));
	snprintf(path, sizeof path, "/products/%s/components", theirs);
	api("POST", path, o.key, "{\"components\":[{\"component_name\":\"Kept\"}]}", &r);
	FX(EXPECT(r, 201, NULL) ? 0 : -1);
	static const char *const ids[] = { NO_SUCH_ID, "not-an-id", NULL };
	static const struct case_row cases[] = {
		{ "GET", "/products/{id}/components", "read,write", NULL,
		  404, "PRODUCT_NOT_FOUND", { NULL } },
		{ "POST", "/products/{id}/components", "read,write",
		  "{\"components\":[{\"component_name\":\"X\"}]}",
		  404, "PRODUCT_NOT_FOUND", { NULL } },
		{ "POST", "/products/{id}/components", "read,write",
		  "{\"replace\":true,\"components\":[{\"component_name\":\"X\"}]}",
		  404, "PRODUCT_NOT_FOUND", { NULL } },
		{ "DELETE", "/products/{id}/components", "read,write", NULL,
		  404, "PRODUCT_NOT_FOUND", { NULL } },
	};
	case_var(&c, "id", theirs);
	CASE_RUN(&c, cases);
	for (int i = 0; ids[i]; i++) {
		case_var(&c, "id", ids[i]);
		CASE_RUN(&c, cases);
	}
	rows_are(theirs, "Kept:1");
	/* validation comes before the product's 404 */
	snprintf(path, sizeof path, "/products/%s/components", theirs);
	api("POST", path, t.key, "{\"components\":[]}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	/* an empty list of an existing product */
	snprintf(path, sizeof path, "/products/%s/components", mine);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_is_array(rdata(&r)) && json_array_size(rdata(&r)) == 0, &r, "[]");
}

static void test_catalog(void)
{
	struct tenant t, o;
	char p1[FX_ID], p2[FX_ID], po[FX_ID], path[128];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(make_product(t.account, "One", p1));
	FX(make_product(t.account, "Two", p2));
	FX(make_product(o.account, "Other", po));
	const char *first = strcmp(p1, p2) < 0 ? p1 : p2, *second = first == p1 ? p2 : p1;
	snprintf(path, sizeof path, "/products/%s/components", first);
	api("POST", path, t.key, "{\"components\":[{\"component_name\":\"Zip tie\"},"
	    "{\"component_name\":\"Bolt\",\"notes\":\"M4\"}]}", &r);
	FX(EXPECT(r, 201, NULL) ? 0 : -1);
	snprintf(path, sizeof path, "/products/%s/components", second);
	api("POST", path, t.key, "{\"components\":[{\"component_name\":\"Antenna\"}]}", &r);
	FX(EXPECT(r, 201, NULL) ? 0 : -1);
	snprintf(path, sizeof path, "/products/%s/components", po);
	api("POST", path, o.key, "{\"components\":[{\"component_name\":\"Foreign\"}]}", &r);
	FX(EXPECT(r, 201, NULL) ? 0 : -1);
	api("GET", "/products/components", t.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return;
	/* by product, then name */
	NAMES_ARE(r, CATALOG_KEYS, "Bolt", "Zip tie", "Antenna");
	STR_EQ(jstr(json_array_get(rdata(&r), 0), "product_id"), first, &r);
	STR_EQ(jstr(json_array_get(rdata(&r), 1), "product_id"), first, &r);
	STR_EQ(jstr(json_array_get(rdata(&r), 2), "product_id"), second, &r);
	STR_EQ(jstr(json_array_get(rdata(&r), 0), "notes"), "M4", &r);
	CHECK(!strstr(r.body, "Foreign") && !strstr(r.body, po), &r,
	      "another account's components are not listed");
	CHECK(json_object_get(r.json, "meta") == NULL, &r, "not paginated");
}

static void test_delete_all(void)
{
	struct tenant t;
	char p[FX_ID], keep[FX_ID], path[128], kpath[128];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(make_product(t.account, "Delete", p));
	FX(make_product(t.account, "Keep", keep));
	snprintf(path, sizeof path, "/products/%s/components", p);
	snprintf(kpath, sizeof kpath, "/products/%s/components", keep);
	api("POST", path, t.key, "{\"components\":[{\"component_name\":\"A\"},{\"component_name\":\"B\"}]}",
	    &r);
	FX(EXPECT(r, 201, NULL) ? 0 : -1);
	api("POST", kpath, t.key, "{\"components\":[{\"component_name\":\"K\"}]}", &r);
	FX(EXPECT(r, 201, NULL) ? 0 : -1);
	api("DELETE", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		static const char *const keys[] = { "deleted", NULL };
		KEYS(rdata(&r), keys, &r);
		INT_EQ(jint(rdata(&r), "deleted"), 2, &r);
	}
	rows_are(p, "");
	rows_are(keep, "K:1");
	/* idempotent */
	api("DELETE", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jint(rdata(&r), "deleted"), 0, &r);
}

static void test_scope(void)
{
	struct case_ctx c;
	char p[FX_ID];
	FX(case_init(&c));
	FX(make_product(c.t.account, "Scoped", p));
	static const struct case_row reads[] = {
		{ "POST", "/products/{id}/components", "read",
		  "{\"components\":[{\"component_name\":\"X\"}]}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "DELETE", "/products/{id}/components", "read", NULL,
		  403, "INSUFFICIENT_SCOPE", { NULL } },
	};
	static const struct case_row writes[] = {
		{ "GET", "/products/{id}/components", "write", NULL,
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/products/components", "write", NULL,
		  403, "INSUFFICIENT_SCOPE", { NULL } },
	};
	case_var(&c, "id", p);
	CASE_RUN(&c, reads);
	CASE_RUN(&c, writes);
	rows_are(p, "");
}

int suite_components(void)
{
	CU_pSuite s = CU_add_suite("assembly components", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_bulk);
	ADD_TEST(s, test_bulk_atomic);
	ADD_TEST(s, test_not_found);
	ADD_TEST(s, test_catalog);
	ADD_TEST(s, test_delete_all);
	ADD_TEST(s, test_scope);
	return 0;
}
