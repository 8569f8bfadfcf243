/* dynsec.h - broker credentials through mosquitto's dynamic-security plugin, on every broker of
 * conf `mqtt_hosts` (docs/scale-out.md, "Broker credentials").
 *
 * A change is one of the operations below, applied broker by broker over MQTT as the dynsec
 * admin client (conf mqtt_admin_username / mqtt_admin_password). When a broker cannot be
 * reached or refuses, the operation's undo runs on every broker already visited and the call
 * fails: the brokers end as they were. */
#ifndef APF_DYNSEC_H
#define APF_DYNSEC_H

#include <jansson.h>
#include <stddef.h>

#define DYNSEC_MAX_BROKERS 16

enum dynsec_op {
	DS_HUB_CREATE,  /* role apf-hub-<id> (its topics only) + client id/password, clientid = id */
	DS_HUB_DELETE,  /* client and role removed (open connection kicked) */
	DS_HUB_DISABLE, /* client refused from now on, open connection kicked */
	DS_HUB_ENABLE,
	DS_HUB_ROLE,    /* (re)creates a hub's role and gives it to an existing client */
	DS_BACKEND,     /* backend role + client (conf mqtt_username) + default ACL access */
	DS_PASSWORD,    /* sets a client's password (its open connection is closed) */
	DS__COUNT
};

struct dynsec_broker {
	char host[256];
	int port;
};

/* The brokers of conf mqtt_hosts ("HOST:PORT,..."; default mqtt_host:mqtt_port). Returns how
 * many (0 when none is configured, -1 on a malformed entry; err says which). */
int dynsec_brokers(struct dynsec_broker *out, int max, char *err, size_t errlen);

/* Applies op for user (hub id or backend user; password where the op sets one) on every broker.
 * 0 on success; -1 with err filled (every broker undone). */
int dynsec_apply(enum dynsec_op op, const char *user, const char *password, char *err,
		 size_t errlen);

/* Sends commands (a JSON array of dynsec commands, borrowed) to one broker and returns its
 * "responses" array (new reference) in *responses. 0, or -1 with err filled. For tools and
 * tests (listClients, getClient ...). */
int dynsec_send(const struct dynsec_broker *b, json_t *commands, json_t **responses, char *err,
		size_t errlen);

/* Logs in to b as user / password with clientid (NULL = random) and out again: the CONNACK
 * code (0 = accepted), -1 when the broker did not answer. */
int dynsec_login(const struct dynsec_broker *b, const char *clientid, const char *user,
		 const char *password);

#endif
