/* idem.h - Idempotency-Key on POST and PATCH (docs/idempotency.md).
 *
 * dispatch runs, for a request with the header, after authentication, rate limit, scope and
 * body: idem_check_key (422 naming the header), then idem_claim: a new record in_progress
 * (autocommit), or the stored answer (replay), or 409 IDEMPOTENCY_KEY_IN_USE / 422
 * IDEMPOTENCY_KEY_MISMATCH. The answer is written into the record by idem_store_txn inside an
 * R_TXN handler's transaction (with its effect), by idem_command inside a hub action's
 * transaction (the command id and the success answer to come), or after the handler by
 * idem_finish (stored, or released for 5xx / 429 answers of requests that committed no hub
 * command). */
#ifndef APF_IDEM_H
#define APF_IDEM_H

#include "req.h"

/* Reads and validates the Idempotency-Key header of a POST or PATCH into r->idem.key: 0 when
 * absent (or another method) or valid, -1 after recording a problem named "Idempotency-Key". */
int idem_check_key(struct req *r);
/* The SHA-256 of the request body (called by the body reader when a key was given). */
void idem_body_hash(struct req *r, const char *body, size_t len);
/* Claims the record or finds the stored answer (r->idem.replay: out_status, out_body). An error
 * (IDEMPOTENCY_KEY_IN_USE, IDEMPOTENCY_KEY_MISMATCH, a database error) is the answer; so is a
 * hub command's failure rebuilt for a request whose process died while it waited. */
enum api_err idem_claim(struct req *r);
/* Inside the handler's transaction: the record done with status and body (E_OK or the
 * database's error, which rolls the transaction back). No-op without a claim. */
enum api_err idem_store_txn(struct req *r, int status, const char *body);
/* Inside the handler's transaction, once the request's answer is set (r->data / data_text,
 * r->status): idem_store_txn of the answer dispatch will send (fcgi/dispatch.c). For R_OWNTXN
 * handlers, as the last step of the transaction that holds their effect. No-op without a
 * claim. */
enum api_err idem_store_answer(struct req *r);
/* A streamed body (R_RAW): with a key, the reader hashes the bytes as they pass
 * (idem_hash_body after body_reader_init); once the body is read, idem_claim_streamed claims
 * the record with that hash in the fingerprint (idem_claim's answers; r->idem.replay: the
 * handler stops and answers the stored one). Both no-ops without a key. */
struct body_reader;
void idem_hash_body(struct req *r, struct body_reader *b);
enum api_err idem_claim_streamed(struct req *r);
/* Inside a hub action's transaction, after the command row: the record names the command and
 * holds `data` (stolen), the success answer given once the hub acknowledges. No-op without a
 * claim. */
enum api_err idem_command(struct req *r, const char *command_id, json_t *data);
/* After the handler: stores status and body (autocommit), or releases the claim for a 5xx or
 * 429 answer of a request that committed no hub command. No-op when already stored. */
void idem_finish(struct req *r, int status, const char *body);
/* Test-only fault hook (docs/idempotency.md "Testing"): with conf test_fault_hooks = 1, a request
 * whose X-Apf-Test-Fault header equals point kills its own child with SIGKILL there. Never set in
 * production. */
void idem_test_fault(struct req *r, const char *point);
/* Test-only, as idem_test_fault: 1 when the request names point (the caller fails there). */
int idem_test_fault_at(struct req *r, const char *point);
/* Frees what the request's record state owns. */
void idem_free(struct req *r);

/* The success envelope of data (JSON text, malloc'd; NULL when out of memory): the same text
 * dispatch sends. */
char *idem_envelope(json_t *data);

#endif
