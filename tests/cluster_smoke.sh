#!/usr/bin/env bash
# Cluster smoke test (docs/scale-out.md, "Topology and make targets"), the last step of
# `make test`: scripts/cluster.sh up; every migration on every Galera node; requests through
# each API host and through the lb; the MQTT link lease held by exactly one worker host; hub
# commands to a hub on each broker through each API host (the outcome crosses hosts by UDP); a
# hub made by apf-admin logs in and is heard through BOTH brokers; the lease holder killed
# (kill -9) and the other worker host taking the link over; a file written on one host read on
# the others (GlusterFS); the hot path under load on both API hosts (tests/cluster_hot.sh:
# exact rate limit, revocation, read your writes across hosts, worker changes within 1 s, other
# accounts); a row written through the lb on every Galera node; kill -9 of the
# Galera writer (db1); the same requests again once HAProxy has failed over;
# scripts/cluster.sh down; nothing of the cluster left.
# Needs root and /dev/fuse: without them it FAILS (it never skips).
# Prints "cluster smoke: N passed, N failed (S s)" last; exit 0 only when nothing failed.
#
# Environment: as scripts/cluster.sh (APF_CLUSTER_DIR, APF_BIN ...); APF_FAILOVER_WINDOW
# (default 60): seconds after a kill within which a write, a hub command or the link lease must
# work again.
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
summary() { echo "cluster smoke: $passed passed, $failed failed ($((SECONDS - T0)) s)"; }

# what the cluster needs: missing, the test fails (make test runs it as root, as CI does)
pre=()
[[ $(id -u) == 0 ]] || pre+=("not root (network namespaces, bridge, FUSE mounts need root)")
[[ -c /dev/fuse ]] || pre+=("no /dev/fuse (the GlusterFS mounts need FUSE)")
if ((${#pre[@]})); then
    for p in "${pre[@]}"; do bad "precondition: $p"; done
    summary
    exit 1
fi

# the whole test holds the cluster lock (scripts/cluster.sh): no other cluster run in between
exec 9> /run/apf-cluster.lock
flock -w 600 9 || { bad "another cluster run holds /run/apf-cluster.lock"; summary; exit 1; }
export APF_CLUSTER_LOCKED=1

DOWN_DONE=0
finish() {
    ((DOWN_DONE)) || "$C" down
    summary
}
trap finish EXIT
trap 'bad "interrupted"; exit 1' INT TERM HUP

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
node_sql() {  # node_sql N SQL: on Galera node dbN itself (its socket, not through the lb)
    mariadb --defaults-file="$CL/db$1/my.cnf" --connect-timeout=5 -N -B apf -e "$2" 2>&1
}

# an awaited hub command through VIA: the API answers 200 only after the hub's ACK came back
# through the worker holding the link, on another host, which told the waiting apf-fcgi child
# by a UDP datagram to the API host's waiter_address (hub_commands.waiter = udp:ADDR:PORT)
hub_command() {  # hub_command NAME VIA PRINTER
    local name=$1 via=$2 p=$3 temp=$((40 + RANDOM % 40)) cmd row want
    req "$via" POST "/v1/printers/$p/temperature" "{\"heater\":\"bed\",\"temperature\":$temp}"
    if [[ $CODE != 200 ]]; then bad "$name: $CODE ${BODY:0:300}"; return 1; fi
    cmd=$(jq -r '.data.command_id // empty' <<<"$BODY")
    row=$(sql "SELECT CONCAT(status, ' ', IFNULL(waiter, '-')) FROM hub_commands WHERE command_id = '$cmd'")
    want="acked udp:$NET.2"
    [[ $via == api1 ]] && want="acked udp:$NET.21:"
    [[ $via == api2 ]] && want="acked udp:$NET.22:"
    if [[ -n $cmd && $row == "$want"* ]]; then ok "$name (command $cmd: $row)"; else bad "$name: row '$row' for '$cmd', want '$want...'"; fi
}
# retry_until SECONDS CMD...: CMD until it succeeds; sets RETRY_TOOK
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
lease() {  # "HOLDER TOKEN VALID" of the MQTT link lease, one line per row named mqtt-link
    sql "SELECT holder, token, expires_at > NOW(3) FROM cluster_leases WHERE name = 'mqtt-link'" | tr '\t' ' '
}
lease_holder_is() {  # lease_holder_is REGEX: a valid lease whose holder matches
    local l; l=$(lease)
    [[ $(wc -l <<<"$l") == 1 && $l =~ ^($1)\ [0-9]+\ 1$ ]]
}

echo "$(now) cluster up"
if ! "$C" up; then
    bad "scripts/cluster.sh up"
    exit 1
fi
ok "scripts/cluster.sh up ($((SECONDS - T0)) s)"
if "$C" status >/dev/null; then ok "status: every node up"; else bad "status: $("$C" status | grep -v ' up ')"; fi

KEY=$(jq -r .key "$CL/cluster.json")
AID=$(jq -r .account_id "$CL/cluster.json")
P1=$(jq -r '[.printers[] | select(.broker == "mq1")][0].id' "$CL/cluster.json")
P2=$(jq -r '[.printers[] | select(.broker == "mq2")][0].id' "$CL/cluster.json")

echo "$(now) schema on every Galera node"
nmig=$(find sql -maxdepth 1 -name '[0-9]*_*.sql' | wc -l)
first=""
for n in 1 2 3; do
    v=$(node_sql "$n" "SELECT @@log_bin_trust_function_creators, @@binlog_format,
                (SELECT COUNT(*) FROM schema_migrations),
                (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'apf'),
                (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'apf'),
                (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'apf'
                  AND TABLE_TYPE = 'BASE TABLE' AND ENGINE <> 'InnoDB')" | tr '\t' ' ')
    read -r trust fmt migs trig rout other <<<"$v"
    if [[ $trust == 1 && $fmt == ROW && $migs == "$nmig" && ${trig:-0} -gt 0 && ${rout:-0} -gt 0 && $other == 0 ]]; then
        ok "db$n: log_bin_trust_function_creators 1, ROW, all $migs migrations, $trig triggers, $rout routines, InnoDB only"
    else
        bad "db$n: trust/format/migrations/triggers/routines/non-InnoDB tables '$v' (want 1 ROW $nmig >0 >0 0)"
    fi
    [[ -z $first ]] && first=$v
    [[ $v == "$first" ]] || bad "db$n differs from db1: '$v' / '$first'"
done

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

# the hot path with both API hosts under load (tests/cluster_hot.sh)
echo "$(now) hot path"
# shellcheck source=tests/cluster_hot.sh
source tests/cluster_hot.sh
hot_checks

echo "$(now) the MQTT link lease"
l1=$(lease)
if lease_holder_is 'wk[12]/1'; then ok "lease mqtt-link: one valid row, held by ${l1%% *}"; else bad "lease mqtt-link: '$l1'"; fi
HOLDER=${l1%%/*}
OTHER=wk1; [[ $HOLDER == wk1 ]] && OTHER=wk2
sleep 2.5
l2=$(lease)
# renewed by the same worker (same token: no take-over in between), the other one waits
[[ ${l1% *} == "${l2% *}" && ${l2##* } == 1 ]] && ok "lease still $HOLDER's after 2.5 s (renewed, same token)" \
    || bad "lease changed: '$l1' -> '$l2'"

echo "$(now) hub commands (holder $HOLDER)"
for via in api1 api2; do
    hub_command "hub command to a hub on mq1 through $via" "$via" "$P1"
    hub_command "hub command to a hub on mq2 through $via" "$via" "$P2"
done

echo "$(now) a hub made by apf-admin, on both brokers"
hj=$("$C" exec api1 "${APF_BIN:-$ROOT/build/bin}/apf-admin" hub create --account "$AID" --name "Smoke hub" --json)
HID=$(jq -r '.id // empty' <<<"$hj" 2>/dev/null)
HPW=$(jq -r '.mqtt_password // empty' <<<"$hj" 2>/dev/null)
[[ -n $HID && -n $HPW ]] && ok "apf-admin hub create: $HID" || bad "apf-admin hub create: ${hj:0:200}"
# the hub's credentials in option files (never on a command line): mosquitto_sub / _pub read
# $XDG_CONFIG_HOME/mosquitto_sub; "bad" holds a wrong password
for kind in good bad; do
    mkdir -p "$CL/smoke-$kind"
    pw=$HPW; [[ $kind == bad ]] && pw=not-$HPW
    (umask 077
     printf -- '-i %s\n-u %s\n-P %s\n' "$HID" "$HID" "$pw" | tee "$CL/smoke-$kind/mosquitto_sub" > "$CL/smoke-$kind/mosquitto_pub")
done
mqc() {  # mqc good|bad PROGRAM ARGS...: a mosquitto client as the new hub, from the sim host
    local kind=$1; shift
    XDG_CONFIG_HOME=$CL/smoke-$kind "$C" exec sim "$@"
}
for b in mq1 mq2; do
    addr=$NET.4${b#mq}
    # a heartbeat (QoS 1: exit 0 = logged in and PUBACKed; 5 = refused, not authorised) ...
    hb="{\"v\":1,\"type\":\"heartbeat\",\"hub_id\":\"$HID\",\"seq\":1,\"firmware_version\":\"smoke-$b\"}"
    mqc bad mosquitto_pub -h "$addr" -q 1 -t "apf/v1/$HID/heartbeat" -m "$hb" >/dev/null 2>&1; rc=$?
    [[ $rc == 5 ]] && ok "$b refuses the new hub with a wrong password" || bad "$b, wrong password: exit $rc (want 5)"
    mqc good mosquitto_pub -h "$addr" -q 1 -t "apf/v1/$HID/heartbeat" -m "$hb" >/dev/null 2>&1; rc=$?
    [[ $rc == 0 ]] && ok "new hub logs in to $b and publishes" || bad "new hub's login to $b: exit $rc"
    # ... reaches the link holder (through the bridge when the holder is on the other broker)
    # and is written: firmware_version names the broker
    heard() { [[ $(sql "SELECT firmware_version FROM hubs WHERE id = '$HID'") == "smoke-$b" ]]; }
    if retry_until 20 heard; then ok "new hub's heartbeat through $b written (${RETRY_TOOK}s)"; else bad "new hub's heartbeat through $b not written"; fi
done

hub_each_broker() {  # hub_each_broker WHEN: an awaited hub command to a hub on each broker
    local b p
    for b in 1 2; do
        p=$P1; [[ $b == 2 ]] && p=$P2
        if retry_until 40 hub_ok "$p"; then
            ok "hub command to a hub on mq$b $1 (${RETRY_TOOK}s of retries)"
        else
            bad "hub command to a hub on mq$b $1: $CODE ${BODY:0:200}"
        fi
    done
}
echo "$(now) kill -9 the link holder ($HOLDER)"
kill -KILL "$(cat "$CL/$HOLDER/run/apf-worker-1.pid")"
if retry_until "$WINDOW" lease_holder_is "$OTHER/1"; then
    ok "$OTHER took the link over ${RETRY_TOOK}s after the kill: $(lease)"
else
    bad "no take-over by $OTHER within ${WINDOW}s: '$(lease)'"
fi
hub_each_broker "through $OTHER's link after the take-over"

echo "$(now) replicated state"
stamp=smoke-$RANDOM$RANDOM
expect "PATCH through the lb" 200 lb PATCH "/v1/printers/$P1" "{\"location\":\"$stamp\"}"
for n in 1 2 3; do
    v=$(node_sql "$n" "SELECT location FROM printers WHERE id = '$P1'")
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
hub_each_broker "after the kill"
st=$("$C" status)
grep -q 'galera: db1 DOWN, db2 UP' <<<"$st" && ok "lb: db1 DOWN, db2 takes the writes" || bad "lb state: $(grep haproxy <<<"$st")"
grep -E '^db2 +mariadb' <<<"$st" | grep -q 'Synced, cluster size 2, Primary' && ok "db2: Synced, cluster size 2, Primary" \
    || bad "db2: $(grep -E '^db2 +mariadb' <<<"$st")"
lease_holder_is "$OTHER/1" && ok "lease still $OTHER's after the database fail-over" || bad "lease after the fail-over: '$(lease)'"

echo "$(now) cluster down"
# every process of the cluster's hosts, with its start time (a pid may be reused later)
procs_before=$(for h in lb db1 db2 db3 mq1 mq2 api1 api2 wk1 wk2 sim; do ip netns pids "apf-$h" 2>/dev/null; done \
    | while read -r p; do printf '%s %s\n' "$p" "$(awk '{print $22}' "/proc/$p/stat" 2>/dev/null)"; done)
DOWN_DONE=1
check "scripts/cluster.sh down" "$C" down
sleep 1
left=$(ip netns list | grep -c '^apf-')
((left == 0)) && ok "no namespace left" || bad "$left namespaces left"
ip link show apfbr0 >/dev/null 2>&1 && bad "bridge apfbr0 left" || ok "no bridge left"
grep -q " $CL/" /proc/mounts && bad "mounts left: $(grep " $CL/" /proc/mounts)" || ok "no mount left"
# live (non-zombie) processes: any that ran on a cluster host, or anything naming its folder
left=""
while read -r p start; do
    [[ -n $p && $(awk '{print $22}' "/proc/$p/stat" 2>/dev/null) == "$start" && $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]] \
        || continue
    # it may end between the two reads: only a process ps still shows is left
    line=$(ps -o pid=,args= -p "$p") && [[ -n $line ]] && left+="$line "
done <<<"$procs_before"
left+=$(ps -eo pid=,stat=,args= | awk -v cl="$CL" '$2 !~ /^Z/ && index($0, cl) && !/awk/ { print }')
((${#procs_before} > 0)) || bad "no process of the cluster's hosts seen before the down"
[[ -z $left ]] && ok "no process left ($(wc -l <<<"$procs_before") were running)" || bad "processes left: $left"
((failed == 0))
