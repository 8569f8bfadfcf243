/* t_resilience.c - the FastCGI master and the database link under faults, on the live stack:
 * a child killed with SIGKILL is respawned and no request fails; SIGHUP replaces every child
 * while requests keep succeeding; MariaDB stopped → 503 SERVICE_UNAVAILABLE (never a crash),
 * and the same children serve again once it is back. Runs last: it restarts MariaDB. */
#include "apitest.h"

#include "cfg.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
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

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
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
	int ok = requests_ok(&t, 30);
	CHECK(ok == 30, NULL, "after a child was killed, %d of 30 requests succeeded", ok);
	int m = 0;
	for (int i = 0; i < 100 && (m = children(master, after, MAX_KIDS)) < n; i++)
		sleep_ms(50);
	CHECK(m == n, NULL, "the master keeps %d children (has %d)", n, m);
	for (int i = 0; i < m; i++)
		CHECK(after[i] != kids[0], NULL, "the killed child %d is gone", (int)kids[0]);
}

static void test_reload(void)
{
	struct tenant t;
	pid_t before[MAX_KIDS], after[MAX_KIDS];
	FX(fx_tenant(&t, "read"));
	pid_t master = fx_service_pid("apf-fcgi");
	CU_ASSERT_FATAL(master > 0);
	int n = children(master, before, MAX_KIDS);
	CU_ASSERT_EQUAL(kill(master, SIGHUP), 0);
	int ok = requests_ok(&t, 40);
	CHECK(ok == 40, NULL, "during a reload, %d of 40 requests succeeded", ok);
	/* every old child is replaced by a new one */
	int replaced = 0, m = 0;
	for (int tries = 0; tries < 100 && !replaced; tries++) {
		m = children(master, after, MAX_KIDS);
		replaced = m == n;
		for (int i = 0; i < m && replaced; i++)
			for (int j = 0; j < n; j++)
				if (after[i] == before[j])
					replaced = 0;
		if (!replaced)
			sleep_ms(50);
	}
	CHECK(replaced, NULL, "SIGHUP replaced all %d children (now %d)", n, m);
	CHECK(kill(master, 0) == 0, NULL, "the master survives a reload");
}

static int restart_stack(void)
{
	const char *src = getenv("APF_SRC") ? getenv("APF_SRC") : ".";
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "APF_VAR='%s' '%s/scripts/stack.sh' start >/dev/null 2>&1",
		 cfg_str("var_dir", "."), src);
	return system(cmd);
}

static void test_database_down(void)
{
	struct tenant t;
	FX(fx_tenant(&t, "read"));
	pid_t master = fx_service_pid("apf-fcgi"), db = fx_service_pid("mariadb");
	CU_ASSERT_FATAL(master > 0 && db > 0);
	CU_ASSERT_EQUAL_FATAL(kill(db, SIGTERM), 0);
	for (int i = 0; i < 200 && kill(db, 0) == 0; i++)
		sleep_ms(50);
	for (int i = 0; i < 5; i++) {
		RESP(r);
		api("GET", "/hubs", t.key, NULL, &r);
		EXPECT(r, 503, "SERVICE_UNAVAILABLE");
	}
	CHECK(kill(master, 0) == 0, NULL, "apf-fcgi keeps running while MariaDB is down");
	CHECK(restart_stack() == 0, NULL, "scripts/stack.sh start brings MariaDB back");
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
}

int suite_resilience(void)
{
	CU_pSuite s = CU_add_suite("resilience", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_child_respawn);
	ADD_TEST(s, test_reload);
	ADD_TEST(s, test_database_down);
	return 0;
}
