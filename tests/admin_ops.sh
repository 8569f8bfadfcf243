#!/usr/bin/env bash
# tests/admin_ops.sh - apf-admin doctor, backup and restore on a running stack (the test stack of
# scripts/test.sh, or any stack: APF_VAR / APF_CONF / APF_BIN as for the suites).
#
#   1. doctor on the stack: every check "ok" (nginx_conf and tls_cert are set by stack.sh).
#   2. doctor on copies of apf.conf, each with one fault: a wrong database password, a store
#      that cannot be written, a closed broker port, an expired (and a soon expiring)
#      certificate made with openssl, a broken nginx config, a pending and an unknown
#      migration, a missing key, a free-disk and a clock limit no host meets: FAIL (warn) on
#      that line and exit 1 (0).
#   3. backup / restore: a few rows and an uploaded file through the API on top of what is
#      there, the workers paused (SIGSTOP) while the "before" state and the backup are taken,
#      then the backup restored into a scratch database and store (empty target; again without
#      --force: refused; with --force: wiped and restored), and every table (an ordered
#      mariadb-dump with routines, triggers, events) and every object (SHA-256 per path)
#      compared with the before state. The comparison proves it can fail: a changed row, a
#      changed object and a missing object must each be found. A backup with a changed byte
#      must be refused before anything is touched.
# Prints "admin ops: N passed, N failed"; exit 1 when a check failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
V=$(realpath -m -- "${APF_VAR:-$ROOT/build/test-var}")
CONF=${APF_CONF:-$V/apf.conf}
B=$(realpath -m -- "${APF_BIN:-$ROOT/build/bin}")
A=$B/apf-admin
export PATH="$PATH:/usr/sbin:/sbin"
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { # check DESCRIPTION COMMAND...: ok when the command succeeds
	local what=$1; shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}

T=$(mktemp -d /tmp/apf-admin-ops-XXXXXX)
SCRATCH_DB=
PAUSED=()
cleanup() {
	local p
	for p in "${PAUSED[@]}"; do kill -CONT "$p" 2>/dev/null; done
	if [[ -n $SCRATCH_DB ]]; then sql_root -e "DROP DATABASE IF EXISTS \`$SCRATCH_DB\`" || true; fi
	rm -rf "$T"
}
trap cleanup EXIT

conf_get() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$CONF" | tail -1 | sed 's/[[:space:]]*$//'; }
# conf_with FILE KEY=VALUE... : a copy of apf.conf with those keys replaced (VALUE "" removes)
conf_with() {
	local f=$1 kv k; shift
	(umask 077; cp "$CONF" "$f")
	for kv in "$@"; do
		k=${kv%%=*}
		sed -i "/^[[:space:]]*$k[[:space:]]*=/d" "$f"
		[[ -n ${kv#*=} ]] && printf '%s = %s\n' "$k" "${kv#*=}" >> "$f"
	done
}
sql_root() { mariadb --defaults-file="$V/mysql/root.cnf" -N -B "$@"; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ------------------------------------------------------------------------------ 1. doctor

echo "=== doctor on the stack"
out=$("$A" doctor --conf "$CONF"); rc=$?
echo "$out"
check "doctor on the stack exits 0" test "$rc" -eq 0
# every line ok; the disk may only warn (under 10 % free is the host's business, not apf's)
json=$("$A" doctor --conf "$CONF" --json)
check "doctor --json: 9 checks {check, status, detail}, each ok (disk: ok or warn)" \
	jq -e 'type == "array" and length == 9 and all(.[]; (.status == "ok" or (.check == "disk" and .status == "warn")) and (.check | type) == "string" and (.detail | type) == "string")' <<<"$json" >/dev/null

# doctor_expect NAME CHECK STATUS EXIT KEY=VALUE...: doctor on a faulty conf copy
doctor_expect() {
	local name=$1 chk=$2 want=$3 want_rc=$4 f=$T/$1.conf o rc line; shift 4
	conf_with "$f" "$@"
	o=$("$A" doctor --conf "$f" --json 2>"$T/$name.err"); rc=$?
	line=$(jq -r --arg c "$chk" '.[] | select(.check == $c) | "\(.status) \(.detail)"' <<<"$o" 2>/dev/null)
	echo "    $name: exit $rc; $chk: $line"
	if [[ $rc == "$want_rc" && $line == "$want "* ]]; then
		ok "doctor, $name: $chk $want, exit $want_rc"
	else
		bad "doctor, $name: wanted $chk $want and exit $want_rc; got exit $rc, '$line'"
	fi
}

echo "=== doctor on faulty configurations"
doctor_expect wrong-db-password database FAIL 1 db_password=not-the-password
touch "$T/not-a-folder"
if [[ $(id -u) == 0 ]]; then
	# root writes through any mode bits: a store path that is a file cannot hold a probe
	doctor_expect store-unwritable "file store" FAIL 1 file_store="$T/not-a-folder/store"
	doctor_expect store-not-a-folder "file store" FAIL 1 file_store="$T/not-a-folder"
else
	mkdir -p "$T/ro-store" && chmod 555 "$T/ro-store"
	doctor_expect store-unwritable "file store" FAIL 1 file_store="$T/ro-store"
fi
doctor_expect broker-port-closed broker FAIL 1 mqtt_hosts="127.0.0.1:$(free_port)"
doctor_expect broker-wrong-password broker FAIL 1 mqtt_password=not-the-password
# expired: self-signed through `openssl ca`, which takes explicit dates (req -days cannot go back)
mkdir -p "$T/ca" && touch "$T/ca/index.txt" && echo 01 > "$T/ca/serial"
printf '[ca]\ndefault_ca = d\n[d]\ndir = %s\ndatabase = $dir/index.txt\nnew_certs_dir = $dir\nserial = $dir/serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n' \
	"$T/ca" > "$T/ca/ca.cnf"
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/old.key" -out "$T/old.csr" -subj /CN=expired 2>/dev/null
openssl ca -batch -config "$T/ca/ca.cnf" -selfsign -keyfile "$T/old.key" -in "$T/old.csr" \
	-out "$T/expired.pem" -startdate 20200101000000Z -enddate 20200102000000Z >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/soon.key" -out "$T/soon.pem" -days 10 \
	-subj /CN=soon 2>/dev/null
check "openssl made an expired certificate" \
	bash -c "openssl x509 -noout -in '$T/expired.pem' && ! openssl x509 -checkend 0 -noout -in '$T/expired.pem' >/dev/null"
doctor_expect cert-expired certificate FAIL 1 tls_cert="$T/expired.pem"
doctor_expect cert-soon certificate warn 0 tls_cert="$T/soon.pem"
printf 'events {}\nhttp { server { listen 127.0.0.1:1; this_is_not_a_directive; } }\n' > "$T/nginx.conf"
doctor_expect nginx-broken nginx FAIL 1 nginx_conf="$T/nginx.conf"
mkdir -p "$T/sql-newer" "$T/sql-older"
cp "$(conf_get sql_dir)"/*.sql "$T/sql-newer/"
printf 'SELECT 1;\n' > "$T/sql-newer/9999_future.sql"
doctor_expect migration-pending migrations FAIL 1 sql_dir="$T/sql-newer"
cp "$(conf_get sql_dir)"/*.sql "$T/sql-older/"
rm -f "$(ls "$T"/sql-older/*.sql | tail -1)"
doctor_expect migration-unknown migrations FAIL 1 sql_dir="$T/sql-older"
doctor_expect key-missing config FAIL 1 upload_secret=
doctor_expect file-missing config FAIL 1 tls_key="$T/no-such.key"
doctor_expect disk-limit disk FAIL 1 doctor_min_free_mb=1000000000
doctor_expect clock-limit clock FAIL 1 doctor_max_clock_skew=-1
doctor_expect no-nginx nginx skipped 0 nginx_conf=

# ------------------------------------------------------------------- 3. backup / restore

echo "=== backup and restore"
DB=$(conf_get db_name)
STORE=$(conf_get file_store)
BASE=$(conf_get base_url)
CACERT=$(conf_get tls_cert)
# a little more state of every kind on top of what the suites left: rows and a print file
aid=$("$A" account create --name "backup test" --json | jq -r .id)
key=$("$A" key create --account "$aid" --name backup --scopes read,write,control --json | jq -r .key)
hid=$("$A" hub create --account "$aid" --name "backup hub" --json | jq -r .id)
"$A" printer create --account "$aid" --hub "$hid" --name "backup printer" --model P1S --json >/dev/null
api() { curl -sS --cacert "$CACERT" -H "Authorization: Bearer $key" "$@"; }
up=$(api -X POST -H 'Content-Type: application/json' -d '{"filename":"backup.gcode"}' "$BASE/files/upload-url")
printf '; backup test\nG28\nG1 X10 Y10\n' > "$T/backup.gcode"
api -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$T/backup.gcode" \
	"$(jq -r .data.upload_url <<<"$up")" >/dev/null
made=$(api -X POST -H 'Content-Type: application/json' -o /dev/null -w '%{http_code}' \
	-d "$(jq -c '{name: "backup.gcode", storage_key: .data.storage_key}' <<<"$up")" "$BASE/files")
check "a file uploaded through the API (POST /files $made)" test "$made" = 201
sleep 1 # its file.extract job done by a worker (or left queued: both are state to keep)

# the writers pause while "before" and the backup are taken
for f in "$V"/run/apf-worker-*.pid; do
	p=$(tr -dc 0-9 < "$f")
	[[ -n $p ]] && kill -STOP "$p" 2>/dev/null && PAUSED+=("$p")
done
# every table, view, trigger, routine and event, rows in primary-key order
db_state() {
	mariadb-dump --defaults-file="$V/mysql/root.cnf" --skip-extended-insert --order-by-primary \
		--skip-dump-date --skip-comments --routines --triggers --events --hex-blob "$1"
}
store_state() { (cd "$1" && find . -type f ! -path './.*' ! -name '.*' -print0 | sort -z | xargs -0r sha256sum); }
db_state "$DB" > "$T/before.sql"
store_state "$STORE" > "$T/before.store"
tables=$(sql_root -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$DB'")
rows=$(grep -c '^INSERT INTO' "$T/before.sql")
objects=$(wc -l < "$T/before.store")
echo "    before: $tables tables, $rows rows, $objects objects"
check "there is state to back up (tables, rows, objects)" test "$tables" -gt 20 -a "$rows" -gt 10 -a "$objects" -gt 0
mkdir -p "$T/tmp"
t0=$(date +%s%N)
bk=$(TMPDIR=$T/tmp "$A" backup "$T/bk" --conf "$CONF" --json); rc=$?
t1=$(date +%s%N)
for p in "${PAUSED[@]}"; do kill -CONT "$p" 2>/dev/null; done
PAUSED=()
echo "    backup: $bk"
check "backup exits 0" test "$rc" -eq 0
echo "    backup took $(((t1 - t0) / 1000000)) ms; size $(du -sh "$T/bk" | cut -f1)"
check "manifest lists database.sql and every object with size and SHA-256" \
	jq -e --argjson n "$objects" '.format == 1 and (.files | length) == $n + 1 and all(.files[]; (.sha256 | length) == 64) and (.migrations | length) > 10' "$T/bk/manifest.json" >/dev/null
check "the credentials' option file (TMPDIR) was removed" test -z "$(ls -A "$T/tmp")"
check "backup into a folder that is not empty is refused" \
	bash -c "! '$A' backup '$T/bk' --conf '$CONF' 2>/dev/null"

# the scratch target: an empty database the migration user owns, an empty store
SCRATCH_DB=apf_restore_$$
mu=$(conf_get db_migrate_user)
sql_root -e "CREATE DATABASE \`$SCRATCH_DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
	GRANT ALL ON \`$SCRATCH_DB\`.* TO '$mu'@'localhost'; GRANT ALL ON \`$SCRATCH_DB\`.* TO '$mu'@'127.0.0.1';"
mkdir -p "$T/store2"
conf_with "$T/restore.conf" db_name="$SCRATCH_DB" file_store="$T/store2"
compare() { # compare LABEL: the scratch target against the before state
	db_state "$SCRATCH_DB" > "$T/after.sql"
	store_state "$T/store2" > "$T/after.store"
	diff -q "$T/before.sql" "$T/after.sql" >/dev/null && diff -q "$T/before.store" "$T/after.store" >/dev/null
}
t0=$(date +%s%N)
rs=$("$A" restore "$T/bk" --conf "$T/restore.conf" --json); rc=$?
t1=$(date +%s%N)
echo "    restore: $rs"
echo "    restore took $(((t1 - t0) / 1000000)) ms"
check "restore into an empty target exits 0" test "$rc" -eq 0
check "restored: every table and every object equal to the state at the backup" compare
differs() { ! compare; }
if ! compare; then diff "$T/before.sql" "$T/after.sql" | head -20; diff "$T/before.store" "$T/after.store" | head; fi
check "restore into a target that is not empty is refused without --force" \
	bash -c "! '$A' restore '$T/bk' --conf '$T/restore.conf' 2>/dev/null"
sql_root -e "UPDATE \`$SCRATCH_DB\`.accounts SET name = 'changed after restore' WHERE id = '$aid'"
echo 'an object that no backup had' > "$T/store2/extra-object"
rc=0; "$A" restore "$T/bk" --conf "$T/restore.conf" --force --json >/dev/null || rc=$?
check "restore --force wipes the target and restores again (exit $rc)" test "$rc" -eq 0
check "after --force: every table and every object equal again" compare

# the comparison finds a difference (it can fail)
sql_root -e "UPDATE \`$SCRATCH_DB\`.hubs SET name = CONCAT(name, '!') WHERE id = '$hid'"
check "a changed row is found" differs
sql_root -e "UPDATE \`$SCRATCH_DB\`.hubs SET name = LEFT(name, CHAR_LENGTH(name) - 1) WHERE id = '$hid'"
check "the row changed back: equal again" compare
victim=$(cd "$T/store2" && find . -type f | sort | head -1)
cp "$T/store2/$victim" "$T/victim"
printf 'x' >> "$T/store2/$victim"
check "a changed object is found" differs
rm -f "$T/store2/$victim"
check "a missing object is found" differs
cp -p "$T/victim" "$T/store2/$victim"
check "the object put back: equal again" compare

# a damaged backup is refused before the target is touched
cp -a "$T/bk" "$T/bk-bad"
bvictim=$(cd "$T/bk-bad/store" && find . -type f | sort | head -1)
printf 'x' >> "$T/bk-bad/store/$bvictim"
rc=0; "$A" restore "$T/bk-bad" --conf "$T/restore.conf" --force 2>"$T/bad.err" || rc=$?
check "a backup with a changed object is refused (exit $rc): $(tail -1 "$T/bad.err")" test "$rc" -eq 1
check "... and the target was not touched" compare
cp -a "$T/bk" "$T/bk-bad2"
sed -i '0,/INSERT INTO/s/INSERT INTO/INSERT  INTO/' "$T/bk-bad2/database.sql"
rc=0; "$A" restore "$T/bk-bad2" --conf "$T/restore.conf" --force 2>/dev/null || rc=$?
check "a backup with a changed dump is refused (exit $rc)" test "$rc" -eq 1

echo
echo "admin ops: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
