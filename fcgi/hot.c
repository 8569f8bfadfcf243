#include "hot.h"

#include "cfg.h"
#include "log.h"
#include "peer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define KEY_SLOTS 4096 /* power of two */
#define KEY_PROBE 8
#define ADDR_SLOTS 1024
#define ADDR_PROBE 8
#define ACCT_SLOTS 8192 /* power of two */
#define ACCT_PROBE 8

struct key_slot {
	struct hot_key k;
	int64_t loaded_ms; /* 0 = empty */
	/* this host's lease of the key's current window */
	int64_t win;
	long leased, used; /* requests leased from rate_windows / spent here */
	long known;        /* the window's count in the database at the last lease, capped */
	long asked;        /* blocks this host asked for in this window (some may be in flight) */
	long applied;      /* blocks whose answer this host has applied */
	int spent;         /* the database had no quota left at the last lease */
	int shared;        /* another host leased in this window too */
};

struct addr_slot {
	char addr[AUTH_ADDR_MAX];
	int64_t win;
	long fails;
	int64_t noted_ms;
};

struct acct_slot {
	char account_id[UUID_LEN + 1];
	uint64_t version;   /* the highest this host has seen */
	int64_t checked_ms; /* monotonic ms before the last read of the table; 0 = not read */
};

struct region {
	pthread_mutex_t lock;
	int64_t forget_ms; /* versions checked before it are read again (notice "*") */
	struct key_slot keys[KEY_SLOTS];
	struct addr_slot addrs[ADDR_SLOTS];
	struct acct_slot accts[ACCT_SLOTS];
};

static struct region *shm;

int hot_init(void)
{
	if (shm)
		return 0;
	void *p = mmap(NULL, sizeof *shm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_error("hot path: cannot map %zu bytes; every request reads its key", sizeof *shm);
		return -1;
	}
	struct region *r = p; /* zero-filled */
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	int rc = pthread_mutex_init(&r->lock, &a);
	pthread_mutexattr_destroy(&a);
	if (rc != 0) {
		munmap(p, sizeof *shm);
		log_error("hot path: cannot make the shared lock: %s", strerror(rc));
		return -1;
	}
	shm = r;
	return 0;
}

int hot_enabled(void)
{
	return shm && cfg_int("api_cache", 1) != 0;
}

/* A child killed while holding the lock leaves it to the next taker (robust mutex): what it
 * was writing is one slot's fields, which are made whole again by their next reader. */
static void lock(void)
{
	if (pthread_mutex_lock(&shm->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&shm->lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&shm->lock);
}


/* The first bytes of a SHA-256 hex are uniformly spread: they are the slot. */
static unsigned hash_index(const char *s, unsigned mask)
{
	unsigned h = 2166136261u;
	for (int i = 0; i < 8 && s[i]; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h & mask;
}

/* The slot holding hash, or NULL. Called locked. */
static struct key_slot *key_find(const char *hash)
{
	unsigned i = hash_index(hash, KEY_SLOTS - 1);
	for (int p = 0; p < KEY_PROBE; p++) {
		struct key_slot *s = &shm->keys[(i + (unsigned)p) & (KEY_SLOTS - 1)];
		if (s->loaded_ms && strcmp(s->k.hash, hash) == 0)
			return s;
	}
	return NULL;
}

int hot_key_get(const char *hash, struct hot_key *out)
{
	int found = 0;
	int64_t now = peer_now_ms();
	lock();
	struct key_slot *s = key_find(hash);
	if (s && now - s->loaded_ms < HOT_KEY_TTL_MS && s->loaded_ms > shm->forget_ms) {
		*out = s->k;
		found = 1;
	}
	unlock();
	return found;
}

void hot_key_put(const struct hot_key *k)
{
	int64_t now = peer_now_ms();
	lock();
	struct key_slot *s = key_find(k->hash);
	if (!s) { /* an empty slot of the probe, else its oldest record */
		unsigned i = hash_index(k->hash, KEY_SLOTS - 1);
		for (int p = 0; p < KEY_PROBE; p++) {
			struct key_slot *c = &shm->keys[(i + (unsigned)p) & (KEY_SLOTS - 1)];
			if (!s || !c->loaded_ms || c->loaded_ms < s->loaded_ms)
				s = c;
			if (!c->loaded_ms)
				break;
		}
		memset(s, 0, sizeof *s);
	}
	s->k = *k;
	s->loaded_ms = now;
	s->spent = 0; /* a spent window is asked again at each reading of the key */
	unlock();
}

long hot_rate_block(long limit)
{
	long b = limit / 16;
	return b < 1 ? 1 : b > 1000 ? 1000 : b;
}

/* Spends one request of the slot's lease (locked): 1, or -1 when the window is spent
 * everywhere, or 0 when the lease is used up. */
static int spend(struct key_slot *s, long limit, struct hot_quota *q)
{
	q->shared = s->shared;
	if (s->used < s->leased) {
		s->used++;
		q->unspent = s->leased - s->used;
		/* alone in the window: what this host spent, one number per request; with other
		 * hosts: everything leased anywhere, less what this host has not spent yet */
		q->hits = s->shared ? s->known - q->unspent : s->used;
		if (q->hits < s->used)
			q->hits = s->used;
		return 1;
	}
	q->unspent = 0;
	if (s->spent) {
		q->hits = limit + 1;
		return -1;
	}
	return 0;
}

static void window(struct key_slot *s, int64_t ws)
{
	if (s->win != ws) {
		s->win = ws;
		s->leased = s->used = s->known = s->asked = s->applied = 0;
		s->spent = s->shared = 0;
	}
}

int hot_rate_take(const char *hash, int64_t ws, long limit, struct hot_quota *q)
{
	int rc = 2;
	lock();
	struct key_slot *s = key_find(hash);
	if (s) {
		window(s, ws);
		rc = spend(s, limit, q);
		if (rc == 0) { /* this host asks for a block: what it knew before asking */
			q->block = hot_rate_block(limit);
			q->floor = s->applied;
			s->asked += q->block;
		}
	}
	unlock();
	return rc;
}

int hot_rate_lease(const char *hash, int64_t ws, long limit, long total, struct hot_quota *q)
{
	/* the block covered the window's requests total - block + 1 .. total; those up to the
	 * limit are this host's */
	long block = q->block;
	long capped = total < limit ? total : limit;
	long granted = capped - (total - block);
	if (granted < 0)
		granted = 0;
	int rc;
	lock();
	struct key_slot *s = key_find(hash);
	if (s) {
		window(s, ws);
		/* every block this host had applied before asking was counted before this one */
		if (total < q->floor + block) { /* the window was reset in the database: start over */
			s->leased = s->used = s->known = s->applied = 0;
			s->asked = block;
			s->spent = s->shared = 0;
		}
		s->applied += block;
		if (total > s->asked)
			s->shared = 1; /* the window counted more than this host ever asked for */
		s->leased += granted;
		if (capped > s->known)
			s->known = capped;
		if (capped >= limit)
			s->spent = 1;
		rc = spend(s, limit, q);
		if (rc == 0) { /* nothing granted and the database not spent: cannot happen */
			q->hits = limit + 1;
			rc = -1;
		}
	} else { /* the record was replaced meanwhile: this request spends one of the block */
		rc = granted > 0 ? 1 : -1;
		q->hits = granted > 0 ? capped - granted + 1 : limit + 1;
		q->unspent = 0;
		q->shared = 1;
	}
	unlock();
	return rc;
}

void hot_fail_note(const char *addr, int64_t ws, long fails)
{
	unsigned i = hash_index(addr, ADDR_SLOTS - 1);
	lock();
	struct addr_slot *s = NULL;
	for (int p = 0; p < ADDR_PROBE; p++) {
		struct addr_slot *c = &shm->addrs[(i + (unsigned)p) & (ADDR_SLOTS - 1)];
		if (strcmp(c->addr, addr) == 0) {
			s = c;
			break;
		}
		if (!s || c->win < s->win)
			s = c; /* else the probe's oldest window */
	}
	if (strcmp(s->addr, addr) != 0 || s->win != ws || fails > s->fails ||
	    s->noted_ms <= shm->forget_ms) {
		snprintf(s->addr, sizeof s->addr, "%s", addr);
		s->win = ws;
		s->fails = fails;
		s->noted_ms = peer_now_ms();
	}
	unlock();
}

long hot_fail_count(const char *addr, int64_t ws)
{
	unsigned i = hash_index(addr, ADDR_SLOTS - 1);
	long fails = 0;
	lock();
	for (int p = 0; p < ADDR_PROBE; p++) {
		struct addr_slot *c = &shm->addrs[(i + (unsigned)p) & (ADDR_SLOTS - 1)];
		if (c->win == ws && strcmp(c->addr, addr) == 0) {
			fails = c->noted_ms > shm->forget_ms ? c->fails : 0;
			break;
		}
	}
	unlock();
	return fails;
}

/* The slot of account (locked); with make, an empty or the probe's least recently checked one. */
static struct acct_slot *acct_find(const char *account, int make)
{
	unsigned i = hash_index(account, ACCT_SLOTS - 1);
	struct acct_slot *victim = NULL;
	for (int p = 0; p < ACCT_PROBE; p++) {
		struct acct_slot *c = &shm->accts[(i + (unsigned)p) & (ACCT_SLOTS - 1)];
		if (strcmp(c->account_id, account) == 0)
			return c;
		if (!victim || c->checked_ms < victim->checked_ms)
			victim = c;
	}
	if (!make)
		return NULL;
	memset(victim, 0, sizeof *victim);
	snprintf(victim->account_id, sizeof victim->account_id, "%s", account);
	return victim;
}

int hot_version_get(const char *account, uint64_t *version)
{
	int fresh = 0;
	int64_t now = peer_now_ms();
	lock();
	struct acct_slot *s = acct_find(account, 0);
	if (s && s->checked_ms > shm->forget_ms && now - s->checked_ms < HOT_VERSION_TTL_MS) {
		*version = s->version;
		fresh = 1;
	}
	unlock();
	return fresh;
}

void hot_version_checked(const char *account, uint64_t version, int64_t checked_ms)
{
	lock();
	struct acct_slot *s = acct_find(account, 1);
	if (version > s->version)
		s->version = version;
	if (checked_ms > s->checked_ms)
		s->checked_ms = checked_ms;
	unlock();
}

void hot_version_seen(const char *account, uint64_t version)
{
	if (!shm)
		return;
	lock();
	if (strcmp(account, "*") == 0) {
		shm->forget_ms = peer_now_ms();
	} else {
		struct acct_slot *s = acct_find(account, 1);
		if (version > s->version)
			s->version = version;
	}
	unlock();
}

int64_t hot_forget_ms(void)
{
	if (!shm)
		return 0;
	lock();
	int64_t t = shm->forget_ms;
	unlock();
	return t;
}
