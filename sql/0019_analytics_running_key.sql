-- 0019: the running totals' writes find their group by its key. In 0018 the group argument of
-- analytics_running_add and the printer id of printers_analytics_delete were utf8mb4 values
-- compared with the ascii_bin column sub: MariaDB converted the column, so each change read and
-- locked every running row of its account and kind (a job 30 ms at 10,000 jobs, growing with the
-- history) instead of one group's rows. Same statements, the values in the column's character set.

CREATE OR REPLACE PROCEDURE analytics_running_add(p_account CHAR(36), p_kind INT, p_sub VARCHAR(36) CHARACTER SET ascii COLLATE ascii_bin, p_day DATE, p_jobs BIGINT, p_completed BIGINT, p_failed BIGINT, p_minutes BIGINT, p_failures BIGINT, p_resolved BIGINT)
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

CREATE OR REPLACE TRIGGER printers_analytics_delete BEFORE DELETE ON printers FOR EACH ROW
BEGIN
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN SET @analytics_dropped_printer = NULL; RESIGNAL; END;
  SET @analytics_dropped_printer = OLD.id;
  UPDATE print_jobs SET printer_id = NULL WHERE printer_id = OLD.id;
  UPDATE printer_failures SET printer_id = NULL WHERE printer_id = OLD.id;
  SET @analytics_dropped_printer = NULL;
  DELETE FROM analytics_running WHERE account_id = OLD.account_id AND kind = 1 AND sub = CAST(OLD.id AS CHAR CHARACTER SET ascii) COLLATE ascii_bin;
END;
