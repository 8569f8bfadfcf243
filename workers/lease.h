/* lease.h - cluster-wide leases with fencing tokens, in MariaDB (table cluster_leases,
 * sql/0021; docs/scale-out.md, "Hub link and waiters").
 *
 * A lease is one row: holder, token, expires_at (the database's clock). lease_take takes it with
 * one UPDATE when it is expired or already held by `holder`, and every take adds 1 to the token,
 * so a holder that lost the lease and took it back can tell whether anybody held it meanwhile
 * (the new token is the old one + 1 when nobody did). lease_renew moves expires_at on while the
 * row still names holder and token. The holder also judges its lease by its own monotonic clock
 * (the caller does: it stops acting as holder ttl - 1 s after the start of its last successful
 * take or renewal). InnoDB rows and plain UPDATEs: safe on Galera (no GET_LOCK). */
#ifndef APF_LEASE_H
#define APF_LEASE_H

#include "db.h"

/* The MQTT link's lease (hub commands fence on this row: common/hubcmd.c). */
#define LEASE_MQTT "mqtt-link"

/* *token > 0 when taken (the new token), 0 when another holder has it. broker receives the
 * row's broker ("" when none): where the previous holder (or this one) last connected. */
enum api_err lease_take(struct db *db, const char *name, const char *holder, long ttl_s,
			long long *token, char *broker, size_t broker_size);
/* Records the broker ("HOST:PORT") the holder's link is connected to, while holder/token still
 * hold the lease. The next holder connects there first: the link's persistent MQTT session, and
 * the QoS 1 messages the broker holds in it for the backend, live on that broker
 * (docs/scale-out.md, "Hub link and waiters"). */
enum api_err lease_set_broker(struct db *db, const char *name, const char *holder,
			      long long token, const char *broker);
/* *ok 1 when the row still named holder/token and was extended, 0 when the lease is lost. */
enum api_err lease_renew(struct db *db, const char *name, const char *holder, long long token,
			 long ttl_s, int *ok);
/* Gives the lease up (expired at once) when holder/token still hold it. */
enum api_err lease_release(struct db *db, const char *name, const char *holder,
			   long long token);

#endif
