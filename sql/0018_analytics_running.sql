-- 0018: running totals for the per-printer and per-type analytics (docs/analytics.md "Running
-- totals"). A window of any length is read as two rows per group: the totals up to its last day
-- minus the totals up to the day before its first, so GET /analytics/printers and the failures'
-- by_printer and by_type read about 2 x printers rows, whatever the length of the window and the
-- size of the history. They replace the per-printer daily and monthly rows of 0014 (job kinds 4
-- and 5, failure kinds 3 and 4); the failures' daily trend reads a new per-day total (failure
-- kind 5) instead of the days x types rows.
--
-- A group (account, kind, sub) has a row per day on which its totals changed, holding the totals
-- of every source row up to and including that day, plus two fixed rows: day 1000-01-01 (zeros:
-- every read "the latest row on or before a day" finds one) and day 9999-12-31 (the group's
-- totals; locked first by every change of the group, so changes of one group run one
-- transaction at a time and a change's range update stops inside its group).
--
-- kind 1: per printer: its jobs by UTC submission day (jobs, completed, failed, minutes) and its
--         failures by UTC creation day (failures); sub '' holds the failures without a printer
-- kind 2: per failure_type: failures by UTC creation day (failures, resolved)
CREATE TABLE analytics_running (
  account_id CHAR(36)    NOT NULL,
  kind       TINYINT     NOT NULL,
  sub        VARCHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  day        DATE        NOT NULL,
  jobs       BIGINT      NOT NULL DEFAULT 0,
  completed  BIGINT      NOT NULL DEFAULT 0,
  failed     BIGINT      NOT NULL DEFAULT 0,
  minutes    BIGINT      NOT NULL DEFAULT 0,
  failures   BIGINT      NOT NULL DEFAULT 0,
  resolved   BIGINT      NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, kind, sub, day),
  CONSTRAINT fk_analytics_running_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Adds a contribution of one source row on p_day to the group's rows of that day and after.
-- @analytics_dropped_printer: the printer being deleted (printers_analytics_delete), whose
-- groups are deleted whole instead of being emptied one job at a time.
CREATE PROCEDURE analytics_running_add(p_account CHAR(36), p_kind INT, p_sub VARCHAR(36), p_day DATE, p_jobs BIGINT, p_completed BIGINT, p_failed BIGINT, p_minutes BIGINT, p_failures BIGINT, p_resolved BIGINT)
BEGIN
  DECLARE v_day DATE DEFAULT NULL;
  DECLARE v_jobs, v_completed, v_failed, v_minutes, v_failures, v_resolved BIGINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_day = NULL;
  IF NOT (p_kind = 1 AND p_sub <=> @analytics_dropped_printer) THEN
    INSERT INTO analytics_running (account_id, kind, sub, day) VALUES (p_account, p_kind, p_sub, '9999-12-31')
    ON DUPLICATE KEY UPDATE jobs = jobs;
    IF ROW_COUNT() = 1 THEN
      INSERT IGNORE INTO analytics_running (account_id, kind, sub, day) VALUES (p_account, p_kind, p_sub, '1000-01-01');
    END IF;
    SELECT day, jobs, completed, failed, minutes, failures, resolved
      INTO v_day, v_jobs, v_completed, v_failed, v_minutes, v_failures, v_resolved
      FROM analytics_running
     WHERE account_id = p_account AND kind = p_kind AND sub = p_sub AND day <= p_day
     ORDER BY day DESC LIMIT 1 FOR UPDATE;
    IF v_day IS NULL OR v_day < p_day THEN
      INSERT INTO analytics_running (account_id, kind, sub, day, jobs, completed, failed, minutes, failures, resolved)
      VALUES (p_account, p_kind, p_sub, p_day, v_jobs, v_completed, v_failed, v_minutes, v_failures, v_resolved);
    END IF;
    UPDATE analytics_running
       SET jobs = jobs + p_jobs, completed = completed + p_completed, failed = failed + p_failed,
           minutes = minutes + p_minutes, failures = failures + p_failures, resolved = resolved + p_resolved
     WHERE account_id = p_account AND kind = p_kind AND sub = p_sub AND day >= p_day;
  END IF;
END;

-- jobs with a printer by submission day: the per-printer running totals (was job kinds 4 and 5)
CREATE OR REPLACE PROCEDURE analytics_job_submitted(p_account CHAR(36), p_status VARCHAR(16), p_submitted DATETIME(3), p_printer CHAR(36), p_minutes BIGINT, p_sign INT)
BEGIN
  IF p_printer IS NOT NULL THEN
    CALL analytics_running_add(p_account, 1, p_printer, DATE(p_submitted), p_sign,
                               p_sign * (p_status = 'completed'), p_sign * (p_status = 'failed'),
                               p_sign * COALESCE(p_minutes, 0), 0, 0);
  END IF;
END;

-- failures: by day and type (kind 1), by printer, day and type (2), per day (5); running totals
-- per printer and per type
CREATE OR REPLACE PROCEDURE analytics_failure(p_account CHAR(36), p_created DATETIME(3), p_type VARCHAR(32), p_printer CHAR(36), p_resolved INT, p_sign INT)
BEGIN
  INSERT INTO analytics_failure_days (account_id, kind, grp, day, sub, failures, resolved)
  SELECT p_account, k.kind, k.grp, DATE(p_created), k.sub, p_sign, p_sign * p_resolved
  FROM (SELECT 1 AS kind, '' AS grp, p_type AS sub
        UNION ALL SELECT 2, p_printer, p_type
        UNION ALL SELECT 5, '', '') k
  WHERE k.grp IS NOT NULL
  ON DUPLICATE KEY UPDATE failures = failures + VALUES(failures), resolved = resolved + VALUES(resolved);
  CALL analytics_running_add(p_account, 1, COALESCE(p_printer, ''), DATE(p_created), 0, 0, 0, 0, p_sign, 0);
  CALL analytics_running_add(p_account, 2, p_type, DATE(p_created), 0, 0, 0, 0, p_sign, p_sign * p_resolved);
END;

-- Deleting a printer: its jobs and failures lose their printer (as in 0014); its running groups
-- go whole, and its failures join the '' group one by one.
CREATE OR REPLACE TRIGGER printers_analytics_delete BEFORE DELETE ON printers FOR EACH ROW
BEGIN
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN SET @analytics_dropped_printer = NULL; RESIGNAL; END;
  SET @analytics_dropped_printer = OLD.id;
  UPDATE print_jobs SET printer_id = NULL WHERE printer_id = OLD.id;
  UPDATE printer_failures SET printer_id = NULL WHERE printer_id = OLD.id;
  SET @analytics_dropped_printer = NULL;
  DELETE FROM analytics_running WHERE account_id = OLD.account_id AND kind = 1 AND sub = OLD.id;
END;

-- ------------------------------------------- the rollups recomputed from the sources

CREATE OR REPLACE VIEW analytics_job_days_source AS
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
GROUP BY account_id, product_id, DATE(COALESCE(time_completed, updated_at));

CREATE OR REPLACE VIEW analytics_failure_days_source AS
SELECT account_id, 1 AS kind, '' AS grp, DATE(created_at) AS day, failure_type AS sub,
       COUNT(*) AS failures, SUM(resolved_at IS NOT NULL) AS resolved
FROM printer_failures GROUP BY account_id, DATE(created_at), failure_type
UNION ALL
SELECT account_id, 2, printer_id, DATE(created_at), failure_type, COUNT(*), SUM(resolved_at IS NOT NULL)
FROM printer_failures WHERE printer_id IS NOT NULL
GROUP BY account_id, printer_id, DATE(created_at), failure_type
UNION ALL
SELECT account_id, 5, '', DATE(created_at), '', COUNT(*), SUM(resolved_at IS NOT NULL)
FROM printer_failures GROUP BY account_id, DATE(created_at);

-- what each running group gains per day (the running rows are its cumulative sums); kind 1 may
-- have two rows for one day (jobs, failures): readers sum by day
CREATE VIEW analytics_running_source AS
SELECT account_id, 1 AS kind, printer_id AS sub, DATE(time_submitted) AS day, COUNT(*) AS jobs,
       SUM(status = 'completed') AS completed, SUM(status = 'failed') AS failed,
       SUM(COALESCE(actual_print_time_minutes, 0)) AS minutes, 0 AS failures, 0 AS resolved
FROM print_jobs WHERE printer_id IS NOT NULL
GROUP BY account_id, printer_id, DATE(time_submitted)
UNION ALL
SELECT account_id, 1, COALESCE(printer_id, ''), DATE(created_at), 0, 0, 0, 0, COUNT(*), 0
FROM printer_failures GROUP BY account_id, COALESCE(printer_id, ''), DATE(created_at)
UNION ALL
SELECT account_id, 2, failure_type, DATE(created_at), 0, 0, 0, 0, COUNT(*), SUM(resolved_at IS NOT NULL)
FROM printer_failures GROUP BY account_id, failure_type, DATE(created_at);

-- 0014's drift view, with the running totals: a running row minus the row before it in its
-- group must equal what the sources add on its day (so the start row holds zeros and the end row
-- the totals of the last day), and every day the sources add something must have its row.
CREATE OR REPLACE VIEW analytics_rollup_drift AS
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
) d GROUP BY account_id, day, material_type HAVING SUM(entries) <> 0 OR SUM(amount) <> 0
UNION ALL
SELECT 'running', account_id, kind, '', day, sub FROM (
  SELECT account_id, kind, sub, day,
         jobs - COALESCE(LAG(jobs) OVER (PARTITION BY account_id, kind, sub ORDER BY day), 0) AS jobs,
         completed - COALESCE(LAG(completed) OVER (PARTITION BY account_id, kind, sub ORDER BY day), 0) AS completed,
         failed - COALESCE(LAG(failed) OVER (PARTITION BY account_id, kind, sub ORDER BY day), 0) AS failed,
         minutes - COALESCE(LAG(minutes) OVER (PARTITION BY account_id, kind, sub ORDER BY day), 0) AS minutes,
         failures - COALESCE(LAG(failures) OVER (PARTITION BY account_id, kind, sub ORDER BY day), 0) AS failures,
         resolved - COALESCE(LAG(resolved) OVER (PARTITION BY account_id, kind, sub ORDER BY day), 0) AS resolved
  FROM analytics_running
  UNION ALL
  SELECT account_id, kind, sub, day, -jobs, -completed, -failed, -minutes, -failures, -resolved
  FROM analytics_running_source
) d GROUP BY account_id, kind, sub, day
HAVING SUM(jobs) <> 0 OR SUM(completed) <> 0 OR SUM(failed) <> 0 OR SUM(minutes) <> 0
    OR SUM(failures) <> 0 OR SUM(resolved) <> 0;

-- ------------------------------------------------------------------------ backfill
-- (apf-admin migrate runs before the services start: no writer races the triggers here)

DELETE FROM analytics_job_days WHERE kind IN (4, 5);
DELETE FROM analytics_failure_days WHERE kind IN (3, 4);

INSERT INTO analytics_failure_days (account_id, kind, grp, day, sub, failures, resolved)
SELECT account_id, kind, grp, day, sub, failures, resolved FROM analytics_failure_days_source WHERE kind = 5;

INSERT INTO analytics_running (account_id, kind, sub, day, jobs, completed, failed, minutes, failures, resolved)
SELECT account_id, kind, sub, day,
       SUM(jobs) OVER w, SUM(completed) OVER w, SUM(failed) OVER w, SUM(minutes) OVER w,
       SUM(failures) OVER w, SUM(resolved) OVER w
FROM (SELECT account_id, kind, sub, day, SUM(jobs) jobs, SUM(completed) completed, SUM(failed) failed,
             SUM(minutes) minutes, SUM(failures) failures, SUM(resolved) resolved
      FROM analytics_running_source GROUP BY account_id, kind, sub, day) d
WINDOW w AS (PARTITION BY account_id, kind, sub ORDER BY day ROWS UNBOUNDED PRECEDING);

INSERT INTO analytics_running (account_id, kind, sub, day)
SELECT DISTINCT account_id, kind, sub, '1000-01-01' FROM analytics_running;

INSERT INTO analytics_running (account_id, kind, sub, day, jobs, completed, failed, minutes, failures, resolved)
SELECT account_id, kind, sub, '9999-12-31', SUM(jobs), SUM(completed), SUM(failed), SUM(minutes),
       SUM(failures), SUM(resolved)
FROM analytics_running_source GROUP BY account_id, kind, sub;
