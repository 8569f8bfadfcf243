/* jbuf.h - a growable text buffer for writing JSON directly (list responses), bounded by
 * memory only. Invariant: p is NUL-terminated whenever non-NULL; after an allocation failure
 * `oom` is set and further writes are ignored (the caller checks once at the end). */
#ifndef APF_JBUF_H
#define APF_JBUF_H

#include <stddef.h>

struct jbuf {
	char *p;
	size_t len;
	size_t cap;
	int oom;
};

#define JBUF_INIT { NULL, 0, 0, 0 }

void jbuf_put(struct jbuf *b, const char *s, size_t n);
void jbuf_puts(struct jbuf *b, const char *s);
void jbuf_putc(struct jbuf *b, char c);
/* Appends s as a JSON string literal (quoted, escaped). */
void jbuf_json_str(struct jbuf *b, const char *s);
/* Takes the text out (caller frees); NULL after an allocation failure. Leaves b empty. */
char *jbuf_detach(struct jbuf *b);
void jbuf_release(struct jbuf *b);

#endif
