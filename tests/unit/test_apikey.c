/* test_apikey.c - key minting, Authorization parsing, scopes, rate-limit arithmetic
 * (common/apikey.c). */
#include "tunit.h"

#include "apikey.h"
#include "req.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define KEY   APIKEY_PREFIX HEX64

static int lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return 0;
	return 1;
}

static void test_sha256_vectors(void)
{
	char out[SHA256_HEX_LEN + 1];
	util_sha256_hex("abc", 3, out);
	TU_STR(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	util_sha256_hex("", 0, out);
	TU_STR(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	util_sha256_hex(two, strlen(two), out);
	TU_STR(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* binary input: length, not NUL, ends the data */
	char a[SHA256_HEX_LEN + 1], b[SHA256_HEX_LEN + 1];
	util_sha256_hex("a\0b", 3, a);
	util_sha256_hex("a", 1, b);
	TU_CHECK(strcmp(a, b) != 0, "sha256 stopped at NUL");
}

static void test_mint_format(void)
{
	char key[APIKEY_LEN + 1], hash[65], check[65];
	memset(key, 'X', sizeof key);
	memset(hash, 'X', sizeof hash);
	TU_INT(APIKEY_LEN, 73);
	TU_INT(apikey_mint(key, hash), 0);
	TU_INT(strnlen(key, sizeof key), 73);
	TU_INT(strncmp(key, "apf_live_", 9), 0);
	TU_CHECK(lower_hex(key + 9, 64), "key hex part is not lower-case hex: %s", key);
	TU_INT(strnlen(hash, sizeof hash), 64);
	TU_CHECK(lower_hex(hash, 64), "hash is not lower-case hex: %s", hash);
	/* the hash covers the whole string, prefix included */
	util_sha256_hex(key, strlen(key), check);
	TU_STR(hash, check);
	util_sha256_hex(key + 9, 64, check);
	TU_CHECK(strcmp(hash, check) != 0, "hash covers only the hex part");
	/* what the parser hands to the lookup hashes to the stored hash */
	char header[128], token[APIKEY_LEN + 1];
	snprintf(header, sizeof header, "Bearer %s", key);
	TU_INT(apikey_parse_bearer(header, token), E_OK);
	TU_STR(token, key);
	util_sha256_hex(token, strlen(token), check);
	TU_STR(check, hash);
}

static void test_mint_unique(void)
{
	char k[8][APIKEY_LEN + 1], h[8][65];
	for (int i = 0; i < 8; i++)
		TU_INT(apikey_mint(k[i], h[i]), 0);
	for (int i = 0; i < 8; i++)
		for (int j = i + 1; j < 8; j++) {
			TU_CHECK(strcmp(k[i], k[j]) != 0, "mint %d and %d gave the same key", i, j);
			TU_CHECK(strcmp(h[i], h[j]) != 0, "mint %d and %d gave the same hash", i, j);
		}
}

static enum api_err parse(const char *header, char *token)
{
	memset(token, 0, APIKEY_LEN + 1);
	return apikey_parse_bearer(header, token);
}

static void test_bearer_unauthorized(void)
{
	char t[APIKEY_LEN + 1];
	TU_INT(parse(NULL, t), E_UNAUTHORIZED);
	TU_INT(parse("", t), E_UNAUTHORIZED);
	TU_INT(parse("Basic dXNlcjpwYXNz", t), E_UNAUTHORIZED);
	TU_INT(parse("Basic " KEY, t), E_UNAUTHORIZED);
	TU_INT(parse("Bearer", t), E_UNAUTHORIZED);
	TU_INT(parse("Bearer ", t), E_UNAUTHORIZED);
	TU_INT(parse("Bearer    ", t), E_UNAUTHORIZED);
	TU_INT(parse("Bearer" KEY, t), E_UNAUTHORIZED);
	TU_INT(parse(KEY, t), E_UNAUTHORIZED);
	TU_INT(parse("Token " KEY, t), E_UNAUTHORIZED);
	TU_INT(parse("Bearerx " KEY, t), E_UNAUTHORIZED);
}

static void test_bearer_accepted(void)
{
	char t[APIKEY_LEN + 1];
	TU_INT(parse("Bearer " KEY, t), E_OK);
	TU_STR(t, KEY);
	TU_INT(parse("bearer " KEY, t), E_OK); /* the scheme is case-insensitive */
	TU_STR(t, KEY);
	TU_INT(parse("BEARER " KEY, t), E_OK);
	TU_STR(t, KEY);
	TU_INT(parse("  Bearer   " KEY "  \t", t), E_OK);
	TU_STR(t, KEY);
	/* upper-case hex is accepted and normalised; the prefix is left as is */
	TU_INT(parse("Bearer apf_live_0123456789ABCDEF0123456789abcdef0123456789ABCDEF0123456789AbCdEf",
		     t), E_OK);
	TU_STR(t, KEY);
}

static void test_bearer_token_invalid(void)
{
	char t[APIKEY_LEN + 1];
	TU_INT(parse("Bearer apf_test_" HEX64, t), E_TOKEN_INVALID);
	TU_INT(parse("Bearer apf_livex" HEX64, t), E_TOKEN_INVALID);
	TU_INT(parse("Bearer APF_LIVE_" HEX64, t), E_TOKEN_INVALID);
	TU_INT(parse("Bearer " HEX64 "123456789", t), E_TOKEN_INVALID); /* 73 chars, no prefix */
	TU_INT(parse("Bearer " HEX64, t), E_TOKEN_INVALID);
	/* 63 and 65 hex */
	TU_INT(parse("Bearer apf_live_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
		     t), E_TOKEN_INVALID);
	TU_INT(parse("Bearer " KEY "0", t), E_TOKEN_INVALID);
	/* non-hex in the hex part, first, middle and last position */
	TU_INT(parse("Bearer apf_live_g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		     t), E_TOKEN_INVALID);
	TU_INT(parse("Bearer apf_live_0123456789abcdef0123456789abcdeX0123456789abcdef0123456789abcdef",
		     t), E_TOKEN_INVALID);
	TU_INT(parse("Bearer apf_live_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde-",
		     t), E_TOKEN_INVALID);
	TU_INT(parse("Bearer apf_live_0123456789abcdef0123456789abcdef 123456789abcdef0123456789abcdef",
		     t), E_TOKEN_INVALID);
	TU_INT(parse("Bearer " KEY " extra", t), E_TOKEN_INVALID);
	TU_INT(parse("Bearer apf_live_", t), E_TOKEN_INVALID);
	TU_INT(parse("Bearer x", t), E_TOKEN_INVALID);
}

static void test_scopes_parse(void)
{
	unsigned bits = 99;
	TU_INT(apikey_scopes_parse("read,write,control", &bits), 0);
	TU_INT(bits, 7);
	TU_INT(apikey_scopes_parse("read", &bits), 0);
	TU_INT(bits, S_READ);
	TU_INT(apikey_scopes_parse("write", &bits), 0);
	TU_INT(bits, S_WRITE);
	TU_INT(apikey_scopes_parse("control", &bits), 0);
	TU_INT(bits, S_CONTROL);
	TU_INT(apikey_scopes_parse("control,read", &bits), 0);
	TU_INT(bits, S_READ | S_CONTROL);
	TU_INT(apikey_scopes_parse("read,read", &bits), 0);
	TU_INT(bits, S_READ);
	bits = 99;
	TU_INT(apikey_scopes_parse("", &bits), 0);
	TU_INT(bits, 0);
	bits = 99;
	TU_INT(apikey_scopes_parse(NULL, &bits), 0);
	TU_INT(bits, 0);
	TU_INT(apikey_scopes_parse("admin", &bits), -1);
	TU_INT(apikey_scopes_parse("read,admin", &bits), -1);
	TU_INT(apikey_scopes_parse("Read", &bits), -1);
	TU_INT(apikey_scopes_parse("rea", &bits), -1);
	TU_INT(apikey_scopes_parse("reading", &bits), -1);
	TU_INT(apikey_scopes_parse("readwrite", &bits), -1);
	TU_INT(apikey_scopes_parse("printers:read", &bits), -1);
}

static void test_rate_window_start(void)
{
	TU_INT(RATE_WINDOW_SECONDS, 60);
	TU_INT(rate_window_start(0), 0);
	TU_INT(rate_window_start(59), 0);
	TU_INT(rate_window_start(60), 60);
	TU_INT(rate_window_start(61), 60);
	TU_INT(rate_window_start(1700000059), 1700000040);
	TU_INT(rate_window_start(1700000040), 1700000040);
	TU_INT(rate_window_start(1700000099), 1700000040);
	TU_INT(rate_window_start(1700000100), 1700000100);
}

static void test_rate_compute(void)
{
	int64_t ws = 1700000040;
	struct rate_state s = rate_compute(ws + 10, ws, 1, 120);
	TU_INT(s.limit, 120);
	TU_INT(s.remaining, 119);
	TU_INT(s.reset, ws + 60);
	TU_INT(s.limited, 0);
	TU_INT(s.retry_after, 50);

	s = rate_compute(ws + 10, ws, 119, 120);
	TU_INT(s.remaining, 1);
	TU_INT(s.limited, 0);

	s = rate_compute(ws + 10, ws, 120, 120); /* the last allowed request */
	TU_INT(s.remaining, 0);
	TU_INT(s.limited, 0);
	TU_INT(s.reset, ws + 60);

	s = rate_compute(ws + 10, ws, 121, 120);
	TU_INT(s.remaining, 0);
	TU_INT(s.limited, 1);
	TU_INT(s.reset, ws + 60);
	TU_INT(s.retry_after, 50);

	s = rate_compute(ws + 20, ws, 100000, 120);
	TU_INT(s.remaining, 0);
	TU_INT(s.limited, 1);
	TU_INT(s.retry_after, 40);

	s = rate_compute(ws, ws, 500, 5);
	TU_INT(s.retry_after, 60);
	s = rate_compute(ws + 59, ws, 500, 5);
	TU_INT(s.retry_after, 1);
	s = rate_compute(ws + 60, ws, 500, 5); /* clock past the window: never below 1 */
	TU_INT(s.retry_after, 1);
	s = rate_compute(ws + 75, ws, 500, 5);
	TU_INT(s.retry_after, 1);

	s = rate_compute(ws + 1, ws, 1, 1);
	TU_INT(s.remaining, 0);
	TU_INT(s.limited, 0);
	s = rate_compute(ws + 1, ws, 2, 1);
	TU_INT(s.limited, 1);
	TU_INT(s.limit, 1);
}

/* The per-address counter key: IPv4 as is, IPv6 by its /64, mapped IPv4 as IPv4. */
static void test_auth_addr(void)
{
	char a[AUTH_ADDR_MAX];
	auth_addr("127.0.0.2", a);
	TU_STR(a, "127.0.0.2");
	auth_addr("2001:db8:1:2:aaaa:bbbb:cccc:dddd", a);
	TU_STR(a, "2001:db8:1:2::/64");
	auth_addr("2001:db8:1:2::1", a);
	TU_STR(a, "2001:db8:1:2::/64"); /* the same host's other address: one counter */
	auth_addr("2001:db8:1:3::1", a);
	TU_STR(a, "2001:db8:1:3::/64");
	auth_addr("::ffff:10.1.2.3", a);
	TU_STR(a, "10.1.2.3");
	auth_addr("::1", a);
	TU_STR(a, "::/64");
	auth_addr(NULL, a);
	TU_STR(a, "-");
	auth_addr("unix:", a);
	TU_STR(a, "-");
	auth_addr("127.0.0.1 ", a);
	TU_STR(a, "-");
}

int init_apikey_suite(void)
{
	CU_pSuite s = CU_add_suite("apikey", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_sha256_vectors);
	TU_ADD(s, test_mint_format);
	TU_ADD(s, test_mint_unique);
	TU_ADD(s, test_bearer_unauthorized);
	TU_ADD(s, test_bearer_accepted);
	TU_ADD(s, test_bearer_token_invalid);
	TU_ADD(s, test_scopes_parse);
	TU_ADD(s, test_rate_window_start);
	TU_ADD(s, test_rate_compute);
	TU_ADD(s, test_auth_addr);
	return 0;
}
