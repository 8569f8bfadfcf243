#!/usr/bin/env bash
# apf hub-link benchmark, on its own private stack (build/bench-hub-var, free ports, always
# stopped at the end), with apf-hubsim on the stack's real broker:
#
#   A. command round trip: POST /v1/jobs/{id}/pause and /resume alternately on a printing job
#      of a simulated printer (API -> worker -> MQTT -> hub ACK -> response), beside GET
#      /v1/printers/{id}, from one client on one kept-alive HTTPS connection
#      (apf-bench-hubrtt, tests/bench/hub_rtt.c), interleaved; p50/p99 of each and the ratio
#      of the p50s (target: the round trip's p50 at most 3x the GET's).
#   B. telemetry ingestion: N printers (5 per hub, made with apf-admin) reporting status every
#      second for BENCH_SECONDS at time scale 1, per level of BENCH_PRINTERS (the simulator's
#      --status-interval 1000 pins the report interval; heartbeats keep the protocol's 30 s):
#      messages/s sent by the simulator, messages/s ingested (progress of
#      printer_live_status.seq), live-status rows written/s, the backlog (sent but not yet
#      written) and its trend, the drain lag after the last message, CPU per process.
#
#   scripts/bench_hub.sh            (after `make all`; the lead calls it from scripts/bench.sh)
#
# Environment:
#   BENCH_RTT_N       round trips (and GETs) measured (default 300); BENCH_RTT_WARMUP (20)
#   BENCH_SECONDS     telemetry window per level, seconds (default 60)
#   BENCH_PRINTERS    telemetry levels, printers (default "1000 2000 4000"; 5 per hub)
#   BENCH_STATUS_MS   status interval of every printer in B, real ms (default 1000; 100..3600000)
#   BENCH_TIME_SCALE  simulator time scale for B (default 1; it moves the printers' simulated
#                     clock and the heartbeats, not the pinned status interval)
#   BENCH_SHORT=1     quick check: 50 round trips, 10 s, 100 printers
#   BENCH_PARTS       "rtt telemetry" (default both)
#   APF_BIN           binaries (default <repo>/build/bin), copied to build/bench-hub/bin first;
#                     apf-bench-hubrtt is taken from there, else compiled from tests/bench/
#
# Results: build/bench-hub/results.txt (tables), build/bench-hub/raw/ (samples, logs).
# Exit 0 when measured (whatever the figures), 1 when something broke, 3 when requests failed,
# a level never became ready, its messages never drained or hubs reconnected during its window
# (the figures are then incomplete).
set -euo pipefail
shopt -s nullglob

BENCH_NAME=bench-hub
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

if [[ ${BENCH_SHORT:-0} == 1 ]]; then
    RTT_N=${BENCH_RTT_N:-50}; SECS=${BENCH_SECONDS:-10}; LEVELS=${BENCH_PRINTERS:-100}
else
    RTT_N=${BENCH_RTT_N:-300}; SECS=${BENCH_SECONDS:-60}; LEVELS=${BENCH_PRINTERS:-"1000 2000 4000"}
fi
RTT_WARMUP=${BENCH_RTT_WARMUP:-20}
SCALE=${BENCH_TIME_SCALE:-1}
STATUS_MS=${BENCH_STATUS_MS:-1000}
PARTS=${BENCH_PARTS:-"rtt telemetry"}
PER_HUB=5
SAMPLE_S=5
TARGET_RTT_RATIO=3

need_whole RTT_N RTT_WARMUP SECS STATUS_MS
for n in $LEVELS; do [[ $n =~ ^[0-9]+$ && $n -ge $PER_HUB ]] || die "BENCH_PRINTERS: bad level '$n'"; done
[[ $SCALE =~ ^[0-9]+([.][0-9]+)?$ ]] || die "BENCH_TIME_SCALE must be a number"
((STATUS_MS >= 100 && STATUS_MS <= 3600000)) || die "BENCH_STATUS_MS must be 100..3600000"
FRESH_S=$(( (2 * STATUS_MS + 999) / 1000 ))   # a printer is reporting: a row this recent
((FRESH_S >= 3)) || FRESH_S=3
need_programs curl jq awk setsid python3 mariadb sha256sum
need_built apf-admin apf-fcgi apf-worker apf-hubsim

mkdir -p "$OUT"

# a private copy of the binaries: a rebuild in the tree during the run cannot swap them
rm -rf "${OUT:?}/bin"
mkdir -p "$OUT/bin"
for b in apf-admin apf-fcgi apf-worker apf-hubsim apf-bench-hubrtt; do
    if [[ -x $B/$b ]]; then cp -p "$B/$b" "$OUT/bin/" || die "cannot copy $B/$b"; fi
done
export APF_BIN=$OUT/bin
B=$APF_BIN

RTT_BIN=$B/apf-bench-hubrtt
if [[ ! -x $RTT_BIN ]]; then
    say "no apf-bench-hubrtt: compiling tests/bench/hub_rtt.c into $RTT_BIN"
    # shellcheck disable=SC2046  # pkg-config prints several words
    cc -std=c17 -O2 -Wall -Wextra -D_GNU_SOURCE $(pkg-config --cflags libcurl 2>/dev/null) \
        "$REPO/tests/bench/hub_rtt.c" -o "$RTT_BIN" $(pkg-config --libs libcurl 2>/dev/null || echo -lcurl) \
        || die "cannot compile tests/bench/hub_rtt.c"
fi

# ------------------------------------------------------------------------- start / cleanup

declare -a SIM_PIDS=()
# shellcheck disable=SC2317  # called by bench_cleanup (EXIT trap)
bench_stop_own() {
    local p
    for p in "${SIM_PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null || true
            for _ in {1..50}; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$p" 2>/dev/null || true
        fi
        wait "$p" 2>/dev/null || true
    done
}
bench_traps
bench_start_stack
BASE=${C[base_url]}
CACERT=${C[tls_cert]}
STORE=${C[file_store]}
say "stack is up on $BASE"

# ------------------------------------------------------------------------------- helpers

sql() {  # sql STATEMENT: tab-separated rows, no header
    mariadb --defaults-file="$V/mysql/root.cnf" -N -B "${C[db_name]}" -e "$1"
}
uuid() { cat /proc/sys/kernel/random/uuid; }
api() {  # api METHOD PATH [BODY]: body on stdout, status in $RAW/api.status
    local m=$1 p=$2 d=${3:-}
    curl -sS --cacert "$CACERT" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        -X "$m" ${d:+--data "$d"} -o "$RAW/api.body" -w '%{http_code}' --max-time 60 "$BASE$p" \
        > "$RAW/api.status" || echo 000 > "$RAW/api.status"
    cat "$RAW/api.body"
}
api_status() { cat "$RAW/api.status"; }
sim_ctl() {  # sim_ctl SOCKET LINE: the simulator's one-line JSON answer
    python3 "$REPO/scripts/simctl.py" "$1" "$2"
}
start_sim() {  # start_sim NAME SOCKET ARGS...: background simulator, pid appended to SIM_PIDS
    local name=$1 sock=$2; shift 2
    rm -f "$sock"
    setsid "$B/apf-hubsim" --conf "$APF_CONF" --control-socket "$sock" --quiet "$@" \
        > "$RAW/$name.log" 2>&1 < /dev/null &
    SIM_PID=$!
    SIM_PIDS+=("$SIM_PID")
    local i
    for ((i = 0; i < 100; i++)); do [[ -S $sock ]] && return 0; kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.1; done
    cat "$RAW/$name.log" >&2
    die "apf-hubsim ($name) did not open its control socket"
}
stop_sim() {  # stop_sim PID SOCKET: quit (offline presence), then TERM / KILL
    local pid=$1 sock=$2 i
    sim_ctl "$sock" quit > /dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
now_s() { date +%s.%N; }

BAD=0
declare -a REPORT=()
rep() { REPORT+=("$*"); }

# ============================================================== A. command round trip

part_rtt() {
    say "A. round trip: account, key, hub, printer, print file (10 h), simulator"
    local acct hub hubpw printer file ver skey gdir gfile size sha job st i
    acct=$(jget "$(admin_json account create --name "Bench RTT")" id)
    KEY=$(jget "$(admin_json key create --account "$acct" --name bench --scopes read,write,control \
          --rate-limit 1000000)" key)
    local hj; hj=$(admin_json hub create --account "$acct" --name "RTT Hub")
    hub=$(jget "$hj" id); hubpw=$(jget "$hj" mqtt_password)
    printer=$(jget "$(admin_json printer create --account "$acct" --hub "$hub" --name "RTT X1C" \
              --model "X1 Carbon")" id)
    file=$(uuid); ver=$(uuid)
    skey="$acct/$file/rtt-part.gcode"
    gdir="$STORE/$acct/$file"; gfile="$gdir/rtt-part.gcode"
    mkdir -p "$gdir"
    { echo "; generated by scripts/bench_hub.sh"; echo "; estimated printing time (normal mode) = 600m 0s"
      echo "; total layer number: 500"; echo "G28"
      for ((i = 0; i < 200; i++)); do echo "G1 X$i Y$i E0.5"; done; } > "$gfile"
    size=$(stat -c %s "$gfile"); sha=$(sha256sum "$gfile" | cut -d' ' -f1)
    sql "INSERT INTO print_files (id, account_id, name, file_format, storage_key, file_size_bytes,
           sha256, print_time_seconds, filament_weight_grams, filament_type, filament_color,
           printer_model_id, layer_count, metadata_status)
         VALUES ('$file', '$acct', 'rtt-part.gcode', 'gcode', '$skey', $size, '$sha', 36000, 12.5,
           'PLA', '#00AE42', 'BL-P001', 500, 'done');
         INSERT INTO print_file_versions (id, account_id, print_file_id, version_number, storage_key,
           file_size_bytes, sha256, is_current_version)
         VALUES ('$ver', '$acct', '$file', 1, '$skey', $size, '$sha', 1);" \
        || die "cannot insert the print file"

    local sock=$V/run/sim-rtt.sock
    (umask 077; printf '%s %s\n' "$hub" "$hubpw" > "$RAW/hubs-rtt.txt")
    start_sim sim-rtt "$sock" --hub-list "$RAW/hubs-rtt.txt" --time-scale 1
    local rtt_sim=$SIM_PID
    for ((i = 0; i < 300; i++)); do
        [[ $(api GET "/hubs/$hub" | jq -r '.data.is_online and (.data.is_stale | not)') == true ]] && break
        sleep 0.2
    done
    [[ $(api GET "/hubs/$hub" | jq -r '.data.is_online') == true ]] || die "the RTT hub did not come online"
    job=$(api POST /jobs "{\"print_file_id\": \"$file\", \"printer_id\": \"$printer\"}" | jq -r '.data.id // empty')
    [[ -n $job ]] || die "POST /jobs failed: $(cat "$RAW/api.body")"
    api POST "/jobs/$job/start" > /dev/null
    [[ $(api_status) == 200 ]] || die "POST /jobs/$job/start answered $(api_status): $(cat "$RAW/api.body")"
    for ((i = 0; i < 600; i++)); do
        st=$(api GET "/jobs/$job" | jq -r '.data.status')
        [[ $st == printing ]] && break
        sleep 0.2
    done
    [[ $st == printing ]] || die "the job did not reach printing (is $st)"
    say "measuring $RTT_N round trips (+$RTT_WARMUP warm-up), each followed by a GET"
    "$RTT_BIN" --base "$BASE" --cacert "$CACERT" --key "$KEY" --job "$job" --printer "$printer" \
        --n "$RTT_N" --warmup "$RTT_WARMUP" --raw "$RAW/rtt-samples.txt" \
        > "$RAW/rtt.txt" 2> "$RAW/rtt.err" || { cat "$RAW/rtt.err" >&2; die "apf-bench-hubrtt failed"; }
    stop_sim "$rtt_sim" "$sock"
    local a g
    a=$(grep '^action' "$RAW/rtt.txt"); g=$(grep '^get' "$RAW/rtt.txt")
    field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
    local ratio err
    ratio=$(sed -n 's/.*ratio_p50=\([^ ]*\).*/\1/p' "$RAW/rtt.txt")
    err=$(( $(field err "$a") + $(field err "$g") ))
    ((err == 0)) || { BAD=$((BAD + 1)); loud "$err requests of the round-trip run failed (see $RAW/rtt.err)"; }
    local verdict="meets the target (<= ${TARGET_RTT_RATIO}x)"
    awk -v r="$ratio" -v t="$TARGET_RTT_RATIO" 'BEGIN { exit !(r <= t) }' || verdict="ABOVE the target of ${TARGET_RTT_RATIO}x"
    rep "A. Command round trip vs plain read: one client, one kept-alive HTTPS connection, interleaved"
    rep "   $RTT_N of each (+$RTT_WARMUP warm-up); simulator at time scale 1 on the stack's broker"
    rep ""
    rep "$(printf '   %-44s %6s %6s %9s %9s %9s %9s' request n errors 'p50 ms' 'p90 ms' 'p99 ms' 'max ms')"
    rep "$(printf '   %-44s %6s %6s %9s %9s %9s %9s' 'POST /v1/jobs/{id}/pause|resume (hub ACK)' \
          "$(field n "$a")" "$(field err "$a")" "$(field p50_ms "$a")" "$(field p90_ms "$a")" "$(field p99_ms "$a")" "$(field max_ms "$a")")"
    rep "$(printf '   %-44s %6s %6s %9s %9s %9s %9s' 'GET /v1/printers/{id}' \
          "$(field n "$g")" "$(field err "$g")" "$(field p50_ms "$g")" "$(field p90_ms "$g")" "$(field p99_ms "$g")" "$(field max_ms "$g")")"
    rep ""
    rep "   p50 ratio (round trip / GET) = $ratio   $verdict"
    rep "   p99 ratio = $(sed -n 's/.*ratio_p99=\([^ ]*\).*/\1/p' "$RAW/rtt.txt")"
    rep ""
}

# ============================================================== B. telemetry ingestion

TACCT=
HUBLIST=$V/bench-hubs.txt
NHUBS=0
ensure_printers() {  # ensure_printers N: hubs of 5 printers until N printers exist
    local want=$1 hj hid hpw j
    [[ -n $TACCT ]] || TACCT=$(jget "$(admin_json account create --name "Bench Telemetry")" id)
    : >> "$HUBLIST"
    while ((NHUBS * PER_HUB < want)); do
        hj=$(admin_json hub create --account "$TACCT" --name "$(printf 'Tele hub %04d' "$NHUBS")")
        hid=$(jget "$hj" id); hpw=$(jget "$hj" mqtt_password)
        for ((j = 1; j <= PER_HUB; j++)); do
            admin_json printer create --account "$TACCT" --hub "$hid" \
                --name "$(printf 'Tele %04d-%d' "$NHUBS" "$j")" --model "X1 Carbon" > /dev/null
        done
        printf '%s %s\n' "$hid" "$hpw" >> "$HUBLIST"
        NHUBS=$((NHUBS + 1))
    done
}

sim_sums() {  # sim_sums SOCKET [SESSIONS_FILE]: "now_ms status_seq_sum heartbeat_seq_sum
             # connected_hubs" of the simulator; the hubs' session ids into SESSIONS_FILE
    python3 - "$1" "${2:-/dev/null}" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(60)
s.connect(sys.argv[1])
s.sendall(b"status\n")
buf = bytearray()
while not buf.endswith(b"\n"):
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    buf += chunk
st = json.loads(buf)
seq = sum(p["status_seq"] for h in st["hubs"] for p in h["printers"])
hb = sum(h["heartbeat_seq"] for h in st["hubs"])
up = sum(1 for h in st["hubs"] if h["connected"])
with open(sys.argv[2], "w") as f:
    f.write("".join("%s %s\n" % (h["hub_id"], h["session_id"]) for h in st["hubs"]))
print(st["now_ms"], seq, hb, up)
PY
}
now_ms() { date +%s%3N; }
db_seq() {  # "sum_of_seq rows" of the telemetry account's live-status rows
    sql "SELECT IFNULL(SUM(l.seq), 0), COUNT(*) FROM printer_live_status l
         JOIN printers p ON p.id = l.printer_id WHERE p.account_id = '$TACCT'"
}

# One sample: "t_s sim_seq sim_hb db_seq db_rows live_writes hubs_up". The database is read
# just before and just after the simulator; its seq sum is interpolated to the simulator's
# clock, so the backlog (sim_seq - db_seq) is not biased by the time the readings take. The
# hubs' sessions go to $1: a hub that reconnected restarts its printers' seq (figures then
# undercount), so the report names how many did.
SIM_SOCK=$V/run/sim-tele.sock
sample() {
    local a0 a1 b0 b1 d1 d2 r2 sim ts s h up w
    a0=$(now_ms); read -r d1 _ <<<"$(db_seq)"; a1=$(now_ms)
    sim=$(sim_sums "$SIM_SOCK" "$1"); read -r ts s h up <<<"$sim"
    b0=$(now_ms); read -r d2 r2 <<<"$(db_seq)"; b1=$(now_ms)
    w=$(sql "SELECT IFNULL(SUM(ROWS_CHANGED), 0) FROM information_schema.TABLE_STATISTICS
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'printer_live_status'")
    awk -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" -v d1="$d1" -v d2="$d2" -v ts="$ts" \
        -v s="$s" -v h="$h" -v r="$r2" -v w="$w" -v up="$up" 'BEGIN {
            ta = (a0 + a1) / 2; tb = (b0 + b1) / 2
            d = (tb > ta) ? d1 + (d2 - d1) * (ts - ta) / (tb - ta) : d2
            printf "%.3f %d %d %.0f %d %d %d\n", ts / 1000, s, h, d, r, w, up }'
}

declare -a TROWS=()
level() {  # level N
    local n=$1 i hubs_on=0 rows=0
    ensure_printers "$n"
    head -n $((n / PER_HUB)) "$HUBLIST" > "$RAW/hubs-$n.txt"
    local nh=$((n / PER_HUB))
    # a fresh start: rows of the previous level would hold its (higher) seq values, and a row
    # that is not rewritten soon would count as ingested
    sql "DELETE l FROM printer_live_status l JOIN printers p ON p.id = l.printer_id
         WHERE p.account_id = '$TACCT'"
    say "B. $n printers on $nh hubs: starting the simulator (status every $STATUS_MS ms, time scale $SCALE)"
    start_sim "sim-tele-$n" "$SIM_SOCK" --hub-list "$RAW/hubs-$n.txt" --time-scale "$SCALE" \
        --status-interval "$STATUS_MS" --max-printers "$PER_HUB"
    local sim=$SIM_PID
    # ready: every hub online, every printer reporting
    local deadline=$((SECONDS + 180)) ready=0
    while ((SECONDS < deadline)); do
        hubs_on=$(sql "SELECT COUNT(*) FROM hubs WHERE account_id = '$TACCT' AND is_online = 1")
        rows=$(sql "SELECT COUNT(*) FROM printer_live_status l JOIN printers p ON p.id = l.printer_id
                    WHERE p.account_id = '$TACCT' AND l.received_at > NOW(3) - INTERVAL $FRESH_S SECOND")
        if ((hubs_on >= nh && rows >= n)); then ready=1; break; fi
        sleep 1
    done
    local note=""
    if ((!ready)); then
        note="not ready: $hubs_on/$nh hubs online, $rows/$n printers written in the last $FRESH_S s after 180 s"
        BAD=$((BAD + 1)); loud "$n printers: $note (measuring anyway)"
    fi
    sleep 3   # settle
    local wpid mpid dpid
    wpid=$(pid_of apf-worker-1); mpid=$(pid_of mosquitto); dpid=$(pid_of mariadb)
    local c0w c0m c0d c0s c1w c1m c1d c1s
    c0w=$(ticks "$wpid"); c0m=$(ticks "$mpid"); c0d=$(ticks "$dpid"); c0s=$(ticks "$sim")
    local samples=$RAW/samples-$n.txt
    : > "$samples"
    local end
    end=$(awk -v a="$(now_s)" -v s="$SECS" 'BEGIN { printf "%.3f", a + s }')
    sample "$RAW/sessions-$n-first.txt" >> "$samples"
    local nsamples=1   # at least two samples, even when BENCH_SECONDS < one sample interval
    while ((nsamples < 2)) ||
        awk -v a="$(now_s)" -v e="$end" 'BEGIN { exit !(a + '"$SAMPLE_S"' <= e + 0.5) }'; do
        sleep "$SAMPLE_S"
        sample "$RAW/sessions-$n-last.txt" >> "$samples"
        nsamples=$((nsamples + 1))
    done
    local reconn
    reconn=$(sort "$RAW/sessions-$n-first.txt" | comm -13 - <(sort "$RAW/sessions-$n-last.txt") | wc -l)
    c1w=$(ticks "$wpid"); c1m=$(ticks "$mpid"); c1d=$(ticks "$dpid"); c1s=$(ticks "$sim")
    # drain: stop sending, wait until every last message is written
    local final tstop drain=-1 dseq _r
    sim_ctl "$SIM_SOCK" "silent on" > /dev/null
    tstop=$(now_s)
    read -r _ final _ _ <<<"$(sim_sums "$SIM_SOCK")"
    for ((i = 0; i < 600; i++)); do
        read -r dseq _r <<<"$(db_seq)"
        if ((dseq >= final)); then
            drain=$(awk -v a="$tstop" -v b="$(now_s)" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
            break
        fi
        sleep 0.1
    done
    local missing=$((final - dseq))
    stop_sim "$sim" "$SIM_SOCK"
    # an incomplete level is a bad run, whatever its figures say
    local what=()
    ((drain >= 0)) || what+=("messages never drained: $missing seq units missing after 60 s")
    ((reconn == 0)) || what+=("$reconn hub(s) reconnected during the window")
    for w in "${what[@]}"; do
        BAD=$((BAD + 1)); loud "$n printers: $w"
        note="${note:+$note; }$w"
    done
    # figures from the first and last sample
    local el cpu_w cpu_m cpu_d cpu_s
    el=$(awk 'NR == 1 { a = $1 } { b = $1 } END { print b - a }' "$samples")
    cpu_w=$(cpu_pct "$c0w" "$c1w" "$el"); cpu_m=$(cpu_pct "$c0m" "$c1m" "$el")
    cpu_d=$(cpu_pct "$c0d" "$c1d" "$el"); cpu_s=$(cpu_pct "$c0s" "$c1s" "$el")
    local fig
    fig=$(awk -v n="$n" '
        NR == 1 { t0 = $1; s0 = $2; h0 = $3; d0 = $4; w0 = $6 }
        { t = $1; s = $2; h = $3; d = $4; w = $6
          back[NR] = s - d }
        END {
            el = t - t0
            sent = (s - s0) / el; ing = (d - d0) / el; wr = (w - w0) / el; hb = (h - h0) / el
            # backlog = messages sent but not yet reflected in printer_live_status.seq
            b1 = back[1]; bn = back[NR]; bmax = 0
            for (i = 1; i <= NR; i++) if (back[i] > bmax) bmax = back[i]
            lag1 = (sent > 0 ? b1 / sent : 0); lagn = (sent > 0 ? bn / sent : 0)
            grows = (lagn - lag1 > 1.0 && bn > 1.5 * b1) ? "GROWS" : "steady"
            printf "%.0f %.0f %.0f %.0f %.0f %.0f %.2f %.2f %s", sent, ing, wr, hb, b1, bn, lag1, lagn, grows
        }' "$samples")
    read -r sent ing wr hb b1 bn lag1 lagn grows <<<"$fig"
    TROWS+=("$(printf '%7s %5s %8s %9s %9s %7s %8s %8s %7s %7s %7s %6s %7s %5s %5s %5s %5s' \
        "$n" "$nh" "$sent" "$ing" "$wr" "$hb" "$bn" "$lagn" "$grows" \
        "$([[ $drain -ge 0 ]] && echo "$drain" || echo never)" "$missing" "$reconn" \
        "$(awk -v a="$wr" -v b="$sent" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }')" \
        "$cpu_w" "$cpu_m" "$cpu_d" "$cpu_s")")
    [[ -z $note ]] || TROWS+=("        ^ $note")
    say "  $n printers: sent $sent msg/s, ingested $ing msg/s, rows $wr/s, backlog $b1 -> $bn ($lag1 s -> $lagn s, $grows), drain ${drain} ms"
    # let the worker finish what is left before the next level
    sleep 2
}

part_telemetry() {
    local n
    sql "SET GLOBAL userstat = 1"   # rows/s: per-table row counts (multi-row statements)
    for n in $LEVELS; do level "$n"; done
    rep "B. Telemetry ingestion: every printer reports status every $STATUS_MS ms ($SECS s window per level;"
    rep "   simulator --status-interval $STATUS_MS at time scale $SCALE; each hub's heartbeat every 30 simulated s)."
    rep "   5 printers per hub; all on this machine ($(nproc) CPUs)."
    rep ""
    rep "$(printf '%7s %5s %8s %9s %9s %7s %8s %8s %7s %7s %7s %6s %7s %5s %5s %5s %5s' \
        printers hubs 'sent/s' 'ingest/s' 'rows/s' 'hb/s' backlog 'lag s' trend 'drain' 'never' \
        reconn 'rows%' 'wrk%' 'mq%' 'db%' 'sim%')"
    for n in "${TROWS[@]}"; do rep "$n"; done
    rep ""
    rep "   sent/s     status messages the simulator published (sum of its per-printer seq)"
    rep "   ingest/s   progress of printer_live_status.seq (messages accounted for: a row carries the latest"
    rep "              seq, so messages merged in one batch or lost in between are counted too)"
    rep "   rows/s     live-status rows written (MariaDB TABLE_STATISTICS.ROWS_CHANGED, userstat on)"
    rep "   backlog    messages sent but not yet in printer_live_status at the last sample; lag s = backlog / sent/s"
    rep "   trend      GROWS when the lag rose by more than 1 s over the window"
    rep "   drain      ms from the simulator going silent until every printer's last message was written"
    rep "   never      seq units still missing after 60 s (last messages lost)"
    rep "   reconn     hubs whose session changed during the window (their seq restarted: seq figures undercount)"
    rep "   rows%      rows/s as a share of sent/s"
    rep "   wrk% mq% db% sim%  CPU of apf-worker, mosquitto, MariaDB, apf-hubsim (% of one core)"
    rep ""
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for p in $PARTS; do
    case $p in
        rtt) part_rtt ;;
        telemetry) part_telemetry ;;
        *) die "BENCH_PARTS: unknown part $p" ;;
    esac
done

{
    echo "apf hub-link benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load before: $LOAD_BEFORE"
    echo
    for l in "${REPORT[@]}"; do echo "$l"; done
    if ((BAD > 0)); then echo "!!! $BAD problem(s) during the run: see above; figures incomplete !!!"; fi
} > "$OUT/results.txt"
echo
cat "$OUT/results.txt"
say "written to $OUT/results.txt; samples and logs in $RAW/"
((BAD == 0)) || exit 3
exit 0
