#!/usr/bin/env bash
# test_fault_rollup_write.sh — a location that cannot write its account
# files, and a master that must not take its hour before it recovers.  A
# real InfluxDB holds hour H (three hours ago) for two locations; loc-b's
# state_dir is a 256 KiB tmpfs.  The oracle: each VM's hour worked out by
# hand from the samples loaded below (not by the code under test).
#   1. loc-b rolls H with --once inside bwrap, one part of usage/ read-only
#      at a time: its account directory (nothing written, no temp file), the
#      index directory (the files, exact, but no index and no done marker),
#      the done directory (files and index, no done marker): each run exits
#      1 naming what it could not write.
#   2. A sample arrives late at loc-b (a VM more in H); loc-b runs as a
#      daemon on its tmpfs filled up, so it fails H (counted, backing off
#      10 s, then 20 s after a second failure).
#      Its listing of H says "complete": false (the index of step 1, no done
#      marker).  The master (daemon, retry_s 1) must not take that copy:
#      it merges H from loc-a alone, incomplete (before, it kept loc-b's
#      files of step 1 as done and never asked again: the late VM was lost).
#   3. Space freed: loc-b's back-off ends, it rolls H (late VM included),
#      and the master merges H complete: every VM of both locations exactly
#      once, and loc-b's kept copy equals loc-b's own files.
#   4. The master rebuilds H (--once) under bwrap with one of its own
#      directories read-only: a kept copy's index or done marker, the
#      merged hour's index, done marker or merge record.  Each run exits 1
#      naming it, leaves no temp file and the merged hour exact.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
MNT=
cleanup() {
    local rc=$1
    [ "$rc" -eq 0 ] || { for n in la lb m; do agg_dump_log $n; done; cat "$H_TMP"/once*.log >&2 2>/dev/null || true; }
    [ -z "$MNT" ] || umount -l "$MNT" 2>/dev/null || true
    h_cleanup
}
trap 'cleanup $?' EXIT
CLI=$H_TOP/$AGG_BUILD/usage_cli
command -v bwrap > /dev/null || h_fail "bwrap is needed (bubblewrap)"

h_start_influxdb i
for db in usage_a usage_b; do h_influx i "CREATE DATABASE $db" > /dev/null; done
now=$(date +%s)
H=$(( now / 3600 * 3600 - 3 * 3600 ))
HT=$(date -u -d "@$H" +%Y-%m-%dT%H)
HP=$(date -u -d "@$H" +%Y/%m/%d/%H)
HK=$(date -u -d "@$H" +%Y%m%d%H)
s() {	# ACCOUNT CS VM MEM DISK CPU IO T: one sample line
    echo "vm_usage,account=$1,cloudspace=$2,vm=$3 mem_mib=$4,disk_gib=$5,cpu_seconds=$6,io_read=$7,io_write=$7,net_tx_bytes=$7,net_rx_bytes=$7 $8"
}
{ s acme cs1 vm1 10 1 0 0 $((H + 60)); s acme cs1 vm1 30 1 3600 4 $((H + 3599)); } | h_influx_write i usage_a
{ s acme cs9 vm9 1024 100 500 1 $((H + 60)); s acme cs9 vm9 2048 100 800 2 $((H + 120))
  s gamma cs4 vm4 64 5 7 1 $((H + 600)); } | h_influx_write i usage_b
# the hour of each VM from its samples: mean of mem, max of disk, the
# counters' increases inside the hour, the number of samples
VM1='location=loc-a cloudspace=cs1 vm=vm1 mem_mib_mean=20 disk_gib_max=1 cpu_seconds=3600 io_read=4 io_write=4 net_tx_bytes=4 net_rx_bytes=4 samples=2'
VM9='location=loc-b cloudspace=cs9 vm=vm9 mem_mib_mean=1536 disk_gib_max=100 cpu_seconds=300 io_read=1 io_write=1 net_tx_bytes=1 net_rx_bytes=1 samples=2'
VM4='location=loc-b cloudspace=cs4 vm=vm4 mem_mib_mean=64 disk_gib_max=5 cpu_seconds=0 io_read=0 io_write=0 net_tx_bytes=0 net_rx_bytes=0 samples=1'
VM8='location=loc-b cloudspace=cs8 vm=vm8 mem_mib_mean=32 disk_gib_max=2 cpu_seconds=0 io_read=0 io_write=0 net_tx_bytes=0 net_rx_bytes=0 samples=1'

token=loc-secret
export AGG_TOKEN=$token
declare -A HP_
MNT=$H_TMP/state-lb
mkdir -p "$MNT"
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$MNT" || h_fail "cannot mount a tmpfs (the test needs root)"
U=$MNT/usage
loc_conf() {	# NAME LOC DB
    HP_[$1]=$(h_free_port tcp)
    cat > "$H_TMP/$1.conf" <<CONF
node = { name = "$1"; state_dir = "$H_TMP/state-$1"; };
http = { listen = "127.0.0.1:${HP_[$1]}"; token = "$token"; };
rollup = { role = "location"; location = "$2"; catch_up_hours = 3; delay = 0; at_minute = 0;
  influxdb = { url = "$i_URL"; db = "$3"; timeout = 10; }; };
CONF
}
loc_conf la loc-a usage_a
loc_conf lb loc-b usage_b
HP_[m]=$(h_free_port tcp)
cat > "$H_TMP/m.conf" <<CONF
node = { name = "m"; state_dir = "$H_TMP/state-m"; };
http = { listen = "127.0.0.1:${HP_[m]}"; };
rollup = { role = "master"; retry_s = 1; late_hours = 3; at_minute = 0; delay = 0;
  locations = ( { name = "loc-a"; url = "http://127.0.0.1:${HP_[la]}"; token = "$token"; },
                { name = "loc-b"; url = "http://127.0.0.1:${HP_[lb]}"; token = "$token"; } ); };
CONF
show() { "$CLI" decode "$1" | sed -n 's/^vm\[[0-9]*\]: //p' | sort; }
same() {	# FILE LINE...: FILE's VMs are exactly LINEs
    local f=$1
    shift
    [ -f "$f" ] && diff <(show "$f") <(printf '%s\n' "$@" | sort) >&2
}
temps() { find "$U" -name '*.tmp.*' | head -3; }

# --- 1. loc-b's --once with one part of usage/ read-only ---
n_once=0
ro_once() {	# DIR: loc-b rolls H with DIR read-only; must fail
    n_once=$((n_once + 1))
    mkdir -p "$1"
    if bwrap --dev-bind / / --ro-bind "$1" "$1" "$AGGD" -c "$H_TMP/lb.conf" --once rollup --hour "$HT" \
        > "$H_TMP/once$n_once.log" 2>&1; then
        h_fail "loc-b's --once succeeded with $1 read-only"
    fi
    grep -q "$1" "$H_TMP/once$n_once.log" || h_fail "the failure does not name $1: $(cat "$H_TMP/once$n_once.log")"
}
ro_once "$U/acme"
[ -z "$(find "$U" -type f)" ] || h_fail "files written with acme's directory read-only: $(find "$U" -type f)"
ro_once "$U/.index"
same "$U/acme/$HP.bin" "$VM9" && same "$U/gamma/$HP.bin" "$VM4" || h_fail "loc-b's files with the index read-only"
[ ! -e "$U/.index/$HK" ] && [ ! -e "$U/.done/$HK" ] || h_fail "an index or done marker with the index directory read-only"
ro_once "$U/.done"
[ "$(cat "$U/.index/$HK")" = "$(printf 'acme\ngamma')" ] || h_fail "loc-b's index: $(cat "$U/.index/$HK")"
[ ! -e "$U/.done/$HK" ] || h_fail "a done marker with the done directory read-only"
[ -z "$(temps)" ] || h_fail "temp files left: $(temps)"
h_ok "a location that cannot write its account directory, index or done marker: exit 1 naming it, what it wrote is exact, never marked done, no temp file"

# --- 2. late data; loc-b's disk full; the master must wait for loc-b ---
s acme cs8 vm8 32 2 0 0 $((H + 900)) | h_influx_write i usage_b
"$AGGD" -c "$H_TMP/la.conf" --once rollup --hour "$HT" > "$H_TMP/once-la.log" 2>&1 || h_fail "loc-a's --once failed"
dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
agg_start la "$H_TMP/la.conf"
agg_start lb "$H_TMP/lb.conf"
h_wait_until 10 agg_healthy la && h_wait_until 10 agg_healthy lb || h_fail "the locations did not start"
h_wait_until 20 agg_log_has lb "retrying in" || h_fail "loc-b did not fail H on a full disk"
agg_log_has lb "No space left" || h_fail "loc-b's failure is not the full disk: $(grep rollup "$H_TMP/lb.log" | tail -3)"
agg_log_has lb "retrying in 10 s" || h_fail "loc-b's first back-off is not 10 s"
# still full when the back-off ends: the second failure doubles it
h_wait_until 30 eval '[ "$(agg_metric lb aggregatord_rollup_errors_total)" -ge 2 ]' || h_fail "loc-b's failures not counted"
agg_log_has lb "retrying in 20 s" || h_fail "loc-b's second back-off is not 20 s"
agg_get lb "/v1/usage/$HP" | grep -q '"complete":false' || h_fail "loc-b's listing of H: $(agg_get lb "/v1/usage/$HP")"
agg_start m "$H_TMP/m.conf"
M=$H_TMP/state-m/usage
h_wait_until 20 same "$M/acme/$HP.bin" "$VM1" 2>/dev/null || h_fail "the master did not merge H from loc-a: $(show "$M/acme/$HP.bin" 2>&1)"
"$CLI" decode "$M/acme/$HP.bin" | grep -qx 'complete: false' || h_fail "H merged complete while loc-b's hour is not done"
[ ! -e "$M/gamma/$HP.bin" ] && [ ! -e "$H_TMP/state-m/locations/loc-b/.done/$HK" ] \
    || h_fail "the master took loc-b's hour that is not done"
[ -z "$(temps)" ] || h_fail "temp files left on the full disk: $(temps)"
h_ok "a location failing on a full disk: counted, its not-done hour is not taken; the master merges without it, incomplete"

# --- 3. space freed: loc-b recovers, the master completes H exactly ---
rm -f "$MNT/filler"
h_wait_until 40 eval '[ -e "$U/.done/$HK" ]' || h_fail "loc-b did not roll H once space was freed"
same "$U/acme/$HP.bin" "$VM9" "$VM8" && same "$U/gamma/$HP.bin" "$VM4" || h_fail "loc-b's files after recovery"
h_wait_until 20 eval '[ -e "$M/.done/$HK" ]' || h_fail "the master did not complete H"
"$CLI" decode "$M/acme/$HP.bin" | grep -qx 'complete: true' || h_fail "acme's H not complete"
same "$M/acme/$HP.bin" "$VM1" "$VM9" "$VM8" || h_fail "the master's acme H differs from the samples (above)"
same "$M/gamma/$HP.bin" "$VM4" || h_fail "the master's gamma H"
for a in acme gamma; do
    cmp -s "$U/$a/$HP.bin" "$H_TMP/state-m/locations/loc-b/$a/$HP.bin" || h_fail "the master's copy of loc-b's $a differs from loc-b's file"
done
h_ok "space freed: the location rolls the hour with the late sample, the master merges it complete, every VM exactly once"

# --- 4. the master's own writes failing (--once rebuilding H under bwrap) ---
# A rebuild fetches both locations again and rewrites everything; each run
# has one directory read-only and must exit 1 naming it, leave no temp
# file, and leave the merged hour as it was: exactly every VM once.
h_stop m
m_ro_once() {	# DIR: the master rebuilds H with DIR read-only; must fail naming DIR
    n_once=$((n_once + 1))
    if bwrap --dev-bind / / --ro-bind "$1" "$1" "$AGGD" -c "$H_TMP/m.conf" --once rollup --hour "$HT" \
        > "$H_TMP/once$n_once.log" 2>&1; then
        h_fail "the master's --once succeeded with $1 read-only"
    fi
    grep -q "$1" "$H_TMP/once$n_once.log" || h_fail "the failure does not name $1: $(cat "$H_TMP/once$n_once.log")"
    [ -z "$(find "$H_TMP/state-m" -name '*.tmp.*' | head -1)" ] || h_fail "temp files left with $1 read-only"
    "$CLI" decode "$M/acme/$HP.bin" | grep -qx 'complete: true' && same "$M/acme/$HP.bin" "$VM1" "$VM9" "$VM8" \
        && same "$M/gamma/$HP.bin" "$VM4" || h_fail "the merged hour changed with $1 read-only"
    [ -e "$M/.done/$HK" ] || h_fail "H's done marker lost with $1 read-only"
}
K=$H_TMP/state-m/locations
m_ro_once "$K/loc-a/.index"		# a kept copy's index
m_ro_once "$K/loc-b/.done"		# a kept copy's done marker
m_ro_once "$M/.index"			# the merged hour's index
m_ro_once "$M/.done"			# its done marker
m_ro_once "$M/.merged"			# the record of what the merge included
n_once=$((n_once + 1))
"$AGGD" -c "$H_TMP/m.conf" --once rollup --hour "$HT" > "$H_TMP/once$n_once.log" 2>&1 || h_fail "the master's rebuild failed"
same "$M/acme/$HP.bin" "$VM1" "$VM9" "$VM8" && [ "$(cat "$M/.merged/$HK")" = "$(printf 'loc-a\nloc-b')" ] \
    || h_fail "the rebuild after the failures: $(show "$M/acme/$HP.bin") / $(cat "$M/.merged/$HK")"
h_ok "the master's kept copies' and merged hour's index, done marker and merge record unwritable: exit 1 naming each, no temp file, the merged hour unchanged and exact"
h_stop la; h_stop lb
