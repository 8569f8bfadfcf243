-- 0027: the webhook delivery queue (docs/webhooks.md "Delivery").
--
-- webhook_queue holds only the deliveries still to be sent: a row is written with its
-- webhook_deliveries row (in the transaction of the change) and deleted with the final outcome
-- (delivered, or failed after the last retry). due_at is when the next attempt may start; a
-- claim moves it to the end of the claim's lease (claim_token set, attempts + 1), so a claimed
-- row is not due while its lease runs, and due again when a worker died holding it. The claim
-- scans the due_at index of this small table instead of stepping over the delivered rows of
-- webhook_deliveries; the claim counts an endpoint's leased rows (ix_webhook_queue_leased) to
-- keep its transfers within webhook_endpoint_inflight across every worker.
-- webhook_endpoints.claim_seq: a claim writes it for the endpoints it claims for, so two claims
-- of one endpoint on different Galera nodes conflict at certification (the loser claims nothing)
-- where their row locks alone would not see each other (docs/scale-out.md).
-- webhook_deliveries keeps the history (status, attempts, last outcome) the API lists; its
-- queue columns go.

CREATE TABLE webhook_queue (
  delivery_id  CHAR(36)     NOT NULL PRIMARY KEY,
  endpoint_id  CHAR(36)     NOT NULL,
  event_id     CHAR(36)     NOT NULL,
  due_at       DATETIME(3)  NOT NULL,
  claim_token  CHAR(32)     NULL,
  attempts     INT UNSIGNED NOT NULL DEFAULT 0,
  KEY ix_webhook_queue_due (due_at),
  KEY ix_webhook_queue_leased (endpoint_id, claim_token, due_at),
  CONSTRAINT fk_webhook_queue_delivery FOREIGN KEY (delivery_id)
    REFERENCES webhook_deliveries (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO webhook_queue (delivery_id, endpoint_id, event_id, due_at, attempts)
  SELECT id, endpoint_id, event_id, next_attempt_at, attempts FROM webhook_deliveries
  WHERE status = 'pending';

ALTER TABLE webhook_endpoints
  ADD COLUMN claim_seq BIGINT UNSIGNED NOT NULL DEFAULT 0;

ALTER TABLE webhook_deliveries
  DROP INDEX ix_webhook_deliveries_due,
  DROP COLUMN next_attempt_at,
  DROP COLUMN lease_until,
  DROP COLUMN claim_token;
