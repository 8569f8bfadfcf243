-- 0004: raw-material stock: filament spools, packaging, accessories (public name "components")
-- and printer spare parts. status is computed by the application (inventory spec R4) and never
-- accepted from clients; cost_per_unit / reorder_link are never accepted or exposed.
-- Usage history (material_usage_history) is in 0007, after print_jobs.

CREATE TABLE filament_inventory (
  id                 CHAR(36)      NOT NULL PRIMARY KEY,
  account_id         CHAR(36)      NOT NULL,
  type               VARCHAR(100)  NOT NULL,               -- PLA, PETG, ...
  color              VARCHAR(50)   NOT NULL,
  hex_code           VARCHAR(16)   NULL,
  brand              VARCHAR(100)  NULL,
  diameter           VARCHAR(20)   NULL DEFAULT '1.75mm',
  remaining_grams    DECIMAL(10,2) NOT NULL DEFAULT 0,
  spool_weight_grams DECIMAL(10,2) NULL DEFAULT 1000,
  low_threshold      DECIMAL(10,2) NULL DEFAULT 100,
  status             ENUM('in_stock','low','out_of_stock','on_order') NOT NULL DEFAULT 'in_stock',
  location           VARCHAR(200)  NULL,
  cost_per_unit      BIGINT        NULL,                   -- cents; never exposed
  reorder_link       VARCHAR(1000) NULL,                   -- never exposed
  created_at         DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at         DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_filament_account_created (account_id, created_at, id),      -- list: created_at desc
  KEY ix_filament_account_type_color (account_id, type, color),
  KEY ix_filament_account_status (account_id, status),
  CONSTRAINT ck_filament_remaining CHECK (remaining_grams >= 0),
  CONSTRAINT fk_filament_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE packaging_inventory (
  id              CHAR(36)      NOT NULL PRIMARY KEY,
  account_id      CHAR(36)      NOT NULL,
  type            VARCHAR(100)  NOT NULL,
  name            VARCHAR(200)  NULL,
  color           VARCHAR(50)   NULL,
  brand           VARCHAR(100)  NULL,
  size            VARCHAR(50)   NULL,
  remaining_units INT           NOT NULL DEFAULT 0,
  low_threshold   INT           NULL DEFAULT 10,
  status          ENUM('in_stock','low','out_of_stock','on_order') NOT NULL DEFAULT 'in_stock',
  location        VARCHAR(200)  NULL,
  cost_per_unit   BIGINT        NULL,                      -- cents; never exposed
  reorder_link    VARCHAR(1000) NULL,                      -- never exposed
  created_at      DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at      DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_packaging_account_created (account_id, created_at, id),
  KEY ix_packaging_account_type (account_id, type),
  CONSTRAINT ck_packaging_remaining CHECK (remaining_units >= 0),
  CONSTRAINT fk_packaging_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Public API name: "components" (/materials/components).
CREATE TABLE accessories_inventory (
  id              CHAR(36)      NOT NULL PRIMARY KEY,
  account_id      CHAR(36)      NOT NULL,
  type            VARCHAR(100)  NOT NULL,                  -- matched case-insensitively by check-availability
  name            VARCHAR(200)  NULL,
  color           VARCHAR(50)   NULL,
  brand           VARCHAR(100)  NULL,
  diameter        VARCHAR(20)   NULL,
  size            VARCHAR(50)   NULL,
  remaining_units INT           NOT NULL DEFAULT 0,
  low_threshold   INT           NULL DEFAULT 5,
  status          ENUM('in_stock','low','out_of_stock','on_order') NOT NULL DEFAULT 'in_stock',
  location        VARCHAR(200)  NULL,
  cost_per_unit   BIGINT        NULL,                      -- cents; never exposed
  reorder_link    VARCHAR(1000) NULL,                      -- never exposed
  created_at      DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at      DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_accessories_account_created (account_id, created_at, id),
  KEY ix_accessories_account_type (account_id, type),
  CONSTRAINT ck_accessories_remaining CHECK (remaining_units >= 0),
  CONSTRAINT fk_accessories_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Public API name: "parts" (/materials/parts).
CREATE TABLE printer_parts_inventory (
  id                CHAR(36)      NOT NULL PRIMARY KEY,
  account_id        CHAR(36)      NOT NULL,
  type              VARCHAR(100)  NOT NULL,
  name              VARCHAR(200)  NULL,
  color             VARCHAR(50)   NULL,
  brand             VARCHAR(100)  NULL,
  compatible_models JSON          NULL,                    -- JSON list of model names; not in public shapes
  remaining_units   INT           NOT NULL DEFAULT 0,
  low_threshold     INT           NULL DEFAULT 2,
  status            ENUM('in_stock','low','out_of_stock','on_order') NOT NULL DEFAULT 'in_stock',
  location          VARCHAR(200)  NULL,
  cost_per_unit     BIGINT        NULL,                    -- cents; never exposed
  reorder_link      VARCHAR(1000) NULL,                    -- never exposed
  created_at        DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at        DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_parts_account_created (account_id, created_at, id),
  KEY ix_parts_account_type (account_id, type),
  CONSTRAINT ck_parts_remaining CHECK (remaining_units >= 0),
  CONSTRAINT fk_parts_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
