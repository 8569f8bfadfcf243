#include "db.h"

#include "cfg.h"
#include "log.h"
#include "obs.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_MAX_STMTS 256
#define DB_MAX_ARGS 4096  /* multi-row statements (the worker's status flush) */
#define DB_STACK_ARGS 64  /* bound on the stack; more on the heap */

struct db_stmt {
	const struct db_query *q;
	MYSQL_STMT *stmt;
	unsigned long long used;   /* db->clock at the last use: the least recent goes when full */
};

struct db {
	MYSQL *conn;
	int in_txn;
	int was_connected;         /* a connection was made before (the next one is a reconnect) */
	unsigned last_errno;
	unsigned long long affected;
	unsigned long long insert_id;
	unsigned nstmts;
	unsigned long long clock;
	char dup_key[65];
	struct db_stmt stmts[DB_MAX_STMTS];
};

static void db_disconnect(struct db *db)
{
	for (unsigned i = 0; i < db->nstmts; i++)
		mysql_stmt_close(db->stmts[i].stmt);
	db->nstmts = 0;
	if (db->conn)
		mysql_close(db->conn);
	db->conn = NULL;
	db->in_txn = 0;
}

int db_hosts_parse(const char *list, struct db_host *out, int max, unsigned default_port)
{
	int n = 0;
	const char *p = list ? list : "";
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		const char *end = p + len;
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || n >= max)
			return -1;
		/* HOST, HOST:PORT, [V6], [V6]:PORT */
		const char *h = p, *colon;
		size_t hlen;
		if (*p == '[') {
			const char *rb = memchr(p, ']', len);
			if (!rb)
				return -1;
			h = p + 1;
			hlen = (size_t)(rb - h);
			colon = rb + 1 < p + len ? rb + 1 : NULL;
			if (colon && *colon != ':')
				return -1;
		} else {
			colon = memchr(p, ':', len);
			hlen = colon ? (size_t)(colon - p) : len;
			if (colon && memchr(colon + 1, ':', len - hlen - 1))
				return -1; /* a bare IPv6 address: write [ADDR]:PORT */
		}
		if (hlen == 0 || hlen >= sizeof out[n].host)
			return -1;
		unsigned long port = default_port;
		if (colon) {
			size_t plen = (size_t)(p + len - colon - 1);
			if (plen == 0 || plen > 5)
				return -1;
			port = 0;
			for (size_t i = 1; i <= plen; i++) {
				if (colon[i] < '0' || colon[i] > '9')
					return -1;
				port = port * 10 + (unsigned long)(colon[i] - '0');
			}
		}
		if (port == 0 || port > 65535)
			return -1;
		memcpy(out[n].host, h, hlen);
		out[n].host[hlen] = '\0';
		out[n].port = (unsigned)port;
		n++;
		if (!*end)
			return n;
		p = end + 1;
		while (*p == ' ' || *p == '\t')
			p++;
	}
}

/* The entry of db_hosts that answered last (this process): the next connection starts there.
 * Kept as text, so a reloaded list still finds it. */
static char host_ok[sizeof ((struct db_host *)0)->host + 8];
static char host_skip[sizeof host_ok]; /* answered "not ready" (1047): tried last */

static void host_key(const struct db_host *h, char *out, size_t size)
{
	int n = snprintf(out, size, "%s:%u", h->host, h->port);
	if (n < 0 || (size_t)n >= size)
		out[0] = '\0';
}

static MYSQL *connect_one(struct db *db, const char *host, unsigned port, const char *sock)
{
	MYSQL *m = mysql_init(NULL);
	if (!m)
		return NULL;
	long ct = cfg_int("db_connect_timeout", 2), rt = cfg_int("db_read_timeout", 300),
	     wt = cfg_int("db_write_timeout", 60);
	unsigned timeout = ct > 0 && ct < 3600 ? (unsigned)ct : 2;
	unsigned rd = rt > 0 && rt < 86400 ? (unsigned)rt : 0, wr = wt > 0 && wt < 86400 ? (unsigned)wt : 0;
	my_bool off = 0;
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	if (rd)
		mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rd);
	if (wr)
		mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &wr);
	mysql_options(m, MYSQL_OPT_RECONNECT, &off);
	mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(m, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
	if (!mysql_real_connect(m, host, cfg_str("db_user", "apf"), cfg_str("db_password", ""),
				cfg_str("db_name", "apf"), port, sock, 0)) {
		db->last_errno = mysql_errno(m);
		obs_db_error(OBS_DB_CONNECT);
		log_error("database connect failed (%s:%u): %s", sock ? sock : host, port,
			  mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

/* conf db_hosts: the entries in order, starting with the one that answered last and leaving
 * one that said "not ready" for the end; the first that connects wins. */
static MYSQL *connect_list(struct db *db, const char *list)
{
	struct db_host hosts[DB_HOSTS_MAX];
	int n = db_hosts_parse(list, hosts, DB_HOSTS_MAX, (unsigned)cfg_int("db_port", 3306));
	if (n <= 0) {
		log_error("conf db_hosts is not a list of HOST:PORT (at most %d): %s", DB_HOSTS_MAX,
			  list);
		return NULL;
	}
	int start = 0;
	char key[sizeof host_ok];
	for (int i = 0; i < n; i++) {
		host_key(&hosts[i], key, sizeof key);
		if (strcmp(key, host_ok) == 0)
			start = i;
	}
	int order[DB_HOSTS_MAX], k = 0, skipped = -1;
	for (int i = 0; i < n; i++) {
		int idx = (start + i) % n;
		host_key(&hosts[idx], key, sizeof key);
		if (skipped < 0 && strcmp(key, host_skip) == 0)
			skipped = idx;
		else
			order[k++] = idx;
	}
	if (skipped >= 0)
		order[k++] = skipped;
	for (int i = 0; i < k; i++) {
		MYSQL *m = connect_one(db, hosts[order[i]].host, hosts[order[i]].port, NULL);
		if (!m)
			continue;
		host_key(&hosts[order[i]], key, sizeof key);
		if (strcmp(key, host_ok) != 0) {
			if (host_ok[0])
				log_warn("database: now connected to %s (was %s)", key, host_ok);
			snprintf(host_ok, sizeof host_ok, "%s", key);
		}
		if (strcmp(key, host_skip) == 0)
			host_skip[0] = '\0';
		return m;
	}
	return NULL;
}

static enum api_err db_connect(struct db *db)
{
	if (db->conn)
		return E_OK;
	const char *list = cfg_str("db_hosts", NULL), *sock = cfg_str("db_socket", NULL);
	MYSQL *m = list ? connect_list(db, list)
			: connect_one(db, sock ? "localhost" : cfg_str("db_host", "127.0.0.1"),
				      (unsigned)cfg_int("db_port", 3306), sock);
	if (!m)
		return E_SERVICE_UNAVAILABLE;
	db->conn = m;
	obs_add(&obs_counters->db_connects, 1);
	if (db->was_connected)
		obs_add(&obs_counters->db_reconnects, 1);
	db->was_connected = 1;
	return E_OK;
}

struct db *db_open(void)
{
	return calloc(1, sizeof(struct db));
}

void db_close(struct db *db)
{
	if (!db)
		return;
	db_disconnect(db);
	free(db);
}

static int gone(unsigned e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
	       e == CR_CONN_HOST_ERROR || e == ER_CONNECTION_KILLED || e == ER_SERVER_SHUTDOWN ||
	       e == CR_COMMANDS_OUT_OF_SYNC;
}

/* 1047: a Galera node that is not part of the primary component, or not synced yet ("WSREP has
 * not yet prepared node for application use"): it answers but takes no statements. */
static int not_ready(unsigned e)
{
	return e == ER_UNKNOWN_COM_ERROR;
}

static int lock_conflict(unsigned e)
{
	return e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT;
}

static enum api_err map_error(struct db *db, unsigned e, const char *msg, const char *sql)
{
	db->last_errno = e;
	if (gone(e) || not_ready(e)) {
		obs_db_error(not_ready(e) ? OBS_DB_NOT_READY : OBS_DB_LOST);
		log_warn("database connection %s (%u): %s", not_ready(e) ? "to a node not ready" : "lost",
			 e, msg);
		if (not_ready(e) && host_ok[0]) /* the next connection tries the others first */
			snprintf(host_skip, sizeof host_skip, "%s", host_ok);
		db_disconnect(db);
		return E_SERVICE_UNAVAILABLE;
	}
	if (lock_conflict(e)) { /* expected under contention, and on Galera at commit */
		obs_db_error(OBS_DB_LOCK);
		log_warn("database lock conflict %u: %s [%.200s]", e, msg, sql);
		return E_INTERNAL_ERROR;
	}
	if (e == ER_DUP_ENTRY) {
		/* "Duplicate entry '...' for key 'uq_name'" (the last quoted name) */
		const char *k = strstr(msg, "for key '");
		const char *end = k ? strrchr(k + 9, '\'') : NULL;
		size_t n = end ? (size_t)(end - (k + 9)) : 0;
		if (n >= sizeof db->dup_key)
			n = 0;
		memcpy(db->dup_key, k ? k + 9 : "", n);
		db->dup_key[n] = '\0';
		return E_CONFLICT;
	}
	obs_db_error(OBS_DB_OTHER);
	log_error("database error %u: %s [%.200s]", e, msg, sql);
	return E_INTERNAL_ERROR;
}

/* The slot for a new statement: a free one, or the least recently used one, closed. */
static struct db_stmt *stmt_slot(struct db *db)
{
	if (db->nstmts < DB_MAX_STMTS)
		return &db->stmts[db->nstmts++];
	struct db_stmt *old = &db->stmts[0];
	for (unsigned i = 1; i < db->nstmts; i++)
		if (db->stmts[i].used < old->used)
			old = &db->stmts[i];
	mysql_stmt_close(old->stmt);
	return old;
}

static MYSQL_STMT *stmt_for(struct db *db, const struct db_query *q, enum api_err *err)
{
	db->clock++;
	for (unsigned i = 0; i < db->nstmts; i++) {
		if (db->stmts[i].q == q) {
			db->stmts[i].used = db->clock;
			return db->stmts[i].stmt;
		}
	}
	MYSQL_STMT *st = mysql_stmt_init(db->conn);
	if (!st) {
		*err = E_INTERNAL_ERROR;
		return NULL;
	}
	my_bool on = 1;
	mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
	if (mysql_stmt_prepare(st, q->sql, (unsigned long)strlen(q->sql))) {
		*err = map_error(db, mysql_stmt_errno(st), mysql_stmt_error(st), q->sql);
		mysql_stmt_close(st);
		return NULL;
	}
	struct db_stmt *slot = stmt_slot(db);
	slot->q = q;
	slot->stmt = st;
	slot->used = db->clock;
	return st;
}

static void res_init(struct db_res *res)
{
	memset(res, 0, sizeof *res);
}

void db_res_free(struct db_res *res)
{
	if (!res)
		return;
	free(res->cells);
	free(res->lens);
	free(res->mem);
	free(res->names);
	res_init(res);
}

static enum api_err fetch_all(struct db *db, MYSQL_STMT *st, MYSQL_RES *meta, struct db_res *res,
			      const char *sql)
{
	enum api_err err = E_OK;
	if (mysql_stmt_store_result(st))
		return map_error(db, mysql_stmt_errno(st), mysql_stmt_error(st), sql);
	unsigned ncols = mysql_num_fields(meta);
	MYSQL_FIELD *fields = mysql_fetch_fields(meta);
	unsigned long nrows = (unsigned long)mysql_stmt_num_rows(st);
	size_t rowsize = 0;
	unsigned long *width = calloc(ncols ? ncols : 1, sizeof *width);
	MYSQL_BIND *bind = calloc(ncols ? ncols : 1, sizeof *bind);
	my_bool *isnull = calloc(ncols ? ncols : 1, sizeof *isnull);
	res->names = calloc(ncols ? ncols : 1, sizeof *res->names);
	if (!width || !bind || !isnull || !res->names) {
		err = E_INTERNAL_ERROR;
		goto out;
	}
	for (unsigned c = 0; c < ncols; c++) {
		unsigned long w = fields[c].max_length;
		if (w < 64)
			w = 64; /* numeric and temporal text forms */
		width[c] = w + 1;
		rowsize += width[c];
		res->names[c] = fields[c].name;
	}
	res->ncols = ncols;
	res->nrows = nrows;
	res->cells = calloc(nrows * ncols + 1, sizeof *res->cells);
	res->lens = calloc(nrows * ncols + 1, sizeof *res->lens);
	res->mem = malloc(rowsize * nrows + 1);
	if (!res->cells || !res->lens || !res->mem) {
		err = E_INTERNAL_ERROR;
		goto out;
	}
	for (unsigned long r = 0; r < nrows; r++) {
		char *p = res->mem + rowsize * r;
		for (unsigned c = 0; c < ncols; c++) {
			memset(&bind[c], 0, sizeof bind[c]);
			bind[c].buffer_type = MYSQL_TYPE_STRING;
			bind[c].buffer = p;
			bind[c].buffer_length = width[c];
			bind[c].length = &res->lens[r * ncols + c];
			bind[c].is_null = &isnull[c];
			res->cells[r * ncols + c] = p;
			p += width[c];
		}
		if (mysql_stmt_bind_result(st, bind)) {
			err = map_error(db, mysql_stmt_errno(st), mysql_stmt_error(st), sql);
			goto out;
		}
		int rc = mysql_stmt_fetch(st);
		if (rc == 1 || rc == MYSQL_NO_DATA || rc == MYSQL_DATA_TRUNCATED) {
			log_error("fetch failed (rc %d) [%.200s]", rc, sql);
			err = E_INTERNAL_ERROR;
			goto out;
		}
		for (unsigned c = 0; c < ncols; c++) {
			char *cell = res->cells[r * ncols + c];
			if (isnull[c])
				res->cells[r * ncols + c] = NULL;
			else
				cell[res->lens[r * ncols + c]] = '\0';
		}
	}
out:
	free(width);
	free(bind);
	free(isnull);
	mysql_stmt_free_result(st);
	return err;
}

static enum api_err exec_once(struct db *db, const struct db_query *q, const struct db_arg *args,
			      unsigned nargs, struct db_res *res)
{
	enum api_err err = db_connect(db);
	if (err)
		return err;
	MYSQL_STMT *st = stmt_for(db, q, &err);
	if (!st)
		return err;
	if (nargs != mysql_stmt_param_count(st) || nargs > DB_MAX_ARGS) {
		log_error("query wants %lu arguments, got %u [%.200s]", mysql_stmt_param_count(st),
			  nargs, q->sql);
		return E_INTERNAL_ERROR;
	}
	MYSQL_BIND sbind[DB_STACK_ARGS];
	unsigned long slens[DB_STACK_ARGS];
	MYSQL_BIND *bind = sbind;
	unsigned long *lens = slens;
	if (nargs > DB_STACK_ARGS) {
		bind = calloc(nargs, sizeof *bind);
		lens = calloc(nargs, sizeof *lens);
		if (!bind || !lens) {
			free(bind);
			free(lens);
			return E_INTERNAL_ERROR;
		}
	}
	memset(bind, 0, sizeof(MYSQL_BIND) * (nargs ? nargs : 1));
	for (unsigned i = 0; i < nargs; i++) {
		switch (args[i].t) {
		case DB_NULL:
			bind[i].buffer_type = MYSQL_TYPE_NULL;
			break;
		case DB_STR:
			lens[i] = (unsigned long)strlen(args[i].s);
			bind[i].buffer_type = MYSQL_TYPE_STRING;
			bind[i].buffer = (void *)args[i].s;
			bind[i].buffer_length = lens[i];
			bind[i].length = &lens[i];
			break;
		case DB_INT:
			bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
			bind[i].buffer = (void *)&args[i].i;
			break;
		case DB_DBL:
			bind[i].buffer_type = MYSQL_TYPE_DOUBLE;
			bind[i].buffer = (void *)&args[i].d;
			break;
		}
	}
	int failed = (nargs && mysql_stmt_bind_param(st, bind)) || mysql_stmt_execute(st);
	if (bind != sbind) {
		free(bind);
		free(lens);
	}
	if (failed)
		return map_error(db, mysql_stmt_errno(st), mysql_stmt_error(st), q->sql);
	db->affected = mysql_stmt_affected_rows(st);
	db->insert_id = mysql_stmt_insert_id(st);
	MYSQL_RES *meta = mysql_stmt_result_metadata(st);
	if (!meta)
		return E_OK;
	if (res)
		err = fetch_all(db, st, meta, res, q->sql);
	else
		mysql_stmt_free_result(st);
	mysql_free_result(meta);
	return err;
}

enum api_err db_exec(struct db *db, const struct db_query *q, const struct db_arg *args,
		     unsigned nargs, struct db_res *res)
{
	if (res)
		res_init(res);
	db->last_errno = 0;
	db->dup_key[0] = '\0';
	int was_connected = db->conn != NULL, in_txn = db->in_txn;
	enum api_err err = exec_once(db, q, args, nargs, res);
	/* One retry on a connection that went away between requests; never inside a transaction,
	 * whose earlier statements are lost with the connection. */
	if (err == E_SERVICE_UNAVAILABLE && was_connected && !in_txn) {
		if (res)
			db_res_free(res);
		err = exec_once(db, q, args, nargs, res);
	}
	/* An autocommit statement that lost a deadlock (on Galera: failed certification) was rolled
	 * back whole: it runs again, at most DB_TXN_ATTEMPTS times in all. */
	for (int i = 1; i < DB_TXN_ATTEMPTS && !in_txn && err == E_INTERNAL_ERROR &&
			db->last_errno == ER_LOCK_DEADLOCK; i++) {
		if (res)
			db_res_free(res);
		err = exec_once(db, q, args, nargs, res);
	}
	if (err && res)
		db_res_free(res);
	return err;
}

enum api_err db_exec_text(struct db *db, const char *sql)
{
	enum api_err err = db_connect(db);
	if (err)
		return err;
	if (mysql_real_query(db->conn, sql, (unsigned long)strlen(sql)))
		return map_error(db, mysql_errno(db->conn), mysql_error(db->conn), sql);
	/* Drain every result of a multi-statement text. */
	do {
		MYSQL_RES *r = mysql_store_result(db->conn);
		if (r)
			mysql_free_result(r);
		else if (mysql_field_count(db->conn) != 0)
			return map_error(db, mysql_errno(db->conn), mysql_error(db->conn), sql);
	} while (mysql_next_result(db->conn) == 0);
	if (mysql_errno(db->conn))
		return map_error(db, mysql_errno(db->conn), mysql_error(db->conn), sql);
	db->affected = mysql_affected_rows(db->conn);
	return E_OK;
}

enum api_err db_begin(struct db *db)
{
	if (db->in_txn) { /* START TRANSACTION would commit the open one: a caller's bug */
		log_error("db_begin inside an open transaction refused");
		return E_INTERNAL_ERROR;
	}
	enum api_err err = db_connect(db);
	if (err)
		return err;
	if (mysql_query(db->conn, "START TRANSACTION")) {
		unsigned e = mysql_errno(db->conn);
		err = map_error(db, e, mysql_error(db->conn), "START TRANSACTION");
		if (err == E_SERVICE_UNAVAILABLE) { /* connection was stale: one fresh try */
			err = db_connect(db);
			if (err || mysql_query(db->conn, "START TRANSACTION"))
				return err ? err : E_SERVICE_UNAVAILABLE;
		} else {
			return err;
		}
	}
	db->in_txn = 1;
	return E_OK;
}

enum api_err db_commit(struct db *db)
{
	if (!db->conn)
		return E_SERVICE_UNAVAILABLE;
	db->in_txn = 0;
	if (mysql_commit(db->conn))
		return map_error(db, mysql_errno(db->conn), mysql_error(db->conn), "COMMIT");
	return E_OK;
}

void db_rollback(struct db *db)
{
	if (db->conn && mysql_rollback(db->conn))
		map_error(db, mysql_errno(db->conn), mysql_error(db->conn), "ROLLBACK");
	db->in_txn = 0;
}

int db_in_txn(const struct db *db)
{
	return db->in_txn;
}

int db_lock_conflict(const struct db *db, enum api_err err)
{
	return err == E_INTERNAL_ERROR && lock_conflict(db->last_errno);
}

int db_not_applied(const struct db *db, enum api_err err, int at_commit)
{
	if (db_lock_conflict(db, err))
		return 1;
	/* a node not ready commits nothing; a connection lost before COMMIT was sent took its
	 * transaction with it (lost during COMMIT: the outcome is unknown) */
	return err == E_SERVICE_UNAVAILABLE &&
	       (not_ready(db->last_errno) || (!at_commit && gone(db->last_errno)));
}

enum api_err db_txn(struct db *db, db_txn_fn fn, void *ctx)
{
	enum api_err err = E_INTERNAL_ERROR;
	for (int attempt = 1; attempt <= DB_TXN_ATTEMPTS; attempt++) {
		if ((err = db_begin(db)) != E_OK)
			return err;
		err = fn(db, ctx);
		int at_commit = err == E_OK;
		if (at_commit)
			err = db_commit(db);
		int again = db_not_applied(db, err, at_commit);
		if (db->in_txn)
			db_rollback(db);
		if (!again)
			break;
		if (attempt < DB_TXN_ATTEMPTS)
			log_warn("transaction not applied (%u); running it again", db->last_errno);
	}
	return err;
}

/* Interned texts: open addressing on an FNV-1a hash; entries live as long as the process. */
static struct db_query *texts[DB_MAX_TEXTS * 2];
static unsigned ntexts;

static unsigned long text_hash(const char *s)
{
	unsigned long h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

const struct db_query *db_intern(const char *sql)
{
	const size_t nslots = sizeof texts / sizeof texts[0];
	size_t i = text_hash(sql) % nslots;
	for (; texts[i]; i = (i + 1) % nslots)
		if (strcmp(texts[i]->sql, sql) == 0)
			return texts[i];
	if (ntexts >= DB_MAX_TEXTS) {
		log_error("more than %d assembled statement texts [%.200s]", DB_MAX_TEXTS, sql);
		return NULL;
	}
	size_t n = strlen(sql) + 1;
	struct db_query *q = malloc(sizeof *q + n);
	if (!q)
		return NULL;
	char *text = (char *)(q + 1);
	memcpy(text, sql, n);
	q->sql = text;
	texts[i] = q;
	ntexts++;
	return q;
}

unsigned long long db_affected(const struct db *db)
{
	return db->affected;
}

unsigned long long db_insert_id(const struct db *db)
{
	return db->insert_id;
}

unsigned db_errno(const struct db *db)
{
	return db->last_errno;
}

const char *db_dup_key(const struct db *db)
{
	return db->dup_key;
}

enum api_err db_ping(struct db *db)
{
	enum api_err err = db_connect(db);
	if (err)
		return err;
	if (mysql_ping(db->conn)) {
		db_disconnect(db);
		return db_connect(db);
	}
	return E_OK;
}

const char *db_get(const struct db_res *res, unsigned long row, unsigned col)
{
	if (!res || row >= res->nrows || col >= res->ncols)
		return NULL;
	return res->cells[row * res->ncols + col];
}

char *db_copy(char *dst, size_t size, const struct db_res *res, unsigned long row, unsigned col)
{
	const char *s = db_get(res, row, col);
	snprintf(dst, size, "%s", s ? s : "");
	return dst;
}

long long db_get_int(const struct db_res *res, unsigned long row, unsigned col, long long def)
{
	const char *s = db_get(res, row, col);
	if (!s || !*s)
		return def;
	char *end;
	long long v = strtoll(s, &end, 10);
	return *end && *end != '.' ? def : v;
}
