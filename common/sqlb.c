#include "sqlb.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

void sqlb_init(struct sqlb *b, const char *head)
{
	b->len = 0;
	b->text[0] = '\0';
	b->nargs = 0;
	b->nowned = 0;
	b->overflow = 0;
	if (head)
		sqlb_add(b, head);
}

void sqlb_add(struct sqlb *b, const char *frag)
{
	size_t n = strlen(frag);
	if (b->overflow || b->len + n >= sizeof b->text) {
		b->overflow = 1;
		return;
	}
	memcpy(b->text + b->len, frag, n + 1);
	b->len += n;
}

static void bind_one(struct sqlb *b, struct db_arg a)
{
	if (b->nargs >= SQLB_ARGS) {
		b->overflow = 1;
		return;
	}
	b->args[b->nargs++] = a;
}

void sqlb_bind(struct sqlb *b, const char *frag, struct db_arg a)
{
	unsigned marks = 0;
	if (frag) {
		for (const char *p = frag; *p; p++)
			marks += *p == '?';
		sqlb_add(b, frag);
	}
	if (marks == 0)
		marks = 1;
	while (marks--)
		bind_one(b, a);
}

const char *sqlb_own(struct sqlb *b, char *s)
{
	if (!s)
		return NULL;
	if (b->nowned >= SQLB_OWNED) {
		b->overflow = 1;
		free(s);
		return NULL;
	}
	b->owned[b->nowned++] = s;
	return s;
}

const char *sqlb_keep(struct sqlb *b, const char *s)
{
	char *copy = s ? strdup(s) : NULL;
	if (s && !copy)
		b->overflow = 1;
	return sqlb_own(b, copy);
}

enum api_err sqlb_exec(struct db *db, const struct sqlb *b, struct db_res *res)
{
	if (b->overflow) {
		log_error("assembled statement exceeds its bounds [%.200s]", b->text);
		return E_INTERNAL_ERROR;
	}
	const struct db_query *q = db_intern(b->text);
	if (!q)
		return E_INTERNAL_ERROR;
	return db_exec(db, q, b->args, b->nargs, res);
}

void sqlb_release(struct sqlb *b)
{
	for (unsigned i = 0; i < b->nowned; i++)
		free(b->owned[i]);
	b->nowned = 0;
}
