-- 0025: webhooks (docs/webhooks.md).
--
-- webhook_endpoints: an account's destinations. secret is the whole `whsec_<base64>` text: a
-- shared secret the worker signs with (HMAC needs the key itself, so it is stored as is, not
-- hashed); it is answered only by create and rotate-secret. disabled_reason says why the worker
-- (or the client) disabled it; failure_streak counts consecutive failed attempts, failing_since
-- is the time of the first of them (NULL after a success).
--
-- webhook_events: the outbox, written by common/webhook.c in the transaction of the change, only
-- when an enabled endpoint of the account subscribes to the type; body is the exact JSON text
-- every attempt sends (so a redelivery is byte-identical).
--
-- webhook_deliveries: one per event and endpoint, written with the event. The worker claims a
-- due row by setting lease_until (and claim_token) on it; a worker that dies mid-delivery leaves
-- the lease to expire and another one delivers it again with the same webhook-id.

CREATE TABLE webhook_endpoints (
  id              CHAR(36)      NOT NULL PRIMARY KEY,
  account_id      CHAR(36)      NOT NULL,
  url             VARCHAR(2000) NOT NULL,
  description     VARCHAR(500)  NULL,
  event_types     JSON          NOT NULL,
  secret          VARCHAR(100)  NOT NULL,
  enabled         TINYINT(1)    NOT NULL DEFAULT 1,
  disabled_reason VARCHAR(500)  NULL,
  failure_streak  INT UNSIGNED  NOT NULL DEFAULT 0,
  failing_since   DATETIME(3)   NULL,
  last_success_at DATETIME(3)   NULL,
  created_at      DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at      DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_webhook_endpoints_account (account_id, enabled),
  CONSTRAINT fk_webhook_endpoints_account FOREIGN KEY (account_id) REFERENCES accounts (id)
    ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE webhook_events (
  id          CHAR(36)     NOT NULL PRIMARY KEY,
  account_id  CHAR(36)     NOT NULL,
  type        VARCHAR(64)  NOT NULL,
  body        MEDIUMTEXT   NOT NULL,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_webhook_events_created (created_at),
  KEY ix_webhook_events_account (account_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE webhook_deliveries (
  id               CHAR(36)     NOT NULL PRIMARY KEY,
  account_id       CHAR(36)     NOT NULL,
  event_id         CHAR(36)     NOT NULL,
  endpoint_id      CHAR(36)     NOT NULL,
  status           ENUM('pending','delivered','failed') NOT NULL DEFAULT 'pending',
  attempts         INT UNSIGNED NOT NULL DEFAULT 0,
  next_attempt_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  lease_until      DATETIME(3)  NULL,
  claim_token      CHAR(32)     NULL,
  last_status_code INT          NULL,
  last_error       VARCHAR(500) NULL,
  last_duration_ms INT UNSIGNED NULL,
  last_attempt_at  DATETIME(3)  NULL,
  delivered_at     DATETIME(3)  NULL,
  created_at       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_webhook_deliveries_due (status, next_attempt_at),
  KEY ix_webhook_deliveries_endpoint (endpoint_id, created_at),
  KEY ix_webhook_deliveries_event (event_id),
  CONSTRAINT fk_webhook_deliveries_event FOREIGN KEY (event_id) REFERENCES webhook_events (id)
    ON DELETE CASCADE,
  CONSTRAINT fk_webhook_deliveries_endpoint FOREIGN KEY (endpoint_id)
    REFERENCES webhook_endpoints (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
