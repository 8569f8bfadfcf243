/* test_worker.c - the worker's claim-and-run step (workers/worker.c) and the housekeeping.purge
 * job against MariaDB, called in-process through worker_run_due(). */
#include "tdb.h"

#include "cfg.h"
#include "worker.h"

#include <stdlib.h>
#include <string.h>

static const struct db_query Q_T_INSERT_FINISHED = {
	"INSERT INTO queue_jobs (queue, type, payload, state, attempts, finished_at)"
	" VALUES ('TEST_HK', ?, '{}', ?, 1, NOW(3) - INTERVAL ? DAY)"
};
static const struct db_query Q_T_RATE_INSERT = {
	"INSERT INTO rate_windows (key_id, window_start, hits)"
	" VALUES (?, UNIX_TIMESTAMP() - ?, 1)"
};
static const struct db_query Q_T_AUTH_BULK = {
	"SELECT COUNT(*) FROM auth_failures WHERE addr LIKE 'test-bulk-%'"
};
static const struct db_query Q_T_RATE_COUNT = {
	"SELECT COUNT(*) FROM rate_windows WHERE key_id = ?"
};

static long long insert_finished(const char *type, const char *state, int days_ago)
{
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_INSERT_FINISHED, DB_ARGS(DS(type), DS(state), DI(days_ago)),
				NULL), E_OK);
	return (long long)db_insert_id(tdb);
}

static void insert_window(const char *key, int seconds_ago)
{
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_RATE_INSERT, DB_ARGS(DS(key), DI(seconds_ago)), NULL), E_OK);
}

static long long count_windows(const char *key)
{
	struct db_res res;
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_RATE_COUNT, DB_ARGS(DS(key)), &res), E_OK);
	long long n = db_get_int(&res, 0, 0, -1);
	db_res_free(&res);
	return n;
}

static void test_job_table(void)
{
	CU_ASSERT(worker_njobs >= 1);
	for (size_t i = 0; i < worker_njobs; i++) {
		const struct job_type *jt = &worker_jobs[i];
		CU_ASSERT(jt->queue && *jt->queue && strlen(jt->queue) <= 32);
		CU_ASSERT(jt->type && *jt->type && strlen(jt->type) <= 64);
		CU_ASSERT_PTR_NOT_NULL(jt->run);
		CU_ASSERT(jt->lease_seconds > 0);
		for (size_t k = 0; k < i; k++)
			CU_ASSERT(strcmp(jt->type, worker_jobs[k].type) != 0 ||
				  strcmp(jt->queue, worker_jobs[k].queue) != 0);
		CU_ASSERT_PTR_EQUAL(worker_job_find(jt->queue, jt->type), jt);
	}
	const struct job_type *hk = worker_job_find(QUEUE_HOUSEKEEPING, "housekeeping.purge");
	CU_ASSERT_PTR_NOT_NULL(hk);
	CU_ASSERT_PTR_NULL(worker_job_find(QUEUE_FILE_PROCESSING, "housekeeping.purge"));
	CU_ASSERT_PTR_NULL(worker_job_find(QUEUE_HOUSEKEEPING, "housekeeping.nope"));
	const char *const *q = worker_queues();
	CU_ASSERT_STRING_EQUAL(q[0], QUEUE_HOUSEKEEPING);
	CU_ASSERT_STRING_EQUAL(q[1], QUEUE_HUB_COMMANDS);
	CU_ASSERT_STRING_EQUAL(q[2], QUEUE_FILE_PROCESSING);
	CU_ASSERT_STRING_EQUAL(q[3], QUEUE_PRINT_EVENTS);
	CU_ASSERT_STRING_EQUAL(q[4], QUEUE_DISPATCH);
	CU_ASSERT_PTR_NULL(q[5]);
	CU_ASSERT_PTR_NOT_NULL(worker_job_find(QUEUE_DISPATCH, "dispatch.run"));
	CU_ASSERT_PTR_NOT_NULL(worker_job_find(QUEUE_HUB_COMMANDS, "hub.discover"));
	CU_ASSERT_PTR_NOT_NULL(worker_job_find(QUEUE_FILE_PROCESSING, "file.extract"));
}

/* A type without a row fails with backoff, then dead-letters after max_attempts. */
static void test_unknown_type_dead_letters(void)
{
	static const char *const q[] = { "TEST_UNKNOWN", NULL };
	long long id = tdb_push("TEST_UNKNOWN", "test.no_such_type", NULL, 2);
	CU_ASSERT_EQUAL(worker_run_due(tdb, "test-worker"), 0); /* not a queue workers serve */
	CU_ASSERT_EQUAL(worker_run_due_from(tdb, "test-worker", q), 1);
	struct tdb_job j;
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "ready");
	CU_ASSERT_EQUAL(j.attempts, 1);
	CU_ASSERT(strstr(j.last_error, "unknown job type") != NULL);
	CU_ASSERT(j.run_at_ms > 5000); /* backing off */

	CU_ASSERT_EQUAL(worker_run_due_from(tdb, "test-worker", q), 0); /* not due yet */
	tdb_make_due(id);
	CU_ASSERT_EQUAL(worker_run_due_from(tdb, "test-worker", q), 1);
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "dead");
	CU_ASSERT_EQUAL(j.attempts, 2);
	CU_ASSERT(strstr(j.last_error, "unknown job type TEST_UNKNOWN/test.no_such_type") != NULL);
	CU_ASSERT(j.finished);
	CU_ASSERT_EQUAL(worker_run_due_from(tdb, "test-worker", q), 0);
}

/* A known type pushed on the wrong queue is not run by that type's handler. */
static void test_type_on_wrong_queue(void)
{
	static const char *const q[] = { "TEST_WRONG", NULL };
	long long id = tdb_push("TEST_WRONG", "housekeeping.purge", NULL, 1);
	CU_ASSERT_EQUAL(worker_run_due_from(tdb, "test-worker", q), 1);
	struct tdb_job j;
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "dead");
	CU_ASSERT(strstr(j.last_error, "unknown job type") != NULL);
}

static void test_purge(void)
{
	long long old1 = insert_finished("test.old", "done", 30);
	long long old2 = insert_finished("test.old", "done", 8);
	long long recent = insert_finished("test.recent", "done", 1);
	long long dead = insert_finished("test.dead", "dead", 30);
	long long ready = tdb_push("TEST_HK", "test.later", NULL, 0);
	/* keep the ready row out of the run: make it look claimed by a live worker */
	CU_ASSERT_EQUAL(db_exec_text(tdb, "UPDATE queue_jobs SET state = 'running', lease_until ="
				     " NOW(3) + INTERVAL 1 HOUR WHERE type = 'test.later'"), E_OK);
	insert_window("test-hk", 3600);
	insert_window("test-hk", 601 + 60);
	insert_window("test-hk", 300);
	insert_window("test-hk", 0);

	long long hk = 0;
	CU_ASSERT_EQUAL(worker_push_purge(tdb, time(NULL), &hk), E_OK);
	CU_ASSERT_EQUAL(worker_run_due(tdb, "test-worker"), 1);

	struct tdb_job j;
	tdb_job(hk, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "done");
	tdb_job(old1, &j);
	CU_ASSERT_EQUAL(j.found, 0);
	tdb_job(old2, &j);
	CU_ASSERT_EQUAL(j.found, 0);
	tdb_job(recent, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "done");
	tdb_job(dead, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "dead"); /* dead letters wait for an operator */
	tdb_job(ready, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "running");
	CU_ASSERT_EQUAL(count_windows("test-hk"), 2);
}

static void test_purge_keep_days(void)
{
	char *saved = NULL;
	const char *v = cfg_str("queue_keep_days", NULL);
	if (v)
		saved = strdup(v);
	cfg_set("queue_keep_days", "40");
	long long d30 = insert_finished("test.d30", "done", 30);
	long long d50 = insert_finished("test.d50", "done", 50);
	CU_ASSERT_EQUAL(worker_push_purge(tdb, time(NULL), NULL), E_OK);
	CU_ASSERT_EQUAL(worker_run_due(tdb, "test-worker"), 1);
	cfg_set("queue_keep_days", saved ? saved : ""); /* "" reads as unset */
	free(saved);

	struct tdb_job j;
	tdb_job(d30, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "done");
	tdb_job(d50, &j);
	CU_ASSERT_EQUAL(j.found, 0);
}

/* Many old rows: deleted in batches, all of them. */
static void test_purge_batches(void)
{
	CU_ASSERT_EQUAL(db_exec_text(tdb,
		"INSERT INTO queue_jobs (queue, type, payload, state, attempts, finished_at)"
		" SELECT 'TEST_HK', 'test.bulk', '{}', 'done', 1, NOW(3) - INTERVAL 20 DAY"
		" FROM seq_1_to_12001"), E_OK);
	CU_ASSERT_EQUAL(tdb_count_queue("TEST_HK"), 12001);
	/* old rate windows and failed-authentication windows, more than two batches of each
	 * (the shared counters are InnoDB: purged in batches, docs/scale-out.md "Database") */
	CU_ASSERT_EQUAL(db_exec_text(tdb,
		"INSERT INTO rate_windows (key_id, window_start, hits)"
		" SELECT 'test-bulk', UNIX_TIMESTAMP() - 3600 - seq * 60, 1 FROM seq_1_to_2501"), E_OK);
	CU_ASSERT_EQUAL(db_exec_text(tdb,
		"INSERT INTO auth_failures (addr, window_start, fails)"
		" SELECT CONCAT('test-bulk-', seq), UNIX_TIMESTAMP() - 7200, 1 FROM seq_1_to_2501"),
		E_OK);
	insert_window("test-bulk", 0); /* the current window stays */
	CU_ASSERT_EQUAL(count_windows("test-bulk"), 2502);
	CU_ASSERT_EQUAL(worker_push_purge(tdb, time(NULL), NULL), E_OK);
	CU_ASSERT_EQUAL(worker_run_due(tdb, "test-worker"), 1);
	CU_ASSERT_EQUAL(tdb_count_queue("TEST_HK"), 0);
	CU_ASSERT_EQUAL(count_windows("test-bulk"), 1);
	struct db_res res;
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_AUTH_BULK, NULL, 0, &res), E_OK);
	CU_ASSERT_EQUAL(db_get_int(&res, 0, 0, -1), 0);
	db_res_free(&res);
}

static void test_purge_key(void)
{
	char key[64];
	worker_purge_key((time_t)1767323045, key, sizeof key); /* 2026-01-02T03:04:05Z */
	CU_ASSERT_STRING_EQUAL(key, "purge:2026-01-02-03");

	time_t t = 1767323045;
	long long a = 0, b = 0, c = 0;
	CU_ASSERT_EQUAL(worker_push_purge(tdb, t, &a), E_OK);
	CU_ASSERT_EQUAL(worker_push_purge(tdb, t + 600, &b), E_OK); /* same hour: no-op */
	CU_ASSERT_EQUAL(worker_push_purge(tdb, t + 3600, &c), E_OK);
	CU_ASSERT(a > 0);
	CU_ASSERT_EQUAL(a, b);
	CU_ASSERT(c != a);
	CU_ASSERT_EQUAL(tdb_count_queue(QUEUE_HOUSEKEEPING), 2);
}

int suite_worker_add(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("worker", NULL, NULL, tdb_clean, NULL);
	if (!s)
		return -1;
	if (!CU_add_test(s, "job table", test_job_table) ||
	    !CU_add_test(s, "unknown job type dead-letters", test_unknown_type_dead_letters) ||
	    !CU_add_test(s, "known type on the wrong queue", test_type_on_wrong_queue) ||
	    !CU_add_test(s, "housekeeping.purge", test_purge) ||
	    !CU_add_test(s, "housekeeping.purge honours queue_keep_days", test_purge_keep_days) ||
	    !CU_add_test(s, "housekeeping.purge in batches (queue jobs, counter windows)",
			 test_purge_batches) ||
	    !CU_add_test(s, "purge dedup key per hour", test_purge_key))
		return -1;
	return 0;
}
