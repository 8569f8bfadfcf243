/* file_uploads.c - Getting a print file's bytes in (docs/files.md):
 *
 *   POST /files/upload-url                      mints an upload token (common/uptoken.c)
 *   PUT  /files/upload/{token}                  streams the body into the store (common/storage.c)
 *   POST /files/parse-metadata                  multipart `file` -> metadata; stores nothing
 *
 * Every upload URL is a file_uploads row (common/uploads.c): the account's storage quota is
 * checked when it is granted and when a PUT stores bytes; a claimed object is immutable (its
 * token's replays get 409 UPLOAD_ALREADY_USED). */
#include "files.h"
#include "idem.h"

#include "admit.h"
#include "cfg.h"
#include "log.h"
#include "multipart.h"
#include "openapi.h"
#include "uptoken.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STREAM_CHUNK (256 * 1024)

static const struct jfield F_UPLOAD_URL[] = {
	{ "filename", JF_STRING, JF_REQUIRED, 1, 255, { NULL } },
	{ "content_type", JF_STRING, 0, 1, 127, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(files_upload_url, F_UPLOAD_URL);

/* A grant's transaction (db_txn). */
struct grant {
	struct req *r;
	const char *key;
	int64_t expires;
};

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

static enum api_err already_used(struct req *r)
{
	return req_fail(r, E_UPLOAD_ALREADY_USED, "This upload already became a file or version and"
			" its bytes cannot change: request a new upload URL for new bytes");
}

/* The upload URL of key, when the account has room for one more object (and a byte). */
static enum api_err grant_txn(struct db *db, void *ctx)
{
	struct grant *t = ctx;
	struct quota q = { 0 };
	enum api_err err = uploads_quota_lock(db, t->r->account_id, NULL, &q);
	if (!err)
		err = file_quota_check(t->r, &q, q.max_bytes > 0 && q.used_bytes >= q.max_bytes ? 1 : 0, 1);
	if (!err)
		err = uploads_grant(db, t->r->account_id, t->key, t->expires);
	/* the answer is set before: the Idempotency-Key record commits with the grant */
	return err ? err : idem_store_answer(t->r);
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
	return err ? err : file_quota_check(r, &q, want, 1);
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
		err = file_quota_check(r, &q, (long long)total, 1);
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
	if (ctype && !mime_ok(ctype))
		req_problem(r, "content_type", "content_type must be a MIME type such as"
			    " application/octet-stream");
	if (req_invalid(r))
		return E_VALIDATION_ERROR;
	enum api_err bad = file_check_filename(r, "filename", filename);
	if (bad)
		return bad;
	if (util_uuid(file_id) < 0 ||
	    storage_file_key(r->account_id, file_id, filename, key, sizeof key) < 0)
		return req_fail(r, E_INTERNAL_ERROR, "cannot build a storage key");
	time_t expires = time(NULL) + UPTOKEN_TTL;
	enum uptoken_status ts = uptoken_mint(cfg_str("upload_secret", NULL), key, expires, token,
					      sizeof token);
	if (ts != UPTOKEN_OK)
		return req_fail(r, E_INTERNAL_ERROR, "cannot mint an upload token (%s)",
				ts == UPTOKEN_NO_SECRET ? "conf upload_secret missing or short" : "key");
	snprintf(url, sizeof url, "%s/files/upload/%s", cfg_str("base_url", "/v1"), token);
	struct tm tm;
	gmtime_r(&expires, &tm);
	strftime(expires_at, sizeof expires_at, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	enum api_err err = req_ok(r, json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}",
					       "file_id", file_id, "filename", filename,
					       "upload_token", token, "content_type",
					       ctype ? ctype
						     : file_formats[file_format_of(filename)].content_type,
					       "expires_in", UPTOKEN_TTL, "expires_at", expires_at,
					       "upload_url", url, "storage_key", key));
	struct grant t = { .r = r, .key = key, .expires = (int64_t)expires };
	return err ? err : db_txn(r->db, grant_txn, &t);
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
	long long max = file_max_upload_bytes(), want = content_length(r);
	if (want > max)
		return file_too_large(r);
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
			err = file_too_large(r);
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

/* 1 when the file at path begins with a ZIP signature (a local file header, or the end record
 * of an empty archive). */
static int starts_as_zip(const char *path)
{
	unsigned char sig[4] = { 0 };
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(sig, 1, sizeof sig, f) : 0;
	if (f)
		fclose(f);
	return n == 4 && sig[0] == 'P' && sig[1] == 'K' &&
	       ((sig[2] == 3 && sig[3] == 4) || (sig[2] == 5 && sig[3] == 6));
}

enum api_err files_parse_metadata(struct req *r)
{
	char path[64], filename[256] = "", err[512] = "";
	struct multipart_limits lim = multipart_default_limits();
	struct scratch s = { .fd = -1, .max = (uint64_t)file_max_upload_bytes() };
	struct file_meta *m = NULL;
	enum api_err rc = E_INTERNAL_ERROR;
	lim.max_body = s.max + (uint64_t)MIB; /* the file plus the multipart envelope */
	if (content_length(r) > (long long)lim.max_body)
		return file_too_large(r);
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
	idem_hash_body(r, &s.br);
	enum multipart_err me = multipart_read_file(ctype, body_pull, &s.br, "file", &lim, to_scratch,
						    &s, filename, sizeof filename, err, sizeof err);
	if (s.br.timed_out) {
		rc = admit_body_timeout(r, &s.br, "nothing was kept");
		goto out;
	}
	if (s.over_limit || me == MP_ETOO_LARGE) {
		rc = file_too_large(r);
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
	/* the body read: its Idempotency-Key record, fingerprinted with the bytes */
	if ((rc = idem_claim_streamed(r)) != E_OK || r->idem.replay)
		goto out;
	rc = E_INTERNAL_ERROR;
	int f = file_format_of(filename);
	if (f < 0 || (strcmp(file_formats[f].ext, "3mf") != 0 &&
		      strcmp(file_formats[f].ext, "gcode") != 0)) {
		rc = req_fail(r, E_INVALID_FILE_TYPE, "Only .3mf and .gcode files carry metadata"
			      " (file name \"%.100s\")", filename);
		goto out;
	}
	if (strcmp(file_formats[f].ext, "3mf") == 0 && !starts_as_zip(path)) {
		rc = req_fail(r, E_INVALID_3MF, "\"%.100s\" is not a ZIP archive: a .3mf file is one",
			      filename);
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
