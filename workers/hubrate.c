/* hubrate.c - token bucket per hub id (see hubrate.h). */
#include "hubrate.h"

#include <string.h>

void hubrate_init(struct hubrate *t, double rate, double burst, int64_t report_ms)
{
	memset(t, 0, sizeof *t);
	t->rate = rate;
	t->burst = burst < 1 ? 1 : burst;
	t->report_ms = report_ms;
}

static uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static struct hubrate_slot *find(struct hubrate *t, const char *id, size_t len, int64_t now_ms)
{
	uint32_t h = fnv1a(id, len);
	struct hubrate_slot *oldest = NULL;
	for (unsigned i = 0; i < HUBRATE_PROBES; i++) {
		struct hubrate_slot *s = &t->slot[(h + i) % HUBRATE_SLOTS];
		if (!s->id[0] || (strncmp(s->id, id, len) == 0 && s->id[len] == '\0')) {
			if (!s->id[0])
				oldest = s;
			else
				return s;
			break;
		}
		if (!oldest || s->last_ms < oldest->last_ms)
			oldest = s;
	}
	memset(oldest, 0, sizeof *oldest);
	memcpy(oldest->id, id, len);
	oldest->tokens = t->burst;
	oldest->last_ms = now_ms;
	return oldest;
}

int hubrate_take(struct hubrate *t, const char *id, size_t len, int64_t now_ms,
		 uint64_t *report)
{
	*report = 0;
	if (t->rate <= 0 || len == 0 || len > HUBRATE_ID_MAX)
		return 1;
	struct hubrate_slot *s = find(t, id, len, now_ms);
	if (now_ms > s->last_ms) {
		s->tokens += t->rate * (double)(now_ms - s->last_ms) / 1000.0;
		if (s->tokens > t->burst)
			s->tokens = t->burst;
		s->last_ms = now_ms;
	}
	if (s->tokens >= 1) {
		s->tokens -= 1;
		return 1;
	}
	s->dropped++;
	if (!s->reported_ms || now_ms - s->reported_ms >= t->report_ms) {
		*report = s->dropped;
		s->dropped = 0;
		s->reported_ms = now_ms;
	}
	return 0;
}

const char *hubrate_topic_hub(const char *topic, size_t *len)
{
	static const char prefix[] = "apf/v1/";
	if (strncmp(topic, prefix, sizeof prefix - 1) != 0)
		return NULL;
	const char *hub = topic + sizeof prefix - 1;
	const char *end = strchr(hub, '/');
	if (!end || end == hub)
		return NULL;
	*len = (size_t)(end - hub);
	return hub;
}
