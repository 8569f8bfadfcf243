/* mqtt.c - the backend's MQTT connection: libmosquitto without its thread, driven by the
 * caller's event loop (see mqtt.h). Never blocks: the connect is non-blocking (a host name is
 * resolved by getaddrinfo, which is instant for the usual loopback / IP address setting), reads
 * and writes happen only when the socket is ready. */
#include "mqtt.h"

#include "cfg.h"
#include "hubrate.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC_PREFIX "apf/v1/"

/* Everything a hub publishes (docs/hub-link.md, "Processes"). */
static char *const subscriptions[] = {
	TOPIC_PREFIX "+/ack",    TOPIC_PREFIX "+/state", TOPIC_PREFIX "+/heartbeat",
	TOPIC_PREFIX "+/status", TOPIC_PREFIX "+/event", TOPIC_PREFIX "+/discovery",
};
#define NSUBS ((int)(sizeof subscriptions / sizeof subscriptions[0]))

#define MQTT_HOSTS_MAX 8

struct mqtt_settings {
	char host[MQTT_HOSTS_MAX][256]; /* mqtt_hosts, else mqtt_host (mqtt_port) */
	int port[MQTT_HOSTS_MAX];
	int nhosts;
	char user[128];
	char pass[256];
	char cafile[512];
	int keepalive;
};

struct mqtt_link {
	struct mosquitto *mosq;
	const struct mqtt_hooks *hooks;
	void *ud;
	struct mqtt_settings set;
	int cur;          /* index of the broker in use / tried next */
	bool up;          /* CONNACK accepted on the current socket */
	bool lib;         /* counted in lib_users */
	struct hubrate *budget; /* messages per hub (hub_msg_rate, hub_msg_burst) */
};

static int lib_users;

static void mqtt_free_how(struct mqtt_link *l, bool clean);

/* "HOST:PORT,HOST:PORT,..." ([IPv6]:PORT; a missing port is def_port) into s->host/port. */
static void hosts_parse(struct mqtt_settings *s, const char *list, int def_port)
{
	const char *p = list;
	while (*p && s->nhosts < MQTT_HOSTS_MAX) {
		size_t n = strcspn(p, ",");
		char item[300];
		snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), p);
		p += n + (p[n] == ',');
		char *h = item, *port = NULL;
		while (*h == ' ')
			h++;
		char *e = h + strlen(h);
		while (e > h && e[-1] == ' ')
			*--e = '\0';
		if (*h == '[' && (e = strchr(h, ']'))) {
			*e = '\0';
			port = e[1] == ':' ? e + 2 : NULL;
			h++;
		} else if ((e = strrchr(h, ':')) && e == strchr(h, ':')) {
			/* one colon: HOST:PORT (more: a bare IPv6 address) */
			*e = '\0';
			port = e + 1;
		}
		if (!*h)
			continue;
		int i = s->nhosts++;
		snprintf(s->host[i], sizeof s->host[i], "%s", h);
		s->port[i] = port && *port ? atoi(port) : def_port;
	}
}

static void settings_read(struct mqtt_settings *s)
{
	memset(s, 0, sizeof *s);
	int def_port = (int)cfg_int("mqtt_port", 1883);
	const char *hosts = cfg_str("mqtt_hosts", NULL);
	if (hosts)
		hosts_parse(s, hosts, def_port);
	else if (cfg_str("mqtt_host", NULL))
		hosts_parse(s, cfg_str("mqtt_host", ""), def_port);
	snprintf(s->user, sizeof s->user, "%s", cfg_str("mqtt_username", ""));
	snprintf(s->pass, sizeof s->pass, "%s", cfg_str("mqtt_password", ""));
	snprintf(s->cafile, sizeof s->cafile, "%s", cfg_str("mqtt_cafile", ""));
	s->keepalive = (int)cfg_int("mqtt_keepalive", 30);
	if (s->keepalive < 5)
		s->keepalive = 5;
}

#define HOST(l) ((l)->set.host[(l)->cur])
#define PORT(l) ((l)->set.port[(l)->cur])

static void broker_name(const struct mqtt_settings *s, int i, char *buf, size_t size)
{
	const char *h = s->host[i];
	snprintf(buf, size, strchr(h, ':') ? "[%s]:%d" : "%s:%d", h, s->port[i]);
}

void mqtt_broker(const struct mqtt_link *l, char *buf, size_t size)
{
	if (size)
		buf[0] = '\0';
	if (l && l->set.nhosts > 0)
		broker_name(&l->set, l->cur, buf, size);
}

int mqtt_use_broker(struct mqtt_link *l, const char *name)
{
	char b[300];
	for (int i = 0; l && name && i < l->set.nhosts; i++) {
		broker_name(&l->set, i, b, sizeof b);
		if (strcmp(b, name) == 0) {
			l->cur = i;
			return 0;
		}
	}
	return -1;
}

/* The next broker of mqtt_hosts is tried at the next connect (after the caller's back-off). */
static void failover(struct mqtt_link *l)
{
	if (l->set.nhosts > 1) {
		l->cur = (l->cur + 1) % l->set.nhosts;
		log_info("MQTT: next broker to try: %s:%d", HOST(l), PORT(l));
	}
}

/* ------------------------------------------------------------------ libmosquitto callbacks */

static void on_connect(struct mosquitto *mosq, void *ud, int rc)
{
	struct mqtt_link *l = ud;
	if (rc != 0) {
		/* libmosquitto closes the socket when the read returns (CONN_REFUSED) */
		log_warn("MQTT broker %s:%d refused %s: %s", HOST(l), PORT(l), l->set.user,
			 mosquitto_connack_string(rc));
		return;
	}
	l->up = true;
	int err = mosquitto_subscribe_multiple(mosq, NULL, NSUBS, subscriptions, 1, 0, NULL);
	if (err != MOSQ_ERR_SUCCESS)
		log_error("MQTT subscribe failed: %s", mosquitto_strerror(err));
	log_info("MQTT connected to %s:%d as %s", HOST(l), PORT(l), l->set.user);
	if (l->hooks->connected)
		l->hooks->connected(l->ud);
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc)
{
	(void)mosq;
	struct mqtt_link *l = ud;
	bool was_up = l->up;
	l->up = false;
	if (rc != 0) {
		log_warn("MQTT connection to %s:%d %s: %s", HOST(l), PORT(l),
			 was_up ? "lost" : "failed",
			 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		failover(l);
	}
	if (l->hooks->lost)
		l->hooks->lost(l->ud);
}

static void on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *m)
{
	(void)mosq;
	struct mqtt_link *l = ud;
	if (!m->topic)
		return;
	if (m->payloadlen < 0 || m->payloadlen > MQTT_MAX_PAYLOAD) {
		log_warn("MQTT message on %.120s dropped: %d bytes (limit %d)", m->topic,
			 m->payloadlen, MQTT_MAX_PAYLOAD);
		return;
	}
	size_t hlen;
	const char *hub = hubrate_topic_hub(m->topic, &hlen);
	uint64_t dropped = 0;
	if (hub && l->budget && !hubrate_take(l->budget, hub, hlen, util_now_ms(), &dropped)) {
		if (dropped)
			log_warn("hub %.*s is over its message budget (%.0f/s, burst %.0f):"
				 " %llu message(s) dropped",
				 (int)hlen, hub, l->budget->rate, l->budget->burst,
				 (unsigned long long)dropped);
		return;
	}
	if (l->hooks->message)
		l->hooks->message(l->ud, m->topic, m->payload ? m->payload : "",
				  (size_t)m->payloadlen, m->retain);
}

/* ------------------------------------------------------------------ life cycle */

struct mqtt_link *mqtt_new(const struct mqtt_hooks *hooks, void *ud)
{
	struct mqtt_link *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	settings_read(&l->set);
	if (!l->set.nhosts || !l->set.user[0]) {
		free(l);
		return NULL;
	}
	if (lib_users++ == 0)
		mosquitto_lib_init();
	l->lib = true;
	l->hooks = hooks;
	l->ud = ud;
	l->budget = malloc(sizeof *l->budget);
	if (l->budget)
		hubrate_init(l->budget, (double)cfg_int("hub_msg_rate", 200),
			     (double)cfg_int("hub_msg_burst", 400), 10000);
	/* client id = username (the broker enforces use_username_as_clientid); persistent session */
	l->mosq = mosquitto_new(l->set.user, false, l);
	if (!l->mosq) {
		log_error("mosquitto_new failed: %s", strerror(errno));
		mqtt_free(l);
		return NULL;
	}
	/* commands and ACKs are small and latency-bound: no Nagle delay on the socket */
	mosquitto_int_option(l->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	int rc = mosquitto_username_pw_set(l->mosq, l->set.user, l->set.pass);
	if (rc == MOSQ_ERR_SUCCESS && l->set.cafile[0])
		rc = mosquitto_tls_set(l->mosq, l->set.cafile, NULL, NULL, NULL, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_error("MQTT setup failed: %s", mosquitto_strerror(rc));
		mqtt_free(l);
		return NULL;
	}
	mosquitto_connect_callback_set(l->mosq, on_connect);
	mosquitto_disconnect_callback_set(l->mosq, on_disconnect);
	mosquitto_message_callback_set(l->mosq, on_message);
	return l;
}

void mqtt_free(struct mqtt_link *l)
{
	mqtt_free_how(l, true);
}

void mqtt_abandon(struct mqtt_link *l)
{
	mqtt_free_how(l, false);
}

static void mqtt_free_how(struct mqtt_link *l, bool clean)
{
	if (!l)
		return;
	if (l->mosq) {
		if (clean && mosquitto_socket(l->mosq) >= 0) {
			/* DISCONNECT (no will, session kept); written at once on a healthy socket */
			static const struct mqtt_hooks none = { NULL, NULL, NULL };
			l->hooks = &none;
			mosquitto_disconnect(l->mosq);
			mosquitto_loop_write(l->mosq, 1);
		}
		mosquitto_destroy(l->mosq);
	}
	if (l->lib && --lib_users == 0)
		mosquitto_lib_cleanup();
	free(l->budget);
	memset(&l->set, 0, sizeof l->set);
	free(l);
}

int mqtt_conf_changed(const struct mqtt_link *l)
{
	struct mqtt_settings now;
	settings_read(&now);
	int changed = memcmp(&now, &l->set, sizeof now) != 0;
	memset(&now, 0, sizeof now);
	return changed;
}

int mqtt_connect(struct mqtt_link *l)
{
	l->up = false;
	int rc = mosquitto_connect_async(l->mosq, HOST(l), PORT(l), l->set.keepalive);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_warn("MQTT connect to %s:%d failed: %s", HOST(l), PORT(l),
			 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		failover(l);
		return -1;
	}
	return 0;
}

int mqtt_fd(const struct mqtt_link *l)
{
	return l ? mosquitto_socket(l->mosq) : -1;
}

bool mqtt_want_write(const struct mqtt_link *l)
{
	return l && mosquitto_socket(l->mosq) >= 0 && mosquitto_want_write(l->mosq);
}

bool mqtt_is_up(const struct mqtt_link *l)
{
	return l && l->up && mosquitto_socket(l->mosq) >= 0;
}

/* After a failed step libmosquitto normally has closed the socket itself; make sure. */
static int step_result(struct mqtt_link *l, int rc, const char *what)
{
	if (rc == MOSQ_ERR_SUCCESS)
		return mosquitto_socket(l->mosq) >= 0 ? 0 : -1;
	if (mosquitto_socket(l->mosq) >= 0) {
		log_warn("MQTT %s failed: %s; dropping the connection", what,
			 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		mosquitto_disconnect(l->mosq);
		mosquitto_loop_write(l->mosq, 1);
	}
	return mosquitto_socket(l->mosq) >= 0 ? 0 : -1;
}

int mqtt_read(struct mqtt_link *l)
{
	return step_result(l, mosquitto_loop_read(l->mosq, 64), "read");
}

int mqtt_write(struct mqtt_link *l)
{
	return step_result(l, mosquitto_loop_write(l->mosq, 64), "write");
}

int mqtt_misc(struct mqtt_link *l)
{
	if (mosquitto_socket(l->mosq) < 0)
		return -1;
	return step_result(l, mosquitto_loop_misc(l->mosq), "keep-alive");
}

int mqtt_publish(struct mqtt_link *l, const char *topic, const char *payload, size_t len, int qos,
		 bool retain)
{
	if (!mqtt_is_up(l))
		return -1;
	if (len > MQTT_MAX_PAYLOAD) {
		log_error("MQTT publish on %s refused: %zu bytes", topic, len);
		return -1;
	}
	int rc = mosquitto_publish(l->mosq, NULL, topic, (int)len, payload, qos, retain);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_warn("MQTT publish on %s failed: %s", topic,
			 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ topics */

int mqtt_topic(char *buf, size_t size, const char *hub_id, const char *kind)
{
	int n = snprintf(buf, size, TOPIC_PREFIX "%s/%s", hub_id, kind);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int lower_uuid(const char *s, size_t n)
{
	if (n != 36)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

int mqtt_topic_parse(const char *topic, char hub_id[37], char kind[16])
{
	size_t plen = strlen(TOPIC_PREFIX);
	if (strncmp(topic, TOPIC_PREFIX, plen) != 0)
		return -1;
	const char *h = topic + plen, *slash = strchr(h, '/');
	if (!slash || !lower_uuid(h, (size_t)(slash - h)))
		return -1;
	const char *k = slash + 1;
	size_t klen = strlen(k);
	if (klen == 0 || klen >= 16 || strchr(k, '/'))
		return -1;
	memcpy(hub_id, h, 36);
	hub_id[36] = '\0';
	memcpy(kind, k, klen + 1);
	return 0;
}
