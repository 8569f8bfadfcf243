/* resources.h - the resource records of fcgi/ (resource.h): named by fcgi/routes.def, nested
 * or shared by other files. */
#ifndef APF_RESOURCES_H
#define APF_RESOURCES_H

#include "resource.h"

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
