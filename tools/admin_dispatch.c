/* admin_dispatch.c - apf-admin: auto-dispatch settings and a pass on demand (docs/dispatch.md,
 * see admin.h). */
#include "admin.h"

#include "autodisp.h"
#include "dispatcher.h"

#include <stdlib.h>
#include <string.h>

static const struct db_query Q_AD_OPTED = {
	"SELECT d.printer_id FROM dispatch_printers d WHERE d.account_id = ? ORDER BY d.printer_id"
};
static const struct db_query Q_AD_ACCOUNT = { "SELECT id FROM accounts WHERE id = ?" };
static const struct db_query Q_AD_ENABLED = {
	"SELECT account_id FROM dispatch_settings WHERE enabled = 1 ORDER BY account_id"
};

int cmd_dispatch_show(struct ctx *c)
{
	struct ad_settings s;
	struct db_res res;
	const char *account = c->opt[O_ACCOUNT];
	enum api_err e = db_exec(c->db, &Q_AD_ACCOUNT, DB_ARGS(DS(account)), &res);
	if (e)
		return db_failed(c, e);
	unsigned long found = res.nrows;
	db_res_free(&res);
	if (!found)
		return fail("account %s not found", account);
	if ((e = ad_settings_get(c->db, account, 0, &s)) != E_OK ||
	    (e = db_exec(c->db, &Q_AD_OPTED, DB_ARGS(DS(account)), &res)) != E_OK)
		return db_failed(c, e);
	json_t *printers = json_array();
	for (unsigned long i = 0; i < res.nrows; i++)
		json_array_append_new(printers, json_string(db_get(&res, i, 0)));
	db_res_free(&res);
	c->out = json_pack("{s:s, s:b, s:I, s:I, s:o}", "account_id", account, "enabled", s.enabled,
			   "max_starts_in_flight_per_hub", (json_int_t)s.max_in_flight,
			   "min_seconds_between_starts", (json_int_t)s.min_gap_s, "printers",
			   printers);
	return 0;
}

static struct db_arg int_opt(const char *v)
{
	return v ? DI(strtoll(v, NULL, 10)) : DNULL;
}

int cmd_dispatch_set(struct ctx *c)
{
	const char *en = c->opt[O_ENABLED];
	struct db_arg on = en ? DI(strcmp(en, "on") == 0) : DNULL;
	struct db_arg max = int_opt(c->opt[O_MAX_IN_FLIGHT]), gap = int_opt(c->opt[O_MIN_GAP]);
	struct db_res res;
	enum api_err e = db_exec(c->db, &Q_AD_ACCOUNT, DB_ARGS(DS(c->opt[O_ACCOUNT])), &res);
	if (e)
		return db_failed(c, e);
	unsigned long found = res.nrows;
	db_res_free(&res);
	if (!found)
		return fail("account %s not found", c->opt[O_ACCOUNT]);
	if ((e = ad_settings_set(c->db, c->opt[O_ACCOUNT], on, max, gap)) != E_OK)
		return db_failed(c, e);
	return cmd_dispatch_show(c);
}

int cmd_dispatch_run(struct ctx *c)
{
	int started = 0, n;
	enum api_err e = E_OK;
	if (c->opt[O_ACCOUNT]) {
		e = dispatcher_account(c->db, c->opt[O_ACCOUNT], &started);
	} else {
		struct db_res res;
		if ((e = db_exec(c->db, &Q_AD_ENABLED, NULL, 0, &res)) != E_OK)
			return db_failed(c, e);
		for (unsigned long i = 0; i < res.nrows && !e; i++) {
			e = dispatcher_account(c->db, db_get(&res, i, 0), &n);
			started += n;
		}
		db_res_free(&res);
	}
	if (e)
		return db_failed(c, e);
	c->out = json_pack("{s:i}", "started", started);
	return 0;
}
