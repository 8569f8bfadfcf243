/* test_dispatch.c - the pure helper of fcgi/dispatch.c: bracket depth of a JSON text, used to
 * refuse bodies nested deeper than REQ_MAX_DEPTH before parsing them. */
#include "tunit.h"

#include "dispatch.h"
#include "req.h"

#include <stdlib.h>
#include <string.h>

static int depth(const char *s)
{
	return json_text_depth(s, strlen(s));
}

static void test_depth_basic(void)
{
	TU_INT(depth(""), 0);
	TU_INT(depth("42"), 0);
	TU_INT(depth("\"text\""), 0);
	TU_INT(depth("{}"), 1);
	TU_INT(depth("[]"), 1);
	TU_INT(depth("{\"a\": 1, \"b\": 2}"), 1);
	TU_INT(depth("{\"a\": [1, 2]}"), 2);
	TU_INT(depth("[[[]]]"), 3);
	TU_INT(depth("[[], [], []]"), 2);          /* siblings do not add up */
	TU_INT(depth("{\"a\": {\"b\": {}}, \"c\": [[1]]}"), 3);
	TU_INT(depth("[{\"a\": [{\"b\": 1}]}]"), 4);
}

static void test_depth_strings(void)
{
	TU_INT(depth("{\"a\": \"[[[[{{{{\"}"), 1);     /* brackets inside strings ignored */
	TU_INT(depth("{\"[[[[\": 1}"), 1);            /* also in keys */
	TU_INT(depth("{\"a\": \"x\\\"[[[\"}"), 1);     /* escaped quote does not end the string */
	TU_INT(depth("{\"a\": \"x\\\\\", \"b\": [1]}"), 2); /* escaped backslash then a real end */
	TU_INT(depth("[\"\\\\\\\"[\", [2]]"), 2);      /* \\ \" [ inside one string */
	TU_INT(depth("[\"]]]]\", [[\"}\"]]]"), 3);
	TU_INT(depth("[\"\\u005b\"]"), 1);
}

static void test_depth_length_bound(void)
{
	const char *s = "[[[[[]]]]]";
	TU_INT(json_text_depth(s, 3), 3); /* only n bytes are read */
	TU_INT(json_text_depth(s, 0), 0);
	/* a string ending in a backslash at the end of the buffer does not read past it */
	char buf[4] = { '"', 'a', '\\', '[' };
	TU_INT(json_text_depth(buf, 3), 0);
	/* NUL inside the buffer does not stop the scan */
	char nul[5] = { '[', '\0', '[', ']', ']' };
	TU_INT(json_text_depth(nul, 5), 2);
}

static void test_depth_limit(void)
{
	char s[2 * (REQ_MAX_DEPTH + 1) + 1];
	for (int i = 0; i <= REQ_MAX_DEPTH; i++) {
		s[i] = '[';
		s[2 * (REQ_MAX_DEPTH + 1) - 1 - i] = ']';
	}
	s[2 * (REQ_MAX_DEPTH + 1)] = '\0';
	TU_INT(depth(s), REQ_MAX_DEPTH + 1);
	TU_INT(json_text_depth(s + 1, strlen(s) - 2), REQ_MAX_DEPTH);
	/* 100000 levels: counted, no recursion, no overflow */
	size_t n = 200000;
	char *deep = malloc(n + 1);
	for (size_t i = 0; i < n / 2; i++) {
		deep[i] = '{';
		deep[n - 1 - i] = '}';
	}
	deep[n] = '\0';
	TU_INT(json_text_depth(deep, n), 100000);
	free(deep);
}

int init_dispatch_suite(void)
{
	CU_pSuite s = CU_add_suite("dispatch", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_depth_basic);
	TU_ADD(s, test_depth_strings);
	TU_ADD(s, test_depth_length_bound);
	TU_ADD(s, test_depth_limit);
	return 0;
}
