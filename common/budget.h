/* budget.h - how much of a host's FastCGI children slow requests may hold, and how long a
 * request body may take.
 *
 * Two kinds of request can hold a prefork child for seconds: a hub command waiting for its ACK
 * (common/hubcmd.h) and an upload whose body streams in (fcgi/file_uploads.c). Each kind gets a
 * share of the host's children, its slots; a request that finds every slot of its kind taken is
 * refused at once (503 SERVER_BUSY) instead of queueing, so the remaining children always serve
 * everything else. Slots are per host by design: they protect this host's children. Hub-command
 * waits are also bounded per account across all hosts, in MariaDB (hubcmd_insert).
 *
 * A slot is a POSIX record lock on one byte of a file the FastCGI master creates before it forks
 * (budget_slots_init); every child inherits the descriptor. The kernel drops a process's record
 * locks when it dies, so a crashed child never keeps a slot.
 *
 * Configuration (apf.conf; defaults from fcgi_children, C):
 *   hub_waits_per_host     C / 2 (at least 1, at most C - 1)
 *   hub_waits_per_account  4, counted across every host sharing the database
 *   upload_slots           C / 4 (at least 1, at most C - 1)
 *   body_grace_seconds     10
 *   body_min_rate          16384 (bytes per second)
 * A request body must arrive within body_grace_seconds plus one second per body_min_rate bytes
 * received so far (a client that keeps the minimum average rate is never cut off). */
#ifndef APF_BUDGET_H
#define APF_BUDGET_H

#include <stdint.h>

#define BUDGET_CHILDREN_MAX 256

enum budget_slot { SLOT_HUB_WAIT, SLOT_UPLOAD, SLOT__COUNT };

/* fcgi_children, 1 .. BUDGET_CHILDREN_MAX (default 4). */
long budget_children(void);
long budget_hub_waits_per_host(void);
long budget_hub_waits_per_account(void);
long budget_upload_slots(void);
/* Slots of a kind (one of the two above). */
long budget_slots_of(enum budget_slot k);

/* The body deadline: start_ms + grace + received / min_rate, in epoch ms. */
int64_t budget_body_deadline(int64_t start_ms, uint64_t received);
long budget_body_grace_ms(void);
long budget_body_min_rate(void);

/* FastCGI master, before forking: creates the slot file. 0, or -1 (logged; then no per-host
 * slots are enforced). */
int budget_slots_init(void);
/* Takes a slot of kind k for this process: 1 held (also when it already held one, or when there
 * is no slot file), 0 every slot of that kind is taken. */
int budget_slot_take(enum budget_slot k);
/* Gives this process's slot of kind k back (no-op when it holds none). */
void budget_slot_release(enum budget_slot k);
void budget_slots_release_all(void);

#endif
