/* fuzz_gcode.c - libFuzzer target: plain G-code through meta_parse_buffer. Small head/tail
 * windows so that inputs of a few KiB already take the two-window path. */
#include "fuzz_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct file_meta m;
	static struct meta_thumbs t;
	struct meta_limits lim = meta_default_limits();
	char err[256] = "";
	lim.gcode_head_bytes = 4096;
	lim.gcode_tail_bytes = 4096;
	lim.max_png_bytes = 16384;
	t.all_plates = true;
	int rc = meta_parse_buffer(data, size, "fuzz.gcode", &lim, &m, &t, err, sizeof err);
	fuzz_check_meta(rc, &m, &t, err);
	meta_thumbs_release(&t);
	/* default windows: the whole input is one window */
	rc = meta_parse_buffer(data, size, "fuzz.GCODE", NULL, &m, NULL, err, sizeof err);
	struct meta_thumbs none = {0};
	fuzz_check_meta(rc, &m, &none, err);
	return 0;
}
