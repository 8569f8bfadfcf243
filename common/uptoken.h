/* uptoken.h - upload tokens: the write credential of PUT /files/upload/{token}.
 *
 * A token is stateless: base64url(<expires>:<storage key>) "." base64url(HMAC-SHA-256) where
 * the MAC covers a version label, the account (the key's first segment), the expiry (epoch
 * seconds) and the storage key, keyed with conf `upload_secret`. The token itself is not stored:
 * it can be replayed until it expires (each PUT overwrites the same object) unless a file or
 * version was made of the object, which the grant's row records (common/uploads.h); rotating
 * the secret revokes every outstanding token. */
#ifndef APF_UPTOKEN_H
#define APF_UPTOKEN_H

#include <stddef.h>
#include <stdint.h>

#define UPTOKEN_TTL 3600       /* seconds a minted token stays valid */
#define UPTOKEN_KEY_MAX 1280   /* longest storage key a token carries (bytes) */
#define UPTOKEN_MAX 1840       /* longest token text, NUL included */
#define UPTOKEN_SECRET_MIN 32  /* shortest accepted secret (bytes) */

enum uptoken_status {
	UPTOKEN_OK = 0,
	UPTOKEN_INVALID = -1,  /* malformed, forged, or signed with another secret */
	UPTOKEN_EXPIRED = -2,  /* genuine but past its expiry */
	UPTOKEN_NO_SECRET = -3 /* the secret is missing or shorter than UPTOKEN_SECRET_MIN */
};

/* Mints the token for storage key (its account is the text before the first '/') valid until
 * expires (epoch seconds) into out (outsz bytes, UPTOKEN_MAX is always enough). */
enum uptoken_status uptoken_mint(const char *secret, const char *key, int64_t expires, char *out,
				 size_t outsz);

/* Checks token at time now (epoch seconds). On UPTOKEN_OK fills key (keysz bytes, at least
 * UPTOKEN_KEY_MAX + 1), account (the key's first segment, at least 37 bytes) and *expires.
 * The signature is checked (in constant time) before the expiry, so an expired forgery is
 * UPTOKEN_INVALID. */
enum uptoken_status uptoken_verify(const char *secret, const char *token, int64_t now, char *key,
				   size_t keysz, char *account, size_t accountsz,
				   int64_t *expires);

#endif
