/* hubsim_dl.c - the real file download of print.start (docs/jobs-and-control.md, "File delivery
 * to hubs").
 *
 * libcurl's multi interface on the libev loop: GET file.url with `Authorization: Bearer <token>`
 * and `X-Hub-Id`, TLS verified against --cacert (the stack's self-signed certificate), no
 * redirects (the token must not travel elsewhere). Bytes go to the spool file and through
 * SHA-256 as they arrive. An interrupted transfer resumes with `Range: bytes=N-` (up to 5
 * attempts); a 200 answer to a range request starts over. At the end size and hash are checked
 * (stage verify). HTTP errors end the job with the backend's error code when the body carries
 * one ({"error":{"code":...}}), else HTTP_<status>. The token is never logged. */
#include "hubsim.h"

#include "log.h"

#include <curl/curl.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DL_ATTEMPTS 5

struct hs_dl {
	struct hs_printer *p;
	CURL *e;
	FILE *f;
	EVP_MD_CTX *sha;
	struct curl_slist *hdrs;
	int64_t expected;
	char want_sha[65];
	int64_t done;           /* bytes in the file (and hashed) */
	bool checked;           /* this attempt's response code looked at */
	long status;
	int attempts;
	bool error_body, too_big, io_error;
	char body[1024];
	size_t body_len;
	const char *mode;       /* fault: "", "hash", "size", "interrupt" */
	int64_t cut_at;         /* interrupt fault: cut after this many bytes, once */
	char errbuf[CURL_ERROR_SIZE];
	ev_timer retry;
	bool in_multi;
};

struct sockw {
	ev_io io;
	curl_socket_t fd;
};

static CURLM *multi;
static ev_timer curl_timer;

static void check_done(void);

/* ------------------------------------------------------------------------------- loop glue */

static void sock_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	struct sockw *s = (struct sockw *)w;
	int running;
	int action = ((revents & EV_READ) ? CURL_CSELECT_IN : 0) |
		     ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	curl_multi_socket_action(multi, s->fd, action, &running);
	check_done();
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
	(void)e;
	(void)userp;
	struct sockw *s = sockp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			ev_io_stop(hs.loop, &s->io);
			free(s);
			curl_multi_assign(multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s)
			return -1;
		s->fd = fd;
		ev_io_init(&s->io, sock_io_cb, fd, EV_READ);
		curl_multi_assign(multi, fd, s);
	}
	int ev = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	ev_io_stop(hs.loop, &s->io);
	ev_io_set(&s->io, fd, ev);
	ev_io_start(hs.loop, &s->io);
	return 0;
}

static void curl_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	int running;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

static int timer_set_cb(CURLM *m, long timeout_ms, void *userp)
{
	(void)m;
	(void)userp;
	ev_timer_stop(hs.loop, &curl_timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&curl_timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(hs.loop, &curl_timer);
	}
	return 0;
}

int dl_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	multi = curl_multi_init();
	if (!multi)
		return -1;
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_set_cb);
	ev_timer_init(&curl_timer, curl_timer_cb, 0., 0.);
	return 0;
}

void dl_global_cleanup(void)
{
	if (multi) {
		ev_timer_stop(hs.loop, &curl_timer);
		curl_multi_cleanup(multi);
		multi = NULL;
	}
	curl_global_cleanup();
}

/* ------------------------------------------------------------------------------- transfer */

static void dl_free(struct hs_dl *d)
{
	ev_timer_stop(hs.loop, &d->retry);
	if (d->in_multi)
		curl_multi_remove_handle(multi, d->e);
	if (d->e)
		curl_easy_cleanup(d->e);
	curl_slist_free_all(d->hdrs);
	if (d->f)
		fclose(d->f);
	EVP_MD_CTX_free(d->sha);
	free(d);
}

void dl_abort(struct hs_dl *d)
{
	if (!d)
		return;
	hs_info("printer %s: download aborted at %lld bytes", d->p->id, (long long)d->done);
	d->p->job.dl = NULL;
	dl_free(d);
}

static int restart(struct hs_dl *d)
{
	d->done = 0;
	if (fflush(d->f) != 0 || ftruncate(fileno(d->f), 0) != 0 || fseek(d->f, 0, SEEK_SET) != 0)
		return -1;
	return EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

static size_t write_cb(char *ptr, size_t size, size_t n, void *ud)
{
	struct hs_dl *d = ud;
	size_t len = size * n;
	if (!d->checked) {
		d->checked = true;
		curl_easy_getinfo(d->e, CURLINFO_RESPONSE_CODE, &d->status);
		d->error_body = d->status < 200 || d->status >= 300;
		if (d->status == 200 && d->done > 0) {
			hs_info("printer %s: the server ignored Range: starting over", d->p->id);
			if (restart(d) < 0) {
				d->io_error = true;
				return 0;
			}
		}
	}
	if (d->error_body) {
		size_t room = sizeof d->body - 1 - d->body_len;
		size_t k = len < room ? len : room;
		memcpy(d->body + d->body_len, ptr, k);
		d->body_len += k;
		d->body[d->body_len] = '\0';
		return len;
	}
	if (d->done + (int64_t)len > d->expected) {
		d->too_big = true;
		return 0;
	}
	size_t take = len;
	bool cut = d->cut_at >= 0 && d->done + (int64_t)len > d->cut_at;
	if (cut)
		take = (size_t)(d->cut_at - d->done);
	if (fwrite(ptr, 1, take, d->f) != take) {
		d->io_error = true;
		return 0;
	}
	EVP_DigestUpdate(d->sha, ptr, take);
	d->done += (int64_t)take;
	printer_dl_progress(d->p, d->done, d->expected);
	if (cut) {
		hs_info("printer %s: download cut at %lld bytes (fault injection)", d->p->id,
			(long long)d->done);
		d->cut_at = -1;
		return 0; /* curl reports a write error: the transfer resumes with Range */
	}
	return len;
}

static int attempt(struct hs_dl *d)
{
	d->checked = false;
	d->status = 0;
	d->error_body = false;
	d->body_len = 0;
	d->errbuf[0] = '\0';
	d->attempts++;
	curl_easy_setopt(d->e, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)d->done);
	if (d->done > 0)
		hs_info("printer %s: resuming the download at byte %lld (attempt %d)", d->p->id,
			(long long)d->done, d->attempts);
	if (curl_multi_add_handle(multi, d->e) != CURLM_OK)
		return -1;
	d->in_multi = true;
	return 0;
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct hs_dl *d = w->data;
	if (attempt(d) < 0) {
		struct hs_printer *p = d->p;
		p->job.dl = NULL;
		dl_free(d);
		printer_dl_done(p, false, "download", "DOWNLOAD_FAILED", "cannot restart the transfer");
	}
}

/* Ends the transfer: frees it first, then tells the printer (which may end the job). */
static void end(struct hs_dl *d, bool ok, const char *stage, const char *code, const char *reason)
{
	struct hs_printer *p = d->p;
	p->job.dl = NULL;
	dl_free(d);
	printer_dl_done(p, ok, stage, code, reason);
}

static void verify(struct hs_dl *d)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[65], reason[HS_MSG_LEN];
	if (fflush(d->f) != 0) {
		end(d, false, "download", "SPOOL_WRITE_FAILED", "cannot write the spool file");
		return;
	}
	EVP_DigestFinal_ex(d->sha, md, &mdlen);
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[64] = '\0';
	if (d->done != d->expected || strcmp(d->mode, "size") == 0) {
		snprintf(reason, sizeof reason, "received %lld bytes, file.size_bytes is %lld%s",
			 (long long)d->done, (long long)d->expected,
			 strcmp(d->mode, "size") == 0 ? " (fault injection)" : "");
		end(d, false, "verify", "SIZE_MISMATCH", reason);
	} else if (strcasecmp(hex, d->want_sha) != 0 || strcmp(d->mode, "hash") == 0) {
		snprintf(reason, sizeof reason, "SHA-256 %.16s... does not match file.sha256 %.16s...%s",
			 hex, d->want_sha, strcmp(d->mode, "hash") == 0 ? " (fault injection)" : "");
		end(d, false, "verify", "HASH_MISMATCH", reason);
	} else {
		hs_info("printer %s: download complete, %lld bytes, SHA-256 verified", d->p->id,
			(long long)d->done);
		end(d, true, "verify", "OK", NULL);
	}
}

/* The backend's error code from an error body, else HTTP_<status>. */
static void http_error(struct hs_dl *d)
{
	char code[HS_CODE_LEN], reason[HS_MSG_LEN];
	snprintf(code, sizeof code, "HTTP_%ld", d->status);
	json_t *body = json_loadb(d->body, d->body_len, 0, NULL);
	json_t *err = json_object_get(body, "error");
	const char *c = json_string_value(json_object_get(err, "code"));
	const char *m = json_string_value(json_object_get(err, "message"));
	if (c && strlen(c) < sizeof code &&
	    strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(c))
		snprintf(code, sizeof code, "%s", c);
	snprintf(reason, sizeof reason, "HTTP %ld from the file server%s%s", d->status, m ? ": " : "",
		 m ? m : "");
	json_decref(body);
	log_warn("printer %s: download refused: %s (%s)", d->p->id, reason, code);
	end(d, false, "download", code, reason);
}

static void attempt_done(struct hs_dl *d, CURLcode res)
{
	curl_multi_remove_handle(multi, d->e);
	d->in_multi = false;
	if (!d->checked)
		curl_easy_getinfo(d->e, CURLINFO_RESPONSE_CODE, &d->status);
	if (d->status == 416 && d->done == d->expected) /* everything was already there */
		res = CURLE_OK, d->status = 206;
	if (d->io_error) {
		end(d, false, "download", "SPOOL_WRITE_FAILED", "cannot write the spool file");
	} else if (d->too_big) {
		char reason[HS_MSG_LEN];
		snprintf(reason, sizeof reason, "the server sent more than file.size_bytes (%lld)",
			 (long long)d->expected);
		end(d, false, "verify", "SIZE_MISMATCH", reason);
	} else if (d->status >= 300) {
		http_error(d);
	} else if (res == CURLE_OK) {
		verify(d);
	} else if (d->attempts >= DL_ATTEMPTS) {
		char reason[HS_MSG_LEN];
		snprintf(reason, sizeof reason, "%s", d->errbuf[0] ? d->errbuf : curl_easy_strerror(res));
		log_warn("printer %s: download failed: %s", d->p->id, reason);
		end(d, false, "download", "DOWNLOAD_FAILED", reason);
	} else {
		if (res == CURLE_RANGE_ERROR && restart(d) < 0) {
			end(d, false, "download", "SPOOL_WRITE_FAILED", "cannot write the spool file");
			return;
		}
		hs_info("printer %s: transfer interrupted at %lld bytes: %s", d->p->id,
			(long long)d->done, d->errbuf[0] ? d->errbuf : curl_easy_strerror(res));
		ev_timer_set(&d->retry, 0.2 * d->attempts, 0.);
		ev_timer_start(hs.loop, &d->retry);
	}
}

static void check_done(void)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct hs_dl *d = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&d);
		if (d)
			attempt_done(d, msg->data.result);
	}
}

int dl_start(struct hs_printer *p, const json_t *file, char *err, size_t errsz)
{
	struct hs_dl *d = calloc(1, sizeof *d);
	if (!d) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	d->p = p;
	d->expected = json_integer_value(json_object_get(file, "size_bytes"));
	snprintf(d->want_sha, sizeof d->want_sha, "%s", hs_jstr(file, "sha256", ""));
	d->mode = p->job.faults.dl_mode;
	d->cut_at = strcmp(d->mode, "interrupt") == 0
			    ? (p->job.faults.dl_at > 0 ? p->job.faults.dl_at : d->expected / 2)
			    : -1;
	ev_timer_init(&d->retry, retry_cb, 0., 0.);
	d->retry.data = d;
	d->f = fopen(p->job.spool_path, "w+b");
	d->sha = EVP_MD_CTX_new();
	d->e = curl_easy_init();
	if (!d->f || !d->sha || !d->e || EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL) != 1) {
		snprintf(err, errsz, "cannot open the spool file %s", p->job.spool_path);
		dl_free(d);
		return -1;
	}
	char h1[1100], h2[80];
	snprintf(h1, sizeof h1, "Authorization: Bearer %s", hs_jstr(file, "token", ""));
	snprintf(h2, sizeof h2, "X-Hub-Id: %s", p->hub->id);
	d->hdrs = curl_slist_append(d->hdrs, h1);
	d->hdrs = curl_slist_append(d->hdrs, h2);
	memset(h1, 0, sizeof h1);
	curl_easy_setopt(d->e, CURLOPT_URL, hs_jstr(file, "url", ""));
	curl_easy_setopt(d->e, CURLOPT_HTTPHEADER, d->hdrs);
	curl_easy_setopt(d->e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(d->e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(d->e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(d->e, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(d->e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(d->e, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(d->e, CURLOPT_USERAGENT, "apf-hub/1.2.0");
	curl_easy_setopt(d->e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(d->e, CURLOPT_WRITEDATA, d);
	curl_easy_setopt(d->e, CURLOPT_PRIVATE, d);
	curl_easy_setopt(d->e, CURLOPT_ERRORBUFFER, d->errbuf);
	if (hs.cacert[0])
		curl_easy_setopt(d->e, CURLOPT_CAINFO, hs.cacert);
	if (attempt(d) < 0) {
		snprintf(err, errsz, "cannot start the transfer");
		dl_free(d);
		return -1;
	}
	p->job.dl = d;
	return 0;
}
