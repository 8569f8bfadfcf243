/* test_dbhosts.c - conf db_hosts parsing (common/db.c db_hosts_parse): the list of database
 * servers a process fails over between (docs/scale-out.md "Database"). */
#include "tunit.h"

#include "db.h"

static void test_dbhosts_list(void)
{
	struct db_host h[DB_HOSTS_MAX];
	TU_INT(db_hosts_parse("db1:3306,db2:3307, 10.0.0.3:13306 ", h, DB_HOSTS_MAX, 3306), 3);
	TU_STR(h[0].host, "db1");
	TU_INT(h[0].port, 3306);
	TU_STR(h[1].host, "db2");
	TU_INT(h[1].port, 3307);
	TU_STR(h[2].host, "10.0.0.3");
	TU_INT(h[2].port, 13306);
	TU_INT(db_hosts_parse("only.example", h, DB_HOSTS_MAX, 4000), 1);
	TU_STR(h[0].host, "only.example");
	TU_INT(h[0].port, 4000); /* no port: the default */
	TU_INT(db_hosts_parse("[fd00::1]:3306,[::1]", h, DB_HOSTS_MAX, 3307), 2);
	TU_STR(h[0].host, "fd00::1");
	TU_INT(h[0].port, 3306);
	TU_STR(h[1].host, "::1");
	TU_INT(h[1].port, 3307);
	TU_INT(db_hosts_parse("a:1,b:65535", h, DB_HOSTS_MAX, 3306), 2);
	TU_INT(h[1].port, 65535);
	TU_INT(db_hosts_parse("", h, DB_HOSTS_MAX, 3306), 0);
	TU_INT(db_hosts_parse("   ", h, DB_HOSTS_MAX, 3306), 0);
	TU_INT(db_hosts_parse(NULL, h, DB_HOSTS_MAX, 3306), 0);
}

static void test_dbhosts_refused(void)
{
	struct db_host h[DB_HOSTS_MAX];
	static const char *const bad[] = {
		"a:3306,,b:3306", "a:3306,", ",a:3306", ":3306", "a:", "a:0", "a:65536",
		"a:123456", "a:33x6", "a:-1", "fd00::1:3306", "[fd00::1", "[fd00::1]x", "[]:3306",
		"a b:3306x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		TU_CHECK(db_hosts_parse(bad[i], h, DB_HOSTS_MAX, 3306) == -1,
			 "\"%s\" should be refused", bad[i]);
	/* more entries than room */
	TU_INT(db_hosts_parse("a,b,c", h, 2, 3306), -1);
	TU_INT(db_hosts_parse("a,b", h, 2, 3306), 2);
	char longhost[300];
	memset(longhost, 'h', sizeof longhost - 1);
	longhost[sizeof longhost - 1] = '\0';
	TU_INT(db_hosts_parse(longhost, h, DB_HOSTS_MAX, 3306), -1);
}

int init_dbhosts_suite(void)
{
	CU_pSuite s = CU_add_suite("db_hosts", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_dbhosts_list);
	TU_ADD(s, test_dbhosts_refused);
	return 0;
}
