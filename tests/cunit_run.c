#include "cunit_run.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $APF_TEST_SUITES (comma-separated suite names): only those run, for a quick local rerun;
 * unset or empty (scripts/test.sh) = every suite. */
static void select_suites(void)
{
	const char *want = getenv("APF_TEST_SUITES");
	if (!want || !*want)
		return;
	CU_set_fail_on_inactive(CU_FALSE);
	for (CU_pSuite s = CU_get_registry()->pSuite; s; s = s->pNext) {
		size_t len = strlen(s->pName);
		int on = 0;
		for (const char *p = want; *p; p += strcspn(p, ",")) {
			p += *p == ',';
			if (strncmp(p, s->pName, len) == 0 && (p[len] == ',' || p[len] == '\0'))
				on = 1;
		}
		CU_set_suite_active(s, on ? CU_TRUE : CU_FALSE);
	}
}

int cunit_run(const char *name, int (*const *suites)(void), size_t n)
{
	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "%s: CUnit: %s\n", name, CU_get_error_msg());
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		if (suites[i]() != 0) {
			fprintf(stderr, "%s: cannot register suite %zu: %s\n", name, i,
				CU_get_error_msg());
			CU_cleanup_registry();
			return 2;
		}
	}
	select_suites();
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
			  CU_get_number_of_tests_failed();
	unsigned ran = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	if (ran == 0) {
		fprintf(stderr, "%s: no test ran\n", name);
		return 1;
	}
	return failed ? 1 : 0;
}
