/* hubs.c - Hubs: list, get (with printers summary), connection snapshot, discovered printers.
 * Network and authentication internals (secret_hash, ip_address, mac_address, MQTT password
 * hash) are not in any column map, so they cannot appear in a response. */
#include "req.h"
#include "sqlfrag.h"

static const struct jcol C_HUB[] = {
	{ "id", JC_STR },
	{ "name", JC_STR },
	{ "firmware_version", JC_STR },
	{ "hardware_version", JC_STR },
	{ "is_online", JC_BOOL },
	{ "last_seen_at", JC_TIME },
	{ "printer_count", JC_INT },
	{ "claimed_at", JC_TIME },
	{ "created_at", JC_TIME },
	{ "updated_at", JC_TIME },
	{ "is_stale", JC_BOOL },
	{ NULL, 0 }
};

#define HUB_COLUMNS \
	"h.id, h.name, h.firmware_version, h.hardware_version, h.is_online, h.last_seen_at," \
	" (SELECT COUNT(*) FROM printers p WHERE p.hub_id = h.id AND p.account_id = h.account_id)," \
	" h.claimed_at, h.created_at, h.updated_at, " HUB_STALE_SQL("h")

static const struct db_query Q_HUBS_LIST = {
	"SELECT " HUB_COLUMNS " FROM hubs h WHERE h.account_id = ?"
	" ORDER BY h.name IS NULL, h.name, h.created_at DESC, h.id"
};
static const struct db_query Q_HUB_GET = {
	"SELECT " HUB_COLUMNS " FROM hubs h WHERE h.account_id = ? AND h.id = ?"
};

static const struct jcol C_HUB_PRINTER[] = {
	{ "id", JC_STR },
	{ "name", JC_STR },
	{ "model", JC_STR },
	{ "status", JC_STR },
	{ NULL, 0 }
};
static const struct db_query Q_HUB_PRINTERS = {
	"SELECT p.id, p.name, p.model, " PRINTER_STATUS_SQL
	" FROM printers p JOIN hubs h ON h.id = p.hub_id"
	" WHERE p.account_id = ? AND p.hub_id = ? ORDER BY p.name, p.id"
};

static const struct jcol C_HUB_CONNECTION[] = {
	{ "id", JC_STR },
	{ "name", JC_STR },
	{ "is_online", JC_BOOL },
	{ "is_stale", JC_BOOL },
	{ "last_seen_at", JC_TIME },
	{ "firmware_version", JC_STR },
	{ NULL, 0 }
};
static const struct db_query Q_HUB_CONNECTION = {
	"SELECT h.id, h.name, h.is_online, " HUB_STALE_SQL("h") ", h.last_seen_at, h.firmware_version"
	" FROM hubs h WHERE h.account_id = ? AND h.id = ?"
};

static const struct jcol C_DISCOVERY[] = {
	{ "hub_id", JC_STR },
	{ "discovered_at", JC_EPOCH_MS },
	{ "printers", JC_JSON },
	{ NULL, 0 }
};
static const struct db_query Q_HUB_DISCOVERED = {
	"SELECT h.id, d.discovered_at, IFNULL(d.printers, '[]')"
	" FROM hubs h LEFT JOIN hub_discoveries d ON d.hub_id = h.id"
	" WHERE h.account_id = ? AND h.id = ?"
};

enum api_err hubs_list(struct req *r)
{
	struct db_res res;
	enum api_err err = db_exec(r->db, &Q_HUBS_LIST, DB_ARGS(DS(r->account_id)), &res);
	if (err)
		return err;
	json_t *list = json_array();
	for (unsigned long i = 0; i < res.nrows; i++) {
		json_t *hub = jhelp_row(C_HUB, &res, i, 0);
		json_object_del(hub, "is_stale"); /* detail-only field */
		json_array_append_new(list, hub);
	}
	db_res_free(&res);
	return req_ok(r, list);
}

/* One row of q for the path's hub id, or HUB_NOT_FOUND, converted by cols. */
static enum api_err hub_row(struct req *r, const struct db_query *q, const struct jcol *cols,
			    json_t **out)
{
	struct db_res res;
	enum api_err err = req_fetch_one(r, q, DB_ARGS(DS(r->account_id), DS(req_param(r, "id"))),
					 &res, E_HUB_NOT_FOUND);
	if (err)
		return err;
	*out = jhelp_row(cols, &res, 0, 0);
	db_res_free(&res);
	return E_OK;
}

enum api_err hubs_get(struct req *r)
{
	json_t *hub;
	struct db_res res;
	enum api_err err = hub_row(r, &Q_HUB_GET, C_HUB, &hub);
	if (err)
		return err;
	err = db_exec(r->db, &Q_HUB_PRINTERS, DB_ARGS(DS(r->account_id), DS(req_param(r, "id"))),
		      &res);
	if (err) {
		json_decref(hub);
		return err;
	}
	json_object_set_new(hub, "printers", jhelp_rows(C_HUB_PRINTER, &res));
	db_res_free(&res);
	return req_ok(r, hub);
}

enum api_err hubs_connection(struct req *r)
{
	json_t *out;
	enum api_err err = hub_row(r, &Q_HUB_CONNECTION, C_HUB_CONNECTION, &out);
	return err ? err : req_ok(r, out);
}

enum api_err hubs_discovered(struct req *r)
{
	json_t *out;
	enum api_err err = hub_row(r, &Q_HUB_DISCOVERED, C_DISCOVERY, &out);
	if (err)
		return err;
	if (!json_is_array(json_object_get(out, "printers")))
		json_object_set_new(out, "printers", json_array());
	return req_ok(r, out);
}
