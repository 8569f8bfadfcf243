/* meta_gcode.c - the `; key = value` comment scanner shared by plain G-code, the plate G-code
 * inside a 3MF and PrusaSlicer's Slic3r_PE.config, plus the PNG thumbnail blocks; and the small
 * value helpers (strings, numbers, durations, base64, PNG header) the parsers share. */
#include "meta_int.h"

#include <math.h> /* isfinite (a macro, no libm) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

int meta_fail(char *err, size_t errsz, const char *fmt, ...)
{
	if (err && errsz) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool sp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *len)
{
	while (*len && sp(**s))
		(*s)++, (*len)--;
	while (*len && sp((*s)[*len - 1]))
		(*len)--;
}

/* Length of the valid UTF-8 sequence at p (n bytes available), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0], cp, min;
	size_t len;
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0)
		len = 2, min = 0x80, cp = c & 0x1F;
	else if ((c & 0xF0) == 0xE0)
		len = 3, min = 0x800, cp = c & 0x0F;
	else if ((c & 0xF8) == 0xF0)
		len = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

void meta_copy_str(char *dst, size_t dstsz, const char *src, size_t len)
{
	if (!dstsz)
		return;
	trim(&src, &len);
	if (len >= 2 && src[0] == '"' && src[len - 1] == '"') {
		src++, len -= 2;
		trim(&src, &len);
	}
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		const unsigned char *p = (const unsigned char *)src + i;
		size_t n = utf8_len(p, len - i);
		if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7F))) {
			if (o + 1 >= dstsz)
				break;
			dst[o++] = '?';
			i++;
			continue;
		}
		if (o + n >= dstsz)
			break;
		memcpy(dst + o, p, n);
		o += n;
		i += n;
	}
	dst[o] = '\0';
}

int meta_num(const char *s, size_t len, double *out)
{
	char buf[64];
	trim(&s, &len);
	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* digits, sign, point and exponent only: strtod would also take "inf", "nan", hex */
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789+-.eE", buf[i]))
			return -1;
	char *end;
	double v = strtod(buf, &end);
	if (end != buf + len || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

void meta_first_item(const char *s, size_t len, const char **item, size_t *ilen)
{
	trim(&s, &len);
	size_t e = 0;
	if (len && s[0] == '"') {
		const char *q = memchr(s + 1, '"', len - 1);
		e = q ? (size_t)(q - s) + 1 : len;
	} else {
		while (e < len && s[e] != ';' && s[e] != ',')
			e++;
	}
	*item = s;
	*ilen = e;
}

/* Without libm (the programs do not link it): values here stay far below 2^63 / 1e6. */
double meta_round6(double v)
{
	if (!(v > -9e12 && v < 9e12))
		return v;
	double x = v * 1e6;
	int64_t n = (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
	return (double)n / 1e6;
}

int meta_parse_duration(const char *s, size_t len, int64_t *seconds)
{
	static const struct {
		char unit;
		int64_t mult;
	} UNITS[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	int64_t total = 0;
	unsigned seen = 0;
	size_t i = 0;
	while (i < len) {
		while (i < len && sp(s[i]))
			i++;
		if (i == len)
			break;
		int64_t n = 0;
		size_t d0 = i;
		while (i < len && s[i] >= '0' && s[i] <= '9' && i - d0 < 9)
			n = n * 10 + (s[i++] - '0');
		if (i == d0 || i >= len)
			return -1;
		size_t u = 0;
		while (u < 4 && UNITS[u].unit != s[i])
			u++;
		if (u == 4 || (seen & (1u << u)))
			return -1;
		seen |= 1u << u;
		total += n * UNITS[u].mult;
		i++;
		if (i < len && !sp(s[i]))
			return -1;
	}
	if (!seen)
		return -1;
	*seconds = total;
	return 0;
}

static const signed char B64[256] = {
	['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,
	['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
	['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
	['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
	['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
	['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
	['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63,
	['/'] = 64,
}; /* value + 1; 0 = not a base64 digit */

long meta_b64_decode(const char *in, size_t len, unsigned char *out)
{
	while (len && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = B64[(unsigned char)in[i]];
		if (!v)
			return -1;
		acc = (acc << 6) | (uint32_t)(v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)o;
}

int meta_png_info(const unsigned char *b, size_t len, int *w, int *h)
{
	static const unsigned char SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
	if (len < 33 || memcmp(b, SIG, 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0)
		return -1;
	uint32_t W = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
	uint32_t H = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
	if (W == 0 || H == 0 || W > 100000 || H > 100000)
		return -1;
	*w = (int)W;
	*h = (int)H;
	return 0;
}

static const struct {
	const char *raw, *name;
} SLICERS[] = {
	{"BambuStudio", "Bambu Studio"},  {"Bambu Studio", "Bambu Studio"},
	{"OrcaSlicer", "OrcaSlicer"},     {"Orca-Flashforge", "Orca-Flashforge"},
	{"PrusaSlicer", "PrusaSlicer"},   {"SuperSlicer", "SuperSlicer"},
	{"Slic3r", "Slic3r"},             {"Cura_SteamEngine", "Cura"},
	{"Cura", "Cura"},                 {"UltiMaker Cura", "Cura"},
	{"Ultimaker Cura", "Cura"},
};

void meta_set_slicer(char *dst, size_t dstsz, const char *raw, size_t len)
{
	trim(&raw, &len);
	for (size_t i = 0; i < sizeof SLICERS / sizeof SLICERS[0]; i++) {
		if (strlen(SLICERS[i].raw) == len && strncasecmp(SLICERS[i].raw, raw, len) == 0) {
			meta_copy_str(dst, dstsz, SLICERS[i].name, strlen(SLICERS[i].name));
			return;
		}
	}
	meta_copy_str(dst, dstsz, raw, len);
}

void meta_copy_version(char *dst, size_t dstsz, const char *src, size_t len)
{
	const char *plus = memchr(src, '+', len);
	if (plus)
		len = (size_t)(plus - src);
	meta_copy_str(dst, dstsz, src, len);
}

/* ---------------------------------------------------------------- the scanner */

enum gkind {
	K_STR,       /* text, quotes removed */
	K_FIRST,     /* first item of a ; or , list */
	K_NUM,       /* one number */
	K_FIRSTNUM,  /* first item of a list, as a number */
	K_SUM,       /* comma-separated numbers, summed */
	K_INT,       /* whole number */
	K_DUR,       /* 1h 2m 3s */
	K_BAMBU_TIME, /* "11m 15s; total estimated time: 18m 15s" */
	K_CURA_M,    /* "8.36128m" or "1.2m, 3.4m" */
	K_OBJINFO,   /* {"objects":[...]} */
};

static const struct gkey {
	const char *key;
	enum gslot slot;
	enum gkind kind;
} GKEYS[] = {
	{"model printing time", GS_TIME_BAMBU, K_BAMBU_TIME},
	{"estimated printing time (normal mode)", GS_TIME_NORMAL, K_DUR},
	{"TIME", GS_TIME_CURA, K_INT},
	{"PRINT.TIME", GS_TIME_CURA, K_INT},
	{"total filament weight [g]", GS_WEIGHT_BAMBU, K_NUM},
	{"total filament used [g]", GS_WEIGHT_TOTAL, K_NUM},
	{"filament used [g]", GS_WEIGHT_SUM, K_SUM},
	{"total filament length [mm]", GS_LEN_MM_BAMBU, K_NUM},
	{"filament used [mm]", GS_LEN_MM_SUM, K_SUM},
	{"Filament used", GS_LEN_M_CURA, K_CURA_M},
	{"total layer number", GS_LAYERS, K_INT},
	{"total layers count", GS_LAYERS, K_INT},
	{"LAYER_COUNT", GS_LAYERS, K_INT},
	{"printer_model", GS_PRINTER_MODEL, K_STR},
	{"TARGET_MACHINE.NAME", GS_MACHINE_NAME, K_STR},
	{"printer_settings_id", GS_PRINTER_SETTINGS, K_STR},
	{"filament_type", GS_FIL_TYPE, K_FIRST},
	{"filament_colour", GS_FIL_COLOUR, K_FIRST},
	{"nozzle_diameter", GS_NOZZLE, K_FIRSTNUM},
	{"EXTRUDER_TRAIN.0.NOZZLE.DIAMETER", GS_NOZZLE, K_NUM},
	{"curr_bed_type", GS_BED, K_STR},
	{"BUILD_PLATE.TYPE", GS_BED, K_STR},
	{"print_settings_id", GS_PRINT_SETTINGS, K_STR},
	{"layer_height", GS_LAYER_HEIGHT, K_NUM},
	{"Layer height", GS_LAYER_HEIGHT, K_NUM},
	{"objects_info", GS_OBJECTS, K_OBJINFO},
	{"GENERATOR.NAME", GS_GEN_NAME, K_STR},
	{"GENERATOR.VERSION", GS_GEN_VERSION, K_STR},
};

void gscan_init(struct gscan *g, size_t max_png)
{
	memset(g, 0, sizeof *g);
	g->max_png = max_png;
}

void gscan_release(struct gscan *g)
{
	free(g->png);
	g->png = NULL;
	g->png_len = 0;
}

static int sum_list(const char *v, size_t vl, bool metres, double *out)
{
	double total = 0;
	size_t i = 0;
	unsigned items = 0;
	while (i <= vl && items < 64) {
		size_t e = i;
		while (e < vl && v[e] != ',')
			e++;
		const char *it = v + i;
		size_t il = e - i;
		trim(&it, &il);
		if (metres) {
			if (il == 0 || it[il - 1] != 'm')
				return -1;
			il--;
		}
		double x;
		if (meta_num(it, il, &x) < 0 || x < 0)
			return -1;
		total += x;
		items++;
		i = e + 1;
	}
	*out = total;
	return 0;
}

static int count_objects(const char *v, size_t vl, double *out)
{
	json_error_t je;
	json_t *j = json_loadb(v, vl, 0, &je);
	json_t *arr = j ? json_object_get(j, "objects") : NULL;
	int rc = -1;
	if (json_is_array(arr)) {
		*out = (double)json_array_size(arr);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

static void set_value(struct gscan *g, const struct gkey *k, const char *v, size_t vl)
{
	struct gval *s = &g->v[k->slot];
	const char *it;
	size_t il;
	double x;
	int64_t secs;
	if (s->set)
		return;
	switch (k->kind) {
	case K_STR:
	case K_FIRST:
		if (k->kind == K_FIRST)
			meta_first_item(v, vl, &v, &vl);
		meta_copy_str(s->str, sizeof s->str, v, vl);
		s->set = s->str[0] != '\0';
		return;
	case K_NUM:
	case K_FIRSTNUM:
		if (k->kind == K_FIRSTNUM)
			meta_first_item(v, vl, &v, &vl);
		if (meta_num(v, vl, &x) < 0)
			return;
		break;
	case K_INT:
		if (meta_num(v, vl, &x) < 0 || x < 0 || x > 1e12 || x != (double)(int64_t)x)
			return;
		break;
	case K_SUM:
	case K_CURA_M:
		if (sum_list(v, vl, k->kind == K_CURA_M, &x) < 0)
			return;
		break;
	case K_DUR:
		if (meta_parse_duration(v, vl, &secs) < 0)
			return;
		x = (double)secs;
		break;
	case K_BAMBU_TIME:
		it = memmem(v, vl, "total estimated time:", 21);
		if (!it)
			return;
		it += 21;
		il = vl - (size_t)(it - v);
		{
			const char *semi = memchr(it, ';', il);
			if (semi)
				il = (size_t)(semi - it);
		}
		if (meta_parse_duration(it, il, &secs) < 0)
			return;
		x = (double)secs;
		break;
	case K_OBJINFO:
		if (count_objects(v, vl, &x) < 0)
			return;
		break;
	default:
		return;
	}
	if (x < 0 || x > 1e12)
		return;
	s->num = x;
	s->set = true;
}

static bool starts(const char *t, size_t tl, const char *p)
{
	size_t pl = strlen(p);
	return tl >= pl && memcmp(t, p, pl) == 0;
}

/* "generated by OrcaSlicer 2.3.0 on ..." / "Generated with Cura_SteamEngine 4.10.0" /
 * "BambuStudio 02.04.00.70": name and version tokens. */
static void generator_line(struct gscan *g, const char *t, size_t tl)
{
	static const char *const PREFIX[] = {"generated by ", "Generated with ", ""};
	if (g->slicer[0])
		return;
	for (size_t p = 0; p < sizeof PREFIX / sizeof PREFIX[0]; p++) {
		if (!starts(t, tl, PREFIX[p]))
			continue;
		const char *s = t + strlen(PREFIX[p]);
		size_t sl = tl - strlen(PREFIX[p]);
		if (p == 2 && !starts(t, tl, "BambuStudio "))
			return;
		size_t n = 0;
		while (n < sl && s[n] != ' ')
			n++;
		size_t v0 = n;
		while (v0 < sl && s[v0] == ' ')
			v0++;
		size_t v1 = v0;
		while (v1 < sl && s[v1] != ' ')
			v1++;
		if (n == 0 || v1 == v0 || s[v0] < '0' || s[v0] > '9')
			return;
		if (p == 2 && v1 != sl) /* "; BambuStudio <version>" is the whole line */
			return;
		meta_set_slicer(g->slicer, sizeof g->slicer, s, n);
		meta_copy_version(g->slicer_version, sizeof g->slicer_version, s + v0, v1 - v0);
		return;
	}
}

enum tstate { T_NONE, T_PNG, T_SKIP };

struct thumbst {
	enum tstate st;
	char *b64;
	size_t len, cap, limit;
};

static bool all_b64(const char *t, size_t tl)
{
	for (size_t i = 0; i < tl; i++)
		if (!B64[(unsigned char)t[i]] && t[i] != '=')
			return false;
	return true;
}

static void thumb_finish(struct gscan *g, struct thumbst *ts)
{
	unsigned char *png = NULL;
	int w, h;
	if (ts->len == 0)
		goto out;
	png = malloc(ts->len / 4 * 3 + 3);
	if (!png)
		goto out;
	long n = meta_b64_decode(ts->b64, ts->len, png);
	if (n < 0 || (size_t)n > g->max_png || meta_png_info(png, (size_t)n, &w, &h) < 0)
		goto out;
	if (g->png && (long long)w * h <= (long long)g->png_w * g->png_h)
		goto out;
	size_t old = g->png ? g->png_len : 0;
	if (g->png_held && *g->png_held - old + (size_t)n > g->png_cap)
		goto out; /* over the shared budget: keep what we have */
	if (g->png_held)
		*g->png_held = *g->png_held - old + (size_t)n;
	free(g->png);
	g->png = png;
	g->png_len = (size_t)n;
	g->png_w = w;
	g->png_h = h;
	png = NULL;
out:
	free(png);
	ts->st = T_NONE;
	ts->len = 0;
}

/* Thumbnail block lines; returns true when the line was consumed by a block. */
static bool thumb_line(struct gscan *g, struct thumbst *ts, bool comment, const char *t, size_t tl)
{
	if (comment && starts(t, tl, "thumbnail")) {
		const char *r = t + 9;
		size_t rl = tl - 9;
		bool png = true;
		if (rl && r[0] == '_') { /* thumbnail_QOI, thumbnail_JPG, thumbnail_PNG */
			png = starts(r, rl, "_PNG ");
			while (rl && r[0] != ' ')
				r++, rl--;
		}
		if (starts(r, rl, " begin")) {
			ts->st = png ? T_PNG : T_SKIP;
			ts->len = 0;
			return true;
		}
		if (starts(r, rl, " end")) {
			if (ts->st == T_PNG)
				thumb_finish(g, ts);
			ts->st = T_NONE;
			return true;
		}
	}
	if (ts->st == T_NONE)
		return false;
	if (comment && tl == 0)
		return true;
	if (!comment || !all_b64(t, tl)) { /* block cut short: drop it, read the line normally */
		ts->st = T_NONE;
		ts->len = 0;
		return false;
	}
	if (ts->st == T_SKIP)
		return true;
	if (ts->len + tl > ts->limit) {
		ts->st = T_SKIP;
		ts->len = 0;
		return true;
	}
	if (ts->len + tl > ts->cap) {
		size_t cap = ts->cap ? ts->cap : 4096;
		while (cap < ts->len + tl)
			cap *= 2;
		char *nb = realloc(ts->b64, cap);
		if (!nb) {
			ts->st = T_SKIP;
			return true;
		}
		ts->b64 = nb;
		ts->cap = cap;
	}
	memcpy(ts->b64 + ts->len, t, tl);
	ts->len += tl;
	return true;
}

static void comment_line(struct gscan *g, const char *t, size_t tl)
{
	if (starts(t, tl, "generated by ") || starts(t, tl, "Generated with ") ||
	    starts(t, tl, "BambuStudio ")) {
		generator_line(g, t, tl);
		return;
	}
	size_t sep = 0;
	while (sep < tl && t[sep] != '=' && t[sep] != ':')
		sep++;
	if (sep == tl || sep > 64)
		return;
	const char *k = t, *v = t + sep + 1;
	size_t kl = sep, vl = tl - sep - 1;
	trim(&k, &kl);
	trim(&v, &vl);
	for (size_t i = 0; i < sizeof GKEYS / sizeof GKEYS[0]; i++) {
		if (strlen(GKEYS[i].key) == kl && memcmp(GKEYS[i].key, k, kl) == 0) {
			set_value(g, &GKEYS[i], v, vl);
			return;
		}
	}
}

void gscan_window(struct gscan *g, const char *buf, size_t len, bool cut_start, bool cut_end)
{
	struct thumbst ts = {.limit = g->max_png / 3 * 4 + 8};
	size_t pos = 0;
	if (cut_start) {
		const char *nl = memchr(buf, '\n', len);
		pos = nl ? (size_t)(nl - buf) + 1 : len;
	} else if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		pos = 3;
	}
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		if (!nl && cut_end)
			break;
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		pos += ll + (nl ? 1 : 0);
		if (ll && line[ll - 1] == '\r')
			ll--;
		bool comment = ll > 0 && line[0] == ';';
		const char *t = line;
		size_t tl = ll;
		if (comment) {
			t++, tl--;
			while (tl && (*t == ' ' || *t == '\t'))
				t++, tl--;
			while (tl && sp(t[tl - 1]))
				tl--;
			g->saw_gcode = true;
		} else if (ll >= 2 && (line[0] == 'G' || line[0] == 'M' || line[0] == 'T') &&
			   line[1] >= '0' && line[1] <= '9') {
			g->saw_gcode = true;
		}
		if (thumb_line(g, &ts, comment, t, tl))
			continue;
		if (comment)
			comment_line(g, t, tl);
	}
	free(ts.b64);
}

static void num_if(struct meta_num *dst, const struct gval *v, double scale, double lo, double hi)
{
	if (dst->set || !v->set)
		return;
	double x = v->num * scale;
	if (x < lo || x > hi)
		return;
	dst->set = true;
	dst->v = meta_round6(x);
}

static void int_if(struct meta_int *dst, const struct gval *v, double hi)
{
	if (dst->set || !v->set || v->num > hi)
		return;
	dst->set = true;
	dst->v = (int64_t)v->num;
}

static const char *str_of(const struct gscan *g, enum gslot a, enum gslot b, enum gslot c)
{
	if (g->v[a].set)
		return g->v[a].str;
	if (b != GS__COUNT && g->v[b].set)
		return g->v[b].str;
	if (c != GS__COUNT && g->v[c].set)
		return g->v[c].str;
	return NULL;
}

void gscan_resolve(const struct gscan *g, struct gres *r)
{
	const struct gval *v = g->v;
	memset(r, 0, sizeof *r);
	static const enum gslot TIME[] = {GS_TIME_BAMBU, GS_TIME_NORMAL, GS_TIME_CURA};
	for (size_t i = 0; i < 3; i++)
		int_if(&r->time, &v[TIME[i]], 10.0 * 366 * 86400);
	static const enum gslot WEIGHT[] = {GS_WEIGHT_BAMBU, GS_WEIGHT_TOTAL, GS_WEIGHT_SUM};
	for (size_t i = 0; i < 3; i++)
		num_if(&r->weight, &v[WEIGHT[i]], 1, 0, 1e7);
	num_if(&r->length_m, &v[GS_LEN_MM_BAMBU], 0.001, 0, 1e7);
	num_if(&r->length_m, &v[GS_LEN_MM_SUM], 0.001, 0, 1e7);
	num_if(&r->length_m, &v[GS_LEN_M_CURA], 1, 0, 1e7);
	int_if(&r->layers, &v[GS_LAYERS], 1e7);
	int_if(&r->objects, &v[GS_OBJECTS], 1e6);
	num_if(&r->nozzle, &v[GS_NOZZLE], 1, 0.01, 10);
	num_if(&r->layer_height, &v[GS_LAYER_HEIGHT], 1, 0.001, 100);
	r->printer_model = str_of(g, GS_PRINTER_MODEL, GS_MACHINE_NAME, GS_PRINTER_SETTINGS);
	r->filament_type = str_of(g, GS_FIL_TYPE, GS__COUNT, GS__COUNT);
	r->filament_color = str_of(g, GS_FIL_COLOUR, GS__COUNT, GS__COUNT);
	r->bed = str_of(g, GS_BED, GS__COUNT, GS__COUNT);
	r->print_profile = str_of(g, GS_PRINT_SETTINGS, GS__COUNT, GS__COUNT);
	if (g->slicer[0]) {
		r->slicer = g->slicer;
		r->slicer_version = g->slicer_version[0] ? g->slicer_version : NULL;
	} else if (v[GS_GEN_NAME].set) {
		r->slicer = v[GS_GEN_NAME].str;
		r->slicer_version = v[GS_GEN_VERSION].set ? v[GS_GEN_VERSION].str : NULL;
	}
}
