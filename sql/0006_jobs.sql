-- 0006: print jobs, printer failure log, and the hub-command side of the hub protocol
-- (hub_commands queue rows, file-download tokens, processed-event ids).
-- Also adds the deferred foreign key finished_goods.print_job_id -> print_jobs.

-- printer_numeric_id of the earlier impl is dropped (printers has no per-account numeric id).
CREATE TABLE print_jobs (
  id                           CHAR(36)     NOT NULL PRIMARY KEY,
  account_id                   CHAR(36)     NOT NULL,
  printer_id                   CHAR(36)     NULL,            -- NULL = unassigned
  print_file_id                CHAR(36)     NULL,            -- always set by the API; NULL only if the file row is deleted
  print_file_version_id        CHAR(36)     NULL,            -- version sent to the printer by the last start
  product_sku_id               CHAR(36)     NULL,
  submitted_by                 CHAR(36)     NULL,            -- never exposed
  order_id                     CHAR(36)     NULL,            -- set by POST /orders/{id}/produce
  order_item_id                CHAR(36)     NULL,
  file_name                    VARCHAR(255) NOT NULL,        -- copy of print_files.name
  status                       ENUM('queued','processing','uploaded','printing','paused','completed','failed','cancelled') NOT NULL DEFAULT 'queued',
  color                        VARCHAR(100) NOT NULL DEFAULT '',
  filament_type                VARCHAR(100) NOT NULL DEFAULT '',
  material_type                VARCHAR(100) NOT NULL DEFAULT 'PLA',
  number_of_units              INT UNSIGNED NOT NULL DEFAULT 1,
  quantity_per_print           INT UNSIGNED NOT NULL DEFAULT 1,
  requires_assembly            TINYINT(1)   NOT NULL DEFAULT 0,
  plate                        SMALLINT UNSIGNED NOT NULL DEFAULT 1,  -- print.start params.plate
  filament_needed_grams        DECIMAL(10,2) NULL,           -- grams (the earlier impl stored grams x 100)
  estimated_print_time_minutes INT UNSIGNED NULL,
  actual_print_time_minutes    INT UNSIGNED NULL,
  progress_percentage          TINYINT UNSIGNED NOT NULL DEFAULT 0,
  bambu_job_id                 VARCHAR(64)  NULL,            -- printer-side job id (any printer kind); never exposed
  last_sync_time               DATETIME(3)  NULL,            -- never exposed
  priority                     SMALLINT UNSIGNED NOT NULL DEFAULT 50,  -- low 10, normal 50, high 100, urgent 200; never exposed
  failure_reason               VARCHAR(500) NULL,
  time_submitted               DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  time_started                 DATETIME(3)  NULL,
  time_completed               DATETIME(3)  NULL,
  product_id                   CHAR(36)     NULL,            -- copy from the SKU's product
  product_name                 VARCHAR(200) NULL,            -- copy
  sku_name                     VARCHAR(255) NULL,            -- copy: 'color (filament_type)'
  printer_model                VARCHAR(120) NULL,            -- copy
  printer_name                 VARCHAR(120) NULL,            -- copy
  created_at                   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at                   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_jobs_account_created (account_id, created_at, id),                 -- GET /jobs: created_at desc
  KEY ix_jobs_account_status_created (account_id, status, created_at, id),  -- GET /jobs?status=, /jobs/stats
  KEY ix_jobs_account_completed (account_id, time_completed, id),           -- /jobs/history, analytics
  KEY ix_jobs_account_submitted (account_id, time_submitted),               -- analytics windows
  KEY ix_jobs_account_printer_submitted (account_id, printer_id, time_submitted),
  KEY ix_jobs_printer_status (printer_id, status),                          -- job running on a printer?
  KEY ix_jobs_order_item (order_item_id, status),                           -- produce idempotency
  KEY ix_jobs_order (order_id),
  KEY ix_jobs_file (print_file_id),
  KEY ix_jobs_file_version (print_file_version_id),
  KEY ix_jobs_sku (product_sku_id),
  KEY ix_jobs_product (product_id),
  KEY ix_jobs_submitted_by (submitted_by),
  CONSTRAINT ck_jobs_progress CHECK (progress_percentage <= 100),
  CONSTRAINT ck_jobs_units CHECK (number_of_units >= 1 AND quantity_per_print >= 1 AND plate >= 1),
  CONSTRAINT fk_jobs_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_jobs_printer FOREIGN KEY (printer_id) REFERENCES printers(id) ON DELETE SET NULL,
  CONSTRAINT fk_jobs_file FOREIGN KEY (print_file_id) REFERENCES print_files(id) ON DELETE SET NULL,
  CONSTRAINT fk_jobs_file_version FOREIGN KEY (print_file_version_id) REFERENCES print_file_versions(id) ON DELETE SET NULL,
  CONSTRAINT fk_jobs_sku FOREIGN KEY (product_sku_id) REFERENCES product_skus(id) ON DELETE SET NULL,
  CONSTRAINT fk_jobs_product FOREIGN KEY (product_id) REFERENCES products(id) ON DELETE SET NULL,
  CONSTRAINT fk_jobs_submitted_by FOREIGN KEY (submitted_by) REFERENCES users(id) ON DELETE SET NULL,
  CONSTRAINT fk_jobs_order FOREIGN KEY (order_id) REFERENCES orders(id) ON DELETE SET NULL,
  CONSTRAINT fk_jobs_order_item FOREIGN KEY (order_item_id) REFERENCES order_items(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE finished_goods
  ADD CONSTRAINT fk_finished_goods_print_job FOREIGN KEY (print_job_id) REFERENCES print_jobs(id) ON DELETE SET NULL;

-- One row per job failure (a retried job may fail again: no unique key on print_job_id).
CREATE TABLE printer_failures (
  id                    CHAR(36)     NOT NULL PRIMARY KEY,
  account_id            CHAR(36)     NOT NULL,
  printer_id            CHAR(36)     NULL,
  print_job_id          CHAR(36)     NULL,
  failure_type          ENUM('nozzle_clog','bed_adhesion','layer_shift','filament_runout','power_loss','network_disconnect','firmware_error','mechanical','thermal','user_cancelled','unknown','other') NOT NULL DEFAULT 'unknown',
  failure_reason        VARCHAR(1000) NULL,
  error_code            VARCHAR(64)  NULL,
  progress_at_failure   TINYINT UNSIGNED NULL,              -- percent
  print_time_at_failure INT UNSIGNED NULL,                  -- minutes
  layer_at_failure      INT UNSIGNED NULL,
  resolution            TEXT         NULL,                  -- never exposed
  resolved_at           DATETIME(3)  NULL,
  resolved_by           CHAR(36)     NULL,                  -- never exposed
  created_at            DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_failures_account_created (account_id, created_at),
  KEY ix_failures_account_printer_created (account_id, printer_id, created_at),
  KEY ix_failures_printer (printer_id),
  KEY ix_failures_job (print_job_id),
  KEY ix_failures_resolved_by (resolved_by),
  CONSTRAINT fk_failures_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_failures_printer FOREIGN KEY (printer_id) REFERENCES printers(id) ON DELETE SET NULL,
  CONSTRAINT fk_failures_job FOREIGN KEY (print_job_id) REFERENCES print_jobs(id) ON DELETE SET NULL,
  CONSTRAINT fk_failures_resolved_by FOREIGN KEY (resolved_by) REFERENCES users(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Commands to hubs (docs/hub-link.md, "A command, end to end"). The API inserts a pending row in
-- the same transaction as its optimistic state change; a worker claims it (pending -> sent),
-- publishes it, and records the ACK / refusal / timeout, applying `revert` by compare-and-set on
-- failure. account_id is NULL only for commands to an unclaimed hub (e.g. an admin hub.disconnect).
CREATE TABLE hub_commands (
  command_id      CHAR(36)     NOT NULL PRIMARY KEY,
  account_id      CHAR(36)     NULL,
  hub_id          CHAR(36)     NOT NULL,
  printer_id      CHAR(36)     NULL,                        -- NULL for hub-level actions
  job_id          CHAR(36)     NULL,
  action          ENUM('print.start','print.pause','print.resume','print.stop','bed.clear','temperature.set','light.set','filament.load','filament.unload','printer.configure','printers.sync','status.refresh','hub.discover','hub.config','hub.disconnect') NOT NULL,
  params          JSON         NOT NULL DEFAULT '{}',       -- without secrets (added at publish time)
  expect_ack      TINYINT(1)   NOT NULL DEFAULT 1,          -- 0 = fire-and-forget caller
  status          ENUM('pending','sent','acked','failed','timeout','expired') NOT NULL DEFAULT 'pending',
  revert          JSON         NULL,                        -- previous states to restore on failure
  revert_applied  TINYINT(1)   NULL,                        -- NULL not attempted, 0 skipped (state moved on), 1 applied
  ack_ok          TINYINT(1)   NULL,
  ack_code        VARCHAR(32)  NULL,                        -- OK or the hub's error code (UNKNOWN_PRINTER, EXPIRED, ...)
  ack_message     VARCHAR(1000) NULL,
  ack_result      JSON         NULL,                        -- ACK result object
  hub_received_at BIGINT       NULL,                        -- ACK received_at, epoch ms, hub clock
  hub_acked_at    BIGINT       NULL,                        -- ACK ts, epoch ms, hub clock
  timeout_ms      INT UNSIGNED NOT NULL,                    -- = ttl_ms = expires_at - issued_at
  issued_at       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at      DATETIME(3)  NOT NULL,
  sent_at         DATETIME(3)  NULL,
  finished_at     DATETIME(3)  NULL,                        -- reached acked / failed / timeout / expired
  worker_id       VARCHAR(64)  NULL,                        -- worker that claimed and published it
  request_id      VARCHAR(64)  NULL,                        -- X-Request-Id of the API call that issued it
  KEY ix_hub_commands_claim (status, issued_at),
  KEY ix_hub_commands_expiry (status, expires_at),
  KEY ix_hub_commands_hub (hub_id, status, issued_at),
  KEY ix_hub_commands_printer (printer_id, status),
  KEY ix_hub_commands_job (job_id),
  KEY ix_hub_commands_account (account_id, issued_at),
  KEY ix_hub_commands_finished (finished_at),
  CONSTRAINT fk_hub_commands_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_hub_commands_hub FOREIGN KEY (hub_id) REFERENCES hubs(id) ON DELETE CASCADE,
  CONSTRAINT fk_hub_commands_printer FOREIGN KEY (printer_id) REFERENCES printers(id) ON DELETE SET NULL,
  CONSTRAINT fk_hub_commands_job FOREIGN KEY (job_id) REFERENCES print_jobs(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Download tokens for file delivery to hubs (docs/jobs-and-control.md, "File delivery to hubs"): 32
-- random bytes, stored as SHA-256, bound to one hub and one file version, TTL 15 min, reusable
-- within it.
CREATE TABLE hub_file_tokens (
  token_hash      CHAR(64)     NOT NULL PRIMARY KEY,        -- SHA-256 hex of the token
  account_id      CHAR(36)     NOT NULL,
  hub_id          CHAR(36)     NOT NULL,
  job_id          CHAR(36)     NOT NULL,
  file_version_id CHAR(36)     NOT NULL,
  command_id      CHAR(36)     NULL,                        -- the print.start that carried it
  expires_at      DATETIME(3)  NOT NULL,
  created_at      DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  first_used_at   DATETIME(3)  NULL,
  last_used_at    DATETIME(3)  NULL,
  use_count       INT UNSIGNED NOT NULL DEFAULT 0,
  KEY ix_hub_file_tokens_expiry (expires_at),
  KEY ix_hub_file_tokens_job (job_id),
  KEY ix_hub_file_tokens_hub (hub_id),
  KEY ix_hub_file_tokens_version (file_version_id),
  KEY ix_hub_file_tokens_command (command_id),
  KEY ix_hub_file_tokens_account (account_id),
  CONSTRAINT fk_hub_file_tokens_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE,
  CONSTRAINT fk_hub_file_tokens_hub FOREIGN KEY (hub_id) REFERENCES hubs(id) ON DELETE CASCADE,
  CONSTRAINT fk_hub_file_tokens_job FOREIGN KEY (job_id) REFERENCES print_jobs(id) ON DELETE CASCADE,
  CONSTRAINT fk_hub_file_tokens_version FOREIGN KEY (file_version_id) REFERENCES print_file_versions(id) ON DELETE CASCADE,
  CONSTRAINT fk_hub_file_tokens_command FOREIGN KEY (command_id) REFERENCES hub_commands(command_id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Processed hub event ids (docs/hub-link.md, "Inbound messages"), kept 24 h so a redelivered or
-- re-emitted event is applied once. printer_id / job_id are as received (no foreign keys: rows are
-- transient).
CREATE TABLE hub_events (
  event_id    CHAR(36)    NOT NULL PRIMARY KEY,
  hub_id      CHAR(36)    NOT NULL,
  event       VARCHAR(32) NOT NULL,                         -- job.completed, printer.error, ...
  printer_id  CHAR(36)    NULL,
  job_id      CHAR(36)    NULL,
  command_id  CHAR(36)    NULL,
  event_ts    BIGINT      NULL,                             -- ts, epoch ms, hub clock
  received_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_hub_events_received (received_at),
  KEY ix_hub_events_hub (hub_id, received_at),
  CONSTRAINT fk_hub_events_hub FOREIGN KEY (hub_id) REFERENCES hubs(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
