/* hubsim.h - shared by the apf-hubsim modules (tools/hubsim*.c); the overview, the command line
 * and the control protocol are described at the top of tools/hubsim.c.
 *
 * Modules:
 *   hubsim.c          main: options, scenario, the libev loop, clocks, shutdown
 *   hubsim_mqtt.c     one MQTT connection per hub: presence, will, heartbeat, publish, reconnect,
 *                     kill, intruder probes (docs/hub-link.md, "The simulator")
 *   hubsim_cmd.c      command envelope, action table, ACK, duplicates, expiry, ACK faults,
 *                     hub-level actions (configure, sync, discover ...) and the command log (§5, §8)
 *   hubsim_printer.c  printers: configuration, physics, print stages, status (§6), events (§7)
 *   hubsim_dl.c       file download over HTTPS with libcurl (bearer token, Range resume, SHA-256, §9)
 *   hubsim_fault.c    fault rules: parse, match, list, clear (§11.6)
 *   hubsim_ctl.c      loopback control channel: one command per line, one JSON line per answer
 *
 * Time: `hs.sim_ms` is the simulated clock that drives physics and (unless --pin-intervals) the
 * heartbeat and status intervals; it advances with real time × --time-scale, or only by the
 * control command `advance MS` with --manual-clock. --status-interval / --heartbeat-interval
 * pin one kind of periodic message to its own interval in real milliseconds, whatever the scale
 * (hs_status_now, hs_hb_now). Every timestamp on the wire (ts, received_at, *_at) and every
 * expiry check uses the hub's wall clock (real time + its skew), so the backend's clock and the
 * hub's agree whatever the scale. ACK delays are real milliseconds. */
#ifndef APF_HUBSIM_H
#define APF_HUBSIM_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mosquitto;
struct hs_dl;
struct hs_intruder;
struct hs_cmd;

#define HS_ID 37                   /* UUID + NUL */
#define HS_MAX_PAYLOAD 65536       /* §1: at most 64 KiB per message */
#define HS_SEEN_MAX 256            /* §5.4: remember the last 256 command ids ... */
#define HS_SEEN_TTL_MS 600000      /* ... for 10 min */
#define HS_HEARTBEAT_MS 30000      /* §4.2 */
#define HS_STATUS_ACTIVE_MS 5000   /* §6: printing / paused / heating */
#define HS_STATUS_IDLE_MS 30000    /* §6: idle */
#define HS_STATUS_THROTTLE_MS 1000 /* §6: immediate status at most once a second (real time) */
#define HS_PINNED_MIN_MS 100       /* --status-interval / --heartbeat-interval bounds */
#define HS_PINNED_MAX_MS 3600000
#define HS_KEEPALIVE_S 30          /* §1 */
#define HS_AMS_TRAYS 16
#define HS_TRAY_EXTERNAL 254
#define HS_OUTBOX_MAX 1000         /* events kept while disconnected */
#define HS_CODE_LEN 48
#define HS_MSG_LEN 256

#define hs_info(...)                              \
	do {                                          \
		if (!hs.quiet)                            \
			log_msg(LOG_INFO, __VA_ARGS__);       \
	} while (0)

/* ------------------------------------------------------------------------ codes (§5.3) */

#define HS_CODES(X)                                                                      \
	X(OK) X(UNKNOWN_PRINTER) X(PRINTER_OFFLINE) X(INVALID_STATE) X(PRINTER_BUSY)         \
	X(JOB_MISMATCH) X(BED_NOT_CLEAR) X(INVALID_PARAMS) X(UNSUPPORTED) X(UNSUPPORTED_FILE) \
	X(PRINTER_REJECTED) X(PRINTER_TIMEOUT) X(CAPACITY) X(EXPIRED) X(INTERNAL)

enum hs_code {
#define HS_CODE_ENUM(n) HC_##n,
	HS_CODES(HS_CODE_ENUM)
#undef HS_CODE_ENUM
	HC__COUNT
};

const char *hs_code_name(enum hs_code c);

/* ------------------------------------------------------------------------ printers */

enum hs_kind { HK_BAMBU, HK_MOONRAKER, HK_PRUSALINK, HK_OCTOPRINT, HK__COUNT };
extern const char *const hs_kind_names[]; /* NULL-terminated, wire names (§5.2) */

/* Where a printer is in its life; one row each in printer.c's stage table (reported state,
 * phase, native words, whether it is busy or can be paused). */
enum hs_stage {
	ST_IDLE,
	ST_ERROR,
	ST_DOWNLOAD, /* hub fetches the file (real time) */
	ST_UPLOAD,   /* hub hands it to the printer (simulated time) */
	ST_START,    /* printer told to start */
	ST_PREPARE,
	ST_HEAT,
	ST_PRINT,
	ST_PAUSED,
	ST__COUNT
};

enum hs_end { END_NONE, END_COMPLETED, END_CANCELLED, END_FAILED };

struct hs_tray {
	char type[24];  /* "" = empty */
	char color[8];  /* "#RRGGBB" or "" */
};

/* Faults a print.start takes from the rules (hubsim_fault.c) for this one job. */
struct hs_job_faults {
	char dl_mode[16];     /* "" | "http" | "hash" | "size" | "interrupt" */
	int dl_status;        /* http: status to pretend (default 500) */
	int64_t dl_at;        /* interrupt: cut the transfer after this many bytes (once) */
	bool upload;          /* fail the hand-over to the printer */
	bool start;           /* printer never reports printing: PRINTER_TIMEOUT after 120 s */
	double fail_pct;      /* < 0 = none */
	int fail_layer;       /* <= 0 = none */
	char code[HS_CODE_LEN];
	char message[HS_MSG_LEN];
};

struct hs_job {
	char id[HS_ID];          /* "" for a print started at the printer */
	char command_id[HS_ID];  /* the print.start */
	char file_name[72];
	char format[8];
	int plate;
	int64_t size_bytes;
	char sha256[65];
	int64_t print_ms;        /* printing phase, simulated */
	int total_layers;
	bool time_from_params, layers_from_params;
	double nozzle_c, bed_c;  /* targets while printing */
	int64_t stage_ms;        /* simulated time spent in the current stage */
	int64_t printed_ms;      /* simulated time spent printing */
	int64_t started_sim;     /* sim clock at job.started */
	int layer;               /* current layer, 0 before the first */
	int64_t dl_done, dl_total;
	int64_t last_event_real; /* last job.transfer progress event */
	struct hs_dl *dl;
	char spool_path[640];
	struct hs_job_faults faults;
};

struct hs_filop {            /* filament load / unload under way */
	bool active, load;
	int tray;
	double temp;
	double prev_target;
	int64_t ms;              /* simulated time spent feeding */
};

struct hs_printer {
	struct hs_hub *hub;
	char id[HS_ID];
	enum hs_kind kind;
	char model[64];
	char host[64];
	int port;                /* 0 = null */
	char serial[64];
	char firmware[32];
	bool has_access_code, has_api_key, has_username, has_password;
	bool require_bed_clear;
	char light_command[128], load_macro[64], unload_macro[64], clear_bed_macro[64];
	/* hardware (scenario file, else defaults per kind) */
	bool light_hw;           /* a light exists */
	bool macros;             /* Moonraker: LOAD/UNLOAD_FILAMENT macros exist */
	bool chamber_sensor;
	struct hs_tray ams[HS_AMS_TRAYS];
	int ams_count;
	struct hs_tray external;
	/* live */
	bool link_up;
	enum hs_stage stage;
	enum hs_end last_end;
	char err_code[HS_CODE_LEN];
	char err_msg[HS_MSG_LEN];
	double nozzle, nozzle_target, bed, bed_target, chamber;
	int tray_now;            /* -1 = none */
	bool light_on, bed_clear;
	struct hs_job job;
	struct hs_filop fil;
	int delayed;             /* commands held by a delay fault: the printer is busy */
	/* status scheduling */
	uint64_t seq;
	bool dirty;              /* immediate status wanted (throttled) */
	int64_t next_status;     /* due time of the periodic status (schedule clock) */
	int64_t last_status_real;
	ev_timer throttle;
	/* events held while the printer link is down (re-emitted on link up, §7) */
	json_t *held;
};

/* ------------------------------------------------------------------------ hubs */

struct hs_seen {             /* §5.4 duplicate suppression */
	char id[HS_ID];
	int64_t at;              /* real ms */
	char *ack;               /* payload sent; NULL while pending or never ACKed */
};

struct hs_scan {             /* a discovery scan under way (§8) */
	bool active;
	char command_id[HS_ID];
	char scan_id[HS_ID];
	int64_t started_at;      /* hub clock */
	int64_t end_sim;         /* sim clock when results are published */
	unsigned methods;        /* bit per discovery method */
};

struct hs_hub {
	char id[HS_ID];
	char *password;
	char name[101];
	int max_printers;
	struct mosquitto *m;
	ev_io io;
	int io_fd, io_ev;
	ev_timer retry;
	ev_timer closer;         /* clean disconnect: DISCONNECT once the offline presence is acked */
	int close_mid;
	bool closing;
	int attempts;
	bool want_up;            /* reconnect after a loss; false after disconnect / kill */
	bool connecting, connected, reconnect_now;
	char session_id[HS_ID];
	int64_t session_ts;
	uint64_t hb_seq;
	int64_t next_hb;         /* schedule clock */
	int64_t boot_real;
	/* toggles (faults) */
	bool silent;             /* no heartbeats, no status */
	int64_t skew_ms;
	bool clock_unsynced;
	bool discovery_partial;
	json_t *discovery_override; /* array of printers a scan returns, NULL = default fake LAN */
	/* printers */
	struct hs_printer **printers;
	size_t nprinters;
	json_t *hardware;        /* scenario: printer_id -> hardware description (borrowed view) */
	/* commands */
	struct hs_seen seen[HS_SEEN_MAX];
	unsigned seen_next;
	struct hs_cmd *pending;  /* held by delay / late-ACK faults */
	struct hs_scan scan;
	json_t *outbox;          /* [ [leaf, payload], ... ] QoS 1 messages made while offline */
	json_t *inflight;        /* mid -> [leaf, payload]: events not yet acked by the broker */
	struct hs_intruder *intruder;
	bool is_probe;           /* a throw-away connection of the intruder (not in hs.hubs) */
	struct hs_intruder *probe_owner;
};

/* ------------------------------------------------------------------------ faults */

enum fault_class { FC_ACK, FC_JOB, FC_TOGGLE, FC_INSTANT };

enum fault_kind {
	FK_ACK, FK_REFUSE, FK_TIMEOUT, FK_DELAY, FK_LATE_ACK, FK_DUPLICATE_ACK, FK_EXECUTE_THEN_REFUSE,
	FK_FAIL_DOWNLOAD, FK_FAIL_UPLOAD, FK_FAIL_START, FK_FAIL_AT,
	FK_STOP_HEARTBEATS, FK_SKEW_CLOCK, FK_CLOCK_UNSYNCED, FK_DISCOVERY_PARTIAL, FK_DISCOVERY_RESULT,
	FK_PRINTER_OFFLINE, FK_PRINTER_ONLINE, FK_USER_PAUSE, FK_USER_RESUME, FK_PRINTER_ERROR,
	FK_DISCONNECT, FK_KILL, FK_RECONNECT,
	FK__COUNT,
	FK_NONE = -1
};

struct fault {
	int id;
	enum fault_kind kind;
	char hub[HS_ID];         /* "" = every hub */
	char printer[HS_ID];     /* "" = every printer */
	char action[40];         /* "" = every action; "print.*" = prefix */
	char code[HS_CODE_LEN];
	char message[HS_MSG_LEN];
	int64_t ms;              /* delay / late_ack / skew */
	int status;              /* fail_download mode=http */
	double pct;              /* fail_at */
	int layer;               /* fail_at */
	int64_t at;              /* fail_download mode=interrupt: bytes */
	char mode[16];           /* fail_download: http | hash | size | interrupt */
	int count;               /* uses left; -1 = until cleared */
	json_t *printers;        /* discovery_result */
};

/* Parses "KIND key=value ..." or a JSON object {"kind": ..., ...} into f. Returns 0, or -1 with
 * a sentence in err. f->printers is a new reference the caller releases (fault_release). */
int fault_parse(const char *spec, struct fault *f, char *err, size_t errsz);
void fault_release(struct fault *f);
const char *fault_kind_name(enum fault_kind k);
/* Adds (rules), sets (toggles) or runs (instant kinds) a parsed fault; takes ownership of f's
 * references. startup: only rules and toggles are allowed. Returns a new JSON answer object
 * ({"ok":true,...} or {"ok":false,"error":...}). */
json_t *fault_apply(struct fault *f, bool startup);
/* The newest ACK rule matching (hub, printer, action) copied into out (kind FK_NONE when none);
 * a rule with a count is used up. */
void fault_match_ack(const char *hub, const char *printer, const char *action, struct fault *out);
/* Collects the job rules for a print.start on (hub, printer) into jf. */
void fault_take_job(const char *hub, const char *printer, struct hs_job_faults *jf);
/* Removes rules: "all", a rule id, or a kind (with optional hub=/printer= scope); kinds that are
 * toggles are reset too. Returns a new JSON answer. */
json_t *fault_clear(const char *what);
json_t *fault_list_json(void);
void fault_free_all(void);

/* ------------------------------------------------------------------------ process */

struct hs_sim {
	struct ev_loop *loop;
	struct hs_hub **hubs;
	size_t nhubs;
	/* clocks */
	double scale;
	bool manual, pin;
	int64_t status_ms;       /* pinned status interval, real ms (0 = §6's, schedule clock) */
	int64_t heartbeat_ms;    /* pinned heartbeat interval, real ms (0 = §4.2's, schedule clock) */
	int64_t sim_ms;
	double sim_carry;
	int64_t last_tick_real;
	/* broker */
	char mqtt_host[256];
	int mqtt_port;
	char mqtt_cafile[512];
	int mqtt_v5;
	int max_printers;
	/* downloads */
	char cacert[512];
	char spool[512];
	bool spool_owned;
	/* misc */
	uint64_t rng;
	bool quiet, verbose;
	bool stopping;
	int defer_events;        /* > 0: events wait for the ACK (hs_events_flush) */
	bool flush_wanted;
	char startup_intruder[HS_ID];
};

extern struct hs_sim hs;

int64_t hs_real_ms(void);                          /* monotonic */
int64_t hs_wall_ms(const struct hs_hub *h);        /* hub clock: epoch ms + skew */
int64_t hs_sched_ms(void);                         /* clock of the periodic messages */
int64_t hs_hb_now(void);                           /* clock of the heartbeats */
int64_t hs_hb_every(void);                         /* heartbeat interval on that clock */
int64_t hs_status_now(void);                       /* clock of the periodic statuses */
/* Next due time of a periodic message sent at now; due = when it was due (0 = sent out of turn:
 * a new period starts at now). Stays on the due grid, so the cadence does not slip by the
 * loop's tick each period; a message late by a whole interval starts a new grid. */
int64_t hs_next_due(int64_t due, int64_t now, int64_t every);
uint64_t hs_rand(void);                            /* seeded (--seed) */
double hs_rand01(void);
struct hs_hub *hs_hub_find(const char *id);
struct hs_printer *hs_printer_find(const char *id);
void hs_stop(void);                                /* graceful: offline presence, then exit */
void hs_want_flush(void);                          /* statuses are waiting to be sent */
const char *hs_jstr(const json_t *o, const char *key, const char *def); /* borrowed */

/* ------------------------------------------------------------------------ mqtt */

int hub_init(struct hs_hub *h);
void hub_free(struct hs_hub *h);
void hub_connect_now(struct hs_hub *h);
void hub_disconnect(struct hs_hub *h, const char *reason); /* clean, with offline presence */
void hub_kill(struct hs_hub *h);                           /* abrupt: the broker sends the will */
void hub_reconnect(struct hs_hub *h);
void hub_publish(struct hs_hub *h, const char *leaf, json_t *msg, int qos, bool retain);
void hub_publish_raw(struct hs_hub *h, const char *leaf, const char *payload, int qos);
json_t *hub_msg(const struct hs_hub *h, const char *type); /* {"v":1,"type":..,"hub_id":..} */
void hub_event(struct hs_hub *h, const char *event, const struct hs_printer *p,
	       const char *job_id, const char *command_id, json_t *data);
void hs_events_flush(void);
void hub_heartbeat(struct hs_hub *h);
void hub_io_sync(struct hs_hub *h);
bool hub_io_sync_all(void);                      /* true while any hub has a socket */
void hub_keepalive(struct hs_hub *h);
json_t *hub_state_json(const struct hs_hub *h);
/* Intruder probes (§11.8) from h against victim's topics; answer(arg, report) is called once
 * with a new reference when the window closes. Returns 0, or -1 with err. */
int hub_intruder(struct hs_hub *h, const char *victim, int window_ms,
		 void (*answer)(void *arg, json_t *report), void *arg, char *err, size_t errsz);
/* A probe marker seen on a cmd topic (by the intruder itself or by an in-process victim). */
bool hub_intruder_seen(struct hs_hub *receiver, const json_t *cmd);
void hub_intruder_cancel_arg(void *arg);   /* the control client waiting for it went away */

/* ------------------------------------------------------------------------ commands */

void cmd_receive(struct hs_hub *h, const void *payload, int len);
void cmd_hub_release(struct hs_hub *h);
void cmd_printer_gone(struct hs_printer *p);     /* drop held commands for p */
json_t *cmd_log_json(const char *hub, int n);
void cmd_log_free(void);
void scan_check(struct hs_hub *h);               /* publish discovery when its time has come */
int cmd_pending_count(const struct hs_hub *h);

/* The context an action handler gets (hubsim_cmd.c builds it, printer.c acts on it). */
struct hs_act_ctx {
	struct hs_hub *hub;
	struct hs_printer *printer;  /* resolved for printer actions, else NULL */
	const json_t *params;        /* borrowed, always an object */
	const char *command_id;
	const char *printer_id;      /* "" = null */
	json_t *result;              /* ACK result object, filled by the handler */
	char message[HS_MSG_LEN];    /* ACK message on failure ("" = null) */
	bool disconnect_after;       /* hub.disconnect: leave once the ACK is out */
};

typedef enum hs_code hs_action_fn(struct hs_act_ctx *c);

/* Checks obj against a jhelp field table; the problems, prefixed ("file."), go to msg.
 * Returns the number of problems (0 = valid). */
struct jfield;
int hs_check(const json_t *obj, const struct jfield *fields, const char *prefix, char *msg,
	     size_t msgsz);

/* ------------------------------------------------------------------------ printers */

struct hs_printer *printer_new(struct hs_hub *h, const json_t *cfg);
/* Validates a printer object (§5.2); 0, -1 (invalid) or -2 (a kind this hub has no adapter
 * for, e.g. the API's "other"), with a sentence in err. */
int printer_check_cfg(const json_t *cfg, char *err, size_t errsz);
void printer_apply_cfg(struct hs_printer *p, const json_t *cfg);
void printer_free(struct hs_printer *p);
bool printer_busy(const struct hs_printer *p);
const char *printer_state(const struct hs_printer *p);
void printer_touch(struct hs_printer *p);       /* immediate status wanted */
void printer_send_status(struct hs_printer *p);
json_t *printer_json(const struct hs_printer *p); /* control `status` view */
json_t *printer_discovery_json(const struct hs_printer *p);
bool printer_supports(const struct hs_printer *p, const char *action, char *why, size_t whysz);
void printer_set_link(struct hs_printer *p, bool up, const char *reason);
int printer_user_pause(struct hs_printer *p, bool resume, char *err, size_t errsz);
void printer_fail(struct hs_printer *p, const char *code, const char *message);
void printer_connected_event(struct hs_printer *p);

hs_action_fn act_print_start, act_print_pause, act_print_resume, act_print_stop, act_bed_clear,
	act_temperature_set, act_light_set, act_filament_load, act_filament_unload;

void sim_advance(int64_t ms);       /* physics, stages, scans, periodic messages */
void sim_periodic(void);            /* due heartbeats and statuses (schedule clock) */
void sim_flush(void);               /* immediate statuses that are not throttled */

/* download results (hubsim_dl.c -> printer) */
void printer_dl_progress(struct hs_printer *p, int64_t done, int64_t total);
void printer_dl_done(struct hs_printer *p, bool ok, const char *stage, const char *code,
		     const char *reason);

/* ------------------------------------------------------------------------ downloads */

int dl_global_init(void);
void dl_global_cleanup(void);
/* Starts fetching params.file for p's job into p->job.spool_path. 0, or -1 with err. */
int dl_start(struct hs_printer *p, const json_t *file, char *err, size_t errsz);
void dl_abort(struct hs_dl *d);

/* ------------------------------------------------------------------------ control */

int ctl_listen_unix(const char *path);
int ctl_listen_tcp(const char *hostport);
void ctl_close_all(void);
bool ctl_busy(void);                 /* answers still being written */

#endif
