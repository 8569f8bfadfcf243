/* hublink.c - glue of the hub link: mqtt.c's hooks into ingest.c, hubcmds.c's publishing onto
 * mqtt.c, and the periodic work (see hublink.h). */
#include "hublink.h"

#include "hubcmd.h"
#include "hubcmds.h"
#include "ingest.h"
#include "lease.h"
#include "log.h"
#include "mqtt.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

/* hub_events purge every 10 minutes of ticks (tick ~250 ms) */
#define PURGE_TICKS 2400

struct hublink {
	struct mqtt_link *mq;
	struct hubctx ctx;
	unsigned ticks;
	int64_t lease_until_ms; /* util_mono_ms() from which the link must stop (0: never held) */
	long long token;        /* the lease token the link runs under */
	char holder[128];       /* the lease holder name ("" when not set: nothing recorded) */
	char prefer[300];       /* broker the next connect starts at ("" = as mqtt.c goes) */
};

static void hl_connected(void *ud)
{
	struct hublink *hl = ud;
	hl->ctx.pump_due = true; /* rows that waited while the link was down */
	/* the lease row names this broker: the next holder starts here, where the persistent
	 * session and the messages the broker queued in it are (docs/scale-out.md) */
	char b[300];
	mqtt_broker(hl->mq, b, sizeof b);
	if (hl->holder[0] && b[0] && !hl->ctx.db_down) {
		enum api_err err = lease_set_broker(hl->ctx.db, HUBCMD_LEASE, hl->holder, hl->token, b);
		if (err)
			log_warn("hub link: cannot record broker %s in the lease (%s)", b,
				 err_code(err));
	}
}

static void hl_message(void *ud, const char *topic, const void *payload, size_t len,
		       bool retained)
{
	struct hublink *hl = ud;
	ingest_message(&hl->ctx, topic, payload, len, retained);
}

static void hl_lost(void *ud)
{
	(void)ud; /* the loop sees the descriptor gone and schedules the reconnect */
}

static const struct mqtt_hooks hooks = { hl_connected, hl_message, hl_lost };

static int hl_publish(void *ud, const char *topic, const char *payload, size_t len, int qos)
{
	struct hublink *hl = ud;
	if (util_mono_ms() >= hl->lease_until_ms)
		return -1; /* the lease lapsed during this call: publish nothing more */
	return mqtt_publish(hl->mq, topic, payload, len, qos, false);
}

static bool hl_link_up(void *ud)
{
	struct hublink *hl = ud;
	return mqtt_is_up(hl->mq);
}

struct hublink *hublink_new(struct db *db, const char *worker_id)
{
	struct hublink *hl = calloc(1, sizeof *hl);
	if (!hl)
		return NULL;
	hl->ctx.db = db;
	hl->ctx.worker_id = worker_id;
	hl->ctx.publish = hl_publish;
	hl->ctx.link_up = hl_link_up;
	hl->ctx.ud = hl;
	hl->ctx.in = ingest_new();
	ingest_check_rules(); /* logs event rules whose state rule is missing */
	hl->mq = hl->ctx.in ? mqtt_new(&hooks, hl) : NULL;
	if (!hl->mq) {
		ingest_free(hl->ctx.in);
		free(hl);
		return NULL;
	}
	return hl;
}

void hublink_free(struct hublink *hl)
{
	if (!hl)
		return;
	bool held = util_mono_ms() < hl->lease_until_ms;
	if (!hl->ctx.db_down && held)
		ingest_flush(&hl->ctx);
	if (ingest_buffered(hl->ctx.in) || ingest_backlog(hl->ctx.in))
		log_warn("hub link closed with %zu status rows and %zu messages not written",
			 ingest_buffered(hl->ctx.in), ingest_backlog(hl->ctx.in));
	if (held)
		mqtt_free(hl->mq);
	else
		mqtt_abandon(hl->mq);
	hubcmd_fence(0);
	ingest_free(hl->ctx.in);
	free(hl);
}

void hublink_set_db(struct hublink *hl, struct db *db)
{
	hl->ctx.db = db;
}

void hublink_set_db_down(struct hublink *hl, bool down)
{
	hl->ctx.db_down = down;
}

enum api_err hublink_take_db_err(struct hublink *hl)
{
	enum api_err err = hl->ctx.db_err;
	hl->ctx.db_err = E_OK;
	return err;
}

int hublink_conf_changed(const struct hublink *hl)
{
	return hl->mq && mqtt_conf_changed(hl->mq);
}

void hublink_set_lease(struct hublink *hl, long long token, int64_t until_ms)
{
	hl->lease_until_ms = until_ms;
	hl->token = token;
	hubcmd_fence(token);
}

void hublink_set_holder(struct hublink *hl, const char *holder)
{
	snprintf(hl->holder, sizeof hl->holder, "%s", holder ? holder : "");
}

void hublink_use_broker(struct hublink *hl, const char *broker)
{
	snprintf(hl->prefer, sizeof hl->prefer, "%s", broker ? broker : "");
}

void hublink_suspend(struct hublink *hl)
{
	hl->lease_until_ms = 0;
	mqtt_abandon(hl->mq); /* no DISCONNECT: packets still queued must not go out */
	hl->mq = NULL;
}

void hublink_discard(struct hublink *hl)
{
	struct ingest *in = ingest_new();
	if (!in)
		return;
	if (ingest_buffered(hl->ctx.in) || ingest_backlog(hl->ctx.in))
		log_warn("hub link: %zu status rows and %zu messages received before another worker"
			 " held the link are dropped", ingest_buffered(hl->ctx.in),
			 ingest_backlog(hl->ctx.in));
	ingest_free(hl->ctx.in);
	hl->ctx.in = in;
}

int hublink_connect(struct hublink *hl)
{
	if (util_mono_ms() >= hl->lease_until_ms)
		return -1;
	if (!hl->mq && !(hl->mq = mqtt_new(&hooks, hl)))
		return -1;
	if (hl->prefer[0]) {
		if (mqtt_use_broker(hl->mq, hl->prefer) == 0)
			log_info("hub link: starting at %s, the broker of the lease's last holder",
				 hl->prefer);
		hl->prefer[0] = '\0';
	}
	return mqtt_connect(hl->mq);
}

int hublink_fd(const struct hublink *hl)
{
	return hl && hl->mq ? mqtt_fd(hl->mq) : -1;
}

bool hublink_want_write(const struct hublink *hl)
{
	return hl && mqtt_want_write(hl->mq);
}

bool hublink_is_up(const struct hublink *hl)
{
	return hl && mqtt_is_up(hl->mq);
}

void hublink_pump(struct hublink *hl)
{
	struct hubctx *c = &hl->ctx;
	if (c->db_down || !mqtt_is_up(hl->mq))
		return;
	c->pump_due = false;
	hubcmds_pump(c, NULL);
}

void hublink_io(struct hublink *hl, bool readable, bool writable)
{
	if (!hl->mq)
		return;
	if (readable && mqtt_read(hl->mq) < 0)
		return;
	if (writable && mqtt_write(hl->mq) < 0)
		return;
	if (hl->ctx.pump_due)
		hublink_pump(hl);
}

void hublink_misc(struct hublink *hl)
{
	if (hl->mq)
		mqtt_misc(hl->mq);
}

void hublink_tick(struct hublink *hl)
{
	struct hubctx *c = &hl->ctx;
	if (c->db_down)
		return;
	if (ingest_backlog(c->in) && ingest_replay(c))
		return;
	if (ingest_flush(c))
		return;
	if (++hl->ticks % PURGE_TICKS == 0 && ingest_purge(c))
		return;
	long long pending = 0, expired = 0;
	if (hubcmds_check(c, &pending, &expired))
		return;
	if (expired && hubcmds_sweep(c, NULL))
		return;
	if (pending || c->pump_due)
		hublink_pump(hl);
}
