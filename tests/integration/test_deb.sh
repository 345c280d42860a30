#!/usr/bin/env bash
# test_deb.sh — the Debian package, built with the Debian tools and
# inspected, never installed: `scripts/deb.sh` (what `make deb` runs:
# dpkg-buildpackage -us -uc -b on a copy of the tree) into a temp dir, then
# dpkg-deb -c/-I/-x.  Checks the version against the Makefile's VERSION; the
# files, their modes and owners (the config 0640, a conffile); the man pages
# the tree has; the maintainer scripts (the service's user before the
# config's group, both before the unit is enabled and started); the unit's
# paths; the packaged binaries (version, the packaged config passes -n,
# hardening-check); lintian (printed): no error, no warning but a missing
# man page for a binary the tree has none for yet.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
h_init

ver=$(sed -n 's/^VERSION *:= *//p' "$H_TOP/Makefile")
[ -n "$ver" ] || h_fail "no VERSION in the Makefile"
"$H_TOP/scripts/deb.sh" "$ver" "$H_TMP/deb" > "$H_TMP/deb.out" 2>&1 \
    || h_fail "the package does not build: $(tail -n 30 "$H_TMP/deb.out")"
deb=$H_TMP/deb/aggregatord_${ver}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || h_fail "no $deb: $(ls "$H_TMP/deb")"
[ "$(dpkg-deb -f "$deb" Version)" = "$ver" ] || h_fail "package version $(dpkg-deb -f "$deb" Version), Makefile $ver"
h_ok "dpkg-buildpackage builds aggregatord_${ver} (the Makefile's VERSION)"

# --- contents ---
dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }' > "$H_TMP/contents"
has() {	# PERMS OWNER PATH
    grep -qxF -- "$1 $2 ./$3" "$H_TMP/contents" || h_fail "the package lacks '$1 $2 /$3': $(grep -F "$3" "$H_TMP/contents" || echo none)"
}
has -rwxr-xr-x root/root usr/sbin/aggregatord
has -rwxr-xr-x root/root usr/bin/aggregatorctl
has -rw-r----- root/root etc/aggregatord/aggregatord.conf
has -rw-r--r-- root/root lib/systemd/system/aggregatord.service
has -rw-r--r-- root/root usr/lib/sysusers.d/aggregatord.conf
has -rw-r--r-- root/root usr/lib/tmpfiles.d/aggregatord.conf
has -rw-r--r-- root/root usr/share/doc/aggregatord/copyright
has -rw-r--r-- root/root usr/share/doc/aggregatord/changelog.gz
has -rw-r--r-- root/root usr/share/doc/aggregatord/operations.md.gz
has -rw-r--r-- root/root usr/share/doc/aggregatord/examples/aggregatord.conf
for f in "$H_TOP"/conf/examples/*.conf; do
    [ -e "$f" ] || continue
    has -rw-r--r-- root/root "usr/share/doc/aggregatord/examples/$(basename "$f")"
done
nman=0
for f in "$H_TOP"/man/*.[1-8]; do
    [ -e "$f" ] || continue
    n=$(basename "$f")
    has -rw-r--r-- root/root "usr/share/man/man${n##*.}/$n.gz"
    nman=$((nman + 1))
done
bad=$(awk '$1 !~ /^d/ && $3 !~ /^\.\/(etc\/aggregatord|lib\/systemd\/system|usr\/(s?bin|lib\/(sysusers|tmpfiles)\.d|share\/(doc\/aggregatord|man|bash-completion|lintian\/overrides)))\//' "$H_TMP/contents")
[ -z "$bad" ] || h_fail "files outside the layout: $bad"
h_ok "files: /usr/sbin/aggregatord, /usr/bin/aggregatorctl, the config 0640, unit, sysusers.d, tmpfiles.d, docs, examples, $nman man page(s)"

ctl=$H_TMP/ctl
dpkg-deb -e "$deb" "$ctl"
[ "$(cat "$ctl/conffiles")" = /etc/aggregatord/aggregatord.conf ] || h_fail "conffiles: $(cat "$ctl/conffiles")"
for s in postinst prerm postrm; do
    [ -f "$ctl/$s" ] && sh -n "$ctl/$s" || h_fail "maintainer script $s missing or broken"
done
line() { grep -n -m1 -- "$1" "$ctl/postinst" | cut -d: -f1; }
l_user=$(line '^ *systemd-sysusers .*aggregatord.conf')
l_group=$(line 'dpkg-statoverride --update --add root aggregatord 0640 "\$conf"')
l_tmp=$(line 'systemd-tmpfiles .*--create aggregatord.conf')
l_enable=$(line "deb-systemd-helper enable 'aggregatord.service'")
l_start=$(line "deb-systemd-invoke \$_dh_action 'aggregatord.service'")
[ -n "$l_user" ] && [ -n "$l_group" ] && [ -n "$l_tmp" ] && [ -n "$l_enable" ] && [ -n "$l_start" ] \
    && [ "$l_user" -lt "$l_group" ] && [ "$l_group" -lt "$l_enable" ] && [ "$l_tmp" -lt "$l_start" ] \
    || h_fail "postinst order: sysusers $l_user, statoverride $l_group, tmpfiles $l_tmp, enable $l_enable, start $l_start"
grep -q 'dpkg-statoverride --remove "\$conf"' "$ctl/postrm" || h_fail "postrm leaves the statoverride on purge"
dpkg-deb -f "$deb" Depends | grep -q 'systemd-sysusers' || h_fail "Depends: $(dpkg-deb -f "$deb" Depends)"
h_ok "conffile; postinst makes the user, gives the config its group (statoverride) and makes the state directory before the unit is enabled and started; postrm purges the override"

x=$H_TMP/x
dpkg-deb -x "$deb" "$x"
grep -qx 'ExecStart=/usr/sbin/aggregatord -c /etc/aggregatord/aggregatord.conf' "$x/lib/systemd/system/aggregatord.service" \
    || h_fail "the packaged unit: $(grep ^ExecStart= "$x/lib/systemd/system/aggregatord.service")"
[ "$("$x/usr/sbin/aggregatord" -V)" = "aggregatord $ver" ] || h_fail "aggregatord -V: $("$x/usr/sbin/aggregatord" -V)"
[ "$("$x/usr/sbin/aggregatord" -n -c "$x/etc/aggregatord/aggregatord.conf" 2>/dev/null)" = "configuration OK" ] \
    || h_fail "the packaged config does not check: $("$x/usr/sbin/aggregatord" -n -c "$x/etc/aggregatord/aggregatord.conf" 2>&1)"
# Debian 12's glibc start files carry no IBT/SHSTK note, so no binary linked
# there can show control-flow protection (docs/operations.md); the rest must.
hardening-check --nocfprotection "$x/usr/sbin/aggregatord" "$x/usr/bin/aggregatorctl" > "$H_TMP/hardening" \
    || h_fail "hardening-check: $(cat "$H_TMP/hardening")"
sed 's/^/# /' "$H_TMP/hardening"
h_ok "packaged unit and binaries: /usr/sbin path, version $ver, the config checks, hardening-check passes (PIE, stack protector, fortify, relro, bindnow)"

# --- lintian ---
lintian --pedantic -I -E --color never "$deb" "$H_TMP"/deb/*.changes > "$H_TMP/lintian" 2>&1 || true
{ grep -v '^running with root privileges' "$H_TMP/lintian" || true; } | sed 's/^/# lintian: /'	# empty: clean
allowed() {	# a missing man page is allowed only for a binary man/ has none for
    local tag=$1 f=$2
    [ "$tag" = no-manual-page ] || return 1
    ! ls "$H_TOP"/man/"$(basename "$f")".[1-8] >/dev/null 2>&1
}
while read -r level _ tag rest; do
    case $level in
        E:) h_fail "lintian error: $tag $rest" ;;
        W:) allowed "$tag" "$(sed 's/.*\[\(.*\)\]/\1/' <<< "$rest")" || h_fail "lintian warning: $tag $rest" ;;
    esac
done < "$H_TMP/lintian"
h_ok "lintian: no error, no warning unexplained"
