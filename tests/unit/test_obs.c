/* test_obs.c - the log line format (common/log.h: request id context, journald priority
 * prefixes when stderr is the journal) and the FastCGI access line with the shared counters
 * across processes (fcgi/metrics.h). docs/observability.md. */
#include "tunit.h"

#include "log.h"
#include "metrics.h"
#include "obs.h"
#include "routes.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* stderr goes to a temporary file while fn runs; its text into out. */
static void capture(void (*fn)(void), char *out, size_t size)
{
	char path[] = "/tmp/apf-test-obs-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	out[0] = '\0';
	if (fd < 0 || saved < 0)
		return;
	unlink(path);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ssize_t n = pread(fd, out, size - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
}

static void plain_lines(void)
{
	log_set_request("req-1");
	log_info("hello %d", 1);
	log_set_request(NULL);
	log_warn("no request");
}

static void test_log_context(void)
{
	char out[1024];
	unsetenv("JOURNAL_STREAM");
	log_journal_recheck();
	capture(plain_lines, out, sizeof out);
	TU_CHECK(strstr(out, "] info: rid=req-1 hello 1\n") != NULL, "context line: %s", out);
	TU_CHECK(strstr(out, "] warn: no request\n") != NULL, "line without context: %s", out);
	TU_CHECK(out[0] >= '2' && out[0] <= '9' && strstr(out, "Z ") != NULL, "time first: %s", out);
	TU_STR(log_request(), "");
	log_set_request("a b\nc");
	TU_STR(log_request(), "a_b_c"); /* one token, one line, whatever came in */
	log_set_request(NULL);
}

static void journal_lines(void)
{
	struct stat st;
	char js[64];
	fstat(STDERR_FILENO, &st); /* the capture file: "the journal" */
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_journal_recheck();
	log_set_request("req-2");
	log_info("started");
	log_set_request(NULL);
	log_error("boom");
	log_warn("careful");
	log_msg(LOG_DEBUG, "detail");
	unsetenv("JOURNAL_STREAM");
	log_journal_recheck();
}

static void not_journal_lines(void)
{
	setenv("JOURNAL_STREAM", "1:2", 1); /* names another file: stderr was redirected */
	log_journal_recheck();
	log_error("boom");
	unsetenv("JOURNAL_STREAM");
	log_journal_recheck();
}

static void test_log_journal(void)
{
	char out[1024];
	capture(journal_lines, out, sizeof out);
	TU_STR(out, "<6>rid=req-2 started\n<3>boom\n<4>careful\n<7>detail\n");
	capture(not_journal_lines, out, sizeof out);
	TU_CHECK(out[0] != '<' && strstr(out, "] error: boom\n"), "plain format: %s", out);
}

static unsigned route_slot(const char *method, const char *path)
{
	for (unsigned i = 0; i < nroutes; i++)
		if (strcmp(routes[i].path, path) == 0 && strcmp(method_name(routes[i].method), method) == 0)
			return i;
	return metrics_slot(METRICS_SLOT_UNMATCHED);
}

static void access_line(void)
{
	metrics_begin("req-3");
	metrics_end(route_slot("GET", "/printers/{id}"), 404, "key-uuid", "account-uuid");
	metrics_begin("req-4");
	metrics_status(206);
	metrics_end(metrics_slot(METRICS_SLOT_HUBFILES), 0, NULL, "");
}

static void test_access_line(void)
{
	char out[2048];
	unsetenv("JOURNAL_STREAM");
	log_journal_recheck();
	TU_INT(metrics_init(), 0);
	capture(access_line, out, sizeof out);
	TU_CHECK(strstr(out, "info: rid=req-3 access method=GET route=/v1/printers/{id} status=404"
			     " duration_ms=") != NULL, "access line: %s", out);
	TU_CHECK(strstr(out, " key_id=key-uuid account_id=account-uuid\n") != NULL, "principal: %s",
		 out);
	TU_CHECK(strstr(out, "rid=req-4 access method=GET route=/hub/v1/files/{id} status=206") &&
		 strstr(out, "key_id=- account_id=-\n"), "hub file line: %s", out);
	TU_STR(log_request(), "");
}

/* Counters of children add up in the master's mapping (here: this process and a fork). */
static void test_shared_counters(void)
{
	TU_INT(metrics_init(), 0);
	uint64_t before = obs_get(&obs_counters->db_reconnects);
	obs_add(&obs_counters->db_reconnects, 1);
	pid_t pid = fork();
	if (pid == 0) {
		obs_add(&obs_counters->db_reconnects, 2);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	TU_INT(obs_get(&obs_counters->db_reconnects), before + 3);
}

/* /metrics is a scrape only with the mark of nginx's metrics listener, on that exact path. */
static void test_scrape_mark(void)
{
	static const struct {
		const char *uri;
		int marked, want;
	} cases[] = {
		{ "/metrics", 1, 1 }, { "/metrics?x=1", 1, 1 }, { "/metrics", 0, 0 },
		{ "/metrics/", 1, 0 }, { "/metricsx", 1, 0 }, { "/v1/metrics", 1, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char uri[64];
		snprintf(uri, sizeof uri, "REQUEST_URI=%s", cases[i].uri);
		char *env[] = { uri, cases[i].marked ? (char *)"APF_METRICS=1" : (char *)"X=1", NULL };
		FCGX_Request fr;
		memset(&fr, 0, sizeof fr);
		fr.envp = env;
		TU_CHECK(metrics_is_scrape(&fr) == cases[i].want, "%s marked %d: want %d",
			 cases[i].uri, cases[i].marked, cases[i].want);
	}
}

int init_obs_suite(void)
{
	CU_pSuite s = CU_add_suite("obs", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_log_context);
	TU_ADD(s, test_log_journal);
	TU_ADD(s, test_access_line);
	TU_ADD(s, test_shared_counters);
	TU_ADD(s, test_scrape_mark);
	return 0;
}
