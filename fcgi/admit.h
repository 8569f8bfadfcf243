/* admit.h - requests may not hold a FastCGI child too long (common/budget.h).
 *
 * Refusals: a hub command that would wait beyond its account's or this host's share. The refusal
 * comes at once, with Retry-After and a message saying which share is full. */
#ifndef APF_ADMIT_H
#define APF_ADMIT_H

#include "hubcmd.h"
#include "req.h"

/* hubcmd_insert for an API handler (inside its transaction; c->awaited set for a command the
 * request will wait for). 429 TOO_MANY_HUB_COMMANDS / 503 SERVER_BUSY are answered with their
 * message and Retry-After; the handler rolls back as for any error. */
enum api_err admit_command(struct req *r, struct hubcmd *c);

#endif
