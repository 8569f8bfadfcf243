/* multipart.c - multipart/form-data push parser. The body is scanned once for the delimiter
 * CRLF "--" boundary (the first boundary is matched as if a CRLF preceded the body); a match cut
 * by a chunk end is carried over as a count of matched delimiter bytes. The delimiter holds a
 * single CR (boundaries cannot contain one), so a failed partial match never hides the start of
 * another: scanning resumes at the byte that failed. */
#include "multipart.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
	ST_PREAMBLE,
	ST_AFTER_DELIM, /* "--" (last) or transport padding then CRLF */
	ST_CLOSE_DASH,
	ST_PADDING,
	ST_CR,
	ST_HEADERS,
	ST_DATA,
	ST_EPILOGUE,
	ST_FAILED,
};

struct multipart_limits multipart_default_limits(void)
{
	return (struct multipart_limits){
		.max_parts = 16,
		.max_header_bytes = 8192,
		.max_body = (100ull << 20) + (1ull << 20),
	};
}

__attribute__((format(printf, 4, 5))) static enum multipart_err
fail(char *err, size_t errsz, enum multipart_err code, const char *fmt, ...)
{
	if (err && errsz) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return code;
}

static enum multipart_err mfail(struct multipart *mp, enum multipart_err code, const char *what)
{
	mp->state = ST_FAILED;
	return fail(mp->err, mp->errsz, code, "%s", what);
}

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool bchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("'()+_,-./:=? ", c));
}

/* Parameter list parser shared by Content-Type and Content-Disposition: after the first
 * value, "; name=value" pairs with token or quoted-string values. */
struct params {
	const char *s;
	size_t len, pos;
};

/* Next parameter: name/value copied into the buffers. 1 = got one, 0 = end, -1 = malformed. */
static int next_param(struct params *p, char *name, size_t nsz, char *val, size_t vsz)
{
	while (p->pos < p->len && ows(p->s[p->pos]))
		p->pos++;
	if (p->pos == p->len)
		return 0;
	if (p->s[p->pos] != ';')
		return -1;
	p->pos++;
	while (p->pos < p->len && ows(p->s[p->pos]))
		p->pos++;
	if (p->pos == p->len)
		return 0; /* trailing ';' */
	size_t n = 0;
	while (p->pos < p->len && tchar((unsigned char)p->s[p->pos])) {
		if (n + 1 >= nsz)
			return -1;
		name[n++] = p->s[p->pos++];
	}
	name[n] = '\0';
	while (p->pos < p->len && ows(p->s[p->pos]))
		p->pos++;
	if (n == 0 || p->pos == p->len || p->s[p->pos] != '=')
		return -1;
	p->pos++;
	while (p->pos < p->len && ows(p->s[p->pos]))
		p->pos++;
	size_t v = 0;
	if (p->pos < p->len && p->s[p->pos] == '"') {
		p->pos++;
		for (;;) {
			if (p->pos == p->len)
				return -1;
			char c = p->s[p->pos++];
			if (c == '"')
				break;
			if (c == '\\') {
				if (p->pos == p->len)
					return -1;
				c = p->s[p->pos++];
			}
			if (v + 1 >= vsz)
				return -1;
			val[v++] = c;
		}
	} else {
		while (p->pos < p->len && tchar((unsigned char)p->s[p->pos])) {
			if (v + 1 >= vsz)
				return -1;
			val[v++] = p->s[p->pos++];
		}
		if (v == 0)
			return -1;
	}
	val[v] = '\0';
	return 1;
}

enum multipart_err multipart_boundary(const char *ct, char *out, size_t outsz, char *err,
				      size_t errsz)
{
	static const char MT[] = "multipart/form-data";
	char name[32], val[MULTIPART_BOUNDARY_MAX + 2];
	bool found = false;
	if (!ct)
		return fail(err, errsz, MP_EBOUNDARY, "no Content-Type (expected multipart/form-data)");
	while (ows(*ct))
		ct++;
	size_t tl = 0;
	while (ct[tl] && ct[tl] != ';' && !ows(ct[tl]))
		tl++;
	if (tl != sizeof MT - 1 || strncasecmp(ct, MT, tl) != 0)
		return fail(err, errsz, MP_EBOUNDARY, "Content-Type is not multipart/form-data");
	struct params p = {ct, strlen(ct), tl};
	int r;
	while ((r = next_param(&p, name, sizeof name, val, sizeof val)) > 0) {
		if (strcasecmp(name, "boundary") != 0)
			continue;
		if (found)
			return fail(err, errsz, MP_EBOUNDARY, "Content-Type has two boundaries");
		found = true;
		size_t bl = strlen(val);
		if (bl == 0 || bl > MULTIPART_BOUNDARY_MAX || val[bl - 1] == ' ')
			return fail(err, errsz, MP_EBOUNDARY, "multipart boundary must be 1-70 characters");
		for (size_t i = 0; i < bl; i++)
			if (!bchar((unsigned char)val[i]))
				return fail(err, errsz, MP_EBOUNDARY,
					    "multipart boundary has a character outside RFC 2046");
		if (outsz <= bl)
			return fail(err, errsz, MP_EBOUNDARY, "multipart boundary too long");
		memcpy(out, val, bl + 1);
	}
	if (r < 0)
		return fail(err, errsz, MP_EBOUNDARY, "malformed Content-Type parameters");
	if (!found)
		return fail(err, errsz, MP_EBOUNDARY, "multipart Content-Type without a boundary");
	return MP_OK;
}

enum multipart_err multipart_init(struct multipart *mp, const char *content_type,
				  const struct multipart_limits *lim, const struct multipart_cb *cb,
				  void *ctx, char *err, size_t errsz)
{
	char b[MULTIPART_BOUNDARY_MAX + 1];
	memset(mp, 0, sizeof *mp);
	mp->lim = lim ? *lim : multipart_default_limits();
	if (cb)
		mp->cb = *cb;
	mp->ctx = ctx;
	mp->err = err;
	mp->errsz = errsz;
	mp->hmax = mp->lim.max_header_bytes < sizeof mp->hdr ? mp->lim.max_header_bytes
							      : sizeof mp->hdr;
	enum multipart_err rc = multipart_boundary(content_type, b, sizeof b, err, errsz);
	if (rc != MP_OK) {
		mp->state = ST_FAILED;
		return rc;
	}
	mp->dlen = (size_t)snprintf(mp->delim, sizeof mp->delim, "\r\n--%s", b);
	mp->state = ST_PREAMBLE;
	mp->matched = 2; /* the body starts with "--boundary": as if a CRLF came first */
	return MP_OK;
}

/* Validates UTF-8 and rejects control characters (filenames go into JSON and logs). */
static bool clean_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p, n, cp, min;
		if (c < 0x20 || c == 0x7F)
			return false;
		if (c < 0x80) {
			p++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
			n = 2, cp = c & 0x1F, min = 0x80;
		else if ((c & 0xF0) == 0xE0)
			n = 3, cp = c & 0x0F, min = 0x800;
		else if ((c & 0xF8) == 0xF0)
			n = 4, cp = c & 0x07, min = 0x10000;
		else
			return false;
		for (unsigned k = 1; k < n; k++) {
			if ((p[k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		p += n;
	}
	return true;
}

/* Parses the header block in mp->hdr (ending with the empty line) and opens the part. */
static enum multipart_err open_part(struct multipart *mp)
{
	char name[256] = "", filename[256] = "", ctype[128] = "", pn[32], pv[256];
	bool have_cd = false, have_name = false, have_file = false, have_ct = false;
	size_t pos = 0, end = mp->hlen >= 2 ? mp->hlen - 2 : 0; /* drop the final CRLF */
	while (pos < end) {
		const char *line = mp->hdr + pos;
		const char *crlf = memmem(line, end - pos, "\r\n", 2);
		size_t ll = crlf ? (size_t)(crlf - line) : end - pos;
		pos += ll + 2;
		if (ll == 0)
			continue;
		if (ows(line[0]))
			return mfail(mp, MP_EMALFORMED, "folded part header line");
		const char *colon = memchr(line, ':', ll);
		if (!colon || colon == line)
			return mfail(mp, MP_EMALFORMED, "part header line without a name");
		size_t nl = (size_t)(colon - line);
		for (size_t i = 0; i < nl; i++)
			if (!tchar((unsigned char)line[i]))
				return mfail(mp, MP_EMALFORMED, "bad part header name");
		const char *v = colon + 1;
		size_t vl = ll - nl - 1;
		while (vl && ows(*v))
			v++, vl--;
		while (vl && ows(v[vl - 1]))
			vl--;
		for (size_t i = 0; i < vl; i++)
			if (v[i] == '\0' || v[i] == '\r' || v[i] == '\n')
				return mfail(mp, MP_EMALFORMED, "control character in a part header");
		if (nl == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
			if (have_cd)
				return mfail(mp, MP_EMALFORMED, "two Content-Disposition headers");
			have_cd = true;
			size_t tl = 0;
			while (tl < vl && v[tl] != ';' && !ows(v[tl]))
				tl++;
			if (tl != 9 || strncasecmp(v, "form-data", 9) != 0)
				return mfail(mp, MP_EMALFORMED, "part is not form-data");
			struct params p = {v, vl, tl};
			int r;
			while ((r = next_param(&p, pn, sizeof pn, pv, sizeof pv)) > 0) {
				if (strcasecmp(pn, "name") == 0 && !have_name) {
					have_name = true;
					memcpy(name, pv, strlen(pv) + 1);
				} else if (strcasecmp(pn, "filename") == 0 && !have_file) {
					/* keep the last path segment only (RFC 7578 4.2) */
					const char *base = pv;
					for (const char *c = pv; *c; c++)
						if (*c == '/' || *c == '\\')
							base = c + 1;
					have_file = true;
					memmove(filename, base, strlen(base) + 1);
				}
			}
			if (r < 0)
				return mfail(mp, MP_EMALFORMED, "malformed Content-Disposition");
		} else if (nl == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
			if (vl >= sizeof ctype)
				return mfail(mp, MP_ELIMIT, "part Content-Type too long");
			memcpy(ctype, v, vl);
			ctype[vl] = '\0';
			have_ct = true;
		}
	}
	if (!have_cd || !have_name)
		return mfail(mp, MP_EMALFORMED, "part without a Content-Disposition name");
	if (!clean_text(name) || !clean_text(filename))
		return mfail(mp, MP_EMALFORMED, "part name or filename is not clean UTF-8");
	struct multipart_part part = {
		.name = name,
		.filename = have_file ? filename : NULL,
		.content_type = have_ct ? ctype : NULL,
		.index = mp->nparts - 1,
	};
	int r = mp->cb.part_begin ? mp->cb.part_begin(mp->ctx, &part) : 1;
	if (r < 0)
		return mfail(mp, MP_ECALLBACK, "part refused");
	mp->accepted = r == 0;
	mp->state = ST_DATA;
	mp->matched = 0;
	return MP_OK;
}

static enum multipart_err emit(struct multipart *mp, const void *p, size_t n)
{
	if (n == 0 || mp->state != ST_DATA || !mp->accepted || !mp->cb.part_data)
		return MP_OK;
	if (mp->cb.part_data(mp->ctx, p, n) < 0)
		return mfail(mp, MP_ECALLBACK, "part data refused");
	return MP_OK;
}

static enum multipart_err delimiter(struct multipart *mp)
{
	if (mp->state == ST_DATA && mp->accepted && mp->cb.part_end &&
	    mp->cb.part_end(mp->ctx) < 0)
		return mfail(mp, MP_ECALLBACK, "part end refused");
	mp->accepted = false;
	mp->matched = 0;
	mp->state = ST_AFTER_DELIM;
	return MP_OK;
}

/* PREAMBLE / DATA: looks for the delimiter from *pos, emitting data before it. */
static enum multipart_err scan(struct multipart *mp, const unsigned char *p, size_t n, size_t *pos)
{
	enum multipart_err rc;
	size_t i = *pos;
	if (mp->matched) {
		size_t carried = mp->matched; /* bytes of earlier feeds, not yet emitted */
		while (i < n && mp->matched < mp->dlen && p[i] == (unsigned char)mp->delim[mp->matched])
			i++, mp->matched++;
		if (mp->matched == mp->dlen) {
			*pos = i;
			return delimiter(mp);
		}
		if (i == n) {
			*pos = n;
			return MP_OK;
		}
		/* mismatch: the carried prefix was data; p[*pos..i) holds no CR, rescan from *pos */
		if ((rc = emit(mp, mp->delim, carried)) != MP_OK)
			return rc;
		mp->matched = 0;
		i = *pos;
	}
	size_t run = i;
	while (i < n) {
		const unsigned char *cr = memchr(p + i, '\r', n - i);
		if (!cr)
			break;
		size_t c = (size_t)(cr - p), k = 0;
		while (k < mp->dlen && c + k < n && p[c + k] == (unsigned char)mp->delim[k])
			k++;
		if (k == mp->dlen || c + k == n) {
			if ((rc = emit(mp, p + run, c - run)) != MP_OK)
				return rc;
			*pos = c + k;
			if (k == mp->dlen)
				return delimiter(mp);
			mp->matched = k;
			return MP_OK;
		}
		i = c + 1;
	}
	*pos = n;
	return emit(mp, p + run, n - run);
}

enum multipart_err multipart_feed(struct multipart *mp, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i = 0;
	enum multipart_err rc;
	if (mp->state == ST_FAILED)
		return MP_EMALFORMED;
	mp->total += len;
	if (mp->total > mp->lim.max_body)
		return mfail(mp, MP_ETOO_LARGE, "multipart body too large");
	while (i < len) {
		unsigned char c = p[i];
		switch (mp->state) {
		case ST_PREAMBLE:
		case ST_DATA:
			if ((rc = scan(mp, p, len, &i)) != MP_OK)
				return rc;
			break;
		case ST_AFTER_DELIM:
			i++;
			if (c == '-')
				mp->state = ST_CLOSE_DASH;
			else if (ows((char)c))
				mp->state = ST_PADDING;
			else if (c == '\r')
				mp->state = ST_CR;
			else
				return mfail(mp, MP_EMALFORMED, "junk after a multipart boundary");
			break;
		case ST_CLOSE_DASH:
			i++;
			if (c != '-')
				return mfail(mp, MP_EMALFORMED, "junk after a multipart boundary");
			mp->state = ST_EPILOGUE;
			break;
		case ST_PADDING:
			i++;
			if (c == '\r')
				mp->state = ST_CR;
			else if (!ows((char)c))
				return mfail(mp, MP_EMALFORMED, "junk after a multipart boundary");
			break;
		case ST_CR:
			i++;
			if (c != '\n')
				return mfail(mp, MP_EMALFORMED, "boundary line not ended by CRLF");
			if (++mp->nparts > mp->lim.max_parts)
				return mfail(mp, MP_ELIMIT, "too many multipart parts");
			mp->state = ST_HEADERS;
			mp->hlen = 0;
			break;
		case ST_HEADERS:
			i++;
			if (mp->hlen >= mp->hmax)
				return mfail(mp, MP_ELIMIT, "multipart part headers too long");
			mp->hdr[mp->hlen++] = (char)c;
			if ((mp->hlen == 2 && memcmp(mp->hdr, "\r\n", 2) == 0) ||
			    (mp->hlen >= 4 && memcmp(mp->hdr + mp->hlen - 4, "\r\n\r\n", 4) == 0)) {
				if ((rc = open_part(mp)) != MP_OK)
					return rc;
			}
			break;
		case ST_EPILOGUE:
			return MP_OK;
		default:
			return MP_EMALFORMED;
		}
	}
	return MP_OK;
}

enum multipart_err multipart_finish(struct multipart *mp)
{
	if (mp->state == ST_FAILED)
		return MP_EMALFORMED;
	if (mp->state != ST_EPILOGUE)
		return mfail(mp, MP_EMALFORMED,
			     "truncated multipart body (no closing boundary)");
	return MP_OK;
}

/* ---------------------------------------------------------------- helpers */

struct find {
	const char *field;
	bool found, done, not_file;
	const unsigned char *data;
	size_t len;
	bool contiguous;
	char *filename;
	size_t filenamesz;
	char *ctype;
	size_t ctypesz;
	int (*on_data)(void *, const void *, size_t);
	void *dctx;
};

static void copy_out(char *dst, size_t n, const char *src)
{
	if (!dst || !n)
		return;
	snprintf(dst, n, "%s", src ? src : "");
}

static int find_begin(void *ctx, const struct multipart_part *p)
{
	struct find *f = ctx;
	if (f->found || strcmp(p->name, f->field) != 0)
		return 1;
	if (!p->filename) {
		f->not_file = true;
		return 1;
	}
	f->found = true;
	copy_out(f->filename, f->filenamesz, p->filename);
	copy_out(f->ctype, f->ctypesz, p->content_type);
	return 0;
}

static int find_data(void *ctx, const void *data, size_t len)
{
	struct find *f = ctx;
	if (f->on_data)
		return f->on_data(f->dctx, data, len);
	if (!f->data)
		f->data = data;
	else if ((const unsigned char *)data != f->data + f->len)
		f->contiguous = false;
	f->len += len;
	return 0;
}

static int find_end(void *ctx)
{
	struct find *f = ctx;
	f->done = true;
	return 0;
}

static enum multipart_err find_result(struct find *f, struct multipart *mp, enum multipart_err rc,
				      char *err, size_t errsz)
{
	if (rc != MP_OK)
		return rc;
	if ((rc = multipart_finish(mp)) != MP_OK)
		return rc;
	if (!f->found || !f->done)
		return fail(err, errsz, MP_ENOFILE,
			    f->not_file ? "multipart part \"%s\" is not a file (no filename)"
					: "multipart body has no \"%s\" part",
			    f->field);
	return MP_OK;
}

enum multipart_err multipart_find_file(const char *content_type, const void *body, size_t len,
				       const char *field, const struct multipart_limits *lim,
				       struct multipart_file *out, char *err, size_t errsz)
{
	static const struct multipart_cb CB = {find_begin, find_data, find_end};
	struct multipart mp;
	struct find f = {.field = field, .contiguous = true};
	memset(out, 0, sizeof *out);
	f.filename = out->filename;
	f.filenamesz = sizeof out->filename;
	f.ctype = out->content_type;
	f.ctypesz = sizeof out->content_type;
	enum multipart_err rc = multipart_init(&mp, content_type, lim, &CB, &f, err, errsz);
	if (rc == MP_OK)
		rc = multipart_feed(&mp, body, len);
	if ((rc = find_result(&f, &mp, rc, err, errsz)) != MP_OK) {
		memset(out, 0, sizeof *out);
		return rc;
	}
	if (!f.contiguous) { /* cannot happen with a single feed; refuse rather than misreport */
		memset(out, 0, sizeof *out);
		return fail(err, errsz, MP_EMALFORMED, "multipart part is not contiguous");
	}
	out->data = f.data ? f.data : (const unsigned char *)"";
	out->len = f.len;
	return MP_OK;
}

enum multipart_err multipart_read_file(const char *content_type, multipart_read_fn *rd,
				       void *rctx, const char *field,
				       const struct multipart_limits *lim,
				       int (*on_data)(void *dctx, const void *data, size_t len),
				       void *dctx, char *filename, size_t filenamesz, char *err,
				       size_t errsz)
{
	static const struct multipart_cb CB = {find_begin, find_data, find_end};
	struct multipart mp;
	struct find f = {.field = field, .contiguous = true, .on_data = on_data, .dctx = dctx};
	unsigned char buf[16384];
	f.filename = filename;
	f.filenamesz = filenamesz;
	copy_out(filename, filenamesz, "");
	enum multipart_err rc = multipart_init(&mp, content_type, lim, &CB, &f, err, errsz);
	while (rc == MP_OK) {
		long n = rd(rctx, buf, sizeof buf);
		if (n < 0) {
			rc = fail(err, errsz, MP_EMALFORMED, "error reading the request body");
			break;
		}
		if (n == 0)
			break;
		rc = multipart_feed(&mp, buf, (size_t)n);
	}
	return find_result(&f, &mp, rc, err, errsz);
}
