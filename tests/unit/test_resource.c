/* test_resource.c - the resource layer without a database (fcgi/resource.c): the statements
 * assembled from the field tables and records (text and arguments), the validation of bodies
 * from the field tables (RF_FIXED: accepted by create, refused by update), and the invariants
 * of every record the route table names. */
#include "tunit.h"

#include "resources.h"
#include "routes.h"
#include "sqlfrag.h"
#include "states.h"

#include <stdlib.h>
#include <string.h>

#define ACCOUNT "11111111-1111-4111-8111-111111111111"
#define ID "22222222-2222-4222-8222-222222222222"

/* A catalog-like record of the test's own: what the products and wiki need (enums, nullable
 * fields, decimals, booleans, JSON arrays with checked items, a unique key). */
static const char *const difficulties[] = { "easy", "medium", "hard", NULL };
static const struct jfield tag_item = { "tag", JF_STRING, 0, 1, 50, { NULL } };
static const struct rfield article_fields[] = {
	RES_FIELD(id, "a.id", STR, NONE, RF_LD)
	RES_FIELD(title, "a.title", STR, STR(1, 200), RF_LD | RF_CREATE | RF_REQUIRED | RF_PATCH)
	RES_FIELD(difficulty, "a.difficulty", STR, ENUM_NULL(difficulties),
		  RF_LD | RF_CREATE | RF_PATCH)
	RES_FIELD(weight, "a.weight", NUM, NUM_NULL(0, 99999.99), RF_DETAIL | RF_CREATE)
	RES_FIELD(tags, "IFNULL(a.tags, '[]')", JSON, ARRAY(0, 20, &tag_item),
		  RF_DETAIL | RF_CREATE | RF_PATCH)
	RES_FIELD(is_published, "a.is_published", BOOL, BOOL, RF_LD | RF_CREATE)
	RES_FIELD(author_id, NULL, NONE, REJECT, 0)
	RES_FIELD_END
};
static const struct runique article_uniques[] = {
	{ "uq_articles_title", E_DUPLICATE_NAME, "title" },
	{ NULL, E_OK, NULL }
};
static const struct resource article_res = {
	.noun = "article", .table = "articles", .from = "articles a", .alias = "a",
	.not_found = E_NOT_FOUND, .fields = article_fields, .order = "a.title, a.id",
	.paging = RP_ON_REQUEST, .uniques = article_uniques, .touch = "updated_at = NOW(3)",
};

static void req_init(struct req *r, const char *body)
{
	memset(r, 0, sizeof *r);
	memcpy(r->account_id, ACCOUNT, sizeof ACCOUNT);
	if (body) {
		json_error_t je;
		r->body = json_loads(body, 0, &je);
		TU_CHECK(r->body != NULL, "test body does not parse: %s", body);
	}
}

static void q(struct req *r, const char *key, const char *value)
{
	r->query[r->nquery].key = (char *)key;
	r->query[r->nquery].value = (char *)value;
	r->nquery++;
}

static void req_done(struct req *r)
{
	json_decref(r->details);
	json_decref(r->body);
	json_decref(r->data);
	json_decref(r->meta);
	memset(r, 0, sizeof *r);
}

static const char *msg(const struct req *r, const char *field)
{
	return json_string_value(json_array_get(json_object_get(r->details, field), 0));
}

/* Argument n of builder bb is a string / an integer / NULL. */
#define ARG_S(bb, n, want) \
	TU_STR((bb).args[n].t == DB_STR ? (bb).args[n].s : "(not a string)", want)
#define ARG_I(bb, n, want) TU_INT((bb).args[n].t == DB_INT ? (bb).args[n].i : -999, want)
#define ARG_NULL(bb, n) TU_INT((bb).args[n].t, DB_NULL)

/* ------------------------------------------------------------------------- projections */

static void test_projections(void)
{
	struct sqlb b;
	sqlb_init(&b, NULL);
	res_select(&b, &printer_res, RF_BRIEF, ACCOUNT);
	TU_STR(b.text, "SELECT p.id, p.name, p.model, " PRINTER_STATUS_SQL
		       " FROM printers p LEFT JOIN hubs h ON h.id = p.hub_id WHERE p.account_id = ?");
	TU_INT(b.nargs, 1);
	ARG_S(b, 0, ACCOUNT);
	sqlb_release(&b);

	/* notes are in the detail, not in list rows; connection parameters in neither */
	sqlb_init(&b, NULL);
	res_select(&b, &printer_res, RF_LIST, ACCOUNT);
	TU_CHECK(!strstr(b.text, "p.notes"), "list selects notes: %s", b.text);
	TU_CHECK(!strstr(b.text, "ip_address") && !strstr(b.text, "access_code"), "%s", b.text);
	sqlb_release(&b);
	sqlb_init(&b, NULL);
	res_select(&b, &printer_res, RF_DETAIL, ACCOUNT);
	TU_CHECK(strstr(b.text, ", p.notes FROM ") != NULL, "detail lacks notes: %s", b.text);
	sqlb_release(&b);
}

/* ------------------------------------------------------------------------------- lists */

static void test_list_statement(void)
{
	struct req r;
	struct rlist l;
	req_init(&r, NULL);
	q(&r, "search", "50%_off\\");
	q(&r, "is_active", "true");
	q(&r, "unknown", "ignored");
	res_list_begin(&r, &printer_res, &l);
	TU_INT(req_invalid(&r), 0);
	const char *where = strstr(l.sql.text, " WHERE ");
	TU_STR(where, " WHERE p.account_id = ? AND p.is_active = ?"
		      " AND p.name LIKE CONCAT('%', ?, '%') ESCAPE '\\\\'"
		      " ORDER BY p.sort_order, p.name, p.id");
	TU_INT(l.sql.nargs, 3);
	ARG_S(l.sql, 0, ACCOUNT);
	ARG_I(l.sql, 1, 1);
	ARG_S(l.sql, 2, "50\\%\\_off\\\\"); /* wildcards match literally */
	sqlb_release(&l.sql);
	req_done(&r);

	/* no filter: no condition at all (not "? IS NULL OR ...") */
	req_init(&r, NULL);
	res_list_begin(&r, &printer_res, &l);
	TU_STR(strstr(l.sql.text, " WHERE "),
	       " WHERE p.account_id = ? ORDER BY p.sort_order, p.name, p.id");
	sqlb_release(&l.sql);
	req_done(&r);
}

static void test_list_paging(void)
{
	struct req r;
	struct rlist l;
	req_init(&r, NULL);
	res_list_begin(&r, &job_res, &l);
	TU_CHECK(strstr(l.sql.text, " ORDER BY j.created_at DESC, j.id DESC LIMIT ? OFFSET ?") != NULL,
		 "%s", l.sql.text);
	ARG_I(l.sql, l.sql.nargs - 2, 50);
	ARG_I(l.sql, l.sql.nargs - 1, 0);
	TU_INT(l.paged, 1);
	sqlb_release(&l.sql);
	req_done(&r);

	req_init(&r, NULL);
	q(&r, "limit", "0");
	q(&r, "status", "bogus");
	res_list_begin(&r, &job_res, &l);
	TU_STR(msg(&r, "limit"), "limit must be an integer between 1 and 100");
	TU_CHECK(msg(&r, "status") && strstr(msg(&r, "status"), "status must be one of: queued"),
		 "status: %s", msg(&r, "status"));
	sqlb_release(&l.sql);
	req_done(&r);

	/* on request: the whole list unless limit or offset is given, then up to 500 */
	req_init(&r, NULL);
	res_list_begin(&r, &article_res, &l);
	TU_INT(l.paged, 0);
	TU_CHECK(!strstr(l.sql.text, "LIMIT"), "%s", l.sql.text);
	sqlb_release(&l.sql);
	req_done(&r);
	req_init(&r, NULL);
	q(&r, "limit", "500");
	res_list_begin(&r, &article_res, &l);
	TU_INT(l.paged, 1);
	TU_INT(req_invalid(&r), 0);
	ARG_I(l.sql, l.sql.nargs - 2, 500);
	sqlb_release(&l.sql);
	req_done(&r);
	/* an offset alone pages by the largest page */
	req_init(&r, NULL);
	q(&r, "offset", "3");
	res_list_begin(&r, &article_res, &l);
	TU_INT(l.paged, 1);
	ARG_I(l.sql, l.sql.nargs - 2, 500);
	ARG_I(l.sql, l.sql.nargs - 1, 3);
	sqlb_release(&l.sql);
	req_done(&r);
}

/* from / to: a pair of time filters; a date-only `to` is the end of that UTC day. */
static void test_list_time_range(void)
{
	struct req r;
	struct rlist l;
	req_init(&r, NULL);
	q(&r, "to", "2026-01-31");
	q(&r, "from", "2026-01-01T00:00:00Z");
	res_list_begin(&r, &job_history_res, &l);
	TU_INT(req_invalid(&r), 0);
	TU_CHECK(strstr(l.sql.text, " AND j.time_completed >= ? AND j.time_completed <= ? AND"
				    " j.status IN ('completed', 'failed', 'cancelled') ORDER BY") != NULL,
		 "%s", l.sql.text);
	ARG_S(l.sql, 1, "2026-01-01 00:00:00.000");
	ARG_S(l.sql, 2, "2026-01-31 23:59:59.999");
	sqlb_release(&l.sql);
	req_done(&r);

	req_init(&r, NULL);
	q(&r, "from", "2026-02-01");
	q(&r, "to", "2026-01-31");
	res_list_begin(&r, &job_history_res, &l);
	TU_STR(msg(&r, "from"), "from must not be after to");
	sqlb_release(&l.sql);
	req_done(&r);
}

/* ------------------------------------------------------------------------------ writes */

static void test_update_statement(void)
{
	struct req r;
	struct sqlb b;
	req_init(&r, "{\"notes\": null, \"name\": \"Shelf A\", \"model\": \"ignored\"}");
	TU_INT(res_check_body(&r, &printer_res, RF_PATCH), 0);
	TU_INT(res_need_updates(&r, &printer_res), E_OK);
	res_update_begin(&b, &r, &printer_res);
	TU_STR(b.text, "UPDATE printers FORCE INDEX (PRIMARY) SET name = ?, notes = ?,"
		       " updated_at = NOW(3)");
	ARG_S(b, 0, "Shelf A");
	ARG_NULL(b, 1);
	res_set(&b, "printer_name = ?", DS("x"));
	TU_CHECK(strstr(b.text, "updated_at = NOW(3), printer_name = ?") != NULL, "%s", b.text);
	sqlb_release(&b);
	req_done(&r);

	/* only RF_MANUAL fields present: the handler's items follow the touch */
	req_init(&r, "{\"printer_id\": null}");
	res_update_begin(&b, &r, &job_res);
	TU_STR(b.text, "UPDATE print_jobs FORCE INDEX (PRIMARY) SET updated_at = NOW(3)");
	sqlb_release(&b);
	req_done(&r);
}

static void test_insert_statement(void)
{
	struct req r;
	struct sqlb b;
	char id[UUID_LEN + 1];
	req_init(&r, "{\"title\": \"T\", \"tags\": [\"a\", \"b\"], \"is_published\": true,"
		     " \"weight\": 12.5, \"difficulty\": null}");
	TU_INT(res_check_body(&r, &article_res, RF_CREATE), 0);
	TU_INT(res_insert_begin(&b, &r, &article_res, id), E_OK);
	TU_STR(b.text, "INSERT INTO articles SET id = ?, account_id = ?, title = ?,"
		       " difficulty = ?, weight = ?, tags = ?, is_published = ?");
	ARG_S(b, 0, id);
	ARG_S(b, 1, ACCOUNT);
	ARG_S(b, 2, "T");
	ARG_NULL(b, 3);
	TU_INT(b.args[4].t, DB_DBL);
	TU_CHECK(b.args[4].d == 12.5, "weight %g", b.args[4].d);
	ARG_S(b, 5, "[\"a\",\"b\"]"); /* arrays and objects as JSON text */
	ARG_I(b, 6, 1);
	sqlb_release(&b);
	req_done(&r);
}

static void test_body_validation(void)
{
	struct req r;
	/* create: required, types, nested items, never-accepted fields */
	req_init(&r, "{\"tags\": [\"ok\", \"\"], \"difficulty\": \"extreme\", \"author_id\": \"x\","
		     " \"weight\": 100000}");
	TU_INT(res_check_body(&r, &article_res, RF_CREATE), 1);
	TU_STR(msg(&r, "title"), "title is required");
	TU_STR(msg(&r, "tags[1]"), "tags[1] must be 1 to 50 characters");
	TU_STR(msg(&r, "difficulty"), "difficulty must be one of: easy, medium, hard");
	TU_STR(msg(&r, "author_id"), "author_id cannot be set through the API");
	TU_STR(msg(&r, "weight"), "weight must be between 0 and 99999.99");
	TU_INT(json_object_size(r.details), 5);
	req_done(&r);

	/* update: nothing is required; create-only fields are ignored like unknown ones */
	req_init(&r, "{\"weight\": \"heavy\"}");
	TU_INT(res_check_body(&r, &article_res, RF_PATCH), 0);
	TU_INT(res_need_updates(&r, &article_res), E_NO_UPDATES);
	TU_STR(r.errmsg, "Nothing to update: send title, difficulty or tags");
	req_done(&r);

	req_init(&r, "{\"ip_address\": \"10.0.0.1\", \"name\": \"\"}");
	TU_INT(res_check_body(&r, &printer_res, RF_PATCH), 1);
	TU_STR(msg(&r, "name"), "name must be 1 to 120 characters");
	TU_STR(msg(&r, "ip_address"), "ip_address cannot be set through the API");
	req_done(&r);

	req_init(&r, "{\"color\": \"red\"}");
	TU_INT(res_need_updates(&r, &printer_res), E_NO_UPDATES);
	TU_STR(r.errmsg, "Nothing to update: send name, location or notes");
	req_done(&r);
}

/* A record with fields set by create only (RF_FIXED): a SKU's quantity, an article's state. */
static const struct rfield fixed_fields[] = {
	RES_FIELD(title, "x.title", STR, STR(1, 10), RF_LD | RF_CREATE | RF_REQUIRED | RF_PATCH)
	RES_FIELD(is_published, "x.is_published", BOOL, BOOL, RF_LD | RF_CREATE | RF_FIXED)
	RES_FIELD(size, "x.size", INT, INT(1, 9), RF_LD | RF_CREATE | RF_FIXED)
	RES_FIELD(secret, NULL, NONE, REJECT, 0)
	RES_FIELD_END
};
static const struct resource fixed_res = {
	.noun = "thing", .table = "things", .from = "things x", .alias = "x",
	.not_found = E_NOT_FOUND, .fields = fixed_fields, .order = "x.id",
};

/* res_check_body of body for op on fixed_res, r's details kept for the checks. */
static int fixed_check(struct req *r, const char *body, unsigned op)
{
	req_init(r, body);
	return res_check_body(r, &fixed_res, op);
}

static void test_fixed_fields(void)
{
	struct req r;
	/* create: accepted and checked */
	TU_INT(fixed_check(&r, "{\"title\":\"a\",\"is_published\":true,\"size\":3}",
			   RF_CREATE), 0);
	TU_INT(json_object_size(r.details), 0);
	req_done(&r);
	TU_INT(fixed_check(&r, "{\"title\":\"a\",\"is_published\":1}", RF_CREATE), 1);
	TU_INT(json_array_size(json_object_get(r.details, "is_published")), 1);
	req_done(&r);
	TU_INT(fixed_check(&r, "{\"title\":\"a\",\"size\":30}", RF_CREATE), 1);
	TU_CHECK(msg(&r, "size") != NULL, "size named");
	req_done(&r);
	/* update: refused whatever its value (valid or not), naming only it */
	TU_INT(fixed_check(&r, "{\"title\":\"a\",\"is_published\":false}", RF_PATCH), 1);
	TU_STR(msg(&r, "is_published"), "is_published cannot be changed by an update");
	TU_INT(json_object_size(r.details), 1);
	req_done(&r);
	TU_INT(fixed_check(&r, "{\"title\":\"b\",\"size\":3}", RF_PATCH), 1);
	TU_STR(msg(&r, "size"), "size cannot be changed by an update");
	TU_CHECK(msg(&r, "title") == NULL, "title is not named");
	req_done(&r);
	/* update without them: fine; nothing is required */
	TU_INT(fixed_check(&r, "{\"title\":\"b\"}", RF_PATCH), 0);
	req_done(&r);
	TU_INT(fixed_check(&r, "{}", RF_PATCH), 0);
	req_done(&r);
	/* REJECT rows stay refused on both; create requires its required rows */
	TU_INT(fixed_check(&r, "{\"secret\":null,\"title\":\"a\"}", RF_PATCH), 1);
	TU_INT(json_array_size(json_object_get(r.details, "secret")), 1);
	req_done(&r);
	TU_INT(fixed_check(&r, "{\"title\":\"b\",\"secret\":1}", RF_CREATE), 1);
	TU_CHECK(msg(&r, "secret") != NULL, "secret named");
	req_done(&r);
	TU_INT(fixed_check(&r, "{}", RF_CREATE), 1);
	TU_INT(json_array_size(json_object_get(r.details, "title")), 1);
	req_done(&r);
	/* an update with only fixed fields has nothing to update: NO_UPDATES names the others */
	req_init(&r, "{\"is_published\":true}");
	TU_INT(res_need_updates(&r, &fixed_res), E_NO_UPDATES);
	TU_STR(r.errmsg, "Nothing to update: send title");
	req_done(&r);
}

/* ---------------------------------------------------------------------------- invariants */

static int is_generic(handler_fn fn)
{
	return fn == res_list || fn == res_get || fn == res_nested || fn == res_create ||
	       fn == res_update || fn == res_delete || fn == res_counts || fn == res_distinct;
}

static void check_record(const struct resource *res, const char *name)
{
	TU_CHECK(res->noun && res->table && res->from && res->alias && res->order && res->fields,
		 "%s: noun, table, from, alias, order and fields are required", name);
	for (const struct rfield *f = res->fields; f->name; f++) {
		TU_CHECK(!(f->flags & RF_VIEWS) || f->sql, "%s.%s: in a projection without SQL", name,
			 f->name);
		TU_CHECK(!(f->in.flags & JF_REJECT) || !(f->flags & RF_VIEWS), "%s.%s: rejected but"
			 " shown", name, f->name);
		TU_CHECK(!(f->flags & (RF_CREATE | RF_PATCH)) || f->in.type != JF_ANY,
			 "%s.%s: accepted without an input type", name, f->name);
		TU_CHECK(!(f->flags & RF_REQUIRED) || (f->flags & RF_CREATE), "%s.%s: required but"
			 " not accepted by create", name, f->name);
		TU_STR(f->in.name, f->name);
		for (const struct rfield *g = f + 1; g->name; g++)
			TU_CHECK(strcmp(f->name, g->name) != 0, "%s.%s: twice", name, f->name);
	}
	for (const struct rfilter *f = res->filters; f && f->in.name; f++)
		TU_CHECK(f->cond && strchr(f->cond, '?'), "%s ?%s: a condition without a value", name,
			 f->in.name);
	for (const struct rchild *c = res->children; c && c->member; c++) {
		TU_CHECK(c->res && strchr(c->cond, '?') && (c->view == RF_LIST || c->view == RF_BRIEF),
			 "%s.%s: a nested list needs a record, a view and a condition", name, c->member);
		if (c->res)
			check_record(c->res, c->member);
	}
	/* every projection assembles within the builder's bounds, with every filter and the
	 * fixed condition */
	for (unsigned view = RF_LIST; view <= RF_BRIEF; view <<= 1) {
		struct sqlb b;
		sqlb_init(&b, NULL);
		res_select(&b, res, view, ACCOUNT);
		TU_INT(b.overflow, 0);
		for (const struct rfilter *f = res->filters; f && f->in.name; f++) {
			sqlb_add(&b, " AND ");
			sqlb_bind(&b, f->cond, DS("x"));
		}
		if (res->where) {
			sqlb_add(&b, " AND ");
			sqlb_add(&b, res->where);
		}
		TU_CHECK(!b.overflow, "%s view %u with its filters fits", name, view);
		sqlb_release(&b);
	}
}

static void test_route_records(void)
{
	unsigned generic = 0;
	for (unsigned i = 0; i < nroutes; i++) {
		const struct route *rt = &routes[i];
		if (!is_generic(rt->fn)) {
			TU_CHECK(rt->res == NULL, "%s: a record on a handwritten handler", rt->path);
			continue;
		}
		generic++;
		TU_CHECK(rt->res != NULL, "%s: %s without a record", rt->path, rt->handler_name);
		if (!rt->res)
			continue;
		check_record(rt->res, rt->res_name);
		if (rt->fn == res_counts)
			TU_CHECK(rt->res->counts != NULL, "%s: counts without rcounts", rt->path);
		if (rt->fn == res_distinct)
			TU_CHECK(rt->res->distinct && rt->res->distinct->expr, "%s: distinct values"
				 " without rdistinct", rt->path);
		if (rt->fn == res_nested) {
			const char *member = strrchr(rt->path, '/') + 1;
			const struct rchild *c = rt->res->children;
			while (c && c->member && strcmp(c->member, member) != 0)
				c++;
			TU_CHECK(c && c->member, "%s: %s has no nested %s", rt->path, rt->res_name,
				 member);
		}
		if (rt->fn == res_update || rt->fn == res_create)
			TU_CHECK(rt->flags & R_BODY, "%s: a write without R_BODY", rt->path);
	}
	TU_CHECK(generic >= 16, "generic routes: %u", generic);
	/* the job actions are the state table's rules, named by the path */
	for (unsigned i = 0; i < nroutes; i++)
		if (routes[i].fn == jobs_action)
			TU_CHECK(states_job_rule(strrchr(routes[i].path, '/') + 1) != NULL,
				 "%s: no job rule", routes[i].path);
	check_record(&article_res, "article_res");
}

int init_resource_suite(void)
{
	CU_pSuite s = CU_add_suite("resource", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_projections);
	TU_ADD(s, test_list_statement);
	TU_ADD(s, test_list_paging);
	TU_ADD(s, test_list_time_range);
	TU_ADD(s, test_update_statement);
	TU_ADD(s, test_insert_statement);
	TU_ADD(s, test_body_validation);
	TU_ADD(s, test_fixed_fields);
	TU_ADD(s, test_route_records);
	return 0;
}
