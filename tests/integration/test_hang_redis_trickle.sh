#!/usr/bin/env bash
# test_hang_redis_trickle.sh — a Redis that answers one byte at a time: the
# fault proxy in `trickle 300 reply` mode (each request reaches Redis at
# once, each reply comes back one byte every 300 ms), redis.timeout_ms 500,
# so no single socket wait ever runs out while a call crawls for seconds.
# Daemon a runs the election and the totalizer through the proxy; daemon b
# is a second node of the group on Redis directly.
#  1. The election (interval_ms 500, ttl_ms 3000, on_redis_down standby): a
#     is active, b standby.  Under the trickle, a's calls fail after
#     timeout_ms (the whole call), a leaves active within ttl_ms (plus 2 s
#     for a loaded 2-core machine), and at no moment are both nodes active
#     (sampled from each node's /metrics every ~100 ms); a logs the timeout
#     once and counts it.  With a per-read timeout a's round crawled for
#     tens of seconds: it stayed active, its key expired, b took over.
#  2. A totals query (GET /v1/totals) under the trickle answers within
#     timeout_ms plus a 1.5 s margin (503 or a result), not after seconds.
#  3. The totalizer under the trickle: the flushes fail (their replies do
#     not arrive in time, though Redis applied them), the counts are held
#     and retried under their batch ids; after `pass` Redis holds exactly
#     the lines sent, per key (oracle: the lines the test sent).
#  4. Redis frozen (connection open, no byte either way) with the
#     totalizer holding counts: SIGTERM ends a within 10 s (the issue's
#     bound), status 0, the held counts written under state_dir/totalizer/;
#     after `pass` (the proxy then delivers what it held, a flush included)
#     and a restart, Redis holds exactly the lines sent, once.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log a; agg_dump_log b; }; h_cleanup' EXIT

TIMEOUT=500 TTL=3000 TRICKLE=300	# ms
h_start_redis r
h_start_faultproxy pr "$r_PORT"
uport=$(h_free_port udp)
held=$H_TMP/state-a/totalizer
declare -A HPORT
conf_for() {	# NAME REDIS_PORT
    HPORT[$1]=$(h_free_port tcp)
    cat > "$H_TMP/$1.conf" <<CONF
node = { name = "$1"; state_dir = "$H_TMP/state-$1"; };
http = { listen = "127.0.0.1:${HPORT[$1]}"; };
redis = { port = $2; timeout_ms = $TIMEOUT; };
election = { cluster = "c"; interval_ms = 500; ttl_ms = $TTL; on_redis_down = "standby"; };
CONF
}
conf_for a "$pr_PORT"
conf_for b "$r_PORT"
cat >> "$H_TMP/a.conf" <<CONF
totalizer = { flush_ms = 200; threads = 1; rules = (
  { prefix = "n"; listen = "127.0.0.1:$uport"; match = "^line (\\\\d+) (\\\\S+)"; matched = "\$2";
    source = "s"; ttl = 86400; buckets = 1; } ); };
CONF
role() { agg_metric "$1" aggregatord_election_role 2>/dev/null || echo x; }
metric() { v=$(agg_metric a "$1"); echo "${v:-0}"; }
sent=$H_TMP/sent.txt; : > "$sent"
stored_is_sent() { [ "$(tz_stored r n)" = "$(tz_oracle "$sent")" ]; }
no_held_files() { [ -z "$(find "$held" -name '*.held' 2>/dev/null)" ]; }

agg_start a "$H_TMP/a.conf"
h_wait_until 10 eval '[ "$(role a)" = 1 ]' || h_fail "a did not become active alone"
agg_start b "$H_TMP/b.conf"
h_wait_until 10 eval '[ "$(role b)" = 0 ]' || h_fail "b did not become standby"
tz_feed "$sent" 1 200 7 "$uport"
h_wait_until 10 stored_is_sent || h_fail "before the trickle: Redis holds $(tz_stored r n | tr '\n' ' ')"
h_ok "a active, b standby; 200 lines counted through the passing proxy"

# --- 1. the election under the trickle ---
e0=$(metric aggregatord_election_redis_errors_total)
h_fault pr trickle "$TRICKLE" reply > /dev/null
t0=$(h__now_us)
until_us=$(( t0 + (TTL + 2000) * 1000 ))
ra=1
while [ "$(h__now_us)" -lt "$until_us" ]; do
    ra=$(role a); rb=$(role b)
    # both active only if a is still active after b was read (a yielding
    # between the two reads is no overlap)
    [ "$ra" = 1 ] && [ "$rb" = 1 ] && [ "$(role a)" = 1 ] && h_fail "two active nodes $(h__elapsed "$t0") s into the trickle (a's lease ran out while its calls crawled)"
    [ "$ra" = 0 ] && break
    sleep 0.1
done
[ "$ra" = 0 ] || h_fail "a still active $(h__elapsed "$t0") s into the trickle (ttl_ms $TTL): its calls crawl"
h_ok "the election under a $TRICKLE ms trickle: a left active after $(h__elapsed "$t0") s (ttl_ms $TTL), never two actives"
[ "$(metric aggregatord_election_redis_errors_total)" -gt "$e0" ] || h_fail "the timed-out rounds were not counted"
n=$(grep -cE 'elect: election: redis .*timed out after [0-9]+ ms \(whole call\)' "$H_TMP/a.log" || true)
[ "$n" = 1 ] || h_fail "the whole-call timeout logged $n times by the election, want once"
ms=$(grep -oE 'elect: election: redis .*timed out after [0-9]+ ms' "$H_TMP/a.log" | grep -oE '[0-9]+ ms$' | cut -d' ' -f1)
[ "$ms" -ge "$TIMEOUT" ] && [ "$ms" -lt $(( TIMEOUT + 1000 )) ] || h_fail "the election's call timed out after $ms ms, want about $TIMEOUT"
h_ok "the election's call failed after $ms ms (timeout_ms $TIMEOUT, whole call), logged once, counted"

# --- 2. a totals query under the trickle ---
q0=$(h__now_us)
code=$(agg_get a '/v1/totals?prefix=n&window=3600' -o /dev/null -w '%{http_code}' --max-time 60 || true)
qms=$(( ($(h__now_us) - q0) / 1000 ))
case $code in 200|503) ;; *) h_fail "totals query under the trickle: HTTP $code after $qms ms" ;; esac
[ "$qms" -lt $(( TIMEOUT + 1500 )) ] || h_fail "totals query under the trickle took $qms ms (timeout_ms $TIMEOUT)"
h_ok "a totals query under the trickle answers $code in $qms ms (timeout_ms $TIMEOUT + 1500 ms margin)"

# --- 3. the totalizer under the trickle ---
tz_feed "$sent" 201 400 7 "$uport"
h_wait_until 10 agg_metric_is a aggregatord_totalizer_lines_total 600 || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 600"
h_wait_until 10 agg_metric_is a aggregatord_totalizer_redis_up 0 || h_fail "the flusher's calls do not fail under the trickle"
agg_log_has a 'flush: totalizer: redis .*timed out after [0-9]+ ms \(whole call\); holding' \
    || h_fail "no log line for the flusher's timed-out call"
h_fault pr pass > /dev/null
h_wait_until 20 stored_is_sent || h_fail "after pass: Redis holds $(tz_stored r n | tr '\n' ' '), sent $(tz_oracle "$sent" | tr '\n' ' ')"
h_wait_until 10 agg_metric_is a aggregatord_totalizer_redis_up 1 || h_fail "the flusher does not see Redis again"
tz_feed "$sent" 601 100 7 "$uport"
h_wait_until 10 stored_is_sent || h_fail "after a further flush: $(tz_stored r n | tr '\n' ' ') (a batch applied twice?)"
h_ok "the totalizer under the trickle: 700 lines sent, exactly 700 in Redis per key once the proxy passes"
h_wait_until 10 eval '[ "$(role a)" = 1 ] && [ "$(role b)" = 0 ]' || h_fail "after pass: a=$(role a) b=$(role b)"

# --- 4. SIGTERM with Redis frozen and counts held ---
h_fault pr freeze > /dev/null
tz_feed "$sent" 701 300 7 "$uport"
h_wait_until 10 agg_metric_is a aggregatord_totalizer_lines_total 1000 || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 1000"
h_wait_until 10 agg_metric_is a aggregatord_totalizer_redis_up 0 || h_fail "the flusher's calls do not fail while frozen"
t0=$(h__now_us)
h_stop a 10 || h_fail "a still running 10 s after SIGTERM with Redis frozen"
stop_s=$(h__elapsed "$t0")
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
agg_log_has a 'totalizer: redis unreachable at stop: [0-9]+ count\(s\) in [0-9]+ key\(s\) kept in' \
    || h_fail "no log line saying the held counts were kept"
! no_held_files || h_fail "no held-counts file under $held"
h_fault pr pass > /dev/null
agg_start a "$H_TMP/a.conf"
h_wait_until 20 stored_is_sent || h_fail "after restart: Redis holds $(tz_stored r n | tr '\n' ' '), sent $(tz_oracle "$sent" | tr '\n' ' ')"
h_wait_until 10 no_held_files || h_fail "held-counts files left: $(ls "$held")"
tz_feed "$sent" 1001 100 7 "$uport"
h_wait_until 10 stored_is_sent || h_fail "after a further flush: $(tz_stored r n | tr '\n' ' ') (held counts applied twice?)"
h_ok "SIGTERM with Redis frozen: exit 0 after $stop_s s, counts kept; after restart 1100 lines sent, exactly 1100 in Redis per key"
h_stop a 30 || h_fail "a did not exit"
h_stop b 30 || h_fail "b did not exit"
