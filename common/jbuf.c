#include "jbuf.h"

#include <stdlib.h>
#include <string.h>

static int grow(struct jbuf *b, size_t more)
{
	if (b->oom)
		return -1;
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void jbuf_put(struct jbuf *b, const char *s, size_t n)
{
	if (grow(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void jbuf_puts(struct jbuf *b, const char *s)
{
	jbuf_put(b, s, strlen(s));
}

void jbuf_putc(struct jbuf *b, char c)
{
	jbuf_put(b, &c, 1);
}

void jbuf_json_str(struct jbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	jbuf_putc(b, '"');
	const char *run = s;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jbuf_put(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': jbuf_put(b, "\\\"", 2); break;
		case '\\': jbuf_put(b, "\\\\", 2); break;
		case '\n': jbuf_put(b, "\\n", 2); break;
		case '\r': jbuf_put(b, "\\r", 2); break;
		case '\t': jbuf_put(b, "\\t", 2); break;
		case '\b': jbuf_put(b, "\\b", 2); break;
		case '\f': jbuf_put(b, "\\f", 2); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			jbuf_put(b, u, 6);
		}
		}
	}
	jbuf_put(b, run, (size_t)(s - run));
	jbuf_putc(b, '"');
}

char *jbuf_detach(struct jbuf *b)
{
	char *p = b->oom ? NULL : b->p;
	if (b->oom)
		free(b->p);
	if (p == NULL && !b->oom)
		p = strdup("");
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
	return p;
}

void jbuf_release(struct jbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}
