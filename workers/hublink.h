/* hublink.h - the hub link of one worker: the MQTT connection (mqtt.c), inbound messages
 * (ingest.c) and outbound commands (hubcmds.c) behind a few calls the event loop makes.
 *
 * Exactly one worker runs it (loop.c decides: the holder of the cluster-wide lease
 * `mqtt-link`, see docs/scale-out.md), so one deployment has one backend MQTT connection. The
 * loop
 *   - tells it the lease (hublink_set_lease: token for the fenced writes, and the local
 *     monotonic time from which nothing may be published); past it, hublink_suspend() closes
 *     the connection without writing anything more; hublink_discard() drops what was received
 *     but not written when another worker held the link meanwhile;
 *   - watches hublink_fd() (read always, write while hublink_want_write()) and calls
 *     hublink_io(); after EVERY call it compares hublink_fd() with the watched descriptor:
 *     -1 = the connection is gone, reconnect with hublink_connect() after a back-off;
 *   - calls hublink_misc() once a second (MQTT keep-alive), hublink_tick() every ~250 ms
 *     (status flush, backlog replay, expiry sweep, fallback publishing of pending rows,
 *     hub_events purge) and hublink_pump() when woken (queue_wake datagram);
 *   - tells it when the database is down (hublink_set_db_down: no database call at all then)
 *     and, after every call, asks hublink_take_db_err() whether the database went away.
 * Nothing here blocks on the network; database calls are synchronous like every worker job. */
#ifndef APF_HUBLINK_H
#define APF_HUBLINK_H

#include "db.h"

#include <stdbool.h>
#include <stdint.h>

struct hublink;

/* NULL when MQTT is not configured (mqtt_host / mqtt_username) or out of memory. db and
 * worker_id are borrowed (worker_id for the link's life). */
struct hublink *hublink_new(struct db *db, const char *worker_id);
/* Flushes buffered status rows when the database is up, disconnects cleanly, frees. */
void hublink_free(struct hublink *hl);

void hublink_set_db(struct hublink *hl, struct db *db);
void hublink_set_db_down(struct hublink *hl, bool down);
/* E_SERVICE_UNAVAILABLE once after the database went away during a call, else E_OK. */
enum api_err hublink_take_db_err(struct hublink *hl);
/* 1 when the MQTT settings changed since hublink_new (SIGHUP). */
int hublink_conf_changed(const struct hublink *hl);

/* The lease: fencing token and util_mono_ms() value until which the link may publish. */
void hublink_set_lease(struct hublink *hl, long long token, int64_t until_ms);
/* The lease holder's name: on every CONNACK the link records its broker in the lease row
 * (lease_set_broker) under this name and the current token. */
void hublink_set_holder(struct hublink *hl, const char *holder);
/* The next connect starts at this broker ("HOST:PORT", the lease row's) when it is one of
 * mqtt_hosts: the previous holder's session, with the QoS 1 messages the broker kept for the
 * backend while nobody read them, is there. Once; "" or NULL clears it. */
void hublink_use_broker(struct hublink *hl, const char *broker);
/* Closes the MQTT connection at once, writing nothing more; received messages are kept. */
void hublink_suspend(struct hublink *hl);
/* Drops buffered status rows and the backlog (received under an older lease). */
void hublink_discard(struct hublink *hl);

/* Starts connecting; 0 under way, -1 failed at once or the lease is not held (retry after a
 * back-off). */
int hublink_connect(struct hublink *hl);
int hublink_fd(const struct hublink *hl);
bool hublink_want_write(const struct hublink *hl);
/* Connected and subscribed (CONNACK accepted). */
bool hublink_is_up(const struct hublink *hl);

void hublink_io(struct hublink *hl, bool readable, bool writable);
void hublink_misc(struct hublink *hl);
void hublink_tick(struct hublink *hl);
void hublink_pump(struct hublink *hl);

#endif
