/* kits.c - composite kits: POST /products/kit (create) and PUT /products/{id}/kit (replace the
 * composition). A kit is a product (product_type 'kit') whose SKUs are its variants; each
 * entry of parts[] is an internal product (kit_part) whose SKUs are the variants' BOM
 * children; bundle extras are BOM inventory rows of the variants. Create and replace are one
 * routine (compose) run inside the route's transaction (R_TXN): a failure anywhere, early or
 * after some rows were written, leaves nothing behind. The SKUs get their finished goods from
 * fcgi/skus.c, the BOM rows from fcgi/bom.c, the components from fcgi/components.c.
 * docs/catalog.md, "Kits", has the choices the spec leaves open. */
#include "resources.h"

#include "openapi.h"
#include "stock.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KIT_ROWS_MAX 50       /* variants, parts */
#define KIT_EXTRAS_MAX 100    /* bundle extras per list */
#define KIT_OLD_MAX 64        /* SKUs of one part before a replace */
#define CODE_MAX 100          /* product_skus.sku */
#define CODE_BASE_MAX 90      /* room for a "-NN" suffix */
#define CODE_TRIES 99

static const struct jfield EXTRA_ITEM[] = {
	{ "bundle_extras", JF_OBJECT, 0, 0, 0, { .sub = bom_inventory_in } }
};
static const struct jfield COMPONENT_ITEM[] = {
	{ "components", JF_OBJECT, 0, 0, 0, { .sub = component_in } }
};
/* sku_id and part_id name kept rows (replace only: create refuses them). */
static const struct jfield VARIANT_IN[] = {
	{ "sku_id", JF_STRING, 0, 1, 36, { NULL } },
	{ "color", JF_STRING, JF_REQUIRED, 1, 100, { NULL } },
	{ "filament_type", JF_STRING, JF_NULLABLE, 0, 50, { NULL } },
	{ "hex_code", JF_STRING, JF_NULLABLE, 0, 7, { NULL } },
	{ "low_stock_threshold", JF_INT, 0, 0, 1000000000, { NULL } },
	{ "bundle_extras", JF_ARRAY, 0, 0, KIT_EXTRAS_MAX, { .sub = EXTRA_ITEM } },
	{ "sku", JF_ANY, JF_REJECT, 0, 0, { NULL } },       /* codes are generated */
	{ "price", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield VARIANT_ITEM[] = {
	{ "variants", JF_OBJECT, 0, 0, 0, { .sub = VARIANT_IN } }
};
static const struct jfield PART_IN[] = {
	{ "part_id", JF_STRING, 0, 1, 36, { NULL } },
	{ "name", JF_STRING, JF_REQUIRED, 1, 200, { NULL } },
	{ "quantity_per_kit", JF_INT, 0, 1, 1000000, { NULL } },
	{ "print_file_id", JF_STRING, JF_NULLABLE, 1, 36, { NULL } },
	{ "fixed_color", JF_STRING, JF_NULLABLE, 1, 100, { NULL } },
	{ "fixed_hex_code", JF_STRING, JF_NULLABLE, 0, 7, { NULL } },
	{ "requires_assembly", JF_BOOL, 0, 0, 0, { NULL } },
	{ "components", JF_ARRAY, 0, 0, 100, { .sub = COMPONENT_ITEM } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield PART_ITEM[] = {
	{ "parts", JF_OBJECT, 0, 0, 0, { .sub = PART_IN } }
};
static const struct jfield F_KIT[] = {
	{ "name", JF_STRING, JF_REQUIRED, 1, 200, { NULL } },
	{ "description", JF_STRING, JF_NULLABLE, 0, 2000, { NULL } },
	{ "category", JF_STRING, JF_NULLABLE, 0, 100, { NULL } },
	{ "requires_post_processing", JF_BOOL, 0, 0, 0, { NULL } },
	{ "wiki_id", JF_STRING, JF_NULLABLE, 1, 36, { NULL } },
	{ "variants", JF_ARRAY, JF_REQUIRED, 1, KIT_ROWS_MAX, { .sub = VARIANT_ITEM } },
	{ "parts", JF_ARRAY, JF_REQUIRED, 1, KIT_ROWS_MAX, { .sub = PART_ITEM } },
	{ "bundle_extras", JF_ARRAY, 0, 0, KIT_EXTRAS_MAX, { .sub = EXTRA_ITEM } },
	/* the manufacturing wiring is the server's */
	{ "print_file_id", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ "file_name", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ "printer_priority", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ "product_type", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ "kit_product_id", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ "tenant_id", JF_ANY, JF_REJECT, 0, 0, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(kits_create, F_KIT);

static const struct db_query Q_KIT_INSERT = {
	"INSERT INTO products (id, account_id, name, description, category, requires_assembly,"
	" requires_post_processing, wiki_id, product_type) VALUES (?, ?, ?, ?, ?, 1, ?, ?, 'kit')"
};
static const struct db_query Q_KIT_UPDATE = {
	"UPDATE products SET name = ?, description = ?, category = ?,"
	" requires_post_processing = ?, wiki_id = ?, updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};
/* Kit writes of one account run one after the other: generated SKU codes of two concurrent
 * kits would otherwise meet in the unique index and deadlock. (Inserts of the account's other
 * rows wait for the foreign key check meanwhile; a kit write is short.) */
static const struct db_query Q_ACCOUNT_LOCK = {
	"SELECT 1 FROM accounts WHERE id = ? FOR UPDATE"
};
/* The kit, locked: replaces of one kit run one after the other. */
static const struct db_query Q_KIT_LOCK = {
	"SELECT product_type FROM products WHERE account_id = ? AND id = ? FOR UPDATE"
};
static const struct db_query Q_OLD_VARIANTS = {
	"SELECT id FROM product_skus WHERE account_id = ? AND product_id = ? ORDER BY id"
};
static const struct db_query Q_OLD_PARTS = {
	"SELECT id, fixed_color IS NOT NULL FROM products WHERE account_id = ?"
	" AND kit_product_id = ? AND product_type = 'kit_part' ORDER BY id"
};
/* A part's SKUs, each with the kit variant it is a child of (a fixed-colour SKU once per
 * variant). */
static const struct db_query Q_PART_SKUS = {
	"SELECT c.id, b.parent_sku_id FROM product_skus c LEFT JOIN sku_bom_children b"
	" ON b.child_sku_id = c.id AND b.account_id = c.account_id AND b.parent_sku_id IN"
	" (SELECT v.id FROM product_skus v WHERE v.account_id = c.account_id AND v.product_id = ?)"
	" WHERE c.account_id = ? AND c.product_id = ? ORDER BY c.id, b.parent_sku_id"
};
/* Open: not fully shipped, the line neither fulfilled nor cancelled, the order neither
 * cancelled nor refunded. */
static const struct db_query Q_OPEN_ORDER = {
	"SELECT o.id FROM order_items oi JOIN orders o ON o.id = oi.order_id"
	" AND o.account_id = oi.account_id WHERE oi.account_id = ? AND oi.product_sku_id = ?"
	" AND oi.quantity_fulfilled < oi.quantity"
	" AND oi.fulfillment_status NOT IN ('fulfilled', 'cancelled')"
	" AND o.status NOT IN ('cancelled', 'refunded') LIMIT 1"
};
/* A composite SKU outside the kit that has the SKU as a BOM child. */
static const struct db_query Q_EXTERNAL_PARENT = {
	"SELECT ps.sku FROM sku_bom_children b JOIN product_skus ps ON ps.id = b.parent_sku_id"
	" AND ps.account_id = b.account_id WHERE b.account_id = ? AND b.child_sku_id = ?"
	" AND ps.product_id <> ? LIMIT 1"
};
static const struct db_query Q_KIT_BOM_DELETE = {
	"DELETE b FROM sku_bom_children b JOIN product_skus s ON s.id = b.parent_sku_id"
	" AND s.account_id = b.account_id WHERE s.account_id = ? AND s.product_id = ?"
};
static const struct db_query Q_KIT_EXTRAS_DELETE = {
	"DELETE i FROM sku_bom_inventory i JOIN product_skus s ON s.id = i.sku_id"
	" AND s.account_id = i.account_id WHERE s.account_id = ? AND s.product_id = ?"
};
/* With its finished good, BOM and inventory rows (foreign keys cascade). */
static const struct db_query Q_SKU_DELETE = {
	"DELETE FROM product_skus WHERE account_id = ? AND id = ?"
};
/* With its SKUs and components. */
static const struct db_query Q_PART_DELETE = {
	"DELETE FROM products WHERE account_id = ? AND id = ? AND kit_product_id = ?"
};
static const struct db_query Q_PRINT_FILE = {
	"SELECT name FROM print_files WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_PART_INSERT = {
	"INSERT INTO products (name, print_file_id, file_name, requires_assembly, quantity_per_kit,"
	" fixed_color, fixed_hex_code, sort_order, account_id, id, product_type, kit_product_id)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'kit_part', ?)"
};
static const struct db_query Q_PART_UPDATE = {
	"UPDATE products SET name = ?, print_file_id = ?, file_name = ?, requires_assembly = ?,"
	" quantity_per_kit = ?, fixed_color = ?, fixed_hex_code = ?, sort_order = ?,"
	" updated_at = NOW(3) WHERE account_id = ? AND id = ? AND kit_product_id = ?"
};
static const struct db_query Q_SKU_INSERT = {
	"INSERT INTO product_skus (color, filament_type, hex_code, low_stock_threshold,"
	" is_composite, account_id, id, product_id, sku) VALUES (?, ?, ?, IFNULL(?, 0), ?, ?, ?, ?, ?)"
};
/* A kept SKU keeps its code and stock; a NULL threshold keeps the threshold. */
static const struct db_query Q_SKU_UPDATE = {
	"UPDATE product_skus SET color = ?, filament_type = ?, hex_code = ?,"
	" low_stock_threshold = IFNULL(?, low_stock_threshold), is_composite = ?,"
	" updated_at = NOW(3) WHERE account_id = ? AND id = ?"
};
/* Its finished good follows (no stock change; status recomputed for the threshold). */
static const struct db_query Q_FG_FOLLOW = {
	"UPDATE finished_goods fg JOIN product_skus s ON s.id = fg.product_sku_id"
	" AND s.account_id = fg.account_id SET fg.color = s.color,"
	" fg.material = IFNULL(s.filament_type, ''), fg.low_stock_threshold = s.low_stock_threshold,"
	" fg.updated_at = NOW(3) WHERE fg.account_id = ? AND fg.product_sku_id = ?"
};
static const struct db_query Q_FG_STATUS = {
	"UPDATE finished_goods SET status = " STOCK_STATUS_SQL
	" WHERE account_id = ? AND product_sku_id = ?"
};

typedef char idstr[UUID_LEN + 1];

struct kpart {
	idstr id;
	int kept, was_fixed;
	idstr child[KIT_ROWS_MAX];  /* per body variant, the SKU kept ("" = a new one); a
				       * fixed-colour part uses [0] for all */
	idstr old[KIT_OLD_MAX];     /* replace: its SKUs before */
	int reused[KIT_OLD_MAX];
	size_t nold;
};

struct kit {
	idstr id;
	char code[CODE_BASE_MAX + 1]; /* the kit name as a code */
	int replace;
	size_t nv, np;
	idstr v[KIT_ROWS_MAX];      /* the SKU of each body variant (kept: its sku_id) */
	idstr old_v[KIT_ROWS_MAX];  /* replace: the variant SKUs before */
	int old_v_kept[KIT_ROWS_MAX];
	size_t n_old_v;
	struct kpart p[KIT_ROWS_MAX];
	idstr old_p[KIT_ROWS_MAX];  /* replace: the parts before */
	int old_p_fixed[KIT_ROWS_MAX], old_p_kept[KIT_ROWS_MAX];
	size_t n_old_p;
};

/* s as an upper-case code: ASCII letters and digits, runs of anything else one '-'; appended
 * to out (with a '-' first when out is not empty), within size; "X" when nothing is left. */
static void code_add(char *out, size_t size, const char *s)
{
	size_t n = strlen(out), start = n;
	int dash = n > 0;
	for (; s && *s && n + 2 < size; s++) {
		char c = *s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			if (dash && n > 0)
				out[n++] = '-';
			out[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
			dash = 0;
		} else {
			dash = 1;
		}
	}
	if (n == start && n + 3 < size) {
		if (n > 0)
			out[n++] = '-';
		out[n++] = 'X';
	}
	out[n] = '\0';
}

/* Index of id in list (n entries), or -1. */
static int find(const idstr *list, size_t n, const char *id)
{
	for (size_t i = 0; id && i < n; i++)
		if (strcmp(list[i], id) == 0)
			return (int)i;
	return -1;
}

/* The ids of q(account, id) (first column) into list; n their count (at most max). */
static enum api_err ids_of(struct req *r, const struct db_query *q, const char *id,
			   idstr *list, int *second, size_t max, size_t *n)
{
	struct db_res rs;
	enum api_err err = db_exec(r->db, q, DB_ARGS(DS(r->account_id), DS(id)), &rs);
	*n = 0;
	for (unsigned long i = 0; !err && i < rs.nrows && *n < max; i++, (*n)++) {
		db_copy(list[*n], sizeof list[*n], &rs, i, 0);
		if (second)
			second[*n] = (int)db_get_int(&rs, i, 1, 0);
	}
	db_res_free(&rs);
	return err;
}

/* ----------------------------------------------------------------------- validation */

/* Shape, then what the field table cannot say: hex codes, repeated colours / ids / items,
 * and on create no sku_id / part_id. */
static int check_body(struct req *r, int replace)
{
	if (req_check_body(r, F_KIT))
		return 1;
	const json_t *variants = json_object_get(r->body, "variants");
	const json_t *parts = json_object_get(r->body, "parts");
	char field[96];
	bom_check_duplicates(r, variants, "variants", "color");
	bom_check_duplicates(r, json_object_get(r->body, "bundle_extras"), "bundle_extras",
			     "inventory_item_id");
	if (replace) {
		bom_check_duplicates(r, variants, "variants", "sku_id");
		bom_check_duplicates(r, parts, "parts", "part_id");
	}
	for (size_t i = 0; i < json_array_size(variants); i++) {
		const json_t *v = json_array_get(variants, i);
		snprintf(field, sizeof field, "variants[%zu].bundle_extras", i);
		bom_check_duplicates(r, json_object_get(v, "bundle_extras"), field,
				     "inventory_item_id");
		snprintf(field, sizeof field, "variants[%zu].hex_code", i);
		if (!skus_hex_ok(jhelp_str(v, "hex_code")))
			req_problem(r, field, "hex_code must be #RRGGBB (or empty)");
		snprintf(field, sizeof field, "variants[%zu].sku_id", i);
		if (!replace && json_object_get(v, "sku_id"))
			req_problem(r, field, "sku_id names a kept variant: PUT /products/{id}/kit"
				    " only");
	}
	for (size_t i = 0; i < json_array_size(parts); i++) {
		const json_t *p = json_array_get(parts, i);
		snprintf(field, sizeof field, "parts[%zu].fixed_hex_code", i);
		if (!skus_hex_ok(jhelp_str(p, "fixed_hex_code")))
			req_problem(r, field, "fixed_hex_code must be #RRGGBB (or empty)");
		snprintf(field, sizeof field, "parts[%zu].part_id", i);
		if (!replace && json_object_get(p, "part_id"))
			req_problem(r, field, "part_id names a kept part: PUT /products/{id}/kit only");
	}
	return req_invalid(r);
}

/* ------------------------------------------------------------- replace: the plan */

/* Refuses the removal of SKU sku (a variant, or a part's SKU): open order lines; for a part's
 * SKU also a composite SKU outside the kit that has it as a child. */
static enum api_err check_removal(struct req *r, const struct kit *k, const char *sku,
				  int part)
{
	struct db_res rs;
	enum api_err err = db_exec(r->db, &Q_OPEN_ORDER, DB_ARGS(DS(r->account_id), DS(sku)), &rs);
	if (!err && rs.nrows > 0)
		err = req_fail(r, E_SKU_IN_USE_BY_ORDER, "SKU %s, which this change removes, is on"
			       " open lines of order %s", sku, db_get(&rs, 0, 0));
	db_res_free(&rs);
	if (err || !part)
		return err;
	err = db_exec(r->db, &Q_EXTERNAL_PARENT, DB_ARGS(DS(r->account_id), DS(sku), DS(k->id)),
		      &rs);
	if (!err && rs.nrows > 0)
		err = req_fail(r, E_PART_IN_EXTERNAL_BOM, "Part SKU %s, which this change removes,"
			       " is a BOM child of SKU %s outside this kit", sku, db_get(&rs, 0, 0));
	db_res_free(&rs);
	return err;
}

/* The SKUs of part p before (p->old), and which of them the body keeps (p->reused, p->child):
 * a part that keeps its colour mode (fixed_now == p->was_fixed) keeps its SKU under each kept
 * variant, or its one fixed-colour SKU. KEEP_NONE: a removed part, every SKU goes. */
#define KEEP_NONE (-1)
static enum api_err plan_part(struct req *r, struct kit *k, struct kpart *p, int fixed_now)
{
	struct db_res rs;
	const json_t *variants = json_object_get(r->body, "variants");
	enum api_err err = db_exec(r->db, &Q_PART_SKUS,
				   DB_ARGS(DS(k->id), DS(r->account_id), DS(p->id)), &rs);
	for (unsigned long i = 0; !err && i < rs.nrows; i++) {
		const char *sku = db_get(&rs, i, 0), *parent = db_get(&rs, i, 1);
		int at = find(p->old, p->nold, sku);
		if (at < 0 && p->nold < KIT_OLD_MAX) {
			at = (int)p->nold++;
			snprintf(p->old[at], sizeof p->old[at], "%s", sku);
		}
		if (at < 0 || p->reused[at] || fixed_now == KEEP_NONE || fixed_now != p->was_fixed)
			continue;
		if (fixed_now) {
			snprintf(p->child[0], sizeof p->child[0], "%s", sku);
			p->reused[at] = 1;
			continue;
		}
		for (size_t v = 0; parent && v < json_array_size(variants); v++) {
			const char *kept = jhelp_str(json_array_get(variants, v), "sku_id");
			if (kept && strcmp(kept, parent) == 0) {
				snprintf(p->child[v], sizeof p->child[v], "%s", sku);
				p->reused[at] = 1;
			}
		}
	}
	db_res_free(&rs);
	return err;
}

/* Loads the kit as it is, matches the body's sku_id / part_id against it, and checks every
 * removal before anything is written. */
static enum api_err plan_replace(struct req *r, struct kit *k)
{
	const json_t *variants = json_object_get(r->body, "variants");
	const json_t *parts = json_object_get(r->body, "parts");
	struct db_res rs;
	enum api_err err = req_fetch_one(r, &Q_KIT_LOCK, DB_ARGS(DS(r->account_id), DS(k->id)),
					 &rs, E_PRODUCT_NOT_FOUND);
	if (err == E_PRODUCT_NOT_FOUND)
		return req_fail(r, err, "Product %s not found", k->id);
	if (err)
		return err;
	int is_kit = strcmp(db_get(&rs, 0, 0), "kit") == 0;
	db_res_free(&rs);
	if (!is_kit)
		return req_fail(r, E_NOT_A_KIT, "Product %s is not a kit", k->id);
	if ((err = ids_of(r, &Q_OLD_VARIANTS, k->id, k->old_v, NULL, KIT_ROWS_MAX,
			  &k->n_old_v)) != E_OK ||
	    (err = ids_of(r, &Q_OLD_PARTS, k->id, k->old_p, k->old_p_fixed, KIT_ROWS_MAX,
			  &k->n_old_p)) != E_OK)
		return err;
	for (size_t i = 0; i < k->nv; i++) {
		const char *kept = jhelp_str(json_array_get(variants, i), "sku_id");
		int at = find(k->old_v, k->n_old_v, kept);
		if (kept && at < 0)
			return req_fail(r, E_NOT_IN_KIT, "variants[%zu].sku_id: SKU %s is not a"
					" variant of kit %s", i, kept, k->id);
		if (kept) {
			k->old_v_kept[at] = 1;
			snprintf(k->v[i], sizeof k->v[i], "%s", kept);
		}
	}
	for (size_t i = 0; i < k->np; i++) {
		const json_t *body = json_array_get(parts, i);
		const char *kept = jhelp_str(body, "part_id");
		int at = find(k->old_p, k->n_old_p, kept);
		if (kept && at < 0)
			return req_fail(r, E_NOT_IN_KIT, "parts[%zu].part_id: product %s is not a"
					" part of kit %s", i, kept, k->id);
		if (!kept)
			continue;
		struct kpart *p = &k->p[i];
		k->old_p_kept[at] = 1;
		p->kept = 1;
		p->was_fixed = k->old_p_fixed[at];
		snprintf(p->id, sizeof p->id, "%s", kept);
		if ((err = plan_part(r, k, p, jhelp_str(body, "fixed_color") != NULL)) != E_OK)
			return err;
		for (size_t s = 0; s < p->nold; s++)
			if (!p->reused[s] && (err = check_removal(r, k, p->old[s], 1)) != E_OK)
				return err;
	}
	for (size_t i = 0; i < k->n_old_v; i++)
		if (!k->old_v_kept[i] && (err = check_removal(r, k, k->old_v[i], 0)) != E_OK)
			return err;
	for (size_t i = 0; i < k->n_old_p; i++) {
		struct kpart gone = { .kept = 0 };
		if (k->old_p_kept[i])
			continue;
		snprintf(gone.id, sizeof gone.id, "%s", k->old_p[i]);
		if ((err = plan_part(r, k, &gone, KEEP_NONE)) != E_OK)
			return err;
		for (size_t s = 0; s < gone.nold; s++)
			if ((err = check_removal(r, k, gone.old[s], 1)) != E_OK)
				return err;
	}
	return E_OK;
}

/* The rows the plan drops: the kit's BOM and inventory rows (rebuilt below), removed
 * variants, removed parts, part SKUs not kept. */
static enum api_err drop_removed(struct req *r, const struct kit *k)
{
	const struct stock_src src = { "removed", "kit composition replaced", k->id, r->request_id };
	enum api_err err = db_exec(r->db, &Q_KIT_BOM_DELETE,
				   DB_ARGS(DS(r->account_id), DS(k->id)), NULL);
	if (!err)
		err = db_exec(r->db, &Q_KIT_EXTRAS_DELETE, DB_ARGS(DS(r->account_id), DS(k->id)),
			      NULL);
	for (size_t i = 0; !err && i < k->n_old_v; i++)
		if (!k->old_v_kept[i] &&
		    !(err = stock_retire(r->db, r->account_id, k->old_v[i], NULL, &src)))
			err = db_exec(r->db, &Q_SKU_DELETE,
				      DB_ARGS(DS(r->account_id), DS(k->old_v[i])), NULL);
	for (size_t i = 0; !err && i < k->n_old_p; i++)
		if (!k->old_p_kept[i] &&
		    !(err = stock_retire(r->db, r->account_id, NULL, k->old_p[i], &src)))
			err = db_exec(r->db, &Q_PART_DELETE,
				      DB_ARGS(DS(r->account_id), DS(k->old_p[i]), DS(k->id)), NULL);
	for (size_t i = 0; !err && i < k->np; i++)
		for (size_t s = 0; !err && s < k->p[i].nold; s++)
			if (!k->p[i].reused[s] &&
			    !(err = stock_retire(r->db, r->account_id, k->p[i].old[s], NULL, &src)))
				err = db_exec(r->db, &Q_SKU_DELETE,
					      DB_ARGS(DS(r->account_id), DS(k->p[i].old[s])), NULL);
	return err;
}

/* ------------------------------------------------------------------- the writes */

/* What a SKU of the kit is made of. */
struct sku_in {
	const char *product, *part_name; /* part_name: NULL for a variant */
	const char *color, *filament, *hex;
	long long threshold;             /* -1: 0 for a new SKU, kept for a kept one */
	int composite;
};

/* id "" → a new SKU with a generated code (KIT-COLOR, KIT-PART-COLOR; -2, -3 ... while the
 * code is taken) and its finished good; else the kept SKU updated in place, its finished good
 * following. */
static enum api_err put_sku(struct req *r, const struct kit *k, const struct sku_in *s,
			    char id[UUID_LEN + 1])
{
	const char *hex = s->hex && s->hex[0] ? s->hex : NULL;
	struct db_arg threshold = s->threshold >= 0 ? DI(s->threshold) : DNULL;
	enum api_err err;
	if (id[0]) {
		err = db_exec(r->db, &Q_SKU_UPDATE,
			      DB_ARGS(DS(s->color), DS(s->filament), DS(hex), threshold,
				      DI(s->composite), DS(r->account_id), DS(id)), NULL);
		if (!err)
			err = db_exec(r->db, &Q_FG_FOLLOW, DB_ARGS(DS(r->account_id), DS(id)), NULL);
		if (!err)
			err = db_exec(r->db, &Q_FG_STATUS, DB_ARGS(DS(r->account_id), DS(id)), NULL);
		return err;
	}
	char base[CODE_BASE_MAX + 1], code[CODE_MAX + 1];
	snprintf(base, sizeof base, "%s", k->code);
	if (s->part_name)
		code_add(base, sizeof base, s->part_name);
	code_add(base, sizeof base, s->color);
	err = E_CONFLICT;
	for (int n = 1; err == E_CONFLICT && n <= CODE_TRIES; n++) {
		if (n == 1)
			snprintf(code, sizeof code, "%s", base);
		else
			snprintf(code, sizeof code, "%s-%d", base, n);
		if (util_uuid(id) < 0)
			return E_INTERNAL_ERROR;
		err = db_exec(r->db, &Q_SKU_INSERT,
			      DB_ARGS(DS(s->color), DS(s->filament), DS(hex), threshold,
				      DI(s->composite), DS(r->account_id), DS(id), DS(s->product),
				      DS(code)), NULL);
	}
	if (err == E_CONFLICT)
		return req_fail(r, E_INTERNAL_ERROR, "no free SKU code for %s", base);
	return err ? err : skus_finished_good(r, id);
}

/* The kit product itself: a name already used answers 409 DUPLICATE_NAME. */
static enum api_err put_kit(struct req *r, const struct kit *k)
{
	const json_t *b = r->body;
	const char *name = jhelp_str(b, "name");
	enum api_err err;
	if ((err = products_check_wiki(r)) != E_OK)
		return err;
	int post = json_is_true(json_object_get(b, "requires_post_processing"));
	if (k->replace)
		err = db_exec(r->db, &Q_KIT_UPDATE,
			      DB_ARGS(DS(name), DS(jhelp_str(b, "description")),
				      DS(jhelp_str(b, "category")), DI(post),
				      DS(jhelp_str(b, "wiki_id")), DS(r->account_id), DS(k->id)),
			      NULL);
	else
		err = db_exec(r->db, &Q_KIT_INSERT,
			      DB_ARGS(DS(k->id), DS(r->account_id), DS(name),
				      DS(jhelp_str(b, "description")), DS(jhelp_str(b, "category")),
				      DI(post), DS(jhelp_str(b, "wiki_id"))), NULL);
	if (err == E_CONFLICT)
		return req_fail(r, E_DUPLICATE_NAME, "A product named %s already exists", name);
	return err;
}

/* Part i: its product (print file checked), components, SKUs and BOM rows under every variant. */
static enum api_err put_part(struct req *r, struct kit *k, size_t i)
{
	const json_t *body = json_array_get(json_object_get(r->body, "parts"), i);
	const json_t *variants = json_object_get(r->body, "variants");
	const json_t *qv = json_object_get(body, "quantity_per_kit");
	const char *file = jhelp_str(body, "print_file_id"), *fixed = jhelp_str(body, "fixed_color");
	const char *name = jhelp_str(body, "name");
	long long qty = qv ? json_integer_value(qv) : 1;
	struct kpart *p = &k->p[i];
	char file_name[256] = "";
	struct db_res rs;
	enum api_err err;
	if (file) {
		err = req_fetch_one(r, &Q_PRINT_FILE, DB_ARGS(DS(r->account_id), DS(file)), &rs,
				    E_PRINT_FILE_NOT_FOUND);
		if (err == E_PRINT_FILE_NOT_FOUND)
			return req_fail(r, err, "parts[%zu].print_file_id: print file %s not found",
					i, file);
		if (err)
			return err;
		DB_COPY(file_name, &rs, 0, 0);
		db_res_free(&rs);
	}
	if (!p->kept && util_uuid(p->id) < 0)
		return E_INTERNAL_ERROR;
	const char *fixed_hex = jhelp_str(body, "fixed_hex_code");
	err = db_exec(r->db, p->kept ? &Q_PART_UPDATE : &Q_PART_INSERT,
		      DB_ARGS(DS(name), DS(file), DS(file ? file_name : NULL),
			      DI(json_is_true(json_object_get(body, "requires_assembly"))), DI(qty),
			      DS(fixed), DS(fixed_hex && fixed_hex[0] ? fixed_hex : NULL), DI(i),
			      DS(r->account_id), DS(p->id), DS(k->id)), NULL);
	if (!err && p->kept)
		err = components_clear(r, p->id);
	if (!err)
		err = components_insert(r, p->id, json_object_get(body, "components"));
	for (size_t v = 0; !err && v < k->nv; v++) {
		const json_t *var = json_array_get(variants, v);
		/* a fixed-colour part: one SKU (filament of the first variant) for every variant */
		const json_t *src = fixed ? json_array_get(variants, 0) : var;
		struct sku_in s = { p->id, name, fixed ? fixed : jhelp_str(var, "color"),
				    jhelp_str(src, "filament_type"),
				    fixed ? fixed_hex : jhelp_str(var, "hex_code"), -1, 0 };
		char *sku = p->child[fixed ? 0 : v];
		if ((!fixed || v == 0) && (err = put_sku(r, k, &s, sku)) != E_OK)
			break;
		err = bom_add_child(r, k->v[v], sku, qty);
	}
	return err;
}

/* Variant i's bundle extras: its own, then the kit-wide ones it does not list itself. */
static enum api_err put_extras(struct req *r, const struct kit *k, size_t i)
{
	const json_t *own = json_object_get(json_array_get(json_object_get(r->body, "variants"), i),
					    "bundle_extras");
	const json_t *all = json_object_get(r->body, "bundle_extras");
	char where[96];
	enum api_err err = E_OK;
	for (size_t e = 0; !err && e < json_array_size(own); e++) {
		snprintf(where, sizeof where, "variants[%zu].bundle_extras[%zu]", i, e);
		err = bom_add_inventory(r, k->v[i], json_array_get(own, e), where);
	}
	for (size_t e = 0; !err && e < json_array_size(all); e++) {
		const char *item = jhelp_str(json_array_get(all, e), "inventory_item_id");
		int listed = 0;
		for (size_t o = 0; !listed && o < json_array_size(own); o++)
			listed = strcasecmp(item, jhelp_str(json_array_get(own, o),
							   "inventory_item_id")) == 0;
		snprintf(where, sizeof where, "bundle_extras[%zu]", e);
		if (!listed)
			err = bom_add_inventory(r, k->v[i], json_array_get(all, e), where);
	}
	return err;
}

/* Create (k->replace 0) or replace: the whole composition, in the route's transaction. */
static enum api_err compose(struct req *r, struct kit *k)
{
	const json_t *variants = json_object_get(r->body, "variants");
	enum api_err err;
	k->nv = json_array_size(variants);
	k->np = json_array_size(json_object_get(r->body, "parts"));
	code_add(k->code, sizeof k->code, jhelp_str(r->body, "name"));
	if ((err = db_exec(r->db, &Q_ACCOUNT_LOCK, DB_ARGS(DS(r->account_id)), NULL)) != E_OK)
		return err;
	if (k->replace && (err = plan_replace(r, k)) != E_OK)
		return err;
	if ((err = put_kit(r, k)) != E_OK)
		return err;
	if (k->replace && (err = drop_removed(r, k)) != E_OK)
		return err;
	for (size_t i = 0; i < k->nv; i++) {
		const json_t *v = json_array_get(variants, i);
		/* the threshold is the body's (default 0), kept variants included */
		struct sku_in s = { k->id, NULL, jhelp_str(v, "color"), jhelp_str(v, "filament_type"),
				    jhelp_str(v, "hex_code"),
				    json_integer_value(json_object_get(v, "low_stock_threshold")), 1 };
		if ((err = put_sku(r, k, &s, k->v[i])) != E_OK)
			return err;
	}
	for (size_t i = 0; i < k->np; i++)
		if ((err = put_part(r, k, i)) != E_OK)
			return err;
	for (size_t i = 0; i < k->nv; i++)
		if ((err = put_extras(r, k, i)) != E_OK)
			return err;
	return res_reply(r, &product_res, k->id, !k->replace);
}

/* Both routes: the body checked whole, then compose (route R_TXN: one attempt, from the start). */
static enum api_err kit_run(struct req *r, const char *id)
{
	if (check_body(r, id != NULL))
		return E_VALIDATION_ERROR;
	struct kit *k = calloc(1, sizeof *k);
	if (!k)
		return E_INTERNAL_ERROR;
	k->replace = id != NULL;
	enum api_err err = E_OK;
	if (id)
		snprintf(k->id, sizeof k->id, "%s", id);
	else if (util_uuid(k->id) < 0)
		err = E_INTERNAL_ERROR;
	if (!err)
		err = compose(r, k);
	free(k);
	return err;
}

enum api_err kits_create(struct req *r)
{
	return kit_run(r, NULL);
}

enum api_err kits_replace(struct req *r)
{
	return kit_run(r, req_param(r, "id"));
}
