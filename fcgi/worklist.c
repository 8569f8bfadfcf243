/* worklist.c - Worklist tasks: list (filters, paged), counts, get, create (default assignee)
 * and update are the generic handlers driven by this record and its hooks (fcgi/routes.def);
 * start, complete, assign and status are handlers. Start and complete of a maintenance task
 * change its printer through the printers' own rule (printer_maintenance_change), in the same
 * transaction. The fields are fcgi/worklist.def; choices: docs/worklist.md. */
#include "resources.h"

#include "openapi.h"

#include <string.h>

static const char *const worklist_types[] = {
	"assembly", "filament_change", "collection", "maintenance", "quality_check", NULL
};
static const char *const worklist_priorities[] = { "low", "medium", "high", NULL };
/* Bit i of a transition mask is worklist_statuses[i]. */
static const char *const worklist_statuses[] = {
	"pending", "in_progress", "completed", "cancelled", NULL
};
#define ST_PENDING 0
#define ST_IN_PROGRESS 1
#define ST_COMPLETED 2
#define ST_CANCELLED 3
#define BIT(s) (1u << (s))

/* The metadata members the actions read (others are stored as they are). */
static const struct jfield WORKLIST_META[] = {
	{ "maintenance_type", JF_STRING, JF_NULLABLE, 0, 120, { NULL } },
	{ "target_color", JF_STRING, JF_NULLABLE, 0, 64, { NULL } },
	{ "target_filament_type", JF_STRING, JF_NULLABLE, 0, 64, { NULL } },
	{ "target_color_hex", JF_STRING, JF_NULLABLE, 0, 16, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};

/* A date-only due date is answered as that date, a date-time as ISO-8601 ms Z. */
#define WORKLIST_DUE_SQL                                                                  \
	"IF(t.due_date_only, DATE_FORMAT(t.due_date, '%Y-%m-%d'),"                         \
	" CONCAT(LEFT(DATE_FORMAT(t.due_date, '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z'))"

static const struct rfield worklist_fields[] = {
#define FIELD RES_FIELD
#include "worklist.def"
#undef FIELD
	RES_FIELD_END
};

static const struct rfilter worklist_filters[] = {
	RES_FILTER("status", ENUM(worklist_statuses), "t.status = ?", EXACT),
	RES_FILTER("task_type", ENUM(worklist_types), "t.task_type = ?", EXACT),
	RES_FILTER("priority", ENUM(worklist_priorities), "t.priority = ?", EXACT),
	RES_FILTER("printer_id", STR(1, 36), "t.printer_id = ?", EXACT),
	RES_FILTER_END
};

#define ACTIVE_SQL "t.status IN ('pending', 'in_progress')"
/* Overdue: active, and past its due date (a date-only one once that UTC day has passed). */
#define OVERDUE_SQL                                                                       \
	"(" ACTIVE_SQL " AND t.due_date IS NOT NULL AND IF(t.due_date_only,"               \
	" t.due_date + INTERVAL 1 DAY <= NOW(3), t.due_date < NOW(3)))"

static const struct rcounts worklist_by_type = {
	.group = "t.task_type", .values = worklist_types, .by = "by_type", .where = ACTIVE_SQL,
};
static const struct rcounts worklist_counts = {
	.group = "t.status", .values = worklist_statuses, .by = "by_status",
	.members = { { "overdue", OVERDUE_SQL, 0 },
		     { "total_active", NULL, BIT(ST_PENDING) | BIT(ST_IN_PROGRESS) } },
	.next = &worklist_by_type,
};

static int worklist_check(struct req *r, unsigned op);
static enum api_err worklist_write(struct req *r, struct sqlb *b, unsigned op);

/* Paged; high priority first, then the most recent. */
const struct resource worklist_res = {
	.noun = "task", .table = "worklist_tasks", .from = "worklist_tasks t", .alias = "t",
	.not_found = E_TASK_NOT_FOUND, .fields = worklist_fields, .filters = worklist_filters,
	.order = "t.priority DESC, t.created_at DESC, t.id", .paging = RP_ALWAYS,
	.touch = "updated_at = NOW(3)", .counts = &worklist_counts,
	.check = worklist_check, .write = worklist_write,
};

/* ------------------------------------------------------------------ references */

static const struct db_query Q_PRINTER_OF = {
	"SELECT 1 FROM printers WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_ASSEMBLY_OF = {
	"SELECT 1 FROM assembly_tasks WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_MEMBER_OF = {
	"SELECT 1 FROM users WHERE account_id = ? AND id = ? AND is_active = 1"
};
/* The type's default assignee, when still an active user of the account. */
static const struct db_query Q_DEFAULT_ASSIGNEE = {
	"SELECT d.user_id FROM task_assignment_defaults d JOIN users u ON u.id = d.user_id"
	" AND u.account_id = d.account_id AND u.is_active = 1"
	" WHERE d.account_id = ? AND d.task_type = ?"
};

struct wref {
	const char *field;
	const struct db_query *q;   /* (account, id): a row when it is the account's */
	enum api_err missing;
	const char *noun;
};
static const struct wref worklist_refs[] = {
	{ "printer_id", &Q_PRINTER_OF, E_PRINTER_NOT_FOUND, "Printer" },
	{ "assembly_task_id", &Q_ASSEMBLY_OF, E_ASSEMBLY_TASK_NOT_FOUND, "Assembly task" },
	{ "assigned_to", &Q_MEMBER_OF, E_USER_NOT_FOUND, "Active user" },
};
#define REF_ASSIGNEE (&worklist_refs[2])

/* E_OK when id is a row of the account, else the reference's 404 naming the field. */
static enum api_err ref_check(struct req *r, const struct wref *ref, const char *id)
{
	struct db_res rs;
	enum api_err err = req_fetch_one(r, ref->q, DB_ARGS(DS(r->account_id), DS(id)), &rs,
					 ref->missing);
	if (err == ref->missing)
		return req_fail(r, err, "%s %s not found (%s)", ref->noun, id, ref->field);
	if (!err)
		db_res_free(&rs);
	return err;
}

/* ------------------------------------------------------------ create and update hooks */

/* status has its own endpoints: sent to create or update, it is refused, not ignored. */
static int worklist_check(struct req *r, unsigned op)
{
	(void)op;
	if (!json_object_get(r->body, "status"))
		return 0;
	req_problem(r, "status", "status changes through PUT /worklist/{id}/status, "
		    "POST /worklist/{id}/start and POST /worklist/{id}/complete");
	return 1;
}

/* On create: an explicit assigned_to (null: nobody), else the type's default assignee unless
 * apply_default_assignee is false. */
static enum api_err assignee(struct req *r, struct sqlb *b)
{
	const json_t *given = json_object_get(r->body, "assigned_to");
	struct db_res rs = { 0 };
	if (given) {
		res_set(b, "assigned_to = ?", DS(json_string_value(given)));
		return E_OK;
	}
	if (json_is_false(json_object_get(r->body, "apply_default_assignee")))
		return E_OK;
	enum api_err err = db_exec(r->db, &Q_DEFAULT_ASSIGNEE,
				   DB_ARGS(DS(r->account_id), DS(jhelp_str(r->body, "task_type"))),
				   &rs);
	if (!err && rs.nrows)
		res_set(b, "assigned_to = ?", DS(sqlb_keep(b, db_get(&rs, 0, 0))));
	db_res_free(&rs);
	return err;
}

/* References sent (not null) are the account's; due_date_only follows due_date. */
static enum api_err worklist_write(struct req *r, struct sqlb *b, unsigned op)
{
	enum api_err err = E_OK;
	for (size_t i = 0; !err && i < sizeof worklist_refs / sizeof worklist_refs[0]; i++) {
		const char *id = jhelp_str(r->body, worklist_refs[i].field);
		if (id)
			err = ref_check(r, &worklist_refs[i], id);
	}
	if (err)
		return err;
	if (json_object_get(r->body, "due_date")) {
		const char *due = jhelp_str(r->body, "due_date");
		res_set(b, "due_date_only = ?", DI(due && strlen(due) == 10));
	}
	return op == RF_CREATE ? assignee(r, b) : E_OK;
}

/* ------------------------------------------------------------------------- actions */

#define META_STR(key)                                                                     \
	"IF(JSON_TYPE(JSON_EXTRACT(metadata, '$." key "')) = 'STRING',"                    \
	" JSON_UNQUOTE(JSON_EXTRACT(metadata, '$." key "')), NULL)"

/* The task, locked for the action (routes R_TXN). */
static const struct db_query Q_TASK_LOCK = {
	"SELECT status, task_type, printer_id, " META_STR("maintenance_type") ", "
	META_STR("target_color") ", " META_STR("target_filament_type") ", "
	META_STR("target_color_hex")
	" FROM worklist_tasks WHERE account_id = ? AND id = ? FOR UPDATE"
};
enum { T_STATUS, T_TYPE, T_PRINTER, T_MAINT_TYPE, T_COLOR, T_FILAMENT, T_COLOR_HEX };

/* The new status and its stamps: started_at when it first goes in_progress; completed_at and
 * actual_time_minutes (the override, else the minutes since started_at when it was started)
 * when it ends. Assignments run left to right: actual time first. */
static const struct db_query Q_TASK_STATUS = {
	"UPDATE worklist_tasks SET"
	" actual_time_minutes = IF(? IN ('completed', 'cancelled'), IFNULL(?,"
	" IF(started_at IS NULL, actual_time_minutes,"
	" ROUND(TIMESTAMPDIFF(MICROSECOND, started_at, NOW(3)) / 60000000))), actual_time_minutes),"
	" completed_at = IF(? IN ('completed', 'cancelled'), NOW(3), completed_at),"
	" started_at = IF(? = 'in_progress', IFNULL(started_at, NOW(3)), started_at),"
	" status = ?, updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_TASK_ASSIGN = {
	"UPDATE worklist_tasks SET assigned_to = ?, updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};
/* A finished filament change: the printer shows the task's target filament (a new colour
 * without a hex code clears the old one). */
static const struct db_query Q_PRINTER_FILAMENT = {
	"UPDATE printers SET current_color_hex = IF(? IS NULL, current_color_hex, ?),"
	" current_color = IFNULL(?, current_color),"
	" current_filament_type = IFNULL(?, current_filament_type), updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};

static const struct jfield F_STATUS[] = {
	{ "status", JF_ENUM, JF_REQUIRED, 0, 0, { .values = worklist_statuses } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(worklist_status, F_STATUS);
static const struct jfield F_ASSIGN[] = {
	{ "assigned_to", JF_STRING, JF_REQUIRED | JF_NULLABLE, 1, 36, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(worklist_assign, F_ASSIGN);
static const struct jfield F_COMPLETE[] = {
	{ "actual_time_minutes", JF_INT, 0, 0, 1000000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(worklist_complete, F_COMPLETE);

/* The path's task, locked, into *t (free it); its status index into *st. */
static enum api_err task_lock(struct req *r, struct db_res *t, int *st)
{
	enum api_err err = req_fetch_one(r, &Q_TASK_LOCK,
					 DB_ARGS(DS(r->account_id), DS(req_param(r, "id"))), t,
					 E_TASK_NOT_FOUND);
	if (!err)
		*st = jhelp_enum_index(worklist_statuses, db_get(t, 0, T_STATUS));
	return err;
}

static enum api_err task_status(struct req *r, int st, struct db_arg actual)
{
	const char *s = worklist_statuses[st];
	return db_exec(r->db, &Q_TASK_STATUS,
		       DB_ARGS(DS(s), actual, DS(s), DS(s), DS(s), DS(r->account_id),
			       DS(req_param(r, "id"))), NULL);
}

static int is_type(const struct db_res *t, const char *type)
{
	return strcmp(db_get(t, 0, T_TYPE), type) == 0 && db_get(t, 0, T_PRINTER);
}

/* Start and complete refuse a task that has ended. */
static enum api_err refuse_ended(struct req *r, int st, const char *action)
{
	return req_fail(r, E_INVALID_STATE, "Task is %s: it cannot be %s", worklist_statuses[st],
			action);
}

/* in_progress (started_at kept when it was started before); a maintenance task puts its
 * printer into maintenance, refused while the printer prints. One transaction. */
enum api_err worklist_start(struct req *r)
{
	struct db_res t;
	int st;
	enum api_err err = task_lock(r, &t, &st);
	if (err)
		return err;
	if (st == ST_COMPLETED || st == ST_CANCELLED)
		err = refuse_ended(r, st, "started");
	else
		err = task_status(r, ST_IN_PROGRESS, DNULL);
	if (!err && is_type(&t, "maintenance"))
		err = printer_maintenance_change(r, db_get(&t, 0, T_PRINTER), MAINT_ON,
						 db_get(&t, 0, T_MAINT_TYPE));
	db_res_free(&t);
	return err ? err : res_reply(r, &worklist_res, req_param(r, "id"), 0);
}

/* completed (actual_time_minutes: the body's, else measured); a maintenance task takes its
 * printer out of maintenance and stamps the date, a filament change sets the printer's
 * filament from the task's metadata. One transaction. */
enum api_err worklist_complete(struct req *r)
{
	struct db_res t;
	int st;
	enum api_err err = task_lock(r, &t, &st);
	if (err)
		return err;
	const json_t *actual = json_object_get(r->body, "actual_time_minutes");
	if (r->body && req_check_body(r, F_COMPLETE)) /* an empty body is allowed */
		err = E_VALIDATION_ERROR;
	else if (st == ST_COMPLETED || st == ST_CANCELLED)
		err = refuse_ended(r, st, "completed");
	else
		err = task_status(r, ST_COMPLETED,
				  actual ? DI(json_integer_value(actual)) : DNULL);
	if (!err && is_type(&t, "maintenance"))
		err = printer_maintenance_change(r, db_get(&t, 0, T_PRINTER), MAINT_DONE, NULL);
	if (!err && is_type(&t, "filament_change"))
		err = db_exec(r->db, &Q_PRINTER_FILAMENT,
			      DB_ARGS(DS(db_get(&t, 0, T_COLOR)), DS(db_get(&t, 0, T_COLOR_HEX)),
				      DS(db_get(&t, 0, T_COLOR)), DS(db_get(&t, 0, T_FILAMENT)),
				      DS(r->account_id), DS(db_get(&t, 0, T_PRINTER))), NULL);
	db_res_free(&t);
	return err ? err : res_reply(r, &worklist_res, req_param(r, "id"), 0);
}

/* The status endpoint's transitions: from status i, the mask of the statuses it may go to.
 * The same status again changes nothing. No printer effects here. */
static const unsigned transitions[] = {
	[ST_PENDING] = BIT(ST_IN_PROGRESS) | BIT(ST_COMPLETED) | BIT(ST_CANCELLED),
	[ST_IN_PROGRESS] = BIT(ST_PENDING) | BIT(ST_COMPLETED) | BIT(ST_CANCELLED),
	[ST_COMPLETED] = BIT(ST_PENDING),
	[ST_CANCELLED] = BIT(ST_PENDING),
};

enum api_err worklist_status(struct req *r)
{
	struct db_res t;
	int from;
	enum api_err err = task_lock(r, &t, &from);
	if (err)
		return err;
	db_res_free(&t);
	if (req_check_body(r, F_STATUS))
		return E_VALIDATION_ERROR;
	int to = jhelp_enum_index(worklist_statuses, jhelp_str(r->body, "status"));
	if (from < 0 || to < 0)
		return E_INTERNAL_ERROR;
	if (to != from && !(transitions[from] & BIT(to)))
		return req_fail(r, E_INVALID_TRANSITION, "Task cannot go from %s to %s",
				worklist_statuses[from], worklist_statuses[to]);
	if (to != from && (err = task_status(r, to, DNULL)) != E_OK)
		return err;
	return res_reply(r, &worklist_res, req_param(r, "id"), 0);
}

/* assigned_to: an active user of the account, or null (unassigned). */
enum api_err worklist_assign(struct req *r)
{
	const char *id = req_param(r, "id");
	enum api_err err = res_exists(r, &worklist_res, id);
	if (err)
		return err;
	if (req_check_body(r, F_ASSIGN))
		return E_VALIDATION_ERROR;
	const char *user = jhelp_str(r->body, "assigned_to");
	if (user && (err = ref_check(r, REF_ASSIGNEE, user)) != E_OK)
		return err;
	err = db_exec(r->db, &Q_TASK_ASSIGN, DB_ARGS(DS(user), DS(r->account_id), DS(id)), NULL);
	return err ? err : res_reply(r, &worklist_res, id, 0);
}
