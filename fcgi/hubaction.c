#include "hubaction.h"

#include "admit.h"
#include "idem.h"
#include "queue.h"

#include <stdlib.h>
#include <string.h>

struct attempt {
	struct req *r;
	struct hubaction *a;
};

/* One attempt of the transaction: every output of the previous one is dropped first. */
static enum api_err stage_txn(struct db *db, void *ctx)
{
	struct attempt *t = ctx;
	struct hubaction *a = t->a;
	struct req *r = t->r;
	(void)db;
	json_decref(a->params);
	a->params = NULL;
	memset(&a->cmd, 0, sizeof a->cmd);
	a->cmd.revert.printer_cleared_from = -1; /* untouched unless stage says otherwise */
	a->send = 0;
	a->reverts = 0;
	enum api_err err = a->stage(r, a);
	if (!err && !a->send && r->idem.claimed && a->answer) {
		/* nothing to send (a change of rows only): the answer commits with it */
		json_t *data = a->answer(r, a);
		char *body = data ? idem_envelope(data) : NULL;
		err = body ? idem_store_txn(r, 200, body) : E_INTERNAL_ERROR;
		json_decref(data);
		free(body);
	}
	if (err || !a->send)
		return err;
	a->cmd.account_id = r->account_id;
	a->cmd.request_id = r->request_id;
	a->cmd.params = a->params;
	err = admit_command(r, &a->cmd); /* the account's wait lock last: job, printer, account */
	json_decref(a->params);
	a->params = NULL;
	a->cmd.params = NULL;
	if (!err && a->staged)
		err = a->staged(r, a);
	/* the Idempotency-Key record names the command: commits with it */
	if (!err && r->idem.claimed)
		err = idem_command(r, a->cmd.command_id, a->answer ? a->answer(r, a) : NULL);
	return err;
}

enum api_err hubaction_outcome(struct req *r, const char *action, int reverts,
			       unsigned timeout_ms, enum hubcmd_outcome o, const char *code,
			       const char *message)
{
	const char *rv = reverts ? "; the change was reverted" : "";
	enum api_err err = hubcmd_outcome_err(o);
	switch (o) {
	case HC_FAILED:
		return req_fail(r, err, "Hub refused %s: %s%s%s%s", action, code[0] ? code : "FAILED",
				message[0] ? " - " : "", message, rv);
	case HC_HUB_OFFLINE:
		return req_fail(r, err, "Hub went offline before acknowledging %s%s", action, rv);
	case HC_TIMEOUT:
		return req_fail(r, err, "Hub did not acknowledge %s within %u s%s", action,
				timeout_ms / 1000, reverts ? "; the change is reverted" : "");
	case HC_ACKED:
		break;
	}
	return E_OK;
}

enum api_err hubaction_run(struct req *r, struct hubaction *a)
{
	struct attempt t = { r, a };
	enum hubcmd_outcome o;
	char code[64] = "", message[300] = "";
	a->params = NULL;
	a->waited = 0;
	enum api_err err = db_txn(r->db, stage_txn, &t);
	json_decref(a->params);
	a->params = NULL;
	if (err || !a->send)
		return err;
	r->idem.command = r->idem.claimed;
	queue_wake();
	if (!a->cmd.awaited)
		return E_OK;
	idem_test_fault(r, "before-wait");
	a->waited = 1;
	err = hubcmd_wait(r->db, a->cmd.command_id, a->cmd.timeout_ms, &o, code, sizeof code,
			  message, sizeof message);
	return err ? err : hubaction_outcome(r, a->cmd.action, a->reverts, a->cmd.timeout_ms, o,
					     code, message);
}
