/* files.h - what the Files group's sources share (fcgi/files.c, fcgi/file_objects.c,
 * fcgi/file_uploads.c, fcgi/file_versions.c): names and storage keys, the synchronous extraction
 * of an object, its claim, the storage quota's answers. docs/files.md describes the behaviour. */
#ifndef APF_FILES_H
#define APF_FILES_H

#include "resources.h"

#include "meta.h"
#include "storage.h"
#include "uploads.h"
#include "util.h"

#include <stddef.h>
#include <stdint.h>

#define MIB (1024LL * 1024LL)

extern const struct resource file_version_res; /* fcgi/files.c; file_res: resources.h */

/* Supported extensions (case-insensitive, the text after the last '.') and their content type;
 * the extension in lower case is also the print_files.file_format value. */
struct file_format {
	const char *ext, *content_type;
};
extern const struct file_format file_formats[];

/* The current object and what the synchronous extraction read from it (file_object_args
 * order). */
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

/* What one object yields for the file row (bound by file_object_args in OBJECT_SET order). */
struct file_object {
	char key[STORAGE_KEY_MAX + 1];
	char tag[STORAGE_TAG_MAX];         /* of the bytes parsed (storage_tag, read before) */
	int format;                        /* file_formats index */
	uint64_t size;
	struct file_meta meta;
	char *plates;                      /* JSON text of the plates array, owned */
	int store_thumb;                   /* the object becomes current: its thumbnail is the file's */
	char thumb_key[STORAGE_KEY_MAX + 1]; /* the file's thumbnail; "" when the object has none */
	unsigned char *thumb;              /* its PNG bytes, owned, stored by file_thumb_publish */
	size_t thumb_len;
};

/* One change of the file store's rows: an attempt of its transaction (db_txn). */
struct file_txn {
	struct req *r;
	const struct file_object *x;   /* the object parsed before (create, version, promote) */
	const char *file_id, *version_id, *key;
	long long number;              /* the version that becomes current (promote) */
	int current;                   /* version: the new one becomes current */
	const struct db_arg *args;     /* create: the file row's insert */
	unsigned nargs;
};

/* fcgi/file_objects.c */
long long file_max_upload_bytes(void);
enum api_err file_too_large(struct req *r);
const char *file_extension(const char *name);
/* Index of name's extension in file_formats, or -1. */
int file_format_of(const char *name);
enum { FILE_NAME_OK, FILE_NAME_UNSAFE, FILE_NAME_TYPE };
/* A client's file name (field): E_OK when it is one safe path segment with a supported extension,
 * else 400 INVALID_FILENAME (unsafe) or 400 UNSUPPORTED_FILE_TYPE answered. */
enum api_err file_check_filename(struct req *r, const char *field, const char *name);
/* Splits a client's storage key of the caller's account into file_id and filename:
 * FILE_NAME_OK; FILE_NAME_UNSAFE (malformed: 422 problem recorded on field); FILE_NAME_TYPE
 * (400 UNSUPPORTED_FILE_TYPE answered). */
int file_parse_key(struct req *r, const char *field, const char *key, char file_id[UUID_LEN + 1],
		   const char **filename);
enum api_err file_not_uploaded(struct req *r);
/* STORAGE_QUOTA_EXCEEDED when bytes more bytes and files more objects do not fit q. */
enum api_err file_quota_check(struct req *r, const struct quota *q, long long bytes,
			      long long files);
/* 1 when q (account, value) finds a row, 0 when not; -1 with *err set on a database error. */
int file_row_exists(struct req *r, const struct db_query *q, const char *value,
		    enum api_err *err);
/* The object key (named filename) of file_id parsed; store_thumb: it becomes current. */
enum api_err file_object_extract(struct req *r, const char *file_id, const char *key,
			  const char *filename, int store_thumb, struct file_object *x);
void file_object_release(struct file_object *x);
/* Binds x in OBJECT_SET order into a (OBJECT_NARGS slots); returns the count. */
unsigned file_object_args(const struct file_object *x, struct db_arg *a);
/* After commit: x's thumbnail becomes the file's (when x became current). */
void file_thumb_publish(struct req *r, const char *file_id, const struct file_object *x);
/* The checks of a new object (POST /files, POST /files/{id}/versions) after validation. */
enum api_err file_check_new_object(struct req *r, const char *key);
/* Inside a create's or version's transaction, first: locks and claims x's object. */
enum api_err file_claim_object(struct req *r, const struct file_object *x);
/* Queues the full extraction of file_id (run after commit: queue_wake). */
enum api_err file_push_extract(struct req *r, const char *file_id);

/* fcgi/file_versions.c: inserts version `number` of t->file_id (object t->key, t->x) inside
 * t's transaction on db. */
enum api_err file_version_insert(struct db *db, const struct file_txn *t, long long number,
				 const char *notes, int current);

#endif
