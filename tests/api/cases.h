/* cases.h - table-driven request checks: each row is one request and the answer it must get.
 * A path may contain "{id}", replaced by the id the caller passes (a row of the test's own). */
#ifndef APF_API_CASES_H
#define APF_API_CASES_H

#include "apitest.h"

struct case_row {
	const char *method;
	const char *path;      /* "{id}" is replaced */
	const char *body;      /* JSON text or NULL */
	long status;
	const char *code;      /* error code, or NULL for a success envelope */
	const char *field;     /* a 422 must name it in details (or NULL) */
};

/* Runs n rows with key; each failure names the row's request. */
void run_cases(const struct case_row *rows, size_t n, const char *key, const char *id,
	       const char *file, unsigned line);
#define RUN_CASES(rows, key, id) \
	run_cases((rows), sizeof(rows) / sizeof((rows)[0]), (key), (id), __FILE__, __LINE__)

#endif
