/* routes.h - the route table and every handler's prototype, both from routes.def. */
#ifndef APF_ROUTES_H
#define APF_ROUTES_H

#include "req.h"

#define ROUTE(m, p, h, s, f) enum api_err h(struct req *r);
#include "routes.def"
#undef ROUTE

extern const struct route routes[];
extern const unsigned nroutes;

const char *method_name(enum method m);
/* Parses a method name; -1 when unknown. */
int method_parse(const char *s);

/* Matches method+path (below /v1). Returns the route and fills r's params, or NULL and sets
 * *allow (bit per method) when the path exists with other methods (405), 0 when unknown (404). */
const struct route *route_match(struct req *r, enum method m, char *path, unsigned *allow);

/* Percent-decodes s in place; with plus_is_space (query strings) + becomes a space. */
void url_decode(char *s, int plus_is_space);

#endif
