/* apitest.h - assertions of the API tests. Each failure names the request (method and path),
 * the status received and the response body, so a red test says what the server answered. */
#ifndef APF_APITEST_H
#define APF_APITEST_H

#include "client.h"
#include "fixture.h"

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Suites (one per file); each adds itself to the registry: 0 or -1. */
int suite_contract(void);
int suite_auth(void);
int suite_scopes(void);
int suite_ratelimit(void);
int suite_bodies(void);
int suite_hubs(void);
int suite_printers(void);
int suite_jobs(void);
int suite_control(void);
int suite_isolation(void);
int suite_site(void);
int suite_faults(void);
int suite_ledger(void);
int suite_stock_race(void);
int suite_orders(void);
int suite_resilience(void);
int suite_files(void);
int suite_storage_guard(void);
int suite_cases(void);
int suite_products(void);
int suite_skus(void);
int suite_wiki(void);
int suite_colors(void);
int suite_components(void);
int suite_bom(void);
int suite_kits(void);
int suite_images(void);
int suite_worklist(void);
int suite_assembly(void);
int suite_materials(void);
int suite_inventory(void);
int suite_analytics(void);
int suite_link(void);
int suite_metrics(void);
int suite_admin(void);
int suite_openapi(void);
int suite_idempotency(void);
int suite_dispatch(void);
int suite_webhooks(void);
int suite_hotpath(void);

#define ADD_TEST(suite, fn)                            \
	do {                                            \
		if (!CU_add_test((suite), #fn, (fn)))   \
			return -1;                      \
	} while (0)

/* A fixture step: on failure (already reported) the test stops. */
#define FX(expr)                 \
	do {                             \
		if ((expr) < 0)          \
			return;          \
	} while (0)

/* Records one assertion; on failure prints fmt plus r's request, status and body. Returns ok. */
int at_check(int ok, const struct resp *r, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* The response has this status; with code: an error envelope {success:false, code, error} of that
 * code (and no data); without code: a success envelope {success:true, data}. Returns ok. */
int at_expect(const struct resp *r, long status, const char *code, const char *file,
	      unsigned line);
/* obj (an object) has exactly these member names (NULL-terminated). */
int at_keys(const json_t *obj, const char *const *keys, const struct resp *r, const char *file,
	    unsigned line);
int at_str(const char *actual, const char *expected, const char *what, const struct resp *r,
	   const char *file, unsigned line);
int at_int(long long actual, long long expected, const char *what, const struct resp *r,
	   const char *file, unsigned line);

#define CHECK(cond, r, ...) at_check(!!(cond), (r), __FILE__, __LINE__, __VA_ARGS__)
#define EXPECT(r, status, code) at_expect(&(r), (status), (code), __FILE__, __LINE__)
#define KEYS(obj, keys, r) at_keys((obj), (keys), (r), __FILE__, __LINE__)
#define STR_EQ(actual, expected, r) at_str((actual), (expected), #actual, (r), __FILE__, __LINE__)
#define INT_EQ(actual, expected, r) at_int((actual), (expected), #actual, (r), __FILE__, __LINE__)

/* The first cell of q(id) equals want now / within ms (the worker applies some changes after
 * the API answered). A row that is missing (at the deadline) fails the check. Returns ok. */
int at_db_is(const struct db_query *q, const char *id, const char *want, const char *file,
	     unsigned line);
int at_db_becomes(const struct db_query *q, const char *id, const char *want, long ms,
		  const char *file, unsigned line);
#define DB_IS(q, id, want) at_db_is((q), (id), (want), __FILE__, __LINE__)
#define DB_BECOMES(q, id, want, ms) at_db_becomes((q), (id), (want), (ms), __FILE__, __LINE__)

/* The response's data member (borrowed) and members of an object (NULL-safe). */
json_t *rdata(const struct resp *r);
const char *jstr(const json_t *obj, const char *key);
/* Integer member, or LLONG_MIN when absent or not an integer. */
long long jint(const json_t *obj, const char *key);
/* 1 true, 0 false, -1 not a boolean. */
int jbool(const json_t *obj, const char *key);
/* The error details list of field (borrowed) or NULL. */
json_t *rdetail(const struct resp *r, const char *field);
/* 1 when s is "YYYY-MM-DDTHH:MM:SS.mmmZ". */
int is_iso_ms(const char *s);
/* Epoch milliseconds of such a string, or -1. */
long long iso_ms(const char *s);
/* Header as integer, or LLONG_MIN when missing or not a number. */
long long hdr_int(const struct resp *r, const char *name);

/* Bit set of the methods in a list like "GET, PATCH" (bit i = GET, POST, PUT, PATCH, DELETE;
 * bit 31: an unknown token). */
unsigned method_bits(const char *list);

/* "x" repeated n times (static buffer reused per call site slot 0..3). */
const char *rep(int slot, const char *unit, int n);

#endif
