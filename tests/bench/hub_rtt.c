/* hub_rtt.c - apf-bench-hubrtt: latency of a hub command round trip against a plain read, from
 * one client on one kept-alive HTTPS connection (scripts/bench_hub.sh runs it).
 *
 *   apf-bench-hubrtt --base https://127.0.0.1:8443/v1 --cacert FILE --key KEY --job JOB_ID
 *                    --printer PRINTER_ID [--n 300] [--warmup 20] [--raw FILE]
 *
 * Each round is POST /jobs/{job}/pause or /resume (alternately: API → worker → MQTT → hub ACK
 * → response) followed by GET /printers/{printer}; both are timed from the request to the last
 * byte of the answer. The job must be printing (or paused) on a printer of a live hub. The same
 * handle (one TLS connection, kept alive) serves every request, so neither figure pays for a
 * handshake. Output, one line per series and the ratio:
 *   action n=300 ok=300 err=0 p50_ms=... p90_ms=... p99_ms=... mean_ms=... min_ms=... max_ms=...
 *   get    n=300 ok=300 ...
 *   ratio_p50=... ratio_p99=...
 * --raw FILE: every sample, "series ms http_status". Exit 0 when the runs completed (errors are
 * counted, not fatal), 1 on a set-up problem, 2 on a usage error. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct series {
	const char *name;
	double *ms;
	int n, ok, err;
};

struct opts {
	const char *base, *cacert, *key, *job, *printer, *raw;
	int n, warmup;
};

static char body[65536];
static size_t body_len;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	(void)ud;
	size_t n = size * nmemb;
	size_t room = sizeof body - 1 - body_len;
	size_t take = n < room ? n : room;
	memcpy(body + body_len, data, take);
	body_len += take;
	body[body_len] = '\0';
	return n;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* One request on the shared handle; *ms = elapsed; returns the HTTP status (0 = transport). */
static long request(CURL *h, const char *url, int post, double *ms)
{
	long status = 0;
	body_len = 0;
	body[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (post) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	double t0 = now_ms();
	CURLcode rc = curl_easy_perform(h);
	*ms = now_ms() - t0;
	if (rc != CURLE_OK) {
		fprintf(stderr, "hubrtt: %s: %s\n", url, curl_easy_strerror(rc));
		return 0;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n]. */
static double pct(const double *v, int n, double p)
{
	if (n <= 0)
		return 0;
	int k = (int)(p / 100.0 * n + 0.999999) - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return v[k];
}

/* One measured request of series s (and its raw line, when raw is open). */
static void record(struct series *s, long status, double ms, FILE *raw, const char *label)
{
	s->n++;
	if (status == 200)
		s->ms[s->ok++] = ms;
	else
		s->err++;
	if (raw)
		fprintf(raw, "%s %.3f %ld\n", label, ms, status);
}

static double report(struct series *s)
{
	qsort(s->ms, (size_t)s->ok, sizeof s->ms[0], cmp_double);
	double sum = 0;
	for (int i = 0; i < s->ok; i++)
		sum += s->ms[i];
	printf("%-6s n=%d ok=%d err=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f mean_ms=%.3f"
	       " min_ms=%.3f max_ms=%.3f\n",
	       s->name, s->n, s->ok, s->err, pct(s->ms, s->ok, 50), pct(s->ms, s->ok, 90),
	       pct(s->ms, s->ok, 99), s->ok ? sum / s->ok : 0, s->ok ? s->ms[0] : 0,
	       s->ok ? s->ms[s->ok - 1] : 0);
	return pct(s->ms, s->ok, 50);
}

static int usage(void)
{
	fprintf(stderr, "usage: apf-bench-hubrtt --base URL --cacert FILE --key KEY --job JOB_ID"
			" --printer PRINTER_ID [--n N] [--warmup N] [--raw FILE]\n");
	return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof *o);
	o->n = 300;
	o->warmup = 20;
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return -1;
		if (strcmp(a, "--base") == 0)
			o->base = v;
		else if (strcmp(a, "--cacert") == 0)
			o->cacert = v;
		else if (strcmp(a, "--key") == 0)
			o->key = v;
		else if (strcmp(a, "--job") == 0)
			o->job = v;
		else if (strcmp(a, "--printer") == 0)
			o->printer = v;
		else if (strcmp(a, "--raw") == 0)
			o->raw = v;
		else if (strcmp(a, "--n") == 0)
			o->n = atoi(v);
		else if (strcmp(a, "--warmup") == 0)
			o->warmup = atoi(v);
		else
			return -1;
	}
	if (!o->base || !o->cacert || !o->key || !o->job || !o->printer || o->n < 1 ||
	    o->n > 1000000 || o->warmup < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o) < 0)
		return usage();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	CURL *h = curl_easy_init();
	FILE *raw = o.raw ? fopen(o.raw, "w") : NULL;
	struct series act = { "action", calloc((size_t)o.n, sizeof(double)), 0, 0, 0 };
	struct series get = { "get", calloc((size_t)o.n, sizeof(double)), 0, 0, 0 };
	if (!h || !act.ms || !get.ms || (o.raw && !raw)) {
		fprintf(stderr, "hubrtt: set-up failed%s%s\n", o.raw && !raw ? ": " : "",
			o.raw && !raw ? strerror(errno) : "");
		return 1;
	}
	char auth[256], url_pause[1024], url_resume[1024], url_get[1024];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", o.key);
	snprintf(url_pause, sizeof url_pause, "%s/jobs/%s/pause", o.base, o.job);
	snprintf(url_resume, sizeof url_resume, "%s/jobs/%s/resume", o.base, o.job);
	snprintf(url_get, sizeof url_get, "%s/printers/%s", o.base, o.printer);
	struct curl_slist *hl = curl_slist_append(NULL, auth);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(h, CURLOPT_CAINFO, o.cacert);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);

	/* the job's state: pause when printing, resume when paused */
	double ms;
	int paused = 0;
	char url_job[1024];
	snprintf(url_job, sizeof url_job, "%s/jobs/%s", o.base, o.job);
	if (request(h, url_job, 0, &ms) != 200) {
		fprintf(stderr, "hubrtt: GET %s failed: %s\n", url_job, body);
		return 1;
	}
	if (strstr(body, "\"status\":\"paused\""))
		paused = 1;
	else if (!strstr(body, "\"status\":\"printing\"")) {
		fprintf(stderr, "hubrtt: the job is neither printing nor paused: %s\n", body);
		return 1;
	}

	int total = o.warmup + o.n;
	for (int i = 0; i < total; i++) {
		int rec = i >= o.warmup;
		const char *url = paused ? url_resume : url_pause;
		long st = request(h, url, 1, &ms);
		if (rec)
			record(&act, st, ms, raw, paused ? "resume" : "pause");
		if (st == 200) {
			paused = !paused;
		} else {
			fprintf(stderr, "hubrtt: POST %s -> %ld %.300s\n", url, st, body);
			/* state unknown: ask the job */
			if (request(h, url_job, 0, &ms) == 200)
				paused = strstr(body, "\"status\":\"paused\"") != NULL;
		}
		st = request(h, url_get, 0, &ms);
		if (rec)
			record(&get, st, ms, raw, "get");
	}
	double a50 = report(&act), g50 = report(&get);
	double a99 = pct(act.ms, act.ok, 99), g99 = pct(get.ms, get.ok, 99);
	printf("ratio_p50=%.2f ratio_p99=%.2f\n", g50 > 0 ? a50 / g50 : 0, g99 > 0 ? a99 / g99 : 0);
	if (raw)
		fclose(raw);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	free(act.ms);
	free(get.ms);
	return 0;
}
