/* meta_3mf.c - walks a 3MF (ZIP) archive once, in stored order, through libarchive's streaming
 * ZIP reader: every entry is checked (count, path name, size, compression ratio, total bytes
 * inflated) and the few we need are parsed (slice_info, model_settings, project_settings,
 * Slic3r_PE configs, 3D/3dmodel.model, plate G-code head and tail, plate thumbnails). Values
 * are merged per plate at the end because entry order is not fixed. */
#include "meta_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHUNK 65536

enum ekind {
	E_MODEL,
	E_SLICE_INFO,
	E_MODEL_SETTINGS,
	E_PROJECT,
	E_PE_CONFIG,
	E_PE_MODEL,
	E_PLATE_GCODE,
	E_PLATE_PNG,
	E_PLATE_JSON,
	E_THUMB, /* fallback thumbnails of plate 1, by priority */
};

/* Entries we read. '#' matches a plate number 1..META_MAX_PLATES. Names compare
 * case-insensitively (OPC part names are case-insensitive). */
static const struct rule {
	const char *pattern;
	enum ekind kind;
	int prio;
} RULES[] = {
	{"3D/3dmodel.model", E_MODEL, 0},
	{"Metadata/slice_info.config", E_SLICE_INFO, 0},
	{"Metadata/model_settings.config", E_MODEL_SETTINGS, 0},
	{"Metadata/project_settings.config", E_PROJECT, 0},
	{"Metadata/Slic3r_PE.config", E_PE_CONFIG, 0},
	{"Metadata/Slic3r_PE_model.config", E_PE_MODEL, 0},
	{"Metadata/plate_#.gcode", E_PLATE_GCODE, 0},
	{"Metadata/plate_#.png", E_PLATE_PNG, 0},
	{"Metadata/plate_#.json", E_PLATE_JSON, 0},
	{"Metadata/thumbnail.png", E_THUMB, 1},
	{"Metadata/plate_1_thumbnail.png", E_THUMB, 2},
	{"thumbnail/plate_1.png", E_THUMB, 3},
	{"Metadata/model_pic.png", E_THUMB, 4},
	{".thumbnail/thumbnail.png", E_THUMB, 5},
};

#define PRIO_GCODE 9 /* a PNG embedded in the plate G-code: last resort */

struct si_plate { /* one <plate> of slice_info.config */
	int index;
	struct meta_int prediction, objects, layers;
	struct meta_num weight, used_g, used_m, nozzle;
	bool have_filament;
	char fil_type[64], fil_color[32];
	char model_id[64];
};

struct ms_plate { /* one <plate> of model_settings.config */
	int index;
	unsigned instances;
};

struct cand {
	bool present;
	int prio, w, h;
	unsigned char *data; /* kept only when the caller wants this plate's bytes */
	size_t len;
};

struct tagcount {
	char carry[8];
	size_t carry_len;
	unsigned long count;
};

struct z3 {
	const struct meta_limits *lim;
	struct archive *a;
	struct meta_thumbs *thumbs;
	char *err;
	size_t errsz;
	uint64_t inflated;
	unsigned entries;
	unsigned seen; /* bit per single-instance kind */
	bool have_model, cura, sliced;
	/* 3D/3dmodel.model */
	char app[96], orca_model[48], cur_meta[32];
	unsigned long model_objects;
	/* slice_info.config */
	char bbl_version[48], orca_version[48];
	bool si_in_header;
	unsigned si_count;
	size_t si_n;
	int si_cur;
	struct si_plate si[META_MAX_PLATES];
	/* model_settings.config */
	unsigned ms_count, ms_objects;
	size_t ms_n;
	int ms_cur;
	struct ms_plate ms[META_MAX_PLATES];
	/* project_settings.config */
	char ps_model[128], ps_settings[128], ps_profile[128], ps_bed[64], ps_fil_type[64],
		ps_fil_color[32];
	struct meta_num ps_nozzle, ps_layer_h;
	/* PrusaSlicer */
	struct gscan *pe;
	unsigned pe_objects;
	/* per plate, index 1..META_MAX_PLATES */
	struct gscan *pg[META_MAX_PLATES + 1];
	bool plate_json[META_MAX_PLATES + 1];
	bool seen_png[META_MAX_PLATES + 1];
	struct cand th[META_MAX_PLATES + 1];
	int other_plate; /* the plate other than 1 whose thumbnail bytes are kept (0 = none) */
	/* thumbnail bytes of plates other than 1 held now (th[].data and the plate scans' PNGs),
	 * at most lim->max_thumb_total_bytes */
	size_t held;
};

struct zent {
	const char *name;
	int64_t in0;
	int64_t declared; /* uncompressed size from the entry header, -1 when unknown */
	uint64_t out;
};

/* ---------------------------------------------------------------- reading entries */

static void safe_name(char *dst, size_t n, const char *name)
{
	meta_copy_str(dst, n, name, strlen(name));
}

static int zread(struct z3 *z, struct zent *e, void *buf, size_t cap, size_t *got)
{
	char nm[128];
	la_ssize_t n = archive_read_data(z->a, buf, cap);
	if (n < 0) {
		const char *why = archive_error_string(z->a);
		safe_name(nm, sizeof nm, e->name);
		return meta_fail(z->err, z->errsz, "damaged ZIP entry %s: %s", nm,
				 why ? why : "read error");
	}
	*got = (size_t)n;
	e->out += (uint64_t)n;
	z->inflated += (uint64_t)n;
	if (z->inflated > z->lim->max_total_inflated)
		return meta_fail(z->err, z->errsz, "archive inflates to more than %llu bytes",
				 (unsigned long long)z->lim->max_total_inflated);
	if (e->out > z->lim->ratio_floor_bytes) {
		int64_t in = archive_filter_bytes(z->a, -1) - e->in0;
		if (in < 1)
			in = 1;
		if (e->out / (uint64_t)in >= z->lim->max_ratio) {
			safe_name(nm, sizeof nm, e->name);
			return meta_fail(z->err, z->errsz,
					 "compression ratio of entry %s exceeds %u:1", nm,
					 z->lim->max_ratio);
		}
	}
	return 0;
}

/* Inflates and drops the entry: the bounds still apply (a skipped entry can be a bomb). */
static int discard(struct z3 *z, struct zent *e, char *chunk)
{
	size_t got;
	do {
		if (zread(z, e, chunk, CHUNK, &got) < 0)
			return -1;
	} while (got > 0);
	return 0;
}

/* Reads the whole entry (at most limit bytes) into a new NUL-terminated buffer. */
static int read_all(struct z3 *z, struct zent *e, size_t limit, char *chunk, char **out,
		    size_t *outlen)
{
	char *buf = NULL, nm[128];
	size_t len = 0, cap = 0, got;
	int rc = -1;
	for (;;) {
		if (e->declared > (int64_t)limit) /* refuse before inflating anything */
			got = limit + 1;
		else if (zread(z, e, chunk, CHUNK, &got) < 0)
			goto out;
		if (got == 0)
			break;
		if (len + got > limit) {
			safe_name(nm, sizeof nm, e->name);
			meta_fail(z->err, z->errsz, "entry %s is larger than %zu bytes", nm, limit);
			goto out;
		}
		if (len + got + 1 > cap) {
			size_t nc = cap ? cap : CHUNK + 1;
			while (nc < len + got + 1)
				nc *= 2;
			char *nb = realloc(buf, nc);
			if (!nb) {
				rc = -2;
				meta_fail(z->err, z->errsz, "out of memory");
				goto out;
			}
			buf = nb;
			cap = nc;
		}
		memcpy(buf + len, chunk, got);
		len += got;
	}
	if (!buf && !(buf = malloc(1))) {
		rc = -2;
		meta_fail(z->err, z->errsz, "out of memory");
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Plate G-code: keeps the first gcode_head_bytes and the last gcode_tail_bytes. */
static int read_headtail(struct z3 *z, struct zent *e, char *chunk, struct gscan *g)
{
	size_t H = z->lim->gcode_head_bytes, T = z->lim->gcode_tail_bytes, got;
	char *buf = malloc(H + T + 1), *tail = NULL;
	uint64_t total = 0;
	int rc = -1;
	if (!buf) {
		rc = -2;
		meta_fail(z->err, z->errsz, "out of memory");
		goto out;
	}
	for (;;) {
		if (zread(z, e, chunk, CHUNK, &got) < 0)
			goto out;
		if (got == 0)
			break;
		size_t off = 0;
		if (total < H) {
			size_t c = got < H - total ? got : (size_t)(H - total);
			memcpy(buf + total, chunk, c);
			off = c;
		}
		while (off < got && T > 0) { /* ring of T bytes after the head */
			size_t rp = (size_t)((total + off - H) % T);
			size_t c = got - off < T - rp ? got - off : T - rp;
			memcpy(buf + H + rp, chunk + off, c);
			off += c;
		}
		total += got;
	}
	if (total <= H + T) {
		gscan_window(g, buf, (size_t)total, false, false);
	} else {
		gscan_window(g, buf, H, false, true);
		if (T > 0) {
			size_t start = (size_t)((total - H) % T);
			if (!(tail = malloc(T))) {
				rc = -2;
				meta_fail(z->err, z->errsz, "out of memory");
				goto out;
			}
			memcpy(tail, buf + H + start, T - start);
			memcpy(tail + (T - start), buf + H, start);
			gscan_window(g, tail, T, true, false);
		}
	}
	rc = 0;
out:
	free(buf);
	free(tail);
	return rc;
}

static bool obj_at(const char *s)
{
	return memcmp(s, "<object", 7) == 0 &&
	       (s[7] == ' ' || s[7] == '\t' || s[7] == '\n' || s[7] == '\r' || s[7] == '>' ||
		s[7] == '/');
}

/* Counts "<object" tags over a stream, including ones cut by a chunk boundary. */
static void tagcount_feed(struct tagcount *tc, const char *p, size_t n)
{
	char tmp[16];
	size_t cl = tc->carry_len, take = n < 8 ? n : 8;
	memcpy(tmp, tc->carry, cl);
	memcpy(tmp + cl, p, take);
	for (size_t i = 0; i < cl; i++)
		if (i + 8 <= cl + take && obj_at(tmp + i))
			tc->count++;
	for (const char *q = p; q < p + n;) {
		const char *m = memmem(q, (size_t)(p + n - q), "<object", 7);
		if (!m)
			break;
		if (m + 8 <= p + n && obj_at(m))
			tc->count++;
		q = m + 1;
	}
	size_t keep = cl + n < 7 ? cl + n : 7; /* last 7 bytes of carry + p */
	char all[16];
	if (n >= 7) {
		memcpy(tc->carry, p + n - 7, 7);
	} else {
		memcpy(all, tc->carry, cl);
		memcpy(all + cl, p, n);
		memcpy(tc->carry, all + cl + n - keep, keep);
	}
	tc->carry_len = keep;
}

/* ---------------------------------------------------------------- XML handlers */

static bool is(const char *name, size_t nl, const char *want)
{
	return strlen(want) == nl && memcmp(name, want, nl) == 0;
}

static const char *attr(const struct meta_xml_attr *a, size_t na, const char *name, size_t *len)
{
	for (size_t i = 0; i < na; i++) {
		if (is(a[i].name, a[i].name_len, name)) {
			if (len)
				*len = a[i].value_len;
			return a[i].value;
		}
	}
	return NULL;
}

static void set_int(struct meta_int *d, const char *v, size_t vl, double lo, double hi)
{
	double x;
	if (v && meta_num(v, vl, &x) == 0 && x >= lo && x <= hi) {
		d->set = true;
		d->v = (int64_t)x;
	}
}

static void set_num(struct meta_num *d, const char *v, size_t vl, double lo, double hi)
{
	double x;
	if (v && meta_num(v, vl, &x) == 0 && x >= lo && x <= hi) {
		d->set = true;
		d->v = meta_round6(x);
	}
}

static void add_num(struct meta_num *d, const char *v, size_t vl)
{
	double x;
	if (v && meta_num(v, vl, &x) == 0 && x >= 0 && x <= 1e7) {
		d->v = meta_round6((d->set ? d->v : 0) + x);
		d->set = true;
	}
}

/* "0 89" or "0 10 11 89": last layer index + 1. */
static void layer_ranges(struct meta_int *d, const char *v, size_t vl)
{
	long long max = -1, cur = -1;
	for (size_t i = 0; i <= vl; i++) {
		if (i < vl && v[i] >= '0' && v[i] <= '9') {
			cur = (cur < 0 ? 0 : cur) * 10 + (v[i] - '0');
			if (cur > 100000000)
				return;
		} else {
			if (cur > max)
				max = cur;
			cur = -1;
			if (i < vl && v[i] != ' ' && v[i] != ',' && v[i] != ';')
				return;
		}
	}
	if (max >= 0 && (!d->set || max + 1 > d->v)) {
		d->set = true;
		d->v = max + 1;
	}
}

static void si_metadata(struct si_plate *p, const char *k, size_t kl, const char *v, size_t vl)
{
	const char *it;
	size_t il;
	if (is(k, kl, "index")) {
		struct meta_int ix = {0};
		set_int(&ix, v, vl, 1, 1e6);
		if (ix.set)
			p->index = (int)ix.v;
	} else if (is(k, kl, "printer_model_id")) {
		meta_copy_str(p->model_id, sizeof p->model_id, v, vl);
	} else if (is(k, kl, "nozzle_diameters")) {
		meta_first_item(v, vl, &it, &il);
		set_num(&p->nozzle, it, il, 0.01, 10);
	} else if (is(k, kl, "prediction")) {
		set_int(&p->prediction, v, vl, 0, 10.0 * 366 * 86400);
	} else if (is(k, kl, "weight")) {
		set_num(&p->weight, v, vl, 0, 1e7);
	}
}

static int si_start(void *ctx, const char *name, size_t nl, const struct meta_xml_attr *a,
		    size_t na, unsigned depth)
{
	struct z3 *z = ctx;
	size_t kl, vl;
	const char *k, *v;
	if (depth == 1 && is(name, nl, "header")) {
		z->si_in_header = true;
	} else if (z->si_in_header && is(name, nl, "header_item")) {
		k = attr(a, na, "key", &kl);
		v = attr(a, na, "value", &vl);
		if (k && v && is(k, kl, "X-BBL-Client-Version"))
			meta_copy_str(z->bbl_version, sizeof z->bbl_version, v, vl);
		else if (k && v && is(k, kl, "OrcaSlicer-Version"))
			meta_copy_str(z->orca_version, sizeof z->orca_version, v, vl);
	} else if (depth == 1 && is(name, nl, "plate")) {
		z->si_count++;
		z->si_cur = -1;
		if (z->si_n < META_MAX_PLATES) {
			z->si_cur = (int)z->si_n++;
			memset(&z->si[z->si_cur], 0, sizeof z->si[0]);
			z->si[z->si_cur].index = (int)z->si_count; /* until <metadata key="index"> */
		}
	} else if (z->si_cur >= 0) {
		struct si_plate *p = &z->si[z->si_cur];
		if (is(name, nl, "metadata")) {
			k = attr(a, na, "key", &kl);
			v = attr(a, na, "value", &vl);
			if (k && v)
				si_metadata(p, k, kl, v, vl);
		} else if (is(name, nl, "object")) {
			p->objects.set = true;
			p->objects.v++;
		} else if (is(name, nl, "filament")) {
			if (!p->have_filament) {
				p->have_filament = true;
				if ((v = attr(a, na, "type", &vl)))
					meta_copy_str(p->fil_type, sizeof p->fil_type, v, vl);
				if ((v = attr(a, na, "color", &vl)))
					meta_copy_str(p->fil_color, sizeof p->fil_color, v, vl);
			}
			v = attr(a, na, "used_m", &vl);
			add_num(&p->used_m, v, vl);
			v = attr(a, na, "used_g", &vl);
			add_num(&p->used_g, v, vl);
		} else if (is(name, nl, "layer_filament_list")) {
			if ((v = attr(a, na, "layer_ranges", &vl)))
				layer_ranges(&p->layers, v, vl);
		}
	}
	return 0;
}

static int si_end(void *ctx, const char *name, size_t nl, unsigned depth)
{
	struct z3 *z = ctx;
	if (depth == 1 && is(name, nl, "header"))
		z->si_in_header = false;
	else if (depth == 1 && is(name, nl, "plate"))
		z->si_cur = -1;
	return 0;
}

static int ms_start(void *ctx, const char *name, size_t nl, const struct meta_xml_attr *a,
		    size_t na, unsigned depth)
{
	struct z3 *z = ctx;
	if (depth == 1 && is(name, nl, "object")) {
		z->ms_objects++;
	} else if (depth == 1 && is(name, nl, "plate")) {
		z->ms_count++;
		z->ms_cur = -1;
		if (z->ms_n < META_MAX_PLATES) {
			z->ms_cur = (int)z->ms_n++;
			z->ms[z->ms_cur] = (struct ms_plate){.index = (int)z->ms_count};
		}
	} else if (z->ms_cur >= 0 && depth == 2) {
		struct ms_plate *p = &z->ms[z->ms_cur];
		size_t kl, vl;
		const char *k = attr(a, na, "key", &kl), *v = attr(a, na, "value", &vl);
		if (is(name, nl, "metadata") && k && v && is(k, kl, "plater_id")) {
			struct meta_int ix = {0};
			set_int(&ix, v, vl, 1, 1e6);
			if (ix.set)
				p->index = (int)ix.v;
		} else if (is(name, nl, "model_instance")) {
			p->instances++;
		}
	}
	return 0;
}

static int ms_end(void *ctx, const char *name, size_t nl, unsigned depth)
{
	struct z3 *z = ctx;
	if (depth == 1 && is(name, nl, "plate"))
		z->ms_cur = -1;
	return 0;
}

static int pe_start(void *ctx, const char *name, size_t nl, const struct meta_xml_attr *a,
		    size_t na, unsigned depth)
{
	struct z3 *z = ctx;
	(void)a, (void)na;
	if (depth == 1 && is(name, nl, "object"))
		z->pe_objects++;
	return 0;
}

static int model_start(void *ctx, const char *name, size_t nl, const struct meta_xml_attr *a,
		       size_t na, unsigned depth)
{
	struct z3 *z = ctx;
	size_t vl;
	const char *v;
	z->cur_meta[0] = '\0';
	if (depth == 1 && is(name, nl, "metadata") && (v = attr(a, na, "name", &vl)))
		meta_copy_str(z->cur_meta, sizeof z->cur_meta, v, vl);
	return 0;
}

static int model_text(void *ctx, const char *text, size_t len, unsigned depth)
{
	struct z3 *z = ctx;
	if (depth != 1)
		return 0;
	if (strcmp(z->cur_meta, "Application") == 0 && !z->app[0])
		meta_copy_str(z->app, sizeof z->app, text, len);
	else if (strcmp(z->cur_meta, "OrcaSlicer") == 0 && !z->orca_model[0])
		meta_copy_str(z->orca_model, sizeof z->orca_model, text, len);
	return 0;
}

static int model_end(void *ctx, const char *name, size_t nl, unsigned depth)
{
	struct z3 *z = ctx;
	(void)name, (void)nl, (void)depth;
	z->cur_meta[0] = '\0';
	return 0;
}

/* ---------------------------------------------------------------- per-entry parsers */

static int parse_xml(struct z3 *z, const char *label, const char *buf, size_t len, bool partial,
		     const struct meta_xml_handler *h)
{
	char why[200];
	if (meta_xml_parse(buf, len, partial, h, z, why, sizeof why) < 0)
		return meta_fail(z->err, z->errsz, "%s is not well-formed XML: %s", label, why);
	return 0;
}

static void ps_str(json_t *root, const char *key, char *dst, size_t dstsz)
{
	json_t *v = json_object_get(root, key);
	if (json_is_array(v))
		v = json_array_get(v, 0);
	if (json_is_string(v))
		meta_copy_str(dst, dstsz, json_string_value(v), json_string_length(v));
}

static void ps_num(json_t *root, const char *key, struct meta_num *d, double lo, double hi)
{
	char s[64] = "";
	ps_str(root, key, s, sizeof s);
	const char *it;
	size_t il;
	meta_first_item(s, strlen(s), &it, &il);
	set_num(d, it, il, lo, hi);
}

static int parse_project(struct z3 *z, const char *buf, size_t len)
{
	json_error_t je;
	json_t *root = json_loadb(buf, len, 0, &je);
	if (!json_is_object(root)) {
		json_decref(root);
		return meta_fail(z->err, z->errsz,
				 "Metadata/project_settings.config is not a JSON object%s%s",
				 root ? "" : ": ", root ? "" : je.text);
	}
	ps_str(root, "printer_model", z->ps_model, sizeof z->ps_model);
	ps_str(root, "printer_settings_id", z->ps_settings, sizeof z->ps_settings);
	ps_str(root, "print_settings_id", z->ps_profile, sizeof z->ps_profile);
	ps_str(root, "curr_bed_type", z->ps_bed, sizeof z->ps_bed);
	ps_str(root, "filament_type", z->ps_fil_type, sizeof z->ps_fil_type);
	ps_str(root, "filament_colour", z->ps_fil_color, sizeof z->ps_fil_color);
	ps_num(root, "nozzle_diameter", &z->ps_nozzle, 0.01, 10);
	ps_num(root, "layer_height", &z->ps_layer_h, 0.001, 100);
	json_decref(root);
	return 0;
}

/* 3D/3dmodel.model may be huge (meshes): the head is parsed as XML for the metadata, the whole
 * stream is scanned for <object> tags. */
static int read_model(struct z3 *z, struct zent *e, char *chunk)
{
	static const struct meta_xml_handler H = {model_start, model_end, model_text};
	size_t cap = z->lim->model_head_bytes, len = 0, got;
	char *head = malloc(cap + 1);
	struct tagcount tc = {0};
	bool cut = false;
	int rc = -1;
	if (!head) {
		rc = -2;
		meta_fail(z->err, z->errsz, "out of memory");
		goto out;
	}
	for (;;) {
		if (zread(z, e, chunk, CHUNK, &got) < 0)
			goto out;
		if (got == 0)
			break;
		tagcount_feed(&tc, chunk, got);
		size_t c = got < cap - len ? got : cap - len;
		memcpy(head + len, chunk, c);
		len += c;
		cut = cut || c < got;
	}
	z->model_objects = tc.count;
	rc = parse_xml(z, "3D/3dmodel.model", head, len, cut, &H);
out:
	free(head);
	return rc;
}

/* '#' in pattern matches 1..META_MAX_PLATES written without leading zeros. */
static bool name_match(const char *pat, const char *name, int *plate)
{
	while (*pat) {
		if (*pat == '#') {
			int n = 0, digits = 0;
			if (*name < '1' || *name > '9')
				return false;
			while (*name >= '0' && *name <= '9' && digits < 4)
				n = n * 10 + (*name++ - '0'), digits++;
			if (n < 1 || n > META_MAX_PLATES)
				return false;
			*plate = n;
			pat++;
			continue;
		}
		if (tolower((unsigned char)*pat) != tolower((unsigned char)*name))
			return false;
		pat++, name++;
	}
	return *name == '\0';
}

static const char *unsafe_name(const char *n, size_t maxlen)
{
	size_t len = strlen(n);
	if (len == 0)
		return "empty path name";
	if (len > maxlen)
		return "path name too long";
	if (n[0] == '/' || (isalpha((unsigned char)n[0]) && n[1] == ':'))
		return "absolute path name";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)n[i];
		if (c == '\\')
			return "backslash in path name";
		if (c < 0x20 || c == 0x7F)
			return "control character in path name";
		if ((i == 0 || n[i - 1] == '/') && c == '.' && n[i + 1] == '.' &&
		    (n[i + 2] == '/' || n[i + 2] == '\0'))
			return "unsafe path name";
	}
	return NULL;
}

/* Frees the kept bytes of plate's thumbnail (the candidate itself stays known). */
static void drop_thumb_bytes(struct z3 *z, int plate)
{
	struct cand *c = &z->th[plate];
	if (c->data && plate != 1)
		z->held -= c->len;
	free(c->data);
	c->data = NULL;
}

/* A thumbnail candidate of plate; takes *data when its bytes are kept. counted: the bytes come
 * from a plate scan and are already in z->held. */
static void keep_thumb(struct z3 *z, int plate, int prio, unsigned char **data, size_t len, int w,
		       int h, bool counted)
{
	struct cand *c = &z->th[plate];
	if (c->present && c->prio <= prio)
		return;
	/* bytes kept: every plate when asked, else plate 1 and the lowest other plate (the file's
	 * thumbnail when plate 1 has none) */
	bool want = z->thumbs && (z->thumbs->all_plates || plate == 1 || !z->other_plate ||
				  plate <= z->other_plate);
	if (want && z->thumbs && !z->thumbs->all_plates && plate != 1) {
		if (z->other_plate && z->other_plate != plate)
			drop_thumb_bytes(z, z->other_plate);
		z->other_plate = plate;
	}
	drop_thumb_bytes(z, plate);
	/* plates after the first share one byte budget; past it only the metadata says "has a
	 * thumbnail" */
	if (want && plate != 1 && !counted && z->held + len > z->lim->max_thumb_total_bytes)
		want = false;
	*c = (struct cand){.present = true, .prio = prio, .w = w, .h = h, .len = len};
	if (want) {
		c->data = *data;
		*data = NULL;
		if (plate != 1 && !counted)
			z->held += len;
	}
}

static int read_png(struct z3 *z, struct zent *e, char *chunk, int plate, int prio)
{
	char *buf = NULL;
	size_t len;
	int w, h, rc = read_all(z, e, z->lim->max_png_bytes, chunk, &buf, &len);
	if (rc == 0 && meta_png_info((unsigned char *)buf, len, &w, &h) == 0)
		keep_thumb(z, plate, prio, (unsigned char **)&buf, len, w, h, false);
	free(buf);
	return rc;
}

static int read_config(struct z3 *z, struct zent *e, char *chunk, enum ekind kind)
{
	static const struct meta_xml_handler SI = {si_start, si_end, NULL};
	static const struct meta_xml_handler MS = {ms_start, ms_end, NULL};
	static const struct meta_xml_handler PE = {pe_start, NULL, NULL};
	char *buf = NULL;
	size_t len;
	int rc = read_all(z, e, z->lim->max_config_bytes, chunk, &buf, &len);
	if (rc < 0)
		goto out;
	switch (kind) {
	case E_SLICE_INFO:
		z->si_cur = -1;
		rc = parse_xml(z, "Metadata/slice_info.config", buf, len, false, &SI);
		break;
	case E_MODEL_SETTINGS:
		z->ms_cur = -1;
		rc = parse_xml(z, "Metadata/model_settings.config", buf, len, false, &MS);
		break;
	case E_PE_MODEL:
		rc = parse_xml(z, "Metadata/Slic3r_PE_model.config", buf, len, false, &PE);
		break;
	case E_PROJECT:
		rc = parse_project(z, buf, len);
		break;
	case E_PE_CONFIG:
		if (!(z->pe = malloc(sizeof *z->pe))) {
			rc = meta_fail(z->err, z->errsz, "out of memory") - 1;
			break;
		}
		gscan_init(z->pe, 0);
		gscan_window(z->pe, buf, len, false, false);
		break;
	default:
		break;
	}
out:
	free(buf);
	return rc;
}

static int plate_gcode(struct z3 *z, struct zent *e, char *chunk, int plate)
{
	if (z->pg[plate])
		return meta_fail(z->err, z->errsz, "duplicate entry Metadata/plate_%d.gcode", plate);
	if (!(z->pg[plate] = malloc(sizeof *z->pg[plate])))
		return meta_fail(z->err, z->errsz, "out of memory") - 1;
	gscan_init(z->pg[plate], z->lim->max_png_bytes);
	if (plate != 1) {
		z->pg[plate]->png_held = &z->held;
		z->pg[plate]->png_cap = z->lim->max_thumb_total_bytes;
	}
	z->sliced = true;
	return read_headtail(z, e, chunk, z->pg[plate]);
}

static int entry(struct z3 *z, struct archive_entry *ae, char *chunk)
{
	char nm[128];
	const char *name = archive_entry_pathname_utf8(ae);
	struct zent e = {.in0 = archive_filter_bytes(z->a, -1), .declared = -1};
	if (archive_entry_size_is_set(ae))
		e.declared = archive_entry_size(ae);
	if (!name)
		name = archive_entry_pathname(ae);
	e.name = name ? name : "";
	const char *why = unsafe_name(e.name, z->lim->max_name_len);
	if (why) {
		safe_name(nm, sizeof nm, e.name);
		return meta_fail(z->err, z->errsz, "%s %s", why, nm);
	}
	if (archive_entry_is_encrypted(ae)) {
		safe_name(nm, sizeof nm, e.name);
		return meta_fail(z->err, z->errsz, "entry %s is encrypted", nm);
	}
	if (strncasecmp(e.name, "Cura/", 5) == 0)
		z->cura = true;
	if (archive_entry_filetype(ae) != AE_IFREG)
		return discard(z, &e, chunk);
	const struct rule *r = NULL;
	int plate = 1;
	for (size_t i = 0; i < sizeof RULES / sizeof RULES[0] && !r; i++)
		if (name_match(RULES[i].pattern, e.name, &plate))
			r = &RULES[i];
	if (!r)
		return discard(z, &e, chunk);
	if (r->kind <= E_PE_MODEL) {
		if (z->seen & (1u << r->kind)) {
			safe_name(nm, sizeof nm, e.name);
			return meta_fail(z->err, z->errsz, "duplicate entry %s", nm);
		}
		z->seen |= 1u << r->kind;
	}
	switch (r->kind) {
	case E_MODEL:
		z->have_model = true;
		return read_model(z, &e, chunk);
	case E_PLATE_GCODE:
		return plate_gcode(z, &e, chunk, plate);
	case E_PLATE_PNG:
		if (z->seen_png[plate])
			return meta_fail(z->err, z->errsz, "duplicate entry Metadata/plate_%d.png",
					 plate);
		z->seen_png[plate] = true;
		return read_png(z, &e, chunk, plate, 0);
	case E_THUMB:
		return read_png(z, &e, chunk, 1, r->prio);
	case E_PLATE_JSON:
		z->plate_json[plate] = true;
		return discard(z, &e, chunk);
	default:
		return read_config(z, &e, chunk, r->kind);
	}
}

/* ---------------------------------------------------------------- merge */

static void copy_if_empty(char *dst, size_t n, const char *src)
{
	if (!dst[0] && src && src[0])
		meta_copy_str(dst, n, src, strlen(src));
}

static void num_or(struct meta_num *d, struct meta_num s)
{
	if (!d->set && s.set)
		*d = s;
}

static void int_or(struct meta_int *d, struct meta_int s)
{
	if (!d->set && s.set)
		*d = s;
}

static const struct ms_plate *ms_find(const struct z3 *z, int index)
{
	for (size_t i = 0; i < z->ms_n; i++)
		if (z->ms[i].index == index)
			return &z->ms[i];
	return NULL;
}

static bool listed(const struct file_meta *m, int index)
{
	for (size_t i = 0; i < m->nplates; i++)
		if (m->plates[i].index == index)
			return true;
	return false;
}

static void add_plate(struct file_meta *m, int index, const struct si_plate *si)
{
	if (index < 1 || index > META_MAX_PLATES || listed(m, index))
		return;
	struct meta_plate *p = &m->plates[m->nplates++];
	p->index = index;
	if (!si)
		return;
	int_or(&p->print_time_seconds, si->prediction);
	num_or(&p->filament_weight_grams, si->weight);
	num_or(&p->filament_weight_grams, si->used_g);
	int_or(&p->object_count, si->objects);
	copy_if_empty(p->filament_type, sizeof p->filament_type, si->fil_type);
	copy_if_empty(p->filament_color, sizeof p->filament_color, si->fil_color);
}

/* Per plate: slice_info first, then the plate G-code (its length is the more precise one). */
static void fill_plate(struct z3 *z, struct meta_plate *p, const struct si_plate *si)
{
	struct gres g = {0};
	if (z->pg[p->index])
		gscan_resolve(z->pg[p->index], &g);
	int_or(&p->print_time_seconds, g.time);
	num_or(&p->filament_weight_grams, g.weight);
	num_or(&p->filament_length_meters, g.length_m);
	if (si)
		num_or(&p->filament_length_meters, si->used_m);
	int_or(&p->layer_count, g.layers);
	if (si)
		int_or(&p->layer_count, si->layers);
	copy_if_empty(p->filament_type, sizeof p->filament_type, g.filament_type);
	copy_if_empty(p->filament_color, sizeof p->filament_color, g.filament_color);
	const struct ms_plate *ms = ms_find(z, p->index);
	if (!p->object_count.set && ms && ms->instances)
		p->object_count = (struct meta_int){true, ms->instances};
	if (!z->th[p->index].present && z->pg[p->index] && z->pg[p->index]->png) {
		struct gscan *pg = z->pg[p->index];
		keep_thumb(z, p->index, PRIO_GCODE, &pg->png, pg->png_len, pg->png_w, pg->png_h, true);
	}
	p->has_thumbnail = z->th[p->index].present;
}

static void totals(struct file_meta *m)
{
	bool all = m->nplates > 0 && m->plate_count.set && (int64_t)m->nplates == m->plate_count.v;
	struct meta_int t = {all, 0};
	struct meta_num w = {all, 0}, l = {all, 0};
	for (size_t i = 0; i < m->nplates && all; i++) {
		const struct meta_plate *p = &m->plates[i];
		t.set = t.set && p->print_time_seconds.set;
		w.set = w.set && p->filament_weight_grams.set;
		l.set = l.set && p->filament_length_meters.set;
		t.v += p->print_time_seconds.v;
		w.v += p->filament_weight_grams.v;
		l.v += p->filament_length_meters.v;
	}
	w.v = meta_round6(w.v);
	l.v = meta_round6(l.v);
	m->totals.print_time_seconds = t;
	m->totals.filament_weight_grams = w;
	m->totals.filament_length_meters = l;
}

static void slicer(struct z3 *z, struct file_meta *m, const struct gres *g1)
{
	if (g1->slicer) {
		meta_set_slicer(m->slicer, sizeof m->slicer, g1->slicer, strlen(g1->slicer));
		if (g1->slicer_version)
			meta_copy_version(m->slicer_version, sizeof m->slicer_version,
					  g1->slicer_version, strlen(g1->slicer_version));
		return;
	}
	const char *orca = z->orca_version[0] ? z->orca_version : z->orca_model;
	if (orca[0]) {
		meta_set_slicer(m->slicer, sizeof m->slicer, "OrcaSlicer", 10);
		meta_copy_version(m->slicer_version, sizeof m->slicer_version, orca, strlen(orca));
		return;
	}
	struct gres pe = {0};
	if (z->pe)
		gscan_resolve(z->pe, &pe);
	if (pe.slicer) {
		meta_set_slicer(m->slicer, sizeof m->slicer, pe.slicer, strlen(pe.slicer));
		if (pe.slicer_version)
			meta_copy_version(m->slicer_version, sizeof m->slicer_version,
					  pe.slicer_version, strlen(pe.slicer_version));
		return;
	}
	/* Application "BambuStudio-02.04.00.70", "PrusaSlicer-2.9.4", "UltiMaker Cura 5.7.0" */
	size_t al = strlen(z->app), cut = al;
	for (size_t i = al; i > 0; i--) {
		if ((z->app[i - 1] == '-' || z->app[i - 1] == ' ') && z->app[i] >= '0' &&
		    z->app[i] <= '9') {
			cut = i - 1;
			break;
		}
	}
	if (al) {
		meta_set_slicer(m->slicer, sizeof m->slicer, z->app, cut);
		if (strcmp(m->slicer, "Bambu Studio") == 0 && z->bbl_version[0])
			meta_copy_version(m->slicer_version, sizeof m->slicer_version,
					  z->bbl_version, strlen(z->bbl_version));
		else if (cut < al)
			meta_copy_version(m->slicer_version, sizeof m->slicer_version,
					  z->app + cut + 1, al - cut - 1);
	}
	if (z->cura && (!m->slicer[0] || strcmp(m->slicer, "Cura") != 0)) {
		meta_set_slicer(m->slicer, sizeof m->slicer, "Cura", 4);
		if (!al)
			m->slicer_version[0] = '\0';
	}
}

static void plates(struct z3 *z, struct file_meta *m)
{
	if (z->si_n) {
		for (size_t i = 0; i < z->si_n; i++)
			add_plate(m, z->si[i].index, &z->si[i]);
		m->plate_count = (struct meta_int){true, z->si_count};
	} else if (z->ms_n) {
		for (size_t i = 0; i < z->ms_n; i++)
			add_plate(m, z->ms[i].index, NULL);
		m->plate_count = (struct meta_int){true, z->ms_count};
	} else {
		unsigned n = 0;
		for (int i = 1; i <= META_MAX_PLATES; i++)
			if (z->plate_json[i] || z->pg[i])
				add_plate(m, i, NULL), n++;
		if (n == 0)
			add_plate(m, 1, NULL), n = 1;
		m->plate_count = (struct meta_int){true, n};
	}
	for (size_t i = 0; i < m->nplates; i++) {
		const struct si_plate *si = NULL;
		for (size_t k = 0; k < z->si_n && !si; k++)
			if (z->si[k].index == m->plates[i].index)
				si = &z->si[k];
		fill_plate(z, &m->plates[i], si);
	}
	totals(m);
}

static void file_level(struct z3 *z, struct file_meta *m)
{
	const struct meta_plate *p1 = NULL;
	const struct si_plate *si1 = NULL;
	struct gres g1 = {0}, pe = {0};
	for (size_t i = 0; i < m->nplates && !p1; i++)
		if (m->plates[i].index == 1)
			p1 = &m->plates[i];
	if (!p1 && m->nplates)
		p1 = &m->plates[0];
	for (size_t k = 0; p1 && k < z->si_n && !si1; k++)
		if (z->si[k].index == p1->index)
			si1 = &z->si[k];
	if (p1 && z->pg[p1->index])
		gscan_resolve(z->pg[p1->index], &g1);
	if (z->pe)
		gscan_resolve(z->pe, &pe);
	m->format = META_FMT_3MF;
	m->is_sliced = z->sliced;
	if (p1) {
		m->print_time_seconds = p1->print_time_seconds;
		m->filament_weight_grams = p1->filament_weight_grams;
		m->filament_length_meters = p1->filament_length_meters;
		m->layer_count = p1->layer_count;
		copy_if_empty(m->filament_type, sizeof m->filament_type, p1->filament_type);
		copy_if_empty(m->filament_color, sizeof m->filament_color, p1->filament_color);
	}
	if (si1)
		copy_if_empty(m->printer_model_id, sizeof m->printer_model_id, si1->model_id);
	for (size_t k = 0; k < z->si_n; k++)
		copy_if_empty(m->printer_model_id, sizeof m->printer_model_id, z->si[k].model_id);
	if (si1)
		num_or(&m->nozzle_diameter, si1->nozzle);
	num_or(&m->nozzle_diameter, z->ps_nozzle);
	num_or(&m->nozzle_diameter, g1.nozzle);
	num_or(&m->nozzle_diameter, pe.nozzle);
	num_or(&m->layer_height, z->ps_layer_h);
	num_or(&m->layer_height, g1.layer_height);
	num_or(&m->layer_height, pe.layer_height);
	copy_if_empty(m->filament_type, sizeof m->filament_type, z->ps_fil_type);
	copy_if_empty(m->filament_type, sizeof m->filament_type, pe.filament_type);
	copy_if_empty(m->filament_color, sizeof m->filament_color, z->ps_fil_color);
	copy_if_empty(m->filament_color, sizeof m->filament_color, pe.filament_color);
	copy_if_empty(m->printer_model, sizeof m->printer_model, z->ps_model);
	copy_if_empty(m->printer_model, sizeof m->printer_model, z->ps_settings);
	copy_if_empty(m->printer_model, sizeof m->printer_model, g1.printer_model);
	copy_if_empty(m->printer_model, sizeof m->printer_model, pe.printer_model);
	copy_if_empty(m->curr_bed_type, sizeof m->curr_bed_type, z->ps_bed);
	copy_if_empty(m->curr_bed_type, sizeof m->curr_bed_type, g1.bed);
	copy_if_empty(m->curr_bed_type, sizeof m->curr_bed_type, pe.bed);
	copy_if_empty(m->default_print_profile, sizeof m->default_print_profile, z->ps_profile);
	copy_if_empty(m->default_print_profile, sizeof m->default_print_profile, g1.print_profile);
	copy_if_empty(m->default_print_profile, sizeof m->default_print_profile, pe.print_profile);
	/* objects: every plate when sliced, else the project's object list */
	struct meta_int objs = {0};
	for (size_t k = 0; k < z->si_n; k++) {
		if (z->si[k].objects.set) {
			objs.set = true;
			objs.v += z->si[k].objects.v;
		}
	}
	if (!objs.set && z->ms_objects)
		objs = (struct meta_int){true, z->ms_objects};
	if (!objs.set && z->pe_objects)
		objs = (struct meta_int){true, z->pe_objects};
	if (!objs.set && z->model_objects)
		objs = (struct meta_int){true, (int64_t)z->model_objects};
	m->object_count = objs;
	slicer(z, m, &g1);
	/* a single plate is the file */
	if (m->nplates == 1 && m->plate_count.v == 1) {
		struct meta_plate *p = &m->plates[0];
		int_or(&p->object_count, m->object_count);
		copy_if_empty(p->filament_type, sizeof p->filament_type, m->filament_type);
		copy_if_empty(p->filament_color, sizeof p->filament_color, m->filament_color);
	}
	for (int i = 1; i <= META_MAX_PLATES; i++)
		m->has_thumbnail = m->has_thumbnail || z->th[i].present;
}

/* Moves the kept thumbnail bytes into the caller's struct: the file's first, then by plate. */
static void hand_thumbs(struct z3 *z, const struct file_meta *m)
{
	struct meta_thumbs *t = z->thumbs;
	if (!t)
		return;
	int first = 0;
	if (z->th[1].data)
		first = 1;
	for (int i = 1; i <= META_MAX_PLATES && !first; i++)
		if (z->th[i].data)
			first = i;
	(void)m;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 1; i <= META_MAX_PLATES; i++) {
			struct cand *c = &z->th[i];
			if (!c->data || (pass == 0) != (i == first))
				continue;
			if (!t->all_plates && i != first)
				continue;
			t->items[t->count++] = (struct meta_thumb){i, c->w, c->h, c->data, c->len};
			c->data = NULL;
		}
	}
}

int meta_3mf_parse(struct archive *a, const struct meta_limits *lim, struct file_meta *out,
		   struct meta_thumbs *thumbs, char *err, size_t errsz)
{
	struct z3 *z = calloc(1, sizeof *z);
	char *chunk = malloc(CHUNK);
	struct archive_entry *ae;
	int rc = -2;
	if (!z || !chunk) {
		meta_fail(err, errsz, "out of memory");
		goto out;
	}
	z->lim = lim;
	z->a = a;
	z->thumbs = thumbs;
	z->err = err;
	z->errsz = errsz;
	z->si_cur = z->ms_cur = -1;
	for (;;) {
		int r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			const char *why = archive_error_string(a);
			rc = meta_fail(err, errsz, "damaged ZIP archive: %s", why ? why : "bad header");
			goto out;
		}
		if (++z->entries > lim->max_entries) {
			rc = meta_fail(err, errsz, "archive entry count exceeds %u", lim->max_entries);
			goto out;
		}
		if ((rc = entry(z, ae, chunk)) < 0)
			goto out;
	}
	if (!z->have_model) {
		rc = meta_fail(err, errsz, "3MF has no 3D/3dmodel.model");
		goto out;
	}
	plates(z, out);
	file_level(z, out);
	hand_thumbs(z, out);
	rc = 0;
out:
	if (z) {
		for (int i = 0; i <= META_MAX_PLATES; i++) {
			if (z->pg[i])
				gscan_release(z->pg[i]);
			free(z->pg[i]);
			free(z->th[i].data);
		}
		if (z->pe)
			gscan_release(z->pe);
		free(z->pe);
	}
	free(z);
	free(chunk);
	return rc;
}
