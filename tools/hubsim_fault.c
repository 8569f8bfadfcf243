/* hubsim_fault.c - faults on demand (docs/hub-link.md, "The simulator"), from the command line
 * (--fault and
 * its shorthands), the scenario file and the control channel, all through one parser.
 *
 * Four classes, one row per kind in the table below:
 *   ACK rules   decide how a matching command is ACKed (hubsim_cmd.c's plan table);
 *   job rules   are taken by a matching print.start and shape that job (download, upload, start,
 *               failure at a percentage or layer);
 *   toggles     set a hub's state until cleared (no heartbeats, clock skew, unsynced clock,
 *               partial or fixed discovery results);
 *   instant     act once, now (printer link down/up, pause at the printer, printer error,
 *               disconnect, kill, reconnect).
 * Rules match on hub, printer and action ("" = any; "print.*" = prefix); the newest matching rule
 * wins; `count=N` uses a rule N times. */
#include "hubsim.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *t_silent(struct hs_hub *h, struct fault *f, bool on);
static json_t *t_skew(struct hs_hub *h, struct fault *f, bool on);
static json_t *t_unsynced(struct hs_hub *h, struct fault *f, bool on);
static json_t *t_partial(struct hs_hub *h, struct fault *f, bool on);
static json_t *t_result(struct hs_hub *h, struct fault *f, bool on);
static json_t *i_offline(struct hs_printer *p, struct fault *f);
static json_t *i_online(struct hs_printer *p, struct fault *f);
static json_t *i_pause(struct hs_printer *p, struct fault *f);
static json_t *i_resume(struct hs_printer *p, struct fault *f);
static json_t *i_error(struct hs_printer *p, struct fault *f);
static json_t *i_disconnect(struct hs_hub *h, struct fault *f, bool on);
static json_t *i_kill(struct hs_hub *h, struct fault *f, bool on);
static json_t *i_reconnect(struct hs_hub *h, struct fault *f, bool on);

typedef json_t *hub_fn(struct hs_hub *h, struct fault *f, bool on);
typedef json_t *printer_fn(struct hs_printer *p, struct fault *f);

static const struct kind_row {
	const char *name, *alias;
	enum fault_class cls;
	hub_fn *hub;         /* toggles and hub instants: per targeted hub (on = set, off = clear) */
	printer_fn *printer; /* printer instants: the printer named by printer= */
} kinds[FK__COUNT] = {
	[FK_ACK] = { "ack", NULL, FC_ACK, NULL, NULL },
	[FK_REFUSE] = { "refuse", NULL, FC_ACK, NULL, NULL },
	[FK_TIMEOUT] = { "timeout", "drop", FC_ACK, NULL, NULL },
	[FK_DELAY] = { "delay", "delay_ms", FC_ACK, NULL, NULL },
	[FK_LATE_ACK] = { "late_ack", NULL, FC_ACK, NULL, NULL },
	[FK_DUPLICATE_ACK] = { "duplicate_ack", NULL, FC_ACK, NULL, NULL },
	[FK_EXECUTE_THEN_REFUSE] = { "execute_then_refuse", NULL, FC_ACK, NULL, NULL },
	[FK_FAIL_DOWNLOAD] = { "fail_download", NULL, FC_JOB, NULL, NULL },
	[FK_FAIL_UPLOAD] = { "fail_upload", NULL, FC_JOB, NULL, NULL },
	[FK_FAIL_START] = { "fail_start", NULL, FC_JOB, NULL, NULL },
	[FK_FAIL_AT] = { "fail_at", NULL, FC_JOB, NULL, NULL },
	[FK_STOP_HEARTBEATS] = { "stop_heartbeats", "silent", FC_TOGGLE, t_silent, NULL },
	[FK_SKEW_CLOCK] = { "skew_clock_ms", "skew", FC_TOGGLE, t_skew, NULL },
	[FK_CLOCK_UNSYNCED] = { "clock_unsynced", NULL, FC_TOGGLE, t_unsynced, NULL },
	[FK_DISCOVERY_PARTIAL] = { "discovery_partial", NULL, FC_TOGGLE, t_partial, NULL },
	[FK_DISCOVERY_RESULT] = { "discovery_result", NULL, FC_TOGGLE, t_result, NULL },
	[FK_PRINTER_OFFLINE] = { "printer_offline", NULL, FC_INSTANT, NULL, i_offline },
	[FK_PRINTER_ONLINE] = { "printer_online", NULL, FC_INSTANT, NULL, i_online },
	[FK_USER_PAUSE] = { "user_pause", NULL, FC_INSTANT, NULL, i_pause },
	[FK_USER_RESUME] = { "user_resume", NULL, FC_INSTANT, NULL, i_resume },
	[FK_PRINTER_ERROR] = { "printer_error", NULL, FC_INSTANT, NULL, i_error },
	[FK_DISCONNECT] = { "disconnect", NULL, FC_INSTANT, i_disconnect, NULL },
	[FK_KILL] = { "kill", NULL, FC_INSTANT, i_kill, NULL },
	[FK_RECONNECT] = { "reconnect", NULL, FC_INSTANT, i_reconnect, NULL },
};

enum key_type { KT_STR, KT_INT, KT_NUM };

static const struct key_row {
	const char *key;
	enum key_type type;
	size_t off, size;
} keys[] = {
#define KSTR(k) { #k, KT_STR, offsetof(struct fault, k), sizeof(((struct fault *)0)->k) }
#define KNUM(k, t) { #k, t, offsetof(struct fault, k), sizeof(((struct fault *)0)->k) }
	KSTR(hub), KSTR(printer), KSTR(action), KSTR(code), KSTR(message), KSTR(mode),
	KNUM(ms, KT_INT), KNUM(status, KT_INT), KNUM(pct, KT_NUM), KNUM(layer, KT_INT),
	KNUM(at, KT_INT), KNUM(count, KT_INT),
#undef KSTR
#undef KNUM
};

static struct fault *rules;
static size_t nrules;
static int next_id = 1;

const char *fault_kind_name(enum fault_kind k)
{
	return k >= 0 && k < FK__COUNT ? kinds[k].name : "none";
}

static int kind_parse(const char *s)
{
	for (int i = 0; i < FK__COUNT; i++)
		if (strcmp(kinds[i].name, s) == 0 || (kinds[i].alias && strcmp(kinds[i].alias, s) == 0))
			return i;
	return -1;
}

/* ------------------------------------------------------------------------------- parsing */

static int set_key(struct fault *f, const char *key, const char *val, char *err, size_t errsz)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key_row *k = &keys[i];
		if (strcmp(k->key, key) != 0)
			continue;
		char *dst = (char *)f + k->off;
		char *end;
		errno = 0;
		if (k->type == KT_STR) {
			if (strlen(val) >= k->size) {
				snprintf(err, errsz, "%s is too long", key);
				return -1;
			}
			memcpy(dst, val, strlen(val) + 1);
			return 0;
		}
		if (k->type == KT_NUM) {
			double v = strtod(val, &end);
			if (errno || end == val || *end) {
				snprintf(err, errsz, "%s must be a number", key);
				return -1;
			}
			memcpy(dst, &v, sizeof v);
			return 0;
		}
		long long v = strtoll(val, &end, 10);
		if (errno || end == val || *end) {
			snprintf(err, errsz, "%s must be an integer", key);
			return -1;
		}
		if (k->size == sizeof(int)) {
			int iv = (int)v;
			memcpy(dst, &iv, sizeof iv);
		} else {
			int64_t lv = v;
			memcpy(dst, &lv, sizeof lv);
		}
		return 0;
	}
	snprintf(err, errsz,
		 "unknown key %s (hub printer action code message ms status pct layer at mode count)",
		 key);
	return -1;
}

/* Next token of "word key=value key=\"quoted value\"" into out; returns the rest or NULL. */
static const char *token(const char *s, char *out, size_t outsz, char *err, size_t errsz)
{
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return NULL;
	size_t n = 0;
	bool quoted = false;
	for (; *s && (quoted || !isspace((unsigned char)*s)); s++) {
		char ch = *s;
		if (ch == '"') {
			quoted = !quoted;
			continue;
		}
		if (ch == '\\' && quoted && s[1])
			ch = *++s;
		if (n + 1 >= outsz) {
			snprintf(err, errsz, "a value is too long");
			return NULL;
		}
		out[n++] = ch;
	}
	out[n] = '\0';
	if (quoted) {
		snprintf(err, errsz, "unbalanced quotes");
		return NULL;
	}
	return s;
}

static int parse_json(const char *spec, struct fault *f, char *err, size_t errsz)
{
	json_error_t je;
	json_t *o = json_loads(spec, JSON_REJECT_DUPLICATES, &je);
	int rc = -1;
	if (!json_is_object(o)) {
		snprintf(err, errsz, "fault JSON: %s", o ? "not an object" : je.text);
		goto out;
	}
	int k = kind_parse(hs_jstr(o, "kind", ""));
	if (k < 0) {
		snprintf(err, errsz, "unknown fault kind \"%s\"", hs_jstr(o, "kind", ""));
		goto out;
	}
	f->kind = (enum fault_kind)k;
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		char buf[HS_MSG_LEN];
		if (strcmp(key, "kind") == 0)
			continue;
		if (strcmp(key, "printers") == 0) {
			if (!json_is_array(v)) {
				snprintf(err, errsz, "printers must be an array");
				goto out;
			}
			f->printers = json_deep_copy(v);
			continue;
		}
		if (json_is_string(v))
			snprintf(buf, sizeof buf, "%s", json_string_value(v));
		else if (json_is_integer(v))
			snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
		else if (json_is_real(v))
			snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
		else if (json_is_null(v))
			continue;
		else {
			snprintf(err, errsz, "%s must be a string or a number", key);
			goto out;
		}
		if (set_key(f, key, buf, err, errsz) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static int parse_words(const char *spec, struct fault *f, char *err, size_t errsz)
{
	char tok[HS_MSG_LEN + 16];
	err[0] = '\0';
	const char *s = token(spec, tok, sizeof tok, err, errsz);
	if (!s) {
		if (!err[0])
			snprintf(err, errsz, "empty fault");
		return -1;
	}
	int k = kind_parse(tok);
	if (k < 0) {
		snprintf(err, errsz, "unknown fault kind \"%s\"", tok);
		return -1;
	}
	f->kind = (enum fault_kind)k;
	while ((s = token(s, tok, sizeof tok, err, errsz))) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			snprintf(err, errsz, "expected key=value, got \"%s\"", tok);
			return -1;
		}
		*eq = '\0';
		if (set_key(f, tok, eq + 1, err, errsz) < 0)
			return -1;
	}
	return err[0] ? -1 : 0;
}

static int check(struct fault *f, char *err, size_t errsz)
{
	static const char *const modes[] = { "http", "hash", "size", "interrupt", NULL };
	if (strcmp(f->hub, "all") == 0 || strcmp(f->hub, "*") == 0)
		f->hub[0] = '\0';
	if (strcmp(f->action, "*") == 0)
		f->action[0] = '\0';
	if (f->hub[0] && !hs_hub_find(f->hub)) {
		snprintf(err, errsz, "unknown hub %s", f->hub);
		return -1;
	}
	if (f->kind == FK_DELAY && f->ms <= 0) {
		snprintf(err, errsz, "delay needs ms=N (milliseconds > 0)");
		return -1;
	}
	if (f->kind == FK_FAIL_AT && f->pct < 0 && f->layer <= 0) {
		snprintf(err, errsz, "fail_at needs pct=P (0..100) or layer=L");
		return -1;
	}
	if (f->kind == FK_FAIL_DOWNLOAD) {
		if (!f->mode[0])
			snprintf(f->mode, sizeof f->mode, "http");
		int ok = 0;
		for (int i = 0; modes[i]; i++)
			ok |= strcmp(modes[i], f->mode) == 0;
		if (!ok) {
			snprintf(err, errsz, "fail_download mode must be http, hash, size or interrupt");
			return -1;
		}
	}
	if (kinds[f->kind].printer && !f->printer[0]) {
		snprintf(err, errsz, "%s needs printer=PRINTER_ID", kinds[f->kind].name);
		return -1;
	}
	if (f->count == 0)
		f->count = -1;
	return 0;
}

int fault_parse(const char *spec, struct fault *f, char *err, size_t errsz)
{
	memset(f, 0, sizeof *f);
	f->kind = FK_NONE;
	f->pct = -1;
	while (isspace((unsigned char)*spec))
		spec++;
	int rc = *spec == '{' ? parse_json(spec, f, err, errsz) : parse_words(spec, f, err, errsz);
	if (rc == 0)
		rc = check(f, err, errsz);
	if (rc < 0)
		fault_release(f);
	return rc;
}

void fault_release(struct fault *f)
{
	json_decref(f->printers);
	f->printers = NULL;
}

/* ------------------------------------------------------------------------------- applying */

static json_t *answer_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *answer_err(const char *fmt, ...)
{
	char msg[HS_MSG_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static json_t *rule_json(const struct fault *f)
{
	json_t *o = json_pack("{s:i, s:s, s:s}", "id", f->id, "kind", kinds[f->kind].name, "class",
			      f->kind >= 0 && kinds[f->kind].cls == FC_ACK ? "ack" : "job");
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key_row *k = &keys[i];
		const char *src = (const char *)f + k->off;
		json_t *v = NULL;
		if (k->type == KT_STR && *src)
			v = json_string(src);
		else if (k->type == KT_NUM) {
			double d;
			memcpy(&d, src, sizeof d);
			v = d >= 0 ? json_real(d) : NULL;
		} else if (k->type == KT_INT && k->size == sizeof(int)) {
			int d;
			memcpy(&d, src, sizeof d);
			v = d ? json_integer(d) : NULL;
		} else if (k->type == KT_INT) {
			int64_t d;
			memcpy(&d, src, sizeof d);
			v = d ? json_integer(d) : NULL;
		}
		if (v)
			json_object_set_new(o, k->key, v);
	}
	return o;
}

static json_t *for_hubs(struct fault *f, bool on)
{
	int n = 0;
	json_t *last = NULL;
	for (size_t i = 0; i < hs.nhubs; i++) {
		if (f->hub[0] && strcmp(f->hub, hs.hubs[i]->id) != 0)
			continue;
		json_decref(last);
		last = kinds[f->kind].hub(hs.hubs[i], f, on);
		if (!json_is_true(json_object_get(last, "ok")))
			return last;
		n++;
	}
	json_decref(last);
	return json_pack("{s:b, s:s, s:s, s:i}", "ok", 1, "kind", kinds[f->kind].name, "set",
			 on ? "on" : "off", "hubs", n);
}

json_t *fault_apply(struct fault *f, bool startup)
{
	const struct kind_row *k = &kinds[f->kind];
	json_t *ans;
	if (k->cls == FC_ACK || k->cls == FC_JOB) {
		struct fault *n = realloc(rules, (nrules + 1) * sizeof *n);
		if (!n) {
			fault_release(f);
			return answer_err("out of memory");
		}
		rules = n;
		f->id = next_id++;
		rules[nrules++] = *f;
		hs_info("fault %d: %s%s%s%s%s", f->id, k->name, f->hub[0] ? " hub " : "", f->hub,
			f->action[0] ? " action " : "", f->action);
		return json_pack("{s:b, s:i, s:o}", "ok", 1, "id", f->id, "fault", rule_json(f));
	}
	if (f->kind == FK_DISCOVERY_RESULT && !f->printers)
		return answer_err("discovery_result needs \"printers\": [...] (JSON form)");
	if (k->cls == FC_INSTANT && startup) {
		fault_release(f);
		return answer_err("%s happens at run time only (control channel)", k->name);
	}
	if (k->printer) {
		struct hs_printer *p = hs_printer_find(f->printer);
		ans = p ? k->printer(p, f) : answer_err("unknown printer %s", f->printer);
	} else {
		ans = for_hubs(f, true);
	}
	fault_release(f);
	return ans;
}

/* ------------------------------------------------------------------------------- matching */

static bool scope(const struct fault *r, const char *hub, const char *printer)
{
	return (!r->hub[0] || strcmp(r->hub, hub) == 0) &&
	       (!r->printer[0] || strcmp(r->printer, printer) == 0);
}

static bool action_matches(const char *pattern, const char *action)
{
	size_t n = strlen(pattern);
	if (!n)
		return true;
	if (pattern[n - 1] == '*')
		return strncmp(pattern, action, n - 1) == 0;
	return strcmp(pattern, action) == 0;
}

static void rule_remove(size_t i)
{
	fault_release(&rules[i]);
	memmove(&rules[i], &rules[i + 1], (nrules - i - 1) * sizeof *rules);
	nrules--;
}

/* One use of rule i: copies it and drops it when its count runs out. */
static void use(size_t i, struct fault *out)
{
	if (out) {
		*out = rules[i];
		out->printers = NULL;
	}
	if (rules[i].count > 0 && --rules[i].count == 0)
		rule_remove(i);
}

void fault_match_ack(const char *hub, const char *printer, const char *action, struct fault *out)
{
	memset(out, 0, sizeof *out);
	out->kind = FK_NONE;
	for (size_t i = nrules; i-- > 0;)
		if (kinds[rules[i].kind].cls == FC_ACK && scope(&rules[i], hub, printer) &&
		    action_matches(rules[i].action, action)) {
			use(i, out);
			return;
		}
}

void fault_take_job(const char *hub, const char *printer, struct hs_job_faults *jf)
{
	for (size_t i = 0; i < nrules;) {
		struct fault r = rules[i];
		if (kinds[r.kind].cls != FC_JOB || !scope(&r, hub, printer)) {
			i++;
			continue;
		}
		if (r.code[0])
			snprintf(jf->code, sizeof jf->code, "%s", r.code);
		if (r.message[0])
			snprintf(jf->message, sizeof jf->message, "%s", r.message);
		if (r.kind == FK_FAIL_DOWNLOAD) {
			snprintf(jf->dl_mode, sizeof jf->dl_mode, "%s", r.mode);
			jf->dl_status = r.status;
			jf->dl_at = r.at;
		}
		jf->upload |= r.kind == FK_FAIL_UPLOAD;
		jf->start |= r.kind == FK_FAIL_START;
		if (r.kind == FK_FAIL_AT) {
			jf->fail_pct = r.pct;
			jf->fail_layer = r.layer;
		}
		hs_info("fault %d (%s) taken by a print.start on printer %s", r.id, kinds[r.kind].name,
			printer);
		size_t before = nrules;
		use(i, NULL);
		if (nrules == before)
			i++;
	}
}

json_t *fault_list_json(void)
{
	json_t *list = json_array();
	for (size_t i = 0; i < nrules; i++)
		json_array_append_new(list, rule_json(&rules[i]));
	return list;
}

json_t *fault_clear(const char *what)
{
	while (isspace((unsigned char)*what))
		what++;
	if (strcmp(what, "all") == 0) {
		while (nrules)
			rule_remove(nrules - 1);
		for (int k = 0; k < FK__COUNT; k++)
			if (kinds[k].cls == FC_TOGGLE)
				for (size_t i = 0; i < hs.nhubs; i++)
					json_decref(kinds[k].hub(hs.hubs[i], NULL, false));
		hs_info("faults cleared");
		return json_pack("{s:b, s:s}", "ok", 1, "cleared", "all");
	}
	char *end;
	long id = strtol(what, &end, 10);
	if (end != what && *end == '\0') {
		for (size_t i = 0; i < nrules; i++)
			if (rules[i].id == id) {
				rule_remove(i);
				return json_pack("{s:b, s:i}", "ok", 1, "cleared", (int)id);
			}
		return answer_err("no fault rule %s", what);
	}
	struct fault f;
	char err[HS_MSG_LEN];
	if (fault_parse(what, &f, err, sizeof err) < 0)
		return answer_err("%s", err);
	int n = 0;
	for (size_t i = nrules; i-- > 0;)
		if (rules[i].kind == f.kind && (!f.hub[0] || strcmp(rules[i].hub, f.hub) == 0) &&
		    (!f.printer[0] || strcmp(rules[i].printer, f.printer) == 0)) {
			rule_remove(i);
			n++;
		}
	json_t *ans = kinds[f.kind].cls == FC_TOGGLE
			      ? for_hubs(&f, false)
			      : json_pack("{s:b, s:s, s:i}", "ok", 1, "kind", kinds[f.kind].name,
					  "cleared", n);
	fault_release(&f);
	return ans;
}

void fault_free_all(void)
{
	while (nrules)
		rule_remove(nrules - 1);
	free(rules);
	rules = NULL;
}

/* ------------------------------------------------------------------------------- toggles */

static json_t *ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static json_t *t_silent(struct hs_hub *h, struct fault *f, bool on)
{
	(void)f;
	if (h->silent != on)
		hs_info("hub %s: heartbeats and status %s", h->id, on ? "stopped" : "resumed");
	h->silent = on;
	if (!on) {
		hub_heartbeat(h);
		for (size_t i = 0; i < h->nprinters; i++)
			printer_touch(h->printers[i]);
	}
	return ok();
}

static json_t *t_skew(struct hs_hub *h, struct fault *f, bool on)
{
	h->skew_ms = on && f ? f->ms : 0;
	return ok();
}

static json_t *t_unsynced(struct hs_hub *h, struct fault *f, bool on)
{
	(void)f;
	h->clock_unsynced = on;
	return ok();
}

static json_t *t_partial(struct hs_hub *h, struct fault *f, bool on)
{
	(void)f;
	h->discovery_partial = on;
	return ok();
}

static json_t *t_result(struct hs_hub *h, struct fault *f, bool on)
{
	json_decref(h->discovery_override);
	h->discovery_override = on && f && f->printers ? json_deep_copy(f->printers) : NULL;
	return ok();
}

/* ------------------------------------------------------------------------------- instants */

static json_t *i_offline(struct hs_printer *p, struct fault *f)
{
	printer_set_link(p, false, f->message[0] ? f->message : "link_lost");
	return ok();
}

static json_t *i_online(struct hs_printer *p, struct fault *f)
{
	(void)f;
	printer_set_link(p, true, NULL);
	return ok();
}

static json_t *user(struct hs_printer *p, bool resume)
{
	char err[HS_MSG_LEN];
	if (printer_user_pause(p, resume, err, sizeof err) < 0)
		return answer_err("%s", err);
	return ok();
}

static json_t *i_pause(struct hs_printer *p, struct fault *f)
{
	(void)f;
	return user(p, false);
}

static json_t *i_resume(struct hs_printer *p, struct fault *f)
{
	(void)f;
	return user(p, true);
}

static json_t *i_error(struct hs_printer *p, struct fault *f)
{
	printer_fail(p, f->code[0] ? f->code : "PRINTER_ERROR",
		     f->message[0] ? f->message : "printer error (fault injection)");
	return ok();
}

static json_t *i_disconnect(struct hs_hub *h, struct fault *f, bool on)
{
	(void)f;
	(void)on;
	hub_disconnect(h, "disconnect_command");
	return ok();
}

static json_t *i_kill(struct hs_hub *h, struct fault *f, bool on)
{
	(void)f;
	(void)on;
	hub_kill(h);
	return ok();
}

static json_t *i_reconnect(struct hs_hub *h, struct fault *f, bool on)
{
	(void)f;
	(void)on;
	hub_reconnect(h);
	return ok();
}
