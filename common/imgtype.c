/* imgtype.c - image types by their signatures (see imgtype.h). */
#include "imgtype.h"

#include <string.h>

struct sig {
	const char *type;
	size_t off, len;
	const char *bytes;
};

/* WebP is "RIFF" <size:4> "WEBP": two checks, the second at offset 8. */
static const struct sig SIGS[] = {
	{ "image/jpeg", 0, 3, "\xFF\xD8\xFF" },
	{ "image/png", 0, 8, "\x89PNG\r\n\x1A\n" },
	{ "image/gif", 0, 6, "GIF87a" },
	{ "image/gif", 0, 6, "GIF89a" },
	{ "image/webp", 8, 4, "WEBP" },
};

static int has(const unsigned char *p, size_t n, size_t off, size_t len, const char *bytes)
{
	return n >= off + len && memcmp(p + off, bytes, len) == 0;
}

const char *imgtype_sniff(const void *data, size_t n)
{
	const unsigned char *p = data;
	if (!p)
		return NULL;
	for (size_t i = 0; i < sizeof SIGS / sizeof SIGS[0]; i++) {
		const struct sig *s = &SIGS[i];
		if (s->off && !has(p, n, 0, 4, "RIFF"))
			continue;
		if (has(p, n, s->off, s->len, s->bytes))
			return s->type;
	}
	return NULL;
}
