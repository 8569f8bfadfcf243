/* imgtype.h - the type of an image from its first bytes (magic numbers), never from what a
 * client declares: JPEG, PNG, WebP and GIF, the types a product gallery accepts. Pure. */
#ifndef APF_IMGTYPE_H
#define APF_IMGTYPE_H

#include <stddef.h>

/* Bytes enough to recognise every accepted type. */
#define IMGTYPE_SNIFF_BYTES 12

/* The media type ("image/jpeg", "image/png", "image/webp", "image/gif") of the n bytes at p,
 * or NULL when they start no accepted image (fewer bytes than its signature included). */
const char *imgtype_sniff(const void *p, size_t n);

#endif
