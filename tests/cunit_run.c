#include "cunit_run.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* $APF_TEST_SUITES (comma-separated suite names): only those run, for a quick local rerun;
 * unset or empty (scripts/test.sh unsets it) = every suite. A selection is announced, so a
 * shrunken run never looks like a whole one. */
static void select_suites(const char *name)
{
	const char *want = getenv("APF_TEST_SUITES");
	if (!want || !*want)
		return;
	fprintf(stderr, "%s: APF_TEST_SUITES=%s: only these suites run\n", name, want);
	CU_set_fail_on_inactive(CU_FALSE);
	for (CU_pSuite s = CU_get_registry()->pSuite; s; s = s->pNext) {
		size_t len = strlen(s->pName);
		int on = 0;
		for (const char *p = want; *p; p += strcspn(p, ",")) {
			p += *p == ',';
			if (strncmp(p, s->pName, len) == 0 && (p[len] == ',' || p[len] == '\0'))
				on = 1;
		}
		CU_set_suite_active(s, on ? CU_TRUE : CU_FALSE);
	}
}

/* ------------------------------------------------------------------ per-suite time limit */

/* Every suite runs under an alarm of $APF_SUITE_TIMEOUT seconds (default SUITE_TIMEOUT_S),
 * armed by its initialisation and disarmed by its cleanup, which wrap the suite's own. A suite
 * that hangs ends the binary with a message naming it (exit 124, no summary: the caller counts
 * a failure) instead of blocking the run. */
#define SUITE_TIMEOUT_S 900
#define MAX_SUITES 64

static struct {
	CU_pSuite suite;
	CU_InitializeFunc init;
	CU_CleanupFunc cleanup;
} wrapped[MAX_SUITES];
static unsigned n_wrapped, suite_limit;
static char alarm_msg[256];

static void say(const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(2, s, n);
		if (w <= 0)
			break;
		s += w;
		n -= (size_t)w;
	}
}

/* Ends the processes this binary started (simulators, clients) and the binary itself. */
static void on_alarm(int sig)
{
	(void)sig;
	say(alarm_msg);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	FILE *f = fopen(path, "r");
	long pid;
	while (f && fscanf(f, "%ld", &pid) == 1)
		kill((pid_t)pid, SIGKILL);
	if (f)
		fclose(f);
	_exit(124);
}

static int find_wrapped(CU_pSuite s)
{
	for (unsigned i = 0; i < n_wrapped; i++)
		if (wrapped[i].suite == s)
			return (int)i;
	return -1;
}

static int timed_init(void)
{
	CU_pSuite s = CU_get_current_suite();
	int i = find_wrapped(s);
	snprintf(alarm_msg, sizeof alarm_msg,
		 "\n!!! suite \"%s\" still running after %u s (APF_SUITE_TIMEOUT): aborted\n",
		 s ? s->pName : "?", suite_limit);
	alarm(suite_limit);
	return i >= 0 && wrapped[i].init ? wrapped[i].init() : 0;
}

static int timed_cleanup(void)
{
	int i = find_wrapped(CU_get_current_suite());
	int rc = i >= 0 && wrapped[i].cleanup ? wrapped[i].cleanup() : 0;
	alarm(0);
	return rc;
}

static int arm_suite_limits(const char *name)
{
	const char *v = getenv("APF_SUITE_TIMEOUT");
	long limit = v && *v ? strtol(v, NULL, 10) : SUITE_TIMEOUT_S;
	suite_limit = limit > 0 ? (unsigned)limit : SUITE_TIMEOUT_S;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	for (CU_pSuite s = CU_get_registry()->pSuite; s; s = s->pNext) {
		if (n_wrapped == MAX_SUITES) {
			fprintf(stderr, "%s: more than %d suites\n", name, MAX_SUITES);
			return -1;
		}
		wrapped[n_wrapped].suite = s;
		wrapped[n_wrapped].init = s->pInitializeFunc;
		wrapped[n_wrapped].cleanup = s->pCleanupFunc;
		n_wrapped++;
		s->pInitializeFunc = timed_init;
		s->pCleanupFunc = timed_cleanup;
	}
	return 0;
}

int cunit_run(const char *name, int (*const *suites)(void), size_t n)
{
	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "%s: CUnit: %s\n", name, CU_get_error_msg());
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		if (suites[i]() != 0) {
			fprintf(stderr, "%s: cannot register suite %zu: %s\n", name, i,
				CU_get_error_msg());
			CU_cleanup_registry();
			return 2;
		}
	}
	if (arm_suite_limits(name) < 0) {
		CU_cleanup_registry();
		return 2;
	}
	select_suites(name);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	alarm(0); /* a last suite whose initialisation failed never reached its cleanup */
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
			  CU_get_number_of_tests_failed();
	unsigned ran = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	if (ran == 0) {
		fprintf(stderr, "%s: no test ran\n", name);
		return 1;
	}
	return failed ? 1 : 0;
}
