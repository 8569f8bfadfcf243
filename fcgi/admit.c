#include "admit.h"

enum api_err admit_command(struct req *r, struct hubcmd *c)
{
	enum api_err err = hubcmd_insert(r->db, c);
	if (err == E_TOO_MANY_HUB_COMMANDS) {
		req_header(r, "Retry-After: %ld", c->retry_after_s);
		return req_fail(r, err, "This account already has %ld hub commands waiting for their"
				" hub's acknowledgement, the most it may have at once; retry after %ld s",
				c->limit, c->retry_after_s);
	}
	if (err == E_SERVER_BUSY) {
		req_header(r, "Retry-After: %ld", c->retry_after_s);
		return req_fail(r, err, "All %ld of this server's slots for requests waiting on a hub"
				" are taken; retry after %ld s", c->limit, c->retry_after_s);
	}
	return err;
}
