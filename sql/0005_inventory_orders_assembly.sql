-- 0005: finished-goods inventory, orders and their lines, assembly tasks.
-- Also gives users the spec's tenant_members.is_active flag (an assignee must be an ACTIVE
-- member of the account; users is our tenant_members: one account per user, with its role).
-- finished_goods.print_job_id gets its foreign key in 0006, once print_jobs exists.

ALTER TABLE users
  ADD COLUMN is_active TINYINT(1) NOT NULL DEFAULT 1 AFTER role;

CREATE TABLE orders (
  id               CHAR(36)     NOT NULL PRIMARY KEY,
  account_id       CHAR(36)     NOT NULL,
  order_number     VARCHAR(100) NOT NULL,
  platform         ENUM('shopify','amazon','etsy','manual','other') NOT NULL DEFAULT 'manual',  -- public create: no amazon
  customer_name    VARCHAR(255) NOT NULL,
  customer_email   VARCHAR(255) NULL,
  customer_phone   VARCHAR(50)  NULL,
  order_date       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  status           ENUM('pending','processing','printed','assembled','shipped','fulfilled','cancelled','refunded') NOT NULL DEFAULT 'pending',
  total_revenue    BIGINT       NOT NULL,                  -- cents
  shipping_cost    BIGINT       NOT NULL DEFAULT 0,        -- cents
  tax_amount       BIGINT       NOT NULL DEFAULT 0,        -- cents
  discount_amount  BIGINT       NOT NULL DEFAULT 0,        -- cents
  shipping_street  VARCHAR(255) NULL,
  shipping_city    VARCHAR(100) NULL,
  shipping_state   VARCHAR(100) NULL,
  shipping_zip     VARCHAR(20)  NULL,
  shipping_country VARCHAR(100) NULL DEFAULT 'USA',
  tracking_number  VARCHAR(255) NULL,
  tracking_url     VARCHAR(1000) NULL,
  shipped_at       DATETIME(3)  NULL,
  external_id      VARCHAR(100) NULL,
  external_data    JSON         NULL,                      -- never exposed, never writable
  notes            TEXT         NULL,
  created_at       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_orders_account_number (account_id, order_number),
  KEY ix_orders_account_date (account_id, order_date, created_at, id),            -- list: order_date desc, created_at desc
  KEY ix_orders_account_status_date (account_id, status, order_date, created_at),
  KEY ix_orders_account_platform_date (account_id, platform, order_date, created_at),
  KEY ix_orders_account_external (account_id, external_id),
  CONSTRAINT ck_orders_money CHECK (total_revenue >= 0 AND shipping_cost >= 0 AND tax_amount >= 0 AND discount_amount >= 0),
  CONSTRAINT fk_orders_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per product SKU. ready_stock is the spec's current_stock / ready_stock (one column).
-- status is recomputed by the application on every write (inventory spec R3).
CREATE TABLE finished_goods (
  id                      CHAR(36)     NOT NULL PRIMARY KEY,
  account_id              CHAR(36)     NOT NULL,
  product_sku_id          CHAR(36)     NOT NULL,
  print_job_id            CHAR(36)     NULL,               -- never exposed; FK added in 0006
  sku                     VARCHAR(100) NOT NULL,           -- copied from the SKU
  color                   VARCHAR(100) NOT NULL,           -- copied from the SKU
  material                VARCHAR(50)  NOT NULL,           -- SKU filament_type (fallback chosen by the application)
  ready_stock             INT          NOT NULL DEFAULT 0,
  low_stock_threshold     INT          NULL DEFAULT 5,     -- NULL = no threshold
  quantity_per_sku        INT          NOT NULL DEFAULT 1, -- never exposed
  unit_price              BIGINT       NOT NULL DEFAULT 0, -- cents; never exposed
  extra_cost              BIGINT       NOT NULL DEFAULT 0, -- cents; never exposed
  profit_margin           INT          NOT NULL DEFAULT 0, -- percent x 100; never exposed
  requires_assembly       TINYINT(1)   NOT NULL DEFAULT 0, -- never exposed
  quantity_assembled      INT          NOT NULL DEFAULT 0, -- legacy counter; never exposed
  quantity_needs_assembly INT          NOT NULL DEFAULT 0, -- never exposed; feeds status
  status                  ENUM('active','in_stock','low_stock','out_of_stock','needs_assembly','discontinued') NOT NULL DEFAULT 'out_of_stock',
  assembly_status         ENUM('printed','needs_assembly','assembled') NOT NULL DEFAULT 'printed',
  image_url               VARCHAR(1000) NULL,
  is_active               TINYINT(1)   NOT NULL DEFAULT 1, -- soft delete
  created_at              DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at              DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_finished_goods_sku (product_sku_id),                   -- one row per SKU (a SKU has one account)
  KEY ix_finished_goods_account_sku (account_id, sku, created_at, id), -- GET /inventory: sku asc
  KEY ix_finished_goods_account_status (account_id, status, sku),
  KEY ix_finished_goods_account_material (account_id, material, sku),
  KEY ix_finished_goods_account_active (account_id, is_active, status),
  KEY ix_finished_goods_print_job (print_job_id),
  CONSTRAINT ck_finished_goods_counters CHECK (ready_stock >= 0 AND quantity_needs_assembly >= 0 AND quantity_assembled >= 0),
  CONSTRAINT fk_finished_goods_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_finished_goods_sku FOREIGN KEY (product_sku_id) REFERENCES product_skus(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE order_items (
  id                 CHAR(36)     NOT NULL PRIMARY KEY,
  account_id         CHAR(36)     NOT NULL,
  order_id           CHAR(36)     NOT NULL,
  finished_good_id   CHAR(36)     NULL,                    -- never exposed; resolved from product_sku_id
  product_sku_id     CHAR(36)     NULL,
  sku                VARCHAR(100) NOT NULL,                -- snapshot
  product_name       VARCHAR(255) NOT NULL,                -- snapshot
  quantity           INT UNSIGNED NOT NULL,
  unit_price         BIGINT       NOT NULL,                -- cents
  total_price        BIGINT       NOT NULL,                -- cents = quantity x unit_price
  quantity_fulfilled INT UNSIGNED NOT NULL DEFAULT 0,
  fulfillment_status ENUM('pending','partial','fulfilled','cancelled') NOT NULL DEFAULT 'pending',
  notes              VARCHAR(500) NULL,
  created_at         DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),   -- no updated_at (spec)
  KEY ix_order_items_order (order_id, created_at, id),
  KEY ix_order_items_sku (product_sku_id, fulfillment_status),   -- SKU_IN_USE_BY_ORDER
  KEY ix_order_items_finished_good (finished_good_id),
  KEY ix_order_items_account (account_id),
  CONSTRAINT ck_order_items_qty CHECK (quantity >= 1 AND quantity_fulfilled <= quantity),
  CONSTRAINT ck_order_items_money CHECK (unit_price >= 0 AND total_price >= 0),
  CONSTRAINT fk_order_items_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders(id) ON DELETE CASCADE,
  CONSTRAINT fk_order_items_finished_good FOREIGN KEY (finished_good_id) REFERENCES finished_goods(id) ON DELETE SET NULL,
  CONSTRAINT fk_order_items_sku FOREIGN KEY (product_sku_id) REFERENCES product_skus(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- finished_good_id is NOT NULL in the spec; here it is NULL only after its finished good was
-- removed (kit edit), so the task survives with its denormalised product_name / sku.
CREATE TABLE assembly_tasks (
  id               CHAR(36)     NOT NULL PRIMARY KEY,
  account_id       CHAR(36)     NOT NULL,
  finished_good_id CHAR(36)     NULL,                      -- never exposed
  assigned_to      CHAR(36)     NULL,                      -- never exposed
  product_name     VARCHAR(255) NOT NULL,                  -- denormalised
  sku              VARCHAR(100) NOT NULL,                  -- denormalised
  quantity         INT UNSIGNED NOT NULL DEFAULT 1,
  status           ENUM('pending','in_progress','completed','cancelled') NOT NULL DEFAULT 'pending',
  task_type        ENUM('print_assembly','kit_assembly') NOT NULL DEFAULT 'print_assembly',
  order_id         CHAR(36)     NULL,                      -- produce idempotency; never exposed
  order_item_id    CHAR(36)     NULL,                      -- produce idempotency; never exposed
  notes            TEXT         NULL,
  created_at       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  completed_at     DATETIME(3)  NULL,
  KEY ix_assembly_account_status (account_id, status, created_at, id),  -- list: status group, created_at desc
  KEY ix_assembly_account_type (account_id, task_type, status, created_at),
  KEY ix_assembly_account_created (account_id, created_at, id),
  KEY ix_assembly_finished_good (finished_good_id),
  KEY ix_assembly_assigned (assigned_to),
  KEY ix_assembly_order (order_id),
  KEY ix_assembly_order_item (order_item_id, status),
  CONSTRAINT ck_assembly_quantity CHECK (quantity >= 1),
  CONSTRAINT fk_assembly_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_assembly_finished_good FOREIGN KEY (finished_good_id) REFERENCES finished_goods(id) ON DELETE SET NULL,
  CONSTRAINT fk_assembly_assigned FOREIGN KEY (assigned_to) REFERENCES users(id) ON DELETE SET NULL,
  CONSTRAINT fk_assembly_order FOREIGN KEY (order_id) REFERENCES orders(id) ON DELETE SET NULL,
  CONSTRAINT fk_assembly_order_item FOREIGN KEY (order_item_id) REFERENCES order_items(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
