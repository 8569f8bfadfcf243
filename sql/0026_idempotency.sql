-- 0026: idempotency keys (docs/idempotency.md).
--
-- One row per (API key, Idempotency-Key): the request's fingerprint (SHA-256 hex of method, URI
-- as sent, and SHA-256 of the body), its state, and once done the answer's status and envelope.
-- in_progress rows belong to the request that claimed them (owner: a UUID minted per claim);
-- a request that commits a hub command records command_id (and the success answer it will give
-- after the ACK) in the same transaction as the command row, so a retry after the process died
-- rebuilds the answer from the command's outcome instead of sending a second command.
-- Rows live 24 h (expires_at); housekeeping.purge deletes them after.

CREATE TABLE idempotency_keys (
  key_id       CHAR(36)      NOT NULL,                -- api_keys.id: records are per API key
  idem_key     VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  account_id   CHAR(36)      NOT NULL,
  fingerprint  CHAR(64)      NOT NULL,
  state        ENUM('in_progress','done') NOT NULL DEFAULT 'in_progress',
  owner        CHAR(36)      NOT NULL,                -- the claim's token
  claimed_at   DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  command_id   CHAR(36)      NULL,                    -- hub_commands.command_id of the request
  status       SMALLINT      NULL,                    -- the answer's HTTP status (done)
  body         MEDIUMTEXT    NULL,                    -- the answer's envelope; in_progress: the
                                                      -- success answer awaiting the ACK
  created_at   DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at   DATETIME(3)   NOT NULL,
  PRIMARY KEY (key_id, idem_key),
  KEY ix_idempotency_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
