/* webhooks.c - webhook delivery (webhooks.h, docs/webhooks.md "Delivery"). Besides loop.c, the
 * one worker file that includes ev.h: libcurl's multi interface runs on the loop's watchers. */
#include "webhooks.h"

#include "cfg.h"
#include "db.h"
#include "log.h"
#include "sqlb.h"
#include "util.h"
#include "webhook.h"

#include <curl/curl.h>
#include <ev.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BODY_CAP 65536      /* response bytes read; the rest is not waited for */
#define CANDIDATES 200
#define SCHEDULE_MAX 16

struct xfer {
	struct whd *d;
	CURL *e;
	struct curl_slist *hdr;
	char id[UUID_LEN + 1], endpoint[UUID_LEN + 1], token[33];
	char *body;
	size_t got;
	bool blocked;            /* the address curl was about to connect to was refused */
	long attempts;
	int64_t t0;
	struct xfer *next;
};

struct whd {
	struct ev_loop *loop;
	struct db *db;
	CURLM *multi;
	ev_timer tick, ctimer, kick;
	struct xfer *inflight;
	int n_inflight;
	bool more;               /* the last claim left due deliveries behind */
	char low[32];            /* low-water mark of the scan ("" : from the start) */
	int64_t full_at;         /* util_mono_ms() of the next scan from the start */
	int64_t down_until;      /* database unavailable: no claim before this util_mono_ms() */
	int backoff_s;           /* the next back-off: 1, 2, 4 ... 30 s */
	char holder[128];
};

struct sock {
	ev_io io;
	struct whd *d;
};

/* Due deliveries in order, from a low-water mark (the first due row of the previous scan): the
 * rows before it in the index are mostly delivered ones not yet purged by InnoDB, which a scan
 * from the start would step over every time. 5 s before it, for the rows of a transaction that
 * committed after a later one; rows before that which are due (a dead worker's expired lease, a
 * longer transaction) are found by the full scan every lease period. */
static const struct db_query Q_DUE = {
	"SELECT STRAIGHT_JOIN d.id, d.endpoint_id, d.next_attempt_at"
	" FROM webhook_deliveries d FORCE INDEX (ix_webhook_deliveries_due)"
	" JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.enabled = 1"
	" WHERE d.status = 'pending' AND d.next_attempt_at <= NOW(3)"
	" AND d.next_attempt_at >= ? - INTERVAL 5 SECOND"
	" AND (d.lease_until IS NULL OR d.lease_until < NOW(3))"
	" ORDER BY d.next_attempt_at LIMIT 200"
};
/* The claim: a compare-and-set of the lease on the rows picked (ids appended: "?, ?, ..."). */
#define CLAIM_SQL                                                                                \
	"UPDATE webhook_deliveries SET lease_until = NOW(3) + INTERVAL ? SECOND, claim_token = ?,"  \
	" attempts = attempts + 1, last_attempt_at = NOW(3)"                                       \
	" WHERE status = 'pending' AND next_attempt_at <= NOW(3)"                                  \
	" AND (lease_until IS NULL OR lease_until < NOW(3)) AND id IN ("
/* What was claimed of them (the ids appended again). */
#define CLAIMED_SQL                                                                              \
	"SELECT d.id, d.endpoint_id, d.event_id, e.body, w.url, w.secret, d.attempts"            \
	" FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"                   \
	" JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE d.claim_token = ? AND d.id IN ("
static const struct db_query Q_DONE = {
	"UPDATE webhook_deliveries SET status = 'delivered', delivered_at = NOW(3),"
	" last_status_code = ?, last_error = NULL, last_duration_ms = ?, lease_until = NULL,"
	" claim_token = NULL WHERE id = ? AND claim_token = ?"
};
static const struct db_query Q_EP_OK = {
	"UPDATE webhook_endpoints SET failure_streak = 0, failing_since = NULL,"
	" last_success_at = NOW(3) WHERE id = ? AND (failure_streak > 0 OR last_success_at IS NULL"
	" OR last_success_at < NOW(3) - INTERVAL 1 SECOND)"
};
static const struct db_query Q_AGAIN = {
	"UPDATE webhook_deliveries SET status = IF(? = 1, 'failed', 'pending'),"
	" next_attempt_at = NOW(3) + INTERVAL ? SECOND, last_status_code = ?, last_error = ?,"
	" last_duration_ms = ?, lease_until = NULL, claim_token = NULL"
	" WHERE id = ? AND claim_token = ?"
};
static const struct db_query Q_EP_FAIL = {
	"UPDATE webhook_endpoints SET failure_streak = failure_streak + 1,"
	" failing_since = IFNULL(failing_since, NOW(3)) WHERE id = ?"
};
static const struct db_query Q_EP_DISABLE = {
	"UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?, updated_at = NOW(3)"
	" WHERE id = ? AND enabled = 1"
	" AND (failure_streak >= ? OR failing_since < NOW(3) - INTERVAL ? SECOND)"
};

/* ------------------------------------------------------------------------ configuration */

static long timeout_s(void)
{
	long s = cfg_int("webhook_timeout_seconds", 10);
	return s < 1 ? 1 : s;
}

/* Longer than a transfer can take, so a live worker never loses its lease. */
static long lease_s(void)
{
	long s = cfg_int("webhook_lease_seconds", 30);
	return s < timeout_s() + 2 ? timeout_s() + 2 : s;
}

/* The delay before attempt n + 1 after n failed ones; -1 when there is none (failed). */
static long retry_delay(long n)
{
	static const long def[] = { 5, 300, 1800, 7200, 18000, 36000, 36000 };
	const char *conf = cfg_str("webhook_retry_schedule", NULL);
	long list[SCHEDULE_MAX];
	size_t k = 0;
	if (conf) {
		for (const char *p = conf; *p && k < SCHEDULE_MAX;) {
			char *e;
			long v = strtol(p, &e, 10);
			if (e == p)
				break;
			list[k++] = v < 0 ? 0 : v;
			p = *e == ',' ? e + 1 : e;
		}
	} else {
		memcpy(list, def, sizeof def);
		k = sizeof def / sizeof *def;
	}
	return n >= 1 && (size_t)n <= k ? list[n - 1] : -1;
}

/* --------------------------------------------------------------------------- libcurl */

static void check_done(struct whd *d);
static void claim(struct whd *d);

static void on_sock(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	struct whd *d = io->data;
	int fd = io->fd, running = 0;
	int flags = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
		    (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
	curl_multi_socket_action(d->multi, fd, flags, &running); /* may free io */
	check_done(d);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
	(void)e;
	struct whd *d = userp;
	struct sock *k = sockp;
	if (what == CURL_POLL_REMOVE) {
		if (k) {
			ev_io_stop(d->loop, &k->io);
			free(k);
			curl_multi_assign(d->multi, s, NULL);
		}
		return 0;
	}
	if (!k) {
		if (!(k = calloc(1, sizeof *k)))
			return -1;
		k->d = d;
		curl_multi_assign(d->multi, s, k);
	} else {
		ev_io_stop(d->loop, &k->io);
	}
	int ev = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
	ev_io_init(&k->io, on_sock, s, ev);
	k->io.data = d;
	ev_io_start(d->loop, &k->io);
	return 0;
}

static int timer_cb(CURLM *m, long ms, void *userp)
{
	(void)m;
	struct whd *d = userp;
	ev_timer_stop(d->loop, &d->ctimer);
	if (ms >= 0) {
		ev_timer_set(&d->ctimer, (double)ms / 1000., 0.);
		ev_timer_start(d->loop, &d->ctimer);
	}
	return 0;
}

static void on_ctimer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	struct whd *d = t->data;
	int running = 0;
	curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(d);
}

/* Every connection's address is checked after resolution, right before connecting: the
 * address checked is the one used (no second lookup to race). */
static curl_socket_t open_sock(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = clientp;
	if (purpose != CURLSOCKTYPE_IPCXN || !webhook_addr_allowed(&a->addr)) {
		x->blocked = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

static size_t on_body(char *p, size_t size, size_t n, void *userp)
{
	(void)p;
	struct xfer *x = userp;
	x->got += size * n;
	return x->got > BODY_CAP ? 0 : size * n;
}

/* ------------------------------------------------------------------------- deliveries */

static int endpoint_inflight(const struct whd *d, const char *endpoint)
{
	int n = 0;
	for (const struct xfer *x = d->inflight; x; x = x->next)
		n += strcmp(x->endpoint, endpoint) == 0;
	return n;
}

static void xfer_free(struct xfer *x)
{
	if (x->e) {
		curl_multi_remove_handle(x->d->multi, x->e);
		curl_easy_cleanup(x->e);
	}
	curl_slist_free_all(x->hdr);
	free(x->body);
	free(x);
}

/* Starts the POST of claimed delivery x from row i of Q_CLAIMED. */
static int xfer_start(struct whd *d, struct xfer *x, const struct db_res *rs, unsigned long i)
{
	const char *event = db_get(rs, i, 2), *body = db_get(rs, i, 3), *url = db_get(rs, i, 4);
	const char *secret = db_get(rs, i, 5);
	long long ts = (long long)time(NULL);
	char sig[128], h[256];
	x->attempts = (long)db_get_int(rs, i, 6, 1);
	x->body = strdup(body ? body : "");
	x->e = curl_easy_init();
	if (!x->body || !x->e || !event || !secret ||
	    webhook_sign(secret, event, ts, x->body, strlen(x->body), sig, sizeof sig) < 0) {
		log_error("webhook delivery %s: cannot prepare the request", x->id);
		return -1;
	}
	x->hdr = curl_slist_append(x->hdr, "content-type: application/json");
	snprintf(h, sizeof h, "webhook-id: %s", event);
	x->hdr = curl_slist_append(x->hdr, h);
	snprintf(h, sizeof h, "webhook-timestamp: %lld", ts);
	x->hdr = curl_slist_append(x->hdr, h);
	snprintf(h, sizeof h, "webhook-signature: %s", sig);
	x->hdr = curl_slist_append(x->hdr, h);
	x->hdr = curl_slist_append(x->hdr, "user-agent: apf-webhooks/1");
	x->hdr = curl_slist_append(x->hdr, "expect:");
	CURL *e = x->e;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_s() * 1000L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdr);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_sock);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	x->t0 = util_mono_ms();
	x->next = d->inflight;
	d->inflight = x;
	d->n_inflight++;
	if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
		d->inflight = x->next;
		d->n_inflight--;
		return -1;
	}
	return 0;
}

/* Records the outcome of x: delivered, or failed and due again (or failed for good), and the
 * endpoint's streak, which may disable it. */
static void xfer_finish(struct whd *d, struct xfer *x, CURLcode rc)
{
	long code = 0;
	curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &code);
	long ms = (long)(util_mono_ms() - x->t0);
	/* a 2xx whose body was cut at BODY_CAP was still received */
	bool ok = code >= 200 && code < 300 && (rc == CURLE_OK || rc == CURLE_WRITE_ERROR);
	if (ok) {
		if (db_exec(d->db, &Q_DONE, DB_ARGS(DI(code), DI(ms), DS(x->id), DS(x->token)),
			    NULL) == E_OK && db_affected(d->db) == 1)
			(void)db_exec(d->db, &Q_EP_OK, DB_ARGS(DS(x->endpoint)), NULL);
		return;
	}
	char why[300];
	if (x->blocked)
		snprintf(why, sizeof why, "destination address refused (loopback, private, "
			 "link-local or metadata; see webhook_allow)");
	else if (rc != CURLE_OK)
		snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
	else
		snprintf(why, sizeof why, "HTTP status %ld", code);
	long delay = retry_delay(x->attempts);
	if (db_exec(d->db, &Q_AGAIN, DB_ARGS(DI(delay < 0), DI(delay < 0 ? 0 : delay),
					      code ? DI(code) : DNULL, DS(why), DI(ms), DS(x->id),
					      DS(x->token)), NULL) != E_OK || db_affected(d->db) != 1)
		return;
	long streak = cfg_int("webhook_disable_failures", 100);
	long days = cfg_int("webhook_disable_days", 5);
	char reason[200];
	snprintf(reason, sizeof reason, "disabled by the worker: %ld consecutive failed attempts or "
		 "failing for more than %ld days; last: %.80s", streak, days, why);
	if (db_exec(d->db, &Q_EP_FAIL, DB_ARGS(DS(x->endpoint)), NULL) == E_OK &&
	    db_exec(d->db, &Q_EP_DISABLE, DB_ARGS(DS(reason), DS(x->endpoint), DI(streak),
						   DI(days * 86400)), NULL) == E_OK &&
	    db_affected(d->db) == 1)
		log_warn("webhook endpoint %s disabled: %s", x->endpoint, reason);
}

static void check_done(struct whd *d)
{
	CURLMsg *m;
	int left, finished = 0;
	bool txn = false;
	while ((m = curl_multi_info_read(d->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct xfer *x = NULL;
		CURLcode rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (!x)
			continue;
		/* the outcomes of one loop iteration in one transaction (one commit); if it fails,
		 * the leases expire and those deliveries are sent again */
		if (!txn)
			txn = db_begin(d->db) == E_OK;
		xfer_finish(d, x, rc);
		for (struct xfer **p = &d->inflight; *p; p = &(*p)->next)
			if (*p == x) {
				*p = x->next;
				break;
			}
		d->n_inflight--;
		xfer_free(x);
		finished++;
	}
	if (txn && db_commit(d->db) != E_OK)
		db_rollback(d->db);
	/* one claim for the completions of a loop iteration, not one each */
	if (finished && d->more && !ev_is_active(&d->kick))
		ev_timer_start(d->loop, &d->kick);
}

/* Claims due deliveries up to the caps (one statement, one commit) and starts them. */
static void claim(struct whd *d)
{
	long cap = cfg_int("webhook_max_inflight", 64), per = cfg_int("webhook_endpoint_inflight", 8);
	struct db_res rs, got = { 0 };
	char token[33];
	struct sqlb b, c;
	if (cap > 100)
		cap = 100;
	if (d->n_inflight >= cap || util_mono_ms() < d->down_until ||
	    util_random_hex(token, 16) < 0)
		return;
	if (util_mono_ms() >= d->full_at) {
		d->low[0] = '\0';
		d->full_at = util_mono_ms() + lease_s() * 1000;
	}
	enum api_err due = db_exec(d->db, &Q_DUE, DB_ARGS(DS(d->low[0] ? d->low : "1970-01-01")),
				   &rs);
	if (due != E_OK) {
		db_res_free(&rs);
		if (due == E_SERVICE_UNAVAILABLE) { /* as the worker's loop: back off, no spinning */
			d->backoff_s = d->backoff_s ? (d->backoff_s * 2 > 30 ? 30 : d->backoff_s * 2)
						    : 1;
			d->down_until = util_mono_ms() + d->backoff_s * 1000LL;
		}
		return;
	}
	d->backoff_s = 0;
	d->more = rs.nrows > 0;
	if (rs.nrows)
		DB_COPY(d->low, &rs, 0, 2);
	/* the rows to claim: per endpoint, those in flight and those picked stay within per */
	unsigned long picked[100];
	int n = 0;
	for (unsigned long i = 0; i < rs.nrows && d->n_inflight + n < cap; i++) {
		const char *ep = db_get(&rs, i, 1);
		int busy = endpoint_inflight(d, ep);
		for (int k = 0; k < n; k++)
			busy += strcmp(db_get(&rs, picked[k], 1), ep) == 0;
		if (busy >= per)
			continue;
		picked[n++] = i;
	}
	if (n == 0) {
		db_res_free(&rs);
		return;
	}
	sqlb_init(&b, CLAIM_SQL);
	sqlb_bind(&b, NULL, DI(lease_s()));
	sqlb_bind(&b, NULL, DS(token));
	sqlb_init(&c, CLAIMED_SQL);
	sqlb_bind(&c, NULL, DS(token));
	for (int k = 0; k < n; k++) {
		sqlb_bind(&b, k ? ", ?" : "?", DS(db_get(&rs, picked[k], 0)));
		sqlb_bind(&c, k ? ", ?" : "?", DS(db_get(&rs, picked[k], 0)));
	}
	sqlb_add(&b, ")");
	sqlb_add(&c, ")");
	enum api_err err = sqlb_exec(d->db, &b, NULL);
	if (!err)
		err = sqlb_exec(d->db, &c, &got);
	sqlb_release(&b);
	sqlb_release(&c);
	db_res_free(&rs);
	if (err) {
		db_res_free(&got);
		return; /* claimed rows (if any) are sent again once their lease expires */
	}
	for (unsigned long i = 0; i < got.nrows; i++) {
		struct xfer *x = calloc(1, sizeof *x);
		if (!x)
			break;
		x->d = d;
		DB_COPY(x->id, &got, i, 0);
		DB_COPY(x->endpoint, &got, i, 1);
		memcpy(x->token, token, sizeof token);
		if (xfer_start(d, x, &got, i) < 0)
			xfer_free(x); /* the lease expires; sent again then */
	}
	db_res_free(&got);
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	claim(t->data);
}

/* ------------------------------------------------------------------------- life cycle */

static double tick_seconds(void)
{
	long ms = cfg_int("webhook_poll_ms", 250);
	return (ms < 50 ? 50 : ms) / 1000.;
}

struct whd *whd_new(struct ev_loop *loop, const char *holder)
{
	static bool global;
	if (!global && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("webhooks: libcurl did not start; no deliveries");
		return NULL;
	}
	global = true;
	struct whd *d = calloc(1, sizeof *d);
	if (!d || !(d->db = db_open()) || !(d->multi = curl_multi_init())) {
		log_error("webhooks: out of memory; no deliveries");
		if (d)
			db_close(d->db);
		free(d);
		return NULL;
	}
	d->loop = loop;
	snprintf(d->holder, sizeof d->holder, "%s", holder);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
	ev_timer_init(&d->ctimer, on_ctimer, 0., 0.);
	d->ctimer.data = d;
	ev_timer_init(&d->kick, on_tick, 0.01, 0.);
	d->kick.data = d;
	ev_timer_init(&d->tick, on_tick, tick_seconds(), tick_seconds());
	d->tick.data = d;
	ev_timer_start(loop, &d->tick);
	return d;
}

void whd_reload(struct whd *d)
{
	struct db *db = d ? db_open() : NULL;
	if (!db)
		return;
	db_close(d->db);
	d->db = db;
	d->tick.repeat = tick_seconds();
	ev_timer_again(d->loop, &d->tick);
}

void whd_free(struct whd *d)
{
	if (!d)
		return;
	ev_timer_stop(d->loop, &d->tick);
	ev_timer_stop(d->loop, &d->ctimer);
	ev_timer_stop(d->loop, &d->kick);
	while (d->inflight) {
		struct xfer *x = d->inflight;
		d->inflight = x->next;
		xfer_free(x);
	}
	curl_multi_cleanup(d->multi);
	db_close(d->db);
	free(d);
}
