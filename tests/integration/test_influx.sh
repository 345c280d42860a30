#!/usr/bin/env bash
# test_influx.sh — the rollup's InfluxDB query (src/rollup/influx.c) against a real
# influxd (Debian's 1.6) from the harness, through the driver
# tests/harness/influx_cli.c (built by make into $AGG_BUILD/).
#
# Loaded with line protocol (precision s) for hour H = 2023-11-14T23 UTC:
#   acme/cs1/vm1  a sample every 10 min from H-600 to H+3600, counters reset
#                 at H+1200 (all but rx), one sample before the lookback
#   acme/cs1/vm2  no sample before the hour
#   acme/cs2/vm3  samples before the hour and at H+3600 only: no record
#   beta/...      tag values with commas, spaces, quotes, '=', a backslash
#                 and non-ASCII; no io_write field at all
#   gamma/cs/one  one sample exactly at H, one just outside the lookback
#   gamma/cs/two  one sample exactly at H-lookback (the window's first second)
# The expected figures are worked out by hand below.  Then: a shorter
# lookback, the read-only floor, InfluxDB's own errors, a callback abort, a
# frozen influxd (timed out after timeout_s, no longer), a stopped one
# (connection refused, at once).
# shellcheck disable=SC2154  # i_URL is exported by h_start_influxdb
set -euo pipefail
# shellcheck source=../harness/lib.sh
. "$(dirname "$0")/../harness/lib.sh"
: "${AGG_BUILD:=build}"
h_init

cli=$H_TOP/$AGG_BUILD/influx_cli
[ -x "$cli" ] || h_fail "$cli is not built (make check builds it)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

h_start_influxdb i
h_influx i 'CREATE DATABASE usage' > /dev/null
h_ok "influxd up at $i_URL"

H=1700002800
M=vm_usage
# p TAGS T MEM DISK CPU RD WR TX RX: one point (WR "-" leaves io_write out).
p() {
    local wr=",io_write=${7}i"
    [ "$7" != - ] || wr=
    printf '%s,%s mem_mib=%s,disk_gib=%si,cpu_seconds=%s,io_read=%si%s,net_tx_bytes=%si,net_rx_bytes=%si %s\n' \
        "$M" "$1" "$3" "$4" "$5" "$6" "$wr" "$8" "$9" "$2"
}
vm1='account=acme,cloudspace=cs1,vm=vm1'
vm2='account=acme,cloudspace=cs1,vm=vm2'
vm3='account=acme,cloudspace=cs2,vm=vm3'
# account 'beta, "inc"', cloudspace 'cs=1 x', vm 'web\y é😀' (escaped for line protocol)
odd='account=beta\,\ "inc",cloudspace=cs\=1\ x,vm=web\y\ é😀'
one='account=gamma,cloudspace=cs,vm=one'
two='account=gamma,cloudspace=cs,vm=two'
{
    p "$vm1" $((H - 7200))   1   1     0.0     0     0     0     0
    p "$vm1" $((H - 600))  500  20   100.0  1000   500 10000 20000
    p "$vm1" $((H))        100  20   160.0  1100   510 11000 20500
    p "$vm1" $((H + 600))  200  20   220.5  1300   530 13000 21000
    p "$vm1" $((H + 1200)) 300  25    30.0    50    10   500 21500
    p "$vm1" $((H + 1800)) 400  25    90.0   150    20  1500 22000
    p "$vm1" $((H + 2400)) 500  25   150.0   250    30  2500 22500
    p "$vm1" $((H + 3000)) 600  25   210.0   350    40  3500 23000
    p "$vm1" $((H + 3600)) 9999 99   999.0 99999 99999 99999 99999
    p "$vm2" $((H + 1800))  64  10     5.0    10     1   100   200
    p "$vm2" $((H + 2400)) 128  12     7.5    15     1   300   250
    p "$vm3" $((H - 1200))   1   1     1       1     1     1     1
    p "$vm3" $((H - 600))    2   2     2       2     2     2     2
    p "$vm3" $((H + 3600))   3   3     3       3     3     3     3
    p "$odd" $((H - 60))     1   1  1000       5     -     0     0
    p "$odd" $((H + 60))     3   2  1010.25    7     -    10    20
    p "$odd" $((H + 120))    5   2  1020.5     1     -    30    40
    p "$one" $((H - 3601))  50  50    50      50    50    50    50
    p "$one" $((H))         42   7     3       3     3     3     3
    p "$two" $((H - 3600))   1   1     1       1     1     1     1
    p "$two" $((H + 10))     2   3     4       4     4     4     4
} > "$H_TMP/points.lp"
h_influx_write i usage s < "$H_TMP/points.lp" || h_fail "loading the points failed"
n=$(h_influx i "SELECT count(mem_mib) FROM $M" usage | grep -o '\[\[[^]]*\]\]' | cut -d, -f2 | tr -d ']')
[ "$n" = 21 ] || h_fail "influxd holds $n points, expected 21"
h_ok "loaded 21 points for 6 VMs around hour $H"

# expect WHAT EXPECTED ACTUAL
expect() {
    if [ "$2" != "$3" ]; then
        printf '%s\n--- expected\n%s\n--- got\n%s\n' "$1" "$2" "$3" >&2
        h_fail "$1"
    fi
}

# run ARGS...: influx_cli's stdout into $out, its stderr into $errout, status into $rc.
run() {
    rc=0
    out=$("$cli" "$@" 2> "$H_TMP/err") || rc=$?
    errout=$(cat "$H_TMP/err")
}

run "$i_URL" usage $H
[ $rc = 0 ] || h_fail "rollup failed: $errout"
expect "the hour's records" '"acme" "cs1" "vm1" samples=6 mem_mib=350.000 disk_gib=25.000 cpu_seconds=330.500 io_read=650 io_write=70 net_tx_bytes=6500 net_rx_bytes=3000
"acme" "cs1" "vm2" samples=2 mem_mib=96.000 disk_gib=12.000 cpu_seconds=2.500 io_read=5 io_write=0 net_tx_bytes=200 net_rx_bytes=50
"beta, \"inc\"" "cs=1 x" "web\\y é😀" samples=2 mem_mib=4.000 disk_gib=2.000 cpu_seconds=20.500 io_read=3 io_write=0 net_tx_bytes=30 net_rx_bytes=40
"gamma" "cs" "one" samples=1 mem_mib=42.000 disk_gib=7.000 cpu_seconds=0.000 io_read=0 io_write=0 net_tx_bytes=0 net_rx_bytes=0
"gamma" "cs" "two" samples=1 mem_mib=2.000 disk_gib=3.000 cpu_seconds=3.000 io_read=3 io_write=3 net_tx_bytes=3 net_rx_bytes=3' "$out"
case $errout in
    *"vms=5 points=17 series=6 "*) ;;
    *) h_fail "unexpected figures: $errout" ;;
esac
h_ok "rollup: 5 VMs with the expected figures (resets, sample before the hour, edges, odd tag values)"

# With a 60 s lookback vm1's H-600 sample is no longer the starting point,
# and gamma/two's H-3600 sample is not read.
run -l 60 "$i_URL" usage $H
[ $rc = 0 ] || h_fail "rollup -l 60 failed: $errout"
expect "records with lookback 60" '"acme" "cs1" "vm1" samples=6 mem_mib=350.000 disk_gib=25.000 cpu_seconds=270.500 io_read=550 io_write=60 net_tx_bytes=5500 net_rx_bytes=2500' \
    "$(grep '"vm1"' <<< "$out")"
expect "gamma/two with lookback 60" '"gamma" "cs" "two" samples=1 mem_mib=2.000 disk_gib=3.000 cpu_seconds=0.000 io_read=0 io_write=0 net_tx_bytes=0 net_rx_bytes=0' \
    "$(grep '"two"' <<< "$out")"
h_ok "lookback 60 s: only samples since H-60 start the counters"

run -r "$i_URL" usage $H
[ $rc = 0 ] || h_fail "read-only query failed: $errout"
case $out in
    "vms=0 points=17 series=6 "*) ;;
    *) h_fail "read-only figures: $out" ;;
esac
h_ok "read-only floor: 17 points in 6 series"

run -u someone -p secret "$i_URL" usage $H
if [ $rc != 0 ] || [ "$(wc -l <<< "$out")" != 5 ]; then
    h_fail "with credentials (auth off): $errout"
fi
h_ok "credentials are sent as basic auth (ignored with auth off)"

# InfluxDB's own errors, and ours.
run "$i_URL" nodb $H
[ $rc = 1 ] || h_fail "missing database: status $rc"
expect "missing database" "influx_cli: influxdb: database not found: nodb" "$(head -n 1 <<< "$errout")"
run -m 'vm"usage' "$i_URL" usage $H
expect "bad identifier" "influx_cli: influxdb: measurement 'vm\"usage' contains a double quote" \
    "$(head -n 1 <<< "$errout")"
run "$i_URL/prefix" usage $H
expect "wrong path" "influx_cli: influxdb: HTTP 404: 404 page not found" "$(head -n 1 <<< "$errout")"
run -a 2 "$i_URL" usage $H
[ $rc = 1 ] || h_fail "callback abort: status $rc"
expect "callback abort" "influx_cli: influxdb $i_URL: aborted by the callback" "$(head -n 1 <<< "$errout")"
run -m other "$i_URL" usage $H
if [ $rc != 0 ] || [ -n "$out" ]; then
    h_fail "an empty measurement: status $rc, '$out' $errout"
fi
h_ok "errors: missing database, bad identifier, HTTP 404, callback abort; empty measurement is no VM"

# A frozen server (accepts, never answers): timed out after -t, no later.
h_signal i STOP
t0=$(h__now_us)
run -t 2 "$i_URL" usage $H
took=$(( ($(h__now_us) - t0) / 1000 ))
h_signal i CONT
[ $rc = 1 ] || h_fail "frozen influxd: status $rc"
expect "frozen influxd" "influx_cli: influxdb $i_URL: timed out after 2 s" "$(head -n 1 <<< "$errout")"
if [ "$took" -lt 1900 ] || [ "$took" -ge 3500 ]; then
    h_fail "frozen influxd: gave up after $took ms (timeout 2 s)"
fi
h_ok "frozen influxd: 'timed out after 2 s' after $took ms"

h_stop i
t0=$(h__now_us)
run -t 10 "$i_URL" usage $H
took=$(( ($(h__now_us) - t0) / 1000 ))
[ $rc = 1 ] || h_fail "stopped influxd: status $rc"
expect "stopped influxd" "influx_cli: influxdb $i_URL: connection refused" "$(head -n 1 <<< "$errout")"
[ "$took" -lt 2000 ] || h_fail "stopped influxd: took $took ms"
h_ok "stopped influxd: 'connection refused' after $took ms"
