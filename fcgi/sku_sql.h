/* sku_sql.h - SQL expressions over a SKU row (alias s, table product_skus) shared by the SKU
 * views (fcgi/skus.c) and orders (fcgi/order_fulfil.c): whether it is a kit, how many kits its
 * parts and bundle extras can build, what is left of a bundle extra (R5; docs/catalog.md,
 * "Bill of materials and kit assembly"). */
#ifndef APF_SKU_SQL_H
#define APF_SKU_SQL_H

#define SKU_COMPOSITE_SQL                                                                  \
	"EXISTS(SELECT 1 FROM sku_bom_children b WHERE b.parent_sku_id = s.id"               \
	" AND b.account_id = s.account_id)"
/* Of the SKU's active finished-goods row; 0 when none. */
#define SKU_FG_STOCK_SQL \
	"COALESCE(fg.ready_stock + fg.quantity_assembled + fg.quantity_needs_assembly, 0)"
/* Kits buildable from the children's ready stock (R5) ... */
#define SKU_CHILDREN_MIN_SQL                                                               \
	"(SELECT MIN(FLOOR(COALESCE(cf.ready_stock, 0) / b.quantity_required))"             \
	" FROM sku_bom_children b LEFT JOIN finished_goods cf"                               \
	" ON cf.product_sku_id = b.child_sku_id AND cf.account_id = b.account_id"            \
	" AND cf.is_active = 1 WHERE b.parent_sku_id = s.id AND b.account_id = s.account_id)"
#define MATERIAL_LEFT(table, column)                                                        \
	"(SELECT m." column " FROM " table " m WHERE m.id = i.inventory_item_id"            \
	" AND m.account_id = i.account_id)"
/* What is left of the bundle extra i (a sku_bom_inventory row): grams of filament, else units;
 * NULL when its material row is gone. */
#define SKU_ITEM_LEFT_SQL                                                                  \
	"(CASE i.inventory_kind"                                                             \
	" WHEN 'filament' THEN " MATERIAL_LEFT("filament_inventory", "remaining_grams")     \
	" WHEN 'packaging' THEN " MATERIAL_LEFT("packaging_inventory", "remaining_units")   \
	" WHEN 'accessory' THEN " MATERIAL_LEFT("accessories_inventory", "remaining_units") \
	" ELSE " MATERIAL_LEFT("printer_parts_inventory", "remaining_units") " END)"
/* ... and from the bundle extras' remaining material. */
#define SKU_INVENTORY_MIN_SQL                                                              \
	"(SELECT MIN(FLOOR(COALESCE(" SKU_ITEM_LEFT_SQL ", 0) / i.quantity_required))"      \
	" FROM sku_bom_inventory i WHERE i.sku_id = s.id AND i.account_id = s.account_id)"
/* 0 unless composite; never negative. */
#define SKU_ATB_SQL                                                                        \
	"CAST(IF(" SKU_COMPOSITE_SQL ", GREATEST(0, LEAST(COALESCE(" SKU_CHILDREN_MIN_SQL   \
	", 0), COALESCE(" SKU_INVENTORY_MIN_SQL ", " SKU_CHILDREN_MIN_SQL ", 0))), 0)"        \
	" AS SIGNED)"

#endif
