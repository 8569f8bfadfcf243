/* jhelp.h - Jansson helpers: field tables for input, column maps for output.
 *
 * Input: a resource declares `static const struct jfield F_X[] = { ..., { NULL } };` and calls
 * jhelp_check(body, F_X, details). Every problem is added to `details` (field name -> list of
 * messages); the caller answers 422 VALIDATION_ERROR when the count is non-zero. Unknown fields
 * are ignored; fields flagged JF_REJECT (never accepted by the public API) are problems.
 *
 * Output: a query's columns map to JSON through `struct jcol C_X[] = { {"id", JC_STR}, ...,
 * { NULL } }` in SELECT order, or per cell (jhelp_cell / jhelp_write_cell). Only mapped columns
 * reach JSON, so a column that must never be exposed cannot leak by accident. The API's
 * resources describe input and output together in field files (fcgi/resource.h), which use the
 * checks and cell conversions of this file. */
#ifndef APF_JHELP_H
#define APF_JHELP_H

#include "db.h"

#include <jansson.h>

enum jf_type { JF_STRING, JF_INT, JF_NUMBER, JF_BOOL, JF_ENUM, JF_TIME, JF_ARRAY, JF_OBJECT, JF_ANY };

#define JF_REQUIRED 1u  /* must be present */
#define JF_NULLABLE 2u  /* null is accepted */
#define JF_REJECT   4u  /* never accepted: presence is a validation error */

struct jfield {
	const char *name;
	enum jf_type type;
	unsigned flags;
	double min, max;            /* string: length bounds; int/number: value bounds; array: item
				     * count bounds; 0,0 = none */
	union {
		const char *const *values;  /* JF_ENUM: NULL-terminated allowed strings */
		const struct jfield *sub;   /* JF_ARRAY: each item (one field; NULL = any item);
					     * JF_OBJECT: its members (a table, NULL name last;
					     * NULL = any object) */
	};
};

enum jc_type { JC_STR, JC_INT, JC_NUM, JC_BOOL, JC_TIME, JC_JSON, JC_EPOCH_MS };

struct jcol {
	const char *name;
	enum jc_type type;
};

/* Adds "message" to details[field] (creating the list). */
void jhelp_detail(json_t *details, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Validates body (must be an object) against fields; returns the number of problems added.
 * Problems inside arrays and objects are named by their path: "sections[2].title". */
int jhelp_check(const json_t *body, const struct jfield *fields, json_t *details);
/* Validates one value v (present in the body) against f, as jhelp_check does for a member:
 * problems recorded under f->name; returns their number. */
int jhelp_check_value(const struct jfield *f, const json_t *v, json_t *details);
/* Index of value in a NULL-terminated list, or -1. */
int jhelp_enum_index(const char *const *values, const char *value);
/* "a, b, c" of a NULL-terminated list into buf. */
const char *jhelp_enum_list(const char *const *values, char *buf, size_t size);

/* New object of row `row` of res, columns mapped by cols starting at result column `first`. */
json_t *jhelp_row(const struct jcol *cols, const struct db_res *res, unsigned long row,
		  unsigned first);
/* Adds the mapped columns of row into obj (borrowed). Returns the number of columns used. */
unsigned jhelp_row_into(json_t *obj, const struct jcol *cols, const struct db_res *res,
			unsigned long row, unsigned first);
/* New array of every row of res mapped by cols (from column 0). */
json_t *jhelp_rows(const struct jcol *cols, const struct db_res *res);
/* JSON value (new reference) of one cell converted per type; json null for SQL NULL. */
json_t *jhelp_cell(enum jc_type type, const char *cell);

/* Text path of the same conversion, for lists (no Jansson tree, no dump): appends the JSON of
 * one cell, of one row ({...}), or returns a new "[...]" of all rows (NULL on out-of-memory).
 * tests/unit checks that text and tree paths give equal JSON for every column type. */
struct jbuf;
void jhelp_write_cell(struct jbuf *b, enum jc_type type, const char *cell);
void jhelp_write_row(struct jbuf *b, const struct jcol *cols, const struct db_res *res,
		     unsigned long row, unsigned first);
char *jhelp_rows_text(const struct jcol *cols, const struct db_res *res);

/* Borrowed string member or NULL when absent / not a string. */
const char *jhelp_str(const json_t *obj, const char *key);

#endif
