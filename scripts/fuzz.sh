#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ into build/fuzz/ (clang, ASan + UBSan, linking only
# the common/*.c files each needs), seeds their corpora from shared/fixtures/files and small
# multipart samples, and runs each for FUZZ_SECONDS (default 60). Exits non-zero when a target
# crashes, leaks, times out or runs out of memory; reproducers land in build/fuzz/artifacts/.
#
#   FUZZ_SECONDS=300 scripts/fuzz.sh            all targets, 5 minutes each
#   FUZZ_TARGETS="gcode multipart" scripts/fuzz.sh
#   APF_FIXTURES=/path/to/fixtures              (default ../shared/fixtures/files)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-"gcode 3mf xml multipart imgtype"}
FIXTURES=${APF_FIXTURES:-../shared/fixtures/files}
CC=${FUZZ_CC:-clang}
OUT=build/fuzz
CFLAGS=(-std=c17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Icommon)
LIBS=(-larchive -ljansson -lssl -lcrypto)
META=(common/meta.c common/meta_3mf.c common/meta_gcode.c common/meta_xml.c)

declare -A SRC=(
	[gcode]="tests/fuzz/fuzz_gcode.c ${META[*]}"
	[3mf]="tests/fuzz/fuzz_3mf.c ${META[*]}"
	[xml]="tests/fuzz/fuzz_xml.c common/meta_xml.c"
	[multipart]="tests/fuzz/fuzz_multipart.c common/multipart.c"
	[imgtype]="tests/fuzz/fuzz_imgtype.c common/imgtype.c"
)
declare -A MAXLEN=([gcode]=65536 [3mf]=131072 [xml]=16384 [multipart]=8192 [imgtype]=64)

mkdir -p "$OUT/artifacts"

build() {
	local t=$1
	# shellcheck disable=SC2086
	"$CC" "${CFLAGS[@]}" ${SRC[$t]} "${LIBS[@]}" -o "$OUT/fuzz_$t"
}

# Seeds: fixture heads and tails (G-code), fixtures with big entries cut down (3MF, plus the
# "name\ncontent" form the target zips itself), the XML configs, and multipart samples.
seed() {
	local s=$OUT/seeds
	rm -rf "$s"
	mkdir -p "$s/gcode" "$s/3mf" "$s/xml" "$s/multipart" "$s/imgtype"
	python3 - "$FIXTURES" "$s" <<'EOF'
import io, os, sys, zipfile
fx, out = sys.argv[1], sys.argv[2]
def w(kind, name, data):
    with open(os.path.join(out, kind, name), "wb") as f:
        f.write(data)
for name in sorted(os.listdir(fx)):
    path = os.path.join(fx, name)
    data = open(path, "rb").read()
    if name.endswith(".gcode"):
        w("gcode", name, data[:24000] + data[-24000:] if len(data) > 48000 else data)
        w("gcode", name + ".head", data[:60000])
    if not name.endswith(".3mf"):
        continue
    raw, packed = io.BytesIO(), []
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if len(body) > 12000:
                body = body[:6000] + body[-6000:]
            zout.writestr(info.filename, body)
            if info.filename.endswith((".config", ".model")):
                w("xml", name + "." + os.path.basename(info.filename), body[:16000])
            if not info.filename.endswith(".png") and len(body) < 40000:
                packed.append(info.filename.encode() + b"\n" + body)
    w("3mf", name + ".zip", b"\x00" + raw.getvalue())
    w("3mf", name + ".entries", b"\x05" + b"\n\x01\n".join(packed))
EOF
	local ct='multipart/form-data; boundary=XyZ'
	printf '%s\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.gcode"\r\nContent-Type: text/plain\r\n\r\nG28\r\n--XyZ--\r\n' "$ct" >"$s/multipart/simple"
	printf '%s\npre\r\n--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--XyZ \r\nContent-Disposition: form-data; name=file; filename="C:\\\\x\\\\b.3mf"\r\n\r\nPK\r\n--XyZZ\r\n-\r\n--XyZ--epilogue' "$ct" >"$s/multipart/two"
	printf 'multipart/form-data; boundary="a b:c"\n--a b:c\r\nContent-Disposition: form-data; name="file"; filename="e"\r\n\r\n\r\n--a b:c--' >"$s/multipart/quoted"
	printf '%s\n--XyZ\r\nContent-Disposition: form-data; name="file"\r\n\r\nx\r\n--XyZ--' "$ct" >"$s/multipart/nofile"
	printf '\377\330\377\340' >"$s/imgtype/jpeg"
	printf '\211PNG\r\n\032\n' >"$s/imgtype/png"
	printf 'GIF89a' >"$s/imgtype/gif"
	printf 'RIFF\0\0\0\0WEBPVP8 ' >"$s/imgtype/webp"
}

status=0
echo "fuzz: building into $OUT"
for t in $FUZZ_TARGETS; do
	if [ -z "${SRC[$t]:-}" ]; then
		echo "fuzz: unknown target $t" >&2
		exit 2
	fi
	build "$t" || exit 1
done
seed || exit 1
for t in $FUZZ_TARGETS; do
	corpus=$OUT/corpus/$t
	mkdir -p "$corpus"
	log=$OUT/$t.log
	echo "=== fuzz_$t for ${FUZZ_SECONDS}s (max_len ${MAXLEN[$t]})"
	"$OUT/fuzz_$t" "$corpus" "$OUT/seeds/$t" -max_total_time="$FUZZ_SECONDS" \
		-max_len="${MAXLEN[$t]}" -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$OUT/artifacts/$t-" -print_final_stats=1 >"$log" 2>&1
	rc=$?
	grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" |
		sed 's/^/    /'
	grep -E '#[0-9]+ +DONE' "$log" | tail -1 | sed 's/^/    /'
	if [ "$rc" -ne 0 ]; then
		status=1
		echo "!!! fuzz_$t failed (exit $rc); see $log and $OUT/artifacts/"
		grep -E 'ERROR: |SUMMARY: |Test unit written' "$log" | head -5 | sed 's/^/    /'
	fi
done
exit $status
