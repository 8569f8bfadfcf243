/* whrecv.c - the webhook tests' receiver (whrecv.h). */
#include "whrecv.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQS 40000

struct wreq {
	char path[128], id[64], ts[32], sig[256];
	char *body;
};

struct whrecv {
	pthread_mutex_t mu;
	pthread_t th;
	int fd, stop, running;
	unsigned port;
	int status, delay_ms, started, n;
	struct wreq *reqs;
};

static void sleep_ms_(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void header(const char *head, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);
	out[0] = '\0';
	for (const char *p = head; (p = strstr(p, "\r\n")); ) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t n = strcspn(v, "\r\n");
			snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), v);
			return;
		}
	}
}

/* One connection: one request (the worker does not keep connections here: Connection: close). */
static void serve(struct whrecv *w, int c)
{
	char head[8192];
	size_t n = 0;
	char *end = NULL;
	while (n < sizeof head - 1 && !end) {
		ssize_t k = recv(c, head + n, sizeof head - 1 - n, 0);
		if (k <= 0)
			return;
		n += (size_t)k;
		head[n] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	if (!end)
		return;
	char cl[32], path[128];
	header(head, "content-length", cl, sizeof cl);
	size_t len = (size_t)strtoul(cl, NULL, 10), have = n - (size_t)(end + 4 - head);
	char *body = malloc(len + 1);
	if (!body)
		return;
	memcpy(body, end + 4, have < len ? have : len);
	while (have < len) {
		ssize_t k = recv(c, body + have, len - have, 0);
		if (k <= 0) {
			free(body);
			return;
		}
		have += (size_t)k;
	}
	body[len] = '\0';
	sscanf(head, "%*s %127s", path);
	pthread_mutex_lock(&w->mu);
	w->started++;
	int status = w->status, delay = w->delay_ms;
	pthread_mutex_unlock(&w->mu);
	if (delay > 0)
		sleep_ms_(delay);
	char resp[160];
	int rl = snprintf(resp, sizeof resp, "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close"
			  "\r\n\r\nok", status);
	if (send(c, resp, (size_t)rl, MSG_NOSIGNAL) != rl) {
		free(body); /* the sender went away: not received */
		return;
	}
	pthread_mutex_lock(&w->mu);
	if (w->n < MAX_REQS) {
		struct wreq *q = &w->reqs[w->n++];
		snprintf(q->path, sizeof q->path, "%s", path);
		header(head, "webhook-id", q->id, sizeof q->id);
		header(head, "webhook-timestamp", q->ts, sizeof q->ts);
		header(head, "webhook-signature", q->sig, sizeof q->sig);
		q->body = body;
		body = NULL;
	}
	pthread_mutex_unlock(&w->mu);
	free(body);
}

static void *run(void *arg)
{
	struct whrecv *w = arg;
	while (!w->stop) {
		struct pollfd p = { w->fd, POLLIN, 0 };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int c = accept(w->fd, NULL, NULL);
		if (c < 0)
			continue;
		serve(w, c);
		close(c);
	}
	return NULL;
}

int whrecv_up(struct whrecv *w)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)w->port) };
	int one = 1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	w->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (w->fd < 0)
		return -1;
	setsockopt(w->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	socklen_t sl = sizeof sa;
	if (bind(w->fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(w->fd, 128) < 0 ||
	    getsockname(w->fd, (struct sockaddr *)&sa, &sl) < 0) {
		close(w->fd);
		return -1;
	}
	w->port = ntohs(sa.sin_port);
	w->stop = 0;
	if (pthread_create(&w->th, NULL, run, w) != 0) {
		close(w->fd);
		return -1;
	}
	w->running = 1;
	return 0;
}

void whrecv_down(struct whrecv *w)
{
	if (!w->running)
		return;
	w->stop = 1;
	pthread_join(w->th, NULL);
	close(w->fd);
	w->running = 0;
}

struct whrecv *whrecv_start(void)
{
	struct whrecv *w = calloc(1, sizeof *w);
	if (!w || !(w->reqs = calloc(MAX_REQS, sizeof *w->reqs))) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	w->status = 200;
	if (whrecv_up(w) < 0) {
		free(w->reqs);
		free(w);
		return NULL;
	}
	return w;
}

void whrecv_free(struct whrecv *w)
{
	if (!w)
		return;
	whrecv_down(w);
	for (int i = 0; i < w->n; i++)
		free(w->reqs[i].body);
	free(w->reqs);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

unsigned whrecv_port(const struct whrecv *w)
{
	return w->port;
}

void whrecv_behave(struct whrecv *w, int status, int delay_ms)
{
	pthread_mutex_lock(&w->mu);
	w->status = status;
	w->delay_ms = delay_ms;
	pthread_mutex_unlock(&w->mu);
}

static int path_is(const struct wreq *q, const char *path)
{
	return !path || strcmp(q->path, path) == 0;
}

int whrecv_count(struct whrecv *w, const char *path)
{
	int n = 0;
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < w->n; i++)
		n += path_is(&w->reqs[i], path);
	pthread_mutex_unlock(&w->mu);
	return n;
}

int whrecv_started(struct whrecv *w)
{
	pthread_mutex_lock(&w->mu);
	int n = w->started;
	pthread_mutex_unlock(&w->mu);
	return n;
}

int whrecv_count_type(struct whrecv *w, const char *path, const char *type, int distinct)
{
	int n = 0;
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < w->n; i++) {
		const struct wreq *q = &w->reqs[i];
		json_t *b = path_is(q, path) ? json_loads(q->body, 0, NULL) : NULL;
		const char *t = json_string_value(json_object_get(b, "type"));
		int same = 0;
		for (int k = 0; distinct && k < i; k++)
			same |= path_is(&w->reqs[k], path) && strcmp(w->reqs[k].id, q->id) == 0;
		n += t && strcmp(t, type) == 0 && !same;
		json_decref(b);
	}
	pthread_mutex_unlock(&w->mu);
	return n;
}

int whrecv_wait(struct whrecv *w, const char *path, int n, long ms)
{
	int got;
	for (long waited = 0; (got = whrecv_count(w, path)) < n && waited < ms; waited += 50)
		sleep_ms_(50);
	return got;
}

int whrecv_dump(struct whrecv *w, const char *path, const char *secret, const char *file)
{
	FILE *f = fopen(file, "w");
	int n = 0;
	if (!f)
		return -1;
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < w->n; i++) {
		const struct wreq *q = &w->reqs[i];
		if (!path_is(q, path))
			continue;
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "secret", secret, "id", q->id,
				      "timestamp", q->ts, "signature", q->sig, "body", q->body);
		char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (line) {
			fprintf(f, "%s\n", line);
			n++;
		}
		free(line);
		json_decref(o);
	}
	pthread_mutex_unlock(&w->mu);
	return fclose(f) == 0 ? n : -1;
}

const char *whrecv_body(struct whrecv *w, const char *path, int i)
{
	const char *b = NULL;
	pthread_mutex_lock(&w->mu);
	for (int k = 0, seen = 0; k < w->n && !b; k++)
		if (path_is(&w->reqs[k], path) && seen++ == i)
			b = w->reqs[k].body;
	pthread_mutex_unlock(&w->mu);
	return b;
}

/* ------------------------------------------------------------------ the stalling receiver */

#define STALL_MAX 256

struct whstall {
	pthread_mutex_t mu;
	pthread_t th;
	int fd, stop;
	unsigned port;
	int open, max_open, total;
};

/* Accepts every connection and never answers; a connection counts as open until the sender
 * closes it (its timeout). */
static void *stall_run(void *arg)
{
	struct whstall *s = arg;
	struct pollfd p[STALL_MAX + 1];
	int n = 0;
	char buf[4096];
	while (!s->stop) {
		p[0] = (struct pollfd){ s->fd, POLLIN, 0 };
		for (int i = 1; i <= n; i++)
			p[i].events = POLLIN;
		if (poll(p, (nfds_t)n + 1, 100) <= 0)
			continue;
		for (int i = n; i >= 1; i--)
			if (p[i].revents && recv(p[i].fd, buf, sizeof buf, 0) <= 0) {
				close(p[i].fd);
				p[i] = p[n--];
				pthread_mutex_lock(&s->mu);
				s->open--;
				pthread_mutex_unlock(&s->mu);
			}
		if ((p[0].revents & POLLIN) && n < STALL_MAX) {
			int c = accept(s->fd, NULL, NULL);
			if (c < 0)
				continue;
			p[++n] = (struct pollfd){ c, POLLIN, 0 };
			pthread_mutex_lock(&s->mu);
			s->total++;
			if (++s->open > s->max_open)
				s->max_open = s->open;
			pthread_mutex_unlock(&s->mu);
		}
	}
	for (int i = 1; i <= n; i++)
		close(p[i].fd);
	return NULL;
}

struct whstall *whstall_start(void)
{
	struct whstall *s = calloc(1, sizeof *s);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	if (!s)
		return NULL;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pthread_mutex_init(&s->mu, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(s->fd, 512) < 0 || getsockname(s->fd, (struct sockaddr *)&sa, &sl) < 0 ||
	    pthread_create(&s->th, NULL, stall_run, s) != 0) {
		if (s->fd >= 0)
			close(s->fd);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	s->port = ntohs(sa.sin_port);
	return s;
}

void whstall_free(struct whstall *s)
{
	if (!s)
		return;
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

unsigned whstall_port(const struct whstall *s)
{
	return s->port;
}

void whstall_counts(struct whstall *s, int *open, int *max_open, int *total)
{
	pthread_mutex_lock(&s->mu);
	*open = s->open;
	*max_open = s->max_open;
	*total = s->total;
	pthread_mutex_unlock(&s->mu);
}
