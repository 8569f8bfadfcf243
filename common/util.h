/* util.h - small pure helpers shared by every program: ids, hashes, time formats. */
#ifndef APF_UTIL_H
#define APF_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define UUID_LEN 36
#define SHA256_HEX_LEN 64

/* Fills out[UUID_LEN + 1] with a lower-case random UUID v4. Returns 0 or -1. */
int util_uuid(char out[UUID_LEN + 1]);
/* Fills buf with n random bytes. Returns 0 or -1. */
int util_random(void *buf, size_t n);
/* Lower-case hex of n random bytes into out[2n + 1]. Returns 0 or -1. */
int util_random_hex(char *out, size_t nbytes);
/* Lower-case hex SHA-256 of data into out[65]. */
void util_sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);
/* Constant-time comparison of n bytes; 1 when equal. */
int util_ct_equal(const void *a, const void *b, size_t n);
/* 1 when s is a well-formed lower- or upper-case UUID (8-4-4-4-12 hex); 0 for NULL. */
int util_is_uuid(const char *s);
/* 1 when s[0..n) is all hex digits. */
int util_is_hex(const char *s, size_t n);

/* Converts a DATETIME(3) string ("YYYY-MM-DD HH:MM:SS[.fff]") to ISO-8601 UTC with
 * milliseconds and 'Z' into out (at least 25 bytes). Returns 0, or -1 when malformed. */
int util_db_to_iso(const char *db, char *out, size_t outsz);
/* Parses an ISO-8601 date or date-time (YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM])
 * into epoch milliseconds. Returns 0, or -1 when malformed or out of range. */
int util_iso_parse(const char *s, int64_t *ms);
/* Formats epoch milliseconds as a DATETIME(3) string "YYYY-MM-DD HH:MM:SS.fff" (24 bytes). */
void util_ms_to_db(int64_t ms, char out[24]);
/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
int util_utf8_valid(const char *s, size_t n);
/* Current time in epoch milliseconds. */
int64_t util_now_ms(void);
/* Milliseconds of a clock that only moves forward and keeps moving while the process (or the
 * machine) is stopped or suspended (CLOCK_BOOTTIME): for leases judged locally. */
int64_t util_mono_ms(void);
/* One datagram on the unbound unix datagram socket fd to the socket at path. Best effort:
 * returns -1 (errno set) when the path is too long or sendto fails, e.g. nobody listens. */
int util_dgram_send(int fd, const char *path, const void *msg, size_t len);

#endif
