/* loop.c - the apf-worker event loop (libev); with workers/webhooks.c (libcurl on the loop) the
 * only files that include ev.h.
 *
 * Wake socket: producers call queue_wake(), which sends one datagram to conf `worker_socket`.
 * Exactly one worker owns that path: the one holding flock() on `<worker_socket>.lock` (taken
 * without waiting; the kernel drops it when the holder dies, so no stale-socket guessing). The
 * others bind `<worker_socket>.<id>` (reached only by a queue_wake that also sends there) and
 * poll; each poll tick they try the lock again, so a new owner takes over within one tick.
 *
 * Watchers: the wake socket (drain, then run due jobs at once); a poll timer, conf
 * `worker_poll_seconds` (default 1): due retries, expired leases, lock take-over; an hourly
 * periodic pushing housekeeping.purge; an idle watcher running ONE job per loop iteration, so
 * signals are seen between jobs; a retry timer while the database is unreachable (backoff
 * 1, 2, 4 .. 30 s, nothing else touches the database meanwhile); SIGTERM/SIGINT: stop after the
 * job in hand, exit 0; SIGHUP: re-read the config, reconnect, rebind if the path changed.
 *
 * Hub link (hublink.h): may be run by the worker that owns the wake socket (or, without a working
 * wake socket, by anyone) AND holds flock() on the MQTT lock file (conf `mqtt_lock_file`, default
 * <var_dir>/run/apf-mqtt.lock): the broker allows one connection per client id, so a second
 * link (another worker, or a test daemon with its own wake socket) would kick the first. Across
 * hosts the lease decides (lease.h, docs/scale-out.md "Hub link and waiters"): such a worker
 * takes cluster_leases 'mqtt-link' (TTL conf `mqtt_lease_seconds`, default 6) before it
 * connects, renews it every second, and stops the link, writing nothing more to it, once its
 * own clock says the lease ran out (TTL - 1 s after the last renewal was sent) or a renewal
 * fails: every link callback checks that first. Its link writes carry the lease token
 * (hubcmd_fence). The others try again each poll tick. Watchers of the link: the MQTT socket
 * (read always, write while libmosquitto has output queued), a 1 s timer for keep-alive, a
 * reconnect timer (back-off 1, 2, 4 .. 30 s, reset once the broker accepted us) and a 250 ms
 * tick (lease renewal every 1 s, status batch flush, expiry sweep, fallback publishing). A wake datagram also publishes pending hub commands. */
#include "loop.h"

#include "cfg.h"
#include "hubcmd.h"
#include "hublink.h"
#include "lease.h"
#include "log.h"
#include "util.h"
#include "dispatcher.h"
#include "webhooks.h"
#include "worker.h"
#include "wstats.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)
#define BACKOFF_MAX 30.0
#define MQ_BACKOFF_MAX 30.0
#define HUB_TICK 0.25

struct wake {
	int fd;                   /* bound datagram socket, -1 when polling only */
	int lock_fd;              /* open <worker_socket>.lock, -1 when none */
	bool owner;               /* lock held: fd is bound to conf_path itself */
	char conf_path[SUN_PATH_MAX]; /* worker_socket as configured ("" when unset) */
	char path[SUN_PATH_MAX];  /* path fd is bound to; unlinked at close */
	ev_io io;
};

struct worker {
	struct ev_loop *loop;
	const char *conf;
	char id[48];              /* file-name safe */
	char locked_by[64];       /* queue_jobs.locked_by: host_id:pid/id */
	char holder[128];         /* cluster_leases.holder of the MQTT link: host_id/id */
	struct db *db;
	struct wake wake;
	ev_idle run;
	ev_timer poll, retry;
	ev_periodic hourly;
	ev_signal sigterm, sigint, sighup;
	double backoff;           /* current database retry delay; 0 when the database answers */
	bool db_down, purge_pending;
	/* hub link: non-NULL while this worker runs it */
	struct hublink *hub;
	int mq_lock_fd;           /* flock()ed MQTT lock file, -1 when not held */
	int mq_fd;                /* descriptor mq_io watches, -1 when none */
	int mq_events;            /* EV_READ / EV_WRITE set on mq_io */
	double mq_backoff;        /* next reconnect delay; 0 after a successful CONNACK */
	bool hub_failed;          /* the last hublink_new failed (logged once) */
	bool leased;              /* the MQTT link lease is held: the link may run */
	long long lease_token;    /* its token (fencing), valid while leased */
	long long last_token;     /* token of the last lease held, 0 before the first */
	int64_t lease_until;      /* util_mono_ms() from which the lease counts as lost */
	int64_t renew_at;         /* util_mono_ms() of the next renewal */
	ev_io mq_io;
	ev_timer mq_misc, mq_retry, hub_tick;
	struct whd *webhooks;     /* webhook delivery (workers/webhooks.h), NULL when it did not start */
};

/* ------------------------------------------------------------------------- wake socket */

static int sock_bind(const char *path)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	chmod(path, 0660); /* producers (apf-fcgi, apf-admin) may run as another user of the group */
	return fd;
}

static void on_wake(struct ev_loop *loop, ev_io *io, int revents);

static void wake_listen(struct worker *w, const char *path, bool owner)
{
	struct wake *k = &w->wake;
	int fd = sock_bind(path);
	if (fd < 0) {
		log_warn("cannot bind wake socket %s: %s; polling only", path, strerror(errno));
		return;
	}
	k->fd = fd;
	k->owner = owner;
	snprintf(k->path, sizeof k->path, "%s", path);
	ev_io_init(&k->io, on_wake, fd, EV_READ);
	k->io.data = w;
	ev_io_start(w->loop, &k->io);
}

static void wake_unbind(struct worker *w)
{
	struct wake *k = &w->wake;
	if (k->fd < 0)
		return;
	ev_io_stop(w->loop, &k->io);
	close(k->fd);
	unlink(k->path); /* while still holding the lock: never someone else's socket */
	k->fd = -1;
	k->path[0] = '\0';
	k->owner = false;
}

static bool lock_take(struct wake *k)
{
	return k->lock_fd >= 0 && flock(k->lock_fd, LOCK_EX | LOCK_NB) == 0;
}

/* Binds conf_path when the lock is free, else <conf_path>.<id>. */
static void wake_open(struct worker *w)
{
	struct wake *k = &w->wake;
	const char *path = cfg_str("worker_socket", NULL);
	k->fd = k->lock_fd = -1;
	k->owner = false;
	k->conf_path[0] = '\0';
	if (!path) {
		log_warn("no worker_socket configured; polling only");
		return;
	}
	char lock[SUN_PATH_MAX + 8], mine[SUN_PATH_MAX + 64];
	snprintf(lock, sizeof lock, "%s.lock", path);
	snprintf(mine, sizeof mine, "%s.%s", path, w->id);
	if (strlen(mine) >= SUN_PATH_MAX) {
		log_warn("worker_socket %s is too long for a unix socket; polling only", path);
		return;
	}
	snprintf(k->conf_path, sizeof k->conf_path, "%s", path);
	k->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
	if (k->lock_fd < 0) {
		log_warn("cannot open %s: %s; polling only", lock, strerror(errno));
		return;
	}
	if (lock_take(k))
		wake_listen(w, path, true);
	else
		wake_listen(w, mine, false);
}

static void wake_close(struct worker *w)
{
	struct wake *k = &w->wake;
	wake_unbind(w);
	if (k->lock_fd >= 0)
		close(k->lock_fd); /* drops the lock */
	k->lock_fd = -1;
}

/* A worker without the lock takes the path over once its owner is gone. */
static void wake_elect(struct worker *w)
{
	struct wake *k = &w->wake;
	if (k->owner || !lock_take(k))
		return;
	wake_unbind(w);
	wake_listen(w, k->conf_path, true);
	if (k->owner)
		log_info("took over the wake socket %s", k->conf_path);
}

/* ------------------------------------------------------------------------- database state */

static void run_start(struct worker *w)
{
	if (!w->db_down)
		ev_idle_start(w->loop, &w->run);
}

static void db_trouble(struct worker *w, enum api_err err)
{
	ev_idle_stop(w->loop, &w->run);
	w->db_down = true;
	w->backoff = w->backoff > 0 ? w->backoff * 2 : 1;
	if (w->backoff > BACKOFF_MAX)
		w->backoff = BACKOFF_MAX;
	log_warn("database %s; retrying in %.0f s",
		 err == E_SERVICE_UNAVAILABLE ? "unavailable" : "error", w->backoff);
	ev_timer_stop(w->loop, &w->retry);
	ev_timer_set(&w->retry, w->backoff, 0.);
	ev_timer_start(w->loop, &w->retry);
}

static void db_fine(struct worker *w)
{
	if (w->backoff > 0)
		log_info("database reachable again");
	w->backoff = 0;
}

static void purge_push(struct worker *w)
{
	long long id = 0;
	enum api_err err = worker_push_purge(w->db, time(NULL), &id);
	if (err) {
		w->purge_pending = true;
		db_trouble(w, err);
		return;
	}
	w->purge_pending = false;
	run_start(w);
}

/* ------------------------------------------------------------------------- hub link */

/* After a database error of the hub link (the loop's usual back-off). */
static void hub_db_check(struct worker *w)
{
	enum api_err err = w->hub ? hublink_take_db_err(w->hub) : E_OK;
	if (err)
		db_trouble(w, err);
}

static void mq_retry_later(struct worker *w)
{
	w->mq_backoff = w->mq_backoff > 0 ? w->mq_backoff * 2 : 1;
	if (w->mq_backoff > MQ_BACKOFF_MAX)
		w->mq_backoff = MQ_BACKOFF_MAX;
	log_info("MQTT: reconnecting in %.0f s", w->mq_backoff);
	ev_timer_stop(w->loop, &w->mq_retry);
	ev_timer_set(&w->mq_retry, w->mq_backoff, 0.);
	ev_timer_start(w->loop, &w->mq_retry);
}

/* Brings mq_io in line with libmosquitto after any call into the link: new or vanished
 * socket, output queued or not. A vanished socket schedules the reconnect. */
static void mq_sync(struct worker *w)
{
	int fd = hublink_fd(w->hub);
	int events = fd < 0 ? 0 : EV_READ | (hublink_want_write(w->hub) ? EV_WRITE : 0);
	if (hublink_is_up(w->hub))
		w->mq_backoff = 0;
	if (fd == w->mq_fd && events == w->mq_events)
		return;
	if (w->mq_fd >= 0)
		ev_io_stop(w->loop, &w->mq_io);
	bool lost = w->mq_fd >= 0 && fd < 0;
	w->mq_fd = fd;
	w->mq_events = events;
	if (fd >= 0) {
		ev_io_set(&w->mq_io, fd, events);
		ev_io_start(w->loop, &w->mq_io);
	} else if (lost && w->hub && !ev_is_active(&w->mq_retry)) {
		mq_retry_later(w);
	}
}

static void mq_connect(struct worker *w)
{
	if (!w->hub || !w->leased || hublink_fd(w->hub) >= 0)
		return;
	if (hublink_connect(w->hub) < 0) {
		mq_sync(w);
		mq_retry_later(w);
		return;
	}
	mq_sync(w);
}

/* <var_dir>/run/apf-mqtt.lock unless conf mqtt_lock_file says otherwise ("" when neither). */
static void mq_lock_path(char *buf, size_t size)
{
	const char *path = cfg_str("mqtt_lock_file", NULL), *var = cfg_str("var_dir", NULL);
	if (path)
		snprintf(buf, size, "%s", path);
	else if (var)
		snprintf(buf, size, "%s/run/apf-mqtt.lock", var);
	else
		buf[0] = '\0';
}

static long lease_ttl(void)
{
	long s = cfg_int("mqtt_lease_seconds", 6);
	return s < 3 ? 3 : s;
}

/* The lease counts until ttl - 1 s after t0, the local time taken BEFORE the statement that set
 * expires_at = NOW(3) + ttl: the link stops at least 1 s before another worker may take it. */
static void lease_held(struct worker *w, int64_t t0)
{
	w->lease_until = t0 + (lease_ttl() - 1) * 1000;
	hublink_set_lease(w->hub, w->lease_token, w->lease_until);
}

/* Stops every watcher of the MQTT link (the connection's fd is no longer watched). */
static void link_watchers_stop(struct worker *w)
{
	if (w->mq_fd >= 0)
		ev_io_stop(w->loop, &w->mq_io);
	w->mq_fd = -1;
	w->mq_events = 0;
	ev_timer_stop(w->loop, &w->mq_misc);
	ev_timer_stop(w->loop, &w->mq_retry);
	ev_timer_stop(w->loop, &w->hub_tick);
}

/* Closes the MQTT connection at once (nothing more is written to it) and stops every watcher
 * of the link; the hub link's received state is kept for a take-over without a gap. */
static void link_suspend(struct worker *w, const char *why)
{
	log_warn("hub link: MQTT link stopped: %s (lease token %lld)", why, w->lease_token);
	link_watchers_stop(w);
	hublink_suspend(w->hub);
	hubcmd_fence(w->lease_token); /* a write still attempted is refused once the token moved */
	w->leased = false;
}

/* True while this worker holds the lease by its own clock. Past lease_until the link is
 * stopped first, before anything else runs: a worker resumed after SIGSTOP (or a whole host
 * resumed) publishes nothing under a lease that another worker may hold by now. */
static bool lease_fresh(struct worker *w)
{
	if (!w->hub || !w->leased)
		return false;
	if (util_mono_ms() < w->lease_until)
		return true;
	link_suspend(w, "the lease was not renewed in time");
	return false;
}

/* Renews the lease once a second (from the poll timer and the hub tick). */
static void lease_keep(struct worker *w)
{
	if (!lease_fresh(w) || w->db_down)
		return;
	int64_t t0 = util_mono_ms();
	if (t0 < w->renew_at)
		return;
	w->renew_at = t0 + 1000;
	int ok = 0;
	enum api_err err = lease_renew(w->db, HUBCMD_LEASE, w->holder, w->lease_token, lease_ttl(),
				       &ok);
	if (err) {
		if (err == E_SERVICE_UNAVAILABLE)
			db_trouble(w, err);
		return; /* not renewed: the link stops at lease_until unless a renewal succeeds */
	}
	if (!ok)
		link_suspend(w, "the lease has another holder or token");
	else
		lease_held(w, t0);
}

/* Takes the lease when it is free or expired (or already this worker's), then starts the link. */
static void lease_try(struct worker *w)
{
	if (!w->hub || w->leased || w->db_down)
		return;
	int64_t t0 = util_mono_ms();
	long long token = 0;
	char broker[300];
	enum api_err err = lease_take(w->db, HUBCMD_LEASE, w->holder, lease_ttl(), &token, broker,
				      sizeof broker);
	if (err) {
		if (err == E_SERVICE_UNAVAILABLE)
			db_trouble(w, err);
		return;
	}
	if (!token)
		return; /* another worker holds the link */
	if (w->last_token && token != w->last_token + 1)
		hublink_discard(w->hub); /* another worker held the link meanwhile */
	w->lease_token = w->last_token = token;
	w->leased = true;
	/* first to the broker the last holder used: its session holds what nobody read yet */
	hublink_use_broker(w->hub, broker);
	w->renew_at = t0 + 1000;
	lease_held(w, t0);
	w->mq_backoff = 0;
	ev_timer_start(w->loop, &w->mq_misc);
	ev_timer_start(w->loop, &w->hub_tick);
	log_info("hub link: this worker holds the MQTT link (lease holder %s, token %lld)",
		 w->holder, token);
	mq_connect(w);
}

/* Prepares the hub link when this worker may run it (see the file comment), then tries the
 * cluster-wide lease, which decides across hosts. */
static void hub_role_try(struct worker *w)
{
	if (!(cfg_str("mqtt_host", NULL) || cfg_str("mqtt_hosts", NULL)) ||
	    !cfg_str("mqtt_username", NULL))
		return;
	if (w->hub) {
		lease_try(w);
		return;
	}
	if (w->wake.lock_fd >= 0 && !w->wake.owner)
		return; /* the wake socket's owner gets the datagrams: it alone runs the link */
	if (w->mq_lock_fd < 0) {
		char path[512];
		mq_lock_path(path, sizeof path);
		if (path[0]) {
			int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
			if (fd < 0) {
				log_warn("cannot open %s: %s; no hub link", path, strerror(errno));
				return;
			}
			if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
				close(fd);
				return; /* another worker of this host runs the link */
			}
			w->mq_lock_fd = fd;
		}
	}
	w->hub = hublink_new(w->db, w->locked_by);
	if (!w->hub) {
		if (!w->hub_failed)
			log_error("hub link not started (MQTT setup failed, see above); retrying each"
				  " poll tick");
		w->hub_failed = true;
		if (w->mq_lock_fd >= 0)
			close(w->mq_lock_fd); /* let another worker try */
		w->mq_lock_fd = -1;
		return;
	}
	w->hub_failed = false;
	hublink_set_holder(w->hub, w->holder);
	hublink_set_db_down(w->hub, w->db_down);
	lease_try(w);
}

static void hub_role_drop(struct worker *w)
{
	if (!w->hub)
		return;
	link_watchers_stop(w);
	hublink_set_db_down(w->hub, w->db_down);
	if (w->leased && util_mono_ms() < w->lease_until && !w->db_down &&
	    lease_release(w->db, HUBCMD_LEASE, w->holder, w->lease_token) == E_OK)
		log_info("hub link: MQTT link lease given up (token %lld)", w->lease_token);
	hublink_free(w->hub); /* flushes, DISCONNECTs (the broker keeps our session) */
	w->hub = NULL;
	w->leased = false;
	if (w->mq_lock_fd >= 0)
		close(w->mq_lock_fd);
	w->mq_lock_fd = -1;
}

static void on_mq_io(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	struct worker *w = io->data;
	if (!lease_fresh(w))
		return;
	hublink_set_db_down(w->hub, w->db_down);
	hublink_io(w->hub, revents & EV_READ, revents & EV_WRITE);
	hub_db_check(w);
	mq_sync(w);
}

static void on_mq_misc(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	struct worker *w = t->data;
	if (!lease_fresh(w))
		return;
	if (hublink_fd(w->hub) >= 0)
		hublink_misc(w->hub);
	mq_sync(w);
}

static void on_mq_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	if (lease_fresh(t->data))
		mq_connect(t->data);
}

static void on_hub_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	struct worker *w = t->data;
	lease_keep(w);
	if (w->db_down || !lease_fresh(w))
		return;
	hublink_set_db_down(w->hub, false);
	hublink_tick(w->hub);
	hub_db_check(w);
	mq_sync(w);
}

/* ------------------------------------------------------------------------- callbacks */

static void on_run(struct ev_loop *loop, ev_idle *iw, int revents)
{
	(void)revents;
	struct worker *w = iw->data;
	int ran = 0;
	enum api_err err = worker_run_one(w->db, w->locked_by, NULL, &ran);
	if (err) {
		db_trouble(w, err);
		return;
	}
	db_fine(w);
	if (!ran)
		ev_idle_stop(loop, iw);
}

static void on_wake(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	struct worker *w = io->data;
	char buf[64];
	while (recv(io->fd, buf, sizeof buf, MSG_DONTWAIT) >= 0) {
	}
	if (w->hub && !w->db_down && lease_fresh(w)) {
		hublink_set_db_down(w->hub, false);
		hublink_pump(w->hub); /* hub commands first: an API request is waiting */
		hub_db_check(w);
		mq_sync(w);
	}
	run_start(w);
}

static void on_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	struct worker *w = t->data;
	wake_elect(w);
	hub_role_try(w);
	lease_keep(w);
	if (w->db_down)
		return;
	/* this worker's counters for /metrics, every few seconds (workers/wstats.h) */
	wstats_link(w->hub && w->leased && hublink_is_up(w->hub));
	(void)wstats_flush(w->db, w->holder, false);
	/* the periodic auto-dispatch run (workers/dispatcher.h) */
	if (dispatcher_push_tick(w->db, time(NULL)) != E_OK)
		log_warn("could not queue the periodic dispatch run");
	if (w->purge_pending)
		purge_push(w);
	else
		run_start(w);
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	struct worker *w = t->data;
	w->db_down = false;
	if (w->purge_pending)
		purge_push(w);
	else
		run_start(w);
}

static void on_hourly(struct ev_loop *loop, ev_periodic *p, int revents)
{
	(void)loop;
	(void)revents;
	struct worker *w = p->data;
	w->purge_pending = true;
	if (!w->db_down)
		purge_push(w);
}

static void on_stop(struct ev_loop *loop, ev_signal *s, int revents)
{
	(void)revents;
	/* Callbacks run to completion: the job in hand (if any) is already acknowledged. */
	log_info("signal %d: stopping", s->signum);
	ev_break(loop, EVBREAK_ALL);
}

static double poll_seconds(void)
{
	long s = cfg_int("worker_poll_seconds", 1);
	return s < 1 ? 1. : (double)s;
}

static void on_hup(struct ev_loop *loop, ev_signal *s, int revents)
{
	(void)revents;
	struct worker *w = s->data;
	if (cfg_load(w->conf) < 0) {
		log_warn("SIGHUP: cannot re-read the configuration; keeping the current one");
		return;
	}
	const char *path = cfg_str("worker_socket", "");
	if (strcmp(path, w->wake.conf_path) != 0) {
		wake_close(w);
		wake_open(w);
	}
	struct db *db = db_open(); /* new settings take effect at the next statement */
	if (db) {
		db_close(w->db);
		w->db = db;
		if (w->hub)
			hublink_set_db(w->hub, db);
	}
	whd_reload(w->webhooks);
	if (w->hub && hublink_conf_changed(w->hub)) {
		log_info("SIGHUP: MQTT settings changed; reconnecting");
		hub_role_drop(w);
	}
	w->poll.repeat = poll_seconds();
	ev_timer_again(loop, &w->poll);
	ev_timer_stop(loop, &w->retry);
	w->db_down = false;
	w->backoff = 0;
	log_info("SIGHUP: configuration reloaded from %s", cfg_path());
	hub_role_try(w);
	if (w->purge_pending)
		purge_push(w);
	else
		run_start(w);
}

/* ------------------------------------------------------------------------- life cycle */

static void ids_init(struct worker *w, const char *id)
{
	size_t n = 0;
	for (const char *p = id ? id : ""; *p && n + 1 < sizeof w->id; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '_';
		w->id[n++] = ok ? c : '_';
	}
	w->id[n] = '\0';
	if (n == 0)
		snprintf(w->id, sizeof w->id, "%d", (int)getpid());
	const char *host = cfg_host_id();
	snprintf(w->locked_by, sizeof w->locked_by, "%.24s:%d/%.24s", host, (int)getpid(), w->id);
	snprintf(w->holder, sizeof w->holder, "%.96s/%.24s", host, w->id);
}

int worker_loop_run(const struct worker_opts *o)
{
	static struct worker wk; /* watchers must outlive every callback: static, not on a stack */
	struct worker *w = &wk;
	memset(w, 0, sizeof *w);
	w->conf = o->conf;
	ids_init(w, o->id);
	w->wake.fd = w->wake.lock_fd = -1;
	w->mq_fd = w->mq_lock_fd = -1;
	signal(SIGPIPE, SIG_IGN);

	w->loop = ev_default_loop(EVFLAG_AUTO);
	if (!w->loop) {
		log_error("cannot initialise libev");
		return 1;
	}
	w->db = db_open();
	if (!w->db) {
		log_error("out of memory");
		ev_loop_destroy(w->loop);
		return 1;
	}

	ev_idle_init(&w->run, on_run);
	ev_timer_init(&w->poll, on_poll, poll_seconds(), poll_seconds());
	ev_timer_init(&w->retry, on_retry, 1., 0.);
	ev_periodic_init(&w->hourly, on_hourly, 0., 3600., 0);
	ev_signal_init(&w->sigterm, on_stop, SIGTERM);
	ev_signal_init(&w->sigint, on_stop, SIGINT);
	ev_signal_init(&w->sighup, on_hup, SIGHUP);
	ev_io_init(&w->mq_io, on_mq_io, 0, EV_READ);
	ev_timer_init(&w->mq_misc, on_mq_misc, 1., 1.);
	ev_timer_init(&w->mq_retry, on_mq_retry, 1., 0.);
	ev_timer_init(&w->hub_tick, on_hub_tick, HUB_TICK, HUB_TICK);
	w->mq_io.data = w->mq_misc.data = w->mq_retry.data = w->hub_tick.data = w;
	w->run.data = w->poll.data = w->retry.data = w->hourly.data = w;
	w->sigterm.data = w->sigint.data = w->sighup.data = w;
	ev_timer_start(w->loop, &w->poll);
	ev_periodic_start(w->loop, &w->hourly);
	ev_signal_start(w->loop, &w->sigterm);
	ev_signal_start(w->loop, &w->sigint);
	ev_signal_start(w->loop, &w->sighup);

	wake_open(w);
	log_info("worker %s started (locked_by %s, lease holder %s; wake socket %s%s; poll %.0f s)",
		 w->id, w->locked_by, w->holder, w->wake.fd >= 0 ? w->wake.path : "none",
		 w->wake.fd >= 0 && !w->wake.owner ? ", not the owner" : "", poll_seconds());
	w->webhooks = whd_new(w->loop, w->holder);
	hub_role_try(w);
	purge_push(w); /* also starts the first run of due jobs */

	ev_run(w->loop, 0);

	whd_free(w->webhooks);
	hub_role_drop(w);
	wstats_link(false);
	if (!w->db_down)
		(void)wstats_flush(w->db, w->holder, true);
	wake_close(w);
	ev_idle_stop(w->loop, &w->run);
	ev_timer_stop(w->loop, &w->poll);
	ev_timer_stop(w->loop, &w->retry);
	ev_periodic_stop(w->loop, &w->hourly);
	ev_signal_stop(w->loop, &w->sigterm);
	ev_signal_stop(w->loop, &w->sigint);
	ev_signal_stop(w->loop, &w->sighup);
	db_close(w->db);
	ev_loop_destroy(w->loop);
	log_info("worker %s stopped", w->id);
	return 0;
}
