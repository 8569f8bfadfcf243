/* t_ratelimit.c - the per-key fixed 60-second window: X-RateLimit-* headers on every
 * authenticated response, 429 RATE_LIMITED with Retry-After, per-key isolation, the configured
 * default, a fresh window, and exactness under concurrent requests. */
#include "apitest.h"

#include "cfg.h"

#include <limits.h>
#include <time.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const struct db_query Q_WINDOW_BACK = {
	"UPDATE rate_windows SET window_start = window_start - 60 WHERE key_id = ?"
};
static const struct db_query Q_WINDOWS = {
	"SELECT COUNT(*) FROM rate_windows WHERE key_id = ?"
};

/* Checks the three X-RateLimit-* headers: limit, remaining and a reset at the end of the current
 * window (epoch seconds, a multiple of 60, within the next 60 s). Returns the reset. */
static long long check_headers(const struct resp *r, long limit, long remaining, const char *file,
			       unsigned line)
{
	long long now = (long long)time(NULL);
	long long reset = hdr_int(r, "X-RateLimit-Reset");
	at_int(hdr_int(r, "X-RateLimit-Limit"), limit, "X-RateLimit-Limit", r, file, line);
	at_int(hdr_int(r, "X-RateLimit-Remaining"), remaining, "X-RateLimit-Remaining", r, file,
	       line);
	at_check(reset != LLONG_MIN && reset % 60 == 0 && reset >= now && reset <= now + 61, r, file,
		 line, "X-RateLimit-Reset %lld is the end of the current minute (now %lld)", reset,
		 now);
	return reset;
}
#define CHECK_HEADERS(r, limit, remaining) \
	check_headers(&(r), (limit), (remaining), __FILE__, __LINE__)

static void test_limit_and_429(void)
{
	struct tenant t;
	char limited[FX_KEY], other[FX_KEY];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	FX(fx_key(t.account, "read", 3, NULL, limited, NULL));
	FX(fx_key(t.account, "read", 5, NULL, other, NULL));
	fx_window_edge(8);
	long long reset = 0;
	for (int i = 1; i <= 3; i++) {
		api("GET", "/printers", limited, NULL, &r);
		EXPECT(r, 200, NULL);
		long long rs = CHECK_HEADERS(r, 3, 3 - i);
		CHECK(i == 1 || rs == reset, &r, "Reset stays within one window");
		reset = rs;
		CHECK(resp_header(&r, "Retry-After") == NULL, &r, "no Retry-After below the limit");
	}
	api("GET", "/printers", limited, NULL, &r);
	if (EXPECT(r, 429, "RATE_LIMITED")) {
		long long now = (long long)time(NULL);
		long long ra = hdr_int(&r, "Retry-After");
		CHECK(ra >= 1 && ra <= 60, &r, "Retry-After %lld in 1..60", ra);
		CHECK(ra >= reset - now - 2 && ra <= reset - now + 2, &r,
		      "Retry-After %lld matches the reset (%lld s away)", ra, reset - now);
		long long rs = CHECK_HEADERS(r, 3, 0);
		CHECK(rs == reset, &r, "the 429 names the same reset");
	}
	/* limited on every route, before the scope check */
	api("GET", "/hubs", limited, NULL, &r);
	EXPECT(r, 429, "RATE_LIMITED");
	api("PATCH", "/printers/" NO_SUCH_ID, limited, "{\"name\":\"x\"}", &r);
	EXPECT(r, 429, "RATE_LIMITED");
	CHECK_HEADERS(r, 3, 0);
	/* another key of the same account has its own budget */
	api("GET", "/printers", other, NULL, &r);
	EXPECT(r, 200, NULL);
	CHECK_HEADERS(r, 5, 4);
	api("GET", "/printers", t.key, NULL, &r);
	EXPECT(r, 200, NULL);
}

static void test_headers_on_errors(void)
{
	struct tenant t;
	char key[FX_KEY];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	FX(fx_key(t.account, "read", 10, NULL, key, NULL));
	fx_window_edge(8);
	api("GET", "/printers/" NO_SUCH_ID, key, NULL, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	CHECK_HEADERS(r, 10, 9);
	api("GET", "/printers?is_active=maybe", key, NULL, &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	CHECK_HEADERS(r, 10, 8);
	api("PATCH", "/printers/" NO_SUCH_ID, key, "{\"name\":\"x\"}", &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	CHECK_HEADERS(r, 10, 7);
	api("GET", "/worklist/" NO_SUCH_ID, key, NULL, &r);
	EXPECT(r, 404, "TASK_NOT_FOUND");
	CHECK_HEADERS(r, 10, 6);
	api("GET", "/hubs/" NO_SUCH_ID, key, NULL, &r);
	EXPECT(r, 404, "HUB_NOT_FOUND");
	CHECK_HEADERS(r, 10, 5);
	CHECK(resp_header(&r, "Retry-After") == NULL, &r, "no Retry-After below the limit");
	/* requests refused before the key is known are not counted against it (nor answered
	 * with its headers) */
	api("GET", "/no-such-route", key, NULL, &r);
	EXPECT(r, 404, "NOT_FOUND");
	api("DELETE", "/printers", key, NULL, &r);
	EXPECT(r, 405, "METHOD_NOT_ALLOWED");
	api("GET", "/printers", key, NULL, &r);
	EXPECT(r, 200, NULL);
	CHECK_HEADERS(r, 10, 4);
}

static void test_default_limit(void)
{
	struct tenant t;
	char key[FX_KEY];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	FX(fx_key(t.account, "read", 0, NULL, key, NULL));
	fx_window_edge(4);
	long def = cfg_int("rate_limit", 120);
	api("GET", "/printers", key, NULL, &r);
	EXPECT(r, 200, NULL);
	CHECK_HEADERS(r, def, def - 1);
}

static void test_new_window(void)
{
	struct tenant t;
	char key[FX_KEY], key_id[FX_ID], count[32];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	FX(fx_key(t.account, "read", 2, NULL, key, key_id));
	fx_window_edge(6);
	api("GET", "/printers", key, NULL, &r);
	api("GET", "/printers", key, NULL, &r);
	EXPECT(r, 200, NULL);
	api("GET", "/printers", key, NULL, &r);
	EXPECT(r, 429, "RATE_LIMITED");
	/* the minute passes (moved back in the table rather than waited for) */
	FX(FX_SQL(Q_WINDOW_BACK, DS(key_id)));
	fx_key_settle(); /* a host that saw the window spent asks the table again with the key */
	api("GET", "/printers", key, NULL, &r);
	EXPECT(r, 200, NULL);
	CHECK_HEADERS(r, 2, 1);
	/* the first request of a window drops the key's older windows */
	FX(FX_TEXT(count, Q_WINDOWS, DS(key_id)));
	STR_EQ(count, "1", &r);
}

static void test_exact_under_concurrency(void)
{
	enum { N = 40, LIMIT = 25 };
	struct tenant t;
	char key[FX_KEY];
	static struct resp out[N];
	FX(fx_tenant(&t, "read"));
	FX(fx_key(t.account, "read", LIMIT, NULL, key, NULL));
	fx_window_edge(12);
	struct call c = { .path = "/printers", .key = key };
	int done = api_burst(&c, N, out);
	int ok = 0, limited = 0, other = 0;
	int seen[LIMIT] = { 0 };
	int remaining_ok = 1;
	for (int i = 0; i < N; i++) {
		if (out[i].status == 200) {
			ok++;
			long long rem = hdr_int(&out[i], "X-RateLimit-Remaining");
			if (rem >= 0 && rem < LIMIT)
				seen[rem]++;
			else
				remaining_ok = 0;
		} else if (out[i].status == 429) {
			limited++;
			const char *code = jstr(out[i].json, "code");
			if (!code || strcmp(code, "RATE_LIMITED") != 0 ||
			    hdr_int(&out[i], "X-RateLimit-Remaining") != 0 ||
			    hdr_int(&out[i], "Retry-After") < 1)
				remaining_ok = 0;
		} else {
			other++;
			CHECK(0, &out[i], "unexpected answer in the burst");
		}
	}
	for (int i = 0; i < LIMIT; i++)
		remaining_ok = remaining_ok && seen[i] == 1;
	INT_EQ(done, N, NULL);
	CHECK(ok == LIMIT && limited == N - LIMIT && other == 0, NULL,
	      "%d concurrent requests with a limit of %d: %d succeeded, %d got 429, %d other",
	      N, LIMIT, ok, limited, other);
	CHECK(remaining_ok, NULL,
	      "each success has its own X-RateLimit-Remaining 24..0, each 429 has 0 and a "
	      "Retry-After");
	for (int i = 0; i < N; i++)
		resp_free(&out[i]);
	/* and the key stays limited */
	RESP(r);
	api("GET", "/printers", key, NULL, &r);
	EXPECT(r, 429, "RATE_LIMITED");
}

int suite_ratelimit(void)
{
	CU_pSuite s = CU_add_suite("ratelimit", NULL, NULL);
	if (!s)
		return -1;
	/* the test that needs the most of one window first: a wait for a fresh window then
	 * leaves the others plenty */
	ADD_TEST(s, test_exact_under_concurrency);
	ADD_TEST(s, test_limit_and_429);
	ADD_TEST(s, test_headers_on_errors);
	ADD_TEST(s, test_default_limit);
	ADD_TEST(s, test_new_window);
	return 0;
}
