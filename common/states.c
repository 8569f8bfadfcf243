/* states.c - the job and printer state machines as one table (see states.h). */
#include "states.h"

#include <stdio.h>
#include <string.h>

const char *const states_job_names[] = {
	"queued", "processing", "uploaded", "printing", "paused", "completed", "failed",
	"cancelled", NULL
};
const char *const states_printer_names[] = {
	"idle", "printing", "paused", "maintenance", "offline", "error", NULL
};

#define J(s) JOB_BIT(JOB_##s)
#define P(s) PRINTER_BIT(PRINTER_##s)

/* Job actions. Columns: action, from, to, refusal, hub command, sent from, wait for ACK,
 * printer from, printer to, stamps. */
static const struct job_rule job_rules[] = {
	/* public endpoints */
	{ "start", J(QUEUED), JOB_PROCESSING, E_INVALID_TRANSITION,
	  "print.start", J(QUEUED), 1, 0, NO_CHANGE, ST_STARTED },
	{ "pause", J(PRINTING), JOB_PAUSED, E_INVALID_TRANSITION,
	  "print.pause", J(PRINTING), 1, P(PRINTING), PRINTER_PAUSED, 0 },
	{ "resume", J(PAUSED), JOB_PRINTING, E_INVALID_TRANSITION,
	  "print.resume", J(PAUSED), 1, P(PAUSED), PRINTER_PRINTING, 0 },
	/* a queued job has nothing on a printer: it is cancelled without a command */
	{ "stop", J(QUEUED) | JOBS_RUNNING, JOB_CANCELLED, E_INVALID_TRANSITION,
	  "print.stop", JOBS_RUNNING, 1, PRINTERS_RUNNING, PRINTER_IDLE, ST_COMPLETED },
	{ "cancel", J(QUEUED) | JOBS_RUNNING, JOB_CANCELLED, E_INVALID_TRANSITION,
	  "print.stop", JOBS_RUNNING, 0, PRINTERS_RUNNING, PRINTER_IDLE, ST_COMPLETED },
	{ "complete", J(PRINTING), JOB_COMPLETED, E_INVALID_TRANSITION,
	  NULL, 0, 0, PRINTERS_RUNNING, PRINTER_IDLE,
	  ST_COMPLETED | ST_FINISHED | ST_BED_DIRTY | ST_PRINT_TIME },
	{ "retry", J(FAILED), JOB_QUEUED, E_INVALID_TRANSITION,
	  NULL, 0, 0, 0, NO_CHANGE, ST_REQUEUED },
	{ "patch", JOBS_ALL & ~JOBS_FINAL, NO_CHANGE, E_JOB_TERMINAL,
	  NULL, 0, 0, 0, NO_CHANGE, 0 },
	/* a job on its way to (or on) a printer keeps it; re-queue a failed one elsewhere */
	{ "reassign", J(QUEUED) | J(FAILED), NO_CHANGE, E_INVALID_TRANSITION,
	  NULL, 0, 0, 0, NO_CHANGE, 0 },

	/* hub events (docs/hub-link.md, "Inbound messages"), applied by the worker; a state
	 * outside `from` = no-op */
	{ "hub:transfer_complete", J(PROCESSING), JOB_UPLOADED, E_INVALID_TRANSITION,
	  NULL, 0, 0, 0, NO_CHANGE, 0 },
	{ "hub:started", J(PROCESSING) | J(UPLOADED), JOB_PRINTING, E_INVALID_TRANSITION,
	  NULL, 0, 0, P(IDLE) | P(PAUSED) | P(ERROR) | P(OFFLINE), PRINTER_PRINTING, ST_BED_DIRTY },
	{ "hub:progress", J(UPLOADED) | J(PRINTING), JOB_PRINTING, E_INVALID_TRANSITION,
	  NULL, 0, 0, 0, NO_CHANGE, 0 },
	{ "hub:paused", J(PRINTING), JOB_PAUSED, E_INVALID_TRANSITION,
	  NULL, 0, 0, P(PRINTING), PRINTER_PAUSED, 0 },
	{ "hub:resumed", J(PAUSED), JOB_PRINTING, E_INVALID_TRANSITION,
	  NULL, 0, 0, P(PAUSED), PRINTER_PRINTING, 0 },
	{ "hub:completed", J(UPLOADED) | J(PRINTING) | J(PAUSED), JOB_COMPLETED,
	  E_INVALID_TRANSITION, NULL, 0, 0, PRINTERS_RUNNING, PRINTER_IDLE,
	  ST_COMPLETED | ST_FINISHED | ST_BED_DIRTY | ST_PRINT_TIME },
	{ "hub:transfer_failed", J(PROCESSING) | J(UPLOADED), JOB_FAILED, E_INVALID_TRANSITION,
	  NULL, 0, 0, 0, NO_CHANGE, ST_COMPLETED | ST_FAILURE },
	{ "hub:failed", JOBS_RUNNING, JOB_FAILED, E_INVALID_TRANSITION,
	  NULL, 0, 0, PRINTERS_RUNNING, PRINTER_ERROR, ST_COMPLETED | ST_FAILURE },
	{ "hub:cancelled", JOBS_RUNNING, JOB_CANCELLED, E_INVALID_TRANSITION,
	  NULL, 0, 0, PRINTERS_RUNNING, PRINTER_IDLE, ST_COMPLETED },
};

/* Printer actions. Columns: action, from, to, hub command, wait for ACK, mirrored job action,
 * stamps. Printer states are the stored ones: an offline or stale hub is refused before
 * (HUB_OFFLINE), so `offline` here means the hub is up but has no link to the printer. */
static const struct printer_rule printer_rules[] = {
	{ "pause", P(PRINTING), PRINTER_PAUSED, "print.pause", 1, "pause", 0 },
	{ "resume", P(PAUSED), PRINTER_PRINTING, "print.resume", 1, "resume", 0 },
	{ "stop", PRINTERS_RUNNING, PRINTER_IDLE, "print.stop", 1, "stop", 0 },
	{ "clear_bed", PRINTERS_ALL & ~PRINTERS_RUNNING, NO_CHANGE, "bed.clear", 1, NULL,
	  ST_BED_CLEARED },
	{ "temperature", PRINTERS_ALL & ~P(OFFLINE), NO_CHANGE, "temperature.set", 1, NULL, 0 },
	{ "light", PRINTERS_ALL, NO_CHANGE, "light.set", 0, NULL, 0 },
	{ "load_filament", PRINTERS_ALL & ~(PRINTERS_RUNNING | P(OFFLINE)), NO_CHANGE,
	  "filament.load", 1, NULL, 0 },
	{ "unload_filament", PRINTERS_ALL & ~(PRINTERS_RUNNING | P(OFFLINE)), NO_CHANGE,
	  "filament.unload", 1, NULL, 0 },
};

#undef J
#undef P

static int index_of(const char *const *names, const char *name)
{
	for (int i = 0; name && names[i]; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

int states_job_index(const char *name)
{
	return index_of(states_job_names, name);
}

int states_printer_index(const char *name)
{
	return index_of(states_printer_names, name);
}

const struct job_rule *states_job_rule(const char *action)
{
	for (size_t i = 0; i < sizeof job_rules / sizeof job_rules[0]; i++)
		if (strcmp(job_rules[i].action, action) == 0)
			return &job_rules[i];
	return NULL;
}

const struct printer_rule *states_printer_rule(const char *action)
{
	for (size_t i = 0; i < sizeof printer_rules / sizeof printer_rules[0]; i++)
		if (strcmp(printer_rules[i].action, action) == 0)
			return &printer_rules[i];
	return NULL;
}

static int in_set(unsigned set, int idx)
{
	return idx >= 0 && (set & (1u << idx)) != 0;
}

int states_job_allows(const struct job_rule *rule, const char *status)
{
	return in_set(rule->from, states_job_index(status));
}

int states_printer_allows(const struct printer_rule *rule, const char *status)
{
	return in_set(rule->from, states_printer_index(status));
}

int states_job_in(unsigned set, const char *status)
{
	return in_set(set, states_job_index(status));
}

int states_printer_in(unsigned set, const char *status)
{
	return in_set(set, states_printer_index(status));
}

int states_job_sends(const struct job_rule *rule, const char *status)
{
	return rule->hub_action && in_set(rule->hub_when & rule->from, states_job_index(status));
}

static const char *list(const char *const *names, unsigned set, char *buf, size_t size)
{
	size_t o = 0;
	buf[0] = '\0';
	for (int i = 0; names[i] && o < size; i++)
		if (set & (1u << i))
			o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? "," : "", names[i]);
	return buf;
}

const char *states_job_list(unsigned set, char *buf, size_t size)
{
	return list(states_job_names, set, buf, size);
}

const char *states_printer_list(unsigned set, char *buf, size_t size)
{
	return list(states_printer_names, set, buf, size);
}
