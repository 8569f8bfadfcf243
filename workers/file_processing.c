/* file_processing.c - jobs of queue FILE_PROCESSING.
 *
 *   file.extract  {file_id}: the full extraction of the file's current object, queued by the API
 *                 after it created the file, added a current version or promoted one (the API
 *                 already wrote the metadata and the plate-1 thumbnail synchronously). Computes
 *                 the object's SHA-256 and size, stores every plate's thumbnail
 *                 ({account}/thumbnails/{file_id}/plate_{n}.png, plus the file's own), removes
 *                 plate thumbnails a previous version left, and sets metadata_status: done,
 *                 unsupported (stl/obj/amf carry no metadata) or failed (metadata_error says
 *                 why; not retried, the bytes will not change). When the file was repointed
 *                 while the job ran (a promotion), its thumbnails may be stale: the job queues
 *                 itself again, so the last thumbnail writes are always the current version's.
 *                 Idempotent: a re-delivery redoes the same writes. */
#include "worker.h"

#include "log.h"
#include "meta.h"
#include "queue.h"
#include "storage.h"
#include "util.h"
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct db_query Q_FP_FILE = {
	"SELECT storage_key FROM print_files WHERE account_id = ? AND id = ?"
};
/* Only while the object is still current: a promotion in between queued its own job. Forced
 * indexes: see Q_FILE_REPOINT in fcgi/file_versions.c (no range lock over the account's rows). */
static const struct db_query Q_FP_FILE_DONE = {
	"UPDATE print_files FORCE INDEX (PRIMARY) SET sha256 = ?, file_size_bytes = ?, metadata_status = ?,"
	" metadata_error = ?, metadata_extracted_at = NOW(3), updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ? AND storage_key = ?"
};
static const struct db_query Q_FP_VERSION_DONE = {
	"UPDATE print_file_versions FORCE INDEX (uq_print_file_versions_number)"
	" SET sha256 = ?, file_size_bytes = ?"
	" WHERE account_id = ? AND print_file_id = ? AND storage_key = ?"
};

/* Stores every thumbnail of the parse and drops the ones it did not write (a previous
 * version's; plate 0 = the file's own). */
static enum api_err store_thumbs(struct job_ctx *ctx, const char *account, const char *file_id,
				 const struct meta_thumbs *t)
{
	char key[STORAGE_KEY_MAX + 1];
	unsigned char written[META_MAX_PLATES + 1] = { 0 };
	for (size_t i = 0; i < t->count; i++) {
		const struct meta_thumb *th = &t->items[i];
		if (i == 0 && (storage_thumb_key(account, file_id, 0, key, sizeof key) < 0 ||
			       storage_put(key, th->data, th->len) != STORAGE_OK))
			return job_fail(ctx, E_INTERNAL_ERROR, "storing the thumbnail of %s failed",
					file_id);
		if (th->plate < 1 || th->plate > META_MAX_PLATES || written[th->plate])
			continue;
		if (storage_thumb_key(account, file_id, th->plate, key, sizeof key) < 0 ||
		    storage_put(key, th->data, th->len) != STORAGE_OK)
			return job_fail(ctx, E_INTERNAL_ERROR, "storing plate %d's thumbnail of %s"
					" failed", th->plate, file_id);
		written[th->plate] = 1;
	}
	for (int p = t->count ? 1 : 0; p <= META_MAX_PLATES; p++)
		if (!written[p] && storage_thumb_key(account, file_id, p, key, sizeof key) == 0)
			storage_remove(key);
	return E_OK;
}

/* The file was repointed while this job ran (a promotion) when its key is no longer key: its
 * thumbnails may now be this job's stale ones, so queue the job again to run after them. */
static enum api_err requeue_if_moved(struct job_ctx *ctx, const char *account,
				     const char *file_id, const char *key)
{
	struct db_res res;
	enum api_err rc = db_exec(ctx->db, &Q_FP_FILE, DB_ARGS(DS(account), DS(file_id)), &res);
	if (rc)
		return job_fail(ctx, rc, "reloading file %s failed: %s", file_id, err_code(rc));
	int moved = res.nrows > 0 && db_get(&res, 0, 0) && strcmp(db_get(&res, 0, 0), key) != 0;
	db_res_free(&res);
	if (!moved)
		return E_OK;
	rc = queue_push(ctx->db, QUEUE_FILE_PROCESSING, ctx->item->type, account, ctx->item->payload,
			NULL, ctx->item->max_attempts, NULL);
	if (rc)
		return job_fail(ctx, rc, "re-queueing file %s failed: %s", file_id, err_code(rc));
	queue_wake();
	log_info("file.extract: file %s was repointed meanwhile; queued again", file_id);
	return E_OK;
}

/* The parse's result and its file.processed event, in one transaction (docs/webhooks.md). */
struct fp_result {
	const char *account, *file_id, *key, *sha;
	unsigned long long size;
	const char *status, *error;
	int moved; /* the file no longer points at key: no result, no event (queued again) */
};

static enum api_err fp_record(struct db *db, void *arg)
{
	struct fp_result *p = arg;
	enum api_err rc = db_exec(db, &Q_FP_FILE_DONE,
				  DB_ARGS(DS(p->sha), DI(p->size), DS(p->status), DS(p->error),
					  DS(p->account), DS(p->file_id), DS(p->key)), NULL);
	if (rc)
		return rc;
	p->moved = db_affected(db) == 0;
	rc = db_exec(db, &Q_FP_VERSION_DONE, DB_ARGS(DS(p->sha), DI(p->size), DS(p->account),
						     DS(p->file_id), DS(p->key)), NULL);
	if (rc || p->moved)
		return rc;
	return webhook_emit(db, p->account, "file.processed",
			    json_pack("{s:s, s:s}", "file_id", p->file_id, "metadata_status",
				      p->status));
}

enum api_err file_extract(struct job_ctx *ctx)
{
	const char *account = ctx->item->account_id;
	const char *file_id = json_string_value(json_object_get(ctx->item->payload, "file_id"));
	char key[STORAGE_KEY_MAX + 1], sha[SHA256_HEX_LEN + 1], err[512] = "";
	struct db_res res;
	struct storage_local local = { 0 };
	struct meta_thumbs thumbs = { .all_plates = true };
	struct file_meta *m = NULL;
	uint64_t size;
	if (!file_id || !util_is_uuid(file_id) || !account[0])
		return job_fail(ctx, E_INTERNAL_ERROR, "payload names no file_id / account");
	enum api_err rc = db_exec(ctx->db, &Q_FP_FILE, DB_ARGS(DS(account), DS(file_id)), &res);
	if (rc)
		return job_fail(ctx, rc, "loading file %s failed: %s", file_id, err_code(rc));
	if (res.nrows == 0 || !db_get(&res, 0, 0)) {
		db_res_free(&res);
		log_info("file.extract: file %s is gone; nothing to do", file_id);
		return E_OK;
	}
	snprintf(key, sizeof key, "%s", db_get(&res, 0, 0));
	db_res_free(&res);

	rc = E_INTERNAL_ERROR;
	enum storage_status st = storage_local_open(key, &local);
	if (st != STORAGE_OK) {
		job_fail(ctx, rc, "object of file %s is %s", file_id,
			 st == STORAGE_MISSING ? "missing" : "unreadable");
		goto out;
	}
	if (storage_sha256(key, sha, &size) != STORAGE_OK) {
		job_fail(ctx, rc, "reading the object of file %s failed", file_id);
		goto out;
	}
	if (!(m = malloc(sizeof *m)))
		goto out;
	const char *slash = strrchr(key, '/');
	int prc = meta_parse_file(local.path, slash ? slash + 1 : key, NULL, m, &thumbs, err,
				  sizeof err);
	if (prc == -2) {
		job_fail(ctx, rc, "metadata of file %s: %s", file_id, err);
		goto out;
	}
	const char *status = prc == -1 ? "failed" : m->format == META_FMT_MESH ? "unsupported" : "done";
	if (prc == 0 && (rc = store_thumbs(ctx, account, file_id, &thumbs)) != E_OK)
		goto out;
	struct fp_result res_ = { account, file_id, key, sha, size, status, prc == -1 ? err : NULL,
				  0 };
	rc = db_txn(ctx->db, fp_record, &res_);
	if (!rc && res_.moved && (rc = requeue_if_moved(ctx, account, file_id, key)))
		goto out;
	if (rc) {
		job_fail(ctx, rc, "recording file %s failed: %s", file_id, err_code(rc));
		goto out;
	}
	log_info("file.extract: file %s: %s, %llu bytes, %zu thumbnail(s), sha256 %.12s...",
		 file_id, status, (unsigned long long)size, thumbs.count, sha);
out:
	free(m);
	meta_thumbs_release(&thumbs);
	storage_local_close(&local);
	return rc;
}
