/* test_queue.c - common/queue.c against MariaDB: push/claim/done, SKIP LOCKED, lease expiry,
 * failure backoff and dead letters, retry, dedup. */
#include "tdb.h"

#include "cfg.h"
#include "queue.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct db_query Q_T_LOCK_ROW = {
	"SELECT id FROM queue_jobs WHERE id = ? FOR UPDATE"
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Only the tests' queues: a worker polling the same database never serves them. */
static const char *const test_queues[] = {
	"TEST_Q", "TEST_LOCK", "TEST_LEASE", "TEST_FAIL", "TEST_RETRY", "TEST_DEDUP", "TEST_LOST",
	NULL
};

static void claim(struct db *db, const char *worker, int lease, struct queue_item *it, int *found)
{
	CU_ASSERT_EQUAL(queue_claim_from(db, worker, lease, test_queues, it, found), E_OK);
}

static void test_push_claim_done(void)
{
	long long id = 0;
	json_t *payload = json_pack("{s:i, s:s}", "x", 42, "name", "cube.3mf");
	CU_ASSERT_EQUAL(queue_push(tdb, "TEST_Q", "test.basic", NULL, payload, NULL, 0, &id), E_OK);
	json_decref(payload);
	CU_ASSERT(id > 0);

	struct tdb_job j;
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "ready");
	CU_ASSERT_EQUAL(j.attempts, 0);
	CU_ASSERT_EQUAL(j.max_attempts, 5);

	struct queue_item it;
	int found = 0;
	claim(tdb, "test-a", 30, &it, &found);
	CU_ASSERT_EQUAL_FATAL(found, 1);
	CU_ASSERT_EQUAL(it.id, id);
	CU_ASSERT_STRING_EQUAL(it.queue, "TEST_Q");
	CU_ASSERT_STRING_EQUAL(it.type, "test.basic");
	CU_ASSERT_STRING_EQUAL(it.account_id, "");
	CU_ASSERT_EQUAL(it.attempts, 1);
	CU_ASSERT_EQUAL(it.max_attempts, 5);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(it.payload, "x")), 42);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(it.payload, "name")), "cube.3mf");

	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "running");
	CU_ASSERT_EQUAL(j.attempts, 1);
	CU_ASSERT_STRING_EQUAL(j.locked_by, "test-a");
	CU_ASSERT(j.lease_ms > 25000 && j.lease_ms <= 30000);

	int again = 1;
	struct queue_item other;
	claim(tdb, "test-b", 30, &other, &again);
	CU_ASSERT_EQUAL(again, 0); /* running with a live lease: not claimable */

	CU_ASSERT_EQUAL(queue_done(tdb, &it), E_OK);
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "done");
	CU_ASSERT(j.finished);
	CU_ASSERT_EQUAL(j.lease_ms, TDB_NULL);
	queue_item_release(&it);

	claim(tdb, "test-b", 30, &other, &again);
	CU_ASSERT_EQUAL(again, 0);
}

static void test_account_id(void)
{
	long long id = 0;
	json_t *payload = json_object();
	CU_ASSERT_EQUAL(queue_push(tdb, "TEST_Q", "test.acct", "5b0c6a3e-2c4f-4f7e-9a51-0d2f1c9b7e11",
				   payload, NULL, 3, &id), E_OK);
	json_decref(payload);
	struct queue_item it;
	int found = 0;
	claim(tdb, "test-a", 30, &it, &found);
	CU_ASSERT_EQUAL_FATAL(found, 1);
	CU_ASSERT_STRING_EQUAL(it.account_id, "5b0c6a3e-2c4f-4f7e-9a51-0d2f1c9b7e11");
	CU_ASSERT_EQUAL(it.max_attempts, 3);
	CU_ASSERT_EQUAL(queue_done(tdb, &it), E_OK);
	queue_item_release(&it);
}

/* A row locked by another connection is skipped, at once, not waited for. */
static void test_skip_locked(void)
{
	long long a = tdb_push("TEST_LOCK", "test.a", NULL, 0);
	long long b = tdb_push("TEST_LOCK", "test.b", NULL, 0);
	CU_ASSERT(a < b);

	struct db *other = db_open();
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	CU_ASSERT_EQUAL_FATAL(db_begin(other), E_OK);
	struct db_res res;
	CU_ASSERT_EQUAL(db_exec(other, &Q_T_LOCK_ROW, DB_ARGS(DI(a)), &res), E_OK);
	CU_ASSERT_EQUAL(res.nrows, 1);
	db_res_free(&res);

	struct queue_item it;
	int found = 0;
	double t0 = now_s();
	claim(tdb, "test-a", 30, &it, &found);
	double took = now_s() - t0;
	CU_ASSERT_EQUAL_FATAL(found, 1);
	CU_ASSERT_EQUAL(it.id, b); /* a is locked: skipped */
	CU_ASSERT(took < 1.0);
	CU_ASSERT_EQUAL(queue_done(tdb, &it), E_OK);
	queue_item_release(&it);

	/* nothing else claimable while a stays locked */
	claim(tdb, "test-a", 30, &it, &found);
	CU_ASSERT_EQUAL(found, 0);

	db_rollback(other);
	db_close(other);
	claim(tdb, "test-a", 30, &it, &found);
	CU_ASSERT_EQUAL_FATAL(found, 1);
	CU_ASSERT_EQUAL(it.id, a);
	CU_ASSERT_EQUAL(queue_done(tdb, &it), E_OK);
	queue_item_release(&it);
}

/* A connection as conf db_migrate_user (schema changes: the test's trigger); NULL when the
 * configuration names none. */
static struct db *migrate_db(void)
{
	const char *mu = cfg_str("db_migrate_user", NULL);
	if (!mu)
		return NULL;
	char user[128], pw[256], mig[128], mpw[256];
	snprintf(user, sizeof user, "%s", cfg_str("db_user", "apf"));
	snprintf(pw, sizeof pw, "%s", cfg_str("db_password", ""));
	snprintf(mig, sizeof mig, "%s", mu);
	snprintf(mpw, sizeof mpw, "%s", cfg_str("db_migrate_password", ""));
	cfg_set("db_user", mig);
	cfg_set("db_password", mpw);
	struct db *db = db_open();
	if (db && db_ping(db) != E_OK) {
		db_close(db);
		db = NULL;
	}
	cfg_set("db_user", user);
	cfg_set("db_password", pw);
	return db;
}

/* Two workers claim the same row through two Galera nodes: SKIP LOCKED sees only its own
 * node's locks, so both pick it and the later commit fails certification with 1213. A trigger
 * raises that error for one worker's claim (the UPDATE of the claim; certification fails the
 * COMMIT, which the claim handles alike): its claim is no claim, the row stays ready with no
 * attempt counted, and the next worker takes it. */
static void test_claim_lost(void)
{
	struct db *mig = migrate_db();
	CU_ASSERT_PTR_NOT_NULL_FATAL(mig);
	long long id = tdb_push("TEST_LOST", "test.lost", NULL, 0);
	long long next = tdb_push("TEST_LOST", "test.next", NULL, 0);
	char sql[512];
	snprintf(sql, sizeof sql,
		 "CREATE TRIGGER test_claim_lost BEFORE UPDATE ON queue_jobs FOR EACH ROW"
		 " IF NEW.id = %lld AND NEW.locked_by = 'test-loser' AND NEW.state = 'running' THEN"
		 " SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213,"
		 " MESSAGE_TEXT = 'simulated certification failure'; END IF", id);
	db_exec_text(mig, "DROP TRIGGER IF EXISTS test_claim_lost");
	CU_ASSERT_EQUAL_FATAL(db_exec_text(mig, sql), E_OK);
	/* the loser passes over the row it lost and takes the next one (no FATAL assertion until
	 * the trigger is gone) */
	struct queue_item it;
	int found = 0;
	claim(tdb, "test-loser", 30, &it, &found);
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT_FALSE(db_in_txn(tdb));
	if (found) {
		CU_ASSERT_EQUAL(it.id, next);
		CU_ASSERT_EQUAL(queue_done(tdb, &it), E_OK);
		queue_item_release(&it);
	}
	struct tdb_job j;
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "ready");
	CU_ASSERT_EQUAL(j.attempts, 0);
	CU_ASSERT_STRING_EQUAL(j.locked_by, "");
	/* nothing else for it: no claim, no error */
	claim(tdb, "test-loser", 30, &it, &found);
	CU_ASSERT_EQUAL(found, 0);
	if (found)
		queue_item_release(&it);
	/* the winner has it, once */
	claim(tdb, "test-winner", 30, &it, &found);
	CU_ASSERT_EQUAL(found, 1);
	if (found) {
		CU_ASSERT_EQUAL(it.id, id);
		CU_ASSERT_EQUAL(it.attempts, 1);
		CU_ASSERT_EQUAL(queue_done(tdb, &it), E_OK);
		CU_ASSERT_EQUAL(db_affected(tdb), 1);
		queue_item_release(&it);
	}
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "done");
	CU_ASSERT_STRING_EQUAL(j.locked_by, "test-winner");
	CU_ASSERT_EQUAL(db_exec_text(mig, "DROP TRIGGER test_claim_lost"), E_OK);
	db_close(mig);
}

/* A worker that never acknowledges loses the job when its lease expires. */
static void test_lease_expiry(void)
{
	long long id = tdb_push("TEST_LEASE", "test.lease", NULL, 0);
	struct queue_item it, it2;
	int found = 0;
	claim(tdb, "test-dies", 1, &it, &found);
	CU_ASSERT_EQUAL_FATAL(found, 1);
	CU_ASSERT_EQUAL(it.attempts, 1);

	struct db *other = db_open();
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	claim(other, "test-next", 30, &it2, &found);
	CU_ASSERT_EQUAL(found, 0); /* lease still valid */

	/* re-claim as soon as the lease runs out (about 1 s), so a worker polling the same
	 * database has no time to take it first */
	double t0 = now_s();
	usleep(900 * 1000);
	do {
		claim(other, "test-next", 30, &it2, &found);
		if (!found)
			usleep(5 * 1000);
	} while (!found && now_s() - t0 < 3.0);
	CU_ASSERT(now_s() - t0 >= 0.95);
	CU_ASSERT_EQUAL_FATAL(found, 1);
	CU_ASSERT_EQUAL(it2.id, id);
	CU_ASSERT_EQUAL(it2.attempts, 2);
	struct tdb_job j;
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "running");
	CU_ASSERT_EQUAL(j.attempts, 2);
	CU_ASSERT_STRING_EQUAL(j.locked_by, "test-next");

	/* the first worker comes back: its acknowledgements no longer count */
	CU_ASSERT_EQUAL(queue_done(tdb, &it), E_OK);
	CU_ASSERT_EQUAL(db_affected(tdb), 0);
	CU_ASSERT_EQUAL(queue_fail(tdb, &it, "late"), E_OK);
	CU_ASSERT_EQUAL(db_affected(tdb), 0);
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "running");
	CU_ASSERT_STRING_EQUAL(j.locked_by, "test-next");

	CU_ASSERT_EQUAL(queue_done(other, &it2), E_OK);
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "done");
	queue_item_release(&it);
	queue_item_release(&it2);
	db_close(other);
}

/* The lease of the last allowed attempt expires: dead-lettered, not run again. */
static void test_lease_expiry_last_attempt(void)
{
	long long id = tdb_push("TEST_LEASE", "test.lease1", NULL, 1);
	struct queue_item it;
	int found = 0;
	claim(tdb, "test-dies", 1, &it, &found);
	CU_ASSERT_EQUAL_FATAL(found, 1);
	queue_item_release(&it);
	usleep(1200 * 1000);
	claim(tdb, "test-next", 30, &it, &found);
	CU_ASSERT_EQUAL(found, 0);
	struct tdb_job j;
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "dead");
	CU_ASSERT(strstr(j.last_error, "lease expired") != NULL);
	CU_ASSERT(j.finished);
}

/* fail → ready with backoff (run_at in the future) → ... → dead after max_attempts. */
static void test_fail_backoff_dead(void)
{
	long long id = tdb_push("TEST_FAIL", "test.fail", NULL, 3);
	struct tdb_job j;
	static const long backoff_ms[] = { 10000, 20000 }; /* after attempt 1, 2 */
	for (unsigned attempt = 1; attempt <= 3; attempt++) {
		struct queue_item it;
		int found = 0;
		claim(tdb, "test-a", 30, &it, &found);
		CU_ASSERT_EQUAL_FATAL(found, 1);
		CU_ASSERT_EQUAL(it.id, id);
		CU_ASSERT_EQUAL(it.attempts, attempt);
		char msg[32];
		snprintf(msg, sizeof msg, "boom %u", attempt);
		CU_ASSERT_EQUAL(queue_fail(tdb, &it, msg), E_OK);
		queue_item_release(&it);

		tdb_job(id, &j);
		CU_ASSERT_EQUAL(j.attempts, attempt);
		CU_ASSERT_STRING_EQUAL(j.last_error, msg);
		CU_ASSERT_STRING_EQUAL(j.locked_by, "");
		CU_ASSERT_EQUAL(j.lease_ms, TDB_NULL);
		if (attempt < 3) {
			CU_ASSERT_STRING_EQUAL(j.state, "ready");
			CU_ASSERT(!j.finished);
			long want = backoff_ms[attempt - 1];
			CU_ASSERT(j.run_at_ms > want - 1500 && j.run_at_ms <= want);
			/* backing off: not claimable yet */
			claim(tdb, "test-a", 30, &it, &found);
			CU_ASSERT_EQUAL(found, 0);
			tdb_make_due(id);
		} else {
			CU_ASSERT_STRING_EQUAL(j.state, "dead");
			CU_ASSERT(j.finished);
		}
	}
	struct queue_item it;
	int found = 1;
	claim(tdb, "test-a", 30, &it, &found);
	CU_ASSERT_EQUAL(found, 0);
}

static void test_backoff_seconds(void)
{
	CU_ASSERT_EQUAL(queue_backoff_seconds(0), 5);
	CU_ASSERT_EQUAL(queue_backoff_seconds(1), 10);
	CU_ASSERT_EQUAL(queue_backoff_seconds(2), 20);
	CU_ASSERT_EQUAL(queue_backoff_seconds(9), 2560);
	CU_ASSERT_EQUAL(queue_backoff_seconds(10), 3600);
	CU_ASSERT_EQUAL(queue_backoff_seconds(1000), 3600);
}

static void test_retry_dead(void)
{
	long long id = tdb_push("TEST_RETRY", "test.retry", NULL, 1);
	struct queue_item it;
	int found = 0;
	claim(tdb, "test-a", 30, &it, &found);
	CU_ASSERT_EQUAL_FATAL(found, 1);
	CU_ASSERT_EQUAL(queue_fail(tdb, &it, "fatal"), E_OK);
	queue_item_release(&it);
	struct tdb_job j;
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "dead");

	int ok = 0;
	CU_ASSERT_EQUAL(queue_retry(tdb, id, &ok), E_OK);
	CU_ASSERT_EQUAL(ok, 1);
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "ready");
	CU_ASSERT_EQUAL(j.attempts, 0);
	CU_ASSERT_STRING_EQUAL(j.last_error, "");
	CU_ASSERT(!j.finished);
	CU_ASSERT(j.run_at_ms <= 0);

	CU_ASSERT_EQUAL(queue_retry(tdb, id, &ok), E_OK); /* not dead any more */
	CU_ASSERT_EQUAL(ok, 0);
	CU_ASSERT_EQUAL(queue_retry(tdb, id + 1000000, &ok), E_OK); /* no such job */
	CU_ASSERT_EQUAL(ok, 0);

	claim(tdb, "test-a", 30, &it, &found);
	CU_ASSERT_EQUAL_FATAL(found, 1);
	CU_ASSERT_EQUAL(it.id, id);
	CU_ASSERT_EQUAL(it.attempts, 1);
	CU_ASSERT_EQUAL(queue_done(tdb, &it), E_OK);
	queue_item_release(&it);
}

static void test_dedup(void)
{
	long long a = tdb_push("TEST_DEDUP", "test.d", "same-key", 0);
	long long b = tdb_push("TEST_DEDUP", "test.d", "same-key", 0);
	CU_ASSERT_EQUAL(a, b);
	CU_ASSERT_EQUAL(tdb_count_queue("TEST_DEDUP"), 1);

	/* still a no-op once the first one is done */
	struct queue_item it;
	int found = 0;
	claim(tdb, "test-a", 30, &it, &found);
	CU_ASSERT_EQUAL_FATAL(found, 1);
	CU_ASSERT_EQUAL(queue_done(tdb, &it), E_OK);
	queue_item_release(&it);
	CU_ASSERT_EQUAL(tdb_push("TEST_DEDUP", "test.d", "same-key", 0), a);
	struct tdb_job j;
	tdb_job(a, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "done");

	/* the key is per queue; NULL keys never collide */
	long long c = tdb_push("TEST_DEDUP2", "test.d", "same-key", 0);
	CU_ASSERT(c != a);
	long long d = tdb_push("TEST_DEDUP", "test.d", NULL, 0);
	long long e = tdb_push("TEST_DEDUP", "test.d", NULL, 0);
	CU_ASSERT(d != e && d != a);
	CU_ASSERT_EQUAL(tdb_count_queue("TEST_DEDUP"), 3);
}

int suite_queue_add(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("queue", NULL, NULL, tdb_clean, NULL);
	if (!s)
		return -1;
	if (!CU_add_test(s, "push, claim, done", test_push_claim_done) ||
	    !CU_add_test(s, "account id and max_attempts", test_account_id) ||
	    !CU_add_test(s, "claim skips a row locked elsewhere", test_skip_locked) ||
	    !CU_add_test(s, "claim that loses its commit (1213) is no claim", test_claim_lost) ||
	    !CU_add_test(s, "expired lease: re-delivered", test_lease_expiry) ||
	    !CU_add_test(s, "expired lease on the last attempt: dead",
			 test_lease_expiry_last_attempt) ||
	    !CU_add_test(s, "fail: backoff, then dead", test_fail_backoff_dead) ||
	    !CU_add_test(s, "backoff seconds", test_backoff_seconds) ||
	    !CU_add_test(s, "retry a dead job", test_retry_dead) ||
	    !CU_add_test(s, "dedup key", test_dedup))
		return -1;
	return 0;
}
