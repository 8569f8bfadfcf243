/* render.c - micro-benchmark of the app-side cost of GET /v1/printers with 50 rows, without
 * the database or FastCGI: the current path (jhelp_rows -> json_pack -> json_dumps, with the
 * DATETIME text re-parsed by util_db_to_iso) against a direct emitter that writes the same JSON
 * text from the cells. Not part of `make bench`; an investigation aid (see scripts/bench.sh).
 *
 * Build (after `make all`; from the repository root):
 *   cc -O2 -std=c17 -D_GNU_SOURCE -Icommon -Ifcgi $(pkg-config --cflags libmariadb) \
 *      -o build/bench/render tests/bench/render.c build/obj/common/jhelp.o \
 *      build/obj/common/util.o $(pkg-config --libs jansson openssl) -lm
 * Run: build/bench/render [ROWS] [ITERATIONS] */
#include "jhelp.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct jcol C_PRINTER[] = {
	{ "id", JC_STR },
	{ "name", JC_STR },
	{ "model", JC_STR },
	{ "manufacturer", JC_STR },
	{ "status", JC_STR },
	{ "location", JC_STR },
	{ "nozzle_size", JC_NUM },
	{ "current_color", JC_STR },
	{ "current_color_hex", JC_STR },
	{ "current_filament_type", JC_STR },
	{ "current_build_plate", JC_STR },
	{ "has_ams", JC_BOOL },
	{ "is_active", JC_BOOL },
	{ "created_at", JC_TIME },
	{ "updated_at", JC_TIME },
	{ NULL, 0 }
};
#define NCOLS 15

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* db.c's accessor, so jhelp.o links without the database layer */
const char *db_get(const struct db_res *res, unsigned long row, unsigned col)
{
	if (!res || row >= res->nrows || col >= res->ncols)
		return NULL;
	return res->cells[row * res->ncols + col];
}

/* ---- the direct emitter: a growing buffer, JSON string escaping, hand-made ISO time ---- */

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np)
			abort();
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}
#define PUTS(b, lit) put(b, lit, sizeof lit - 1)

static void put_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	PUTS(b, "\"");
	const char *run = s;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(b, run, (size_t)(s - run));
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			put(b, esc, 2);
		} else {
			put(b, esc, 6);
		}
		run = s + 1;
	}
	put(b, run, (size_t)(s - run));
	PUTS(b, "\"");
}

/* "YYYY-MM-DD HH:MM:SS[.fff]" -> "YYYY-MM-DDTHH:MM:SS.fffZ" without scanf/printf */
static void put_time(struct buf *b, const char *db)
{
	char out[26] = "\"0000-00-00T00:00:00.000Z";
	memcpy(out + 1, db, 10);
	memcpy(out + 12, db + 11, 8);
	if (db[19] == '.')
		for (int i = 0; i < 3 && db[20 + i] >= '0' && db[20 + i] <= '9'; i++)
			out[21 + i] = db[20 + i];
	put(b, out, 25);
	PUTS(b, "\"");
}

static char *direct(const struct db_res *res, size_t *len)
{
	struct buf b = { 0 };
	PUTS(&b, "{\"success\":true,\"data\":[");
	for (unsigned long r = 0; r < res->nrows; r++) {
		if (r)
			PUTS(&b, ",");
		PUTS(&b, "{");
		for (unsigned c = 0; c < NCOLS; c++) {
			const char *cell = res->cells[r * NCOLS + c];
			if (c)
				PUTS(&b, ",");
			PUTS(&b, "\"");
			put(&b, C_PRINTER[c].name, strlen(C_PRINTER[c].name));
			PUTS(&b, "\":");
			if (!cell)
				PUTS(&b, "null");
			else if (C_PRINTER[c].type == JC_BOOL)
				put(&b, strcmp(cell, "0") && *cell ? "true" : "false",
				    strcmp(cell, "0") && *cell ? 4 : 5);
			else if (C_PRINTER[c].type == JC_TIME)
				put_time(&b, cell);
			else if (C_PRINTER[c].type == JC_NUM || C_PRINTER[c].type == JC_INT)
				put(&b, cell, strlen(cell));
			else
				put_str(&b, cell);
		}
		PUTS(&b, "}");
	}
	PUTS(&b, "]}");
	*len = b.n;
	return b.p;
}

/* ---- the current path ---- */

static char *current(const struct db_res *res, size_t *len)
{
	json_t *data = jhelp_rows(C_PRINTER, res);
	json_t *out = json_pack("{s:b, s:O}", "success", 1, "data", data);
	char *body = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(out);
	json_decref(data);
	*len = body ? strlen(body) : 0;
	return body;
}

static char *times_only(const struct db_res *res, size_t *len)
{
	char iso[40];
	*len = 0;
	for (unsigned long r = 0; r < res->nrows; r++)
		for (unsigned c = 13; c < NCOLS; c++)
			if (util_db_to_iso(res->cells[r * NCOLS + c], iso, sizeof iso) == 0)
				*len += strlen(iso);
	return NULL;
}

static char *build_only(const struct db_res *res, size_t *len)
{
	json_t *data = jhelp_rows(C_PRINTER, res);
	*len = json_array_size(data);
	json_decref(data);
	return NULL;
}

static double timeit(char *(*fn)(const struct db_res *, size_t *), const struct db_res *res,
		     int iters, size_t *len)
{
	double best = 1e30;
	for (int round = 0; round < 5; round++) {
		double t0 = now_us();
		for (int i = 0; i < iters; i++)
			free(fn(res, len));
		double per = (now_us() - t0) / iters;
		if (per < best)
			best = per;
	}
	return best;
}

int main(int argc, char **argv)
{
	unsigned long rows = argc > 1 ? strtoul(argv[1], NULL, 10) : 50;
	int iters = argc > 2 ? atoi(argv[2]) : 2000;
	static const char *const models[] = { "X1 Carbon", "P1S", "A1 mini", "MK4", "Prusa XL",
					      "Voron 2.4", "Ender 3 V3", "Sovol SV08" };
	struct db_res res = { 0 };
	res.nrows = rows;
	res.ncols = NCOLS;
	if (rows < 1 || iters < 1) {
		fprintf(stderr, "usage: render [ROWS] [ITERATIONS]\n");
		return 2;
	}
	res.cells = calloc(rows * NCOLS, sizeof *res.cells);
	if (!res.cells)
		return 1;
	for (unsigned long r = 0; r < rows; r++) {
		char **row = res.cells + r * NCOLS, tmp[128];
		util_uuid(tmp);
		row[0] = strdup(tmp);
		snprintf(tmp, sizeof tmp, "Rack %lu / %s #%02lu", r / 10 + 1, models[r % 8], r + 1);
		row[1] = strdup(tmp);
		row[2] = strdup(models[r % 8]);
		row[4] = strdup("idle");
		row[11] = strdup("0");
		row[12] = strdup("1");
		snprintf(tmp, sizeof tmp, "2026-11-27 21:42:28.%03lu", r * 17 % 1000);
		row[13] = strdup(tmp);
		row[14] = strdup(tmp);
	}
	size_t la, lb, lx;
	char *a = current(&res, &la), *b = direct(&res, &lb);
	if (la != lb || memcmp(a, b, la) != 0) {
		fprintf(stderr, "render: the two emitters differ\n%s\n%s\n", a, b);
		return 1;
	}
	free(a);
	free(b);
	printf("%lu rows, %zu-byte body, best of 5 x %d iterations:\n", rows, la, iters);
	printf("  current (jansson tree + dumps) %8.1f us\n", timeit(current, &res, iters, &lx));
	printf("    of which building the tree   %8.1f us\n", timeit(build_only, &res, iters, &lx));
	printf("    of which the DATETIME->ISO   %8.1f us (sscanf + snprintf)\n",
	       timeit(times_only, &res, iters, &lx));
	printf("  direct emitter                 %8.1f us\n", timeit(direct, &res, iters, &lx));
	return 0;
}
