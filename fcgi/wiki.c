/* wiki.c - Wiki articles: list (filters, paged), distinct categories, get by id or slug,
 * create, update, publish, unpublish. The fields are fcgi/wiki.def; docs/catalog.md. */
#include "resources.h"

#include <string.h>

#define SLUG_MAX 200

static const char *const wiki_difficulties[] = { "easy", "medium", "hard", NULL };
static const char *const section_types[] = { "subtitle", "step", "note", "warning", NULL };

static const struct jfield WIKI_TAG[] = { { "tags", JF_STRING, 0, 1, 50, { NULL } } };
static const struct jfield WIKI_TOOL[] = { { "tools_required", JF_STRING, 0, 1, 200, { NULL } } };
static const struct jfield SECTION_WARNING[] = { { "warnings", JF_STRING, 0, 1, 1000, { NULL } } };

/* A section: what is stored (members not named here are dropped). */
static const struct jfield SECTION_FIELDS[] = {
	{ "id", JF_STRING, 0, 1, 100, { NULL } },
	{ "type", JF_ENUM, 0, 0, 0, { .values = section_types } },
	{ "order", JF_NUMBER, 0, 0, 100000, { NULL } },
	{ "number", JF_NUMBER, 0, 0, 100000, { NULL } },
	{ "title", JF_STRING, 0, 0, 500, { NULL } },
	{ "content", JF_STRING, 0, 0, 100000, { NULL } },
	{ "description", JF_STRING, 0, 0, 10000, { NULL } },
	{ "image_url", JF_STRING, 0, 0, 500, { NULL } },
	{ "notes", JF_STRING, 0, 0, 10000, { NULL } },
	{ "warnings", JF_ARRAY, 0, 0, 50, { .sub = SECTION_WARNING } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield WIKI_SECTION[] = {
	{ "sections", JF_OBJECT, 0, 0, 0, { .sub = SECTION_FIELDS } }
};

static const struct rfield wiki_fields[] = {
#define FIELD RES_FIELD
#include "wiki.def"
#undef FIELD
	RES_FIELD_END
};

#define WIKI_SEARCH(col) col " LIKE CONCAT('%', ?, '%') ESCAPE '\\\\'"

static const struct rfilter wiki_filters[] = {
	RES_FILTER("category", STR(1, 100), "w.category = ?", EXACT),
	RES_FILTER("is_published", BOOL, "w.is_published = ?", EXACT),
	RES_FILTER("product_id", STR(1, 36), "w.product_id = ?", EXACT),
	RES_FILTER("sku_id", STR(1, 36), "w.sku_id = ?", EXACT),
	RES_FILTER("search", STR(1, 200),
		   "(" WIKI_SEARCH("w.title") " OR " WIKI_SEARCH("w.excerpt") " OR "
		   WIKI_SEARCH("w.description") " OR " WIKI_SEARCH("w.content") ")", SUBSTR),
	RES_FILTER_END
};

static const struct runique wiki_uniques[] = {
	{ "uq_wiki_articles_account_slug", E_DUPLICATE_SLUG, "slug" },
	{ NULL, E_OK, NULL }
};

/* Paged; most recently updated first. */
static const struct rdistinct wiki_categories = { "w.category", NULL };

const struct resource wiki_res = {
	.noun = "article", .table = "wiki_articles", .from = "wiki_articles w", .alias = "w",
	.not_found = E_ARTICLE_NOT_FOUND, .fields = wiki_fields, .filters = wiki_filters,
	.order = "w.updated_at DESC, w.id", .paging = RP_ALWAYS, .uniques = wiki_uniques,
	.touch = "updated_at = NOW(3)", .distinct = &wiki_categories,
};

static const struct db_query Q_WIKI_BY_SLUG = {
	"SELECT id FROM wiki_articles WHERE account_id = ? AND slug = ?"
};
static const struct db_query Q_WIKI_PUBLISH = {
	"UPDATE wiki_articles SET is_published = 1, published_at = NOW(3), updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ? AND is_published = 0"
};
static const struct db_query Q_WIKI_UNPUBLISH = {
	"UPDATE wiki_articles SET is_published = 0, updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ? AND is_published = 1"
};

/* ------------------------------------------------------------------------ the body */

static int slug_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ^[a-z0-9]+(-[a-z0-9]+)*$ */
static int slug_valid(const char *s)
{
	int prev_dash = 1;
	for (; *s; s++) {
		if (*s == '-' && !prev_dash)
			prev_dash = 1;
		else if (slug_char(*s))
			prev_dash = 0;
		else
			return 0;
	}
	return !prev_dash;
}

/* The slug of title: lower case, every run of other characters one '-', none at either end,
 * at most SLUG_MAX characters. */
static void slug_of(const char *title, char out[SLUG_MAX + 1])
{
	size_t n = 0;
	for (const char *p = title; *p && n < SLUG_MAX; p++) {
		char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
		if (slug_char(c))
			out[n++] = c;
		else if (n && out[n - 1] != '-')
			out[n++] = '-';
	}
	while (n && out[n - 1] == '-')
		n--;
	out[n] = '\0';
}

/* The sections with the members SECTION_FIELDS names only (the body already checked). */
static json_t *sections_kept(const json_t *in)
{
	json_t *out = json_array();
	for (size_t i = 0; out && i < json_array_size(in); i++) {
		const json_t *s = json_array_get(in, i);
		json_t *o = json_object();
		for (const struct jfield *f = SECTION_FIELDS; o && f->name; f++) {
			json_t *v = json_object_get(s, f->name);
			if (v)
				json_object_set(o, f->name, v);
		}
		json_array_append_new(out, o);
	}
	return out;
}

/* After the generic checks: the slug (checked, derived from the title when a create has none;
 * not null on update) and the sections, written into the body. 1 when refused. */
static int wiki_prepare(struct req *r, unsigned op)
{
	const json_t *slug = json_object_get(r->body, "slug");
	const json_t *sections = json_object_get(r->body, "sections");
	if (json_is_string(slug) && !slug_valid(json_string_value(slug))) {
		req_problem(r, "slug", "slug must be lower-case letters and digits in groups joined "
			    "by single hyphens (e.g. \"nozzle-cleaning\")");
		return 1;
	}
	if (op == RF_PATCH && json_is_null(slug)) {
		req_problem(r, "slug", "slug cannot be null: send a slug, or leave it out to keep it");
		return 1;
	}
	if (op == RF_CREATE && !json_is_string(slug)) {
		char gen[SLUG_MAX + 1];
		slug_of(jhelp_str(r->body, "title"), gen);
		if (!gen[0]) {
			req_problem(r, "title", "title has no letter or digit to make a slug from: "
				    "send a slug");
			return 1;
		}
		json_object_set_new(r->body, "slug", json_string(gen));
	}
	if (json_is_array(sections))
		json_object_set_new(r->body, "sections", sections_kept(sections));
	return 0;
}

/* A product_id / sku_id sent (not null) names a row of the account. */
static enum api_err wiki_refs(struct req *r)
{
	static const struct {
		const char *field;
		const struct resource *res;
		const char *noun;
	} refs[] = {
		{ "product_id", &product_res, "Product" },
		{ "sku_id", &sku_res, "SKU" },
	};
	for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
		const char *id = jhelp_str(r->body, refs[i].field);
		enum api_err err = id ? res_exists(r, refs[i].res, id) : E_OK;
		if (err == refs[i].res->not_found)
			return req_fail(r, err, "%s %s not found (%s)", refs[i].noun, id,
					refs[i].field);
		if (err)
			return err;
	}
	return E_OK;
}

/* The key's owner (NULL for a key without one). */
static struct db_arg owner(const struct req *r)
{
	return DS(r->user_id[0] ? r->user_id : NULL);
}

/* ------------------------------------------------------------------------ handlers */

/* By id first, then by slug. */
enum api_err wiki_get(struct req *r)
{
	const char *key = req_param(r, "idOrSlug");
	json_t *out;
	struct db_res rs;
	enum api_err err = res_detail(r, &wiki_res, key, &out);
	if (err == E_ARTICLE_NOT_FOUND) {
		err = req_fetch_one(r, &Q_WIKI_BY_SLUG, DB_ARGS(DS(r->account_id), DS(key)), &rs,
				    E_ARTICLE_NOT_FOUND);
		if (err)
			return err;
		err = res_detail(r, &wiki_res, db_get(&rs, 0, 0), &out);
		db_res_free(&rs);
	}
	return err ? err : req_ok(r, out);
}

enum api_err wiki_create(struct req *r)
{
	struct sqlb b;
	char id[UUID_LEN + 1];
	enum api_err err;
	if (res_check_body(r, &wiki_res, RF_CREATE) || wiki_prepare(r, RF_CREATE))
		return E_VALIDATION_ERROR;
	if ((err = wiki_refs(r)) != E_OK)
		return err;
	if ((err = res_insert_begin(&b, r, &wiki_res, id)) == E_OK) {
		int published = json_is_true(json_object_get(r->body, "is_published"));
		res_set(&b, "published_at = IF(? = 1, NOW(3), NULL)", DI(published));
		res_set(&b, "author_id = ?", owner(r));
		res_set(&b, "last_edited_by = ?", owner(r));
		return res_insert_end(r, &wiki_res, &b, id);
	}
	sqlb_release(&b);
	return err;
}

enum api_err wiki_update(struct req *r)
{
	struct sqlb b;
	enum api_err err;
	if (res_check_body(r, &wiki_res, RF_PATCH) || wiki_prepare(r, RF_PATCH))
		return E_VALIDATION_ERROR;
	if ((err = res_need_updates(r, &wiki_res)) != E_OK ||
	    (err = res_exists(r, &wiki_res, req_param(r, "id"))) != E_OK)
		return err;
	if ((err = wiki_refs(r)) != E_OK)
		return err;
	res_update_begin(&b, r, &wiki_res);
	res_set(&b, "last_edited_by = ?", owner(r));
	return res_update_end(r, &wiki_res, &b);
}

/* Publish and unpublish: a compare-and-set of is_published; when nothing changed, the article
 * is missing or already in that state. */
struct wiki_flip {
	const struct db_query *q;
	enum api_err already;
	const char *message;
};

static enum api_err wiki_flip(struct req *r, const struct wiki_flip *f)
{
	const char *id = req_param(r, "id");
	enum api_err err = db_exec(r->db, f->q, DB_ARGS(DS(r->account_id), DS(id)), NULL);
	if (err)
		return err;
	if (db_affected(r->db) == 0) {
		err = res_exists(r, &wiki_res, id);
		return err ? err : req_fail(r, f->already, "%s", f->message);
	}
	return res_reply(r, &wiki_res, id, 0);
}

enum api_err wiki_publish(struct req *r)
{
	static const struct wiki_flip f = {
		&Q_WIKI_PUBLISH, E_ALREADY_PUBLISHED,
		"Article is already published"
	};
	return wiki_flip(r, &f);
}

enum api_err wiki_unpublish(struct req *r)
{
	static const struct wiki_flip f = {
		&Q_WIKI_UNPUBLISH, E_ALREADY_UNPUBLISHED, "Article is not published"
	};
	return wiki_flip(r, &f);
}
