/* storage.c - the file store on a local file system (see storage.h). */
#include "storage.h"

#include "cfg.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MODE 0750
#define FILE_MODE 0640
#define WRITEBACK_STEP (8u << 20) /* start write-back of every 8 MiB appended */

int storage_key_valid(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (n == 0 || n > STORAGE_KEY_MAX || !util_utf8_valid(key, n))
		return 0;
	int seg_start = 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)key[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			return 0;
		if (seg_start && (c == '/' || c == '.'))
			return 0; /* empty segment, leading '/', or a segment starting with '.' */
		seg_start = c == '/';
	}
	return !seg_start; /* no trailing '/' */
}

static int key_done(int n, char *out, size_t size)
{
	if (n < 0 || (size_t)n >= size || !storage_key_valid(out)) {
		if (size)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

int storage_file_key(const char *account, const char *file_id, const char *filename, char *out,
		     size_t size)
{
	return key_done(snprintf(out, size, "%s/files/%s/%s", account, file_id, filename), out,
			size);
}

int storage_thumb_key(const char *account, const char *file_id, int plate, char *out,
		      size_t size)
{
	int n = plate > 0 ? snprintf(out, size, "%s/thumbnails/%s/plate_%d.png", account, file_id,
				     plate)
			  : snprintf(out, size, "%s/thumbnails/%s.png", account, file_id);
	return key_done(n, out, size);
}

int storage_image_key(const char *account, const char *product_id, const char *image_id,
		      char *out, size_t size)
{
	return key_done(snprintf(out, size, "%s/images/%s/%s", account, product_id, image_id), out,
			size);
}

/* {file_store}/{key} into out; the key is checked first. */
static int object_path(const char *key, char *out, size_t size)
{
	const char *root = cfg_str("file_store", NULL);
	if (!root) {
		log_error("storage: conf file_store is not set");
		return -1;
	}
	if (!storage_key_valid(key)) {
		log_error("storage: refusing malformed key \"%.80s\"", key ? key : "");
		return -1;
	}
	int n = snprintf(out, size, "%s/%s", root, key);
	if (n < 0 || (size_t)n >= size) {
		log_error("storage: path of key \"%.80s\" is too long", key);
		return -1;
	}
	return 0;
}

/* Creates the directories above the last '/' of path, from the store's root down. */
static int make_parents(char *path)
{
	const char *root = cfg_str("file_store", "");
	size_t skip = strlen(root);
	char *last = strrchr(path, '/');
	for (char *p = path + skip + 1; last && p < last; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, DIR_MODE);
		*p = '/';
		if (rc < 0 && errno != EEXIST)
			return -1;
	}
	if (!last)
		return 0;
	*last = '\0';
	int rc = mkdir(path, DIR_MODE);
	*last = '/';
	return rc < 0 && errno != EEXIST ? -1 : 0;
}

/* {file_store}/.tmp, created when missing. */
static int tmp_dir(char *out, size_t size)
{
	const char *root = cfg_str("file_store", NULL);
	if (!root) {
		log_error("storage: conf file_store is not set");
		return -1;
	}
	int n = snprintf(out, size, "%s/.tmp", root);
	if (n < 0 || (size_t)n >= size)
		return -1;
	if ((mkdir(root, DIR_MODE) < 0 && errno != EEXIST) ||
	    (mkdir(out, DIR_MODE) < 0 && errno != EEXIST)) {
		log_error("storage: cannot create %s: %s", out, strerror(errno));
		return -1;
	}
	return 0;
}

/* A fresh unique name under {file_store}/.tmp. */
static int tmp_name(char *out, size_t size)
{
	char dir[PATH_MAX], rnd[17];
	if (tmp_dir(dir, sizeof dir) < 0 || util_random_hex(rnd, 8) < 0)
		return -1;
	int n = snprintf(out, size, "%s/%ld-%s", dir, (long)getpid(), rnd);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

enum storage_status storage_begin(struct storage_writer *w, const char *key)
{
	char dir[PATH_MAX];
	memset(w, 0, sizeof *w);
	w->fd = -1;
	if (!storage_key_valid(key)) {
		log_error("storage: refusing malformed key \"%.80s\"", key ? key : "");
		return STORAGE_ERROR;
	}
	snprintf(w->key, sizeof w->key, "%s", key);
	w->durable = cfg_int("file_store_fsync", 1) != 0;
	if (tmp_dir(dir, sizeof dir) < 0)
		return STORAGE_ERROR;
	/* unnamed until commit: a crash mid-write leaves nothing behind */
	w->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, FILE_MODE);
	if (w->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		if (tmp_name(w->tmp, sizeof w->tmp) < 0)
			return STORAGE_ERROR;
		w->fd = open(w->tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, FILE_MODE);
	}
	if (w->fd < 0) {
		log_error("storage: cannot create a temporary file in %s: %s", dir, strerror(errno));
		w->tmp[0] = '\0';
		return STORAGE_ERROR;
	}
	w->open = 1;
	return STORAGE_OK;
}

enum storage_status storage_append(struct storage_writer *w, const void *data, size_t n)
{
	const char *p = data;
	if (!w->open)
		return STORAGE_ERROR;
	while (n > 0) {
		ssize_t got = write(w->fd, p, n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			log_error("storage: writing \"%.80s\" failed: %s", w->key, strerror(errno));
			return STORAGE_ERROR;
		}
		p += got;
		n -= (size_t)got;
		w->size += (uint64_t)got;
	}
	if (w->durable && w->size - w->flushed >= WRITEBACK_STEP) {
		/* asynchronous: the disk works while the next bytes arrive */
		sync_file_range(w->fd, (off_t)w->flushed, (off_t)(w->size - w->flushed),
				SYNC_FILE_RANGE_WRITE);
		w->flushed = w->size;
	}
	return STORAGE_OK;
}

void storage_abort(struct storage_writer *w)
{
	if (!w->open)
		return;
	close(w->fd);
	if (w->tmp[0])
		unlink(w->tmp);
	w->fd = -1;
	w->tmp[0] = '\0';
	w->open = 0;
}

/* Flushes the directory entry of path's parent (after a rename into it). */
static void sync_parent(char *path)
{
	char *slash = strrchr(path, '/');
	if (!slash)
		return;
	*slash = '\0';
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*slash = '/';
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

enum storage_status storage_commit(struct storage_writer *w)
{
	char dst[PATH_MAX];
	int durable = w->durable;
	if (!w->open)
		return STORAGE_ERROR;
	if (object_path(w->key, dst, sizeof dst) < 0)
		goto fail;
	if (durable && fdatasync(w->fd) < 0) {
		log_error("storage: fdatasync of \"%.80s\" failed: %s", w->key, strerror(errno));
		goto fail;
	}
	if (!w->tmp[0]) {
		/* O_TMPFILE: give it a name in .tmp first; rename then replaces the key atomically */
		char self[64];
		snprintf(self, sizeof self, "/proc/self/fd/%d", w->fd);
		if (tmp_name(w->tmp, sizeof w->tmp) < 0 ||
		    linkat(AT_FDCWD, self, AT_FDCWD, w->tmp, AT_SYMLINK_FOLLOW) < 0) {
			log_error("storage: cannot link the temporary of \"%.80s\": %s", w->key,
				  strerror(errno));
			w->tmp[0] = '\0';
			goto fail;
		}
	}
	if (make_parents(dst) < 0 || rename(w->tmp, dst) < 0) {
		log_error("storage: cannot move \"%.80s\" into place: %s", w->key, strerror(errno));
		goto fail;
	}
	w->tmp[0] = '\0';
	if (durable)
		sync_parent(dst);
	close(w->fd);
	w->fd = -1;
	w->open = 0;
	return STORAGE_OK;
fail:
	storage_abort(w);
	return STORAGE_ERROR;
}

enum storage_status storage_put(const char *key, const void *data, size_t n)
{
	struct storage_writer w;
	if (storage_begin(&w, key) != STORAGE_OK)
		return STORAGE_ERROR;
	if (storage_append(&w, data, n) != STORAGE_OK) {
		storage_abort(&w);
		return STORAGE_ERROR;
	}
	return storage_commit(&w);
}

/* stat of key's object: STORAGE_OK (a regular file), STORAGE_MISSING, or STORAGE_ERROR (logged). */
static enum storage_status stat_object(const char *key, struct stat *st)
{
	char path[PATH_MAX];
	if (object_path(key, path, sizeof path) < 0)
		return STORAGE_ERROR;
	if (stat(path, st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return STORAGE_MISSING;
		log_error("storage: stat of \"%.80s\" failed: %s", key, strerror(errno));
		return STORAGE_ERROR;
	}
	return S_ISREG(st->st_mode) ? STORAGE_OK : STORAGE_MISSING;
}

enum storage_status storage_stat(const char *key, uint64_t *size)
{
	struct stat st;
	enum storage_status rc = stat_object(key, &st);
	if (rc == STORAGE_OK && size)
		*size = (uint64_t)st.st_size;
	return rc;
}

enum storage_status storage_tag(const char *key, char *tag, uint64_t *size)
{
	struct stat st;
	tag[0] = '\0';
	enum storage_status rc = stat_object(key, &st);
	if (rc != STORAGE_OK)
		return rc;
	/* a commit renames a new file over the key: another inode, a later change time */
	snprintf(tag, STORAGE_TAG_MAX, "%llx:%llx:%llx:%lld.%09ld", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino, (unsigned long long)st.st_size,
		 (long long)st.st_ctim.tv_sec, (long)st.st_ctim.tv_nsec);
	if (size)
		*size = (uint64_t)st.st_size;
	return STORAGE_OK;
}

enum storage_status storage_get(const char *key, size_t max, unsigned char **data, size_t *len)
{
	char path[PATH_MAX];
	struct stat st;
	*data = NULL;
	*len = 0;
	if (object_path(key, path, sizeof path) < 0)
		return STORAGE_ERROR;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return STORAGE_MISSING;
		log_error("storage: cannot open \"%.80s\": %s", key, strerror(errno));
		return STORAGE_ERROR;
	}
	enum storage_status rc = STORAGE_ERROR;
	unsigned char *buf = NULL;
	size_t got = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		log_error("storage: \"%.80s\" is not a regular file of at most %zu bytes", key, max);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1)))
		goto out;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error("storage: reading \"%.80s\" failed: %s", key,
				  n < 0 ? strerror(errno) : "short file");
			goto out;
		}
		got += (size_t)n;
	}
	*data = buf;
	*len = got;
	buf = NULL;
	rc = STORAGE_OK;
out:
	free(buf);
	close(fd);
	return rc;
}

enum storage_status storage_sha256(const char *key, char *hex, uint64_t *size)
{
	enum { PIECE = 1 << 20 };
	char path[PATH_MAX];
	unsigned char md[32], *buf = NULL;
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = NULL;
	enum storage_status rc = STORAGE_ERROR;
	*size = 0;
	if (object_path(key, path, sizeof path) < 0)
		return STORAGE_ERROR;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? STORAGE_MISSING : STORAGE_ERROR;
	if (!(buf = malloc(PIECE)) || !(c = EVP_MD_CTX_new()) ||
	    !EVP_DigestInit_ex(c, EVP_sha256(), NULL))
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf, PIECE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("storage: reading \"%.80s\" failed: %s", key, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (!EVP_DigestUpdate(c, buf, (size_t)n))
			goto out;
		*size += (uint64_t)n;
	}
	if (!EVP_DigestFinal_ex(c, md, &mdlen) || mdlen != sizeof md)
		goto out;
	for (size_t i = 0; i < sizeof md; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	rc = STORAGE_OK;
out:
	EVP_MD_CTX_free(c);
	free(buf);
	close(fd);
	return rc;
}

enum storage_status storage_remove(const char *key)
{
	char path[PATH_MAX];
	if (object_path(key, path, sizeof path) < 0)
		return STORAGE_ERROR;
	if (unlink(path) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return STORAGE_MISSING;
		log_error("storage: cannot remove \"%.80s\": %s", key, strerror(errno));
		return STORAGE_ERROR;
	}
	return STORAGE_OK;
}

void storage_prune(const char *key)
{
	char path[PATH_MAX];
	if (object_path(key, path, sizeof path) < 0)
		return;
	char *slash = strrchr(path, '/');
	if (!slash)
		return;
	*slash = '\0';
	if (rmdir(path) < 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
		log_warn("storage: cannot remove the folder of \"%.80s\": %s", key, strerror(errno));
}

enum storage_status storage_local_open(const char *key, struct storage_local *l)
{
	memset(l, 0, sizeof *l);
	enum storage_status rc = storage_stat(key, NULL);
	if (rc != STORAGE_OK)
		return rc;
	return object_path(key, l->path, sizeof l->path) < 0 ? STORAGE_ERROR : STORAGE_OK;
}

void storage_local_close(struct storage_local *l)
{
	if (l->temp && l->path[0])
		unlink(l->path);
	memset(l, 0, sizeof *l);
}

int storage_scratch(char *path, size_t pathsz)
{
	char dir[PATH_MAX], name[PATH_MAX];
	if (tmp_dir(dir, sizeof dir) < 0)
		return -1;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) &&
	    tmp_name(name, sizeof name) == 0) {
		fd = open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0)
			unlink(name);
	}
	if (fd < 0) {
		log_error("storage: cannot create a scratch file in %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(path, pathsz, "/proc/self/fd/%d", fd);
	return fd;
}
