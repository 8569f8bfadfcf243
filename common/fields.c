/* fields.c - the projections of field rows (fields.h): SELECT list and row mapping. */
#include "fields.h"

#include "jbuf.h"

int fields_in_view(const struct rfield *f, unsigned view)
{
	return (f->flags & view) && f->sql;
}

void fields_select(struct sqlb *b, const struct rfield *fields, unsigned view)
{
	unsigned n = 0;
	for (const struct rfield *f = fields; f->name; f++) {
		if (!fields_in_view(f, view))
			continue;
		sqlb_add(b, n++ ? ", " : "SELECT ");
		sqlb_add(b, f->sql);
	}
}

void fields_write_row(struct jbuf *jb, const struct rfield *fields, unsigned view,
		      const struct db_res *rs, unsigned long i)
{
	unsigned col = 0;
	jbuf_putc(jb, '{');
	for (const struct rfield *f = fields; f->name; f++) {
		if (!fields_in_view(f, view))
			continue;
		if (col)
			jbuf_putc(jb, ',');
		jbuf_json_str(jb, f->name);
		jbuf_putc(jb, ':');
		jhelp_write_cell(jb, f->out, db_get(rs, i, col++));
	}
	jbuf_putc(jb, '}');
}

json_t *fields_row(const struct rfield *fields, unsigned view, const struct db_res *rs,
		   unsigned long i)
{
	unsigned col = 0;
	json_t *o = json_object();
	for (const struct rfield *f = fields; f->name && o; f++)
		if (fields_in_view(f, view))
			json_object_set_new(o, f->name, jhelp_cell(f->out, db_get(rs, i, col++)));
	return o;
}
