/* test_resource.c - pieces of the resource layer (fcgi/resource.c) that need no database: the
 * body check of RF_FIXED fields (accepted by create, refused by update), and the statements
 * of every resource record assembled within the builder's bounds. */
#include "tunit.h"

#include "resources.h"

#include <stdlib.h>
#include <string.h>

static const struct rfield fixed_fields[] = {
	RES_FIELD(name, "t.name", STR, STR(1, 10), RF_LD | RF_CREATE | RF_REQUIRED | RF_PATCH)
	RES_FIELD(size, "t.size", INT, INT(1, 9), RF_LD | RF_CREATE | RF_FIXED)
	RES_FIELD(secret, NULL, NONE, REJECT, 0)
	RES_FIELD_END
};

static const struct resource fixed_res = {
	.noun = "thing", .table = "things", .from = "things t", .alias = "t",
	.not_found = E_NOT_FOUND, .fields = fixed_fields, .order = "t.id",
};

/* Checks body (JSON text) for op: the problems found, by field. */
static int check(const char *body, unsigned op, struct req *r)
{
	memset(r, 0, sizeof *r);
	r->body = json_loads(body, 0, NULL);
	return res_check_body(r, &fixed_res, op);
}

static void done(struct req *r)
{
	json_decref(r->body);
	json_decref(r->details);
	memset(r, 0, sizeof *r);
}

static int named(const struct req *r, const char *field)
{
	return json_object_get(r->details, field) != NULL;
}

static void test_fixed_fields(void)
{
	struct req r;
	/* create: set once */
	TU_INT(check("{\"name\":\"a\",\"size\":3}", RF_CREATE, &r), 0);
	done(&r);
	TU_INT(check("{\"name\":\"a\",\"size\":30}", RF_CREATE, &r), 1); /* still validated */
	TU_CHECK(named(&r, "size"), "size named");
	done(&r);
	/* update: refused even when valid, named, with what makes it refused */
	TU_INT(check("{\"name\":\"b\",\"size\":3}", RF_PATCH, &r), 1);
	TU_CHECK(named(&r, "size") && !named(&r, "name"), "only size named");
	const char *msg = json_string_value(json_array_get(json_object_get(r.details, "size"), 0));
	TU_STR(msg, "size cannot be changed by an update");
	done(&r);
	TU_INT(check("{\"name\":\"b\"}", RF_PATCH, &r), 0);
	done(&r);
	/* REJECT rows stay refused on both */
	TU_INT(check("{\"name\":\"b\",\"secret\":1}", RF_PATCH, &r), 1);
	TU_CHECK(named(&r, "secret"), "secret named");
	done(&r);
}

/* Every projection of every record, with each nested list's condition, fits the builder. */
static void test_statements_fit(void)
{
	const struct resource *all[] = { &printer_res, &hub_res, &product_res, &sku_res };
	const unsigned views[] = { RF_LIST, RF_DETAIL, RF_BRIEF };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		for (size_t v = 0; v < 3; v++) {
			struct sqlb b;
			sqlb_init(&b, NULL);
			res_select(&b, all[i], views[v], "acct");
			for (const struct rfilter *f = all[i]->filters; f && f->in.name; f++) {
				sqlb_add(&b, " AND ");
				sqlb_bind(&b, f->cond, DS("x"));
			}
			if (all[i]->where) {
				sqlb_add(&b, " AND ");
				sqlb_add(&b, all[i]->where);
			}
			TU_CHECK(!b.overflow, "%s view %u fits", all[i]->noun, views[v]);
			sqlb_release(&b);
		}
}

int init_resource_suite(void)
{
	CU_pSuite s = CU_add_suite("resource", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_fixed_fields);
	TU_ADD(s, test_statements_fit);
	return 0;
}
