#!/usr/bin/env bash
# test_hang_influx.sh — an InfluxDB that accepts and then hangs (the fault
# proxy frozen, or trickling a byte every 300 ms) in front of a real
# InfluxDB 1.6:
#   - the query's timeout is one deadline for the whole call: influx_cli -t 2
#     gives up after about 2 s against freeze and trickle alike;
#   - a location daemon whose query hangs (timeout = 120 s) answers /healthz
#     and /metrics within 100 ms (the issue's bound; the loop does no I/O
#     for the rollup, so typical answers take 1-2 ms) while the totalizer
#     keeps counting (every line sent is in Redis), and SIGTERM makes it
#     exit within 10 s (the query is cancelled by the job's stop; before
#     that, the stop waited for the 120 s timeout);
#   - the timed-out query is counted (aggregatord_rollup_timeouts_total),
#     logged once, and the hour is rolled up once the proxy passes again.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log a; h_cleanup' EXIT
cli=$H_TOP/$AGG_BUILD/influx_cli

h_start_influxdb i
h_start_redis r
h_influx i "CREATE DATABASE usage" > /dev/null
# the daemon rolls the last whole hour when the query succeeds at last,
# some 30 s on: the test must not straddle an hour
agg_room_before 3600
now=$(date +%s)
H=$(( now / 3600 * 3600 - 3600 ))
echo "vm_usage,account=acme,cloudspace=cs1,vm=vm1 mem_mib=100,disk_gib=10,cpu_seconds=1,io_read=1,io_write=1,net_tx_bytes=1,net_rx_bytes=1 $((H + 60))" \
    | h_influx_write i usage
h_start_faultproxy px "$i_PORT"
purl=http://127.0.0.1:$px_PORT

# --- the query's deadline holds against freeze and trickle ---
for mode in freeze "trickle 300"; do
    h_fault px $mode > /dev/null
    t0=$(h__now_us)
    rc=0
    timeout 60 "$cli" -q -t 2 "$purl" usage $H > /dev/null 2> "$H_TMP/err" || rc=$?
    took=$(( ($(h__now_us) - t0) / 1000 ))
    [ $rc = 1 ] || h_fail "$mode: influx_cli exited $rc: $(cat "$H_TMP/err")"
    grep -q "timed out after 2 s" "$H_TMP/err" || h_fail "$mode: $(cat "$H_TMP/err")"
    [ "$took" -ge 1900 ] && [ "$took" -lt 4000 ] || h_fail "$mode: gave up after $took ms (timeout 2 s)"
    h_ok "influx query against '$mode': 'timed out after 2 s' after $took ms"
done

# --- a daemon whose query hangs ---
h_fault px freeze > /dev/null
port=$(h_free_port tcp)
uport=$(h_free_port udp)
cat > "$H_TMP/a.conf" <<CONF
node = { name = "a"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$port"; };
redis = { host = "127.0.0.1"; port = $r_PORT; };
rollup = { role = "location"; location = "loc"; catch_up_hours = 0; delay = 0;
  influxdb = { url = "$purl"; db = "usage"; timeout = 120; }; };
totalizer = { flush_ms = 200;
  rules = ( { prefix = "hang"; listen = "127.0.0.1:$uport"; match = "^(x) "; matched = "\$1"; source = "s"; } ); };
CONF
agg_start a "$H_TMP/a.conf"
h_wait_until 10 agg_healthy a || h_fail "daemon did not answer /healthz"
conns() { h_fault px status | sed -n 's/.*conns=\([0-9]*\).*/\1/p'; }
h_wait_until 10 eval '[ "$(conns)" -ge 1 ]' || h_fail "the rollup never queried InfluxDB"
# the query is now held by the frozen proxy
agg_answers_fast a || h_fail "an endpoint was slow while the InfluxDB query hangs"
h_ok "/healthz, /metrics, /v1/status answer within 100 ms while the InfluxDB query hangs (slowest ${AGG_SLOWEST} s)"

# the totalizer counts on: 200 lines sent, 200 counted in Redis
total() {
    redis-cli -p "$r_PORT" --scan --pattern 'hang;*' | xargs -r redis-cli -p "$r_PORT" MGET \
        | awk '{ s += $1 } END { print s + 0 }'
}
for k in $(seq 1 200); do echo "x $k"; done | "$H_BIN/htool" udp-send -i 200 127.0.0.1 "$uport"
h_wait_until 10 eval '[ "$(total)" = 200 ]' || h_fail "totalizer: $(total) counted in Redis, 200 sent"
h_ok "the totalizer keeps counting while InfluxDB hangs (200 lines sent, 200 in Redis)"

t0=$(h__now_us)
h_stop a 30 || h_fail "the daemon did not exit"
took=$(h__elapsed "$t0")
[ $(( $(h__now_us) - t0 )) -le 10000000 ] || h_fail "SIGTERM during a hung query: exit took $took s"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
h_ok "SIGTERM during the hung query: exit 0 after $took s"

# --- a query past its deadline: counted, logged once, retried ---
sed -i 's/timeout = 120;/timeout = 2;/' "$H_TMP/a.conf"
: > "$H_TMP/a.log"
agg_start a "$H_TMP/a.conf"
h_wait_until 10 agg_metric_is a aggregatord_rollup_timeouts_total 1 \
    || h_fail "no timeout counted: $(agg_metric a aggregatord_rollup_timeouts_total)"
[ "$(grep -c 'timed out after 2 s' "$H_TMP/a.log")" = 1 ] || h_fail "the timeout is not logged once"
h_fault px pass > /dev/null
hp=$(date -u -d "@$H" +%Y/%m/%d/%H)
h_wait_until 30 test -f "$H_TMP/state/usage/acme/$hp.bin" || h_fail "the hour was not rolled up after pass"
# the line is logged after the hour's files are written: wait for it
h_wait_until 10 agg_log_has a 'rollup: answers again' || h_fail "no 'answers again' line"
[ "$(agg_metric a aggregatord_rollup_timeouts_total)" = 1 ] || h_fail "timeouts: $(agg_metric a aggregatord_rollup_timeouts_total)"
h_ok "a query past its deadline is counted (aggregatord_rollup_timeouts_total 1), logged once, and retried: the hour is rolled up after pass"
h_stop a 10 || h_fail "the daemon did not exit"
