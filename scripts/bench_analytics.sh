#!/usr/bin/env bash
# apf analytics benchmark: every GET /v1/analytics/* endpoint over a 30-day and a 365-day
# window, for two accounts of the same private stack that differ only in the size of their
# history (scripts/gen-history.sh: 500 printers each, BENCH_AN_SMALL and BENCH_AN_LARGE jobs over
# 365 days, orders = jobs / 10), against GET /v1/printers (the same 500 printers) of the same run.
#
#   scripts/bench_analytics.sh      (also run by scripts/bench.sh, unless BENCH_ANALYTICS=0)
#
# Reported per endpoint and window: the p50 latency of BENCH_AN_SAMPLES sequential requests on
# one kept-alive HTTPS connection (curl, after 2 unrecorded ones) for each account, the ratio
# large / small (the target is <= 2: cost follows the window, not the history) and, for the
# 365-day window of the large account, p50 / the p50 of GET /v1/printers (target <= 10).
#
# Environment:
#   BENCH_AN_SMALL   jobs of the small history (default 10000)
#   BENCH_AN_LARGE   jobs of the large history (default 1000000)
#   BENCH_AN_SAMPLES requests per figure (default 15)
#   BENCH_DB_BUFFER_POOL  MariaDB buffer pool of the private stack (default 1G here)
# Results: build/bench-analytics/results.txt; exit 1 when something broke (a non-200 answer).
set -euo pipefail

BENCH_NAME=bench-analytics
export BENCH_DB_BUFFER_POOL=${BENCH_DB_BUFFER_POOL:-1G}
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

SMALL=${BENCH_AN_SMALL:-10000}
LARGE=${BENCH_AN_LARGE:-1000000}
SAMPLES=${BENCH_AN_SAMPLES:-15}
need_whole SMALL LARGE SAMPLES
((SAMPLES >= 1 && SMALL >= 1 && LARGE >= 1)) || die "bad sizes"
need_programs curl jq awk mariadb openssl
need_built apf-admin apf-fcgi apf-worker

bench_traps
bench_start_stack
BASE=https://127.0.0.1:${C[https_port]}
CACERT=${C[tls_cert]}
say "stack is up on $BASE (buffer pool $BENCH_DB_BUFFER_POOL)"

declare -A ACC=() KEY=() GEN=()
for size in small large; do
    n=$SMALL
    [[ $size == large ]] && n=$LARGE
    ACC[$size]=$(jget "$(admin_json account create --name "Analytics bench $size")" id)
    KEY[$size]=$(jget "$(admin_json key create --account "${ACC[$size]}" --name bench \
                 --scopes read --rate-limit 1000000)" key)
    say "generating the $size history: $n jobs"
    t0=$(date +%s)
    "$REPO/scripts/gen-history.sh" --account "${ACC[$size]}" --jobs "$n" 2>&1 | tr '\r' '\n' \
        | grep -v ' / ' | tee -a "$RAW/gen.log"
    GEN[$size]=$(($(date +%s) - t0))
done

# p50 SIZE PATH: median of time_total (ms) of SAMPLES GETs on one connection
p50() {
    local cfg=$RAW/curl.cfg i out
    : > "$cfg"
    for ((i = 0; i < SAMPLES + 2; i++)); do
        printf 'url = "%s/v1%s"\noutput = "/dev/null"\n' "$BASE" "$2" >> "$cfg"
    done
    out=$(curl -s --http1.1 --cacert "$CACERT" -H "Authorization: Bearer ${KEY[$1]}" \
          -w '%{http_code} %{time_total}\n' -K "$cfg") || die "curl $2 failed"
    awk -v path="$2" 'NR > 2 { if ($1 != 200) bad = $1; print $2 * 1000 }
        END { if (bad) { print "non-200 answer " bad " for " path > "/dev/stderr"; exit 1 } }' <<<"$out" \
        | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# The history is written in minutes, a real one over months: restart the stack so that what is
# measured is not InnoDB still flushing and merging the bulk inserts (8-10x slower reads then).
say "restarting the stack after the bulk load"
"$STACK" stop > "$RAW/stack-restart.log" 2>&1 || { cat "$RAW/stack-restart.log" >&2; die "stack stop failed"; }
"$STACK" start >> "$RAW/stack-restart.log" 2>&1 || { cat "$RAW/stack-restart.log" >&2; die "stack start failed"; }

TODAY=$(date -u +%F)
F30=$(date -u -d "$TODAY - 29 days" +%F)
F365=$(date -u -d "$TODAY - 364 days" +%F)
# one unrecorded pass over every endpoint of both accounts (the buffer pool starts empty; the
# bulk inserts left secondary index changes buffered, merged when their pages are first read)
say "warm-up: one 365-day request per endpoint and account"
for size in small large; do
    for e in overview production revenue printers inventory failures; do
        curl -s --cacert "$CACERT" -H "Authorization: Bearer ${KEY[$size]}" -o /dev/null \
            "$BASE/v1/analytics/$e?from=$F365&to=$TODAY" || die "warm-up of $e failed"
    done
done
declare -A P=()
for size in small large; do
    P[$size.printers]=$(p50 "$size" /printers) || die "GET /printers failed"
    for e in overview production revenue printers inventory failures; do
        for d in 30 365; do
            from=$F30
            [[ $d == 365 ]] && from=$F365
            q="?from=$from&to=$TODAY"
            [[ $e == overview ]] && q=""
            P[$size.$e.$d]=$(p50 "$size" "/analytics/$e$q") || die "GET /analytics/$e failed"
            printf 'bench-analytics:   %-5s %-10s %3s days  p50 %8.2f ms\n' "$size" "$e" "$d" "${P[$size.$e.$d]}"
        done
    done
done

rows() { mariadb --defaults-file="$V/mysql/root.cnf" -N -B "${C[db_name]}" -e "$1"; }
report() {
    echo "apf analytics benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, MariaDB buffer pool $BENCH_DB_BUFFER_POOL"
    for size in small large; do
        echo "$size history: $(rows "SELECT CONCAT((SELECT COUNT(*) FROM printers WHERE account_id = '${ACC[$size]}'), ' printers, ',
            (SELECT COUNT(*) FROM print_jobs WHERE account_id = '${ACC[$size]}'), ' jobs, ',
            (SELECT COUNT(*) FROM printer_failures WHERE account_id = '${ACC[$size]}'), ' failures, ',
            (SELECT COUNT(*) FROM orders WHERE account_id = '${ACC[$size]}'), ' orders, ',
            (SELECT COUNT(*) FROM material_usage_history WHERE account_id = '${ACC[$size]}'), ' usage rows')"), generated in ${GEN[$size]} s"
    done
    echo "p50 of $SAMPLES sequential requests on one HTTPS connection (ms); GET /v1/printers (500 printers): small ${P[small.printers]}, large ${P[large.printers]}"
    echo
    printf '%-11s %5s %10s %10s %13s %15s\n' endpoint days small large "large/small" "large/printers"
    local e d
    for e in overview production revenue printers inventory failures; do
        for d in 30 365; do
            [[ $e == overview && $d == 365 ]] && continue
            awk -v e="$e" -v d="$d" -v s="${P[small.$e.$d]}" -v l="${P[large.$e.$d]}" -v p="${P[large.printers]}" \
                'BEGIN { printf "%-11s %5s %10.2f %10.2f %13.2f %15.2f\n", e, (e == "overview" ? "-" : d), s, l, (s > 0 ? l / s : 0), (p > 0 ? l / p : 0) }'
        done
    done
    echo
    echo "targets: large/small <= 2; 365-day large/printers <= 10"
    echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg) (other programs share the $(nproc) CPUs)"
}
report > "$OUT/results.txt"
echo
cat "$OUT/results.txt"
