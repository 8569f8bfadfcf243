/* meta_xml.c - the small bounded XML tokenizer behind the 3MF configs (slice_info.config,
 * model_settings.config, Slic3r_PE_model.config, 3D/3dmodel.model). Single pass, no
 * allocation beyond one scratch buffer the size of the input, no entity definitions. */
#include "meta.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XML_MAX_DEPTH 256
#define XML_MAX_ATTRS 64

struct xp {
	const char *b;
	size_t len, pos;
	bool partial;
	char *scratch; /* decoded values; never longer than their source */
	size_t sused;
	char *err;
	size_t errsz;
	bool stopped_short; /* partial input ended inside a construct */
};

__attribute__((format(printf, 2, 3))) static int xfail(struct xp *x, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (x->err && x->errsz)
		snprintf(x->err, x->errsz, "%s at byte %zu", msg, x->pos);
	return -1;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80;
}

static bool name_char(unsigned char c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static void skip_ws(struct xp *x)
{
	while (x->pos < x->len && is_ws(x->b[x->pos]))
		x->pos++;
}

/* Reads a name at pos; 0 with the name and its length set, -1 when none. */
static int read_name(struct xp *x, const char **n, size_t *nl)
{
	size_t s = x->pos;
	if (s >= x->len || !name_start((unsigned char)x->b[s]))
		return -1;
	while (x->pos < x->len && name_char((unsigned char)x->b[x->pos]))
		x->pos++;
	*n = x->b + s;
	*nl = x->pos - s;
	return 0;
}

static size_t utf8_put(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static const struct {
	const char *name;
	char c;
} ENTITIES[] = {
	{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
};

/* Decodes src[0..n) into the scratch buffer; *out points at the NUL-terminated result.
 * in_attr: a raw '<' is an error (XML forbids it in attribute values). */
static int decode(struct xp *x, size_t at, const char *src, size_t n, bool in_attr,
		  const char **out, size_t *outlen)
{
	char *o = x->scratch + x->sused, *start = o;
	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		if (c == '<' && in_attr) {
			x->pos = at + i;
			return xfail(x, "'<' inside an attribute value");
		}
		if (c != '&') {
			*o++ = c;
			continue;
		}
		size_t semi = i + 1;
		while (semi < n && semi - i <= 12 && src[semi] != ';')
			semi++;
		if (semi >= n || src[semi] != ';') {
			x->pos = at + i;
			return xfail(x, "unterminated entity");
		}
		const char *e = src + i + 1;
		size_t el = semi - i - 1;
		if (el >= 2 && e[0] == '#') {
			unsigned long cp = 0;
			bool hex = e[1] == 'x';
			size_t k = hex ? 2 : 1;
			if (k >= el) {
				x->pos = at + i;
				return xfail(x, "empty character reference");
			}
			for (; k < el; k++) {
				char d = e[k];
				int v;
				if (d >= '0' && d <= '9')
					v = d - '0';
				else if (hex && d >= 'a' && d <= 'f')
					v = d - 'a' + 10;
				else if (hex && d >= 'A' && d <= 'F')
					v = d - 'A' + 10;
				else {
					x->pos = at + i;
					return xfail(x, "bad character reference");
				}
				cp = cp * (hex ? 16 : 10) + (unsigned long)v;
				if (cp > 0x10FFFF) {
					x->pos = at + i;
					return xfail(x, "character reference out of range");
				}
			}
			if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
				x->pos = at + i;
				return xfail(x, "invalid character reference");
			}
			/* "&#N;" is at least 4 bytes and encodes to at most 4 */
			o += utf8_put(o, cp);
		} else {
			size_t k = 0;
			for (; k < sizeof ENTITIES / sizeof ENTITIES[0]; k++)
				if (strlen(ENTITIES[k].name) == el && memcmp(ENTITIES[k].name, e, el) == 0)
					break;
			if (k == sizeof ENTITIES / sizeof ENTITIES[0]) {
				x->pos = at + i;
				return xfail(x, "unknown entity &%.*s;", (int)el, e);
			}
			*o++ = ENTITIES[k].c;
		}
		i = semi;
	}
	*o++ = '\0';
	*out = start;
	*outlen = (size_t)(o - start) - 1;
	x->sused += (size_t)(o - start);
	return 0;
}

/* Finds needle from pos; returns its offset or len when missing. */
static size_t find(const struct xp *x, const char *needle)
{
	size_t nl = strlen(needle);
	if (x->len < nl)
		return x->len;
	const char *p = memmem(x->b + x->pos, x->len - x->pos, needle, nl);
	return p ? (size_t)(p - x->b) : x->len;
}

struct stack {
	const char *name[XML_MAX_DEPTH];
	size_t nl[XML_MAX_DEPTH];
	unsigned depth;
};

static int start_tag(struct xp *x, struct stack *st, const struct meta_xml_handler *h, void *ctx)
{
	struct meta_xml_attr attrs[XML_MAX_ATTRS];
	size_t nattrs = 0;
	const char *name;
	size_t nl;
	x->pos++; /* '<' */
	if (read_name(x, &name, &nl) < 0)
		return x->pos >= x->len && x->partial ? (x->stopped_short = true, 0)
						     : xfail(x, "bad element name");
	x->sused = 0;
	bool self_close = false;
	for (;;) {
		size_t before = x->pos;
		skip_ws(x);
		if (x->pos >= x->len)
			return x->partial ? (x->stopped_short = true, 0)
					  : xfail(x, "unclosed tag <%.*s", (int)nl, name);
		char c = x->b[x->pos];
		if (c == '>') {
			x->pos++;
			break;
		}
		if (c == '/') {
			if (x->pos + 1 >= x->len)
				return x->partial ? (x->stopped_short = true, 0)
						  : xfail(x, "unclosed tag <%.*s", (int)nl, name);
			if (x->b[x->pos + 1] != '>')
				return xfail(x, "stray '/' in <%.*s>", (int)nl, name);
			x->pos += 2;
			self_close = true;
			break;
		}
		if (x->pos == before)
			return xfail(x, "missing space between attributes in <%.*s>", (int)nl, name);
		struct meta_xml_attr *a = &attrs[nattrs];
		if (read_name(x, &a->name, &a->name_len) < 0)
			return xfail(x, "bad attribute name in <%.*s>", (int)nl, name);
		skip_ws(x);
		if (x->pos >= x->len && x->partial)
			return x->stopped_short = true, 0;
		if (x->pos >= x->len || x->b[x->pos] != '=')
			return xfail(x, "attribute %.*s without '=' in <%.*s>", (int)a->name_len,
				     a->name, (int)nl, name);
		x->pos++;
		skip_ws(x);
		if (x->pos >= x->len && x->partial)
			return x->stopped_short = true, 0;
		if (x->pos >= x->len || (x->b[x->pos] != '"' && x->b[x->pos] != '\''))
			return xfail(x, "unquoted value of attribute %.*s", (int)a->name_len, a->name);
		char q = x->b[x->pos++];
		const char *v = memchr(x->b + x->pos, q, x->len - x->pos);
		if (!v)
			return x->partial ? (x->stopped_short = true, 0)
					  : xfail(x, "unterminated value of attribute %.*s",
						  (int)a->name_len, a->name);
		size_t vs = x->pos;
		if (decode(x, vs, x->b + vs, (size_t)(v - (x->b + vs)), true, &a->value,
			   &a->value_len) < 0)
			return -1;
		x->pos = (size_t)(v - x->b) + 1;
		if (++nattrs == XML_MAX_ATTRS)
			return xfail(x, "more than %d attributes in <%.*s>", XML_MAX_ATTRS - 1, (int)nl,
				     name);
	}
	if (st->depth >= XML_MAX_DEPTH)
		return xfail(x, "elements nested deeper than %d", XML_MAX_DEPTH);
	if (h->start) {
		int rc = h->start(ctx, name, nl, attrs, nattrs, st->depth);
		if (rc)
			return rc > 0 ? 1 : -1;
	}
	if (self_close) {
		if (h->end) {
			int rc = h->end(ctx, name, nl, st->depth);
			if (rc)
				return rc > 0 ? 1 : -1;
		}
		return 0;
	}
	st->name[st->depth] = name;
	st->nl[st->depth] = nl;
	st->depth++;
	return 0;
}

static int end_tag(struct xp *x, struct stack *st, const struct meta_xml_handler *h, void *ctx)
{
	const char *name;
	size_t nl;
	x->pos += 2; /* "</" */
	if (read_name(x, &name, &nl) < 0)
		return x->pos >= x->len && x->partial ? (x->stopped_short = true, 0)
						     : xfail(x, "bad closing tag");
	skip_ws(x);
	if (x->pos >= x->len)
		return x->partial ? (x->stopped_short = true, 0)
				  : xfail(x, "unterminated closing tag </%.*s", (int)nl, name);
	if (x->b[x->pos] != '>')
		return xfail(x, "junk in closing tag </%.*s>", (int)nl, name);
	x->pos++;
	if (st->depth == 0)
		return xfail(x, "closing tag </%.*s> without an open element", (int)nl, name);
	unsigned d = st->depth - 1;
	if (st->nl[d] != nl || memcmp(st->name[d], name, nl) != 0)
		return xfail(x, "</%.*s> closes <%.*s>", (int)nl, name, (int)st->nl[d], st->name[d]);
	st->depth = d;
	if (h->end) {
		int rc = h->end(ctx, name, nl, d);
		if (rc)
			return rc > 0 ? 1 : -1;
	}
	return 0;
}

/* Comments, processing instructions, CDATA. */
static int special(struct xp *x, struct stack *st, const struct meta_xml_handler *h, void *ctx)
{
	static const struct {
		const char *open, *close;
		bool text;
	} KINDS[] = {
		{"<?", "?>", false},
		{"<!--", "-->", false},
		{"<![CDATA[", "]]>", true},
	};
	for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
		size_t ol = strlen(KINDS[k].open);
		size_t avail = x->len - x->pos;
		if (avail < ol) {
			if (memcmp(x->b + x->pos, KINDS[k].open, avail) == 0 && x->partial)
				return x->stopped_short = true, 0;
			continue;
		}
		if (memcmp(x->b + x->pos, KINDS[k].open, ol) != 0)
			continue;
		size_t at = x->pos;
		x->pos += ol;
		size_t end = find(x, KINDS[k].close);
		if (end >= x->len) {
			x->pos = at;
			return x->partial ? (x->stopped_short = true, 0)
					  : xfail(x, "unterminated %s", KINDS[k].open);
		}
		if (KINDS[k].text) {
			if (st->depth == 0)
				return xfail(x, "CDATA outside the root element");
			if (h->text) {
				x->sused = 0;
				memcpy(x->scratch, x->b + x->pos, end - x->pos);
				x->scratch[end - x->pos] = '\0';
				int rc = h->text(ctx, x->scratch, end - x->pos, st->depth - 1);
				if (rc)
					return rc > 0 ? 1 : -1;
			}
		}
		x->pos = end + strlen(KINDS[k].close);
		return 0;
	}
	if (x->len - x->pos >= 2 && x->b[x->pos + 1] == '!')
		return xfail(x, "DOCTYPE and markup declarations are not accepted");
	return 2; /* not special */
}

static int text_run(struct xp *x, struct stack *st, const struct meta_xml_handler *h, void *ctx)
{
	size_t s = x->pos;
	const char *lt = memchr(x->b + s, '<', x->len - s);
	size_t e = lt ? (size_t)(lt - x->b) : x->len;
	if (st->depth == 0) {
		for (size_t i = s; i < e; i++) {
			if (!is_ws(x->b[i])) {
				x->pos = i;
				return xfail(x, "text outside the root element");
			}
		}
		x->pos = e;
		return 0;
	}
	if (!lt && x->partial) { /* the run may be cut: pass nothing rather than a fragment */
		x->pos = e;
		x->stopped_short = true;
		return 0;
	}
	x->sused = 0;
	const char *v;
	size_t vl;
	if (decode(x, s, x->b + s, e - s, false, &v, &vl) < 0)
		return -1;
	x->pos = e;
	if (h->text && vl) {
		int rc = h->text(ctx, v, vl, st->depth - 1);
		if (rc)
			return rc > 0 ? 1 : -1;
	}
	return 0;
}

int meta_xml_parse(const char *buf, size_t len, bool partial, const struct meta_xml_handler *h,
		   void *ctx, char *err, size_t errsz)
{
	struct xp x = {.b = buf, .len = len, .partial = partial, .err = err, .errsz = errsz};
	struct stack *st = NULL;
	bool root_seen = false, root_done = false;
	int rc = -1;
	x.scratch = malloc(len + 1);
	st = calloc(1, sizeof *st);
	if (!x.scratch || !st) {
		xfail(&x, "out of memory");
		goto out;
	}
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		x.pos = 3;
	while (x.pos < x.len && !x.stopped_short) {
		int r;
		if (x.b[x.pos] != '<') {
			r = text_run(&x, st, h, ctx);
		} else if ((r = special(&x, st, h, ctx)) != 2) {
			/* comment, PI or CDATA handled */
		} else if (x.pos + 1 < x.len && x.b[x.pos + 1] == '/') {
			r = end_tag(&x, st, h, ctx);
			if (r == 0 && st->depth == 0 && !x.stopped_short)
				root_done = true;
		} else {
			if (root_done) {
				xfail(&x, "a second root element");
				goto out;
			}
			unsigned before = st->depth;
			r = start_tag(&x, st, h, ctx);
			if (r == 0 && !x.stopped_short) {
				root_seen = true;
				if (before == 0 && st->depth == 0)
					root_done = true; /* self-closing root */
			}
		}
		if (r < 0)
			goto out;
		if (r > 0) { /* the handler stopped early */
			rc = 0;
			goto out;
		}
	}
	if (!partial) {
		if (st->depth > 0) {
			xfail(&x, "unclosed <%.*s>", (int)st->nl[st->depth - 1],
			      st->name[st->depth - 1]);
			goto out;
		}
		if (!root_seen) {
			xfail(&x, "no root element");
			goto out;
		}
	}
	rc = 0;
out:
	free(x.scratch);
	free(st);
	return rc;
}
