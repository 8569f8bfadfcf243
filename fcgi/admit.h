/* admit.h - requests may not hold a FastCGI child too long (common/budget.h).
 *
 * Refusals: a hub command that would wait beyond its account's or this host's share, an upload
 * beyond this host's upload slots. The refusal comes at once, with Retry-After and a message
 * saying which share is full.
 *
 * Deadlines: every request body is read through a body_reader, which never blocks past the body
 * deadline (body_grace_seconds after reading starts, plus one second per body_min_rate bytes
 * received). libfcgi has no timeouts of its own: before each read from the FastCGI connection the
 * reader sets SO_RCVTIMEO to the time left, and it asks libfcgi for at most the bytes libfcgi
 * already holds (or one byte, one read from the socket), so a body trickling in cannot keep a
 * read going past the deadline. A body past its deadline answers 408 REQUEST_TIMEOUT. */
#ifndef APF_ADMIT_H
#define APF_ADMIT_H

#include "hubcmd.h"
#include "req.h"

#include <fcgiapp.h>
#include <stddef.h>
#include <stdint.h>

struct body_reader {
	FCGX_Request *fr;
	int64_t start_ms;
	uint64_t got;        /* bytes read so far */
	int timed_out;       /* the deadline passed */
	void *md;            /* EVP_MD_CTX the bytes read are hashed into (idem_hash_body), or NULL */
};

/* hubcmd_insert for an API handler (inside its transaction; c->awaited set for a command the
 * request will wait for). 429 TOO_MANY_HUB_COMMANDS / 503 SERVER_BUSY are answered with their
 * message and Retry-After; the handler rolls back as for any error. */
enum api_err admit_command(struct req *r, struct hubcmd *c);
/* Takes one of this host's upload slots before a streamed body is read; 503 SERVER_BUSY when
 * every slot is taken. The slot is given back after the request (fcgi/main.c). */
enum api_err admit_upload(struct req *r);

/* Starts the clock of a body read from fr. */
void body_reader_init(struct body_reader *b, FCGX_Request *fr);
/* Reads up to n bytes (n >= 1): > 0 bytes read, 0 the body ended, -1 the stream broke, -2 the
 * deadline passed (b->timed_out set). Returns whatever has arrived, without waiting for n. */
int body_read(struct body_reader *b, void *buf, int n);
/* body_read as a pull callback (common/multipart.h multipart_read_fn; reader = a struct
 * body_reader): at most 256 KiB a call; > 0 bytes, 0 at the end, -1 broken or past the deadline. */
long body_pull(void *reader, void *buf, size_t n);
/* 408 REQUEST_TIMEOUT for a body that missed its deadline; `stored` says what was kept. */
enum api_err admit_body_timeout(struct req *r, const struct body_reader *b, const char *stored);

#endif
