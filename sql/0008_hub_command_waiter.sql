-- 0008: hub command bookkeeping for the wait and for late events.
--
-- waiter: the API process waiting on the command. The worker that records the outcome sends that
-- process one datagram ("<command id> <status>") to this unix socket path, so the API answers as
-- soon as the row is final instead of at its next look at the row (docs/hub-link.md, "A command,
-- end to end"). NULL: nobody waits (fire-and-forget, worker-issued commands) or notification is
-- unavailable.
--
-- seq: issue order. Commands of one job are issued one after another (each takes the job's row
-- lock), so seq orders them; an event caused by a command (its command_id) that arrives after a
-- later command of the same job was issued no longer changes the job (see workers/ingest.c).
--
-- ix_hub_commands_printer_issued: the status flush asks whether a printer has a recent command
-- that its report may predate (workers/ingest.c, STATUS_KEPT_SQL).

ALTER TABLE hub_commands
  ADD COLUMN waiter VARCHAR(108) NULL AFTER request_id,
  ADD COLUMN seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT AFTER waiter,
  ADD UNIQUE KEY ux_hub_commands_seq (seq),
  ADD KEY ix_hub_commands_job_seq (job_id, seq),
  ADD KEY ix_hub_commands_printer_issued (printer_id, issued_at),
  DROP KEY ix_hub_commands_job;
