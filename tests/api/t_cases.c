/* t_cases.c - error rows (and a few success rows) of the built endpoints, as data (cases.h):
 * authentication, scopes, tenancy, validation of queries and bodies, NO_UPDATES, unknown ids. */
#include "apitest.h"
#include "cases.h"

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

/* The account's hub and printer, another account's printer. */
static int farm(struct case_ctx *c)
{
	char hub[FX_ID], printer[FX_ID], other_hub[FX_ID], other_printer[FX_ID];
	if (case_init(c) < 0 || fx_hub(c->t.account, "Cases hub", hub) < 0 ||
	    fx_printer(c->t.account, hub, "Cases printer", "X1 Carbon", printer) < 0 ||
	    fx_hub(c->other.account, "Other hub", other_hub) < 0 ||
	    fx_printer(c->other.account, other_hub, "Other printer", "X1 Carbon",
		       other_printer) < 0)
		return -1;
	case_var(c, "hub", hub);
	case_var(c, "printer", printer);
	case_var(c, "other_printer", other_printer);
	case_var(c, "none", NO_SUCH_ID);
	return 0;
}

static const struct case_row hub_rows[] = {
	{ "GET", "/hubs", NULL, NULL, 401, "UNAUTHORIZED", { NULL } },
	{ "GET", "/hubs", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	{ "GET", "/hubs", "read", NULL, 200, NULL, { "data[0].id={hub}", "!data[0].is_stale" } },
	{ "GET", "/hubs/{hub}", "read", NULL, 200, NULL,
	  { "data.printers[0].id={printer}", "data.printers[0].status=offline", "data.is_stale=true",
	    "!data.printers[0].location" } },
	{ "GET", "/hubs/{hub}/connection", "read", NULL, 200, NULL,
	  { "data.id={hub}", "data.is_online=false", "!data.printer_count" } },
	{ "GET", "/hubs/{hub}/discovered-printers", "read", NULL, 200, NULL,
	  { "data.hub_id={hub}", "data.discovered_at=null", "data.printers=[]" } },
	{ "GET", "/hubs/{none}", "read", NULL, 404, "HUB_NOT_FOUND", { NULL } },
	{ "GET", "/hubs/{hub}", CASE_OTHER, NULL, 404, "HUB_NOT_FOUND", { NULL } },
	{ "GET", "/hubs/not-a-uuid/connection", "read", NULL, 404, "HUB_NOT_FOUND", { NULL } },
};

static const struct case_row printer_rows[] = {
	{ "GET", "/printers/{printer}", "read", NULL, 200, NULL,
	  { "data.name=Cases printer", "data.notes=null", "!data.ip_address", "!data.hub_id" } },
	{ "GET", "/printers/{other_printer}", "read", NULL, 404, "PRINTER_NOT_FOUND", { NULL } },
	{ "GET", "/printers/{none}/status", "read", NULL, 404, "PRINTER_NOT_FOUND", { NULL } },
	{ "GET", "/printers/stats", "read", NULL, 200, NULL,
	  { "data.total=1", "data.active=1", "data.by_status.offline=1", "data.by_status.idle=0" } },
	{ "GET", "/printers?status=bogus", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.status" } },
	{ "GET", "/printers?is_active=yes&search=", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.is_active", "details.search" } },
	{ "GET", "/printers?search=Cases&is_active=true", "read", NULL, 200, NULL,
	  { "data[0].id={printer}" } },
	{ "PATCH", "/printers/{printer}", "read", "{\"name\": \"x\"}", 403, "INSUFFICIENT_SCOPE",
	  { NULL } },
	{ "PATCH", "/printers/{printer}", "write", "{}", 400, "NO_UPDATES", { NULL } },
	{ "PATCH", "/printers/{printer}", "write", "{\"name\": \"\", \"notes\": 5}", 422,
	  "VALIDATION_ERROR", { "details.name", "details.notes", "!details.location" } },
	{ "PATCH", "/printers/{printer}", "write", "{\"serial_number\": \"S1\"}", 422,
	  "VALIDATION_ERROR", { "details.serial_number" } },
	{ "PATCH", "/printers/{other_printer}", "write", "{\"notes\": \"mine\"}", 404,
	  "PRINTER_NOT_FOUND", { NULL } },
	{ "PATCH", "/printers/{printer}", "write", "{\"location\": null, \"notes\": \"n\"}", 200,
	  NULL, { "data.location=null", "data.notes=n", "data.id={printer}" } },
};

static const struct case_row job_rows[] = {
	{ "GET", "/jobs?limit=0", "read", NULL, 422, "VALIDATION_ERROR", { "details.limit" } },
	{ "GET", "/jobs?status=done", "read", NULL, 422, "VALIDATION_ERROR", { "details.status" } },
	{ "GET", "/jobs?printer_id={printer}", "read", NULL, 200, NULL,
	  { "data=[]", "meta.limit=50", "meta.count=0" } },
	{ "GET", "/jobs/history?from=2026-02-01&to=2026-01-31", "read", NULL, 422,
	  "VALIDATION_ERROR", { "details.from", "!details.to" } },
	{ "GET", "/jobs/history?status=queued", "read", NULL, 422, "VALIDATION_ERROR",
	  { "details.status" } },
	{ "GET", "/jobs/stats", "read", NULL, 200, NULL,
	  { "data.total=0", "data.by_status.cancelled=0", "data.completed_today=0" } },
	{ "GET", "/jobs/{none}", "read", NULL, 404, "JOB_NOT_FOUND", { NULL } },
	{ "POST", "/jobs", "write", "{}", 422, "VALIDATION_ERROR", { "details.print_file_id" } },
	{ "POST", "/jobs", "write", "{\"print_file_id\": \"{none}\", \"priority\": 1}", 422,
	  "VALIDATION_ERROR", { "details.priority", "!details.print_file_id" } },
	{ "POST", "/jobs", "write", "{\"print_file_id\": \"{none}\"}", 404, "FILE_NOT_FOUND",
	  { NULL } },
	{ "PATCH", "/jobs/{none}", "write", "{\"color\": \"red\"}", 404, "JOB_NOT_FOUND", { NULL } },
	{ "PATCH", "/jobs/{none}", "write", "{\"status\": \"queued\"}", 400, "NO_UPDATES",
	  { NULL } },
	{ "POST", "/jobs/{none}/pause", "control", NULL, 404, "JOB_NOT_FOUND", { NULL } },
	{ "POST", "/jobs/{none}/pause", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
};

static const struct case_row file_rows[] = {
	{ "GET", "/files?limit=101", "read", NULL, 422, "VALIDATION_ERROR", { "details.limit" } },
	{ "GET", "/files", "read", NULL, 200, NULL, { "data=[]", "meta.offset=0" } },
	{ "GET", "/files/{none}", "read", NULL, 404, "FILE_NOT_FOUND", { NULL } },
	{ "GET", "/files/{none}/versions", "read", NULL, 404, "FILE_NOT_FOUND", { NULL } },
	{ "POST", "/files", "write", "{\"name\": 7}", 422, "VALIDATION_ERROR",
	  { "details.name", "details.storage_key" } },
	{ "POST", "/files/{none}/versions", "write", "{}", 422, "VALIDATION_ERROR",
	  { "details.storage_key" } },
};

static void test_hub_rows(void)
{
	struct case_ctx c;
	FX(farm(&c));
	CASE_RUN(&c, hub_rows);
}

static void test_printer_rows(void)
{
	struct case_ctx c;
	FX(farm(&c));
	CASE_RUN(&c, printer_rows);
}

static void test_job_rows(void)
{
	struct case_ctx c;
	FX(farm(&c));
	CASE_RUN(&c, job_rows);
}

static void test_file_rows(void)
{
	struct case_ctx c;
	FX(farm(&c));
	CASE_RUN(&c, file_rows);
}

int suite_cases(void)
{
	CU_pSuite s = CU_add_suite("cases", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_hub_rows);
	ADD_TEST(s, test_printer_rows);
	ADD_TEST(s, test_job_rows);
	ADD_TEST(s, test_file_rows);
	return 0;
}
