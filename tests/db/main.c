/* test-db - CUnit tests against a real MariaDB: the queue (common/queue.c), the worker's
 * claim-and-run step and job handlers (workers/: housekeeping.purge, job_completed, file.extract),
 * the generic handlers of the API's resources (fcgi/resource.c), and the apf-worker daemon end
 * to end.
 *
 * Connection from $APF_CONF (cfg_load); the database must be migrated and throwaway (see tdb.h).
 * The daemon tests run $APF_BIN/apf-worker (default build/bin). Exit status: 0 when every test
 * passed. */
#include "tdb.h"

#include "cfg.h"
#include "log.h"
#include "queue.h"

#include "cunit_run.h"

#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct db *tdb;

static const struct db_query Q_T_JOB = {
	"SELECT state, attempts, max_attempts,"
	" TIMESTAMPDIFF(MICROSECOND, NOW(3), run_at) DIV 1000,"
	" TIMESTAMPDIFF(MICROSECOND, NOW(3), lease_until) DIV 1000,"
	" IFNULL(locked_by, ''), IFNULL(last_error, ''), finished_at IS NOT NULL"
	" FROM queue_jobs WHERE id = ?"
};
static const struct db_query Q_T_COUNT_QUEUE = {
	"SELECT COUNT(*) FROM queue_jobs WHERE queue = ?"
};
static const struct db_query Q_T_MAKE_DUE = {
	"UPDATE queue_jobs SET run_at = NOW(3) - INTERVAL 1 SECOND WHERE id = ?"
};

void tdb_clean(void)
{
	CU_ASSERT_EQUAL(db_exec_text(tdb, "DELETE FROM queue_jobs"), E_OK);
	CU_ASSERT_EQUAL(db_exec_text(tdb, "DELETE FROM rate_windows WHERE key_id LIKE 'test-%'"),
			E_OK);
}

void tdb_job(long long id, struct tdb_job *out)
{
	struct db_res res;
	memset(out, 0, sizeof *out);
	enum api_err err = db_exec(tdb, &Q_T_JOB, DB_ARGS(DI(id)), &res);
	CU_ASSERT_EQUAL(err, E_OK);
	if (!err && res.nrows == 1) {
		out->found = 1;
		snprintf(out->state, sizeof out->state, "%s", db_get(&res, 0, 0));
		out->attempts = (unsigned)db_get_int(&res, 0, 1, 0);
		out->max_attempts = (unsigned)db_get_int(&res, 0, 2, 0);
		out->run_at_ms = db_get_int(&res, 0, 3, TDB_NULL);
		out->lease_ms = db_get_int(&res, 0, 4, TDB_NULL);
		snprintf(out->locked_by, sizeof out->locked_by, "%s", db_get(&res, 0, 5));
		snprintf(out->last_error, sizeof out->last_error, "%s", db_get(&res, 0, 6));
		out->finished = (int)db_get_int(&res, 0, 7, 0);
	}
	db_res_free(&res);
}

long long tdb_count_queue(const char *q)
{
	struct db_res res;
	enum api_err err = db_exec(tdb, &Q_T_COUNT_QUEUE, DB_ARGS(DS(q)), &res);
	CU_ASSERT_EQUAL(err, E_OK);
	long long n = err ? -1 : db_get_int(&res, 0, 0, -1);
	db_res_free(&res);
	return n;
}

void tdb_make_due(long long id)
{
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_MAKE_DUE, DB_ARGS(DI(id)), NULL), E_OK);
	CU_ASSERT_EQUAL(db_affected(tdb), 1);
}

long long tdb_push(const char *queue, const char *type, const char *dedup_key,
		   unsigned max_attempts)
{
	long long id = 0;
	json_t *payload = json_object();
	CU_ASSERT_EQUAL(queue_push(tdb, queue, type, NULL, payload, dedup_key, max_attempts, &id),
			E_OK);
	json_decref(payload);
	CU_ASSERT(id > 0);
	return id;
}

/* A worker daemon on the same database claims due rows of any queue and races the tests (see
 * tdb.h): say so when conf worker_socket's lock (workers/loop.c) is held. */
static void warn_foreign_worker(void)
{
	const char *sock = cfg_str("worker_socket", NULL);
	char lock[512];
	if (!sock)
		return;
	snprintf(lock, sizeof lock, "%s.lock", sock);
	int fd = open(lock, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
		fprintf(stderr, "test-db: WARNING: an apf-worker holds %s and polls this database; "
			"it may take the tests' jobs (stop it for reliable results)\n", lock);
	close(fd);
}

int main(void)
{
	log_set_name("test-db");
	if (cfg_load(NULL) < 0)
		return 2;
	tdb = db_open();
	if (!tdb || db_ping(tdb) != E_OK) {
		fprintf(stderr, "test-db: cannot reach the database configured in %s\n", cfg_path());
		db_close(tdb);
		return 2;
	}
	warn_foreign_worker();
	int rc = CUNIT_RUN("test-db", suite_queue_add, suite_worker_add, suite_print_events_add,
			   suite_file_extract_add, suite_storage_add, suite_resource_add,
			   suite_dbhosts_add,
			   suite_daemon_add);
	/* leave no rows behind (no assertions outside a test) */
	db_exec_text(tdb, "DELETE FROM queue_jobs");
	db_exec_text(tdb, "DELETE FROM rate_windows WHERE key_id LIKE 'test-%'");
	db_close(tdb);
	return rc;
}
