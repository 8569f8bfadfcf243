/* fuzz_xml.c - libFuzzer target: the XML tokenizer alone (strict and partial), with a handler
 * that touches every name, attribute and text byte it is given. */
#include "meta.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static unsigned sum;

static void touch(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sum += (unsigned char)s[i];
}

static int start(void *ctx, const char *name, size_t nl, const struct meta_xml_attr *a,
		 size_t na, unsigned depth)
{
	(void)ctx, (void)depth;
	touch(name, nl);
	for (size_t i = 0; i < na; i++) {
		touch(a[i].name, a[i].name_len);
		touch(a[i].value, a[i].value_len + 1); /* includes the NUL */
		if (a[i].value[a[i].value_len] != '\0')
			abort();
	}
	return 0;
}

static int end(void *ctx, const char *name, size_t nl, unsigned depth)
{
	(void)ctx, (void)depth;
	touch(name, nl);
	return 0;
}

static int text(void *ctx, const char *t, size_t len, unsigned depth)
{
	(void)ctx, (void)depth;
	touch(t, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct meta_xml_handler H = {start, end, text};
	char err[256];
	for (int partial = 0; partial < 2; partial++) {
		err[0] = '\0';
		if (meta_xml_parse((const char *)data, size, partial, &H, NULL, err, sizeof err) < 0 &&
		    !err[0])
			abort();
	}
	return 0;
}
