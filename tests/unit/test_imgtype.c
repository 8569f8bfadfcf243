/* test_imgtype.c - image types from their first bytes (common/imgtype.c). */
#include "tunit.h"

#include "imgtype.h"

#include <string.h>

static void expect(const char *bytes, size_t n, const char *want)
{
	const char *got = imgtype_sniff(bytes, n);
	if (!want)
		TU_CHECK(got == NULL, "expected no type, got %s", got ? got : "NULL");
	else
		TU_CHECK(got && strcmp(got, want) == 0, "expected %s, got %s", want,
			 got ? got : "NULL");
}

static void test_accepted(void)
{
	expect("\xFF\xD8\xFF\xE0\0\x10JFIF", 10, "image/jpeg");
	expect("\x89PNG\r\n\x1A\n\0\0\0\rIHDR", 16, "image/png");
	expect("GIF87a\1\0\1\0", 10, "image/gif");
	expect("GIF89a\1\0\1\0", 10, "image/gif");
	expect("RIFF\x24\0\0\0WEBPVP8 ", 16, "image/webp");
	/* the signature alone is enough */
	expect("\xFF\xD8\xFF", 3, "image/jpeg");
	expect("RIFF\0\0\0\0WEBP", 12, "image/webp");
}

static void test_refused(void)
{
	expect(NULL, 0, NULL);
	expect("", 0, NULL);
	expect("\xFF\xD8", 2, NULL);                 /* truncated signature */
	expect("\x89PNG\r\n\x1A", 7, NULL);
	expect("\x89PNG\r\n\x1A\x0B", 8, NULL);       /* one byte off */
	expect("GIF88a", 6, NULL);
	expect("RIFF\0\0\0\0WAVE", 12, NULL);         /* RIFF but not WebP */
	expect("XXXX\0\0\0\0WEBP", 12, NULL);         /* WEBP without RIFF */
	expect("RIFF\0\0\0\0WEB", 11, NULL);
	expect("<svg xmlns=", 11, NULL);              /* SVG is not accepted */
	expect("%PDF-1.7", 8, NULL);
	expect("BM\x36\0\0\0", 6, NULL);              /* BMP neither */
}

int init_imgtype_suite(void)
{
	CU_pSuite s = CU_add_suite("imgtype", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_accepted);
	TU_ADD(s, test_refused);
	return 0;
}
