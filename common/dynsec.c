/* dynsec.c - broker credentials through mosquitto's dynamic-security plugin (docs/scale-out.md,
 * "Broker credentials").
 *
 * Every operation is a row of OPS: the dynsec commands it sends (one MQTT message, which the
 * plugin runs as a whole before serving other traffic), the errors each command may answer
 * without failing, and the operation that undoes it. The ACLs come from two tables: a hub's
 * (its own topics only, docs/hub-link.md "Processes") and the backend's. mosquitto 2.0's dynsec
 * does not substitute %u / %c in ACL topics, so each hub has its own role apf-hub-<id> holding
 * its literal topics. */
#include "dynsec.h"

#include "cfg.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <mosquitto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTROL_TOPIC "$CONTROL/dynamic-security/v1"
#define RESPONSE_TOPIC CONTROL_TOPIC "/response"
#define HUB_ROLE_PREFIX "apf-hub-"
#define BACKEND_ROLE "apf-backend"
#define MAX_CMDS 16
/* mosquitto 2.0.11's answer to addClientRole when the client has the role already (a change of
 * a client's roles closes its connection, so roles are only added, never removed and re-added) */
#define HAS_ROLE "Internal error"

struct acl_row {
	const char *type;
	const char *topic; /* "%u" = the user */
};

/* docs/hub-link.md ("Processes"): a hub publishes its kinds and reads its commands */
static const struct acl_row HUB_ACLS[] = {
	{ "publishClientSend", "apf/v1/%u/ack" },
	{ "publishClientSend", "apf/v1/%u/heartbeat" },
	{ "publishClientSend", "apf/v1/%u/state" },
	{ "publishClientSend", "apf/v1/%u/status" },
	{ "publishClientSend", "apf/v1/%u/event" },
	{ "publishClientSend", "apf/v1/%u/discovery" },
	{ "subscribePattern", "apf/v1/%u/cmd" },
	{ "publishClientReceive", "apf/v1/%u/cmd" },
	{ NULL, NULL },
};

static const struct acl_row BACKEND_ACLS[] = {
	{ "publishClientSend", "apf/v1/#" },
	{ "publishClientReceive", "apf/v1/#" },
	{ "subscribePattern", "apf/v1/#" },
	{ NULL, NULL },
};

/* what nobody's role allows is refused (unsubscribing is harmless) */
static const struct { const char *type; int allow; } DEFAULT_ACCESS[] = {
	{ "publishClientSend", 0 },
	{ "publishClientReceive", 0 },
	{ "subscribe", 0 },
	{ "unsubscribe", 1 },
};

enum {
	F_USER = 1 << 0,     /* "username": user */
	F_ROLE = 1 << 1,     /* "rolename": the op's role */
	F_PASSWORD = 1 << 2, /* "password" */
	F_CLIENTID = 1 << 3, /* "clientid": user (the hub must connect with its id) */
	F_ACLS = 1 << 4,     /* "acls": the op's ACL rows */
	F_EACH_ACL = 1 << 5, /* one command per ACL row (acltype, topic, allow) */
	F_ROLES = 1 << 6,    /* "roles": [the op's role] */
	F_DEFAULTS = 1 << 7, /* "acls": DEFAULT_ACCESS */
};

struct cmd_row {
	const char *command;
	unsigned fields;
	const char *tolerate; /* an error answer holding this is not a failure */
};

struct op_row {
	const char *name;
	enum { R_NONE, R_HUB, R_BACKEND } role; /* apf-hub-<user>, apf-backend */
	const struct acl_row *acls;
	enum dynsec_op undo; /* DS__COUNT: none */
	struct cmd_row cmds[8];
};

static const struct op_row OPS[DS__COUNT] = {
	[DS_HUB_CREATE] = { "create hub client", R_HUB, HUB_ACLS, DS_HUB_DELETE, {
		{ "createRole", F_ROLE | F_ACLS, NULL },
		{ "createClient", F_USER | F_PASSWORD | F_CLIENTID | F_ROLES, NULL },
	} },
	[DS_HUB_DELETE] = { "delete hub client", R_HUB, NULL, DS__COUNT, {
		{ "deleteClient", F_USER, "not found" },
		{ "deleteRole", F_ROLE, "not found" },
	} },
	[DS_HUB_DISABLE] = { "disable hub client", R_NONE, NULL, DS_HUB_ENABLE, {
		{ "disableClient", F_USER, NULL },
	} },
	[DS_HUB_ENABLE] = { "enable hub client", R_NONE, NULL, DS_HUB_DISABLE, {
		{ "enableClient", F_USER, NULL },
	} },
	[DS_HUB_ROLE] = { "give a hub client its role", R_HUB, HUB_ACLS, DS__COUNT, {
		{ "createRole", F_ROLE | F_ACLS, "already exists" },
		{ "addRoleACL", F_ROLE | F_EACH_ACL, "already exists" },
		{ "addClientRole", F_USER | F_ROLE, HAS_ROLE },
	} },
	[DS_BACKEND] = { "set up the backend client", R_BACKEND, BACKEND_ACLS, DS__COUNT, {
		{ "setDefaultACLAccess", F_DEFAULTS, NULL },
		{ "createRole", F_ROLE | F_ACLS, "already exists" },
		{ "addRoleACL", F_ROLE | F_EACH_ACL, "already exists" },
		{ "createClient", F_USER | F_PASSWORD, "already exists" },
		{ "addClientRole", F_USER | F_ROLE, HAS_ROLE },
	} },
	/* the broker closes the client's open connection */
	[DS_PASSWORD] = { "set a client's password", R_NONE, NULL, DS__COUNT, {
		{ "setClientPassword", F_USER | F_PASSWORD, NULL },
	} },
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------- brokers */

int dynsec_brokers(struct dynsec_broker *out, int max, char *err, size_t errlen)
{
	const char *list = cfg_str("mqtt_hosts", NULL);
	char one[300];
	if (!list || !*list) {
		const char *host = cfg_str("mqtt_host", NULL);
		if (!host || max < 1)
			return 0;
		snprintf(out[0].host, sizeof out[0].host, "%s", host);
		out[0].port = (int)cfg_int("mqtt_port", 1883);
		return 1;
	}
	int n = 0;
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		while (len && (*p == ' ' || *p == '\t'))
			p++, len--;
		snprintf(one, sizeof one, "%.*s", (int)len, p);
		one[strcspn(one, " \t")] = '\0';
		char *colon = strrchr(one, ':');
		char *end = NULL;
		long port = colon ? strtol(colon + 1, &end, 10) : 0;
		if (!colon || colon == one || !end || *end || port < 1 || port > 65535 ||
		    (size_t)(colon - one) >= sizeof out[0].host) {
			seterr(err, errlen, "mqtt_hosts: '%s' is not HOST:PORT", one);
			return -1;
		}
		if (n == max) {
			seterr(err, errlen, "mqtt_hosts: more than %d brokers", max);
			return -1;
		}
		snprintf(out[n].host, sizeof out[n].host, "%.*s", (int)(colon - one), one);
		out[n].port = (int)port;
		n++;
		p += len;
		if (*p == ',')
			p++;
	}
	return n;
}

/* ------------------------------------------------------------------------ commands */

static json_t *acl_array(const struct acl_row *rows, const char *user)
{
	json_t *a = json_array();
	for (const struct acl_row *r = rows; r && r->type; r++) {
		char topic[256];
		const char *u = strstr(r->topic, "%u");
		if (u)
			snprintf(topic, sizeof topic, "%.*s%s%s", (int)(u - r->topic), r->topic, user,
				 u + 2);
		else
			snprintf(topic, sizeof topic, "%s", r->topic);
		json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "acltype", r->type,
						   "topic", topic, "allow", 1));
	}
	return a;
}

/* The op's commands as a JSON array; tolerate[i] = what command i may answer. */
static json_t *build(const struct op_row *op, const char *user, const char *password,
		     const char *corr, const char **tolerate)
{
	char role[128] = "";
	if (op->role == R_HUB)
		snprintf(role, sizeof role, "%s%s", HUB_ROLE_PREFIX, user);
	else if (op->role == R_BACKEND)
		snprintf(role, sizeof role, "%s", BACKEND_ROLE);
	json_t *cmds = json_array();
	int n = 0;
	for (const struct cmd_row *c = op->cmds; c->command; c++) {
		json_t *acls = c->fields & F_EACH_ACL ? acl_array(op->acls, user) : NULL;
		size_t copies = acls ? json_array_size(acls) : 1;
		for (size_t i = 0; i < copies && n < MAX_CMDS; i++) {
			char cd[96];
			json_t *o = acls ? json_deep_copy(json_array_get(acls, i)) : json_object();
			json_object_set_new(o, "command", json_string(c->command));
			if (c->fields & F_USER)
				json_object_set_new(o, "username", json_string(user));
			if (c->fields & F_ROLE)
				json_object_set_new(o, "rolename", json_string(role));
			if (c->fields & F_PASSWORD)
				json_object_set_new(o, "password", json_string(password ? password : ""));
			if (c->fields & F_CLIENTID)
				json_object_set_new(o, "clientid", json_string(user));
			if (c->fields & F_ACLS)
				json_object_set_new(o, "acls", acl_array(op->acls, user));
			if (c->fields & F_ROLES)
				json_object_set_new(o, "roles", json_pack("[{s:s}]", "rolename", role));
			if (c->fields & F_DEFAULTS) {
				json_t *d = json_array();
				for (size_t k = 0; k < sizeof DEFAULT_ACCESS / sizeof DEFAULT_ACCESS[0]; k++)
					json_array_append_new(d, json_pack("{s:s, s:b}", "acltype",
									   DEFAULT_ACCESS[k].type, "allow",
									   DEFAULT_ACCESS[k].allow));
				json_object_set_new(o, "acls", d);
			}
			snprintf(cd, sizeof cd, "%s-%d", corr, n);
			json_object_set_new(o, "correlationData", json_string(cd));
			json_array_append_new(cmds, o);
			tolerate[n++] = c->tolerate;
		}
		json_decref(acls);
	}
	return cmds;
}

/* ----------------------------------------------------------------------- transport */

struct session {
	int connack;     /* -1 until CONNACK */
	int subacked;
	int lost;
	const char *corr; /* correlationData of the first command we sent */
	json_t *responses;
};

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	((struct session *)ud)->connack = rc;
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	(void)rc;
	((struct session *)ud)->lost = 1;
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	(void)m;
	(void)mid;
	struct session *s = ud;
	s->subacked = n > 0 && granted[0] <= 2 ? 1 : -1;
}

/* Every admin client receives every response: ours carry our correlationData. */
static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	(void)m;
	struct session *s = ud;
	if (s->responses || strcmp(msg->topic, RESPONSE_TOPIC) != 0)
		return;
	json_t *j = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL);
	json_t *r = json_object_get(j, "responses");
	const char *cd = json_string_value(json_object_get(json_array_get(r, 0), "correlationData"));
	if (json_is_array(r) && cd && strcmp(cd, s->corr) == 0)
		s->responses = json_incref(r);
	json_decref(j);
}

/* Drives m until *flag leaves `waiting` or the deadline passed. */
static int pump(struct mosquitto *m, struct session *s, const int *flag, int waiting,
		int64_t deadline)
{
	while (*flag == waiting && !s->lost && util_now_ms() < deadline) {
		int rc = mosquitto_loop(m, 50, 1);
		if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_LOST && rc != MOSQ_ERR_NO_CONN)
			break;
		if (rc != MOSQ_ERR_SUCCESS)
			s->lost = 1;
	}
	return *flag == waiting ? -1 : 0;
}

static int responses_ready(const struct session *s)
{
	return s->responses != NULL;
}

/* Connects to b as user (clientid, NULL = random; clean session) and waits for the CONNACK. Returns
 * the client (connected when s->connack == 0) or NULL when none could be made. */
static struct mosquitto *session_open(const struct dynsec_broker *b, const char *clientid,
				      const char *user, const char *pass, struct session *s,
				      int64_t deadline, char *err, size_t errlen)
{
	static int lib;
	if (!lib++)
		mosquitto_lib_init();
	s->connack = -1;
	struct mosquitto *m = mosquitto_new(clientid, true, s);
	if (!m) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	mosquitto_username_pw_set(m, user, pass);
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_disconnect_callback_set(m, on_disconnect);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	mosquitto_message_callback_set(m, on_message);
	int crc = mosquitto_connect_async(m, b->host, b->port, 10);
	if (crc != MOSQ_ERR_SUCCESS)
		seterr(err, errlen, "broker %s:%d: %s", b->host, b->port,
		       crc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(crc));
	else if (pump(m, s, &s->connack, -1, deadline) < 0 || s->connack != 0)
		seterr(err, errlen, "broker %s:%d: %s", b->host, b->port,
		       s->connack > 0 ? mosquitto_connack_string(s->connack)
				      : "no answer to CONNECT");
	return m;
}

static void session_close(struct mosquitto *m)
{
	if (m) {
		mosquitto_disconnect(m);
		mosquitto_destroy(m);
	}
}

static int64_t deadline_ms(void)
{
	return util_now_ms() + cfg_int("mqtt_admin_timeout_ms", 5000);
}

int dynsec_login(const struct dynsec_broker *b, const char *clientid, const char *user,
		 const char *password)
{
	struct session s = { 0 };
	char err[256];
	struct mosquitto *m =
		session_open(b, clientid, user, password, &s, deadline_ms(), err, sizeof err);
	int rc = m ? s.connack : -1;
	session_close(m);
	return rc;
}

int dynsec_send(const struct dynsec_broker *b, json_t *commands, json_t **responses, char *err,
		size_t errlen)
{
	const char *user = cfg_str("mqtt_admin_username", NULL);
	const char *pass = cfg_str("mqtt_admin_password", NULL);
	int64_t deadline = deadline_ms();
	struct session s = { .connack = -1 };
	struct mosquitto *m = NULL;
	int rc = -1;
	*responses = NULL;
	if (!user || !pass) {
		seterr(err, errlen, "mqtt_admin_username / mqtt_admin_password missing in %s",
		       cfg_path());
		return -1;
	}
	/* the first command's correlationData names this request among every admin's answers */
	s.corr = json_string_value(json_object_get(json_array_get(commands, 0), "correlationData"));
	if (!s.corr) {
		seterr(err, errlen, "request without correlationData");
		return -1;
	}
	m = session_open(b, NULL, user, pass, &s, deadline, err, errlen);
	if (!m || s.connack != 0)
		goto out;
	mosquitto_subscribe(m, NULL, RESPONSE_TOPIC, 1);
	if (pump(m, &s, &s.subacked, 0, deadline) < 0 || s.subacked < 0) {
		seterr(err, errlen, "broker %s:%d: cannot subscribe to the dynsec responses",
		       b->host, b->port);
		goto out;
	}
	json_t *req = json_pack("{s:O}", "commands", commands);
	char *txt = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	int prc = txt ? mosquitto_publish(m, NULL, CONTROL_TOPIC, (int)strlen(txt), txt, 1, false)
		      : MOSQ_ERR_NOMEM;
	if (txt) { /* it may hold a password */
		memset(txt, 0, strlen(txt));
		free(txt);
	}
	if (prc != MOSQ_ERR_SUCCESS) {
		seterr(err, errlen, "broker %s:%d: publish: %s", b->host, b->port,
		       mosquitto_strerror(prc));
		goto out;
	}
	int64_t until = deadline;
	while (!responses_ready(&s) && !s.lost && util_now_ms() < until)
		if (mosquitto_loop(m, 50, 1) != MOSQ_ERR_SUCCESS)
			s.lost = 1;
	if (!s.responses) {
		seterr(err, errlen, "broker %s:%d: no dynamic-security answer (plugin not loaded?)",
		       b->host, b->port);
		goto out;
	}
	*responses = s.responses;
	s.responses = NULL;
	rc = 0;
out:
	session_close(m);
	json_decref(s.responses);
	return rc;
}

/* Sends op to one broker; every command's answer must be clean or tolerated. */
static int apply_one(const struct dynsec_broker *b, enum dynsec_op op, const char *user,
		     const char *password, char *err, size_t errlen)
{
	const char *tolerate[MAX_CMDS] = { 0 };
	char corr[64], rnd[17];
	if (util_random_hex(rnd, 8) < 0) {
		seterr(err, errlen, "cannot read random bytes");
		return -1;
	}
	snprintf(corr, sizeof corr, "apf-%d-%s", (int)getpid(), rnd);
	json_t *cmds = build(&OPS[op], user, password, corr, tolerate);
	json_t *res = NULL;
	int rc = dynsec_send(b, cmds, &res, err, errlen);
	for (size_t i = 0; rc == 0 && i < json_array_size(cmds); i++) {
		json_t *r = json_array_get(res, i);
		const char *e = json_string_value(json_object_get(r, "error"));
		if (!r)
			e = "no answer";
		if (e && !(tolerate[i] && strstr(e, tolerate[i]))) {
			seterr(err, errlen, "broker %s:%d: %s %s: %s", b->host, b->port,
			       json_string_value(json_object_get(json_array_get(cmds, i), "command")),
			       user, e);
			rc = -1;
		}
	}
	/* the request may hold a password */
	for (size_t i = 0; i < json_array_size(cmds); i++) {
		json_t *pw = json_object_get(json_array_get(cmds, i), "password");
		if (pw)
			memset((char *)json_string_value(pw), 0, json_string_length(pw));
	}
	json_decref(cmds);
	json_decref(res);
	return rc;
}

int dynsec_apply(enum dynsec_op op, const char *user, const char *password, char *err,
		 size_t errlen)
{
	struct dynsec_broker b[DYNSEC_MAX_BROKERS];
	int n = dynsec_brokers(b, DYNSEC_MAX_BROKERS, err, errlen);
	if (n == 0)
		seterr(err, errlen, "no broker: set mqtt_hosts or mqtt_host in %s", cfg_path());
	if (n <= 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (apply_one(&b[i], op, user, password, err, errlen) == 0)
			continue;
		/* undo everywhere it may have landed, this broker included (a part of its commands
		 * may have run) */
		enum dynsec_op undo = OPS[op].undo;
		for (int j = i; undo != DS__COUNT && j >= 0; j--) {
			char uerr[256];
			int undone = apply_one(&b[j], undo, user, NULL, uerr, sizeof uerr) == 0;
			if (!undone && j < i)
				log_warn("dynsec: cannot undo '%s' of %s: %s", OPS[op].name, user,
					 uerr);
		}
		return -1;
	}
	return 0;
}
