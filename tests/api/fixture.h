/* fixture.h - test data for the API tests. Rows are made the way an operator makes them, with
 * `$APF_BIN/apf-admin ... --json`; state the public API cannot set (hub presence, a printer's
 * stored status, discovery results, timestamps) is tweaked directly in MariaDB through
 * common/db.c. Print files are uploaded the way a client uploads them, through the API (upload
 * URL, PUT, POST /files). Every test makes its own account(s), so tests are independent of each
 * other and of other data in the database. */
#ifndef APF_API_FIXTURE_H
#define APF_API_FIXTURE_H

#include "db.h"
#include "storage.h"
#include "uptoken.h"

#include <jansson.h>
#include <sys/types.h>

#define FX_ID 64
#define FX_KEY 80

struct resp;

/* An account and one API key of it. */
struct tenant {
	char account[FX_ID];
	char key[FX_KEY];
	char key_id[FX_ID];
};

/* Loads $APF_CONF, opens the database. 0 or -1. */
int fx_init(void);
void fx_cleanup(void);

/* Runs `apf-admin ARGS... --json` (args: a NULL-terminated array). Returns the parsed JSON
 * object (caller decrefs) or NULL after printing the failure. */
json_t *fx_admin(const char *const *args);
#define FX_ADMIN(...) fx_admin((const char *const[]){ __VA_ARGS__, NULL })
/* As fx_admin, but a non-zero exit is no failure: *exit_status says it; returns the JSON object
 * apf-admin printed, or NULL. */
json_t *fx_admin_exit(const char *const *args, int *exit_status);
/* After a test wrote a stock counter with SQL (a fixture state the API cannot make): records the
 * difference in the stock ledger (`apf-admin stock reconcile`), so the ledger keeps agreeing with
 * every counter (the "ledger" suite verifies all of them after the other suites). 0 or -1. */
int fx_stock_reconcile(const char *account);
/* A schema statement (a test trigger) as conf db_migrate_user: the runtime user cannot change
 * the schema. 0, or -1 (a CUnit failure recorded). */
int fx_schema_sql(const char *sql);

/* Each returns 0, or -1 after printing why (and records a CUnit failure). */
int fx_account(char id[FX_ID]);
/* scopes "read,write,control"; rate_limit 0 = the configured default; expires_at NULL = never. */
int fx_key(const char *account, const char *scopes, long rate_limit, const char *expires_at,
	   char key[FX_KEY], char key_id[FX_ID]);
int fx_key_revoke(const char *key_id);
/* Waits out the time a key change (revocation, expiry, rotation) takes to reach every API
 * host and FastCGI child: their key records are read again after 0.5 s (docs/hot-path.md);
 * the API promises 1 s. */
void fx_key_settle(void);
/* New account and a key with scopes (rate limit high enough for any test). */
int fx_tenant(struct tenant *t, const char *scopes);
/* Another key of t's account. */
int fx_tenant_key(const struct tenant *t, const char *scopes, char key[FX_KEY]);
int fx_hub(const char *account, const char *name, char id[FX_ID]);
int fx_printer(const char *account, const char *hub, const char *name, const char *model,
	       char id[FX_ID]);

/* Hub presence: online with a heartbeat `seconds_ago` seconds ago; offline keeps last_seen. */
int fx_hub_online(const char *hub, int seconds_ago);
int fx_hub_offline(const char *hub);
/* A printer's stored status. */
int fx_printer_status(const char *printer, const char *status);

/* A statement of the tests' own (static struct db_query) with arguments: 0 or -1. */
int fx_sql(const struct db_query *q, const struct db_arg *args, unsigned nargs);
#define FX_SQL(q, ...) fx_sql(&(q), DB_ARGS(__VA_ARGS__))
/* The same without telling the API host (no notice "*"): a change made by a program that does
 * not notify, which the hosts see within their records' lifetime only (docs/hot-path.md). */
int fx_sql_quiet(const struct db_query *q, const struct db_arg *args, unsigned nargs);
#define FX_SQL_QUIET(q, ...) fx_sql_quiet(&(q), DB_ARGS(__VA_ARGS__))
/* First cell of the first row as text into out (size bytes); "" for NULL. 0, or -1 after
 * recording a CUnit failure: the statement failed or found no row (a row the caller reads must
 * exist). fx_sql_text_at names the caller's file and line in the failure (FX_TEXT does). */
int fx_sql_text(const struct db_query *q, const struct db_arg *args, unsigned nargs, char *out,
		size_t size);
int fx_sql_text_at(const char *file, unsigned line, const struct db_query *q,
		   const struct db_arg *args, unsigned nargs, char *out, size_t size);
#define FX_TEXT(out, q, ...) \
	fx_sql_text_at(__FILE__, __LINE__, &(q), DB_ARGS(__VA_ARGS__), out, sizeof(out))
/* For a caller that polls for a row which may not exist yet (a queue job, an outcome): as
 * fx_sql_text, but no row is no failure. 0 (row), 1 (no row yet, out ""), -1 (the statement
 * failed; failure recorded). A caller still fails its check at its deadline. */
int fx_sql_text_poll(const struct db_query *q, const struct db_arg *args, unsigned nargs,
		     char *out, size_t size);
#define FX_TEXT_POLL(out, q, ...) fx_sql_text_poll(&(q), DB_ARGS(__VA_ARGS__), out, sizeof(out))

/* Makes sure at least `need` seconds remain in the current minute (a fixed 60-second rate
 * window, docs/testing.md), sleeping into the next one otherwise. */
void fx_window_edge(int need);

/* tmpl with its "{id}" replaced by id, into out; returns out. */
const char *fx_fill(char *out, size_t size, const char *tmpl, const char *id);
/* A new random UUID into id: 0 or -1. */
int fx_uuid(char id[FX_ID]);
/* The first cell of q(id) as a number, or -1 (failure noted). */
long long fx_count(const struct db_query *q, const char *id);
/* POST path body with key must answer 201 with data.id: the id into id. 0, or -1 (noted). */
int fx_created(const char *key, const char *path, const char *body, char id[FX_ID]);
/* A short random suffix for unique names ("a1b2c3d4"). */
const char *fx_tag(char out[9]);

/* pid of a stack service from $var_dir/run/<name>.pid (scripts/stack.sh), 0 when none. */
pid_t fx_service_pid(const char *service);
/* 1 when pid runs and is not a zombie (a stopped service waits for its reaper, not us). */
int fx_alive(pid_t pid);
/* 0 once pid is gone, -1 when it still runs after ms. */
int fx_wait_gone(pid_t pid, long ms);

/* ------------------------------------------------------------------ files through the API */

/* A file of the fixtures folder: $APF_FIXTURES, default ../shared/fixtures/files (the tests run
 * from the repo root). FX_BLOB(b) frees it when b goes out of scope. */
struct fx_blob {
	char *data;
	size_t len;
};
void fx_blob_free(struct fx_blob *b);
#define FX_BLOB(name) struct fx_blob name __attribute__((cleanup(fx_blob_free))) = { 0 }
/* The whole fixture file name into b. 0, or -1 (failure recorded). */
int fx_read_fixture(const char *name, struct fx_blob *b);

/* A multipart/form-data body (sent with Content-Type FX_MULTIPART_TYPE) with one file part
 * named field, declaring part_type (NULL: application/octet-stream). malloc'd; NULL when out
 * of memory. */
#define FX_MULTIPART_BOUNDARY "apfTestBoundary7MA4YWxkTrZu0gW"
#define FX_MULTIPART_TYPE "multipart/form-data; boundary=" FX_MULTIPART_BOUNDARY
char *fx_multipart(const char *field, const char *filename, const char *part_type,
		   const void *data, size_t len, size_t *out_len);

/* An upload URL granted by POST /files/upload-url. */
struct fx_upload {
	char file_id[FX_ID];
	char key[STORAGE_KEY_MAX + 1]; /* its storage_key */
	char token[UPTOKEN_MAX];
	char path[UPTOKEN_MAX + 32];   /* "/files/upload/<token>", below base_url (struct call) */
};
/* An upload URL for filename. 0, or -1 (failure recorded: no 200 with file_id, storage_key and
 * upload_token). */
int fx_upload_url(const char *key, const char *filename, struct fx_upload *u);
/* PUT of data to path (below base_url) as application/octet-stream. r holds the answer;
 * returns its status. */
long fx_put(const char *key, const char *path, const void *data, size_t len, struct resp *r);
/* POST /files of an uploaded storage key under name; extra_json: more members
 * ("\"number_of_units\":4") or NULL. r holds the answer; returns its status. */
long fx_create_file(const char *key, const char *name, const char *storage_key,
		    const char *extra_json, struct resp *r);
/* Upload URL and PUT of the fixture file `fixture` under filename (NULL: the fixture's own
 * name), for a new file or a new version. 0, or -1 (failure recorded). */
int fx_upload(const char *key, const char *fixture, const char *filename, struct fx_upload *u);
/* The same, then POST /files under that name: the new file's id. 0, or -1 (failure recorded). */
int fx_file(const char *key, const char *fixture, const char *name, char id[FX_ID]);

/* Named entries of {file_store}/.tmp (the store's fallback temporaries, and the name a commit
 * gives its unnamed one just before the rename). */
int fx_store_tmp_entries(void);

#endif
