#include "admit.h"

#include "budget.h"
#include "util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/time.h>

enum api_err admit_command(struct req *r, struct hubcmd *c)
{
	enum api_err err = hubcmd_insert(r->db, c);
	if (err == E_TOO_MANY_HUB_COMMANDS) {
		req_header(r, "Retry-After: %ld", c->retry_after_s);
		return req_fail(r, err, "This account already has %ld hub commands waiting for their"
				" hub's acknowledgement, the most it may have at once; retry after %ld s",
				c->limit, c->retry_after_s);
	}
	if (err == E_SERVER_BUSY) {
		req_header(r, "Retry-After: %ld", c->retry_after_s);
		return req_fail(r, err, "All %ld of this server's slots for requests waiting on a hub"
				" are taken; retry after %ld s", c->limit, c->retry_after_s);
	}
	return err;
}

enum api_err admit_upload(struct req *r)
{
	if (budget_slot_take(SLOT_UPLOAD))
		return E_OK;
	req_header(r, "Retry-After: 1");
	return req_fail(r, E_SERVER_BUSY, "All %ld of this server's upload slots are taken; retry"
			" after 1 s", budget_upload_slots());
}

void body_reader_init(struct body_reader *b, FCGX_Request *fr)
{
	b->fr = fr;
	b->start_ms = util_now_ms();
	b->got = 0;
	b->timed_out = 0;
	b->md = NULL;
}

/* Bytes libfcgi holds for the reader already (FCGX_Stream has no accessor for it). */
static int held(const FCGX_Stream *in)
{
	return in->rdNext && in->stop > in->rdNext ? (int)(in->stop - in->rdNext) : 0;
}

#define PULL_CHUNK (256 * 1024)

long body_pull(void *reader, void *buf, size_t n)
{
	int got = body_read(reader, buf, n > PULL_CHUNK ? PULL_CHUNK : (int)n);
	return got < 0 ? -1 : got;
}

int body_read(struct body_reader *b, void *buf, int n)
{
	FCGX_Stream *in = b->fr->in;
	int h = held(in), got;
	if (h > 0) {
		got = FCGX_GetStr(buf, h < n ? h : n, in);
	} else {
		int64_t left = budget_body_deadline(b->start_ms, b->got) - util_now_ms();
		if (left <= 0) {
			b->timed_out = 1;
			return -2;
		}
		struct timeval tv = { .tv_sec = (time_t)(left / 1000),
				      .tv_usec = (suseconds_t)(left % 1000) * 1000 };
		(void)setsockopt(b->fr->ipcFd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		got = FCGX_GetStr(buf, 1, in); /* one fill: at most `left` ms */
		if (got == 1 && n > 1 && (h = held(in)) > 0)
			got += FCGX_GetStr((char *)buf + 1, h < n - 1 ? h : n - 1, in);
	}
	if (got > 0) {
		b->got += (uint64_t)got;
		if (b->md)
			EVP_DigestUpdate(b->md, buf, (size_t)got);
		return got;
	}
	int e = FCGX_GetError(in);
	if (e == EAGAIN || e == EWOULDBLOCK ||
	    (e && util_now_ms() >= budget_body_deadline(b->start_ms, b->got))) {
		b->timed_out = 1;
		return -2;
	}
	return e ? -1 : 0;
}

enum api_err admit_body_timeout(struct req *r, const struct body_reader *b, const char *stored)
{
	return req_fail(r, E_REQUEST_TIMEOUT, "The request body did not arrive in time: %llu bytes"
			" in %lld s (the body may take %ld s plus a second per %ld bytes); %s",
			(unsigned long long)b->got, (long long)(util_now_ms() - b->start_ms) / 1000,
			budget_body_grace_ms() / 1000, budget_body_min_rate(), stored);
}
