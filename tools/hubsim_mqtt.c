/* hubsim_mqtt.c - one MQTT connection per simulated hub, driven by the libev loop
 * (docs/hub-link.md, "Processes", "The simulator").
 *
 * libmosquitto runs without its own thread: hub_io_sync() (called before every poll) watches
 * mosquitto_socket() for reading, and for writing while mosquitto_want_write(); the watcher calls
 * mosquitto_loop_read / _write, and a 1 s timer calls mosquitto_loop_misc for keep-alive pings.
 * Every (re)connect gets a new session_id and registers the retained offline presence carrying it
 * as the last will. A lost connection is retried with exponential back-off 1 s -> 60 s, ±20 %
 * jitter, forever; `disconnect` and `kill` stop retrying until `reconnect`.
 *
 * Events (QoS 1) published while the hub is offline wait in an outbox and go out after the next
 * online presence, so terminal job events are not lost (§7). Status and heartbeats are not kept. */
#include "hubsim.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int client_setup(struct hs_hub *h);

static const char *const capabilities[] = { "bambu", "moonraker", "prusalink", "octoprint",
					    "discovery", NULL };

static void topic_of(const char *hub_id, const char *leaf, char *out, size_t outsz)
{
	snprintf(out, outsz, "apf/v1/%s/%s", hub_id, leaf);
}

json_t *hub_msg(const struct hs_hub *h, const char *type)
{
	return json_pack("{s:i, s:s, s:s}", "v", 1, "type", type, "hub_id", h->id);
}

/* Deterministic per-hub LAN identity (never exposed by the API; stored by the backend). */
static unsigned hub_hash(const struct hs_hub *h)
{
	unsigned x = 2166136261u;
	for (const char *s = h->id; *s; s++)
		x = (x ^ (unsigned char)*s) * 16777619u;
	return x;
}

static json_t *presence(const struct hs_hub *h, bool online, const char *reason)
{
	unsigned x = hub_hash(h);
	char mac[18], ip[16];
	snprintf(mac, sizeof mac, "02:%02x:%02x:%02x:%02x:%02x", x & 255, (x >> 8) & 255,
		 (x >> 16) & 255, (x >> 24) & 255, (x >> 4) & 255);
	snprintf(ip, sizeof ip, "192.168.%u.2", x % 250 + 1);
	json_t *caps = json_array();
	for (int i = 0; capabilities[i]; i++)
		json_array_append_new(caps, json_string(capabilities[i]));
	json_t *m = hub_msg(h, "presence");
	json_object_set_new(m, "online", json_boolean(online));
	json_object_set_new(m, "session_id", json_string(h->session_id));
	json_object_set_new(m, "ts", json_integer(h->session_ts));
	json_object_set_new(m, "reason", reason ? json_string(reason) : json_null());
	json_object_set_new(m, "firmware_version", json_string("1.2.0"));
	json_object_set_new(m, "hardware_version", json_string("apf-hubsim"));
	json_object_set_new(m, "protocol_version", json_integer(1));
	json_object_set_new(m, "mac_address", json_string(mac));
	json_object_set_new(m, "lan_ip", json_string(ip));
	json_object_set_new(m, "capabilities", caps);
	json_object_set_new(m, "max_printers", json_integer(h->max_printers));
	return m;
}

/* ------------------------------------------------------------------------------- publish */

static void outbox_push(struct hs_hub *h, const char *leaf, const char *payload)
{
	if (json_array_size(h->outbox) >= HS_OUTBOX_MAX)
		json_array_remove(h->outbox, 0);
	json_array_append_new(h->outbox, json_pack("[s, s]", leaf, payload));
}

/* Events the broker never acknowledged go back to the front of the outbox, oldest first. */
static void inflight_requeue(struct hs_hub *h)
{
	if (!json_object_size(h->inflight))
		return;
	json_t *box = json_array();
	for (int mid = 1; mid <= 65535 && json_object_size(h->inflight); mid++) {
		char key[16];
		snprintf(key, sizeof key, "%d", mid);
		json_t *v = json_object_get(h->inflight, key);
		if (v) {
			json_array_append(box, v);
			json_object_del(h->inflight, key);
		}
	}
	json_array_extend(box, h->outbox);
	json_decref(h->outbox);
	h->outbox = box;
}

static void outbox_flush(struct hs_hub *h)
{
	json_t *box = h->outbox;
	h->outbox = json_array();
	size_t i;
	json_t *v;
	if (json_array_size(box))
		hs_info("hub %s: sending %zu event(s) kept while offline", h->id, json_array_size(box));
	json_array_foreach(box, i, v) {
		hub_publish_raw(h, json_string_value(json_array_get(v, 0)),
				json_string_value(json_array_get(v, 1)), 1);
	}
	json_decref(box);
}

void hub_publish_raw(struct hs_hub *h, const char *leaf, const char *payload, int qos)
{
	char topic[128];
	topic_of(h->id, leaf, topic, sizeof topic);
	bool keep = qos > 0 && (strcmp(leaf, "event") == 0 || strcmp(leaf, "discovery") == 0);
	if (!h->connected) {
		if (keep)
			outbox_push(h, leaf, payload);
		return;
	}
	int mid = 0;
	int rc = mosquitto_publish(h->m, &mid, topic, (int)strlen(payload), payload, qos, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_warn("hub %s: publish %s failed: %s", h->id, leaf, mosquitto_strerror(rc));
		if (keep)
			outbox_push(h, leaf, payload);
		return;
	}
	if (keep) { /* kept until the broker's PUBACK: a lost connection puts it back in the outbox */
		char key[16];
		snprintf(key, sizeof key, "%d", mid);
		json_object_set_new(h->inflight, key, json_pack("[s, s]", leaf, payload));
	}
	if (hs.verbose)
		log_msg(LOG_INFO, "out %s %s", topic, payload);
}

void hub_publish(struct hs_hub *h, const char *leaf, json_t *msg, int qos, bool retain)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!s)
		return;
	if (!retain) {
		hub_publish_raw(h, leaf, s, qos);
	} else if (h->connected) {
		char topic[128];
		topic_of(h->id, leaf, topic, sizeof topic);
		int rc = mosquitto_publish(h->m, NULL, topic, (int)strlen(s), s, qos, true);
		if (rc != MOSQ_ERR_SUCCESS)
			log_warn("hub %s: publish %s failed: %s", h->id, leaf, mosquitto_strerror(rc));
		else if (hs.verbose)
			log_msg(LOG_INFO, "out %s (retained) %s", topic, s);
	}
	free(s);
}

/* Events made while a command is being handled wait until its ACK is out (ACK first, §5.3). */
static struct deferred {
	struct hs_hub *h;
	json_t *msg;
} *dq;
static size_t dqn, dqcap;

void hs_events_flush(void)
{
	for (size_t i = 0; i < dqn; i++)
		hub_publish(dq[i].h, "event", dq[i].msg, 1, false);
	dqn = 0;
	if (hs.stopping || dqcap > 64) {
		free(dq);
		dq = NULL;
		dqcap = 0;
	}
}

void hub_event(struct hs_hub *h, const char *event, const struct hs_printer *p,
	       const char *job_id, const char *command_id, json_t *data)
{
	char eid[HS_ID];
	util_uuid(eid);
	json_t *m = hub_msg(h, "event");
	json_object_set_new(m, "event_id", json_string(eid));
	json_object_set_new(m, "event", json_string(event));
	json_object_set_new(m, "printer_id", p ? json_string(p->id) : json_null());
	json_object_set_new(m, "job_id", job_id && *job_id ? json_string(job_id) : json_null());
	json_object_set_new(m, "command_id",
			    command_id && *command_id ? json_string(command_id) : json_null());
	json_object_set_new(m, "ts", json_integer(hs_wall_ms(h)));
	json_object_set_new(m, "data", data ? data : json_object());
	hs_info("hub %s: event %s%s%s%s%s", h->id, event, p ? " printer " : "", p ? p->id : "",
		job_id && *job_id ? " job " : "", job_id && *job_id ? job_id : "");
	/* the hub cannot see a printer whose link is down: it learns on link up (§7) */
	if (p && !p->link_up && strcmp(event, "printer.disconnected") != 0 &&
	    strcmp(event, "job.transfer") != 0) {
		json_array_append_new(((struct hs_printer *)p)->held, m);
		return;
	}
	if (hs.defer_events > 0) {
		if (dqn == dqcap) {
			size_t cap = dqcap ? dqcap * 2 : 8;
			struct deferred *n = realloc(dq, cap * sizeof *n);
			if (!n) {
				hub_publish(h, "event", m, 1, false);
				return;
			}
			dq = n;
			dqcap = cap;
		}
		dq[dqn++] = (struct deferred){ h, m };
		return;
	}
	hub_publish(h, "event", m, 1, false);
}

void hub_heartbeat(struct hs_hub *h)
{
	h->next_hb = hs_hb_now() + hs_hb_every();
	if (!h->connected || h->silent)
		return;
	json_t *list = json_array();
	int pending = cmd_pending_count(h);
	int64_t spool = 0;
	for (size_t i = 0; i < h->nprinters; i++) {
		struct hs_printer *p = h->printers[i];
		json_array_append_new(list, json_pack("{s:s, s:b, s:s}", "printer_id", p->id,
						      "connected", p->link_up, "state",
						      printer_state(p)));
		pending += p->job.dl != NULL || p->stage == ST_UPLOAD || p->stage == ST_START ||
			   p->fil.active;
		spool += p->job.dl_done;
	}
	json_t *m = hub_msg(h, "heartbeat");
	json_object_set_new(m, "session_id", json_string(h->session_id));
	json_object_set_new(m, "seq", json_integer((json_int_t)++h->hb_seq));
	json_object_set_new(m, "ts", json_integer(hs_wall_ms(h)));
	json_object_set_new(m, "uptime_s", json_integer((hs_real_ms() - h->boot_real) / 1000));
	json_object_set_new(m, "clock_synced", json_boolean(!h->clock_unsynced));
	json_object_set_new(m, "firmware_version", json_string("1.2.0"));
	json_object_set_new(m, "printers", list);
	json_object_set_new(m, "pending_commands", json_integer(pending));
	json_object_set_new(m, "free_storage_bytes",
			    json_integer(((json_int_t)8 << 30) - (json_int_t)spool));
	hub_publish(h, "heartbeat", m, 0, false);
}

/* ------------------------------------------------------------------------------- intruder */

enum probe_op { PR_SUB, PR_PUB, PR_CONNECT };

struct probe {
	enum probe_op op;
	char topic[128];
	const char *why;        /* what the broker must prevent */
	int mid;
	int granted;            /* SUBACK: granted QoS or 0x80; -1 = none */
	int reason;             /* MQTT 5 PUBACK reason; -1 = none */
	bool acked;
	int delivered;          /* messages received through this subscription */
	char marker[HS_ID];     /* command_id of a probe published on a cmd topic */
	bool seen;
	struct hs_hub *judge;   /* hub whose cmd subscription would see the marker */
};

struct hs_intruder {
	struct hs_hub *h;
	char victim[HS_ID];
	struct probe p[12];
	int n;
	ev_timer window;
	void (*answer)(void *arg, json_t *report);
	void *arg;
	struct hs_hub *imp;     /* connection as the victim with our password */
	int imp_rc;             /* -1 pending, 0 accepted, > 0 CONNACK refusal, -2 lost */
};

static struct hs_intruder *intruders[64];

static void intruder_finish(struct hs_intruder *in);

static void window_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	intruder_finish(w->data);
}

static void probe_add(struct hs_intruder *in, enum probe_op op, const char *leaf_owner,
		      const char *leaf, const char *why)
{
	struct probe *p = &in->p[in->n++];
	memset(p, 0, sizeof *p);
	p->op = op;
	p->why = why;
	p->granted = p->reason = -1;
	if (leaf)
		topic_of(leaf_owner, leaf, p->topic, sizeof p->topic);
}

static json_t *probe_payload(struct hs_intruder *in, struct probe *p)
{
	util_uuid(p->marker);
	json_t *m = json_pack("{s:i, s:s, s:s, s:s, s:s, s:n, s:I, s:I, s:i, s:b, s:{}}", "v", 1,
			      "type", "command", "hub_id",
			      strstr(p->topic, in->victim) ? in->victim : in->h->id, "command_id",
			      p->marker, "action", "intruder.probe", "printer_id", "issued_at",
			      (json_int_t)hs_wall_ms(in->h), "expires_at",
			      (json_int_t)hs_wall_ms(in->h) + 1000, "ttl_ms", 1000, "expect_ack", 0,
			      "params");
	return m;
}

int hub_intruder(struct hs_hub *h, const char *victim, int window_ms,
		 void (*answer)(void *arg, json_t *report), void *arg, char *err, size_t errsz)
{
	if (!h->connected) {
		snprintf(err, errsz, "hub %s is not connected", h->id);
		return -1;
	}
	if (h->intruder) {
		snprintf(err, errsz, "an intruder run of hub %s is under way", h->id);
		return -1;
	}
	if (!*victim || strlen(victim) >= HS_ID || strpbrk(victim, "/+#") ||
	    strcmp(victim, h->id) == 0) {
		snprintf(err, errsz, "victim must be another hub id");
		return -1;
	}
	int slot = -1;
	for (int i = 0; i < 64 && slot < 0; i++)
		if (!intruders[i])
			slot = i;
	struct hs_intruder *in = slot < 0 ? NULL : calloc(1, sizeof *in);
	if (!in) {
		snprintf(err, errsz, "too many intruder runs");
		return -1;
	}
	intruders[slot] = in;
	in->h = h;
	h->intruder = in;
	snprintf(in->victim, sizeof in->victim, "%s", victim);
	in->answer = answer;
	in->arg = arg;
	in->imp_rc = -1;

	probe_add(in, PR_SUB, victim, "cmd", "read another hub's commands");
	probe_add(in, PR_SUB, victim, "state", "read another hub's retained presence");
	probe_add(in, PR_SUB, victim, "#", "read another hub's whole subtree");
	probe_add(in, PR_SUB, "+", "status", "read every hub's printer status");
	probe_add(in, PR_PUB, victim, "cmd", "send commands to another hub");
	in->p[in->n - 1].judge = hs_hub_find(victim);
	probe_add(in, PR_PUB, h->id, "cmd", "send commands to itself (hubs never publish commands)");
	in->p[in->n - 1].judge = h;
	probe_add(in, PR_PUB, victim, "state", "publish presence as another hub");
	probe_add(in, PR_PUB, victim, "ack", "publish ACKs as another hub");
	probe_add(in, PR_PUB, victim, "event", "publish events as another hub");
	probe_add(in, PR_CONNECT, victim, NULL, "log in as another hub with its own password");

	for (int i = 0; i < in->n; i++) {
		struct probe *p = &in->p[i];
		if (p->op == PR_SUB) {
			mosquitto_subscribe(h->m, &p->mid, p->topic, 1);
		} else if (p->op == PR_PUB) {
			json_t *m = probe_payload(in, p);
			char *s = json_dumps(m, JSON_COMPACT);
			json_decref(m);
			if (s)
				mosquitto_publish(h->m, &p->mid, p->topic, (int)strlen(s), s, 1, false);
			free(s);
		} else {
			struct hs_hub *imp = calloc(1, sizeof *imp);
			if (imp) {
				snprintf(imp->id, sizeof imp->id, "%s", victim);
				imp->password = strdup(h->password);
				imp->is_probe = true;
				imp->probe_owner = in;
				if (!imp->password || hub_init(imp) < 0) {
					free(imp->password);
					free(imp);
					imp = NULL;
				}
			}
			in->imp = imp;
			if (imp)
				hub_connect_now(imp);
		}
	}
	hs_info("hub %s: intruder probes against %s (%d ms)", h->id, victim, window_ms);
	ev_timer_init(&in->window, window_cb, window_ms / 1000.0, 0.);
	in->window.data = in;
	ev_timer_start(hs.loop, &in->window);
	return 0;
}

static json_t *verdict(bool known, bool refused)
{
	return known ? json_boolean(refused) : json_null();
}

static json_t *probe_json(const struct hs_intruder *in, const struct probe *p, int *breaches,
			  int *unknown)
{
	json_t *o = json_object();
	bool known = true, refused = true;
	char how[200];
	if (p->op == PR_SUB) {
		json_object_set_new(o, "probe", json_string("subscribe"));
		json_object_set_new(o, "granted_qos",
				    p->granted < 0 ? json_null() : json_integer(p->granted));
		json_object_set_new(o, "delivered", json_integer(p->delivered));
		refused = p->granted == 0x80 || p->granted >= 0x80 || p->delivered == 0;
		snprintf(how, sizeof how, "%s",
			 p->granted >= 0x80 ? "SUBACK refused the subscription"
			 : p->delivered	    ? "messages were delivered"
					    : "subscribed, but nothing was delivered (the ACL filters "
					      "on delivery)");
	} else if (p->op == PR_PUB) {
		json_object_set_new(o, "probe", json_string("publish"));
		json_object_set_new(o, "puback_reason",
				    p->reason < 0 ? json_null() : json_integer(p->reason));
		if (p->reason >= 0) {
			refused = p->reason >= 0x80;
			snprintf(how, sizeof how, "MQTT 5 PUBACK reason %d", p->reason);
		} else if (p->judge && p->judge->connected) {
			refused = !p->seen;
			snprintf(how, sizeof how, "hub %s %s the message on its cmd subscription",
				 p->judge->id, p->seen ? "received" : "did not receive");
		} else {
			known = false;
			snprintf(how, sizeof how, "not observable with MQTT 3.1.1 (run with --mqtt-v5)");
		}
	} else {
		json_object_set_new(o, "probe", json_string("connect"));
		json_object_set_new(o, "connack",
				    in->imp_rc < 0 ? json_null() : json_integer(in->imp_rc));
		known = in->imp_rc >= 0;
		refused = in->imp_rc != 0;
		snprintf(how, sizeof how, "%s",
			 in->imp_rc == 0  ? "CONNACK accepted"
			 : in->imp_rc > 0 ? "CONNACK refused"
					  : "no CONNACK before the window closed");
	}
	json_object_set_new(o, "topic", p->topic[0] ? json_string(p->topic) : json_null());
	json_object_set_new(o, "must_be_refused", json_string(p->why));
	json_object_set_new(o, "refused", verdict(known, refused));
	json_object_set_new(o, "evidence", json_string(how));
	*breaches += known && !refused;
	*unknown += !known;
	return o;
}

static void imp_release(struct hs_intruder *in)
{
	struct hs_hub *imp = in->imp;
	if (!imp)
		return;
	in->imp = NULL;
	hub_free(imp);
}

static void intruder_finish(struct hs_intruder *in)
{
	struct hs_hub *h = in->h;
	ev_timer_stop(hs.loop, &in->window);
	int breaches = 0, unknown = 0;
	json_t *probes = json_array();
	for (int i = 0; i < in->n; i++) {
		json_array_append_new(probes, probe_json(in, &in->p[i], &breaches, &unknown));
		if (in->p[i].op == PR_SUB && h->connected)
			mosquitto_unsubscribe(h->m, NULL, in->p[i].topic);
	}
	imp_release(in);
	json_t *rep = json_pack("{s:b, s:s, s:s, s:s, s:o, s:i, s:i, s:o}", "ok", 1, "hub_id", h->id,
				"victim", in->victim, "mqtt", hs.mqtt_v5 ? "5" : "3.1.1",
				"all_refused", breaches ? json_false() : unknown ? json_null() : json_true(),
				"breaches", breaches, "unobserved", unknown, "probes", probes);
	if (breaches)
		log_warn("hub %s: intruder: the broker allowed %d of %d probes against %s", h->id,
			 breaches, in->n, in->victim);
	else
		hs_info("hub %s: intruder: every observable probe against %s was refused (%d unobserved)",
			h->id, in->victim, unknown);
	h->intruder = NULL;
	for (int i = 0; i < 64; i++)
		if (intruders[i] == in)
			intruders[i] = NULL;
	if (in->answer) {
		in->answer(in->arg, rep);
	} else {
		char *s = json_dumps(rep, JSON_COMPACT);
		hs_info("intruder report: %s", s ? s : "?");
		free(s);
		json_decref(rep);
	}
	free(in);
}

void hub_intruder_cancel_arg(void *arg)
{
	for (int i = 0; i < 64; i++)
		if (intruders[i] && intruders[i]->arg == arg)
			intruders[i]->answer = NULL;
}

bool hub_intruder_seen(struct hs_hub *receiver, const json_t *cmd)
{
	const char *id = json_string_value(json_object_get(cmd, "command_id"));
	if (!id || strcmp(hs_jstr(cmd, "action", ""), "intruder.probe") != 0)
		return false;
	for (int i = 0; i < 64; i++) {
		struct hs_intruder *in = intruders[i];
		for (int k = 0; in && k < in->n; k++)
			if (strcmp(in->p[k].marker, id) == 0) {
				in->p[k].seen = true;
				log_warn("hub %s received intruder probe %s on its cmd topic", receiver->id,
					 in->p[k].topic);
			}
	}
	return true;
}

static void intruder_on_sub(struct hs_hub *h, int mid, int granted)
{
	for (int k = 0; h->intruder && k < h->intruder->n; k++)
		if (h->intruder->p[k].op == PR_SUB && h->intruder->p[k].mid == mid)
			h->intruder->p[k].granted = granted;
}

static void intruder_on_pub(struct hs_hub *h, int mid, int reason)
{
	for (int k = 0; h->intruder && k < h->intruder->n; k++)
		if (h->intruder->p[k].op == PR_PUB && h->intruder->p[k].mid == mid) {
			h->intruder->p[k].acked = true;
			if (hs.mqtt_v5)
				h->intruder->p[k].reason = reason;
		}
}

static void intruder_on_message(struct hs_hub *h, const char *topic)
{
	bool match = false;
	for (int k = 0; h->intruder && k < h->intruder->n; k++) {
		struct probe *p = &h->intruder->p[k];
		bool m = false;
		if (p->op == PR_SUB && mosquitto_topic_matches_sub(p->topic, topic, &m) == 0 && m) {
			p->delivered++;
			match = true;
		}
	}
	if (match)
		log_warn("hub %s: intruder subscription delivered %s", h->id, topic);
}

/* ------------------------------------------------------------------------------- connection */

static void schedule_retry(struct hs_hub *h)
{
	if (!h->want_up || hs.stopping || h->is_probe)
		return;
	double delay = 0;
	if (!h->reconnect_now) {
		double base = 1.0;
		for (int i = 0; i < h->attempts && base < 60; i++)
			base *= 2;
		if (base > 60)
			base = 60;
		delay = base * (0.8 + 0.4 * hs_rand01());
		h->attempts++;
	}
	h->reconnect_now = false;
	ev_timer_stop(hs.loop, &h->retry);
	ev_timer_set(&h->retry, delay, 0.);
	ev_timer_start(hs.loop, &h->retry);
	if (delay > 0)
		hs_info("hub %s: reconnecting in %.1f s", h->id, delay);
}

static void start_connect(struct hs_hub *h)
{
	char topic[128];
	if (h->connected || h->connecting)
		return;
	/* a fresh client: libmosquitto would otherwise resend the last session's unacked QoS 1
	 * messages (a stale offline presence, old ACKs) after the new online presence */
	if (mosquitto_reinitialise(h->m, h->id, true, h) != MOSQ_ERR_SUCCESS || client_setup(h) < 0) {
		log_error("hub %s: cannot reset the MQTT client", h->id);
		schedule_retry(h);
		return;
	}
	util_uuid(h->session_id);
	h->session_ts = hs_wall_ms(h);
	if (!h->is_probe) {
		topic_of(h->id, "state", topic, sizeof topic);
		json_t *w = presence(h, false, "lwt");
		char *will = json_dumps(w, JSON_COMPACT);
		json_decref(w);
		if (will)
			mosquitto_will_set(h->m, topic, (int)strlen(will), will, 1, true);
		free(will);
	}
	int rc = mosquitto_connect_async(h->m, hs.mqtt_host, hs.mqtt_port, HS_KEEPALIVE_S);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_warn("hub %s: cannot connect to %s:%d: %s", h->id, hs.mqtt_host, hs.mqtt_port,
			 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		if (h->is_probe && h->probe_owner)
			h->probe_owner->imp_rc = -2;
		schedule_retry(h);
		return;
	}
	h->connecting = true;
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	start_connect(w->data);
}

void hub_connect_now(struct hs_hub *h)
{
	h->want_up = true;
	ev_timer_stop(hs.loop, &h->retry);
	ev_timer_set(&h->retry, 0., 0.);
	ev_timer_start(hs.loop, &h->retry);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct hs_hub *h = obj;
	char topic[128];
	(void)m;
	if (h->is_probe) {
		if (h->probe_owner)
			h->probe_owner->imp_rc = rc;
		if (rc == 0)
			mosquitto_disconnect(h->m);
		return;
	}
	if (rc != 0) {
		log_warn("hub %s: broker refused the connection: %s", h->id,
			 mosquitto_connack_string(rc));
		return; /* the library closes the socket and calls on_disconnect */
	}
	h->connecting = false;
	h->connected = true;
	h->attempts = 0;
	h->hb_seq = 0;
	topic_of(h->id, "cmd", topic, sizeof topic);
	mosquitto_subscribe(h->m, NULL, topic, 1);
	hub_publish(h, "state", presence(h, true, NULL), 1, true);
	hs_info("hub %s: online (session %s)", h->id, h->session_id);
	outbox_flush(h);
	hub_heartbeat(h);
	for (size_t i = 0; i < h->nprinters; i++)
		printer_touch(h->printers[i]);
	if (hs.startup_intruder[0] && h == hs.hubs[0]) {
		char err[128];
		if (hub_intruder(h, hs.startup_intruder, 2000, NULL, NULL, err, sizeof err) < 0)
			log_warn("intruder: %s", err);
		hs.startup_intruder[0] = '\0';
	}
}

static void io_stop(struct hs_hub *h)
{
	if (ev_is_active(&h->io))
		ev_io_stop(hs.loop, &h->io);
	h->io_fd = -1;
	h->io_ev = 0;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	struct hs_hub *h = obj;
	(void)m;
	io_stop(h); /* the library closes the socket right after this callback */
	bool was = h->connected;
	h->connected = h->connecting = false;
	h->closing = false;
	ev_timer_stop(hs.loop, &h->closer);
	inflight_requeue(h);
	if (h->is_probe) {
		if (h->probe_owner && h->probe_owner->imp_rc == -1)
			h->probe_owner->imp_rc = -2;
		return;
	}
	if (rc == 0)
		hs_info("hub %s: disconnected", h->id);
	else
		log_warn("hub %s: connection %s: %s", h->id, was ? "lost" : "failed",
			 mosquitto_strerror(rc));
	schedule_retry(h);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	struct hs_hub *h = obj;
	char topic[128];
	(void)m;
	if (h->is_probe)
		return;
	topic_of(h->id, "cmd", topic, sizeof topic);
	if (strcmp(msg->topic, topic) == 0)
		cmd_receive(h, msg->payload, msg->payloadlen);
	else
		intruder_on_message(h, msg->topic);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
	(void)m;
	struct hs_hub *h = obj;
	if (n > 0)
		intruder_on_sub(h, mid, granted[0]);
	if (n > 0 && granted[0] >= 0x80 && !h->intruder)
		log_warn("hub %s: the broker refused the cmd subscription", h->id);
}

static void acked(struct hs_hub *h, int mid)
{
	char key[16];
	snprintf(key, sizeof key, "%d", mid);
	json_object_del(h->inflight, key);
	if (h->closing && mid == h->close_mid) { /* offline presence stored: now DISCONNECT */
		ev_timer_stop(hs.loop, &h->closer);
		ev_timer_set(&h->closer, 0., 0.);
		ev_timer_start(hs.loop, &h->closer);
	}
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
	(void)m;
	acked(obj, mid);
	intruder_on_pub(obj, mid, 0);
}

static void on_publish_v5(struct mosquitto *m, void *obj, int mid, int reason,
			  const mosquitto_property *props)
{
	(void)m;
	(void)props;
	acked(obj, mid);
	intruder_on_pub(obj, mid, reason);
}

/* Outside any libmosquitto callback, so the DISCONNECT is written at once. */
static void closer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct hs_hub *h = w->data;
	h->closing = false;
	if (mosquitto_socket(h->m) >= 0)
		mosquitto_disconnect(h->m);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	struct hs_hub *h = w->data;
	if (revents & EV_READ)
		mosquitto_loop_read(h->m, 1);
	if ((revents & EV_WRITE) && mosquitto_socket(h->m) >= 0)
		mosquitto_loop_write(h->m, 1);
	hub_io_sync(h);
}

void hub_io_sync(struct hs_hub *h)
{
	int fd = h->m ? mosquitto_socket(h->m) : -1;
	int ev = fd < 0 ? 0 : EV_READ | (mosquitto_want_write(h->m) ? EV_WRITE : 0);
	if (fd == h->io_fd && ev == h->io_ev)
		return;
	io_stop(h);
	if (fd < 0)
		return;
	h->io_fd = fd;
	h->io_ev = ev;
	ev_io_set(&h->io, fd, ev);
	ev_io_start(hs.loop, &h->io);
}

void hub_keepalive(struct hs_hub *h)
{
	if (h->m && mosquitto_socket(h->m) >= 0)
		mosquitto_loop_misc(h->m);
}

/* The intruder's impersonation connection is not in hs.hubs; sync it with its owner. */
static void sync_probes(void)
{
	for (int i = 0; i < 64; i++)
		if (intruders[i] && intruders[i]->imp)
			hub_io_sync(intruders[i]->imp);
}

bool hub_io_sync_all(void)
{
	bool sockets = false;
	for (size_t i = 0; i < hs.nhubs; i++) {
		hub_io_sync(hs.hubs[i]);
		sockets |= hs.hubs[i]->io_fd >= 0;
	}
	sync_probes();
	return sockets;
}

/* Options and callbacks of a new or reinitialised client. */
static int client_setup(struct hs_hub *h)
{
	if (hs.mqtt_v5)
		mosquitto_int_option(h->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_int_option(h->m, MOSQ_OPT_TCP_NODELAY, 1); /* ACKs are latency-bound */
	mosquitto_username_pw_set(h->m, h->id, h->password);
	if (hs.mqtt_cafile[0] &&
	    mosquitto_tls_set(h->m, hs.mqtt_cafile, NULL, NULL, NULL, NULL) != MOSQ_ERR_SUCCESS) {
		log_error("hub %s: cannot use %s as the broker CA", h->id, hs.mqtt_cafile);
		return -1;
	}
	mosquitto_connect_callback_set(h->m, on_connect);
	mosquitto_disconnect_callback_set(h->m, on_disconnect);
	mosquitto_message_callback_set(h->m, on_message);
	mosquitto_subscribe_callback_set(h->m, on_subscribe);
	if (hs.mqtt_v5)
		mosquitto_publish_v5_callback_set(h->m, on_publish_v5);
	else
		mosquitto_publish_callback_set(h->m, on_publish);
	return 0;
}

int hub_init(struct hs_hub *h)
{
	h->io_fd = -1;
	h->boot_real = hs_real_ms();
	h->outbox = json_array();
	h->inflight = json_object();
	h->m = mosquitto_new(h->id, true, h);
	if (!h->m || !h->outbox || !h->inflight || client_setup(h) < 0)
		return -1;
	ev_timer_init(&h->closer, closer_cb, 0., 0.);
	h->closer.data = h;
	ev_io_init(&h->io, io_cb, 0, EV_READ);
	h->io.data = h;
	ev_timer_init(&h->retry, retry_cb, 0., 0.);
	h->retry.data = h;
	return 0;
}

void hub_free(struct hs_hub *h)
{
	if (!h)
		return;
	io_stop(h);
	ev_timer_stop(hs.loop, &h->retry);
	ev_timer_stop(hs.loop, &h->closer);
	if (h->intruder) {
		h->intruder->answer = NULL;
		intruder_finish(h->intruder);
	}
	for (size_t i = 0; i < h->nprinters; i++)
		printer_free(h->printers[i]);
	free(h->printers);
	if (!h->is_probe)
		cmd_hub_release(h);
	if (h->m)
		mosquitto_destroy(h->m);
	free(h->password);
	json_decref(h->outbox);
	json_decref(h->inflight);
	json_decref(h->hardware);
	json_decref(h->discovery_override);
	free(h);
}

/* ------------------------------------------------------------------------------- control */

void hub_disconnect(struct hs_hub *h, const char *reason)
{
	h->want_up = false;
	ev_timer_stop(hs.loop, &h->retry);
	if (!h->connected) {
		hub_kill(h);
		return;
	}
	hs_info("hub %s: clean disconnect (%s)", h->id, reason);
	json_t *m = presence(h, false, reason);
	char *s = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	char topic[128];
	topic_of(h->id, "state", topic, sizeof topic);
	h->connected = false;
	h->closing = true;
	h->close_mid = -1;
	if (!s || mosquitto_publish(h->m, &h->close_mid, topic, (int)strlen(s), s, 1, true) != 0)
		h->close_mid = -1;
	free(s);
	/* DISCONNECT once the broker acknowledged the presence (at most 2 s later) */
	ev_timer_stop(hs.loop, &h->closer);
	ev_timer_set(&h->closer, h->close_mid < 0 ? 0. : 2., 0.);
	ev_timer_start(hs.loop, &h->closer);
}

static void drop_socket(struct hs_hub *h)
{
	int fd = mosquitto_socket(h->m);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR); /* no DISCONNECT: the broker publishes the will */
	h->connected = false;
}

void hub_kill(struct hs_hub *h)
{
	h->want_up = false;
	ev_timer_stop(hs.loop, &h->retry);
	if (mosquitto_socket(h->m) >= 0)
		hs_info("hub %s: dropping the connection abruptly", h->id);
	drop_socket(h);
}

void hub_reconnect(struct hs_hub *h)
{
	h->want_up = true;
	h->attempts = 0;
	if (mosquitto_socket(h->m) >= 0) {
		h->reconnect_now = true;
		drop_socket(h);
		return;
	}
	hub_connect_now(h);
}

json_t *hub_state_json(const struct hs_hub *h)
{
	json_t *printers = json_array();
	for (size_t i = 0; i < h->nprinters; i++)
		json_array_append_new(printers, printer_json(h->printers[i]));
	json_t *o = json_object();
	json_object_set_new(o, "hub_id", json_string(h->id));
	json_object_set_new(o, "name", h->name[0] ? json_string(h->name) : json_null());
	json_object_set_new(o, "connected", json_boolean(h->connected));
	json_object_set_new(o, "want_connected", json_boolean(h->want_up));
	json_object_set_new(o, "session_id", h->session_id[0] ? json_string(h->session_id) : json_null());
	json_object_set_new(o, "heartbeat_seq", json_integer((json_int_t)h->hb_seq));
	json_object_set_new(o, "silent", json_boolean(h->silent));
	json_object_set_new(o, "skew_ms", json_integer(h->skew_ms));
	json_object_set_new(o, "clock_synced", json_boolean(!h->clock_unsynced));
	json_object_set_new(o, "discovery_partial", json_boolean(h->discovery_partial));
	json_object_set_new(o, "discovery_override", json_boolean(h->discovery_override != NULL));
	json_object_set_new(o, "max_printers", json_integer(h->max_printers));
	json_object_set_new(o, "pending_commands", json_integer(cmd_pending_count(h)));
	json_object_set_new(o, "outbox", json_integer((json_int_t)json_array_size(h->outbox)));
	json_object_set_new(o, "printers", printers);
	return o;
}
