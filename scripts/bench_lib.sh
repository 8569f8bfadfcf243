# shellcheck shell=bash
# bench_lib.sh - what scripts/bench.sh and scripts/bench_hub.sh share; sourced, never run.
#
# The sourcing script sets BENCH_NAME first ("bench", "bench-hub"): it names the private stack
# (build/$BENCH_NAME-var, free ports), the results folder (build/$BENCH_NAME, raw/ inside) and
# prefixes every message. It may define bench_stop_own, which the EXIT trap calls before it
# stops the stack (the script's own background processes).
#
#   BENCH_NAME=bench-hub
#   source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
#   need_whole SECS ...; need_programs curl jq ...; need_built apf-admin ...
#   bench_traps; bench_start_stack      # C[] = apf.conf, STACK_UP=1
#
# Sets: REPO B V OUT RAW STACK TCK, exports APF_VAR APF_FREE_PORTS APF_BIN APF_CONF.

export PATH="$PATH:/usr/sbin:/sbin"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export APF_VAR=$REPO/build/$BENCH_NAME-var
export APF_FREE_PORTS=1
export APF_BIN=${APF_BIN:-$REPO/build/bin}
export APF_CONF=$APF_VAR/apf.conf
# no supervisor (docs/systemd.md): its once-a-second polling is not part of what is measured
export APF_SUPERVISE=${APF_SUPERVISE:-0}
B=$APF_BIN
V=$APF_VAR
OUT=$REPO/build/$BENCH_NAME
RAW=$OUT/raw
STACK=$REPO/scripts/stack.sh
TCK=$(getconf CLK_TCK)
STACK_UP=0
declare -A C=()

say()  { printf '%s: %s\n' "$BENCH_NAME" "$*"; }
loud() { printf '\n%s: !!!!!!!! %s\n\n' "$BENCH_NAME" "$*" >&2; }
die()  { printf '%s: ERROR: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

need_whole() {  # need_whole VAR...: each variable holds a whole number
    local v
    for v in "$@"; do
        [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
    done
}
need_programs() {  # need_programs PROGRAM...: each is on the PATH
    local t
    for t in "$@"; do command -v "$t" >/dev/null || die "missing program: $t"; done
}
need_built() {  # need_built BINARY...: each is in $B
    local b
    for b in "$@"; do
        [[ -x $B/$b ]] || die "not built: $B/$b (run make all, or make bench)"
    done
}

# ------------------------------------------------------------------------- start / cleanup

# shellcheck disable=SC2317  # invoked by the EXIT trap
bench_cleanup() {
    local rc=$?
    trap '' INT TERM HUP
    if declare -F bench_stop_own >/dev/null; then bench_stop_own || true; fi
    if ((STACK_UP)); then
        say "stopping the private stack"
        "$STACK" stop > "$RAW/stack-stop.log" 2>&1 || { cat "$RAW/stack-stop.log" >&2; rc=1; }
    fi
    exit "$rc"
}
bench_traps() {  # the stack is stopped however the script ends
    trap bench_cleanup EXIT
    trap 'exit 1' INT TERM HUP
}

bench_start_stack() {  # a fresh raw/ folder and a fresh private stack; its apf.conf into C[]
    mkdir -p "$OUT"
    rm -rf "$RAW"
    mkdir -p "$RAW"
    # a previous run killed hard may have left its stack running: stop it, then start from scratch
    if [[ -d $V/run ]]; then "$STACK" stop > "$RAW/stack-stop-old.log" 2>&1 || true; fi
    rm -rf "$V"
    say "starting a private stack in $V"
    "$STACK" init > "$RAW/stack-init.log" 2>&1 || { cat "$RAW/stack-init.log" >&2; die "stack init failed"; }
    # nginx's per-address flood shield (nginx_rate, 5000 r/s by default) would answer 429 to a
    # benchmark that goes faster: raise it here, in the private stack only (limit_req still runs).
    sed -i -e 's/^nginx_rate = .*/nginx_rate = 10000000/' -e 's/^nginx_burst = .*/nginx_burst = 1000000/' "$APF_CONF"
    # a benchmark with a large history may size MariaDB's buffer pool (apf.conf db_buffer_pool)
    if [[ -n ${BENCH_DB_BUFFER_POOL:-} ]]; then
        sed -i '/^db_buffer_pool *=/d' "$APF_CONF"
        echo "db_buffer_pool = $BENCH_DB_BUFFER_POOL" >> "$APF_CONF"
    fi
    STACK_UP=1
    if ! "$STACK" start > "$RAW/stack-start.log" 2>&1; then
        cat "$RAW/stack-start.log" >&2
        die "stack start failed"
    fi
    local line
    # shellcheck disable=SC2034  # C[] is read by the sourcing script
    while IFS= read -r line; do
        [[ $line =~ ^[[:space:]]*([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] \
            && C[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
    done < "$APF_CONF"
}

# ------------------------------------------------------------------------------- helpers

admin_json() {  # apf-admin ARGS... --json: print its JSON object, die on failure
    local out
    out=$("$B/apf-admin" "$@" --json 2> "$RAW/admin.err") \
        || { cat "$RAW/admin.err" >&2; die "apf-admin $* failed"; }
    jq -e 'type == "object"' >/dev/null 2>&1 <<<"$out" || die "apf-admin $1 $2 printed no JSON object: $out"
    printf '%s' "$out"
}
jget() {  # jget JSON FIELD: a non-empty string field
    local v
    v=$(jq -r --arg f "$2" '.[$f] // empty' <<<"$1")
    [[ -n $v ]] || die "no '$2' in: $1"
    printf '%s' "$v"
}

pid_of() { tr -dc '0-9' < "$V/run/$1.pid" 2>/dev/null || true; }  # pid_of SERVICE (stack.sh's pid file)
ticks() {  # ticks PID...: utime+stime of the given processes (all their threads), clock ticks
    local p s sum=0 f
    for p in "$@"; do
        s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        read -r -a f <<<"${s##*) }"
        sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}
cpu_pct() {  # cpu_pct TICKS_BEFORE TICKS_AFTER SECONDS: CPU in % of one core, rounded
    awk -v d=$(($2 - $1)) -v k="$TCK" -v e="$3" 'BEGIN { printf "%.0f", (e > 0 ? 100 * d / k / e : 0) }'
}
