/* autodisp.h - auto-dispatch's view of an account (docs/dispatch.md): its settings, its
 * opted-in printers with what keeps each from a start, its hubs' staggering counts, and its
 * queued jobs in dispatch order. The dispatcher (workers/dispatch.c) picks a printer for each job
 * from it; GET /v1/dispatch/queue (fcgi/autodispatch.c) tells from the same plan why each job is
 * still waiting. Plain reads: the start itself re-checks everything under its locks
 * (common/jobstart.c). */
#ifndef APF_AUTODISP_H
#define APF_AUTODISP_H

#include "db.h"
#include "util.h"

#include <stddef.h>

#define AD_DEFAULT_MAX_IN_FLIGHT 2   /* starts in flight per hub */
#define AD_DEFAULT_MIN_GAP_S 30      /* seconds between two starts on one hub */
#define AD_MAX_IN_FLIGHT_LIMIT 100
#define AD_MIN_GAP_LIMIT 3600
#define AD_REFUSED_BACKOFF_S 300     /* a printer that refused / missed a start rests this long */
#define AD_MAX_JOBS 5000             /* queued jobs one plan reads */

struct ad_settings {
	int enabled;
	long max_in_flight;
	long min_gap_s;
};

struct ad_hub {
	char id[UUID_LEN + 1];
	long in_flight;        /* jobs on its printers in processing / uploaded */
	long long since_ms;    /* since its last print.start; -1 = none within the gap */
};

struct ad_printer {
	char id[UUID_LEN + 1], model[121], ftype[65], color[65], hex[17];
	int hub;               /* index in hubs, -1 = none */
	int block;             /* AD_* rank of what keeps it from a start (AD_OK = free) */
	int taken;             /* given a job by this plan */
};

struct ad_job {
	char id[UUID_LEN + 1], printer_id[UUID_LEN + 1], model[201];
	char sku[UUID_LEN + 1], ftype[101], color[101], hex[17];
};

/* Why a job waits, best first: a job waits for the least blocked printer that could take it. */
enum ad_reason {
	AD_OK, AD_STAGGERING, AD_REFUSED, AD_BED_NOT_CLEAR, AD_ALL_BUSY, AD_MAINTENANCE,
	AD_HUB_OFFLINE, AD_FILAMENT_MISMATCH, AD_NO_PRINTER_OF_MODEL, AD_PRINTER_ASSIGNED,
	AD_DISPATCH_DISABLED, AD__COUNT
};
/* "ready", "staggering", "printer_refused", "bed_not_clear", "all_busy", "maintenance",
 * "hub_offline", "filament_mismatch", "no_printer_of_model", "printer_assigned",
 * "dispatch_disabled". */
extern const char *const ad_reason_names[];

struct ad_plan {
	struct ad_settings set;
	struct ad_hub *hubs;
	size_t nhubs;
	struct ad_printer *printers;
	size_t nprinters;
	struct ad_job *jobs;
	size_t njobs;
};

/* The account's settings (defaults without a row); lock: FOR UPDATE (the row must exist). */
enum api_err ad_settings_get(struct db *db, const char *account_id, int lock,
			     struct ad_settings *s);
/* Changes the account's settings (row created with the defaults first); a DNULL argument
 * leaves that setting as it is. */
enum api_err ad_settings_set(struct db *db, const char *account_id, struct db_arg enabled,
			     struct db_arg max_in_flight, struct db_arg min_gap_s);
/* Something that may let a job start happened (a job queued, a bed cleared, a setting
 * changed): a dispatch run for the account soon, when its dispatch is on (at most one per
 * account and second: dedup key "dispatch:<account>:<unix second>"). In the caller's
 * transaction when it has one; the caller wakes the workers after its commit. */
enum api_err ad_nudge(struct db *db, const char *account_id);
/* Reads the plan of an account. */
enum api_err ad_load(struct db *db, const char *account_id, struct ad_plan *p);
void ad_free(struct ad_plan *p);
/* The printer (index) job i goes to now, or -1 with *why (never AD_OK then). */
int ad_pick(const struct ad_plan *p, size_t i, enum ad_reason *why);
/* Printer k got a job: taken, its hub one start more, just now. */
void ad_took(struct ad_plan *p, int k);
/* A hub's staggering: 1 when it may take one more start now. */
int ad_hub_open(const struct ad_settings *s, const struct ad_hub *h);
/* In a start's transaction: the hub's counts, read afresh. */
enum api_err ad_hub_read(struct db *db, const char *account_id, long gap_s, struct ad_hub *h);

#endif
