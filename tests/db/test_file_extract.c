/* test_file_extract.c - the FILE_PROCESSING/file.extract job (workers/file_processing.c) against
 * MariaDB and the configured file store (conf file_store), run through the worker's claim-and-run
 * step (worker_run_one / worker_run_due_from) with rows prepared in the database:
 *
 *   - a file the parser refuses: the job is done after its one attempt (not retried, never
 *     dead-lettered, no second job), the file is recorded `failed` with the parser's reason in
 *     metadata_error, and still gets its checksum and size (file and version rows);
 *   - a promotion while the job runs: the test holds the file row's lock (as the promotion's
 *     transaction does) until the job waits on it at its commit, repoints the file to version 2
 *     and queues the promotion's own job, then lets the job go on. The job's result for the old
 *     object is dropped (the file keeps the promotion's values), the job queues itself again, and
 *     once the jobs ran the file describes version 2.
 *
 * The stack's apf-worker may take any of these jobs (it claims every due FILE_PROCESSING row):
 * the tests wait until no job of their file is running or due, and assert outcomes that do not
 * depend on which worker ran it. Every test makes its own account (dropped with its rows) and
 * removes the objects it stored. */
#include "tdb.h"

#include "queue.h"
#include "storage.h"
#include "util.h"
#include "worker.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const FP_QUEUES[] = { QUEUE_FILE_PROCESSING, NULL };

static const struct db_query Q_T_FP_ACCOUNT = {
	"INSERT INTO accounts (id, name) VALUES (?, 'test-db file.extract')"
};
static const struct db_query Q_T_FP_ACCOUNT_DROP = { "DELETE FROM accounts WHERE id = ?" };
static const struct db_query Q_T_FP_FILE = {
	"INSERT INTO print_files (id, account_id, name, file_format, storage_key, file_size_bytes,"
	" metadata_status) VALUES (?, ?, ?, 'gcode', ?, ?, 'pending')"
};
static const struct db_query Q_T_FP_VERSION = {
	"INSERT INTO print_file_versions (id, account_id, print_file_id, version_number,"
	" storage_key, file_size_bytes, is_current_version) VALUES (?, ?, ?, ?, ?, ?, ?)"
};
/* "status|sha256|size|extracted" of a file ("-" for NULL). */
static const struct db_query Q_T_FP_STATE = {
	"SELECT CONCAT_WS('|', metadata_status, IFNULL(sha256, '-'), IFNULL(file_size_bytes, '-'),"
	" metadata_extracted_at IS NOT NULL), IFNULL(metadata_error, '') FROM print_files"
	" WHERE id = ?"
};
static const struct db_query Q_T_FP_VERSION_SHA = {
	"SELECT IFNULL(sha256, '-') FROM print_file_versions WHERE print_file_id = ?"
	" AND version_number = ?"
};
/* The file's jobs: how many, how many still running or due (a job backing off is neither). */
static const struct db_query Q_T_FP_JOBS = {
	"SELECT COUNT(*), IFNULL(SUM(state = 'running' OR (state = 'ready' AND run_at <= NOW(3))), 0)"
	" FROM queue_jobs WHERE queue = 'FILE_PROCESSING' AND type = 'file.extract'"
	" AND JSON_VALUE(payload, '$.file_id') = ?"
};
/* The promotion's transaction, as fcgi/file_versions.c runs it: the file row locked first ... */
static const struct db_query Q_T_FP_LOCK = {
	"SELECT storage_key FROM print_files WHERE account_id = ? AND id = ? FOR UPDATE"
};
/* ... a job's commit of its result waiting on that lock (own user's sessions only) ... */
static const struct db_query Q_T_FP_WAITING = {
	"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"
	" AND INFO LIKE 'UPDATE print_files %'"
};
/* ... the version flags and the file repointed (the synchronous extraction's values reset the
 * background ones: sha256 NULL, status pending). */
static const struct db_query Q_T_FP_UNSET_CURRENT = {
	"UPDATE print_file_versions SET is_current_version = 0 WHERE print_file_id = ?"
};
static const struct db_query Q_T_FP_SET_CURRENT = {
	"UPDATE print_file_versions SET is_current_version = 1 WHERE print_file_id = ?"
	" AND version_number = ?"
};
static const struct db_query Q_T_FP_REPOINT = {
	"UPDATE print_files SET storage_key = ?, file_size_bytes = ?, sha256 = NULL,"
	" metadata_status = 'pending', metadata_error = NULL, metadata_extracted_at = NULL,"
	" updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};

static char account[UUID_LEN + 1];
static char keys[2][STORAGE_KEY_MAX + 1];

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

static void fp_setup(void)
{
	tdb_clean();
	keys[0][0] = keys[1][0] = '\0';
	CU_ASSERT_FATAL(util_uuid(account) == 0);
	CU_ASSERT_FATAL(db_exec(tdb, &Q_T_FP_ACCOUNT, DB_ARGS(DS(account)), NULL) == E_OK);
}

static void fp_teardown(void)
{
	for (int i = 0; i < 2; i++)
		if (keys[i][0])
			storage_remove(keys[i]);
	db_exec(tdb, &Q_T_FP_ACCOUNT_DROP, DB_ARGS(DS(account)), NULL);
}

/* Stores text as version `number` of file id (name) and inserts the version row; the object's
 * sha256 into sha. */
static void put_version(const char *id, const char *name, int number, int current,
			const char *text, char sha[SHA256_HEX_LEN + 1])
{
	char vid[UUID_LEN + 1], vname[64];
	char *key = keys[number - 1];
	snprintf(vname, sizeof vname, "v%d-%s", number, name);
	CU_ASSERT_FATAL(util_uuid(vid) == 0);
	CU_ASSERT_FATAL(storage_file_key(account, id, vname, key, STORAGE_KEY_MAX + 1) == 0);
	CU_ASSERT_FATAL(storage_put(key, text, strlen(text)) == STORAGE_OK);
	util_sha256_hex(text, strlen(text), sha);
	CU_ASSERT_FATAL(db_exec(tdb, &Q_T_FP_VERSION,
				DB_ARGS(DS(vid), DS(account), DS(id), DI(number), DS(key),
					DI((long long)strlen(text)), DI(current)),
				NULL) == E_OK);
}

/* A file whose current object (version 1) is text; its sha256 into sha. */
static void make_file(const char *name, const char *text, char id[UUID_LEN + 1],
		      char sha[SHA256_HEX_LEN + 1])
{
	CU_ASSERT_FATAL(util_uuid(id) == 0);
	char key[STORAGE_KEY_MAX + 1], vname[64];
	snprintf(vname, sizeof vname, "v1-%s", name);
	CU_ASSERT_FATAL(storage_file_key(account, id, vname, key, sizeof key) == 0);
	CU_ASSERT_FATAL(db_exec(tdb, &Q_T_FP_FILE,
				DB_ARGS(DS(id), DS(account), DS(name), DS(key),
					DI((long long)strlen(text))),
				NULL) == E_OK);
	put_version(id, name, 1, 1, text, sha);
}

/* Queues file.extract of id as the API does (3 attempts); the job's id. */
static long long push_extract(struct db *db, const char *id)
{
	long long jid = 0;
	json_t *payload = json_pack("{s:s}", "file_id", id);
	CU_ASSERT_EQUAL(queue_push(db, QUEUE_FILE_PROCESSING, "file.extract", account, payload,
				   NULL, 3, &jid),
			E_OK);
	json_decref(payload);
	CU_ASSERT(jid > 0);
	return jid;
}

/* Number of file id's jobs; *busy: how many are running or due. */
static long long file_jobs(const char *id, long long *busy)
{
	struct db_res res;
	long long n = -1;
	*busy = -1;
	enum api_err err = db_exec(tdb, &Q_T_FP_JOBS, DB_ARGS(DS(id)), &res);
	CU_ASSERT_EQUAL(err, E_OK);
	if (!err && res.nrows == 1) {
		n = db_get_int(&res, 0, 0, -1);
		*busy = db_get_int(&res, 0, 1, -1);
	}
	db_res_free(&res);
	return n;
}

/* Runs the due FILE_PROCESSING jobs until none of file id's is running or due (the stack's
 * worker may hold one); a failure after 20 s. */
static void settle(const char *id)
{
	long long busy = -1;
	for (int i = 0; i < 400; i++) {
		worker_run_due_from(tdb, "test-db-extract", FP_QUEUES);
		file_jobs(id, &busy);
		if (busy == 0)
			return;
		sleep_ms(50);
	}
	CU_FAIL("file.extract jobs still running or due after 20 s");
}

/* "status|sha256|size|extracted" of file id, and its metadata_error. */
static void file_state(const char *id, char *out, size_t size, char *error, size_t errsz)
{
	struct db_res res;
	out[0] = error[0] = '\0';
	enum api_err err = db_exec(tdb, &Q_T_FP_STATE, DB_ARGS(DS(id)), &res);
	CU_ASSERT_EQUAL(err, E_OK);
	CU_ASSERT_EQUAL(err ? 0 : res.nrows, 1);
	if (!err && res.nrows == 1) {
		snprintf(out, size, "%s", db_get(&res, 0, 0));
		snprintf(error, errsz, "%s", db_get(&res, 0, 1));
	}
	db_res_free(&res);
}

static void version_sha(const char *id, int number, char out[SHA256_HEX_LEN + 2])
{
	struct db_res res;
	out[0] = '\0';
	enum api_err err = db_exec(tdb, &Q_T_FP_VERSION_SHA, DB_ARGS(DS(id), DI(number)), &res);
	CU_ASSERT_EQUAL(err, E_OK);
	CU_ASSERT_EQUAL(err ? 0 : res.nrows, 1);
	if (!err && res.nrows == 1)
		snprintf(out, SHA256_HEX_LEN + 2, "%s", db_get(&res, 0, 0));
	db_res_free(&res);
}

/* ------------------------------------------------------------------------------- tests */

/* The parser refuses the file (G-code that is prose): one attempt, done, recorded `failed`. */
static void test_refusal_not_retried(void)
{
	static const char PROSE[] = "hello world\nthis is prose\n";
	char id[UUID_LEN + 1], sha[SHA256_HEX_LEN + 1], state[256], want[256], error[600];
	char vsha[SHA256_HEX_LEN + 2];
	make_file("prose.gcode", PROSE, id, sha);
	long long jid = push_extract(tdb, id);
	settle(id);

	struct tdb_job j;
	tdb_job(jid, &j);
	CU_ASSERT_EQUAL(j.found, 1);
	CU_ASSERT_STRING_EQUAL(j.state, "done"); /* not backing off for a retry, not dead */
	CU_ASSERT_EQUAL(j.attempts, 1);
	CU_ASSERT(j.finished);
	CU_ASSERT_STRING_EQUAL(j.last_error, "");
	long long busy = -1;
	CU_ASSERT_EQUAL(file_jobs(id, &busy), 1); /* nothing queued again */
	CU_ASSERT_EQUAL(busy, 0);

	file_state(id, state, sizeof state, error, sizeof error);
	snprintf(want, sizeof want, "failed|%s|%zu|1", sha, strlen(PROSE));
	CU_ASSERT_STRING_EQUAL(state, want);
	if (strcmp(state, want) != 0)
		fprintf(stderr, "\n  file state %s, want %s\n", state, want);
	CU_ASSERT(error[0] != '\0'); /* the parser's reason */
	version_sha(id, 1, vsha);
	CU_ASSERT_STRING_EQUAL(vsha, sha);

	/* a later run finds nothing to do */
	CU_ASSERT_EQUAL(worker_run_due_from(tdb, "test-db-extract", FP_QUEUES), 0);
	tdb_job(jid, &j);
	CU_ASSERT_EQUAL(j.attempts, 1);
}

/* One claim-and-run on a connection of its own (the job blocks on the test's row lock). */
struct runner {
	pthread_t th;
	int ran;
	enum api_err err;
};

static void *run_one(void *arg)
{
	struct runner *r = arg;
	struct db *db = db_open();
	r->err = db ? worker_run_one(db, "test-db-extract", FP_QUEUES, &r->ran) : E_INTERNAL_ERROR;
	db_close(db);
	return NULL;
}

/* Sessions of the tests' user whose UPDATE of print_files is under way (waiting on a lock). */
static long long updates_waiting(struct db *db)
{
	struct db_res res;
	long long n = -1;
	enum api_err err = db_exec(db, &Q_T_FP_WAITING, NULL, 0, &res);
	CU_ASSERT_EQUAL(err, E_OK);
	if (!err)
		n = db_get_int(&res, 0, 0, -1);
	db_res_free(&res);
	return n;
}

/* Version 2 is promoted while the job extracts version 1. */
static void test_promotion_drops_result(void)
{
	static const char A[] = "G28\nG1 X10\n";
	static const char B[] = "G28\nG1 X20 Y20\nG1 X30 Y30\nG1 X40 Y40\n";
	char id[UUID_LEN + 1], sha_a[SHA256_HEX_LEN + 1], sha_b[SHA256_HEX_LEN + 1];
	char state[256], want[256], error[600], vsha[SHA256_HEX_LEN + 2];
	make_file("part.gcode", A, id, sha_a);
	put_version(id, "part.gcode", 2, 0, B, sha_b);
	long long jid = push_extract(tdb, id);

	/* the promotion's transaction takes the file row first */
	struct db *promo = db_open();
	CU_ASSERT_FATAL(promo != NULL);
	struct db_res res;
	CU_ASSERT_FATAL(db_begin(promo) == E_OK);
	CU_ASSERT_FATAL(db_exec(promo, &Q_T_FP_LOCK, DB_ARGS(DS(account), DS(id)), &res) == E_OK);
	db_res_free(&res);

	struct runner run = { .err = E_OK };
	int started = pthread_create(&run.th, NULL, run_one, &run) == 0;
	CU_ASSERT(started);
	/* the job (ours, or the stack worker's) parsed version 1 and waits to record its result */
	long long waiting = 0;
	for (int i = 0; i < 400 && waiting < 1; i++) {
		waiting = updates_waiting(promo);
		if (waiting < 1)
			sleep_ms(25);
	}
	CU_ASSERT_EQUAL(waiting, 1);
	struct tdb_job j;
	tdb_job(jid, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "running");

	/* promotion: version 2 current, the file repointed, its own job queued; commit */
	CU_ASSERT_EQUAL(db_exec(promo, &Q_T_FP_UNSET_CURRENT, DB_ARGS(DS(id)), NULL), E_OK);
	CU_ASSERT_EQUAL(db_exec(promo, &Q_T_FP_SET_CURRENT, DB_ARGS(DS(id), DI(2)), NULL), E_OK);
	CU_ASSERT_EQUAL(db_exec(promo, &Q_T_FP_REPOINT,
				DB_ARGS(DS(keys[1]), DI((long long)strlen(B)), DS(account), DS(id)),
				NULL),
			E_OK);
	long long promo_jid = push_extract(promo, id);
	CU_ASSERT_EQUAL(db_commit(promo), E_OK);
	db_close(promo);
	if (started)
		pthread_join(run.th, NULL);
	CU_ASSERT_EQUAL(run.err, E_OK);

	/* the first job ends (whichever worker ran it) without writing its stale result */
	for (int i = 0; i < 400; i++) {
		tdb_job(jid, &j);
		if (j.finished)
			break;
		sleep_ms(25);
	}
	CU_ASSERT_STRING_EQUAL(j.state, "done");
	CU_ASSERT_EQUAL(j.attempts, 1);
	file_state(id, state, sizeof state, error, sizeof error);
	snprintf(want, sizeof want, "pending|-|%zu|0", strlen(B)); /* the promotion's values */
	char done_b[256];
	snprintf(done_b, sizeof done_b, "done|%s|%zu|1", sha_b, strlen(B)); /* a later job ran */
	CU_ASSERT(strcmp(state, want) == 0 || strcmp(state, done_b) == 0);
	CU_ASSERT(strstr(state, sha_a) == NULL);
	if (strcmp(state, want) != 0 && strcmp(state, done_b) != 0)
		fprintf(stderr, "\n  file state right after the first job: %s, want %s (or %s)\n",
			state, want, done_b);
	/* the job queued itself again (its thumbnails may be the old version's), beside the
	 * promotion's job */
	long long busy = -1;
	CU_ASSERT_EQUAL(file_jobs(id, &busy), 3);
	CU_ASSERT(promo_jid != jid);

	/* once the jobs ran, the file describes version 2; each version has its own checksum */
	settle(id);
	file_state(id, state, sizeof state, error, sizeof error);
	CU_ASSERT_STRING_EQUAL(state, done_b);
	CU_ASSERT_STRING_EQUAL(error, "");
	version_sha(id, 1, vsha);
	CU_ASSERT_STRING_EQUAL(vsha, sha_a);
	version_sha(id, 2, vsha);
	CU_ASSERT_STRING_EQUAL(vsha, sha_b);
	tdb_job(promo_jid, &j);
	CU_ASSERT_STRING_EQUAL(j.state, "done");
}

int suite_file_extract_add(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("file.extract", NULL, NULL, fp_setup,
							    fp_teardown);
	if (!s)
		return -1;
	if (!CU_add_test(s, "parser refusal: failed, not retried", test_refusal_not_retried) ||
	    !CU_add_test(s, "promotion while running: result dropped, queued again",
			 test_promotion_drops_result))
		return -1;
	return 0;
}
