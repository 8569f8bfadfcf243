/* hubs.c - Hubs: list, get (with a summary of its printers), connection snapshot, discovered
 * printers, all served by the generic handlers (fcgi/routes.def). The fields are
 * fcgi/hubs.def. */
#include "resources.h"
#include "sqlfrag.h"

static const struct rfield hub_fields[] = {
#define FIELD RES_FIELD
#include "hubs.def"
#undef FIELD
	RES_FIELD_END
};

static const struct rchild hub_children[] = {
	{ "printers", &printer_res, RF_BRIEF, "p.hub_id = ?", "p.name, p.id" },
	{ NULL, NULL, 0, NULL, NULL }
};

#define HUB_RES                                                                         \
	.noun = "hub", .table = "hubs", .from = "hubs h", .alias = "h",                 \
	.not_found = E_HUB_NOT_FOUND, .fields = hub_fields,                             \
	.order = "h.name IS NULL, h.name, h.created_at DESC, h.id", .paging = RP_NONE

const struct resource hub_res = { HUB_RES, .children = hub_children };

/* GET /hubs/{id}/connection: the RF_BRIEF snapshot. */
const struct resource hub_connection_res = { HUB_RES, .detail = RF_BRIEF };

/* The hub's last discovery scan: never scanned, or not an array, is []. */
static const struct rfield discovery_fields[] = {
	RES_FIELD(hub_id, "h.id", STR, NONE, RF_DETAIL)
	RES_FIELD(discovered_at, "d.discovered_at", EPOCH_MS, NONE, RF_DETAIL)
	RES_FIELD(printers, "IF(JSON_TYPE(d.printers) <=> 'ARRAY', d.printers, '[]')", JSON, NONE,
		  RF_DETAIL)
	RES_FIELD_END
};

const struct resource hub_discovery_res = {
	.noun = "hub", .table = "hubs", .alias = "h",
	.from = "hubs h LEFT JOIN hub_discoveries d ON d.hub_id = h.id",
	.not_found = E_HUB_NOT_FOUND, .fields = discovery_fields, .order = "h.id",
};
