#!/usr/bin/env bash
# Package lifecycle test (docs/packaging.md, `make deb-test`; not part of `make test`): the .deb
# of build/deb/ on a fresh Debian bookworm (a debootstrapped minbase chroot under build/deb-test,
# its tarball kept there for the next run; the mirror is the one of this host's apt sources):
#   its dependencies, a snapshot of the file tree; install; what postinst made (user, state,
#   secrets, modes, conffiles, units not enabled); the programs run from it: --help of each,
#   `apf-admin migrate` with the defaults (/etc/apf/apf.conf, /usr/share/apf/sql) against a
#   MariaDB of this host whose socket is the chroot's /run/mysqld/mysqld.sock, apf-fcgi as user
#   apf answering FastCGI requests (401 without a key, 200 with one made by apf-admin);
#   upgrade over itself (the same .deb again, then a repacked higher version): secrets, data,
#   the admin's conffile edit and the schema survive; `apt-get purge`: what the package made is
#   gone, the tree equals the snapshot (the apf user and group stay: docs/packaging.md).
# Needs root. Prints "deb lifecycle: N passed, N failed (S s)" last; exit 0 only when clean.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
W=$ROOT/build/deb-test
C=$W/root
BASE=$W/bookworm-minbase.tar
T0=$SECONDS
passed=0
failed=0
ok()  { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
step() { printf '%5ds %s\n' $((SECONDS - T0)) "$*"; }
summary() { echo "deb lifecycle: $passed passed, $failed failed ($((SECONDS - T0)) s)"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
in_c() { chroot "$C" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

[[ $(id -u) == 0 ]] || { bad "not root (chroot, mounts)"; summary; exit 1; }
for t in debootstrap dpkg-deb mariadbd mariadb-install-db cgi-fcgi; do
    command -v "$t" >/dev/null || { bad "missing $t: run scripts/deps.sh"; summary; exit 1; }
done
DEB=$(ls "$ROOT"/build/deb/apf_*_"$(dpkg --print-architecture)".deb 2>/dev/null | head -1)
[[ -s $DEB ]] || { bad "no package in build/deb: make deb"; summary; exit 1; }
VERSION=$(dpkg-deb -f "$DEB" Version)

MYSQLD_PID=
DONE=0
cleanup() {
    ((DONE)) || bad "stopped before the end (see above)"
    [[ -n $MYSQLD_PID ]] && kill -TERM "$MYSQLD_PID" 2>/dev/null && wait "$MYSQLD_PID" 2>/dev/null
    [[ -n ${FCGI_PID:-} ]] && kill -TERM "$FCGI_PID" 2>/dev/null && wait "$FCGI_PID" 2>/dev/null
    local m
    for m in "$C/dev/pts" "$C/dev" "$C/proc"; do mountpoint -q "$m" && umount -l "$m"; done
    if grep -q " $C/" /proc/mounts; then bad "mounts left: $(grep " $C/" /proc/mounts)"; fi
    rm -rf "$C" "$W/mysql" "$W/repack"
    summary
    ((failed == 0)) || exit 1
    exit 0
}
trap cleanup EXIT
trap 'bad "interrupted"; exit 1' INT TERM HUP

# ---------------------------------------------------------------------------- fresh bookworm
mkdir -p "$W"
if [[ ! -s $BASE ]]; then
    mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
    [[ -n $mirror ]] || mirror=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
    [[ -n $mirror ]] || { bad "no Debian mirror in this host's apt sources"; exit 1; }
    step "debootstrap --variant=minbase bookworm (once; kept as $BASE)"
    rm -rf "$W/base"
    if ! debootstrap --variant=minbase bookworm "$W/base" "$mirror" > "$W/debootstrap.log" 2>&1; then
        bad "debootstrap: $(tail -5 "$W/debootstrap.log")"; rm -rf "$W/base"; exit 1
    fi
    tar -C "$W/base" -cf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
    rm -rf "$W/base"
fi
rm -rf "$C"
mkdir -p "$C"
tar -C "$C" -xf "$BASE" || { bad "cannot unpack $BASE"; exit 1; }
ok "fresh bookworm chroot in $C ($(du -sxm "$C" | cut -f1) MB)"
mount -t proc proc "$C/proc" && mount --bind /dev "$C/dev" && mount --bind /dev/pts "$C/dev/pts" \
    || { bad "mounts"; exit 1; }
cp /etc/resolv.conf "$C/etc/resolv.conf"
# this host's apt sources (updates and security too: the package was built against them)
rm -f "$C/etc/apt/sources.list"
cp -a /etc/apt/sources.list* "$C/etc/apt/" 2>/dev/null
printf '#!/bin/sh\nexit 101\n' > "$C/usr/sbin/policy-rc.d" && chmod 755 "$C/usr/sbin/policy-rc.d"

step "apt-get update; the package's dependencies"
in_c apt-get update > "$W/apt.log" 2>&1 || { bad "apt-get update: $(tail -3 "$W/apt.log")"; exit 1; }
deps=$(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/ //g' | grep -v '^$' | tr '\n' ' ')
# shellcheck disable=SC2086
in_c apt-get install -y --no-install-recommends $deps >> "$W/apt.log" 2>&1 \
    && ok "dependencies installed: $deps" || { bad "dependencies: $(tail -3 "$W/apt.log")"; exit 1; }
rm -f "$C/usr/sbin/policy-rc.d"
snapshot() {  # every path of the chroot with type, mode and owner, less the package manager's
              # state, logs, temporary folders and adduser's backups of passwd/group
    (cd "$C" && find . -xdev \( -path ./var/lib/dpkg -o -path ./var/lib/apt -o -path ./var/cache \
        -o -path ./var/log -o -path ./tmp -o -path ./run -o -path ./proc -o -path ./dev \
        -o -path ./etc/passwd- -o -path ./etc/group- -o -path ./etc/shadow- -o -path ./etc/gshadow- \) -prune \
        -o -printf '%p %y %m %u:%g\n' | sort)
}
snapshot > "$W/before.txt"
cp "$C/etc/passwd" "$W/passwd.before"; cp "$C/etc/group" "$W/group.before"

# -------------------------------------------------------------------------------- install
cp "$DEB" "$C/tmp/apf.deb"
step "install $(basename "$DEB") ($(stat -c %s "$DEB") bytes)"
t=$SECONDS
in_c apt-get install -y --no-install-recommends /tmp/apf.deb > "$W/install.log" 2>&1 \
    && ok "apt-get install ./$(basename "$DEB") ($((SECONDS - t)) s)" || { bad "install: $(tail -5 "$W/install.log")"; exit 1; }
[[ $(in_c dpkg-query -W -f='${db:Status-Abbrev} ${Version}' apf) == "ii  $VERSION" ]] && ok "dpkg: apf $VERSION installed" \
    || bad "dpkg status: $(in_c dpkg-query -W -f='${db:Status-Abbrev} ${Version}' apf)"
conff=$(in_c dpkg-query -W -f='${Conffiles}' apf)
for f in /etc/apf/apf.conf /etc/nginx/sites-available/apf; do
    grep -q " $f " <<<"$conff" && ok "conffile $f" || bad "not a conffile: $f"
done
pw=$(in_c getent passwd apf)
IFS=: read -r _ _ APF_UID APF_GID _ home shell <<<"$pw"
[[ -n $APF_UID && $APF_UID -lt 1000 && $home == /var/lib/apf && $shell == */nologin ]] \
    && ok "system user apf ($APF_UID, home $home, shell $shell)" || bad "user apf: '$pw'"
WWW_GID=$(in_c getent group www-data | cut -d: -f3)
mode() { in_c stat -c '%a %U:%G' "$1" 2>&1; }
[[ $(mode /var/lib/apf) == "750 apf:apf" && -e $C/var/lib/apf/.made-by-apf-package ]] && ok "/var/lib/apf 750 apf:apf, made by the package" \
    || bad "/var/lib/apf: $(mode /var/lib/apf)"
[[ $(mode /var/lib/apf/files) == "750 apf:apf" ]] && ok "/var/lib/apf/files 750 apf:apf" || bad "/var/lib/apf/files: $(mode /var/lib/apf/files)"
[[ $(mode /etc/apf/apf.conf) == "640 root:apf" ]] && ok "/etc/apf/apf.conf 640 root:apf (statoverride)" || bad "apf.conf: $(mode /etc/apf/apf.conf)"
[[ $(mode /etc/apf/secrets.conf) == "640 root:apf" && $(grep -c '^[a-z_]* = [0-9a-f]\{32,64\}$' "$C/etc/apf/secrets.conf") == 5 ]] \
    && ok "/etc/apf/secrets.conf 640 root:apf, 5 generated secrets" || bad "secrets.conf: $(mode /etc/apf/secrets.conf)"
grep -q '^ExecStart=/usr/bin/apf-fcgi ' "$C/lib/systemd/system/apf-fcgi.service" && ok "apf-fcgi.service: ExecStart=/usr/bin/apf-fcgi" \
    || bad "apf-fcgi.service ExecStart: $(grep ExecStart "$C/lib/systemd/system/apf-fcgi.service" 2>&1)"
en=$(find "$C/etc/systemd/system" -name 'apf*' 2>/dev/null)
[[ -z $en ]] && ok "units installed, none enabled" || bad "enabled units: $en"
for p in apf-admin apf-hubsim; do
    out=$(in_c "$p" --help 2>&1) && [[ $out == *usage* ]] && ok "$p --help" || bad "$p --help: ${out:0:200}"
done
for p in apf-fcgi apf-worker; do
    out=$(in_c "$p" --bad-option 2>&1); [[ $? == 2 && $out == "usage: $p"* ]] && ok "$p runs (usage on a bad option)" || bad "$p: ${out:0:200}"
done

# ---------------------------------------------------------------- a database, migrations, fcgi
step "MariaDB of this host on the chroot's /run/mysqld/mysqld.sock"
M=$W/mysql
rm -rf "$M"; mkdir -p "$M" "$C/run/mysqld"
SOCK=$C/run/mysqld/mysqld.sock
mariadb-install-db --no-defaults --user=root --datadir="$M/data" --auth-root-authentication-method=socket > "$M/install.log" 2>&1 \
    || { bad "mariadb-install-db: $(tail -3 "$M/install.log")"; exit 1; }
mariadbd --no-defaults --user=root --datadir="$M/data" --socket="$SOCK" --skip-networking \
    --pid-file="$M/pid" --log-error="$M/error.log" --innodb-buffer-pool-size=64M > "$M/out.log" 2>&1 &
MYSQLD_PID=$!
for ((i = 0; i < 300; i++)); do mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1 && break; sleep 0.1; done
sq() { mariadb --socket="$SOCK" -N -B "$@"; }
declare -A SEC=()
while read -r k eq v; do [[ $k =~ ^[a-z_]+$ && $eq == = ]] && SEC[$k]=$v; done < "$C/etc/apf/secrets.conf"
# as the docs say: the two users, with the passwords the package generated
sq -e "CREATE DATABASE apf CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
       CREATE USER 'apf_migrate'@'localhost' IDENTIFIED BY '${SEC[db_migrate_password]}'; GRANT ALL ON apf.* TO 'apf_migrate'@'localhost';
       CREATE USER 'apf'@'localhost' IDENTIFIED BY '${SEC[db_password]}';
       GRANT SELECT, INSERT, UPDATE, DELETE ON apf.* TO 'apf'@'localhost';" \
    && ok "MariaDB up; database apf, users apf and apf_migrate with the generated passwords" || { bad "MariaDB: $(tail -3 "$M/error.log")"; exit 1; }
nsql=$(ls "$C"/usr/share/apf/sql/*.sql | wc -l)
out=$(in_c apf-admin migrate --json 2>&1)
[[ $(jq '.applied | length' <<<"$out" 2>/dev/null) == "$nsql" && $nsql -gt 0 ]] \
    && ok "apf-admin migrate (default /etc/apf/apf.conf, sql_dir /usr/share/apf/sql): $nsql applied" || bad "migrate: ${out:0:300}"
AID=$(in_c apf-admin account create --name "deb test" --json | jq -r '.id // empty')
KEY=$(in_c apf-admin key create --account "$AID" --name t --scopes read --json | jq -r '.key // empty')
[[ $KEY == apf_live_* ]] && ok "apf-admin account and key" || bad "apf-admin key create: account '$AID'"

install -d -o "$APF_UID" -g "$APF_GID" -m 0755 "$C/run/apf"   # RuntimeDirectory=apf
chroot --userspec="$APF_UID:$APF_GID" --groups="$APF_GID,$WWW_GID" "$C" \
    env -i PATH=/usr/bin:/bin /usr/bin/apf-fcgi --conf /etc/apf/apf.conf > "$W/fcgi.log" 2>&1 &
FCGI_PID=$!
for ((i = 0; i < 200; i++)); do [[ -S $C/run/apf/apf-fcgi.sock ]] && break; sleep 0.1; done
fcgi() {  # fcgi [AUTH]: GET /v1/printers over the socket; prints the Status line (200 when none)
    local out
    out=$(env -i REQUEST_METHOD=GET REQUEST_URI=/v1/printers SCRIPT_NAME=/v1/printers REMOTE_ADDR=127.0.0.1 \
        ${1:+HTTP_AUTHORIZATION="Bearer $1"} cgi-fcgi -bind -connect "$C/run/apf/apf-fcgi.sock" 2>&1)
    grep -m1 -o '^Status: [0-9]*' <<<"$out" || echo "Status: 200"
}
if [[ -S $C/run/apf/apf-fcgi.sock ]]; then
    [[ $(stat -c '%a %u:%g' "$C/run/apf/apf-fcgi.sock") == "660 $APF_UID:$WWW_GID" ]] \
        && ok "apf-fcgi as user apf: socket 0660 apf:www-data" \
        || bad "apf-fcgi socket: $(stat -c '%a %u:%g' "$C/run/apf/apf-fcgi.sock") (want 660 $APF_UID:$WWW_GID)"
    [[ $(fcgi) == "Status: 401" ]] && ok "FastCGI GET /v1/printers without a key: 401" || bad "without a key: $(fcgi)"
    [[ $(fcgi "$KEY") == "Status: 200" ]] && ok "FastCGI GET /v1/printers with the key: 200" || bad "with the key: $(fcgi "$KEY")"
else
    bad "apf-fcgi did not start: $(tail -5 "$W/fcgi.log")"
fi
kill -TERM "$FCGI_PID" 2>/dev/null; wait "$FCGI_PID" 2>/dev/null; FCGI_PID=

# -------------------------------------------------------------------------------- upgrades
echo "keep me" > "$C/var/lib/apf/files/data.txt"
echo "# edited by the admin" >> "$C/etc/apf/apf.conf"
sec_sum=$(md5sum < "$C/etc/apf/secrets.conf")
survives() {  # survives WHAT: the state of before the upgrade is still there
    [[ $(md5sum < "$C/etc/apf/secrets.conf") == "$sec_sum" ]] && ok "$1: secrets.conf unchanged" || bad "$1: secrets.conf changed"
    [[ $(cat "$C/var/lib/apf/files/data.txt" 2>&1) == "keep me" ]] && ok "$1: data in /var/lib/apf kept" || bad "$1: data lost"
    tail -1 "$C/etc/apf/apf.conf" | grep -q 'edited by the admin' && ok "$1: the admin's apf.conf edit kept" || bad "$1: apf.conf edit lost"
    [[ $(mode /etc/apf/apf.conf) == "640 root:apf" ]] && ok "$1: apf.conf still 640 root:apf" || bad "$1: apf.conf $(mode /etc/apf/apf.conf)"
    local o; o=$(in_c apf-admin migrate --json 2>&1)
    [[ $(jq '.applied | length' <<<"$o" 2>/dev/null) == 0 ]] && ok "$1: schema in place (migrate: nothing to apply)" || bad "$1: migrate ${o:0:200}"
}
step "upgrade: the same package again"
in_c apt-get install -y --reinstall /tmp/apf.deb > "$W/upgrade.log" 2>&1 && ok "apt-get install --reinstall (same version)" \
    || bad "reinstall: $(tail -5 "$W/upgrade.log")"
survives "reinstall"
NEXT=$VERSION+upgrade1
step "upgrade: $VERSION -> $NEXT (the package repacked with a higher version)"
rm -rf "$W/repack"
dpkg-deb -R "$DEB" "$W/repack" && sed -i "s/^Version: .*/Version: $NEXT/" "$W/repack/DEBIAN/control" \
    && dpkg-deb --root-owner-group -b "$W/repack" "$C/tmp/apf-next.deb" > /dev/null || bad "repack"
in_c apt-get install -y /tmp/apf-next.deb >> "$W/upgrade.log" 2>&1 && ok "apt-get install: upgrade to $NEXT" \
    || bad "upgrade: $(tail -5 "$W/upgrade.log")"
[[ $(in_c dpkg-query -W -f='${Version}' apf) == "$NEXT" ]] && ok "dpkg: apf $NEXT" || bad "version after the upgrade"
survives "upgrade"

# ---------------------------------------------------------------------------------- purge
kill -TERM "$MYSQLD_PID" 2>/dev/null; wait "$MYSQLD_PID" 2>/dev/null; MYSQLD_PID=
rm -rf "$C/run/mysqld" "$C/run/apf"
step "apt-get purge apf"
in_c apt-get purge -y apf > "$W/purge.log" 2>&1 && ok "apt-get purge apf" || bad "purge: $(tail -5 "$W/purge.log")"
[[ -z $(in_c dpkg-query -W -f='${db:Status-Abbrev}' apf 2>/dev/null | tr -d ' ') ]] && ok "dpkg: apf gone" \
    || bad "dpkg still knows apf: $(in_c dpkg-query -W -f='${db:Status-Abbrev}' apf)"
for p in /etc/apf /var/lib/apf /var/log/apf /usr/share/apf /usr/lib/apf /usr/share/doc/apf /etc/nginx \
         /lib/systemd/system/apf-fcgi.service /usr/bin/apf-admin; do
    [[ ! -e $C$p ]] && ok "purged: $p" || bad "left after purge: $p"
done
[[ -z $(in_c dpkg-statoverride --list | grep apf) ]] && ok "no statoverride left" || bad "statoverride left"
snapshot > "$W/after.txt"
d=$(diff "$W/before.txt" "$W/after.txt")
[[ -z $d ]] && ok "the file tree equals the one before the install ($(wc -l < "$W/after.txt") paths)" || bad "file tree differs: $(head -20 <<<"$d")"
d=$(diff "$W/passwd.before" "$C/etc/passwd" | grep '^[<>]'; diff "$W/group.before" "$C/etc/group" | grep '^[<>]')
[[ $(grep -c . <<<"$d") == 2 && $(grep -c '^> apf:' <<<"$d") == 2 ]] && ok "only the apf user and group stay (kept on purge, by choice)" \
    || bad "passwd/group changes: $d"
DONE=1
