/* test_queue.c - retry backoff of the work queue (common/queue.c): 2^n * 5 s, at most 1 hour. */
#include "tunit.h"

#include "queue.h"

#include <limits.h>

static void test_backoff_values(void)
{
	TU_INT(queue_backoff_seconds(0), 5);
	TU_INT(queue_backoff_seconds(1), 10);
	TU_INT(queue_backoff_seconds(2), 20);
	TU_INT(queue_backoff_seconds(3), 40);
	TU_INT(queue_backoff_seconds(4), 80);
	TU_INT(queue_backoff_seconds(8), 1280);
	TU_INT(queue_backoff_seconds(9), 2560);
	TU_INT(queue_backoff_seconds(10), 3600); /* 5120 capped */
	TU_INT(queue_backoff_seconds(11), 3600);
}

static void test_backoff_monotonic_and_capped(void)
{
	long prev = 0;
	for (unsigned n = 0; n < 200; n++) {
		long s = queue_backoff_seconds(n);
		TU_CHECK(s >= 1 && s <= 3600, "backoff(%u) = %ld", n, s);
		TU_CHECK(s >= prev, "backoff(%u) = %ld < backoff(%u) = %ld", n, s, n - 1, prev);
		if (n > 0 && prev < 3600)
			TU_CHECK(s == 2 * prev || s == 3600, "backoff(%u) = %ld does not double %ld", n, s,
				 prev);
		prev = s;
	}
	/* shift widths beyond the type never wrap around to small or negative waits */
	TU_INT(queue_backoff_seconds(31), 3600);
	TU_INT(queue_backoff_seconds(32), 3600);
	TU_INT(queue_backoff_seconds(63), 3600);
	TU_INT(queue_backoff_seconds(64), 3600);
	TU_INT(queue_backoff_seconds(1000), 3600);
	TU_INT(queue_backoff_seconds(UINT_MAX), 3600);
}

int init_queue_suite(void)
{
	CU_pSuite s = CU_add_suite("queue", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_backoff_values);
	TU_ADD(s, test_backoff_monotonic_and_capped);
	return 0;
}
