#!/usr/bin/env bash
# test_hang_location.sh — a rollup master fetching one hour from two
# location daemons (a real InfluxDB 1.6 behind each, test_rollup.sh's
# set-up), loc-a's HTTP API behind a fault proxy and listed FIRST, so that
# a hang there is in front of loc-b's fetch.  Accounts: acme at both
# locations, beta only at loc-a, gamma only at loc-b; five VMs a location,
# two samples each in the hour.  The oracle: each VM's expected line
# (mean, max, counter increases, samples) computed here from the samples
# written to InfluxDB; a merged file must hold exactly those lines.
#   - loc-a frozen, and trickling (a byte every 300 ms), with the fetch's
#     deadline at 120 s (rollup.influxdb.timeout, the default): while the
#     master is inside the fetch, /healthz, /metrics and /v1/status answer
#     within 100 ms (the issue's bound, ~30 times a loaded machine's answer)
#     and SIGTERM makes it exit 0 within 10 s (the fetch is cancelled);
#   - loc-a frozen, then trickling, with the deadline at 3 s and retry_s 5:
#     the fetch times out (the whole exchange: a trickle that keeps each
#     recv short does not stretch it), is counted and logged once (loc-b
#     answering in between is not loc-a answering again); loc-b's
#     files are fetched and merged: acme and gamma written incomplete with
#     exactly loc-b's VMs, no beta; after pass the hour is completed within
#     retry_s (plus the rollup's 10 s tick): acme exactly both locations'
#     VMs, beta and gamma exact, every file complete.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || for n in m la lb; do agg_dump_log $n; done; h_cleanup' EXIT
CLI=$H_TOP/$AGG_BUILD/usage_cli

# the test must not straddle an hour: the master works on the last whole one
agg_room_before 3600
h_start_influxdb i
for db in usage_a usage_b; do h_influx i "CREATE DATABASE $db" > /dev/null; done
now=$(date +%s)
H=$(( now / 3600 * 3600 - 3600 ))	# the last whole hour: the one every daemon works on
HP=$(date -u -d "@$H" +%Y/%m/%d/%H)

# samples L DB FIRST: VMs v<L><i>, i = FIRST..FIRST+4 (the first three in
# acme, the others in ACCOUNT2) with two samples in the hour; expected
# lines go to $H_TMP/want-<account>-<L>.txt
samples() {
    local l=$1 db=$2 acc2=$3 i acc
    for ((i = $4; i < $4 + 5; i++)); do
        acc=acme; [ $i -lt $(( $4 + 3 )) ] || acc=$acc2
        echo "vm_usage,account=$acc,cloudspace=cs$i,vm=v$l$i mem_mib=$((100 * i)),disk_gib=$i,cpu_seconds=1000,io_read=10,io_write=10,net_tx_bytes=100,net_rx_bytes=100 $((H + 60))"
        echo "vm_usage,account=$acc,cloudspace=cs$i,vm=v$l$i mem_mib=$((100 * i + 50)),disk_gib=$((i + 1)),cpu_seconds=$((1000 + 7 * i)),io_read=$((10 + i)),io_write=$((10 + 2 * i)),net_tx_bytes=$((100 + 3 * i)),net_rx_bytes=$((100 + 4 * i)) $((H + 1800))"
        echo "location=loc-$l cloudspace=cs$i vm=v$l$i mem_mib_mean=$((100 * i + 25)) disk_gib_max=$((i + 1)) cpu_seconds=$((7 * i)) io_read=$i io_write=$((2 * i)) net_tx_bytes=$((3 * i)) net_rx_bytes=$((4 * i)) samples=2" \
            >> "$H_TMP/want-$acc-$l.txt"
    done | grep '^vm_usage' | h_influx_write i "$db"
}
samples a usage_a beta 1
samples b usage_b gamma 6

token=loc-secret
declare -A HP_
loc_conf() {	# NAME LOC DB
    HP_[$1]=$(h_free_port tcp)
    cat > "$H_TMP/$1.conf" <<CONF
node = { name = "$1"; state_dir = "$H_TMP/state-$1"; };
http = { listen = "127.0.0.1:${HP_[$1]}"; token = "$token"; };
rollup = { role = "location"; location = "$2"; catch_up_hours = 0; delay = 0;
  influxdb = { url = "$i_URL"; db = "$3"; timeout = 10; }; };
CONF
}
loc_conf la loc-a usage_a
loc_conf lb loc-b usage_b
export AGG_TOKEN=$token
agg_start la "$H_TMP/la.conf"
agg_start lb "$H_TMP/lb.conf"
for n in la lb; do
    h_wait_until 30 eval "agg_get $n /v1/usage/$HP 2>/dev/null | grep -q '\"complete\":true'" \
        || h_fail "$n did not roll up the hour: $(agg_get $n "/v1/usage/$HP")"
done
h_ok "both locations rolled up hour $HP from InfluxDB"

h_start_faultproxy pa "${HP_[la]}"
mport=$(h_free_port tcp)
master_conf() {	# TIMEOUT
    cat > "$H_TMP/m.conf" <<CONF
node = { name = "m"; state_dir = "$H_TMP/state-m"; };
http = { listen = "127.0.0.1:$mport"; token = "$token"; };
rollup = { role = "master"; retry_s = 5; at_minute = 0; delay = 0; late_hours = 0;
  influxdb = { timeout = $1; };
  locations = ( { name = "loc-a"; url = "http://127.0.0.1:$pa_PORT"; token = "$token"; },
                { name = "loc-b"; url = "http://127.0.0.1:${HP_[lb]}"; token = "$token"; } ); };
CONF
}
conns() { h_fault pa status | sed -n 's/.*conns=\([0-9]*\).*/\1/p'; }
# master_fresh MODE: a master with no state, loc-a's proxy in MODE with no
# connection left from before
master_fresh() {
    h_fault pa cut > /dev/null
    h_fault pa "$@" > /dev/null
    h_wait_until 10 eval '[ "$(conns)" = 0 ]' || h_fail "the proxy still holds $(conns) connection(s)"
    rm -rf "$H_TMP/state-m"
    : > "$H_TMP/m.log" 2>/dev/null || true
    agg_start m "$H_TMP/m.conf"
}
stop_bounded() {	# WHAT
    local t0 took
    t0=$(h__now_us)
    h_stop m 30 || h_fail "the master did not exit"
    took=$(h__elapsed "$t0")
    [ $(( $(h__now_us) - t0 )) -le 10000000 ] || h_fail "SIGTERM $1: exit took $took s"
    [ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
    STOP_TOOK=$took
}

# --- inside the fetch (deadline 120 s): the API answers, SIGTERM ends it ---
master_conf 120
for mode in freeze "trickle 300"; do
    master_fresh $mode
    h_wait_until 10 eval '[ "$(conns)" -ge 1 ]' || h_fail "$mode: the master never asked loc-a"
    agg_answers_fast m || h_fail "$mode: the API while the fetch hangs"
    h_ok "loc-a $mode, the master inside its fetch: /healthz, /metrics, /v1/status within 100 ms (slowest $AGG_SLOWEST s)"
    [ "$(conns)" -ge 1 ] || h_fail "$mode: the fetch ended before the stop (the test proves nothing)"
    stop_bounded "inside a fetch from loc-a ($mode)"
    h_ok "SIGTERM inside the fetch ($mode): exit 0 after $STOP_TOOK s"
done

# check_account ACCOUNT COMPLETE LOCS WANT...: the master's merged file for
# ACCOUNT says COMPLETE and LOCS, and holds exactly the lines of the WANT files
check_account() {
    local acc=$1 complete=$2 locs=$3 f=$H_TMP/state-m/usage/$1/$HP.bin
    shift 3
    [ -f "$f" ] || { h__err "no merged file for $acc"; return 1; }
    "$CLI" decode "$f" > "$H_TMP/got.txt" || return 1
    grep -qx "complete: $complete" "$H_TMP/got.txt" && grep -qx "locations: $locs" "$H_TMP/got.txt" \
        || { h__err "$acc: $(head -4 "$H_TMP/got.txt" | tr '\n' ';')"; return 1; }
    diff <(sed -n 's/^vm\[[0-9]*\]: //p' "$H_TMP/got.txt" | sort) <(cat "$@" | sort) >&2 \
        || { h__err "$acc: the merged VMs differ from the oracle (above)"; return 1; }
}
cpu_sum() {	# FILE...: the sum of cpu_seconds over the expected lines
    cat "$@" | sed 's/.*cpu_seconds=\([0-9]*\).*/\1/' | awk '{ s += $1 } END { print s + 0 }'
}
W=$H_TMP/want

# --- past the deadline (3 s): incomplete with loc-b, completed after pass ---
master_conf 3
for mode in freeze "trickle 300"; do
    master_fresh $mode
    partial() {
        check_account acme false loc-b "$W-acme-b.txt" 2>/dev/null &&
            check_account gamma false loc-b "$W-gamma-b.txt" 2>/dev/null
    }
    h_wait_until 30 partial || { partial; h_fail "$mode: no incomplete hour with loc-b's files"; }
    [ ! -e "$H_TMP/state-m/usage/beta/$HP.bin" ] || h_fail "$mode: beta (only at loc-a) was written"
    agg_answers_fast m || h_fail "$mode: the API while loc-a hangs"
    h_ok "loc-a $mode, deadline 3 s: loc-b fetched and merged, acme and gamma written incomplete, exactly loc-b's VMs (acme cpu_seconds $(cpu_sum "$W-acme-b.txt")); the API within 100 ms (slowest $AGG_SLOWEST s)"
    h_wait_until 30 eval '[ "$(agg_metric m aggregatord_rollup_timeouts_total)" -ge 2 ]' \
        || h_fail "$mode: timeouts $(agg_metric m aggregatord_rollup_timeouts_total)"
    [ "$(grep -c "location 'loc-a'.*timed out.*logged again only once it answers" "$H_TMP/m.log")" = 1 ] \
        || h_fail "$mode: the timeout is not logged once: $(grep -c "loc-a" "$H_TMP/m.log")"
    ! agg_log_has m "answers again" || h_fail "$mode: an 'answers again' line while loc-a still hangs (loc-b answering is not loc-a)"
    [ "$(agg_metric m aggregatord_rollup_locations_missing)" = 1 ] || h_fail "$mode: locations_missing $(agg_metric m aggregatord_rollup_locations_missing)"
    h_ok "$mode: loc-a's timeouts counted ($(agg_metric m aggregatord_rollup_timeouts_total)), logged once, aggregatord_rollup_locations_missing 1"
    h_fault pa pass > /dev/null
    t0=$(h__now_us)
    whole() {
        check_account acme true "loc-a loc-b" "$W-acme-a.txt" "$W-acme-b.txt" 2>/dev/null &&
            check_account beta true loc-a "$W-beta-a.txt" 2>/dev/null &&
            check_account gamma true loc-b "$W-gamma-b.txt" 2>/dev/null
    }
    h_wait_until 30 whole || { whole; h_fail "$mode: the hour was not completed after pass"; }
    h_ok "$mode, after pass: the hour completed in $(h__elapsed "$t0") s (retry_s 5, a 10 s tick): acme both locations' VMs (cpu_seconds $(cpu_sum "$W-acme-a.txt" "$W-acme-b.txt")), beta, gamma exact, all complete"
    agg_log_has m "rollup: location 'loc-a' answers again" || h_fail "$mode: no 'answers again' line for loc-a"
    stop_bounded "after pass"
done
h_stop la; h_stop lb
