/* hubsim_printer.c - simulated printers (docs/hub-link.md, "Inbound messages", "The simulator").
 *
 * Configuration comes only from printer.configure / printers.sync (secrets are kept as "present"
 * flags, never their values); hardware (AMS trays, light, chamber sensor, firmware) from the
 * scenario file by printer_id, else defaults per kind.
 *
 * Physics is deterministic: temperatures move linearly towards their targets (nozzle +3 / -1 °C/s,
 * bed +1 / -0.5 °C/s, ambient 22 °C, chamber towards 30 °C while printing); a print goes
 * download (real time) -> upload -> start -> prepare (10 s) -> heat (until both heaters are within
 * 1 °C of the job's targets) -> print (progress, layer, remaining and elapsed linear over
 * expected.print_time_s) -> job.completed. Pause holds progress and lets the nozzle cool towards
 * 150 °C; resume reheats first. Every stage is one row of the stage table below. */
#include "hubsim.h"

#include "jhelp.h"
#include "log.h"
#include "meta.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define AMBIENT_C 22.0
#define CHAMBER_PRINTING_C 30.0
#define HOLD_NOZZLE_C 150.0
#define PREPARE_MS 10000
#define START_MS 2000
#define START_TIMEOUT_MS 120000 /* §9.5 */
#define FEED_MS 10000           /* filament load / unload once hot */
#define DEFAULT_PRINT_S 600     /* §11.4 */
#define DEFAULT_LAYERS 100

const char *const hs_kind_names[] = { "bambu", "moonraker", "prusalink", "octoprint", NULL };

static const struct kind_info {
	const char *firmware;
	const char *method;   /* discovery method (§8) */
	int port;
	bool light, ams, chamber, macros;
	const char *formats;  /* printable file formats, space-separated */
} kinds[HK__COUNT] = {
	[HK_BAMBU] = { "01.07.00.00", "bambu_ssdp", 8883, true, true, true, false, " 3mf gcode " },
	[HK_MOONRAKER] = { "v0.9.3", "mdns", 7125, false, false, false, true, " 3mf gcode " },
	[HK_PRUSALINK] = { "6.1.3", "http_probe", 80, false, false, false, false, " 3mf gcode bgcode " },
	[HK_OCTOPRINT] = { "1.10.2", "mdns", 80, false, false, false, false, " gcode " },
};

/* §10.5: what each kind can do; CAP_LIGHT / CAP_MACRO depend on the printer's options. */
enum cap { CAP_YES, CAP_NO, CAP_LIGHT, CAP_MACRO };
static const struct cap_row {
	const char *action;
	enum cap cap[HK__COUNT];
} caps[] = {
	{ "temperature.set", { CAP_YES, CAP_YES, CAP_NO, CAP_YES } },
	{ "light.set", { CAP_LIGHT, CAP_LIGHT, CAP_NO, CAP_LIGHT } },
	{ "filament.load", { CAP_YES, CAP_MACRO, CAP_NO, CAP_MACRO } },
	{ "filament.unload", { CAP_YES, CAP_MACRO, CAP_NO, CAP_MACRO } },
};

/* One row per stage: what the status reports and what the stage allows. */
static const struct stage_info {
	const char *name;
	const char *state;      /* §6 state */
	const char *phase;      /* §6 phase */
	bool job;               /* a job is attached */
	bool busy;              /* other commands get PRINTER_BUSY (stop pre-empts) */
	bool pausable;
	bool active;            /* 5 s status rate */
	const char *native[HK__COUNT];
} stages[ST__COUNT] = {
	[ST_IDLE] = { "idle", "idle", NULL, false, false, false, false,
		      { "IDLE", "standby", "IDLE", "Operational" } },
	[ST_ERROR] = { "error", "error", NULL, false, false, false, false,
		       { "FAILED", "error", "ERROR", "Error" } },
	[ST_DOWNLOAD] = { "download", "printing", "downloading", true, true, false, true,
			  { "IDLE", "standby", "IDLE", "Operational" } },
	[ST_UPLOAD] = { "upload", "printing", "uploading", true, true, false, true,
			{ "IDLE", "standby", "BUSY", "Operational" } },
	[ST_START] = { "start", "printing", "preparing", true, true, false, true,
		       { "PREPARE", "printing", "BUSY", "Printing" } },
	[ST_PREPARE] = { "prepare", "printing", "preparing", true, false, true, true,
			 { "PREPARE", "printing", "BUSY", "Printing" } },
	[ST_HEAT] = { "heat", "printing", "heating", true, false, true, true,
		      { "RUNNING", "printing", "PRINTING", "Printing" } },
	[ST_PRINT] = { "print", "printing", "printing", true, false, true, true,
		       { "RUNNING", "printing", "PRINTING", "Printing" } },
	[ST_PAUSED] = { "paused", "paused", NULL, true, false, false, true,
			{ "PAUSE", "paused", "PAUSED", "Paused" } },
};

/* Native word of an idle printer after a job ended (Bambu keeps FINISH until the next print). */
static const char *const end_native[][HK__COUNT] = {
	[END_COMPLETED] = { "FINISH", "complete", "FINISHED", "Operational" },
	[END_CANCELLED] = { "IDLE", "cancelled", "STOPPED", "Operational" },
};

/* Job temperatures by loaded material. */
static const struct material {
	const char *type;
	double nozzle, bed;
} materials[] = {
	{ "PLA", 220, 60 }, { "PETG", 245, 80 }, { "ABS", 260, 100 }, { "ASA", 260, 100 },
	{ "TPU", 230, 45 }, { "PA", 280, 100 },  { "PC", 270, 110 },
};

static const struct hs_tray default_ams[4] = {
	{ "PLA", "#00AE42" }, { "PLA", "#FFFFFF" }, { "PETG", "#161616" }, { "ABS", "#FF6A13" },
};

/* ------------------------------------------------------------------------------- configuration */

static const struct jfield F_PRINTER[] = {
	{ "printer_id", JF_STRING, JF_REQUIRED, 36, 36, { NULL } },
	{ "kind", JF_STRING, JF_REQUIRED, 1, 32, { NULL } },
	{ "model", JF_STRING, JF_REQUIRED | JF_NULLABLE, 0, 63, { NULL } },
	{ "host", JF_STRING, JF_REQUIRED | JF_NULLABLE, 0, 63, { NULL } },
	{ "port", JF_INT, JF_REQUIRED | JF_NULLABLE, 1, 65535, { NULL } },
	{ "serial_number", JF_STRING, JF_REQUIRED | JF_NULLABLE, 0, 63, { NULL } },
	{ "access_code", JF_STRING, JF_REQUIRED | JF_NULLABLE, 0, 256, { NULL } },
	{ "api_key", JF_STRING, JF_REQUIRED | JF_NULLABLE, 0, 256, { NULL } },
	{ "username", JF_STRING, JF_REQUIRED | JF_NULLABLE, 0, 256, { NULL } },
	{ "password", JF_STRING, JF_REQUIRED | JF_NULLABLE, 0, 256, { NULL } },
	{ "options", JF_OBJECT, JF_REQUIRED | JF_NULLABLE, 0, 0, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};
static const struct jfield F_OPTIONS[] = {
	{ "require_bed_clear", JF_BOOL, JF_NULLABLE, 0, 0, { NULL } },
	{ "light_command", JF_STRING, JF_NULLABLE, 0, 127, { NULL } },
	{ "load_macro", JF_STRING, JF_NULLABLE, 0, 63, { NULL } },
	{ "unload_macro", JF_STRING, JF_NULLABLE, 0, 63, { NULL } },
	{ "clear_bed_macro", JF_STRING, JF_NULLABLE, 0, 63, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};

int printer_check_cfg(const json_t *cfg, char *err, size_t errsz)
{
	err[0] = '\0';
	if (!json_is_object(cfg)) {
		snprintf(err, errsz, "printer must be an object");
		return -1;
	}
	if (hs_check(cfg, F_PRINTER, "printer.", err, errsz))
		return -1;
	const json_t *opt = json_object_get(cfg, "options");
	if (json_is_object(opt) && hs_check(opt, F_OPTIONS, "printer.options.", err, errsz))
		return -1;
	if (!util_is_uuid(hs_jstr(cfg, "printer_id", ""))) {
		snprintf(err, errsz, "printer.printer_id must be a UUID");
		return -1;
	}
	if (jhelp_enum_index(hs_kind_names, hs_jstr(cfg, "kind", "")) < 0) {
		snprintf(err, errsz, "no adapter for printer kind \"%s\" (bambu, moonraker, prusalink, "
			 "octoprint)", hs_jstr(cfg, "kind", ""));
		return -2;
	}
	return 0;
}

static void copy_str(char *dst, size_t n, const json_t *obj, const char *key)
{
	snprintf(dst, n, "%s", hs_jstr(obj, key, ""));
}

static void tray_from(struct hs_tray *t, const json_t *o)
{
	copy_str(t->type, sizeof t->type, o, "type");
	copy_str(t->color, sizeof t->color, o, "color");
}

static int hw_bool(const json_t *hw, const char *key, bool def)
{
	const json_t *v = json_object_get(hw, key);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

/* Hardware: defaults per kind, then the scenario's description of this printer_id. */
static void apply_hardware(struct hs_printer *p)
{
	const struct kind_info *k = &kinds[p->kind];
	const json_t *hw = json_object_get(p->hub->hardware, p->id);
	p->light_hw = hw_bool(hw, "light", k->light || p->light_command[0]);
	p->chamber_sensor = hw_bool(hw, "chamber", k->chamber);
	p->macros = hw_bool(hw, "macros", k->macros);
	snprintf(p->firmware, sizeof p->firmware, "%s", hs_jstr(hw, "firmware_version", k->firmware));
	const json_t *ams = json_object_get(hw, "ams");
	memset(p->ams, 0, sizeof p->ams);
	if (json_is_array(ams)) {
		p->ams_count = (int)json_array_size(ams) > HS_AMS_TRAYS ? HS_AMS_TRAYS
									 : (int)json_array_size(ams);
		for (int i = 0; i < p->ams_count; i++)
			tray_from(&p->ams[i], json_array_get(ams, (size_t)i));
	} else {
		p->ams_count = k->ams ? 4 : 0;
		for (int i = 0; i < p->ams_count; i++)
			p->ams[i] = default_ams[i];
	}
	const json_t *ext = json_object_get(hw, "external");
	if (json_is_object(ext))
		tray_from(&p->external, ext);
	else
		p->external = (struct hs_tray){ "PLA", "#FFFFFF" };
}

void printer_apply_cfg(struct hs_printer *p, const json_t *cfg)
{
	const char *kind = hs_jstr(cfg, "kind", "bambu");
	for (int i = 0; i < HK__COUNT; i++)
		if (strcmp(kind, hs_kind_names[i]) == 0)
			p->kind = (enum hs_kind)i;
	copy_str(p->model, sizeof p->model, cfg, "model");
	copy_str(p->host, sizeof p->host, cfg, "host");
	copy_str(p->serial, sizeof p->serial, cfg, "serial_number");
	p->port = (int)json_integer_value(json_object_get(cfg, "port"));
	/* secrets: only whether they were sent (never stored, logged or echoed) */
	p->has_access_code = json_is_string(json_object_get(cfg, "access_code"));
	p->has_api_key = json_is_string(json_object_get(cfg, "api_key"));
	p->has_username = json_is_string(json_object_get(cfg, "username"));
	p->has_password = json_is_string(json_object_get(cfg, "password"));
	const json_t *o = json_object_get(cfg, "options");
	p->require_bed_clear = json_is_true(json_object_get(o, "require_bed_clear"));
	copy_str(p->light_command, sizeof p->light_command, o, "light_command");
	copy_str(p->load_macro, sizeof p->load_macro, o, "load_macro");
	copy_str(p->unload_macro, sizeof p->unload_macro, o, "unload_macro");
	copy_str(p->clear_bed_macro, sizeof p->clear_bed_macro, o, "clear_bed_macro");
	apply_hardware(p);
}

/* The periodic status interval on hs_status_now's clock: pinned, else §6's. */
static int64_t status_every(bool active)
{
	return hs.status_ms ? hs.status_ms : active ? HS_STATUS_ACTIVE_MS : HS_STATUS_IDLE_MS;
}

static void throttle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct hs_printer *p = w->data;
	if (p->dirty)
		printer_send_status(p);
}

struct hs_printer *printer_new(struct hs_hub *h, const json_t *cfg)
{
	struct hs_printer *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->hub = h;
	p->held = json_array();
	copy_str(p->id, sizeof p->id, cfg, "printer_id");
	printer_apply_cfg(p, cfg);
	const json_t *hw = json_object_get(h->hardware, p->id);
	const json_t *tn = json_object_get(hw, "tray_now");
	p->tray_now = json_is_integer(tn) ? (int)json_integer_value(tn)
					  : p->ams_count ? 0 : HS_TRAY_EXTERNAL;
	p->link_up = true;
	p->stage = ST_IDLE;
	p->nozzle = p->bed = p->chamber = AMBIENT_C;
	p->bed_clear = true;
	p->job.faults.fail_pct = -1;
	p->next_status = hs_status_now() + status_every(false);
	ev_timer_init(&p->throttle, throttle_cb, 0., 0.);
	p->throttle.data = p;
	return p;
}

static void job_clear(struct hs_printer *p)
{
	if (p->job.dl)
		dl_abort(p->job.dl);
	if (p->job.spool_path[0])
		unlink(p->job.spool_path);
	memset(&p->job, 0, sizeof p->job);
	p->job.faults.fail_pct = -1;
}

void printer_free(struct hs_printer *p)
{
	if (!p)
		return;
	job_clear(p);
	ev_timer_stop(hs.loop, &p->throttle);
	json_decref(p->held);
	free(p);
}

/* ------------------------------------------------------------------------------- queries */

bool printer_busy(const struct hs_printer *p)
{
	return stages[p->stage].busy || p->fil.active || p->delayed > 0;
}

const char *printer_state(const struct hs_printer *p)
{
	return p->link_up ? stages[p->stage].state : "offline";
}

static bool heating(const struct hs_printer *p)
{
	return (p->nozzle_target > 0 && p->nozzle < p->nozzle_target - 1) ||
	       (p->bed_target > 0 && p->bed < p->bed_target - 1);
}

static const char *phase_of(const struct hs_printer *p)
{
	if (!p->link_up)
		return NULL;
	if (p->stage == ST_IDLE && (heating(p) || p->fil.active))
		return "heating";
	return stages[p->stage].phase;
}

static const char *native_of(const struct hs_printer *p)
{
	if (!p->link_up)
		return NULL;
	if (p->stage == ST_IDLE && (p->last_end == END_COMPLETED || p->last_end == END_CANCELLED))
		return end_native[p->last_end][p->kind];
	return stages[p->stage].native[p->kind];
}

bool printer_supports(const struct hs_printer *p, const char *action, char *why, size_t whysz)
{
	for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		if (strcmp(caps[i].action, action) != 0)
			continue;
		enum cap c = caps[i].cap[p->kind];
		bool ok = c == CAP_YES || (c == CAP_LIGHT && p->light_hw) ||
			  (c == CAP_MACRO && (p->macros || (strcmp(action, "filament.load") == 0
								  ? p->load_macro[0]
								  : p->unload_macro[0])));
		if (!ok)
			snprintf(why, whysz, "%s printers cannot do %s%s", hs_kind_names[p->kind], action,
				 c == CAP_NO ? "" : " (not configured)");
		return ok;
	}
	return true;
}

static int progress_pct(const struct hs_printer *p)
{
	if (!stages[p->stage].job || p->job.print_ms <= 0)
		return 0;
	return (int)(p->job.printed_ms * 100 / p->job.print_ms);
}

static const struct hs_tray *loaded(const struct hs_printer *p)
{
	if (p->tray_now == HS_TRAY_EXTERNAL)
		return &p->external;
	if (p->tray_now >= 0 && p->tray_now < p->ams_count)
		return &p->ams[p->tray_now];
	return NULL;
}

/* no libm: the binary links without -lm */
static double dmin(double a, double b)
{
	return a < b ? a : b;
}

static double dmax(double a, double b)
{
	return a > b ? a : b;
}

static json_t *num1(double v)
{
	return json_real((double)(long long)(v * 10.0 + (v >= 0 ? 0.5 : -0.5)) / 10.0);
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* ------------------------------------------------------------------------------- status */

/* The §6 message; view = for the control channel (seq not consumed). */
static json_t *status_json(struct hs_printer *p, bool view)
{
	bool up = p->link_up, job = up && stages[p->stage].job;
	const struct hs_tray *t = up ? loaded(p) : NULL;
	json_t *m = hub_msg(p->hub, "status");
	json_object_set_new(m, "printer_id", json_string(p->id));
	json_object_set_new(m, "seq", json_integer((json_int_t)(view ? p->seq : ++p->seq)));
	json_object_set_new(m, "ts", json_integer(hs_wall_ms(p->hub)));
	json_object_set_new(m, "connected", json_boolean(up));
	json_object_set_new(m, "state", json_string(printer_state(p)));
	json_object_set_new(m, "phase", str_or_null(phase_of(p)));
	json_object_set_new(m, "native_state", str_or_null(native_of(p)));
	json_object_set_new(m, "job_id", str_or_null(stages[p->stage].job ? p->job.id : NULL));
	json_object_set_new(m, "file_name", job ? str_or_null(p->job.file_name) : json_null());
	json_object_set_new(m, "progress_pct", job ? json_integer(progress_pct(p)) : json_null());
	json_object_set_new(m, "layer_num",
			    job && p->job.layer ? json_integer(p->job.layer) : json_null());
	json_object_set_new(m, "total_layers", job ? json_integer(p->job.total_layers) : json_null());
	int64_t left_ms = p->job.print_ms - p->job.printed_ms;
	json_object_set_new(m, "remaining_s", job ? json_integer((left_ms + 999) / 1000) : json_null());
	json_object_set_new(m, "elapsed_s", job ? json_integer(p->job.printed_ms / 1000) : json_null());
	json_object_set_new(m, "temps", json_pack("{s:o, s:o, s:o, s:o, s:o}",
		"nozzle", up ? num1(p->nozzle) : json_null(),
		"nozzle_target", up ? num1(p->nozzle_target) : json_null(),
		"bed", up ? num1(p->bed) : json_null(),
		"bed_target", up ? num1(p->bed_target) : json_null(),
		"chamber", up && p->chamber_sensor ? num1(p->chamber) : json_null()));
	json_object_set_new(m, "filament", json_pack("{s:o, s:o, s:o}",
		"tray_now", t && p->kind == HK_BAMBU ? json_integer(p->tray_now) : json_null(),
		"type", t ? str_or_null(t->type) : json_null(),
		"color_hex", t ? str_or_null(t->color) : json_null()));
	json_object_set_new(m, "light_on", up && p->light_hw ? json_boolean(p->light_on) : json_null());
	json_object_set_new(m, "bed_clear", json_boolean(p->bed_clear));
	json_object_set_new(m, "error", up && p->stage == ST_ERROR
		? json_pack("{s:s, s:s}", "code", p->err_code, "message", p->err_msg) : json_null());
	return m;
}

/* Sends p's status now; due = when the periodic one was due (0 = out of turn: state change,
 * status.refresh, a new connection), which sets the next one. */
static void send_status(struct hs_printer *p, int64_t due)
{
	bool active = p->link_up && (stages[p->stage].active || heating(p) || p->fil.active);
	p->dirty = false;
	p->next_status = hs_next_due(due, hs_status_now(), status_every(active));
	p->last_status_real = hs_real_ms();
	ev_timer_stop(hs.loop, &p->throttle);
	if (!p->hub->connected || p->hub->silent)
		return;
	hub_publish(p->hub, "status", status_json(p, false), 0, false);
}

void printer_send_status(struct hs_printer *p)
{
	send_status(p, 0);
}

void printer_touch(struct hs_printer *p)
{
	p->dirty = true;
	hs_want_flush();
}

void sim_flush(void)
{
	int64_t now = hs_real_ms();
	for (size_t i = 0; i < hs.nhubs; i++)
		for (size_t j = 0; j < hs.hubs[i]->nprinters; j++) {
			struct hs_printer *p = hs.hubs[i]->printers[j];
			if (!p->dirty)
				continue;
			int64_t wait = p->last_status_real + HS_STATUS_THROTTLE_MS - now;
			if (wait <= 0 || p->last_status_real == 0)
				printer_send_status(p);
			else if (!ev_is_active(&p->throttle)) {
				ev_timer_set(&p->throttle, (double)wait / 1000.0, 0.);
				ev_timer_start(hs.loop, &p->throttle);
			}
		}
}

void sim_periodic(void)
{
	int64_t hb_now = hs_hb_now(), st_now = hs_status_now();
	for (size_t i = 0; i < hs.nhubs; i++) {
		struct hs_hub *h = hs.hubs[i];
		if (h->connected && hb_now >= h->next_hb) {
			int64_t due = h->next_hb;
			hub_heartbeat(h);
			h->next_hb = hs_next_due(due, hb_now, hs_hb_every());
		}
		for (size_t j = 0; j < h->nprinters; j++)
			if (st_now >= h->printers[j]->next_status)
				send_status(h->printers[j], h->printers[j]->next_status);
	}
}

/* ------------------------------------------------------------------------------- events */

static void event(struct hs_printer *p, const char *name, const char *command_id, json_t *data)
{
	hub_event(p->hub, name, p, p->job.id, command_id, data);
}

static void transfer(struct hs_printer *p, const char *stage, int64_t done, int64_t total)
{
	int pct = total > 0 ? (int)(done * 100 / total) : 100;
	event(p, "job.transfer", p->job.command_id,
	      json_pack("{s:s, s:I, s:I, s:i}", "stage", stage, "bytes_done", (json_int_t)done,
			"bytes_total", (json_int_t)total, "pct", pct));
}

void printer_connected_event(struct hs_printer *p)
{
	hub_event(p->hub, "printer.connected", p, NULL, NULL,
		  json_pack("{s:o, s:s}", "model", str_or_null(p->model), "firmware_version",
			    p->firmware));
}

static void set_stage(struct hs_printer *p, enum hs_stage st)
{
	p->stage = st;
	p->job.stage_ms = 0;
	printer_touch(p);
}

static void heaters_off(struct hs_printer *p)
{
	p->nozzle_target = p->bed_target = 0;
}

/* Ends the job: a failure in a transfer stage leaves the printer idle, one while printing puts
 * it in error (§7 job.failed). */
static void job_fail(struct hs_printer *p, const char *stage, const char *code, const char *reason)
{
	bool printing = strcmp(stage, "printing") == 0;
	event(p, "job.failed", printing ? NULL : p->job.command_id,
	      json_pack("{s:s, s:s, s:s, s:i, s:o}", "stage", stage, "code", code, "reason", reason,
			"progress_pct", progress_pct(p), "layer_num",
			p->job.layer ? json_integer(p->job.layer) : json_null()));
	if (printing) {
		snprintf(p->err_code, sizeof p->err_code, "%s", code);
		snprintf(p->err_msg, sizeof p->err_msg, "%s", reason);
		hub_event(p->hub, "printer.error", p, NULL, NULL,
			  json_pack("{s:s, s:s, s:s}", "code", code, "message", reason, "severity",
				    "serious"));
		p->bed_clear = false;
	}
	heaters_off(p);
	p->last_end = END_FAILED;
	job_clear(p);
	set_stage(p, printing ? ST_ERROR : ST_IDLE);
}

static void job_complete(struct hs_printer *p)
{
	event(p, "job.completed", NULL,
	      json_pack("{s:I, s:i}", "duration_s", (json_int_t)((hs.sim_ms - p->job.started_sim) / 1000),
			"layers_printed", p->job.total_layers));
	heaters_off(p);
	p->bed_clear = false;
	p->last_end = END_COMPLETED;
	job_clear(p);
	set_stage(p, ST_IDLE);
}

static void job_cancel(struct hs_printer *p, const char *by, const char *command_id)
{
	event(p, "job.cancelled", command_id,
	      json_pack("{s:s, s:i}", "by", by, "progress_pct", progress_pct(p)));
	if (p->stage >= ST_PREPARE)
		p->bed_clear = false;
	heaters_off(p);
	p->last_end = END_CANCELLED;
	job_clear(p);
	set_stage(p, ST_IDLE);
}

/* ------------------------------------------------------------------------------- physics */

static double approach(double cur, double target, double up, double down, double s)
{
	double goal = target > AMBIENT_C ? target : AMBIENT_C;
	if (cur < goal)
		return dmin(goal, cur + up * s);
	return dmax(goal, cur - down * s);
}

static int64_t upload_ms(const struct hs_printer *p)
{
	int64_t ms = p->job.size_bytes / 4096; /* ~4 MB/s to the printer */
	return ms < 2000 ? 2000 : ms;
}

static void step_upload(struct hs_printer *p, int64_t dt)
{
	p->job.stage_ms += dt;
	if (p->job.stage_ms < upload_ms(p))
		return;
	if (p->job.faults.upload) {
		job_fail(p, "upload", p->job.faults.code[0] ? p->job.faults.code : "UPLOAD_FAILED",
			 p->job.faults.message[0] ? p->job.faults.message
						  : "the printer refused the upload (fault injection)");
		return;
	}
	transfer(p, "starting", p->job.size_bytes, p->job.size_bytes);
	set_stage(p, ST_START);
}

static void step_start(struct hs_printer *p, int64_t dt)
{
	p->job.stage_ms += dt;
	if (p->job.faults.start) {
		if (p->job.stage_ms >= START_TIMEOUT_MS)
			job_fail(p, "start", "PRINTER_TIMEOUT",
				 "the printer did not report printing within 120 s");
		return;
	}
	if (p->job.stage_ms < START_MS)
		return;
	if (p->job.spool_path[0]) { /* §9.6: the local copy goes once the print starts */
		unlink(p->job.spool_path);
		p->job.spool_path[0] = '\0';
	}
	p->job.started_sim = hs.sim_ms;
	p->bed_clear = false;
	p->nozzle_target = p->job.nozzle_c;
	p->bed_target = p->job.bed_c;
	event(p, "job.started", p->job.command_id,
	      json_pack("{s:s, s:i, s:i, s:I}", "file_name", p->job.file_name, "plate", p->job.plate,
			"total_layers", p->job.total_layers, "estimated_s",
			(json_int_t)(p->job.print_ms / 1000)));
	set_stage(p, ST_PREPARE);
}

static void step_prepare(struct hs_printer *p, int64_t dt)
{
	p->job.stage_ms += dt;
	if (p->job.stage_ms >= PREPARE_MS)
		set_stage(p, ST_HEAT);
}

static void step_heat(struct hs_printer *p, int64_t dt)
{
	(void)dt;
	if (p->nozzle >= p->job.nozzle_c - 1 && p->bed >= p->job.bed_c - 1)
		set_stage(p, ST_PRINT);
}

static void step_print(struct hs_printer *p, int64_t dt)
{
	struct hs_job *j = &p->job;
	j->printed_ms += dt;
	if (j->printed_ms > j->print_ms)
		j->printed_ms = j->print_ms;
	int layer = (int)(j->printed_ms * j->total_layers / (j->print_ms > 0 ? j->print_ms : 1)) + 1;
	if (layer > j->total_layers)
		layer = j->total_layers;
	if (layer != j->layer) {
		j->layer = layer;
		printer_touch(p); /* §6: immediately on a new layer */
	}
	bool at_pct = j->faults.fail_pct >= 0 && progress_pct(p) >= j->faults.fail_pct;
	bool at_layer = j->faults.fail_layer > 0 && j->layer >= j->faults.fail_layer;
	if (at_pct || at_layer) {
		char reason[HS_MSG_LEN];
		snprintf(reason, sizeof reason, "%s", j->faults.message[0] ? j->faults.message : "");
		if (!reason[0])
			snprintf(reason, sizeof reason, "print failed at %d %% (layer %d, fault injection)",
				 progress_pct(p), j->layer);
		job_fail(p, "printing", j->faults.code[0] ? j->faults.code : "PRINT_FAILED", reason);
		return;
	}
	if (j->printed_ms >= j->print_ms)
		job_complete(p);
}

static void step_filament(struct hs_printer *p, int64_t dt)
{
	struct hs_filop *f = &p->fil;
	if (p->nozzle < f->temp - 2)
		return;
	f->ms += dt;
	if (f->ms < FEED_MS)
		return;
	p->tray_now = f->load ? f->tray : -1;
	p->nozzle_target = f->prev_target;
	f->active = false;
	hs_info("printer %s: filament %s done", p->id, f->load ? "load" : "unload");
	printer_touch(p);
}

static void (*const stage_step[ST__COUNT])(struct hs_printer *, int64_t) = {
	[ST_UPLOAD] = step_upload, [ST_START] = step_start, [ST_PREPARE] = step_prepare,
	[ST_HEAT] = step_heat,     [ST_PRINT] = step_print,
};

static void printer_step(struct hs_printer *p, int64_t dt)
{
	double s = (double)dt / 1000.0;
	bool was_heating = heating(p);
	p->nozzle = approach(p->nozzle, p->nozzle_target, 3.0, 1.0, s);
	p->bed = approach(p->bed, p->bed_target, 1.0, 0.5, s);
	bool warm = p->stage >= ST_PREPARE && p->stage <= ST_PRINT;
	p->chamber = approach(p->chamber, warm ? CHAMBER_PRINTING_C : 0, 0.05, 0.02, s);
	if (was_heating != heating(p))
		printer_touch(p);
	if (stage_step[p->stage])
		stage_step[p->stage](p, dt);
	if (p->fil.active)
		step_filament(p, dt);
}

void sim_advance(int64_t ms)
{
	while (ms > 0) {
		int64_t step = ms < 1000 ? ms : 1000;
		ms -= step;
		hs.sim_ms += step;
		for (size_t i = 0; i < hs.nhubs; i++) {
			struct hs_hub *h = hs.hubs[i];
			for (size_t j = 0; j < h->nprinters; j++)
				printer_step(h->printers[j], step);
			scan_check(h);
		}
	}
	sim_periodic();
}

/* ------------------------------------------------------------------------------- downloads */

void printer_dl_progress(struct hs_printer *p, int64_t done, int64_t total)
{
	p->job.dl_done = done;
	p->job.dl_total = total;
	int64_t now = hs_real_ms();
	if (now - p->job.last_event_real >= 1000) { /* at most one progress event a second */
		p->job.last_event_real = now;
		transfer(p, "downloading", done, total);
	}
}

/* Reads print time and layers from the file when the command did not give them (§11.4). */
static void expected_from_file(struct hs_printer *p)
{
	struct hs_job *j = &p->job;
	if ((j->time_from_params && j->layers_from_params) || strcmp(j->format, "bgcode") == 0)
		return;
	struct file_meta *m = calloc(1, sizeof *m);
	char err[256];
	if (!m || meta_parse_file(j->spool_path, j->file_name, NULL, m, NULL, err, sizeof err) != 0) {
		free(m);
		return;
	}
	struct meta_int t = m->print_time_seconds, l = m->layer_count;
	for (size_t i = 0; i < m->nplates; i++)
		if (m->plates[i].index == j->plate) {
			if (m->plates[i].print_time_seconds.set)
				t = m->plates[i].print_time_seconds;
			if (m->plates[i].layer_count.set)
				l = m->plates[i].layer_count;
		}
	if (!j->time_from_params && t.set && t.v > 0)
		j->print_ms = t.v * 1000;
	if (!j->layers_from_params && l.set && l.v > 0 && l.v < 1000000)
		j->total_layers = (int)l.v;
	hs_info("printer %s: from the file: %lld s, %d layers", p->id, (long long)(j->print_ms / 1000),
		j->total_layers);
	free(m);
}

void printer_dl_done(struct hs_printer *p, bool ok, const char *stage, const char *code,
		     const char *reason)
{
	p->job.dl = NULL;
	if (ok || strcmp(stage, "verify") == 0) {
		transfer(p, "downloading", p->job.dl_done, p->job.size_bytes);
		transfer(p, "verifying", p->job.dl_done, p->job.size_bytes);
	}
	if (!ok) {
		job_fail(p, stage, code, reason);
		return;
	}
	expected_from_file(p);
	transfer(p, "uploading", 0, p->job.size_bytes);
	set_stage(p, ST_UPLOAD);
}

/* ------------------------------------------------------------------------------- actions */

static const char *const formats[] = { "3mf", "gcode", "bgcode", NULL };

static const struct jfield F_FILE[] = {
	{ "url", JF_STRING, JF_REQUIRED, 8, 2048, { NULL } },
	{ "token", JF_STRING, JF_REQUIRED, 1, 1024, { NULL } },
	{ "token_expires_at", JF_INT, JF_REQUIRED | JF_NULLABLE, 0, 0, { NULL } },
	{ "name", JF_STRING, JF_REQUIRED, 1, 64, { NULL } },
	{ "format", JF_ENUM, JF_REQUIRED, 0, 0, { formats } },
	{ "size_bytes", JF_INT, JF_REQUIRED, 0, 1099511627776.0, { NULL } },
	{ "sha256", JF_STRING, JF_REQUIRED, 64, 64, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};
static const struct jfield F_EXPECTED[] = {
	{ "print_time_s", JF_INT, JF_NULLABLE, 1, 31536000, { NULL } },
	{ "total_layers", JF_INT, JF_NULLABLE, 1, 1000000, { NULL } },
	{ "printer_model_id", JF_STRING, JF_NULLABLE, 0, 64, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};

static enum hs_code refuse(struct hs_act_ctx *c, enum hs_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum hs_code refuse(struct hs_act_ctx *c, enum hs_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof c->message, fmt, ap);
	va_end(ap);
	return code;
}

static enum hs_code job_matches(struct hs_act_ctx *c)
{
	const char *want = json_string_value(json_object_get(c->params, "job_id"));
	if (want && strcmp(want, c->printer->job.id) != 0)
		return refuse(c, HC_JOB_MISMATCH, "the printer runs job %s",
			      c->printer->job.id[0] ? c->printer->job.id : "(started at the printer)");
	return HC_OK;
}

static void result_state(struct hs_act_ctx *c)
{
	json_object_set_new(c->result, "state", json_string(printer_state(c->printer)));
}

static bool name_ok(const char *s)
{
	return s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")] == '\0';
}

static enum hs_code check_file(struct hs_act_ctx *c, const json_t *file, const json_t *exp)
{
	c->message[0] = '\0';
	if (hs_check(file, F_FILE, "file.", c->message, sizeof c->message))
		return HC_INVALID_PARAMS;
	if (json_is_object(exp) && hs_check(exp, F_EXPECTED, "expected.", c->message, sizeof c->message))
		return HC_INVALID_PARAMS;
	const char *url = hs_jstr(file, "url", "");
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return refuse(c, HC_INVALID_PARAMS, "file.url must be http(s)");
	if (!name_ok(hs_jstr(file, "name", "")))
		return refuse(c, HC_INVALID_PARAMS, "file.name may hold only [A-Za-z0-9._-]");
	if (!util_is_hex(hs_jstr(file, "sha256", ""), 64))
		return refuse(c, HC_INVALID_PARAMS, "file.sha256 must be 64 hex digits");
	if (!util_is_uuid(hs_jstr(c->params, "job_id", "")))
		return refuse(c, HC_INVALID_PARAMS, "job_id must be a UUID");
	return HC_OK;
}

static void job_temperatures(struct hs_printer *p)
{
	const struct hs_tray *t = loaded(p);
	p->job.nozzle_c = materials[0].nozzle;
	p->job.bed_c = materials[0].bed;
	for (size_t i = 0; t && i < sizeof materials / sizeof materials[0]; i++)
		if (strcasecmp(t->type, materials[i].type) == 0) {
			p->job.nozzle_c = materials[i].nozzle;
			p->job.bed_c = materials[i].bed;
		}
}

enum hs_code act_print_start(struct hs_act_ctx *c)
{
	struct hs_printer *p = c->printer;
	const json_t *file = json_object_get(c->params, "file");
	const json_t *exp = json_object_get(c->params, "expected");
	enum hs_code rc = check_file(c, file, exp);
	if (rc != HC_OK)
		return rc;
	if (p->stage != ST_IDLE)
		return refuse(c, HC_INVALID_STATE, "the printer is %s", printer_state(p));
	if (p->require_bed_clear && !p->bed_clear)
		return refuse(c, HC_BED_NOT_CLEAR, "clear the bed first (bed.clear)");
	char fmt[16];
	snprintf(fmt, sizeof fmt, " %s ", hs_jstr(file, "format", ""));
	if (!strstr(kinds[p->kind].formats, fmt))
		return refuse(c, HC_UNSUPPORTED_FILE, "this printer cannot print %s files",
			      hs_jstr(file, "format", ""));

	struct hs_job *j = &p->job;
	job_clear(p);
	snprintf(j->id, sizeof j->id, "%s", hs_jstr(c->params, "job_id", ""));
	snprintf(j->command_id, sizeof j->command_id, "%s", c->command_id);
	snprintf(j->file_name, sizeof j->file_name, "%s", hs_jstr(file, "name", ""));
	snprintf(j->format, sizeof j->format, "%s", hs_jstr(file, "format", ""));
	snprintf(j->sha256, sizeof j->sha256, "%s", hs_jstr(file, "sha256", ""));
	j->size_bytes = json_integer_value(json_object_get(file, "size_bytes"));
	j->plate = json_is_integer(json_object_get(c->params, "plate"))
			   ? (int)json_integer_value(json_object_get(c->params, "plate")) : 1;
	const json_t *pt = json_object_get(exp, "print_time_s");
	const json_t *tl = json_object_get(exp, "total_layers");
	j->time_from_params = json_is_integer(pt);
	j->layers_from_params = json_is_integer(tl);
	j->print_ms = (j->time_from_params ? json_integer_value(pt) : DEFAULT_PRINT_S) * 1000;
	j->total_layers = j->layers_from_params ? (int)json_integer_value(tl) : DEFAULT_LAYERS;
	job_temperatures(p);
	fault_take_job(p->hub->id, p->id, &j->faults);
	snprintf(j->spool_path, sizeof j->spool_path, "%s/%s.%s.part", hs.spool, p->id, j->id);

	p->last_end = END_NONE;
	set_stage(p, ST_DOWNLOAD);
	json_object_set_new(c->result, "state", json_string("printing"));
	json_object_set_new(c->result, "phase", json_string("downloading"));
	json_object_set_new(c->result, "job_id", json_string(j->id));
	transfer(p, "downloading", 0, j->size_bytes);
	j->last_event_real = hs_real_ms();
	hs_info("printer %s: job %s: %s (%lld bytes, %lld s, %d layers)", p->id, j->id,
		j->file_name, (long long)j->size_bytes, (long long)(j->print_ms / 1000),
		j->total_layers);

	if (strcmp(j->faults.dl_mode, "http") == 0) {
		char code[HS_CODE_LEN];
		int status = j->faults.dl_status ? j->faults.dl_status : 500;
		snprintf(code, sizeof code, "HTTP_%d", status);
		printer_dl_done(p, false, "download", code, "download failed (fault injection)");
		return HC_OK;
	}
	char err[HS_MSG_LEN];
	if (dl_start(p, file, err, sizeof err) < 0) {
		printer_dl_done(p, false, "download", "DOWNLOAD_FAILED", err);
		return HC_OK;
	}
	return HC_OK;
}

enum hs_code act_print_pause(struct hs_act_ctx *c)
{
	struct hs_printer *p = c->printer;
	if (!stages[p->stage].pausable)
		return refuse(c, HC_INVALID_STATE, "cannot pause: the printer is %s", printer_state(p));
	enum hs_code rc = job_matches(c);
	if (rc != HC_OK)
		return rc;
	p->nozzle_target = dmin(HOLD_NOZZLE_C, p->job.nozzle_c);
	set_stage(p, ST_PAUSED);
	event(p, "job.paused", c->command_id, json_pack("{s:s, s:n}", "by", "command", "reason"));
	result_state(c);
	return HC_OK;
}

enum hs_code act_print_resume(struct hs_act_ctx *c)
{
	struct hs_printer *p = c->printer;
	if (p->stage != ST_PAUSED)
		return refuse(c, HC_INVALID_STATE, "cannot resume: the printer is %s", printer_state(p));
	enum hs_code rc = job_matches(c);
	if (rc != HC_OK)
		return rc;
	p->nozzle_target = p->job.nozzle_c;
	p->bed_target = p->job.bed_c;
	set_stage(p, ST_HEAT);
	event(p, "job.resumed", c->command_id, json_pack("{s:s}", "by", "command"));
	result_state(c);
	return HC_OK;
}

enum hs_code act_print_stop(struct hs_act_ctx *c)
{
	struct hs_printer *p = c->printer;
	bool job = stages[p->stage].job;
	if (!job && !p->fil.active)
		return refuse(c, HC_INVALID_STATE, "nothing to stop: the printer is %s",
			      printer_state(p));
	if (job) {
		enum hs_code rc = job_matches(c);
		if (rc != HC_OK)
			return rc;
	}
	if (p->fil.active) {
		p->fil.active = false;
		p->nozzle_target = p->fil.prev_target;
	}
	if (job)
		job_cancel(p, "command", c->command_id);
	printer_touch(p);
	result_state(c);
	return HC_OK;
}

enum hs_code act_bed_clear(struct hs_act_ctx *c)
{
	struct hs_printer *p = c->printer;
	if (p->stage != ST_IDLE && p->stage != ST_ERROR)
		return refuse(c, HC_INVALID_STATE, "cannot clear the bed: the printer is %s",
			      printer_state(p));
	p->bed_clear = true;
	if (p->stage == ST_ERROR) { /* the failed print was taken off: the printer is usable again */
		p->err_code[0] = p->err_msg[0] = '\0';
		set_stage(p, ST_IDLE);
	}
	printer_touch(p);
	json_object_set_new(c->result, "bed_clear", json_true());
	result_state(c);
	return HC_OK;
}

enum hs_code act_temperature_set(struct hs_act_ctx *c)
{
	struct hs_printer *p = c->printer;
	bool nozzle = strcmp(hs_jstr(c->params, "heater", ""), "nozzle") == 0;
	double t = json_number_value(json_object_get(c->params, "target_c"));
	if (!nozzle && t > 120)
		return refuse(c, HC_INVALID_PARAMS, "target_c must be between 0 and 120 for the bed");
	if (nozzle) {
		p->nozzle_target = t;
		if (stages[p->stage].job && p->stage != ST_PAUSED)
			p->job.nozzle_c = t;
	} else {
		p->bed_target = t;
		if (stages[p->stage].job)
			p->job.bed_c = t;
	}
	printer_touch(p);
	json_object_set_new(c->result, "heater", json_string(nozzle ? "nozzle" : "bed"));
	json_object_set_new(c->result, "target_c", num1(t));
	return HC_OK;
}

enum hs_code act_light_set(struct hs_act_ctx *c)
{
	c->printer->light_on = json_is_true(json_object_get(c->params, "on"));
	printer_touch(c->printer);
	json_object_set_new(c->result, "light_on", json_boolean(c->printer->light_on));
	return HC_OK;
}

static enum hs_code filament(struct hs_act_ctx *c, bool load)
{
	struct hs_printer *p = c->printer;
	if (p->stage != ST_IDLE && p->stage != ST_PAUSED)
		return refuse(c, HC_INVALID_STATE, "cannot change filament: the printer is %s",
			      printer_state(p));
	const json_t *tj = json_object_get(c->params, "tray_id");
	int tray = load && json_is_integer(tj) ? (int)json_integer_value(tj) : HS_TRAY_EXTERNAL;
	if (load && tray > 15 && tray != HS_TRAY_EXTERNAL)
		return refuse(c, HC_INVALID_PARAMS, "tray_id must be 0-15 or 254");
	if (load && tray != HS_TRAY_EXTERNAL && p->kind != HK_BAMBU)
		return refuse(c, HC_UNSUPPORTED, "%s printers load only the external spool (254)",
			      hs_kind_names[p->kind]);
	if (load && tray != HS_TRAY_EXTERNAL && (tray >= p->ams_count || !p->ams[tray].type[0])) {
		snprintf(c->message, sizeof c->message, "AMS tray %d is empty", tray);
		return HC_PRINTER_REJECTED;
	}
	const json_t *tc = json_object_get(c->params, "temperature_c");
	double temp = json_is_number(tc) ? json_number_value(tc) : 220.0;
	p->fil = (struct hs_filop){ .active = true, .load = load, .tray = tray, .temp = temp,
				    .prev_target = p->nozzle_target };
	p->nozzle_target = temp;
	printer_touch(p);
	if (load)
		json_object_set_new(c->result, "tray_id", json_integer(tray));
	json_object_set_new(c->result, "temperature_c", num1(temp));
	return HC_OK;
}

enum hs_code act_filament_load(struct hs_act_ctx *c)
{
	return filament(c, true);
}

enum hs_code act_filament_unload(struct hs_act_ctx *c)
{
	return filament(c, false);
}

/* ------------------------------------------------------------------------------- control */

void printer_set_link(struct hs_printer *p, bool up, const char *reason)
{
	if (p->link_up == up)
		return;
	if (!up) {
		hub_event(p->hub, "printer.disconnected", p, NULL, NULL,
			  json_pack("{s:s}", "reason", reason ? reason : "link_lost"));
		p->link_up = false;
	} else {
		p->link_up = true;
		printer_connected_event(p);
		/* what happened while the link was down, in order (§7: terminal events re-emitted) */
		json_t *held = p->held;
		p->held = json_array();
		size_t i;
		json_t *e;
		json_array_foreach(held, i, e) {
			hub_publish(p->hub, "event", json_incref(e), 1, false);
		}
		json_decref(held);
	}
	printer_touch(p);
}

int printer_user_pause(struct hs_printer *p, bool resume, char *err, size_t errsz)
{
	if (!resume && !stages[p->stage].pausable) {
		snprintf(err, errsz, "printer %s is %s: nothing to pause", p->id, printer_state(p));
		return -1;
	}
	if (resume && p->stage != ST_PAUSED) {
		snprintf(err, errsz, "printer %s is %s: nothing to resume", p->id, printer_state(p));
		return -1;
	}
	if (resume) {
		p->nozzle_target = p->job.nozzle_c;
		p->bed_target = p->job.bed_c;
		set_stage(p, ST_HEAT);
		event(p, "job.resumed", NULL, json_pack("{s:s}", "by", "printer"));
	} else {
		p->nozzle_target = dmin(HOLD_NOZZLE_C, p->job.nozzle_c);
		set_stage(p, ST_PAUSED);
		event(p, "job.paused", NULL, json_pack("{s:s, s:s}", "by", "printer", "reason", "user"));
	}
	return 0;
}

void printer_fail(struct hs_printer *p, const char *code, const char *message)
{
	if (stages[p->stage].job) {
		job_fail(p, p->stage >= ST_PREPARE ? "printing" : "download", code, message);
		return;
	}
	snprintf(p->err_code, sizeof p->err_code, "%s", code);
	snprintf(p->err_msg, sizeof p->err_msg, "%s", message);
	hub_event(p->hub, "printer.error", p, NULL, NULL,
		  json_pack("{s:s, s:s, s:s}", "code", code, "message", message, "severity", "serious"));
	heaters_off(p);
	set_stage(p, ST_ERROR);
}

json_t *printer_discovery_json(const struct hs_printer *p)
{
	char name[136];
	snprintf(name, sizeof name, "%s%s%s", p->model[0] ? p->model : hs_kind_names[p->kind],
		 p->serial[0] ? "-" : "", p->serial);
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:i, s:s, s:s, s:s}", "kind",
			 hs_kind_names[p->kind], "name", name, "model", str_or_null(p->model),
			 "serial_number", str_or_null(p->serial), "ip", str_or_null(p->host), "port",
			 p->port ? p->port : kinds[p->kind].port, "firmware_version", p->firmware,
			 "method", kinds[p->kind].method, "configured_printer_id", p->id);
}

json_t *printer_json(const struct hs_printer *p)
{
	json_t *s = status_json((struct hs_printer *)p, true);
	json_object_del(s, "v");
	json_object_del(s, "type");
	json_object_del(s, "seq");
	json_object_set_new(s, "status_seq", json_integer((json_int_t)p->seq));
	json_object_set_new(s, "kind", json_string(hs_kind_names[p->kind]));
	json_object_set_new(s, "model", str_or_null(p->model));
	json_object_set_new(s, "host", str_or_null(p->host));
	json_object_set_new(s, "port", p->port ? json_integer(p->port) : json_null());
	json_object_set_new(s, "serial_number", str_or_null(p->serial));
	json_object_set_new(s, "firmware_version", json_string(p->firmware));
	json_object_set_new(s, "secrets_present",
			    json_pack("{s:b, s:b, s:b, s:b}", "access_code", p->has_access_code,
				      "api_key", p->has_api_key, "username", p->has_username,
				      "password", p->has_password));
	json_object_set_new(s, "require_bed_clear", json_boolean(p->require_bed_clear));
	json_object_set_new(s, "stage", json_string(stages[p->stage].name));
	json_object_set_new(s, "busy", json_boolean(printer_busy(p)));
	json_object_set_new(s, "light_hw", json_boolean(p->light_hw));
	json_object_set_new(s, "held_events", json_integer((json_int_t)json_array_size(p->held)));
	json_object_set_new(s, "filament_op", p->fil.active
		? json_pack("{s:s, s:i, s:o}", "op", p->fil.load ? "load" : "unload", "tray_id",
			    p->fil.tray, "temperature_c", num1(p->fil.temp))
		: json_null());
	json_object_set_new(s, "transfer", p->stage == ST_DOWNLOAD
		? json_pack("{s:I, s:I}", "bytes_done", (json_int_t)p->job.dl_done, "bytes_total",
			    (json_int_t)p->job.size_bytes)
		: json_null());
	if (stages[p->stage].job) {
		const struct hs_job *j = &p->job;
		json_object_set_new(s, "job", json_pack("{s:s, s:s, s:I, s:i, s:I, s:I, s:o}",
			"job_id", j->id, "command_id", j->command_id, "print_time_s",
			(json_int_t)(j->print_ms / 1000), "total_layers", j->total_layers,
			"printed_ms", (json_int_t)j->printed_ms, "size_bytes", (json_int_t)j->size_bytes,
			"faults", json_pack("{s:s, s:b, s:b, s:f, s:i}", "download", j->faults.dl_mode,
					    "upload", j->faults.upload, "start", j->faults.start,
					    "fail_pct", j->faults.fail_pct, "fail_layer",
					    j->faults.fail_layer)));
	} else {
		json_object_set_new(s, "job", json_null());
	}
	return s;
}
