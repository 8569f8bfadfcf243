/* cases.h - API tests as rows of data: a request and what must come back.
 *
 * Most checks of a plain endpoint are the same shape: call it with some key, path and body,
 * expect a status, an error code and a few members. A row says exactly that:
 *
 *   { "PATCH", "/printers/{printer}", "write", "{\"name\": \"\"}", 422, "VALIDATION_ERROR",
 *     { "details.name" } },
 *
 *   method, path    "{name}" is replaced by the value the test set with case_var (ids of its
 *                   fixture rows); the body is filled the same way
 *   key             the scopes of the key sent ("read", "write", "read,write,control"), made
 *                   for the test's account on first use; CASE_OTHER: a key (every scope) of
 *                   another account; NULL: no Authorization header
 *   status, code    the status; with a code, an error envelope of that code, without one a
 *                   success envelope (apitest.h at_expect)
 *   expect          up to CASE_EXPECT checks of members, by path from the response's root:
 *                   "data.name=Shelf A" (a string, or a number / true / false / null written as
 *                   JSON), "details.name" (present), "!data.notes" (absent); [i] indexes arrays:
 *                   "data[0].id={printer}"; a member whose name has '.' or '[' in it is found
 *                   by the rest of the path whole: "details.components[1].component_name"
 *
 * A failed row names its index and the request, status and body it got. */
#ifndef APF_API_CASES_H
#define APF_API_CASES_H

#include "fixture.h"

#include <stddef.h>

#define CASE_EXPECT 6
#define CASE_VARS 16
#define CASE_KEYS 6
#define CASE_OTHER "other"

struct case_row {
	const char *method;
	const char *path;
	const char *key;
	const char *body;
	long status;
	const char *code;
	const char *expect[CASE_EXPECT];
};

struct case_ctx {
	struct tenant t;                 /* the account under test (key: every scope) */
	struct tenant other;             /* another account (key: every scope) */
	const char *names[CASE_VARS];
	char values[CASE_VARS][FX_ID];
	int nvars;
	char scopes[CASE_KEYS][32];      /* keys made so far, by scopes */
	char keys[CASE_KEYS][FX_KEY];
	int nkeys;
};

/* Two new accounts; 0, or -1 after recording why. */
int case_init(struct case_ctx *c);
/* Sets {name} (name must outlive c); value is copied. */
void case_var(struct case_ctx *c, const char *name, const char *value);
/* Runs every row; each failed row is one CUnit failure at file:line naming the row. */
void case_run(struct case_ctx *c, const struct case_row *rows, size_t n, const char *file,
	      unsigned line);
#define CASE_RUN(ctx, rows) case_run((ctx), (rows), sizeof(rows) / sizeof((rows)[0]), __FILE__, __LINE__)

#endif
