/* test_print_events.c - the PRINT_EVENTS/job_completed job (workers/print_events.c) against
 * MariaDB: the event is pushed by the real producer (stock_job_completed, as on completion) and
 * run in-process through worker_run_due_from(); the account's daily_analytics row of the job's
 * UTC completion day holds figures recomputed from print_jobs, the same after a re-delivery.
 * Every test makes its own accounts (removed with their rows afterwards); the days are fixed
 * dates in the past. */
#include "tdb.h"

#include "queue.h"
#include "stock.h"
#include "util.h"
#include "worker.h"

#include <stdio.h>
#include <string.h>

static const char *const PE_QUEUES[] = { QUEUE_PRINT_EVENTS, NULL };

static const struct db_query Q_T_ACCOUNT = {
	"INSERT INTO accounts (id, name) VALUES (?, 'test-db print events')"
};
static const struct db_query Q_T_ACCOUNT_DROP = { "DELETE FROM accounts WHERE id = ?" };
/* time_completed NULL: a job still running (updated_at now). */
static const struct db_query Q_T_PJOB = {
	"INSERT INTO print_jobs (id, account_id, file_name, status, number_of_units,"
	" actual_print_time_minutes, time_completed) VALUES (?, ?, 'part.gcode', ?, ?, ?, ?)"
};
static const struct db_query Q_T_PJOB_DROP = { "DELETE FROM print_jobs WHERE id = ?" };
static const struct db_query Q_T_EVENT_OF = {
	"SELECT id FROM queue_jobs WHERE queue = 'PRINT_EVENTS' AND type = 'job_completed'"
	" AND dedup_key = CONCAT('job_completed:', ?)"
};
/* A worker that died holding the job: its lease expired, the next claim redelivers it. */
static const struct db_query Q_T_REDELIVER = {
	"UPDATE queue_jobs SET state = 'running', finished_at = NULL,"
	" lease_until = NOW(3) - INTERVAL 1 SECOND WHERE id = ?"
};
static const struct db_query Q_T_DAY = {
	"SELECT CONCAT_WS('|', jobs_completed, jobs_failed, units_produced,"
	" total_print_time_minutes, average_job_time_minutes, revenue)"
	" FROM daily_analytics WHERE account_id = ? AND date = ?"
};
static const struct db_query Q_T_DAYS = {
	"SELECT COUNT(*) FROM daily_analytics WHERE account_id = ?"
};
static const struct db_query Q_T_REVENUE = {
	"UPDATE daily_analytics SET revenue = ? WHERE account_id = ? AND date = ?"
};

/* Accounts of the current test, dropped (with their jobs and rows) by the teardown. */
static char accounts[4][UUID_LEN + 1];
static size_t naccounts;

static const char *make_account(void)
{
	CU_ASSERT_FATAL(naccounts < sizeof accounts / sizeof accounts[0]);
	char *id = accounts[naccounts++];
	CU_ASSERT_FATAL(util_uuid(id) == 0);
	CU_ASSERT_FATAL(db_exec(tdb, &Q_T_ACCOUNT, DB_ARGS(DS(id)), NULL) == E_OK);
	return id;
}

static void drop_accounts(void)
{
	for (size_t i = 0; i < naccounts; i++)
		db_exec(tdb, &Q_T_ACCOUNT_DROP, DB_ARGS(DS(accounts[i])), NULL);
	naccounts = 0;
}

/* A print job of account; minutes < 0: no actual print time; completed NULL: none. */
static void make_job(const char *account, const char *status, int units, int minutes,
		     const char *completed, char id[UUID_LEN + 1])
{
	CU_ASSERT_FATAL(util_uuid(id) == 0);
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_PJOB,
				DB_ARGS(DS(id), DS(account), DS(status), DI(units),
					minutes < 0 ? DNULL : DI(minutes), DS(completed)),
				NULL),
			E_OK);
}

/* The event of a completed job, pushed as the completing transaction does; its queue id. */
static long long push_event(const char *account, const char *job)
{
	struct db_res res;
	CU_ASSERT_EQUAL(stock_job_completed(tdb, account, job, NULL, NULL), E_OK);
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_EVENT_OF, DB_ARGS(DS(job)), &res), E_OK);
	long long id = db_get_int(&res, 0, 0, 0);
	db_res_free(&res);
	CU_ASSERT(id > 0);
	return id;
}

/* Runs the due PRINT_EVENTS jobs: exactly one, and it ends done. */
static void run_event(long long id)
{
	struct tdb_job j;
	CU_ASSERT_EQUAL(worker_run_due_from(tdb, "test-worker", PE_QUEUES), 1);
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "done");
	CU_ASSERT_STRING_EQUAL(j.last_error, "");
}

/* "completed|failed|units|minutes|average|revenue" of the account's row of day, "" when none. */
static void day_row(const char *account, const char *day, char *out, size_t size)
{
	struct db_res res;
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_DAY, DB_ARGS(DS(account), DS(day)), &res), E_OK);
	snprintf(out, size, "%s", res.nrows && db_get(&res, 0, 0) ? db_get(&res, 0, 0) : "");
	db_res_free(&res);
}

static long long day_rows(const char *account)
{
	struct db_res res;
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_DAYS, DB_ARGS(DS(account)), &res), E_OK);
	long long n = db_get_int(&res, 0, 0, -1);
	db_res_free(&res);
	return n;
}

#define DAY_IS(account, day, want)                                 \
	do {                                                       \
		char row_[128];                                    \
		day_row((account), (day), row_, sizeof row_);     \
		CU_ASSERT_STRING_EQUAL(row_, (want));              \
	} while (0)

static void test_handler_row(void)
{
	const struct job_type *jt = worker_job_find(QUEUE_PRINT_EVENTS, STOCK_JOB_COMPLETED_TYPE);
	CU_ASSERT_PTR_NOT_NULL(jt);
	if (jt)
		CU_ASSERT_PTR_EQUAL(jt->run, print_job_completed);
}

/* One completed job: the day's row holds its figures. */
static void test_recomputes_the_day(void)
{
	const char *a = make_account();
	char job[UUID_LEN + 1];
	make_job(a, "completed", 3, 50, "2025-03-14 10:00:00.000", job);
	run_event(push_event(a, job));
	DAY_IS(a, "2025-03-14", "1|0|3|50|50|0");
	CU_ASSERT_EQUAL(day_rows(a), 1);
}

/* Delivered again (a worker died before acknowledging): the same figures, one row, and the
 * columns the job does not own keep their values. */
static void test_redelivery_is_idempotent(void)
{
	const char *a = make_account();
	char job[UUID_LEN + 1];
	make_job(a, "completed", 3, 50, "2025-03-14 10:00:00.000", job);
	long long ev = push_event(a, job);
	run_event(ev);
	DAY_IS(a, "2025-03-14", "1|0|3|50|50|0");
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_REVENUE, DB_ARGS(DI(1234), DS(a), DS("2025-03-14")), NULL),
			E_OK);
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_REDELIVER, DB_ARGS(DI(ev)), NULL), E_OK);
	run_event(ev);
	DAY_IS(a, "2025-03-14", "1|0|3|50|50|1234");
	CU_ASSERT_EQUAL(day_rows(a), 1);
}

/* A second completion the same day: the row counts both. */
static void test_second_job_same_day(void)
{
	const char *a = make_account();
	char j1[UUID_LEN + 1], j2[UUID_LEN + 1];
	make_job(a, "completed", 3, 50, "2025-03-14 10:00:00.000", j1);
	run_event(push_event(a, j1));
	make_job(a, "completed", 2, 71, "2025-03-14 16:30:00.000", j2);
	run_event(push_event(a, j2));
	DAY_IS(a, "2025-03-14", "2|0|5|121|61|0"); /* average 60.5 rounds to 61 */
	CU_ASSERT_EQUAL(day_rows(a), 1);
}

/* The UTC day's bounds and the statuses: completed jobs count with their units, failed ones
 * with their print time only, cancelled ones not at all; a job without an actual time adds 0
 * minutes and stays out of the average; the days before and after are not this row's. */
static void test_day_bounds_and_statuses(void)
{
	const char *a = make_account();
	char id[UUID_LEN + 1], last[UUID_LEN + 1];
	make_job(a, "completed", 1, -1, "2025-03-14 00:00:00.000", id);
	make_job(a, "completed", 3, 50, "2025-03-14 10:00:00.000", id);
	make_job(a, "failed", 5, 30, "2025-03-14 12:00:00.000", id);
	make_job(a, "cancelled", 4, 20, "2025-03-14 13:00:00.000", id);
	make_job(a, "printing", 6, -1, NULL, id);
	make_job(a, "completed", 7, 40, "2025-03-13 23:59:59.999", id);
	make_job(a, "completed", 8, 45, "2025-03-15 00:00:00.000", id);
	make_job(a, "completed", 2, 71, "2025-03-14 23:59:59.999", last);
	run_event(push_event(a, last));
	DAY_IS(a, "2025-03-14", "3|1|6|151|61|0");
	CU_ASSERT_EQUAL(day_rows(a), 1); /* the neighbouring days get rows from their own events */
}

/* Another account's jobs of the same day stay out of this account's row. */
static void test_accounts_apart(void)
{
	const char *a = make_account(), *b = make_account();
	char ja[UUID_LEN + 1], jb[UUID_LEN + 1];
	make_job(a, "completed", 3, 50, "2025-03-14 10:00:00.000", ja);
	make_job(b, "completed", 9, 99, "2025-03-14 11:00:00.000", jb);
	run_event(push_event(a, ja));
	DAY_IS(a, "2025-03-14", "1|0|3|50|50|0");
	CU_ASSERT_EQUAL(day_rows(b), 0);
	run_event(push_event(b, jb));
	DAY_IS(b, "2025-03-14", "1|0|9|99|99|0");
	DAY_IS(a, "2025-03-14", "1|0|3|50|50|0");
}

/* The job was deleted after its event was queued, or has no time_completed: the event is done
 * and writes nothing. */
static void test_nothing_to_count(void)
{
	const char *a = make_account();
	char gone[UUID_LEN + 1], running[UUID_LEN + 1];
	make_job(a, "completed", 3, 50, "2025-03-14 10:00:00.000", gone);
	long long ev = push_event(a, gone);
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_PJOB_DROP, DB_ARGS(DS(gone)), NULL), E_OK);
	run_event(ev);
	make_job(a, "printing", 2, -1, NULL, running);
	run_event(push_event(a, running));
	CU_ASSERT_EQUAL(day_rows(a), 0);
}

/* A payload without a job id cannot succeed: failed attempts, then the dead letters. */
static void test_bad_payload(void)
{
	const char *a = make_account();
	long long id = 0;
	json_t *payload = json_pack("{s:s}", "printer_id", "not a job");
	CU_ASSERT_EQUAL(queue_push(tdb, QUEUE_PRINT_EVENTS, STOCK_JOB_COMPLETED_TYPE, a, payload,
				   NULL, 1, &id),
			E_OK);
	json_decref(payload);
	CU_ASSERT_EQUAL(worker_run_due_from(tdb, "test-worker", PE_QUEUES), 1);
	struct tdb_job j;
	tdb_job(id, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "dead");
	CU_ASSERT(strstr(j.last_error, "no job_id") != NULL);
	CU_ASSERT_EQUAL(day_rows(a), 0);
}

static void pe_teardown(void)
{
	drop_accounts();
}

int suite_print_events_add(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("print events", NULL, NULL, tdb_clean,
							    pe_teardown);
	if (!s)
		return -1;
	if (!CU_add_test(s, "job_completed has a handler", test_handler_row) ||
	    !CU_add_test(s, "job_completed recomputes the day", test_recomputes_the_day) ||
	    !CU_add_test(s, "job_completed redelivered: same figures", test_redelivery_is_idempotent) ||
	    !CU_add_test(s, "job_completed: second job of the day", test_second_job_same_day) ||
	    !CU_add_test(s, "job_completed: day bounds and statuses", test_day_bounds_and_statuses) ||
	    !CU_add_test(s, "job_completed: accounts apart", test_accounts_apart) ||
	    !CU_add_test(s, "job_completed: job gone or not completed", test_nothing_to_count) ||
	    !CU_add_test(s, "job_completed: payload without job_id", test_bad_payload))
		return -1;
	return 0;
}
