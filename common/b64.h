/* b64.h - base64 (RFC 4648 §4) and base64url (§5) encoding and decoding.
 *
 * Encoding: B64_STD writes '=' padding, B64_URL writes none (upload tokens travel in a URL path
 * segment). Decoding is strict and canonical, so one byte string has exactly one accepted text:
 * only the variant's alphabet, padding optional but correct when present, no whitespace, and
 * the unused low bits of the last character zero. Callers that read base64 wrapped in comments
 * (G-code thumbnails) strip the wrapping first. */
#ifndef APF_B64_H
#define APF_B64_H

#include <stddef.h>

enum b64_variant { B64_STD, B64_URL };

/* Characters b64_encode writes for n bytes (without the terminating NUL). */
size_t b64_encoded_len(size_t n, enum b64_variant v);
/* Bytes b64_decode may write for a text of n characters (an upper bound). */
size_t b64_decoded_max(size_t n);

/* Encodes n bytes of in into out (NUL-terminated). Returns the text length, or 0 when out
 * (outsz bytes) is too small for it and its NUL (out then holds ""). */
size_t b64_encode(enum b64_variant v, const void *in, size_t n, char *out, size_t outsz);

/* Decodes n characters of in into out (outsz bytes). Returns the byte count, or -1 when the
 * text is not canonical base64 of the variant or out is too small. */
long b64_decode(enum b64_variant v, const char *in, size_t n, void *out, size_t outsz);

/* A secret of nbytes random bytes as unpadded base64url into out (outsz bytes, room for the
 * text and its NUL: 43 + 1 for 32 bytes). Returns 0 or -1. Hub passwords and download tokens. */
int b64_random_token(size_t nbytes, char *out, size_t outsz);

#endif
