#!/usr/bin/env bash
# test_fault_totalizer_held.sh — counts kept at a stop while Redis is away,
# and Redis STILL away at the next start (docs/totalizer.md, "Start after
# such a stop"): the files wait, tried each tick, new counts are held beside
# them, and once Redis answers Redis holds every count exactly once (oracle:
# the lines sent); the files are removed.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log t; ls -la "$H_TMP/state/totalizer" >&2 || true; }; h_cleanup' EXIT
HTOOL=$H_BIN/htool

tz_setup fh-a

sent=$H_TMP/sent.txt; : > "$sent"
agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start"
h_stop r1
feed "$sent" 1 500 7
h_wait_until 20 lines_are 500 || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 500"
h_stop t 10 || h_fail "daemon still running 10 s after SIGTERM"
[ -n "$(find "$held" -name '*.held')" ] || h_fail "no held-counts file under $held"

# Redis still away at the start: the files wait, new counts are held too
agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start again"
h_wait_until 20 agg_log_has t 'holding the counts kept at the last stop until it answers' \
    || h_fail "the replay to an absent Redis was not tried and held"
feed "$sent" 501 200 11
h_wait_until 20 lines_are 200 || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 200"
[ -n "$(find "$held" -name '*.held')" ] || h_fail "the held-counts file went while Redis was away"
[ "$(metric aggregatord_totalizer_restored_total)" = 0 ] || h_fail "restored_total moved while Redis was away"
h_restart_redis r1
h_wait_until 20 stored_is "$sent" || h_fail "Redis holds: $(stored | tr '\n' ' '); want $(oracle "$sent" | tr '\n' ' ')"
h_wait_until 10 no_held_files || h_fail "held-counts files left: $(ls "$held")"
[ "$(metric aggregatord_totalizer_restored_total)" = 500 ] || h_fail "restored_total $(metric aggregatord_totalizer_restored_total), want 500"
h_ok "kept at stop, Redis still away at start: the file waited; 500 kept + 200 new counts exactly once when Redis came back"
h_stop t
