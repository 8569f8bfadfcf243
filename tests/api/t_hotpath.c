/* t_hotpath.c - what the hot path of authenticated reads (GET /v1/printers, /v1/printers/{id},
 * /v1/jobs) must keep promising however it is served (docs/testing.md "Hot path"):
 *   - the per-key limit is exact across all FastCGI children, X-RateLimit-Remaining is never
 *     generous;
 *   - a revoked or expired key is refused everywhere 1 s after the change; a new key works on
 *     its first request (also one that was tried, unknown, just before it was created);
 *   - a client reads its own writes on any child;
 *   - another account's ids never appear;
 *   - changes made by the worker (printer status from the hub, job events) show within 1 s.
 * Every check sends its requests over many connections at once (api_burst / api_calls: one
 * connection each), more than the stack's FastCGI children, so every child answers some: state
 * one child keeps for itself (a cached key, answer or quota) cannot hide. The tests are
 * black-box: they hold with or without the answer cache (conf api_cache). */
#include "apitest.h"
#include "rig.h"

#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Connections of one burst: three times the test stack's 8 FastCGI children. */
#define WIDE 24
#define BIG_LIMIT 100000

/* Refused keys are failed authentications, counted per client address (docs/api-conventions.md): the
 * bursts that expect 401s come from addresses of their own (127/8 is all loopback), whose
 * counters the test then clears, so no other test's address reaches the threshold. */
static const struct db_query Q_FAILS_CLEAR = { "DELETE FROM auth_failures WHERE addr = ?" };
#define ADDR_REVOKED "127.0.0.21"
#define ADDR_EXPIRED "127.0.0.22"
#define ADDR_UNKNOWN "127.0.0.23"

/* Sends n (≤ WIDE) requests rotating over paths (NULL-terminated) with key at once, one
 * connection each, from addr (NULL: the usual one); each must answer status (with code for an
 * error). 0, or -1 after recording the first wrong answer (and how many were wrong). */
static int burst_from(const char *addr, const char *const *paths, const char *key, int n,
		      long status, const char *code, const char *why)
{
	static struct resp out[WIDE];
	struct call calls[WIDE];
	int np = 0;
	while (paths[np])
		np++;
	for (int i = 0; i < n; i++)
		calls[i] = (struct call){ .path = paths[i % np], .key = key, .source_ip = addr };
	int done = api_calls(calls, n, out);
	int bad = 0, first = -1;
	for (int i = 0; i < n; i++) {
		const char *got = jstr(out[i].json, "code");
		int ok = out[i].status == status &&
			 (code ? got && strcmp(got, code) == 0 : got == NULL);
		if (!ok && first < 0)
			first = i;
		bad += !ok;
	}
	if (first >= 0)
		CHECK(0, &out[first], "%s: %d of %d concurrent answers were not %ld %s", why, bad, n,
		      status, code ? code : "");
	CHECK(done == n, NULL, "%s: %d of %d transfers completed", why, done, n);
	for (int i = 0; i < n; i++)
		resp_free(&out[i]);
	return bad || done != n ? -1 : 0;
}

#define burst_expect(...) burst_from(NULL, __VA_ARGS__)

/* Sleeps until util_now_ms() reaches at_ms. */
static void sleep_until(int64_t at_ms)
{
	int64_t now = util_now_ms();
	if (at_ms > now)
		sleep_ms((long)(at_ms - now));
}

/* The element of the list answer r whose "id" is id (borrowed), or NULL. */
static json_t *find_id(const struct resp *r, const char *id)
{
	json_t *data = rdata(r), *el;
	size_t i;
	json_array_foreach(data, i, el) {
		const char *e = jstr(el, "id");
		if (e && strcmp(e, id) == 0)
			return el;
	}
	return NULL;
}

/* ----------------------------------------------------------------- the exact limit */

static void test_limit_exact(void)
{
	enum { L = 30, BATCH = 18, BATCHES = 5 }; /* 3L requests */
	struct tenant t;
	char key[FX_KEY], hub[FX_ID], printer[FX_ID], ppath_[200];
	static struct resp out[BATCH];
	FX(fx_tenant(&t, "read"));
	FX(fx_key(t.account, "read", L, NULL, key, NULL));
	FX(fx_hub(t.account, "limit hub", hub));
	FX(fx_printer(t.account, hub, "limit printer", "X1 Carbon", printer));
	fx_fill(ppath_, sizeof ppath_, "/printers/{id}", printer);
	const char *paths[] = { "/printers", ppath_, "/jobs" };
	struct call calls[BATCH];
	for (int i = 0; i < BATCH; i++)
		calls[i] = (struct call){ .path = paths[i % 3], .key = key };
	fx_window_edge(15);
	int ok = 0, limited = 0, other = 0, generous = 0, bad429 = 0;
	int hist[L] = { 0 };
	for (int b = 0; b < BATCHES; b++) {
		int before = ok; /* the 200s of the batches answered before this one was sent */
		int done = api_calls(calls, BATCH, out);
		INT_EQ(done, BATCH, NULL);
		for (int i = 0; i < BATCH; i++) {
			struct resp *r = &out[i];
			long long rem = hdr_int(r, "X-RateLimit-Remaining");
			if (r->status == 200) {
				ok++;
				if (rem < 0 || rem > L - 1 - before) {
					if (!generous++)
						CHECK(0, r, "X-RateLimit-Remaining %lld after %d earlier "
							    "successes of a limit of %d", rem, before, L);
				} else {
					hist[rem]++;
				}
			} else if (r->status == 429) {
				limited++;
				const char *code = jstr(r->json, "code");
				long long ra = hdr_int(r, "Retry-After");
				if ((!code || strcmp(code, "RATE_LIMITED") != 0 || rem != 0 || ra < 1 ||
				     ra > 60) && !bad429++)
					CHECK(0, r, "a 429 is RATE_LIMITED with Remaining 0 and a "
						    "Retry-After of 1..60 s");
			} else if (!other++) {
				CHECK(0, r, "only 200 or 429 in the flood");
			}
			resp_free(r);
		}
	}
	/* whatever the order the answers were made in: the k-th largest Remaining of a success
	 * is at most L-1-k (k successes were counted before it) */
	int k = 0;
	for (int v = L - 1; v >= 0; v--)
		for (int j = 0; j < hist[v]; j++, k++)
			generous += v > L - 1 - k;
	CHECK(ok <= L && ok >= 1 && other == 0, NULL,
	      "%d requests of a key limited to %d over %d connections at a time: %d answered 200 "
	      "(at most %d), %d got 429, %d other", BATCH * BATCHES, L, BATCH, ok, L, limited,
	      other);
	CHECK(generous == 0 && bad429 == 0, NULL,
	      "X-RateLimit-Remaining never generous (%d were), every 429 well formed (%d were not)",
	      generous, bad429);
	/* and the key stays limited on every child */
	const char *again[] = { "/printers", "/jobs", NULL };
	burst_expect(again, key, WIDE, 429, "RATE_LIMITED", "the spent key");
}

/* ------------------------------------------------------------- revocation and expiry */

static const char *const HOT[] = { "/printers", "/jobs", "/printers?is_active=true", NULL };

static const struct db_query Q_KEY_REVOKE_QUIET = {
	"UPDATE api_keys SET revoked_at = NOW(3) WHERE id = ?"
};

static void test_revoked_within_1s(void)
{
	struct tenant t;
	char key[FX_KEY], id[FX_ID];
	FX(fx_tenant(&t, "read"));
	FX(fx_key(t.account, "read", BIG_LIMIT, NULL, key, id));
	/* known to every child */
	for (int i = 0; i < 3; i++)
		FX(burst_expect(HOT, key, WIDE, 200, NULL, "the key before its revocation"));
	/* revoked by a program that does not tell the API hosts (apf-admin does: test_auth's
	 * "revoked key"): the hosts' own reading of the key must catch it within 1 s */
	FX(FX_SQL_QUIET(Q_KEY_REVOKE_QUIET, DS(id)));
	int64_t revoked = util_now_ms(); /* committed when the statement returned */
	sleep_until(revoked + 1000);
	for (int i = 0; i < 3; i++)
		burst_from(ADDR_REVOKED, HOT, key, WIDE, 401, "TOKEN_REVOKED", "1 s after the revocation");
	FX(FX_SQL(Q_FAILS_CLEAR, DS(ADDR_REVOKED)));
	/* the account's other key is not affected */
	burst_expect(HOT, t.key, WIDE, 200, NULL, "another key of the account");
}

static void test_expired_within_1s(void)
{
	struct tenant t;
	char key[FX_KEY], at[40];
	FX(fx_tenant(&t, "read"));
	time_t exp = time(NULL) + 4;
	struct tm tm;
	strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&exp, &tm));
	FX(fx_key(t.account, "read", BIG_LIMIT, at, key, NULL));
	/* known to every child while valid (a slow machine may leave time for one burst only) */
	FX(burst_expect(HOT, key, WIDE, 200, NULL, "the key before it expires"));
	if (util_now_ms() < (int64_t)exp * 1000 - 1500)
		FX(burst_expect(HOT, key, WIDE, 200, NULL, "the key before it expires"));
	sleep_until((int64_t)exp * 1000 + 1000);
	for (int i = 0; i < 3; i++)
		burst_from(ADDR_EXPIRED, HOT, key, WIDE, 401, "TOKEN_EXPIRED", "1 s after expires_at");
	FX(FX_SQL(Q_FAILS_CLEAR, DS(ADDR_EXPIRED)));
}

/* A key row written the way apf-admin writes it (tools/admin_keys.c), for a key string the test
 * chose: its SHA-256 is the stored hash. */
static const struct db_query Q_KEY_ROW = {
	"INSERT INTO api_keys (id, account_id, name, key_hash, key_prefix, scopes)"
	" VALUES (?, ?, 'hotpath key', SHA2(?, 256), LEFT(?, 12), 'read')"
};

static void test_new_key_at_once(void)
{
	struct tenant t;
	char key[FX_KEY], u1[FX_ID], u2[FX_ID], id[FX_ID];
	FX(fx_tenant(&t, "read"));
	/* the account is known to every child */
	FX(burst_expect(HOT, t.key, WIDE, 200, NULL, "the account's first key"));
	FX(fx_key(t.account, "read", BIG_LIMIT, NULL, key, NULL));
	burst_expect(HOT, key, WIDE, 200, NULL, "a new key's first requests");
	/* a key tried (unknown) on every child, then created: it works at once */
	FX(fx_uuid(u1));
	FX(fx_uuid(u2));
	char *o = key + snprintf(key, sizeof key, "apf_live_");
	for (const char *p = u1; *p; p++)
		if (*p != '-')
			*o++ = *p;
	for (const char *p = u2; *p; p++)
		if (*p != '-')
			*o++ = *p;
	*o = '\0';
	int tried = burst_from(ADDR_UNKNOWN, HOT, key, WIDE, 401, "TOKEN_INVALID",
			       "a key not created yet");
	FX(FX_SQL(Q_FAILS_CLEAR, DS(ADDR_UNKNOWN)));
	FX(tried);
	FX(fx_uuid(id));
	FX(FX_SQL(Q_KEY_ROW, DS(id), DS(t.account), DS(key), DS(key)));
	burst_from(ADDR_UNKNOWN, HOT, key, WIDE, 200, NULL, "the key just created after being tried");
}

/* ------------------------------------------------------------------ read your writes */

static void test_read_your_writes(void)
{
	enum { ROUNDS = 50, READS = 9 };
	struct rig *g = rig_new();
	char tag[9], name[80], body[160], job[FX_ID] = "", cancelled[FX_ID] = "";
	static struct resp out[READS];
	RESP(r);
	FX(rig_make(g, "X1 Carbon", 0));
	const char *key = rig_key(g), *printer = rig_printer(g);
	const char *pp = ppath(printer, NULL);
	char ppath_[200];
	snprintf(ppath_, sizeof ppath_, "%s", pp);
	struct call calls[READS];
	const char *paths[] = { "/printers", ppath_, "/jobs" };
	for (int i = 0; i < READS; i++)
		calls[i] = (struct call){ .path = paths[i % 3], .key = key };
	fx_tag(tag);
	int stale = 0;
	for (int n = 0; n < ROUNDS && !stale; n++) {
		/* the answers as they are now, in every child's hands */
		api_calls(calls, READS, out);
		for (int i = 0; i < READS; i++)
			resp_free(&out[i]);
		snprintf(name, sizeof name, "rw %s %d", tag, n);
		snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
		api("PATCH", ppath_, key, body, &r);
		if (!EXPECT(r, 200, NULL))
			break;
		if (n % 5 == 0 && rig_job(g, NULL, NULL, job) < 0)
			break;
		if (n % 10 == 7) {
			post(jpath(job, "/cancel"), key, NULL, &r);
			if (!EXPECT(r, 200, NULL))
				break;
			snprintf(cancelled, sizeof cancelled, "%s", job);
		}
		api_calls(calls, READS, out);
		for (int i = 0; i < READS; i++) {
			struct resp *a = &out[i];
			const json_t *p = i % 3 == 0 ? find_id(a, printer)
					  : i % 3 == 1 ? rdata(a) : NULL;
			if (!EXPECT(*a, 200, NULL)) {
				stale++;
			} else if (i % 3 != 2) {
				stale += !STR_EQ(jstr(p, "name"), name, a);
			} else {
				const char *want = strcmp(job, cancelled) == 0 ? "cancelled" : "queued";
				const char *st = jstr(find_id(a, job), "status");
				stale += !CHECK(st && strcmp(st, want) == 0, a,
						"round %d: the job %s just written is listed %s", n, job,
						want);
			}
			resp_free(a);
		}
	}
	rig_free(g);
}

/* ---------------------------------------------------------------------- another account */

enum { SAME_PRINTERS = 3, SAME_JOBS = 2 };

struct shape {
	struct rig *g;
	char printer[SAME_PRINTERS][FX_ID];
	char job[SAME_JOBS][FX_ID];
	char own[200], foreign[200]; /* /printers/{own id}, /printers/{the other's id} */
};

/* An account with printers named "Same 1".."Same 3" (model X1 Carbon) and two queued jobs. */
static int make_shape(struct shape *s)
{
	RESP(r);
	s->g = rig_new();
	if (rig_make(s->g, "X1 Carbon", 0) < 0)
		return -1;
	snprintf(s->printer[0], FX_ID, "%s", rig_printer(s->g));
	api("PATCH", ppath(s->printer[0], NULL), rig_key(s->g), "{\"name\":\"Same 1\"}", &r);
	if (!EXPECT(r, 200, NULL))
		return -1;
	for (int i = 1; i < SAME_PRINTERS; i++) {
		char name[16];
		snprintf(name, sizeof name, "Same %d", i + 1);
		if (fx_printer(rig_account(s->g), rig_hub(s->g), name, "X1 Carbon", s->printer[i]) < 0)
			return -1;
	}
	for (int i = 0; i < SAME_JOBS; i++)
		if (rig_job(s->g, s->printer[i], NULL, s->job[i]) < 0)
			return -1;
	snprintf(s->own, sizeof s->own, "/printers/%s", s->printer[0]);
	return 0;
}

static int in_set(const char *id, const char (*set)[FX_ID], int n)
{
	for (int i = 0; id && i < n; i++)
		if (strcmp(set[i], id) == 0)
			return 1;
	return 0;
}

/* Every id of a list answer (and every job's printer_id) is s's own; all of them are there. */
static int own_list(const struct shape *s, const struct resp *r, int jobs)
{
	json_t *data = rdata(r), *el;
	size_t i;
	int n = 0;
	if (!json_is_array(data))
		return CHECK(0, r, "a list");
	json_array_foreach(data, i, el) {
		const char *id = jstr(el, "id");
		if (jobs ? !in_set(id, s->job, SAME_JOBS) ||
				   !in_set(jstr(el, "printer_id"), s->printer, SAME_PRINTERS)
			 : !in_set(id, s->printer, SAME_PRINTERS))
			return CHECK(0, r, "%s holds only the account's own ids", r->what);
		n++;
	}
	return CHECK(n == (jobs ? SAME_JOBS : SAME_PRINTERS), r, "all %d own rows listed (%d)",
		     jobs ? SAME_JOBS : SAME_PRINTERS, n);
}

static void test_other_account(void)
{
	enum { ROUNDS = 15, PER = 6, N = 2 * PER };
	static struct shape sa, sb;
	static struct resp out[N];
	struct shape *s[2] = { &sa, &sb };
	memset(&sa, 0, sizeof sa);
	memset(&sb, 0, sizeof sb);
	if (make_shape(&sa) < 0 || make_shape(&sb) < 0)
		goto out;
	snprintf(sa.foreign, sizeof sa.foreign, "%s", sb.own);
	snprintf(sb.foreign, sizeof sb.foreign, "%s", sa.own);
	struct call calls[N];
	for (int i = 0; i < N; i++) {
		const struct shape *m = s[i % 2];
		const char *path[PER] = { "/printers", "/jobs", m->own, m->foreign,
					  "/printers?is_active=true", "/jobs?limit=50&offset=0" };
		calls[i] = (struct call){ .path = path[(i / 2) % PER], .key = rig_key(m->g) };
	}
	int bad = 0;
	for (int n = 0; n < ROUNDS && !bad; n++) {
		api_calls(calls, N, out);
		for (int i = 0; i < N; i++) {
			const struct shape *m = s[i % 2];
			const struct resp *a = &out[i];
			int kind = (i / 2) % PER;
			if (kind == 2)
				bad += !(EXPECT(*a, 200, NULL) &&
					 STR_EQ(jstr(rdata(a), "id"), m->printer[0], a));
			else if (kind == 3)
				bad += !EXPECT(*a, 404, "PRINTER_NOT_FOUND");
			else
				bad += !(EXPECT(*a, 200, NULL) && own_list(m, a, kind % 2));
			resp_free(&out[i]);
		}
	}
out:
	rig_free(sa.g);
	rig_free(sb.g);
}

/* ------------------------------------------------------------------ worker changes */

/* Polls a stored status (fine-grained) until it is want; returns when the test saw it (ms), or
 * -1 (failure recorded). */
static int64_t stored(const struct db_query *q, const char *id, const char *want)
{
	char got[64] = "";
	int64_t end = util_now_ms() + 30000;
	do {
		if (fx_sql_text(q, DB_ARGS(DS(id)), got, sizeof got) < 0)
			return -1;
		if (strcmp(got, want) == 0)
			return util_now_ms();
		sleep_ms(10);
	} while (util_now_ms() < end);
	CHECK(0, NULL, "%s: stored status %s never became %s", id, got, want);
	return -1;
}

/* Every child answers GET path (a list: the element id; else the object) with field = want. */
static int all_show(const char *path, const char *key, const char *id, int list,
		    const char *field, const char *want, const char *why)
{
	static struct resp out[WIDE];
	struct call c = { .path = path, .key = key };
	int done = api_burst(&c, WIDE, out), bad = 0;
	for (int i = 0; i < WIDE; i++) {
		const json_t *o = list ? find_id(&out[i], id) : rdata(&out[i]);
		const char *v = jstr(o, field);
		if (!bad && !(out[i].status == 200 && v && strcmp(v, want) == 0))
			bad = !CHECK(0, &out[i], "%s: %s of %s is %s in every answer", why, field, id,
				     want);
		resp_free(&out[i]);
	}
	return done == WIDE && !bad ? 0 : -1;
}

/* The simulator does act (an instant fault) on the rig's printer; once the worker stored want
 * for id (q: its stored status), from 1 s later every child shows it in list (and in detail,
 * unless NULL). 0, or -1 (failure recorded). */
static int after_worker(struct rig *g, const char *act, const struct db_query *q, const char *id,
			const char *want, const char *list, const char *detail)
{
	char spec[120];
	snprintf(spec, sizeof spec, "%s printer=%s", act, rig_printer(g));
	if (hx_fault(rig_hubx(g), spec) < 0)
		return -1;
	int64_t seen = stored(q, id, want);
	if (seen < 0)
		return -1;
	sleep_until(seen + 1000);
	int rc = all_show(list, rig_key(g), id, 1, "status", want, "1 s after the worker");
	if (detail && all_show(detail, rig_key(g), id, 0, "status", want, "1 s after the worker") < 0)
		rc = -1;
	return rc;
}

static void test_worker_changes_within_1s(void)
{
	struct rig *g = rig_new();
	char job[FX_ID], pp[200];
	if (hx_skip_without_sim())
		goto out;
	if (rig_make(g, "X1 Carbon", 1) < 0)
		goto out;
	const char *key = rig_key(g), *printer = rig_printer(g);
	snprintf(pp, sizeof pp, "%s", ppath(printer, NULL));
	if (!PRINTER_BECOMES(printer, "idle") ||
	    all_show("/printers", key, printer, 1, "status", "idle", "before") < 0 ||
	    all_show(pp, key, printer, 0, "status", "idle", "before") < 0)
		goto out;
	/* printer status from the hub's status report, through the worker */
	if (after_worker(g, "printer_offline", &RIG_Q_PRINTER_STATUS, printer, "offline", "/printers",
			 pp) < 0 ||
	    after_worker(g, "printer_online", &RIG_Q_PRINTER_STATUS, printer, "idle", "/printers",
			 pp) < 0)
		goto out;
	/* a job event: paused and resumed on the printer itself */
	if (rig_printing(g, job) < 0 ||
	    all_show("/jobs", key, job, 1, "status", "printing", "before") < 0)
		goto out;
	if (after_worker(g, "user_pause", &RIG_Q_JOB_STATUS, job, "paused", "/jobs", NULL) == 0)
		after_worker(g, "user_resume", &RIG_Q_JOB_STATUS, job, "printing", "/jobs", NULL);
out:
	rig_free(g);
}

int suite_hotpath(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("hotpath", NULL, NULL, NULL, rig_sweep);
	if (!s)
		return -1;
	ADD_TEST(s, test_limit_exact);
	ADD_TEST(s, test_revoked_within_1s);
	ADD_TEST(s, test_expired_within_1s);
	ADD_TEST(s, test_new_key_at_once);
	ADD_TEST(s, test_read_your_writes);
	ADD_TEST(s, test_other_account);
	ADD_TEST(s, test_worker_changes_within_1s);
	return 0;
}
