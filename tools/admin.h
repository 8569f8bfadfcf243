/* admin.h - what apf-admin's command files share (tools/admin.c holds the option and command
 * tables, the parser, the output and these helpers; each group of commands has its own
 * tools/admin_*.c). A handler gets the parsed command line in a struct ctx and leaves its result
 * in c->out; it returns 0, or an exit status after printing the reason (fail, db_failed). */
#ifndef APF_ADMIN_H
#define APF_ADMIN_H

#include "cfg.h"
#include "db.h"
#include "err.h"
#include "fields.h"
#include "jhelp.h"

#include <jansson.h>
#include <stddef.h>

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* What a command prints: field rows in the operator view (common/fields.h) give both the SELECT
 * list and the JSON member of each column, so no column list is kept in step with another by
 * hand; `from` follows the SELECT list, its ?s bound to the command's arguments. */
struct output {
	const struct rfield *fields;
	const char *from;
};
#define COL(name, out) RES_FIELD(name, #name, out, NONE, RF_ADMIN)
#define COLX(name, sql, out) RES_FIELD(name, sql, out, NONE, RF_ADMIN)

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
	O_MAX_FILES, O_TASK_TYPE, O_STATUS, O_FORCE, O_ENABLED, O_MAX_IN_FLIGHT, O_MIN_GAP,
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

#define OPT(o) (1u << (o))
#define GLOBAL_OPTS (OPT(O_JSON) | OPT(O_CONF) | OPT(O_HELP))

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

/* "apf-admin: " + the message on stderr; returns EXIT_FAIL. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Says why a database call failed; returns EXIT_FAIL. */
int db_failed(const struct ctx *c, enum api_err e);
/* Runs a statement that returns no rows. A duplicate key fails with on_conflict when given. */
int q_exec(struct ctx *c, const struct db_query *q, const struct db_arg *args, unsigned nargs,
	   const char *on_conflict);
/* Runs o's SELECT with args bound to its ?s (the rows in *res). */
int q_select(struct ctx *c, const struct output *o, const struct db_arg *args, unsigned nargs,
	     struct db_res *res);
/* *out = o's first row (new reference), or NULL when there is none. */
int q_obj(struct ctx *c, const struct output *o, const struct db_arg *args, unsigned nargs,
	  json_t **out);
/* *out = {"data": [every row of o]} (new reference). */
int q_list(struct ctx *c, const struct output *o, const struct db_arg *args, unsigned nargs,
	   json_t **out);
/* Replaces obj's comma-separated member key (a SET column) with an array of its items. */
void split_member(json_t *obj, const char *key);
/* Prints c->out as main does (JSON or the command's human template). */
int print_result(const struct ctx *c);

/* The commands, by file. */
int cmd_migrate(struct ctx *c);
/* admin_accounts.c */
int cmd_account_create(struct ctx *c);
int cmd_account_quota(struct ctx *c);
int cmd_account_set_quota(struct ctx *c);
int cmd_user_create(struct ctx *c);
int cmd_worklist_defaults(struct ctx *c);
int cmd_worklist_set_default(struct ctx *c);
int cmd_worklist_clear_default(struct ctx *c);
int cmd_account_list(struct ctx *c);
int cmd_user_list(struct ctx *c);
/* admin_keys.c */
int cmd_key_create(struct ctx *c);
int cmd_key_list(struct ctx *c);
int cmd_key_revoke(struct ctx *c);
int cmd_key_rotate(struct ctx *c);
/* admin_hubs.c */
int cmd_hub_create(struct ctx *c);
int cmd_hub_revoke(struct ctx *c);
int cmd_broker_init(struct ctx *c);
int cmd_hub_scan(struct ctx *c);
int cmd_hub_set_online(struct ctx *c);
int cmd_printer_create(struct ctx *c);
int cmd_hub_credentials_rotate(struct ctx *c);
int cmd_hub_list(struct ctx *c);
/* admin_queue.c */
int cmd_queue_stats(struct ctx *c);
int cmd_queue_list(struct ctx *c);
int cmd_queue_retry(struct ctx *c);
int cmd_queue_purge(struct ctx *c);
/* admin_dispatch.c */
int cmd_dispatch_show(struct ctx *c);
int cmd_dispatch_set(struct ctx *c);
int cmd_dispatch_run(struct ctx *c);
/* admin_stock.c */
int cmd_stock_verify(struct ctx *c);
int cmd_stock_reconcile(struct ctx *c);
int cmd_stock_history(struct ctx *c);
int cmd_analytics_verify(struct ctx *c);
/* admin_doctor.c */
int cmd_doctor(struct ctx *c);
/* admin_backup.c */
int cmd_backup(struct ctx *c);
int cmd_restore(struct ctx *c);

#endif
