#!/usr/bin/env bash
# Install the Debian packages listed in scripts/packages.txt that are missing.
# A machine that already has all of them does no apt work at all.
#
#   scripts/deps.sh            install what is missing (sudo when not root)
#   scripts/deps.sh --check    only report; exit 1 when something is missing
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
list=${APF_PACKAGES:-$here/packages.txt}
check_only=0
[[ ${1:-} == --check ]] && check_only=1

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')

# names provided by installed packages, one a line
provided=$(dpkg-query -W -f='${Status} ${Provides}\n' 2>/dev/null | sed -n 's/^install ok installed //p' |
    tr ',' '\n' | sed 's/([^)]*)//g;s/[[:space:]]//g' | grep -v '^$' || true)

missing=()
for p in "${wanted[@]}"; do
    # "ii " = installed and configured; anything else (absent, rc, half-installed) counts as missing
    st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    # a package that an installed one provides counts as present (npm inside nodesource's nodejs)
    [[ $st == ii* ]] || grep -qx -- "$p" <<<"$provided" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
    echo "deps: all ${#wanted[@]} packages from ${list##*/} are installed"
    exit 0
fi

echo "deps: missing ${#missing[@]} package(s): ${missing[*]}"
((check_only)) && exit 1

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo DEBIAN_FRONTEND=noninteractive)
fi
export DEBIAN_FRONTEND=noninteractive

"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"

# verify
still=()
for p in "${missing[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [[ $st == ii* ]] || still+=("$p")
done
if ((${#still[@]})); then
    echo "deps: still missing after apt-get install: ${still[*]}" >&2
    exit 1
fi
echo "deps: installed ${missing[*]}"
