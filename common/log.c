#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "apf";
static char request_id[LOG_RID_MAX + 1]; /* the request the current work belongs to, or "" */
static int journal = -1;                  /* stderr is the journal: -1 not checked yet */

void log_set_request(const char *rid)
{
	size_t n = rid ? strlen(rid) : 0;
	if (n > LOG_RID_MAX)
		n = LOG_RID_MAX;
	for (size_t i = 0; i < n; i++) /* ids are checked where they come in; never a space here */
		request_id[i] = rid[i] > ' ' && rid[i] < 0x7F ? rid[i] : '_';
	request_id[n] = '\0';
}

const char *log_request(void)
{
	return request_id;
}

/* JOURNAL_STREAM ("DEVICE:INODE") names stderr when systemd connected it to the journal
 * (systemd.exec(5)); a stderr redirected elsewhere since keeps the variable but not the inode. */
static int journal_check(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_journal_recheck(void)
{
	journal = journal_check();
}

void log_set_name(const char *name)
{
	prog = name;
}

/* Length of the UTF-8 sequence at p (1..4) when it is well-formed, else 0. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xC2 && p[0] <= 0xDF ? 2
		 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if ((n == 3 && p[0] == 0xE0 && p[1] < 0xA0) || (n == 3 && p[0] == 0xED && p[1] >= 0xA0) ||
	    (n == 4 && p[0] == 0xF0 && p[1] < 0x90) || (n == 4 && p[0] == 0xF4 && p[1] >= 0x90))
		return 0; /* overlong, surrogate, beyond U+10FFFF */
	return n;
}

/* The escaped form of the character at *p into piece[17]; advances *p. */
static size_t esc_char(const unsigned char **p, char *piece)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *c = *p;
	size_t n = utf8_len(c), o = 0;
	/* C1 controls (U+0080..U+009F) and the Unicode line / paragraph separators */
	int control = n == 1 ? c[0] < 0x20 || c[0] == 0x7F
		    : n == 2 ? c[0] == 0xC2 && c[1] < 0xA0
		    : n == 3 && c[0] == 0xE2 && c[1] == 0x80 && (c[2] == 0xA8 || c[2] == 0xA9);
	if (n == 0) { /* a byte that is not UTF-8 */
		n = 1;
		control = 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (control) {
			piece[o++] = '\\';
			piece[o++] = 'x';
			piece[o++] = hex[c[i] >> 4];
			piece[o++] = hex[c[i] & 15];
		} else if (c[i] == '\\') {
			piece[o++] = '\\';
			piece[o++] = '\\';
		} else {
			piece[o++] = (char)c[i];
		}
	}
	*p = c + n;
	return o;
}

const char *log_str(const char *s, char *out, size_t size)
{
	char piece[17];
	size_t total = 0, o = 0;
	if (!size)
		return out;
	if (!s)
		s = "-";
	for (const unsigned char *p = (const unsigned char *)s; *p;)
		total += esc_char(&p, piece);
	/* when it does not fit, keep room for "..." */
	size_t room = total < size ? size - 1 : size > 4 ? size - 4 : 0;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = esc_char(&p, piece);
		if (o + n > room)
			break;
		memcpy(out + o, piece, n);
		o += n;
	}
	if (total >= size && size > 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
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
	if (journal < 0)
		journal = journal_check();
	if (journal) { /* sd-daemon(3) priority prefix; the journal adds time, name and pid */
		static const int prio[] = { 7, 6, 4, 3 };
		fprintf(stderr, "<%d>%s%s%s%s\n", prio[lvl], request_id[0] ? "rid=" : "", request_id,
			request_id[0] ? " " : "", msg);
		return;
	}
	fprintf(stderr, "%s.%03dZ %s[%d] %s: %s%s%s%s\n", ts, (int)(tv.tv_usec / 1000), prog,
		(int)getpid(), names[lvl], request_id[0] ? "rid=" : "", request_id,
		request_id[0] ? " " : "", msg);
}
