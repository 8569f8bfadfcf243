/* instpath.c - where an installed apf finds its shared files (docs/packaging.md). */
#include "instpath.h"

#include "cfg.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *inst_sql_dir(void)
{
	static char dir[PATH_MAX + 32];
	char exe[PATH_MAX];
	struct stat st;
	const char *conf = cfg_str("sql_dir", NULL);
	if (conf)
		return conf;
	if (stat("sql", &st) == 0 && S_ISDIR(st.st_mode))
		return "sql";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return "sql";
	exe[n] = '\0';
	for (int up = 0; up < 2; up++) { /* PREFIX/bin/apf-admin -> PREFIX */
		char *slash = strrchr(exe, '/');
		if (!slash)
			return "sql";
		*slash = '\0';
	}
	snprintf(dir, sizeof dir, "%s/share/apf/sql", exe);
	return dir;
}
