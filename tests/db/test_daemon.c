/* test_daemon.c - apf-worker end to end: fork/exec $APF_BIN/apf-worker (default build/bin) on a
 * private config (the test's own plus a temp worker_socket), push jobs, queue_wake(), watch the
 * rows; SIGHUP, SIGTERM exit status, database outage back-off, wake-socket take-over. */
#include "tdb.h"

#include "cfg.h"
#include "queue.h"
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct db_query Q_T_PURGE_JOB = {
	"SELECT id FROM queue_jobs WHERE queue = 'HOUSEKEEPING' AND dedup_key LIKE 'purge:%'"
	" ORDER BY id DESC LIMIT 1"
};

#define MAX_KIDS 2

struct daemon {
	char dir[64];
	char conf[128];
	char sock[128];
	char log[128];
	pid_t pid[MAX_KIDS];
	char *saved_socket;       /* the test process's own worker_socket, restored at the end */
	unsigned failures_before;
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) < 0 && errno == EINTR) {
	}
}

/* Temp dir, config = the test's config + extra lines (later keys win in cfg_load). */
static int daemon_setup(struct daemon *d, const char *extra)
{
	memset(d, 0, sizeof *d);
	d->failures_before = CU_get_number_of_failures();
	snprintf(d->dir, sizeof d->dir, "/tmp/apf-wt-XXXXXX");
	if (!mkdtemp(d->dir))
		return -1;
	snprintf(d->conf, sizeof d->conf, "%s/apf.conf", d->dir);
	snprintf(d->sock, sizeof d->sock, "%s/w.sock", d->dir);
	snprintf(d->log, sizeof d->log, "%s/worker.log", d->dir);
	FILE *in = fopen(cfg_path(), "r"), *out = fopen(d->conf, "w");
	int rc = in && out ? 0 : -1;
	if (!rc) {
		char line[4096];
		while (fgets(line, sizeof line, in))
			fputs(line, out);
		fprintf(out, "\nworker_socket = %s\n%s", d->sock, extra);
	}
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	const char *s = cfg_str("worker_socket", NULL);
	d->saved_socket = strdup(s ? s : "");
	cfg_set("worker_socket", d->sock); /* queue_wake() in this process reaches the daemon */
	return rc;
}

static pid_t daemon_spawn(struct daemon *d, int slot, const char *id)
{
	char bin[512];
	const char *dir = getenv("APF_BIN");
	snprintf(bin, sizeof bin, "%s/apf-worker", dir && *dir ? dir : "build/bin");
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "\n%s is not executable (set APF_BIN)\n", bin);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		char *argv[] = { bin, "--conf", d->conf, "--id", (char *)id, NULL };
		execv(bin, argv);
		_exit(127);
	}
	d->pid[slot] = pid;
	return pid;
}

static int alive(pid_t pid)
{
	return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0;
}

/* 0 once path is a socket; -1 when the daemon died or the time ran out. */
static int wait_socket(const char *path, pid_t pid, double timeout)
{
	double end = now_s() + timeout;
	while (now_s() < end) {
		struct stat st;
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (!alive(pid))
			return -1;
		sleep_ms(10);
	}
	return -1;
}

static int wait_gone(const char *path, double timeout)
{
	double end = now_s() + timeout;
	while (now_s() < end) {
		if (access(path, F_OK) != 0)
			return 0;
		sleep_ms(10);
	}
	return -1;
}

/* Milliseconds until row id is in state, polled every 20 ms; -1 after timeout. */
static long wait_state(long long id, const char *state, double timeout)
{
	double t0 = now_s();
	while (now_s() - t0 < timeout) {
		struct tdb_job j;
		tdb_job(id, &j);
		if (j.found && strcmp(j.state, state) == 0)
			return (long)((now_s() - t0) * 1000);
		sleep_ms(20);
	}
	return -1;
}

/* Sends SIGTERM and returns the exit status (-1: killed after 10 s, or not a normal exit). */
static int stop_daemon(struct daemon *d, int slot)
{
	pid_t pid = d->pid[slot];
	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	double end = now_s() + 10;
	int st = 0;
	while (now_s() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			d->pid[slot] = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	d->pid[slot] = 0;
	return -1;
}

static void dump_log(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	fprintf(stderr, "\n----- %s -----\n", path);
	char line[1024];
	while (fgets(line, sizeof line, f))
		fputs(line, stderr);
	fclose(f);
}

static int log_count(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int n = 0;
	char line[2048];
	while (fgets(line, sizeof line, f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* utime + stime of pid in seconds */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void daemon_teardown(struct daemon *d)
{
	for (int i = 0; i < MAX_KIDS; i++) {
		if (d->pid[i] > 0) {
			kill(d->pid[i], SIGKILL);
			waitpid(d->pid[i], NULL, 0);
		}
	}
	if (CU_get_number_of_failures() != d->failures_before)
		dump_log(d->log);
	cfg_set("worker_socket", d->saved_socket ? d->saved_socket : "");
	free(d->saved_socket);
	DIR *dir = opendir(d->dir);
	if (dir) {
		struct dirent *e;
		while ((e = readdir(dir)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char p[512];
			snprintf(p, sizeof p, "%s/%s", d->dir, e->d_name);
			unlink(p);
		}
		closedir(dir);
		rmdir(d->dir);
	}
}

static long long purge_job_id(void)
{
	struct db_res res;
	long long id = 0;
	if (db_exec(tdb, &Q_T_PURGE_JOB, NULL, 0, &res) == E_OK)
		id = db_get_int(&res, 0, 0, 0);
	db_res_free(&res);
	return id;
}

/* A pushed job runs at once on queue_wake(): the poll interval (30 s) cannot explain it. */
static void test_daemon_wake(void)
{
	struct daemon d;
	CU_ASSERT_EQUAL_FATAL(daemon_setup(&d, "worker_poll_seconds = 30\n"), 0);
	pid_t pid = daemon_spawn(&d, 0, "e2e");
	CU_ASSERT(pid > 0);
	if (pid <= 0 || wait_socket(d.sock, pid, 10) != 0) {
		CU_FAIL("daemon did not bind its wake socket");
		goto out;
	}
	/* its start-up housekeeping.purge (dedup purge:<hour>) runs without any wake */
	double end = now_s() + 5;
	long long startup = 0;
	while (!(startup = purge_job_id()) && now_s() < end)
		sleep_ms(20);
	CU_ASSERT(startup > 0);
	CU_ASSERT(startup > 0 && wait_state(startup, "done", 5) >= 0);
	sleep_ms(200); /* let it go idle */

	for (int round = 1; round <= 2; round++) {
		long long id = tdb_push(QUEUE_HOUSEKEEPING, "housekeeping.purge", NULL, 0);
		queue_wake();
		long ms = wait_state(id, "done", 2.0);
		CU_ASSERT(ms >= 0);
		if (round == 1) {
			CU_ASSERT_EQUAL(kill(pid, SIGHUP), 0); /* reload: keeps running, still woken */
			sleep_ms(300);
			CU_ASSERT(alive(pid));
		}
	}
	CU_ASSERT(log_count(d.log, "configuration reloaded") == 1);
	CU_ASSERT_EQUAL(stop_daemon(&d, 0), 0);
	CU_ASSERT(access(d.sock, F_OK) != 0); /* removed its socket */
out:
	daemon_teardown(&d);
}

/* Database unreachable: the daemon stays up, backs off (no spinning, even when woken), and
 * still stops cleanly. */
static void test_daemon_db_down(void)
{
	struct daemon d;
	CU_ASSERT_EQUAL_FATAL(daemon_setup(&d, "worker_poll_seconds = 1\n"
					      "db_socket = /tmp/apf-wt-none/x.sock\n"), 0);
	pid_t pid = daemon_spawn(&d, 0, "down");
	if (pid <= 0 || wait_socket(d.sock, pid, 10) != 0) {
		CU_FAIL("daemon did not bind its wake socket");
		goto out;
	}
	double cpu0 = cpu_seconds(pid);
	for (int i = 0; i < 25; i++) { /* 2.5 s of wakes every 100 ms */
		queue_wake();
		sleep_ms(100);
	}
	CU_ASSERT(alive(pid));
	double cpu = cpu_seconds(pid) - cpu0;
	CU_ASSERT(cpu0 >= 0 && cpu >= 0 && cpu < 0.5);
	/* back-off 1, 2 s: about 3 connection attempts in 2.5 s, not hundreds */
	int attempts = log_count(d.log, "database connect failed");
	CU_ASSERT(attempts >= 2 && attempts <= 5);
	CU_ASSERT(log_count(d.log, "retrying in 2 s") == 1);
	CU_ASSERT_EQUAL(stop_daemon(&d, 0), 0);
out:
	daemon_teardown(&d);
}

/* Two workers: the first owns worker_socket, the second binds <worker_socket>.b and takes the
 * path over when the first stops. */
static void test_daemon_takeover(void)
{
	struct daemon d;
	CU_ASSERT_EQUAL_FATAL(daemon_setup(&d, "worker_poll_seconds = 1\n"), 0);
	char second[160];
	snprintf(second, sizeof second, "%s.b", d.sock);
	pid_t a = daemon_spawn(&d, 0, "a");
	if (a <= 0 || wait_socket(d.sock, a, 10) != 0) {
		CU_FAIL("first daemon did not bind worker_socket");
		goto out;
	}
	pid_t b = daemon_spawn(&d, 1, "b");
	if (b <= 0 || wait_socket(second, b, 10) != 0) {
		CU_FAIL("second daemon did not bind <worker_socket>.b");
		goto out;
	}
	CU_ASSERT_EQUAL(stop_daemon(&d, 0), 0);
	CU_ASSERT_EQUAL(wait_gone(second, 3), 0);
	CU_ASSERT_EQUAL(wait_socket(d.sock, b, 3), 0);
	CU_ASSERT(log_count(d.log, "took over the wake socket") == 1);

	long long id = tdb_push(QUEUE_HOUSEKEEPING, "housekeeping.purge", NULL, 0);
	queue_wake();
	CU_ASSERT(wait_state(id, "done", 2.0) >= 0);
	CU_ASSERT_EQUAL(stop_daemon(&d, 1), 0);
	CU_ASSERT(access(d.sock, F_OK) != 0);
out:
	daemon_teardown(&d);
}

static const struct db_query Q_T_LOCKED_BY = {
	"SELECT IFNULL(locked_by, '') FROM queue_jobs WHERE id = ?"
};

/* queue_wake() reaches every worker: with the owner of worker_socket frozen, the second one
 * (polling every 30 s) still runs a pushed job at once. */
static void test_daemon_wake_all(void)
{
	struct daemon d;
	CU_ASSERT_EQUAL_FATAL(daemon_setup(&d, "worker_poll_seconds = 30\n"), 0);
	char second[160];
	snprintf(second, sizeof second, "%s.b", d.sock);
	pid_t a = daemon_spawn(&d, 0, "a");
	if (a <= 0 || wait_socket(d.sock, a, 10) != 0) {
		CU_FAIL("first daemon did not bind worker_socket");
		goto out;
	}
	pid_t b = daemon_spawn(&d, 1, "b");
	if (b <= 0 || wait_socket(second, b, 10) != 0) {
		CU_FAIL("second daemon did not bind <worker_socket>.b");
		goto out;
	}
	sleep_ms(300);
	CU_ASSERT_EQUAL(kill(a, SIGSTOP), 0);
	long long id = tdb_push(QUEUE_HOUSEKEEPING, "housekeeping.purge", NULL, 0);
	queue_wake();
	CU_ASSERT(wait_state(id, "done", 2.0) >= 0);
	struct db_res res;
	CU_ASSERT_EQUAL(db_exec(tdb, &Q_T_LOCKED_BY, DB_ARGS(DI(id)), &res), E_OK);
	const char *by = db_get(&res, 0, 0);
	CU_ASSERT(by && strlen(by) > 2 && strcmp(by + strlen(by) - 2, "/b") == 0);
	db_res_free(&res);
	kill(a, SIGCONT);
	CU_ASSERT_EQUAL(stop_daemon(&d, 0), 0);
	CU_ASSERT_EQUAL(stop_daemon(&d, 1), 0);
out:
	daemon_teardown(&d);
}

int suite_daemon_add(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("daemon", NULL, NULL, tdb_clean, NULL);
	if (!s)
		return -1;
	if (!CU_add_test(s, "wake runs a pushed job at once; SIGHUP; SIGTERM exits 0",
			 test_daemon_wake) ||
	    !CU_add_test(s, "database down: backs off, no spin, stops cleanly", test_daemon_db_down) ||
	    !CU_add_test(s, "second worker takes the wake socket over", test_daemon_takeover) ||
	    !CU_add_test(s, "queue_wake wakes every worker", test_daemon_wake_all))
		return -1;
	return 0;
}
