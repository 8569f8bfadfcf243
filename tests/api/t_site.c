/* t_site.c - the production nginx site (nginx/apf-site.conf) does what its comments claim.
 *
 * The local stack runs nginx from its own template (nginx/apf-local.conf.in); the file operators
 * install is a different one. This suite renders that very file into a private folder by text
 * substitution only (ports, certificate, FastCGI socket, log folder, fastcgi_params: the lines
 * that name the host's paths), wraps it in a minimal main config, requires `nginx -t` to pass,
 * and runs it beside the stack: same certificate, same apf-fcgi behind it. Over TLS it checks:
 *   - forward secrecy only: TLS 1.2 handshakes offering only non-forward-secret or non-AEAD
 *     suites, and TLS 1.1, are refused by the server (a TLS alert), while the same client settings
 *     handshake with a permissive control server in the same nginx (so the refusal is the site's,
 *     not the client library's policy); an ECDHE AEAD suite and TLS 1.3 handshake;
 *   - no TLS 1.2 session tickets (the control server issues one to the same client), sessions
 *     resume through the shared cache instead;
 *   - Strict-Transport-Security on every kind of answer: the app's (200, 401), nginx's own 404,
 *     413 (JSON body and upload), 429 and 502 (the upstream socket gone);
 *   - per-address connection limits: the 9th concurrent upload and the 201st concurrent request
 *     are refused by nginx with 429 RATE_LIMITED, and an upload counts against the server-wide
 *     limit too;
 *   - the access log and the error log never hold an upload token; the access log writes
 *     <redacted> instead.
 * Requests carry Host apf.example.com (the site's server_name); TLS goes to 127.0.0.1, which the
 * stack's certificate covers, so chain and host verification both stay on. */
#include "rig.h"
#include "raw.h"

#include "budget.h"
#include "cfg.h"
#include "uptoken.h"
#include "util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SITE_HOST "apf.example.com"
#define SITE_FILE "nginx/apf-site.conf"
#define HSTS_MIN_AGE 31536000LL /* a year, as the site sends */
#define UPLOAD_CONN_MAX 8       /* limit_conn apf_upload_conn */
#define CONN_MAX 200            /* limit_conn apf_conn */
#define NGINX_429_TEXT "Too many requests from this address; slow down"
#define PATH_LEN 512
#define DIR_LEN 256 /* S.dir: its paths fit PATH_LEN */

/* The running copy of the site. */
static struct {
	char dir[DIR_LEN];           /* private folder: configs, logs, pid, temp paths */
	char sock[PATH_LEN];         /* dir/fcgi.sock: symlink to the stack's FastCGI socket */
	char ca[PATH_LEN];           /* the stack's certificate (also the client's CA) */
	int https, http, ctl;        /* the site's two ports and the control server's */
	pid_t keeper;                /* our child; nginx's master (daemon off) is its child */
	int up;
} S;

/* Upload tokens sent to the site during the suite: none may reach its logs. */
#define MAX_TOKENS 48
static char tokens[MAX_TOKENS][UPTOKEN_MAX];
static int ntokens;

static void remember_token(const char *tok)
{
	if (ntokens < MAX_TOKENS)
		snprintf(tokens[ntokens++], UPTOKEN_MAX, "%s", tok);
}

/* dir/name into out. */
static const char *in_dir(char out[PATH_LEN], const char *name)
{
	snprintf(out, PATH_LEN, "%s/%s", S.dir, name);
	return out;
}

/* --------------------------------------------------------------------------------- files */

/* The whole file (NUL-terminated, caller frees) or NULL. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 16384;
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

static int spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Replaces every occurrence of from in *text by to. Returns the count (-1: out of memory). */
static int subst(char **text, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to);
	int n = 0;
	for (const char *p = *text; (p = strstr(p, from)); p += fl)
		n++;
	if (n == 0)
		return 0;
	char *out = malloc(strlen(*text) + (size_t)n * tl + 1), *o = out;
	if (!out)
		return -1;
	const char *p = *text;
	for (const char *q; (q = strstr(p, from)); p = q + fl) {
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, tl);
		o += tl;
	}
	strcpy(o, p);
	free(*text);
	*text = out;
	return n;
}

/* Removes every line that contains needle. Returns the count. */
static int drop_lines(char *text, const char *needle)
{
	int n = 0;
	char *line = text;
	while (*line) {
		char *nl = strchr(line, '\n');
		char *end = nl ? nl + 1 : line + strlen(line);
		char *hit = strstr(line, needle);
		if (hit && hit < end) {
			memmove(line, end, strlen(end) + 1);
			n++;
		} else {
			line = end;
		}
	}
	return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* The first directive line (comments aside) that still names a path of the production host. */
static const char *host_path_left(const char *text)
{
	static const char *const host[] = { "/etc/apf", "/run/apf", "/var/log", NULL };
	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n'), *end = nl ? nl : l + strlen(l);
		const char *hash = memchr(l, '#', (size_t)(end - l));
		const char *stop = hash ? hash : end;
		for (int i = 0; host[i]; i++) {
			const char *hit = strstr(l, host[i]);
			if (hit && hit < stop)
				return l;
		}
		l = nl ? nl + 1 : end;
	}
	return NULL;
}

/* ---------------------------------------------------------------------------- processes */

static const char *nginx_bin(void)
{
	return access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "nginx";
}

/* Runs argv with stdout and stderr into out (size bytes, NUL-terminated). Exit status or -1. */
static int run_capture(char *const argv[], char *out, size_t size)
{
	char tmp[PATH_LEN];
	in_dir(tmp, "cmd.out");
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	char *text = slurp(tmp);
	snprintf(out, size, "%s", text ? text : "");
	free(text);
	unlink(tmp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Three distinct free loopback ports. */
static int free_ports(int *a, int *b, int *c)
{
	int fds[3] = { -1, -1, -1 }, ports[3] = { 0, 0, 0 }, rc = 0;
	for (int i = 0; i < 3; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t sl = sizeof sa;
		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0 ||
		    getsockname(fds[i], (struct sockaddr *)&sa, &sl) < 0) {
			rc = -1;
			break;
		}
		ports[i] = ntohs(sa.sin_port);
	}
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	*a = ports[0];
	*b = ports[1];
	*c = ports[2];
	return rc;
}

/* The `user` line of the stack's generated nginx.conf (scripts/stack.sh, nginx_user_line: its
 * workers must reach the FastCGI socket, and so must ours), or a comment when it has none. */
static void stack_user_line(char *out, size_t size)
{
	char path[PATH_LEN];
	snprintf(path, sizeof path, "%s/nginx/nginx.conf", cfg_str("var_dir", "."));
	char *text = slurp(path);
	snprintf(out, size, "# %s has no user line: workers run as this user", path);
	for (char *l = text; l && *l;) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(l, "user ", 5) == 0) {
			snprintf(out, size, "%s", l);
			break;
		}
		l = nl ? nl + 1 : l + strlen(l);
	}
	free(text);
}

/* The site rendered into S.dir/apf-site.conf, the main config into S.dir/nginx.conf. 0 or -1
 * (failure recorded). */
static int render(void)
{
	const char *src = getenv("APF_SRC") && *getenv("APF_SRC") ? getenv("APF_SRC") : ".";
	char path[PATH_LEN], buf[PATH_LEN + 64], user[PATH_LEN + 64];
	char logs[PATH_LEN], site[PATH_LEN], conf[PATH_LEN];
	char *repo = realpath(src, NULL);
	if (!repo)
		return CHECK(0, NULL, "APF_SRC %s: %s", src, strerror(errno)) - 1;
	snprintf(path, sizeof path, "%s/" SITE_FILE, repo);
	char *t = slurp(path);
	if (!t) {
		free(repo);
		return CHECK(0, NULL, "cannot read %s: %s", path, strerror(errno)) - 1;
	}

	const char *cert = cfg_str("tls_cert", ""), *key = cfg_str("tls_key", "");
	snprintf(logs, sizeof logs, "%s/", S.dir);
	int ok = 1;
	/* each substitution must apply: a site that no longer has the line fails here, loudly */
#define SUB(from, to, want)                                                                    \
	do {                                                                                   \
		int n_ = subst(&t, (from), (to));                                             \
		ok &= CHECK(n_ == (want) || ((want) < 0 && n_ > 0), NULL,                      \
			    SITE_FILE ": \"%s\" found %d times, want %d", (from), n_, (want)); \
	} while (0)
	ok &= CHECK(drop_lines(t, "listen [::]:") == 2, NULL,
		    SITE_FILE ": want two IPv6 listen lines (80 and 443)");
	snprintf(buf, sizeof buf, "listen 127.0.0.1:%d ssl http2;", S.https);
	SUB("listen 443 ssl http2;", buf, 1);
	snprintf(buf, sizeof buf, "listen 127.0.0.1:%d;", S.http);
	SUB("listen 80;", buf, 1);
	/* the metrics listener (docs/observability.md) on a socket of its own: no fixed port */
	snprintf(buf, sizeof buf, "listen unix:%s/metrics.sock;", S.dir);
	SUB("listen 127.0.0.1:9188;", buf, 1);
	SUB("/etc/apf/tls/fullchain.pem", cert, 1);
	SUB("/etc/apf/tls/privkey.pem", key, 1);
	snprintf(buf, sizeof buf, "unix:%s", S.sock);
	SUB("unix:/run/apf/apf-fcgi.sock", buf, 1);
	SUB("/var/log/nginx/", logs, -1);
	if (access("/etc/nginx/fastcgi_params", R_OK) != 0) {
		snprintf(buf, sizeof buf, "include %s/nginx/fastcgi_params;", repo);
		SUB("include /etc/nginx/fastcgi_params;", buf, -1);
	}
	free(repo);
#undef SUB
	const char *left = host_path_left(t);
	ok &= CHECK(!left, NULL, SITE_FILE ": a host path is left after rendering: %.80s", left);
	ok &= CHECK(spit(in_dir(site, "apf-site.conf"), t) == 0, NULL, "cannot write %s", site);
	free(t);

	char tmp[PATH_LEN], mime[PATH_LEN + 32] = "";
	in_dir(tmp, "tmp");
	if (access("/etc/nginx/mime.types", R_OK) == 0)
		snprintf(mime, sizeof mime, "include /etc/nginx/mime.types;");
	stack_user_line(user, sizeof user);
	size_t cap = 8192 + 16 * PATH_LEN;
	char *main_conf = malloc(cap);
	if (!main_conf)
		return -1;
	snprintf(main_conf, cap,
		 "# generated by tests/api/t_site.c around " SITE_FILE "\n"
		 "%s\n"
		 "worker_processes 1;\n"
		 "daemon off;\n"
		 "pid %s/nginx.pid;\n"
		 "error_log %s/error.log warn;\n"
		 "events {}\n"
		 "http {\n"
		 "    %s\n"
		 "    client_body_temp_path %s/client_body;\n"
		 "    fastcgi_temp_path %s/fastcgi;\n"
		 "    proxy_temp_path %s/proxy;\n"
		 "    scgi_temp_path %s/scgi;\n"
		 "    uwsgi_temp_path %s/uwsgi;\n"
		 "    include %s;\n"
		 "    # control: the same certificate with every protocol and suite allowed and\n"
		 "    # session tickets on, to show the client can do what the site refuses\n"
		 "    server {\n"
		 "        listen 127.0.0.1:%d ssl;\n"
		 "        ssl_certificate     %s;\n"
		 "        ssl_certificate_key %s;\n"
		 "        ssl_protocols TLSv1.1 TLSv1.2 TLSv1.3;\n"
		 "        ssl_ciphers ALL:@SECLEVEL=0;\n"
		 "        ssl_session_tickets on;\n"
		 "        access_log off;\n"
		 "        location / { return 204; }\n"
		 "    }\n"
		 "}\n",
		 user, S.dir, S.dir, mime, tmp, tmp, tmp, tmp, tmp, site, S.ctl, cert, key);
	ok &= CHECK(spit(in_dir(conf, "nginx.conf"), main_conf) == 0, NULL, "cannot write %s",
		    conf);
	free(main_conf);
	ok &= CHECK(mkdir(tmp, 0750) == 0, NULL, "mkdir %s: %s", tmp, strerror(errno));
	return ok ? 0 : -1;
}

static pid_t pid_file(void)
{
	char path[PATH_LEN];
	char *t = slurp(in_dir(path, "nginx.pid"));
	long pid = t ? strtol(t, NULL, 10) : 0;
	free(t);
	return (pid_t)pid;
}

/* Something accepts TCP connections on 127.0.0.1:port. */
static int port_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* nginx -t, then nginx in the foreground under a keeper process of ours; waits until it
 * listens. 0 or -1. */
static int site_start(void)
{
	char conf[PATH_LEN], elog[PATH_LEN], out[8192], outp[PATH_LEN];
	in_dir(conf, "nginx.conf");
	in_dir(elog, "error.log");
	char *test[] = { (char *)nginx_bin(), "-t", "-p", S.dir, "-c", conf, "-e", elog, NULL };
	int rc = run_capture(test, out, sizeof out);
	if (!CHECK(rc == 0, NULL, "nginx -t of the rendered " SITE_FILE " failed (exit %d): %s",
		   rc, out))
		return -1;
	in_dir(outp, "nginx.out");
	pid_t pid = fork();
	if (pid < 0)
		return CHECK(0, NULL, "fork: %s", strerror(errno)) - 1;
	if (pid == 0) {
		/* The keeper: it ends with the tests, however they end (a suite timeout SIGKILLs
		 * the tests' children), and nginx's master then gets SIGTERM and stops its worker
		 * too; a SIGKILLed master would leave the worker running. */
		pid_t keeper = getpid();
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		pid_t m = fork();
		if (m == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != keeper)
				_exit(1);
			char *run[] = { (char *)nginx_bin(), "-p", S.dir, "-c", conf, "-e", elog,
					NULL };
			execvp(run[0], run);
			_exit(127);
		}
		int st = 0;
		while (m > 0 && waitpid(m, &st, 0) < 0 && errno == EINTR)
			;
		_exit(m > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : 1);
	}
	S.keeper = pid;
	int64_t end = util_now_ms() + 10000;
	while (util_now_ms() < end) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			S.keeper = 0;
			char *o = slurp(outp), *e = slurp(elog);
			CHECK(0, NULL, "the site's nginx exited at once: %s %s", o ? o : "",
			      e ? e : "");
			free(o);
			free(e);
			return -1;
		}
		if (pid_file() > 0 && port_open(S.https) && port_open(S.http) && port_open(S.ctl))
			return 0;
		sleep_ms(50);
	}
	return CHECK(0, NULL, "the site's nginx did not listen within 10 s") - 1;
}

/* Stops the nginx (SIGTERM to the master named by its pid file; the keeper ends with it) and
 * removes the folder. */
static void site_stop(void)
{
	if (S.keeper > 0) {
		pid_t master = pid_file();
		if (master > 0)
			kill(master, SIGTERM); /* fast shutdown: the master stops its worker, exits */
		else
			kill(S.keeper, SIGKILL); /* no pid file yet: the master gets SIGTERM */
		int64_t end = util_now_ms() + 10000;
		int st, reaped = 0;
		while (!(reaped = waitpid(S.keeper, &st, WNOHANG) != 0) && util_now_ms() < end)
			sleep_ms(20);
		if (!reaped) {
			kill(S.keeper, SIGKILL);
			waitpid(S.keeper, &st, 0);
		}
		S.keeper = 0;
	}
	if (S.dir[0])
		nftw(S.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	S.dir[0] = '\0';
	S.up = 0;
}

static int suite_init(void)
{
	memset(&S, 0, sizeof S);
	ntokens = 0;
	return 0;
}

static int suite_clean(void)
{
	site_stop();
	return 0;
}

/* The site is running (the first test started it). */
static int need_site(void)
{
	return CHECK(S.up, NULL, "the site's nginx is not running (see test_site_config)") ? 0
											      : -1;
}

/* --------------------------------------------------------------------------------- TLS */

/* A client context: protocol range, TLS 1.2 suites (NULL: the library's default), the stack's
 * certificate as the only CA, peer verification on. */
static SSL_CTX *tls_ctx(int minv, int maxv, const char *ciphers)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, minv) ||
	    !SSL_CTX_set_max_proto_version(ctx, maxv) ||
	    (ciphers && !SSL_CTX_set_cipher_list(ctx, ciphers)) ||
	    SSL_CTX_load_verify_locations(ctx, S.ca, NULL) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* Connects to 127.0.0.1:port as the site's clients do: SNI apf.example.com, the certificate
 * checked for 127.0.0.1 (ctx verifies the peer); resumes sess when given. 0, or -1 with
 * c->err / c->why. */
static int site_connect(struct raw *c, SSL_CTX *ctx, int port, SSL_SESSION *sess)
{
	return raw_connect(c, &(struct raw_opt){ .port = port, .ctx = ctx, .sni = SITE_HOST,
						 .verify_ip = "127.0.0.1", .session = sess,
						 .timeout_s = 10 });
}

/* The alert the server sent that failed the handshake (OpenSSL's reason = 1000 + alert), or -1. */
static int server_alert(const struct raw *c)
{
	if (ERR_GET_LIB(c->err) != ERR_LIB_SSL || ERR_GET_REASON(c->err) <= SSL_AD_REASON_OFFSET)
		return -1;
	return ERR_GET_REASON(c->err) - SSL_AD_REASON_OFFSET;
}

struct hs {
	int ok, alert, ticket, reused;   /* alert: the server's, -1 none */
	char version[16], cipher[64], why[256];
};

/* One handshake with these client settings; sess: resume it; keep: receives the session. */
static void handshake(int port, int minv, int maxv, const char *ciphers, SSL_SESSION *sess,
		      struct hs *h, SSL_SESSION **keep)
{
	struct raw c;
	memset(h, 0, sizeof *h);
	h->alert = -1;
	SSL_CTX *ctx = tls_ctx(minv, maxv, ciphers);
	if (!ctx) {
		snprintf(h->why, sizeof h->why, "client cannot be set up for \"%s\"",
			 ciphers ? ciphers : "default");
		return;
	}
	if (site_connect(&c, ctx, port, sess) == 0) {
		h->ok = 1;
		snprintf(h->version, sizeof h->version, "%s", SSL_get_version(c.ssl));
		snprintf(h->cipher, sizeof h->cipher, "%s", SSL_get_cipher_name(c.ssl));
		h->ticket = SSL_SESSION_has_ticket(SSL_get_session(c.ssl));
		h->reused = SSL_session_reused(c.ssl);
		if (keep)
			*keep = SSL_get1_session(c.ssl);
	} else {
		h->alert = server_alert(&c);
		snprintf(h->why, sizeof h->why, "%s", c.why);
	}
	raw_close(&c, 0);
	SSL_CTX_free(ctx);
}

/* Every TLS 1.2 suite the client library knows (authenticated by a certificate) that is not
 * ECDHE key exchange with an AEAD cipher, as an OpenSSL cipher list. */
static int weak_suites(char *out, size_t size)
{
	SSL_CTX *ctx = tls_ctx(TLS1_2_VERSION, TLS1_2_VERSION, "ALL:!aNULL:!PSK:!SRP:@SECLEVEL=0");
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	STACK_OF(SSL_CIPHER) *all = ssl ? SSL_get_ciphers(ssl) : NULL;
	int n = 0;
	out[0] = '\0';
	for (int i = 0; all && i < sk_SSL_CIPHER_num(all); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
		if (strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == 0)
			continue; /* TLS 1.3 suites are all ephemeral */
		if (SSL_CIPHER_get_kx_nid(c) == NID_kx_ecdhe && SSL_CIPHER_is_aead(c))
			continue;
		size_t l = strlen(out);
		snprintf(out + l, size - l, "%s%s", n ? ":" : "", SSL_CIPHER_get_name(c));
		n++;
	}
	size_t l = strlen(out);
	snprintf(out + l, size - l, ":@SECLEVEL=0");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return n;
}

/* The site refuses a handshake with the alert want (SSL_AD_*) while the control server accepts
 * the same client settings. */
static void refused_at(const char *what, int minv, int maxv, const char *ciphers, int want,
		       const char *file, unsigned line)
{
	struct hs site, ctl;
	handshake(S.https, minv, maxv, ciphers, NULL, &site, NULL);
	handshake(S.ctl, minv, maxv, ciphers, NULL, &ctl, NULL);
	at_check(ctl.ok, NULL, file, line, "%s: the control server must accept it (else the client"
		 " cannot offer it and the check proves nothing): %s", what, ctl.why);
	if (!at_check(!site.ok, NULL, file, line, "%s: the site accepted it (%s, %s)", what,
		      site.version, site.cipher))
		return;
	at_check(site.alert == want, NULL, file, line, "%s: want the server's alert %d, got: %s",
		 what, want, site.why);
}
#define REFUSED(what, minv, maxv, ciphers, alert) \
	refused_at((what), (minv), (maxv), (ciphers), (alert), __FILE__, __LINE__)

/* ------------------------------------------------------------------------- HTTP (libcurl) */

struct sreq {
	const char *method;      /* default GET */
	const char *path;        /* from the origin: "/v1/printers" */
	const char *key;         /* API key, or NULL */
	const char *body;        /* or NULL */
	size_t len;              /* 0: strlen(body) */
	const char *ctype;       /* default application/json */
	int plain;               /* http:// to the site's port-80 server */
};

/* One request to the site (Host apf.example.com, over 127.0.0.1 with full verification). */
static long site_call(const struct sreq *q, struct resp *r)
{
	char url[4096], auth[256], ct[128];
	const char *method = q->method ? q->method : "GET";
	struct curl_slist *hl = NULL;
	resp_free(r);
	snprintf(r->what, sizeof r->what, "%s %s (site)", method, q->path);
	snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", q->plain ? "http" : "https",
		 q->plain ? S.http : S.https, q->path);
	CURL *h = curl_easy_init();
	if (!h)
		return 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, S.ca);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, client_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, client_on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->curl_error);
	hl = curl_slist_append(hl, "Host: " SITE_HOST);
	hl = curl_slist_append(hl, "Expect:");
	if (q->key) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", q->key);
		hl = curl_slist_append(hl, auth);
	}
	if (q->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(q->len ? q->len : strlen(q->body)));
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body);
		snprintf(ct, sizeof ct, "Content-Type: %s", q->ctype ? q->ctype : "application/json");
		hl = curl_slist_append(hl, ct);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (rc != CURLE_OK) {
		if (!r->curl_error[0])
			snprintf(r->curl_error, sizeof r->curl_error, "%s", curl_easy_strerror(rc));
		r->status = 0;
	}
	if (!r->body)
		r->body = strdup("");
	r->json = r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	return r->status;
}

/* One Strict-Transport-Security header with max-age of at least a year, and a request id. */
static void hsts_at(const struct resp *r, const char *file, unsigned line)
{
	const char *v = resp_header(r, "Strict-Transport-Security");
	long long age = v && strncmp(v, "max-age=", 8) == 0 ? strtoll(v + 8, NULL, 10) : -1;
	at_check(resp_header_count(r, "Strict-Transport-Security") == 1 && age >= HSTS_MIN_AGE, r,
		 file, line, "want one Strict-Transport-Security header with max-age >= %lld, got"
		 " %d (\"%s\")", HSTS_MIN_AGE, resp_header_count(r, "Strict-Transport-Security"),
		 v ? v : "");
	at_check(resp_header(r, "X-Request-Id") != NULL, r, file, line,
		 "want an X-Request-Id header");
}
#define HSTS(r) hsts_at((r), __FILE__, __LINE__)

/* An answer of nginx's limit_req / limit_conn (@rate_limited), not the app's per-key limit:
 * 429 RATE_LIMITED with nginx's message, Retry-After: 1 and HSTS. */
static int nginx_429_at(const struct resp *r, const char *file, unsigned line)
{
	if (!at_expect(r, 429, "RATE_LIMITED", file, line))
		return 0;
	hsts_at(r, file, line);
	at_check(hdr_int(r, "Retry-After") == 1, r, file, line, "want Retry-After: 1");
	return at_str(jstr(r->json, "error"), NGINX_429_TEXT, "error", r, file, line);
}
#define NGINX_429(r) nginx_429_at((r), __FILE__, __LINE__)

/* upload-url (through the stack's own nginx) for a new file: the token. 0 or -1. */
static int upload_token(const char *key, char tok[UPTOKEN_MAX])
{
	struct fx_upload u;
	if (fx_upload_url(key, "site.gcode", &u) < 0)
		return -1;
	snprintf(tok, UPTOKEN_MAX, "%s", u.token);
	remember_token(tok);
	return 0;
}

/* The head of PUT /v1/files/upload/<tok> to the site; ctype: a Content-Type line, or NULL for
 * none. 0 or -1. */
static int upload_head(struct raw *c, const char *tok, const char *key, const char *ctype,
		       long long length)
{
	char path[UPTOKEN_MAX + 32];
	snprintf(path, sizeof path, "/v1/files/upload/%s", tok);
	return raw_head(c, &(struct raw_req){ .method = "PUT", .host = SITE_HOST, .path = path,
					      .from_origin = 1, .key = key, .length = length,
					      .headers = { ctype } });
}

/* An upload of tok that announces 200 MiB and sends no body, on a connection of its own: the
 * site's answer in r. 0, or -1 (failure recorded). */
static int upload_announced(const char *tok, const char *key, const char *ctype, struct resp *r)
{
	SSL_CTX *ctx = tls_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	struct raw c = { .fd = -1 };
	int ok = CHECK(ctx != NULL, NULL, "client TLS context") &&
		 CHECK(site_connect(&c, ctx, S.https, NULL) == 0, NULL, "TLS to the site: %s",
		       c.why) &&
		 CHECK(upload_head(&c, tok, key, ctype, 200LL << 20) == 0, NULL,
		       "sending an upload head");
	if (ok)
		raw_response(&c, r, "PUT /v1/files/upload/{token}, 200 MiB announced");
	raw_close(&c, 0);
	SSL_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* ------------------------------------------------------------------------------- tests */

/* The rendered site passes `nginx -t` and runs. */
static void test_site_config(void)
{
	char tmpl[DIR_LEN];
	snprintf(tmpl, sizeof tmpl, "%s/site.XXXXXX", cfg_str("var_dir", "/tmp"));
	FX(CHECK(mkdtemp(tmpl) != NULL, NULL, "mkdtemp %s: %s", tmpl, strerror(errno)) ? 0 : -1);
	snprintf(S.dir, sizeof S.dir, "%s", tmpl);
	/* the workers (the stack's user line) traverse it to the socket link and temp paths */
	chmod(S.dir, 0750);
	snprintf(S.ca, sizeof S.ca, "%s", cfg_str("tls_cert", ""));
	in_dir(S.sock, "fcgi.sock");
	FX(CHECK(strlen(S.sock) < 108, NULL, "%s is too long for a unix socket", S.sock) ? 0 : -1);
	FX(CHECK(symlink(cfg_str("fcgi_socket", ""), S.sock) == 0, NULL, "symlink %s: %s",
		 S.sock, strerror(errno)) ? 0 : -1);
	FX(CHECK(free_ports(&S.https, &S.http, &S.ctl) == 0, NULL, "no free ports") ? 0 : -1);
	FX(render());
	FX(site_start());
	S.up = 1;
	RESP(r);
	site_call(&(struct sreq){ .path = "/v1/printers" }, &r);
	EXPECT(r, 401, "UNAUTHORIZED");
	/* port 80 only redirects to https, on the name the client asked for */
	site_call(&(struct sreq){ .path = "/v1/printers?x=1", .plain = 1 }, &r);
	INT_EQ(r.status, 301, &r);
	STR_EQ(resp_header(&r, "Location"), "https://" SITE_HOST "/v1/printers?x=1", &r);
}

/* Forward secrecy only: TLS 1.2 with ECDHE + AEAD, TLS 1.3; nothing else. */
static void test_tls_forward_secret(void)
{
	char weak[8192];
	struct hs h;
	FX(need_site());
	/* no suite in common: handshake_failure */
	REFUSED("TLS 1.2 offering only AES128-GCM-SHA256 (RSA key exchange)", TLS1_2_VERSION,
		TLS1_2_VERSION, "AES128-GCM-SHA256", SSL_AD_HANDSHAKE_FAILURE);
	REFUSED("TLS 1.2 offering only AES256-SHA256", TLS1_2_VERSION, TLS1_2_VERSION,
		"AES256-SHA256:@SECLEVEL=0", SSL_AD_HANDSHAKE_FAILURE);
	REFUSED("TLS 1.2 offering only ECDHE-RSA-AES128-SHA256 (ECDHE, not AEAD)", TLS1_2_VERSION,
		TLS1_2_VERSION, "ECDHE-RSA-AES128-SHA256:@SECLEVEL=0", SSL_AD_HANDSHAKE_FAILURE);
	int n = weak_suites(weak, sizeof weak);
	CHECK(n >= 10, NULL, "the client library knows only %d TLS 1.2 suites to try: %s", n, weak);
	REFUSED("TLS 1.2 offering every suite but ECDHE + AEAD", TLS1_2_VERSION, TLS1_2_VERSION,
		weak, SSL_AD_HANDSHAKE_FAILURE);
	/* refused for its version (protocol_version), not only for want of a TLS 1.1 suite */
	REFUSED("TLS 1.1", TLS1_1_VERSION, TLS1_1_VERSION, "ALL:@SECLEVEL=0",
		SSL_AD_PROTOCOL_VERSION);

	handshake(S.https, TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", NULL, &h,
		  NULL);
	CHECK(h.ok, NULL, "TLS 1.2 with ECDHE-RSA-AES128-GCM-SHA256: %s", h.why);
	if (h.ok) {
		STR_EQ(h.version, "TLSv1.2", NULL);
		STR_EQ(h.cipher, "ECDHE-RSA-AES128-GCM-SHA256", NULL);
	}
	handshake(S.https, TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL, &h, NULL);
	CHECK(h.ok, NULL, "TLS 1.2 with the library's default suites: %s", h.why);
	CHECK(!h.ok || strncmp(h.cipher, "ECDHE-", 6) == 0, NULL,
	      "TLS 1.2 default offer: the site chose %s", h.cipher);
	handshake(S.https, TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL, &h, NULL);
	CHECK(h.ok, NULL, "TLS 1.3: %s", h.why);
	if (h.ok)
		STR_EQ(h.version, "TLSv1.3", NULL);
}

/* No TLS 1.2 session ticket (the control server gives the same client one); sessions resume
 * through the server's session cache instead. TLS 1.3 is left out: OpenSSL always sends its
 * NewSessionTicket there (stateful, a cache id, with tickets off). */
static void test_no_session_tickets(void)
{
	struct hs h;
	SSL_SESSION *sess = NULL;
	FX(need_site());
	handshake(S.ctl, TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", NULL, &h,
		  NULL);
	CHECK(h.ok && h.ticket == 1, NULL, "the control server must issue a ticket (ok %d,"
	      " ticket %d: %s): else the client cannot see one", h.ok, h.ticket, h.why);
	handshake(S.https, TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", NULL, &h,
		  &sess);
	CHECK(h.ok, NULL, "TLS 1.2 handshake: %s", h.why);
	CHECK(h.ticket == 0, NULL, "the site issued a TLS 1.2 session ticket");
	if (!sess)
		return;
	handshake(S.https, TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", sess, &h,
		  NULL);
	CHECK(h.ok && h.reused == 1, NULL, "the session must resume from the server's cache"
	      " (ok %d, reused %d: %s)", h.ok, h.reused, h.why);
	SSL_SESSION_free(sess);
}

/* Strict-Transport-Security on the app's answers and on each of nginx's own. */
static void test_hsts_everywhere(void)
{
	struct tenant t;
	char tok[UPTOKEN_MAX];
	RESP(r);
	FX(need_site());
	FX(fx_tenant(&t, "read,write"));

	site_call(&(struct sreq){ .path = "/v1/printers", .key = t.key }, &r);
	if (EXPECT(r, 200, NULL))
		HSTS(&r);
	site_call(&(struct sreq){ .path = "/v1/printers" }, &r);
	if (EXPECT(r, 401, "UNAUTHORIZED"))
		HSTS(&r);
	site_call(&(struct sreq){ .path = "/nothing" }, &r);
	if (EXPECT(r, 404, "NOT_FOUND"))
		HSTS(&r);

	/* a JSON body over 1 MB: nginx answers from the Content-Length */
	size_t big = (1u << 20) + 64;
	char *body = malloc(big + 1);
	FX(body ? 0 : -1);
	memset(body, 'x', big);
	memcpy(body, "{\"name\": \"", 10);
	memcpy(body + big - 2, "\"}", 2);
	body[big] = '\0';
	site_call(&(struct sreq){ .method = "POST", .path = "/v1/printers", .key = t.key,
				  .body = body, .len = big }, &r);
	free(body);
	if (EXPECT(r, 413, "PAYLOAD_TOO_LARGE"))
		HSTS(&r);

	/* an upload over the upload location's limit (the head only) */
	FX(upload_token(t.key, tok));
	if (upload_announced(tok, t.key, "Content-Type: application/octet-stream", &r) == 0 &&
	    EXPECT(r, 413, "FILE_TOO_LARGE"))
		HSTS(&r);

	/* the app unreachable: the socket link points nowhere for one request (nginx connects
	 * for every request: no upstream keepalive) */
	char gone[PATH_LEN];
	in_dir(gone, "no-such.sock");
	FX(CHECK(unlink(S.sock) == 0 && symlink(gone, S.sock) == 0, NULL, "redirect %s: %s",
		 S.sock, strerror(errno)) ? 0 : -1);
	site_call(&(struct sreq){ .path = "/v1/printers", .key = t.key }, &r);
	int restored = unlink(S.sock) == 0 && symlink(cfg_str("fcgi_socket", ""), S.sock) == 0;
	if (EXPECT(r, 502, "SERVICE_UNAVAILABLE"))
		HSTS(&r);
	FX(CHECK(restored, NULL, "restore %s: %s", S.sock, strerror(errno)) ? 0 : -1);
	site_call(&(struct sreq){ .path = "/v1/printers", .key = t.key }, &r);
	EXPECT(r, 200, NULL);
	/* the 429 of @rate_limited: test_upload_conn_limit, test_conn_limit */
}

/* An upload connection: head and the first half of the body sent. */
struct held {
	struct raw c;
	char tok[UPTOKEN_MAX];
	int open, answered;
};

#define HELD_LEN 16 /* body bytes announced; half is sent first */

static int held_start(struct held *u, SSL_CTX *ctx, const char *key)
{
	if (!CHECK(site_connect(&u->c, ctx, S.https, NULL) == 0, NULL, "TLS to the site: %s",
		   u->c.why))
		return -1;
	u->open = 1;
	return CHECK(upload_head(&u->c, u->tok, key, "Content-Type: application/octet-stream",
				 HELD_LEN) == 0 &&
		     raw_send(&u->c, "G28\nG1 X", HELD_LEN / 2) == 0, NULL,
		     "sending an upload head") - 1;
}

/* At most 8 uploads per client address at once: the 9th is refused by nginx (429, its
 * @rate_limited answer), the limit is released with the connections.
 *
 * Which limit bites first: the app's own upload slots (budget.h: upload_slots, by default a
 * quarter of fcgi_children, 2 on the test stack) are fewer than nginx's 8. The first slots' worth
 * of uploads stream (held by the app, waiting for their body); the app refuses the others of the
 * first 8 at once with 503 SERVER_BUSY without reading their bodies. nginx still counts each of
 * these 8 requests until its connection ends (it lingers to drain the unread body while the
 * client keeps the connection open), so the 9th is refused by nginx's limit_conn, not by the
 * app: 429 RATE_LIMITED with nginx's own message. The streaming ones then complete (200). */
static void test_upload_conn_limit(void)
{
	enum { N = UPLOAD_CONN_MAX + 1 };
	static struct held u[N];
	struct tenant t;
	RESP(r);
	FX(need_site());
	FX(fx_tenant(&t, "read,write"));
	memset(u, 0, sizeof u);
	for (int i = 0; i < N; i++)
		FX(upload_token(t.key, u[i].tok));
	long slots = budget_upload_slots();
	long streaming = slots < UPLOAD_CONN_MAX ? slots : UPLOAD_CONN_MAX;
	SSL_CTX *ctx = tls_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	FX(CHECK(ctx != NULL, NULL, "client TLS context") ? 0 : -1);

	int ok = 1;
	long last = 0;
	char last_code[48] = "";
	for (int i = 0; i < UPLOAD_CONN_MAX && ok; i++)
		ok = held_start(&u[i], ctx, t.key) == 0;
	/* the app decides on each of the 8: wait until the refused ones are answered */
	int64_t end = util_now_ms() + 5000;
	int answered = 0;
	while (ok && util_now_ms() < end) {
		answered = 0;
		for (int i = 0; i < UPLOAD_CONN_MAX; i++)
			answered += raw_readable(&u[i].c);
		if (answered >= UPLOAD_CONN_MAX - streaming)
			break;
		sleep_ms(50);
	}
	sleep_ms(200);
	if (ok && held_start(&u[UPLOAD_CONN_MAX], ctx, t.key) == 0) {
		raw_response(&u[UPLOAD_CONN_MAX].c, &r, "PUT /v1/files/upload/{token}, the 9th");
		NGINX_429(&r);
		u[UPLOAD_CONN_MAX].answered = 1;
		last = r.status;
		snprintf(last_code, sizeof last_code, "%s", jstr(r.json, "code") ? jstr(r.json, "code") : "");
	}
	/* the first 8: the app's slots stream, the rest were refused by the app */
	int busy = 0, held = 0;
	for (int i = 0; ok && i < UPLOAD_CONN_MAX; i++) {
		if (!raw_readable(&u[i].c)) {
			held++;
			continue;
		}
		raw_response(&u[i].c, &r, "PUT /v1/files/upload/{token}, one of the first 8");
		u[i].answered = 1;
		busy += EXPECT(r, 503, "SERVER_BUSY");
	}
	fprintf(stderr, "\n[site] %d uploads at once (upload_slots %ld): %d streaming in the app,"
		" %d refused by the app (503 SERVER_BUSY), the last answered %ld %s", N, slots,
		held, busy, last, last_code);
	CHECK(!ok || (held == streaming && busy == UPLOAD_CONN_MAX - streaming), NULL,
	      "of the first %d uploads want %ld streaming and %ld refused by the app, got %d and %d",
	      UPLOAD_CONN_MAX, streaming, UPLOAD_CONN_MAX - streaming, held, busy);
	/* the streaming ones complete */
	for (int i = 0; i < UPLOAD_CONN_MAX; i++) {
		if (!u[i].open || u[i].answered)
			continue;
		if (CHECK(raw_send(&u[i].c, "\nG1 Y1\n", HELD_LEN / 2) == 0, NULL, "rest of a body")) {
			raw_response(&u[i].c, &r, "PUT /v1/files/upload/{token}, completed");
			if (EXPECT(r, 200, NULL))
				INT_EQ(jint(rdata(&r), "size_bytes"), HELD_LEN, &r);
		}
	}
	for (int i = 0; i < N; i++)
		if (u[i].open)
			raw_close(&u[i].c, 0);
	SSL_CTX_free(ctx);

	/* the limit is released with the connections: a new upload goes through */
	char tok[UPTOKEN_MAX], path[UPTOKEN_MAX + 32];
	FX(upload_token(t.key, tok));
	snprintf(path, sizeof path, "/v1/files/upload/%s", tok);
	end = util_now_ms() + 3000;
	for (;;) {
		site_call(&(struct sreq){ .method = "PUT", .path = path, .key = t.key, .body = "G28\n",
					  .ctype = "application/octet-stream" }, &r);
		if (r.status != 429 || util_now_ms() > end)
			break;
		sleep_ms(100);
	}
	EXPECT(r, 200, NULL);
}

/* At most 200 requests per client address at once, uploads included: with 200 held (POSTs
 * whose body nginx is still reading, so the app never sees them) another request is refused by
 * nginx, and so is an upload (the upload location repeats the server's limit_conn: a
 * limit_conn of its own would otherwise replace it). */
static void test_conn_limit(void)
{
	static struct raw c[CONN_MAX];
	static const struct raw_req held = { .method = "POST", .host = SITE_HOST,
					     .path = "/v1/printers", .from_origin = 1,
					     .key = "apf_held", .length = 100,
					     .headers = { "Content-Type: application/json" } };
	RESP(r);
	FX(need_site());
	SSL_CTX *ctx = tls_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	FX(CHECK(ctx != NULL, NULL, "client TLS context") ? 0 : -1);
	int opened = 0;
	for (; opened < CONN_MAX; opened++) {
		if (!CHECK(site_connect(&c[opened], ctx, S.https, NULL) == 0, NULL, "TLS %d: %s",
			   opened, c[opened].why))
			break;
		if (!CHECK(raw_head(&c[opened], &held) == 0 &&
			   raw_send(&c[opened], "{\"name\": ", 9) == 0, NULL, "send %d", opened)) {
			opened++;
			break;
		}
	}
	if (opened == CONN_MAX) {
		sleep_ms(200);
		int answered = 0;
		for (int i = 0; i < CONN_MAX; i++)
			answered += raw_readable(&c[i]);
		CHECK(answered == 0, NULL, "%d of %d held requests were answered: want none",
		      answered, CONN_MAX);
		site_call(&(struct sreq){ .path = "/v1/printers" }, &r);
		NGINX_429(&r);
		site_call(&(struct sreq){ .method = "PUT", .path = "/v1/files/upload/AAAAheld",
					  .key = "apf_held", .body = "G28\n",
					  .ctype = "application/octet-stream" }, &r);
		NGINX_429(&r);
	}
	for (int i = 0; i < opened; i++)
		raw_close(&c[i], 0);
	SSL_CTX_free(ctx);
	/* released with the connections */
	int64_t end = util_now_ms() + 3000;
	for (;;) {
		site_call(&(struct sreq){ .path = "/v1/printers" }, &r);
		if (r.status != 429 || util_now_ms() > end)
			break;
		sleep_ms(100);
	}
	EXPECT(r, 401, "UNAUTHORIZED");
}

/* Neither log holds an upload token: the access log writes <redacted>, whether the path was
 * plain or percent-encoded; the error log stays silent about the upload location's requests
 * (nginx logs "client intended to send too large body" with the request line at error level). */
static void test_logs_redacted(void)
{
	struct tenant t;
	char tok[UPTOKEN_MAX], path[UPTOKEN_MAX + 32], p[PATH_LEN];
	RESP(r);
	FX(need_site());
	FX(fx_tenant(&t, "read,write"));
	FX(upload_token(t.key, tok));
	snprintf(path, sizeof path, "/v1/files/upload/%s", tok);
	site_call(&(struct sreq){ .method = "PUT", .path = path, .key = t.key, .body = "G28\n",
				  .ctype = "application/octet-stream" }, &r);
	EXPECT(r, 200, NULL);
	FX(upload_token(t.key, tok));
	/* %75 = u: nginx routes it to the upload location; the app (which routes on the raw
	 * path) does not know it, whatever it answers the token must not be logged */
	snprintf(path, sizeof path, "/v1/files/%%75pload/%s", tok);
	site_call(&(struct sreq){ .method = "PUT", .path = path, .key = t.key, .body = "G28\n",
				  .ctype = "application/octet-stream" }, &r);
	CHECK(r.status > 0, &r, "an answer");
	FX(upload_token(t.key, tok));
	if (upload_announced(tok, t.key, NULL, &r) == 0)
		EXPECT(r, 413, "FILE_TOO_LARGE");
	sleep_ms(100);

	char *alog = slurp(in_dir(p, "apf.access.log"));
	char *elog = slurp(in_dir(p, "apf.error.log"));
	char *mlog = slurp(in_dir(p, "error.log"));
	FX(CHECK(alog != NULL, NULL, "no access log %s", p) ? 0 : -1);
	/* the log is the site's (the other tests' requests are there) */
	CHECK(strstr(alog, "\"GET /nothing HTTP/") != NULL, NULL,
	      "the access log lacks the test's GET /nothing: is it the site's log?");
	int redacted = 0;
	for (const char *s = alog; (s = strstr(s, "/v1/files/upload/<redacted> ")); s++)
		redacted++;
	CHECK(redacted >= 3, NULL, "the access log has %d redacted upload lines, want at least"
	      " this test's 3", redacted);
	int leaked = 0;
	for (int i = 0; i < ntokens; i++) {
		const char *where = strstr(alog, tokens[i])            ? "access log"
				    : elog && strstr(elog, tokens[i]) ? "site error log"
				    : mlog && strstr(mlog, tokens[i]) ? "main error log"
								      : NULL;
		if (where && leaked++ < 3)
			CHECK(0, NULL, "upload token %.12s... (%d of %d) is in the %s", tokens[i],
			      i + 1, ntokens, where);
	}
	CHECK(leaked == 0 && ntokens >= 3, NULL, "%d of %d upload tokens in the logs", leaked,
	      ntokens);
	free(alog);
	free(elog);
	free(mlog);
}

int suite_site(void)
{
	CU_pSuite s = CU_add_suite("production site", suite_init, suite_clean);
	if (!s)
		return -1;
	ADD_TEST(s, test_site_config);
	ADD_TEST(s, test_tls_forward_secret);
	ADD_TEST(s, test_no_session_tickets);
	ADD_TEST(s, test_hsts_everywhere);
	ADD_TEST(s, test_upload_conn_limit);
	ADD_TEST(s, test_conn_limit);
	ADD_TEST(s, test_logs_redacted);
	return 0;
}
