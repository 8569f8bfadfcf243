/* db.h - MariaDB access through prepared statements only.
 *
 * Each query is a `static const struct db_query Q_NAME = { "SQL with ?" };` at the top of the
 * file that uses it. The connection caches one prepared statement per query object (keyed by
 * its address), re-prepared after a reconnect. Arguments are passed as an array of db_arg built
 * with DS/DI/DD/DNULL; results come back as text cells (NULL for SQL NULL), converted to JSON by
 * the column maps in jhelp.h.
 *
 * Statements whose text is assembled at run time (common/sqlb.h) go through db_intern, which
 * gives each distinct text one query object for the life of the process, so the cache holds one
 * prepared statement per text. The cache keeps the most recently used statements when full.
 *
 * Errors: E_SERVICE_UNAVAILABLE when the server cannot be reached (the connection is retried
 * once on "server gone" outside a transaction), E_CONFLICT on a duplicate key (handlers map it
 * to their own code; db_dup_key names the unique key), E_INTERNAL_ERROR otherwise (logged; text
 * never shown to clients). A deadlock or lock-wait timeout is E_INTERNAL_ERROR too; db_txn runs
 * a transaction again after one, and an autocommit statement (outside a transaction) that lost
 * a deadlock runs again by itself. On Galera a commit that fails certification is such a
 * deadlock (1213), and a node outside the primary component answers 1047, which is handled as
 * a lost connection (E_SERVICE_UNAVAILABLE; the next connection tries the other db_hosts
 * first). docs/scale-out.md "Database".
 *
 * Servers: conf db_hosts = HOST:PORT,... (Galera nodes or HAProxy addresses) — the first that
 * answers, starting with the one that answered last in this process, within conf
 * db_connect_timeout seconds each (default 2); else db_socket, or db_host:db_port. Reads and
 * writes on the connection time out after conf db_read_timeout (default 300) / db_write_timeout
 * (default 60) seconds (0: never). */
#ifndef APF_DB_H
#define APF_DB_H

#include "err.h"

#include <stddef.h>

struct db;

struct db_query {
	const char *sql;
};

enum db_type { DB_NULL, DB_STR, DB_INT, DB_DBL };

struct db_arg {
	enum db_type t;
	const char *s;
	long long i;
	double d;
};

static inline struct db_arg db_str_arg(const char *s)
{
	struct db_arg a = { .t = s ? DB_STR : DB_NULL, .s = s };
	return a;
}
#define DS(x) db_str_arg(x)
#define DI(x) ((struct db_arg){ .t = DB_INT, .i = (long long)(x) })
#define DD(x) ((struct db_arg){ .t = DB_DBL, .d = (double)(x) })
#define DNULL ((struct db_arg){ .t = DB_NULL })

/* A result set, owned by the caller; release with db_res_free. */
struct db_res {
	unsigned long nrows;
	unsigned ncols;
	char **cells;          /* nrows * ncols, row-major; NULL = SQL NULL */
	unsigned long *lens;
	char *mem;
	const char **names;    /* column names, ncols */
};

/* Opens a connection from the configuration (cfg.h). Returns NULL when out of memory; the
 * connection itself is made lazily and re-made after the server went away. */
struct db *db_open(void);
void db_close(struct db *db);

/* Executes q with args (may be NULL when nargs is 0). When res is non-NULL and the statement
 * returns rows, fills *res (always initialised, also on error). */
enum api_err db_exec(struct db *db, const struct db_query *q, const struct db_arg *args,
		     unsigned nargs, struct db_res *res);

#define DB_ARGS(...) (const struct db_arg[]){ __VA_ARGS__ }, \
	(unsigned)(sizeof((const struct db_arg[]){ __VA_ARGS__ }) / sizeof(struct db_arg))

/* Executes a plain SQL text without parameters (migrations, admin); no rows returned. */
enum api_err db_exec_text(struct db *db, const char *sql);

enum api_err db_begin(struct db *db);
enum api_err db_commit(struct db *db);
void db_rollback(struct db *db);
int db_in_txn(const struct db *db);

/* The one transaction runner: begin, fn(db, ctx), commit (rollback when fn fails). When the
 * attempt lost a deadlock or waited out a lock (ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT) against
 * another transaction, MariaDB rolled its work back, so it runs again from the start, at most
 * DB_TXN_ATTEMPTS times in all. fn must therefore change nothing outside the database before
 * it returns (side effects belong after db_txn), and start each attempt from its own inputs.
 * Returns fn's error, the commit's, or the last attempt's. */
#define DB_TXN_ATTEMPTS 3
typedef enum api_err (*db_txn_fn)(struct db *db, void *ctx);
enum api_err db_txn(struct db *db, db_txn_fn fn, void *ctx);
/* 1 when err came from a deadlock or lock-wait timeout. */
int db_lock_conflict(const struct db *db, enum api_err err);
/* 1 when the transaction that failed with err certainly left nothing behind, so that running
 * it again is safe (what db_txn runs again after): a lock conflict, a node not ready (1047), or
 * a connection lost before the COMMIT (at_commit 0: err came from a statement, not the COMMIT). */
int db_not_applied(const struct db *db, enum api_err err, int at_commit);

/* One entry of conf db_hosts. */
#define DB_HOSTS_MAX 16
struct db_host {
	char host[256];
	unsigned port;
};
/* Parses "HOST[:PORT],..." (spaces around entries allowed; an IPv6 address as [ADDR]:PORT; no
 * port: default_port) into out. Returns the number of entries (0 for an empty list), or -1 for
 * an empty entry or host, a port outside 1..65535, or more than max entries. */
int db_hosts_parse(const char *list, struct db_host *out, int max, unsigned default_port);

/* The query object of an assembled SQL text: the same object for equal texts, for the life of
 * the process (so one prepared statement per text). NULL when out of memory or when more than
 * DB_MAX_TEXTS distinct texts were interned (logged: the set of texts is finite by design). */
#define DB_MAX_TEXTS 2048
const struct db_query *db_intern(const char *sql);

unsigned long long db_affected(const struct db *db);
unsigned long long db_insert_id(const struct db *db);
/* MariaDB error number of the last failed call (0 when none). */
unsigned db_errno(const struct db *db);
/* After E_CONFLICT: the name of the unique key the duplicate hit ("uq_printers_account_name"),
 * "" when unknown. */
const char *db_dup_key(const struct db *db);
/* Checks that the server answers (reconnecting if needed). */
enum api_err db_ping(struct db *db);

void db_res_free(struct db_res *res);
/* Cell text or NULL (SQL NULL or out of range). */
const char *db_get(const struct db_res *res, unsigned long row, unsigned col);
/* Copies the cell's text (or "" for NULL) into dst; returns dst. */
char *db_copy(char *dst, size_t size, const struct db_res *res, unsigned long row, unsigned col);
#define DB_COPY(dst, res, row, col) db_copy((dst), sizeof(dst), (res), (row), (col))
/* Cell as integer; def when NULL or not a number. */
long long db_get_int(const struct db_res *res, unsigned long row, unsigned col, long long def);

#endif
