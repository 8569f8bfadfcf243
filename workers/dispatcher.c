/* dispatcher.c - DISPATCH/dispatch.run (dispatcher.h, docs/dispatch.md). */
#include "dispatcher.h"

#include "autodisp.h"
#include "cfg.h"
#include "jobstart.h"
#include "log.h"
#include "queue.h"
#include "worker.h"

#include <stdio.h>
#include <string.h>

static const struct db_query Q_DS_ACCOUNTS = {
	"SELECT account_id FROM dispatch_settings WHERE enabled = 1 ORDER BY account_id"
};
/* The token is in a start's params only while the command travels (the API removes it after
 * its wait; a dispatched start is not awaited, so the next run does). */
static const struct db_query Q_DS_SCRUB = {
	"UPDATE hub_commands SET params = JSON_REMOVE(params, '$.file.token')"
	" WHERE account_id = ? AND action = 'print.start' AND issued_at > NOW(3) - INTERVAL 1 DAY"
	" AND status NOT IN ('pending', 'sent') AND JSON_EXISTS(params, '$.file.token')"
};
/* The periodic runs leave one done row each: kept 10 minutes, not queue_keep_days. */
static const struct db_query Q_DS_PURGE = {
	"DELETE FROM queue_jobs WHERE queue = '" QUEUE_DISPATCH "' AND state = 'done'"
	" AND finished_at < NOW(3) - INTERVAL 10 MINUTE LIMIT 1000"
};

struct start_try {
	struct jobstart s;
	int off;          /* dispatch was switched off meanwhile */
	int staggered;    /* the hub's counts, read under the lock, say wait */
};

/* One start, in its transaction: the account's settings row first (serialises the account's
 * dispatchers), the shared start (job, printer), the hub's staggering afresh, the command. */
static enum api_err start_txn(struct db *db, void *ctx)
{
	struct start_try *t = ctx;
	struct ad_settings set;
	struct ad_hub h;
	t->off = t->staggered = 0;
	enum api_err err = ad_settings_get(db, t->s.account_id, 1, &set);
	if (err)
		return err;
	if (!set.enabled) {
		t->off = 1;
		return E_CONFLICT;
	}
	if ((err = jobstart_stage(&t->s)) != E_OK)
		return err;
	memset(&h, 0, sizeof h);
	snprintf(h.id, sizeof h.id, "%s", t->s.hub_id);
	if ((err = ad_hub_read(db, t->s.account_id, set.min_gap_s, &h)) != E_OK)
		return err;
	h.in_flight--; /* this start's job is already `processing` in this transaction */
	if (!ad_hub_open(&set, &h)) {
		t->staggered = 1;
		return E_CONFLICT;
	}
	if ((err = hubcmd_insert(db, &t->s.cmd)) != E_OK)
		return err;
	return jobstart_token(&t->s);
}

enum api_err dispatcher_account(struct db *db, const char *account_id, int *started)
{
	struct ad_plan p;
	*started = 0;
	enum api_err err = ad_load(db, account_id, &p);
	if (err)
		return err;
	for (size_t i = 0; i < p.njobs && p.set.enabled; i++) {
		enum ad_reason why;
		int k = ad_pick(&p, i, &why);
		if (k < 0)
			continue;
		struct start_try t = { .s = { .db = db, .account_id = account_id,
					      .job_id = p.jobs[i].id,
					      .assign_printer = p.printers[k].id } };
		err = db_txn(db, start_txn, &t);
		jobstart_done(&t.s);
		if (t.off)
			break;
		if (err == E_OK) {
			ad_took(&p, k);
			(*started)++;
			queue_wake();
			log_info("dispatch: job %s started on printer %s (command %s)", p.jobs[i].id,
				 p.printers[k].id, t.s.cmd.command_id);
			continue;
		}
		if (err == E_SERVICE_UNAVAILABLE || err == E_INTERNAL_ERROR)
			break;
		/* the printer or its hub is not what the plan read: leave it for this pass; a job
		 * that cannot start (changed, file gone) is skipped */
		log_info("dispatch: job %s not started on printer %s: %s%s%s", p.jobs[i].id,
			 p.printers[k].id, t.staggered ? "staggering" : err_code(err),
			 t.s.message[0] ? " - " : "", t.s.message);
		if (t.staggered && p.printers[k].hub >= 0) /* the hub is closed for this pass */
			p.hubs[p.printers[k].hub].in_flight = p.set.max_in_flight;
		else if (err != E_JOB_STATE_CHANGED && err != E_FILE_NOT_FOUND &&
			 err != E_JOB_NOT_FOUND)
			p.printers[k].taken = 1;
		err = E_OK;
	}
	ad_free(&p);
	if (!err)
		err = db_exec(db, &Q_DS_SCRUB, DB_ARGS(DS(account_id)), NULL);
	return err;
}

enum api_err dispatch_run(struct job_ctx *ctx)
{
	const char *one = ctx->item->account_id;
	struct db_res res;
	int total = 0, n;
	enum api_err err = E_OK;
	if (one[0]) {
		err = dispatcher_account(ctx->db, one, &total);
	} else {
		err = db_exec(ctx->db, &Q_DS_ACCOUNTS, NULL, 0, &res);
		if (err)
			return job_fail(ctx, err, "reading the accounts failed: %s", err_code(err));
		for (unsigned long i = 0; i < res.nrows && !err; i++) {
			err = dispatcher_account(ctx->db, db_get(&res, i, 0), &n);
			total += n;
		}
		db_res_free(&res);
		if (!err)
			err = db_exec(ctx->db, &Q_DS_PURGE, NULL, 0, NULL);
	}
	if (err)
		return job_fail(ctx, err, "dispatch failed: %s", err_code(err));
	if (total)
		log_info("dispatch.run: %d job(s) started", total);
	return E_OK;
}

enum api_err dispatcher_push_tick(struct db *db, time_t now)
{
	static long long pushed = -1; /* this process's last period: one push per period */
	long period = cfg_int("dispatch_interval_seconds", 5);
	char key[64];
	if (period < 1)
		period = 5;
	if ((long long)(now / period) == pushed)
		return E_OK;
	snprintf(key, sizeof key, "dispatch:%lld", (long long)(now / period));
	json_t *payload = json_object();
	if (!payload)
		return E_INTERNAL_ERROR;
	enum api_err err = queue_push(db, QUEUE_DISPATCH, "dispatch.run", NULL, payload, key, 3,
				      NULL);
	json_decref(payload);
	if (!err)
		pushed = (long long)(now / period);
	return err;
}
