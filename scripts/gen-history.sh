#!/usr/bin/env bash
# gen-history.sh - fills one account with a realistic production history, for the analytics
# benchmark (scripts/bench_analytics.sh) and for trying the dashboards on a dev stack:
#   printers, products and SKUs, filament spools, print jobs over DAYS days (completed, failed,
#   cancelled; the most recent ones still queued or printing), one failure record per failed
#   job, orders in every status and platform, material usage (filament grams per completed job,
#   a box per shipped order), and a few open worklist tasks.
#
#   scripts/gen-history.sh --account ID [--jobs N] [--printers N] [--orders N] [--days N]
#
# Defaults: 1,000,000 jobs, 500 printers, orders = jobs / 10, 365 days ending now. Rows are made
# by INSERT ... SELECT over MariaDB's sequence tables (seq_A_to_B), CHUNK rows per statement;
# the figures are deterministic functions of the row number (CRC32), so two runs with the same
# sizes give the same history. Ids have the UUID v4 form, made of a random per-run prefix and
# the row number (rows are appended in key order). Foreign keys are valid by construction, so
# the session skips their checks. The SKU stock levels written here are recorded in the stock
# ledger afterwards (apf-admin stock reconcile --account), as every manual change must be.
#
# Environment: APF_CONF (default <repo>/var/apf.conf: db_socket, db_name, db_user,
# db_password), APF_BIN (apf-admin; default <repo>/build/bin), GEN_CHUNK (default 100000).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONF=${APF_CONF:-$REPO/var/apf.conf}
BIN=${APF_BIN:-$REPO/build/bin}
CHUNK=${GEN_CHUNK:-100000}
ACCOUNT='' JOBS=1000000 PRINTERS=500 ORDERS='' DAYS=365

die() { printf 'gen-history: ERROR: %s\n' "$*" >&2; exit 1; }
say() { printf 'gen-history: %s\n' "$*"; }
while (($#)); do
    case $1 in
        --account) ACCOUNT=${2:-}; shift 2 ;;
        --jobs) JOBS=${2:-}; shift 2 ;;
        --printers) PRINTERS=${2:-}; shift 2 ;;
        --orders) ORDERS=${2:-}; shift 2 ;;
        --days) DAYS=${2:-}; shift 2 ;;
        *) die "usage: $0 --account ID [--jobs N] [--printers N] [--orders N] [--days N]" ;;
    esac
done
ORDERS=${ORDERS:-$((JOBS / 10))}
[[ $ACCOUNT =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] || die "--account must be an account id"
for v in JOBS PRINTERS ORDERS DAYS CHUNK; do
    if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} < 1)); then die "$v must be a whole number >= 1"; fi
done
[[ -r $CONF ]] || die "cannot read $CONF (set APF_CONF)"
conf() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*$/\1/p" "$CONF" | tail -1; }
DBCNF=$(mktemp)
trap 'rm -f "$DBCNF"' EXIT
(umask 077; printf '[client]\nuser = %s\npassword = %s\nsocket = %s\ndatabase = %s\n' \
    "$(conf db_user)" "$(conf db_password)" "$(conf db_socket)" "$(conf db_name)" > "$DBCNF")
sql() { mariadb --defaults-file="$DBCNF" -N -B -e "$1"; }

[[ $(sql "SELECT COUNT(*) FROM accounts WHERE id = '$ACCOUNT'") == 1 ]] || die "no account $ACCOUNT"
P=$(openssl rand -hex 4)
# id NS N: a UUID v4-form id of row N of kind NS (4 hex digits), unique per run
id() { echo "CONCAT('$P-$1-4000-8000-', LPAD(LOWER(HEX($2)), 12, '0'))"; }
SET="SET SESSION foreign_key_checks = 0, unique_checks = 0, @t0 = UTC_TIMESTAMP(3) - INTERVAL $DAYS DAY, @span = $DAYS * 86400, @now = UTC_TIMESTAMP(3);"
T0=$(date +%s)
chunks() {  # chunks TOTAL WHAT SQL_WITH_@A_@B: runs the statement over seq_A_to_B chunks
    local total=$1 what=$2 a b s
    for ((a = 0; a < total; a += CHUNK)); do
        b=$((a + CHUNK - 1 < total - 1 ? a + CHUNK - 1 : total - 1))
        s=${3//@A/$a}
        sql "$SET ${s//@B/$b}"
        printf '\rgen-history: %s %d / %d' "$what" "$((b + 1))" "$total"
    done
    printf '\n'
}

say "account $ACCOUNT: $PRINTERS printers, $JOBS jobs, $ORDERS orders over $DAYS days (id prefix $P)"
MODELS="ELT(1 + seq % 6, 'X1 Carbon', 'P1S', 'A1 mini', 'MK4', 'Voron 2.4', 'Ender 3 V3')"
sql "$SET
INSERT INTO printers (id, account_id, name, model, status, in_maintenance, sort_order)
SELECT $(id c000 seq), '$ACCOUNT', CONCAT('Farm printer ', LPAD(seq + 1, 4, '0')), $MODELS,
       ELT(1 + CRC32(CONCAT('ps', seq)) % 10, 'idle', 'idle', 'idle', 'printing', 'printing',
           'printing', 'printing', 'paused', 'maintenance', 'error'),
       CRC32(CONCAT('ps', seq)) % 10 = 8, seq
FROM seq_0_to_$((PRINTERS - 1));
INSERT INTO products (id, account_id, name, category)
SELECT $(id d000 seq), '$ACCOUNT', CONCAT('Generated product ', '$P', ' ', seq), 'generated'
FROM seq_0_to_49;
INSERT INTO product_skus (id, account_id, product_id, sku, color, filament_type, stock_level, low_stock_threshold, price)
SELECT $(id d100 seq), '$ACCOUNT', $(id d000 'seq % 50'), CONCAT('GEN-$P-', seq),
       ELT(1 + seq % 5, 'Black', 'White', 'Red', 'Blue', 'Green'), 'PLA',
       CRC32(CONCAT('sk', seq)) % 40, 10, 1999
FROM seq_0_to_199;
INSERT INTO filament_inventory (id, account_id, type, color, remaining_grams, low_threshold, status, cost_per_unit)
SELECT $(id d200 seq), '$ACCOUNT', ELT(1 + seq % 3, 'PLA', 'PETG', 'ABS'),
       ELT(1 + seq % 5, 'Black', 'White', 'Red', 'Blue', 'Green'), g, 100,
       CASE WHEN g <= 0 THEN 'out_of_stock' WHEN g <= 100 THEN 'low' ELSE 'in_stock' END, 2500
FROM (SELECT seq, (CRC32(CONCAT('fi', seq)) % 1100) g FROM seq_0_to_29) x;
INSERT INTO worklist_tasks (id, account_id, printer_id, title, task_type, status)
SELECT $(id d300 seq), '$ACCOUNT', $(id c000 "seq % $PRINTERS"), CONCAT('Task ', seq),
       ELT(1 + seq % 5, 'collection', 'assembly', 'filament_change', 'maintenance', 'quality_check'),
       ELT(1 + seq % 4, 'pending', 'in_progress', 'completed', 'cancelled')
FROM seq_0_to_199;"

# A job: submitted evenly over the window, started within the hour, printing for 20..419
# minutes; finished before now: 86 % completed, 8 % failed, 6 % cancelled; else still printing
# (started) or queued.
chunks "$JOBS" jobs "
INSERT INTO print_jobs (id, account_id, printer_id, product_sku_id, product_id, file_name, status,
  number_of_units, actual_print_time_minutes, estimated_print_time_minutes, progress_percentage,
  failure_reason, time_submitted, time_started, time_completed, created_at, updated_at)
SELECT $(id a000 seq), '$ACCOUNT', $(id c000 "seq % $PRINTERS"), $(id d100 'seq % 200'),
  $(id d000 '(seq % 200) % 50'), CONCAT('part-', seq % 997, '.3mf'), st, 1 + h2 % 4,
  CASE st WHEN 'completed' THEN dur WHEN 'failed' THEN dur * (h2 % 90) DIV 100 END, dur,
  CASE st WHEN 'completed' THEN 100 WHEN 'failed' THEN h2 % 90 ELSE 0 END,
  IF(st = 'failed', 'Generated failure', NULL), sub, IF(st = 'queued', NULL, st_at),
  IF(st IN ('completed', 'failed', 'cancelled'), done, NULL), sub,
  IF(st IN ('completed', 'failed', 'cancelled'), done, sub)
FROM (SELECT seq, h2, sub, st_at, dur, done,
        CASE WHEN st_at > @now THEN 'queued' WHEN done > @now THEN 'printing'
             WHEN h1 % 100 < 86 THEN 'completed' WHEN h1 % 100 < 94 THEN 'failed'
             ELSE 'cancelled' END st
      FROM (SELECT seq, h1, h2, sub, sub + INTERVAL h1 % 3600 SECOND st_at, 20 + h2 % 400 dur,
              sub + INTERVAL h1 % 3600 SECOND + INTERVAL 20 + h2 % 400 MINUTE done
            FROM (SELECT seq, CRC32(CONCAT('a', seq)) h1, CRC32(CONCAT('b', seq)) h2,
                    @t0 + INTERVAL FLOOR(seq * @span / $JOBS) SECOND sub
                  FROM seq_@A_to_@B) s0) s1) s2"

FT="ELT(1 + CRC32(CONCAT('ft', seq)) % 12, 'nozzle_clog', 'bed_adhesion', 'layer_shift',
  'filament_runout', 'power_loss', 'network_disconnect', 'firmware_error', 'mechanical', 'thermal',
  'user_cancelled', 'unknown', 'other')"
chunks "$JOBS" "failures of jobs" "
INSERT INTO printer_failures (id, account_id, printer_id, print_job_id, failure_type, failure_reason,
  error_code, progress_at_failure, print_time_at_failure, resolution, resolved_at, created_at)
SELECT $(id f000 seq), '$ACCOUNT', j.printer_id, j.id, $FT, j.failure_reason,
  CONCAT('E', CRC32(CONCAT('ec', seq)) % 50), j.progress_percentage, j.actual_print_time_minutes,
  IF(CRC32(CONCAT('rs', seq)) % 3 > 0, 'Generated fix', NULL),
  IF(CRC32(CONCAT('rs', seq)) % 3 > 0, j.time_completed + INTERVAL 2 HOUR, NULL), j.time_completed
FROM seq_@A_to_@B s JOIN print_jobs j ON j.id = $(id a000 s.seq) AND j.status = 'failed'"

chunks "$JOBS" "filament usage of jobs" "
INSERT INTO material_usage_history (id, account_id, material_type, material_id, print_job_id,
  usage_amount, usage_date, reason)
SELECT $(id e000 seq), '$ACCOUNT', 'filament', $(id d200 'seq % 30'), j.id,
  5 + (CRC32(CONCAT('g', seq)) % 30000) / 100, j.time_completed, 'print_completion'
FROM seq_@A_to_@B s JOIN print_jobs j ON j.id = $(id a000 s.seq) AND j.status = 'completed'"

chunks "$ORDERS" orders "
INSERT INTO orders (id, account_id, order_number, platform, customer_name, order_date, status,
  total_revenue, shipping_cost, tax_amount)
SELECT $(id b000 seq), '$ACCOUNT', CONCAT('GEN-$P-', seq),
  ELT(1 + CRC32(CONCAT('op', seq)) % 5, 'shopify', 'amazon', 'etsy', 'manual', 'other'),
  CONCAT('Customer ', seq % 5000), @t0 + INTERVAL FLOOR(seq * @span / $ORDERS) SECOND,
  ELT(1 + CRC32(CONCAT('os', seq)) % 20, 'pending', 'processing', 'printed', 'assembled',
      'shipped', 'shipped', 'shipped', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled',
      'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'cancelled',
      'refunded', 'processing'),
  500 + CRC32(CONCAT('or', seq)) % 20000, 499, 120
FROM seq_@A_to_@B"

chunks "$ORDERS" "packaging usage of orders" "
INSERT INTO material_usage_history (id, account_id, material_type, material_id, usage_amount,
  usage_date, reason)
SELECT $(id e100 seq), '$ACCOUNT', 'packaging', $(id d400 0), 1, o.order_date, 'order_packing'
FROM seq_@A_to_@B s JOIN orders o ON o.id = $(id b000 s.seq) AND o.status IN ('shipped', 'fulfilled')"

if [[ -x $BIN/apf-admin ]]; then
    APF_CONF=$CONF "$BIN/apf-admin" stock reconcile --account "$ACCOUNT" > /dev/null \
        || die "apf-admin stock reconcile failed"
else
    say "WARNING: $BIN/apf-admin not found: run apf-admin stock reconcile --account $ACCOUNT"
fi
sql "ANALYZE TABLE print_jobs, orders, printer_failures, material_usage_history" > /dev/null
say "done in $(($(date +%s) - T0)) s: $(sql "SELECT CONCAT((SELECT COUNT(*) FROM print_jobs WHERE account_id = '$ACCOUNT'), ' jobs, ',
  (SELECT COUNT(*) FROM printer_failures WHERE account_id = '$ACCOUNT'), ' failures, ',
  (SELECT COUNT(*) FROM orders WHERE account_id = '$ACCOUNT'), ' orders, ',
  (SELECT COUNT(*) FROM material_usage_history WHERE account_id = '$ACCOUNT'), ' usage rows')")"
