/* mqtt.h - the backend's MQTT connection (libmosquitto), driven by the worker's event loop.
 *
 * No thread: the caller owns the loop (workers/loop.c). It watches mqtt_fd() for reading always
 * and for writing while mqtt_want_write(), calls mqtt_read()/mqtt_write() when the socket is
 * ready, mqtt_misc() about once a second (keep-alive), and after every call compares mqtt_fd()
 * with the descriptor it watches: -1 means the connection is gone (the socket is already closed)
 * and the caller reconnects with mqtt_connect() after its back-off.
 *
 * Settings come from the configuration when the link is made: mqtt_hosts (HOST:PORT,... in
 * order of preference: a failed connect or a lost connection makes the next one the broker of
 * the next attempt) or else mqtt_host, mqtt_port (1883),
 * mqtt_username (= client id), mqtt_password, mqtt_cafile (TLS when set), mqtt_keepalive (30 s).
 * The session is persistent (clean session false), so QoS 1 messages published while the backend
 * is away are queued by the broker. On every CONNACK the link subscribes, QoS 1, to
 * apf/v1/+/{ack,state,heartbeat,status,event,discovery} (docs/hub-link.md, "Processes").
 *
 * Topics are built and split here only (one function per shape). */
#ifndef APF_MQTT_H
#define APF_MQTT_H

#include <stdbool.h>
#include <stddef.h>

/* Largest inbound payload handed to the message hook (docs/hub-link.md, "Inbound messages": 64
 * KiB). */
#define MQTT_MAX_PAYLOAD 65536

/* Hooks called from inside mqtt_read()/mqtt_write()/mqtt_misc(). Publishing from a hook is
 * allowed (the packet is queued; mqtt_want_write() then says so). */
struct mqtt_hooks {
	void (*connected)(void *ud);  /* CONNACK accepted; subscriptions requested */
	/* One inbound message; topic and payload are borrowed for the call. Oversized payloads are
	 * dropped (and logged) before this hook. */
	void (*message)(void *ud, const char *topic, const void *payload, size_t len, bool retained);
	void (*lost)(void *ud);       /* connection closed (the descriptor is gone) */
};

struct mqtt_link;

/* A link with the current configuration; NULL when mqtt_host or mqtt_username is not set or
 * libmosquitto fails. hooks and ud are borrowed for the link's life. */
struct mqtt_link *mqtt_new(const struct mqtt_hooks *hooks, void *ud);
/* Disconnects cleanly when connected (DISCONNECT, so the broker keeps the session) and frees. */
void mqtt_free(struct mqtt_link *l);
/* Frees without writing anything more (no DISCONNECT, queued packets dropped): the link's owner
 * lost its lease and must not publish (docs/scale-out.md). */
void mqtt_abandon(struct mqtt_link *l);

/* 1 when the configured settings differ from the ones the link was made with (SIGHUP). */
int mqtt_conf_changed(const struct mqtt_link *l);

/* The broker in use (or tried next) as "HOST:PORT" ("[IPv6]:PORT"); "" when none. */
void mqtt_broker(const struct mqtt_link *l, char *buf, size_t size);
/* Makes the broker named "HOST:PORT" (as mqtt_broker writes it) the one the next connect tries,
 * when it is in the list. Returns 0 when it is, -1 when not (nothing changed). */
int mqtt_use_broker(struct mqtt_link *l, const char *name);

/* Starts a non-blocking connect. Returns 0 when under way, -1 when it failed at once (logged). */
int mqtt_connect(struct mqtt_link *l);
/* Socket to watch, -1 when not connected. */
int mqtt_fd(const struct mqtt_link *l);
bool mqtt_want_write(const struct mqtt_link *l);
/* CONNACK accepted and the socket still open. */
bool mqtt_is_up(const struct mqtt_link *l);

/* Socket readable / writable / once a second. Return 0, or -1 when the connection is gone. */
int mqtt_read(struct mqtt_link *l);
int mqtt_write(struct mqtt_link *l);
int mqtt_misc(struct mqtt_link *l);

/* Publishes (QoS 0/1). Returns 0 when queued, -1 when not connected or refused (logged). */
int mqtt_publish(struct mqtt_link *l, const char *topic, const char *payload, size_t len, int qos,
		 bool retain);

/* "apf/v1/<hub_id>/<kind>" into buf; -1 when it does not fit. */
int mqtt_topic(char *buf, size_t size, const char *hub_id, const char *kind);
/* Splits "apf/v1/<hub_id>/<kind>": hub (36-char lower-case UUID) and kind (at most 15 chars).
 * Returns 0, or -1 for any other shape. */
int mqtt_topic_parse(const char *topic, char hub_id[37], char kind[16]);

#endif
