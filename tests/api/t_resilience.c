/* t_resilience.c - the FastCGI master and the database link under faults, on the live stack:
 * a child killed with SIGKILL is respawned and no request fails; SIGHUP replaces every child
 * while requests keep succeeding; MariaDB stopped → reads and writes answer 503
 * SERVICE_UNAVAILABLE (never a crash), a refused write changed nothing, and the same children
 * (same pids, none respawned) serve again once it is back; SIGTERM to the master while a request
 * is in flight (a pause whose ACK the simulator delays): that request completes with its normal
 * answer, then the master and every child exit, and scripts/stack.sh starts apf-fcgi again.
 * Runs last: it restarts MariaDB and apf-fcgi. */
#include "inflight.h"
#include "rig.h"

#include "cfg.h"
#include "util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KIDS 64

/* Children of pid (from /proc/<n>/stat), sorted by discovery; returns how many. */
static int children(pid_t parent, pid_t *out, int max)
{
	int n = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)) && n < max) {
		char path[300], buf[512];
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t got = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[got] = '\0';
		/* pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')' */
		char *rp = strrchr(buf, ')');
		char state;
		long ppid;
		if (rp && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent &&
		    state != 'Z')
			out[n++] = (pid_t)atol(e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

/* 1 when every pid of a (n) is in b (m). */
static int same_set(const pid_t *a, int n, const pid_t *b, int m)
{
	if (n != m)
		return 0;
	for (int i = 0; i < n; i++) {
		int found = 0;
		for (int j = 0; j < m && !found; j++)
			found = a[i] == b[j];
		if (!found)
			return 0;
	}
	return 1;
}

/* n requests in a row; returns how many answered 200. */
static int requests_ok(const struct tenant *t, int n)
{
	int ok = 0;
	for (int i = 0; i < n; i++) {
		RESP(r);
		ok += api("GET", "/hubs", t->key, NULL, &r) == 200;
	}
	return ok;
}

static void test_child_respawn(void)
{
	struct tenant t;
	pid_t kids[MAX_KIDS], after[MAX_KIDS];
	FX(fx_tenant(&t, "read"));
	pid_t master = fx_service_pid("apf-fcgi");
	CU_ASSERT_FATAL(master > 0);
	int n = children(master, kids, MAX_KIDS);
	CU_ASSERT_FATAL(n >= 1);
	CU_ASSERT_EQUAL(kill(kids[0], SIGKILL), 0);
	/* kill() only queues the signal: a child woken in accept() by a connection that arrived
	 * first takes it and dies holding it (nginx's 502 for that one request). Requests start once
	 * the child is dead; what is tested is that the others serve while it is replaced. */
	CHECK(fx_wait_gone(kids[0], 10000) == 0, NULL, "the killed child %d died", (int)kids[0]);
	int ok = requests_ok(&t, 30);
	CHECK(ok == 30, NULL, "after a child was killed, %d of 30 requests succeeded", ok);
	int m = 0;
	for (int i = 0; i < 100 && (m = children(master, after, MAX_KIDS)) < n; i++)
		sleep_ms(50);
	CHECK(m == n, NULL, "the master keeps %d children (has %d)", n, m);
	for (int i = 0; i < m; i++)
		CHECK(after[i] != kids[0], NULL, "the killed child %d is gone", (int)kids[0]);
}

/* Waits until every one of the n children in before[] was replaced by a new one (after a
 * SIGHUP); 1 when they were, *m = the children now. */
static int children_replaced(pid_t master, const pid_t *before, int n, int *m)
{
	pid_t after[MAX_KIDS];
	int replaced = 0;
	for (int tries = 0; tries < 100 && !replaced; tries++) {
		*m = children(master, after, MAX_KIDS);
		replaced = *m == n;
		for (int i = 0; i < *m && replaced; i++)
			for (int j = 0; j < n; j++)
				if (after[i] == before[j])
					replaced = 0;
		if (!replaced)
			sleep_ms(50);
	}
	return replaced;
}

static void test_reload(void)
{
	struct tenant t;
	pid_t before[MAX_KIDS];
	FX(fx_tenant(&t, "read"));
	pid_t master = fx_service_pid("apf-fcgi");
	CU_ASSERT_FATAL(master > 0);
	int n = children(master, before, MAX_KIDS);
	CU_ASSERT_EQUAL(kill(master, SIGHUP), 0);
	int ok = requests_ok(&t, 40);
	CHECK(ok == 40, NULL, "during a reload, %d of 40 requests succeeded", ok);
	/* every old child is replaced by a new one */
	int m = 0;
	CHECK(children_replaced(master, before, n, &m), NULL,
	      "SIGHUP replaced all %d children (now %d)", n, m);
	CHECK(kill(master, 0) == 0, NULL, "the master survives a reload");
}

/* Writes text as the stack's configuration and reloads apf-fcgi with it (every child replaced,
 * so every connection is made again from it); 1 when the children were replaced. */
static int reload_with(pid_t master, const char *text)
{
	pid_t before[MAX_KIDS];
	FILE *f = fopen(cfg_path(), "w");
	if (!f)
		return 0;
	int wrote = fputs(text, f) >= 0;
	wrote = fclose(f) == 0 && wrote;
	int n = children(master, before, MAX_KIDS), m = 0;
	return wrote && kill(master, SIGHUP) == 0 && children_replaced(master, before, n, &m);
}

/* The whole of a text file (malloc'd), or NULL. */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	if (f) {
		FILE *mem = open_memstream(&buf, &len);
		char chunk[4096];
		size_t n;
		while (mem && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
			fwrite(chunk, 1, n, mem);
		if (mem)
			fclose(mem);
		fclose(f);
	}
	return buf;
}

/* Lines of the apf-fcgi log containing s. */
static int fcgi_log_count(const char *s)
{
	char path[1024], line[4096];
	snprintf(path, sizeof path, "%s/log/apf-fcgi.log", cfg_str("var_dir", "."));
	FILE *f = fopen(path, "r");
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, s) != NULL;
	if (f)
		fclose(f);
	return n;
}

/* conf db_hosts (docs/scale-out.md "Database"): with a dead first entry (a bound port that
 * never listens) and the real server second, the API serves every request (the failed connects
 * to the dead entry are logged); with only the dead entry it answers 503 SERVICE_UNAVAILABLE
 * (so the list, not db_socket, is what the children connect with). The configuration is put back
 * whatever happens. */
static void test_db_hosts_failover(void)
{
	struct tenant t;
	FX(fx_tenant(&t, "read"));
	pid_t master = fx_service_pid("apf-fcgi");
	CU_ASSERT_FATAL(master > 0);
	char *orig = read_text(cfg_path());
	CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
			getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
	unsigned dead = ntohs(a.sin_port);
	size_t cap = strlen(orig) + 256;
	char *text = malloc(cap), mark[64];
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	snprintf(mark, sizeof mark, "connect failed (127.0.0.1:%u)", dead);
	int logged = fcgi_log_count(mark);

	snprintf(text, cap, "%s\ndb_hosts = 127.0.0.1:%u, 127.0.0.1:%ld\n", orig, dead,
		 cfg_int("db_port", 3306));
	CHECK(reload_with(master, text), NULL, "apf-fcgi reloaded with a dead first db_hosts entry");
	int ok = requests_ok(&t, 20);
	CHECK(ok == 20, NULL, "dead first db_hosts entry: %d of 20 requests succeeded", ok);
	CHECK(fcgi_log_count(mark) > logged, NULL, "the dead entry was tried first (log: %s)", mark);

	snprintf(text, cap, "%s\ndb_hosts = 127.0.0.1:%u\n", orig, dead);
	CHECK(reload_with(master, text), NULL, "apf-fcgi reloaded with only a dead db_hosts entry");
	RESP(r);
	api("GET", "/hubs", t.key, NULL, &r);
	EXPECT(r, 503, "SERVICE_UNAVAILABLE");

	/* a reload keeps keys no longer in the file: the empty value unsets it (cfg.h); then the
	 * file is put back as it was (same effect) */
	snprintf(text, cap, "%s\ndb_hosts =\n", orig);
	CHECK(reload_with(master, text), NULL, "apf-fcgi reloaded without db_hosts");
	FILE *f = fopen(cfg_path(), "w");
	CHECK(f && fputs(orig, f) >= 0, NULL, "configuration file put back");
	if (f)
		fclose(f);
	ok = requests_ok(&t, 5);
	CHECK(ok == 5, NULL, "configuration put back: %d of 5 requests succeeded", ok);
	close(fd);
	free(text);
	free(orig);
}

/* scripts/stack.sh VERB on this stack (output appended to var_dir/log/t_resilience-stack.log);
 * its exit status, or -1. */
static int stack_sh(const char *verb)
{
	const char *src = getenv("APF_SRC") && *getenv("APF_SRC") ? getenv("APF_SRC") : ".";
	const char *var = cfg_str("var_dir", ".");
	char cmd[3072];
	snprintf(cmd, sizeof cmd,
		 "APF_VAR='%s' '%s/scripts/stack.sh' %s >> '%s/log/t_resilience-stack.log' 2>&1", var,
		 src, verb, var);
	int rc = system(cmd);
	return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int restart_stack(void)
{
	return stack_sh("start");
}

static const struct db_query Q_PRINTER_NAME = { "SELECT name FROM printers WHERE id = ?" };

static void test_database_down(void)
{
	struct tenant t;
	char hub[FX_ID], printer[FX_ID], name[64], tag[9], stored[256], body[128];
	pid_t before[MAX_KIDS], during[MAX_KIDS], after[MAX_KIDS];
	FX(fx_tenant(&t, "read,write"));
	FX(fx_hub(t.account, "Outage hub", hub));
	snprintf(name, sizeof name, "Outage printer %s", fx_tag(tag));
	FX(fx_printer(t.account, hub, name, "X1 Carbon", printer));
	snprintf(body, sizeof body, "{\"name\": \"Renamed during the outage %s\"}", tag);
	pid_t master = fx_service_pid("apf-fcgi"), db = fx_service_pid("mariadb");
	CU_ASSERT_FATAL(fx_alive(master) && fx_alive(db));
	int n = children(master, before, MAX_KIDS);
	CU_ASSERT_FATAL(n >= 1);

	CU_ASSERT_EQUAL_FATAL(kill(db, SIGTERM), 0);
	int gone = fx_wait_gone(db, 60000) == 0;
	CHECK(gone, NULL, "MariaDB (pid %d) stopped after SIGTERM", (int)db);
	if (!gone)
		return; /* the teardown starts what is missing */
	for (int i = 0; i < 5; i++) {
		RESP(r);
		api("GET", "/hubs", t.key, NULL, &r);
		EXPECT(r, 503, "SERVICE_UNAVAILABLE");
		api("PATCH", ppath(printer, NULL), t.key, body, &r);
		EXPECT(r, 503, "SERVICE_UNAVAILABLE");
	}
	CHECK(fx_alive(master), NULL, "apf-fcgi keeps running while MariaDB is down");
	int m = children(master, during, MAX_KIDS);
	CHECK(same_set(before, n, during, m), NULL, "while MariaDB is down the master keeps its %d"
	      " children (now %d, %s)", n, m, m == n ? "other pids" : "another count");
	CHECK(restart_stack() == 0, NULL, "scripts/stack.sh start brings MariaDB back");
	CHECK(fx_alive(fx_service_pid("mariadb")), NULL, "MariaDB runs again");
	CHECK(fx_service_pid("apf-fcgi") == master, NULL, "the same apf-fcgi master (pid %d)",
	      (int)master);
	/* the same children reconnect by themselves */
	int ok = 0;
	for (int i = 0; i < 100 && ok == 0; i++) {
		RESP(r);
		ok = api("GET", "/hubs", t.key, NULL, &r) == 200;
		if (!ok)
			sleep_ms(100);
	}
	CHECK(ok, NULL, "requests succeed again once MariaDB is back");
	ok = requests_ok(&t, 20);
	CHECK(ok == 20, NULL, "after the database came back, %d of 20 requests succeeded", ok);
	m = children(master, after, MAX_KIDS);
	CHECK(same_set(before, n, after, m), NULL, "the %d children that served before the outage"
	      " serve after it, none respawned (now %d)", n, m);
	for (int i = 0; i < m; i++)
		CHECK(fx_alive(after[i]), NULL, "child %d runs", (int)after[i]);

	/* the writes refused during the outage changed nothing */
	FX_TEXT(stored, Q_PRINTER_NAME, DS(printer));
	STR_EQ(stored, name, NULL);
	RESP(r);
	api("GET", ppath(printer, NULL), t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "name"), name, &r);
	/* and writes work again */
	api("PATCH", ppath(printer, NULL), t.key, body, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(strncmp(jstr(rdata(&r), "name") ? jstr(rdata(&r), "name") : "",
			      "Renamed during the outage", 25) == 0, &r, "renamed after the outage");
}

static const struct db_query Q_PAUSE_SENT = {
	"SELECT COUNT(*) FROM hub_commands WHERE printer_id = ? AND action = 'print.pause'"
	" AND status = 'sent'"
};
static const struct db_query Q_PAUSE_OUTCOME = {
	"SELECT status FROM hub_commands WHERE printer_id = ? AND action = 'print.pause'"
	" ORDER BY issued_at DESC LIMIT 1"
};

#define TERM_ACK_DELAY_MS 4000L

/* SIGTERM to the apf-fcgi master while a request is in flight: POST /jobs/{id}/pause over HTTPS
 * through nginx, its ACK delayed 4 s by the simulator, so the child is inside the request,
 * waiting, when the master is signalled. The request completes with its normal answer (200,
 * after the ACK; not a 502 from nginx), then the master and every child exit; scripts/stack.sh
 * start brings apf-fcgi back for the suites that follow. */
static void test_sigterm_finishes_in_flight(void)
{
	struct preq q;
	char job[FX_ID], v[32], spec[80];
	pid_t kids[MAX_KIDS];
	if (hx_skip_without_sim())
		return;
	struct rig *g = rig_new();
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	snprintf(spec, sizeof spec, "delay ms=%ld action=print.pause", TERM_ACK_DELAY_MS);
	FX(hx_fault(rig_hubx(g), spec));
	pid_t master = fx_service_pid("apf-fcgi");
	CU_ASSERT_FATAL(fx_alive(master));
	int n = children(master, kids, MAX_KIDS);
	CU_ASSERT_FATAL(n >= 1);

	memset(&q, 0, sizeof q);
	q.key = rig_key(g);
	snprintf(q.path, sizeof q.path, "/jobs/%s/pause", job);
	int64_t t0 = util_now_ms();
	preq_start(&q);
	/* the command went out: the child that took the request waits for the hub's ACK */
	int sent = 0;
	while (!sent && util_now_ms() < t0 + DEADLINE_MS) {
		sent = FX_TEXT(v, Q_PAUSE_SENT, DS(rig_printer(g))) == 0 && strcmp(v, "1") == 0;
		if (!sent)
			sleep_ms(20);
	}
	CHECK(sent, NULL, "the pause was sent to the hub");
	int64_t t_term = util_now_ms();
	CHECK(kill(master, SIGTERM) == 0, NULL, "SIGTERM apf-fcgi (%d)", (int)master);
	preq_join(&q);
	fprintf(stderr, "\n[resilience] SIGTERM %lld ms into a pause: answered %ld %s after %ld ms",
		(long long)(t_term - t0), q.status, q.code[0] ? q.code : "OK", q.ms);
	CHECK(sent && q.done_at > t_term, NULL, "the request was in flight when the master got"
	      " SIGTERM");
	CHECK(q.status == 200 && !q.code[0], NULL, "the request in flight completed normally: %ld %s,"
	      " want 200", q.status, q.code);
	CHECK(q.ms >= TERM_ACK_DELAY_MS - 500, NULL, "answered after the hub's ACK (%ld ms)", q.ms);
	FX_TEXT(v, Q_PAUSE_OUTCOME, DS(rig_printer(g)));
	STR_EQ(v, "acked", NULL);
	/* then the master and every child exit */
	CHECK(fx_wait_gone(master, 20000) == 0, NULL, "the master (%d) exited", (int)master);
	for (int i = 0; i < n; i++)
		CHECK(fx_wait_gone(kids[i], 1000) == 0, NULL, "child %d exited", (int)kids[i]);
	int64_t t_gone = util_now_ms();
	fprintf(stderr, "\n[resilience]   master and %d children gone %lld ms after SIGTERM", n,
		(long long)(t_gone - t_term));

	CHECK(restart_stack() == 0, NULL, "scripts/stack.sh start brings apf-fcgi back");
	pid_t again = fx_service_pid("apf-fcgi");
	CHECK(again != master && fx_alive(again), NULL, "a new apf-fcgi master runs (%d)", (int)again);
	RESP(r);
	api("GET", jpath(job, NULL), rig_key(g), NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "paused", &r);
	rig_free(g);
}

/* After every test, also one that stopped at a failed step: the rigs' simulators are stopped
 * and whatever service is down is started again, so the next suite finds a whole stack. */
static void resilience_teardown(void)
{
	rig_sweep();
	if (stack_sh("status") != 0)
		stack_sh("start");
}

int suite_resilience(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("resilience", NULL, NULL, NULL,
							    resilience_teardown);
	if (!s)
		return -1;
	ADD_TEST(s, test_child_respawn);
	ADD_TEST(s, test_reload);
	ADD_TEST(s, test_db_hosts_failover);
	ADD_TEST(s, test_database_down);
	ADD_TEST(s, test_sigterm_finishes_in_flight);
	return 0;
}
