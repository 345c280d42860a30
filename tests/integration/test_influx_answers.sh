#!/usr/bin/env bash
# test_influx_answers.sh — the InfluxDB client's own paths (src/rollup/influx.c)
# against a server that answers wrongly: tests/harness/fake_influx.py, each
# behaviour chosen by the url's path, some through the fault proxy.  What
# the client must do with each, through influx_cli:
#   - a valid answer in 7-byte HTTP chunks, a series split over two JSON
#     chunks: the VM's figures exactly as worked out by hand below;
#   - error statuses: the message from X-Influxdb-Error, else the body's
#     "error", else the body's first line, else "(no message)"; an error
#     or a first line of 600 characters (in a body past what the client
#     keeps) cut to 399;
#   - user and password as Basic credentials the server decodes and checks
#     (base64 with each padding); wrong ones refused with the 401's message;
#   - the Host header as the server checks it, over IPv4 and [::1];
#   - a 200 that is not JSON, an error result after a series, a body
#     complete as HTTP but ending inside a partial series, an answer cut
#     (RST from the fault proxy) after its first chunk, a server that closes
#     without a byte, a bad header line, 110 KB of headers (libevent 2.1
#     reports those as a bad header too): each refused
#     with its own message and NO VM record given (a VM read before the
#     failure must not reach a file: the caller writes nothing);
#   - urls and settings refused before any connection (bad url, https,
#     credentials or a query in the url, a name that does not resolve, no
#     database).
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
h_init
cli=$H_TOP/$AGG_BUILD/influx_cli
[ -x "$cli" ] || h_fail "$cli is not built (make check builds it)"
H=1700002800

fport=$(h_free_port tcp)
mkdir -p "$H_TMP/fake"
h_spawn fake "$H_TMP/fake.log" python3 "$H_TOP/tests/harness/fake_influx.py" "$fport" "$H_TMP/fake"
h_wait_until 10 h_port_open "$fport" || h_fail "the fake InfluxDB did not start"
F=http://127.0.0.1:$fport

# run URL [DB]: influx_cli's stdout into $out, its first stderr line into $err1, status into $rc.
run() {
    rc=0
    out=$("$cli" -t 10 "$1" "${2-usage}" $H 2> "$H_TMP/err") || rc=$?
    err1=$(head -n 1 "$H_TMP/err")
}
# refused URL MESSAGE [DB]: the query fails with exactly MESSAGE and gives no VM.
refused() {
    run "$1" "${3-usage}"
    [ "$rc" = 1 ] || h_fail "$1: exit $rc (want 1): $err1"
    [ -z "$out" ] || h_fail "$1: VM records given although the query failed: $out"
    [ "$err1" = "influx_cli: $2" ] || h_fail "$1: '$err1', want 'influx_cli: $2'"
}

# By hand, acme/cs1/vm1: H-60 is only the counters' start; inside the hour
# H and H+1800: mem (30+50)/2 = 40, disk max(4,2) = 4, cpu 100->130 +30,
# 130->20 a reset +20 = 50, io_read +500 +200 = 700, io_write +2 +8 = 10,
# tx +100 +100 = 200, rx +400 +300 = 700.
run "$F/chunked"
[ "$rc" = 0 ] || h_fail "chunked answer: $err1"
want='"acme" "cs1" "vm1" samples=2 mem_mib=40.000 disk_gib=4.000 cpu_seconds=50.000 io_read=700 io_write=10 net_tx_bytes=200 net_rx_bytes=700'
[ "$out" = "$want" ] || h_fail "chunked answer: got '$out', want '$want'"
run "$F/chunked//"
[ "$rc" = 0 ] && [ "$out" = "$want" ] || h_fail "url ending in '/': exit $rc, '$out' $err1"
h_ok "an answer in 7-byte HTTP chunks, a series over two JSON chunks: the figures worked out by hand (a url ending in '/' too)"

refused "$F/xerr" "influxdb: HTTP 500: timeout: query took too long"
refused "$F/jerr" "influxdb: HTTP 400: error parsing query: found FORM, expected FROM"
refused "$F/plain" "influxdb: HTTP 503: upstream overloaded"
refused "$F/empty" "influxdb: HTTP 502: (no message)"
h_ok "error statuses: X-Influxdb-Error first, then the body's error, its first line, '(no message)'"

# the message is the first 399 characters of the error or the line
refused "$F/longerr" "influxdb: HTTP 500: $(printf 'E%.0s' $(seq 300))$(printf 'F%.0s' $(seq 99))"
refused "$F/longline" "influxdb: HTTP 503: $(printf 'y%.0s' $(seq 399))"
h_ok "an error of 600 characters in a 10 KB body sent in two parts, a first line of 600: the message is their first 399 characters"

# Basic credentials: the fake decodes the header with Python's base64 and
# answers only when it equals DIR/creds; user:password of 9, 10 and 11
# bytes give base64 with no, two and one '=' of padding.
for up in someone:p someone:pw someone:pwd; do
    printf %s "$up" > "$H_TMP/fake/creds"
    out=$("$cli" -t 10 -u "${up%%:*}" -p "${up#*:}" "$F/auth" usage $H 2> "$H_TMP/err") \
        && [ "$out" = "$want" ] || h_fail "credentials '$up': '$out' $(cat "$H_TMP/err")"
done
rc=0; out=$("$cli" -t 10 -u someone -p wrong "$F/auth" usage $H 2> "$H_TMP/err") || rc=$?
[ "$rc" = 1 ] && [ -z "$out" ] && [ "$(head -n 1 "$H_TMP/err")" = "influx_cli: influxdb: HTTP 401: authorization failed" ] \
    || h_fail "wrong credentials: exit $rc, '$out' $(cat "$H_TMP/err")"
h_ok "user and password sent as Basic credentials (padding 0, 1, 2), checked by the server; wrong ones: HTTP 401's message, no VM"

for url in "$F/host" "http://[::1]:$fport/host"; do
    run "$url"
    [ "$rc" = 0 ] && [ "$out" = "$want" ] || h_fail "$url: exit $rc, '$out' $err1"
done
h_ok "the Host header names the server's address and port, in brackets over IPv6 ([::1]), as the server checks"

refused "$F/nonjson" "influxdb $F/nonjson: bad answer at byte 1: expected '{' to begin an answer"
refused "$F/miderr" "influxdb: max-select-point limit exceeded"
run "$F/trunc"
[ "$rc" = 1 ] && [ -z "$out" ] || h_fail "a body ending in a partial series: exit $rc, '$out'"
case $err1 in
    "influx_cli: influxdb $F/trunc: "*partial*|"influx_cli: influxdb $F/trunc: "*truncated*) ;;
    *) h_fail "a body ending in a partial series: '$err1'" ;;
esac
h_ok "a 200 that is not JSON, an error result after a series, a body ending in a partial series: refused, no VM given"

refused "$F/close" "influxdb $F/close: connection closed without an answer"
refused "$F/badhdr" "influxdb $F/badhdr: bad HTTP answer"
refused "$F/longhdr" "influxdb $F/longhdr: bad HTTP answer"
h_ok "a server closing without a byte, a bad header line, 110 KB of headers: refused with their own messages"

# An answer cut after its first chunk: the fault proxy resets the
# connection while the server holds it open.
h_start_faultproxy px "$fport"
rc=0
"$cli" -t 30 "http://127.0.0.1:$px_PORT/hold" usage $H > "$H_TMP/cut.out" 2> "$H_TMP/cut.err" &
cpid=$!
h_wait_until 15 test -e "$H_TMP/fake/held" || h_fail "the first chunk was never sent"
h_fault px cut > /dev/null
wait $cpid || rc=$?
[ "$rc" = 1 ] && [ ! -s "$H_TMP/cut.out" ] || h_fail "cut answer: exit $rc, '$(cat "$H_TMP/cut.out")'"
grep -qx "influx_cli: influxdb http://127.0.0.1:$px_PORT/hold: connection closed before the answer was complete" \
    "$H_TMP/cut.err" || h_fail "cut answer: $(cat "$H_TMP/cut.err")"
h_ok "an answer reset (fault proxy cut) after its first chunk: 'connection closed before the answer was complete', no VM given"

refused "http://" "influxdb: bad url 'http://' (want http://host:port)"
refused "https://127.0.0.1:$fport" "influxdb https://127.0.0.1:$fport: scheme 'https' is not supported (http only)"
refused "http://u:p@127.0.0.1:$fport" "influxdb http://u:p@127.0.0.1:$fport: the url takes no credentials or query (use user, password)"
refused "$F/?db=x" "influxdb $F/?db=x: the url takes no credentials or query (use user, password)"
refused "http://no-such-host.invalid:8086" "influxdb http://no-such-host.invalid:8086: cannot resolve 'no-such-host.invalid': name or service not known"
refused "$F/chunked" "influxdb $F/chunked: no database given" ""
h_ok "urls refused before connecting: bad, https, credentials, a query, an unknown name; no database"
