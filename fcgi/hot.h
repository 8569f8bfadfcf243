/* hot.h - the common path of an authenticated request without the database (docs/hot-path.md).
 *
 * Per host: the master maps one shared region before it forks (hot_init); every child reads
 * and writes it under one process-shared robust mutex, held for a few memory operations and
 * never across a database call.
 *  - Key records: a valid key's principal, read from api_keys at most HOT_KEY_TTL_MS ago. An
 *    older record is read again, so a revocation reaches every host within that time; expiry
 *    is checked on every request against the record's expires_at; an unknown key is never
 *    remembered (a new key works at once).
 *  - Rate-limit quota: each host leases blocks of its keys' windows from rate_windows (the
 *    database stays the one count across hosts, never above the limit) and spends them here.
 *  - Failed authentications this host counted per client address, so an address past its
 *    limit is refused without a lookup even when it sends a remembered key.
 *  - Account data versions, read from data_versions at most every HOT_VERSION_TTL_MS and raised
 *    at once by this host's writes and other hosts' notices (common/peer.h).
 * With conf `api_cache = 0` (or when the region could not be mapped) none of it is used. */
#ifndef APF_HOT_H
#define APF_HOT_H

#include "apikey.h"
#include "util.h"

#include <stdint.h>

#define HOT_KEY_TTL_MS 500

/* A key's principal as remembered. */
struct hot_key {
	char hash[SHA256_HEX_LEN + 1];
	char key_id[UUID_LEN + 1];
	char account_id[UUID_LEN + 1];
	char user_id[UUID_LEN + 1];
	unsigned scopes;
	long rate_limit;
	int64_t expires_ms; /* epoch ms, 0 = never */
};

/* Master, before forking. 0, or -1 when the region could not be mapped (logged). */
int hot_init(void);
/* 1 when the shared region exists and conf api_cache is not 0. */
int hot_enabled(void);

/* The record of hash read less than HOT_KEY_TTL_MS ago into *out: 1, else 0. */
int hot_key_get(const char *hash, struct hot_key *out);
/* Remembers a key just read from the database (its lease, when it was remembered, stays). */
void hot_key_put(const struct hot_key *k);

/* What a request learnt of its key's window. */
struct hot_quota {
	long hits;    /* the window's count as this host knows it (limit + 1 when refused) */
	long unspent; /* what is left of this host's lease after this request */
	int shared;   /* another host leased quota of this window too */
	long block;   /* to lease (hot_rate_take answered 0) */
	long floor;   /* blocks of this host the database had counted before this lease */
};

/* One request of key hash in the window starting at ws. Returns 1 when this host's lease had
 * quota left (taken), -1 when the window is spent everywhere, 0 when a new block must be leased
 * (hot_rate_lease), 2 when the key is not remembered (count the request in the database). */
int hot_rate_take(const char *hash, int64_t ws, long limit, struct hot_quota *q);
/* After adding q->block to the window in the database: its new total there (uncapped);
 * returns as hot_rate_take (1 or -1) for the request that leased it. */
int hot_rate_lease(const char *hash, int64_t ws, long limit, long total, struct hot_quota *q);
/* The block a host leases at a time for a key with this limit. */
long hot_rate_block(long limit);

/* Account data versions (fcgi/anscache.h): the version of account read from data_versions less
 * than HOT_VERSION_TTL_MS ago, raised since by this host's writes and other hosts' notices
 * (common/peer.h): 1 and *version, else 0 (read the table). */
#define HOT_VERSION_TTL_MS 100
int hot_version_get(const char *account, uint64_t *version);
/* After reading the table: the version read, and the monotonic time (peer_now_ms) before the
 * read was sent. */
void hot_version_checked(const char *account, uint64_t version, int64_t checked_ms);
/* A version known to be committed (this host's write, a notice); account "*": every account's
 * version is read again. */
void hot_version_seen(const char *account, uint64_t version);

/* When the last notice "*" came (peer_now_ms; 0: never): whatever this host remembered before
 * it (key records, failure counts, versions, stored answers) is read again. */
int64_t hot_forget_ms(void);

/* Failed authentications of addr this host counted in the window starting at ws. */
void hot_fail_note(const char *addr, int64_t ws, long fails);
long hot_fail_count(const char *addr, int64_t ws);

#endif
