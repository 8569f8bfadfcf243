/* test-hub - CUnit tests of the hub link (docs/hub-link.md) against the real stack: the stack's
 * apf-worker holds the backend MQTT connection; this process plays hubs on the same broker with
 * credentials from `apf-admin hub create`, and watches the database.
 *
 * Environment: APF_CONF (the stack's apf.conf: db_*, mqtt_*, worker_socket, var_dir, log_dir),
 * APF_BIN (folder with apf-admin and apf-hubsim; default build/bin). The simulator suite runs
 * apf-hubsim itself. The broker suite restarts mosquitto (by the pid in mqtt_pid_file, same
 * command line as scripts/stack.sh) and runs last.
 * Exit status: 0 when every test passed. */
#include "th.h"

#include "cfg.h"
#include "log.h"

#include "cunit_run.h"
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>

struct db *tdb;

int main(void)
{
	log_set_name("test-hub");
	signal(SIGPIPE, SIG_IGN);
	if (cfg_load(NULL) < 0)
		return 1;
	tdb = db_open();
	if (!tdb || db_ping(tdb) != E_OK) {
		fprintf(stderr, "test-hub: the database of %s does not answer\n", cfg_path());
		return 1;
	}
	mosquitto_lib_init();
	int rc = CUNIT_RUN("test-hub", suite_unit_add, suite_ingest_add, suite_commands_add,
			   suite_sim_add, suite_logsafe_add, suite_dynsec_add,
			   suite_broker_add);
	mosquitto_lib_cleanup();
	db_close(tdb);
	return rc;
}
