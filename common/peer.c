#include "peer.h"

#include "cfg.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_MAX 256

int64_t peer_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *secret(void)
{
	const char *s = cfg_str("peer_secret", NULL);
	return s && *s ? s : NULL;
}

/* Appends " <hmac hex of buf>" to buf. 0, or -1. */
static int sign(char *buf, size_t size, const char *key)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t len = strlen(buf);
	if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)buf, len, mac, &n) ||
	    len + 1 + 2 * n + 1 > size)
		return -1;
	buf[len++] = ' ';
	for (unsigned i = 0; i < n; i++)
		snprintf(buf + len + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

/* Splits a signed text: 0 and *body_len when its last word is the right signature. */
static int verify(const char *msg, size_t len, const char *key, size_t *body_len)
{
	const char *sp = memrchr(msg, ' ', len);
	if (!sp || len - (size_t)(sp - msg) - 1 != 64)
		return -1;
	char text[MSG_MAX];
	size_t blen = (size_t)(sp - msg);
	memcpy(text, msg, blen);
	text[blen] = '\0';
	if (sign(text, sizeof text, key) < 0 || strlen(text) != len)
		return -1;
	if (!util_ct_equal(text + blen + 1, sp + 1, 64))
		return -1;
	*body_len = blen;
	return 0;
}

/* "ADDR:PORT" into a socket address (numeric only: no resolver on the request path). */
static int parse_addr(const char *s, size_t n, struct sockaddr_storage *out, socklen_t *outlen)
{
	char host[128], port[16];
	const char *colon = memrchr(s, ':', n);
	if (!colon || (size_t)(colon - s) >= sizeof host || n - (size_t)(colon - s) - 1 >= sizeof port)
		return -1;
	size_t hl = (size_t)(colon - s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') { /* [v6]:port */
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	memcpy(port, colon + 1, n - hl - 1);
	port[n - hl - 1] = '\0';
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return -1;
	memcpy(out, ai->ai_addr, ai->ai_addrlen);
	*outlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

struct peers {
	int n;
	struct sockaddr_storage addr[PEER_MAX];
	socklen_t len[PEER_MAX];
	int acked[PEER_MAX];
};

static void parse_list(const char *list, struct peers *p)
{
	p->n = 0;
	while (list && *list && p->n < PEER_MAX) {
		list += strspn(list, ", \t");
		size_t n = strcspn(list, ", \t");
		if (n == 0)
			break;
		if (parse_addr(list, n, &p->addr[p->n], &p->len[p->n]) == 0)
			p->acked[p->n++] = 0;
		else
			log_warn("api_peers: %.*s is not ADDR:PORT (numeric); skipped", (int)n, list);
		list += n;
	}
}

static int same_addr(const struct sockaddr_storage *a, socklen_t al,
		     const struct sockaddr_storage *b, socklen_t bl)
{
	return al == bl && memcmp(a, b, al) == 0;
}

/* One socket per process for notices and their acks (an ephemeral port per family). */
static int sender(int family)
{
	static int fd4 = -1, fd6 = -1;
	int *fd = family == AF_INET6 ? &fd6 : &fd4;
	if (*fd < 0)
		*fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	return *fd;
}

int peer_notify(const char *list, const char *account, uint64_t version, int64_t deadline_ms)
{
	struct peers p;
	parse_list(list, &p);
	const char *key = secret();
	if (p.n == 0)
		return 0;
	if (!key)
		return p.n;
	char nonce[33], msg[MSG_MAX], ack[MSG_MAX];
	if (util_random_hex(nonce, 16) < 0)
		return p.n;
	snprintf(msg, sizeof msg, "V1 %s %llu %s", account, (unsigned long long)version, nonce);
	snprintf(ack, sizeof ack, "A1 %s", nonce);
	if (sign(msg, sizeof msg, key) < 0 || sign(ack, sizeof ack, key) < 0)
		return p.n;
	int left = p.n;
	for (int i = 0; i < p.n; i++) {
		int fd = sender(p.addr[i].ss_family);
		if (fd < 0 || sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&p.addr[i],
				     p.len[i]) < 0)
			log_warn("data-version notice to peer %d not sent: %s", i, strerror(errno));
	}
	struct pollfd pf[2] = { { .fd = sender(AF_INET), .events = POLLIN },
				{ .fd = sender(AF_INET6), .events = POLLIN } };
	while (left > 0) {
		int64_t wait = deadline_ms - peer_now_ms();
		if (wait <= 0)
			break;
		if (poll(pf, 2, (int)wait) <= 0)
			continue;
		for (int k = 0; k < 2; k++) {
			char in[MSG_MAX];
			struct sockaddr_storage from;
			socklen_t fl = sizeof from;
			ssize_t got;
			while (pf[k].fd >= 0 &&
			       (got = recvfrom(pf[k].fd, in, sizeof in, 0, (struct sockaddr *)&from,
					       &fl)) > 0) {
				if ((size_t)got != strlen(ack) || memcmp(in, ack, (size_t)got) != 0) {
					fl = sizeof from;
					continue; /* an old ack, or noise */
				}
				for (int i = 0; i < p.n; i++)
					if (!p.acked[i] && same_addr(&from, fl, &p.addr[i], p.len[i])) {
						p.acked[i] = 1;
						left--;
					}
				fl = sizeof from;
			}
		}
	}
	return left;
}

int peer_listen_open(void)
{
	const char *at = cfg_str("peer_listen", NULL);
	struct sockaddr_storage a;
	socklen_t al;
	if (!at || !*at)
		return -1;
	if (parse_addr(at, strlen(at), &a, &al) < 0) {
		log_error("peer_listen %s is not ADDR:PORT (numeric)", at);
		return -1;
	}
	if (!secret())
		log_warn("peer_listen without peer_secret: every notice is dropped");
	int fd = socket(a.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int on = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, al) < 0) {
		log_error("peer_listen %s: %s", at, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int peer_serve_one(int fd, void (*apply)(const char *account, uint64_t version))
{
	char in[MSG_MAX + 1], account[64], nonce[40], ack[MSG_MAX];
	struct sockaddr_storage from;
	socklen_t fl = sizeof from;
	ssize_t got = recvfrom(fd, in, MSG_MAX, 0, (struct sockaddr *)&from, &fl);
	if (got < 0)
		return -1;
	const char *key = secret();
	size_t blen;
	if (!key || verify(in, (size_t)got, key, &blen) < 0)
		return 0;
	in[blen] = '\0';
	unsigned long long version;
	if (sscanf(in, "V1 %63s %llu %39s", account, &version, nonce) != 3 ||
	    (strcmp(account, "*") != 0 && !util_is_uuid(account)))
		return 0;
	apply(account, (uint64_t)version);
	snprintf(ack, sizeof ack, "A1 %s", nonce);
	if (sign(ack, sizeof ack, key) == 0)
		(void)sendto(fd, ack, strlen(ack), 0, (struct sockaddr *)&from, fl);
	return 0;
}
