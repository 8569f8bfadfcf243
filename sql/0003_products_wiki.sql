-- 0003: product catalog (products, SKUs, kit BOM, assembly components, gallery, colour presets)
-- and the wiki. Also adds the deferred foreign key print_files.product_id -> products.
--
-- BOM naming: the products spec calls the two kit tables sku_bom_children / sku_bom_inventory,
-- the inventory spec sku_bom_children / sku_inventory_requirements. They are ONE pair of tables:
-- sku_bom_children (kit composition, parent SKU -> child SKU) and sku_bom_inventory (= the
-- inventory spec's sku_inventory_requirements = the docs' BOM "inventory" = kit "bundle_extras").

CREATE TABLE products (
  id                       CHAR(36)     NOT NULL PRIMARY KEY,
  account_id               CHAR(36)     NOT NULL,
  name                     VARCHAR(200) NOT NULL,
  description              TEXT         NULL,               -- <= 2000 via API
  category                 VARCHAR(100) NULL,
  print_file_id            CHAR(36)     NULL,               -- never exposed; used by kit parts / produce
  file_name                VARCHAR(255) NULL,               -- cached print-file name
  requires_assembly        TINYINT(1)   NOT NULL DEFAULT 0,
  requires_post_processing TINYINT(1)   NOT NULL DEFAULT 0,
  printer_priority         JSON         NULL,               -- JSON array of printer ids; never exposed
  image_url                VARCHAR(1000) NULL,              -- hero image URL (first gallery entry)
  is_active                TINYINT(1)   NOT NULL DEFAULT 1,
  wiki_id                  CHAR(36)     NULL,               -- FK wiki_articles (SET NULL), added below
  product_type             ENUM('standard','kit','kit_part') NOT NULL DEFAULT 'standard',
  kit_product_id           CHAR(36)     NULL,               -- kit_part only: owning kit
  quantity_per_kit         INT UNSIGNED NULL,               -- kit_part only, >= 1
  fixed_color              VARCHAR(100) NULL,               -- kit_part only
  fixed_hex_code           VARCHAR(16)  NULL,               -- kit_part only
  sort_order               INT          NOT NULL DEFAULT 0, -- order of parts inside a kit
  -- Name is unique per account among standard and kit products; internal kit parts are exempt
  -- (spec proposal), so two kits may both have a part called "Base".
  name_unique              VARCHAR(200) AS (IF(product_type = 'kit_part', NULL, name)) PERSISTENT,
  created_at               DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at               DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_products_account_name (account_id, name_unique),
  KEY ix_products_account_name (account_id, name, id),                 -- GET /products: name asc
  KEY ix_products_account_category (account_id, category),
  KEY ix_products_account_type (account_id, product_type, is_active),
  KEY ix_products_kit (kit_product_id, sort_order),
  KEY ix_products_print_file (print_file_id),
  KEY ix_products_wiki (wiki_id),
  CONSTRAINT ck_products_quantity_per_kit CHECK (quantity_per_kit IS NULL OR quantity_per_kit >= 1),
  CONSTRAINT fk_products_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_products_print_file FOREIGN KEY (print_file_id) REFERENCES print_files(id) ON DELETE SET NULL,
  CONSTRAINT fk_products_kit FOREIGN KEY (kit_product_id) REFERENCES products(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE print_files
  ADD CONSTRAINT fk_print_files_product FOREIGN KEY (product_id) REFERENCES products(id) ON DELETE SET NULL;

CREATE TABLE product_skus (
  id                  CHAR(36)     NOT NULL PRIMARY KEY,
  account_id          CHAR(36)     NOT NULL,
  product_id          CHAR(36)     NOT NULL,
  sku                 VARCHAR(100) NOT NULL,               -- SKU code, unique per account
  color               VARCHAR(100) NOT NULL,
  filament_type       VARCHAR(50)  NULL,                   -- immutable via public PATCH
  hex_code            VARCHAR(16)  NULL,                   -- '#RRGGBB'
  quantity            INT UNSIGNED NOT NULL DEFAULT 1,     -- units per print; immutable via public PATCH
  stock_level         INT          NOT NULL DEFAULT 0,     -- component-level counter (POST /skus/{id}/adjust)
  price               BIGINT       NULL,                   -- cents; never exposed or accepted
  low_stock_threshold INT          NOT NULL DEFAULT 0,
  is_active           TINYINT(1)   NOT NULL DEFAULT 1,
  is_composite        TINYINT(1)   NOT NULL DEFAULT 0,     -- stored flag = has >= 1 sku_bom_children row
  created_at          DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at          DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_product_skus_account_sku (account_id, sku),           -- also GET /skus: sku asc
  KEY ix_product_skus_product (product_id, sku),
  KEY ix_product_skus_account_low (account_id, is_active, stock_level),  -- /skus/low-stock, analytics
  KEY ix_product_skus_account_color (account_id, color),
  KEY ix_product_skus_account_filament (account_id, filament_type),
  CONSTRAINT ck_product_skus_quantity CHECK (quantity >= 1),
  CONSTRAINT ck_product_skus_stock CHECK (stock_level >= 0),
  CONSTRAINT fk_product_skus_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_product_skus_product FOREIGN KEY (product_id) REFERENCES products(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Kit composition: one row per (composite parent SKU, child part SKU). One level of nesting only
-- (a child is never composite): enforced by the application.
CREATE TABLE sku_bom_children (
  id                CHAR(36)     NOT NULL PRIMARY KEY,
  account_id        CHAR(36)     NOT NULL,
  parent_sku_id     CHAR(36)     NOT NULL,
  child_sku_id      CHAR(36)     NOT NULL,
  quantity_required INT UNSIGNED NOT NULL,                 -- = the part's quantity_per_kit for kits
  created_at        DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_sku_bom_children_pair (parent_sku_id, child_sku_id),
  KEY ix_sku_bom_children_child (child_sku_id),
  KEY ix_sku_bom_children_account (account_id),
  CONSTRAINT ck_sku_bom_children_qty CHECK (quantity_required >= 1),
  CONSTRAINT ck_sku_bom_children_self CHECK (parent_sku_id <> child_sku_id),
  CONSTRAINT fk_sku_bom_children_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_sku_bom_children_parent FOREIGN KEY (parent_sku_id) REFERENCES product_skus(id) ON DELETE CASCADE,
  CONSTRAINT fk_sku_bom_children_child FOREIGN KEY (child_sku_id) REFERENCES product_skus(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Bundle extras: non-printed material consumed per unit of a SKU. inventory_item_id points into
-- one of the four materials tables (0004), chosen by inventory_kind, so it has no foreign key.
-- inventory_kind uses the same words as material_usage_history.material_type.
CREATE TABLE sku_bom_inventory (
  id                CHAR(36)     NOT NULL PRIMARY KEY,      -- exposed as bundle_extras[].id
  account_id        CHAR(36)     NOT NULL,
  sku_id            CHAR(36)     NOT NULL,
  inventory_item_id CHAR(36)     NOT NULL,
  inventory_kind    ENUM('filament','packaging','accessory','part') NOT NULL,  -- accessory = public "components"
  quantity_required DECIMAL(12,3) NOT NULL,                -- grams for filament, units otherwise
  created_at        DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_sku_bom_inventory_pair (sku_id, inventory_item_id),
  KEY ix_sku_bom_inventory_item (account_id, inventory_kind, inventory_item_id),
  CONSTRAINT ck_sku_bom_inventory_qty CHECK (quantity_required > 0),
  CONSTRAINT fk_sku_bom_inventory_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_sku_bom_inventory_sku FOREIGN KEY (sku_id) REFERENCES product_skus(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Assembly aids (screws, cables, labels...). Not BOM rows, never affect stock.
CREATE TABLE product_components (
  id                CHAR(36)     NOT NULL PRIMARY KEY,
  account_id        CHAR(36)     NOT NULL,
  product_id        CHAR(36)     NOT NULL,
  component_name    VARCHAR(200) NOT NULL,
  component_type    VARCHAR(100) NULL,
  quantity_required INT UNSIGNED NOT NULL DEFAULT 1,
  notes             VARCHAR(500) NULL,
  created_at        DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_product_components_product (product_id, component_name),
  KEY ix_product_components_account (account_id, product_id, component_name),  -- catalog-wide list
  CONSTRAINT ck_product_components_qty CHECK (quantity_required >= 1),
  CONSTRAINT fk_product_components_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_product_components_product FOREIGN KEY (product_id) REFERENCES products(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Gallery: max 20 rows per product (application); lowest sort_order = hero; gaps allowed.
CREATE TABLE product_images (
  id           CHAR(36)     NOT NULL PRIMARY KEY,
  account_id   CHAR(36)     NOT NULL,
  product_id   CHAR(36)     NOT NULL,
  storage_key  VARCHAR(512) NOT NULL,                      -- never exposed
  content_type ENUM('image/jpeg','image/png','image/webp','image/gif') NOT NULL,
  size_bytes   INT UNSIGNED NOT NULL,                      -- <= 5 MiB
  sort_order   INT          NOT NULL,
  created_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_product_images_product (product_id, sort_order, created_at, id),
  KEY ix_product_images_account (account_id),
  CONSTRAINT fk_product_images_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_product_images_product FOREIGN KEY (product_id) REFERENCES products(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE color_presets (
  id            CHAR(36)     NOT NULL PRIMARY KEY,
  account_id    CHAR(36)     NOT NULL,
  color_name    VARCHAR(100) NOT NULL,
  hex_code      VARCHAR(16)  NOT NULL,                     -- '#RRGGBB', stored upper-case
  filament_type VARCHAR(50)  NOT NULL,
  is_active     TINYINT(1)   NOT NULL DEFAULT 1,
  created_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),   -- no updated_at (spec)
  UNIQUE KEY uq_color_presets_name_type (account_id, color_name, filament_type),  -- also list: color_name asc
  KEY ix_color_presets_account_type (account_id, filament_type, is_active),
  CONSTRAINT fk_color_presets_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE wiki_articles (
  id                     CHAR(36)     NOT NULL PRIMARY KEY,
  account_id             CHAR(36)     NOT NULL,
  title                  VARCHAR(200) NOT NULL,
  slug                   VARCHAR(200) NOT NULL,
  content                MEDIUMTEXT   NULL,                 -- markdown
  excerpt                VARCHAR(500) NULL,
  category               VARCHAR(100) NULL,
  tags                   JSON         NULL,                 -- JSON array of string; [] when NULL
  author_id              CHAR(36)     NULL,                 -- API key owner; never exposed
  last_edited_by         CHAR(36)     NULL,                 -- never exposed
  product_id             CHAR(36)     NULL,
  sku_id                 CHAR(36)     NULL,
  is_published           TINYINT(1)   NOT NULL DEFAULT 0,
  published_at           DATETIME(3)  NULL,
  meta_title             VARCHAR(60)  NULL,
  meta_description       VARCHAR(160) NULL,
  featured_image_url     VARCHAR(500) NULL,
  description            TEXT         NULL,
  estimated_time_minutes INT UNSIGNED NULL,
  difficulty             ENUM('easy','medium','hard') NULL,
  tools_required         JSON         NULL,                 -- JSON array of string; [] when NULL
  sections               JSON         NOT NULL DEFAULT '[]', -- JSON array of Section
  created_at             DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at             DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_wiki_articles_account_slug (account_id, slug),
  KEY ix_wiki_articles_account_updated (account_id, updated_at, id),  -- GET /wiki: updated_at desc
  KEY ix_wiki_articles_account_category (account_id, category, updated_at),
  KEY ix_wiki_articles_account_published (account_id, is_published, updated_at),
  KEY ix_wiki_articles_product (product_id, updated_at),
  KEY ix_wiki_articles_sku (sku_id, updated_at),
  CONSTRAINT fk_wiki_articles_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_wiki_articles_author FOREIGN KEY (author_id) REFERENCES users(id) ON DELETE SET NULL,
  CONSTRAINT fk_wiki_articles_editor FOREIGN KEY (last_edited_by) REFERENCES users(id) ON DELETE SET NULL,
  CONSTRAINT fk_wiki_articles_product FOREIGN KEY (product_id) REFERENCES products(id) ON DELETE SET NULL,
  CONSTRAINT fk_wiki_articles_sku FOREIGN KEY (sku_id) REFERENCES product_skus(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE products
  ADD CONSTRAINT fk_products_wiki FOREIGN KEY (wiki_id) REFERENCES wiki_articles(id) ON DELETE SET NULL;
