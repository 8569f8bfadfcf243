/* cunit_run.h - the one CUnit runner of every test binary: registers the suites (each function
 * adds its suite and tests, returning 0 or -1), runs them with the basic runner in verbose mode
 * (whose "Run Summary" scripts/test.sh reads), and returns the exit status: 0 every test passed,
 * 1 a failure or no test ran, 2 the registry could not be set up, 124 a suite ran longer than
 * $APF_SUITE_TIMEOUT seconds (default 900; the binary's child processes are killed with it).
 * $APF_TEST_SUITES (comma-separated suite names) runs only those suites, with a notice. */
#ifndef APF_CUNIT_RUN_H
#define APF_CUNIT_RUN_H

#include <stddef.h>

int cunit_run(const char *name, int (*const *suites)(void), size_t n);

#define CUNIT_RUN(name, ...)                                                            \
	cunit_run((name), (int (*const[])(void)){ __VA_ARGS__ },                        \
		  sizeof((int (*const[])(void)){ __VA_ARGS__ }) / sizeof(int (*)(void)))

#endif
