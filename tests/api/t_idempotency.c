/* t_idempotency.c - Idempotency-Key on POST and PATCH (docs/idempotency.md): a replay answers
 * the stored status and body with Idempotent-Replayed: true and no second effect (rows
 * counted); the same key with another request → 422 IDEMPOTENCY_KEY_MISMATCH; a key still in
 * progress → 409 IDEMPOTENCY_KEY_IN_USE; identical requests at once → one effect; the FastCGI
 * child killed after the commit and before the answer (test hook X-Apf-Test-Fault, conf
 * test_fault_hooks of the test stack) → the retry gets the stored answer, on every route class
 * (R_TXN, generic creates, POST /jobs, POST /files, streamed image uploads); a 5xx releases the
 * claim (hook fail-5xx); a streamed body is fingerprinted by its bytes; a pause retried after
 * its child died while waiting for the hub → one command; records per API key; expiry purged
 * by housekeeping; without the header nothing changes. */
#include "rig.h"

#include "queue.h"
#include "util.h"

#include <stdlib.h>

static const struct db_query Q_FILAMENTS = {
	"SELECT COUNT(*) FROM filament_inventory WHERE account_id = ?"
};
static const struct db_query Q_MOVES = {
	"SELECT COUNT(*) FROM stock_movements WHERE account_id = ?"
};
static const struct db_query Q_COLORS = { "SELECT COUNT(*) FROM color_presets WHERE account_id = ?" };
static const struct db_query Q_COLOR_NAME = { "SELECT color_name FROM color_presets WHERE id = ?" };
static const struct db_query Q_RECORDS = {
	"SELECT COUNT(*) FROM idempotency_keys WHERE account_id = ?"
};
static const struct db_query Q_RECORD_STATE = {
	"SELECT CONCAT(state, '|', IFNULL(status, '-'), '|', IFNULL(command_id, '-'))"
	" FROM idempotency_keys WHERE account_id = ?"
};
static const struct db_query Q_RECORD_EXPIRE = {
	"UPDATE idempotency_keys SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE account_id = ?"
};
static const struct db_query Q_PURGE_JOB = {
	"INSERT INTO queue_jobs (queue, type, payload, state, run_at)"
	" VALUES ('HOUSEKEEPING', 'housekeeping.purge', '{}', 'ready', NOW(3))"
};
static const struct db_query Q_PAUSES = {
	"SELECT COUNT(*) FROM hub_commands WHERE job_id = ? AND action = 'print.pause'"
};

#define FILAMENT "{\"type\":\"PLA\",\"color\":\"Red\",\"remaining_grams\":500}"
#define COLOR "{\"color_name\":\"Idem Blue\",\"hex_code\":\"#0000ff\",\"filament_type\":\"PLA\"}"

/* One request with an Idempotency-Key (and an optional extra header line). */
static long idem(const char *method, const char *path, const char *key, const char *ikey,
		 const char *body, const char *extra, struct resp *r)
{
	char h[400];
	snprintf(h, sizeof h, "Idempotency-Key: %s", ikey);
	struct call c = { .method = method, .path = path, .key = key, .body = body,
			  .headers = { h, extra, NULL } };
	return api_call(&c, r);
}

static int replayed(const struct resp *r)
{
	const char *v = resp_header(r, "Idempotent-Replayed");
	return v && strcmp(v, "true") == 0;
}

#define REPLAY_OF(again, first)                                                                \
	do {                                                                                   \
		INT_EQ((again).status, (first).status, &(again));                              \
		CHECK(replayed(&(again)), &(again), "a replay carries Idempotent-Replayed: true"); \
		STR_EQ((again).body, (first).body, &(again));                                  \
	} while (0)

/* R_TXN route: replay, mismatch (body, path, method), no second effect. */
static void test_replay_txn_route(void)
{
	struct tenant t;
	RESP(a);
	RESP(b);
	FX(fx_tenant(&t, "read,write"));
	idem("POST", "/materials/filament", t.key, "k-1", FILAMENT, NULL, &a);
	if (!EXPECT(a, 201, NULL))
		return;
	CHECK(!resp_header(&a, "Idempotent-Replayed"), &a, "a first answer is no replay");
	INT_EQ(fx_count(&Q_FILAMENTS, t.account), 1, NULL);
	long long moves = fx_count(&Q_MOVES, t.account);
	idem("POST", "/materials/filament", t.key, "k-1", FILAMENT, NULL, &b);
	REPLAY_OF(b, a);
	INT_EQ(fx_count(&Q_FILAMENTS, t.account), 1, NULL);
	INT_EQ(fx_count(&Q_MOVES, t.account), moves, NULL);
	/* the same key with another body, path or method */
	idem("POST", "/materials/filament", t.key, "k-1",
	     "{\"type\":\"PLA\",\"color\":\"Red\",\"remaining_grams\":501}", NULL, &b);
	EXPECT(b, 422, "IDEMPOTENCY_KEY_MISMATCH");
	idem("POST", "/materials/filament?x=1", t.key, "k-1", FILAMENT, NULL, &b);
	EXPECT(b, 422, "IDEMPOTENCY_KEY_MISMATCH");
	idem("POST", "/materials/packaging", t.key, "k-1", FILAMENT, NULL, &b);
	EXPECT(b, 422, "IDEMPOTENCY_KEY_MISMATCH");
	INT_EQ(fx_count(&Q_FILAMENTS, t.account), 1, NULL);
	/* without the header: every request is its own */
	api("POST", "/materials/filament", t.key, FILAMENT, &b);
	EXPECT(b, 201, NULL);
	CHECK(!resp_header(&b, "Idempotent-Replayed"), &b, "no header, no replay");
	api("POST", "/materials/filament", t.key, FILAMENT, &b);
	EXPECT(b, 201, NULL);
	INT_EQ(fx_count(&Q_FILAMENTS, t.account), 3, NULL);
	INT_EQ(fx_count(&Q_RECORDS, t.account), 1, NULL);
}

/* A route outside R_TXN, a 4xx answer stored, the key's validation. */
static void test_replay_plain_route_and_errors(void)
{
	struct tenant t;
	char big[300];
	RESP(a);
	RESP(b);
	FX(fx_tenant(&t, "read,write"));
	idem("POST", "/colors", t.key, "c-1", COLOR, NULL, &a);
	EXPECT(a, 201, NULL);
	idem("POST", "/colors", t.key, "c-1", COLOR, NULL, &b);
	REPLAY_OF(b, a);
	INT_EQ(fx_count(&Q_COLORS, t.account), 1, NULL);
	/* a 4xx is the request's answer too: the same on a retry */
	idem("POST", "/colors", t.key, "c-2", "{\"color_name\":\"\"}", NULL, &a);
	EXPECT(a, 422, "VALIDATION_ERROR");
	idem("POST", "/colors", t.key, "c-2", "{\"color_name\":\"\"}", NULL, &b);
	REPLAY_OF(b, a);
	/* the key: 1-255 printable ASCII characters */
	memset(big, 'x', 256);
	big[256] = '\0';
	idem("POST", "/colors", t.key, big, COLOR, NULL, &b);
	if (EXPECT(b, 422, "VALIDATION_ERROR"))
		CHECK(json_object_get(json_object_get(b.json, "details"), "Idempotency-Key"), &b,
		      "details name Idempotency-Key");
	big[255] = '\0';
	idem("POST", "/colors", t.key, big,
	     "{\"color_name\":\"Long\",\"hex_code\":\"#0000ff\",\"filament_type\":\"PLA\"}", NULL,
	     &b);
	EXPECT(b, 201, NULL);
	INT_EQ(fx_count(&Q_COLORS, t.account), 2, NULL);
	/* refused before the handler (scope): no record */
	char ro[FX_KEY];
	FX(fx_tenant_key(&t, "read", ro));
	idem("POST", "/colors", ro, "c-3", COLOR, NULL, &b);
	EXPECT(b, 403, "INSUFFICIENT_SCOPE");
	INT_EQ(fx_count(&Q_RECORDS, t.account), 3, NULL);
}

/* PATCH: the retry answers the first PATCH's body and changes nothing again. */
static void test_patch(void)
{
	struct tenant t;
	char id[FX_ID], path[128], name[64];
	RESP(a);
	RESP(b);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_created(t.key, "/colors", COLOR, id));
	snprintf(path, sizeof path, "/colors/%s", id);
	idem("PATCH", path, t.key, "p-1", "{\"color_name\":\"First\"}", NULL, &a);
	if (EXPECT(a, 200, NULL))
		STR_EQ(jstr(rdata(&a), "color_name"), "First", &a);
	api("PATCH", path, t.key, "{\"color_name\":\"Second\"}", &b);
	EXPECT(b, 200, NULL);
	idem("PATCH", path, t.key, "p-1", "{\"color_name\":\"First\"}", NULL, &b);
	REPLAY_OF(b, a);
	FX(FX_TEXT(name, Q_COLOR_NAME, DS(id)));
	STR_EQ(name, "Second", NULL);
	idem("PATCH", path, t.key, "p-1", "{\"color_name\":\"Third\"}", NULL, &b);
	EXPECT(b, 422, "IDEMPOTENCY_KEY_MISMATCH");
}

/* Records are per API key: another key of the account, or of another account, with the same
 * Idempotency-Key is another record. */
static void test_per_api_key(void)
{
	struct tenant t, o;
	char k2[FX_KEY];
	RESP(a);
	RESP(b);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant_key(&t, "read,write", k2));
	FX(fx_tenant(&o, "read,write"));
	idem("POST", "/materials/filament", t.key, "shared", FILAMENT, NULL, &a);
	EXPECT(a, 201, NULL);
	idem("POST", "/materials/filament", k2, "shared", FILAMENT, NULL, &b);
	EXPECT(b, 201, NULL);
	CHECK(!replayed(&b), &b, "another key's request is no replay");
	CHECK(strcmp(jstr(rdata(&a), "id"), jstr(rdata(&b), "id")) != 0, &b, "a second row");
	INT_EQ(fx_count(&Q_FILAMENTS, t.account), 2, NULL);
	idem("POST", "/materials/filament", o.key, "shared", FILAMENT, NULL, &b);
	EXPECT(b, 201, NULL);
	CHECK(!replayed(&b), &b, "another account's request is no replay");
	INT_EQ(fx_count(&Q_FILAMENTS, o.account), 1, NULL);
	INT_EQ(fx_count(&Q_FILAMENTS, t.account), 2, NULL);
}

/* Eight identical requests at once: one effect; the others 409 IN_USE or the replay. */
static void test_concurrent(void)
{
	struct tenant t;
	struct resp out[8];
	const char *h[] = { "Idempotency-Key: burst-1", NULL };
	FX(fx_tenant(&t, "read,write"));
	struct call c = { .method = "POST", .path = "/materials/filament", .key = t.key,
			  .body = FILAMENT, .headers = { h[0], NULL } };
	memset(out, 0, sizeof out);
	int done = api_burst(&c, 8, out);
	INT_EQ(done, 8, NULL);
	int first = 0, replays = 0, in_use = 0;
	for (int i = 0; i < 8; i++) {
		if (out[i].status == 201 && !replayed(&out[i]))
			first++;
		else if (out[i].status == 201)
			replays++;
		else if (out[i].status == 409 &&
			 strcmp(jstr(out[i].json, "code"), "IDEMPOTENCY_KEY_IN_USE") == 0)
			in_use++;
		else
			CHECK(0, &out[i], "201 or 409 IDEMPOTENCY_KEY_IN_USE");
	}
	INT_EQ(first, 1, NULL);
	INT_EQ(first + replays + in_use, 8, NULL);
	INT_EQ(fx_count(&Q_FILAMENTS, t.account), 1, NULL);
	for (int i = 0; i < 8; i++)
		resp_free(&out[i]);
}

static const struct db_query Q_JOBS = { "SELECT COUNT(*) FROM print_jobs WHERE account_id = ?" };
static const struct db_query Q_FILES = { "SELECT COUNT(*) FROM print_files WHERE account_id = ?" };
static const struct db_query Q_IMAGES = {
	"SELECT COUNT(*) FROM product_images WHERE account_id = ?"
};

static const struct db_query Q_RECORD_STATE_OF = {
	"SELECT CONCAT(state, '|', IFNULL(status, '-'))"
	" FROM idempotency_keys WHERE account_id = ? AND idem_key = ?"
};

/* One request of account's key with an Idempotency-Key killed after its commit (no answer),
 * then its retry: the stored answer (status, Idempotent-Replayed, its data's `member` a UUID)
 * and exactly `rows` rows counted by q (of the account). */
static void killed_replayed(const char *account, const char *key, const char *path,
			    const char *ikey, const char *body, int status, const char *member,
			    const struct db_query *q, long long rows)
{
	char state[128], want[32];
	RESP(a);
	RESP(b);
	idem("POST", path, key, ikey, body, "X-Apf-Test-Fault: after-commit", &a);
	CHECK(a.status == 502 || a.status == 0, &a, "no answer from a killed child (%s)", path);
	INT_EQ(fx_count(q, account), rows, NULL);
	FX(FX_TEXT(state, Q_RECORD_STATE_OF, DS(account), DS(ikey)));
	snprintf(want, sizeof want, "done|%d", status);
	STR_EQ(state, want, NULL); /* the answer committed with the effect */
	idem("POST", path, key, ikey, body, NULL, &b);
	if (EXPECT(b, status, NULL)) {
		CHECK(replayed(&b), &b, "the stored answer (%s)", path);
		CHECK(util_is_uuid(jstr(rdata(&b), member)), &b, "the stored answer names the row");
	}
	INT_EQ(fx_count(q, account), rows, NULL);
}

static void killed_then_replayed(const struct tenant *t, const char *path, const char *ikey,
				 const char *body, int status, const struct db_query *q,
				 long long rows)
{
	killed_replayed(t->account, t->key, path, ikey, body, status, "id", q, rows);
}

/* The child killed after the commit, before the answer: every route stored its answer with
 * its effect (R_TXN, a generic create run in a transaction for the key, POST /jobs, POST /files
 * whose handler runs its own transaction), the retry gets it, one row. */
static void test_killed_after_commit(void)
{
	struct tenant t, u, v, w;
	char file[FX_ID], body[1600];
	FX(fx_tenant(&t, "read,write"));
	killed_then_replayed(&t, "/materials/filament", "kill-1", FILAMENT, 201, &Q_FILAMENTS, 1);
	FX(fx_tenant(&u, "read,write"));
	killed_then_replayed(&u, "/colors", "kill-2", COLOR, 201, &Q_COLORS, 1);
	FX(fx_tenant(&v, "read,write"));
	FX(fx_file(v.key, "cura_4.5.0_griffin_um3_header_only.gcode", NULL, file));
	snprintf(body, sizeof body, "{\"print_file_id\": \"%s\"}", file);
	killed_then_replayed(&v, "/jobs", "kill-3", body, 201, &Q_JOBS, 1);
	FX(fx_tenant(&w, "read,write"));
	struct fx_upload up;
	FX(fx_upload(w.key, "cura_4.5.0_griffin_um3_header_only.gcode", NULL, &up));
	snprintf(body, sizeof body, "{\"name\": \"cura_4.5.0_griffin_um3_header_only.gcode\","
		 " \"storage_key\": \"%s\"}", up.key);
	killed_then_replayed(&w, "/files", "kill-4", body, 201, &Q_FILES, 1);
}

static const struct db_query Q_GRANTS = { "SELECT COUNT(*) FROM file_uploads WHERE account_id = ?" };
static const struct db_query Q_VERSIONS = {
	"SELECT COUNT(*) FROM print_file_versions WHERE account_id = ?"
};
static const struct db_query Q_COMPLETED = {
	"SELECT COUNT(*) FROM print_jobs WHERE account_id = ? AND status = 'completed'"
};
static const struct db_query Q_CANCELLED = {
	"SELECT COUNT(*) FROM print_jobs WHERE account_id = ? AND status = 'cancelled'"
};

/* The other handlers with their own transactions (R_OWNTXN) killed after their commit: an
 * upload grant, a file's version, a completion, and a cancel that sends no command. */
static void test_killed_after_commit_own_txn(void)
{
	struct tenant t, u;
	struct rig *g = rig_new();
	struct fx_upload up;
	char file[FX_ID], job[FX_ID], body[1600], path[128];
	FX(fx_tenant(&t, "read,write"));
	long long grants = fx_count(&Q_GRANTS, t.account);
	killed_replayed(t.account, t.key, "/files/upload-url", "own-1",
			"{\"filename\": \"grant.gcode\"}", 200, "file_id", &Q_GRANTS, grants + 1);
	FX(fx_tenant(&u, "read,write"));
	FX(fx_file(u.key, "cura_4.5.0_griffin_um3_header_only.gcode", NULL, file));
	FX(fx_upload(u.key, "cura_4.5.0_griffin_um3_header_only.gcode", NULL, &up));
	snprintf(body, sizeof body, "{\"storage_key\": \"%s\"}", up.key);
	snprintf(path, sizeof path, "/files/%s/versions", file);
	killed_replayed(u.account, u.key, path, "own-2", body, 201, "id", &Q_VERSIONS, 2);

	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	killed_replayed(rig_account(g), rig_key(g), jpath(job, "/complete"), "own-3", NULL, 200,
			"id", &Q_COMPLETED, 1);
	FX(rig_job(g, NULL, NULL, job)); /* queued, no printer: the cancel sends nothing */
	killed_replayed(rig_account(g), rig_key(g), jpath(job, "/cancel"), "own-4", NULL, 200,
			"job_id", &Q_CANCELLED, 1);
	rig_free(g);
}

/* A 5xx answer (test hook fail-5xx: the handler's work rolled back, 503) releases the claim:
 * the retry runs the handler, once, and its answer is stored. */
static void test_5xx_released(void)
{
	struct tenant t;
	RESP(a);
	RESP(b);
	FX(fx_tenant(&t, "read,write"));
	idem("POST", "/colors", t.key, "f-1", COLOR, "X-Apf-Test-Fault: fail-5xx", &a);
	EXPECT(a, 503, "SERVICE_UNAVAILABLE");
	INT_EQ(fx_count(&Q_COLORS, t.account), 0, NULL);
	INT_EQ(fx_count(&Q_RECORDS, t.account), 0, NULL); /* released */
	idem("POST", "/colors", t.key, "f-1", COLOR, NULL, &a);
	if (EXPECT(a, 201, NULL))
		CHECK(!replayed(&a), &a, "the retry ran the handler");
	INT_EQ(fx_count(&Q_COLORS, t.account), 1, NULL);
	idem("POST", "/colors", t.key, "f-1", COLOR, NULL, &b);
	REPLAY_OF(b, a);
	INT_EQ(fx_count(&Q_COLORS, t.account), 1, NULL);
}

static const unsigned char PNG1[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
				      'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0 };

/* POST /products/{id}/images with a key: the multipart body of png (one byte changed when
 * flip). */
static long image_post(const struct tenant *t, const char *product, const char *ikey, int flip,
		       const char *fault, struct resp *r)
{
	unsigned char png[sizeof PNG1];
	char path[128], h[300];
	size_t n = 0;
	memcpy(png, PNG1, sizeof png);
	png[sizeof png - 1] = (unsigned char)flip;
	char *body = fx_multipart("image", "photo.png", NULL, png, sizeof png, &n);
	snprintf(path, sizeof path, "/products/%s/images", product);
	snprintf(h, sizeof h, "Idempotency-Key: %s", ikey);
	struct call c = { .method = "POST", .path = path, .key = t->key, .body = body,
			  .body_len = n, .content_type = FX_MULTIPART_TYPE,
			  .headers = { h, fault, NULL } };
	long status = api_call(&c, r);
	free(body);
	return status;
}

/* A streamed upload: the image's row and the record commit together (killed after the
 * commit: the retry replays, one image); its fingerprint hashes the streamed bytes, so other
 * bytes of the same length with the key → 422 IDEMPOTENCY_KEY_MISMATCH. */
static void test_streamed_upload(void)
{
	struct tenant t;
	char product[FX_ID];
	RESP(a);
	RESP(b);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\": \"Idem gallery\"}", product));
	image_post(&t, product, "img-1", 0, NULL, &a);
	if (!EXPECT(a, 201, NULL))
		return;
	image_post(&t, product, "img-1", 0, NULL, &b);
	REPLAY_OF(b, a);
	INT_EQ(fx_count(&Q_IMAGES, t.account), 1, NULL);
	image_post(&t, product, "img-1", 1, NULL, &b); /* same length, other bytes */
	EXPECT(b, 422, "IDEMPOTENCY_KEY_MISMATCH");
	INT_EQ(fx_count(&Q_IMAGES, t.account), 1, NULL);
	image_post(&t, product, "img-2", 2, "X-Apf-Test-Fault: after-commit", &a);
	CHECK(a.status == 502 || a.status == 0, &a, "no answer from a killed child");
	INT_EQ(fx_count(&Q_IMAGES, t.account), 2, NULL);
	image_post(&t, product, "img-2", 2, NULL, &b);
	if (EXPECT(b, 201, NULL))
		CHECK(replayed(&b), &b, "the stored answer");
	INT_EQ(fx_count(&Q_IMAGES, t.account), 2, NULL);
}

/* Expired records: a new request with the key is new; housekeeping deletes them. */
static void test_expiry(void)
{
	struct tenant t;
	RESP(a);
	FX(fx_tenant(&t, "read,write"));
	idem("POST", "/materials/filament", t.key, "e-1", FILAMENT, NULL, &a);
	EXPECT(a, 201, NULL);
	FX(FX_SQL(Q_RECORD_EXPIRE, DS(t.account)));
	idem("POST", "/materials/filament", t.key, "e-1", FILAMENT, NULL, &a);
	EXPECT(a, 201, NULL);
	CHECK(!replayed(&a), &a, "an expired record is not replayed");
	INT_EQ(fx_count(&Q_FILAMENTS, t.account), 2, NULL);
	FX(FX_SQL(Q_RECORD_EXPIRE, DS(t.account)));
	FX(fx_sql(&Q_PURGE_JOB, NULL, 0));
	queue_wake();
	long long n = 1;
	for (int64_t end = util_now_ms() + DEADLINE_MS; n != 0 && util_now_ms() < end;) {
		n = fx_count(&Q_RECORDS, t.account);
		if (n)
			sleep_ms(100);
	}
	INT_EQ(n, 0, NULL);
}

/* A pause whose child died after committing its command, while it waited for the hub: retries
 * answer 409 until the command is final, then the answer rebuilt from the command; one pause
 * only. A retry of an answered pause is the replay, not INVALID_TRANSITION. */
static void test_hub_pause(void)
{
	struct rig *g = rig_new();
	char job[FX_ID], state[128];
	RESP(a);
	RESP(b);
	FX(rig_make(g, "X1 Carbon", 1));
	FX(rig_printing(g, job));
	const char *path = jpath(job, "/pause");
	idem("POST", path, g->t.key, "pause-1", NULL, "X-Apf-Test-Fault: before-wait", &a);
	CHECK(a.status == 502 || a.status == 0, &a, "no answer from a killed child");
	INT_EQ(fx_count(&Q_PAUSES, job), 1, NULL);
	int64_t end = util_now_ms() + DEADLINE_MS;
	do {
		idem("POST", path, g->t.key, "pause-1", NULL, NULL, &b);
		if (b.status == 409 && strcmp(jstr(b.json, "code"), "IDEMPOTENCY_KEY_IN_USE") == 0)
			sleep_ms(200);
		else
			break;
	} while (util_now_ms() < end);
	if (EXPECT(b, 200, NULL)) {
		CHECK(replayed(&b), &b, "the rebuilt answer is a replay");
		STR_EQ(jstr(rdata(&b), "status"), "paused", &b);
		CHECK(util_is_uuid(jstr(rdata(&b), "command_id")), &b, "command_id");
	}
	INT_EQ(fx_count(&Q_PAUSES, job), 1, NULL);
	FX(FX_TEXT(state, Q_RECORD_STATE, DS(rig_account(g))));
	CHECK(strncmp(state, "done|200|", 9) == 0, &b, "the record is done: %s", state);
	JOB_BECOMES(job, "paused");
	idem("POST", path, g->t.key, "pause-1", NULL, NULL, &a);
	REPLAY_OF(a, b);
	INT_EQ(fx_count(&Q_PAUSES, job), 1, NULL);

	/* an answered resume retried: the replay, one resume */
	path = jpath(job, "/resume");
	idem("POST", path, g->t.key, "resume-1", NULL, NULL, &a);
	EXPECT(a, 200, NULL);
	idem("POST", path, g->t.key, "resume-1", NULL, NULL, &b);
	REPLAY_OF(b, a);
	JOB_BECOMES(job, "printing");

	/* a refused pause whose child died while waiting: the retry gets the refusal, rebuilt
	 * from the command's row, and stores it; still no second command */
	FX(hx_fault(&g->hx, "refuse action=print.pause code=PRINTER_REJECTED"));
	path = jpath(job, "/pause");
	idem("POST", path, g->t.key, "pause-2", NULL, "X-Apf-Test-Fault: before-wait", &a);
	CHECK(a.status == 502 || a.status == 0, &a, "no answer from a killed child");
	end = util_now_ms() + DEADLINE_MS;
	do {
		idem("POST", path, g->t.key, "pause-2", NULL, NULL, &b);
		if (b.status == 409 && strcmp(jstr(b.json, "code"), "IDEMPOTENCY_KEY_IN_USE") == 0)
			sleep_ms(200);
		else
			break;
	} while (util_now_ms() < end);
	if (EXPECT(b, 503, "HUB_COMMAND_FAILED")) {
		CHECK(replayed(&b), &b, "the rebuilt answer is a replay");
		CHECK(strstr(jstr(b.json, "error"), "PRINTER_REJECTED") != NULL, &b,
		      "the hub's code is named");
	}
	idem("POST", path, g->t.key, "pause-2", NULL, NULL, &a);
	REPLAY_OF(a, b);
	INT_EQ(fx_count(&Q_PAUSES, job), 2, NULL);
	JOB_BECOMES(job, "printing"); /* the worker reverted the refused pause */
	FX(hx_clear(&g->hx));
	rig_free(g);
}

int suite_idempotency(void)
{
	CU_pSuite s = CU_add_suite_with_setup_and_teardown("idempotency", NULL, NULL, NULL,
							    rig_sweep);
	if (!s)
		return -1;
	ADD_TEST(s, test_replay_txn_route);
	ADD_TEST(s, test_replay_plain_route_and_errors);
	ADD_TEST(s, test_patch);
	ADD_TEST(s, test_per_api_key);
	ADD_TEST(s, test_concurrent);
	ADD_TEST(s, test_killed_after_commit);
	ADD_TEST(s, test_killed_after_commit_own_txn);
	ADD_TEST(s, test_5xx_released);
	ADD_TEST(s, test_streamed_upload);
	ADD_TEST(s, test_expiry);
	ADD_TEST(s, test_hub_pause);
	return 0;
}
