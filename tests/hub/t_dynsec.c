/* t_dynsec.c - hub credentials in mosquitto's dynamic-security plugin (docs/scale-out.md,
 * "Broker credentials"): a hub created by apf-admin reaches only its own topics, a revoked hub
 * is refused and its open connection closed, and with several brokers in mqtt_hosts a change
 * lands on every broker or on none. The suite runs a second broker of its own (a private
 * dynsec state file with the stack's admin client, a free port) and points apf-admin at both
 * through a copy of apf.conf with mqtt_hosts. */
#include "th.h"

#include "cfg.h"
#include "dynsec.h"
#include "util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct db_query Q_D_REVOKED = {
	"SELECT mqtt_password_hash IS NULL FROM hubs WHERE id = ?"
};
static const struct db_query Q_D_NAMED = { "SELECT COUNT(*) FROM hubs WHERE name = ?" };
static const struct db_query Q_D_HASH = { "SELECT mqtt_password_hash FROM hubs WHERE id = ?" };

static struct {
	char dir[64];
	char conf_two[128];  /* apf.conf + mqtt_hosts = stack broker, second broker */
	char conf_dead[128]; /* ... + a port nobody listens on */
	struct dynsec_broker main, second;
	pid_t pid;
} B;

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int port = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
				   getsockname(fd, (struct sockaddr *)&sa, &len) == 0
			   ? ntohs(sa.sin_port)
			   : -1;
	if (fd >= 0)
		close(fd);
	return port;
}

/* The plugin line of the stack's broker configuration. */
static int plugin_line(char *out, size_t size)
{
	char path[512], line[1024];
	snprintf(path, sizeof path, "%s/mq/mosquitto.conf", cfg_str("var_dir", "var"));
	FILE *f = fopen(path, "r");
	int found = 0;
	while (f && !found && fgets(line, sizeof line, f))
		if (strncmp(line, "plugin ", 7) == 0) {
			snprintf(out, size, "%s", line);
			found = 1;
		}
	if (f)
		fclose(f);
	return found ? 0 : -1;
}

/* apf.conf plus `mqtt_hosts = hosts` in path. */
static int conf_copy(const char *path, const char *hosts)
{
	char line[4096];
	FILE *in = fopen(cfg_path(), "r"), *out = fopen(path, "w");
	int ok = in && out;
	while (ok && fgets(line, sizeof line, in))
		fputs(line, out);
	if (out)
		fprintf(out, "\nmqtt_hosts = %s\n", hosts);
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		ok = 0;
	chmod(path, 0600);
	return ok ? 0 : -1;
}

static int suite_init(void)
{
	char path[160], plugin[1024], hosts[400];
	snprintf(B.dir, sizeof B.dir, "/tmp/apf-dynsec-XXXXXX");
	if (!mkdtemp(B.dir) || plugin_line(plugin, sizeof plugin) < 0)
		return -1;
	snprintf(B.main.host, sizeof B.main.host, "%s", cfg_str("mqtt_host", "127.0.0.1"));
	B.main.port = (int)cfg_int("mqtt_port", 1883);
	snprintf(B.second.host, sizeof B.second.host, "127.0.0.1");
	B.second.port = free_port();
	int dead = free_port();
	if (B.second.port < 0 || dead < 0)
		return -1;
	/* the second broker's state: the stack's admin client, its password on stdin */
	char cmd[512];
	snprintf(cmd, sizeof cmd, "mosquitto_ctrl dynsec init '%s/dynsec.json' '%s' >/dev/null",
		 B.dir, cfg_str("mqtt_admin_username", ""));
	FILE *p = popen(cmd, "w");
	if (!p)
		return -1;
	fprintf(p, "%s\n%s\n", cfg_str("mqtt_admin_password", ""),
		cfg_str("mqtt_admin_password", ""));
	if (pclose(p) != 0)
		return -1;
	snprintf(path, sizeof path, "%s/mosquitto.conf", B.dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	const struct passwd *me = getpwuid(geteuid()); /* as root it would become "mosquitto" */
	fprintf(f, "user %s\nper_listener_settings false\nlistener %d 127.0.0.1\n"
		   "allow_anonymous false\n%splugin_opt_config_file %s/dynsec.json\n"
		   "log_dest stderr\n",
		me ? me->pw_name : "root", B.second.port, plugin, B.dir);
	fclose(f);
	B.pid = fork();
	if (B.pid == 0) {
		char logp[160];
		snprintf(logp, sizeof logp, "%s/mosquitto.log", B.dir);
		setsid();
		int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("mosquitto", "mosquitto", "-c", path, (char *)NULL);
		_exit(127);
	}
	int64_t end = th_now_ms() + 10000;
	while (B.pid > 0 && !th_port_open(B.second.port) && th_now_ms() < end)
		th_sleep_ms(50);
	if (B.pid < 0 || !th_port_open(B.second.port))
		return -1;
	snprintf(B.conf_two, sizeof B.conf_two, "%s/two.conf", B.dir);
	snprintf(B.conf_dead, sizeof B.conf_dead, "%s/dead.conf", B.dir);
	snprintf(hosts, sizeof hosts, "%s:%d,127.0.0.1:%d", B.main.host, B.main.port,
		 B.second.port);
	if (conf_copy(B.conf_two, hosts) < 0)
		return -1;
	snprintf(hosts + strlen(hosts), sizeof hosts - strlen(hosts), ",127.0.0.1:%d", dead);
	return conf_copy(B.conf_dead, hosts);
}

static int suite_clean(void)
{
	char cmd[128];
	if (B.pid > 0) {
		kill(B.pid, SIGTERM);
		waitpid(B.pid, NULL, 0);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", B.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* apf-admin (run by th_admin) reads APF_CONF: conf for a while (NULL: the stack's). */
static char *use_conf(const char *conf)
{
	const char *old = getenv("APF_CONF");
	char *saved = old ? strdup(old) : NULL;
	if (conf)
		setenv("APF_CONF", conf, 1);
	return saved;
}

static void restore_conf(char *saved)
{
	if (saved)
		setenv("APF_CONF", saved, 1);
	free(saved);
}

static int create_with(const char *conf, const char *name, struct thub *h)
{
	char *saved = use_conf(conf);
	int rc = th_hub_create_named(h, name);
	restore_conf(saved);
	return rc;
}

static int revoke_with(const char *conf, const char *id)
{
	const char *args[] = { "hub", "revoke", id, NULL };
	json_t *out = NULL;
	char *saved = use_conf(conf);
	int rc = th_admin(args, &out);
	restore_conf(saved);
	json_decref(out);
	return rc;
}

/* apf-admin hub credentials rotate ID with conf: its exit status; the new password into pw. */
static int rotate_with(const char *conf, const char *id, char pw[64])
{
	const char *args[] = { "hub", "credentials", "rotate", id, NULL };
	json_t *out = NULL;
	char *saved = use_conf(conf);
	int rc = th_admin(args, &out);
	restore_conf(saved);
	const char *s = json_string_value(json_object_get(out, "mqtt_password"));
	snprintf(pw, 64, "%s", s ? s : "");
	if (rc == 0)
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(out, "mqtt_username")), id);
	json_decref(out);
	return rc;
}

/* listClients / listRoles totalCount on b, -1 when it does not answer. */
static long count_of(const struct dynsec_broker *b, const char *command)
{
	char err[256];
	json_t *res = NULL;
	json_t *cmds = json_pack("[{s:s, s:s}]", "command", command, "correlationData", "t-count");
	long n = -1;
	if (dynsec_send(b, cmds, &res, err, sizeof err) == 0)
		n = (long)json_integer_value(json_object_get(
			json_object_get(json_array_get(res, 0), "data"), "totalCount"));
	json_decref(cmds);
	json_decref(res);
	return n;
}

/* SUBACK code of one more subscription of h to filter. */
static int subscribe_code(struct thub *h, const char *filter)
{
	int acks = h->subacked;
	mosquitto_subscribe(h->mosq, NULL, filter, 1);
	int64_t end = th_now_ms() + 5000;
	while (h->subacked == acks && th_now_ms() < end)
		th_pump(10);
	return h->subacked == acks ? -1 : h->granted;
}

/* ------------------------------------------------------------------ tests */

static void test_own_topics_only(void)
{
	struct thub a, b;
	char topic[128];
	if (th_hub_create(&a) < 0 || th_hub_create(&b) < 0)
		return;
	CU_ASSERT_EQUAL_FATAL(th_hub_connect(&a, false), 0);
	CU_ASSERT(a.granted >= 0 && a.granted <= 2); /* its own cmd topic */
	snprintf(topic, sizeof topic, "apf/v1/%s/cmd", b.id);
	CU_ASSERT_EQUAL(subscribe_code(&a, topic), 0x80);
	CU_ASSERT_EQUAL(subscribe_code(&a, "apf/v1/+/cmd"), 0x80);
	CU_ASSERT_EQUAL(subscribe_code(&a, "apf/v1/#"), 0x80);
	snprintf(topic, sizeof topic, "apf/v1/%s/state", a.id); /* it publishes, never reads */
	CU_ASSERT_EQUAL(subscribe_code(&a, topic), 0x80);
	th_hub_close(&a);
	/* its credentials under another client id: refused (ids are not shared) */
	CU_ASSERT(dynsec_login(&B.main, b.id, a.id, a.password) > 0);
	CU_ASSERT_EQUAL(dynsec_login(&B.main, a.id, a.id, a.password), 0);
}

static void test_revoke_kicks(void)
{
	struct thub h;
	char v[16];
	if (th_hub_up(&h) < 0)
		return;
	CU_ASSERT_EQUAL(revoke_with(NULL, h.id), 0);
	int64_t end = th_now_ms() + 5000;
	while (!h.lost && th_now_ms() < end)
		th_pump(20);
	CU_ASSERT_TRUE(h.lost); /* the open connection was closed */
	CU_ASSERT(dynsec_login(&B.main, h.id, h.id, h.password) > 0);
	CU_ASSERT_EQUAL(th_get(&Q_D_REVOKED, DB_ARGS(DS(h.id)), v, sizeof v), 1);
	CU_ASSERT_STRING_EQUAL(v, "1");
	CU_ASSERT_EQUAL(revoke_with(NULL, h.id), 0); /* again: still revoked */
	CU_ASSERT(dynsec_login(&B.main, h.id, h.id, h.password) > 0);
	th_hub_close(&h);
	CU_ASSERT_EQUAL(revoke_with(NULL, "00000000-0000-4000-8000-000000000000"), 1);
}

static void test_every_broker(void)
{
	struct thub h;
	char v[16], name[64];
	snprintf(name, sizeof name, "dynsec two %d", (int)getpid());
	CU_ASSERT_EQUAL_FATAL(create_with(B.conf_two, name, &h), 0);
	CU_ASSERT_EQUAL(dynsec_login(&B.main, h.id, h.id, h.password), 0);
	CU_ASSERT_EQUAL(dynsec_login(&B.second, h.id, h.id, h.password), 0);
	/* a revoke that cannot reach every broker changes none, and the row keeps its hash */
	CU_ASSERT_NOT_EQUAL(revoke_with(B.conf_dead, h.id), 0);
	CU_ASSERT_EQUAL(dynsec_login(&B.main, h.id, h.id, h.password), 0);
	CU_ASSERT_EQUAL(dynsec_login(&B.second, h.id, h.id, h.password), 0);
	CU_ASSERT_EQUAL(th_get(&Q_D_REVOKED, DB_ARGS(DS(h.id)), v, sizeof v), 1);
	CU_ASSERT_STRING_EQUAL(v, "0");
	/* revoked on both */
	CU_ASSERT_EQUAL(revoke_with(B.conf_two, h.id), 0);
	CU_ASSERT(dynsec_login(&B.main, h.id, h.id, h.password) > 0);
	CU_ASSERT(dynsec_login(&B.second, h.id, h.id, h.password) > 0);
}

static void test_unreachable_broker(void)
{
	struct thub h;
	char v[16], name[64];
	long clients[2] = { count_of(&B.main, "listClients"), count_of(&B.second, "listClients") };
	long roles[2] = { count_of(&B.main, "listRoles"), count_of(&B.second, "listRoles") };
	CU_ASSERT_FATAL(clients[0] > 0 && clients[1] > 0 && roles[0] > 0 && roles[1] > 0);
	snprintf(name, sizeof name, "dynsec dead %d", (int)getpid());
	CU_ASSERT_NOT_EQUAL(create_with(B.conf_dead, name, &h), 0);
	CU_ASSERT_EQUAL(h.id[0], '\0');
	CU_ASSERT_EQUAL(th_get(&Q_D_NAMED, DB_ARGS(DS(name)), v, sizeof v), 1);
	CU_ASSERT_STRING_EQUAL(v, "0");
	/* the two brokers that took it were undone */
	CU_ASSERT_EQUAL(count_of(&B.main, "listClients"), clients[0]);
	CU_ASSERT_EQUAL(count_of(&B.second, "listClients"), clients[1]);
	CU_ASSERT_EQUAL(count_of(&B.main, "listRoles"), roles[0]);
	CU_ASSERT_EQUAL(count_of(&B.second, "listRoles"), roles[1]);
}

/* hub credentials rotate: a new password on every broker, the open connection closed, the old
 * password refused, the row's hash the new one's; a broker that cannot be reached fails the
 * command and the row keeps its hash; a revoked or unknown hub has nothing to rotate. */
static void test_credentials_rotate(void)
{
	struct thub h;
	char name[64], pw[64], pw2[64], hash[80], want[80];
	snprintf(name, sizeof name, "dynsec rotate %d", (int)getpid());
	CU_ASSERT_EQUAL_FATAL(create_with(B.conf_two, name, &h), 0);
	CU_ASSERT_EQUAL_FATAL(th_hub_connect(&h, false), 0);
	CU_ASSERT_EQUAL_FATAL(rotate_with(B.conf_two, h.id, pw), 0);
	CU_ASSERT_EQUAL(strlen(pw), 43);
	CU_ASSERT_STRING_NOT_EQUAL(pw, h.password);
	int64_t end = th_now_ms() + 5000;
	while (!h.lost && th_now_ms() < end)
		th_pump(20);
	CU_ASSERT_TRUE(h.lost); /* the open connection was closed */
	th_hub_close(&h);
	CU_ASSERT(dynsec_login(&B.main, h.id, h.id, h.password) > 0);
	CU_ASSERT(dynsec_login(&B.second, h.id, h.id, h.password) > 0);
	CU_ASSERT_EQUAL(dynsec_login(&B.main, h.id, h.id, pw), 0);
	CU_ASSERT_EQUAL(dynsec_login(&B.second, h.id, h.id, pw), 0);
	util_sha256_hex(pw, strlen(pw), want);
	CU_ASSERT_EQUAL(th_get(&Q_D_HASH, DB_ARGS(DS(h.id)), hash, sizeof hash), 1);
	CU_ASSERT_STRING_EQUAL(hash, want);
	/* a broker down: exit 1, nothing shown, the row keeps the last hash */
	CU_ASSERT_NOT_EQUAL(rotate_with(B.conf_dead, h.id, pw2), 0);
	CU_ASSERT_STRING_EQUAL(pw2, "");
	CU_ASSERT_EQUAL(th_get(&Q_D_HASH, DB_ARGS(DS(h.id)), hash, sizeof hash), 1);
	CU_ASSERT_STRING_EQUAL(hash, want);
	/* run again: a fresh password everywhere */
	CU_ASSERT_EQUAL(rotate_with(B.conf_two, h.id, pw2), 0);
	CU_ASSERT_EQUAL(dynsec_login(&B.main, h.id, h.id, pw2), 0);
	CU_ASSERT_EQUAL(dynsec_login(&B.second, h.id, h.id, pw2), 0);
	CU_ASSERT(dynsec_login(&B.main, h.id, h.id, pw) > 0);
	/* revoked: refused, and the client stays disabled */
	CU_ASSERT_EQUAL(revoke_with(B.conf_two, h.id), 0);
	CU_ASSERT_NOT_EQUAL(rotate_with(B.conf_two, h.id, pw), 0);
	CU_ASSERT(dynsec_login(&B.main, h.id, h.id, pw2) > 0);
	CU_ASSERT_NOT_EQUAL(rotate_with(NULL, "00000000-0000-4000-8000-000000000000", pw), 0);
}

int suite_dynsec_add(void)
{
	CU_pSuite s = CU_add_suite("dynsec", suite_init, suite_clean);
	if (!s ||
	    !CU_add_test(s, "a hub reaches only its own topics, under its own client id",
			 test_own_topics_only) ||
	    !CU_add_test(s, "hub revoke: the open connection is closed, logins refused",
			 test_revoke_kicks) ||
	    !CU_add_test(s, "create and revoke land on every broker of mqtt_hosts",
			 test_every_broker) ||
	    !CU_add_test(s, "an unreachable broker: the command fails, no row, no client left",
			 test_unreachable_broker) ||
	    !CU_add_test(s, "hub credentials rotate: every broker, old password refused",
			 test_credentials_rotate))
		return -1;
	return 0;
}
