/* webhook.h - webhook events: the outbox writer every change calls, and the pieces the API
 * (fcgi/webhooks.c) and the delivery worker (workers/webhooks.c) share: event type names,
 * secrets, signatures, destination checks. docs/webhooks.md. */
#ifndef APF_WEBHOOK_H
#define APF_WEBHOOK_H

#include "err.h"

#include <jansson.h>
#include <stddef.h>
#include <sys/socket.h>

struct db;

/* The event types a client may subscribe to, NULL-terminated (webhook.test is not one: a test
 * event goes to the endpoint it was asked for). */
extern const char *const webhook_event_types[];
int webhook_type_known(const char *type);

/* Records event type of account with data (a JSON object; reference stolen, may be NULL) in
 * the caller's transaction: one indexed read of the account's enabled endpoints subscribed to
 * type; when there are none nothing is written; else the event (its body is the exact text
 * every attempt sends) and one pending delivery per endpoint. A rolled-back change sends
 * nothing. Errors are the database's (the caller's transaction fails with them). */
enum api_err webhook_emit(struct db *db, const char *account, const char *type, json_t *data);
/* A job's change of status (from may be NULL when unknown): job.started, job.paused,
 * job.resumed (printing after paused), job.completed, job.failed, job.cancelled; other targets
 * send nothing. Data: {job_id, status, previous_status}. */
enum api_err webhook_job(struct db *db, const char *account, const char *job, const char *from,
			 const char *to);

/* A job's optimistic transition undone (its hub command failed, timed out or the hub went
 * away): job.reverted {job_id, status (restored), previous_status (the one announced)}. */
enum api_err webhook_job_reverted(struct db *db, const char *job, const char *from,
				  const char *to);

/* A printer's change: printer.status_changed when status is not NULL; printer.online /
 * printer.offline when link is 1 / 0 (-1: no change of the link). Data: {printer_id, status}. */
enum api_err webhook_printer(struct db *db, const char *account, const char *printer,
			     const char *status, int link);

/* A stock row (table: finished_goods, filament_inventory, ...) whose status changed to status:
 * inventory.low_stock (low_stock, low) or inventory.out_of_stock; other statuses send nothing.
 * Data: {item_type, item_id, status, level}. */
enum api_err webhook_stock(struct db *db, const char *account, const char *table,
			   const char *item, const char *status, const char *level);

/* The same for one endpoint regardless of its subscriptions (POST /webhooks/{id}/test);
 * event_id receives the new event's id. */
enum api_err webhook_emit_to(struct db *db, const char *account, const char *endpoint,
			     const char *type, json_t *data, char event_id[37]);

/* A new secret: "whsec_" + base64 of 24 random bytes. 0 or -1. */
#define WEBHOOK_SECRET_MAX 64
int webhook_secret_new(char out[WEBHOOK_SECRET_MAX]);
/* webhook-signature value "v1,<base64 HMAC-SHA256(key, id.ts.body)>" where key is the decoded
 * part of secret after "whsec_". 0, or -1 when the secret is malformed or out too small. */
int webhook_sign(const char *secret, const char *id, long long ts, const char *body,
		 size_t body_len, char *out, size_t outsz);

/* The URL's scheme (http / https), host and port; 0 or -1 when not such a URL (no user info,
 * no fragment, a host present). */
struct webhook_url {
	int https;
	char host[256];
	unsigned port;
};
int webhook_url_parse(const char *url, struct webhook_url *u);
/* 1 when a connection to sa may be made: not loopback, private, link-local, metadata,
 * unspecified, multicast or broadcast, unless conf webhook_allow (CIDR list) contains it. */
int webhook_addr_allowed(const struct sockaddr *sa);
/* Resolves u's host and checks every address (webhook_addr_allowed). NULL when allowed, else
 * why not (a static message). Waits at most conf webhook_resolve_timeout_ms (2000) for the
 * resolver (getaddrinfo_a): for the API's registration check. */
const char *webhook_url_check(const struct webhook_url *u);

#endif
