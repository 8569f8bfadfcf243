#include "err.h"

static const struct err_info err_table[] = {
	{ "OK", 200, PUBLIC, "OK" },
#define ERR(name, status, kind, msg) { #name, status, kind, msg },
#include "err.def"
#undef ERR
};

const struct err_info *err_get(enum api_err e)
{
	if ((int)e < 0 || e >= E__COUNT)
		return 0;
	return &err_table[e];
}

const char *err_code(enum api_err e)
{
	const struct err_info *i = err_get(e);
	return i ? i->code : "INTERNAL_ERROR";
}

int err_status(enum api_err e)
{
	const struct err_info *i = err_get(e);
	return i ? i->status : 500;
}
