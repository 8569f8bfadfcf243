/* files.c - Print files: upload URL, direct upload, metadata pre-flight, list, create, get,
 * thumbnail, versions (list, add, promote).
 *
 *   POST /files/upload-url                      mints an upload token (common/uptoken.c)
 *   PUT  /files/upload/{token}                  streams the body into the store (common/storage.c)
 *   POST /files/parse-metadata                  multipart `file` -> metadata; stores nothing
 *   GET  /files, POST /files, GET /files/{id}, GET /files/{id}/thumbnail
 *   GET  /files/{id}/versions, POST /files/{id}/versions
 *   PUT  /files/{id}/versions/{version}/current
 * (the lists and the detail: the generic handlers, fcgi/routes.def; fields: fcgi/files.def and
 * fcgi/file_versions.def)
 *
 * Creating a file, adding a current version and promoting one parse the object synchronously
 * (metadata and the plate-1 thumbnail are in the response) and queue FILE_PROCESSING
 * `file.extract` (workers/file_processing.c: checksum, every plate's thumbnail) after commit.
 * Storage keys and paths appear in no response except upload-url's.
 *
 * Every upload URL is a file_uploads row (common/uploads.c): the account's storage quota is
 * checked when it is granted, when a PUT stores bytes and when a file or version claims them;
 * a claimed object is immutable (its token's replays get 409 UPLOAD_ALREADY_USED). */
#include "resources.h"

#include "admit.h"
#include "cfg.h"
#include "log.h"
#include "meta.h"
#include "multipart.h"
#include "queue.h"
#include "storage.h"
#include "uploads.h"
#include "uptoken.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_VERSIONS 3
#define MIB (1024LL * 1024LL)
#define THUMB_MAX (16 * 1024 * 1024)  /* largest thumbnail served (the parser keeps <= 8 MiB) */
#define STREAM_CHUNK (256 * 1024)

/* ---------------------------------------------------------------------------- queries */

/* The parent of a version change; the locking form runs inside the change's transaction. */
#define FILE_PARENT_SQL \
	"SELECT f.name, (SELECT COUNT(*) FROM print_file_versions v WHERE v.print_file_id = f.id)" \
	" FROM print_files f WHERE f.account_id = ? AND f.id = ?"
static const struct db_query Q_FILE_PARENT = { FILE_PARENT_SQL };
static const struct db_query Q_FILE_PARENT_LOCK = { FILE_PARENT_SQL " FOR UPDATE" };
static const struct db_query Q_VERSION_BY_NUMBER = {
	"SELECT storage_key, is_current_version FROM print_file_versions"
	" WHERE account_id = ? AND print_file_id = ? AND version_number = ?"
};
static const struct db_query Q_NAME_TAKEN = {
	"SELECT 1 FROM print_files WHERE account_id = ? AND name = ?"
};
/* Every file's object is one of its versions' (version 1 at least), so this covers both. */
static const struct db_query Q_KEY_USED = {
	"SELECT 1 FROM print_file_versions WHERE account_id = ? AND storage_key = ? LIMIT 1"
};
static const struct db_query Q_PRODUCT_EXISTS = {
	"SELECT 1 FROM products WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_THUMBNAIL = {
	"SELECT thumbnail_storage_key, thumbnail_content_type, plate_count FROM print_files"
	" WHERE account_id = ? AND id = ?"
};

/* The current object and what the synchronous extraction read from it (object_args order). */
#define OBJECT_SET \
	"storage_key = ?, file_format = ?, content_type = ?, file_size_bytes = ?, sha256 = NULL," \
	" metadata_status = 'pending', metadata_error = NULL, metadata_extracted_at = NULL," \
	" slicer = ?, slicer_version = ?, is_sliced = ?, print_time_seconds = ?," \
	" filament_weight_grams = ?, filament_length_meters = ?, filament_type = ?," \
	" filament_color = ?, printer_model_id = ?, printer_model_name = ?, nozzle_diameter = ?," \
	" layer_count = ?, curr_bed_type = ?, default_print_profile = ?, object_count = ?," \
	" plate_count = ?, plates = ?, total_print_time_seconds = ?," \
	" total_filament_weight_grams = ?, total_filament_length_meters = ?," \
	" thumbnail_storage_key = ?, thumbnail_content_type = ?"
#define OBJECT_NARGS 26

static const struct db_query Q_FILE_INSERT = {
	"INSERT INTO print_files SET id = ?, account_id = ?, product_id = ?, name = ?,"
	" number_of_units = ?, " OBJECT_SET
};
/* Row updates name their index: for a single-table UPDATE, MariaDB may otherwise range-scan an
 * (account_id, ...) index, locking the account's other rows in an order that deadlocks with
 * the statements that lock by primary key. */
static const struct db_query Q_FILE_REPOINT = {
	"UPDATE print_files FORCE INDEX (PRIMARY) SET " OBJECT_SET ", updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_VERSION_INSERT = {
	"INSERT INTO print_file_versions (id, account_id, print_file_id, version_number,"
	" storage_key, file_size_bytes, notes, is_current_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
};
/* Clear before set: uq_print_file_versions_current allows one current row per file. */
#define VERSIONS_BY_FILE "print_file_versions FORCE INDEX (uq_print_file_versions_number)"
static const struct db_query Q_VERSIONS_UNSET_CURRENT = {
	"UPDATE " VERSIONS_BY_FILE " SET is_current_version = 0"
	" WHERE account_id = ? AND print_file_id = ? AND is_current_version = 1"
};
static const struct db_query Q_VERSION_SET_CURRENT = {
	"UPDATE " VERSIONS_BY_FILE " SET is_current_version = 1"
	" WHERE account_id = ? AND print_file_id = ? AND version_number = ?"
};

/* ------------------------------------------------------------------- maps and fields */

static const struct rfield version_fields[] = {
#define FIELD RES_FIELD
#include "file_versions.def"
#undef FIELD
	RES_FIELD_END
};

/* Newest first; nested in the file's detail and listed alone. */
static const struct resource version_res = {
	.noun = "version", .table = "print_file_versions", .from = "print_file_versions v",
	.alias = "v", .not_found = E_VERSION_NOT_FOUND, .fields = version_fields,
	.order = "v.version_number DESC", .paging = RP_NONE,
};

static const struct rfield file_fields[] = {
#define FIELD RES_FIELD
#include "files.def"
#undef FIELD
	RES_FIELD_END
};

static const struct rfilter file_filters[] = {
	RES_FILTER("product_id", STR(1, 36), "f.product_id = ?", EXACT),
	RES_FILTER("filament_type", STR(1, 100), "f.filament_type = ?", EXACT),
	RES_FILTER("model_id", STR(1, 100), "f.printer_model_id = ?", EXACT),
	RES_FILTER_END
};

static const struct rchild file_children[] = {
	{ "versions", &version_res, RF_LIST, "v.print_file_id = ?", NULL },
	{ NULL, NULL, 0, NULL, NULL }
};

/* Newest first. */
const struct resource file_res = {
	.noun = "file", .table = "print_files", .from = "print_files f", .alias = "f",
	.not_found = E_FILE_NOT_FOUND, .fields = file_fields, .filters = file_filters,
	.order = "f.created_at DESC, f.id DESC", .paging = RP_ALWAYS, .children = file_children,
};

static const struct jfield F_UPLOAD_URL[] = {
	{ "filename", JF_STRING, JF_REQUIRED, 1, 255, { NULL } },
	{ "content_type", JF_STRING, 0, 1, 127, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};

/* Supported extensions (case-insensitive, the text after the last '.') and their content type;
 * the extension in lower case is also the print_files.file_format value. */
static const struct {
	const char *ext, *content_type;
} FORMATS[] = {
	{ "3mf", "application/vnd.ms-package.3dmanufacturing-3dmodel+xml" },
	{ "gcode", "text/plain" },
	{ "stl", "application/sla" },
	{ "obj", "application/x-tgif" },
	{ "amf", "application/octet-stream" },
};

/* ------------------------------------------------------------------------- helpers */

static long long max_upload_bytes(void)
{
	long mb = cfg_int("max_upload_mb", 100);
	return (mb > 0 ? mb : 100) * MIB;
}

static enum api_err too_large(struct req *r)
{
	long long max = max_upload_bytes();
	return req_fail(r, E_FILE_TOO_LARGE, "File exceeds the %lld-byte (%lld MiB) limit", max,
			max / MIB);
}

static const char *extension(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? dot + 1 : "";
}

/* Index of name's extension in FORMATS, or -1. */
static int format_of(const char *name)
{
	const char *ext = extension(name);
	for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++)
		if (strcasecmp(ext, FORMATS[i].ext) == 0)
			return (int)i;
	return -1;
}

/* Records a problem on field when name is not one safe path segment with a supported
 * extension (it becomes the last segment of the storage key and the on-printer file name). */
static int check_filename(struct req *r, const char *field, const char *name)
{
	if (name[0] == '.')
		req_problem(r, field, "%s must not start with '.'", field);
	else if (strstr(name, ".."))
		req_problem(r, field, "%s must not contain \"..\"", field);
	else if (strpbrk(name, "/\\:"))
		req_problem(r, field, "%s must be a single file name without '/', '\\' or ':'", field);
	else if (format_of(name) < 0)
		req_problem(r, field, "%s must end in .3mf, .gcode, .stl, .obj or .amf", field);
	else {
		for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
			if (*p < 0x20 || *p == 0x7f) {
				req_problem(r, field, "%s must not contain control characters", field);
				return -1;
			}
		}
		return 0;
	}
	return -1;
}

/* A MIME type "type/subtype[; parameters]" of visible ASCII. */
static int mime_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1] || slash[1] == ';')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* Splits a client's storage key "{account}/files/{file_id}/{filename}" of the caller's account
 * into file_id and filename (problems recorded on field). */
static int parse_key(struct req *r, const char *field, const char *key,
		     char file_id[UUID_LEN + 1], const char **filename)
{
	size_t alen = strlen(r->account_id);
	const char *id = NULL;
	if (strncmp(key, r->account_id, alen) == 0 && strncmp(key + alen, "/files/", 7) == 0)
		id = key + alen + 7;
	if (!id || strlen(id) < UUID_LEN + 2 || id[UUID_LEN] != '/' || !storage_key_valid(key)) {
		req_problem(r, field, "%s must be a storage_key returned by POST /files/upload-url"
			    " for this account", field);
		return -1;
	}
	memcpy(file_id, id, UUID_LEN);
	file_id[UUID_LEN] = '\0';
	*filename = id + UUID_LEN + 1;
	if (!util_is_uuid(file_id) || strchr(*filename, '/')) {
		req_problem(r, field, "%s must be a storage_key returned by POST /files/upload-url"
			    " for this account", field);
		return -1;
	}
	return check_filename(r, field, *filename);
}

static enum api_err not_uploaded(struct req *r)
{
	return req_fail(r, E_FILE_NOT_UPLOADED, "Nothing has been uploaded to storage_key yet: PUT"
			" the file to the upload_url first");
}

static enum api_err already_used(struct req *r)
{
	return req_fail(r, E_UPLOAD_ALREADY_USED, "This upload already became a file or version and"
			" its bytes cannot change: request a new upload URL for new bytes");
}

/* STORAGE_QUOTA_EXCEEDED when bytes more bytes and files more objects do not fit q. */
static enum api_err quota_check(struct req *r, const struct quota *q, long long bytes,
				long long files)
{
	switch (uploads_quota_fits(q, bytes, files)) {
	case QUOTA_FILES:
		return req_fail(r, E_STORAGE_QUOTA_EXCEEDED, "Storage quota exceeded: the account may"
				" keep %lld files (versions and unused upload URLs included) and has"
				" %lld", q->max_files, q->used_files);
	case QUOTA_BYTES:
		return req_fail(r, E_STORAGE_QUOTA_EXCEEDED, "Storage quota exceeded: the account may"
				" store %lld bytes (%lld MiB) and would store %lld", q->max_bytes,
				q->max_bytes / MIB, q->used_bytes + bytes);
	case QUOTA_FITS:
		break;
	}
	return E_OK;
}

/* 1 when q (account, value) finds a row, 0 when not; -1 with *err set on a database error. */
static int exists(struct req *r, const struct db_query *q, const char *value, enum api_err *err)
{
	struct db_res res;
	*err = db_exec(r->db, q, DB_ARGS(DS(r->account_id), DS(value)), &res);
	if (*err)
		return -1;
	int found = res.nrows > 0;
	db_res_free(&res);
	return found;
}

/* ------------------------------------------------------------ synchronous extraction */

/* What one object yields for the file row (bound by object_args in OBJECT_SET order). */
struct extraction {
	char key[STORAGE_KEY_MAX + 1];
	char tag[STORAGE_TAG_MAX];         /* of the bytes parsed (storage_tag, read before) */
	int format;                        /* FORMATS index */
	uint64_t size;
	struct file_meta meta;
	char *plates;                      /* JSON text of the plates array, owned */
	int store_thumb;                   /* the object becomes current: its thumbnail is the file's */
	char thumb_key[STORAGE_KEY_MAX + 1]; /* the file's thumbnail; "" when the object has none */
	unsigned char *thumb;              /* its PNG bytes, owned, stored by thumb_publish */
	size_t thumb_len;
};

static void extraction_release(struct extraction *x)
{
	free(x->plates);
	free(x->thumb);
	x->plates = NULL;
	x->thumb = NULL;
}

/* After commit: the new current object's thumbnail becomes the file's (or the previous one is
 * dropped). A failure is only logged: file.extract, queued with the change, writes it again. */
static void thumb_publish(struct req *r, const char *file_id, const struct extraction *x)
{
	char key[STORAGE_KEY_MAX + 1];
	if (!x->store_thumb || storage_thumb_key(r->account_id, file_id, 0, key, sizeof key) < 0)
		return;
	if (!x->thumb)
		storage_remove(key);
	else if (storage_put(key, x->thumb, x->thumb_len) != STORAGE_OK)
		log_error("request %s: storing the thumbnail of %s failed", r->request_id, file_id);
}

/* Values outside a column's range are dropped (NULL) rather than failing the insert. */
static struct db_arg arg_int(struct meta_int v, int64_t max)
{
	return v.set && v.v >= 0 && v.v <= max ? DI(v.v) : DNULL;
}
static struct db_arg arg_num(struct meta_num v, double below)
{
	return v.set && v.v >= 0 && v.v < below ? DD(v.v) : DNULL;
}
static struct db_arg arg_str(const char *s)
{
	return DS(s[0] ? s : NULL);
}

static unsigned object_args(const struct extraction *x, struct db_arg *a)
{
	const struct file_meta *m = &x->meta;
	const int64_t U32 = 4294967295LL;
	unsigned n = 0;
	a[n++] = DS(x->key);
	a[n++] = DS(FORMATS[x->format].ext);
	a[n++] = DS(FORMATS[x->format].content_type);
	a[n++] = DI(x->size);
	a[n++] = arg_str(m->slicer);
	a[n++] = arg_str(m->slicer_version);
	a[n++] = m->format == META_FMT_MESH ? DNULL : DI(m->is_sliced);
	a[n++] = arg_int(m->print_time_seconds, U32);
	a[n++] = arg_num(m->filament_weight_grams, 1e8);   /* DECIMAL(10,2) */
	a[n++] = arg_num(m->filament_length_meters, 1e9);  /* DECIMAL(12,3) */
	a[n++] = arg_str(m->filament_type);
	a[n++] = arg_str(m->filament_color);
	a[n++] = arg_str(m->printer_model_id);
	a[n++] = arg_str(m->printer_model);
	a[n++] = arg_num(m->nozzle_diameter, 100);         /* DECIMAL(4,2) */
	a[n++] = arg_int(m->layer_count, U32);
	a[n++] = arg_str(m->curr_bed_type);
	a[n++] = arg_str(m->default_print_profile);
	a[n++] = DI(m->object_count.set && m->object_count.v >= 1 && m->object_count.v <= U32
			    ? m->object_count.v : 1);
	a[n++] = arg_int(m->plate_count, U32);
	a[n++] = DS(x->plates);
	a[n++] = arg_int(m->totals.print_time_seconds, U32);
	a[n++] = arg_num(m->totals.filament_weight_grams, 1e8);
	a[n++] = arg_num(m->totals.filament_length_meters, 1e9);
	a[n++] = DS(x->thumb_key[0] ? x->thumb_key : NULL);
	a[n++] = DS(x->thumb_key[0] ? "image/png" : NULL);
	return n;
}

/* Parses the object key (named filename) of file_id; when store_thumb (it becomes the current
 * object) also keeps its plate-1 thumbnail for thumb_publish. Errors: FILE_NOT_UPLOADED,
 * INVALID_FILE (the parser's sentence), INTERNAL_ERROR. */
static enum api_err extract(struct req *r, const char *file_id, const char *key,
			    const char *filename, int store_thumb, struct extraction *x)
{
	struct meta_thumbs thumbs = { .all_plates = false };
	struct storage_local local;
	char err[512] = "";
	enum api_err rc = E_INTERNAL_ERROR;
	memset(x, 0, sizeof *x);
	snprintf(x->key, sizeof x->key, "%s", key);
	x->format = format_of(filename);
	enum storage_status st = storage_local_open(key, &local);
	if (st == STORAGE_MISSING)
		return not_uploaded(r);
	if (st != STORAGE_OK || storage_tag(key, x->tag, &x->size) != STORAGE_OK)
		goto out;
	int prc = meta_parse_file(local.path, filename, NULL, &x->meta, &thumbs, err, sizeof err);
	if (prc == -1) {
		rc = req_fail(r, E_INVALID_FILE, "%s", err);
		goto out;
	}
	if (prc < 0) {
		log_error("request %s: metadata of %s: %s", r->request_id, file_id, err);
		goto out;
	}
	json_t *mj = meta_to_json(&x->meta);
	x->plates = mj ? json_dumps(json_object_get(mj, "plates"), JSON_COMPACT) : NULL;
	json_decref(mj);
	if (!x->plates)
		goto out;
	x->store_thumb = store_thumb;
	if (store_thumb && thumbs.count > 0) {
		if (storage_thumb_key(r->account_id, file_id, 0, x->thumb_key, sizeof x->thumb_key) < 0)
			goto out;
		x->thumb = thumbs.items[0].data; /* taken over */
		x->thumb_len = thumbs.items[0].len;
		thumbs.items[0].data = NULL;
	}
	rc = E_OK;
out:
	meta_thumbs_release(&thumbs);
	storage_local_close(&local);
	if (rc)
		extraction_release(x);
	return rc;
}

/* Inside a create's or version's transaction, first: takes the account's storage lock and the
 * upload's row, then refuses when the key became a file or version meanwhile (409 CONFLICT),
 * when the object is gone (400 FILE_NOT_UPLOADED) or was replaced since x parsed it (409
 * CONFLICT: a replay of its token raced this request), and when it does not fit the quota;
 * else claims it: immutable from the commit on. */
static enum api_err claim_object(struct req *r, const struct extraction *x)
{
	struct quota q = { 0 };
	char tag[STORAGE_TAG_MAX];
	uint64_t size = 0;
	int claimed = 0;
	enum api_err err = uploads_quota_lock(r->db, r->account_id, x->key, &q);
	if (!err)
		err = uploads_lock(r->db, r->account_id, x->key, (int64_t)time(NULL), &claimed);
	if (err)
		return err;
	if (claimed)
		return req_fail(r, E_CONFLICT, "storage_key already holds a file or version: request"
				" a new upload URL for each upload");
	enum storage_status st = storage_tag(x->key, tag, &size);
	if (st == STORAGE_MISSING)
		return not_uploaded(r);
	if (st != STORAGE_OK)
		return E_INTERNAL_ERROR;
	if (strcmp(tag, x->tag) != 0)
		return req_fail(r, E_CONFLICT, "The upload under storage_key was replaced while it was"
				" being read; retry");
	if ((err = quota_check(r, &q, (long long)size, 1)) != E_OK)
		return err;
	return uploads_claim(r->db, x->key, size);
}

/* Queues the full extraction of file_id (run after commit: queue_wake). */
static enum api_err push_extract(struct req *r, const char *file_id)
{
	json_t *payload = json_pack("{s:s}", "file_id", file_id);
	if (!payload)
		return E_INTERNAL_ERROR;
	enum api_err err = queue_push(r->db, QUEUE_FILE_PROCESSING, "file.extract", r->account_id,
				      payload, NULL, 3, NULL);
	json_decref(payload);
	return err;
}

/* Makes version `number` (whose object x was extracted) the file's current one: inside the
 * caller's transaction, with the file row locked. */
static enum api_err make_current(struct req *r, const char *file_id, long long number,
				 const struct extraction *x)
{
	struct db_arg a[OBJECT_NARGS + 2];
	enum api_err err = db_exec(r->db, &Q_VERSIONS_UNSET_CURRENT,
				   DB_ARGS(DS(r->account_id), DS(file_id)), NULL);
	if (!err)
		err = db_exec(r->db, &Q_VERSION_SET_CURRENT,
			      DB_ARGS(DS(r->account_id), DS(file_id), DI(number)), NULL);
	if (err)
		return err;
	unsigned n = object_args(x, a);
	a[n++] = DS(r->account_id);
	a[n++] = DS(file_id);
	err = db_exec(r->db, &Q_FILE_REPOINT, a, n, NULL);
	return err ? err : push_extract(r, file_id);
}

/* --------------------------------------------------------------------------- handlers */

/* One change of the file store's rows: an attempt of its transaction (db_txn). */
struct file_txn {
	struct req *r;
	const struct extraction *x;    /* the object parsed before (create, version, promote) */
	const char *file_id, *version_id, *key;
	long long number;              /* the version that becomes current (promote) */
	int current;                   /* version: the new one becomes current */
	const struct db_arg *args;     /* create: Q_FILE_INSERT's */
	unsigned nargs;
	int64_t expires;               /* grant */
};

/* The upload URL of key, when the account has room for one more object (and a byte). */
static enum api_err grant_txn(struct db *db, void *ctx)
{
	struct file_txn *t = ctx;
	struct quota q = { 0 };
	enum api_err err = uploads_quota_lock(db, t->r->account_id, NULL, &q);
	if (!err)
		err = quota_check(t->r, &q, q.max_bytes > 0 && q.used_bytes >= q.max_bytes ? 1 : 0, 1);
	return err ? err : uploads_grant(db, t->r->account_id, t->key, t->expires);
}

/* Before the body is read, without locks: a claimed object, or a declared length that cannot
 * fit the quota, is refused at once (publish decides under the locks). */
static enum api_err upload_precheck(struct req *r, const char *key, long long want)
{
	struct quota q = { 0 };
	int claimed = 0;
	enum api_err err = uploads_peek(r->db, r->account_id, key, &claimed);
	if (err)
		return err;
	if (claimed)
		return already_used(r);
	if (want < 0)
		return E_OK;
	err = uploads_quota_peek(r->db, r->account_id, key, &q);
	return err ? err : quota_check(r, &q, want, 1);
}

/* Publishes the complete upload w under key: in one transaction holding the account's storage
 * lock and the upload's row, refused when a file or version claimed the key meanwhile or the
 * bytes do not fit the quota; the object is renamed into place before the commit. Not a db_txn:
 * the rename cannot run a second time. */
static enum api_err publish(struct req *r, struct storage_writer *w, const char *key,
			    int64_t expires, uint64_t total)
{
	struct quota q = { 0 };
	int claimed = 0;
	enum api_err err = db_begin(r->db);
	if (!err)
		err = uploads_quota_lock(r->db, r->account_id, key, &q);
	if (!err)
		err = uploads_lock(r->db, r->account_id, key, expires, &claimed);
	if (!err && claimed)
		err = already_used(r);
	if (!err)
		err = quota_check(r, &q, (long long)total, 1);
	if (!err && storage_commit(w) != STORAGE_OK)
		err = E_INTERNAL_ERROR;
	if (!err)
		err = uploads_stored(r->db, key, total);
	if (!err && (err = db_commit(r->db)) != E_OK)
		log_error("request %s: an upload was stored but its size not recorded (%s)",
			  r->request_id, err_code(err));
	storage_abort(w);
	if (db_in_txn(r->db))
		db_rollback(r->db);
	return err;
}

enum api_err files_upload_url(struct req *r)
{
	char file_id[UUID_LEN + 1], key[STORAGE_KEY_MAX + 1], token[UPTOKEN_MAX], url[2048];
	char expires_at[40];
	if (req_check_body(r, F_UPLOAD_URL))
		return E_VALIDATION_ERROR;
	const char *filename = jhelp_str(r->body, "filename");
	const char *ctype = jhelp_str(r->body, "content_type");
	check_filename(r, "filename", filename);
	if (ctype && !mime_ok(ctype))
		req_problem(r, "content_type", "content_type must be a MIME type such as"
			    " application/octet-stream");
	if (req_invalid(r))
		return E_VALIDATION_ERROR;
	if (util_uuid(file_id) < 0 ||
	    storage_file_key(r->account_id, file_id, filename, key, sizeof key) < 0)
		return req_fail(r, E_INTERNAL_ERROR, "cannot build a storage key");
	time_t expires = time(NULL) + UPTOKEN_TTL;
	struct file_txn t = { .r = r, .key = key, .expires = (int64_t)expires };
	enum api_err err = db_txn(r->db, grant_txn, &t);
	if (err)
		return err;
	enum uptoken_status ts = uptoken_mint(cfg_str("upload_secret", NULL), key, expires, token,
					      sizeof token);
	if (ts != UPTOKEN_OK)
		return req_fail(r, E_INTERNAL_ERROR, "cannot mint an upload token (%s)",
				ts == UPTOKEN_NO_SECRET ? "conf upload_secret missing or short" : "key");
	snprintf(url, sizeof url, "%s/files/upload/%s", cfg_str("base_url", "/v1"), token);
	struct tm tm;
	gmtime_r(&expires, &tm);
	strftime(expires_at, sizeof expires_at, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	return req_ok(r, json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}",
				   "file_id", file_id, "filename", filename, "upload_token", token,
				   "content_type", ctype ? ctype : FORMATS[format_of(filename)].content_type,
				   "expires_in", UPTOKEN_TTL, "expires_at", expires_at,
				   "upload_url", url, "storage_key", key));
}

/* CONTENT_LENGTH as a number: -1 when absent (a chunked body), -2 when malformed. */
static long long content_length(const struct req *r)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", r->fcgi->envp);
	if (!cl || !*cl)
		return -1;
	char *end;
	long long n = strtoll(cl, &end, 10);
	return *end || n < 0 ? -2 : n;
}

/* 1 when the request announces a body it did not size (Transfer-Encoding: chunked). */
static int body_unsized(const struct req *r)
{
	const char *te = FCGX_GetParam("HTTP_TRANSFER_ENCODING", r->fcgi->envp);
	return te && *te;
}

/* Body checks (413 / 400) come before the token (the path parameter), as everywhere. */
enum api_err files_upload(struct req *r)
{
	char buf[STREAM_CHUNK], key[UPTOKEN_KEY_MAX + 1], account[64];
	int64_t expires = 0;
	long long max = max_upload_bytes(), want = content_length(r);
	if (want > max)
		return too_large(r);
	if (want == 0 || want == -2 || (want == -1 && !body_unsized(r))) /* -2: nginx forbids */
		return req_fail(r, E_INVALID_REQUEST, "The upload body is empty: send the file's bytes");
	enum uptoken_status ts = uptoken_verify(cfg_str("upload_secret", NULL), req_param(r, "token"),
						(int64_t)time(NULL), key, sizeof key, account,
						sizeof account, &expires);
	if (ts == UPTOKEN_NO_SECRET)
		return req_fail(r, E_INTERNAL_ERROR, "conf upload_secret missing or short");
	if (ts == UPTOKEN_EXPIRED)
		return req_fail(r, E_UPLOAD_TOKEN_INVALID, "Upload token has expired: request a new"
				" upload URL");
	if (ts != UPTOKEN_OK)
		return req_fail(r, E_UPLOAD_TOKEN_INVALID, "Upload token is invalid");
	if (strcmp(account, r->account_id) != 0)
		return req_fail(r, E_UPLOAD_TOKEN_FORBIDDEN, "Upload token was issued to another"
				" account than this API key's");
	enum api_err err = upload_precheck(r, key, want);
	if (err)
		return err;

	struct storage_writer w;
	struct body_reader br;
	if ((err = admit_upload(r)) != E_OK)
		return err;
	if (storage_begin(&w, key) != STORAGE_OK)
		return E_INTERNAL_ERROR;
	uint64_t total = 0;
	body_reader_init(&br, r->fcgi);
	for (;;) {
		int got = body_read(&br, buf, (int)sizeof buf);
		if (got <= 0)
			break; /* end of the body, the stream broke, or its deadline passed */
		total += (uint64_t)got;
		if (total > (uint64_t)max) {
			err = too_large(r);
			break;
		}
		if (storage_append(&w, buf, (size_t)got) != STORAGE_OK) {
			err = E_INTERNAL_ERROR;
			break;
		}
	}
	if (!err && br.timed_out)
		err = admit_body_timeout(r, &br, "nothing was stored");
	else if (!err && (FCGX_GetError(r->fcgi->in) != 0 || (want >= 0 && total != (uint64_t)want)))
		err = req_fail(r, E_INVALID_REQUEST, "The upload broke off after %llu bytes;"
			       " nothing was stored", (unsigned long long)total);
	else if (!err && total == 0)
		err = req_fail(r, E_INVALID_REQUEST, "The upload body is empty: send the file's bytes");
	if (err) {
		storage_abort(&w);
		return err;
	}
	if ((err = publish(r, &w, key, expires, total)) != E_OK)
		return err;
	return req_ok(r, json_pack("{s:I}", "size_bytes", (json_int_t)total));
}

/* parse-metadata: the multipart body is read from the FastCGI stream into a scratch file. */
struct scratch {
	struct body_reader br;
	int fd;
	uint64_t size, max;
	int over_limit, io_error;
};

static int to_scratch(void *ctx, const void *data, size_t len)
{
	struct scratch *s = ctx;
	const char *p = data;
	if ((s->size += len) > s->max) {
		s->over_limit = 1;
		return -1;
	}
	while (len > 0) {
		ssize_t n = write(s->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			s->io_error = 1;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

enum api_err files_parse_metadata(struct req *r)
{
	char path[64], filename[256] = "", err[512] = "";
	struct multipart_limits lim = multipart_default_limits();
	struct scratch s = { .fd = -1, .max = (uint64_t)max_upload_bytes() };
	struct file_meta *m = NULL;
	enum api_err rc = E_INTERNAL_ERROR;
	lim.max_body = s.max + (uint64_t)MIB; /* the file plus the multipart envelope */
	if (content_length(r) > (long long)lim.max_body)
		return too_large(r);
	const char *ctype = FCGX_GetParam("CONTENT_TYPE", r->fcgi->envp);
	char boundary[MULTIPART_BOUNDARY_MAX + 1];
	if (multipart_boundary(ctype ? ctype : "", boundary, sizeof boundary, err, sizeof err) != MP_OK)
		return req_fail(r, E_INVALID_REQUEST, "Content-Type must be multipart/form-data with a"
				" boundary, carrying the file in a part named \"file\"");
	if ((rc = admit_upload(r)) != E_OK)
		return rc;
	rc = E_INTERNAL_ERROR;
	if ((s.fd = storage_scratch(path, sizeof path)) < 0)
		return E_INTERNAL_ERROR;
	body_reader_init(&s.br, r->fcgi);
	enum multipart_err me = multipart_read_file(ctype, body_pull, &s.br, "file", &lim, to_scratch,
						    &s, filename, sizeof filename, err, sizeof err);
	if (s.br.timed_out) {
		rc = admit_body_timeout(r, &s.br, "nothing was kept");
		goto out;
	}
	if (s.over_limit || me == MP_ETOO_LARGE) {
		rc = too_large(r);
		goto out;
	}
	if (me == MP_ENOFILE) {
		req_problem(r, "file", "file is required: a multipart part named \"file\" with a"
			    " filename");
		rc = E_VALIDATION_ERROR;
		goto out;
	}
	if (me != MP_OK) {
		if (s.io_error)
			log_error("request %s: writing the scratch file failed", r->request_id);
		else
			rc = req_fail(r, E_INVALID_REQUEST, "Malformed multipart body: %s", err);
		goto out;
	}
	int f = format_of(filename);
	if (f < 0 || (strcmp(FORMATS[f].ext, "3mf") != 0 && strcmp(FORMATS[f].ext, "gcode") != 0)) {
		rc = req_fail(r, E_INVALID_FILE_TYPE, "Only .3mf and .gcode files carry metadata"
			      " (file name \"%.100s\")", filename);
		goto out;
	}
	if (!(m = malloc(sizeof *m)))
		goto out;
	int prc = meta_parse_file(path, filename, NULL, m, NULL, err, sizeof err);
	if (prc == -1) {
		rc = req_fail(r, E_INVALID_FILE, "%s", err);
		goto out;
	}
	if (prc < 0) {
		log_error("request %s: parse-metadata: %s", r->request_id, err);
		goto out;
	}
	json_t *out = meta_to_json(m);
	if (out) {
		json_object_set_new(out, "filename", json_string(filename));
		json_object_set_new(out, "file_size_bytes", json_integer((json_int_t)s.size));
	}
	rc = req_ok(r, out);
out:
	free(m);
	if (s.fd >= 0)
		close(s.fd);
	return rc;
}

/* The checks of a new object (POST /files, POST /files/{id}/versions) after validation. */
static enum api_err check_new_object(struct req *r, const char *key)
{
	enum api_err err;
	int used = exists(r, &Q_KEY_USED, key, &err);
	if (used < 0)
		return err;
	if (used)
		return req_fail(r, E_CONFLICT, "storage_key already holds a file or version: request"
				" a new upload URL for each upload");
	enum storage_status st = storage_stat(key, NULL);
	if (st == STORAGE_MISSING)
		return not_uploaded(r);
	return st == STORAGE_OK ? E_OK : E_INTERNAL_ERROR;
}

/* The file's row and its version 1, the object claimed, the full extraction queued. */
static enum api_err create_txn(struct db *db, void *ctx)
{
	struct file_txn *t = ctx;
	struct req *r = t->r;
	enum api_err err;
	if ((err = claim_object(r, t->x)) != E_OK ||
	    (err = db_exec(db, &Q_FILE_INSERT, t->args, t->nargs, NULL)) != E_OK ||
	    (err = db_exec(db, &Q_VERSION_INSERT,
			   DB_ARGS(DS(t->version_id), DS(r->account_id), DS(t->file_id), DI(1),
				   DS(t->key), DI(t->x->size), DNULL, DI(1)), NULL)) != E_OK)
		return err;
	return push_extract(r, t->file_id);
}

enum api_err files_create(struct req *r)
{
	char file_id[UUID_LEN + 1], version_id[UUID_LEN + 1];
	const char *filename = NULL;
	struct extraction x = { 0 };
	if (res_check_body(r, &file_res, RF_CREATE))
		return E_VALIDATION_ERROR;
	const char *name = jhelp_str(r->body, "name"), *key = jhelp_str(r->body, "storage_key");
	const char *product = jhelp_str(r->body, "product_id");
	json_t *units = json_object_get(r->body, "number_of_units");
	parse_key(r, "storage_key", key, file_id, &filename);
	if (product && !util_is_uuid(product))
		req_problem(r, "product_id", "product_id must be a product id (UUID)");
	if (req_invalid(r))
		return E_VALIDATION_ERROR;
	if (strcmp(name, filename) != 0)
		return req_fail(r, E_NAME_MISMATCH, "name must equal the file name in storage_key"
				" (\"%s\")", filename);

	enum api_err err;
	int found;
	if (product && (found = exists(r, &Q_PRODUCT_EXISTS, product, &err)) <= 0)
		return found < 0 ? err : req_fail(r, E_PRODUCT_NOT_FOUND, "Product %s not found",
						  product);
	if ((found = exists(r, &Q_NAME_TAKEN, name, &err)) != 0)
		return found < 0 ? err : req_fail(r, E_DUPLICATE_NAME, "A file named \"%s\" already"
						  " exists", name);
	if ((err = check_new_object(r, key)) != E_OK ||
	    (err = extract(r, file_id, key, filename, 1, &x)) != E_OK)
		return err;

	struct db_arg a[OBJECT_NARGS + 5];
	unsigned n = 0;
	a[n++] = DS(file_id);
	a[n++] = DS(r->account_id);
	a[n++] = DS(product);
	a[n++] = DS(name);
	a[n++] = DI(units ? json_integer_value(units) : 1);
	n += object_args(&x, a + n);
	struct file_txn t = { .r = r, .x = &x, .file_id = file_id, .version_id = version_id,
			      .key = key, .args = a, .nargs = n };
	if (util_uuid(version_id) < 0)
		err = E_INTERNAL_ERROR;
	else if ((err = db_txn(r->db, create_txn, &t)) == E_OK)
		thumb_publish(r, file_id, &x);
	extraction_release(&x);
	if (err == E_CONFLICT && !r->errmsg[0]) /* a concurrent create of the same name won */
		return req_fail(r, E_DUPLICATE_NAME, "A file named \"%s\" already exists", name);
	if (err)
		return err;
	queue_wake();
	return res_reply(r, &file_res, file_id, 1);
}

enum api_err files_thumbnail(struct req *r)
{
	long long plate = 0;
	char key[STORAGE_KEY_MAX + 1];
	struct db_res res;
	req_query_int(r, "plate", 1, META_MAX_PLATES, &plate);
	if (req_invalid(r))
		return E_VALIDATION_ERROR;
	const char *id = req_param(r, "id");
	enum api_err err = req_fetch_one(r, &Q_THUMBNAIL, DB_ARGS(DS(r->account_id), DS(id)), &res,
					 E_FILE_NOT_FOUND);
	if (err)
		return err;
	const char *stored = db_get(&res, 0, 0);
	snprintf(r->raw_type, sizeof r->raw_type, "%s",
		 db_get(&res, 0, 1) && plate == 0 ? db_get(&res, 0, 1) : "image/png");
	int have = stored != NULL;
	if (plate == 0 && stored)
		snprintf(key, sizeof key, "%s", stored);
	else if (plate > 0)
		have = plate <= db_get_int(&res, 0, 2, 1) &&
		       storage_thumb_key(r->account_id, id, (int)plate, key, sizeof key) == 0;
	db_res_free(&res);
	int st = have ? req_stored_object(r, key, THUMB_MAX) : STORAGE_MISSING;
	if (st == STORAGE_MISSING && plate)
		return req_fail(r, E_NO_THUMBNAIL, "Plate %lld of this file has no thumbnail", plate);
	if (st == STORAGE_MISSING)
		return req_fail(r, E_NO_THUMBNAIL, "File has no thumbnail");
	return st == STORAGE_OK ? E_OK : E_INTERNAL_ERROR;
}

/* The parent's name and version count (locked inside a transaction), or FILE_NOT_FOUND. */
static enum api_err parent_load(struct req *r, const struct db_query *q, char *name, size_t size,
				long long *count)
{
	struct db_res res;
	enum api_err err = req_fetch_one(r, q, DB_ARGS(DS(r->account_id), DS(req_param(r, "id"))),
					 &res, E_FILE_NOT_FOUND);
	if (err)
		return err;
	snprintf(name, size, "%s", db_get(&res, 0, 0));
	*count = db_get_int(&res, 0, 1, 0);
	db_res_free(&res);
	return E_OK;
}

/* A version more (numbers are max + 1; with no deletions that is count + 1), under the file's
 * lock, the object claimed; made current when asked. */
static enum api_err version_txn(struct db *db, void *ctx)
{
	struct file_txn *t = ctx;
	struct req *r = t->r;
	char name[512];
	long long count;
	enum api_err err;
	if ((err = claim_object(r, t->x)) != E_OK ||
	    (err = parent_load(r, &Q_FILE_PARENT_LOCK, name, sizeof name, &count)) != E_OK)
		return err;
	if (count >= MAX_VERSIONS)
		return req_fail(r, E_MAX_VERSIONS_REACHED, "File already has %d versions, the maximum",
				MAX_VERSIONS);
	if ((err = db_exec(db, &Q_VERSION_INSERT,
			   DB_ARGS(DS(t->version_id), DS(r->account_id), DS(t->file_id),
				   DI(count + 1), DS(t->key), DI(t->x->size),
				   DS(jhelp_str(r->body, "notes")), DI(0)), NULL)) != E_OK)
		return err;
	return t->current ? make_current(r, t->file_id, count + 1, t->x) : E_OK;
}

enum api_err files_version_add(struct req *r)
{
	char file_id[UUID_LEN + 1], version_id[UUID_LEN + 1], name[512];
	const char *filename = NULL;
	long long count;
	struct extraction x = { 0 };
	if (res_check_body(r, &version_res, RF_CREATE))
		return E_VALIDATION_ERROR;
	const char *key = jhelp_str(r->body, "storage_key");
	const char *id = req_param(r, "id");
	int current = !json_is_false(json_object_get(r->body, "set_as_current"));
	if (parse_key(r, "storage_key", key, file_id, &filename) < 0)
		return E_VALIDATION_ERROR;
	enum api_err err = parent_load(r, &Q_FILE_PARENT, name, sizeof name, &count);
	if (err)
		return err;
	if (strcasecmp(extension(filename), extension(name)) != 0)
		return req_fail(r, E_EXTENSION_MISMATCH, "The new version is .%s but the file is .%s:"
				" upload a .%s file", extension(filename), extension(name),
				extension(name));
	if (count >= MAX_VERSIONS)
		return req_fail(r, E_MAX_VERSIONS_REACHED, "File already has %d versions, the"
				" maximum", MAX_VERSIONS);
	/* a version that does not become current is only checked: the file's thumbnail stays */
	if ((err = check_new_object(r, key)) != E_OK ||
	    (err = extract(r, id, key, filename, current, &x)) != E_OK)
		return err;
	struct file_txn t = { .r = r, .x = &x, .file_id = id, .version_id = version_id, .key = key,
			      .current = current };
	if (util_uuid(version_id) < 0)
		err = E_INTERNAL_ERROR;
	else if ((err = db_txn(r->db, version_txn, &t)) == E_OK && current)
		thumb_publish(r, id, &x);
	extraction_release(&x);
	if (err == E_CONFLICT && !r->errmsg[0]) /* a concurrent change took the number */
		return req_fail(r, E_CONFLICT, "The file changed concurrently; retry");
	if (err)
		return err;
	if (current)
		queue_wake();
	return res_reply(r, &version_res, version_id, 1);
}

/* Version `number` becomes current, under the file's lock. */
static enum api_err promote_txn(struct db *db, void *ctx)
{
	struct file_txn *t = ctx;
	char name[512];
	long long count;
	(void)db;
	enum api_err err = parent_load(t->r, &Q_FILE_PARENT_LOCK, name, sizeof name, &count);
	return err ? err : make_current(t->r, t->file_id, t->number, t->x);
}

enum api_err files_promote(struct req *r)
{
	char name[512], key[STORAGE_KEY_MAX + 1];
	const char *v = req_param(r, "version"), *id = req_param(r, "id");
	long long number = 0, count;
	struct extraction x = { 0 };
	char *end;
	number = strtoll(v, &end, 10);
	if (!isdigit((unsigned char)v[0]) || *end || number < 1 || number > MAX_VERSIONS) {
		req_problem(r, "version", "version must be a version number between 1 and %d",
			    MAX_VERSIONS);
		return E_VALIDATION_ERROR;
	}
	enum api_err err = parent_load(r, &Q_FILE_PARENT, name, sizeof name, &count);
	if (err)
		return err;
	struct db_res res;
	err = req_fetch_one(r, &Q_VERSION_BY_NUMBER, DB_ARGS(DS(r->account_id), DS(id), DI(number)),
			    &res, E_VERSION_NOT_FOUND);
	if (err == E_VERSION_NOT_FOUND)
		return req_fail(r, err, "File has no version %lld", number);
	if (err)
		return err;
	snprintf(key, sizeof key, "%s", db_get(&res, 0, 0) ? db_get(&res, 0, 0) : "");
	int is_current = db_get_int(&res, 0, 1, 0) != 0;
	db_res_free(&res);
	if (!is_current) {
		const char *slash = strrchr(key, '/');
		if ((err = extract(r, id, key, slash ? slash + 1 : key, 1, &x)) != E_OK)
			return err;
		struct file_txn t = { .r = r, .x = &x, .file_id = id, .number = number };
		if ((err = db_txn(r->db, promote_txn, &t)) == E_OK)
			thumb_publish(r, id, &x);
		extraction_release(&x);
		if (err)
			return err;
		queue_wake();
	}
	return res_reply(r, &file_res, id, 0);
}
