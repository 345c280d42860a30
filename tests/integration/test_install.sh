#!/usr/bin/env bash
# test_install.sh — `make install` honours PREFIX/SYSCONFDIR/UNITDIR and
# DESTDIR, installs both binaries, the sample config and the unit; the
# installed unit passes `systemd-analyze verify` and its ExecStartPre (the
# config check) passes on the installed config.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init

root=$H_TMP/root
make -s -C "$H_TOP" install BUILD="$AGG_BUILD" PREFIX="$root/usr" SYSCONFDIR="$root/etc" \
    UNITDIR="$root/lib/systemd/system" >/dev/null
for f in usr/bin/aggregatord usr/bin/aggregatorctl etc/aggregatord/aggregatord.conf \
         lib/systemd/system/aggregatord.service; do
    [ -e "$root/$f" ] || h_fail "make install did not install $f"
done
[ -x "$root/usr/bin/aggregatord" ] || h_fail "aggregatord not executable"
h_ok "make install puts binaries, config and unit under PREFIX/SYSCONFDIR/UNITDIR"

unit=$root/lib/systemd/system/aggregatord.service
grep -q "^ExecStart=$root/usr/bin/aggregatord -c $root/etc/aggregatord/aggregatord.conf$" "$unit" \
    || h_fail "unit paths not rewritten: $(grep ^ExecStart= "$unit")"
out=$(systemd-analyze verify "$unit" 2>&1 | grep -v '^/lib/systemd/system/\|^/etc/systemd/' || true)
systemd-analyze verify "$unit" >/dev/null 2>&1 || h_fail "systemd-analyze verify: $out"
[ -z "$out" ] || h_fail "systemd-analyze verify complains: $out"
h_ok "systemd-analyze verify accepts the installed unit"

for key in 'Type=notify' 'DynamicUser=yes' 'StateDirectory=aggregatord' 'ConfigurationDirectory=aggregatord' \
           'ProtectSystem=strict' 'NoNewPrivileges=yes' 'CapabilityBoundingSet=$' \
           'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallFilter=@system-service' \
           'UMask=0077' 'Restart=on-failure' 'ExecReload=.*aggregatord -n' 'ExecReload=/bin/kill -HUP \$MAINPID'; do
    grep -q "^$key" "$unit" || h_fail "unit lacks $key"
done
h_ok "unit has Type=notify, config checks and the hardening set"

# ExecStartPre as systemd would run it.
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
[ "$($pre)" = "configuration OK" ] || h_fail "ExecStartPre fails on the installed config"
h_ok "the installed config passes ExecStartPre"

# DESTDIR staging keeps the final paths in the unit.
make -s -C "$H_TOP" install BUILD="$AGG_BUILD" DESTDIR="$H_TMP/stage" PREFIX=/usr >/dev/null
[ -x "$H_TMP/stage/usr/bin/aggregatord" ] || h_fail "DESTDIR ignored"
grep -q '^ExecStart=/usr/bin/aggregatord ' "$H_TMP/stage/lib/systemd/system/aggregatord.service" \
    || h_fail "DESTDIR leaked into the unit"
h_ok "DESTDIR stages without leaking into the unit"
