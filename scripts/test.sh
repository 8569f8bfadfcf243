#!/usr/bin/env bash
# Runs every test suite against a private stack (own state folder, free ports, so it can run
# beside `make start`), once with the normal build and once with the ASan+UBSan build (servers
# and tests alike). Prints one closing line "N passed, N failed" and leaves nothing running.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export APF_VAR=$ROOT/build/test-var
export APF_FREE_PORTS=1
export APF_CONF=$APF_VAR/apf.conf
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
status=0

stop_stack() { scripts/stack.sh stop >/dev/null 2>&1 || true; }
trap stop_stack EXIT

# Runs one CUnit binary; adds its "tests" summary row to the totals.
run_suite() {
	local name=$1 bin=$2 log
	log=$(mktemp)
	echo "=== $name"
	"$bin" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	# CUnit basic run summary row: "tests  total  ran  passed  failed  inactive"
	local row
	row=$(grep -E '^ +tests +[0-9]+' "$log" | tail -1)
	if [ -n "$row" ]; then
		passed=$((passed + $(echo "$row" | awk '{print $4}')))
		failed=$((failed + $(echo "$row" | awk '{print $5}')))
	else
		failed=$((failed + 1))
		echo "!!! $name printed no CUnit summary"
	fi
	if [ "$rc" -ne 0 ]; then
		status=1
		echo "!!! $name exited with $rc"
	fi
	rm -f "$log"
}

rm -rf "$APF_VAR"
for variant in build build/asan; do
	export APF_BIN=$ROOT/$variant/bin
	echo "##### $variant: starting the stack"
	if ! scripts/stack.sh start; then
		echo "!!! stack did not start for $variant"
		status=1
		failed=$((failed + 1))
		continue
	fi
	run_suite "$variant unit" "$APF_BIN/test-unit"
	run_suite "$variant db" "$APF_BIN/test-db"
	run_suite "$variant hub" "$APF_BIN/test-hub"
	run_suite "$variant api" "$APF_BIN/test-api" # last: its resilience suite restarts MariaDB
	scripts/stack.sh stop
	# Sanitizer reports from the servers land in their logs.
	if grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$APF_VAR"/log/*.log 2>/dev/null; then
		echo "!!! sanitizer report in a server log above"
		grep -h -A20 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$APF_VAR"/log/*.log | head -60
		status=1
		failed=$((failed + 1))
	fi
done

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
