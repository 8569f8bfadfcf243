-- 0022: the broker of the MQTT link lease (docs/scale-out.md, "Hub link and waiters").
--
-- The link's MQTT session is persistent and lives on ONE broker: the QoS 1 messages hubs
-- publish while the holder is stopped or dead wait there (queued, or in flight to the dead
-- connection). The holder records the broker it is connected to ("HOST:PORT") on every CONNACK;
-- the next holder connects there first, takes the session over and receives them. Without it a
-- new holder on the other broker of a bridged pair never sees them (a job.completed lost: the
-- job stays printing on an idle printer).

ALTER TABLE cluster_leases ADD COLUMN broker VARCHAR(300) NULL AFTER acquired_at;
