#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CFG_MAX 128

struct cfg_kv {
	char *key;
	char *value;
};

static struct cfg_kv kv[CFG_MAX];
static int nkv;
static char loaded_path[4096];

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

void cfg_set(const char *key, const char *value)
{
	for (int i = 0; i < nkv; i++) {
		if (strcmp(kv[i].key, key) == 0) {
			free(kv[i].value);
			kv[i].value = strdup(value);
			return;
		}
	}
	if (nkv == CFG_MAX)
		return;
	kv[nkv].key = strdup(key);
	kv[nkv].value = strdup(value);
	nkv++;
}

/* One file; `include = PATH` lines load PATH there (nested up to 4 deep): the package keeps
 * its generated secrets in /etc/apf/secrets.conf, included by apf.conf (docs/packaging.md). */
static int load_file(const char *path, int depth)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "cannot read config %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[4096];
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f)) {
		char *s = trim(line);
		if (*s == '#' || *s == '\0')
			continue;
		char *eq = strchr(s, '=');
		if (!eq)
			continue;
		*eq = '\0';
		const char *key = trim(s), *value = trim(eq + 1);
		if (strcmp(key, "include") != 0)
			cfg_set(key, value);
		else if (depth < 4)
			rc = load_file(value, depth + 1);
		else {
			fprintf(stderr, "config %s: include nested too deep\n", path);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

const char *cfg_default_path(const char *path)
{
	if (!path || !*path)
		path = getenv("APF_CONF");
	if (!path || !*path) /* a source tree's var/, else the installed one (docs/packaging.md) */
		path = access("var/apf.conf", F_OK) == 0 ? "var/apf.conf" : "/etc/apf/apf.conf";
	return path;
}

int cfg_load(const char *path)
{
	path = cfg_default_path(path);
	if (load_file(path, 0) < 0)
		return -1;
	snprintf(loaded_path, sizeof loaded_path, "%s", path);
	return 0;
}

const char *cfg_path(void)
{
	return loaded_path;
}

const char *cfg_str(const char *key, const char *def)
{
	for (int i = 0; i < nkv; i++)
		if (strcmp(kv[i].key, key) == 0)
			return *kv[i].value ? kv[i].value : def;
	return def;
}

long cfg_int(const char *key, long def)
{
	const char *v = cfg_str(key, NULL);
	if (!v)
		return def;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || end == v)
		return def;
	return n;
}

const char *cfg_host_id(void)
{
	static char host[256];
	const char *id = cfg_str("host_id", NULL);
	if (id)
		snprintf(host, sizeof host, "%s", id);
	else if (gethostname(host, sizeof host) != 0 || !host[0])
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	return host;
}
