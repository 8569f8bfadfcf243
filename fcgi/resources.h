/* resources.h - the resource records of fcgi/ (resource.h): named by fcgi/routes.def, nested
 * or shared by other files. */
#ifndef APF_RESOURCES_H
#define APF_RESOURCES_H

#include "resource.h"
#include "stock.h"

extern const struct resource hub_res;             /* fcgi/hubs.c */
extern const struct resource hub_connection_res;
extern const struct resource hub_discovery_res;
extern const struct resource printer_res;         /* fcgi/printers.c; RF_BRIEF: hub summary */
extern const struct resource printer_status_res;
extern const struct resource job_res;             /* fcgi/jobs.c */
extern const struct resource job_history_res;
extern const struct resource file_res;            /* fcgi/files.c */
extern const struct resource order_res;           /* fcgi/orders.c; the detail nests its lines */
extern const struct resource order_item_res;      /* an order's lines (RF_LIST) */
extern const struct resource product_res;         /* fcgi/products.c */
extern const struct resource sku_res;             /* fcgi/skus.c; RF_BRIEF: inside a product */
extern const struct resource sku_low_res;
extern const struct resource color_res;           /* fcgi/colors.c */
extern const struct resource wiki_res;            /* fcgi/wiki.c */
extern const struct resource component_res;       /* fcgi/components.c; RF_BRIEF: a product's */
extern const struct resource worklist_res;        /* fcgi/worklist.c */
extern const struct resource webhook_res;         /* fcgi/webhooks.c */
extern const struct resource webhook_delivery_res;
extern const struct resource webhook_log_res;     /* an endpoint with its recent deliveries */

/* A printer's maintenance state (fcgi/printers.c), changed by PUT /printers/{id}/maintenance
 * and by worklist maintenance tasks: one rule, run in the caller's transaction. */
enum maint_change {
	MAINT_ON,   /* into maintenance (refused while printing or paused) */
	MAINT_OFF,  /* out of it when in it (refused while printing or paused) */
	MAINT_DONE, /* maintenance finished: out of it when in it; the date stamped in any case */
};
enum api_err printer_maintenance_change(struct req *r, const char *id, enum maint_change change,
					const char *type);

extern const struct resource assembly_res;        /* fcgi/assembly.c */

/* E_OK when user_id is NULL or an active user of the key's account, else 404 USER_NOT_FOUND
 * answered (fcgi/assembly.c; POST /assembly, PATCH /assembly/{id}, POST /skus/{id}/assemble). */
enum api_err assembly_check_assignee(struct req *r, const char *user_id);

/* R5's build check for kits of a composite SKU (fcgi/bom.c; POST /skus/{id}/assemble and the
 * completion of a kit_assembly task, docs/assembly.md). One part per BOM child (its active
 * finished good's ready stock) and per bundle extra (its material's remaining amount). */
struct kit_part {
	enum stock_counter counter;  /* SC_READY for a child; the material's counter */
	char item_id[37];            /* the counter's row; "" when there is none (nothing on hand) */
	long long amount;            /* what the kits take: whole units, or hundredths of a gram */
};
struct kit_parts {
	struct kit_part *v;
	size_t n;
};
/* The parts of kits of sku_id into parts (released with bom_kit_parts_free). With lock, every
 * part's row is locked through the ledger (stock_lock, in BOM order: children by SKU code, then
 * items by name) and its locked level is what is on hand. Answers 400 NOT_COMPOSITE (no
 * children) or 400 INSUFFICIENT_FOR_KIT with the top-level `shortages` list (parts is then
 * empty). */
enum api_err bom_kit_check(struct req *r, const char *sku_id, long long kits, int lock,
			   struct kit_parts *parts);
void bom_kit_parts_free(struct kit_parts *parts);

extern const struct resource filament_res;        /* fcgi/materials.c */
extern const struct resource packaging_res;
extern const struct resource material_component_res; /* accessories_inventory */
extern const struct resource part_res;

extern const struct resource inventory_res;       /* fcgi/inventory.c; RF_BRIEF: an alert */
extern const struct resource inventory_by_sku_res;
extern const struct resource inventory_alert_res;
extern const struct resource inventory_stats_res;

/* The product gallery (fcgi/products.c, fcgi/product_images.c). */
/* An image's URL is its download path (the API key is still required). */
#define IMAGE_URL_SQL "CONCAT('/v1/products/', i.product_id, '/images/', i.id)"
#define IMAGE_ORDER_SQL "i.sort_order, i.created_at, i.id"
/* The hero: the first gallery entry, or NULL. */
#define PRODUCT_HERO_SQL                                                                  \
	"(SELECT " IMAGE_URL_SQL " FROM product_images i WHERE i.product_id = p.id"        \
	" AND i.account_id = p.account_id ORDER BY " IMAGE_ORDER_SQL " LIMIT 1)"
/* The gallery rows matching where as a JSON array of Image, in gallery order. */
#define IMAGES_JSON_SQL(where)                                                            \
	"(SELECT COALESCE(JSON_ARRAYAGG(JSON_OBJECT('id', i.id, 'sort_order', i.sort_order," \
	" 'url', " IMAGE_URL_SQL ") ORDER BY " IMAGE_ORDER_SQL "), '[]') FROM product_images i" \
	" WHERE " where ")"
#define PRODUCT_IMAGES_SQL IMAGES_JSON_SQL("i.product_id = p.id AND i.account_id = p.account_id")

/* Helpers the kit endpoints (fcgi/kits.c) share with the SKU, BOM, component and product
 * endpoints. Each writes inside the caller's transaction and answers E_OK or the error (with
 * its message set). */
/* The SKU's paired finished-goods row: ready_stock 0, copied from the SKU (fcgi/skus.c). */
enum api_err skus_finished_good(struct req *r, const char *sku_id);
/* 1 when h is "#RRGGBB", "" or NULL. */
int skus_hex_ok(const char *h);
/* One BOM child row parent -> child (fcgi/bom.c). */
enum api_err bom_add_child(struct req *r, const char *parent, const char *child, long long qty);
/* One inventory row of sku from row_in {inventory_item_id, quantity_required}; an item in none
 * of the account's four materials tables answers 404 UNKNOWN_INVENTORY_ITEM naming where. */
enum api_err bom_add_inventory(struct req *r, const char *sku, const json_t *row_in,
			       const char *where);
/* The members of a BOM inventory row in a body. */
extern const struct jfield bom_inventory_in[];
/* Items of list (at path) whose member key repeats an earlier one (compared ignoring ASCII case)
 * are problems naming the later one. */
void bom_check_duplicates(struct req *r, const json_t *list, const char *path, const char *key);
/* The members of an assembly component in a body; the list's rows inserted; all rows of a
 * product deleted (fcgi/components.c). */
extern const struct jfield component_in[];
enum api_err components_insert(struct req *r, const char *product, const json_t *list);
enum api_err components_clear(struct req *r, const char *product);
/* A wiki_id in r->body must be an article of the account (null unlinks): else 404
 * ARTICLE_NOT_FOUND (fcgi/products.c). */
enum api_err products_check_wiki(struct req *r);

/* A BOM inventory row i (sku_bom_inventory) with its material: joins and expressions. Filament
 * is named "<type> <color>" and counted in grams; the others by name (type when unnamed), in
 * units. */
#define BOM_ITEM_JOIN(table, alias, kind)                                                  \
	" LEFT JOIN " table " " alias " ON i.inventory_kind = '" kind "' AND " alias ".id ="  \
	" i.inventory_item_id AND " alias ".account_id = i.account_id"
#define BOM_ITEM_JOINS                                                                     \
	BOM_ITEM_JOIN("filament_inventory", "f", "filament")                                 \
	BOM_ITEM_JOIN("packaging_inventory", "pk", "packaging")                              \
	BOM_ITEM_JOIN("accessories_inventory", "a", "accessory")                             \
	BOM_ITEM_JOIN("printer_parts_inventory", "pp", "part")
#define BOM_ITEM_NAME_SQL                                                                  \
	"COALESCE(CONCAT(f.type, ' ', f.color), COALESCE(pk.name, pk.type),"                 \
	" COALESCE(a.name, a.type), COALESCE(pp.name, pp.type))"
#define BOM_ITEM_REMAINING_SQL                                                             \
	"COALESCE(f.remaining_grams, pk.remaining_units, a.remaining_units,"                 \
	" pp.remaining_units, 0)"

/* The `kit` member of a product's detail (docs/catalog.md, "Kits"): null unless the product
 * is a kit. MariaDB keeps a nested JSON_ARRAYAGG a document only without COALESCE, hence
 * KIT_JSON (a missing list or map becomes an empty one). */
#define KIT_JSON(sub, empty) "JSON_EXTRACT(COALESCE((" sub "), '" empty "'), '$')"
#define KIT_BOOL(x) "IF(" x ", JSON_EXTRACT('true', '$'), JSON_EXTRACT('false', '$'))"
#define KIT_TIME(x)                                                                        \
	"CONCAT(DATE_FORMAT(" x ", '%Y-%m-%dT%H:%i:%s.'), LPAD(FLOOR(MICROSECOND(" x ")"     \
	" / 1000), 3, '0'), 'Z')"
#define KIT_EXTRA_JSON                                                                     \
	"JSON_OBJECT('id', i.id, 'sku_id', i.sku_id, 'inventory_item_id', i.inventory_item_id," \
	" 'quantity_required', CAST(i.quantity_required AS DOUBLE), 'created_at', "          \
	KIT_TIME("i.created_at") ", 'item_name', " BOM_ITEM_NAME_SQL ", 'remaining',"       \
	" CAST(" BOM_ITEM_REMAINING_SQL " AS DOUBLE))"
#define KIT_VARIANTS_OF_P "vs.product_id = p.id AND vs.account_id = p.account_id"
#define KIT_PART_VARIANTS_SQL                                                              \
	"SELECT JSON_ARRAYAGG(JSON_OBJECT('kit_sku_id', vs.id, 'kit_color', vs.color,"        \
	" 'child_sku_id', cs.id, 'child_sku', cs.sku, 'child_color', cs.color,"              \
	" 'child_on_hand', COALESCE(cf.ready_stock, 0)) ORDER BY vs.sku, vs.id)"             \
	" FROM product_skus vs JOIN sku_bom_children b ON b.parent_sku_id = vs.id"           \
	" AND b.account_id = vs.account_id JOIN product_skus cs ON cs.id = b.child_sku_id"   \
	" AND cs.account_id = b.account_id LEFT JOIN finished_goods cf"                      \
	" ON cf.product_sku_id = cs.id AND cf.account_id = cs.account_id AND cf.is_active = 1" \
	" WHERE " KIT_VARIANTS_OF_P " AND cs.product_id = kp.id"
#define KIT_PART_COMPONENTS_SQL                                                            \
	"SELECT JSON_ARRAYAGG(JSON_OBJECT('id', pc.id, 'component_name', pc.component_name,"  \
	" 'component_type', pc.component_type, 'quantity_required', pc.quantity_required,"   \
	" 'notes', pc.notes) ORDER BY pc.component_name, pc.id) FROM product_components pc"  \
	" WHERE pc.product_id = kp.id AND pc.account_id = kp.account_id"
#define KIT_PARTS_SQL                                                                      \
	"SELECT JSON_ARRAYAGG(JSON_OBJECT('part_id', kp.id, 'name', kp.name, 'print_file_id',"\
	" kp.print_file_id, 'file_name', kp.file_name, 'quantity_per_kit',"                  \
	" kp.quantity_per_kit, 'fixed_color', kp.fixed_color, 'requires_assembly', "         \
	KIT_BOOL("kp.requires_assembly") ", 'components', "                                  \
	KIT_JSON(KIT_PART_COMPONENTS_SQL, "[]") ", 'variants', "                             \
	KIT_JSON(KIT_PART_VARIANTS_SQL, "[]") ") ORDER BY kp.sort_order, kp.id)"             \
	" FROM products kp WHERE kp.kit_product_id = p.id AND kp.account_id = p.account_id"  \
	" AND kp.product_type = 'kit_part'"
#define KIT_EXTRAS_SQL                                                                     \
	"SELECT JSON_ARRAYAGG(" KIT_EXTRA_JSON " ORDER BY vs.sku, i.inventory_item_id)"       \
	" FROM product_skus vs JOIN sku_bom_inventory i ON i.sku_id = vs.id"                 \
	" AND i.account_id = vs.account_id" BOM_ITEM_JOINS " WHERE " KIT_VARIANTS_OF_P
#define KIT_EXTRAS_OF_VS_SQL                                                               \
	"SELECT JSON_ARRAYAGG(" KIT_EXTRA_JSON " ORDER BY i.inventory_item_id)"               \
	" FROM sku_bom_inventory i" BOM_ITEM_JOINS                                           \
	" WHERE i.sku_id = vs.id AND i.account_id = vs.account_id"
#define KIT_EXTRAS_BY_VARIANT_SQL                                                          \
	"SELECT JSON_OBJECTAGG(vs.id, " KIT_JSON(KIT_EXTRAS_OF_VS_SQL, "[]") ")"              \
	" FROM product_skus vs WHERE " KIT_VARIANTS_OF_P
#define PRODUCT_KIT_SQL                                                                    \
	"IF(p.product_type = 'kit', JSON_OBJECT('parts', " KIT_JSON(KIT_PARTS_SQL, "[]")      \
	", 'bundle_extras', " KIT_JSON(KIT_EXTRAS_SQL, "[]") ", 'bundle_extras_by_variant', " \
	KIT_JSON(KIT_EXTRAS_BY_VARIANT_SQL, "{}") "), NULL)"

#endif
