/* t_stock_race.c - 32 clients at once for APF_RACE_SECONDS (default 60) on the same five SKUs:
 * fulfilling order lines, adjusting stock, completing print jobs and assembly tasks (the order
 * lines, jobs and tasks made beforehand are handed out evenly over the run). Each client
 * keeps what the server said it did; afterwards every SKU's ready_stock must equal its start plus
 * the sum of the accepted changes (no lost update), none is below 0, no answer was a 5xx (lock
 * waits and deadlocks are retried inside the server), each accepted change left exactly one
 * movement, and `apf-admin stock verify` is clean for the account. */
#include "apitest.h"
#include "rig.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLIENTS 32
#define SKUS 5
#define ORDERS 400
#define JOBS 60
#define TASKS 120
#define START_STOCK 40

static const struct db_query Q_FG_OF = {
	"SELECT id FROM finished_goods WHERE product_sku_id = ?"
};
static const struct db_query Q_READY = {
	"SELECT ready_stock FROM finished_goods WHERE id = ?"
};
static const struct db_query Q_PRINTING = {
	"UPDATE print_jobs SET status = 'printing', time_started = NOW(3) - INTERVAL 5 MINUTE"
	" WHERE id = ?"
};
static const struct db_query Q_MOVES_BY = {
	"SELECT COUNT(*) FROM stock_movements WHERE account_id = ? AND reason = ?"
};

struct line {
	char order[FX_ID], item[FX_ID];
	int sku, qty;
};
struct unit {
	char id[FX_ID];
	int sku, qty;
};

static struct race {
	const char *key;
	char sku[SKUS][FX_ID], fg[SKUS][FX_ID];
	struct line lines[ORDERS];
	struct unit jobs[JOBS], tasks[TASKS];
	atomic_int next_line, next_job, next_task;
	time_t start, until;
} R;

/* The next item of a pool of n, or -1: the pools are handed out evenly over the run, so the
 * four kinds of change interleave from the first second to the last. */
static int take(atomic_int *next, int n)
{
	time_t now = time(NULL);
	long due = R.until > R.start ? (long)n * (now - R.start + 1) / (R.until - R.start) : n;
	if (atomic_load(next) >= (due < n ? due : n))
		return -1;
	int i = atomic_fetch_add(next, 1);
	return i < n ? i : -1;
}

enum op { OP_FULFIL, OP_ADJUST, OP_JOB, OP_TASK, OP_COUNT };
static const char *const OP_REASON[OP_COUNT] = { "order_fulfilment", "adjust", "job_completed",
						 "assembly" };

struct racer {
	pthread_t th;
	int started;
	unsigned seed;
	long long delta[SKUS];  /* accepted changes of each SKU's ready_stock */
	long accepted[OP_COUNT], refused[OP_COUNT];
	long bad;               /* 5xx, transport errors, unexpected answers */
	char first_bad[1200];
};

static void note_bad(struct racer *c, const struct resp *r)
{
	if (c->bad++ == 0)
		snprintf(c->first_bad, sizeof c->first_bad, "%s -> %ld %.400s", r->what, r->status,
			 r->body ? r->body : r->curl_error);
}

/* One request of kind op; what the answer says goes into c. 0 when its pool has nothing to
 * hand out yet (or any more). */
static int one(struct racer *c, enum op op)
{
	char path[200], body[300];
	int sku = 0, qty = 0, i;
	const char *refusal = NULL;
	RESP(r);
	switch (op) {
	case OP_FULFIL:
		if ((i = take(&R.next_line, ORDERS)) < 0)
			return 0;
		sku = R.lines[i].sku;
		qty = R.lines[i].qty;
		snprintf(path, sizeof path, "/orders/%s/items/%s/fulfill", R.lines[i].order,
			 R.lines[i].item);
		snprintf(body, sizeof body, "{\"quantity\":%d}", qty);
		qty = -qty;
		refusal = "INSUFFICIENT_STOCK";
		break;
	case OP_ADJUST:
		sku = (int)(rand_r(&c->seed) % SKUS);
		qty = (int)(rand_r(&c->seed) % 9) - 4;
		qty = qty ? qty : 1;
		snprintf(path, sizeof path, "/inventory/%s/adjust", R.fg[sku]);
		snprintf(body, sizeof body, "{\"adjustment\":%d,\"reason\":\"correction\"}", qty);
		refusal = "INVALID_STOCK_ADJUSTMENT";
		break;
	case OP_JOB:
		if ((i = take(&R.next_job, JOBS)) < 0)
			return 0;
		sku = R.jobs[i].sku;
		qty = R.jobs[i].qty;
		snprintf(path, sizeof path, "/jobs/%s/complete", R.jobs[i].id);
		body[0] = '\0';
		break;
	default:
		if ((i = take(&R.next_task, TASKS)) < 0)
			return 0;
		sku = R.tasks[i].sku;
		qty = R.tasks[i].qty;
		snprintf(path, sizeof path, "/assembly/%s/complete", R.tasks[i].id);
		body[0] = '\0';
		break;
	}
	api("POST", path, R.key, body[0] ? body : NULL, &r);
	if (r.status == 200) {
		c->delta[sku] += qty;
		c->accepted[op]++;
	} else if (r.status == 400 && refusal && jstr(r.json, "code") &&
		   strcmp(jstr(r.json, "code"), refusal) == 0) {
		c->refused[op]++;
	} else {
		note_bad(c, &r);
	}
	return 1;
}

static void *racer_run(void *arg)
{
	struct racer *c = arg;
	while (time(NULL) < R.until) {
		enum op op = (enum op)(rand_r(&c->seed) % OP_COUNT);
		if (!one(c, op))
			one(c, OP_ADJUST);
	}
	client_thread_end();
	return NULL;
}

static int created(const char *path, const char *body, char id[FX_ID], char item[FX_ID])
{
	RESP(r);
	api("POST", path, R.key, body, &r);
	if (!EXPECT(r, 201, NULL))
		return -1;
	snprintf(id, FX_ID, "%s", jstr(rdata(&r), "id") ? jstr(rdata(&r), "id") : "");
	if (item) {
		const json_t *it = json_array_get(json_object_get(rdata(&r), "items"), 0);
		snprintf(item, FX_ID, "%s", jstr(it, "id") ? jstr(it, "id") : "");
	}
	return id[0] && (!item || item[0]) ? 0 : -1;
}

static void test_race(void)
{
	struct rig *g = rig_new();
	struct racer *cl = calloc(CLIENTS, sizeof *cl);
	char product[FX_ID], path[200], body[600], v[64];
	static char race_key[FX_KEY], race_key_id[FX_ID];
	long long start[SKUS];
	RESP(r);
	memset(&R, 0, sizeof R);
	FX(cl ? 0 : -1);
	FX(rig_make(g, "X1 Carbon", 0));
	/* the clients' key may make 1,000,000 requests a minute: the race measures contention on
	 * the stock rows, not the per-key rate limit (which an unloaded machine would reach) */
	FX(fx_key(rig_account(g), "read,write", 1000000, NULL, race_key, race_key_id));
	R.key = race_key;
	FX(created("/products", "{\"name\":\"Race vase\"}", product, NULL));
	for (int s = 0; s < SKUS; s++) {
		snprintf(path, sizeof path, "/products/%s/skus", product);
		snprintf(body, sizeof body, "{\"sku\":\"RACE-%d\",\"color\":\"Red\"}", s);
		FX(created(path, body, R.sku[s], NULL));
		FX(FX_TEXT(R.fg[s], Q_FG_OF, DS(R.sku[s])));
		snprintf(path, sizeof path, "/inventory/%s/adjust", R.fg[s]);
		snprintf(body, sizeof body, "{\"adjustment\":%d,\"reason\":\"inventory_count\"}",
			 START_STOCK);
		api("POST", path, R.key, body, &r);
		FX(EXPECT(r, 200, NULL) ? 0 : -1);
		start[s] = START_STOCK;
	}
	for (int i = 0; i < ORDERS; i++) {
		struct line *l = &R.lines[i];
		l->sku = i % SKUS;
		l->qty = 1 + i % 3;
		snprintf(body, sizeof body,
			 "{\"customer_name\":\"Race %d\",\"items\":[{\"sku\":\"RACE-%d\","
			 "\"product_name\":\"Race vase\",\"quantity\":%d,\"unit_price\":1500,"
			 "\"product_sku_id\":\"%s\"}]}", i, l->sku, l->qty, R.sku[l->sku]);
		FX(created("/orders", body, l->order, l->item));
	}
	for (int i = 0; i < JOBS; i++) {
		struct unit *u = &R.jobs[i];
		u->sku = i % SKUS;
		u->qty = 1 + i % 2;
		snprintf(body, sizeof body, "\"product_sku_id\": \"%s\", \"number_of_units\": %d",
			 R.sku[u->sku], u->qty);
		FX(rig_job(g, rig_printer(g), body, u->id));
		FX(FX_SQL(Q_PRINTING, DS(u->id)));
	}
	for (int i = 0; i < TASKS; i++) {
		struct unit *u = &R.tasks[i];
		u->sku = i % SKUS;
		u->qty = 1 + i % 2;
		snprintf(body, sizeof body, "{\"finished_good_id\":\"%s\",\"quantity\":%d}",
			 R.fg[u->sku], u->qty);
		FX(created("/assembly", body, u->id, NULL));
	}

	const char *secs = getenv("APF_RACE_SECONDS");
	R.start = time(NULL);
	R.until = R.start + (secs && atoi(secs) > 0 ? atoi(secs) : 60);
	for (int i = 0; i < CLIENTS; i++) {
		cl[i].seed = 7919u * (unsigned)(i + 1);
		cl[i].started = pthread_create(&cl[i].th, NULL, racer_run, &cl[i]) == 0;
		CHECK(cl[i].started, NULL, "cannot start client %d", i);
	}
	long accepted[OP_COUNT] = { 0 }, refused[OP_COUNT] = { 0 }, bad = 0;
	for (int i = 0; i < CLIENTS; i++) {
		if (cl[i].started)
			pthread_join(cl[i].th, NULL);
		for (int s = 0; s < SKUS; s++)
			start[s] += cl[i].delta[s];
		for (int o = 0; o < OP_COUNT; o++) {
			accepted[o] += cl[i].accepted[o];
			refused[o] += cl[i].refused[o];
		}
		bad += cl[i].bad;
		CHECK(cl[i].bad == 0, NULL, "client %d: %ld bad answers, the first: %s", i,
		      cl[i].bad, cl[i].first_bad);
	}
	fprintf(stderr, "\n[stock race] %d clients: fulfilled %ld (refused %ld), adjusted %ld "
		"(refused %ld), jobs completed %ld, tasks completed %ld, bad %ld\n", CLIENTS,
		accepted[OP_FULFIL], refused[OP_FULFIL], accepted[OP_ADJUST], refused[OP_ADJUST],
		accepted[OP_JOB], accepted[OP_TASK], bad);
	/* every kind of change happened, and some refusals too (stock ran low) */
	for (int o = 0; o < OP_COUNT; o++)
		CHECK(accepted[o] > 0, NULL, "no accepted %s", OP_REASON[o]);

	/* no lost update: the counters are the start plus what was accepted */
	for (int s = 0; s < SKUS; s++)
		if (FX_TEXT(v, Q_READY, DS(R.fg[s])) == 0) {
			CHECK(atoll(v) >= 0, NULL, "RACE-%d below 0: %s", s, v);
			CHECK(atoll(v) == start[s], NULL, "RACE-%d: ready_stock %s, the accepted changes"
			      " give %lld", s, v, start[s]);
		}
	/* one movement per accepted change (plus the five opening adjustments) */
	for (int o = 0; o < OP_COUNT; o++)
		if (FX_TEXT(v, Q_MOVES_BY, DS(rig_account(g)), DS(OP_REASON[o])) == 0)
			CHECK(atol(v) == accepted[o] + (o == OP_ADJUST ? SKUS : 0), NULL,
			      "%s movements: %s, accepted %ld", OP_REASON[o], v, accepted[o]);
	json_t *j = FX_ADMIN("stock", "verify", "--account", rig_account(g));
	CHECK(j && json_integer_value(json_object_get(j, "differences")) == 0, NULL,
	      "the ledger verifies after the race");
	json_decref(j);
	free(cl);
	rig_free(g);
}

int suite_stock_race(void)
{
	CU_pSuite s = CU_add_suite("stock race", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_race);
	return 0;
}
