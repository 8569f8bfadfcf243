/* jobstart.h - the start of a print job (queued → processing + print.start), shared by
 * POST /v1/jobs/{id}/start (fcgi/job_actions.c, which waits for the ACK) and the dispatcher
 * (workers/dispatch.c, which does not): docs/jobs-and-control.md "Hub commands", docs/dispatch.md.
 *
 * Inside the caller's transaction, jobstart_stage:
 *   - (dispatcher only, s->assign_printer) locks the job, which must still be queued and
 *     unassigned (else E_JOB_STATE_CHANGED), and assigns it the printer;
 *   - locks the job and its printer (the job's row first: the order everywhere), checks the
 *     state and the configuration in the documented order of refusals;
 *   - applies the compare-and-set queued → processing (+ time_started, the file version sent);
 *   - mints the download token and describes the command in s->cmd with its revert
 *     (processing → queued; for a dispatched start also the printer unassigned again).
 * The caller then inserts the command (the API through its admission, fcgi/admit.c; the
 * dispatcher with hubcmd_insert) and calls jobstart_token, which records the token under the
 * command's id. jobstart_run does the three for a caller that does not wait.
 *
 * A refusal returns its code with s->message set (empty: the code's default text). */
#ifndef APF_JOBSTART_H
#define APF_JOBSTART_H

#include "db.h"
#include "hubcmd.h"
#include "util.h"

#include <jansson.h>

/* Download tokens: 32 random bytes, base64url without padding (43 characters), valid 15 min. */
#define HUBFILE_TOKEN_LEN 43
#define HUBFILE_TOKEN_TTL_MS (15 * 60 * 1000)

struct jobstart {
	/* in */
	struct db *db;
	const char *account_id;
	const char *job_id;
	const char *assign_printer; /* NULL: the job's own printer */
	const char *request_id;     /* may be NULL */
	int awaited;                /* an API request waits for the ACK (admission) */
	/* out */
	char message[300];
	char printer_id[UUID_LEN + 1];
	char hub_id[UUID_LEN + 1];
	char version_id[UUID_LEN + 1];
	char token[HUBFILE_TOKEN_LEN + 1];
	long long token_exp;
	json_t *params;             /* owned until jobstart_done */
	struct hubcmd cmd;          /* complete after E_OK; params borrowed from s->params */
};

/* A job and its printer as a job action reads them, both locked (the job's row first). */
struct job_lock {
	char status[16], printer_id[UUID_LEN + 1], file_id[UUID_LEN + 1];
	int plate;
	int found;                  /* the printer row exists (in the job's account) */
	char pstatus[16], hub_id[UUID_LEN + 1], model[121];
	int active, maintenance, has_ams, hub_live;
};

/* In the caller's transaction: E_JOB_NOT_FOUND when the account has no such job. The hub's
 * liveness is read without locking the hubs row (heartbeats are not held up). */
enum api_err jobstart_lock(struct db *db, const char *account_id, const char *job_id,
			   struct job_lock *l);

/* A new download token into out[HUBFILE_TOKEN_LEN + 1]. 0 or -1. */
int jobstart_new_token(char *out);

/* Steps described above; each resets what a previous attempt left. */
enum api_err jobstart_stage(struct jobstart *s);
enum api_err jobstart_token(struct jobstart *s);
/* stage, hubcmd_insert, token: one attempt inside the caller's transaction. */
enum api_err jobstart_run(struct jobstart *s);
/* Frees s->params. */
void jobstart_done(struct jobstart *s);

/* Removes the download token from a start command's params (it is there only while the
 * command travels). */
enum api_err jobstart_scrub_token(struct db *db, const char *command_id);

#endif
