/* test_resource.c - the generic handlers of fcgi/resource.h against MariaDB, on a record of
 * the test's own over wiki_articles (what the catalog builds on: JSON arrays with checked
 * items, an enum, nullable fields, a boolean, a unique key answering 409, updated_at touched):
 * create, get, list with filters, update, delete, and another account's row as a 404. */
#include "tdb.h"

#include "resource.h"

#include <stdlib.h>
#include <string.h>

static const struct db_query Q_T_ACCOUNT = {
	"INSERT INTO accounts (id, name) VALUES (?, 'test-db resource')"
};
static const struct db_query Q_T_ACCOUNT_DROP = { "DELETE FROM accounts WHERE id = ?" };
static const struct db_query Q_T_STORED = {
	"SELECT CONCAT_WS('|', title, slug, IFNULL(difficulty, '~'), is_published, IFNULL(tags, '~'))"
	" FROM wiki_articles WHERE id = ?"
};

static const char *const difficulties[] = { "easy", "medium", "hard", NULL };
static const struct jfield tag = { "tag", JF_STRING, 0, 1, 50, { NULL } };
static const struct rfield article_fields[] = {
	RES_FIELD(id, "a.id", STR, NONE, RF_LD)
	RES_FIELD(title, "a.title", STR, STR(1, 200), RF_LD | RF_CREATE | RF_REQUIRED | RF_PATCH)
	RES_FIELD(slug, "a.slug", STR, STR(1, 200), RF_LD | RF_CREATE | RF_REQUIRED | RF_PATCH)
	RES_FIELD(difficulty, "a.difficulty", STR, ENUM_NULL(difficulties),
		  RF_LD | RF_CREATE | RF_PATCH)
	RES_FIELD(estimated_time_minutes, "a.estimated_time_minutes", INT, INT_NULL(0, 100000),
		  RF_DETAIL | RF_CREATE | RF_PATCH)
	RES_FIELD(tags, "IFNULL(a.tags, '[]')", JSON, ARRAY_NULL(0, 20, &tag),
		  RF_LD | RF_CREATE | RF_PATCH)
	RES_FIELD(is_published, "a.is_published", BOOL, BOOL, RF_LD | RF_CREATE)
	RES_FIELD(updated_at, "a.updated_at", TIME, NONE, RF_DETAIL)
	RES_FIELD(author_id, NULL, NONE, REJECT, 0)
	RES_FIELD_END
};
static const struct rfilter article_filters[] = {
	RES_FILTER("is_published", BOOL, "a.is_published = ?", EXACT),
	RES_FILTER("search", STR(1, 100), "a.title LIKE CONCAT('%', ?, '%') ESCAPE '\\\\'", SUBSTR),
	RES_FILTER_END
};
static const struct runique article_uniques[] = {
	{ "uq_wiki_articles_account_slug", E_DUPLICATE_SLUG, "slug" },
	{ NULL, E_OK, NULL }
};
static const struct resource article_res = {
	.noun = "article", .table = "wiki_articles", .from = "wiki_articles a", .alias = "a",
	.not_found = E_ARTICLE_NOT_FOUND, .fields = article_fields, .filters = article_filters,
	.order = "a.title, a.id", .paging = RP_ALWAYS, .uniques = article_uniques,
	.touch = "updated_at = NOW(3)",
};

static const struct route article_route = { .path = "/articles/{id}", .res = &article_res };

static char account[UUID_LEN + 1], other[UUID_LEN + 1];

/* A request of account acc for row id (may be NULL) with body (JSON text, may be NULL). */
static void req_make(struct req *r, const char *acc, const char *id, const char *body)
{
	memset(r, 0, sizeof *r);
	r->db = tdb;
	r->route = &article_route;
	memcpy(r->account_id, acc, UUID_LEN + 1);
	if (id) {
		r->param_names[0] = "{id}";
		r->param_vals[0] = (char *)id;
		r->nparams = 1;
	}
	if (body)
		r->body = json_loads(body, 0, NULL);
}

static void req_done(struct req *r)
{
	json_decref(r->body);
	json_decref(r->data);
	json_decref(r->meta);
	json_decref(r->details);
	free(r->data_text);
	memset(r, 0, sizeof *r);
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "(none)";
}

static void stored(const char *id, char *out, size_t size)
{
	struct db_res res;
	out[0] = '\0';
	if (db_exec(tdb, &Q_T_STORED, DB_ARGS(DS(id)), &res) == E_OK) {
		snprintf(out, size, "%s", db_get(&res, 0, 0) ? db_get(&res, 0, 0) : "");
		db_res_free(&res);
	}
}

static int setup(void)
{
	if (util_uuid(account) < 0 || util_uuid(other) < 0)
		return -1;
	return db_exec(tdb, &Q_T_ACCOUNT, DB_ARGS(DS(account)), NULL) == E_OK &&
			       db_exec(tdb, &Q_T_ACCOUNT, DB_ARGS(DS(other)), NULL) == E_OK
		       ? 0
		       : -1;
}

static int teardown(void)
{
	db_exec(tdb, &Q_T_ACCOUNT_DROP, DB_ARGS(DS(account)), NULL);
	db_exec(tdb, &Q_T_ACCOUNT_DROP, DB_ARGS(DS(other)), NULL);
	return 0;
}

static void test_crud(void)
{
	struct req r;
	char id[UUID_LEN + 1], row[512];

	/* create: 201, the detail, values stored as their columns want them */
	req_make(&r, account, NULL, "{\"title\": \"Bed levelling\", \"slug\": \"bed-levelling\","
		 " \"tags\": [\"bed\", \"setup\"], \"is_published\": true, \"difficulty\": null,"
		 " \"ignored\": 1}");
	CU_ASSERT_EQUAL_FATAL(res_create(&r), E_OK);
	CU_ASSERT_EQUAL(r.status, 201);
	snprintf(id, sizeof id, "%s", str(r.data, "id"));
	CU_ASSERT_STRING_EQUAL(str(r.data, "title"), "Bed levelling");
	CU_ASSERT(json_is_null(json_object_get(r.data, "difficulty")));
	CU_ASSERT(json_is_true(json_object_get(r.data, "is_published")));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(r.data, "tags")), 2);
	CU_ASSERT(json_is_null(json_object_get(r.data, "estimated_time_minutes")));
	CU_ASSERT_PTR_NULL(json_object_get(r.data, "author_id"));
	req_done(&r);
	stored(id, row, sizeof row);
	CU_ASSERT_STRING_EQUAL(row, "Bed levelling|bed-levelling|~|1|[\"bed\",\"setup\"]");

	/* the same slug again: the unique key's 409 */
	req_make(&r, account, NULL, "{\"title\": \"Other\", \"slug\": \"bed-levelling\"}");
	CU_ASSERT_EQUAL(res_create(&r), E_DUPLICATE_SLUG);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.errmsg, "bed-levelling"));
	req_done(&r);
	/* ... in another account it is another row */
	req_make(&r, other, NULL, "{\"title\": \"Other\", \"slug\": \"bed-levelling\"}");
	CU_ASSERT_EQUAL(res_create(&r), E_OK);
	req_done(&r);

	/* validation from the rows: nothing written */
	req_make(&r, account, NULL, "{\"slug\": \"x\", \"tags\": [\"\"], \"author_id\": \"me\","
		 " \"difficulty\": \"brutal\"}");
	CU_ASSERT_EQUAL(res_create(&r), E_VALIDATION_ERROR);
	CU_ASSERT_PTR_NOT_NULL(json_object_get(r.details, "title"));
	CU_ASSERT_PTR_NOT_NULL(json_object_get(r.details, "tags[0]"));
	CU_ASSERT_PTR_NOT_NULL(json_object_get(r.details, "author_id"));
	CU_ASSERT_PTR_NOT_NULL(json_object_get(r.details, "difficulty"));
	req_done(&r);

	/* update: only what the body carries; null clears a nullable field */
	req_make(&r, account, id, "{\"difficulty\": \"hard\", \"tags\": null,"
		 " \"estimated_time_minutes\": 15}");
	CU_ASSERT_EQUAL(res_update(&r), E_OK);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_STRING_EQUAL(str(r.data, "difficulty"), "hard");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(r.data, "tags")), 0);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.data, "estimated_time_minutes")), 15);
	CU_ASSERT_STRING_EQUAL(str(r.data, "title"), "Bed levelling");
	req_done(&r);
	req_make(&r, account, id, "{\"is_published\": false}"); /* create-only: not updatable */
	CU_ASSERT_EQUAL(res_update(&r), E_NO_UPDATES);
	req_done(&r);

	/* another account's row: 404 for every handler, and unchanged */
	req_make(&r, other, id, "{\"title\": \"Stolen\"}");
	CU_ASSERT_EQUAL(res_get(&r), E_ARTICLE_NOT_FOUND);
	CU_ASSERT_EQUAL(res_update(&r), E_ARTICLE_NOT_FOUND);
	CU_ASSERT_EQUAL(res_delete(&r), E_ARTICLE_NOT_FOUND);
	req_done(&r);
	stored(id, row, sizeof row);
	CU_ASSERT_STRING_EQUAL(row, "Bed levelling|bed-levelling|hard|1|~");

	/* list: the account's rows only, filters, page meta */
	req_make(&r, account, NULL, NULL);
	r.query[0].key = (char *)"search";
	r.query[0].value = (char *)"levelling";
	r.query[1].key = (char *)"is_published";
	r.query[1].value = (char *)"true";
	r.nquery = 2;
	CU_ASSERT_EQUAL(res_list(&r), E_OK);
	json_t *list = r.data_text ? json_loads(r.data_text, 0, NULL) : NULL;
	CU_ASSERT_EQUAL(json_array_size(list), 1);
	CU_ASSERT_STRING_EQUAL(str(json_array_get(list, 0), "id"), id);
	CU_ASSERT_PTR_NULL(json_object_get(json_array_get(list, 0), "updated_at")); /* detail only */
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.meta, "count")), 1);
	json_decref(list);
	req_done(&r);

	/* delete, then it is gone */
	req_make(&r, account, id, NULL);
	CU_ASSERT_EQUAL(res_delete(&r), E_OK);
	CU_ASSERT_EQUAL(res_get(&r), E_ARTICLE_NOT_FOUND);
	req_done(&r);
	stored(id, row, sizeof row);
	CU_ASSERT_STRING_EQUAL(row, "");
}

int suite_resource_add(void)
{
	CU_pSuite s = CU_add_suite("resource", setup, teardown);
	return s && CU_add_test(s, "test_crud", test_crud) ? 0 : -1;
}
