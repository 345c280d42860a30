#!/usr/bin/env bash
# test_hang_redis.sh — a Redis that hangs (the fault proxy frozen: the
# connection open, no byte either way) in front of a real Redis, with the
# totalizer and the election on it (redis.timeout_ms = 300: every command's
# deadline; ttl_ms = 2000):
#   - /healthz, /metrics and /v1/status answer within 100 ms (the issue's
#     bound; typical answers take 1-2 ms);
#   - the election goes Redis-down (aggregatord_election_redis_up 0) within
#     ttl_ms plus a margin of 3 s (a round every 500 ms, each command failing
#     after timeout_ms; the margin is for a loaded 2-core machine);
#   - the totalizer counts on; after `pass` the totals in Redis are exact:
#     every line sent before and during the freeze counted once (the
#     flusher's timed-out batches are retried by batch id, and a write the
#     proxy held and delivers late is not applied twice).
# A frozen Redis was bounded even by a timeout per socket wait; a Redis that
# answers one byte at a time needs the whole-call deadline (redisc.c):
# test_hang_redis_trickle.sh.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log t; h_cleanup' EXIT

h_start_redis r
h_start_faultproxy pr "$r_PORT"
port=$(h_free_port tcp)
uport=$(h_free_port udp)
cat > "$H_TMP/t.conf" <<CONF
node = { name = "t"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$port"; };
redis = { port = $pr_PORT; timeout_ms = 300; };
election = { cluster = "c"; interval_ms = 500; ttl_ms = 2000; on_redis_down = "active"; };
totalizer = { flush_ms = 200; threads = 1; rules = (
  { prefix = "hang"; listen = "127.0.0.1:$uport"; match = "^(x) "; matched = "\$1"; source = "s"; } ); };
CONF
agg_start t "$H_TMP/t.conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not answer /healthz"
h_wait_until 10 agg_metric_is t aggregatord_election_redis_up 1 || h_fail "the election never saw Redis"
total() {
    redis-cli -p "$r_PORT" --scan --pattern 'hang;*' | xargs -r redis-cli -p "$r_PORT" MGET \
        | awk '{ s += $1 } END { print s + 0 }'
}
send() { # FROM TO
    seq "$1" "$2" | sed 's/^/x /' | "$H_BIN/htool" udp-send -i 200 127.0.0.1 "$uport"
}
send 1 300
h_wait_until 10 eval '[ "$(total)" = 300 ]' || h_fail "before the freeze: $(total) counted, 300 sent"
h_ok "300 lines counted in Redis through the passing proxy"

h_fault pr freeze > /dev/null
t0=$(h__now_us)
send 301 700
agg_answers_fast t || h_fail "an endpoint was slow while Redis hangs"
h_ok "/healthz, /metrics, /v1/status answer within 100 ms while Redis hangs (slowest ${AGG_SLOWEST} s)"
h_wait_until 5 agg_metric_is t aggregatord_election_redis_up 0 || h_fail "the election still sees Redis up"
h_ok "the election goes Redis-down $(h__elapsed "$t0") s after the freeze (ttl_ms 2000)"
h_wait_until 5 agg_metric_is t aggregatord_totalizer_redis_up 0 || h_fail "the flusher still sees Redis up"
h_ok "the flusher's commands fail after timeout_ms: aggregatord_totalizer_redis_up 0"
[ "$(total)" = 300 ] || h_fail "Redis changed while frozen: $(total)"

h_fault pr pass > /dev/null
h_wait_until 20 eval '[ "$(total)" = 700 ]' || h_fail "after pass: $(total) counted, 700 sent"
h_wait_until 10 agg_metric_is t aggregatord_election_redis_up 1 || h_fail "the election does not see Redis again"
send 701 800
h_wait_until 10 eval '[ "$(total)" = 800 ]' || h_fail "after further flushes: $(total), 800 sent (a batch applied twice?)"
h_ok "after pass: 800 lines sent, 800 counted in Redis (the batches that timed out applied once), the election sees Redis again"
t0=$(h__now_us)
h_stop t 30 || h_fail "the daemon did not exit"
h_ok "stop after pass: exit $H_EXIT_STATUS after $(h__elapsed "$t0") s"
