/* req.h - one request: what came in, who asked, and what goes out.
 *
 * Handlers take only `struct req *` and return E_OK or an error code. They never write to the
 * FastCGI stream: they set r->data (and r->meta for lists) or return an error, and the
 * dispatcher renders the envelope once. Query accessors validate and record a precise message
 * in r->details; a handler checks req_invalid(r) once after reading its parameters. */
#ifndef APF_REQ_H
#define APF_REQ_H

#include "db.h"
#include "err.h"
#include "jhelp.h"
#include "util.h"

#include <fcgiapp.h>
#include <jansson.h>
#include <stdint.h>

enum method { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M__COUNT };

#define S_ANY     0u
#define S_READ    1u
#define S_WRITE   2u
#define S_CONTROL 4u

#define R_BODY    1u
#define R_OPTBODY 2u
#define R_RAW     4u
#define R_TXN     8u
#define R_PUBLIC  16u /* no API key: no authentication, rate limit or scope (openapi.json) */
/* The handler runs its own transactions (db_txn) and stores its Idempotency-Key answer in the
 * one that holds its effect (idem_store_answer / idem_command): dispatch does not wrap it in a
 * transaction (docs/idempotency.md). */
#define R_OWNTXN  32u
/* Beyond the specification (decisions.md "Beyond the specification"): the operation carries
 * x-apf-extension in the OpenAPI document (docs/openapi.md). */
#define R_EXT     64u
#define R_CACHE   128u /* GET whose answer may be given again until the account's data changes
			* (fcgi/anscache.h) */

#define REQ_MAX_PARAMS 4
#define REQ_MAX_QUERY 32
#define REQ_MAX_BODY (1024 * 1024)
#define REQ_MAX_DEPTH 32

struct req;
struct resource;
typedef enum api_err (*handler_fn)(struct req *r);

struct route {
	enum method method;
	const char *path;
	handler_fn fn;
	unsigned scope;
	unsigned flags;
	const char *handler_name;
	const struct resource *res;  /* the resource of a generic handler (res_list, ...) */
	const char *res_name;
};

struct qkv {
	char *key;
	char *value;
};

/* The request's Idempotency-Key record (fcgi/idem.h). */
struct req_idem {
	char key[256];              /* the header, "" when none */
	char body_sha[SHA256_HEX_LEN + 1];
	char fp[SHA256_HEX_LEN + 1];
	char owner[UUID_LEN + 1];   /* this request's claim token */
	int claimed;                /* this request holds the in_progress record */
	int command;                /* a hub command was committed with the record */
	int stored;                 /* the record holds the final answer */
	int txn_stored;             /* the answer was written in the handler's transaction */
	void *body_md;              /* EVP_MD_CTX of a streamed body's SHA-256 (owned), or NULL */
	int replay;                 /* the answer is the stored one: out_status, out_body */
	int out_status;
	char *out_body;             /* owned */
};

struct req {
	/* input */
	FCGX_Request *fcgi;
	enum method method;
	char *path;                 /* below /v1, decoded segments untouched */
	const struct route *route;
	int nparams;
	const char *param_names[REQ_MAX_PARAMS];
	char *param_vals[REQ_MAX_PARAMS]; /* point into segs, percent-decoded */
	char *segs;                 /* owned copy of the path split at '/' */
	int nquery;
	struct qkv query[REQ_MAX_QUERY];
	char *query_buf;            /* owned storage of the query pairs */
	json_t *body;               /* parsed JSON body (R_BODY / R_OPTBODY), or NULL */
	char request_id[65];

	/* principal (from the API key) */
	char account_id[UUID_LEN + 1];
	char key_id[UUID_LEN + 1];
	char user_id[UUID_LEN + 1];
	unsigned scopes;
	char key_hash[SHA256_HEX_LEN + 1];
	int key_hot;                /* the key's record came from / went into the host's memory */

	/* the answer cache (R_CACHE routes): on when the data version was read */
	int cache_on;
	uint64_t cache_version;
	int64_t cache_made_ms;
	char *cached;               /* owned: the stored answer being given again */
	size_t cached_len;

	/* services */
	struct db *db;

	/* output */
	int status;                 /* 200 unless set (201 on creates) */
	json_t *data;               /* owned */
	char *data_text;            /* owned: data already as JSON text (lists), used instead */
	json_t *meta;               /* owned */
	json_t *details;            /* validation problems, owned */
	json_t *error_extra;        /* extra members of the error body (e.g. shortages), owned */
	char errmsg[512];
	char headers[2048];
	size_t headers_len;
	struct req_idem idem;
	/* binary output instead of JSON (thumbnails, images) */
	char *raw;
	size_t raw_len;
	char raw_type[64];
};

/* The request's path for the log (below /v1): the matched route's pattern with its parameters
 * filled in, except credentials (a parameter named token: "<redacted>"); the raw path when no
 * route matched. Never an upload token, whatever the caller logs. */
const char *req_log_path(const struct req *r, char *out, size_t size);

/* Path parameter by name ("id"), never NULL for a matched route's own names. */
const char *req_param(const struct req *r, const char *name);
/* Raw query parameter or NULL. */
const char *req_query(const struct req *r, const char *name);

/* Query accessors: return 0 when absent (out untouched) or valid, -1 after recording a problem. */
int req_query_int(struct req *r, const char *name, long long min, long long max, long long *out);
int req_query_bool(struct req *r, const char *name, int *out);
int req_query_enum(struct req *r, const char *name, const char *const *values, const char **out);
int req_query_str(struct req *r, const char *name, size_t minlen, size_t maxlen, const char **out);
int req_query_time(struct req *r, const char *name, int64_t *ms);
/* limit (1..100, default 50) and offset (>= 0, default 0). */
int req_paging(struct req *r, long long *limit, long long *offset);
/* 1 when a problem was recorded. */
int req_invalid(const struct req *r);
/* Records a validation problem for field. */
void req_problem(struct req *r, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Validates r->body against a field table (problems recorded). */
int req_check_body(struct req *r, const struct jfield *fields);

/* Drops whatever answer a handler set (data, meta, problems, message, status): an attempt that
 * runs again starts from nothing. Headers stay. */
void req_reset_answer(struct req *r);
/* Sets the error message shown with code e (PUBLIC codes) and returns e. */
enum api_err req_fail(struct req *r, enum api_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Success: data becomes owned by r. */
/* Answers the stored object key (at most max bytes) as the raw body, private to the key's
 * holder for a day (Cache-Control: private, max-age=86400). STORAGE_OK, or the storage status
 * (STORAGE_MISSING: the caller answers its own 404). */
int req_stored_object(struct req *r, const char *key, size_t max);
enum api_err req_ok(struct req *r, json_t *data);
enum api_err req_created(struct req *r, json_t *data);
/* Success with data given as JSON text (owned; NULL = out of memory). */
enum api_err req_ok_text(struct req *r, char *json_text);
/* meta {limit, offset, count} of a page of count rows. */
void req_page_meta(struct req *r, long long limit, long long offset, long long count);
/* Paginated list success: data array owned; meta {limit, offset, count}. */
enum api_err req_list(struct req *r, json_t *data, long long limit, long long offset);
/* Adds a response header line "Name: value". */
void req_header(struct req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs one query and maps "no row" to notfound: fills res with exactly the first row set. */
enum api_err req_fetch_one(struct req *r, const struct db_query *q, const struct db_arg *args,
			   unsigned nargs, struct db_res *res, enum api_err notfound);

#endif
