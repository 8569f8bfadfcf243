/* dispatch.h - serves one FastCGI request: route, auth, rate limit, scope, body, handler,
 * envelope. Everything generic happens here, driven by the route row. */
#ifndef APF_DISPATCH_H
#define APF_DISPATCH_H

#include "db.h"

#include <stddef.h>

#include <fcgiapp.h>

struct body_reader;

void dispatch(FCGX_Request *fr, struct db *db);
/* Reads up to max + 1 bytes of the request body through b (fcgi/admit.h: never past the body
 * deadline; b->timed_out tells) into a new buffer (NUL-terminated); *len set. Returns NULL when
 * out of memory. Exposed for handlers that read raw bodies. */
char *dispatch_read_body(struct body_reader *b, size_t max, size_t *len);
/* The request's id into out: the client's X-Request-Id when sane (1-64 of A-Z a-z 0-9 - _ .),
 * else a new UUID. Both the API and the hubs' routes log with it. */
void dispatch_request_id(FCGX_Request *fr, char out[65]);
/* Maximum nesting of brackets in a JSON text, ignoring strings. */
int json_text_depth(const char *s, size_t n);

#endif
