/* openapi.c - the OpenAPI 3.1 document of the API, built from the tables the server runs on
 * (docs/openapi.md):
 *   - operations, path parameters, scopes and body kinds: the route table (fcgi/routes.def);
 *   - answers, bodies and list query parameters of the generic handlers: the resource records
 *     (fields, filters, paging, nested lists, counts, unique keys) and their .def field rows;
 *   - bodies of handwritten handlers: their own field tables, published with OPENAPI_BODY;
 *   - error answers: common/err.def (every code of each status the operation can answer);
 *   - what no table knows (the answer of a handwritten handler): the ops[] table below, one row
 *     per handler, in a compact member notation.
 * The document is built once per process and served at GET /v1/openapi.json without a key. */
#include "openapi.h"

#include "err.h"
#include "files.h"
#include "resources.h"
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- handwritten handlers */

/* The body tables handlers publish (OPENAPI_BODY next to each table). */
#define BODIES(X)                                                                          \
	X(printers_maintenance) X(printers_control) X(printers_temperature)                \
	X(printers_filament_load) X(printers_filament_unload) X(jobs_complete)              \
	X(files_upload_url) X(worklist_assign) X(worklist_status) X(worklist_complete)     \
	X(inventory_threshold) X(inventory_adjust) X(materials_consume)                     \
	X(materials_check_availability) X(orders_fulfill) X(orders_fulfill_item)            \
	X(assembly_complete) X(kits_create) X(components_bulk) X(skus_adjust)              \
	X(bom_assemble) X(bom_replace) X(autodispatch_settings_patch) X(autodispatch_printer_put)
#define DECLARE_BODY(h) extern const struct jfield *const openapi_body_##h;
BODIES(DECLARE_BODY)
#undef DECLARE_BODY

/* What a handwritten handler takes and answers. Member notation (shape, body_shape, query):
 * "name:type,..." with type string, integer, number, boolean, object, array, any, date,
 * date-time, or @ (the schema of res in view); a trailing ? allows null. Every member listed is
 * required, unless its name ends with ? (query parameters: always optional). A shape "+members" is res's schema with these members
 * added, "[members]" an array of such objects, "*" any object; no shape: res's schema itself. */
struct opdoc {
	const char *handler;
	const char *path;            /* NULL: every row of the handler; else this row only */
	int status;                  /* of success (0: 200) */
	const struct resource *res;  /* the answer's record */
	unsigned view;               /* its projection (0: the detail with its nested lists) */
	const char *member;          /* the answer is this nested list of res */
	const char *shape;
	const char *content;         /* the answer is not JSON: its media type */
	const struct resource *in;   /* body: res's create (POST, PUT) or update (PATCH) rows */
	const struct jfield *const *body; /* body: a handler's own table */
	const char *body_shape;
	const char *body_type;       /* a raw body's media type */
	const char *query;
	int errors[2];               /* statuses beyond the common ones */
};

#define B(h) .body = &openapi_body_##h
#define CMD "printer_id:string,command_id:string,"
#define ANALYTICS_Q "from:date,to:date,printer_id:string,product_id:string"
#define IMAGE "id:string,sort_order:integer,url:string"
#define RANGE "date_range:object,summary:object,"
#define BOM "sku_id:string,is_composite:boolean,available_to_build:integer?,children:array," \
	"inventory:array"

#define DISPATCH_SETTINGS "enabled:boolean,max_starts_in_flight_per_hub:integer," \
	"min_seconds_between_starts:integer"
#define PAGE_Q "limit:integer,offset:integer"

static const struct opdoc ops[] = {
	{ "webhooks_create", .status = 201, .res = &webhook_res, .shape = "+secret:string",
	  .in = &webhook_res },
	{ "webhooks_rotate", .res = &webhook_res, .shape = "+secret:string" },
	{ "webhooks_test", .status = 202, .shape = "event_id:string,type:string,status:string" },
	{ "autodispatch_settings_get", .shape = DISPATCH_SETTINGS },
	{ "autodispatch_settings_patch", .shape = DISPATCH_SETTINGS, B(autodispatch_settings_patch) },
	{ "autodispatch_printers_list", .shape = "[printer_id:string,name:string,model:string?,"
	  "hub_id:string?,enabled:boolean]", .query = PAGE_Q },
	{ "autodispatch_printer_put", .shape = "printer_id:string,enabled:boolean",
	  B(autodispatch_printer_put) },
	{ "autodispatch_queue", .shape = "[job_id:string,position:integer,reason:string,"
	  "printer_id:string?,candidate_printer_id:string?]", .query = PAGE_Q },
	{ "printers_maintenance", .res = &printer_res, B(printers_maintenance) },
	{ "printers_control", .shape = CMD "action:string,status:string", B(printers_control) },
	{ "printers_light", .shape = CMD "state:boolean", .body_shape = "state:any" },
	{ "printers_temperature", .shape = CMD "heater:string,temperature:number", B(printers_temperature) },
	{ "printers_filament_load", .shape = CMD "action:string,tray_id:integer,temperature:integer",
	  B(printers_filament_load) },
	{ "printers_filament_unload", .shape = CMD "action:string", B(printers_filament_unload) },
	{ "jobs_create", .status = 201, .res = &job_res, .in = &job_res },
	{ "jobs_update", .res = &job_res, .in = &job_res },
	{ "jobs_action", .shape = "job_id:string,printer_id:string?,status:string,command_id:string?" },
	{ "jobs_retry", .res = &job_res },
	{ "jobs_complete", .res = &job_res, B(jobs_complete) },
	{ "files_upload_url", .shape = "file_id:string,filename:string,upload_token:string,"
	  "content_type:string,expires_in:integer,expires_at:string,upload_url:string,"
	  "storage_key:string", B(files_upload_url) },
	{ "files_upload", .shape = "size_bytes:integer", .body_type = "application/octet-stream",
	  .errors = { 403 } },
	{ "files_parse_metadata", .shape = "filename:string,file_size_bytes:integer,is_sliced:boolean,"
	  "has_thumbnail:boolean,plate_count:integer?,plates:array,totals:object?",
	  .body_type = "multipart/form-data" },
	{ "files_create", .status = 201, .res = &file_res, .in = &file_res },
	{ "files_thumbnail", .content = "image/png", .query = "plate:integer" },
	{ "files_version_add", .status = 201, .res = &file_version_res, .in = &file_version_res },
	{ "files_promote", .res = &file_res },
	{ "worklist_assign", .res = &worklist_res, B(worklist_assign) },
	{ "worklist_status", .res = &worklist_res, B(worklist_status) },
	{ "worklist_start", .res = &worklist_res },
	{ "worklist_complete", .res = &worklist_res, B(worklist_complete) },
	{ "analytics_overview", .shape = "date:string,printers:object,jobs:object,hubs:object,"
	  "tasks:object,alerts:object" },
	{ "analytics_production", .shape = RANGE "daily:array", .query = ANALYTICS_Q },
	{ "analytics_printers", .shape = RANGE "printers:array", .query = ANALYTICS_Q },
	{ "analytics_failures", .shape = RANGE "by_printer:array,by_type:array,daily_trend:array,"
	  "recent:array", .query = ANALYTICS_Q },
	{ "analytics_inventory", .shape = RANGE "filament_inventory:array,low_stock_items:array,"
	  "material_usage:array,usage_trend:array", .query = ANALYTICS_Q },
	{ "analytics_revenue", .shape = RANGE "by_platform:array,daily:array", .query = ANALYTICS_Q },
	{ "inventory_create", .status = 201, .res = &inventory_res, .view = RF_LIST, .in = &inventory_res },
	{ "inventory_update", .res = &inventory_res, .view = RF_LIST, .in = &inventory_res },
	{ "inventory_threshold", .res = &inventory_res, .view = RF_LIST, B(inventory_threshold) },
	{ "inventory_adjust", .shape = "id:string,previous_stock:integer,adjustment:integer,"
	  "new_stock:integer,previous_status:string,new_status:string,is_low_stock:boolean,"
	  "reason:string", B(inventory_adjust) },
	{ "materials_create", "/materials/filament", 201, &filament_res, .in = &filament_res },
	{ "materials_create", "/materials/packaging", 201, &packaging_res, .in = &packaging_res },
	{ "materials_create", "/materials/components", 201, &material_component_res,
	  .in = &material_component_res },
	{ "materials_create", "/materials/parts", 201, &part_res, .in = &part_res },
	{ "materials_update", "/materials/filament/{id}", 0, &filament_res, .in = &filament_res },
	{ "materials_update", "/materials/packaging/{id}", 0, &packaging_res, .in = &packaging_res },
	{ "materials_update", "/materials/components/{id}", 0, &material_component_res,
	  .in = &material_component_res },
	{ "materials_update", "/materials/parts/{id}", 0, &part_res, .in = &part_res },
	{ "materials_check_availability", .shape = "has_shortage:boolean,components:array",
	  B(materials_check_availability) },
	{ "materials_consume", .res = &material_component_res, .shape = "component:@,consumed:object",
	  B(materials_consume) },
	{ "orders_create", .status = 201, .res = &order_res, .in = &order_res },
	{ "orders_stats", .shape = "total_orders:integer,by_status:object,by_platform:object,"
	  "pending_fulfillment:integer,last_30_days:object" },
	{ "orders_update", .res = &order_res, .view = RF_LIST, .in = &order_res },
	{ "orders_fulfill", .res = &order_res, .shape = "+fulfillment_errors?:array",
	  B(orders_fulfill) },
	{ "orders_fulfill_item", .shape = "item:object,order_status:string", B(orders_fulfill_item) },
	{ "orders_produce", .shape = "order_id:string,print_jobs_created:array,"
	  "assembly_tasks_created:array,covered_items:array,skipped_items:array,"
	  "unmatched_items:array,shortages:array" },
	{ "assembly_create", .status = 201, .res = &assembly_res, .in = &assembly_res },
	{ "assembly_get", .res = &assembly_res, .shape = "+wiki_article:object?" },
	{ "assembly_update", .res = &assembly_res, .in = &assembly_res },
	{ "assembly_complete", .res = &assembly_res, .shape = "task:@,quantity_completed:integer",
	  B(assembly_complete) },
	{ "products_create", .status = 201, .res = &product_res, .view = RF_LIST, .in = &product_res },
	{ "products_update", .res = &product_res, .view = RF_LIST, .in = &product_res },
	{ "kits_create", .status = 201, .res = &product_res, B(kits_create) },
	{ "kits_replace", .res = &product_res, .body = &openapi_body_kits_create },
	{ "products_create_sku", .status = 201, .res = &sku_res, .view = RF_LIST, .in = &sku_res },
	{ "components_bulk", .status = 201, .res = &product_res, .member = "components",
	  B(components_bulk) },
	{ "components_delete_all", .shape = "deleted:integer" },
	{ "product_images_list", .shape = "[" IMAGE "]" },
	{ "product_images_upload", .status = 201, .shape = IMAGE, .body_type = "multipart/form-data" },
	{ "product_images_order", .shape = "[" IMAGE "]", .body_shape = "order:array" },
	{ "product_images_get", .content = "image/*" },
	{ "product_images_delete", .shape = "[" IMAGE "]" },
	{ "skus_create", .status = 201, .res = &sku_res, .view = RF_LIST, .in = &sku_res },
	{ "skus_update", .res = &sku_res, .view = RF_LIST, .in = &sku_res },
	{ "skus_adjust", .shape = "id:string,previous_stock_level:integer,adjustment:integer,"
	  "new_stock_level:integer,is_low_stock:boolean", B(skus_adjust) },
	{ "bom_assemble", .status = 201, .res = &assembly_res, .view = RF_DETAIL, B(bom_assemble) },
	{ "bom_get", .shape = BOM },
	{ "bom_replace", .shape = BOM, B(bom_replace) },
	{ "colors_create", .status = 201, .res = &color_res, .in = &color_res },
	{ "colors_update", .res = &color_res, .in = &color_res },
	{ "wiki_create", .status = 201, .res = &wiki_res, .in = &wiki_res },
	{ "wiki_get", .res = &wiki_res },
	{ "wiki_update", .res = &wiki_res, .in = &wiki_res },
	{ "wiki_publish", .res = &wiki_res },
	{ "wiki_unpublish", .res = &wiki_res },
	{ "openapi_json", .content = "application/json" },
};
#undef B

/* Schema names of the resource records (each projection adds a suffix: see res_schema). */
static const struct {
	const struct resource *res;
	const char *name;
} res_names[] = {
	{ &hub_res, "Hub" }, { &hub_connection_res, "HubConnection" },
	{ &hub_discovery_res, "HubDiscovery" }, { &printer_res, "Printer" },
	{ &printer_status_res, "PrinterStatus" }, { &job_res, "Job" },
	{ &job_history_res, "JobHistory" }, { &file_res, "File" },
	{ &file_version_res, "FileVersion" }, { &order_res, "Order" },
	{ &order_item_res, "OrderItem" }, { &product_res, "Product" }, { &sku_res, "Sku" },
	{ &sku_low_res, "SkuLowStock" }, { &color_res, "Color" }, { &wiki_res, "WikiArticle" },
	{ &component_res, "Component" }, { &worklist_res, "WorklistTask" },
	{ &assembly_res, "AssemblyTask" }, { &filament_res, "Filament" },
	{ &packaging_res, "Packaging" }, { &material_component_res, "MaterialComponent" },
	{ &part_res, "PrinterPart" }, { &inventory_res, "FinishedGood" },
	{ &inventory_by_sku_res, "FinishedGoodBySku" }, { &inventory_alert_res, "InventoryAlert" },
	{ &inventory_stats_res, "InventoryStats" }, { &webhook_res, "Webhook" },
	{ &webhook_delivery_res, "WebhookDelivery" },
};

/* ------------------------------------------------------------------------- helpers */

static json_t *ref(const char *name)
{
	char buf[160];
	snprintf(buf, sizeof buf, "#/components/schemas/%s", name);
	return json_pack("{s:s}", "$ref", buf);
}

/* {"type": t} or {"type": [t, "null"]}. */
static json_t *typed(const char *t, int nullable)
{
	return nullable ? json_pack("{s:[s,s]}", "type", t, "null") : json_pack("{s:s}", "type", t);
}

static json_t *obj_schema(void)
{
	return json_pack("{s:s, s:{}, s:[]}", "type", "object", "properties", "required");
}

static void add_member(json_t *schema, const char *name, json_t *sub, int required)
{
	json_object_set_new(json_object_get(schema, "properties"), name, sub);
	if (required)
		json_array_append_new(json_object_get(schema, "required"), json_string(name));
}

/* ------------------------------------------------------------------ field schemas */

static json_t *enum_values(const char *const *values, int nullable)
{
	json_t *a = json_array();
	for (size_t i = 0; values && values[i]; i++)
		json_array_append_new(a, json_string(values[i]));
	if (nullable)
		json_array_append_new(a, json_null());
	return a;
}

static json_t *jfield_schema(const struct jfield *f);

/* An object of the members of a field table (NULL: any object). */
static json_t *jtable_schema(const struct jfield *t, int nullable)
{
	json_t *s = typed("object", nullable);
	if (!t)
		return s;
	json_object_set_new(s, "properties", json_object());
	json_t *req = json_array();
	for (; t->name; t++) {
		if (t->flags & JF_REJECT)
			continue;
		json_object_set_new(json_object_get(s, "properties"), t->name, jfield_schema(t));
		if (t->flags & JF_REQUIRED)
			json_array_append_new(req, json_string(t->name));
	}
	if (json_array_size(req))
		json_object_set(s, "required", req);
	json_decref(req);
	return s;
}

/* What a client may send for f: type, bounds, values. */
static json_t *jfield_schema(const struct jfield *f)
{
	int nul = (f->flags & JF_NULLABLE) != 0, bounded = f->min != 0 || f->max != 0;
	json_t *s;
	switch (f->type) {
	case JF_STRING:
		s = typed("string", nul);
		if (bounded) {
			json_object_set_new(s, "minLength", json_integer((json_int_t)f->min));
			json_object_set_new(s, "maxLength", json_integer((json_int_t)f->max));
		}
		return s;
	case JF_INT:
	case JF_NUMBER:
		s = typed(f->type == JF_INT ? "integer" : "number", nul);
		if (bounded) {
			json_object_set_new(s, "minimum", json_real(f->min));
			json_object_set_new(s, "maximum", json_real(f->max));
		}
		return s;
	case JF_BOOL:
		return typed("boolean", nul);
	case JF_ENUM:
		return json_pack("{s:o}", "enum", enum_values(f->values, nul));
	case JF_TIME:
		s = typed("string", nul);
		json_object_set_new(s, "format", json_string("date-time"));
		return s;
	case JF_ARRAY:
		s = typed("array", nul);
		if (bounded) {
			json_object_set_new(s, "minItems", json_integer((json_int_t)f->min));
			json_object_set_new(s, "maxItems", json_integer((json_int_t)f->max));
		}
		if (f->sub)
			json_object_set_new(s, "items", jfield_schema(f->sub));
		return s;
	case JF_OBJECT:
		return jtable_schema(f->sub, nul);
	case JF_ANY:
		break;
	}
	return json_object();
}

/* What an answer holds for f: every column may be SQL NULL (JSON null) except the id and a
 * value that create requires and no update can clear (a reference to another record, *_id, is
 * cleared when that record goes). Input enumerations do not bound answers: other writers (an
 * import, a state change of another route) store values a client may not send. */
static json_t *rfield_out_schema(const struct rfield *f)
{
	size_t len = strlen(f->name);
	int ref_id = len > 3 && strcmp(f->name + len - 3, "_id") == 0;
	int nul = strcmp(f->name, "id") != 0 &&
		  !((f->flags & RF_REQUIRED) && !ref_id && f->in.type != JF_ANY &&
		    !(f->in.flags & JF_NULLABLE));
	json_t *s;
	switch (f->out) {
	case JC_STR:
		return typed("string", nul);
	case JC_INT:
	case JC_EPOCH_MS:
		return typed("integer", nul);
	case JC_NUM:
		return typed("number", nul);
	case JC_BOOL:
		return typed("boolean", nul);
	case JC_TIME:
		s = typed("string", nul);
		json_object_set_new(s, "format", json_string("date-time"));
		return s;
	case JC_JSON:
		break;
	}
	return json_object();
}

/* ---------------------------------------------------------------- record schemas */

struct gen {
	json_t *doc, *schemas, *responses;
	unsigned nops, undescribed; /* operations; handwritten ones without an ops[] row */
	unsigned unnamed;           /* records without a row in res_names[] */
};

static const char *res_base(const struct resource *res)
{
	for (size_t i = 0; i < sizeof res_names / sizeof res_names[0]; i++)
		if (res_names[i].res == res)
			return res_names[i].name;
	return NULL;
}

static json_t *res_schema(struct gen *g, const struct resource *res, unsigned view);
static json_t *header_refs(int rate, int retry);

/* The name of res's schema in view (0: its detail), created in components when new. */
static const char *res_schema_name(struct gen *g, const struct resource *res, unsigned view,
				   char *name, size_t size)
{
	const char *base = res_base(res);
	if (!base)
		g->unnamed++; /* two unnamed records would share one schema */
	unsigned detail = res->detail ? res->detail : RF_DETAIL;
	int whole = view == 0; /* the detail with its nested lists */
	if (whole)
		view = detail;
	snprintf(name, size, "%s%s", base ? base : "Unnamed",
		 whole ? "" : view == RF_LIST ? "ListItem" : view == RF_BRIEF ? "Brief" : "Row");
	if (!json_object_get(g->schemas, name)) {
		json_object_set_new(g->schemas, name, json_object()); /* a nested list may recurse */
		json_t *s = obj_schema();
		json_object_set_new(s, "additionalProperties", json_false());
		for (const struct rfield *f = res->fields; f->name; f++)
			if (fields_in_view(f, view))
				add_member(s, f->name, rfield_out_schema(f), 1);
		for (const struct rchild *c = res->children; whole && c && c->member; c++)
			add_member(s, c->member, json_pack("{s:s, s:o}", "type", "array", "items",
							   res_schema(g, c->res, c->view)), 1);
		json_object_set_new(g->schemas, name, s);
	}
	return name;
}

/* A $ref to res's schema in view (0: the detail with its nested lists). */
static json_t *res_schema(struct gen *g, const struct resource *res, unsigned view)
{
	char name[96];
	return ref(res_schema_name(g, res, view, name, sizeof name));
}

/* One member type of the notation: string, integer, ..., @ (at). */
static json_t *notation_type(const char *t, size_t n, json_t *at)
{
	int nul = n > 0 && t[n - 1] == '?';
	static const char *const plain[] = { "string", "integer", "number", "boolean", "object",
					     "array" };
	if (nul)
		n--;
	if (n == 1 && t[0] == '@')
		return at ? json_deep_copy(at) : json_object();
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
		if (strlen(plain[i]) == n && strncmp(t, plain[i], n) == 0)
			return typed(plain[i], nul);
	if ((n == 4 && strncmp(t, "date", 4) == 0) || (n == 9 && strncmp(t, "date-time", 9) == 0)) {
		json_t *s = typed("string", nul);
		json_object_set_new(s, "format", json_stringn(t, n));
		return s;
	}
	return json_object(); /* any */
}

/* Calls fn for each "name:type" of a notation list ending at end (or '\0'). */
static void notation_each(const char *s, const char *end, json_t *at,
			  void (*fn)(void *ctx, const char *name, size_t nl, json_t *type), void *ctx)
{
	if (!end)
		end = s + strlen(s);
	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *e = comma ? comma : end;
		const char *colon = memchr(s, ':', (size_t)(e - s));
		if (colon)
			fn(ctx, s, (size_t)(colon - s), notation_type(colon + 1, (size_t)(e - colon - 1), at));
		s = comma ? comma + 1 : end;
	}
}

/* "name:type" a required member, "name?:type" an optional one. */
static void member_into(void *ctx, const char *name, size_t nl, json_t *type)
{
	char buf[96];
	int optional = nl > 0 && name[nl - 1] == '?';
	snprintf(buf, sizeof buf, "%.*s", (int)(nl - (size_t)optional), name);
	add_member(ctx, buf, type, !optional);
}

/* The data schema of an op's answer. */
static json_t *answer_schema(struct gen *g, const struct opdoc *o)
{
	json_t *at = o->res ? (o->member ? NULL : res_schema(g, o->res, o->view)) : NULL;
	json_t *s = NULL;
	if (o->member) {
		const struct rchild *c = o->res->children;
		while (c && c->member && strcmp(c->member, o->member) != 0)
			c++;
		s = c && c->member ? json_pack("{s:s, s:o}", "type", "array", "items",
					       res_schema(g, c->res, c->view))
				   : typed("array", 0); /* no such nested list: res_nested answers 500 */
	} else if (!o->shape) {
		s = json_incref(at);
	} else if (strcmp(o->shape, "*") == 0) {
		s = typed("object", 0);
	} else if (o->shape[0] == '+') {
		/* the record's schema (a copy of the component) with more members */
		char name[96];
		s = json_deep_copy(json_object_get(g->schemas, res_schema_name(g, o->res, o->view, name,
									       sizeof name)));
		notation_each(o->shape + 1, NULL, at, member_into, s);
	} else if (o->shape[0] == '[') {
		json_t *item = obj_schema();
		notation_each(o->shape + 1, strchr(o->shape, ']'), at, member_into, item);
		s = json_pack("{s:s, s:o}", "type", "array", "items", item);
	} else {
		s = obj_schema();
		notation_each(o->shape, NULL, at, member_into, s);
	}
	json_decref(at);
	return s;
}

/* ------------------------------------------------------------------ generic handlers */

/* The counts of res_counts (fcgi/resource.h, struct rcounts). */
static json_t *counts_schema(const struct resource *res)
{
	json_t *s = obj_schema();
	for (const struct rcounts *c = res->counts; c; c = c->next) {
		json_t *entry = c->each ? json_pack("{s:s, s:{s:{s:s}, s:{s:s}}, s:[s,s]}", "type",
						    "object", "properties", "count", "type", "integer",
						    c->each, "type", "integer", "required", "count",
						    c->each)
					: typed("integer", 0);
		json_t *by = c->by ? obj_schema() : NULL;
		char name[96];
		for (int v = 0; c->values[v]; v++) {
			snprintf(name, sizeof name, "%s_count", c->values[v]);
			add_member(by ? by : s, by ? c->values[v] : name, json_deep_copy(entry), 1);
		}
		if (by)
			add_member(s, c->by, by, 1);
		json_decref(entry);
		for (size_t m = 0; m < sizeof c->members / sizeof c->members[0] && c->members[m].name;
		     m++)
			add_member(s, c->members[m].name, typed("integer", 0), 1);
	}
	return s;
}

/* What a generic handler answers: the op (res and shape) it amounts to. */
static int generic_op(const struct route *rt, struct opdoc *o, struct gen *g, json_t **data)
{
	const struct resource *res = rt->res;
	const char *h = rt->handler_name;
	memset(o, 0, sizeof *o);
	o->handler = h;
	if (!res)
		return 0;
	if (strcmp(h, "res_list") == 0) {
		*data = json_pack("{s:s, s:o}", "type", "array", "items",
				  res_schema(g, res, res->list ? res->list : RF_LIST));
	} else if (strcmp(h, "res_get") == 0 || strcmp(h, "res_update") == 0) {
		*data = res_schema(g, res, 0);
		o->in = strcmp(h, "res_update") == 0 ? res : NULL;
	} else if (strcmp(h, "res_create") == 0) {
		*data = res_schema(g, res, 0);
		o->in = res;
		o->status = 201;
	} else if (strcmp(h, "res_nested") == 0) {
		o->res = res;
		o->member = strrchr(rt->path, '/') + 1;
		*data = answer_schema(g, o);
	} else if (strcmp(h, "res_counts") == 0) {
		*data = counts_schema(res);
	} else if (strcmp(h, "res_distinct") == 0) {
		*data = json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string");
	} else if (strcmp(h, "res_delete") == 0) {
		*data = json_pack("{s:s, s:{s:{s:s}, s:{s:s}}, s:[s,s]}", "type", "object",
				  "properties", "id", "type", "string", "deleted", "type", "boolean",
				  "required", "id", "deleted");
	} else {
		return 0;
	}
	return 1;
}

static const struct opdoc *find_op(const struct route *rt)
{
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (strcmp(ops[i].handler, rt->handler_name) == 0 &&
		    (!ops[i].path || strcmp(ops[i].path, rt->path) == 0))
			return &ops[i];
	return NULL;
}

/* ---------------------------------------------------------------------- parameters */

static json_t *param(const char *name, const char *in, json_t *schema, int required,
		     const char *desc)
{
	json_t *p = json_pack("{s:s, s:s, s:b, s:o}", "name", name, "in", in, "required", required,
			      "schema", schema);
	if (desc)
		json_object_set_new(p, "description", json_string(desc));
	return p;
}

static void notation_param(void *ctx, const char *name, size_t nl, json_t *type)
{
	char buf[96];
	snprintf(buf, sizeof buf, "%.*s", (int)nl, name);
	json_array_append_new(ctx, param(buf, "query", type, 0, NULL));
}

/* The query parameters of a list: its filters and its paging. */
static void list_params(json_t *params, const struct resource *res)
{
	static const char *const match_text[] = {
		[RM_EXACT] = "Equal to the value.",
		[RM_SUBSTR] = "Case-insensitive substring; % and _ match literally.",
		[RM_SINCE] = "From this time on (a date or an ISO-8601 UTC time).",
		[RM_UNTIL] = "Up to this time (a date means the end of that UTC day).",
	};
	for (const struct rfilter *f = res->filters; f && f->in.name; f++) {
		json_t *s = jfield_schema(&f->in);
		if (f->in.type == JF_TIME)
			json_object_del(s, "format");
		json_array_append_new(params, param(f->in.name, "query", s, 0, match_text[f->match]));
	}
	if (res->paging == RP_NONE)
		return;
	int always = res->paging == RP_ALWAYS;
	json_array_append_new(params, param("limit", "query",
		json_pack("{s:s, s:i, s:i, s:i}", "type", "integer", "minimum", 1, "maximum",
			  always ? 100 : 500, "default", always ? 50 : 500), 0,
		always ? "Page size." : "Page size; without limit and offset the whole list."));
	json_array_append_new(params, param("offset", "query",
		json_pack("{s:s, s:i, s:i}", "type", "integer", "minimum", 0, "default", 0), 0,
		"Rows skipped."));
}

/* "/wiki/{id}" and "/wiki/{idOrSlug}" are one path: the first row's names are kept. */
static int same_shape(const char *a, const char *b)
{
	while (*a && *b) {
		if (*a == '{' && *b == '{') {
			a += strcspn(a, "}");
			b += strcspn(b, "}");
		}
		if (*a != *b)
			return 0;
		if (*a) {
			a++;
			b++;
		}
	}
	return *a == *b;
}

static const char *doc_path(unsigned i)
{
	for (unsigned j = 0; j < i; j++)
		if (same_shape(routes[j].path, routes[i].path))
			return routes[j].path;
	return routes[i].path;
}

static void path_params(json_t *params, const char *path)
{
	for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)strcspn(p + 1, "}"), p + 1);
		size_t n = strlen(name);
		int is_id = n >= 2 && (strcmp(name + n - 2, "id") == 0 || strcmp(name + n - 2, "Id") == 0);
		json_array_append_new(params, param(name, "path", typed("string", 0), 1,
			is_id ? "A UUID (any other value names nothing: 404)." : NULL));
	}
}

/* ------------------------------------------------------------------------- errors */

/* Statuses every operation can answer; more by the route's kind (operation()). 502 and 504
 * are nginx's when the application is unreachable or slow. */
static const int common_statuses[] = { 400, 401, 404, 409, 422, 429, 500, 502, 503, 504 };

/* Codes nginx answers itself (nginx/apf-local.conf.in, nginx/apf-site.conf), besides err.def's. */
static const struct {
	int status;
	const char *code;
} nginx_codes[] = {
	{ 502, "SERVICE_UNAVAILABLE" },
	{ 504, "GATEWAY_TIMEOUT" },
};

/* components/responses/Error<status>: the error envelope with the codes of that status
 * (err.def's and nginx's), made when an operation first refers to it. */
static void error_component(struct gen *g, int status, const char *name)
{
	json_t *codes = json_array();
	char desc[4096] = "";
	size_t used = 0;
	for (int k = 1; k < (int)E__COUNT + (int)(sizeof nginx_codes / sizeof nginx_codes[0]); k++) {
		int st;
		const char *code;
		if (k < (int)E__COUNT) {
			st = err_get((enum api_err)k)->status;
			code = err_get((enum api_err)k)->code;
		} else {
			st = nginx_codes[k - (int)E__COUNT].status;
			code = nginx_codes[k - (int)E__COUNT].code;
		}
		if (st != status)
			continue;
		json_array_append_new(codes, json_string(code));
		if (used < sizeof desc)
			used += (size_t)snprintf(desc + used, sizeof desc - used, "%s`%s`",
						 used ? ", " : "", code);
	}
	json_t *schema = json_pack("{s:[{s:s}, {s:{s:{s:o}}}]}", "allOf", "$ref",
				   "#/components/schemas/Error", "properties", "code", "enum", codes);
	json_object_set_new(g->responses, name, json_pack("{s:s, s:o, s:{s:{s:o}}}", "description",
		desc, "headers", header_refs(0, status == 429 || status == 503), "content",
		"application/json", "schema", schema));
}

/* A reference to Error<status>; with codes (the ones the tables tie to this operation: the
 * record's not-found code, its unique keys' codes) named in its description. */
static void error_response_for(struct gen *g, json_t *responses, int status, const char *codes)
{
	char key[8], name[32], target[80];
	snprintf(key, sizeof key, "%d", status);
	snprintf(name, sizeof name, "Error%d", status);
	snprintf(target, sizeof target, "#/components/responses/%s", name);
	if (!json_object_get(g->responses, name))
		error_component(g, status, name);
	json_t *r = json_pack("{s:s}", "$ref", target);
	if (codes && *codes) {
		char desc[512];
		snprintf(desc, sizeof desc, "%s (see the codes of Error%d).", codes, status);
		json_object_set_new(r, "description", json_string(desc));
	}
	json_object_set_new(responses, key, r);
}

static void error_response(struct gen *g, json_t *responses, int status)
{
	error_response_for(g, responses, status, NULL);
}

/* The codes the record of an operation ties to status, "`A`, `B`" into out. */
static const char *record_codes(const struct resource *res, int status, char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	if (!res)
		return out;
	if (status == 404 && res->not_found)
		n += (size_t)snprintf(out, size, "`%s`", err_code(res->not_found));
	for (const struct runique *u = res->uniques; status == 409 && u && u->key && n < size; u++)
		if (!strstr(out, err_code(u->code)))
			n += (size_t)snprintf(out + n, size - n, "%s`%s`", n ? ", " : "",
					      err_code(u->code));
	return out;
}

/* ---------------------------------------------------------------------- operations */

static json_t *body_schema(const struct opdoc *o, enum method m)
{
	if (o->body)
		return jtable_schema(*o->body, 0);
	if (o->body_shape) {
		json_t *s = obj_schema();
		notation_each(o->body_shape, NULL, NULL, member_into, s);
		return s;
	}
	if (!o->in)
		return typed("object", 0);
	unsigned op = m == M_PATCH ? RF_PATCH : RF_CREATE;
	json_t *s = obj_schema(), *never = json_array();
	for (const struct rfield *f = o->in->fields; f->name; f++) {
		if (f->in.flags & JF_REJECT)
			json_array_append_new(never, json_string(f->name));
		else if (f->flags & op)
			add_member(s, f->name, jfield_schema(&f->in),
				   op == RF_CREATE && (f->flags & RF_REQUIRED));
	}
	if (json_array_size(never)) {
		char text[1024] = "Never accepted (422 naming the field):";
		for (size_t i = 0; i < json_array_size(never); i++)
			snprintf(text + strlen(text), sizeof text - strlen(text), "%s %s",
				 i ? "," : "", json_string_value(json_array_get(never, i)));
		json_object_set_new(s, "description", json_string(text));
	}
	json_decref(never);
	return s;
}

static const char *const method_keys[M__COUNT] = { "get", "post", "put", "patch", "delete" };

static const char *scope_word(unsigned s)
{
	return s == S_READ ? "read" : s == S_WRITE ? "write" : s == S_CONTROL ? "control" : NULL;
}

static json_t *operation(struct gen *g, const struct route *rt, const char *path)
{
	struct opdoc generic;
	const struct opdoc *o = find_op(rt);
	json_t *data = NULL;
	int is_generic = !o && generic_op(rt, &generic, g, &data);
	if (is_generic)
		o = &generic;
	else if (!o && strcmp(rt->handler_name, "unbuilt") != 0)
		g->undescribed++;
	json_t *op = json_object(), *params = json_array(), *responses = json_object();
	char id[160], summary[200];
	snprintf(summary, sizeof summary, "%s /v1%s", method_name(rt->method), rt->path);
	/* operationId: get_printers_id_status */
	size_t n = (size_t)snprintf(id, sizeof id, "%s", method_keys[rt->method]);
	for (const char *c = rt->path; *c && n + 2 < sizeof id; c++) {
		int word = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
		if (word)
			id[n++] = *c;
		else if (id[n - 1] != '_')
			id[n++] = '_';
	}
	while (n > 0 && id[n - 1] == '_')
		n--;
	id[n] = '\0';
	char tag[64];
	snprintf(tag, sizeof tag, "%.*s", (int)strcspn(rt->path + 1, "/."), rt->path + 1);
	json_object_set_new(op, "operationId", json_string(id));
	json_object_set_new(op, "summary", json_string(summary));
	json_object_set_new(op, "tags", json_pack("[s]", tag));

	path_params(params, path);
	if (rt->res && strcmp(rt->handler_name, "res_list") == 0)
		list_params(params, rt->res);
	if (o && o->query)
		notation_each(o->query, NULL, NULL, notation_param, params);
	/* docs/idempotency.md: every POST and PATCH that needs a key accepts Idempotency-Key */
	int idem = !(rt->flags & R_PUBLIC) && (rt->method == M_POST || rt->method == M_PATCH);
	if (idem)
		json_array_append_new(params, json_pack(
			"{s:s, s:s, s:b, s:s, s:{s:s, s:i, s:i, s:s}}", "name", "Idempotency-Key",
			"in", "header", "required", 0, "description",
			"Makes a retry safe: the first answer is stored for 24 h per API key and"
			" replayed to a retry of the same request (docs/idempotency.md).",
			"schema", "type", "string", "minLength", 1, "maxLength", 255, "pattern",
			"^[ -~]+$"));
	if (json_array_size(params))
		json_object_set(op, "parameters", params);
	json_decref(params);

	const char *scope = scope_word(rt->scope);
	int public = (rt->flags & R_PUBLIC) != 0;
	char desc[512];
	snprintf(desc, sizeof desc, "%s Handler `%s`%s%s%s.",
		 public ? "Public: no API key." : scope ? "" : "Any valid API key.",
		 rt->handler_name, rt->res_name ? " on `" : "", rt->res_name ? rt->res_name : "",
		 rt->res_name ? "`" : "");
	if (scope) {
		char more[128];
		snprintf(more, sizeof more, " Needs an API key with the `%s` scope.", scope);
		strncat(desc, more, sizeof desc - strlen(desc) - 1);
	}
	if (strcmp(rt->handler_name, "unbuilt") == 0)
		strncat(desc, " Not built yet: answers 501.", sizeof desc - strlen(desc) - 1);
	json_object_set_new(op, "description", json_string(desc + (desc[0] == ' ')));
	json_object_set_new(op, "x-scope", scope ? json_string(scope) : json_null());
	if (rt->flags & R_EXT) /* beyond the specification */
		json_object_set_new(op, "x-apf-extension", json_true());
	json_object_set_new(op, "security", public ? json_array()
		: json_pack("[{s:[]}]", "apiKey"));

	if (rt->flags & (R_BODY | R_OPTBODY | R_RAW)) {
		json_t *content;
		if (rt->flags & R_RAW) {
			const char *type = o && o->body_type ? o->body_type : "application/octet-stream";
			json_t *s = strncmp(type, "multipart/", 10) == 0 ? typed("object", 0)
				: json_pack("{s:s, s:s}", "type", "string", "contentMediaType", type);
			content = json_pack("{s:{s:o}}", type, "schema", s);
		} else {
			content = json_pack("{s:{s:o}}", "application/json", "schema",
					    body_schema(o ? o : &generic, rt->method));
		}
		json_object_set_new(op, "requestBody", json_pack("{s:b, s:o}", "required",
			(rt->flags & R_OPTBODY) == 0, "content", content));
	}

	/* success */
	int status = o && o->status ? o->status : 200;
	char key[8];
	snprintf(key, sizeof key, "%d", status);
	json_t *ok;
	if (o && o->content) {
		json_t *s = strcmp(o->content, "application/json") == 0 ? typed("object", 0)
			: json_pack("{s:s, s:s}", "type", "string", "contentMediaType", o->content);
		ok = json_pack("{s:s, s:{s:{s:o}}}", "description", "The document or file itself.",
			       "content", o->content, "schema", s);
	} else {
		if (!data)
			data = o ? answer_schema(g, o) : json_object();
		int paged = is_generic && strcmp(rt->handler_name, "res_list") == 0 &&
			    rt->res->paging != RP_NONE;
		json_t *env = json_pack("{s:[{s:s}, {s:{s:o}, s:[s]}]}", "allOf", "$ref",
					"#/components/schemas/Success", "properties", "data", data,
					"required", "data");
		if (paged) {
			json_t *second = json_array_get(json_object_get(env, "allOf"), 1);
			json_object_set_new(json_object_get(second, "properties"), "meta",
					    ref("PageMeta"));
			if (rt->res->paging == RP_ALWAYS)
				json_array_append_new(json_object_get(second, "required"),
						      json_string("meta"));
		}
		json_t *headers = header_refs(!public, 0);
		if (idem)
			json_object_set_new(headers, "Idempotent-Replayed", json_pack(
				"{s:s, s:{s:s, s:[s]}}", "description",
				"`true` when this is the stored answer of an earlier request with the"
				" same Idempotency-Key.", "schema", "type", "string", "enum", "true"));
		ok = json_pack("{s:s, s:o, s:{s:{s:o}}}", "description",
			       status == 201 ? "Created." : "OK.", "headers", headers,
			       "content", "application/json", "schema", env);
		data = NULL;
	}
	json_decref(data);
	json_object_set_new(responses, key, ok);

	/* errors */
	const struct resource *res = rt->res ? rt->res : o ? (o->in ? o->in : o->res) : NULL;
	for (size_t i = 0; i < sizeof common_statuses / sizeof common_statuses[0]; i++) {
		char codes[256];
		int st = common_statuses[i];
		if (!public || st >= 500 || st == 429)
			error_response_for(g, responses, st,
					   record_codes(strchr(path, '{') || st == 409 ? res : NULL,
							st, codes, sizeof codes));
	}
	if (scope)
		error_response(g, responses, 403);
	if (rt->flags & (R_BODY | R_OPTBODY | R_RAW)) {
		error_response(g, responses, 408);
		error_response(g, responses, 413);
	}
	if (rt->flags & R_RAW)
		error_response(g, responses, 415);
	if (strcmp(rt->handler_name, "unbuilt") == 0)
		error_response(g, responses, 501);
	for (size_t i = 0; o && i < sizeof o->errors / sizeof o->errors[0] && o->errors[i]; i++)
		error_response(g, responses, o->errors[i]);
	json_object_set_new(op, "responses", responses);
	g->nops++;
	return op;
}

/* -------------------------------------------------------------------------- document */

/* The headers of answers (docs/api-conventions.md, "Transport", "Rate limits"). */
static const char headers_text[] =
	"{\"X-Request-Id\": {\"description\": \"The client's sane X-Request-Id, else one nginx"
	" made; in every log line of the request.\", \"schema\": {\"type\": \"string\"}},"
	" \"X-RateLimit-Limit\": {\"description\": \"Requests of the key per 60-second window.\","
	" \"schema\": {\"type\": \"integer\"}},"
	" \"X-RateLimit-Remaining\": {\"description\": \"Left in this window (never below 0).\","
	" \"schema\": {\"type\": \"integer\", \"minimum\": 0}},"
	" \"X-RateLimit-Reset\": {\"description\": \"Epoch seconds of the window's end.\","
	" \"schema\": {\"type\": \"integer\"}},"
	" \"Retry-After\": {\"description\": \"Seconds to wait before trying again.\","
	" \"schema\": {\"type\": \"integer\", \"minimum\": 1}}}";

/* {"Name": {"$ref": ...}, ...} of the named header components. */
static json_t *header_refs(int rate, int retry)
{
	static const char *const names[] = { "X-Request-Id", "X-RateLimit-Limit",
					     "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After" };
	json_t *h = json_object();
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if ((i >= 1 && i <= 3 && !rate) || (i == 4 && !retry))
			continue;
		char target[96];
		snprintf(target, sizeof target, "#/components/headers/%s", names[i]);
		json_object_set_new(h, names[i], json_pack("{s:s}", "$ref", target));
	}
	return h;
}

/* The envelope (docs/api-conventions.md, "Envelope"). */
static const char base_schemas_text[] =
	"{\"Success\": {\"type\": \"object\", \"required\": [\"success\", \"data\"],"
	" \"properties\": {\"success\": {\"const\": true}, \"data\": {},"
	" \"meta\": {\"$ref\": \"#/components/schemas/PageMeta\"}}},"
	" \"PageMeta\": {\"type\": \"object\", \"description\": \"A page of a list: count is"
	" the number of rows in this page.\", \"required\": [\"limit\", \"offset\", \"count\"],"
	" \"properties\": {\"limit\": {\"type\": \"integer\", \"minimum\": 1},"
	" \"offset\": {\"type\": \"integer\", \"minimum\": 0},"
	" \"count\": {\"type\": \"integer\", \"minimum\": 0}}},"
	" \"Error\": {\"type\": \"object\", \"required\": [\"success\", \"code\", \"error\"],"
	" \"description\": \"Some codes add members (shortages, fulfillment_errors).\","
	" \"properties\": {\"success\": {\"const\": false}, \"code\": {\"type\": \"string\"},"
	" \"error\": {\"type\": \"string\"}, \"details\": {\"type\": \"object\","
	" \"description\": \"422 VALIDATION_ERROR: the messages of each field.\","
	" \"additionalProperties\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}}}}}";

json_t *openapi_build(void)
{
	struct gen g = { 0 };
	g.doc = json_pack("{s:s, s:{s:s, s:s, s:s, s:{s:s, s:s}}, s:[{s:s, s:s}], s:{}}",
		"openapi", "3.1.0", "info", "title", "apf print-farm API", "version", "1",
		"description", "Generated from the server's route table and resource descriptions "
		"(docs/openapi.md). Envelope and conventions: docs/api-conventions.md.",
		"license", "name", "Proprietary", "identifier", "LicenseRef-apf",
		"servers", "url", "/v1", "description", "This server", "paths");
	json_t *components = json_object();
	g.schemas = json_loads(base_schemas_text, 0, NULL);
	json_object_set_new(components, "schemas", g.schemas);
	json_object_set_new(components, "securitySchemes", json_pack(
		"{s:{s:s, s:s, s:s, s:s}}", "apiKey", "type", "http", "scheme", "bearer",
		"bearerFormat", "apf_live_<64 hex>", "description",
		"API key (apf-admin key create); its scopes are read, write, control. The scope an "
		"operation needs is its x-scope."));
	g.responses = json_object();
	json_object_set_new(components, "responses", g.responses);
	json_object_set_new(components, "headers", json_loads(headers_text, 0, NULL));
	json_object_set_new(g.doc, "components", components);
	json_t *paths = json_object_get(g.doc, "paths");
	json_t *tags = json_array();
	for (unsigned i = 0; i < nroutes; i++) {
		const char *path = doc_path(i);
		char key[256];
		snprintf(key, sizeof key, "%s", path);
		json_t *item = json_object_get(paths, key);
		if (!item) {
			item = json_object();
			json_object_set_new(paths, key, item);
		}
		json_t *op = operation(&g, &routes[i], path);
		json_t *tag = json_array_get(json_object_get(op, "tags"), 0);
		int known = 0;
		for (size_t k = 0; k < json_array_size(tags); k++)
			known |= json_equal(json_object_get(json_array_get(tags, k), "name"), tag);
		if (!known)
			json_array_append_new(tags, json_pack("{s:O, s:s}", "name", tag, "description",
				"Routes below this path segment."));
		json_object_set_new(item, method_keys[routes[i].method], op);
	}
	json_object_set_new(g.doc, "tags", tags);
	json_object_set_new(g.doc, "x-counts", json_pack("{s:i, s:i, s:i, s:i}", "operations",
		(int)g.nops, "schemas", (int)json_object_size(g.schemas), "undescribed",
		(int)g.undescribed, "unnamed", (int)g.unnamed));
	return g.doc;
}

/* GET /v1/openapi.json: the document, built on the first request of this process. */
enum api_err openapi_json(struct req *r)
{
	static char *text;
	static size_t len;
	if (!text) {
		json_t *doc = openapi_build();
		text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
		json_decref(doc);
		if (!text)
			return E_INTERNAL_ERROR;
		len = strlen(text);
	}
	if (!(r->raw = malloc(len)))
		return E_INTERNAL_ERROR;
	memcpy(r->raw, text, len);
	r->raw_len = len;
	snprintf(r->raw_type, sizeof r->raw_type, "application/json; charset=utf-8");
	req_header(r, "Cache-Control: public, max-age=300");
	return E_OK;
}
