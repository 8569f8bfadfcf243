/* assembly.c - Assembly tasks: list, counts (the generic handlers), get with the task's wiki
 * article, create, update, and the inventory-aware completion (R2: print_assembly moves the
 * finished good's awaiting-assembly units to ready stock; kit_assembly consumes the BOM and
 * credits the kit, after R5's build check under lock). The fields are fcgi/assembly.def;
 * docs/assembly.md has the choices the spec leaves open. */
#include "resources.h"

#include "openapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const assembly_statuses[] = {
	"pending", "in_progress", "completed", "cancelled", NULL
};
/* cancelled is not a status a client sets */
static const char *const assembly_patch_statuses[] = {
	"pending", "in_progress", "completed", NULL
};
static const char *const assembly_types[] = { "print_assembly", "kit_assembly", NULL };

static const struct rfield assembly_fields[] = {
#define FIELD RES_FIELD
#include "assembly.def"
#undef FIELD
	RES_FIELD_END
};

static const struct rfilter assembly_filters[] = {
	RES_FILTER("status", ENUM(assembly_statuses), "t.status = ?", EXACT),
	RES_FILTER("task_type", ENUM(assembly_types), "t.task_type = ?", EXACT),
	RES_FILTER_END
};

/* Every status with its task count and units; awaiting = pending + in progress units. */
static const struct rcounts assembly_counts = {
	.group = "t.status", .values = assembly_statuses, .by = "by_status",
	.members = { { "total_units_awaiting",
		       "IF(t.status IN ('pending', 'in_progress'), t.quantity, 0)", 0 } },
	.each = "total_quantity", .each_sum = "t.quantity",
};

/* In progress, pending, completed, cancelled; newest first within a status. */
const struct resource assembly_res = {
	.noun = "assembly task", .table = "assembly_tasks", .from = "assembly_tasks t",
	.alias = "t", .not_found = E_ASSEMBLY_TASK_NOT_FOUND, .fields = assembly_fields,
	.filters = assembly_filters,
	.order = "FIELD(t.status, 'in_progress', 'pending', 'completed', 'cancelled'),"
		 " t.created_at DESC, t.id DESC",
	.paging = RP_ALWAYS, .touch = "updated_at = NOW(3)", .counts = &assembly_counts,
};

static const struct db_query Q_ACTIVE_USER = {
	"SELECT 1 FROM users WHERE account_id = ? AND id = ? AND is_active = 1"
};

enum api_err assembly_check_assignee(struct req *r, const char *user_id)
{
	struct db_res rs;
	if (!user_id)
		return E_OK;
	enum api_err err = db_exec(r->db, &Q_ACTIVE_USER, DB_ARGS(DS(r->account_id),
								   DS(user_id)), &rs);
	int found = !err && rs.nrows > 0;
	db_res_free(&rs);
	if (err)
		return err;
	return found ? E_OK : req_fail(r, E_USER_NOT_FOUND, "assigned_to: user %s is not an"
				       " active user of this account", user_id);
}

static enum api_err task_not_found(struct req *r, const char *id)
{
	return req_fail(r, E_ASSEMBLY_TASK_NOT_FOUND, "Assembly task %s not found", id);
}

/* --------------------------------------------------------------------------- get */

/* The task's article: its product's wiki_id, else one about its finished good's SKU, else one
 * about its product; the most recently updated among several of a step. */
static const struct db_query Q_TASK_WIKI = {
	"SELECT w.id FROM assembly_tasks t"
	" LEFT JOIN finished_goods fg ON fg.id = t.finished_good_id AND fg.account_id = t.account_id"
	" LEFT JOIN product_skus s ON s.id = fg.product_sku_id AND s.account_id = t.account_id"
	" LEFT JOIN products p ON p.id = s.product_id AND p.account_id = t.account_id"
	" JOIN wiki_articles w ON w.account_id = t.account_id"
	" AND (w.id = p.wiki_id OR w.sku_id = s.id OR w.product_id = p.id)"
	" WHERE t.account_id = ? AND t.id = ?"
	" ORDER BY CASE WHEN w.id = p.wiki_id THEN 0 WHEN w.sku_id = s.id THEN 1 ELSE 2 END,"
	" w.updated_at DESC, w.id DESC LIMIT 1"
};

enum api_err assembly_get(struct req *r)
{
	const char *id = req_param(r, "id");
	json_t *task, *article = NULL;
	struct db_res rs;
	enum api_err err = res_detail(r, &assembly_res, id, &task);
	if (err == E_ASSEMBLY_TASK_NOT_FOUND)
		return task_not_found(r, id);
	if (err)
		return err;
	if ((err = db_exec(r->db, &Q_TASK_WIKI, DB_ARGS(DS(r->account_id), DS(id)), &rs)) == E_OK &&
	    rs.nrows > 0)
		err = res_detail(r, &wiki_res, db_get(&rs, 0, 0), &article);
	db_res_free(&rs);
	if (err) {
		json_decref(task);
		return err;
	}
	json_object_set_new(task, "wiki_article", article ? article : json_null());
	return req_ok(r, task);
}

/* ------------------------------------------------------------------- create, update */

/* The active finished good's product name and SKU code, copied onto the task. */
static const struct db_query Q_FINISHED_GOOD = {
	"SELECT p.name, s.sku FROM finished_goods fg JOIN product_skus s"
	" ON s.id = fg.product_sku_id AND s.account_id = fg.account_id JOIN products p"
	" ON p.id = s.product_id AND p.account_id = s.account_id"
	" WHERE fg.account_id = ? AND fg.id = ? AND fg.is_active = 1"
};

/* A pending print_assembly task; no stock moves. */
enum api_err assembly_create(struct req *r)
{
	struct db_res rs;
	struct sqlb b;
	char id[UUID_LEN + 1], product[256], code[128];
	if (res_check_body(r, &assembly_res, RF_CREATE))
		return E_VALIDATION_ERROR;
	const char *fg = jhelp_str(r->body, "finished_good_id");
	enum api_err err = req_fetch_one(r, &Q_FINISHED_GOOD, DB_ARGS(DS(r->account_id), DS(fg)),
					 &rs, E_FINISHED_GOOD_NOT_FOUND);
	if (err == E_FINISHED_GOOD_NOT_FOUND)
		return req_fail(r, err, "finished_good_id: finished good %s not found", fg);
	if (err)
		return err;
	DB_COPY(product, &rs, 0, 0);
	DB_COPY(code, &rs, 0, 1);
	db_res_free(&rs);
	if ((err = assembly_check_assignee(r, jhelp_str(r->body, "assigned_to"))) != E_OK)
		return err;
	if ((err = res_insert_begin(&b, r, &assembly_res, id)) != E_OK)
		return err;
	res_set(&b, "finished_good_id = ?", DS(fg));
	res_set(&b, "product_name = ?", DS(product));
	res_set(&b, "sku = ?", DS(code));
	return res_insert_end(r, &assembly_res, &b, id);
}

/* Fields only, never stock. Entering completed stamps completed_at (the assignment reads the
 * status before the one that sets it); leaving it keeps completed_at. */
enum api_err assembly_update(struct req *r)
{
	const char *id = req_param(r, "id");
	const char *status = jhelp_str(r->body, "status");
	struct sqlb b;
	enum api_err err;
	if (res_check_body(r, &assembly_res, RF_PATCH))
		return E_VALIDATION_ERROR;
	if ((err = res_need_updates(r, &assembly_res)) != E_OK)
		return err;
	if ((err = res_exists(r, &assembly_res, id)) == E_ASSEMBLY_TASK_NOT_FOUND)
		return task_not_found(r, id);
	if (err || (err = assembly_check_assignee(r, jhelp_str(r->body, "assigned_to"))) != E_OK)
		return err;
	res_update_begin(&b, r, &assembly_res);
	if (status) {
		res_set(&b, "completed_at = IF(status <> 'completed' AND ? = 'completed', NOW(3),"
			    " completed_at)", DS(status));
		res_set(&b, "status = ?", DS(status));
	}
	return res_update_end(r, &assembly_res, &b);
}

/* ----------------------------------------------------------------------- complete */

static const struct jfield F_COMPLETE[] = {
	{ "quantity_completed", JF_INT, 0, 1, 1000000, { NULL } },
	{ "notes", JF_STRING, JF_NULLABLE, 0, 2000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(assembly_complete, F_COMPLETE);

/* The task, locked: a second completion waits for the first and then sees it completed. */
static const struct db_query Q_TASK_LOCK = {
	"SELECT status, task_type, quantity, finished_good_id, notes FROM assembly_tasks"
	" WHERE account_id = ? AND id = ? FOR UPDATE"
};
/* Its finished good (the kit's SKU for a kit task), when it is still there. */
static const struct db_query Q_TASK_GOOD = {
	"SELECT product_sku_id FROM finished_goods WHERE account_id = ? AND id = ? AND is_active = 1"
};
static const struct db_query Q_ASSEMBLY_STATUS = {
	"UPDATE finished_goods SET assembly_status = IF(quantity_needs_assembly > 0,"
	" 'needs_assembly', 'assembled'), updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_TASK_CLOSE = {
	"UPDATE assembly_tasks SET status = 'completed', completed_at = NOW(3), notes = ?,"
	" updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_TASK_PART = {
	"UPDATE assembly_tasks SET quantity = quantity - ?, notes = ?, updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};
/* A worklist task made for this assembly task is done with it. */
static const struct db_query Q_WORKLIST_CLOSE = {
	"UPDATE worklist_tasks SET status = 'completed', completed_at = NOW(3), updated_at = NOW(3)"
	" WHERE account_id = ? AND assembly_task_id = ? AND status IN ('pending', 'in_progress')"
};

/* print_assembly, q units: awaiting assembly down by q (not below 0), ready stock up by q,
 * assembly_status from what still awaits. */
static enum api_err complete_print(struct req *r, const char *fg, long long q,
				   const struct stock_src *src)
{
	struct stock_level needs, lv;
	enum api_err err = stock_lock(r->db, r->account_id, SC_NEEDS_ASSEMBLY, fg, &needs);
	long long down = needs.before_i < q ? needs.before_i : q;
	if (!err && down > 0)
		err = stock_add_int(r->db, r->account_id, SC_NEEDS_ASSEMBLY, fg, -down, src, &lv);
	if (!err)
		err = stock_add_int(r->db, r->account_id, SC_READY, fg, q, src, &lv);
	if (!err && lv.refused)
		return req_fail(r, E_INSUFFICIENT_STOCK, "ready stock cannot take %lld more", q);
	if (!err)
		err = db_exec(r->db, &Q_ASSEMBLY_STATUS, DB_ARGS(DS(r->account_id), DS(fg)), NULL);
	return err;
}

/* kit_assembly, q kits: R5 under lock, then every part down by what the kits take and the
 * kit's ready stock up by q. */
static enum api_err complete_kit(struct req *r, const char *fg, const char *sku, long long q,
				 const struct stock_src *src)
{
	struct kit_parts parts;
	struct stock_level lv = { .refused = 0 };
	enum api_err err = bom_kit_check(r, sku, q, 1, &parts);
	for (size_t i = 0; !err && !lv.refused && i < parts.n; i++) {
		const struct kit_part *p = &parts.v[i];
		char delta[40];
		if (p->counter != SC_FILAMENT) {
			err = stock_add_int(r->db, r->account_id, p->counter, p->item_id, -p->amount,
					    src, &lv);
			continue;
		}
		snprintf(delta, sizeof delta, "-%lld.%02lld", p->amount / 100, p->amount % 100);
		err = stock_add(r->db, r->account_id, p->counter, p->item_id, delta, src, &lv);
	}
	bom_kit_parts_free(&parts);
	if (!err && !lv.refused)
		err = stock_add_int(r->db, r->account_id, SC_READY, fg, q, src, &lv);
	if (!err && lv.refused) /* not after the check under lock; refused whole all the same */
		return req_fail(r, E_INSUFFICIENT_FOR_KIT, "%lld kit(s) cannot be built from the"
				" stock on hand", q);
	return err;
}

/* The old notes, a line "---" and the new ones; either alone when the other is empty. */
static char *notes_appended(const char *old, const char *add)
{
	char *out = NULL;
	if (!add || !*add)
		return old ? strdup(old) : NULL;
	if (!old || !*old)
		return strdup(add);
	return asprintf(&out, "%s\n---\n%s", old, add) < 0 ? NULL : out;
}

/* One transaction (route R_TXN): the task locked, checked, its stock effect, the task closed
 * (or, for fewer units than it has, reduced and kept open). */
enum api_err assembly_complete(struct req *r)
{
	const char *id = req_param(r, "id");
	struct db_res rs;
	char status[16], type[16], fg[UUID_LEN + 1], sku[UUID_LEN + 1];
	if (r->body && req_check_body(r, F_COMPLETE))
		return E_VALIDATION_ERROR;
	enum api_err err = req_fetch_one(r, &Q_TASK_LOCK, DB_ARGS(DS(r->account_id), DS(id)), &rs,
					 E_ASSEMBLY_TASK_NOT_FOUND);
	if (err == E_ASSEMBLY_TASK_NOT_FOUND)
		return task_not_found(r, id);
	if (err)
		return err;
	DB_COPY(status, &rs, 0, 0);
	DB_COPY(type, &rs, 0, 1);
	long long quantity = db_get_int(&rs, 0, 2, 1);
	DB_COPY(fg, &rs, 0, 3);
	const json_t *qv = json_object_get(r->body, "quantity_completed");
	const char *note = jhelp_str(r->body, "notes");
	long long q = qv ? json_integer_value(qv) : quantity;
	char *notes = notes_appended(db_get(&rs, 0, 4), note);
	db_res_free(&rs);
	if (strcmp(status, "completed") == 0)
		err = req_fail(r, E_TASK_ALREADY_COMPLETED, "Assembly task %s is already completed",
			       id);
	else if (strcmp(status, "cancelled") == 0)
		err = req_fail(r, E_TASK_CANCELLED, "Assembly task %s is cancelled", id);
	else if (q > quantity) {
		req_problem(r, "quantity_completed", "quantity_completed (%lld) is more than the"
			    " task's quantity (%lld)", q, quantity);
		err = E_VALIDATION_ERROR;
	} else if (!fg[0] || (err = req_fetch_one(r, &Q_TASK_GOOD, DB_ARGS(DS(r->account_id),
				DS(fg)), &rs, E_FINISHED_GOOD_NOT_FOUND)) == E_FINISHED_GOOD_NOT_FOUND)
		err = req_fail(r, E_FINISHED_GOOD_NOT_FOUND, "The finished good of assembly task"
			       " %s no longer exists", id);
	else if (!err) {
		DB_COPY(sku, &rs, 0, 0);
		db_res_free(&rs);
	}
	if (!err) {
		int kit = strcmp(type, "kit_assembly") == 0;
		const struct stock_src src = { kit ? "kit_assembly" : "assembly", note, id,
					       r->request_id };
		err = kit ? complete_kit(r, fg, sku, q, &src) : complete_print(r, fg, q, &src);
	}
	if (!err && q < quantity)
		err = db_exec(r->db, &Q_TASK_PART, DB_ARGS(DI(q), DS(notes), DS(r->account_id),
							   DS(id)), NULL);
	else if (!err)
		err = db_exec(r->db, &Q_TASK_CLOSE, DB_ARGS(DS(notes), DS(r->account_id), DS(id)),
			      NULL);
	if (!err && q == quantity)
		err = db_exec(r->db, &Q_WORKLIST_CLOSE, DB_ARGS(DS(r->account_id), DS(id)), NULL);
	free(notes);
	json_t *task;
	if (err || (err = res_detail(r, &assembly_res, id, &task)) != E_OK)
		return err;
	return req_ok(r, json_pack("{s:o, s:I}", "task", task, "quantity_completed",
				   (json_int_t)q));
}
