-- 0021: cluster-wide leases with fencing tokens (docs/scale-out.md, "Hub link and waiters").
--
-- One row per lease. The MQTT link owner ('mqtt-link') takes the row with one UPDATE when it is
-- expired or already its own (token + 1 on every take), renews expires_at every second and
-- gives it up (expires_at in the past) when it stops. The writes it makes because it owns the
-- link carry its token and are refused once the token moved on (a stale owner). InnoDB: Galera
-- replicates it; no GET_LOCK().

CREATE TABLE cluster_leases (
  name        VARCHAR(64)  NOT NULL,
  holder      VARCHAR(128) NOT NULL DEFAULT '',
  token       BIGINT       NOT NULL DEFAULT 0,
  expires_at  DATETIME(3)  NOT NULL DEFAULT '2000-01-01 00:00:00.000',
  acquired_at DATETIME(3)  NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO cluster_leases (name) VALUES ('mqtt-link');
