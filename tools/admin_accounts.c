/* admin_accounts.c - apf-admin: accounts, users, storage quotas and worklist default assignees (see admin.h). */
#include "admin.h"

#include "uploads.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------- queries */

static const struct db_query Q_ACCOUNT_INSERT = {
	"INSERT INTO accounts (id, name) VALUES (?, ?)"
};

static const struct db_query Q_USER_INSERT = {
	"INSERT INTO users (id, account_id, email, role) VALUES (?, ?, ?, ?)"
};

/* Worklist default assignees (docs/worklist.md): one user per task type and account. */
static const struct db_query Q_DEFAULT_SET = {
	"INSERT INTO task_assignment_defaults (id, account_id, task_type, user_id) VALUES (?, ?, ?, ?)"
	" ON DUPLICATE KEY UPDATE user_id = VALUES(user_id), updated_at = NOW(3)"
};

static const struct db_query Q_DEFAULT_CLEAR = {
	"DELETE FROM task_assignment_defaults WHERE account_id = ? AND task_type = ?"
};

/* ------------------------------------------------------------------------------ outputs */

static const struct rfield F_ACCOUNT[] = {
	COL(id, STR) COL(name, STR) COL(created_at, TIME) RES_FIELD_END
};

static const struct output OUT_ACCOUNT = { F_ACCOUNT, " FROM accounts WHERE id = ?" };

static const struct rfield F_USER[] = {
	COL(id, STR) COL(account_id, STR) COL(email, STR) COL(role, STR) RES_FIELD_END
};

static const struct output OUT_USER = { F_USER, " FROM users WHERE id = ?" };

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

int cmd_account_quota(struct ctx *c)
{
	return quota_out(c);
}

int cmd_account_set_quota(struct ctx *c)
{
	if (!c->opt[O_MAX_MB] && !c->opt[O_MAX_FILES])
		return fail("account set-quota: give --max-mb, --max-files or both") + 1; /* usage */
	enum api_err e = uploads_set_quota(c->db, c->opt[O_ACCOUNT],
					   limit_opt(c->opt[O_MAX_MB], 1024LL * 1024LL),
					   limit_opt(c->opt[O_MAX_FILES], 1));
	return e ? db_failed(c, e) : quota_out(c);
}

int cmd_account_create(struct ctx *c)
{
	char id[UUID_LEN + 1];
	if (util_uuid(id) < 0)
		return fail("cannot read random bytes");
	if (q_exec(c, &Q_ACCOUNT_INSERT, DB_ARGS(DS(id), DS(c->opt[O_NAME])), NULL))
		return EXIT_FAIL;
	return q_obj(c, &OUT_ACCOUNT, DB_ARGS(DS(id)), &c->out);
}

int cmd_user_create(struct ctx *c)
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

int cmd_worklist_defaults(struct ctx *c)
{
	return defaults_out(c);
}

/* The user (main checked it is the account's) must be active: tasks are only ever assigned
 * to active users. */
int cmd_worklist_set_default(struct ctx *c)
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

int cmd_worklist_clear_default(struct ctx *c)
{
	if (q_exec(c, &Q_DEFAULT_CLEAR, DB_ARGS(DS(c->opt[O_ACCOUNT]), DS(c->opt[O_TASK_TYPE])),
		   NULL))
		return EXIT_FAIL;
	return defaults_out(c);
}

/* ------------------------------------------------------------------------------- lists */

static const struct rfield F_ACCOUNT_LIST[] = {
	COL(id, STR) COL(name, STR) COL(created_at, TIME)
	COLX(users, "(SELECT COUNT(*) FROM users u WHERE u.account_id = a.id)", INT)
	COLX(keys, "(SELECT COUNT(*) FROM api_keys k WHERE k.account_id = a.id"
		   " AND k.revoked_at IS NULL)", INT)
	COLX(hubs, "(SELECT COUNT(*) FROM hubs h WHERE h.account_id = a.id)", INT)
	RES_FIELD_END
};
static const struct output OUT_ACCOUNT_LIST = { F_ACCOUNT_LIST, " FROM accounts a ORDER BY name, id" };

int cmd_account_list(struct ctx *c)
{
	return q_list(c, &OUT_ACCOUNT_LIST, NULL, 0, &c->out);
}

static const struct rfield F_USER_LIST[] = {
	COL(id, STR) COL(email, STR) COL(role, STR) COL(is_active, BOOL) COL(created_at, TIME)
	RES_FIELD_END
};
static const struct output OUT_USER_LIST = {
	F_USER_LIST, " FROM users WHERE account_id = ? ORDER BY email"
};

int cmd_user_list(struct ctx *c)
{
	return q_list(c, &OUT_USER_LIST, DB_ARGS(DS(c->opt[O_ACCOUNT])), &c->out);
}
