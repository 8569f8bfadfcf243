/* sqlfrag.h - SQL fragments of rules that several programs apply (the API, the worker,
 * apf-admin), so each rule is written once. They are string literals, concatenated into query
 * texts at compile time or used as fixed fragments of assembled ones (common/sqlb.h). */
#ifndef APF_SQLFRAG_H
#define APF_SQLFRAG_H

/* A hub is stale when it has not sent a heartbeat for over 2 minutes (or never did). */
#define HUB_STALE_SQL(h) \
	"(" h ".last_seen_at IS NULL OR " h ".last_seen_at < NOW(3) - INTERVAL 120 SECOND)"

/* Hub usable for commands: presence says online and the heartbeat is fresh. */
#define HUB_LIVE_SQL(h) "(" h ".is_online = 1 AND NOT " HUB_STALE_SQL(h) ")"

/* A printer's public status: a printer whose hub is offline or stale shows `offline`
 * (maintenance, set by a person, stays). Needs printers `p` LEFT JOINed with hubs `h`. */
#define PRINTER_STATUS_SQL \
	"(CASE WHEN p.hub_id IS NOT NULL AND p.status <> 'maintenance'" \
	" AND NOT " HUB_LIVE_SQL("h") " THEN 'offline' ELSE p.status END)"

#endif
