/* test_hubrate.c - the per-hub message budget of the backend's MQTT link (workers/hubrate.c). */
#include "tunit.h"

#include "hubrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_A "0b1c2d3e-0000-4000-8000-00000000000a"
#define HUB_B "0b1c2d3e-0000-4000-8000-00000000000b"

static int take(struct hubrate *t, const char *id, int64_t now, uint64_t *rep)
{
	return hubrate_take(t, id, strlen(id), now, rep);
}

/* A burst is taken whole, the rest dropped; the bucket refills at the rate. */
static void test_burst_then_rate(void)
{
	struct hubrate *t = malloc(sizeof *t);
	uint64_t rep;
	int ok = 0;
	hubrate_init(t, 10, 20, 1000);
	for (int i = 0; i < 50; i++)
		ok += take(t, HUB_A, 1000, &rep);
	TU_INT(ok, 20);
	/* 500 ms later: 5 more */
	ok = 0;
	for (int i = 0; i < 50; i++)
		ok += take(t, HUB_A, 1500, &rep);
	TU_INT(ok, 5);
	/* never more than the burst, however long the pause */
	ok = 0;
	for (int i = 0; i < 50; i++)
		ok += take(t, HUB_A, 100000, &rep);
	TU_INT(ok, 20);
	free(t);
}

/* One hub's flood takes nothing from another hub. */
static void test_hubs_apart(void)
{
	struct hubrate *t = malloc(sizeof *t);
	uint64_t rep;
	hubrate_init(t, 5, 5, 1000);
	for (int i = 0; i < 1000; i++)
		take(t, HUB_A, 1000, &rep);
	int ok = 0;
	for (int i = 0; i < 5; i++)
		ok += take(t, HUB_B, 1000, &rep);
	TU_INT(ok, 5);
	TU_INT(take(t, HUB_A, 1000, &rep), 0);
	free(t);
}

/* Drops are reported at once, then at most once per interval, with the count since the last
 * report. */
static void test_drop_reports(void)
{
	struct hubrate *t = malloc(sizeof *t);
	uint64_t rep;
	int reports = 0;
	hubrate_init(t, 1, 1, 10000);
	take(t, HUB_A, 1000, &rep);
	TU_INT(rep, 0);
	TU_INT(take(t, HUB_A, 1000, &rep), 0);
	TU_INT(rep, 1); /* the first drop is said at once */
	for (int i = 0; i < 99; i++) {
		take(t, HUB_A, 1000 + i, &rep); /* refills 0.099 tokens: all dropped */
		reports += rep > 0;
	}
	TU_INT(reports, 0);
	TU_INT(take(t, HUB_A, 11000, &rep), 1); /* 10 s later: refilled, taken, nothing said */
	TU_INT(take(t, HUB_A, 11000, &rep), 0);
	TU_INT(rep, 99 + 1);                    /* the 99 held back and this one */
	free(t);
}

/* More hubs than the table holds: every hub still gets its budget; none is limited by
 * another's spending. */
static void test_table_full(void)
{
	struct hubrate *t = malloc(sizeof *t);
	uint64_t rep;
	char id[40];
	hubrate_init(t, 1, 2, 1000);
	int ok = 0;
	for (int h = 0; h < 3 * HUBRATE_SLOTS; h++) {
		snprintf(id, sizeof id, "hub-%08d", h);
		ok += take(t, id, 1000 + h, &rep);
		ok += take(t, id, 1000 + h, &rep);
	}
	TU_INT(ok, 2 * 3 * HUBRATE_SLOTS);
	free(t);
}

/* rate 0 = no limit; ids longer than the table holds are not limited (never a hub's). */
static void test_unlimited(void)
{
	struct hubrate *t = malloc(sizeof *t);
	uint64_t rep;
	hubrate_init(t, 0, 1, 1000);
	int ok = 0;
	for (int i = 0; i < 100; i++)
		ok += take(t, HUB_A, 1000, &rep);
	TU_INT(ok, 100);
	free(t);
}

static void test_topic_hub(void)
{
	size_t n = 0;
	const char *h = hubrate_topic_hub("apf/v1/" HUB_A "/status", &n);
	TU_CHECK(h && n == strlen(HUB_A) && strncmp(h, HUB_A, n) == 0, "hub of a status topic");
	TU_CHECK(hubrate_topic_hub("apf/v1//status", &n) == NULL, "empty hub");
	TU_CHECK(hubrate_topic_hub("apf/v1/" HUB_A, &n) == NULL, "no kind");
	TU_CHECK(hubrate_topic_hub("other/v1/" HUB_A "/status", &n) == NULL, "other prefix");
}

int init_hubrate_suite(void)
{
	CU_pSuite s = CU_add_suite("hubrate", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_burst_then_rate);
	TU_ADD(s, test_hubs_apart);
	TU_ADD(s, test_drop_reports);
	TU_ADD(s, test_table_full);
	TU_ADD(s, test_unlimited);
	TU_ADD(s, test_topic_hub);
	return 0;
}
