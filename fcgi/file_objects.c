/* file_objects.c - The objects behind print files (docs/files.md): supported names and storage
 * keys, the synchronous extraction of an object (metadata and plate-1 thumbnail), its claim
 * under the account's storage lock and quota, and the queued full extraction. Shared by
 * fcgi/files.c, fcgi/file_uploads.c and fcgi/file_versions.c through fcgi/files.h. */
#include "files.h"

#include "cfg.h"
#include "log.h"
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Every file's object is one of its versions' (version 1 at least), so this covers both. */
static const struct db_query Q_KEY_USED = {
	"SELECT 1 FROM print_file_versions WHERE account_id = ? AND storage_key = ? LIMIT 1"
};

const struct file_format file_formats[] = {
	{ "3mf", "application/vnd.ms-package.3dmanufacturing-3dmodel+xml" },
	{ "gcode", "text/plain" },
	{ "stl", "application/sla" },
	{ "obj", "application/x-tgif" },
	{ "amf", "application/octet-stream" },
};

long long file_max_upload_bytes(void)
{
	long mb = cfg_int("max_upload_mb", 100);
	return (mb > 0 ? mb : 100) * MIB;
}

enum api_err file_too_large(struct req *r)
{
	long long max = file_max_upload_bytes();
	return req_fail(r, E_FILE_TOO_LARGE, "File exceeds the %lld-byte (%lld MiB) limit", max,
			max / MIB);
}

const char *file_extension(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? dot + 1 : "";
}

/* Index of name's extension in file_formats, or -1. */
int file_format_of(const char *name)
{
	const char *ext = file_extension(name);
	for (size_t i = 0; i < sizeof file_formats / sizeof file_formats[0]; i++)
		if (strcasecmp(ext, file_formats[i].ext) == 0)
			return (int)i;
	return -1;
}

/* Why name is not one safe path segment with a supported extension (it becomes the last segment
 * of the storage key and the on-printer file name): FILE_NAME_OK, or the fault with its reason
 * in why. */
static int name_fault(const char *field, const char *name, char *why, size_t size)
{
	const char *bad = NULL;
	if (name[0] == '.')
		bad = "must not start with '.'";
	else if (strstr(name, ".."))
		bad = "must not contain \"..\"";
	else if (strpbrk(name, "/\\:"))
		bad = "must be a single file name without '/', '\\' or ':'";
	for (const unsigned char *p = (const unsigned char *)name; !bad && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			bad = "must not contain control characters";
	if (bad) {
		snprintf(why, size, "%s %s", field, bad);
		return FILE_NAME_UNSAFE;
	}
	if (file_format_of(name) < 0) {
		snprintf(why, size, "%s must end in .3mf, .gcode, .stl, .obj or .amf (\"%.100s\")",
			 field, name);
		return FILE_NAME_TYPE;
	}
	return FILE_NAME_OK;
}

enum api_err file_check_filename(struct req *r, const char *field, const char *name)
{
	char why[256];
	switch (name_fault(field, name, why, sizeof why)) {
	case FILE_NAME_UNSAFE:
		return req_fail(r, E_INVALID_FILENAME, "%s", why);
	case FILE_NAME_TYPE:
		return req_fail(r, E_UNSUPPORTED_FILE_TYPE, "%s", why);
	default:
		return E_OK;
	}
}

/* Splits a client's storage key "{account}/files/{file_id}/{filename}" of the caller's account
 * into file_id and filename: FILE_NAME_OK, FILE_NAME_UNSAFE (a malformed key: the problem is
 * recorded on field) or FILE_NAME_TYPE (400 UNSUPPORTED_FILE_TYPE answered). */
int file_parse_key(struct req *r, const char *field, const char *key,
		     char file_id[UUID_LEN + 1], const char **filename)
{
	size_t alen = strlen(r->account_id);
	const char *id = NULL;
	if (strncmp(key, r->account_id, alen) == 0 && strncmp(key + alen, "/files/", 7) == 0)
		id = key + alen + 7;
	if (!id || strlen(id) < UUID_LEN + 2 || id[UUID_LEN] != '/' || !storage_key_valid(key)) {
		req_problem(r, field, "%s must be a storage_key returned by POST /files/upload-url"
			    " for this account", field);
		return FILE_NAME_UNSAFE;
	}
	memcpy(file_id, id, UUID_LEN);
	file_id[UUID_LEN] = '\0';
	*filename = id + UUID_LEN + 1;
	if (!util_is_uuid(file_id) || strchr(*filename, '/')) {
		req_problem(r, field, "%s must be a storage_key returned by POST /files/upload-url"
			    " for this account", field);
		return FILE_NAME_UNSAFE;
	}
	char why[256];
	int fault = name_fault(field, *filename, why, sizeof why);
	if (fault == FILE_NAME_UNSAFE)
		req_problem(r, field, "%s", why);
	else if (fault == FILE_NAME_TYPE)
		req_fail(r, E_UNSUPPORTED_FILE_TYPE, "%s", why);
	return fault;
}

enum api_err file_not_uploaded(struct req *r)
{
	return req_fail(r, E_FILE_NOT_UPLOADED, "Nothing has been uploaded to storage_key yet: PUT"
			" the file to the upload_url first");
}

/* STORAGE_QUOTA_EXCEEDED when bytes more bytes and files more objects do not fit q. */
enum api_err file_quota_check(struct req *r, const struct quota *q, long long bytes,
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
int file_row_exists(struct req *r, const struct db_query *q, const char *value, enum api_err *err)
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

void file_object_release(struct file_object *x)
{
	free(x->plates);
	free(x->thumb);
	x->plates = NULL;
	x->thumb = NULL;
}

/* After commit: the new current object's thumbnail becomes the file's (or the previous one is
 * dropped). A failure is only logged: file.extract, queued with the change, writes it again. */
void file_thumb_publish(struct req *r, const char *file_id, const struct file_object *x)
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

unsigned file_object_args(const struct file_object *x, struct db_arg *a)
{
	const struct file_meta *m = &x->meta;
	const int64_t U32 = 4294967295LL;
	unsigned n = 0;
	a[n++] = DS(x->key);
	a[n++] = DS(file_formats[x->format].ext);
	a[n++] = DS(file_formats[x->format].content_type);
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
 * object) also keeps its plate-1 thumbnail for file_thumb_publish. Errors: FILE_NOT_UPLOADED,
 * INVALID_FILE (the parser's sentence), INTERNAL_ERROR. */
enum api_err file_object_extract(struct req *r, const char *file_id, const char *key,
			    const char *filename, int store_thumb, struct file_object *x)
{
	struct meta_thumbs thumbs = { .all_plates = false };
	struct storage_local local;
	char err[512] = "";
	enum api_err rc = E_INTERNAL_ERROR;
	memset(x, 0, sizeof *x);
	snprintf(x->key, sizeof x->key, "%s", key);
	x->format = file_format_of(filename);
	enum storage_status st = storage_local_open(key, &local);
	if (st == STORAGE_MISSING)
		return file_not_uploaded(r);
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
		file_object_release(x);
	return rc;
}

/* The checks of a new object (POST /files, POST /files/{id}/versions) after validation. */
enum api_err file_check_new_object(struct req *r, const char *key)
{
	enum api_err err;
	int used = file_row_exists(r, &Q_KEY_USED, key, &err);
	if (used < 0)
		return err;
	if (used)
		return req_fail(r, E_CONFLICT, "storage_key already holds a file or version: request"
				" a new upload URL for each upload");
	enum storage_status st = storage_stat(key, NULL);
	if (st == STORAGE_MISSING)
		return file_not_uploaded(r);
	return st == STORAGE_OK ? E_OK : E_INTERNAL_ERROR;
}

/* Inside a create's or version's transaction, first: takes the account's storage lock and the
 * upload's row, then refuses when the key became a file or version meanwhile (409 CONFLICT),
 * when the object is gone (400 FILE_NOT_UPLOADED) or was replaced since x parsed it (409
 * CONFLICT: a replay of its token raced this request), and when it does not fit the quota;
 * else claims it: immutable from the commit on. */
enum api_err file_claim_object(struct req *r, const struct file_object *x)
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
		return file_not_uploaded(r);
	if (st != STORAGE_OK)
		return E_INTERNAL_ERROR;
	if (strcmp(tag, x->tag) != 0)
		return req_fail(r, E_CONFLICT, "The upload under storage_key was replaced while it was"
				" being read; retry");
	if ((err = file_quota_check(r, &q, (long long)size, 1)) != E_OK)
		return err;
	return uploads_claim(r->db, x->key, size);
}

/* Queues the full extraction of file_id (run after commit: queue_wake). */
enum api_err file_push_extract(struct req *r, const char *file_id)
{
	json_t *payload = json_pack("{s:s}", "file_id", file_id);
	if (!payload)
		return E_INTERNAL_ERROR;
	enum api_err err = queue_push(r->db, QUEUE_FILE_PROCESSING, "file.extract", r->account_id,
				      payload, NULL, 3, NULL);
	json_decref(payload);
	return err;
}
