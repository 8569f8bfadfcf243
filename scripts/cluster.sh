#!/usr/bin/env bash
# apf scale-out topology on ONE machine (docs/scale-out.md, "Topology and make targets"): one
# network namespace per host on one bridge, private addresses used only inside the namespaces.
#
#   scripts/cluster.sh up                 build everything from nothing and wait until it is ready
#   scripts/cluster.sh down               stop everything, unmount, remove namespaces/bridge/veths
#   scripts/cluster.sh status             a table of every node; exit 0 when all is well, else 3
#   scripts/cluster.sh exec HOST CMD...   run CMD in HOST's network namespace with its APF_CONF
#   scripts/cluster.sh sql 'STATEMENT'    run SQL as root on the first live Galera node (apf db)
#
# Hosts (NET = $APF_CLUSTER_NET, default 10.213.0):
#   lb NET.10 (HAProxy: MariaDB 3306, HTTPS 443)   db1..db3 NET.11-13 (MariaDB Galera, glusterd)
#   api1, api2 NET.21-22 (nginx 443 + apf-fcgi)    wk1, wk2 NET.31-32 (apf-worker)
#   mq1, mq2 NET.41-42 (mosquitto 1883, dynamic-security plugin; mq2 bridges apf/v1/# to mq1)
#   sim NET.51 (apf-hubsim x 2, one per broker)
#
# Environment:
#   APF_CLUSTER_DIR   state folder (default <repo>/build/cluster); `up` starts it afresh
#   APF_BIN           folder with the apf programs (default <repo>/build/bin)
#   APF_CLUSTER_NET   first three octets of the private /24 (default 10.213.0)
#   APF_CLUSTER_HUBS  simulated hubs, half on each broker (default 40), 5 printers each
#   APF_CLUSTER_TIMEOUT  seconds to wait for each stage (default 120)
#   APF_CLUSTER_SIM_ARGS more apf-hubsim options (e.g. "--time-scale 10 --pin-intervals"); each
#                     simulator has a control socket build/cluster/sim/run/hubsim-mq{1,2}.ctl
# Needs root (namespaces, veth, bridge, FUSE mounts), /dev/fuse and scripts/packages.txt installed.
set -euo pipefail
shopt -s nullglob

CLUSTER_SCRIPT=$(realpath -- "${BASH_SOURCE[0]}")
# the single-host stack's generators and process helpers (gen_nginx, mosquitto_conf,
# dynsec_state_init, spawn, stop_svc, svc_pid, load_conf ...), used with V / CONF / C set to one
# host at a time
# shellcheck source=scripts/stack.sh
source "$(dirname "$CLUSTER_SCRIPT")/stack.sh"

say()  { printf 'cluster: %s\n' "$*"; }
warn() { printf 'cluster: WARNING: %s\n' "$*" >&2; }
die()  { printf 'cluster: ERROR: %s\n' "$*" >&2; exit 1; }

CL=$(realpath -m -- "${APF_CLUSTER_DIR:-$REPO/build/cluster}")
B=$(realpath -m -- "${APF_BIN:-$REPO/build/bin}")
NET=${APF_CLUSTER_NET:-10.213.0}
NHUBS=${APF_CLUSTER_HUBS:-40}
PER_HUB=5
WAIT=${APF_CLUSTER_TIMEOUT:-120}
BR=apfbr0
T0=$SECONDS

HOSTS=(lb db1 db2 db3 mq1 mq2 api1 api2 wk1 wk2 sim)
declare -A OCTET=([lb]=10 [db1]=11 [db2]=12 [db3]=13 [api1]=21 [api2]=22 [wk1]=31 [wk2]=32
                  [mq1]=41 [mq2]=42 [sim]=51)
DBS=(db1 db2 db3)          # Galera nodes; also the GlusterFS brick hosts
APIS=(api1 api2)
WKS=(wk1 wk2)
MQS=(mq1 mq2)
MOUNTERS=(api1 api2 wk1 wk2)   # hosts that read/write objects: file_store is the Gluster mount
VOLUME=apf-files
ip_of() { printf '%s.%s' "$NET" "${OCTET[$1]}"; }
nsname() { printf 'apf-%s' "$1"; }
# own broker first (docs/scale-out.md: a host prefers the broker next to it)
broker_of() { case $1 in *2) echo mq2 ;; *) echo mq1 ;; esac; }
other_broker() { [[ $(broker_of "$1") == mq1 ]] && echo mq2 || echo mq1; }

inns() {  # inns HOST CMD...: CMD in HOST's network namespace (root mount namespace)
    local h=$1; shift
    nsenter --net="/run/netns/$(nsname "$h")" "$@"
}
elapsed() { printf '%ds' $((SECONDS - T0)); }

use_host() {  # point stack.sh's globals at HOST
    V=$CL/$1
    CONF=$V/apf.conf
    if [[ -s $CONF ]]; then load_conf; else C=(); fi
}
# services of the cluster whose program name differs from the service name
svc_pattern() {
    case $1 in
        mariadb) echo mariadbd ;;
        apf-worker-*) echo apf-worker ;;
        apf-hubsim-*) echo apf-hubsim ;;
        *) echo "$1" ;;
    esac
}
hspawn() {  # hspawn HOST NAME CMD...: stack.sh's spawn inside HOST's namespace, APF_CONF set
    local h=$1 name=$2; shift 2
    use_host "$h"
    spawn "$name" nsenter --net="/run/netns/$(nsname "$h")" env APF_CONF="$CL/$h/apf.conf" "$@"
}
hpid() { use_host "$1"; svc_pid "$2"; }   # hpid HOST NAME: pid of a live service

wait_until() {  # wait_until WHAT SECONDS CMD...: poll CMD every 0.25 s
    local what=$1 t=$2 i; shift 2
    for ((i = 0; i < t * 4; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    return 1
}
fail_up() {  # fail_up MESSAGE [LOG...]: loud, with logs; leaves the cluster for inspection
    local msg=$1; shift
    show_log "$@"
    die "$msg (after $(elapsed); logs under $CL; run: scripts/cluster.sh down)"
}
rand_hex() { openssl rand -hex "$1"; }

# ------------------------------------------------------------------------------- network

net_up() {
    ip link add "$BR" type bridge
    ip link set "$BR" up
    local h
    for h in "${HOSTS[@]}"; do
        ip netns add "$(nsname "$h")"
        ip link add "apfv-$h" type veth peer name eth0 netns "$(nsname "$h")"
        ip link set "apfv-$h" master "$BR" up
        ip -n "$(nsname "$h")" addr add "$(ip_of "$h")/24" dev eth0
        ip -n "$(nsname "$h")" link set eth0 up
        ip -n "$(nsname "$h")" link set lo up
    done
    say "network: bridge $BR, ${#HOSTS[@]} namespaces on $NET.0/24"
}

# --------------------------------------------------------------------------------- configs

SECRETS=
secrets() {  # one set of secrets for the whole cluster
    SECRETS=$CL/secrets.conf
    (umask 077; cat > "$SECRETS" <<EOF
db_password = $(rand_hex 16)
db_migrate_password = $(rand_hex 16)
mqtt_password = $(rand_hex 16)
mqtt_admin_password = $(rand_hex 16)
upload_secret = $(rand_hex 32)
bridge_password = $(rand_hex 16)
peer_secret = $(rand_hex 32)
monitor_password = $(rand_hex 16)
EOF
    )
}
secret() { sed -n "s/^$1 = //p" "$SECRETS"; }
peers_of() {  # peers_of HOST: the notice addresses of the other API hosts (docs/hot-path.md)
    local a out=()
    for a in "${APIS[@]}"; do [[ $a == "$1" ]] || out+=("$(ip_of "$a"):7401"); done
    local IFS=,; echo "${out[*]}"
}

write_host_conf() {  # write_host_conf HOST: its apf.conf (docs/scale-out.md, configuration keys)
    local h=$1 d=$CL/$1 me own other
    me=$(ip_of "$h") own=$(broker_of "$h") other=$(other_broker "$h")
    mkdir -p "$d"/{run,log,files}
    (umask 077; cat > "$d/apf.conf" <<EOF
# apf configuration of cluster host $h ($me), written by scripts/cluster.sh up
# this host's name in the link lease (cluster_leases), queue_jobs.locked_by and waiters
host_id = $h
var_dir = $d
sql_dir = $REPO/sql
# the database through the lb: HAProxy is the one endpoint (one writer, db1; db2, db3 backups)
# and moves new connections to the next node itself, so db_hosts (a list of endpoints) would
# hold this one entry only. With two load balancers: db_hosts = LB1:3306,LB2:3306
db_host = $(ip_of lb)
db_port = 3306
db_connect_timeout = 2
db_name = apf
db_user = apf
db_password = $(secret db_password)
db_migrate_user = apf_migrate
db_migrate_password = $(secret db_migrate_password)
# brokers: this host's own first; the link fails over to the other one (they are bridged), and
# apf-admin applies hub credentials to both (dynamic-security plugin, as its admin client)
mqtt_host = $(ip_of "$own")
mqtt_port = 1883
mqtt_hosts = $(ip_of "$own"):1883,$(ip_of "$other"):1883
mqtt_username = apf-backend
mqtt_password = $(secret mqtt_password)
mqtt_admin_username = apf-dynsec-admin
mqtt_admin_password = $(secret mqtt_admin_password)
https_port = 443
https_address = $me
metrics_port = 9188
base_url = https://$(ip_of lb)/v1
fcgi_socket = $d/run/apf-fcgi.sock
# 8 children, as the local stack: hub_waits_per_host (half of them) lets 4 requests of this host
# wait on hub ACKs at once; with 3 (one waiter) a steady stream of job actions gets 503 SERVER_BUSY
fcgi_children = 8
workers = 1
worker_socket = $d/run/apf-worker.sock
# ONE MQTT link for the cluster: the workers of both worker hosts take turns by the lease in the
# database (cluster_leases 'mqtt-link', holder host_id/worker). A hub command's outcome reaches
# the waiting API process by a UDP datagram to this address (hub_commands.waiter udp:ADDR:PORT)
waiter_address = $me
file_store = $d/files
upload_secret = $(secret upload_secret)
rate_limit = 120
# two API hosts serve the same keys: X-RateLimit-Remaining counts this host's lease only, and
# a write tells the other API host its account's new data version before it answers
# (docs/hot-path.md)
api_hosts = 2
peer_listen = $me:7401
api_peers = $(peers_of "$h")
peer_secret = $(secret peer_secret)
nginx_rate = 5000
nginx_burst = 2000
nginx_anon_rate = 20
nginx_anon_burst = 40
max_upload_mb = 100
tls_cert = $CL/tls/cert.pem
tls_key = $CL/tls/key.pem
log_dir = $d/log
EOF
     if [[ $h == mq[12] ]]; then cat >> "$d/apf.conf" <<EOF
# this broker's dynamic-security state file (clients, roles) and pid file
mqtt_dynsec_file = $d/mq/dynsec.json
mqtt_pid_file = $d/run/mosquitto.pid
EOF
     fi
    )
}

gen_cluster_tls() {
    mkdir -p "$CL/tls"
    local san="DNS:localhost,IP:127.0.0.1,IP:$(ip_of lb)" h
    for h in "${APIS[@]}"; do san+=",IP:$(ip_of "$h")"; done
    (umask 077
     openssl req -x509 -newkey rsa:2048 -nodes -keyout "$CL/tls/key.pem" -out "$CL/tls/cert.pem" \
         -days 30 -subj "/CN=apf-cluster" -addext "subjectAltName=$san" 2>/dev/null) \
        || die "openssl could not create the certificate"
    chmod 644 "$CL/tls/cert.pem"
}

# ---------------------------------------------------------------------------------- Galera

db_sock() { printf '%s/%s/mysqld/mariadb.sock' "$CL" "$1"; }
db_cnf() {  # db_cnf NODE: its option file
    local h=$1 d=$CL/$1 peers="" n
    for n in "${DBS[@]}"; do peers+="${peers:+,}$(ip_of "$n")"; done
    cat > "$d/my.cnf" <<EOF
# Galera node $h, written by scripts/cluster.sh; use as mariadbd --defaults-file=$d/my.cnf
[mariadbd]
# rsync SST runs as the server's user: as root it fails (docs/scale-out.md)
user = mysql
datadir = $d/data
tmpdir = $d/tmp
socket = $(db_sock "$h")
pid-file = $d/mysqld/mariadbd.pid
bind-address = $(ip_of "$h")
port = 3306
skip-name-resolve
# every connection comes from the lb's one address: never block it
max_connect_errors = 1000000
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
default-time-zone = '+00:00'
innodb_buffer_pool_size = 64M
innodb_log_file_size = 16M
innodb_flush_log_at_trx_commit = 2
max_connections = 300
# Galera (docs/scale-out.md, "Galera rules")
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
log_bin_trust_function_creators = 1
wsrep_on = ON
wsrep_provider = /usr/lib/galera/libgalera_smm.so
wsrep_cluster_name = apf
wsrep_cluster_address = gcomm://$peers
wsrep_node_address = $(ip_of "$h")
wsrep_node_name = $h
wsrep_sst_method = rsync
wsrep_slave_threads = 2
# a dead node is evicted after 3 s instead of 5 (writes wait for the new view meanwhile)
wsrep_provider_options = "gcache.size=32M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.keepalive_period=PT0.5S;evs.inactive_check_period=PT0.5S"

[client]
socket = $(db_sock "$h")
user = root
EOF
}
dbq() {  # dbq NODE SQL...: as root over the node's socket (unix_socket authentication)
    local h=$1; shift
    mariadb --defaults-file="$CL/$h/my.cnf" --connect-timeout=2 -N -B "$@"
}
wsrep() {  # wsrep NODE VARIABLE: a wsrep status value
    dbq "$1" -e "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | awk '{print $2}'
}
db_synced3() {
    [[ $(wsrep "$1" wsrep_local_state_comment) == Synced && $(wsrep "$1" wsrep_cluster_size) == 3 ]]
}
db_ping() { mariadb-admin --defaults-file="$CL/$1/my.cnf" --connect-timeout=1 ping; }

start_db() {  # start_db NODE [--wsrep-new-cluster]
    local h=$1; shift
    hspawn "$h" mariadb mariadbd --defaults-file="$CL/$h/my.cnf" "$@"
}

galera_up() {
    local h
    for h in "${DBS[@]}"; do
        mkdir -p "$CL/$h"/{data,tmp,mysqld}
        db_cnf "$h"
        chown -R mysql:mysql "$CL/$h"/{data,tmp,mysqld}
        chmod 750 "$CL/$h/data"
    done
    # db1 gets system tables; db2 and db3 start empty and receive db1's datadir by SST
    mariadb-install-db --no-defaults --datadir="$CL/db1/data" --user=mysql --skip-test-db \
        > "$CL/db1/log/mariadb-install.log" 2>&1 \
        || fail_up "mariadb-install-db failed" "$CL/db1/log/mariadb-install.log"
    start_db db1 --wsrep-new-cluster
    wait_until "db1" "$WAIT" db_ping db1 || fail_up "db1 did not start" "$CL/db1/log/mariadb.log"
    local lb u h2
    lb=$(ip_of lb)
    # the lb's health check logs in as haproxy (no password, no privilege: galera-check.sh
    # reads wsrep_local_state); the services come from the lb's address; apf-admin migrate as
    # the schema owner
    dbq db1 -e "
        CREATE DATABASE apf CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
        CREATE USER 'haproxy'@'$lb';
        CREATE USER 'apf_migrate'@'$NET.%' IDENTIFIED BY '$(secret db_migrate_password)';
        GRANT ALL ON apf.* TO 'apf_migrate'@'$NET.%';
        CREATE USER 'apf'@'$NET.%' IDENTIFIED BY '$(secret db_password)';
        GRANT SELECT, INSERT, UPDATE, DELETE ON apf.* TO 'apf'@'$NET.%';" \
        || fail_up "cannot create the database and its users on db1" "$CL/db1/log/mariadb.log"
    say "db1 bootstrapped the Galera cluster ($(elapsed))"
    for h in db2 db3; do start_db "$h"; done
    for h2 in "${DBS[@]}"; do
        wait_until "$h2 synced" "$WAIT" db_synced3 "$h2" \
            || fail_up "$h2 is not Synced in a cluster of 3" "$CL/$h2/log/mariadb.log" "$CL/db1/log/mariadb.log"
    done
    say "Galera: 3 nodes Synced ($(elapsed))"
}

# ---------------------------------------------------------------------------------- HAProxy

haproxy_cfg() {
    local d=$CL/lb h
    mkdir -p "$d"
    # The Galera check: a node takes connections only while it is Synced (wsrep_local_state 4).
    # A handshake check (mysql-check) also passes for a node that is joining, a donor, or out of
    # the primary component, which answers every statement with 1047: a node back from a
    # network cut took the writes ~2 s before it had caught up (every request 503 meanwhile).
    # HAProxy runs it as: CHECK PROXY_ADDR PROXY_PORT SERVER_ADDR SERVER_PORT
    cat > "$d/galera-check.sh" <<'CHECK'
#!/bin/sh
# Galera health check for HAProxy (scripts/cluster.sh): exit 0 only when the node is Synced.
state=$(mariadb -h "$3" -P "$4" -u haproxy --connect-timeout=1 -N -B \
        -e "SHOW GLOBAL STATUS LIKE 'wsrep_local_state'" 2>/dev/null | cut -f2)
[ "$state" = 4 ]
CHECK
    chmod 755 "$d/galera-check.sh"
    {
        cat <<EOF
# HAProxy of the cluster lb ($(ip_of lb)), written by scripts/cluster.sh
global
    maxconn 4096
    # the Galera check is a program (galera-check.sh: the node is Synced)
    external-check
    insecure-fork-wanted
    # admin socket on the lb's loopback (scripts/cluster.sh status reads "show stat")
    stats socket ipv4@127.0.0.1:9999 level admin
    log stdout format short local0 notice

defaults
    mode tcp
    log global
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout check 2s
    retries 2
    option redispatch

# MariaDB: ONE writer. db1 takes every connection while its check passes; db2, then db3, only
# when it fails (backup). Galera allows writes on every node, but two writers make commits fail
# certification (1213) and SKIP LOCKED claims overlap (docs/scale-out.md).
frontend mariadb
    bind $(ip_of lb):3306
    default_backend galera

backend galera
    option external-check
    external-check path "/usr/bin:/bin"
    external-check command $d/galera-check.sh
    # a refused connection marks the server down at once (no wait for the next check); the
    # connections of a server marked down are closed so that clients reconnect to the next one;
    # when db1 is back up, the connections still on a backup are closed too: without it the
    # clients connected during the outage keep writing to db2 while new ones write to db1 (two
    # writers: certification conflicts, 1213, on every hot row)
    default-server check inter 1s fall 2 rise 3 observe layer4 error-limit 1 on-error mark-down on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions
    server db1 $(ip_of db1):3306
    server db2 $(ip_of db2):3306 backup
    server db3 $(ip_of db3):3306 backup

# HTTPS: TLS passes through to each API host's nginx with a PROXY v2 header, so nginx and the
# app see the client's address (limits per address, auth failures), not the lb's.
frontend https
    bind $(ip_of lb):443
    default_backend api

backend api
    balance roundrobin
    # without a key the app answers 401 itself: nginx and apf-fcgi are both up
    option httpchk
    http-check send meth GET uri /v1/printers ver HTTP/1.1 hdr Host apf-cluster
    http-check expect status 401
    default-server check check-ssl verify none send-proxy-v2 check-send-proxy inter 1s fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down
EOF
        for h in "${APIS[@]}"; do printf '    server %s %s:443\n' "$h" "$(ip_of "$h")"; done
    } > "$d/haproxy.cfg"
}
hastat() {  # "proxy server status" rows of HAProxy's show stat
    inns lb bash -c 'exec 3<>/dev/tcp/127.0.0.1/9999 && echo "show stat" >&3 && cat <&3' 2>/dev/null \
        | awk -F, '$1 !~ /^#/ && NF > 18 && $2 != "FRONTEND" && $2 != "BACKEND" { print $1, $2, $18 }'
}
ha_up() {  # ha_up BACKEND SERVER
    [[ $(hastat | awk -v b="$1" -v s="$2" '$1 == b && $2 == s { print $3 }') == UP ]]
}
haproxy_up() {
    haproxy_cfg
    local out
    out=$(haproxy -c -q -f "$CL/lb/haproxy.cfg" 2>&1) || { printf '%s\n' "$out" >&2; die "HAProxy configuration test failed"; }
    hspawn lb haproxy haproxy -db -f "$CL/lb/haproxy.cfg"
    local h
    for h in "${DBS[@]}"; do
        wait_until "lb sees $h" 30 ha_up galera "$h" || fail_up "HAProxy: $h is not UP" "$CL/lb/log/haproxy.log"
    done
    say "HAProxy: MariaDB frontend $(ip_of lb):3306 up ($(elapsed))"
}

# ---------------------------------------------------------------------------------- brokers

# Clients of the cluster's own plumbing, beside the plugin's admin client and what apf-admin
# makes (backend, hubs): the bridge (mq2 logs in to mq1 as apf-bridge: hub and backend topics
# both ways, and its connection state) and apf-monitor (scripts/cluster.sh status reads the
# bridge state). No clientid: any client id may log in with the password.
CLUSTER_ROLES='[
  {"rolename": "apf-bridge", "acls": [
    {"acltype": "publishClientSend",    "topic": "apf/v1/#",              "allow": true},
    {"acltype": "publishClientReceive", "topic": "apf/v1/#",              "allow": true},
    {"acltype": "subscribePattern",     "topic": "apf/v1/#",              "allow": true},
    {"acltype": "publishClientSend",    "topic": "apf-cluster/bridge/#",  "allow": true},
    {"acltype": "publishClientReceive", "topic": "apf-cluster/bridge/#",  "allow": true},
    {"acltype": "subscribePattern",     "topic": "apf-cluster/bridge/#",  "allow": true}]},
  {"rolename": "apf-monitor", "acls": [
    {"acltype": "publishClientReceive", "topic": "apf-cluster/#",         "allow": true},
    {"acltype": "subscribePattern",     "topic": "apf-cluster/#",         "allow": true}]}]'

# dynsec_add_client STATE USER PASSWORD ROLE: USER with ROLE in the state file of a broker that
# is not running yet. The password is hashed by mosquitto_passwd (read from a private file,
# never from a command line): its $7$<iterations>$<salt>$<hash> is the plugin's PBKDF2-SHA512,
# as scripts/stack.sh's dynsec_state_init imports it.
dynsec_add_client() {
    local f=$1 u=$2 pw=$3 role=$4 tmp line
    tmp=$(umask 077; mktemp "$f.pw.XXXXXX")
    printf '%s:%s\n' "$u" "$pw" > "$tmp"
    mosquitto_passwd -U "$tmp" >/dev/null || { rm -f "$tmp"; die "mosquitto_passwd -U failed"; }
    line=$(cat "$tmp")
    (umask 077
     jq --arg line "$line" --arg role "$role" '
        ($line | split(":")) as $l | ($l[1] | split("$")) as $h
        | .clients += [{username: $l[0], textname: "cluster plumbing", roles: [{rolename: $role}],
                        password: $h[4], salt: $h[3], iterations: ($h[2] | tonumber)}]' \
        "$f" > "$tmp") || { rm -f "$tmp"; die "cannot add $u to $f"; }
    mv -f "$tmp" "$f"
}

# The whole configuration of one broker host: stack.sh's broker (mosquitto_conf: listener,
# dynamic-security plugin, persistence) on the host's address; its state file made before the
# broker starts (stack.sh's dynsec_state_init: the admin client of conf mqtt_admin_username,
# the same on both brokers) with the bridge's and the monitor's clients; on mq2 the bridge.
# The backend client and every hub come over MQTT from apf-admin (broker init, hub create),
# on both brokers (conf mqtt_hosts).
broker_conf() {
    local h=$1 q=$CL/$1/mq state
    use_host "$h"
    mkdir -p "$q"
    state=$(cf mqtt_dynsec_file)
    mosquitto_conf 1883 "$state" "$(cf mqtt_pid_file)" "$q" "$(ip_of "$h")" > "$q/mosquitto.conf"
    rm -f "$state"
    dynsec_state_init "$state" || die "broker_conf: $state was not created"
    if ! jq --argjson roles "$CLUSTER_ROLES" '.roles += $roles' "$state" > "$state.tmp"; then
        die "cannot add the cluster roles to $state"
    fi
    mv -f "$state.tmp" "$state"
    dynsec_add_client "$state" apf-bridge "$(secret bridge_password)" apf-bridge
    dynsec_add_client "$state" apf-monitor "$(secret monitor_password)" apf-monitor
    chmod 600 "$state"
    if [[ $h == mq2 ]]; then
        cat >> "$q/mosquitto.conf" <<EOF

# bridge to mq1: every hub and backend topic both ways (docs/hub-link.md topic tree), so a
# worker on either broker sees every hub. notifications: "1"/"0" retained on
# apf-cluster/bridge/$h on both brokers (scripts/cluster.sh status reads it on mq1)
connection apf-bridge-$h
address $(ip_of mq1):1883
remote_clientid apf-bridge
remote_username apf-bridge
remote_password $(secret bridge_password)
topic apf/v1/# both 1
cleansession false
try_private true
restart_timeout 1 10
keepalive_interval 10
notifications true
notification_topic apf-cluster/bridge/$h
EOF
    fi
    chmod 600 "$q/mosquitto.conf"
}

mq_sub() {  # mq_sub BROKER ARGS...: mosquitto_sub as apf-monitor (password from a file)
    local b=$1; shift
    XDG_CONFIG_HOME=$CL/mqcli inns sim mosquitto_sub -h "$(ip_of "$b")" -p 1883 "$@"
}
bridge_state() {  # "1" when mq2's bridge is connected to mq1 (the state retained on mq1)
    mq_sub mq1 -t 'apf-cluster/bridge/mq2' -C 1 -W 2 2>/dev/null
}
bridge_connected() { [[ $(bridge_state) == 1 ]]; }
mq_port_open() { inns "$1" bash -c "exec 3<>/dev/tcp/$(ip_of "$1")/1883" 2>/dev/null; }

brokers_up() {
    local h
    for h in "${MQS[@]}"; do broker_conf "$h"; done
    mkdir -p "$CL/mqcli"
    (umask 077; printf -- '-u apf-monitor\n-P %s\n' "$(secret monitor_password)" > "$CL/mqcli/mosquitto_sub")
    for h in "${MQS[@]}"; do
        hspawn "$h" mosquitto mosquitto -c "$CL/$h/mq/mosquitto.conf"
        wait_until "$h" 20 mq_port_open "$h" || fail_up "$h did not start" "$CL/$h/log/mosquitto.log"
    done
    wait_until "bridge" 30 bridge_connected || fail_up "mq2's bridge to mq1 is not connected" "$CL/mq2/log/mosquitto.log" "$CL/mq1/log/mosquitto.log"
    say "brokers: mq1, mq2 up (dynamic-security plugin), bridge connected ($(elapsed))"
}

# apf-admin broker init from api1 (conf mqtt_hosts: both brokers): default ACL access, the
# backend role and client on each; needs the database (the hubs' roles), so after the migrations
brokers_init() {
    printf '\n==== %s broker init\n' "$(date -Is)" >> "$CL/api1/log/apf-admin.log"
    inns api1 env APF_CONF="$CL/api1/apf.conf" "$B/apf-admin" broker init >> "$CL/api1/log/apf-admin.log" 2>&1 9>&- \
        || fail_up "apf-admin broker init failed" "$CL/api1/log/apf-admin.log" "$CL/mq1/log/mosquitto.log" "$CL/mq2/log/mosquitto.log"
}

# -------------------------------------------------------------------------------- GlusterFS

# glusterd keeps its state in /var/lib/glusterd and its sockets in /run: each brick host runs it
# in its own network namespace AND a private mount namespace where the host's folders are
# bind-mounted there. Its bricks and self-heal daemon inherit both.
start_glusterd() {
    local h=$1 g=$CL/$1/gluster
    mkdir -p "$g"/{lib,run/gluster,log} "$CL/$h/brick"
    hspawn "$h" glusterd unshare -m --propagation private sh -c "
        mount --bind '$g/lib' /var/lib/glusterd &&
        mount --bind '$g/run' /run &&
        mount --bind '$g/log' /var/log/glusterfs &&
        exec glusterd -N -p /run/glusterd.pid --log-file='$CL/$h/log/glusterd-daemon.log'"
}
gl() {  # gl HOST ARGS...: the gluster CLI against HOST's glusterd (its namespaces)
    local h=$1 pid; shift
    pid=$(hpid "$h" glusterd) || return 1
    nsenter -t "$pid" -m -n gluster --mode=script "$@"
}
gl_ready() { gl "$1" peer status; }
brick_state() {  # brick_state HOST: "online" / "offline", as HOST's glusterd sees its brick
    gl "$1" --xml volume status "$VOLUME" 2>/dev/null | awk -v h="<hostname>$(ip_of "$1")</hostname>" '
        index($0, h) { mine = 1; next }
        mine && /<status>/ { print ($0 ~ />1</) ? "online" : "offline"; exit }'
}
gl_mount() {  # gl_mount HOST: FUSE mount of the volume at HOST's file_store, from HOST's network
    local h=$1 servers="" n
    for n in "${DBS[@]}"; do servers+=" --volfile-server=$(ip_of "$n")"; done
    # shellcheck disable=SC2086
    inns "$h" glusterfs $servers --volfile-id="$VOLUME" --log-file="$CL/$h/log/glusterfs-mount.log" \
        "$CL/$h/files" 9>&-
}
mounted() { mountpoint -q "$CL/$1/files" && timeout 5 stat -f "$CL/$1/files" >/dev/null; }

gluster_up() {
    local h bricks=()
    for h in "${DBS[@]}"; do start_glusterd "$h"; done
    for h in "${DBS[@]}"; do
        wait_until "glusterd $h" 30 gl_ready "$h" || fail_up "glusterd on $h did not start" "$CL/$h/log/glusterd-daemon.log" "$CL/$h/log/glusterd.log"
    done
    for h in db2 db3; do gl db1 peer probe "$(ip_of "$h")" >/dev/null || fail_up "peer probe $h failed" "$CL/db1/log/glusterd-daemon.log"; done
    for h in "${DBS[@]}"; do bricks+=("$(ip_of "$h"):$CL/$h/brick/$VOLUME"); done
    # `force`: the bricks are folders of the root file system
    wait_until "volume create" 30 gl db1 volume create "$VOLUME" replica 3 "${bricks[@]}" force \
        || fail_up "gluster volume create failed" "$CL/db1/log/glusterd-daemon.log"
    # a brick host that dies stalls clients for network.ping-timeout (default 42 s)
    gl db1 volume set "$VOLUME" network.ping-timeout 5 >/dev/null
    gl db1 volume start "$VOLUME" >/dev/null || fail_up "gluster volume start failed" "$CL/db1/log/glusterd-daemon.log"
    for h in "${MOUNTERS[@]}"; do
        gl_mount "$h" || fail_up "glusterfs mount on $h failed" "$CL/$h/log/glusterfs-mount.log"
    done
    for h in "${MOUNTERS[@]}"; do
        wait_until "mount $h" 30 mounted "$h" || fail_up "$CL/$h/files is not mounted" "$CL/$h/log/glusterfs-mount.log"
    done
    say "GlusterFS: volume $VOLUME (replica 3 on ${DBS[*]}) mounted on ${MOUNTERS[*]} ($(elapsed))"
}

# ---------------------------------------------------------------------------- API, workers

admin() {  # admin ARGS...: apf-admin on api1 (through the lb), JSON out
    local out
    out=$(inns api1 env APF_CONF="$CL/api1/apf.conf" "$B/apf-admin" "$@" --json 9>&-) \
        || die "apf-admin $* failed"
    printf '%s' "$out"
}

api_nginx_conf() {  # stack.sh's nginx config, listening on the host's address behind the lb
    local h=$1 me lb
    use_host "$h"
    me=$(ip_of "$h") lb=$(ip_of lb)
    mkdir -p "$V"/nginx/{logs,tmp}
    gen_nginx
    sed -i "s|^\( *\)listen 127\.0\.0\.1:443 ssl;.*$|\1listen $me:443 ssl proxy_protocol;\n\1set_real_ip_from $lb;\n\1real_ip_header proxy_protocol;|" "$V/nginx/nginx.conf"
    grep -q "listen $me:443 ssl proxy_protocol;" "$V/nginx/nginx.conf" \
        || die "api_nginx_conf: stack.sh's nginx config has no 'listen 127.0.0.1:PORT ssl;' line to move"
}
api_code() {  # api_code HOST: the HTTP status of GET /v1/printers without a key, straight to HOST
    inns "$1" curl -sk --haproxy-protocol -o /dev/null -w '%{http_code}' --max-time 3 \
        "https://$(ip_of "$1")/v1/printers"
}
api_ok() { [[ $(api_code "$1") == 401 ]]; }

apps_up() {
    local h
    say "applying migrations through the lb"
    inns api1 env APF_CONF="$CL/api1/apf.conf" "$B/apf-admin" migrate >> "$CL/api1/log/apf-admin.log" 2>&1 \
        || fail_up "apf-admin migrate failed" "$CL/api1/log/apf-admin.log"
    brokers_init
    for h in "${APIS[@]}"; do
        api_nginx_conf "$h"
        hspawn "$h" apf-fcgi "$B/apf-fcgi" --conf "$CL/$h/apf.conf"
        inns "$h" nginx -t -q -p "$CL/$h/nginx" -c "$CL/$h/nginx/nginx.conf" -e "$CL/$h/nginx/logs/error.log" \
            || die "nginx configuration test failed on $h"
        hspawn "$h" nginx nginx -p "$CL/$h/nginx" -c "$CL/$h/nginx/nginx.conf" -e "$CL/$h/nginx/logs/error.log"
    done
    for h in "${WKS[@]}"; do
        hspawn "$h" apf-worker-1 env APF_WORKER_ID=1 "$B/apf-worker"
    done
    for h in "${APIS[@]}"; do
        wait_until "$h" 30 api_ok "$h" || fail_up "$h does not answer HTTPS" "$CL/$h/log/apf-fcgi.log" "$CL/$h/log/nginx.log" "$CL/$h/nginx/logs/error.log"
        wait_until "lb sees $h" 30 ha_up api "$h" || fail_up "HAProxy: $h is not UP" "$CL/lb/log/haproxy.log"
    done
    sleep 0.5
    for h in "${WKS[@]}"; do
        hpid "$h" apf-worker-1 >/dev/null || fail_up "apf-worker on $h exited" "$CL/$h/log/apf-worker-1.log"
    done
    say "API: ${APIS[*]} behind https://$(ip_of lb)/v1; workers: ${WKS[*]} ($(elapsed))"
}

# ------------------------------------------------------------------------- test data, hubs

seed() {
    local acct aid key hj hid hpw i j b printers
    acct=$(admin account create --name "Cluster Print Farm")
    aid=$(jq -r .id <<<"$acct")
    key=$(admin key create --account "$aid" --name "cluster tests (all scopes)" \
        --scopes read,write,control --rate-limit 100000)
    mkdir -p "$CL/sim/run"
    (umask 077; : > "$CL/sim/run/hubs-mq1"; : > "$CL/sim/run/hubs-mq2"; : > "$CL/hubs.txt")
    # two streams of apf-admin at once (each hub create: one dynsec message to each broker)
    seed_hubs() {
        local from=$1 to=$2 i j hj hid hpw b pj out=""
        for ((i = from; i <= to; i++)); do
            hj=$(admin hub create --account "$aid" --name "$(printf 'Cluster hub %02d' "$i")")
            hid=$(jq -r .id <<<"$hj"); hpw=$(jq -r .mqtt_password <<<"$hj")
            b=mq1; ((i > NHUBS / 2)) && b=mq2
            printf '%s %s\n' "$hid" "$hpw" >> "$CL/sim/run/hubs-$b"
            for ((j = 1; j <= PER_HUB; j++)); do
                pj=$(admin printer create --account "$aid" --hub "$hid" \
                    --name "$(printf 'Cluster %02d-%d' "$i" "$j")" --model "X1 Carbon")
                out+="$(jq -c --arg hub "$hid" --arg b "$b" '{id, hub: $hub, broker: $b}' <<<"$pj")"$'\n'
            done
        done
        printf '%s' "$out"
    }
    local half=$((NHUBS / 2))
    seed_hubs 1 "$half" > "$CL/printers.a" &
    local p1=$!
    seed_hubs $((half + 1)) "$NHUBS" > "$CL/printers.b" || die "creating hubs failed"
    wait "$p1" || die "creating hubs failed"
    printers=$(cat "$CL/printers.a" "$CL/printers.b" | jq -s .)
    rm -f "$CL/printers.a" "$CL/printers.b"
    (umask 077
     jq -n --argjson account "$acct" --argjson key "$key" --argjson printers "$printers" \
        --arg lb "https://$(ip_of lb)/v1" \
        '{base_url: $lb, account_id: $account.id, key_id: $key.id, key: $key.key, printers: $printers}' \
        > "$CL/cluster.json")
    say "test data: account $aid, key and $NHUBS hubs x $PER_HUB printers in $CL/cluster.json ($(elapsed))"
}

hubs_online() {  # "HUBS PRINTERS": the cluster account's hubs online, printers reporting status
    local aid
    aid=$(jq -r .account_id "$CL/cluster.json")
    cluster_sql "SELECT (SELECT COUNT(*) FROM hubs WHERE account_id = '$aid' AND is_online = 1),
                        (SELECT COUNT(*) FROM printer_live_status l JOIN printers p ON p.id = l.printer_id
                         WHERE p.account_id = '$aid')" | tr '\t' ' '
}
all_hubs_online() { [[ $(hubs_online) == "$NHUBS $((NHUBS * PER_HUB))" ]]; }

sim_up() {
    local b
    for b in "${MQS[@]}"; do
        # shellcheck disable=SC2086  # APF_CLUSTER_SIM_ARGS: words of options
        hspawn sim "apf-hubsim-$b" "$B/apf-hubsim" --conf "$CL/sim/apf.conf" --quiet \
            --hub-list "$CL/sim/run/hubs-$b" --mqtt-host "$(ip_of "$b")" --mqtt-port 1883 \
            --control-socket "$CL/sim/run/hubsim-$b.ctl" ${APF_CLUSTER_SIM_ARGS:-}
    done
    wait_until "hubs online" "$WAIT" all_hubs_online \
        || fail_up "hubs online, printers reporting: $(hubs_online) of $NHUBS $((NHUBS * PER_HUB))" \
            "$CL/sim/log/apf-hubsim-mq1.log" "$CL/sim/log/apf-hubsim-mq2.log" "$CL/wk1/log/apf-worker-1.log"
    say "hub simulators: $NHUBS hubs ($((NHUBS / 2)) on each broker), $((NHUBS * PER_HUB)) printers online ($(elapsed))"
}

# ------------------------------------------------------------------------------- commands

# One cluster per machine (namespace and bridge names are global): up and down take
# /run/apf-cluster.lock on fd 9 (stack.sh's spawn closes fd 9 in the services). A caller that
# holds it already (tests/cluster_smoke.sh) sets APF_CLUSTER_LOCKED=1.
cluster_lock() {
    [[ ${APF_CLUSTER_LOCKED:-} == 1 ]] && return 0
    exec 9> /run/apf-cluster.lock
    flock -w 600 9 || die "another scripts/cluster.sh holds /run/apf-cluster.lock"
}

need_root() { [[ $(id -u) == 0 ]] || die "needs root (network namespaces, bridge, FUSE mounts)"; }
need_fuse() { [[ -c /dev/fuse ]] || die "no /dev/fuse: the GlusterFS mounts need FUSE (modprobe fuse; in a container: --device /dev/fuse)"; }
need_cluster_tools() {
    local t missing=()
    for t in ip nsenter unshare mariadbd mariadb-install-db haproxy glusterd glusterfs gluster \
             mosquitto mosquitto_sub mosquitto_ctrl mosquitto_passwd nginx rsync curl jq openssl; do
        command -v "$t" >/dev/null || missing+=("$t")
    done
    [[ -e /usr/lib/galera/libgalera_smm.so ]] || missing+=("galera-4")
    ((${#missing[@]} == 0)) || die "missing: ${missing[*]} (run scripts/deps.sh)"
    local b
    for b in apf-admin apf-fcgi apf-worker apf-hubsim; do
        [[ -x $B/$b ]] || die "not built: $B/$b (run make all, or set APF_BIN)"
    done
}
cluster_exists() {
    local h
    ip link show "$BR" >/dev/null 2>&1 && return 0
    for h in "${HOSTS[@]}"; do [[ -e /run/netns/$(nsname "$h") ]] && return 0; done
    return 1
}

cmd_up() {
    need_root
    need_fuse
    need_cluster_tools
    if cluster_exists; then say "an earlier cluster is still there: taking it down first"; cmd_down; fi
    rm -rf "$CL"
    mkdir -p "$CL"
    ((${#CL} < 60)) || die "APF_CLUSTER_DIR is too long for unix socket paths: $CL"
    secrets
    local h
    for h in "${HOSTS[@]}"; do write_host_conf "$h"; done
    gen_cluster_tls
    net_up
    galera_up
    haproxy_up
    brokers_up
    gluster_up
    apps_up
    seed
    sim_up
    say "cluster is up in $(elapsed): https://$(ip_of lb)/v1 (key in $CL/cluster.json; scripts/cluster.sh status)"
}

ns_pids() { ip netns pids "$(nsname "$1")" 2>/dev/null || true; }
all_ns_pids() { local h; for h in "${HOSTS[@]}"; do ns_pids "$h"; done; }

cmd_down() {
    need_root
    local h i pids
    # FUSE mounts first: a mount whose client is gone blocks every stat of the folder
    for h in "${MOUNTERS[@]}"; do
        if mountpoint -q "$CL/$h/files" 2>/dev/null; then
            umount "$CL/$h/files" 2>/dev/null || umount -l "$CL/$h/files" || warn "cannot unmount $CL/$h/files"
        fi
    done
    # every process of every host (services, their children, glusterfsd, FUSE clients)
    mapfile -t pids < <(all_ns_pids)
    if ((${#pids[@]})); then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            mapfile -t pids < <(all_ns_pids)
            local live=()
            for p in "${pids[@]}"; do alive "$p" && live+=("$p"); done
            ((${#live[@]})) || break
            sleep 0.1
        done
        mapfile -t pids < <(all_ns_pids)
        if ((${#pids[@]})); then
            warn "still running after 15 s, SIGKILL: ${pids[*]}"
            kill -KILL "${pids[@]}" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    for h in "${HOSTS[@]}"; do
        [[ -e /run/netns/$(nsname "$h") ]] && ip netns del "$(nsname "$h")"
        ip link del "apfv-$h" 2>/dev/null || true
    done
    ip link del "$BR" 2>/dev/null || true
    rm -f "$CL"/*/run/*.pid
    local left
    left=$(ip netns list | grep -c '^apf-' || true)
    ((left == 0)) || die "namespaces left: $(ip netns list | grep '^apf-' | tr '\n' ' ')"
    say "cluster is down (state and logs kept in $CL)"
}

cluster_sql() {  # cluster_sql SQL: on the first live Galera node, database apf
    local h
    for h in "${DBS[@]}"; do
        hpid "$h" mariadb >/dev/null || continue
        dbq "$h" apf -e "$1" 2>/dev/null && return 0
    done
    return 1
}

cmd_status() {
    local rc=0 h name pid detail row
    declare -A HA=()
    while read -r b s st; do HA[$b/$s]=$st; done < <(hastat || true)
    row() {  # row HOST SERVICE STATE DETAIL
        printf '%-5s %-15s %-7s %-14s %s\n' "$1" "$2" "$3" "$(ip_of "$1")" "$4"
        [[ $3 == up ]] || rc=3
    }
    svc_row() {  # svc_row HOST NAME DETAIL
        if pid=$(hpid "$1" "$2"); then row "$1" "$2" up "pid $pid${3:+; $3}"; else row "$1" "$2" DOWN "$3"; fi
    }
    printf '%-5s %-15s %-7s %-14s %s\n' HOST SERVICE STATE ADDRESS DETAIL
    svc_row lb haproxy "galera: db1 ${HA[galera/db1]:-?}, db2 ${HA[galera/db2]:-?}, db3 ${HA[galera/db3]:-?}; api: api1 ${HA[api/api1]:-?}, api2 ${HA[api/api2]:-?}"
    for h in "${DBS[@]}"; do
        detail="not answering"
        if hpid "$h" mariadb >/dev/null; then
            detail="wsrep $(wsrep "$h" wsrep_local_state_comment || true), cluster size $(wsrep "$h" wsrep_cluster_size || true), $(wsrep "$h" wsrep_cluster_status || true)"
        fi
        svc_row "$h" mariadb "$detail"
        detail=$(brick_state "$h" || true)
        svc_row "$h" glusterd "brick ${detail:-unknown}"
    done
    for h in "${MQS[@]}"; do
        detail=""
        [[ $h == mq2 ]] && detail="bridge to mq1 $( [[ $(bridge_state || true) == 1 ]] && echo connected || echo DISCONNECTED)"
        svc_row "$h" mosquitto "$detail"
    done
    for h in "${APIS[@]}"; do
        svc_row "$h" nginx "GET /v1/printers without key: $(api_code "$h" || true) (401 expected)"
        svc_row "$h" apf-fcgi ""
    done
    # the MQTT link: the worker named by the lease row holds it (docs/scale-out.md)
    local lease
    lease=$(cluster_sql "SELECT CONCAT(holder, ' token ', token, IF(expires_at > NOW(3), '', ' EXPIRED'))
                         FROM cluster_leases WHERE name = 'mqtt-link'" 2>/dev/null || true)
    for h in "${WKS[@]}"; do
        detail=""
        [[ $lease == "$h/"* ]] && detail="holds the MQTT link (lease $lease)"
        svc_row "$h" apf-worker-1 "$detail"
    done
    for h in "${MOUNTERS[@]}"; do
        if mounted "$h" 2>/dev/null; then row "$h" "gluster mount" up "$CL/$h/files"; else row "$h" "gluster mount" DOWN "$CL/$h/files"; fi
    done
    detail=""
    [[ -s $CL/cluster.json ]] && detail="hubs online, printers reporting: $(hubs_online || echo ?) of $NHUBS $((NHUBS * PER_HUB))"
    svc_row sim apf-hubsim-mq1 "$detail"
    svc_row sim apf-hubsim-mq2 ""
    return $rc
}

cmd_exec() {
    local h=${1:-}
    [[ -n ${OCTET[$h]:-} ]] || die "exec: unknown host '$h' (${HOSTS[*]})"
    shift
    APF_CONF=$CL/$h/apf.conf exec nsenter --net="/run/netns/$(nsname "$h")" "$@"
}

# scripts/chaos.sh sources this file for its helpers (hspawn, start_db, gl, cluster_sql ...):
# run the command only when executed
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

case ${1:-} in
    up)     need_root; cluster_lock; cmd_up ;;
    down)   need_root; cluster_lock; cmd_down ;;
    status) cmd_status ;;
    exec)   shift; cmd_exec "$@" ;;
    sql)    cluster_sql "${2:?SQL}" ;;
    *)      sed -n '2,12p' "$CLUSTER_SCRIPT" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
