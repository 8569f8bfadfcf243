/* admin_doctor.c - apf-admin doctor: is this installation able to run? (docs/operations.md,
 * "apf-admin doctor").
 *
 * One check per row of CHECKS, in order; each prints one line "ok", "warn", "FAIL" or "skipped"
 * with its detail (--json: an array of {check, status, detail}). The exit status is 1 when a
 * check failed. doctor loads the configuration and opens the database itself (CMD_NODB), so that
 * a configuration that does not load or a database that does not answer is a FAIL line rather
 * than an early exit; the checks that need what failed say "skipped". */
#include "admin.h"

#include "dynsec.h"
#include "instpath.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum status { ST_OK, ST_WARN, ST_FAIL, ST_SKIP };
static const char *const STATUS[] = { "ok", "warn", "FAIL", "skipped" };

struct doctor {
	struct ctx *c;
	int conf_ok;   /* the configuration loaded */
	int db_ok;     /* the database answered */
	json_t *rows;
	int failed;
};

static void report(struct doctor *d, const char *check, enum status st, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void report(struct doctor *d, const char *check, enum status st, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	d->failed |= st == ST_FAIL;
	json_array_append_new(d->rows, json_pack("{s:s, s:s, s:s}", "check", check, "status",
						 STATUS[st], "detail", detail));
}

/* ------------------------------------------------------------------------ configuration */

/* Keys every program needs (docs/operations.md, "apf.conf"). */
static const char *const REQUIRED[] = {
	"db_name", "db_user", "db_password", "mqtt_username", "mqtt_password", "file_store",
	"upload_secret", "base_url", "fcgi_socket", NULL
};
/* Keys naming a file or folder that must exist when set. */
static const char *const PATHS[] = {
	"file_store", "sql_dir", "tls_cert", "tls_key", "log_dir", "nginx_conf", "db_socket", NULL
};

static void check_config(struct doctor *d)
{
	const char *path = cfg_default_path(d->c->opt[O_CONF]);
	FILE *f = fopen(path, "r");
	if (!f) {
		report(d, "config", ST_FAIL, "cannot read %s: %s", path, strerror(errno));
		return;
	}
	char line[4096], bad[256] = "";
	unsigned n = 0, nbad = 0;
	while (fgets(line, sizeof line, f)) {
		n++;
		const char *s = line + strspn(line, " \t\r\n");
		if (*s && *s != '#' && !strchr(s, '=') && nbad++ == 0)
			snprintf(bad, sizeof bad, "line %u has no '='", n);
	}
	fclose(f);
	if (cfg_load(path) < 0) {
		report(d, "config", ST_FAIL, "cannot load %s", path);
		return;
	}
	d->conf_ok = 1;
	char missing[512] = "";
	size_t o = 0;
	for (unsigned i = 0; REQUIRED[i]; i++)
		if (!cfg_str(REQUIRED[i], NULL))
			o += (size_t)snprintf(missing + o, sizeof missing - o, "%s%s", o ? ", " : "",
					      REQUIRED[i]);
	if (!cfg_str("db_socket", NULL) && !cfg_str("db_host", NULL) && !cfg_str("db_hosts", NULL))
		o += (size_t)snprintf(missing + o, sizeof missing - o, "%sdb_socket or db_host",
				      o ? ", " : "");
	if (o) {
		report(d, "config", ST_FAIL, "%s: missing or empty: %s", path, missing);
		return;
	}
	for (unsigned i = 0; PATHS[i]; i++) {
		const char *p = cfg_str(PATHS[i], NULL);
		struct stat st;
		if (p && stat(p, &st) < 0) {
			report(d, "config", ST_FAIL, "%s: %s = %s: %s", path, PATHS[i], p,
			       strerror(errno));
			return;
		}
	}
	if (nbad)
		report(d, "config", ST_FAIL, "%s: %s (%u such lines)", path, bad, nbad);
	else
		report(d, "config", ST_OK, "%s: %u lines, required keys present, named files exist",
		       path, n);
}

/* ----------------------------------------------------------------------------- database */

static const struct db_query Q_PING = { "SELECT VERSION(), DATABASE(), CURRENT_USER()" };
static const struct db_query Q_CLOCK = { "SELECT UNIX_TIMESTAMP(NOW(6))" };
static const struct db_query Q_DATADIR = { "SELECT @@datadir" };

static void check_database(struct doctor *d)
{
	struct db_res res;
	if (!d->conf_ok) {
		report(d, "database", ST_SKIP, "no configuration");
		return;
	}
	if (!(d->c->db = db_open())) {
		report(d, "database", ST_FAIL, "out of memory");
		return;
	}
	enum api_err e = db_exec(d->c->db, &Q_PING, NULL, 0, &res);
	if (e) {
		report(d, "database", ST_FAIL, "%s@%s: MariaDB error %u", cfg_str("db_user", "apf"),
		       cfg_str("db_socket", cfg_str("db_hosts", cfg_str("db_host", "127.0.0.1"))),
		       db_errno(d->c->db));
	} else {
		d->db_ok = 1;
		report(d, "database", ST_OK, "MariaDB %s, database %s as %s", db_get(&res, 0, 0),
		       db_get(&res, 0, 1), db_get(&res, 0, 2));
	}
	db_res_free(&res);
}

/* Through migrate --status: every sql/ migration applied, none unknown. */
static void check_migrations(struct doctor *d)
{
	if (!d->db_ok) {
		report(d, "migrations", ST_SKIP, "no database");
		return;
	}
	char *saved = d->c->opt[O_STATUS];
	d->c->opt[O_STATUS] = "1";
	int rc = cmd_migrate(d->c);
	d->c->opt[O_STATUS] = saved;
	json_t *out = d->c->out;
	d->c->out = NULL;
	if (rc || !out) {
		report(d, "migrations", ST_FAIL, "cannot compare %s with schema_migrations",
		       inst_sql_dir());
	} else {
		long long applied = json_integer_value(json_object_get(out, "applied"));
		long long pending = json_integer_value(json_object_get(out, "pending"));
		long long unknown = json_integer_value(json_object_get(out, "unknown"));
		const char *last = NULL;
		json_t *row;
		size_t i;
		json_array_foreach(json_object_get(out, "data"), i, row) {
			if (!strcmp(jhelp_str(row, "state"), "applied"))
				last = jhelp_str(row, "version");
		}
		if (pending || unknown)
			report(d, "migrations", ST_FAIL, "%lld applied, %lld pending, %lld unknown to "
			       "this version (apf-admin migrate --status)", applied, pending, unknown);
		else
			report(d, "migrations", ST_OK, "%lld applied, the last %s", applied,
			       last ? last : "-");
	}
	json_decref(out);
}

/* ------------------------------------------------------------------------------- broker */

static void check_broker(struct doctor *d)
{
	struct dynsec_broker b[DYNSEC_MAX_BROKERS];
	char err[256], list[1024] = "";
	size_t o = 0;
	if (!d->conf_ok) {
		report(d, "broker", ST_SKIP, "no configuration");
		return;
	}
	const char *user = cfg_str("mqtt_username", NULL), *pw = cfg_str("mqtt_password", NULL);
	int n = dynsec_brokers(b, DYNSEC_MAX_BROKERS, err, sizeof err);
	if (n <= 0 || !user || !pw) {
		report(d, "broker", ST_FAIL, "%s", n < 0 ? err : n == 0 ? "no broker configured"
						  : "mqtt_username / mqtt_password missing");
		return;
	}
	for (int i = 0; i < n; i++) {
		int rc = dynsec_login(&b[i], NULL, user, pw);
		if (rc == -1) {
			report(d, "broker", ST_FAIL, "%s:%d: no CONNACK (not reachable)", b[i].host,
			       b[i].port);
			return;
		}
		if (rc != 0) {
			report(d, "broker", ST_FAIL, "%s:%d: %s refused (CONNACK %d)", b[i].host,
			       b[i].port, user, rc);
			return;
		}
		o += (size_t)snprintf(list + o, sizeof list - o, "%s%s:%d", o ? ", " : "", b[i].host,
				      b[i].port);
	}
	report(d, "broker", ST_OK, "%s accepted by %d broker(s): %s", user, n, list);
}

/* -------------------------------------------------------------------------------- nginx */

/* nginx -t -q -e stderr -c <conf nginx_conf> [-p <conf nginx_prefix>]; its output in out. */
static int run_nginx_test(const char *conf, char *out, size_t size)
{
	int fd[2];
	if (pipe(fd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		const char *prefix = cfg_str("nginx_prefix", NULL);
		const char *bin = cfg_str("nginx_bin", NULL);
		dup2(fd[1], 1);
		dup2(fd[1], 2);
		close(fd[0]);
		close(fd[1]);
		const char *argv[] = { "nginx", "-t", "-q", "-e", "stderr", "-c", conf,
				       prefix ? "-p" : NULL, prefix, NULL };
		if (bin)
			execv(bin, (char *const *)argv);
		execvp("nginx", (char *const *)argv);
		execv("/usr/sbin/nginx", (char *const *)argv);
		fprintf(stderr, "cannot run nginx: %s\n", strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	size_t len = 0;
	ssize_t got;
	char rest[256];
	while (len < size - 1 && (got = read(fd[0], out + len, size - 1 - len)) > 0)
		len += (size_t)got;
	out[len] = '\0';
	while (read(fd[0], rest, sizeof rest) > 0) /* the rest, unread */
		;
	close(fd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (char *p = out; *p; p++)
		if (*p == '\n' && p[1])
			*p = ' ';
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void check_nginx(struct doctor *d)
{
	char out[1024];
	const char *conf = d->conf_ok ? cfg_str("nginx_conf", NULL) : NULL;
	if (!conf) {
		report(d, "nginx", ST_SKIP, "no nginx_conf in the configuration");
		return;
	}
	int rc = run_nginx_test(conf, out, sizeof out);
	out[strcspn(out, "\n")] = '\0';
	if (rc == 0)
		report(d, "nginx", ST_OK, "nginx -t: %s is valid", conf);
	else
		report(d, "nginx", ST_FAIL, "nginx -t -c %s (exit %d): %s", conf, rc, out);
}

/* -------------------------------------------------------------------------- certificate */

static void check_certificate(struct doctor *d)
{
	const char *path = d->conf_ok ? cfg_str("tls_cert", NULL) : NULL;
	long warn_days = d->conf_ok ? cfg_int("doctor_cert_warn_days", 30) : 30;
	if (!path) {
		report(d, "certificate", ST_SKIP, "no tls_cert in the configuration");
		return;
	}
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!x) {
		report(d, "certificate", ST_FAIL, "%s: %s", path,
		       f ? "no PEM certificate" : strerror(errno));
		return;
	}
	int days = 0, secs = 0;
	char when[64] = "";
	const ASN1_TIME *end = X509_get0_notAfter(x);
	struct tm tm;
	if (ASN1_TIME_to_tm(end, &tm) == 1)
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!ASN1_TIME_diff(&days, &secs, NULL, end))
		report(d, "certificate", ST_FAIL, "%s: unreadable expiry", path);
	else if (days < 0 || (days == 0 && secs <= 0))
		report(d, "certificate", ST_FAIL, "%s expired on %s", path, when);
	else if (days < warn_days)
		report(d, "certificate", ST_WARN, "%s expires in %d days (%s)", path, days, when);
	else
		report(d, "certificate", ST_OK, "%s valid until %s (%d days)", path, when, days);
	X509_free(x);
}

/* --------------------------------------------------------------------------- file store */

/* A probe file created, written, flushed and removed. Its name starts with '.', which no
 * storage key does (common/storage.h), so it can never be an object. */
static void check_store(struct doctor *d)
{
	const char *dir = d->conf_ok ? cfg_str("file_store", NULL) : NULL;
	char path[4096], rnd[17];
	if (!dir) {
		report(d, "file store", ST_SKIP, "no file_store in the configuration");
		return;
	}
	if (util_random_hex(rnd, 8) < 0)
		snprintf(rnd, sizeof rnd, "%d", (int)getpid());
	snprintf(path, sizeof path, "%s/.doctor-%s", dir, rnd);
	/* as root the probe passes whatever the modes: the owner says whom the folder serves */
	struct stat st;
	const struct passwd *pw = stat(dir, &st) == 0 ? getpwuid(st.st_uid) : NULL;
	const char *owner = pw ? pw->pw_name : "?";
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		report(d, "file store", ST_FAIL, "cannot create a file in %s: %s", dir,
		       strerror(errno));
		return;
	}
	int ok = write(fd, "apf", 3) == 3 && fsync(fd) == 0;
	int err = errno;
	close(fd);
	if (unlink(path) < 0) {
		report(d, "file store", ST_FAIL, "cannot remove %s: %s", path, strerror(errno));
		return;
	}
	if (!ok)
		report(d, "file store", ST_FAIL, "cannot write to %s: %s", dir, strerror(err));
	else
		report(d, "file store", ST_OK, "%s (owner %s): a probe file created, written and removed",
		       dir, owner);
}

/* ---------------------------------------------------------------------------- disk space */

/* Fails under conf doctor_min_free_mb (default 1024), warns under 10 % free. */
static void disk_line(const char *what, const char *dir, char *buf, size_t size, size_t *o,
		      enum status *worst)
{
	struct statvfs v;
	long min_mb = cfg_int("doctor_min_free_mb", 1024);
	if (statvfs(dir, &v) < 0) {
		*o += (size_t)snprintf(buf + *o, size - *o, "%s%s %s: %s", *o ? "; " : "", what, dir,
				       strerror(errno));
		*worst = ST_FAIL;
		return;
	}
	unsigned long long free_mb = (unsigned long long)v.f_bavail * v.f_frsize >> 20;
	unsigned long long total_mb = (unsigned long long)v.f_blocks * v.f_frsize >> 20;
	unsigned pct = total_mb ? (unsigned)(free_mb * 100 / total_mb) : 0;
	enum status st = free_mb < (unsigned long long)min_mb ? ST_FAIL : pct < 10 ? ST_WARN : ST_OK;
	if (st > *worst)
		*worst = st;
	*o += (size_t)snprintf(buf + *o, size - *o, "%s%s %s: %llu MiB free (%u %%)%s",
			       *o ? "; " : "", what, dir, free_mb, pct,
			       st == ST_FAIL ? " < doctor_min_free_mb" : "");
}

/* The database's datadir when the server is on this host (a unix socket, or a loopback
 * db_host). */
static int db_local(void)
{
	const char *h = cfg_str("db_host", "127.0.0.1");
	return !cfg_str("db_hosts", NULL) &&
	       (cfg_str("db_socket", NULL) || !strcmp(h, "127.0.0.1") || !strcmp(h, "localhost") ||
		!strcmp(h, "::1"));
}

static void check_disk(struct doctor *d)
{
	char buf[1024] = "";
	size_t o = 0;
	enum status worst = ST_OK;
	if (!d->conf_ok) {
		report(d, "disk", ST_SKIP, "no configuration");
		return;
	}
	if (cfg_str("file_store", NULL))
		disk_line("file store", cfg_str("file_store", NULL), buf, sizeof buf, &o, &worst);
	if (d->db_ok && db_local()) {
		struct db_res res;
		if (db_exec(d->c->db, &Q_DATADIR, NULL, 0, &res) == E_OK && db_get(&res, 0, 0))
			disk_line("datadir", db_get(&res, 0, 0), buf, sizeof buf, &o, &worst);
		db_res_free(&res);
	} else {
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%sdatadir: not on this host",
				      o ? "; " : "");
	}
	report(d, "disk", worst, "%s", buf);
}

/* -------------------------------------------------------------------------------- clock */

/* This host's clock against the database server's NOW(): warns beyond 1 s, fails beyond conf
 * doctor_max_clock_skew seconds (default 5). The round trip's midpoint is compared. */
static void check_clock(struct doctor *d)
{
	struct db_res res;
	if (!d->db_ok) {
		report(d, "clock", ST_SKIP, "no database");
		return;
	}
	int64_t t0 = util_now_ms();
	enum api_err e = db_exec(d->c->db, &Q_CLOCK, NULL, 0, &res);
	int64_t t1 = util_now_ms();
	if (e || !db_get(&res, 0, 0)) {
		report(d, "clock", ST_FAIL, "cannot read the database's clock");
		db_res_free(&res);
		return;
	}
	double skew = strtod(db_get(&res, 0, 0), NULL) - (double)(t0 + t1) / 2000.0;
	db_res_free(&res);
	double max = (double)cfg_int("doctor_max_clock_skew", 5);
	double a = skew < 0 ? -skew : skew;
	report(d, "clock", a > max ? ST_FAIL : a > 1.0 ? ST_WARN : ST_OK,
	       "database clock %+.3f s from this host's (limit %.0f s)", skew, max);
}

/* --------------------------------------------------------------------------------------- */

static void (*const CHECKS[])(struct doctor *) = {
	check_config, check_database, check_migrations, check_broker, check_nginx,
	check_certificate, check_store, check_disk, check_clock,
};

int cmd_doctor(struct ctx *c)
{
	struct doctor d = { .c = c, .rows = json_array() };
	if (!d.rows)
		return fail("out of memory");
	for (size_t i = 0; i < sizeof CHECKS / sizeof CHECKS[0]; i++)
		CHECKS[i](&d);
	json_t *row;
	size_t i;
	if (c->opt[O_JSON]) {
		json_dumpf(d.rows, stdout, JSON_COMPACT);
		fputc('\n', stdout);
	} else {
		json_array_foreach(d.rows, i, row) {
			printf("%-7s %-12s %s\n", jhelp_str(row, "status"), jhelp_str(row, "check"),
			       jhelp_str(row, "detail"));
		}
	}
	json_decref(d.rows);
	if (fflush(stdout) != 0)
		return fail("cannot write the output: %s", strerror(errno));
	return d.failed ? EXIT_FAIL : 0;
}
