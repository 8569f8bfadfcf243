/* t_worklist.c - worklist tasks: GET /worklist (order, filters, paging, tenancy), GET
 * /worklist/stats, GET /worklist/{id}, POST /worklist (references, default assignee), PATCH
 * /worklist/{id}, PUT /worklist/{id}/assign, PUT /worklist/{id}/status (transitions and
 * stamps), POST /worklist/{id}/start and /complete (the printer's maintenance and filament,
 * read from the printers table; a start refused while the printer prints changes nothing);
 * `apf-admin worklist set-default / clear-default`. Never-exposed members are absent from
 * every answer; another account's ids are 404s. */
#include "cases.h"

#include "apitest.h"

#include "util.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const TASK_KEYS[] = {
	"id", "title", "subtitle", "description", "task_type", "priority", "status", "printer_id",
	"estimated_time_minutes", "actual_time_minutes", "started_at", "completed_at", "due_date",
	"created_at", "updated_at", NULL
};

static const struct db_query Q_ASSIGNEE = {
	"SELECT IFNULL(assigned_to, '-') FROM worklist_tasks WHERE id = ?"
};
static const struct db_query Q_STORED = {
	"SELECT CONCAT_WS('|', IFNULL(assembly_task_id, '-'),"
	" JSON_UNQUOTE(JSON_EXTRACT(metadata, '$.maintenance_type')), due_date, due_date_only)"
	" FROM worklist_tasks WHERE id = ?"
};
/* Everything a refused action must leave as it was. */
static const struct db_query Q_TASK_SNAPSHOT = {
	"SELECT CONCAT_WS('|', status, IFNULL(started_at, '-'), IFNULL(completed_at, '-'),"
	" IFNULL(actual_time_minutes, '-'), updated_at) FROM worklist_tasks WHERE id = ?"
};
static const struct db_query Q_TIMES = {
	"SELECT CONCAT_WS('|', status, started_at IS NOT NULL, completed_at IS NOT NULL,"
	" IFNULL(actual_time_minutes, '-')) FROM worklist_tasks WHERE id = ?"
};
static const struct db_query Q_PRINTER_MAINT = {
	"SELECT CONCAT_WS('|', status, in_maintenance, IFNULL(maintenance_type, '-'),"
	" last_maintenance_date IS NOT NULL) FROM printers WHERE id = ?"
};
static const struct db_query Q_PRINTER_SNAPSHOT = {
	"SELECT CONCAT_WS('|', status, in_maintenance, IFNULL(maintenance_type, '-'),"
	" IFNULL(last_maintenance_date, '-'), updated_at) FROM printers WHERE id = ?"
};
static const struct db_query Q_PRINTER_FILAMENT = {
	"SELECT CONCAT_WS('|', IFNULL(current_color, '-'), IFNULL(current_color_hex, '-'),"
	" IFNULL(current_filament_type, '-')) FROM printers WHERE id = ?"
};
static const struct db_query Q_PRINTER_OLD_FILAMENT = {
	"UPDATE printers SET current_color = 'Red', current_color_hex = '#FF0000',"
	" current_filament_type = 'PLA' WHERE id = ?"
};
static const struct db_query Q_USER_INACTIVE = {
	"UPDATE users SET is_active = 0 WHERE id = ?"
};
static const struct db_query Q_CREATED_AGO = {
	"UPDATE worklist_tasks SET created_at = NOW(3) - INTERVAL ? SECOND WHERE id = ?"
};
static const struct db_query Q_STARTED_AGO = {
	"UPDATE worklist_tasks SET started_at = NOW(3) - INTERVAL ? SECOND WHERE id = ?"
};
static const struct db_query Q_ASSEMBLY_INSERT = {
	"INSERT INTO assembly_tasks (id, account_id, product_name, sku) VALUES (?, ?, 'Kit', 'K-1')"
};

static const char *tpath(const char *id, const char *suffix)
{
	static char buf[4][256];
	static int slot;
	char *b = buf[slot++ & 3];
	snprintf(b, sizeof buf[0], "/worklist/%s%s", id, suffix ? suffix : "");
	return b;
}

/* A user of account through apf-admin: its id. 0 or -1. */
static int make_user(const char *account, char id[FX_ID])
{
	char tag[9], email[64];
	snprintf(email, sizeof email, "op-%s@example.com", fx_tag(tag));
	json_t *o = FX_ADMIN("user", "create", "--account", account, "--email", email);
	const char *v = jstr(o, "id");
	if (v)
		snprintf(id, FX_ID, "%s", v);
	json_decref(o);
	return v ? 0 : -1;
}

/* A printer of account on a live hub (so it leaves maintenance as idle). */
static int make_printer(const char *account, const char *name, char id[FX_ID])
{
	char hub[FX_ID];
	if (fx_hub(account, "Worklist hub", hub) < 0 || fx_hub_online(hub, 0) < 0)
		return -1;
	return fx_printer(account, hub, name, "P1S", id);
}

static int make_task(const char *key, const char *body, char id[FX_ID])
{
	return fx_created(key, "/worklist", body, id);
}

/* The members a task must never show. */
static void no_secrets(const json_t *task, const struct resp *r)
{
	static const char *const hidden[] = {
		"assigned_to", "assembly_task_id", "metadata", "tenant_id", "account_id",
		"apply_default_assignee", "due_date_only", NULL
	};
	for (int i = 0; hidden[i]; i++)
		CHECK(!json_object_get(task, hidden[i]), r, "%s is never exposed", hidden[i]);
}

/* apf-admin ARGS with --conf as the tests run it: its exit status (stderr discarded). */
static int admin_status(const char *args)
{
	const char *bin = getenv("APF_BIN") && *getenv("APF_BIN") ? getenv("APF_BIN") : "build/bin";
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "'%s/apf-admin' %s > /dev/null 2>&1", bin, args);
	int rc = system(cmd);
	return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* ------------------------------------------------------------------------------ create */

static void test_create(void)
{
	struct case_ctx c;
	char printer[FX_ID], user[FX_ID], asm_id[FX_ID], other_asm[FX_ID], id[FX_ID];
	char other_printer[FX_ID], other_user[FX_ID], idle_user[FX_ID], stored[256], body[1024];
	RESP(r);
	FX(case_init(&c));
	FX(make_printer(c.t.account, "Bench", printer));
	FX(make_printer(c.other.account, "Theirs", other_printer));
	FX(make_user(c.t.account, user));
	FX(make_user(c.t.account, idle_user));
	FX(FX_SQL(Q_USER_INACTIVE, DS(idle_user)));
	FX(make_user(c.other.account, other_user));
	FX(fx_uuid(asm_id));
	FX(fx_uuid(other_asm));
	FX(FX_SQL(Q_ASSEMBLY_INSERT, DS(asm_id), DS(c.t.account)));
	FX(FX_SQL(Q_ASSEMBLY_INSERT, DS(other_asm), DS(c.other.account)));

	snprintf(body, sizeof body,
		 "{\"title\":\"Nozzle clean\",\"subtitle\":\"P1S bench\",\"description\":\"Cold pull\","
		 "\"task_type\":\"maintenance\",\"priority\":\"high\",\"printer_id\":\"%s\","
		 "\"assigned_to\":\"%s\",\"estimated_time_minutes\":15,\"due_date\":\"2030-05-01\","
		 "\"metadata\":{\"maintenance_type\":\"nozzle_clean\",\"extra\":[1,2]},"
		 "\"assembly_task_id\":\"%s\",\"unknown_member\":1}", printer, user, asm_id);
	api("POST", "/worklist", c.t.key, body, &r);
	if (!EXPECT(r, 201, NULL))
		return;
	json_t *d = rdata(&r);
	KEYS(d, TASK_KEYS, &r);
	no_secrets(d, &r);
	snprintf(id, sizeof id, "%s", jstr(d, "id") ? jstr(d, "id") : "");
	CHECK(util_is_uuid(id), &r, "id is a UUID");
	STR_EQ(jstr(d, "status"), "pending", &r);
	STR_EQ(jstr(d, "priority"), "high", &r);
	STR_EQ(jstr(d, "printer_id"), printer, &r);
	STR_EQ(jstr(d, "due_date"), "2030-05-01", &r);
	INT_EQ(jint(d, "estimated_time_minutes"), 15, &r);
	CHECK(json_is_null(json_object_get(d, "started_at")) &&
		      json_is_null(json_object_get(d, "actual_time_minutes")),
	      &r, "not started");
	CHECK(is_iso_ms(jstr(d, "created_at")), &r, "created_at is ISO-8601 ms Z");
	FX(FX_TEXT(stored, Q_ASSIGNEE, DS(id)));
	STR_EQ(stored, user, NULL);
	FX(FX_TEXT(stored, Q_STORED, DS(id)));
	char want[256];
	snprintf(want, sizeof want, "%s|nozzle_clean|2030-05-01 00:00:00.000|1", asm_id);
	STR_EQ(stored, want, NULL);

	/* defaults; a date-time due date is answered in UTC with milliseconds */
	api("POST", "/worklist", c.t.key,
	    "{\"title\":\"Collect\",\"task_type\":\"collection\","
	    "\"due_date\":\"2030-05-01T10:30:00+02:00\"}", &r);
	if (EXPECT(r, 201, NULL)) {
		STR_EQ(jstr(rdata(&r), "priority"), "medium", &r);
		STR_EQ(jstr(rdata(&r), "due_date"), "2030-05-01T08:30:00.000Z", &r);
		CHECK(json_is_null(json_object_get(rdata(&r), "printer_id")), &r, "no printer");
		FX(FX_TEXT(stored, Q_ASSIGNEE, DS(jstr(rdata(&r), "id"))));
		STR_EQ(stored, "-", NULL);
	}

	case_var(&c, "printer", printer);
	case_var(&c, "other_printer", other_printer);
	case_var(&c, "other_user", other_user);
	case_var(&c, "idle_user", idle_user);
	case_var(&c, "other_asm", other_asm);
	static const struct case_row rows[] = {
		{ "POST", "/worklist", "read", "{\"title\":\"x\",\"task_type\":\"collection\"}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "POST", "/worklist", "write", "{\"task_type\":\"collection\"}",
		  422, "VALIDATION_ERROR", { "details.title" } },
		{ "POST", "/worklist", "write", "{\"title\":\"\",\"task_type\":\"collection\"}",
		  422, "VALIDATION_ERROR", { "details.title" } },
		{ "POST", "/worklist", "write", "{\"title\":\"x\"}",
		  422, "VALIDATION_ERROR", { "details.task_type" } },
		{ "POST", "/worklist", "write", "{\"title\":\"x\",\"task_type\":\"repair\"}",
		  422, "VALIDATION_ERROR", { "details.task_type" } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"priority\":\"urgent\"}",
		  422, "VALIDATION_ERROR", { "details.priority" } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"estimated_time_minutes\":-1}",
		  422, "VALIDATION_ERROR", { "details.estimated_time_minutes" } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"due_date\":\"next week\"}",
		  422, "VALIDATION_ERROR", { "details.due_date" } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"metadata\":\"text\"}",
		  422, "VALIDATION_ERROR", { "details.metadata" } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"filament_change\",\"metadata\":"
		  "{\"target_color\":7}}",
		  422, "VALIDATION_ERROR", { "details.metadata.target_color" } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"apply_default_assignee\":\"no\"}",
		  422, "VALIDATION_ERROR", { "details.apply_default_assignee" } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"status\":\"completed\"}",
		  422, "VALIDATION_ERROR", { "details.status" } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"account_id\":\"{other_user}\"}",
		  422, "VALIDATION_ERROR", { "details.account_id" } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"printer_id\":\"{other_printer}\"}",
		  404, "PRINTER_NOT_FOUND", { NULL } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"printer_id\":\"" NO_SUCH_ID "\"}",
		  404, "PRINTER_NOT_FOUND", { NULL } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"assembly\",\"assembly_task_id\":\"{other_asm}\"}",
		  404, "ASSEMBLY_TASK_NOT_FOUND", { NULL } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"assigned_to\":\"{other_user}\"}",
		  404, "USER_NOT_FOUND", { NULL } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"assigned_to\":\"{idle_user}\"}",
		  404, "USER_NOT_FOUND", { NULL } },
		{ "POST", "/worklist", "write",
		  "{\"title\":\"x\",\"task_type\":\"collection\",\"printer_id\":\"{printer}\"}",
		  201, NULL, { "data.printer_id={printer}", "!data.assigned_to" } },
	};
	CASE_RUN(&c, rows);
}

/* ---------------------------------------------------------------- default assignee */

static void test_default_assignee(void)
{
	struct tenant t, o;
	char lead[FX_ID], second[FX_ID], foreign[FX_ID], id[FX_ID], who[FX_ID], args[512];
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(make_user(t.account, lead));
	FX(make_user(t.account, second));
	FX(make_user(o.account, foreign));
	json_t *set = FX_ADMIN("worklist", "set-default", "--account", t.account, "--task-type",
			       "maintenance", "--user", lead);
	if (!set)
		return;
	json_t *row = json_array_get(json_object_get(set, "data"), 0);
	CHECK(json_array_size(json_object_get(set, "data")) == 1 &&
		      !strcmp(jstr(row, "task_type") ? jstr(row, "task_type") : "", "maintenance") &&
		      !strcmp(jstr(row, "user_id") ? jstr(row, "user_id") : "", lead),
	      NULL, "set-default lists the account's one default");
	json_decref(set);

	/* the type's default; not for another type; not when refused; an explicit one wins */
	FX(make_task(t.key, "{\"title\":\"a\",\"task_type\":\"maintenance\"}", id));
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(id)));
	STR_EQ(who, lead, NULL);
	FX(make_task(t.key, "{\"title\":\"b\",\"task_type\":\"collection\"}", id));
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(id)));
	STR_EQ(who, "-", NULL);
	FX(make_task(t.key,
		     "{\"title\":\"c\",\"task_type\":\"maintenance\",\"apply_default_assignee\":false}",
		     id));
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(id)));
	STR_EQ(who, "-", NULL);
	char body[256];
	snprintf(body, sizeof body,
		 "{\"title\":\"d\",\"task_type\":\"maintenance\",\"assigned_to\":\"%s\"}", second);
	FX(make_task(t.key, body, id));
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(id)));
	STR_EQ(who, second, NULL);
	FX(make_task(t.key, "{\"title\":\"e\",\"task_type\":\"maintenance\",\"assigned_to\":null}",
		     id));
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(id)));
	STR_EQ(who, "-", NULL);
	/* another account's default does not apply here */
	FX(make_task(o.key, "{\"title\":\"f\",\"task_type\":\"maintenance\"}", id));
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(id)));
	STR_EQ(who, "-", NULL);

	/* apf-admin refuses a user of another account and an inactive user */
	snprintf(args, sizeof args,
		 "worklist set-default --account %s --task-type collection --user %s", t.account,
		 foreign);
	INT_EQ(admin_status(args), 1, NULL);
	FX(FX_SQL(Q_USER_INACTIVE, DS(second)));
	snprintf(args, sizeof args,
		 "worklist set-default --account %s --task-type collection --user %s", t.account,
		 second);
	INT_EQ(admin_status(args), 1, NULL);
	snprintf(args, sizeof args, "worklist set-default --account %s --task-type repair --user %s",
		 t.account, lead);
	INT_EQ(admin_status(args), 2, NULL);

	/* a default whose user left is not applied */
	set = FX_ADMIN("worklist", "set-default", "--account", t.account, "--task-type",
		       "quality_check", "--user", lead);
	json_decref(set);
	FX(FX_SQL(Q_USER_INACTIVE, DS(lead)));
	FX(make_task(t.key, "{\"title\":\"g\",\"task_type\":\"quality_check\"}", id));
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(id)));
	STR_EQ(who, "-", NULL);

	/* cleared: nothing applies */
	FX(make_user(t.account, lead));
	set = FX_ADMIN("worklist", "set-default", "--account", t.account, "--task-type",
		       "collection", "--user", lead);
	json_decref(set);
	FX(make_task(t.key, "{\"title\":\"h\",\"task_type\":\"collection\"}", id));
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(id)));
	STR_EQ(who, lead, NULL);
	json_t *cleared = FX_ADMIN("worklist", "clear-default", "--account", t.account,
				   "--task-type", "collection");
	if (cleared) {
		json_t *list = json_object_get(cleared, "data");
		for (size_t i = 0; i < json_array_size(list); i++)
			CHECK(strcmp(jstr(json_array_get(list, i), "task_type"), "collection") != 0,
			      NULL, "collection's default is gone");
		json_decref(cleared);
	}
	FX(make_task(t.key, "{\"title\":\"i\",\"task_type\":\"collection\"}", id));
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(id)));
	STR_EQ(who, "-", NULL);
}

/* --------------------------------------------------------------------------- list, get */

static void test_list(void)
{
	struct case_ctx c;
	char low[FX_ID], old_high[FX_ID], new_high[FX_ID], med[FX_ID], theirs[FX_ID];
	char printer[FX_ID], path[256];
	RESP(r);
	FX(case_init(&c));
	FX(make_printer(c.t.account, "Lister", printer));
	FX(make_task(c.t.key, "{\"title\":\"Low\",\"task_type\":\"collection\",\"priority\":\"low\"}",
		     low));
	FX(make_task(c.t.key,
		     "{\"title\":\"Old high\",\"task_type\":\"maintenance\",\"priority\":\"high\"}",
		     old_high));
	FX(make_task(c.t.key,
		     "{\"title\":\"New high\",\"task_type\":\"collection\",\"priority\":\"high\"}",
		     new_high));
	char body[256];
	snprintf(body, sizeof body,
		 "{\"title\":\"Medium\",\"task_type\":\"quality_check\",\"printer_id\":\"%s\"}",
		 printer);
	FX(make_task(c.t.key, body, med));
	FX(make_task(c.other.key, "{\"title\":\"Theirs\",\"task_type\":\"collection\"}", theirs));
	FX(FX_SQL(Q_CREATED_AGO, DI(300), DS(old_high)));
	FX(FX_SQL(Q_CREATED_AGO, DI(200), DS(low)));
	FX(FX_SQL(Q_CREATED_AGO, DI(100), DS(med)));
	api("POST", tpath(med, "/start"), c.t.key, NULL, &r);
	EXPECT(r, 200, NULL);

	static const struct {
		const char *query;
		const char *titles[5];
	} views[] = {
		{ "", { "New high", "Old high", "Medium", "Low", NULL } },
		{ "?status=pending", { "New high", "Old high", "Low", NULL } },
		{ "?status=in_progress", { "Medium", NULL } },
		{ "?task_type=collection", { "New high", "Low", NULL } },
		{ "?priority=high&task_type=maintenance", { "Old high", NULL } },
		{ "?printer_id={printer}", { "Medium", NULL } },
		{ "?limit=2&offset=1", { "Old high", "Medium", NULL } },
		{ "?status=cancelled", { NULL } },
	};
	for (size_t v = 0; v < sizeof views / sizeof views[0]; v++) {
		snprintf(path, sizeof path, "/worklist%s", views[v].query);
		if (strstr(path, "{printer}"))
			snprintf(path, sizeof path, "/worklist?printer_id=%s", printer);
		api("GET", path, c.t.key, NULL, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		json_t *list = rdata(&r), *meta = json_object_get(r.json, "meta");
		size_t n = 0;
		while (views[v].titles[n])
			n++;
		INT_EQ(jint(meta, "count"), (long long)n, &r);
		if (!INT_EQ(json_array_size(list), (long long)n, &r))
			continue;
		for (size_t i = 0; i < n; i++) {
			KEYS(json_array_get(list, i), TASK_KEYS, &r);
			no_secrets(json_array_get(list, i), &r);
			STR_EQ(jstr(json_array_get(list, i), "title"), views[v].titles[i], &r);
		}
		CHECK(!strstr(r.body, theirs), &r, "another account's task is not listed");
	}
	api("GET", "/worklist", c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *meta = json_object_get(r.json, "meta");
		INT_EQ(jint(meta, "limit"), 50, &r);
		INT_EQ(jint(meta, "offset"), 0, &r);
	}

	case_var(&c, "task", med);
	case_var(&c, "theirs", theirs);
	static const struct case_row rows[] = {
		{ "GET", "/worklist?status=done", "read", NULL,
		  422, "VALIDATION_ERROR", { "details.status" } },
		{ "GET", "/worklist?task_type=repair", "read", NULL,
		  422, "VALIDATION_ERROR", { "details.task_type" } },
		{ "GET", "/worklist?priority=urgent", "read", NULL,
		  422, "VALIDATION_ERROR", { "details.priority" } },
		{ "GET", "/worklist?limit=0", "read", NULL,
		  422, "VALIDATION_ERROR", { "details.limit" } },
		{ "GET", "/worklist?limit=101", "read", NULL,
		  422, "VALIDATION_ERROR", { "details.limit" } },
		{ "GET", "/worklist?offset=-1", "read", NULL,
		  422, "VALIDATION_ERROR", { "details.offset" } },
		{ "GET", "/worklist", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/worklist/{task}", "read", NULL, 200, NULL,
		  { "data.id={task}", "data.title=Medium", "data.status=in_progress",
		    "!data.assigned_to", "!data.metadata", "!data.assembly_task_id" } },
		{ "GET", "/worklist/{task}", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/worklist/{task}", CASE_OTHER, NULL, 404, "TASK_NOT_FOUND", { NULL } },
		{ "GET", "/worklist/{theirs}", "read", NULL, 404, "TASK_NOT_FOUND", { NULL } },
		{ "GET", "/worklist/" NO_SUCH_ID, "read", NULL, 404, "TASK_NOT_FOUND", { NULL } },
	};
	CASE_RUN(&c, rows);
}

/* ------------------------------------------------------------------------------ update */

static void test_update(void)
{
	struct case_ctx c;
	char task[FX_ID], printer[FX_ID], other_printer[FX_ID], user[FX_ID], stored[256];
	RESP(r);
	FX(case_init(&c));
	FX(make_printer(c.t.account, "Patch target", printer));
	FX(make_printer(c.other.account, "Not yours", other_printer));
	FX(make_user(c.t.account, user));
	char body[256];
	snprintf(body, sizeof body,
		 "{\"title\":\"Swap\",\"task_type\":\"filament_change\",\"assigned_to\":\"%s\"}",
		 user);
	FX(make_task(c.t.key, body, task));
	snprintf(body, sizeof body,
		 "{\"title\":\"Swap spool\",\"subtitle\":null,\"description\":\"PETG black\","
		 "\"priority\":\"low\",\"printer_id\":\"%s\",\"estimated_time_minutes\":10,"
		 "\"due_date\":\"2031-01-02T03:04:05.678Z\"}", printer);
	api("PATCH", tpath(task, NULL), c.t.key, body, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, TASK_KEYS, &r);
		no_secrets(d, &r);
		STR_EQ(jstr(d, "title"), "Swap spool", &r);
		STR_EQ(jstr(d, "description"), "PETG black", &r);
		STR_EQ(jstr(d, "priority"), "low", &r);
		STR_EQ(jstr(d, "printer_id"), printer, &r);
		STR_EQ(jstr(d, "due_date"), "2031-01-02T03:04:05.678Z", &r);
		STR_EQ(jstr(d, "task_type"), "filament_change", &r);
	}
	FX(FX_TEXT(stored, Q_ASSIGNEE, DS(task)));
	STR_EQ(stored, user, NULL);
	/* nulls clear */
	api("PATCH", tpath(task, NULL), c.t.key,
	    "{\"printer_id\":null,\"due_date\":null,\"estimated_time_minutes\":null}", &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_is_null(json_object_get(rdata(&r), "printer_id")) &&
			      json_is_null(json_object_get(rdata(&r), "due_date")) &&
			      json_is_null(json_object_get(rdata(&r), "estimated_time_minutes")),
		      &r, "cleared");

	case_var(&c, "task", task);
	case_var(&c, "other_printer", other_printer);
	case_var(&c, "user", user);
	static const struct case_row rows[] = {
		{ "PATCH", "/worklist/{task}", "write", "{}", 400, "NO_UPDATES", { NULL } },
		{ "PATCH", "/worklist/{task}", "write", "{\"unknown\":1}", 400, "NO_UPDATES", { NULL } },
		{ "PATCH", "/worklist/{task}", "write", "{\"title\":\"\"}",
		  422, "VALIDATION_ERROR", { "details.title" } },
		{ "PATCH", "/worklist/{task}", "write", "{\"title\":null}",
		  422, "VALIDATION_ERROR", { "details.title" } },
		{ "PATCH", "/worklist/{task}", "write", "{\"priority\":\"urgent\"}",
		  422, "VALIDATION_ERROR", { "details.priority" } },
		{ "PATCH", "/worklist/{task}", "write", "{\"description\":null,\"status\":\"completed\"}",
		  422, "VALIDATION_ERROR", { "details.status" } },
		{ "PATCH", "/worklist/{task}", "write", "{\"task_type\":\"collection\"}",
		  422, "VALIDATION_ERROR", { "details.task_type" } },
		{ "PATCH", "/worklist/{task}", "write", "{\"assigned_to\":\"{user}\"}",
		  422, "VALIDATION_ERROR", { "details.assigned_to" } },
		{ "PATCH", "/worklist/{task}", "write", "{\"metadata\":{}}",
		  422, "VALIDATION_ERROR", { "details.metadata" } },
		{ "PATCH", "/worklist/{task}", "write", "{\"tenant_id\":\"x\"}",
		  422, "VALIDATION_ERROR", { "details.tenant_id" } },
		{ "PATCH", "/worklist/{task}", "write", "{\"printer_id\":\"{other_printer}\"}",
		  404, "PRINTER_NOT_FOUND", { NULL } },
		{ "PATCH", "/worklist/{task}", "read", "{\"title\":\"x\"}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "PATCH", "/worklist/{task}", CASE_OTHER, "{\"title\":\"x\"}",
		  404, "TASK_NOT_FOUND", { NULL } },
		{ "PATCH", "/worklist/" NO_SUCH_ID, "write", "{\"title\":\"x\"}",
		  404, "TASK_NOT_FOUND", { NULL } },
		{ "GET", "/worklist/{task}", "read", NULL, 200, NULL,
		  { "data.title=Swap spool", "data.priority=low" } },
	};
	CASE_RUN(&c, rows);
}

/* ------------------------------------------------------------------------------- stats */

static void test_stats(void)
{
	struct tenant t, o;
	char id[FX_ID];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	api("GET", "/worklist/stats", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		static const char *const keys[] = { "by_status", "by_type", "overdue", "total_active",
						    NULL };
		static const char *const statuses[] = { "pending", "in_progress", "completed",
							"cancelled", NULL };
		static const char *const types[] = { "assembly", "filament_change", "collection",
						     "maintenance", "quality_check", NULL };
		KEYS(d, keys, &r);
		KEYS(json_object_get(d, "by_status"), statuses, &r);
		KEYS(json_object_get(d, "by_type"), types, &r);
		INT_EQ(jint(d, "overdue"), 0, &r);
	}
	/* overdue: a past date-only day, a past instant; not today's date, a future instant, or
	 * a finished task */
	FX(make_task(t.key, "{\"title\":\"a\",\"task_type\":\"collection\",\"due_date\":\"2020-01-01\"}",
		     id));
	FX(make_task(t.key,
		     "{\"title\":\"b\",\"task_type\":\"maintenance\",\"due_date\":\"2020-01-01T00:00:00Z\"}",
		     id));
	api("POST", tpath(id, "/start"), t.key, NULL, &r);
	EXPECT(r, 200, NULL);
	char today[16], body[256];
	time_t now = time(NULL);
	strftime(today, sizeof today, "%Y-%m-%d", gmtime(&now));
	snprintf(body, sizeof body,
		 "{\"title\":\"c\",\"task_type\":\"collection\",\"due_date\":\"%s\"}", today);
	FX(make_task(t.key, body, id));
	FX(make_task(t.key,
		     "{\"title\":\"d\",\"task_type\":\"quality_check\",\"due_date\":\"2099-01-01T00:00:00Z\"}",
		     id));
	FX(make_task(t.key,
		     "{\"title\":\"e\",\"task_type\":\"assembly\",\"due_date\":\"2020-01-01\"}", id));
	api("POST", tpath(id, "/complete"), t.key, NULL, &r);
	EXPECT(r, 200, NULL);
	FX(make_task(t.key, "{\"title\":\"f\",\"task_type\":\"assembly\"}", id));
	api("PUT", tpath(id, "/status"), t.key, "{\"status\":\"cancelled\"}", &r);
	EXPECT(r, 200, NULL);
	FX(make_task(o.key, "{\"title\":\"x\",\"task_type\":\"collection\",\"due_date\":\"2020-01-01\"}",
		     id));
	api("GET", "/worklist/stats", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r), *st = json_object_get(d, "by_status"),
		       *ty = json_object_get(d, "by_type");
		INT_EQ(jint(st, "pending"), 3, &r);
		INT_EQ(jint(st, "in_progress"), 1, &r);
		INT_EQ(jint(st, "completed"), 1, &r);
		INT_EQ(jint(st, "cancelled"), 1, &r);
		INT_EQ(jint(ty, "collection"), 2, &r);
		INT_EQ(jint(ty, "maintenance"), 1, &r);
		INT_EQ(jint(ty, "quality_check"), 1, &r);
		INT_EQ(jint(ty, "assembly"), 0, &r);
		INT_EQ(jint(ty, "filament_change"), 0, &r);
		INT_EQ(jint(d, "overdue"), 2, &r);
		INT_EQ(jint(d, "total_active"), 4, &r);
	}
	char key[FX_KEY];
	FX(fx_tenant_key(&t, "write", key));
	api("GET", "/worklist/stats", key, NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
}

/* ------------------------------------------------------------------------------ status */

static void test_status(void)
{
	struct case_ctx c;
	char task[FX_ID], done[FX_ID], times[64], snap[256], again[256];
	RESP(r);
	FX(case_init(&c));
	FX(make_task(c.t.key, "{\"title\":\"Check\",\"task_type\":\"quality_check\"}", task));
	api("PUT", tpath(task, "/status"), c.t.key, "{\"status\":\"in_progress\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), TASK_KEYS, &r);
		STR_EQ(jstr(rdata(&r), "status"), "in_progress", &r);
		CHECK(is_iso_ms(jstr(rdata(&r), "started_at")), &r, "started_at stamped");
	}
	/* back to pending keeps started_at; in_progress again keeps the first start */
	FX(FX_SQL(Q_STARTED_AGO, DI(125), DS(task)));
	api("PUT", tpath(task, "/status"), c.t.key, "{\"status\":\"pending\"}", &r);
	EXPECT(r, 200, NULL);
	api("PUT", tpath(task, "/status"), c.t.key, "{\"status\":\"in_progress\"}", &r);
	EXPECT(r, 200, NULL);
	api("PUT", tpath(task, "/status"), c.t.key, "{\"status\":\"completed\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		STR_EQ(jstr(d, "status"), "completed", &r);
		CHECK(is_iso_ms(jstr(d, "completed_at")), &r, "completed_at stamped");
		INT_EQ(jint(d, "actual_time_minutes"), 2, &r); /* 125 s, rounded */
	}
	FX(FX_TEXT(times, Q_TIMES, DS(task)));
	STR_EQ(times, "completed|1|1|2", NULL);
	/* the same status again changes nothing */
	FX(FX_TEXT(snap, Q_TASK_SNAPSHOT, DS(task)));
	api("PUT", tpath(task, "/status"), c.t.key, "{\"status\":\"completed\"}", &r);
	EXPECT(r, 200, NULL);
	FX(FX_TEXT(again, Q_TASK_SNAPSHOT, DS(task)));
	STR_EQ(again, snap, NULL);
	/* a finished task only re-opens; the re-opened task keeps its stamps */
	api("PUT", tpath(task, "/status"), c.t.key, "{\"status\":\"in_progress\"}", &r);
	if (EXPECT(r, 400, "INVALID_TRANSITION"))
		CHECK(strstr(jstr(r.json, "error"), "completed") != NULL, &r, "names the status");
	api("PUT", tpath(task, "/status"), c.t.key, "{\"status\":\"cancelled\"}", &r);
	EXPECT(r, 400, "INVALID_TRANSITION");
	FX(FX_TEXT(again, Q_TASK_SNAPSHOT, DS(task)));
	STR_EQ(again, snap, NULL);
	api("PUT", tpath(task, "/status"), c.t.key, "{\"status\":\"pending\"}", &r);
	if (EXPECT(r, 200, NULL))
		CHECK(is_iso_ms(jstr(rdata(&r), "completed_at")) &&
			      jint(rdata(&r), "actual_time_minutes") == 2,
		      &r, "re-opening keeps completed_at and actual_time_minutes");
	/* cancelled without a start: completed_at, no actual time */
	FX(make_task(c.t.key, "{\"title\":\"Drop\",\"task_type\":\"collection\"}", done));
	api("PUT", tpath(done, "/status"), c.t.key, "{\"status\":\"cancelled\"}", &r);
	EXPECT(r, 200, NULL);
	FX(FX_TEXT(times, Q_TIMES, DS(done)));
	STR_EQ(times, "cancelled|0|1|-", NULL);

	case_var(&c, "task", task);
	static const struct case_row rows[] = {
		{ "PUT", "/worklist/{task}/status", "write", "{}",
		  422, "VALIDATION_ERROR", { "details.status" } },
		{ "PUT", "/worklist/{task}/status", "write", "{\"status\":\"done\"}",
		  422, "VALIDATION_ERROR", { "details.status" } },
		{ "PUT", "/worklist/{task}/status", "read", "{\"status\":\"pending\"}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "PUT", "/worklist/{task}/status", CASE_OTHER, "{\"status\":\"pending\"}",
		  404, "TASK_NOT_FOUND", { NULL } },
		{ "PUT", "/worklist/" NO_SUCH_ID "/status", "write", "{\"status\":\"pending\"}",
		  404, "TASK_NOT_FOUND", { NULL } },
		{ "PUT", "/worklist/{task}/status", "write", "{\"status\":\"cancelled\"}", 200, NULL,
		  { "data.status=cancelled", "!data.assigned_to" } },
	};
	CASE_RUN(&c, rows);
}

/* ------------------------------------------------------------------------------ assign */

static void test_assign(void)
{
	struct case_ctx c;
	char task[FX_ID], user[FX_ID], idle[FX_ID], foreign[FX_ID], who[FX_ID], body[128];
	RESP(r);
	FX(case_init(&c));
	FX(make_user(c.t.account, user));
	FX(make_user(c.t.account, idle));
	FX(FX_SQL(Q_USER_INACTIVE, DS(idle)));
	FX(make_user(c.other.account, foreign));
	FX(make_task(c.t.key, "{\"title\":\"Pack\",\"task_type\":\"assembly\"}", task));
	snprintf(body, sizeof body, "{\"assigned_to\":\"%s\"}", user);
	api("PUT", tpath(task, "/assign"), c.t.key, body, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), TASK_KEYS, &r);
		no_secrets(rdata(&r), &r);
		STR_EQ(jstr(rdata(&r), "status"), "pending", &r);
	}
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(task)));
	STR_EQ(who, user, NULL);
	/* refused assignees leave the assignee as it was */
	case_var(&c, "task", task);
	case_var(&c, "idle", idle);
	case_var(&c, "foreign", foreign);
	static const struct case_row rows[] = {
		{ "PUT", "/worklist/{task}/assign", "write", "{\"assigned_to\":\"{foreign}\"}",
		  404, "USER_NOT_FOUND", { NULL } },
		{ "PUT", "/worklist/{task}/assign", "write", "{\"assigned_to\":\"{idle}\"}",
		  404, "USER_NOT_FOUND", { NULL } },
		{ "PUT", "/worklist/{task}/assign", "write", "{\"assigned_to\":\"" NO_SUCH_ID "\"}",
		  404, "USER_NOT_FOUND", { NULL } },
		{ "PUT", "/worklist/{task}/assign", "write", "{}",
		  422, "VALIDATION_ERROR", { "details.assigned_to" } },
		{ "PUT", "/worklist/{task}/assign", "write", "{\"assigned_to\":5}",
		  422, "VALIDATION_ERROR", { "details.assigned_to" } },
		{ "PUT", "/worklist/{task}/assign", "read", "{\"assigned_to\":null}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "PUT", "/worklist/{task}/assign", CASE_OTHER, "{\"assigned_to\":null}",
		  404, "TASK_NOT_FOUND", { NULL } },
		{ "PUT", "/worklist/" NO_SUCH_ID "/assign", "write", "{\"assigned_to\":null}",
		  404, "TASK_NOT_FOUND", { NULL } },
	};
	CASE_RUN(&c, rows);
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(task)));
	STR_EQ(who, user, NULL);
	api("PUT", tpath(task, "/assign"), c.t.key, "{\"assigned_to\":null}", &r);
	if (EXPECT(r, 200, NULL))
		no_secrets(rdata(&r), &r);
	FX(FX_TEXT(who, Q_ASSIGNEE, DS(task)));
	STR_EQ(who, "-", NULL);
}

/* ----------------------------------------------------------------- start and complete */

static void test_maintenance(void)
{
	struct case_ctx c;
	char printer[FX_ID], task[FX_ID], state[128], times[64], body[512];
	RESP(r);
	FX(case_init(&c));
	FX(make_printer(c.t.account, "Service me", printer));
	snprintf(body, sizeof body,
		 "{\"title\":\"Lubricate\",\"task_type\":\"maintenance\",\"printer_id\":\"%s\","
		 "\"metadata\":{\"maintenance_type\":\"lubrication\"}}", printer);
	FX(make_task(c.t.key, body, task));
	FX(FX_TEXT(state, Q_PRINTER_MAINT, DS(printer)));
	STR_EQ(state, "idle|0|-|0", NULL);

	api("POST", tpath(task, "/start"), c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), TASK_KEYS, &r);
		no_secrets(rdata(&r), &r);
		STR_EQ(jstr(rdata(&r), "status"), "in_progress", &r);
		CHECK(is_iso_ms(jstr(rdata(&r), "started_at")), &r, "started_at stamped");
	}
	FX(FX_TEXT(state, Q_PRINTER_MAINT, DS(printer)));
	STR_EQ(state, "maintenance|1|lubrication|0", NULL);
	/* started again: stays in progress, the first start kept */
	FX(FX_SQL(Q_STARTED_AGO, DI(600), DS(task)));
	api("POST", tpath(task, "/start"), c.t.key, "{}", &r);
	EXPECT(r, 200, NULL);

	api("POST", tpath(task, "/complete"), c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "status"), "completed", &r);
		INT_EQ(jint(rdata(&r), "actual_time_minutes"), 10, &r);
		no_secrets(rdata(&r), &r);
	}
	FX(FX_TEXT(state, Q_PRINTER_MAINT, DS(printer)));
	STR_EQ(state, "idle|0|-|1", NULL);
	FX(FX_TEXT(times, Q_TIMES, DS(task)));
	STR_EQ(times, "completed|1|1|10", NULL);

	/* an ended task is neither started nor completed again */
	case_var(&c, "task", task);
	static const struct case_row ended[] = {
		{ "POST", "/worklist/{task}/start", "write", NULL, 400, "INVALID_STATE", { NULL } },
		{ "POST", "/worklist/{task}/complete", "write", NULL, 400, "INVALID_STATE", { NULL } },
		{ "POST", "/worklist/{task}/start", "read", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "POST", "/worklist/{task}/complete", "read", NULL,
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "POST", "/worklist/{task}/start", CASE_OTHER, NULL, 404, "TASK_NOT_FOUND", { NULL } },
		{ "POST", "/worklist/{task}/complete", CASE_OTHER, NULL,
		  404, "TASK_NOT_FOUND", { NULL } },
		{ "POST", "/worklist/" NO_SUCH_ID "/start", "write", NULL,
		  404, "TASK_NOT_FOUND", { NULL } },
		{ "POST", "/worklist/" NO_SUCH_ID "/complete", "write", NULL,
		  404, "TASK_NOT_FOUND", { NULL } },
	};
	CASE_RUN(&c, ended);
	FX(FX_TEXT(state, Q_PRINTER_MAINT, DS(printer)));
	STR_EQ(state, "idle|0|-|1", NULL);

	/* completed without a start: the printer's date is stamped, no actual time; the
	 * override is taken as given */
	char direct[FX_ID], plain[FX_ID];
	FX(make_task(c.t.key, body, direct));
	api("POST", tpath(direct, "/complete"), c.t.key, "{\"actual_time_minutes\":-3}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "actual_time_minutes") != NULL, &r, "names actual_time_minutes");
	api("POST", tpath(direct, "/complete"), c.t.key, "{\"actual_time_minutes\":7}", &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jint(rdata(&r), "actual_time_minutes"), 7, &r);
	FX(make_task(c.t.key, body, plain));
	api("POST", tpath(plain, "/complete"), c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_is_null(json_object_get(rdata(&r), "actual_time_minutes")), &r,
		      "never started: no actual time");
	FX(FX_TEXT(state, Q_PRINTER_MAINT, DS(printer)));
	STR_EQ(state, "idle|0|-|1", NULL);
	/* a maintenance task completed without a start still stamps its printer's date, and
	 * leaves a printer that is not in maintenance as it is */
	char fresh[FX_ID], unstarted[FX_ID];
	FX(make_printer(c.t.account, "Serviced in place", fresh));
	snprintf(body, sizeof body,
		 "{\"title\":\"Bed level\",\"task_type\":\"maintenance\",\"printer_id\":\"%s\"}",
		 fresh);
	FX(make_task(c.t.key, body, unstarted));
	api("POST", tpath(unstarted, "/complete"), c.t.key, NULL, &r);
	EXPECT(r, 200, NULL);
	FX(FX_TEXT(state, Q_PRINTER_MAINT, DS(fresh)));
	STR_EQ(state, "idle|0|-|1", NULL);
}

/* A maintenance start while the printer prints is the printers' refusal, and changes neither
 * the task nor the printer (one transaction). */
static void test_start_refused(void)
{
	struct tenant t;
	char printer[FX_ID], task[FX_ID], body[256];
	char task_before[256], task_after[256], printer_before[256], printer_after[256];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(make_printer(t.account, "Busy", printer));
	snprintf(body, sizeof body,
		 "{\"title\":\"Belt\",\"task_type\":\"maintenance\",\"printer_id\":\"%s\"}", printer);
	FX(make_task(t.key, body, task));
	static const char *const busy[] = { "printing", "paused" };
	for (size_t i = 0; i < 2; i++) {
		FX(fx_printer_status(printer, busy[i]));
		FX(FX_TEXT(task_before, Q_TASK_SNAPSHOT, DS(task)));
		FX(FX_TEXT(printer_before, Q_PRINTER_SNAPSHOT, DS(printer)));
		api("POST", tpath(task, "/start"), t.key, NULL, &r);
		if (EXPECT(r, 400, "PRINTER_PRINTING"))
			CHECK(strstr(jstr(r.json, "error"), busy[i]) != NULL, &r, "names the status");
		FX(FX_TEXT(task_after, Q_TASK_SNAPSHOT, DS(task)));
		FX(FX_TEXT(printer_after, Q_PRINTER_SNAPSHOT, DS(printer)));
		STR_EQ(task_after, task_before, NULL);
		STR_EQ(printer_after, printer_before, NULL);
	}
	/* the toggle refuses the same way (one rule) */
	char ppath[128];
	snprintf(ppath, sizeof ppath, "/printers/%s/maintenance", printer);
	api("PUT", ppath, t.key, "{\"in_maintenance\":true}", &r);
	EXPECT(r, 400, "PRINTER_PRINTING");
	/* once idle it starts */
	FX(fx_printer_status(printer, "idle"));
	api("POST", tpath(task, "/start"), t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "in_progress", &r);
}

static void test_filament_change(void)
{
	struct tenant t;
	char printer[FX_ID], task[FX_ID], other[FX_ID], fil[128], body[512];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(make_printer(t.account, "Spool swap", printer));
	FX(FX_SQL(Q_PRINTER_OLD_FILAMENT, DS(printer)));
	snprintf(body, sizeof body,
		 "{\"title\":\"Swap\",\"task_type\":\"filament_change\",\"printer_id\":\"%s\","
		 "\"metadata\":{\"target_color\":\"Galaxy Black\",\"target_filament_type\":\"PETG\","
		 "\"target_color_hex\":\"#111111\"}}", printer);
	FX(make_task(t.key, body, task));
	api("POST", tpath(task, "/start"), t.key, NULL, &r);
	EXPECT(r, 200, NULL);
	FX(FX_TEXT(fil, Q_PRINTER_FILAMENT, DS(printer)));
	STR_EQ(fil, "Red|#FF0000|PLA", NULL);
	FX(FX_TEXT(fil, Q_PRINTER_MAINT, DS(printer)));
	STR_EQ(fil, "idle|0|-|0", NULL); /* no maintenance effect for a filament change */
	api("POST", tpath(task, "/complete"), t.key, NULL, &r);
	EXPECT(r, 200, NULL);
	FX(FX_TEXT(fil, Q_PRINTER_FILAMENT, DS(printer)));
	STR_EQ(fil, "Galaxy Black|#111111|PETG", NULL);
	/* a colour without a hex code clears the old hex; absent members keep theirs */
	snprintf(body, sizeof body,
		 "{\"title\":\"Swap 2\",\"task_type\":\"filament_change\",\"printer_id\":\"%s\","
		 "\"metadata\":{\"target_color\":\"White\"}}", printer);
	FX(make_task(t.key, body, other));
	api("POST", tpath(other, "/complete"), t.key, NULL, &r);
	EXPECT(r, 200, NULL);
	FX(FX_TEXT(fil, Q_PRINTER_FILAMENT, DS(printer)));
	STR_EQ(fil, "White|-|PETG", NULL);
	/* the status endpoint has no printer effects */
	snprintf(body, sizeof body,
		 "{\"title\":\"Swap 3\",\"task_type\":\"filament_change\",\"printer_id\":\"%s\","
		 "\"metadata\":{\"target_color\":\"Blue\"}}", printer);
	FX(make_task(t.key, body, other));
	api("PUT", tpath(other, "/status"), t.key, "{\"status\":\"completed\"}", &r);
	EXPECT(r, 200, NULL);
	FX(FX_TEXT(fil, Q_PRINTER_FILAMENT, DS(printer)));
	STR_EQ(fil, "White|-|PETG", NULL);
}

int suite_worklist(void)
{
	CU_pSuite s = CU_add_suite("worklist", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_create);
	ADD_TEST(s, test_default_assignee);
	ADD_TEST(s, test_list);
	ADD_TEST(s, test_update);
	ADD_TEST(s, test_stats);
	ADD_TEST(s, test_status);
	ADD_TEST(s, test_assign);
	ADD_TEST(s, test_maintenance);
	ADD_TEST(s, test_start_refused);
	ADD_TEST(s, test_filament_change);
	return 0;
}
