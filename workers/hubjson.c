/* hubjson.c - typed, bounded readers for untrusted hub JSON (see hubjson.h). */
#include "hubjson.h"

#include <math.h>
#include <string.h>

bool hj_is_uuid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}

void hj_cut(char *out, size_t size, const char *src)
{
	if (!size)
		return;
	size_t n = strlen(src);
	if (n >= size) {
		n = size - 1;
		/* back off to the start of a character: never end inside a multi-byte sequence */
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(out, src, n);
	out[n] = '\0';
}

/* 1 when the member is absent or null (allowed unless required). */
static int unset(const json_t *v, unsigned flags, int *ok)
{
	if (v && !json_is_null(v))
		return 0;
	*ok = !(flags & HJ_REQUIRED);
	return 1;
}

int hj_str(const json_t *o, const char *key, unsigned flags, char *out, size_t size)
{
	const json_t *v = json_object_get(o, key);
	int ok;
	out[0] = '\0';
	if (unset(v, flags, &ok))
		return ok;
	if (!json_is_string(v))
		return 0;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n != strlen(s))
		return 0; /* embedded NUL */
	if (flags & HJ_UUID) {
		if (size < 37 || !hj_is_uuid(s))
			return 0;
		memcpy(out, s, 37);
		return 1;
	}
	if (n >= size && !(flags & HJ_CUT))
		return 0;
	hj_cut(out, size, s);
	return 1;
}

int hj_int(const json_t *o, const char *key, unsigned flags, long long min, long long max,
	   long long *out, int *set)
{
	const json_t *v = json_object_get(o, key);
	int ok;
	*out = 0;
	if (set)
		*set = 0;
	if (unset(v, flags, &ok))
		return ok;
	if (!json_is_integer(v))
		return 0;
	long long x = (long long)json_integer_value(v);
	if (x < min || x > max)
		return 0;
	*out = x;
	if (set)
		*set = 1;
	return 1;
}

int hj_num(const json_t *o, const char *key, unsigned flags, double min, double max, double *out,
	   int *set)
{
	const json_t *v = json_object_get(o, key);
	int ok;
	*out = 0;
	if (set)
		*set = 0;
	if (unset(v, flags, &ok))
		return ok;
	if (!json_is_number(v))
		return 0;
	double x = json_number_value(v);
	if (!isfinite(x) || x < min || x > max)
		return 0;
	*out = x;
	if (set)
		*set = 1;
	return 1;
}

int hj_bool(const json_t *o, const char *key, unsigned flags, int *out)
{
	const json_t *v = json_object_get(o, key);
	int ok;
	*out = -1;
	if (unset(v, flags, &ok))
		return ok;
	if (!json_is_boolean(v))
		return 0;
	*out = json_is_true(v);
	return 1;
}

int hj_obj(const json_t *o, const char *key, unsigned flags, const json_t **out)
{
	const json_t *v = json_object_get(o, key);
	int ok;
	*out = NULL;
	if (unset(v, flags, &ok))
		return ok;
	if (!json_is_object(v))
		return 0;
	*out = v;
	return 1;
}
