/* hubcmd.h - hub commands, API → MariaDB → worker → MQTT → hub → ACK (docs/hub-link.md).
 *
 * Row lifecycle in hub_commands: pending → sent → acked | failed | timeout | expired.
 *
 * API side: in ONE transaction the handler applies its optimistic transition (e.g. job and
 * printer printing → paused) and calls hubcmd_insert() with the revert that undoes it; it
 * commits, calls queue_wake(), and (for awaited commands) hubcmd_wait(), which returns when the
 * worker records the outcome: after its commit the worker sends the waiting process one
 * datagram, "<command id> <status>", on its waiter socket (hubcmd_waiter_open; the path, or
 * "udp:IP:PORT" with conf waiter_address, is stored in the row's `waiter`). The datagram only
 * wakes the waiter: it then reads the row (a forged or late datagram changes nothing). The row
 * is also read at a growing interval (5 ms ... 100 ms) in case a datagram is lost; a process without a waiter socket only reads the row (0.25 ms ...
 * 100 ms). Either way the database is not hammered.
 *
 * Every waiting request holds a FastCGI child, so an awaited command (c->awaited) is admitted
 * first, inside hubcmd_insert and so inside the caller's transaction: the account may have at
 * most hub_waits_per_account waits open on all API hosts together (rows of hub_waits, counted
 * under the account's row of hub_wait_locks: E_TOO_MANY_HUB_COMMANDS), and this host at most
 * hub_waits_per_host waiting children (a slot, common/budget.h: E_SERVER_BUSY). A refusal leaves
 * nothing once the caller rolls back. The wait's row is deleted and the slot given back when
 * hubcmd_wait returns (hubcmd_wait_done); a child that dies gives the slot back at once, and its
 * row stops counting when the command expires.
 *
 * Worker side: publishes pending rows (status → sent), and records the ACK, the refusal, the
 * timeout or the hub's loss with hubcmd_finish(). Every outcome other than `acked` applies the
 * revert with compare-and-set (a row is restored only while it still holds the optimistic value,
 * so a status report that arrived meanwhile is not overwritten). The worker, not the API process,
 * reverts: a command whose API request died still ends consistently. A row that is already final
 * is left alone (duplicate or late ACK: *changed = 0), and a positive ACK that arrives after the
 * command expired (its worker was away) is recorded as a timeout and reverted, because the API
 * has already answered 504 (docs/hub-link.md: a late ACK is ignored for API state). */
#ifndef APF_HUBCMD_H
#define APF_HUBCMD_H

#include "db.h"

#include <jansson.h>
#include <stddef.h>
#include <sys/socket.h>

/* cluster_leases row of the MQTT link owner (sql/0021): the token its writes carry. */
#define HUBCMD_LEASE "mqtt-link"
/* Size of hub_commands.waiter (+1): a unix socket path or "udp:IP:PORT". */
#define HUBCMD_WAITER_MAX 109

/* The optimistic transition to undo. NULL ids/states = that part untouched. */
struct hubcmd_revert {
	const char *job_id;
	const char *job_from;        /* status the job holds now (the optimistic one) */
	const char *job_to;          /* status to restore */
	int job_clear_started;       /* restore time_started to NULL */
	int job_clear_completed;     /* restore time_completed to NULL */
	int job_unassign;            /* printer_id (and its copies) back to NULL: a dispatched start */
	const char *printer_id;
	const char *printer_from;    /* printer status now */
	const char *printer_to;      /* printer status to restore */
	int printer_cleared_from;    /* bed-cleared flag now, -1 = untouched */
	int printer_cleared_to;      /* flag to restore */
};

struct hubcmd {
	const char *account_id;
	const char *hub_id;
	const char *printer_id;      /* NULL for hub-level actions */
	const char *job_id;          /* may be NULL */
	const char *action;          /* "print.pause", ... (docs/hub-link.md) */
	const json_t *params;        /* borrowed; NULL = {} (never secrets: added at publish time) */
	int expect_ack;              /* 0 for fire-and-forget callers */
	unsigned timeout_ms;         /* 0 = the action's default */
	const char *request_id;
	struct hubcmd_revert revert;
	int awaited;                 /* an API request will wait for the ACK: admitted first */
	char command_id[37];         /* out: minted by hubcmd_insert */
	long limit;                  /* out, on a refusal: the share that is full */
	long retry_after_s;          /* out, on a refusal: when to try again (>= 1) */
};

enum hubcmd_outcome { HC_ACKED, HC_FAILED, HC_TIMEOUT, HC_HUB_OFFLINE };

/* Waiter socket of the calling process (API children call it once after fork): a unix datagram
 * socket at hubcmd_waiter_path(getpid()) and, with conf `waiter_address = IP`, also a UDP socket
 * on IP (port 0, so a worker on another host reaches it). Commands this process inserts with
 * expect_ack then carry hubcmd_waiter(). Returns -1 (and logs) when neither could be bound: the
 * process then polls rows only. */
int hubcmd_waiter_open(void);
/* What this process records as a row's waiter: "udp:IP:PORT" when it has a UDP socket, else
 * its unix path, NULL when it has none. Borrowed. */
const char *hubcmd_waiter(void);
/* "udp:IPv4:PORT" or "udp:[IPv6]:PORT" → address; -1 for anything else. */
int hubcmd_waiter_parse(const char *waiter, struct sockaddr_storage *ss, socklen_t *len);
/* Worker side: sends "<command id> <status>" to a row's waiter (unix path or udp:...), best
 * effort, never blocking. */
void hubcmd_notify(const char *waiter, const char *command_id, const char *status);
/* Closes and unlinks this process's waiter socket (no-op when none). */
void hubcmd_waiter_close(void);
/* Path of the waiter socket of process `pid`: "<dir of worker_socket>/apf-fcgi-<pid>.wait". The
 * FastCGI master unlinks a killed child's with it. -1 when unset or too long. */
int hubcmd_waiter_path(long pid, char *buf, size_t size);

/* Default ACK timeout of an action in ms (§5.2: 15 s start, 20 s filament, 5 s hub.*, else 10 s). */
unsigned hubcmd_default_timeout_ms(const char *action);

/* Inserts the pending row (inside the caller's transaction). Fills c->command_id. An awaited
 * command is admitted first: E_TOO_MANY_HUB_COMMANDS (the account's share is full) or
 * E_SERVER_BUSY (this host's), with c->limit and c->retry_after_s; the caller rolls back. */
enum api_err hubcmd_insert(struct db *db, struct hubcmd *c);

/* Waits until the row is final or timeout_ms + 1 s have passed (then the outcome is HC_TIMEOUT;
 * the worker's own expiry pass records and reverts it). code/message receive the hub's code and
 * text on failure (may be NULL). Ends the admission (hubcmd_wait_done) before it returns. */
enum api_err hubcmd_wait(struct db *db, const char *command_id, unsigned timeout_ms,
			 enum hubcmd_outcome *out, char *code, size_t codesz, char *message,
			 size_t msgsz);

/* Ends this process's admitted wait: its hub_waits row deleted, its slot given back. Idempotent;
 * the FastCGI child also calls it after every request (a request that failed before waiting). */
void hubcmd_wait_done(struct db *db);

/* API error for an outcome: E_OK, E_HUB_COMMAND_FAILED, E_HUB_TIMEOUT, E_HUB_OFFLINE. */
enum api_err hubcmd_outcome_err(enum hubcmd_outcome o);

/* Worker side, one transaction: moves the row from pending/sent to `status` ("sent" is not
 * final: use hubcmd_mark_sent) — "acked", "failed", "timeout" or "expired" — with the ACK's code,
 * message, result and hub timestamps (0 = none), and applies the revert unless acked.
 * A hub lost while waiting is status "failed" with code "HUB_OFFLINE". */
enum api_err hubcmd_finish(struct db *db, const char *command_id, const char *status,
			   const char *code, const char *message, const json_t *result,
			   long long hub_received_at, long long hub_acked_at, int *changed);

/* Worker side, the common case in one statement (autocommit): a positive ACK from hub_id for a
 * row of that hub that is still pending/sent and not expired → acked (no revert to apply), and
 * `waiter` (may be NULL; the row's waiter, remembered from publishing) is notified. *changed = 0
 * when the row did not qualify: the caller then takes hubcmd_finish, which sorts out unknown,
 * foreign, final and expired rows. */
enum api_err hubcmd_ack_fast(struct db *db, const char *command_id, const char *hub_id,
			     const char *code, const char *message, const json_t *result,
			     long long hub_received_at, long long hub_acked_at, const char *waiter,
			     int *changed);

/* pending → sent (sent_at = now, worker_id). *changed = 0 when it was not pending. */
enum api_err hubcmd_mark_sent(struct db *db, const char *command_id, const char *worker_id,
			      int *changed);

/* Fencing (docs/scale-out.md, "Hub link and waiters"): the worker holding the MQTT link sets its
 * lease token (0 = not fenced, the default for every other process). Then hubcmd_mark_sent,
 * hubcmd_ack_fast and hubcmd_finish change nothing (*changed = 0) once cluster_leases' token for
 * HUBCMD_LEASE is another one. */
void hubcmd_fence(long long token);
/* Inside a transaction: *ok 0 when a token is set and the lease row (read with a shared lock)
 * holds another one. */
enum api_err hubcmd_fence_check(struct db *db, int *ok);

#endif
