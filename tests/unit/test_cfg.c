/* test_cfg.c - the key = value configuration (common/cfg.c). The table is process-global:
 * every key used here starts with "ut_" so no other suite can depend on it. */
#include "tunit.h"

#include "cfg.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes text to a new temporary file; path into path[64]. 0 or -1. */
static int write_tmp(char path[64], const char *text)
{
	snprintf(path, 64, "/tmp/apf-unit-cfg-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	size_t n = strlen(text);
	int ok = write(fd, text, n) == (ssize_t)n;
	close(fd);
	return ok ? 0 : -1;
}

/* cfg_load(path) with stderr sent to /dev/null: the expected "cannot read config" line. */
static int quiet_load(const char *path)
{
	fflush(stderr);
	int saved_err = dup(STDERR_FILENO), devnull = open("/dev/null", O_WRONLY);
	if (devnull >= 0)
		dup2(devnull, STDERR_FILENO);
	int rc = cfg_load(path);
	fflush(stderr);
	if (saved_err >= 0) {
		dup2(saved_err, STDERR_FILENO);
		close(saved_err);
	}
	if (devnull >= 0)
		close(devnull);
	return rc;
}

static void test_cfg_set_and_get(void)
{
	TU_CHECK(cfg_str("ut_never_set", NULL) == NULL, "absent key with NULL default");
	TU_STR(cfg_str("ut_never_set", "dflt"), "dflt");
	cfg_set("ut_a", "x");
	TU_STR(cfg_str("ut_a", "dflt"), "x");
	cfg_set("ut_a", "y"); /* override */
	TU_STR(cfg_str("ut_a", "dflt"), "y");
	cfg_set("ut_a", ""); /* empty counts as absent */
	TU_STR(cfg_str("ut_a", "dflt"), "dflt");
	TU_STR(cfg_str("UT_A", "dflt"), "dflt"); /* keys are case-sensitive */
	TU_STR(cfg_str("ut_", "dflt"), "dflt");    /* no prefix matching */
}

static void test_cfg_int(void)
{
	cfg_set("ut_i1", "42");
	cfg_set("ut_i2", "-3");
	cfg_set("ut_i3", "4x");
	cfg_set("ut_i4", "");
	cfg_set("ut_i5", "abc");
	cfg_set("ut_i6", "99999999999999999999999");
	cfg_set("ut_i7", "0");
	TU_INT(cfg_int("ut_i1", 7), 42);
	TU_INT(cfg_int("ut_i2", 7), -3);
	TU_INT(cfg_int("ut_i3", 7), 7);
	TU_INT(cfg_int("ut_i4", 7), 7);
	TU_INT(cfg_int("ut_i5", 7), 7);
	TU_INT(cfg_int("ut_i6", 7), 7);
	TU_INT(cfg_int("ut_i7", 7), 0);
	TU_INT(cfg_int("ut_absent", -9), -9);
}

static void test_cfg_load_file(void)
{
	char path[64];
	const char *text =
		"# comment line\n"
		"   # indented comment = not a key\n"
		"\n"
		"   \t \n"
		"ut_k1 = value one  \n"
		"ut_k2=v=2\n"
		"ut_empty =\n"
		"ut_noequals line\n"
		"  ut_n = 17\n"
		"\tut_tab\t=\tt\t\n"
		"ut_crlf = windows\r\n"
		"ut_k1 = later\n"
		"ut_last = no newline";
	TU_INT(write_tmp(path, text), 0);
	TU_INT(cfg_load(path), 0);
	TU_STR(cfg_path(), path);
	TU_STR(cfg_str("ut_k1", NULL), "later"); /* a later line wins */
	TU_STR(cfg_str("ut_k2", NULL), "v=2");   /* split at the first '=' */
	TU_STR(cfg_str("ut_empty", "dflt"), "dflt");
	TU_CHECK(cfg_str("ut_noequals line", NULL) == NULL, "line without '=' became a key");
	TU_CHECK(cfg_str("ut_noequals", NULL) == NULL, "line without '=' became a key");
	TU_INT(cfg_int("ut_n", 0), 17);
	TU_STR(cfg_str("ut_tab", NULL), "t");
	TU_STR(cfg_str("ut_crlf", NULL), "windows");
	TU_STR(cfg_str("ut_last", NULL), "no newline");
	TU_CHECK(cfg_str("# comment line", NULL) == NULL, "comment became a key");
	TU_CHECK(cfg_str("# indented comment", NULL) == NULL, "comment became a key");
	unlink(path);
	/* values loaded earlier survive a failed load */
	TU_INT(quiet_load("/nonexistent/apf-unit.conf"), -1);
	TU_STR(cfg_str("ut_k1", NULL), "later");
	/* cfg_set overrides a loaded value */
	cfg_set("ut_k1", "cli");
	TU_STR(cfg_str("ut_k1", NULL), "cli");
}

static void test_cfg_load_env(void)
{
	char path[64];
	TU_INT(write_tmp(path, "ut_env_key = from env\n"), 0);
	const char *old = getenv("APF_CONF");
	char *saved = old ? strdup(old) : NULL;
	setenv("APF_CONF", path, 1);
	TU_INT(cfg_load(NULL), 0);
	TU_STR(cfg_path(), path);
	TU_STR(cfg_str("ut_env_key", NULL), "from env");
	TU_INT(cfg_load(""), 0); /* an empty path also falls back to $APF_CONF */
	TU_STR(cfg_path(), path);
	if (saved)
		setenv("APF_CONF", saved, 1);
	else
		unsetenv("APF_CONF");
	free(saved);
	unlink(path);
}

/* include = PATH loads PATH in place (later lines win); a missing include fails the load */
static void test_cfg_include(void)
{
	char inner[64], outer[64], bad[64], text[256];
	TU_INT(write_tmp(inner, "ut_inc_secret = s3cret\nut_inc_both = inner\n"), 0);
	snprintf(text, sizeof text,
		 "ut_inc_both = outer\nut_inc_secret = CHANGE_ME\ninclude = %s\nut_inc_after = a\n", inner);
	TU_INT(write_tmp(outer, text), 0);
	TU_INT(cfg_load(outer), 0);
	TU_STR(cfg_path(), outer);
	TU_STR(cfg_str("ut_inc_secret", NULL), "s3cret"); /* the include comes later: it wins */
	TU_STR(cfg_str("ut_inc_both", NULL), "inner");
	TU_STR(cfg_str("ut_inc_after", NULL), "a");
	TU_CHECK(cfg_str("include", NULL) == NULL, "include became a key");
	TU_INT(write_tmp(bad, "ut_inc_bad = 1\ninclude = /nonexistent/apf-unit-secrets.conf\n"), 0);
	TU_INT(quiet_load(bad), -1);
	TU_STR(cfg_path(), outer); /* the failed load did not become the loaded path */
	unlink(inner);
	unlink(outer);
	unlink(bad);
}

int init_cfg_suite(void)
{
	CU_pSuite s = CU_add_suite("cfg", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_cfg_set_and_get);
	TU_ADD(s, test_cfg_int);
	TU_ADD(s, test_cfg_load_file);
	TU_ADD(s, test_cfg_load_env);
	TU_ADD(s, test_cfg_include);
	return 0;
}
