/* file_versions.c - A print file's versions (docs/files.md): at most 3, one current.
 *
 *   POST /files/{id}/versions                   adds one (current unless set_as_current=false)
 *   PUT  /files/{id}/versions/{version}/current promotes one
 *
 * (the list: the generic nested handler, fcgi/routes.def; fields: fcgi/file_versions.def)
 * A version that becomes current is parsed synchronously and repoints the file row; the full
 * extraction (workers/file_processing.c) is queued after commit. */
#include "files.h"
#include "idem.h"

#include "queue.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_VERSIONS 3

/* The parent of a version change; the locking form runs inside the change's transaction. */
#define FILE_PARENT_SQL \
	"SELECT f.name, (SELECT COUNT(*) FROM print_file_versions v WHERE v.print_file_id = f.id)" \
	" FROM print_files f WHERE f.account_id = ? AND f.id = ?"
static const struct db_query Q_FILE_PARENT = { FILE_PARENT_SQL };
static const struct db_query Q_FILE_PARENT_LOCK = { FILE_PARENT_SQL " FOR UPDATE" };
static const struct db_query Q_VERSION_BY_NUMBER = {
	"SELECT storage_key, is_current_version FROM print_file_versions"
	" WHERE account_id = ? AND print_file_id = ? AND version_number = ?"
};
/* Row updates name their index: for a single-table UPDATE, MariaDB may otherwise range-scan an
 * (account_id, ...) index, locking the account's other rows in an order that deadlocks with
 * the statements that lock by primary key. */
static const struct db_query Q_FILE_REPOINT = {
	"UPDATE print_files FORCE INDEX (PRIMARY) SET " OBJECT_SET ", updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_VERSION_INSERT = {
	"INSERT INTO print_file_versions (id, account_id, print_file_id, version_number,"
	" storage_key, file_size_bytes, notes, is_current_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
};
/* Clear before set: uq_print_file_versions_current allows one current row per file. */
#define VERSIONS_BY_FILE "print_file_versions FORCE INDEX (uq_print_file_versions_number)"
static const struct db_query Q_VERSIONS_UNSET_CURRENT = {
	"UPDATE " VERSIONS_BY_FILE " SET is_current_version = 0"
	" WHERE account_id = ? AND print_file_id = ? AND is_current_version = 1"
};
static const struct db_query Q_VERSION_SET_CURRENT = {
	"UPDATE " VERSIONS_BY_FILE " SET is_current_version = 1"
	" WHERE account_id = ? AND print_file_id = ? AND version_number = ?"
};

enum api_err file_version_insert(struct db *db, const struct file_txn *t, long long number,
				 const char *notes, int current)
{
	return db_exec(db, &Q_VERSION_INSERT,
		       DB_ARGS(DS(t->version_id), DS(t->r->account_id), DS(t->file_id), DI(number),
			       DS(t->key), DI(t->x->size), DS(notes), DI(current)), NULL);
}

/* Makes version `number` (whose object x was extracted) the file's current one: inside the
 * caller's transaction, with the file row locked. */
static enum api_err make_current(struct req *r, const char *file_id, long long number,
				 const struct file_object *x)
{
	struct db_arg a[OBJECT_NARGS + 2];
	enum api_err err = db_exec(r->db, &Q_VERSIONS_UNSET_CURRENT,
				   DB_ARGS(DS(r->account_id), DS(file_id)), NULL);
	if (!err)
		err = db_exec(r->db, &Q_VERSION_SET_CURRENT,
			      DB_ARGS(DS(r->account_id), DS(file_id), DI(number)), NULL);
	if (err)
		return err;
	unsigned n = file_object_args(x, a);
	a[n++] = DS(r->account_id);
	a[n++] = DS(file_id);
	err = db_exec(r->db, &Q_FILE_REPOINT, a, n, NULL);
	return err ? err : file_push_extract(r, file_id);
}

/* The parent's name and version count (locked inside a transaction), or FILE_NOT_FOUND. */
static enum api_err parent_load(struct req *r, const struct db_query *q, char *name, size_t size,
				long long *count)
{
	struct db_res res;
	enum api_err err = req_fetch_one(r, q, DB_ARGS(DS(r->account_id), DS(req_param(r, "id"))),
					 &res, E_FILE_NOT_FOUND);
	if (err)
		return err;
	snprintf(name, size, "%s", db_get(&res, 0, 0));
	*count = db_get_int(&res, 0, 1, 0);
	db_res_free(&res);
	return E_OK;
}

/* A version more (numbers are max + 1; with no deletions that is count + 1), under the file's
 * lock, the object claimed; made current when asked. */
static enum api_err version_txn(struct db *db, void *ctx)
{
	struct file_txn *t = ctx;
	struct req *r = t->r;
	char name[512];
	long long count;
	enum api_err err;
	if ((err = file_claim_object(r, t->x)) != E_OK ||
	    (err = parent_load(r, &Q_FILE_PARENT_LOCK, name, sizeof name, &count)) != E_OK)
		return err;
	if (count >= MAX_VERSIONS)
		return req_fail(r, E_MAX_VERSIONS_REACHED, "File already has %d versions, the maximum",
				MAX_VERSIONS);
	if ((err = file_version_insert(db, t, count + 1, jhelp_str(r->body, "notes"), 0)) != E_OK ||
	    (t->current && (err = make_current(r, t->file_id, count + 1, t->x)) != E_OK) ||
	    (err = res_reply(r, &file_version_res, t->version_id, 1)) != E_OK)
		return err;
	return idem_store_answer(r); /* the Idempotency-Key answer commits with the version */
}

enum api_err files_version_add(struct req *r)
{
	char file_id[UUID_LEN + 1], version_id[UUID_LEN + 1], name[512];
	const char *filename = NULL;
	long long count;
	struct file_object x = { 0 };
	if (res_check_body(r, &file_version_res, RF_CREATE))
		return E_VALIDATION_ERROR;
	const char *key = jhelp_str(r->body, "storage_key");
	const char *id = req_param(r, "id");
	int current = !json_is_false(json_object_get(r->body, "set_as_current"));
	switch (file_parse_key(r, "storage_key", key, file_id, &filename)) {
	case FILE_NAME_UNSAFE:
		return E_VALIDATION_ERROR;
	case FILE_NAME_TYPE:
		return E_UNSUPPORTED_FILE_TYPE;
	}
	enum api_err err = parent_load(r, &Q_FILE_PARENT, name, sizeof name, &count);
	if (err)
		return err;
	if (strcasecmp(file_extension(filename), file_extension(name)) != 0)
		return req_fail(r, E_EXTENSION_MISMATCH, "The new version is .%s but the file is .%s:"
				" upload a .%s file", file_extension(filename), file_extension(name),
				file_extension(name));
	if (count >= MAX_VERSIONS)
		return req_fail(r, E_MAX_VERSIONS_REACHED, "File already has %d versions, the"
				" maximum", MAX_VERSIONS);
	/* a version that does not become current is only checked: the file's thumbnail stays */
	if ((err = file_check_new_object(r, key)) != E_OK ||
	    (err = file_object_extract(r, id, key, filename, current, &x)) != E_OK)
		return err;
	struct file_txn t = { .r = r, .x = &x, .file_id = id, .version_id = version_id, .key = key,
			      .current = current };
	if (util_uuid(version_id) < 0)
		err = E_INTERNAL_ERROR;
	else if ((err = db_txn(r->db, version_txn, &t)) == E_OK && current)
		file_thumb_publish(r, id, &x);
	file_object_release(&x);
	if (err == E_CONFLICT && !r->errmsg[0]) /* a concurrent change took the number */
		return req_fail(r, E_CONFLICT, "The file changed concurrently; retry");
	if (err)
		return err;
	if (current)
		queue_wake();
	return E_OK; /* the answer: version_txn's */
}

/* Version `number` becomes current, under the file's lock. */
static enum api_err promote_txn(struct db *db, void *ctx)
{
	struct file_txn *t = ctx;
	char name[512];
	long long count;
	(void)db;
	enum api_err err = parent_load(t->r, &Q_FILE_PARENT_LOCK, name, sizeof name, &count);
	return err ? err : make_current(t->r, t->file_id, t->number, t->x);
}

enum api_err files_promote(struct req *r)
{
	char name[512], key[STORAGE_KEY_MAX + 1];
	const char *v = req_param(r, "version"), *id = req_param(r, "id");
	long long number = 0, count;
	struct file_object x = { 0 };
	char *end;
	number = strtoll(v, &end, 10);
	if (!isdigit((unsigned char)v[0]) || *end || number < 1 || number > MAX_VERSIONS) {
		req_problem(r, "version", "version must be a version number between 1 and %d",
			    MAX_VERSIONS);
		return E_VALIDATION_ERROR;
	}
	enum api_err err = parent_load(r, &Q_FILE_PARENT, name, sizeof name, &count);
	if (err)
		return err;
	struct db_res res;
	err = req_fetch_one(r, &Q_VERSION_BY_NUMBER, DB_ARGS(DS(r->account_id), DS(id), DI(number)),
			    &res, E_VERSION_NOT_FOUND);
	if (err == E_VERSION_NOT_FOUND)
		return req_fail(r, err, "File has no version %lld", number);
	if (err)
		return err;
	snprintf(key, sizeof key, "%s", db_get(&res, 0, 0) ? db_get(&res, 0, 0) : "");
	int is_current = db_get_int(&res, 0, 1, 0) != 0;
	db_res_free(&res);
	if (!is_current) {
		const char *slash = strrchr(key, '/');
		if ((err = file_object_extract(r, id, key, slash ? slash + 1 : key, 1, &x)) != E_OK)
			return err;
		struct file_txn t = { .r = r, .x = &x, .file_id = id, .number = number };
		if ((err = db_txn(r->db, promote_txn, &t)) == E_OK)
			file_thumb_publish(r, id, &x);
		file_object_release(&x);
		if (err)
			return err;
		queue_wake();
	}
	return res_reply(r, &file_res, id, 0);
}
