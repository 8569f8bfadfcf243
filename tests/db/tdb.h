/* tdb.h - shared fixtures of the database tests (tests/db): the test connection, row readers
 * and the suites' registration functions. The database must be a throwaway one built from sql/:
 * every test starts by emptying queue_jobs (the claim query takes any queue, so a foreign row
 * would be claimed by the tests). */
#ifndef APF_TDB_H
#define APF_TDB_H

#include "db.h"

#include <CUnit/CUnit.h>

/* The main test connection, open for the whole run (main.c). */
extern struct db *tdb;

/* Empties queue_jobs and the tests' rate_windows rows; the per-test setup of every suite. */
void tdb_clean(void);

/* One queue_jobs row as the tests see it. */
struct tdb_job {
	int found;
	char state[16];
	unsigned attempts, max_attempts;
	long long run_at_ms;      /* run_at - NOW(3), milliseconds */
	long long lease_ms;       /* lease_until - NOW(3), milliseconds; TDB_NULL when NULL */
	char locked_by[65];       /* "" when NULL */
	char last_error[1001];    /* "" when NULL */
	int finished;             /* finished_at IS NOT NULL */
};
#define TDB_NULL (-999999999LL)

/* Reads row id into *out (out->found 0 when there is none). */
void tdb_job(long long id, struct tdb_job *out);
/* Number of queue_jobs rows in queue q. */
long long tdb_count_queue(const char *q);
/* Makes row id due now (skips its backoff). */
void tdb_make_due(long long id);
/* Pushes an empty-payload job; returns its id (0 on failure, which fails the test). */
long long tdb_push(const char *queue, const char *type, const char *dedup_key,
		   unsigned max_attempts);

int suite_queue_add(void);
int suite_worker_add(void);
int suite_print_events_add(void);
int suite_daemon_add(void);
int suite_file_extract_add(void);
int suite_storage_add(void);
int suite_resource_add(void);
int suite_dbhosts_add(void);

#endif
