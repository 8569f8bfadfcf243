/* log.h - one-line log records on stderr: time, level, pid, message.
 * The FastCGI app and workers run under a supervisor that captures stderr. When stderr is the
 * journal (JOURNAL_STREAM names it), each line is "<N>message" instead, N the syslog priority
 * (sd-daemon(3)): debug 7, info 6, warn 4, error 3; the journal records time, name and pid.
 * While work done for an API request runs (the request itself, its queue jobs and hub
 * commands in the worker), every line carries "rid=<request id> " before the message
 * (docs/observability.md). */
#ifndef APF_LOG_H
#define APF_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_name(const char *name);
/* The request id the following lines belong to (NULL or "": none). At most LOG_RID_MAX
 * characters are kept. */
#define LOG_RID_MAX 64
void log_set_request(const char *rid);
/* The current one ("" when none); borrowed. */
const char *log_request(void);
/* Looks at JOURNAL_STREAM and stderr again (after stderr was redirected). */
void log_journal_recheck(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An untrusted string (hub-supplied: session ids, reasons, firmware versions, event names,
 * codes, parser messages quoting input) made safe for one log line into out (size bytes):
 * control characters (C0, DEL, C1, U+2028, U+2029), backslash and bytes that are not UTF-8
 * become \xNN / \\; a string that does not fit ends in "..."; NULL is "-". Returns out. */
const char *log_str(const char *s, char *out, size_t size);
#define LOG_STR_BUF 256
/* log_str into a buffer that lives until the end of the enclosing block (one per use). */
#define LOG_STR(s) log_str((s), (char[LOG_STR_BUF]){ 0 }, LOG_STR_BUF)

#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
