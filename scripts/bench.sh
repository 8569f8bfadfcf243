#!/usr/bin/env bash
# apf benchmark: GET /v1/printers (50 printers) through nginx + TLS, against two references
# measured behind the same nginx in the same run:
#   hello  - build/bin/apf-bench-hello, the smallest libfcgi app, same children count, same body
#   static - nginx serving the same body from a file (no FastCGI at all)
# and a second API figure:
#   products - GET /v1/products over an account holding 50 products x 3 SKUs each (the default
#              page: all 50), reported beside the same run's hello figure
#   printer  - GET /v1/printers/{id} (one of the 50)
#   jobs     - GET /v1/jobs over an account holding 50 jobs (the default page: all 50)
# The hot path (issue 16): api, printer and jobs each beside the same run's hello and static
# figures with its ratio to hello (target HOT_TARGET); then a second pass of the three (with a
# hello of its own) with the answer cache off (api_cache = 0 in apf.conf, apf-fcgi reloaded
# with SIGHUP; BENCH_NOCACHE=0 skips it), so the gain is visible; then 1,000 concurrent
# connections held for BENCH_C1000_SECONDS against GET /v1/printers, which must see no
# non-2xx answer and no socket error (BENCH_C1000=0 skips it).
# Rounds are interleaved (api, hello, static, products; 3 times) to spread drift evenly over the
# targets.
# Then the files section (skip with BENCH_FILES=0), each figure beside its floor in the same run:
#   extraction - apf-meta-bench (meta_parse_file in a loop, every plate's thumbnail) on the
#                largest 3MF fixtures vs `bsdtar -xOf ARCHIVE > /dev/null` (libarchive alone)
#   upload     - PUT /v1/files/upload/{token} of a BENCH_UPLOAD_MB body with curl vs nginx
#                writing the same body to a file itself (client_body_in_file_only, /bench/upload)
# Before it, the orders section (skip with BENCH_ORDERS=0): POST /v1/orders/{id}/fulfill of
# distinct one-line orders over 5 hot SKUs on the same connections, beside the GET figure.
#
#   scripts/bench.sh            (normally through `make bench`, which builds first)
#
# Environment:
#   BENCH_SECONDS   seconds per wrk run (default 10)
#   BENCH_ROUNDS    rounds (default 3)
#   BENCH_THREADS   wrk threads (default 2)   BENCH_CONNS  wrk connections (default 32)
#   BENCH_WARMUP    seconds of unrecorded warm-up per target (default 2, 0 = none)
#   APF_BIN         binaries (default <repo>/build/bin)
#   BENCH_FILES     1 (default) runs the files section, 0 skips it
#   BENCH_ANALYTICS 1 (default) then runs scripts/bench_analytics.sh (its own variables there)
#   BENCH_FILES_SECONDS  seconds per extraction figure (default 3)
#   BENCH_UPLOAD_MB      upload body in MiB (default 50)   BENCH_UPLOAD_ROUNDS  rounds (default 5)
#   APF_FIXTURES    the print-file fixtures (default <repo>/../shared/fixtures/files)
#   BENCH_ORDERS    1 (default) runs the orders section, 0 skips it
#   BENCH_ORDERS_N  orders made for it (default 100000)
#   BENCH_NOCACHE   1 (default) runs the cache-off pass, 0 skips it
#   BENCH_C1000     1 (default) runs the 1,000-connection hold, 0 skips it
#   BENCH_C1000_SECONDS  its length (default 30)   BENCH_C1000_CONNS  its connections (default 1000)
#
# The stack is private (state in build/bench-var, wiped at start, free ports) and is always
# stopped at the end. Results: build/bench/results.txt (table), build/bench/raw/ (wrk outputs).
# Exit 0 whatever the ratio (a measurement, not a test); 1 when something broke (set-up, a
# service, wrk); 3 when wrk saw non-2xx answers or socket errors, its bytes per answer differ
# from the answer checked before the run, or the API body drifted (the figures are not valid).
set -euo pipefail
shopt -s nullglob

BENCH_NAME=bench
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-32}
WARMUP=${BENCH_WARMUP:-2}
NPRINTERS=50
NPRODUCTS=50
SKUS_PER_PRODUCT=3
TARGET_RATIO=0.7
NJOBS=50
HOT_TARGET=0.5
HOT_P99_MS=20
TARGETS=(api hello static products printer jobs)
HOT_TARGETS=(api printer jobs)
NOCACHE=${BENCH_NOCACHE:-1}
C1000=${BENCH_C1000:-1}
C1000_SECS=${BENCH_C1000_SECONDS:-30}
C1000_CONNS=${BENCH_C1000_CONNS:-1000}
FILES=${BENCH_FILES:-1}
FILES_SECS=${BENCH_FILES_SECONDS:-3}
UPLOAD_MB=${BENCH_UPLOAD_MB:-50}
UPLOAD_ROUNDS=${BENCH_UPLOAD_ROUNDS:-5}
FIXTURES=${APF_FIXTURES:-$REPO/../shared/fixtures/files}
FILES_TARGET=0.5

need_whole SECS ROUNDS THREADS CONNS WARMUP FILES FILES_SECS UPLOAD_MB UPLOAD_ROUNDS NOCACHE C1000 \
    C1000_SECS C1000_CONNS
((SECS >= 1 && ROUNDS >= 1 && THREADS >= 1 && CONNS >= THREADS)) || die "bad wrk settings"
need_programs wrk curl jq awk setsid
need_built apf-admin apf-fcgi apf-worker apf-bench-hello
if ((FILES)); then
    ((UPLOAD_MB >= 1 && UPLOAD_MB <= 100 && UPLOAD_ROUNDS >= 1 && FILES_SECS >= 1)) \
        || die "BENCH_UPLOAD_MB must be 1..100, BENCH_UPLOAD_ROUNDS and BENCH_FILES_SECONDS >= 1"
    need_built apf-meta-bench
    command -v bsdtar >/dev/null || die "missing program: bsdtar (package libarchive-tools)"
    compgen -G "$FIXTURES/*.3mf" >/dev/null || die "no 3MF fixtures in $FIXTURES (set APF_FIXTURES)"
fi

# ------------------------------------------------------------------------- start / cleanup

HELLO_PID=
WRK_PID=
# shellcheck disable=SC2317  # called by bench_cleanup (EXIT trap)
bench_stop_own() {
    if [[ -n $WRK_PID ]]; then
        kill -TERM "$WRK_PID" 2>/dev/null || true
        wait "$WRK_PID" 2>/dev/null || true
    fi
    if [[ -n $HELLO_PID ]]; then
        kill -TERM "$HELLO_PID" 2>/dev/null || true
        wait "$HELLO_PID" 2>/dev/null || true
        HELLO_PID=
    fi
    rm -f "$V/nginx/bench.conf"
}
bench_traps
bench_start_stack
PORT=${C[https_port]}
CACERT=${C[tls_cert]}
CHILDREN=${C[fcgi_children]}
BASE=https://127.0.0.1:$PORT
say "stack is up on $BASE (fcgi_children = $CHILDREN)"

# ------------------------------------------------------------------------------- test data

say "creating an account, a key, a hub (online) and $NPRINTERS printers"
ACCOUNT=$(jget "$(admin_json account create --name "Bench Print Farm")" id)
KEYJSON=$(admin_json key create --account "$ACCOUNT" --name "bench" --scopes read,write,control \
          --rate-limit 1000000)
KEY=$(jget "$KEYJSON" key)
mkdir -p "$V/bench"
(umask 077; printf '%s\n' "$KEY" > "$V/bench/key")   # for looking into the stack afterwards
HUB=$(jget "$(admin_json hub create --account "$ACCOUNT" --name "Bench Hub")" id)
"$B/apf-admin" hub set-online "$HUB" > "$RAW/admin.out" 2> "$RAW/admin.err" \
    || { cat "$RAW/admin.err" >&2; die "apf-admin hub set-online failed"; }
MODELS=("X1 Carbon:bambu" "P1S:bambu" "A1 mini:bambu" "MK4:prusa" "Prusa XL:prusa"
        "Voron 2.4:klipper" "Ender 3 V3:octoprint" "Sovol SV08:klipper")
for ((i = 1; i <= NPRINTERS; i++)); do
    m=${MODELS[(i - 1) % ${#MODELS[@]}]}
    admin_json printer create --account "$ACCOUNT" --hub "$HUB" \
        --name "$(printf 'Rack %s / %s #%02d' "$(( (i - 1) / 10 + 1 ))" "${m%%:*}" "$i")" \
        --model "${m%%:*}" --connection "${m##*:}" > /dev/null
done

say "creating $NPRODUCTS products with $SKUS_PER_PRODUCT SKUs each"
api_post() {  # api_post PATH JSON: the new row's id (dies unless 201)
    local out code
    out=$(curl -sS --http1.1 --cacert "$CACERT" -H "Authorization: Bearer $KEY" \
          -H 'Content-Type: application/json' -d "$2" -w '\n%{http_code}' --max-time 10 \
          "$BASE/v1$1") || die "curl POST $1 failed"
    code=${out##*$'\n'}
    [[ $code == 201 ]] || die "POST $1 answered $code: ${out%$'\n'*}"
    jq -r '.data.id' <<<"${out%$'\n'*}"
}
CATEGORIES=("Planters" "Desk" "Toys" "Kitchen" "Spare parts")
COLORS=("Black:#000000" "Galaxy Blue:#1F3A93" "Signal Red:#C0392B" "Olive:#6B8E23")
for ((i = 1; i <= NPRODUCTS; i++)); do
    pid=$(api_post /products "$(printf '{"name":"Bench product %02d","description":"A %s item for the benchmark","category":"%s","requires_assembly":%s}' \
          "$i" "${CATEGORIES[(i - 1) % ${#CATEGORIES[@]}]}" "${CATEGORIES[(i - 1) % ${#CATEGORIES[@]}]}" \
          "$( ((i % 4 == 0)) && echo true || echo false)")")
    for ((k = 1; k <= SKUS_PER_PRODUCT; k++)); do
        c=${COLORS[(i + k) % ${#COLORS[@]}]}
        api_post "/products/$pid/skus" "$(printf '{"sku":"BP-%02d-%d","color":"%s","hex_code":"%s","filament_type":"PLA","stock_level":%d,"low_stock_threshold":5}' \
                 "$i" "$k" "${c%%:*}" "${c##*:}" $((i * k % 40)))" > /dev/null
    done
done

say "creating $NJOBS jobs on the printers (SQL: fixed times, so their list never changes)"
bsql() { mariadb --defaults-file="$V/mysql/root.cnf" -N -B "${C[db_name]}" -e "$1"; }
bsql "INSERT INTO print_jobs (id, account_id, printer_id, file_name, status, number_of_units,
        estimated_print_time_minutes, progress_percentage, time_submitted, created_at, updated_at)
      SELECT CONCAT(LPAD(LOWER(HEX(seq)), 8, '0'), '-0000-4000-8000-0000000b0000'), '$ACCOUNT',
        p.id, CONCAT('bench-part-', seq, '.3mf'),
        ELT(1 + seq % 4, 'queued', 'completed', 'failed', 'cancelled'), 1 + seq % 4, 30 + seq,
        IF(seq % 4 = 1, 100, 0), TIMESTAMP('2026-01-01') + INTERVAL seq MINUTE,
        TIMESTAMP('2026-01-01') + INTERVAL seq MINUTE, TIMESTAMP('2026-01-01') + INTERVAL seq MINUTE
      FROM seq_1_to_$NJOBS s JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM printers
        WHERE account_id = '$ACCOUNT') p ON p.rn = 1 + (s.seq - 1) % $NPRINTERS" \
    || die "cannot insert the bench jobs"

# ------------------------------------------------------------------------------ references

BODY=$V/bench/body.json
mkdir -p "$V/bench"
chmod 755 "$V/bench"
api_fetch() {  # api_fetch BODY_FILE: status code of GET /v1/printers; headers in BODY_FILE.h
    curl -sS --http1.1 --cacert "$CACERT" -H "Authorization: Bearer $KEY" -D "$1.h" -o "$1" \
        -w '%{http_code}' --max-time 10 "$BASE/v1/printers"
}
code=$(api_fetch "$BODY") || die "curl GET /v1/printers failed"
[[ $code == 200 ]] || die "GET /v1/printers answered $code: $(head -c 500 "$BODY")"
n=$(jq '.data | length' "$BODY") || die "GET /v1/printers is not JSON"
((n == NPRINTERS)) || die "GET /v1/printers lists $n printers, not $NPRINTERS"
chmod 644 "$BODY"
BODY_LEN=$(stat -c %s "$BODY")
grep -q '"status":"offline"' "$BODY" && say "note: the printers show status offline in the body"
say "API body: $BODY_LEN bytes, $n printers"
PRODUCTS_BODY=$V/bench/products.json
products_fetch() {  # products_fetch BODY_FILE: status code of GET /v1/products; headers in BODY_FILE.h
    curl -sS --http1.1 --cacert "$CACERT" -H "Authorization: Bearer $KEY" -D "$1.h" -o "$1" \
        -w '%{http_code}' --max-time 10 "$BASE/v1/products"
}
code=$(products_fetch "$PRODUCTS_BODY") || die "curl GET /v1/products failed"
[[ $code == 200 ]] || die "GET /v1/products answered $code: $(head -c 500 "$PRODUCTS_BODY")"
n=$(jq '.data | length' "$PRODUCTS_BODY") || die "GET /v1/products is not JSON"
((n == NPRODUCTS)) || die "GET /v1/products lists $n products, not $NPRODUCTS"
n=$(jq '.meta.count' "$PRODUCTS_BODY")
((n == NPRODUCTS)) || die "GET /v1/products counts $n products, not $NPRODUCTS"
PRODUCTS_LEN=$(stat -c %s "$PRODUCTS_BODY")
say "products body: $PRODUCTS_LEN bytes, $NPRODUCTS products (${SKUS_PER_PRODUCT} SKUs each in the account)"
PRINTER_ID=$(jq -r '.data[0].id' "$BODY")
hot_path() {  # hot_path TARGET: the path below $BASE of printer / jobs
    case $1 in printer) echo "/v1/printers/$PRINTER_ID" ;; jobs) echo /v1/jobs ;; esac
}
hot_fetch() {  # hot_fetch TARGET BODY_FILE: status code of its GET; headers in BODY_FILE.h
    curl -sS --http1.1 --cacert "$CACERT" -H "Authorization: Bearer $KEY" -D "$2.h" -o "$2" \
        -w '%{http_code}' --max-time 10 "$BASE$(hot_path "$1")"
}
declare -A HOT_BODY=() HOT_LEN=()
for t in printer jobs; do
    HOT_BODY[$t]=$V/bench/$t.json
    code=$(hot_fetch "$t" "${HOT_BODY[$t]}") || die "curl GET $(hot_path "$t") failed"
    [[ $code == 200 ]] || die "GET $(hot_path "$t") answered $code: $(head -c 500 "${HOT_BODY[$t]}")"
    HOT_LEN[$t]=$(stat -c %s "${HOT_BODY[$t]}")
done
[[ $(jq -r '.data.id' "${HOT_BODY[printer]}") == "$PRINTER_ID" ]] \
    || die "GET /v1/printers/$PRINTER_ID does not answer that printer"
n=$(jq '.data | length' "${HOT_BODY[jobs]}")
((n == NJOBS)) || die "GET /v1/jobs lists $n jobs, not $NJOBS"
say "printer body: ${HOT_LEN[printer]} bytes; jobs body: ${HOT_LEN[jobs]} bytes, $NJOBS jobs"

HELLO_SOCK=$V/run/bench-hello.sock
setsid "$B/apf-bench-hello" "$HELLO_SOCK" "$CHILDREN" "$BODY" > "$V/log/bench-hello.log" 2>&1 < /dev/null &
HELLO_PID=$!
for ((i = 0; i < 50; i++)); do [[ -S $HELLO_SOCK ]] && break; sleep 0.1; done
[[ -S $HELLO_SOCK ]] || die "apf-bench-hello did not create $HELLO_SOCK"

# the same fastcgi params file and buffer settings as the template's `location /v1/`
PARAMS=$(sed -n 's/^[[:space:]]*include \(.*fastcgi_params\);.*/\1/p' "$V/nginx/nginx.conf" | head -1)
[[ -n $PARAMS && -r $PARAMS ]] || die "cannot find the fastcgi_params include in $V/nginx/nginx.conf"
cat > "$V/nginx/bench.conf.tmp" <<EOF
# written by scripts/bench.sh: the benchmark's references (same body as GET /v1/printers)
location = /bench/hello {
    fastcgi_buffer_size 16k;
    fastcgi_buffers 16 16k;
    include $PARAMS;
    fastcgi_param HTTPS on;
    fastcgi_pass unix:$HELLO_SOCK;
}
location = /bench/static {
    default_type application/json;
    alias $BODY;
}
# the upload reference: nginx reads the body into a file itself (as the upload location's
# limits allow), then a body-less request to the hello app answers
location = /bench/upload {
    client_max_body_size 101m;
    client_body_in_file_only clean;
    fastcgi_pass_request_body off;
    include $PARAMS;
    fastcgi_param HTTPS on;
    fastcgi_pass unix:$HELLO_SOCK;
}
EOF
mv -f "$V/nginx/bench.conf.tmp" "$V/nginx/bench.conf"
NGINX_PID=$(tr -dc '0-9' < "$V/run/nginx.pid")
nginx -t -q -p "$V/nginx" -c "$V/nginx/nginx.conf" -e "$V/nginx/logs/error.log" \
    || die "nginx rejects the config with $V/nginx/bench.conf"
OLD_WORKERS=$(ps -o pid= --ppid "$NGINX_PID" | tr -d ' ')
kill -HUP "$NGINX_PID" || die "cannot signal nginx ($NGINX_PID)"
# until the old workers are gone, a new connection may still land on one that lacks /bench/*
for ((i = 0; i < 100; i++)); do
    left=0
    for p in $OLD_WORKERS; do
        st=$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null || true)
        if [[ -n $st && $st != Z ]]; then left=1; fi
    done
    ((left)) || break
    sleep 0.1
done
((left == 0)) || die "nginx's old workers did not exit after the reload"

ref_fetch() {  # ref_fetch NAME: status code of GET /bench/NAME into $RAW/NAME.body
    curl -sS --http1.1 --cacert "$CACERT" -H "Authorization: Bearer $KEY" -D "$RAW/$1.body.h" \
        -o "$RAW/$1.body" -w '%{http_code}' --max-time 10 "$BASE/bench/$1" || true
}
for ((i = 0; i < 50; i++)); do   # the new workers are up
    [[ $(ref_fetch hello) == 200 && $(ref_fetch static) == 200 ]] && break
    sleep 0.1
done
clen() { tr -d '\r' < "$1" | awk 'tolower($1) == "content-length:" { print $2 }' | tail -1; }
API_CL=$(clen "$BODY.h")
[[ $API_CL == "$BODY_LEN" ]] || die "API Content-Length '$API_CL' but $BODY_LEN bytes received"
for t in hello static; do
    code=$(ref_fetch "$t")
    [[ $code == 200 ]] || die "/bench/$t answered '$code' (see $V/nginx/logs/error.log)"
    cl=$(clen "$RAW/$t.body.h")
    [[ $cl == "$API_CL" ]] || die "/bench/$t Content-Length '$cl' differs from the API's $API_CL"
    cmp -s "$RAW/$t.body" "$BODY" || die "/bench/$t body differs from the API's"
done
say "references answer with the same $API_CL-byte body: /bench/hello ($CHILDREN children), /bench/static"
# bytes of one whole answer (status line, headers, body) per target: wrk's bytes per request
# must match, or the targets did not serve what was checked here
declare -A EXP_BYTES=()
EXP_BYTES[api]=$(($(stat -c %s "$BODY.h") + BODY_LEN))
for t in hello static; do EXP_BYTES[$t]=$(($(stat -c %s "$RAW/$t.body.h") + BODY_LEN)); done
EXP_BYTES[products]=$(($(stat -c %s "$PRODUCTS_BODY.h") + PRODUCTS_LEN))
for t in printer jobs; do
    [[ $(clen "${HOT_BODY[$t]}.h") == "${HOT_LEN[$t]}" ]] \
        || die "GET $(hot_path "$t") Content-Length '$(clen "${HOT_BODY[$t]}.h")' but ${HOT_LEN[$t]} bytes received"
    EXP_BYTES[$t]=$(($(stat -c %s "${HOT_BODY[$t]}.h") + HOT_LEN[$t]))
done
[[ $(clen "$PRODUCTS_BODY.h") == "$PRODUCTS_LEN" ]] \
    || die "GET /v1/products Content-Length '$(clen "$PRODUCTS_BODY.h")' but $PRODUCTS_LEN bytes received"

# ----------------------------------------------------------------------------- measurement

NCPU=$(nproc)
children_of() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true; }
declare -A GROUP=()
find_groups() {  # the process ids behind each CPU column
    local p
    p=$(pid_of nginx); GROUP[nginx]="$p $(children_of "$p")"
    p=$(pid_of apf-fcgi); GROUP[apf-fcgi]="$p $(children_of "$p")"
    GROUP[hello]="$HELLO_PID $(children_of "$HELLO_PID")"
    GROUP[mariadb]=$(pid_of mariadb)
    GROUP[other]="$(pid_of mosquitto) $(for f in "$V"/run/apf-worker-*.pid; do tr -dc '0-9' < "$f"; echo; done)"
}
CPU_COLS=(nginx apf-fcgi hello mariadb wrk other)
self_child_ticks() {  # cutime+cstime of this shell: CPU of the children it has waited for (wrk)
    local s f
    s=$(cat "/proc/$$/stat")
    read -r -a f <<<"${s##*) }"
    echo $((f[13] + f[14]))
}
declare -A SNAP=()
snapshot() {  # snapshot PREFIX
    local g
    for g in nginx apf-fcgi hello mariadb other; do
        # shellcheck disable=SC2086
        SNAP[$1.$g]=$(ticks ${GROUP[$g]})
    done
    SNAP[$1.wrk]=$(self_child_ticks)
    # /proc/stat cpu: user nice system idle iowait irq softirq steal
    read -r _ u n s i w q sq st _ < /proc/stat
    SNAP[$1.total]=$((u + n + s + i + w + q + sq + st))
    SNAP[$1.idle]=$((i + w))
    SNAP[$1.steal]=$st
    SNAP[$1.t]=$(date +%s.%N)
}

url_of() {
    case $1 in
        api) echo "$BASE/v1/printers" ;;
        products) echo "$BASE/v1/products" ;;
        printer | jobs) echo "$BASE$(hot_path "$1")" ;;
        *) echo "$BASE/bench/$1" ;;
    esac
}

# parse one wrk --latency output into "rps p50ms p99ms non2xx errors requests bytes_per_req"
parse_wrk() {
    awk '
    function ms(v) {
        if (v ~ /us$/) return (v + 0) / 1000
        if (v ~ /ms$/) return v + 0
        if (v ~ /m$/)  return (v + 0) * 60000
        if (v ~ /s$/)  return (v + 0) * 1000
        return v + 0
    }
    function bytes(v) {
        if (v ~ /KB$/) return (v + 0) * 1024
        if (v ~ /MB$/) return (v + 0) * 1048576
        if (v ~ /GB$/) return (v + 0) * 1073741824
        return v + 0
    }
    /^ +50% /                      { p50 = ms($2) }
    /^ +99% /                      { p99 = ms($2) }
    /requests in/                  { req = $1; rd = bytes($5) }
    /^Requests\/sec:/              { rps = $2 }
    /Non-2xx or 3xx responses:/    { bad = $NF }
    /^ +Socket errors:/            { gsub(/,/, ""); err = $4 + $6 + $8 + $10; errtxt = $0 }
    END {
        printf "%s %.3f %.3f %d %d %d %.0f\n", (rps == "" ? 0 : rps), p50, p99, bad, err, req,
               (req > 0 ? rd / req : 0)
    }' "$1"
}

run_wrk() {  # run_wrk TARGET SECONDS OUTFILE
    local rc=0
    # in the background + wait, so that a signal to this script is handled at once
    wrk -t"$THREADS" -c"$CONNS" -d"$2s" --latency -H "Authorization: Bearer $KEY" \
        "$(url_of "$1")" > "$3" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || rc=$?
    WRK_PID=
    ((rc == 0)) || { cat "$3" >&2; die "wrk failed for $1 (exit $rc)"; }
}

BAD_RUNS=0
check_errors() {  # check_errors TARGET LABEL OUTFILE PARSED
    local -a r
    read -r -a r <<<"$4"
    if ((r[3] > 0 || r[4] > 0)); then
        BAD_RUNS=$((BAD_RUNS + 1))
        loud "$1 ($2): wrk saw ${r[3]} non-2xx answers and ${r[4]} socket errors -- figures are NOT valid"
        grep -E 'Socket errors|Non-2xx' "$3" >&2 || true
        tail -n 5 "$V/nginx/logs/error.log" >&2 2>/dev/null || true
    fi
    if ((r[5] == 0)); then
        loud "$1 ($2): wrk completed no request"
        BAD_RUNS=$((BAD_RUNS + 1))
    elif ! awk -v g="${r[6]}" -v e="${EXP_BYTES[$1]}" \
            'BEGIN { d = g - e; if (d < 0) d = -d; t = e / 100; if (t < 16) t = 16; exit !(d <= t) }'; then
        # wrk's "MB read" has 3 significant digits: 1 % tolerance
        loud "$1 ($2): ${r[6]} bytes per answer, but the checked answer has ${EXP_BYTES[$1]} -- figures are NOT valid"
        BAD_RUNS=$((BAD_RUNS + 1))
    fi
}

api_still_same() {  # the API body must not drift (e.g. the hub going stale turns printers offline)
    local code
    code=$(api_fetch "$RAW/api.check") || die "curl GET /v1/printers failed"
    [[ $code == 200 ]] || die "GET /v1/printers answered $code during the benchmark"
    if ! cmp -s "$RAW/api.check" "$BODY"; then
        loud "the API body changed during the run ($(stat -c %s "$RAW/api.check") bytes now, was $BODY_LEN) -- figures are NOT valid"
        BAD_RUNS=$((BAD_RUNS + 1))
    fi
    code=$(products_fetch "$RAW/products.check") || die "curl GET /v1/products failed"
    [[ $code == 200 ]] || die "GET /v1/products answered $code during the benchmark"
    if ! cmp -s "$RAW/products.check" "$PRODUCTS_BODY"; then
        loud "the products body changed during the run -- figures are NOT valid"
        BAD_RUNS=$((BAD_RUNS + 1))
    fi
    local t
    for t in printer jobs; do
        code=$(hot_fetch "$t" "$RAW/$t.check") || die "curl GET $(hot_path "$t") failed"
        [[ $code == 200 ]] || die "GET $(hot_path "$t") answered $code during the benchmark"
        if ! cmp -s "$RAW/$t.check" "${HOT_BODY[$t]}"; then
            loud "the $t body changed during the run -- figures are NOT valid"
            BAD_RUNS=$((BAD_RUNS + 1))
        fi
    done
}
keep_hub_online() {  # presence goes stale after 120 s without a heartbeat (sqlfrag.h)
    "$B/apf-admin" hub set-online "$HUB" > /dev/null 2> "$RAW/admin.err" \
        || { cat "$RAW/admin.err" >&2; die "apf-admin hub set-online failed"; }
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
find_groups
if ((WARMUP > 0)); then
    say "warm-up: ${WARMUP}s per target (not recorded)"
    for t in "${TARGETS[@]}"; do
        keep_hub_online
        run_wrk "$t" "$WARMUP" "$RAW/warmup-$t.txt"
        check_errors "$t" warm-up "$RAW/warmup-$t.txt" "$(parse_wrk "$RAW/warmup-$t.txt")"
    done
fi
find_groups   # fcgi children may have been respawned

declare -A RES=() CPU=()
say "measuring: $ROUNDS rounds x (${TARGETS[*]}), wrk -t$THREADS -c$CONNS -d${SECS}s --latency, body $API_CL bytes"
for ((r = 1; r <= ROUNDS; r++)); do
    for t in "${TARGETS[@]}"; do
        keep_hub_online
        wout=$RAW/round$r-$t.txt
        snapshot a
        run_wrk "$t" "$SECS" "$wout"
        snapshot b
        parsed=$(parse_wrk "$wout")
        # shellcheck disable=SC2034  # read through col's name reference
        RES[$r.$t]=$parsed
        check_errors "$t" "round $r" "$wout" "$parsed"
        el=$(awk -v a="${SNAP[a.t]}" -v b="${SNAP[b.t]}" 'BEGIN { print b - a }')
        for g in "${CPU_COLS[@]}"; do
            CPU[$r.$t.$g]=$(cpu_pct "${SNAP[a.$g]}" "${SNAP[b.$g]}" "$el")
        done
        tot=$((${SNAP[b.total]} - ${SNAP[a.total]}))
        ((tot > 0)) || tot=1
        CPU[$r.$t.idle]=$(( (${SNAP[b.idle]} - ${SNAP[a.idle]}) * 100 * NCPU / tot ))
        CPU[$r.$t.steal]=$(( (${SNAP[b.steal]} - ${SNAP[a.steal]}) * 100 * NCPU / tot ))
        ours=0
        for g in "${CPU_COLS[@]}"; do ours=$((ours + ${CPU[$r.$t.$g]})); done
        foreign=$((100 * NCPU - ${CPU[$r.$t.idle]} - ${CPU[$r.$t.steal]} - ours))
        CPU[$r.$t.foreign]=$((foreign < 0 ? 0 : foreign))
        read -r -a v <<<"$parsed"
        printf 'bench:   round %d %-6s %9.0f req/s  p50 %6.2f ms  p99 %7.2f ms  (%s non-2xx, %s socket errors)\n' \
            "$r" "$t" "${v[0]}" "${v[1]}" "${v[2]}" "${v[3]}" "${v[4]}"
    done
    api_still_same
done

# ------------------------------------------------ the hot path with the answer cache off
reload_fcgi() {  # SIGHUP: apf-fcgi re-reads apf.conf and replaces its children; wait for them
    local master old i left p
    master=$(pid_of apf-fcgi)
    old=$(children_of "$master")
    kill -HUP "$master" || die "cannot signal apf-fcgi ($master)"
    for ((i = 0; i < 100; i++)); do
        left=0
        for p in $old; do
            [[ -d /proc/$p && $(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) != Z ]] && left=1
        done
        ((left)) || break
        sleep 0.1
    done
    ((left == 0)) || die "apf-fcgi's old children did not exit after the reload"
}
set_conf() {  # set_conf KEY VALUE: that line of apf.conf (then reload_fcgi)
    sed -i "/^$1 *=/d" "$APF_CONF"
    echo "$1 = $2" >> "$APF_CONF"
}
OFF_TARGETS=(api printer jobs hello)
declare -A RES0=()
if ((NOCACHE)); then
    say "cache off (api_cache = 0, apf-fcgi reloaded): $ROUNDS rounds x (${OFF_TARGETS[*]})"
    set_conf api_cache 0
    reload_fcgi
    if ((WARMUP > 0)); then
        for t in "${OFF_TARGETS[@]}"; do
            run_wrk "$t" "$WARMUP" "$RAW/nocache-warmup-$t.txt"
            check_errors "$t" "cache off, warm-up" "$RAW/nocache-warmup-$t.txt" \
                "$(parse_wrk "$RAW/nocache-warmup-$t.txt")"
        done
    fi
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in "${OFF_TARGETS[@]}"; do
            keep_hub_online
            wout=$RAW/nocache-round$r-$t.txt
            run_wrk "$t" "$SECS" "$wout"
            RES0[$r.$t]=$(parse_wrk "$wout")
            check_errors "$t" "cache off, round $r" "$wout" "${RES0[$r.$t]}"
            read -r -a v <<<"${RES0[$r.$t]}"
            printf 'bench:   round %d %-6s %9.0f req/s  p50 %6.2f ms  p99 %7.2f ms  (%s non-2xx, %s socket errors; cache off)\n' \
                "$r" "$t" "${v[0]}" "${v[1]}" "${v[2]}" "${v[3]}" "${v[4]}"
        done
        api_still_same
    done
    set_conf api_cache 1
    reload_fcgi
fi

# ------------------------------------------------------- 1,000 connections held (C1000)
C1000_RES=
if ((C1000)); then
    say "holding $C1000_CONNS connections for ${C1000_SECS}s against GET /v1/printers"
    keep_hub_online
    wout=$RAW/c1000.txt
    rc=0
    wrk -t"$THREADS" -c"$C1000_CONNS" -d"${C1000_SECS}s" --timeout 5s --latency \
        -H "Authorization: Bearer $KEY" "$(url_of api)" > "$wout" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || rc=$?
    WRK_PID=
    ((rc == 0)) || { cat "$wout" >&2; die "wrk failed for the $C1000_CONNS connections (exit $rc)"; }
    C1000_RES=$(parse_wrk "$wout")
    check_errors api "$C1000_CONNS connections" "$wout" "$C1000_RES"
    read -r -a v <<<"$C1000_RES"
    printf 'bench:   %d connections %9.0f req/s  p50 %6.2f ms  p99 %7.2f ms  (%s non-2xx, %s socket errors)\n' \
        "$C1000_CONNS" "${v[0]}" "${v[1]}" "${v[2]}" "${v[3]}" "${v[4]}"
    api_still_same
fi

# ---------------------------------------------------------------------------------- report

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() {  # col TARGET INDEX [ARRAY]: that field of every round (of RES, or of ARRAY)
    local r out=()
    local -n res=${3:-RES}
    for ((r = 1; r <= ROUNDS; r++)); do
        read -r -a v <<<"${res[$r.$1]}"
        out+=("${v[$2]}")
    done
    echo "${out[*]}"
}
declare -A MED=()
hot_name() {
    case $1 in api) echo "GET /v1/printers" ;; printer) echo "GET /v1/printers/{id}" ;;
        jobs) echo "GET /v1/jobs" ;; esac
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
hot_report() {  # the hot path: the three requests beside hello and static, cache on and off
    local t rh rs verdict off=()
    echo
    echo "Hot path: each request beside this run's hello ($(printf %.0f "${MED[hello.rps]}") req/s) and static ($(printf %.0f "${MED[static.rps]}") req/s);"
    echo "target: >= $HOT_TARGET of hello, p99 under $HOT_P99_MS ms at $CONNS connections"
    printf '%-22s %10s %9s %9s %8s %8s\n' request "req/s" "p50 ms" "p99 ms" "/ hello" "/ static"
    for t in "${HOT_TARGETS[@]}"; do
        printf '%-22s %10.0f %9.2f %9.2f %8s %8s\n' "$(hot_name "$t")" "${MED[$t.rps]}" \
            "${MED[$t.p50]}" "${MED[$t.p99]}" "$(ratio "${MED[$t.rps]}" "${MED[hello.rps]}")" \
            "$(ratio "${MED[$t.rps]}" "${MED[static.rps]}")"
    done
    for t in "${HOT_TARGETS[@]}"; do
        rh=$(ratio "${MED[$t.rps]}" "${MED[hello.rps]}")
        if awk -v r="$rh" -v t="$HOT_TARGET" -v p="${MED[$t.p99]}" -v m="$HOT_P99_MS" \
                'BEGIN { exit !(r >= t && p < m) }'; then
            verdict="meets the target (>= $HOT_TARGET, p99 < $HOT_P99_MS ms)"
        else
            verdict="BELOW the target of $HOT_TARGET (p99 < $HOT_P99_MS ms)"
        fi
        printf '%-22s / hello = %s   %s\n' "$(hot_name "$t")" "$rh" "$verdict"
    done
    if ((NOCACHE)); then
        local x
        for x in "${OFF_TARGETS[@]}"; do
            MED[off.$x.rps]=$(col "$x" 0 RES0 | median)
            MED[off.$x.p99]=$(col "$x" 2 RES0 | median)
        done
        echo
        echo "Cache off (api_cache = 0, apf-fcgi reloaded): a pass of its own after the rounds above,"
        echo "with its own hello ($(printf %.0f "${MED[off.hello.rps]}") req/s); gain = cache on / cache off"
        printf '%-22s %10s %9s %8s %8s\n' request "req/s" "p99 ms" "/ hello" gain
        for t in "${HOT_TARGETS[@]}"; do
            printf '%-22s %10.0f %9.2f %8s %8s\n' "$(hot_name "$t")" "${MED[off.$t.rps]}" \
                "${MED[off.$t.p99]}" "$(ratio "${MED[off.$t.rps]}" "${MED[off.hello.rps]}")" \
                "$(ratio "${MED[$t.rps]}" "${MED[off.$t.rps]}")"
        done
    fi
    if [[ -n $C1000_RES ]]; then
        local -a c
        read -r -a c <<<"$C1000_RES"
        echo
        printf '%d connections held for %ds (wrk -t%d --timeout 5s) on GET /v1/printers: %.0f req/s, p50 %.2f ms, p99 %.2f ms,\n' \
            "$C1000_CONNS" "$C1000_SECS" "$THREADS" "${c[0]}" "${c[1]}" "${c[2]}"
        if ((c[3] == 0 && c[4] == 0)); then
            printf '  %d requests, no non-2xx answer, no socket error\n' "${c[5]}"
        else
            printf '  %d requests: %d non-2xx answers, %d socket errors -- NOT held\n' "${c[5]}" "${c[3]}" "${c[4]}"
        fi
    fi
}
report() {
    local t g rounds line
    echo "apf benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load before: $LOAD_BEFORE"
    echo "GET /v1/printers ($NPRINTERS printers, $API_CL-byte body) over HTTPS via nginx; fcgi_children = $CHILDREN"
    echo "products = GET /v1/products ($NPRODUCTS products x $SKUS_PER_PRODUCT SKUs in the account, $PRODUCTS_LEN-byte body)"
    echo "wrk -t$THREADS -c$CONNS -d${SECS}s --latency, $ROUNDS interleaved rounds; figures are medians of the rounds"
    echo
    printf '%-7s %10s %9s %9s %8s %8s   %s\n' target "req/s" "p50 ms" "p99 ms" non-2xx sockerr "req/s per round"
    for t in "${TARGETS[@]}"; do
        MED[$t.rps]=$(col "$t" 0 | median)
        MED[$t.p50]=$(col "$t" 1 | median)
        MED[$t.p99]=$(col "$t" 2 | median)
        local bad=0 err=0 x
        for x in $(col "$t" 3); do bad=$((bad + x)); done
        for x in $(col "$t" 4); do err=$((err + x)); done
        rounds=$(col "$t" 0 | awk '{ for (i = 1; i <= NF; i++) printf "%s%.0f", (i > 1 ? ", " : ""), $i }')
        printf '%-7s %10.0f %9.2f %9.2f %8d %8d   %s\n' "$t" "${MED[$t.rps]}" "${MED[$t.p50]}" \
            "${MED[$t.p99]}" "$bad" "$err" "$rounds"
    done
    echo
    local rh rs
    rh=$(awk -v a="${MED[api.rps]}" -v b="${MED[hello.rps]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    rs=$(awk -v a="${MED[api.rps]}" -v b="${MED[static.rps]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    local verdict
    if awk -v r="$rh" -v t="$TARGET_RATIO" 'BEGIN { exit !(r >= t) }'; then
        verdict="meets the target (>= $TARGET_RATIO)"
    else
        verdict="BELOW the target of $TARGET_RATIO"
    fi
    echo "API / hello  = $rh   $verdict"
    echo "API / static = $rs"
    local rp
    rp=$(awk -v a="${MED[products.rps]}" -v b="${MED[hello.rps]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    printf "products / hello = %s   (GET /v1/products beside the same run's hello; p50 %.2f ms, p99 %.2f ms)\n" \
        "$rp" "${MED[products.p50]}" "${MED[products.p99]}"
    hot_report
    echo
    echo "CPU during the runs, % of one core (median of rounds; $NCPU cores = $((NCPU * 100)) %):"
    printf '%-7s' target
    for g in "${CPU_COLS[@]}" foreign idle steal; do printf ' %8s' "$g"; done
    echo
    for t in "${TARGETS[@]}"; do
        printf '%-7s' "$t"
        for g in "${CPU_COLS[@]}" foreign idle steal; do
            local vals=() r
            for ((r = 1; r <= ROUNDS; r++)); do vals+=("${CPU[$r.$t.$g]}"); done
            printf ' %8.0f' "$(echo "${vals[*]}" | median)"
        done
        echo
    done
    echo "(other = mosquitto + apf-worker; wrk = the load generator, on the same cores;"
    echo " foreign = busy CPU not used by this stack nor wrk: other programs on the machine)"
    local worst=0
    for t in "${TARGETS[@]}"; do
        for ((r = 1; r <= ROUNDS; r++)); do
            if ((${CPU[$r.$t.foreign]} > worst)); then worst=${CPU[$r.$t.foreign]}; fi
        done
    done
    if ((worst >= 25)); then
        echo
        echo "NOTE: other programs used up to $worst % of a core during some runs: the absolute"
        echo "figures are noisy; the interleaved ratios are less affected."
    fi
    if ((BAD_RUNS > 0)); then
        echo
        echo "!!! $BAD_RUNS bad run(s) (non-2xx answers, socket errors, answers of another size, a drifted body): these figures are NOT valid !!!"
    fi
}
report > "$OUT/results.txt"

# ---------------------------------------------------------- orders: fulfilment (BENCH_ORDERS)
# POST /v1/orders/{id}/fulfill on CONNS connections, each request a distinct order of one line
# whose finished good is one of 5 hot SKUs (the row locks every fulfilment of that SKU takes
# turns on), beside the GET /v1/printers figure of this run. Orders and lines are inserted with
# SQL (ids <8 hex digits>-0000-4000-8000-00000000000{0,1}, so wrk's script names them without a
# list); the hot finished goods get their stock by SQL too, then `apf-admin stock reconcile`.
# After the runs: every fulfilled order took one unit, and the ledger agrees (stock verify).
#   BENCH_ORDERS  1 (default) runs it, 0 skips it   BENCH_ORDERS_N  orders made (default 100000)
ORDERS=${BENCH_ORDERS:-1}
ORDERS_N=${BENCH_ORDERS_N:-100000}
need_whole ORDERS ORDERS_N
if ((ORDERS)); then
    ORDERS_SKUS=5
    ORDERS_STOCK=100000000
    osql() { mariadb --defaults-file="$V/mysql/root.cnf" -N -B "${C[db_name]}" -e "$1"; }
    opost() {  # opost PATH BODY: data.id of the 201
        local out
        out=$(curl -sS --cacert "$CACERT" -H "Authorization: Bearer $KEY" \
              -H 'Content-Type: application/json' -d "$2" "$BASE/v1$1") || die "POST $1 failed"
        jq -er '.data.id' <<<"$out" 2>/dev/null || die "POST $1 answered: $out"
    }
    say "orders: $ORDERS_SKUS hot SKUs, $ORDERS_N orders of one line"
    PRODUCT=$(opost /products '{"name":"Bench order product"}')
    for ((k = 0; k < ORDERS_SKUS; k++)); do
        opost /skus "{\"product_id\":\"$PRODUCT\",\"sku\":\"HOT-$k\",\"color\":\"Black\"}" > /dev/null
    done
    # the account also holds the products figure's SKUs: only the HOT-k ones take part here
    HOT="account_id = '$ACCOUNT' AND sku LIKE 'HOT-%'"
    osql "UPDATE finished_goods SET ready_stock = $ORDERS_STOCK, status = 'in_stock'
          WHERE $HOT" || die "cannot stock the hot SKUs"
    "$B/apf-admin" stock reconcile --account "$ACCOUNT" > "$RAW/orders-reconcile.out" 2>&1 \
        || { cat "$RAW/orders-reconcile.out" >&2; die "apf-admin stock reconcile failed"; }
    oid="CONCAT(LPAD(LOWER(HEX(seq)), 8, '0'), '-0000-4000-8000-00000000000"
    osql "INSERT INTO orders (id, account_id, order_number, customer_name, total_revenue)
          SELECT ${oid}0'), '$ACCOUNT', CONCAT('BENCH-', seq), 'Bench', 100 FROM seq_1_to_$ORDERS_N;
          INSERT INTO order_items (id, account_id, order_id, finished_good_id, product_sku_id,
            sku, product_name, quantity, unit_price, total_price)
          SELECT ${oid}1'), '$ACCOUNT', ${oid}0'), fg.id, fg.product_sku_id, fg.sku, 'Bench', 1,
            100, 100 FROM seq_1_to_$ORDERS_N JOIN (SELECT id, product_sku_id, sku,
            ROW_NUMBER() OVER (ORDER BY sku) - 1 AS k FROM finished_goods
            WHERE $HOT) fg ON fg.k = seq MOD $ORDERS_SKUS" \
        || die "cannot insert the bench orders"
    # thread i of n takes orders start + i, start + i + n, ...; argument: start
    cat > "$V/bench/fulfil.lua" <<LUA
-- written by scripts/bench.sh: POST /v1/orders/{id}/fulfill, a distinct order per request
local nthreads = 0
function setup(thread)
    thread:set("tid", nthreads)
    nthreads = nthreads + 1
end
function init(args)
    n = tonumber(args[1]) + tid
    wrk.headers["Content-Type"] = "application/json"
end
function request()
    local path = string.format("/v1/orders/%08x-0000-4000-8000-000000000000/fulfill", n)
    n = n + $THREADS
    return wrk.format("POST", path, nil, "{}")
end
LUA
    ONEXT=1
    ofulfil() {  # ofulfil SECONDS OUTFILE: one wrk run from order ONEXT on; ONEXT moves past it
        local rc=0 req
        wrk -t"$THREADS" -c"$CONNS" -d"$1s" --latency -H "Authorization: Bearer $KEY" \
            -s "$V/bench/fulfil.lua" "$BASE/v1/orders" -- "$ONEXT" > "$2" 2>&1 &
        WRK_PID=$!
        wait "$WRK_PID" || rc=$?
        WRK_PID=
        ((rc == 0)) || { cat "$2" >&2; die "wrk failed for the fulfilment (exit $rc)"; }
        req=$(parse_wrk "$2" | awk '{ print $6 }')
        ONEXT=$((ONEXT + req + 2 * CONNS))
        if ((ONEXT > ORDERS_N)); then
            BAD_RUNS=$((BAD_RUNS + 1))
            loud "fulfilment: ran out of the $ORDERS_N bench orders (raise BENCH_ORDERS_N) -- figures are NOT valid"
        fi
    }
    declare -a ORES=()
    if ((WARMUP > 0)); then ofulfil "$WARMUP" "$RAW/orders-warmup.txt"; fi
    for ((r = 1; r <= ROUNDS; r++)); do
        ofulfil "$SECS" "$RAW/orders-round$r.txt"
        ORES[r]=$(parse_wrk "$RAW/orders-round$r.txt")
        read -r -a v <<<"${ORES[r]}"
        if ((v[3] > 0 || v[4] > 0)); then
            BAD_RUNS=$((BAD_RUNS + 1))
            loud "fulfilment (round $r): ${v[3]} non-2xx answers, ${v[4]} socket errors -- figures are NOT valid"
        fi
        printf 'bench:   round %d %-6s %9.0f req/s  p50 %6.2f ms  p99 %7.2f ms  (%s non-2xx, %s socket errors)\n' \
            "$r" fulfil "${v[0]}" "${v[1]}" "${v[2]}" "${v[3]}" "${v[4]}"
    done
    # every fulfilled order took exactly one unit, through the ledger
    read -r shipped taken <<<"$(osql "SELECT (SELECT COUNT(*) FROM orders WHERE account_id = '$ACCOUNT'
        AND status = 'fulfilled'), $ORDERS_SKUS * $ORDERS_STOCK - SUM(ready_stock)
        FROM finished_goods WHERE $HOT")"
    if [[ $shipped != "$taken" ]]; then
        BAD_RUNS=$((BAD_RUNS + 1))
        loud "fulfilment: $shipped orders fulfilled but $taken units left the shelf"
    fi
    "$B/apf-admin" stock verify --account "$ACCOUNT" > "$RAW/orders-verify.out" 2>&1 \
        || { BAD_RUNS=$((BAD_RUNS + 1)); loud "fulfilment: the ledger disagrees (see $RAW/orders-verify.out)"; }
    ocol() {  # ocol INDEX: that field of every fulfilment round
        local r out=() f
        for ((r = 1; r <= ROUNDS; r++)); do read -r -a f <<<"${ORES[r]}"; out+=("${f[$1]}"); done
        echo "${out[*]}"
    }
    {
        echo
        echo "Orders: POST /v1/orders/{id}/fulfill, a distinct one-line order per request over $ORDERS_SKUS hot SKUs"
        echo "wrk -t$THREADS -c$CONNS -d${SECS}s --latency, $ROUNDS rounds after the GET rounds, medians;"
        echo "$shipped orders fulfilled, each one unit off its SKU's ready_stock, ledger verified"
        printf '%-16s %10s %9s %9s   %s\n' target "req/s" "p50 ms" "p99 ms" "req/s per round"
        printf '%-16s %10.0f %9.2f %9.2f   %s\n' fulfil "$(ocol 0 | median)" "$(ocol 1 | median)" \
            "$(ocol 2 | median)" "$(ocol 0 | awk '{ for (i = 1; i <= NF; i++) printf "%s%.0f", (i > 1 ? ", " : ""), $i }')"
        printf '%-16s %10.0f %9.2f %9.2f   (the API figure above)\n' "GET /v1/printers" \
            "${MED[api.rps]}" "${MED[api.p50]}" "${MED[api.p99]}"
        awk -v a="$(ocol 0 | median)" -v b="${MED[api.rps]}" \
            'BEGIN { printf "fulfil / GET = %.2f\n", (b > 0 ? a / b : 0) }'
    } >> "$OUT/results.txt"
fi

# ------------------------------------------------------------------ files: extraction, upload

now_us() { echo "${EPOCHREALTIME/./}"; }
bsdtar_rate() {  # bsdtar_rate ARCHIVE: "iterations seconds MB/s" of bsdtar -xOf for FILES_SECS
    local n=0 t0 t
    t0=$(now_us)
    while :; do
        bsdtar -xOf "$1" > /dev/null || die "bsdtar -xOf $1 failed"
        n=$((n + 1))
        t=$(($(now_us) - t0))
        ((t >= FILES_SECS * 1000000)) && break
    done
    awk -v n="$n" -v t="$t" -v b="$(stat -c %s "$1")" 'BEGIN { printf "%d %.3f %.1f\n", n, t / 1e6, b * n / t }'
}

upload_once() {  # upload_once URL OUT: "http_code seconds bytes" of one PUT of the body
    curl -sS --cacert "$CACERT" -H "Authorization: Bearer $KEY" \
        -H 'Content-Type: application/octet-stream' -T "$UPLOAD_BODY" -o "$2" \
        -w '%{http_code} %{time_total} %{size_upload}' --max-time 120 "$1" \
        || die "curl PUT $1 failed"
}

files_report() {
    local f name meta bt ratio worst=
    echo "Files: metadata extraction (largest 3MF fixtures; MB = 10^6 bytes of the archive per second)"
    printf '%-44s %9s %12s %12s %7s\n' archive bytes "meta MB/s" "bsdtar MB/s" ratio
    for f in "${EXTRACT_FILES[@]}"; do
        name=${f##*/}
        read -r -a meta <<<"${EXTRACT[$name.meta]}"
        read -r -a bt <<<"${EXTRACT[$name.bsdtar]}"
        ratio=$(awk -v a="${meta[4]}" -v b="${bt[2]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        printf '%-44s %9d %12.1f %12.1f %7s\n' "$name" "${meta[1]}" "${meta[4]}" "${bt[2]}" "$ratio"
        if [[ -z $worst ]] || awk -v r="$ratio" -v w="$worst" 'BEGIN { exit !(r < w) }'; then worst=$ratio; fi
    done
    echo "(apf-meta-bench: in-process loop of ${FILES_SECS}s per archive; bsdtar: one process per"
    echo " extraction for ${FILES_SECS}s, so its figures include ~1 ms of process start each)"
    if awk -v r="$worst" -v t="$FILES_TARGET" 'BEGIN { exit !(r >= t) }'; then
        echo "extraction / bsdtar = $worst (worst archive)   meets the target (>= $FILES_TARGET)"
    else
        echo "extraction / bsdtar = $worst (worst archive)   BELOW the target of $FILES_TARGET"
    fi
    echo
    echo "Files: upload of a $UPLOAD_MB MiB body over HTTPS via nginx (curl -T, $UPLOAD_ROUNDS interleaved rounds per phase, medians)"
    local t med rounds phase a b
    printf '%-13s %10s   %s\n' target "MB/s" "MB/s per round"
    for t in api nginx api-nofsync nginx-2; do
        med=$(echo "${UPLOAD[$t]}" | median)
        UPLOAD[$t.med]=$med
        rounds=$(echo "${UPLOAD[$t]}" | awk '{ for (i = 1; i <= NF; i++) printf "%s%.0f", (i > 1 ? ", " : ""), $i }')
        printf '%-13s %10.1f   %s\n' "$t" "$med" "$rounds"
    done
    echo "(api = PUT /v1/files/upload/{token} as configured by default: token check, streamed to the"
    echo " store, write-back started every 8 MiB, fdatasync and rename; api-nofsync = the same with"
    echo " file_store_fsync = 0, measured in a second phase with its own nginx rounds (nginx-2);"
    echo " nginx = /bench/upload, nginx alone writing the body to its temp file, which it never syncs)"
    for phase in "api nginx" "api-nofsync nginx-2"; do
        read -r a b <<<"$phase"
        ratio=$(awk -v x="${UPLOAD[$a.med]}" -v y="${UPLOAD[$b.med]}" 'BEGIN { printf "%.2f", (y > 0 ? x / y : 0) }')
        if awk -v r="$ratio" -v t="$FILES_TARGET" 'BEGIN { exit !(r >= t) }'; then
            printf '%-13s / nginx = %s   meets the target (>= %s)\n' "$a" "$ratio" "$FILES_TARGET"
        else
            printf '%-13s / nginx = %s   BELOW the target of %s\n' "$a" "$ratio" "$FILES_TARGET"
        fi
    done
}

upload_rounds() {  # upload_rounds API_LABEL NGINX_LABEL: interleaved rounds into UPLOAD[]
    local r t label url code secs bytes got mbs
    for ((r = 1; r <= UPLOAD_ROUNDS; r++)); do
        for t in api nginx; do
            if [[ $t == api ]]; then label=$1 url=$UPLOAD_URL; else label=$2 url=$BASE/bench/upload; fi
            read -r code secs bytes <<<"$(upload_once "$url" "$RAW/upload-$label-$r.out")"
            [[ $code == 200 ]] || die "upload to $label answered $code: $(head -c 300 "$RAW/upload-$label-$r.out")"
            ((bytes == UPLOAD_MB * 1048576)) || die "upload to $label sent $bytes bytes"
            if [[ $t == api ]]; then
                got=$(jq -r '.data.size_bytes' "$RAW/upload-$label-$r.out")
                ((got == bytes)) || die "the API stored $got of $bytes bytes"
            fi
            mbs=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1e6 }')
            UPLOAD[$label]+="$mbs "
            printf 'bench:   round %d %-12s %8s MB/s  (%ss)\n' "$r" "$label" "$mbs" "$secs"
        done
    done
}


if ((FILES)); then
    declare -A EXTRACT=() UPLOAD=()
    # shellcheck disable=SC2012  # ls -S: the largest first (the fixtures have plain names)
    mapfile -t EXTRACT_FILES < <(ls -S "$FIXTURES"/*.3mf | head -3)
    say "files: extraction, ${FILES_SECS}s per archive: ${EXTRACT_FILES[*]##*/}"
    for f in "${EXTRACT_FILES[@]}"; do
        name=${f##*/}
        EXTRACT[$name.meta]=$("$B/apf-meta-bench" "$FILES_SECS" "$f" 2> "$RAW/meta-bench.err") \
            || { cat "$RAW/meta-bench.err" >&2; die "apf-meta-bench failed on $f"; }
        EXTRACT[$name.bsdtar]=$(bsdtar_rate "$f")
        printf 'bench:   %-44s meta %s | bsdtar %s\n' "$name" "${EXTRACT[$name.meta]#* }" "${EXTRACT[$name.bsdtar]}"
    done

    UPLOAD_BODY=$V/bench/upload.bin
    head -c $((UPLOAD_MB * 1048576)) /dev/urandom > "$UPLOAD_BODY"
    grant=$(curl -sS --cacert "$CACERT" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
            -d '{"filename":"bench-upload.gcode"}' "$BASE/v1/files/upload-url") || die "upload-url failed"
    UPLOAD_URL=$(jq -r '.data.upload_url // empty' <<<"$grant")
    [[ -n $UPLOAD_URL ]] || die "POST /v1/files/upload-url answered: $grant"
    say "files: upload of $UPLOAD_MB MiB, $UPLOAD_ROUNDS rounds x (api, nginx), as configured"
    upload_rounds api nginx
    say "files: the same with file_store_fsync = 0 (apf-fcgi reloaded)"
    sed -i '/^file_store_fsync *=/d' "$APF_CONF"
    echo 'file_store_fsync = 0' >> "$APF_CONF"
    reload_fcgi
    upload_rounds api-nofsync nginx-2
    rm -f "$UPLOAD_BODY"
    { echo; files_report; } >> "$OUT/results.txt"
fi

echo
cat "$OUT/results.txt"
echo
say "table written to $OUT/results.txt; wrk outputs in $RAW/"
((BAD_RUNS == 0)) || exit 3
# The analytics endpoints (BENCH_ANALYTICS=0 skips them) and the hub link (pause round trip,
# telemetry ingestion; BENCH_HUB=0 skips it), each on a private stack of its own. This one is
# stopped first: exec replaces the shell without running its EXIT trap.
trap - EXIT
bench_stop_own || true
say "stopping the private stack"
"$STACK" stop > "$RAW/stack-stop.log" 2>&1 || cat "$RAW/stack-stop.log" >&2
if [[ ${BENCH_ANALYTICS:-1} != 0 ]]; then
    "$(dirname "$0")/bench_analytics.sh" || exit $?
fi
[[ ${BENCH_HUB:-1} == 0 ]] && exit 0
exec "$(dirname "$0")/bench_hub.sh"
