/* rig.h - the hub rig of the API tests that drive hubs (t_control.c, t_jobs.c, t_faults.c): an
 * account with keys of every scope, a hub with one printer and one print file, the hub process,
 * and the small helpers those tests share (paths, POST, waits, stored statuses).
 *
 * The hub is always the real simulator ($APF_BIN/apf-hubsim, built by `make all`; one process
 * per rig, talking MQTT to the stack's broker and worker): commands travel the whole way, and
 * what the printer then does (progress, filament, a print failing at 40 %) comes from the
 * simulator's telemetry and events. There is no stand-in: without the simulator every test that
 * starts a hub fails, saying so. */
#ifndef APF_API_RIG_H
#define APF_API_RIG_H

#include "apitest.h"

#include <stddef.h>
#include <sys/types.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"
#define DEADLINE_MS 60000L /* generous: CI has two slow cores */

/* ------------------------------------------------------------------------ hub process */

struct hubx {
	char hub[FX_ID];
	char password[96];
	char dir[80];       /* private folder: control socket, log */
	char sock[100];
	pid_t pid;          /* the simulator, 0 when none */
};

/* 0 when the simulator is built (its --help documents the control socket); else 1 after
 * recording a CUnit failure that says so: the caller's test stops, failed. */
int hx_skip_without_sim(void);
/* Starts the simulator for h's hub and waits until the API shows the hub online. 0, or -1
 * (failure recorded; also when the simulator is not built). */
int hx_start(struct hubx *h, const char *key);
/* Stops the hub process and removes its folder. */
void hx_stop(struct hubx *h);
/* A fault or instant command in the simulator's syntax ("refuse action=print.pause
 * code=PRINTER_REJECTED", "timeout action=print.*", "kill", "stop_heartbeats"); hx_clear: every
 * fault rule off. 0, or -1 (failure recorded). */
int hx_fault(struct hubx *h, const char *spec);
int hx_clear(struct hubx *h);
/* The simulator's view of one printer (its `status` entry: state, stage, busy, filament,
 * filament_op, ...; caller decrefs), or NULL (failure recorded). */
json_t *hx_printer(struct hubx *h, const char *printer);
/* Forks a process that runs the fault spec after ms (for "kill the hub mid-command"). */
pid_t hx_fault_later(struct hubx *h, const char *spec, long ms);
void hx_reap(pid_t pid);

/* -------------------------------------------------------------------------------- rig */

/* An account (key read,write,control + write-only + read-only + control-only keys), a hub,
 * one printer on it, one print file, and optionally the hub process. */
struct rig {
	struct tenant t;
	char key_write[FX_KEY], key_read[FX_KEY], key_control[FX_KEY];
	char printer[FX_ID];
	char file[FX_ID], version[FX_ID];
	char store_key[256];
	struct hubx hx;
};

/* A new empty rig, registered as alive: rig_sweep (the suites' teardown) stops the hub
 * processes of rigs a failed fixture step left behind and frees them. */
struct rig *rig_new(void);
void rig_free(struct rig *g);
void rig_sweep(void);
/* Account, keys, hub (with its MQTT account), one printer of `model`, one print file sliced for
 * BL-P001 (X1 Carbon). with_hub: start the hub process and wait until it is online. */
int rig_make(struct rig *g, const char *model, int with_hub);
/* A print file of the account: object in the file store, row and current version.
 * print_s: the print time the file states; model_id: printer_model_id (NULL = none). */
int rig_add_file(struct rig *g, const char *name, const char *model_id, long print_s,
		 char id[FX_ID], char version[FX_ID], char key[256]);
/* Enqueues a job of file (rig_job: the rig's file) on printer (NULL = unassigned) through the
 * API; extra_json: more members ("\"number_of_units\": 2") or NULL. */
int rig_job_of(struct rig *g, const char *file, const char *printer, const char *extra_json,
	       char job[FX_ID]);
int rig_job(struct rig *g, const char *printer, const char *extra_json, char job[FX_ID]);
/* A job printing on the rig's printer (the rig's hub must run): enqueued, started through the
 * API, downloaded by the simulator and printing with progress (so it can really be paused). */
int rig_printing(struct rig *g, char job[FX_ID]);

const char *rig_key(const struct rig *g);
const char *rig_key_write(const struct rig *g);
const char *rig_key_read(const struct rig *g);
const char *rig_key_control(const struct rig *g);
const char *rig_account(const struct rig *g);
const char *rig_hub(const struct rig *g);
const char *rig_printer(const struct rig *g);
const char *rig_file(const struct rig *g);
const char *rig_version(const struct rig *g);
const char *rig_store_key(const struct rig *g);
struct hubx *rig_hubx(struct rig *g);

/* ---------------------------------------------------------------------------- helpers */

void sleep_ms(long ms);
/* "/jobs/{id}{suffix}", "/printers/{id}{suffix}", "/hubs/{id}{suffix}" (suffix may be NULL),
 * each in one of 8 rotating buffers of its own. */
const char *jpath(const char *id, const char *suffix);
const char *ppath(const char *id, const char *suffix);
const char *hpath(const char *id, const char *suffix);
long post(const char *path, const char *key, const char *body, struct resp *r);
/* Waits until GET path's `field` equals want (string compare; numbers as decimal). 0, or -1
 * (failure noted). */
int rig_wait_field(const char *key, const char *path, const char *field, const char *want,
		   long ms);

/* The printer loses its hub (hub_id NULL); the hub's last heartbeat moves 3 minutes back
 * (stale, past the 2-minute limit). 0 or -1. */
int rig_printer_no_hub(const char *printer);
int rig_hub_stale(const char *hub);

/* Stored statuses: "SELECT status" of a printer / job by id, a hub command's params. */
extern const struct db_query RIG_Q_PRINTER_STATUS, RIG_Q_JOB_STATUS, RIG_Q_CMD_PARAMS;

#define PRINTER_IS(id, want) DB_IS(&RIG_Q_PRINTER_STATUS, id, want)
#define JOB_IS(id, want) DB_IS(&RIG_Q_JOB_STATUS, id, want)
/* Waits (the worker reverts after the API answered) until a stored status equals want. */
#define PRINTER_BECOMES(id, want) DB_BECOMES(&RIG_Q_PRINTER_STATUS, id, want, 30000)
#define JOB_BECOMES(id, want) DB_BECOMES(&RIG_Q_JOB_STATUS, id, want, 30000)

#endif
