/* test_errors.c - the error table (common/err.def) and its accessors. */
#include "tunit.h"

#include "err.h"

#include <ctype.h>
#include <string.h>

/* Row by public code string, or NULL. */
static const struct err_info *by_code(const char *code, enum api_err *e_out)
{
	for (int e = 1; e < E__COUNT; e++) {
		const struct err_info *i = err_get((enum api_err)e);
		if (i && strcmp(i->code, code) == 0) {
			if (e_out)
				*e_out = (enum api_err)e;
			return i;
		}
	}
	return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void test_err_rows(void)
{
	TU_CHECK(E__COUNT > 60, "only %d error codes", (int)E__COUNT);
	for (int e = 1; e < E__COUNT; e++) {
		const struct err_info *i = err_get((enum api_err)e);
		TU_CHECK(i != NULL, "err_get(%d) is NULL", e);
		if (!i)
			continue;
		TU_CHECK(i->code && *i->code, "row %d: empty code", e);
		int upper = 1;
		for (const char *c = i->code; *c; c++)
			upper = upper && (isupper((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_');
		TU_CHECK(upper && i->code[0] != '_', "row %d: code %s is not SCREAMING_SNAKE", e, i->code);
		TU_CHECK(i->status >= 400 && i->status <= 599, "%s: status %d", i->code, i->status);
		TU_CHECK(i->message && *i->message, "%s: empty message", i->code);
		TU_CHECK(i->kind == PUBLIC || i->kind == INTERNAL, "%s: kind %d", i->code, (int)i->kind);
		if (i->kind == INTERNAL)
			TU_CHECK(i->status >= 500, "%s: INTERNAL kind with status %d", i->code, i->status);
		/* a plain 500 never shows its detail to clients */
		if (i->status == 500)
			TU_CHECK(i->kind == INTERNAL, "%s: status 500 but PUBLIC", i->code);
		TU_STR(err_code((enum api_err)e), i->code);
		TU_INT(err_status((enum api_err)e), i->status);
	}
}

static void test_err_codes_unique(void)
{
	int dups = 0;
	for (int a = 1; a < E__COUNT; a++)
		for (int b = a + 1; b < E__COUNT; b++)
			if (strcmp(err_code((enum api_err)a), err_code((enum api_err)b)) == 0) {
				dups++;
				TU_CHECK(0, "code %s at rows %d and %d", err_code((enum api_err)a), a, b);
			}
	TU_INT(dups, 0);
	for (int a = 1; a < E__COUNT; a++)
		TU_CHECK(strcmp(err_code((enum api_err)a), "OK") != 0, "row %d is named OK", a);
}

static void test_err_ok_and_out_of_range(void)
{
	TU_INT(E_OK, 0);
	TU_STR(err_code(E_OK), "OK");
	TU_CHECK(err_get(E__COUNT) == NULL, "err_get(E__COUNT) not NULL");
	TU_CHECK(err_get((enum api_err)-1) == NULL, "err_get(-1) not NULL");
	TU_CHECK(err_get((enum api_err)100000) == NULL, "err_get(100000) not NULL");
	TU_STR(err_code(E__COUNT), "INTERNAL_ERROR");
	TU_STR(err_code((enum api_err)-5), "INTERNAL_ERROR");
	TU_INT(err_status(E__COUNT), 500);
	TU_INT(err_status((enum api_err)-5), 500);
}

/* The enum constants line up with the rows (E_X has code "X"). */
static void test_err_enum_alignment(void)
{
	TU_STR(err_code(E_INVALID_REQUEST), "INVALID_REQUEST");
	TU_STR(err_code(E_PRINTER_NOT_FOUND), "PRINTER_NOT_FOUND");
	TU_STR(err_code(E_VALIDATION_ERROR), "VALIDATION_ERROR");
	TU_STR(err_code(E_RATE_LIMITED), "RATE_LIMITED");
	TU_STR(err_code(E_INTERNAL_ERROR), "INTERNAL_ERROR");
	TU_STR(err_code(E_HUB_TIMEOUT), "HUB_TIMEOUT");
	TU_STR(err_code(E_METHOD_NOT_ALLOWED), "METHOD_NOT_ALLOWED");
	TU_STR(err_code(E_NOT_IMPLEMENTED), "NOT_IMPLEMENTED");
	TU_STR(err_code(E_SERVICE_UNAVAILABLE), "SERVICE_UNAVAILABLE");
	TU_STR(err_code(E_CONFLICT), "CONFLICT");
	TU_INT(E_INVALID_REQUEST, 1);
}

static void expect_status(const char *code, int status)
{
	const struct err_info *i = by_code(code, NULL);
	TU_CHECK(i != NULL, "code %s missing from the table", code);
	if (i)
		TU_CHECK(i->status == status, "%s: status %d, want %d", code, i->status, status);
}

static void test_err_fixed_statuses(void)
{
	/* docs/api-conventions.md */
	expect_status("VALIDATION_ERROR", 422);
	expect_status("INVALID_REQUEST", 400);
	expect_status("RATE_LIMITED", 429);
	expect_status("HUB_OFFLINE", 503);
	expect_status("HUB_COMMAND_FAILED", 503);
	expect_status("HUB_TIMEOUT", 504);
	expect_status("JOB_STATE_CHANGED", 409);
	expect_status("PRINTER_PRINTING", 400);
	expect_status("INVALID_STATE", 400);
	expect_status("INVALID_TRANSITION", 400);
	expect_status("FILE_TOO_LARGE", 413);
	expect_status("PAYLOAD_TOO_LARGE", 413);
	expect_status("METHOD_NOT_ALLOWED", 405);
	expect_status("INSUFFICIENT_SCOPE", 403);
	expect_status("NOT_FOUND", 404);
	expect_status("INTERNAL_ERROR", 500);
	expect_status("NOT_IMPLEMENTED", 501);
	expect_status("SERVICE_UNAVAILABLE", 503);
	/* docs/errors.md */
	expect_status("UNAUTHORIZED", 401);
	expect_status("TOKEN_INVALID", 401);
	expect_status("TOKEN_REVOKED", 401);
	expect_status("TOKEN_EXPIRED", 401);
	expect_status("NO_PRINTER_ASSIGNED", 400);
	expect_status("NO_HUB_ASSIGNED", 400);
	expect_status("PRINTER_UNAVAILABLE", 400);
	expect_status("PRINTER_MODEL_MISMATCH", 400);
	expect_status("JOB_TERMINAL", 400);
	expect_status("NO_UPDATES", 400);
	expect_status("INVALID_STATUS", 400);
	expect_status("INSUFFICIENT_QUANTITY", 400);
	expect_status("INVALID_PRODUCT_SKU", 400);
	expect_status("INSUFFICIENT_FOR_KIT", 400);
	expect_status("INVALID_ORDER", 400);
	expect_status("ALREADY_PUBLISHED", 400);
	expect_status("ALREADY_UNPUBLISHED", 400);
	expect_status("NO_THUMBNAIL", 404);
	expect_status("UNKNOWN_INVENTORY_ITEM", 404);
	expect_status("PART_IN_EXTERNAL_BOM", 409);
	expect_status("SKU_IN_USE_BY_ORDER", 409);
	expect_status("IMAGE_CAP_REACHED", 409);
	expect_status("CONFLICT", 409);
	/* docs/files.md */
	expect_status("UPLOAD_ALREADY_USED", 409);
	expect_status("STORAGE_QUOTA_EXCEEDED", 409);
}

static void test_err_families(void)
{
	int notfound = 0;
	for (int e = 1; e < E__COUNT; e++) {
		const struct err_info *i = err_get((enum api_err)e);
		if (!i)
			continue;
		if (ends_with(i->code, "_NOT_FOUND")) {
			notfound++;
			TU_CHECK(i->status == 404, "%s: status %d, want 404", i->code, i->status);
		}
		if (strncmp(i->code, "DUPLICATE_", 10) == 0)
			TU_CHECK(i->status == 409, "%s: status %d, want 409", i->code, i->status);
		if (strncmp(i->code, "TOKEN_", 6) == 0)
			TU_CHECK(i->status == 401, "%s: status %d, want 401", i->code, i->status);
		if (strncmp(i->code, "HUB_", 4) == 0 && !ends_with(i->code, "_NOT_FOUND"))
			TU_CHECK(i->status >= 503 && i->kind == PUBLIC, "%s: status %d kind %d", i->code,
				 i->status, (int)i->kind);
	}
	TU_CHECK(notfound >= 15, "only %d *_NOT_FOUND codes", notfound);
	/* the entity codes of docs/api-conventions.md ("Ids and values") exist */
	static const char *const entities[] = {
		"PRINTER_NOT_FOUND", "JOB_NOT_FOUND", "HUB_NOT_FOUND", "FILE_NOT_FOUND",
		"SKU_NOT_FOUND", "PRODUCT_NOT_FOUND", "ORDER_NOT_FOUND", "TASK_NOT_FOUND",
		"ARTICLE_NOT_FOUND", "PRINT_FILE_NOT_FOUND", NULL
	};
	for (int k = 0; entities[k]; k++)
		expect_status(entities[k], 404);
}

static void test_err_only_internal_is_internal_error(void)
{
	enum api_err e = E_OK;
	const struct err_info *i = by_code("INTERNAL_ERROR", &e);
	TU_CHECK(i && i->kind == INTERNAL, "INTERNAL_ERROR is not INTERNAL");
	TU_INT(e, E_INTERNAL_ERROR);
	/* 5xx that clients must understand keep their message */
	TU_INT(err_get(E_SERVICE_UNAVAILABLE)->kind, PUBLIC);
	TU_INT(err_get(E_NOT_IMPLEMENTED)->kind, PUBLIC);
	TU_INT(err_get(E_HUB_TIMEOUT)->kind, PUBLIC);
}

int init_errors_suite(void)
{
	CU_pSuite s = CU_add_suite("errors", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_err_rows);
	TU_ADD(s, test_err_codes_unique);
	TU_ADD(s, test_err_ok_and_out_of_range);
	TU_ADD(s, test_err_enum_alignment);
	TU_ADD(s, test_err_fixed_statuses);
	TU_ADD(s, test_err_families);
	TU_ADD(s, test_err_only_internal_is_internal_error);
	return 0;
}
