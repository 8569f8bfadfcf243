/* peer.h - data-version notices between API hosts (docs/hot-path.md).
 *
 * A write request tells the other API hosts (conf api_peers: "ADDR:PORT, ...") its account's new
 * data version by one UDP datagram each, signed with HMAC-SHA-256 under conf peer_secret, and
 * waits for their signed acknowledgements up to a deadline. Each host's notice listener
 * (conf peer_listen, a process of apf-fcgi) applies a notice to its host's memory and answers.
 * Account "*" means every account: the next read of any account reads its version again.
 *
 *   notice: "V1 <account|*> <version> <nonce> <hmac hex of the text before it>"
 *   ack:    "A1 <nonce> <hmac hex of "A1 <nonce>">" */
#ifndef APF_PEER_H
#define APF_PEER_H

#include <stdint.h>

#define PEER_MAX 16

/* Sends the notice to every "ADDR:PORT" of list (comma or space separated) and waits for their
 * acknowledgements until deadline_ms (CLOCK_MONOTONIC, util_mono_ms). Returns how many did not
 * acknowledge in time (0: all did); every peer counts as not acknowledging without a secret. */
int peer_notify(const char *list, const char *account, uint64_t version, int64_t deadline_ms);

/* The listener: binds conf peer_listen (-1 when unset, bad or taken: logged) ... */
int peer_listen_open(void);
/* ... and answers one datagram: a valid notice is passed to apply and acknowledged; anything
 * else is dropped. Returns 0, or -1 when the socket failed (EINTR included). */
int peer_serve_one(int fd, void (*apply)(const char *account, uint64_t version));

/* The monotonic clock in milliseconds. */
int64_t peer_now_ms(void);

#endif
