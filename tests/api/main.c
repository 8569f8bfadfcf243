/* main.c - the API end-to-end tests: HTTPS through nginx to apf-fcgi and MariaDB, on a stack
 * started by scripts/stack.sh. Environment: APF_CONF (the stack's apf.conf), APF_BIN (folder
 * with apf-admin), APF_SRC (source tree, for fcgi/routes.def; default "."). Exit status is
 * non-zero when any test failed. */
#include "apitest.h"

#include <CUnit/Basic.h>
#include <stdlib.h>

int main(void)
{
	static int (*const suites[])(void) = {
		suite_contract, suite_auth,  suite_scopes,   suite_ratelimit,
		suite_bodies,   suite_hubs,  suite_printers,
		suite_jobs,     suite_control,
		suite_resilience, /* last: it restarts MariaDB */
	};
	if (fx_init() < 0 || client_init() < 0) {
		fprintf(stderr, "test-api: set APF_CONF to a running stack's apf.conf and APF_BIN to "
				"the folder with apf-admin\n");
		fx_cleanup();
		return 2;
	}
	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		return 2;
	}
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
		if (suites[i]() != 0) {
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
	client_cleanup();
	fx_cleanup();
	if (ran == 0) {
		fprintf(stderr, "no test ran\n");
		return 1;
	}
	return failed ? 1 : 0;
}
