-- 0011: the stock ledger. Every change of a stock counter (finished goods ready / awaiting
-- assembly, a SKU's component stock_level, the four materials' remaining amount) writes one row
-- here in the same transaction, from one place (common/stock.c). `apf-admin stock verify`
-- recomputes every counter as the sum of its deltas. See docs/stock.md.

CREATE TABLE stock_movements (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  account_id  CHAR(36)      NOT NULL,
  counter     VARCHAR(40)   NOT NULL,                -- 'finished_goods.ready_stock', ... (stock.h)
  item_id     CHAR(36)      NOT NULL,                -- the row of the counter's table
  delta       DECIMAL(14,2) NOT NULL,
  level_after DECIMAL(14,2) NOT NULL,
  reason      VARCHAR(40)   NOT NULL,                -- adjust, order_fulfilment, job_completed, ...
  note        VARCHAR(500)  NULL,                    -- the client's reason text, when given
  ref_id      CHAR(36)      NULL,                    -- the order, task or job that caused it
  request_id  VARCHAR(64)   NULL,                    -- the API request (X-Request-Id), if any
  created_at  DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_stock_movements_item (account_id, counter, item_id, id),
  KEY ix_stock_movements_ref (ref_id),
  CONSTRAINT ck_stock_movements_level CHECK (level_after >= 0),
  CONSTRAINT fk_stock_movements_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Opening balances of what exists already, so the ledger sums to every counter from the start.
INSERT INTO stock_movements (account_id, counter, item_id, delta, level_after, reason)
  SELECT account_id, 'finished_goods.ready_stock', id, ready_stock, ready_stock, 'opening'
  FROM finished_goods WHERE ready_stock <> 0;
INSERT INTO stock_movements (account_id, counter, item_id, delta, level_after, reason)
  SELECT account_id, 'finished_goods.quantity_needs_assembly', id, quantity_needs_assembly,
         quantity_needs_assembly, 'opening'
  FROM finished_goods WHERE quantity_needs_assembly <> 0;
INSERT INTO stock_movements (account_id, counter, item_id, delta, level_after, reason)
  SELECT account_id, 'product_skus.stock_level', id, stock_level, stock_level, 'opening'
  FROM product_skus WHERE stock_level <> 0;
INSERT INTO stock_movements (account_id, counter, item_id, delta, level_after, reason)
  SELECT account_id, 'filament_inventory.remaining_grams', id, remaining_grams, remaining_grams,
         'opening'
  FROM filament_inventory WHERE remaining_grams <> 0;
INSERT INTO stock_movements (account_id, counter, item_id, delta, level_after, reason)
  SELECT account_id, 'packaging_inventory.remaining_units', id, remaining_units, remaining_units,
         'opening'
  FROM packaging_inventory WHERE remaining_units <> 0;
INSERT INTO stock_movements (account_id, counter, item_id, delta, level_after, reason)
  SELECT account_id, 'accessories_inventory.remaining_units', id, remaining_units,
         remaining_units, 'opening'
  FROM accessories_inventory WHERE remaining_units <> 0;
INSERT INTO stock_movements (account_id, counter, item_id, delta, level_after, reason)
  SELECT account_id, 'printer_parts_inventory.remaining_units', id, remaining_units,
         remaining_units, 'opening'
  FROM printer_parts_inventory WHERE remaining_units <> 0;
