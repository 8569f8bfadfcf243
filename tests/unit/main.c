/* main.c - runs every unit suite (pure functions, no database, no services). Exit status is
 * non-zero when any test or suite failed. */
#include "tunit.h"

#include <CUnit/Basic.h>

int main(void)
{
	static int (*const inits[])(void) = {
		init_router_suite, init_errors_suite, init_apikey_suite, init_util_suite,
		init_jhelp_suite,  init_req_suite,    init_dispatch_suite, init_queue_suite,
		init_cfg_suite,    init_meta_suite,   init_multipart_suite,
	};
	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		return 2;
	}
	for (size_t i = 0; i < sizeof inits / sizeof inits[0]; i++) {
		if (inits[i]() != 0) {
			fprintf(stderr, "CUnit: cannot register suite %zu: %s\n", i, CU_get_error_msg());
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
		fprintf(stderr, "no test ran\n");
		return 1;
	}
	return failed ? 1 : 0;
}
