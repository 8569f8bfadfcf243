/* apikey.h - API key format, minting, Authorization header parsing and the fixed-window
 * rate-limit arithmetic. Pure functions (no database), unit-tested. */
#ifndef APF_APIKEY_H
#define APF_APIKEY_H

#include "err.h"

#include <stdint.h>

#define APIKEY_PREFIX "apf_live_"
#define APIKEY_PREFIX_LEN 9
#define APIKEY_HEX_LEN 64
#define APIKEY_LEN (APIKEY_PREFIX_LEN + APIKEY_HEX_LEN)
#define RATE_WINDOW_SECONDS 60

/* Failed authentications per client address (conf auth_fail_limit per auth_fail_window
 * seconds): past the limit the address gets 429 until its window ends. */
#define AUTH_FAIL_LIMIT_DEFAULT 100
#define AUTH_FAIL_WINDOW_DEFAULT 60
#define AUTH_ADDR_MAX 64 /* bytes of an auth_addr() text, NUL included */

/* Mints a new key (apf_live_ + 64 lower-case hex) into key[APIKEY_LEN + 1] and its SHA-256 hex
 * into hash[65]. Returns 0 or -1. */
int apikey_mint(char key[APIKEY_LEN + 1], char hash[65]);

/* Parses an Authorization header value. On success copies the token into token[APIKEY_LEN + 1]
 * and returns E_OK. Missing header or scheme other than Bearer: E_UNAUTHORIZED. Wrong prefix,
 * length or non-hex: E_TOKEN_INVALID. Hex of either case is accepted. */
enum api_err apikey_parse_bearer(const char *header, char token[APIKEY_LEN + 1]);

/* Scope bits of a comma-separated list ("read,write"); -1 on an unknown name. */
int apikey_scopes_parse(const char *list, unsigned *bits);

struct rate_state {
	long limit;
	long remaining;     /* never below 0 */
	int64_t reset;      /* epoch seconds when the window ends */
	long retry_after;   /* seconds, >= 1, meaningful when limited */
	int limited;
};

/* Start of the fixed window containing now (epoch seconds). */
int64_t rate_window_start(int64_t now);
/* State after the hits-th request of the window starting at window_start. */
struct rate_state rate_compute(int64_t now, int64_t window_start, long hits, long limit);

/* The counter key of a client address (REMOTE_ADDR) into out[AUTH_ADDR_MAX]: an IPv4 address as
 * is, an IPv6 address as its /64 ("2001:db8:1:2::/64": one host holds the whole prefix), an
 * IPv4-mapped IPv6 address as the IPv4 one; anything else (none, a unix socket) is "-". */
void auth_addr(const char *remote, char out[AUTH_ADDR_MAX]);

#endif
