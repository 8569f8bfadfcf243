/* th.c - fake hubs, apf-admin and database polling for the hub-link tests (see th.h). */
#include "th.h"

#include "cfg.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_HUBS 64

static struct thub *hubs[MAX_HUBS];
static int nhubs;

int64_t th_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void th_sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) < 0 && errno == EINTR) {
	}
}

/* ------------------------------------------------------------------ apf-admin */

int th_admin(const char *const *args, json_t **out)
{
	char bin[512];
	const char *dir = getenv("APF_BIN");
	snprintf(bin, sizeof bin, "%s/apf-admin", dir && *dir ? dir : "build/bin");
	const char *argv[32];
	int n = 0;
	argv[n++] = bin;
	for (int i = 0; args[i] && n < 29; i++)
		argv[n++] = args[i];
	argv[n++] = "--json";
	argv[n] = NULL;
	int pfd[2];
	*out = NULL;
	if (pipe(pfd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	char buf[16384];
	size_t len = 0;
	ssize_t r;
	while (len < sizeof buf - 1 && (r = read(pfd[0], buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	close(pfd[0]);
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	*out = json_loads(buf, 0, NULL);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *th_account(void)
{
	static char id[37];
	if (!id[0]) {
		char name[64];
		snprintf(name, sizeof name, "hub tests %d", (int)getpid());
		const char *args[] = { "account", "create", "--name", name, NULL };
		json_t *out = NULL;
		if (th_admin(args, &out) == 0 && json_string_value(json_object_get(out, "id")))
			snprintf(id, sizeof id, "%s", json_string_value(json_object_get(out, "id")));
		json_decref(out);
	}
	return id;
}

int th_hub_create(struct thub *h)
{
	static int seq;
	char name[64];
	snprintf(name, sizeof name, "test hub %d-%d", (int)getpid(), ++seq);
	int rc = th_hub_create_named(h, name);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(h->id[0] != '\0');
	return h->id[0] ? 0 : -1;
}

int th_hub_create_named(struct thub *h, const char *name)
{
	memset(h, 0, sizeof *h);
	h->connack = -1;
	const char *args[] = { "hub", "create", "--account", th_account(), "--name", name, NULL };
	json_t *out = NULL;
	int rc = th_admin(args, &out);
	const char *id = json_string_value(json_object_get(out, "id"));
	const char *pw = json_string_value(json_object_get(out, "mqtt_password"));
	if (rc == 0 && id && pw) {
		snprintf(h->id, sizeof h->id, "%s", id);
		snprintf(h->password, sizeof h->password, "%s", pw);
	}
	json_decref(out);
	return rc;
}

int th_port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* ------------------------------------------------------------------ messages */

json_t *th_msg(const char *type, const char *hub_id, json_t *extra)
{
	json_t *m = json_pack("{s:i,s:s,s:s}", "v", 1, "type", type, "hub_id", hub_id);
	if (extra) {
		json_object_update(m, extra);
		json_decref(extra);
	}
	return m;
}

static long long wall_ms(void)
{
	return (long long)util_now_ms();
}

json_t *th_presence(const struct thub *h, bool online, const char *session)
{
	return th_msg("presence", h->id,
		      json_pack("{s:b,s:s,s:I,s:s?,s:s,s:s,s:i,s:s,s:s,s:[ss],s:i}", "online", online,
				"session_id", session, "ts", (json_int_t)wall_ms(), "reason",
				online ? NULL : "lwt", "firmware_version", "1.2.0",
				"hardware_version", "ESP32-S3", "protocol_version", 1,
				"mac_address", "a4:cf:12:34:56:78", "lan_ip", "192.168.1.20",
				"capabilities", "bambu", "discovery", "max_printers", 5));
}

/* ------------------------------------------------------------------ fake hub client */

static void cb_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	struct thub *h = ud;
	h->connack = rc;
}

static void cb_disconnect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	(void)rc;
	struct thub *h = ud;
	h->lost = 1;
}

static void cb_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	(void)m;
	(void)mid;
	struct thub *h = ud;
	h->subacked++;
	h->granted = n > 0 ? granted[0] : -1;
}

static void cb_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	(void)m;
	struct thub *h = ud;
	if (h->ninbox >= TH_INBOX)
		return;
	h->inbox_topic[h->ninbox] = strdup(msg->topic);
	h->inbox[h->ninbox] = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL);
	h->ninbox++;
}

static void hub_register(struct thub *h)
{
	for (int i = 0; i < nhubs; i++)
		if (hubs[i] == h)
			return;
	if (nhubs < MAX_HUBS)
		hubs[nhubs++] = h;
}

static void hub_unregister(struct thub *h)
{
	for (int i = 0; i < nhubs; i++)
		if (hubs[i] == h) {
			hubs[i] = hubs[--nhubs];
			return;
		}
}

void th_pump(long ms)
{
	int64_t end = th_now_ms() + ms;
	do {
		for (int i = 0; i < nhubs; i++)
			if (hubs[i]->mosq)
				mosquitto_loop(hubs[i]->mosq, 0, 8);
		th_sleep_ms(5);
	} while (th_now_ms() < end);
}

static int wait_flag(const int *flag, int want_at_least, long timeout_ms)
{
	int64_t end = th_now_ms() + timeout_ms;
	while (*flag < want_at_least && th_now_ms() < end)
		th_pump(10);
	return *flag >= want_at_least ? 0 : -1;
}

int th_hub_connect(struct thub *h, bool online)
{
	char topic[128];
	if (util_uuid(h->session) < 0)
		return -1;
	int port = (int)cfg_int("mqtt_port", 1883);
	const char *host = cfg_str("mqtt_host", "127.0.0.1");
	/* a broker restarting (broker suite) refuses for a moment: retry */
	for (int attempt = 0; attempt < 40; attempt++) {
		h->connack = -1;
		h->lost = 0;
		h->subacked = 0;
		h->mosq = mosquitto_new(h->id, true, h);
		if (!h->mosq)
			return -1;
		mosquitto_username_pw_set(h->mosq, h->id, h->password);
		json_t *will = th_presence(h, false, h->session);
		char *wt = json_dumps(will, JSON_COMPACT);
		snprintf(topic, sizeof topic, "apf/v1/%s/state", h->id);
		mosquitto_will_set(h->mosq, topic, (int)strlen(wt), wt, 1, true);
		free(wt);
		json_decref(will);
		mosquitto_connect_callback_set(h->mosq, cb_connect);
		mosquitto_disconnect_callback_set(h->mosq, cb_disconnect);
		mosquitto_subscribe_callback_set(h->mosq, cb_subscribe);
		mosquitto_message_callback_set(h->mosq, cb_message);
		hub_register(h);
		if (mosquitto_connect(h->mosq, host, port, 30) == MOSQ_ERR_SUCCESS) {
			int64_t end = th_now_ms() + 3000;
			while (h->connack < 0 && !h->lost && th_now_ms() < end)
				th_pump(5);
			if (h->connack == 0)
				break;
		}
		hub_unregister(h);
		mosquitto_destroy(h->mosq);
		h->mosq = NULL;
		th_sleep_ms(250);
	}
	if (!h->mosq)
		return -1;
	snprintf(topic, sizeof topic, "apf/v1/%s/cmd", h->id);
	mosquitto_subscribe(h->mosq, NULL, topic, 1);
	if (wait_flag(&h->subacked, 1, 5000) < 0)
		return -1;
	if (online) {
		json_t *p = th_presence(h, true, h->session);
		char *t = json_dumps(p, JSON_COMPACT);
		snprintf(topic, sizeof topic, "apf/v1/%s/state", h->id);
		th_pub_raw(h, topic, t, strlen(t), true);
		free(t);
		json_decref(p);
	}
	return 0;
}

static const struct db_query Q_TH_HUB_SESSION = {
	"SELECT IF(is_online = 1, IFNULL(session_id, ''), 'offline') FROM hubs WHERE id = ?"
};

int th_hub_up(struct thub *h)
{
	if (th_hub_create(h) < 0)
		return -1;
	int rc = th_hub_connect(h, true);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc)
		return -1;
	long ms = th_wait_eq(&Q_TH_HUB_SESSION, DB_ARGS(DS(h->id)), h->session, 10000);
	CU_ASSERT(ms >= 0);
	/* the printers.sync that follows every connect: not what the tests look for */
	th_pump(50);
	return ms >= 0 ? 0 : -1;
}

static void hub_free(struct thub *h)
{
	if (h->mosq)
		mosquitto_destroy(h->mosq);
	h->mosq = NULL;
	hub_unregister(h);
	th_inbox_clear(h);
}

void th_hub_kill(struct thub *h)
{
	if (!h->mosq)
		return;
	int fd = mosquitto_socket(h->mosq);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	hub_free(h);
}

void th_hub_drop(struct thub *h)
{
	if (!h->mosq)
		return;
	mosquitto_disconnect(h->mosq);
	th_pump(20);
	hub_free(h);
}

void th_hub_close(struct thub *h)
{
	if (!h->mosq)
		return;
	json_t *p = th_presence(h, false, h->session);
	json_object_set_new(p, "reason", json_string("shutdown"));
	th_pub(h, h->id, "state", p);
	json_decref(p);
	th_pump(50);
	mosquitto_disconnect(h->mosq);
	th_pump(20);
	hub_free(h);
}

int th_pub_raw(struct thub *h, const char *topic, const void *payload, size_t len, bool retain)
{
	int rc = mosquitto_publish(h->mosq, NULL, topic, (int)len, payload, 1, retain);
	th_pump(5);
	return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

int th_pub(struct thub *h, const char *topic_hub, const char *kind, const json_t *msg)
{
	char topic[128];
	snprintf(topic, sizeof topic, "apf/v1/%s/%s", topic_hub, kind);
	char *t = json_dumps(msg, JSON_COMPACT);
	int rc = t ? th_pub_raw(h, topic, t, strlen(t), strcmp(kind, "state") == 0) : -1;
	free(t);
	return rc;
}

void th_inbox_clear(struct thub *h)
{
	for (int i = 0; i < h->ninbox; i++) {
		free(h->inbox_topic[i]);
		json_decref(h->inbox[i]);
	}
	h->ninbox = 0;
}

json_t *th_wait_cmd(struct thub *h, const char *action, const char *command_id, long timeout_ms)
{
	int64_t end = th_now_ms() + timeout_ms;
	for (;;) {
		for (int i = 0; i < h->ninbox; i++) {
			json_t *m = h->inbox[i];
			const char *a = json_string_value(json_object_get(m, "action"));
			const char *c = json_string_value(json_object_get(m, "command_id"));
			if ((action && (!a || strcmp(a, action) != 0)) ||
			    (command_id && (!c || strcmp(c, command_id) != 0)))
				continue;
			free(h->inbox_topic[i]);
			memmove(&h->inbox[i], &h->inbox[i + 1],
				(size_t)(h->ninbox - i - 1) * sizeof h->inbox[0]);
			memmove(&h->inbox_topic[i], &h->inbox_topic[i + 1],
				(size_t)(h->ninbox - i - 1) * sizeof h->inbox_topic[0]);
			h->ninbox--;
			return m;
		}
		if (th_now_ms() >= end)
			return NULL;
		th_pump(5);
	}
}

int th_ack(struct thub *h, const json_t *cmd, bool ok, const char *code, const char *message)
{
	json_t *a = th_msg("ack", h->id,
			   json_pack("{s:O,s:O,s:O,s:b,s:s,s:s?,s:I,s:I,s:n}", "command_id",
				     json_object_get(cmd, "command_id"), "action",
				     json_object_get(cmd, "action"), "printer_id",
				     json_object_get(cmd, "printer_id"), "ok", ok, "code",
				     code ? code : ok ? "OK" : "PRINTER_REJECTED", "message", message,
				     "received_at", (json_int_t)wall_ms(), "ts",
				     (json_int_t)wall_ms(), "result"));
	int rc = a ? th_pub(h, h->id, "ack", a) : -1;
	json_decref(a);
	return rc;
}

/* ------------------------------------------------------------------ database */

int th_get(const struct db_query *q, const struct db_arg *args, unsigned nargs, char *out,
	   size_t size)
{
	struct db_res res;
	out[0] = '\0';
	enum api_err err = db_exec(tdb, q, args, nargs, &res);
	int rc = err ? -1 : res.nrows == 0 ? 0 : db_get(&res, 0, 0) ? 1 : 2;
	if (rc == 1)
		snprintf(out, size, "%s", db_get(&res, 0, 0));
	db_res_free(&res);
	return rc;
}

long th_wait_eq(const struct db_query *q, const struct db_arg *args, unsigned nargs,
		const char *want, long timeout_ms)
{
	int64_t t0 = th_now_ms();
	char v[512];
	for (;;) {
		int rc = th_get(q, args, nargs, v, sizeof v);
		if ((rc == 1 && strcmp(v, want) == 0) || (rc == 2 && strcmp(want, "NULL") == 0))
			return (long)(th_now_ms() - t0);
		if (th_now_ms() - t0 >= timeout_ms) {
			fprintf(stderr, "\n  waited %ld ms for \"%s\", have \"%s\" [%.90s]\n",
				timeout_ms, want, rc == 2 ? "NULL" : rc == 0 ? "(no row)" : v, q->sql);
			return -1;
		}
		th_pump(20);
	}
}

int th_get_after(long ms, const struct db_query *q, const struct db_arg *args, unsigned nargs,
		 char *out, size_t size)
{
	th_pump(ms);
	return th_get(q, args, nargs, out, size);
}

void th_exec(const struct db_query *q, const struct db_arg *args, unsigned nargs)
{
	CU_ASSERT_EQUAL(db_exec(tdb, q, args, nargs, NULL), E_OK);
}

static const struct db_query Q_TH_PRINTER = {
	"INSERT INTO printers (id, account_id, hub_id, name, model, connection_type, serial_number,"
	" ip_address, access_code, status, is_connected) VALUES (?, ?, ?, ?, 'P1S', 'bambu',"
	" '01P00A000000001', '192.168.1.40', ?, ?, 1)"
};
static const struct db_query Q_TH_JOB = {
	"INSERT INTO print_jobs (id, account_id, printer_id, file_name, status, time_started)"
	" VALUES (?, ?, ?, 'bracket.gcode.3mf', ?, IF(? IN ('queued'), NULL, NOW(3)))"
};

void th_printer(const struct thub *h, const char *status, const char *access_code, char id[37])
{
	char name[64];
	util_uuid(id);
	snprintf(name, sizeof name, "printer %.8s", id);
	th_exec(&Q_TH_PRINTER, DB_ARGS(DS(id), DS(th_account()), DS(h->id), DS(name),
				       DS(access_code ? access_code : "12345678"), DS(status)));
}

void th_job(const char *printer_id, const char *status, char id[37])
{
	util_uuid(id);
	th_exec(&Q_TH_JOB, DB_ARGS(DS(id), DS(th_account()), DS(printer_id), DS(status),
				   DS(status)));
}

/* ------------------------------------------------------------------ the stack's worker */

int th_worker_log_count(const char *needle)
{
	char path[512];
	snprintf(path, sizeof path, "%s/apf-worker-1.log", cfg_str("log_dir", "var/log"));
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int n = 0;
	char line[8192];
	while (fgets(line, sizeof line, f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

int th_wait_worker_log(const char *needle, long timeout_ms)
{
	int64_t end = th_now_ms() + timeout_ms;
	while (th_worker_log_count(needle) < 1 && th_now_ms() < end)
		th_pump(20);
	return th_worker_log_count(needle);
}

bool th_worker_alive(void)
{
	char path[512];
	snprintf(path, sizeof path, "%s/run/apf-worker-1.pid", cfg_str("var_dir", "var"));
	FILE *f = fopen(path, "r");
	long pid = 0;
	if (!f)
		return false;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid > 1 && kill((pid_t)pid, 0) == 0;
}
