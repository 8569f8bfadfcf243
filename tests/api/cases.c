/* cases.c - API tests as rows of data (cases.h). */
#include "cases.h"

#include "apitest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int case_init(struct case_ctx *c)
{
	memset(c, 0, sizeof *c);
	if (fx_tenant(&c->t, "read,write,control") < 0 ||
	    fx_tenant(&c->other, "read,write,control") < 0)
		return -1;
	return 0;
}

void case_var(struct case_ctx *c, const char *name, const char *value)
{
	int i = 0;
	while (i < c->nvars && strcmp(c->names[i], name) != 0)
		i++;
	if (i == CASE_VARS)
		return;
	c->names[i] = name;
	snprintf(c->values[i], sizeof c->values[i], "%s", value);
	if (i == c->nvars)
		c->nvars++;
}

/* text with every {name} replaced; -1 when a name is unknown or the result too long. */
static int fill(const struct case_ctx *c, const char *text, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = text; *p;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		int i = 0;
		while (close && i < c->nvars &&
		       !(strlen(c->names[i]) == (size_t)(close - p - 1) &&
			 strncmp(c->names[i], p + 1, (size_t)(close - p - 1)) == 0))
			i++;
		const char *put = close && i < c->nvars ? c->values[i] : NULL;
		size_t n = put ? strlen(put) : 1;
		if (o + n >= size)
			return -1;
		memcpy(out + o, put ? put : p, n);
		o += n;
		p = put ? close + 1 : p + 1;
	}
	out[o] = '\0';
	return 0;
}

/* The key of the row's scopes (made once per scopes), another account's, or NULL. */
static const char *key_for(struct case_ctx *c, const char *scopes)
{
	if (!scopes)
		return NULL;
	if (strcmp(scopes, CASE_OTHER) == 0)
		return c->other.key;
	for (int i = 0; i < c->nkeys; i++)
		if (strcmp(c->scopes[i], scopes) == 0)
			return c->keys[i];
	if (c->nkeys == CASE_KEYS || fx_tenant_key(&c->t, scopes, c->keys[c->nkeys]) < 0)
		return "";
	snprintf(c->scopes[c->nkeys], sizeof c->scopes[0], "%s", scopes);
	return c->keys[c->nkeys++];
}

/* The member at path ("data.items[2].name") from root, or NULL. */
static const json_t *member(const json_t *root, const char *path)
{
	char name[128];
	const json_t *v = root;
	for (const char *p = path; v && *p;) {
		const json_t *whole = json_object_get(v, p); /* a name with '.' or '[' in it */
		if (whole)
			return whole;
		if (*p == '.') {
			p++;
			continue;
		}
		if (*p == '[') {
			char *end;
			long i = strtol(p + 1, &end, 10);
			v = *end == ']' ? json_array_get(v, (size_t)i) : NULL;
			p = *end == ']' ? end + 1 : p + strlen(p);
			continue;
		}
		size_t n = strcspn(p, ".[");
		if (n >= sizeof name)
			return NULL;
		memcpy(name, p, n);
		name[n] = '\0';
		v = json_object_get(v, name);
		p += n;
	}
	return v;
}

/* One expectation of a row; 1 when it holds, else 0 with *why set. */
static int holds(const struct case_ctx *c, const json_t *root, const char *e, char *why,
		 size_t size)
{
	char path[256], want[512];
	int absent = e[0] == '!';
	const char *eq = strchr(e, '=');
	size_t n = eq ? (size_t)(eq - e) : strlen(e);
	snprintf(path, sizeof path, "%.*s", (int)(n - (size_t)absent), e + absent);
	const json_t *v = member(root, path);
	if (absent || !eq) {
		if ((v != NULL) == !absent)
			return 1;
		snprintf(why, size, "%s should be %s", path, absent ? "absent" : "present");
		return 0;
	}
	if (fill(c, eq + 1, want, sizeof want) < 0) {
		snprintf(why, size, "%s: unknown {name} in the expected value", path);
		return 0;
	}
	char *got = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	int ok = v && (json_is_string(v) ? strcmp(json_string_value(v), want) == 0
					 : got && strcmp(got, want) == 0);
	if (!ok)
		snprintf(why, size, "%.200s: got %.300s, want %.200s", path, got ? got : "(absent)",
			 want);
	free(got);
	return ok;
}

void case_run(struct case_ctx *c, const struct case_row *rows, size_t n, const char *file,
	      unsigned line)
{
	for (size_t i = 0; i < n; i++) {
		const struct case_row *row = &rows[i];
		char path[512], body[4096], why[768];
		RESP(r);
		if (fill(c, row->path, path, sizeof path) < 0 ||
		    (row->body && fill(c, row->body, body, sizeof body) < 0)) {
			at_check(0, NULL, file, line, "row %zu (%s %s): unknown {name}", i,
				 row->method, row->path);
			continue;
		}
		api(row->method, path, key_for(c, row->key), row->body ? body : NULL, &r);
		if (!at_expect(&r, row->status, row->code, file, line)) {
			at_check(0, &r, file, line, "row %zu failed (above)", i);
			continue;
		}
		for (int k = 0; k < CASE_EXPECT && row->expect[k]; k++)
			if (!holds(c, r.json, row->expect[k], why, sizeof why))
				at_check(0, &r, file, line, "row %zu: %s", i, why);
	}
}
