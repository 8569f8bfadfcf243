/* t_sim.c - the hub simulator's pinned intervals (--status-interval, --heartbeat-interval, and
 * the scenario's status_interval_ms / heartbeat_interval_ms): the real apf-hubsim ($APF_BIN)
 * plays one hub with one printer on the stack's broker, the stack's worker ingests it, and the
 * messages are counted where they land (printer_live_status.seq, hubs.last_seen_at); refused
 * values exit 2 naming the option or key. */
#include "th.h"

#include "cfg.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define WINDOW_MS 2000

static const struct db_query Q_S_SEQ = {
	"SELECT seq FROM printer_live_status WHERE printer_id = ?"
};
static const struct db_query Q_S_SEEN = {
	"SELECT DATE_FORMAT(last_seen_at, '%T.%f') FROM hubs WHERE id = ?"
};

struct sim {
	char dir[64];   /* private folder: control socket, log, scenario */
	char sock[96];
	pid_t pid;
};

static const char *sim_bin(char *buf, size_t size)
{
	const char *dir = getenv("APF_BIN");
	snprintf(buf, size, "%s/apf-hubsim", dir && *dir ? dir : "build/bin");
	return buf;
}

/* Runs apf-hubsim with args (NULL-terminated; argv[0] added), stdout and stderr into out (and
 * into the file log when not NULL, for a process left running: out is then unused). Returns
 * the exit status, or the pid when wait is false; -1 when it could not run. */
static int sim_exec(const char *const *args, bool wait, const char *log, char *out, size_t size)
{
	char bin[512];
	const char *argv[40];
	int n = 0, pfd[2] = { -1, -1 };
	argv[n++] = sim_bin(bin, sizeof bin);
	for (int i = 0; args[i] && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (wait && pipe(pfd) < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = wait ? pfd[1] : open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	if (!wait)
		return pid;
	close(pfd[1]);
	size_t len = 0;
	ssize_t r;
	while (len < size - 1 && (r = read(pfd[0], out + len, size - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(pfd[0]);
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int sim_dir(struct sim *s)
{
	memset(s, 0, sizeof *s);
	snprintf(s->dir, sizeof s->dir, "/tmp/apfsim.XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->sock, sizeof s->sock, "%s/ctl.sock", s->dir);
	return 0;
}

/* One control line; the answer (new reference) or NULL. */
static json_t *sim_ctl(const struct sim *s, const char *line)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", s->sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	char buf[65536] = "";
	size_t len = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    write(fd, line, strlen(line)) == (ssize_t)strlen(line) && write(fd, "\n", 1) == 1) {
		ssize_t r;
		while (len < sizeof buf - 1 && !memchr(buf, '\n', len) &&
		       (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
			len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	return len ? json_loads(buf, 0, NULL) : NULL;
}

/* Copies the simulator's log to stderr (a failure, or a sanitizer report in it). */
static void sim_show_log(const struct sim *s)
{
	char path[128], line[1024];
	snprintf(path, sizeof path, "%s/sim.log", s->dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	fprintf(stderr, "\n  --- %s\n", path);
	while (fgets(line, sizeof line, f))
		fprintf(stderr, "  %s", line);
	fclose(f);
}

/* Starts the simulator on the stack's broker (--conf, a control socket in s->dir, --quiet)
 * with args (NULL-terminated: the hubs and options); its answer to `status` (new reference)
 * once the control socket answers, else NULL. */
static json_t *sim_start(struct sim *s, const char *const *args)
{
	char log[96];
	const char *argv[40] = { "--conf", cfg_path(), "--control-socket", s->sock, "--quiet" };
	int n = 5;
	for (int i = 0; args[i] && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(log, sizeof log, "%s/sim.log", s->dir);
	s->pid = sim_exec(argv, false, log, NULL, 0);
	CU_ASSERT(s->pid > 0);
	for (int i = 0; s->pid > 0 && i < 100; i++) {
		json_t *st = sim_ctl(s, "status");
		if (json_is_true(json_object_get(st, "ok")))
			return st;
		json_decref(st);
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			break;
		}
		th_sleep_ms(100);
	}
	fprintf(stderr, "\n  apf-hubsim did not answer on %s", s->sock);
	sim_show_log(s);
	CU_FAIL("apf-hubsim started");
	return NULL;
}

/* quit (offline presence): it must exit 0 with no sanitizer report in its log; SIGKILL if it
 * lingers. Removes the folder. */
static void sim_stop(struct sim *s)
{
	if (s->pid > 0) {
		json_decref(sim_ctl(s, "quit"));
		int i, st = -1;
		for (i = 0; i < 50 && waitpid(s->pid, &st, WNOHANG) == 0; i++)
			th_sleep_ms(100);
		if (i == 50) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
		}
		bool clean = i < 50 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
		CU_ASSERT(clean);
		if (!clean)
			sim_show_log(s);
		s->pid = 0;
	}
	char path[128];
	static const char *const files[] = { "ctl.sock", "sim.log", "scenario.json" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", s->dir, files[i]);
		unlink(path);
	}
	rmdir(s->dir);
}

static long long seq_of(const char *printer)
{
	char v[32];
	return th_get(&Q_S_SEQ, DB_ARGS(DS(printer)), v, sizeof v) == 1 ? atoll(v) : -1;
}

/* ------------------------------------------------------------------ pinned intervals */

/* Status every 200 ms and heartbeat every 400 ms at time scale 1 (the protocol's intervals are
 * 30 s for both, so an idle printer would send nothing in the window): over WINDOW_MS, the
 * printer's seq in the database (one per status sent, whatever the batching) moves by about
 * 10, and last_seen_at (set by each heartbeat the worker ingests) takes about 5 new values. */
static void test_pinned_intervals(void)
{
	struct thub h;
	struct sim s;
	char printer[37];
	if (th_hub_create(&h) < 0 || sim_dir(&s) < 0)
		return;
	th_printer(&h, "idle", NULL, printer);
	const char *args[] = { "--hub", h.id, "--password", h.password, "--time-scale", "1",
			       "--status-interval", "200", "--heartbeat-interval", "400", NULL };
	json_t *st = sim_start(&s, args);
	/* the simulator says what it pinned */
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(st, "status_interval_ms")), 200);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(st, "heartbeat_interval_ms")), 400);
	if (!st)
		goto out;
	json_decref(st);
	/* printers.sync reached the simulator and its reports flow (past the first ones) */
	int64_t end = th_now_ms() + 20000;
	while (seq_of(printer) < 3 && th_now_ms() < end)
		th_sleep_ms(50);
	long long s0 = seq_of(printer);
	CU_ASSERT(s0 >= 3);
	if (s0 < 3)
		goto out;
	char seen[64] = "", v[64];
	int changes = 0;
	th_get(&Q_S_SEEN, DB_ARGS(DS(h.id)), seen, sizeof seen);
	end = th_now_ms() + WINDOW_MS;
	while (th_now_ms() < end) {
		th_sleep_ms(25);
		if (th_get(&Q_S_SEEN, DB_ARGS(DS(h.id)), v, sizeof v) == 1 && strcmp(v, seen) != 0) {
			changes++;
			snprintf(seen, sizeof seen, "%s", v);
		}
	}
	long long statuses = seq_of(printer) - s0;
	fprintf(stderr, "\n  in %d ms: %lld statuses, %d heartbeats ", WINDOW_MS, statuses, changes);
	CU_ASSERT(statuses >= 5 && statuses <= 15);
	CU_ASSERT(changes >= 3 && changes <= 8);
out:
	sim_stop(&s);
}

/* The scenario's keys apply; the command line wins over them; without either, null (the
 * protocol's intervals on the simulated clock). */
static void test_scenario_intervals(void)
{
	struct thub h;
	struct sim s;
	char path[128];
	if (th_hub_create(&h) < 0 || sim_dir(&s) < 0)
		return;
	snprintf(path, sizeof path, "%s/scenario.json", s.dir);
	json_t *sc = json_pack("{s:[{s:s, s:s}], s:i, s:i}", "hubs", "hub_id", h.id, "password",
			       h.password, "status_interval_ms", 250, "heartbeat_interval_ms", 700);
	CU_ASSERT_EQUAL(json_dump_file(sc, path, 0), 0);
	json_decref(sc);
	const char *args[] = { "--scenario", path, "--heartbeat-interval", "300", NULL };
	json_t *st = sim_start(&s, args);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(st, "status_interval_ms")), 250);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(st, "heartbeat_interval_ms")), 300);
	json_decref(st);
	sim_stop(&s);
	/* neither: null */
	struct thub h2;
	if (th_hub_create(&h2) < 0 || sim_dir(&s) < 0)
		return;
	const char *plain[] = { "--hub", h2.id, "--password", h2.password, NULL };
	st = sim_start(&s, plain);
	CU_ASSERT(json_is_null(json_object_get(st, "status_interval_ms")));
	CU_ASSERT(json_is_null(json_object_get(st, "heartbeat_interval_ms")));
	json_decref(st);
	sim_stop(&s);
}

/* Out-of-range or malformed values: exit 2 before connecting, the message names the option
 * (or the scenario key); --help lists both options. */
static void test_interval_refused(void)
{
	static const struct {
		const char *opt, *val;
	} bad[] = {
		{ "--status-interval", "99" },       { "--status-interval", "3600001" },
		{ "--status-interval", "1.5" },      { "--status-interval", "" },
		{ "--heartbeat-interval", "0" },     { "--heartbeat-interval", "-500" },
		{ "--heartbeat-interval", "1e9" },   { "--heartbeat-interval", "30s" },
	};
	char out[8192];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *args[] = { "--hub", "h1", "--password", "pw", bad[i].opt, bad[i].val, NULL };
		int rc = sim_exec(args, true, NULL, out, sizeof out);
		CU_ASSERT_EQUAL(rc, 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, bad[i].opt));
		if (rc != 2 || !strstr(out, bad[i].opt))
			fprintf(stderr, "\n  %s '%s': exit %d, %s", bad[i].opt, bad[i].val, rc, out);
	}
	/* the lowest and highest values are taken (the process then fails only for want of a hub) */
	const char *edge[] = { "--status-interval", "100", "--heartbeat-interval", "3600000", NULL };
	CU_ASSERT_EQUAL(sim_exec(edge, true, NULL, out, sizeof out), 2);
	CU_ASSERT_PTR_NULL(strstr(out, "interval"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "no hub"));

	struct sim s;
	if (sim_dir(&s) < 0)
		return;
	static const char *const scenarios[] = {
		"{\"hubs\": [{\"hub_id\": \"h1\", \"password\": \"pw\"}], \"status_interval_ms\": 50}",
		"{\"hubs\": [{\"hub_id\": \"h1\", \"password\": \"pw\"}], \"heartbeat_interval_ms\": \"1000\"}",
	};
	char path[128];
	snprintf(path, sizeof path, "%s/scenario.json", s.dir);
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
		FILE *f = fopen(path, "w");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		fputs(scenarios[i], f);
		fclose(f);
		const char *args[] = { "--scenario", path, NULL };
		CU_ASSERT_EQUAL(sim_exec(args, true, NULL, out, sizeof out), 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, i == 0 ? "\"status_interval_ms\""
							  : "\"heartbeat_interval_ms\""));
	}
	sim_stop(&s);

	const char *help[] = { "--help", NULL };
	CU_ASSERT_EQUAL(sim_exec(help, true, NULL, out, sizeof out), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "--status-interval MS"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "--heartbeat-interval MS"));
}

int suite_sim_add(void)
{
	CU_pSuite s = CU_add_suite("simulator", NULL, NULL);
	if (!s || !CU_add_test(s, "bad interval values refused, options in --help",
			       test_interval_refused) ||
	    !CU_add_test(s, "--status-interval / --heartbeat-interval: counts over MQTT at scale 1",
			 test_pinned_intervals) ||
	    !CU_add_test(s, "scenario intervals; the command line wins", test_scenario_intervals))
		return -1;
	return 0;
}
