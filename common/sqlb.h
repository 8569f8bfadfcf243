/* sqlb.h - statements assembled from fixed fragments, their values always bound.
 *
 * Some statements differ per request: a list with the filters the client sent, an UPDATE of the
 * fields a PATCH carried. They are assembled here from fragments that are string literals of the
 * code (descriptor tables, resource records, handlers), never from input: every value goes into
 * the argument array, in the order of its `?`. So the set of texts a program can produce is
 * finite, and each distinct text is one interned query (db_intern) and one prepared statement.
 *
 * Bounded: SQLB_TEXT bytes of text, SQLB_ARGS arguments, SQLB_OWNED owned strings. Past a bound
 * the builder is marked overflowed and sqlb_exec answers E_INTERNAL_ERROR (logged): a
 * programming error, which the unit tests rule out by assembling every resource's statements.
 *
 *   struct sqlb b;
 *   sqlb_init(&b, "SELECT p.id FROM printers p WHERE p.account_id = ?");
 *   sqlb_bind(&b, NULL, DS(account));               // binds the ? already added
 *   if (status) sqlb_bind(&b, " AND p.status = ?", DS(status));
 *   err = sqlb_exec(db, &b, &res);
 *   sqlb_release(&b);
 */
#ifndef APF_SQLB_H
#define APF_SQLB_H

#include "db.h"

#include <stddef.h>

#define SQLB_TEXT 16384 /* the composite figures (fcgi/composite.h) are long */
#define SQLB_ARGS 128
#define SQLB_OWNED 16

struct sqlb {
	char text[SQLB_TEXT];
	size_t len;
	struct db_arg args[SQLB_ARGS];
	unsigned nargs;
	char *owned[SQLB_OWNED];   /* strings the arguments point into, freed by sqlb_release */
	unsigned nowned;
	int overflow;
};

/* Starts b with the fixed text head (may be NULL or ""). */
void sqlb_init(struct sqlb *b, const char *head);
/* Appends fixed text. */
void sqlb_add(struct sqlb *b, const char *frag);
/* Appends fixed text (NULL: none) and binds a to each `?` it contains; with no `?` in frag (or
 * frag NULL), binds a once, for a placeholder added before. */
void sqlb_bind(struct sqlb *b, const char *frag, struct db_arg a);
/* Takes s (malloc'd, may be NULL) to live until sqlb_release; returns it. NULL (and overflow)
 * when the builder holds SQLB_OWNED strings already (s is freed then). */
const char *sqlb_own(struct sqlb *b, char *s);
/* Copies s into the builder's keeping (as sqlb_own(strdup(s))). */
const char *sqlb_keep(struct sqlb *b, const char *s);
/* Runs the assembled statement (db_exec of its interned text). */
enum api_err sqlb_exec(struct db *db, const struct sqlb *b, struct db_res *res);
/* Frees the owned strings; b may be reused after sqlb_init. */
void sqlb_release(struct sqlb *b);

#endif
