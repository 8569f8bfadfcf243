/* hubsim_cmd.c - commands from the backend (docs/hub-link.md, "A command, end to end"): envelope
 * checks, duplicate
 * suppression, expiry, the action table, ACKs and the ACK faults, hub-level actions, discovery
 * scans and the command log shown by the control command `log`.
 *
 * The dispatcher does everything generic, driven by the action's row: expiry (EXPIRED), printer
 * lookup (UNKNOWN_PRINTER), the 2 s TTL rule for printer-side actions, parameter checks
 * (INVALID_PARAMS from the row's field table), capability (UNSUPPORTED, §10.5), link
 * (PRINTER_OFFLINE) and busy (PRINTER_BUSY unless the action pre-empts). Handlers only act.
 * Events a handler emits wait until its ACK is out, so the backend always sees the ACK first. */
#include "hubsim.h"

#include "jhelp.h"
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define A_PRINTER     1u /* printer_id required and configured */
#define A_PRINTER_NEW 2u /* printer_id required, may be unknown (printer.configure add) */
#define A_PRINTER_OPT 4u /* printer_id may be null; when given it must be configured */
#define A_PSIDE       8u /* printer-side: 2 s TTL rule, capability, link, busy */
#define A_PREEMPT     16u /* not refused with PRINTER_BUSY (print.stop, §5.4) */

static hs_action_fn act_printer_configure, act_printers_sync, act_status_refresh,
	act_hub_discover, act_hub_config, act_hub_disconnect;

static const char *const heaters[] = { "nozzle", "bed", NULL };
static const char *const ops[] = { "add", "update", "remove", NULL };

static const struct jfield F_NONE[] = { { NULL, 0, 0, 0, 0, { NULL } } };
static const struct jfield F_START[] = {
	{ "job_id", JF_STRING, JF_REQUIRED, 36, 36, { NULL } },
	{ "file", JF_OBJECT, JF_REQUIRED, 0, 0, { NULL } },
	{ "plate", JF_INT, JF_NULLABLE, 1, 1000, { NULL } },
	{ "options", JF_OBJECT, JF_NULLABLE, 0, 0, { NULL } },
	{ "expected", JF_OBJECT, JF_NULLABLE, 0, 0, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};
static const struct jfield F_JOB[] = {
	{ "job_id", JF_STRING, JF_NULLABLE, 0, 64, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};
static const struct jfield F_TEMP[] = {
	{ "heater", JF_ENUM, JF_REQUIRED, 0, 0, { heaters } },
	{ "target_c", JF_NUMBER, JF_REQUIRED, 0, 300, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};
static const struct jfield F_LIGHT[] = {
	{ "on", JF_BOOL, JF_REQUIRED, 0, 0, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};
static const struct jfield F_LOAD[] = {
	{ "tray_id", JF_INT, 0, 0, 254, { NULL } },
	{ "temperature_c", JF_NUMBER, JF_NULLABLE, 0, 300, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};
static const struct jfield F_UNLOAD[] = {
	{ "temperature_c", JF_NUMBER, JF_NULLABLE, 0, 300, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};
static const struct jfield F_CONFIGURE[] = {
	{ "op", JF_ENUM, JF_REQUIRED, 0, 0, { ops } },
	{ "printer", JF_OBJECT, JF_REQUIRED, 0, 0, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};
static const struct jfield F_SYNC[] = {
	{ "printers", JF_ARRAY, JF_REQUIRED, 0, 100000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};
static const struct jfield F_DISCOVER[] = {
	{ "timeout_s", JF_INT, 0, 1, 60, { NULL } },
	{ "methods", JF_ARRAY, JF_NULLABLE, 0, 8, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};
static const struct jfield F_HUBCFG[] = {
	{ "name", JF_STRING, JF_REQUIRED, 0, 100, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } },
};

/* The action catalogue of §5.2: one row per action. */
static const struct hs_action {
	const char *name;
	unsigned flags;
	const struct jfield *fields;
	hs_action_fn *run;
} actions[] = {
	{ "print.start", A_PRINTER | A_PSIDE, F_START, act_print_start },
	{ "print.pause", A_PRINTER | A_PSIDE, F_JOB, act_print_pause },
	{ "print.resume", A_PRINTER | A_PSIDE, F_JOB, act_print_resume },
	{ "print.stop", A_PRINTER | A_PSIDE | A_PREEMPT, F_JOB, act_print_stop },
	{ "bed.clear", A_PRINTER | A_PSIDE, F_NONE, act_bed_clear },
	{ "temperature.set", A_PRINTER | A_PSIDE, F_TEMP, act_temperature_set },
	{ "light.set", A_PRINTER | A_PSIDE, F_LIGHT, act_light_set },
	{ "filament.load", A_PRINTER | A_PSIDE, F_LOAD, act_filament_load },
	{ "filament.unload", A_PRINTER | A_PSIDE, F_UNLOAD, act_filament_unload },
	{ "printer.configure", A_PRINTER_NEW, F_CONFIGURE, act_printer_configure },
	{ "printers.sync", 0, F_SYNC, act_printers_sync },
	{ "status.refresh", A_PRINTER_OPT, F_NONE, act_status_refresh },
	{ "hub.discover", 0, F_DISCOVER, act_hub_discover },
	{ "hub.config", 0, F_HUBCFG, act_hub_config },
	{ "hub.disconnect", 0, F_NONE, act_hub_disconnect },
};

static const struct hs_action *action_find(const char *name)
{
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}

int hs_check(const json_t *obj, const struct jfield *fields, const char *prefix, char *msg,
	     size_t msgsz)
{
	json_t *details = json_object();
	int n = jhelp_check(obj, fields, details);
	size_t used = strlen(msg);
	const char *key;
	json_t *list;
	json_object_foreach(details, key, list) {
		const char *text = json_string_value(json_array_get(list, 0));
		if (used < msgsz)
			used += (size_t)snprintf(msg + used, msgsz - used, "%s%s%s", used ? "; " : "",
						 prefix, text ? text : key);
	}
	json_decref(details);
	return n;
}

/* ------------------------------------------------------------------------------- command log */

#define LOG_RING 1024

static struct log_entry {
	char hub[HS_ID];
	char id[HS_ID];
	json_t *cmd;   /* redacted */
	json_t *acks;  /* every ACK sent, in order */
	int64_t at;
} ring[LOG_RING];
static unsigned ring_next;

static void redact_printer(json_t *pr)
{
	static const char *const secrets[] = { "access_code", "api_key", "password", NULL };
	for (int i = 0; secrets[i]; i++) {
		json_t *v = json_object_get(pr, secrets[i]);
		if (v && !json_is_null(v))
			json_object_set_new(pr, secrets[i], json_string("***"));
	}
}

/* A copy of the command with every secret replaced by "***" (present) - null stays null. */
static json_t *redact(const json_t *cmd)
{
	json_t *c = json_deep_copy(cmd);
	json_t *params = json_object_get(c, "params");
	json_t *file = json_object_get(params, "file");
	json_t *tok = json_object_get(file, "token");
	if (tok && !json_is_null(tok))
		json_object_set_new(file, "token", json_string("***"));
	redact_printer(json_object_get(params, "printer"));
	size_t i;
	json_t *pr;
	json_array_foreach(json_object_get(params, "printers"), i, pr) {
		redact_printer(pr);
	}
	return c;
}

static void log_add(struct hs_hub *h, const char *id, const json_t *cmd)
{
	struct log_entry *e = &ring[ring_next++ % LOG_RING];
	json_decref(e->cmd);
	json_decref(e->acks);
	snprintf(e->hub, sizeof e->hub, "%s", h->id);
	snprintf(e->id, sizeof e->id, "%s", id);
	e->cmd = redact(cmd);
	e->acks = json_array();
	e->at = hs_wall_ms(h);
}

static void log_ack(const struct hs_hub *h, const char *id, const char *ack)
{
	for (unsigned k = 1; k <= LOG_RING && k <= ring_next; k++) {
		struct log_entry *e = &ring[(ring_next - k) % LOG_RING];
		if (e->cmd && strcmp(e->id, id) == 0 && strcmp(e->hub, h->id) == 0) {
			json_t *a = json_loads(ack, 0, NULL);
			if (a)
				json_array_append_new(e->acks, a);
			return;
		}
	}
}

json_t *cmd_log_json(const char *hub, int n)
{
	json_t *list = json_array();
	unsigned have = ring_next < LOG_RING ? ring_next : LOG_RING;
	/* newest n matching entries, oldest first */
	unsigned picked[LOG_RING] = { 0 };
	unsigned np = 0;
	for (unsigned k = 1; k <= have && (int)np < n; k++) {
		unsigned idx = (ring_next - k) % LOG_RING;
		if (!hub || strcmp(ring[idx].hub, hub) == 0)
			picked[np++] = idx;
	}
	while (np > 0) {
		struct log_entry *e = &ring[picked[--np]];
		json_array_append_new(list, json_pack("{s:s, s:I, s:O, s:O}", "hub_id", e->hub,
						      "received_at", (json_int_t)e->at, "command",
						      e->cmd, "acks", e->acks));
	}
	return list;
}

void cmd_log_free(void)
{
	for (unsigned i = 0; i < LOG_RING; i++) {
		json_decref(ring[i].cmd);
		json_decref(ring[i].acks);
		ring[i].cmd = ring[i].acks = NULL;
	}
}

/* ------------------------------------------------------------------------------- duplicates */

static struct hs_seen *seen_find(struct hs_hub *h, const char *id)
{
	int64_t now = hs_real_ms();
	for (unsigned i = 0; i < HS_SEEN_MAX; i++) {
		struct hs_seen *s = &h->seen[i];
		if (s->id[0] && now - s->at <= HS_SEEN_TTL_MS && strcmp(s->id, id) == 0)
			return s;
	}
	return NULL;
}

static struct hs_seen *seen_add(struct hs_hub *h, const char *id)
{
	struct hs_seen *s = &h->seen[h->seen_next++ % HS_SEEN_MAX];
	free(s->ack);
	s->ack = NULL;
	snprintf(s->id, sizeof s->id, "%s", id);
	s->at = hs_real_ms();
	return s;
}

static void seen_set_ack(struct hs_hub *h, const char *id, const char *ack)
{
	for (unsigned i = 0; i < HS_SEEN_MAX; i++)
		if (strcmp(h->seen[i].id, id) == 0) {
			free(h->seen[i].ack);
			h->seen[i].ack = strdup(ack);
			return;
		}
}

/* ------------------------------------------------------------------------------- commands */

enum when { W_NOW, W_LATER, W_NEVER };

/* What each ACK fault does (§11.6). */
static const struct ack_plan {
	enum fault_kind kind;
	enum when exec, ack;
	bool refuse;   /* the ACK says ok:false with the fault's code */
	int copies;    /* ACKs published */
} plans[] = {
	{ FK_NONE, W_NOW, W_NOW, false, 1 },
	{ FK_ACK, W_NOW, W_NOW, false, 1 },
	{ FK_REFUSE, W_NEVER, W_NOW, true, 1 },
	{ FK_TIMEOUT, W_NEVER, W_NEVER, false, 0 },
	{ FK_DELAY, W_LATER, W_LATER, false, 1 },
	{ FK_LATE_ACK, W_NOW, W_LATER, false, 1 },
	{ FK_DUPLICATE_ACK, W_NOW, W_NOW, false, 2 },
	{ FK_EXECUTE_THEN_REFUSE, W_NOW, W_NOW, true, 1 },
};

struct hs_cmd {
	struct hs_hub *hub;
	json_t *msg;
	char id[HS_ID];
	char action[40];
	bool action_known;          /* the envelope had an action string */
	char printer_id[HS_ID];     /* "" = null */
	char env_err[HS_MSG_LEN];   /* envelope problem: INVALID_PARAMS */
	int64_t received_at, received_real, expires_at, ttl_ms;
	struct fault fault;
	const struct ack_plan *plan;
	struct hs_printer *busy;    /* printer marked busy while the command is held */
	/* outcome */
	bool executed;
	enum hs_code code;
	char code_str[HS_CODE_LEN];
	struct hs_act_ctx ctx;
	ev_timer timer;
	struct hs_cmd *next;
};

static void cmd_free(struct hs_cmd *c)
{
	json_decref(c->msg);
	json_decref(c->ctx.result);
	fault_release(&c->fault);
	free(c);
}

static void pending_unlink(struct hs_cmd *c)
{
	for (struct hs_cmd **pp = &c->hub->pending; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->busy) {
		c->busy->delayed--;
		c->busy = NULL;
	}
}

int cmd_pending_count(const struct hs_hub *h)
{
	int n = 0;
	for (const struct hs_cmd *c = h->pending; c; c = c->next)
		n++;
	return n;
}

static bool expired(const struct hs_cmd *c, int64_t margin)
{
	int64_t left = c->hub->clock_unsynced
			       ? c->ttl_ms - (hs_real_ms() - c->received_real)
			       : c->expires_at - hs_wall_ms(c->hub);
	return left < margin;
}

static enum hs_code fail(struct hs_cmd *c, enum hs_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum hs_code fail(struct hs_cmd *c, enum hs_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->ctx.message, sizeof c->ctx.message, fmt, ap);
	va_end(ap);
	return code;
}

static enum hs_code dispatch(struct hs_cmd *c)
{
	struct hs_hub *h = c->hub;
	if (c->env_err[0])
		return fail(c, HC_INVALID_PARAMS, "%s", c->env_err);
	if (expired(c, 0))
		return fail(c, HC_EXPIRED, "command arrived after expires_at");
	const struct hs_action *a = action_find(c->action);
	if (!a)
		return fail(c, HC_UNSUPPORTED, "unknown action %s", c->action);
	struct hs_printer *p = NULL;
	if (a->flags & (A_PRINTER | A_PRINTER_NEW)) {
		if (!c->printer_id[0])
			return fail(c, HC_INVALID_PARAMS, "%s needs a printer_id", a->name);
	}
	if (c->printer_id[0]) {
		for (size_t i = 0; i < h->nprinters && !p; i++)
			if (strcmp(h->printers[i]->id, c->printer_id) == 0)
				p = h->printers[i];
		if (!p && (a->flags & (A_PRINTER | A_PRINTER_OPT)))
			return fail(c, HC_UNKNOWN_PRINTER, "printer %s is not configured on this hub",
				    c->printer_id);
	}
	if ((a->flags & A_PSIDE) && expired(c, 2000))
		return fail(c, HC_EXPIRED, "less than 2 s of the command's TTL left");
	const json_t *params = json_object_get(c->msg, "params");
	c->ctx.message[0] = '\0';
	if (hs_check(params, a->fields, "", c->ctx.message, sizeof c->ctx.message))
		return HC_INVALID_PARAMS;
	if (a->flags & A_PSIDE) {
		char why[HS_MSG_LEN];
		if (!printer_supports(p, a->name, why, sizeof why))
			return fail(c, HC_UNSUPPORTED, "%s", why);
		if (!p->link_up)
			return fail(c, HC_PRINTER_OFFLINE, "the hub has no link to printer %s", p->id);
		if (!(a->flags & A_PREEMPT) && printer_busy(p))
			return fail(c, HC_PRINTER_BUSY, "another command for printer %s is in progress",
				    p->id);
	}
	c->ctx.hub = h;
	c->ctx.printer = p;
	c->ctx.params = params;
	c->ctx.command_id = c->id;
	c->ctx.printer_id = c->printer_id;
	return a->run(&c->ctx);
}

static void execute(struct hs_cmd *c)
{
	c->ctx.result = json_object();
	hs.defer_events++;
	c->code = dispatch(c);
	hs.defer_events--;
	c->executed = true;
	snprintf(c->code_str, sizeof c->code_str, "%s", hs_code_name(c->code));
	if (c->code != HC_OK)
		hs_info("hub %s: %s %s -> %s%s%s", c->hub->id, c->action, c->id, c->code_str,
			c->ctx.message[0] ? ": " : "", c->ctx.message);
	else
		hs_info("hub %s: %s %s%s%s -> OK", c->hub->id, c->action, c->id,
			c->printer_id[0] ? " printer " : "", c->printer_id);
}

static void send_ack(struct hs_cmd *c)
{
	struct hs_hub *h = c->hub;
	bool ok = c->code == HC_OK;
	const char *code = c->code_str;
	const char *message = c->ctx.message[0] ? c->ctx.message : NULL;
	if (c->plan->refuse && (ok || !c->executed)) {
		ok = false;
		code = c->fault.code[0] ? c->fault.code : "PRINTER_REJECTED";
		message = c->fault.message[0] ? c->fault.message : "refused (fault injection)";
		hs_info("hub %s: %s %s refused by fault: %s", h->id, c->action, c->id, code);
	}
	json_t *ack = hub_msg(h, "ack");
	json_object_set_new(ack, "command_id", json_string(c->id));
	json_object_set_new(ack, "action", c->action_known ? json_string(c->action) : json_null());
	json_object_set_new(ack, "printer_id",
			    c->printer_id[0] ? json_string(c->printer_id) : json_null());
	json_object_set_new(ack, "ok", json_boolean(ok));
	json_object_set_new(ack, "code", json_string(ok ? "OK" : code));
	json_object_set_new(ack, "message", message ? json_string(message) : json_null());
	json_object_set_new(ack, "received_at", json_integer(c->received_at));
	json_object_set_new(ack, "ts", json_integer(hs_wall_ms(h)));
	json_object_set_new(ack, "result",
			    ok && c->ctx.result ? json_incref(c->ctx.result) : json_null());
	char *s = json_dumps(ack, JSON_COMPACT);
	json_decref(ack);
	if (!s)
		return;
	seen_set_ack(h, c->id, s);
	for (int i = 0; i < c->plan->copies; i++) {
		if (!h->connected)
			log_warn("hub %s: ACK of %s lost: not connected", h->id, c->id);
		hub_publish_raw(h, "ack", s, 1);
		log_ack(h, c->id, s);
	}
	free(s);
}

/* After the ACK (or its scheduling): events, then a requested disconnect. */
static void finish(struct hs_cmd *c)
{
	hs_events_flush();
	if (c->ctx.disconnect_after && c->executed && c->code == HC_OK && c->hub->connected)
		hub_disconnect(c->hub, "disconnect_command");
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct hs_cmd *c = w->data;
	pending_unlink(c);
	if (!c->executed && c->plan->exec == W_LATER)
		execute(c);
	if (c->plan->ack == W_LATER)
		send_ack(c);
	finish(c);
	cmd_free(c);
}

static void hold(struct hs_cmd *c, int64_t ms)
{
	c->next = c->hub->pending;
	c->hub->pending = c;
	/* the printer is busy while its oldest held command waits; later ones find it busy when
	 * their own turn comes only if that one is still held */
	if (c->plan->exec == W_LATER && c->printer_id[0]) {
		struct hs_printer *p = hs_printer_find(c->printer_id);
		if (p && p->hub == c->hub && p->delayed == 0) {
			c->busy = p;
			p->delayed++;
		}
	}
	ev_timer_init(&c->timer, timer_cb, (double)(ms < 0 ? 0 : ms) / 1000.0, 0.);
	c->timer.data = c;
	ev_timer_start(hs.loop, &c->timer);
}

static const struct ack_plan *plan_of(enum fault_kind k)
{
	for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++)
		if (plans[i].kind == k)
			return &plans[i];
	return &plans[0];
}

/* Envelope fields (§5.1); a problem is kept for an INVALID_PARAMS ACK. */
static void envelope(struct hs_cmd *c)
{
	const json_t *m = c->msg;
	const char *action = json_string_value(json_object_get(m, "action"));
	const json_t *pid = json_object_get(m, "printer_id");
	if (action && strlen(action) < sizeof c->action) {
		snprintf(c->action, sizeof c->action, "%s", action);
		c->action_known = true;
	}
	if (json_is_string(pid) && strlen(json_string_value(pid)) < HS_ID)
		snprintf(c->printer_id, sizeof c->printer_id, "%s", json_string_value(pid));
	c->expires_at = json_integer_value(json_object_get(m, "expires_at"));
	c->ttl_ms = json_integer_value(json_object_get(m, "ttl_ms"));
	const char *bad = NULL;
	if (json_integer_value(json_object_get(m, "v")) != 1 || !json_is_integer(json_object_get(m, "v")))
		bad = "v must be 1";
	else if (strcmp(hs_jstr(m, "type", ""), "command") != 0)
		bad = "type must be \"command\"";
	else if (!c->action_known)
		bad = "action must be a string";
	else if (!pid || !(json_is_null(pid) || (json_is_string(pid) && util_is_uuid(c->printer_id))))
		bad = "printer_id must be a UUID or null";
	else if (!json_is_integer(json_object_get(m, "issued_at")))
		bad = "issued_at must be an integer";
	else if (!json_is_integer(json_object_get(m, "expires_at")))
		bad = "expires_at must be an integer";
	else if (!json_is_integer(json_object_get(m, "ttl_ms")) || c->ttl_ms < 0)
		bad = "ttl_ms must be a non-negative integer";
	else if (!json_is_boolean(json_object_get(m, "expect_ack")))
		bad = "expect_ack must be true or false";
	else if (!json_is_object(json_object_get(m, "params")))
		bad = "params must be an object";
	if (bad)
		snprintf(c->env_err, sizeof c->env_err, "%s", bad);
}

void cmd_receive(struct hs_hub *h, const void *payload, int len)
{
	if (len <= 0 || len > HS_MAX_PAYLOAD) {
		log_warn("hub %s: dropped a command of %d bytes", h->id, len);
		return;
	}
	json_error_t je;
	json_t *msg = json_loadb(payload, (size_t)len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(msg)) {
		log_warn("hub %s: dropped a command that is not a JSON object: %s", h->id,
			 msg ? "not an object" : je.text);
		json_decref(msg);
		return;
	}
	if (hub_intruder_seen(h, msg)) {
		json_decref(msg);
		return;
	}
	const char *id = json_string_value(json_object_get(msg, "command_id"));
	const char *hub_id = json_string_value(json_object_get(msg, "hub_id"));
	if (!id || !util_is_uuid(id) || !hub_id || strcmp(hub_id, h->id) != 0) {
		log_warn("hub %s: dropped a command with %s", h->id,
			 !id || !util_is_uuid(id) ? "no valid command_id" : "another hub_id");
		json_decref(msg);
		return;
	}
	if (hs.verbose) {
		json_t *r = redact(msg);
		char *s = json_dumps(r, JSON_COMPACT);
		log_msg(LOG_INFO, "in apf/v1/%s/cmd %s", h->id, s ? s : "?");
		free(s);
		json_decref(r);
	}
	struct hs_seen *seen = seen_find(h, id);
	if (seen) {
		if (seen->ack) {
			hs_info("hub %s: duplicate command %s: same ACK again, not executed", h->id, id);
			hub_publish_raw(h, "ack", seen->ack, 1);
			log_ack(h, id, seen->ack);
		} else {
			hs_info("hub %s: duplicate command %s ignored (no ACK yet)", h->id, id);
		}
		json_decref(msg);
		return;
	}
	seen_add(h, id);
	log_add(h, id, msg);

	struct hs_cmd *c = calloc(1, sizeof *c);
	if (!c) {
		json_decref(msg);
		return;
	}
	c->hub = h;
	c->msg = msg;
	snprintf(c->id, sizeof c->id, "%s", id);
	c->received_at = hs_wall_ms(h);
	c->received_real = hs_real_ms();
	envelope(c);
	fault_match_ack(h->id, c->printer_id, c->action, &c->fault);
	c->plan = plan_of(c->fault.kind);
	if (c->fault.kind != FK_NONE)
		hs_info("hub %s: %s %s: fault %s", h->id, c->action, c->id,
			fault_kind_name(c->fault.kind));

	if (c->plan->exec == W_NOW)
		execute(c);
	if (c->plan->ack == W_NOW)
		send_ack(c);
	if (c->plan->exec == W_LATER || c->plan->ack == W_LATER) {
		int64_t ms = c->fault.ms;
		if (c->fault.kind == FK_LATE_ACK && ms <= 0)
			ms = c->ttl_ms + 1000; /* after the backend's timeout */
		finish(c);
		hold(c, ms);
		return;
	}
	if (c->plan->exec == W_NEVER && c->plan->ack == W_NEVER)
		hs_info("hub %s: %s %s dropped (fault timeout: no ACK, not executed)", h->id,
			c->action, c->id);
	finish(c);
	cmd_free(c);
}

void cmd_printer_gone(struct hs_printer *p)
{
	for (struct hs_cmd *c = p->hub->pending; c; c = c->next)
		if (c->busy == p) {
			c->busy = NULL;
			p->delayed--;
		}
}

void cmd_hub_release(struct hs_hub *h)
{
	while (h->pending) {
		struct hs_cmd *c = h->pending;
		ev_timer_stop(hs.loop, &c->timer);
		pending_unlink(c);
		cmd_free(c);
	}
	for (unsigned i = 0; i < HS_SEEN_MAX; i++) {
		free(h->seen[i].ack);
		h->seen[i].ack = NULL;
	}
}

/* ------------------------------------------------------------------------------- hub actions */

static struct hs_printer *hub_printer(struct hs_hub *h, const char *id, size_t *index)
{
	for (size_t i = 0; i < h->nprinters; i++)
		if (strcmp(h->printers[i]->id, id) == 0) {
			if (index)
				*index = i;
			return h->printers[i];
		}
	return NULL;
}

static int hub_printer_append(struct hs_hub *h, struct hs_printer *p)
{
	struct hs_printer **n = realloc(h->printers, (h->nprinters + 1) * sizeof *n);
	if (!n)
		return -1;
	h->printers = n;
	h->printers[h->nprinters++] = p;
	return 0;
}

static void hub_printer_remove(struct hs_hub *h, size_t i)
{
	struct hs_printer *p = h->printers[i];
	memmove(&h->printers[i], &h->printers[i + 1], (h->nprinters - i - 1) * sizeof *h->printers);
	h->nprinters--;
	hs_info("hub %s: printer %s forgotten", h->id, p->id);
	cmd_printer_gone(p);
	printer_free(p);
}

static enum hs_code add_printer(struct hs_act_ctx *c, const json_t *cfg)
{
	struct hs_printer *p = printer_new(c->hub, cfg);
	if (!p || hub_printer_append(c->hub, p) < 0) {
		printer_free(p);
		snprintf(c->message, sizeof c->message, "out of memory");
		return HC_INTERNAL;
	}
	hs_info("hub %s: printer %s added (%s %s)", c->hub->id, p->id, hs_kind_names[p->kind],
		p->model);
	printer_connected_event(p);
	printer_touch(p);
	return HC_OK;
}

static enum hs_code act_printer_configure(struct hs_act_ctx *c)
{
	const char *op = hs_jstr(c->params, "op", "");
	const json_t *cfg = json_object_get(c->params, "printer");
	const char *pid = hs_jstr(cfg, "printer_id", "");
	if (strcmp(pid, c->printer_id) != 0) {
		snprintf(c->message, sizeof c->message, "printer.printer_id must equal printer_id");
		return HC_INVALID_PARAMS;
	}
	size_t idx = 0;
	struct hs_printer *p = hub_printer(c->hub, pid, &idx);
	if (strcmp(op, "remove") == 0) {
		if (!p) {
			snprintf(c->message, sizeof c->message, "printer %s is not configured", pid);
			return HC_UNKNOWN_PRINTER;
		}
		hub_printer_remove(c->hub, idx);
		json_object_set_new(c->result, "removed", json_true());
		return HC_OK;
	}
	int bad = printer_check_cfg(cfg, c->message, sizeof c->message);
	if (bad < 0)
		return bad == -2 ? HC_UNSUPPORTED : HC_INVALID_PARAMS;
	if (!p && strcmp(op, "update") == 0) {
		snprintf(c->message, sizeof c->message, "printer %s is not configured", pid);
		return HC_UNKNOWN_PRINTER;
	}
	if (p) {
		printer_apply_cfg(p, cfg);
		printer_touch(p);
		hs_info("hub %s: printer %s updated", c->hub->id, p->id);
	} else {
		if ((int)c->hub->nprinters >= c->hub->max_printers) {
			snprintf(c->message, sizeof c->message, "this hub takes at most %d printers",
				 c->hub->max_printers);
			return HC_CAPACITY;
		}
		enum hs_code rc = add_printer(c, cfg);
		if (rc != HC_OK)
			return rc;
		p = hub_printer(c->hub, pid, NULL);
	}
	json_object_set_new(c->result, "state", json_string(printer_state(p)));
	json_object_set_new(c->result, "connected", json_boolean(p->link_up));
	return HC_OK;
}

static bool listed(const json_t *list, const char *id)
{
	size_t i;
	const json_t *cfg;
	json_array_foreach(list, i, cfg) {
		if (strcmp(hs_jstr(cfg, "printer_id", ""), id) == 0)
			return true;
	}
	return false;
}

/* printers.sync replaces the whole list (§5.2): checked first, then applied. A printer of a
 * kind this hub has no adapter for is left out (and named in the result), not fatal. */
static enum hs_code act_printers_sync(struct hs_act_ctx *c)
{
	const json_t *all = json_object_get(c->params, "printers");
	json_t *list = json_array(), *skipped = json_array();
	enum hs_code rc = HC_OK;
	size_t i;
	const json_t *cfg;
	json_array_foreach(all, i, cfg) {
		size_t used = (size_t)snprintf(c->message, sizeof c->message, "printers[%zu]: ", i);
		int bad = printer_check_cfg(cfg, c->message + used, sizeof c->message - used);
		const char *id = hs_jstr(cfg, "printer_id", "");
		if (bad == -1) {
			rc = HC_INVALID_PARAMS;
			goto out;
		}
		if (bad == -2) {
			log_warn("hub %s: %s", c->hub->id, c->message);
			json_array_append_new(skipped, json_string(id));
			continue;
		}
		if (listed(list, id)) {
			snprintf(c->message, sizeof c->message, "printer %s listed twice", id);
			rc = HC_INVALID_PARAMS;
			goto out;
		}
		json_array_append(list, (json_t *)cfg);
	}
	c->message[0] = '\0';
	if ((int)json_array_size(list) > c->hub->max_printers) {
		snprintf(c->message, sizeof c->message, "this hub takes at most %d printers",
			 c->hub->max_printers);
		rc = HC_CAPACITY;
		goto out;
	}
	for (size_t k = c->hub->nprinters; k-- > 0;) /* absent: disconnected and forgotten */
		if (!listed(list, c->hub->printers[k]->id))
			hub_printer_remove(c->hub, k);
	json_array_foreach(list, i, cfg) {
		struct hs_printer *p = hub_printer(c->hub, hs_jstr(cfg, "printer_id", ""), NULL);
		if (p) {
			printer_apply_cfg(p, cfg);
			printer_touch(p);
		} else if ((rc = add_printer(c, cfg)) != HC_OK) {
			goto out;
		}
	}
	hs_info("hub %s: printers.sync: %zu printer(s)", c->hub->id, json_array_size(list));
	json_object_set_new(c->result, "printers", json_integer((json_int_t)json_array_size(list)));
	json_object_set(c->result, "skipped", skipped);
out:
	json_decref(list);
	json_decref(skipped);
	return rc;
}

static enum hs_code act_status_refresh(struct hs_act_ctx *c)
{
	for (size_t i = 0; i < c->hub->nprinters; i++) {
		struct hs_printer *p = c->hub->printers[i];
		if (c->printer && p != c->printer)
			continue;
		p->last_status_real = 0; /* not throttled: the backend asked */
		printer_touch(p);
	}
	return HC_OK;
}

static enum hs_code act_hub_config(struct hs_act_ctx *c)
{
	snprintf(c->hub->name, sizeof c->hub->name, "%s", hs_jstr(c->params, "name", ""));
	json_object_set_new(c->result, "name", json_string(c->hub->name));
	return HC_OK;
}

static enum hs_code act_hub_disconnect(struct hs_act_ctx *c)
{
	c->disconnect_after = true;
	return HC_OK;
}

/* ------------------------------------------------------------------------------- discovery */

static const struct method {
	const char *name;
	enum hs_kind kinds[2]; /* kinds found by this method; HK__COUNT = none */
} methods[] = {
	{ "bambu_ssdp", { HK_BAMBU, HK__COUNT } },
	{ "mdns", { HK_MOONRAKER, HK_OCTOPRINT } },
	{ "http_probe", { HK_PRUSALINK, HK__COUNT } },
};
#define NMETHODS (sizeof methods / sizeof methods[0])

static const char *method_of(enum hs_kind k)
{
	for (size_t i = 0; i < NMETHODS; i++)
		for (int j = 0; j < 2; j++)
			if (methods[i].kinds[j] == k)
				return methods[i].name;
	return "mdns";
}

/* The fake LAN every hub sees (deterministic per hub id), besides its configured printers. */
static const struct fake_lan {
	enum hs_kind kind;
	const char *name, *model, *serial_prefix, *firmware;
	int port;
} fake_lan[] = {
	{ HK_BAMBU, "Farm-P1S-", "C12", "01P00A", "01.07.00.00", 8883 },
	{ HK_BAMBU, "Farm-X1C-", "BL-P001", "00M09A", "01.08.02.00", 8883 },
	{ HK_MOONRAKER, "voron-", "Voron 2.4", NULL, "v0.9.3", 7125 },
	{ HK_OCTOPRINT, "octopi-", NULL, NULL, "1.10.2", 80 },
	{ HK_PRUSALINK, "prusa-mk4-", "MK4", NULL, "6.1.3", 80 },
};

static enum hs_code act_hub_discover(struct hs_act_ctx *c)
{
	const json_t *jm = json_object_get(c->params, "methods");
	unsigned mask = 0;
	size_t i;
	const json_t *v;
	json_array_foreach(jm, i, v) {
		const char *name = json_string_value(v) ? json_string_value(v) : "";
		size_t k = 0;
		while (k < NMETHODS && strcmp(methods[k].name, name) != 0)
			k++;
		if (k == NMETHODS) {
			snprintf(c->message, sizeof c->message,
				 "methods must list bambu_ssdp, mdns or http_probe");
			return HC_INVALID_PARAMS;
		}
		mask |= 1u << k;
	}
	if (!json_is_array(jm) || json_array_size(jm) == 0)
		mask = (1u << NMETHODS) - 1;
	json_int_t timeout = json_integer_value(json_object_get(c->params, "timeout_s"));
	if (timeout <= 0)
		timeout = 10;
	struct hs_scan *s = &c->hub->scan;
	if (s->active)
		hs_info("hub %s: scan %s abandoned for a new one", c->hub->id, s->scan_id);
	s->active = true;
	snprintf(s->command_id, sizeof s->command_id, "%s", c->command_id);
	util_uuid(s->scan_id);
	s->started_at = hs_wall_ms(c->hub);
	s->end_sim = hs.sim_ms + timeout * 1000;
	s->methods = mask;
	json_object_set_new(c->result, "scan_id", json_string(s->scan_id));
	json_object_set_new(c->result, "timeout_s", json_integer(timeout));
	return HC_OK;
}

static unsigned kind_mask(enum hs_kind k)
{
	unsigned m = 0;
	for (size_t i = 0; i < NMETHODS; i++)
		for (int j = 0; j < 2; j++)
			m |= (methods[i].kinds[j] == k) ? 1u << i : 0;
	return m;
}

static json_t *default_lan(struct hs_hub *h, unsigned mask)
{
	unsigned x = 2166136261u;
	for (const char *s = h->id; *s; s++)
		x = (x ^ (unsigned char)*s) * 16777619u;
	json_t *list = json_array();
	for (size_t i = 0; i < sizeof fake_lan / sizeof fake_lan[0]; i++) {
		const struct fake_lan *f = &fake_lan[i];
		if (!(kind_mask(f->kind) & mask))
			continue;
		char name[40], ip[20], serial[24];
		snprintf(name, sizeof name, "%s%02u", f->name, (x >> 3) % 90 + (unsigned)i + 1);
		snprintf(ip, sizeof ip, "192.168.%u.%u", x % 250 + 1, 40 + (unsigned)i);
		snprintf(serial, sizeof serial, "%s%09u", f->serial_prefix ? f->serial_prefix : "",
			 (x / 7 + (unsigned)i * 7919) % 1000000000u);
		json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:o, s:s, s:i, s:s, s:s, s:n}",
			"kind", hs_kind_names[f->kind], "name", name,
			"model", f->model ? json_string(f->model) : json_null(),
			"serial_number", f->serial_prefix ? json_string(serial) : json_null(),
			"ip", ip, "port", f->port, "firmware_version", f->firmware,
			"method", method_of(f->kind), "configured_printer_id"));
	}
	for (size_t i = 0; i < h->nprinters; i++)
		if (kind_mask(h->printers[i]->kind) & mask)
			json_array_append_new(list, printer_discovery_json(h->printers[i]));
	return list;
}

/* Fills every schema field of an override entry (unknown -> null). */
static json_t *override_entry(const json_t *e)
{
	static const char *const fields[] = { "kind", "name", "model", "serial_number", "ip", "port",
					      "firmware_version", "method", "configured_printer_id",
					      NULL };
	json_t *o = json_object();
	for (int i = 0; fields[i]; i++) {
		json_t *v = json_object_get(e, fields[i]);
		json_object_set_new(o, fields[i], v ? json_incref(v) : json_null());
	}
	return o;
}

void scan_check(struct hs_hub *h)
{
	struct hs_scan *s = &h->scan;
	if (!s->active || hs.sim_ms < s->end_sim)
		return;
	s->active = false;
	json_t *list;
	if (h->discovery_override) {
		list = json_array();
		size_t i;
		json_t *e;
		json_array_foreach(h->discovery_override, i, e) {
			json_array_append_new(list, override_entry(e));
		}
	} else {
		list = default_lan(h, s->methods);
	}
	if (h->discovery_partial) {
		size_t keep = json_array_size(list) / 2;
		while (json_array_size(list) > keep)
			json_array_remove(list, json_array_size(list) - 1);
	}
	json_t *m = hub_msg(h, "discovery");
	json_object_set_new(m, "command_id", json_string(s->command_id));
	json_object_set_new(m, "scan_id", json_string(s->scan_id));
	json_object_set_new(m, "started_at", json_integer(s->started_at));
	json_object_set_new(m, "finished_at", json_integer(hs_wall_ms(h)));
	json_object_set_new(m, "complete", json_boolean(!h->discovery_partial));
	hs_info("hub %s: discovery %s: %zu printer(s)%s", h->id, s->scan_id, json_array_size(list),
		h->discovery_partial ? " (partial)" : "");
	json_object_set_new(m, "printers", list);
	hub_publish(h, "discovery", m, 1, false);
}
