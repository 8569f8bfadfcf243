/* metrics.c - see metrics.h; the metrics themselves are listed in docs/observability.md. */
#include "metrics.h"

#include "budget.h"
#include "log.h"
#include "obs.h"
#include "routes.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* Status codes counted one by one; any other is counted as "other". */
static const int statuses[] = { 200, 201, 202, 204, 206, 304, 400, 401, 403, 404, 405, 408, 409,
				410, 413, 415, 416, 422, 429, 500, 501, 502, 503, 504 };
#define NSTATUS (sizeof statuses / sizeof statuses[0] + 1)
/* Upper bounds of the latency buckets in microseconds; the last bucket is +Inf. */
static const uint64_t bounds_us[] = { 5000, 10000, 25000, 50000, 100000, 250000, 500000,
				      1000000, 2500000, 5000000, 10000000, 30000000, 60000000 };
#define NBOUNDS (sizeof bounds_us / sizeof bounds_us[0])

struct slot {
	uint64_t status[NSTATUS];
	uint64_t bucket[NBOUNDS + 1]; /* not cumulative; the last one is past every bound */
	uint64_t sum_us;
};

struct shared {
	uint64_t child_restarts;
	uint64_t hot[MH__COUNT];
	uint64_t busy[BUDGET_CHILDREN_MAX]; /* 1 while child i answers a request */
	struct obs_counters db;
	struct slot slots[]; /* nroutes + METRICS_SLOT__EXTRA */
};

static struct shared *shm;
static long child = -1; /* this child's index in busy[], -1 in the master and in tests */

/* The request in hand (a child serves one at a time). */
static struct {
	struct timespec t0;
	int status;
	int active;
} cur;

unsigned metrics_slot(enum metrics_slot_extra which)
{
	return nroutes + (unsigned)which;
}

static unsigned nslots(void)
{
	return nroutes + METRICS_SLOT__EXTRA;
}

int metrics_init(void)
{
	if (shm)
		return 0;
	size_t size = sizeof(struct shared) + nslots() * sizeof(struct slot);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_error("metrics: cannot map %zu bytes of shared counters; requests are not counted",
			  size);
		return -1;
	}
	shm = p; /* zero-filled */
	obs_counters = &shm->db;
	return 0;
}

void metrics_child_restarted(void)
{
	if (shm)
		obs_add(&shm->child_restarts, 1);
}

void metrics_child_started(long index)
{
	child = index >= 0 && index < BUDGET_CHILDREN_MAX ? index : -1;
}

void metrics_child_ended(long index)
{
	if (shm && index >= 0 && index < BUDGET_CHILDREN_MAX)
		__atomic_store_n(&shm->busy[index], 0, __ATOMIC_RELAXED);
}

static void busy(uint64_t v)
{
	if (shm && child >= 0)
		__atomic_store_n(&shm->busy[child], v, __ATOMIC_RELAXED);
}

void metrics_begin(const char *request_id)
{
	log_set_request(request_id);
	clock_gettime(CLOCK_MONOTONIC, &cur.t0);
	cur.status = 0;
	cur.active = 1;
	busy(1);
}

void metrics_status(int status)
{
	cur.status = status;
}

static unsigned status_index(int status)
{
	for (unsigned i = 0; i + 1 < NSTATUS; i++)
		if (statuses[i] == status)
			return i;
	return NSTATUS - 1;
}

static const char *slot_method(unsigned slot)
{
	if (slot < nroutes)
		return method_name(routes[slot].method);
	return slot == metrics_slot(METRICS_SLOT_UNMATCHED) ? "other" : "GET";
}

/* The route template of a slot, "/v1" included. */
static const char *slot_route(unsigned slot, char *buf, size_t size)
{
	if (slot < nroutes)
		snprintf(buf, size, "/v1%s", routes[slot].path);
	else if (slot == metrics_slot(METRICS_SLOT_HUBFILES))
		snprintf(buf, size, "/hub/v1/files/{id}");
	else if (slot == metrics_slot(METRICS_SLOT_SCRAPE))
		snprintf(buf, size, "/metrics");
	else
		snprintf(buf, size, "unmatched");
	return buf;
}

void metrics_end(unsigned slot, int status, const char *key_id, const char *account_id)
{
	if (!cur.active)
		return;
	cur.active = 0;
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int64_t us = (int64_t)(t1.tv_sec - cur.t0.tv_sec) * 1000000 +
		     (t1.tv_nsec - cur.t0.tv_nsec) / 1000;
	if (us < 0)
		us = 0;
	if (!status)
		status = cur.status ? cur.status : 500;
	if (slot >= nslots())
		slot = metrics_slot(METRICS_SLOT_UNMATCHED);
	if (shm) {
		struct slot *s = &shm->slots[slot];
		unsigned b = 0;
		while (b < NBOUNDS && (uint64_t)us > bounds_us[b])
			b++;
		obs_add(&s->status[status_index(status)], 1);
		obs_add(&s->bucket[b], 1);
		obs_add(&s->sum_us, (uint64_t)us);
	}
	busy(0);
	char route[300];
	log_info("access method=%s route=%s status=%d duration_ms=%.3f key_id=%s account_id=%s",
		 slot_method(slot), slot_route(slot, route, sizeof route), status, (double)us / 1000.,
		 key_id && *key_id ? key_id : "-", account_id && *account_id ? account_id : "-");
	log_set_request(NULL);
}

int metrics_is_scrape(FCGX_Request *fr)
{
	const char *mark = FCGX_GetParam("APF_METRICS", fr->envp);
	const char *uri = FCGX_GetParam("REQUEST_URI", fr->envp);
	if (!mark || strcmp(mark, "1") != 0 || !uri)
		return 0;
	size_t n = strcspn(uri, "?");
	return n == 8 && strncmp(uri, "/metrics", 8) == 0;
}

/* ------------------------------------------------------------------------------ rendering */

/* A label value with \, " and newline escaped (the exposition format's rule). */
static void put_label(FILE *f, const char *v)
{
	for (const char *p = v ? v : ""; *p; p++) {
		if (*p == '\\' || *p == '"')
			fputc('\\', f);
		if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *f, const char *name, const char *labels, double v)
{
	fprintf(f, "%s%s%s%s %.15g\n", name, labels && *labels ? "{" : "", labels ? labels : "",
		labels && *labels ? "}" : "", v);
}

static uint64_t slot_total(const struct slot *s)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < NSTATUS; i++)
		n += obs_get(&s->status[i]);
	return n;
}

static void render_requests(FILE *f)
{
	char route[300];
	head(f, "apf_http_requests_total", "counter",
	     "API requests answered by this host's FastCGI children, by route template and status.");
	for (unsigned i = 0; i < nslots(); i++) {
		const struct slot *s = &shm->slots[i];
		for (unsigned k = 0; k < NSTATUS; k++) {
			uint64_t n = obs_get(&s->status[k]);
			if (!n)
				continue;
			fprintf(f, "apf_http_requests_total{method=\"%s\",route=\"", slot_method(i));
			put_label(f, slot_route(i, route, sizeof route));
			if (k + 1 < NSTATUS)
				fprintf(f, "\",status=\"%d\"} %llu\n", statuses[k], (unsigned long long)n);
			else
				fprintf(f, "\",status=\"other\"} %llu\n", (unsigned long long)n);
		}
	}
	head(f, "apf_http_request_duration_seconds", "histogram",
	     "Time from the request reaching a FastCGI child to its answer being written.");
	for (unsigned i = 0; i < nslots(); i++) {
		const struct slot *s = &shm->slots[i];
		if (!slot_total(s))
			continue;
		uint64_t cum = 0;
		slot_route(i, route, sizeof route);
		for (unsigned b = 0; b <= NBOUNDS; b++) {
			cum += obs_get(&s->bucket[b]);
			fprintf(f, "apf_http_request_duration_seconds_bucket{method=\"%s\",route=\"",
				slot_method(i));
			put_label(f, route);
			if (b < NBOUNDS)
				fprintf(f, "\",le=\"%g\"} %llu\n", (double)bounds_us[b] / 1e6,
					(unsigned long long)cum);
			else
				fprintf(f, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		fprintf(f, "apf_http_request_duration_seconds_sum{method=\"%s\",route=\"",
			slot_method(i));
		put_label(f, route);
		fprintf(f, "\"} %.6f\n", (double)obs_get(&s->sum_us) / 1e6);
		fprintf(f, "apf_http_request_duration_seconds_count{method=\"%s\",route=\"",
			slot_method(i));
		put_label(f, route);
		fprintf(f, "\"} %llu\n", (unsigned long long)cum);
	}
	uint64_t n = 0;
	for (int i = 0; i < BUDGET_CHILDREN_MAX; i++)
		n += obs_get(&shm->busy[i]);
	head(f, "apf_http_requests_in_flight", "gauge",
	     "Requests being answered by this host's FastCGI children (this scrape included).");
	sample(f, "apf_http_requests_in_flight", NULL, (double)n);
	head(f, "apf_fcgi_children", "gauge", "FastCGI children this host's master keeps running.");
	sample(f, "apf_fcgi_children", NULL, (double)budget_children());
	head(f, "apf_fcgi_child_restarts_total", "counter",
	     "FastCGI children started again after one ended (crash, kill, reload).");
	sample(f, "apf_fcgi_child_restarts_total", NULL, (double)obs_get(&shm->child_restarts));
	static const char *const events[MH__COUNT] = {
		"answer_stored", "answer_made", "key_memory", "key_database", "rate_lease",
		"version_read", "peer_unacknowledged"
	};
	head(f, "apf_api_hot_path_total", "counter",
	     "Hot-path events of this host: stored or made answers of cacheable reads, keys from "
	     "memory or the database, rate blocks leased, data versions read, writes that waited "
	     "out an API host (docs/hot-path.md).");
	for (int i = 0; i < MH__COUNT; i++) {
		char l[48];
		snprintf(l, sizeof l, "event=\"%s\"", events[i]);
		sample(f, "apf_api_hot_path_total", l, (double)obs_get(&shm->hot[i]));
	}
}

void metrics_hot(enum metrics_hot which)
{
	if (shm && (unsigned)which < MH__COUNT)
		obs_add(&shm->hot[which], 1);
}

/* ------------------------------------------------------------------ from the database */

static const struct db_query Q_M_QUEUE_DEPTH = {
	"SELECT queue, state, COUNT(*) FROM queue_jobs GROUP BY queue, state ORDER BY queue, state"
};
static const struct db_query Q_M_QUEUE_AGE = {
	"SELECT queue, state, TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(3)) FROM queue_jobs"
	" WHERE state IN ('ready', 'running', 'dead') GROUP BY queue, state ORDER BY queue, state"
};
static const struct db_query Q_M_HUB_COMMANDS = {
	"SELECT status, COUNT(*) FROM hub_commands GROUP BY status ORDER BY status"
};
static const struct db_query Q_M_LEASE = {
	"SELECT holder, expires_at > NOW(3) FROM cluster_leases WHERE name = 'mqtt-link'"
};
/* Workers that reported within a day: name, age of the report (us), link, counters. */
static const struct db_query Q_M_WORKERS = {
	"SELECT worker, TIMESTAMPDIFF(MICROSECOND, updated_at, NOW(3)), link_connected, counters"
	" FROM worker_metrics WHERE updated_at > NOW(3) - INTERVAL 1 DAY ORDER BY worker"
};

/* {queue="..",state=".."} of row r (columns 0 and 1) into buf. */
static const char *queue_labels(const struct db_res *res, unsigned long r, char *buf, size_t size,
				int with_state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m) {
		snprintf(buf, size, "queue=\"?\"");
		return buf;
	}
	fputs("queue=\"", m);
	put_label(m, db_get(res, r, 0));
	if (with_state) {
		fputs("\",state=\"", m);
		put_label(m, db_get(res, r, 1));
	}
	fputc('"', m);
	fclose(m);
	snprintf(buf, size, "%s", text ? text : "");
	free(text);
	return buf;
}

static int render_queues(FILE *f, struct db *db)
{
	struct db_res res;
	char labels[512];
	if (db_exec(db, &Q_M_QUEUE_DEPTH, NULL, 0, &res) != E_OK)
		return -1;
	head(f, "apf_queue_jobs", "gauge", "Rows of queue_jobs by queue and state.");
	for (unsigned long r = 0; r < res.nrows; r++)
		sample(f, "apf_queue_jobs", queue_labels(&res, r, labels, sizeof labels, 1),
		       (double)db_get_int(&res, r, 2, 0));
	head(f, "apf_queue_dead_letters", "gauge",
	     "Dead-lettered jobs by queue (state dead: apf-admin queue retry brings one back).");
	for (unsigned long r = 0; r < res.nrows; r++)
		if (strcmp(db_get(&res, r, 1) ? db_get(&res, r, 1) : "", "dead") == 0)
			sample(f, "apf_queue_dead_letters",
			       queue_labels(&res, r, labels, sizeof labels, 0),
			       (double)db_get_int(&res, r, 2, 0));
	db_res_free(&res);
	if (db_exec(db, &Q_M_QUEUE_AGE, NULL, 0, &res) != E_OK)
		return -1;
	head(f, "apf_queue_oldest_job_age_seconds", "gauge",
	     "Age (since it was queued) of the oldest job by queue and state (ready, running, dead).");
	for (unsigned long r = 0; r < res.nrows; r++)
		sample(f, "apf_queue_oldest_job_age_seconds",
		       queue_labels(&res, r, labels, sizeof labels, 1),
		       (double)db_get_int(&res, r, 2, 0) / 1e6);
	db_res_free(&res);
	return 0;
}

static int render_hub_commands(FILE *f, struct db *db)
{
	struct db_res res;
	char labels[128];
	if (db_exec(db, &Q_M_HUB_COMMANDS, NULL, 0, &res) != E_OK)
		return -1;
	head(f, "apf_hub_commands", "gauge",
	     "Rows of hub_commands by status: pending and sent are in flight; acked, failed, timeout"
	     " and expired are outcomes and only grow.");
	for (unsigned long r = 0; r < res.nrows; r++) {
		snprintf(labels, sizeof labels, "status=\"%s\"", db_get(&res, r, 0));
		sample(f, "apf_hub_commands", labels, (double)db_get_int(&res, r, 1, 0));
	}
	db_res_free(&res);
	return 0;
}

/* Each member of the object at key of counters as one sample of name with label lname. */
static void worker_counter_map(FILE *f, const char *name, const char *wlabel, const json_t *counters,
			       const char *key, const char *lname)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)json_object_get(counters, key), k, v) {
		if (!json_is_integer(v))
			continue;
		fprintf(f, "%s{%s,%s=\"", name, wlabel, lname);
		put_label(f, k);
		fprintf(f, "\"} %lld\n", (long long)json_integer_value(v));
	}
}

static long long jnum(const json_t *o, const char *key, long long def)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

struct wrow {
	char label[300];  /* worker="..." */
	double age_s;     /* since its last report */
	int link;
	json_t *c;        /* its counters */
};

/* One family over every worker row: fn writes the samples of one row. */
typedef void wfamily_fn(FILE *f, const struct wrow *w);

static void wf_age(FILE *f, const struct wrow *w)
{
	sample(f, "apf_worker_report_age_seconds", w->label, w->age_s);
}
static void wf_link(FILE *f, const struct wrow *w)
{
	sample(f, "apf_worker_mqtt_connected", w->label, w->link);
}
static void wf_jobs(FILE *f, const struct wrow *w)
{
	worker_counter_map(f, "apf_worker_jobs_total", w->label, w->c, "jobs", "outcome");
}
static void wf_cmds(FILE *f, const struct wrow *w)
{
	worker_counter_map(f, "apf_worker_hub_commands_total", w->label, w->c, "hub_commands",
			   "outcome");
}
static void wf_tel(FILE *f, const struct wrow *w)
{
	worker_counter_map(f, "apf_telemetry_messages_total", w->label, w->c, "telemetry_messages",
			   "kind");
}
static void wf_drop(FILE *f, const struct wrow *w)
{
	sample(f, "apf_telemetry_dropped_total", w->label,
	       (double)jnum(w->c, "telemetry_dropped", 0));
}
static void wf_last(FILE *f, const struct wrow *w)
{
	long long age = jnum(w->c, "telemetry_age_ms", -1);
	if (age >= 0) /* the age when reported plus the time since */
		sample(f, "apf_telemetry_last_message_age_seconds", w->label,
		       (double)age / 1e3 + w->age_s);
}
static void wf_lag(FILE *f, const struct wrow *w)
{
	if (jnum(w->c, "telemetry_age_ms", -1) >= 0)
		sample(f, "apf_telemetry_lag_seconds", w->label,
		       (double)jnum(w->c, "telemetry_lag_ms", 0) / 1e3);
}
static void wf_dberr(FILE *f, const struct wrow *w)
{
	char l[340];
	snprintf(l, sizeof l, "process=\"apf-worker\",%s", w->label);
	worker_counter_map(f, "apf_db_errors_total", l, w->c, "db_errors", "kind");
}
static void wf_dbconn(FILE *f, const struct wrow *w)
{
	char l[340];
	snprintf(l, sizeof l, "process=\"apf-worker\",%s", w->label);
	sample(f, "apf_db_connects_total", l, (double)jnum(w->c, "db_connects", 0));
}
static void wf_dbre(FILE *f, const struct wrow *w)
{
	char l[340];
	snprintf(l, sizeof l, "process=\"apf-worker\",%s", w->label);
	sample(f, "apf_db_reconnects_total", l, (double)jnum(w->c, "db_reconnects", 0));
}

static const struct {
	const char *name, *type, *help;
	wfamily_fn *fn;
} wfamilies[] = {
	{ "apf_worker_report_age_seconds", "gauge",
	  "Seconds since the worker last wrote its counters (every 5 s while it runs).", wf_age },
	{ "apf_worker_mqtt_connected", "gauge",
	  "1 when this worker's MQTT link to the broker is connected.", wf_link },
	{ "apf_worker_jobs_total", "counter",
	  "Queue jobs the worker ran, by outcome: done, retried (failed, runs again), dead.",
	  wf_jobs },
	{ "apf_worker_hub_commands_total", "counter",
	  "Hub commands the worker published or finished, by outcome.", wf_cmds },
	{ "apf_telemetry_messages_total", "counter",
	  "Hub messages received by the worker's MQTT link, by topic kind.", wf_tel },
	{ "apf_telemetry_dropped_total", "counter",
	  "Hub messages dropped (unexpected topic, too big, malformed, unknown hub).", wf_drop },
	{ "apf_telemetry_last_message_age_seconds", "gauge",
	  "Seconds since the worker received its last hub message.", wf_last },
	{ "apf_telemetry_lag_seconds", "gauge",
	  "Receipt time minus the hub's own ts of the last message that had one (hub clock).",
	  wf_lag },
};

/* Database errors and connections: this host's FastCGI children, then every worker. */
static void render_db_counters(FILE *f, const struct wrow *rows, unsigned long n)
{
	head(f, "apf_db_errors_total", "counter",
	     "Database errors by kind (lost, not_ready, lock_conflict, connect, other) and process.");
	for (int k = 0; k < OBS_DB__COUNT; k++)
		fprintf(f, "apf_db_errors_total{process=\"apf-fcgi\",kind=\"%s\"} %llu\n",
			obs_db_err_name((enum obs_db_err)k),
			(unsigned long long)obs_get(&obs_counters->db_errors[k]));
	for (unsigned long i = 0; i < n; i++)
		wf_dberr(f, &rows[i]);
	head(f, "apf_db_connects_total", "counter", "Database connections made, by process.");
	sample(f, "apf_db_connects_total", "process=\"apf-fcgi\"",
	       (double)obs_get(&obs_counters->db_connects));
	for (unsigned long i = 0; i < n; i++)
		wf_dbconn(f, &rows[i]);
	head(f, "apf_db_reconnects_total", "counter",
	     "Database connections made again after one was lost or closed, by process.");
	sample(f, "apf_db_reconnects_total", "process=\"apf-fcgi\"",
	       (double)obs_get(&obs_counters->db_reconnects));
	for (unsigned long i = 0; i < n; i++)
		wf_dbre(f, &rows[i]);
}

static int render_workers(FILE *f, struct db *db)
{
	struct db_res res, lease;
	int ok = db_exec(db, &Q_M_WORKERS, NULL, 0, &res) == E_OK;
	unsigned long n = ok ? res.nrows : 0;
	struct wrow *rows = calloc(n ? n : 1, sizeof *rows);
	for (unsigned long i = 0; rows && i < n; i++) {
		char *text = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&text, &len);
		if (m) {
			fputs("worker=\"", m);
			put_label(m, db_get(&res, i, 0));
			fputc('"', m);
			fclose(m);
		}
		snprintf(rows[i].label, sizeof rows[i].label, "%s", text ? text : "worker=\"?\"");
		free(text);
		rows[i].age_s = (double)db_get_int(&res, i, 1, 0) / 1e6;
		rows[i].link = db_get_int(&res, i, 2, 0) != 0;
		rows[i].c = json_loads(db_get(&res, i, 3) ? db_get(&res, i, 3) : "{}", 0, NULL);
	}
	render_db_counters(f, rows, rows ? n : 0);
	for (size_t k = 0; rows && ok && k < sizeof wfamilies / sizeof wfamilies[0]; k++) {
		head(f, wfamilies[k].name, wfamilies[k].type, wfamilies[k].help);
		for (unsigned long i = 0; i < n; i++)
			wfamilies[k].fn(f, &rows[i]);
	}

	/* the MQTT link: who holds the lease, and whether that worker is connected */
	int lease_ok = db_exec(db, &Q_M_LEASE, NULL, 0, &lease) == E_OK;
	const char *holder = lease_ok && lease.nrows ? db_get(&lease, 0, 0) : NULL;
	int held = holder && *holder && db_get_int(&lease, 0, 1, 0) == 1;
	int up = 0;
	for (unsigned long i = 0; held && ok && rows && i < n; i++)
		if (strcmp(db_get(&res, i, 0), holder) == 0)
			up = rows[i].link && rows[i].age_s < 3 * 5;
	if (lease_ok) {
		head(f, "apf_mqtt_link_lease_held", "gauge",
		     "1 when a worker holds the MQTT link lease (cluster_leases mqtt-link).");
		sample(f, "apf_mqtt_link_lease_held", NULL, held);
		head(f, "apf_mqtt_link_up", "gauge",
		     "1 when the lease holder reports its MQTT link connected (within 15 s).");
		sample(f, "apf_mqtt_link_up", NULL, up);
		head(f, "apf_mqtt_link_holder", "gauge",
		     "The worker holding the MQTT link lease (value 1; absent when nobody holds it).");
		if (held) {
			fputs("apf_mqtt_link_holder{worker=\"", f);
			put_label(f, holder);
			fputs("\"} 1\n", f);
		}
		db_res_free(&lease);
	}
	for (unsigned long i = 0; rows && i < n; i++)
		json_decref(rows[i].c);
	free(rows);
	if (ok)
		db_res_free(&res);
	return ok && lease_ok ? 0 : -1;
}

int metrics_serve(FCGX_Request *fr, struct db *db, const char *request_id)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f || !shm) {
		if (f)
			fclose(f);
		free(text);
		FCGX_FPrintF(fr->out, "Status: 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
			     "X-Request-Id: %s\r\n\r\nmetrics unavailable\n", request_id);
		return 503;
	}
	render_requests(f);
	int dbok = render_queues(f, db) == 0;
	dbok = render_hub_commands(f, db) == 0 && dbok;
	dbok = render_workers(f, db) == 0 && dbok;
	head(f, "apf_database_up", "gauge",
	     "1 when this scrape could read the database (queues, hub commands, workers, link).");
	sample(f, "apf_database_up", NULL, dbok);
	fclose(f);
	FCGX_FPrintF(fr->out, "Status: 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8"
		     "\r\nContent-Length: %d\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n\r\n",
		     (int)len, request_id);
	FCGX_PutStr(text, (int)len, fr->out);
	free(text);
	return 200;
}
