#!/usr/bin/env bash
# test_sweep_reload_member.sh — a member re-pointed by a reload: the
# daemon's member m1 names a port where nothing listens and backs off to 8
# cycles; a reload points it at the live server.  It keeps its counters
# (errors_total does not go back) but not its back-off: it is tried at the
# next cycle, not 8 cycles later, and its rows move exactly.  Counted in
# cycles (the daemon's own count), not in seconds.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log d; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb m1 ms
load_schema m1 ms
dead=$(h_free_port tcp)
hport=$(h_free_port tcp)
sweep_conf "$H_TMP/live.conf" "http = { listen = \"127.0.0.1:$hport\"; };" m1
sed -i -e "s/stale_after = 3600;/interval = 1; stale_after = 3600;/" "$H_TMP/live.conf"
sed -e "s/port = $m1_PORT;/port = $dead;/" "$H_TMP/live.conf" > "$H_TMP/d.conf"
grep -q "port = $dead;" "$H_TMP/d.conf" || h_fail "m1 not pointed at the dead port"

agg_start d "$H_TMP/d.conf"
h_wait_until 40 agg_log_has d "member 'm1'.*retrying in 8 cycle" || h_fail "m1 never backed off to 8 cycles"
errors() { agg_metric d "aggregatord_sweep_errors_total{member=\"m1\"}"; }
cycles() { agg_metric d aggregatord_sweep_cycles_total; }
e0=$(errors)
[ "${e0:-0}" -ge 4 ] || h_fail "errors_total of m1 is '$e0' after 4 failed tries"
sw_rows m1 1 7
cp "$H_TMP/live.conf" "$H_TMP/d.conf"
h_signal d HUP
h_wait_until 20 agg_metric_is d 'aggregatord_config_reloads_total{result="ok"}' 1 || h_fail "the reload was not applied"
c0=$(cycles)
moved() { [ "$(sw_count m1)" = 0 ]; }
h_wait_until 30 moved || h_fail "m1's rows never moved after the reload"
c1=$(cycles)
# tried within the first cycles after the reload; a back-off carried over
# would have skipped it for 7
[ $((c1 - c0)) -le 3 ] || h_fail "m1 swept $((c1 - c0)) cycles after the reload: its back-off was carried over"
[ "$(sw_master_of m1)" = "$(sw_expect 7)" ] || h_fail "master holds '$(sw_master_of m1)', expected '$(sw_expect 7)'"
[ "$(errors)" = "$e0" ] || h_fail "errors_total of m1 went from $e0 to $(errors) across the reload"
h_ok "a member re-pointed by a reload: tried at once (within $((c1 - c0)) cycles, not after its back-off of 8), counters kept, rows exact"
h_stop d
