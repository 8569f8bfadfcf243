/* openapi.h - the API's OpenAPI 3.1 description, generated from the route table
 * (fcgi/routes.def), the resource records and their field files (fcgi/<resource>.def), the handlers'
 * body tables and common/err.def; a small table in fcgi/openapi.c describes what the generic
 * pieces cannot know (the answers of handwritten handlers). Served at GET /v1/openapi.json
 * without a key and written by `apf-gendocs openapi`. docs/openapi.md. */
#ifndef APF_OPENAPI_H
#define APF_OPENAPI_H

#include "jhelp.h"

#include <jansson.h>

/* The whole document (new reference), or NULL when out of memory. */
json_t *openapi_build(void);

/* Publishes a handler's private body table (a static struct jfield[]) to the description:
 * OPENAPI_BODY(printers_maintenance, F_PRINTER_MAINTENANCE); next to the table. */
#define OPENAPI_BODY(handler, table) \
	const struct jfield *const openapi_body_##handler = table

#endif
