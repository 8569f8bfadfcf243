/* test_budget.c - shares of the FastCGI children and the body deadline (common/budget.c): the
 * defaults derived from fcgi_children and their bounds, and the slots themselves across
 * processes: a slot another process holds is not free, every kind has its own, and a process
 * that dies gives its slot back. */
#include "tunit.h"

#include "budget.h"
#include "cfg.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const KEYS[] = { "fcgi_children", "hub_waits_per_host", "hub_waits_per_account",
				    "upload_slots", "body_grace_seconds", "body_min_rate", NULL };

static void reset(void)
{
	for (int i = 0; KEYS[i]; i++)
		cfg_set(KEYS[i], ""); /* empty = absent */
}

static void test_budget_defaults(void)
{
	reset();
	cfg_set("fcgi_children", "8");
	TU_INT(budget_children(), 8);
	TU_INT(budget_hub_waits_per_host(), 4);
	TU_INT(budget_upload_slots(), 2);
	TU_INT(budget_hub_waits_per_account(), 4);
	cfg_set("fcgi_children", "4");
	TU_INT(budget_hub_waits_per_host(), 2);
	TU_INT(budget_upload_slots(), 1);
	cfg_set("fcgi_children", "1"); /* one child: one slot each, nothing else possible */
	TU_INT(budget_hub_waits_per_host(), 1);
	TU_INT(budget_upload_slots(), 1);
	cfg_set("fcgi_children", "100000");
	TU_INT(budget_children(), BUDGET_CHILDREN_MAX);
	/* explicit values, but never every child */
	cfg_set("fcgi_children", "8");
	cfg_set("hub_waits_per_host", "100");
	cfg_set("upload_slots", "0");
	cfg_set("hub_waits_per_account", "-3");
	TU_INT(budget_hub_waits_per_host(), 7);
	TU_INT(budget_upload_slots(), 1);
	TU_INT(budget_hub_waits_per_account(), 1);
	reset();
}

static void test_budget_body_deadline(void)
{
	reset();
	TU_INT(budget_body_grace_ms(), 10000);
	TU_INT(budget_body_min_rate(), 16384);
	TU_INT(budget_body_deadline(1000, 0), 11000);
	TU_INT(budget_body_deadline(1000, 16384 * 5), 16000); /* a second per min_rate bytes */
	cfg_set("body_grace_seconds", "2");
	cfg_set("body_min_rate", "1000");
	TU_INT(budget_body_deadline(0, 1500), 3500);
	reset();
}

/* A child process takes the only upload slot and holds it until killed. */
static pid_t holder(int *ready_fd)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		char ok = budget_slot_take(SLOT_UPLOAD) ? '1' : '0';
		if (write(p[1], &ok, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	*ready_fd = p[0];
	return pid;
}

static void test_budget_slots(void)
{
	reset();
	cfg_set("fcgi_children", "4");
	cfg_set("upload_slots", "1");
	TU_INT(budget_slots_init(), 0);
	int fd = -1;
	char got = '?';
	pid_t pid = holder(&fd);
	TU_CHECK(pid > 0 && read(fd, &got, 1) == 1 && got == '1', "the child took the slot");
	TU_INT(budget_slot_take(SLOT_UPLOAD), 0);     /* held by the other process */
	TU_INT(budget_slot_take(SLOT_HUB_WAIT), 1);   /* another kind, other slots */
	TU_INT(budget_slot_take(SLOT_HUB_WAIT), 1);   /* already held: still one */
	budget_slot_release(SLOT_HUB_WAIT);
	kill(pid, SIGKILL);                           /* dies without giving it back */
	waitpid(pid, NULL, 0);
	close(fd);
	TU_INT(budget_slot_take(SLOT_UPLOAD), 1);     /* the kernel dropped its lock */
	budget_slots_release_all();
	pid = holder(&fd);                            /* and it is free for others again */
	got = '?';
	TU_CHECK(pid > 0 && read(fd, &got, 1) == 1 && got == '1', "a new child takes it");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fd);
	reset();
}

int init_budget_suite(void)
{
	CU_pSuite s = CU_add_suite("budget", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_budget_defaults);
	TU_ADD(s, test_budget_body_deadline);
	TU_ADD(s, test_budget_slots);
	return 0;
}
