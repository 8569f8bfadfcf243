/* fields.h - field rows: one table per resource that gives the SELECT list of each of its
 * projections, the JSON column map of their rows and the input checks of create and update, so
 * no two lists are ever kept in step by hand.
 *
 * The API's resources (fcgi/resource.h, the .def files of fcgi/) and apf-admin's outputs
 * (tools/admin.c, which also prints printers through fcgi/printers.def's RF_ADMIN rows) are
 * described by them; docs/architecture.md, "Resources: descriptors and the generic handlers". */
#ifndef APF_FIELDS_H
#define APF_FIELDS_H

#include "jhelp.h"
#include "sqlb.h"

/* Field flags: the projections a field is in, and what a client may write. */
#define RF_LIST     0x01u  /* list rows */
#define RF_DETAIL   0x02u  /* the detail: GET /x/{id}, and what create and update answer */
#define RF_BRIEF    0x04u  /* the resource's third projection (a summary nested elsewhere, a
			    * snapshot endpoint) */
#define RF_LD       (RF_LIST | RF_DETAIL)
#define RF_CREATE   0x10u  /* accepted by create */
#define RF_REQUIRED 0x20u  /* required by create */
#define RF_PATCH    0x40u  /* accepted by update */
#define RF_MANUAL   0x80u  /* validated here, written by the handler (a derived or checked
			    * value), never by the generic SET */
#define RF_FIXED    0x100u /* accepted by create, refused by update: in an update's body it is a
			    * 422 naming it, never silently ignored (an immutable SKU field; a
			    * state with actions of its own, like a wiki article's is_published) */
#define RF_ADMIN    0x200u /* apf-admin's operator view (tools/admin.c): printed by the tool,
			    * never an API projection (a never-exposed column may be in it) */
#define RF_VIEWS    (RF_LIST | RF_DETAIL | RF_BRIEF) /* the API's projections */

struct rfield {
	const char *name;        /* JSON member; the column that create and update write */
	const char *sql;         /* expression read (NULL: input only) */
	enum jc_type out;        /* how the value is written to JSON */
	struct jfield in;        /* what a client may send (in.name = name) */
	unsigned flags;          /* RF_* */
};

/* A .def row: FIELD(name, "sql", OUT, INPUT, flags) with OUT one of STR INT NUM BOOL TIME JSON
 * EPOCH_MS (NONE for input-only rows) and INPUT one of the RES_IN_ forms below without the
 * prefix: NONE, REJECT, STR(min, max), STR_NULL(min, max), INT(min, max), INT_NULL(min, max),
 * NUM(min, max), NUM_NULL(min, max), BOOL, ENUM(values), ENUM_NULL(values), TIME, TIME_NULL,
 * ARRAY(min, max, item), ARRAY_NULL(min, max, item), OBJECT(fields), OBJECT_NULL(fields).
 * String bounds count characters; a NUM bound to a DECIMAL column is rounded to its scale. */
#define RES_FIELD(name, sql, out, in, flags) \
	{ #name, sql, JC_##out, { #name, RES_IN_##in }, flags },
#define RES_FIELD_END { NULL, NULL, JC_STR, { NULL, JF_ANY, 0, 0, 0, { NULL } }, 0 }
#define JC_NONE JC_STR

#define RES_IN_NONE                 JF_ANY, 0, 0, 0, { NULL }
#define RES_IN_REJECT               JF_ANY, JF_REJECT, 0, 0, { NULL }
#define RES_IN_STR(lo, hi)          JF_STRING, 0, lo, hi, { NULL }
#define RES_IN_STR_NULL(lo, hi)     JF_STRING, JF_NULLABLE, lo, hi, { NULL }
#define RES_IN_INT(lo, hi)          JF_INT, 0, lo, hi, { NULL }
#define RES_IN_INT_NULL(lo, hi)     JF_INT, JF_NULLABLE, lo, hi, { NULL }
#define RES_IN_NUM(lo, hi)          JF_NUMBER, 0, lo, hi, { NULL }
#define RES_IN_NUM_NULL(lo, hi)     JF_NUMBER, JF_NULLABLE, lo, hi, { NULL }
#define RES_IN_BOOL                 JF_BOOL, 0, 0, 0, { NULL }
#define RES_IN_ENUM(v)              JF_ENUM, 0, 0, 0, { .values = v }
#define RES_IN_ENUM_NULL(v)         JF_ENUM, JF_NULLABLE, 0, 0, { .values = v }
#define RES_IN_TIME                 JF_TIME, 0, 0, 0, { NULL }
#define RES_IN_TIME_NULL            JF_TIME, JF_NULLABLE, 0, 0, { NULL }
#define RES_IN_ARRAY(lo, hi, item)  JF_ARRAY, 0, lo, hi, { .sub = item }
#define RES_IN_ARRAY_NULL(lo, hi, item) JF_ARRAY, JF_NULLABLE, lo, hi, { .sub = item }
#define RES_IN_OBJECT(fields)       JF_OBJECT, 0, 0, 0, { .sub = fields }
#define RES_IN_OBJECT_NULL(fields)  JF_OBJECT, JF_NULLABLE, 0, 0, { .sub = fields }

struct jbuf;

/* 1 when f is in view (one RF_ projection flag) and has an expression to read. */
int fields_in_view(const struct rfield *f, unsigned view);
/* Appends "SELECT <expr>, <expr>..." of the fields in view to b (started, usually empty). The
 * number of columns is the number of fields in view. */
void fields_select(struct sqlb *b, const struct rfield *fields, unsigned view);
/* Row i of rs (selected by fields_select of view) as JSON text into jb / as a new object. */
void fields_write_row(struct jbuf *jb, const struct rfield *fields, unsigned view,
		      const struct db_res *rs, unsigned long i);
json_t *fields_row(const struct rfield *fields, unsigned view, const struct db_res *rs,
		   unsigned long i);

#endif
