#include "apikey.h"

#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int apikey_mint(char key[APIKEY_LEN + 1], char hash[65])
{
	memcpy(key, APIKEY_PREFIX, APIKEY_PREFIX_LEN);
	if (util_random_hex(key + APIKEY_PREFIX_LEN, APIKEY_HEX_LEN / 2) < 0)
		return -1;
	util_sha256_hex(key, APIKEY_LEN, hash);
	return 0;
}

enum api_err apikey_parse_bearer(const char *header, char token[APIKEY_LEN + 1])
{
	if (!header)
		return E_UNAUTHORIZED;
	while (*header == ' ')
		header++;
	if (strncasecmp(header, "Bearer ", 7) != 0)
		return E_UNAUTHORIZED;
	const char *t = header + 7;
	while (*t == ' ')
		t++;
	size_t n = strlen(t);
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	if (n == 0)
		return E_UNAUTHORIZED;
	if (n != APIKEY_LEN || strncmp(t, APIKEY_PREFIX, APIKEY_PREFIX_LEN) != 0 ||
	    !util_is_hex(t + APIKEY_PREFIX_LEN, APIKEY_HEX_LEN))
		return E_TOKEN_INVALID;
	/* keys are minted lower-case; accept either case by normalising before hashing */
	memcpy(token, t, APIKEY_LEN);
	for (int i = APIKEY_PREFIX_LEN; i < APIKEY_LEN; i++)
		token[i] = (char)tolower((unsigned char)token[i]);
	token[APIKEY_LEN] = '\0';
	return E_OK;
}

int apikey_scopes_parse(const char *list, unsigned *bits)
{
	static const char *const names[] = { "read", "write", "control" };
	*bits = 0;
	while (list && *list) {
		size_t n = strcspn(list, ",");
		int found = 0;
		for (unsigned i = 0; i < 3; i++) {
			if (strlen(names[i]) == n && strncmp(list, names[i], n) == 0) {
				*bits |= 1u << i;
				found = 1;
			}
		}
		if (!found && n > 0)
			return -1;
		list += n;
		if (*list == ',')
			list++;
	}
	return 0;
}

int64_t rate_window_start(int64_t now)
{
	return now - now % RATE_WINDOW_SECONDS;
}

struct rate_state rate_compute(int64_t now, int64_t window_start, long hits, long limit)
{
	struct rate_state s;
	s.limit = limit;
	s.remaining = limit - hits;
	if (s.remaining < 0)
		s.remaining = 0;
	s.reset = window_start + RATE_WINDOW_SECONDS;
	s.retry_after = (long)(s.reset - now);
	if (s.retry_after < 1)
		s.retry_after = 1;
	s.limited = hits > limit;
	return s;
}

void auth_addr(const char *remote, char out[AUTH_ADDR_MAX])
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	if (remote && inet_pton(AF_INET, remote, a) == 1 &&
	    inet_ntop(AF_INET, a, out, AUTH_ADDR_MAX)) {
		return;
	}
	if (!remote || inet_pton(AF_INET6, remote, a) != 1) {
		snprintf(out, AUTH_ADDR_MAX, "-");
		return;
	}
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (memcmp(a, mapped, sizeof mapped) == 0) {
		inet_ntop(AF_INET, a + 12, out, AUTH_ADDR_MAX);
		return;
	}
	memset(a + 8, 0, 8);
	if (!inet_ntop(AF_INET6, a, text, sizeof text))
		snprintf(text, sizeof text, "-");
	snprintf(out, AUTH_ADDR_MAX, "%s/64", text);
}
