/* rig.c - the hub rig of the API tests (see rig.h): the hub process (the simulator), the rig's
 * account, hub, printer and file, and the helpers the hub-driving suites share. */
#include "rig.h"

#include "cfg.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIM_SCALE "20"

/* ============================================================================ hub process */

void sleep_ms(long ms)
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

/* 1 when $APF_BIN/apf-hubsim runs and documents its control socket (asked once per run). */
static int sim_built(void)
{
	static int cached = -1;
	if (cached >= 0)
		return cached;
	char cmd[1200], out[8192] = "";
	snprintf(cmd, sizeof cmd, "'%s/apf-hubsim' --help 2>&1", bin_dir());
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
	out[n] = '\0';
	if (p)
		pclose(p);
	cached = strstr(out, "control-socket") != NULL;
	return cached;
}

/* 1 when the simulator is there; else 0 after recording a failure of the calling test that
 * says so (there is no stand-in hub to fall back to). */
static int need_sim(void)
{
	if (sim_built())
		return 1;
	CHECK(0, NULL, "%s/apf-hubsim does not run (`make all` builds it): the hub tests need the"
	      " simulator", bin_dir());
	return 0;
}

int hx_skip_without_sim(void)
{
	return need_sim() ? 0 : 1;
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

int hx_fault(struct hubx *h, const char *spec)
{
	char line[512];
	snprintf(line, sizeof line, "fault %s", spec);
	if (sim_line(h, line, NULL) == 0)
		return 0;
	return CHECK(0, NULL, "the simulator refused `%s`", line) - 1;
}

int hx_clear(struct hubx *h)
{
	if (sim_line(h, "fault clear all", NULL) == 0)
		return 0;
	return CHECK(0, NULL, "the simulator refused `fault clear all`") - 1;
}

json_t *hx_printer(struct hubx *h, const char *printer)
{
	json_t *st = NULL, *hub, *p;
	size_t i, j;
	if (sim_line(h, "status", &st) < 0) {
		json_decref(st);
		CHECK(0, NULL, "the simulator's status did not answer");
		return NULL;
	}
	json_array_foreach(json_object_get(st, "hubs"), i, hub) {
		json_array_foreach(json_object_get(hub, "printers"), j, p) {
			if (strcmp(jstr(p, "printer_id") ? jstr(p, "printer_id") : "", printer) == 0) {
				json_incref(p);
				json_decref(st);
				return p;
			}
		}
	}
	json_decref(st);
	CHECK(0, NULL, "the simulator does not know printer %s", printer);
	return NULL;
}

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

int hx_start(struct hubx *h, const char *key)
{
	char tag[9];
	if (!need_sim())
		return -1;
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
	CHECK(0, NULL, "hub %s not online within %ld s (log: %s/sim.log)", h->hub, DEADLINE_MS / 1000,
	      h->dir);
	return -1;
}

void hx_stop(struct hubx *h)
{
	if (h->pid > 0) {
		if (sim_line(h, "quit", NULL) < 0)
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
static const struct db_query Q_RIG_NO_HUB = { "UPDATE printers SET hub_id = NULL WHERE id = ?" };
static const struct db_query Q_RIG_HUB_STALE = {
	"UPDATE hubs SET last_seen_at = NOW(3) - INTERVAL 3 MINUTE WHERE id = ?"
};
const struct db_query RIG_Q_PRINTER_STATUS = { "SELECT status FROM printers WHERE id = ?" };
const struct db_query RIG_Q_JOB_STATUS = { "SELECT status FROM print_jobs WHERE id = ?" };
const struct db_query RIG_Q_CMD_PARAMS = { "SELECT params FROM hub_commands WHERE command_id = ?" };

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

int rig_job_of(struct rig *g, const char *file, const char *printer, const char *extra_json,
	       char job[FX_ID])
{
	RESP(r);
	char body[1024];
	snprintf(body, sizeof body, "{\"print_file_id\": \"%s\"%s%s%s%s%s}", file,
		 printer ? ", \"printer_id\": \"" : "", printer ? printer : "", printer ? "\"" : "",
		 extra_json ? ", " : "", extra_json ? extra_json : "");
	api("POST", "/jobs", g->t.key, body, &r);
	if (!EXPECT(r, 201, NULL) || !jstr(rdata(&r), "id"))
		return -1;
	snprintf(job, FX_ID, "%s", jstr(rdata(&r), "id"));
	return 0;
}

int rig_job(struct rig *g, const char *printer, const char *extra_json, char job[FX_ID])
{
	return rig_job_of(g, g->file, printer, extra_json, job);
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

int rig_printing(struct rig *g, char job[FX_ID])
{
	if (!g->hx.pid)
		return CHECK(0, NULL, "rig_printing needs the rig's hub (rig_make with_hub)") - 1;
	if (rig_job(g, g->printer, NULL, job) < 0)
		return -1;
	RESP(r);
	post(jpath(job, "/start"), g->t.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return -1;
	if (rig_wait_field(g->t.key, jpath(job, NULL), "status", "printing", DEADLINE_MS) < 0)
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

/* ---------------------------------------------------------------------------- helpers */

static const char *path_in(char (*buf)[200], unsigned *slot, const char *pre, const char *id,
			   const char *suffix)
{
	char *b = buf[(*slot)++ & 7];
	snprintf(b, sizeof buf[0], "%s%s%s", pre, id, suffix ? suffix : "");
	return b;
}

const char *jpath(const char *id, const char *suffix)
{
	static char buf[8][200];
	static unsigned slot;
	return path_in(buf, &slot, "/jobs/", id, suffix);
}

const char *ppath(const char *id, const char *suffix)
{
	static char buf[8][200];
	static unsigned slot;
	return path_in(buf, &slot, "/printers/", id, suffix);
}

const char *hpath(const char *id, const char *suffix)
{
	static char buf[8][200];
	static unsigned slot;
	return path_in(buf, &slot, "/hubs/", id, suffix);
}

long post(const char *path, const char *key, const char *body, struct resp *r)
{
	return api("POST", path, key, body, r);
}

int rig_printer_no_hub(const char *printer)
{
	return FX_SQL(Q_RIG_NO_HUB, DS(printer));
}

int rig_hub_stale(const char *hub)
{
	return FX_SQL(Q_RIG_HUB_STALE, DS(hub));
}
