/* cfg.h - the `key = value` configuration file read by every program (var/apf.conf).
 * Path: explicit argument, else $APF_CONF, else ./var/apf.conf when it exists, else
 * /etc/apf/apf.conf (the installed one). Lines starting with '#' and blank lines are ignored;
 * `include = PATH` loads PATH at that point (later lines win). Values are kept as strings for
 * the life of the process. */
#ifndef APF_CFG_H
#define APF_CFG_H

/* Loads the file; returns 0, or -1 with a message on stderr. path may be NULL. */
/* The file cfg_load reads: path when given, else $APF_CONF, else ./var/apf.conf when it exists,
 * else /etc/apf/apf.conf. */
const char *cfg_default_path(const char *path);
int cfg_load(const char *path);
/* Path actually loaded (borrowed). */
const char *cfg_path(void);
/* Borrowed value of key, or def when absent or empty. */
const char *cfg_str(const char *key, const char *def);
/* Integer value of key, or def when absent or not a number. */
long cfg_int(const char *key, long def);
/* Sets or overrides a key (used by tests and command-line options). */
void cfg_set(const char *key, const char *value);
/* This host's name in leases, queue_jobs.locked_by and waiter addresses: conf `host_id`, else
 * gethostname() (docs/scale-out.md). Borrowed, valid until the next call. */
const char *cfg_host_id(void);

#endif
