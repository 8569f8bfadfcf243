#include "req.h"

#include "storage.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *req_param(const struct req *r, const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; i < r->nparams; i++) {
		const char *p = r->param_names[i] + 1; /* skip '{' */
		if (strncmp(p, name, n) == 0 && p[n] == '}')
			return r->param_vals[i];
	}
	return "";
}

const char *req_log_path(const struct req *r, char *out, size_t size)
{
	size_t o = 0;
	if (!size)
		return out;
	out[0] = '\0';
	if (!r->route) {
		snprintf(out, size, "%s", r->path ? r->path : "");
		return out;
	}
	for (const char *p = r->route->path; *p && o + 1 < size;) {
		size_t n = strcspn(p, "/");
		const char *seg = p;
		int len = (int)n;
		if (n > 2 && p[0] == '{' && p[n - 1] == '}') {
			char name[32];
			snprintf(name, sizeof name, "%.*s", (int)n - 2, p + 1);
			seg = strcmp(name, "token") == 0 ? "<redacted>" : req_param(r, name);
			len = (int)strlen(seg);
		}
		int w = snprintf(out + o, size - o, "%.*s%s", len, seg, p[n] == '/' ? "/" : "");
		o = w < 0 ? size : o + (size_t)w;
		p += n + (p[n] == '/');
	}
	if (o >= size)
		out[size - 1] = '\0';
	return out;
}

const char *req_query(const struct req *r, const char *name)
{
	for (int i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].key, name) == 0)
			return r->query[i].value;
	return NULL;
}

void req_problem(struct req *r, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!r->details)
		r->details = json_object();
	jhelp_detail(r->details, field, "%s", msg);
}

int req_invalid(const struct req *r)
{
	return r->details && json_object_size(r->details) > 0;
}

int req_check_body(struct req *r, const struct jfield *fields)
{
	if (!r->details)
		r->details = json_object();
	return jhelp_check(r->body, fields, r->details);
}

int req_query_int(struct req *r, const char *name, long long min, long long max, long long *out)
{
	const char *v = req_query(r, name);
	if (!v)
		return 0;
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || errno == ERANGE || n < min || n > max || !(isdigit((unsigned char)*v) || *v == '-')) {
		req_problem(r, name, "%s must be an integer between %lld and %lld", name, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

int req_query_bool(struct req *r, const char *name, int *out)
{
	const char *v = req_query(r, name);
	if (!v)
		return 0;
	if (strcmp(v, "true") == 0) {
		*out = 1;
	} else if (strcmp(v, "false") == 0) {
		*out = 0;
	} else {
		req_problem(r, name, "%s must be true or false", name);
		return -1;
	}
	return 0;
}

int req_query_enum(struct req *r, const char *name, const char *const *values, const char **out)
{
	char list[512];
	const char *v = req_query(r, name);
	if (!v)
		return 0;
	if (jhelp_enum_index(values, v) < 0) {
		req_problem(r, name, "%s must be one of: %s", name,
			    jhelp_enum_list(values, list, sizeof list));
		return -1;
	}
	*out = v;
	return 0;
}

int req_query_str(struct req *r, const char *name, size_t minlen, size_t maxlen, const char **out)
{
	const char *v = req_query(r, name);
	if (!v)
		return 0;
	if (!util_utf8_valid(v, strlen(v))) {
		req_problem(r, name, "%s must be valid UTF-8", name);
		return -1;
	}
	size_t chars = 0;
	for (const char *p = v; *p; p++)
		chars += ((unsigned char)*p & 0xC0) != 0x80;
	if (chars < minlen || chars > maxlen) {
		req_problem(r, name, "%s must be %zu to %zu characters", name, minlen, maxlen);
		return -1;
	}
	*out = v;
	return 0;
}

int req_query_time(struct req *r, const char *name, int64_t *ms)
{
	const char *v = req_query(r, name);
	if (!v)
		return 0;
	if (util_iso_parse(v, ms) < 0) {
		req_problem(r, name, "%s must be an ISO-8601 date or date-time", name);
		return -1;
	}
	return 0;
}

int req_paging(struct req *r, long long *limit, long long *offset)
{
	*limit = 50;
	*offset = 0;
	int a = req_query_int(r, "limit", 1, 100, limit);
	int b = req_query_int(r, "offset", 0, 1000000000LL, offset);
	return a || b ? -1 : 0;
}

void req_reset_answer(struct req *r)
{
	json_decref(r->data);
	json_decref(r->meta);
	json_decref(r->details);
	json_decref(r->error_extra);
	free(r->data_text);
	free(r->raw);
	r->data = r->meta = r->details = r->error_extra = NULL;
	r->data_text = r->raw = NULL;
	r->raw_len = 0;
	r->errmsg[0] = '\0';
	r->status = 0;
}

enum api_err req_fail(struct req *r, enum api_err e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
	va_end(ap);
	return e;
}

enum api_err req_ok(struct req *r, json_t *data)
{
	json_decref(r->data);
	r->data = data;
	return data ? E_OK : E_INTERNAL_ERROR;
}

enum api_err req_ok_text(struct req *r, char *json_text)
{
	free(r->data_text);
	r->data_text = json_text;
	return json_text ? E_OK : E_INTERNAL_ERROR;
}

enum api_err req_created(struct req *r, json_t *data)
{
	r->status = 201;
	return req_ok(r, data);
}

void req_page_meta(struct req *r, long long limit, long long offset, long long count)
{
	json_decref(r->meta);
	r->meta = json_pack("{s:I, s:I, s:I}", "limit", (json_int_t)limit, "offset",
			    (json_int_t)offset, "count", (json_int_t)count);
}

enum api_err req_list(struct req *r, json_t *data, long long limit, long long offset)
{
	req_page_meta(r, limit, offset, (long long)json_array_size(data));
	return req_ok(r, data);
}

void req_header(struct req *r, const char *fmt, ...)
{
	va_list ap;
	size_t room = sizeof r->headers - r->headers_len;
	va_start(ap, fmt);
	int n = vsnprintf(r->headers + r->headers_len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 2 >= room) {
		r->headers[r->headers_len] = '\0';
		return;
	}
	r->headers_len += (size_t)n;
	memcpy(r->headers + r->headers_len, "\r\n", 3);
	r->headers_len += 2;
}

enum api_err req_fetch_one(struct req *r, const struct db_query *q, const struct db_arg *args,
			   unsigned nargs, struct db_res *res, enum api_err notfound)
{
	enum api_err err = db_exec(r->db, q, args, nargs, res);
	if (err)
		return err;
	if (res->nrows == 0) {
		db_res_free(res);
		return notfound;
	}
	return E_OK;
}

int req_stored_object(struct req *r, const char *key, size_t max)
{
	unsigned char *data = NULL;
	size_t len = 0;
	enum storage_status st = storage_get(key, max, &data, &len);
	if (st != STORAGE_OK)
		return (int)st;
	r->raw = (char *)data;
	r->raw_len = len;
	req_header(r, "Cache-Control: private, max-age=86400"); /* behind an API key: no shared cache */
	return STORAGE_OK;
}
