/* test_multipart.c - multipart/form-data parsing (common/multipart.c): boundary extraction,
 * finding the `file` part, every error class, hostile bodies, and the push parser fed in every
 * chunk size giving the same bytes as the one-buffer helper. */
#include "tunit.h"

#include "multipart.h"

#include <stdlib.h>
#include <string.h>

#define CT "multipart/form-data; boundary=XyZ123"

static void test_boundary(void)
{
	static const struct {
		const char *ct;
		const char *want; /* NULL = MP_EBOUNDARY */
	} CASES[] = {
		{"multipart/form-data; boundary=abc", "abc"},
		{"Multipart/Form-Data;BOUNDARY=abc", "abc"},
		{"multipart/form-data; charset=utf-8; boundary=\"a b:c\"", "a b:c"},
		{"  multipart/form-data ; boundary = x-y_z ", "x-y_z"},
		{"multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
		 "----WebKitFormBoundary7MA4YWxkTrZu0gW"},
		{"multipart/form-data", NULL},
		{"multipart/form-data; boundary=", NULL},
		{"multipart/form-data; boundary=\"\"", NULL},
		{"multipart/form-data; boundary=\"abc ", NULL},
		{"multipart/form-data; boundary=\"ab\\\"c\"", NULL},
		{"multipart/form-data; boundary=\"trailing \"", NULL},
		{"multipart/form-data; boundary=a; boundary=b", NULL},
		{"multipart/mixed; boundary=abc", NULL},
		{"multipart/form-datax; boundary=abc", NULL},
		{"application/json", NULL},
		{"", NULL},
		{"multipart/form-data; boundary=a\rb", NULL},
		{"multipart/form-data; boundary="
		 "12345678901234567890123456789012345678901234567890123456789012345678901",
		 NULL},
		{"multipart/form-data; boundary="
		 "1234567890123456789012345678901234567890123456789012345678901234567890",
		 "1234567890123456789012345678901234567890123456789012345678901234567890"},
	};
	for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
		char b[MULTIPART_BOUNDARY_MAX + 1] = "", err[128] = "";
		enum multipart_err rc = multipart_boundary(CASES[i].ct, b, sizeof b, err, sizeof err);
		if (CASES[i].want) {
			TU_CHECK(rc == MP_OK, "case %zu: %s", i, err);
			TU_STR(b, CASES[i].want);
		} else {
			TU_CHECK(rc == MP_EBOUNDARY && err[0], "case %zu: rc %d", i, rc);
		}
	}
	char b[8], err[64];
	TU_INT(multipart_boundary(NULL, b, sizeof b, err, sizeof err), MP_EBOUNDARY);
	TU_INT(multipart_boundary("multipart/form-data; boundary=123456789", b, sizeof b, err,
				  sizeof err),
	       MP_EBOUNDARY);
}

static const char BODY[] = "preamble to ignore\r\n"
			   "--XyZ123\r\n"
			   "Content-Disposition: form-data; name=\"note\"\r\n"
			   "\r\n"
			   "hello\r\n"
			   "--XyZ123\r\n"
			   "content-disposition: form-data; name=\"file\"; filename=\"C:\\\\tmp\\\\cube.gcode.3mf\"\r\n"
			   "Content-Type: application/octet-stream\r\n"
			   "\r\n"
			   "PK\x03\x04\r\n--XyZ12\r\n-\r\n--XyZ1 not yet\r\n--XyZ12\r\n\r\nend"
			   "\r\n--XyZ123  \t\r\n"
			   "Content-Disposition: form-data; name=\"empty\"; filename=\"e.gcode\"\r\n"
			   "\r\n"
			   "\r\n--XyZ123--\r\nepilogue\r\n--XyZ123\r\n garbage";

static const char FILEDATA[] = "PK\x03\x04\r\n--XyZ12\r\n-\r\n--XyZ1 not yet\r\n--XyZ12\r\n\r\nend";

static void test_find_file(void)
{
	struct multipart_file f;
	char err[128];
	TU_INT(multipart_find_file(CT, BODY, sizeof BODY - 1, "file", NULL, &f, err, sizeof err),
	       MP_OK);
	TU_INT(f.len, sizeof FILEDATA - 1);
	TU_CHECK(f.len == sizeof FILEDATA - 1 && memcmp(f.data, FILEDATA, f.len) == 0,
		 "file bytes");
	TU_CHECK(f.data > (const unsigned char *)BODY &&
			 f.data < (const unsigned char *)BODY + sizeof BODY,
		 "data points into the body");
	TU_STR(f.filename, "cube.gcode.3mf");
	TU_STR(f.content_type, "application/octet-stream");
	TU_INT(multipart_find_file(CT, BODY, sizeof BODY - 1, "empty", NULL, &f, err, sizeof err),
	       MP_OK);
	TU_INT(f.len, 0);
	TU_STR(f.filename, "e.gcode");
	TU_STR(f.content_type, "");
	TU_INT(multipart_find_file(CT, BODY, sizeof BODY - 1, "note", NULL, &f, err, sizeof err),
	       MP_ENOFILE);
	TU_CHECK(strstr(err, "\"note\" is not a file") != NULL, "%s", err);
	TU_INT(multipart_find_file(CT, BODY, sizeof BODY - 1, "upload", NULL, &f, err, sizeof err),
	       MP_ENOFILE);
	TU_CHECK(strstr(err, "no \"upload\" part") != NULL, "%s", err);
}

static enum multipart_err find(const char *body, const struct multipart_limits *lim, char *err,
			       size_t errsz)
{
	struct multipart_file f;
	return multipart_find_file(CT, body, strlen(body), "file", lim, &f, err, errsz);
}

#define PART(headers, data) "--XyZ123\r\n" headers "\r\n\r\n" data "\r\n"
#define FILEHDR "Content-Disposition: form-data; name=\"file\"; filename=\"a.gcode\""
#define CLOSE "--XyZ123--"

static void test_errors(void)
{
	static const struct {
		const char *body;
		enum multipart_err want;
		const char *msg;
	} CASES[] = {
		{"", MP_EMALFORMED, "truncated"},
		{"--XyZ123\r\n" FILEHDR "\r\n\r\nG28\r\n", MP_EMALFORMED, "truncated"},
		{"--XyZ123\r\n" FILEHDR, MP_EMALFORMED, "truncated"},
		{PART(FILEHDR, "G28"), MP_EMALFORMED, "truncated"},
		{"--XyZ123x\r\n", MP_EMALFORMED, "junk after"},
		{"--XyZ123\rX", MP_EMALFORMED, "CRLF"},
		{"--XyZ123-x", MP_EMALFORMED, "junk after"},
		{PART(" folded: x\r\n" FILEHDR, "") CLOSE, MP_EMALFORMED, "folded"},
		{PART("Content-Type: text/plain", "x") CLOSE, MP_EMALFORMED, "Content-Disposition"},
		{PART("Content-Disposition: attachment; name=\"file\"", "x") CLOSE, MP_EMALFORMED,
		 "not form-data"},
		{PART("Content-Disposition: form-data; filename=\"a\"", "x") CLOSE, MP_EMALFORMED,
		 "Content-Disposition name"},
		{PART("Content-Disposition: form-data; name=\"file", "x") CLOSE, MP_EMALFORMED,
		 "malformed"},
		{PART(FILEHDR "\r\n" FILEHDR, "x") CLOSE, MP_EMALFORMED, "two Content-Disposition"},
		{PART("Content-Disposition: form-data; name=\"file\"; filename=\"a\xff.gcode\"", "x")
			 CLOSE,
		 MP_EMALFORMED, "UTF-8"},
		{PART("Content-Disposition: form-data; name=\"file\"; filename=\"a\\\x01\"", "x")
			 CLOSE,
		 MP_EMALFORMED, "UTF-8"},
		{PART(": x\r\n" FILEHDR, "") CLOSE, MP_EMALFORMED, "without a name"},
		{PART("Content-Disposition: form-data; name=\"other\"", "x") CLOSE, MP_ENOFILE,
		 "no \"file\" part"},
		{CLOSE, MP_ENOFILE, "no \"file\" part"},
		{"no boundary at all", MP_EMALFORMED, "truncated"},
	};
	for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
		char err[128] = "";
		enum multipart_err rc = find(CASES[i].body, NULL, err, sizeof err);
		TU_CHECK(rc == CASES[i].want, "case %zu: rc %d (%s)", i, rc, err);
		TU_CHECK(strstr(err, CASES[i].msg) != NULL, "case %zu: \"%s\"", i, err);
	}
	/* the first file part wins; a later duplicate is ignored */
	struct multipart_file f;
	char err[128];
	const char *two = PART(FILEHDR, "one") PART(FILEHDR, "two") CLOSE;
	TU_INT(multipart_find_file(CT, two, strlen(two), "file", NULL, &f, err, sizeof err), MP_OK);
	TU_CHECK(f.len == 3 && memcmp(f.data, "one", 3) == 0, "first part wins");
	/* no headers at all: a part without a name */
	const char *nohdr = "--XyZ123\r\n\r\nx\r\n" CLOSE;
	TU_INT(find(nohdr, NULL, err, sizeof err), MP_EMALFORMED);
	/* bad Content-Type */
	TU_INT(multipart_find_file("text/plain", two, strlen(two), "file", NULL, &f, err, sizeof err),
	       MP_EBOUNDARY);
}

static void test_limits(void)
{
	struct multipart_limits lim = multipart_default_limits();
	char err[128], *body = malloc(1 << 16);
	size_t n = 0;
	TU_INT(lim.max_parts, 16);
	for (int i = 0; i < 17; i++)
		n += (size_t)snprintf(body + n, (1 << 16) - n,
				      "--XyZ123\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nx\r\n",
				      i);
	snprintf(body + n, (1 << 16) - n, CLOSE);
	TU_INT(find(body, NULL, err, sizeof err), MP_ELIMIT);
	TU_CHECK(strstr(err, "too many") != NULL, "%s", err);
	/* header block over the bound */
	n = (size_t)snprintf(body, 1 << 16, "--XyZ123\r\n" FILEHDR "\r\nX-Pad: ");
	memset(body + n, 'a', 9000);
	snprintf(body + n + 9000, 100, "\r\n\r\nx\r\n" CLOSE);
	TU_INT(find(body, NULL, err, sizeof err), MP_ELIMIT);
	TU_CHECK(strstr(err, "headers too long") != NULL, "%s", err);
	lim.max_header_bytes = 64;
	const char *ok = PART(FILEHDR, "x") CLOSE;
	TU_INT(find(ok, &lim, err, sizeof err), MP_ELIMIT);
	lim = multipart_default_limits();
	lim.max_body = 20;
	TU_INT(find(ok, &lim, err, sizeof err), MP_ETOO_LARGE);
	TU_CHECK(strstr(err, "too large") != NULL, "%s", err);
	/* a very long name or filename parameter */
	n = (size_t)snprintf(body, 1 << 16,
			     "--XyZ123\r\nContent-Disposition: form-data; name=\"file\"; filename=\"");
	memset(body + n, 'b', 300);
	snprintf(body + n + 300, 100, ".gcode\"\r\n\r\nx\r\n" CLOSE);
	TU_INT(find(body, NULL, err, sizeof err), MP_EMALFORMED);
	free(body);
}

struct reader {
	const char *data;
	size_t len, pos, step;
	unsigned seed;
};

static long rd(void *ctx, void *buf, size_t n)
{
	struct reader *r = ctx;
	size_t step = r->step;
	if (step == 0) { /* pseudo-random piece sizes */
		r->seed = r->seed * 1103515245u + 12345u;
		step = 1 + (r->seed >> 16) % 23;
	}
	size_t c = r->len - r->pos < step ? r->len - r->pos : step;
	if (c > n)
		c = n;
	memcpy(buf, r->data + r->pos, c);
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
		return -1;
	memcpy(s->b + s->len, p, n);
	s->len += n;
	return 0;
}

static int refuse(void *ctx, const void *p, size_t n)
{
	(void)ctx, (void)p, (void)n;
	return -1;
}

/* Every chunk size gives the same bytes as the one-buffer helper. */
static void test_streaming(void)
{
	struct sink s = {malloc(4096), 0, 4096};
	char fn[64], err[128];
	for (size_t step = 0; step <= sizeof BODY; step++) {
		for (unsigned seed = 1; seed <= (step == 0 ? 50u : 1u); seed++) {
			struct reader r = {BODY, sizeof BODY - 1, 0, step, seed};
			s.len = 0;
			enum multipart_err rc = multipart_read_file(
				CT, rd, &r, "file", NULL, collect, &s, fn, sizeof fn, err, sizeof err);
			TU_CHECK(rc == MP_OK, "step %zu seed %u: %s", step, seed, err);
			TU_CHECK(s.len == sizeof FILEDATA - 1 && memcmp(s.b, FILEDATA, s.len) == 0,
				 "step %zu seed %u: %zu bytes", step, seed, s.len);
			TU_STR(fn, "cube.gcode.3mf");
		}
	}
	struct reader r = {BODY, sizeof BODY - 1, 0, 7, 0};
	TU_INT(multipart_read_file(CT, rd, &r, "file", NULL, refuse, NULL, fn, sizeof fn, err,
				   sizeof err),
	       MP_ECALLBACK);
	/* a 3 MiB part in 16 KiB reads */
	size_t big = 3u << 20;
	char *body = malloc(big + 512);
	size_t n = (size_t)snprintf(body, 512, "--XyZ123\r\n" FILEHDR "\r\n\r\n");
	for (size_t i = 0; i < big; i++)
		body[n + i] = "\r\n-XyZ123"[i % 9];
	memcpy(body + n + big, "\r\n" CLOSE, 12);
	struct sink bs = {malloc(big), 0, big};
	r = (struct reader){body, n + big + 12, 0, 16384, 0};
	TU_INT(multipart_read_file(CT, rd, &r, "file", NULL, collect, &bs, fn, sizeof fn, err,
				   sizeof err),
	       MP_OK);
	TU_CHECK(bs.len == big && memcmp(bs.b, body + n, big) == 0, "big part: %zu bytes", bs.len);
	free(bs.b);
	free(body);
	free(s.b);
}

/* The push API directly: feeding after an error keeps failing; finish reports truncation. */
static void test_push_api(void)
{
	struct multipart mp;
	char err[128];
	TU_INT(multipart_init(&mp, CT, NULL, NULL, NULL, err, sizeof err), MP_OK);
	TU_INT(multipart_feed(&mp, "--XyZ123\r\nbad header\r\n\r\n", 24), MP_EMALFORMED);
	TU_INT(multipart_feed(&mp, "more", 4), MP_EMALFORMED);
	TU_INT(multipart_finish(&mp), MP_EMALFORMED);
	TU_INT(multipart_init(&mp, CT, NULL, NULL, NULL, err, sizeof err), MP_OK);
	const char *ok = PART(FILEHDR, "x");
	TU_INT(multipart_feed(&mp, ok, strlen(ok)), MP_OK);
	TU_INT(multipart_finish(&mp), MP_EMALFORMED);
	TU_CHECK(strstr(err, "truncated") != NULL, "%s", err);
	TU_INT(multipart_feed(&mp, CLOSE, strlen(CLOSE)), MP_EMALFORMED);
	TU_INT(multipart_init(&mp, "text/plain", NULL, NULL, NULL, err, sizeof err), MP_EBOUNDARY);
	TU_INT(multipart_feed(&mp, "x", 1), MP_EMALFORMED);
}

int init_multipart_suite(void)
{
	CU_pSuite s = CU_add_suite("multipart", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_boundary);
	TU_ADD(s, test_find_file);
	TU_ADD(s, test_errors);
	TU_ADD(s, test_limits);
	TU_ADD(s, test_streaming);
	TU_ADD(s, test_push_api);
	return 0;
}
