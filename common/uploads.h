/* uploads.h - the rows behind the file store's uploads: upload grants (file_uploads), the
 * account's storage quotas and lock (account_storage), and the collection of uploads that never
 * became a file. Shared by the API (fcgi/file_uploads.c, fcgi/file_objects.c), the worker's housekeeping and apf-admin.
 *
 * An upload's life: POST /files/upload-url grants it (a file_uploads row, counted against the
 * quota); PUT /files/upload/{token} stores bytes under its key (size_bytes), as often as the
 * token allows, until POST /files or POST /files/{id}/versions claims it: from that commit on
 * the object is immutable and the PUT is refused. Uploads still unclaimed an hour (the grace)
 * after their token expired are deleted by housekeeping.purge.
 *
 * Concurrency: every change of an account's stored bytes or objects runs in one transaction
 * that first locks the account's storage row (uploads_quota_lock), then the upload's row
 * (uploads_lock); housekeeping locks the upload's row only. The PUT publishes its bytes and a
 * create checks the bytes it parsed while holding the upload's row, so a replay and a create of
 * the same key never cross, on any number of hosts sharing the database and the store. */
#ifndef APF_UPLOADS_H
#define APF_UPLOADS_H

#include "db.h"

#include <stdint.h>

#define UPLOADS_GRACE_SECONDS 3600      /* after a token's expiry, before its upload is collected */
#define UPLOADS_QUOTA_MB_DEFAULT 10240  /* conf storage_quota_mb (0 = no limit) */
#define UPLOADS_QUOTA_FILES_DEFAULT 10000 /* conf storage_quota_files (0 = no limit) */

/* An account's limits and what it stores. Objects are the versions of its files (every file has
 * at least one), its unclaimed uploads (granted upload URLs, stored or not) and its product
 * images; bytes are their sizes. Thumbnails are derived data and not counted. */
struct quota {
	long long max_bytes, max_files;   /* 0 = no limit */
	int bytes_default, files_default; /* 1 when the limit is the configured default */
	long long used_bytes, used_files; /* without the key being changed (see quota_lock) */
};

enum quota_fit { QUOTA_FITS = 0, QUOTA_BYTES, QUOTA_FILES };

/* Inside the caller's transaction: locks the account's storage row (creating it on first use),
 * then reads its limits and usage, not counting except_key (the upload being replaced or made a
 * file; NULL counts everything). */
enum api_err uploads_quota_lock(struct db *db, const char *account, const char *except_key,
				struct quota *q);
/* The same without a transaction or lock: for refusing early, before a body is read. */
enum api_err uploads_quota_peek(struct db *db, const char *account, const char *except_key,
				struct quota *q);
/* Whether bytes more bytes and files more objects fit q's limits. */
enum quota_fit uploads_quota_fits(const struct quota *q, long long bytes, long long files);

/* Records the grant of key (the account's upload URL, its token expiring at expires, epoch s). */
enum api_err uploads_grant(struct db *db, const char *account, const char *key, int64_t expires);
/* Inside the caller's transaction, after uploads_quota_lock: locks key's row (made for a token
 * granted before the table existed, expiring at expires) and sets *claimed when a file or a
 * version references the object. */
enum api_err uploads_lock(struct db *db, const char *account, const char *key, int64_t expires,
			  int *claimed);
/* *claimed without a lock (the early refusal). */
enum api_err uploads_peek(struct db *db, const char *account, const char *key, int *claimed);
/* Under uploads_lock: the PUT stored size bytes / a create claimed the object (size bytes). */
enum api_err uploads_stored(struct db *db, const char *key, uint64_t size);
enum api_err uploads_claim(struct db *db, const char *key, uint64_t size);

/* Housekeeping: for every upload whose token expired more than grace seconds ago, deletes its
 * object unless it was claimed, and forgets the row. Counts objects deleted and rows forgotten. */
enum api_err uploads_collect(struct db *db, long grace, unsigned long long *objects,
			     unsigned long long *rows);

/* apf-admin: sets the account's limits (bytes, files; 0 = no limit, UPLOADS_QUOTA_DEFAULT = back
 * to the configured default, UPLOADS_QUOTA_KEEP = unchanged) under the account's storage lock. */
#define UPLOADS_QUOTA_DEFAULT (-1LL)
#define UPLOADS_QUOTA_KEEP (-2LL)
enum api_err uploads_set_quota(struct db *db, const char *account, long long max_bytes,
			       long long max_files);

#endif
