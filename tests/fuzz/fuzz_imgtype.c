/* fuzz_imgtype.c - libFuzzer target: image type sniffing. The input is copied to a buffer of
 * exactly its size (ASan catches any read past it); the answer must be one of the accepted
 * types and depend on the first IMGTYPE_SNIFF_BYTES bytes only. */
#include "imgtype.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	const char *t = imgtype_sniff(copy, size);
	const char *head = imgtype_sniff(copy, size < IMGTYPE_SNIFF_BYTES ? size : IMGTYPE_SNIFF_BYTES);
	if (t != head)
		abort();
	if (t && strcmp(t, "image/jpeg") && strcmp(t, "image/png") && strcmp(t, "image/webp") &&
	    strcmp(t, "image/gif"))
		abort();
	free(copy);
	return 0;
}
