/* printers.c - Printers: list (filters), counts by status, get, update of the display fields
 * and live status (the generic handlers, fcgi/routes.def), and the maintenance toggle. The
 * fields are fcgi/printers.def and fcgi/printer_status.def. */
#include "openapi.h"
#include "resources.h"
#include "sqlfrag.h"
#include "states.h"

#include <stdio.h>
#include <string.h>

static const struct rfield printer_fields[] = {
#define FIELD RES_FIELD
#include "printers.def"
#undef FIELD
	RES_FIELD_END
};

static const struct rfilter printer_filters[] = {
	RES_FILTER("is_active", BOOL, "p.is_active = ?", EXACT),
	RES_FILTER("status", ENUM(states_printer_names), PRINTER_STATUS_SQL " = ?", EXACT),
	RES_FILTER("location", STR(0, 200), "p.location = ?", EXACT),
	RES_FILTER("search", STR(1, 120), "p.name LIKE CONCAT('%', ?, '%') ESCAPE '\\\\'", SUBSTR),
	RES_FILTER_END
};

static const struct runique printer_uniques[] = {
	{ "uq_printers_account_name", E_DUPLICATE_NAME, "name" },
	{ NULL, E_OK, NULL }
};

#define PRINTER_FROM "printers p LEFT JOIN hubs h ON h.id = p.hub_id"

static const struct rcounts printer_counts = {
	.group = PRINTER_STATUS_SQL, .values = states_printer_names, .by = "by_status",
	.members = { { "total", NULL, RC_ALL }, { "active", "p.is_active", 0 } },
};

/* Not paginated; the dashboard's order. */
const struct resource printer_res = {
	.noun = "printer", .table = "printers", .from = PRINTER_FROM, .alias = "p",
	.not_found = E_PRINTER_NOT_FOUND, .fields = printer_fields, .filters = printer_filters,
	.order = "p.sort_order, p.name, p.id", .paging = RP_NONE, .uniques = printer_uniques,
	.touch = "updated_at = NOW(3)", .counts = &printer_counts,
};

#define HUB_UP_SQL "(p.hub_id IS NOT NULL AND " HUB_LIVE_SQL("h") ")"
#define LIVE(x) "IF(" HUB_UP_SQL ", " x ", NULL)"

static const struct rfield status_fields[] = {
#define FIELD RES_FIELD
#include "printer_status.def"
#undef FIELD
	RES_FIELD_END
};

const struct resource printer_status_res = {
	.noun = "printer", .table = "printers", .alias = "p", .not_found = E_PRINTER_NOT_FOUND,
	.from = PRINTER_FROM " LEFT JOIN printer_live_status l ON l.printer_id = p.id",
	.fields = status_fields, .order = "p.id",
};

/* The maintenance toggle and worklist tasks: the printer locked, then changed. */
static const struct db_query Q_PRINTER_LOCK = {
	"SELECT " PRINTER_STATUS_SQL ", p.in_maintenance, " HUB_LIVE_SQL("h") ", p.hub_id IS NULL"
	" FROM " PRINTER_FROM " WHERE p.account_id = ? AND p.id = ? FOR UPDATE"
};
static const struct db_query Q_PRINTER_MAINT_ON = {
	"UPDATE printers SET status = 'maintenance', in_maintenance = 1, maintenance_type = ?,"
	" updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_PRINTER_MAINT_OFF = {
	"UPDATE printers SET status = ?, in_maintenance = 0, maintenance_type = NULL,"
	" last_maintenance_date = NOW(3), updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};

static const struct db_query Q_PRINTER_MAINT_STAMP = {
	"UPDATE printers SET last_maintenance_date = NOW(3), updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};

static const struct jfield F_PRINTER_MAINTENANCE[] = {
	{ "in_maintenance", JF_BOOL, JF_REQUIRED, 0, 0, { NULL } },
	{ "maintenance_type", JF_STRING, JF_NULLABLE, 0, 120, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(printers_maintenance, F_PRINTER_MAINTENANCE);

/* The maintenance rule (docs/worklist.md), for the toggle and for worklist tasks: the printer
 * locked; MAINT_ON and MAINT_OFF are refused while it prints or is paused; on: status
 * maintenance and the type; off (only when on): idle, or offline when the hub is down, and
 * the date stamped; MAINT_DONE (maintenance finished) is off without the refusal, and stamps
 * the date even when the printer was not in maintenance. Runs inside the caller's
 * transaction. */
enum api_err printer_maintenance_change(struct req *r, const char *id, enum maint_change change,
					const char *type)
{
	struct db_res res;
	enum api_err err = req_fetch_one(r, &Q_PRINTER_LOCK, DB_ARGS(DS(r->account_id), DS(id)),
					 &res, E_PRINTER_NOT_FOUND);
	if (err)
		return err;
	char status[32];
	snprintf(status, sizeof status, "%s", db_get(&res, 0, 0));
	int in_maint = db_get_int(&res, 0, 1, 0) != 0;
	int hub_live = db_get_int(&res, 0, 2, 0) != 0 || db_get_int(&res, 0, 3, 0) != 0;
	db_res_free(&res);
	if (change != MAINT_DONE &&
	    (strcmp(status, "printing") == 0 || strcmp(status, "paused") == 0))
		return req_fail(r, E_PRINTER_PRINTING, "Printer is %s: finish or stop the print first",
				status);
	if (change == MAINT_ON)
		return db_exec(r->db, &Q_PRINTER_MAINT_ON,
			       DB_ARGS(DS(type), DS(r->account_id), DS(id)), NULL);
	if (in_maint)
		return db_exec(r->db, &Q_PRINTER_MAINT_OFF,
			       DB_ARGS(DS(hub_live ? "idle" : "offline"), DS(r->account_id), DS(id)),
			       NULL);
	if (change == MAINT_DONE)
		return db_exec(r->db, &Q_PRINTER_MAINT_STAMP, DB_ARGS(DS(r->account_id), DS(id)),
			       NULL);
	return E_OK;
}

enum api_err printers_maintenance(struct req *r)
{
	if (req_check_body(r, F_PRINTER_MAINTENANCE))
		return E_VALIDATION_ERROR;
	const char *id = req_param(r, "id");
	int on = json_is_true(json_object_get(r->body, "in_maintenance"));
	enum api_err err = printer_maintenance_change(r, id, on ? MAINT_ON : MAINT_OFF,
						      jhelp_str(r->body, "maintenance_type"));
	return err ? err : res_reply(r, &printer_res, id, 0);
}
