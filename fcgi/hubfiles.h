/* hubfiles.h - file delivery to hubs (docs/jobs-and-control.md): GET
 * /hub/v1/files/{file_version_id}
 * with `Authorization: Bearer <download token>` and `X-Hub-Id`, outside the public /v1 API.
 * The tokens are minted by POST /v1/jobs/{id}/start (fcgi/jobs.c). */
#ifndef APF_HUBFILES_H
#define APF_HUBFILES_H

#include "db.h"

#include <fcgiapp.h>
#include <stddef.h>

#include "jobstart.h" /* HUBFILE_TOKEN_LEN; tokens minted by jobstart_new_token */

/* Serves one request below /hub/v1/ completely (status line, headers, body): the dispatcher
 * hands such requests over before its /v1 routing. */
void hubfiles_serve(FCGX_Request *fr, struct db *db);

#endif
