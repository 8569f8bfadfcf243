/* ingest.h - inbound hub messages (docs/hub-link.md, "Inbound messages") into the database.
 *
 * One table maps the topic kind to its payload type and handler:
 *   state → presence (hubs.is_online / session_id / versions / MAC / IP; §4.1 session rule;
 *           offline: open commands fail HUB_OFFLINE, printers offline; online: printers.sync)
 *   heartbeat → hubs.last_seen_at
 *   status → printer_live_status + printers.status / is_connected / connection_error /
 *            current_filament_type / current_color_hex (+ job progress), batched: kept in memory
 *            (latest per printer, older seq dropped) and written in ONE transaction by
 *            ingest_flush(), every ~250 ms from the loop or at once when INGEST_BATCH rows wait,
 *            with multi-row statements (chunks of 1/8/32/128 rows): a locking SELECT of the
 *            printers (and reported jobs), one INSERT ... ON DUPLICATE KEY UPDATE of the live
 *            rows, and a printer / job UPDATE only for a row that changes
 *   event → job and printer transitions: one table of event rules naming the rows of the shared
 *           state table (common/states.h, "hub:*"), deduplicated by event_id (hub_events; rows
 *           older than 24 h are purged by ingest_purge)
 *   discovery → hub_discoveries (list replaced)
 *   ack → hubcmds_ack
 * Every message is untrusted: at most MQTT_MAX_PAYLOAD bytes, a JSON object with v = 1, the
 * type of its topic and hub_id equal to the topic's hub, which must be a known, claimed hub;
 * anything else is dropped and logged. Field types and bounds are checked (hubjson.h).
 *
 * While the database is unreachable (ctx->db_down) presence, event, ack and discovery messages
 * are kept in a bounded backlog and replayed in order by ingest_replay(); heartbeats are
 * dropped (the next one comes in 30 s) and status rows stay in the batch (latest per printer, at
 * most INGEST_BATCH printers: reports of further printers are dropped and counted). */
#ifndef APF_INGEST_H
#define APF_INGEST_H

#include "hubcmds.h"

#include <stdbool.h>
#include <stddef.h>

#define INGEST_BATCH 256           /* status rows that trigger an immediate flush */
#define INGEST_BACKLOG_MAX 10000   /* messages kept while the database is away */

struct ingest *ingest_new(void);
void ingest_free(struct ingest *in);

/* Handles one message (topic and payload borrowed; retained: replayed by the broker on our
 * subscription, not live). Returns a database error only when the database is unreachable (the
 * message is then in the backlog); anything else is handled or dropped here. */
enum api_err ingest_message(struct hubctx *c, const char *topic, const void *payload, size_t len,
			    bool retained);
/* Writes the buffered status rows in one transaction. */
enum api_err ingest_flush(struct hubctx *c);
/* Replays the backlog (oldest first) until it is empty or the database fails again. */
enum api_err ingest_replay(struct hubctx *c);
/* Deletes processed-event ids older than 24 h (a bounded batch). */
enum api_err ingest_purge(struct hubctx *c);
/* Number of event rules naming a state rule that common/states.c lacks (0 = consistent). */
int ingest_check_rules(void);
/* Buffered status rows / backlog messages. */
size_t ingest_buffered(const struct ingest *in);
size_t ingest_backlog(const struct ingest *in);

#endif
