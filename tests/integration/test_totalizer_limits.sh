#!/usr/bin/env bash
# test_totalizer_limits.sh — the totalizer's memory and queue limits against
# a real Redis: max_pending_keys only holds back keys while Redis fails (5,000
# junk + 10 legitimate distinct keys in one interval all land with Redis up);
# a flood of distinct keys while Redis is stopped stays within max_keys (RSS
# bounded, every line stored or counted as a drop) and RSS falls back near
# its baseline once Redis answers; the totals query queue refuses past
# max_queries with a 503 and a JSON error, counted.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log t; kill -CONT "$(h_pid r1 2>/dev/null)" 2>/dev/null || true; h_cleanup' EXIT
HTOOL=$H_BIN/htool
# Under AddressSanitizer freed memory sits in its quarantine and every block
# has red zones: RSS says nothing about the daemon's own bound there, so the
# RSS checks are skipped (every data check still runs) and the flood is sent
# slower for the slower receive threads.
asan=0; gap=1000
if ldd "$AGGD" | grep -q libasan; then asan=1; gap=2500; fi

h_start_redis r1
R() { h_redis r1 "$@"; }
uport=$(h_free_port udp)
hport=$(h_free_port tcp)
conf=$H_TMP/t.conf
max_keys=50000
cat > "$conf" <<CONF
node = { name = "tl-a"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$hport"; };
redis = { port = $r1_PORT; timeout_ms = 2000; };
totalizer = {
  flush_ms = 1000; threads = 2; max_pending_keys = 1000;
  max_keys = $max_keys;
  max_queries = 2;
  rules = (
    { name = "junk"; prefix = "j"; listen = "127.0.0.1:$uport";
      match = "^junk (\\\\S+)"; matched = "\$1"; source = "s"; ttl = 86400; buckets = 1; },
    { name = "legit"; prefix = "l"; listen = "127.0.0.1:$uport";
      match = "^legit (\\\\S+)"; matched = "\$1"; source = "s"; ttl = 86400; buckets = 1; }
  );
};
CONF
"$AGGD" -n -c "$conf" >/dev/null || h_fail "config rejected: $("$AGGD" -n -c "$conf" 2>&1)"
agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start"
pid=$(h_pid t)
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status"; }
hwm_kb() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status"; }
metric() { v=$(agg_metric t "$1"); echo "${v:-0}"; }
sum_keys() {	# PATTERN -> sum of the values of the matching keys
    R --scan --pattern "$1" | xargs -r -n 1000 redis-cli -h 127.0.0.1 -p "$r1_PORT" MGET |
        awk '{ s += $1 } END { print s + 0 }'
}

# --- 5,000 junk + 10 legitimate distinct keys in one interval, Redis up ---
{
    for i in $(seq 1 5000); do echo "junk a$i"; done
    for i in $(seq 1 10); do for _ in $(seq 1 "$i"); do echo "legit user$i"; done; done
} | shuf --random-source=<(yes) > "$H_TMP/mixed.txt"
"$HTOOL" udp-send -n 50 127.0.0.1 "$uport" < "$H_TMP/mixed.txt"
h_wait_until 20 agg_metric_is t aggregatord_totalizer_counted_total 5055 \
    || h_fail "counted $(metric aggregatord_totalizer_counted_total), want 5055; $(agg_get t /metrics | grep dropped | tr '\n' ' ')"
for i in $(seq 1 10); do
    got=$(R --scan --pattern "l;user$i;s;*" | xargs -r redis-cli -h 127.0.0.1 -p "$r1_PORT" MGET)
    [ "$got" = "$i" ] || h_fail "legitimate key user$i holds '$got', want $i"
done
[ "$(R --scan --pattern 'j;*' | wc -l)" = 5000 ] || h_fail "junk keys: $(R --scan --pattern 'j;*' | wc -l), want 5000"
[ "$(metric 'aggregatord_totalizer_dropped_total{cause="pending_overflow"}')" = 0 ] || h_fail "pending_overflow counted with Redis up"
h_ok "max_pending_keys=1000, Redis up: 5,000 junk + 10 legitimate keys in one interval all stored, counts exact"

# --- a flood of distinct keys while Redis is stopped ---
R FLUSHALL > /dev/null
c0=$(metric aggregatord_totalizer_counted_total)
l0=$(metric aggregatord_totalizer_lines_total)
seq -f 'junk k%.0f' 1 1000000 > "$H_TMP/flood.txt"
base_kb=$(rss_kb)
echo 5 > "/proc/$pid/clear_refs"	# VmHWM := VmRSS
kill -STOP "$(h_pid r1)"
"$HTOOL" udp-send -n 100 -i "$gap" 127.0.0.1 "$uport" < "$H_TMP/flood.txt"
h_wait_until 60 agg_metric_is t aggregatord_totalizer_lines_total $((l0 + 1000000)) \
    || h_fail "lines: $(( $(metric aggregatord_totalizer_lines_total) - l0 )) of 1000000 received; kernel drops $(metric 'aggregatord_totalizer_dropped_total{cause="kernel_overflow"}')"
peak_kb=$(hwm_kb)
kill -CONT "$(h_pid r1)"
# every line is written or counted as a drop
settled() {
    local c kl po
    c=$(metric aggregatord_totalizer_counted_total)
    kl=$(metric 'aggregatord_totalizer_dropped_total{cause="keys_limit"}')
    po=$(metric 'aggregatord_totalizer_dropped_total{cause="pending_overflow"}')
    [ $((c - c0 + kl + po)) = 1000000 ]
}
h_wait_until 60 settled || h_fail "counted $(( $(metric aggregatord_totalizer_counted_total) - c0 )) + dropped: $(agg_get t /metrics | grep dropped_total | tr '\n' ' ')"
[ "$(metric aggregatord_totalizer_pending_keys)" = 0 ] || h_fail "keys still held"
# Bound: the receive tables hold at most max_keys, the flusher at most
# max_keys (the batch that failed) + max_pending_keys; 384 bytes a key with
# the key text, slots and table growth, plus 8 MiB of slack.
bound_kb=$(( (2 * max_keys + 1000) * 384 / 1024 + 8192 ))
grow_kb=$(( peak_kb - base_kb ))
[ "$asan" = 1 ] || [ "$grow_kb" -le "$bound_kb" ] || h_fail "RSS grew by $grow_kb KiB during the flood (baseline $base_kb KiB), bound $bound_kb KiB"
stored=$(sum_keys 'j;*')
kl=$(metric 'aggregatord_totalizer_dropped_total{cause="keys_limit"}')
po=$(metric 'aggregatord_totalizer_dropped_total{cause="pending_overflow"}')
[ $((stored + kl + po)) = 1000000 ] || h_fail "Redis holds $stored + keys_limit $kl + pending_overflow $po != 1000000 lines sent"
[ "$kl" -gt 0 ] || h_fail "no keys_limit drop counted"
[ "$(metric 'aggregatord_totalizer_dropped_lines_total{rule="junk",cause="keys_limit"}')" = "$kl" ] || h_fail "per-rule keys_limit count"
[ "$(metric 'aggregatord_totalizer_dropped_lines_total{rule="legit",cause="keys_limit"}')" = 0 ] || h_fail "legit rule charged"
[ "$(metric aggregatord_totalizer_counted_total)" = $((c0 + stored)) ] || h_fail "counted_total differs from what Redis holds"
agg_log_has t 'distinct keys.*totalizer.max_keys' || h_fail "the limit was not logged"
[ "$asan" = 0 ] || echo "# AddressSanitizer build: RSS not checked"
h_ok "1M distinct keys with Redis stopped: RSS +$((grow_kb / 1024)) MiB over $((base_kb / 1024)) MiB (bound $((bound_kb / 1024)) MiB); stored $stored + dropped $kl (keys_limit) + $po (pending_overflow) = 1M"

# memory goes back once the tables are written and shrunk: at least 3/4 of
# the growth returned (2 MiB of slack for the allocator)
back() { [ "$(rss_kb)" -le $((base_kb + grow_kb / 4 + 2048)) ]; }
if [ "$asan" = 0 ]; then
    h_wait_until 60 back || h_fail "RSS $(rss_kb) KiB a minute after the flood, baseline $base_kb KiB"
    h_ok "RSS back near baseline after the flood: $(rss_kb) KiB (baseline $base_kb KiB, peak $peak_kb KiB)"
fi

# --- the totals query queue is bounded ---
kill -STOP "$(h_pid r1)"
url="$t_URL/v1/totals?prefix=l"
qpids=()
for i in 1 2; do curl -s --max-time 30 -o "$H_TMP/q$i.out" "$url" & qpids+=($!); done
h_wait_until 10 agg_metric_is t aggregatord_totalizer_queries_queued 2 || h_fail "queries_queued: $(metric aggregatord_totalizer_queries_queued)"
code=$(curl -s --max-time 5 -o "$H_TMP/q3.out" -w '%{http_code}' "$url")
[ "$code" = 503 ] || h_fail "a query past max_queries got $code"
grep -q '^{"error":".*queries' "$H_TMP/q3.out" || h_fail "503 body: $(cat "$H_TMP/q3.out")"
[ "$(metric aggregatord_totalizer_queries_refused_total)" = 1 ] || h_fail "refused query not counted"
kill -CONT "$(h_pid r1)"
wait "${qpids[@]}" || true
h_wait_until 10 agg_metric_is t aggregatord_totalizer_queries_queued 0 || h_fail "queue did not drain"
code=$(curl -s --max-time 10 -o "$H_TMP/q4.out" -w '%{http_code}' "$url")
[ "$code" = 200 ] || h_fail "a query after the queue drained got $code: $(cat "$H_TMP/q4.out")"
h_ok "max_queries=2: a third concurrent totals query gets 503 with a JSON error, counted; the queue drains"

h_stop t 10
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
