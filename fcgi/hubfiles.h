/* hubfiles.h - file delivery to hubs (docs/jobs-and-control.md): GET
 * /hub/v1/files/{file_version_id}
 * with `Authorization: Bearer <download token>` and `X-Hub-Id`, outside the public /v1 API.
 * The tokens are minted by POST /v1/jobs/{id}/start (fcgi/jobs.c). */
#ifndef APF_HUBFILES_H
#define APF_HUBFILES_H

#include "db.h"

#include <fcgiapp.h>
#include <stddef.h>

/* Download tokens: 32 random bytes, base64url without padding (43 characters), valid 15 min. */
#define HUBFILE_TOKEN_LEN 43
#define HUBFILE_TOKEN_TTL_MS (15 * 60 * 1000)

/* Serves one request below /hub/v1/ completely (status line, headers, body): the dispatcher
 * hands such requests over before its /v1 routing. */
void hubfiles_serve(FCGX_Request *fr, struct db *db);

/* A new download token into out[HUBFILE_TOKEN_LEN + 1]. 0 or -1. */
int hubfiles_new_token(char *out);

#endif
