-- 0009: the API requests waiting for a hub command's ACK, for the per-account bound on them
-- (common/hubcmd.c, hub_waits_per_account): an account may not hold more than its share of the
-- FastCGI children of all API hosts.
--
-- hub_waits: one row per waiting request, inserted in the transaction that inserts its command
-- and deleted when the request stops waiting. expires_at is the latest the request can still be
-- waiting (the command's expiry plus the wait's grace): a row left by a request that died (a
-- killed FastCGI child) stops counting then, and the account's next admission deletes it.
--
-- hub_wait_locks: one row per account, written (admissions + 1) by every admission before it
-- counts the account's hub_waits, so the admissions of one account are serialised on every API
-- host; the count is a locking read, so it sees every admission committed before.

CREATE TABLE hub_waits (
  command_id  CHAR(36)    NOT NULL PRIMARY KEY,
  account_id  CHAR(36)    NOT NULL,
  expires_at  DATETIME(3) NOT NULL,
  KEY ix_hub_waits_account (account_id, expires_at),
  CONSTRAINT fk_hub_waits_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE hub_wait_locks (
  account_id  CHAR(36)        NOT NULL PRIMARY KEY,
  admissions  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  CONSTRAINT fk_hub_wait_locks_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
