/* product_images.c - a product's gallery:
 *   GET    /products/{id}/images              the gallery (Image list, gallery order)
 *   POST   /products/{id}/images              multipart part `image` -> 201 Image
 *   GET    /products/{id}/images/{imageId}    the bytes, with the type recorded at upload
 *   DELETE /products/{id}/images/{imageId}    the row and its object -> the remaining gallery
 *   PUT    /products/{id}/images/order        {"order": [ids]} -> the renumbered gallery
 * The bytes live in common/storage.c under {account}/images/{product}/{image}; the type is
 * sniffed from them (common/imgtype.c), never taken from the client. The product's image_url
 * and images are read from the same rows (fcgi/resources.h), so they follow every change.
 * docs/catalog.md, "Product images", has the choices. */
#include "resources.h"
#include "idem.h"

#include "admit.h"
#include "imgtype.h"
#include "jhelp.h"
#include "log.h"
#include "multipart.h"
#include "storage.h"
#include "uploads.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define IMAGE_MAX_BYTES (5LL * 1024 * 1024)
#define IMAGE_CAP 20
#define ENVELOPE_BYTES (64 * 1024) /* the multipart framing around the image */

static const struct db_query Q_GALLERY = {
	"SELECT " IMAGES_JSON_SQL("i.product_id = ? AND i.account_id = ?")
};
static const struct db_query Q_PRODUCT_LOCK = {
	"SELECT id FROM products WHERE id = ? AND account_id = ? FOR UPDATE"
};
static const struct db_query Q_IMAGE_STATS = {
	"SELECT COUNT(*), COALESCE(MAX(sort_order) + 1, 0) FROM product_images"
	" WHERE product_id = ? AND account_id = ?"
};
static const struct db_query Q_IMAGE_INSERT = {
	"INSERT INTO product_images (id, account_id, product_id, storage_key, content_type,"
	" size_bytes, sort_order) VALUES (?, ?, ?, ?, ?, ?, ?)"
};
static const struct db_query Q_IMAGE_GET = {
	"SELECT storage_key, content_type FROM product_images"
	" WHERE id = ? AND product_id = ? AND account_id = ?"
};
static const struct db_query Q_IMAGE_DELETE = {
	"DELETE FROM product_images WHERE id = ? AND product_id = ? AND account_id = ?"
};
static const struct db_query Q_IMAGE_IDS = {
	"SELECT id FROM product_images WHERE product_id = ? AND account_id = ?"
};
static const struct db_query Q_IMAGE_SORT = {
	"UPDATE product_images SET sort_order = ? WHERE id = ? AND product_id = ? AND account_id = ?"
};

/* Answers the product's gallery (status 200). */
static enum api_err reply_gallery(struct req *r, const char *product)
{
	struct db_res res;
	enum api_err err = db_exec(r->db, &Q_GALLERY, DB_ARGS(DS(product), DS(r->account_id)), &res);
	if (err)
		return err;
	char *text = res.nrows && db_get(&res, 0, 0) ? strdup(db_get(&res, 0, 0)) : NULL;
	db_res_free(&res);
	return req_ok_text(r, text);
}

/* Inside a transaction: locks the product row (serialises the gallery's changes), or 404. */
static enum api_err lock_product(struct req *r, struct db *db, const char *product)
{
	struct db_res res;
	enum api_err err = db_exec(db, &Q_PRODUCT_LOCK, DB_ARGS(DS(product), DS(r->account_id)),
				   &res);
	int found = !err && res.nrows > 0;
	db_res_free(&res);
	if (err)
		return err;
	return found ? E_OK : req_fail(r, E_PRODUCT_NOT_FOUND, "Product %s not found", product);
}

enum api_err product_images_list(struct req *r)
{
	const char *product = req_param(r, "id");
	enum api_err err = res_exists(r, &product_res, product);
	if (err)
		return err == E_PRODUCT_NOT_FOUND
			       ? req_fail(r, err, "Product %s not found", product) : err;
	return reply_gallery(r, product);
}

/* ---- upload ---- */

/* The image part streams into the store's writer; its first bytes are kept for the sniffing. */
struct image_sink {
	struct storage_writer w;
	unsigned char head[IMGTYPE_SNIFF_BYTES];
	int over_limit, io_error;
};

static int to_store(void *ctx, const void *data, size_t len)
{
	struct image_sink *s = ctx;
	if (s->w.size + len > (uint64_t)IMAGE_MAX_BYTES) {
		s->over_limit = 1;
		return -1;
	}
	if (s->w.size < sizeof s->head) {
		size_t n = sizeof s->head - (size_t)s->w.size;
		memcpy(s->head + s->w.size, data, n < len ? n : len);
	}
	if (storage_append(&s->w, data, len) != STORAGE_OK) {
		s->io_error = 1;
		return -1;
	}
	return 0;
}

struct insert_txn {
	struct req *r;
	const char *product, *id, *key, *type;
	long long size, sort_order;
};

static enum api_err insert_txn(struct db *db, void *ctx)
{
	struct insert_txn *t = ctx;
	struct req *r = t->r;
	struct quota q;
	struct db_res res;
	enum api_err err = uploads_quota_lock(db, r->account_id, NULL, &q);
	if (!err)
		err = lock_product(r, db, t->product);
	if (err)
		return err;
	if (uploads_quota_fits(&q, t->size, 1) != QUOTA_FITS)
		return req_fail(r, E_STORAGE_QUOTA_EXCEEDED, "Storage quota exceeded: the account"
				" stores %lld bytes in %lld objects (limits %lld bytes, %lld objects;"
				" 0 = none)", q.used_bytes, q.used_files, q.max_bytes, q.max_files);
	if ((err = db_exec(db, &Q_IMAGE_STATS, DB_ARGS(DS(t->product), DS(r->account_id)), &res)))
		return err;
	long long count = db_get_int(&res, 0, 0, 0);
	t->sort_order = db_get_int(&res, 0, 1, 0);
	db_res_free(&res);
	if (count >= IMAGE_CAP)
		return req_fail(r, E_IMAGE_CAP_REACHED, "Product already has %lld images (at most %d)",
				count, IMAGE_CAP);
	if ((err = db_exec(db, &Q_IMAGE_INSERT,
			   DB_ARGS(DS(t->id), DS(r->account_id), DS(t->product), DS(t->key),
				   DS(t->type), DI(t->size), DI(t->sort_order)), NULL)) != E_OK)
		return err;
	char url[256];
	snprintf(url, sizeof url, "/v1/products/%s/images/%s", t->product, t->id);
	if ((err = req_created(r, json_pack("{s:s, s:I, s:s}", "id", t->id, "sort_order",
					    (json_int_t)t->sort_order, "url", url))) != E_OK)
		return err;
	return idem_store_answer(r); /* the Idempotency-Key answer commits with the row */
}

static enum api_err too_large(struct req *r)
{
	return req_fail(r, E_FILE_TOO_LARGE, "image exceeds the %lld-byte (5 MiB) limit",
			IMAGE_MAX_BYTES);
}

/* What the multipart read of the image part ended with, as an answer (E_OK: bytes in s). */
static enum api_err read_outcome(struct req *r, const struct body_reader *br,
				 const struct image_sink *s, enum multipart_err me, const char *msg)
{
	if (br->timed_out)
		return admit_body_timeout(r, br, "nothing was stored");
	if (s->over_limit || me == MP_ETOO_LARGE)
		return too_large(r);
	if (me == MP_ENOFILE)
		return req_fail(r, E_NO_FILE, "image is required: a multipart part named \"image\""
				" with a filename");
	if (me != MP_OK && s->io_error) {
		log_error("request %s: writing an image to the store failed", r->request_id);
		return E_INTERNAL_ERROR;
	}
	if (me != MP_OK)
		return req_fail(r, E_INVALID_REQUEST, "Malformed multipart body: %s", msg);
	return E_OK;
}

enum api_err product_images_upload(struct req *r)
{
	const char *product = req_param(r, "id");
	const char *ctype = FCGX_GetParam("CONTENT_TYPE", r->fcgi->envp);
	const char *clen = FCGX_GetParam("CONTENT_LENGTH", r->fcgi->envp);
	struct multipart_limits lim = multipart_default_limits();
	char boundary[MULTIPART_BOUNDARY_MAX + 1], msg[512] = "", filename[256];
	char id[UUID_LEN + 1], key[STORAGE_KEY_MAX + 1];
	lim.max_body = (uint64_t)IMAGE_MAX_BYTES + ENVELOPE_BYTES;
	if (multipart_boundary(ctype ? ctype : "", boundary, sizeof boundary, msg, sizeof msg) !=
	    MP_OK)
		return req_fail(r, E_INVALID_CONTENT_TYPE, "Content-Type must be multipart/form-data"
				" with a boundary, carrying the image in a part named \"image\"");
	if (clen && strtoull(clen, NULL, 10) > lim.max_body)
		return too_large(r);
	enum api_err err = res_exists(r, &product_res, product);
	if (err)
		return err == E_PRODUCT_NOT_FOUND
			       ? req_fail(r, err, "Product %s not found", product) : err;
	if (util_uuid(id) < 0 ||
	    storage_image_key(r->account_id, product, id, key, sizeof key) < 0)
		return E_INTERNAL_ERROR;
	if ((err = admit_upload(r)) != E_OK)
		return err;
	struct image_sink s = { 0 };
	if (storage_begin(&s.w, key) != STORAGE_OK)
		return E_INTERNAL_ERROR;
	struct body_reader br;
	body_reader_init(&br, r->fcgi);
	idem_hash_body(r, &br);
	enum multipart_err me = multipart_read_file(ctype, body_pull, &br, "image", &lim, to_store,
						    &s, filename, sizeof filename, msg, sizeof msg);
	err = read_outcome(r, &br, &s, me, msg);
	/* the body read: its Idempotency-Key record, fingerprinted with the bytes (a replay or
	 * a key in use keeps nothing) */
	if (!err && ((err = idem_claim_streamed(r)) != E_OK || r->idem.replay)) {
		storage_abort(&s.w);
		return err;
	}
	const char *type = err ? NULL : imgtype_sniff(s.head, (size_t)s.w.size);
	if (!err && !type)
		err = req_fail(r, E_INVALID_FILE_TYPE, "image must be a JPEG, PNG, WebP or GIF (its"
			       " bytes are none of them, whatever the declared type)");
	if (err) {
		storage_abort(&s.w);
		return err;
	}
	struct insert_txn t = { r, product, id, key, type, (long long)s.w.size, 0 };
	if (storage_commit(&s.w) != STORAGE_OK)
		return E_INTERNAL_ERROR;
	if ((err = db_txn(r->db, insert_txn, &t)) != E_OK)
		storage_remove(key); /* the row never existed: nobody can reach the object */
	return err; /* the answer: insert_txn's */
}

/* ---- download, delete ---- */

/* The image's storage key and type (404 for the product first, then for the image). */
static enum api_err image_row(struct req *r, char *key, size_t keysz, char *type, size_t typesz)
{
	const char *product = req_param(r, "id"), *image = req_param(r, "imageId");
	struct db_res res;
	enum api_err err = res_exists(r, &product_res, product);
	if (err)
		return err == E_PRODUCT_NOT_FOUND
			       ? req_fail(r, err, "Product %s not found", product) : err;
	if ((err = db_exec(r->db, &Q_IMAGE_GET,
			   DB_ARGS(DS(image), DS(product), DS(r->account_id)), &res)))
		return err;
	int found = res.nrows > 0;
	if (found) {
		snprintf(key, keysz, "%s", db_get(&res, 0, 0));
		snprintf(type, typesz, "%s", db_get(&res, 0, 1));
	}
	db_res_free(&res);
	return found ? E_OK
		     : req_fail(r, E_IMAGE_NOT_FOUND, "Image %s not found in product %s", image,
				product);
}

enum api_err product_images_get(struct req *r)
{
	char key[STORAGE_KEY_MAX + 1];
	enum api_err err = image_row(r, key, sizeof key, r->raw_type, sizeof r->raw_type);
	if (err)
		return err;
	int st = req_stored_object(r, key, (size_t)IMAGE_MAX_BYTES);
	if (st == STORAGE_MISSING)
		return req_fail(r, E_IMAGE_NOT_FOUND, "Image %s has no stored bytes",
				req_param(r, "imageId"));
	return st == STORAGE_OK ? E_OK : E_INTERNAL_ERROR;
}

struct delete_txn {
	struct req *r;
};

static enum api_err delete_txn(struct db *db, void *ctx)
{
	struct delete_txn *t = ctx;
	struct req *r = t->r;
	const char *product = req_param(r, "id"), *image = req_param(r, "imageId");
	enum api_err err = lock_product(r, db, product);
	if (err || (err = db_exec(db, &Q_IMAGE_DELETE,
				  DB_ARGS(DS(image), DS(product), DS(r->account_id)), NULL)))
		return err;
	return db_affected(db) ? E_OK
			       : req_fail(r, E_IMAGE_NOT_FOUND, "Image %s not found in product %s",
					  image, product);
}

enum api_err product_images_delete(struct req *r)
{
	char key[STORAGE_KEY_MAX + 1], type[64];
	enum api_err err = image_row(r, key, sizeof key, type, sizeof type);
	struct delete_txn t = { r };
	if (err || (err = db_txn(r->db, delete_txn, &t)) != E_OK)
		return err;
	if (storage_remove(key) == STORAGE_ERROR) /* the row is gone: a leftover is unreachable */
		log_error("request %s: removing image object %s failed", r->request_id, key);
	storage_prune(key);
	return reply_gallery(r, req_param(r, "id"));
}

/* ---- reorder ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 when the ids of order are exactly the ids of res (column 0), each once: the same count and
 * the same sorted lists (res's ids are distinct, so a duplicate in order shows as a mismatch). */
static int is_permutation(json_t *order, const struct db_res *res)
{
	size_t n = json_array_size(order);
	if (n != res->nrows || n > IMAGE_CAP)
		return 0;
	const char *a[IMAGE_CAP] = { NULL }, *b[IMAGE_CAP] = { NULL };
	for (size_t i = 0; i < n; i++) {
		a[i] = json_string_value(json_array_get(order, i));
		b[i] = db_get(res, i, 0);
	}
	qsort(a, n, sizeof a[0], cmp_str);
	qsort(b, n, sizeof b[0], cmp_str);
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

static enum api_err order_txn(struct db *db, void *ctx)
{
	struct req *r = ctx;
	const char *product = req_param(r, "id");
	json_t *order = json_object_get(r->body, "order");
	struct db_res res;
	enum api_err err = lock_product(r, db, product);
	if (err || (err = db_exec(db, &Q_IMAGE_IDS, DB_ARGS(DS(product), DS(r->account_id)), &res)))
		return err;
	int ok = is_permutation(order, &res);
	db_res_free(&res);
	if (!ok)
		return req_fail(r, E_INVALID_ORDER, "order must list each of the product's current"
				" image ids exactly once");
	for (size_t i = 0; i < json_array_size(order); i++)
		if ((err = db_exec(db, &Q_IMAGE_SORT,
				   DB_ARGS(DI(i), DS(json_string_value(json_array_get(order, i))),
					   DS(product), DS(r->account_id)), NULL)))
			return err;
	return E_OK;
}

enum api_err product_images_order(struct req *r)
{
	json_t *order = json_object_get(r->body, "order");
	if (!json_is_array(order))
		req_problem(r, "order", "order is required: an array of image ids");
	else if (json_array_size(order) > IMAGE_CAP)
		req_problem(r, "order", "order has at most %d ids", IMAGE_CAP);
	for (size_t i = 0; json_is_array(order) && i < json_array_size(order); i++)
		if (!json_is_string(json_array_get(order, i)))
			req_problem(r, "order", "order[%zu] must be a string (an image id)", i);
	if (req_invalid(r))
		return E_VALIDATION_ERROR;
	enum api_err err = db_txn(r->db, order_txn, r);
	return err ? err : reply_gallery(r, req_param(r, "id"));
}
