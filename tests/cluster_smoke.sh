#!/usr/bin/env bash
# Cluster smoke test (docs/scale-out.md, "Topology and make targets"): scripts/cluster.sh up;
# requests through each API host and through the lb; a hub command to a hub on each broker;
# a file written on one host read on the others (GlusterFS); a row written through the lb on
# every Galera node; kill -9 of the Galera writer (db1); the same requests again once HAProxy
# has failed over; scripts/cluster.sh down; nothing of the cluster left. Needs root.
# Prints "cluster smoke: N passed, N failed" last; exit 0 only when nothing failed.
#
# Environment: as scripts/cluster.sh (APF_CLUSTER_DIR, APF_BIN ...); APF_FAILOVER_WINDOW
# (default 60): seconds after the kill within which a write through the lb must succeed again.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
CL=$(realpath -m -- "${APF_CLUSTER_DIR:-$ROOT/build/cluster}")
NET=${APF_CLUSTER_NET:-10.213.0}
LB=$NET.10
WINDOW=${APF_FAILOVER_WINDOW:-60}
C=scripts/cluster.sh
T0=$SECONDS
passed=0
failed=0

ok()   { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad()  { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
check() {  # check NAME CMD...: CMD's success is the check's
    local name=$1; shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
now() { printf '%5ds' $((SECONDS - T0)); }

# the whole test holds the cluster lock (scripts/cluster.sh): no other cluster run in between
exec 9> /run/apf-cluster.lock
flock -w 600 9 || { echo "cluster smoke: another cluster run holds /run/apf-cluster.lock"; exit 1; }
export APF_CLUSTER_LOCKED=1

DOWN_DONE=0
finish() {
    ((DOWN_DONE)) || "$C" down
    echo "cluster smoke: $passed passed, $failed failed ($((SECONDS - T0)) s)"
}
trap finish EXIT

# req VIA METHOD PATH [BODY]: one HTTPS request from the sim host (VIA: lb, api1, api2; the
# API hosts straight, with the PROXY header HAProxy would send). Sets CODE and BODY.
CODE= BODY=
req() {
    local via=$1 method=$2 path=$3 data=${4:-} url extra=()
    case $via in
        lb) url=https://$LB$path ;;
        api1) url=https://$NET.21$path; extra=(--haproxy-protocol) ;;
        api2) url=https://$NET.22$path; extra=(--haproxy-protocol) ;;
    esac
    [[ -n $data ]] && extra+=(-H 'Content-Type: application/json' -d "$data")
    local out
    out=$("$C" exec sim curl -sk --max-time 30 -X "$method" -H "Authorization: Bearer $KEY" \
        "${extra[@]}" -w '\n%{http_code}' "$url")
    CODE=${out##*$'\n'}
    BODY=${out%$'\n'*}
}
expect() {  # expect NAME CODE VIA METHOD PATH [BODY]
    local name=$1 want=$2; shift 2
    req "$@"
    if [[ $CODE == "$want" ]]; then ok "$name ($CODE)"; else bad "$name: $CODE, want $want: ${BODY:0:300}"; fi
}
sql() { "$C" sql "$1"; }

# a hub command (awaited: the API answers 200 only after the hub's ACK came back through the
# worker's link) and its hub_commands row acked
hub_command() {  # hub_command NAME PRINTER
    local name=$1 p=$2 temp=$((40 + RANDOM % 40)) cmd st
    req lb POST "/v1/printers/$p/temperature" "{\"heater\":\"bed\",\"temperature\":$temp}"
    if [[ $CODE != 200 ]]; then bad "$name: $CODE ${BODY:0:300}"; return 1; fi
    cmd=$(jq -r '.data.command_id // empty' <<<"$BODY")
    st=$(sql "SELECT status FROM hub_commands WHERE command_id = '$cmd'")
    if [[ -n $cmd && $st == acked ]]; then ok "$name (command $cmd acked)"; else bad "$name: row '$st' for '$cmd'"; fi
}
# retry_until SECONDS CMD...: CMD until it succeeds; prints how long it took
retry_until() {
    local t=$1 start=$SECONDS; shift
    while ((SECONDS - start < t)); do
        if "$@"; then RETRY_TOOK=$((SECONDS - start)); return 0; fi
        sleep 0.5
    done
    RETRY_TOOK=$((SECONDS - start))
    return 1
}
patch_ok() {  # a write through the lb
    req lb PATCH "/v1/printers/$P1" "{\"location\":\"$1\"}"
    [[ $CODE == 200 ]]
}
hub_ok() {  # hub_ok PRINTER: an awaited hub command answered 200
    req lb POST "/v1/printers/$1/temperature" '{"heater":"nozzle","temperature":200}'
    [[ $CODE == 200 ]]
}

echo "$(now) cluster up"
if ! "$C" up; then
    bad "scripts/cluster.sh up"
    exit 1
fi
ok "scripts/cluster.sh up ($((SECONDS - T0)) s)"
if "$C" status >/dev/null; then ok "status: every node up"; else bad "status: $("$C" status | grep -v ' up ')"; fi

KEY=$(jq -r .key "$CL/cluster.json")
P1=$(jq -r '[.printers[] | select(.broker == "mq1")][0].id' "$CL/cluster.json")
P2=$(jq -r '[.printers[] | select(.broker == "mq2")][0].id' "$CL/cluster.json")

echo "$(now) API requests"
NPRINTERS=$(jq '.printers | length' "$CL/cluster.json")
for via in lb api1 api2; do
    expect "GET /v1/printers via $via" 200 "$via" GET /v1/printers
    n=$(jq '.data | length' <<<"$BODY" 2>/dev/null)
    [[ $n == "$NPRINTERS" ]] && ok "via $via: all $n printers" || bad "via $via: $n printers, want $NPRINTERS"
done
# the lb spreads requests over both API hosts
a1=$(grep -c ' /v1/printers/stats' "$CL/api1/nginx/logs/access.log" 2>/dev/null)
for i in 1 2 3 4; do req lb GET /v1/printers/stats; done
sleep 1.2   # nginx flushes its access log buffer every second
n1=$(grep -c ' /v1/printers/stats' "$CL/api1/nginx/logs/access.log")
n2=$(grep -c ' /v1/printers/stats' "$CL/api2/nginx/logs/access.log")
if ((n1 - a1 >= 1 && n2 >= 1)); then ok "lb round robin: api1 $n1, api2 $n2 requests"; else bad "lb round robin: api1 $n1, api2 $n2"; fi
# nginx sees the client's address (PROXY protocol from the lb), not the lb's
addrs=$(cat "$CL"/api[12]/nginx/logs/access.log | awk '/ \/v1\/printers\/stats/ { print $1 }' | sort -u | tr '\n' ' ')
[[ $addrs == "$NET.51 " ]] && ok "nginx sees the client's address through the lb: $addrs" \
    || bad "client addresses nginx saw through the lb: $addrs (want $NET.51)"

echo "$(now) hub commands"
hub_command "hub command to a hub on mq1" "$P1"
hub_command "hub command to a hub on mq2" "$P2"

echo "$(now) replicated state"
stamp=smoke-$RANDOM$RANDOM
expect "PATCH through the lb" 200 lb PATCH "/v1/printers/$P1" "{\"location\":\"$stamp\"}"
for n in 1 2 3; do
    v=$(mariadb --defaults-file="$CL/db$n/my.cnf" -N -B apf -e "SELECT location FROM printers WHERE id = '$P1'" 2>&1)
    [[ $v == "$stamp" ]] && ok "row on db$n" || bad "row on db$n: '$v'"
done
echo "$stamp" > "$CL/api1/files/.smoke"
for h in api2 wk1 wk2; do
    [[ $(cat "$CL/$h/files/.smoke" 2>&1) == "$stamp" ]] && ok "file written on api1 read on $h" || bad "file on $h"
done
rm -f "$CL/api1/files/.smoke"

echo "$(now) kill -9 db1 (the writer)"
pid=$(cat "$CL/db1/run/mariadb.pid")
kill -KILL "$pid"
if retry_until "$WINDOW" patch_ok "after-kill-$stamp"; then
    ok "a write through the lb succeeds again ${RETRY_TOOK}s after the kill"
else
    bad "no successful write within ${WINDOW}s of the kill: $CODE ${BODY:0:200}"
fi
for via in lb api1 api2; do
    expect "GET /v1/printers via $via after the kill" 200 "$via" GET /v1/printers
done
for b in 1 2; do
    p=$P1; [[ $b == 2 ]] && p=$P2
    if retry_until 40 hub_ok "$p"; then
        ok "hub command to a hub on mq$b after the kill (${RETRY_TOOK}s of retries)"
    else
        bad "hub command to a hub on mq$b after the kill: $CODE ${BODY:0:200}"
    fi
done
st=$("$C" status)
grep -q 'galera: db1 DOWN, db2 UP' <<<"$st" && ok "lb: db1 DOWN, db2 takes the writes" || bad "lb state: $(grep haproxy <<<"$st")"
grep -E '^db2 +mariadb' <<<"$st" | grep -q 'Synced, cluster size 2, Primary' && ok "db2: Synced, cluster size 2, Primary" \
    || bad "db2: $(grep -E '^db2 +mariadb' <<<"$st")"

echo "$(now) cluster down"
DOWN_DONE=1
check "scripts/cluster.sh down" "$C" down
sleep 1
left=$(ip netns list | grep -c '^apf-')
((left == 0)) && ok "no namespace left" || bad "$left namespaces left"
ip link show apfbr0 >/dev/null 2>&1 && bad "bridge apfbr0 left" || ok "no bridge left"
grep -q " $CL/" /proc/mounts && bad "mounts left: $(grep " $CL/" /proc/mounts)" || ok "no mount left"
# live (non-zombie) processes of the cluster: its programs, or anything using its folder
procs=$(ps -eo pid=,stat=,args= | awk -v cl="$CL" '$2 !~ /^Z/ && (index($0, cl) || /glusterfsd|glusterd|haproxy/) && !/awk/ { print }')
[[ -z $procs ]] && ok "no process left" || bad "processes left: $procs"
((failed == 0))
