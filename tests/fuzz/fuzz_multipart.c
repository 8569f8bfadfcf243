/* fuzz_multipart.c - libFuzzer target: multipart/form-data. The first line of the input is the
 * Content-Type value, the rest the body. Differential: the one-buffer helper and the push
 * parser fed in pieces (sizes drawn from the input) must agree on the result and the bytes. */
#include "multipart.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rd {
	const uint8_t *d;
	size_t n, pos;
	uint32_t seed;
};

static long reader(void *ctx, void *buf, size_t n)
{
	struct rd *r = ctx;
	r->seed = r->seed * 1103515245u + 12345u;
	size_t step = 1 + (r->seed >> 16) % 97;
	size_t c = r->n - r->pos < step ? r->n - r->pos : step;
	if (c > n)
		c = n;
	memcpy(buf, r->d + r->pos, c);
	r->pos += c;
	return (long)c;
}

struct sink {
	unsigned char *b;
	size_t len, cap;
};

static int collect(void *ctx, const void *p, size_t n)
{
	struct sink *s = ctx;
	if (s->len + n > s->cap)
		abort(); /* more bytes than the body holds */
	memcpy(s->b + s->len, p, n);
	s->len += n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	if (!nl || nl - data > 200)
		return 0;
	char ct[201];
	memcpy(ct, data, (size_t)(nl - data));
	ct[nl - data] = '\0';
	const uint8_t *body = nl + 1;
	size_t blen = size - (size_t)(nl - data) - 1;
	struct multipart_limits lim = multipart_default_limits();
	lim.max_parts = 8;
	lim.max_header_bytes = 512;
	struct multipart_file f;
	char err[256] = "", err2[256] = "", fn[256];
	enum multipart_err a = multipart_find_file(ct, body, blen, "file", &lim, &f, err, sizeof err);
	if (a == MP_OK && (f.len > blen || (f.len && (f.data < body || f.data + f.len > body + blen))))
		abort();
	if (a != MP_OK && !err[0])
		abort();
	struct sink s = {malloc(blen + 1), 0, blen + 1};
	struct rd r = {body, blen, 0, (uint32_t)size};
	enum multipart_err b = multipart_read_file(ct, reader, &r, "file", &lim, collect, &s, fn,
						   sizeof fn, err2, sizeof err2);
	if (a != b) {
		fprintf(stderr, "buffer %d (%s) vs stream %d (%s)\n", a, err, b, err2);
		abort();
	}
	if (a == MP_OK && (s.len != f.len || memcmp(s.b, f.data, f.len) != 0 ||
			   strcmp(fn, f.filename) != 0)) {
		fprintf(stderr, "stream bytes differ: %zu vs %zu\n", s.len, f.len);
		abort();
	}
	free(s.b);
	return 0;
}
