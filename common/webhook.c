/* webhook.c - the webhook outbox writer and the shared pieces (webhook.h, docs/webhooks.md). */
#include "webhook.h"

#include "b64.h"
#include "cfg.h"
#include "db.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const webhook_event_types[] = {
	"job.started", "job.paused", "job.resumed", "job.completed", "job.failed", "job.cancelled",
	"job.reverted",
	"printer.status_changed", "printer.online", "printer.offline",
	"hub.online", "hub.offline",
	"inventory.low_stock", "inventory.out_of_stock",
	"order.fulfilled", "file.processed",
	NULL
};

int webhook_type_known(const char *type)
{
	for (const char *const *t = webhook_event_types; type && *t; t++)
		if (strcmp(*t, type) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------------------ outbox */

#define SUBSCRIBED "account_id = ? AND enabled = 1 AND JSON_CONTAINS(event_types, JSON_QUOTE(?))"

static const struct db_query Q_ANY = {
	"SELECT 1 FROM webhook_endpoints WHERE " SUBSCRIBED " LIMIT 1"
};
static const struct db_query Q_EVENT = {
	"INSERT INTO webhook_events (id, account_id, type, body, created_at) VALUES (?, ?, ?, ?, ?)"
};
static const struct db_query Q_FAN_OUT = {
	"INSERT INTO webhook_deliveries (id, account_id, event_id, endpoint_id)"
	" SELECT UUID(), account_id, ?, id FROM webhook_endpoints WHERE " SUBSCRIBED
};
static const struct db_query Q_ONE = {
	"INSERT INTO webhook_deliveries (id, account_id, event_id, endpoint_id)"
	" SELECT UUID(), account_id, ?, id FROM webhook_endpoints"
	" WHERE account_id = ? AND id = ?"
};
/* The event's deliveries due now in the worker's queue (sql/0027_webhook_queue.sql). */
static const struct db_query Q_QUEUE = {
	"INSERT INTO webhook_queue (delivery_id, endpoint_id, event_id, due_at)"
	" SELECT id, endpoint_id, event_id, NOW(3) FROM webhook_deliveries WHERE event_id = ?"
};

/* Writes the event row: {id, type, timestamp, data} as its body. */
static enum api_err event_write(struct db *db, const char *account, const char *type,
				json_t *data, char id[UUID_LEN + 1])
{
	char when[24], iso[32];
	if (util_uuid(id) < 0) {
		json_decref(data);
		return E_INTERNAL_ERROR;
	}
	util_ms_to_db(util_now_ms(), when);
	util_db_to_iso(when, iso, sizeof iso);
	json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "id", id, "type", type, "timestamp", iso,
			      "data", data ? data : json_object());
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!body)
		return E_INTERNAL_ERROR;
	enum api_err err = db_exec(db, &Q_EVENT, DB_ARGS(DS(id), DS(account), DS(type), DS(body),
							  DS(when)), NULL);
	free(body);
	return err;
}

enum api_err webhook_emit(struct db *db, const char *account, const char *type, json_t *data)
{
	struct db_res rs;
	char id[UUID_LEN + 1];
	enum api_err err = db_exec(db, &Q_ANY, DB_ARGS(DS(account), DS(type)), &rs);
	unsigned long n = rs.nrows;
	db_res_free(&rs);
	if (err || n == 0) {
		json_decref(data);
		return err;
	}
	if ((err = event_write(db, account, type, data, id)) != E_OK)
		return err;
	if ((err = db_exec(db, &Q_FAN_OUT, DB_ARGS(DS(id), DS(account), DS(type)), NULL)) != E_OK)
		return err;
	return db_exec(db, &Q_QUEUE, DB_ARGS(DS(id)), NULL);
}

enum api_err webhook_job(struct db *db, const char *account, const char *job, const char *from,
			 const char *to)
{
	static const char *const map[][2] = {
		{ "paused", "job.paused" }, { "completed", "job.completed" },
		{ "failed", "job.failed" }, { "cancelled", "job.cancelled" },
	};
	const char *type = NULL;
	if (!to || (from && strcmp(from, to) == 0))
		return E_OK;
	if (strcmp(to, "printing") == 0)
		type = from && strcmp(from, "paused") == 0 ? "job.resumed" : "job.started";
	for (size_t i = 0; !type && i < sizeof map / sizeof *map; i++)
		if (strcmp(map[i][0], to) == 0)
			type = map[i][1];
	if (!type)
		return E_OK;
	return webhook_emit(db, account, type, json_pack("{s:s, s:s, s:s?}", "job_id", job,
							 "status", to, "previous_status", from));
}

static const struct db_query Q_JOB_ACCOUNT = {
	"SELECT account_id FROM print_jobs WHERE id = ?"
};

enum api_err webhook_job_reverted(struct db *db, const char *job, const char *from,
				  const char *to)
{
	struct db_res rs;
	char account[UUID_LEN + 1];
	enum api_err err = db_exec(db, &Q_JOB_ACCOUNT, DB_ARGS(DS(job)), &rs);
	DB_COPY(account, &rs, 0, 0);
	db_res_free(&rs);
	if (err || !account[0])
		return err;
	return webhook_emit(db, account, "job.reverted", json_pack("{s:s, s:s?, s:s?}", "job_id", job,
								  "status", to, "previous_status",
								  from));
}

enum api_err webhook_printer(struct db *db, const char *account, const char *printer,
			     const char *status, int link)
{
	enum api_err err = E_OK;
	if (status)
		err = webhook_emit(db, account, "printer.status_changed",
				   json_pack("{s:s, s:s}", "printer_id", printer, "status", status));
	if (!err && link >= 0)
		err = webhook_emit(db, account, link ? "printer.online" : "printer.offline",
				   json_pack("{s:s, s:s?}", "printer_id", printer, "status", status));
	return err;
}

enum api_err webhook_stock(struct db *db, const char *account, const char *table,
			   const char *item, const char *status, const char *level)
{
	const char *type = strcmp(status, "out_of_stock") == 0 ? "inventory.out_of_stock"
			   : strcmp(status, "low_stock") == 0 || strcmp(status, "low") == 0
				   ? "inventory.low_stock"
				   : NULL;
	if (!type)
		return E_OK;
	return webhook_emit(db, account, type,
			    json_pack("{s:s, s:s, s:s, s:s}", "item_type", table, "item_id", item,
				      "status", status, "level", level));
}

enum api_err webhook_emit_to(struct db *db, const char *account, const char *endpoint,
			     const char *type, json_t *data, char event_id[37])
{
	enum api_err err = event_write(db, account, type, data, event_id);
	if (err)
		return err;
	if ((err = db_exec(db, &Q_ONE, DB_ARGS(DS(event_id), DS(account), DS(endpoint)), NULL)))
		return err;
	return db_exec(db, &Q_QUEUE, DB_ARGS(DS(event_id)), NULL);
}

/* ------------------------------------------------------------------- secret, signature */

#define SECRET_BYTES 24

int webhook_secret_new(char out[WEBHOOK_SECRET_MAX])
{
	unsigned char b[SECRET_BYTES];
	memcpy(out, "whsec_", 6);
	if (util_random(b, sizeof b) < 0 ||
	    !b64_encode(B64_STD, b, sizeof b, out + 6, WEBHOOK_SECRET_MAX - 6))
		return -1;
	return 0;
}

int webhook_sign(const char *secret, const char *id, long long ts, const char *body,
		 size_t body_len, char *out, size_t outsz)
{
	unsigned char key[64], md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (strncmp(secret, "whsec_", 6) != 0)
		return -1;
	long klen = b64_decode(B64_STD, secret + 6, strlen(secret + 6), key, sizeof key);
	if (klen <= 0 || outsz < 4)
		return -1;
	char head[128];
	int hl = snprintf(head, sizeof head, "%s.%lld.", id, ts);
	if (hl < 0 || (size_t)hl >= sizeof head)
		return -1;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end()
	};
	size_t ml = 0;
	int ok = c && EVP_MAC_init(c, key, (size_t)klen, params) &&
		 EVP_MAC_update(c, (const unsigned char *)head, (size_t)hl) &&
		 EVP_MAC_update(c, (const unsigned char *)body, body_len) &&
		 EVP_MAC_final(c, md, &ml, sizeof md);
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(mac);
	mdlen = (unsigned)ml;
	if (!ok)
		return -1;
	memcpy(out, "v1,", 3);
	return b64_encode(B64_STD, md, mdlen, out + 3, outsz - 3) ? 0 : -1;
}

/* ------------------------------------------------------------------------ destinations */

int webhook_url_parse(const char *url, struct webhook_url *u)
{
	const char *p;
	memset(u, 0, sizeof *u);
	if (strncmp(url, "https://", 8) == 0) {
		u->https = 1;
		u->port = 443;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		u->port = 80;
		p = url + 7;
	} else {
		return -1;
	}
	size_t n = strcspn(p, "/?#");
	if (n == 0 || memchr(p, '@', n) || strchr(url, '#') || strchr(url, ' '))
		return -1;
	const char *host = p, *end = p + n, *colon;
	if (*host == '[') {
		const char *rb = memchr(host, ']', n);
		if (!rb)
			return -1;
		if ((size_t)(rb - host - 1) >= sizeof u->host || rb == host + 1)
			return -1;
		memcpy(u->host, host + 1, (size_t)(rb - host - 1));
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon && *colon != ':')
			return -1;
	} else {
		colon = memchr(host, ':', n);
		size_t hl = colon ? (size_t)(colon - host) : n;
		if (hl == 0 || hl >= sizeof u->host)
			return -1;
		memcpy(u->host, host, hl);
	}
	if (colon) {
		char *e;
		unsigned long port = strtoul(colon + 1, &e, 10);
		if (e != end || colon + 1 == end || port == 0 || port > 65535)
			return -1;
		u->port = (unsigned)port;
	}
	for (const char *c = u->host; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr(".-_:", *c))
			return -1;
	return 0;
}

/* 1 when the first bits of a and b (bytes) agree. */
static int prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, full) != 0)
		return 0;
	if (!rest)
		return 1;
	unsigned char m = (unsigned char)(0xff << (8 - rest));
	return (a[full] & m) == (b[full] & m);
}

/* 1 when the 16-byte address a (IPv4 mapped into ::ffff:0:0/96) is in conf webhook_allow. */
static int allowed_by_conf(const unsigned char a[16])
{
	const char *list = cfg_str("webhook_allow", NULL);
	char item[80];
	while (list && *list) {
		size_t n = strcspn(list, ",");
		snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), list);
		list += n + (list[n] == ',');
		char *s = item, *slash;
		while (*s == ' ')
			s++;
		for (char *e = s + strlen(s); e > s && e[-1] == ' '; e--)
			e[-1] = '\0';
		unsigned char net[16] = { 0 };
		long bits;
		struct in_addr v4;
		if ((slash = strchr(s, '/')))
			*slash++ = '\0';
		if (inet_pton(AF_INET, s, &v4) == 1) {
			net[10] = net[11] = 0xff;
			memcpy(net + 12, &v4, 4);
			bits = slash ? strtol(slash, NULL, 10) + 96 : 128;
		} else if (inet_pton(AF_INET6, s, net) == 1) {
			bits = slash ? strtol(slash, NULL, 10) : 128;
		} else {
			continue;
		}
		if (bits >= 0 && bits <= 128 && prefix_eq(a, net, (unsigned)bits))
			return 1;
	}
	return 0;
}

/* Refused ranges, as 16-byte prefixes (IPv4 ones mapped). */
struct range {
	unsigned char net[16];
	unsigned bits;
};
#define V4(a, b, c, d, n) { { 0,0,0,0,0,0,0,0,0,0,0xff,0xff, a, b, c, d }, 96 + (n) }
static const struct range refused[] = {
	V4(0, 0, 0, 0, 8),          /* this network, unspecified */
	V4(10, 0, 0, 0, 8),         /* RFC 1918 */
	V4(100, 64, 0, 0, 10),      /* carrier-grade NAT */
	V4(127, 0, 0, 0, 8),        /* loopback */
	V4(169, 254, 0, 0, 16),     /* link-local, cloud metadata 169.254.169.254 */
	V4(172, 16, 0, 0, 12),      /* RFC 1918 */
	V4(192, 0, 0, 0, 24),       /* IETF protocol assignments */
	V4(192, 168, 0, 0, 16),     /* RFC 1918 */
	V4(198, 18, 0, 0, 15),      /* benchmarking */
	V4(224, 0, 0, 0, 4),        /* multicast */
	V4(240, 0, 0, 0, 4),        /* reserved, broadcast */
	{ { 0 }, 128 },                               /* :: unspecified */
	{ { 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1 }, 128 }, /* ::1 loopback */
	{ { 0xfc }, 7 },                              /* unique local, fd00:ec2::254 metadata */
	{ { 0xfe, 0x80 }, 10 },                       /* link-local */
	{ { 0xff }, 8 },                              /* multicast */
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32 },           /* documentation */
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 96 },      /* IPv4-compatible */
	{ { 0x00, 0x64, 0xff, 0x9b }, 96 },           /* NAT64 of any IPv4: refused */
};

int webhook_addr_allowed(const struct sockaddr *sa)
{
	unsigned char a[16] = { 0 };
	if (sa->sa_family == AF_INET) {
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	} else {
		return 0;
	}
	if (allowed_by_conf(a))
		return 1;
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
		if (prefix_eq(a, refused[i].net, refused[i].bits))
			return 0;
	return 1;
}

/* The lookup of webhook_url_check, on the heap: a lookup that outlives its deadline and cannot
 * be cancelled still writes into it, so it is then left to the resolver (a few hundred bytes
 * per such lookup, in a process the supervisor recycles). */
struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char host[256], port[8];
};

const char *webhook_url_check(const struct webhook_url *u)
{
	long ms = cfg_int("webhook_resolve_timeout_ms", 2000);
	struct lookup *l = calloc(1, sizeof *l);
	struct gaicb *list[1];
	if (!l)
		return "url's host could not be resolved (out of memory)";
	snprintf(l->host, sizeof l->host, "%s", u->host);
	snprintf(l->port, sizeof l->port, "%u", u->port);
	l->hints.ai_socktype = SOCK_STREAM;
	l->cb = (struct gaicb){ .ar_name = l->host, .ar_service = l->port, .ar_request = &l->hints };
	list[0] = &l->cb;
	/* a deadline: a slow resolver must not hold the FastCGI process (docs/webhooks.md) */
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0) {
		free(l);
		return "url's host could not be resolved";
	}
	int64_t end = util_mono_ms() + (ms < 1 ? 1 : ms);
	int rc;
	while ((rc = gai_error(&l->cb)) == EAI_INPROGRESS) {
		int64_t left = end - util_mono_ms();
		if (left <= 0)
			break;
		struct timespec ts = { left / 1000, (left % 1000) * 1000000L };
		const struct gaicb *wait[1] = { &l->cb };
		(void)gai_suspend(wait, 1, &ts);
	}
	if (rc == EAI_INPROGRESS) {
		if (gai_cancel(&l->cb) == EAI_NOTCANCELED && gai_error(&l->cb) == EAI_INPROGRESS)
			return "url's host did not resolve in time"; /* l stays with the resolver */
		rc = gai_error(&l->cb);
		if (rc == 0)
			freeaddrinfo(l->cb.ar_result);
		free(l);
		return "url's host did not resolve in time";
	}
	struct addrinfo *res = rc == 0 ? l->cb.ar_result : NULL;
	free(l);
	if (!res)
		return "url's host does not resolve";
	const char *why = NULL;
	for (const struct addrinfo *ai = res; ai && !why; ai = ai->ai_next)
		if (!webhook_addr_allowed(ai->ai_addr))
			why = "url resolves to a loopback, private, link-local, metadata or other "
			      "non-public address";
	freeaddrinfo(res);
	return why;
}
