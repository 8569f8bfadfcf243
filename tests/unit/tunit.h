/* tunit.h - shared helpers of the unit-test suites: suite registration and assertions that
 * print the values they compared (CUnit's own macros only print the expression). */
#ifndef APF_TUNIT_H
#define APF_TUNIT_H

#include <CUnit/CUnit.h>

#include <stdio.h>
#include <string.h>

/* One init function per area, each adding one suite; 0 or -1 (registry error). */
int init_router_suite(void);
int init_errors_suite(void);
int init_apikey_suite(void);
int init_util_suite(void);
int init_jhelp_suite(void);
int init_req_suite(void);
int init_dispatch_suite(void);
int init_queue_suite(void);
int init_cfg_suite(void);
int init_meta_suite(void);
int init_multipart_suite(void);
int init_imgtype_suite(void);
int init_hubrate_suite(void);
int init_budget_suite(void);
int init_sqlb_suite(void);
int init_resource_suite(void);
int init_dbhosts_suite(void);
int init_obs_suite(void);
int init_hot_suite(void);

#define TU_ADD(suite, fn)                                    \
	do {                                                  \
		if (!CU_add_test((suite), #fn, (fn)))         \
			return -1;                            \
	} while (0)

static inline void tu_fail(int ok, unsigned line, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#include <stdarg.h>

static inline void tu_fail(int ok, unsigned line, const char *file, const char *fmt, ...)
{
	char msg[1024];
	if (ok) {
		CU_assertImplementation(CU_TRUE, line, "", file, "", CU_FALSE);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	CU_assertImplementation(CU_FALSE, line, msg, file, "", CU_FALSE);
}

/* String equality; a NULL actual is a failure, never a crash. */
#define TU_STR(actual, expected)                                                              \
	do {                                                                                  \
		const char *tu_a = (actual), *tu_e = (expected);                              \
		int tu_ok = tu_a && tu_e ? strcmp(tu_a, tu_e) == 0 : tu_a == tu_e;            \
		tu_fail(tu_ok, __LINE__, __FILE__, "%s: got \"%s\", want \"%s\"", #actual,    \
			tu_a ? tu_a : "(null)", tu_e ? tu_e : "(null)");                      \
	} while (0)

#define TU_INT(actual, expected)                                                              \
	do {                                                                                  \
		long long tu_a = (long long)(actual), tu_e = (long long)(expected);           \
		tu_fail(tu_a == tu_e, __LINE__, __FILE__, "%s: got %lld, want %lld", #actual, \
			tu_a, tu_e);                                                          \
	} while (0)

/* Condition with a formatted message naming the case that failed. */
#define TU_CHECK(cond, ...) tu_fail(!!(cond), __LINE__, __FILE__, __VA_ARGS__)

#endif
