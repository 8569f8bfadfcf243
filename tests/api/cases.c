/* cases.c - table-driven request checks (cases.h). */
#include "cases.h"

/* path with its "{id}" replaced by id. */
static void fill_path(const char *path, const char *id, char *out, size_t size)
{
	const char *at = strstr(path, "{id}");
	if (!at || !id)
		snprintf(out, size, "%s", path);
	else
		snprintf(out, size, "%.*s%s%s", (int)(at - path), path, id, at + 4);
}

void run_cases(const struct case_row *rows, size_t n, const char *key, const char *id,
	       const char *file, unsigned line)
{
	char path[512];
	for (size_t i = 0; i < n; i++) {
		RESP(r);
		const struct case_row *c = &rows[i];
		fill_path(c->path, id, path, sizeof path);
		api(c->method, path, key, c->body, &r);
		if (!at_expect(&r, c->status, c->code, file, line))
			continue;
		if (c->field)
			at_check(rdetail(&r, c->field) != NULL, &r, file, line,
				 "details name %s (case %zu: %s)", c->field, i,
				 c->body ? c->body : "no body");
	}
}
