/* test_storage.c - the file store's housekeeping and the database users, against MariaDB:
 *   - housekeeping.purge (run in-process through worker_run_due_from) deletes the objects of
 *     uploads that never became a file or version once their token has expired, and forgets the
 *     upload rows; objects that a version references, and uploads still in their hour, stay;
 *   - the runtime database user of $APF_CONF (the one every test and service connects as) may
 *     change rows but not the schema: CREATE TABLE / DROP TABLE / ALTER TABLE are refused. */
#include "tdb.h"

#include "cfg.h"
#include "queue.h"
#include "storage.h"
#include "util.h"
#include "worker.h"

#include <mysqld_error.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const HK_QUEUES[] = { QUEUE_HOUSEKEEPING, NULL };

static const struct db_query Q_T_ACCOUNT = {
	"INSERT INTO accounts (id, name) VALUES (?, 'test-db storage')"
};
static const struct db_query Q_T_ACCOUNT_DROP = { "DELETE FROM accounts WHERE id = ?" };
/* An upload URL granted to the account, its token expiring `seconds` from now (< 0: past). */
static const struct db_query Q_T_GRANT = {
	"INSERT INTO file_uploads (storage_key, account_id, expires_at, size_bytes)"
	" VALUES (?, ?, NOW(3) + INTERVAL ? SECOND, ?)"
};
static const struct db_query Q_T_CLAIM = {
	"UPDATE file_uploads SET claimed = 1 WHERE storage_key = ?"
};
static const struct db_query Q_T_FILE = {
	"INSERT INTO print_files (id, account_id, name, storage_key, file_size_bytes)"
	" VALUES (?, ?, ?, ?, ?)"
};
static const struct db_query Q_T_VERSION = {
	"INSERT INTO print_file_versions (id, account_id, print_file_id, version_number,"
	" storage_key, file_size_bytes, is_current_version) VALUES (?, ?, ?, 1, ?, ?, 1)"
};
static const struct db_query Q_T_UPLOAD_ROWS = {
	"SELECT COUNT(*) FROM file_uploads WHERE storage_key = ?"
};

static char account[UUID_LEN + 1];

/* Every test: a fresh account (its rows go with it afterwards). */
static void setup(void)
{
	tdb_clean();
	CU_ASSERT(util_uuid(account) == 0);
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_ACCOUNT, DB_ARGS(DS(account)), NULL), E_OK);
}

static void teardown(void)
{
	db_exec(tdb, &Q_T_ACCOUNT_DROP, DB_ARGS(DS(account)), NULL);
}

/* A granted upload of name, stored in the file store when body is non-NULL. */
static void upload(const char *name, int expires_in, const char *body, char key[256],
		   char file_id[UUID_LEN + 1])
{
	CU_ASSERT_FATAL(util_uuid(file_id) == 0);
	CU_ASSERT_FATAL(storage_file_key(account, file_id, name, key, 256) == 0);
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_GRANT,
				DB_ARGS(DS(key), DS(account), DI(expires_in),
					body ? DI(strlen(body)) : DNULL), NULL), E_OK);
	if (body)
		CU_ASSERT_EQUAL(storage_put(key, body, strlen(body)), STORAGE_OK);
}

static long long upload_rows(const char *key)
{
	struct db_res res;
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_UPLOAD_ROWS, DB_ARGS(DS(key)), &res), E_OK);
	long long n = db_get_int(&res, 0, 0, -1);
	db_res_free(&res);
	return n;
}

/* 1 when the directory of the object key exists. */
static int dir_of_key(const char *key)
{
	char path[1024];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", cfg_str("file_store", ""), key);
	*strrchr(path, '/') = '\0';
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_collect_expired_uploads(void)
{
	char stale[256], stale_id[UUID_LEN + 1], used[256], used_id[UUID_LEN + 1];
	char fresh[256], fresh_id[UUID_LEN + 1], empty[256], empty_id[UUID_LEN + 1];
	/* expired two hours ago, never made a file: collected */
	upload("stale.gcode", -7200, "G28\nG1 X1\n", stale, stale_id);
	/* expired too, but a file's version: its object stays */
	upload("used.gcode", -7200, "G28\nG1 X2\n", used, used_id);
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_FILE, DB_ARGS(DS(used_id), DS(account), DS("used.gcode"),
							DS(used), DI(10)), NULL), E_OK);
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_VERSION, DB_ARGS(DS(used_id), DS(account), DS(used_id),
							   DS(used), DI(10)), NULL), E_OK);
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_CLAIM, DB_ARGS(DS(used)), NULL), E_OK);
	/* still in its hour: stays */
	upload("fresh.gcode", 1800, "G28\nG1 X3\n", fresh, fresh_id);
	/* expired, nothing was ever uploaded: only the row goes */
	upload("empty.gcode", -7200, NULL, empty, empty_id);

	tdb_push(QUEUE_HOUSEKEEPING, "housekeeping.purge", NULL, 1);
	CU_ASSERT_EQUAL(worker_run_due_from(tdb, "test-worker", HK_QUEUES), 1);

	CU_ASSERT_EQUAL(storage_stat(stale, NULL), STORAGE_MISSING);
	CU_ASSERT_FALSE(dir_of_key(stale)); /* its {file_id} folder went with it */
	CU_ASSERT_EQUAL(upload_rows(stale), 0);
	CU_ASSERT_EQUAL(storage_stat(used, NULL), STORAGE_OK);
	CU_ASSERT_EQUAL(upload_rows(used), 0);
	CU_ASSERT_EQUAL(storage_stat(fresh, NULL), STORAGE_OK);
	CU_ASSERT_EQUAL(upload_rows(fresh), 1);
	CU_ASSERT_EQUAL(upload_rows(empty), 0);

	/* a second run finds nothing more to do */
	tdb_push(QUEUE_HOUSEKEEPING, "housekeeping.purge", NULL, 1);
	CU_ASSERT_EQUAL(worker_run_due_from(tdb, "test-worker", HK_QUEUES), 1);
	CU_ASSERT_EQUAL(storage_stat(used, NULL), STORAGE_OK);
	CU_ASSERT_EQUAL(storage_stat(fresh, NULL), STORAGE_OK);
	storage_remove(used);
	storage_remove(fresh);
}

/* Runs one DDL statement as the runtime user: it must be refused for lack of privilege. When
 * it went through after all, undo runs (so a failing run leaves the schema as it was). */
static void refused(const char *sql, const char *undo)
{
	enum api_err e = db_exec_text(tdb, sql);
	CU_ASSERT_NOT_EQUAL(e, E_OK);
	CU_ASSERT_EQUAL(db_errno(tdb), ER_TABLEACCESS_DENIED_ERROR);
	if (e != E_OK && db_errno(tdb) != ER_TABLEACCESS_DENIED_ERROR)
		fprintf(stderr, "\n%s: error %u, not a privilege refusal\n", sql, db_errno(tdb));
	if (e == E_OK && undo)
		db_exec_text(tdb, undo);
}

static void test_runtime_user_cannot_change_schema(void)
{
	refused("CREATE TABLE grant_probe (x INT)", NULL);
	/* dropping the probe (where the create went through) must be refused as well */
	refused("DROP TABLE IF EXISTS grant_probe", NULL);
	refused("ALTER TABLE rate_windows ADD COLUMN grant_probe INT",
		"ALTER TABLE rate_windows DROP COLUMN grant_probe");
	/* rows: yes */
	CU_ASSERT_EQUAL(db_exec_text(tdb, "INSERT INTO rate_windows (key_id, window_start, hits)"
				     " VALUES ('test-grants', 0, 1)"), E_OK);
	CU_ASSERT_EQUAL(db_exec_text(tdb, "UPDATE rate_windows SET hits = 2"
				     " WHERE key_id = 'test-grants'"), E_OK);
	CU_ASSERT_EQUAL(db_exec_text(tdb, "DELETE FROM rate_windows WHERE key_id = 'test-grants'"),
			E_OK);
}

int suite_storage_add(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("storage", NULL, NULL, setup, teardown);
	if (!s || !CU_add_test(s, "collect expired uploads", test_collect_expired_uploads) ||
	    !CU_add_test(s, "runtime user cannot change the schema",
			 test_runtime_user_cannot_change_schema))
		return -1;
	return 0;
}
