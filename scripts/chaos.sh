#!/usr/bin/env bash
# Chaos campaign on the scale-out topology (docs/scale-out.md, "Chaos campaign"): `make chaos`.
#
# scripts/cluster.sh up (or the cluster that is up, APF_CHAOS_REUSE=1); test data; a steady load
# from the sim host (reads straight to api1 and api2, job lifecycles and order fulfilment
# through the lb, the simulator's telemetry of every printer); then one fault at a time, each
# followed by its recovery and its checks:
#   galera-kill   kill -9 the Galera writer (db1); restarted 5 s later (wsrep position recovered)
#   galera-cut    db1 cut off by nftables (every packet in and out of its eth0) for 60 s
#   fcgi-kill     kill -9 every apf-fcgi process of api1; restarted 2 s later (RestartSec=2)
#   worker-stop   SIGSTOP every apf-worker of the worker host holding the MQTT link, 60 s
#   broker-kill   kill -9 the broker of the link holder's host (mq1 or mq2); restarted 5 s later
#   store-kill    kill -9 the GlusterFS brick (glusterfsd) of db1; `volume start force` 20 s later
# One table row per fault (and one for the baseline before any fault): requests failed and
# when, hub commands left pending, jobs disagreeing with their printer, stock moves doubled or
# lost, requests allowed beyond a key's limit, time to full recovery. The table is printed at
# the end and written to build/chaos/results.txt; raw records under build/chaos/raw/.
# The cluster is always taken down at the end (trap), unless APF_CHAOS_KEEP=1.
#
# Exit 0 only when every row is clean: no request failed outside the fault's window (from the
# fault until the cluster is fully recovered), nothing pending 30 s after recovery, no job
# disagreeing with its printer, nothing doubled or lost, the limit exact, recovered in time.
#
# Environment:
#   APF_CHAOS_REUSE=1      use the cluster that is up (its simulators need a control socket)
#   APF_CHAOS_KEEP=1       leave the cluster up at the end (development only)
#   APF_CHAOS_FAULTS       faults to run, in order (default: all six, as above)
#   APF_CHAOS_HOLD         seconds a cut / stop lasts (default 60)
#   APF_CHAOS_RECOVERY_MAX seconds after the fault's end within which it must recover (default 120)
#   APF_CHAOS_RATE         the rate-limit check key's limit per minute (default 20)
#   plus scripts/cluster.sh's (APF_CLUSTER_DIR, APF_BIN, APF_CLUSTER_NET ...)
# Needs root and /dev/fuse (as scripts/cluster.sh).
set -uo pipefail

# =========================================================================== load generator
# scripts/chaos.sh _load KIND NAME [ARGS...]: one loop of the load, run inside the sim host's
# namespace by the campaign; one record per request in $RAW/load-NAME.log:
#   START_MS END_MS VIA KIND HTTP_STATUS ERROR_CODE
# (status 000: no answer within curl's --max-time, or the connection failed). Ends when the
# file $RUN/stop appears.
if [[ ${1:-} == _load ]]; then
    shift
    # shellcheck source=/dev/null
    source "$CHAOS_ENV"
    kind=$1 name=$2; shift 2
    LOG=$RAW/load-$name.log
    now_ms() { local t=${EPOCHREALTIME/./}; printf '%s' "${t:0:13}"; }
    CODE= BODY=
    rq() {  # rq VIA KIND METHOD PATH [JSON] [MAXTIME]: sets CODE and BODY, records the request
        local via=$1 k=$2 m=$3 p=$4 d=${5:-} mt=${6:-10} url extra=() t0 t1 out ec
        case $via in
            lb) url=https://$LB$p ;;
            api1) url=https://$API1$p; extra=(--haproxy-protocol) ;;
            api2) url=https://$API2$p; extra=(--haproxy-protocol) ;;
        esac
        [[ -n $d ]] && extra+=(-H 'Content-Type: application/json' -d "$d")
        t0=$(now_ms)
        out=$(curl -sk --max-time "$mt" -X "$m" -H "Authorization: Bearer $KEY" "${extra[@]}" \
              -w '\n%{http_code}' "$url" 2>/dev/null)
        t1=$(now_ms)
        CODE=${out##*$'\n'}
        BODY=${out%$'\n'*}
        [[ $CODE =~ ^[0-9]{3}$ ]] || CODE=000
        ec=-
        if [[ $CODE != 2* ]]; then
            ec=$(jq -r '.code // "-"' <<<"$BODY" 2>/dev/null) || ec=-
            [[ -n $ec ]] || ec=-
        fi
        printf '%s %s %s %s %s %s\n' "$t0" "$t1" "$via" "$k" "$CODE" "$ec" >> "$LOG"
    }
    running() { [[ ! -e $RUN/stop ]]; }
    nap() { sleep "$1"; }

    case $kind in
    reads)  # reads VIA PRINTER: a list, a printer's live status, the jobs' counts, in turn
        via=$1 p=$2 i=0
        while running; do
            case $((i++ % 3)) in
                0) rq "$via" read GET "/v1/printers?limit=20" ;;
                1) rq "$via" read GET "/v1/printers/$p/status" ;;
                2) rq "$via" read GET /v1/jobs/stats ;;
            esac
            nap 0.25
        done ;;
    jobs)  # jobs PRINTER...: job lifecycles on these printers in turn, through the lb:
           # enqueue, start, (the hub prints) pause, resume, the simulator completes it
        printers=("$@") i=0
        while running; do
            p=${printers[i++ % ${#printers[@]}]}
            rq lb job POST /v1/jobs "{\"print_file_id\":\"$FILE_ID\",\"printer_id\":\"$p\",\"product_sku_id\":\"$SKU1\"}"
            if [[ $CODE != 201 ]]; then nap 1; continue; fi
            job=$(jq -r '.data.id' <<<"$BODY")
            printf '%s %s created\n' "$(now_ms)" "$job" >> "$RAW/jobs-$name.log"
            paused=0 resumed=0 st=queued deadline=$((SECONDS + 120))
            while running && ((SECONDS < deadline)); do
                rq lb job GET "/v1/jobs/$job"
                [[ $CODE == 200 ]] && st=$(jq -r '.data.status' <<<"$BODY")
                [[ $CODE == 200 ]] || { nap 0.5; continue; }
                case $st in
                    queued) rq lb job POST "/v1/jobs/$job/start" '{}' 30
                            [[ $CODE == 200 ]] || nap 1 ;;
                    printing) if ((paused == 0)); then
                                  rq lb job POST "/v1/jobs/$job/pause" '{}' 30
                                  [[ $CODE == 200 ]] && paused=1
                              else nap 0.5; fi ;;
                    paused) nap 0.5
                            rq lb job POST "/v1/jobs/$job/resume" '{}' 30
                            [[ $CODE == 200 ]] && resumed=1 ;;
                    completed|failed|cancelled) break ;;
                    *) nap 0.5 ;;
                esac
            done
            printf '%s %s %s paused=%s resumed=%s\n' "$(now_ms)" "$job" "$st" "$paused" "$resumed" >> "$RAW/jobs-$name.log"
        done ;;
    orders)  # orders: an order of one unit, then its fulfilment through the lb; a fulfilment
             # without an answer is sent again until one comes (200, or 400 already fulfilled)
        i=0
        while running; do
            sku=$SKU1; ((i++ % 2)) && sku=$SKU2
            code=CH-1; [[ $sku == "$SKU2" ]] && code=CH-2
            rq lb order POST /v1/orders "{\"customer_name\":\"Chaos $i\",\"items\":[{\"sku\":\"$code\",\"product_name\":\"Chaos widget\",\"quantity\":1,\"unit_price\":1000,\"product_sku_id\":\"$sku\"}]}"
            if [[ $CODE != 201 ]]; then nap 1; continue; fi
            oid=$(jq -r '.data.id' <<<"$BODY")
            outcome=none
            for ((a = 0; a < 40; a++)); do
                [[ $outcome == none ]] || break
                rq lb order POST "/v1/orders/$oid/fulfill" '{}'
                case $CODE in
                    200) outcome=fulfilled ;;
                    400) [[ $BODY == *ORDER_ALREADY_FULFILLED* ]] && outcome=already || outcome=refused ;;
                    *) running || break; nap 0.5 ;;
                esac
            done
            printf '%s %s %s\n' "$(now_ms)" "$oid" "$outcome" >> "$RAW/orders.log"
            nap 0.3
        done ;;
    esac
    exit 0
fi

# ============================================================================= the campaign

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
CSH=$ROOT/scripts/cluster.sh
# cluster.sh's helpers (hspawn, start_db, gl, hpid, cluster_sql, inns, ip_of, ...) and its
# settings (CL, B, NET, NHUBS); its commands run as a program ("$CSH" up/down/status)
# shellcheck source=scripts/cluster.sh
source "$CSH"
set +e
shopt -u nullglob

OUT=$ROOT/build/chaos
RAW=$OUT/raw
RUN=$OUT/run
HOLD=${APF_CHAOS_HOLD:-60}
RECOVERY_MAX=${APF_CHAOS_RECOVERY_MAX:-120}
RATE=${APF_CHAOS_RATE:-20}
read -r -a FAULTS <<<"${APF_CHAOS_FAULTS:-galera-kill galera-cut fcgi-kill worker-stop broker-kill store-kill}"
PENDING_AFTER=30     # hub commands still not final this long after recovery: left pending
FAILOVER_GOAL=10     # seconds: the goal for the span of failed requests
T_START=$SECONDS
export APF_CLUSTER_SIM_ARGS=${APF_CLUSTER_SIM_ARGS:---time-scale 10 --pin-intervals}

say()  { printf '%s chaos: %s\n' "$(date +%T)" "$*"; }
die()  { printf 'chaos: ERROR: %s\n' "$*" >&2; exit 1; }
now_ms() { local t=${EPOCHREALTIME/./}; printf '%s' "${t:0:13}"; }

[[ $(id -u) == 0 ]] || die "needs root (scripts/cluster.sh)"
for t in curl jq python3 nft nsenter; do command -v "$t" >/dev/null || die "missing: $t"; done
[[ $RATE =~ ^[0-9]+$ && $RATE -ge 1 ]] || die "APF_CHAOS_RATE must be a whole number >= 1"
for f in "${FAULTS[@]}"; do
    case $f in galera-kill|galera-cut|fcgi-kill|worker-stop|broker-kill|store-kill) ;;
        *) die "unknown fault '$f'" ;; esac
done

# ------------------------------------------------------------------- lock, cleanup, cluster

exec 9> /run/apf-cluster.lock
say "waiting for /run/apf-cluster.lock (another cluster run may hold it)"
flock -w 3600 9 || die "another cluster run holds /run/apf-cluster.lock"
export APF_CLUSTER_LOCKED=1

LOAD_PIDS=()
CUT_HOST=
STOPPED_PIDS=()
UP_DONE=0
stop_load() {
    mkdir -p "$RUN" && touch "$RUN/stop"
    local p
    for p in "${LOAD_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    LOAD_PIDS=()
}
finish() {
    local rc=$?
    trap '' INT TERM HUP
    stop_load
    # a fault left in place by an interruption
    [[ -n $CUT_HOST ]] && inns "$CUT_HOST" nft delete table inet chaos 2>/dev/null
    ((${#STOPPED_PIDS[@]})) && kill -CONT "${STOPPED_PIDS[@]}" 2>/dev/null
    if [[ ${APF_CHAOS_KEEP:-0} == 1 ]]; then
        say "APF_CHAOS_KEEP=1: the cluster stays up (scripts/cluster.sh down)"
    elif ((UP_DONE)); then
        "$CSH" down > "$RAW/cluster-down.log" 2>&1 || { cat "$RAW/cluster-down.log" >&2; rc=1; }
        say "cluster down: $(tail -1 "$RAW/cluster-down.log")"
    fi
    say "total $((SECONDS - T_START)) s"
    exit "$rc"
}
trap finish EXIT
trap 'exit 1' INT TERM HUP

rm -rf "$RAW" "$RUN"
mkdir -p "$RAW" "$RUN"
UP_DONE=1
if [[ ${APF_CHAOS_REUSE:-0} == 1 ]] && "$CSH" status > "$RAW/status-before.txt" 2>&1; then
    say "reusing the cluster that is up"
else
    say "cluster up (simulators: $APF_CLUSTER_SIM_ARGS)"
    t=$SECONDS
    "$CSH" up > "$RAW/cluster-up.log" 2>&1 || { tail -40 "$RAW/cluster-up.log" >&2; die "scripts/cluster.sh up failed"; }
    say "cluster is up in $((SECONDS - t)) s"
fi
for b in mq1 mq2; do
    [[ -S $CL/sim/run/hubsim-$b.ctl ]] || die "no control socket $CL/sim/run/hubsim-$b.ctl (a cluster made before it: take it down)"
done

KEY=$(jq -r .key "$CL/cluster.json")
AID=$(jq -r .account_id "$CL/cluster.json")
LB=$(ip_of lb)
sql() { cluster_sql "$1"; }
admin_on() { local h=$1; shift; inns "$h" env APF_CONF="$CL/$h/apf.conf" "$B/apf-admin" "$@" 9>&-; }

# one HTTPS request from the sim host (CODE, BODY); straight to an API host with the PROXY header
CODE= BODY=
req() {  # req VIA METHOD PATH [JSON] [KEY]
    local via=$1 m=$2 p=$3 d=${4:-} k=${5:-$KEY} url extra=() out
    case $via in
        lb) url=https://$LB$p ;;
        api1|api2) url=https://$(ip_of "$via")$p; extra=(--haproxy-protocol) ;;
    esac
    [[ -n $d ]] && extra+=(-H 'Content-Type: application/json' -d "$d")
    out=$(inns sim curl -sk --max-time 20 -X "$m" -H "Authorization: Bearer $k" "${extra[@]}" \
          -w '\n%{http_code}' "$url" 2>/dev/null)
    CODE=${out##*$'\n'} BODY=${out%$'\n'*}
}
api_id() {  # api_id VIA METHOD PATH JSON: .data.id of a 201, or die
    req "$@"
    [[ $CODE == 201 || $CODE == 200 ]] || die "$2 $3 answered $CODE: ${BODY:0:300}"
    jq -r '.data.id' <<<"$BODY"
}

# ----------------------------------------------------------------------------- test data

say "test data: a product with two SKUs (ready stock 100000 each), a print file, rate-limit keys"
PRODUCT=$(api_id lb POST /v1/products '{"name":"Chaos widget","category":"Chaos"}')
SKU1=$(api_id lb POST "/v1/products/$PRODUCT/skus" '{"sku":"CH-1","color":"Black","hex_code":"#000000","filament_type":"PLA","stock_level":0}')
SKU2=$(api_id lb POST "/v1/products/$PRODUCT/skus" '{"sku":"CH-2","color":"Red","hex_code":"#C0392B","filament_type":"PLA","stock_level":0}')
for s in "$SKU1" "$SKU2"; do
    fg=$(sql "SELECT id FROM finished_goods WHERE account_id = '$AID' AND product_sku_id = '$s'")
    [[ -n $fg ]] || die "no finished good for SKU $s"
    req lb POST "/v1/inventory/$fg/adjust" '{"adjustment":100000,"reason":"inventory_count","notes":"chaos opening stock"}'
    [[ $CODE == 200 ]] || die "adjust $fg: $CODE ${BODY:0:300}"
done
# the print file: a row and its object in the GlusterFS volume (written through api1's mount);
# 120 s of printing, i.e. 12 s at the simulators' time scale 10
FILE_ID=$(cat /proc/sys/kernel/random/uuid) FILE_VER=$(cat /proc/sys/kernel/random/uuid)
SKEY=$AID/$FILE_ID/chaos-part.gcode
mkdir -p "$CL/api1/files/$AID/$FILE_ID"
{ echo "; written by scripts/chaos.sh"; echo "; estimated printing time (normal mode) = 2m 0s"
  echo "; total layer number: 20"; echo "G28"
  for ((i = 0; i < 100; i++)); do echo "G1 X$i Y$i E0.5"; done; } > "$CL/api1/files/$SKEY"
fsize=$(stat -c %s "$CL/api1/files/$SKEY"); fsha=$(sha256sum "$CL/api1/files/$SKEY" | cut -d' ' -f1)
sql "INSERT INTO print_files (id, account_id, name, file_format, storage_key, file_size_bytes, sha256,
       print_time_seconds, filament_weight_grams, filament_type, filament_color, printer_model_id,
       layer_count, metadata_status)
     VALUES ('$FILE_ID', '$AID', 'chaos-part.gcode', 'gcode', '$SKEY', $fsize, '$fsha', 120, 5,
       'PLA', '#000000', 'BL-P001', 20, 'done');
     INSERT INTO print_file_versions (id, account_id, print_file_id, version_number, storage_key,
       file_size_bytes, sha256, is_current_version)
     VALUES ('$FILE_VER', '$AID', '$FILE_ID', 1, '$SKEY', $fsize, '$fsha', 1)" \
    || die "cannot insert the print file"
# printers: 8 for the job lifecycles (4 hubs of each broker), one per broker for the recovery
# probe (hub commands), one for the writes, one for the reads
mapfile -t PM1 < <(jq -r '[.printers[] | select(.broker == "mq1")] | .[range(0; length; 5)].id' "$CL/cluster.json")
mapfile -t PM2 < <(jq -r '[.printers[] | select(.broker == "mq2")] | .[range(0; length; 5)].id' "$CL/cluster.json")
((${#PM1[@]} >= 6 && ${#PM2[@]} >= 6)) || die "need 6 hubs on each broker (APF_CLUSTER_HUBS >= 12)"
JOB_PRINTERS=("${PM1[@]:0:4}" "${PM2[@]:0:4}")
PROBE1=${PM1[4]} PROBE2=${PM2[4]} WPRINTER=${PM1[5]} RPRINTER=${PM2[5]}
declare -A RKEY=()
for f in baseline "${FAULTS[@]}"; do
    RKEY[$f]=$(admin_on api1 key create --account "$AID" --name "chaos rate $f" --scopes read \
               --rate-limit "$RATE" --json | jq -r .key)
    [[ -n ${RKEY[$f]} && ${RKEY[$f]} != null ]] || die "cannot create the rate-limit key for $f"
done

# ---------------------------------------------------------------------------------- load

CHAOS_ENV=$RUN/load.env
(umask 077; cat > "$CHAOS_ENV" <<EOF
KEY=$KEY
LB=$LB
API1=$(ip_of api1)
API2=$(ip_of api2)
RAW=$RAW
RUN=$RUN
FILE_ID=$FILE_ID
SKU1=$SKU1
SKU2=$SKU2
EOF
)
export CHAOS_ENV
load() {  # load KIND NAME ARGS...: one loop in the sim host's namespace
    inns sim setsid "$ROOT/scripts/chaos.sh" _load "$@" < /dev/null 9>&- &
    LOAD_PIDS+=($!)
}
say "load: reads on api1 and api2, 4 job lifecycle loops (8 printers), orders; telemetry of $((NHUBS * 5)) printers"
load reads reads-api1 api1 "$RPRINTER"
load reads reads-api2 api2 "$RPRINTER"
load jobs jobs-a "${JOB_PRINTERS[0]}" "${JOB_PRINTERS[4]}"
load jobs jobs-b "${JOB_PRINTERS[1]}" "${JOB_PRINTERS[5]}"
load jobs jobs-c "${JOB_PRINTERS[2]}" "${JOB_PRINTERS[6]}"
load jobs jobs-d "${JOB_PRINTERS[3]}" "${JOB_PRINTERS[7]}"
load orders orders

# ------------------------------------------------------------------------------- checks

status_ok() {  # scripts/cluster.sh status all well, read strictly
    local st
    st=$("$CSH" status 2>&1) || { LAST_STATUS=$st; return 1; }
    LAST_STATUS=$st
    grep -q 'DOWN\|EXPIRED\|not answering' <<<"$st" && return 1
    [[ $(grep -c 'wsrep Synced, cluster size 3, Primary' <<<"$st") == 3 ]] || return 1
    [[ $(grep -c 'brick online' <<<"$st") == 3 ]] || return 1
    grep -q 'bridge to mq1 connected' <<<"$st" || return 1
    grep -q 'holds the MQTT link' <<<"$st" || return 1
    grep -q "printers reporting: $NHUBS $((NHUBS * 5)) of" <<<"$st" || return 1
}
status_problem() {  # what of the strict status is not well yet, in a few words
    local st=$LAST_STATUS
    awk '$3 == "DOWN" { printf "%s %s DOWN; ", $1, $2 }' <<<"$st"
    grep -E '^lb ' <<<"$st" | grep -q 'galera:.*DOWN' && printf 'lb: %s; ' "$(grep -E '^lb ' <<<"$st" | grep -o 'galera:.*')"
    [[ $(grep -c 'wsrep Synced, cluster size 3, Primary' <<<"$st") == 3 ]] || printf 'galera not 3 x Synced; '
    [[ $(grep -c 'brick online' <<<"$st") == 3 ]] || printf 'a brick offline; '
    grep -q 'bridge to mq1 connected' <<<"$st" || printf 'bridge down; '
    grep -q 'holds the MQTT link' <<<"$st" || printf 'no link holder; '
    grep -q "printers reporting: $NHUBS $((NHUBS * 5)) of" <<<"$st" \
        || printf 'hubs online: %s; ' "$(grep -o 'printers reporting: [0-9]* [0-9]*' <<<"$st" | awk '{print $3}')"
}
write_ok() {  # write_ok API_HOST: a write straight through it
    req "$1" PATCH "/v1/printers/$WPRINTER" "{\"location\":\"chaos $1 $RANDOM\"}"
    [[ $CODE == 200 ]]
}
command_ok() {  # command_ok PRINTER: an awaited hub command through the lb
    req lb POST "/v1/printers/$1/temperature" "{\"heater\":\"bed\",\"temperature\":$((30 + RANDOM % 30))}"
    [[ $CODE == 200 ]]
}
LAST_STATUS= LAST_PROBE=
recovered() {
    status_ok || { LAST_PROBE="status: $(status_problem)"; return 1; }
    write_ok api1 || { LAST_PROBE="write api1 $CODE"; return 1; }
    write_ok api2 || { LAST_PROBE="write api2 $CODE"; return 1; }
    command_ok "$PROBE1" || { LAST_PROBE="command mq1 $CODE"; return 1; }
    command_ok "$PROBE2" || { LAST_PROBE="command mq2 $CODE"; return 1; }
}
wait_recovered() {  # sets RECOVERED_MS (0 = not within RECOVERY_MAX)
    local t0=$SECONDS
    RECOVERED_MS=0
    while ((SECONDS - t0 < RECOVERY_MAX)); do
        if recovered; then RECOVERED_MS=$(now_ms); return 0; fi
        printf '%s %s not recovered: %s\n' "$(date +%T.%3N)" "$PHASE" "$LAST_PROBE" >> "$RAW/recovery.log"
        sleep 1
    done
    say "not recovered within ${RECOVERY_MAX}s: last failing probe: $LAST_PROBE"
    printf '%s\n' "$LAST_STATUS" | sed 's/^/    /'
    return 1
}

# rate limit: 3 x RATE requests of one key (limit RATE per minute), split over api1 and api2,
# within one minute window (the window is the UTC minute, rate_windows.window_start)
rate_check() {  # rate_check FAULT: sets RATE_RESULT "ok200/sent" and RATE_BAD (1 = wrong)
    local f=$1 sec urls=() i out n200 n429 nother m0 m1 left
    sec=$(date +%S); sec=${sec#0}
    if ((sec > 40)); then sleep $((61 - sec)); fi
    m0=$(date +%Y%m%d%H%M); sec=$(date +%S); sec=${sec#0}; left=$((59 - sec))
    for ((i = 0; i < 3 * RATE; i++)); do
        if ((i % 2)); then urls+=("https://$(ip_of api2)/v1/jobs/stats"); else urls+=("https://$(ip_of api1)/v1/jobs/stats"); fi
        urls+=(-o /dev/null)
    done
    out=$(inns sim curl -sk --haproxy-protocol --parallel --parallel-max 6 --max-time "$left" \
          -H "Authorization: Bearer ${RKEY[$f]}" -w '%{http_code}\n' "${urls[@]}" 2>/dev/null)
    m1=$(date +%Y%m%d%H%M)
    n200=$(grep -c '^200$' <<<"$out"); n429=$(grep -c '^429$' <<<"$out")
    nother=$((3 * RATE - n200 - n429))
    RATE_RESULT="$n200/$((3 * RATE))"
    ((nother)) && RATE_RESULT+=" ($nother failed)"
    RATE_BAD=0
    if [[ $m0 != "$m1" ]]; then RATE_RESULT+=" window crossed"; RATE_BAD=1
    elif ((n200 > RATE)); then RATE_BAD=1
    elif ((n200 < RATE && nother == 0)); then RATE_BAD=1
    fi
    echo "$f $RATE_RESULT (limit $RATE) 200=$n200 429=$n429 other=$nother" >> "$RAW/rate.log"
}

# hub commands of the cluster not final PENDING_AFTER s after their issue
pending_count() {
    sql "SELECT COUNT(*) FROM hub_commands WHERE status IN ('pending', 'sent')
           AND issued_at < NOW(3) - INTERVAL $PENDING_AFTER SECOND"
}

# Jobs vs printers. DB side: every job of the account in printing or paused, with its printer's
# stored status; simulator side: each printer's state and job (control `status` of both).
# Disagreements: (a) a printing/paused job whose printer reports another job or none, or the
# other of the two states; (b) a printing/paused job whose printer's stored status differs
# from the job's; (c) a printer reporting a job the database holds completed, failed, cancelled
# or queued. Only those present in three snapshots 3 s apart count (a report on its way).
sim_status() {
    local b
    for b in mq1 mq2; do
        python3 "$ROOT/scripts/simctl.py" "$CL/sim/run/hubsim-$b.ctl" status \
            | jq -r '.hubs[].printers[] | "\(.printer_id) \(.state // "-") \(.job_id // "-")"'
    done
}
disagreements_once() {  # one snapshot: one line per disagreement
    local dbjobs simp
    dbjobs=$(sql "SELECT j.id, j.status, j.printer_id, IFNULL(p.status, '-') FROM print_jobs j
                  LEFT JOIN printers p ON p.id = j.printer_id
                  WHERE j.account_id = '$AID' AND j.status IN ('printing', 'paused')")
    simp=$(sim_status)
    local reported
    reported=$(awk '$3 != "-" { print $3 }' <<<"$simp" | sort -u | tr '\n' ',' | sed "s/,\$//; s/,/','/g")
    local final=""
    [[ -n $reported ]] && final=$(sql "SELECT id, status FROM print_jobs WHERE id IN ('$reported')
                                       AND status IN ('completed', 'failed', 'cancelled', 'queued')")
    python3 - <(printf '%s\n' "$dbjobs") <(printf '%s\n' "$simp") <(printf '%s\n' "$final") <<'PY'
import sys
db = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l.strip()]
sim = {}
for l in open(sys.argv[2]).read().splitlines():
    f = l.split()
    if len(f) == 3:
        sim[f[0]] = (f[1], f[2])
final = [l.split("\t") for l in open(sys.argv[3]).read().splitlines() if l.strip()]
for job, st, printer, pst in db:
    s = sim.get(printer)
    if s is None:
        print(f"a {job} {st}: printer {printer} not in the simulators")
    elif s[1] != job or s[0] != st:
        print(f"a {job} {st}: printer {printer} reports {s[0]} job {s[1]}")
    if pst != st:
        print(f"b {job} {st}: printer {printer} stored as {pst}")
for job, st in final:
    who = [p for p, s in sim.items() if s[1] == job]
    print(f"c {job} {st}: printer {','.join(who)} reports it")
PY
}
disagreements() {  # the count of disagreements present in three snapshots 3 s apart
    local a b c
    a=$(disagreements_once | sort); sleep 3
    b=$(disagreements_once | sort); sleep 3
    c=$(disagreements_once | sort)
    DISAGREE=$(comm -12 <(printf '%s\n' "$a") <(printf '%s\n' "$b") | comm -12 - <(printf '%s\n' "$c") | sed '/^$/d')
    printf '%s\n' "$DISAGREE" | sed '/^$/d' >> "$RAW/disagreements.log"
    printf '%s' "$DISAGREE" | grep -c .
}

# Stock: apf-admin stock verify (counters vs ledger); every completed job with a SKU moved stock
# exactly once, no other job moved any; every order line's movements sum to what it shipped,
# and every fulfilment answered 200 shipped its line.
stock_figures() {  # "DOUBLED LOST VERIFY_LINES"
    local doubled lost verify vrc acked=""
    doubled=$(sql "SELECT
        (SELECT COUNT(*) FROM (SELECT ref_id FROM stock_movements WHERE account_id = '$AID'
           AND reason = 'job_completed' GROUP BY ref_id, counter HAVING COUNT(*) > 1) d)
      + (SELECT COUNT(*) FROM stock_movements m JOIN print_jobs j ON j.id = m.ref_id
           WHERE m.account_id = '$AID' AND m.reason = 'job_completed' AND j.status <> 'completed')
      + (SELECT COUNT(*) FROM order_items i WHERE i.account_id = '$AID'
           AND (SELECT IFNULL(-SUM(m.delta), 0) FROM stock_movements m WHERE m.ref_id = i.order_id
                AND m.note = i.id AND m.reason = 'order_fulfilment') > i.quantity_fulfilled)")
    lost=$(sql "SELECT
        (SELECT COUNT(*) FROM print_jobs j WHERE j.account_id = '$AID' AND j.status = 'completed'
           AND j.product_sku_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM stock_movements m
           WHERE m.ref_id = j.id AND m.reason = 'job_completed'))
      + (SELECT COUNT(*) FROM order_items i WHERE i.account_id = '$AID'
           AND (SELECT IFNULL(-SUM(m.delta), 0) FROM stock_movements m WHERE m.ref_id = i.order_id
                AND m.note = i.id AND m.reason = 'order_fulfilment') < i.quantity_fulfilled)")
    # fulfilments the client saw answered 200 whose line did not ship
    if [[ -s $RAW/orders.log ]]; then
        acked=$(awk '$3 == "fulfilled" { print $2 }' "$RAW/orders.log" | tr '\n' ',' | sed "s/,\$//; s/,/','/g")
    fi
    if [[ -n $acked ]]; then
        lost=$((lost + $(sql "SELECT COUNT(*) FROM order_items WHERE order_id IN ('$acked')
                               AND quantity_fulfilled < quantity")))
    fi
    verify=$(admin_on api1 stock verify --account "$AID" 2>&1); vrc=$?
    printf '%s\n' "$verify" >> "$RAW/stock-verify.log"
    if ((vrc == 0)); then verify=0; else verify=$(grep -c . <<<"$verify"); ((verify)) || verify=1; fi
    echo "${doubled:-?} ${lost:-?} $verify"
}

# failed requests of the load sent between two times: "COUNT FIRST_MS LAST_MS LAST_SENT_MS"
# (first: when the first one was sent; last: when the last one ended; last sent: when the last
# one was sent)
failures_between() {
    cat "$RAW"/load-*.log 2>/dev/null | awk -v a="$1" -v b="$2" '
        $1 >= a && $1 < b && !($5 ~ /^2/ || $5 == 429) {
            n++; if (!f || $1 < f) f = $1; if ($2 > l) l = $2; if ($1 > s) s = $1 }
        END { printf "%d %s %s %s\n", n, (f ? f : 0), (l ? l : 0), (s ? s : 0) }'
}
requests_between() { cat "$RAW"/load-*.log 2>/dev/null | awk -v a="$1" -v b="$2" '$1 >= a && $1 < b' | wc -l; }

# ------------------------------------------------------------------------------- faults

FAULT_END_MS=0
holder_host() { sql "SELECT holder FROM cluster_leases WHERE name = 'mqtt-link' AND expires_at > NOW(3)" | cut -d/ -f1; }

inject() {  # inject FAULT: do it, hold it, undo it; FAULT_END_MS = when it was undone
    local f=$1 pid pids h b
    case $f in
    galera-kill)
        pid=$(hpid db1 mariadb) || die "db1 is not running"
        FAULT_WHAT="kill -9 mariadbd on db1 (pid $pid), restarted after 5 s"
        kill -KILL "$pid"
        sleep 5
        FAULT_END_MS=$(now_ms)
        # as the packaged unit's galera_recovery: the last committed position from InnoDB, so
        # the node rejoins by IST instead of a full state transfer
        local pos
        pos=$(inns db1 mariadbd --defaults-file="$CL/db1/my.cnf" --wsrep-recover --log-error=/dev/stderr 2>&1 \
              | sed -n 's/.*WSREP: Recovered position: *//p' | tail -1)
        if [[ -n $pos ]]; then start_db db1 --wsrep-start-position="$pos"; else start_db db1; fi
        ;;
    galera-cut)
        FAULT_WHAT="nftables drops every packet in and out of db1's eth0 for ${HOLD} s"
        CUT_HOST=db1
        inns db1 nft -f - <<'EOF'
table inet chaos {
    chain in { type filter hook input priority -300; policy accept; iifname "eth0" drop; }
    chain out { type filter hook output priority -300; policy accept; oifname "eth0" drop; }
}
EOF
        sleep "$HOLD"
        inns db1 nft delete table inet chaos
        CUT_HOST=
        FAULT_END_MS=$(now_ms)
        ;;
    fcgi-kill)
        pids=$(ip netns pids "$(nsname api1)" | while read -r p; do
                   [[ $(cat "/proc/$p/comm" 2>/dev/null) == apf-fcgi ]] && echo "$p"; done | tr '\n' ' ')
        [[ -n $pids ]] || die "no apf-fcgi process on api1"
        FAULT_WHAT="kill -9 every apf-fcgi process of api1 ($pids), restarted after 2 s"
        # shellcheck disable=SC2086
        kill -KILL $pids
        sleep 2
        FAULT_END_MS=$(now_ms)
        rm -f "$CL/api1/run/apf-fcgi.sock"
        hspawn api1 apf-fcgi "$B/apf-fcgi" --conf "$CL/api1/apf.conf"
        ;;
    worker-stop)
        h=$(holder_host); [[ $h == wk[12] ]] || h=wk1
        pids=$(ip netns pids "$(nsname "$h")" | while read -r p; do
                   [[ $(cat "/proc/$p/comm" 2>/dev/null) == apf-worker ]] && echo "$p"; done | tr '\n' ' ')
        [[ -n $pids ]] || die "no apf-worker on $h"
        FAULT_WHAT="SIGSTOP every apf-worker of $h (the link holder; $pids) for ${HOLD} s"
        # shellcheck disable=SC2206
        STOPPED_PIDS=($pids)
        kill -STOP "${STOPPED_PIDS[@]}"
        sleep "$HOLD"
        kill -CONT "${STOPPED_PIDS[@]}"
        STOPPED_PIDS=()
        FAULT_END_MS=$(now_ms)
        ;;
    broker-kill)
        h=$(holder_host); b=mq1; [[ $h == wk2 ]] && b=mq2
        pid=$(hpid "$b" mosquitto) || die "$b is not running"
        FAULT_WHAT="kill -9 mosquitto on $b (the link holder $h's broker), restarted after 5 s"
        kill -KILL "$pid"
        sleep 5
        FAULT_END_MS=$(now_ms)
        hspawn "$b" mosquitto mosquitto -c "$CL/$b/mq/mosquitto.conf"
        ;;
    store-kill)
        pid=$(gl db1 --xml volume status "$VOLUME" 2>/dev/null | awk -v h="<hostname>$(ip_of db1)</hostname>" '
                index($0, h) { mine = 1; next } mine && /<pid>/ { gsub(/[^0-9]/, ""); print; exit }')
        [[ -n $pid ]] && alive "$pid" || die "no brick process of db1 (pid '$pid')"
        FAULT_WHAT="kill -9 db1's GlusterFS brick (glusterfsd $pid), volume start force after 20 s"
        kill -KILL "$pid"
        sleep 20
        FAULT_END_MS=$(now_ms)
        gl db1 volume start "$VOLUME" force > /dev/null || say "gluster volume start force failed"
        ;;
    esac
}

ROWS=()
RED=0
fmt_s() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
run_phase() {  # run_phase NAME: the baseline, or one fault with its recovery and checks
    local f=$1 sec t0 tend nfail first last lastsent span fail_txt pending disagree dbl lost ver rec_txt
    local clean=1 why=()
    # start the fault early in a minute: the rate-limit check (started 1 s later) fits in it
    sec=$(date +%S); sec=${sec#0}
    ((sec > 35)) && sleep $((61 - sec))
    say "---- $f"
    PHASE=$f
    t0=$(now_ms)
    FAULT_WHAT="no fault: the load alone for 15 s"
    ( sleep 1; rate_check "$f"; printf '%s\n%s\n' "$RATE_RESULT" "$RATE_BAD" > "$RUN/rate-$f" ) &
    local rate_pid=$!
    if [[ $f == baseline ]]; then sleep 15; FAULT_END_MS=$(now_ms); else inject "$f"; fi
    say "$FAULT_WHAT"
    wait_recovered
    local rec_ms=$RECOVERED_MS
    wait "$rate_pid"
    if ((rec_ms)); then
        rec_txt="$(fmt_s $((rec_ms - FAULT_END_MS))) s"
        say "recovered $rec_txt after the fault's end; waiting ${PENDING_AFTER} s for the checks"
        sleep "$PENDING_AFTER"
    else
        rec_txt="NOT in ${RECOVERY_MAX} s"; clean=0; why+=("not recovered")
    fi
    tend=$(now_ms)
    read -r nfail first last lastsent < <(failures_between "$t0" "$tend")
    if ((nfail)); then
        span=$((last - first))
        fail_txt="$nfail of $(requests_between "$t0" "$tend"): +$(fmt_s $((first - t0)))..+$(fmt_s $((last - t0))) s ($(fmt_s "$span") s)"
        # a request sent after the cluster recovered must not fail (one sent during the fault
        # may end, as a timeout, just after)
        if ((rec_ms == 0 || lastsent > rec_ms)); then clean=0; why+=("requests failed after recovery"); fi
        if [[ $f == baseline ]]; then clean=0; why+=("failures without a fault"); fi
        # the goal, not a failure of the check: marked in the row
        ((span > FAILOVER_GOAL * 1000)) && fail_txt+=" >${FAILOVER_GOAL}s"
    else
        fail_txt="0 of $(requests_between "$t0" "$tend")"
    fi
    pending=$(pending_count); [[ $pending =~ ^[0-9]+$ ]] || pending="?"
    [[ $pending == 0 ]] || { clean=0; why+=("pending commands"); }
    disagree=$(disagreements)
    [[ $disagree == 0 ]] || { clean=0; why+=("jobs disagree"); }
    read -r dbl lost ver < <(stock_figures)
    local ndbl=$((dbl - ${PREV_DBL:-0})) nlost=$((lost - ${PREV_LOST:-0}))
    PREV_DBL=$dbl PREV_LOST=$lost
    [[ $ndbl == 0 && $nlost == 0 && $ver == 0 ]] || { clean=0; why+=("stock"); }
    local rate_res rate_bad
    { read -r rate_res; read -r rate_bad; } < "$RUN/rate-$f"
    ((rate_bad)) && { clean=0; why+=("rate limit"); }
    local verdict=clean
    if ((clean == 0)); then verdict="RED: $(IFS=,; echo "${why[*]}")"; RED=1; fi
    ROWS+=("$(printf '%-12s | %-40s | %7s | %8s | %-16s | %-14s | %-9s | %s' "$f" "$fail_txt" \
             "$pending" "$disagree" "$ndbl / $nlost / $ver" "$rate_res" "$rec_txt" "$verdict")")
    printf '%s: %s\n' "$f" "$FAULT_WHAT" >> "$RUN/what"
    say "row: ${ROWS[-1]}"
}

say "baseline, then: ${FAULTS[*]}"
sleep 5   # the load settles
run_phase baseline
for f in "${FAULTS[@]}"; do run_phase "$f"; done
stop_load

# ------------------------------------------------------------------------------- results

jobs_done=$(cat "$RAW"/jobs-*.log 2>/dev/null | grep -c ' completed paused=1 resumed=1')
jobs_all=$(cat "$RAW"/jobs-*.log 2>/dev/null | grep -c ' created$')
orders_done=$(awk '$3 == "fulfilled"' "$RAW/orders.log" 2>/dev/null | wc -l)
total=$(cat "$RAW"/load-*.log | wc -l)
{
    echo "make chaos: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $((SECONDS - T_START)) s"
    echo "load: $total requests; $jobs_all jobs enqueued, $jobs_done went through start, pause, resume and completion; $orders_done orders fulfilled"
    echo "failed: non-2xx/non-429 or no answer, from the fault until ${PENDING_AFTER} s after recovery (+s from the fault's start)"
    echo "stock: doubled / lost / apf-admin stock verify lines;  limit: 200s of 3 x $RATE requests (limit $RATE/min)"
    echo
    printf '%-12s | %-40s | %7s | %8s | %-16s | %-14s | %-9s | %s\n' fault "requests failed (when)" pending disagree "stock d/l/v" "limit 200s" recovery verdict
    printf '%s\n' "${ROWS[@]}"
    echo
    cat "$RUN/what"
} > "$OUT/results.txt"
echo
cat "$OUT/results.txt"
((RED == 0))
