/* check.c - assertion helpers of the API tests (see apitest.h). */
#include "apitest.h"

#include "util.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void record(int ok, const char *file, unsigned line, const char *msg)
{
	CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, line, ok ? "" : msg, file, "", CU_FALSE);
}

static void describe(const struct resp *r, char *out, size_t size)
{
	if (!r) {
		out[0] = '\0';
		return;
	}
	if (r->status == 0) {
		snprintf(out, size, " [%s -> transport error: %s]", r->what, r->curl_error);
		return;
	}
	snprintf(out, size, " [%s -> %ld %.700s%s]", r->what, r->status, r->body ? r->body : "",
		 r->len > 700 ? "..." : "");
}

int at_check(int ok, const struct resp *r, const char *file, unsigned line, const char *fmt, ...)
{
	if (ok) {
		record(1, file, line, "");
		return 1;
	}
	char msg[1024], ctx[1024], full[2100];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	describe(r, ctx, sizeof ctx);
	snprintf(full, sizeof full, "%s%s", msg, ctx);
	record(0, file, line, full);
	return 0;
}

int at_expect(const struct resp *r, long status, const char *code, const char *file,
	      unsigned line)
{
	char why[256] = "";
	const json_t *j = r->json;
	if (r->status != status) {
		snprintf(why, sizeof why, "want status %ld%s%s", status, code ? " " : "",
			 code ? code : "");
	} else if (!json_is_object(j)) {
		snprintf(why, sizeof why, "want a JSON object body");
	} else if (code) {
		const char *got = json_string_value(json_object_get(j, "code"));
		const char *err = json_string_value(json_object_get(j, "error"));
		if (!json_is_false(json_object_get(j, "success")))
			snprintf(why, sizeof why, "want success false");
		else if (!got || strcmp(got, code) != 0)
			snprintf(why, sizeof why, "want code %s", code);
		else if (!err || !*err)
			snprintf(why, sizeof why, "want a non-empty error message");
		else if (json_object_get(j, "data"))
			snprintf(why, sizeof why, "an error envelope has no data");
	} else {
		if (!json_is_true(json_object_get(j, "success")))
			snprintf(why, sizeof why, "want success true");
		else if (!json_object_get(j, "data"))
			snprintf(why, sizeof why, "want a data member");
		else if (json_object_get(j, "code") || json_object_get(j, "error"))
			snprintf(why, sizeof why, "a success envelope has no code/error");
	}
	return at_check(why[0] == '\0', r, file, line, "%s", why);
}

int at_keys(const json_t *obj, const char *const *keys, const struct resp *r, const char *file,
	    unsigned line)
{
	char missing[512] = "", extra[512] = "";
	if (!json_is_object(obj))
		return at_check(0, r, file, line, "want an object with exact members");
	for (const char *const *k = keys; *k; k++)
		if (!json_object_get(obj, *k))
			snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s", *k);
	const char *name;
	const json_t *v;
	json_object_foreach((json_t *)obj, name, v) {
		int known = 0;
		for (const char *const *k = keys; *k && !known; k++)
			known = strcmp(*k, name) == 0;
		if (!known)
			snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " %s", name);
	}
	return at_check(!missing[0] && !extra[0], r, file, line, "members: missing [%s ] extra [%s ]",
			missing, extra);
}

int at_str(const char *actual, const char *expected, const char *what, const struct resp *r,
	   const char *file, unsigned line)
{
	int ok = actual && expected ? strcmp(actual, expected) == 0 : actual == expected;
	return at_check(ok, r, file, line, "%s: got %s%s%s, want %s%s%s", what, actual ? "\"" : "",
			actual ? actual : "(null)", actual ? "\"" : "", expected ? "\"" : "",
			expected ? expected : "(null)", expected ? "\"" : "");
}

int at_int(long long actual, long long expected, const char *what, const struct resp *r,
	   const char *file, unsigned line)
{
	return at_check(actual == expected, r, file, line, "%s: got %lld, want %lld", what, actual,
			expected);
}

json_t *rdata(const struct resp *r)
{
	return json_object_get(r->json, "data");
}

const char *jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

long long jint(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : LLONG_MIN;
}

int jbool(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_boolean(v) ? json_is_true(v) : -1;
}

json_t *rdetail(const struct resp *r, const char *field)
{
	return json_object_get(json_object_get(r->json, "details"), field);
}

int is_iso_ms(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	if (!s || strlen(s) != sizeof pat - 1)
		return 0;
	for (size_t i = 0; pat[i]; i++) {
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return 0;
	}
	return 1;
}

long long iso_ms(const char *s)
{
	if (!is_iso_ms(s))
		return -1;
	struct tm tm = { 0 };
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	tm.tm_sec = atoi(s + 17);
	return (long long)timegm(&tm) * 1000 + atoi(s + 20);
}

long long hdr_int(const struct resp *r, const char *name)
{
	const char *v = resp_header(r, name);
	char *end;
	if (!v || !*v)
		return LLONG_MIN;
	long long n = strtoll(v, &end, 10);
	return *end ? LLONG_MIN : n;
}

const char *rep(int slot, const char *unit, int n)
{
	static char *bufs[4];
	size_t ul = strlen(unit);
	char *b = realloc(bufs[slot & 3], ul * (size_t)n + 1);
	if (!b)
		abort();
	bufs[slot & 3] = b;
	for (int i = 0; i < n; i++)
		memcpy(b + ul * (size_t)i, unit, ul);
	b[ul * (size_t)n] = '\0';
	return b;
}

/* Bit set of the methods in a list like "GET, PATCH" (bit 31: an unknown token). */
unsigned method_bits(const char *list)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };
	char buf[256], *save = NULL;
	unsigned bits = 0;
	snprintf(buf, sizeof buf, "%s", list);
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		unsigned bit = 1u << 31;
		for (unsigned i = 0; i < 5; i++)
			if (strcmp(tok, methods[i]) == 0)
				bit = 1u << i;
		bits |= bit;
	}
	return bits;
}

int at_db_is(const struct db_query *q, const char *id, const char *want, const char *file,
	     unsigned line)
{
	char got[512];
	if (fx_sql_text_at(file, line, q, DB_ARGS(DS(id)), got, sizeof got) < 0)
		return 0; /* no row (or the statement failed): the failure is recorded */
	return at_str(got, want, "stored value", NULL, file, line);
}

int at_db_becomes(const struct db_query *q, const char *id, const char *want, long ms,
		  const char *file, unsigned line)
{
	char got[512] = "";
	int rc;
	int64_t end = util_now_ms() + ms;
	do {
		rc = fx_sql_text_poll(q, DB_ARGS(DS(id)), got, sizeof got);
		if (rc < 0)
			return at_check(0, NULL, file, line, "cannot read the stored value of %s", id);
		if (rc == 0 && strcmp(got, want) == 0)
			return at_check(1, NULL, file, line, "%s", "");
		struct timespec ts = { 0, 150 * 1000000L };
		nanosleep(&ts, NULL);
	} while (util_now_ms() < end);
	if (rc == 1)
		return at_check(0, NULL, file, line, "no row for %s within %ld ms, want \"%s\": %s",
				id, ms, want, q->sql);
	return at_check(0, NULL, file, line, "stored value of %s stayed \"%s\", want \"%s\"", id,
			got, want);
}
