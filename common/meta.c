/* meta.c - entry points of the metadata parser: format by extension, ZIP pre-checks (end of
 * central directory, entry count) before libarchive sees the archive, plain G-code from a head
 * and a tail window, the JSON rendering, and the printer-model table. */
#include "meta_int.h"

#include <archive.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct meta_limits meta_default_limits(void)
{
	return (struct meta_limits){
		.max_entries = 10000,
		.max_config_bytes = 16u << 20,
		.max_png_bytes = 8u << 20,
		.max_thumb_total_bytes = 16u << 20,
		.gcode_head_bytes = 1u << 20,
		.gcode_tail_bytes = 1u << 20,
		.model_head_bytes = 1u << 20,
		.max_total_inflated = 1ull << 30,
		.max_ratio = 100,
		.ratio_floor_bytes = 1u << 20,
		.max_name_len = 1024,
	};
}

void meta_thumbs_release(struct meta_thumbs *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->count && i < META_MAX_PLATES; i++) {
		free(t->items[i].data);
		t->items[i] = (struct meta_thumb){0};
	}
	t->count = 0;
}

/* ---------------------------------------------------------------- input source */

/* Either a memory buffer or an open file; reads at an offset. */
struct src {
	const unsigned char *mem;
	int fd;
	uint64_t size;
};

static int src_read(const struct src *s, uint64_t off, void *buf, size_t n)
{
	if (off > s->size || n > s->size - off)
		return -1;
	if (s->mem) {
		memcpy(buf, s->mem + off, n);
		return 0;
	}
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(s->fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static uint64_t le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The end-of-central-directory record must exist (else the archive is truncated) and its entry
 * count is checked before libarchive walks anything. */
static int zip_precheck(const struct src *s, const struct meta_limits *lim, char *err,
			size_t errsz)
{
	enum { EOCD = 22, MAXCOMMENT = 65535 };
	size_t win = s->size < EOCD + MAXCOMMENT ? (size_t)s->size : EOCD + MAXCOMMENT;
	unsigned char *b = malloc(win ? win : 1);
	int rc = -2;
	if (!b) {
		meta_fail(err, errsz, "out of memory");
		goto out;
	}
	if (src_read(s, s->size - win, b, win) < 0) {
		meta_fail(err, errsz, "cannot read the archive: %s", strerror(errno));
		goto out;
	}
	rc = -1;
	long at = -1;
	for (long i = (long)win - EOCD; i >= 0 && at < 0; i--)
		if (memcmp(b + i, "PK\005\006", 4) == 0 &&
		    (size_t)i + EOCD + le(b + i + 20, 2) <= win)
			at = i;
	if (at < 0) {
		meta_fail(err, errsz, "truncated or damaged ZIP archive (no end of central directory)");
		goto out;
	}
	uint64_t entries = le(b + at + 10, 2);
	uint64_t eocd_off = s->size - win + (uint64_t)at;
	if (entries == 0xFFFF && eocd_off >= 20) { /* ZIP64: the locator precedes the record */
		unsigned char loc[20], rec[56];
		if (src_read(s, eocd_off - 20, loc, sizeof loc) == 0 &&
		    memcmp(loc, "PK\006\007", 4) == 0 &&
		    src_read(s, le(loc + 8, 8), rec, sizeof rec) == 0 &&
		    memcmp(rec, "PK\006\006", 4) == 0)
			entries = le(rec + 32, 8);
	}
	if (entries > lim->max_entries) {
		meta_fail(err, errsz, "archive entry count exceeds %u", lim->max_entries);
		goto out;
	}
	rc = 0;
out:
	free(b);
	return rc;
}

/* ---------------------------------------------------------------- formats */

static const struct {
	const char *ext;
	enum meta_format fmt;
} EXTS[] = {
	{"3mf", META_FMT_3MF},  {"gcode", META_FMT_GCODE}, {"stl", META_FMT_MESH},
	{"obj", META_FMT_MESH}, {"amf", META_FMT_MESH},
};

static int pick_format(const char *filename, enum meta_format *fmt, char *err, size_t errsz)
{
	const char *base = strrchr(filename, '/');
	base = base ? base + 1 : filename;
	const char *dot = strrchr(base, '.');
	if (!dot || !dot[1])
		return meta_fail(err, errsz, "file name has no extension (expected .3mf or .gcode)");
	for (size_t i = 0; i < sizeof EXTS / sizeof EXTS[0]; i++) {
		if (strcasecmp(dot + 1, EXTS[i].ext) == 0) {
			*fmt = EXTS[i].fmt;
			return 0;
		}
	}
	char ext[24];
	meta_copy_str(ext, sizeof ext, dot + 1, strlen(dot + 1));
	if (strcasecmp(ext, "bgcode") == 0)
		return meta_fail(err, errsz,
				 "binary G-code (.bgcode) is not supported; export plain G-code");
	return meta_fail(err, errsz, "unsupported extension .%s (expected 3mf, gcode, stl, obj, amf)",
			 ext);
}

static void fill_gcode(struct file_meta *m, struct gscan *g, struct meta_thumbs *thumbs)
{
	struct gres r;
	gscan_resolve(g, &r);
	m->format = META_FMT_GCODE;
	m->is_sliced = true;
	if (r.slicer)
		meta_set_slicer(m->slicer, sizeof m->slicer, r.slicer, strlen(r.slicer));
	if (r.slicer_version)
		meta_copy_version(m->slicer_version, sizeof m->slicer_version, r.slicer_version,
				  strlen(r.slicer_version));
	if (r.printer_model)
		meta_copy_str(m->printer_model, sizeof m->printer_model, r.printer_model,
			      strlen(r.printer_model));
	static const struct {
		size_t off, size;
		size_t src;
	} STRS[] = {
		{offsetof(struct file_meta, filament_type), sizeof m->filament_type,
		 offsetof(struct gres, filament_type)},
		{offsetof(struct file_meta, filament_color), sizeof m->filament_color,
		 offsetof(struct gres, filament_color)},
		{offsetof(struct file_meta, curr_bed_type), sizeof m->curr_bed_type,
		 offsetof(struct gres, bed)},
		{offsetof(struct file_meta, default_print_profile), sizeof m->default_print_profile,
		 offsetof(struct gres, print_profile)},
	};
	for (size_t i = 0; i < sizeof STRS / sizeof STRS[0]; i++) {
		const char *v = *(const char *const *)((const char *)&r + STRS[i].src);
		if (v)
			meta_copy_str((char *)m + STRS[i].off, STRS[i].size, v, strlen(v));
	}
	m->print_time_seconds = r.time;
	m->filament_weight_grams = r.weight;
	m->filament_length_meters = r.length_m;
	m->layer_count = r.layers;
	m->layer_height = r.layer_height;
	m->nozzle_diameter = r.nozzle;
	m->object_count = r.objects;
	m->plate_count = (struct meta_int){true, 1};
	m->has_thumbnail = g->png != NULL;
	m->nplates = 1;
	struct meta_plate *p = &m->plates[0];
	p->index = 1;
	p->print_time_seconds = r.time;
	p->filament_weight_grams = r.weight;
	p->filament_length_meters = r.length_m;
	p->layer_count = r.layers;
	p->object_count = r.objects;
	memcpy(p->filament_type, m->filament_type, sizeof p->filament_type);
	memcpy(p->filament_color, m->filament_color, sizeof p->filament_color);
	p->has_thumbnail = m->has_thumbnail;
	m->totals.print_time_seconds = r.time;
	m->totals.filament_weight_grams = r.weight;
	m->totals.filament_length_meters = r.length_m;
	if (thumbs && g->png) {
		thumbs->items[thumbs->count++] =
			(struct meta_thumb){1, g->png_w, g->png_h, g->png, g->png_len};
		g->png = NULL;
	}
}

/* head/tail: the whole file when tail is NULL. */
static int parse_gcode(const char *head, size_t hl, const char *tail, size_t tl, uint64_t size,
		       const struct meta_limits *lim, struct file_meta *out,
		       struct meta_thumbs *thumbs, char *err, size_t errsz)
{
	struct gscan g;
	int rc = -1;
	gscan_init(&g, lim->max_png_bytes);
	if (size == 0) {
		meta_fail(err, errsz, "file is empty");
		goto out;
	}
	if (hl >= 4 && memcmp(head, "GCDE", 4) == 0) {
		meta_fail(err, errsz, "binary G-code (bgcode) is not supported; export plain G-code");
		goto out;
	}
	if (memchr(head, '\0', hl < 65536 ? hl : 65536)) {
		meta_fail(err, errsz, "not a text G-code file (binary data)");
		goto out;
	}
	gscan_window(&g, head, hl, false, tail != NULL || hl < size);
	if (tail)
		gscan_window(&g, tail, tl, true, false);
	if (!g.saw_gcode) {
		meta_fail(err, errsz, "not a G-code file (no G-code commands or comments)");
		goto out;
	}
	fill_gcode(out, &g, thumbs);
	rc = 0;
out:
	gscan_release(&g);
	return rc;
}

/* Magic, end of central directory and entry count, then libarchive walks the entries. */
static int parse_3mf(const struct src *s, const struct meta_limits *lim,
		     struct file_meta *out, struct meta_thumbs *thumbs, char *err, size_t errsz)
{
	unsigned char magic[4];
	struct archive *a = NULL;
	int rc = -1;
	if (s->size < 4 || src_read(s, 0, magic, 4) < 0 ||
	    (memcmp(magic, "PK\003\004", 4) != 0 && memcmp(magic, "PK\005\006", 4) != 0)) {
		meta_fail(err, errsz, "not a ZIP archive (a 3MF file is a ZIP)");
		goto out;
	}
	if ((rc = zip_precheck(s, lim, err, errsz)) < 0)
		goto out;
	rc = -2;
	a = archive_read_new();
	if (!a || archive_read_support_format_zip_streamable(a) != ARCHIVE_OK) {
		meta_fail(err, errsz, "cannot set up the ZIP reader");
		goto out;
	}
	if ((s->mem ? archive_read_open_memory(a, s->mem, (size_t)s->size)
		    : archive_read_open_fd(a, s->fd, 65536)) != ARCHIVE_OK) {
		const char *why = archive_error_string(a);
		rc = meta_fail(err, errsz, "damaged ZIP archive (%s)", why ? why : "unreadable");
		goto out;
	}
	rc = meta_3mf_parse(a, lim, out, thumbs, err, errsz);
out:
	if (a)
		archive_read_free(a);
	return rc;
}

static void reset(struct file_meta *out, struct meta_thumbs *thumbs)
{
	memset(out, 0, sizeof *out);
	if (thumbs)
		meta_thumbs_release(thumbs);
}

int meta_parse_buffer(const void *data, size_t len, const char *filename,
		      const struct meta_limits *lim, struct file_meta *out,
		      struct meta_thumbs *thumbs, char *err, size_t errsz)
{
	struct meta_limits dl = meta_default_limits();
	struct src s = {.mem = data, .fd = -1, .size = len};
	enum meta_format fmt = META_FMT_NONE;
	int rc;
	if (!lim)
		lim = &dl;
	reset(out, thumbs);
	if (!data && len)
		return meta_fail(err, errsz, "no data");
	if ((rc = pick_format(filename ? filename : "", &fmt, err, errsz)) < 0)
		goto out;
	switch (fmt) {
	case META_FMT_GCODE: {
		size_t H = lim->gcode_head_bytes, T = lim->gcode_tail_bytes;
		const char *d = data ? data : "";
		if (len <= H + T || T == 0)
			rc = parse_gcode(d, len <= H + T ? len : H, NULL, 0, len, lim, out, thumbs, err,
					 errsz);
		else
			rc = parse_gcode(d, H, d + len - T, T, len, lim, out, thumbs, err, errsz);
		break;
	}
	case META_FMT_3MF:
		rc = parse_3mf(&s, lim, out, thumbs, err, errsz);
		break;
	default:
		out->format = META_FMT_MESH;
		rc = 0;
		break;
	}
out:
	if (rc < 0)
		reset(out, thumbs);
	return rc;
}

int meta_parse_file(const char *path, const char *filename, const struct meta_limits *lim,
		    struct file_meta *out, struct meta_thumbs *thumbs, char *err, size_t errsz)
{
	struct meta_limits dl = meta_default_limits();
	struct src s = {.fd = -1};
	enum meta_format fmt = META_FMT_NONE;
	char *head = NULL, *tail = NULL;
	struct stat st;
	int rc;
	if (!lim)
		lim = &dl;
	reset(out, thumbs);
	if ((rc = pick_format(filename ? filename : path, &fmt, err, errsz)) < 0)
		goto out;
	if (fmt == META_FMT_MESH) {
		out->format = META_FMT_MESH;
		goto out;
	}
	rc = -2;
	if ((s.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(s.fd, &st) < 0) {
		meta_fail(err, errsz, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		meta_fail(err, errsz, "%s is not a regular file", path);
		goto out;
	}
	s.size = (uint64_t)st.st_size;
	if (fmt == META_FMT_GCODE) {
		size_t H = lim->gcode_head_bytes, T = lim->gcode_tail_bytes;
		bool whole = s.size <= (uint64_t)H + T || T == 0;
		size_t hl = whole && s.size <= H + T ? (size_t)s.size : H;
		if (!(head = malloc(hl + 1)) || (!whole && !(tail = malloc(T)))) {
			meta_fail(err, errsz, "out of memory");
			goto out;
		}
		if (src_read(&s, 0, head, hl) < 0 || (!whole && src_read(&s, s.size - T, tail, T) < 0)) {
			meta_fail(err, errsz, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		rc = parse_gcode(head, hl, tail, whole ? 0 : T, s.size, lim, out, thumbs, err, errsz);
		goto out;
	}
	rc = parse_3mf(&s, lim, out, thumbs, err, errsz);
out:
	if (s.fd >= 0)
		close(s.fd);
	free(head);
	free(tail);
	if (rc < 0)
		reset(out, thumbs);
	return rc;
}

/* ---------------------------------------------------------------- JSON */

static json_t *jint(struct meta_int v)
{
	return v.set ? json_integer(v.v) : json_null();
}

static json_t *jnum(struct meta_num v)
{
	return v.set ? json_real(v.v) : json_null();
}

static json_t *jstr(const char *s)
{
	json_t *j = s[0] ? json_string(s) : NULL;
	return j ? j : json_null();
}

json_t *meta_to_json(const struct file_meta *m)
{
	json_t *o = json_object(), *plates = json_array(), *totals = json_object();
	if (!o || !plates || !totals)
		goto fail;
	json_object_set_new(o, "slicer", jstr(m->slicer));
	json_object_set_new(o, "slicer_version", jstr(m->slicer_version));
	json_object_set_new(o, "is_sliced", json_boolean(m->is_sliced));
	json_object_set_new(o, "printer_model", jstr(m->printer_model));
	json_object_set_new(o, "printer_model_id", jstr(m->printer_model_id));
	json_object_set_new(o, "print_time_seconds", jint(m->print_time_seconds));
	json_object_set_new(o, "filament_weight_grams", jnum(m->filament_weight_grams));
	json_object_set_new(o, "filament_length_meters", jnum(m->filament_length_meters));
	json_object_set_new(o, "filament_type", jstr(m->filament_type));
	json_object_set_new(o, "filament_color", jstr(m->filament_color));
	json_object_set_new(o, "nozzle_diameter", jnum(m->nozzle_diameter));
	json_object_set_new(o, "layer_count", jint(m->layer_count));
	json_object_set_new(o, "layer_height", jnum(m->layer_height));
	json_object_set_new(o, "curr_bed_type", jstr(m->curr_bed_type));
	json_object_set_new(o, "default_print_profile", jstr(m->default_print_profile));
	json_object_set_new(o, "object_count", jint(m->object_count));
	json_object_set_new(o, "has_thumbnail", json_boolean(m->has_thumbnail));
	json_object_set_new(o, "plate_count", jint(m->plate_count));
	for (size_t i = 0; i < m->nplates && i < META_MAX_PLATES; i++) {
		const struct meta_plate *p = &m->plates[i];
		json_t *j = json_object();
		if (!j)
			goto fail;
		json_object_set_new(j, "index", json_integer(p->index));
		json_object_set_new(j, "print_time_seconds", jint(p->print_time_seconds));
		json_object_set_new(j, "filament_weight_grams", jnum(p->filament_weight_grams));
		json_object_set_new(j, "filament_length_meters", jnum(p->filament_length_meters));
		json_object_set_new(j, "layer_count", jint(p->layer_count));
		json_object_set_new(j, "filament_type", jstr(p->filament_type));
		json_object_set_new(j, "filament_color", jstr(p->filament_color));
		json_object_set_new(j, "object_count", jint(p->object_count));
		json_object_set_new(j, "has_thumbnail", json_boolean(p->has_thumbnail));
		json_array_append_new(plates, j);
	}
	json_object_set_new(o, "plates", plates);
	plates = NULL;
	json_object_set_new(totals, "print_time_seconds", jint(m->totals.print_time_seconds));
	json_object_set_new(totals, "filament_weight_grams", jnum(m->totals.filament_weight_grams));
	json_object_set_new(totals, "filament_length_meters",
			    jnum(m->totals.filament_length_meters));
	json_object_set_new(o, "totals", totals);
	return o;
fail:
	json_decref(o);
	json_decref(plates);
	json_decref(totals);
	return NULL;
}

/* ---------------------------------------------------------------- printer models */

/* The one table of printer-model ids: what slicers write in a file (Bambu `printer_model_id`
 * codes, short aliases) -> the model name printers are registered with. Bambu codes are the
 * `model_id` of BambuStudio's resources/profiles/BBL/machine/<model>.json. docs/ lists it. */
static const struct {
	const char *id, *name;
} MODELS[] = {
	{"N1", "A1 mini"},       {"N2S", "A1"},        {"BL-P001", "X1 Carbon"},
	{"BL-P002", "X1"},       {"C11", "P1P"},       {"C12", "P1S"},
	{"C13", "X1E"},          {"N7", "P2S"},        {"N9", "A2L"},
	{"O1D", "H2D"},          {"O1E", "H2D Pro"},   {"O1S", "H2S"},
	{"O1C2", "H2C"},         {"X1C", "X1 Carbon"}, {"A1M", "A1 mini"},
};

int meta_model_row(size_t i, const char **id, const char **name)
{
	if (i >= sizeof MODELS / sizeof MODELS[0])
		return 0;
	*id = MODELS[i].id;
	*name = MODELS[i].name;
	return 1;
}

const char *meta_model_name(const char *id)
{
	if (!id)
		return NULL;
	while (*id == ' ')
		id++;
	for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++)
		if (strcasecmp(MODELS[i].id, id) == 0)
			return MODELS[i].name;
	return NULL;
}

/* Lower case, without a leading "Bambu Lab ", spaces, hyphens and underscores. */
static void model_key(const char *s, char *out, size_t n)
{
	const char *mapped = meta_model_name(s);
	size_t o = 0;
	if (mapped)
		s = mapped;
	while (*s == ' ')
		s++;
	if (strncasecmp(s, "Bambu Lab ", 10) == 0)
		s += 10;
	for (; *s && o + 1 < n; s++) {
		if (*s == ' ' || *s == '-' || *s == '_')
			continue;
		out[o++] = (char)tolower((unsigned char)*s);
	}
	out[o] = '\0';
}

int meta_model_matches(const char *file_model, const char *printer_model)
{
	char a[160], b[160];
	if (!file_model || !printer_model)
		return 1;
	model_key(file_model, a, sizeof a);
	model_key(printer_model, b, sizeof b);
	if (!a[0] || !b[0])
		return 1;
	return strcmp(a, b) == 0;
}
