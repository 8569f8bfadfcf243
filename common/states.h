/* states.h - the ONE table of the job and printer state machines
 * (docs/jobs-and-control.md "One state table", docs/hub-link.md).
 *
 * Every action that moves a print job or a printer has one row here: the states it accepts, the
 * state it leads to, the refusal when the current state does not fit, the hub command it sends
 * (and for which states), whether the API waits for the ACK, the effect on the printer and the
 * timestamps it stamps. Handlers (fcgi/jobs.c, fcgi/printer_cmds.c) and the worker's event
 * handlers look a row up and apply it; none of them spells a transition out again.
 *
 * State sets are bit masks over the enums below (JOB_BIT / PRINTER_BIT). SQL takes a set as a
 * comma list (states_job_list / states_printer_list) for FIND_IN_SET(status, ?), so the
 * queries stay static texts. */
#ifndef APF_STATES_H
#define APF_STATES_H

#include "err.h"

#include <stddef.h>

enum job_status {
	JOB_QUEUED, JOB_PROCESSING, JOB_UPLOADED, JOB_PRINTING, JOB_PAUSED, JOB_COMPLETED,
	JOB_FAILED, JOB_CANCELLED, JOB__COUNT
};
enum printer_status {
	PRINTER_IDLE, PRINTER_PRINTING, PRINTER_PAUSED, PRINTER_MAINTENANCE, PRINTER_OFFLINE,
	PRINTER_ERROR, PRINTER__COUNT
};

#define JOB_BIT(s) (1u << (s))
#define PRINTER_BIT(s) (1u << (s))
#define NO_CHANGE (-1)

/* Sets used by several rows. */
#define JOBS_RUNNING (JOB_BIT(JOB_PROCESSING) | JOB_BIT(JOB_UPLOADED) | JOB_BIT(JOB_PRINTING) | \
		      JOB_BIT(JOB_PAUSED))                 /* the job occupies its printer */
#define JOBS_ON_PRINTER (JOB_BIT(JOB_PRINTING) | JOB_BIT(JOB_PAUSED)) /* printer is executing it */
#define JOBS_TERMINAL (JOB_BIT(JOB_COMPLETED) | JOB_BIT(JOB_FAILED) | JOB_BIT(JOB_CANCELLED))
#define JOBS_FINAL (JOB_BIT(JOB_COMPLETED) | JOB_BIT(JOB_CANCELLED))  /* not even PATCH */
#define JOBS_ALL ((1u << JOB__COUNT) - 1)
#define PRINTERS_RUNNING (PRINTER_BIT(PRINTER_PRINTING) | PRINTER_BIT(PRINTER_PAUSED))
#define PRINTERS_ALL ((1u << PRINTER__COUNT) - 1)

/* Stamps a job rule applies with its transition. */
#define ST_STARTED     0x01u /* time_started = now */
#define ST_COMPLETED   0x02u /* time_completed = now */
#define ST_FINISHED    0x04u /* progress 100, actual_print_time_minutes (given or from time_started) */
#define ST_REQUEUED    0x08u /* retry: progress 0; failure_reason, time_started, time_completed,
			      * actual time, printer-side job id cleared; time_submitted = now */
#define ST_FAILURE     0x10u /* failure_reason set (hub: job.failed) */
#define ST_BED_DIRTY   0x20u /* printer cleared = 0 (a print ended or started on the bed) */
#define ST_BED_CLEARED 0x40u /* printer cleared = 1 (printer rule clear_bed) */
#define ST_PRINT_TIME  0x80u /* printer total_print_time += the job's actual minutes */

/* A job action. Public actions are named like their endpoint ("start", "pause", ...); "patch"
 * is PATCH /jobs/{id} (metadata only), "reassign" a PATCH that changes the printer; "hub:*" rows
 * are the worker's, driven by hub events (§7). The printer effect applies only while the job
 * occupies its printer (state in JOBS_RUNNING before the action). */
struct job_rule {
	const char *action;
	unsigned from;            /* job states accepted */
	int to;                   /* job state after; NO_CHANGE = unchanged */
	enum api_err refusal;     /* when the job's state is not in `from` */
	const char *hub_action;   /* command sent (docs/hub-link.md), NULL = none */
	unsigned hub_when;        /* job states (within `from`) for which that command is sent */
	int hub_wait;             /* 1: wait for the ACK, revert on failure; 0: fire-and-forget */
	unsigned printer_from;    /* printer states the printer effect applies to (others untouched) */
	int printer_to;           /* printer state after; NO_CHANGE = unchanged */
	unsigned stamps;          /* ST_* */
};

/* A printer action (POST /printers/{id}/...). */
struct printer_rule {
	const char *action;       /* "pause", "resume", "stop", "clear_bed" (control), "temperature",
				   * "light", "load_filament", "unload_filament" */
	unsigned from;            /* printer states accepted (refusal: INVALID_STATE) */
	int to;                   /* printer state after; NO_CHANGE = unchanged */
	const char *hub_action;   /* command sent */
	int hub_wait;             /* 1: wait for the ACK; 0: fire-and-forget */
	const char *job_action;   /* job rule mirrored onto the printer's job (one in JOBS_ON_PRINTER
				   * and in that rule's `from`), NULL = none */
	unsigned stamps;          /* ST_BED_CLEARED */
};

/* NULL-terminated names in enum order (for req_query_enum and JSON keys). */
extern const char *const states_job_names[];
extern const char *const states_printer_names[];

/* Enum value of a status name, or -1. */
int states_job_index(const char *name);
int states_printer_index(const char *name);

/* The row of an action, or NULL. */
const struct job_rule *states_job_rule(const char *action);
const struct printer_rule *states_printer_rule(const char *action);

/* 1 when a job in state `status` (name) may take the rule's action. */
int states_job_allows(const struct job_rule *rule, const char *status);
/* 1 when a printer in state `status` (name) may take the rule's action. */
int states_printer_allows(const struct printer_rule *rule, const char *status);
/* 1 when status (name) is in the set. */
int states_job_in(unsigned set, const char *status);
int states_printer_in(unsigned set, const char *status);
/* 1 when the job rule sends its hub command from state `status`. */
int states_job_sends(const struct job_rule *rule, const char *status);

/* "printing,paused": the names of a set, for FIND_IN_SET(status, ?). Returns buf. */
const char *states_job_list(unsigned set, char *buf, size_t size);
const char *states_printer_list(unsigned set, char *buf, size_t size);

#endif
