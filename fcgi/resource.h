/* resource.h - resources described by tables, and the generic handlers they drive.
 *
 * A resource is a table (read through a join when it needs one) exposed by the API. It is
 * described once:
 *
 *   - a field file, fcgi/<resource>.def: one FIELD row per JSON member or accepted input,
 *       FIELD(json name, SQL expression read, output type, input, flags)
 *     expanded into a `struct rfield[]`. The SELECT list of each projection, the column map of
 *     its rows and the input field table of create and update are all read from that one table,
 *     so no two lists are ever kept in step by hand. A member that is in no projection cannot
 *     appear in a response; an input marked REJECT answers 422 naming it.
 *   - a `struct resource` record: table, join, account column, not-found code, order, paging,
 *     list filters, nested lists, unique keys and their 409 codes.
 *
 * Statements are assembled from the record's and the rows' fixed fragments (common/sqlb.h):
 * the projection, the account condition (first, always), the filters present, the order, the
 * page; the SET list of the fields a body carries. Values are always bound. Every read and every
 * write is scoped to the key's account, so another account's row is a 404 like a missing one.
 *
 * A plain endpoint is a row of fcgi/routes.def naming a generic handler and the record:
 *   ROUTE(GET, "/printers", res_list, READ, ON(printer_res, 0))
 * Handlers with behaviour use the pieces (res_check_body, res_insert_begin / res_insert_end,
 * res_update_begin / res_update_end, res_reply, res_list_begin / res_list_end) and write only
 * what is theirs.
 * docs/architecture.md, "Resources: descriptors and the generic handlers", shows how to add one. */
#ifndef APF_RESOURCE_H
#define APF_RESOURCE_H

#include "fields.h"
#include "req.h"
#include "sqlb.h"

/* Field rows (struct rfield, RF_ flags, RES_FIELD): common/fields.h. */

/* ------------------------------------------------------------------- resource records */

/* How a filter's value becomes its argument. */
enum rmatch {
	RM_EXACT,   /* as given (booleans 1/0, times as UTC datetimes) */
	RM_SUBSTR,  /* a substring: LIKE wildcards escaped (the condition adds '%' around it) */
	RM_SINCE,   /* a time from which on (pairs with the next RM_UNTIL: since <= until) */
	RM_UNTIL,   /* a time up to which; a date without time means the end of that UTC day */
};

/* A query parameter of a list: GET /x?param=value adds cond with every ? bound to the value. */
struct rfilter {
	struct jfield in;        /* in.name = the parameter; type STRING, INT, BOOL, ENUM or TIME */
	const char *cond;        /* fixed condition: "p.location = ?" */
	enum rmatch match;
};
#define RES_FILTER(param, in, cond, match) { { param, RES_IN_##in }, cond, RM_##match }
#define RES_FILTER_END { { NULL, JF_ANY, 0, 0, 0, { NULL } }, NULL, RM_EXACT }

/* A list nested in the detail: member = the rows of res (view) that satisfy cond, with every ?
 * of cond bound to the parent's id. */
struct rchild {
	const char *member;
	const struct resource *res;
	unsigned view;           /* RF_LIST or RF_BRIEF */
	const char *cond;        /* "p.hub_id = ?" */
	const char *order;       /* NULL: res's own */
};

/* A unique key and the 409 its duplicate answers, naming field's value. */
struct runique {
	const char *key;         /* index name in sql/: "uq_printers_account_name" */
	enum api_err code;       /* E_DUPLICATE_NAME */
	const char *field;       /* "name" */
};

struct rcounts;
struct rdistinct;

enum rpaging {
	RP_NONE,                 /* the whole list, no meta */
	RP_ALWAYS,               /* limit 1..100 (default 50), offset; meta {limit, offset, count} */
	RP_ON_REQUEST,           /* the whole list unless limit or offset is given; then limit
				  * 1..500 (default 500) and meta */
};

struct resource {
	const char *noun;              /* "printer": messages */
	const char *table;             /* written by create, update and delete */
	const char *from;              /* read from: "printers p LEFT JOIN hubs h ON h.id = p.hub_id" */
	const char *alias;             /* of table in from: <alias>.account_id, <alias>.id */
	enum api_err not_found;        /* an id that is not the account's */
	const struct rfield *fields;   /* the .def rows, RES_FIELD_END last */
	const struct rfilter *filters; /* list query parameters, RES_FILTER_END last (or NULL) */
	const char *where;             /* a fixed condition of every list read (or NULL) */
	const char *order;             /* list order, ties broken by id: "p.sort_order, p.name, p.id" */
	enum rpaging paging;
	const struct rchild *children; /* lists nested in the detail, { NULL } last (or NULL) */
	const struct runique *uniques; /* { NULL } last (or NULL) */
	const char *touch;             /* what every update also sets: "updated_at = NOW(3)" */
	unsigned detail;               /* the projection res_get answers (0: RF_DETAIL; with
					* RF_BRIEF, a snapshot without the nested lists) */
	unsigned list;                 /* the projection res_list answers (0: RF_LIST; RF_BRIEF:
					* a list with members of its own, the low-stock alerts) */
	const struct rcounts *counts;  /* what res_counts answers (or NULL) */
	const struct rdistinct *distinct; /* what res_distinct answers (or NULL) */
	/* What res_create and res_update do beyond the rows (or NULL): check runs after the
	 * body's generic checks (problems recorded, 1 when there were any); write runs with the
	 * INSERT / UPDATE begun, after an update found its row, and may refuse (a reference that
	 * is not the account's) or add assignments with res_set. op is RF_CREATE or RF_PATCH. */
	int (*check)(struct req *r, unsigned op);
	enum api_err (*write)(struct req *r, struct sqlb *b, unsigned op);
};

/* GET /x/<values> (res_distinct): the distinct values of expr in the account's rows (and
 * res->where, and where), as an array of strings compared and sorted by bytes (so "PLA" and
 * "pla" are two values); NULL and "" are not values. */
struct rdistinct {
	const char *expr;              /* "c.filament_type" */
	const char *where;             /* a further condition (or NULL): "c.is_active = 1" */
};

/* ----------------------------------------------------------------- generic handlers */

/* Route handlers: each serves the resource its routes.def row names (r->route->res). */

/* GET /x: the list projection, filters from the query, res->order, paging per res->paging.
 * Rows are written as JSON text (the list fast path). */
enum api_err res_list(struct req *r);
/* GET /x/{id}: the detail projection (res->detail) with its nested lists; the row is named by
 * the path's last parameter ({id}, or {skuId} of a record whose alias is the SKU). */
enum api_err res_get(struct req *r);
/* GET /x/{id}/<member>: the nested list named like the path's last segment, on its own (the
 * parent's 404 first). */
enum api_err res_nested(struct req *r);
/* POST /x: body checked against the RF_CREATE rows, inserted with a new id; 201 + detail. */
enum api_err res_create(struct req *r);
/* PATCH /x/{id}: body checked against the RF_PATCH rows; 400 NO_UPDATES when none of them is
 * present; the present ones set (and res->touch); 200 + detail. A duplicate is the unique
 * key's 409. */
enum api_err res_update(struct req *r);
/* DELETE /x/{id}: the row removed; 200 {id, deleted: true}. */
enum api_err res_delete(struct req *r);
/* GET /x/stats: res->counts, over the rows of res->where. */
enum api_err res_counts(struct req *r);
/* GET /x/<values>: res->distinct, a plain array of strings. */
enum api_err res_distinct(struct req *r);

/* Counts by one enumerated value: {by: {value: n, ...}, member: n, ...}, or with by NULL
 * flat: {<value>_count: n, ..., member: n, ...}. Every value is present (0 when there are no
 * rows); see rcounts.each for a value's entry as an object. */
struct rcount {
	const char *name;        /* member */
	const char *sum;         /* SQL summed over the rows: "p.is_active"; or NULL and: */
	unsigned of;             /* the sum of the counts of these values (bit i = values[i]) */
};
struct rcounts {
	const char *group;             /* the grouped expression: "j.status" */
	const char *const *values;     /* its values, NULL-terminated */
	const char *by;                /* member of the per-value counts: "by_status" (NULL:
					* each value's count is the member <value>_count) */
	struct rcount members[4];      /* in order; unused ones have no name */
	const char *where;             /* counts only the rows that satisfy it (or NULL) */
	const struct rcounts *next;    /* a further grouping of the same answer (or NULL) */
	/* With each: every value's entry is {count: n, <each>: SUM(each_sum) of its rows} instead
	 * of n (assembly tasks: {count, total_quantity}). */
	const char *each;
	const char *each_sum;
};
#define RC_ALL 0xffffffffu


/* ---------------------------------------------------------- pieces for handwritten ones */

/* Checks r->body against the rows accepting op (RF_CREATE or RF_PATCH; RF_REQUIRED applies to
 * RF_CREATE), every REJECT row, and with RF_PATCH every RF_FIXED row; problems recorded. 1
 * when there were problems. A handler may then normalise r->body (a derived slug, an
 * upper-cased code) before the generic write, which writes what the body holds. */
int res_check_body(struct req *r, const struct resource *res, unsigned op);
/* 400 NO_UPDATES naming the RF_PATCH fields, when the body has none of them; else E_OK. */
enum api_err res_need_updates(struct req *r, const struct resource *res);

/* E_OK when row id is the account's (whatever res->where says), else res->not_found (no
 * message: the handler may word one). */
enum api_err res_exists(struct req *r, const struct resource *res, const char *id);
/* The detail of row id as a new object, with its nested lists (or res->not_found). */
enum api_err res_detail(struct req *r, const struct resource *res, const char *id, json_t **out);
/* Answers the detail of id: 200, or 201 when created. */
enum api_err res_reply(struct req *r, const struct resource *res, const char *id, int created);
/* Answers the nested list member of row id on its own (res->not_found first): 200, or 201
 * when created (a handler that wrote the list answers the whole list). */
enum api_err res_reply_nested(struct req *r, const struct resource *res, const char *member,
			      const char *id, int created);
/* Answers another projection (RF_LIST, RF_BRIEF) of id, without nested lists: for a resource
 * whose create and update answer the list shape while GET /x/{id} adds computed members. */
enum api_err res_reply_view(struct req *r, const struct resource *res, const char *id,
			    unsigned view, int created);

/* INSERT INTO table SET id = ?, account_id = ?, and each present RF_CREATE field that is not
 * RF_MANUAL; id receives the new UUID. Add what the handler decides with res_set. */
enum api_err res_insert_begin(struct sqlb *b, struct req *r, const struct resource *res,
			      char id[UUID_LEN + 1]);
/* Runs it (a duplicate answers the unique key's 409) and releases b; answers nothing, so a
 * handler can write the rows that belong with it (same transaction) before res_reply. */
enum api_err res_insert_run(struct req *r, const struct resource *res, struct sqlb *b);
/* res_insert_run, then answers 201 with the detail. */
enum api_err res_insert_end(struct req *r, const struct resource *res, struct sqlb *b,
			    const char *id);
/* UPDATE table SET each present RF_PATCH field that is not RF_MANUAL, and res->touch. */
void res_update_begin(struct sqlb *b, struct req *r, const struct resource *res);
/* Adds one more assignment of the SET list ("col = ?", every ? bound to a). */
void res_set(struct sqlb *b, const char *assignment, struct db_arg a);
/* WHERE the path's id in the account; runs it (409 as above) and releases b; answers nothing
 * (the handler checks the id exists first, then writes what goes with it, then res_reply). */
enum api_err res_update_run(struct req *r, const struct resource *res, struct sqlb *b);
/* res_update_run, then answers 200 with the detail (404 for an unknown id). */
enum api_err res_update_end(struct req *r, const struct resource *res, struct sqlb *b);

/* A list request's statement: projection, account, filters present, where, order and page.
 * Problems of the query parameters are recorded (check req_invalid). */
struct rlist {
	struct sqlb sql;
	long long limit, offset;
	int paged;
};
void res_list_begin(struct req *r, const struct resource *res, struct rlist *l);
/* Runs it and answers the rows (text path), with meta when paged. Releases l. */
enum api_err res_list_end(struct req *r, const struct resource *res, struct rlist *l);

/* The SELECT of view (RF_LIST, RF_DETAIL or RF_BRIEF) from res->from, and its account
 * condition, into b (started). The number of columns is the number of fields in view. */
void res_select(struct sqlb *b, const struct resource *res, unsigned view, const char *account);
/* Row i of rs (a res_select of view) as JSON text into jb / as a new object. */
struct jbuf;
void res_write_row(struct jbuf *jb, const struct resource *res, unsigned view,
		   const struct db_res *rs, unsigned long i);
json_t *res_row(const struct resource *res, unsigned view, const struct db_res *rs,
		unsigned long i);

/* The value of a present body member as the argument its column takes (booleans 1/0, arrays
 * and objects as JSON text, times as UTC datetimes); texts made here are kept by b. */
struct db_arg res_value(struct sqlb *b, const struct rfield *f, const json_t *v);
/* The row of name, or NULL. */
const struct rfield *res_field(const struct resource *res, const char *name);

#endif
