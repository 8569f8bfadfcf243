/* fuzz_3mf.c - libFuzzer target: 3MF archives. Input byte 0 picks the mode:
 *   even: the rest is a ZIP file as is (libarchive + our pre-checks and entry walk);
 *   odd:  the rest is "name\n" then content up to a "\n\x01\n" separator, repeated; the target
 *         builds a valid ZIP from those entries with libarchive's writer (deflate or store by
 *         bit 1 of byte 0), so mutations reach the XML / JSON / G-code parsers behind the CRC. */
#include "fuzz_common.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>

static unsigned char *build(const uint8_t *d, size_t n, bool store, size_t *outlen)
{
	size_t cap = 2 * n + 65536;
	unsigned char *buf = malloc(cap);
	struct archive *a = archive_write_new();
	if (!buf || !a)
		goto fail;
	archive_write_set_format_zip(a);
	if (store)
		archive_write_zip_set_compression_store(a);
	else
		archive_write_zip_set_compression_deflate(a);
	if (archive_write_open_memory(a, buf, cap, outlen) != ARCHIVE_OK)
		goto fail;
	size_t pos = 0;
	for (int entries = 0; pos < n && entries < 64; entries++) {
		const uint8_t *nl = memchr(d + pos, '\n', n - pos);
		if (!nl)
			break;
		char name[256];
		size_t namelen = (size_t)(nl - (d + pos));
		if (namelen == 0 || namelen >= sizeof name)
			break;
		memcpy(name, d + pos, namelen);
		name[namelen] = '\0';
		pos += namelen + 1;
		const uint8_t *sep = memmem(d + pos, n - pos, "\n\x01\n", 3);
		size_t clen = sep ? (size_t)(sep - (d + pos)) : n - pos;
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, name);
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		archive_entry_set_size(ae, (la_int64_t)clen);
		if (archive_write_header(a, ae) == ARCHIVE_OK)
			archive_write_data(a, d + pos, clen);
		archive_entry_free(ae);
		pos += clen + (sep ? 3 : 0);
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		goto fail;
	archive_write_free(a);
	return buf;
fail:
	if (a)
		archive_write_free(a);
	free(buf);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct file_meta m;
	static struct meta_thumbs t;
	struct meta_limits lim = meta_default_limits();
	char err[256] = "";
	if (size < 1)
		return 0;
	lim.max_total_inflated = 64u << 20; /* keeps each run short; the logic is the same */
	lim.gcode_head_bytes = 8192;
	lim.gcode_tail_bytes = 8192;
	lim.model_head_bytes = 8192;
	t.all_plates = data[0] & 4;
	const unsigned char *zip = data + 1;
	size_t zlen = size - 1;
	unsigned char *built = NULL;
	if (data[0] & 1) {
		built = build(data + 1, size - 1, data[0] & 2, &zlen);
		if (!built)
			return 0;
		zip = built;
	}
	int rc = meta_parse_buffer(zip, zlen, "fuzz.gcode.3mf", &lim, &m, &t, err, sizeof err);
	fuzz_check_meta(rc, &m, &t, err);
	meta_thumbs_release(&t);
	free(built);
	return 0;
}
