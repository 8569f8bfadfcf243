#include "cunit_run.h"

#include <CUnit/Basic.h>
#include <stdio.h>

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
