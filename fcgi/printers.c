/* printers.c - Printers: list (filters), get, counts by status, update display fields,
 * maintenance toggle. Connection parameters (IP, access code, serial number, hub id) are in no
 * column map: they can never appear in a response. */
#include "req.h"
#include "sqlfrag.h"

#include <string.h>

static const char *const printer_statuses[] = {
	"idle", "printing", "paused", "maintenance", "offline", "error", NULL
};

/* List projection, then the detail-only columns. */
static const struct jcol C_PRINTER[] = {
	{ "id", JC_STR },
	{ "name", JC_STR },
	{ "model", JC_STR },
	{ "manufacturer", JC_STR },
	{ "status", JC_STR },
	{ "location", JC_STR },
	{ "nozzle_size", JC_NUM },
	{ "current_color", JC_STR },
	{ "current_color_hex", JC_STR },
	{ "current_filament_type", JC_STR },
	{ "current_build_plate", JC_STR },
	{ "has_ams", JC_BOOL },
	{ "is_active", JC_BOOL },
	{ "created_at", JC_TIME },
	{ "updated_at", JC_TIME },
	{ NULL, 0 }
};
static const struct jcol C_PRINTER_DETAIL[] = {
	{ "firmware_version", JC_STR },
	{ "total_print_time", JC_INT },
	{ "filament_level", JC_INT },
	{ "last_maintenance_date", JC_TIME },
	{ "in_maintenance", JC_BOOL },
	{ "maintenance_type", JC_STR },
	{ "notes", JC_STR },
	{ NULL, 0 }
};

#define PRINTER_COLUMNS \
	"p.id, p.name, p.model, p.manufacturer, " PRINTER_STATUS_SQL ", p.location," \
	" p.nozzle_size, p.current_color, p.current_color_hex, p.current_filament_type," \
	" p.current_build_plate, p.has_ams, p.is_active, p.created_at, p.updated_at"
#define PRINTER_DETAIL_COLUMNS \
	PRINTER_COLUMNS ", p.firmware_version, p.total_print_time, p.filament_level," \
	" p.last_maintenance_date, p.in_maintenance, p.maintenance_type, p.notes"
#define PRINTER_FROM " FROM printers p LEFT JOIN hubs h ON h.id = p.hub_id"

/* Optional filters are bound as (value, value): NULL disables the condition. */
static const struct db_query Q_PRINTERS_LIST = {
	"SELECT " PRINTER_COLUMNS PRINTER_FROM " WHERE p.account_id = ?"
	" AND (? IS NULL OR p.is_active = ?)"
	" AND (? IS NULL OR " PRINTER_STATUS_SQL " = ?)"
	" AND (? IS NULL OR p.location = ?)"
	" AND (? IS NULL OR p.name LIKE CONCAT('%', ?, '%') ESCAPE '\\\\')"
	" ORDER BY p.sort_order, p.name, p.id"
};
static const struct db_query Q_PRINTER_GET = {
	"SELECT " PRINTER_DETAIL_COLUMNS PRINTER_FROM " WHERE p.account_id = ? AND p.id = ?"
};
static const struct db_query Q_PRINTER_STATS = {
	"SELECT " PRINTER_STATUS_SQL ", COUNT(*), SUM(p.is_active)" PRINTER_FROM
	" WHERE p.account_id = ? GROUP BY 1"
};
static const struct db_query Q_PRINTER_UPDATE = {
	"UPDATE printers SET"
	" name = IF(?, ?, name), location = IF(?, ?, location), notes = IF(?, ?, notes),"
	" updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_PRINTER_LOCK = {
	"SELECT " PRINTER_STATUS_SQL ", p.in_maintenance, " HUB_LIVE_SQL("h") ", p.hub_id IS NULL"
	PRINTER_FROM " WHERE p.account_id = ? AND p.id = ? FOR UPDATE"
};
static const struct db_query Q_PRINTER_MAINT_ON = {
	"UPDATE printers SET status = 'maintenance', in_maintenance = 1, maintenance_type = ?,"
	" updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_PRINTER_MAINT_OFF = {
	"UPDATE printers SET status = ?, in_maintenance = 0, maintenance_type = NULL,"
	" last_maintenance_date = NOW(3), updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};

static const struct jfield F_PRINTER_UPDATE[] = {
	{ "name", JF_STRING, 0, 1, 120, { NULL } },
	{ "location", JF_STRING, JF_NULLABLE, 0, 200, { NULL } },
	{ "notes", JF_STRING, JF_NULLABLE, 0, 2000, { NULL } },
	{ "ip_address", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ "access_code", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ "serial_number", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ "hub_id", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ "connection_type", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};

static const struct jfield F_PRINTER_MAINTENANCE[] = {
	{ "in_maintenance", JF_BOOL, JF_REQUIRED, 0, 0, { NULL } },
	{ "maintenance_type", JF_STRING, JF_NULLABLE, 0, 120, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};

/* Escapes LIKE wildcards of s into buf (backslash escape). */
static const char *like_escape(const char *s, char *buf, size_t size)
{
	size_t o = 0;
	for (; *s && o + 2 < size; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			buf[o++] = '\\';
		buf[o++] = *s;
	}
	buf[o] = '\0';
	return buf;
}

enum api_err printers_list(struct req *r)
{
	int active = -1;
	const char *status = NULL, *location = NULL, *search = NULL;
	char esc[512];

	req_query_bool(r, "is_active", &active);
	req_query_enum(r, "status", printer_statuses, &status);
	req_query_str(r, "location", 0, 200, &location);
	req_query_str(r, "search", 1, 120, &search);
	if (req_invalid(r))
		return E_VALIDATION_ERROR;
	struct db_arg a_active = active < 0 ? DNULL : DI(active);
	const char *pat = search ? like_escape(search, esc, sizeof esc) : NULL;
	return req_rows_sql(r, &Q_PRINTERS_LIST,
			    DB_ARGS(DS(r->account_id), a_active, a_active, DS(status), DS(status),
				    DS(location), DS(location), DS(pat), DS(pat)),
			    C_PRINTER);
}

/* The detail projection of the path's printer (or PRINTER_NOT_FOUND). */
static enum api_err printer_detail(struct req *r, json_t **out)
{
	struct db_res res;
	enum api_err err = req_fetch_one(r, &Q_PRINTER_GET,
					 DB_ARGS(DS(r->account_id), DS(req_param(r, "id"))), &res,
					 E_PRINTER_NOT_FOUND);
	if (err)
		return err;
	*out = jhelp_row(C_PRINTER, &res, 0, 0);
	jhelp_row_into(*out, C_PRINTER_DETAIL, &res, 0, sizeof C_PRINTER / sizeof C_PRINTER[0] - 1);
	db_res_free(&res);
	return E_OK;
}

enum api_err printers_get(struct req *r)
{
	json_t *out;
	enum api_err err = printer_detail(r, &out);
	return err ? err : req_ok(r, out);
}

enum api_err printers_stats(struct req *r)
{
	struct db_res res;
	enum api_err err = db_exec(r->db, &Q_PRINTER_STATS, DB_ARGS(DS(r->account_id)), &res);
	if (err)
		return err;
	json_t *by = json_object();
	long long total = 0, active = 0;
	for (int i = 0; printer_statuses[i]; i++)
		json_object_set_new(by, printer_statuses[i], json_integer(0));
	for (unsigned long i = 0; i < res.nrows; i++) {
		long long n = db_get_int(&res, i, 1, 0);
		json_object_set_new(by, db_get(&res, i, 0), json_integer(n));
		total += n;
		active += db_get_int(&res, i, 2, 0);
	}
	db_res_free(&res);
	return req_ok(r, json_pack("{s:I, s:I, s:o}", "total", (json_int_t)total, "active",
				   (json_int_t)active, "by_status", by));
}

/* (present flag, value) argument pair of an optional PATCH field. */
#define PATCH_ARG(body, key) \
	DI(json_object_get(body, key) != NULL), DS(json_string_value(json_object_get(body, key)))

enum api_err printers_update(struct req *r)
{
	if (req_check_body(r, F_PRINTER_UPDATE))
		return E_VALIDATION_ERROR;
	if (!json_object_get(r->body, "name") && !json_object_get(r->body, "location") &&
	    !json_object_get(r->body, "notes"))
		return req_fail(r, E_NO_UPDATES, "Nothing to update: send name, location or notes");
	enum api_err err = db_exec(r->db, &Q_PRINTER_UPDATE,
				   DB_ARGS(PATCH_ARG(r->body, "name"), PATCH_ARG(r->body, "location"),
					   PATCH_ARG(r->body, "notes"), DS(r->account_id),
					   DS(req_param(r, "id"))), NULL);
	if (err == E_CONFLICT)
		return req_fail(r, E_DUPLICATE_NAME, "Another printer is already named \"%s\"",
				jhelp_str(r->body, "name"));
	if (err)
		return err;
	json_t *out;
	err = printer_detail(r, &out); /* also the 404 for an unknown id */
	return err ? err : req_ok(r, out);
}

enum api_err printers_maintenance(struct req *r)
{
	if (req_check_body(r, F_PRINTER_MAINTENANCE))
		return E_VALIDATION_ERROR;
	int on = json_is_true(json_object_get(r->body, "in_maintenance"));
	struct db_res res;
	enum api_err err = req_fetch_one(r, &Q_PRINTER_LOCK,
					 DB_ARGS(DS(r->account_id), DS(req_param(r, "id"))), &res,
					 E_PRINTER_NOT_FOUND);
	if (err)
		return err;
	char status[32];
	snprintf(status, sizeof status, "%s", db_get(&res, 0, 0));
	int in_maint = db_get_int(&res, 0, 1, 0) != 0;
	int hub_live = db_get_int(&res, 0, 2, 0) != 0 || db_get_int(&res, 0, 3, 0) != 0;
	db_res_free(&res);
	if (strcmp(status, "printing") == 0 || strcmp(status, "paused") == 0)
		return req_fail(r, E_PRINTER_PRINTING, "Printer is %s: finish or stop the print first",
				status);
	if (on) {
		err = db_exec(r->db, &Q_PRINTER_MAINT_ON,
			      DB_ARGS(DS(jhelp_str(r->body, "maintenance_type")), DS(r->account_id),
				      DS(req_param(r, "id"))), NULL);
	} else if (in_maint) {
		err = db_exec(r->db, &Q_PRINTER_MAINT_OFF,
			      DB_ARGS(DS(hub_live ? "idle" : "offline"), DS(r->account_id),
				      DS(req_param(r, "id"))), NULL);
	}
	if (err)
		return err;
	json_t *out;
	err = printer_detail(r, &out);
	return err ? err : req_ok(r, out);
}
