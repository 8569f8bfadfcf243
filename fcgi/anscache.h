/* anscache.h - rendered answers of cacheable reads, per FastCGI child (docs/hot-path.md).
 *
 * An answer is stored under its account, its route and its exact request URI, with the
 * account's data version read before the answer was made (data_versions, bumped by every
 * write request before it answers) and the time it was made. It is given again only for the
 * same account, route and URI, the same version, and within ANSCACHE_TTL_MS: a write through
 * the API is seen by the next read on any host; a change the API did not make (the worker's,
 * apf-admin's) within that time. Bounded in entries and bytes (conf api_cache_bytes); the
 * oldest answer goes first. */
#ifndef APF_ANSCACHE_H
#define APF_ANSCACHE_H

#include <stddef.h>
#include <stdint.h>

#define ANSCACHE_TTL_MS 500

/* The stored answer body (valid until the next anscache call) or NULL. */
const char *anscache_get(const char *account_id, unsigned route, const char *uri,
			 uint64_t version, size_t *len);
/* Stores a copy of body (a 200 answer), made from data read after made_ms (peer_now_ms, read
 * before the data version). */
void anscache_put(const char *account_id, unsigned route, const char *uri, uint64_t version,
		  int64_t made_ms, const char *body, size_t len);
/* Drops every answer (tests, reload). */
void anscache_clear(void);

#endif
