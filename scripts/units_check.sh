#!/usr/bin/env bash
# Checks every unit file of systemd/ (docs/systemd.md):
#   - `systemd-analyze security --offline=true`: each service's overall exposure must be at most
#     APF_UNITS_MAX_EXPOSURE (default 1.5);
#   - `systemd-analyze verify`: must print nothing and exit 0, for every unit.
# verify checks that ExecStart= names an executable file: it runs on copies of the units (in a
# scratch folder) whose /usr/local/bin/ is rewritten to the build's binaries (APF_BIN, default
# <repo>/build/bin), so the check needs `make` but no installation. Works without systemd as
# PID 1. Prints one line per check and closes with "units check: N passed, N failed"; exit 1
# on any failure.
#
#   scripts/units_check.sh [UNIT_FILE...]     default: every systemd/*.{service,socket,timer,target}
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$(realpath -m -- "${APF_BIN:-$REPO/build/bin}")
MAX=${APF_UNITS_MAX_EXPOSURE:-1.5}

passed=0 failed=0
ok()  { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

if (($#)); then
    units=("$@")
else
    shopt -s nullglob
    units=("$REPO"/systemd/*.service "$REPO"/systemd/*.socket "$REPO"/systemd/*.timer \
           "$REPO"/systemd/*.target)
fi
if ! command -v systemd-analyze >/dev/null; then
    bad "systemd-analyze is not installed (Debian package systemd; scripts/deps.sh)"
    echo "units check: $passed passed, $failed failed"
    exit 1
fi
((${#units[@]})) || { bad "no unit files"; echo "units check: 0 passed, 1 failed"; exit 1; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# security: services only (the verb rates what a service's processes may do)
for u in "${units[@]}"; do
    [[ $u == *.service ]] || continue
    out=$(systemd-analyze security --offline=true --no-pager "$u" 2>&1)
    score=$(sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' <<<"$out")
    if [[ -z $score ]]; then
        bad "security ${u##*/}: no score"
        printf '%s\n' "$out" | tail -20
    elif awk -v s="$score" -v m="$MAX" 'BEGIN { exit !(s <= m) }'; then
        ok "security ${u##*/}: $score (at most $MAX)"
    else
        bad "security ${u##*/}: $score, above $MAX; the exposed settings:"
        grep '^✗' <<<"$out"
    fi
done

# verify: copies with the build's binaries in ExecStart=/ExecReload=..., same file names
for u in "${units[@]}"; do
    sed "s|/usr/local/bin/|$BIN/|g" "$u" > "$scratch/${u##*/}"
    while read -r b; do
        [[ -x $b ]] || bad "verify ${u##*/}: $b is not built (run make first, or set APF_BIN)"
    done < <(grep -o "$BIN/[A-Za-z0-9_.-]*" "$scratch/${u##*/}" | sort -u)
done
for u in "${units[@]}"; do
    f=$scratch/${u##*/}
    out=$(cd "$scratch" && systemd-analyze verify --man=no "$f" 2>&1)
    rc=$?
    if [[ $rc == 0 && -z $out ]]; then
        ok "verify ${u##*/}: clean"
    else
        bad "verify ${u##*/}: exit $rc"
        printf '%s\n' "$out" | sed "s|$scratch/||g"
    fi
done

echo "units check: $passed passed, $failed failed"
((failed == 0))
