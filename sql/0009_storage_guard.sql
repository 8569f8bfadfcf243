-- 0009: upload grants, per-account storage quotas, failed authentications per client address.
--
-- file_uploads: one row per upload URL (POST /files/upload-url), keyed by its storage key.
--   claimed = 1 once a file or a version references the object: from then on the object is
--   immutable, and PUT /files/upload/{token} refuses it (the row is locked, FOR UPDATE, by the
--   PUT that publishes the bytes and by the create that claims them, so the two never cross).
--   size_bytes: the stored object's size (NULL until a PUT stored one); counted against the
--   account's quota until the upload becomes a file or version. After expires_at (the token's
--   expiry) plus a grace period housekeeping deletes the object of an unclaimed row and forgets
--   every row (fcgi/files.c, common/uploads.c, workers/housekeeping.c).
--   The key compares byte for byte (utf8mb4_bin), as the file store does.
CREATE TABLE file_uploads (
  storage_key  VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  account_id   CHAR(36)        NOT NULL,
  expires_at   DATETIME(3)     NOT NULL,
  size_bytes   BIGINT UNSIGNED NULL,
  claimed      TINYINT(1)      NOT NULL DEFAULT 0,
  created_at   DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_file_uploads_account (account_id, claimed),
  KEY ix_file_uploads_expiry (expires_at),
  CONSTRAINT fk_file_uploads_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- account_storage: the account's storage quotas (NULL = the configured default, conf
-- storage_quota_mb / storage_quota_files; 0 = no limit), set with `apf-admin account
-- set-quota`. The row is also the account's storage lock: every change of the account's stored
-- bytes or object count takes it FOR UPDATE first, so quota checks are exact across hosts.
-- Created on first use.
CREATE TABLE account_storage (
  account_id   CHAR(36)        NOT NULL PRIMARY KEY,
  quota_bytes  BIGINT UNSIGNED NULL,
  quota_files  INT UNSIGNED    NULL,
  updated_at   DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  CONSTRAINT fk_account_storage_account FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Failed authentications per client address and fixed window (conf auth_fail_window seconds),
-- counted by every API host (fcgi/dispatch.c). InnoDB since 0020, like rate_windows (see
-- docs/scale-out.md "Database"). addr: IPv4 text, or an IPv6 /64.
CREATE TABLE auth_failures (
  addr         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  window_start INT UNSIGNED NOT NULL,          -- epoch seconds, multiple of the window
  fails        INT UNSIGNED NOT NULL,
  PRIMARY KEY (addr, window_start)
) ENGINE=MEMORY;
