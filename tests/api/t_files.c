/* t_files.c - the Files group end to end: upload URL, direct upload (token checks, replay,
 * expiry, forgery, size limits of the app and of nginx, truncated uploads), create, list, get,
 * thumbnail (bytes checked against the fixtures' SHA-256), versions, promote, parse-metadata,
 * all 12 fixtures through upload -> create -> FILE_PROCESSING done, tenancy and scopes.
 * Fixtures: $APF_FIXTURES, default ../shared/fixtures/files (tests run from the repo root).
 * Requests that curl cannot shape (a declared length the body never reaches, a client that
 * hangs up mid-body, a chunked body past the limit) go over a raw TLS socket. */
#include "apitest.h"
#include "raw.h"

#include "cfg.h"
#include "storage.h"
#include "uptoken.h"
#include "util.h"

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"
#define MIB (1024L * 1024L)
#define UPLOAD_MAX (100L * MIB)

static const char *const FILE_KEYS[] = {
	"id", "name", "product_id", "file_size_bytes", "number_of_units", "print_time_seconds",
	"filament_weight_grams", "filament_length_meters", "filament_type", "printer_model_id",
	"nozzle_diameter", "layer_count", "curr_bed_type", "default_print_profile", "object_count",
	"has_thumbnail", "created_at", "updated_at", NULL
};
static const char *const FILE_DETAIL_KEYS[] = {
	"id", "name", "product_id", "file_size_bytes", "number_of_units", "print_time_seconds",
	"filament_weight_grams", "filament_length_meters", "filament_type", "printer_model_id",
	"nozzle_diameter", "layer_count", "curr_bed_type", "default_print_profile", "object_count",
	"has_thumbnail", "created_at", "updated_at", "printer_model", "slicer", "slicer_version",
	"is_sliced", "filament_color", "plate_count", "plates", "totals", "sha256",
	"metadata_status", "versions", NULL
};
static const char *const VERSION_KEYS[] = {
	"id", "version_number", "notes", "is_current_version", "created_at", NULL
};
static const char *const UPLOAD_URL_KEYS[] = {
	"file_id", "filename", "upload_token", "content_type", "expires_in", "expires_at",
	"upload_url", "storage_key", NULL
};

static const struct db_query Q_JOB_STATE = {
	"SELECT state FROM queue_jobs WHERE queue = 'FILE_PROCESSING' AND type = 'file.extract'"
	" AND account_id = ? AND JSON_VALUE(payload, '$.file_id') = ? ORDER BY id DESC LIMIT 1"
};
static const struct db_query Q_PRODUCT_INSERT = {
	"INSERT INTO products (id, account_id, name) VALUES (?, ?, ?)"
};
static const struct db_query Q_FILE_CREATED_AT = {
	"UPDATE print_files SET created_at = ? WHERE id = ?"
};
static const struct db_query Q_FILE_COUNT = {
	"SELECT COUNT(*) FROM print_files WHERE account_id = ?"
};

/* ------------------------------------------------------------------------ fixtures */

/* The 12 fixtures and what their records must say (fixtures/files/README.md). Absent values
 * are NULL / -1; layers is only checked where the file states it. */
struct fixture {
	const char *name;
	const char *sha256;       /* of the file */
	long long time;           /* print_time_seconds (plate 1) */
	const char *model_id;     /* printer_model_id */
	long long layers;
	int plates;
	const char *thumb_sha256; /* plate-1 thumbnail, NULL = none */
};

static const struct fixture FIXTURES[] = {
	{ "bambustudio_a1mini_cube.gcode.3mf",
	  "a6b815a70b738d79ef85efc44f2246b2e877a31ccfcb96188ddd36b030ddd8e9", 1095, "N1", 90, 1,
	  "58adbdd6ee2f93d3e2d6ce8fd925ade26ed912c38d5bbd57e697c220779d418b" },
	{ "bambustudio_x1c_two_plates.gcode.3mf",
	  "b4017096b732a05770b6917e65c6e446ceb795ebcddd69307b949c2e574c662c", 1216, "BL-P001", 128,
	  2, "d147331250980fd526e307478a8bd507c14eef990c2755d1c8f863fcccb9987f" },
	{ "bambustudio_x1c_two_plates_project.3mf",
	  "f003ab3e81a57b3a06a2afddeabd76b36f935304aa7f8ed130f1bf5345f169e5", -1, NULL, -1, 2,
	  "d147331250980fd526e307478a8bd507c14eef990c2755d1c8f863fcccb9987f" },
	{ "bambustudio_a1mini_cube_plate1.gcode",
	  "a3ca1486785b2b247a36c194bc6d39bfe6d4d88d26841828f05843e5f3df21bb", 1095, NULL, 90, 1,
	  NULL },
	{ "orcaslicer_2.4.0a_ad5mpro_benchy.gcode.3mf",
	  "db4d3f6b4aceaf8975df8daa8a569b18fb1a08b6996845dfb8a474c937ceabe3", 2242,
	  "Flashforge-Adventurer-5M-Pro", 240, 1,
	  "70098e75681544f8a83881882f24c40a054cb3d6b607684270fe41bd2ebfe393" },
	{ "orcaflashforge_1.3.0_ad5mpro.gcode.3mf",
	  "421ec296696ef9de06421283866a1b1bdd83bb1b3a5e954168a1d669798131fc", 433,
	  "Flashforge-Adventurer-5M-Pro", 10, 1,
	  "f02cf11283198cc3d4364cb7b3e64cc8c2469899a8c39055a0704abd508e9575" },
	{ "orcaslicer_2.3.0_ad5mpro_benchy.gcode",
	  "45edbca2928d5ea632c1aa46b84326be92708e5fa2e908a4df0690b6dfd6d279", 2228, NULL, 240, 1,
	  "63d98f4112b212ea7136621ad5f897b23bfc746cc0548ae774cd11f949ef33be" },
	{ "prusaslicer_2.8.1_mk4is_header_only.gcode",
	  "0ca2d4acf7fdc7d035e0d8a0b89ab54d5838fe511c9bbf33391920af971089e0", 1822, NULL, -1, 1,
	  "abf018d9bfd15054f226d8147f58ddca1656f3a51987a42e435d20a6286bc758" },
	{ "prusaslicer_2.3.3_mini_header_only.gcode",
	  "944dd92f4e92ac12180966c8dbac52501291711302334950537ee1c5da7374d2", 5477, NULL, -1, 1,
	  "ecea5f012564161cb698449903784281680d51dc2c8fd6b307159cbc2d1a41df" },
	{ "prusaslicer_2.9.4_mk4mmu3_project.3mf",
	  "63735dd1ae3674b9676ec30e8710fa0743b3d6d81f4ddd478b7da7e72972bd1c", -1, NULL, -1, 1,
	  "ca60a1356be04c20e2a9b644a3aa8c4da1267832d9e6fa013f5eda796f398813" },
	{ "cura_4.10.0_marlin_kreistest.gcode",
	  "f63844158a3ae311ce639327da9847196dab07830db891e6b1ee59aa651e3334", 1479, NULL, 10, 1,
	  NULL },
	{ "cura_4.5.0_griffin_um3_header_only.gcode",
	  "1e8cdac860fe7bfc0f0102742f6b5c3936f185091e31cfa286ee274d36af1adc", 480, NULL, -1, 1,
	  NULL },
};
#define CUBE (&FIXTURES[0])
#define TWO_PLATES (&FIXTURES[1])
#define CURA (&FIXTURES[10])
#define PLATE2_THUMB "e0c720337e8f1de5a4730231558626124ae04a5485652280dedaa499145bb4bf"

static const char *sha_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
	util_sha256_hex(data, len, out);
	return out;
}

/* ------------------------------------------------------------------- request helpers */

static int job_done(const char *account, const char *file_id)
{
	char state[32] = "";
	for (int i = 0; i < 200; i++) {
		/* the queue job may not be there yet: no row is "not done yet" */
		int rc = FX_TEXT_POLL(state, Q_JOB_STATE, DS(account), DS(file_id));
		if (rc < 0 || (rc == 0 && (strcmp(state, "done") == 0 || strcmp(state, "dead") == 0)))
			break;
		usleep(50 * 1000);
	}
	return CHECK(strcmp(state, "done") == 0, NULL, "FILE_PROCESSING job of %s is \"%s\", not done",
		     file_id, state);
}

/* The thumbnail's SHA-256 (path below /v1), or "" when the answer is not a 200 PNG. */
static void thumb_sha(const char *key, const char *path, char out[SHA256_HEX_LEN + 1],
		      struct resp *r)
{
	out[0] = '\0';
	api("GET", path, key, NULL, r);
	if (r->status == 200 && r->len > 8 && memcmp(r->body, "\x89PNG", 4) == 0)
		sha_hex(r->body, r->len, out);
}

/* No storage key, path or store location in a response body. */
static void no_storage(const struct resp *r, const char *key, const char *file, unsigned line)
{
	const char *store = cfg_str("file_store", "/nonexistent");
	at_check(r->body && !strstr(r->body, "storage") && !strstr(r->body, store) &&
		 (!key || !strstr(r->body, key)) && !strstr(r->body, "/files/"), r, file, line,
		 "no storage key, path or URL in the body");
}
#define NO_STORAGE(r, key) no_storage(&(r), (key), __FILE__, __LINE__)

/* The request head of a PUT to u (application/octet-stream); length RAW_CHUNKED: chunked. */
static int put_head(struct raw *c, const struct fx_upload *u, const char *key, long long length)
{
	static const char *const ctype = "Content-Type: application/octet-stream";
	return raw_head(c, &(struct raw_req){ .method = "PUT", .path = u->path, .key = key,
					      .length = length, .headers = { ctype } });
}

/* --------------------------------------------------------- what an upload leaves behind */

/* The parent pid of pid from /proc/<pid>/stat, or -1. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	const char *end = strrchr(buf, ')'); /* after the command name, which may hold anything */
	int ppid;
	return end && sscanf(end + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

/* Descriptors the apf-fcgi processes (the master in $var_dir/run/apf-fcgi.pid and its
 * children) hold open on files in the store: any such descriptor of an idle server is a leak,
 * and an unnamed (O_TMPFILE) or deleted file keeps its disk space while it is open. Returns
 * their number (the first described in what), or -1 when the processes cannot be found. */
static int fcgi_store_fds(char *what, size_t size)
{
	char root[PATH_MAX], path[300], target[PATH_MAX + 32];
	pid_t master = fx_service_pid("apf-fcgi");
	what[0] = '\0';
	if (master <= 0 || kill(master, 0) != 0 || !realpath(cfg_str("file_store", ""), root))
		return -1;
	size_t rl = strlen(root);
	int n = 0;
	DIR *proc = opendir("/proc");
	if (!proc)
		return -1;
	for (struct dirent *e; (e = readdir(proc));) {
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid <= 0 || (pid != master && parent_of(pid) != master))
			continue;
		snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
		DIR *fds = opendir(path);
		for (struct dirent *f; fds && (f = readdir(fds));) {
			if (f->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "/proc/%d/fd/%s", (int)pid, f->d_name);
			ssize_t tl = readlink(path, target, sizeof target - 1);
			if (tl <= 0)
				continue;
			target[tl] = '\0';
			if (strncmp(target, root, rl) != 0 || target[rl] != '/')
				continue;
			if (!n++)
				snprintf(what, size, "pid %d fd %.16s -> %.400s", (int)pid, f->d_name,
					 target);
		}
		if (fds)
			closedir(fds);
	}
	closedir(proc);
	return n;
}

/* Waits until nothing of an upload is left in the store: no named temporary in .tmp and no
 * file of the store held open by apf-fcgi (so no unnamed temporary and no disk space held
 * either). A deadline, not a fixed sleep: the app lets go once nginx closes its side. */
static int store_clean_at(const char *file, unsigned line)
{
	char what[512];
	int tmp, fds;
	int64_t end = util_now_ms() + 20000;
	for (;;) {
		tmp = fx_store_tmp_entries();
		fds = fcgi_store_fds(what, sizeof what);
		if (fds < 0)
			return at_check(0, NULL, file, line, "cannot list the apf-fcgi processes"
					" (run/apf-fcgi.pid) or resolve file_store");
		if (tmp == 0 && fds == 0)
			return at_check(1, NULL, file, line, "%s", "");
		if (util_now_ms() > end)
			break;
		usleep(100 * 1000);
	}
	return at_check(0, NULL, file, line, "upload leftovers in the store after 20 s: %d named"
			" temporaries in .tmp, %d descriptors held by apf-fcgi (%s)", tmp, fds, what);
}
#define STORE_CLEAN() store_clean_at(__FILE__, __LINE__)

/* Waits until an apf-fcgi process holds a file of the store open (an upload in progress has
 * reached the app). 0, or -1 (failure noted). */
static int upload_in_app(void)
{
	char what[512];
	int64_t end = util_now_ms() + 20000;
	do {
		int fds = fcgi_store_fds(what, sizeof what);
		if (fds < 0)
			return CHECK(0, NULL, "cannot list the apf-fcgi processes") - 1;
		if (fds > 0)
			return 0;
		usleep(20 * 1000);
	} while (util_now_ms() < end);
	return CHECK(0, NULL, "the upload did not reach apf-fcgi within 20 s (no temporary open)") - 1;
}

/* The object's SHA-256, or "" when missing. */
static void object_sha(const char *key, char out[SHA256_HEX_LEN + 1])
{
	uint64_t size;
	if (storage_sha256(key, out, &size) != STORAGE_OK)
		out[0] = '\0';
}

/* ------------------------------------------------------------------------- tests */

static void test_upload_url(void)
{
	struct tenant t;
	char rkey[FX_KEY];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant_key(&t, "read", rkey));
	api("POST", "/files/upload-url", t.key, "{\"filename\":\"Cube v2.gcode.3mf\"}", &r);
	if (!EXPECT(r, 200, NULL))
		return;
	json_t *d = rdata(&r);
	KEYS(d, UPLOAD_URL_KEYS, &r);
	const char *id = jstr(d, "file_id"), *token = jstr(d, "upload_token");
	char want[4096];
	CHECK(id && util_is_uuid(id), &r, "file_id is a UUID");
	STR_EQ(jstr(d, "filename"), "Cube v2.gcode.3mf", &r);
	STR_EQ(jstr(d, "content_type"), "application/vnd.ms-package.3dmanufacturing-3dmodel+xml", &r);
	INT_EQ(jint(d, "expires_in"), 3600, &r);
	long long exp = iso_ms(jstr(d, "expires_at")), now = (long long)time(NULL) * 1000;
	CHECK(exp > now + 3590000 && exp < now + 3610000, &r, "expires_at is an hour from now");
	snprintf(want, sizeof want, "%s/files/%s/Cube v2.gcode.3mf", t.account, id ? id : "");
	STR_EQ(jstr(d, "storage_key"), want, &r);
	snprintf(want, sizeof want, "%s/files/upload/%s", client_base_url(), token ? token : "");
	STR_EQ(jstr(d, "upload_url"), want, &r);
	CHECK(token && strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
		       == strlen(token), &r, "the token is base64url (safe in a path segment)");

	api("POST", "/files/upload-url", t.key,
	    "{\"filename\":\"part.GCODE\",\"content_type\":\"text/x-gcode\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "content_type"), "text/x-gcode", &r);
	api("POST", "/files/upload-url", t.key, "{\"filename\":\"part.stl\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "content_type"), "application/sla", &r);

	static const char *const bad[] = { "{}", "{\"filename\":\"\"}", "{\"filename\":7}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		api("POST", "/files/upload-url", t.key, bad[i], &r);
		if (EXPECT(r, 422, "VALIDATION_ERROR"))
			CHECK(rdetail(&r, "filename") != NULL, &r, "the problem names filename");
	}
	/* not one safe path segment: 400 INVALID_FILENAME; not a print file: UNSUPPORTED_FILE_TYPE */
	static const struct {
		const char *body, *code;
	} named[] = {
		{ "{\"filename\":\"../x.3mf\"}", "INVALID_FILENAME" },
		{ "{\"filename\":\"a/b.3mf\"}", "INVALID_FILENAME" },
		{ "{\"filename\":\"a\\\\b.3mf\"}", "INVALID_FILENAME" },
		{ "{\"filename\":\".hidden.3mf\"}", "INVALID_FILENAME" },
		{ "{\"filename\":\"a:b.gcode\"}", "INVALID_FILENAME" },
		{ "{\"filename\":\"tab\\there.3mf\"}", "INVALID_FILENAME" },
		{ "{\"filename\":\"notes.txt\"}", "UNSUPPORTED_FILE_TYPE" },
		{ "{\"filename\":\"noext\"}", "UNSUPPORTED_FILE_TYPE" },
		{ "{\"filename\":\"part.bgcode\"}", "UNSUPPORTED_FILE_TYPE" },
	};
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
		api("POST", "/files/upload-url", t.key, named[i].body, &r);
		if (EXPECT(r, 400, named[i].code))
			CHECK(strstr(jstr(r.json, "error"), "filename") != NULL, &r,
			      "the message names filename");
	}
	api("POST", "/files/upload-url", t.key, rep(0, "x", 300), &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	char longname[400];
	snprintf(longname, sizeof longname, "{\"filename\":\"%s.3mf\"}", rep(0, "n", 252));
	api("POST", "/files/upload-url", t.key, longname, &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	api("POST", "/files/upload-url", t.key, "{\"filename\":\"a.3mf\",\"content_type\":\"nope\"}",
	    &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "content_type") != NULL, &r, "the problem names content_type");
	api("POST", "/files/upload-url", rkey, "{\"filename\":\"a.3mf\"}", &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
}

static void test_upload(void)
{
	struct tenant t, other;
	struct fx_upload u;
	char rkey[FX_KEY], path[4096], sha[SHA256_HEX_LEN + 1], want[SHA256_HEX_LEN + 1];
	FX_BLOB(b);
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant_key(&t, "read", rkey));
	FX(fx_tenant(&other, "read,write"));
	FX(fx_read_fixture(CUBE->name, &b));
	FX(fx_upload_url(t.key, CUBE->name, &u));

	/* a read-only key of the token's account uploads: the token is the write credential */
	fx_put(rkey, u.path, b.data, b.len, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), ((const char *const[]){ "size_bytes", NULL }), &r);
		INT_EQ(jint(rdata(&r), "size_bytes"), (long long)b.len, &r);
		NO_STORAGE(r, u.key);
	}
	object_sha(u.key, sha);
	STR_EQ(sha, CUBE->sha256, &r);

	/* replay within the hour: overwrites the same object */
	fx_put(t.key, u.path, "G28\nG1 X10\n", 11, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jint(rdata(&r), "size_bytes"), 11, &r);
	object_sha(u.key, sha);
	STR_EQ(sha, sha_hex("G28\nG1 X10\n", 11, want), &r);
	fx_put(t.key, u.path, b.data, b.len, &r);
	EXPECT(r, 200, NULL);
	object_sha(u.key, sha);
	STR_EQ(sha, CUBE->sha256, &r);

	/* another account's key: 403, nothing written */
	fx_put(other.key, u.path, "x", 1, &r);
	EXPECT(r, 403, "UPLOAD_TOKEN_FORBIDDEN");
	object_sha(u.key, sha);
	STR_EQ(sha, CUBE->sha256, &r);

	/* forged: one character of the signature changed; the payload re-pointed at another key */
	char forged[UPTOKEN_MAX];
	snprintf(forged, sizeof forged, "%s", u.token);
	size_t n = strlen(forged);
	forged[n - 2] = forged[n - 2] == 'A' ? 'B' : 'A';
	snprintf(path, sizeof path, "/files/upload/%s", forged);
	fx_put(t.key, path, "x", 1, &r);
	EXPECT(r, 401, "UPLOAD_TOKEN_INVALID");
	char other_key[STORAGE_KEY_MAX + 1], tok[UPTOKEN_MAX];
	snprintf(other_key, sizeof other_key, "%s/files/%s/evil.3mf", t.account, NO_SUCH_ID);
	FX(uptoken_mint("a-secret-that-is-not-the-servers-0123456789", other_key,
			(int64_t)time(NULL) + 600, tok, sizeof tok) == UPTOKEN_OK ? 0 : -1);
	snprintf(path, sizeof path, "/files/upload/%s", tok);
	fx_put(t.key, path, "x", 1, &r);
	EXPECT(r, 401, "UPLOAD_TOKEN_INVALID");
	CHECK(storage_stat(other_key, NULL) == STORAGE_MISSING, &r, "no object for a forged token");
	static const char *const junk[] = { "abc", "abc.def", ".", "AAAA.AAAA", NO_SUCH_ID };
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		snprintf(path, sizeof path, "/files/upload/%s", junk[i]);
		fx_put(t.key, path, "x", 1, &r);
		EXPECT(r, 401, "UPLOAD_TOKEN_INVALID");
	}

	/* expired: minted by the server's own code and secret, an hour and a second ago */
	FX(uptoken_mint(cfg_str("upload_secret", ""), u.key, (int64_t)time(NULL) - 1, tok,
			sizeof tok) == UPTOKEN_OK ? 0 : -1);
	snprintf(path, sizeof path, "/files/upload/%s", tok);
	fx_put(t.key, path, "x", 1, &r);
	if (EXPECT(r, 401, "UPLOAD_TOKEN_INVALID"))
		CHECK(strstr(jstr(r.json, "error"), "expired") != NULL, &r, "the message says expired");
	object_sha(u.key, sha);
	STR_EQ(sha, CUBE->sha256, &r);
	/* still valid a minute before expiry */
	FX(uptoken_mint(cfg_str("upload_secret", ""), u.key, (int64_t)time(NULL) + 60, tok,
			sizeof tok) == UPTOKEN_OK ? 0 : -1);
	snprintf(path, sizeof path, "/files/upload/%s", tok);
	fx_put(t.key, path, b.data, b.len, &r);
	EXPECT(r, 200, NULL);

	/* an empty body; no API key; an unknown API key */
	fx_put(t.key, u.path, "", 0, &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	struct call c = { .method = "PUT", .path = u.path, .body = "x", .body_len = 1,
			  .content_type = "application/octet-stream" };
	api_call(&c, &r);
	EXPECT(r, 401, "UNAUTHORIZED");
	c.key = "apf_live_0";
	api_call(&c, &r);
	EXPECT(r, 401, "TOKEN_INVALID");
	STORE_CLEAN();
}

static void test_upload_limits(void)
{
	struct tenant t;
	struct fx_upload u;
	struct raw c;
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_upload_url(t.key, "big.gcode", &u));

	/* the app checks CONTENT_LENGTH before reading anything (a 10-byte body is enough) */
	FX(RAW_OPEN(&c, NULL));
	put_head(&c, &u, t.key, UPLOAD_MAX + 1);
	raw_send(&c, "G28 ; tiny", 10);
	raw_response(&c, &r, "PUT (Content-Length 100 MiB + 1)");
	raw_close(&c, 1);
	if (EXPECT(r, 413, "FILE_TOO_LARGE"))
		CHECK(resp_header(&r, "X-RateLimit-Limit") != NULL, &r, "the app answered (not nginx)");

	/* nginx refuses a declared length over its own limit before the app sees it */
	FX(RAW_OPEN(&c, NULL));
	put_head(&c, &u, t.key, UPLOAD_MAX + MIB + 1);
	raw_response(&c, &r, "PUT (Content-Length 101 MiB + 1)");
	raw_close(&c, 1);
	if (EXPECT(r, 413, "FILE_TOO_LARGE"))
		CHECK(resp_header(&r, "X-RateLimit-Limit") == NULL, &r, "nginx answered (not the app)");

	/* a chunked body (no length announced) is counted while it streams: the one real
	 * 100 MiB + 1 byte send of the suite */
	FX(RAW_OPEN(&c, NULL));
	put_head(&c, &u, t.key, RAW_CHUNKED);
	static char chunk[MIB];
	memset(chunk, 'G', sizeof chunk);
	long long sent = 0;
	char line[32];
	while (sent <= UPLOAD_MAX && !raw_readable(&c)) {
		size_t n = sent + MIB <= UPLOAD_MAX ? (size_t)MIB : 1;
		snprintf(line, sizeof line, "%zx\r\n", n);
		if (raw_send(&c, line, strlen(line)) < 0 || raw_send(&c, chunk, n) < 0 ||
		    raw_send(&c, "\r\n", 2) < 0)
			break;
		sent += (long long)n;
	}
	if (sent > UPLOAD_MAX && !raw_readable(&c))
		raw_send(&c, "0\r\n\r\n", 5);
	raw_response(&c, &r, "PUT (chunked, 100 MiB + 1)");
	raw_close(&c, 1);
	if (EXPECT(r, 413, "FILE_TOO_LARGE"))
		CHECK(resp_header(&r, "X-RateLimit-Limit") != NULL, &r, "the app answered (not nginx)");
	STORE_CLEAN();
	CHECK(storage_stat(u.key, NULL) == STORAGE_MISSING, NULL, "no object under the key");
}

/* A client that hangs up mid-body, once the app is writing: the key keeps what it had
 * (nothing, or the last complete upload), no files row appears, and the app lets go of its
 * temporary (no descriptor, no name, no space held). */
static void test_upload_truncated(void)
{
	struct tenant t;
	struct fx_upload u;
	struct raw c;
	char sha[SHA256_HEX_LEN + 1];
	FX_BLOB(b);
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_read_fixture(TWO_PLATES->name, &b));
	FX(fx_upload_url(t.key, TWO_PLATES->name, &u));

	FX(STORE_CLEAN() ? 0 : -1); /* nothing left over from earlier tests */
	for (int round = 0; round < 2; round++) {
		FX(RAW_OPEN(&c, NULL));
		put_head(&c, &u, t.key, (long long)b.len);
		raw_send(&c, b.data, b.len / 2);
		int in_app = upload_in_app(); /* the app holds its temporary: it is mid-body */
		raw_close(&c, 1);
		if (in_app < 0)
			return;
		/* the app sees the broken stream once nginx drops the upstream connection */
		STORE_CLEAN();
		object_sha(u.key, sha);
		if (round == 0) {
			/* never a half file under the real name */
			CHECK(storage_stat(u.key, NULL) == STORAGE_MISSING, NULL, "no object under the key");
			fx_put(t.key, u.path, b.data, b.len, &r);
			EXPECT(r, 200, NULL);
		} else {
			STR_EQ(sha, TWO_PLATES->sha256, NULL); /* the previous complete upload stays */
		}
		DB_IS(&Q_FILE_COUNT, t.account, "0"); /* an upload alone makes no files row */
	}
	/* and the object is whole: it makes a file */
	fx_create_file(t.key, TWO_PLATES->name, u.key, NULL, &r);
	EXPECT(r, 201, NULL);
}

static void test_create(void)
{
	struct tenant t, other;
	struct fx_upload u, u2, junk;
	char rkey[FX_KEY], product[FX_ID], extra[128], sha[SHA256_HEX_LEN + 1];
	FX_BLOB(b);
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant_key(&t, "read", rkey));
	FX(fx_tenant(&other, "read,write"));
	FX(fx_read_fixture(CUBE->name, &b));
	FX(fx_upload_url(t.key, CUBE->name, &u));

	/* nothing uploaded yet */
	fx_create_file(t.key, CUBE->name, u.key, NULL, &r);
	EXPECT(r, 400, "FILE_NOT_UPLOADED");
	fx_put(t.key, u.path, b.data, b.len, &r);
	FX(EXPECT(r, 200, NULL) ? 0 : -1);

	fx_create_file(rkey, CUBE->name, u.key, NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	api("POST", "/files", t.key, "{}", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "name") && rdetail(&r, "storage_key"), &r, "names name and storage_key");
	/* another account's key, a key of no upload, a name that is not the key's file name */
	fx_create_file(other.key, CUBE->name, u.key, NULL, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "storage_key") != NULL, &r, "the problem names storage_key");
	fx_create_file(t.key, CUBE->name, "x", NULL, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "storage_key") != NULL, &r, "the problem names storage_key");
	char dotted[1024];
	snprintf(dotted, sizeof dotted, "%s/files/%s/../../x.3mf", t.account, u.file_id);
	fx_create_file(t.key, "x.3mf", dotted, NULL, &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	/* a valid key of this account whose file name is not `name`: 400 NAME_MISMATCH (the
	 * specification's code, docs/files.md), also when only the case differs */
	fx_create_file(t.key, "other.gcode.3mf", u.key, NULL, &r);
	EXPECT(r, 400, "NAME_MISMATCH");
	fx_create_file(t.key, "CUBE.GCODE.3MF", u.key, NULL, &r);
	EXPECT(r, 400, "NAME_MISMATCH");
	/* a key of this account naming a file that is no print file: 400 UNSUPPORTED_FILE_TYPE */
	char txt[1024];
	snprintf(txt, sizeof txt, "%s/files/%s/notes.txt", t.account, u.file_id);
	fx_create_file(t.key, "notes.txt", txt, NULL, &r);
	EXPECT(r, 400, "UNSUPPORTED_FILE_TYPE");
	/* a malformed key stays a 422 naming storage_key, whatever the name */
	fx_create_file(t.key, "other.gcode.3mf", "x", NULL, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "storage_key") != NULL, &r, "the problem names storage_key");
	DB_IS(&Q_FILE_COUNT, t.account, "0"); /* nothing recorded */
	fx_create_file(t.key, CUBE->name, u.key, "\"number_of_units\":0", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	fx_create_file(t.key, CUBE->name, u.key, "\"product_id\":\"abc\"", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "product_id") != NULL, &r, "the problem names product_id");
	fx_create_file(t.key, CUBE->name, u.key, "\"product_id\":\"" NO_SUCH_ID "\"", &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	char foreign[FX_ID];
	util_uuid(foreign);
	FX(FX_SQL(Q_PRODUCT_INSERT, DS(foreign), DS(other.account), DS("Their widget")));
	snprintf(extra, sizeof extra, "\"product_id\":\"%s\"", foreign);
	fx_create_file(t.key, CUBE->name, u.key, extra, &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");

	util_uuid(product);
	FX(FX_SQL(Q_PRODUCT_INSERT, DS(product), DS(t.account), DS("Cube")));
	snprintf(extra, sizeof extra, "\"product_id\":\"%s\",\"number_of_units\":4", product);
	fx_create_file(t.key, CUBE->name, u.key, extra, &r);
	if (!EXPECT(r, 201, NULL))
		return;
	json_t *d = rdata(&r);
	KEYS(d, FILE_DETAIL_KEYS, &r);
	NO_STORAGE(r, u.key);
	STR_EQ(jstr(d, "id"), u.file_id, &r);
	STR_EQ(jstr(d, "name"), CUBE->name, &r);
	STR_EQ(jstr(d, "product_id"), product, &r);
	INT_EQ(jint(d, "number_of_units"), 4, &r);
	INT_EQ(jint(d, "file_size_bytes"), (long long)b.len, &r);
	INT_EQ(jint(d, "print_time_seconds"), 1095, &r);
	CHECK(json_real_value(json_object_get(d, "filament_weight_grams")) == 2.83, &r, "weight 2.83");
	STR_EQ(jstr(d, "printer_model_id"), "N1", &r);
	STR_EQ(jstr(d, "printer_model"), "Bambu Lab A1 mini", &r);
	STR_EQ(jstr(d, "filament_type"), "PLA", &r);
	INT_EQ(jint(d, "layer_count"), 90, &r);
	STR_EQ(jstr(d, "curr_bed_type"), "Textured PEI Plate", &r);
	STR_EQ(jstr(d, "default_print_profile"), "0.20mm Standard @BBL A1M", &r);
	INT_EQ(jint(d, "object_count"), 1, &r);
	INT_EQ(jbool(d, "has_thumbnail"), 1, &r);
	INT_EQ(jint(d, "plate_count"), 1, &r);
	INT_EQ(json_array_size(json_object_get(d, "plates")), 1, &r);
	STR_EQ(jstr(d, "metadata_status"), "pending", &r);
	CHECK(is_iso_ms(jstr(d, "created_at")) && is_iso_ms(jstr(d, "updated_at")), &r, "timestamps");
	json_t *vs = json_object_get(d, "versions");
	if (INT_EQ(json_array_size(vs), 1, &r)) {
		KEYS(json_array_get(vs, 0), VERSION_KEYS, &r);
		INT_EQ(jint(json_array_get(vs, 0), "version_number"), 1, &r);
		INT_EQ(jbool(json_array_get(vs, 0), "is_current_version"), 1, &r);
	}
	/* the thumbnail was stored synchronously: it is there at once */
	char path[128];
	snprintf(path, sizeof path, "/files/%s/thumbnail", u.file_id);
	thumb_sha(t.key, path, sha, &r);
	STR_EQ(sha, CUBE->thumb_sha256, &r);

	/* the same key again (same name), then the same name from another upload */
	fx_create_file(t.key, CUBE->name, u.key, NULL, &r);
	EXPECT(r, 409, "DUPLICATE_NAME");
	FX(fx_upload(t.key, CUBE->name, CUBE->name, &u2));
	fx_create_file(t.key, CUBE->name, u2.key, NULL, &r);
	EXPECT(r, 409, "DUPLICATE_NAME");
	/* ... while another account may use the name */
	char oid[FX_ID];
	FX(fx_file(other.key, CUBE->name, NULL, oid));

	/* bytes that are no 3MF: 422 with the parser's sentence, and no record */
	FX(fx_upload_url(t.key, "junk.3mf", &junk));
	fx_put(t.key, junk.path, "this is not a zip archive", 25, &r);
	EXPECT(r, 200, NULL);
	fx_create_file(t.key, "junk.3mf", junk.key, NULL, &r);
	if (EXPECT(r, 422, "INVALID_FILE"))
		CHECK(jstr(r.json, "error") && strlen(jstr(r.json, "error")) > 5, &r, "a message");
	char count[16];
	FX(FX_TEXT(count, Q_FILE_COUNT, DS(t.account)));
	STR_EQ(count, "1", &r);

	CHECK(job_done(t.account, u.file_id), NULL, "the extraction finished");
	api("GET", "/files/" NO_SUCH_ID, t.key, NULL, &r);
	snprintf(path, sizeof path, "/files/%s", u.file_id);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "sha256"), CUBE->sha256, &r);
		STR_EQ(jstr(rdata(&r), "metadata_status"), "done", &r);
	}
}

static void test_list(void)
{
	struct tenant t, other;
	char ids[3][FX_ID], product[FX_ID], oid[FX_ID], path[256];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&other, "read,write"));
	util_uuid(product);
	FX(FX_SQL(Q_PRODUCT_INSERT, DS(product), DS(t.account), DS("Benchy")));
	FX(fx_file(t.key, CURA->name, NULL, ids[0]));        /* no type, no model */
	FX(fx_file(t.key, FIXTURES[5].name, NULL, ids[1]));  /* PLA, Flashforge */
	FX(fx_file(t.key, CUBE->name, NULL, ids[2]));        /* PLA, N1 */
	FX(fx_file(other.key, CUBE->name, NULL, oid));
	static const char *const stamps[] = {
		"2026-01-01 00:00:00.000", "2026-01-03 00:00:00.000", "2026-01-02 00:00:00.000"
	};
	for (int i = 0; i < 3; i++)
		FX(FX_SQL(Q_FILE_CREATED_AT, DS(stamps[i]), DS(ids[i])));
	static const struct db_query Q_SET_PRODUCT = {
		"UPDATE print_files SET product_id = ? WHERE id = ?"
	};
	FX(FX_SQL(Q_SET_PRODUCT, DS(product), DS(ids[1])));

	api("GET", "/files", t.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return;
	json_t *list = rdata(&r);
	if (INT_EQ(json_array_size(list), 3, &r)) {
		const int order[] = { 1, 2, 0 }; /* created_at descending */
		for (int i = 0; i < 3; i++) {
			STR_EQ(jstr(json_array_get(list, (size_t)i), "id"), ids[order[i]], &r);
			KEYS(json_array_get(list, (size_t)i), FILE_KEYS, &r);
		}
	}
	NO_STORAGE(r, NULL);
	json_t *meta = json_object_get(r.json, "meta");
	INT_EQ(jint(meta, "limit"), 50, &r);
	INT_EQ(jint(meta, "offset"), 0, &r);
	INT_EQ(jint(meta, "count"), 3, &r);

	api("GET", "/files?limit=2&offset=1", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 2, &r)) {
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), ids[2], &r);
		STR_EQ(jstr(json_array_get(rdata(&r), 1), "id"), ids[0], &r);
		INT_EQ(jint(json_object_get(r.json, "meta"), "count"), 2, &r);
	}
	snprintf(path, sizeof path, "/files?product_id=%s", product);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r))
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), ids[1], &r);
	api("GET", "/files?filament_type=PLA", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 2, &r);
	api("GET", "/files?model_id=N1", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r))
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), ids[2], &r);
	api("GET", "/files?model_id=Flashforge-Adventurer-5M-Pro&filament_type=PLA", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r))
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), ids[1], &r);
	api("GET", "/files?filament_type=PETG", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 0, &r);
	static const char *const bad[] = { "limit=0", "limit=101", "offset=-1", "limit=x",
					   "filament_type=", "model_id=" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(path, sizeof path, "/files?%s", bad[i]);
		api("GET", path, t.key, NULL, &r);
		EXPECT(r, 422, "VALIDATION_ERROR");
	}
	api("GET", "/files", other.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r))
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), oid, &r);
	char wkey[FX_KEY];
	FX(fx_tenant_key(&t, "write", wkey));
	api("GET", "/files", wkey, NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
}

/* Another account's file is a 404 on every route of a file id. */
static void test_tenancy(void)
{
	struct tenant t, other;
	struct fx_upload u;
	char id[FX_ID], path[256];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&other, "read,write"));
	FX(fx_file(t.key, CUBE->name, NULL, id));
	FX(fx_upload(other.key, CUBE->name, "cube2.gcode.3mf", &u));
	const char *suffix[] = { "", "/thumbnail", "/versions" };
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "/files/%s%s", id, suffix[i]);
		api("GET", path, other.key, NULL, &r);
		EXPECT(r, 404, "FILE_NOT_FOUND");
		snprintf(path, sizeof path, "/files/not-a-uuid%s", suffix[i]);
		api("GET", path, t.key, NULL, &r);
		EXPECT(r, 404, "FILE_NOT_FOUND");
	}
	char body[2048];
	snprintf(body, sizeof body, "{\"storage_key\":\"%s\"}", u.key);
	snprintf(path, sizeof path, "/files/%s/versions", id);
	api("POST", path, other.key, body, &r);
	EXPECT(r, 404, "FILE_NOT_FOUND");
	snprintf(path, sizeof path, "/files/%s/versions/1/current", id);
	api("PUT", path, other.key, NULL, &r);
	EXPECT(r, 404, "FILE_NOT_FOUND");
	snprintf(path, sizeof path, "/files/%s", id);
	api("GET", path, t.key, NULL, &r);
	EXPECT(r, 200, NULL);
}

static void test_thumbnail(void)
{
	struct tenant t;
	char cube[FX_ID], two[FX_ID], cura[FX_ID], wkey[FX_KEY], path[256];
	char sha[SHA256_HEX_LEN + 1];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant_key(&t, "write", wkey));
	FX(fx_file(t.key, CUBE->name, NULL, cube));
	FX(fx_file(t.key, TWO_PLATES->name, NULL, two));
	FX(fx_file(t.key, CURA->name, NULL, cura));

	snprintf(path, sizeof path, "/files/%s/thumbnail", cube);
	thumb_sha(t.key, path, sha, &r);
	STR_EQ(sha, CUBE->thumb_sha256, &r);
	STR_EQ(resp_header(&r, "Content-Type"), "image/png", &r);
	STR_EQ(resp_header(&r, "Cache-Control"), "private, max-age=86400", &r);
	INT_EQ(resp_header_count(&r, "Cache-Control"), 1, &r);
	CHECK(resp_header(&r, "X-Request-Id") != NULL, &r, "X-Request-Id on a binary answer");
	api("GET", path, wkey, NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");

	snprintf(path, sizeof path, "/files/%s/thumbnail", cura);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 404, "NO_THUMBNAIL"))
		STR_EQ(resp_header(&r, "Cache-Control"), "no-store", &r);
	api("GET", "/files/" NO_SUCH_ID "/thumbnail", t.key, NULL, &r);
	EXPECT(r, 404, "FILE_NOT_FOUND");

	/* every plate's thumbnail, once FILE_PROCESSING is done */
	FX(job_done(t.account, two) ? 0 : -1);
	snprintf(path, sizeof path, "/files/%s/thumbnail", two);
	thumb_sha(t.key, path, sha, &r);
	STR_EQ(sha, TWO_PLATES->thumb_sha256, &r);
	snprintf(path, sizeof path, "/files/%s/thumbnail?plate=1", two);
	thumb_sha(t.key, path, sha, &r);
	STR_EQ(sha, TWO_PLATES->thumb_sha256, &r);
	snprintf(path, sizeof path, "/files/%s/thumbnail?plate=2", two);
	thumb_sha(t.key, path, sha, &r);
	STR_EQ(sha, PLATE2_THUMB, &r);
	snprintf(path, sizeof path, "/files/%s/thumbnail?plate=3", two);
	api("GET", path, t.key, NULL, &r);
	EXPECT(r, 404, "NO_THUMBNAIL");
	snprintf(path, sizeof path, "/files/%s/thumbnail?plate=0", two);
	api("GET", path, t.key, NULL, &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
}

static void test_versions(void)
{
	struct tenant t;
	struct fx_upload v2, v3, v4, gc, junk, fresh;
	char id[FX_ID], rkey[FX_KEY], path[256], body[2048], sha[SHA256_HEX_LEN + 1];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant_key(&t, "read", rkey));
	FX(fx_file(t.key, CUBE->name, NULL, id));
	snprintf(path, sizeof path, "/files/%s/versions", id);

	/* a .gcode version of a .3mf file, nothing uploaded, a key in use, bad bodies */
	FX(fx_upload(t.key, CURA->name, "cube.gcode", &gc));
	snprintf(body, sizeof body, "{\"storage_key\":\"%s\"}", gc.key);
	api("POST", path, t.key, body, &r);
	EXPECT(r, 400, "EXTENSION_MISMATCH");
	FX(fx_upload_url(t.key, "cube_v2.3mf", &fresh));
	snprintf(body, sizeof body, "{\"storage_key\":\"%s\"}", fresh.key);
	api("POST", path, t.key, body, &r);
	EXPECT(r, 400, "FILE_NOT_UPLOADED");
	char v1key[STORAGE_KEY_MAX + 1];
	snprintf(v1key, sizeof v1key, "%s/files/%s/%s", t.account, id, CUBE->name);
	snprintf(body, sizeof body, "{\"storage_key\":\"%s\"}", v1key);
	api("POST", path, t.key, body, &r);
	EXPECT(r, 409, "CONFLICT");
	api("POST", path, t.key, "{}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	snprintf(body, sizeof body, "{\"storage_key\":\"%s\",\"notes\":\"%s\"}", gc.key,
		 rep(0, "n", 501));
	api("POST", path, t.key, body, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "notes") != NULL, &r, "names notes");
	FX(fx_upload_url(t.key, "junk.3mf", &junk));
	fx_put(t.key, junk.path, "PK\x03\x04 not really", 15, &r);
	snprintf(body, sizeof body, "{\"storage_key\":\"%s\"}", junk.key);
	api("POST", path, t.key, body, &r);
	EXPECT(r, 422, "INVALID_FILE");
	api("POST", "/files/" NO_SUCH_ID "/versions", t.key, body, &r);
	EXPECT(r, 404, "FILE_NOT_FOUND");
	api("POST", path, rkey, body, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");

	/* version 2, current by default: the file takes its metadata and thumbnail */
	FX(fx_upload(t.key, TWO_PLATES->name, "cube_v2.gcode.3mf", &v2));
	snprintf(body, sizeof body, "{\"storage_key\":\"%s\",\"notes\":\"two plates now\"}", v2.key);
	api("POST", path, t.key, body, &r);
	if (EXPECT(r, 201, NULL)) {
		KEYS(rdata(&r), VERSION_KEYS, &r);
		INT_EQ(jint(rdata(&r), "version_number"), 2, &r);
		STR_EQ(jstr(rdata(&r), "notes"), "two plates now", &r);
		INT_EQ(jbool(rdata(&r), "is_current_version"), 1, &r);
		NO_STORAGE(r, v2.key);
	}
	char fpath[128], tpath[160];
	snprintf(fpath, sizeof fpath, "/files/%s", id);
	snprintf(tpath, sizeof tpath, "/files/%s/thumbnail", id);
	api("GET", fpath, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		STR_EQ(jstr(d, "name"), CUBE->name, &r); /* the name stays */
		STR_EQ(jstr(d, "printer_model_id"), "BL-P001", &r);
		INT_EQ(jint(d, "print_time_seconds"), 1216, &r); /* plate 1 */
		INT_EQ(jint(d, "plate_count"), 2, &r);
		INT_EQ(json_array_size(json_object_get(d, "plates")), 2, &r);
		INT_EQ(jint(json_object_get(d, "totals"), "print_time_seconds"), 2310, &r);
		json_t *vs = json_object_get(d, "versions");
		if (INT_EQ(json_array_size(vs), 2, &r)) {
			INT_EQ(jint(json_array_get(vs, 0), "version_number"), 2, &r);
			INT_EQ(jbool(json_array_get(vs, 0), "is_current_version"), 1, &r);
			INT_EQ(jbool(json_array_get(vs, 1), "is_current_version"), 0, &r);
		}
	}
	thumb_sha(t.key, tpath, sha, &r);
	STR_EQ(sha, TWO_PLATES->thumb_sha256, &r);

	/* version 3, not current: the file is unchanged */
	FX(fx_upload(t.key, FIXTURES[5].name, "cube_v3.gcode.3mf", &v3));
	snprintf(body, sizeof body, "{\"storage_key\":\"%s\",\"set_as_current\":false}", v3.key);
	api("POST", path, t.key, body, &r);
	if (EXPECT(r, 201, NULL)) {
		INT_EQ(jint(rdata(&r), "version_number"), 3, &r);
		INT_EQ(jbool(rdata(&r), "is_current_version"), 0, &r);
		CHECK(json_is_null(json_object_get(rdata(&r), "notes")), &r, "notes null");
	}
	api("GET", fpath, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "printer_model_id"), "BL-P001", &r);
	thumb_sha(t.key, tpath, sha, &r);
	STR_EQ(sha, TWO_PLATES->thumb_sha256, &r);

	/* a fourth: refused */
	FX(fx_upload(t.key, CUBE->name, "cube_v4.gcode.3mf", &v4));
	snprintf(body, sizeof body, "{\"storage_key\":\"%s\"}", v4.key);
	api("POST", path, t.key, body, &r);
	EXPECT(r, 400, "MAX_VERSIONS_REACHED");

	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 3, &r)) {
		CHECK(json_object_get(r.json, "meta") == NULL, &r, "no meta on the versions list");
		for (int i = 0; i < 3; i++) {
			json_t *v = json_array_get(rdata(&r), (size_t)i);
			KEYS(v, VERSION_KEYS, &r);
			INT_EQ(jint(v, "version_number"), 3 - i, &r);
			INT_EQ(jbool(v, "is_current_version"), i == 1, &r);
		}
	}

	/* promote: back to version 1, then 3; the current one again is a no-op */
	char ppath[256];
	snprintf(ppath, sizeof ppath, "/files/%s/versions/1/current", id);
	api("PUT", ppath, rkey, NULL, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	api("PUT", ppath, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, FILE_DETAIL_KEYS, &r);
		STR_EQ(jstr(d, "printer_model_id"), "N1", &r);
		INT_EQ(jint(d, "print_time_seconds"), 1095, &r);
		json_t *vs = json_object_get(d, "versions");
		INT_EQ(jbool(json_array_get(vs, 2), "is_current_version"), 1, &r);
		INT_EQ(jbool(json_array_get(vs, 1), "is_current_version"), 0, &r);
		NO_STORAGE(r, NULL);
	}
	thumb_sha(t.key, tpath, sha, &r);
	STR_EQ(sha, CUBE->thumb_sha256, &r);
	api("PUT", ppath, t.key, NULL, &r);
	EXPECT(r, 200, NULL);
	snprintf(ppath, sizeof ppath, "/files/%s/versions/3/current", id);
	api("PUT", ppath, t.key, "{}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "printer_model_id"), "Flashforge-Adventurer-5M-Pro", &r);
	thumb_sha(t.key, tpath, sha, &r);
	STR_EQ(sha, FIXTURES[5].thumb_sha256, &r);
	FX(job_done(t.account, id) ? 0 : -1);
	api("GET", fpath, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "sha256"), FIXTURES[5].sha256, &r);
	snprintf(tpath, sizeof tpath, "/files/%s/thumbnail?plate=2", id);
	api("GET", tpath, t.key, NULL, &r);
	EXPECT(r, 404, "NO_THUMBNAIL"); /* version 2's second plate is not this version's */

	static const char *const bad[] = { "0", "4", "abc", "1.5", "-1", NO_SUCH_ID };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(ppath, sizeof ppath, "/files/%s/versions/%s/current", id, bad[i]);
		api("PUT", ppath, t.key, NULL, &r);
		if (EXPECT(r, 422, "VALIDATION_ERROR"))
			CHECK(rdetail(&r, "version") != NULL, &r, "names version");
	}
	char one[FX_ID];
	FX(fx_file(t.key, CURA->name, NULL, one));
	snprintf(ppath, sizeof ppath, "/files/%s/versions/2/current", one);
	api("PUT", ppath, t.key, NULL, &r);
	EXPECT(r, 404, "VERSION_NOT_FOUND");
	api("PUT", "/files/" NO_SUCH_ID "/versions/1/current", t.key, NULL, &r);
	EXPECT(r, 404, "FILE_NOT_FOUND");
}

static long parse_call(const char *key, const char *field, const char *filename, const void *data,
		       size_t len, struct resp *r)
{
	size_t n = 0;
	char *body = fx_multipart(field, filename, NULL, data, len, &n);
	struct call c = { .method = "POST", .path = "/files/parse-metadata", .key = key,
			  .body = body, .body_len = n, .content_type = FX_MULTIPART_TYPE };
	long status = api_call(&c, r);
	free(body);
	return status;
}

static void test_parse_metadata(void)
{
	struct tenant t;
	char rkey[FX_KEY], dir[1024];
	FX_BLOB(two);
	FX_BLOB(orca);
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant_key(&t, "read", rkey));
	FX(fx_read_fixture(TWO_PLATES->name, &two));
	FX(fx_read_fixture(FIXTURES[6].name, &orca));

	parse_call(t.key, "file", "two.gcode.3mf", two.data, two.len, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		STR_EQ(jstr(d, "filename"), "two.gcode.3mf", &r);
		STR_EQ(jstr(d, "printer_model_id"), "BL-P001", &r);
		INT_EQ(jint(d, "print_time_seconds"), 1216, &r);
		INT_EQ(jint(d, "layer_count"), 128, &r);
		INT_EQ(jbool(d, "has_thumbnail"), 1, &r);
		INT_EQ(jint(d, "plate_count"), 2, &r);
		INT_EQ(json_array_size(json_object_get(d, "plates")), 2, &r);
		INT_EQ(jint(json_object_get(d, "totals"), "print_time_seconds"), 2310, &r);
		INT_EQ(jint(d, "file_size_bytes"), (long long)two.len, &r);
	}
	/* a 2.9 MB G-code: over the 1 MiB of JSON bodies, within the upload limit */
	parse_call(t.key, "file", FIXTURES[6].name, orca.data, orca.len, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jint(rdata(&r), "print_time_seconds"), 2228, &r);
		INT_EQ(jint(rdata(&r), "layer_count"), 240, &r);
	}
	parse_call(rkey, "file", "two.gcode.3mf", two.data, two.len, &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	parse_call(t.key, "upload", "two.gcode.3mf", two.data, two.len, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "file") != NULL, &r, "the problem names file");
	/* not a 3MF or G-code by its name: 400 INVALID_FILE_TYPE, whatever the bytes */
	parse_call(t.key, "file", "model.stl", "solid x\nendsolid x\n", 19, &r);
	EXPECT(r, 400, "INVALID_FILE_TYPE");
	parse_call(t.key, "file", "notes.txt", two.data, two.len, &r);
	EXPECT(r, 400, "INVALID_FILE_TYPE");
	parse_call(t.key, "file", "two", two.data, two.len, &r);
	EXPECT(r, 400, "INVALID_FILE_TYPE");
	/* the extension in any case is accepted */
	parse_call(t.key, "file", "TWO.GCODE.3MF", two.data, two.len, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jint(rdata(&r), "plate_count"), 2, &r);
	/* a .3mf that is not a ZIP: 400 INVALID_3MF; a ZIP signature with nothing behind it: the
	 * parser's 422 */
	parse_call(t.key, "file", "fake.3mf", "not a zip", 9, &r);
	EXPECT(r, 400, "INVALID_3MF");
	parse_call(t.key, "file", "fake.3mf", "PK\x03\x04 not really", 15, &r);
	EXPECT(r, 422, "INVALID_FILE");
	struct call c = { .method = "POST", .path = "/files/parse-metadata", .key = t.key,
			  .body = "{}", .content_type = "application/json" };
	api_call(&c, &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	/* nothing was stored for this account, nothing recorded */
	snprintf(dir, sizeof dir, "%s/%s", cfg_str("file_store", ""), t.account);
	CHECK(access(dir, F_OK) != 0, NULL, "parse-metadata stores nothing (%s exists)", dir);
	char count[16];
	FX(FX_TEXT(count, Q_FILE_COUNT, DS(t.account)));
	STR_EQ(count, "0", NULL);
	STORE_CLEAN();
}

/* Every fixture end to end: upload, create (synchronous metadata), FILE_PROCESSING done
 * (checksum), thumbnail bytes. */
static void test_all_fixtures(void)
{
	struct tenant t;
	char ids[12][FX_ID] = { { 0 } }, path[1024], sha[SHA256_HEX_LEN + 1];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	for (size_t i = 0; i < 12; i++) {
		const struct fixture *fx = &FIXTURES[i];
		if (fx_file(t.key, fx->name, NULL, ids[i]) < 0)
			continue; /* the failure is recorded; ids[i] stays "" */
		snprintf(path, sizeof path, "/files/%s", ids[i]);
		api("GET", path, t.key, NULL, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		json_t *d = rdata(&r);
		json_t *time_v = json_object_get(d, "print_time_seconds");
		if (fx->time >= 0)
			CHECK(jint(d, "print_time_seconds") == fx->time, &r, "%s: time %lld", fx->name,
			      fx->time);
		else
			CHECK(json_is_null(time_v), &r, "%s: no print time", fx->name);
		CHECK(fx->model_id ? jstr(d, "printer_model_id") &&
					     strcmp(jstr(d, "printer_model_id"), fx->model_id) == 0
				   : json_is_null(json_object_get(d, "printer_model_id")),
		      &r, "%s: printer_model_id %s", fx->name, fx->model_id ? fx->model_id : "null");
		if (fx->layers >= 0)
			CHECK(jint(d, "layer_count") == fx->layers, &r, "%s: %lld layers", fx->name,
			      fx->layers);
		CHECK(jbool(d, "has_thumbnail") == (fx->thumb_sha256 != NULL), &r, "%s: has_thumbnail",
		      fx->name);
		CHECK(jint(d, "plate_count") == fx->plates, &r, "%s: %d plate(s)", fx->name, fx->plates);
	}
	for (size_t i = 0; i < 12; i++) {
		const struct fixture *fx = &FIXTURES[i];
		if (!ids[i][0] || !job_done(t.account, ids[i])) /* each a failure recorded above */
			continue;
		snprintf(path, sizeof path, "/files/%s", ids[i]);
		api("GET", path, t.key, NULL, &r);
		if (EXPECT(r, 200, NULL)) {
			CHECK(jstr(rdata(&r), "sha256") && strcmp(jstr(rdata(&r), "sha256"), fx->sha256) == 0,
			      &r, "%s: sha256 after FILE_PROCESSING", fx->name);
			STR_EQ(jstr(rdata(&r), "metadata_status"), "done", &r);
		}
		snprintf(path, sizeof path, "/files/%s/thumbnail", ids[i]);
		thumb_sha(t.key, path, sha, &r);
		if (fx->thumb_sha256)
			CHECK(strcmp(sha, fx->thumb_sha256) == 0, &r, "%s: thumbnail bytes", fx->name);
		else
			EXPECT(r, 404, "NO_THUMBNAIL");
	}
	/* mesh formats are accepted without metadata */
	struct fx_upload u;
	FX(fx_upload_url(t.key, "part.stl", &u));
	fx_put(t.key, u.path, "solid part\nendsolid part\n", 25, &r);
	EXPECT(r, 200, NULL);
	fx_create_file(t.key, "part.stl", u.key, NULL, &r);
	if (EXPECT(r, 201, NULL)) {
		INT_EQ(jint(rdata(&r), "object_count"), 1, &r);
		INT_EQ(jbool(rdata(&r), "has_thumbnail"), 0, &r);
		if (job_done(t.account, u.file_id)) {
			snprintf(path, sizeof path, "/files/%s", u.file_id);
			api("GET", path, t.key, NULL, &r);
			STR_EQ(jstr(rdata(&r), "metadata_status"), "unsupported", &r);
		}
	}
}

int suite_files(void)
{
	CU_pSuite s = CU_add_suite("files", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_upload_url);
	ADD_TEST(s, test_upload);
	ADD_TEST(s, test_upload_limits);
	ADD_TEST(s, test_upload_truncated);
	ADD_TEST(s, test_create);
	ADD_TEST(s, test_list);
	ADD_TEST(s, test_tenancy);
	ADD_TEST(s, test_thumbnail);
	ADD_TEST(s, test_versions);
	ADD_TEST(s, test_parse_metadata);
	ADD_TEST(s, test_all_fixtures);
	return 0;
}
