/* wstats.h - this worker's counters for /metrics (docs/observability.md).
 *
 * Counted in memory (the worker is one thread) and written every WSTATS_PERIOD seconds into
 * this worker's row of worker_metrics (one upsert), from where /metrics on any API host reads
 * them: workers may run on other hosts than the API. The row also says whether this worker's
 * MQTT link is connected. */
#ifndef APF_WSTATS_H
#define APF_WSTATS_H

#include "db.h"

#include <stdbool.h>
#include <stdint.h>

#define WSTATS_PERIOD 5

enum wstats_job { WSTATS_JOB_DONE, WSTATS_JOB_RETRY, WSTATS_JOB_DEAD, WSTATS_JOB__COUNT };
enum wstats_cmd {
	WSTATS_CMD_PUBLISHED, WSTATS_CMD_ACKED, WSTATS_CMD_FAILED, WSTATS_CMD_EXPIRED,
	WSTATS_CMD_TIMEOUT, WSTATS_CMD_OFFLINE, WSTATS_CMD__COUNT
};

/* A queue job's outcome: done, failed and retried later, failed and dead-lettered. */
void wstats_job(enum wstats_job outcome);
/* A hub command this worker published or finished. */
void wstats_cmd(enum wstats_cmd outcome);
/* A hub message received on topic kind ("state", "status", ...; anything else counts as
 * "other"). hub_ts_ms: the message's own ts (hub clock, epoch ms), 0 when it has none. */
void wstats_telemetry(const char *kind);
void wstats_telemetry_lag(int64_t hub_ts_ms);
/* A hub message dropped (unexpected topic, too big, malformed, unknown hub). */
void wstats_telemetry_dropped(void);
/* Whether this worker's MQTT link is connected now. */
void wstats_link(bool connected);

/* Writes this worker's row when WSTATS_PERIOD seconds passed since the last write (force: now).
 * worker: the row's name (the lease holder name, host_id/id). */
enum api_err wstats_flush(struct db *db, const char *worker, bool force);

/* The counters as the JSON object stored in worker_metrics.counters (caller frees). */
char *wstats_json(void);

#endif
