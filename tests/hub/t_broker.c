/* t_broker.c - the broker's side: the ACLs (docs/hub-link.md, "Processes"; docs/scale-out.md,
 * "Broker credentials") as apf-admin sets them in the dynamic-security plugin
 * (a hub cannot read another hub's commands nor publish on its topics; no anonymous or wrong
 * password login), and the worker's reconnect after mosquitto restarts (runs last: it kills the
 * stack's broker by its pid file and starts it again with stack.sh's command line). */
#include "th.h"

#include "cfg.h"
#include "hubcmd.h"
#include "queue.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct db_query Q_B_HUB = {
	"SELECT CONCAT_WS('|', is_online, IFNULL(session_id, '-'), IFNULL(last_seen_at, '-'))"
	" FROM hubs WHERE id = ?"
};
static const struct db_query Q_B_SEEN_OLD = {
	"UPDATE hubs SET last_seen_at = NOW(3) - INTERVAL 1 HOUR WHERE id = ?"
};
static const struct db_query Q_B_SEEN_RECENT = {
	"SELECT last_seen_at > NOW(3) - INTERVAL 30 SECOND FROM hubs WHERE id = ?"
};
static const struct db_query Q_B_ROW = {
	"SELECT status FROM hub_commands WHERE command_id = ?"
};
static const struct db_query Q_B_SESSION = {
	"SELECT IF(is_online = 1, IFNULL(session_id, ''), 'offline') FROM hubs WHERE id = ?"
};

static void insert_command(const struct thub *h, const char *action, char id[37])
{
	struct hubcmd c = {
		.account_id = th_account(),
		.hub_id = h->id,
		.action = action,
		.expect_ack = 1,
		.revert = { .printer_cleared_from = -1, .printer_cleared_to = -1 },
	};
	CU_ASSERT_EQUAL(hubcmd_insert(tdb, &c), E_OK);
	memcpy(id, c.command_id, 37);
	queue_wake();
}

/* ------------------------------------------------------------------ ACL */

static void test_acl_foreign_cmd(void)
{
	struct thub a, b;
	char topic[128], id[37];
	if (th_hub_up(&a) < 0 || th_hub_up(&b) < 0)
		return;
	snprintf(topic, sizeof topic, "apf/v1/%s/cmd", b.id);
	int acks = a.subacked;
	mosquitto_subscribe(a.mosq, NULL, topic, 1);
	int64_t end = th_now_ms() + 5000;
	while (a.subacked == acks && th_now_ms() < end)
		th_pump(10);
	th_inbox_clear(&a);
	insert_command(&b, "status.refresh", id);
	json_t *cmd = th_wait_cmd(&b, "status.refresh", id, 3000);
	CU_ASSERT_PTR_NOT_NULL(cmd); /* B got it ... */
	json_decref(cmd);
	cmd = th_wait_cmd(&a, NULL, id, 500);
	CU_ASSERT_PTR_NULL(cmd);     /* ... A did not */
	json_decref(cmd);
	th_hub_close(&a);
	th_hub_close(&b);
}

static void test_acl_foreign_publish(void)
{
	struct thub a, b;
	char v[256];
	if (th_hub_up(&a) < 0 || th_hub_create(&b) < 0)
		return;
	/* A impersonates B (payload hub_id = B, on B's topics) */
	strcpy(b.session, "11111111-2222-4333-8444-555555555555");
	json_t *p = th_presence(&b, true, b.session);
	th_pub(&a, b.id, "state", p);
	json_decref(p);
	json_t *hb = th_msg("heartbeat", b.id, json_pack("{s:i}", "seq", 1));
	th_pub(&a, b.id, "heartbeat", hb);
	json_decref(hb);
	/* ... and may not send commands either, not even to itself */
	json_t *cmd = th_msg("command", a.id, json_pack("{s:s}", "action", "hub.disconnect"));
	th_pub(&a, a.id, "cmd", cmd);
	json_decref(cmd);
	/* control: A's own heartbeat, published after, is applied */
	th_exec(&Q_B_SEEN_OLD, DB_ARGS(DS(a.id)));
	hb = th_msg("heartbeat", a.id, json_pack("{s:i}", "seq", 2));
	th_pub(&a, a.id, "heartbeat", hb);
	json_decref(hb);
	CU_ASSERT(th_wait_eq(&Q_B_SEEN_RECENT, DB_ARGS(DS(a.id)), "1", 5000) >= 0);
	CU_ASSERT(th_get_after(300, &Q_B_HUB, DB_ARGS(DS(b.id)), v, sizeof v) == 1);
	CU_ASSERT_STRING_EQUAL(v, "0|-|-");
	cmd = th_wait_cmd(&a, "hub.disconnect", NULL, 0); /* its own fake command never came back */
	CU_ASSERT_PTR_NULL(cmd);
	json_decref(cmd);
	th_hub_close(&a);
}

/* A client of this process outside the fake-hub registry: CONNACK code, -1 when none. */
static int cb_rc;
static void cb_connack(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	(void)ud;
	cb_rc = rc;
}

/* client id = user name, as a hub connects (docs/hub-link.md, "Processes") */
static int try_login(const char *user, const char *password)
{
	struct mosquitto *m = mosquitto_new(user, true, NULL);
	if (!m)
		return -1;
	if (user)
		mosquitto_username_pw_set(m, user, password);
	mosquitto_connect_callback_set(m, cb_connack);
	cb_rc = -1;
	int rc = mosquitto_connect(m, cfg_str("mqtt_host", "127.0.0.1"),
				   (int)cfg_int("mqtt_port", 1883), 30);
	int64_t end = th_now_ms() + 5000;
	while (rc == MOSQ_ERR_SUCCESS && cb_rc < 0 && th_now_ms() < end)
		if (mosquitto_loop(m, 20, 1) != MOSQ_ERR_SUCCESS)
			break;
	mosquitto_destroy(m);
	return rc == MOSQ_ERR_SUCCESS ? cb_rc : -2;
}

static void test_acl_logins(void)
{
	struct thub h;
	if (th_hub_create(&h) < 0)
		return;
	CU_ASSERT(try_login(NULL, NULL) > 0);              /* anonymous: refused */
	CU_ASSERT(try_login(h.id, "not-the-password") > 0); /* wrong password: refused */
	CU_ASSERT(try_login("no-such-user", "x") > 0);
	CU_ASSERT_EQUAL(try_login(h.id, h.password), 0); /* the plugin has it at once */
}

/* ------------------------------------------------------------------ broker restart */

static int proc_gone(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && (p[2] == 'Z' || p[2] == 'X');
}

static long broker_pid(void)
{
	FILE *f = fopen(cfg_str("mqtt_pid_file", ""), "r");
	long pid = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

/* mosquitto -c <var_dir>/mq/mosquitto.conf in its own session, output appended to the stack's
 * log, pid written to mqtt_pid_file (as scripts/stack.sh starts it). */
static long broker_start(void)
{
	char conf[512], log[512];
	snprintf(conf, sizeof conf, "%s/mq/mosquitto.conf", cfg_str("var_dir", "var"));
	snprintf(log, sizeof log, "%s/mosquitto.log", cfg_str("log_dir", "var/log"));
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		for (int i = 3; i < 1024; i++)
			close(i);
		execlp("mosquitto", "mosquitto", "-c", conf, (char *)NULL);
		execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *)NULL);
		_exit(127);
	}
	if (pid > 0) {
		FILE *f = fopen(cfg_str("mqtt_pid_file", ""), "w");
		if (f) {
			fprintf(f, "%ld", (long)pid);
			fclose(f);
		}
	}
	return pid;
}

static void test_reconnect_after_broker_restart(void)
{
	struct thub h, h2;
	char id[37], expect[64];
	int port = (int)cfg_int("mqtt_port", 1883);
	if (th_hub_up(&h) < 0)
		return;
	long pid = broker_pid();
	CU_ASSERT_FATAL(pid > 1);
	CU_ASSERT_EQUAL(kill((pid_t)pid, SIGTERM), 0);
	int64_t end = th_now_ms() + 15000;
	while ((!proc_gone(pid) || th_port_open(port)) && th_now_ms() < end)
		th_sleep_ms(50);
	CU_ASSERT_FATAL(proc_gone(pid) && !th_port_open(port));
	th_hub_kill(&h);
	th_sleep_ms(500); /* the worker sees the loss and starts backing off */

	long npid = broker_start();
	CU_ASSERT_FATAL(npid > 0);
	end = th_now_ms() + 15000;
	while (!th_port_open(port) && th_now_ms() < end)
		th_sleep_ms(50);
	CU_ASSERT_FATAL(th_port_open(port));

	/* the hub comes back (new session); the worker reconnects by itself (back-off ≤ 30 s) */
	h2 = h;
	memset(h2.inbox, 0, sizeof h2.inbox);
	h2.ninbox = 0;
	h2.mosq = NULL;
	CU_ASSERT_FATAL(th_hub_connect(&h2, true) == 0);
	CU_ASSERT(th_wait_eq(&Q_B_SESSION, DB_ARGS(DS(h2.id)), h2.session, 45000) >= 0);
	th_inbox_clear(&h2);
	insert_command(&h2, "status.refresh", id);
	json_t *cmd = th_wait_cmd(&h2, "status.refresh", id, 5000);
	CU_ASSERT_PTR_NOT_NULL(cmd);
	if (cmd) {
		CU_ASSERT(th_ack(&h2, cmd, true, NULL, NULL) == 0);
		snprintf(expect, sizeof expect, "acked");
		CU_ASSERT(th_wait_eq(&Q_B_ROW, DB_ARGS(DS(id)), expect, 5000) >= 0);
		json_decref(cmd);
	}
	CU_ASSERT(th_worker_alive());
	th_hub_close(&h2);
}

/* `apf-admin hub create` never puts the hub's password on a command line: it runs no program
 * (a logging mosquitto_passwd stand-in first in PATH is never run; none logs the password) and
 * talks to the broker over MQTT only. The hub can log in. */
static void test_password_not_on_command_line(void)
{
	char dir[] = "/tmp/apf-pwshim-XXXXXX", shim[128], log[128], line[1024];
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(shim, sizeof shim, "%s/mosquitto_passwd", dir);
	snprintf(log, sizeof log, "%s/argv.log", dir);
	FILE *f = fopen(shim, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f, "#!/bin/sh\nprintf '%%s\\n' \"$*\" >> '%s'\nexec /usr/bin/mosquitto_passwd \"$@\"\n",
		log);
	fclose(f);
	chmod(shim, 0755);
	const char *old = getenv("PATH");
	char *saved = strdup(old ? old : "/usr/bin:/bin");
	char path[4096];
	snprintf(path, sizeof path, "%s:%s", dir, saved);
	setenv("PATH", path, 1);
	struct thub h;
	int made = th_hub_create(&h);
	setenv("PATH", saved, 1);
	free(saved);
	CU_ASSERT_EQUAL_FATAL(made, 0);
	int runs = 0, leaked = 0;
	f = fopen(log, "r");
	while (f && fgets(line, sizeof line, f)) {
		runs++;
		leaked += strstr(line, h.password) != NULL;
	}
	if (f)
		fclose(f);
	CU_ASSERT_EQUAL(runs, 0);
	CU_ASSERT_EQUAL(leaked, 0);
	unlink(log);
	unlink(shim);
	rmdir(dir);
	CU_ASSERT_EQUAL(th_hub_connect(&h, true), 0);
	th_hub_close(&h);
}

/* ------------------------------------------------------------------ limits */

/* The broker refuses a packet over the protocol's 64 KiB payload (max_packet_size): the hub is
 * disconnected and the worker never receives it. */
static void test_packet_cap(void)
{
	struct thub h;
	char topic[128], needle[160];
	if (th_hub_up(&h) < 0)
		return;
	snprintf(topic, sizeof topic, "apf/v1/%s/status", h.id);
	snprintf(needle, sizeof needle, "MQTT message on %s dropped", topic);
	int before = th_worker_log_count(needle);
	size_t len = 200 * 1024;
	char *big = malloc(len);
	CU_ASSERT_FATAL(big != NULL);
	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	CU_ASSERT_EQUAL(mosquitto_publish(h.mosq, NULL, topic, (int)len, big, 0, false), 0);
	free(big);
	int64_t end = th_now_ms() + 10000;
	while (!h.lost && th_now_ms() < end)
		th_pump(20);
	CU_ASSERT_TRUE(h.lost); /* the broker closed the connection */
	th_pump(500);
	CU_ASSERT_EQUAL(th_worker_log_count(needle), before); /* the worker never saw it */
	th_hub_close(&h);
}

/* A hub publishing far over its message budget (hub_msg_rate / hub_msg_burst) has the excess
 * dropped by the worker, which says so; another hub's heartbeat is still applied at once. */
static void test_hub_flood(void)
{
	struct thub a, b;
	char topic[128], needle[160];
	if (th_hub_up(&a) < 0 || th_hub_up(&b) < 0)
		return;
	snprintf(needle, sizeof needle, "hub %s is over its message budget", a.id);
	CU_ASSERT_EQUAL(th_worker_log_count(needle), 0);
	long burst = cfg_int("hub_msg_burst", 400), n = 4 * burst + 1000;
	snprintf(topic, sizeof topic, "apf/v1/%s/heartbeat", a.id);
	for (long i = 0; i < n; i++) {
		json_t *hb = th_msg("heartbeat", a.id, json_pack("{s:I}", "seq", (json_int_t)i + 1));
		char *t = json_dumps(hb, JSON_COMPACT);
		json_decref(hb);
		CU_ASSERT_EQUAL_FATAL(
			mosquitto_publish(a.mosq, NULL, topic, (int)strlen(t), t, 0, false), 0);
		free(t);
	}
	CU_ASSERT(th_wait_worker_log(needle, 20000) >= 1);
	/* the other hub is served meanwhile */
	th_exec(&Q_B_SEEN_OLD, DB_ARGS(DS(b.id)));
	json_t *hb = th_msg("heartbeat", b.id, json_pack("{s:i}", "seq", 1));
	th_pub(&b, b.id, "heartbeat", hb);
	json_decref(hb);
	CU_ASSERT(th_wait_eq(&Q_B_SEEN_RECENT, DB_ARGS(DS(b.id)), "1", 5000) >= 0);
	th_hub_close(&a);
	th_hub_close(&b);
}

int suite_broker_add(void)
{
	CU_pSuite s = CU_add_suite("broker", NULL, NULL);
	if (!s ||
	    !CU_add_test(s, "ACL: a hub cannot read another hub's commands", test_acl_foreign_cmd) ||
	    !CU_add_test(s, "ACL: a hub cannot publish on another hub's topics nor commands",
			 test_acl_foreign_publish) ||
	    !CU_add_test(s, "ACL: anonymous and wrong passwords are refused", test_acl_logins) ||
	    !CU_add_test(s, "hub passwords never appear on a command line",
			 test_password_not_on_command_line) ||
	    !CU_add_test(s, "a packet over 64 KiB: the broker disconnects the hub", test_packet_cap) ||
	    !CU_add_test(s, "a flooding hub's excess is dropped; other hubs are served",
			 test_hub_flood) ||
	    !CU_add_test(s, "worker reconnects after the broker restarts; commands round-trip",
			 test_reconnect_after_broker_restart))
		return -1;
	return 0;
}
