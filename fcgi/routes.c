#include "routes.h"

#include "resources.h"

#include <stdlib.h>
#include <string.h>

#define ROUTE(m, p, h, s, f) \
	{ .method = M_##m, .path = p, .fn = h, .scope = S_##s, .handler_name = #h, .flags = f },
#define ON(record, flags) flags, .res = &record, .res_name = #record
const struct route routes[] = {
#include "routes.def"
};
#undef ON
#undef ROUTE

const unsigned nroutes = sizeof routes / sizeof routes[0];

static const char *const method_names[M__COUNT] = { "GET", "POST", "PUT", "PATCH", "DELETE" };

const char *method_name(enum method m)
{
	return (unsigned)m < M__COUNT ? method_names[m] : "?";
}

int method_parse(const char *s)
{
	for (int i = 0; i < M__COUNT; i++)
		if (s && strcmp(s, method_names[i]) == 0)
			return i;
	return -1;
}

/* Compares a pattern with a path segment by segment. Returns -1 when it does not match,
 * otherwise the number of literal segments matched (more literals = more specific). */
static int pattern_match(const char *pat, const char *path)
{
	int literals = 0;
	while (*pat && *path) {
		if (*pat != '/' || *path != '/')
			return -1;
		pat++;
		path++;
		const char *pe = strchr(pat, '/');
		const char *se = strchr(path, '/');
		size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
		size_t sl = se ? (size_t)(se - path) : strlen(path);
		if (sl == 0)
			return -1;
		if (pat[0] == '{') {
			/* placeholder: any non-empty segment */
		} else if (pl == sl && memcmp(pat, path, sl) == 0) {
			literals++;
		} else {
			return -1;
		}
		pat += pl;
		path += sl;
	}
	return *pat == '\0' && *path == '\0' ? literals : -1;
}

/* Same shape: equal segments, placeholders equal whatever their names. */
static int same_shape(const char *a, const char *b)
{
	while (*a && *b) {
		const char *ae = strchr(a + 1, '/');
		const char *be = strchr(b + 1, '/');
		size_t al = ae ? (size_t)(ae - a) : strlen(a);
		size_t bl = be ? (size_t)(be - b) : strlen(b);
		int aph = a[1] == '{', bph = b[1] == '{';
		if (aph != bph || (!aph && (al != bl || memcmp(a, b, al) != 0)))
			return 0;
		a += al;
		b += bl;
	}
	return *a == '\0' && *b == '\0';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void url_decode(char *s, int plus_is_space)
{
	char *o = s;
	for (; *s; s++) {
		if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0 &&
		    (s[1] != '0' || s[2] != '0')) { /* %00 stays literal: no NUL inside values */
			*o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else if (plus_is_space && *s == '+') {
			*o++ = ' ';
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Splits a copy of path into segments and binds the placeholders of pat. */
static void bind_params(struct req *r, const char *pat, const char *path)
{
	free(r->segs);
	r->segs = strdup(path);
	r->nparams = 0;
	if (!r->segs || path[0] != '/')
		return;
	char *seg = r->segs + 1;
	const char *p = pat + 1;
	for (;;) {
		char *se = strchr(seg, '/');
		const char *pe = strchr(p, '/');
		if (se)
			*se = '\0';
		if (*p == '{' && r->nparams < REQ_MAX_PARAMS) {
			url_decode(seg, 0);
			r->param_names[r->nparams] = p;
			r->param_vals[r->nparams] = seg;
			r->nparams++;
		}
		if (!se || !pe)
			break;
		seg = se + 1;
		p = pe + 1;
	}
}

const struct route *route_match(struct req *r, enum method m, char *path, unsigned *allow)
{
	const struct route *best = NULL;
	int best_lit = -1;
	*allow = 0;
	for (unsigned i = 0; i < nroutes; i++) {
		int lit = pattern_match(routes[i].path, path);
		if (lit > best_lit) {
			best_lit = lit;
			best = &routes[i];
		}
	}
	if (!best)
		return NULL;
	const struct route *hit = NULL;
	for (unsigned i = 0; i < nroutes; i++) {
		if (!same_shape(routes[i].path, best->path))
			continue;
		*allow |= 1u << routes[i].method;
		if (routes[i].method == m)
			hit = &routes[i];
	}
	if (hit)
		bind_params(r, hit->path, path);
	return hit;
}
