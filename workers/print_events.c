/* print_events.c - jobs of queue PRINT_EVENTS.
 *
 *   job_completed  {job_id, ...} (common/stock.c pushes it, dedup "job_completed:<job_id>", in
 *                  the transaction that completed the job; stock has already moved): refreshes
 *                  the account's daily_analytics row for the UTC day of the job's
 *                  time_completed. The day's figures are recomputed from print_jobs, never
 *                  counted up, so a re-delivery (at-least-once) writes the same row:
 *                    jobs_completed            completed jobs of the day
 *                    jobs_failed               failed jobs of the day
 *                    units_produced            SUM(number_of_units) of the completed ones
 *                    total_print_time_minutes  SUM(IFNULL(actual_print_time_minutes, 0)) of the
 *                                              completed and failed ones
 *                    average_job_time_minutes  ROUND(AVG(actual_print_time_minutes)) of the
 *                                              completed ones that have it, 0 when none
 *                  (the definitions of GET /analytics/production, files-worklist-analytics.md:
 *                  a job's day is DATE(COALESCE(time_completed, updated_at)); every transition
 *                  into completed or failed stamps time_completed (common/states.c), so the
 *                  day's jobs are found on (account_id, time_completed)). Other columns keep
 *                  their values. A job that is gone, or has no time_completed, writes nothing.
 *
 * daily_analytics is a rollup nothing must depend on (the analytics endpoints compute from the
 * base tables): a row is as of the day's last completion (a failure or retry afterwards does
 * not refresh it). */
#include "worker.h"

#include "log.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static const struct db_query Q_PE_JOB_DAY = {
	"SELECT DATE_FORMAT(time_completed, '%Y-%m-%d') FROM print_jobs"
	" WHERE account_id = ? AND id = ?"
};
/* One statement: the aggregate row always exists (zeros for an empty day), and the locking read
 * of INSERT ... SELECT orders two workers refreshing the same day behind the completions they
 * read, so the last write holds the newest figures. The forced index keeps that read (and its
 * shared locks) to the day's range of (account_id, time_completed), away from the account's
 * running jobs. */
static const struct db_query Q_PE_DAY_UPSERT = {
	"INSERT INTO daily_analytics (id, account_id, date, jobs_completed, jobs_failed,"
	" units_produced, total_print_time_minutes, average_job_time_minutes)"
	" SELECT ?, ?, CAST(? AS DATE), COUNT(CASE WHEN j.status = 'completed' THEN 1 END),"
	" COUNT(CASE WHEN j.status = 'failed' THEN 1 END),"
	" IFNULL(SUM(CASE WHEN j.status = 'completed' THEN j.number_of_units END), 0),"
	" IFNULL(SUM(IFNULL(j.actual_print_time_minutes, 0)), 0),"
	" IFNULL(ROUND(AVG(CASE WHEN j.status = 'completed' THEN j.actual_print_time_minutes END)),"
	" 0)"
	" FROM print_jobs j FORCE INDEX (ix_jobs_account_completed)"
	" WHERE j.account_id = ? AND j.time_completed >= CAST(? AS DATE)"
	" AND j.time_completed < CAST(? AS DATE) + INTERVAL 1 DAY"
	" AND j.status IN ('completed', 'failed')"
	" ON DUPLICATE KEY UPDATE jobs_completed = VALUES(jobs_completed),"
	" jobs_failed = VALUES(jobs_failed), units_produced = VALUES(units_produced),"
	" total_print_time_minutes = VALUES(total_print_time_minutes),"
	" average_job_time_minutes = VALUES(average_job_time_minutes), updated_at = NOW(3)"
};

enum api_err print_job_completed(struct job_ctx *ctx)
{
	const char *account = ctx->item->account_id;
	const char *job = json_string_value(json_object_get(ctx->item->payload, "job_id"));
	char day[16], id[UUID_LEN + 1];
	struct db_res res;
	if (!job || !util_is_uuid(job) || !account[0])
		return job_fail(ctx, E_INTERNAL_ERROR, "payload names no job_id / account");
	enum api_err err = db_exec(ctx->db, &Q_PE_JOB_DAY, DB_ARGS(DS(account), DS(job)), &res);
	if (err)
		return job_fail(ctx, err, "loading job %s failed: %s", job, err_code(err));
	int found = res.nrows > 0;
	snprintf(day, sizeof day, "%s", found && db_get(&res, 0, 0) ? db_get(&res, 0, 0) : "");
	db_res_free(&res);
	if (!day[0]) {
		log_info("job_completed: job %s %s; no daily analytics to refresh", job,
			 found ? "has no time_completed" : "is gone");
		return E_OK;
	}
	if (util_uuid(id) < 0)
		return job_fail(ctx, E_INTERNAL_ERROR, "no random bytes for a row id");
	err = db_exec(ctx->db, &Q_PE_DAY_UPSERT,
		      DB_ARGS(DS(id), DS(account), DS(day), DS(account), DS(day), DS(day)), NULL);
	if (err)
		return job_fail(ctx, err, "refreshing daily analytics of %s failed: %s", day,
				err_code(err));
	log_info("job_completed: job %s: daily analytics of %s refreshed", job, day);
	return E_OK;
}
