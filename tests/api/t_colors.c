/* t_colors.c - colour presets: GET /colors (order, filters, tenancy), GET
 * /colors/filament-types, POST /colors (hex stored upper-case, DUPLICATE_COLOR), PATCH
 * /colors/{id}; exact projections, validation naming the field, 404 and 403. */
#include "cases.h"

#include "apitest.h"

#include "util.h"

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const COLOR_KEYS[] = {
	"id", "color_name", "hex_code", "filament_type", "is_active", "created_at", NULL
};

static const struct db_query Q_COLOR_HEX = { "SELECT hex_code FROM color_presets WHERE id = ?" };
static const struct db_query Q_COLOR_ROW = {
	"SELECT CONCAT(color_name, '|', hex_code, '|', filament_type, '|', is_active)"
	" FROM color_presets WHERE id = ?"
};

/* POST /colors; the new id into id (may be NULL). 0 or -1 (failure recorded). */
static int make_color(const char *key, const char *name, const char *hex, const char *type,
		      char id[FX_ID])
{
	char body[256];
	RESP(r);
	snprintf(body, sizeof body,
		 "{\"color_name\":\"%s\",\"hex_code\":\"%s\",\"filament_type\":\"%s\"}", name, hex,
		 type);
	api("POST", "/colors", key, body, &r);
	if (!EXPECT(r, 201, NULL))
		return -1;
	if (id)
		snprintf(id, FX_ID, "%s", jstr(rdata(&r), "id") ? jstr(rdata(&r), "id") : "");
	return 0;
}

static void test_create(void)
{
	struct tenant t;
	char hex[16], row[256], id[FX_ID];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	api("POST", "/colors", t.key,
	    "{\"color_name\":\"Galaxy Black\",\"hex_code\":\"#1a2b3c\",\"filament_type\":\"PLA\","
	    "\"unknown_member\":1}", &r);
	if (!EXPECT(r, 201, NULL))
		return;
	json_t *c = rdata(&r);
	KEYS(c, COLOR_KEYS, &r);
	CHECK(util_is_uuid(jstr(c, "id")), &r, "id is a UUID");
	STR_EQ(jstr(c, "color_name"), "Galaxy Black", &r);
	STR_EQ(jstr(c, "hex_code"), "#1A2B3C", &r);
	STR_EQ(jstr(c, "filament_type"), "PLA", &r);
	INT_EQ(jbool(c, "is_active"), 1, &r);
	CHECK(is_iso_ms(jstr(c, "created_at")), &r, "created_at is ISO-8601 ms Z");
	snprintf(id, sizeof id, "%s", jstr(c, "id") ? jstr(c, "id") : "");
	FX(FX_TEXT(hex, Q_COLOR_HEX, DS(id)));
	STR_EQ(hex, "#1A2B3C", &r);
	/* the same name and type again: 409 naming it; nothing stored */
	api("POST", "/colors", t.key,
	    "{\"color_name\":\"Galaxy Black\",\"hex_code\":\"#000000\",\"filament_type\":\"PLA\"}", &r);
	if (EXPECT(r, 409, "DUPLICATE_COLOR"))
		CHECK(strstr(jstr(r.json, "error"), "Galaxy Black") != NULL, &r,
		      "the message names the colour");
	FX(FX_TEXT(row, Q_COLOR_HEX, DS(id)));
	STR_EQ(row, "#1A2B3C", NULL);
	/* names compare as the unique key's collation does: case-insensitively */
	api("POST", "/colors", t.key,
	    "{\"color_name\":\"galaxy BLACK\",\"hex_code\":\"#000000\",\"filament_type\":\"pla\"}", &r);
	EXPECT(r, 409, "DUPLICATE_COLOR");
	/* the same name with another type, and the same name in another account, are new */
	FX(make_color(t.key, "Galaxy Black", "#000000", "PETG", NULL));
	struct tenant o;
	FX(fx_tenant(&o, "read,write"));
	FX(make_color(o.key, "Galaxy Black", "#000000", "PLA", NULL));
}

static void test_list(void)
{
	struct case_ctx c;
	char red[FX_ID], other[FX_ID];
	RESP(r);
	FX(case_init(&c));
	const struct tenant a = c.t, b = c.other;
	FX(make_color(a.key, "White", "#ffffff", "PLA", NULL));
	FX(make_color(a.key, "Black", "#000000", "PETG", NULL));
	FX(make_color(a.key, "Red", "#ff0000", "PLA", red));
	FX(make_color(b.key, "Amber", "#ffbf00", "PLA", other));
	char path[128];
	snprintf(path, sizeof path, "/colors/%s", red);
	api("PATCH", path, a.key, "{\"is_active\":false}", &r);
	EXPECT(r, 200, NULL);

	static const struct {
		const char *query;
		const char *names[4];
	} views[] = {
		{ "", { "Black", "Red", "White", NULL } },
		{ "?filament_type=PLA", { "Red", "White", NULL } },
		{ "?is_active=false", { "Red", NULL } },
		{ "?is_active=true&filament_type=PLA", { "White", NULL } },
		{ "?filament_type=ABS", { NULL } },
	};
	for (size_t v = 0; v < sizeof views / sizeof views[0]; v++) {
		snprintf(path, sizeof path, "/colors%s", views[v].query);
		api("GET", path, a.key, NULL, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		CHECK(json_object_get(r.json, "meta") == NULL, &r, "not paginated: no meta");
		json_t *list = rdata(&r);
		size_t n = 0;
		while (views[v].names[n])
			n++;
		if (!INT_EQ(json_array_size(list), (long long)n, &r))
			continue;
		for (size_t i = 0; i < n; i++) {
			KEYS(json_array_get(list, i), COLOR_KEYS, &r);
			STR_EQ(jstr(json_array_get(list, i), "color_name"), views[v].names[i], &r);
		}
		CHECK(!strstr(r.body, other), &r, "another account's preset is not listed");
	}
	static const struct case_row bad[] = {
		{ "GET", "/colors?is_active=maybe", "read,write", NULL,
		  422, "VALIDATION_ERROR", { "details.is_active" } },
		{ "GET", "/colors?filament_type=", "read,write", NULL,
		  422, "VALIDATION_ERROR", { "details.filament_type" } },
	};
	CASE_RUN(&c, bad);
}

static void test_filament_types(void)
{
	struct tenant a, b;
	char abs_id[FX_ID], path[128];
	RESP(r);
	FX(fx_tenant(&a, "read,write"));
	FX(fx_tenant(&b, "read,write"));
	FX(make_color(a.key, "White", "#ffffff", "PLA", NULL));
	FX(make_color(a.key, "Black", "#000000", "PLA", NULL));
	FX(make_color(a.key, "Black", "#000000", "PETG", NULL));
	FX(make_color(a.key, "Grey", "#888888", "ABS", abs_id));
	FX(make_color(b.key, "Grey", "#888888", "TPU", NULL));
	snprintf(path, sizeof path, "/colors/%s", abs_id);
	api("PATCH", path, a.key, "{\"is_active\":false}", &r);
	EXPECT(r, 200, NULL);
	api("GET", "/colors/filament-types", a.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return;
	json_t *list = rdata(&r);
	/* distinct, sorted, active presets only, this account only */
	if (INT_EQ(json_array_size(list), 2, &r)) {
		STR_EQ(json_string_value(json_array_get(list, 0)), "PETG", &r);
		STR_EQ(json_string_value(json_array_get(list, 1)), "PLA", &r);
	}
	struct tenant e;
	FX(fx_tenant(&e, "read"));
	api("GET", "/colors/filament-types", e.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_is_array(rdata(&r)) && json_array_size(rdata(&r)) == 0, &r,
		      "no presets: []");
}

static void test_update(void)
{
	struct case_ctx c;
	char id[FX_ID], pla[FX_ID], other[FX_ID], path[128], row[256];
	RESP(r);
	FX(case_init(&c));
	const struct tenant t = c.t, o = c.other;
	FX(make_color(t.key, "Sky", "#87ceeb", "PLA", id));
	FX(make_color(t.key, "Sky", "#87ceeb", "PETG", pla));
	FX(make_color(o.key, "Sky", "#87ceeb", "PLA", other));
	snprintf(path, sizeof path, "/colors/%s", id);
	api("PATCH", path, t.key, "{\"hex_code\":\"#abcdef\",\"color_name\":\"Sky Blue\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), COLOR_KEYS, &r);
		STR_EQ(jstr(rdata(&r), "hex_code"), "#ABCDEF", &r);
		STR_EQ(jstr(rdata(&r), "color_name"), "Sky Blue", &r);
		STR_EQ(jstr(rdata(&r), "filament_type"), "PLA", &r);
		INT_EQ(jbool(rdata(&r), "is_active"), 1, &r);
	}
	FX(FX_TEXT(row, Q_COLOR_ROW, DS(id)));
	STR_EQ(row, "Sky Blue|#ABCDEF|PLA|1", NULL);
	api("PATCH", path, t.key, "{\"is_active\":false}", &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jbool(rdata(&r), "is_active"), 0, &r);
	/* its own name and type again is no conflict; another preset's is */
	api("PATCH", path, t.key, "{\"color_name\":\"Sky Blue\",\"filament_type\":\"PLA\"}", &r);
	EXPECT(r, 200, NULL);
	snprintf(path, sizeof path, "/colors/%s", pla);
	api("PATCH", path, t.key, "{\"color_name\":\"Sky Blue\",\"filament_type\":\"PLA\"}", &r);
	EXPECT(r, 409, "DUPLICATE_COLOR");
	api("PATCH", path, t.key, "{\"filament_type\":\"PLA\"}", &r);
	EXPECT(r, 200, NULL); /* "Sky" PLA is free again */
	snprintf(path, sizeof path, "/colors/%s", id);
	api("PATCH", path, t.key, "{\"color_name\":\"Sky\"}", &r);
	if (EXPECT(r, 409, "DUPLICATE_COLOR"))
		CHECK(strstr(jstr(r.json, "error"), "\"Sky\"") != NULL, &r, "names the colour");
	/* a conflict made by a field the body did not send names the key without a value */
	snprintf(path, sizeof path, "/colors/%s", pla);
	api("PATCH", path, t.key, "{\"filament_type\":\"PETG\"}", &r);
	EXPECT(r, 200, NULL);
	snprintf(path, sizeof path, "/colors/%s", id);
	api("PATCH", path, t.key, "{\"color_name\":\"Sky\"}", &r);
	EXPECT(r, 200, NULL);
	api("PATCH", path, t.key, "{\"filament_type\":\"PETG\"}", &r);
	if (EXPECT(r, 409, "DUPLICATE_COLOR"))
		STR_EQ(jstr(r.json, "error"), "Another color preset already has this color_name", &r);
	api("PATCH", path, t.key, "{\"color_name\":\"Sky Blue\"}", &r);
	EXPECT(r, 200, NULL);
	FX(FX_TEXT(row, Q_COLOR_ROW, DS(id)));
	STR_EQ(row, "Sky Blue|#ABCDEF|PLA|0", NULL);

	static const struct case_row cases[] = {
		{ "PATCH", "/colors/{id}", "read,write", "{}", 400, "NO_UPDATES", { NULL } },
		{ "PATCH", "/colors/{id}", "read,write", "{\"unknown\":1}",
		  400, "NO_UPDATES", { NULL } },
		{ "PATCH", "/colors/" NO_SUCH_ID, "read,write", "{\"is_active\":true}",
		  404, "COLOR_NOT_FOUND", { NULL } },
		{ "PATCH", "/colors/not-an-id", "read,write", "{\"is_active\":true}",
		  404, "COLOR_NOT_FOUND", { NULL } },
		{ "PATCH", "/colors/{id}", "read,write", "{\"hex_code\":\"#12345G\"}",
		  422, "VALIDATION_ERROR", { "details.hex_code" } },
		{ "PATCH", "/colors/{id}", "read,write", "{\"hex_code\":\"123456\"}",
		  422, "VALIDATION_ERROR", { "details.hex_code" } },
		{ "PATCH", "/colors/{id}", "read,write", "{\"hex_code\":\"#1234567\"}",
		  422, "VALIDATION_ERROR", { "details.hex_code" } },
		{ "PATCH", "/colors/{id}", "read,write", "{\"hex_code\":\"\"}",
		  422, "VALIDATION_ERROR", { "details.hex_code" } },
		{ "PATCH", "/colors/{id}", "read,write", "{\"hex_code\":\"#12345678901234567\"}",
		  422, "VALIDATION_ERROR", { "details.hex_code" } },
		{ "PATCH", "/colors/{id}", "read,write", "{\"color_name\":\"\"}",
		  422, "VALIDATION_ERROR", { "details.color_name" } },
		{ "PATCH", "/colors/{id}", "read,write", "{\"color_name\":null}",
		  422, "VALIDATION_ERROR", { "details.color_name" } },
		{ "PATCH", "/colors/{id}", "read,write", "{\"is_active\":\"yes\"}",
		  422, "VALIDATION_ERROR", { "details.is_active" } },
		{ "PATCH", "/colors/{id}", "read,write",
		  "{\"account_id\":\"x\",\"is_active\":true}",
		  422, "VALIDATION_ERROR", { "details.account_id" } },
	};
	case_var(&c, "id", id);
	CASE_RUN(&c, cases);
	/* another account's preset is not found, and unchanged */
	snprintf(path, sizeof path, "/colors/%s", other);
	api("PATCH", path, t.key, "{\"color_name\":\"Taken\"}", &r);
	EXPECT(r, 404, "COLOR_NOT_FOUND");
	FX(FX_TEXT(row, Q_COLOR_ROW, DS(other)));
	STR_EQ(row, "Sky|#87CEEB|PLA|1", NULL);
}

static void test_create_validation(void)
{
	struct case_ctx c;
	RESP(r);
	FX(case_init(&c));
	const struct tenant t = c.t;
	char long_name[256], long_type[256];
	snprintf(long_name, sizeof long_name,
		 "{\"color_name\":\"%s\",\"hex_code\":\"#000000\",\"filament_type\":\"PLA\"}",
		 rep(0, "n", 101));
	snprintf(long_type, sizeof long_type,
		 "{\"color_name\":\"N\",\"hex_code\":\"#000000\",\"filament_type\":\"%s\"}",
		 rep(1, "t", 51));
	const struct case_row cases[] = {
		{ "POST", "/colors", "read,write",
		  "{\"hex_code\":\"#000000\",\"filament_type\":\"PLA\"}",
		  422, "VALIDATION_ERROR", { "details.color_name" } },
		{ "POST", "/colors", "read,write",
		  "{\"color_name\":\"N\",\"filament_type\":\"PLA\"}",
		  422, "VALIDATION_ERROR", { "details.hex_code" } },
		{ "POST", "/colors", "read,write",
		  "{\"color_name\":\"N\",\"hex_code\":\"#000000\"}",
		  422, "VALIDATION_ERROR", { "details.filament_type" } },
		{ "POST", "/colors", "read,write",
		  "{\"color_name\":\"N\",\"hex_code\":\"#00000\",\"filament_type\":\"PLA\"}",
		  422, "VALIDATION_ERROR", { "details.hex_code" } },
		{ "POST", "/colors", "read,write",
		  "{\"color_name\":\"N\",\"hex_code\":\"#00000Z\",\"filament_type\":\"PLA\"}",
		  422, "VALIDATION_ERROR", { "details.hex_code" } },
		{ "POST", "/colors", "read,write",
		  "{\"color_name\":\"N\",\"hex_code\":\"red\",\"filament_type\":\"PLA\"}",
		  422, "VALIDATION_ERROR", { "details.hex_code" } },
		{ "POST", "/colors", "read,write",
		  "{\"color_name\":\"N\",\"hex_code\":7,\"filament_type\":\"PLA\"}",
		  422, "VALIDATION_ERROR", { "details.hex_code" } },
		{ "POST", "/colors", "read,write", long_name,
		  422, "VALIDATION_ERROR", { "details.color_name" } },
		{ "POST", "/colors", "read,write", long_type,
		  422, "VALIDATION_ERROR", { "details.filament_type" } },
		{ "POST", "/colors", "read,write", "[]",
		  422, "VALIDATION_ERROR", { "details.body" } },
	};
	CASE_RUN(&c, cases);
	/* one clear message naming the pattern */
	api("POST", "/colors", t.key,
	    "{\"color_name\":\"N\",\"hex_code\":\"#12345\",\"filament_type\":\"PLA\"}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR") &&
	    CHECK(json_array_size(rdetail(&r, "hex_code")) == 1, &r, "one message"))
		STR_EQ(json_string_value(json_array_get(rdetail(&r, "hex_code"), 0)),
		       "hex_code must be # followed by 6 hexadecimal digits (#RRGGBB)", &r);
	api("GET", "/colors", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 0, &r);
}

static void test_scope(void)
{
	struct case_ctx c;
	char id[FX_ID];
	FX(case_init(&c));
	FX(make_color(c.t.key, "Scoped", "#010203", "PLA", id));
	static const struct case_row reads[] = {
		{ "POST", "/colors", "read",
		  "{\"color_name\":\"N\",\"hex_code\":\"#000000\"," "\"filament_type\":\"PLA\"}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "PATCH", "/colors/{id}", "read", "{\"is_active\":false}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
	};
	static const struct case_row writes[] = {
		{ "GET", "/colors", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/colors/filament-types", "write", NULL,
		  403, "INSUFFICIENT_SCOPE", { NULL } },
	};
	case_var(&c, "id", id);
	CASE_RUN(&c, reads);
	CASE_RUN(&c, writes);
}

int suite_colors(void)
{
	CU_pSuite s = CU_add_suite("colors", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_create);
	ADD_TEST(s, test_list);
	ADD_TEST(s, test_filament_types);
	ADD_TEST(s, test_update);
	ADD_TEST(s, test_create_validation);
	ADD_TEST(s, test_scope);
	return 0;
}
