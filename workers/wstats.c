/* wstats.c - see wstats.h. */
#include "wstats.h"

#include "obs.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct db_query Q_WSTATS_PUT = {
	"INSERT INTO worker_metrics (worker, pid, started_at, updated_at, link_connected, counters)"
	" VALUES (?, ?, FROM_UNIXTIME(? / 1000), NOW(3), ?, ?) ON DUPLICATE KEY UPDATE"
	" pid = VALUES(pid), started_at = VALUES(started_at), updated_at = NOW(3),"
	" link_connected = VALUES(link_connected), counters = VALUES(counters)"
};

static const char *const kinds[] = { "state", "heartbeat", "status", "event", "ack", "discovery",
				     "other" };
#define NKINDS (sizeof kinds / sizeof kinds[0])
static const char *const job_names[WSTATS_JOB__COUNT] = { "done", "retried", "dead" };
static const char *const cmd_names[WSTATS_CMD__COUNT] = { "published", "acked", "failed",
							 "expired", "timeout", "hub_offline" };

static struct {
	uint64_t jobs[WSTATS_JOB__COUNT];
	uint64_t cmds[WSTATS_CMD__COUNT];
	uint64_t telemetry[NKINDS];
	uint64_t dropped;
	int64_t last_ms;     /* wall clock of the last message, 0 before the first */
	int64_t lag_ms;      /* receipt - hub ts of the last message that had a ts */
	bool link;
	int64_t started_ms;
	time_t flushed;      /* time of the last write, 0 before the first */
} st;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void wstats_job(enum wstats_job outcome)
{
	if ((unsigned)outcome < WSTATS_JOB__COUNT)
		st.jobs[outcome]++;
}

void wstats_cmd(enum wstats_cmd outcome)
{
	if ((unsigned)outcome < WSTATS_CMD__COUNT)
		st.cmds[outcome]++;
}

void wstats_telemetry(const char *kind)
{
	size_t i = 0;
	while (i + 1 < NKINDS && strcmp(kinds[i], kind ? kind : "") != 0)
		i++;
	st.telemetry[i]++;
	st.last_ms = now_ms();
}

void wstats_telemetry_lag(int64_t hub_ts_ms)
{
	if (hub_ts_ms > 0)
		st.lag_ms = now_ms() - hub_ts_ms;
}

void wstats_telemetry_dropped(void)
{
	st.dropped++;
}

void wstats_link(bool connected)
{
	st.link = connected;
}

static json_t *named(const char *const *names, const uint64_t *v, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < n; i++)
		json_object_set_new(o, names[i], json_integer((json_int_t)v[i]));
	return o;
}

char *wstats_json(void)
{
	uint64_t db[OBS_DB__COUNT];
	const char *dbn[OBS_DB__COUNT];
	for (int i = 0; i < OBS_DB__COUNT; i++) {
		db[i] = obs_get(&obs_counters->db_errors[i]);
		dbn[i] = obs_db_err_name((enum obs_db_err)i);
	}
	/* the age now, in this worker's clock: /metrics adds the age of the row (database clock) */
	json_int_t age = st.last_ms ? (json_int_t)(now_ms() - st.last_ms) : -1;
	json_t *o = json_pack("{s:o, s:o, s:o, s:I, s:I, s:I, s:o, s:I, s:I}",
			      "jobs", named(job_names, st.jobs, WSTATS_JOB__COUNT),
			      "hub_commands", named(cmd_names, st.cmds, WSTATS_CMD__COUNT),
			      "telemetry_messages", named(kinds, st.telemetry, NKINDS),
			      "telemetry_dropped", (json_int_t)st.dropped,
			      "telemetry_age_ms", age,
			      "telemetry_lag_ms", (json_int_t)st.lag_ms,
			      "db_errors", named(dbn, db, OBS_DB__COUNT),
			      "db_connects", (json_int_t)obs_get(&obs_counters->db_connects),
			      "db_reconnects", (json_int_t)obs_get(&obs_counters->db_reconnects));
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

enum api_err wstats_flush(struct db *db, const char *worker, bool force)
{
	time_t now = time(NULL);
	if (!st.started_ms)
		st.started_ms = now_ms();
	if (!force && st.flushed && now - st.flushed < WSTATS_PERIOD)
		return E_OK;
	char *text = wstats_json();
	if (!text)
		return E_INTERNAL_ERROR;
	enum api_err err = db_exec(db, &Q_WSTATS_PUT,
				   DB_ARGS(DS(worker), DI(getpid()), DI(st.started_ms),
					   DI(st.link ? 1 : 0), DS(text)),
				   NULL);
	free(text);
	st.flushed = now; /* also after a failure: the next try waits its period */
	return err;
}
