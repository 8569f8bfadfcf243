/* client.c - libcurl client of the API tests (see client.h). */
#include "client.h"

#include "cfg.h"
#include "resplog.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One per thread, reused: keeps the TLS connection alive between calls. The main thread's is
 * made by client_init; another thread's on its first call, freed by client_thread_end. */
static __thread CURL *easy;
static char base_url[512];
static char origin[512];
static char ca_file[1024];

int client_init(void)
{
	const char *b = cfg_str("base_url", NULL), *ca = cfg_str("tls_cert", NULL);
	if (!b || !ca) {
		fprintf(stderr, "client: base_url or tls_cert missing in %s\n", cfg_path());
		return -1;
	}
	snprintf(base_url, sizeof base_url, "%s", b);
	size_t n = strlen(base_url);
	while (n > 0 && base_url[n - 1] == '/')
		base_url[--n] = '\0';
	snprintf(ca_file, sizeof ca_file, "%s", ca);
	/* origin = scheme://host:port (base_url without its path) */
	snprintf(origin, sizeof origin, "%s", base_url);
	char *p = strstr(origin, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	if (p)
		*p = '\0';
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	easy = curl_easy_init();
	return easy ? 0 : -1;
}

void client_cleanup(void)
{
	if (easy)
		curl_easy_cleanup(easy);
	easy = NULL;
	curl_global_cleanup();
}

void client_thread_end(void)
{
	if (easy)
		curl_easy_cleanup(easy);
	easy = NULL;
}

const char *client_base_url(void)
{
	return base_url;
}

void resp_free(struct resp *r)
{
	if (!r)
		return;
	json_decref(r->json);
	free(r->body);
	for (size_t i = 0; i < r->nhdrs; i++) {
		free(r->hdrs[i].name);
		free(r->hdrs[i].value);
	}
	free(r->hdrs);
	memset(r, 0, sizeof *r);
}

const char *resp_header(const struct resp *r, const char *name)
{
	const char *v = NULL;
	for (size_t i = 0; i < r->nhdrs; i++)
		if (strcasecmp(r->hdrs[i].name, name) == 0)
			v = r->hdrs[i].value;
	return v;
}

int resp_header_count(const struct resp *r, const char *name)
{
	int n = 0;
	for (size_t i = 0; i < r->nhdrs; i++)
		n += strcasecmp(r->hdrs[i].name, name) == 0;
	return n;
}

char *url_enc(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

void resp_add_header(struct resp *r, const char *name, size_t nl, const char *value, size_t vl)
{
	if (r->nhdrs == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct resp_hdr *nh = realloc(r->hdrs, cap * sizeof *nh);
		if (!nh)
			return;
		r->hdrs = nh;
		r->cap = cap;
	}
	r->hdrs[r->nhdrs].name = strndup(name, nl);
	r->hdrs[r->nhdrs].value = strndup(value, vl);
	r->nhdrs++;
}

size_t client_on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct resp *r = ud;
	size_t n = size * nmemb;
	char *nb = realloc(r->body, r->len + n + 1);
	if (!nb)
		return 0;
	memcpy(nb + r->len, data, n);
	r->body = nb;
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

size_t client_on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct resp *r = ud;
	size_t n = size * nmemb;
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* a new response head (after a 100 Continue): forget the previous headers */
		for (size_t i = 0; i < r->nhdrs; i++) {
			free(r->hdrs[i].name);
			free(r->hdrs[i].value);
		}
		r->nhdrs = 0;
		return n;
	}
	const char *colon = memchr(data, ':', n);
	if (!colon)
		return n;
	const char *v = colon + 1, *end = data + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	resp_add_header(r, data, (size_t)(colon - data), v, (size_t)(end - v));
	return n;
}

/* Configures h for c, collecting into r. *hl receives the header list (caller frees). */
static void setup(CURL *h, const struct call *c, struct resp *r, struct curl_slist **hl)
{
	char url[8192], line[1024];
	const char *method = c->method ? c->method : "GET";
	const char *path = c->path ? c->path : "/";
	snprintf(url, sizeof url, "%s%s", c->from_origin ? origin : base_url, path);
	snprintf(r->what, sizeof r->what, "%s %s%s", method, c->from_origin ? "" : "/v1", path);

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, client_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, client_on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->curl_error);
	if (c->source_ip) {
		curl_easy_setopt(h, CURLOPT_INTERFACE, c->source_ip);
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	}

	*hl = curl_slist_append(NULL, "Expect:");
	if (c->auth) {
		if (*c->auth) {
			snprintf(line, sizeof line, "Authorization: %s", c->auth);
			*hl = curl_slist_append(*hl, line);
		}
	} else if (c->key) {
		snprintf(line, sizeof line, "Authorization: Bearer %s", c->key);
		*hl = curl_slist_append(*hl, line);
	}
	if (c->body) {
		size_t n = c->body_len ? c->body_len : strlen(c->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
		const char *ct = c->content_type ? c->content_type : "application/json";
		snprintf(line, sizeof line, "Content-Type:%s%s", *ct ? " " : "", ct);
		*hl = curl_slist_append(*hl, line);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	for (int i = 0; i < 8 && c->headers[i]; i++)
		*hl = curl_slist_append(*hl, c->headers[i]);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hl);
}

static void finish(CURL *h, struct resp *r)
{
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (!r->body)
		r->body = strdup("");
	r->json = r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	resplog_write(h, r);
}

long api_call(const struct call *c, struct resp *r)
{
	struct curl_slist *hl = NULL;
	resp_free(r);
	if (!easy && !(easy = curl_easy_init()))
		return 0;
	curl_easy_reset(easy);
	setup(easy, c, r, &hl);
	CURLcode rc = curl_easy_perform(easy);
	if (rc != CURLE_OK && !r->curl_error[0])
		snprintf(r->curl_error, sizeof r->curl_error, "%s", curl_easy_strerror(rc));
	finish(easy, r);
	if (rc != CURLE_OK)
		r->status = 0;
	curl_slist_free_all(hl);
	return r->status;
}

long api(const char *method, const char *path, const char *key, const char *json,
	 struct resp *r)
{
	struct call c = { .method = method, .path = path, .key = key, .body = json };
	return api_call(&c, r);
}

/* n calls at once: c[i * step] for call i (step 0: n copies of c[0]). */
static int burst(const struct call *c, size_t step, int n, struct resp *out)
{
	CURLM *m = curl_multi_init();
	CURL **hs = calloc((size_t)n, sizeof *hs);
	struct curl_slist **hls = calloc((size_t)n, sizeof *hls);
	int done = 0;
	if (!m || !hs || !hls)
		goto out;
	for (int i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof out[i]);
		hs[i] = curl_easy_init();
		setup(hs[i], &c[(size_t)i * step], &out[i], &hls[i]);
		curl_easy_setopt(hs[i], CURLOPT_PRIVATE, (void *)&out[i]);
		curl_multi_add_handle(m, hs[i]);
	}
	int running = 1;
	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct resp *r = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		finish(msg->easy_handle, r);
		if (msg->data.result == CURLE_OK)
			done++;
		else
			r->status = 0;
	}
out:
	for (int i = 0; hs && i < n; i++) {
		if (!hs[i])
			continue;
		curl_multi_remove_handle(m, hs[i]);
		curl_easy_cleanup(hs[i]);
		curl_slist_free_all(hls[i]);
	}
	free(hs);
	free(hls);
	if (m)
		curl_multi_cleanup(m);
	return done;
}

int api_burst(const struct call *c, int n, struct resp *out)
{
	return burst(c, 0, n, out);
}

int api_calls(const struct call *calls, int n, struct resp *out)
{
	return burst(calls, 1, n, out);
}
