/* t_auth.c - the Authorization header and API keys: 401 UNAUTHORIZED / TOKEN_INVALID /
 * TOKEN_REVOKED / TOKEN_EXPIRED, hex case, and that refused requests are not rate-counted. */
#include "apitest.h"

#include <ctype.h>

static const struct db_query Q_KEY_EXPIRE_NOW = {
	"UPDATE api_keys SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE id = ?"
};
static const struct db_query Q_KEY_LAST_USED = {
	"SELECT IFNULL(last_used_at, '') FROM api_keys WHERE id = ?"
};

/* A 401 of code, with no rate-limit headers (a refused key is not counted). */
static void expect_401(const struct resp *r, const char *code, const char *file, unsigned line)
{
	at_expect(r, 401, code, file, line);
	at_check(resp_header(r, "X-RateLimit-Limit") == NULL &&
			 resp_header(r, "X-RateLimit-Remaining") == NULL,
		 r, file, line, "a refused key gets no X-RateLimit-* headers");
}
#define EXPECT_401(r, code) expect_401(&(r), (code), __FILE__, __LINE__)

static void call_auth(const char *auth, const char *path, struct resp *r)
{
	struct call c = { .path = path, .auth = auth };
	api_call(&c, r);
}

static void test_missing_header(void)
{
	RESP(r);
	api("GET", "/printers", NULL, NULL, &r);
	EXPECT_401(r, "UNAUTHORIZED");
	/* an unbuilt route still authenticates first */
	api("GET", "/jobs", NULL, NULL, &r);
	EXPECT_401(r, "UNAUTHORIZED");
	api("PATCH", "/printers/00000000-0000-4000-8000-000000000000", NULL, "{\"name\":\"x\"}", &r);
	EXPECT_401(r, "UNAUTHORIZED");
}

static void test_other_scheme(void)
{
	struct tenant t;
	char auth[160];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	call_auth("Basic dXNlcjpwYXNz", "/printers", &r);
	EXPECT_401(r, "UNAUTHORIZED");
	call_auth("Basic x", "/printers", &r);
	EXPECT_401(r, "UNAUTHORIZED");
	snprintf(auth, sizeof auth, "Token %s", t.key);
	call_auth(auth, "/printers", &r);
	EXPECT_401(r, "UNAUTHORIZED");
	snprintf(auth, sizeof auth, "%s", t.key); /* the key without a scheme */
	call_auth(auth, "/printers", &r);
	EXPECT_401(r, "UNAUTHORIZED");
	call_auth("Bearer", "/printers", &r);
	EXPECT_401(r, "UNAUTHORIZED");
	/* the scheme name is case-insensitive (RFC 7235) */
	snprintf(auth, sizeof auth, "bearer %s", t.key);
	call_auth(auth, "/printers", &r);
	EXPECT(r, 200, NULL);
}

static void test_malformed_key(void)
{
	char hex64[FX_KEY], bad[8][160];
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read"));
	memcpy(hex64, t.key + 9, 64);
	hex64[64] = '\0';
	snprintf(bad[0], sizeof bad[0], "Bearer apf_test_%s", hex64);        /* wrong prefix */
	snprintf(bad[1], sizeof bad[1], "Bearer APF_LIVE_%s", hex64);        /* prefix is literal */
	snprintf(bad[2], sizeof bad[2], "Bearer apf_live_%.63s", hex64);     /* short */
	snprintf(bad[3], sizeof bad[3], "Bearer apf_live_%s0", hex64);       /* long */
	snprintf(bad[4], sizeof bad[4], "Bearer apf_live_%.63sg", hex64);    /* non-hex */
	snprintf(bad[5], sizeof bad[5], "Bearer apf_live_");                 /* prefix only */
	snprintf(bad[6], sizeof bad[6], "Bearer %s", hex64);                 /* no prefix */
	snprintf(bad[7], sizeof bad[7], "Bearer apf_live_%.31s %.32s", hex64, hex64 + 32);
	for (int i = 0; i < 8; i++) {
		call_auth(bad[i], "/printers", &r);
		EXPECT_401(r, "TOKEN_INVALID");
	}
}

static void test_unknown_key(void)
{
	char auth[160], tag[9];
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read"));
	snprintf(auth, sizeof auth, "Bearer apf_live_%s%s", fx_tag(tag), rep(0, "0", 56));
	call_auth(auth, "/printers", &r);
	EXPECT_401(r, "TOKEN_INVALID");
	/* a real key with one digit changed */
	snprintf(auth, sizeof auth, "Bearer %s", t.key);
	char *last = auth + strlen(auth) - 1;
	*last = *last == '0' ? '1' : '0';
	call_auth(auth, "/printers", &r);
	EXPECT_401(r, "TOKEN_INVALID");
	/* and the real one works */
	api("GET", "/printers", t.key, NULL, &r);
	EXPECT(r, 200, NULL);
}

static void test_revoked_key(void)
{
	struct tenant t;
	char other[FX_KEY];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	FX(fx_tenant_key(&t, "read", other));
	api("GET", "/printers", t.key, NULL, &r);
	EXPECT(r, 200, NULL);
	/* apf-admin tells the API host (its notice listener): refused at once, by every child */
	FX(fx_key_revoke(t.key_id));
	api("GET", "/printers", t.key, NULL, &r);
	EXPECT_401(r, "TOKEN_REVOKED");
	api("GET", "/hubs", t.key, NULL, &r);
	EXPECT_401(r, "TOKEN_REVOKED");
	/* revoked in upper case too (same key) */
	char up[FX_KEY];
	snprintf(up, sizeof up, "%s", t.key);
	for (char *p = up + 9; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	api("GET", "/printers", up, NULL, &r);
	EXPECT_401(r, "TOKEN_REVOKED");
	/* the account's other key is unaffected */
	api("GET", "/printers", other, NULL, &r);
	EXPECT(r, 200, NULL);
}

static void test_expired_key(void)
{
	struct tenant t;
	char past[FX_KEY], future[FX_KEY], id[FX_ID];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	FX(fx_key(t.account, "read", 0, "2020-01-01T00:00:00Z", past, NULL));
	FX(fx_key(t.account, "read", 0, "2099-01-01T00:00:00Z", future, id));
	api("GET", "/printers", past, NULL, &r);
	EXPECT_401(r, "TOKEN_EXPIRED");
	api("GET", "/printers", future, NULL, &r);
	EXPECT(r, 200, NULL);
	/* a key that expires while in use */
	FX(FX_SQL(Q_KEY_EXPIRE_NOW, DS(id)));
	fx_key_settle();
	api("GET", "/printers", future, NULL, &r);
	EXPECT_401(r, "TOKEN_EXPIRED");
}

static void test_key_hex_case(void)
{
	struct tenant t;
	char up[FX_KEY], mixed[FX_KEY];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	snprintf(up, sizeof up, "%s", t.key);
	snprintf(mixed, sizeof mixed, "%s", t.key);
	for (int i = 9; up[i]; i++) {
		up[i] = (char)toupper((unsigned char)up[i]);
		if (i % 2)
			mixed[i] = up[i];
	}
	CHECK(strcmp(up, t.key) != 0, NULL, "the minted key has letters (lower-case hex): %s", t.key);
	api("GET", "/printers", up, NULL, &r);
	EXPECT(r, 200, NULL);
	api("GET", "/printers", mixed, NULL, &r);
	EXPECT(r, 200, NULL);
	/* keys are minted as apf_live_ + 64 lower-case hex */
	int ok = strlen(t.key) == 73 && strncmp(t.key, "apf_live_", 9) == 0;
	for (int i = 9; ok && t.key[i]; i++)
		ok = isdigit((unsigned char)t.key[i]) || (t.key[i] >= 'a' && t.key[i] <= 'f');
	CHECK(ok, NULL, "minted key format: %s", t.key);
}

static void test_last_used_stamped(void)
{
	struct tenant t;
	char used[64];
	RESP(r);
	FX(fx_tenant(&t, "read"));
	FX(FX_TEXT(used, Q_KEY_LAST_USED, DS(t.key_id)));
	STR_EQ(used, "", NULL);
	api("GET", "/printers", t.key, NULL, &r);
	EXPECT(r, 200, NULL);
	FX(FX_TEXT(used, Q_KEY_LAST_USED, DS(t.key_id)));
	CHECK(used[0] != '\0', &r, "last_used_at is set after a request");
}

int suite_auth(void)
{
	CU_pSuite s = CU_add_suite("auth", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_missing_header);
	ADD_TEST(s, test_other_scheme);
	ADD_TEST(s, test_malformed_key);
	ADD_TEST(s, test_unknown_key);
	ADD_TEST(s, test_revoked_key);
	ADD_TEST(s, test_expired_key);
	ADD_TEST(s, test_key_hex_case);
	ADD_TEST(s, test_last_used_stamped);
	return 0;
}
