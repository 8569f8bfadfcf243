/* files.c - Print files (docs/files.md): the records.
 *
 *   GET /files, POST /files, GET /files/{id}, GET /files/{id}/thumbnail
 *   GET /files/{id}/versions (nested list)
 *
 * (the lists and the detail: the generic handlers, fcgi/routes.def; fields: fcgi/files.def and
 * fcgi/file_versions.def). Getting bytes in: fcgi/file_uploads.c; versions:
 * fcgi/file_versions.c; what they share about objects: fcgi/file_objects.c (fcgi/files.h).
 *
 * Creating a file, adding a current version and promoting one parse the object synchronously
 * (metadata and the plate-1 thumbnail are in the response) and queue FILE_PROCESSING
 * `file.extract` (workers/file_processing.c: checksum, every plate's thumbnail) after commit.
 * Storage keys and paths appear in no response except upload-url's. */
#include "files.h"
#include "idem.h"

#include "queue.h"

#include <stdio.h>
#include <string.h>

#define THUMB_MAX (16 * 1024 * 1024)  /* largest thumbnail served (the parser keeps <= 8 MiB) */

static const struct db_query Q_NAME_TAKEN = {
	"SELECT 1 FROM print_files WHERE account_id = ? AND name = ?"
};
static const struct db_query Q_PRODUCT_EXISTS = {
	"SELECT 1 FROM products WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_THUMBNAIL = {
	"SELECT thumbnail_storage_key, thumbnail_content_type, plate_count FROM print_files"
	" WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_FILE_INSERT = {
	"INSERT INTO print_files SET id = ?, account_id = ?, product_id = ?, name = ?,"
	" number_of_units = ?, " OBJECT_SET
};

static const struct rfield version_fields[] = {
#define FIELD RES_FIELD
#include "file_versions.def"
#undef FIELD
	RES_FIELD_END
};

/* Newest first; nested in the file's detail and listed alone. */
const struct resource file_version_res = {
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
	{ "versions", &file_version_res, RF_LIST, "v.print_file_id = ?", NULL },
	{ NULL, NULL, 0, NULL, NULL }
};

/* Newest first. */
const struct resource file_res = {
	.noun = "file", .table = "print_files", .from = "print_files f", .alias = "f",
	.not_found = E_FILE_NOT_FOUND, .fields = file_fields, .filters = file_filters,
	.order = "f.created_at DESC, f.id DESC", .paging = RP_ALWAYS, .children = file_children,
};

/* The file's row and its version 1, the object claimed, the full extraction queued. */
static enum api_err create_txn(struct db *db, void *ctx)
{
	struct file_txn *t = ctx;
	struct req *r = t->r;
	enum api_err err;
	if ((err = file_claim_object(r, t->x)) != E_OK ||
	    (err = db_exec(db, &Q_FILE_INSERT, t->args, t->nargs, NULL)) != E_OK ||
	    (err = file_version_insert(db, t, 1, NULL, 1)) != E_OK ||
	    (err = file_push_extract(r, t->file_id)) != E_OK ||
	    (err = res_reply(r, &file_res, t->file_id, 1)) != E_OK)
		return err;
	return idem_store_answer(r); /* the Idempotency-Key answer commits with the file */
}

enum api_err files_create(struct req *r)
{
	char file_id[UUID_LEN + 1], version_id[UUID_LEN + 1];
	const char *filename = NULL;
	struct file_object x = { 0 };
	if (res_check_body(r, &file_res, RF_CREATE))
		return E_VALIDATION_ERROR;
	const char *name = jhelp_str(r->body, "name"), *key = jhelp_str(r->body, "storage_key");
	const char *product = jhelp_str(r->body, "product_id");
	json_t *units = json_object_get(r->body, "number_of_units");
	int fault = file_parse_key(r, "storage_key", key, file_id, &filename);
	if (product && !util_is_uuid(product))
		req_problem(r, "product_id", "product_id must be a product id (UUID)");
	if (req_invalid(r))
		return E_VALIDATION_ERROR;
	if (fault == FILE_NAME_TYPE)
		return E_UNSUPPORTED_FILE_TYPE;
	if (strcmp(name, filename) != 0)
		return req_fail(r, E_NAME_MISMATCH, "name must equal the file name in storage_key"
				" (\"%s\")", filename);

	enum api_err err;
	int found;
	if (product && (found = file_row_exists(r, &Q_PRODUCT_EXISTS, product, &err)) <= 0)
		return found < 0 ? err : req_fail(r, E_PRODUCT_NOT_FOUND, "Product %s not found",
						  product);
	if ((found = file_row_exists(r, &Q_NAME_TAKEN, name, &err)) != 0)
		return found < 0 ? err : req_fail(r, E_DUPLICATE_NAME, "A file named \"%s\" already"
						  " exists", name);
	if ((err = file_check_new_object(r, key)) != E_OK ||
	    (err = file_object_extract(r, file_id, key, filename, 1, &x)) != E_OK)
		return err;

	struct db_arg a[OBJECT_NARGS + 5];
	unsigned n = 0;
	a[n++] = DS(file_id);
	a[n++] = DS(r->account_id);
	a[n++] = DS(product);
	a[n++] = DS(name);
	a[n++] = DI(units ? json_integer_value(units) : 1);
	n += file_object_args(&x, a + n);
	struct file_txn t = { .r = r, .x = &x, .file_id = file_id, .version_id = version_id,
			      .key = key, .args = a, .nargs = n };
	if (util_uuid(version_id) < 0)
		err = E_INTERNAL_ERROR;
	else if ((err = db_txn(r->db, create_txn, &t)) == E_OK)
		file_thumb_publish(r, file_id, &x);
	file_object_release(&x);
	if (err == E_CONFLICT && !r->errmsg[0]) /* a concurrent create of the same name won */
		return req_fail(r, E_DUPLICATE_NAME, "A file named \"%s\" already exists", name);
	if (err)
		return err;
	queue_wake();
	return E_OK; /* the answer: create_txn's */
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
