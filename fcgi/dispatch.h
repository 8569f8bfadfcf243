/* dispatch.h - serves one FastCGI request: route, auth, rate limit, scope, body, handler,
 * envelope. Everything generic happens here, driven by the route row. */
#ifndef APF_DISPATCH_H
#define APF_DISPATCH_H

#include "db.h"

#include <stddef.h>

#include <fcgiapp.h>

void dispatch(FCGX_Request *fr, struct db *db);
/* Reads up to max bytes of the request body into a new buffer (NUL-terminated); *len set.
 * Returns NULL on read error. Exposed for handlers that read raw bodies. */
char *dispatch_read_body(FCGX_Request *fr, size_t max, size_t *len);
/* Maximum nesting of brackets in a JSON text, ignoring strings. */
int json_text_depth(const char *s, size_t n);

#endif
