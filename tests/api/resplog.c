/* resplog.c - the response log of the API tests (resplog.h). */
#include "resplog.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int log_fd = -1;

static void open_log(void)
{
	const char *file = getenv("APF_RESPONSE_LOG");
	if (file && *file)
		log_fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

void resplog_write(CURL *h, const struct resp *r)
{
	pthread_once(&once, open_log);
	if (log_fd < 0 || r->status == 0)
		return;
	char method[16] = "GET";
	sscanf(r->what, "%15s", method);
	const char *url = NULL;
	curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url);
	/* the path from the origin on, without the query */
	const char *path = url ? strstr(url, "://") : NULL;
	path = path ? strchr(path + 3, '/') : NULL;
	const char *ct = resp_header(r, "Content-Type");
	json_t *line = json_pack("{s:s, s:s%, s:i, s:s?, s:O?}", "method", method, "path",
				 path ? path : "/", path ? strcspn(path, "?") : (size_t)1, "status",
				 (int)r->status, "content_type", ct, "json", r->json);
	if (!line)
		return;
	if (!r->json)
		json_object_set_new(line, "body_len", json_integer((json_int_t)r->len));
	char *text = json_dumps(line, JSON_COMPACT);
	json_decref(line);
	if (!text)
		return;
	size_t n = strlen(text);
	text[n] = '\n'; /* replaces the NUL: one write of the whole line */
	ssize_t w = write(log_fd, text, n + 1);
	(void)w;
	free(text);
}
