/* fixture.h - test data for the API tests. Rows are made the way an operator makes them, with
 * `$APF_BIN/apf-admin ... --json`; state the public API cannot set (hub presence, a printer's
 * stored status, discovery results, timestamps) is tweaked directly in MariaDB through
 * common/db.c. Every test makes its own account(s), so tests are independent of each other
 * and of other data in the database. */
#ifndef APF_API_FIXTURE_H
#define APF_API_FIXTURE_H

#include "db.h"

#include <jansson.h>
#include <sys/types.h>

#define FX_ID 64
#define FX_KEY 80

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

/* Each returns 0, or -1 after printing why (and records a CUnit failure). */
int fx_account(char id[FX_ID]);
/* scopes "read,write,control"; rate_limit 0 = the configured default; expires_at NULL = never. */
int fx_key(const char *account, const char *scopes, long rate_limit, const char *expires_at,
	   char key[FX_KEY], char key_id[FX_ID]);
int fx_key_revoke(const char *key_id);
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

/* A short random suffix for unique names ("a1b2c3d4"). */
const char *fx_tag(char out[9]);

/* pid of a stack service from $var_dir/run/<name>.pid (scripts/stack.sh), 0 when none. */
pid_t fx_service_pid(const char *service);
/* 1 when pid runs and is not a zombie (a stopped service waits for its reaper, not us). */
int fx_alive(pid_t pid);
/* 0 once pid is gone, -1 when it still runs after ms. */
int fx_wait_gone(pid_t pid, long ms);

#endif
