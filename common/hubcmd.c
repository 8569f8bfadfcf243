#include "hubcmd.h"

#include "budget.h"
#include "cfg.h"
#include "log.h"
#include "util.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* How long an API request keeps waiting after its command's expiry: the worker's expiry pass
 * (every 250 ms) records the timeout well within it. */
#define WAIT_GRACE_MS 1000

static int waiter_fd = -1; /* this process's waiter socket (API children), -1 when none */
static char waiter_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int waiter_udp = -1; /* its UDP socket on conf waiter_address, -1 when none */
static char waiter_addr[HUBCMD_WAITER_MAX]; /* "udp:IP:PORT" of waiter_udp, "" when none */
static long long fence_token; /* the link owner's lease token; 0 = writes not fenced */

/* Writes of the link owner are refused once its lease token moved on (docs/scale-out.md). */
#define FENCE_SQL \
	" AND (? = 0 OR ? = (SELECT l.token FROM cluster_leases l WHERE l.name = '" HUBCMD_LEASE "'))"
#define FENCE_ARGS DI(fence_token), DI(fence_token)
static char wait_id[37];   /* the command this process was admitted to wait for, "" when none */

static const struct db_query Q_INSERT = {
	"INSERT INTO hub_commands (command_id, account_id, hub_id, printer_id, job_id, action,"
	" params, expect_ack, status, revert, timeout_ms, expires_at, request_id, waiter)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, NOW(3) + INTERVAL ? MICROSECOND, ?, ?)"
};
/* Admission of an awaited command (hub_waits, sql/0009): the account's lock row first, then its
 * open waits by a locking read (the latest committed rows, whatever the transaction read before). */
static const struct db_query Q_WAIT_LOCK = {
	"INSERT INTO hub_wait_locks (account_id, admissions) VALUES (?, 1)"
	" ON DUPLICATE KEY UPDATE admissions = admissions + 1"
};
static const struct db_query Q_WAIT_PURGE = {
	"DELETE FROM hub_waits WHERE account_id = ? AND expires_at <= NOW(3)"
};
static const struct db_query Q_WAIT_COUNT = {
	"SELECT COUNT(*), CEIL(TIMESTAMPDIFF(MICROSECOND, NOW(3), MIN(expires_at)) / 1000000)"
	" FROM hub_waits WHERE account_id = ? LOCK IN SHARE MODE"
};
static const struct db_query Q_WAIT_INSERT = {
	"INSERT INTO hub_waits (command_id, account_id, expires_at)"
	" VALUES (?, ?, NOW(3) + INTERVAL ? MICROSECOND)"
};
static const struct db_query Q_WAIT_DONE = { "DELETE FROM hub_waits WHERE command_id = ?" };
static const struct db_query Q_STATUS = {
	"SELECT status, IFNULL(ack_code, ''), IFNULL(ack_message, '') FROM hub_commands"
	" WHERE command_id = ?"
};
static const struct db_query Q_LOCK = {
	"SELECT status, revert, expires_at < NOW(3), waiter FROM hub_commands"
	" WHERE command_id = ? FOR UPDATE"
};
static const struct db_query Q_FINISH = {
	"UPDATE hub_commands SET status = ?, ack_ok = ?, ack_code = ?, ack_message = ?,"
	" ack_result = ?, hub_received_at = ?, hub_acked_at = ?, finished_at = NOW(3),"
	" revert_applied = ? WHERE command_id = ?" FENCE_SQL
};
static const struct db_query Q_ACK = {
	"UPDATE hub_commands SET status = 'acked', ack_ok = 1, ack_code = ?, ack_message = ?,"
	" ack_result = ?, hub_received_at = ?, hub_acked_at = ?, finished_at = NOW(3)"
	" WHERE command_id = ? AND hub_id = ? AND status IN ('pending', 'sent')"
	" AND expires_at >= NOW(3)" FENCE_SQL
};
static const struct db_query Q_SENT = {
	"UPDATE hub_commands SET status = 'sent', sent_at = NOW(3), worker_id = ?"
	" WHERE command_id = ? AND status = 'pending'" FENCE_SQL
};
static const struct db_query Q_FENCE = {
	"SELECT token FROM cluster_leases WHERE name = '" HUBCMD_LEASE "' LOCK IN SHARE MODE"
};
static const struct db_query Q_REVERT_JOB = {
	"UPDATE print_jobs SET status = ?, time_started = IF(?, NULL, time_started),"
	" time_completed = IF(?, NULL, time_completed), printer_id = IF(?, NULL, printer_id),"
	" printer_name = IF(?, NULL, printer_name), printer_model = IF(?, NULL, printer_model),"
	" updated_at = NOW(3) WHERE id = ? AND status = ?"
};
static const struct db_query Q_REVERT_PRINTER = {
	"UPDATE printers SET status = ?, updated_at = NOW(3) WHERE id = ? AND status = ?"
};
static const struct db_query Q_REVERT_CLEARED = {
	"UPDATE printers SET cleared = ?, updated_at = NOW(3) WHERE id = ? AND cleared = ?"
};

static const struct {
	const char *action;
	unsigned ms;
} timeouts[] = {
	{ "print.start", 15000 },
	{ "filament.load", 20000 },
	{ "filament.unload", 20000 },
	{ "hub.discover", 5000 },
	{ "hub.config", 5000 },
	{ "hub.disconnect", 5000 },
};

unsigned hubcmd_default_timeout_ms(const char *action)
{
	for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++)
		if (strcmp(timeouts[i].action, action) == 0)
			return timeouts[i].ms;
	return 10000;
}

static json_t *revert_json(const struct hubcmd_revert *rv)
{
	json_t *o = json_object();
	if (rv->job_id && rv->job_from && rv->job_to) {
		json_object_set_new(o, "job_id", json_string(rv->job_id));
		json_object_set_new(o, "job_from", json_string(rv->job_from));
		json_object_set_new(o, "job_to", json_string(rv->job_to));
		json_object_set_new(o, "job_clear_started", json_boolean(rv->job_clear_started));
		json_object_set_new(o, "job_clear_completed", json_boolean(rv->job_clear_completed));
		if (rv->job_unassign)
			json_object_set_new(o, "job_unassign", json_true());
	}
	if (rv->printer_id && rv->printer_from && rv->printer_to) {
		json_object_set_new(o, "printer_id", json_string(rv->printer_id));
		json_object_set_new(o, "printer_from", json_string(rv->printer_from));
		json_object_set_new(o, "printer_to", json_string(rv->printer_to));
	}
	if (rv->printer_id && rv->printer_cleared_from >= 0) {
		json_object_set_new(o, "printer_id", json_string(rv->printer_id));
		json_object_set_new(o, "cleared_from", json_integer(rv->printer_cleared_from));
		json_object_set_new(o, "cleared_to", json_integer(rv->printer_cleared_to));
	}
	return o;
}

/* The account's share (across hosts, in MariaDB), then the host's share (a slot). */
static enum api_err admit(struct db *db, struct hubcmd *c)
{
	struct db_res res;
	enum api_err err = db_exec(db, &Q_WAIT_LOCK, DB_ARGS(DS(c->account_id)), NULL);
	if (!err)
		err = db_exec(db, &Q_WAIT_PURGE, DB_ARGS(DS(c->account_id)), NULL);
	if (!err)
		err = db_exec(db, &Q_WAIT_COUNT, DB_ARGS(DS(c->account_id)), &res);
	if (err)
		return err;
	long long open = db_get_int(&res, 0, 0, 0), soonest = db_get_int(&res, 0, 1, 1);
	db_res_free(&res);
	c->limit = budget_hub_waits_per_account();
	c->retry_after_s = soonest < 1 ? 1 : (long)soonest;
	if (open >= c->limit)
		return E_TOO_MANY_HUB_COMMANDS;
	c->limit = budget_hub_waits_per_host();
	c->retry_after_s = 1;
	if (!budget_slot_take(SLOT_HUB_WAIT))
		return E_SERVER_BUSY;
	return E_OK;
}

enum api_err hubcmd_insert(struct db *db, struct hubcmd *c)
{
	if (util_uuid(c->command_id) < 0)
		return E_INTERNAL_ERROR;
	unsigned ms = c->timeout_ms ? c->timeout_ms : hubcmd_default_timeout_ms(c->action);
	c->timeout_ms = ms;
	if (c->awaited) {
		enum api_err e = admit(db, c);
		if (e)
			return e;
	}
	json_t *rv = revert_json(&c->revert);
	char *rvtext = json_object_size(rv) ? json_dumps(rv, JSON_COMPACT) : NULL;
	char *ptext = c->params ? json_dumps(c->params, JSON_COMPACT) : strdup("{}");
	json_decref(rv);
	enum api_err err = E_INTERNAL_ERROR;
	if (ptext)
		err = db_exec(db, &Q_INSERT,
			      DB_ARGS(DS(c->command_id), DS(c->account_id), DS(c->hub_id),
				      DS(c->printer_id), DS(c->job_id), DS(c->action), DS(ptext),
				      DI(c->expect_ack ? 1 : 0), DS(rvtext), DI(ms),
				      DI((long long)ms * 1000),
				      DS(c->request_id ? c->request_id : *log_request() ? log_request() : NULL),
				      DS(c->expect_ack ? hubcmd_waiter() : NULL)),
			      NULL);
	free(rvtext);
	free(ptext);
	if (!err && c->awaited) {
		err = db_exec(db, &Q_WAIT_INSERT,
			      DB_ARGS(DS(c->command_id), DS(c->account_id),
				      DI(((long long)ms + WAIT_GRACE_MS) * 1000)),
			      NULL);
		if (!err)
			memcpy(wait_id, c->command_id, sizeof wait_id);
	}
	return err;
}

void hubcmd_wait_done(struct db *db)
{
	if (wait_id[0])
		(void)db_exec(db, &Q_WAIT_DONE, DB_ARGS(DS(wait_id)), NULL);
	wait_id[0] = '\0';
	budget_slot_release(SLOT_HUB_WAIT);
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000L };
	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ waiter notification */


int hubcmd_waiter_path(long pid, char *buf, size_t size)
{
	const char *ws = cfg_str("worker_socket", NULL);
	if (!ws || !*ws)
		return -1;
	const char *slash = strrchr(ws, '/');
	int n = snprintf(buf, size, "%.*sapf-fcgi-%ld.wait", slash ? (int)(slash - ws + 1) : 0, ws,
			 pid);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Binds the UDP waiter socket on conf waiter_address (port 0) and records its address. */
static int waiter_udp_open(const char *ip)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char probe[HUBCMD_WAITER_MAX];
	int v6 = strchr(ip, ':') != NULL;
	snprintf(probe, sizeof probe, v6 ? "udp:[%s]:0" : "udp:%s:0", ip);
	if (hubcmd_waiter_parse(probe, &ss, &len) < 0) {
		log_warn("waiter_address %s is not an IP address; no UDP waiter socket", ip);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		log_warn("UDP waiter socket on %s: %s", ip, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	unsigned port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						       : ((struct sockaddr_in *)&ss)->sin_port);
	snprintf(waiter_addr, sizeof waiter_addr, v6 ? "udp:[%s]:%u" : "udp:%s:%u", ip, port);
	waiter_udp = fd;
	return 0;
}

int hubcmd_waiter_open(void)
{
	hubcmd_waiter_close();
	const char *ip = cfg_str("waiter_address", NULL);
	int udp = ip ? waiter_udp_open(ip) : -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (hubcmd_waiter_path((long)getpid(), sa.sun_path, sizeof sa.sun_path) < 0)
		return udp;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	unlink(sa.sun_path); /* left by a killed process that had this pid */
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		log_warn("hub command waiter socket %s: %s; %s", sa.sun_path, strerror(errno),
			 udp == 0 ? "UDP only" : "polling command rows instead");
		if (fd >= 0)
			close(fd);
		return udp;
	}
	chmod(sa.sun_path, 0660); /* the worker may run as another user of the group */
	memcpy(waiter_path, sa.sun_path, sizeof waiter_path);
	waiter_fd = fd;
	return 0;
}

void hubcmd_waiter_close(void)
{
	if (waiter_udp >= 0)
		close(waiter_udp);
	waiter_udp = -1;
	waiter_addr[0] = '\0';
	if (waiter_fd < 0)
		return;
	close(waiter_fd);
	unlink(waiter_path);
	waiter_fd = -1;
	waiter_path[0] = '\0';
}

const char *hubcmd_waiter(void)
{
	if (waiter_udp >= 0)
		return waiter_addr;
	return waiter_fd >= 0 ? waiter_path : NULL;
}

int hubcmd_waiter_parse(const char *waiter, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *p = waiter, *colon;
	if (strncmp(p, "udp:", 4) != 0)
		return -1;
	p += 4;
	if (*p == '[') {
		const char *close_br = strchr(p, ']');
		if (!close_br || close_br[1] != ':' || (size_t)(close_br - p - 1) >= sizeof host)
			return -1;
		snprintf(host, sizeof host, "%.*s", (int)(close_br - p - 1), p + 1);
		colon = close_br + 1;
	} else {
		colon = strrchr(p, ':');
		if (!colon || (size_t)(colon - p) >= sizeof host)
			return -1;
		snprintf(host, sizeof host, "%.*s", (int)(colon - p), p);
	}
	char *end;
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || port < 0 || port > 65535)
		return -1;
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof *v4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof *v6;
		return 0;
	}
	return -1;
}

/* Worker side: one datagram, "<command id> <final status>", to the waiting API process: its unix
 * socket path, or "udp:IP:PORT" (an API process on another host). Best effort: a waiter that is
 * gone has nobody to answer, and a lost datagram only delays the waiter until its next look at
 * the row. The datagram only wakes the waiter, which then reads the row. */
void hubcmd_notify(const char *waiter, const char *command_id, const char *status)
{
	static int fd = -1, fd4 = -1, fd6 = -1;
	char msg[64];
	int n = snprintf(msg, sizeof msg, "%s %s", command_id, status);
	if (n <= 0 || (size_t)n >= sizeof msg)
		return;
	if (strncmp(waiter, "udp:", 4) == 0) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (hubcmd_waiter_parse(waiter, &ss, &len) < 0)
			return;
		int *f = ss.ss_family == AF_INET6 ? &fd6 : &fd4;
		if (*f < 0)
			*f = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (*f >= 0)
			(void)sendto(*f, msg, (size_t)n, 0, (struct sockaddr *)&ss, len);
		return;
	}
	if (fd < 0)
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		(void)util_dgram_send(fd, waiter, msg, (size_t)n);
}

/* Drains fd; 1 when a datagram of command_id was among them. */
static int drain_for(int fd, const char *command_id)
{
	size_t idlen = strlen(command_id);
	int hit = 0;
	char buf[64];
	ssize_t n;
	while (fd >= 0 && (n = recv(fd, buf, sizeof buf - 1, 0)) >= 0) {
		buf[n] = '\0';
		if ((size_t)n > idlen && buf[idlen] == ' ' && memcmp(buf, command_id, idlen) == 0)
			hit = 1;
	}
	return hit;
}

/* Waits until `until_ms` for this command's datagram on the waiter sockets: 1 it came, 0 not.
 * The datagram is only a wake-up (a forged or late one changes nothing): the caller reads the
 * row. Datagrams of other commands (ones this process stopped waiting for) are dropped. */
static int await_datagram(const char *command_id, int64_t until_ms)
{
	for (;;) {
		int a = drain_for(waiter_fd, command_id), b = drain_for(waiter_udp, command_id);
		if (a || b)
			return 1;
		int64_t left = until_ms - util_now_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd[2] = { { .fd = waiter_fd, .events = POLLIN },
					 { .fd = waiter_udp, .events = POLLIN } };
		if (poll(pfd, 2, (int)left) < 0 && errno != EINTR)
			return 0;
	}
}

static int final_status(const char *s, enum hubcmd_outcome *out, const char *code)
{
	if (strcmp(s, "acked") == 0)
		*out = HC_ACKED;
	else if (strcmp(s, "failed") == 0)
		*out = strcmp(code, "HUB_OFFLINE") == 0 ? HC_HUB_OFFLINE : HC_FAILED;
	else if (strcmp(s, "timeout") == 0 || strcmp(s, "expired") == 0)
		*out = HC_TIMEOUT;
	else
		return 0;
	return 1;
}

/* Reads the row once; 1 when it is final (out, code and message filled). */
static enum api_err read_outcome(struct db *db, const char *command_id, enum hubcmd_outcome *out,
				 char *code, size_t codesz, char *message, size_t msgsz,
				 int *final)
{
	struct db_res res;
	enum api_err err = db_exec(db, &Q_STATUS, DB_ARGS(DS(command_id)), &res);
	*final = !err && res.nrows == 1 &&
		 final_status(db_get(&res, 0, 0), out, db_get(&res, 0, 1));
	if (*final && code)
		snprintf(code, codesz, "%s", db_get(&res, 0, 1));
	if (*final && message)
		snprintf(message, msgsz, "%s", db_get(&res, 0, 2));
	db_res_free(&res);
	return err;
}

static enum api_err wait_final(struct db *db, const char *command_id, unsigned timeout_ms,
			       enum hubcmd_outcome *out, char *code, size_t codesz, char *message,
			       size_t msgsz)
{
	int64_t deadline = util_now_ms() + timeout_ms + WAIT_GRACE_MS;
	/* With a waiter socket the worker's datagram ends the wait; the row is still read every
	 * 5, 10, 20 ... 100 ms in case a datagram is lost. Without one: 0.25, 0.5, 1 ... 100 ms. */
	int notified = waiter_fd >= 0 || waiter_udp >= 0;
	unsigned pause_us = notified ? 5000 : 250;
	*out = HC_TIMEOUT;
	for (int first = 1;; first = 0) {
		int final = 0;
		if (!(first && notified)) {
			enum api_err err = read_outcome(db, command_id, out, code, codesz, message,
							msgsz, &final);
			if (err || final)
				return err;
		}
		int64_t now = util_now_ms();
		if (now >= deadline)
			return E_OK; /* HC_TIMEOUT: the worker's expiry pass records and reverts it */
		if (now + pause_us / 1000 > deadline)
			pause_us = (unsigned)(deadline - now) * 1000;
		if (notified && await_datagram(command_id, now + (pause_us + 999) / 1000))
			continue; /* woken: read the row now */
		if (!notified)
			sleep_us(pause_us);
		pause_us = pause_us < 50000 ? pause_us * 2 : 100000;
	}
}

enum api_err hubcmd_wait(struct db *db, const char *command_id, unsigned timeout_ms,
			 enum hubcmd_outcome *out, char *code, size_t codesz, char *message,
			 size_t msgsz)
{
	enum api_err err = wait_final(db, command_id, timeout_ms, out, code, codesz, message, msgsz);
	hubcmd_wait_done(db);
	return err;
}

enum api_err hubcmd_outcome_err(enum hubcmd_outcome o)
{
	switch (o) {
	case HC_ACKED:
		return E_OK;
	case HC_FAILED:
		return E_HUB_COMMAND_FAILED;
	case HC_HUB_OFFLINE:
		return E_HUB_OFFLINE;
	case HC_TIMEOUT:
		break;
	}
	return E_HUB_TIMEOUT;
}

/* Compare-and-set restore of the optimistic transition; returns 1 when anything was restored. */
static enum api_err apply_revert(struct db *db, const json_t *rv, int *applied)
{
	enum api_err err = E_OK;
	*applied = 0;
	const char *job = json_string_value(json_object_get(rv, "job_id"));
	const char *printer = json_string_value(json_object_get(rv, "printer_id"));
	if (job) {
		int unassign = json_is_true(json_object_get(rv, "job_unassign"));
		err = db_exec(db, &Q_REVERT_JOB,
			      DB_ARGS(DS(json_string_value(json_object_get(rv, "job_to"))),
				      DI(json_is_true(json_object_get(rv, "job_clear_started"))),
				      DI(json_is_true(json_object_get(rv, "job_clear_completed"))),
				      DI(unassign), DI(unassign), DI(unassign), DS(job), DS(json_string_value(json_object_get(rv, "job_from")))),
			      NULL);
		int moved = !err && db_affected(db) > 0;
		*applied |= moved;
		if (moved)
			err = webhook_job_reverted(db, job,
						   json_string_value(json_object_get(rv, "job_from")),
						   json_string_value(json_object_get(rv, "job_to")));
	}
	if (!err && printer && json_object_get(rv, "printer_from")) {
		err = db_exec(db, &Q_REVERT_PRINTER,
			      DB_ARGS(DS(json_string_value(json_object_get(rv, "printer_to"))),
				      DS(printer),
				      DS(json_string_value(json_object_get(rv, "printer_from")))),
			      NULL);
		*applied |= db_affected(db) > 0;
	}
	if (!err && printer && json_object_get(rv, "cleared_from")) {
		err = db_exec(db, &Q_REVERT_CLEARED,
			      DB_ARGS(DI(json_integer_value(json_object_get(rv, "cleared_to"))),
				      DS(printer),
				      DI(json_integer_value(json_object_get(rv, "cleared_from")))),
			      NULL);
		*applied |= db_affected(db) > 0;
	}
	return err;
}

enum api_err hubcmd_finish(struct db *db, const char *command_id, const char *status,
			   const char *code, const char *message, const json_t *result,
			   long long hub_received_at, long long hub_acked_at, int *changed)
{
	struct db_res res;
	*changed = 0;
	enum api_err err = db_begin(db);
	if (err)
		return err;
	err = db_exec(db, &Q_LOCK, DB_ARGS(DS(command_id)), &res);
	if (err)
		goto fail;
	const char *cur = db_get(&res, 0, 0);
	if (res.nrows != 1 || !cur || (strcmp(cur, "pending") != 0 && strcmp(cur, "sent") != 0)) {
		db_res_free(&res);
		db_rollback(db);
		return E_OK; /* unknown, or already final: duplicate / late ACK */
	}
	int acked = strcmp(status, "acked") == 0, applied = 0;
	if (acked && db_get_int(&res, 0, 2, 0)) {
		/* an ACK after the command expired (its worker was away): the API has answered
		 * 504 and promised a revert, so it counts as a timeout (docs/hub-link.md); the
		 * printer's next status report reconciles what it really did */
		log_warn("command %s: ACK after expiry recorded as timeout", command_id);
		if (!message || !*message)
			message = "positive ACK arrived after the command expired";
		status = "timeout";
		acked = 0;
	}
	json_t *rv = db_get(&res, 0, 1) ? json_loads(db_get(&res, 0, 1), 0, NULL) : NULL;
	char waiter[HUBCMD_WAITER_MAX] = "";
	if (db_get(&res, 0, 3))
		snprintf(waiter, sizeof waiter, "%s", db_get(&res, 0, 3));
	db_res_free(&res);
	if (!acked && rv)
		err = apply_revert(db, rv, &applied);
	json_decref(rv);
	if (err)
		goto fail;
	char *rtext = result ? json_dumps(result, JSON_COMPACT) : NULL;
	err = db_exec(db, &Q_FINISH,
		      DB_ARGS(DS(status), DI(acked), DS(code), DS(message), DS(rtext),
			      hub_received_at ? DI(hub_received_at) : DNULL,
			      hub_acked_at ? DI(hub_acked_at) : DNULL,
			      acked ? DNULL : DI(applied), DS(command_id), FENCE_ARGS),
		      NULL);
	free(rtext);
	if (!err && db_affected(db) != 1) {
		log_warn("command %s: outcome %s not recorded: this worker's MQTT link lease is"
			 " stale (token %lld)", command_id, status, fence_token);
		db_rollback(db);
		return E_OK;
	}
	if (err)
		goto fail;
	err = db_commit(db);
	if (!err) {
		*changed = 1;
		if (waiter[0])
			hubcmd_notify(waiter, command_id, status);
	}
	return err;
fail:
	db_rollback(db);
	return err;
}

enum api_err hubcmd_ack_fast(struct db *db, const char *command_id, const char *hub_id,
			     const char *code, const char *message, const json_t *result,
			     long long hub_received_at, long long hub_acked_at, const char *waiter,
			     int *changed)
{
	char *rtext = result ? json_dumps(result, JSON_COMPACT) : NULL;
	enum api_err err = db_exec(db, &Q_ACK,
				   DB_ARGS(DS(code), DS(message), DS(rtext),
					   hub_received_at ? DI(hub_received_at) : DNULL,
					   hub_acked_at ? DI(hub_acked_at) : DNULL, DS(command_id),
					   DS(hub_id), FENCE_ARGS),
				   NULL);
	free(rtext);
	*changed = !err && db_affected(db) > 0;
	if (*changed && waiter && *waiter)
		hubcmd_notify(waiter, command_id, "acked");
	return err;
}

enum api_err hubcmd_mark_sent(struct db *db, const char *command_id, const char *worker_id,
			      int *changed)
{
	enum api_err err = db_exec(db, &Q_SENT,
				   DB_ARGS(DS(worker_id), DS(command_id), FENCE_ARGS), NULL);
	*changed = !err && db_affected(db) > 0;
	return err;
}

void hubcmd_fence(long long token)
{
	fence_token = token;
}

enum api_err hubcmd_fence_check(struct db *db, int *ok)
{
	*ok = 1;
	if (!fence_token)
		return E_OK;
	struct db_res res;
	enum api_err err = db_exec(db, &Q_FENCE, NULL, 0, &res);
	*ok = !err && res.nrows == 1 && db_get_int(&res, 0, 0, 0) == fence_token;
	db_res_free(&res);
	return err;
}
