/* err.h - the API's error codes, expanded from err.def.
 * E_OK is 0; every other value indexes err_table. One enum serves fcgi/, workers/ and common/. */
#ifndef APF_ERR_H
#define APF_ERR_H

enum err_kind { PUBLIC, INTERNAL };

enum api_err {
	E_OK = 0,
#define ERR(name, status, kind, msg) E_##name,
#include "err.def"
#undef ERR
	E__COUNT
};

struct err_info {
	const char *code;     /* public code string, e.g. "PRINTER_NOT_FOUND" */
	int status;           /* HTTP status */
	enum err_kind kind;
	const char *message;  /* default human-readable message */
};

/* Borrowed pointer to the row of e (e != E_OK); NULL when out of range. */
const struct err_info *err_get(enum api_err e);
/* Code name of e, "OK" for E_OK. */
const char *err_code(enum api_err e);
int err_status(enum api_err e);

#endif
