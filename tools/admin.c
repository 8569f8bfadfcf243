/* admin.c - apf-admin, the dashboard's jobs for sysadmins and tests (spec: operations.md).
 *
 * Two tables drive everything: `options[]` describes every option once (value kind, limits,
 * allowed values) and `commands[]` lists every subcommand with its handler, required and optional
 * options, positional argument, help line and human output template. One parser checks the
 * command line against them (unknown or misplaced option, missing value, bad UUID, ...), then
 * checks that the referenced account / user / hub exist, so handlers hold only their command's
 * work. A handler leaves its result in c->out; main prints it as one JSON object (--json) or as
 * one line per result through the row's template. Exit 0 on success, 1 on a failure, 2 on a
 * usage error; every message goes to stderr. */
#include "apikey.h"
#include "b64.h"
#include "cfg.h"
#include "db.h"
#include "dynsec.h"
#include "err.h"
#include "fields.h"
#include "hubcmd.h"
#include "instpath.h"
#include "jhelp.h"
#include "log.h"
#include "queue.h"
#include "sqlfrag.h"
#include "uploads.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef QUEUE_HUB_COMMANDS
#define QUEUE_HUB_COMMANDS "HUB_COMMANDS"
#endif

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define MAX_WORDS 8
#define MAX_SQL_FILE (16 * 1024 * 1024)
#define PRINTER_NAME_MAX 120
#define KEY_PREFIX_SHOWN 12
#define HUB_PASSWORD_BYTES 32

/* ------------------------------------------------------------------------------- queries */

static const struct db_query Q_ACCOUNT_EXISTS = { "SELECT id FROM accounts WHERE id = ?" };
static const struct db_query Q_USER_EXISTS = {
	"SELECT id FROM users WHERE id = ? AND account_id = ?"
};
static const struct db_query Q_HUB_EXISTS = {
	"SELECT id FROM hubs WHERE id = ? AND account_id = ?"
};

static const struct db_query Q_ACCOUNT_INSERT = {
	"INSERT INTO accounts (id, name) VALUES (?, ?)"
};

static const struct db_query Q_USER_INSERT = {
	"INSERT INTO users (id, account_id, email, role) VALUES (?, ?, ?, ?)"
};

static const struct db_query Q_KEY_INSERT = {
	"INSERT INTO api_keys (id, account_id, user_id, name, key_hash, key_prefix, scopes,"
	" rate_limit, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
};
/* Revoking twice keeps the first time. */
static const struct db_query Q_KEY_REVOKE = {
	"UPDATE api_keys SET revoked_at = IFNULL(revoked_at, NOW(3)) WHERE id = ?"
};

static const struct db_query Q_HUB_INSERT = {
	"INSERT INTO hubs (id, account_id, name, mqtt_password_hash, claimed_at)"
	" VALUES (?, ?, ?, ?, NOW(3))"
};
/* docs/scale-out.md ("Broker credentials"): a revoked hub keeps its row, not its password */
static const struct db_query Q_HUB_REVOKE = {
	"UPDATE hubs SET mqtt_password_hash = NULL, updated_at = NOW(3) WHERE id = ?"
};
static const struct db_query Q_HUB_SET_ONLINE = {
	"UPDATE hubs SET is_online = ?, last_seen_at = NOW(3), updated_at = NOW(3) WHERE id = ?"
};

static const struct db_query Q_PRINTER_INSERT = {
	"INSERT INTO printers (id, account_id, hub_id, name, model, connection_type, serial_number,"
	" ip_address, access_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
};

/* Worklist default assignees (docs/worklist.md): one user per task type and account. */
static const struct db_query Q_DEFAULT_SET = {
	"INSERT INTO task_assignment_defaults (id, account_id, task_type, user_id) VALUES (?, ?, ?, ?)"
	" ON DUPLICATE KEY UPDATE user_id = VALUES(user_id), updated_at = NOW(3)"
};
static const struct db_query Q_DEFAULT_CLEAR = {
	"DELETE FROM task_assignment_defaults WHERE account_id = ? AND task_type = ?"
};

static const struct db_query Q_MIG_LOCK = { "SELECT GET_LOCK('apf-migrate', 60)" };
static const struct db_query Q_MIG_UNLOCK = { "SELECT RELEASE_LOCK('apf-migrate')" };
static const struct db_query Q_MIG_TABLE = {
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version VARCHAR(255) NOT NULL PRIMARY KEY,"
	" applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
};
static const struct db_query Q_MIG_DONE = { "SELECT version FROM schema_migrations" };
static const struct db_query Q_MIG_RECORD = {
	"INSERT INTO schema_migrations (version, applied_at) VALUES (?, NOW(3))"
};

/* ------------------------------------------------------------------------------ outputs */

/* What a command prints: field rows in the operator view (common/fields.h) give both the SELECT
 * list and the JSON member of each column, so no column list is kept in step with another by
 * hand; `from` follows the SELECT list, its ?s bound to the command's arguments. */
struct output {
	const struct rfield *fields;
	const char *from;
};
#define COL(name, out) RES_FIELD(name, #name, out, NONE, RF_ADMIN)
#define COLX(name, sql, out) RES_FIELD(name, sql, out, NONE, RF_ADMIN)

static const struct rfield F_ACCOUNT[] = {
	COL(id, STR) COL(name, STR) COL(created_at, TIME) RES_FIELD_END
};
static const struct output OUT_ACCOUNT = { F_ACCOUNT, " FROM accounts WHERE id = ?" };

static const struct rfield F_USER[] = {
	COL(id, STR) COL(account_id, STR) COL(email, STR) COL(role, STR) RES_FIELD_END
};
static const struct output OUT_USER = { F_USER, " FROM users WHERE id = ?" };

static const struct rfield F_KEY[] = {
	COL(id, STR) COL(name, STR) COL(scopes, STR) COL(expires_at, TIME) COL(rate_limit, INT)
	RES_FIELD_END
};
static const struct output OUT_KEY = { F_KEY, " FROM api_keys WHERE id = ?" };
static const struct rfield F_KEY_LIST[] = {
	COL(id, STR) COL(name, STR) COL(key_prefix, STR) COL(scopes, STR) COL(created_at, TIME)
	COL(last_used_at, TIME) COL(expires_at, TIME) COL(revoked_at, TIME) COL(rate_limit, INT)
	COL(user_id, STR) RES_FIELD_END
};
static const struct output OUT_KEY_LIST = {
	F_KEY_LIST, " FROM api_keys WHERE account_id = ? ORDER BY created_at, id"
};
static const struct rfield F_KEY_REVOKED[] = {
	COL(id, STR) COL(name, STR) COL(revoked_at, TIME) RES_FIELD_END
};
static const struct output OUT_KEY_REVOKED = { F_KEY_REVOKED, " FROM api_keys WHERE id = ?" };

/* The hub's MQTT user name is its id. */
static const struct rfield F_HUB_CREATED[] = {
	COL(id, STR) COL(name, STR) COLX(mqtt_username, "id", STR) RES_FIELD_END
};
static const struct output OUT_HUB_CREATED = { F_HUB_CREATED, " FROM hubs WHERE id = ?" };
static const struct output OUT_HUB_REVOKED = {
	F_HUB_CREATED, " FROM hubs WHERE id = ? AND mqtt_password_hash IS NULL"
};
static const struct rfield F_HUB_OWNER[] = { COL(id, STR) COL(account_id, STR) RES_FIELD_END };
static const struct output OUT_HUB_OWNER = { F_HUB_OWNER, " FROM hubs WHERE id = ?" };
static const struct output OUT_HUB_CREDENTIALED = {
	F_HUB_OWNER, " FROM hubs WHERE mqtt_password_hash IS NOT NULL ORDER BY id"
};
static const struct rfield F_HUB_PRESENCE[] = {
	COL(id, STR) COL(name, STR) COL(is_online, BOOL) COL(last_seen_at, TIME) RES_FIELD_END
};
static const struct output OUT_HUB_PRESENCE = { F_HUB_PRESENCE, " FROM hubs WHERE id = ?" };

/* Worklist default assignees of an account. */
static const struct rfield F_DEFAULT[] = {
	COLX(task_type, "d.task_type", STR) COLX(user_id, "d.user_id", STR)
	COLX(email, "u.email", STR) COLX(is_active, "u.is_active", BOOL)
	COLX(updated_at, "d.updated_at", TIME) RES_FIELD_END
};
static const struct rfield F_USER_ACTIVE[] = { COL(is_active, BOOL) RES_FIELD_END };
static const struct output OUT_USER_ACTIVE = {
	F_USER_ACTIVE, " FROM users WHERE id = ? AND account_id = ?"
};
static const struct output OUT_DEFAULTS = {
	F_DEFAULT, " FROM task_assignment_defaults d JOIN users u ON u.id = d.user_id"
		   " WHERE d.account_id = ? ORDER BY d.task_type"
};

/* The API's printer rows (fcgi/printers.def), their RF_ADMIN view: the status a client would
 * see (offline while the hub is not live) plus the hub id and connection type. */
static const struct rfield F_PRINTER[] = {
#define FIELD RES_FIELD
#include "printers.def"
#undef FIELD
	RES_FIELD_END
};
static const struct output OUT_PRINTER = {
	F_PRINTER, " FROM printers p LEFT JOIN hubs h ON h.id = p.hub_id WHERE p.id = ?"
};

static const struct rfield F_QUEUE_STATS[] = {
	COL(queue, STR) COL(state, STR) COLX(count, "COUNT(*)", INT) RES_FIELD_END
};
static const struct output OUT_QUEUE_STATS = {
	F_QUEUE_STATS, " FROM queue_jobs GROUP BY queue, state ORDER BY queue, state"
};
/* Without --dead: everything not done yet; with it: the dead letters only. */
static const struct rfield F_QUEUE_ITEM[] = {
	COL(id, INT) COL(queue, STR) COL(type, STR) COL(account_id, STR) COL(state, STR)
	COL(attempts, INT) COL(max_attempts, INT) COL(run_at, TIME) COL(last_error, STR)
	COL(payload, JSON) COL(created_at, TIME) COL(updated_at, TIME) RES_FIELD_END
};
static const struct output OUT_QUEUE_LIST = {
	F_QUEUE_ITEM, " FROM queue_jobs WHERE IF(?, state = 'dead', state <> 'done') ORDER BY id"
};
static const struct rfield F_QUEUE_RETRIED[] = {
	COL(id, INT) COL(queue, STR) COL(type, STR) COL(state, STR) COL(attempts, INT)
	COL(max_attempts, INT) COL(run_at, TIME) RES_FIELD_END
};
static const struct output OUT_QUEUE_RETRIED = { F_QUEUE_RETRIED, " FROM queue_jobs WHERE id = ?" };

/* ------------------------------------------------------------------------------ options */

enum opt_kind {
	K_FLAG,    /* no value */
	K_TEXT,    /* non-empty, at most maxlen bytes */
	K_UUID,    /* lower-cased in place */
	K_INT,     /* min..max */
	K_ENUM,    /* one of values */
	K_TIME,    /* ISO-8601 date or date-time */
	K_IP,      /* IPv4 or IPv6 address */
	K_EMAIL,
	K_SCOPES,  /* comma-separated read, write, control */
	K_LIMIT,   /* 0..max, or "default" */
};

enum opt_id {
	O_JSON, O_CONF, O_HELP,
	O_ACCOUNT, O_USER, O_HUB, O_NAME, O_EMAIL, O_ROLE, O_MODEL, O_CONNECTION, O_SERIAL, O_IP,
	O_ACCESS_CODE, O_SCOPES, O_EXPIRES_AT, O_RATE_LIMIT, O_DEAD, O_OFFLINE, O_MAX_MB,
	O_MAX_FILES, O_TASK_TYPE,
	O__COUNT
};

struct opt_def {
	const char *name;           /* option: without "--"; positional: its metavar */
	const char *metavar;        /* shown in usage; NULL for flags and enums */
	enum opt_kind kind;
	size_t maxlen;              /* K_TEXT, K_EMAIL */
	long long min, max;         /* K_INT */
	const char *const *values;  /* K_ENUM, NULL-terminated */
	const char *help;           /* global options only */
};

static const char *const roles[] = { "owner", "admin", "member", "operator", "viewer", NULL };
static const char *const task_types[] = {
	"assembly", "filament_change", "collection", "maintenance", "quality_check", NULL
};
static const char *const connections[] = { "bambu", "prusa", "klipper", "octoprint", NULL };
/* Bit i of apikey_scopes_parse's result is scope_names[i]. */
static const char *const scope_names[] = { "read", "write", "control", NULL };

/* In the order usage lines show them. */
static const struct opt_def options[O__COUNT] = {
	[O_JSON] = { "json", NULL, K_FLAG, 0, 0, 0, NULL,
		     "print one JSON object instead of human-readable lines" },
	[O_CONF] = { "conf", "FILE", K_TEXT, PATH_MAX, 0, 0, NULL,
		     "configuration file (default: $APF_CONF, else var/apf.conf)" },
	[O_HELP] = { "help", NULL, K_FLAG, 0, 0, 0, NULL, "show usage" },
	[O_ACCOUNT] = { "account", "ID", K_UUID, 0, 0, 0, NULL, NULL },
	[O_USER] = { "user", "ID", K_UUID, 0, 0, 0, NULL, NULL },
	[O_HUB] = { "hub", "HUB_ID", K_UUID, 0, 0, 0, NULL, NULL },
	[O_NAME] = { "name", "NAME", K_TEXT, 200, 0, 0, NULL, NULL },
	[O_EMAIL] = { "email", "EMAIL", K_EMAIL, 254, 0, 0, NULL, NULL },
	[O_ROLE] = { "role", NULL, K_ENUM, 0, 0, 0, roles, NULL },
	[O_MODEL] = { "model", "MODEL", K_TEXT, 120, 0, 0, NULL, NULL },
	[O_CONNECTION] = { "connection", NULL, K_ENUM, 0, 0, 0, connections, NULL },
	[O_SERIAL] = { "serial", "S", K_TEXT, 64, 0, 0, NULL, NULL },
	[O_IP] = { "ip", "IP", K_IP, 0, 0, 0, NULL, NULL },
	[O_ACCESS_CODE] = { "access-code", "C", K_TEXT, 255, 0, 0, NULL, NULL },
	[O_SCOPES] = { "scopes", "read,write,control", K_SCOPES, 0, 0, 0, NULL, NULL },
	[O_EXPIRES_AT] = { "expires-at", "ISO8601", K_TIME, 0, 0, 0, NULL, NULL },
	[O_RATE_LIMIT] = { "rate-limit", "N", K_INT, 0, 1, 1000000, NULL, NULL },
	[O_DEAD] = { "dead", NULL, K_FLAG, 0, 0, 0, NULL, NULL },
	[O_OFFLINE] = { "offline", NULL, K_FLAG, 0, 0, 0, NULL, NULL },
	[O_MAX_MB] = { "max-mb", "N|default", K_LIMIT, 0, 0, 1LL << 40, NULL, NULL },
	[O_MAX_FILES] = { "max-files", "N|default", K_LIMIT, 0, 0, 4294967295LL, NULL, NULL },
	[O_TASK_TYPE] = { "task-type", NULL, K_ENUM, 0, 0, 0, task_types, NULL },
};

#define OPT(o) (1u << (o))
#define GLOBAL_OPTS (OPT(O_JSON) | OPT(O_CONF) | OPT(O_HELP))

/* Positional arguments. */
static const struct opt_def A_KEY_ID = { "KEY_ID", NULL, K_UUID, 0, 0, 0, NULL, NULL };
static const struct opt_def A_HUB_ID = { "HUB_ID", NULL, K_UUID, 0, 0, 0, NULL, NULL };
static const struct opt_def A_ITEM_ID = { "ITEM_ID", NULL, K_UUID, 0, 0, 0, NULL, NULL };
static const struct opt_def A_JOB_ID = { "ID", NULL, K_INT, 0, 1, LLONG_MAX, NULL, NULL };

/* --------------------------------------------------------------------------- the context */

struct ctx {
	const struct command *cmd;
	char *opt[O__COUNT];        /* point into argv; "1" for a flag that is set */
	char *arg;                  /* the positional argument, when the command has one */
	struct db *db;
	json_t *out;                /* the result, owned */
};

#define CMD_NODB 1u             /* runs without configuration and database (help) */
#define CMD_SCHEMA 2u           /* changes the schema: connects as conf db_migrate_user */

struct command {
	const char *words;          /* "key create" */
	int (*run)(struct ctx *c);  /* 0, or an exit status after printing the reason */
	unsigned required, optional;
	const struct opt_def *arg;  /* positional argument, or NULL */
	unsigned flags;
	const char *help;
	/* One line per result ({"data": [...]}: per item). {name} prints a member (arrays joined
	 * with ',', null as '-'), {#name} an array's length. */
	const char *human;
};

/* The existence checks main runs before a handler, in this order. Queries take (value) or
 * (value, account) and return a row when the referenced entity exists. */
static const struct ref_check {
	enum opt_id opt;
	const struct db_query *q;
	unsigned nargs;
	const char *missing;
} ref_checks[] = {
	{ O_ACCOUNT, &Q_ACCOUNT_EXISTS, 1, "account not found" },
	{ O_USER, &Q_USER_EXISTS, 2, "user not found in this account" },
	{ O_HUB, &Q_HUB_EXISTS, 2, "hub not found in this account" },
};

/* ----------------------------------------------------------------------------- helpers */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	fputs("apf-admin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

static int db_failed(const struct ctx *c, enum api_err e)
{
	if (e == E_SERVICE_UNAVAILABLE)
		return fail("database unavailable (settings in %s)", cfg_path());
	if (e == E_CONFLICT)
		return fail("duplicate key (MariaDB error %u)", db_errno(c->db));
	return fail("database error (MariaDB error %u, logged above)", db_errno(c->db));
}

/* Runs a statement that returns no rows. A duplicate key fails with on_conflict when given. */
static int q_exec(struct ctx *c, const struct db_query *q, const struct db_arg *args,
		  unsigned nargs, const char *on_conflict)
{
	enum api_err e = db_exec(c->db, q, args, nargs, NULL);
	if (e == E_CONFLICT && on_conflict)
		return fail("%s", on_conflict);
	return e ? db_failed(c, e) : 0;
}

/* Runs o's SELECT with args bound to its ?s (the rows in *res). */
static int q_select(struct ctx *c, const struct output *o, const struct db_arg *args,
		    unsigned nargs, struct db_res *res)
{
	struct sqlb b;
	sqlb_init(&b, NULL);
	fields_select(&b, o->fields, RF_ADMIN);
	sqlb_add(&b, o->from);
	for (unsigned i = 0; i < nargs; i++)
		sqlb_bind(&b, NULL, args[i]);
	enum api_err e = sqlb_exec(c->db, &b, res);
	sqlb_release(&b);
	return e ? db_failed(c, e) : 0;
}

/* *out = o's first row (new reference), or NULL when there is none. */
static int q_obj(struct ctx *c, const struct output *o, const struct db_arg *args,
		 unsigned nargs, json_t **out)
{
	struct db_res res;
	*out = NULL;
	if (q_select(c, o, args, nargs, &res))
		return EXIT_FAIL;
	if (res.nrows > 0)
		*out = fields_row(o->fields, RF_ADMIN, &res, 0);
	db_res_free(&res);
	return 0;
}

/* *out = {"data": [every row of o]} (new reference). */
static int q_list(struct ctx *c, const struct output *o, const struct db_arg *args,
		  unsigned nargs, json_t **out)
{
	struct db_res res;
	*out = NULL;
	if (q_select(c, o, args, nargs, &res))
		return EXIT_FAIL;
	json_t *rows = json_array();
	for (unsigned long i = 0; rows && i < res.nrows; i++)
		json_array_append_new(rows, fields_row(o->fields, RF_ADMIN, &res, i));
	*out = json_pack("{s:o}", "data", rows);
	db_res_free(&res);
	return *out ? 0 : fail("out of memory");
}

/* Replaces obj's comma-separated member key (a SET column) with an array of its items. */
static void split_member(json_t *obj, const char *key)
{
	const char *s = jhelp_str(obj, key);
	json_t *arr = json_array();
	while (s && *s) {
		size_t n = strcspn(s, ",");
		if (n > 0)
			json_array_append_new(arr, json_stringn(s, n));
		s += n + (s[n] == ',');
	}
	json_object_set_new(obj, key, arr);
}

/* Canonical scope list ("read,write,control" order) of bits into buf. */
static const char *scopes_text(unsigned bits, char *buf, size_t size)
{
	size_t o = 0;
	buf[0] = '\0';
	for (unsigned i = 0; scope_names[i]; i++)
		if (bits & (1u << i))
			o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? "," : "", scope_names[i]);
	return buf;
}

/* ------------------------------------------------------------------------------ broker */

/* 32 random bytes as unpadded base64url (43 characters) into out[44]. */
static int hub_password(char out[44])
{
	return b64_random_token(HUB_PASSWORD_BYTES, out, 44);
}

/* ---------------------------------------------------------------------------- migrate */

/* Blanks and "-- " / "#" comments up to the end of the line? */
static int rest_of_line_empty(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	return *p == '\n' || *p == '\0' || *p == '#' ||
	       (p[0] == '-' && p[1] == '-' && (p[2] == ' ' || p[2] == '\t' || p[2] == '\n'));
}

/* Skips blanks and comments. */
static const char *skip_blank(const char *p)
{
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '#' || (p[0] == '-' && p[1] == '-' && (p[2] == ' ' || p[2] == '\t' ||
								 p[2] == '\n' || p[2] == '\r')))
			p += strcspn(p, "\n");
		else if (p[0] == '/' && p[1] == '*' && p[2] != '!' && strstr(p + 2, "*/"))
			p = strstr(p + 2, "*/") + 2;
		else
			return p;
	}
}

/* Does the statement at s create a stored program (CREATE [OR REPLACE] [DEFINER=...] TRIGGER,
 * PROCEDURE or FUNCTION, named on its first line)? Its BEGIN ... END body holds ';'. */
static int stored_program(const char *s)
{
	s = skip_blank(s);
	if (strncasecmp(s, "CREATE", 6) != 0)
		return 0;
	size_t line = strcspn(s, "\n");
	static const char *const KINDS[] = { " TRIGGER ", " PROCEDURE ", " FUNCTION " };
	for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
		size_t n = strlen(KINDS[k]);
		for (size_t i = 0; i + n <= line; i++)
			if (strncasecmp(s + i, KINDS[k], n) == 0)
				return 1;
	}
	return 0;
}

/* Is the ';' at p the end of a line that holds only "END;" (after blanks)? */
static int end_line(const char *start, const char *p)
{
	const char *b = p;
	while (b > start && (b[-1] == ' ' || b[-1] == '\t'))
		b--;
	if (b - start < 3 || strncasecmp(b - 3, "END", 3) != 0)
		return 0;
	b -= 3;
	while (b > start && (b[-1] == ' ' || b[-1] == '\t'))
		b--;
	return b == start || b[-1] == '\n';
}

/* Finds the statement starting at s: it ends at a ';' outside quotes and comments that is the
 * last thing on its line; a statement creating a stored program (trigger, procedure, function)
 * ends only at a line "END;", so that the ';' of its body need no DELIMITER (docs/analytics.md).
 * Returns its length (without the ';'), sets *next after it and *has_code when it holds more
 * than blanks and comments. */
static size_t sql_statement(const char *s, const char **next, int *has_code)
{
	const char *p = s;
	int program = stored_program(s);
	*has_code = 0;
	while (*p) {
		if (*p == '#' || (p[0] == '-' && p[1] == '-' &&
				  (p[2] == ' ' || p[2] == '\t' || p[2] == '\n' || p[2] == '\r'))) {
			p += strcspn(p, "\n");
		} else if (p[0] == '/' && p[1] == '*') {
			*has_code |= p[2] == '!'; /* MariaDB executable comment */
			const char *e = strstr(p + 2, "*/");
			p = e ? e + 2 : p + strlen(p);
		} else if (*p == '\'' || *p == '"' || *p == '`') {
			char q = *p++;
			*has_code = 1;
			while (*p && !(*p == q && p[1] != q)) {
				if (*p == q || (*p == '\\' && q != '`' && p[1]))
					p++; /* doubled quote or backslash escape */
				p++;
			}
			if (*p)
				p++;
		} else if (*p == ';' && rest_of_line_empty(p + 1) && (!program || end_line(s, p))) {
			*next = p + 1;
			return (size_t)(p - s);
		} else {
			*has_code |= !isspace((unsigned char)*p);
			p++;
		}
	}
	*next = p;
	return (size_t)(p - s);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			char *nb = cap >= MAX_SQL_FILE ? NULL : realloc(buf, cap + 65536);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap += 65536;
		}
		size_t got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		buf[len] = '\0';
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Runs every statement of one migration file, one at a time (the connection does not allow
 * multi-statement texts). DDL commits implicitly, so a failure leaves the earlier statements
 * applied; the file is then not recorded and the error names the statement's line. */
static int apply_file(struct ctx *c, const char *dir, const char *name)
{
	char path[PATH_MAX];
	int rc = EXIT_FAIL;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	char *text = read_file(path);
	if (!text)
		return fail("cannot read %s: %s", path, errno ? strerror(errno) : "too large");
	const char *s = text, *next;
	while (*s) {
		int has_code;
		size_t n = sql_statement(s, &next, &has_code);
		if (has_code) {
			const char *start = skip_blank(s);
			n -= (size_t)(start - s);
			s = start;
			unsigned line = 1;
			for (const char *p = text; p < s; p++)
				line += *p == '\n';
			((char *)s)[n] = '\0'; /* the ';' or the final NUL */
			enum api_err e = db_exec_text(c->db, s);
			if (e) {
				db_failed(c, e);
				fail("migration %s failed at the statement on line %u", name, line);
				goto out;
			}
		}
		s = next;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

/* Migration files: NNNN_name.sql. */
static int migration_file(const struct dirent *d)
{
	const char *n = d->d_name;
	size_t len = strlen(n), digits = strspn(n, "0123456789");
	return digits > 0 && n[digits] == '_' && len > 4 && strcmp(n + len - 4, ".sql") == 0;
}

static int recorded(const struct db_res *done, const char *version)
{
	for (unsigned long i = 0; i < done->nrows; i++)
		if (strcmp(db_get(done, i, 0), version) == 0)
			return 1;
	return 0;
}

static int cmd_migrate(struct ctx *c)
{
	const char *dir = inst_sql_dir(); /* conf sql_dir, ./sql or the installed one */
	struct dirent **files = NULL;
	struct db_res done = { 0 }, lock = { 0 };
	json_t *applied = json_array();
	int n = 0, locked = 0, rc = EXIT_FAIL;
	enum api_err e;

	/* one migrator at a time per database */
	if ((e = db_exec(c->db, &Q_MIG_LOCK, NULL, 0, &lock)) != E_OK) {
		db_failed(c, e);
		goto out;
	}
	if (!(locked = db_get_int(&lock, 0, 0, 0) == 1)) {
		fail("another apf-admin migrate holds the migration lock");
		goto out;
	}
	if (q_exec(c, &Q_MIG_TABLE, NULL, 0, NULL))
		goto out;
	if ((e = db_exec(c->db, &Q_MIG_DONE, NULL, 0, &done)) != E_OK) {
		db_failed(c, e);
		goto out;
	}
	if ((n = scandir(dir, &files, migration_file, alphasort)) < 0) {
		n = 0;
		fail("cannot read migrations directory %s: %s", dir, strerror(errno));
		goto out;
	}
	for (int i = 0; i < n; i++) {
		char version[256];
		snprintf(version, sizeof version, "%.*s", (int)(strlen(files[i]->d_name) - 4),
			 files[i]->d_name);
		if (recorded(&done, version))
			continue;
		if (apply_file(c, dir, files[i]->d_name) ||
		    q_exec(c, &Q_MIG_RECORD, DB_ARGS(DS(version)), NULL))
			goto out;
		json_array_append_new(applied, json_string(version));
	}
	c->out = json_pack("{s:O}", "applied", applied);
	rc = c->out ? 0 : fail("out of memory");
out:
	if (locked)
		db_exec(c->db, &Q_MIG_UNLOCK, NULL, 0, NULL);
	for (int i = 0; i < n; i++)
		free(files[i]);
	free(files);
	db_res_free(&done);
	db_res_free(&lock);
	json_decref(applied);
	return rc;
}

/* ---------------------------------------------------------------------------- accounts */

/* A K_LIMIT option in units: UPLOADS_QUOTA_KEEP when absent, _DEFAULT for "default". */
static long long limit_opt(const char *v, long long unit)
{
	if (!v)
		return UPLOADS_QUOTA_KEEP;
	return strcmp(v, "default") == 0 ? UPLOADS_QUOTA_DEFAULT : strtoll(v, NULL, 10) * unit;
}

/* The account's storage limits (0 = none) and usage. */
static int quota_out(struct ctx *c)
{
	struct quota q = { 0 };
	enum api_err e = uploads_quota_peek(c->db, c->opt[O_ACCOUNT], NULL, &q);
	if (e)
		return db_failed(c, e);
	c->out = json_pack("{s:s, s:I, s:s, s:I, s:s, s:I, s:I}", "account_id", c->opt[O_ACCOUNT],
			   "max_bytes", (json_int_t)q.max_bytes, "max_bytes_from",
			   q.bytes_default ? "default" : "account", "max_files",
			   (json_int_t)q.max_files, "max_files_from",
			   q.files_default ? "default" : "account", "used_bytes",
			   (json_int_t)q.used_bytes, "used_files", (json_int_t)q.used_files);
	return c->out ? 0 : fail("out of memory");
}

static int cmd_account_quota(struct ctx *c)
{
	return quota_out(c);
}

static int cmd_account_set_quota(struct ctx *c)
{
	if (!c->opt[O_MAX_MB] && !c->opt[O_MAX_FILES])
		return fail("account set-quota: give --max-mb, --max-files or both") + 1; /* usage */
	enum api_err e = uploads_set_quota(c->db, c->opt[O_ACCOUNT],
					   limit_opt(c->opt[O_MAX_MB], 1024LL * 1024LL),
					   limit_opt(c->opt[O_MAX_FILES], 1));
	return e ? db_failed(c, e) : quota_out(c);
}

static int cmd_account_create(struct ctx *c)
{
	char id[UUID_LEN + 1];
	if (util_uuid(id) < 0)
		return fail("cannot read random bytes");
	if (q_exec(c, &Q_ACCOUNT_INSERT, DB_ARGS(DS(id), DS(c->opt[O_NAME])), NULL))
		return EXIT_FAIL;
	return q_obj(c, &OUT_ACCOUNT, DB_ARGS(DS(id)), &c->out);
}

static int cmd_user_create(struct ctx *c)
{
	char id[UUID_LEN + 1];
	const char *role = c->opt[O_ROLE] ? c->opt[O_ROLE] : "member";
	if (util_uuid(id) < 0)
		return fail("cannot read random bytes");
	if (q_exec(c, &Q_USER_INSERT,
		   DB_ARGS(DS(id), DS(c->opt[O_ACCOUNT]), DS(c->opt[O_EMAIL]), DS(role)),
		   "a user with this email already exists in this account"))
		return EXIT_FAIL;
	return q_obj(c, &OUT_USER, DB_ARGS(DS(id)), &c->out);
}

/* ------------------------------------------------------------------------------ worklist */

static int defaults_out(struct ctx *c)
{
	return q_list(c, &OUT_DEFAULTS, DB_ARGS(DS(c->opt[O_ACCOUNT])), &c->out)
		       ? EXIT_FAIL
		       : 0;
}

static int cmd_worklist_defaults(struct ctx *c)
{
	return defaults_out(c);
}

/* The user (main checked it is the account's) must be active: tasks are only ever assigned
 * to active users. */
static int cmd_worklist_set_default(struct ctx *c)
{
	char id[UUID_LEN + 1];
	json_t *u;
	if (q_obj(c, &OUT_USER_ACTIVE, DB_ARGS(DS(c->opt[O_USER]), DS(c->opt[O_ACCOUNT])), &u))
		return EXIT_FAIL;
	int active = json_is_true(json_object_get(u, "is_active"));
	json_decref(u);
	if (!active)
		return fail("user %s is not active", c->opt[O_USER]);
	if (util_uuid(id) < 0)
		return fail("cannot read random bytes");
	if (q_exec(c, &Q_DEFAULT_SET,
		   DB_ARGS(DS(id), DS(c->opt[O_ACCOUNT]), DS(c->opt[O_TASK_TYPE]),
			   DS(c->opt[O_USER])), NULL))
		return EXIT_FAIL;
	return defaults_out(c);
}

static int cmd_worklist_clear_default(struct ctx *c)
{
	if (q_exec(c, &Q_DEFAULT_CLEAR, DB_ARGS(DS(c->opt[O_ACCOUNT]), DS(c->opt[O_TASK_TYPE])),
		   NULL))
		return EXIT_FAIL;
	return defaults_out(c);
}

/* ------------------------------------------------------------------------------ API keys */

/* Stores only the key's SHA-256 and a display prefix; the key itself is printed once. */
static int cmd_key_create(struct ctx *c)
{
	char id[UUID_LEN + 1], key[APIKEY_LEN + 1], hash[SHA256_HEX_LEN + 1];
	char prefix[KEY_PREFIX_SHOWN + 1], scopes[32], expires[24];
	const char *rate = c->opt[O_RATE_LIMIT], *exp = NULL;
	unsigned bits = 0;
	int rc = EXIT_FAIL;

	apikey_scopes_parse(c->opt[O_SCOPES], &bits); /* validated by the parser */
	if (c->opt[O_EXPIRES_AT]) {
		int64_t ms = 0;
		util_iso_parse(c->opt[O_EXPIRES_AT], &ms);
		if (ms <= util_now_ms())
			fprintf(stderr, "apf-admin: warning: --expires-at is in the past: the key "
				"is expired from the start\n");
		util_ms_to_db(ms, expires);
		exp = expires;
	}
	if (util_uuid(id) < 0 || apikey_mint(key, hash) < 0) {
		fail("cannot read random bytes");
		goto out;
	}
	memcpy(prefix, key, KEY_PREFIX_SHOWN);
	prefix[KEY_PREFIX_SHOWN] = '\0';
	if (q_exec(c, &Q_KEY_INSERT,
		   DB_ARGS(DS(id), DS(c->opt[O_ACCOUNT]), DS(c->opt[O_USER]), DS(c->opt[O_NAME]),
			   DS(hash), DS(prefix), DS(scopes_text(bits, scopes, sizeof scopes)),
			   rate ? DI(strtoll(rate, NULL, 10)) : DNULL, DS(exp)),
		   NULL) ||
	    q_obj(c, &OUT_KEY, DB_ARGS(DS(id)), &c->out))
		goto out;
	if (!c->out) {
		fail("key %s vanished after insert", id);
		goto out;
	}
	split_member(c->out, "scopes");
	json_object_set_new(c->out, "key", json_string(key));
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof key);
	return rc;
}

static int cmd_key_list(struct ctx *c)
{
	if (q_list(c, &OUT_KEY_LIST, DB_ARGS(DS(c->opt[O_ACCOUNT])), &c->out))
		return EXIT_FAIL;
	json_t *data = json_object_get(c->out, "data");
	for (size_t i = 0; i < json_array_size(data); i++)
		split_member(json_array_get(data, i), "scopes");
	return 0;
}

static int cmd_key_revoke(struct ctx *c)
{
	if (q_exec(c, &Q_KEY_REVOKE, DB_ARGS(DS(c->arg)), NULL) ||
	    q_obj(c, &OUT_KEY_REVOKED, DB_ARGS(DS(c->arg)), &c->out))
		return EXIT_FAIL;
	return c->out ? 0 : fail("key not found");
}

/* ---------------------------------------------------------------------------------- hubs */

/* Creates a claimed hub and its broker client (username = client id = hub id) on every broker
 * of mqtt_hosts (docs/scale-out.md, "Broker credentials"). The row commits only after every
 * broker took the client; when the commit fails, the client is deleted again everywhere. */
static int cmd_hub_create(struct ctx *c)
{
	char id[UUID_LEN + 1], password[44], hash[SHA256_HEX_LEN + 1], err[512];
	int rc = EXIT_FAIL, in_txn = 0, added = 0, committed = 0;
	enum api_err e;

	if (util_uuid(id) < 0 || hub_password(password) < 0)
		return fail("cannot read random bytes");
	util_sha256_hex(password, strlen(password), hash);
	if ((e = db_begin(c->db)) != E_OK) {
		db_failed(c, e);
		goto out;
	}
	in_txn = 1;
	if (q_exec(c, &Q_HUB_INSERT,
		   DB_ARGS(DS(id), DS(c->opt[O_ACCOUNT]), DS(c->opt[O_NAME]), DS(hash)), NULL))
		goto out;
	if (dynsec_apply(DS_HUB_CREATE, id, password, err, sizeof err)) {
		fail("hub create: %s (no broker keeps the hub)", err);
		goto out;
	}
	added = 1;
	if ((e = db_commit(c->db)) != E_OK) {
		db_failed(c, e);
		goto out;
	}
	committed = 1;
	if (q_obj(c, &OUT_HUB_CREATED, DB_ARGS(DS(id)), &c->out) || !c->out)
		goto out;
	json_object_set_new(c->out, "mqtt_password", json_string(password));
	rc = 0;
out:
	if (!committed && in_txn)
		db_rollback(c->db);
	if (!committed && added && dynsec_apply(DS_HUB_DELETE, id, NULL, err, sizeof err))
		fprintf(stderr, "apf-admin: warning: hub %s left on a broker: %s\n", id, err);
	OPENSSL_cleanse(password, sizeof password);
	return rc;
}

/* Revokes a hub's broker credential: its client is disabled on every broker (an open
 * connection is closed at once) and the row forgets the password hash; the row commits only
 * after every broker took the change, else the brokers that did are re-enabled. */
static int cmd_hub_revoke(struct ctx *c)
{
	char err[512];
	int rc = EXIT_FAIL, disabled = 0, committed = 0;
	json_t *hub = NULL;
	if (q_obj(c, &OUT_HUB_OWNER, DB_ARGS(DS(c->arg)), &hub))
		return EXIT_FAIL;
	if (!hub)
		return fail("hub not found");
	json_decref(hub);
	enum api_err e = db_begin(c->db);
	if (e != E_OK)
		return db_failed(c, e);
	if (q_exec(c, &Q_HUB_REVOKE, DB_ARGS(DS(c->arg)), NULL))
		goto out;
	if (dynsec_apply(DS_HUB_DISABLE, c->arg, NULL, err, sizeof err)) {
		fail("hub revoke: %s (every broker keeps the hub as it was)", err);
		goto out;
	}
	disabled = 1;
	if ((e = db_commit(c->db)) != E_OK) {
		db_failed(c, e);
		goto out;
	}
	committed = 1;
	if (q_obj(c, &OUT_HUB_REVOKED, DB_ARGS(DS(c->arg)), &c->out) || !c->out)
		goto out;
	rc = 0;
out:
	if (!committed) {
		db_rollback(c->db);
		if (disabled && dynsec_apply(DS_HUB_ENABLE, c->arg, NULL, err, sizeof err))
			fprintf(stderr, "apf-admin: warning: hub %s stays disabled: %s\n", c->arg, err);
	}
	return rc;
}

/* Sets up every broker of mqtt_hosts: default ACL access, the backend role and client (conf
 * mqtt_username / mqtt_password, set again where a broker refuses it), and the role of every hub that holds a credential (a client
 * imported from an old password file gets its ACLs here). Idempotent; scripts/stack.sh runs it
 * after the broker started. A hub whose client a broker lacks is listed: re-provision it. */
static int cmd_broker_init(struct ctx *c)
{
	const char *user = cfg_str("mqtt_username", NULL), *pw = cfg_str("mqtt_password", NULL);
	struct dynsec_broker b[DYNSEC_MAX_BROKERS];
	char err[512];
	json_t *hubs = NULL;
	int n = dynsec_brokers(b, DYNSEC_MAX_BROKERS, err, sizeof err);
	if (n <= 0)
		return fail("%s", n ? err : "no broker: set mqtt_hosts or mqtt_host");
	if (!user || !pw)
		return fail("mqtt_username / mqtt_password missing in %s", cfg_path());
	if (dynsec_apply(DS_BACKEND, user, pw, err, sizeof err))
		return fail("broker init: %s", err);
	/* a new password closes the backend's connection: set it only where the conf's fails */
	for (int i = 0; i < n; i++)
		if (dynsec_login(&b[i], NULL, user, pw) != 0) {
			if (dynsec_apply(DS_PASSWORD, user, pw, err, sizeof err))
				return fail("broker init: %s", err);
			break;
		}
	if (q_list(c, &OUT_HUB_CREDENTIALED, NULL, 0, &hubs))
		return EXIT_FAIL;
	json_t *rows = json_object_get(hubs, "data"), *row, *missing = json_array();
	size_t i;
	json_array_foreach(rows, i, row) {
		const char *id = jhelp_str(row, "id");
		if (dynsec_apply(DS_HUB_ROLE, id, NULL, err, sizeof err)) {
			fprintf(stderr, "apf-admin: hub %s: %s\n", id, err);
			json_array_append_new(missing, json_string(id));
		}
	}
	c->out = json_pack("{s:i, s:I, s:o}", "brokers", n, "hubs", (json_int_t)json_array_size(rows),
			   "hubs_missing", missing);
	json_decref(hubs);
	return c->out ? 0 : fail("out of memory");
}

/* Queues a discovery request for the hub; the worker turns it into a hub.discover command. */
static int cmd_hub_scan(struct ctx *c)
{
	json_t *hub = NULL, *payload = NULL;
	long long job = 0;
	int rc = EXIT_FAIL;
	enum api_err e;

	if (q_obj(c, &OUT_HUB_OWNER, DB_ARGS(DS(c->arg)), &hub))
		goto out;
	if (!hub) {
		fail("hub not found");
		goto out;
	}
	if (!jhelp_str(hub, "account_id")) {
		fail("hub %s is not claimed by an account", c->arg);
		goto out;
	}
	payload = json_pack("{s:s}", "hub_id", c->arg);
	e = queue_push(c->db, QUEUE_HUB_COMMANDS, "hub.discover", jhelp_str(hub, "account_id"),
		       payload, NULL, 0, &job);
	if (e) {
		db_failed(c, e);
		goto out;
	}
	queue_wake();
	c->out = json_pack("{s:I,s:s,s:s,s:s,s:O}", "id", (json_int_t)job, "queue",
			   QUEUE_HUB_COMMANDS, "type", "hub.discover", "hub_id", c->arg,
			   "payload", payload);
	rc = c->out ? 0 : fail("out of memory");
out:
	json_decref(hub);
	json_decref(payload);
	return rc;
}

/* Sets presence by hand (tests and demos without a hub link); last_seen_at = now. */
static int cmd_hub_set_online(struct ctx *c)
{
	if (q_exec(c, &Q_HUB_SET_ONLINE, DB_ARGS(DI(c->opt[O_OFFLINE] ? 0 : 1), DS(c->arg)), NULL) ||
	    q_obj(c, &OUT_HUB_PRESENCE, DB_ARGS(DS(c->arg)), &c->out))
		return EXIT_FAIL;
	return c->out ? 0 : fail("hub not found");
}

/* ------------------------------------------------------------------------------ printers */

static int cmd_printer_create(struct ctx *c)
{
	char id[UUID_LEN + 1];
	const char *conn = c->opt[O_CONNECTION] ? c->opt[O_CONNECTION] : "bambu";
	if (strlen(c->opt[O_NAME]) > PRINTER_NAME_MAX)
		return fail("--name: a printer name has at most %d characters", PRINTER_NAME_MAX);
	if (util_uuid(id) < 0)
		return fail("cannot read random bytes");
	enum api_err e = db_begin(c->db);
	if (e)
		return db_failed(c, e);
	if (q_exec(c, &Q_PRINTER_INSERT,
		   DB_ARGS(DS(id), DS(c->opt[O_ACCOUNT]), DS(c->opt[O_HUB]), DS(c->opt[O_NAME]),
			   DS(c->opt[O_MODEL]), DS(conn), DS(c->opt[O_SERIAL]), DS(c->opt[O_IP]),
			   DS(c->opt[O_ACCESS_CODE])),
		   "a printer with this name already exists in this account (DUPLICATE_NAME)")) {
		db_rollback(c->db);
		return EXIT_FAIL;
	}
	/* The hub learns of its new printer at once (printer.configure `add`, docs/hub-link.md;
	 * the worker puts in the stored printer with its secrets when it publishes). An offline
	 * hub's command fails HUB_OFFLINE; the printers.sync of its next connect carries it. */
	json_t *params = json_pack("{s:s, s:{s:s}}", "op", "add", "printer", "printer_id", id);
	struct hubcmd cmd = {
		.account_id = c->opt[O_ACCOUNT],
		.hub_id = c->opt[O_HUB],
		.printer_id = id,
		.action = "printer.configure",
		.params = params,
		.expect_ack = 1,
		.request_id = "apf-admin",
		.revert = { .printer_cleared_from = -1, .printer_cleared_to = -1 },
	};
	e = params ? hubcmd_insert(c->db, &cmd) : E_INTERNAL_ERROR;
	json_decref(params);
	if (!e)
		e = db_commit(c->db);
	if (e) {
		db_rollback(c->db);
		return db_failed(c, e);
	}
	queue_wake();
	return q_obj(c, &OUT_PRINTER, DB_ARGS(DS(id)), &c->out);
}

/* --------------------------------------------------------------------------------- queue */

static int cmd_queue_stats(struct ctx *c)
{
	return q_list(c, &OUT_QUEUE_STATS, NULL, 0, &c->out);
}

static int cmd_queue_list(struct ctx *c)
{
	return q_list(c, &OUT_QUEUE_LIST, DB_ARGS(DI(c->opt[O_DEAD] ? 1 : 0)), &c->out);
}

static int cmd_queue_retry(struct ctx *c)
{
	long long id = strtoll(c->arg, NULL, 10);
	int found = 0;
	enum api_err e = queue_retry(c->db, id, &found);
	if (e)
		return db_failed(c, e);
	if (q_obj(c, &OUT_QUEUE_RETRIED, DB_ARGS(DI(id)), &c->out))
		return EXIT_FAIL;
	if (!c->out)
		return fail("queue job %lld not found", id);
	if (!found)
		return fail("queue job %lld is %s, not dead: nothing to retry", id,
			    jhelp_str(c->out, "state"));
	queue_wake();
	return 0;
}

/* -------------------------------------------------------------------------- the table */

static int cmd_help(struct ctx *c);

/* --------------------------------------------------------------------------------- stock */

#include "stock.h"

/* Decimal text without trailing zeros: "12.50" → "12.5", "3.00" → "3". */
#define TRIMMED(c) "TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST(" c " AS CHAR)))"
static const struct rfield F_STOCK_MOVE[] = {
	COL(id, INT) COL(account_id, STR) COL(counter, STR) COLX(delta, TRIMMED("delta"), NUM)
	COLX(level_after, TRIMMED("level_after"), NUM) COL(reason, STR) COL(note, STR)
	COL(ref_id, STR) COL(request_id, STR) COL(created_at, TIME) RES_FIELD_END
};
static const struct output OUT_STOCK_HISTORY = {
	F_STOCK_MOVE, " FROM stock_movements WHERE item_id = ? ORDER BY created_at, id"
};

static int print_result(const struct ctx *c);

static void stock_diff_row(const struct stock_diff *d, void *ctx)
{
	json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s, s:s}", "counter",
					     stock_counter_name(d->counter), "account_id",
					     d->account_id, "item_id", d->item_id, "level", d->level,
					     "ledger", d->ledger));
}

/* Every counter against the sum of its movements; the differences printed, exit 1 if any. */
/* The end of a verify command whose c->out holds data (the n rows that differ): ok printed when
 * n is 0 (exit 0), else the rows and "n what" (exit 1). */
static int verified(struct ctx *c, long n, const char *ok, const char *what)
{
	if (n == 0) {
		json_object_del(c->out, "data");
		if (!c->opt[O_JSON]) {
			json_decref(c->out);
			c->out = NULL;
			puts(ok);
		}
		return 0;
	}
	print_result(c);
	json_decref(c->out);
	c->out = NULL;
	return fail("%ld %s", n, what);
}

static int cmd_stock_verify(struct ctx *c)
{
	json_t *rows = json_array();
	long n = rows ? stock_verify(c->db, c->opt[O_ACCOUNT], stock_diff_row, rows) : -1;
	if (n < 0) {
		json_decref(rows);
		return fail("cannot read the stock counters and the ledger");
	}
	c->out = json_pack("{s:I, s:o}", "differences", (json_int_t)n, "data", rows);
	if (!c->out)
		return fail("out of memory");
	return verified(c, n, "stock ledger verified: every counter equals the sum of its movements",
			"stock counter(s) differ from the ledger");
}

/* Rollup rows of analytics that differ from their recomputation from the source rows
 * (the view analytics_rollup_drift of sql/0014_analytics_rollups.sql, docs/analytics.md). */
static const struct rfield F_DRIFT[] = {
	COL(rollup, STR) COL(account_id, STR) COL(kind, INT) COL(grp, STR) COL(day, STR)
	COL(sub, STR) RES_FIELD_END
};
static const struct output OUT_DRIFT = {
	F_DRIFT, " FROM analytics_rollup_drift WHERE ? IS NULL OR account_id = ?"
	" ORDER BY rollup, account_id, kind, grp, day, sub LIMIT 1000"
};

static int cmd_analytics_verify(struct ctx *c)
{
	const char *a = c->opt[O_ACCOUNT];
	if (q_list(c, &OUT_DRIFT, DB_ARGS(DS(a), DS(a)), &c->out))
		return EXIT_FAIL;
	long n = (long)json_array_size(json_object_get(c->out, "data"));
	json_object_set_new(c->out, "differences", json_integer((json_int_t)n));
	return verified(c, n, "analytics rollups verified: every row equals its recomputation",
			"analytics rollup row(s) differ from their recomputation");
}

struct reconcile {
	struct db *db;
	json_t *rows;
	enum api_err err;
};

static void stock_reconcile_row(const struct stock_diff *d, void *ctx)
{
	struct reconcile *rc = ctx;
	const struct stock_src src = { "reconciliation", "apf-admin stock reconcile", NULL, NULL };
	if (!rc->err)
		rc->err = stock_record(rc->db, d->account_id, d->counter, d->item_id, &src, NULL);
	stock_diff_row(d, rc->rows);
}

/* Records the difference of every counter that disagrees with its ledger as a
 * "reconciliation" movement (after a manual change of the database), in one transaction. */
static int cmd_stock_reconcile(struct ctx *c)
{
	struct reconcile rc = { c->db, json_array(), E_OK };
	long n = -1;
	if (rc.rows && db_begin(c->db) == E_OK) {
		n = stock_verify(c->db, c->opt[O_ACCOUNT], stock_reconcile_row, &rc);
		if (n >= 0 && !rc.err && db_commit(c->db) == E_OK)
			rc.err = E_OK;
		else {
			db_rollback(c->db);
			n = -1;
		}
	}
	if (n < 0) {
		json_decref(rc.rows);
		return fail("cannot reconcile the stock ledger");
	}
	c->out = json_pack("{s:I, s:o}", "reconciled", (json_int_t)n, "data", rc.rows);
	return c->out ? 0 : fail("out of memory");
}

static int cmd_stock_history(struct ctx *c)
{
	return q_list(c, &OUT_STOCK_HISTORY, DB_ARGS(DS(c->arg)), &c->out)
		       ? EXIT_FAIL : 0;
}

static const struct command commands[] = {
	{ "migrate", cmd_migrate, 0, 0, NULL, CMD_SCHEMA,
	  "apply the pending sql/NNNN_*.sql migrations (conf sql_dir) as conf db_migrate_user"
	  " (else db_user); idempotent",
	  "applied {#applied} migrations" },
	{ "account create", cmd_account_create, OPT(O_NAME), 0, NULL, 0,
	  "create an account",
	  "account {id} created: {name}" },
	{ "account quota", cmd_account_quota, OPT(O_ACCOUNT), 0, NULL, 0,
	  "show an account's storage limits (0: none) and what it stores",
	  "account {account_id}: {used_bytes} of {max_bytes} bytes ({max_bytes_from}), "
	  "{used_files} of {max_files} files ({max_files_from})" },
	{ "account set-quota", cmd_account_set_quota, OPT(O_ACCOUNT),
	  OPT(O_MAX_MB) | OPT(O_MAX_FILES), NULL, 0,
	  "set an account's storage limits in MiB and files (0: no limit; default: the "
	  "configured storage_quota_mb / storage_quota_files)",
	  "account {account_id}: {used_bytes} of {max_bytes} bytes ({max_bytes_from}), "
	  "{used_files} of {max_files} files ({max_files_from})" },
	{ "user create", cmd_user_create, OPT(O_ACCOUNT) | OPT(O_EMAIL), OPT(O_ROLE), NULL, 0,
	  "create a user of an account (role default member)",
	  "user {id} created: {email} ({role}) in account {account_id}" },
	{ "key create", cmd_key_create, OPT(O_ACCOUNT) | OPT(O_NAME) | OPT(O_SCOPES),
	  OPT(O_USER) | OPT(O_EXPIRES_AT) | OPT(O_RATE_LIMIT), NULL, 0,
	  "mint an API key (shown once); --rate-limit: its requests per minute",
	  "key {id} created: {key} (shown once; scopes {scopes}, expires {expires_at}, "
	  "rate limit {rate_limit})" },
	{ "key list", cmd_key_list, OPT(O_ACCOUNT), 0, NULL, 0,
	  "list an account's API keys (never the key itself)",
	  "{id} {name} ({key_prefix}...) scopes={scopes} created={created_at} "
	  "last_used={last_used_at} expires={expires_at} revoked={revoked_at}" },
	{ "key revoke", cmd_key_revoke, 0, 0, &A_KEY_ID, 0,
	  "revoke an API key (revoking again keeps the first time)",
	  "key {id} revoked at {revoked_at}" },
	{ "hub create", cmd_hub_create, OPT(O_ACCOUNT) | OPT(O_NAME), 0, NULL, 0,
	  "create a claimed hub and its MQTT account (password shown once)",
	  "hub {id} created: {name}; MQTT username {mqtt_username}, password {mqtt_password} "
	  "(shown once)" },
	{ "hub revoke", cmd_hub_revoke, 0, 0, &A_HUB_ID, 0,
	  "revoke a hub's MQTT credential: its client is disabled on every broker (mqtt_hosts)",
	  "hub {id} revoked: its MQTT client is disabled" },
	{ "broker init", cmd_broker_init, 0, 0, NULL, 0,
	  "set up every broker of mqtt_hosts: ACL defaults, the backend client and role, each "
	  "hub's role (idempotent)",
	  "{brokers} brokers set up; {hubs} hubs, missing on a broker: {#hubs_missing}" },
	{ "hub scan", cmd_hub_scan, 0, 0, &A_HUB_ID, 0,
	  "ask the hub for a LAN discovery scan (results: GET /v1/hubs/{id}/discovered-printers)",
	  "queued hub.discover for hub {hub_id} (queue {queue}, job {id})" },
	{ "hub set-online", cmd_hub_set_online, 0, OPT(O_OFFLINE), &A_HUB_ID, 0,
	  "mark a hub online (or --offline) with last_seen_at = now, for tests and demos",
	  "hub {id} is_online={is_online} last_seen_at={last_seen_at}" },
	{ "printer create", cmd_printer_create,
	  OPT(O_ACCOUNT) | OPT(O_HUB) | OPT(O_NAME) | OPT(O_MODEL),
	  OPT(O_CONNECTION) | OPT(O_SERIAL) | OPT(O_IP) | OPT(O_ACCESS_CODE), NULL, 0,
	  "create a printer on a hub of the account (connection default bambu)",
	  "printer {id} created: {name} ({model}) on hub {hub_id}, status {status}" },
	{ "worklist defaults", cmd_worklist_defaults, OPT(O_ACCOUNT), 0, NULL, 0,
	  "list an account's default assignee per worklist task type",
	  "{task_type} -> user {user_id} ({email}, active {is_active})" },
	{ "worklist set-default", cmd_worklist_set_default,
	  OPT(O_ACCOUNT) | OPT(O_TASK_TYPE) | OPT(O_USER), 0, NULL, 0,
	  "set the user (active, of the account) new tasks of a type are assigned to",
	  "{task_type} -> user {user_id} ({email}, active {is_active})" },
	{ "worklist clear-default", cmd_worklist_clear_default,
	  OPT(O_ACCOUNT) | OPT(O_TASK_TYPE), 0, NULL, 0,
	  "remove the default assignee of a task type (new tasks stay unassigned)",
	  "{task_type} -> user {user_id} ({email}, active {is_active})" },
	{ "queue stats", cmd_queue_stats, 0, 0, NULL, 0,
	  "queue depth per queue and state",
	  "{queue} {state} {count}" },
	{ "queue list", cmd_queue_list, 0, OPT(O_DEAD), NULL, 0,
	  "jobs not done yet, or with --dead the dead-lettered ones",
	  "{id} {queue} {type} {state} attempts={attempts}/{max_attempts} run_at={run_at} "
	  "error={last_error}" },
	{ "queue retry", cmd_queue_retry, 0, 0, &A_JOB_ID, 0,
	  "re-queue one dead-lettered job (attempts reset)",
	  "queue job {id} re-queued ({queue} {type}, state {state})" },
	{ "analytics verify", cmd_analytics_verify, 0, OPT(O_ACCOUNT), NULL, 0,
	  "recompute the analytics rollups (or one account's) from their source rows; exit 1 and "
	  "list the rows that differ (at most 1000)",
	  "{rollup} account {account_id} kind {kind} grp '{grp}' day {day} sub '{sub}'" },
	{ "stock verify", cmd_stock_verify, 0, OPT(O_ACCOUNT), NULL, 0,
	  "recompute every stock counter (or one account's) from the stock ledger; exit 1 and "
	  "list the counters that differ",
	  "{counter} {item_id} (account {account_id}): counter {level}, ledger {ledger}" },
	{ "stock reconcile", cmd_stock_reconcile, 0, OPT(O_ACCOUNT), NULL, 0,
	  "record each counter's difference from its ledger as a reconciliation movement "
	  "(after a manual change of the database)",
	  "{counter} {item_id} (account {account_id}): counter {level}, ledger was {ledger}" },
	{ "stock history", cmd_stock_history, 0, 0, &A_ITEM_ID, 0,
	  "an item's stock movements, oldest first (finished good, SKU or material id)",
	  "{created_at} {counter} {delta} -> {level_after} {reason} ref={ref_id} "
	  "request={request_id} note={note}" },
	{ "help", cmd_help, 0, 0, NULL, CMD_NODB,
	  "show this text", NULL },
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* --------------------------------------------------------------------------------- usage */

static void print_opt(FILE *f, const struct opt_def *d, int required)
{
	fprintf(f, required ? " --%s" : " [--%s", d->name);
	if (d->metavar) {
		fprintf(f, " %s", d->metavar);
	} else if (d->values) {
		for (unsigned i = 0; d->values[i]; i++)
			fprintf(f, "%c%s", i ? '|' : ' ', d->values[i]);
	}
	if (!required)
		fputc(']', f);
}

static void print_synopsis(FILE *f, const struct command *cmd)
{
	fprintf(f, "apf-admin %s", cmd->words);
	if (cmd->arg)
		fprintf(f, " %s", cmd->arg->name);
	for (unsigned o = 0; o < O__COUNT; o++)
		if ((cmd->required | cmd->optional) & OPT(o))
			print_opt(f, &options[o], (cmd->required & OPT(o)) != 0);
}

static void print_usage(FILE *f)
{
	fputs("usage: apf-admin COMMAND [ARGS] [--json] [--conf FILE]\n\ncommands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		fputs("  ", f);
		print_synopsis(f, &commands[i]);
		fprintf(f, "\n      %s\n", commands[i].help);
	}
	fputs("\noptions of every command (accepted anywhere on the line):\n", f);
	for (unsigned o = 0; o < O__COUNT; o++) {
		if (!(GLOBAL_OPTS & OPT(o)))
			continue;
		char left[32];
		snprintf(left, sizeof left, "--%s%s%s", options[o].name,
			 options[o].metavar ? " " : "", options[o].metavar ? options[o].metavar : "");
		fprintf(f, "  %-12s %s\n", left, options[o].help);
	}
	fputs("\nExit status: 0 success, 1 failure, 2 usage error; messages go to stderr.\n", f);
}

static int cmd_help(struct ctx *c)
{
	(void)c;
	print_usage(stdout);
	return 0;
}

static int usage_error(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;
	fputs("apf-admin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd) {
		fputs("\nusage: ", stderr);
		print_synopsis(stderr, cmd);
		fputc('\n', stderr);
	} else {
		fputs("\nrun 'apf-admin help' for the list of commands\n", stderr);
	}
	return EXIT_USAGE;
}

/* -------------------------------------------------------------------------------- parsing */

/* Checks one value (an option's or the positional argument's) against its definition. */
static int check_value(const struct command *cmd, const struct opt_def *d, const char *label,
		       char *v)
{
	char *end;
	long long n;
	int64_t ms;
	unsigned bits;
	unsigned char addr[16];

	switch (d->kind) {
	case K_FLAG:
		return 0;
	case K_TEXT:
		if (!*v)
			return usage_error(cmd, "%s must not be empty", label);
		if (strlen(v) > d->maxlen)
			return usage_error(cmd, "%s is longer than %zu characters", label, d->maxlen);
		return 0;
	case K_UUID:
		if (!util_is_uuid(v))
			return usage_error(cmd, "%s is not a UUID: '%s'", label, v);
		for (; *v; v++)
			*v = (char)tolower((unsigned char)*v);
		return 0;
	case K_INT:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno || end == v || *end || n < d->min || n > d->max)
			return usage_error(cmd, "%s must be an integer from %lld to %lld", label,
					   d->min, d->max);
		return 0;
	case K_ENUM:
		if (jhelp_enum_index(d->values, v) < 0) {
			char list[128];
			return usage_error(cmd, "%s must be one of: %s", label,
					   jhelp_enum_list(d->values, list, sizeof list));
		}
		return 0;
	case K_TIME:
		if (util_iso_parse(v, &ms) < 0)
			return usage_error(cmd, "%s is not an ISO-8601 date or date-time: '%s'",
					   label, v);
		return 0;
	case K_IP:
		if (inet_pton(AF_INET, v, addr) != 1 && inet_pton(AF_INET6, v, addr) != 1)
			return usage_error(cmd, "%s is not an IPv4 or IPv6 address: '%s'", label, v);
		return 0;
	case K_EMAIL:
		end = strchr(v, '@');
		if (!end || end == v || !end[1] || strlen(v) > d->maxlen || strpbrk(v, " \t\r\n"))
			return usage_error(cmd, "%s is not an e-mail address: '%s'", label, v);
		return 0;
	case K_SCOPES:
		if (apikey_scopes_parse(v, &bits) < 0 || bits == 0)
			return usage_error(cmd, "%s must list one or more of read, write, control "
					   "(comma-separated)", label);
		return 0;
	case K_LIMIT:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (strcmp(v, "default") != 0 &&
		    (errno || end == v || *end || n < d->min || n > d->max))
			return usage_error(cmd, "%s must be an integer from %lld to %lld (0: no limit)"
					   " or \"default\"", label, d->min, d->max);
		return 0;
	}
	return 0;
}

/* Index of the option spelled name[0..len), or -1. */
static int opt_lookup(const char *name, size_t len)
{
	for (int o = 0; o < O__COUNT; o++)
		if (strlen(options[o].name) == len && strncmp(options[o].name, name, len) == 0)
			return o;
	return -1;
}

/* Sorts argv into options (c->opt) and words; `-h` is --help, `--` ends the options. */
static int split_args(int argc, char **argv, struct ctx *c, char **words, int *nwords)
{
	int only_words = 0;
	*nwords = 0;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (only_words || a[0] != '-' || a[1] == '\0') {
			if (*nwords == MAX_WORDS)
				return usage_error(NULL, "too many arguments");
			words[(*nwords)++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_words = 1;
			continue;
		}
		char *eq = NULL;
		int o = O_HELP;
		if (strcmp(a, "-h") != 0) {
			eq = strchr(a, '=');
			o = a[1] == '-' ? opt_lookup(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2)) : -1;
		}
		if (o < 0)
			return usage_error(NULL, "unknown option '%s'", a);
		if (c->opt[o])
			return usage_error(NULL, "option --%s given twice", options[o].name);
		if (options[o].kind == K_FLAG) {
			if (eq)
				return usage_error(NULL, "option --%s takes no value", options[o].name);
			c->opt[o] = "1";
		} else if (eq) {
			c->opt[o] = eq + 1;
		} else if (i + 1 < argc) {
			c->opt[o] = argv[++i];
		} else {
			return usage_error(NULL, "option --%s needs a value", options[o].name);
		}
	}
	return 0;
}

/* Finds the command spelled by the leading words; *used = how many words it took. */
static const struct command *find_command(char **words, int nwords, int *used)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *w = commands[i].words;
		int k = 0;
		while (k < nwords) {
			size_t len = strcspn(w, " ");
			if (strlen(words[k]) != len || strncmp(words[k], w, len) != 0)
				break;
			k++;
			w += len;
			if (*w == '\0') {
				*used = k;
				return &commands[i];
			}
			w++;
		}
	}
	return NULL;
}

/* Names the words that matched nothing and, when the first one is a known group ("key"),
 * lists what may follow it. */
static int unknown_command(char **words, int nwords)
{
	char known[256] = "";
	size_t o = 0, n = strlen(words[0]);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strncmp(commands[i].words, words[0], n) == 0 && commands[i].words[n] == ' ')
			o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", o ? ", " : "",
					      commands[i].words + n + 1);
	if (o)
		return usage_error(NULL, "unknown command '%s%s%s' ('%s' takes: %s)", words[0],
				   nwords > 1 ? " " : "", nwords > 1 ? words[1] : "", words[0], known);
	return usage_error(NULL, "unknown command '%s'", words[0]);
}

static int parse(int argc, char **argv, struct ctx *c)
{
	char *words[MAX_WORDS];
	int nwords, used = 0, rc;

	if ((rc = split_args(argc, argv, c, words, &nwords)) != 0)
		return rc;
	if (nwords == 0 && c->opt[O_HELP])
		return 0; /* c->cmd stays NULL: the whole usage */
	if (nwords == 0) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	if (!(c->cmd = find_command(words, nwords, &used)))
		return unknown_command(words, nwords);
	const struct command *cmd = c->cmd;
	if (c->opt[O_HELP])
		return 0;
	if (nwords - used > (cmd->arg ? 1 : 0))
		return usage_error(cmd, "unexpected argument '%s'", words[used + (cmd->arg ? 1 : 0)]);
	if (cmd->arg && nwords - used < 1)
		return usage_error(cmd, "%s is missing", cmd->arg->name);
	if (cmd->arg && (rc = check_value(cmd, cmd->arg, cmd->arg->name, words[used])) != 0)
		return rc;
	c->arg = cmd->arg ? words[used] : NULL;
	for (unsigned o = 0; o < O__COUNT; o++) {
		char label[40];
		snprintf(label, sizeof label, "--%s", options[o].name);
		if (c->opt[o] && !((cmd->required | cmd->optional | GLOBAL_OPTS) & OPT(o)))
			return usage_error(cmd, "%s does not apply to '%s'", label, cmd->words);
		if (!c->opt[o] && (cmd->required & OPT(o)))
			return usage_error(cmd, "missing required option %s", label);
		if (c->opt[o] && (rc = check_value(cmd, &options[o], label, c->opt[o])) != 0)
			return rc;
	}
	return 0;
}

/* The referenced account, user and hub must exist (user and hub in that account). */
static int check_refs(struct ctx *c)
{
	for (size_t i = 0; i < sizeof ref_checks / sizeof ref_checks[0]; i++) {
		const struct ref_check *r = &ref_checks[i];
		struct db_res res;
		if (!c->opt[r->opt])
			continue;
		struct db_arg args[2] = { DS(c->opt[r->opt]), DS(c->opt[O_ACCOUNT]) };
		enum api_err e = db_exec(c->db, r->q, args, r->nargs, &res);
		unsigned long rows = res.nrows;
		db_res_free(&res);
		if (e)
			return db_failed(c, e);
		if (rows == 0)
			return fail("%s: %s", r->missing, c->opt[r->opt]);
	}
	return 0;
}

/* ---------------------------------------------------------------------------------- output */

static void print_value(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		fputs(json_string_value(v), stdout);
		break;
	case JSON_INTEGER:
		printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		printf("%g", json_real_value(v));
		break;
	case JSON_TRUE:
		fputs("true", stdout);
		break;
	case JSON_FALSE:
		fputs("false", stdout);
		break;
	case JSON_ARRAY:
		if (json_array_size(v) == 0)
			fputc('-', stdout);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				fputc(',', stdout);
			print_value(json_array_get(v, i));
		}
		break;
	case JSON_OBJECT:
		json_dumpf(v, stdout, JSON_COMPACT);
		break;
	case JSON_NULL:
		fputc('-', stdout);
		break;
	}
}

static void print_human(const char *tpl, const json_t *obj)
{
	for (const char *p = tpl; *p; p++) {
		const char *end = *p == '{' ? strchr(p, '}') : NULL;
		if (!end) {
			fputc(*p, stdout);
			continue;
		}
		int count = p[1] == '#';
		char key[64];
		snprintf(key, sizeof key, "%.*s", (int)(end - p - 1 - count), p + 1 + count);
		const json_t *v = json_object_get(obj, key);
		if (count)
			printf("%zu", json_array_size(v));
		else if (v)
			print_value(v);
		else
			fputc('-', stdout);
		p = end;
	}
	fputc('\n', stdout);
}

static int print_result(const struct ctx *c)
{
	const json_t *data = json_object_get(c->out, "data");
	if (c->opt[O_JSON]) {
		json_dumpf(c->out, stdout, JSON_COMPACT);
		fputc('\n', stdout);
	} else if (json_is_array(data)) {
		for (size_t i = 0; i < json_array_size(data); i++)
			print_human(c->cmd->human, json_array_get(data, i));
	} else {
		print_human(c->cmd->human, c->out);
	}
	return fflush(stdout) == 0 ? 0 : fail("cannot write the output: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	struct ctx c = { 0 };
	int rc;

	log_set_name("apf-admin");
	if ((rc = parse(argc, argv, &c)) != 0)
		goto out;
	if (c.opt[O_HELP]) {
		if (!c.cmd || c.cmd->run == cmd_help) {
			print_usage(stdout);
		} else {
			fputs("usage: ", stdout);
			print_synopsis(stdout, c.cmd);
			printf("\n      %s\n", c.cmd->help);
		}
		goto out;
	}
	if (!(c.cmd->flags & CMD_NODB)) {
		rc = EXIT_FAIL;
		if (cfg_load(c.opt[O_CONF]) < 0)
			goto out;
		/* the runtime user (db_user) may only read and write rows: schema changes use the
		 * migration user's credentials when they are configured */
		if ((c.cmd->flags & CMD_SCHEMA) && cfg_str("db_migrate_user", NULL)) {
			cfg_set("db_user", cfg_str("db_migrate_user", NULL));
			cfg_set("db_password", cfg_str("db_migrate_password", ""));
		}
		/* a migration may rebuild a large table: no read timeout (common/db.h) */
		if (c.cmd->flags & CMD_SCHEMA)
			cfg_set("db_read_timeout", "0");
		if (!(c.db = db_open())) {
			fail("out of memory");
			goto out;
		}
		if ((rc = check_refs(&c)) != 0)
			goto out;
	}
	if ((rc = c.cmd->run(&c)) == 0 && c.out)
		rc = print_result(&c);
out:
	json_decref(c.out);
	db_close(c.db);
	return rc;
}
