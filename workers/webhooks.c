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
#define CANDIDATES 200      /* due rows read per claim */
#define BATCH 100           /* ids per claim / outcome statement (sqlb's argument bound) */
#define ROWS 24             /* outcome rows (5 values each) per history statement */
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
	char started[24];        /* wall time of the attempt, database text */
	/* the outcome, once done */
	bool ok;
	long code, ms;
	char why[300];
	struct xfer *next;
};

struct whd {
	struct ev_loop *loop;
	struct db *db;
	CURLM *multi;
	ev_timer tick, ctimer, kick;
	struct xfer *inflight;   /* transfers running */
	struct xfer *done;       /* transfers finished, outcome not written yet */
	int n_inflight, n_done;
	int64_t fair_at;         /* util_mono_ms() of the next read past busy endpoints */
	int64_t down_until;      /* database unavailable: no claim before this util_mono_ms() */
	int backoff_s;           /* the next back-off: 1, 2, 4 ... 30 s */
	char holder[128];
};

struct sock {
	ev_io io;
	struct whd *d;
};

/* Due rows of the queue in order (sql/0027_webhook_queue.sql): a claimed row's due_at is its
 * lease's end, so rows in flight are not in this range; endpoints already at their bound are
 * left out by a second read with their ids appended (see claim()). */
#define DUE_SQL                                                                                  \
	"SELECT delivery_id, endpoint_id FROM webhook_queue FORCE INDEX (ix_webhook_queue_due)"   \
	" WHERE due_at <= NOW(3)"
#define DUE_TAIL " ORDER BY due_at LIMIT 200"
/* The endpoints of the candidates, locked in id order: the claims of one endpoint (every
 * worker's) one after the other, so its count of leased rows below is exact. */
#define LOCK_EP_SQL                                                                              \
	"SELECT id, enabled FROM webhook_endpoints WHERE id IN ("
#define LOCK_EP_TAIL ") ORDER BY id FOR UPDATE"
/* Their transfers in flight, every worker's: rows with a lease that has not expired. */
#define LEASED_SQL                                                                               \
	"SELECT endpoint_id, COUNT(*) FROM webhook_queue FORCE INDEX (ix_webhook_queue_leased)"    \
	" WHERE claim_token IS NOT NULL AND due_at > NOW(3) AND endpoint_id IN ("
#define LEASED_TAIL ") GROUP BY endpoint_id"
/* The endpoints a claim takes rows of: a write, so that claims of one endpoint on two Galera
 * nodes conflict at certification (the row locks above are each node's own). */
#define CLAIM_EP_SQL "UPDATE webhook_endpoints SET claim_seq = claim_seq + 1 WHERE id IN ("
/* The claim: a compare-and-set (still due) that moves due_at to the lease's end. */
#define CLAIM_SQL                                                                                \
	"UPDATE webhook_queue SET due_at = NOW(3) + INTERVAL ? SECOND, claim_token = ?,"            \
	" attempts = attempts + 1 WHERE due_at <= NOW(3) AND delivery_id IN ("
#define CLAIMED_SQL                                                                              \
	"SELECT q.delivery_id, q.endpoint_id, q.event_id, e.body, w.url, w.secret, q.attempts"    \
	" FROM webhook_queue q JOIN webhook_events e ON e.id = q.event_id"                        \
	" JOIN webhook_endpoints w ON w.id = q.endpoint_id"                                       \
	" WHERE q.claim_token = ? AND q.delivery_id IN ("
/* A disabled endpoint's due rows wait PARK_SECONDS (or until it is enabled: fcgi/webhooks.c). */
static const struct db_query Q_PARK = {
	"UPDATE webhook_queue SET due_at = NOW(3) + INTERVAL 3600 SECOND, claim_token = NULL"
	" WHERE endpoint_id = ? AND due_at <= NOW(3)"
};
/* Outcomes: the rows still held (same claim token), locked. */
#define HELD_SQL "SELECT delivery_id, claim_token FROM webhook_queue WHERE delivery_id IN ("
#define HELD_TAIL ") FOR UPDATE"
/* Delivered, or failed after the last attempt: out of the queue. */
#define UNQUEUE_SQL "DELETE FROM webhook_queue WHERE delivery_id IN ("
/* The history of delivered rows: one derived row (id, code, ms, attempts, started) each. */
#define DELIVERED_SQL                                                                            \
	"UPDATE webhook_deliveries d JOIN ("
#define DELIVERED_ROW "SELECT ? AS id, ? AS code, ? AS ms, ? AS att, ? AS started"
#define DELIVERED_TAIL                                                                           \
	") v ON v.id = d.id SET d.status = 'delivered', d.delivered_at = NOW(3),"                 \
	" d.last_status_code = v.code, d.last_error = NULL, d.last_duration_ms = v.ms,"           \
	" d.attempts = v.att, d.last_attempt_at = v.started"
#define EP_OK_SQL                                                                                \
	"UPDATE webhook_endpoints SET failure_streak = 0, failing_since = NULL,"                  \
	" last_success_at = NOW(3) WHERE id IN ("
#define EP_OK_TAIL                                                                               \
	") AND (failure_streak > 0 OR last_success_at IS NULL"                                    \
	" OR last_success_at < NOW(3) - INTERVAL 1 SECOND)"
static const struct db_query Q_RETRY = {
	"UPDATE webhook_queue SET due_at = NOW(3) + INTERVAL ? SECOND, claim_token = NULL"
	" WHERE delivery_id = ?"
};
static const struct db_query Q_FAILED = {
	"UPDATE webhook_deliveries SET status = IF(? = 1, 'failed', 'pending'),"
	" last_status_code = ?, last_error = ?, last_duration_ms = ?, attempts = ?,"
	" last_attempt_at = ? WHERE id = ?"
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

/* Appends the list "?, ?, ..." of ids[0..n-1] then tail, padded with the last id to a size of
 * 1, 2, 4, ... 64 or BATCH, so the statement texts (one prepared statement each) stay few. */
static void in_list(struct sqlb *b, const char *const *ids, int n, const char *tail)
{
	int size = 1;
	while (size < n)
		size *= 2;
	if (size > 64)
		size = BATCH;
	for (int k = 0; k < size; k++)
		sqlb_bind(b, k ? ", ?" : "?", DS(ids[k < n ? k : n - 1]));
	sqlb_add(b, tail);
}

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
static void claim(struct whd *d, bool tick);

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

/* Starts the POST of claimed delivery x from row i of CLAIMED_SQL. */
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
	util_ms_to_db(util_now_ms(), x->started);
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

/* The outcome of finished transfer x, kept on x until flush() writes it. */
static void xfer_outcome(struct xfer *x, CURLcode rc)
{
	curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &x->code);
	x->ms = (long)(util_mono_ms() - x->t0);
	/* a 2xx whose body was cut at BODY_CAP was still received */
	x->ok = x->code >= 200 && x->code < 300 && (rc == CURLE_OK || rc == CURLE_WRITE_ERROR);
	if (x->ok)
		return;
	if (x->blocked)
		snprintf(x->why, sizeof x->why, "destination address refused (loopback, private, "
			 "link-local or metadata; see webhook_allow)");
	else if (rc != CURLE_OK)
		snprintf(x->why, sizeof x->why, "%s", curl_easy_strerror(rc));
	else
		snprintf(x->why, sizeof x->why, "HTTP status %ld", x->code);
}

/* A failed attempt of held delivery x: due again after the schedule's next delay, or failed
 * for good (out of the queue); the endpoint's streak, which may disable it. */
static enum api_err write_failure(struct whd *d, const struct xfer *x)
{
	long delay = retry_delay(x->attempts);
	enum api_err err;
	const char *id = x->id;
	if (delay < 0) {
		struct sqlb b;
		sqlb_init(&b, UNQUEUE_SQL);
		in_list(&b, &id, 1, ")");
		err = sqlb_exec(d->db, &b, NULL);
		sqlb_release(&b);
	} else {
		err = db_exec(d->db, &Q_RETRY, DB_ARGS(DI(delay), DS(x->id)), NULL);
	}
	if (!err)
		err = db_exec(d->db, &Q_FAILED, DB_ARGS(DI(delay < 0), x->code ? DI(x->code) : DNULL,
							 DS(x->why), DI(x->ms), DI(x->attempts),
							 DS(x->started), DS(x->id)), NULL);
	if (!err)
		err = db_exec(d->db, &Q_EP_FAIL, DB_ARGS(DS(x->endpoint)), NULL);
	if (err)
		return err;
	long streak = cfg_int("webhook_disable_failures", 100);
	long days = cfg_int("webhook_disable_days", 5);
	char reason[200];
	snprintf(reason, sizeof reason, "disabled by the worker: %ld consecutive failed attempts or "
		 "failing for more than %ld days; last: %.80s", streak, days, x->why);
	if ((err = db_exec(d->db, &Q_EP_DISABLE, DB_ARGS(DS(reason), DS(x->endpoint), DI(streak),
							   DI(days * 86400)), NULL)) == E_OK &&
	    db_affected(d->db) == 1)
		log_warn("webhook endpoint %s disabled: %s", x->endpoint, reason);
	return err;
}

/* The delivered ones of held[0..n-1]: out of the queue, their history, their endpoints'
 * success (a handful of statements for the whole batch). */
static enum api_err write_delivered(struct whd *d, struct xfer *const *held, int n)
{
	const char *ids[BATCH], *eps[BATCH];
	int m = 0, ne = 0;
	enum api_err err = E_OK;
	for (int k = 0; k < n; k++) {
		ids[m++] = held[k]->id;
		bool seen = false;
		for (int j = 0; j < ne && !seen; j++)
			seen = strcmp(eps[j], held[k]->endpoint) == 0;
		if (!seen)
			eps[ne++] = held[k]->endpoint;
	}
	if (m == 0)
		return E_OK;
	struct sqlb b;
	sqlb_init(&b, UNQUEUE_SQL);
	in_list(&b, ids, m, ")");
	err = sqlb_exec(d->db, &b, NULL);
	sqlb_release(&b);
	for (int k = 0; !err && k < n; k += ROWS) {
		sqlb_init(&b, DELIVERED_SQL);
		for (int j = k; j < n && j < k + ROWS; j++) {
			const struct xfer *x = held[j];
			sqlb_add(&b, j > k ? " UNION ALL " DELIVERED_ROW : DELIVERED_ROW);
			sqlb_bind(&b, NULL, DS(x->id));
			sqlb_bind(&b, NULL, DI(x->code));
			sqlb_bind(&b, NULL, DI(x->ms));
			sqlb_bind(&b, NULL, DI(x->attempts));
			sqlb_bind(&b, NULL, DS(x->started));
		}
		sqlb_add(&b, DELIVERED_TAIL);
		err = sqlb_exec(d->db, &b, NULL);
		sqlb_release(&b);
	}
	if (!err) {
		sqlb_init(&b, EP_OK_SQL);
		in_list(&b, eps, ne, EP_OK_TAIL);
		err = sqlb_exec(d->db, &b, NULL);
		sqlb_release(&b);
	}
	return err;
}

/* Writes the outcomes of up to BATCH finished transfers in the caller's transaction: only of
 * rows this worker still holds (its claim token; a lease that expired may have been claimed
 * again). *n receives how many of the done list it covered (done_free after the commit). When
 * the transaction fails they stay done and are written at the next try (if their leases
 * expire meanwhile, they are sent again). */
static enum api_err write_outcomes(struct whd *d, int *n)
{
	struct xfer *batch[BATCH], *held[BATCH];
	const char *ids[BATCH];
	int nh = 0;
	*n = 0;
	for (struct xfer *x = d->done; x && *n < BATCH; x = x->next) {
		batch[*n] = x;
		ids[(*n)++] = x->id;
	}
	if (*n == 0)
		return E_OK;
	struct db_res rs = { 0 };
	struct sqlb b;
	sqlb_init(&b, HELD_SQL);
	in_list(&b, ids, *n, HELD_TAIL);
	enum api_err err = sqlb_exec(d->db, &b, &rs);
	sqlb_release(&b);
	for (unsigned long i = 0; !err && i < rs.nrows; i++)
		for (int k = 0; k < *n; k++)
			if (strcmp(batch[k]->id, db_get(&rs, i, 0)) == 0 && db_get(&rs, i, 1) &&
			    strcmp(batch[k]->token, db_get(&rs, i, 1)) == 0) {
				held[nh++] = batch[k];
				break;
			}
	db_res_free(&rs);
	/* successes first, together; failures (rare) one by one */
	int ns = 0;
	for (int k = 0; k < nh; k++)
		if (held[k]->ok) {
			struct xfer *t = held[ns];
			held[ns++] = held[k];
			held[k] = t;
		}
	if (!err)
		err = write_delivered(d, held, ns);
	for (int k = ns; !err && k < nh; k++)
		err = write_failure(d, held[k]);
	return err;
}

static void done_free(struct whd *d, int n)
{
	for (int k = 0; k < n && d->done; k++) {
		struct xfer *x = d->done;
		d->done = x->next;
		d->n_done--;
		xfer_free(x);
	}
}

/* The finished transfers of this loop iteration: off the multi handle, onto the done list;
 * the kick writes their outcomes together and claims again. */
static void check_done(struct whd *d)
{
	CURLMsg *m;
	int left, finished = 0;
	while ((m = curl_multi_info_read(d->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct xfer *x = NULL;
		CURLcode rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (!x)
			continue;
		xfer_outcome(x, rc);
		for (struct xfer **p = &d->inflight; *p; p = &(*p)->next)
			if (*p == x) {
				*p = x->next;
				break;
			}
		d->n_inflight--;
		x->next = d->done;
		d->done = x;
		d->n_done++;
		finished++;
	}
	if (finished && !ev_is_active(&d->kick))
		ev_timer_start(d->loop, &d->kick);
}

/* An endpoint of the due rows read by a claim: how many more transfers it may get. */
struct ep {
	char id[UUID_LEN + 1];
	long room;               /* webhook_endpoint_inflight minus its leased rows; -1 disabled */
};

static int ep_find(const struct ep *eps, int n, const char *id)
{
	for (int k = 0; k < n; k++)
		if (strcmp(eps[k].id, id) == 0)
			return k;
	return -1;
}

/* Due rows in order (autocommit: its own snapshot), leaving out the endpoints of skip. */
static enum api_err due_rows(struct whd *d, const char *const *skip, int nskip, struct db_res *rs)
{
	struct sqlb b;
	sqlb_init(&b, DUE_SQL);
	if (nskip) {
		sqlb_add(&b, " AND endpoint_id NOT IN (");
		in_list(&b, skip, nskip, ")");
	}
	sqlb_add(&b, DUE_TAIL);
	enum api_err err = sqlb_exec(d->db, &b, rs);
	sqlb_release(&b);
	return err;
}

/* In the claim's transaction: locks the endpoints of rs (eps, *ne out) and computes their
 * room. The count of leased rows is the transaction's first consistent read, so its snapshot
 * is taken after the locks: it sees every claim committed before (one claim per endpoint at a
 * time). Parks the due rows of disabled endpoints. */
static enum api_err ep_room(struct whd *d, const struct db_res *rs, struct ep *eps, int *ne,
			    long per)
{
	const char *ids[BATCH];
	int n = 0;
	for (unsigned long i = 0; i < rs->nrows && n < BATCH; i++)
		if (ep_find(eps, n, db_get(rs, i, 1)) < 0) {
			DB_COPY(eps[n].id, rs, i, 1);
			eps[n].room = -1;
			ids[n] = eps[n].id;
			n++;
		}
	*ne = n;
	if (n == 0)
		return E_OK;
	struct db_res got = { 0 };
	struct sqlb b;
	sqlb_init(&b, LOCK_EP_SQL);
	in_list(&b, ids, n, LOCK_EP_TAIL);
	enum api_err err = sqlb_exec(d->db, &b, &got);
	sqlb_release(&b);
	for (unsigned long i = 0; !err && i < got.nrows; i++) {
		int k = ep_find(eps, n, db_get(&got, i, 0));
		if (k >= 0 && db_get_int(&got, i, 1, 0) == 1)
			eps[k].room = per;
	}
	db_res_free(&got);
	if (!err) {
		sqlb_init(&b, LEASED_SQL);
		in_list(&b, ids, n, LEASED_TAIL);
		err = sqlb_exec(d->db, &b, &got);
		sqlb_release(&b);
	}
	for (unsigned long i = 0; !err && i < got.nrows; i++) {
		int k = ep_find(eps, n, db_get(&got, i, 0));
		if (k >= 0 && eps[k].room > 0)
			eps[k].room -= db_get_int(&got, i, 1, 0);
	}
	db_res_free(&got);
	for (int k = 0; !err && k < n; k++)
		if (eps[k].room == -1)
			err = db_exec(d->db, &Q_PARK, DB_ARGS(DS(eps[k].id)), NULL);
	return err;
}

/* 1 when one of the picked ids (rows of rs) is a row of endpoint ep. */
static int picked_of(const struct db_res *rs, const char *const *ids, int n, const char *ep)
{
	for (unsigned long i = 0; i < rs->nrows; i++)
		if (strcmp(db_get(rs, i, 1), ep) == 0)
			for (int k = 0; k < n; k++)
				if (ids[k] == db_get(rs, i, 0))
					return 1;
	return 0;
}

static void backoff(struct whd *d, enum api_err err)
{
	if (err != E_SERVICE_UNAVAILABLE)
		return;
	/* as the worker's loop: back off, no spinning */
	d->backoff_s = d->backoff_s ? (d->backoff_s * 2 > 30 ? 30 : d->backoff_s * 2) : 1;
	d->down_until = util_mono_ms() + d->backoff_s * 1000LL;
}

/* One claim of at most room deliveries: the due rows (one read, without the endpoints of skip),
 * then in one transaction the outcomes of finished transfers (write_outcomes), the due rows'
 * endpoints locked and counted (ep_room), the picked rows' leases (a compare-and-set: still
 * due; due_at moves to the lease's end), what was claimed read back; the transfers start after
 * the commit. Returns the number started, -1 on a
 * database error; *full receives the endpoints that had no room when the read was full of
 * their rows (the caller reads once more without them). */
static int claim_once(struct whd *d, long room, const char *const *skip, int nskip,
		      struct ep *full, int *nfull)
{
	long per = cfg_int("webhook_endpoint_inflight", 16);
	struct db_res rs = { 0 }, got = { 0 };
	struct ep eps[BATCH];
	const char *ids[BATCH];
	char token[33];
	int ne = 0, n = 0;
	bool waited = false;
	int written = 0;
	*nfull = 0;
	enum api_err err = util_random_hex(token, 16) < 0 ? E_INTERNAL_ERROR
			   : room > 0 ? due_rows(d, skip, nskip, &rs) : E_OK;
	if (!err && rs.nrows == 0 && !d->done) {
		db_res_free(&rs);
		return 0;
	}
	if (!err)
		err = db_begin(d->db);
	if (!err)
		err = write_outcomes(d, &written);
	if (!err)
		err = ep_room(d, &rs, eps, &ne, per);
	for (unsigned long i = 0; !err && i < rs.nrows && n < room; i++) {
		int k = ep_find(eps, ne, db_get(&rs, i, 1));
		if (k >= 0 && eps[k].room > 0) {
			eps[k].room--;
			ids[n++] = db_get(&rs, i, 0);
		} else {
			waited = waited || (k >= 0 && eps[k].room == 0);
		}
	}
	struct sqlb b;
	if (!err && n > 0) {
		const char *claimed_eps[BATCH];
		int nc = 0;
		for (int k = 0; k < ne; k++)
			if (picked_of(&rs, ids, n, eps[k].id))
				claimed_eps[nc++] = eps[k].id;
		if (nc > 0) {
			sqlb_init(&b, CLAIM_EP_SQL);
			in_list(&b, claimed_eps, nc, ")");
			err = sqlb_exec(d->db, &b, NULL);
			sqlb_release(&b);
		}
	}
	if (!err && n > 0) {
		sqlb_init(&b, CLAIM_SQL);
		sqlb_bind(&b, NULL, DI(lease_s()));
		sqlb_bind(&b, NULL, DS(token));
		in_list(&b, ids, n, ")");
		err = sqlb_exec(d->db, &b, NULL);
		sqlb_release(&b);
	}
	if (!err && n > 0) {
		sqlb_init(&b, CLAIMED_SQL);
		sqlb_bind(&b, NULL, DS(token));
		in_list(&b, ids, n, ")");
		err = sqlb_exec(d->db, &b, &got);
		sqlb_release(&b);
	}
	if (!err && waited && rs.nrows == CANDIDATES && n < room)
		for (int k = 0; k < ne; k++)
			if (eps[k].room <= 0)
				full[(*nfull)++] = eps[k];
	db_res_free(&rs);
	if (!err && db_in_txn(d->db))
		err = db_commit(d->db);
	if (err) {
		if (db_in_txn(d->db))
			db_rollback(d->db);
		db_res_free(&got);
		backoff(d, err);
		return -1;
	}
	d->backoff_s = 0;
	done_free(d, written);
	int started = 0;
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
		else
			started++;
	}
	db_res_free(&got);
	return started;
}

/* Claims up to the worker's free transfer slots (webhook_max_inflight). On the tick, when the
 * due rows read were all of endpoints at their bound, reads once more without them, so one
 * endpoint's backlog does not hold up the others for longer than a tick (that read steps over
 * the backlog: once a tick, not after every transfer). */
static void claim(struct whd *d, bool tick)
{
	long cap = cfg_int("webhook_max_inflight", 256);
	struct ep full[BATCH], again[BATCH];
	const char *skip[BATCH];
	int nfull = 0, nagain = 0;
	if (cap > 1024)
		cap = 1024;
	long room = cap - d->n_inflight;
	if (util_mono_ms() < d->down_until)
		return;
	int got = claim_once(d, room < 0 ? 0 : room > BATCH ? BATCH : room, NULL, 0, full, &nfull);
	while (got >= 0 && d->done) /* more outcomes than one statement takes */
		got = claim_once(d, 0, NULL, 0, full, &nfull);
	if (got < 0 || nfull == 0 || !tick || util_mono_ms() < d->fair_at)
		return;
	d->fair_at = util_mono_ms() + 1000;
	for (int k = 0; k < nfull; k++)
		skip[k] = full[k].id;
	room -= got;
	if (room > 0)
		claim_once(d, room > BATCH ? BATCH : room, skip, nfull, again, &nagain);
}

/* The kick (after transfers finished) and the tick: outcomes written, then a claim. */
static void on_kick(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	struct whd *d = t->data;
	claim(d, t == &d->tick);
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
	ev_timer_init(&d->kick, on_kick, 0.005, 0.);
	d->kick.data = d;
	ev_timer_init(&d->tick, on_kick, tick_seconds(), tick_seconds());
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
	for (struct xfer **l = &d->inflight; l; l = l == &d->inflight ? &d->done : NULL)
		while (*l) {
			struct xfer *x = *l;
			*l = x->next;
			xfer_free(x);
		}
	curl_multi_cleanup(d->multi);
	db_close(d->db);
	free(d);
}
