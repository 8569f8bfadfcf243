#include "queue.h"

#include "cfg.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const struct db_query Q_PUSH = {
	"INSERT INTO queue_jobs (queue, type, account_id, payload, dedup_key, max_attempts,"
	" request_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)"
};
static const struct db_query Q_CLAIM_PICK = {
	"SELECT id, queue, type, IFNULL(account_id, ''), payload, attempts, max_attempts,"
	" IFNULL(request_id, '') FROM queue_jobs WHERE ((state = 'ready' AND run_at <= NOW(3))"
	" OR (state = 'running' AND lease_until < NOW(3)))"
	" AND (? IS NULL OR FIND_IN_SET(queue, ?)) AND id <> ?"
	" ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
};
static const struct db_query Q_CLAIM_TAKE = {
	"UPDATE queue_jobs SET state = 'running', attempts = attempts + 1, locked_by = ?,"
	" lease_until = NOW(3) + INTERVAL ? SECOND, updated_at = NOW(3) WHERE id = ?"
};
static const struct db_query Q_EXPIRED_DEAD = {
	"UPDATE queue_jobs SET state = 'dead', lease_until = NULL, locked_by = NULL,"
	" last_error = 'lease expired on the last attempt (worker died?)', updated_at = NOW(3),"
	" finished_at = NOW(3) WHERE id = ?"
};
static const struct db_query Q_DONE = {
	"UPDATE queue_jobs SET state = 'done', lease_until = NULL, finished_at = NOW(3),"
	" updated_at = NOW(3) WHERE id = ? AND state = 'running' AND attempts = ?"
};
static const struct db_query Q_FAIL_RETRY = {
	"UPDATE queue_jobs SET state = 'ready', lease_until = NULL, locked_by = NULL,"
	" run_at = NOW(3) + INTERVAL ? SECOND, last_error = ?, updated_at = NOW(3)"
	" WHERE id = ? AND state = 'running' AND attempts = ?"
};
static const struct db_query Q_FAIL_DEAD = {
	"UPDATE queue_jobs SET state = 'dead', lease_until = NULL, locked_by = NULL,"
	" last_error = ?, updated_at = NOW(3), finished_at = NOW(3)"
	" WHERE id = ? AND state = 'running' AND attempts = ?"
};
static const struct db_query Q_RETRY_DEAD = {
	"UPDATE queue_jobs SET state = 'ready', attempts = 0, run_at = NOW(3), last_error = NULL,"
	" finished_at = NULL, updated_at = NOW(3) WHERE id = ? AND state = 'dead'"
};

enum api_err queue_push(struct db *db, const char *queue, const char *type,
			const char *account_id, const json_t *payload, const char *dedup_key,
			unsigned max_attempts, long long *id_out)
{
	char *text = payload ? json_dumps(payload, JSON_COMPACT) : strdup("{}");
	if (!text)
		return E_INTERNAL_ERROR;
	enum api_err err = db_exec(db, &Q_PUSH,
				   DB_ARGS(DS(queue), DS(type), DS(account_id && *account_id ? account_id : NULL),
					   DS(text), DS(dedup_key), DI(max_attempts ? max_attempts : 5),
					   DS(*log_request() ? log_request() : NULL)),
				   NULL);
	free(text);
	if (!err && id_out)
		*id_out = (long long)db_insert_id(db);
	return err;
}

static void wake_one(int fd, const char *path)
{
	(void)util_dgram_send(fd, path, "w", 1);
}

/* The other workers listen on <worker_socket>.<id> (workers/loop.c). Their paths are listed
 * again only when the folder changed (its mtime), not on every wake: a wake is on the path of
 * every hub command. The sending socket stays open. */
#define WAKE_MAX 64
#define SUN_MAX sizeof(((struct sockaddr_un *)0)->sun_path)
static struct {
	int fd;
	char conf[SUN_MAX];       /* the worker_socket the list belongs to */
	struct timespec mtime;    /* its folder's mtime when listed */
	unsigned n;
	char path[WAKE_MAX][SUN_MAX];
} wk = { .fd = -1 };

static void wake_list(const char *path, const char *dir, int has_dir)
{
	const char *base = has_dir ? strrchr(path, '/') + 1 : path;
	size_t blen = strlen(base);
	DIR *d = opendir(dir);
	wk.n = 0;
	for (struct dirent *e; d && (e = readdir(d)) != NULL && wk.n < WAKE_MAX;) {
		if (strncmp(e->d_name, base, blen) != 0 || e->d_name[blen] != '.' ||
		    (e->d_type != DT_SOCK && e->d_type != DT_UNKNOWN))
			continue;
		if (snprintf(wk.path[wk.n], SUN_MAX, "%s%s", has_dir ? dir : "", e->d_name) <
		    (int)SUN_MAX)
			wk.n++;
	}
	if (d)
		closedir(d);
}

void queue_wake(void)
{
	const char *path = cfg_str("worker_socket", NULL);
	if (!path || strlen(path) >= SUN_MAX)
		return;
	if (wk.fd < 0 &&
	    (wk.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return;
	wake_one(wk.fd, path);
	const char *slash = strrchr(path, '/');
	char dir[SUN_MAX];
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
	struct stat st;
	if (stat(dir, &st) < 0)
		return;
	if (strcmp(wk.conf, path) != 0 || st.st_mtim.tv_sec != wk.mtime.tv_sec ||
	    st.st_mtim.tv_nsec != wk.mtime.tv_nsec) {
		snprintf(wk.conf, sizeof wk.conf, "%s", path);
		wk.mtime = st.st_mtim;
		wake_list(path, dir, slash != NULL);
	}
	for (unsigned i = 0; i < wk.n; i++)
		wake_one(wk.fd, wk.path[i]);
}

long queue_backoff_seconds(unsigned failed_attempts)
{
	if (failed_attempts > 10)
		return 3600;
	long s = 5L << failed_attempts;
	return s > 3600 ? 3600 : s;
}

void queue_item_release(struct queue_item *it)
{
	json_decref(it->payload);
	it->payload = NULL;
}

enum api_err queue_claim(struct db *db, const char *worker_id, int lease_seconds,
			 struct queue_item *out, int *found)
{
	return queue_claim_from(db, worker_id, lease_seconds, NULL, out, found);
}

enum api_err queue_claim_from(struct db *db, const char *worker_id, int lease_seconds,
			      const char *const *queues, struct queue_item *out, int *found)
{
	*found = 0;
	memset(out, 0, sizeof *out);
	/* comma-separated for FIND_IN_SET; queue names never contain a comma */
	char list[1024] = "";
	size_t used = 0;
	for (const char *const *q = queues; q && *q; q++) {
		int n = snprintf(list + used, sizeof list - used, "%s%s", used ? "," : "", *q);
		if (n < 0 || (size_t)n >= sizeof list - used)
			return E_INTERNAL_ERROR;
		used += (size_t)n;
	}
	const char *filter = queues ? list : NULL;
	long long lost = 0; /* the row whose claim was just lost: passed over */
	for (int tries = 0; tries < 16; tries++) {
		struct db_res res;
		enum api_err err = db_begin(db);
		if (err)
			return err;
		err = db_exec(db, &Q_CLAIM_PICK, DB_ARGS(DS(filter), DS(filter), DI(lost)), &res);
		if (err) {
			db_rollback(db);
			if (db_lock_conflict(db, err))
				continue;
			return err;
		}
		if (res.nrows == 0) {
			db_res_free(&res);
			db_rollback(db);
			return E_OK;
		}
		out->id = db_get_int(&res, 0, 0, 0);
		snprintf(out->queue, sizeof out->queue, "%s", db_get(&res, 0, 1));
		snprintf(out->type, sizeof out->type, "%s", db_get(&res, 0, 2));
		snprintf(out->account_id, sizeof out->account_id, "%s", db_get(&res, 0, 3));
		out->payload = json_loads(db_get(&res, 0, 4) ? db_get(&res, 0, 4) : "{}", 0, NULL);
		out->attempts = (unsigned)db_get_int(&res, 0, 5, 0) + 1;
		out->max_attempts = (unsigned)db_get_int(&res, 0, 6, 5);
		snprintf(out->request_id, sizeof out->request_id, "%s", db_get(&res, 0, 7));
		db_res_free(&res);
		if (out->attempts > out->max_attempts) {
			/* its last attempt's worker died holding the lease: dead-letter it */
			err = db_exec(db, &Q_EXPIRED_DEAD, DB_ARGS(DI(out->id)), NULL);
			if (!err)
				err = db_commit(db);
			else
				db_rollback(db);
			queue_item_release(out);
			if (err && !db_lock_conflict(db, err))
				return err;
			if (!err)
				log_warn("queue job %lld (%s) dead: lease expired on its last attempt",
					 out->id, out->type);
			continue;
		}
		err = db_exec(db, &Q_CLAIM_TAKE, DB_ARGS(DS(worker_id), DI(lease_seconds), DI(out->id)),
			      NULL);
		if (!err)
			err = db_commit(db);
		else
			db_rollback(db);
		if (err) {
			queue_item_release(out);
			/* Another worker took the row first: on Galera, one writing through another node
			 * (SKIP LOCKED sees this node's locks only) whose claim certified first, so this
			 * commit failed certification (1213). The row is not ours: the next one. */
			if (db_lock_conflict(db, err)) {
				log_info("queue job %lld (%s) claimed elsewhere first; not ours", out->id,
					 out->type);
				lost = out->id;
				continue;
			}
			return err;
		}
		if (!out->payload)
			out->payload = json_object();
		*found = 1;
		return E_OK;
	}
	return E_OK;
}

enum api_err queue_done(struct db *db, const struct queue_item *it)
{
	return db_exec(db, &Q_DONE, DB_ARGS(DI(it->id), DI(it->attempts)), NULL);
}

enum api_err queue_fail(struct db *db, const struct queue_item *it, const char *error)
{
	if (it->attempts >= it->max_attempts) {
		log_warn("queue job %lld (%s) dead after %u attempts: %s", it->id, it->type,
			 it->attempts, error);
		return db_exec(db, &Q_FAIL_DEAD, DB_ARGS(DS(error), DI(it->id), DI(it->attempts)),
			       NULL);
	}
	return db_exec(db, &Q_FAIL_RETRY,
		       DB_ARGS(DI(queue_backoff_seconds(it->attempts)), DS(error), DI(it->id),
			       DI(it->attempts)), NULL);
}

enum api_err queue_retry(struct db *db, long long id, int *found)
{
	enum api_err err = db_exec(db, &Q_RETRY_DEAD, DB_ARGS(DI(id)), NULL);
	*found = !err && db_affected(db) > 0;
	return err;
}
