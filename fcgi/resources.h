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
extern const struct resource product_res;         /* fcgi/products.c */
extern const struct resource sku_res;             /* fcgi/skus.c; RF_BRIEF: inside a product */
extern const struct resource sku_low_res;
extern const struct resource color_res;           /* fcgi/colors.c */
extern const struct resource wiki_res;            /* fcgi/wiki.c */
extern const struct resource component_res;       /* fcgi/components.c; RF_BRIEF: a product's */
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

#endif
