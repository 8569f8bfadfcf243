/* resplog.h - with APF_RESPONSE_LOG=<file>, every response the API tests receive is appended
 * to that file as one JSON line {method, path, status, content_type, json, body}, so that
 * tests/openapi_check.py can validate each against the OpenAPI document (docs/openapi.md). */
#ifndef APF_API_RESPLOG_H
#define APF_API_RESPLOG_H

#include "client.h"

#include <curl/curl.h>

/* Appends r (completed on handle h) to the log; nothing without APF_RESPONSE_LOG. */
void resplog_write(CURL *h, const struct resp *r);

#endif
