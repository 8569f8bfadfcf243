/* lease.c - cluster-wide leases (see lease.h). */
#include "lease.h"

#include <stdio.h>

static const struct db_query Q_LEASE_TAKE = {
	"UPDATE cluster_leases SET holder = ?, token = token + 1,"
	" expires_at = NOW(3) + INTERVAL ? SECOND, acquired_at = NOW(3)"
	" WHERE name = ? AND (expires_at <= NOW(3) OR holder = ?)"
};
static const struct db_query Q_LEASE_TOKEN = {
	"SELECT token, IFNULL(broker, '') FROM cluster_leases WHERE name = ? AND holder = ?"
};
static const struct db_query Q_LEASE_BROKER = {
	"UPDATE cluster_leases SET broker = ? WHERE name = ? AND holder = ? AND token = ?"
};
static const struct db_query Q_LEASE_RENEW = {
	"UPDATE cluster_leases SET expires_at = NOW(3) + INTERVAL ? SECOND"
	" WHERE name = ? AND holder = ? AND token = ? AND expires_at > NOW(3)"
};
static const struct db_query Q_LEASE_RELEASE = {
	"UPDATE cluster_leases SET expires_at = NOW(3) - INTERVAL 1 SECOND"
	" WHERE name = ? AND holder = ? AND token = ?"
};

enum api_err lease_take(struct db *db, const char *name, const char *holder, long ttl_s,
			long long *token, char *broker, size_t broker_size)
{
	*token = 0;
	if (broker_size)
		broker[0] = '\0';
	enum api_err err = db_exec(db, &Q_LEASE_TAKE,
				   DB_ARGS(DS(holder), DI(ttl_s), DS(name), DS(holder)), NULL);
	if (err || db_affected(db) != 1)
		return err;
	struct db_res res;
	err = db_exec(db, &Q_LEASE_TOKEN, DB_ARGS(DS(name), DS(holder)), &res);
	if (!err && res.nrows == 1) {
		*token = db_get_int(&res, 0, 0, 0);
		if (broker_size && db_get(&res, 0, 1))
			snprintf(broker, broker_size, "%s", db_get(&res, 0, 1));
	}
	db_res_free(&res);
	return err;
}

enum api_err lease_set_broker(struct db *db, const char *name, const char *holder,
			      long long token, const char *broker)
{
	return db_exec(db, &Q_LEASE_BROKER, DB_ARGS(DS(broker), DS(name), DS(holder), DI(token)),
		       NULL);
}

enum api_err lease_renew(struct db *db, const char *name, const char *holder, long long token,
			 long ttl_s, int *ok)
{
	enum api_err err = db_exec(db, &Q_LEASE_RENEW,
				   DB_ARGS(DI(ttl_s), DS(name), DS(holder), DI(token)), NULL);
	*ok = !err && db_affected(db) == 1;
	return err;
}

enum api_err lease_release(struct db *db, const char *name, const char *holder,
			   long long token)
{
	return db_exec(db, &Q_LEASE_RELEASE, DB_ARGS(DS(name), DS(holder), DI(token)), NULL);
}
