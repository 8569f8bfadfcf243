/* ingest.c - inbound hub messages into the database (see ingest.h).
 *
 * Two tables drive it: `inbound` (topic kind → payload type, handler, flags) and `event_rules`
 * (event [+ data.stage] → job transition, printer transition, side effects). Every transition
 * is state-guarded in SQL (FIND_IN_SET on the allowed from-states; a printer in maintenance
 * keeps `maintenance`), so a repeated or late message changes nothing.
 *
 * Ordering: buffered status rows are flushed before a presence or event message is applied, so
 * an older status never overwrites the effect of a newer event. */
#include "ingest.h"

#include "hubcmd.h"

#include "hubjson.h"
#include "jhelp.h"
#include "log.h"
#include "mqtt.h"
#include "queue.h"
#include "states.h"
#include "stock.h"
#include "util.h"
#include "webhook.h"
#include "wstats.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ queries */

static const struct db_query Q_IN_HUB = {
	"SELECT account_id FROM hubs WHERE id = ?"
};
static const struct db_query Q_IN_HUB_LOCK = {
	"SELECT account_id, IFNULL(session_id, ''), is_online FROM hubs WHERE id = ? FOR UPDATE"
};
static const struct db_query Q_IN_ONLINE = {
	"UPDATE hubs SET is_online = 1, last_seen_at = IF(?, last_seen_at, NOW(3)), session_id = ?,"
	" firmware_version = IFNULL(?, firmware_version),"
	" hardware_version = IFNULL(?, hardware_version), mac_address = IFNULL(?, mac_address),"
	" ip_address = IFNULL(?, ip_address), updated_at = NOW(3) WHERE id = ?"
};
static const struct db_query Q_IN_OFFLINE = {
	"UPDATE hubs SET is_online = 0, updated_at = NOW(3) WHERE id = ?"
};
static const struct db_query Q_IN_PRINTERS_OFFLINE = {
	"UPDATE printers SET is_connected = 0, status = IF(status = 'maintenance', status, 'offline'),"
	" updated_at = NOW(3) WHERE hub_id = ?"
};
static const struct db_query Q_IN_HEARTBEAT = {
	"UPDATE hubs SET last_seen_at = NOW(3), firmware_version = IFNULL(?, firmware_version)"
	" WHERE id = ? AND account_id IS NOT NULL"
};
/* The status flush (see "status" below). Multi-row statements: head, the row part once per row
 * (comma separated), tail; built and prepared once per chunk size (struct multi). */
#define LIVE_ARGS 14 /* placeholders of one live-status row */
#define LIVE_ROW "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define LIVE_INSERT                                                                              \
	"INSERT INTO printer_live_status (printer_id, status, progress, nozzle_temp,"             \
	" target_nozzle_temp, bed_temp, target_bed_temp, chamber_temp, layer_num, total_layers,"  \
	" remaining_time_seconds, job_id, seq, received_at) VALUES "
#define LIVE_UPDATE                                                                              \
	" ON DUPLICATE KEY UPDATE status = VALUES(status), progress = VALUES(progress),"          \
	" nozzle_temp = VALUES(nozzle_temp), target_nozzle_temp = VALUES(target_nozzle_temp),"    \
	" bed_temp = VALUES(bed_temp), target_bed_temp = VALUES(target_bed_temp),"                \
	" chamber_temp = VALUES(chamber_temp), layer_num = VALUES(layer_num),"                    \
	" total_layers = VALUES(total_layers),"                                                   \
	" remaining_time_seconds = VALUES(remaining_time_seconds), job_id = VALUES(job_id),"      \
	" seq = VALUES(seq), received_at = VALUES(received_at)"
/* The reported printers that are on a claimed hub of their own account, with what the status
 * compares against; locked (shared) until the flush commits, as the INSERT ... SELECT that
 * checked one row at a time did, so neither the API nor a revert changes them in between. The
 * primary key is forced: a locking read that scans a small table locks every row it reads. */
#define PRINTERS_SELECT                                                                          \
	"SELECT p.id, p.hub_id, p.status, p.is_connected, p.connection_error,"                    \
	" p.current_filament_type, p.current_color_hex,"                                          \
	" TIMESTAMPDIFF(MICROSECOND, '1970-01-01', p.updated_at) DIV 1000"                        \
	" FROM printers p FORCE INDEX (PRIMARY)"                                                  \
	" JOIN hubs h ON h.id = p.hub_id AND h.account_id = p.account_id WHERE p.id IN ("
#define JOBS_SELECT                                                                              \
	"SELECT id, printer_id, status, progress_percentage FROM print_jobs FORCE INDEX (PRIMARY)" \
	" WHERE id IN ("
#define IN_TAIL ") LOCK IN SHARE MODE"
/* §6: status / is_connected / connection_error / filament only when something changed;
 * a printer in maintenance keeps its status. A report received before the printer row last
 * changed (e.g. an API command's optimistic transition, written while the report sat in the
 * batch) is older news: it does not overwrite the row; the next report reconciles. Run only for
 * the rows the flush found changed (printer_change); the conditions stay as the guard. */
/* The status is also kept while a command that moves it is on its way (pending, sent) or was
 * received by the hub after the report was made (the report's ts and the ACK's received_at are
 * both the hub's clock): such a report shows the printer before the command ran, e.g. `printing`
 * published just before the hub took a pause, and would undo the API's acked transition. */
#define STATUS_KEPT_SQL                                                                          	"(status = 'maintenance' OR EXISTS (SELECT 1 FROM hub_commands c"                          	" WHERE c.printer_id = printers.id AND c.issued_at > NOW(3) - INTERVAL 1 MINUTE"          	" AND c.action IN ('print.pause', 'print.resume', 'print.stop')"                          	" AND (c.status IN ('pending', 'sent') OR (c.status = 'acked' AND c.hub_received_at >= ?))))"
static const struct db_query Q_IN_PRINTER_STATUS = {
	"UPDATE printers SET status = IF(" STATUS_KEPT_SQL ", status, ?), is_connected = ?,"
	" connection_error = ?, current_filament_type = IFNULL(?, current_filament_type),"
	" current_color_hex = IFNULL(?, current_color_hex), updated_at = NOW(3)"
	" WHERE id = ? AND hub_id = ? AND account_id = (SELECT h.account_id FROM hubs h WHERE h.id = ?)"
	" AND (IF(" STATUS_KEPT_SQL ", 0, status <> ?) OR is_connected <> ?"
	" OR NOT (connection_error <=> ?)"
	" OR NOT (current_filament_type <=> IFNULL(?, current_filament_type))"
	" OR NOT (current_color_hex <=> IFNULL(?, current_color_hex)))"
	" AND updated_at <= ?"
};
/* Run only for the jobs the flush found moving (seen_jobs); the conditions stay as the guard. */
static const struct db_query Q_IN_JOB_PROGRESS = {
	"UPDATE print_jobs SET progress_percentage = ?, updated_at = NOW(3)"
	" WHERE id = ? AND printer_id = ? AND status IN ('printing', 'paused')"
	" AND progress_percentage <> ?"
	" AND printer_id IN (SELECT p.id FROM printers p WHERE p.id = ? AND p.hub_id = ?)"
};
static const struct db_query Q_IN_EVENT_SEEN = {
	"INSERT INTO hub_events (event_id, hub_id, event, printer_id, job_id, command_id, event_ts)"
	" VALUES (?, ?, ?, ?, ?, ?, ?)"
};
static const struct db_query Q_IN_EVENT_PRINTER = {
	"SELECT account_id FROM printers WHERE id = ? AND hub_id = ? AND account_id = ?"
};
/* A later command of the same job that is in flight or was acked (a failed or timed-out one was
 * reverted and does not count). Asked after taking the job's row lock (which an API action holds
 * from its transition to its commit, the row of its command included) and as a locking read, so
 * it sees every committed command of the job, not the transaction's snapshot. */
static const struct db_query Q_IN_EVENT_JOB_LOCK = {
	"SELECT status FROM print_jobs WHERE id = ? FOR UPDATE"
};
static const struct db_query Q_IN_EVENT_SUPERSEDED = {
	"SELECT COUNT(*) FROM hub_commands c JOIN hub_commands n"
	" ON n.job_id = c.job_id AND n.seq > c.seq AND n.status IN ('pending', 'sent', 'acked')"
	" WHERE c.command_id = ? AND c.job_id = ? LOCK IN SHARE MODE"
};
static const struct db_query Q_IN_EVENT_JOB = {
	"UPDATE print_jobs SET status = IFNULL(?, status),"
	" time_started = IF(?, NOW(3), time_started),"
	" time_completed = IF(?, NOW(3), time_completed),"
	" progress_percentage = IFNULL(?, progress_percentage),"
	" actual_print_time_minutes = IF(?, IFNULL(?, TIMESTAMPDIFF(MINUTE, time_started, NOW(3))),"
	" actual_print_time_minutes),"
	" failure_reason = IF(?, ?, failure_reason), updated_at = NOW(3)"
	" WHERE id = ? AND printer_id = ? AND FIND_IN_SET(status, ?)"
};
static const struct db_query Q_IN_EVENT_PRINTER_SET = {
	"UPDATE printers SET"
	" status = IF(? IS NOT NULL AND status <> 'maintenance' AND FIND_IN_SET(status, ?),"
	" ?, status),"
	" cleared = IF(?, 0, cleared), is_connected = IFNULL(?, is_connected),"
	" connection_error = IF(?, ?, connection_error),"
	" firmware_version = IFNULL(?, firmware_version),"
	" total_print_time = total_print_time + IF(?, IFNULL((SELECT j.actual_print_time_minutes"
	" FROM print_jobs j WHERE j.id = ?), 0), 0), updated_at = NOW(3) WHERE id = ?"
};
static const struct db_query Q_IN_FAILURE = {
	"INSERT INTO printer_failures (id, account_id, printer_id, print_job_id, failure_type,"
	" failure_reason, error_code, progress_at_failure, print_time_at_failure, layer_at_failure)"
	" SELECT ?, j.account_id, ?, j.id, ?, ?, ?, ?,"
	" TIMESTAMPDIFF(MINUTE, j.time_started, NOW(3)), ? FROM print_jobs j WHERE j.id = ?"
};
static const struct db_query Q_IN_DISCOVERY = {
	"INSERT INTO hub_discoveries (hub_id, discovered_at, printers) VALUES (?, ?, ?)"
	" ON DUPLICATE KEY UPDATE discovered_at = VALUES(discovered_at),"
	" printers = VALUES(printers), updated_at = NOW(3)"
};
static const struct db_query Q_IN_PURGE_EVENTS = {
	"DELETE FROM hub_events WHERE received_at < NOW(3) - INTERVAL 24 HOUR LIMIT 1000"
};

/* A percentage (validated 0..100) as an integer; no libm. */
static long long round_pct(double x)
{
	return (long long)(x + 0.5);
}

/* ------------------------------------------------------------------ state */

#define TEMP_NOZZLE 0
#define TEMP_NOZZLE_TARGET 1
#define TEMP_BED 2
#define TEMP_BED_TARGET 3
#define TEMP_CHAMBER 4
#define NTEMPS 5

static const char *const temp_keys[NTEMPS] = { "nozzle", "nozzle_target", "bed", "bed_target",
					       "chamber" };

/* One printer's latest status (§6), as it will be written. */
struct status_row {
	char printer[37], hub[37];
	char state[16];
	int connected;
	long long seq;
	int has_seq;
	long long hub_ts;             /* the report's ts, hub clock (epoch ms) */
	int has_ts;
	int64_t received_ms;
	char at[24];                  /* received_ms as a DATETIME(3) literal */
	double progress;
	int has_progress;
	double temps[NTEMPS];
	int has_temp[NTEMPS];
	long long layer, total, remaining;
	int has_layer, has_total, has_remaining;
	char job[37];                 /* "" = none */
	char filament[65], color[17]; /* "" = not reported */
	char error[501];              /* "" = no error */
	unsigned plan;                /* ROW_*: what the flush found to write */
	char was[24];                 /* the printer's status before the flush (ROW_KNOWN) */
};

/* Last seq per printer (the §6 "drop anything older" rule); reset per hub session. At most
 * SEQ_MAX / 2 printers are remembered; past that the memory starts over (one older report per
 * printer may then slip through, which the next report corrects). */
#define SEQ_MAX (1u << 16)
struct seq_entry {
	char printer[37];
	char hub[37];
	long long seq;                /* -1: forgotten (new session) */
};

struct backlog_msg {
	struct backlog_msg *next;
	size_t len;
	bool retained;
	char *topic;
	char payload[];
};

/* Multi-row statements run in chunks of these sizes (see chunk_size). */
#define NCHUNKS 4
#define CHUNK_MAX 128
static const unsigned chunk_rows[NCHUNKS] = { 1, 8, 32, CHUNK_MAX };

#define BATCH_SLOTS (INGEST_BATCH * 2) /* open addressing, a power of two */
_Static_assert((BATCH_SLOTS & (BATCH_SLOTS - 1)) == 0 && INGEST_BATCH < UINT16_MAX,
	       "the batch index needs a power of two of 16-bit slots");

struct ingest {
	struct status_row rows[INGEST_BATCH];
	size_t nrows;
	uint16_t slots[BATCH_SLOTS];  /* (printer, hub) → rows index + 1 (0 = free) */
	size_t sel[INGEST_BATCH];     /* the rows one step of a flush works on */
	struct db_arg args[CHUNK_MAX * LIVE_ARGS]; /* one chunk's arguments */
	unsigned flush_failures;
	unsigned long long dropped;   /* reports of further printers while the batch was full */
	struct seq_entry *seqs;
	size_t seqcap, seqn;
	struct backlog_msg *head, *tail;
	size_t nbacklog;
};

struct ingest *ingest_new(void)
{
	return calloc(1, sizeof(struct ingest));
}

void ingest_free(struct ingest *in)
{
	if (!in)
		return;
	while (in->head) {
		struct backlog_msg *m = in->head;
		in->head = m->next;
		free(m);
	}
	free(in->seqs);
	free(in);
}

size_t ingest_buffered(const struct ingest *in)
{
	return in ? in->nrows : 0;
}

size_t ingest_backlog(const struct ingest *in)
{
	return in ? in->nbacklog : 0;
}

/* ------------------------------------------------------------------ seq memory */

static size_t seq_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct seq_entry *seq_slot(struct ingest *in, const char *printer)
{
	size_t i = seq_hash(printer) & (in->seqcap - 1);
	while (in->seqs[i].printer[0] && strcmp(in->seqs[i].printer, printer) != 0)
		i = (i + 1) & (in->seqcap - 1);
	return &in->seqs[i];
}

/* The entry of printer, created when absent; NULL when out of memory. */
static struct seq_entry *seq_get(struct ingest *in, const char *printer)
{
	if (in->seqn * 2 >= in->seqcap) {
		size_t cap = in->seqcap ? in->seqcap * 2 : 256;
		/* bounded: a hub reporting made-up printer ids must not grow it without end */
		if (cap > SEQ_MAX) {
			memset(in->seqs, 0, in->seqcap * sizeof *in->seqs);
			in->seqn = 0;
		} else {
			struct seq_entry *old = in->seqs;
			size_t oldcap = in->seqcap;
			in->seqs = calloc(cap, sizeof *in->seqs);
			if (!in->seqs) {
				in->seqs = old;
				return NULL;
			}
			in->seqcap = cap;
			for (size_t i = 0; i < oldcap; i++)
				if (old[i].printer[0])
					*seq_slot(in, old[i].printer) = old[i];
			free(old);
		}
	}
	struct seq_entry *e = seq_slot(in, printer);
	if (!e->printer[0]) {
		snprintf(e->printer, sizeof e->printer, "%s", printer);
		e->seq = -1;
		in->seqn++;
	}
	return e;
}

/* A new session of hub: its printers count seq from scratch. */
static void seq_forget_hub(struct ingest *in, const char *hub)
{
	for (size_t i = 0; i < in->seqcap; i++)
		if (in->seqs[i].printer[0] && strcmp(in->seqs[i].hub, hub) == 0)
			in->seqs[i].seq = -1;
}

/* ------------------------------------------------------------------ backlog */

static void backlog_push(struct ingest *in, const char *topic, const void *payload, size_t len,
			 bool retained)
{
	if (in->nbacklog >= INGEST_BACKLOG_MAX) {
		log_warn("backlog full (%d messages): message on %.100s dropped", INGEST_BACKLOG_MAX,
			 topic);
		return;
	}
	size_t tlen = strlen(topic);
	struct backlog_msg *m = malloc(sizeof *m + len + tlen + 2);
	if (!m) {
		log_error("out of memory: message on %.100s dropped", topic);
		return;
	}
	m->next = NULL;
	m->len = len;
	m->retained = retained;
	memcpy(m->payload, payload, len);
	m->payload[len] = '\0';
	m->topic = m->payload + len + 1;
	memcpy(m->topic, topic, tlen + 1);
	if (in->tail)
		in->tail->next = m;
	else
		in->head = m;
	in->tail = m;
	in->nbacklog++;
}

/* ------------------------------------------------------------------ helpers */

/* The hub a message came from. */
struct hubref {
	const char *id;
	char account[37];
	bool retained;    /* a stored message the broker replays on (re)subscription, not live */
};

static enum api_err hub_claimed(struct hubctx *c, const char *hub, struct hubref *h, int *ok)
{
	struct db_res res;
	h->id = hub;
	h->account[0] = '\0';
	enum api_err err = db_exec(c->db, &Q_IN_HUB, DB_ARGS(DS(hub)), &res);
	*ok = !err && res.nrows == 1 && db_get(&res, 0, 0);
	if (*ok)
		snprintf(h->account, sizeof h->account, "%s", db_get(&res, 0, 0));
	db_res_free(&res);
	return err;
}

static struct db_arg opt_int(int set, long long v)
{
	return set ? DI(v) : DNULL;
}

static struct db_arg opt_str(const char *s)
{
	return s && *s ? DS(s) : DNULL;
}

/* ------------------------------------------------------------------ presence (§4.1) */

/* A retained presence is a replay (after our reconnect): it says the hub is connected, not
 * that it was heard from just now, so last_seen_at is left to the heartbeats. */
static enum api_err presence_online(struct hubctx *c, const struct hubref *h,
				    const char *session, const json_t *m)
{
	const char *hub = h->id;
	char fw[65], hw[65], mac[33], ip[65];
	if (!hj_str(m, "firmware_version", HJ_CUT, fw, sizeof fw) ||
	    !hj_str(m, "hardware_version", HJ_CUT, hw, sizeof hw) ||
	    !hj_str(m, "mac_address", HJ_CUT, mac, sizeof mac) ||
	    !hj_str(m, "lan_ip", HJ_CUT, ip, sizeof ip)) {
		log_warn("presence of hub %s dropped: malformed fields", hub);
		return E_OK;
	}
	struct db_res res;
	enum api_err err = db_begin(c->db);
	if (err)
		return err;
	err = db_exec(c->db, &Q_IN_HUB_LOCK, DB_ARGS(DS(hub)), &res);
	int known = !err && res.nrows == 1 && db_get(&res, 0, 0);
	char account[37] = "";
	int same = 0;
	if (known) {
		snprintf(account, sizeof account, "%s", db_get(&res, 0, 0));
		same = db_get_int(&res, 0, 2, 0) == 1 && strcmp(db_get(&res, 0, 1), session) == 0;
	}
	db_res_free(&res);
	if (!err && !known) {
		db_rollback(c->db);
		log_warn("presence from unknown or unclaimed hub %s dropped", hub);
		return E_OK;
	}
	if (!err)
		err = db_exec(c->db, &Q_IN_ONLINE,
			      DB_ARGS(DI(h->retained), DS(session), opt_str(fw), opt_str(hw),
				      opt_str(mac), opt_str(ip), DS(hub)),
			      NULL);
	/* a new session (or a hub we had as offline) gets the printer list (§4.1), and what the
	 * old session was sent without answering (no will: its broker died) is published again */
	int resent = 0;
	if (!err && !same)
		err = hubcmds_resend(c, hub, &resent);
	if (!err && !same)
		err = hubcmds_sync(c, hub, account);
	if (!err && !same)
		err = webhook_emit(c->db, account, "hub.online", json_pack("{s:s}", "hub_id", hub));
	if (!err)
		err = db_commit(c->db);
	if (err) {
		db_rollback(c->db);
		return err;
	}
	if (!same) {
		seq_forget_hub(c->in, hub);
		log_info("hub %s online (session %s, firmware %s)", hub, LOG_STR(session),
			 LOG_STR(fw[0] ? fw : "-"));
		if (resent)
			log_info("hub %s: %d unanswered command(s) of its last session published"
				 " again", hub, resent);
	}
	return E_OK;
}

static enum api_err presence_offline(struct hubctx *c, const char *hub, const char *session,
				     const json_t *m)
{
	char reason[33];
	if (!hj_str(m, "reason", HJ_CUT, reason, sizeof reason))
		reason[0] = '\0';
	struct db_res res;
	enum api_err err = db_begin(c->db);
	if (err)
		return err;
	err = db_exec(c->db, &Q_IN_HUB_LOCK, DB_ARGS(DS(hub)), &res);
	int known = !err && res.nrows == 1 && db_get(&res, 0, 0);
	int current = known && strcmp(db_get(&res, 0, 1), session) == 0;
	int was_online = known && db_get_int(&res, 0, 2, 0) == 1;
	char cur[65] = "", account[37] = "";
	if (known) {
		hj_cut(cur, sizeof cur, db_get(&res, 0, 1));
		snprintf(account, sizeof account, "%s", db_get(&res, 0, 0));
	}
	db_res_free(&res);
	if (!err && current && !was_online) {
		db_rollback(c->db); /* already offline: a replayed (retained) or repeated will */
		return E_OK;
	}
	if (!err && !current) {
		db_rollback(c->db);
		if (known)
			log_info("offline presence of hub %s for old session %s ignored (current %s)",
				 hub, LOG_STR(session), LOG_STR(cur[0] ? cur : "none"));
		else
			log_warn("presence from unknown or unclaimed hub %s dropped", hub);
		return E_OK;
	}
	if (!err)
		err = db_exec(c->db, &Q_IN_OFFLINE, DB_ARGS(DS(hub)), NULL);
	if (!err)
		err = webhook_emit(c->db, account, "hub.offline", json_pack("{s:s, s:s?}", "hub_id",
				   hub, "reason", reason[0] ? reason : NULL));
	if (!err)
		err = db_commit(c->db);
	if (err) {
		db_rollback(c->db);
		return err;
	}
	log_info("hub %s offline (session %s, reason %s)", hub, LOG_STR(session),
		 LOG_STR(reason[0] ? reason : "-"));
	/* open commands first: their reverts compare against the optimistic printer states */
	err = hubcmds_hub_lost(c, hub);
	if (!err)
		err = db_exec(c->db, &Q_IN_PRINTERS_OFFLINE, DB_ARGS(DS(hub)), NULL);
	return err;
}

static enum api_err ingest_flush_all(struct hubctx *c);

static enum api_err on_presence(struct hubctx *c, const struct hubref *h, const json_t *m)
{
	char session[65];
	int online;
	if (!hj_bool(m, "online", HJ_REQUIRED, &online) ||
	    !hj_str(m, "session_id", HJ_REQUIRED, session, sizeof session) || !session[0]) {
		log_warn("presence of hub %s dropped: needs online and session_id", h->id);
		return E_OK;
	}
	enum api_err err = ingest_flush_all(c);
	if (err)
		return err;
	return online ? presence_online(c, h, session, m) : presence_offline(c, h->id, session, m);
}

/* ------------------------------------------------------------------ heartbeat (§4.2) */

static enum api_err on_heartbeat(struct hubctx *c, const struct hubref *h, const json_t *m)
{
	char fw[65];
	long long seq;
	if (!hj_str(m, "firmware_version", HJ_CUT, fw, sizeof fw) ||
	    !hj_int(m, "seq", 0, 0, 1LL << 62, &seq, NULL)) {
		log_warn("heartbeat of hub %s dropped: malformed fields", h->id);
		return E_OK;
	}
	enum api_err err = db_exec(c->db, &Q_IN_HEARTBEAT, DB_ARGS(opt_str(fw), DS(h->id)), NULL);
	if (!err && db_affected(c->db) == 0) {
		/* also 0 when nothing changed (a second heartbeat within the same millisecond):
		 * only a hub that is unknown or unclaimed is worth the warning */
		struct hubref ref;
		int ok = 0;
		err = hub_claimed(c, h->id, &ref, &ok);
		if (!err && !ok)
			log_warn("heartbeat from unknown or unclaimed hub %s dropped", h->id);
	}
	return err;
}

/* ------------------------------------------------------------------ status (§6) */

static const char *const printer_states[] = { "idle", "printing", "paused", "error", "offline",
					       NULL };

static int status_parse(const json_t *m, const char *hub, struct status_row *s)
{
	const json_t *temps, *fil, *error;
	char state[16];
	memset(s, 0, sizeof *s);
	snprintf(s->hub, sizeof s->hub, "%s", hub);
	if (!hj_str(m, "printer_id", HJ_REQUIRED | HJ_UUID, s->printer, sizeof s->printer) ||
	    !hj_str(m, "state", HJ_REQUIRED, state, sizeof state) ||
	    jhelp_enum_index(printer_states, state) < 0 ||
	    !hj_bool(m, "connected", HJ_REQUIRED, &s->connected) ||
	    !hj_int(m, "seq", 0, 0, 1LL << 62, &s->seq, &s->has_seq) ||
	    !hj_int(m, "ts", 0, 0, 1LL << 50, &s->hub_ts, &s->has_ts) ||
	    !hj_str(m, "job_id", HJ_UUID, s->job, sizeof s->job) ||
	    !hj_num(m, "progress_pct", 0, 0, 100, &s->progress, &s->has_progress) ||
	    !hj_int(m, "layer_num", 0, 0, 100000000, &s->layer, &s->has_layer) ||
	    !hj_int(m, "total_layers", 0, 0, 100000000, &s->total, &s->has_total) ||
	    !hj_int(m, "remaining_s", 0, 0, 1000000000, &s->remaining, &s->has_remaining) ||
	    !hj_obj(m, "temps", 0, &temps) || !hj_obj(m, "filament", 0, &fil) ||
	    !hj_obj(m, "error", 0, &error))
		return 0;
	snprintf(s->state, sizeof s->state, "%s", state);
	for (int i = 0; temps && i < NTEMPS; i++)
		if (!hj_num(temps, temp_keys[i], 0, -100, 2000, &s->temps[i], &s->has_temp[i]))
			return 0;
	if (fil && (!hj_str(fil, "type", HJ_CUT, s->filament, sizeof s->filament) ||
		    !hj_str(fil, "color_hex", 0, s->color, sizeof s->color)))
		return 0;
	if (s->color[0] && (strlen(s->color) != 7 || s->color[0] != '#' ||
			    !util_is_hex(s->color + 1, 6)))
		return 0;
	if (error) {
		char code[65], msg[401];
		if (!hj_str(error, "code", HJ_CUT, code, sizeof code) ||
		    !hj_str(error, "message", HJ_CUT, msg, sizeof msg))
			return 0;
		char text[600];
		snprintf(text, sizeof text, "%s%s%s", code, code[0] && msg[0] ? ": " : "", msg);
		hj_cut(s->error, sizeof s->error, text[0] ? text : "error");
	}
	return 1;
}

/* The batch row of (printer, hub), or nrows when it has none; *slot = its index slot. Keyed by
 * the hub too, so a hub naming another hub's printer cannot displace that hub's report. */
static size_t batch_find(const struct ingest *in, const struct status_row *s, size_t *slot)
{
	size_t i = seq_hash(s->printer) & (BATCH_SLOTS - 1);
	for (; in->slots[i]; i = (i + 1) & (BATCH_SLOTS - 1)) {
		const struct status_row *r = &in->rows[in->slots[i] - 1];
		if (strcmp(r->printer, s->printer) == 0 && strcmp(r->hub, s->hub) == 0)
			break;
	}
	*slot = i;
	return in->slots[i] ? in->slots[i] - 1u : in->nrows;
}

static void batch_clear(struct ingest *in)
{
	in->nrows = 0;
	in->flush_failures = 0;
	memset(in->slots, 0, sizeof in->slots);
}

static enum api_err on_status(struct hubctx *c, const struct hubref *h, const json_t *m)
{
	struct ingest *in = c->in;
	struct status_row s;
	if (!status_parse(m, h->id, &s)) {
		log_warn("status from hub %s dropped: malformed fields", h->id);
		return E_OK;
	}
	s.received_ms = util_now_ms();
	util_ms_to_db(s.received_ms, s.at);
	if (s.has_seq) {
		struct seq_entry *e = seq_get(in, s.printer);
		if (e && strcmp(e->hub, h->id) != 0) {
			snprintf(e->hub, sizeof e->hub, "%s", h->id);
			e->seq = -1;
		}
		if (e && e->seq >= 0 && s.seq <= e->seq)
			return E_OK; /* older than (or the same as) the last one seen */
		if (e)
			e->seq = s.seq;
	}
	size_t slot, i = batch_find(in, &s, &slot);
	if (i == INGEST_BATCH) {
		/* full: the database is away, or the flush at INGEST_BATCH failed once */
		enum api_err err = c->db_down ? E_OK : ingest_flush_all(c);
		if (in->nrows == INGEST_BATCH) {
			if (!in->dropped++)
				log_warn("status batch full (%d printers) while it cannot be written: reports"
					 " of further printers are dropped until it is", INGEST_BATCH);
			return err;
		}
		i = batch_find(in, &s, &slot);
	}
	in->rows[i] = s; /* the latest per printer (and hub) wins */
	if (i == in->nrows) {
		in->slots[slot] = (uint16_t)(i + 1);
		in->nrows++;
	}
	if (in->nrows >= INGEST_BATCH && !c->db_down)
		return ingest_flush(c);
	return E_OK;
}

/* ---- the flush: a few multi-row statements per batch instead of 2-3 statements per row
 *
 * 1. SELECT the reported printers that are on their claimed hub (locked until commit), with
 *    their status fields and updated_at;                                     → ROW_KNOWN,
 *    and whether the report changes the row (the guard of Q_IN_PRINTER_STATUS) → ROW_PRINTER
 * 2. SELECT the reported jobs of known rows that carry a progress;            → ROW_JOB_MOVES
 * 3. INSERT ... ON DUPLICATE KEY UPDATE the live-status rows of the known printers;
 * 4. the printer UPDATE and the job progress UPDATE, each only for a row that changes (the
 *    statements keep their guards). The rows are locked from step 1 on, so the decisions hold
 *    until commit: the result is the one of the former per-row statements. */

#define ROW_KNOWN       1u  /* a printer of the reporting hub, hub claimed by its account */
#define ROW_PRINTER     2u  /* the printer row changes */
#define ROW_JOB         4u  /* a job id and a progress were reported */
#define ROW_JOB_MOVES   8u  /* that job's progress changes */

/* A statement over k rows: head, k times row (", " between), tail; the text and its prepared
 * statement exist once per chunk size (db.c caches a statement per query object). */
struct multi {
	const char *head, *row, *tail;
	unsigned nargs;               /* placeholders per row */
	struct db_query q[NCHUNKS];   /* text built on first use, kept for the process */
};

static struct multi M_PRINTERS = { .head = PRINTERS_SELECT, .row = "?", .tail = IN_TAIL,
				   .nargs = 1 };
static struct multi M_JOBS = { .head = JOBS_SELECT, .row = "?", .tail = IN_TAIL, .nargs = 1 };
static struct multi M_LIVE = { .head = LIVE_INSERT, .row = LIVE_ROW, .tail = LIVE_UPDATE,
			       .nargs = LIVE_ARGS };

static const struct db_query *multi_query(struct multi *m, unsigned chunk)
{
	struct db_query *q = &m->q[chunk];
	if (!q->sql) {
		size_t hl = strlen(m->head), rl = strlen(m->row), tl = strlen(m->tail);
		unsigned k = chunk_rows[chunk];
		char *sql = malloc(hl + k * (rl + 2) + tl + 1), *p = sql;
		if (!sql)
			return NULL;
		memcpy(p, m->head, hl);
		p += hl;
		for (unsigned i = 0; i < k; i++) {
			if (i) {
				memcpy(p, ", ", 2);
				p += 2;
			}
			memcpy(p, m->row, rl);
			p += rl;
		}
		memcpy(p, m->tail, tl + 1);
		q->sql = sql;
	}
	return q;
}

/* The chunk for `left` rows: the largest size that fits, except that a tail of 2 to 7 rows goes
 * into one 8-row statement with its last row repeated (the same upsert twice, the same id twice
 * in an IN list: harmless). A flush of n rows thus runs at most n / 128 + 7 statements of each
 * kind. */
static unsigned chunk_size(size_t left)
{
	unsigned c = NCHUNKS - 1;
	while (c > 0 && chunk_rows[c] > left)
		c--;
	return c == 0 && left > 1 ? 1 : c;
}

typedef void row_args_fn(const struct status_row *s, struct db_arg *out);
typedef void chunk_seen_fn(struct ingest *in, const size_t *sel, size_t k,
			   const struct db_res *res);

/* Runs m over the rows in->sel[0..n), chunk by chunk; seen (NULL: no result) gets each chunk's
 * rows and result. */
static enum api_err multi_run(struct hubctx *c, struct multi *m, size_t n, row_args_fn *fill,
			      chunk_seen_fn *seen)
{
	struct ingest *in = c->in;
	for (size_t done = 0; done < n;) {
		unsigned chunk = chunk_size(n - done);
		size_t size = chunk_rows[chunk], k = n - done < size ? n - done : size;
		const struct db_query *q = multi_query(m, chunk);
		if (!q)
			return E_INTERNAL_ERROR;
		for (size_t r = 0; r < size; r++)
			fill(&in->rows[in->sel[done + (r < k ? r : k - 1)]], in->args + r * m->nargs);
		struct db_res res;
		enum api_err err = db_exec(c->db, q, in->args, (unsigned)(size * m->nargs),
					   seen ? &res : NULL);
		if (!err && seen)
			seen(in, in->sel + done, k, &res);
		if (seen)
			db_res_free(&res);
		if (err)
			return err;
		done += k;
	}
	return E_OK;
}

/* in->sel = the rows whose plan has every bit of mask; returns their number. */
static size_t select_rows(struct ingest *in, unsigned mask)
{
	size_t n = 0;
	for (size_t i = 0; i < in->nrows; i++)
		if ((in->rows[i].plan & mask) == mask)
			in->sel[n++] = i;
	return n;
}

/* Ids compare as in SQL (the columns' collation ignores case). */
static int same_id(const char *a, const char *b)
{
	return a && b && strcasecmp(a, b) == 0;
}

/* The result row whose first column is id, or res->nrows. */
static unsigned long res_find(const struct db_res *res, const char *id)
{
	unsigned long r = 0;
	while (r < res->nrows && !same_id(db_get(res, r, 0), id))
		r++;
	return r;
}

/* Text columns compared as SQL's <=> would at the least: equal only when identical. */
static int differs(const char *have, const char *want)
{
	return !have != !want || (have && strcmp(have, want) != 0);
}

/* Whether the report changes printer row r of M_PRINTERS: Q_IN_PRINTER_STATUS's conditions in C
 * (a case-only difference, equal for SQL, just runs the guarded UPDATE for nothing). */
static int printer_change(const struct status_row *s, const struct db_res *res, unsigned long r)
{
	const char *status = db_get(res, r, 2), *state = s->connected ? s->state : "offline";
	if (db_get_int(res, r, 7, 0) > s->received_ms)
		return 0; /* the row changed after the report came in */
	return (status && strcmp(status, "maintenance") != 0 && strcmp(status, state) != 0) ||
	       db_get_int(res, r, 3, -1) != (s->connected ? 1 : 0) ||
	       differs(db_get(res, r, 4), s->error[0] ? s->error : NULL) ||
	       (s->filament[0] && differs(db_get(res, r, 5), s->filament)) ||
	       (s->color[0] && differs(db_get(res, r, 6), s->color));
}

static void args_printer(const struct status_row *s, struct db_arg *out)
{
	out[0] = DS(s->printer);
}

static void seen_printers(struct ingest *in, const size_t *sel, size_t k, const struct db_res *res)
{
	for (size_t j = 0; j < k; j++) {
		struct status_row *s = &in->rows[sel[j]];
		unsigned long r = res_find(res, s->printer);
		if (r == res->nrows || !same_id(db_get(res, r, 1), s->hub))
			continue;
		s->plan |= ROW_KNOWN | (printer_change(s, res, r) ? ROW_PRINTER : 0);
		DB_COPY(s->was, res, r, 2);
	}
}

static void args_job(const struct status_row *s, struct db_arg *out)
{
	out[0] = DS(s->job);
}

/* Q_IN_JOB_PROGRESS's conditions: the printer's job, printing or paused, another progress. */
static void seen_jobs(struct ingest *in, const size_t *sel, size_t k, const struct db_res *res)
{
	for (size_t j = 0; j < k; j++) {
		struct status_row *s = &in->rows[sel[j]];
		unsigned long r = res_find(res, s->job);
		const char *status = db_get(res, r, 2);
		if (r < res->nrows && status && same_id(db_get(res, r, 1), s->printer) &&
		    (strcmp(status, "printing") == 0 || strcmp(status, "paused") == 0) &&
		    db_get_int(res, r, 3, -1) != round_pct(s->progress))
			s->plan |= ROW_JOB_MOVES;
	}
}

static void args_live(const struct status_row *s, struct db_arg *out)
{
	struct db_arg a[LIVE_ARGS] = {
		DS(s->printer), DS(s->state), opt_int(s->has_progress, round_pct(s->progress)),
		DNULL, DNULL, DNULL, DNULL, DNULL, /* temperatures, below */
		opt_int(s->has_layer, s->layer), opt_int(s->has_total, s->total),
		opt_int(s->has_remaining, s->remaining), opt_str(s->job),
		opt_int(s->has_seq, s->seq), DS(s->at),
	};
	for (int i = 0; i < NTEMPS; i++)
		a[3 + i] = s->has_temp[i] ? DD(s->temps[i]) : DNULL;
	memcpy(out, a, sizeof a);
}

static enum api_err printer_write(struct hubctx *c, const struct status_row *s)
{
	int conn = s->connected ? 1 : 0;
	const char *state = s->connected ? s->state : "offline";
	struct db_arg ts = opt_int(s->has_ts, s->hub_ts);
	return db_exec(c->db, &Q_IN_PRINTER_STATUS,
		       DB_ARGS(ts, DS(state), DI(conn), opt_str(s->error), opt_str(s->filament),
			       opt_str(s->color), DS(s->printer), DS(s->hub), DS(s->hub), ts,
			       DS(state), DI(conn), opt_str(s->error), opt_str(s->filament),
			       opt_str(s->color), DS(s->at)),
		       NULL);
}

static const struct db_query Q_IN_PRINTER_NOW = {
	"SELECT status, account_id FROM printers WHERE id = ?"
};

/* printer.status_changed when the report moved the printer's public status (the guarded
 * UPDATE may have kept it: maintenance, a command on its way), in the flush's transaction. */
static enum api_err printer_event(struct hubctx *c, const struct status_row *s)
{
	const char *state = s->connected ? s->state : "offline";
	struct db_res res;
	char now[24], account[UUID_LEN + 1];
	if (strcmp(s->was, state) == 0 || db_affected(c->db) == 0)
		return E_OK;
	enum api_err err = db_exec(c->db, &Q_IN_PRINTER_NOW, DB_ARGS(DS(s->printer)), &res);
	DB_COPY(now, &res, 0, 0);
	DB_COPY(account, &res, 0, 1);
	db_res_free(&res);
	if (err || !now[0] || strcmp(now, s->was) == 0)
		return err;
	return webhook_printer(c->db, account, s->printer, now, -1);
}

static enum api_err job_write(struct hubctx *c, const struct status_row *s)
{
	long long progress = round_pct(s->progress);
	return db_exec(c->db, &Q_IN_JOB_PROGRESS,
		       DB_ARGS(DI(progress), DS(s->job), DS(s->printer), DI(progress),
			       DS(s->printer), DS(s->hub)),
		       NULL);
}

/* The batch, inside the flush's transaction. */
static enum api_err status_write(struct hubctx *c)
{
	struct ingest *in = c->in;
	for (size_t i = 0; i < in->nrows; i++)
		in->rows[i].plan = in->rows[i].job[0] && in->rows[i].has_progress ? ROW_JOB : 0;
	enum api_err err = multi_run(c, &M_PRINTERS, select_rows(in, 0), args_printer,
				     seen_printers);
	if (!err)
		err = multi_run(c, &M_JOBS, select_rows(in, ROW_KNOWN | ROW_JOB), args_job,
				seen_jobs);
	if (!err)
		err = multi_run(c, &M_LIVE, select_rows(in, ROW_KNOWN), args_live, NULL);
	for (size_t i = 0; !err && i < in->nrows; i++) {
		const struct status_row *s = &in->rows[i];
		if (!(s->plan & ROW_KNOWN))
			log_warn("status for printer %s dropped: not a printer of claimed hub %s",
				 s->printer, s->hub);
		if (s->plan & ROW_PRINTER && (err = printer_write(c, s)) == E_OK)
			err = printer_event(c, s);
		if (!err && (s->plan & ROW_JOB_MOVES))
			err = job_write(c, s);
	}
	return err;
}

enum api_err ingest_flush(struct hubctx *c)
{
	struct ingest *in = c->in;
	if (!in->nrows || c->db_down)
		return E_OK;
	int fenced_ok = 1;
	enum api_err err = db_begin(c->db);
	if (!err)
		err = hubcmd_fence_check(c->db, &fenced_ok);
	if (!err && !fenced_ok) {
		/* the MQTT link lease moved on: its new owner writes the hubs' statuses */
		db_rollback(c->db);
		log_warn("status batch of %zu rows not written: this worker's MQTT link lease is"
			 " stale", in->nrows);
		batch_clear(in);
		return E_OK;
	}
	if (!err)
		err = status_write(c);
	if (!err)
		err = db_commit(c->db);
	if (!err) {
		if (in->dropped)
			log_warn("%llu status reports of printers beyond a full batch were dropped",
				 in->dropped);
		in->dropped = 0;
		batch_clear(in);
		return E_OK;
	}
	db_rollback(c->db);
	if (err == E_SERVICE_UNAVAILABLE)
		return hubctx_db_error(c, err); /* kept: written when the database is back */
	/* a deadlock or bad row: try once more, then give the batch up (newer rows follow) */
	if (++in->flush_failures >= 2) {
		log_error("status batch of %zu rows dropped after %u failures (%s)", in->nrows,
			  in->flush_failures, err_code(err));
		batch_clear(in);
	}
	return E_OK;
}

static enum api_err ingest_flush_all(struct hubctx *c)
{
	enum api_err err = ingest_flush(c);
	if (!err && c->in->nrows)
		err = ingest_flush(c); /* the retry of a failed batch */
	return err;
}

/* ------------------------------------------------------------------ events (§7) */

#define P_ERROR     1u  /* connection_error from the event's code / reason */
#define P_LINK_UP   2u  /* is_connected = 1, firmware_version from data */
#define P_LINK_DOWN 4u  /* is_connected = 0 */

#define X_JOB_COMPLETED 1u /* PRINT_EVENTS job_completed, dedup "job_completed:<job_id>" */
#define X_FAILURE_ROW   2u /* printer_failures row */
#define X_PROGRESS      4u /* progress_percentage from data.progress_pct */

#define PB(s) PRINTER_BIT(PRINTER_##s)

/* The first row matching (event, data.stage) applies. Job events name their row of the state
 * table (common/states.h, "hub:*"): it moves the job of this printer only from its `from`
 * states, and its printer effect applies only when the job moved (the job occupied the printer)
 * — or, for an event without a job id (a print started elsewhere), always. Printer events
 * carry their own printer transition here. A printer in maintenance keeps `maintenance`. */
static const struct event_rule {
	const char *event;
	const char *stages;       /* comma list of data.stage values; NULL: any */
	const char *job_rule;     /* states.h job rule; NULL: no job effect */
	unsigned printer_from;    /* printer events: states that move */
	int printer_to;           /* printer events: state after (NO_CHANGE: status untouched) */
	unsigned printer;         /* P_* */
	unsigned extra;           /* X_* */
} event_rules[] = {
	/* event                stages                 job rule (states.h) */
	{ "job.transfer",       "starting,complete",   "hub:transfer_complete", 0, NO_CHANGE, 0, 0 },
	{ "job.transfer",       NULL,                  NULL, 0, NO_CHANGE, 0, 0 },
	{ "job.file_transfer",  "starting,complete",   "hub:transfer_complete", 0, NO_CHANGE, 0, 0 },
	{ "job.file_transfer",  NULL,                  NULL, 0, NO_CHANGE, 0, 0 },
	{ "job.started",        NULL,                  "hub:started", 0, NO_CHANGE, 0, 0 },
	{ "job.progress",       NULL,                  "hub:progress", 0, NO_CHANGE, 0, X_PROGRESS },
	{ "job.paused",         NULL,                  "hub:paused", 0, NO_CHANGE, 0, 0 },
	{ "job.resumed",        NULL,                  "hub:resumed", 0, NO_CHANGE, 0, 0 },
	{ "job.completed",      NULL,                  "hub:completed", 0, NO_CHANGE, 0,
	  X_JOB_COMPLETED },
	/* transfer failures leave the printer alone; failures while starting / printing → error */
	{ "job.failed",         "download,verify,upload", "hub:transfer_failed", 0, NO_CHANGE, 0,
	  X_FAILURE_ROW },
	{ "job.failed",         NULL,                  "hub:failed", 0, NO_CHANGE, P_ERROR,
	  X_FAILURE_ROW },
	{ "job.cancelled",      NULL,                  "hub:cancelled", 0, NO_CHANGE, 0, 0 },
	/* printer events                              from             to */
	{ "printer.connected",  NULL, NULL, PB(OFFLINE), PRINTER_IDLE, P_LINK_UP, 0 },
	{ "printer.disconnected", NULL, NULL, PRINTERS_ALL & ~PB(MAINTENANCE), PRINTER_OFFLINE,
	  P_LINK_DOWN, 0 },
	{ "printer.error",      NULL, NULL, 0, NO_CHANGE, P_ERROR, 0 },
};

#undef PB

static int in_list(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; n && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && strncmp(p, word, n) == 0)
			return 1;
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

static const struct event_rule *event_rule(const char *event, const char *stage)
{
	for (size_t i = 0; i < sizeof event_rules / sizeof event_rules[0]; i++) {
		const struct event_rule *r = &event_rules[i];
		if (strcmp(r->event, event) == 0 && (!r->stages || in_list(r->stages, stage)))
			return r;
	}
	return NULL;
}

int ingest_check_rules(void)
{
	int missing = 0;
	for (size_t i = 0; i < sizeof event_rules / sizeof event_rules[0]; i++)
		if (event_rules[i].job_rule && !states_job_rule(event_rules[i].job_rule)) {
			log_error("event %s: no state rule %s in common/states.c", event_rules[i].event,
				  event_rules[i].job_rule);
			missing++;
		}
	return missing;
}

/* printer_failures.failure_type from the hub's error code. */
static const struct {
	const char *code;
	const char *type;
} failure_types[] = {
	{ "FILAMENT_RUNOUT", "filament_runout" }, { "NOZZLE_CLOG", "nozzle_clog" },
	{ "BED_ADHESION", "bed_adhesion" },       { "LAYER_SHIFT", "layer_shift" },
	{ "POWER_LOSS", "power_loss" },           { "PRINTER_OFFLINE", "network_disconnect" },
	{ "PRINTER_TIMEOUT", "network_disconnect" }, { "THERMAL", "thermal" },
	{ "FIRMWARE_ERROR", "firmware_error" },   { "MECHANICAL", "mechanical" },
	{ "USER_CANCELLED", "user_cancelled" },
};

static const char *failure_type(const char *code)
{
	for (size_t i = 0; i < sizeof failure_types / sizeof failure_types[0]; i++)
		if (strcmp(failure_types[i].code, code) == 0)
			return failure_types[i].type;
	return "unknown";
}

/* What an event carries (validated). */
struct event_msg {
	char id[37], event[33], printer[37], job[37], command[37];
	long long ts;
	int has_ts;
	char stage[17], code[65], reason[501], firmware[65];
	double progress;
	int has_progress;
	long long layer, duration;
	int has_layer, has_duration;
};

static int event_parse(const json_t *m, struct event_msg *e)
{
	const json_t *data;
	char message[401];
	memset(e, 0, sizeof *e);
	if (!hj_str(m, "event_id", HJ_REQUIRED | HJ_UUID, e->id, sizeof e->id) ||
	    !hj_str(m, "event", HJ_REQUIRED, e->event, sizeof e->event) ||
	    !hj_str(m, "printer_id", HJ_UUID, e->printer, sizeof e->printer) ||
	    !hj_str(m, "job_id", HJ_UUID, e->job, sizeof e->job) ||
	    !hj_str(m, "command_id", HJ_UUID, e->command, sizeof e->command) ||
	    !hj_int(m, "ts", 0, 0, 1LL << 50, &e->ts, &e->has_ts) || !hj_obj(m, "data", 0, &data))
		return 0;
	if (!data)
		return 1;
	double pct = 0;
	int has_pct = 0;
	if (!hj_str(data, "stage", HJ_CUT, e->stage, sizeof e->stage) ||
	    !hj_str(data, "code", HJ_CUT, e->code, sizeof e->code) ||
	    !hj_str(data, "reason", HJ_CUT, e->reason, sizeof e->reason) ||
	    !hj_str(data, "message", HJ_CUT, message, sizeof message) ||
	    !hj_str(data, "firmware_version", HJ_CUT, e->firmware, sizeof e->firmware) ||
	    !hj_num(data, "progress_pct", 0, 0, 100, &e->progress, &e->has_progress) ||
	    !hj_num(data, "pct", 0, 0, 100, &pct, &has_pct) ||
	    !hj_int(data, "layer_num", 0, 0, 100000000, &e->layer, &e->has_layer) ||
	    !hj_int(data, "duration_s", 0, 0, 100000000, &e->duration, &e->has_duration))
		return 0;
	if (!e->has_progress && has_pct) {
		e->progress = pct;
		e->has_progress = 1;
	}
	if (!e->reason[0] && message[0])
		hj_cut(e->reason, sizeof e->reason, message);
	return 1;
}

/* The text stored as failure_reason / connection_error. */
static void event_text(const struct event_msg *e, char *out, size_t size)
{
	char text[600];
	snprintf(text, sizeof text, "%s%s%s", e->code, e->code[0] && e->reason[0] ? ": " : "",
		 e->reason);
	hj_cut(out, size, text[0] ? text : e->event);
}

/* The job transition of rule jr; *moved 1 when the job was in one of its from-states. */
static enum api_err event_job(struct hubctx *c, const struct event_rule *r,
			      const struct job_rule *jr, const struct event_msg *e, int *moved)
{
	char reason[501], from[160];
	event_text(e, reason, sizeof reason);
	int finished = (jr->stamps & ST_FINISHED) != 0;
	struct db_arg progress = finished ? DI(100)
				 : (r->extra & X_PROGRESS) && e->has_progress
					 ? DI(round_pct(e->progress))
					 : DNULL;
	struct db_arg minutes = e->has_duration ? DI((e->duration + 59) / 60) : DNULL;
	enum api_err err = db_exec(
		c->db, &Q_IN_EVENT_JOB,
		DB_ARGS(DS(jr->to == NO_CHANGE ? NULL : states_job_names[jr->to]),
			DI((jr->stamps & ST_STARTED) != 0), DI((jr->stamps & ST_COMPLETED) != 0),
			progress, DI(finished), minutes, DI((jr->stamps & ST_FAILURE) != 0),
			DS(reason), DS(e->job), DS(e->printer),
			DS(states_job_list(jr->from, from, sizeof from))),
		NULL);
	*moved = !err && db_affected(c->db) > 0;
	return err;
}

/* The printer transition: from the job rule (jr) or the event's own row. */
static enum api_err event_printer(struct hubctx *c, const char *account,
				  const struct event_rule *r,
				  const struct job_rule *jr, const struct event_msg *e, int job_moved)
{
	char text[501], from[120];
	event_text(e, text, sizeof text);
	unsigned pfrom = jr ? jr->printer_from : r->printer_from;
	int pto = jr ? jr->printer_to : r->printer_to;
	unsigned stamps = jr ? jr->stamps : 0;
	struct db_arg link = (r->printer & P_LINK_UP) ? DI(1) : (r->printer & P_LINK_DOWN) ? DI(0)
											    : DNULL;
	int add_time = job_moved && (stamps & ST_PRINT_TIME);
	enum api_err err = db_exec(c->db, &Q_IN_EVENT_PRINTER_SET,
		       DB_ARGS(DS(pto == NO_CHANGE ? NULL : states_printer_names[pto]),
			       DS(states_printer_list(pfrom, from, sizeof from)),
			       DS(pto == NO_CHANGE ? NULL : states_printer_names[pto]),
			       DI((stamps & ST_BED_DIRTY) != 0), link,
			       DI((r->printer & P_ERROR) != 0), DS(text),
			       (r->printer & P_LINK_UP) ? opt_str(e->firmware) : DNULL,
			       DI(add_time), DS(e->job[0] ? e->job : NULL), DS(e->printer)),
		       NULL);
	if (err || db_affected(c->db) == 0)
		return err;
	return webhook_printer(c->db, account, e->printer,
			       pto == NO_CHANGE ? NULL : states_printer_names[pto],
			       (r->printer & P_LINK_UP) ? 1 : (r->printer & P_LINK_DOWN) ? 0 : -1);
}

static enum api_err event_extras(struct hubctx *c, const struct hubref *h,
				 const struct event_rule *r, const struct event_msg *e)
{
	enum api_err err = E_OK;
	if (r->extra & X_JOB_COMPLETED) /* stock + PRINT_EVENTS job_completed, exactly once */
		err = stock_job_completed(c->db, h->account, e->job, NULL, NULL);
	if (!err && (r->extra & X_FAILURE_ROW)) {
		char id[37], reason[1001];
		event_text(e, reason, sizeof reason);
		if (util_uuid(id) < 0)
			return E_INTERNAL_ERROR;
		err = db_exec(c->db, &Q_IN_FAILURE,
			      DB_ARGS(DS(id), DS(e->printer), DS(failure_type(e->code)), DS(reason),
				      opt_str(e->code),
				      opt_int(e->has_progress, round_pct(e->progress)),
				      opt_int(e->has_layer, e->layer), DS(e->job)),
			      NULL);
	}
	return err;
}

/* One event in one transaction: the dedup row, the transitions, the side effects. */
static enum api_err event_apply(struct hubctx *c, const struct hubref *h,
				const struct event_msg *e, const char **outcome)
{
	const struct event_rule *r = event_rule(e->event, e->stage);
	const struct job_rule *jr = r && r->job_rule ? states_job_rule(r->job_rule) : NULL;
	struct db_res res;
	*outcome = "recorded";
	enum api_err err = db_begin(c->db);
	if (err)
		return err;
	err = db_exec(c->db, &Q_IN_EVENT_SEEN,
		      DB_ARGS(DS(e->id), DS(h->id), DS(e->event), opt_str(e->printer), opt_str(e->job),
			      opt_str(e->command), opt_int(e->has_ts, e->ts)),
		      NULL);
	if (err == E_CONFLICT) {
		db_rollback(c->db);
		*outcome = "duplicate event_id, ignored";
		return E_OK;
	}
	int known = 0;
	if (!err && e->printer[0]) {
		err = db_exec(c->db, &Q_IN_EVENT_PRINTER,
			      DB_ARGS(DS(e->printer), DS(h->id), DS(h->account)), &res);
		known = !err && res.nrows == 1;
		db_res_free(&res);
	}
	if (!err && e->printer[0] && !known) {
		db_rollback(c->db);
		*outcome = "dropped: the printer is not on this hub";
		return E_OK;
	}
	if (!err && r && r->job_rule && !jr)
		log_error("event %s: state rule %s missing (common/states.c)", e->event, r->job_rule);
	if (!err && !r)
		*outcome = "unknown event, recorded without effect";
	else if (!err && !known)
		*outcome = "no printer, recorded without effect";
	/* An event caused by a command that a later command of the job has overtaken (pause,
	 * resume, pause sent quickly: the hub's job.resumed arrives after the second pause was
	 * applied) would undo the later command's transition: it only records the event. */
	int superseded = 0;
	if (!err && jr && known && e->job[0] && e->command[0]) {
		err = db_exec(c->db, &Q_IN_EVENT_JOB_LOCK, DB_ARGS(DS(e->job)), &res);
		db_res_free(&res);
		if (!err)
			err = db_exec(c->db, &Q_IN_EVENT_SUPERSEDED,
				      DB_ARGS(DS(e->command), DS(e->job)), &res);
		superseded = !err && db_get_int(&res, 0, 0, 0) > 0;
		db_res_free(&res);
	}
	if (superseded) {
		err = db_commit(c->db);
		if (err)
			db_rollback(c->db);
		*outcome = "superseded by a later command of the job, recorded without effect";
		return err;
	}
	int moved = 0;
	if (!err && jr && known && e->job[0]) {
		err = event_job(c, r, jr, e, &moved);
		if (!err && moved && jr->to != NO_CHANGE)
			err = webhook_job(c->db, h->account, e->job,
					  jr->from == JOB_BIT(JOB_PAUSED) ? "paused" : NULL,
					  states_job_names[jr->to]);
		*outcome = moved ? "applied" : "job not in a matching state, no change";
	}
	/* printer effects: the job moved, or the event names no job, or it is a printer event */
	int printer_fx = r && known && (moved || !e->job[0] || !r->job_rule) &&
			 (jr ? jr->printer_to != NO_CHANGE || (jr->stamps & ST_BED_DIRTY) ||
				       r->printer
			     : r->printer_to != NO_CHANGE || r->printer);
	if (!err && printer_fx) {
		err = event_printer(c, h->account, r, jr, e, moved);
		if (!moved)
			*outcome = "applied to the printer";
	}
	if (!err && r && moved && r->extra)
		err = event_extras(c, h, r, e);
	if (!err)
		err = db_commit(c->db);
	if (err)
		db_rollback(c->db);
	return err;
}

static enum api_err on_event(struct hubctx *c, const struct hubref *h, const json_t *m)
{
	struct event_msg e;
	if (!event_parse(m, &e)) {
		log_warn("event from hub %s dropped: malformed fields", h->id);
		return E_OK;
	}
	enum api_err err = ingest_flush_all(c);
	const char *outcome = NULL;
	/* One transaction, deduplicated by event_id inside it: one that lost a lock conflict (on
	 * Galera also a failed certification, 1213) left nothing behind and runs again, rather
	 * than dropping the event (docs/scale-out.md "Database"). */
	for (int attempt = 1; !err; attempt++) {
		err = event_apply(c, h, &e, &outcome);
		if (attempt >= DB_TXN_ATTEMPTS || !db_lock_conflict(c->db, err))
			break;
		log_warn("event %s from hub %s lost a lock conflict; applying it again", e.id, h->id);
		err = E_OK;
	}
	if (!err)
		log_info("event %s %s from hub %s (printer %s, job %s): %s", e.id, LOG_STR(e.event), h->id,
			 e.printer[0] ? e.printer : "-", e.job[0] ? e.job : "-", outcome);
	return err;
}

/* ------------------------------------------------------------------ discovery (§8) */

#define DISCOVERY_MAX 512

static enum api_err on_discovery(struct hubctx *c, const struct hubref *h, const json_t *m)
{
	long long finished = 0;
	int has_finished = 0;
	const json_t *list = json_object_get(m, "printers");
	if (!hj_int(m, "finished_at", 0, 0, 1LL << 50, &finished, &has_finished) ||
	    !json_is_array(list) || json_array_size(list) > DISCOVERY_MAX) {
		log_warn("discovery from hub %s dropped: malformed fields", h->id);
		return E_OK;
	}
	json_t *out = json_array();
	size_t i;
	const json_t *p;
	json_array_foreach(list, i, p) {
		char serial[65], ip[65], model[121], name[201];
		if (!json_is_object(p) || !hj_str(p, "serial_number", HJ_CUT, serial, sizeof serial) ||
		    !hj_str(p, "ip", HJ_CUT, ip, sizeof ip) ||
		    !hj_str(p, "model", HJ_CUT, model, sizeof model) ||
		    !hj_str(p, "name", HJ_CUT, name, sizeof name)) {
			json_decref(out);
			log_warn("discovery from hub %s dropped: malformed printer %zu", h->id, i);
			return E_OK;
		}
		json_array_append_new(out, json_pack("{s:s?,s:s?,s:s?,s:s?}", "serial_number",
						     serial[0] ? serial : NULL, "ip_address",
						     ip[0] ? ip : NULL, "model",
						     model[0] ? model : NULL, "name",
						     name[0] ? name : NULL));
	}
	char *text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	if (!text)
		return E_OK;
	enum api_err err = db_exec(c->db, &Q_IN_DISCOVERY,
				   DB_ARGS(DS(h->id), DI(has_finished ? finished : util_now_ms()),
					   DS(text)),
				   NULL);
	free(text);
	if (!err)
		log_info("discovery from hub %s: %zu printers", h->id, json_array_size(list));
	return err;
}

/* ------------------------------------------------------------------ ack (§5.3) */

static enum api_err on_ack(struct hubctx *c, const struct hubref *h, const json_t *m)
{
	return hubcmds_ack(c, h->id, m);
}

/* ------------------------------------------------------------------ dispatch */

typedef enum api_err inbound_fn(struct hubctx *c, const struct hubref *h, const json_t *m);

#define IN_KEEP 1u  /* kept in the backlog while the database is away */
#define IN_HUB  2u  /* the hub row is looked up (known, claimed) before the handler */

static const struct inbound {
	const char *kind;  /* topic apf/v1/<hub>/<kind> */
	const char *type;  /* payload "type" */
	inbound_fn *fn;
	unsigned flags;
} inbound[] = {
	{ "state", "presence", on_presence, IN_KEEP },
	{ "heartbeat", "heartbeat", on_heartbeat, 0 },
	{ "status", "status", on_status, 0 },
	{ "event", "event", on_event, IN_KEEP | IN_HUB },
	{ "ack", "ack", on_ack, IN_KEEP | IN_HUB },
	{ "discovery", "discovery", on_discovery, IN_KEEP | IN_HUB },
};

static const struct inbound *inbound_find(const char *kind)
{
	for (size_t i = 0; i < sizeof inbound / sizeof inbound[0]; i++)
		if (strcmp(inbound[i].kind, kind) == 0)
			return &inbound[i];
	return NULL;
}

/* Parses, checks the envelope (§4, §2.4) and runs the handler. */
static enum api_err dispatch(struct hubctx *c, const struct inbound *ib, const char *hub,
			     const char *topic, const void *payload, size_t len, bool retained)
{
	json_error_t jerr;
	json_t *m = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
	char type[33], mhub[37];
	long long v = 0;
	if (!json_is_object(m)) {
		wstats_telemetry_dropped();
		log_warn("message on %s dropped: not a JSON object (%s)", topic,
			 m ? "wrong type" : LOG_STR(jerr.text)); /* jansson quotes the input */
		json_decref(m);
		return E_OK;
	}
	if (!hj_int(m, "v", HJ_REQUIRED, 1, 1, &v, NULL) ||
	    !hj_str(m, "type", HJ_REQUIRED | HJ_CUT, type, sizeof type) ||
	    strcmp(type, ib->type) != 0 ||
	    !hj_str(m, "hub_id", HJ_REQUIRED | HJ_CUT, mhub, sizeof mhub) ||
	    strcmp(mhub, hub) != 0) {
		wstats_telemetry_dropped();
		log_warn("message on %s dropped: needs v 1, type \"%s\" and hub_id equal to the"
			 " topic's", topic, ib->type);
		json_decref(m);
		return E_OK;
	}
	struct hubref h = { .id = hub, .retained = retained };
	enum api_err err = E_OK;
	int ok = 1;
	json_t *ts = json_object_get(m, "ts");
	if (!retained && json_is_integer(ts)) /* lag: receipt - the hub's own time stamp */
		wstats_telemetry_lag((int64_t)json_integer_value(ts));
	if (ib->flags & IN_HUB)
		err = hub_claimed(c, hub, &h, &ok);
	if (!err && !ok) {
		wstats_telemetry_dropped();
		log_warn("message on %s dropped: unknown or unclaimed hub", topic);
	} else if (!err) {
		err = ib->fn(c, &h, m);
	}
	json_decref(m);
	return err;
}

enum api_err ingest_message(struct hubctx *c, const char *topic, const void *payload, size_t len,
			    bool retained)
{
	struct ingest *in = c->in;
	char hub[37], kind[16];
	if (mqtt_topic_parse(topic, hub, kind) < 0) {
		wstats_telemetry("other");
		wstats_telemetry_dropped();
		log_warn("message on unexpected topic %s dropped", LOG_STR(topic));
		return E_OK;
	}
	const struct inbound *ib = inbound_find(kind);
	wstats_telemetry(ib ? kind : "other");
	if (!ib) {
		wstats_telemetry_dropped();
		log_warn("message on unexpected topic %s dropped", LOG_STR(topic));
		return E_OK;
	}
	if (len == 0)
		return E_OK; /* a retained presence being cleared (hub released) */
	if (len > MQTT_MAX_PAYLOAD) {
		wstats_telemetry_dropped();
		log_warn("message on %s dropped: %zu bytes", topic, len);
		return E_OK;
	}
	if ((ib->flags & IN_KEEP) && (c->db_down || in->head)) {
		backlog_push(in, topic, payload, len, retained); /* in order, behind the others */
		return E_OK;
	}
	if (c->db_down && ib->fn == on_heartbeat)
		return E_OK;
	enum api_err err = dispatch(c, ib, hub, topic, payload, len, retained);
	if (err == E_SERVICE_UNAVAILABLE && (ib->flags & IN_KEEP))
		backlog_push(in, topic, payload, len, retained);
	if (err && err != E_SERVICE_UNAVAILABLE) {
		log_error("message on %s not applied: %s", topic, err_code(err));
		return E_OK;
	}
	return hubctx_db_error(c, err);
}

enum api_err ingest_replay(struct hubctx *c)
{
	struct ingest *in = c->in;
	while (in->head && !c->db_down) {
		struct backlog_msg *m = in->head;
		char hub[37], kind[16];
		const struct inbound *ib = mqtt_topic_parse(m->topic, hub, kind) == 0
						   ? inbound_find(kind)
						   : NULL;
		enum api_err err =
			ib ? dispatch(c, ib, hub, m->topic, m->payload, m->len, m->retained) : E_OK;
		if (err == E_SERVICE_UNAVAILABLE)
			return hubctx_db_error(c, err);
		if (err)
			log_error("message on %s not applied: %s", m->topic, err_code(err));
		in->head = m->next;
		if (!in->head)
			in->tail = NULL;
		in->nbacklog--;
		free(m);
	}
	return E_OK;
}

enum api_err ingest_purge(struct hubctx *c)
{
	enum api_err err = db_exec(c->db, &Q_IN_PURGE_EVENTS, NULL, 0, NULL);
	if (!err && db_affected(c->db) > 0)
		log_info("purged %llu processed hub event ids older than 24 h", db_affected(c->db));
	return hubctx_db_error(c, err);
}
