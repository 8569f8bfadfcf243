/* test_resource_body.c - body checks of the resource layer (fcgi/resource.c) that need no
 * database: RF_FIXED (accepted by create, refused by update naming the field), REJECT rows,
 * required rows, and res_need_updates. */
#include "tunit.h"

#include "resource.h"

#include <stdlib.h>
#include <string.h>

static const struct rfield fields[] = {
	RES_FIELD(title, "x.title", STR, STR(1, 10), RF_LD | RF_CREATE | RF_REQUIRED | RF_PATCH)
	RES_FIELD(is_published, "x.is_published", BOOL, BOOL, RF_LD | RF_CREATE | RF_FIXED)
	RES_FIELD(secret, NULL, NONE, REJECT, 0)
	RES_FIELD_END
};

static const struct resource res = {
	.noun = "thing", .table = "things", .from = "things x", .alias = "x",
	.not_found = E_NOT_FOUND, .fields = fields, .order = "x.id",
};

static int check(const char *body, unsigned op, json_t **details)
{
	struct req r;
	memset(&r, 0, sizeof r);
	r.body = json_loads(body, 0, NULL);
	int bad = res_check_body(&r, &res, op);
	*details = r.details;
	json_decref(r.body);
	return bad;
}

static void test_no_patch(void)
{
	json_t *d;
	/* create: accepted and checked */
	TU_INT(check("{\"title\":\"a\",\"is_published\":true}", RF_CREATE, &d), 0);
	TU_INT(json_object_size(d), 0);
	json_decref(d);
	TU_INT(check("{\"title\":\"a\",\"is_published\":1}", RF_CREATE, &d), 1);
	TU_INT(json_array_size(json_object_get(d, "is_published")), 1);
	json_decref(d);
	/* update: refused whatever its value, naming it */
	TU_INT(check("{\"title\":\"a\",\"is_published\":false}", RF_PATCH, &d), 1);
	TU_STR(json_string_value(json_array_get(json_object_get(d, "is_published"), 0)),
	       "is_published cannot be changed by an update");
	TU_INT(json_object_size(d), 1);
	json_decref(d);
	/* update without it: fine */
	TU_INT(check("{\"title\":\"b\"}", RF_PATCH, &d), 0);
	json_decref(d);
}

static void test_reject_and_required(void)
{
	json_t *d;
	TU_INT(check("{\"secret\":null,\"title\":\"a\"}", RF_PATCH, &d), 1);
	TU_INT(json_array_size(json_object_get(d, "secret")), 1);
	json_decref(d);
	TU_INT(check("{}", RF_CREATE, &d), 1);
	TU_INT(json_array_size(json_object_get(d, "title")), 1);
	json_decref(d);
	TU_INT(check("{}", RF_PATCH, &d), 0);
	json_decref(d);
}

/* An update with only a RF_FIXED field has no update: NO_UPDATES names the patchable ones. */
static void test_need_updates(void)
{
	struct req r;
	memset(&r, 0, sizeof r);
	r.body = json_loads("{\"is_published\":true}", 0, NULL);
	TU_INT(res_need_updates(&r, &res), E_NO_UPDATES);
	TU_STR(r.errmsg, "Nothing to update: send title");
	json_decref(r.body);
	json_decref(r.details);
}

int init_resource_body_suite(void)
{
	CU_pSuite s = CU_add_suite("resource body checks", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_no_patch);
	TU_ADD(s, test_reject_and_required);
	TU_ADD(s, test_need_updates);
	return 0;
}
