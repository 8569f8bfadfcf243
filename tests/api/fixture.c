/* fixture.c - test data through apf-admin and direct database tweaks (see fixture.h). */
#include "fixture.h"
#include "peer.h"

#include "apitest.h"
#include "cfg.h"
#include "util.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct db *db;
static char admin_path[1024];

int fx_init(void)
{
	if (cfg_load(NULL) < 0)
		return -1;
	const char *bin = getenv("APF_BIN");
	snprintf(admin_path, sizeof admin_path, "%s/apf-admin", bin && *bin ? bin : "build/bin");
	if (access(admin_path, X_OK) != 0) {
		fprintf(stderr, "fixture: %s is not executable (set APF_BIN)\n", admin_path);
		return -1;
	}
	db = db_open();
	if (!db)
		return -1;
	if (db_ping(db) != E_OK) {
		fprintf(stderr, "fixture: cannot reach the database of %s\n", cfg_path());
		return -1;
	}
	return 0;
}

void fx_cleanup(void)
{
	db_close(db);
	db = NULL;
}

static void fail_at(const char *file, unsigned line, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void fail_at(const char *file, unsigned line, const char *fmt, va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	fprintf(stderr, "\nfixture: %s\n", msg);
	CU_assertImplementation(CU_FALSE, line, msg, file, "", CU_FALSE);
}

static void fx_fail_at(const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fx_fail_at(const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_at(file, line, fmt, ap);
	va_end(ap);
}

static void fx_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fx_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_at("fixture", 0, fmt, ap);
	va_end(ap);
}

const char *fx_tag(char out[9])
{
	util_random_hex(out, 4);
	return out;
}

/* Runs apf-admin; *exit_status its exit status (-1: it did not exit). With strict, anything
 * but exit 0 with a JSON object is a recorded failure (NULL); else the JSON it printed or NULL. */
static json_t *admin_run(const char *const *args, int *exit_status, int strict)
{
	const char *argv[40];
	char cmdline[2048];
	int argc = 0;
	argv[argc++] = admin_path;
	for (; *args && argc < 37; args++)
		argv[argc++] = *args;
	argv[argc++] = "--json";
	argv[argc] = NULL;
	size_t o = 0;
	for (int i = 0; i < argc && o < sizeof cmdline; i++)
		o += (size_t)snprintf(cmdline + o, sizeof cmdline - o, "%s%s", i ? " " : "", argv[i]);

	int out[2];
	FILE *err = tmpfile();
	if (!err || pipe(out) < 0) {
		fx_fail("%s: pipe: %s", cmdline, strerror(errno));
		if (err)
			fclose(err);
		return NULL;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(fileno(err), 2);
		close(out[0]);
		close(out[1]);
		execv(admin_path, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	char *text = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nt = realloc(text, cap);
			if (!nt)
				break;
			text = nt;
		}
		ssize_t got = read(out[0], text + len, cap - len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(out[0]);
	int status = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (text)
		text[len] = '\0';
	json_t *j = NULL;
	*exit_status = pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (pid > 0 && (*exit_status == 0 || !strict) && text)
		j = json_loads(text, 0, NULL);
	if (!json_is_object(j) && (strict || *exit_status < 0)) {
		char emsg[1024] = "";
		rewind(err);
		size_t en = fread(emsg, 1, sizeof emsg - 1, err);
		emsg[en] = '\0';
		fx_fail("`%s` failed (status %d): stdout: %.300s stderr: %.600s", cmdline,
			WIFEXITED(status) ? WEXITSTATUS(status) : -1, text ? text : "", emsg);
		json_decref(j);
		j = NULL;
	}
	fclose(err);
	free(text);
	return j;
}

json_t *fx_admin(const char *const *args)
{
	int st;
	return admin_run(args, &st, 1);
}

json_t *fx_admin_exit(const char *const *args, int *exit_status)
{
	return admin_run(args, exit_status, 0);
}

int fx_schema_sql(const char *sql)
{
	char user[128], pw[256];
	snprintf(user, sizeof user, "%s", cfg_str("db_user", ""));
	snprintf(pw, sizeof pw, "%s", cfg_str("db_password", ""));
	cfg_set("db_user", cfg_str("db_migrate_user", ""));
	cfg_set("db_password", cfg_str("db_migrate_password", ""));
	struct db *sdb = db_open(); /* connects on first use */
	enum api_err err = sdb ? db_exec_text(sdb, sql) : E_INTERNAL_ERROR;
	db_close(sdb);
	cfg_set("db_user", user);
	cfg_set("db_password", pw);
	if (err)
		CU_FAIL("schema statement failed (as db_migrate_user)");
	return err ? -1 : 0;
}

int fx_stock_reconcile(const char *account)
{
	json_t *j = FX_ADMIN("stock", "reconcile", "--account", account);
	json_decref(j);
	return j ? 0 : -1;
}

/* Copies the string member "id" (or name) of j into out; decrefs j. */
static int take(json_t *j, const char *name, char *out, size_t size)
{
	const char *v = json_string_value(json_object_get(j, name));
	int rc = v && strlen(v) < size ? 0 : -1;
	if (rc == 0)
		snprintf(out, size, "%s", v);
	else if (j)
		fx_fail("apf-admin printed no string \"%s\"", name);
	json_decref(j);
	return rc;
}

int fx_account(char id[FX_ID])
{
	char tag[9], name[64];
	snprintf(name, sizeof name, "apitest %s", fx_tag(tag));
	return take(FX_ADMIN("account", "create", "--name", name), "id", id, FX_ID);
}

int fx_key(const char *account, const char *scopes, long rate_limit, const char *expires_at,
	   char key[FX_KEY], char key_id[FX_ID])
{
	char rl[32];
	snprintf(rl, sizeof rl, "%ld", rate_limit);
	const char *argv[16];
	int n = 0;
	argv[n++] = "key";
	argv[n++] = "create";
	argv[n++] = "--account";
	argv[n++] = account;
	argv[n++] = "--name";
	argv[n++] = "apitest key";
	argv[n++] = "--scopes";
	argv[n++] = scopes;
	if (rate_limit > 0) {
		argv[n++] = "--rate-limit";
		argv[n++] = rl;
	}
	if (expires_at) {
		argv[n++] = "--expires-at";
		argv[n++] = expires_at;
	}
	argv[n] = NULL;
	json_t *j = fx_admin(argv);
	if (!j)
		return -1;
	if (key_id && take(json_incref(j), "id", key_id, FX_ID) < 0) {
		json_decref(j);
		return -1;
	}
	return take(j, "key", key, FX_KEY);
}

int fx_key_revoke(const char *key_id)
{
	/* `key revoke` prints nothing useful; accept any JSON object */
	json_t *j = FX_ADMIN("key", "revoke", key_id);
	int rc = j ? 0 : -1;
	json_decref(j);
	return rc;
}

void fx_key_settle(void)
{
	usleep(1000 * 1000);
}

int fx_tenant(struct tenant *t, const char *scopes)
{
	memset(t, 0, sizeof *t);
	if (fx_account(t->account) < 0)
		return -1;
	return fx_key(t->account, scopes, 100000, NULL, t->key, t->key_id);
}

int fx_tenant_key(const struct tenant *t, const char *scopes, char key[FX_KEY])
{
	return fx_key(t->account, scopes, 100000, NULL, key, NULL);
}

int fx_hub(const char *account, const char *name, char id[FX_ID])
{
	return take(FX_ADMIN("hub", "create", "--account", account, "--name", name), "id", id,
		    FX_ID);
}

int fx_printer(const char *account, const char *hub, const char *name, const char *model,
	       char id[FX_ID])
{
	return take(FX_ADMIN("printer", "create", "--account", account, "--hub", hub, "--name", name,
			     "--model", model),
		    "id", id, FX_ID);
}

/* A fixture statement runs on its own (autocommit) beside the stack's servers and workers; when
 * it loses a deadlock or waits out a lock against them, it runs again, as the servers' own
 * transactions do (DB_TXN_ATTEMPTS in all). */
static enum api_err fx_exec(const struct db_query *q, const struct db_arg *args, unsigned nargs,
			    struct db_res *res)
{
	enum api_err e = E_OK;
	for (int attempt = 0; attempt < DB_TXN_ATTEMPTS; attempt++) {
		if (attempt && res)
			db_res_free(res);
		e = db_exec(db, q, args, nargs, res);
		if (e == E_OK || !db_lock_conflict(db, e))
			break;
	}
	return e;
}

/* A fixture's change is one the API did not make: like the worker's, the API hosts would show
 * it within their stored answers' lifetime (docs/hot-path.md). Tests read it at once, so each
 * change is followed by the notice "*" to the host's listener: every answer stored before it is
 * made again. */
int fx_sql_quiet(const struct db_query *q, const struct db_arg *args, unsigned nargs)
{
	enum api_err e = fx_exec(q, args, nargs, NULL);
	if (e != E_OK)
		fx_fail("SQL failed (%d, errno %u): %s", (int)e, db_errno(db), q->sql);
	return e == E_OK ? 0 : -1;
}

int fx_sql(const struct db_query *q, const struct db_arg *args, unsigned nargs)
{
	enum api_err e = fx_exec(q, args, nargs, NULL);
	if (e == E_OK && peer_notify(cfg_str("peer_listen", ""), "*", 0, peer_now_ms() + 2000))
		fx_fail("the API host's notice listener (conf peer_listen) did not answer");
	if (e != E_OK) {
		fx_fail("SQL failed (%d, errno %u): %s", (int)e, db_errno(db), q->sql);
		return -1;
	}
	return 0;
}

/* The arguments as text, for a failure message: "[a, 7, NULL]". */
static void args_text(const struct db_arg *args, unsigned nargs, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < nargs && o < size; i++) {
		const char *sep = i ? ", " : "";
		if (args[i].t == DB_STR)
			o += (size_t)snprintf(out + o, size - o, "%s'%.80s'", sep, args[i].s);
		else if (args[i].t == DB_INT)
			o += (size_t)snprintf(out + o, size - o, "%s%lld", sep, args[i].i);
		else if (args[i].t == DB_DBL)
			o += (size_t)snprintf(out + o, size - o, "%s%g", sep, args[i].d);
		else
			o += (size_t)snprintf(out + o, size - o, "%sNULL", sep);
	}
}

/* 0 row, 1 no row, -1 SQL error (failure recorded at file:line). */
static int sql_text(const char *file, unsigned line, const struct db_query *q,
		    const struct db_arg *args, unsigned nargs, char *out, size_t size)
{
	struct db_res res;
	out[0] = '\0';
	enum api_err e = fx_exec(q, args, nargs, &res);
	if (e != E_OK) {
		fx_fail_at(file, line, "SQL failed (%d, errno %u): %s", (int)e, db_errno(db), q->sql);
		return -1;
	}
	int rc = res.nrows > 0 ? 0 : 1;
	const char *v = rc == 0 ? db_get(&res, 0, 0) : NULL;
	snprintf(out, size, "%s", v ? v : "");
	db_res_free(&res);
	return rc;
}

int fx_sql_text_at(const char *file, unsigned line, const struct db_query *q,
		   const struct db_arg *args, unsigned nargs, char *out, size_t size)
{
	int rc = sql_text(file, line, q, args, nargs, out, size);
	if (rc == 1) {
		char a[512];
		args_text(args, nargs, a, sizeof a);
		fx_fail_at(file, line, "no row where one must be: %s [%s]", q->sql, a);
		return -1;
	}
	return rc;
}

int fx_sql_text(const struct db_query *q, const struct db_arg *args, unsigned nargs, char *out,
		size_t size)
{
	return fx_sql_text_at("fixture", 0, q, args, nargs, out, size);
}

int fx_sql_text_poll(const struct db_query *q, const struct db_arg *args, unsigned nargs,
		     char *out, size_t size)
{
	return sql_text("fixture", 0, q, args, nargs, out, size);
}

static const struct db_query Q_HUB_ONLINE = {
	"UPDATE hubs SET is_online = 1, last_seen_at = NOW(3) - INTERVAL ? SECOND WHERE id = ?"
};
static const struct db_query Q_HUB_OFFLINE = {
	"UPDATE hubs SET is_online = 0 WHERE id = ?"
};
static const struct db_query Q_PRINTER_STATUS = {
	"UPDATE printers SET status = ? WHERE id = ?"
};

int fx_hub_online(const char *hub, int seconds_ago)
{
	return FX_SQL(Q_HUB_ONLINE, DI(seconds_ago), DS(hub));
}

int fx_hub_offline(const char *hub)
{
	return FX_SQL(Q_HUB_OFFLINE, DS(hub));
}

int fx_printer_status(const char *printer, const char *status)
{
	return FX_SQL(Q_PRINTER_STATUS, DS(status), DS(printer));
}

pid_t fx_service_pid(const char *service)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/run/%s.pid", cfg_str("var_dir", "."), service);
	FILE *f = fopen(path, "r");
	long pid = 0;
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

int fx_alive(pid_t pid)
{
	char path[64], buf[512];
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

int fx_wait_gone(pid_t pid, long ms)
{
	int64_t end = util_now_ms() + ms;
	while (fx_alive(pid) && util_now_ms() < end) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return fx_alive(pid) ? -1 : 0;
}

/* ------------------------------------------------------------------ files through the API */

void fx_blob_free(struct fx_blob *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

int fx_read_fixture(const char *name, struct fx_blob *b)
{
	const char *dir = getenv("APF_FIXTURES");
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "../shared/fixtures/files", name);
	FILE *f = fopen(path, "rb");
	long n = -1;
	if (f && fseek(f, 0, SEEK_END) == 0)
		n = ftell(f);
	if (!f || n < 0 || fseek(f, 0, SEEK_SET) != 0 || !(b->data = malloc((size_t)n + 1)) ||
	    fread(b->data, 1, (size_t)n, f) != (size_t)n) {
		if (f)
			fclose(f);
		CHECK(0, NULL, "cannot read fixture %s (set APF_FIXTURES)", path);
		return -1;
	}
	fclose(f);
	b->len = (size_t)n;
	return 0;
}

int fx_upload_url(const char *key, const char *filename, struct fx_upload *u)
{
	RESP(r);
	json_t *body = json_pack("{s:s}", "filename", filename);
	char *text = json_dumps(body, 0);
	json_decref(body);
	api("POST", "/files/upload-url", key, text, &r);
	free(text);
	if (!EXPECT(r, 200, NULL))
		return -1;
	json_t *d = rdata(&r);
	snprintf(u->file_id, sizeof u->file_id, "%s", jstr(d, "file_id") ? jstr(d, "file_id") : "");
	snprintf(u->key, sizeof u->key, "%s", jstr(d, "storage_key") ? jstr(d, "storage_key") : "");
	snprintf(u->token, sizeof u->token, "%s",
		 jstr(d, "upload_token") ? jstr(d, "upload_token") : "");
	snprintf(u->path, sizeof u->path, "/files/upload/%s", u->token);
	return CHECK(u->token[0] && u->key[0] && u->file_id[0], &r,
		     "upload-url gives file_id, storage_key and upload_token") ? 0 : -1;
}

long fx_put(const char *key, const char *path, const void *data, size_t len, struct resp *r)
{
	struct call c = { .method = "PUT", .path = path, .key = key, .body = data,
			  .body_len = len, .content_type = "application/octet-stream" };
	return api_call(&c, r);
}

long fx_create_file(const char *key, const char *name, const char *storage_key,
		    const char *extra_json, struct resp *r)
{
	char body[4096];
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"storage_key\":\"%s\"%s%s}", name,
		 storage_key, extra_json ? "," : "", extra_json ? extra_json : "");
	return api("POST", "/files", key, body, r);
}

int fx_upload(const char *key, const char *fixture, const char *filename, struct fx_upload *u)
{
	FX_BLOB(b);
	RESP(r);
	if (fx_read_fixture(fixture, &b) < 0 ||
	    fx_upload_url(key, filename ? filename : fixture, u) < 0)
		return -1;
	fx_put(key, u->path, b.data, b.len, &r);
	return EXPECT(r, 200, NULL) ? 0 : -1;
}

int fx_file(const char *key, const char *fixture, const char *name, char id[FX_ID])
{
	struct fx_upload u;
	RESP(r);
	if (!name)
		name = fixture;
	if (fx_upload(key, fixture, name, &u) < 0)
		return -1;
	fx_create_file(key, name, u.key, NULL, &r);
	if (!EXPECT(r, 201, NULL))
		return -1;
	const char *v = jstr(rdata(&r), "id");
	if (!CHECK(v && util_is_uuid(v), &r, "POST /files gives the file's id"))
		return -1;
	snprintf(id, FX_ID, "%s", v);
	return 0;
}

int fx_store_tmp_entries(void)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/.tmp", cfg_str("file_store", ""));
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

char *fx_multipart(const char *field, const char *filename, const char *part_type,
		   const void *data, size_t len, size_t *out_len)
{
	char head[512], tail[64];
	int h = snprintf(head, sizeof head, "--%s\r\nContent-Disposition: form-data; name=\"%s\";"
			 " filename=\"%s\"\r\nContent-Type: %s\r\n\r\n", FX_MULTIPART_BOUNDARY,
			 field, filename, part_type ? part_type : "application/octet-stream");
	int tl = snprintf(tail, sizeof tail, "\r\n--%s--\r\n", FX_MULTIPART_BOUNDARY);
	char *body = malloc((size_t)h + len + (size_t)tl);
	if (!body)
		return NULL;
	memcpy(body, head, (size_t)h);
	memcpy(body + h, data, len);
	memcpy(body + h + len, tail, (size_t)tl);
	*out_len = (size_t)h + len + (size_t)tl;
	return body;
}

const char *fx_fill(char *out, size_t size, const char *tmpl, const char *id)
{
	const char *at = strstr(tmpl, "{id}");
	if (!at)
		snprintf(out, size, "%s", tmpl);
	else
		snprintf(out, size, "%.*s%s%s", (int)(at - tmpl), tmpl, id, at + 4);
	return out;
}

int fx_uuid(char id[FX_ID])
{
	char u[UUID_LEN + 1];
	if (util_uuid(u) < 0)
		return -1;
	snprintf(id, FX_ID, "%s", u);
	return 0;
}

long long fx_count(const struct db_query *q, const char *id)
{
	char v[32] = "";
	if (fx_sql_text(q, DB_ARGS(DS(id)), v, sizeof v) < 0)
		return -1;
	return atoll(v);
}

int fx_created(const char *key, const char *path, const char *body, char id[FX_ID])
{
	RESP(r);
	api("POST", path, key, body, &r);
	if (!EXPECT(r, 201, NULL) || !jstr(rdata(&r), "id"))
		return -1;
	snprintf(id, FX_ID, "%s", jstr(rdata(&r), "id"));
	return 0;
}

/* Makes sure at least `need` seconds remain in the current minute (the window), sleeping into
 * the next one otherwise. */
void fx_window_edge(int need)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long left = 60 - (long)(now.tv_sec % 60);
	if (left >= need)
		return;
	double wait = (double)left - (double)now.tv_nsec / 1e9 + 0.15;
	struct timespec ts = { (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) };
	printf("(waiting %.1f s for a fresh rate window) ", wait);
	fflush(stdout);
	while (nanosleep(&ts, &ts) != 0)
		;
}
