/* dispatcher.h - auto-dispatch (docs/dispatch.md): queued, unassigned jobs started on suitable
 * idle printers through the shared start (common/jobstart.h), staggered per hub.
 *
 * DISPATCH/dispatch.run (workers/jobs.def): without an account, every account with dispatch
 * enabled; with one, that account. Every worker pushes one per conf `dispatch_interval_seconds`
 * (default 5; dedup key "dispatch:<period>", so one runs per period whatever the number of
 * workers); the API pushes one for an account when something it changes may let a job start
 * (dispatch_nudge). Any number of runs may overlap: each start is one transaction that takes the
 * account's dispatch_settings row first, then the job (still queued and unassigned) and the
 * printer, and re-checks the hub's staggering, so a job is started once and a printer gets one
 * job. */
#ifndef APF_DISPATCHER_H
#define APF_DISPATCHER_H

#include "db.h"

#include <time.h>

/* One pass over an account: *started receives the number of jobs started. */
enum api_err dispatcher_account(struct db *db, const char *account_id, int *started);
/* Pushes the periodic run of the period of now (no-op when pushed already). */
enum api_err dispatcher_push_tick(struct db *db, time_t now);

#endif
