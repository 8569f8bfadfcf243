/* raw.c - the raw TLS client of the API tests (see raw.h). */
#include "raw.h"

#include "apitest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TIMEOUT_S 20
#define RESPONSE_MAX (64u << 20) /* what one response may grow to */

/* The port of base_url, 0 when it names none. */
static int stack_port(void)
{
	const char *b = client_base_url(), *p = strstr(b, "://");
	p = p ? strchr(p + 3, ':') : NULL;
	return p ? atoi(p + 1) : 0;
}

/* The path of base_url ("/v1"), "" when it has none. */
static const char *base_path(void)
{
	const char *b = client_base_url(), *p = strstr(b, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	return p ? p : "";
}

static int port_of(const struct raw_opt *o)
{
	return o && o->port ? o->port : stack_port();
}

void raw_close(struct raw *c, int abrupt)
{
	if (c->ssl) {
		if (!abrupt)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->own)
		SSL_CTX_free(c->own);
	if (c->fd > 0)
		close(c->fd);
	c->ssl = NULL;
	c->own = NULL;
	c->fd = -1;
}

int raw_connect(struct raw *c, const struct raw_opt *o)
{
	static const struct raw_opt defaults;
	if (!o)
		o = &defaults;
	int port = port_of(o);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = o->timeout_s > 0 ? o->timeout_s : TIMEOUT_S };
	memset(c, 0, sizeof *c);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ERR_clear_error();
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		snprintf(c->why, sizeof c->why, "connect to port %d: %s", port, strerror(errno));
		raw_close(c, 1);
		return -1;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	SSL_CTX *ctx = o->ctx ? o->ctx : (c->own = SSL_CTX_new(TLS_client_method()));
	if (!ctx || !(c->ssl = SSL_new(ctx)) || !SSL_set_fd(c->ssl, c->fd) ||
	    (o->sni && !SSL_set_tlsext_host_name(c->ssl, o->sni)) ||
	    (o->verify_ip &&
	     !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), o->verify_ip)) ||
	    (o->session && !SSL_set_session(c->ssl, o->session)) || SSL_connect(c->ssl) != 1) {
		c->err = ERR_peek_error();
		if (c->err)
			ERR_error_string_n(c->err, c->why, sizeof c->why);
		else
			snprintf(c->why, sizeof c->why, "handshake failed (%s)", strerror(errno));
		ERR_clear_error();
		raw_close(c, 1);
		return -1;
	}
	return 0;
}

int raw_open_at(struct raw *c, const struct raw_opt *o, const char *file, unsigned line)
{
	if (raw_connect(c, o) == 0)
		return 0;
	at_check(0, NULL, file, line, "raw TLS connection to 127.0.0.1:%d failed: %s", port_of(o),
		 c->why);
	return -1;
}

int raw_send(struct raw *c, const void *data, size_t n)
{
	const char *p = data;
	while (n > 0) {
		int w = SSL_write(c->ssl, p, n > 1048576 ? 1048576 : (int)n);
		if (w <= 0) {
			ERR_clear_error();
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int raw_readable(struct raw *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	char byte;
	if (SSL_pending(c->ssl) > 0)
		return 1;
	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	int fl = fcntl(c->fd, F_GETFL);
	fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
	int n = SSL_peek(c->ssl, &byte, 1);
	int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
	fcntl(c->fd, F_SETFL, fl);
	ERR_clear_error();
	return e != SSL_ERROR_WANT_READ;
}

/* Appends printf output to buf (size bytes) at *o. 0, or -1 when it does not fit. */
static int append(char *buf, size_t size, size_t *o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int append(char *buf, size_t size, size_t *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = *o < size ? vsnprintf(buf + *o, size - *o, fmt, ap) : -1;
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *o)
		return -1;
	*o += (size_t)n;
	return 0;
}

int raw_head(struct raw *c, const struct raw_req *q)
{
	char head[8192];
	size_t o = 0;
	int rc = append(head, sizeof head, &o, "%s %s%s HTTP/1.1\r\nHost: %s\r\n",
			q->method ? q->method : "GET", q->from_origin ? "" : base_path(), q->path,
			q->host ? q->host : "127.0.0.1");
	if (q->key)
		rc |= append(head, sizeof head, &o, "Authorization: Bearer %s\r\n", q->key);
	for (int i = 0; i < 4 && q->headers[i]; i++)
		rc |= append(head, sizeof head, &o, "%s\r\n", q->headers[i]);
	if (q->length == RAW_CHUNKED)
		rc |= append(head, sizeof head, &o, "Transfer-Encoding: chunked\r\n\r\n");
	else
		rc |= append(head, sizeof head, &o, "Content-Length: %lld\r\n\r\n", q->length);
	return rc < 0 ? -1 : raw_send(c, head, o);
}

/* Reads until the head and its Content-Length body are in, the stream ends or the socket's
 * timeout passes. The bytes (NUL-terminated, caller frees; NULL: out of memory), *n their count. */
static char *read_answer(struct raw *c, size_t *n)
{
	size_t cap = 65536;
	long long need = -1;
	char *buf = malloc(cap);
	*n = 0;
	while (buf) {
		if (*n + 1 >= cap) {
			char *nb = cap < RESPONSE_MAX ? realloc(buf, cap * 2) : NULL;
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		int got = SSL_read(c->ssl, buf + *n, (int)(cap - 1 - *n));
		if (got <= 0)
			break;
		*n += (size_t)got;
		buf[*n] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end && need < 0) {
			char *cl = strcasestr(buf, "\r\ncontent-length:");
			need = (long long)(end + 4 - buf) + (cl && cl < end ? atoll(cl + 17) : 0);
		}
		if (need >= 0 && (long long)*n >= need)
			break;
	}
	ERR_clear_error();
	if (buf)
		buf[*n] = '\0';
	return buf;
}

void raw_response(struct raw *c, struct resp *r, const char *what)
{
	size_t n;
	resp_free(r);
	snprintf(r->what, sizeof r->what, "%s (raw TLS)", what);
	char *buf = read_answer(c, &n);
	char *end = buf ? strstr(buf, "\r\n\r\n") : NULL;
	if (!end || sscanf(buf, "HTTP/1.%*d %ld", &r->status) != 1) {
		r->status = 0;
		snprintf(r->curl_error, sizeof r->curl_error, "no HTTP response (%zu bytes)", n);
		r->body = strdup("");
		free(buf);
		return;
	}
	for (char *l = strstr(buf, "\r\n") + 2; l < end;) {
		char *eol = strstr(l, "\r\n"), *colon = memchr(l, ':', (size_t)(eol - l));
		if (colon) {
			char *v = colon + 1, *ve = eol;
			while (*v == ' ' || *v == '\t')
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			resp_add_header(r, l, (size_t)(colon - l), v, (size_t)(ve - v));
		}
		l = eol + 2;
	}
	size_t off = (size_t)(end + 4 - buf);
	r->len = n - off;
	r->body = malloc(r->len + 1);
	if (r->body) {
		memcpy(r->body, buf + off, r->len);
		r->body[r->len] = '\0';
	} else {
		r->len = 0;
	}
	r->json = r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	free(buf);
}
