-- 0024: auto-dispatch (docs/dispatch.md): per-account settings and per-printer opt-in.
--
-- dispatch_settings: one row per account once its settings were changed (GET answers the
-- defaults without one). The dispatcher also takes the row FOR UPDATE in each start's
-- transaction, so the starts of one account are serialised across workers and hosts and the
-- per-hub staggering counts hold.
CREATE TABLE dispatch_settings (
  account_id                   CHAR(36)          NOT NULL PRIMARY KEY,
  enabled                      TINYINT(1)        NOT NULL DEFAULT 0,
  max_starts_in_flight_per_hub SMALLINT UNSIGNED NOT NULL DEFAULT 2,
  min_seconds_between_starts   INT UNSIGNED      NOT NULL DEFAULT 30,
  created_at                   DATETIME(3)       NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at                   DATETIME(3)       NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  CONSTRAINT fk_dispatch_settings_account FOREIGN KEY (account_id) REFERENCES accounts(id)
    ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A row = the printer takes dispatched jobs.
CREATE TABLE dispatch_printers (
  printer_id  CHAR(36)    NOT NULL PRIMARY KEY,
  account_id  CHAR(36)    NOT NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_dispatch_printers_account (account_id),
  CONSTRAINT fk_dispatch_printers_printer FOREIGN KEY (printer_id) REFERENCES printers(id)
    ON DELETE CASCADE,
  CONSTRAINT fk_dispatch_printers_account FOREIGN KEY (account_id) REFERENCES accounts(id)
    ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The dispatcher's read of the queue: an account's queued, unassigned jobs.
ALTER TABLE print_jobs ADD KEY ix_jobs_dispatch (account_id, status, printer_id, priority);
