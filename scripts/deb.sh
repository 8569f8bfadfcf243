#!/usr/bin/env bash
# Debian package of apf (docs/packaging.md): `make deb`.
#   scripts/deb.sh build   copy the source tree (git's files, committed or not) to
#                          build/deb/src/apf-VERSION, dpkg-buildpackage there (source + binary,
#                          unsigned), the results into build/deb/, then lintian on them: any
#                          error or warning fails (overrides: debian/*lintian-overrides, each
#                          with its reason).
# Environment: APF_DEB_JOBS (parallel make jobs, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/deb

die() { printf 'deb: ERROR: %s\n' "$*" >&2; exit 1; }

build() {
    local t missing=() v src
    for t in dpkg-buildpackage dh lintian dpkg-parsechangelog; do
        command -v "$t" >/dev/null || missing+=("$t")
    done
    ((${#missing[@]} == 0)) || die "missing ${missing[*]}: run scripts/deps.sh (debhelper, lintian, dpkg-dev)"
    v=$(dpkg-parsechangelog -l debian/changelog -S Version)
    rm -rf "$OUT"
    src=$OUT/src/apf-$v
    mkdir -p "$src"
    # the files git knows (tracked, or new and not ignored): no build/, var/ or stray outputs
    git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
        [[ -e $f ]] && printf '%s\0' "$f"
    done | tar -C "$ROOT" --null -T - -cf - | tar -C "$src" -xf -
    echo "deb: building apf $v in $src"
    local t0=$SECONDS
    (cd "$src" && DEB_BUILD_OPTIONS="parallel=${APF_DEB_JOBS:-2}" dpkg-buildpackage -us -uc \
        > "$OUT/build.log" 2>&1) || { tail -40 "$OUT/build.log" >&2; die "dpkg-buildpackage failed (log: $OUT/build.log)"; }
    mv "$OUT"/src/apf_* "$OUT"/src/apf-dbgsym_* "$OUT"/ 2>/dev/null || true
    echo "deb: built in $((SECONDS - t0)) s:"
    (cd "$OUT" && ls -l apf_*.deb apf-dbgsym_* apf_*.dsc 2>/dev/null | awk '{print "  " $5 "  " $9}')
    echo "deb: lintian (errors and warnings fail)"
    local changes
    changes=$(ls "$OUT"/apf_*_"$(dpkg --print-architecture)".changes)
    if ! lintian --fail-on error,warning --display-level '>=warning' --info "$changes" > "$OUT/lintian.log" 2>&1; then
        cat "$OUT/lintian.log" >&2
        die "lintian found errors or warnings ($OUT/lintian.log)"
    fi
    cat "$OUT/lintian.log"
    echo "deb: lintian clean (no error, no warning); package: $(ls "$OUT"/apf_*.deb)"
}

case ${1:-} in
    build) build ;;
    *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
