#!/usr/bin/env bash
# test_watchdog.sh — the systemd watchdog tells the truth.  A location rollup
# whose InfluxDB accepts the connection and never answers (a fault proxy,
# frozen) is inside its own configured timeout (rollup.influxdb.timeout,
# 60 s here): WATCHDOG=1 keeps coming on NOTIFY_SOCKET all along, far past
# WATCHDOG_USEC.  Then the withholding path: the same frozen query with the
# call's deadline bookkeeping shortened (the test-only environment knobs
# AGGREGATORD_TEST_DEADLINE_CAP_MS and AGGREGATORD_LIVENESS_MARGIN_MS, see
# docs/operations.md) is a thread stuck past its deadline plus the margin:
# the ping is withheld and the log names the thread.
#
# Timing: WATCHDOG_USEC is 4 s (a ping every 2 s); the run under test lasts
# 16 s of query, four times WATCHDOG_USEC, well inside the 60 s timeout.
# Bounds are counts of pings, with margins for a loaded 2-core machine.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log w1; agg_dump_log w2 2>/dev/null; }; h_cleanup' EXIT

h_start_influxdb i
h_influx i "CREATE DATABASE usage" > /dev/null
h_start_faultproxy fi "$i_PORT"
h_fault fi freeze > /dev/null

conf_for() {	# NAME
    cat > "$H_TMP/$1.conf" <<CONF
node = { name = "$1"; state_dir = "$H_TMP/state-$1"; };
http = { listen = "127.0.0.1:$(h_free_port tcp)"; };
rollup = { role = "location"; location = "loc-a"; catch_up_hours = 0;
  influxdb = { url = "http://127.0.0.1:$fi_PORT"; db = "usage"; timeout = 60; }; };
CONF
}
pings() { grep -cx 'WATCHDOG=1' "$1" || true; }
conns() { h_fault fi status | sed -n 's/.*conns=\([0-9]*\).*/\1/p'; }
in_query() { [ "$(conns)" -ge "$1" ]; }

# --- inside its timeout: the pings go on ---
conf_for w1
h_start_notify n1
agg_start w1 "$H_TMP/w1.conf" NOTIFY_SOCKET="$n1_SOCKET" WATCHDOG_USEC=4000000
h_wait_until 10 agg_healthy w1 || h_fail "daemon did not start"
h_wait_until 10 in_query 1 || h_fail "the rollup did not reach InfluxDB"
p0=$(pings "$n1_OUT")
# 16 s of query at a ping every 2 s: 8 pings; ask for 6.  Withheld pings
# (the pre-fix behaviour) stop the count after about 4 s, at 2.
h_wait_until 40 sh -c "[ \$(grep -cx 'WATCHDOG=1' '$n1_OUT') -ge $((p0 + 6)) ]" ||
    h_fail "WATCHDOG=1 stopped during a query inside its timeout: $(( $(pings "$n1_OUT") - p0 )) ping(s) after it began"
agg_log_has w1 'withholding the watchdog' && h_fail "the ping was withheld for a job inside its timeout"
agg_log_has w1 'timed out' && h_fail "the query ended before the check (the test proves nothing)"
[ "$(conns)" -ge 1 ] || h_fail "the query is no longer open"
h_ok "a query inside its timeout (InfluxDB frozen): WATCHDOG=1 keeps coming past WATCHDOG_USEC"
h_stop w1 15
h_stop n1

# --- past its deadline plus the margin: the ping is withheld ---
conf_for w2
h_start_notify n2
agg_start w2 "$H_TMP/w2.conf" NOTIFY_SOCKET="$n2_SOCKET" WATCHDOG_USEC=4000000 \
    AGGREGATORD_TEST_DEADLINE_CAP_MS=1000 AGGREGATORD_LIVENESS_MARGIN_MS=1000
h_wait_until 10 agg_healthy w2 || h_fail "daemon did not start"
h_wait_until 15 agg_log_has w2 "worker 'rollup' is [0-9]+ ms past the deadline of its call" ||
    h_fail "no withheld ping for a thread stuck past its deadline + margin"
agg_log_has w2 'withholding the watchdog ping' || h_fail "the log does not say that the ping is withheld"
# withheld for good: no ping for 3 intervals while the thread stays stuck
p1=$(pings "$n2_OUT")
h_wait_until 20 sh -c "[ \$(grep -c 'withholding the watchdog ping' '$H_TMP/w2.log') -ge 4 ]" ||
    h_fail "the ping was not withheld for several intervals"
[ "$(pings "$n2_OUT")" -le $((p1 + 1)) ] || h_fail "pings came while a thread was stuck past its deadline"
[ "$(agg_metric w2 aggregatord_watchdog_skipped_total)" -ge 3 ] ||
    h_fail "aggregatord_watchdog_skipped_total: $(agg_metric w2 aggregatord_watchdog_skipped_total)"
h_ok "a call stuck past its deadline + margin withholds the ping (log names the worker; metric counts)"
h_stop w2 15
