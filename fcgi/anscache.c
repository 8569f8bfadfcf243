#include "anscache.h"

#include "cfg.h"
#include "hot.h"
#include "peer.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 512 /* power of two */
#define MAX_ENTRIES 1024
#define BYTES_DEFAULT (8L * 1024 * 1024)

struct entry {
	struct entry *next;             /* bucket chain */
	struct entry *older, *newer;    /* age list */
	char account_id[UUID_LEN + 1];
	unsigned route;
	char *uri;
	uint64_t version;
	int64_t made_ms;
	char *body;
	size_t len;
	unsigned bucket;
};

static struct entry *buckets[BUCKETS];
static struct entry *oldest, *newest;
static size_t nentries, nbytes;


static unsigned bucket_of(const char *account_id, unsigned route, const char *uri)
{
	unsigned h = 2166136261u ^ route;
	for (const char *p = account_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (const char *p = uri; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h & (BUCKETS - 1);
}

static void drop(struct entry *e)
{
	struct entry **pp = &buckets[e->bucket];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	if (e->older)
		e->older->newer = e->newer;
	else
		oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		newest = e->older;
	nentries--;
	nbytes -= e->len + strlen(e->uri);
	free(e->uri);
	free(e->body);
	free(e);
}

static struct entry *find(const char *account_id, unsigned route, const char *uri, unsigned b)
{
	for (struct entry *e = buckets[b]; e; e = e->next)
		if (e->route == route && strcmp(e->account_id, account_id) == 0 &&
		    strcmp(e->uri, uri) == 0)
			return e;
	return NULL;
}

const char *anscache_get(const char *account_id, unsigned route, const char *uri,
			 uint64_t version, size_t *len)
{
	struct entry *e = find(account_id, route, uri, bucket_of(account_id, route, uri));
	if (!e)
		return NULL;
	int64_t age = peer_now_ms() - e->made_ms;
	if (e->version != version || age >= ANSCACHE_TTL_MS || age < 0 ||
	    e->made_ms <= hot_forget_ms()) {
		drop(e);
		return NULL;
	}
	*len = e->len;
	return e->body;
}

void anscache_put(const char *account_id, unsigned route, const char *uri, uint64_t version,
		  int64_t made_ms, const char *body, size_t len)
{
	long cap = cfg_int("api_cache_bytes", BYTES_DEFAULT);
	size_t need = len + strlen(uri);
	if (cap <= 0 || need > (size_t)cap / 4)
		return; /* one answer never takes over a quarter of the cache */
	unsigned b = bucket_of(account_id, route, uri);
	struct entry *old = find(account_id, route, uri, b);
	if (old)
		drop(old);
	while (oldest && (nentries >= MAX_ENTRIES || nbytes + need > (size_t)cap))
		drop(oldest);
	struct entry *e = calloc(1, sizeof *e);
	if (!e)
		return;
	e->uri = strdup(uri);
	e->body = malloc(len + 1);
	if (!e->uri || !e->body) {
		free(e->uri);
		free(e->body);
		free(e);
		return;
	}
	memcpy(e->body, body, len);
	e->body[len] = '\0';
	e->len = len;
	snprintf(e->account_id, sizeof e->account_id, "%s", account_id);
	e->route = route;
	e->version = version;
	e->made_ms = made_ms;
	e->bucket = b;
	e->next = buckets[b];
	buckets[b] = e;
	e->older = newest;
	if (newest)
		newest->newer = e;
	else
		oldest = e;
	newest = e;
	nentries++;
	nbytes += need;
}

void anscache_clear(void)
{
	while (oldest)
		drop(oldest);
}
