/* t_metrics.c - GET /metrics and the request id (docs/observability.md).
 *
 *   - the scrape from nginx's loopback metrics listener (conf metrics_port) passes
 *     `promtool check metrics` (Debian package prometheus; missing = failure) after some traffic;
 *     /metrics on the public port is a 404, and the metrics listener serves nothing else;
 *   - the values move: a request counter and its histogram count grow by one with one request,
 *     by route template (the raw id never appears); a job inserted into queue_jobs shows in the
 *     depth and age of its queue and, dead, among the dead letters; the stack's worker reports
 *     (its row of worker_metrics) and holds the MQTT link;
 *   - X-Request-Id: a sane client id comes back and is in exactly one access line of apf-fcgi's
 *     log (route template, status, key id and account id, never the key); an insane one is
 *     replaced; the queue job (file.extract) and the hub command (light.set) a request causes
 *     carry its id in their rows, and the worker's lines about them carry it too. */
#include "rig.h"

#include "cfg.h"

#include <curl/curl.h>
#include <ctype.h>
#include <glob.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct db_query Q_M_JOB_PUT = {
	"INSERT INTO queue_jobs (queue, type, payload, state, created_at)"
	" VALUES (?, 'test.metrics', '{}', ?, NOW(3) - INTERVAL 90 SECOND)"
};
static const struct db_query Q_M_JOB_STATE = { "UPDATE queue_jobs SET state = ? WHERE queue = ?" };
static const struct db_query Q_M_JOB_DEL = { "DELETE FROM queue_jobs WHERE queue = ?" };
static const struct db_query Q_M_FILE_JOB_RID = {
	"SELECT IFNULL(MAX(request_id), '') FROM queue_jobs WHERE queue = 'FILE_PROCESSING'"
	" AND JSON_UNQUOTE(JSON_EXTRACT(payload, '$.file_id')) = ?"
};
static const struct db_query Q_M_FILE_JOB_ID = {
	"SELECT IFNULL(MAX(id), 0) FROM queue_jobs WHERE queue = 'FILE_PROCESSING'"
	" AND JSON_UNQUOTE(JSON_EXTRACT(payload, '$.file_id')) = ?"
};
static const struct db_query Q_M_CMD_RID = {
	"SELECT IFNULL(request_id, '') FROM hub_commands WHERE command_id = ?"
};

/* ------------------------------------------------------------------------------ helpers */

/* GET http://127.0.0.1:<metrics_port><path> (plain HTTP, loopback) into r: its status. */
static long metrics_get(const char *path, struct resp *r)
{
	char url[256];
	resp_free(r);
	memset(r, 0, sizeof *r);
	snprintf(url, sizeof url, "http://127.0.0.1:%ld%s", cfg_int("metrics_port", 0), path);
	snprintf(r->what, sizeof r->what, "GET %s", url);
	CURL *c = curl_easy_init();
	if (!c)
		return 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, client_on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	if (!r->body)
		r->body = calloc(1, 1);
	return r->status;
}

/* A scrape that must succeed: 0, or -1 (failure recorded). */
static int scrape(struct resp *r)
{
	metrics_get("/metrics", r);
	return CHECK(r->status == 200 && r->body, r, "GET /metrics on the metrics listener") ? 0 : -1;
}

/* The value of the series (name with its labels, exactly as rendered), or -1 when absent. */
static double series(const struct resp *r, const char *s)
{
	size_t n = strlen(s);
	for (const char *p = r->body; p && *p;) {
		if (strncmp(p, s, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return -1;
}

static char *var_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", cfg_str("var_dir", "."), name);
	return buf;
}

/* Lines of the log files matching pattern (glob below var_dir) that contain every one of the
 * NULL-terminated words; the first such line into first (may be NULL). */
static int log_lines(const char *pattern, const char *const *words, char *first, size_t size)
{
	char path[512], line[4096];
	glob_t g;
	int n = 0;
	if (first)
		first[0] = '\0';
	if (glob(var_path(path, sizeof path, pattern), 0, NULL, &g) != 0)
		return 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");
		while (f && fgets(line, sizeof line, f)) {
			int all = 1;
			for (const char *const *w = words; all && *w; w++)
				all = strstr(line, *w) != NULL;
			if (all && n++ == 0 && first)
				snprintf(first, size, "%s", line);
		}
		if (f)
			fclose(f);
	}
	globfree(&g);
	return n;
}
#define LOG_LINES(pattern, first, ...) \
	log_lines((pattern), (const char *const[]){ __VA_ARGS__, NULL }, (first), sizeof(first))

/* Waits up to ms for at least one such line. */
static int log_wait(const char *pattern, const char *const *words, char *first, size_t size,
		    long ms)
{
	for (long waited = 0;; waited += 200) {
		int n = log_lines(pattern, words, first, size);
		if (n > 0 || waited >= ms)
			return n;
		sleep_ms(200);
	}
}

/* A request id of the test's own: "t-metrics-<tag>". */
static const char *new_rid(char out[40])
{
	char tag[9];
	snprintf(out, 40, "t-metrics-%s", fx_tag(tag));
	return out;
}

/* ------------------------------------------------------------------------- the scrape */

/* The scrape after some traffic passes promtool; found on no other path or port. */
static void test_promtool(void)
{
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read,write,control"));
	api("GET", "/printers", t.key, NULL, &r);
	EXPECT(r, 200, NULL);
	api("GET", ppath(NO_SUCH_ID, NULL), t.key, NULL, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	api("GET", "/no-such-thing", t.key, NULL, &r);
	EXPECT(r, 404, "NOT_FOUND");
	FX(scrape(&r));
	CHECK(strstr(r.body, "# TYPE apf_http_requests_total counter"), &r, "requests counter");
	CHECK(strstr(r.body, "apf_http_request_duration_seconds_bucket{"), &r, "histogram");
	CHECK(series(&r, "apf_database_up") == 1, &r, "the scrape read the database");

	char file[512], cmd[1200], out[512];
	var_path(file, sizeof file, "run/t_metrics.prom");
	var_path(out, sizeof out, "run/t_metrics.promtool");
	FILE *f = fopen(file, "w");
	FX(CHECK(f != NULL, NULL, "cannot write %s", file) ? 0 : -1);
	fwrite(r.body, 1, r.len, f);
	fclose(f);
	if (!CHECK(system("command -v promtool >/dev/null 2>&1") == 0, NULL,
		   "promtool is not installed (Debian package prometheus, scripts/packages.txt)"))
		return;
	snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s' 2>&1", file, out);
	int rc = system(cmd);
	char text[4096] = "";
	FILE *o = fopen(out, "r");
	if (o) {
		size_t n = fread(text, 1, sizeof text - 1, o);
		text[n] = '\0';
		fclose(o);
	}
	CHECK(rc == 0 && text[0] == '\0', NULL, "promtool check metrics (exit %d): %s", rc, text);
}

static void test_not_public(void)
{
	RESP(r);
	struct call c = { .path = "/metrics", .from_origin = 1 };
	api_call(&c, &r);
	CHECK(r.status == 404, &r, "/metrics on the public port is a 404");
	CHECK(!strstr(r.body ? r.body : "", "apf_http_requests_total"), &r, "no metrics there");
	c.path = "/v1/metrics";
	api_call(&c, &r);
	CHECK(r.status == 401 || r.status == 404, &r, "/v1/metrics is no metrics endpoint");
	CHECK(!strstr(r.body ? r.body : "", "apf_http_requests_total"), &r, "no metrics there");
	metrics_get("/v1/printers", &r);
	CHECK(r.status == 404, &r, "the metrics listener serves /metrics only");
	metrics_get("/metrics/", &r);
	CHECK(r.status == 404, &r, "the metrics listener serves /metrics only");
}

/* ----------------------------------------------------------------------- values move */

static void test_requests_move(void)
{
	struct tenant t;
	RESP(r);
	RESP(m);
	char id[FX_ID];
	FX(fx_tenant(&t, "read"));
	FX(fx_uuid(id));
	static const char *const total =
		"apf_http_requests_total{method=\"GET\",route=\"/v1/printers/{id}\",status=\"404\"}";
	static const char *const count =
		"apf_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/printers/{id}\"}";
	api("GET", ppath(id, NULL), t.key, NULL, &r); /* the series exists from here on */
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	FX(scrape(&m));
	double before = series(&m, total), cbefore = series(&m, count);
	CHECK(before >= 1, &m, "%s is there", total);
	api("GET", ppath(id, NULL), t.key, NULL, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	FX(scrape(&m));
	/* other suites do not run beside this one: nothing else asks for a printer meanwhile */
	CHECK(series(&m, total) == before + 1, &m, "%s grew by one (%g before)", total, before);
	CHECK(series(&m, count) == cbefore + 1, &m, "%s grew by one (%g before)", count, cbefore);
	CHECK(!strstr(m.body, id), &m, "the raw id %s is no label", id);
	double inf = series(&m, "apf_http_request_duration_seconds_bucket{method=\"GET\",route=\""
				"/v1/printers/{id}\",le=\"+Inf\"}");
	CHECK(inf == series(&m, count), &m, "the +Inf bucket equals the count");
}

/* The hot path's counters (docs/hot-path.md): a new key is read from the table, then found in
 * memory; the same read twice is made, then given again; a write moves the version on. */
static void test_hot_path_counters(void)
{
	struct tenant t;
	RESP(r);
	RESP(m);
	FX(fx_tenant(&t, "read,write"));
	static const char *const names[] = {
		"apf_api_hot_path_total{event=\"key_database\"}",
		"apf_api_hot_path_total{event=\"key_memory\"}",
		"apf_api_hot_path_total{event=\"answer_made\"}",
		"apf_api_hot_path_total{event=\"answer_stored\"}",
	};
	double before[4];
	FX(scrape(&m));
	for (int i = 0; i < 4; i++)
		before[i] = series(&m, names[i]);
	/* 20 reads in a row: 8 children, so most of them find the answer their child stored */
	enum { N = 20 };
	char first[64] = "";
	for (int i = 0; i < N; i++) {
		api("GET", "/printers", t.key, NULL, &r);
		EXPECT(r, 200, NULL);
		if (i == 0)
			snprintf(first, sizeof first, "%s", r.body ? r.body : "");
		else
			STR_EQ(r.body, first, &r);
	}
	FX(scrape(&m));
	double made = series(&m, names[2]) - before[2], stored = series(&m, names[3]) - before[3];
	CHECK(series(&m, names[0]) >= before[0] + 1, &m, "the new key was read from api_keys");
	CHECK(series(&m, names[1]) >= before[1] + N - 1, &m, "then found in memory");
	CHECK(made >= 1 && stored >= 1 && made + stored >= N, &m,
	      "%d reads: %g made by the handler, %g given a stored answer", N, made, stored);
	(void)r;
}

static void test_queue_depth(void)
{
	RESP(m);
	char queue[32], tag[9], want[128];
	snprintf(queue, sizeof queue, "T_METRICS_%s", fx_tag(tag));
	FX(FX_SQL(Q_M_JOB_PUT, DS(queue), DS("ready")));
	FX(FX_SQL(Q_M_JOB_PUT, DS(queue), DS("ready")));
	FX(scrape(&m));
	snprintf(want, sizeof want, "apf_queue_jobs{queue=\"%s\",state=\"ready\"}", queue);
	CHECK(series(&m, want) == 2, &m, "%s is 2", want);
	snprintf(want, sizeof want, "apf_queue_oldest_job_age_seconds{queue=\"%s\",state=\"ready\"}",
		 queue);
	CHECK(series(&m, want) >= 90, &m, "%s is at least 90 s", want);
	snprintf(want, sizeof want, "apf_queue_dead_letters{queue=\"%s\"}", queue);
	CHECK(series(&m, want) < 0, &m, "%s absent while none is dead", want);

	FX(FX_SQL(Q_M_JOB_STATE, DS("dead"), DS(queue)));
	FX(scrape(&m));
	CHECK(series(&m, want) == 2, &m, "%s is 2", want);
	snprintf(want, sizeof want, "apf_queue_jobs{queue=\"%s\",state=\"ready\"}", queue);
	CHECK(series(&m, want) < 0, &m, "%s gone", want);

	FX(FX_SQL(Q_M_JOB_DEL, DS(queue)));
	FX(scrape(&m));
	snprintf(want, sizeof want, "{queue=\"%s\"", queue);
	CHECK(!strstr(m.body, want), &m, "queue %s gone", queue);
}

/* The stack's worker writes its row within a few seconds and holds the MQTT link (a row of an
 * earlier run of the stack may say otherwise until the worker's next report: wait for it). */
static void test_worker_row(void)
{
	RESP(m);
	char want[512], conn[512], holder[200];
	snprintf(holder, sizeof holder, "%.96s/1", cfg_host_id());
	snprintf(want, sizeof want, "apf_worker_report_age_seconds{worker=\"%s\"}", holder);
	snprintf(conn, sizeof conn, "apf_worker_mqtt_connected{worker=\"%s\"}", holder);
	for (int i = 0; i < 120; i++) {
		FX(scrape(&m));
		if (series(&m, conn) == 1 && series(&m, "apf_mqtt_link_up") == 1)
			break;
		sleep_ms(500);
	}
	double age = series(&m, want);
	CHECK(age >= 0, &m, "%s reported (%g)", want, age);
	CHECK(series(&m, conn) == 1, &m, "%s is 1", conn);
	CHECK(series(&m, "apf_mqtt_link_lease_held") == 1, &m, "the link lease is held");
	CHECK(series(&m, "apf_mqtt_link_up") == 1, &m, "the link is up");
	snprintf(want, sizeof want, "apf_mqtt_link_holder{worker=\"%s\"}", holder);
	CHECK(series(&m, want) == 1, &m, "%s", want);
	snprintf(want, sizeof want,
		 "apf_db_errors_total{process=\"apf-worker\",worker=\"%s\",kind=\"lost\"}", holder);
	CHECK(series(&m, want) >= 0, &m, "%s is there", want);
	CHECK(series(&m, "apf_db_reconnects_total{process=\"apf-fcgi\"}") >= 0, &m,
	      "the FastCGI children's reconnects are there");
}

/* ------------------------------------------------------------------------ request id */

static void test_access_line(void)
{
	struct tenant t;
	RESP(r);
	char rid[40], hdr[80], line[4096];
	FX(fx_tenant(&t, "read"));
	snprintf(hdr, sizeof hdr, "X-Request-Id: %s", new_rid(rid));
	struct call c = { .path = "/printers?limit=5", .key = t.key, .headers = { hdr } };
	api_call(&c, &r);
	EXPECT(r, 200, NULL);
	STR_EQ(resp_header(&r, "X-Request-Id"), rid, &r);
	char tagged[64];
	snprintf(tagged, sizeof tagged, "rid=%s access ", rid);
	int n = LOG_LINES("log/apf-fcgi.log", line, tagged);
	CHECK(n == 1, &r, "one access line with %s in apf-fcgi.log, found %d", rid, n);
	char key_id[80], account[80];
	snprintf(key_id, sizeof key_id, "key_id=%s", t.key_id);
	snprintf(account, sizeof account, "account_id=%s", t.account);
	CHECK(strstr(line, "method=GET route=/v1/printers status=200 duration_ms=") &&
		      strstr(line, key_id) && strstr(line, account),
	      &r, "the access line names route, status, key id and account: %s", line);
	CHECK(!strstr(line, t.key), &r, "the key is not in the access line: %s", line);
	CHECK(LOG_LINES("log/*.log", line, t.key) == 0, &r, "the key is in no log");

	/* an error answer gets its line too, with its status */
	snprintf(hdr, sizeof hdr, "X-Request-Id: %s", new_rid(rid));
	c.path = ppath(NO_SUCH_ID, NULL);
	api_call(&c, &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
	STR_EQ(resp_header(&r, "X-Request-Id"), rid, &r);
	snprintf(tagged, sizeof tagged, "rid=%s access ", rid);
	n = LOG_LINES("log/apf-fcgi.log", line, tagged, "route=/v1/printers/{id} status=404");
	CHECK(n == 1, &r, "one access line of the 404 with %s, found %d", rid, n);
	CHECK(!strstr(line, NO_SUCH_ID), &r, "the raw id is not the route: %s", line);

	/* an id that is not sane is replaced, not echoed */
	c.headers[0] = "X-Request-Id: bad id \"with\" quotes";
	c.path = "/printers";
	api_call(&c, &r);
	EXPECT(r, 200, NULL);
	const char *got = resp_header(&r, "X-Request-Id");
	int sane = got && *got && strlen(got) <= 64;
	for (const char *p = got; sane && *p; p++)
		sane = isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.';
	CHECK(sane, &r, "a fresh sane id instead of the client's (%s)", got ? got : "none");
}

/* POST /files queues file.extract: the job row and the worker's line carry the request id. */
static void test_job_rid(void)
{
	struct tenant t;
	struct fx_upload u;
	RESP(r);
	char rid[40], hdr[80], body[2048], got[80], jid[32], line[4096], what[64];
	FX(fx_tenant(&t, "read,write"));
	FX(fx_upload(t.key, "bambustudio_a1mini_cube.gcode.3mf", NULL, &u));
	snprintf(hdr, sizeof hdr, "X-Request-Id: %s", new_rid(rid));
	snprintf(body, sizeof body, "{\"name\":\"bambustudio_a1mini_cube.gcode.3mf\",\"storage_key\":\"%s\"}", u.key);
	struct call c = { .method = "POST", .path = "/files", .key = t.key, .body = body,
			  .headers = { hdr } };
	api_call(&c, &r);
	if (!EXPECT(r, 201, NULL))
		return;
	STR_EQ(resp_header(&r, "X-Request-Id"), rid, &r);
	const char *file = jstr(rdata(&r), "id");
	FX(FX_TEXT(got, Q_M_FILE_JOB_RID, DS(file)));
	STR_EQ(got, rid, &r);
	FX(FX_TEXT(jid, Q_M_FILE_JOB_ID, DS(file)));
	char tagged[64];
	snprintf(tagged, sizeof tagged, "rid=%s ", rid);
	snprintf(what, sizeof what, "job %s (file.extract) done", jid);
	int n = log_wait("log/apf-worker-*.log", (const char *const[]){ tagged, what, NULL }, line,
			 sizeof line, 30000);
	CHECK(n == 1, &r, "the worker's line \"%s\" carries %s (%d found)", what, rid, n);
}

/* A hub command (light.set, published by the worker) carries the request id. */
static void test_command_rid(void)
{
	struct rig *g = rig_new();
	RESP(r);
	char rid[40], hdr[80], got[80], line[4096], what[96];
	FX(rig_make(g, "X1 Carbon", 1));
	snprintf(hdr, sizeof hdr, "X-Request-Id: %s", new_rid(rid));
	struct call c = { .method = "POST", .path = ppath(g->printer, "/light"),
			  .key = g->key_control, .body = "{\"state\": true}", .headers = { hdr } };
	api_call(&c, &r);
	if (!EXPECT(r, 200, NULL)) {
		rig_free(g);
		return;
	}
	STR_EQ(resp_header(&r, "X-Request-Id"), rid, &r);
	const char *cmd = jstr(rdata(&r), "command_id");
	if (FX_TEXT(got, Q_M_CMD_RID, DS(cmd)) == 0)
		STR_EQ(got, rid, &r);
	char tagged[64];
	snprintf(tagged, sizeof tagged, "rid=%s ", rid);
	snprintf(what, sizeof what, "hub command %s (light.set) published", cmd ? cmd : "?");
	int n = log_wait("log/apf-worker-*.log", (const char *const[]){ tagged, what, NULL }, line,
			 sizeof line, 30000);
	CHECK(n == 1, &r, "the worker's line \"%s\" carries %s (%d found)", what, rid, n);
	snprintf(tagged, sizeof tagged, "rid=%s access ", rid);
	n = LOG_LINES("log/apf-fcgi.log", line, tagged, "route=/v1/printers/{id}/light status=200");
	CHECK(n == 1, &r, "one access line of the command request (%d found)", n);
	rig_free(g);
}

static int metrics_clean(void)
{
	rig_sweep();
	return 0;
}

int suite_metrics(void)
{
	CU_pSuite s = CU_add_suite("metrics", NULL, metrics_clean);
	if (!s)
		return -1;
	ADD_TEST(s, test_promtool);
	ADD_TEST(s, test_not_public);
	ADD_TEST(s, test_requests_move);
	ADD_TEST(s, test_hot_path_counters);
	ADD_TEST(s, test_queue_depth);
	ADD_TEST(s, test_worker_row);
	ADD_TEST(s, test_access_line);
	ADD_TEST(s, test_job_rid);
	ADD_TEST(s, test_command_rid);
	return 0;
}
