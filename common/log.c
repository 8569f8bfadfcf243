#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "apf";

void log_set_name(const char *name)
{
	prog = name;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	struct timeval tv;
	struct tm tm;
	char ts[32];
	char msg[2048];
	va_list ap;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s.%03dZ %s[%d] %s: %s\n", ts, (int)(tv.tv_usec / 1000), prog,
		(int)getpid(), names[lvl], msg);
}
