/* uploads.c - upload grants, storage quotas and the collection of unused uploads (uploads.h). */
#include "uploads.h"

#include "cfg.h"
#include "log.h"
#include "storage.h"

#include <stdio.h>

#define COLLECT_BATCH 500
#define MIB (1024LL * 1024LL)

/* The row is made on first use and locked at once: an INSERT IGNORE would take a shared lock
 * on an existing row, and two requests upgrading theirs to the FOR UPDATE below deadlock. */
static const struct db_query Q_STORAGE_ROW = {
	"INSERT INTO account_storage (account_id) VALUES (?)"
	" ON DUPLICATE KEY UPDATE account_id = account_id"
};
static const struct db_query Q_STORAGE_LOCK = {
	"SELECT quota_bytes, quota_files FROM account_storage WHERE account_id = ? FOR UPDATE"
};
static const struct db_query Q_STORAGE_PEEK = {
	"SELECT quota_bytes, quota_files FROM account_storage WHERE account_id = ?"
};
/* Bytes and objects: every version, every unclaimed upload, every product image; except_key
 * bound as (key, key). */
static const struct db_query Q_USAGE = {
	"SELECT"
	" (SELECT COALESCE(SUM(file_size_bytes), 0) FROM print_file_versions"
	"   WHERE account_id = ? AND (? IS NULL OR storage_key <> ?))"
	" + (SELECT COALESCE(SUM(size_bytes), 0) FROM file_uploads"
	"   WHERE account_id = ? AND claimed = 0 AND (? IS NULL OR storage_key <> ?))"
	" + (SELECT COALESCE(SUM(size_bytes), 0) FROM product_images WHERE account_id = ?),"
	" (SELECT COUNT(*) FROM print_file_versions"
	"   WHERE account_id = ? AND (? IS NULL OR storage_key <> ?))"
	" + (SELECT COUNT(*) FROM file_uploads"
	"   WHERE account_id = ? AND claimed = 0 AND (? IS NULL OR storage_key <> ?))"
	" + (SELECT COUNT(*) FROM product_images WHERE account_id = ?)"
};
static const struct db_query Q_GRANT = {
	"INSERT INTO file_uploads (storage_key, account_id, expires_at)"
	" VALUES (?, ?, FROM_UNIXTIME(?))"
};
/* Keeps an existing row as it is; locks it either way. */
static const struct db_query Q_UPLOAD_ENSURE = {
	"INSERT INTO file_uploads (storage_key, account_id, expires_at)"
	" VALUES (?, ?, FROM_UNIXTIME(?)) ON DUPLICATE KEY UPDATE storage_key = storage_key"
};
/* A version may reference an object whose row predates the table (or was collected after its
 * claim): claimed either way. */
#define UPLOAD_CLAIMED_SQL                                                                    \
	"SELECT u.claimed OR EXISTS (SELECT 1 FROM print_file_versions v"                     \
	" WHERE v.account_id = ? AND v.storage_key = ?)"                                      \
	" FROM file_uploads u WHERE u.storage_key = ?"
static const struct db_query Q_UPLOAD_LOCK = { UPLOAD_CLAIMED_SQL " FOR UPDATE" };
static const struct db_query Q_UPLOAD_PEEK = { UPLOAD_CLAIMED_SQL };
static const struct db_query Q_KEY_REFERENCED = {
	"SELECT 1 FROM print_file_versions WHERE account_id = ? AND storage_key = ? LIMIT 1"
};
static const struct db_query Q_STORED = {
	"UPDATE file_uploads SET size_bytes = ? WHERE storage_key = ?"
};
static const struct db_query Q_CLAIM = {
	"UPDATE file_uploads SET size_bytes = ?, claimed = 1 WHERE storage_key = ?"
};
static const struct db_query Q_EXPIRED = {
	"SELECT storage_key, account_id FROM file_uploads"
	" WHERE expires_at < NOW(3) - INTERVAL ? SECOND ORDER BY expires_at LIMIT ?"
};
static const struct db_query Q_FORGET = { "DELETE FROM file_uploads WHERE storage_key = ?" };
static const struct db_query Q_SET_QUOTA = {
	"UPDATE account_storage SET"
	" quota_bytes = IF(? = -2, quota_bytes, IF(? = -1, NULL, ?)),"
	" quota_files = IF(? = -2, quota_files, IF(? = -1, NULL, ?)), updated_at = NOW(3)"
	" WHERE account_id = ?"
};

static long long conf_limit(const char *key, long long def, long long unit)
{
	long v = cfg_int(key, (long)def);
	return (v < 0 ? def : (long long)v) * unit;
}

static enum api_err read_quota(struct db *db, const struct db_query *limits, const char *account,
			       const char *except_key, struct quota *q)
{
	struct db_res res;
	enum api_err err = db_exec(db, limits, DB_ARGS(DS(account)), &res);
	if (err)
		return err;
	const char *b = res.nrows ? db_get(&res, 0, 0) : NULL, *f = res.nrows ? db_get(&res, 0, 1) : NULL;
	q->bytes_default = b == NULL;
	q->files_default = f == NULL;
	q->max_bytes = b ? db_get_int(&res, 0, 0, 0)
			 : conf_limit("storage_quota_mb", UPLOADS_QUOTA_MB_DEFAULT, MIB);
	q->max_files = f ? db_get_int(&res, 0, 1, 0)
			 : conf_limit("storage_quota_files", UPLOADS_QUOTA_FILES_DEFAULT, 1);
	db_res_free(&res);
	const char *k = except_key;
	err = db_exec(db, &Q_USAGE,
		      DB_ARGS(DS(account), DS(k), DS(k), DS(account), DS(k), DS(k), DS(account),
			      DS(account), DS(k), DS(k), DS(account), DS(k), DS(k), DS(account)),
		      &res);
	if (err)
		return err;
	q->used_bytes = db_get_int(&res, 0, 0, 0);
	q->used_files = db_get_int(&res, 0, 1, 0);
	db_res_free(&res);
	return E_OK;
}

enum api_err uploads_quota_lock(struct db *db, const char *account, const char *except_key,
				struct quota *q)
{
	enum api_err err = db_exec(db, &Q_STORAGE_ROW, DB_ARGS(DS(account)), NULL);
	return err ? err : read_quota(db, &Q_STORAGE_LOCK, account, except_key, q);
}

enum api_err uploads_quota_peek(struct db *db, const char *account, const char *except_key,
				struct quota *q)
{
	return read_quota(db, &Q_STORAGE_PEEK, account, except_key, q);
}

enum quota_fit uploads_quota_fits(const struct quota *q, long long bytes, long long files)
{
	if (q->max_files > 0 && q->used_files + files > q->max_files)
		return QUOTA_FILES;
	if (q->max_bytes > 0 && q->used_bytes + bytes > q->max_bytes)
		return QUOTA_BYTES;
	return QUOTA_FITS;
}

enum api_err uploads_grant(struct db *db, const char *account, const char *key, int64_t expires)
{
	return db_exec(db, &Q_GRANT, DB_ARGS(DS(key), DS(account), DI(expires)), NULL);
}

static enum api_err claimed_of(struct db *db, const struct db_query *q, const char *account,
			       const char *key, int *claimed)
{
	struct db_res res;
	enum api_err err = db_exec(db, q, DB_ARGS(DS(account), DS(key), DS(key)), &res);
	if (err)
		return err;
	int found = res.nrows > 0;
	*claimed = found && db_get_int(&res, 0, 0, 0) != 0;
	db_res_free(&res);
	if (found)
		return E_OK;
	/* no row (a token from before the table): a version's reference still counts */
	err = db_exec(db, &Q_KEY_REFERENCED, DB_ARGS(DS(account), DS(key)), &res);
	if (err)
		return err;
	*claimed = res.nrows > 0;
	db_res_free(&res);
	return E_OK;
}

enum api_err uploads_lock(struct db *db, const char *account, const char *key, int64_t expires,
			  int *claimed)
{
	enum api_err err = db_exec(db, &Q_UPLOAD_ENSURE, DB_ARGS(DS(key), DS(account), DI(expires)),
				   NULL);
	return err ? err : claimed_of(db, &Q_UPLOAD_LOCK, account, key, claimed);
}

enum api_err uploads_peek(struct db *db, const char *account, const char *key, int *claimed)
{
	return claimed_of(db, &Q_UPLOAD_PEEK, account, key, claimed);
}

enum api_err uploads_stored(struct db *db, const char *key, uint64_t size)
{
	return db_exec(db, &Q_STORED, DB_ARGS(DI(size), DS(key)), NULL);
}

enum api_err uploads_claim(struct db *db, const char *key, uint64_t size)
{
	return db_exec(db, &Q_CLAIM, DB_ARGS(DI(size), DS(key)), NULL);
}

/* One expired upload, in its own transaction under its row lock: a create that claims it
 * either committed before (claimed: only the row goes) or waits and then finds no object. */
static enum api_err collect_one(struct db *db, const char *key, const char *account,
				unsigned long long *objects, unsigned long long *rows)
{
	int claimed = 0, removed = 0;
	struct db_res res;
	enum api_err err = db_begin(db);
	if (!err)
		err = db_exec(db, &Q_UPLOAD_LOCK, DB_ARGS(DS(account), DS(key), DS(key)), &res);
	if (err)
		goto out;
	int found = res.nrows > 0;
	claimed = found && db_get_int(&res, 0, 0, 0) != 0;
	db_res_free(&res);
	if (!found) /* another run took it */
		goto out;
	if (!claimed) {
		enum storage_status st = storage_remove(key);
		if (st == STORAGE_ERROR) {
			err = E_INTERNAL_ERROR;
			goto out;
		}
		storage_prune(key);
		removed = st == STORAGE_OK;
	}
	if ((err = db_exec(db, &Q_FORGET, DB_ARGS(DS(key)), NULL)) != E_OK)
		goto out;
	err = db_commit(db);
	if (!err) {
		*objects += (unsigned long long)removed;
		*rows += 1;
	}
out:
	if (db_in_txn(db))
		db_rollback(db);
	return err;
}

enum api_err uploads_collect(struct db *db, long grace, unsigned long long *objects,
			     unsigned long long *rows)
{
	*objects = *rows = 0;
	for (;;) {
		struct db_res res;
		enum api_err err = db_exec(db, &Q_EXPIRED, DB_ARGS(DI(grace), DI(COLLECT_BATCH)), &res);
		if (err)
			return err;
		unsigned long n = res.nrows, done = 0;
		for (unsigned long i = 0; i < n; i++) {
			err = collect_one(db, db_get(&res, i, 0), db_get(&res, i, 1), objects, rows);
			if (err == E_OK)
				done++;
			else if (err == E_SERVICE_UNAVAILABLE)
				break;
			else
				log_warn("uploads: collecting \"%.80s\" failed (%s); next run retries",
					 db_get(&res, i, 0), err_code(err));
		}
		db_res_free(&res);
		if (err == E_SERVICE_UNAVAILABLE)
			return err;
		if (n < COLLECT_BATCH || done == 0)
			return E_OK;
	}
}

enum api_err uploads_set_quota(struct db *db, const char *account, long long max_bytes,
			       long long max_files)
{
	struct quota q = { 0 };
	enum api_err err = db_begin(db);
	if (!err)
		err = uploads_quota_lock(db, account, NULL, &q);
	if (!err)
		err = db_exec(db, &Q_SET_QUOTA,
			      DB_ARGS(DI(max_bytes), DI(max_bytes), DI(max_bytes), DI(max_files),
				      DI(max_files), DI(max_files), DS(account)), NULL);
	if (!err)
		err = db_commit(db);
	if (db_in_txn(db))
		db_rollback(db);
	return err;
}
