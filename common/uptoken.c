/* uptoken.c - upload tokens (see uptoken.h). */
#include "uptoken.h"

#include "b64.h"
#include "util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAC_LEN 32
#define MAC_LABEL "apf-upload-v1"

/* HMAC-SHA-256 over label, account, expiry and key, NUL-separated (none of them holds a NUL). */
static int mac(const char *secret, const char *key, size_t keylen, int64_t expires,
	       unsigned char out[MAC_LEN])
{
	char text[2 * UPTOKEN_KEY_MAX + 64];
	const char *slash = memchr(key, '/', keylen);
	size_t alen = slash ? (size_t)(slash - key) : keylen;
	int n = snprintf(text, sizeof text, MAC_LABEL "%c%.*s%c%lld%c", 0, (int)alen, key, 0,
			 (long long)expires, 0);
	if (n < 0 || (size_t)n + keylen > sizeof text)
		return -1;
	memcpy(text + n, key, keylen);
	unsigned int len = 0;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)text,
		  (size_t)n + keylen, out, &len) || len != MAC_LEN)
		return -1;
	return 0;
}

static int secret_ok(const char *secret)
{
	return secret && strlen(secret) >= UPTOKEN_SECRET_MIN;
}

enum uptoken_status uptoken_mint(const char *secret, const char *key, int64_t expires, char *out,
				 size_t outsz)
{
	char payload[UPTOKEN_KEY_MAX + 32];
	unsigned char m[MAC_LEN];
	if (outsz)
		out[0] = '\0';
	if (!secret_ok(secret))
		return UPTOKEN_NO_SECRET;
	size_t klen = strlen(key);
	if (klen == 0 || klen > UPTOKEN_KEY_MAX || expires < 0)
		return UPTOKEN_INVALID;
	int n = snprintf(payload, sizeof payload, "%lld:%s", (long long)expires, key);
	if (n < 0 || (size_t)n >= sizeof payload || mac(secret, key, klen, expires, m) < 0)
		return UPTOKEN_INVALID;
	size_t p = b64_encode(B64_URL, payload, (size_t)n, out, outsz);
	if (p == 0 || p + 2 >= outsz)
		return UPTOKEN_INVALID;
	out[p] = '.';
	if (b64_encode(B64_URL, m, sizeof m, out + p + 1, outsz - p - 1) == 0) {
		out[0] = '\0';
		return UPTOKEN_INVALID;
	}
	return UPTOKEN_OK;
}

enum uptoken_status uptoken_verify(const char *secret, const char *token, int64_t now, char *key,
				   size_t keysz, char *account, size_t accountsz,
				   int64_t *expires)
{
	char payload[UPTOKEN_KEY_MAX + 32];
	unsigned char got[MAC_LEN + 3], want[MAC_LEN];
	if (keysz)
		key[0] = '\0';
	if (accountsz)
		account[0] = '\0';
	if (!secret_ok(secret))
		return UPTOKEN_NO_SECRET;
	size_t tlen = strlen(token);
	const char *dot = memchr(token, '.', tlen);
	if (!dot || tlen >= UPTOKEN_MAX)
		return UPTOKEN_INVALID;
	long plen = b64_decode(B64_URL, token, (size_t)(dot - token), payload, sizeof payload - 1);
	long mlen = b64_decode(B64_URL, dot + 1, tlen - (size_t)(dot - token) - 1, got, sizeof got);
	if (plen <= 0 || mlen != MAC_LEN)
		return UPTOKEN_INVALID;
	payload[plen] = '\0';
	/* "<expires>:<key>": digits only, no sign, no leading zero, then a non-empty key */
	char *colon = memchr(payload, ':', (size_t)plen);
	if (!colon || colon == payload || colon - payload > 18 || (payload[0] == '0' && colon != payload + 1))
		return UPTOKEN_INVALID;
	int64_t exp = 0;
	for (const char *c = payload; c < colon; c++) {
		if (*c < '0' || *c > '9')
			return UPTOKEN_INVALID;
		exp = exp * 10 + (*c - '0');
	}
	const char *k = colon + 1;
	size_t klen = (size_t)(payload + plen - k);
	if (klen == 0 || klen > UPTOKEN_KEY_MAX || memchr(k, '\0', klen))
		return UPTOKEN_INVALID;
	if (mac(secret, k, klen, exp, want) < 0 || !util_ct_equal(got, want, MAC_LEN))
		return UPTOKEN_INVALID;
	if (now > exp)
		return UPTOKEN_EXPIRED;
	const char *slash = memchr(k, '/', klen);
	size_t alen = slash ? (size_t)(slash - k) : klen;
	if (klen >= keysz || alen >= accountsz)
		return UPTOKEN_INVALID;
	memcpy(key, k, klen + 1);
	memcpy(account, k, alen);
	account[alen] = '\0';
	if (expires)
		*expires = exp;
	return UPTOKEN_OK;
}
