#include "budget.h"

#include "cfg.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int slot_fd = -1;                     /* inherited from the master; -1 = no slots */
static long held[SLOT__COUNT] = { -1, -1 };  /* byte index of this process's slot of a kind */

static long clamp(long v, long lo, long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

long budget_children(void)
{
	return clamp(cfg_int("fcgi_children", 4), 1, BUDGET_CHILDREN_MAX);
}

/* A share of the children: never all of them while there are two or more. */
static long share(const char *key, long def)
{
	long c = budget_children();
	return clamp(cfg_int(key, def), 1, c > 1 ? c - 1 : 1);
}

long budget_hub_waits_per_host(void)
{
	return share("hub_waits_per_host", budget_children() / 2);
}

long budget_hub_waits_per_account(void)
{
	long n = cfg_int("hub_waits_per_account", 4);
	return n < 1 ? 1 : n;
}

long budget_upload_slots(void)
{
	return share("upload_slots", budget_children() / 4);
}

long budget_slots_of(enum budget_slot k)
{
	return k == SLOT_HUB_WAIT ? budget_hub_waits_per_host() : budget_upload_slots();
}

long budget_body_grace_ms(void)
{
	return clamp(cfg_int("body_grace_seconds", 10), 1, 3600) * 1000;
}

long budget_body_min_rate(void)
{
	return clamp(cfg_int("body_min_rate", 16384), 1, 1L << 30);
}

int64_t budget_body_deadline(int64_t start_ms, uint64_t received)
{
	return start_ms + budget_body_grace_ms() +
	       (int64_t)(received * 1000 / (uint64_t)budget_body_min_rate());
}

int budget_slots_init(void)
{
	if (slot_fd >= 0)
		return 0;
	int fd = memfd_create("apf-slots", MFD_CLOEXEC);
	if (fd < 0) {
		FILE *f = tmpfile();
		fd = f ? dup(fileno(f)) : -1;
		if (f)
			fclose(f);
	}
	if (fd < 0) {
		log_warn("no slot file (%s): slow requests are not limited per host", strerror(errno));
		return -1;
	}
	slot_fd = fd;
	return 0;
}

static int lock_byte(long byte, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
	return fcntl(slot_fd, F_SETLK, &fl);
}

int budget_slot_take(enum budget_slot k)
{
	if (held[k] >= 0 || slot_fd < 0)
		return 1;
	long n = budget_slots_of(k);
	for (long i = 0; i < n; i++) {
		long byte = (long)k * BUDGET_CHILDREN_MAX + i;
		if (lock_byte(byte, F_WRLCK) == 0) {
			held[k] = byte;
			return 1;
		}
		if (errno != EACCES && errno != EAGAIN) {
			log_warn("slot lock: %s; not limited", strerror(errno));
			return 1;
		}
	}
	return 0;
}

void budget_slot_release(enum budget_slot k)
{
	if (held[k] < 0)
		return;
	(void)lock_byte(held[k], F_UNLCK);
	held[k] = -1;
}

void budget_slots_release_all(void)
{
	for (int k = 0; k < SLOT__COUNT; k++)
		budget_slot_release((enum budget_slot)k);
}
