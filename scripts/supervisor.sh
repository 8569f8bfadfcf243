# shellcheck shell=bash
# The local stack's supervisor (docs/systemd.md, "The local stack"): sourced by scripts/stack.sh,
# whose functions it uses (svc_list, svc_pid, pidfile, the start_* functions, spawn, lock).
#
# `scripts/stack.sh start` (and `run`) starts it last, unless APF_SUPERVISE=0: one background
# process (`stack.sh supervise`, pid file run/supervisor.pid, log log/supervisor.log) that looks
# at the pid files every second, like systemd's Restart= for the units:
#   - a service whose pid file is there but whose process is gone died: APF_RESTART_SEC (2) s
#     later it is started again by the same start function as `stack.sh start` (same command
#     line, same readiness probe), under the stack lock; run/NAME.restarts counts the restarts;
#   - more than APF_START_LIMIT_BURST (5) restarts within APF_START_LIMIT_INTERVAL (60) s: it
#     gives up on that service (run/NAME.failed) until `stack.sh start` brings it back;
#   - a service stopped by stack.sh (its pid file removed) is not restarted; nginx and mosquitto
#     remove their own pid file when they exit cleanly (SIGTERM), so only their crashes count.
# `stack.sh stop` takes the lock (no restart in flight), stops the supervisor first, then the
# services, and removes the counters. `stack.sh status` shows pid, start time and restarts.

SUP_RESTART_SEC=${APF_RESTART_SEC:-2}
SUP_BURST=${APF_START_LIMIT_BURST:-5}
SUP_INTERVAL=${APF_START_LIMIT_INTERVAL:-60}

restarts_file() { printf '%s/run/%s.restarts' "$V" "$1"; }
failed_file() { printf '%s/run/%s.failed' "$V" "$1"; }
svc_restarts() {  # restarts of NAME since the stack started
    local n=0
    [[ -r $(restarts_file "$1") ]] && n=$(tr -dc '0-9' < "$(restarts_file "$1")")
    printf '%s' "${n:-0}"
}
proc_since() {  # start time of process PID, local time
    local t
    t=$(ps -o lstart= -p "$1" 2>/dev/null) || return 0
    date -d "$t" '+%F %T' 2>/dev/null || printf '%s' "$t"
}

supervisor_wanted() { [[ ${APF_SUPERVISE:-1} != 0 ]]; }

start_supervisor() {  # called by cmd_start (stack lock held) once every service is up
    local pid
    if pid=$(svc_pid supervisor); then say "supervisor already running (pid $pid)"; return 0; fi
    supervisor_wanted || return 0
    stop_svc supervisor
    # the argument only names the stack in the process list (several stacks may run)
    spawn supervisor env APF_BIN="$B" bash "$REPO/scripts/stack.sh" supervise "$V/run"
    wait_ready supervisor "$SPAWNED" ready_grace
}

# after `stack.sh stop`: the next start counts from zero
supervisor_reset() { rm -f "$V"/run/*.restarts "$V"/run/*.failed; }

# the status words of a service that is not running
svc_down_state() {
    if [[ -e $(failed_file "$1") ]]; then
        printf 'failed (%s; scripts/stack.sh start)' "$(cat "$(failed_file "$1")")"
    elif [[ -e $(pidfile "$1") && $1 != supervisor ]] && svc_pid supervisor >/dev/null; then
        printf 'stopped (died; the supervisor restarts it)'
    else
        printf 'stopped'
    fi
}

restart_svc() {  # restart_svc NAME: the start function `stack.sh start` uses for NAME
    case $1 in
        mariadb) start_mariadb ;;
        mosquitto) start_mosquitto ;;
        apf-fcgi) start_fcgi ;;
        apf-worker-*) start_worker "${1#apf-worker-}" ;;
        nginx) start_nginx ;;
        apf-hubsim) start_hubsim ;;
        *) printf 'supervisor: no start function for %s\n' "$1"; return 1 ;;
    esac
}

# The loop runs every second for as long as the stack: what it does each tick uses shell
# builtins only (no process is forked but the `sleep`).
sup_now() { local t=${EPOCHREALTIME/[.,]/}; NOW=$((t / 1000)); }   # NOW: milliseconds
sup_log() { printf '%s supervisor: %s\n' "$(date '+%F %T')" "$*"; }

sup_names() {  # SUP_NAMES: the services that have a pid file, in start order
    local n f
    SUP_NAMES=()
    for n in mariadb mosquitto apf-fcgi; do [[ -e $V/run/$n.pid ]] && SUP_NAMES+=("$n"); done
    for f in "$V"/run/apf-worker-*.pid; do n=${f##*/}; SUP_NAMES+=("${n%.pid}"); done
    for n in nginx apf-hubsim; do [[ -e $V/run/$n.pid ]] && SUP_NAMES+=("$n"); done
    return 0
}

sup_pid() {  # SUP_PID: the pid in NAME's pid file (empty when none)
    SUP_PID=
    read -r SUP_PID 2>/dev/null < "$V/run/$1.pid" || true
    SUP_PID=${SUP_PID//[!0-9]/}
}

sup_running() {  # svc_pid's test: NAME's pid file names a live (not zombie) process of its program
    local st args pat
    sup_pid "$1"
    [[ -n $SUP_PID ]] || return 1
    read -r st 2>/dev/null < "/proc/$SUP_PID/stat" || return 1
    st=${st##*) }
    st=${st%% *}
    [[ $st != Z && $st != X ]] || return 1
    mapfile -d '' args 2>/dev/null < "/proc/$SUP_PID/cmdline" || return 1
    case $1 in mariadb) pat=mariadbd ;; apf-worker-*) pat=apf-worker ;; *) pat=$1 ;; esac
    [[ "${args[*]}" == *"$pat"* ]]
}

# one restart of NAME, stack lock held; returns its exit status
sup_restart() {
    local name=$1 old=$2 n rc
    n=$(( $(svc_restarts "$name") + 1 ))
    echo "$n" > "$(restarts_file "$name")"
    printf '\n==== %s died (pid %s); restart %s by the supervisor\n' "$(date -Is)" "${old:-?}" "$n" \
        >> "$V/log/$name.log"
    sup_log "restarting $name (restart $n)"
    set +e
    (set -e; STARTED_NOW=(); restart_svc "$name")
    rc=$?
    set -e
    if ((rc == 0)) && svc_pid "$name" >/dev/null; then
        sup_log "restarted $name: pid $(svc_pid "$name") (restart $n)"
        return 0
    fi
    # a failed start removed the pid file: put an empty one back, so that it is tried again
    [[ -e $(pidfile "$name") ]] || : > "$(pidfile "$name")"
    sup_log "restart $n of $name failed (exit $rc)"
    return 1
}

cmd_supervise() {
    [[ -s $CONF ]] && load_conf
    exec 9> "$V/run/.stack.lock"
    trap 'sup_log "stopping"; exit 0' TERM INT
    trap '' HUP
    local -A down=() recent=() gaveup=()
    local name t n keep=()
    sup_log "watching the services of $V every second (restart after ${SUP_RESTART_SEC}s," \
        "at most $SUP_BURST restarts in ${SUP_INTERVAL}s)"
    while :; do
        sleep 1 9>&- &
        wait $! || true
        sup_names
        sup_now
        for name in "${SUP_NAMES[@]}"; do
            if [[ ! -e $V/run/$name.pid ]] || sup_running "$name"; then
                # running, or stopped by stack.sh: nothing to do (after a give-up, stack.sh
                # start brought it back: the start limit counts afresh, as after systemctl
                # reset-failed)
                if [[ -n ${gaveup[$name]:-} ]]; then
                    rm -f "$(failed_file "$name")"
                    unset "gaveup[$name]" "recent[$name]"
                fi
                unset "down[$name]"
                continue
            fi
            [[ -n ${gaveup[$name]:-} ]] && continue
            if [[ -z ${down[$name]:-} ]]; then
                down[$name]=$NOW
                [[ -n $SUP_PID ]] && sup_log "$name (pid $SUP_PID) died; restart in ${SUP_RESTART_SEC}s"
                continue
            fi
            ((NOW - ${down[$name]} >= SUP_RESTART_SEC * 1000)) || continue
            # the start limit (systemd's StartLimitBurst= / StartLimitIntervalSec=)
            keep=()
            for t in ${recent[$name]:-}; do ((NOW - t < SUP_INTERVAL * 1000)) && keep+=("$t"); done
            n=${#keep[@]}
            recent[$name]=${keep[*]}
            if ((n >= SUP_BURST)); then
                gaveup[$name]=1
                echo "$n restarts in ${SUP_INTERVAL}s" > "$(failed_file "$name")"
                sup_log "$name: $n restarts within ${SUP_INTERVAL}s; giving up (start limit)"
                continue
            fi
            # stack.sh start / stop hold the lock: try again at the next tick
            flock -n 9 || continue
            LOCKED=1
            if [[ -e $V/run/$name.pid ]] && ! sup_running "$name"; then
                recent[$name]+=" $NOW"
                sup_restart "$name" "$SUP_PID" || true
            fi
            flock -u 9
            LOCKED=0
            unset "down[$name]"
            sup_now
        done
    done
}
