/* t_control.c - the printer side of hub commands: GET /printers/{id}/status, POST
 * /printers/{id}/control (pause, resume, stop, clear_bed; mirrored onto the running job),
 * /light (fire-and-forget), /temperature, /filament/load, /filament/unload. Every success, every
 * refusal in decisions.md order (404 → 422 → NO_HUB_ASSIGNED → HUB_OFFLINE → INVALID_STATE → the
 * hub's outcome), scopes, tenancy, and the hub outcomes end to end: refused (503
 * HUB_COMMAND_FAILED), no ACK (504 HUB_TIMEOUT), hub killed mid-command (503 HUB_OFFLINE or 504),
 * heartbeats stopped for more than 2 minutes (HUB_OFFLINE) — each with the optimistic change
 * reverted.
 *
 * The hub is the real simulator (build/bin/apf-hubsim, one process per test, talking MQTT to the
 * stack's broker and worker) when it is built. When it is not (a stub), a stand-in "fake hub"
 * process answers the hub_commands rows in the database the way the worker records a hub's ACKs
 * (common/hubcmd.h), so the API side of the contract is still exercised; tests that need the
 * simulator's printer physics (a print failing at 40 %) are then skipped with a notice.
 * APF_TEST_HUB=fake|real forces a mode.
 *
 * This file also holds the rig used by t_jobs.c (account, keys, hub, printer, print file, hub
 * process): see the "rig" section; t_jobs.c declares the functions it uses. */
#include "apitest.h"

#include "cfg.h"
#include "hubcmd.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"
#define DEADLINE_MS 60000 /* generous: CI has two slow cores */
#define SIM_SCALE "20"

/* ============================================================================ hub process */

struct hubx {
	char hub[FX_ID];
	char password[96];
	char dir[80];       /* private folder: control socket, log, fake-hub files */
	char sock[100];
	pid_t pid;          /* simulator or fake hub, 0 when none */
	int real;
};

static int mode_cached = -1;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static const char *bin_dir(void)
{
	const char *b = getenv("APF_BIN");
	return b && *b ? b : "build/bin";
}

/* 1 when the simulator is built (its --help documents the control socket). */
int hx_real_mode(void)
{
	if (mode_cached >= 0)
		return mode_cached;
	const char *force = getenv("APF_TEST_HUB");
	if (force && strcmp(force, "fake") == 0)
		return mode_cached = 0;
	char cmd[1200], out[8192] = "";
	snprintf(cmd, sizeof cmd, "'%s/apf-hubsim' --help 2>&1", bin_dir());
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
	out[n] = '\0';
	if (p)
		pclose(p);
	mode_cached = strstr(out, "control-socket") != NULL;
	if (force && strcmp(force, "real") == 0)
		mode_cached = 1;
	if (!mode_cached)
		fprintf(stderr, "\n[t_control/t_jobs] apf-hubsim is not built: using the fake hub"
				" (database stand-in); simulator-only tests are skipped\n");
	return mode_cached;
}

/* --------------------------------------------------------------- fake hub (fallback) */

static const struct db_query Q_FK_ONLINE = {
	"UPDATE hubs SET is_online = 1, last_seen_at = NOW(3) WHERE id = ?"
};
static const struct db_query Q_FK_OFFLINE = { "UPDATE hubs SET is_online = 0 WHERE id = ?" };
static const struct db_query Q_FK_OPEN = {
	"SELECT command_id, action, params, expires_at <= NOW(3) FROM hub_commands"
	" WHERE hub_id = ? AND status IN ('pending', 'sent') ORDER BY issued_at"
};

/* The fault file holds one spec in the simulator's syntax: KIND [action=A] [code=C]. */
struct fake_fault {
	char kind[32], action[40], code[48];
};

static void fake_read(const char *dir, struct fake_fault *f)
{
	char path[256], line[256] = "";
	memset(f, 0, sizeof *f);
	snprintf(path, sizeof path, "%s/fault", dir);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return;
	if (!fgets(line, sizeof line, fp))
		line[0] = '\0';
	fclose(fp);
	char *save = NULL;
	for (char *t = strtok_r(line, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
		if (strncmp(t, "action=", 7) == 0)
			snprintf(f->action, sizeof f->action, "%s", t + 7);
		else if (strncmp(t, "code=", 5) == 0)
			snprintf(f->code, sizeof f->code, "%s", t + 5);
		else if (!f->kind[0])
			snprintf(f->kind, sizeof f->kind, "%s", t);
	}
}

static int fake_matches(const struct fake_fault *f, const char *action)
{
	size_t n = strlen(f->action);
	if (!n)
		return 1;
	if (f->action[n - 1] == '*')
		return strncmp(f->action, action, n - 1) == 0;
	return strcmp(f->action, action) == 0;
}

/* Child process: presence and heartbeats in the hubs row, and an ACK (or the fault's answer)
 * for every open command of the hub, recorded with hubcmd_finish as the worker does. */
static void fake_hub(const char *hub, const char *dir)
{
	struct db *db = db_open();
	int64_t last_hb = 0;
	int was_offline = 0;
	if (!db)
		_exit(1);
	for (;;) {
		struct fake_fault f;
		struct db_res res;
		if (getppid() == 1)
			_exit(0);
		fake_read(dir, &f);
		int offline = strcmp(f.kind, "kill") == 0 || strcmp(f.kind, "disconnect") == 0;
		int silent = strcmp(f.kind, "stop_heartbeats") == 0 || strcmp(f.kind, "silent") == 0;
		int64_t now = util_now_ms();
		if (offline && !was_offline)
			db_exec(db, &Q_FK_OFFLINE, DB_ARGS(DS(hub)), NULL);
		was_offline = offline;
		if (!offline && !silent && now - last_hb > 1000) {
			db_exec(db, &Q_FK_ONLINE, DB_ARGS(DS(hub)), NULL);
			last_hb = now;
		}
		if (db_exec(db, &Q_FK_OPEN, DB_ARGS(DS(hub)), &res) == E_OK) {
			for (unsigned long i = 0; i < res.nrows; i++) {
				const char *id = db_get(&res, i, 0), *action = db_get(&res, i, 1);
				int expired = db_get_int(&res, i, 3, 0) != 0, changed;
				int hit = fake_matches(&f, action);
				if (offline) {
					hubcmd_finish(db, id, "failed", "HUB_OFFLINE", "Hub disconnected",
						      NULL, 0, 0, &changed);
				} else if (hit && strcmp(f.kind, "refuse") == 0) {
					hubcmd_finish(db, id, "failed", f.code[0] ? f.code : "PRINTER_REJECTED",
						      "refused by the fake hub", NULL, 0, 0, &changed);
				} else if (hit && (strcmp(f.kind, "timeout") == 0 ||
						   strcmp(f.kind, "drop") == 0)) {
					if (expired)
						hubcmd_finish(db, id, "timeout", NULL, NULL, NULL, 0, 0,
							      &changed);
				} else {
					json_t *p = json_loads(db_get(&res, i, 2), 0, NULL);
					const char *tok = json_string_value(
						json_object_get(json_object_get(p, "file"), "token"));
					if (tok) { /* a hub keeps the download token: tests use it */
						char path[256];
						snprintf(path, sizeof path, "%s/token", dir);
						FILE *fp = fopen(path, "w");
						if (fp) {
							fputs(tok, fp);
							fclose(fp);
						}
					}
					json_decref(p);
					hubcmd_finish(db, id, "acked", "OK", NULL, NULL, now, now, &changed);
				}
			}
			db_res_free(&res);
		}
		sleep_ms(30);
	}
}

/* ------------------------------------------------------------------ simulator control */

/* Sends one control line to the simulator; *answer (may be NULL) receives its JSON answer. */
static int sim_line(const struct hubx *h, const char *line, json_t **answer)
{
	struct sockaddr_un sa;
	char buf[65536];
	size_t n = 0;
	if (answer)
		*answer = NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", h->sock);
	struct timeval tv = { 30, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	char msg[2048];
	int ml = snprintf(msg, sizeof msg, "%s\n", line);
	if (write(fd, msg, (size_t)ml) != ml) {
		close(fd);
		return -1;
	}
	while (n + 1 < sizeof buf) {
		ssize_t got = read(fd, buf + n, sizeof buf - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
		if (memchr(buf, '\n', n))
			break;
	}
	close(fd);
	buf[n] = '\0';
	json_t *j = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	int ok = json_is_true(json_object_get(j, "ok"));
	if (!ok)
		fprintf(stderr, "\nsimulator: `%s` -> %s\n", line, buf);
	if (answer)
		*answer = j;
	else
		json_decref(j);
	return ok ? 0 : -1;
}

/* A fault or instant command in the simulator's syntax ("refuse action=print.pause
 * code=PRINTER_REJECTED", "timeout action=print.*", "kill", "stop_heartbeats"). */
int hx_fault(struct hubx *h, const char *spec)
{
	if (h->real) {
		char line[512];
		snprintf(line, sizeof line, "fault %s", spec);
		return sim_line(h, line, NULL);
	}
	char path[256];
	snprintf(path, sizeof path, "%s/fault", h->dir);
	FILE *fp = fopen(path, "w");
	if (!fp)
		return -1;
	fprintf(fp, "%s\n", spec);
	fclose(fp);
	return 0;
}

int hx_clear(struct hubx *h)
{
	if (h->real)
		return sim_line(h, "fault clear all", NULL);
	return hx_fault(h, "ack");
}

/* The download token the hub received with its last print.start ("" when unknown). */
int hx_token(const struct hubx *h, char *out, size_t size)
{
	out[0] = '\0';
	if (h->real) {
		/* the simulator logs commands with secrets masked: the token never leaves it */
		return -1;
	}
	char path[256];
	snprintf(path, sizeof path, "%s/token", h->dir);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	if (!fgets(out, (int)size, fp))
		out[0] = '\0';
	fclose(fp);
	return out[0] ? 0 : -1;
}

/* Forks a process that runs the fault spec after ms (for "kill the hub mid-command"). */
pid_t hx_fault_later(struct hubx *h, const char *spec, long ms)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(ms);
		_exit(hx_fault(h, spec) == 0 ? 0 : 1);
	}
	return pid;
}

void hx_reap(pid_t pid)
{
	int st;
	if (pid > 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
}

/* GET /hubs/{id} says online and not stale. */
static int hub_live(const char *key, const char *hub)
{
	RESP(r);
	char path[128];
	snprintf(path, sizeof path, "/hubs/%s", hub);
	api("GET", path, key, NULL, &r);
	return r.status == 200 && jbool(rdata(&r), "is_online") == 1 &&
	       jbool(rdata(&r), "is_stale") == 0;
}

/* Starts the hub (simulator or fake) and waits until the API shows it online. */
int hx_start(struct hubx *h, const char *key)
{
	char tag[9];
	h->real = hx_real_mode();
	snprintf(h->dir, sizeof h->dir, "/tmp/apfhub-%s", fx_tag(tag)); /* short: a socket path */
	if (mkdir(h->dir, 0700) < 0) {
		CHECK(0, NULL, "mkdir %s: %s", h->dir, strerror(errno));
		return -1;
	}
	snprintf(h->sock, sizeof h->sock, "%s/ctl.sock", h->dir);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (!h->real)
			fake_hub(h->hub, h->dir);
		char logp[200], sim[1100];
		snprintf(logp, sizeof logp, "%s/sim.log", h->dir);
		snprintf(sim, sizeof sim, "%s/apf-hubsim", bin_dir());
		FILE *lf = freopen(logp, "w", stderr);
		if (lf)
			dup2(fileno(lf), 1);
		execl(sim, "apf-hubsim", "--hub", h->hub, "--password", h->password, "--conf",
		      cfg_path(), "--control-socket", h->sock, "--time-scale", SIM_SCALE,
		      (char *)NULL);
		_exit(127);
	}
	h->pid = pid;
	int64_t end = util_now_ms() + DEADLINE_MS;
	while (util_now_ms() < end) {
		if (hub_live(key, h->hub))
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			h->pid = 0;
			CHECK(0, NULL, "the hub process exited during start-up (log: %s/sim.log)", h->dir);
			return -1;
		}
		sleep_ms(200);
	}
	CHECK(0, NULL, "hub %s not online within %d s (log: %s/sim.log)", h->hub, DEADLINE_MS / 1000,
	      h->dir);
	return -1;
}

void hx_stop(struct hubx *h)
{
	if (h->pid > 0) {
		if (h->real)
			sim_line(h, "quit", NULL);
		else
			kill(h->pid, SIGTERM);
		for (int i = 0; i < 50 && waitpid(h->pid, NULL, WNOHANG) == 0; i++)
			sleep_ms(100);
		if (waitpid(h->pid, NULL, WNOHANG) == 0) {
			kill(h->pid, SIGKILL);
			hx_reap(h->pid);
		}
		h->pid = 0;
	}
	if (h->dir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", h->dir);
		h->dir[0] = '\0';
	}
}

/* ==================================================================================== rig */

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

static const struct db_query Q_FILE_INSERT = {
	"INSERT INTO print_files (id, account_id, name, file_format, storage_key, file_size_bytes,"
	" sha256, print_time_seconds, filament_weight_grams, filament_type, filament_color,"
	" printer_model_id, layer_count, metadata_status)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?, 12.5, 'PETG', '#00AE42', ?, 100, 'done')"
};
static const struct db_query Q_VERSION_INSERT = {
	"INSERT INTO print_file_versions (id, account_id, print_file_id, version_number,"
	" storage_key, file_size_bytes, sha256, is_current_version) VALUES (?, ?, ?, 1, ?, ?, ?, 1)"
};
static const struct db_query Q_RIG_JOB_STATE = {
	"UPDATE print_jobs SET status = ?, time_started = NOW(3) - INTERVAL 7 MINUTE,"
	" progress_percentage = 30 WHERE id = ?"
};
static const struct db_query Q_RIG_PRINTER_STATUS = {
	"UPDATE printers SET status = ? WHERE id = ?"
};

/* Rigs alive in the current test: a test that stops at a failed fixture step leaves its rigs
 * here, and the suites' teardown (rig_sweep) stops their hub processes and frees them. */
static struct rig *live_rigs[8];

struct rig *rig_new(void)
{
	struct rig *g = calloc(1, sizeof *g);
	if (!g)
		abort();
	for (size_t i = 0; i < sizeof live_rigs / sizeof live_rigs[0]; i++)
		if (!live_rigs[i]) {
			live_rigs[i] = g;
			break;
		}
	return g;
}

const char *rig_key(const struct rig *g) { return g->t.key; }
const char *rig_key_write(const struct rig *g) { return g->key_write; }
const char *rig_key_read(const struct rig *g) { return g->key_read; }
const char *rig_key_control(const struct rig *g) { return g->key_control; }
const char *rig_account(const struct rig *g) { return g->t.account; }
const char *rig_hub(const struct rig *g) { return g->hx.hub; }
const char *rig_printer(const struct rig *g) { return g->printer; }
const char *rig_file(const struct rig *g) { return g->file; }
const char *rig_version(const struct rig *g) { return g->version; }
const char *rig_store_key(const struct rig *g) { return g->store_key; }
struct hubx *rig_hubx(struct rig *g) { return &g->hx; }

/* A print file of the account: object in the file store, row and current version.
 * print_s: the print time the file states; model_id: printer_model_id (NULL = none). */
int rig_add_file(struct rig *g, const char *name, const char *model_id, long print_s,
		 char id[FX_ID], char version[FX_ID], char key[256])
{
	char path[1024], sha[SHA256_HEX_LEN + 1], text[4096];
	util_uuid(id);
	util_uuid(version);
	snprintf(key, 256, "%s/%s/%s", g->t.account, id, name);
	const char *store = cfg_str("file_store", NULL);
	if (!store)
		return CHECK(0, NULL, "file_store missing in the configuration") - 1;
	/* a small but real G-code body; the printer-side duration comes from the params */
	size_t n = 0;
	n += (size_t)snprintf(text + n, sizeof text - n,
			      "; generated by apf tests\n; estimated printing time (normal mode) = %ldm"
			      " 0s\n; total layer number: 100\nG28\n",
			      print_s / 60);
	for (int i = 0; i < 100 && n < sizeof text - 40; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "G1 X%d Y%d E0.%02d\n", i, i, i);
	snprintf(path, sizeof path, "%s/%s/%s", store, g->t.account, id);
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
	if (system(cmd) != 0)
		return CHECK(0, NULL, "cannot create %s", path) - 1;
	snprintf(path, sizeof path, "%s/%s", store, key);
	FILE *fp = fopen(path, "w");
	if (!fp || fwrite(text, 1, n, fp) != n) {
		if (fp)
			fclose(fp);
		return CHECK(0, NULL, "cannot write %s", path) - 1;
	}
	fclose(fp);
	util_sha256_hex(text, n, sha);
	const char *dot = strrchr(name, '.');
	if (FX_SQL(Q_FILE_INSERT, DS(id), DS(g->t.account), DS(name),
		   DS(dot && strcmp(dot, ".3mf") == 0 ? "3mf" : "gcode"), DS(key), DI(n), DS(sha),
		   DI(print_s), DS(model_id)) < 0 ||
	    FX_SQL(Q_VERSION_INSERT, DS(version), DS(g->t.account), DS(id), DS(key), DI(n), DS(sha)) < 0)
		return -1;
	return 0;
}

/* Account, keys, hub (with its MQTT account), one printer of `model`, one print file sliced for
 * BL-P001 (X1 Carbon). with_hub: start the hub process and wait until it is online. */
int rig_make(struct rig *g, const char *model, int with_hub)
{
	char tag[9], name[64];
	if (fx_tenant(&g->t, "read,write,control") < 0 ||
	    fx_tenant_key(&g->t, "write", g->key_write) < 0 ||
	    fx_tenant_key(&g->t, "read", g->key_read) < 0 ||
	    fx_tenant_key(&g->t, "control", g->key_control) < 0)
		return -1;
	snprintf(name, sizeof name, "rig hub %s", fx_tag(tag));
	json_t *hub = FX_ADMIN("hub", "create", "--account", g->t.account, "--name", name);
	const char *id = jstr(hub, "id"), *pw = jstr(hub, "mqtt_password");
	if (!id || !pw) {
		json_decref(hub);
		return CHECK(0, NULL, "apf-admin hub create gave no id / mqtt_password") - 1;
	}
	snprintf(g->hx.hub, sizeof g->hx.hub, "%s", id);
	snprintf(g->hx.password, sizeof g->hx.password, "%s", pw);
	json_decref(hub);
	snprintf(name, sizeof name, "Rig printer %s", fx_tag(tag));
	if (fx_printer(g->t.account, g->hx.hub, name, model, g->printer) < 0)
		return -1;
	if (rig_add_file(g, "bracket.gcode", "BL-P001", 3600, g->file, g->version, g->store_key) < 0)
		return -1;
	return with_hub ? hx_start(&g->hx, g->t.key) : 0;
}

void rig_free(struct rig *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < sizeof live_rigs / sizeof live_rigs[0]; i++)
		if (live_rigs[i] == g)
			live_rigs[i] = NULL;
	hx_stop(&g->hx);
	free(g);
}

void rig_sweep(void)
{
	for (size_t i = 0; i < sizeof live_rigs / sizeof live_rigs[0]; i++)
		if (live_rigs[i])
			rig_free(live_rigs[i]);
}

/* Enqueues a job of the rig's file on printer (NULL = unassigned) through the API. */
int rig_job(struct rig *g, const char *printer, const char *extra_json, char job[FX_ID])
{
	RESP(r);
	char body[1024];
	snprintf(body, sizeof body, "{\"print_file_id\": \"%s\"%s%s%s%s%s}", g->file,
		 printer ? ", \"printer_id\": \"" : "", printer ? printer : "", printer ? "\"" : "",
		 extra_json ? ", " : "", extra_json ? extra_json : "");
	api("POST", "/jobs", g->t.key, body, &r);
	if (!EXPECT(r, 201, NULL) || !jstr(rdata(&r), "id"))
		return -1;
	snprintf(job, FX_ID, "%s", jstr(rdata(&r), "id"));
	return 0;
}

/* GET path's data member `field` as a string into out. */
static int get_field(const char *key, const char *path, const char *field, char *out,
		     size_t size)
{
	RESP(r);
	out[0] = '\0';
	api("GET", path, key, NULL, &r);
	if (r.status != 200)
		return -1;
	const json_t *v = json_object_get(rdata(&r), field);
	if (json_is_string(v))
		snprintf(out, size, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(out, size, "%lld", (long long)json_integer_value(v));
	else if (json_is_null(v) || !v)
		snprintf(out, size, "null");
	return 0;
}

/* Waits until GET path's `field` equals want (string compare; numbers as decimal). */
int rig_wait_field(const char *key, const char *path, const char *field, const char *want,
		   long ms)
{
	char got[256] = "";
	int64_t end = util_now_ms() + ms;
	do {
		if (get_field(key, path, field, got, sizeof got) == 0 && strcmp(got, want) == 0)
			return 0;
		sleep_ms(150);
	} while (util_now_ms() < end);
	CHECK(0, NULL, "GET %s: %s stayed \"%s\", want \"%s\" (waited %ld ms)", path, field, got,
	      want, ms);
	return -1;
}

static const char *jpath(const char *id)
{
	static char buf[4][128];
	static int slot;
	char *b = buf[slot++ & 3];
	snprintf(b, sizeof buf[0], "/jobs/%s", id);
	return b;
}

static const char *ppath(const char *id, const char *suffix)
{
	static char buf[8][160];
	static int slot;
	char *b = buf[slot++ & 7];
	snprintf(b, sizeof buf[0], "/printers/%s%s", id, suffix ? suffix : "");
	return b;
}

/* A job printing on the rig's printer. With the simulator: enqueued, started through the API,
 * downloaded by the hub and printing with progress (so the printer can really be paused).
 * With the fake hub: the job and printer states are set in the database. */
int rig_printing(struct rig *g, char job[FX_ID])
{
	if (rig_job(g, g->printer, NULL, job) < 0)
		return -1;
	if (!g->hx.real || !g->hx.pid) {
		if (FX_SQL(Q_RIG_JOB_STATE, DS("printing"), DS(job)) < 0 ||
		    FX_SQL(Q_RIG_PRINTER_STATUS, DS("printing"), DS(g->printer)) < 0)
			return -1;
		return 0;
	}
	RESP(r);
	char path[160];
	snprintf(path, sizeof path, "/jobs/%s/start", job);
	api("POST", path, g->t.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return -1;
	if (rig_wait_field(g->t.key, jpath(job), "status", "printing", DEADLINE_MS) < 0)
		return -1;
	/* past heating: progress moves (1 % = 36 s simulated) */
	int64_t end = util_now_ms() + DEADLINE_MS;
	char got[32] = "";
	while (util_now_ms() < end) {
		if (get_field(g->t.key, ppath(g->printer, "/status"), "progress", got, sizeof got) == 0 &&
		    strcmp(got, "null") != 0 && atoi(got) >= 1)
			return rig_wait_field(g->t.key, ppath(g->printer, NULL), "status", "printing",
					      DEADLINE_MS);
		sleep_ms(250);
	}
	return CHECK(0, NULL, "the print on %s made no progress", g->printer) - 1;
}

/* ============================================================================ the tests */

static const char *const STATUS_KEYS[] = {
	"printer_id", "hub_online", "status", "progress", "nozzle_temp", "bed_temp",
	"chamber_temp", "target_nozzle_temp", "target_bed_temp", "layer_num", "total_layers",
	"remaining_time_minutes", "current_job_id", "current_color", "current_color_hex",
	"current_filament_type", "last_telemetry_at", NULL
};
static const char *const LIVE_KEYS[] = {
	"progress", "nozzle_temp", "bed_temp", "chamber_temp", "target_nozzle_temp",
	"target_bed_temp", "layer_num", "total_layers", "remaining_time_minutes", NULL
};
static const char *const CONTROL_KEYS[] = { "printer_id", "action", "status", "command_id", NULL };

static const struct db_query Q_LIVE_ROW = {
	"INSERT INTO printer_live_status (printer_id, status, progress, nozzle_temp,"
	" target_nozzle_temp, bed_temp, target_bed_temp, chamber_temp, layer_num, total_layers,"
	" remaining_time_seconds, received_at) VALUES (?, 'printing', 42, 219.8, 220, 59.9, 60, 31,"
	" 54, 128, 721, NOW(3))"
	" ON DUPLICATE KEY UPDATE progress = 42, nozzle_temp = 219.8, received_at = NOW(3)"
};
static const struct db_query Q_NO_HUB = { "UPDATE printers SET hub_id = NULL WHERE id = ?" };
static const struct db_query Q_STALE = {
	"UPDATE hubs SET last_seen_at = NOW(3) - INTERVAL 3 MINUTE WHERE id = ?"
};
static const struct db_query Q_CLEARED = { "SELECT cleared FROM printers WHERE id = ?" };
static const struct db_query Q_SET_CLEARED = { "UPDATE printers SET cleared = ? WHERE id = ?" };
static const struct db_query Q_PSTATUS = { "SELECT status FROM printers WHERE id = ?" };
static const struct db_query Q_JSTATUS = { "SELECT status FROM print_jobs WHERE id = ?" };
static const struct db_query Q_CMD_OF = {
	"SELECT CONCAT(action, '|', expect_ack, '|', IFNULL(JSON_EXTRACT(params, '$.on'), ''), '|',"
	" IFNULL(JSON_UNQUOTE(JSON_EXTRACT(params, '$.job_id')), ''))"
	" FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_CMD_PARAMS = {
	"SELECT params FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_FILAMENT = {
	"UPDATE printers SET current_color = 'Red', current_color_hex = '#FF0000',"
	" current_filament_type = 'PLA' WHERE id = ?"
};
static const struct db_query Q_FILAMENT_OF = {
	"SELECT CONCAT(IFNULL(current_color, '~'), '|', IFNULL(current_filament_type, '~'))"
	" FROM printers WHERE id = ?"
};
static const struct db_query Q_CMD_COUNT = {
	"SELECT COUNT(*) FROM hub_commands WHERE printer_id = ?"
};

#define PRINTER_IS(id, want) DB_IS(&Q_PSTATUS, id, want)
#define JOB_IS(id, want) DB_IS(&Q_JSTATUS, id, want)

/* Waits (the worker reverts after the API answered) until a stored status equals want. */
#define PRINTER_BECOMES(id, want) DB_BECOMES(&Q_PSTATUS, id, want, 30000)
#define JOB_BECOMES(id, want) DB_BECOMES(&Q_JSTATUS, id, want, 30000)

static long post(const char *path, const char *key, const char *body, struct resp *r)
{
	return api("POST", path, key, body, r);
}

/* As post, but while the hub answers PRINTER_BUSY (a filament change still feeding) the request
 * is repeated, as a client would, for up to 60 s. */
static long post_when_free(const char *path, const char *key, const char *body, struct resp *r)
{
	int64_t end = util_now_ms() + DEADLINE_MS;
	for (;;) {
		post(path, key, body, r);
		const char *e = r->status == 503 ? jstr(r->json, "error") : NULL;
		if (!e || !strstr(e, "PRINTER_BUSY") || util_now_ms() > end)
			return r->status;
		sleep_ms(300);
	}
}

/* --------------------------------------------------------------------------- status */

static void test_status_offline_and_no_hub(void)
{
	struct rig *g = rig_new();
	RESP(r);
	FX(rig_make(g, "X1 Carbon", 0));
	FX(FX_SQL(Q_LIVE_ROW, DS(g->printer)));
	FX(FX_SQL(Q_FILAMENT, DS(g->printer)));
	/* hub never connected: hub_online false, every live field null, stored fields kept */
	api("GET", ppath(g->printer, "/status"), g->key_read, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, STATUS_KEYS, &r);
		STR_EQ(jstr(d, "printer_id"), g->printer, &r);
		INT_EQ(jbool(d, "hub_online"), 0, &r);
		STR_EQ(jstr(d, "status"), "offline", &r);
		for (int i = 0; LIVE_KEYS[i]; i++)
			CHECK(json_is_null(json_object_get(d, LIVE_KEYS[i])), &r, "%s is null offline",
			      LIVE_KEYS[i]);
		STR_EQ(jstr(d, "current_color"), "Red", &r);
		STR_EQ(jstr(d, "current_filament_type"), "PLA", &r);
		CHECK(is_iso_ms(jstr(d, "last_telemetry_at")), &r, "last_telemetry_at is stored data");
		CHECK(json_is_null(json_object_get(d, "current_job_id")), &r, "no job");
	}
	/* stale heartbeat (hub flag online, last seen 3 min ago): offline too */
	FX(fx_hub_online(g->hx.hub, 180));
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "hub_online"), 0, &r);
		CHECK(json_is_null(json_object_get(rdata(&r), "nozzle_temp")), &r, "null when stale");
	}
	/* fresh heartbeat: the stored telemetry is shown */
	FX(fx_hub_online(g->hx.hub, 0));
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		INT_EQ(jbool(d, "hub_online"), 1, &r);
		INT_EQ(jint(d, "progress"), 42, &r);
		INT_EQ(jint(d, "layer_num"), 54, &r);
		INT_EQ(jint(d, "total_layers"), 128, &r);
		INT_EQ(jint(d, "remaining_time_minutes"), 13, &r); /* 721 s rounded up */
		CHECK(json_number_value(json_object_get(d, "nozzle_temp")) > 219.7 &&
			      json_number_value(json_object_get(d, "nozzle_temp")) < 219.9,
		      &r, "nozzle_temp 219.8");
		CHECK(json_is_number(json_object_get(d, "target_bed_temp")), &r, "target_bed_temp");
	}
	/* a printer without a hub: hub_online false */
	FX(FX_SQL(Q_NO_HUB, DS(g->printer)));
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jbool(rdata(&r), "hub_online"), 0, &r);
	api("GET", ppath(NO_SUCH_ID, "/status"), g->t.key, NULL, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	api("GET", ppath("not-a-uuid", "/status"), g->t.key, NULL, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	api("GET", ppath(g->printer, "/status"), g->key_write, NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	rig_free(g);
}

/* With a live hub the simulator's telemetry reaches the status endpoint; the running job is
 * named. */
static void test_status_live(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	if (!g->hx.real)
		FX(FX_SQL(Q_LIVE_ROW, DS(g->printer)));
	int64_t end = util_now_ms() + DEADLINE_MS;
	do {
		api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
		if (r.status == 200 && json_is_number(json_object_get(rdata(&r), "nozzle_temp")))
			break;
		sleep_ms(250);
	} while (util_now_ms() < end);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), STATUS_KEYS, &r);
		INT_EQ(jbool(rdata(&r), "hub_online"), 1, &r);
		CHECK(json_is_number(json_object_get(rdata(&r), "nozzle_temp")), &r,
		      "telemetry shows a nozzle temperature");
		CHECK(is_iso_ms(jstr(rdata(&r), "last_telemetry_at")), &r, "last_telemetry_at");
	}
	FX(rig_printing(g, job));
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "current_job_id"), job, &r);
		STR_EQ(jstr(rdata(&r), "status"), "printing", &r);
	}
	rig_free(g);
}

/* -------------------------------------------------------------------- refusal order */

static void test_control_refusals(void)
{
	struct rig *g = rig_new();
	struct tenant other;
	RESP(r);
	char nohub[FX_ID], tag[9], name[64];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(fx_tenant(&other, "read,write,control"));
	const char *ctl = ppath(g->printer, "/control");

	/* 404 beats 422: unknown id, non-UUID id, another account's printer */
	post(ppath(NO_SUCH_ID, "/control"), g->t.key, "{\"action\": \"dance\"}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	post(ppath("12345", "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	post(ctl, other.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	/* 422 beats NO_HUB_ASSIGNED / HUB_OFFLINE */
	post(ctl, g->t.key, "{}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "action"), &r, "details name action");
	post(ctl, g->t.key, "{\"action\": \"dance\"}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	post(ctl, g->t.key, "{\"action\": 7}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	post(ctl, g->t.key, "{\"action\": ", &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	/* NO_HUB_ASSIGNED beats HUB_OFFLINE and INVALID_STATE */
	snprintf(name, sizeof name, "No hub %s", fx_tag(tag));
	FX(fx_printer(g->t.account, g->hx.hub, name, "X1 Carbon", nohub));
	FX(FX_SQL(Q_NO_HUB, DS(nohub)));
	post(ppath(nohub, "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 400, "NO_HUB_ASSIGNED");
	post(ppath(nohub, "/control"), g->t.key, "{\"action\": \"dance\"}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	/* HUB_OFFLINE (never seen) beats INVALID_STATE (pausing an idle printer) */
	post(ctl, g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	/* stale: flag online but no heartbeat for 3 minutes */
	FX(fx_hub_online(g->hx.hub, 180));
	post(ctl, g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	/* live hub, wrong state: INVALID_STATE and nothing sent */
	FX(fx_hub_online(g->hx.hub, 0));
	post(ctl, g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");
	post(ctl, g->t.key, "{\"action\": \"resume\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");
	post(ctl, g->t.key, "{\"action\": \"stop\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");
	FX(fx_printer_status(g->printer, "printing"));
	post(ctl, g->t.key, "{\"action\": \"clear_bed\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");
	post(ctl, g->t.key, "{\"action\": \"resume\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");
	PRINTER_IS(g->printer, "printing");
	char n[16];
	FX(FX_TEXT(n, Q_CMD_COUNT, DS(g->printer)));
	STR_EQ(n, "0", NULL);
	rig_free(g);
}

/* Scopes: control routes need control (403 with a write or read key); status needs read. */
static void test_control_scopes(void)
{
	struct rig *g = rig_new();
	RESP(r);
	FX(rig_make(g, "X1 Carbon", 0));
	static const char *const routes[] = { "/control", "/light", "/temperature",
					      "/filament/load", "/filament/unload" };
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		post(ppath(g->printer, routes[i]), g->key_write, "{}", &r);
		EXPECT(r, 403, "INSUFFICIENT_SCOPE");
		post(ppath(g->printer, routes[i]), g->key_read, "{}", &r);
		EXPECT(r, 403, "INSUFFICIENT_SCOPE");
		/* a control key alone passes the scope check (then: the offline hub / validation) */
		post(ppath(g->printer, routes[i]), g->key_control, "{}", &r);
		CHECK(r.status == 422 || r.status == 503, &r, "control key passes the scope check");
	}
	api("GET", ppath(g->printer, "/status"), g->key_control, NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	rig_free(g);
}

/* ---------------------------------------------------------------- control with a hub */

static void test_control_pause_resume_stop(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID], cmd[256];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	const char *ctl = ppath(g->printer, "/control");

	/* the stored printer status is the hub's to report: a status sent just before the command
	 * may land after it, so the printer's status is awaited, the job's is immediate */
	post(ctl, g->key_control, "{\"action\": \"pause\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), CONTROL_KEYS, &r);
		STR_EQ(jstr(rdata(&r), "printer_id"), g->printer, &r);
		STR_EQ(jstr(rdata(&r), "action"), "pause", &r);
		STR_EQ(jstr(rdata(&r), "status"), "paused", &r);
		CHECK(util_is_uuid(jstr(rdata(&r), "command_id")), &r, "command_id is a UUID");
		if (FX_TEXT(cmd, Q_CMD_OF, DS(jstr(rdata(&r), "command_id"))) == 0) {
			char want[128];
			snprintf(want, sizeof want, "print.pause|1||%s", job);
			STR_EQ(cmd, want, &r); /* awaited, carries the mirrored job */
		}
	}
	PRINTER_BECOMES(g->printer, "paused");
	JOB_IS(job, "paused"); /* the job follows its printer */
	post(ctl, g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 400, "INVALID_STATE");

	post(ctl, g->t.key, "{\"action\": \"resume\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "printing", &r);
	PRINTER_BECOMES(g->printer, "printing");
	JOB_IS(job, "printing");

	post(ctl, g->t.key, "{\"action\": \"stop\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "idle", &r);
	PRINTER_BECOMES(g->printer, "idle");
	JOB_IS(job, "cancelled");
	api("GET", jpath(job), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(is_iso_ms(jstr(rdata(&r), "time_completed")), &r, "stop stamps time_completed");
	rig_free(g);
}

static void test_clear_bed(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char v[8];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(FX_SQL(Q_SET_CLEARED, DI(0), DS(g->printer)));
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"clear_bed\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "action"), "clear_bed", &r);
		STR_EQ(jstr(rdata(&r), "status"), "idle", &r);
	}
	if (FX_TEXT(v, Q_CLEARED, DS(g->printer)) == 0)
		STR_EQ(v, "1", NULL);
	/* refused by the hub: the cleared flag is restored */
	FX(FX_SQL(Q_SET_CLEARED, DI(0), DS(g->printer)));
	FX(hx_fault(&g->hx, "refuse action=bed.clear code=PRINTER_REJECTED"));
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"clear_bed\"}", &r);
	EXPECT(r, 503, "HUB_COMMAND_FAILED");
	if (FX_TEXT(v, Q_CLEARED, DS(g->printer)) == 0)
		STR_EQ(v, "0", NULL);
	rig_free(g);
}

/* The hub refuses: 503 HUB_COMMAND_FAILED naming the hub's code; printer and job reverted. */
static void test_control_refused(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	FX(hx_fault(&g->hx, "refuse action=print.pause code=PRINTER_REJECTED"));
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	if (EXPECT(r, 503, "HUB_COMMAND_FAILED"))
		CHECK(strstr(jstr(r.json, "error"), "PRINTER_REJECTED"), &r, "names the hub's code");
	PRINTER_BECOMES(g->printer, "printing");
	JOB_BECOMES(job, "printing");
	/* and the job endpoint the same */
	post(jpath(job), g->t.key, NULL, &r); /* 405: POST on /jobs/{id} */
	EXPECT(r, 405, "METHOD_NOT_ALLOWED");
	char p[160];
	snprintf(p, sizeof p, "/jobs/%s/pause", job);
	post(p, g->t.key, NULL, &r);
	EXPECT(r, 503, "HUB_COMMAND_FAILED");
	JOB_BECOMES(job, "printing");
	PRINTER_BECOMES(g->printer, "printing");
	rig_free(g);
}

/* No ACK: 504 HUB_TIMEOUT after the command's timeout; the worker reverts. */
static void test_control_timeout(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	FX(hx_fault(&g->hx, "timeout action=print.pause"));
	int64_t t0 = util_now_ms();
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 504, "HUB_TIMEOUT");
	CHECK(util_now_ms() - t0 >= 9000, &r, "waited for the 10 s ACK timeout");
	PRINTER_BECOMES(g->printer, "printing");
	JOB_BECOMES(job, "printing");
	rig_free(g);
}

/* The hub dies while the API waits: 503 HUB_OFFLINE (lost, reported by the broker's will) or
 * 504 (not noticed before the timeout); either way reverted. */
static void test_control_hub_killed(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char job[FX_ID];
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	FX(hx_fault(&g->hx, "timeout action=print.pause"));
	pid_t k = hx_fault_later(&g->hx, "kill", 1500);
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	hx_reap(k);
	CHECK((r.status == 503 && strcmp(jstr(r.json, "code"), "HUB_OFFLINE") == 0) ||
		      (r.status == 504 && strcmp(jstr(r.json, "code"), "HUB_TIMEOUT") == 0),
	      &r, "503 HUB_OFFLINE or 504 HUB_TIMEOUT");
	JOB_BECOMES(job, "printing");
	/* the hub is gone: the printer shows offline, new commands are refused at once */
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"pause\"}", &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "hub_online"), 0, &r);
		STR_EQ(jstr(rdata(&r), "status"), "offline", &r);
	}
	rig_free(g);
}

/* Heartbeats stop (the link stays up); once the last one is over 2 minutes old the hub counts
 * as offline. The 2 minutes are shortened by moving last_seen_at back. */
static void test_heartbeats_stopped(void)
{
	struct rig *g = rig_new();
	RESP(r);
	FX(rig_make(g, "X1 Carbon", 1));
	FX(hx_fault(&g->hx, "stop_heartbeats"));
	sleep_ms(1500); /* a heartbeat already in flight lands first */
	FX(FX_SQL(Q_STALE, DS(g->hx.hub)));
	post(ppath(g->printer, "/control"), g->t.key, "{\"action\": \"clear_bed\"}", &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	post(ppath(g->printer, "/light"), g->t.key, "{\"state\": true}", &r);
	EXPECT(r, 503, "HUB_OFFLINE");
	api("GET", ppath(g->printer, "/status"), g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jbool(rdata(&r), "hub_online"), 0, &r);
	char n[16];
	FX(FX_TEXT(n, Q_CMD_COUNT, DS(g->printer)));
	STR_EQ(n, "0", NULL);
	rig_free(g);
}

/* ---------------------------------------------------------------------------- light */

static void test_light(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char cmd[256];
	static const char *const keys[] = { "printer_id", "state", "command_id", NULL };
	FX(rig_make(g, "X1 Carbon", 1));
	const char *lp = ppath(g->printer, "/light");
	static const struct {
		const char *body;
		int on;
	} ok[] = { { "{\"state\": true}", 1 }, { "{\"state\": false}", 0 },
		   { "{\"state\": \"on\"}", 1 }, { "{\"state\": \"off\"}", 0 } };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		post(lp, g->key_control, ok[i].body, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		KEYS(rdata(&r), keys, &r);
		INT_EQ(jbool(rdata(&r), "state"), ok[i].on, &r);
		if (FX_TEXT(cmd, Q_CMD_OF, DS(jstr(rdata(&r), "command_id"))) == 0)
			STR_EQ(cmd, ok[i].on ? "light.set|0|true|" : "light.set|0|false|", &r);
	}
	static const char *const bad[] = { "{}", "{\"state\": \"yes\"}", "{\"state\": 1}",
					   "{\"state\": null}", "{\"state\": \"ON\"}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		post(lp, g->t.key, bad[i], &r);
		if (EXPECT(r, 422, "VALIDATION_ERROR"))
			CHECK(rdetail(&r, "state"), &r, "details name state");
	}
	/* fire-and-forget: a hub that never ACKs does not hold the request */
	FX(hx_fault(&g->hx, "timeout action=light.set"));
	int64_t t0 = util_now_ms();
	post(lp, g->t.key, "{\"state\": true}", &r);
	EXPECT(r, 200, NULL);
	CHECK(util_now_ms() - t0 < 5000, &r, "answered without waiting for an ACK");
	post(ppath(NO_SUCH_ID, "/light"), g->t.key, "{\"state\": true}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	FX(FX_SQL(Q_NO_HUB, DS(g->printer)));
	post(lp, g->t.key, "{\"state\": true}", &r);
	EXPECT(r, 400, "NO_HUB_ASSIGNED");
	rig_free(g);
}

/* ----------------------------------------------------------------------- temperature */

static void test_temperature(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char params[512];
	static const char *const keys[] = { "printer_id", "heater", "temperature", "command_id",
					     NULL };
	FX(rig_make(g, "X1 Carbon", 1));
	const char *tp = ppath(g->printer, "/temperature");
	post(tp, g->t.key, "{\"heater\": \"nozzle\", \"temperature\": 210}", &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), keys, &r);
		STR_EQ(jstr(rdata(&r), "heater"), "nozzle", &r);
		INT_EQ(jint(rdata(&r), "temperature"), 210, &r);
		if (FX_TEXT(params, Q_CMD_PARAMS, DS(jstr(rdata(&r), "command_id"))) == 0) {
			json_t *p = json_loads(params, 0, NULL);
			STR_EQ(jstr(p, "heater"), "nozzle", &r);
			CHECK(json_number_value(json_object_get(p, "target_c")) == 210.0, &r,
			      "target_c 210");
			json_decref(p);
		}
	}
	post(tp, g->t.key, "{\"heater\": \"bed\", \"temperature\": 120}", &r);
	EXPECT(r, 200, NULL);
	post(tp, g->t.key, "{\"heater\": \"bed\", \"temperature\": 55.5}", &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_number_value(json_object_get(rdata(&r), "temperature")) == 55.5, &r,
		      "temperature 55.5 kept");
	post(tp, g->t.key, "{\"heater\": \"nozzle\", \"temperature\": 0}", &r);
	EXPECT(r, 200, NULL);
	static const char *const bad[] = {
		"{\"heater\": \"bed\", \"temperature\": 121}",
		"{\"heater\": \"nozzle\", \"temperature\": 301}",
		"{\"heater\": \"nozzle\", \"temperature\": -1}",
		"{\"heater\": \"chamber\", \"temperature\": 40}",
		"{\"temperature\": 40}",
		"{\"heater\": \"nozzle\"}",
		"{\"heater\": \"nozzle\", \"temperature\": \"hot\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		post(tp, g->t.key, bad[i], &r);
		EXPECT(r, 422, "VALIDATION_ERROR");
	}
	FX(hx_fault(&g->hx, "refuse action=temperature.set code=UNSUPPORTED"));
	post(tp, g->t.key, "{\"heater\": \"nozzle\", \"temperature\": 200}", &r);
	if (EXPECT(r, 503, "HUB_COMMAND_FAILED"))
		CHECK(strstr(jstr(r.json, "error"), "UNSUPPORTED"), &r, "names the hub's code");
	rig_free(g);
}

/* -------------------------------------------------------------------------- filament */

static void test_filament(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char params[512], fil[128];
	static const char *const load_keys[] = { "printer_id", "action", "tray_id", "temperature",
						 "command_id", NULL };
	static const char *const unload_keys[] = { "printer_id", "action", "command_id", NULL };
	FX(rig_make(g, "X1 Carbon", 1));
	const char *lp = ppath(g->printer, "/filament/load");
	const char *up = ppath(g->printer, "/filament/unload");

	post_when_free(lp, g->t.key, NULL, &r); /* no body: external spool at 220 °C */
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), load_keys, &r);
		STR_EQ(jstr(rdata(&r), "action"), "load_filament", &r);
		INT_EQ(jint(rdata(&r), "tray_id"), 254, &r);
		INT_EQ(jint(rdata(&r), "temperature"), 220, &r);
		if (FX_TEXT(params, Q_CMD_PARAMS, DS(jstr(rdata(&r), "command_id"))) == 0) {
			json_t *p = json_loads(params, 0, NULL);
			INT_EQ(jint(p, "tray_id"), 254, &r);
			INT_EQ(jint(p, "temperature_c"), 220, &r);
			json_decref(p);
		}
	}
	post_when_free(lp, g->t.key, "{\"tray_id\": 1, \"temperature\": 250}", &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jint(rdata(&r), "tray_id"), 1, &r);
		INT_EQ(jint(rdata(&r), "temperature"), 250, &r);
	}
	post_when_free(lp, g->t.key, "{\"tray_id\": 0}", &r);
	EXPECT(r, 200, NULL);
	static const char *const bad[] = { "{\"tray_id\": 16}", "{\"tray_id\": 253}",
					   "{\"tray_id\": 255}", "{\"tray_id\": -1}",
					   "{\"temperature\": 301}", "{\"tray_id\": \"ams\"}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		post(lp, g->t.key, bad[i], &r);
		EXPECT(r, 422, "VALIDATION_ERROR");
	}
	FX(FX_SQL(Q_FILAMENT, DS(g->printer)));
	post_when_free(up, g->t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), unload_keys, &r);
		STR_EQ(jstr(rdata(&r), "action"), "unload_filament", &r);
	}
	if (FX_TEXT(fil, Q_FILAMENT_OF, DS(g->printer)) == 0)
		STR_EQ(fil, "~|~", NULL); /* the stored filament is forgotten after the ACK */
	post(up, g->t.key, "{\"temperature\": 400}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	/* refused by the hub: the stored filament stays */
	FX(FX_SQL(Q_FILAMENT, DS(g->printer)));
	FX(hx_fault(&g->hx, "refuse action=filament.* code=UNSUPPORTED"));
	post_when_free(up, g->t.key, "{\"temperature\": 230}", &r);
	if (EXPECT(r, 503, "HUB_COMMAND_FAILED"))
		CHECK(strstr(jstr(r.json, "error"), "UNSUPPORTED"), &r, "the fault's code");
	/* (with the simulator its telemetry owns the filament fields) */
	if (!g->hx.real && FX_TEXT(fil, Q_FILAMENT_OF, DS(g->printer)) == 0)
		STR_EQ(fil, "Red|PLA", NULL);
	FX(hx_clear(&g->hx));
	/* not while printing */
	if (!g->hx.real) {
		FX(fx_printer_status(g->printer, "printing"));
		post(lp, g->t.key, NULL, &r);
		EXPECT(r, 400, "INVALID_STATE");
		post(up, g->t.key, NULL, &r);
		EXPECT(r, 400, "INVALID_STATE");
	}
	rig_free(g);
}

/* Another account's printer answers 404 on every action and nothing is sent. */
static void test_control_tenancy(void)
{
	struct rig *g = rig_new();
	struct tenant other;
	RESP(r);
	char n[16];
	FX(rig_make(g, "X1 Carbon", 0));
	FX(fx_hub_online(g->hx.hub, 0));
	FX(fx_tenant(&other, "read,write,control"));
	static const struct {
		const char *suffix, *body;
	} calls[] = { { "/control", "{\"action\": \"clear_bed\"}" }, { "/light", "{\"state\": true}" },
		      { "/temperature", "{\"heater\": \"bed\", \"temperature\": 60}" },
		      { "/filament/load", NULL }, { "/filament/unload", NULL } };
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
		post(ppath(g->printer, calls[i].suffix), other.key, calls[i].body, &r);
		EXPECT(r, 404, "PRINTER_NOT_FOUND");
	}
	api("GET", ppath(g->printer, "/status"), other.key, NULL, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	FX(FX_TEXT(n, Q_CMD_COUNT, DS(g->printer)));
	STR_EQ(n, "0", NULL);
	rig_free(g);
}

int suite_control(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("printer control", NULL, NULL, NULL,
							    rig_sweep);
	if (!s)
		return -1;
	ADD_TEST(s, test_status_offline_and_no_hub);
	ADD_TEST(s, test_status_live);
	ADD_TEST(s, test_control_refusals);
	ADD_TEST(s, test_control_scopes);
	ADD_TEST(s, test_control_pause_resume_stop);
	ADD_TEST(s, test_clear_bed);
	ADD_TEST(s, test_control_refused);
	ADD_TEST(s, test_control_timeout);
	ADD_TEST(s, test_control_hub_killed);
	ADD_TEST(s, test_heartbeats_stopped);
	ADD_TEST(s, test_light);
	ADD_TEST(s, test_temperature);
	ADD_TEST(s, test_filament);
	ADD_TEST(s, test_control_tenancy);
	return 0;
}
