/* meta.h - print-file metadata: 3MF (Bambu Studio, OrcaSlicer and forks, PrusaSlicer, Cura) and
 * plain G-code (Bambu, Orca, PrusaSlicer, Cura Marlin and Griffin). Parses from a file on disk or
 * from memory with bounded work: ZIP entries are streamed through libarchive, G-code is read as
 * a head and a tail window, every loop and buffer has a limit (struct meta_limits). Also owns the
 * printer-model table used to check that a file fits a printer (meta_model_matches).
 *
 * What each value means: docs/files.md ("Projections"); which key it is read from: the
 * parsers (meta_3mf.c, meta_gcode.c). Multi-plate 3MF: file-level
 * fields describe plate 1, `plates` holds each plate, `totals` sums what sums. */
#ifndef APF_META_H
#define APF_META_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define META_MAX_PLATES 64 /* per-plate records kept; plate_count may be larger */

enum meta_format {
	META_FMT_NONE = 0,
	META_FMT_3MF,   /* ZIP with 3D/3dmodel.model */
	META_FMT_GCODE, /* text G-code */
	META_FMT_MESH,  /* stl / obj / amf: accepted, no metadata read */
};

/* A number that may be absent (JSON null). */
struct meta_int {
	bool set;
	int64_t v;
};
struct meta_num {
	bool set;
	double v;
};

struct meta_plate {
	int index; /* 1-based plate number as the slicer numbers it */
	struct meta_int print_time_seconds;
	struct meta_num filament_weight_grams;
	struct meta_num filament_length_meters;
	struct meta_int layer_count;
	struct meta_int object_count;
	char filament_type[64];   /* "" = absent; first filament used on the plate */
	char filament_color[32];  /* "#RRGGBB" as written; "" = absent */
	bool has_thumbnail;
};

/* Strings are NUL-terminated, valid UTF-8 without control characters, "" when absent. */
struct file_meta {
	enum meta_format format;
	char slicer[48];          /* "Bambu Studio", "OrcaSlicer", "Orca-Flashforge", "PrusaSlicer", "Cura" */
	char slicer_version[48];  /* "02.04.00.70", "2.4.0-alpha"; build suffixes (+win64) dropped */
	bool is_sliced;           /* G-code, or a 3MF that carries plate G-code */
	char printer_model[128];  /* slicer's printer name: "Bambu Lab X1 Carbon", "MK4IS", "Ultimaker 3" */
	char printer_model_id[64]; /* only as stated (3MF slice_info): "BL-P001", "Flashforge-Adventurer-5M-Pro" */
	struct meta_int print_time_seconds;
	struct meta_num filament_weight_grams;
	struct meta_num filament_length_meters;
	struct meta_int layer_count;
	struct meta_num layer_height;
	struct meta_num nozzle_diameter;
	char filament_type[64];
	char filament_color[32];
	char curr_bed_type[64];
	char default_print_profile[128]; /* the print settings id the file was sliced with */
	struct meta_int object_count;    /* objects in the whole file (every plate) */
	struct meta_int plate_count;
	bool has_thumbnail;              /* a PNG can be served (meta_thumbs) */
	size_t nplates;                  /* records in plates[] (<= META_MAX_PLATES) */
	struct meta_plate plates[META_MAX_PLATES];
	struct {
		/* sums over every plate; absent unless every plate states the value */
		struct meta_int print_time_seconds;
		struct meta_num filament_weight_grams;
		struct meta_num filament_length_meters;
	} totals;
};

/* Work bounds. Start from meta_default_limits() and tighten as needed. */
struct meta_limits {
	unsigned max_entries;         /* ZIP entries (10,000) */
	size_t max_config_bytes;      /* an XML / JSON / config entry read whole (16 MiB) */
	size_t max_png_bytes;         /* one thumbnail (8 MiB) */
	size_t max_thumb_total_bytes; /* thumbnails of the plates after plate 1, per file, held at
				       * once (16 MiB); beyond it their bytes are dropped (plate
				       * N's thumbnail is then not served), never the metadata */
	size_t gcode_head_bytes;      /* G-code read from the start (1 MiB) ... */
	size_t gcode_tail_bytes;      /* ... and from the end (1 MiB); the middle is skipped */
	size_t model_head_bytes;      /* 3D/3dmodel.model parsed as XML (1 MiB); the rest only scanned */
	uint64_t max_total_inflated;  /* bytes decompressed over the whole archive (1 GiB) */
	unsigned max_ratio;           /* uncompressed / compressed per entry (100) ... */
	size_t ratio_floor_bytes;     /* ... checked once an entry has inflated this much (1 MiB) */
	size_t max_name_len;          /* entry path length (1024) */
};

struct meta_limits meta_default_limits(void);

/* One thumbnail: PNG bytes (caller owns after the parse; meta_thumbs_release frees them). */
struct meta_thumb {
	int plate; /* 1-based plate number; G-code files use 1 */
	int width, height; /* from the PNG header */
	unsigned char *data;
	size_t len;
};

struct meta_thumbs {
	bool all_plates; /* in: false = only the file's thumbnail (plate 1, else the first plate) */
	size_t count;    /* out: items[0] is the file's thumbnail; the rest by plate number */
	struct meta_thumb items[META_MAX_PLATES];
};

/* Frees every item and zeroes count (all_plates is kept). Accepts a zeroed struct. */
void meta_thumbs_release(struct meta_thumbs *t);

/* Parses the file at path; filename (the user's name, e.g. "cube.gcode.3mf"; NULL = use path)
 * picks the format by its extension, case-insensitively (3mf, gcode; stl/obj/amf succeed with
 * everything absent; anything else, .bgcode included, is -1). lim NULL = defaults.
 * thumbs may be NULL; when given, its items must be empty (zeroed or released).
 * Returns 0 (out filled), -1 when the file is invalid or unsupported (err holds a sentence for a
 * 422 INVALID_FILE detail, out and thumbs are empty), or -2 on an internal failure (I/O, memory;
 * err holds the cause for the log). Never reads a whole large file into memory. */
int meta_parse_file(const char *path, const char *filename, const struct meta_limits *lim,
		    struct file_meta *out, struct meta_thumbs *thumbs, char *err, size_t errsz);

/* The same from memory (the buffer is borrowed for the call only). */
int meta_parse_buffer(const void *data, size_t len, const char *filename,
		      const struct meta_limits *lim, struct file_meta *out,
		      struct meta_thumbs *thumbs, char *err, size_t errsz);

/* The parse-metadata response object (new reference; NULL only when out of memory): the file
 * projection's metadata names plus slicer, slicer_version, is_sliced, printer_model, layer_height,
 * filament_color, plate_count, plates[] and totals{}. Absent values are JSON null. */
json_t *meta_to_json(const struct file_meta *m);

/* Printer models. One table maps the ids slicers write (Bambu "N1", "BL-P001", ...) to model
 * names; names compare case-insensitively ignoring a leading "Bambu Lab ", spaces and hyphens.
 * meta_model_name: the table's name for an id or alias ("N1" -> "A1 mini"), or NULL.
 * meta_model_matches: 1 when the file's model (its printer_model_id, else its printer_model)
 * fits the printer's model, 0 when it does not. 1 when the file states no model, and 1 when
 * the printer has no model recorded (nothing to compare against). */
const char *meta_model_name(const char *id);
/* The i-th row of the model table (id and name); 0 past the end. For generated docs. */
int meta_model_row(size_t i, const char **id, const char **name);
int meta_model_matches(const char *file_model_id_or_name, const char *printer_model);

/* --- building blocks, exported for the unit tests and the fuzzers --- */

/* Flat XML tokenizer: elements, attributes in any order (quoted with ' or "), comments,
 * processing instructions, CDATA; entities &amp; &lt; &gt; &quot; &apos; &#N; &#xN; decoded.
 * DOCTYPE is refused (no entity definitions, no expansion bombs). Depth <= 256, attributes per
 * element <= 64. partial: the buffer is a prefix, so running out of input inside an element is
 * not an error. Callbacks return 0 to go on, 1 to stop early (not an error). Values passed to
 * callbacks are decoded, NUL-terminated and valid only during the call.
 * Returns 0, or -1 with err naming the problem and its byte offset. */
struct meta_xml_attr {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct meta_xml_handler {
	int (*start)(void *ctx, const char *name, size_t name_len, const struct meta_xml_attr *attrs,
		     size_t nattrs, unsigned depth);
	int (*end)(void *ctx, const char *name, size_t name_len, unsigned depth);
	int (*text)(void *ctx, const char *text, size_t len, unsigned depth);
};

int meta_xml_parse(const char *buf, size_t len, bool partial, const struct meta_xml_handler *h,
		   void *ctx, char *err, size_t errsz);

/* "1d 2h 3m 4s" (each part optional, at least one) -> seconds; 0 or -1. */
int meta_parse_duration(const char *s, size_t len, int64_t *seconds);

#endif
