/* t_link.c - the MQTT link lease across workers (docs/scale-out.md, "Hub link and waiters"), on
 * the live stack with the real simulator: a second apf-worker ("B", as if on another host: its
 * own host_id, wake socket and MQTT lock file) runs beside the stack's apf-worker-1 ("A").
 *
 *   - exactly one holds the link: the lease row names A, B never takes it, and a printer
 *     command published by A round-trips;
 *   - A stopped (SIGSTOP) past the lease's TTL: B takes the lease (token + 1) and the link, a
 *     printer command round-trips through B. The lease row names the broker A was connected to,
 *     and B, whose mqtt_hosts lists another broker first, connects there first (where the
 *     backend's persistent session and what the broker kept in it for A are); then B is
 *     stopped too, a command is requested (its
 *     row waits, pending) and A continues (SIGCONT): A stops its link before doing anything
 *     else (its log says so), does not publish the pending row, marks no row sent, does not
 *     take the broker session from B (B's connection is not lost) and the lease still names B;
 *     B continues and publishes the row, the request answers 200;
 *   - B killed (SIGKILL): A takes the lease back (token + 1) and the link, a command
 *     round-trips through A.
 * Take-over times are printed as "[link] ..." lines (no thresholds: two slow shared cores). */
#include "rig.h"

#include "cfg.h"
#include "inflight.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define B_HOST "link-test-b"
#define TAKEOVER_MS 60000L

static const struct db_query Q_LEASE = {
	"SELECT CONCAT(holder, '|', token) FROM cluster_leases WHERE name = 'mqtt-link'"
};
static const struct db_query Q_CLEARED0 = { "UPDATE printers SET cleared = 0 WHERE id = ?" };
static const struct db_query Q_CMD_WORKER = {
	"SELECT CONCAT(status, '|', IFNULL(worker_id, '-')) FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_PENDING_CLEAR = {
	"SELECT command_id FROM hub_commands WHERE printer_id = ? AND action = 'bed.clear'"
	" AND status = 'pending' ORDER BY seq DESC LIMIT 1"
};
static const struct db_query Q_NOW = { "SELECT CAST(NOW(3) AS CHAR)" };
static const struct db_query Q_LEASE_BROKER = {
	"SELECT IFNULL(broker, '-') FROM cluster_leases WHERE name = 'mqtt-link'"
};
static const struct db_query Q_SENT_BY_SINCE = {
	"SELECT COUNT(*) FROM hub_commands WHERE worker_id = ? AND sent_at >= ?"
};

static struct rig *lg;
static pid_t b_pid;
static long b_log_start; /* size of B's log when B started */

static char *var_file(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", cfg_str("var_dir", "."), name);
	return buf;
}

/* The stack's configuration plus B's own host_id, wake socket and MQTT lock file. */
static int b_conf(char *path, size_t size)
{
	char run[512], buf[4096];
	var_file(path, size, "run/link-b.conf");
	FILE *in = fopen(cfg_path(), "r"), *out = fopen(path, "w");
	size_t n;
	while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
		fwrite(buf, 1, n, out);
	if (out) {
		fprintf(out, "\nhost_id = %s\n", B_HOST);
		fprintf(out, "worker_socket = %s\n", var_file(run, sizeof run, "run/lb.sock"));
		fprintf(out, "mqtt_lock_file = %s\n", var_file(run, sizeof run, "run/lb-mqtt.lock"));
		/* a broker that refuses first: B fails over to the stack's */
		fprintf(out, "mqtt_hosts = 127.0.0.1:1, %s:%ld\n", cfg_str("mqtt_host", "127.0.0.1"),
			cfg_int("mqtt_port", 1883));
	}
	int ok = in && out;
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		ok = 0;
	CHECK(ok, NULL, "configuration of worker B written to %s", path);
	return ok ? 0 : -1;
}

static int b_start(void)
{
	char conf[512], logf[512], bin[512];
	if (b_conf(conf, sizeof conf) < 0)
		return -1;
	var_file(logf, sizeof logf, "log/link-worker-b.log");
	const char *dir = getenv("APF_BIN") && *getenv("APF_BIN") ? getenv("APF_BIN") : "build/bin";
	snprintf(bin, sizeof bin, "%s/apf-worker", dir);
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("APF_CONF", conf, 1);
		setenv("APF_WORKER_ID", "b", 1);
		execl(bin, "apf-worker", (char *)NULL);
		_exit(127);
	}
	CHECK(pid > 0, NULL, "worker B started (%s)", bin);
	b_pid = pid > 0 ? pid : 0;
	return pid > 0 ? 0 : -1;
}

static void b_stop(void)
{
	if (b_pid > 0) {
		kill(b_pid, SIGCONT);
		kill(b_pid, SIGKILL);
		waitpid(b_pid, NULL, 0);
	}
	b_pid = 0;
}

/* Size of a log file now (to read what is written after). */
static long log_mark(const char *name)
{
	char path[512];
	struct stat st;
	return stat(var_file(path, sizeof path, name), &st) == 0 ? (long)st.st_size : 0;
}

/* The first line after offset from that mentions the MQTT link, into out ("" when none). */
static void log_first_link_line(const char *name, long from, char *out, size_t size)
{
	char path[512], line[2048];
	out[0] = '\0';
	FILE *f = fopen(var_file(path, sizeof path, name), "r");
	if (!f)
		return;
	fseek(f, from, SEEK_SET);
	while (fgets(line, sizeof line, f))
		if (strstr(line, "MQTT") || strstr(line, "hub command") || strstr(line, "hub link")) {
			snprintf(out, size, "%s", line);
			break;
		}
	fclose(f);
}

/* 1 when the log has `what` after offset from. */
static int log_has(const char *name, long from, const char *what)
{
	char path[512];
	FILE *f = fopen(var_file(path, sizeof path, name), "r");
	if (!f)
		return 0;
	fseek(f, from, SEEK_SET);
	char line[2048];
	int hit = 0;
	while (!hit && fgets(line, sizeof line, f))
		hit = strstr(line, what) != NULL;
	fclose(f);
	return hit;
}

static void a_holder(char *buf, size_t size)
{
	snprintf(buf, size, "%.96s/1", cfg_host_id());
}

/* Lease row "holder|token"; token into *token. */
static int lease_now(char *holder, size_t size, long long *token)
{
	char v[256] = "";
	if (FX_TEXT(v, Q_LEASE) < 0)
		return -1;
	char *bar = strrchr(v, '|');
	if (!bar)
		return -1;
	*bar = '\0';
	snprintf(holder, size, "%s", v);
	*token = atoll(bar + 1);
	return 0;
}

/* Waits until the lease names holder; ms it took, or -1 (failure recorded). */
static long wait_holder(const char *holder, long long *token)
{
	int64_t t0 = util_now_ms();
	char h[256] = "";
	do {
		if (lease_now(h, sizeof h, token) < 0)
			return -1;
		if (strcmp(h, holder) == 0)
			return (long)(util_now_ms() - t0);
		sleep_ms(100);
	} while (util_now_ms() - t0 < TAKEOVER_MS);
	CHECK(0, NULL, "the lease names %s after %ld s, want %s", h, TAKEOVER_MS / 1000, holder);
	return -1;
}

/* clear_bed on the rig's printer: 200, and its row was published by a worker whose locked_by
 * starts with prefix. Waits for a link that is still coming up (503/504 retried). */
static void clear_bed_through(const char *prefix)
{
	RESP(r);
	int64_t end = util_now_ms() + TAKEOVER_MS;
	do {
		FX(FX_SQL(Q_CLEARED0, DS(lg->printer)));
		post(ppath(lg->printer, "/control"), rig_key(lg), "{\"action\": \"clear_bed\"}", &r);
		if (r.status == 200)
			break;
		sleep_ms(500);
	} while (util_now_ms() < end);
	if (!EXPECT(r, 200, NULL))
		return;
	const char *id = jstr(rdata(&r), "command_id");
	char v[256];
	CHECK(id, &r, "the answer names its command_id");
	if (!id || FX_TEXT(v, Q_CMD_WORKER, DS(id)) < 0)
		return;
	CHECK(strncmp(v, "acked|", 6) == 0 && strncmp(v + 6, prefix, strlen(prefix)) == 0, &r,
	      "command %s: %s, want acked and published by %s...", id, v, prefix);
}

static void test_one_holder(void)
{
	char a[160], h[256], prefix[64];
	long long token = 0;
	if (hx_skip_without_sim())
		return;
	lg = rig_new();
	CU_ASSERT_FATAL(lg != NULL);
	FX(rig_make(lg, "X1 Carbon", 1));
	a_holder(a, sizeof a);
	FX(wait_holder(a, &token));
	long mark = b_log_start = log_mark("log/link-worker-b.log");
	FX(b_start());
	/* B's poll ticks try the lease meanwhile, for longer than the lease's TTL: A renews it */
	long a_mark = log_mark("log/apf-worker-1.log");
	sleep_ms((cfg_int("mqtt_lease_seconds", 6) + 3) * 1000);
	CHECK(!log_has("log/apf-worker-1.log", a_mark, "MQTT link stopped"), NULL,
	      "A kept its link");
	CHECK(fx_alive(b_pid), NULL, "worker B runs");
	long long t2 = 0;
	FX(lease_now(h, sizeof h, &t2));
	STR_EQ(h, a, NULL);
	CHECK(t2 == token, NULL, "the lease token stays %lld (now %lld)", token, t2);
	CHECK(log_has("log/link-worker-b.log", mark, "lease holder " B_HOST "/b"), NULL,
	      "worker B started with its own holder name");
	CHECK(!log_has("log/link-worker-b.log", mark, "holds the MQTT link"), NULL,
	      "worker B never held the link");
	snprintf(prefix, sizeof prefix, "%.24s:%d/1", cfg_host_id(), (int)fx_service_pid("apf-worker-1"));
	clear_bed_through(prefix);
}

static void test_stopped_owner(void)
{
	char a[160], bh[64], h[256], now[64], a_locked[64], cmd[40] = "";
	long long token = 0, tb = 0, t = 0;
	pid_t apid = fx_service_pid("apf-worker-1");
	CU_ASSERT_FATAL(lg && b_pid > 0 && fx_alive(apid));
	a_holder(a, sizeof a);
	snprintf(bh, sizeof bh, "%s/b", B_HOST);
	snprintf(a_locked, sizeof a_locked, "%.24s:%d/1", cfg_host_id(), (int)apid);
	FX(lease_now(h, sizeof h, &token));
	STR_EQ(h, a, NULL);
	/* A recorded the broker its link is connected to: the stack's */
	char stack_broker[300], v[256];
	snprintf(stack_broker, sizeof stack_broker, "%s:%ld", cfg_str("mqtt_host", "127.0.0.1"),
		 cfg_int("mqtt_port", 1883));
	if (FX_TEXT(v, Q_LEASE_BROKER) == 0)
		STR_EQ(v, stack_broker, NULL);

	CHECK(kill(apid, SIGSTOP) == 0, NULL, "SIGSTOP apf-worker-1");
	long took = wait_holder(bh, &tb);
	fprintf(stderr, "\n[link] A stopped: B took the lease after %ld ms (token %lld -> %lld)",
		took, token, tb);
	FX(took);
	CHECK(tb == token + 1, NULL, "B's token %lld = A's %lld + 1", tb, token);
	clear_bed_through(B_HOST ":");
	/* B's mqtt_hosts starts with 127.0.0.1:1; the lease row named A's broker, so B went there
	 * first: the session A left, with the messages the broker kept for it, is on that broker */
	char line[400];
	snprintf(line, sizeof line, "hub link: starting at %s, the broker of the lease's last holder",
		 stack_broker);
	CHECK(log_has("log/link-worker-b.log", b_log_start, line), NULL,
	      "B started at the lease's broker (log: %s)", line);
	CHECK(!log_has("log/link-worker-b.log", b_log_start, "127.0.0.1:1 failed"), NULL,
	      "B did not try the first broker of its mqtt_hosts, where the session is not");
	if (FX_TEXT(v, Q_LEASE_BROKER) == 0)
		STR_EQ(v, stack_broker, NULL);

	/* B stops too; a command waits, pending; A continues with its lease long stale */
	CHECK(kill(b_pid, SIGSTOP) == 0, NULL, "SIGSTOP worker B");
	struct preq q;
	memset(&q, 0, sizeof q);
	q.key = rig_key(lg);
	q.body = "{\"action\": \"clear_bed\"}";
	snprintf(q.path, sizeof q.path, "/printers/%s/control", lg->printer);
	FX(FX_SQL(Q_CLEARED0, DS(lg->printer)));
	preq_start(&q);
	int64_t end = util_now_ms() + TAKEOVER_MS;
	while (!cmd[0] && util_now_ms() < end && FX_TEXT_POLL(cmd, Q_PENDING_CLEAR, DS(lg->printer)) >= 0)
		if (!cmd[0])
			sleep_ms(20);
	CHECK(cmd[0], NULL, "the command's row is pending");
	long a_mark = log_mark("log/apf-worker-1.log"), b_mark = log_mark("log/link-worker-b.log");
	if (FX_TEXT(now, Q_NOW) < 0) {
		kill(b_pid, SIGCONT);
		preq_join(&q);
		return;
	}
	CHECK(kill(apid, SIGCONT) == 0, NULL, "SIGCONT apf-worker-1");
	sleep_ms(2000); /* A's timers run: two poll ticks, eight hub ticks */
	/* before anything else touches the link, A sees its lease is stale */
	char first[2048];
	log_first_link_line("log/apf-worker-1.log", a_mark, first, sizeof first);
	CHECK(strstr(first, "MQTT link stopped: the lease was not renewed in time"), NULL,
	      "A's first word on the link after SIGCONT: %s", first);
	if (cmd[0] && FX_TEXT(v, Q_CMD_WORKER, DS(cmd)) == 0)
		STR_EQ(v, "pending|-", NULL);
	if (FX_TEXT(v, Q_SENT_BY_SINCE, DS(a_locked), DS(now)) == 0)
		STR_EQ(v, "0", NULL);
	FX(lease_now(h, sizeof h, &t));
	STR_EQ(h, bh, NULL);
	CHECK(t == tb, NULL, "the lease token stays %lld (now %lld)", tb, t);

	CHECK(kill(b_pid, SIGCONT) == 0, NULL, "SIGCONT worker B");
	preq_join(&q);
	CHECK(q.status == 200, NULL, "the pending clear_bed answered %ld %s, want 200", q.status,
	      q.code);
	if (cmd[0] && FX_TEXT(v, Q_CMD_WORKER, DS(cmd)) == 0)
		CHECK(strncmp(v, "acked|" B_HOST ":", strlen("acked|" B_HOST ":")) == 0, NULL,
		      "command %s: %s, want acked, published by B", cmd, v);
	CHECK(!log_has("log/link-worker-b.log", b_mark, "lost"), NULL,
	      "B's broker connection was not taken over by A");
	CHECK(!log_has("log/apf-worker-1.log", a_mark, "holds the MQTT link"), NULL,
	      "A did not take the link back");
}

static void test_killed_owner(void)
{
	char a[160], bh[64], h[256], prefix[64];
	long long tb = 0, ta = 0;
	CU_ASSERT_FATAL(lg && b_pid > 0);
	a_holder(a, sizeof a);
	snprintf(bh, sizeof bh, "%s/b", B_HOST);
	FX(lease_now(h, sizeof h, &tb));
	STR_EQ(h, bh, NULL);
	CHECK(kill(b_pid, SIGKILL) == 0, NULL, "SIGKILL worker B");
	waitpid(b_pid, NULL, 0);
	b_pid = 0;
	long took = wait_holder(a, &ta);
	fprintf(stderr, "\n[link] B killed: A took the lease after %ld ms (token %lld -> %lld)",
		took, tb, ta);
	FX(took);
	CHECK(ta == tb + 1, NULL, "A's token %lld = B's %lld + 1", ta, tb);
	snprintf(prefix, sizeof prefix, "%.24s:%d/1", cfg_host_id(), (int)fx_service_pid("apf-worker-1"));
	clear_bed_through(prefix);
}

static int link_clean(void)
{
	pid_t apid = fx_service_pid("apf-worker-1");
	if (apid > 0)
		kill(apid, SIGCONT);
	b_stop();
	rig_sweep();
	lg = NULL;
	return 0;
}

int suite_link(void)
{
	CU_pSuite s = CU_add_suite("link", NULL, link_clean);
	if (!s)
		return -1;
	ADD_TEST(s, test_one_holder);
	ADD_TEST(s, test_stopped_owner);
	ADD_TEST(s, test_killed_owner);
	return 0;
}
