/* b64.c - base64 / base64url (see b64.h). */
#include "b64.h"

#include "util.h"

#include <openssl/crypto.h>

#include <stdint.h>

static const char ALPHABET[2][65] = {
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
};

size_t b64_encoded_len(size_t n, enum b64_variant v)
{
	if (v == B64_STD)
		return (n + 2) / 3 * 4;
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t b64_decoded_max(size_t n)
{
	return n / 4 * 3 + 3;
}

size_t b64_encode(enum b64_variant v, const void *in, size_t n, char *out, size_t outsz)
{
	const unsigned char *p = in;
	const char *a = ALPHABET[v == B64_URL];
	size_t len = b64_encoded_len(n, v), o = 0;
	if (outsz == 0)
		return 0;
	if (len >= outsz || (n && !in)) {
		out[0] = '\0';
		return 0;
	}
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = a[w >> 18];
		out[o++] = a[(w >> 12) & 63];
		out[o++] = a[(w >> 6) & 63];
		out[o++] = a[w & 63];
	}
	if (n - i == 1) {
		out[o++] = a[p[i] >> 2];
		out[o++] = a[(p[i] & 3) << 4];
		if (v == B64_STD) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		uint32_t w = (uint32_t)p[i] << 8 | p[i + 1];
		out[o++] = a[w >> 10];
		out[o++] = a[(w >> 4) & 63];
		out[o++] = a[(w & 15) << 2];
		if (v == B64_STD)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* Value of c in the variant's alphabet, or -1. */
static int digit(enum b64_variant v, char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (v == B64_URL ? '-' : '+'))
		return 62;
	if (c == (v == B64_URL ? '_' : '/'))
		return 63;
	return -1;
}

long b64_decode(enum b64_variant v, const char *in, size_t n, void *out, size_t outsz)
{
	unsigned char *o = out;
	if (n && !in)
		return -1;
	/* padding, when present, completes the last group of four */
	size_t pad = 0;
	while (pad < n && pad < 2 && in[n - 1 - pad] == '=')
		pad++;
	if (pad && n % 4 != 0)
		return -1;
	n -= pad;
	if (n % 4 == 1 || (pad && (n + pad) % 4 != 0) || (pad && 4 - n % 4 != pad))
		return -1;
	size_t want = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (want > outsz || (want && !out))
		return -1;
	size_t w = 0, i = 0;
	for (; i + 4 <= n; i += 4) {
		int d0 = digit(v, in[i]), d1 = digit(v, in[i + 1]), d2 = digit(v, in[i + 2]),
		    d3 = digit(v, in[i + 3]);
		if ((d0 | d1 | d2 | d3) < 0)
			return -1;
		uint32_t x = (uint32_t)d0 << 18 | (uint32_t)d1 << 12 | (uint32_t)d2 << 6 | (uint32_t)d3;
		o[w++] = (unsigned char)(x >> 16);
		o[w++] = (unsigned char)(x >> 8);
		o[w++] = (unsigned char)x;
	}
	if (n - i >= 2) {
		int d0 = digit(v, in[i]), d1 = digit(v, in[i + 1]);
		int d2 = n - i == 3 ? digit(v, in[i + 2]) : 0;
		if ((d0 | d1 | d2) < 0)
			return -1;
		if (n - i == 2) {
			if (d1 & 15) /* non-canonical: unused bits set */
				return -1;
			o[w++] = (unsigned char)(d0 << 2 | d1 >> 4);
		} else {
			if (d2 & 3)
				return -1;
			o[w++] = (unsigned char)(d0 << 2 | d1 >> 4);
			o[w++] = (unsigned char)((d1 & 15) << 4 | d2 >> 2);
		}
	}
	return (long)w;
}

int b64_random_token(size_t nbytes, char *out, size_t outsz)
{
	unsigned char raw[64];
	if (nbytes == 0 || nbytes > sizeof raw || util_random(raw, nbytes) < 0)
		return -1;
	size_t n = b64_encode(B64_URL, raw, nbytes, out, outsz);
	OPENSSL_cleanse(raw, sizeof raw);
	return n ? 0 : -1;
}
