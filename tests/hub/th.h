/* th.h - fixtures of the hub-link tests (tests/hub): fake hubs on the real broker, apf-admin,
 * database polling with deadlines.
 *
 * The tests run against a stack started by scripts/stack.sh (APF_CONF = its apf.conf, APF_BIN =
 * the folder with apf-admin). The stack's own apf-worker holds the backend MQTT link; a fake hub
 * is a libmosquitto client of this process with the credentials `apf-admin hub create` minted,
 * driven without a thread by th_pump() (every wait below pumps). Timing assertions poll with
 * generous deadlines (CI has 2 slow cores). */
#ifndef APF_TH_H
#define APF_TH_H

#include "db.h"

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mosquitto;

extern struct db *tdb;

#define TH_INBOX 64

/* A fake hub (docs/hub-link.md, "Processes": client id = username = hub id, clean session, last
 * will). */
struct thub {
	char id[37];
	char password[64];
	char session[37];
	struct mosquitto *mosq;
	int connack;              /* -1 until CONNACK, then its return code */
	int subacked;             /* SUBACKs received */
	int granted;              /* granted QoS of the last SUBACK */
	int ninbox;
	char *inbox_topic[TH_INBOX];
	json_t *inbox[TH_INBOX];  /* received payloads (parsed), oldest first */
	int lost;                 /* the broker closed the connection */
};

int64_t th_now_ms(void);
void th_sleep_ms(long ms);

/* Runs $APF_BIN/apf-admin with args (NULL-terminated) plus --json; *out = its JSON output.
 * Returns the exit status (-1 when it could not run). */
int th_admin(const char *const *args, json_t **out);
/* The run's account (created once). */
const char *th_account(void);

/* Creates a claimed hub (apf-admin hub create): id and password filled, not connected. */
int th_hub_create(struct thub *h);
/* The same with a name and no assertion: apf-admin's exit status (id empty on failure). */
int th_hub_create_named(struct thub *h, const char *name);
/* Something accepts TCP connections on 127.0.0.1:port. */
int th_port_open(int port);
/* Connects h (new session id, will = offline presence of that session), subscribes to its cmd
 * topic and, when online, publishes its online presence. Returns 0 when connected. */
int th_hub_connect(struct thub *h, bool online);
/* Creates, connects, publishes online presence and waits until the backend has it online. */
int th_hub_up(struct thub *h);
/* Drops the TCP connection without DISCONNECT (the broker publishes the will). */
void th_hub_kill(struct thub *h);
/* Disconnects cleanly without offline presence: the will is dropped, as when the hub's broker
 * dies (the backend still has the hub online). */
void th_hub_drop(struct thub *h);
/* Publishes offline presence, disconnects cleanly. */
void th_hub_close(struct thub *h);
/* Presence payload of h (new reference). */
json_t *th_presence(const struct thub *h, bool online, const char *session);
/* Publishes msg (borrowed) on apf/v1/<topic_hub>/<kind>, QoS 1. */
int th_pub(struct thub *h, const char *topic_hub, const char *kind, const json_t *msg);
int th_pub_raw(struct thub *h, const char *topic, const void *payload, size_t len, bool retain);
/* {"v":1,"type":type,"hub_id":hub_id} plus the members of extra (stolen; may be NULL). */
json_t *th_msg(const char *type, const char *hub_id, json_t *extra);

/* Drives every fake hub's network for ms milliseconds. */
void th_pump(long ms);
/* Waits up to timeout_ms for a command on h's cmd topic (action or command_id may be NULL =
 * any); returns it (new reference, removed from the inbox) or NULL. */
json_t *th_wait_cmd(struct thub *h, const char *action, const char *command_id, long timeout_ms);
/* Forgets everything received so far. */
void th_inbox_clear(struct thub *h);
/* Publishes an ACK for cmd (borrowed). code/message may be NULL. */
int th_ack(struct thub *h, const json_t *cmd, bool ok, const char *code, const char *message);

/* First cell of the first row: 1 = value in out, 2 = SQL NULL (out ""), 0 = no row, -1 error. */
int th_get(const struct db_query *q, const struct db_arg *args, unsigned nargs, char *out,
	   size_t size);
/* Waits until th_get gives `want` ("NULL" matches SQL NULL); returns ms waited or -1. */
long th_wait_eq(const struct db_query *q, const struct db_arg *args, unsigned nargs,
		const char *want, long timeout_ms);
/* The value after `ms` of pumping (for "nothing changed" checks). */
int th_get_after(long ms, const struct db_query *q, const struct db_arg *args, unsigned nargs,
		 char *out, size_t size);
/* Executes a statement (autocommit); CU assertion on failure. */
void th_exec(const struct db_query *q, const struct db_arg *args, unsigned nargs);

/* Inserts a printer on the hub (status, is_connected) and returns its id in id[37]. */
void th_printer(const struct thub *h, const char *status, const char *access_code, char id[37]);
/* Inserts a print job on the printer in state status; id[37]. */
void th_job(const char *printer_id, const char *status, char id[37]);

/* Counts occurrences of needle in the stack worker's log (log_dir/apf-worker-1.log); -1 when
 * there is no such log. */
int th_worker_log_count(const char *needle);
/* Pumps until needle is in the worker's log or timeout_ms passed; returns the count then. */
int th_wait_worker_log(const char *needle, long timeout_ms);
/* The stack worker is alive (pid file in var_dir/run). */
bool th_worker_alive(void);

/* Suites */
int suite_unit_add(void);
int suite_ingest_add(void);
int suite_commands_add(void);
int suite_sim_add(void);
int suite_broker_add(void);
int suite_logsafe_add(void);
int suite_dynsec_add(void);

#endif
