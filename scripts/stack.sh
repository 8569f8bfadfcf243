#!/usr/bin/env bash
# apf local stack: MariaDB, mosquitto, apf-fcgi, apf-worker(s), nginx (+ apf-hubsim in `run`)
# as plain background processes under one state folder. No systemd needed.
#
#   scripts/stack.sh init     create/refresh $APF_VAR (configs, TLS cert, datadir, apf.conf)
#   scripts/stack.sh start    init + start every service in the background, wait until ready
#   scripts/stack.sh stop     stop what start started (pid files in $APF_VAR/run), reverse order
#   scripts/stack.sh status   one line per service; exit 0 if all are running, else 3
#   scripts/stack.sh run      start + demo data + hub simulator; foreground until Ctrl-C
#   (start and run also start a supervisor that restarts a service that dies, like the systemd
#   units do: scripts/supervisor.sh; APF_SUPERVISE=0: none)
#
# Environment:
#   APF_VAR          state folder (default <repo>/var), always made absolute
#   APF_BIN          folder with apf-fcgi, apf-worker, apf-admin, apf-hubsim (default <repo>/build/bin)
#   APF_FREE_PORTS=1 on first init, pick free loopback ports instead of 8443/1883/13306
#   APF_HTTPS_PORT, APF_MQTT_PORT, APF_DB_PORT   ports for the first init (when apf.conf is written)
#   APF_START_TIMEOUT  seconds to wait for each service (default 20)
#   APF_SUPERVISE=0  no supervisor (APF_RESTART_SEC, APF_START_LIMIT_BURST/_INTERVAL: its limits)
#
# $APF_VAR/apf.conf is written only when missing, so data and secrets survive re-runs; every
# other generated config (my.cnf, mosquitto.conf, nginx.conf) is derived from it on each init;
# the broker's dynamic-security state file (mq/dynsec.json) is created once, then the broker's.
set -euo pipefail
shopt -s nullglob

export PATH="$PATH:/usr/sbin:/sbin"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
V=$(realpath -m -- "${APF_VAR:-$REPO/var}")
B=$(realpath -m -- "${APF_BIN:-$REPO/build/bin}")
CONF=$V/apf.conf
export APF_CONF=$CONF APF_VAR=$V
ME=$(id -un)
TIMEOUT=${APF_START_TIMEOUT:-20}

say()  { printf 'stack: %s\n' "$*"; }
warn() { printf 'stack: WARNING: %s\n' "$*" >&2; }
die()  { printf 'stack: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------- config

declare -A C=()
load_conf() {
    C=()
    local line
    while IFS= read -r line || [[ -n $line ]]; do
        [[ $line =~ ^[[:space:]]*([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*(.*)$ ]] || continue
        local k=${BASH_REMATCH[1]} v=${BASH_REMATCH[2]}
        v=${v%"${v##*[![:space:]]}"}          # trim trailing blanks
        C[$k]=$v
    done < "$CONF"
}
cf() {
    [[ -n ${C[$1]:-} ]] || die "key '$1' is missing or empty in $CONF"
    printf '%s' "${C[$1]}"
}

port_busy() {  # something accepts connections on 127.0.0.1:$1
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}
free_ports() {  # print N distinct free loopback ports
    local n=$1
    if command -v python3 >/dev/null; then
        python3 - "$n" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
    else
        local out=() p
        while ((${#out[@]} < n)); do
            p=$((20000 + RANDOM % 12000))
            [[ " ${out[*]} " == *" $p "* ]] && continue
            port_busy "$p" || out+=("$p")
        done
        echo "${out[*]}"
    fi
}
rand_hex() { openssl rand -hex "$1"; }

write_conf() {
    # explicit APF_*_PORT > APF_FREE_PORTS=1 (free loopback ports) > defaults 8443/1883/13306
    local https mqtt db metrics free=()
    if [[ ${APF_FREE_PORTS:-0} == 1 ]]; then read -r -a free < <(free_ports 4); fi
    https=${APF_HTTPS_PORT:-${free[0]:-8443}}
    mqtt=${APF_MQTT_PORT:-${free[1]:-1883}}
    db=${APF_DB_PORT:-${free[2]:-13306}}
    metrics=${APF_METRICS_PORT:-${free[3]:-9188}}
    # MQTT and MariaDB are internal: if a default port is taken (a system mosquitto on 1883,
    # say), pick a free one. HTTPS is the public contract: keep it; start fails loudly if busy.
    if [[ -z ${APF_MQTT_PORT:-}${free[1]:-} ]] && port_busy "$mqtt"; then
        read -r mqtt < <(free_ports 1); say "port 1883 is busy, MQTT uses $mqtt"
    fi
    if [[ -z ${APF_DB_PORT:-}${free[2]:-} ]] && port_busy "$db"; then
        read -r db < <(free_ports 1); say "port 13306 is busy, MariaDB uses $db"
    fi
    if [[ -z ${APF_METRICS_PORT:-}${free[3]:-} ]] && port_busy "$metrics"; then
        read -r metrics < <(free_ports 1); say "port 9188 is busy, metrics use $metrics"
    fi
    local tmp=$CONF.tmp.$$
    (umask 077; cat > "$tmp" <<EOF
# apf configuration, read by every apf program (APF_CONF overrides the path). Written once by
# scripts/stack.sh; edit freely, then: scripts/stack.sh stop; scripts/stack.sh start
var_dir = $V
sql_dir = $REPO/sql
db_socket = $V/run/mariadb.sock
db_host = 127.0.0.1
db_port = $db
db_name = apf
db_user = apf
db_password = $(rand_hex 16)
db_migrate_user = apf_migrate
db_migrate_password = $(rand_hex 16)
mqtt_host = 127.0.0.1
mqtt_port = $mqtt
mqtt_username = apf-backend
mqtt_password = $(rand_hex 16)
mqtt_admin_username = apf-dynsec-admin
mqtt_admin_password = $(rand_hex 16)
mqtt_dynsec_file = $V/mq/dynsec.json
mqtt_pid_file = $V/run/mosquitto.pid
https_port = $https
metrics_port = $metrics
base_url = https://127.0.0.1:$https/v1
fcgi_socket = $V/run/apf-fcgi.sock
fcgi_children = 8
workers = 1
worker_socket = $V/run/apf-worker.sock
file_store = $V/files
upload_secret = $(rand_hex 32)
rate_limit = 120
nginx_rate = 5000
nginx_burst = 2000
nginx_anon_rate = 20
nginx_anon_burst = 40
max_upload_mb = 100
tls_cert = $V/tls/cert.pem
tls_key = $V/tls/key.pem
log_dir = $V/log
# test stack only (docs/idempotency.md "Testing"): the X-Apf-Test-Fault hook; never in production
test_fault_hooks = 1
EOF
    )
    mv -f "$tmp" "$CONF"
    say "wrote $CONF (https $https, mqtt $mqtt, mariadb $db)"
}

# Keys added after a conf was written: appended once (the rest of the file is left as it is).
upgrade_conf() {
    if ! grep -q '^[[:space:]]*db_migrate_user[[:space:]]*=' "$CONF"; then
        printf '# schema changes (apf-admin migrate) run as their own database user; db_user may\n# only read and write rows\ndb_migrate_user = apf_migrate\ndb_migrate_password = %s\n' \
            "$(rand_hex 16)" >> "$CONF"
        say "added db_migrate_user to $CONF"
    fi
    if ! grep -q '^[[:space:]]*mqtt_admin_username[[:space:]]*=' "$CONF"; then
        # docs/scale-out.md ("Broker credentials"): hub credentials live in mosquitto's
        # dynamic-security plugin, administered by this client
        printf '# dynamic-security admin client of the brokers (apf-admin hub create / revoke)\nmqtt_admin_username = apf-dynsec-admin\nmqtt_admin_password = %s\nmqtt_dynsec_file = %s\n' \
            "$(rand_hex 16)" "$V/mq/dynsec.json" >> "$CONF"
        say "added mqtt_admin_username to $CONF"
    fi
    if ! grep -q '^[[:space:]]*metrics_port[[:space:]]*=' "$CONF"; then
        # docs/observability.md: nginx's loopback listener for GET /metrics
        local mp=${APF_METRICS_PORT:-9188}
        if [[ -z ${APF_METRICS_PORT:-} ]] && { [[ ${APF_FREE_PORTS:-0} == 1 ]] || port_busy "$mp"; }; then
            read -r mp < <(free_ports 1)
        fi
        printf '# Prometheus metrics: http://127.0.0.1:<metrics_port>/metrics (loopback only)\nmetrics_port = %s\n' "$mp" >> "$CONF"
        say "added metrics_port to $CONF"
    fi
    if ! grep -q '^[[:space:]]*peer_listen[[:space:]]*=' "$CONF"; then
        # docs/hot-path.md: the data-version notice listener (one host here: apf-admin and the
        # tests' fixtures tell it about changes they make; api_peers lists other API hosts)
        local pp
        read -r pp < <(free_ports 1)
        printf '# data-version notices between API hosts (docs/hot-path.md)\npeer_listen = 127.0.0.1:%s\npeer_secret = %s\n' \
            "$pp" "$(rand_hex 32)" >> "$CONF"
        say "added peer_listen to $CONF"
    fi
    if ! grep -q '^[[:space:]]*test_fault_hooks[[:space:]]*=' "$CONF"; then
        # docs/idempotency.md "Testing": this stack is a test stack; never in production
        printf '# test stack only: the X-Apf-Test-Fault hook (docs/idempotency.md)\ntest_fault_hooks = 1\n' >> "$CONF"
    fi
    if ! grep -q '^[[:space:]]*nginx_conf[[:space:]]*=' "$CONF"; then
        # apf-admin doctor tests it with nginx -t (docs/operations.md)
        printf '# the nginx configuration apf-admin doctor tests (nginx -t)\nnginx_conf = %s\n' \
            "$V/nginx/nginx.conf" >> "$CONF"
    fi
    if [[ ${V##*/} == test-var ]] && ! grep -q '^[[:space:]]*webhook_allow[[:space:]]*=' "$CONF"; then
        # the API tests' own webhook receivers listen on loopback (docs/webhooks.md); short
        # timeouts, leases and retries so their outcomes are seen within a test
        printf '# webhook tests: loopback receivers allowed, short delays\nwebhook_allow = 127.0.0.0/8\nwebhook_timeout_seconds = 2\nwebhook_lease_seconds = 4\nwebhook_retry_schedule = 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1\nwebhook_poll_ms = 100\nwebhook_endpoint_inflight = 4\n' >> "$CONF"
        say "added webhook_allow to $CONF"
    fi
}

# ------------------------------------------------------------------------------- processes

pidfile() { printf '%s/run/%s.pid' "$V" "$1"; }
proc_state() {  # one-letter state of $1, empty when gone
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    s=${s##*) }
    printf '%s' "${s%% *}"
}
alive() {  # running and not a zombie (a zombie waits for a slow PID 1 to reap it)
    local st; st=$(proc_state "$1")
    [[ -n $st && $st != Z && $st != X ]]
}
svc_pattern() {
    case $1 in
        mariadb) echo mariadbd ;;
        apf-worker-*) echo apf-worker ;;
        supervisor) echo "stack.sh supervise" ;;
        *) echo "$1" ;;
    esac
}
svc_pid() {  # print the pid of service $1 if its pid file names a live process of that program
    local f pid cmd
    f=$(pidfile "$1")
    [[ -r $f ]] || return 1
    pid=$(tr -dc '0-9' < "$f")
    [[ -n $pid ]] && alive "$pid" || return 1
    cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$(svc_pattern "$1")"* ]] || return 1
    printf '%s' "$pid"
}

STARTED_NOW=()
SPAWNED=
spawn() {  # spawn NAME CMD... : background, own session, output to log/NAME.log, pid file
    local name=$1; shift
    local logf=$V/log/$name.log
    printf '\n==== %s start: %s\n' "$(date -Is)" "$*" >> "$logf"
    # setsid: own session, so a Ctrl-C on the terminal reaches only this script, which then
    # stops the services in order. In a non-interactive shell the child is not a group
    # leader, so setsid execs in place and $! is the service's own pid.
    setsid "$@" >> "$logf" 2>&1 < /dev/null 9>&- &
    SPAWNED=$!
    echo "$SPAWNED" > "$(pidfile "$name")"
    STARTED_NOW+=("$name")
}

show_log() {
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        printf -- '----- last lines of %s -----\n' "$f" >&2
        tail -n 30 "$f" >&2
    done
}

group_members() {  # live (non-zombie) processes whose process group is $1
    ps -eo pid=,pgid=,stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print $1 }'
}
sweep_group() {  # services run in their own session (setsid): pgid == their pid. Once the
    local g=$1 i  # main process is gone, anything left in that group is its orphaned helper.
    [[ -n $(group_members "$g") ]] || return 0
    kill -TERM -- "-$g" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        [[ -n $(group_members "$g") ]] || return 0
        sleep 0.1
    done
    kill -KILL -- "-$g" 2>/dev/null || true
}

stop_svc() {  # stop_svc NAME [timeout]
    local name=$1 t=${2:-15} f pid i
    f=$(pidfile "$name")
    [[ -e $f ]] || return 0
    if pid=$(svc_pid "$name"); then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < t * 10; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            warn "$name ($pid) did not stop within ${t}s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
        fi
        wait "$pid" 2>/dev/null || true       # reap it when it is our own child
        say "stopped $name ($pid)"
    else
        pid=$(tr -dc '0-9' < "$f")
    fi
    # leftovers of a crashed or killed service (its pid is gone, its group is not)
    [[ -n $pid ]] && ! alive "$pid" && sweep_group "$pid"
    rm -f "$f"
    [[ $name == apf-fcgi && -n ${C[fcgi_socket]:-} ]] && rm -f "${C[fcgi_socket]}"
    return 0
}

abort_start() {  # abort_start NAME MESSAGE : loud failure, stop what this invocation started
    local name=$1 msg=$2
    printf 'stack: ERROR: %s: %s\n' "$name" "$msg" >&2
    show_log "$V/log/$name.log"
    [[ $name == nginx ]] && show_log "$V/nginx/logs/error.log"
    stop_started
    exit 1
}

stop_started() {
    local i
    for ((i = ${#STARTED_NOW[@]} - 1; i >= 0; i--)); do
        stop_svc "${STARTED_NOW[i]}" "$(stop_timeout "${STARTED_NOW[i]}")"
    done
    STARTED_NOW=()
}
stop_timeout() { [[ $1 == mariadb ]] && echo 60 || echo 15; }

# readiness probes (return 0 when ready)
ready_mariadb()  { mariadb-admin --defaults-file="$V/mysql/my.cnf" --connect-timeout=1 ping >/dev/null 2>&1; }
ready_mosquitto() { port_busy "$(cf mqtt_port)"; }
ready_apf-fcgi() { [[ -S $(cf fcgi_socket) ]]; }
ready_nginx() {
    [[ $(curl -ks -o /dev/null -w '%{http_code}' --max-time 2 "https://127.0.0.1:$(cf https_port)/nginx-bench") == 200 ]]
}
GRACE=0
ready_grace() { ((++GRACE >= 8)); }   # a daemon with no probe: still alive after ~0.8 s

wait_ready() {  # wait_ready NAME PID PROBE
    local name=$1 pid=$2 probe=$3 i
    GRACE=0
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        alive "$pid" || abort_start "$name" "exited during start-up"
        if "$probe"; then say "$name ready (pid $pid)"; return 0; fi
        sleep 0.1
    done
    abort_start "$name" "not ready after ${TIMEOUT}s"
}

LOCKED=0
lock() {
    ((LOCKED)) && return 0
    exec 9> "$V/run/.stack.lock"
    flock -w 120 9 || die "another stack.sh holds $V/run/.stack.lock"
    LOCKED=1
}
unlock() { ((LOCKED)) || return 0; exec 9>&-; LOCKED=0; }

# ------------------------------------------------------------------------------------ init

need_tools() {
    local t missing=()
    for t in mariadb-install-db mariadbd mariadb mariadb-admin mosquitto mosquitto_ctrl nginx \
             openssl curl jq setsid flock; do
        command -v "$t" >/dev/null || missing+=("$t")
    done
    ((${#missing[@]} == 0)) || die "missing programs: ${missing[*]} (run scripts/deps.sh)"
}

nginx_user_line() {
    if [[ $(id -u) != 0 ]]; then
        echo "# not started as root: workers run as $ME"
        return
    fi
    # nginx workers (nobody) must reach the FastCGI socket and the temp dirs under $V; the
    # socket is 0660 with apf-fcgi's own group (fcgi_socket_group unset), so the workers run in
    # that group. When some parent folder is closed to others (e.g. a repo under /root), run
    # them as root.
    local d=$V p
    while :; do
        p=$(stat -c %a "$d")
        if (((8#$p & 1) == 0)); then
            echo "user root;  # $d is not searchable by others"
            return
        fi
        [[ $d == / ]] && break
        d=$(dirname "$d")
    done
    echo "user nobody $(id -gn);"
}

gen_nginx() {
    local up=$(( $(cf max_upload_mb) + 1 ))m
    cp "$REPO/nginx/fastcgi_params" "$V/nginx/fastcgi_params"
    sed -e "s|@USER_DIRECTIVE@|$(nginx_user_line)|g" \
        -e "s|@NGINX_DIR@|$V/nginx|g" \
        -e "s|@VAR_DIR@|$V|g" \
        -e "s|@PID_FILE@|$(pidfile nginx)|g" \
        -e "s|@HTTPS_PORT@|$(cf https_port)|g" \
        -e "s|@METRICS_PORT@|$(cf metrics_port)|g" \
        -e "s|@FCGI_SOCKET@|$(cf fcgi_socket)|g" \
        -e "s|@TLS_CERT@|$(cf tls_cert)|g" \
        -e "s|@TLS_KEY@|$(cf tls_key)|g" \
        -e "s|@NGINX_RATE@|$(cf nginx_rate)|g" \
        -e "s|@NGINX_BURST@|$(cf nginx_burst)|g" \
        -e "s|@NGINX_ANON_RATE@|$(cf nginx_anon_rate)|g" \
        -e "s|@NGINX_ANON_BURST@|$(cf nginx_anon_burst)|g" \
        -e "s|@MAX_UPLOAD_MB@|$(cf max_upload_mb)|g" \
        -e "s|@UPLOAD_BODY_MAX@|$up|g" \
        -e "s|@FASTCGI_PARAMS@|$V/nginx/fastcgi_params|g" \
        -e "s|@DOCS_DIR@|${APF_DOCS_DIR:-$REPO/build/openapi/docs}|g" \
        "$REPO/nginx/apf-local.conf.in" > "$V/nginx/nginx.conf.tmp"
    if grep -q '@[A-Z_]*@' "$V/nginx/nginx.conf.tmp"; then
        die "unsubstituted placeholder in nginx config: $(grep -o '@[A-Z_]*@' "$V/nginx/nginx.conf.tmp" | sort -u | tr '\n' ' ')"
    fi
    mv -f "$V/nginx/nginx.conf.tmp" "$V/nginx/nginx.conf"
}

gen_mysql() {
    local m=$V/mysql
    cat > "$m/my.cnf" <<EOF
# generated by scripts/stack.sh from $CONF; use as: mariadbd --defaults-file=$m/my.cnf
[mariadbd]
user = $ME
datadir = $m/data
# temporary tables of this server only (several stacks on one host share /tmp)
tmpdir = $m/tmp
socket = $(cf db_socket)
pid-file = $m/mariadbd.pid
bind-address = 127.0.0.1
port = $(cf db_port)
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
default-time-zone = '+00:00'
innodb_buffer_pool_size = ${C[db_buffer_pool]:-128M}
# local dev/test stack: flush the redo log once a second instead of at every commit
innodb_flush_log_at_trx_commit = 2
max_connections = 300

[client]
socket = $(cf db_socket)
port = $(cf db_port)
EOF
    if [[ ! -e $m/root.cnf ]]; then
        [[ -d $m/data ]] && die "$m/data exists but $m/root.cnf (the DB root password) is gone; remove $m/data to start over"
        (umask 077; printf '[client]\nuser = root\npassword = %s\nsocket = %s\n' "$(rand_hex 16)" "$(cf db_socket)" > "$m/root.cnf")
    else
        # keep the socket line in step with apf.conf
        sed -i "s|^socket = .*|socket = $(cf db_socket)|" "$m/root.cnf"
    fi
    if [[ ! -d $m/data ]]; then
        say "creating MariaDB datadir $m/data"
        if ! mariadb-install-db --no-defaults --datadir="$m/data" --user="$ME" \
                --auth-root-authentication-method=normal --skip-test-db \
                > "$V/log/mariadb-install.log" 2>&1; then
            show_log "$V/log/mariadb-install.log"
            rm -rf "$m/data"
            die "mariadb-install-db failed"
        fi
        touch "$m/.root-pending"
    elif [[ ! -d $m/data/mysql ]]; then
        die "$m/data exists but holds no system tables; remove it to start over"
    fi
}

# The broker's configuration on stdout: mosquitto_conf PORT DYNSEC_FILE PID_FILE PERSIST_DIR
# [BIND] (docs/scale-out.md, "Broker credentials"). Clients and ACLs live in the
# dynamic-security plugin's state file, administered over MQTT (apf-admin), never in files apf
# rewrites. One function for every broker a stack runs.
dynsec_plugin() {
    local p
    for p in ${C[mqtt_dynsec_plugin]:-} /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so \
             /usr/lib/mosquitto_dynamic_security.so /usr/local/lib/mosquitto_dynamic_security.so; do
        [[ -r $p ]] && { printf '%s' "$p"; return 0; }
    done
    die "mosquitto_dynamic_security.so not found (set mqtt_dynsec_plugin in $CONF)"
}
mosquitto_conf() {
    local port=$1 state=$2 pidf=$3 persist=$4 bind=${5:-127.0.0.1} plugin
    plugin=$(dynsec_plugin)
    cat <<EOF
# generated by scripts/stack.sh from $CONF
user $ME
per_listener_settings false
listener $port $bind
allow_anonymous false
# clients, roles and ACLs: docs/scale-out.md ("Broker credentials")
plugin $plugin
plugin_opt_config_file $state
pid_file $pidf
persistence true
persistence_location $persist/
max_queued_messages 100000
# docs/hub-link.md ("Inbound messages"): a payload is at most 64 KiB; a larger packet disconnects
# its sender
max_packet_size 66560
set_tcp_nodelay true
log_dest stderr
log_timestamp_format %Y-%m-%dT%H:%M:%S
log_type error
log_type warning
log_type notice
log_type information
EOF
}

# Creates the dynamic-security state file FILE when missing (never while a broker uses it):
# the admin client (conf mqtt_admin_username / mqtt_admin_password, which mosquitto_ctrl reads
# from stdin, never from its command line) and, for a stack made before the plugin, every hub
# of the old password file OLD: mosquitto_passwd's $7$ lines hold the plugin's own PBKDF2-SHA512
# (iterations, salt, hash), so they are imported as they are. `apf-admin broker init` then adds
# the roles and the backend client over MQTT. Returns 0 when it created the file.
dynsec_state_init() {
    local f=$1 old=${2:-} au ap
    [[ -s $f ]] && return 1
    au=$(cf mqtt_admin_username) ap=$(cf mqtt_admin_password)
    rm -f "$f"
    (umask 077
     mosquitto_ctrl dynsec init "$f" "$au" < <(printf '%s\n%s\n' "$ap" "$ap") >/dev/null) \
        || die "mosquitto_ctrl dynsec init $f failed"
    [[ -n $old && -s $old ]] || return 0
    local tmp=$f.tmp n skipped
    n=$(grep '^[^:]*:\$7\$' "$old" | grep -vc "^$(cf mqtt_username):" || true)
    skipped=$(grep -vc -e '^[^:]*:\$7\$' -e '^[[:space:]]*$' "$old" || true)
    (umask 077
     jq --rawfile pw "$old" --arg skip "$(cf mqtt_username)" '
        .clients += [ $pw | split("\n")[] | select(test("^[^:]+:\\$7\\$"))
            | (split(":")[0]) as $u | (split(":")[1] | split("$")) as $h
            | select($u != $skip)
            | {username: $u, clientid: $u, textname: "imported hub",
               password: $h[4], salt: $h[3], iterations: ($h[2] | tonumber), roles: []} ]' \
        "$f" > "$tmp") || { rm -f "$tmp"; die "cannot import $old into $f"; }
    mv -f "$tmp" "$f"
    say "imported the hashed passwords of $n hubs of $old into $f"
    ((skipped == 0)) || warn "$skipped lines of $old are not \$7\$ hashes: re-provision those hubs"
    return 0
}

DYNSEC_CREATED=0
gen_mosquitto() {
    local q=$V/mq state
    state=${C[mqtt_dynsec_file]:-$q/dynsec.json}
    mosquitto_conf "$(cf mqtt_port)" "$state" "$(cf mqtt_pid_file)" "$q" > "$q/mosquitto.conf.tmp"
    mv -f "$q/mosquitto.conf.tmp" "$q/mosquitto.conf"
    if dynsec_state_init "$state" "${C[mqtt_passwd_file]:-}"; then DYNSEC_CREATED=1; fi
    return 0
}

gen_tls() {
    local cert key
    cert=$(cf tls_cert) key=$(cf tls_key)
    [[ -s $cert && -s $key ]] && return 0
    say "creating self-signed TLS certificate $cert"
    mkdir -p "$(dirname "$cert")" "$(dirname "$key")"
    (umask 077
     openssl req -x509 -newkey rsa:2048 -nodes -keyout "$key" -out "$cert" -days 3650 \
         -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null) \
        || die "openssl could not create the certificate"
    chmod 644 "$cert"
}

CONF_CREATED=0
do_init() {  # do_init TEMP_DB(0|1)
    need_tools
    mkdir -p "$V"/{mysql/tmp,mq,nginx/logs,nginx/tmp,tls,files,run,log}
    chmod 700 "$V/mysql"
    lock
    if [[ ! -s $CONF ]]; then write_conf; CONF_CREATED=1; fi
    upgrade_conf
    load_conf
    [[ ${C[var_dir]:-} == "$V" ]] || warn "var_dir in $CONF is '${C[var_dir]:-}', not $V"
    mkdir -p "$(cf file_store)" "$(cf log_dir)" "$(dirname "$(cf fcgi_socket)")"
    local k v
    for k in fcgi_socket worker_socket db_socket; do   # sockaddr_un.sun_path is 108 bytes
        v=${C[$k]:-}
        ((${#v} < 108)) || die "$k path is too long for a unix socket: $v (use a shorter APF_VAR)"
    done
    gen_tls
    gen_mysql
    gen_mosquitto
    gen_nginx
    if ((${1:-0})) && [[ ! -e $V/mysql/.bootstrapped || -e $V/mysql/.root-pending ]]; then
        # first init on its own: bring MariaDB up just long enough to create the db and user
        local was_running=1
        svc_pid mariadb >/dev/null || { was_running=0; start_mariadb; }
        db_bootstrap
        ((was_running)) || stop_svc mariadb 60
    fi
}

# --------------------------------------------------------------------------------- services

sql_root() { mariadb --defaults-file="$V/mysql/root.cnf" -N -B "$@"; }

db_bootstrap() {
    local m=$V/mysql rootpw pw db u mu mpw
    rootpw=$(sed -n 's/^password = //p' "$m/root.cnf")
    if [[ -e $m/.root-pending ]]; then
        # fresh datadir: root@localhost has no password yet; give it one, drop the other roots
        mariadb --defaults-file="$m/my.cnf" -uroot -e \
            "ALTER USER 'root'@'localhost' IDENTIFIED BY '$rootpw';" \
            || abort_start mariadb "cannot set the root password"
        local acct
        while IFS= read -r acct; do
            [[ -n $acct ]] && sql_root -e "DROP USER $acct;"
        done < <(sql_root -e "SELECT CONCAT(QUOTE(User),'@',QUOTE(Host)) FROM mysql.user
                              WHERE (User='root' AND Host<>'localhost') OR User='';")
        rm -f "$m/.root-pending"
    fi
    pw=$(cf db_password) db=$(cf db_name) u=$(cf db_user)
    mu=$(cf db_migrate_user) mpw=$(cf db_migrate_password)
    [[ $mu != "$u" ]] || abort_start mariadb "db_migrate_user must differ from db_user in $CONF"
    # two users: the migrator owns the schema (DDL); the runtime user of every service and
    # test reads and writes rows only
    local h cur want sql="CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    for h in localhost 127.0.0.1; do
        sql+="
        CREATE USER IF NOT EXISTS '$mu'@'$h' IDENTIFIED BY '$mpw';
        ALTER USER '$mu'@'$h' IDENTIFIED BY '$mpw';
        GRANT ALL ON \`$db\`.* TO '$mu'@'$h';
        CREATE USER IF NOT EXISTS '$u'@'$h' IDENTIFIED BY '$pw';
        ALTER USER '$u'@'$h' IDENTIFIED BY '$pw';"
    done
    sql_root -e "$sql" || abort_start mariadb "cannot create database $db / users $u, $mu"
    for h in localhost 127.0.0.1; do
        want="GRANT SELECT, INSERT, UPDATE, DELETE ON \`$db\`.* TO \`$u\`@\`$h\`"
        cur=$(sql_root -e "SHOW GRANTS FOR '$u'@'$h'" | grep -F " ON \`$db\`.* " || true)
        [[ $cur == "$want" ]] && continue
        # a new user, or one made when it still had ALL: exactly the four statements (the
        # first GRANT gives REVOKE a grant to drop)
        sql_root -e "GRANT SELECT ON \`$db\`.* TO '$u'@'$h';
            REVOKE ALL PRIVILEGES ON \`$db\`.* FROM '$u'@'$h';
            GRANT SELECT, INSERT, UPDATE, DELETE ON \`$db\`.* TO '$u'@'$h';" \
            || abort_start mariadb "cannot set the privileges of $u@$h"
    done
    touch "$m/.bootstrapped"
}

check_port() {  # refuse to start NAME when its port already answers
    if port_busy "$2"; then
        printf 'stack: ERROR: %s: port 127.0.0.1:%s is already in use by another process\n' "$1" "$2" >&2
        stop_started
        exit 1
    fi
}

start_mariadb() {
    local pid
    if pid=$(svc_pid mariadb); then say "mariadb already running (pid $pid)"; return 0; fi
    stop_svc mariadb
    check_port mariadb "$(cf db_port)"
    spawn mariadb mariadbd --defaults-file="$V/mysql/my.cnf"
    wait_ready mariadb "$SPAWNED" ready_mariadb
}

start_mosquitto() {
    local pid
    if pid=$(svc_pid mosquitto); then say "mosquitto already running (pid $pid)"; return 0; fi
    stop_svc mosquitto
    check_port mosquitto "$(cf mqtt_port)"
    spawn mosquitto mosquitto -c "$V/mq/mosquitto.conf"
    wait_ready mosquitto "$SPAWNED" ready_mosquitto
}

start_fcgi() {
    local pid
    if pid=$(svc_pid apf-fcgi); then say "apf-fcgi already running (pid $pid)"; return 0; fi
    stop_svc apf-fcgi; rm -f "$(cf fcgi_socket)"
    spawn apf-fcgi "$B/apf-fcgi" --conf "$CONF"
    wait_ready apf-fcgi "$SPAWNED" ready_apf-fcgi
}

start_worker() {  # start_worker N
    local i=$1 pid
    if pid=$(svc_pid "apf-worker-$i"); then say "apf-worker-$i already running (pid $pid)"; return 0; fi
    stop_svc "apf-worker-$i"
    spawn "apf-worker-$i" env APF_WORKER_ID="$i" "$B/apf-worker"
    wait_ready "apf-worker-$i" "$SPAWNED" ready_grace
}

start_workers() {
    local n i pid f
    n=$(cf workers)
    for ((i = 1; i <= n; i++)); do start_worker "$i"; done
    # workers beyond the configured count (count lowered in apf.conf): stop them
    for f in "$V"/run/apf-worker-*.pid; do
        i=${f##*/apf-worker-}; i=${i%.pid}
        [[ $i =~ ^[0-9]+$ ]] && ((i > n)) && stop_svc "apf-worker-$i"
    done
    return 0
}

start_nginx() {
    local pid out
    if pid=$(svc_pid nginx); then say "nginx already running (pid $pid)"; return 0; fi
    stop_svc nginx
    check_port nginx "$(cf https_port)"
    check_port nginx "$(cf metrics_port)"
    if ! out=$(nginx -t -q -p "$V/nginx" -c "$V/nginx/nginx.conf" -e "$V/nginx/logs/error.log" 2>&1); then
        printf '%s\n' "$out" >&2
        abort_start nginx "configuration test failed"
    fi
    spawn nginx nginx -p "$V/nginx" -c "$V/nginx/nginx.conf" -e "$V/nginx/logs/error.log"
    wait_ready nginx "$SPAWNED" ready_nginx
}

check_bins() {
    local b missing=()
    for b in apf-admin apf-fcgi apf-worker; do
        [[ -x $B/$b ]] || missing+=("$B/$b")
    done
    ((${#missing[@]} == 0)) || die "not built: ${missing[*]} (run make first, or set APF_BIN)"
}

# default ACL access, backend client and roles on every broker (docs/scale-out.md)
broker_init() {
    printf '\n==== %s broker init\n' "$(date -Is)" >> "$V/log/apf-admin.log"
    "$B/apf-admin" broker init >> "$V/log/apf-admin.log" 2>&1 9>&-
}

cmd_start() {
    check_bins
    do_init 0
    start_mariadb
    db_bootstrap
    say "applying migrations"
    printf '\n==== %s migrate\n' "$(date -Is)" >> "$V/log/apf-admin.log"
    if ! "$B/apf-admin" migrate >> "$V/log/apf-admin.log" 2>&1 9>&-; then
        abort_start apf-admin "apf-admin migrate failed"
    fi
    # a broker still running on the configuration from before the plugin: restart it
    if ((DYNSEC_CREATED)); then stop_svc mosquitto; fi
    start_mosquitto
    if ! broker_init; then
        # a broker started before this configuration (no plugin yet): restart it once
        stop_svc mosquitto
        start_mosquitto
        broker_init || abort_start apf-admin "apf-admin broker init failed"
    fi
    start_fcgi
    start_workers
    start_nginx
    start_supervisor
    unlock
    say "stack is up: $(cf base_url)   (state in $V)"
}

svc_list() {  # services in start order (workers by conf count plus any with a pid file)
    local n i f seen=" "
    echo mariadb mosquitto apf-fcgi
    n=${C[workers]:-1}
    for ((i = 1; i <= n; i++)); do echo "apf-worker-$i"; seen+="$i "; done
    for f in "$V"/run/apf-worker-*.pid; do
        i=${f##*/apf-worker-}; i=${i%.pid}
        [[ $seen == *" $i "* ]] || echo "apf-worker-$i"
    done
    echo nginx
    [[ -e $(pidfile apf-hubsim) ]] && echo apf-hubsim
    [[ -e $(pidfile supervisor) ]] && echo supervisor   # last: stopped first
    return 0
}

cmd_stop() {
    [[ -d $V/run ]] || { say "nothing to stop ($V/run does not exist)"; return 0; }
    lock
    [[ -s $CONF ]] && load_conf
    local list i
    mapfile -t list < <(svc_list | tr ' ' '\n')
    for ((i = ${#list[@]} - 1; i >= 0; i--)); do
        stop_svc "${list[i]}" "$(stop_timeout "${list[i]}")"
    done
    supervisor_reset
    unlock
}

cmd_status() {
    local name pid rc=0
    [[ -s $CONF ]] && load_conf
    while read -r name; do
        [[ -n $name ]] || continue
        if pid=$(svc_pid "$name"); then
            printf '%-14s running (%s) since %s, restarts %s\n' "$name" "$pid" \
                "$(proc_since "$pid")" "$(svc_restarts "$name")"
        else
            printf '%-14s %s, restarts %s\n' "$name" "$(svc_down_state "$name")" \
                "$(svc_restarts "$name")"
            rc=3
        fi
    done < <(svc_list | tr ' ' '\n')
    return $rc
}

# -------------------------------------------------------------------------------------- run

admin_json() {  # run apf-admin with --json, print its JSON, die on failure
    local out
    out=$("$B/apf-admin" "$@" --json 9>&-) || die "apf-admin $* failed"
    jq -e . >/dev/null 2>&1 <<<"$out" || die "apf-admin $1 $2 printed no JSON: $out"
    printf '%s' "$out"
}

make_demo() {
    local demo=$V/demo.json acct key hub aid hid p printers=()
    if [[ -s $demo ]]; then say "reusing demo data from $demo"; return 0; fi
    say "creating demo account, API key, hub and printers"
    acct=$(admin_json account create --name "Demo Print Farm")
    aid=$(jq -r .id <<<"$acct")
    key=$(admin_json key create --account "$aid" --name "demo (all scopes)" --scopes read,write,control)
    hub=$(admin_json hub create --account "$aid" --name "Demo Hub")
    hid=$(jq -r .id <<<"$hub")
    local -a names=("Bambu X1C #1" "Bambu P1S #2" "Bambu A1 mini #3") models=("X1 Carbon" "P1S" "A1 mini")
    for i in 0 1 2; do
        p=$(admin_json printer create --account "$aid" --hub "$hid" --name "${names[i]}" --model "${models[i]}")
        printers+=("$(jq -r .id <<<"$p")")
    done
    (umask 077
     jq -n --argjson account "$acct" --argjson key "$key" --argjson hub "$hub" \
        --args '{account_id: $account.id, key_id: $key.id, key: $key.key,
                 hub_id: $hub.id, hub_mqtt_username: $hub.mqtt_username,
                 hub_mqtt_password: $hub.mqtt_password, printer_ids: $ARGS.positional}' \
        "${printers[@]}" > "$demo.tmp")
    mv -f "$demo.tmp" "$demo"
}

start_hubsim() {
    local pid hid hpw
    [[ -x $B/apf-hubsim ]] || { say "no $B/apf-hubsim yet: hub simulator not started"; return 0; }
    if pid=$(svc_pid apf-hubsim); then say "apf-hubsim already running (pid $pid)"; return 0; fi
    stop_svc apf-hubsim
    hid=$(jq -r .hub_id "$V/demo.json")
    hpw=$(jq -r .hub_mqtt_password "$V/demo.json")
    lock
    # the password goes in a private hub list, not on the command line
    (umask 077; printf '%s %s\n' "$hid" "$hpw" > "$V/run/hubsim.hubs")
    spawn apf-hubsim "$B/apf-hubsim" --conf "$CONF" --hub-list "$V/run/hubsim.hubs"
    wait_ready apf-hubsim "$SPAWNED" ready_grace
    unlock
}

RUN_STOPPING=0
run_cleanup() {
    trap '' INT TERM HUP
    ((RUN_STOPPING)) && exit 0
    RUN_STOPPING=1
    echo
    if ((${#STARTED_NOW[@]})); then
        say "stopping: ${STARTED_NOW[*]}"
        lock
        local stopped=("${STARTED_NOW[@]}") n
        stop_started
        for n in "${stopped[@]}"; do rm -f "$(restarts_file "$n")" "$(failed_file "$n")"; done
        unlock
    else
        say "nothing was started by this run; the background stack keeps running"
    fi
    exit 0
}

cmd_run() {
    trap run_cleanup INT TERM HUP
    local before
    before=$(cmd_status 2>/dev/null | grep -c running || true)
    cmd_start
    make_demo
    start_hubsim
    local key port
    key=$(jq -r .key "$V/demo.json")
    port=$(cf https_port)
    cat <<EOF

  apf is running (state: $V)
    base URL : $(cf base_url)
    demo key : $key   (scopes read,write,control; saved in $V/demo.json)
    try      : curl --cacert $(cf tls_cert) -H "Authorization: Bearer $key" https://127.0.0.1:$port/v1/printers
    logs     : $V/log/
EOF
    ((before > 0)) && echo "    (services that were already running stay up after Ctrl-C)"
    echo "  Ctrl-C stops what this command started."
    echo
    local -A reported=()
    local name pid
    while :; do
        sleep 2 &
        wait $! || true
        for name in "${STARTED_NOW[@]}"; do
            if svc_pid "$name" >/dev/null; then unset "reported[$name]"; continue; fi
            [[ -n ${reported[$name]:-} ]] && continue
            if ! svc_pid "$name" >/dev/null; then
                reported[$name]=1
                warn "$name has stopped"
                show_log "$V/log/$name.log"
            fi
        done
    done
}

# ------------------------------------------------------------------------------------- main

# shellcheck source=scripts/supervisor.sh
source "$REPO/scripts/supervisor.sh"

# scripts/cluster.sh sources this file for its generators and process helpers (gen_nginx,
# gen_mosquitto, gen_tls, spawn, stop_svc ...) with V, CONF and C set per host: run the command
# only when executed.
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

case ${1:-} in
    init)   do_init 1; unlock; say "initialised $V" ;;
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    run)    cmd_run ;;
    supervise) cmd_supervise ;;
    *)      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
