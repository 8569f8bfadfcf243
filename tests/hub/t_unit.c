/* t_unit.c - the hub link's parts run in this process: untrusted-JSON readers, topic shapes,
 * the event table against the shared state table, the ingest path fed with hostile payloads
 * (for a hub that does not exist: nothing may be written, nothing may crash), and the backlog
 * kept while the database is away. */
#include "th.h"

#include "cfg.h"
#include "hubjson.h"
#include "ingest.h"
#include "mqtt.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_hubjson(void)
{
	json_t *o = json_loads("{\"s\":\"abc\",\"n\":null,\"i\":42,\"r\":1.5,\"b\":true,"
			       "\"o\":{},\"u\":\"2f6c1a34-6a0e-4b7e-9d61-0c1f0b7f4a10\","
			       "\"U\":\"2F6C1A34-6A0E-4B7E-9D61-0C1F0B7F4A10\",\"long\":\"h\\u00e9llo\"}",
			       0, NULL);
	char buf[37];
	long long i;
	double d;
	int b, set;
	const json_t *obj;
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT(hj_str(o, "s", HJ_REQUIRED, buf, sizeof buf) && strcmp(buf, "abc") == 0);
	CU_ASSERT(hj_str(o, "n", 0, buf, sizeof buf) && buf[0] == '\0');
	CU_ASSERT(!hj_str(o, "n", HJ_REQUIRED, buf, sizeof buf));
	CU_ASSERT(hj_str(o, "missing", 0, buf, sizeof buf));
	CU_ASSERT(!hj_str(o, "i", 0, buf, sizeof buf));           /* wrong type */
	CU_ASSERT(!hj_str(o, "s", 0, buf, 3));                    /* too long, no HJ_CUT */
	CU_ASSERT(hj_str(o, "s", HJ_CUT, buf, 3) && strcmp(buf, "ab") == 0);
	CU_ASSERT(hj_str(o, "long", HJ_CUT, buf, 3) && strcmp(buf, "h") == 0); /* not mid-é */
	CU_ASSERT(hj_str(o, "u", HJ_UUID, buf, sizeof buf));
	CU_ASSERT(!hj_str(o, "U", HJ_UUID, buf, sizeof buf));     /* lower case only */
	CU_ASSERT(!hj_str(o, "s", HJ_UUID, buf, sizeof buf));
	CU_ASSERT(hj_int(o, "i", 0, 0, 100, &i, &set) && i == 42 && set);
	CU_ASSERT(!hj_int(o, "i", 0, 0, 10, &i, &set));           /* out of range */
	CU_ASSERT(!hj_int(o, "r", 0, 0, 10, &i, &set));           /* real, not integer */
	CU_ASSERT(hj_int(o, "n", 0, 0, 10, &i, &set) && !set);
	CU_ASSERT(hj_num(o, "r", 0, 0, 10, &d, &set) && d == 1.5 && set);
	CU_ASSERT(hj_num(o, "i", 0, 0, 100, &d, &set) && d == 42);
	CU_ASSERT(!hj_num(o, "s", 0, 0, 100, &d, &set));
	CU_ASSERT(hj_bool(o, "b", HJ_REQUIRED, &b) && b == 1);
	CU_ASSERT(!hj_bool(o, "i", 0, &b));
	CU_ASSERT(hj_bool(o, "missing", 0, &b) && b == -1);
	CU_ASSERT(hj_obj(o, "o", 0, &obj) && obj);
	CU_ASSERT(!hj_obj(o, "s", 0, &obj));
	json_decref(o);
}

static void test_topics(void)
{
	char hub[37], kind[16], buf[128];
	const char *id = "2f6c1a34-6a0e-4b7e-9d61-0c1f0b7f4a10";
	CU_ASSERT_EQUAL(mqtt_topic(buf, sizeof buf, id, "cmd"), 0);
	CU_ASSERT_STRING_EQUAL(buf, "apf/v1/2f6c1a34-6a0e-4b7e-9d61-0c1f0b7f4a10/cmd");
	CU_ASSERT_EQUAL(mqtt_topic(buf, 20, id, "cmd"), -1);
	CU_ASSERT_EQUAL(mqtt_topic_parse("apf/v1/2f6c1a34-6a0e-4b7e-9d61-0c1f0b7f4a10/status", hub,
					 kind), 0);
	CU_ASSERT_STRING_EQUAL(hub, id);
	CU_ASSERT_STRING_EQUAL(kind, "status");
	static const char *const bad[] = {
		"apf/v1/2f6c1a34-6a0e-4b7e-9d61-0c1f0b7f4a10",
		"apf/v1/2f6c1a34-6a0e-4b7e-9d61-0c1f0b7f4a10/",
		"apf/v1/2f6c1a34-6a0e-4b7e-9d61-0c1f0b7f4a10/a/b",
		"apf/v1/2F6C1A34-6A0E-4B7E-9D61-0C1F0B7F4A10/ack",
		"apf/v1/not-a-uuid/ack",
		"apf/v2/2f6c1a34-6a0e-4b7e-9d61-0c1f0b7f4a10/ack",
		"apf/v1/2f6c1a34-6a0e-4b7e-9d61-0c1f0b7f4a10/averyveryverylongkind",
		"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT_EQUAL(mqtt_topic_parse(bad[i], hub, kind), -1);
}

/* The link's broker by name (the lease row's "HOST:PORT", docs/scale-out.md): a broker of
 * mqtt_hosts becomes the one the next connect tries; a name not in the list changes nothing. */
static void test_broker_names(void)
{
	static const struct mqtt_hooks none = { NULL, NULL, NULL };
	char *hosts = strdup(cfg_str("mqtt_hosts", "")), *user = strdup(cfg_str("mqtt_username", ""));
	cfg_set("mqtt_hosts", "10.0.0.41:1883, [fd00::42]:1884, mq3");
	cfg_set("mqtt_username", "apf-backend");
	struct mqtt_link *l = mqtt_new(&none, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	char b[300];
	mqtt_broker(l, b, sizeof b);
	CU_ASSERT_STRING_EQUAL(b, "10.0.0.41:1883");
	CU_ASSERT_EQUAL(mqtt_use_broker(l, "[fd00::42]:1884"), 0);
	mqtt_broker(l, b, sizeof b);
	CU_ASSERT_STRING_EQUAL(b, "[fd00::42]:1884");
	char want[64];
	snprintf(want, sizeof want, "mq3:%ld", cfg_int("mqtt_port", 1883));
	CU_ASSERT_EQUAL(mqtt_use_broker(l, want), 0);
	mqtt_broker(l, b, sizeof b);
	CU_ASSERT_STRING_EQUAL(b, want);
	CU_ASSERT_EQUAL(mqtt_use_broker(l, "10.0.0.99:1883"), -1);
	CU_ASSERT_EQUAL(mqtt_use_broker(l, "10.0.0.41:1884"), -1);
	CU_ASSERT_EQUAL(mqtt_use_broker(l, ""), -1);
	mqtt_broker(l, b, sizeof b);
	CU_ASSERT_STRING_EQUAL(b, want);
	mqtt_abandon(l);
	/* back to the stack's broker (no mqtt_hosts means mqtt_host:mqtt_port) */
	if (!hosts[0]) {
		char one[300];
		snprintf(one, sizeof one, "%s:%ld", cfg_str("mqtt_host", "127.0.0.1"),
			 cfg_int("mqtt_port", 1883));
		cfg_set("mqtt_hosts", one);
	} else {
		cfg_set("mqtt_hosts", hosts);
	}
	cfg_set("mqtt_username", user);
	free(hosts);
	free(user);
}

/* Every job rule the event table names exists in common/states.c. */
static void test_event_rules(void)
{
	CU_ASSERT_EQUAL(ingest_check_rules(), 0);
}

static const struct db_query Q_U_EVENTS_OF = {
	"SELECT COUNT(*) FROM hub_events WHERE hub_id = ?"
};

/* tmpl with its "%s" replaced by hub (no format string built at run time). */
static void subst(char *out, size_t size, const char *tmpl, const char *hub)
{
	const char *at = strstr(tmpl, "%s");
	if (!at) {
		snprintf(out, size, "%s", tmpl);
		return;
	}
	snprintf(out, size, "%.*s%s%s", (int)(at - tmpl), tmpl, hub, at + 2);
}

/* Hostile payloads through the real ingest path, in this process (under ASan in the sanitizer
 * run): no crash, no leak, nothing written for an unknown hub. */
static void test_hostile_payloads(void)
{
	static const char *const kinds[] = { "state", "heartbeat", "status", "event", "ack",
					     "discovery", "cmd", "other" };
	static const char *const payloads[] = {
		"", "{", "[]", "null", "42", "\"x\"", "{}", "{\"v\":1}",
		"{\"v\":2,\"type\":\"event\",\"hub_id\":\"%s\"}",
		"{\"v\":1,\"type\":\"status\",\"hub_id\":\"%s\",\"printer_id\":7}",
		"{\"v\":1,\"type\":\"status\",\"hub_id\":\"%s\",\"printer_id\":"
		"\"2f6c1a34-6a0e-4b7e-9d61-0c1f0b7f4a10\",\"state\":\"printing\",\"connected\":true,"
		"\"temps\":{\"nozzle\":\"hot\"}}",
		"{\"v\":1,\"type\":\"status\",\"hub_id\":\"%s\",\"printer_id\":"
		"\"2f6c1a34-6a0e-4b7e-9d61-0c1f0b7f4a10\",\"state\":\"printing\",\"connected\":true,"
		"\"seq\":1,\"progress_pct\":50,\"temps\":{\"nozzle\":200.5},\"filament\":"
		"{\"type\":\"PLA\",\"color_hex\":\"#00AE42\"},\"error\":null}",
		"{\"v\":1,\"type\":\"event\",\"hub_id\":\"%s\",\"event_id\":\"x\",\"event\":"
		"\"job.completed\"}",
		"{\"v\":1,\"type\":\"event\",\"hub_id\":\"%s\",\"event_id\":"
		"\"e1f0a9b8-7c6d-4e5f-8a9b-0c1d2e3f4a5b\",\"event\":\"job.completed\",\"data\":[]}",
		"{\"v\":1,\"type\":\"event\",\"hub_id\":\"%s\",\"event_id\":"
		"\"e1f0a9b8-7c6d-4e5f-8a9b-0c1d2e3f4a5b\",\"event\":\"job.completed\"}",
		"{\"v\":1,\"type\":\"ack\",\"hub_id\":\"%s\",\"command_id\":"
		"\"e1f0a9b8-7c6d-4e5f-8a9b-0c1d2e3f4a5b\",\"ok\":\"yes\"}",
		"{\"v\":1,\"type\":\"presence\",\"hub_id\":\"%s\",\"online\":true}",
		"{\"v\":1,\"type\":\"presence\",\"hub_id\":\"%s\",\"online\":true,\"session_id\":"
		"\"s1\",\"firmware_version\":[1]}",
		"{\"v\":1,\"type\":\"discovery\",\"hub_id\":\"%s\",\"printers\":{}}",
		"{\"v\":1,\"type\":\"discovery\",\"hub_id\":\"%s\",\"printers\":[1,2]}",
		"{\"v\":1,\"type\":\"heartbeat\",\"hub_id\":\"%s\",\"seq\":-1}",
		"{\"v\":1,\"type\":\"heartbeat\",\"hub_id\":\"%s\",\"v\":1}",
		"{\"v\":1,\"type\":\"heartbeat\",\"hub_id\":\"other\"}",
	};
	const char *hub = "00000000-0000-4000-8000-00000000dead";
	struct hubctx c = { .db = tdb, .worker_id = "test-hub" };
	c.in = ingest_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(c.in);
	/* every drop is logged on stderr: hundreds of lines, not wanted in the test output */
	fflush(stderr);
	int saved = dup(2), null = open("/dev/null", O_WRONLY);
	if (null >= 0)
		dup2(null, 2);
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		char topic[128];
		snprintf(topic, sizeof topic, "apf/v1/%s/%s", hub, kinds[k]);
		for (size_t p = 0; p < sizeof payloads / sizeof payloads[0]; p++) {
			char text[2048];
			subst(text, sizeof text, payloads[p], hub);
			CU_ASSERT_EQUAL(ingest_message(&c, topic, text, strlen(text), false), E_OK);
		}
		/* binary garbage, a NUL inside, and the size limit */
		static const char bin[] = { '{', '"', 'v', '"', ':', '1', 0, '}', (char)0xff };
		CU_ASSERT_EQUAL(ingest_message(&c, topic, bin, sizeof bin, false), E_OK);
		char *big = malloc(MQTT_MAX_PAYLOAD + 2);
		memset(big, ' ', MQTT_MAX_PAYLOAD + 1);
		big[0] = '{';
		big[MQTT_MAX_PAYLOAD] = '}';
		CU_ASSERT_EQUAL(ingest_message(&c, topic, big, MQTT_MAX_PAYLOAD + 1, false), E_OK);
		free(big);
	}
	CU_ASSERT_EQUAL(ingest_message(&c, "apf/v1/x/y", "{}", 2, false), E_OK);
	CU_ASSERT_EQUAL(ingest_message(&c, "other/topic", "{}", 2, false), E_OK);
	CU_ASSERT(ingest_buffered(c.in) <= 1);
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK); /* the valid status: its printer is not on hub */
	fflush(stderr);
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
	if (null >= 0)
		close(null);
	CU_ASSERT_EQUAL(ingest_buffered(c.in), 0);
	CU_ASSERT_EQUAL(c.db_err, E_OK);
	char n[32];
	CU_ASSERT_EQUAL(th_get(&Q_U_EVENTS_OF, DB_ARGS(DS(hub)), n, sizeof n), 1);
	CU_ASSERT_STRING_EQUAL(n, "0");
	ingest_free(c.in);
}

static const struct db_query Q_U_HUB = {
	"SELECT CONCAT(is_online, '|', IFNULL(session_id, '-')) FROM hubs WHERE id = ?"
};
static const struct db_query Q_U_SEEN_OLD = {
	"UPDATE hubs SET last_seen_at = NOW(3) - INTERVAL 1 HOUR WHERE id = ?"
};
static const struct db_query Q_U_SEEN_OLD_P = {
	"SELECT last_seen_at < NOW(3) - INTERVAL 30 MINUTE FROM hubs WHERE id = ?"
};
static const struct db_query Q_U_LIVE = {
	"SELECT seq FROM printer_live_status WHERE printer_id = ?"
};

static void feed(struct hubctx *c, const struct thub *h, const char *kind, json_t *m)
{
	char topic[128];
	snprintf(topic, sizeof topic, "apf/v1/%s/%s", h->id, kind);
	char *t = json_dumps(m, JSON_COMPACT);
	ingest_message(c, topic, t, strlen(t), false);
	free(t);
	json_decref(m);
}

/* The database goes away: presence (and event/ack/discovery) messages wait in the backlog in
 * order, heartbeats are dropped, status rows stay buffered; all land when it is back. */
static void test_backlog_when_db_away(void)
{
	struct thub h;
	char s1[37], s2[37], p[37], v[128], expect[64];
	if (th_hub_create(&h) < 0)
		return;
	th_printer(&h, "idle", NULL, p);
	util_uuid(s1);
	util_uuid(s2);
	char *saved = strdup(cfg_str("db_socket", ""));
	cfg_set("db_socket", "/nonexistent/apf-test.sock");
	struct hubctx c = { .db = db_open(), .worker_id = "test-hub" };
	c.in = ingest_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(c.in);
	/* the database fails while a message is applied: kept, the loop is told */
	feed(&c, &h, "state", th_presence(&h, true, s1));
	CU_ASSERT_EQUAL(c.db_err, E_SERVICE_UNAVAILABLE);
	CU_ASSERT(c.db_down);
	CU_ASSERT_EQUAL(ingest_backlog(c.in), 1);
	/* while it is down: no database call at all (db NULL would crash) */
	db_close(c.db);
	c.db = NULL;
	feed(&c, &h, "state", th_presence(&h, false, s1));
	feed(&c, &h, "heartbeat", th_msg("heartbeat", h.id, json_pack("{s:i}", "seq", 1)));
	feed(&c, &h, "status", th_msg("status", h.id,
				       json_pack("{s:s,s:i,s:b,s:s}", "printer_id", p, "seq", 7,
						 "connected", 1, "state", "printing")));
	feed(&c, &h, "state", th_presence(&h, true, s2));
	CU_ASSERT_EQUAL(ingest_backlog(c.in), 3);
	CU_ASSERT_EQUAL(ingest_buffered(c.in), 1);
	/* back: replayed in order (online s1, offline s1, online s2), then the status batch */
	cfg_set("db_socket", saved);
	free(saved);
	c.db = tdb;
	c.db_down = false;
	c.db_err = E_OK;
	CU_ASSERT_EQUAL(ingest_replay(&c), E_OK);
	CU_ASSERT_EQUAL(ingest_backlog(c.in), 0);
	CU_ASSERT_EQUAL(ingest_flush(&c), E_OK);
	snprintf(expect, sizeof expect, "1|%s", s2);
	CU_ASSERT(th_get(&Q_U_HUB, DB_ARGS(DS(h.id)), v, sizeof v) == 1 && strcmp(v, expect) == 0);
	CU_ASSERT(th_get(&Q_U_LIVE, DB_ARGS(DS(p)), v, sizeof v) == 1 && strcmp(v, "7") == 0);

	/* a retained presence (replayed on our subscription) is not a sign of life */
	char s3[37], topic[128];
	util_uuid(s3);
	th_exec(&Q_U_SEEN_OLD, DB_ARGS(DS(h.id)));
	json_t *m = th_presence(&h, true, s3);
	char *t = json_dumps(m, JSON_COMPACT);
	snprintf(topic, sizeof topic, "apf/v1/%s/state", h.id);
	CU_ASSERT_EQUAL(ingest_message(&c, topic, t, strlen(t), true), E_OK);
	free(t);
	json_decref(m);
	snprintf(expect, sizeof expect, "1|%s", s3);
	CU_ASSERT(th_get(&Q_U_HUB, DB_ARGS(DS(h.id)), v, sizeof v) == 1 && strcmp(v, expect) == 0);
	CU_ASSERT(th_get(&Q_U_SEEN_OLD_P, DB_ARGS(DS(h.id)), v, sizeof v) == 1 &&
		  strcmp(v, "1") == 0);
	ingest_free(c.in);
}

int suite_unit_add(void)
{
	CU_pSuite s = CU_add_suite("unit", NULL, NULL);
	if (!s || !CU_add_test(s, "untrusted JSON readers: types, bounds, UTF-8 cut", test_hubjson) ||
	    !CU_add_test(s, "topic build and parse", test_topics) ||
	    !CU_add_test(s, "broker names: the lease's broker chosen from mqtt_hosts",
			 test_broker_names) ||
	    !CU_add_test(s, "event rules name existing state rules", test_event_rules) ||
	    !CU_add_test(s, "hostile payloads: dropped, nothing written, no crash",
			 test_hostile_payloads) ||
	    !CU_add_test(s, "database away: backlog kept in order, replayed when back;"
			 " retained presence",
			 test_backlog_when_db_away))
		return -1;
	return 0;
}
