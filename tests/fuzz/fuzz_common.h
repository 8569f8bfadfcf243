/* fuzz_common.h - checks every metadata fuzz target applies to a successful parse: the JSON
 * renders (strings are clean UTF-8), thumbnails are PNGs, plate records are in bounds. */
#ifndef APF_FUZZ_COMMON_H
#define APF_FUZZ_COMMON_H

#include "meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_check_meta(int rc, const struct file_meta *m, const struct meta_thumbs *t,
			    const char *err)
{
	if (rc < 0) {
		if (!err[0] || t->count != 0) {
			fprintf(stderr, "error without a message or with thumbnails left\n");
			abort();
		}
		return;
	}
	if (m->nplates > META_MAX_PLATES)
		abort();
	json_t *j = meta_to_json(m);
	char *s = j ? json_dumps(j, 0) : NULL;
	if (!s) {
		fprintf(stderr, "meta_to_json/json_dumps failed (unclean string?)\n");
		abort();
	}
	free(s);
	json_decref(j);
	for (size_t i = 0; i < t->count; i++) {
		const struct meta_thumb *th = &t->items[i];
		if (!th->data || th->len < 8 || memcmp(th->data, "\x89PNG", 4) != 0 ||
		    th->width <= 0 || th->height <= 0 || th->plate < 1 ||
		    th->plate > META_MAX_PLATES)
			abort();
	}
	if (t->count && !m->has_thumbnail)
		abort();
}

#endif
