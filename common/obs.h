/* obs.h - counters of this process that /metrics reports (docs/observability.md).
 *
 * The database layer counts its errors and reconnects here. By default the counters are the
 * process's own; apf-fcgi points obs_counters at a shared mapping made before its children are
 * forked (fcgi/metrics.c), so every child adds to one set per host, and a worker copies its own
 * into its row of worker_metrics (workers/wstats.c). Adds are atomic and relaxed: no lock,
 * no system call, nothing on the request path but an increment. */
#ifndef APF_OBS_H
#define APF_OBS_H

#include <stdint.h>

/* Kinds of database error (label `kind` of apf_db_errors_total). */
enum obs_db_err {
	OBS_DB_LOST,          /* connection lost or server gone (2006, 2013, ...) */
	OBS_DB_NOT_READY,     /* a Galera node outside the primary component (1047) */
	OBS_DB_LOCK,          /* deadlock or lock-wait timeout (1213, 1205) */
	OBS_DB_CONNECT,       /* a connection attempt failed */
	OBS_DB_OTHER,         /* anything else that is not a duplicate key */
	OBS_DB__COUNT
};

struct obs_counters {
	uint64_t db_errors[OBS_DB__COUNT];
	uint64_t db_connects;   /* connections made */
	uint64_t db_reconnects; /* connections made by a connection object that had one before */
};

extern struct obs_counters *obs_counters;

/* Name of kind ("lost", "not_ready", "lock_conflict", "connect", "other"). */
const char *obs_db_err_name(enum obs_db_err kind);

static inline void obs_add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static inline uint64_t obs_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static inline void obs_db_error(enum obs_db_err kind)
{
	obs_add(&obs_counters->db_errors[kind], 1);
}

#endif
