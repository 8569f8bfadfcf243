/* webhooks.h - webhook delivery in the worker (docs/webhooks.md "Delivery").
 *
 * Driven by the worker's libev loop: a tick (conf webhook_poll_ms, default 250) and the end of
 * transfers claim due deliveries from webhook_queue in batches (a lease on the row, so several
 * workers never send one twice at once; a worker killed mid-delivery leaves the lease to expire
 * and the delivery is sent again with the same webhook-id; an endpoint's transfers bounded
 * across workers), the outcomes written in the next claim's transaction, and libcurl's multi
 * interface sends them with the loop's watchers (curl_multi_socket_action; no thread per
 * request). Its own database connection. */
#ifndef APF_WORKER_WEBHOOKS_H
#define APF_WORKER_WEBHOOKS_H

struct ev_loop;
struct whd;

/* NULL when out of memory or libcurl could not start (logged). holder names this worker in
 * logs. */
struct whd *whd_new(struct ev_loop *loop, const char *holder);
/* Stops the tick; transfers in flight are abandoned (their leases expire). */
void whd_free(struct whd *d);
/* Re-reads the configuration (SIGHUP): a new database connection. */
void whd_reload(struct whd *d);

#endif
