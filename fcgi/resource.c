/* resource.c - the generic handlers and their pieces (resource.h). Every statement is assembled
 * from fixed fragments of the resource record and its field rows; values are bound. */
#include "resource.h"

#include "jbuf.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 50
#define PAGE_MAX 100
#define PAGE_MAX_ON_REQUEST 500
#define OFFSET_MAX 1000000000LL

const struct rfield *res_field(const struct resource *res, const char *name)
{
	for (const struct rfield *f = res->fields; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* " WHERE <alias>.account_id = ?" and " AND <alias>.id = ?" style fragments. */
static void alias_cond(struct sqlb *b, const char *lead, const struct resource *res,
		       const char *column, struct db_arg a)
{
	sqlb_add(b, lead);
	sqlb_add(b, res->alias);
	sqlb_bind(b, column, a);
}

void res_select(struct sqlb *b, const struct resource *res, unsigned view, const char *account)
{
	fields_select(b, res->fields, view);
	sqlb_add(b, " FROM ");
	sqlb_add(b, res->from);
	alias_cond(b, " WHERE ", res, ".account_id = ?", DS(account));
}

void res_write_row(struct jbuf *jb, const struct resource *res, unsigned view,
		   const struct db_res *rs, unsigned long i)
{
	fields_write_row(jb, res->fields, view, rs, i);
}

json_t *res_row(const struct resource *res, unsigned view, const struct db_res *rs,
		unsigned long i)
{
	return fields_row(res->fields, view, rs, i);
}

/* Every row of rs as "[...]" text (NULL when out of memory). */
static char *rows_text(const struct resource *res, unsigned view, const struct db_res *rs)
{
	struct jbuf jb = JBUF_INIT;
	jbuf_putc(&jb, '[');
	for (unsigned long i = 0; i < rs->nrows; i++) {
		if (i)
			jbuf_putc(&jb, ',');
		res_write_row(&jb, res, view, rs, i);
	}
	jbuf_putc(&jb, ']');
	return jbuf_detach(&jb);
}

/* ------------------------------------------------------------------------------ lists */

/* The LIKE pattern text of s: % _ and \ escaped with a backslash. */
static char *like_escape(const char *s)
{
	char *out = malloc(strlen(s) * 2 + 1), *o = out;
	if (!out)
		return NULL;
	for (; *s; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* A time as a UTC datetime argument (the text kept by b). */
static struct db_arg time_arg(struct sqlb *b, int64_t ms)
{
	char dt[24];
	util_ms_to_db(ms, dt);
	return DS(sqlb_keep(b, dt));
}

/* Paging per res->paging into l (problems recorded). */
static void list_paging(struct req *r, const struct resource *res, struct rlist *l)
{
	l->limit = res->paging == RP_ON_REQUEST ? PAGE_MAX_ON_REQUEST : PAGE_DEFAULT;
	l->offset = 0;
	l->paged = res->paging == RP_ALWAYS ||
		   (res->paging == RP_ON_REQUEST && (req_query(r, "limit") || req_query(r, "offset")));
	if (!l->paged)
		return;
	req_query_int(r, "limit", 1, res->paging == RP_ALWAYS ? PAGE_MAX : PAGE_MAX_ON_REQUEST,
		      &l->limit);
	req_query_int(r, "offset", 0, OFFSET_MAX, &l->offset);
}

/* One filter present in the query: its condition and value added to b. */
static void list_filter(struct req *r, const struct rfilter *f, struct sqlb *b,
			const struct rfilter **since, int64_t *since_ms)
{
	const char *name = f->in.name, *s = NULL;
	long long n = 0;
	int flag = -1;
	int64_t ms = 0;
	struct db_arg a;
	switch (f->in.type) {
	case JF_BOOL:
		if (req_query_bool(r, name, &flag) < 0)
			return;
		a = DI(flag);
		break;
	case JF_INT:
		if (req_query_int(r, name, (long long)f->in.min, (long long)f->in.max, &n) < 0)
			return;
		a = DI(n);
		break;
	case JF_ENUM:
		if (req_query_enum(r, name, f->in.values, &s) < 0)
			return;
		a = DS(s);
		break;
	case JF_TIME:
		if (req_query_time(r, name, &ms) < 0)
			return;
		if (f->match == RM_UNTIL && strlen(req_query(r, name)) == 10)
			ms += 86400000LL - 1; /* a date: up to the end of that UTC day */
		if (f->match == RM_SINCE) {
			*since = f;
			*since_ms = ms;
		} else if (f->match == RM_UNTIL && *since && *since_ms > ms) {
			req_problem(r, (*since)->in.name, "%s must not be after %s", (*since)->in.name,
				    name);
			return;
		}
		a = time_arg(b, ms);
		break;
	default:
		if (req_query_str(r, name, (size_t)f->in.min, (size_t)f->in.max, &s) < 0)
			return;
		a = DS(f->match == RM_SUBSTR ? sqlb_own(b, like_escape(s)) : s);
		break;
	}
	sqlb_add(b, " AND ");
	sqlb_bind(b, f->cond, a);
}

void res_list_begin(struct req *r, const struct resource *res, struct rlist *l)
{
	const struct rfilter *since = NULL;
	int64_t since_ms = 0;
	list_paging(r, res, l);
	sqlb_init(&l->sql, NULL);
	res_select(&l->sql, res, res->list ? res->list : RF_LIST, r->account_id);
	for (const struct rfilter *f = res->filters; f && f->in.name; f++)
		if (req_query(r, f->in.name))
			list_filter(r, f, &l->sql, &since, &since_ms);
	if (res->where) {
		sqlb_add(&l->sql, " AND ");
		sqlb_add(&l->sql, res->where);
	}
	sqlb_add(&l->sql, " ORDER BY ");
	sqlb_add(&l->sql, res->order);
	if (l->paged) {
		sqlb_bind(&l->sql, " LIMIT ?", DI(l->limit));
		sqlb_bind(&l->sql, " OFFSET ?", DI(l->offset));
	}
}

enum api_err res_list_end(struct req *r, const struct resource *res, struct rlist *l)
{
	struct db_res rs = { 0 };
	enum api_err err = E_VALIDATION_ERROR;
	if (req_invalid(r))
		goto out;
	if ((err = sqlb_exec(r->db, &l->sql, &rs)) != E_OK)
		goto out;
	if (l->paged)
		req_page_meta(r, l->limit, l->offset, (long long)rs.nrows);
	err = req_ok_text(r, rows_text(res, res->list ? res->list : RF_LIST, &rs));
	db_res_free(&rs);
out:
	sqlb_release(&l->sql);
	return err;
}

enum api_err res_list(struct req *r)
{
	struct rlist l;
	res_list_begin(r, r->route->res, &l);
	return res_list_end(r, r->route->res, &l);
}


/* ---------------------------------------------------------------------------- details */

/* The statement of one nested list of parent id. */
static void child_select(struct sqlb *b, struct req *r, const struct rchild *c, const char *id)
{
	sqlb_init(b, NULL);
	res_select(b, c->res, c->view, r->account_id);
	sqlb_add(b, " AND ");
	sqlb_bind(b, c->cond, DS(id));
	sqlb_add(b, " ORDER BY ");
	sqlb_add(b, c->order ? c->order : c->res->order);
}

/* The rows of one nested list of parent id, as a new array (NULL on error: *err set). */
static json_t *child_rows(struct req *r, const struct rchild *c, const char *id,
			  enum api_err *err)
{
	struct sqlb b;
	struct db_res rs = { 0 };
	json_t *list = NULL;
	child_select(&b, r, c, id);
	if ((*err = sqlb_exec(r->db, &b, &rs)) == E_OK) {
		list = json_array();
		for (unsigned long i = 0; i < rs.nrows && list; i++)
			json_array_append_new(list, res_row(c->res, c->view, &rs, i));
		db_res_free(&rs);
		*err = list ? E_OK : E_INTERNAL_ERROR;
	}
	sqlb_release(&b);
	return list;
}

enum api_err res_exists(struct req *r, const struct resource *res, const char *id)
{
	struct sqlb b;
	struct db_res rs = { 0 };
	sqlb_init(&b, "SELECT 1 FROM ");
	sqlb_add(&b, res->from);
	alias_cond(&b, " WHERE ", res, ".account_id = ?", DS(r->account_id));
	alias_cond(&b, " AND ", res, ".id = ?", DS(id));
	enum api_err err = sqlb_exec(r->db, &b, &rs);
	sqlb_release(&b);
	if (!err && rs.nrows == 0)
		err = res->not_found;
	db_res_free(&rs);
	return err;
}

enum api_err res_reply_nested(struct req *r, const struct resource *res, const char *member,
			      const char *id, int created)
{
	const struct rchild *c = res->children;
	struct sqlb b;
	struct db_res rs = { 0 };
	while (c && c->member && strcmp(c->member, member) != 0)
		c++;
	if (!c || !c->member) {
		log_error("%s has no nested list %s", res->noun, member);
		return E_INTERNAL_ERROR;
	}
	enum api_err err = res_exists(r, res, id);
	if (err)
		return err;
	child_select(&b, r, c, id);
	if ((err = sqlb_exec(r->db, &b, &rs)) == E_OK) {
		err = req_ok_text(r, rows_text(c->res, c->view, &rs));
		db_res_free(&rs);
		if (!err && created)
			r->status = 201;
	}
	sqlb_release(&b);
	return err;
}

enum api_err res_nested(struct req *r)
{
	return res_reply_nested(r, r->route->res, strrchr(r->route->path, '/') + 1,
				req_param(r, "id"), 0);
}

enum api_err res_distinct(struct req *r)
{
	const struct resource *res = r->route->res;
	const struct rdistinct *d = res->distinct;
	struct sqlb b;
	struct db_res rs = { 0 };
	sqlb_init(&b, "SELECT DISTINCT CAST(");
	sqlb_add(&b, d->expr);
	sqlb_add(&b, " AS BINARY) AS v FROM ");
	sqlb_add(&b, res->from);
	alias_cond(&b, " WHERE ", res, ".account_id = ?", DS(r->account_id));
	sqlb_add(&b, " AND ");
	sqlb_add(&b, d->expr);
	sqlb_add(&b, " <> ''");
	const char *const conds[] = { res->where, d->where };
	for (size_t i = 0; i < sizeof conds / sizeof conds[0]; i++)
		if (conds[i]) {
			sqlb_add(&b, " AND ");
			sqlb_add(&b, conds[i]);
		}
	sqlb_add(&b, " ORDER BY v");
	enum api_err err = sqlb_exec(r->db, &b, &rs);
	sqlb_release(&b);
	if (err)
		return err;
	json_t *list = json_array();
	for (unsigned long i = 0; i < rs.nrows && list; i++)
		json_array_append_new(list, json_string(db_get(&rs, i, 0)));
	db_res_free(&rs);
	return list ? req_ok(r, list) : E_INTERNAL_ERROR;
}

/* Row id in view as a new object (or res->not_found). */
static enum api_err fetch_view(struct req *r, const struct resource *res, unsigned view,
			       const char *id, json_t **out)
{
	struct sqlb b;
	struct db_res rs = { 0 };
	*out = NULL;
	sqlb_init(&b, NULL);
	res_select(&b, res, view, r->account_id);
	alias_cond(&b, " AND ", res, ".id = ?", DS(id));
	enum api_err err = sqlb_exec(r->db, &b, &rs);
	sqlb_release(&b);
	if (err)
		return err;
	if (rs.nrows == 0)
		err = res->not_found;
	else if (!(*out = res_row(res, view, &rs, 0)))
		err = E_INTERNAL_ERROR;
	db_res_free(&rs);
	return err;
}

enum api_err res_detail(struct req *r, const struct resource *res, const char *id, json_t **out)
{
	unsigned view = res->detail ? res->detail : RF_DETAIL;
	enum api_err err = fetch_view(r, res, view, id, out);
	for (const struct rchild *c = res->children; !err && c && c->member; c++) {
		json_t *list = child_rows(r, c, id, &err);
		if (list)
			json_object_set_new(*out, c->member, list);
	}
	if (err && *out) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

enum api_err res_reply(struct req *r, const struct resource *res, const char *id, int created)
{
	json_t *out;
	enum api_err err = res_detail(r, res, id, &out);
	if (err)
		return err;
	return created ? req_created(r, out) : req_ok(r, out);
}

enum api_err res_reply_view(struct req *r, const struct resource *res, const char *id,
			    unsigned view, int created)
{
	json_t *out;
	enum api_err err = fetch_view(r, res, view, id, &out);
	if (err)
		return err;
	return created ? req_created(r, out) : req_ok(r, out);
}

/* The row a read names: the path's last parameter ({id}; {skuId} of a record keyed by it). */
enum api_err res_get(struct req *r)
{
	return res_reply(r, r->route->res, r->nparams ? r->param_vals[r->nparams - 1] : "", 0);
}

/* ----------------------------------------------------------------------------- writes */

static int accepts(const struct rfield *f, unsigned op)
{
	return (f->flags & op) || (f->in.flags & JF_REJECT);
}

int res_check_body(struct req *r, const struct resource *res, unsigned op)
{
	int problems = 0;
	if (r->body && !json_is_object(r->body)) {
		req_problem(r, "body", "request body must be a JSON object");
		return 1;
	}
	if (!r->details)
		r->details = json_object();
	for (const struct rfield *f = res->fields; f->name; f++) {
		if (op == RF_PATCH && (f->flags & RF_FIXED) && json_object_get(r->body, f->name)) {
			req_problem(r, f->name, "%s cannot be changed by an update", f->name);
			problems++;
			continue;
		}
		if (!accepts(f, op))
			continue;
		const json_t *v = json_object_get(r->body, f->name);
		if (v) {
			problems += jhelp_check_value(&f->in, v, r->details);
		} else if (op == RF_CREATE && (f->flags & RF_REQUIRED)) {
			req_problem(r, f->name, "%s is required", f->name);
			problems++;
		}
	}
	return problems > 0;
}

enum api_err res_need_updates(struct req *r, const struct resource *res)
{
	char names[512] = "";
	const char *last = NULL;
	size_t n = 0;
	for (const struct rfield *f = res->fields; f->name; f++) {
		if (!(f->flags & RF_PATCH))
			continue;
		if (json_object_get(r->body, f->name))
			return E_OK;
		if (last)
			n += (size_t)snprintf(names + n, n < sizeof names ? sizeof names - n : 0,
					      "%s%s", n ? ", " : "", last);
		last = f->name;
	}
	if (n >= sizeof names)
		n = sizeof names - 1;
	return req_fail(r, E_NO_UPDATES, "Nothing to update: send %s%s%s", names,
			names[0] ? " or " : "", last ? last : "a field");
}

struct db_arg res_value(struct sqlb *b, const struct rfield *f, const json_t *v)
{
	int64_t ms;
	if (!v || json_is_null(v))
		return DNULL;
	switch (f->in.type) {
	case JF_BOOL:
		return DI(json_is_true(v));
	case JF_INT:
		return DI(json_integer_value(v));
	case JF_NUMBER:
		return DD(json_number_value(v));
	case JF_TIME:
		if (util_iso_parse(json_string_value(v), &ms) < 0)
			return DNULL;
		return time_arg(b, ms);
	case JF_STRING:
	case JF_ENUM:
		return DS(json_string_value(v));
	case JF_ARRAY:
	case JF_OBJECT:
	case JF_ANY:
		break;
	}
	return DS(sqlb_own(b, json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)));
}

/* ", " between the items of a SET list (none after "SET "). */
static void set_sep(struct sqlb *b)
{
	if (b->len < 5 || strcmp(b->text + b->len - 5, " SET ") != 0)
		sqlb_add(b, ", ");
}

void res_set(struct sqlb *b, const char *assignment, struct db_arg a)
{
	set_sep(b);
	sqlb_bind(b, assignment, a);
}

/* "<name> = ?" for each present field accepting op (not RF_MANUAL). */
static void set_present(struct sqlb *b, const struct resource *res, const json_t *body,
			unsigned op)
{
	for (const struct rfield *f = res->fields; f->name; f++) {
		const json_t *v = json_object_get(body, f->name);
		if (!v || !(f->flags & op) || (f->flags & RF_MANUAL))
			continue;
		set_sep(b);
		sqlb_add(b, f->name);
		sqlb_bind(b, " = ?", res_value(b, f, v));
	}
}

/* E_CONFLICT of a write: the unique key's code naming the value sent. */
static enum api_err conflict(struct req *r, const struct resource *res)
{
	const char *key = db_dup_key(r->db);
	for (const struct runique *u = res->uniques; u && u->key; u++) {
		if (strcmp(u->key, key) != 0)
			continue;
		const char *v = jhelp_str(r->body, u->field);
		if (!v) /* an update that did not send it */
			return req_fail(r, u->code, "Another %s already has this %s", res->noun,
					u->field);
		return req_fail(r, u->code, "Another %s already has %s \"%s\"", res->noun, u->field,
				v);
	}
	return E_CONFLICT;
}

enum api_err res_insert_begin(struct sqlb *b, struct req *r, const struct resource *res,
			      char id[UUID_LEN + 1])
{
	sqlb_init(b, "INSERT INTO ");
	sqlb_add(b, res->table);
	if (util_uuid(id) < 0)
		return E_INTERNAL_ERROR;
	sqlb_bind(b, " SET id = ?", DS(id));
	sqlb_bind(b, ", account_id = ?", DS(r->account_id));
	set_present(b, res, r->body, RF_CREATE);
	return E_OK;
}

enum api_err res_insert_run(struct req *r, const struct resource *res, struct sqlb *b)
{
	enum api_err err = sqlb_exec(r->db, b, NULL);
	sqlb_release(b);
	return err == E_CONFLICT ? conflict(r, res) : err;
}

enum api_err res_insert_end(struct req *r, const struct resource *res, struct sqlb *b,
			    const char *id)
{
	enum api_err err = res_insert_run(r, res, b);
	return err ? err : res_reply(r, res, id, 1);
}

enum api_err res_create(struct req *r)
{
	const struct resource *res = r->route->res;
	struct sqlb b;
	char id[UUID_LEN + 1];
	if (res_check_body(r, res, RF_CREATE) || (res->check && res->check(r, RF_CREATE)))
		return E_VALIDATION_ERROR;
	enum api_err err = res_insert_begin(&b, r, res, id);
	if (!err && res->write)
		err = res->write(r, &b, RF_CREATE);
	if (err) {
		sqlb_release(&b);
		return err;
	}
	return res_insert_end(r, res, &b, id);
}

void res_update_begin(struct sqlb *b, struct req *r, const struct resource *res)
{
	/* by primary key: an (account_id, ...) index could lock the account's other rows */
	sqlb_init(b, "UPDATE ");
	sqlb_add(b, res->table);
	sqlb_add(b, " FORCE INDEX (PRIMARY) SET ");
	set_present(b, res, r->body, RF_PATCH);
	if (res->touch) {
		set_sep(b);
		sqlb_add(b, res->touch);
	}
}

enum api_err res_update_run(struct req *r, const struct resource *res, struct sqlb *b)
{
	sqlb_bind(b, " WHERE account_id = ?", DS(r->account_id));
	sqlb_bind(b, " AND id = ?", DS(req_param(r, "id")));
	enum api_err err = sqlb_exec(r->db, b, NULL);
	sqlb_release(b);
	return err == E_CONFLICT ? conflict(r, res) : err;
}

enum api_err res_update_end(struct req *r, const struct resource *res, struct sqlb *b)
{
	enum api_err err = res_update_run(r, res, b);
	/* the reply is also the 404 of an unknown id */
	return err ? err : res_reply(r, res, req_param(r, "id"), 0);
}

enum api_err res_update(struct req *r)
{
	const struct resource *res = r->route->res;
	struct sqlb b;
	enum api_err err;
	if (res_check_body(r, res, RF_PATCH) || (res->check && res->check(r, RF_PATCH)))
		return E_VALIDATION_ERROR;
	if ((err = res_need_updates(r, res)) != E_OK)
		return err;
	/* the row's 404 before the write's own refusals */
	if (res->write && (err = res_exists(r, res, req_param(r, "id"))) != E_OK)
		return err;
	res_update_begin(&b, r, res);
	if (res->write && (err = res->write(r, &b, RF_PATCH)) != E_OK) {
		sqlb_release(&b);
		return err;
	}
	return res_update_end(r, res, &b);
}

enum api_err res_delete(struct req *r)
{
	const struct resource *res = r->route->res;
	struct sqlb b;
	const char *id = req_param(r, "id");
	sqlb_init(&b, "DELETE FROM ");
	sqlb_add(&b, res->table);
	sqlb_bind(&b, " WHERE account_id = ?", DS(r->account_id));
	sqlb_bind(&b, " AND id = ?", DS(id));
	enum api_err err = sqlb_exec(r->db, &b, NULL);
	sqlb_release(&b);
	if (err)
		return err;
	if (db_affected(r->db) == 0)
		return res->not_found;
	return req_ok(r, json_pack("{s:s, s:b}", "id", id, "deleted", 1));
}

/* ----------------------------------------------------------------------------- counts */

/* A value's entry of the per-value counts: n, or {count: n, <each>: sum}. */
static json_t *count_entry(const struct rcounts *c, long long n, long long sum)
{
	if (!c->each)
		return json_integer(n);
	return json_pack("{s:I, s:I}", "count", (json_int_t)n, c->each, (json_int_t)sum);
}

/* One grouping of res_counts into out. */
static enum api_err counts_into(struct req *r, const struct resource *res, const struct rcounts *c,
				json_t *out)
{
	struct sqlb b;
	struct db_res rs = { 0 };
	long long sums[4] = { 0 };
	size_t nmembers = sizeof c->members / sizeof c->members[0];
	sqlb_init(&b, "SELECT ");
	sqlb_add(&b, c->group);
	sqlb_add(&b, ", COUNT(*)");
	if (c->each) {
		sqlb_add(&b, ", SUM(");
		sqlb_add(&b, c->each_sum);
		sqlb_add(&b, ")");
	}
	for (size_t m = 0; m < nmembers && c->members[m].name; m++) {
		if (!c->members[m].sum)
			continue;
		sqlb_add(&b, ", SUM(");
		sqlb_add(&b, c->members[m].sum);
		sqlb_add(&b, ")");
	}
	sqlb_add(&b, " FROM ");
	sqlb_add(&b, res->from);
	alias_cond(&b, " WHERE ", res, ".account_id = ?", DS(r->account_id));
	if (c->where) {
		sqlb_add(&b, " AND ");
		sqlb_add(&b, c->where);
	}
	if (res->where) {
		sqlb_add(&b, " AND ");
		sqlb_add(&b, res->where);
	}
	sqlb_add(&b, " GROUP BY 1");
	enum api_err err = sqlb_exec(r->db, &b, &rs);
	sqlb_release(&b);
	if (err)
		return err;
	json_t *by = json_object();
	char name[80];
	for (int v = 0; c->values[v]; v++)
		json_object_set_new(by, c->values[v], count_entry(c, 0, 0));
	for (unsigned long i = 0; i < rs.nrows; i++) {
		int v = jhelp_enum_index(c->values, db_get(&rs, i, 0) ? db_get(&rs, i, 0) : "");
		long long n = db_get_int(&rs, i, 1, 0);
		if (v < 0)
			continue;
		json_object_set_new(by, c->values[v],
				    count_entry(c, n, c->each ? db_get_int(&rs, i, 2, 0) : 0));
		for (size_t m = 0, col = c->each ? 3 : 2; m < nmembers && c->members[m].name; m++) {
			if (c->members[m].sum)
				sums[m] += db_get_int(&rs, i, (unsigned)col++, 0);
			else if (v < 32 && (c->members[m].of & (1u << v)))
				sums[m] += n;
		}
	}
	db_res_free(&rs);
	if (c->by) {
		json_object_set_new(out, c->by, by);
	} else {
		for (int v = 0; c->values[v]; v++) {
			snprintf(name, sizeof name, "%s_count", c->values[v]);
			json_object_set(out, name, json_object_get(by, c->values[v]));
		}
		json_decref(by);
	}
	for (size_t m = 0; m < nmembers && c->members[m].name; m++)
		json_object_set_new(out, c->members[m].name, json_integer(sums[m]));
	return E_OK;
}

enum api_err res_counts(struct req *r)
{
	const struct resource *res = r->route->res;
	json_t *out = json_object();
	enum api_err err = out ? E_OK : E_INTERNAL_ERROR;
	for (const struct rcounts *c = res->counts; c && !err; c = c->next)
		err = counts_into(r, res, c, out);
	if (err) {
		json_decref(out);
		return err;
	}
	return req_ok(r, out);
}
