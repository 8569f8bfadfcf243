-- 0023: observability (docs/observability.md).
--
-- queue_jobs.request_id: the X-Request-Id of the API request that queued the job (NULL for jobs
-- of the workers and apf-admin); the worker's log lines for the job carry it.
--
-- worker_metrics: one row per worker (its lease holder name, host_id/id), rewritten every few
-- seconds by that worker with its counters (telemetry messages by kind, the age of the last
-- one, database errors and reconnects, jobs by outcome, hub commands it handled) and whether
-- its MQTT link is connected. /metrics on any API host reads them: workers may run elsewhere.

ALTER TABLE queue_jobs ADD COLUMN request_id VARCHAR(64) NULL AFTER dedup_key;

CREATE TABLE worker_metrics (
  worker          VARCHAR(128) NOT NULL,
  pid             INT UNSIGNED NOT NULL DEFAULT 0,
  started_at      DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at      DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  link_connected  TINYINT(1)   NOT NULL DEFAULT 0,   -- this worker's MQTT link is up now
  counters        JSON         NOT NULL,             -- {"name": number, ...} since started_at
  PRIMARY KEY (worker)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
