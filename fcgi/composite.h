/* composite.h - the composite (kit) figures of R5 as SQL expressions, shared by the SKU reads
 * (fcgi/skus.c), the finished-goods reads (fcgi/inventory.c) and order fulfilment
 * (fcgi/order_fulfil.c). Each is evaluated over the
 * SKU as alias s and its finished-goods row as alias fg (docs/catalog.md, "SKUs";
 * docs/inventory.md). A child's on-hand stock is its active finished good's ready_stock. */
#ifndef APF_COMPOSITE_H
#define APF_COMPOSITE_H

/* The SKU has at least one BOM child. */
#define SKU_COMPOSITE_SQL                                                                  \
	"EXISTS(SELECT 1 FROM sku_bom_children b WHERE b.parent_sku_id = s.id"               \
	" AND b.account_id = s.account_id)"
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
/* available_to_build: 0 unless composite; never negative. */
#define SKU_ATB_SQL                                                                        \
	"CAST(IF(" SKU_COMPOSITE_SQL ", GREATEST(0, LEAST(COALESCE(" SKU_CHILDREN_MIN_SQL   \
	", 0), COALESCE(" SKU_INVENTORY_MIN_SQL ", " SKU_CHILDREN_MIN_SQL ", 0))), 0)"        \
	" AS SIGNED)"
/* effective_status: non-composite, the stored status; composite, R3 on ready_stock +
 * available_to_build; no finished-goods row: out_of_stock. */
#define SKU_EFFECTIVE_SQL                                                                  \
	"(CASE WHEN fg.id IS NULL THEN 'out_of_stock' WHEN NOT " SKU_COMPOSITE_SQL            \
	" THEN fg.status WHEN fg.ready_stock + " SKU_ATB_SQL " <= 0"                         \
	" AND fg.quantity_needs_assembly <= 0 THEN 'out_of_stock'"                           \
	" WHEN fg.quantity_needs_assembly > 0 THEN 'needs_assembly'"                         \
	" WHEN fg.low_stock_threshold IS NOT NULL"                                           \
	" AND fg.ready_stock + " SKU_ATB_SQL " <= fg.low_stock_threshold THEN 'low_stock'"   \
	" ELSE 'in_stock' END)"

#endif
