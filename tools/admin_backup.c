/* admin_backup.c - apf-admin backup DIR / restore DIR (docs/operations.md, "Backups").
 *
 * A backup folder holds database.sql (mariadb-dump --single-transaction: one consistent
 * snapshot, routines, triggers and events included), store/ (a copy of the file store, one file
 * per object under its storage key) and manifest.json (format, version, the migrations applied,
 * the size and SHA-256 of every file). The database client tools get their credentials from a
 * 0600 option file (--defaults-extra-file), never on their command line.
 *
 * Consistency of the store with the dump: the store is copied once before the dump and once
 * after it (objects new or changed since the first copy; nothing is ever removed from the
 * copy). An object a dumped row refers to was written before its row committed (uploads and
 * gallery images write the object first), so it existed at the dump's snapshot: the first copy
 * has it when it is older than the copy, the second when it is newer and still there. Objects
 * are immutable once referenced (docs/files.md); the only referenced objects that disappear are
 * product images deleted through the API, and such an image is kept by the first copy. The copy
 * may hold objects no dumped row refers to (uploaded or deleted while the backup ran): they are
 * unreachable, cost only space, and the hourly housekeeping does not touch them.
 *
 * restore checks every file against the manifest before it changes anything, refuses a
 * database with tables or a store with objects unless --force (which drops and re-creates the
 * database and empties the store), loads the dump, copies the objects back (owned like the
 * store's folder when run as root) and checks each copy's SHA-256 again. */
#include "admin.h"

#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef APF_VERSION
#define APF_VERSION "unknown"
#endif
#define MANIFEST_FORMAT 1
#define DIR_MODE 0750   /* as common/storage.c makes them */
#define FILE_MODE 0640
#define COPY_CHUNK (1 << 20)

/* ------------------------------------------------------------------------------- files */

/* Copies src to dst (via dst.part, renamed when complete; parents made), keeping src's mtime;
 * hex = the bytes' SHA-256 when not NULL. 0; -2 when src does not exist; else -1 after a
 * message. */
static int copy_file(const char *src, const char *dst, char hex[65], uint64_t *size)
{
	char tmp[PATH_MAX + 8];
	unsigned char *buf = malloc(COPY_CHUNK), md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int in = -1, out = -1, rc = -1;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	struct stat st;
	*size = 0;
	snprintf(tmp, sizeof tmp, "%s.part", dst);
	if (!buf || !h || !EVP_DigestInit_ex(h, EVP_sha256(), NULL)) {
		fail("out of memory");
		goto out;
	}
	for (char *p = strchr(tmp + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(tmp, DIR_MODE) < 0 && errno != EEXIST) {
			fail("cannot create %s: %s", tmp, strerror(errno));
			goto out;
		}
		*p = '/';
	}
	if ((in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 && errno == ENOENT) {
		rc = -2; /* gone: the caller decides */
		goto out;
	}
	if (in < 0 || fstat(in, &st) < 0) {
		fail("cannot read %s: %s", src, strerror(errno));
		goto out;
	}
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE)) < 0) {
		fail("cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t n = read(in, buf, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail("cannot read %s: %s", src, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(h, buf, (size_t)n);
		for (ssize_t o = 0; o < n;) {
			ssize_t w = write(out, buf + o, (size_t)(n - o));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				fail("cannot write %s: %s", tmp, strerror(errno));
				goto out;
			}
			o += w;
		}
		*size += (uint64_t)n;
	}
	const struct timespec times[2] = { st.st_atim, st.st_mtim };
	if (futimens(out, times) < 0 || fsync(out) < 0 || close(out) < 0) {
		out = -1;
		fail("cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	out = -1;
	if (rename(tmp, dst) < 0) {
		fail("cannot rename %s to %s: %s", tmp, dst, strerror(errno));
		goto out;
	}
	EVP_DigestFinal_ex(h, md, &mdlen);
	if (hex)
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
	rc = 0;
out:
	if (out >= 0) {
		close(out);
		unlink(tmp);
	}
	if (in >= 0)
		close(in);
	EVP_MD_CTX_free(h);
	free(buf);
	return rc;
}

/* SHA-256 and size of a file. 0, or -1 after a message. */
static int file_sha256(const char *path, char hex[65], uint64_t *size)
{
	unsigned char *buf = malloc(COPY_CHUNK), md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = -1;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	ssize_t n;
	*size = 0;
	if (fd < 0) {
		fail("cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (!buf || !h || !EVP_DigestInit_ex(h, EVP_sha256(), NULL)) {
		fail("out of memory");
		goto out;
	}
	while ((n = read(fd, buf, COPY_CHUNK)) > 0 || (n < 0 && errno == EINTR)) {
		if (n > 0) {
			EVP_DigestUpdate(h, buf, (size_t)n);
			*size += (uint64_t)n;
		}
	}
	if (n < 0) {
		fail("cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	EVP_DigestFinal_ex(h, md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(h);
	free(buf);
	return rc;
}

/* Names starting with '.' are never objects (common/storage.h): the store's .tmp, doctor's
 * probe, a copy's .part. */
static int not_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

typedef int (*walk_fn)(const char *root, const char *rel, const struct stat *st, void *ctx);

/* Calls fn for every regular file under root (rel: its path below root), in name order, and
 * after_dir (when not NULL) for each folder once its content was walked. */
static int walk(const char *root, const char *rel, walk_fn fn, walk_fn after_dir, void *ctx)
{
	char path[PATH_MAX];
	struct dirent **list = NULL;
	snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
	int n = scandir(path, &list, not_dot, alphasort), rc = 0;
	if (n < 0)
		return fail("cannot read %s: %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		char sub[PATH_MAX], full[2 * PATH_MAX + 2];
		struct stat st;
		snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", list[i]->d_name);
		snprintf(full, sizeof full, "%s/%s", root, sub);
		if (rc == 0 && lstat(full, &st) < 0)
			rc = fail("cannot stat %s: %s", full, strerror(errno));
		else if (rc == 0 && S_ISDIR(st.st_mode)) {
			rc = walk(root, sub, fn, after_dir, ctx);
			if (rc == 0 && after_dir)
				rc = after_dir(root, sub, &st, ctx);
		} else if (rc == 0 && S_ISREG(st.st_mode))
			rc = fn(root, sub, &st, ctx);
		else if (rc == 0)
			fprintf(stderr, "apf-admin: warning: %s is not a file or folder: skipped\n", full);
		free(list[i]);
	}
	free(list);
	return rc;
}

/* ------------------------------------------------------------------- database client */

/* A 0600 option file with the database credentials of the configuration (main put the
 * migration user's in db_user / db_password: CMD_SCHEMA) into path. 0, or -1 after a
 * message. */
static int write_defaults(char path[64])
{
	const char *keys[][2] = {
		{ "user", cfg_str("db_user", "apf") }, { "password", cfg_str("db_password", "") },
		{ "socket", cfg_str("db_socket", NULL) }, { "host", NULL }, { "port", NULL },
	};
	char port[16];
	struct db_host h[DB_HOSTS_MAX];
	const char *tmpdir = getenv("TMPDIR");
	if (!keys[2][1]) {
		if (db_hosts_parse(cfg_str("db_hosts", ""), h, DB_HOSTS_MAX,
				   (unsigned)cfg_int("db_port", 3306)) > 0) {
			keys[3][1] = h[0].host;
			snprintf(port, sizeof port, "%u", h[0].port);
		} else {
			keys[3][1] = cfg_str("db_host", "127.0.0.1");
			snprintf(port, sizeof port, "%ld", cfg_int("db_port", 3306));
		}
		keys[4][1] = port;
	}
	snprintf(path, 64, "%.40s/apf-admin-XXXXXX", tmpdir && *tmpdir && strlen(tmpdir) < 40
							     ? tmpdir : "/tmp");
	int fd = mkstemp(path);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		if (fd >= 0)
			close(fd);
		return fail("cannot create an option file in %s: %s", path, strerror(errno));
	}
	fputs("[client]\ndefault-character-set = utf8mb4\n", f);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (!keys[i][1])
			continue;
		fprintf(f, "%s = \"", keys[i][0]);
		for (const char *p = keys[i][1]; *p; p++)
			fprintf(f, "%s%c", *p == '"' || *p == '\\' ? "\\" : "", *p);
		fputs("\"\n", f);
	}
	if (fclose(f) != 0) {
		unlink(path);
		return fail("cannot write the option file %s", path);
	}
	return 0;
}

/* Runs prog (or alt when prog is not installed) with argv[1..], stdin from in_fd and stdout to
 * out_fd (-1: inherited). Its exit status, 127 when neither could be run. */
static int run(const char *prog, const char *alt, const char **argv, int in_fd, int out_fd)
{
	pid_t pid = fork();
	if (pid < 0)
		return fail("cannot fork: %s", strerror(errno)) + 126;
	if (pid == 0) {
		if (in_fd >= 0)
			dup2(in_fd, 0);
		if (out_fd >= 0)
			dup2(out_fd, 1);
		argv[0] = prog;
		execvp(prog, (char *const *)argv);
		argv[0] = alt;
		execvp(alt, (char *const *)argv);
		fprintf(stderr, "apf-admin: cannot run %s or %s: %s\n", prog, alt, strerror(errno));
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs the database client prog (or alt) with the credentials' option file written for it
 * (write_defaults; removed afterwards) and then args (NULL-terminated, at most 14), stdin from
 * in_fd and stdout to out_fd as run. Its exit status, or -1 after a message when the option
 * file could not be written. */
static int run_db_client(const char *prog, const char *alt, const char *const *args, int in_fd,
			 int out_fd)
{
	char defaults[64], opt[96];
	const char *argv[16] = { NULL, opt };
	size_t n = 2;
	for (; *args && n < sizeof argv / sizeof argv[0] - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	if (write_defaults(defaults))
		return -1;
	snprintf(opt, sizeof opt, "--defaults-extra-file=%s", defaults);
	int st = run(prog, alt, argv, in_fd, out_fd);
	unlink(defaults);
	return st;
}

/* ----------------------------------------------------------------------------- backup */

struct copy {
	const char *dst;     /* the backup's store/ */
	int second;          /* second pass: only what is new or changed */
	unsigned long long files, bytes;
};

static int copy_object(const char *root, const char *rel, const struct stat *st, void *ctx)
{
	struct copy *cp = ctx;
	char src[PATH_MAX], dst[PATH_MAX];
	struct stat have;
	uint64_t size;
	snprintf(src, sizeof src, "%s/%s", root, rel);
	snprintf(dst, sizeof dst, "%s/%s", cp->dst, rel);
	if (cp->second && stat(dst, &have) == 0 && have.st_size == st->st_size &&
	    have.st_mtim.tv_sec == st->st_mtim.tv_sec && have.st_mtim.tv_nsec == st->st_mtim.tv_nsec)
		return 0;
	int rc = copy_file(src, dst, NULL, &size);
	if (rc == -2) /* removed since its folder was read (a deleted image, a purged upload) */
		return 0;
	if (rc < 0)
		return EXIT_FAIL;
	cp->files++;
	cp->bytes += size;
	return 0;
}

struct manifest {
	json_t *files;
	unsigned long long objects, bytes;
};

static int add_entry(const char *root, const char *rel, const struct stat *st, void *ctx)
{
	struct manifest *m = ctx;
	char path[PATH_MAX], hex[65], name[PATH_MAX];
	uint64_t size;
	(void)st;
	snprintf(path, sizeof path, "%s/%s", root, rel);
	if (file_sha256(path, hex, &size) < 0)
		return EXIT_FAIL;
	snprintf(name, sizeof name, "store/%s", rel);
	json_array_append_new(m->files, json_pack("{s:s, s:I, s:s}", "path", name, "size",
						  (json_int_t)size, "sha256", hex));
	m->objects++;
	m->bytes += size;
	return 0;
}

/* An empty or new folder only: a backup never mixes with another. */
static int make_backup_dir(const char *dir)
{
	struct dirent **list = NULL;
	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return fail("cannot create %s: %s", dir, strerror(errno));
	int n = scandir(dir, &list, NULL, NULL), extra = 0;
	for (int i = 0; i < n; i++) {
		extra |= strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, "..");
		free(list[i]);
	}
	free(list);
	if (n < 0)
		return fail("cannot read %s: %s", dir, strerror(errno));
	return extra ? fail("%s is not empty: give a new or empty folder", dir) : 0;
}

static const char *db_name(void)
{
	return cfg_str("db_name", "apf");
}

int cmd_backup(struct ctx *c)
{
	const char *dir = c->arg, *store = cfg_str("file_store", NULL);
	char path[PATH_MAX], hex[65], when[32];
	struct copy cp = { 0 };
	struct manifest m = { json_array(), 0, 0 };
	json_t *mig = NULL, *versions = json_array();
	int rc = EXIT_FAIL, fd = -1;
	uint64_t dbsize = 0;
	int64_t t0 = util_now_ms();

	if (!store) {
		fail("no file_store in %s", cfg_path());
		goto out;
	}
	if (make_backup_dir(dir))
		goto out;
	/* the migrations applied, for the manifest (and a database that answers) */
	c->opt[O_STATUS] = "1";
	rc = cmd_migrate(c);
	c->opt[O_STATUS] = NULL;
	mig = c->out;
	c->out = NULL;
	if (rc)
		goto out;
	rc = EXIT_FAIL;
	json_t *row;
	size_t i;
	json_array_foreach(json_object_get(mig, "data"), i, row) {
		if (strcmp(jhelp_str(row, "state"), "pending") != 0)
			json_array_append_new(versions, json_string(jhelp_str(row, "version")));
	}
	snprintf(path, sizeof path, "%s/store", dir);
	cp.dst = path;
	if (mkdir(path, 0700) < 0) {
		fail("cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	/* the store before the dump ... */
	if (walk(store, "", copy_object, NULL, &cp))
		goto out;
	/* ... the dump ... */
	snprintf(path, sizeof path, "%s/database.sql", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		fail("cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	const char *dump[] = { "--single-transaction", "--routines", "--triggers", "--events",
			       "--hex-blob", "--no-tablespaces", "--quick", db_name(), NULL };
	int st = run_db_client("mariadb-dump", "mysqldump", dump, -1, fd);
	if (st < 0)
		goto out;
	if (st != 0 || fsync(fd) < 0) {
		fail("mariadb-dump of %s failed (exit %d)", db_name(), st);
		goto out;
	}
	/* ... and what the store gained meanwhile (nothing is removed from the copy) */
	snprintf(path, sizeof path, "%s/store", dir);
	cp.second = 1;
	unsigned long long first = cp.files;
	if (walk(store, "", copy_object, NULL, &cp))
		goto out;
	/* the manifest: every file's size and SHA-256 */
	snprintf(path, sizeof path, "%s/database.sql", dir);
	if (file_sha256(path, hex, &dbsize))
		goto out;
	json_array_append_new(m.files, json_pack("{s:s, s:I, s:s}", "path", "database.sql", "size",
						 (json_int_t)dbsize, "sha256", hex));
	snprintf(path, sizeof path, "%s/store", dir);
	if (walk(path, "", add_entry, NULL, &m))
		goto out;
	time_t now = time(NULL);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	json_t *man = json_pack("{s:i, s:s, s:s, s:s, s:O, s:I, s:I, s:O}", "format",
				MANIFEST_FORMAT, "apf_version", APF_VERSION, "created_at", when,
				"database", db_name(), "migrations", versions, "objects",
				(json_int_t)m.objects, "object_bytes", (json_int_t)m.bytes, "files",
				m.files);
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	if (!man || json_dump_file(man, path, JSON_INDENT(1) | JSON_SORT_KEYS) < 0) {
		json_decref(man);
		fail("cannot write %s", path);
		goto out;
	}
	json_decref(man);
	c->out = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "dir", dir, "created_at",
			   when, "migrations", (json_int_t)json_array_size(versions), "database_bytes",
			   (json_int_t)dbsize, "objects", (json_int_t)m.objects, "object_bytes",
			   (json_int_t)m.bytes, "objects_after_dump", (json_int_t)(cp.files - first),
			   "ms", (json_int_t)(util_now_ms() - t0));
	rc = c->out ? 0 : fail("out of memory");
out:
	if (fd >= 0)
		close(fd);
	json_decref(mig);
	json_decref(versions);
	json_decref(m.files);
	return rc;
}

/* ---------------------------------------------------------------------------- restore */

static const struct db_query Q_TABLES = {
	"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ?"
};

/* Every file of the manifest has its size and SHA-256, and no file of store/ is missing from
 * the manifest. */
static int verify_backup(const char *dir, const json_t *man)
{
	json_t *f;
	size_t i;
	unsigned long long bad = 0;
	json_array_foreach(json_object_get(man, "files"), i, f) {
		char path[PATH_MAX], hex[65];
		uint64_t size;
		const char *rel = jhelp_str(f, "path");
		if (!rel || strstr(rel, "..") || rel[0] == '/')
			return fail("manifest: bad path %s", rel ? rel : "(none)");
		snprintf(path, sizeof path, "%s/%s", dir, rel);
		if (file_sha256(path, hex, &size) < 0) {
			bad++;
			continue;
		}
		if (size != (uint64_t)json_integer_value(json_object_get(f, "size")) ||
		    strcmp(hex, jhelp_str(f, "sha256") ? jhelp_str(f, "sha256") : "") != 0) {
			fprintf(stderr, "apf-admin: %s: size or SHA-256 differs from the manifest\n",
				path);
			bad++;
		}
	}
	struct manifest listed = { json_array(), 0, 0 };
	char store[PATH_MAX];
	snprintf(store, sizeof store, "%s/store", dir);
	int rc = walk(store, "", add_entry, NULL, &listed);
	if (!rc && listed.objects != (unsigned long long)json_integer_value(
					     json_object_get(man, "objects"))) {
		fprintf(stderr, "apf-admin: %s holds %llu objects, the manifest %lld\n", store,
			listed.objects, json_integer_value(json_object_get(man, "objects")));
		bad++;
	}
	json_decref(listed.files);
	if (rc)
		return rc;
	return bad ? fail("%llu file(s) of %s do not match its manifest: nothing restored", bad,
			  dir)
		   : 0;
}

static int count_entry(const char *root, const char *rel, const struct stat *st, void *ctx)
{
	(void)root;
	(void)rel;
	(void)st;
	++*(unsigned long long *)ctx;
	return 0;
}

/* empty_store: every object and folder under the store goes, its dot entries (.tmp) stay. */
static int remove_file(const char *root, const char *rel, const struct stat *st, void *ctx)
{
	char path[2 * PATH_MAX + 2];
	(void)st;
	(void)ctx;
	snprintf(path, sizeof path, "%s/%s", root, rel);
	return unlink(path) < 0 ? fail("cannot remove %s: %s", path, strerror(errno)) : 0;
}

static int remove_dir(const char *root, const char *rel, const struct stat *st, void *ctx)
{
	char path[2 * PATH_MAX + 2];
	(void)st;
	(void)ctx;
	snprintf(path, sizeof path, "%s/%s", root, rel);
	return rmdir(path) < 0 ? fail("cannot remove %s: %s", path, strerror(errno)) : 0;
}

struct put {
	const char *store;
	const json_t *man;
	uid_t uid;
	gid_t gid;
	int chown;
	unsigned long long objects, bytes;
};

/* Copies one object of the backup into the store and checks the copy's SHA-256. */
static int put_object(const char *root, const char *rel, const struct stat *st, void *ctx)
{
	struct put *p = ctx;
	char src[PATH_MAX], dst[PATH_MAX], hex[65], name[PATH_MAX];
	uint64_t size;
	(void)st;
	snprintf(src, sizeof src, "%s/%s", root, rel);
	snprintf(dst, sizeof dst, "%s/%s", p->store, rel);
	snprintf(name, sizeof name, "store/%s", rel);
	int rc = copy_file(src, dst, hex, &size);
	if (rc < 0)
		return rc == -2 ? fail("%s vanished", src) : EXIT_FAIL;
	const json_t *f;
	size_t i;
	const char *want = NULL;
	json_array_foreach(json_object_get(p->man, "files"), i, f) {
		if (!strcmp(jhelp_str(f, "path"), name))
			want = jhelp_str(f, "sha256");
	}
	if (!want || strcmp(want, hex) != 0)
		return fail("%s: the restored copy's SHA-256 differs from the manifest", dst);
	if (p->chown) {
		/* the object and the folders made for it belong to the store's owner */
		for (char *s = dst + strlen(p->store); s; s = strchr(s + 1, '/')) {
			*s = '\0';
			if (s > dst + strlen(p->store) && chown(dst, p->uid, p->gid) < 0)
				return fail("cannot chown %s: %s", dst, strerror(errno));
			*s = '/';
		}
		if (chown(dst, p->uid, p->gid) < 0)
			return fail("cannot chown %s: %s", dst, strerror(errno));
	}
	p->objects++;
	p->bytes += size;
	return 0;
}

/* DROP and CREATE the configured database (its users' grants stay: they are not dropped with
 * it). */
static int recreate_database(struct ctx *c)
{
	char sql[256];
	const char *db = db_name();
	if (strchr(db, '`'))
		return fail("db_name %s: a backquote is not supported", db);
	snprintf(sql, sizeof sql, "DROP DATABASE `%s`", db);
	enum api_err e = db_exec_text(c->db, sql);
	if (!e) {
		snprintf(sql, sizeof sql, "CREATE DATABASE `%s` CHARACTER SET utf8mb4 COLLATE "
			 "utf8mb4_unicode_ci", db);
		e = db_exec_text(c->db, sql);
	}
	if (!e) {
		snprintf(sql, sizeof sql, "USE `%s`", db);
		e = db_exec_text(c->db, sql);
	}
	return e ? db_failed(c, e) : 0;
}

int cmd_restore(struct ctx *c)
{
	const char *dir = c->arg, *store = cfg_str("file_store", NULL);
	char path[PATH_MAX];
	json_error_t jerr;
	struct db_res res = { 0 };
	unsigned long long objects = 0;
	int rc = EXIT_FAIL, fd = -1;
	int64_t t0 = util_now_ms();
	struct stat sst;

	if (!store || stat(store, &sst) < 0 || !S_ISDIR(sst.st_mode))
		return fail("file_store %s is not a folder", store ? store : "(not set)");
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	json_t *man = json_load_file(path, 0, &jerr);
	if (!man)
		return fail("%s: %s", path, jerr.text);
	if (json_integer_value(json_object_get(man, "format")) != MANIFEST_FORMAT) {
		fail("%s: format %lld, this apf-admin reads %d", path,
		     json_integer_value(json_object_get(man, "format")), MANIFEST_FORMAT);
		goto out;
	}
	/* 1. the backup is whole */
	if (verify_backup(dir, man))
		goto out;
	/* 2. the target is empty, or --force */
	enum api_err e = db_exec(c->db, &Q_TABLES, DB_ARGS(DS(db_name())), &res);
	if (e) {
		db_failed(c, e);
		goto out;
	}
	long long tables = db_get_int(&res, 0, 0, 0);
	db_res_free(&res);
	if (walk(store, "", count_entry, NULL, &objects))
		goto out;
	if ((tables || objects) && !c->opt[O_FORCE]) {
		fail("database %s has %lld tables and %s holds %llu objects: restore needs an empty "
		     "target (--force drops the database and empties the store)", db_name(), tables,
		     store, objects);
		goto out;
	}
	if (tables && recreate_database(c))
		goto out;
	if (objects && walk(store, "", remove_file, remove_dir, NULL))
		goto out;
	/* 3. the database */
	snprintf(path, sizeof path, "%s/database.sql", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fail("cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	int st = run_db_client("mariadb", "mysql", (const char *const[]){ db_name(), NULL }, fd,
			       -1);
	if (st < 0)
		goto out;
	if (st != 0) {
		fail("loading %s into %s failed (exit %d)", path, db_name(), st);
		goto out;
	}
	/* 4. the objects */
	struct put p = { store, man, sst.st_uid, sst.st_gid, geteuid() == 0, 0, 0 };
	snprintf(path, sizeof path, "%s/store", dir);
	if (walk(path, "", put_object, NULL, &p))
		goto out;
	if ((e = db_exec(c->db, &Q_TABLES, DB_ARGS(DS(db_name())), &res)) != E_OK) {
		db_failed(c, e);
		goto out;
	}
	c->out = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:O?, s:I}", "dir", dir, "database",
			   db_name(), "backup_created_at", jhelp_str(man, "created_at"), "tables",
			   (json_int_t)db_get_int(&res, 0, 0, 0), "objects", (json_int_t)p.objects,
			   "object_bytes", (json_int_t)p.bytes, "migrations",
			   json_object_get(man, "migrations"),
			   "ms", (json_int_t)(util_now_ms() - t0));
	rc = c->out ? 0 : fail("out of memory");
out:
	if (fd >= 0)
		close(fd);
	db_res_free(&res);
	json_decref(man);
	return rc;
}
