/* client.h - the API tests' HTTPS client: libcurl against the stack's base_url, the stack's own
 * certificate verified (tls_cert of $APF_CONF). One call = one `struct resp` (status, body,
 * parsed JSON, headers). Declare responses with RESP(r): they are freed when they go out of
 * scope, and a call on a used resp frees its previous content first. */
#ifndef APF_API_CLIENT_H
#define APF_API_CLIENT_H

#include <jansson.h>
#include <stddef.h>

struct resp_hdr {
	char *name;
	char *value;
};

struct resp {
	long status;          /* HTTP status, 0 when the transfer failed */
	json_t *json;         /* the parsed body, NULL when it is not JSON */
	char *body;           /* NUL-terminated body */
	size_t len;
	struct resp_hdr *hdrs;
	size_t nhdrs, cap;
	char what[400];       /* "METHOD /path" of the call, for failure messages */
	char curl_error[256];
};

void resp_free(struct resp *r);
#define RESP(name) struct resp name __attribute__((cleanup(resp_free))) = { 0 }

/* One request. Unset members take their defaults. */
struct call {
	const char *method;       /* default GET */
	const char *path;         /* below base_url (".../v1"), e.g. "/printers?x=1" */
	int from_origin;          /* path is from the origin instead ("/v2/printers") */
	const char *key;          /* API key sent as "Authorization: Bearer <key>" */
	const char *auth;         /* the whole Authorization value instead of key; "" = no header */
	const char *body;         /* request body, or NULL for none */
	size_t body_len;          /* 0: strlen(body) */
	const char *content_type; /* default "application/json" when a body is sent; "" = none */
	const char *headers[8];   /* extra "Name: value" lines, NULL-terminated */
	const char *source_ip;    /* local address to send from ("127.0.0.2": another client
				   * address on loopback); on its own connection, never reused */
};

/* Reads base_url and tls_cert from the loaded configuration. 0 or -1. */
int client_init(void);
void client_cleanup(void);
const char *client_base_url(void);
/* Appends a header to r (the list grows as needed). */
void resp_add_header(struct resp *r, const char *name, size_t nl, const char *value, size_t vl);
/* libcurl write and header callbacks collecting into a struct resp (ud); a new response head
 * (after 100 Continue) forgets the headers before it. */
size_t client_on_body(char *data, size_t size, size_t nmemb, void *ud);
size_t client_on_header(char *data, size_t size, size_t nmemb, void *ud);

/* A thread other than the main one may call api_call / api; it ends with client_thread_end
 * (frees its connection). */
void client_thread_end(void);

/* Sends c; fills r (previous content freed). Returns the HTTP status (0 on transport error). */
long api_call(const struct call *c, struct resp *r);
/* Shorthand: method, path below /v1, key (NULL = no Authorization), JSON body text or NULL. */
long api(const char *method, const char *path, const char *key, const char *json,
	 struct resp *r);

/* Sends n copies of c at once (curl multi, n connections). out[n] receives the responses
 * (freed by the caller with resp_free each). Returns the number of completed transfers. */
int api_burst(const struct call *c, int n, struct resp *out);
/* The same for n different calls: calls[i] answered into out[i]. */
int api_calls(const struct call *calls, int n, struct resp *out);

/* Value of a response header (name case-insensitive; the last one wins), or NULL. */
const char *resp_header(const struct resp *r, const char *name);
/* Number of headers named name. */
int resp_header_count(const struct resp *r, const char *name);

/* Percent-encodes s for a query value into out (size bytes). Returns out. */
char *url_enc(const char *s, char *out, size_t size);

#endif
