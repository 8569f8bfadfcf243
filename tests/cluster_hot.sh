#!/usr/bin/env bash
# The hot path on the cluster (docs/testing.md "Hot path", docs/scale-out.md): both API hosts
# under load (wrk through the lb, curl loops straight to api1 and api2) while these checks run:
#   - a key limited to L sends 3L requests through api1 and api2 at once in one window: at most
#     L answered 200, X-RateLimit-Remaining never generous, the rest 429 RATE_LIMITED;
#   - a key revoked (apf-admin on api2) is refused on both hosts 1 s later; a new key works on
#     both at once;
#   - a write through one host is read at once through the other (both ways, repeated);
#   - a printer status changed by the worker (the simulator reports the printer offline, then
#     online) shows through both hosts 1 s after the worker committed it;
#   - two accounts with printers of the same names never see each other's ids, on either host;
#   - the load itself saw no error.
# Two ways to run it:
#   sourced by tests/cluster_smoke.sh (the last step of `make test`), on the cluster it brought
#   up: `hot_checks` reports through the smoke test's ok/bad;
#   run directly against a cluster already up (`make cluster-up`; `tests/cluster_hot.sh`):
#   prints "cluster hot: N passed, N failed" last; exit 0 only when nothing failed.
# Environment: as scripts/cluster.sh (APF_CLUSTER_DIR, APF_CLUSTER_NET, APF_BIN).
# shellcheck disable=SC2015  # "A && ok || bad": ok always succeeds

HOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOT_CL=$(realpath -m -- "${APF_CLUSTER_DIR:-$HOT_ROOT/build/cluster}")
HOT_NET=${APF_CLUSTER_NET:-10.213.0}
HOT_C=$HOT_ROOT/scripts/cluster.sh
HOT_B=${APF_BIN:-$HOT_ROOT/build/bin}
HOT_LIMIT=20          # L of the exactness check
HOT_LOAD_SECS=240     # the load outlasts the checks; stopped when they end

if ! declare -F ok > /dev/null; then
    hot_passed=0 hot_failed=0
    ok()  { hot_passed=$((hot_passed + 1)); printf 'ok   %s\n' "$*"; }
    bad() { hot_failed=$((hot_failed + 1)); printf 'FAIL %s\n' "$*"; }
fi

hot_url() {  # hot_url VIA PATH
    case $1 in
        lb) echo "https://$HOT_NET.10$2" ;;
        api1) echo "https://$HOT_NET.21$2" ;;
        api2) echo "https://$HOT_NET.22$2" ;;
    esac
}
# hot_burst VIA N KEY PATH [FORMAT]: N GETs at once (curl --parallel, 16 at a time) from the sim
# host; one line per answer: FORMAT (curl -w; default "%{http_code}")
hot_burst() {
    local via=$1 n=$2 key=$3 path=$4 fmt=${5:-'%{http_code}'} extra=() urls=() i
    [[ $via == lb ]] || extra=(--haproxy-protocol)
    for ((i = 0; i < n; i++)); do urls+=(-o /dev/null "$(hot_url "$via" "$path")"); done
    "$HOT_C" exec sim curl -sk --no-progress-meter --max-time 30 --parallel --parallel-max 16 "${extra[@]}" \
        -H "Authorization: Bearer $key" -w "$fmt\n" "${urls[@]}"
}
# hot_req VIA METHOD PATH KEY [BODY]: one request; sets HOT_CODE and HOT_BODY
hot_req() {
    local via=$1 method=$2 path=$3 key=$4 data=${5:-} extra=() out
    [[ $via == lb ]] || extra=(--haproxy-protocol)
    [[ -n $data ]] && extra+=(-H 'Content-Type: application/json' -d "$data")
    out=$("$HOT_C" exec sim curl -sk --max-time 30 -X "$method" -H "Authorization: Bearer $key" \
        "${extra[@]}" -w '\n%{http_code}' "$(hot_url "$via" "$path")")
    HOT_CODE=${out##*$'\n'}
    HOT_BODY=${out%$'\n'*}
}
hot_admin() {  # hot_admin HOST ARGS...: apf-admin ... --json on that host
    local h=$1; shift
    "$HOT_C" exec "$h" "$HOT_B/apf-admin" "$@" --json
}
hot_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
hot_sleep_until() {  # hot_sleep_until MS (epoch milliseconds)
    local left=$(($1 - $(hot_ms)))
    ((left > 0)) && sleep "$(awk -v l="$left" 'BEGIN { printf "%.3f", l / 1000 }')"
    return 0
}
# only codes C (a list of one code per line, all of them): "N x C"
all_codes() {  # all_codes WANT LINES
    local n
    n=$(grep -c . <<<"$2")
    [[ $n -gt 0 && $(grep -vc "^$1\$" <<<"$2") == 0 ]]
}

HOT_PIDS=()
hot_load_start() {  # wrk through the lb, a curl loop straight to each API host
    local via
    "$HOT_C" exec sim wrk -t1 -c16 -d"${HOT_LOAD_SECS}s" -H "Authorization: Bearer $HOT_LOAD_KEY" \
        "$(hot_url lb /v1/printers)" > "$HOT_CL/hot-wrk.txt" 2>&1 &
    HOT_PIDS+=($!)
    for via in api1 api2; do
        (
            end=$((SECONDS + HOT_LOAD_SECS))
            while ((SECONDS < end)); do
                hot_burst "$via" 16 "$HOT_LOAD_KEY" /v1/jobs || true
                hot_burst "$via" 16 "$HOT_LOAD_KEY" /v1/printers || true
            done > "$HOT_CL/hot-loop-$via.txt" 2>&1
        ) &
        HOT_PIDS+=($!)
    done
}
hot_load_stop() {
    ((${#HOT_PIDS[@]})) || return 0
    local p
    # wrk (the first: nsenter execs it) prints its figures when interrupted
    kill -INT "${HOT_PIDS[0]}" 2>/dev/null || true
    for p in "${HOT_PIDS[@]:1}"; do
        pkill -TERM -P "$p" 2>/dev/null || true
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${HOT_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    HOT_PIDS=()
}

hot_exact() {  # 3L requests through both API hosts at once, one window
    local kj key s
    kj=$(hot_admin api1 key create --account "$HOT_AID" --name "hot limit" --scopes read \
        --rate-limit "$HOT_LIMIT")
    key=$(jq -r '.key // empty' <<<"$kj")
    [[ -n $key ]] || { bad "key with a limit of $HOT_LIMIT: ${kj:0:200}"; return; }
    s=$(date +%S); s=${s#0}
    ((s > 50)) && sleep $((61 - s))   # the whole check (a few seconds) in one fixed minute
    local n=$((3 * HOT_LIMIT / 2))
    hot_burst api1 "$n" "$key" /v1/printers '%{http_code} %header{x-ratelimit-remaining}' \
        > "$HOT_CL/hot-exact-api1.txt" &
    local p1=$!
    hot_burst api2 "$n" "$key" /v1/printers '%{http_code} %header{x-ratelimit-remaining}' \
        > "$HOT_CL/hot-exact-api2.txt"
    wait "$p1"
    # the 200s, the 429s, anything else; then the k-th largest Remaining of the 200s must be at
    # most L-1-k whatever the order the hosts answered in
    local v
    v=$(cat "$HOT_CL/hot-exact-api1.txt" "$HOT_CL/hot-exact-api2.txt" | sort -k1,1n -k2,2nr |
        awk -v L="$HOT_LIMIT" '
        $1 == 200 { ok++; if ($2 == "" || $2 + 0 > L - ok) gen++; next }
        $1 == 429 { lim++; if ($2 != "0") bad429++; next }
        { other++ }
        END { printf "%d %d %d %d %d\n", ok, lim, other, gen, bad429 }')
    local okc lim other gen b429
    read -r okc lim other gen b429 <<<"$v"
    if ((okc >= 1 && okc <= HOT_LIMIT && other == 0 && okc + lim == 3 * HOT_LIMIT)); then
        ok "limit $HOT_LIMIT, $((3 * HOT_LIMIT)) requests through api1 and api2 at once: $okc answered 200, $lim 429"
    else
        bad "limit $HOT_LIMIT, $((3 * HOT_LIMIT)) requests through api1 and api2: $okc 200, $lim 429, $other other"
    fi
    ((gen == 0 && b429 == 0)) && ok "X-RateLimit-Remaining never generous across the hosts, 429s say 0" \
        || bad "X-RateLimit-Remaining: $gen generous values, $b429 429s not saying 0"
}

hot_revoke() {  # revoked on api2: refused on both hosts 1 s later; a new key works at once
    local kj key kid codes via t
    kj=$(hot_admin api1 key create --account "$HOT_AID" --name "hot revoke" --scopes read \
        --rate-limit 100000)
    key=$(jq -r '.key // empty' <<<"$kj"); kid=$(jq -r '.id // empty' <<<"$kj")
    [[ -n $key ]] || { bad "key to revoke: ${kj:0:200}"; return; }
    for via in api1 api2; do
        codes=$(hot_burst "$via" 24 "$key" /v1/printers)
        all_codes 200 "$codes" || bad "the key before its revocation via $via: $(sort <<<"$codes" | uniq -c | tr '\n' ' ')"
    done
    hot_admin api2 key revoke "$kid" > /dev/null || { bad "apf-admin key revoke on api2"; return; }
    t=$(hot_ms)
    hot_sleep_until $((t + 1000))
    for via in api1 api2; do
        codes=$(hot_burst "$via" 8 "$key" /v1/printers)
        all_codes 401 "$codes" && ok "revoked on api2: every request via $via 401 1 s later" \
            || bad "revoked on api2, via $via 1 s later: $(sort <<<"$codes" | uniq -c | tr '\n' ' ')"
        hot_req "$via" GET /v1/jobs "$key"
        [[ $HOT_CODE == 401 && $(jq -r .code <<<"$HOT_BODY" 2>/dev/null) == TOKEN_REVOKED ]] \
            && ok "via $via: 401 TOKEN_REVOKED" || bad "via $via: $HOT_CODE ${HOT_BODY:0:200}"
    done
    kj=$(hot_admin api2 key create --account "$HOT_AID" --name "hot new" --scopes read \
        --rate-limit 100000)
    key=$(jq -r '.key // empty' <<<"$kj")
    for via in api1 api2; do
        codes=$(hot_burst "$via" 16 "$key" /v1/printers)
        all_codes 200 "$codes" && ok "a new key works at once via $via" \
            || bad "a new key via $via: $(sort <<<"$codes" | uniq -c | tr '\n' ' ')"
    done
}

hot_rw() {  # a write through one host read at once through the other
    local i from to name bad_n=0 p=$HOT_P1
    for ((i = 1; i <= 10; i++)); do
        from=api1 to=api2
        ((i % 2)) || { from=api2 to=api1; }
        name="hot rw $RANDOM $i"
        # the reader's answers first (a cache there would now hold the old ones)
        hot_burst "$to" 8 "$HOT_KEY" "/v1/printers/$p" > /dev/null
        hot_req "$from" PATCH "/v1/printers/$p" "$HOT_KEY" "{\"name\":\"$name\"}"
        [[ $HOT_CODE == 200 ]] || { bad "PATCH via $from: $HOT_CODE ${HOT_BODY:0:200}"; return; }
        local names
        names=$(hot_burst "$to" 8 "$HOT_KEY" "/v1/printers/$p" '%{http_code}' | sort -u)
        hot_req "$to" GET "/v1/printers/$p" "$HOT_KEY"
        [[ $names == 200 && $(jq -r .data.name <<<"$HOT_BODY") == "$name" ]] || bad_n=$((bad_n + 1))
        hot_req "$to" GET /v1/printers "$HOT_KEY"
        [[ $(jq -r --arg id "$p" '.data[] | select(.id == $id) | .name' <<<"$HOT_BODY") == "$name" ]] \
            || bad_n=$((bad_n + 1))
    done
    ((bad_n == 0)) && ok "10 writes through one API host, each read at once through the other" \
        || bad "writes read through the other host: $bad_n stale answers"
}

hot_status_on() {  # hot_status_on VIA PRINTER WANT: the printer and the list say WANT
    hot_req "$1" GET "/v1/printers/$2" "$HOT_KEY"
    [[ $HOT_CODE == 200 && $(jq -r .data.status <<<"$HOT_BODY") == "$3" ]] || return 1
    hot_req "$1" GET /v1/printers "$HOT_KEY"
    [[ $(jq -r --arg id "$2" '.data[] | select(.id == $id) | .status' <<<"$HOT_BODY") == "$3" ]]
}
hot_worker() {  # the simulator reports the printer offline / online; the worker commits it
    local p=$HOT_P1 before cmd want t start via
    before=$("$HOT_C" sql "SELECT status FROM printers WHERE id = '$p'")
    for cmd in printer-offline printer-online; do
        want=offline; [[ $cmd == printer-online ]] && want=$before
        for via in api1 api2; do hot_burst "$via" 8 "$HOT_KEY" /v1/printers > /dev/null; done
        python3 "$HOT_ROOT/scripts/simctl.py" "$HOT_CL/sim/run/hubsim-mq1.ctl" "$cmd $p" > /dev/null \
            || { bad "simulator: $cmd"; return; }
        start=$SECONDS t=
        while ((SECONDS - start < 30)); do
            if [[ $("$HOT_C" sql "SELECT status FROM printers WHERE id = '$p'") == "$want" ]]; then
                t=$(hot_ms); break
            fi
            sleep 0.02
        done
        [[ -n $t ]] || { bad "$cmd: the worker never stored $want"; return; }
        hot_sleep_until $((t + 1000))
        for via in api1 api2; do
            hot_status_on "$via" "$p" "$want" && ok "$cmd: status $want via $via 1 s after the worker's commit" \
                || bad "$cmd: via $via 1 s after the worker's commit: ${HOT_BODY:0:200}"
        done
    done
}

hot_accounts() {  # a second account with printers of the same names: never each other's ids
    local aj bid bkey hid i a_ids b_ids n=0 wrong=0 via k ids want
    aj=$(hot_admin api1 account create --name "Hot other farm")
    bid=$(jq -r '.id // empty' <<<"$aj")
    bkey=$(jq -r '.key // empty' <<<"$(hot_admin api1 key create --account "$bid" --name other \
        --scopes read --rate-limit 100000)")
    hid=$(jq -r '.id // empty' <<<"$(hot_admin api1 hub create --account "$bid" --name "Cluster hub 01")")
    [[ -n $bid && -n $bkey && -n $hid ]] || { bad "second account: ${aj:0:200}"; return; }
    for i in 1 2 3; do
        hot_admin api1 printer create --account "$bid" --hub "$hid" --name "Cluster 01-$i" \
            --model "X1 Carbon" > /dev/null
    done
    a_ids=$(jq -r '.printers[].id' "$HOT_CL/cluster.json" | sort | tr '\n' ' ')
    b_ids=$("$HOT_C" sql "SELECT id FROM printers WHERE account_id = '$bid' ORDER BY id" | tr '\n' ' ')
    local b1=${b_ids%% *}
    for ((i = 1; i <= 4; i++)); do
        for via in api1 api2 lb; do
            for k in a b; do
                if [[ $k == a ]]; then hot_req "$via" GET /v1/printers "$HOT_KEY"; want=$a_ids
                else hot_req "$via" GET /v1/printers "$bkey"; want=$b_ids; fi
                ids=$(jq -r '.data[].id' <<<"$HOT_BODY" 2>/dev/null | sort | tr '\n' ' ')
                n=$((n + 1))
                [[ $HOT_CODE == 200 && $ids == "$want" ]] || wrong=$((wrong + 1))
            done
            hot_req "$via" GET "/v1/printers/$b1" "$HOT_KEY"
            n=$((n + 1))
            [[ $HOT_CODE == 404 ]] || wrong=$((wrong + 1))
            hot_req "$via" GET "/v1/printers/$b1" "$bkey"
            n=$((n + 1))
            [[ $HOT_CODE == 200 ]] || wrong=$((wrong + 1))
        done
    done
    ((wrong == 0)) && ok "two accounts, same printer names: $n answers through api1, api2 and the lb, each with only its own ids" \
        || bad "two accounts: $wrong of $n answers wrong (another account's ids, or missing own ones)"
}

hot_checks() {
    local t0=$SECONDS n via
    echo "hot path on the cluster, both API hosts under load"
    HOT_KEY=$(jq -r .key "$HOT_CL/cluster.json")
    HOT_AID=$(jq -r .account_id "$HOT_CL/cluster.json")
    HOT_P1=$(jq -r '[.printers[] | select(.broker == "mq1")][0].id' "$HOT_CL/cluster.json")
    HOT_LOAD_KEY=$(jq -r '.key // empty' <<<"$(hot_admin api1 key create --account "$HOT_AID" \
        --name "hot load" --scopes read --rate-limit 1000000)")
    [[ -n $HOT_KEY && -n $HOT_LOAD_KEY && -n $HOT_P1 ]] || { bad "hot path: cluster.json or the load key"; return; }
    hot_load_start
    sleep 2
    hot_exact
    hot_revoke
    hot_rw
    hot_worker
    hot_accounts
    hot_load_stop
    # the load: wrk through the lb and the loops to each host saw only 200s
    local w errs
    w=$(grep -E 'requests in|Non-2xx|Socket errors' "$HOT_CL/hot-wrk.txt" | tr -s ' ' | tr '\n' ';')
    if grep -q 'requests in' "$HOT_CL/hot-wrk.txt" && ! grep -qE 'Non-2xx|Socket errors' "$HOT_CL/hot-wrk.txt"; then
        ok "load through the lb: $(awk '/requests in/ { print $1 }' "$HOT_CL/hot-wrk.txt") requests, all 2xx"
    else
        bad "load through the lb: ${w:-no wrk output: $(head -c 300 "$HOT_CL/hot-wrk.txt")}"
    fi
    for via in api1 api2; do
        # one status per answer (000: no answer); the loop's last burst was cut short by the stop
        n=$(grep -c '^200$' "$HOT_CL/hot-loop-$via.txt")
        errs=$(grep -E '^[0-9]{3}$' "$HOT_CL/hot-loop-$via.txt" | grep -vc '^200$')
        ((errs == 0 && n > 0)) && ok "load straight to $via: $n requests, all 200" \
            || bad "load straight to $via: $n 200s, $errs other: $(grep -E '^[0-9]{3}$' "$HOT_CL/hot-loop-$via.txt" | grep -v '^200$' | sort | uniq -c | head -3 | tr '\n' ' ')"
    done
    echo "hot path checks: $((SECONDS - t0)) s"
}

# run directly: against the cluster that is up
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -uo pipefail
    [[ -s $HOT_CL/cluster.json ]] || { echo "cluster hot: no cluster up ($HOT_CL/cluster.json; make cluster-up)"; exit 1; }
    trap 'hot_load_stop' EXIT
    hot_checks
    echo "cluster hot: $hot_passed passed, $hot_failed failed"
    ((hot_failed == 0))
fi
