#!/usr/bin/env bash
# The local stack's supervisor (scripts/supervisor.sh, docs/systemd.md "The local stack") on a
# running stack: turns the supervisor on (`APF_SUPERVISE=1 scripts/stack.sh start`), makes an
# account, key, hub and printer with apf-admin and runs apf-hubsim for the hub; an awaited hub
# command succeeds; apf-worker-1 is killed with SIGKILL; the supervisor starts it again (new
# pid, run/apf-worker-1.restarts = 1, `scripts/stack.sh status` says "restarts 1", its log
# says so) and a hub command succeeds again; last, `scripts/stack.sh stop` leaves no process
# of the stack running, the supervisor included, and nothing is started again afterwards.
# Stops the stack at the end. Closes with "supervise: N passed, N failed"; exit 1 on a failure.
#
#   APF_VAR=... APF_BIN=... tests/supervise.sh       (scripts/test.sh runs it on its stack)
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${APF_VAR:?APF_VAR: the state folder of a running stack}"
V=$(realpath -m -- "$APF_VAR")
export APF_VAR=$V APF_CONF=$V/apf.conf
B=$(realpath -m -- "${APF_BIN:-$ROOT/build/bin}")
export APF_BIN=$B

passed=0 failed=0
ok()  { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
finish() {
    [[ -n ${SIM:-} ]] && kill "$SIM" 2>/dev/null && wait "$SIM" 2>/dev/null
    rm -f "${HUBS:-}"
    echo "supervise: $passed passed, $failed failed"
    ((failed == 0))
    exit
}
conf() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$APF_CONF" | tail -1; }
stack() { "$ROOT/scripts/stack.sh" "$@"; }
pid_of() { tr -dc '0-9' < "$V/run/$1.pid" 2>/dev/null; }
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null && [[ $(ps -o stat= -p "$1") != Z* ]]; }
retry_until() {  # retry_until SECONDS CMD...: CMD every 0.5 s until it succeeds; sets TOOK
    local t=$1 start=$SECONDS; shift
    while ((SECONDS - start < t)); do
        if "$@"; then TOOK=$((SECONDS - start)); return 0; fi
        sleep 0.5
    done
    TOOK=$((SECONDS - start))
    return 1
}
admin() { "$B/apf-admin" "$@" --json; }

CODE='' BODY=''
hub_ok() {  # an awaited hub command (the API answers 200 once the hub's ACK came back)
    local out
    out=$(curl -s --max-time 30 --cacert "$(conf tls_cert)" -X POST \
        -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        -d '{"heater":"bed","temperature":50}' -w '\n%{http_code}' \
        "https://127.0.0.1:$(conf https_port)/v1/printers/$PRINTER/temperature")
    CODE=${out##*$'\n'} BODY=${out%$'\n'*}
    [[ $CODE == 200 ]]
}

# 1. the supervisor, on a stack started without one
if out=$(APF_SUPERVISE=1 stack start 2>&1) && alive "$(pid_of supervisor)"; then
    ok "stack.sh start with APF_SUPERVISE=1 started the supervisor (pid $(pid_of supervisor))"
else
    bad "no supervisor after APF_SUPERVISE=1 stack.sh start: $out"
    finish
fi

# 2. a hub with a printer, run by apf-hubsim
acct=$(admin account create --name "supervise test") || { bad "apf-admin account create"; finish; }
AID=$(jq -r .id <<<"$acct")
KEY=$(admin key create --account "$AID" --name supervise --scopes read,write,control | jq -r .key)
hub=$(admin hub create --account "$AID" --name "supervise hub")
HID=$(jq -r .id <<<"$hub")
PRINTER=$(admin printer create --account "$AID" --hub "$HID" --name "supervise printer" \
    --model P1S | jq -r .id)
if [[ -z $KEY || $KEY == null || -z $HID || $HID == null || -z $PRINTER || $PRINTER == null ]]; then
    bad "apf-admin could not make the key, hub and printer"
    finish
fi
HUBS=$V/run/supervise-test.hubs
(umask 077; printf '%s %s\n' "$HID" "$(jq -r .mqtt_password <<<"$hub")" > "$HUBS")
"$B/apf-hubsim" --conf "$APF_CONF" --hub-list "$HUBS" --quiet >> "$V/log/supervise-hubsim.log" 2>&1 &
SIM=$!
if retry_until 60 hub_ok; then
    ok "hub command before the kill (${TOOK}s)"
else
    bad "hub command before the kill: $CODE ${BODY:0:300}"
    finish
fi

# 3. the worker killed: restarted by the supervisor, counted, shown by status
W=$(pid_of apf-worker-1)
if alive "$W" && kill -KILL "$W"; then ok "SIGKILL apf-worker-1 (pid $W)"; else bad "no apf-worker-1 to kill"; finish; fi
restarted() { local p; p=$(pid_of apf-worker-1); [[ -n $p && $p != "$W" ]] && alive "$p"; }
if retry_until 30 restarted; then
    ok "apf-worker-1 restarted as pid $(pid_of apf-worker-1) (${TOOK}s after the kill)"
else
    bad "apf-worker-1 not restarted within 30 s (pid file: '$(pid_of apf-worker-1)')"
fi
n=$(cat "$V/run/apf-worker-1.restarts" 2>/dev/null)
[[ $n == 1 ]] && ok "run/apf-worker-1.restarts is 1" || bad "run/apf-worker-1.restarts is '$n', want 1"
st=$(stack status); rc=$?
line=$(grep '^apf-worker-1 ' <<<"$st")
if [[ $rc == 0 && $line == *"running ($(pid_of apf-worker-1)) since "*", restarts 1" ]]; then
    ok "stack.sh status: $line"
else
    bad "stack.sh status (exit $rc): $st"
fi
logged() { grep -q "restarted apf-worker-1: pid $(pid_of apf-worker-1) (restart 1)" "$V/log/supervisor.log"; }
if retry_until 30 logged; then
    ok "log/supervisor.log records the restart"
else
    bad "log/supervisor.log has no restart line: $(tail -5 "$V/log/supervisor.log")"
fi
if retry_until 60 hub_ok; then
    ok "hub command after the restart (${TOOK}s)"
else
    bad "hub command after the restart: $CODE ${BODY:0:300}"
fi
kill "$SIM" 2>/dev/null && wait "$SIM" 2>/dev/null
SIM=

# 4. stop: the supervisor and every service gone, nothing started again
pids=()
for f in "$V"/run/*.pid; do p=$(tr -dc '0-9' < "$f"); [[ -n $p ]] && pids+=("$p"); done
stack stop > /dev/null 2>&1 || bad "stack.sh stop failed"
sleep 3   # more than the supervisor's restart delay
left=()
for p in "${pids[@]}"; do alive "$p" && left+=("$p"); done
mapfile -t -O "${#left[@]}" left < <(pgrep -f -- "$V/" || true)
if ((${#left[@]} == 0)) && ! compgen -G "$V/run/*.pid" > /dev/null; then
    ok "stack.sh stop left nothing running (${#pids[@]} processes stopped, supervisor included)"
else
    bad "after stack.sh stop: still running: $(ps -o pid=,args= -p "$(IFS=,; echo "${left[*]:-0}")")"
fi
finish
