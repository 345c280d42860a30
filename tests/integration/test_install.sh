#!/usr/bin/env bash
# test_install.sh — `make install` staged with DESTDIR as a package build
# does, then the installed service run the way systemd runs it.
#
# The layout (docs/operations.md, "Installed layout"): binaries, config
# (0640), unit, sysusers.d and tmpfiles.d snippets, docs and examples; the
# paths in the unit follow PREFIX/SBINDIR/SYSCONFDIR and never DESTDIR.  The
# unit passes `systemd-analyze verify`, and `systemd-analyze security
# --offline=true` rates it OK or better (the table is printed).  The
# snippets, applied to a copy of the staged tree, make the user and the
# state directory.  Then, as a fresh uid/gid that owns nothing, with the
# whole file system read-only but the state directory (bwrap), against a
# real Redis: the shipped config is refused ("Permission denied", exit 78)
# until it has the service's group, as the package's postinst gives it;
# `-n` passes; the daemon starts (READY=1, /healthz), counts a line into
# Redis, reloads on SIGHUP after ExecReload's `-n`, refuses a broken file
# at `-n` with 78, and stops on SIGTERM with exit 0.  Another uid, not in
# the group, cannot read the config.  Bad command line: 64.
#
# Needs root only to switch to the fresh uid (setpriv), as systemd does;
# nothing it checks passes because of root.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { [ -f "$H_TMP/d.log" ] && { echo "--- d.log" >&2; tail -n 40 "$H_TMP/d.log" >&2; }; }; h_cleanup' EXIT

[ "$(id -u)" = 0 ] || h_fail "needs root to run the daemon as a fresh uid (setpriv), as systemd does"
command -v bwrap >/dev/null || h_fail "bwrap (bubblewrap) is missing: run scripts/deps.sh"

# --- make install, staged ---
stage=$H_TMP/stage
make -s -C "$H_TOP" install BUILD="$AGG_BUILD" DESTDIR="$stage" PREFIX=/usr > "$H_TMP/install.out"
mode() { stat -c '%a %U:%G' "$1"; }
for f in usr/sbin/aggregatord usr/bin/aggregatorctl etc/aggregatord/aggregatord.conf \
         lib/systemd/system/aggregatord.service usr/lib/sysusers.d/aggregatord.conf \
         usr/lib/tmpfiles.d/aggregatord.conf usr/share/doc/aggregatord/operations.md \
         usr/share/doc/aggregatord/examples/aggregatord.conf; do
    [ -f "$stage/$f" ] || h_fail "make install did not install /$f"
done
[ "$(mode "$stage/usr/sbin/aggregatord")" = "755 root:root" ] || h_fail "aggregatord: $(mode "$stage/usr/sbin/aggregatord")"
[ "$(mode "$stage/usr/bin/aggregatorctl")" = "755 root:root" ] || h_fail "aggregatorctl: $(mode "$stage/usr/bin/aggregatorctl")"
conf=$stage/etc/aggregatord/aggregatord.conf
[ "$(stat -c %a "$conf")" = 640 ] || h_fail "the config is mode $(stat -c %a "$conf"), want 0640"
[ "$(stat -c %a "$stage/lib/systemd/system/aggregatord.service")" = 644 ] || h_fail "unit mode"
grep -q 'systemd-sysusers creates the user aggregatord.*group aggregatord' "$H_TMP/install.out" \
    || h_fail "a staged install does not say what the target must do: $(cat "$H_TMP/install.out")"
h_ok "make install DESTDIR= PREFIX=/usr: /usr/sbin/aggregatord, /usr/bin/aggregatorctl, the config 0640, unit, sysusers.d, tmpfiles.d, docs, examples"

unit=$stage/lib/systemd/system/aggregatord.service
for key in '^ExecStart=/usr/sbin/aggregatord -c /etc/aggregatord/aggregatord.conf$' \
           '^ExecReload=/usr/sbin/aggregatord -n -c /etc/aggregatord/aggregatord.conf$' \
           '^ExecReload=/bin/kill -HUP \$MAINPID$' '^Type=notify$' '^User=aggregatord$' \
           '^Group=aggregatord$' '^StateDirectory=aggregatord$' '^StateDirectoryMode=0700$' \
           '^Restart=on-failure$' '^RestartPreventExitStatus=64 78$' '^ProtectSystem=strict$' \
           '^NoNewPrivileges=yes$' '^CapabilityBoundingSet=$' '^ProtectProc=invisible$' \
           '^ProcSubset=pid$' '^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6$' \
           '^SystemCallFilter=@system-service$' '^SystemCallFilter=~@privileged @resources$' \
           '^UMask=0077$' '^Documentation=man:aggregatord(8)'; do
    grep -q -- "$key" "$unit" || h_fail "unit lacks $key"
done
! grep -q '^DynamicUser=\|^ExecStartPre=' "$unit" || h_fail "unit still has DynamicUser= or ExecStartPre="
h_ok "unit: the static user, RestartPreventExitStatus=64 78, the sandbox and syscall filter, Documentation=man:aggregatord(8)"

make -s -C "$H_TOP" install BUILD="$AGG_BUILD" DESTDIR="$H_TMP/opt" PREFIX=/opt/agg \
    SYSCONFDIR=/opt/agg/etc > /dev/null
grep -q '^ExecStart=/opt/agg/sbin/aggregatord -c /opt/agg/etc/aggregatord/aggregatord.conf$' \
    "$H_TMP/opt/lib/systemd/system/aggregatord.service" \
    || h_fail "unit paths not rewritten: $(grep ^ExecStart= "$H_TMP/opt/lib/systemd/system/aggregatord.service")"
[ -x "$H_TMP/opt/opt/agg/sbin/aggregatord" ] && [ -f "$H_TMP/opt/opt/agg/etc/aggregatord/aggregatord.conf" ] \
    || h_fail "PREFIX/SYSCONFDIR ignored"
! grep -rq "$H_TMP" "$H_TMP/opt/lib/systemd/system/aggregatord.service" "$unit" || h_fail "DESTDIR leaked into the unit"
h_ok "PREFIX and SYSCONFDIR reach the unit's paths, DESTDIR does not"

# --- the unit as systemd reads it ---
# verify checks that ExecStart= exists: a copy pointing at the staged binary
sed "s|/usr/sbin/|$stage/usr/sbin/|g" "$unit" > "$H_TMP/aggregatord.service"
out=$(systemd-analyze verify --man=no "$H_TMP/aggregatord.service" 2>&1) || h_fail "systemd-analyze verify: $out"
out=$(grep -v '^/lib/systemd/system/\|^/etc/systemd/' <<< "$out" || true)
[ -z "$out" ] || h_fail "systemd-analyze verify complains: $out"
h_ok "systemd-analyze verify accepts the installed unit"

systemd-analyze security --offline=true "$unit" > "$H_TMP/security.txt" 2>&1 || true
sed 's/^/# /' "$H_TMP/security.txt"
level=$(sed -n 's/^→ Overall exposure level for aggregatord.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' "$H_TMP/security.txt")
case $level in
    *" SAFE" | *" OK") ;;
    *) h_fail "systemd-analyze security: '$level', want OK or better" ;;
esac
h_ok "systemd-analyze security --offline=true: exposure $level"

# --- the snippets, applied to a copy of the staged tree ---
sysroot=$H_TMP/sysroot
cp -a "$stage" "$sysroot"
systemd-sysusers --root="$sysroot" aggregatord.conf > "$H_TMP/sysusers.out" 2>&1 \
    || h_fail "systemd-sysusers: $(cat "$H_TMP/sysusers.out")"
IFS=: read -r _ _ suid sgid _ shome sshell < <(grep '^aggregatord:' "$sysroot/etc/passwd") \
    || h_fail "sysusers made no user aggregatord"
[ "$shome" = /var/lib/aggregatord ] && [ "$sshell" = /usr/sbin/nologin ] && [ "$suid" -lt 1000 ] \
    && grep -q "^aggregatord:x:$sgid:$" "$sysroot/etc/group" \
    || h_fail "sysusers: $(grep aggregatord "$sysroot/etc/passwd" "$sysroot/etc/group")"
systemd-tmpfiles --root="$sysroot" --create aggregatord.conf || h_fail "systemd-tmpfiles --create failed"
[ "$(stat -c '%a %u:%g' "$sysroot/var/lib/aggregatord")" = "700 $suid:$sgid" ] \
    || h_fail "tmpfiles: /var/lib/aggregatord is $(stat -c '%a %u:%g' "$sysroot/var/lib/aggregatord")"
h_ok "sysusers.d makes the system user and group aggregatord (no login); tmpfiles.d its /var/lib/aggregatord 0700"

# --- as systemd runs it: a fresh uid/gid, read-only but the state directory ---
U=$(agg_free_id) || h_fail "no free uid"
OTHER=$(agg_free_id) || h_fail "no free uid"
[ "$OTHER" != "$U" ] || OTHER=$((U + 1))
chmod 0711 "$H_TMP"	# as / and /etc: the uid may pass, not list
state=$H_TMP/state
mkdir -m 0700 "$state"
chown "$U:$U" "$state"	# what StateDirectory= does
as() {	# UID CMD...: as systemd would run it, with nothing writable but $state
    local id=$1
    shift
    setpriv --reuid="$id" --regid="$id" --clear-groups \
        bwrap --ro-bind / / --dev /dev --bind "$state" "$state" --die-with-parent -- "$@"
}
aggd=$stage/usr/sbin/aggregatord

rc=0; as "$U" "$aggd" -n -c "$conf" > "$H_TMP/n.out" 2>&1 || rc=$?
[ $rc = 78 ] && grep -q 'Permission denied' "$H_TMP/n.out" \
    || h_fail "the uid read a root:root 0640 config (exit $rc): $(cat "$H_TMP/n.out")"
chgrp "$U" "$conf"	# what the postinst's dpkg-statoverride does, with the group aggregatord
out=$(as "$U" "$aggd" -n -c "$conf" 2>/dev/null) || h_fail "-n as the service's uid: $(as "$U" "$aggd" -n -c "$conf" 2>&1)"
[ "$out" = "configuration OK" ] || h_fail "-n said: $out"
rc=0; as "$OTHER" "$aggd" -n -c "$conf" > "$H_TMP/n.out" 2>&1 || rc=$?
[ $rc = 78 ] && grep -q 'Permission denied' "$H_TMP/n.out" || h_fail "another uid read the config (exit $rc)"
mkdir "$H_TMP/own" && chown "$U:$U" "$H_TMP/own"	# the uid's own, outside the state directory
setpriv --reuid="$U" --regid="$U" --clear-groups touch "$H_TMP/own/a" || h_fail "the uid cannot write its own directory"
! as "$U" touch "$H_TMP/own/b" 2>/dev/null && as "$U" touch "$state/probe" \
    || h_fail "the sandbox is not read-only but for the state directory"
rm -f "$state/probe"
h_ok "in the read-only sandbox, the shipped config: refused to the uid as root:root (Permission denied, exit 78), OK with the service's group, refused to another uid"

rc=0; as "$U" "$aggd" --no-such-option > /dev/null 2>&1 || rc=$?
[ $rc = 64 ] || h_fail "a bad command line exited $rc, want 64 (EX_USAGE)"
rc=0; as "$U" "$aggd" -c "$conf" extra-argument > /dev/null 2>&1 || rc=$?
[ $rc = 64 ] || h_fail "an extra argument exited $rc, want 64 (EX_USAGE)"
h_ok "a bad command line exits 64 (EX_USAGE)"

h_start_redis r
h_start_notify n
chmod 0777 "$n_SOCKET"	# systemd's socket takes any sender of the unit
hport=$(h_free_port tcp)
uport=$(h_free_port udp)
token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
write_conf() {	# LOG_LEVEL [extra text]; > keeps the file's mode and group
    cat > "$conf" <<CONF
node = { name = "installed"; state_dir = "$state"; };
log = { level = "$1"; };
http = { listen = "127.0.0.1:$hport"; token = "$token"; };
redis = { port = $r_PORT; };
totalizer = {
  flush_ms = 200; threads = 1; allow = [ "127.0.0.1/32" ];
  rules = ( { prefix = "inst"; listen = "127.0.0.1:$uport"; match = "v=(\\\\w+)";
              matched = "\$1"; source = "s"; } );
};
${2:-}
CONF
}
write_conf info
[ "$(stat -c '%a %g' "$conf")" = "640 $U" ] || h_fail "rewriting the config changed its mode"
export d_URL=http://127.0.0.1:$hport AGG_TOKEN=$token
h_spawn d "$H_TMP/d.log" env NOTIFY_SOCKET="$n_SOCKET" setpriv --reuid="$U" --regid="$U" --clear-groups \
    bwrap --ro-bind / / --dev /dev --bind "$state" "$state" --die-with-parent -- "$aggd" -c "$conf"
h_wait_until 15 grep -qx 'READY=1' "$n_OUT" || h_fail "no READY=1 from the sandboxed daemon"
h_wait_until 5 agg_healthy d || h_fail "no /healthz"
child() { pgrep -P "$(h_pid d)" -x aggregatord; }
h_wait_until 5 child >/dev/null || h_fail "cannot find the daemon under bwrap"
dpid=$(child)
[ "$(stat -c %u "/proc/$dpid")" = "$U" ] || h_fail "the daemon does not run as uid $U"
h_ok "the daemon starts as the fresh uid in the read-only sandbox: READY=1, /healthz"

printf 'v=abc\nv=abc\n' > "/dev/udp/127.0.0.1/$uport"
count() { redis-cli -p "$r_PORT" --scan --pattern 'inst;abc;s;*' | xargs -r redis-cli -p "$r_PORT" MGET | awk '{ s += $1 } END { print s + 0 }'; }
h_wait_until 10 sh -c "[ \"\$(redis-cli -p $r_PORT --scan --pattern 'inst;abc;s;*' | xargs -r redis-cli -p $r_PORT MGET | awk '{ s += \$1 } END { print s + 0 }')\" = 2 ]" \
    || h_fail "the lines did not reach Redis: $(count)"
h_ok "it counts UDP lines into Redis"

# ExecReload=: `aggregatord -n` as the service, then SIGHUP
write_conf debug
as "$U" "$aggd" -n -c "$conf" > /dev/null 2>&1 || h_fail "ExecReload's -n refused a good file"
kill -HUP "$dpid"
h_wait_until 10 agg_metric_is d 'aggregatord_config_reloads_total{result="ok"}' 1 \
    || h_fail "no reload: $(agg_metric d 'aggregatord_config_reloads_total{result="ok"}')"
write_conf debug 'colour = "blue";'
rc=0; as "$U" "$aggd" -n -c "$conf" > "$H_TMP/n.out" 2>&1 || rc=$?
[ $rc = 78 ] || h_fail "ExecReload's -n on a broken file exited $rc, want 78: $(cat "$H_TMP/n.out")"
agg_healthy d || h_fail "the daemon did not survive a refused reload"
h_ok "reload as systemd does it: -n then SIGHUP applied; a broken file stops at -n with 78"

kill -TERM "$dpid"
h_wait_exit d 20 || h_fail "the daemon did not stop on SIGTERM"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "SIGTERM: exit $H_EXIT_STATUS"
grep -qx 'STOPPING=1' "$n_OUT" || h_fail "no STOPPING=1"
agg_log_has d 'stopped' || h_fail "no 'stopped' in the log"
h_ok "SIGTERM: STOPPING=1, a clean stop, exit 0"

write_conf info 'colour = "blue";'
rc=0; as "$U" "$aggd" -c "$conf" > "$H_TMP/bad.out" 2>&1 || rc=$?
[ $rc = 78 ] || h_fail "the daemon on a broken file exited $rc, want 78 (RestartPreventExitStatus)"
h_ok "the daemon itself exits 78 on a config that does not check"
