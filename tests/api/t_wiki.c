/* t_wiki.c - wiki articles: create (slug from the title, DUPLICATE_SLUG, author from the key's
 * owner, is_published stamps published_at), list (no content or sections, order, filters,
 * paging), get by id then slug, categories, update (is_published refused, slug unique except
 * itself, last_edited_by), publish / unpublish; never-exposed ids absent, validation naming the
 * field, another account's rows 404, 403. */
#include "cases.h"

#include "apitest.h"

#include "util.h"

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

#define LIST_KEYS_COMMON                                                                        \
	"id", "title", "slug", "excerpt", "category", "tags", "product_id", "sku_id",           \
		"is_published", "published_at", "meta_title", "meta_description",               \
		"featured_image_url", "description", "estimated_time_minutes", "difficulty",    \
		"tools_required", "created_at", "updated_at"
static const char *const WIKI_LIST_KEYS[] = { LIST_KEYS_COMMON, NULL };
static const char *const WIKI_DETAIL_KEYS[] = { LIST_KEYS_COMMON, "content", "sections", NULL };

static const struct db_query Q_USER = {
	"INSERT INTO users (id, account_id, email, role) VALUES (?, ?, ?, 'owner')"
};
static const struct db_query Q_KEY_OWNER = { "UPDATE api_keys SET user_id = ? WHERE id = ?" };
static const struct db_query Q_AUTHOR = {
	"SELECT CONCAT(IFNULL(author_id, '-'), '|', IFNULL(last_edited_by, '-'))"
	" FROM wiki_articles WHERE id = ?"
};
static const struct db_query Q_PRODUCT = {
	"INSERT INTO products (id, account_id, name) VALUES (?, ?, ?)"
};
static const struct db_query Q_SKU = {
	"INSERT INTO product_skus (id, account_id, product_id, sku, color) VALUES (?, ?, ?, ?, 'Red')"
};
static const struct db_query Q_UPDATED_AT = {
	"UPDATE wiki_articles SET updated_at = ? WHERE id = ?"
};
static const struct db_query Q_PUBLISHED = {
	"SELECT CONCAT(is_published, '|', IFNULL(DATE_FORMAT(published_at, '%Y-%m-%dT%H:%i:%s.%fZ'), '-'))"
	" FROM wiki_articles WHERE id = ?"
};
static const struct db_query Q_BACKDATE_PUBLISHED = {
	"UPDATE wiki_articles SET published_at = '2025-03-04 05:06:07.089' WHERE id = ?"
};
static const struct db_query Q_SLUG = { "SELECT slug FROM wiki_articles WHERE id = ?" };
static const struct db_query Q_COUNT = {
	"SELECT COUNT(*) FROM wiki_articles WHERE account_id = ?"
};

/* t's key made to belong to a new user (the articles' author). */
static int key_owner(const struct tenant *t, char user[FX_ID])
{
	char uuid[UUID_LEN + 1], tag[9], email[64];
	if (util_uuid(uuid) < 0)
		return -1;
	snprintf(email, sizeof email, "wiki-%s@example.com", fx_tag(tag));
	snprintf(user, FX_ID, "%s", uuid);
	return FX_SQL(Q_USER, DS(uuid), DS(t->account), DS(email)) < 0 ||
			       FX_SQL(Q_KEY_OWNER, DS(uuid), DS(t->key_id)) < 0 ?
		       -1 :
		       0;
}

/* A tenant whose key belongs to a user. */
static int owner_tenant(struct tenant *t, const char *scopes, char user[FX_ID])
{
	return fx_tenant(t, scopes) < 0 ? -1 : key_owner(t, user);
}

/* The cases' account (cases.h), its key belonging to a user. */
static int owner_cases(struct case_ctx *c, struct tenant *t, char user[FX_ID])
{
	if (case_init(c) < 0)
		return -1;
	*t = c->t;
	return key_owner(t, user);
}

static int make_product(const char *account, char id[FX_ID])
{
	char uuid[UUID_LEN + 1], tag[9], name[64];
	if (util_uuid(uuid) < 0)
		return -1;
	snprintf(name, sizeof name, "Wiki product %s", fx_tag(tag));
	snprintf(id, FX_ID, "%s", uuid);
	return FX_SQL(Q_PRODUCT, DS(uuid), DS(account), DS(name));
}

static int make_sku(const char *account, const char *product, char id[FX_ID])
{
	char uuid[UUID_LEN + 1], tag[9], sku[64];
	if (util_uuid(uuid) < 0)
		return -1;
	snprintf(sku, sizeof sku, "WIKI-%s", fx_tag(tag));
	snprintf(id, FX_ID, "%s", uuid);
	return FX_SQL(Q_SKU, DS(uuid), DS(account), DS(product), DS(sku));
}

/* POST /wiki with body; the new id into id (may be NULL). 0 or -1. */
static int make_article(const char *key, const char *body, char id[FX_ID])
{
	RESP(r);
	api("POST", "/wiki", key, body, &r);
	if (!EXPECT(r, 201, NULL))
		return -1;
	if (id)
		snprintf(id, FX_ID, "%s", jstr(rdata(&r), "id") ? jstr(rdata(&r), "id") : "");
	return 0;
}

/* The array member of o holds exactly these strings. */
static void strings_are(const json_t *o, const char *member, const char *const *want,
			const struct resp *r, const char *file, unsigned line)
{
	const json_t *a = json_object_get(o, member);
	size_t n = 0;
	while (want[n])
		n++;
	if (!at_check(json_is_array(a) && json_array_size(a) == n, r, file, line,
		      "%s has %zu strings", member, n))
		return;
	for (size_t i = 0; i < n; i++)
		at_str(json_string_value(json_array_get(a, i)), want[i], member, r, file, line);
}
#define STRINGS_ARE(o, member, r, ...) \
	strings_are((o), (member), (const char *const[]){ __VA_ARGS__, NULL }, (r), __FILE__, __LINE__)
#define NO_STRINGS(o, member, r) \
	strings_are((o), (member), (const char *const[]){ NULL }, (r), __FILE__, __LINE__)

static void no_internals(const struct resp *r, const char *user, const char *file, unsigned line)
{
	static const char *const words[] = { "author_id", "last_edited_by", "account_id",
					     "tenant_id" };
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		at_check(r->body && !strstr(r->body, words[i]), r, file, line,
			 "\"%s\" must not appear", words[i]);
	at_check(!user || !strstr(r->body, user), r, file, line, "the author's id must not appear");
}
#define NO_INTERNALS(r, user) no_internals(&(r), (user), __FILE__, __LINE__)

static void test_create(void)
{
	struct tenant t;
	char user[FX_ID], product[FX_ID], sku[FX_ID], body[2048], who[128], path[128];
	RESP(r);
	FX(owner_tenant(&t, "read,write", user));
	FX(make_product(t.account, product));
	FX(make_sku(t.account, product, sku));
	snprintf(body, sizeof body,
		 "{\"title\":\"Nozzle Cleaning: 101!\",\"content\":\"# Steps\",\"excerpt\":\"Short\","
		 "\"category\":\"Maintenance\",\"tags\":[\"nozzle\",\"care\"],\"product_id\":\"%s\","
		 "\"sku_id\":\"%s\",\"is_published\":true,\"meta_title\":\"MT\","
		 "\"meta_description\":\"MD\",\"featured_image_url\":\"https://img.example/x.png\","
		 "\"description\":\"Desc\",\"estimated_time_minutes\":15,\"difficulty\":\"easy\","
		 "\"tools_required\":[\"needle\"],\"author_id\":null,"
		 "\"sections\":[{\"id\":\"s1\",\"type\":\"step\",\"order\":1,\"number\":1,"
		 "\"title\":\"Heat\",\"content\":\"Heat to 220\",\"warnings\":[\"hot\"],"
		 "\"secret\":\"dropped\"}]}",
		 product, sku);
	/* author_id is never accepted */
	api("POST", "/wiki", t.key, body, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "author_id"), &r, "author_id named");
	char *p = strstr(body, ",\"author_id\":null");
	memmove(p, p + strlen(",\"author_id\":null"), strlen(p + strlen(",\"author_id\":null")) + 1);
	api("POST", "/wiki", t.key, body, &r);
	if (!EXPECT(r, 201, NULL))
		return;
	json_t *a = rdata(&r);
	KEYS(a, WIKI_DETAIL_KEYS, &r);
	NO_INTERNALS(r, user);
	CHECK(util_is_uuid(jstr(a, "id")), &r, "id is a UUID");
	STR_EQ(jstr(a, "title"), "Nozzle Cleaning: 101!", &r);
	STR_EQ(jstr(a, "slug"), "nozzle-cleaning-101", &r);
	STR_EQ(jstr(a, "content"), "# Steps", &r);
	STR_EQ(jstr(a, "excerpt"), "Short", &r);
	STR_EQ(jstr(a, "category"), "Maintenance", &r);
	STRINGS_ARE(a, "tags", &r, "nozzle", "care");
	STRINGS_ARE(a, "tools_required", &r, "needle");
	STR_EQ(jstr(a, "product_id"), product, &r);
	STR_EQ(jstr(a, "sku_id"), sku, &r);
	INT_EQ(jbool(a, "is_published"), 1, &r);
	CHECK(is_iso_ms(jstr(a, "published_at")), &r, "published_at stamped");
	CHECK(iso_ms(jstr(a, "published_at")) >= iso_ms(jstr(a, "created_at")), &r,
	      "published_at not before created_at");
	STR_EQ(jstr(a, "meta_title"), "MT", &r);
	STR_EQ(jstr(a, "meta_description"), "MD", &r);
	STR_EQ(jstr(a, "featured_image_url"), "https://img.example/x.png", &r);
	STR_EQ(jstr(a, "description"), "Desc", &r);
	INT_EQ(jint(a, "estimated_time_minutes"), 15, &r);
	STR_EQ(jstr(a, "difficulty"), "easy", &r);
	CHECK(is_iso_ms(jstr(a, "created_at")) && is_iso_ms(jstr(a, "updated_at")), &r,
	      "timestamps ISO-8601 ms Z");
	json_t *secs = json_object_get(a, "sections");
	if (CHECK(json_is_array(secs) && json_array_size(secs) == 1, &r, "one section")) {
		static const char *const skeys[] = { "id", "type", "order", "number", "title",
						     "content", "warnings", NULL };
		json_t *s = json_array_get(secs, 0);
		KEYS(s, skeys, &r); /* an unknown member is not stored */
		STR_EQ(jstr(s, "title"), "Heat", &r);
		STRINGS_ARE(s, "warnings", &r, "hot");
	}
	FX(FX_TEXT(who, Q_AUTHOR, DS(jstr(a, "id"))));
	char want[128];
	snprintf(want, sizeof want, "%s|%s", user, user);
	STR_EQ(who, want, NULL);
	/* the get answers the same */
	snprintf(path, sizeof path, "/wiki/%s", jstr(a, "id"));
	RESP(g);
	api("GET", path, t.key, NULL, &g);
	if (EXPECT(g, 200, NULL))
		CHECK(json_equal(rdata(&g), a), &g, "the detail equals the create's answer");

	/* the minimum: defaults */
	api("POST", "/wiki", t.key, "{\"title\":\"Minimal\"}", &r);
	if (EXPECT(r, 201, NULL)) {
		a = rdata(&r);
		KEYS(a, WIKI_DETAIL_KEYS, &r);
		STR_EQ(jstr(a, "slug"), "minimal", &r);
		INT_EQ(jbool(a, "is_published"), 0, &r);
		CHECK(json_is_null(json_object_get(a, "published_at")), &r, "published_at null");
		CHECK(json_is_null(json_object_get(a, "content")), &r, "content null");
		CHECK(json_is_null(json_object_get(a, "difficulty")), &r, "difficulty null");
		NO_STRINGS(a, "tags", &r);
		NO_STRINGS(a, "tools_required", &r);
		CHECK(json_is_array(json_object_get(a, "sections")) &&
			      json_array_size(json_object_get(a, "sections")) == 0,
		      &r, "sections []");
	}
}

static void test_slug(void)
{
	struct case_ctx c;
	struct tenant t, o;
	char user[FX_ID], id[FX_ID], count[16];
	RESP(r);
	FX(owner_cases(&c, &t, user));
	FX(fx_tenant(&o, "read,write"));
	static const struct {
		const char *title, *slug;
	} gen[] = {
		{ "  Hello,   World!  ", "hello-world" },
		{ "Über PETG -- Tips", "ber-petg-tips" },
		{ "A1 mini: first layer", "a1-mini-first-layer" },
	};
	for (size_t i = 0; i < sizeof gen / sizeof gen[0]; i++) {
		char body[256];
		snprintf(body, sizeof body, "{\"title\":\"%s\"}", gen[i].title);
		api("POST", "/wiki", t.key, body, &r);
		if (EXPECT(r, 201, NULL))
			STR_EQ(jstr(rdata(&r), "slug"), gen[i].slug, &r);
	}
	/* the longest title makes the longest slug */
	char body[512], want[256];
	snprintf(body, sizeof body, "{\"title\":\"%s B\"}", rep(0, "a", 198));
	snprintf(want, sizeof want, "%s-b", rep(1, "a", 198));
	api("POST", "/wiki", t.key, body, &r);
	if (EXPECT(r, 201, NULL))
		STR_EQ(jstr(rdata(&r), "slug"), want, &r);
	/* given, or null (generated) */
	FX(make_article(t.key, "{\"title\":\"Anything\",\"slug\":\"my-own-slug\"}", id));
	api("POST", "/wiki", t.key, "{\"title\":\"Null Slug\",\"slug\":null}", &r);
	if (EXPECT(r, 201, NULL))
		STR_EQ(jstr(rdata(&r), "slug"), "null-slug", &r);
	/* duplicates: given or generated; no suffix is invented */
	FX(FX_TEXT(count, Q_COUNT, DS(t.account)));
	static const struct case_row dups[] = {
		{ "POST", "/wiki", "read,write", "{\"title\":\"Other\",\"slug\":\"my-own-slug\"}",
		  409, "DUPLICATE_SLUG", { NULL } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"Hello World\"}",
		  409, "DUPLICATE_SLUG", { NULL } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"Hello World\",\"slug\":null}",
		  409, "DUPLICATE_SLUG", { NULL } },
	};
	CASE_RUN(&c, dups);
	char after[16];
	FX(FX_TEXT(after, Q_COUNT, DS(t.account)));
	STR_EQ(after, count, NULL);
	api("POST", "/wiki", t.key, "{\"title\":\"Hello World\"}", &r);
	if (EXPECT(r, 409, "DUPLICATE_SLUG"))
		CHECK(strstr(jstr(r.json, "error"), "hello-world") != NULL, &r,
		      "the message names the slug");
	/* another account may use the same slug; its key has no owner: no author */
	char theirs[FX_ID], who[128];
	FX(make_article(o.key, "{\"title\":\"Hello World\"}", theirs));
	FX(FX_TEXT(who, Q_AUTHOR, DS(theirs)));
	STR_EQ(who, "-|-", NULL);
	FX(make_article(o.key, "{\"title\":\"X\",\"slug\":\"my-own-slug\"}", NULL));
}

static void test_create_validation(void)
{
	struct case_ctx c;
	struct tenant t, o;
	char user[FX_ID], theirs[FX_ID], their_sku[FX_ID], count[16];
	FX(owner_cases(&c, &t, user));
	FX(fx_tenant(&o, "read,write"));
	FX(make_product(o.account, theirs));
	FX(make_sku(o.account, theirs, their_sku));
	char long_title[256], long_slug[256], prod[128], sku[128], many_tags[2048];
	snprintf(long_title, sizeof long_title, "{\"title\":\"%s\"}", rep(0, "t", 201));
	snprintf(long_slug, sizeof long_slug, "{\"title\":\"T\",\"slug\":\"%s\"}", rep(1, "s", 201));
	snprintf(prod, sizeof prod, "{\"title\":\"T\",\"product_id\":\"%s\"}", theirs);
	snprintf(sku, sizeof sku, "{\"title\":\"T\",\"sku_id\":\"%s\"}", their_sku);
	strcpy(many_tags, "{\"title\":\"T\",\"tags\":[");
	for (int i = 0; i < 51; i++)
		strcat(many_tags, i ? ",\"t\"" : "\"t\"");
	strcat(many_tags, "]}");
	const struct case_row cases[] = {
		{ "POST", "/wiki", "read,write", "{}",
		  422, "VALIDATION_ERROR", { "details.title" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"\"}",
		  422, "VALIDATION_ERROR", { "details.title" } },
		{ "POST", "/wiki", "read,write", "{\"title\":null}",
		  422, "VALIDATION_ERROR", { "details.title" } },
		{ "POST", "/wiki", "read,write", long_title,
		  422, "VALIDATION_ERROR", { "details.title" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"!!!\"}",
		  422, "VALIDATION_ERROR", { "details.title" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"slug\":\"Upper-Case\"}",
		  422, "VALIDATION_ERROR", { "details.slug" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"slug\":\"a--b\"}",
		  422, "VALIDATION_ERROR", { "details.slug" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"slug\":\"-a\"}",
		  422, "VALIDATION_ERROR", { "details.slug" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"slug\":\"a b\"}",
		  422, "VALIDATION_ERROR", { "details.slug" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"slug\":\"\"}",
		  422, "VALIDATION_ERROR", { "details.slug" } },
		{ "POST", "/wiki", "read,write", long_slug,
		  422, "VALIDATION_ERROR", { "details.slug" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"excerpt\":7}",
		  422, "VALIDATION_ERROR", { "details.excerpt" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"tags\":\"a,b\"}",
		  422, "VALIDATION_ERROR", { "details.tags" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"tags\":[1]}",
		  422, "VALIDATION_ERROR", { "details.tags[0]" } },
		{ "POST", "/wiki", "read,write", many_tags,
		  422, "VALIDATION_ERROR", { "details.tags" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"is_published\":\"yes\"}",
		  422, "VALIDATION_ERROR", { "details.is_published" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"difficulty\":\"extreme\"}",
		  422, "VALIDATION_ERROR", { "details.difficulty" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"estimated_time_minutes\":-1}",
		  422, "VALIDATION_ERROR", { "details.estimated_time_minutes" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"estimated_time_minutes\":1.5}",
		  422, "VALIDATION_ERROR", { "details.estimated_time_minutes" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"sections\":{}}",
		  422, "VALIDATION_ERROR", { "details.sections" } },
		{ "POST", "/wiki", "read,write",
		  "{\"title\":\"T\",\"sections\":[{\"type\":\"chapter\"}]}",
		  422, "VALIDATION_ERROR", { "details.sections[0].type" } },
		{ "POST", "/wiki", "read,write",
		  "{\"title\":\"T\",\"sections\":[{\"warnings\":[3]}]}",
		  422, "VALIDATION_ERROR", { "details.sections[0].warnings[0]" } },
		{ "POST", "/wiki", "read,write",
		  "{\"title\":\"T\",\"meta_title\":\"" "0123456789012345678901234567890123456789012345678901234567890" "\"}",
		  422, "VALIDATION_ERROR", { "details.meta_title" } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"last_edited_by\":\"x\"}",
		  422, "VALIDATION_ERROR", { "details.last_edited_by" } },
		{ "POST", "/wiki", "read,write",
		  "{\"title\":\"T\",\"product_id\":\"" NO_SUCH_ID "\"}",
		  404, "PRODUCT_NOT_FOUND", { NULL } },
		{ "POST", "/wiki", "read,write", prod, 404, "PRODUCT_NOT_FOUND", { NULL } },
		{ "POST", "/wiki", "read,write", sku, 404, "SKU_NOT_FOUND", { NULL } },
		{ "POST", "/wiki", "read,write", "{\"title\":\"T\",\"sku_id\":\"nope\"}",
		  404, "SKU_NOT_FOUND", { NULL } },
	};
	CASE_RUN(&c, cases);
	FX(FX_TEXT(count, Q_COUNT, DS(t.account)));
	STR_EQ(count, "0", NULL);
}

static void test_list(void)
{
	struct case_ctx c;
	struct tenant t, o;
	char user[FX_ID], a1[FX_ID], a2[FX_ID], a3[FX_ID], other[FX_ID], product[FX_ID];
	char path[256];
	RESP(r);
	FX(owner_cases(&c, &t, user));
	FX(fx_tenant(&o, "read,write"));
	FX(make_product(t.account, product));
	char body[512];
	snprintf(body, sizeof body,
		 "{\"title\":\"Bed levelling\",\"category\":\"Setup\",\"content\":\"zebra paper\","
		 "\"product_id\":\"%s\",\"sections\":[{\"title\":\"one\"}]}", product);
	FX(make_article(t.key, body, a1));
	FX(make_article(t.key, "{\"title\":\"Drying filament\",\"category\":\"Materials\","
			       "\"is_published\":true,\"description\":\"oven 50%_ zebra\"}", a2));
	FX(make_article(t.key, "{\"title\":\"Spool holder\",\"excerpt\":\"Zebra stripes\"}", a3));
	FX(make_article(o.key, "{\"title\":\"Foreign zebra\",\"category\":\"Setup\"}", other));
	FX(FX_SQL(Q_UPDATED_AT, DS("2026-01-02 00:00:00.000"), DS(a1)));
	FX(FX_SQL(Q_UPDATED_AT, DS("2026-01-03 00:00:00.000"), DS(a2)));
	FX(FX_SQL(Q_UPDATED_AT, DS("2026-01-01 00:00:00.000"), DS(a3)));

	static const struct {
		const char *query;
		int n;
		int order[3]; /* indexes into ids */
	} views[] = {
		{ "", 3, { 1, 0, 2 } },
		{ "?category=Setup", 1, { 0 } },
		{ "?is_published=true", 1, { 1 } },
		{ "?is_published=false", 2, { 0, 2 } },
		{ "?search=zebra", 3, { 1, 0, 2 } },
		{ "?search=50%25_", 1, { 1 } },
		{ "?search=%25", 1, { 1 } },
		{ "?search=levelling", 1, { 0 } },
		{ "?limit=2", 2, { 1, 0 } },
		{ "?limit=2&offset=2", 1, { 2 } },
		{ "?category=None", 0, { 0 } },
	};
	const char *ids[] = { a1, a2, a3 };
	for (size_t v = 0; v < sizeof views / sizeof views[0]; v++) {
		snprintf(path, sizeof path, "/wiki%s", views[v].query);
		api("GET", path, t.key, NULL, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		json_t *list = rdata(&r), *meta = json_object_get(r.json, "meta");
		INT_EQ(jint(meta, "count"), views[v].n, &r);
		if (!INT_EQ(json_array_size(list), views[v].n, &r))
			continue;
		for (int i = 0; i < views[v].n; i++) {
			json_t *a = json_array_get(list, (size_t)i);
			KEYS(a, WIKI_LIST_KEYS, &r);
			STR_EQ(jstr(a, "id"), ids[views[v].order[i]], &r);
		}
		CHECK(!strstr(r.body, other), &r, "another account's article is not listed");
		CHECK(!strstr(r.body, "zebra paper"), &r, "content is not in the list");
		NO_INTERNALS(r, user);
	}
	snprintf(path, sizeof path, "/wiki?product_id=%s", product);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r))
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), a1, &r);
	api("GET", "/wiki?limit=2&offset=1", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *meta = json_object_get(r.json, "meta");
		INT_EQ(jint(meta, "limit"), 2, &r);
		INT_EQ(jint(meta, "offset"), 1, &r);
	}
	static const struct case_row bad[] = {
		{ "GET", "/wiki?limit=0", "read,write", NULL,
		  422, "VALIDATION_ERROR", { "details.limit" } },
		{ "GET", "/wiki?limit=101", "read,write", NULL,
		  422, "VALIDATION_ERROR", { "details.limit" } },
		{ "GET", "/wiki?offset=-1", "read,write", NULL,
		  422, "VALIDATION_ERROR", { "details.offset" } },
		{ "GET", "/wiki?is_published=maybe", "read,write", NULL,
		  422, "VALIDATION_ERROR", { "details.is_published" } },
		{ "GET", "/wiki?search=", "read,write", NULL,
		  422, "VALIDATION_ERROR", { "details.search" } },
	};
	CASE_RUN(&c, bad);
}

static void test_get(void)
{
	struct case_ctx c;
	struct tenant t, o;
	char user[FX_ID], id[FX_ID], other[FX_ID], tricky[FX_ID], path[128];
	RESP(r);
	FX(owner_cases(&c, &t, user));
	FX(fx_tenant(&o, "read,write"));
	FX(make_article(t.key, "{\"title\":\"Find me\",\"content\":\"body text\"}", id));
	FX(make_article(o.key, "{\"title\":\"Not yours\"}", other));
	const char *ways[] = { id, "find-me" };
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "/wiki/%s", ways[i]);
		api("GET", path, t.key, NULL, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		KEYS(rdata(&r), WIKI_DETAIL_KEYS, &r);
		STR_EQ(jstr(rdata(&r), "id"), id, &r);
		STR_EQ(jstr(rdata(&r), "content"), "body text", &r);
		NO_INTERNALS(r, user);
	}
	/* an id first: an article whose slug is another article's id loses to that article */
	char body[160];
	snprintf(body, sizeof body, "{\"title\":\"Tricky\",\"slug\":\"%s\"}", id);
	FX(make_article(t.key, body, tricky));
	snprintf(path, sizeof path, "/wiki/%s", id);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "id"), id, &r);
	static const struct case_row missing[] = {
		{ "GET", "/wiki/{id}", "read,write", NULL, 404, "ARTICLE_NOT_FOUND", { NULL } },
		{ "GET", "/wiki/not-yours", "read,write", NULL,
		  404, "ARTICLE_NOT_FOUND", { NULL } },
		{ "GET", "/wiki/" NO_SUCH_ID, "read,write", NULL,
		  404, "ARTICLE_NOT_FOUND", { NULL } },
		{ "GET", "/wiki/find-me-too", "read,write", NULL,
		  404, "ARTICLE_NOT_FOUND", { NULL } },
	};
	case_var(&c, "id", other);
	CASE_RUN(&c, missing);
}

static void test_categories(void)
{
	struct tenant t, o, e;
	char user[FX_ID];
	RESP(r);
	FX(owner_tenant(&t, "read,write", user));
	FX(fx_tenant(&o, "read,write"));
	FX(fx_tenant(&e, "read"));
	FX(make_article(t.key, "{\"title\":\"a\",\"category\":\"Setup\"}", NULL));
	FX(make_article(t.key, "{\"title\":\"b\",\"category\":\"Materials\"}", NULL));
	FX(make_article(t.key, "{\"title\":\"c\",\"category\":\"Setup\"}", NULL));
	FX(make_article(t.key, "{\"title\":\"d\",\"category\":\"\"}", NULL));
	FX(make_article(t.key, "{\"title\":\"e\"}", NULL));
	FX(make_article(o.key, "{\"title\":\"f\",\"category\":\"Foreign\"}", NULL));
	api("GET", "/wiki/categories", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *wrap = json_pack("{s:O}", "c", rdata(&r));
		STRINGS_ARE(wrap, "c", &r, "Materials", "Setup");
		json_decref(wrap);
	}
	api("GET", "/wiki/categories", e.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_is_array(rdata(&r)) && json_array_size(rdata(&r)) == 0, &r, "none: []");
}

static void test_update(void)
{
	struct case_ctx c;
	struct tenant t, o;
	char user[FX_ID], id[FX_ID], second[FX_ID], other[FX_ID], product[FX_ID], theirs[FX_ID];
	char path[128], body[256], who[128], slug[256];
	RESP(r);
	FX(owner_cases(&c, &t, user));
	FX(fx_tenant(&o, "read,write"));
	FX(make_product(t.account, product));
	FX(make_product(o.account, theirs));
	FX(make_article(t.key, "{\"title\":\"Original\",\"tags\":[\"x\"],\"excerpt\":\"E\"}", id));
	FX(make_article(t.key, "{\"title\":\"Second\"}", second));
	FX(make_article(o.key, "{\"title\":\"Theirs\"}", other));
	FX(FX_SQL(Q_UPDATED_AT, DS("2026-01-01 00:00:00.000"), DS(id)));
	snprintf(path, sizeof path, "/wiki/%s", id);
	snprintf(body, sizeof body,
		 "{\"title\":\"Renamed\",\"tags\":[\"a\",\"b\"],\"excerpt\":null,\"product_id\":\"%s\","
		 "\"difficulty\":\"hard\",\"sections\":[{\"title\":\"S\",\"junk\":1}]}", product);
	api("PATCH", path, t.key, body, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *a = rdata(&r);
		KEYS(a, WIKI_DETAIL_KEYS, &r);
		NO_INTERNALS(r, user);
		STR_EQ(jstr(a, "title"), "Renamed", &r);
		STR_EQ(jstr(a, "slug"), "original", &r); /* a new title keeps the slug */
		STRINGS_ARE(a, "tags", &r, "a", "b");
		CHECK(json_is_null(json_object_get(a, "excerpt")), &r, "excerpt cleared");
		STR_EQ(jstr(a, "product_id"), product, &r);
		STR_EQ(jstr(a, "difficulty"), "hard", &r);
		CHECK(json_object_size(json_array_get(json_object_get(a, "sections"), 0)) == 1, &r,
		      "section's unknown member dropped");
		CHECK(iso_ms(jstr(a, "updated_at")) > iso_ms("2026-06-01T00:00:00.000Z"), &r,
		      "updated_at stamped");
	}
	FX(FX_TEXT(who, Q_AUTHOR, DS(id)));
	char want[128];
	snprintf(want, sizeof want, "%s|%s", user, user);
	STR_EQ(who, want, NULL);
	/* its own slug again is fine; another article's is a conflict */
	api("PATCH", path, t.key, "{\"slug\":\"original\"}", &r);
	EXPECT(r, 200, NULL);
	api("PATCH", path, t.key, "{\"slug\":\"second\"}", &r);
	EXPECT(r, 409, "DUPLICATE_SLUG");
	api("PATCH", path, t.key, "{\"slug\":\"fresh-slug\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "slug"), "fresh-slug", &r);
	/* another account's slug does not conflict */
	api("PATCH", path, t.key, "{\"slug\":\"theirs\"}", &r);
	EXPECT(r, 200, NULL);

	char prod[128];
	snprintf(prod, sizeof prod, "{\"product_id\":\"%s\"}", theirs);
	const struct case_row cases[] = {
		{ "PATCH", "/wiki/{id}", "read,write", "{}", 400, "NO_UPDATES", { NULL } },
		{ "PATCH", "/wiki/{id}", "read,write", "{\"unknown\":true}",
		  400, "NO_UPDATES", { NULL } },
		{ "PATCH", "/wiki/{id}", "read,write", "{\"is_published\":true}",
		  422, "VALIDATION_ERROR", { "details.is_published" } },
		{ "PATCH", "/wiki/{id}", "read,write", "{\"is_published\":false,\"title\":\"X\"}",
		  422, "VALIDATION_ERROR", { "details.is_published" } },
		{ "PATCH", "/wiki/{id}", "read,write", "{\"author_id\":\"x\",\"title\":\"X\"}",
		  422, "VALIDATION_ERROR", { "details.author_id" } },
		{ "PATCH", "/wiki/{id}", "read,write", "{\"slug\":null}",
		  422, "VALIDATION_ERROR", { "details.slug" } },
		{ "PATCH", "/wiki/{id}", "read,write", "{\"slug\":\"Bad Slug\"}",
		  422, "VALIDATION_ERROR", { "details.slug" } },
		{ "PATCH", "/wiki/{id}", "read,write", "{\"title\":\"\"}",
		  422, "VALIDATION_ERROR", { "details.title" } },
		{ "PATCH", "/wiki/{id}", "read,write", "{\"title\":null}",
		  422, "VALIDATION_ERROR", { "details.title" } },
		{ "PATCH", "/wiki/{id}", "read,write", "{\"tools_required\":[null]}",
		  422, "VALIDATION_ERROR", { "details.tools_required[0]" } },
		{ "PATCH", "/wiki/{id}", "read,write", prod, 404, "PRODUCT_NOT_FOUND", { NULL } },
		{ "PATCH", "/wiki/{id}", "read,write", "{\"sku_id\":\"" NO_SUCH_ID "\"}",
		  404, "SKU_NOT_FOUND", { NULL } },
		{ "PATCH", "/wiki/" NO_SUCH_ID, "read,write", "{\"title\":\"X\"}",
		  404, "ARTICLE_NOT_FOUND", { NULL } },
		{ "PATCH", "/wiki/theirs", "read,write", "{\"title\":\"X\"}",
		  404, "ARTICLE_NOT_FOUND", { NULL } },
	};
	case_var(&c, "id", id);
	CASE_RUN(&c, cases);
	FX(FX_TEXT(slug, Q_SLUG, DS(id)));
	STR_EQ(slug, "theirs", NULL);
	/* another account's article: 404, unchanged */
	snprintf(path, sizeof path, "/wiki/%s", other);
	api("PATCH", path, t.key, "{\"title\":\"Taken over\"}", &r);
	EXPECT(r, 404, "ARTICLE_NOT_FOUND");
	FX(FX_TEXT(slug, Q_SLUG, DS(other)));
	STR_EQ(slug, "theirs", NULL);
	/* clearing the product */
	snprintf(path, sizeof path, "/wiki/%s", id);
	api("PATCH", path, t.key, "{\"product_id\":null,\"tags\":null}", &r);
	if (EXPECT(r, 200, NULL)) {
		CHECK(json_is_null(json_object_get(rdata(&r), "product_id")), &r, "product cleared");
		NO_STRINGS(rdata(&r), "tags", &r);
	}
}

static void test_publish(void)
{
	struct case_ctx c;
	struct tenant t, o;
	char user[FX_ID], id[FX_ID], other[FX_ID], path[160], state[96], before[96];
	RESP(r);
	FX(owner_cases(&c, &t, user));
	FX(fx_tenant(&o, "read,write"));
	FX(make_article(t.key, "{\"title\":\"Publish me\"}", id));
	FX(make_article(o.key, "{\"title\":\"Theirs\"}", other));
	snprintf(path, sizeof path, "/wiki/%s/publish", id);
	api("POST", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), WIKI_DETAIL_KEYS, &r);
		INT_EQ(jbool(rdata(&r), "is_published"), 1, &r);
		CHECK(is_iso_ms(jstr(rdata(&r), "published_at")), &r, "published_at stamped");
	}
	api("POST", path, t.key, NULL, &r);
	EXPECT(r, 400, "ALREADY_PUBLISHED");
	/* unpublish keeps published_at */
	FX(FX_SQL(Q_BACKDATE_PUBLISHED, DS(id)));
	FX(FX_TEXT(before, Q_PUBLISHED, DS(id)));
	STR_EQ(before, "1|2025-03-04T05:06:07.089000Z", NULL);
	snprintf(path, sizeof path, "/wiki/%s/unpublish", id);
	api("POST", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "is_published"), 0, &r);
		STR_EQ(jstr(rdata(&r), "published_at"), "2025-03-04T05:06:07.089Z", &r);
	}
	api("POST", path, t.key, "{}", &r);
	EXPECT(r, 400, "ALREADY_UNPUBLISHED");
	FX(FX_TEXT(state, Q_PUBLISHED, DS(id)));
	STR_EQ(state, "0|2025-03-04T05:06:07.089000Z", NULL);
	/* a republish stamps a new time */
	snprintf(path, sizeof path, "/wiki/%s/publish", id);
	api("POST", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(iso_ms(jstr(rdata(&r), "published_at")) > iso_ms("2026-01-01T00:00:00.000Z"), &r,
		      "republished now");
	/* another account's, unknown, or a slug: 404; theirs unchanged */
	static const struct case_row missing[] = {
		{ "POST", "/wiki/{id}/publish", "read,write", NULL,
		  404, "ARTICLE_NOT_FOUND", { NULL } },
		{ "POST", "/wiki/{id}/unpublish", "read,write", NULL,
		  404, "ARTICLE_NOT_FOUND", { NULL } },
		{ "POST", "/wiki/" NO_SUCH_ID "/publish", "read,write", NULL,
		  404, "ARTICLE_NOT_FOUND", { NULL } },
		{ "POST", "/wiki/publish-me/unpublish", "read,write", NULL,
		  404, "ARTICLE_NOT_FOUND", { NULL } },
	};
	case_var(&c, "id", other);
	CASE_RUN(&c, missing);
	FX(FX_TEXT(state, Q_PUBLISHED, DS(other)));
	STR_EQ(state, "0|-", NULL);
}

static void test_scope(void)
{
	struct case_ctx c;
	struct tenant t;
	char user[FX_ID], id[FX_ID], state[96];
	FX(owner_cases(&c, &t, user));
	FX(make_article(t.key, "{\"title\":\"Scoped\"}", id));
	static const struct case_row reads[] = {
		{ "POST", "/wiki", "read", "{\"title\":\"New\"}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "PATCH", "/wiki/{id}", "read", "{\"title\":\"New\"}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "POST", "/wiki/{id}/publish", "read", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "POST", "/wiki/{id}/unpublish", "read", NULL,
		  403, "INSUFFICIENT_SCOPE", { NULL } },
	};
	static const struct case_row writes[] = {
		{ "GET", "/wiki", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/wiki/categories", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/wiki/{id}", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	};
	case_var(&c, "id", id);
	CASE_RUN(&c, reads);
	CASE_RUN(&c, writes);
	FX(FX_TEXT(state, Q_PUBLISHED, DS(id)));
	STR_EQ(state, "0|-", NULL);
}

int suite_wiki(void)
{
	CU_pSuite s = CU_add_suite("wiki", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_create);
	ADD_TEST(s, test_slug);
	ADD_TEST(s, test_create_validation);
	ADD_TEST(s, test_list);
	ADD_TEST(s, test_get);
	ADD_TEST(s, test_categories);
	ADD_TEST(s, test_update);
	ADD_TEST(s, test_publish);
	ADD_TEST(s, test_scope);
	return 0;
}
