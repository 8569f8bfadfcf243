/* hubrate.h - a message budget per hub for the backend's MQTT link: a token bucket per hub id
 * (rate messages per second, burst messages at once), so that one hub flooding the broker
 * cannot take the worker's time from every other hub. What is over the budget is dropped
 * before it is parsed; drops are reported at most once per interval per hub.
 *
 * Pure code (no I/O, the caller passes the clock); a fixed table: HUBRATE_SLOTS hubs are
 * tracked at once, and a hub that finds no free slot among its probes takes the one seen least
 * recently (it starts with a full bucket: a flood still spends that one burst only). */
#ifndef APF_HUBRATE_H
#define APF_HUBRATE_H

#include <stddef.h>
#include <stdint.h>

#define HUBRATE_SLOTS 4096
#define HUBRATE_PROBES 8
#define HUBRATE_ID_MAX 64

struct hubrate_slot {
	char id[HUBRATE_ID_MAX + 1];
	double tokens;
	int64_t last_ms;       /* last refill */
	int64_t reported_ms;   /* last drop report, 0 = none yet */
	uint64_t dropped;      /* since the last report */
};

struct hubrate {
	double rate, burst;    /* rate <= 0: no limit */
	int64_t report_ms;     /* interval between drop reports of one hub */
	struct hubrate_slot slot[HUBRATE_SLOTS];
};

void hubrate_init(struct hubrate *t, double rate, double burst, int64_t report_ms);

/* Spends one message of hub id (len bytes, not NUL-terminated) at now_ms: 1 = take it, 0 =
 * drop it. *report is set to the drops to report now (0 = nothing to say). */
int hubrate_take(struct hubrate *t, const char *id, size_t len, int64_t now_ms,
		 uint64_t *report);

/* The hub id of a topic "apf/v1/<hub>/<kind>": pointer into topic and its length, or NULL. */
const char *hubrate_topic_hub(const char *topic, size_t *len);

#endif
