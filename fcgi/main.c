/* apf-fcgi - prefork FastCGI master.
 *
 * The master opens the listening socket (or inherits it on fd 0 from spawn-fcgi / systemd),
 * forks fcgi_children children that each accept and serve requests with their own MariaDB
 * connection, and respawns a child that dies. SIGTERM/SIGINT: graceful stop (children finish
 * the request in flight). SIGHUP: graceful reload (config re-read, children replaced). */
#include "budget.h"
#include "cfg.h"
#include "db.h"
#include "dispatch.h"
#include "hot.h"
#include "hubcmd.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"

#include <errno.h>
#include <fcgiapp.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define APF_LEAK_CHECK 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define APF_LEAK_CHECK 1
#endif
#ifdef APF_LEAK_CHECK
#include <sanitizer/lsan_interface.h>
#endif

#define MAX_CHILDREN BUDGET_CHILDREN_MAX

static volatile sig_atomic_t got_term, got_hup, got_chld;
static volatile sig_atomic_t child_stop;

static void on_master_signal(int sig)
{
	if (sig == SIGTERM || sig == SIGINT)
		got_term = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGCHLD)
		got_chld = 1;
}

static void on_child_term(int sig)
{
	(void)sig;
	child_stop = 1;
	FCGX_ShutdownPending();
}

static void set_handler(int sig, void (*fn)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a blocking accept() returns EINTR */
	sigaction(sig, &sa, NULL);
}

/* A child ends with _exit (the master's atexit handlers and stdio buffers are not the
 * child's). In the sanitizer build the leak check runs first, since _exit skips it: a leak
 * in a request handler is reported in the log and ends the child with LeakSanitizer's exit
 * code, which the master logs. */
static _Noreturn void child_exit(int status)
{
#ifdef APF_LEAK_CHECK
	__lsan_do_leak_check();
#endif
	_exit(status);
}

static void child_main(int listen_fd)
{
	signal(SIGHUP, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	set_handler(SIGTERM, on_child_term);
	set_handler(SIGINT, on_child_term);
	signal(SIGPIPE, SIG_IGN);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	struct db *db = db_open();
	(void)hubcmd_waiter_open(); /* without it hub commands poll their row only */
	FCGX_Request req;
	if (!db || FCGX_InitRequest(&req, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		child_exit(1);
	while (!child_stop) {
		if (FCGX_Accept_r(&req) < 0) {
			if (child_stop)
				break;
			if (errno == EINTR)
				continue;
			break;
		}
		dispatch(&req, db);
		hubcmd_wait_done(db);       /* a request that stopped before its wait */
		budget_slots_release_all(); /* upload slot */
		FCGX_Finish_r(&req);
	}
	hubcmd_waiter_close();
	db_close(db);
	child_exit(0);
}

/* A child that did not end by itself with status 0: how it ended (scripts/test.sh fails a
 * run on any such line but a SIGKILL, which the tests send on purpose). */
static void report_child_end(pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		log_warn("child %d died: killed by signal %d (%s)", (int)pid,
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_warn("child %d died: exited with status %d", (int)pid,
			 WEXITSTATUS(status));
}

/* The notice listener (conf peer_listen, common/peer.h): other API hosts' data versions into
 * this host's memory. A process of its own, restarted like the children. */
static void notify_apply(const char *account, uint64_t version)
{
	hot_version_seen(account, version);
}

static pid_t spawn_listener(void)
{
	if (!cfg_str("peer_listen", NULL))
		return 0;
	pid_t pid = fork();
	if (pid != 0) {
		if (pid < 0)
			log_error("fork failed: %s", strerror(errno));
		return pid < 0 ? 0 : pid;
	}
	signal(SIGHUP, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	set_handler(SIGTERM, on_child_term);
	set_handler(SIGINT, on_child_term);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int fd = peer_listen_open();
	if (fd < 0) {
		sleep(1); /* the master starts it again */
		child_exit(1);
	}
	while (!child_stop)
		if (peer_serve_one(fd, notify_apply) < 0 && errno != EINTR)
			break;
	close(fd);
	child_exit(0);
}

static pid_t spawn(int listen_fd, long index)
{
	pid_t pid = fork();
	if (pid == 0) {
		metrics_child_started(index);
		child_main(listen_fd);
	}
	if (pid < 0)
		log_error("fork failed: %s", strerror(errno));
	return pid;
}

/* The socket is nginx's way in and nobody else's: mode 0660, group fcgi_socket_group (the group
 * nginx's workers run in; default: this process's own group, the local stack's case). Other
 * local users cannot reach the application around nginx's limits. */
static int open_socket(const char *path)
{
	/* Inherited socket (spawn-fcgi, systemd socket activation) on fd 0. */
	if (!FCGX_IsCGI())
		return 0;
	if (!path) {
		log_error("no fcgi_socket configured");
		return -1;
	}
	const char *gname = cfg_str("fcgi_socket_group", NULL);
	struct group *gr = gname ? getgrnam(gname) : NULL;
	if (gname && !gr) {
		log_error("fcgi_socket_group %s: no such group", gname);
		return -1;
	}
	unlink(path);
	mode_t old = umask(0117); /* created 0660: never open to others, not even for a moment */
	int fd = FCGX_OpenSocket(path, 1024);
	umask(old);
	if (fd < 0) {
		log_error("cannot listen on %s", path);
		return -1;
	}
	if ((gr && chown(path, (uid_t)-1, gr->gr_gid) < 0) || chmod(path, 0660) < 0) {
		log_error("cannot give %s mode 0660 and group %s: %s", path, gname ? gname : "(own)",
			  strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--conf") == 0 && i + 1 < argc)
			conf = argv[++i];
		else {
			fprintf(stderr, "usage: apf-fcgi [--conf FILE]\n");
			return 2;
		}
	}
	log_set_name("apf-fcgi");
	if (cfg_load(conf) < 0)
		return 1;
	if (FCGX_Init() != 0)
		return 1;
	const char *sock = cfg_str("fcgi_socket", NULL);
	int fd = open_socket(sock);
	if (fd < 0)
		return 1;

	set_handler(SIGTERM, on_master_signal);
	set_handler(SIGINT, on_master_signal);
	set_handler(SIGHUP, on_master_signal);
	set_handler(SIGCHLD, on_master_signal);
	signal(SIGPIPE, SIG_IGN);

	(void)budget_slots_init(); /* the children's shares of slow requests (common/budget.h) */
	(void)metrics_init();      /* the children's shared counters (fcgi/metrics.h) */
	(void)hot_init();          /* keys and rate-limit leases of this host (fcgi/hot.h) */
	long n = budget_children();
	pid_t kids[MAX_CHILDREN] = { 0 };
	for (long i = 0; i < n; i++)
		kids[i] = spawn(fd, i);
	pid_t listener = spawn_listener();
	log_info("listening on %s with %ld children", fd == 0 ? "inherited socket" : sock, n);

	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!got_term) {
		if (!got_chld && !got_hup)
			sigsuspend(&old);
		if (got_hup) {
			got_hup = 0;
			cfg_load(conf);
			log_info("reload: replacing children");
			/* old children finish their request and exit; new ones take over */
			for (long i = 0; i < n; i++) {
				if (kids[i] > 0)
					kill(kids[i], SIGTERM);
			}
			if (listener > 0)
				kill(listener, SIGTERM);
			got_chld = 1;
		}
		if (got_chld) {
			got_chld = 0;
			int status;
			pid_t pid;
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
				char wp[108];
				if (hubcmd_waiter_path((long)pid, wp, sizeof wp) == 0)
					unlink(wp); /* left behind when the child was killed */
				if (pid == listener) {
					report_child_end(pid, status);
					listener = 0;
				}
				for (long i = 0; i < n; i++) {
					if (kids[i] == pid) {
						report_child_end(pid, status);
						kids[i] = 0;
						metrics_child_ended(i);
					}
				}
			}
			for (long i = 0; i < n && !got_term; i++)
				if (kids[i] == 0) {
					kids[i] = spawn(fd, i);
					metrics_child_restarted();
				}
			if (listener == 0 && !got_term)
				listener = spawn_listener();
		}
	}
	log_info("stopping: waiting for children to finish their requests");
	for (long i = 0; i < n; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	if (listener > 0)
		kill(listener, SIGTERM);
	for (;;) {
		int status;
		pid_t pid = wait(&status);
		if (pid > 0)
			report_child_end(pid, status);
		else if (errno != EINTR)
			break;
	}
	if (fd != 0 && sock)
		unlink(sock);
	return 0;
}
