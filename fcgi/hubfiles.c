/* hubfiles.c - file delivery to hubs (docs/jobs-and-control.md, "File delivery to hubs").
 *
 *   GET|HEAD /hub/v1/files/{file_version_id}
 *   Authorization: Bearer <download token>     (minted by POST /v1/jobs/{id}/start)
 *   X-Hub-Id: <hub id>
 *   Range: bytes=a-b | a- | -n                  (optional; one range)
 *
 * Outside the public /v1 API: no API key, no rate-limit window (nginx shields the location).
 * The token is looked up by its SHA-256; it must name this file version (else 401
 * TOKEN_INVALID), be presented by its hub (else 403 TOKEN_HUB_MISMATCH) while that hub is still
 * claimed by the token's account, and be unexpired (else 410 TOKEN_EXPIRED). It may be reused
 * within its TTL (resume, retry); every use is counted and logged without the token.
 *
 * 200 (or 206 for a range) with Content-Length, Content-Type by format, Accept-Ranges,
 * ETag "sha256:<hex>" and X-Content-SHA256 <hex> of the whole file. The body is streamed from
 * the file store in 64 KiB blocks. */
#include "hubfiles.h"

#include "dispatch.h"
#include "metrics.h"

#include "b64.h"
#include "storage.h"

#include "cfg.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREFIX "/hub/v1/files/"
#define BLOCK (64 * 1024)

static const struct db_query Q_TOKEN = {
	"SELECT t.hub_id, t.file_version_id, t.expires_at <= NOW(3), t.account_id, t.job_id,"
	" IFNULL(h.account_id = t.account_id, 0), t.use_count + 1"
	" FROM hub_file_tokens t LEFT JOIN hubs h ON h.id = t.hub_id WHERE t.token_hash = ?"
};
static const struct db_query Q_TOKEN_USED = {
	"UPDATE hub_file_tokens SET use_count = use_count + 1,"
	" first_used_at = IFNULL(first_used_at, NOW(3)), last_used_at = NOW(3)"
	" WHERE token_hash = ?"
};
static const struct db_query Q_VERSION = {
	"SELECT v.storage_key, v.sha256, f.name, f.file_format FROM print_file_versions v"
	" JOIN print_files f ON f.id = v.print_file_id"
	" WHERE v.id = ? AND v.account_id = ?"
};

/* ---------------------------------------------------------------------- shared helpers */

/* ---------------------------------------------------------------------------- responses */

struct hreq {
	FCGX_Request *fr;
	char request_id[65];
	int head;
};

static void send_error(struct hreq *h, int status, const char *reason, const char *code,
		       const char *msg, const char *extra_header)
{
	json_t *o = json_pack("{s:b, s:s, s:s}", "success", 0, "code", code, "error", msg);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	size_t n = body ? strlen(body) : 0;
	metrics_status(status);
	FCGX_FPrintF(h->fr->out, "Status: %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
		     "Content-Length: %d\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n%s%s\r\n",
		     status, reason, (int)n, h->request_id, extra_header ? extra_header : "",
		     extra_header ? "\r\n" : "");
	if (body && !h->head)
		FCGX_PutStr(body, (int)n, h->fr->out);
	free(body);
}

static const char *content_type(const char *format, const char *name)
{
	const char *dot = name ? strrchr(name, '.') : NULL;
	const char *f = format && *format ? format : dot ? dot + 1 : "";
	if (strcasecmp(f, "3mf") == 0)
		return "application/vnd.ms-package.3dmanufacturing-3dmodel+xml";
	if (strcasecmp(f, "gcode") == 0)
		return "text/x.gcode";
	return "application/octet-stream";
}

/* Parses a single "bytes=" range against size. 1 = range set, 0 = serve whole (absent or
 * ignorable), -1 = unsatisfiable. */
static int parse_range(const char *v, long long size, long long *from, long long *to)
{
	if (!v || strncmp(v, "bytes=", 6) != 0 || strchr(v, ','))
		return 0;
	const char *p = v + 6;
	char *end;
	while (*p == ' ')
		p++;
	if (*p == '-') { /* suffix: the last n bytes */
		if (!isdigit((unsigned char)p[1]))
			return 0;
		errno = 0;
		long long n = strtoll(p + 1, &end, 10);
		if (*end || errno)
			return 0;
		if (n <= 0 || size == 0)
			return -1;
		*from = n >= size ? 0 : size - n;
		*to = size - 1;
		return 1;
	}
	if (!isdigit((unsigned char)*p))
		return 0;
	errno = 0;
	long long a = strtoll(p, &end, 10);
	if (errno || *end != '-')
		return 0;
	p = end + 1;
	long long b = size - 1;
	if (*p) {
		if (!isdigit((unsigned char)*p))
			return 0;
		b = strtoll(p, &end, 10);
		if (*end || errno || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	*from = a;
	*to = b >= size ? size - 1 : b;
	return 1;
}

/* --------------------------------------------------------------------------- the route */

void hubfiles_serve(FCGX_Request *fr, struct db *db)
{
	struct hreq h = { .fr = fr };
	struct db_res res;
	char path_id[UUID_LEN + 1], token[HUBFILE_TOKEN_LEN + 1], hash[SHA256_HEX_LEN + 1];
	char hub[UUID_LEN + 1], version[UUID_LEN + 1], account[UUID_LEN + 1], job[UUID_LEN + 1];
	char key[513], sha[SHA256_HEX_LEN + 1], name[256], format[16];
	if (*log_request()) /* the id dispatch gave this request (its log context) */
		snprintf(h.request_id, sizeof h.request_id, "%s", log_request());
	else
		dispatch_request_id(fr, h.request_id);

	const char *method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
	const char *uri = FCGX_GetParam("REQUEST_URI", fr->envp);
	h.head = method && strcmp(method, "HEAD") == 0;
	size_t ul = uri ? strcspn(uri, "?") : 0;
	size_t pl = strlen(PREFIX);
	if (!uri || ul < pl || strncmp(uri, PREFIX, pl) != 0 ||
	    (ul - pl != UUID_LEN && !(ul - pl == UUID_LEN + 1 && uri[pl + UUID_LEN] == '/'))) {
		send_error(&h, 404, "Not Found", "NOT_FOUND", "No such hub endpoint", NULL);
		return;
	}
	snprintf(path_id, sizeof path_id, "%.*s", UUID_LEN, uri + pl);
	if (!util_is_uuid(path_id)) {
		send_error(&h, 404, "Not Found", "FILE_NOT_FOUND", "File not found", NULL);
		return;
	}
	for (char *c = path_id; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (!method || (strcmp(method, "GET") != 0 && !h.head)) {
		send_error(&h, 405, "Method Not Allowed", "METHOD_NOT_ALLOWED",
			   "Only GET and HEAD are allowed on hub files", "Allow: GET, HEAD");
		return;
	}

	/* the download token */
	const char *auth = FCGX_GetParam("HTTP_AUTHORIZATION", fr->envp);
	const char *www = "WWW-Authenticate: Bearer realm=\"apf-hub\"";
	size_t tl = 0;
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		auth += 7;
		while (*auth == ' ')
			auth++;
		tl = strlen(auth);
	}
	int shaped = tl == HUBFILE_TOKEN_LEN;
	for (size_t i = 0; shaped && i < tl; i++)
		shaped = isalnum((unsigned char)auth[i]) || auth[i] == '-' || auth[i] == '_';
	if (!shaped) {
		send_error(&h, 401, "Unauthorized", "TOKEN_INVALID",
			   "A download token is required: Authorization: Bearer <token>", www);
		return;
	}
	memcpy(token, auth, HUBFILE_TOKEN_LEN + 1);
	util_sha256_hex(token, HUBFILE_TOKEN_LEN, hash);
	if (db_exec(db, &Q_TOKEN, DB_ARGS(DS(hash)), &res) != E_OK) {
		send_error(&h, 503, "Service Unavailable", "SERVICE_UNAVAILABLE",
			   "Database unavailable, try again", NULL);
		return;
	}
	if (res.nrows != 1) {
		db_res_free(&res);
		send_error(&h, 401, "Unauthorized", "TOKEN_INVALID", "Unknown download token", www);
		return;
	}
	snprintf(hub, sizeof hub, "%s", db_get(&res, 0, 0));
	snprintf(version, sizeof version, "%s", db_get(&res, 0, 1));
	int expired = db_get_int(&res, 0, 2, 1) != 0;
	snprintf(account, sizeof account, "%s", db_get(&res, 0, 3));
	snprintf(job, sizeof job, "%s", db_get(&res, 0, 4));
	int claimed = db_get_int(&res, 0, 5, 0) != 0;
	long long use = db_get_int(&res, 0, 6, 1);
	db_res_free(&res);
	const char *hub_hdr = FCGX_GetParam("HTTP_X_HUB_ID", fr->envp);
	if (strcmp(version, path_id) != 0 || !claimed) {
		send_error(&h, 401, "Unauthorized", "TOKEN_INVALID",
			   claimed ? "The download token is not valid for this file"
				   : "The download token's hub is no longer claimed", www);
		return;
	}
	if (!hub_hdr || strcasecmp(hub_hdr, hub) != 0) {
		log_warn("request %s: hub file %s requested with the token of hub %s by %s",
			 h.request_id, path_id, hub, hub_hdr ? LOG_STR(hub_hdr) : "(no X-Hub-Id)");
		send_error(&h, 403, "Forbidden", "TOKEN_HUB_MISMATCH",
			   "The download token belongs to another hub (X-Hub-Id)", NULL);
		return;
	}
	if (expired) {
		send_error(&h, 410, "Gone", "TOKEN_EXPIRED",
			   "The download token has expired; start the job again", NULL);
		return;
	}
	db_exec(db, &Q_TOKEN_USED, DB_ARGS(DS(hash)), NULL);

	/* the object */
	if (db_exec(db, &Q_VERSION, DB_ARGS(DS(version), DS(account)), &res) != E_OK) {
		send_error(&h, 503, "Service Unavailable", "SERVICE_UNAVAILABLE",
			   "Database unavailable, try again", NULL);
		return;
	}
	if (res.nrows != 1 || !db_get(&res, 0, 0)) {
		db_res_free(&res);
		send_error(&h, 404, "Not Found", "FILE_NOT_FOUND", "The file has no stored content",
			   NULL);
		return;
	}
	snprintf(key, sizeof key, "%s", db_get(&res, 0, 0));
	snprintf(sha, sizeof sha, "%s", db_get(&res, 0, 1) ? db_get(&res, 0, 1) : "");
	snprintf(name, sizeof name, "%s", db_get(&res, 0, 2) ? db_get(&res, 0, 2) : "");
	snprintf(format, sizeof format, "%s", db_get(&res, 0, 3) ? db_get(&res, 0, 3) : "");
	db_res_free(&res);
	int fd = -1;
	struct stat st;
	struct storage_local obj;
	if (storage_local_open(key, &obj) != STORAGE_OK ||
	    (fd = open(obj.path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode)) {
		log_error("request %s: hub file %s: object %s cannot be opened: %s", h.request_id,
			  version, key, strerror(errno));
		if (fd >= 0)
			close(fd);
		send_error(&h, 404, "Not Found", "FILE_NOT_FOUND", "The file has no stored content",
			   NULL);
		return;
	}
	storage_local_close(&obj); /* the open descriptor keeps the bytes readable */
	long long size = (long long)st.st_size;
	uint64_t tmp;
	if (strlen(sha) != SHA256_HEX_LEN && storage_sha256(key, sha, &tmp) != STORAGE_OK) {
		close(fd);
		send_error(&h, 500, "Internal Server Error", "INTERNAL_ERROR", "Internal error", NULL);
		return;
	}

	/* Range, unless If-Range names another version */
	long long from = 0, to = size - 1;
	char etag[80];
	snprintf(etag, sizeof etag, "\"sha256:%s\"", sha);
	const char *if_range = FCGX_GetParam("HTTP_IF_RANGE", fr->envp);
	int ranged = if_range && strcmp(if_range, etag) != 0
			     ? 0
			     : parse_range(FCGX_GetParam("HTTP_RANGE", fr->envp), size, &from, &to);
	if (ranged < 0) {
		char cr[64];
		close(fd);
		snprintf(cr, sizeof cr, "Content-Range: bytes */%lld", size);
		send_error(&h, 416, "Range Not Satisfiable", "RANGE_NOT_SATISFIABLE",
			   "The requested range is outside the file", cr);
		return;
	}
	long long len = size > 0 ? to - from + 1 : 0;
	metrics_status(ranged ? 206 : 200);
	FCGX_FPrintF(fr->out, "Status: %s\r\nContent-Type: %s\r\nContent-Length: %lld\r\n"
		     "Accept-Ranges: bytes\r\nETag: %s\r\nX-Content-SHA256: %s\r\n"
		     "X-Request-Id: %s\r\nCache-Control: no-store\r\n",
		     ranged ? "206 Partial Content" : "200 OK", content_type(format, name), len, etag,
		     sha, h.request_id);
	if (ranged)
		FCGX_FPrintF(fr->out, "Content-Range: bytes %lld-%lld/%lld\r\n", from, to, size);
	FCGX_PutS("\r\n", fr->out);

	long long sent = 0;
	if (!h.head && len > 0 && lseek(fd, (off_t)from, SEEK_SET) == (off_t)from) {
		char *buf = malloc(BLOCK);
		while (buf && sent < len) {
			size_t want = len - sent > BLOCK ? BLOCK : (size_t)(len - sent);
			ssize_t n = read(fd, buf, want);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || FCGX_PutStr(buf, (int)n, fr->out) < 0)
				break;
			sent += n;
		}
		free(buf);
	}
	close(fd);
	log_msg(LOG_INFO, "request %s: hub %s fetched file version %s for job %s: %s bytes %lld-%lld"
		" of %lld, %lld sent (token use %lld)", h.request_id, hub, version, job,
		ranged ? "range" : "all", from, to, size, sent, use);
}
