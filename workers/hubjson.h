/* hubjson.h - reading untrusted hub JSON (docs/hub-link.md, "Inbound messages"): typed, bounded
 * field access.
 *
 * Every reader returns 1 when the member has the expected type (or, where NULL/absent is
 * allowed, is null or absent: the output is then "unset"), 0 when it has another type or is out
 * of bounds — the caller drops the message. Strings are copied, cut at a UTF-8 character
 * boundary when longer than the column allows (HJ_CUT) or refused (default). Jansson already
 * guarantees valid UTF-8 and refuses NUL bytes inside strings (json_loadb without
 * JSON_ALLOW_NUL). */
#ifndef APF_HUBJSON_H
#define APF_HUBJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define HJ_REQUIRED 1u /* absent or null → 0 */
#define HJ_CUT      2u /* strings: cut to size instead of refusing */
#define HJ_UUID     4u /* strings: must be a lower-case UUID */

/* String member into out[size] ("" when unset). */
int hj_str(const json_t *o, const char *key, unsigned flags, char *out, size_t size);
/* Integer member in [min, max] into *out, *set = 1 when present (set may be NULL). */
int hj_int(const json_t *o, const char *key, unsigned flags, long long min, long long max,
	   long long *out, int *set);
/* Number (integer or real) member in [min, max]. */
int hj_num(const json_t *o, const char *key, unsigned flags, double min, double max, double *out,
	   int *set);
/* Boolean member into *out (-1 when unset). */
int hj_bool(const json_t *o, const char *key, unsigned flags, int *out);
/* Object member (borrowed, NULL when unset). */
int hj_obj(const json_t *o, const char *key, unsigned flags, const json_t **out);

/* Copies src into out[size], cut at a UTF-8 boundary to fit. */
void hj_cut(char *out, size_t size, const char *src);
/* 1 when s is a lower-case UUID. */
bool hj_is_uuid(const char *s);

#endif
