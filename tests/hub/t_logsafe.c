/* t_logsafe.c - hub-supplied strings in the worker's log (common/log.c log_str): a presence
 * whose session id and firmware version carry a newline, a terminal escape and a forged log
 * line reaches the stack's worker log as one escaped line, never as a line of its own. */
#include "th.h"

#include "util.h"

#include <stdio.h>
#include <string.h>

static void test_presence_strings_escaped(void)
{
	struct thub h;
	char tag[9], session[128], forged[64], needle[256], fw[32];
	memset(&h, 0, sizeof h);
	CU_ASSERT_FATAL(th_hub_create(&h) == 0);
	CU_ASSERT_FATAL(th_hub_connect(&h, false) == 0);
	util_random_hex(tag, 4);
	/* what a forged line would say, unique to this run */
	snprintf(forged, sizeof forged, "apf-worker[1] error: forged-%s", tag);
	snprintf(session, sizeof session, "s-%s\n%s", tag, forged);
	json_t *p = th_presence(&h, true, session);
	snprintf(fw, sizeof fw, "\x1b[2J%s", tag); /* clears a terminal showing the log */
	json_object_set_new(p, "firmware_version", json_string(fw));
	CU_ASSERT(th_pub(&h, h.id, "state", p) == 0);
	json_decref(p);
	snprintf(needle, sizeof needle, "(session s-%s\\x0a%s, firmware \\x1b[2J%s)", tag,
		 forged, tag);
	CU_ASSERT(th_wait_worker_log(needle, 5000) == 1);
	/* the forged text appears on that one line only */
	CU_ASSERT_EQUAL(th_worker_log_count(forged), 1);
	CU_ASSERT_EQUAL(th_worker_log_count(fw), 0); /* never raw */
	th_hub_close(&h);
}

int suite_logsafe_add(void)
{
	CU_pSuite s = CU_add_suite("log safety", NULL, NULL);
	if (!s || !CU_add_test(s, "hub strings are escaped in the worker's log",
			       test_presence_strings_escaped))
		return -1;
	return 0;
}
