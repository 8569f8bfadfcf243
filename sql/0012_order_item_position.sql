-- 0017: the position of a line in its order. Lines are listed by created_at; the lines of one
-- POST /orders share one created_at, so their position (0, 1, ... as sent) keeps the order the
-- client gave them (docs/orders.md).
ALTER TABLE order_items
  ADD COLUMN position SMALLINT UNSIGNED NOT NULL DEFAULT 0 AFTER order_id;
