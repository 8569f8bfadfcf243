/* t_webhooks.c - webhooks (docs/webhooks.md): the endpoints under /v1/webhooks (projections,
 * the secret shown only by create and rotate-secret, validation naming the field, destinations
 * refused at registration, scope, another account's ids), and delivery by the worker to a
 * receiver of this process (tests/api/whrecv.h): every signature checked by the npm
 * standardwebhooks package (tests/webhooks/verify.js), job events in the change's transaction,
 * another account's events never delivered, a receiver down for a while gets every event, a
 * worker killed mid-delivery delivers again with the same webhook-id, a private address
 * refused at delivery, the per-endpoint bound held across two workers, and the events of the
 * status reports, of every stock path and of file processing. The test stack's apf.conf allows
 * loopback (scripts/stack.sh). */
#include "apitest.h"
#include "rig.h"
#include "whrecv.h"

#include "b64.h"
#include "cfg.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"
#define WAIT_MS 20000

static struct whrecv *recv_;

static const char *const HOOK_KEYS[] = {
	"id", "url", "description", "event_types", "enabled", "disabled_reason", "failure_streak",
	"last_success_at", "created_at", "updated_at", NULL
};
static const char *const HOOK_KEYS_SECRET[] = {
	"id", "url", "description", "event_types", "enabled", "disabled_reason", "failure_streak",
	"last_success_at", "created_at", "updated_at", "secret", NULL
};
static const char *const DELIVERY_KEYS[] = {
	"id", "event_id", "event_type", "status", "attempts", "next_attempt_at", "last_status_code",
	"last_error", "last_duration_ms", "last_attempt_at", "delivered_at", "created_at", NULL
};

static const struct db_query Q_SECRET = { "SELECT secret FROM webhook_endpoints WHERE id = ?" };
static const struct db_query Q_DELIVERY_OF = {
	"SELECT CONCAT(status, '|', attempts >= 2) FROM webhook_deliveries WHERE event_id = ?"
};
static const struct db_query Q_DELIVERY_STATUS = {
	"SELECT status FROM webhook_deliveries WHERE event_id = ?"
};
static const struct db_query Q_RETRIED = {
	"SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ? AND attempts >= 2"
};
static const struct db_query Q_EVENTS_OF = {
	"SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ?"
};
static const struct db_query Q_LAST_ERROR = {
	"SELECT IFNULL(last_error, '') FROM webhook_deliveries WHERE event_id = ?"
};
static const struct db_query Q_PRIVATE_HOOK = {
	"INSERT INTO webhook_endpoints (id, account_id, url, event_types, secret)"
	" VALUES (?, ?, 'http://10.255.255.1:9/private', JSON_ARRAY('job.cancelled'), ?)"
};

static int suite_up(void)
{
	recv_ = whrecv_start();
	return recv_ ? 0 : -1;
}

static int suite_down(void)
{
	whrecv_free(recv_);
	recv_ = NULL;
	return 0;
}

static const char *hook_url(const char *path)
{
	static char url[4][128];
	static int slot;
	char *u = url[slot++ % 4];
	snprintf(u, 128, "http://127.0.0.1:%u%s", whrecv_port(recv_), path);
	return u;
}

/* POST /webhooks for path with types (JSON array text); id and secret out. 0 or -1. */
static int make_hook(const char *key, const char *path, const char *types, char id[FX_ID],
		     char secret[64])
{
	char body[512];
	RESP(r);
	snprintf(body, sizeof body, "{\"url\":\"%s\",\"event_types\":%s}", hook_url(path), types);
	api("POST", "/webhooks", key, body, &r);
	if (!EXPECT(r, 201, NULL))
		return -1;
	snprintf(id, FX_ID, "%s", jstr(rdata(&r), "id") ? jstr(rdata(&r), "id") : "");
	if (secret)
		snprintf(secret, 64, "%s", jstr(rdata(&r), "secret") ? jstr(rdata(&r), "secret") : "");
	return 0;
}

/* POST /webhooks/{id}/test: the event id into event. 0 or -1. */
static int send_test(const char *key, const char *hook, char event[FX_ID])
{
	char path[128];
	RESP(r);
	snprintf(path, sizeof path, "/webhooks/%s/test", hook);
	api("POST", path, key, NULL, &r);
	if (!EXPECT(r, 202, NULL))
		return -1;
	snprintf(event, FX_ID, "%s", jstr(rdata(&r), "event_id") ? jstr(rdata(&r), "event_id") : "");
	return 0;
}

/* Polls q(id) until it reads want (ms at most). */
static int becomes(const struct db_query *q, const char *id, const char *want, long ms)
{
	char got[256] = "";
	for (long t = 0; t <= ms; t += 100) {
		if (fx_sql_text_poll(q, DB_ARGS(DS(id)), got, sizeof got) < 0)
			return 0;
		if (strcmp(got, want) == 0)
			return 1;
		sleep_ms(100);
	}
	return CHECK(0, NULL, "%s: got \"%s\", want \"%s\"", q->sql, got, want);
}

/* The recorded requests of path verified by tests/webhooks/verify.js; the count verified. */
static int node_verified(const char *path, const char *secret)
{
	const char *src = getenv("APF_SRC") && *getenv("APF_SRC") ? getenv("APF_SRC") : ".";
	const char *bin = getenv("APF_BIN") && *getenv("APF_BIN") ? getenv("APF_BIN") : "build/bin";
	char file[1024], cmd[4096], out[256] = "";
	snprintf(file, sizeof file, "%s/log/webhooks-%d.jsonl", cfg_str("var_dir", "."), getpid());
	int n = whrecv_dump(recv_, path, secret, file);
	if (!CHECK(n > 0, NULL, "requests of %s recorded", path))
		return -1;
	snprintf(cmd, sizeof cmd, "NODE_PATH='%s/../webhooks/node_modules' node '%s/tests/webhooks/"
		 "verify.js' '%s' 2>&1", bin, src, file);
	FILE *p = popen(cmd, "r");
	if (!p || !fgets(out, sizeof out, p))
		out[0] = '\0';
	int rc = p ? pclose(p) : -1;
	if (!CHECK(rc == 0, NULL, "verify.js: %s", out))
		return -1;
	int verified = -1;
	sscanf(out, "verified %d", &verified);
	INT_EQ(verified, n, NULL);
	return verified;
}

/* ------------------------------------------------------------------------ the endpoints */

static void test_crud(void)
{
	struct tenant t;
	char id[FX_ID], path[128], stored[64], secret[64];
	unsigned char raw[64];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	char body[512];
	snprintf(body, sizeof body, "{\"url\":\"%s\",\"event_types\":[\"job.completed\","
		 "\"order.fulfilled\"],\"description\":\"ERP\",\"unknown\":1}", hook_url("/crud"));
	api("POST", "/webhooks", t.key, body, &r);
	if (!EXPECT(r, 201, NULL))
		return;
	json_t *d = rdata(&r);
	KEYS(d, HOOK_KEYS_SECRET, &r);
	snprintf(id, sizeof id, "%s", jstr(d, "id"));
	snprintf(secret, sizeof secret, "%s", jstr(d, "secret") ? jstr(d, "secret") : "");
	CHECK(strncmp(secret, "whsec_", 6) == 0, &r, "secret starts with whsec_");
	long nraw = b64_decode(B64_STD, secret + 6, strlen(secret + 6), raw, sizeof raw);
	CHECK(nraw >= 24 && nraw <= 32, &r, "secret is base64 of 24-32 bytes (%ld)", nraw);
	INT_EQ(jbool(d, "enabled"), 1, &r);
	INT_EQ(json_array_size(json_object_get(d, "event_types")), 2, &r);
	FX(FX_TEXT(stored, Q_SECRET, DS(id)));
	STR_EQ(stored, secret, &r);
	/* never shown again */
	snprintf(path, sizeof path, "/webhooks/%s", id);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), HOOK_KEYS, &r);
		CHECK(!strstr(r.body, secret + 6), &r, "the secret is not in the detail");
	}
	api("GET", "/webhooks", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(json_array_size(rdata(&r)), 1, &r);
		KEYS(json_array_get(rdata(&r), 0), HOOK_KEYS, &r);
		CHECK(!strstr(r.body, secret + 6), &r, "the secret is not in the list");
	}
	/* disable, enable */
	api("PATCH", path, t.key, "{\"enabled\":false}", &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "enabled"), 0, &r);
		STR_EQ(jstr(rdata(&r), "disabled_reason"), "disabled through the API", &r);
	}
	api("PATCH", path, t.key, "{\"enabled\":true,\"description\":null}", &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "enabled"), 1, &r);
		CHECK(json_is_null(json_object_get(rdata(&r), "disabled_reason")), &r, "reason cleared");
		CHECK(json_is_null(json_object_get(rdata(&r), "description")), &r, "description null");
		CHECK(!strstr(r.body, secret + 6), &r, "the secret is not in the update's answer");
	}
	api("PATCH", path, t.key, "{}", &r);
	EXPECT(r, 400, "NO_UPDATES");
	/* rotate: a new secret, answered once, stored */
	snprintf(path, sizeof path, "/webhooks/%s/rotate-secret", id);
	api("POST", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), HOOK_KEYS_SECRET, &r);
		const char *s2 = jstr(rdata(&r), "secret");
		CHECK(s2 && strncmp(s2, "whsec_", 6) == 0 && strcmp(s2, secret) != 0, &r,
		      "a new secret");
		FX(FX_TEXT(stored, Q_SECRET, DS(id)));
		STR_EQ(stored, s2, &r);
	}
	/* deliveries of a new endpoint: none */
	snprintf(path, sizeof path, "/webhooks/%s/deliveries", id);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 0, &r);
	snprintf(path, sizeof path, "/webhooks/%s", id);
	api("DELETE", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jbool(rdata(&r), "deleted"), 1, &r);
	api("GET", path, t.key, NULL, &r);
	EXPECT(r, 404, "WEBHOOK_NOT_FOUND");
}

static void refused(const char *key, const char *body, const char *field)
{
	RESP(r);
	api("POST", "/webhooks", key, body, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, field) != NULL, &r, "details name %s", field);
}

static void test_validation(void)
{
	struct tenant t;
	char body[512];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	static const char *const bad_urls[] = {
		"ftp://example.com/x", "example.com/x", "http://", "http://user@example.com/",
		"http://10.1.2.3/hook", "http://192.168.1.10:8080/", "http://172.16.0.1/",
		"http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]/",
		"http://[fe80::1]/", "http://0.0.0.0/", "http://224.0.0.1/", "http://[::1]/",
		"http://no-such-host.invalid/", "http://127.0.0.1:0/",
	};
	for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++) {
		snprintf(body, sizeof body, "{\"url\":\"%s\",\"event_types\":[\"job.failed\"]}",
			 bad_urls[i]);
		refused(t.key, body, "url");
	}
	snprintf(body, sizeof body, "{\"url\":\"%s\",\"event_types\":[\"job.exploded\"]}",
		 hook_url("/v"));
	refused(t.key, body, "event_types[0]");
	snprintf(body, sizeof body, "{\"url\":\"%s\",\"event_types\":[]}", hook_url("/v"));
	refused(t.key, body, "event_types");
	snprintf(body, sizeof body, "{\"url\":\"%s\",\"event_types\":[\"webhook.test\"]}",
		 hook_url("/v"));
	refused(t.key, body, "event_types[0]");
	snprintf(body, sizeof body, "{\"url\":\"%s\",\"event_types\":[\"job.failed\"],"
		 "\"secret\":\"whsec_AAAA\"}", hook_url("/v"));
	refused(t.key, body, "secret");
	refused(t.key, "{\"event_types\":[\"job.failed\"]}", "url");
	snprintf(body, sizeof body, "{\"url\":\"%s\"}", hook_url("/v"));
	refused(t.key, body, "event_types");
	api("GET", "/webhooks", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 0, &r);
	/* a PATCH to a private url */
	char id[FX_ID], path[128];
	FX(make_hook(t.key, "/v", "[\"job.failed\"]", id, NULL));
	snprintf(path, sizeof path, "/webhooks/%s", id);
	api("PATCH", path, t.key, "{\"url\":\"http://10.0.0.1/\"}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "url") != NULL, &r, "details name url");
}

static void test_scope_and_tenancy(void)
{
	struct tenant t, o;
	char id[FX_ID], key_read[FX_KEY], path[160], body[512];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(fx_tenant_key(&t, "read", key_read));
	FX(make_hook(t.key, "/s", "[\"job.failed\"]", id, NULL));
	snprintf(body, sizeof body, "{\"url\":\"%s\",\"event_types\":[\"job.failed\"]}",
		 hook_url("/s"));
	api("POST", "/webhooks", key_read, body, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	api("GET", "/webhooks", key_read, NULL, &r);
	EXPECT(r, 200, NULL);
	static const char *const writes[][2] = {
		{ "PATCH", "" }, { "DELETE", "" }, { "POST", "/rotate-secret" }, { "POST", "/test" },
	};
	for (size_t i = 0; i < sizeof writes / sizeof *writes; i++) {
		snprintf(path, sizeof path, "/webhooks/%s%s", id, writes[i][1]);
		api(writes[i][0], path, key_read, i == 0 ? "{\"enabled\":false}" : NULL, &r);
		EXPECT(r, 403, "INSUFFICIENT_SCOPE");
		/* another account's id, and an unknown one */
		api(writes[i][0], path, o.key, i == 0 ? "{\"enabled\":false}" : NULL, &r);
		EXPECT(r, 404, "WEBHOOK_NOT_FOUND");
		snprintf(path, sizeof path, "/webhooks/%s%s", NO_SUCH_ID, writes[i][1]);
		api(writes[i][0], path, t.key, i == 0 ? "{\"enabled\":false}" : NULL, &r);
		EXPECT(r, 404, "WEBHOOK_NOT_FOUND");
	}
	static const char *const reads[] = { "", "/deliveries" };
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "/webhooks/%s%s", id, reads[i]);
		api("GET", path, key_read, NULL, &r);
		EXPECT(r, 200, NULL);
		api("GET", path, o.key, NULL, &r);
		EXPECT(r, 404, "WEBHOOK_NOT_FOUND");
	}
	api("GET", "/webhooks", o.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 0, &r);
	snprintf(path, sizeof path, "/webhooks/%s", id);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jbool(rdata(&r), "enabled"), 1, &r); /* nothing above changed it */
}

/* --------------------------------------------------------------------------- delivery */

static void test_signed_delivery(void)
{
	struct tenant t;
	char id[FX_ID], secret[64], ev[3][FX_ID], path[128];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(make_hook(t.key, "/signed", "[\"job.failed\"]", id, secret));
	for (int i = 0; i < 3; i++)
		FX(send_test(t.key, id, ev[i]));
	INT_EQ(whrecv_wait(recv_, "/signed", 3, WAIT_MS), 3, NULL);
	INT_EQ(whrecv_count_type(recv_, "/signed", "webhook.test", 1), 3, NULL);
	for (int i = 0; i < 3; i++)
		becomes(&Q_DELIVERY_STATUS, ev[i], "delivered", WAIT_MS);
	snprintf(path, sizeof path, "/webhooks/%s/deliveries", id);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && CHECK(json_array_size(rdata(&r)) == 3, &r, "3 deliveries")) {
		json_t *d0 = json_array_get(rdata(&r), 0);
		KEYS(d0, DELIVERY_KEYS, &r);
		STR_EQ(jstr(d0, "status"), "delivered", &r);
		INT_EQ(jint(d0, "last_status_code"), 200, &r);
		STR_EQ(jstr(d0, "event_type"), "webhook.test", &r);
		INT_EQ(jint(d0, "attempts"), 1, &r);
		CHECK(json_is_null(json_object_get(d0, "next_attempt_at")), &r,
		      "no next attempt once delivered");
	}
	node_verified("/signed", secret);
	/* a receiver that answers 500: retried, not delivered */
	whrecv_behave(recv_, 500, 0);
	FX(send_test(t.key, id, ev[0]));
	becomes(&Q_DELIVERY_OF, ev[0], "pending|1", WAIT_MS);
	whrecv_behave(recv_, 200, 0);
	becomes(&Q_DELIVERY_STATUS, ev[0], "delivered", WAIT_MS);
	/* the endpoint's streak was reset by the success */
	snprintf(path, sizeof path, "/webhooks/%s", id);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jint(rdata(&r), "failure_streak"), 0, &r);
		CHECK(is_iso_ms(jstr(rdata(&r), "last_success_at")), &r, "last_success_at set");
	}
}

/* Job events of one account reach its endpoint only; a refused change sends nothing. */
static void test_job_events(void)
{
	struct rig *g = rig_new(), *h = rig_new();
	char a[FX_ID], b[FX_ID], secret[64], job[FX_ID], job2[FX_ID];
	RESP(r);
	FX(rig_make(g, "Bambu Lab X1 Carbon", 0));
	FX(rig_make(h, "Bambu Lab X1 Carbon", 0));
	FX(make_hook(rig_key_write(g), "/jobs-a", "[\"job.cancelled\",\"job.started\"]", a, secret));
	FX(make_hook(rig_key_write(h), "/jobs-b", "[\"job.cancelled\",\"job.started\"]", b, NULL));
	FX(rig_job(g, rig_printer(g), NULL, job));
	FX(rig_job(h, rig_printer(h), NULL, job2));
	post(jpath(job, "/cancel"), rig_key_control(g), NULL, &r);
	EXPECT(r, 200, NULL);
	/* cancelling again is refused: rolled back, no second event */
	post(jpath(job, "/cancel"), rig_key_control(g), NULL, &r);
	CHECK(r.status == 409 || r.status == 400, &r, "a second cancel is refused");
	INT_EQ(whrecv_wait(recv_, "/jobs-a", 1, WAIT_MS), 1, NULL);
	sleep_ms(1500); /* time for anything that should not come */
	INT_EQ(whrecv_count(recv_, "/jobs-a"), 1, NULL);
	INT_EQ(whrecv_count(recv_, "/jobs-b"), 0, NULL);
	INT_EQ(fx_count(&Q_EVENTS_OF, b), 0, NULL);
	const char *body = whrecv_body(recv_, "/jobs-a", 0);
	json_t *o = body ? json_loads(body, 0, NULL) : NULL;
	STR_EQ(jstr(o, "type"), "job.cancelled", NULL);
	STR_EQ(jstr(json_object_get(o, "data"), "job_id"), job, NULL);
	STR_EQ(jstr(json_object_get(o, "data"), "status"), "cancelled", NULL);
	STR_EQ(jstr(json_object_get(o, "data"), "previous_status"), "queued", NULL);
	CHECK(is_iso_ms(jstr(o, "timestamp")), NULL, "timestamp is ISO-8601");
	json_decref(o);
	node_verified("/jobs-a", secret);
	rig_free(g);
	rig_free(h);
}

/* A job's life on the simulator: started, paused, resumed, a stop the hub refuses (cancelled,
 * then reverted), the stop (cancelled); every event signed. */
static void test_job_lifecycle(void)
{
	struct rig *g = rig_new();
	char hook[FX_ID], secret[64], job[FX_ID];
	RESP(r);
	FX(rig_make(g, "X1 Carbon", 1));
	FX(make_hook(rig_key_write(g), "/life", "[\"job.started\",\"job.paused\",\"job.resumed\","
		     "\"job.completed\",\"job.failed\",\"job.cancelled\",\"job.reverted\"]", hook,
		     secret));
	FX(rig_printing(g, job));
	post(jpath(job, "/pause"), rig_key_control(g), NULL, &r);
	EXPECT(r, 200, NULL);
	post(jpath(job, "/resume"), rig_key_control(g), NULL, &r);
	EXPECT(r, 200, NULL);
	FX(hx_fault(rig_hubx(g), "refuse action=print.stop code=PRINTER_REJECTED"));
	post(jpath(job, "/stop"), rig_key_control(g), NULL, &r);
	EXPECT(r, 503, "HUB_COMMAND_FAILED");
	FX(hx_clear(rig_hubx(g)));
	post(jpath(job, "/stop"), rig_key_control(g), NULL, &r);
	EXPECT(r, 200, NULL);
	/* the refused stop was announced (the optimistic transition) and then reverted */
	static const char *const want[] = { "job.started", "job.paused", "job.resumed",
					    "job.cancelled", "job.reverted", "job.cancelled" };
	static const int times[] = { 1, 1, 1, 2, 1, 2 };
	INT_EQ(whrecv_wait(recv_, "/life", 6, WAIT_MS), 6, NULL);
	sleep_ms(1500); /* time for anything that should not come */
	INT_EQ(whrecv_count(recv_, "/life"), 6, NULL);
	for (int i = 0; i < 6; i++) {
		json_t *o = whrecv_body(recv_, "/life", i) ? json_loads(whrecv_body(recv_, "/life", i),
									  0, NULL) : NULL;
		INT_EQ(whrecv_count_type(recv_, "/life", want[i], 1), times[i], NULL);
		STR_EQ(jstr(json_object_get(o, "data"), "job_id"), job, NULL);
		json_decref(o);
	}
	node_verified("/life", secret);
	rig_free(g);
}

static void test_receiver_down(void)
{
	struct tenant t;
	char id[FX_ID], secret[64], ev[3][FX_ID];
	FX(fx_tenant(&t, "read,write"));
	FX(make_hook(t.key, "/down", "[\"job.failed\"]", id, secret));
	whrecv_down(recv_);
	for (int i = 0; i < 3; i++)
		FX(send_test(t.key, id, ev[i]));
	/* every one attempted at least twice while nobody listens */
	char n[32] = "";
	for (long w = 0; w < WAIT_MS; w += 200) {
		if (fx_sql_text_poll(&Q_RETRIED, DB_ARGS(DS(id)), n, sizeof n) < 0 || atoi(n) >= 3)
			break;
		sleep_ms(200);
	}
	/* the list while they wait: pending, attempts counted, the next attempt's time */
	char path[128];
	RESP(r);
	snprintf(path, sizeof path, "/webhooks/%s/deliveries", id);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && CHECK(json_array_size(rdata(&r)) == 3, &r, "3 deliveries")) {
		json_t *d0 = json_array_get(rdata(&r), 0);
		STR_EQ(jstr(d0, "status"), "pending", &r);
		CHECK(jint(d0, "attempts") >= 2, &r, "attempts counted while pending");
		CHECK(is_iso_ms(jstr(d0, "next_attempt_at")), &r, "next_attempt_at while pending");
	}
	int up = whrecv_up(recv_);
	CHECK(up == 0, NULL, "the receiver listens again");
	INT_EQ(atoi(n), 3, NULL);
	INT_EQ(whrecv_wait(recv_, "/down", 3, WAIT_MS), 3, NULL);
	INT_EQ(whrecv_count_type(recv_, "/down", "webhook.test", 1), 3, NULL);
	for (int i = 0; i < 3; i++)
		becomes(&Q_DELIVERY_OF, ev[i], "delivered|1", WAIT_MS);
	node_verified("/down", secret);
}

static const struct db_query Q_STREAK = {
	"UPDATE webhook_endpoints SET failure_streak = 99, failing_since = NOW(3) WHERE id = ?"
};
static const struct db_query Q_ENABLED = {
	"SELECT CONCAT(enabled, '|', IFNULL(disabled_reason, '')) FROM webhook_endpoints"
	" WHERE id = ?"
};

/* An endpoint one failed attempt short of the limit (webhook_disable_failures, 100 by
 * default): the next failure disables it with the reason; enabling it again through the API
 * clears the reason and the streak, and its pending delivery is then delivered. */
static void test_disabled_after_failures(void)
{
	struct tenant t;
	char id[FX_ID], ev[FX_ID], got[600] = "", path[128];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(make_hook(t.key, "/failing", "[\"job.failed\"]", id, NULL));
	FX(FX_SQL(Q_STREAK, DS(id)));
	whrecv_behave(recv_, 500, 0);
	FX(send_test(t.key, id, ev));
	for (long w = 0; w < WAIT_MS; w += 100) {
		if (fx_sql_text_poll(&Q_ENABLED, DB_ARGS(DS(id)), got, sizeof got) < 0 ||
		    got[0] == '0')
			break;
		sleep_ms(100);
	}
	whrecv_behave(recv_, 200, 0);
	CHECK(strncmp(got, "0|disabled by the worker: 100 consecutive failed attempts", 56) == 0,
	      NULL, "disabled with the reason: \"%s\"", got);
	CHECK(strstr(got, "HTTP status 500") != NULL, NULL, "the reason names the last error");
	snprintf(path, sizeof path, "/webhooks/%s", id);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "enabled"), 0, &r);
		INT_EQ(jint(rdata(&r), "failure_streak"), 100, &r);
	}
	sleep_ms(1500);
	becomes(&Q_DELIVERY_STATUS, ev, "pending", 100); /* not attempted while disabled */
	api("PATCH", path, t.key, "{\"enabled\":true}", &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jint(rdata(&r), "failure_streak"), 0, &r);
		CHECK(json_is_null(json_object_get(rdata(&r), "disabled_reason")), &r, "reason cleared");
	}
	becomes(&Q_DELIVERY_STATUS, ev, "delivered", WAIT_MS);
}

static int stack_start(void)
{
	const char *src = getenv("APF_SRC") && *getenv("APF_SRC") ? getenv("APF_SRC") : ".";
	const char *var = cfg_str("var_dir", ".");
	char cmd[3072];
	snprintf(cmd, sizeof cmd, "APF_VAR='%s' '%s/scripts/stack.sh' start >> "
		 "'%s/log/t_webhooks-stack.log' 2>&1", var, src, var);
	int rc = system(cmd);
	return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The worker is killed while the receiver holds the request: the lease expires and the
 * restarted worker sends it again, with the same webhook-id. */
static void test_worker_killed(void)
{
	struct tenant t;
	char id[FX_ID], secret[64], ev[FX_ID];
	FX(fx_tenant(&t, "read,write"));
	FX(make_hook(t.key, "/killed", "[\"job.failed\"]", id, secret));
	pid_t worker = fx_service_pid("apf-worker-1");
	if (!CHECK(fx_alive(worker), NULL, "apf-worker-1 runs"))
		return;
	int started = whrecv_started(recv_);
	whrecv_behave(recv_, 200, 1500);
	FX(send_test(t.key, id, ev));
	for (long w = 0; w < WAIT_MS && whrecv_started(recv_) == started; w += 20)
		sleep_ms(20);
	CHECK(whrecv_started(recv_) > started, NULL, "the request reached the receiver");
	CHECK(kill(worker, SIGKILL) == 0, NULL, "SIGKILL apf-worker-1");
	CHECK(fx_wait_gone(worker, 10000) == 0, NULL, "the worker is gone");
	sleep_ms(1600);
	whrecv_behave(recv_, 200, 0);
	CHECK(stack_start() == 0, NULL, "scripts/stack.sh start restarts the worker");
	becomes(&Q_DELIVERY_OF, ev, "delivered|1", 30000);
	INT_EQ(whrecv_count_type(recv_, "/killed", "webhook.test", 1), 1, NULL);
	CHECK(whrecv_count(recv_, "/killed") >= 1, NULL, "received after the restart");
	node_verified("/killed", secret);
}

/* An endpoint whose address became private (stored directly, as after a DNS change): the
 * worker refuses to connect; nothing is sent. */
static void test_private_at_delivery(void)
{
	struct tenant t;
	char id[FX_ID], secret[64], ev[FX_ID], err[512];
	FX(fx_tenant(&t, "read,write"));
	FX(fx_uuid(id));
	FX(FX_SQL(Q_PRIVATE_HOOK, DS(id), DS(t.account), DS("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")));
	(void)secret;
	FX(send_test(t.key, id, ev));
	for (long w = 0; w < WAIT_MS; w += 100) {
		if (fx_sql_text_poll(&Q_LAST_ERROR, DB_ARGS(DS(ev)), err, sizeof err) < 0 || err[0])
			break;
		sleep_ms(100);
	}
	CHECK(strstr(err, "destination address refused") != NULL, NULL,
	      "the delivery was refused before connecting: \"%s\"", err);
}

/* A second apf-worker of the stack (as on another host), logging to log/t_webhooks-<id>.log. */
static pid_t worker_start(const char *id)
{
	const char *bin = getenv("APF_BIN") && *getenv("APF_BIN") ? getenv("APF_BIN") : "build/bin";
	char exe[1024], log[1024];
	snprintf(exe, sizeof exe, "%s/apf-worker", bin);
	snprintf(log, sizeof log, "%s/log/t_webhooks-worker-%s.log", cfg_str("var_dir", "."), id);
	pid_t p = fork();
	if (p == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("APF_WORKER_ID", id, 1);
		execl(exe, exe, (char *)NULL);
		_exit(127);
	}
	return p;
}

/* webhook_endpoint_inflight holds across workers: an endpoint that never answers gets at most
 * that many connections at once although two workers deliver (each would take its own share
 * if the bound were per worker), and another account's endpoint is delivered meanwhile. */
static void test_endpoint_bound(void)
{
	struct tenant t, o;
	char slow[FX_ID], other[FX_ID], ev[FX_ID], body[512], path[128];
	int per = (int)cfg_int("webhook_endpoint_inflight", 16), open_ = 0, most = 0, total = 0;
	struct whstall *st = whstall_start();
	RESP(r);
	if (!CHECK(st != NULL, NULL, "the stalling receiver listens"))
		return;
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	snprintf(body, sizeof body, "{\"url\":\"http://127.0.0.1:%u/slow\",\"event_types\":"
		 "[\"job.failed\"]}", whstall_port(st));
	api("POST", "/webhooks", t.key, body, &r);
	if (!EXPECT(r, 201, NULL)) {
		whstall_free(st);
		return;
	}
	snprintf(slow, sizeof slow, "%s", jstr(rdata(&r), "id") ? jstr(rdata(&r), "id") : "");
	FX(make_hook(o.key, "/other", "[\"job.failed\"]", other, NULL));
	pid_t w2 = worker_start("t_webhooks-2");
	CHECK(w2 > 0, NULL, "a second worker started");
	for (int i = 0; i < 3 * per; i++)
		FX(send_test(t.key, slow, ev));
	for (long w = 0; w < WAIT_MS && open_ < per; w += 50) {
		whstall_counts(st, &open_, &most, &total);
		sleep_ms(50);
	}
	INT_EQ(open_, per, NULL); /* the endpoint has all it may have */
	for (int i = 0; i < 3; i++)
		FX(send_test(o.key, other, ev));
	INT_EQ(whrecv_wait(recv_, "/other", 3, WAIT_MS), 3, NULL);
	whstall_counts(st, &open_, &most, &total);
	CHECK(open_ > 0, NULL, "the slow endpoint was still held while the other was delivered");
	sleep_ms(4000); /* attempts time out, are retried, claimed again by either worker */
	whstall_counts(st, &open_, &most, &total);
	CHECK(total > per, NULL, "retried: %d connections in all", total);
	CHECK(most <= per, NULL, "at most %d at once across both workers, saw %d", per, most);
	snprintf(path, sizeof path, "/webhooks/%s", slow);
	api("PATCH", path, t.key, "{\"enabled\":false}", &r);
	EXPECT(r, 200, NULL);
	if (w2 > 0) {
		kill(w2, SIGTERM);
		waitpid(w2, NULL, 0);
	}
	whstall_free(st);
}

/* The i-th body received on path parsed (caller decrefs), or NULL. */
static json_t *body_of(const char *path, int i)
{
	const char *b = whrecv_body(recv_, path, i);
	return b ? json_loads(b, 0, NULL) : NULL;
}

static const struct db_query Q_PRINTER_ERROR = {
	"UPDATE printers SET status = 'error', updated_at = NOW(3) WHERE id = ?"
};
static const struct db_query Q_PRINTER_STATUS = { "SELECT status FROM printers WHERE id = ?" };

/* A printer status moved by the hub's periodic status report (no hub event): the report of an
 * idle printer whose row says error puts it back to idle, with printer.status_changed. */
static void test_status_report_event(void)
{
	struct rig *g = rig_new();
	char hook[FX_ID], secret[64], status[32] = "";
	FX(rig_make(g, "X1 Carbon", 1));
	FX(make_hook(rig_key_write(g), "/reports", "[\"printer.status_changed\"]", hook, secret));
	FX(FX_SQL(Q_PRINTER_ERROR, DS(rig_printer(g))));
	INT_EQ(whrecv_wait(recv_, "/reports", 1, WAIT_MS), 1, NULL);
	json_t *o = body_of("/reports", 0);
	STR_EQ(jstr(o, "type"), "printer.status_changed", NULL);
	STR_EQ(jstr(json_object_get(o, "data"), "printer_id"), rig_printer(g), NULL);
	STR_EQ(jstr(json_object_get(o, "data"), "status"), "idle", NULL);
	json_decref(o);
	FX(FX_TEXT(status, Q_PRINTER_STATUS, DS(rig_printer(g))));
	STR_EQ(status, "idle", NULL);
	sleep_ms(1500); /* further reports of the idle printer change nothing: no event */
	INT_EQ(whrecv_count(recv_, "/reports"), 1, NULL);
	node_verified("/reports", secret);
	rig_free(g);
}

/* Low and out of stock from the paths that set a level or a threshold (stock_record,
 * stock_restatus), not only from stock_add. */
static void test_stock_events(void)
{
	struct tenant t;
	char hook[FX_ID], secret[64], item[FX_ID], path[128];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(make_hook(t.key, "/stock", "[\"inventory.low_stock\",\"inventory.out_of_stock\"]", hook,
		     secret));
	FX(fx_created(t.key, "/materials/packaging",
		      "{\"type\":\"Box\",\"remaining_units\":10,\"low_threshold\":2}", item));
	snprintf(path, sizeof path, "/materials/packaging/%s", item);
	api("PATCH", path, t.key, "{\"low_threshold\":20}", &r); /* stock_restatus */
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "low", &r);
	api("PATCH", path, t.key, "{\"low_threshold\":25}", &r); /* still low: no event */
	EXPECT(r, 200, NULL);
	api("PATCH", path, t.key, "{\"remaining_units\":0}", &r); /* stock_record */
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "out_of_stock", &r);
	INT_EQ(whrecv_wait(recv_, "/stock", 2, WAIT_MS), 2, NULL);
	sleep_ms(1500); /* time for anything that should not come */
	INT_EQ(whrecv_count(recv_, "/stock"), 2, NULL);
	static const char *const type[] = { "inventory.low_stock", "inventory.out_of_stock" };
	static const char *const status[] = { "low", "out_of_stock" };
	static const char *const level[] = { "10", "0" };
	for (int i = 0; i < 2; i++) {
		json_t *o = body_of("/stock", i), *d = json_object_get(o, "data");
		STR_EQ(jstr(o, "type"), type[i], NULL);
		STR_EQ(jstr(d, "item_type"), "packaging_inventory", NULL);
		STR_EQ(jstr(d, "item_id"), item, NULL);
		STR_EQ(jstr(d, "status"), status[i], NULL);
		STR_EQ(jstr(d, "level"), level[i], NULL);
		json_decref(o);
	}
	node_verified("/stock", secret);
}

static const struct db_query Q_FILE_STATUS = {
	"SELECT metadata_status FROM print_files WHERE id = ?"
};

/* file.processed with the file's processing result (written in the same transaction). */
static void test_file_processed(void)
{
	struct tenant t;
	char hook[FX_ID], secret[64], file[FX_ID], status[32] = "";
	FX(fx_tenant(&t, "read,write"));
	FX(make_hook(t.key, "/files", "[\"file.processed\"]", hook, secret));
	FX(fx_file(t.key, "bambustudio_a1mini_cube.gcode.3mf", NULL, file));
	INT_EQ(whrecv_wait(recv_, "/files", 1, WAIT_MS), 1, NULL);
	json_t *o = body_of("/files", 0), *d = json_object_get(o, "data");
	STR_EQ(jstr(o, "type"), "file.processed", NULL);
	STR_EQ(jstr(d, "file_id"), file, NULL);
	STR_EQ(jstr(d, "metadata_status"), "done", NULL);
	json_decref(o);
	FX(FX_TEXT(status, Q_FILE_STATUS, DS(file)));
	STR_EQ(status, "done", NULL);
	node_verified("/files", secret);
}

int suite_webhooks(void)
{
	CU_pSuite s = CU_add_suite("webhooks", suite_up, suite_down);
	if (!s)
		return -1;
	ADD_TEST(s, test_crud);
	ADD_TEST(s, test_validation);
	ADD_TEST(s, test_scope_and_tenancy);
	ADD_TEST(s, test_signed_delivery);
	ADD_TEST(s, test_job_events);
	ADD_TEST(s, test_job_lifecycle);
	ADD_TEST(s, test_receiver_down);
	ADD_TEST(s, test_private_at_delivery);
	ADD_TEST(s, test_disabled_after_failures);
	ADD_TEST(s, test_worker_killed);
	ADD_TEST(s, test_endpoint_bound);
	ADD_TEST(s, test_status_report_event);
	ADD_TEST(s, test_stock_events);
	ADD_TEST(s, test_file_processed);
	return 0;
}
