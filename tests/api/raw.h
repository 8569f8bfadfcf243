/* raw.h - the API tests' raw TLS client: HTTP/1.1 written by hand over OpenSSL, for what
 * libcurl cannot shape. A request held half-sent, a client that hangs up mid-body (with or
 * without a TLS close_notify), a body past a limit announced or streamed chunked, many
 * connections held open at once, and the handshake itself (protocol range and suites of the
 * caller's SSL_CTX, SNI, session resumption, the error a refused handshake ends with).
 *
 * One connection per struct raw, to 127.0.0.1 (the stack's HTTPS port unless told otherwise).
 * A request is a head (raw_head) and body bytes (raw_send) in any pieces; its answer is read
 * into a struct resp (client.h), so the usual assertions (EXPECT, resp_header, ...) apply. */
#ifndef APF_API_RAW_H
#define APF_API_RAW_H

#include "client.h"

#include <openssl/ssl.h>
#include <stddef.h>

struct raw {
	int fd;
	SSL *ssl;
	SSL_CTX *own;        /* the context raw_connect made (no caller context), freed on close */
	unsigned long err;   /* the first OpenSSL error of a failed handshake, 0 when none */
	char why[256];       /* why raw_connect failed: OpenSSL's text of err, or the system's */
};

/* Where and how raw_connect connects. Unset members take their defaults. */
struct raw_opt {
	int port;               /* default: the stack's, from client_base_url() */
	SSL_CTX *ctx;           /* default: a context of the connection's own, any TLS version,
				 * the library's suites, the peer not verified */
	const char *sni;        /* server name sent in the handshake, or none */
	const char *verify_ip;  /* the peer's certificate must name this IP address (the caller's
				 * ctx verifies the peer) */
	SSL_SESSION *session;   /* a session to resume */
	int timeout_s;          /* receive and send timeout of the socket, the handshake's
				 * included; default 20 */
};

/* Connects to 127.0.0.1 and completes the handshake (o may be NULL: every default). 0, or -1
 * with c->err and c->why set and nothing left open; no CUnit failure is recorded (a refused
 * handshake may be what the caller expects). */
int raw_connect(struct raw *c, const struct raw_opt *o);
/* raw_connect whose failure is a CUnit failure of the caller's file and line. 0 or -1. */
int raw_open_at(struct raw *c, const struct raw_opt *o, const char *file, unsigned line);
#define RAW_OPEN(c, o) raw_open_at((c), (o), __FILE__, __LINE__)
/* Hangs up: abrupt, without a TLS close_notify (a client that dies); else after sending one.
 * Safe on a connection that failed or is closed already. */
void raw_close(struct raw *c, int abrupt);

/* The whole of data, or -1. */
int raw_send(struct raw *c, const void *data, size_t n);
/* 1 when the server has answered or hung up, without waiting: TLS 1.3 session tickets alone
 * do not count (the socket is readable after the handshake), only application data or the
 * end of the stream. */
int raw_readable(struct raw *c);

#define RAW_CHUNKED (-1LL)

/* A request head. Unset members take their defaults. */
struct raw_req {
	const char *method;      /* default GET */
	const char *host;        /* Host header, default 127.0.0.1 */
	const char *path;        /* below base_url (".../v1"), like struct call's */
	int from_origin;         /* path is from the origin instead ("/v1/files/upload/...") */
	const char *key;         /* API key sent as "Authorization: Bearer <key>", or none */
	long long length;        /* Content-Length; RAW_CHUNKED: Transfer-Encoding: chunked */
	const char *headers[4];  /* more "Name: value" lines (Content-Type...), NULL-terminated */
};

/* Sends the head of q (the body is the caller's: raw_send). 0 or -1. */
int raw_head(struct raw *c, const struct raw_req *q);
/* Reads one response (head and its Content-Length body, or up to the end of the stream) into
 * r, whose previous content is freed: status (0 when no HTTP response came, with curl_error
 * saying so), every header, body and parsed JSON. what names the request in failure
 * messages. */
void raw_response(struct raw *c, struct resp *r, const char *what);


#endif
