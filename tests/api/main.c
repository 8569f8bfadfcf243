/* main.c - the API end-to-end tests: HTTPS through nginx to apf-fcgi and MariaDB, on a stack
 * started by scripts/stack.sh. Environment: APF_CONF (the stack's apf.conf), APF_BIN (folder
 * with apf-admin), APF_SRC (source tree, for fcgi/routes.def; default "."). Exit status is
 * non-zero when any test failed. */
#include "apitest.h"

#include "cunit_run.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	if (fx_init() < 0 || client_init() < 0) {
		fprintf(stderr, "test-api: set APF_CONF to a running stack's apf.conf and APF_BIN to "
				"the folder with apf-admin\n");
		fx_cleanup();
		return 2;
	}
	int rc = CUNIT_RUN("test-api", suite_contract, suite_auth, suite_scopes, suite_ratelimit,
			   suite_bodies, suite_hubs, suite_printers, suite_jobs, suite_control,
			   suite_files, suite_storage_guard, suite_cases, suite_isolation, suite_site,
			   suite_products, suite_skus, suite_wiki, suite_colors, suite_components, suite_bom,
			   suite_kits, suite_images, suite_worklist, suite_assembly, suite_materials,
			   suite_inventory, suite_orders, suite_analytics, suite_metrics, suite_faults, suite_link, suite_openapi, suite_stock_race, suite_admin, suite_idempotency, suite_dispatch, suite_webhooks, suite_hotpath,
			   suite_ledger /* after every suite that moves stock */,
			   suite_resilience /* last: it restarts MariaDB */);
	client_cleanup();
	fx_cleanup();
	return rc;
}
