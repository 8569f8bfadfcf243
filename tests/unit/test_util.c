/* test_util.c - ids, random hex, hex checks, ISO-8601 parsing and DATETIME conversions
 * (common/util.c). */
#include "tunit.h"

#include "log.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
	return isdigit((unsigned char)c) ? c - '0' : c - 'a' + 10;
}

static void test_uuid_format(void)
{
	for (int n = 0; n < 200; n++) {
		char u[UUID_LEN + 1];
		memset(u, 'Z', sizeof u);
		TU_INT(util_uuid(u), 0);
		TU_INT(strnlen(u, sizeof u), 36);
		int ok = 1;
		for (int i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23)
				ok = ok && u[i] == '-';
			else
				ok = ok && (isdigit((unsigned char)u[i]) || (u[i] >= 'a' && u[i] <= 'f'));
		}
		TU_CHECK(ok, "uuid %s is not lower-case 8-4-4-4-12", u);
		TU_CHECK(u[14] == '4', "uuid %s: version nibble %c", u, u[14]);
		TU_CHECK((hexval(u[19]) & 0xc) == 0x8, "uuid %s: variant nibble %c", u, u[19]);
		TU_INT(util_is_uuid(u), 1);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void test_uuid_unique(void)
{
	enum { N = 1000 };
	static char u[N][UUID_LEN + 1];
	for (int i = 0; i < N; i++)
		TU_INT(util_uuid(u[i]), 0);
	qsort(u, N, sizeof u[0], cmp_str);
	int dups = 0;
	for (int i = 1; i < N; i++)
		dups += strcmp(u[i - 1], u[i]) == 0;
	TU_INT(dups, 0);
	/* the random part varies in every position (not a counter or a constant block) */
	for (int pos = 0; pos < 36; pos++) {
		if (pos == 8 || pos == 13 || pos == 14 || pos == 18 || pos == 23)
			continue;
		int differs = 0;
		for (int i = 1; i < N && !differs; i++)
			differs = u[i][pos] != u[0][pos];
		TU_CHECK(differs, "uuid position %d never varies", pos);
	}
}

static void test_is_uuid(void)
{
	TU_INT(util_is_uuid("123e4567-e89b-42d3-a456-426614174000"), 1);
	TU_INT(util_is_uuid("123E4567-E89B-42D3-A456-426614174000"), 1);
	TU_INT(util_is_uuid("00000000-0000-0000-0000-000000000000"), 1);
	TU_INT(util_is_uuid(""), 0);
	TU_INT(util_is_uuid("123e4567e89b42d3a456426614174000"), 0);
	TU_INT(util_is_uuid("123e4567-e89b-42d3-a456-42661417400"), 0);
	TU_INT(util_is_uuid("123e4567-e89b-42d3-a456-4266141740000"), 0);
	TU_INT(util_is_uuid("123e4567-e89b-42d3-a456_426614174000"), 0);
	TU_INT(util_is_uuid("123e4567-e89b-42d3-a456-42661417400g"), 0);
	TU_INT(util_is_uuid("123e4567-e89b-42d3-a4560426614174000"), 0);
	TU_INT(util_is_uuid("-23e4567-e89b-42d3-a456-426614174000"), 0);
	TU_INT(util_is_uuid("{23e4567-e89b-42d3-a456-42661417400}"), 0);
}

static void test_hex_helpers(void)
{
	TU_INT(util_is_hex("0123456789abcdefABCDEF", 22), 1);
	TU_INT(util_is_hex("abcg", 4), 0);
	TU_INT(util_is_hex("abcg", 3), 1); /* only n bytes are looked at */
	TU_INT(util_is_hex("", 0), 1);
	TU_INT(util_is_hex("12 4", 4), 0);
	TU_INT(util_is_hex("0x12", 4), 0);

	char out[129];
	memset(out, 'Q', sizeof out);
	TU_INT(util_random_hex(out, 16), 0);
	TU_INT(strnlen(out, sizeof out), 32);
	for (int i = 0; i < 32; i++)
		TU_CHECK(isdigit((unsigned char)out[i]) || (out[i] >= 'a' && out[i] <= 'f'),
			 "random hex %s", out);
	TU_INT(util_random_hex(out, 64), 0);
	TU_INT(strnlen(out, sizeof out), 128);
	TU_INT(util_random_hex(out, 65), -1);
	TU_INT(util_random_hex(out, 0), 0);
	TU_STR(out, "");

	TU_INT(util_ct_equal("abcdef", "abcdef", 6), 1);
	TU_INT(util_ct_equal("abcdef", "abcdeg", 6), 0);
	TU_INT(util_ct_equal("Xbcdef", "abcdef", 6), 0);
	TU_INT(util_ct_equal("abcdef", "abcdeg", 5), 1);
}

static void expect_iso(const char *s, int64_t want)
{
	int64_t ms = -123456789;
	int rc = util_iso_parse(s, &ms);
	TU_CHECK(rc == 0 && ms == want, "util_iso_parse(\"%s\") = %d, %lld; want 0, %lld", s, rc,
		 (long long)ms, (long long)want);
}

static void expect_iso_bad(const char *s)
{
	int64_t ms = 42;
	int rc = util_iso_parse(s, &ms);
	TU_CHECK(rc == -1, "util_iso_parse(\"%s\") = %d (ms %lld), want -1", s ? s : "(null)", rc,
		 (long long)ms);
}

#define T1030 1736937000000LL /* 2025-01-15T10:30:00Z */

static void test_iso_parse_valid(void)
{
	expect_iso("1970-01-01", 0);
	expect_iso("1970-01-01T00:00:00Z", 0);
	expect_iso("2025-01-15", 1736899200000LL);
	expect_iso("2025-01-15T10:30:00Z", T1030);
	expect_iso("2025-01-15T10:30:00z", T1030);
	expect_iso("2025-01-15t10:30:00Z", T1030);
	expect_iso("2025-01-15 10:30:00", T1030);
	expect_iso("2025-01-15T10:30:00", T1030); /* no zone: UTC */
	expect_iso("2025-01-15T10:30Z", T1030);
	expect_iso("2025-01-15T10:30", T1030);
	expect_iso("2025-01-15T10:30:00.123Z", T1030 + 123);
	expect_iso("2025-01-15T10:30:00.1Z", T1030 + 100);
	expect_iso("2025-01-15T10:30:00.12Z", T1030 + 120);
	expect_iso("2025-01-15T10:30:00.000Z", T1030);
	expect_iso("2025-01-15T10:30:00.999Z", T1030 + 999);
	expect_iso("2025-01-15T10:30:00.123456Z", T1030 + 123); /* extra digits truncated */
	expect_iso("2025-01-15T10:30:00.5", T1030 + 500);
	expect_iso("2025-01-15T12:30:00+02:00", T1030);
	expect_iso("2025-01-15T12:30:00+0200", T1030);
	expect_iso("2025-01-15T05:00:00-0530", T1030);
	expect_iso("2025-01-15T05:00:00-05:30", T1030);
	expect_iso("2025-01-15T10:30:00+00:00", T1030);
	expect_iso("2025-01-15T10:30:00-00:00", T1030);
	expect_iso("2025-01-15T12:30:00.250+02:00", T1030 + 250);
	expect_iso("2025-01-16T00:30:00+14:00", T1030);  /* crosses the date line */
	expect_iso("2025-01-14T22:30:00-12:00", T1030);
	expect_iso("2024-02-29", 1709164800000LL);       /* leap year */
	expect_iso("2000-02-29T23:59:59Z", 951868799000LL); /* 400-year rule */
	expect_iso("2025-12-31T23:59:59.999Z", 1767225599999LL);
	expect_iso("9999-12-31T23:59:59Z", 253402300799000LL);
}

static void test_iso_parse_invalid(void)
{
	expect_iso_bad(NULL);
	expect_iso_bad("");
	expect_iso_bad("2025");
	expect_iso_bad("2025-01");
	expect_iso_bad("2025-13-01");
	expect_iso_bad("2025-00-10");
	expect_iso_bad("2025-01-00");
	expect_iso_bad("2025-01-32");
	expect_iso_bad("2025-02-30");
	expect_iso_bad("2025-04-31");
	expect_iso_bad("2023-02-29");
	expect_iso_bad("2100-02-29");
	expect_iso_bad("1969-12-31");
	expect_iso_bad("25-01-15");
	expect_iso_bad("2025/01/15");
	expect_iso_bad("2025-1-15");
	expect_iso_bad("2025-01-5");
	expect_iso_bad("20250115");
	expect_iso_bad("2025-01-15x");
	expect_iso_bad("2025-01-15 ");
	expect_iso_bad("2025-01-15T");
	expect_iso_bad("2025-01-15T10");
	expect_iso_bad("2025-01-15T10:3");
	expect_iso_bad("2025-01-15T25:00");
	expect_iso_bad("2025-01-15T24:00:00Z");
	expect_iso_bad("2025-01-15T10:60");
	expect_iso_bad("2025-01-15T10:30:60Z");
	expect_iso_bad("2025-01-15T10:30:00.Z");
	expect_iso_bad("2025-01-15T10:30:00.");
	expect_iso_bad("2025-01-15T10:30:00Zjunk");
	expect_iso_bad("2025-01-15T10:30:00ZZ");
	expect_iso_bad("2025-01-15T10:30:00 Z");
	expect_iso_bad("2025-01-15T10:30:00+02");
	expect_iso_bad("2025-01-15T10:30:00+2:00");
	expect_iso_bad("2025-01-15T10:30:00+24:00");
	expect_iso_bad("2025-01-15T10:30:00+02:60");
	expect_iso_bad("2025-01-15T10:30:00+02:00x");
	expect_iso_bad("2025-01-15Z");
	expect_iso_bad(" 2025-01-15");
	expect_iso_bad("+2025-01-15");
	expect_iso_bad("abcd-ef-gh");
	expect_iso_bad("2025-01-15T10:30:00\n");
}

static void expect_db_iso(const char *db, const char *want)
{
	char out[40];
	memset(out, 'Q', sizeof out);
	int rc = util_db_to_iso(db, out, sizeof out);
	TU_CHECK(rc == 0, "util_db_to_iso(\"%s\") = %d", db, rc);
	if (rc == 0)
		TU_CHECK(strcmp(out, want) == 0, "util_db_to_iso(\"%s\") = \"%s\", want \"%s\"", db, out,
			 want);
}

static void test_db_to_iso(void)
{
	expect_db_iso("2025-01-15 10:30:00.123", "2025-01-15T10:30:00.123Z");
	expect_db_iso("2025-01-15 10:30:00", "2025-01-15T10:30:00.000Z");
	expect_db_iso("2025-01-15 10:30:00.000", "2025-01-15T10:30:00.000Z");
	expect_db_iso("2025-01-15 10:30:00.1", "2025-01-15T10:30:00.100Z");
	expect_db_iso("2025-01-15 10:30:00.12", "2025-01-15T10:30:00.120Z");
	expect_db_iso("2025-01-15 10:30:00.999999", "2025-01-15T10:30:00.999Z");
	expect_db_iso("1970-01-01 00:00:00.000", "1970-01-01T00:00:00.000Z");
	expect_db_iso("2024-02-29 23:59:59.999", "2024-02-29T23:59:59.999Z");
	expect_db_iso("0999-01-02 03:04:05.006", "0999-01-02T03:04:05.006Z");

	char out[40] = "untouched";
	TU_INT(util_db_to_iso(NULL, out, sizeof out), -1);
	TU_INT(util_db_to_iso("", out, sizeof out), -1);
	TU_INT(util_db_to_iso("garbage", out, sizeof out), -1);
	TU_INT(util_db_to_iso("2025-01-15", out, sizeof out), -1);
	TU_INT(util_db_to_iso("2025-01-15 10:30", out, sizeof out), -1);
	TU_INT(util_db_to_iso("10:30:00", out, sizeof out), -1);
	TU_INT(util_db_to_iso("2025/01/15 10:30:00", out, sizeof out), -1);

	/* the output is exactly 24 characters + NUL: a 25-byte buffer suffices */
	char small[25];
	TU_INT(util_db_to_iso("2025-01-15 10:30:00.123", small, sizeof small), 0);
	TU_STR(small, "2025-01-15T10:30:00.123Z");
}

static void expect_ms_db(int64_t ms, const char *want)
{
	char out[24];
	memset(out, 'Q', sizeof out);
	util_ms_to_db(ms, out);
	TU_CHECK(memchr(out, '\0', sizeof out) != NULL, "util_ms_to_db(%lld) not terminated",
		 (long long)ms);
	out[sizeof out - 1] = '\0';
	TU_CHECK(strcmp(out, want) == 0, "util_ms_to_db(%lld) = \"%s\", want \"%s\"", (long long)ms,
		 out, want);
}

static void test_ms_to_db(void)
{
	expect_ms_db(0, "1970-01-01 00:00:00.000");
	expect_ms_db(T1030, "2025-01-15 10:30:00.000");
	expect_ms_db(T1030 + 7, "2025-01-15 10:30:00.007");
	expect_ms_db(T1030 + 123, "2025-01-15 10:30:00.123");
	expect_ms_db(1767225599999LL, "2025-12-31 23:59:59.999");
	expect_ms_db(1709164800000LL, "2024-02-29 00:00:00.000");
	/* instants before the epoch: util_iso_parse returns them for e.g.
	 * "1970-01-01T00:00:00.500+01:00" (-3599500 ms) */
	expect_ms_db(-3600000, "1969-12-31 23:00:00.000");
	expect_ms_db(-1, "1969-12-31 23:59:59.999");
	expect_ms_db(-3599500, "1969-12-31 23:00:00.500");
}

static void test_time_round_trip(void)
{
	static const char *const inputs[] = {
		"2025-01-15T10:30:00.123Z", "2024-02-29T00:00:00.000Z", "2000-01-01T00:00:00.001Z",
		"2038-01-19T03:14:08.999Z", "2099-12-31T23:59:59.500Z", NULL
	};
	for (int i = 0; inputs[i]; i++) {
		int64_t ms = 0, back = 0;
		char db[24], iso[40];
		TU_INT(util_iso_parse(inputs[i], &ms), 0);
		util_ms_to_db(ms, db);
		TU_INT(util_db_to_iso(db, iso, sizeof iso), 0);
		TU_STR(iso, inputs[i]);
		TU_INT(util_iso_parse(iso, &back), 0);
		TU_INT(back, ms);
		TU_INT(util_iso_parse(db, &back), 0); /* the DB form is also accepted as input */
		TU_INT(back, ms);
	}
	/* an offset input comes back as the same instant in UTC */
	int64_t ms = 0;
	char db[24], iso[40];
	TU_INT(util_iso_parse("2025-01-15T12:30:00.250+02:00", &ms), 0);
	util_ms_to_db(ms, db);
	TU_STR(db, "2025-01-15 10:30:00.250");
	TU_INT(util_db_to_iso(db, iso, sizeof iso), 0);
	TU_STR(iso, "2025-01-15T10:30:00.250Z");
}

static void test_now_ms(void)
{
	int64_t a = util_now_ms(), b = util_now_ms();
	TU_CHECK(a > 1700000000000LL && a < 4102444800000LL, "util_now_ms %lld", (long long)a);
	TU_CHECK(b >= a, "clock went back: %lld then %lld", (long long)a, (long long)b);
}

/* Hub strings in log lines: one line, no terminal escapes, valid UTF-8, bounded. */
static void test_log_str(void)
{
	char out[LOG_STR_BUF], small[8];
	TU_STR(log_str("abc-123 ok", out, sizeof out), "abc-123 ok");
	TU_STR(log_str("s1\nhub x online (session forged)", out, sizeof out),
	       "s1\\x0ahub x online (session forged)");
	TU_STR(log_str("\x1b[31mred\r\t", out, sizeof out), "\\x1b[31mred\\x0d\\x09");
	TU_STR(log_str("a\\b", out, sizeof out), "a\\\\b");
	TU_STR(log_str("caf\xc3\xa9 \xe2\x82\xac", out, sizeof out), "caf\xc3\xa9 \xe2\x82\xac");
	TU_STR(log_str("x\xffy\xc3", out, sizeof out), "x\\xffy\\xc3");          /* not UTF-8 */
	TU_STR(log_str("\xc2\x85|\xe2\x80\xa8|\x7f", out, sizeof out),
	       "\\xc2\\x85|\\xe2\\x80\\xa8|\\x7f");                               /* NEL, LS, DEL */
	TU_STR(log_str("\xed\xa0\x80", out, sizeof out), "\\xed\\xa0\\x80");     /* a surrogate */
	TU_STR(log_str(NULL, out, sizeof out), "-");
	TU_STR(log_str("abcdefg", small, sizeof small), "abcdefg");            /* exact fit */
	TU_STR(log_str("abcdefgh", small, sizeof small), "abcd...");
	TU_STR(log_str("ab\ncdef", small, sizeof small), "ab...");             /* no half escape */
	char big[1000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	const char *cut = LOG_STR(big);
	TU_INT((long long)strlen(cut), LOG_STR_BUF - 1);
	TU_CHECK(strcmp(cut + LOG_STR_BUF - 4, "...") == 0, "a cut string ends in ...");
}

int init_util_suite(void)
{
	CU_pSuite s = CU_add_suite("util", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_uuid_format);
	TU_ADD(s, test_uuid_unique);
	TU_ADD(s, test_is_uuid);
	TU_ADD(s, test_hex_helpers);
	TU_ADD(s, test_iso_parse_valid);
	TU_ADD(s, test_iso_parse_invalid);
	TU_ADD(s, test_db_to_iso);
	TU_ADD(s, test_ms_to_db);
	TU_ADD(s, test_time_round_trip);
	TU_ADD(s, test_now_ms);
	TU_ADD(s, test_log_str);
	return 0;
}
