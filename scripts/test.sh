#!/usr/bin/env bash
# Runs every test suite against a private stack (own state folder, free ports, so it can run
# beside `make start`), once with the normal build and once with the ASan+UBSan build (servers
# and tests alike). Prints one closing line "N passed, N failed" and leaves nothing running.
#
# Always the whole run: APF_TEST_SUITES / APF_TEST_HUB (quick local reruns of one binary) are
# ignored here. Besides the CUnit results, each of these counts as a failure:
#   - a binary that prints no CUnit summary, exits non-zero, or runs past its time limit
#     (APF_SUITE_TIMEOUT seconds per suite, enforced by tests/cunit_run.c; APF_BINARY_TIMEOUT
#     seconds per binary, default 2400);
#   - a suite whose initialisation or cleanup failed (CUnit's "suites ... Failed" column);
#   - a sanitizer report of any process (servers, simulators, apf-admin, the tests): ASan, LSan
#     and UBSan write to files under $APF_VAR/san/, which must stay empty, and the servers' logs;
#   - an apf-fcgi child that died other than by the SIGKILL the resilience tests send.
# Before any stack, the systemd units' hardening scores and `systemd-analyze verify`
# (scripts/units_check.sh); after the API suites of the normal build, the local stack's supervisor
# (tests/supervise.sh: a killed worker is restarted; docs/systemd.md). Both count like CUnit tests.
# Last, after the single-host suites (never beside them), the cluster smoke test
# (tests/cluster_smoke.sh, docs/scale-out.md "Topology and make targets") with the normal build:
# its checks count like CUnit tests; without root or /dev/fuse it fails, it never skips.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export APF_VAR=$ROOT/build/test-var
export APF_FREE_PORTS=1
export APF_CONF=$APF_VAR/apf.conf
# no supervisor on the test stack: suites kill services on purpose and restart them themselves
# (t_faults, t_resilience, t_broker); tests/supervise.sh turns it on for its own check
export APF_SUPERVISE=0
for v in APF_TEST_SUITES APF_TEST_HUB; do
	if [ -n "${!v:-}" ]; then
		echo "test: ignoring $v=${!v}: make test runs every suite"
	fi
	unset "$v"
done
SAN_DIR=$APF_VAR/san
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}:log_path=$SAN_DIR/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$SAN_DIR/ubsan"
BINARY_TIMEOUT=${APF_BINARY_TIMEOUT:-2400}

passed=0
failed=0
status=0

stop_stack() { scripts/stack.sh stop >/dev/null 2>&1 || true; }
trap stop_stack EXIT

fail() { # fail MESSAGE: one more failure, said loudly
	echo "!!! $*"
	failed=$((failed + 1))
	status=1
}

# Runs one CUnit binary; adds its summary rows to the totals.
run_suite() {
	local name=$1 bin=$2 log t0
	log=$(mktemp)
	t0=$SECONDS
	echo "=== $name"
	timeout -k 30 "$BINARY_TIMEOUT" "$bin" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	# CUnit basic run summary rows: "suites total ran n/a failed inactive" and
	# "tests total ran passed failed inactive"
	local row srow
	row=$(grep -E '^ +tests +[0-9]+' "$log" | tail -1)
	srow=$(grep -E '^ +suites +[0-9]+' "$log" | tail -1)
	if [ -n "$row" ]; then
		passed=$((passed + $(echo "$row" | awk '{print $4}')))
		failed=$((failed + $(echo "$row" | awk '{print $5}')))
	else
		fail "$name printed no CUnit summary"
	fi
	local sfailed
	sfailed=$(echo "$srow" | awk '{print $5 + 0}')
	if [ "${sfailed:-0}" -gt 0 ]; then
		fail "$name: $sfailed suite(s) failed to set up or clean up (their tests did not run)"
		failed=$((failed + sfailed - 1))
	fi
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "$name ran out of time (exit $rc): see the suite named above"
	elif [ "$rc" -ne 0 ]; then
		status=1
		echo "!!! $name exited with $rc"
	fi
	echo "=== $name: $((SECONDS - t0)) s"
	rm -f "$log"
}

# run_script NAME SCRIPT LABEL [ARGS...]: runs SCRIPT ARGS, which ends with "LABEL: N passed, N
# failed"; adds them to the totals.
run_script() {
	local name=$1 script=$2 label=$3 log t0
	shift 3
	log=$(mktemp)
	t0=$SECONDS
	echo "=== $name"
	timeout -k 30 600 "$script" "$@" 2>&1 | tee "$log"
	count_script "$label" "$log" "${PIPESTATUS[0]}"
	echo "=== $name: $((SECONDS - t0)) s"
	rm -f "$log"
}

# After a variant: sanitizer reports and abnormal child deaths fail the run. Its logs move to
# log/<variant>/ so that the next variant is checked on its own.
check_logs() {
	local variant=$1 tag=${1//\//-}
	local reports logs
	mapfile -t reports < <(find "$SAN_DIR" -type f 2>/dev/null | sort)
	mapfile -t logs < <(find "$APF_VAR/log" -maxdepth 1 -name '*.log' 2>/dev/null | sort)
	if [ "${#reports[@]}" -gt 0 ]; then
		fail "$variant: ${#reports[@]} sanitizer report(s):"
		for f in "${reports[@]}"; do
			echo "--- $f"
			head -40 "$f"
		done
		mkdir -p "$SAN_DIR-$tag" && mv "${reports[@]}" "$SAN_DIR-$tag/"
	fi
	[ "${#logs[@]}" -gt 0 ] || return 0
	if grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "${logs[@]}"; then
		fail "$variant: sanitizer report in a server log above"
		grep -h -A20 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "${logs[@]}" | head -60
	fi
	local deaths
	deaths=$(grep -h -E 'child [0-9]+ died' "${logs[@]}" | grep -v -E 'killed by signal 9 ' || true)
	if [ -n "$deaths" ]; then
		fail "$variant: apf-fcgi children died:"
		echo "$deaths" | head -20
	fi
	mkdir -p "$APF_VAR/log/$tag" && mv "${logs[@]}" "$APF_VAR/log/$tag/"
}

# count_script NAME LOG RC: a script's closing "NAME: N passed, N failed" line into the totals;
# no such line, a timeout (exit 124/137) or another non-zero exit fails the run.
count_script() {
	local name=$1 log=$2 rc=$3 row
	row=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1)
	if [ -n "$row" ]; then
		passed=$((passed + $(echo "${row#"$name": }" | awk '{print $1}')))
		failed=$((failed + $(echo "${row#"$name": }" | awk '{print $3}')))
	else
		fail "$name test printed no summary"
	fi
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "$name test ran out of time (exit $rc)"
	elif [ "$rc" -ne 0 ]; then
		status=1
		echo "!!! $name test exited with $rc"
	fi
}

# systemd units: hardening scores and `systemd-analyze verify` (seconds; before any stack)
APF_BIN="$ROOT/build/bin" run_script "systemd units" scripts/units_check.sh "units check"

rm -rf "$APF_VAR"
mkdir -p "$SAN_DIR"
for variant in build build/asan; do
	export APF_BIN=$ROOT/$variant/bin
	echo "##### $variant: starting the stack"
	if ! scripts/stack.sh start; then
		fail "stack did not start for $variant"
		check_logs "$variant"
		continue
	fi
	run_suite "$variant unit" "$APF_BIN/test-unit"
	run_suite "$variant db" "$APF_BIN/test-db"
	run_suite "$variant hub" "$APF_BIN/test-hub"
	# the normal build's API responses are checked against the OpenAPI document below
	if [ "$variant" = build ]; then
		export APF_RESPONSE_LOG=$APF_VAR/responses.jsonl
		rm -f "$APF_RESPONSE_LOG"
	fi
	run_suite "$variant api" "$APF_BIN/test-api" # last: its resilience suite restarts MariaDB
	unset APF_RESPONSE_LOG
	# apf-admin doctor, backup and restore on the state the suites left (normal build only)
	[ "$variant" = build ] && run_script "$variant admin ops" tests/admin_ops.sh "admin ops"
	# tests/install_smoke.sh: `make install` into a scratch root, the installed programs run
	# with the stack's MariaDB and mosquitto
	[ "$variant" = build ] && run_script "install smoke" tests/install_smoke.sh "install smoke"
	# the supervisor restarts a killed worker; stops the stack itself (seconds)
	[ "$variant" = build ] && run_script "supervisor" tests/supervise.sh "supervise"
	scripts/stack.sh stop
	check_logs "$variant"
done

# The OpenAPI document lints clean and every response of the normal build's API suites
# matches it (docs/openapi.md); one test each.
APF_BIN=$ROOT/build/bin run_script "openapi checks" tests/openapi_checks.sh openapi "$APF_VAR/responses.jsonl"

# The scale-out topology on this machine: up, requests, hub commands, fail-overs, down.
# APF_CLUSTER_SMOKE_TIMEOUT seconds at most (default 900; a run takes 1-3 minutes).
run_cluster_smoke() {
	local log t0
	log=$(mktemp)
	t0=$SECONDS
	echo "##### cluster smoke test (build/bin)"
	env -u APF_VAR -u APF_CONF -u APF_FREE_PORTS APF_BIN="$ROOT/build/bin" \
		timeout -k 60 "${APF_CLUSTER_SMOKE_TIMEOUT:-900}" tests/cluster_smoke.sh 2>&1 | tee "$log"
	count_script "cluster smoke" "$log" "${PIPESTATUS[0]}"
	# a smoke test killed by the timeout cannot take its cluster down itself
	if ip netns list 2>/dev/null | grep -q '^apf-'; then
		fail "the cluster smoke test left namespaces behind; taking the cluster down"
		APF_BIN="$ROOT/build/bin" scripts/cluster.sh down
	fi
	echo "=== cluster smoke: $((SECONDS - t0)) s"
	rm -f "$log"
}
run_cluster_smoke

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
