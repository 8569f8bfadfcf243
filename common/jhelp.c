#include "jhelp.h"

#include "jbuf.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jhelp_detail(json_t *details, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_t *list = json_object_get(details, field);
	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(details, field, list);
	}
	json_array_append_new(list, json_string(msg));
}

int jhelp_enum_index(const char *const *values, const char *value)
{
	for (int i = 0; values && values[i]; i++)
		if (strcmp(values[i], value) == 0)
			return i;
	return -1;
}

const char *jhelp_enum_list(const char *const *values, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; values && values[i] && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", values[i]);
	return buf;
}

static int bounded(const struct jfield *f)
{
	return f->min != 0 || f->max != 0;
}

static int check_members(const json_t *obj, const struct jfield *fields, const char *prefix,
			 json_t *details);

/* v (present) against f; problems named by path (the member name, or "a[2].b" inside). */
static int check_one(const struct jfield *f, const json_t *v, const char *path, json_t *details)
{
	char list[512];
	if (f->flags & JF_REJECT) {
		jhelp_detail(details, path, "%s cannot be set through the API", path);
		return 1;
	}
	if (json_is_null(v)) {
		if (f->flags & JF_NULLABLE)
			return 0;
		jhelp_detail(details, path, "%s must not be null", path);
		return 1;
	}
	switch (f->type) {
	case JF_STRING:
	case JF_TIME:
	case JF_ENUM: {
		if (!json_is_string(v)) {
			jhelp_detail(details, path, "%s must be a string", path);
			return 1;
		}
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		if (memchr(s, '\0', n)) {
			jhelp_detail(details, path, "%s must not contain NUL characters", path);
			return 1;
		}
		if (f->type == JF_ENUM && jhelp_enum_index(f->values, s) < 0) {
			jhelp_detail(details, path, "%s must be one of: %s", path,
				     jhelp_enum_list(f->values, list, sizeof list));
			return 1;
		}
		int64_t ms;
		if (f->type == JF_TIME && util_iso_parse(s, &ms) < 0) {
			jhelp_detail(details, path, "%s must be an ISO-8601 date or date-time", path);
			return 1;
		}
		if (f->type == JF_STRING && bounded(f)) {
			/* length in characters (code points), as clients count them */
			size_t chars = 0;
			for (size_t i = 0; i < n; i++)
				chars += ((unsigned char)s[i] & 0xC0) != 0x80;
			if (chars < (size_t)f->min || chars > (size_t)f->max) {
				if (f->min > 0)
					jhelp_detail(details, path, "%s must be %.15g to %.15g characters",
						     path, f->min, f->max);
				else
					jhelp_detail(details, path, "%s must be at most %.15g characters",
						     path, f->max);
				return 1;
			}
		}
		return 0;
	}
	case JF_INT:
		if (!json_is_integer(v)) {
			jhelp_detail(details, path, "%s must be an integer", path);
			return 1;
		}
		if (bounded(f) && ((double)json_integer_value(v) < f->min ||
				   (double)json_integer_value(v) > f->max)) {
			jhelp_detail(details, path, "%s must be between %.15g and %.15g", path, f->min,
				     f->max);
			return 1;
		}
		return 0;
	case JF_NUMBER:
		if (!json_is_number(v)) {
			jhelp_detail(details, path, "%s must be a number", path);
			return 1;
		}
		if (bounded(f) && (json_number_value(v) < f->min || json_number_value(v) > f->max)) {
			jhelp_detail(details, path, "%s must be between %.15g and %.15g", path, f->min,
				     f->max);
			return 1;
		}
		return 0;
	case JF_BOOL:
		if (!json_is_boolean(v)) {
			jhelp_detail(details, path, "%s must be true or false", path);
			return 1;
		}
		return 0;
	case JF_ARRAY:
		if (!json_is_array(v)) {
			jhelp_detail(details, path, "%s must be an array", path);
			return 1;
		}
		if (bounded(f) && ((double)json_array_size(v) < f->min ||
				   (double)json_array_size(v) > f->max)) {
			jhelp_detail(details, path, "%s must have %.15g to %.15g items", path, f->min,
				     f->max);
			return 1;
		}
		if (f->sub) {
			int n = 0;
			char item[256];
			for (size_t i = 0; i < json_array_size(v); i++) {
				snprintf(item, sizeof item, "%s[%zu]", path, i);
				n += check_one(f->sub, json_array_get(v, i), item, details);
			}
			return n;
		}
		return 0;
	case JF_OBJECT:
		if (!json_is_object(v)) {
			jhelp_detail(details, path, "%s must be an object", path);
			return 1;
		}
		return f->sub ? check_members(v, f->sub, path, details) : 0;
	case JF_ANY:
		return 0;
	}
	return 0;
}

/* The members of obj against fields; a member is named prefix.name (name at the top). */
static int check_members(const json_t *obj, const struct jfield *fields, const char *prefix,
			 json_t *details)
{
	int problems = 0;
	char path[256];
	for (const struct jfield *f = fields; f->name; f++) {
		const json_t *v = json_object_get(obj, f->name);
		snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", f->name);
		if (!v) {
			if (f->flags & JF_REQUIRED) {
				jhelp_detail(details, path, "%s is required", path);
				problems++;
			}
			continue;
		}
		problems += check_one(f, v, path, details);
	}
	return problems;
}

int jhelp_check(const json_t *body, const struct jfield *fields, json_t *details)
{
	if (!json_is_object(body)) {
		jhelp_detail(details, "body", "request body must be a JSON object");
		return 1;
	}
	return check_members(body, fields, "", details);
}

int jhelp_check_value(const struct jfield *f, const json_t *v, json_t *details)
{
	return check_one(f, v, f->name, details);
}

json_t *jhelp_cell(enum jc_type type, const char *cell)
{
	char iso[40];
	if (!cell)
		return json_null();
	switch (type) {
	case JC_STR:
		return json_string(cell);
	case JC_INT:
	case JC_EPOCH_MS:
		return json_integer(strtoll(cell, NULL, 10));
	case JC_NUM: {
		double d = strtod(cell, NULL);
		if (d == floor(d) && fabs(d) < 1e15 && !strchr(cell, '.'))
			return json_integer((json_int_t)d);
		return json_real(d);
	}
	case JC_BOOL:
		return json_boolean(strcmp(cell, "0") != 0 && *cell);
	case JC_TIME:
		if (util_db_to_iso(cell, iso, sizeof iso) == 0)
			return json_string(iso);
		return json_null();
	case JC_JSON: {
		json_t *v = json_loads(cell, JSON_DECODE_ANY, NULL);
		return v ? v : json_null();
	}
	}
	return json_null();
}

unsigned jhelp_row_into(json_t *obj, const struct jcol *cols, const struct db_res *res,
			unsigned long row, unsigned first)
{
	unsigned i = 0;
	for (; cols[i].name; i++)
		json_object_set_new(obj, cols[i].name, jhelp_cell(cols[i].type,
								    db_get(res, row, first + i)));
	return i;
}

json_t *jhelp_row(const struct jcol *cols, const struct db_res *res, unsigned long row,
		  unsigned first)
{
	json_t *obj = json_object();
	jhelp_row_into(obj, cols, res, row, first);
	return obj;
}

json_t *jhelp_rows(const struct jcol *cols, const struct db_res *res)
{
	json_t *arr = json_array();
	for (unsigned long r = 0; r < res->nrows; r++)
		json_array_append_new(arr, jhelp_row(cols, res, r, 0));
	return arr;
}

/* Same decisions as jhelp_cell, written as text. */
void jhelp_write_cell(struct jbuf *b, enum jc_type type, const char *cell)
{
	char tmp[64];
	if (!cell) {
		jbuf_put(b, "null", 4);
		return;
	}
	switch (type) {
	case JC_STR:
		jbuf_json_str(b, cell);
		return;
	case JC_INT:
	case JC_EPOCH_MS:
		snprintf(tmp, sizeof tmp, "%lld", strtoll(cell, NULL, 10));
		jbuf_puts(b, tmp);
		return;
	case JC_BOOL:
		jbuf_puts(b, strcmp(cell, "0") != 0 && *cell ? "true" : "false");
		return;
	case JC_TIME:
		if (util_db_to_iso(cell, tmp + 1, sizeof tmp - 2) == 0) {
			tmp[0] = '"';
			size_t n = strlen(tmp);
			tmp[n] = '"';
			jbuf_put(b, tmp, n + 1);
		} else {
			jbuf_put(b, "null", 4);
		}
		return;
	case JC_NUM:
	case JC_JSON:
		break;
	}
	/* numbers and JSON documents: through Jansson, so both paths format them identically */
	json_t *v = jhelp_cell(type, cell);
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	json_decref(v);
	jbuf_puts(b, text ? text : "null");
	free(text);
}

void jhelp_write_row(struct jbuf *b, const struct jcol *cols, const struct db_res *res,
		     unsigned long row, unsigned first)
{
	jbuf_putc(b, '{');
	for (unsigned i = 0; cols[i].name; i++) {
		if (i)
			jbuf_putc(b, ',');
		jbuf_json_str(b, cols[i].name);
		jbuf_putc(b, ':');
		jhelp_write_cell(b, cols[i].type, db_get(res, row, first + i));
	}
	jbuf_putc(b, '}');
}

char *jhelp_rows_text(const struct jcol *cols, const struct db_res *res)
{
	struct jbuf b = JBUF_INIT;
	jbuf_putc(&b, '[');
	for (unsigned long r = 0; r < res->nrows; r++) {
		if (r)
			jbuf_putc(&b, ',');
		jhelp_write_row(&b, cols, res, r, 0);
	}
	jbuf_putc(&b, ']');
	return jbuf_detach(&b);
}

const char *jhelp_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}
