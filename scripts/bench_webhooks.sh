#!/usr/bin/env bash
# bench_webhooks.sh - webhook delivery throughput and latency (docs/webhooks.md).
#
# A private stack (build/bench-webhooks-var); one account with three endpoints on a local
# receiver (tests/webhooks/bench_receiver.py, loopback allowed by webhook_allow); EVENTS events
# (default 10000) written in transactions of BATCH (100) events, each with its three deliveries,
# as webhook_emit writes them; the worker delivers. Reports deliveries/s and events/s from the
# first commit to the last receipt, and the latency from each event's commit to its receipt
# (p50, p99, max). Results: build/bench-webhooks/result.txt. WEBHOOK_CONF: extra apf.conf lines
# (e.g. WEBHOOK_CONF='webhook_endpoint_inflight = 32'); WORKERS: apf-worker processes (1).
set -euo pipefail
BENCH_NAME=bench-webhooks
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
EVENTS=${EVENTS:-10000}
BATCH=${BATCH:-100}
WORKERS=${WORKERS:-1}
need_whole EVENTS BATCH WORKERS
need_programs python3 mariadb
need_built apf-worker apf-fcgi apf-admin

bench_stop_own() { [[ -n ${RPID:-} ]] && kill "$RPID" 2>/dev/null || true; }
bench_traps
bench_start_stack

cat >> "$APF_CONF" <<CONF
# bench-webhooks: the local receiver is allowed
webhook_allow = 127.0.0.0/8
${WEBHOOK_CONF:-}
CONF
kill -HUP "$(cat "$V/run/apf-worker-1.pid")"
if ((WORKERS > 1)); then  # more workers deliver side by side (docs/webhooks.md)
    sed -i '/^workers[[:space:]]*=/d' "$APF_CONF"
    echo "workers = $WORKERS" >> "$APF_CONF"
    "$STACK" start > "$RAW/stack-start-workers.log" 2>&1 || die "starting $WORKERS workers failed"
fi
sleep 1

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REC=$RAW/received.txt
: > "$REC"
python3 "$REPO/tests/webhooks/bench_receiver.py" "$PORT" "$REC" &
RPID=$!
sleep 0.5

conf() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$APF_CONF" | tail -1; }
sql() { mariadb -S "$(conf db_socket)" -u "$(conf db_user)" -p"$(conf db_password)" "$(conf db_name)" -N -B "$@"; }

ACC=$(sql -e "SELECT UUID()")
sql -e "INSERT INTO accounts (id, name) VALUES ('$ACC', 'bench-webhooks');
  INSERT INTO webhook_endpoints (id, account_id, url, event_types, secret) VALUES
  (UUID(), '$ACC', 'http://127.0.0.1:$PORT/a', JSON_ARRAY('job.completed'), 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),
  (UUID(), '$ACC', 'http://127.0.0.1:$PORT/b', JSON_ARRAY('job.completed'), 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),
  (UUID(), '$ACC', 'http://127.0.0.1:$PORT/c', JSON_ARRAY('job.completed'), 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');"

say "writing $EVENTS events in transactions of $BATCH (three deliveries each)"
{
    for ((i = 0; i < EVENTS / BATCH; i++)); do
        cat <<SQL
START TRANSACTION;
SET @t = NOW(3);
INSERT INTO webhook_events (id, account_id, type, body, created_at)
  SELECT UUID(), '$ACC', 'job.completed', '', @t FROM seq_1_to_$BATCH;
UPDATE webhook_events SET body = JSON_COMPACT(JSON_OBJECT('id', id, 'type', type,
  'timestamp', DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ'),
  'data', JSON_OBJECT('ts_ms', FLOOR(UNIX_TIMESTAMP(NOW(3)) * 1000))))
  WHERE account_id = '$ACC' AND created_at = @t;
INSERT INTO webhook_deliveries (id, account_id, event_id, endpoint_id)
  SELECT UUID(), e.account_id, e.id, w.id FROM webhook_events e
  JOIN webhook_endpoints w ON w.account_id = e.account_id
  WHERE e.account_id = '$ACC' AND e.created_at = @t;
INSERT INTO webhook_queue (delivery_id, endpoint_id, event_id, due_at)
  SELECT d.id, d.endpoint_id, d.event_id, NOW(3) FROM webhook_deliveries d
  JOIN webhook_events e ON e.id = d.event_id WHERE e.account_id = '$ACC' AND e.created_at = @t;
COMMIT;
SQL
    done
} | sql
T_WRITTEN=$(date +%s%3N)
WANT=$(( EVENTS / BATCH * BATCH * 3 ))
say "written; waiting for $WANT deliveries"
for ((s = 0; s < 600; s++)); do
    n=$(wc -l < "$REC")
    (( n >= WANT )) && break
    sleep 1
done
python3 - "$REC" "$WANT" "$T_WRITTEN" > "$OUT/result.txt" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
want, t_written = int(sys.argv[2]), int(sys.argv[3])
lat = sorted(int(r[0]) - int(r[3]) for r in rows)
first_commit = min(int(r[3]) for r in rows)
last = max(int(r[0]) for r in rows)
span = (last - first_commit) / 1000
ids = len({(r[1], r[2]) for r in rows})
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"deliveries received {len(rows)} of {want} (distinct endpoint x webhook-id {ids})")
print(f"first commit to last receipt {span:.2f} s; events written in {(t_written - first_commit)/1000:.2f} s")
print(f"deliveries/s {len(rows)/span:.0f}, events/s (3 endpoints each) {len(rows)/3/span:.0f}")
print(f"commit to receipt ms: p50 {p(0.5)}, p99 {p(0.99)}, max {lat[-1]}")
PY
cat "$OUT/result.txt"
