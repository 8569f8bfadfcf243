-- 0002: print files and their versions (files group; docs/files.md).
-- The spec's r2_key / thumbnail_r2_key are called storage_key / thumbnail_storage_key here (the
-- API's own word); the legacy local_file_path / file_url columns of the earlier impl are dropped.
-- print_files.product_id gets its foreign key in 0003, once products exists.

CREATE TABLE print_files (
  id                     CHAR(36)     NOT NULL PRIMARY KEY,   -- = file_id minted by POST /files/upload-url
  account_id             CHAR(36)     NOT NULL,
  product_id             CHAR(36)     NULL,                   -- FK products (SET NULL), added in 0003
  name                   VARCHAR(255) NOT NULL,               -- file name incl. extension
  file_format            ENUM('3mf','gcode','bgcode','stl','obj','amf') NULL,  -- from the extension / magic bytes
  content_type           VARCHAR(127) NULL,
  storage_key            VARCHAR(512) NULL,                   -- current version's object; never exposed (spec: r2_key)
  file_size_bytes        BIGINT UNSIGNED NULL,
  sha256                 CHAR(64)     NULL,                   -- hex of the current object (print.start file.sha256)
  number_of_units        INT UNSIGNED NOT NULL DEFAULT 1,     -- units produced per print run
  -- slicer metadata; the file-level values describe plate 1 (docs/files.md, "Projections")
  slicer                 VARCHAR(64)  NULL,                   -- BambuStudio, OrcaSlicer, PrusaSlicer, Cura, ...
  slicer_version         VARCHAR(64)  NULL,
  is_sliced              TINYINT(1)   NULL,                   -- 3MF holds plate G-code / file is G-code; NULL = unknown
  print_time_seconds     INT UNSIGNED NULL,
  filament_weight_grams  DECIMAL(10,2) NULL,
  filament_length_meters DECIMAL(12,3) NULL,
  filament_type          VARCHAR(100) NULL,
  filament_color         VARCHAR(32)  NULL,                   -- '#RRGGBB' of the first filament
  printer_model_id       VARCHAR(100) NULL,                   -- e.g. N1, N2S, BL-P001, C12, MK4IS, Flashforge-Adventurer-5M-Pro
  printer_model_name     VARCHAR(200) NULL,                   -- e.g. 'Bambu Lab X1 Carbon' (project_settings printer_model)
  nozzle_diameter        DECIMAL(4,2) NULL,                   -- mm
  layer_count            INT UNSIGNED NULL,
  curr_bed_type          VARCHAR(100) NULL,
  default_print_profile  VARCHAR(200) NULL,
  object_count           INT UNSIGNED NOT NULL DEFAULT 1,
  plate_count            INT UNSIGNED NULL,
  plates                 JSON         NULL,                   -- [{plate, print_time_seconds, filament_weight_grams, filament_length_meters, layer_count, object_count, filaments:[{type,color}] ...}]
  total_print_time_seconds     INT UNSIGNED  NULL,            -- sums over all plates (NULL when single plate / unknown)
  total_filament_weight_grams  DECIMAL(10,2) NULL,
  total_filament_length_meters DECIMAL(12,3) NULL,
  metadata               JSON         NULL,                   -- other parsed values, derived-value flags, slicer warnings; never exposed raw
  metadata_status        ENUM('pending','done','failed','unsupported') NOT NULL DEFAULT 'pending',
  metadata_error         VARCHAR(500) NULL,
  metadata_extracted_at  DATETIME(3)  NULL,
  thumbnail_storage_key  VARCHAR(512) NULL,                   -- exposed only as has_thumbnail (spec: thumbnail_r2_key)
  thumbnail_content_type VARCHAR(64)  NULL,                   -- image/png or image/jpeg
  created_at             DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at             DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_print_files_account_name (account_id, name),
  KEY ix_print_files_account_created (account_id, created_at, id),      -- GET /files: created_at desc
  KEY ix_print_files_account_product (account_id, product_id, created_at),
  KEY ix_print_files_account_model (account_id, printer_model_id, created_at),
  KEY ix_print_files_account_filament (account_id, filament_type, created_at),
  KEY ix_print_files_product (product_id),
  CONSTRAINT fk_print_files_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- At most 3 versions per file; at most one current version per file (enforced by
-- uq_print_file_versions_current: clear the old current row before setting the new one).
CREATE TABLE print_file_versions (
  id                 CHAR(36)     NOT NULL PRIMARY KEY,
  account_id         CHAR(36)     NOT NULL,
  print_file_id      CHAR(36)     NOT NULL,
  version_number     TINYINT UNSIGNED NOT NULL,
  storage_key        VARCHAR(512) NULL,                       -- never exposed (spec: r2_key)
  file_size_bytes    BIGINT UNSIGNED NULL,
  sha256             CHAR(64)     NULL,
  notes              VARCHAR(500) NULL,
  is_current_version TINYINT(1)   NOT NULL DEFAULT 0,
  current_marker     TINYINT(1)   AS (IF(is_current_version = 1, 1, NULL)) PERSISTENT,  -- helper for the unique key
  created_at         DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_print_file_versions_number (print_file_id, version_number),
  UNIQUE KEY uq_print_file_versions_current (print_file_id, current_marker),
  KEY ix_print_file_versions_account (account_id),
  CONSTRAINT ck_print_file_versions_number CHECK (version_number BETWEEN 1 AND 3),
  CONSTRAINT fk_print_file_versions_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_print_file_versions_file FOREIGN KEY (print_file_id) REFERENCES print_files(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
