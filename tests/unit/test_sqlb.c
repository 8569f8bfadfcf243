/* test_sqlb.c - statements assembled from fixed fragments (common/sqlb.c) and the interning
 * of their texts (db_intern, common/db.c): no connection needed. */
#include "tunit.h"

#include "sqlb.h"

#include <stdlib.h>
#include <string.h>

static void test_fragments_and_arguments(void)
{
	struct sqlb b;
	sqlb_init(&b, "SELECT p.id FROM printers p WHERE p.account_id = ?");
	sqlb_bind(&b, NULL, DS("acc"));
	sqlb_bind(&b, " AND p.status = ?", DS("idle"));
	sqlb_bind(&b, " AND (p.name LIKE ? OR p.notes LIKE ?)", DS("x%"));
	sqlb_add(&b, " ORDER BY p.id");
	TU_STR(b.text, "SELECT p.id FROM printers p WHERE p.account_id = ? AND p.status = ?"
		       " AND (p.name LIKE ? OR p.notes LIKE ?) ORDER BY p.id");
	TU_INT(b.nargs, 4);
	TU_STR(b.args[0].s, "acc");
	TU_STR(b.args[1].s, "idle");
	TU_STR(b.args[2].s, "x%"); /* one value for each ? of its fragment */
	TU_STR(b.args[3].s, "x%");
	TU_INT(b.overflow, 0);
	sqlb_release(&b);
}

/* A value never reaches the text, whatever it holds. */
static void test_values_stay_out_of_the_text(void)
{
	struct sqlb b;
	const char *evil = "x' OR '1'='1";
	sqlb_init(&b, "UPDATE t SET ");
	sqlb_bind(&b, "name = ?", DS(evil));
	sqlb_bind(&b, " WHERE id = ?", DI(7));
	TU_STR(b.text, "UPDATE t SET name = ? WHERE id = ?");
	TU_CHECK(strstr(b.text, "OR") == NULL, "value in text: %s", b.text);
	TU_STR(b.args[0].s, evil);
	TU_INT(b.args[1].i, 7);
	sqlb_release(&b);
}

static void test_owned_strings(void)
{
	struct sqlb b;
	sqlb_init(&b, NULL);
	const char *k = sqlb_keep(&b, "2026-01-31 23:59:59.999");
	TU_STR(k, "2026-01-31 23:59:59.999");
	TU_CHECK(sqlb_own(&b, NULL) == NULL, "NULL owned");
	for (int i = 1; i < SQLB_OWNED; i++)
		TU_CHECK(sqlb_keep(&b, "v") != NULL, "kept %d", i);
	TU_INT(b.overflow, 0);
	TU_CHECK(sqlb_keep(&b, "one too many") == NULL, "past SQLB_OWNED");
	TU_INT(b.overflow, 1);
	sqlb_release(&b); /* frees every kept string (ASan checks) */
}

/* Past a bound the builder refuses to run (E_INTERNAL_ERROR, no statement sent). */
static void test_bounds(void)
{
	struct sqlb b;
	char frag[1024];
	memset(frag, 'x', sizeof frag - 1);
	frag[sizeof frag - 1] = '\0';
	sqlb_init(&b, NULL);
	for (int i = 0; i < SQLB_TEXT / (int)sizeof frag + 1; i++)
		sqlb_add(&b, frag);
	TU_INT(b.overflow, 1);
	TU_CHECK(b.len < SQLB_TEXT, "text stays bounded: %zu", b.len);
	struct db *db = db_open(); /* never connected: nothing is sent */
	TU_CHECK(db != NULL, "db_open");
	if (db)
		TU_INT(sqlb_exec(db, &b, NULL), E_INTERNAL_ERROR);
	db_close(db);
	sqlb_release(&b);

	sqlb_init(&b, "?");
	for (int i = 0; i <= SQLB_ARGS; i++)
		sqlb_bind(&b, NULL, DI(i));
	TU_INT(b.overflow, 1);
	TU_INT(b.nargs, SQLB_ARGS);
	sqlb_release(&b);
}

/* Equal texts are one query object (one prepared statement); different texts are not. */
static void test_intern(void)
{
	char a[] = "SELECT 1 FROM t WHERE a = ?", b[] = "SELECT 1 FROM t WHERE a = ?";
	const struct db_query *qa = db_intern(a), *qb = db_intern(b);
	TU_CHECK(qa != NULL && qa == qb, "equal texts share one object");
	TU_STR(qa ? qa->sql : NULL, "SELECT 1 FROM t WHERE a = ?");
	TU_CHECK(qa && qa->sql != a, "the text is copied");
	const struct db_query *qc = db_intern("SELECT 1 FROM t WHERE b = ?");
	TU_CHECK(qc != NULL && qc != qa, "another text, another object");
}

int init_sqlb_suite(void)
{
	CU_pSuite s = CU_add_suite("sqlb", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_fragments_and_arguments);
	TU_ADD(s, test_values_stay_out_of_the_text);
	TU_ADD(s, test_owned_strings);
	TU_ADD(s, test_bounds);
	TU_ADD(s, test_intern);
	return 0;
}
