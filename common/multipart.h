/* multipart.h - multipart/form-data (RFC 7578) for upload-shaped endpoints such as
 * POST /files/parse-metadata: boundary from the Content-Type value, a push parser that takes the
 * body in chunks of any size (so a 100 MiB upload can stream to a file), and a one-call helper
 * that finds a named file part in a body held in memory. Every size is bounded. */
#ifndef APF_MULTIPART_H
#define APF_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum multipart_err {
	MP_OK = 0,
	MP_EBOUNDARY,  /* Content-Type is not multipart/form-data or has no usable boundary */
	MP_EMALFORMED, /* bad part headers, missing closing boundary (truncated body), ... */
	MP_ELIMIT,     /* too many parts or part headers too long */
	MP_ETOO_LARGE, /* body larger than max_body */
	MP_ENOFILE,    /* no part with the wanted name, or it is not a file (no filename) */
	MP_ECALLBACK,  /* a callback refused (its own reason is the caller's) */
};

struct multipart_limits {
	size_t max_parts;        /* 16 */
	size_t max_header_bytes; /* header block of one part (8 KiB, also the most allowed) */
	uint64_t max_body;       /* whole body (100 MiB + 1 MiB for the envelope) */
};

struct multipart_limits multipart_default_limits(void);

/* One part's headers, valid during part_begin only. Strings are NUL-terminated; filename is
 * NULL when the part has none (a plain form field); content_type is NULL when not sent. */
struct multipart_part {
	const char *name;
	const char *filename;
	const char *content_type;
	size_t index; /* 0-based position in the body */
};

struct multipart_cb {
	/* Returns 0 to receive the part's data, 1 to skip it, -1 to abort (MP_ECALLBACK). */
	int (*part_begin)(void *ctx, const struct multipart_part *p);
	/* Data of an accepted part, in order, in pieces of any size; 0 or -1 to abort. */
	int (*part_data)(void *ctx, const void *data, size_t len);
	/* The accepted part is complete; 0 or -1 to abort. */
	int (*part_end)(void *ctx);
};

#define MULTIPART_BOUNDARY_MAX 70

/* Parser state; treat as opaque. No heap memory: nothing to release. */
struct multipart {
	struct multipart_limits lim;
	struct multipart_cb cb;
	void *ctx;
	char delim[MULTIPART_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
	size_t dlen;
	int state;
	size_t matched;  /* delimiter bytes matched so far (may span feeds) */
	size_t nparts;
	uint64_t total;
	bool accepted;   /* the current part's data goes to the callbacks */
	char hdr[8192];  /* header block of the current part */
	size_t hlen, hmax;
	char *err;
	size_t errsz;
};

/* Extracts the boundary of a "multipart/form-data; boundary=..." value (quoted or not; media
 * type and parameter names case-insensitive). out has room for MULTIPART_BOUNDARY_MAX + 1. */
enum multipart_err multipart_boundary(const char *content_type, char *out, size_t outsz,
				      char *err, size_t errsz);

/* Push parser: init with the Content-Type value, feed the body in chunks, finish at its end.
 * lim NULL = defaults. err (kept by the parser) receives a sentence on any error. */
enum multipart_err multipart_init(struct multipart *mp, const char *content_type,
				  const struct multipart_limits *lim, const struct multipart_cb *cb,
				  void *ctx, char *err, size_t errsz);
enum multipart_err multipart_feed(struct multipart *mp, const void *data, size_t len);
enum multipart_err multipart_finish(struct multipart *mp);

/* The first part named field in a body held in memory. On MP_OK, data and len point into body
 * and filename / content_type are copied ("" when absent). A part without a filename is
 * MP_ENOFILE (the field must carry a file). */
struct multipart_file {
	const unsigned char *data;
	size_t len;
	char filename[256];
	char content_type[128];
};

enum multipart_err multipart_find_file(const char *content_type, const void *body, size_t len,
				       const char *field, const struct multipart_limits *lim,
				       struct multipart_file *out, char *err, size_t errsz);

/* The same pulling the body through a read callback (returns bytes read, 0 at the end, -1 on
 * error); the named file part's bytes go to on_data as they arrive (e.g. to a temporary file),
 * so memory use does not grow with the upload. */
typedef long multipart_read_fn(void *rctx, void *buf, size_t n);
enum multipart_err multipart_read_file(const char *content_type, multipart_read_fn *rd,
				       void *rctx, const char *field,
				       const struct multipart_limits *lim,
				       int (*on_data)(void *dctx, const void *data, size_t len),
				       void *dctx, char *filename, size_t filenamesz, char *err,
				       size_t errsz);

#endif
