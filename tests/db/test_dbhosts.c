/* test_dbhosts.c - conf db_hosts against the real server (common/db.c): a dead first entry (a
 * port that refuses connections) is passed over and the next one serves; a list with no live
 * entry is E_SERVICE_UNAVAILABLE. docs/scale-out.md "Database". */
#include "tdb.h"

#include "cfg.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct db_query Q_T_PORT = { "SELECT @@port" };

/* A TCP port on 127.0.0.1 that refuses connections while *fd stays open (bound, never
 * listening). 0 on failure. */
static unsigned closed_port(int *fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(*fd, (struct sockaddr *)&a, &len) < 0)
		return 0;
	return ntohs(a.sin_port);
}

/* Sets conf key to value, keeping the old value in old[size] ("" when unset). */
static void swap_conf(const char *key, const char *value, char *old, size_t size)
{
	if (old)
		snprintf(old, size, "%s", cfg_str(key, ""));
	cfg_set(key, value);
}

static void test_dead_first_entry(void)
{
	int fd = -1;
	unsigned dead = closed_port(&fd);
	CU_ASSERT_FATAL(dead > 0);
	long real = cfg_int("db_port", 3306);
	char list[128], sock[256], hosts[256];
	snprintf(list, sizeof list, "127.0.0.1:%u, 127.0.0.1:%ld", dead, real);
	swap_conf("db_socket", "", sock, sizeof sock); /* db_hosts is TCP */
	swap_conf("db_hosts", list, hosts, sizeof hosts);
	struct db *db = db_open();
	struct db_res res;
	CU_ASSERT_EQUAL(db_exec(db, &Q_T_PORT, NULL, 0, &res), E_OK);
	CU_ASSERT_EQUAL(db_get_int(&res, 0, 0, 0), real);
	db_res_free(&res);
	db_close(db);

	/* only dead entries: unavailable, not a crash or a fallback to db_socket / db_host */
	snprintf(list, sizeof list, "127.0.0.1:%u,127.0.0.1:%u", dead, dead);
	cfg_set("db_hosts", list);
	db = db_open();
	CU_ASSERT_EQUAL(db_exec(db, &Q_T_PORT, NULL, 0, &res), E_SERVICE_UNAVAILABLE);
	db_close(db);
	/* a malformed list is refused the same way */
	cfg_set("db_hosts", "127.0.0.1:0");
	db = db_open();
	CU_ASSERT_EQUAL(db_ping(db), E_SERVICE_UNAVAILABLE);
	db_close(db);

	cfg_set("db_hosts", hosts);
	cfg_set("db_socket", sock);
	close(fd);
}

int suite_dbhosts_add(void)
{
	CU_pSuite s = CU_add_suite("db_hosts", NULL, NULL);
	if (!s || !CU_add_test(s, "dead first entry passed over", test_dead_first_entry))
		return -1;
	return 0;
}
