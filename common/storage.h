/* storage.h - the file store: the one module that knows where object bytes live.
 *
 * Objects are named by storage keys ('/'-separated segments, see storage_key_valid):
 *   {account}/files/{file_id}/{filename}        an uploaded print file (any version)
 *   {account}/thumbnails/{file_id}.png          a file's thumbnail (its plate 1)
 *   {account}/thumbnails/{file_id}/plate_{n}.png one plate's thumbnail
 *   {account}/images/{product_id}/{image_id}    a product gallery image
 * Callers never build paths or open object files themselves, so an object store (S3, R2) can
 * replace this implementation without touching them. This one keeps each object as the file
 * {file_store}/{key} (conf `file_store`).
 *
 * Writes are atomic: bytes go to an unnamed temporary file on the store's disk (O_TMPFILE, or a
 * named one under {file_store}/.tmp where the file system lacks it) and are renamed over the key
 * only when complete, so a reader never sees a partial object and a broken, truncated or
 * refused write leaves the key's previous object untouched. With conf `file_store_fsync` = 1
 * (the default) a commit reaches the disk before the rename; write-back starts while the bytes
 * still stream in, so the final flush waits for the last few MiB only. */
#ifndef APF_STORAGE_H
#define APF_STORAGE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define STORAGE_KEY_MAX 1280 /* bytes */
#define STORAGE_TAG_MAX 96   /* bytes of a storage_tag, NUL included */

enum storage_status {
	STORAGE_OK = 0,
	STORAGE_MISSING = 1,  /* no object under that key */
	STORAGE_ERROR = -1    /* I/O failure or bad key; logged with its cause */
};

/* 1 when key is well-formed: 1..STORAGE_KEY_MAX bytes of valid UTF-8, segments separated by
 * single '/', none empty or starting with '.', no backslash and no control character. */
int storage_key_valid(const char *key);

/* The key layout above, into out (size bytes): 0, or -1 when it does not fit or is malformed.
 * storage_thumb_key with plate 0 names the file's thumbnail, plate n >= 1 that plate's. */
int storage_file_key(const char *account, const char *file_id, const char *filename, char *out,
		     size_t size);
int storage_thumb_key(const char *account, const char *file_id, int plate, char *out,
		      size_t size);
int storage_image_key(const char *account, const char *product_id, const char *image_id,
		      char *out, size_t size);

/* A write in progress. Zero it (or use a failed storage_begin's) before calling storage_abort. */
struct storage_writer {
	int open;             /* 1 between storage_begin and commit / abort */
	int fd;
	int durable;          /* conf file_store_fsync: flush to disk before the rename */
	uint64_t size;        /* bytes appended so far */
	uint64_t flushed;     /* bytes whose write-back was started (durable writes) */
	char key[STORAGE_KEY_MAX + 1];
	char tmp[PATH_MAX];   /* named temporary ("" with O_TMPFILE) */
};

/* Starts writing the object key (created or replaced at commit). */
enum storage_status storage_begin(struct storage_writer *w, const char *key);
enum storage_status storage_append(struct storage_writer *w, const void *data, size_t n);
/* Publishes what was written under the key, replacing its previous object. Closes the writer
 * (also on failure, after which the key keeps its previous object). */
enum storage_status storage_commit(struct storage_writer *w);
/* Drops what was written; the key keeps its previous object. Accepts a closed writer. */
void storage_abort(struct storage_writer *w);

/* A whole small object at once (thumbnails), atomically as above. */
enum storage_status storage_put(const char *key, const void *data, size_t n);
/* Size of the object key. */
enum storage_status storage_stat(const char *key, uint64_t *size);
/* An opaque tag of the object's current bytes (tag[STORAGE_TAG_MAX]) and their size: every
 * commit under the key yields a new tag (an object store's ETag / version id; here the file's
 * identity and change time). Two equal tags mean the bytes did not change in between. */
enum storage_status storage_tag(const char *key, char *tag, uint64_t *size);
/* Reads the whole object key into *data (malloc'd, caller frees) when it has at most max bytes;
 * a larger object is STORAGE_ERROR. */
enum storage_status storage_get(const char *key, size_t max, unsigned char **data, size_t *len);
/* Lower-case hex SHA-256 (hex[65]) and size of the object key, read in 1 MiB pieces. */
enum storage_status storage_sha256(const char *key, char *hex, uint64_t *size);
/* Deletes the object key; a missing one is STORAGE_MISSING. */
enum storage_status storage_remove(const char *key);
/* After removing the last object under a key's parent ({account}/files/{file_id}/): removes that
 * folder when it is empty. Best effort (an object store has no folders). Only for keys nobody
 * writes under any more: a concurrent write into the same folder could lose its parent. */
void storage_prune(const char *key);

/* The object's bytes as a local file, for readers that need a path (the metadata parser). Here
 * the path is the object file itself; an object store would download a temporary copy. The
 * file must be treated as read-only and released with storage_local_close. */
struct storage_local {
	char path[PATH_MAX];
	int temp; /* 1 when path is a copy to delete at close */
};
enum storage_status storage_local_open(const char *key, struct storage_local *l);
void storage_local_close(struct storage_local *l);

/* Scratch space for bytes that are never stored (POST /files/parse-metadata): an unnamed file on
 * the store's disk, so a 100 MiB body does not land in memory (or a RAM-backed /tmp). Returns
 * its descriptor (the file vanishes when it is closed) and writes a path that opens it
 * ("/proc/self/fd/N") into path, or -1. */
int storage_scratch(char *path, size_t pathsz);

#endif
