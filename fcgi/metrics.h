/* metrics.h - request accounting, the access log line and GET /metrics of apf-fcgi
 * (docs/observability.md).
 *
 * The master maps one shared anonymous region before it forks (metrics_init): every child adds
 * its requests (by route template and status), their latency histogram and its database errors
 * (common/obs.h) to it with relaxed atomic increments, so whichever child answers /metrics
 * reports the whole host. Nothing on the request path touches the database or takes a lock.
 * The rest of /metrics (queues, hub commands, the MQTT link, the workers' telemetry and
 * database counters) is read from the database when scraped.
 *
 * /metrics is answered only when nginx marks the request with the FastCGI parameter
 * APF_METRICS (its loopback metrics listener, nginx/apf-local.conf.in): on the public port the
 * path does not exist. */
#ifndef APF_METRICS_H
#define APF_METRICS_H

#include "db.h"

#include <fcgiapp.h>

/* Route slots beyond the route table (routes[i] is slot i). */
enum metrics_slot_extra {
	METRICS_SLOT_UNMATCHED, /* a path or method of no route (404, 405) */
	METRICS_SLOT_HUBFILES,  /* GET /hub/v1/files/{id} */
	METRICS_SLOT_SCRAPE,    /* GET /metrics */
	METRICS_SLOT__EXTRA
};
/* The slot number of an extra slot. */
unsigned metrics_slot(enum metrics_slot_extra which);

/* Master, before forking: the shared counters (common/obs.h's database counters move into
 * them too). 0, or -1 when the mapping failed (requests are then not counted; logged). */
int metrics_init(void);
/* Master: a child was started again after it ended. */
void metrics_child_restarted(void);
/* Child index (0 .. fcgi_children - 1) of this process, in the child; the master calls
 * metrics_child_ended when it reaped child index (a child killed mid-request is not busy). */
void metrics_child_started(long index);
void metrics_child_ended(long index);

/* Start of a request: its id becomes the log context (common/log.h) and the clock starts. */
void metrics_begin(const char *request_id);
/* The answer's status, for handlers that write their own responses (fcgi/hubfiles.c). */
void metrics_status(int status);
/* End of a request: counts it in slot with status (0: the one given to metrics_status) and
 * writes the one access line: method, route template, status, duration, key id, account id
 * ("-" when none; never the key). Clears the log context. */
void metrics_end(unsigned slot, int status, const char *key_id, const char *account_id);

/* The hot path's events (docs/hot-path.md), counted per host. */
enum metrics_hot {
	MH_ANSWER_STORED,   /* an R_CACHE read answered with a stored answer */
	MH_ANSWER_MADE,     /* an R_CACHE read that ran its handler */
	MH_KEY_MEMORY,      /* a key found in the host's records */
	MH_KEY_DATABASE,    /* a key read from api_keys */
	MH_RATE_LEASE,      /* a block of a rate window leased */
	MH_VERSION_READ,    /* an account's data version read from the table */
	MH_PEER_UNACKED,    /* a write that waited out an API host that did not acknowledge */
	MH__COUNT
};
void metrics_hot(enum metrics_hot which);

/* 1 when this request is a scrape: path /metrics, marked by nginx's metrics listener. */
int metrics_is_scrape(FCGX_Request *fr);
/* Answers the scrape (Prometheus text format 0.0.4); returns the status sent. */
int metrics_serve(FCGX_Request *fr, struct db *db, const char *request_id);

#endif
