/* test_meta.c - print-file metadata (common/meta*.c): every expected value of the 12 fixtures in
 * shared/fixtures/files/README.md (from disk and from memory, with thumbnail SHA-256s), hostile
 * archives built here with libarchive's writer (bombs, traversal, 100k entries, truncation, bad
 * XML), hostile G-code, the XML tokenizer, durations and the printer-model table.
 * Fixtures: $APF_FIXTURES, default ../shared/fixtures/files (tests run from the repo root). */
#include "tunit.h"

#include "meta.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NONE (-1) /* expected JSON null for a number */

static const char *fixture_dir(void)
{
	const char *d = getenv("APF_FIXTURES");
	return d && *d ? d : "../shared/fixtures/files";
}

static void fixture_path(const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", fixture_dir(), name);
}

/* Whole file into a new buffer (caller frees); NULL when missing. */
static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b = NULL;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		rewind(f);
		if (n >= 0 && (b = malloc((size_t)n + 1)) && fread(b, 1, (size_t)n, f) == (size_t)n) {
			*len = (size_t)n;
		} else {
			free(b);
			b = NULL;
		}
	}
	fclose(f);
	return b;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ fixtures */

struct thumb_want {
	int plate, w, h;
	size_t len;
	const char *sha;
};

struct plate_want {
	int index;
	long long time;
	double weight, length;
	long long layers, objects;
	const char *fil_type, *color;
	bool thumb;
};

struct fx {
	const char *file;
	enum meta_format fmt;
	bool sliced;
	const char *slicer, *version;
	const char *model, *model_id;
	long long time;
	double weight, length;
	long long layers, plates;
	bool thumb;
	const char *fil_type, *color;
	double nozzle;
	const char *bed, *profile;
	long long objects;
	double layer_h;
	struct thumb_want thumbs[2];
	struct plate_want p[2];     /* checked when plates == 2 */
	long long t_time;           /* totals */
	double t_weight, t_length;
};

/* Values from shared/fixtures/files/README.md. Decisions where the README leaves a choice:
 * - filament_length_meters takes the plate G-code's "[mm]" figure when there is one (README
 *   shows both, e.g. 0.93 / 932.21 mm); totals are then exact sums (3.51874).
 * - object_count of a multi-plate file counts every plate (README: 2 for #2).
 * - derivable values in italics are returned as null (#8 layers, #12 length).
 * - #10 colour: README says "-", but Slic3r_PE.config states filament_colour = #FF8000 (and
 *   extruder_colour starts with #FF8000), the same key that gives #FF8000 for #8 and #9. */
static const struct fx FIXTURES[] = {
	{"bambustudio_a1mini_cube.gcode.3mf", META_FMT_3MF, true, "Bambu Studio", "02.04.00.70",
	 "Bambu Lab A1 mini", "N1", 1095, 2.83, 0.93221, 90, 1, true, "PLA", "#00AE42", 0.4,
	 "Textured PEI Plate", "0.20mm Standard @BBL A1M", 1, 0.2,
	 {{1, 512, 512, 3659, "58adbdd6ee2f93d3e2d6ce8fd925ade26ed912c38d5bbd57e697c220779d418b"}},
	 {{0}}, 1095, 2.83, 0.93221},
	{"bambustudio_x1c_two_plates.gcode.3mf", META_FMT_3MF, true, "Bambu Studio", "02.04.00.70",
	 "Bambu Lab X1 Carbon", "BL-P001", 1216, 6.75, 2.22786, 128, 2, true, "PLA", "#00AE42", 0.4,
	 "Textured PEI Plate", "0.20mm Standard @BBL X1C", 2, 0.2,
	 {{1, 512, 512, 3659, "d147331250980fd526e307478a8bd507c14eef990c2755d1c8f863fcccb9987f"},
	  {2, 512, 512, 14920, "e0c720337e8f1de5a4730231558626124ae04a5485652280dedaa499145bb4bf"}},
	 {{1, 1216, 6.75, 2.22786, 128, 1, "PLA", "#00AE42", true},
	  {2, 1094, 3.91, 1.29088, 128, 1, "PLA", "#00AE42", true}},
	 2310, 10.66, 3.51874},
	{"bambustudio_x1c_two_plates_project.3mf", META_FMT_3MF, false, "Bambu Studio",
	 "02.04.00.70", "Bambu Lab X1 Carbon", NULL, NONE, NONE, NONE, NONE, 2, true, "PLA",
	 "#00AE42", 0.4, "Textured PEI Plate", "0.20mm Standard @BBL X1C", 2, 0.2,
	 {{1, 512, 512, 3659, "d147331250980fd526e307478a8bd507c14eef990c2755d1c8f863fcccb9987f"},
	  {2, 512, 512, 14920, "e0c720337e8f1de5a4730231558626124ae04a5485652280dedaa499145bb4bf"}},
	 {{1, NONE, NONE, NONE, NONE, 1, NULL, NULL, true},
	  {2, NONE, NONE, NONE, NONE, 1, NULL, NULL, true}},
	 NONE, NONE, NONE},
	{"bambustudio_a1mini_cube_plate1.gcode", META_FMT_GCODE, true, "Bambu Studio",
	 "02.04.00.70", "Bambu Lab A1 mini", NULL, 1095, 2.83, 0.93221, 90, 1, false, "PLA",
	 "#00AE42", 0.4, "Textured PEI Plate", "0.20mm Standard @BBL A1M", NONE, 0.2, {{0}}, {{0}},
	 1095, 2.83, 0.93221},
	{"orcaslicer_2.4.0a_ad5mpro_benchy.gcode.3mf", META_FMT_3MF, true, "OrcaSlicer",
	 "2.4.0-alpha", "Flashforge Adventurer 5M Pro", "Flashforge-Adventurer-5M-Pro", 2242, 11.23,
	 3.76527, 240, 1, true, "PLA", "#26A69A", 0.4, "Textured PEI Plate",
	 "0.20mm Standard @Flashforge AD5M Pro 0.4 Nozzle", 1, 0.2,
	 {{1, 512, 512, 33392, "70098e75681544f8a83881882f24c40a054cb3d6b607684270fe41bd2ebfe393"}},
	 {{0}}, 2242, 11.23, 3.76527},
	{"orcaflashforge_1.3.0_ad5mpro.gcode.3mf", META_FMT_3MF, true, "Orca-Flashforge", "1.3.0",
	 "Flashforge Adventurer 5M Pro", "Flashforge-Adventurer-5M-Pro", 433, 3.64, 1.21986, 10, 1,
	 true, "PLA", "#C0C0C0", 0.4, "High Temp Plate", "0.20mm 0.4 Nozzle Default", 1, 0.2,
	 {{1, 512, 512, 18635, "f02cf11283198cc3d4364cb7b3e64cc8c2469899a8c39055a0704abd508e9575"}},
	 {{0}}, 433, 3.64, 1.21986},
	{"orcaslicer_2.3.0_ad5mpro_benchy.gcode", META_FMT_GCODE, true, "OrcaSlicer", "2.3.0",
	 "Flashforge Adventurer 5M Pro", NULL, 2228, 11.39, 3.81882, 240, 1, true, "PLA", "#C0C0C0",
	 0.4, "High Temp Plate", "0.20mm Standard @Flashforge AD5M Pro 0.4 Nozzle", NONE, 0.2,
	 {{1, 140, 110, 3861, "63d98f4112b212ea7136621ad5f897b23bfc746cc0548ae774cd11f949ef33be"}},
	 {{0}}, 2228, 11.39, 3.81882},
	{"prusaslicer_2.8.1_mk4is_header_only.gcode", META_FMT_GCODE, true, "PrusaSlicer", "2.8.1",
	 "MK4IS", NULL, 1822, 9.75, 3.2694, NONE, 1, true, "PLA", "#FF8000", 0.4, NULL,
	 "0.20mm STRUCTURAL @MK4IS 0.4", 1, 0.2,
	 {{1, 640, 480, 113945, "abf018d9bfd15054f226d8147f58ddca1656f3a51987a42e435d20a6286bc758"}},
	 {{0}}, 1822, 9.75, 3.2694},
	{"prusaslicer_2.3.3_mini_header_only.gcode", META_FMT_GCODE, true, "PrusaSlicer", "2.3.3",
	 "MINI", NULL, 5477, 13.93, 4.67118, NONE, 1, true, "PLA", "#FF8000", 0.4, NULL,
	 "0.20mm QUALITY @MINI", NONE, 0.2,
	 {{1, 16, 16, 490, "ecea5f012564161cb698449903784281680d51dc2c8fd6b307159cbc2d1a41df"}},
	 {{0}}, 5477, 13.93, 4.67118},
	{"prusaslicer_2.9.4_mk4mmu3_project.3mf", META_FMT_3MF, false, "PrusaSlicer", "2.9.4",
	 "MK4ISMMU3", NULL, NONE, NONE, NONE, NONE, 1, true, "PLA", "#FF8000", 0.4, NULL,
	 "0.20mm SPEED @MK4IS 0.4", 1, 0.2,
	 {{1, 256, 256, 13600, "ca60a1356be04c20e2a9b644a3aa8c4da1267832d9e6fa013f5eda796f398813"}},
	 {{0}}, NONE, NONE, NONE},
	{"cura_4.10.0_marlin_kreistest.gcode", META_FMT_GCODE, true, "Cura", "4.10.0", NULL, NULL,
	 1479, NONE, 8.36128, 10, 1, false, NULL, NULL, NONE, NULL, NULL, NONE, 1, {{0}}, {{0}},
	 1479, NONE, 8.36128},
	{"cura_4.5.0_griffin_um3_header_only.gcode", META_FMT_GCODE, true, "Cura", "4.5.0",
	 "Ultimaker 3", NULL, 480, NONE, NONE, NONE, 1, false, NULL, NULL, 0.8, "glass", NULL, NONE,
	 NONE, {{0}}, {{0}}, 480, NONE, NONE},
};

static void check_num(const char *file, const char *what, struct meta_num got, double want)
{
	if (want < 0) {
		TU_CHECK(!got.set, "%s: %s should be null, got %g", file, what, got.v);
		return;
	}
	TU_CHECK(got.set, "%s: %s is null, want %g", file, what, want);
	TU_CHECK(got.v > want - 1e-9 && got.v < want + 1e-9, "%s: %s = %.9g, want %.9g", file, what,
		 got.v, want);
}

static void check_int(const char *file, const char *what, struct meta_int got, long long want)
{
	if (want < 0) {
		TU_CHECK(!got.set, "%s: %s should be null, got %lld", file, what, (long long)got.v);
		return;
	}
	TU_CHECK(got.set && got.v == want, "%s: %s = %s%lld, want %lld", file, what,
		 got.set ? "" : "null/", (long long)got.v, want);
}

static void check_str(const char *file, const char *what, const char *got, const char *want)
{
	if (!want) {
		TU_CHECK(got[0] == '\0', "%s: %s should be null, got \"%s\"", file, what, got);
		return;
	}
	TU_CHECK(strcmp(got, want) == 0, "%s: %s = \"%s\", want \"%s\"", file, what, got, want);
}

static void check_fixture(const struct fx *f, const struct file_meta *m,
			  const struct meta_thumbs *t)
{
	const char *n = f->file;
	TU_CHECK(m->format == f->fmt, "%s: format %d", n, m->format);
	TU_CHECK(m->is_sliced == f->sliced, "%s: is_sliced %d", n, m->is_sliced);
	check_str(n, "slicer", m->slicer, f->slicer);
	check_str(n, "slicer_version", m->slicer_version, f->version);
	check_str(n, "printer_model", m->printer_model, f->model);
	check_str(n, "printer_model_id", m->printer_model_id, f->model_id);
	check_int(n, "print_time_seconds", m->print_time_seconds, f->time);
	check_num(n, "filament_weight_grams", m->filament_weight_grams, f->weight);
	check_num(n, "filament_length_meters", m->filament_length_meters, f->length);
	check_int(n, "layer_count", m->layer_count, f->layers);
	check_int(n, "plate_count", m->plate_count, f->plates);
	TU_CHECK(m->has_thumbnail == f->thumb, "%s: has_thumbnail %d", n, m->has_thumbnail);
	check_str(n, "filament_type", m->filament_type, f->fil_type);
	check_str(n, "filament_color", m->filament_color, f->color);
	check_num(n, "nozzle_diameter", m->nozzle_diameter, f->nozzle);
	check_str(n, "curr_bed_type", m->curr_bed_type, f->bed);
	check_str(n, "default_print_profile", m->default_print_profile, f->profile);
	check_int(n, "object_count", m->object_count, f->objects);
	check_num(n, "layer_height", m->layer_height, f->layer_h);
	check_int(n, "totals.print_time_seconds", m->totals.print_time_seconds, f->t_time);
	check_num(n, "totals.filament_weight_grams", m->totals.filament_weight_grams, f->t_weight);
	check_num(n, "totals.filament_length_meters", m->totals.filament_length_meters, f->t_length);
	TU_CHECK(m->nplates == (size_t)f->plates, "%s: %zu plate records", n, m->nplates);
	if (f->plates == 2) {
		for (int i = 0; i < 2 && (size_t)i < m->nplates; i++) {
			const struct plate_want *w = &f->p[i];
			const struct meta_plate *p = &m->plates[i];
			TU_CHECK(p->index == w->index, "%s: plate %d index %d", n, i, p->index);
			check_int(n, "plate time", p->print_time_seconds, w->time);
			check_num(n, "plate weight", p->filament_weight_grams, w->weight);
			check_num(n, "plate length", p->filament_length_meters, w->length);
			check_int(n, "plate layers", p->layer_count, w->layers);
			check_int(n, "plate objects", p->object_count, w->objects);
			check_str(n, "plate filament_type", p->filament_type, w->fil_type);
			check_str(n, "plate filament_color", p->filament_color, w->color);
			TU_CHECK(p->has_thumbnail == w->thumb, "%s: plate %d thumbnail", n, i + 1);
		}
	} else if (m->nplates == 1) { /* a single plate mirrors the file */
		const struct meta_plate *p = &m->plates[0];
		TU_INT(p->index, 1);
		check_int(n, "plate time", p->print_time_seconds, f->time);
		check_num(n, "plate weight", p->filament_weight_grams, f->weight);
		check_num(n, "plate length", p->filament_length_meters, f->length);
		check_int(n, "plate layers", p->layer_count, f->layers);
		check_int(n, "plate objects", p->object_count, f->objects);
		check_str(n, "plate filament_type", p->filament_type, f->fil_type);
		TU_CHECK(p->has_thumbnail == f->thumb, "%s: plate thumbnail", n);
	}
	size_t want_thumbs = f->thumbs[1].sha ? 2 : f->thumbs[0].sha ? 1 : 0;
	TU_CHECK(t->count == want_thumbs, "%s: %zu thumbnails, want %zu", n, t->count, want_thumbs);
	for (size_t i = 0; i < t->count && i < want_thumbs; i++) {
		const struct thumb_want *w = &f->thumbs[i];
		char sha[SHA256_HEX_LEN + 1];
		util_sha256_hex(t->items[i].data, t->items[i].len, sha);
		TU_CHECK(t->items[i].plate == w->plate, "%s: thumb %zu plate %d", n, i,
			 t->items[i].plate);
		TU_CHECK(t->items[i].width == w->w && t->items[i].height == w->h,
			 "%s: thumb %zu is %dx%d", n, i, t->items[i].width, t->items[i].height);
		TU_CHECK(t->items[i].len == w->len, "%s: thumb %zu has %zu bytes", n, i,
			 t->items[i].len);
		TU_CHECK(strcmp(sha, w->sha) == 0, "%s: thumb %zu sha256 %s", n, i, sha);
	}
}

static void test_fixtures_from_disk(void)
{
	for (size_t i = 0; i < sizeof FIXTURES / sizeof FIXTURES[0]; i++) {
		const struct fx *f = &FIXTURES[i];
		char path[1024], err[256] = "";
		struct file_meta *m = calloc(1, sizeof *m);
		struct meta_thumbs *t = calloc(1, sizeof *t);
		fixture_path(f->file, path, sizeof path);
		t->all_plates = true;
		int rc = meta_parse_file(path, f->file, NULL, m, t, err, sizeof err);
		TU_CHECK(rc == 0, "%s: rc %d (%s)", f->file, rc, err);
		if (rc == 0)
			check_fixture(f, m, t);
		meta_thumbs_release(t);
		free(m);
		free(t);
	}
}

/* From memory: the same values, and the same JSON as from disk. */
static void test_fixtures_from_memory(void)
{
	for (size_t i = 0; i < sizeof FIXTURES / sizeof FIXTURES[0]; i++) {
		const struct fx *f = &FIXTURES[i];
		char path[1024], err[256] = "";
		size_t len = 0;
		struct file_meta *m = calloc(1, sizeof *m), *m2 = calloc(1, sizeof *m2);
		struct meta_thumbs *t = calloc(1, sizeof *t);
		fixture_path(f->file, path, sizeof path);
		unsigned char *data = slurp(path, &len);
		TU_CHECK(data != NULL, "%s: cannot read fixture", path);
		if (data) {
			t->all_plates = true;
			int rc = meta_parse_buffer(data, len, f->file, NULL, m, t, err, sizeof err);
			TU_CHECK(rc == 0, "%s: rc %d (%s)", f->file, rc, err);
			if (rc == 0)
				check_fixture(f, m, t);
			TU_INT(meta_parse_file(path, f->file, NULL, m2, NULL, err, sizeof err), 0);
			json_t *a = meta_to_json(m), *b = meta_to_json(m2);
			TU_CHECK(json_equal(a, b), "%s: JSON differs between file and buffer",
				 f->file);
			json_decref(a);
			json_decref(b);
		}
		meta_thumbs_release(t);
		free(data);
		free(m);
		free(m2);
		free(t);
	}
}

/* Only the file's thumbnail unless all plates are asked for; none when thumbs is NULL. */
static void test_thumbs_plate1_only(void)
{
	char path[1024], err[256];
	struct file_meta *m = calloc(1, sizeof *m);
	struct meta_thumbs *t = calloc(1, sizeof *t);
	fixture_path("bambustudio_x1c_two_plates.gcode.3mf", path, sizeof path);
	TU_INT(meta_parse_file(path, "x.gcode.3mf", NULL, m, t, err, sizeof err), 0);
	TU_INT(t->count, 1);
	TU_INT(t->items[0].plate, 1);
	TU_INT(t->items[0].len, 3659);
	TU_CHECK(m->plates[1].has_thumbnail, "plate 2 still reports its thumbnail");
	meta_thumbs_release(t);
	TU_INT(t->count, 0);
	TU_INT(meta_parse_file(path, "x.gcode.3mf", NULL, m, NULL, err, sizeof err), 0);
	TU_CHECK(m->has_thumbnail, "has_thumbnail without thumbs");
	free(m);
	free(t);
}

/* The response object: names of the file projection, nulls for absent values. */
static void test_json_shape(void)
{
	char path[1024], err[256];
	struct file_meta *m = calloc(1, sizeof *m);
	fixture_path("bambustudio_x1c_two_plates_project.3mf", path, sizeof path);
	TU_INT(meta_parse_file(path, "p.3mf", NULL, m, NULL, err, sizeof err), 0);
	json_t *j = meta_to_json(m);
	static const char *const KEYS[] = {
		"slicer", "slicer_version", "is_sliced", "printer_model", "printer_model_id",
		"print_time_seconds", "filament_weight_grams", "filament_length_meters",
		"filament_type", "filament_color", "nozzle_diameter", "layer_count", "layer_height",
		"curr_bed_type", "default_print_profile", "object_count", "has_thumbnail",
		"plate_count", "plates", "totals",
	};
	for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++)
		TU_CHECK(json_object_get(j, KEYS[i]) != NULL, "key %s missing", KEYS[i]);
	TU_INT(json_object_size(j), sizeof KEYS / sizeof KEYS[0]);
	TU_CHECK(json_is_null(json_object_get(j, "printer_model_id")), "model id null");
	TU_CHECK(json_is_null(json_object_get(j, "print_time_seconds")), "time null");
	TU_CHECK(json_is_false(json_object_get(j, "is_sliced")), "not sliced");
	TU_CHECK(json_is_true(json_object_get(j, "has_thumbnail")), "thumbnail");
	TU_INT(json_integer_value(json_object_get(j, "object_count")), 2);
	json_t *plates = json_object_get(j, "plates");
	TU_INT(json_array_size(plates), 2);
	TU_INT(json_integer_value(json_object_get(json_array_get(plates, 1), "index")), 2);
	TU_CHECK(json_is_null(json_object_get(json_object_get(j, "totals"), "print_time_seconds")),
		 "totals null");
	json_decref(j);
	memset(m, 0, sizeof *m);
	j = meta_to_json(m);
	TU_CHECK(json_is_null(json_object_get(j, "slicer")), "empty meta: slicer null");
	TU_INT(json_array_size(json_object_get(j, "plates")), 0);
	json_decref(j);
	free(m);
}

static void test_mesh_and_extensions(void)
{
	struct file_meta *m = calloc(1, sizeof *m);
	char err[256];
	static const char *const OK[] = {"part.stl", "PART.STL", "a.obj", "b.amf"};
	for (size_t i = 0; i < 4; i++) {
		TU_CHECK(meta_parse_buffer("solid x", 7, OK[i], NULL, m, NULL, err, sizeof err) == 0,
			 "%s accepted", OK[i]);
		TU_INT(m->format, META_FMT_MESH);
		TU_CHECK(!m->print_time_seconds.set && !m->plate_count.set && !m->has_thumbnail &&
				 m->nplates == 0 && !m->slicer[0],
			 "%s: everything null", OK[i]);
	}
	TU_INT(meta_parse_buffer("x", 1, "notes.txt", NULL, m, NULL, err, sizeof err), -1);
	TU_CHECK(strstr(err, "unsupported extension .txt") != NULL, "err: %s", err);
	TU_INT(meta_parse_buffer("x", 1, "noext", NULL, m, NULL, err, sizeof err), -1);
	TU_CHECK(strstr(err, "no extension") != NULL, "err: %s", err);
	TU_INT(meta_parse_buffer("GCDE\1\0\0\0", 8, "a.bgcode", NULL, m, NULL, err, sizeof err),
	       -1);
	TU_CHECK(strstr(err, "bgcode") != NULL, "err: %s", err);
	free(m);
}

/* ------------------------------------------------------------------ hostile G-code */

static int parse_mem(const void *d, size_t n, const char *name, struct file_meta *m, char *err,
		     size_t errsz)
{
	return meta_parse_buffer(d, n, name, NULL, m, NULL, err, errsz);
}

static void test_gcode_hostile(void)
{
	struct file_meta *m = calloc(1, sizeof *m);
	char err[256];
	TU_INT(parse_mem("", 0, "e.gcode", m, err, sizeof err), -1);
	TU_CHECK(strstr(err, "empty") != NULL, "err: %s", err);
	TU_INT(parse_mem("GCDE\1\0\0\0\0\0", 10, "b.gcode", m, err, sizeof err), -1);
	TU_CHECK(strstr(err, "bgcode") != NULL, "err: %s", err);
	unsigned char junk[4096];
	uint32_t s = 12345;
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (unsigned char)((s = s * 1103515245 + 12345) >> 16);
	junk[100] = 0;
	TU_INT(parse_mem(junk, sizeof junk, "g.gcode", m, err, sizeof err), -1);
	TU_CHECK(strstr(err, "binary") != NULL, "err: %s", err);
	TU_INT(parse_mem("hello world\nthis is prose\n", 26, "p.gcode", m, err, sizeof err), -1);
	TU_CHECK(strstr(err, "not a G-code") != NULL, "err: %s", err);
	/* a G-code without any metadata is valid: everything null */
	TU_INT(parse_mem("G28\nG1 X10\n", 11, "plain.gcode", m, err, sizeof err), 0);
	TU_CHECK(!m->print_time_seconds.set && !m->printer_model[0] && m->is_sliced,
		 "plain G-code");
	/* hostile values: bad numbers and durations are ignored, not trusted */
	static const char H[] = "; estimated printing time (normal mode) = 5x 3q\n"
				"; total filament used [g] = nan\n"
				"; filament used [mm] = 1e400\n"
				"; total layer number: -5\n"
				"; nozzle_diameter = 0.4,0.6\n"
				"; printer_model = A\x01\xff" "B\n"
				"; thumbnail begin 10x10 8\n; !!!!\n; thumbnail end\n"
				"; thumbnail begin 10x10 8\n; iVBORw0KGgo=\n; thumbnail end\n"
				"G1 X1\n";
	TU_INT(parse_mem(H, sizeof H - 1, "h.gcode", m, err, sizeof err), 0);
	TU_CHECK(!m->print_time_seconds.set && !m->filament_weight_grams.set &&
			 !m->filament_length_meters.set && !m->layer_count.set,
		 "bad values dropped");
	check_num("h", "nozzle", m->nozzle_diameter, 0.4);
	TU_STR(m->printer_model, "A??B");
	TU_CHECK(!m->has_thumbnail, "a PNG signature without IHDR is no thumbnail");
	free(m);
}

/* Large G-code: the header at the top and the footer at the end are both read, the middle is
 * skipped (a 6 MiB body here); the same from disk through pread. */
static void test_gcode_head_and_tail(void)
{
	static const char HEAD[] = "; generated by PrusaSlicer 2.8.1+linux on x at y UTC\n"
				   "; thumbnail_QOI begin 16x16 8\n; AAAAAAAA\n; thumbnail_QOI end\n";
	static const char TAIL[] = "\n; filament used [mm] = 1000.50, 200.25\n"
				   "; total filament used [g] = 4.5\n"
				   "; estimated printing time (normal mode) = 1d 1h 1m 1s\n"
				   "; printer_model = MK4S\n; layer_height = 0.15\n";
	size_t body = 6u << 20, len = sizeof HEAD - 1 + body + sizeof TAIL - 1;
	char *g = malloc(len);
	memcpy(g, HEAD, sizeof HEAD - 1);
	for (size_t i = 0; i < body; i += 16)
		memcpy(g + sizeof HEAD - 1 + i, "G1 X1.0 Y2.0 E1\n", 16);
	memcpy(g + sizeof HEAD - 1 + body, TAIL, sizeof TAIL - 1);
	struct file_meta *m = calloc(1, sizeof *m);
	char err[256], path[] = "/tmp/apf-test-meta-XXXXXX";
	for (int pass = 0; pass < 2; pass++) {
		int rc;
		if (pass == 0) {
			rc = parse_mem(g, len, "big.gcode", m, err, sizeof err);
		} else {
			int fd = mkstemp(path);
			TU_CHECK(fd >= 0 && write(fd, g, len) == (ssize_t)len, "temp file");
			close(fd);
			rc = meta_parse_file(path, "big.gcode", NULL, m, NULL, err, sizeof err);
			unlink(path);
		}
		TU_CHECK(rc == 0, "pass %d: %s", pass, err);
		TU_STR(m->slicer, "PrusaSlicer");
		TU_STR(m->slicer_version, "2.8.1");
		check_int("big", "time", m->print_time_seconds, 90061);
		check_num("big", "weight", m->filament_weight_grams, 4.5);
		check_num("big", "length", m->filament_length_meters, 1.20075);
		check_num("big", "layer height", m->layer_height, 0.15);
		TU_STR(m->printer_model, "MK4S");
		TU_CHECK(!m->has_thumbnail, "QOI is not a thumbnail");
	}
	free(g);
	free(m);
}

/* ------------------------------------------------------------------ hostile archives */

struct zspec {
	const char *name;
	const char *text; /* content, or NULL for `zeros` bytes of '\0' */
	size_t zeros;     /* with text: its length when it holds NULs (0 = strlen) */
	bool store;
};

/* A ZIP in memory built with libarchive's writer; caller frees. */
static unsigned char *zip_build(const struct zspec *e, size_t n, size_t cap, size_t *len)
{
	unsigned char *buf = malloc(cap), *zero = calloc(1, 1 << 20);
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	archive_write_open_memory(a, buf, cap, len);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		size_t sz = e[i].text && !e[i].zeros ? strlen(e[i].text) : e[i].zeros;
		archive_entry_set_pathname(ae, e[i].name);
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		archive_entry_set_size(ae, (la_int64_t)sz);
		if (e[i].store)
			archive_write_zip_set_compression_store(a);
		else
			archive_write_zip_set_compression_deflate(a);
		archive_write_header(a, ae);
		if (e[i].text) {
			archive_write_data(a, e[i].text, sz);
		} else {
			for (size_t done = 0; done < sz;) {
				size_t c = sz - done < (1u << 20) ? sz - done : 1u << 20;
				archive_write_data(a, zero, c);
				done += c;
			}
		}
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
	free(zero);
	return buf;
}

static const char MODEL[] = "<?xml version=\"1.0\"?><model unit=\"millimeter\">"
			    "<metadata name=\"Application\">BambuStudio-01.02.03.04</metadata>"
			    "<resources><object id=\"1\"/></resources><build/></model>";

/* Parses a built archive; returns rc, fills err and the elapsed seconds. */
static int parse_zip(const struct zspec *e, size_t n, size_t cap, const struct meta_limits *lim,
		     char *err, size_t errsz, double *secs)
{
	size_t len = 0;
	unsigned char *z = zip_build(e, n, cap, &len);
	struct file_meta *m = calloc(1, sizeof *m);
	double t0 = now_s();
	int rc = meta_parse_buffer(z, len, "t.3mf", lim, m, NULL, err, errsz);
	if (secs)
		*secs = now_s() - t0;
	free(m);
	free(z);
	return rc;
}

static void test_zip_bomb(void)
{
	char err[256];
	double secs;
	static const char *const NAMES[] = {"Metadata/plate_1.gcode", "Metadata/slice_info.config",
					    "3D/3dmodel.model", "junk/unread.bin"};
	for (size_t i = 0; i < 4; i++) {
		struct zspec e[] = {{"3D/3dmodel.model", MODEL, 0, false},
				    {NAMES[i], NULL, 200u << 20, false}};
		size_t n = i == 2 ? 1 : 2;
		if (i == 2)
			e[0] = (struct zspec){NAMES[i], NULL, 200u << 20, false};
		TU_INT(parse_zip(e, n, 8u << 20, NULL, err, sizeof err, &secs), -1);
		TU_CHECK(strstr(err, "compression ratio") || strstr(err, "larger than"),
			 "%s bomb: %s", NAMES[i], err);
		TU_CHECK(secs < 0.5, "%s bomb took %.2fs", NAMES[i], secs);
	}
	/* the total-inflated budget */
	char path[1024];
	struct meta_limits lim = meta_default_limits();
	struct file_meta *m = calloc(1, sizeof *m);
	lim.max_total_inflated = 100000;
	fixture_path("bambustudio_a1mini_cube.gcode.3mf", path, sizeof path);
	TU_INT(meta_parse_file(path, "a.3mf", &lim, m, NULL, err, sizeof err), -1);
	TU_CHECK(strstr(err, "inflates to more than 100000 bytes") != NULL, "err: %s", err);
	/* a tighter ratio catches the fixture's plate G-code (12.6:1) */
	lim = meta_default_limits();
	lim.max_ratio = 5;
	lim.ratio_floor_bytes = 4096;
	TU_INT(meta_parse_file(path, "a.3mf", &lim, m, NULL, err, sizeof err), -1);
	TU_CHECK(strstr(err, "compression ratio of entry Metadata/plate_1.gcode exceeds 5:1"),
		 "err: %s", err);
	/* a declared size over the bound is refused before inflating */
	struct zspec big[] = {{"3D/3dmodel.model", MODEL, 0, false},
			      {"Metadata/project_settings.config", NULL, 17u << 20, false}};
	TU_INT(parse_zip(big, 2, 8u << 20, NULL, err, sizeof err, &secs), -1);
	TU_CHECK(strstr(err, "entry Metadata/project_settings.config is larger than 16777216 bytes") ||
			 strstr(err, "compression ratio"),
		 "err: %s", err);
	/* and a config entry over its size bound */
	lim = meta_default_limits();
	lim.max_config_bytes = 1000;
	TU_INT(meta_parse_file(path, "a.3mf", &lim, m, NULL, err, sizeof err), -1);
	TU_CHECK(strstr(err, "is larger than 1000 bytes") != NULL, "err: %s", err);
	free(m);
}

static void test_zip_paths(void)
{
	/* libarchive's reader turns backslashes into '/', so "..\\" is caught as ".." */
	static const char *const BAD[] = {"../evil",      "Metadata/../../evil", "/abs/file",
					  "C:/windows/x", "Metadata\\..\\..\\x", "a/\x01/b",
					  "3D/.."};
	char err[256];
	for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
		struct zspec e[] = {{"3D/3dmodel.model", MODEL, 0, false}, {BAD[i], "x", 0, true}};
		TU_INT(parse_zip(e, 2, 1u << 20, NULL, err, sizeof err, NULL), -1);
		TU_CHECK(strstr(err, "path name") != NULL, "%s: %s", BAD[i], err);
	}
	/* dots inside names are fine */
	struct zspec ok[] = {{"3D/3dmodel.model", MODEL, 0, false}, {"a/..b/c..", "x", 0, true}};
	TU_INT(parse_zip(ok, 2, 1u << 20, NULL, err, sizeof err, NULL), 0);
}

static void test_zip_many_entries(void)
{
	enum { N = 100000 };
	struct zspec *e = calloc(N, sizeof *e);
	char (*names)[16] = calloc(N, 16), err[256];
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], 16, "f%zu", i);
		e[i] = (struct zspec){names[i], "", 0, true};
	}
	size_t len = 0;
	unsigned char *z = zip_build(e, N, 64u << 20, &len);
	struct file_meta *m = calloc(1, sizeof *m);
	double t0 = now_s();
	TU_INT(meta_parse_buffer(z, len, "many.3mf", NULL, m, NULL, err, sizeof err), -1);
	double secs = now_s() - t0;
	TU_CHECK(strstr(err, "archive entry count exceeds 10000") != NULL, "err: %s", err);
	TU_CHECK(secs < 0.2, "count check took %.3fs", secs);
	/* the end-of-directory record lies (says 1): the count while walking still stops it */
	struct meta_limits lim = meta_default_limits();
	lim.max_entries = 5;
	unsigned char *eocd = z + len - 22;
	TU_CHECK(memcmp(eocd, "PK\005\006", 4) == 0, "EOCD at the end");
	eocd[8] = eocd[10] = 1;
	eocd[9] = eocd[11] = 0;
	TU_INT(meta_parse_buffer(z, len, "many.3mf", &lim, m, NULL, err, sizeof err), -1);
	TU_CHECK(strstr(err, "archive entry count exceeds 5") != NULL, "err: %s", err);
	free(m);
	free(z);
	free(e);
	free(names);
}

static void test_zip_truncated_and_junk(void)
{
	char path[1024], err[256];
	size_t len = 0;
	struct file_meta *m = calloc(1, sizeof *m);
	fixture_path("bambustudio_a1mini_cube.gcode.3mf", path, sizeof path);
	unsigned char *d = slurp(path, &len);
	TU_CHECK(d != NULL, "fixture");
	if (d) {
		TU_INT(meta_parse_buffer(d, len / 2, "half.3mf", NULL, m, NULL, err, sizeof err), -1);
		TU_CHECK(strstr(err, "truncated") != NULL, "err: %s", err);
		/* damaged data inside an entry, directory intact */
		unsigned char *c = malloc(len);
		memcpy(c, d, len);
		for (size_t i = 20000; i < 30000; i++)
			c[i] ^= 0x5A;
		TU_INT(meta_parse_buffer(c, len, "bad.3mf", NULL, m, NULL, err, sizeof err), -1);
		TU_CHECK(err[0] != '\0', "damaged archive has a message");
		free(c);
	}
	TU_INT(meta_parse_buffer("hello", 5, "x.3mf", NULL, m, NULL, err, sizeof err), -1);
	TU_CHECK(strstr(err, "not a ZIP archive") != NULL, "err: %s", err);
	TU_INT(meta_parse_buffer("", 0, "x.3mf", NULL, m, NULL, err, sizeof err), -1);
	TU_CHECK(strstr(err, "not a ZIP archive") != NULL, "err: %s", err);
	unsigned char eocd[22] = {'P', 'K', 5, 6};
	TU_INT(meta_parse_buffer(eocd, sizeof eocd, "empty.3mf", NULL, m, NULL, err, sizeof err),
	       -1);
	TU_CHECK(strstr(err, "3MF has no 3D/3dmodel.model") != NULL, "err: %s", err);
	free(d);
	free(m);
}

static void test_zip_contents(void)
{
	char err[256];
	struct zspec nomodel[] = {{"Metadata/slice_info.config", "<config/>", 0, false}};
	TU_INT(parse_zip(nomodel, 1, 1u << 20, NULL, err, sizeof err, NULL), -1);
	TU_STR(err, "3MF has no 3D/3dmodel.model");
	static const char *const BADXML[] = {
		"<config><plate></config>",
		"<config><plate><metadata key=\"a\" value=\"1\"></plate></config>",
		"<config><header_item key=x/></config>",
		"<config><a b=\"1\"c=\"2\"/></config>",
		"<config>",
		"<config/><config/>",
		"<!DOCTYPE x [<!ENTITY a \"b\">]><config>&a;</config>",
		"<config a=\"&bogus;\"/>",
	};
	for (size_t i = 0; i < sizeof BADXML / sizeof BADXML[0]; i++) {
		struct zspec e[] = {{"3D/3dmodel.model", MODEL, 0, false},
				    {"Metadata/slice_info.config", BADXML[i], 0, false}};
		TU_INT(parse_zip(e, 2, 1u << 20, NULL, err, sizeof err, NULL), -1);
		TU_CHECK(strstr(err, "Metadata/slice_info.config is not well-formed XML") != NULL,
			 "%s: %s", BADXML[i], err);
	}
	struct zspec badjson[] = {{"3D/3dmodel.model", MODEL, 0, false},
				  {"Metadata/project_settings.config", "{\"a\": [", 0, false}};
	TU_INT(parse_zip(badjson, 2, 1u << 20, NULL, err, sizeof err, NULL), -1);
	TU_CHECK(strstr(err, "project_settings.config is not a JSON object") != NULL, "%s", err);
	struct zspec dup[] = {{"3D/3dmodel.model", MODEL, 0, false},
			      {"3d/3DModel.model", MODEL, 0, false}};
	TU_INT(parse_zip(dup, 2, 1u << 20, NULL, err, sizeof err, NULL), -1);
	TU_CHECK(strstr(err, "duplicate entry") != NULL, "%s", err);
	/* a PNG entry that is not a PNG is no thumbnail; entities and attribute order */
	struct zspec ok[] = {
		{"3D/3dmodel.model", MODEL, 0, false},
		{"Metadata/plate_1.png", "not a png", 0, true},
		{"Metadata/slice_info.config",
		 "<config><header><header_item value='9.9' key=\"X-BBL-Client-Version\"/></header>"
		 "<plate><metadata value=\"C&amp;12\" key=\"printer_model_id\"/>"
		 "<metadata key=\"index\" value=\"1\"/><metadata key=\"prediction\" value=\"60\"/>"
		 "<filament used_g=\"1\" type=\"PL&#65;\" used_m=\"0.5\"/>"
		 "<filament type=\"PETG\" used_g=\"2\" used_m=\"0.25\"/></plate></config>",
		 0, false},
	};
	size_t len = 0;
	unsigned char *z = zip_build(ok, 3, 1u << 20, &len);
	struct file_meta *m = calloc(1, sizeof *m);
	TU_INT(meta_parse_buffer(z, len, "ok.3mf", NULL, m, NULL, err, sizeof err), 0);
	TU_STR(m->printer_model_id, "C&12");
	TU_STR(m->filament_type, "PLA");
	TU_STR(m->slicer, "Bambu Studio");
	TU_STR(m->slicer_version, "9.9");
	check_num("ok", "weight (sum of used_g)", m->filament_weight_grams, 3);
	check_num("ok", "length (sum of used_m)", m->filament_length_meters, 0.75);
	check_int("ok", "time", m->print_time_seconds, 60);
	TU_CHECK(!m->has_thumbnail, "bogus PNG is no thumbnail");
	TU_CHECK(!m->is_sliced, "no plate G-code");
	free(z);
	free(m);
}

/* Plate 1 without an image: the file's thumbnail is the first plate that has one. */
static void test_thumb_other_plate(void)
{
	static const char PNG[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x20\0\0\0\x10"
				  "\x08\x06\0\0\0\x01\x02\x03\x04";
	static const char SI[] = "<config><plate><metadata key=\"index\" value=\"1\"/></plate>"
				 "<plate><metadata key=\"index\" value=\"2\"/></plate>"
				 "<plate><metadata key=\"index\" value=\"3\"/></plate></config>";
	struct zspec e[] = {{"Metadata/plate_3.png", PNG, sizeof PNG - 1, true},
			    {"3D/3dmodel.model", MODEL, 0, false},
			    {"Metadata/plate_2.png", PNG, sizeof PNG - 1, true},
			    {"Metadata/slice_info.config", SI, 0, false}};
	size_t len = 0;
	unsigned char *z = zip_build(e, 4, 1u << 20, &len);
	struct file_meta *m = calloc(1, sizeof *m);
	struct meta_thumbs *t = calloc(1, sizeof *t);
	char err[256];
	TU_INT(meta_parse_buffer(z, len, "p.3mf", NULL, m, t, err, sizeof err), 0);
	TU_CHECK(m->has_thumbnail, "file has a thumbnail");
	TU_CHECK(!m->plates[0].has_thumbnail && m->plates[1].has_thumbnail &&
			 m->plates[2].has_thumbnail,
		 "per-plate flags");
	TU_INT(t->count, 1);
	TU_INT(t->items[0].plate, 2);
	TU_INT(t->items[0].width, 32);
	TU_INT(t->items[0].height, 16);
	meta_thumbs_release(t);
	t->all_plates = true;
	TU_INT(meta_parse_buffer(z, len, "p.3mf", NULL, m, t, err, sizeof err), 0);
	TU_INT(t->count, 2);
	TU_INT(t->items[0].plate, 2);
	TU_INT(t->items[1].plate, 3);
	meta_thumbs_release(t);
	/* I/O problems are internal errors (-2), not invalid files */
	TU_INT(meta_parse_file("/nonexistent/x.gcode", "x.gcode", NULL, m, NULL, err, sizeof err),
	       -2);
	TU_INT(meta_parse_file("/tmp", "x.3mf", NULL, m, NULL, err, sizeof err), -2);
	TU_CHECK(strstr(err, "not a regular file") != NULL, "%s", err);
	free(z);
	free(m);
	free(t);
}

/* Ten plates with a 3 MiB thumbnail each (random bytes: incompressible): the thumbnails of
 * the plates after plate 1 are kept up to the per-file cap (16 MiB), the rest are dropped; the
 * metadata still names every plate and its thumbnail. */
static void test_thumb_total_cap(void)
{
	enum { PLATES = 10, PNG_BYTES = 3 << 20 };
	static const char HEAD[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x20\0\0\0\x10"
				   "\x08\x06\0\0\0\x01\x02\x03\x04";
	char si[2048], names[PLATES][40];
	size_t o = (size_t)snprintf(si, sizeof si, "<config>");
	for (int i = 1; i <= PLATES; i++)
		o += (size_t)snprintf(si + o, sizeof si - o, "<plate><metadata key=\"index\""
				      " value=\"%d\"/></plate>", i);
	snprintf(si + o, sizeof si - o, "</config>");
	char *png = malloc(PNG_BYTES);
	struct zspec e[PLATES + 2] = {{"3D/3dmodel.model", MODEL, 0, false},
				      {"Metadata/slice_info.config", si, 0, false}};
	TU_CHECK(png != NULL, "memory");
	if (!png)
		return;
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < PNG_BYTES; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		png[i] = (char)(x >> 24);
	}
	memcpy(png, HEAD, sizeof HEAD - 1);
	for (int i = 0; i < PLATES; i++) {
		snprintf(names[i], sizeof names[i], "Metadata/plate_%d.png", i + 1);
		e[i + 2] = (struct zspec){names[i], png, PNG_BYTES, false};
	}
	size_t len = 0;
	unsigned char *z = zip_build(e, PLATES + 2, (size_t)PLATES * PNG_BYTES + (1u << 20), &len);
	struct file_meta *m = calloc(1, sizeof *m);
	struct meta_thumbs *t = calloc(1, sizeof *t);
	char err[256] = "";
	t->all_plates = true;
	TU_INT(meta_parse_buffer(z, len, "cap.3mf", NULL, m, t, err, sizeof err), 0);
	TU_CHECK(!err[0], "%s", err);
	/* the metadata is whole */
	TU_INT((long long)m->nplates, PLATES);
	TU_CHECK(m->has_thumbnail, "the file has a thumbnail");
	for (int i = 0; i < PLATES; i++)
		TU_CHECK(m->plates[i].has_thumbnail, "plate %d has a thumbnail", i + 1);
	/* the bytes are capped: plate 1 first, then the others up to 16 MiB */
	size_t other = 0;
	TU_CHECK(t->count >= 1 && t->items[0].plate == 1 && t->items[0].len == PNG_BYTES,
		 "plate 1's thumbnail is kept");
	for (size_t i = 1; i < t->count; i++)
		other += t->items[i].len;
	TU_CHECK(other <= (16u << 20), "%zu bytes of other plates' thumbnails kept", other);
	TU_INT((long long)t->count, 1 + (16 << 20) / PNG_BYTES);
	TU_INT(t->items[t->count - 1].plate, (long long)t->count); /* in plate order */
	meta_thumbs_release(t);
	/* the cap is a limit of its own (meta_limits.max_thumb_total_bytes) */
	struct meta_limits lim = meta_default_limits();
	TU_INT((long long)lim.max_thumb_total_bytes, 16 << 20);
	lim.max_thumb_total_bytes = PNG_BYTES;
	TU_INT(meta_parse_buffer(z, len, "cap.3mf", &lim, m, t, err, sizeof err), 0);
	TU_INT((long long)t->count, 2);
	TU_INT((long long)m->nplates, PLATES);
	meta_thumbs_release(t);
	free(t);
	free(m);
	free(z);
	free(png);
}

/* ------------------------------------------------------------------ building blocks */

struct xrec {
	char log[2048];
};

static int xr_start(void *ctx, const char *name, size_t nl, const struct meta_xml_attr *a,
		    size_t na, unsigned depth)
{
	struct xrec *r = ctx;
	size_t l = strlen(r->log);
	l += (size_t)snprintf(r->log + l, sizeof r->log - l, "<%.*s@%u", (int)nl, name, depth);
	for (size_t i = 0; i < na; i++)
		l += (size_t)snprintf(r->log + l, sizeof r->log - l, " %.*s=%s", (int)a[i].name_len,
				      a[i].name, a[i].value);
	snprintf(r->log + l, sizeof r->log - l, ">");
	return 0;
}

static int xr_end(void *ctx, const char *name, size_t nl, unsigned depth)
{
	struct xrec *r = ctx;
	size_t l = strlen(r->log);
	snprintf(r->log + l, sizeof r->log - l, "</%.*s@%u>", (int)nl, name, depth);
	return 0;
}

static int xr_text(void *ctx, const char *t, size_t len, unsigned depth)
{
	struct xrec *r = ctx;
	size_t l = strlen(r->log);
	bool blank = true;
	for (size_t i = 0; i < len; i++)
		blank = blank && (t[i] == ' ' || t[i] == '\n');
	if (!blank)
		snprintf(r->log + l, sizeof r->log - l, "[%.*s@%u]", (int)len, t, depth);
	return 0;
}

static void test_xml_tokenizer(void)
{
	static const struct meta_xml_handler H = {xr_start, xr_end, xr_text};
	static const struct {
		const char *in;
		bool partial;
		int rc;
		const char *log; /* or an error fragment when rc < 0 */
	} CASES[] = {
		{"\xEF\xBB\xBF<?xml version='1.0'?><!-- c --><a x='1' y = \"&lt;&amp;&#x41;&#66;\">"
		 "t&quot;<b/><![CDATA[<raw>]]></a>",
		 false, 0, "<a@0 x=1 y=<&AB>[t\"@0]<b@1></b@1>[<raw>@0]</a@0>"},
		{"<a><b></a>", false, -1, "</a> closes <b>"},
		{"<a>", false, -1, "unclosed <a>"},
		{"<a", false, -1, "unclosed tag <a"},
		{"<a b>", false, -1, "without '='"},
		{"<a b=c/>", false, -1, "unquoted value"},
		{"<a b=\"1\"c=\"2\"/>", false, -1, "missing space"},
		{"<a b=\"x<y\"/>", false, -1, "'<' inside an attribute value"},
		{"<a>&nbsp;</a>", false, -1, "unknown entity &nbsp;"},
		{"<a>&#0;</a>", false, -1, "invalid character reference"},
		{"<a>&#x110000;</a>", false, -1, "out of range"},
		{"<a>&amp</a>", false, -1, "unterminated entity"},
		{"</a>", false, -1, "without an open element"},
		{"x<a/>", false, -1, "text outside the root"},
		{"<a/><b/>", false, -1, "a second root"},
		{"", false, -1, "no root element"},
		{"<!DOCTYPE a><a/>", false, -1, "DOCTYPE"},
		{"<a><!-- x", false, -1, "unterminated <!--"},
		{"<1a/>", false, -1, "bad element name"},
		{"<a><b x=\"1\" y=\"2", true, 0, "<a@0>"},
		{"<a><b>text", true, 0, "<a@0><b@1>"},
		{"<a><!-- x", true, 0, "<a@0>"},
	};
	for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
		struct xrec r = {{0}};
		char err[256] = "";
		int rc = meta_xml_parse(CASES[i].in, strlen(CASES[i].in), CASES[i].partial, &H, &r, err,
					sizeof err);
		TU_CHECK(rc == CASES[i].rc, "case %zu: rc %d (%s)", i, rc, err);
		if (CASES[i].rc == 0)
			TU_CHECK(strcmp(r.log, CASES[i].log) == 0, "case %zu: %s", i, r.log);
		else
			TU_CHECK(strstr(err, CASES[i].log) != NULL, "case %zu: %s", i, err);
	}
	/* depth bound */
	char deep[4000] = "";
	for (int i = 0; i < 300; i++)
		strcat(deep, "<a>");
	char err[256];
	TU_INT(meta_xml_parse(deep, strlen(deep), true, &H, &(struct xrec){{0}}, err, sizeof err),
	       -1);
	TU_CHECK(strstr(err, "nested deeper") != NULL, "%s", err);
}

static void test_duration(void)
{
	static const struct {
		const char *s;
		long long want; /* -1 = rejected */
	} CASES[] = {
		{"18m 15s", 1095}, {"1h 31m 17s", 5477}, {"7m 13s", 433}, {"45s", 45},
		{"2d 1h", 176400}, {" 1h ", 3600},      {"", -1},        {"5", -1},
		{"5x", -1},        {"1m 1m", -1},       {"m", -1},       {"1h2m", -1},
	};
	for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
		int64_t s = 0;
		int rc = meta_parse_duration(CASES[i].s, strlen(CASES[i].s), &s);
		if (CASES[i].want < 0)
			TU_CHECK(rc < 0, "\"%s\" accepted as %lld", CASES[i].s, (long long)s);
		else
			TU_CHECK(rc == 0 && s == CASES[i].want, "\"%s\" -> %lld", CASES[i].s,
				 (long long)s);
	}
}

static void test_model_matches(void)
{
	static const struct {
		const char *file, *printer;
		int want;
	} CASES[] = {
		{"N1", "A1 mini", 1},
		{"N1", "Bambu Lab A1 mini", 1},
		{"n1", "a1-mini", 1},
		{"N1", "A1", 0},
		{"N2S", "A1", 1},
		{"N2S", "A1 mini", 0},
		{"BL-P001", "X1 Carbon", 1},
		{"BL-P001", "X1-Carbon", 1},
		{"BL-P001", "X1", 0},
		{"BL-P002", "X1", 1},
		{"C11", "P1P", 1},
		{"C12", "P1S", 1},
		{"C12", "P1P", 0},
		{"C13", "X1E", 1},
		{"O1D", "H2D", 1},
		{"Bambu Lab X1 Carbon", "X1 Carbon", 1},
		{"Bambu Lab A1 mini", "N1", 1},
		{"X1C", "Bambu Lab X1 Carbon", 1},
		{"Flashforge-Adventurer-5M-Pro", "Flashforge Adventurer 5M Pro", 1},
		{"Flashforge-Adventurer-5M-Pro", "Flashforge Adventurer 5M", 0},
		{"MK4IS", "mk4is", 1},
		{NULL, "P1S", 1},
		{"", "P1S", 1},
		{"  ", "P1S", 1},
		{"N1", NULL, 1},
		{"N1", "", 1},
	};
	for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
		TU_CHECK(meta_model_matches(CASES[i].file, CASES[i].printer) == CASES[i].want,
			 "match(%s, %s) != %d", CASES[i].file ? CASES[i].file : "NULL",
			 CASES[i].printer ? CASES[i].printer : "NULL", CASES[i].want);
	TU_STR(meta_model_name("N1"), "A1 mini");
	TU_STR(meta_model_name("bl-p001"), "X1 Carbon");
	TU_STR(meta_model_name("C12"), "P1S");
	TU_CHECK(meta_model_name("ZZ9") == NULL, "unknown id");
	TU_CHECK(meta_model_name(NULL) == NULL, "NULL id");
}

int init_meta_suite(void)
{
	CU_pSuite s = CU_add_suite("meta", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_fixtures_from_disk);
	TU_ADD(s, test_fixtures_from_memory);
	TU_ADD(s, test_thumbs_plate1_only);
	TU_ADD(s, test_json_shape);
	TU_ADD(s, test_mesh_and_extensions);
	TU_ADD(s, test_gcode_hostile);
	TU_ADD(s, test_gcode_head_and_tail);
	TU_ADD(s, test_zip_bomb);
	TU_ADD(s, test_zip_paths);
	TU_ADD(s, test_zip_many_entries);
	TU_ADD(s, test_zip_truncated_and_junk);
	TU_ADD(s, test_zip_contents);
	TU_ADD(s, test_thumb_other_plate);
	TU_ADD(s, test_thumb_total_cap);
	TU_ADD(s, test_xml_tokenizer);
	TU_ADD(s, test_duration);
	TU_ADD(s, test_model_matches);
	return 0;
}
