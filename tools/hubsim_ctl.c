/* hubsim_ctl.c - the loopback control channel for tests (docs/hub-link.md, "The simulator"): a
 * unix socket
 * (--control-socket) and/or a TCP port on 127.0.0.1 (--control). One command per line (at most
 * 64 KiB), one JSON object per line in answer, in order. The command table below is the whole
 * protocol; hubsim.c's header comment and --help describe it. */
#include "hubsim.h"

#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LINE_MAX_BYTES 65536
#define MAX_WORDS 8

struct client {
	ev_io rio, wio;
	int fd;
	char in[LINE_MAX_BYTES + 1];
	size_t inlen;
	char *out;
	size_t outlen, outcap;
	bool waiting;   /* an asynchronous answer is due (intruder) */
	bool closing;   /* close once the output is written */
	struct client *next;
};

struct listener {
	ev_io io;
	int fd;
	char path[108]; /* unix socket to unlink at exit */
	struct listener *next;
};

static struct client *clients;
static struct listener *listeners;

typedef json_t *ctl_fn(struct client *c, int argc, char **argv, const char *rest);

static ctl_fn c_help, c_status, c_log, c_advance, c_fault, c_hub_action, c_silent, c_skew,
	c_clock_sync, c_printer_action, c_printer_error, c_discover_result, c_discover_partial,
	c_intruder, c_quit;

static const struct ctl_cmd {
	const char *name;
	int min, max;         /* word arguments after the name */
	ctl_fn *fn;
	const char *arg;      /* for c_hub_action / c_printer_action: the fault kind */
	const char *usage;
} cmds[] = {
	{ "help", 0, 0, c_help, NULL, "help" },
	{ "status", 0, 1, c_status, NULL, "status [HUB]" },
	{ "log", 0, 2, c_log, NULL, "log [N] [HUB]" },
	{ "advance", 1, 1, c_advance, NULL, "advance MS" },
	{ "tick", 1, 1, c_advance, NULL, "tick MS" },
	{ "fault", 1, MAX_WORDS, c_fault, NULL, "fault SPEC | fault clear all|ID|KIND [hub=H] [printer=P] | fault list" },
	{ "disconnect", 0, 1, c_hub_action, "disconnect", "disconnect [HUB]" },
	{ "kill", 0, 1, c_hub_action, "kill", "kill [HUB]" },
	{ "reconnect", 0, 1, c_hub_action, "reconnect", "reconnect [HUB]" },
	{ "silent", 1, 2, c_silent, NULL, "silent on|off [HUB]" },
	{ "skew", 1, 2, c_skew, NULL, "skew MS [HUB]" },
	{ "clock-sync", 1, 2, c_clock_sync, NULL, "clock-sync on|off [HUB]" },
	{ "printer-offline", 1, 1, c_printer_action, "printer_offline", "printer-offline PRINTER" },
	{ "printer-online", 1, 1, c_printer_action, "printer_online", "printer-online PRINTER" },
	{ "user-pause", 1, 1, c_printer_action, "user_pause", "user-pause PRINTER" },
	{ "user-resume", 1, 1, c_printer_action, "user_resume", "user-resume PRINTER" },
	{ "printer-error", 1, MAX_WORDS, c_printer_error, NULL, "printer-error PRINTER [CODE [MESSAGE]]" },
	{ "discover-result", 1, MAX_WORDS, c_discover_result, NULL, "discover-result [HUB] JSON-ARRAY|default" },
	{ "discover-partial", 1, 2, c_discover_partial, NULL, "discover-partial on|off [HUB]" },
	{ "intruder", 1, 3, c_intruder, NULL, "intruder [HUB] VICTIM [WINDOW_MS]" },
	{ "quit", 0, 0, c_quit, NULL, "quit" },
};

static json_t *err_answer(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *err_answer(const char *fmt, ...)
{
	char msg[HS_MSG_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* ------------------------------------------------------------------------------- output */

static void client_close(struct client *c)
{
	for (struct client **pp = &clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->waiting)
		hub_intruder_cancel_arg(c);
	ev_io_stop(hs.loop, &c->rio);
	ev_io_stop(hs.loop, &c->wio);
	close(c->fd);
	free(c->out);
	free(c);
}

static void flush_out(struct client *c)
{
	while (c->outlen > 0) {
		ssize_t n = write(c->fd, c->out, c->outlen);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			client_close(c);
			return;
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	if (c->outlen > 0) {
		if (!ev_is_active(&c->wio))
			ev_io_start(hs.loop, &c->wio);
		return;
	}
	ev_io_stop(hs.loop, &c->wio);
	if (c->closing)
		client_close(c);
}

static void send_json(struct client *c, json_t *ans)
{
	char *s = json_dumps(ans, JSON_COMPACT);
	json_decref(ans);
	if (!s)
		return;
	size_t n = strlen(s);
	if (c->outlen + n + 1 > c->outcap) {
		size_t cap = (c->outlen + n + 1) * 2;
		char *o = realloc(c->out, cap);
		if (!o) {
			free(s);
			return;
		}
		c->out = o;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, s, n);
	c->out[c->outlen + n] = '\n';
	c->outlen += n + 1;
	free(s);
}

bool ctl_busy(void)
{
	for (struct client *c = clients; c; c = c->next)
		if (c->outlen > 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------------------- commands */

/* "" or "all" = every hub (NULL); otherwise the named hub, or an error. */
static int hub_arg(const char *s, struct hs_hub **out, json_t **err)
{
	*out = NULL;
	if (!s || !*s || strcmp(s, "all") == 0)
		return 0;
	*out = hs_hub_find(s);
	if (!*out) {
		*err = err_answer("unknown hub %s", s);
		return -1;
	}
	return 0;
}

static json_t *apply_spec(const char *spec)
{
	struct fault f;
	char err[HS_MSG_LEN];
	if (fault_parse(spec, &f, err, sizeof err) < 0)
		return err_answer("%s", err);
	return fault_apply(&f, false);
}

static json_t *toggle(const char *kind, const char *onoff, const char *hub, bool invert)
{
	char spec[128];
	bool on = strcmp(onoff, "on") == 0;
	if (!on && strcmp(onoff, "off") != 0)
		return err_answer("expected on or off, got %s", onoff);
	snprintf(spec, sizeof spec, "%s hub=%s", kind, hub && *hub ? hub : "all");
	struct hs_hub *h;
	json_t *e = NULL;
	if (hub_arg(hub, &h, &e) < 0)
		return e;
	return on != invert ? apply_spec(spec) : fault_clear(spec);
}

static json_t *c_help(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)argc, (void)argv, (void)rest;
	json_t *list = json_array();
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		json_array_append_new(list, json_string(cmds[i].usage));
	return json_pack("{s:b, s:o}", "ok", 1, "commands", list);
}

/* a pinned interval, or null when the protocol's applies */
static json_t *pinned_json(int64_t ms)
{
	return ms ? json_integer((json_int_t)ms) : json_null();
}

static json_t *c_status(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)rest;
	struct hs_hub *only;
	json_t *e = NULL;
	if (hub_arg(argc ? argv[0] : NULL, &only, &e) < 0)
		return e;
	json_t *hubs = json_array();
	for (size_t i = 0; i < hs.nhubs; i++)
		if (!only || only == hs.hubs[i])
			json_array_append_new(hubs, hub_state_json(hs.hubs[i]));
	return json_pack("{s:b, s:I, s:I, s:f, s:b, s:b, s:o, s:o, s:o, s:o}", "ok", 1, "now_ms",
			 (json_int_t)util_now_ms(), "sim_ms", (json_int_t)hs.sim_ms, "time_scale",
			 hs.scale, "manual_clock", hs.manual, "pin_intervals", hs.pin,
			 "status_interval_ms", pinned_json(hs.status_ms), "heartbeat_interval_ms",
			 pinned_json(hs.heartbeat_ms), "hubs", hubs, "faults", fault_list_json());
}

/* rest after its first k words */
static const char *skip_words(const char *s, int k)
{
	for (int i = 0; i < k; i++) {
		while (isspace((unsigned char)*s))
			s++;
		while (*s && !isspace((unsigned char)*s))
			s++;
	}
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static bool numeric(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

static json_t *c_log(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)rest;
	int n = 50, i = 0;
	if (argc > 0 && numeric(argv[0]))
		n = atoi(argv[i++]);
	struct hs_hub *h;
	json_t *e = NULL;
	if (hub_arg(i < argc ? argv[i] : NULL, &h, &e) < 0)
		return e;
	if (n < 1 || n > 1024)
		n = 1024;
	return json_pack("{s:b, s:o}", "ok", 1, "entries", cmd_log_json(h ? h->id : NULL, n));
}

static json_t *c_advance(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)argc, (void)rest;
	char *end;
	long long ms = strtoll(argv[0], &end, 10);
	if (end == argv[0] || *end || ms < 0 || ms > 7LL * 24 * 3600 * 1000)
		return err_answer("advance takes milliseconds, 0 to 7 days: %s", argv[0]);
	sim_advance(ms);
	sim_flush();
	return json_pack("{s:b, s:I}", "ok", 1, "sim_ms", (json_int_t)hs.sim_ms);
}

static json_t *c_fault(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c;
	if (strcmp(argv[0], "list") == 0)
		return json_pack("{s:b, s:o}", "ok", 1, "faults", fault_list_json());
	if (strcmp(argv[0], "clear") == 0) {
		if (argc < 2)
			return err_answer("fault clear all|ID|KIND [hub=H] [printer=P]");
		return fault_clear(rest + strlen("clear"));
	}
	if (strcmp(argv[0], "add") == 0)
		rest += strlen("add");
	return apply_spec(rest);
}

static json_t *c_hub_action(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)rest;
	char spec[128];
	const struct ctl_cmd *cmd = NULL;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0] && !cmd; i++)
		if (strcmp(cmds[i].name, argv[-1]) == 0)
			cmd = &cmds[i];
	snprintf(spec, sizeof spec, "%s hub=%s", cmd->arg, argc ? argv[0] : "all");
	return apply_spec(spec);
}

static json_t *c_silent(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)rest;
	return toggle("stop_heartbeats", argv[0], argc > 1 ? argv[1] : NULL, false);
}

static json_t *c_clock_sync(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)rest;
	return toggle("clock_unsynced", argv[0], argc > 1 ? argv[1] : NULL, true);
}

static json_t *c_discover_partial(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)rest;
	return toggle("discovery_partial", argv[0], argc > 1 ? argv[1] : NULL, false);
}

static json_t *c_skew(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)rest;
	char spec[128];
	snprintf(spec, sizeof spec, "skew_clock_ms ms=%s hub=%s", argv[0], argc > 1 ? argv[1] : "all");
	return apply_spec(spec);
}

static json_t *c_printer_action(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)argc, (void)rest;
	char spec[128];
	const struct ctl_cmd *cmd = NULL;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0] && !cmd; i++)
		if (strcmp(cmds[i].name, argv[-1]) == 0)
			cmd = &cmds[i];
	if (!util_is_uuid(argv[0]))
		return err_answer("not a printer id: %s", argv[0]);
	snprintf(spec, sizeof spec, "%s printer=%s", cmd->arg, argv[0]);
	return apply_spec(spec);
}

static json_t *c_printer_error(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)argc;
	struct fault f;
	char err[HS_MSG_LEN];
	if (fault_parse("printer_error printer=00000000-0000-4000-8000-000000000000", &f, err,
			sizeof err) < 0)
		return err_answer("%s", err);
	snprintf(f.printer, sizeof f.printer, "%s", argv[0]);
	if (argc > 1)
		snprintf(f.code, sizeof f.code, "%s", argv[1]);
	if (argc > 2) /* the message is the rest of the line after the code */
		snprintf(f.message, sizeof f.message, "%s", skip_words(rest, 2));
	return fault_apply(&f, false);
}

static json_t *c_discover_result(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)argc;
	const char *hub = "all";
	const char *arg = rest;
	if (argv[0][0] != '[' && strcmp(argv[0], "default") != 0) {
		hub = argv[0];
		arg = skip_words(rest, 1);
	}
	struct hs_hub *h;
	json_t *e = NULL;
	if (hub_arg(hub, &h, &e) < 0)
		return e;
	char spec[128];
	snprintf(spec, sizeof spec, "discovery_result hub=%s", hub);
	if (strcmp(arg, "default") == 0)
		return fault_clear(spec);
	json_error_t je;
	json_t *list = json_loads(arg, 0, &je);
	if (!json_is_array(list)) {
		json_decref(list);
		return err_answer("discover-result takes a JSON array of printers or default: %s",
				  list ? "not an array" : je.text);
	}
	json_t *o = json_pack("{s:s, s:s, s:o}", "kind", "discovery_result", "hub", hub, "printers",
			      list);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	json_t *ans = s ? apply_spec(s) : err_answer("out of memory");
	free(s);
	return ans;
}

static void intruder_answer(void *arg, json_t *report)
{
	struct client *c = arg;
	c->waiting = false;
	send_json(c, report);
	flush_out(c);
}

static json_t *c_intruder(struct client *c, int argc, char **argv, const char *rest)
{
	(void)rest;
	const char *hub = NULL, *victim = NULL;
	int window = 2000;
	if (argc == 3 || (argc == 2 && !numeric(argv[1]))) {
		hub = argv[0];
		victim = argv[1];
		if (argc == 3)
			window = atoi(argv[2]);
	} else {
		victim = argv[0];
		if (argc == 2)
			window = atoi(argv[1]);
	}
	struct hs_hub *h = hub ? hs_hub_find(hub) : hs.nhubs == 1 ? hs.hubs[0] : NULL;
	if (!h)
		return err_answer(hub ? "unknown hub %s" : "name the intruding hub%s", hub ? hub : "");
	if (window < 100 || window > 60000)
		return err_answer("window must be 100 to 60000 ms");
	char err[HS_MSG_LEN];
	if (hub_intruder(h, victim, window, intruder_answer, c, err, sizeof err) < 0)
		return err_answer("%s", err);
	c->waiting = true;
	return NULL;
}

static json_t *c_quit(struct client *c, int argc, char **argv, const char *rest)
{
	(void)c, (void)argc, (void)argv, (void)rest;
	hs_stop();
	return json_pack("{s:b, s:s}", "ok", 1, "bye", "offline presence sent");
}

/* ------------------------------------------------------------------------------- input */

static json_t *run_line(struct client *c, char *line)
{
	char *words[MAX_WORDS + 2];
	int n = 0;
	char copy[LINE_MAX_BYTES + 1];
	snprintf(copy, sizeof copy, "%s", line);
	char *save = NULL;
	for (char *w = strtok_r(copy, " \t\r", &save); w && n < MAX_WORDS + 1;
	     w = strtok_r(NULL, " \t\r", &save))
		words[n++] = w;
	if (n == 0)
		return err_answer("empty command");
	const char *rest = line;
	while (isspace((unsigned char)*rest))
		rest++;
	rest += strlen(words[0]);
	while (isspace((unsigned char)*rest))
		rest++;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		const struct ctl_cmd *cmd = &cmds[i];
		if (strcmp(cmd->name, words[0]) != 0)
			continue;
		if (n - 1 < cmd->min || (n - 1 > cmd->max && cmd->max < MAX_WORDS))
			return err_answer("usage: %s", cmd->usage);
		return cmd->fn(c, n - 1, words + 1, rest);
	}
	return err_answer("unknown command %s (try help)", words[0]);
}

static void process(struct client *c)
{
	while (!c->waiting && !c->closing) {
		char *nl = memchr(c->in, '\n', c->inlen);
		if (!nl)
			break;
		*nl = '\0';
		size_t used = (size_t)(nl - c->in) + 1;
		if (memchr(c->in, '\0', used - 1)) {
			send_json(c, err_answer("NUL byte in the command"));
		} else if (c->in[0] && c->in[0] != '#') {
			json_t *ans = run_line(c, c->in);
			if (ans)
				send_json(c, ans);
		}
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
	}
	flush_out(c);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct client *c = (struct client *)((char *)w - offsetof(struct client, rio));
	if (c->inlen >= LINE_MAX_BYTES) {
		send_json(c, err_answer("line longer than %s bytes", "65536"));
		c->closing = true;
		ev_io_stop(hs.loop, &c->rio);
		flush_out(c);
		return;
	}
	ssize_t n = read(c->fd, c->in + c->inlen, LINE_MAX_BYTES - c->inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ev_io_stop(hs.loop, &c->rio);
		c->closing = true;
		if (!c->waiting)
			flush_out(c);
		return;
	}
	c->inlen += (size_t)n;
	process(c);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct client *c = (struct client *)((char *)w - offsetof(struct client, wio));
	flush_out(c);
	if (!c->closing && !c->waiting)
		process(c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct listener *l = (struct listener *)w;
	int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct client *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	ev_io_init(&c->rio, read_cb, fd, EV_READ);
	ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
	ev_io_start(hs.loop, &c->rio);
	c->next = clients;
	clients = c;
}

static int listen_on(int fd, const char *path)
{
	struct listener *l = calloc(1, sizeof *l);
	if (!l || listen(fd, 16) < 0) {
		free(l);
		close(fd);
		return -1;
	}
	l->fd = fd;
	if (path)
		snprintf(l->path, sizeof l->path, "%s", path);
	ev_io_init(&l->io, accept_cb, fd, EV_READ);
	ev_io_start(hs.loop, &l->io);
	l->next = listeners;
	listeners = l;
	return 0;
}

int ctl_listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		log_error("control socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0600) < 0) {
		log_error("control socket %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (listen_on(fd, path) < 0) {
		log_error("control socket %s: %s", path, strerror(errno));
		return -1;
	}
	hs_info("control channel on unix socket %s", path);
	return 0;
}

int ctl_listen_tcp(const char *hostport)
{
	char host[64];
	const char *colon = strrchr(hostport, ':');
	if (!colon || (size_t)(colon - hostport) >= sizeof host) {
		log_error("--control wants 127.0.0.1:PORT, got %s", hostport);
		return -1;
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	if (strcmp(host, "localhost") == 0 || !*host)
		snprintf(host, sizeof host, "127.0.0.1");
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || (ntohl(sa.sin_addr.s_addr) >> 24) != 127 ||
	    *end || end == colon + 1 || port < 0 || port > 65535) {
		log_error("--control must be a loopback address 127.x.x.x:PORT, got %s", hostport);
		return -1;
	}
	sa.sin_port = htons((uint16_t)port);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		log_error("control %s: %s", hostport, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	socklen_t len = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &len);
	if (listen_on(fd, NULL) < 0) {
		log_error("control %s: %s", hostport, strerror(errno));
		return -1;
	}
	log_msg(LOG_INFO, "control channel on %s:%d", host, ntohs(sa.sin_port));
	return 0;
}

void ctl_close_all(void)
{
	while (clients) {
		clients->waiting = false;
		client_close(clients);
	}
	while (listeners) {
		struct listener *l = listeners;
		listeners = l->next;
		ev_io_stop(hs.loop, &l->io);
		close(l->fd);
		if (l->path[0])
			unlink(l->path);
		free(l);
	}
}
