/* main.c - runs every unit suite (pure functions, no database, no services). Exit status is
 * non-zero when any test or suite failed. */
#include "tunit.h"

#include "cunit_run.h"

int main(void)
{
	return CUNIT_RUN("test-unit", init_router_suite, init_errors_suite, init_apikey_suite,
			 init_util_suite, init_jhelp_suite, init_req_suite, init_dispatch_suite,
			 init_queue_suite, init_cfg_suite, init_meta_suite, init_multipart_suite,
			 init_imgtype_suite,
			 init_hubrate_suite, init_budget_suite, init_sqlb_suite,
			 init_resource_suite, init_dbhosts_suite, init_obs_suite, init_hot_suite);
}
