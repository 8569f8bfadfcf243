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

#endif
