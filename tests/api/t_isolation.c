/* t_isolation.c - one account cannot stall the API for the others.
 *
 * Hub-command waits hold a FastCGI child each: they are bounded per account (across hosts,
 * counted in MariaDB) and per host (a share of fcgi_children, common/budget.h); the excess is
 * refused at once and leaves no hub_commands row, a crashed child gives its share back, and
 * another account's reads keep their usual latency throughout. Request bodies have a deadline
 * (a grace period plus a minimum rate) and streamed uploads their own share of the children:
 * trickling uploads are cut off with 408 REQUEST_TIMEOUT and store nothing. The FastCGI socket
 * is 0660 (nginx's group), and thumbnails of authenticated files are private to caches.
 *
 * Everything runs over HTTPS through nginx, with the real hub simulator (a hub that never ACKs:
 * fault "timeout"). Latency is judged against a baseline measured first in the same test:
 * every read must answer within max(10 x baseline, 1 s). */
#include "rig.h"
#include "raw.h"

#include "budget.h"
#include "cfg.h"
#include "storage.h"
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEMP_BODY "{\"heater\": \"nozzle\", \"temperature\": 205}"

static const struct db_query Q_TEMP_CMDS = {
	"SELECT COUNT(*) FROM hub_commands WHERE printer_id = ? AND action = 'temperature.set'"
};
/* Open commands of a hub (waits in progress). */
static const struct db_query Q_OPEN_CMDS = {
	"SELECT COUNT(*) FROM hub_commands WHERE hub_id = ? AND action = 'temperature.set'"
	" AND status IN ('pending', 'sent')"
};
/* The waiter socket of one open command of a hub: ".../apf-fcgi-<pid>.wait". */
static const struct db_query Q_OPEN_WAITER = {
	"SELECT waiter FROM hub_commands WHERE hub_id = ? AND action = 'temperature.set'"
	" AND status IN ('pending', 'sent') AND waiter IS NOT NULL ORDER BY issued_at LIMIT 1"
};
static const struct db_query Q_FILES_OF = {
	"SELECT COUNT(*) FROM print_files WHERE account_id = ?"
};

/* ---------------------------------------------------------------------- reads and timing */

static long max_l(long a, long b)
{
	return a > b ? a : b;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

/* GET path; the answer in r, its latency in *ms. */
static long timed_get(const char *key, const char *path, struct resp *r, long *ms)
{
	int64_t t0 = util_now_ms();
	api("GET", path, key, NULL, r);
	*ms = (long)(util_now_ms() - t0);
	return r->status;
}

/* Median latency of GET /printers for key (after warming the connection); -1 on a failure. */
static long baseline_ms(const char *key)
{
	long v[11], ms;
	RESP(r);
	for (int i = 0; i < 3; i++)
		timed_get(key, "/printers", &r, &ms);
	for (int i = 0; i < 11; i++) {
		if (timed_get(key, "/printers", &r, &ms) != 200) {
			EXPECT(r, 200, NULL);
			return -1;
		}
		v[i] = ms;
	}
	qsort(v, 11, sizeof v[0], cmp_long);
	return v[5];
}

/* The generous bound every read under attack must meet. */
static long read_bound(long baseline)
{
	return max_l(10 * baseline, 1000);
}

/* Reads made while something else runs. */
struct reads {
	const char *key;
	long bound;
	int n, slow, failed;
	long max_ms;
};

/* One read of GET /printers, judged against the bound. */
static void read_once(struct reads *rd)
{
	long ms;
	RESP(r);
	timed_get(rd->key, "/printers", &r, &ms);
	rd->n++;
	if (ms > rd->max_ms)
		rd->max_ms = ms;
	if (r.status != 200)
		rd->failed++;
	else if (ms > rd->bound)
		rd->slow++;
}

static void reads_check(const struct reads *rd, const char *during)
{
	fprintf(stderr, "\n[isolation] %s: %d reads of another account, slowest %ld ms (bound %ld ms)",
		during, rd->n, rd->max_ms, rd->bound);
	CHECK(rd->n >= 3 && rd->slow == 0 && rd->failed == 0, NULL,
	      "%s: another account's GET /printers must answer 200 within %ld ms each: %d reads,"
	      " %d slower, %d failed, slowest %ld ms", during, rd->bound, rd->n, rd->slow,
	      rd->failed, rd->max_ms);
}

/* --------------------------------------------------------------- concurrent control POSTs */

/* n copies of one POST sent at once (curl multi, n connections) on a thread of their own. */
struct burst {
	char path[200];
	const char *key;
	int n;
	struct resp out[64];
	int done;
	atomic_int finished;
	pthread_t th;
	int started;
};

static void *burst_run(void *arg)
{
	struct burst *b = arg;
	struct call c = { .method = "POST", .path = b->path, .key = b->key, .body = TEMP_BODY };
	b->done = api_burst(&c, b->n, b->out);
	atomic_store(&b->finished, 1);
	return NULL;
}

static void burst_start(struct burst *b, const char *printer, const char *key, int n)
{
	memset(b, 0, sizeof *b);
	snprintf(b->path, sizeof b->path, "/printers/%s/temperature", printer);
	b->key = key;
	b->n = n < 64 ? n : 64;
	b->started = pthread_create(&b->th, NULL, burst_run, b) == 0;
	CHECK(b->started, NULL, "cannot start the request thread");
	if (!b->started)
		atomic_store(&b->finished, 1);
}

static void burst_join(struct burst *b)
{
	if (b->started)
		pthread_join(b->th, NULL);
	b->started = 0;
}

static void burst_free(struct burst *b)
{
	for (int i = 0; i < b->n; i++)
		resp_free(&b->out[i]);
}

/* A refusal for a full share: 429 TOO_MANY_HUB_COMMANDS (the account's) or 503 SERVER_BUSY (the
 * host's), with a Retry-After of at least one second. */
static int is_refusal(const struct resp *r)
{
	const char *code = jstr(r->json, "code");
	if (!code)
		return 0;
	int ok = (r->status == 429 && strcmp(code, "TOO_MANY_HUB_COMMANDS") == 0) ||
		 (r->status == 503 && strcmp(code, "SERVER_BUSY") == 0);
	return ok && hdr_int(r, "Retry-After") >= 1 && jstr(r->json, "error") != NULL;
}

static int is_hub_timeout(const struct resp *r)
{
	const char *code = jstr(r->json, "code");
	return r->status == 504 && code && strcmp(code, "HUB_TIMEOUT") == 0;
}

/* ------------------------------------------------------------------------------ tests */

/* Twice as many concurrent control requests as children, from one account, to a hub that never
 * ACKs: only the account's (and the host's) share waits, the rest is refused at once without a
 * command row, and another account's reads keep their latency. Once the waits are over the
 * account's commands are admitted again. */
static void test_waits_bounded(void)
{
	struct rig *g = rig_new();
	struct tenant reader;
	static struct burst b;
	RESP(r);
	if (hx_skip_without_sim())
		return;
	FX(rig_make(g, "X1 Carbon", 1));
	FX(fx_tenant(&reader, "read"));
	FX(hx_fault(rig_hubx(g), "timeout"));
	long children = budget_children();
	long admit = budget_hub_waits_per_account() < budget_hub_waits_per_host()
			     ? budget_hub_waits_per_account()
			     : budget_hub_waits_per_host();
	int n = (int)(2 * children);
	long base = baseline_ms(reader.key);
	FX(base < 0 ? -1 : 0);
	struct reads rd = { .key = reader.key, .bound = read_bound(base) };

	int64_t t0 = util_now_ms();
	burst_start(&b, rig_printer(g), rig_key(g), n);
	sleep_ms(300); /* the burst is in */
	while (!atomic_load(&b.finished) && util_now_ms() - t0 < 90000) {
		read_once(&rd);
		sleep_ms(100);
	}
	burst_join(&b);
	long burst_ms = (long)(util_now_ms() - t0);

	int waited = 0, refused = 0, other = 0;
	for (int i = 0; i < b.n; i++) {
		if (is_hub_timeout(&b.out[i]))
			waited++;
		else if (is_refusal(&b.out[i]))
			refused++;
		else if (other++ == 0)
			CHECK(0, &b.out[i], "unexpected answer in the burst");
	}
	fprintf(stderr, "\n[isolation] %d concurrent temperature requests (fcgi_children %ld):"
		" %d waited (504), %d refused, %d other, %ld ms; baseline read %ld ms", n, children,
		waited, refused, other, burst_ms, base);
	INT_EQ(b.done, n, NULL);
	CHECK(waited == admit && refused == n - admit && other == 0, NULL,
	      "%d concurrent awaited commands of one account: want %ld waiting and %ld refused"
	      " (429 TOO_MANY_HUB_COMMANDS / 503 SERVER_BUSY with Retry-After), got %d, %d and %d"
	      " other", n, admit, n - admit, waited, refused, other);
	reads_check(&rd, "hub-command waits");
	/* a refused request leaves nothing: one row per command that waited */
	INT_EQ(fx_count(&Q_TEMP_CMDS, rig_printer(g)), waited, NULL);
	burst_free(&b);

	/* the share is back once the waits are over */
	FX(hx_clear(rig_hubx(g)));
	post(ppath(rig_printer(g), "/temperature"), rig_key(g), TEMP_BODY, &r);
	EXPECT(r, 200, NULL);
	rig_free(g);
}

/* The host's share: attackers (as many accounts as it takes) fill every wait slot of the host;
 * another account's command is refused at once with 503 SERVER_BUSY (no row) while its reads are
 * served. A waiting child that is killed gives its slot back at once (the kernel drops its
 * lock), and its account's count forgets the dead wait when the command expires. */
static void test_waits_bounded_per_host(void)
{
	static struct burst b[3];
	struct rig *att[3] = { NULL, NULL, NULL }, *v = NULL;
	struct tenant reader;
	char waiter[200] = "";
	RESP(r);
	if (hx_skip_without_sim())
		return;
	long per_host = budget_hub_waits_per_host(), per_acct = budget_hub_waits_per_account();
	int k = (int)((per_host + per_acct - 1) / per_acct);
	if (k > 3) {
		fprintf(stderr, "\n[isolation] skipped: %ld slots per host need %d accounts of %ld",
			per_host, k, per_acct);
		return;
	}
	for (int i = 0; i < k; i++) {
		att[i] = rig_new();
		FX(rig_make(att[i], "X1 Carbon", 1));
		FX(hx_fault(rig_hubx(att[i]), "timeout"));
	}
	v = rig_new();
	FX(rig_make(v, "X1 Carbon", 1));
	FX(fx_tenant(&reader, "read"));
	long base = baseline_ms(reader.key);
	FX(base < 0 ? -1 : 0);
	struct reads rd = { .key = reader.key, .bound = read_bound(base) };

	/* exactly per_host waits, spread over the attackers */
	long left = per_host;
	for (int i = 0; i < k; i++) {
		int m = (int)(left < per_acct ? left : per_acct);
		burst_start(&b[i], rig_printer(att[i]), rig_key(att[i]), m);
		left -= m;
	}
	int64_t end = util_now_ms() + 15000;
	long long open = 0;
	do {
		open = 0;
		for (int i = 0; i < k; i++)
			open += fx_count(&Q_OPEN_CMDS, rig_hub(att[i]));
		if (open >= per_host)
			break;
		sleep_ms(50);
	} while (util_now_ms() < end);
	INT_EQ(open, per_host, NULL);
	read_once(&rd);

	/* every wait slot of the host is taken: the victim is refused at once, nothing queued */
	int64_t t0 = util_now_ms();
	post(ppath(rig_printer(v), "/temperature"), rig_key(v), TEMP_BODY, &r);
	long refuse_ms = (long)(util_now_ms() - t0);
	if (EXPECT(r, 503, "SERVER_BUSY"))
		CHECK(hdr_int(&r, "Retry-After") >= 1, &r, "Retry-After on SERVER_BUSY");
	CHECK(refuse_ms < rd.bound, &r, "the refusal came at once (%ld ms)", refuse_ms);
	INT_EQ(fx_count(&Q_TEMP_CMDS, rig_printer(v)), 0, NULL);
	read_once(&rd);

	/* a waiting child dies: its slot is free at once */
	if (FX_TEXT(waiter, Q_OPEN_WAITER, DS(rig_hub(att[0]))) == 0 && strrchr(waiter, '-')) {
		pid_t pid = (pid_t)atol(strrchr(waiter, '-') + 1);
		CHECK(pid > 1 && kill(pid, SIGKILL) == 0, NULL, "SIGKILL the waiting child %d",
		      (int)pid);
		sleep_ms(300);
		post(ppath(rig_printer(v), "/temperature"), rig_key(v), TEMP_BODY, &r);
		EXPECT(r, 200, NULL);
	} else {
		CHECK(0, NULL, "no waiter recorded for the attacker's commands");
	}
	read_once(&rd);
	for (int i = 0; i < k; i++) {
		while (!atomic_load(&b[i].finished)) {
			read_once(&rd);
			sleep_ms(200);
		}
		burst_join(&b[i]);
	}
	reads_check(&rd, "every wait slot of the host taken");
	int waited = 0, lost = 0;
	for (int i = 0; i < k; i++)
		for (int j = 0; j < b[i].n; j++) {
			if (is_hub_timeout(&b[i].out[j]))
				waited++;
			else if (b[i].out[j].status == 502 || b[i].out[j].status == 0)
				lost++; /* the killed child's request */
			else
				CHECK(0, &b[i].out[j], "unexpected answer of an attacker");
		}
	INT_EQ(waited + lost, per_host, NULL);
	INT_EQ(lost, 1, NULL);

	/* the dead wait is forgotten when its command expires: the attacker is admitted again */
	FX(hx_clear(rig_hubx(att[0])));
	end = util_now_ms() + 30000;
	for (;;) {
		post(ppath(rig_printer(att[0]), "/temperature"), rig_key(att[0]), TEMP_BODY, &r);
		if (r.status != 429 || util_now_ms() > end)
			break;
		sleep_ms(500);
	}
	EXPECT(r, 200, NULL);
	for (int i = 0; i < k; i++) {
		burst_free(&b[i]);
		rig_free(att[i]);
	}
	rig_free(v);
}

/* ------------------------------------------------------------------------ trickled bodies */

#define MP_BOUNDARY "apfIsolationBoundary9c2f"
#define TRICKLE_LEN 4096L

/* An upload whose body comes one byte a second. */
struct trickle {
	struct raw c;
	int put;                               /* PUT /files/upload/{token}, else parse-metadata */
	struct fx_upload up;                   /* the PUT's upload URL */
	int64_t t0, t_answer;
	long status, retry_after;
	char code[48];
	int open;
};

/* The upload URL of a PUT trickle (made before any trickle holds a child). */
static int trickle_prepare(struct trickle *t, const char *key, int put)
{
	memset(t, 0, sizeof *t);
	t->put = put;
	return put ? fx_upload_url(key, "slow.gcode", &t->up) : 0;
}

static const char *trickle_what(const struct trickle *t)
{
	return t->put ? "PUT /files/upload" : "POST /files/parse-metadata";
}

/* Connects and sends the head and the first body byte. */
static int trickle_start(struct trickle *t, const char *key)
{
	static const char part[] = "--" MP_BOUNDARY "\r\nContent-Disposition: form-data;"
				   " name=\"file\"; filename=\"slow.gcode\"\r\n"
				   "Content-Type: application/octet-stream\r\n\r\n";
	struct raw_req q = {
		.method = t->put ? "PUT" : "POST",
		.path = t->put ? t->up.path : "/files/parse-metadata",
		.key = key,
		.length = TRICKLE_LEN,
		.headers = { t->put ? "Content-Type: application/octet-stream"
				    : "Content-Type: multipart/form-data; boundary=" MP_BOUNDARY },
	};
	if (RAW_OPEN(&t->c, &(struct raw_opt){ .timeout_s = 5 }) < 0)
		return -1;
	t->t0 = util_now_ms();
	t->open = raw_head(&t->c, &q) == 0 &&
		  (t->put || raw_send(&t->c, part, strlen(part)) == 0) &&
		  raw_send(&t->c, "G", 1) == 0;
	return t->open ? 0 : CHECK(0, NULL, "sending an upload head failed") - 1;
}

/* The answer of a trickle that has one: status, the envelope's code, Retry-After (-1: none). */
static void trickle_answer(struct trickle *t)
{
	RESP(r);
	raw_response(&t->c, &r, trickle_what(t));
	t->status = r.status;
	snprintf(t->code, sizeof t->code, "%s", jstr(r.json, "code") ? jstr(r.json, "code") : "");
	long long ra = hdr_int(&r, "Retry-After");
	t->retry_after = ra == LLONG_MIN ? -1 : (long)ra;
}

/* More trickling uploads than children, half PUT and half multipart parse-metadata: each is
 * refused at once (503 SERVER_BUSY, the host's upload share is taken) or cut off at its
 * deadline (408 REQUEST_TIMEOUT); another account's reads are served meanwhile; nothing is
 * stored. */
static void test_trickled_uploads(void)
{
	enum { MAXT = 40 };
	static struct trickle t[MAXT];
	struct tenant up, reader;
	RESP(r);
	FX(fx_tenant(&up, "read,write"));
	FX(fx_tenant(&reader, "read"));
	long children = budget_children(), grace = budget_body_grace_ms();
	int n = (int)(children + 1 < MAXT ? children + 1 : MAXT);
	long base = baseline_ms(reader.key);
	FX(base < 0 ? -1 : 0);
	struct reads rd = { .key = reader.key, .bound = read_bound(base) };

	for (int i = 0; i < n; i++)
		FX(trickle_prepare(&t[i], up.key, i % 2 == 0));
	for (int i = 0; i < n; i++)
		FX(trickle_start(&t[i], up.key));
	int64_t start = util_now_ms(), last_byte = start;
	int open = n;
	while (open > 0 && util_now_ms() - start < grace + 10000) {
		int64_t now = util_now_ms();
		int tick = now - last_byte >= 1000;
		if (tick)
			last_byte = now;
		open = 0;
		for (int i = 0; i < n; i++) {
			if (!t[i].open)
				continue;
			if (raw_readable(&t[i].c)) {
				trickle_answer(&t[i]);
				t[i].t_answer = util_now_ms();
				t[i].open = 0;
				raw_close(&t[i].c, 1);
				continue;
			}
			if (tick && raw_send(&t[i].c, ";", 1) < 0) {
				t[i].t_answer = util_now_ms();
				t[i].open = 0;
				raw_close(&t[i].c, 1);
				continue;
			}
			open++;
		}
		read_once(&rd);
		sleep_ms(100);
	}
	int cut = 0, busy = 0;
	for (int i = 0; i < n; i++) {
		long ms = t[i].t_answer ? (long)(t[i].t_answer - t[i].t0) : -1;
		const char *what = trickle_what(&t[i]);
		fprintf(stderr, "\n[isolation]   trickled %s -> %ld %s after %ld ms", what,
			t[i].status, t[i].code, ms);
		if (t[i].open) {
			CHECK(0, NULL, "a trickled %s got no answer in %ld ms", what, grace + 10000);
			raw_close(&t[i].c, 1);
		} else if (t[i].status == 408 && strcmp(t[i].code, "REQUEST_TIMEOUT") == 0) {
			cut++;
			CHECK(ms >= grace - 500 && ms <= grace + 3000, NULL,
			      "%s cut off after %ld ms: want the deadline (%ld ms + a second per %ld"
			      " bytes)", what, ms, grace, budget_body_min_rate());
		} else if (t[i].status == 503 && strcmp(t[i].code, "SERVER_BUSY") == 0) {
			busy++;
			CHECK(ms < rd.bound && t[i].retry_after >= 1, NULL,
			      "%s refused at once with Retry-After (%ld ms, Retry-After %ld)", what, ms,
			      t[i].retry_after);
		} else {
			CHECK(0, NULL, "%s answered %ld %s: want 408 REQUEST_TIMEOUT or 503 SERVER_BUSY",
			      what, t[i].status, t[i].code);
		}
	}
	fprintf(stderr, "\n[isolation] %d trickled uploads (fcgi_children %ld, upload slots %ld):"
		" %d cut off (408), %d refused (503)", n, children, budget_upload_slots(), cut, busy);
	CHECK(cut >= 1 && cut <= budget_upload_slots() && cut + busy == n, NULL,
	      "%d trickled uploads: want 1..%ld cut off at the deadline, the rest refused at once;"
	      " got %d and %d", n, budget_upload_slots(), cut, busy);
	reads_check(&rd, "trickled uploads");

	/* nothing half-stored: no object under the PUT keys, no temporary, no file row */
	sleep_ms(300);
	for (int i = 0; i < n; i++) {
		char sha[SHA256_HEX_LEN + 1];
		uint64_t size;
		if (t[i].put)
			CHECK(storage_sha256(t[i].up.key, sha, &size) == STORAGE_MISSING, NULL,
			      "no object under %s", t[i].up.key);
	}
	CHECK(fx_store_tmp_entries() == 0, NULL, "no temporary file is left in the store");
	INT_EQ(fx_count(&Q_FILES_OF, up.account), 0, NULL);

	/* the upload share is free again: a whole upload goes through */
	struct fx_upload whole;
	FX(fx_upload_url(up.key, "whole.gcode", &whole));
	fx_put(up.key, whole.path, "G28\n", 4, &r);
	EXPECT(r, 200, NULL);
}

/* The FastCGI socket is 0660 with the group nginx runs in (fcgi_socket_group; by default the
 * server's own group), so other local users cannot bypass nginx; nginx still reaches it. */
static void test_fcgi_socket_mode(void)
{
	struct stat st;
	RESP(r);
	const char *sock = cfg_str("fcgi_socket", "");
	const char *gname = cfg_str("fcgi_socket_group", NULL);
	struct group *gr = gname ? getgrnam(gname) : NULL;
	gid_t want = gr ? gr->gr_gid : getegid();
	FX(CHECK(stat(sock, &st) == 0, NULL, "stat %s: %s", sock, strerror(errno)) ? 0 : -1);
	CHECK((st.st_mode & 07777) == 0660, NULL, "%s has mode %04o, want 0660", sock,
	      (unsigned)(st.st_mode & 07777));
	CHECK(st.st_gid == want, NULL, "%s has group %u, want %u", sock, (unsigned)st.st_gid,
	      (unsigned)want);
	struct tenant t;
	FX(fx_tenant(&t, "read"));
	api("GET", "/printers", t.key, NULL, &r);
	EXPECT(r, 200, NULL);
}

/* A thumbnail is served only with an API key: shared caches must not keep it. */
static void test_thumbnail_private(void)
{
	char id[FX_ID], path[FX_ID + 32];
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_file(t.key, "bambustudio_a1mini_cube.gcode.3mf", "cube.gcode.3mf", id));
	snprintf(path, sizeof path, "/files/%s/thumbnail", id);
	api("GET", path, t.key, NULL, &r);
	CHECK(r.status == 200, &r, "the thumbnail");
	STR_EQ(resp_header(&r, "Cache-Control"), "private, max-age=86400", &r);
	INT_EQ(resp_header_count(&r, "Cache-Control"), 1, &r);
}

int suite_isolation(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("isolation", NULL, NULL, NULL,
							    rig_sweep);
	if (!s)
		return -1;
	ADD_TEST(s, test_fcgi_socket_mode);
	ADD_TEST(s, test_thumbnail_private);
	ADD_TEST(s, test_waits_bounded);
	ADD_TEST(s, test_waits_bounded_per_host);
	ADD_TEST(s, test_trickled_uploads);
	return 0;
}
