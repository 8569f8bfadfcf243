/* colors.c - Colour presets: list (filament_type, is_active), distinct filament types of the
 * active presets, create, update. The fields are fcgi/colors.def; docs/catalog.md. */
#include "resources.h"

#include <ctype.h>
#include <string.h>

static const struct rfield color_fields[] = {
#define FIELD RES_FIELD
#include "colors.def"
#undef FIELD
	RES_FIELD_END
};

static const struct rfilter color_filters[] = {
	RES_FILTER("filament_type", STR(1, 50), "c.filament_type = ?", EXACT),
	RES_FILTER("is_active", BOOL, "c.is_active = ?", EXACT),
	RES_FILTER_END
};

static const struct runique color_uniques[] = {
	{ "uq_color_presets_name_type", E_DUPLICATE_COLOR, "color_name" },
	{ NULL, E_OK, NULL }
};

/* Not paginated (a small reference set); colour name order. */
/* GET /colors/filament-types: of the active presets. */
static const struct rdistinct color_filament_types = { "c.filament_type", "c.is_active = 1" };

const struct resource color_res = {
	.noun = "color preset", .table = "color_presets", .from = "color_presets c", .alias = "c",
	.not_found = E_COLOR_NOT_FOUND, .fields = color_fields, .filters = color_filters,
	.order = "c.color_name, c.id", .paging = RP_NONE, .uniques = color_uniques,
	.distinct = &color_filament_types,
};


/* A present hex_code must be #RRGGBB; it is replaced in the body by its upper-case form, which
 * is what the generic write stores. 1 when it was refused. */
static int hex_code(struct req *r)
{
	const char *s = jhelp_str(r->body, "hex_code");
	char up[8];
	if (!s || strlen(s) > 16) /* absent, or its length already refused */
		return 0;
	if (strlen(s) != 7 || s[0] != '#')
		goto bad;
	up[0] = '#';
	for (int i = 1; i < 7; i++) {
		if (!isxdigit((unsigned char)s[i]))
			goto bad;
		up[i] = (char)toupper((unsigned char)s[i]);
	}
	up[7] = '\0';
	json_object_set_new(r->body, "hex_code", json_string(up));
	return 0;
bad:
	req_problem(r, "hex_code", "hex_code must be # followed by 6 hexadecimal digits (#RRGGBB)");
	return 1;
}

enum api_err colors_create(struct req *r)
{
	struct sqlb b;
	char id[UUID_LEN + 1];
	if (res_check_body(r, &color_res, RF_CREATE) | hex_code(r))
		return E_VALIDATION_ERROR;
	enum api_err err = res_insert_begin(&b, r, &color_res, id);
	if (err) {
		sqlb_release(&b);
		return err;
	}
	return res_insert_end(r, &color_res, &b, id);
}

enum api_err colors_update(struct req *r)
{
	struct sqlb b;
	enum api_err err;
	if (res_check_body(r, &color_res, RF_PATCH) | hex_code(r))
		return E_VALIDATION_ERROR;
	if ((err = res_need_updates(r, &color_res)) != E_OK)
		return err;
	res_update_begin(&b, r, &color_res);
	return res_update_end(r, &color_res, &b);
}
