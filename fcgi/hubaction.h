/* hubaction.h - the one sequence of an API action that commands a hub (jobs: start, pause,
 * resume, stop, cancel; printers: control, light, temperature, filament):
 *
 *   one transaction (db_txn: run again from the start after a lock conflict)
 *     stage   locks the rows (always the job's first, then its printer: the order everywhere),
 *             checks the rule, applies the optimistic change, describes the command in a->cmd
 *             (hub, printer, job, action, params, the revert of the change) and sets a->send
 *     admit   the account's and this host's share of waiting children, then the command row
 *             (fcgi/admit.c: 429 TOO_MANY_HUB_COMMANDS / 503 SERVER_BUSY, after every other
 *             refusal)
 *     staged  what must name the command (a download token), optional
 *   commit; queue_wake(); for an awaited command, the wait for the hub's outcome, a failure
 *   answered with its error (the worker records it and reverts; the API never does).
 *
 * docs/hub-link.md ("A command, end to end") and docs/jobs-and-control.md ("Hub commands",
 * "Order of refusals") describe it. */
#ifndef APF_HUBACTION_H
#define APF_HUBACTION_H

#include "hubcmd.h"
#include "req.h"

struct hubaction {
	/* set by the caller */
	enum api_err (*stage)(struct req *r, struct hubaction *a);
	enum api_err (*staged)(struct req *r, struct hubaction *a);   /* NULL: none */
	/* the success answer's data once the hub acknowledges (new object; NULL: none), written
	 * with the command into the request's Idempotency-Key record (fcgi/idem.h) */
	json_t *(*answer)(struct req *r, struct hubaction *a);
	void *ctx;                 /* the caller's */
	/* set by stage, afresh on each attempt (cmd and the flags are zeroed before it) */
	struct hubcmd cmd;         /* account_id and request_id are filled in by hubaction_run */
	json_t *params;            /* the command's params, owned (freed after the insert) */
	int send;                  /* a command goes out (cmd complete) */
	int reverts;               /* the command's revert undoes a visible change (messages) */
	/* set by hubaction_run */
	int waited;                /* an outcome was awaited (after commit) */
};

/* Runs the sequence; E_OK once the hub acknowledged an awaited command (or a fire-and-forget
 * one was committed, or stage decided to send nothing). */
enum api_err hubaction_run(struct req *r, struct hubaction *a);

/* The error answer of an outcome other than HC_ACKED (E_OK for it): "Hub refused print.pause:
 * ...". Also rebuilds a dead request's answer from its command row (fcgi/idem.c). */
enum api_err hubaction_outcome(struct req *r, const char *action, int reverts,
			       unsigned timeout_ms, enum hubcmd_outcome o, const char *code,
			       const char *message);

#endif
