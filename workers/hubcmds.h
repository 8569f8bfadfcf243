/* hubcmds.h - the worker's side of hub commands (docs/hub-link.md; contract in common/hubcmd.h).
 *
 * Rows of hub_commands move pending → sent → acked | failed | timeout | expired. This module
 *   - publishes pending rows (hubcmds_pump): read oldest first (the link owner is the only
 *     publisher),
 *     the §5.1 envelope built from the row (issued_at / expires_at / ttl_ms as stored), secrets
 *     added at publish time for printers.sync and printer.configure (never stored, never logged),
 *     QoS 1 to apf/v1/<hub>/cmd, then hubcmd_mark_sent. A hub that is offline or stale at that
 *     moment fails the row at once with HUB_OFFLINE; a fire-and-forget row (expect_ack 0) is
 *     finished `acked` as soon as it is published (its later ACK is only logged);
 *   - records ACKs (hubcmds_ack): ok → acked, EXPIRED → expired, other refusals → failed with the
 *     hub's code and message (hubcmd_finish applies the revert); late and duplicate ACKs leave
 *     the row alone and are logged;
 *   - times rows out (hubcmds_sweep): pending/sent past expires_at → timeout (+ revert);
 *   - fails every open row of a hub that went offline (hubcmds_hub_lost: HUB_OFFLINE);
 *   - inserts the printers.sync a hub gets after each connect (hubcmds_sync) and publishes
 *     again what it was sent but has not answered (hubcmds_resend);
 *   - runs the queue job HUB_COMMANDS/hub.discover (jobs.def), which inserts a hub.discover row.
 *
 * struct hubctx is the state shared by the hub link's modules (this one and ingest.c); the
 * owner (hublink.c) fills it. Only the worker that holds the MQTT link calls these functions,
 * except hub_discover, which any worker may run (it only inserts a row and wakes the owner). */
#ifndef APF_HUBCMDS_H
#define APF_HUBCMDS_H

#include "db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct ingest;

struct hubctx {
	struct db *db;                /* borrowed; the worker's connection */
	const char *worker_id;        /* hub_commands.worker_id (borrowed) */
	/* Publishes on the broker; 0 when queued. NULL or failing: the row stays pending. */
	int (*publish)(void *ud, const char *topic, const char *payload, size_t len, int qos);
	bool (*link_up)(void *ud);
	void *ud;
	struct ingest *in;            /* inbound state (ingest.c) */
	bool db_down;                 /* set by the loop: no database call while true */
	bool pump_due;                /* a row was inserted here (printers.sync): publish soon */
	enum api_err db_err;          /* first connection-level error since the loop last looked */
};

/* Records err in c->db_err when it means the database is unreachable; returns err. */
enum api_err hubctx_db_error(struct hubctx *c, enum api_err err);

/* Publishes pending rows (at most a few batches); *published (may be NULL) counts them. */
enum api_err hubcmds_pump(struct hubctx *c, int *published);
/* Rows pending (*pending) and rows past expires_at (*expired) among the open ones: one cheap
 * indexed query, so the fallback timer can skip the work when there is none. */
enum api_err hubcmds_check(struct hubctx *c, long long *pending, long long *expired);
/* Open rows past expires_at → timeout (+ revert). *n (may be NULL) counts them. */
enum api_err hubcmds_sweep(struct hubctx *c, int *n);
/* One validated ACK (docs/hub-link.md) from hub_id (the topic's, equal to the payload's). */
enum api_err hubcmds_ack(struct hubctx *c, const char *hub_id, const json_t *ack);
/* The hub went offline: every pending/sent row of it → failed HUB_OFFLINE (+ revert). */
enum api_err hubcmds_hub_lost(struct hubctx *c, const char *hub_id);
/* Inserts the fire-and-forget printers.sync for a hub that just connected (§4.1, §5.2). */
enum api_err hubcmds_sync(struct hubctx *c, const char *hub_id, const char *account_id);
/* A hub connected with a new session while it still had `sent`, unexpired rows (its broker died,
 * so no will said it was gone, and what was published meanwhile may never have reached it): they
 * go back to `pending` and the pump publishes them again with their command ids; a hub that did
 * get one answers from its duplicate memory (§5.4) without executing it twice. *n = rows. */
enum api_err hubcmds_resend(struct hubctx *c, const char *hub_id, int *n);

/* The printer object (docs/hub-link.md) of printers.id = printer_id, secrets included:
 * only for a command payload, never for a log. *out NULL when there is no such printer. */
enum api_err hubcmds_printer_object(struct db *db, const char *printer_id, json_t **out);

#endif
