/* inflight.c - API requests on threads of their own (see inflight.h). */
#include "inflight.h"

#include "apitest.h"
#include "cfg.h"
#include "util.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

static size_t preq_body(char *data, size_t size, size_t nmemb, void *ud)
{
	char **buf = ud;
	size_t n = size * nmemb, have = *buf ? strlen(*buf) : 0;
	if (have + n > 65536)
		return n; /* enough to parse an envelope */
	char *nb = realloc(*buf, have + n + 1);
	if (!nb)
		return 0;
	memcpy(nb + have, data, n);
	nb[have + n] = '\0';
	*buf = nb;
	return n;
}

static void *preq_run(void *arg)
{
	struct preq *q = arg;
	char url[1024], auth[160];
	char *body = NULL;
	struct curl_slist *hl = NULL;
	CURL *h = curl_easy_init();
	int64_t t0 = util_now_ms();
	if (!h) {
		q->done_at = util_now_ms();
		return NULL; /* status 0: the caller's check reports it */
	}
	snprintf(url, sizeof url, "%s%s", client_base_url(), q->path);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", q->key);
	hl = curl_slist_append(hl, auth);
	hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, cfg_str("tls_cert", ""));
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 90L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(q->body ? strlen(q->body) : 0));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, preq_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &q->status);
	q->done_at = util_now_ms();
	q->ms = (long)(q->done_at - t0);
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	const char *code = json_string_value(json_object_get(j, "code"));
	const char *cid = json_string_value(json_object_get(json_object_get(j, "data"),
							    "command_id"));
	snprintf(q->code, sizeof q->code, "%s", code ? code : "");
	snprintf(q->command_id, sizeof q->command_id, "%s", cid ? cid : "");
	json_decref(j);
	free(body);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	return NULL;
}

void preq_start(struct preq *q)
{
	q->status = 0;
	q->ms = 0;
	q->done_at = 0;
	q->code[0] = q->command_id[0] = '\0';
	q->started = pthread_create(&q->th, NULL, preq_run, q) == 0;
	CHECK(q->started, NULL, "cannot start a request thread for %s", q->path);
}

void preq_join(struct preq *q)
{
	if (q->started)
		pthread_join(q->th, NULL);
	q->started = 0;
}
