-- 0001: accounts, users, API keys, rate limits, hubs, printers, live status, queue, audit.
-- Conventions (all migrations): InnoDB, utf8mb4; ids CHAR(36) lower-case UUID v4;
-- every tenant row has account_id; timestamps DATETIME(3) in UTC (sessions run with time_zone '+00:00');
-- booleans TINYINT(1); money BIGINT cents.

CREATE TABLE accounts (
  id          CHAR(36)     NOT NULL PRIMARY KEY,
  name        VARCHAR(200) NOT NULL,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE users (
  id          CHAR(36)     NOT NULL PRIMARY KEY,
  account_id  CHAR(36)     NOT NULL,
  email       VARCHAR(254) NOT NULL,
  name        VARCHAR(200) NULL,
  role        ENUM('owner','admin','member','operator','viewer') NOT NULL DEFAULT 'member',
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_users_account_email (account_id, email),
  CONSTRAINT fk_users_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE api_keys (
  id           CHAR(36)     NOT NULL PRIMARY KEY,
  account_id   CHAR(36)     NOT NULL,
  user_id      CHAR(36)     NULL,
  name         VARCHAR(200) NOT NULL,
  key_hash     CHAR(64)     NOT NULL,          -- SHA-256 hex of the whole key string
  key_prefix   VARCHAR(16)  NOT NULL,          -- first characters, for display only
  scopes       SET('read','write','control') NOT NULL DEFAULT '',
  rate_limit   INT UNSIGNED NULL,              -- requests per minute; NULL = global default
  created_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  last_used_at DATETIME(3)  NULL,
  expires_at   DATETIME(3)  NULL,
  revoked_at   DATETIME(3)  NULL,
  UNIQUE KEY uq_api_keys_hash (key_hash),
  KEY ix_api_keys_account (account_id),
  CONSTRAINT fk_api_keys_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_api_keys_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Fixed-window request counters, one row per key and window. (InnoDB since 0020, shared by every
-- host and replicated; see docs/scale-out.md "Database".)
CREATE TABLE rate_windows (
  key_id       CHAR(36)     NOT NULL,
  window_start INT UNSIGNED NOT NULL,          -- epoch seconds, multiple of 60
  hits         INT UNSIGNED NOT NULL,
  PRIMARY KEY (key_id, window_start)
) ENGINE=MEMORY;

CREATE TABLE hubs (
  id               CHAR(36)     NOT NULL PRIMARY KEY,   -- = MQTT username and client id
  account_id       CHAR(36)     NULL,                   -- NULL = unclaimed
  name             VARCHAR(200) NULL,
  secret_hash      CHAR(64)     NULL,                   -- never exposed
  mqtt_password_hash VARCHAR(255) NULL,                 -- never exposed
  firmware_version VARCHAR(64)  NULL,
  hardware_version VARCHAR(64)  NULL,
  is_online        TINYINT(1)   NOT NULL DEFAULT 0,
  last_seen_at     DATETIME(3)  NULL,
  ip_address       VARCHAR(64)  NULL,                   -- never exposed
  mac_address      VARCHAR(32)  NULL,                   -- never exposed
  session_id       VARCHAR(64)  NULL,                   -- presence session (hub protocol 4.1)
  claimed_at       DATETIME(3)  NULL,
  created_at       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_hubs_account_name (account_id, name),
  CONSTRAINT fk_hubs_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE hub_discoveries (
  hub_id        CHAR(36)    NOT NULL PRIMARY KEY,
  discovered_at BIGINT      NULL,                       -- epoch milliseconds
  printers      JSON        NOT NULL,                   -- [{serial_number, ip_address, model, name}]
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  CONSTRAINT fk_hub_discoveries_hub FOREIGN KEY (hub_id) REFERENCES hubs(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE printers (
  id                    CHAR(36)     NOT NULL PRIMARY KEY,
  account_id            CHAR(36)     NOT NULL,
  hub_id                CHAR(36)     NULL,
  name                  VARCHAR(120) NOT NULL,
  model                 VARCHAR(120) NOT NULL,
  manufacturer          VARCHAR(120) NULL,
  firmware_version      VARCHAR(64)  NULL,
  total_print_time      INT UNSIGNED NOT NULL DEFAULT 0,     -- minutes
  last_maintenance_date DATETIME(3)  NULL,
  status                ENUM('idle','printing','paused','maintenance','offline','error') NOT NULL DEFAULT 'idle',
  current_color         VARCHAR(64)  NULL,
  current_color_hex     VARCHAR(16)  NULL,
  current_filament_type VARCHAR(64)  NULL,
  current_build_plate   VARCHAR(64)  NULL,
  filament_level        INT          NOT NULL DEFAULT 0,     -- grams
  nozzle_size           DECIMAL(4,2) NULL,
  location              VARCHAR(200) NULL,
  notes                 TEXT         NULL,
  connection_type       ENUM('bambu','prusa','klipper','octoprint','other') NOT NULL DEFAULT 'bambu',
  ip_address            VARCHAR(64)  NULL,                   -- never exposed
  serial_number         VARCHAR(64)  NULL,                   -- never exposed
  access_code           VARCHAR(255) NULL,                   -- never exposed
  is_connected          TINYINT(1)   NOT NULL DEFAULT 0,
  last_connection_attempt DATETIME(3) NULL,
  connection_error      VARCHAR(500) NULL,
  is_active             TINYINT(1)   NOT NULL DEFAULT 1,
  cleared               TINYINT(1)   NOT NULL DEFAULT 1,
  sort_order            INT          NOT NULL DEFAULT 0,
  in_maintenance        TINYINT(1)   NOT NULL DEFAULT 0,
  maintenance_type      VARCHAR(120) NULL,
  has_ams               TINYINT(1)   NOT NULL DEFAULT 0,
  created_at            DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at            DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_printers_account_name (account_id, name),
  KEY ix_printers_account_order (account_id, sort_order, name),
  KEY ix_printers_account_status (account_id, status),
  KEY ix_printers_hub (hub_id),
  KEY ix_printers_serial (serial_number),
  CONSTRAINT fk_printers_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_printers_hub FOREIGN KEY (hub_id) REFERENCES hubs(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Latest telemetry per printer (hub protocol section 6).
CREATE TABLE printer_live_status (
  printer_id             CHAR(36)    NOT NULL PRIMARY KEY,
  status                 VARCHAR(32) NULL,
  progress               TINYINT UNSIGNED NULL,
  nozzle_temp            DECIMAL(6,2) NULL,
  target_nozzle_temp     DECIMAL(6,2) NULL,
  bed_temp               DECIMAL(6,2) NULL,
  target_bed_temp        DECIMAL(6,2) NULL,
  chamber_temp           DECIMAL(6,2) NULL,
  layer_num              INT NULL,
  total_layers           INT NULL,
  remaining_time_seconds INT NULL,
  job_id                 CHAR(36)    NULL,
  seq                    BIGINT      NULL,
  received_at            DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  CONSTRAINT fk_live_printer FOREIGN KEY (printer_id) REFERENCES printers(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The work queue drained by the worker daemons (see docs/architecture.md).
CREATE TABLE queue_jobs (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  queue        VARCHAR(32)  NOT NULL,            -- FILE_PROCESSING, PRINT_EVENTS, HUB_COMMANDS, HOUSEKEEPING
  type         VARCHAR(64)  NOT NULL,
  account_id   CHAR(36)     NULL,
  payload      JSON         NOT NULL,
  state        ENUM('ready','running','done','dead') NOT NULL DEFAULT 'ready',
  attempts     INT UNSIGNED NOT NULL DEFAULT 0,
  max_attempts INT UNSIGNED NOT NULL DEFAULT 5,
  run_at       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  lease_until  DATETIME(3)  NULL,
  locked_by    VARCHAR(64)  NULL,
  last_error   VARCHAR(1000) NULL,
  dedup_key    VARCHAR(128) NULL,
  created_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  finished_at  DATETIME(3)  NULL,
  UNIQUE KEY uq_queue_dedup (queue, dedup_key),
  KEY ix_queue_claim (state, run_at),
  KEY ix_queue_lease (state, lease_until),
  KEY ix_queue_queue_state (queue, state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE audit_logs (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  account_id  CHAR(36)     NOT NULL,
  key_id      CHAR(36)     NULL,
  user_id     CHAR(36)     NULL,
  action      VARCHAR(64)  NOT NULL,
  entity_type VARCHAR(64)  NOT NULL,
  entity_id   CHAR(36)     NULL,
  details     JSON         NULL,
  request_id  VARCHAR(64)  NULL,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_audit_account_time (account_id, created_at),
  KEY ix_audit_entity (entity_type, entity_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
