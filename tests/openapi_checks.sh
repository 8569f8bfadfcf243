#!/usr/bin/env bash
# The API's description checked (docs/openapi.md), after the API suites of scripts/test.sh:
#   1. the document `apf-gendocs openapi` generates (what apf-fcgi serves at /v1/openapi.json)
#      lints clean with @redocly/cli (build/openapi, `make`; every recommended-strict rule an
#      error; no telemetry);
#   2. every response in RESPONSES.jsonl (what test-api wrote with APF_RESPONSE_LOG set)
#      matches the document (tests/openapi_check.py, Debian's python3-jsonschema).
# Usage: tests/openapi_checks.sh RESPONSES.jsonl   (APF_BIN: the folder with apf-gendocs)
# Prints "openapi: N passed, N failed" last; exit 1 when a check failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
log=${1:?usage: tests/openapi_checks.sh RESPONSES.jsonl}
bin=${APF_BIN:-build/bin}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { echo "!!! openapi: $*"; failed=$((failed + 1)); }

t0=$SECONDS
if ! "$bin/apf-gendocs" openapi > "$out/openapi.json"; then
	bad "apf-gendocs openapi failed"
else
	redocly=build/openapi/node_modules/.bin/redocly
	if [ ! -x "$redocly" ]; then
		bad "$redocly is missing: run make (it installs build/openapi with npm ci)"
	elif REDOCLY_TELEMETRY=off "$redocly" lint --config tools/openapi/redocly.yaml \
		"$out/openapi.json" > "$out/lint.txt" 2>&1; then
		ok
		echo "openapi: lint clean ($((SECONDS - t0)) s)"
	else
		cat "$out/lint.txt"
		bad "the document does not lint clean (above)"
	fi
	t1=$SECONDS
	if [ ! -s "$log" ]; then
		bad "no response log $log (test-api with APF_RESPONSE_LOG)"
	elif /usr/bin/python3 tests/openapi_check.py "$out/openapi.json" "$log"; then
		ok
	else
		bad "responses that do not match the document (above)"
	fi
	echo "openapi: response check took $((SECONDS - t1)) s"
fi
echo "openapi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
