/* t_admin.c - apf-admin's sysadmin commands (docs/operations.md, "apf-admin"): key rotate (a
 * new key with the old one's attributes works, the old one is TOKEN_REVOKED, in one step), key
 * list across accounts, queue purge --dead (dead letters only), migrate --status (every
 * migration of sql/ applied), account / user / hub list. doctor, backup and restore are checked
 * by tests/admin_ops.sh (they need files and services the API tests do not touch). */
#include "cases.h"

#include "apitest.h"

#include <dirent.h>
#include <string.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const struct db_query Q_KEY_ATTRS = {
	"SELECT CONCAT_WS('|', account_id, name, scopes, IFNULL(rate_limit, '-'),"
	" IFNULL(expires_at, '-'), IFNULL(revoked_at, '-')) FROM api_keys WHERE id = ?"
};
static const struct db_query Q_KEY_REVOKED = {
	"SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = ?"
};
static const struct db_query Q_JOB_INSERT = {
	"INSERT INTO queue_jobs (queue, type, account_id, payload, state, run_at)"
	" VALUES ('ADMIN_TEST', 'admin.test', ?, '{}', ?, NOW(3) + INTERVAL 1 DAY)"
};
static const struct db_query Q_JOBS_OF = {
	"SELECT CONCAT(SUM(state = 'dead'), '|', SUM(state = 'ready')) FROM queue_jobs"
	" WHERE account_id = ? AND queue = 'ADMIN_TEST'"
};
static const struct db_query Q_DEAD_ALL = {
	"SELECT COUNT(*) FROM queue_jobs WHERE state = 'dead' AND ? IS NOT NULL"
};
static const struct db_query Q_JOBS_DELETE = {
	"DELETE FROM queue_jobs WHERE account_id = ? AND queue = 'ADMIN_TEST'"
};

/* The array's object whose member key is value, or NULL. */
static json_t *find_in(const json_t *arr, const char *key, const char *value)
{
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		if (json_is_string(json_object_get(o, key)) &&
		    strcmp(json_string_value(json_object_get(o, key)), value) == 0)
			return o;
	}
	return NULL;
}

static void test_key_rotate(void)
{
	struct tenant t;
	char before[400], after[400], v[8];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(FX_TEXT(before, Q_KEY_ATTRS, DS(t.key_id)));
	json_t *o = FX_ADMIN("key", "rotate", t.key_id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	const char *key = json_string_value(json_object_get(o, "key"));
	const char *id = json_string_value(json_object_get(o, "id"));
	CU_ASSERT_FATAL(key && id);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "replaces")), t.key_id);
	CU_ASSERT_STRING_NOT_EQUAL(id, t.key_id);
	CU_ASSERT_STRING_NOT_EQUAL(key, t.key);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "scopes")), 2);
	/* the new key: the old one's account, name, scopes, rate limit, expiry, not revoked */
	FX(FX_TEXT(after, Q_KEY_ATTRS, DS(id)));
	before[strlen(before) - strlen(strrchr(before, '|'))] = '\0';
	CU_ASSERT_STRING_EQUAL(after + strlen(after) - 2, "|-");
	after[strlen(after) - 2] = '\0';
	CU_ASSERT_STRING_EQUAL(after, before);
	FX(FX_TEXT(v, Q_KEY_REVOKED, DS(t.key_id)));
	CU_ASSERT_STRING_EQUAL(v, "1");
	api("GET", "/printers", key, NULL, &r);
	EXPECT(r, 200, NULL);
	/* apf-admin told the API host: the old key is refused at once */
	api("GET", "/printers", t.key, NULL, &r);
	EXPECT(r, 401, "TOKEN_REVOKED");
	/* a revoked key, an unknown key: nothing to rotate */
	int st = 0;
	json_t *x = fx_admin_exit((const char *const[]){ "key", "rotate", t.key_id, NULL }, &st);
	CU_ASSERT_EQUAL(st, 1);
	json_decref(x);
	x = fx_admin_exit((const char *const[]){ "key", "rotate", NO_SUCH_ID, NULL }, &st);
	CU_ASSERT_EQUAL(st, 1);
	json_decref(x);
	/* --expires-at replaces the expiry */
	json_t *o2 = FX_ADMIN("key", "rotate", id, "--expires-at", "2099-01-02T03:04:05Z");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o2, "expires_at")),
			       "2099-01-02T03:04:05.000Z");
	api("GET", "/printers", json_string_value(json_object_get(o2, "key")), NULL, &r);
	EXPECT(r, 200, NULL);
	/* apf-admin told the API host: the old key is refused at once */
	api("GET", "/printers", key, NULL, &r);
	EXPECT(r, 401, "TOKEN_REVOKED");
	json_decref(o2);
	json_decref(o);
}

/* key list without --account: every account's keys; with it: that account's only. */
static void test_key_list(void)
{
	struct tenant a, b;
	FX(fx_tenant(&a, "read"));
	FX(fx_tenant(&b, "read"));
	json_t *all = FX_ADMIN("key", "list");
	json_t *one = FX_ADMIN("key", "list", "--account", a.account);
	CU_ASSERT_FATAL(all && one);
	json_t *ka = find_in(json_object_get(all, "data"), "id", a.key_id);
	CU_ASSERT_PTR_NOT_NULL(ka);
	CU_ASSERT_PTR_NOT_NULL(find_in(json_object_get(all, "data"), "id", b.key_id));
	CU_ASSERT_PTR_NOT_NULL(find_in(json_object_get(one, "data"), "id", a.key_id));
	CU_ASSERT_PTR_NULL(find_in(json_object_get(one, "data"), "id", b.key_id));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(one, "data")), 1);
	if (ka) {
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ka, "account_id")),
				       a.account);
		CU_ASSERT_PTR_NULL(json_object_get(ka, "key"));
		CU_ASSERT_PTR_NULL(json_object_get(ka, "key_hash"));
	}
	json_decref(all);
	json_decref(one);
}

static void test_queue_purge(void)
{
	char acct[FX_ID], v[64];
	FX(fx_account(acct));
	FX(FX_SQL(Q_JOB_INSERT, DS(acct), DS("dead")));
	FX(FX_SQL(Q_JOB_INSERT, DS(acct), DS("dead")));
	FX(FX_SQL(Q_JOB_INSERT, DS(acct), DS("ready")));
	FX(FX_TEXT(v, Q_JOBS_OF, DS(acct)));
	CU_ASSERT_STRING_EQUAL(v, "2|1");
	/* --dead is required */
	int st = 0;
	json_t *x = fx_admin_exit((const char *const[]){ "queue", "purge", NULL }, &st);
	CU_ASSERT_EQUAL(st, 2);
	json_decref(x);
	FX(FX_TEXT(v, Q_JOBS_OF, DS(acct)));
	CU_ASSERT_STRING_EQUAL(v, "2|1");
	json_t *o = FX_ADMIN("queue", "purge", "--dead");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT(json_integer_value(json_object_get(o, "purged")) >= 2);
	json_decref(o);
	FX(FX_TEXT(v, Q_JOBS_OF, DS(acct)));
	CU_ASSERT_STRING_EQUAL(v, "0|1"); /* the ready job stays */
	FX(FX_TEXT(v, Q_DEAD_ALL, DS(acct)));
	CU_ASSERT_STRING_EQUAL(v, "0");
	FX(FX_SQL(Q_JOBS_DELETE, DS(acct)));
}

static int sql_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 4 && strcmp(d->d_name + n - 4, ".sql") == 0 && d->d_name[0] >= '0' &&
	       d->d_name[0] <= '9';
}

/* Every file of sql/ is listed as applied; nothing pending or unknown. */
static void test_migrate_status(void)
{
	struct dirent **files = NULL;
	const char *src = getenv("APF_SRC");
	char dir[512];
	snprintf(dir, sizeof dir, "%s/sql", src && *src ? src : ".");
	int n = scandir(dir, &files, sql_file, alphasort);
	CU_ASSERT_FATAL(n > 0);
	json_t *o = FX_ADMIN("migrate", "--status");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	json_t *data = json_object_get(o, "data");
	CU_ASSERT_EQUAL(json_array_size(data), (size_t)n);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "applied")), n);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "pending")), 0);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "unknown")), 0);
	for (int i = 0; i < n; i++) {
		char version[256];
		snprintf(version, sizeof version, "%.*s", (int)strlen(files[i]->d_name) - 4,
			 files[i]->d_name);
		json_t *row = find_in(data, "version", version);
		CU_ASSERT_PTR_NOT_NULL(row);
		if (row) {
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(row, "state")),
					       "applied");
			CU_ASSERT_TRUE(json_is_string(json_object_get(row, "applied_at")));
		}
		free(files[i]);
	}
	free(files);
	json_decref(o);
}

/* account list, user list, hub list: the rows made here, with their counts. */
static void test_lists(void)
{
	struct tenant t;
	char hub[FX_ID];
	FX(fx_tenant(&t, "read"));
	FX(fx_hub(t.account, "Admin list hub", hub));
	json_t *accounts = FX_ADMIN("account", "list");
	json_t *hubs = FX_ADMIN("hub", "list", "--account", t.account);
	json_t *users = FX_ADMIN("user", "create", "--account", t.account, "--email",
				 "admin-list@example.com");
	json_t *ulist = FX_ADMIN("user", "list", "--account", t.account);
	CU_ASSERT_FATAL(accounts && hubs && users && ulist);
	json_t *a = find_in(json_object_get(accounts, "data"), "id", t.account);
	CU_ASSERT_PTR_NOT_NULL(a);
	if (a) {
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(a, "keys")), 1);
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(a, "hubs")), 1);
	}
	CU_ASSERT_EQUAL(json_array_size(json_object_get(hubs, "data")), 1);
	json_t *h = find_in(json_object_get(hubs, "data"), "id", hub);
	CU_ASSERT_PTR_NOT_NULL(h);
	if (h)
		CU_ASSERT_TRUE(json_is_true(json_object_get(h, "has_credential")));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(ulist, "data")), 1);
	CU_ASSERT_PTR_NOT_NULL(find_in(json_object_get(ulist, "data"), "email",
				       "admin-list@example.com"));
	json_decref(accounts);
	json_decref(hubs);
	json_decref(users);
	json_decref(ulist);
}

int suite_admin(void)
{
	CU_pSuite s = CU_add_suite("admin", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_key_rotate);
	ADD_TEST(s, test_key_list);
	ADD_TEST(s, test_queue_purge);
	ADD_TEST(s, test_migrate_status);
	ADD_TEST(s, test_lists);
	return 0;
}
