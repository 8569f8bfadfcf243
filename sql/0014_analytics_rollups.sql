-- 0014: analytics rollups (docs/analytics.md "Rollups"). Per-day (and per-month) totals of
-- print_jobs, orders, printer_failures and material_usage_history, kept exact by triggers on
-- those tables (every writer: API, worker, apf-admin, scripts, SQL) inside the writer's own
-- transaction, so an analytics request reads days x groups rows instead of the rows of its window.
-- A rollup row only ever changes by the contribution of one source row (subtract the old row's,
-- add the new row's); rows whose totals went back to zero stay and are skipped by the reads.
--
-- apf-admin migrate splits this file at a ';' ending a line; a CREATE TRIGGER / PROCEDURE
-- statement ends only at a line "END;" (tools/admin.c), so bodies need no DELIMITER.
--
-- Grouping keys: grp is the filter of a read (a printer or product id, '' for none), sub the
-- group within it ('' for none); both '' rather than NULL so that they can be in the key.

-- print_jobs. kind 1: jobs that finished (completed or failed) by the UTC day of
-- COALESCE(time_completed, updated_at); 2: the same per printer (grp); 3: per product (grp);
-- 4: jobs with a printer by submission day, per printer (sub); 5: the same per month (day = the
-- month's first day). jobs counts the rows, completed / failed by status, units the
-- number_of_units of completed jobs, minutes the actual_print_time_minutes (NULL = 0).
CREATE TABLE analytics_job_days (
  account_id CHAR(36)    NOT NULL,
  kind       TINYINT     NOT NULL,
  grp        VARCHAR(36) NOT NULL,
  day        DATE        NOT NULL,
  sub        VARCHAR(36) NOT NULL,
  jobs       BIGINT      NOT NULL DEFAULT 0,
  completed  BIGINT      NOT NULL DEFAULT 0,
  failed     BIGINT      NOT NULL DEFAULT 0,
  units      BIGINT      NOT NULL DEFAULT 0,
  minutes    BIGINT      NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, kind, grp, day, sub),
  CONSTRAINT fk_analytics_job_days_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- orders not cancelled or refunded, by UTC order day and platform
CREATE TABLE analytics_order_days (
  account_id CHAR(36)    NOT NULL,
  day        DATE        NOT NULL,
  platform   VARCHAR(16) NOT NULL,
  orders     BIGINT      NOT NULL DEFAULT 0,
  revenue    BIGINT      NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, day, platform),
  CONSTRAINT fk_analytics_order_days_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- printer_failures by UTC creation day. kind 1: per failure_type (sub); 2: per printer (grp) and
-- type (sub); 3: per printer (sub, '' = none); 4: the same per month (day = first day).
CREATE TABLE analytics_failure_days (
  account_id CHAR(36)    NOT NULL,
  kind       TINYINT     NOT NULL,
  grp        VARCHAR(36) NOT NULL,
  day        DATE        NOT NULL,
  sub        VARCHAR(36) NOT NULL,
  failures   BIGINT      NOT NULL DEFAULT 0,
  resolved   BIGINT      NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, kind, grp, day, sub),
  CONSTRAINT fk_analytics_failure_days_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- material_usage_history by UTC usage day and material type (entries: the number of rows)
CREATE TABLE analytics_usage_days (
  account_id    CHAR(36)      NOT NULL,
  day           DATE          NOT NULL,
  material_type VARCHAR(16)   NOT NULL,
  entries       BIGINT        NOT NULL DEFAULT 0,
  amount        DECIMAL(20,3) NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, day, material_type),
  CONSTRAINT fk_analytics_usage_days_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ------------------------------------------------------------ contributions of one row

CREATE PROCEDURE analytics_job_finished(p_account CHAR(36), p_status VARCHAR(16), p_day DATE, p_printer CHAR(36), p_product CHAR(36), p_units BIGINT, p_minutes BIGINT, p_sign INT)
BEGIN
  IF p_status IN ('completed', 'failed') THEN
    INSERT INTO analytics_job_days (account_id, kind, grp, day, sub, jobs, completed, failed, units, minutes)
    SELECT p_account, k.kind, k.grp, p_day, '', p_sign, p_sign * (p_status = 'completed'),
           p_sign * (p_status = 'failed'), IF(p_status = 'completed', p_sign * p_units, 0),
           p_sign * COALESCE(p_minutes, 0)
    FROM (SELECT 1 AS kind, '' AS grp UNION ALL SELECT 2, p_printer UNION ALL SELECT 3, p_product) k
    WHERE k.grp IS NOT NULL
    ON DUPLICATE KEY UPDATE jobs = jobs + VALUES(jobs), completed = completed + VALUES(completed),
      failed = failed + VALUES(failed), units = units + VALUES(units), minutes = minutes + VALUES(minutes);
  END IF;
END;

CREATE PROCEDURE analytics_job_submitted(p_account CHAR(36), p_status VARCHAR(16), p_submitted DATETIME(3), p_printer CHAR(36), p_minutes BIGINT, p_sign INT)
BEGIN
  IF p_printer IS NOT NULL THEN
    INSERT INTO analytics_job_days (account_id, kind, grp, day, sub, jobs, completed, failed, units, minutes)
    SELECT p_account, k.kind, '', k.day, p_printer, p_sign, p_sign * (p_status = 'completed'),
           p_sign * (p_status = 'failed'), 0, p_sign * COALESCE(p_minutes, 0)
    FROM (SELECT 4 AS kind, DATE(p_submitted) AS day
          UNION ALL SELECT 5, DATE_SUB(DATE(p_submitted), INTERVAL DAYOFMONTH(p_submitted) - 1 DAY)) k
    ON DUPLICATE KEY UPDATE jobs = jobs + VALUES(jobs), completed = completed + VALUES(completed),
      failed = failed + VALUES(failed), minutes = minutes + VALUES(minutes);
  END IF;
END;

CREATE PROCEDURE analytics_order(p_account CHAR(36), p_date DATETIME(3), p_status VARCHAR(16), p_platform VARCHAR(16), p_revenue BIGINT, p_sign INT)
BEGIN
  IF p_status NOT IN ('cancelled', 'refunded') THEN
    INSERT INTO analytics_order_days (account_id, day, platform, orders, revenue)
    VALUES (p_account, DATE(p_date), p_platform, p_sign, p_sign * p_revenue)
    ON DUPLICATE KEY UPDATE orders = orders + VALUES(orders), revenue = revenue + VALUES(revenue);
  END IF;
END;

CREATE PROCEDURE analytics_failure(p_account CHAR(36), p_created DATETIME(3), p_type VARCHAR(32), p_printer CHAR(36), p_resolved INT, p_sign INT)
BEGIN
  INSERT INTO analytics_failure_days (account_id, kind, grp, day, sub, failures, resolved)
  SELECT p_account, k.kind, k.grp, k.day, k.sub, p_sign, p_sign * p_resolved
  FROM (SELECT 1 AS kind, '' AS grp, DATE(p_created) AS day, p_type AS sub
        UNION ALL SELECT 2, p_printer, DATE(p_created), p_type
        UNION ALL SELECT 3, '', DATE(p_created), COALESCE(p_printer, '')
        UNION ALL SELECT 4, '', DATE_SUB(DATE(p_created), INTERVAL DAYOFMONTH(p_created) - 1 DAY),
                         COALESCE(p_printer, '')) k
  WHERE k.grp IS NOT NULL
  ON DUPLICATE KEY UPDATE failures = failures + VALUES(failures), resolved = resolved + VALUES(resolved);
END;

CREATE PROCEDURE analytics_usage(p_account CHAR(36), p_date DATETIME(3), p_type VARCHAR(16), p_amount DECIMAL(12,3), p_sign INT)
BEGIN
  INSERT INTO analytics_usage_days (account_id, day, material_type, entries, amount)
  VALUES (p_account, DATE(p_date), p_type, p_sign, p_sign * p_amount)
  ON DUPLICATE KEY UPDATE entries = entries + VALUES(entries), amount = amount + VALUES(amount);
END;

-- ------------------------------------------------------------------------ triggers

CREATE TRIGGER print_jobs_analytics_insert AFTER INSERT ON print_jobs FOR EACH ROW
BEGIN
  CALL analytics_job_finished(NEW.account_id, NEW.status, DATE(COALESCE(NEW.time_completed, NEW.updated_at)), NEW.printer_id, NEW.product_id, NEW.number_of_units, NEW.actual_print_time_minutes, 1);
  CALL analytics_job_submitted(NEW.account_id, NEW.status, NEW.time_submitted, NEW.printer_id, NEW.actual_print_time_minutes, 1);
END;

-- an update touches the rollups only when a column they read changed
CREATE TRIGGER print_jobs_analytics_update AFTER UPDATE ON print_jobs FOR EACH ROW
BEGIN
  IF NOT (OLD.account_id <=> NEW.account_id AND OLD.status <=> NEW.status
          AND DATE(COALESCE(OLD.time_completed, OLD.updated_at)) <=> DATE(COALESCE(NEW.time_completed, NEW.updated_at))
          AND OLD.printer_id <=> NEW.printer_id AND OLD.product_id <=> NEW.product_id
          AND OLD.number_of_units <=> NEW.number_of_units
          AND OLD.actual_print_time_minutes <=> NEW.actual_print_time_minutes) THEN
    CALL analytics_job_finished(OLD.account_id, OLD.status, DATE(COALESCE(OLD.time_completed, OLD.updated_at)), OLD.printer_id, OLD.product_id, OLD.number_of_units, OLD.actual_print_time_minutes, -1);
    CALL analytics_job_finished(NEW.account_id, NEW.status, DATE(COALESCE(NEW.time_completed, NEW.updated_at)), NEW.printer_id, NEW.product_id, NEW.number_of_units, NEW.actual_print_time_minutes, 1);
  END IF;
  IF NOT (OLD.account_id <=> NEW.account_id AND OLD.status <=> NEW.status
          AND OLD.time_submitted <=> NEW.time_submitted AND OLD.printer_id <=> NEW.printer_id
          AND OLD.actual_print_time_minutes <=> NEW.actual_print_time_minutes) THEN
    CALL analytics_job_submitted(OLD.account_id, OLD.status, OLD.time_submitted, OLD.printer_id, OLD.actual_print_time_minutes, -1);
    CALL analytics_job_submitted(NEW.account_id, NEW.status, NEW.time_submitted, NEW.printer_id, NEW.actual_print_time_minutes, 1);
  END IF;
END;

CREATE TRIGGER print_jobs_analytics_delete AFTER DELETE ON print_jobs FOR EACH ROW
BEGIN
  CALL analytics_job_finished(OLD.account_id, OLD.status, DATE(COALESCE(OLD.time_completed, OLD.updated_at)), OLD.printer_id, OLD.product_id, OLD.number_of_units, OLD.actual_print_time_minutes, -1);
  CALL analytics_job_submitted(OLD.account_id, OLD.status, OLD.time_submitted, OLD.printer_id, OLD.actual_print_time_minutes, -1);
END;

CREATE TRIGGER orders_analytics_insert AFTER INSERT ON orders FOR EACH ROW
BEGIN
  CALL analytics_order(NEW.account_id, NEW.order_date, NEW.status, NEW.platform, NEW.total_revenue, 1);
END;

CREATE TRIGGER orders_analytics_update AFTER UPDATE ON orders FOR EACH ROW
BEGIN
  IF NOT (OLD.account_id <=> NEW.account_id AND OLD.status <=> NEW.status
          AND DATE(OLD.order_date) <=> DATE(NEW.order_date) AND OLD.platform <=> NEW.platform
          AND OLD.total_revenue <=> NEW.total_revenue) THEN
    CALL analytics_order(OLD.account_id, OLD.order_date, OLD.status, OLD.platform, OLD.total_revenue, -1);
    CALL analytics_order(NEW.account_id, NEW.order_date, NEW.status, NEW.platform, NEW.total_revenue, 1);
  END IF;
END;

CREATE TRIGGER orders_analytics_delete AFTER DELETE ON orders FOR EACH ROW
BEGIN
  CALL analytics_order(OLD.account_id, OLD.order_date, OLD.status, OLD.platform, OLD.total_revenue, -1);
END;

CREATE TRIGGER printer_failures_analytics_insert AFTER INSERT ON printer_failures FOR EACH ROW
BEGIN
  CALL analytics_failure(NEW.account_id, NEW.created_at, NEW.failure_type, NEW.printer_id, NEW.resolved_at IS NOT NULL, 1);
END;

CREATE TRIGGER printer_failures_analytics_update AFTER UPDATE ON printer_failures FOR EACH ROW
BEGIN
  IF NOT (OLD.account_id <=> NEW.account_id AND DATE(OLD.created_at) <=> DATE(NEW.created_at)
          AND OLD.failure_type <=> NEW.failure_type AND OLD.printer_id <=> NEW.printer_id
          AND (OLD.resolved_at IS NULL) <=> (NEW.resolved_at IS NULL)) THEN
    CALL analytics_failure(OLD.account_id, OLD.created_at, OLD.failure_type, OLD.printer_id, OLD.resolved_at IS NOT NULL, -1);
    CALL analytics_failure(NEW.account_id, NEW.created_at, NEW.failure_type, NEW.printer_id, NEW.resolved_at IS NOT NULL, 1);
  END IF;
END;

CREATE TRIGGER printer_failures_analytics_delete AFTER DELETE ON printer_failures FOR EACH ROW
BEGIN
  CALL analytics_failure(OLD.account_id, OLD.created_at, OLD.failure_type, OLD.printer_id, OLD.resolved_at IS NOT NULL, -1);
END;

CREATE TRIGGER material_usage_analytics_insert AFTER INSERT ON material_usage_history FOR EACH ROW
BEGIN
  CALL analytics_usage(NEW.account_id, NEW.usage_date, NEW.material_type, NEW.usage_amount, 1);
END;

CREATE TRIGGER material_usage_analytics_update AFTER UPDATE ON material_usage_history FOR EACH ROW
BEGIN
  IF NOT (OLD.account_id <=> NEW.account_id AND DATE(OLD.usage_date) <=> DATE(NEW.usage_date)
          AND OLD.material_type <=> NEW.material_type AND OLD.usage_amount <=> NEW.usage_amount) THEN
    CALL analytics_usage(OLD.account_id, OLD.usage_date, OLD.material_type, OLD.usage_amount, -1);
    CALL analytics_usage(NEW.account_id, NEW.usage_date, NEW.material_type, NEW.usage_amount, 1);
  END IF;
END;

CREATE TRIGGER material_usage_analytics_delete AFTER DELETE ON material_usage_history FOR EACH ROW
BEGIN
  CALL analytics_usage(OLD.account_id, OLD.usage_date, OLD.material_type, OLD.usage_amount, -1);
END;

-- Deleting a printer or a product sets the jobs' and failures' reference to NULL by a foreign
-- key, which fires no trigger: these do it first, by UPDATEs that the triggers above see; a
-- kit's parts, which its deletion deletes by a cascade (no trigger either), included. (Printers
-- are deleted by a cascade only with their account, whose rollup rows go with it.)
CREATE TRIGGER printers_analytics_delete BEFORE DELETE ON printers FOR EACH ROW
BEGIN
  UPDATE print_jobs SET printer_id = NULL WHERE printer_id = OLD.id;
  UPDATE printer_failures SET printer_id = NULL WHERE printer_id = OLD.id;
END;

CREATE TRIGGER products_analytics_delete BEFORE DELETE ON products FOR EACH ROW
BEGIN
  UPDATE print_jobs SET product_id = NULL WHERE product_id = OLD.id;
  UPDATE print_jobs SET product_id = NULL
  WHERE product_id IN (SELECT p.id FROM products p WHERE p.kit_product_id = OLD.id);
END;

-- ------------------------------------------- the rollups recomputed from the sources

-- The same totals computed from the source rows: the backfill below, and
-- analytics_rollup_drift (rollup rows that differ from them; empty when the rollups are exact).
CREATE VIEW analytics_job_days_source AS
SELECT account_id, 1 AS kind, '' AS grp, DATE(COALESCE(time_completed, updated_at)) AS day, '' AS sub,
       COUNT(*) AS jobs, SUM(status = 'completed') AS completed, SUM(status = 'failed') AS failed,
       SUM(IF(status = 'completed', number_of_units, 0)) AS units,
       SUM(COALESCE(actual_print_time_minutes, 0)) AS minutes
FROM print_jobs WHERE status IN ('completed', 'failed')
GROUP BY account_id, DATE(COALESCE(time_completed, updated_at))
UNION ALL
SELECT account_id, 2, printer_id, DATE(COALESCE(time_completed, updated_at)), '', COUNT(*),
       SUM(status = 'completed'), SUM(status = 'failed'),
       SUM(IF(status = 'completed', number_of_units, 0)), SUM(COALESCE(actual_print_time_minutes, 0))
FROM print_jobs WHERE status IN ('completed', 'failed') AND printer_id IS NOT NULL
GROUP BY account_id, printer_id, DATE(COALESCE(time_completed, updated_at))
UNION ALL
SELECT account_id, 3, product_id, DATE(COALESCE(time_completed, updated_at)), '', COUNT(*),
       SUM(status = 'completed'), SUM(status = 'failed'),
       SUM(IF(status = 'completed', number_of_units, 0)), SUM(COALESCE(actual_print_time_minutes, 0))
FROM print_jobs WHERE status IN ('completed', 'failed') AND product_id IS NOT NULL
GROUP BY account_id, product_id, DATE(COALESCE(time_completed, updated_at))
UNION ALL
SELECT account_id, 4, '', DATE(time_submitted), printer_id, COUNT(*), SUM(status = 'completed'),
       SUM(status = 'failed'), 0, SUM(COALESCE(actual_print_time_minutes, 0))
FROM print_jobs WHERE printer_id IS NOT NULL
GROUP BY account_id, DATE(time_submitted), printer_id
UNION ALL
SELECT account_id, 5, '', DATE_SUB(DATE(time_submitted), INTERVAL DAYOFMONTH(time_submitted) - 1 DAY),
       printer_id, COUNT(*), SUM(status = 'completed'), SUM(status = 'failed'), 0,
       SUM(COALESCE(actual_print_time_minutes, 0))
FROM print_jobs WHERE printer_id IS NOT NULL
GROUP BY account_id, DATE_SUB(DATE(time_submitted), INTERVAL DAYOFMONTH(time_submitted) - 1 DAY), printer_id;

CREATE VIEW analytics_order_days_source AS
SELECT account_id, DATE(order_date) AS day, platform, COUNT(*) AS orders, SUM(total_revenue) AS revenue
FROM orders WHERE status NOT IN ('cancelled', 'refunded')
GROUP BY account_id, DATE(order_date), platform;

CREATE VIEW analytics_failure_days_source AS
SELECT account_id, 1 AS kind, '' AS grp, DATE(created_at) AS day, failure_type AS sub,
       COUNT(*) AS failures, SUM(resolved_at IS NOT NULL) AS resolved
FROM printer_failures GROUP BY account_id, DATE(created_at), failure_type
UNION ALL
SELECT account_id, 2, printer_id, DATE(created_at), failure_type, COUNT(*), SUM(resolved_at IS NOT NULL)
FROM printer_failures WHERE printer_id IS NOT NULL
GROUP BY account_id, printer_id, DATE(created_at), failure_type
UNION ALL
SELECT account_id, 3, '', DATE(created_at), COALESCE(printer_id, ''), COUNT(*), SUM(resolved_at IS NOT NULL)
FROM printer_failures GROUP BY account_id, DATE(created_at), COALESCE(printer_id, '')
UNION ALL
SELECT account_id, 4, '', DATE_SUB(DATE(created_at), INTERVAL DAYOFMONTH(created_at) - 1 DAY),
       COALESCE(printer_id, ''), COUNT(*), SUM(resolved_at IS NOT NULL)
FROM printer_failures
GROUP BY account_id, DATE_SUB(DATE(created_at), INTERVAL DAYOFMONTH(created_at) - 1 DAY), COALESCE(printer_id, '');

CREATE VIEW analytics_usage_days_source AS
SELECT account_id, DATE(usage_date) AS day, material_type, COUNT(*) AS entries, SUM(usage_amount) AS amount
FROM material_usage_history GROUP BY account_id, DATE(usage_date), material_type;

-- Every rollup row that differs from the recomputation (a row missing on either side counts as
-- zeros): apf-admin analytics verify and the analytics suite read it.
CREATE VIEW analytics_rollup_drift AS
SELECT 'jobs' AS rollup, account_id, kind, grp, day, sub FROM (
  SELECT account_id, kind, grp, day, sub, jobs, completed, failed, units, minutes FROM analytics_job_days
  UNION ALL
  SELECT account_id, kind, grp, day, sub, -jobs, -completed, -failed, -units, -minutes FROM analytics_job_days_source
) d GROUP BY account_id, kind, grp, day, sub
HAVING SUM(jobs) <> 0 OR SUM(completed) <> 0 OR SUM(failed) <> 0 OR SUM(units) <> 0 OR SUM(minutes) <> 0
UNION ALL
SELECT 'orders', account_id, 0, '', day, platform FROM (
  SELECT account_id, day, platform, orders, revenue FROM analytics_order_days
  UNION ALL
  SELECT account_id, day, platform, -orders, -revenue FROM analytics_order_days_source
) d GROUP BY account_id, day, platform HAVING SUM(orders) <> 0 OR SUM(revenue) <> 0
UNION ALL
SELECT 'failures', account_id, kind, grp, day, sub FROM (
  SELECT account_id, kind, grp, day, sub, failures, resolved FROM analytics_failure_days
  UNION ALL
  SELECT account_id, kind, grp, day, sub, -failures, -resolved FROM analytics_failure_days_source
) d GROUP BY account_id, kind, grp, day, sub HAVING SUM(failures) <> 0 OR SUM(resolved) <> 0
UNION ALL
SELECT 'usage', account_id, 0, '', day, material_type FROM (
  SELECT account_id, day, material_type, entries, amount FROM analytics_usage_days
  UNION ALL
  SELECT account_id, day, material_type, -entries, -amount FROM analytics_usage_days_source
) d GROUP BY account_id, day, material_type HAVING SUM(entries) <> 0 OR SUM(amount) <> 0;

-- ------------------------------------------------------------------------ backfill
-- (apf-admin migrate runs before the services start: no writer races the triggers here)

INSERT INTO analytics_job_days (account_id, kind, grp, day, sub, jobs, completed, failed, units, minutes)
SELECT account_id, kind, grp, day, sub, jobs, completed, failed, units, minutes FROM analytics_job_days_source;

INSERT INTO analytics_order_days (account_id, day, platform, orders, revenue)
SELECT account_id, day, platform, orders, revenue FROM analytics_order_days_source;

INSERT INTO analytics_failure_days (account_id, kind, grp, day, sub, failures, resolved)
SELECT account_id, kind, grp, day, sub, failures, resolved FROM analytics_failure_days_source;

INSERT INTO analytics_usage_days (account_id, day, material_type, entries, amount)
SELECT account_id, day, material_type, entries, amount FROM analytics_usage_days_source;

-- the covering indexes the analytics reads no longer use (the rollups replace them); those of
-- the lists, the overview's "today" and the production read with both filters stay
ALTER TABLE print_jobs DROP KEY ix_jobs_an_submitted;
ALTER TABLE orders DROP KEY ix_orders_an_date;
ALTER TABLE material_usage_history DROP KEY ix_usage_an_date;
