/* admin.c - apf-admin, the dashboard's jobs for sysadmins and tests (spec: operations.md).
 *
 * Two tables drive everything: `options[]` describes every option once (value kind, limits,
 * allowed values) and `commands[]` lists every subcommand with its handler, required and optional
 * options, positional argument, help line and human output template. One parser checks the
 * command line against them (unknown or misplaced option, missing value, bad UUID, ...), then
 * checks that the referenced account / user / hub exist, so handlers hold only their command's
 * work. A handler leaves its result in c->out; main prints it as one JSON object (--json) or as
 * one line per result through the row's template. Exit 0 on success, 1 on a failure, 2 on a
 * usage error; every message goes to stderr.
 *
 * This file holds the tables, the parser, the output and the helpers every command uses
 * (admin.h), and migrate; each group of commands has its own file: admin_accounts.c (accounts,
 * users, quotas, worklist defaults), admin_keys.c, admin_hubs.c (hubs, brokers, printers),
 * admin_queue.c, admin_stock.c (stock ledger, analytics rollups). */
#include "admin.h"

#include "apikey.h"
#include "instpath.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_WORDS 8
#define MAX_SQL_FILE (16 * 1024 * 1024)

/* ------------------------------------------------------------------------------- queries */

static const struct db_query Q_ACCOUNT_EXISTS = { "SELECT id FROM accounts WHERE id = ?" };
static const struct db_query Q_USER_EXISTS = {
	"SELECT id FROM users WHERE id = ? AND account_id = ?"
};
static const struct db_query Q_HUB_EXISTS = {
	"SELECT id FROM hubs WHERE id = ? AND account_id = ?"
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

/* ------------------------------------------------------------------------------ options */

static const char *const roles[] = { "owner", "admin", "member", "operator", "viewer", NULL };
static const char *const task_types[] = {
	"assembly", "filament_change", "collection", "maintenance", "quality_check", NULL
};
static const char *const on_off[] = { "on", "off", NULL };
static const char *const connections[] = { "bambu", "prusa", "klipper", "octoprint", NULL };

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
	[O_STATUS] = { "status", NULL, K_FLAG, 0, 0, 0, NULL, NULL },
	[O_FORCE] = { "force", NULL, K_FLAG, 0, 0, 0, NULL, NULL },
	[O_ENABLED] = { "enabled", NULL, K_ENUM, 0, 0, 0, on_off, NULL },
	[O_MAX_IN_FLIGHT] = { "max-in-flight", "N", K_INT, 0, 1, 100, NULL, NULL },
	[O_MIN_GAP] = { "min-gap", "SECONDS", K_INT, 0, 0, 3600, NULL, NULL },
};

/* Positional arguments. */
static const struct opt_def A_KEY_ID = { "KEY_ID", NULL, K_UUID, 0, 0, 0, NULL, NULL };
static const struct opt_def A_HUB_ID = { "HUB_ID", NULL, K_UUID, 0, 0, 0, NULL, NULL };
static const struct opt_def A_ITEM_ID = { "ITEM_ID", NULL, K_UUID, 0, 0, 0, NULL, NULL };
static const struct opt_def A_JOB_ID = { "ID", NULL, K_INT, 0, 1, LLONG_MAX, NULL, NULL };
static const struct opt_def A_DIR = { "DIR", NULL, K_TEXT, PATH_MAX - 64, 0, 0, NULL, NULL };

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

int fail(const char *fmt, ...)
{
	va_list ap;
	fputs("apf-admin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

int db_failed(const struct ctx *c, enum api_err e)
{
	if (e == E_SERVICE_UNAVAILABLE)
		return fail("database unavailable (settings in %s)", cfg_path());
	if (e == E_CONFLICT)
		return fail("duplicate key (MariaDB error %u)", db_errno(c->db));
	return fail("database error (MariaDB error %u, logged above)", db_errno(c->db));
}

/* Runs a statement that returns no rows. A duplicate key fails with on_conflict when given. */
int q_exec(struct ctx *c, const struct db_query *q, const struct db_arg *args,
	   unsigned nargs, const char *on_conflict)
{
	enum api_err e = db_exec(c->db, q, args, nargs, NULL);
	if (e == E_CONFLICT && on_conflict)
		return fail("%s", on_conflict);
	return e ? db_failed(c, e) : 0;
}

/* Runs o's SELECT with args bound to its ?s (the rows in *res). */
int q_select(struct ctx *c, const struct output *o, const struct db_arg *args,
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
int q_obj(struct ctx *c, const struct output *o, const struct db_arg *args,
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
int q_list(struct ctx *c, const struct output *o, const struct db_arg *args,
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
void split_member(json_t *obj, const char *key)
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

static const struct db_query Q_MIG_HAS_TABLE = {
	"SELECT COUNT(*) FROM information_schema.tables"
	" WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'"
};
static const struct db_query Q_MIG_LIST = {
	"SELECT version, applied_at FROM schema_migrations ORDER BY version"
};

/* migrate --status: every migration of dir or schema_migrations, "applied", "pending" (a file
 * not applied yet) or "unknown" (recorded, but no file here: a newer version's). Changes
 * nothing; doctor reads c->out. */
static int migrate_status(struct ctx *c, const char *dir)
{
	struct dirent **files = NULL;
	struct db_res has = { 0 }, done = { 0 };
	json_int_t count[3] = { 0 };
	static const char *const STATE[] = { "applied", "pending", "unknown" };
	int n = scandir(dir, &files, migration_file, alphasort), rc = EXIT_FAIL;
	if (n < 0)
		return fail("cannot read migrations directory %s: %s", dir, strerror(errno));
	enum api_err e = db_exec(c->db, &Q_MIG_HAS_TABLE, NULL, 0, &has);
	if (!e && db_get_int(&has, 0, 0, 0) > 0)
		e = db_exec(c->db, &Q_MIG_LIST, NULL, 0, &done);
	json_t *rows = json_array();
	if (e) {
		db_failed(c, e);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		char version[256];
		const char *at = NULL;
		snprintf(version, sizeof version, "%.*s", (int)(strlen(files[i]->d_name) - 4),
			 files[i]->d_name);
		for (unsigned long r = 0; r < done.nrows; r++)
			if (strcmp(db_get(&done, r, 0), version) == 0)
				at = db_get(&done, r, 1);
		count[at ? 0 : 1]++;
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s?}", "version", version, "state",
						      STATE[at ? 0 : 1], "applied_at", at));
	}
	for (unsigned long r = 0; r < done.nrows; r++) {
		char name[300];
		int found = 0;
		snprintf(name, sizeof name, "%s.sql", db_get(&done, r, 0));
		for (int i = 0; i < n && !found; i++)
			found = strcmp(files[i]->d_name, name) == 0;
		if (found)
			continue;
		count[2]++;
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s?}", "version",
						      db_get(&done, r, 0), "state", STATE[2],
						      "applied_at", db_get(&done, r, 1)));
	}
	c->out = json_pack("{s:s, s:O, s:I, s:I, s:I}", "sql_dir", dir, "data", rows, "applied",
			   count[0], "pending", count[1], "unknown", count[2]);
	if (!c->out) {
		fail("out of memory");
		goto out;
	}
	rc = 0;
	if (c->cmd && c->cmd->run == cmd_migrate && !c->opt[O_JSON]) {
		json_t *row;
		size_t i;
		json_array_foreach(rows, i, row) {
			printf("%-40s %-8s %s\n", jhelp_str(row, "version"), jhelp_str(row, "state"),
			       jhelp_str(row, "applied_at") ? jhelp_str(row, "applied_at") : "-");
		}
		printf("%lld applied, %lld pending, %lld unknown (%s)\n", (long long)count[0],
		       (long long)count[1], (long long)count[2], dir);
		json_decref(c->out);
		c->out = NULL;
	}
out:
	json_decref(rows);
	for (int i = 0; i < n; i++)
		free(files[i]);
	free(files);
	db_res_free(&has);
	db_res_free(&done);
	return rc;
}

int cmd_migrate(struct ctx *c)
{
	const char *dir = inst_sql_dir(); /* conf sql_dir, ./sql or the installed one */
	struct dirent **files = NULL;
	struct db_res done = { 0 }, lock = { 0 };
	json_t *applied = json_array();
	int n = 0, locked = 0, rc = EXIT_FAIL;
	enum api_err e;

	if (c->opt[O_STATUS]) { /* changes nothing */
		json_decref(applied);
		return migrate_status(c, dir);
	}
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

/* -------------------------------------------------------------------------- the table */

static int cmd_help(struct ctx *c);

static const struct command commands[] = {
	{ "migrate", cmd_migrate, 0, OPT(O_STATUS), NULL, CMD_SCHEMA,
	  "apply the pending sql/NNNN_*.sql migrations (conf sql_dir) as conf db_migrate_user"
	  " (else db_user); idempotent. --status: list each migration, applied, pending or "
	  "unknown (recorded, no file here), and change nothing",
	  "applied {#applied} migrations" },
	{ "doctor", cmd_doctor, 0, 0, NULL, CMD_NODB,
	  "check the installation: configuration, database and migrations, broker login, nginx "
	  "-t, certificate expiry, file store, free disk, clock; one line each, exit 1 on a FAIL",
	  NULL },
	{ "backup", cmd_backup, 0, 0, &A_DIR, CMD_SCHEMA,
	  "write a backup into the new or empty folder DIR: a consistent database dump, a copy of "
	  "the file store and manifest.json (migrations, size and SHA-256 of every file)",
	  "backup in {dir}: database {database_bytes} bytes, {objects} objects ({object_bytes} "
	  "bytes), {ms} ms" },
	{ "restore", cmd_restore, 0, OPT(O_FORCE), &A_DIR, CMD_SCHEMA,
	  "check the backup in DIR against its manifest, then load it into the configured "
	  "database and file store, which must be empty (--force: drop and empty them first)",
	  "restored {dir} (made {backup_created_at}): {tables} tables, {objects} objects "
	  "({object_bytes} bytes), {ms} ms; then run apf-admin migrate" },
	{ "account list", cmd_account_list, 0, 0, NULL, 0,
	  "list every account with its users, active keys and hubs",
	  "{id} {name} users={users} keys={keys} hubs={hubs} created={created_at}" },
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
	{ "user list", cmd_user_list, OPT(O_ACCOUNT), 0, NULL, 0,
	  "list an account's users",
	  "{id} {email} {role} active={is_active} created={created_at}" },
	{ "key create", cmd_key_create, OPT(O_ACCOUNT) | OPT(O_NAME) | OPT(O_SCOPES),
	  OPT(O_USER) | OPT(O_EXPIRES_AT) | OPT(O_RATE_LIMIT), NULL, 0,
	  "mint an API key (shown once); --rate-limit: its requests per minute",
	  "key {id} created: {key} (shown once; scopes {scopes}, expires {expires_at}, "
	  "rate limit {rate_limit})" },
	{ "key list", cmd_key_list, 0, OPT(O_ACCOUNT), NULL, 0,
	  "list the API keys of an account, or of every account (never the key itself)",
	  "{id} {name} ({key_prefix}...) scopes={scopes} created={created_at} "
	  "last_used={last_used_at} expires={expires_at} revoked={revoked_at}" },
	{ "key revoke", cmd_key_revoke, 0, 0, &A_KEY_ID, 0,
	  "revoke an API key (revoking again keeps the first time)",
	  "key {id} revoked at {revoked_at}" },
	{ "key rotate", cmd_key_rotate, 0, OPT(O_EXPIRES_AT), &A_KEY_ID, 0,
	  "replace a key: a new key (shown once) with its account, user, name, scopes, rate limit "
	  "and expiry (or --expires-at), and the old key revoked, in one transaction",
	  "key {id} created: {key} (shown once; scopes {scopes}, expires {expires_at}); key "
	  "{replaces} revoked" },
	{ "hub list", cmd_hub_list, 0, OPT(O_ACCOUNT), NULL, 0,
	  "list the hubs of an account, or of every account: presence and broker credential",
	  "{id} {name} account={account_id} online={is_online} last_seen={last_seen_at} "
	  "credential={has_credential}" },
	{ "hub create", cmd_hub_create, OPT(O_ACCOUNT) | OPT(O_NAME), 0, NULL, 0,
	  "create a claimed hub and its MQTT account (password shown once)",
	  "hub {id} created: {name}; MQTT username {mqtt_username}, password {mqtt_password} "
	  "(shown once)" },
	{ "hub revoke", cmd_hub_revoke, 0, 0, &A_HUB_ID, 0,
	  "revoke a hub's MQTT credential: its client is disabled on every broker (mqtt_hosts)",
	  "hub {id} revoked: its MQTT client is disabled" },
	{ "hub credentials rotate", cmd_hub_credentials_rotate, 0, 0, &A_HUB_ID, 0,
	  "set a new MQTT password for the hub on every broker (its open connection is closed); "
	  "the password is shown once",
	  "hub {id}: new MQTT password for {mqtt_username}: {mqtt_password} (shown once)" },
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
	{ "queue purge", cmd_queue_purge, OPT(O_DEAD), 0, NULL, 0,
	  "delete the dead-lettered jobs (read them first with queue list --dead)",
	  "{purged} dead jobs deleted" },
	{ "dispatch show", cmd_dispatch_show, OPT(O_ACCOUNT), 0, NULL, 0,
	  "an account's auto-dispatch settings and opted-in printers (docs/dispatch.md)",
	  "enabled={enabled} max_in_flight={max_starts_in_flight_per_hub} "
	  "min_gap={min_seconds_between_starts}s printers={#printers}" },
	{ "dispatch set", cmd_dispatch_set, OPT(O_ACCOUNT),
	  OPT(O_ENABLED) | OPT(O_MAX_IN_FLIGHT) | OPT(O_MIN_GAP), NULL, 0,
	  "change an account's auto-dispatch settings",
	  "enabled={enabled} max_in_flight={max_starts_in_flight_per_hub} "
	  "min_gap={min_seconds_between_starts}s printers={#printers}" },
	{ "dispatch run", cmd_dispatch_run, 0, OPT(O_ACCOUNT), NULL, 0,
	  "one dispatch pass now (one account, or every account with dispatch on)",
	  "{started} job(s) started" },
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

int print_result(const struct ctx *c)
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
