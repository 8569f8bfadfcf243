/* apf-hubsim - a hub without hardware (docs/hub-link.md, "The simulator"; docs/operations.md).
 *
 * Connects to the broker as one or many hubs (one MQTT connection each: client id = username =
 * hub id, clean session, keep-alive 30 s, retained offline presence as last will), and stands in
 * for the hubs and their printers. It knows nothing the backend does not send: printers arrive by
 * printers.sync / printer.configure; a scenario file may only describe their hardware (AMS trays,
 * light, firmware) by printer_id. Single-threaded: one libev loop drives every MQTT socket, the
 * libcurl downloads, the control channel and the clocks.
 *
 * Command line
 *   apf-hubsim --hub HUB_ID --password PW [--conf FILE] [options]
 *   Hubs: --hub/--password pairs (repeatable), --hub-list FILE (lines "HUB_ID PASSWORD"),
 *   --scenario FILE (JSON, below). Broker: conf mqtt_host / mqtt_port, or --mqtt-host/--mqtt-port;
 *   --mqtt-cafile FILE for a TLS listener; --mqtt-v5 (MQTT 5: the intruder sees PUBACK refusals).
 *   Downloads: --cacert FILE (default conf tls_cert), --spool DIR (default a private /tmp folder).
 *   Time: --time-scale X (60 = a simulated minute per second), --manual-clock (time moves only by
 *   `advance MS`), --pin-intervals (heartbeat/status intervals in real time),
 *   --status-interval MS / --heartbeat-interval MS (that interval pinned to MS real milliseconds
 *   for every printer / hub, whatever the time scale; 100..3600000). Faults: --fault SPEC
 *   and the shorthands --ack-delay MS, --drop-acks, --refuse ACTION[:CODE], --fail-at PCT, --silent,
 *   --duplicate-acks, --late-ack. Control: --control-socket PATH, --control 127.0.0.1:PORT.
 *   Other: --max-printers N, --seed N, --intruder VICTIM, --quiet, --verbose, --help.
 *   `apf-hubsim --help` prints the full list (generated from the option table below).
 *
 * Scenario file
 *   {"hubs": [{"hub_id": "...", "password": "...", "max_printers": 5,
 *              "printers": [{"printer_id": "...", "light": true, "chamber": true, "macros": true,
 *                            "firmware_version": "01.07.00.00", "tray_now": 0,
 *                            "ams": [{"type": "PLA", "color": "#00AE42"}, ...],
 *                            "external": {"type": "PETG", "color": "#FFFFFF"}}],
 *              "discovery": [{"kind": "bambu", "ip": "192.168.1.40", ...}],
 *              "faults": [{"kind": "refuse", "action": "print.pause"}]}],
 *    "faults": [...], "status_interval_ms": 1000, "heartbeat_interval_ms": 30000}
 *   The two *_interval_ms keys are --status-interval / --heartbeat-interval (the option wins).
 *   Printer entries apply only once the backend configures that printer_id. Printers of a kind
 *   without an adapter (the API's "other") are left out of printers.sync (named in the ACK's
 *   result.skipped) and refused UNSUPPORTED by printer.configure.
 *
 * Semantics worth knowing: ACKs and events go out in that order (events a command causes wait for
 * its ACK); duplicates of a command id get the stored ACK again within 10 min, or nothing while the
 * first is still held by a fault; printer-side actions are EXPIRED with < 2 s of TTL left; a
 * download or filament change in progress (and a command held by `delay`) makes the printer
 * PRINTER_BUSY, print.stop excepted. Events made while offline are sent after the next online
 * presence; ones made while a printer link is down follow its printer.connected.
 *
 * Control channel (loopback only; for tests)
 *   One command per line (at most 64 KiB); one JSON object per line answers each, in order:
 *   {"ok":true,...} or {"ok":false,"error":"..."}. HUB left out or "all" means every hub (the
 *   intruder needs a hub when there are several). PRINTER is a printer_id.
 *     help                              this list
 *     status [HUB]                      clocks, pinned intervals, hubs (connection, session,
 *                                       toggles), printers (state, phase, job, progress, layers,
 *                                       temperatures, filament, light, bed, transfer), fault rules
 *     log [N] [HUB]                     last N (50) commands received, secrets as "***", with ACKs
 *     advance MS  (alias: tick MS)      move the simulated clock by MS
 *     fault SPEC                        add a rule, set a toggle or run an instant fault
 *     fault clear all|ID|KIND [hub=H] [printer=P]
 *     fault list
 *     disconnect [HUB]                  clean: offline presence (disconnect_command), DISCONNECT
 *     kill [HUB]                        drop TCP without DISCONNECT: the broker sends the will
 *     reconnect [HUB]                   connect again (if connected: drop abruptly, then connect)
 *     silent on|off [HUB]               stop / restart heartbeats and status; the link stays up
 *     skew MS [HUB]                     shift the hub clock
 *     clock-sync on|off [HUB]           off: clock_synced false, expiry by receipt + ttl_ms
 *     printer-offline PRINTER, printer-online PRINTER
 *     user-pause PRINTER, user-resume PRINTER       as if pressed on the printer (by: printer)
 *     printer-error PRINTER [CODE [MESSAGE]]        fail the job / put the printer in error
 *     discover-result [HUB] JSON-ARRAY|default      printers the next scans return
 *     discover-partial on|off [HUB]                 scans report complete: false
 *     intruder [HUB] VICTIM [WINDOW_MS]             probe VICTIM's topics; answers when done
 *     quit                              offline presence for every hub, then exit
 *
 * Fault SPEC: `KIND key=value ...` (values may be "double quoted") or a JSON object with "kind".
 *   Keys: hub printer action (exact, or a prefix ending in *) code message ms status pct layer at
 *   mode count (uses; default until cleared). Kinds:
 *     ACK rules     refuse [code message], timeout (alias drop: never ACK, not executed),
 *                   delay ms (process after ms; expiry checked then), late_ack [ms] (execute now,
 *                   ACK after ms, default ttl + 1 s), duplicate_ack, execute_then_refuse [code]
 *     job rules     fail_download mode=http|hash|size|interrupt [status at], fail_upload,
 *                   fail_start, fail_at pct=P|layer=L [code message]    (taken by print.start)
 *     toggles       stop_heartbeats (alias silent), skew_clock_ms ms, clock_unsynced,
 *                   discovery_partial, discovery_result (JSON form: "printers": [...])
 *     instant       printer_offline, printer_online, user_pause, user_resume, printer_error,
 *                   disconnect, kill, reconnect
 *
 * Logging: one line per significant event on stderr (--quiet: warnings only); --verbose adds one
 * line per MQTT message sent or received (secrets replaced by "***"). */
#include "hubsim.h"

#include "cfg.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct hs_sim hs;

static const char *const code_names[] = {
#define HS_CODE_NAME(n) #n,
	HS_CODES(HS_CODE_NAME)
#undef HS_CODE_NAME
};

const char *hs_code_name(enum hs_code c)
{
	return (unsigned)c < HC__COUNT ? code_names[c] : "INTERNAL";
}

/* ------------------------------------------------------------------------------- clocks */

int64_t hs_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hs_wall_ms(const struct hs_hub *h)
{
	return util_now_ms() + (h ? h->skew_ms : 0);
}

int64_t hs_sched_ms(void)
{
	return hs.pin ? hs_real_ms() : hs.sim_ms;
}

int64_t hs_hb_now(void)
{
	return hs.heartbeat_ms ? hs_real_ms() : hs_sched_ms();
}

int64_t hs_hb_every(void)
{
	return hs.heartbeat_ms ? hs.heartbeat_ms : HS_HEARTBEAT_MS;
}

int64_t hs_status_now(void)
{
	return hs.status_ms ? hs_real_ms() : hs_sched_ms();
}

int64_t hs_next_due(int64_t due, int64_t now, int64_t every)
{
	return due > 0 && now - due < every ? due + every : now + every;
}

uint64_t hs_rand(void)
{
	/* splitmix64: tiny, seedable, good enough for jitter */
	uint64_t z = (hs.rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double hs_rand01(void)
{
	return (double)(hs_rand() >> 11) / 9007199254740992.0;
}

struct hs_hub *hs_hub_find(const char *id)
{
	for (size_t i = 0; i < hs.nhubs; i++)
		if (strcmp(hs.hubs[i]->id, id) == 0)
			return hs.hubs[i];
	return NULL;
}

struct hs_printer *hs_printer_find(const char *id)
{
	for (size_t i = 0; i < hs.nhubs; i++)
		for (size_t j = 0; j < hs.hubs[i]->nprinters; j++)
			if (strcmp(hs.hubs[i]->printers[j]->id, id) == 0)
				return hs.hubs[i]->printers[j];
	return NULL;
}

const char *hs_jstr(const json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : def;
}

void hs_want_flush(void)
{
	hs.flush_wanted = true;
}

/* ------------------------------------------------------------------------------- options */

struct hub_arg {
	char *id, *password;
};

static struct settings {
	const char *conf;
	const char *mqtt_host;
	int mqtt_port;
	const char *mqtt_cafile;
	const char *cacert;
	const char *spool;
	const char *control_socket;
	const char *control_tcp;
	const char *scenario;
	const char *hub_lists[16];
	int nhub_lists;
	struct hub_arg cli_hubs[256];
	int ncli_hubs;
	const char *faults[64];
	int nfaults;
	char fault_buf[64][128]; /* shorthand options turned into fault specs */
} S;

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "apf-hubsim: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int add_fault_spec(const char *spec)
{
	if (S.nfaults == (int)(sizeof S.faults / sizeof S.faults[0]))
		return bad("too many faults (%s)", spec);
	S.faults[S.nfaults++] = spec;
	return 0;
}

static int add_fault_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int add_fault_fmt(const char *fmt, ...)
{
	va_list ap;
	if (S.nfaults == (int)(sizeof S.faults / sizeof S.faults[0]))
		return bad("too many faults (%s)", fmt);
	char *b = S.fault_buf[S.nfaults];
	va_start(ap, fmt);
	vsnprintf(b, sizeof S.fault_buf[0], fmt, ap);
	va_end(ap);
	return add_fault_spec(b);
}

static int o_hub(const char *a)
{
	if (S.ncli_hubs == (int)(sizeof S.cli_hubs / sizeof S.cli_hubs[0]))
		return bad("too many --hub options (%s); use --hub-list", a);
	S.cli_hubs[S.ncli_hubs++].id = (char *)a;
	return 0;
}
static int o_password(const char *a)
{
	if (S.ncli_hubs == 0 || S.cli_hubs[S.ncli_hubs - 1].password)
		return bad("--password must follow its --hub");
	S.cli_hubs[S.ncli_hubs - 1].password = (char *)a;
	return 0;
}
static int o_hub_list(const char *a)
{
	if (S.nhub_lists == (int)(sizeof S.hub_lists / sizeof S.hub_lists[0]))
		return bad("too many hub lists (%s)", a);
	S.hub_lists[S.nhub_lists++] = a;
	return 0;
}
static int o_scenario(const char *a) { S.scenario = a; return 0; }
static int o_conf(const char *a) { S.conf = a; return 0; }
static int o_mqtt_host(const char *a) { S.mqtt_host = a; return 0; }
static int o_mqtt_port(const char *a)
{
	double v;
	if (parse_num(a, 1, 65535, &v) < 0)
		return bad("--mqtt-port: not a port: %s", a);
	S.mqtt_port = (int)v;
	return 0;
}
static int o_mqtt_cafile(const char *a) { S.mqtt_cafile = a; return 0; }
static int o_mqtt_v5(const char *a) { (void)a; hs.mqtt_v5 = 1; return 0; }
static int o_cacert(const char *a) { S.cacert = a; return 0; }
static int o_spool(const char *a) { S.spool = a; return 0; }
static int o_time_scale(const char *a)
{
	double v;
	if (parse_num(a, 0.001, 10000, &v) < 0)
		return bad("--time-scale must be a number from 0.001 to 10000: %s", a);
	hs.scale = v;
	return 0;
}
static int o_manual(const char *a) { (void)a; hs.manual = true; return 0; }
static int o_pin(const char *a) { (void)a; hs.pin = true; return 0; }

/* Pinned intervals: the option, its scenario key (top level) and where it goes. The option wins
 * over the scenario. */
static const struct pinned {
	const char *option, *key;
	int64_t *ms;
} pinned[] = {
	{ "--status-interval", "status_interval_ms", &hs.status_ms },
	{ "--heartbeat-interval", "heartbeat_interval_ms", &hs.heartbeat_ms },
};

static int pin_bad(const char *where, const char *text)
{
	return bad("%s must be a whole number of milliseconds from %d to %d: %s", where,
		   HS_PINNED_MIN_MS, HS_PINNED_MAX_MS, text);
}

static int o_pinned(const struct pinned *p, const char *a)
{
	double v;
	if (parse_num(a, HS_PINNED_MIN_MS, HS_PINNED_MAX_MS, &v) < 0 || v != (double)(int64_t)v)
		return pin_bad(p->option, a);
	*p->ms = (int64_t)v;
	return 0;
}
static int o_status_interval(const char *a) { return o_pinned(&pinned[0], a); }
static int o_heartbeat_interval(const char *a) { return o_pinned(&pinned[1], a); }
static int o_max_printers(const char *a)
{
	double v;
	if (parse_num(a, 1, 100000, &v) < 0)
		return bad("--max-printers must be 1..100000: %s", a);
	hs.max_printers = (int)v;
	return 0;
}
static int o_control(const char *a) { S.control_tcp = a; return 0; }
static int o_control_socket(const char *a) { S.control_socket = a; return 0; }
static int o_seed(const char *a)
{
	double v;
	if (parse_num(a, 0, 9007199254740992.0, &v) < 0)
		return bad("--seed must be a non-negative integer: %s", a);
	hs.rng = (uint64_t)v;
	return 0;
}
static int o_fault(const char *a) { return add_fault_spec(a); }
static int o_ack_delay(const char *a)
{
	double v;
	if (parse_num(a, 0, 86400000, &v) < 0)
		return bad("--ack-delay: milliseconds expected: %s", a);
	return add_fault_fmt("delay ms=%s", a);
}
static int o_drop_acks(const char *a) { (void)a; return add_fault_fmt("timeout"); }
static int o_refuse(const char *a)
{
	char act[64], spec[128];
	const char *colon = strchr(a, ':');
	size_t n = colon ? (size_t)(colon - a) : strlen(a);
	if (n == 0 || n >= sizeof act)
		return bad("--refuse ACTION[:CODE]: %s", a);
	memcpy(act, a, n);
	act[n] = '\0';
	snprintf(spec, sizeof spec, "refuse action=%s%s%s", act, colon ? " code=" : "",
		 colon ? colon + 1 : "");
	return add_fault_fmt("%s", spec);
}
static int o_fail_at(const char *a)
{
	double v;
	if (parse_num(a, 0, 100, &v) < 0)
		return bad("--fail-at: a percentage 0..100 expected: %s", a);
	return add_fault_fmt("fail_at pct=%s", a);
}
static int o_silent(const char *a) { (void)a; return add_fault_fmt("stop_heartbeats"); }
static int o_dup_acks(const char *a) { (void)a; return add_fault_fmt("duplicate_ack"); }
static int o_late_ack(const char *a) { (void)a; return add_fault_fmt("late_ack"); }
static int o_intruder(const char *a)
{
	snprintf(hs.startup_intruder, sizeof hs.startup_intruder, "%s", a);
	return 0;
}
static int o_quiet(const char *a) { (void)a; hs.quiet = true; return 0; }
static int o_verbose(const char *a) { (void)a; hs.verbose = true; return 0; }
static int o_help(const char *a);

/* One row per option: the parser, the --help text and getopt's table all come from here. */
static const struct opt_row {
	const char *name;
	const char *arg;      /* NULL = no argument */
	int (*set)(const char *arg);
	const char *help;
} opts[] = {
	{ "hub", "HUB_ID", o_hub, "hub id = MQTT username = client id (repeatable, with --password)" },
	{ "password", "PW", o_password, "broker password of the preceding --hub (shown in the process list: prefer --hub-list)" },
	{ "hub-list", "FILE", o_hub_list, "more hubs, one \"HUB_ID PASSWORD\" per line (# comments)" },
	{ "hubs-file", "FILE", o_hub_list, "same as --hub-list" },
	{ "scenario", "FILE", o_scenario, "JSON scenario: hubs, printer hardware, discovery, faults" },
	{ "conf", "FILE", o_conf, "apf.conf (mqtt_host, mqtt_port, tls_cert); default $APF_CONF, var/apf.conf" },
	{ "mqtt-host", "HOST", o_mqtt_host, "broker host (default conf mqtt_host, else 127.0.0.1)" },
	{ "mqtt-port", "PORT", o_mqtt_port, "broker port (default conf mqtt_port, else 1883)" },
	{ "mqtt-cafile", "FILE", o_mqtt_cafile, "connect with TLS, verifying the broker against FILE" },
	{ "mqtt-v5", NULL, o_mqtt_v5, "speak MQTT 5 instead of 3.1.1" },
	{ "cacert", "FILE", o_cacert, "CA for HTTPS downloads (default conf tls_cert)" },
	{ "spool", "DIR", o_spool, "download folder (default: a private /tmp folder, removed at exit)" },
	{ "time-scale", "X", o_time_scale, "simulated seconds per real second (default 1; 60: 1 min/s)" },
	{ "manual-clock", NULL, o_manual, "simulated time moves only by the control command advance MS" },
	{ "pin-intervals", NULL, o_pin, "heartbeat/status intervals in real time (keeps a manual-clock hub fresh)" },
	{ "status-interval", "MS", o_status_interval, "each printer's status every MS real ms at any time scale (100..3600000)" },
	{ "heartbeat-interval", "MS", o_heartbeat_interval, "each hub's heartbeat every MS real ms at any time scale (100..3600000)" },
	{ "max-printers", "N", o_max_printers, "printers per hub (presence max_printers; default 5)" },
	{ "control", "HOST:PORT", o_control, "control channel on a loopback TCP port" },
	{ "control-socket", "PATH", o_control_socket, "control channel on a unix socket" },
	{ "seed", "N", o_seed, "seed of the reconnect jitter (default 1)" },
	{ "fault", "SPEC", o_fault, "a fault rule or toggle, as the control command `fault SPEC`" },
	{ "ack-delay", "MS", o_ack_delay, "= --fault 'delay ms=MS'" },
	{ "drop-acks", NULL, o_drop_acks, "= --fault timeout (never ACK, never execute)" },
	{ "refuse", "ACTION[:CODE]", o_refuse, "= --fault 'refuse action=ACTION code=CODE'" },
	{ "fail-at", "PCT", o_fail_at, "= --fault 'fail_at pct=PCT'" },
	{ "silent", NULL, o_silent, "= --fault stop_heartbeats (no heartbeats, no status)" },
	{ "duplicate-acks", NULL, o_dup_acks, "= --fault duplicate_ack" },
	{ "late-ack", NULL, o_late_ack, "= --fault late_ack (execute, ACK after ttl + 1 s)" },
	{ "intruder", "VICTIM", o_intruder, "once connected, probe hub VICTIM's topics; log the result" },
	{ "quiet", NULL, o_quiet, "log warnings and errors only" },
	{ "verbose", NULL, o_verbose, "also log every MQTT message sent and received" },
	{ "help", NULL, o_help, "this text" },
};
#define NOPTS (sizeof opts / sizeof opts[0])

static const char help_tail[] =
	"\nControl channel (--control-socket / --control): one command per line, one JSON line per\n"
	"answer ({\"ok\":true,...} or {\"ok\":false,\"error\":...}). HUB omitted or \"all\" =\n"
	"every hub (for intruder: the only hub). P = a printer_id.\n"
	"  help | status [HUB] | log [N] [HUB] | advance MS (tick MS) | quit\n"
	"  fault SPEC | fault clear all|ID|KIND [hub=H] [printer=P] | fault list\n"
	"  disconnect [HUB] | kill [HUB] | reconnect [HUB] | silent on|off [HUB]\n"
	"  skew MS [HUB] | clock-sync on|off [HUB]\n"
	"  printer-offline P | printer-online P | user-pause P | user-resume P\n"
	"  printer-error P [CODE [MESSAGE]]\n"
	"  discover-result [HUB] JSON-ARRAY|default | discover-partial on|off [HUB]\n"
	"  intruder [HUB] VICTIM [WINDOW_MS]\n"
	"\nFault SPEC: KIND key=value ... or {\"kind\":...}. Keys: hub printer action code message ms\n"
	"status pct layer at mode count. Kinds:\n"
	"  ACK rules  refuse, timeout (drop), delay ms=N, late_ack [ms=N], duplicate_ack,\n"
	"             execute_then_refuse\n"
	"  job rules  fail_download mode=http|hash|size|interrupt [status=N at=BYTES], fail_upload,\n"
	"             fail_start, fail_at pct=P|layer=L [code=C]\n"
	"  toggles    stop_heartbeats (silent), skew_clock_ms ms=N, clock_unsynced,\n"
	"             discovery_partial, discovery_result\n"
	"  instant    printer_offline, printer_online, user_pause, user_resume, printer_error,\n"
	"             disconnect, kill, reconnect\n"
	"Example: fault refuse action=print.pause code=PRINTER_BUSY count=1\n";

static void usage(FILE *f)
{
	fprintf(f, "usage: apf-hubsim --hub HUB_ID --password PW [--conf FILE] [options]\n\n"
		   "A simulated apf hub (or many) with simulated printers, speaking hub-protocol v1.\n\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char left[48];
		snprintf(left, sizeof left, "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
			 opts[i].arg ? opts[i].arg : "");
		fprintf(f, "  %-30s %s\n", left, opts[i].help);
	}
	fputs(help_tail, f);
}

static int o_help(const char *a)
{
	(void)a;
	usage(stdout);
	exit(0);
}

static int parse_args(int argc, char **argv)
{
	struct option lo[NOPTS + 1];
	for (size_t i = 0; i < NOPTS; i++)
		lo[i] = (struct option){ opts[i].name, opts[i].arg ? required_argument : no_argument,
					 NULL, (int)i + 256 };
	lo[NOPTS] = (struct option){ 0 };
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h')
			o_help(NULL);
		if (c < 256 || c >= 256 + (int)NOPTS) {
			fprintf(stderr, "apf-hubsim: unknown or incomplete option %s (see --help)\n",
				argv[optind - 1]);
			return -1;
		}
		if (opts[c - 256].set(optarg) < 0)
			return -1;
	}
	if (optind < argc)
		return bad("unexpected argument %s (see --help)", argv[optind]);
	return 0;
}

/* ------------------------------------------------------------------------------- hubs */

static struct hs_hub *hub_add(const char *id, const char *password, char *err, size_t errsz)
{
	size_t n = strlen(id);
	if (n == 0 || n >= HS_ID || strpbrk(id, "/+#") || strchr(id, ' ')) {
		snprintf(err, errsz, "hub id \"%s\": 1..36 characters, no / + # or spaces", id);
		return NULL;
	}
	if (!password || !*password) {
		snprintf(err, errsz, "hub %s has no password", id);
		return NULL;
	}
	if (hs_hub_find(id)) {
		snprintf(err, errsz, "hub %s is given twice", id);
		return NULL;
	}
	struct hs_hub *h = calloc(1, sizeof *h);
	struct hs_hub **nh = realloc(hs.hubs, (hs.nhubs + 1) * sizeof *nh);
	if (!h || !nh) {
		free(h);
		if (nh)
			hs.hubs = nh;
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	hs.hubs = nh;
	memcpy(h->id, id, n + 1);
	h->password = strdup(password);
	h->max_printers = hs.max_printers;
	if (!h->password || hub_init(h) < 0) {
		free(h->password);
		free(h);
		snprintf(err, errsz, "cannot create the MQTT client of hub %s", id);
		return NULL;
	}
	hs.hubs[hs.nhubs++] = h;
	return h;
}

static int load_hub_list(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return bad("cannot read hub list: %s", path);
	char line[1024], err[256];
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f)) {
		lineno++;
		char *save = NULL;
		char *id = strtok_r(line, " \t\r\n", &save);
		if (!id || *id == '#')
			continue;
		char *pw = strtok_r(NULL, " \t\r\n", &save);
		if (!hub_add(id, pw, err, sizeof err)) {
			fprintf(stderr, "apf-hubsim: %s line %d: %s\n", path, lineno, err);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

static int scenario_faults(const json_t *list, const char *hub_id)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		if (!json_is_object(v))
			return bad("scenario: a fault is not an object");
		json_t *o = json_deep_copy(v);
		if (hub_id && !json_object_get(o, "hub"))
			json_object_set_new(o, "hub", json_string(hub_id));
		char *txt = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		struct fault f;
		char err[256];
		int rc = txt ? fault_parse(txt, &f, err, sizeof err) : -1;
		free(txt);
		if (rc < 0)
			return bad("scenario fault: %s", err);
		json_t *ans = fault_apply(&f, true);
		int ok = json_is_true(json_object_get(ans, "ok"));
		if (!ok)
			bad("scenario fault: %s", hs_jstr(ans, "error", "?"));
		json_decref(ans);
		if (!ok)
			return -1;
	}
	return 0;
}

/* The scenario's pinned intervals (top-level keys), unless the command line gave them. */
static int scenario_pinned(const json_t *root, const char *path)
{
	for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
		const json_t *v = json_object_get(root, pinned[i].key);
		if (!v || *pinned[i].ms)
			continue;
		json_int_t ms = json_is_integer(v) ? json_integer_value(v) : -1;
		if (ms < HS_PINNED_MIN_MS || ms > HS_PINNED_MAX_MS) {
			char where[256], *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			snprintf(where, sizeof where, "scenario %s: \"%s\"", path, pinned[i].key);
			pin_bad(where, txt ? txt : "?");
			free(txt);
			return -1;
		}
		*pinned[i].ms = ms;
	}
	return 0;
}

static int load_scenario(const char *path)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		fprintf(stderr, "apf-hubsim: scenario %s:%d: %s\n", path, je.line, je.text);
		return -1;
	}
	int rc = -1;
	if (scenario_pinned(root, path) < 0)
		goto out;
	json_t *hubs = json_object_get(root, "hubs");
	if (!json_is_array(hubs)) {
		bad("scenario %s: \"hubs\" must be an array", path);
		goto out;
	}
	size_t i;
	json_t *hj;
	char err[256];
	json_array_foreach(hubs, i, hj) {
		const char *id = json_string_value(json_object_get(hj, "hub_id"));
		const char *pw = json_string_value(json_object_get(hj, "password"));
		struct hs_hub *h = id ? hub_add(id, pw, err, sizeof err) : NULL;
		if (!h) {
			fprintf(stderr, "apf-hubsim: scenario hub %zu: %s\n", i,
				id ? err : "hub_id missing");
			goto out;
		}
		snprintf(h->name, sizeof h->name, "%s", hs_jstr(hj, "name", ""));
		json_t *mp = json_object_get(hj, "max_printers");
		if (json_is_integer(mp) && json_integer_value(mp) > 0)
			h->max_printers = (int)json_integer_value(mp);
		json_t *printers = json_object_get(hj, "printers");
		size_t k;
		json_t *pj;
		h->hardware = json_object();
		json_array_foreach(printers, k, pj) {
			const char *pid = json_string_value(json_object_get(pj, "printer_id"));
			if (!pid) {
				bad("scenario hub %s: a printer has no printer_id", id);
				goto out;
			}
			json_object_set(h->hardware, pid, pj);
		}
		json_t *disc = json_object_get(hj, "discovery");
		if (json_is_array(disc))
			h->discovery_override = json_deep_copy(disc);
		if (scenario_faults(json_object_get(hj, "faults"), id) < 0)
			goto out;
	}
	rc = scenario_faults(json_object_get(root, "faults"), NULL);
out:
	json_decref(root);
	return rc;
}

/* ------------------------------------------------------------------------------- loop */

static ev_prepare prep;
static ev_timer tick, deadline;
static ev_signal sig_int, sig_term;
static int64_t last_misc;

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)w;
	(void)revents;
	if (hs.flush_wanted) {
		hs.flush_wanted = false;
		sim_flush();
	}
	bool sockets = hub_io_sync_all();
	if (hs.stopping && !sockets && !ctl_busy())
		ev_break(loop, EVBREAK_ALL);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	int64_t now = hs_real_ms();
	int64_t delta = now - hs.last_tick_real;
	hs.last_tick_real = now;
	bool advanced = false;
	if (!hs.manual && !hs.stopping) {
		double d = (double)delta * hs.scale + hs.sim_carry;
		int64_t step = (int64_t)d;
		hs.sim_carry = d - (double)step;
		advanced = step > 0;
		if (advanced)
			sim_advance(step);
	}
	/* real-time intervals are due whether or not the simulated clock moved */
	if (!advanced && !hs.stopping && (hs.pin || hs.status_ms || hs.heartbeat_ms))
		sim_periodic();
	if (now - last_misc >= 1000) {
		last_misc = now;
		for (size_t i = 0; i < hs.nhubs; i++)
			hub_keepalive(hs.hubs[i]);
	}
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	log_warn("shutdown: gave up waiting for the broker");
	ev_break(loop, EVBREAK_ALL);
}

void hs_stop(void)
{
	if (hs.stopping)
		return;
	hs.stopping = true;
	hs_info("stopping: offline presence for %zu hub(s)", hs.nhubs);
	for (size_t i = 0; i < hs.nhubs; i++) {
		struct hs_hub *h = hs.hubs[i];
		h->want_up = false;
		ev_timer_stop(hs.loop, &h->retry);
		if (h->connected)
			hub_disconnect(h, "shutdown");
		else
			hub_kill(h);
	}
	ev_timer_init(&deadline, deadline_cb, 3.0, 0.);
	ev_timer_start(hs.loop, &deadline);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	if (hs.stopping) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	hs_info("signal %d", w->signum);
	hs_stop();
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int setup(void)
{
	/* configuration: explicit --conf must load; the default path is optional */
	if (S.conf) {
		if (cfg_load(S.conf) < 0)
			return -1;
	} else {
		const char *p = getenv("APF_CONF");
		if (!p || !*p)
			p = "var/apf.conf";
		if (access(p, R_OK) == 0 && cfg_load(p) < 0)
			return -1;
	}
	snprintf(hs.mqtt_host, sizeof hs.mqtt_host, "%s",
		 S.mqtt_host ? S.mqtt_host : cfg_str("mqtt_host", "127.0.0.1"));
	hs.mqtt_port = S.mqtt_port ? S.mqtt_port : (int)cfg_int("mqtt_port", 1883);
	snprintf(hs.mqtt_cafile, sizeof hs.mqtt_cafile, "%s", S.mqtt_cafile ? S.mqtt_cafile : "");
	snprintf(hs.cacert, sizeof hs.cacert, "%s", S.cacert ? S.cacert : cfg_str("tls_cert", ""));
	if (S.spool) {
		snprintf(hs.spool, sizeof hs.spool, "%s", S.spool);
	} else {
		snprintf(hs.spool, sizeof hs.spool, "/tmp/apf-hubsim.XXXXXX");
		if (!mkdtemp(hs.spool))
			return bad("cannot create a spool folder under /tmp: %s", strerror(errno));
		hs.spool_owned = true;
	}
	char err[256];
	for (int i = 0; i < S.ncli_hubs; i++)
		if (!hub_add(S.cli_hubs[i].id, S.cli_hubs[i].password, err, sizeof err))
			return bad("%s", err);
	for (int i = 0; i < S.nhub_lists; i++)
		if (load_hub_list(S.hub_lists[i]) < 0)
			return -1;
	if (S.scenario && load_scenario(S.scenario) < 0)
		return -1;
	if (hs.nhubs == 0)
		return bad("no hub: give --hub HUB_ID --password PW, --hub-list or --scenario");
	for (int i = 0; i < S.nfaults; i++) {
		struct fault f;
		if (fault_parse(S.faults[i], &f, err, sizeof err) < 0)
			return bad("--fault: %s", err);
		json_t *ans = fault_apply(&f, true);
		int ok = json_is_true(json_object_get(ans, "ok"));
		if (!ok)
			bad("--fault: %s", hs_jstr(ans, "error", "?"));
		json_decref(ans);
		if (!ok)
			return -1;
	}
	if (S.control_socket && ctl_listen_unix(S.control_socket) < 0)
		return -1;
	if (S.control_tcp && ctl_listen_tcp(S.control_tcp) < 0)
		return -1;
	return 0;
}

static void teardown(void)
{
	for (size_t i = 0; i < hs.nhubs; i++)
		hub_free(hs.hubs[i]);
	free(hs.hubs);
	hs.hubs = NULL;
	hs.nhubs = 0;
	ctl_close_all();
	fault_free_all();
	cmd_log_free();
	dl_global_cleanup();
	if (hs.spool_owned)
		nftw(hs.spool, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	mosquitto_lib_cleanup();
}

static const char *interval_text(int64_t pinned_ms, const char *protocol, char buf[32])
{
	if (!pinned_ms)
		return protocol;
	snprintf(buf, 32, "%lld ms (real)", (long long)pinned_ms);
	return buf;
}

int main(int argc, char **argv)
{
	char status_txt[32], hb_txt[32];
	log_set_name("apf-hubsim");
	hs.scale = 1.0;
	hs.rng = 1;
	hs.max_printers = 5;
	if (parse_args(argc, argv) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	mosquitto_lib_init();
	hs.loop = ev_default_loop(EVFLAG_AUTO);
	if (!hs.loop || dl_global_init() < 0) {
		log_error("cannot initialise libev / libcurl");
		return 1;
	}
	if (setup() < 0) {
		teardown();
		return 2;
	}
	hs_info("%zu hub(s), broker %s:%d%s, time %s, status every %s, heartbeat every %s", hs.nhubs,
		hs.mqtt_host, hs.mqtt_port, hs.mqtt_cafile[0] ? " (TLS)" : "",
		hs.manual ? "manual" : "scaled", interval_text(hs.status_ms, "5/30 s", status_txt),
		interval_text(hs.heartbeat_ms, "30 s", hb_txt));

	ev_prepare_init(&prep, prepare_cb);
	ev_prepare_start(hs.loop, &prep);
	hs.last_tick_real = last_misc = hs_real_ms();
	ev_timer_init(&tick, tick_cb, 0.1, 0.1);
	ev_timer_start(hs.loop, &tick);
	ev_signal_init(&sig_int, signal_cb, SIGINT);
	ev_signal_start(hs.loop, &sig_int);
	ev_signal_init(&sig_term, signal_cb, SIGTERM);
	ev_signal_start(hs.loop, &sig_term);
	for (size_t i = 0; i < hs.nhubs; i++)
		hub_connect_now(hs.hubs[i]);

	ev_run(hs.loop, 0);

	ev_timer_stop(hs.loop, &tick);
	ev_timer_stop(hs.loop, &deadline);
	ev_prepare_stop(hs.loop, &prep);
	ev_signal_stop(hs.loop, &sig_int);
	ev_signal_stop(hs.loop, &sig_term);
	teardown();
	ev_loop_destroy(hs.loop);
	hs_info("stopped");
	return 0;
}
