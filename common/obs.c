#include "obs.h"

static struct obs_counters own;
struct obs_counters *obs_counters = &own;

const char *obs_db_err_name(enum obs_db_err kind)
{
	static const char *const names[OBS_DB__COUNT] = { "lost", "not_ready", "lock_conflict",
							   "connect", "other" };
	return (unsigned)kind < OBS_DB__COUNT ? names[kind] : "other";
}
