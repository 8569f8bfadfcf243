/* admin_queue.c - apf-admin: the job queue (see admin.h). */
#include "admin.h"

#include "queue.h"

#include <stdlib.h>

/* ------------------------------------------------------------------------------ outputs */

static const struct rfield F_QUEUE_STATS[] = {
	COL(queue, STR) COL(state, STR) COLX(count, "COUNT(*)", INT) RES_FIELD_END
};

static const struct output OUT_QUEUE_STATS = {
	F_QUEUE_STATS, " FROM queue_jobs GROUP BY queue, state ORDER BY queue, state"
};

/* Without --dead: everything not done yet; with it: the dead letters only. */
static const struct rfield F_QUEUE_ITEM[] = {
	COL(id, INT) COL(queue, STR) COL(type, STR) COL(account_id, STR) COL(state, STR)
	COL(attempts, INT) COL(max_attempts, INT) COL(run_at, TIME) COL(last_error, STR)
	COL(payload, JSON) COL(created_at, TIME) COL(updated_at, TIME) RES_FIELD_END
};

static const struct output OUT_QUEUE_LIST = {
	F_QUEUE_ITEM, " FROM queue_jobs WHERE IF(?, state = 'dead', state <> 'done') ORDER BY id"
};

static const struct rfield F_QUEUE_RETRIED[] = {
	COL(id, INT) COL(queue, STR) COL(type, STR) COL(state, STR) COL(attempts, INT)
	COL(max_attempts, INT) COL(run_at, TIME) RES_FIELD_END
};

static const struct output OUT_QUEUE_RETRIED = { F_QUEUE_RETRIED, " FROM queue_jobs WHERE id = ?" };

/* --------------------------------------------------------------------------------- queue */

int cmd_queue_stats(struct ctx *c)
{
	return q_list(c, &OUT_QUEUE_STATS, NULL, 0, &c->out);
}

int cmd_queue_list(struct ctx *c)
{
	return q_list(c, &OUT_QUEUE_LIST, DB_ARGS(DI(c->opt[O_DEAD] ? 1 : 0)), &c->out);
}

int cmd_queue_retry(struct ctx *c)
{
	long long id = strtoll(c->arg, NULL, 10);
	int found = 0;
	enum api_err e = queue_retry(c->db, id, &found);
	if (e)
		return db_failed(c, e);
	if (q_obj(c, &OUT_QUEUE_RETRIED, DB_ARGS(DI(id)), &c->out))
		return EXIT_FAIL;
	if (!c->out)
		return fail("queue job %lld not found", id);
	if (!found)
		return fail("queue job %lld is %s, not dead: nothing to retry", id,
			    jhelp_str(c->out, "state"));
	queue_wake();
	return 0;
}

/* Deletes the dead-lettered jobs (after reading them with queue list --dead); --dead is
 * required so that the command never reads as "delete the queue". */
static const struct db_query Q_QUEUE_PURGE_DEAD = { "DELETE FROM queue_jobs WHERE state = 'dead'" };

int cmd_queue_purge(struct ctx *c)
{
	if (q_exec(c, &Q_QUEUE_PURGE_DEAD, NULL, 0, NULL))
		return EXIT_FAIL;
	c->out = json_pack("{s:I}", "purged", (json_int_t)db_affected(c->db));
	return c->out ? 0 : fail("out of memory");
}
