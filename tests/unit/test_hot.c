/* test_hot.c - the hot path's pieces without the database (docs/hot-path.md): rate-limit
 * leases of one host (fcgi/hot.h), stored answers (fcgi/anscache.h) and the signed data-version
 * notices between hosts (common/peer.h) over real UDP sockets, a listener in a child process. */
#include "tunit.h"

#include "anscache.h"
#include "cfg.h"
#include "hot.h"
#include "peer.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define HASH_A "aa11111111111111111111111111111111111111111111111111111111111111"
#define ACCT_A "11111111-1111-4111-8111-111111111111"
#define ACCT_B "22222222-2222-4222-8222-222222222222"

static void remember(const char *hash, long limit)
{
	struct hot_key k;
	memset(&k, 0, sizeof k);
	snprintf(k.hash, sizeof k.hash, "%s", hash);
	snprintf(k.key_id, sizeof k.key_id, "%s", ACCT_A);
	snprintf(k.account_id, sizeof k.account_id, "%s", ACCT_A);
	k.rate_limit = limit;
	hot_key_put(&k);
}

/* One host alone: blocks leased from a counter standing in for rate_windows; the limit is never
 * passed and each success has its own count. */
static void test_lease_alone(void)
{
	CU_ASSERT_FATAL(hot_init() == 0);
	const long limit = 40;
	remember(HASH_A, limit);
	long db = 0, ok = 0, refused = 0, last = 0, distinct = 1;
	for (int i = 0; i < 100; i++) {
		struct hot_quota q;
		int rc = hot_rate_take(HASH_A, 6000, limit, &q);
		if (rc == 0) {
			db += q.block;
			rc = hot_rate_lease(HASH_A, 6000, limit, db, &q);
		}
		TU_INT(rc == 1 || rc == -1, 1);
		if (rc == 1) {
			ok++;
			distinct = distinct && q.hits == last + 1;
			last = q.hits;
		} else {
			refused++;
			TU_INT(q.hits, limit + 1);
		}
	}
	TU_INT(ok, limit);
	TU_INT(refused, 100 - limit);
	TU_INT(distinct, 1);
	TU_INT(hot_rate_block(limit), 2);
	/* spent: refused without asking the table again (no rc 0) */
	struct hot_quota q;
	TU_INT(hot_rate_take(HASH_A, 6000, limit, &q), -1);
	/* a new window starts over */
	TU_INT(hot_rate_take(HASH_A, 6060, limit, &q), 0);
}

/* Another host took most of the window: this host is granted only what is left, and says the
 * window is shared (X-RateLimit-Remaining is then its lease). */
static void test_lease_shared(void)
{
	CU_ASSERT_FATAL(hot_init() == 0);
	const long limit = 32; /* block 2 */
	remember(HASH_A, limit);
	struct hot_quota q;
	TU_INT(hot_rate_take(HASH_A, 7200, limit, &q), 0);
	/* the other host had counted 31: this block covers 32 and 33, only 32 is this host's */
	TU_INT(hot_rate_lease(HASH_A, 7200, limit, 33, &q), 1);
	TU_INT(q.shared, 1);
	TU_INT(q.unspent, 0);
	TU_INT(hot_rate_take(HASH_A, 7200, limit, &q), -1);
	/* a window reset in the table (the count came back lower) is noticed: the lease starts over
	 * when the key is read again */
	remember(HASH_A, limit);
	TU_INT(hot_rate_take(HASH_A, 7200, limit, &q), 0);
	TU_INT(hot_rate_lease(HASH_A, 7200, limit, 2, &q), 1);
	TU_INT(q.hits, 1);
	TU_INT(q.unspent, 1);
}

static void test_answers(void)
{
	CU_ASSERT_FATAL(hot_init() == 0);
	anscache_clear();
	size_t len = 0;
	int64_t t = peer_now_ms();
	anscache_put(ACCT_A, 3, "/v1/printers", 7, t, "{\"a\":1}", 7);
	const char *b = anscache_get(ACCT_A, 3, "/v1/printers", 7, &len);
	CU_ASSERT_FATAL(b != NULL);
	TU_STR(b, "{\"a\":1}");
	TU_INT((long)len, 7);
	/* another account, route, URI or version: nothing */
	CU_ASSERT_PTR_NULL(anscache_get(ACCT_B, 3, "/v1/printers", 7, &len));
	CU_ASSERT_PTR_NULL(anscache_get(ACCT_A, 4, "/v1/printers", 7, &len));
	CU_ASSERT_PTR_NULL(anscache_get(ACCT_A, 3, "/v1/printers?limit=1", 7, &len));
	CU_ASSERT_PTR_NULL(anscache_get(ACCT_A, 3, "/v1/printers", 8, &len));
	/* a newer version dropped it */
	CU_ASSERT_PTR_NULL(anscache_get(ACCT_A, 3, "/v1/printers", 7, &len));
	/* too old */
	anscache_put(ACCT_A, 3, "/v1/jobs", 1, t - ANSCACHE_TTL_MS, "[]", 2);
	CU_ASSERT_PTR_NULL(anscache_get(ACCT_A, 3, "/v1/jobs", 1, &len));
	/* made before a notice "*" */
	anscache_put(ACCT_A, 3, "/v1/jobs", 1, peer_now_ms(), "[]", 2);
	CU_ASSERT_PTR_NOT_NULL(anscache_get(ACCT_A, 3, "/v1/jobs", 1, &len));
	usleep(2000);
	hot_version_seen("*", 0);
	CU_ASSERT_PTR_NULL(anscache_get(ACCT_A, 3, "/v1/jobs", 1, &len));
	usleep(2000); /* answers made in the notice's millisecond count as made before it */
	/* bounded: a body over a quarter of api_cache_bytes is not stored; the oldest goes first */
	cfg_set("api_cache_bytes", "4000");
	char big[1200];
	memset(big, 'x', sizeof big);
	anscache_put(ACCT_A, 1, "/big", 1, peer_now_ms(), big, sizeof big);
	CU_ASSERT_PTR_NULL(anscache_get(ACCT_A, 1, "/big", 1, &len));
	for (int i = 0; i < 8; i++) {
		char uri[16];
		snprintf(uri, sizeof uri, "/u%d", i);
		anscache_put(ACCT_A, 1, uri, 1, peer_now_ms(), big, 900);
	}
	CU_ASSERT_PTR_NULL(anscache_get(ACCT_A, 1, "/u0", 1, &len));
	CU_ASSERT_PTR_NOT_NULL(anscache_get(ACCT_A, 1, "/u7", 1, &len));
	cfg_set("api_cache_bytes", "8388608");
	anscache_clear();
}

/* The listener (a child, as apf-fcgi runs it) applies a signed notice to the shared versions
 * and acknowledges; a wrong secret is dropped and not acknowledged. */
static void apply_seen(const char *account, uint64_t version)
{
	hot_version_seen(account, version);
}

static void test_notices(void)
{
	CU_ASSERT_FATAL(hot_init() == 0);
	char at[64];
	snprintf(at, sizeof at, "127.0.0.1:%d", 20000 + (int)(getpid() % 20000));
	cfg_set("peer_listen", at);
	cfg_set("peer_secret", "s3cret");
	int fd = peer_listen_open();
	CU_ASSERT_FATAL(fd >= 0);
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			peer_serve_one(fd, apply_seen);
	}
	close(fd);
	hot_version_checked(ACCT_A, 3, peer_now_ms());
	uint64_t v = 0;
	TU_INT(hot_version_get(ACCT_A, &v), 1);
	TU_INT((long)v, 3);
	TU_INT(peer_notify(at, ACCT_A, 9, peer_now_ms() + 2000), 0);
	TU_INT(hot_version_get(ACCT_A, &v), 1);
	TU_INT((long)v, 9);
	/* an older version never lowers it */
	TU_INT(peer_notify(at, ACCT_A, 4, peer_now_ms() + 2000), 0);
	hot_version_get(ACCT_A, &v);
	TU_INT((long)v, 9);
	/* "*": every version is read again */
	TU_INT(peer_notify(at, "*", 0, peer_now_ms() + 2000), 0);
	TU_INT(hot_version_get(ACCT_A, &v), 0);
	/* a sender with another secret: dropped, not acknowledged (after the deadline: 1 missing) */
	cfg_set("peer_secret", "other");
	TU_INT(peer_notify(at, ACCT_B, 5, peer_now_ms() + 200), 1);
	cfg_set("peer_secret", "s3cret");
	hot_version_checked(ACCT_B, 1, peer_now_ms());
	hot_version_get(ACCT_B, &v);
	TU_INT((long)v, 1);
	/* a peer that is not there: counted missing at the deadline */
	TU_INT(peer_notify("127.0.0.1:9", ACCT_B, 6, peer_now_ms() + 100), 1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cfg_set("peer_listen", "");
}

int init_hot_suite(void)
{
	CU_pSuite s = CU_add_suite("hot", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_lease_alone);
	TU_ADD(s, test_lease_shared);
	TU_ADD(s, test_answers);
	TU_ADD(s, test_notices);
	return 0;
}
