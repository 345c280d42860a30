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
#  5. The totals query with an MGET failing after other pages were read (a
#     key the daemon's Redis user may not read, found on a later SCAN page):
#     the query answers an error, never a partial total.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log t; h_cleanup' EXIT
HTOOL=$H_BIN/htool

tz_setup ft-a
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

# the keys are the UTC day's (and section 5's window total is pro-rated
# across a day's end): the test must not straddle midnight UTC
agg_room_before 86400
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

# error_cycle WHAT FILE FIRST: while an injected fault makes Redis answer
# every EVAL with an error, 1850 lines in 37 keys are held, none applied;
# then the fault is undone by the caller's undo_fault and Redis holds the
# oracle exactly.
error_cycle() {
    local what=$1 f=$2 first=$3 c0 e0
    c0=$(metric aggregatord_totalizer_counted_total)
    e0=$(metric aggregatord_totalizer_redis_errors_total)
    local before; before=$(stored)
    feed "$f" "$first" 1850 37
    h_wait_until 20 lines_are $((first + 1849)) || h_fail "$what: lines received: $(metric aggregatord_totalizer_lines_total) of $((first + 1849))"
    h_wait_until 20 errs_over $((e0 + 2)) || h_fail "$what: no error reply seen"
    [ "$(stored)" = "$before" ] || h_fail "$what: Redis changed while every EVAL was refused"
    [ "$(metric aggregatord_totalizer_counted_total)" = "$c0" ] || h_fail "$what: counted_total moved while refused"
    # 37 keys, in the failed batch or in pending or (lines on both sides of
    # a tick) in both
    local pk; pk=$(metric aggregatord_totalizer_pending_keys)
    [ "$pk" -ge 37 ] && [ "$pk" -le 74 ] || h_fail "$what: pending_keys $pk, want 37 to 74"
    undo_fault
    h_wait_until 20 stored_is "$f" || h_fail "$what: after the fault, Redis holds: $(stored | tr '\n' ' '); want $(oracle "$f" | tr '\n' ' ')"
    h_wait_until 10 agg_metric_is t aggregatord_totalizer_counted_total $((c0 + 1850)) || h_fail "$what: counted_total $(metric aggregatord_totalizer_counted_total), want $((c0 + 1850))"
}

# --- 2. EVAL denied by ACL: NOPERM error replies ---
R ACL SETUSER default -eval -evalsha > /dev/null
undo_fault() { R ACL SETUSER default +eval +evalsha > /dev/null; }
error_cycle NOPERM "$sent" 3701
agg_log_has t 'NOPERM' || h_fail "the NOPERM reply is not logged"
h_ok "EVAL denied by ACL: held, none applied while denied, exactly once after (5550 in all)"

# --- 3. Redis out of memory: OOM error replies ---
R CONFIG SET maxmemory-policy noeviction > /dev/null
R CONFIG SET maxmemory 1 > /dev/null
undo_fault() { R CONFIG SET maxmemory 0 > /dev/null; }
error_cycle OOM "$sent" 5551
agg_log_has t 'OOM' || h_fail "the OOM reply is not logged"
h_ok "Redis out of memory: held, none applied while OOM, exactly once after (7400 in all)"

# --- 4. a batch applied whose reply was lost, seen to happen ---
h_spawn mon "$H_TMP/monitor.txt" redis-cli -p "$r1_PORT" MONITOR
mon_up() { grep -q . "$H_TMP/monitor.txt" 2>/dev/null || { R PING > /dev/null; false; }; }
h_wait_until 10 mon_up || h_fail "MONITOR did not start"
e0=$(metric aggregatord_totalizer_redis_errors_total)
kill -STOP "$(h_pid r1)"
feed "$sent" 7401 1850 37
h_wait_until 20 lines_are 9250 || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 9250"
# the daemon gave up on its EVAL (timeout 500 ms) and tries again: the
# first EVAL is in Redis's socket, its reply will never be read
h_wait_until 20 errs_over $((e0 + 1)) || h_fail "the write to a stopped Redis did not time out"
kill -CONT "$(h_pid r1)"
h_wait_until 20 stored_is "$sent" || h_fail "Redis holds: $(stored | tr '\n' ' '); want $(oracle "$sent" | tr '\n' ' ')"
# MONITOR shows each command a script runs: a batch id SET twice or more is a
# chunk run again after Redis had applied it (the later SET NX finds the id)
twice=$(grep -o '\[0 lua\] "SET" "aggregatord:batch:[^"]*"' "$H_TMP/monitor.txt" | sort | uniq -d | wc -l)
[ "$twice" -ge 1 ] || h_fail "no chunk was seen run twice (the reply-lost case did not happen)"
h_ok "reply lost: $twice chunk(s) applied by Redis then retried under the same id; Redis holds each of 9250 counts once"

# --- 5. an MGET failing mid-query ---
ts=$(bucket)
R EVAL "for i = 1, 5000 do redis.call('SET', 'n;v' .. i .. ';s;' .. ARGV[1], '1') end" 0 "$ts" > /dev/null
# the key that cannot be read, moved until the daemon's query meets it
# after reading another page first (the pages are Redis's hash order)
calls=0 rejected=0
for i in $(seq 1 30); do
    bad="n;zz$i;s;$ts"
    R SET "$bad" 1 > /dev/null
    R ACL SETUSER default resetkeys '~n;u*' '~n;v*' '~aggregatord:*' > /dev/null
    R CONFIG RESETSTAT > /dev/null
    code=$(agg_get t "/v1/totals?prefix=n&window=86400" -o "$H_TMP/q.json" -w '%{http_code}')
    R ACL SETUSER default allkeys > /dev/null
    mget=$(R INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_mget://p')
    calls=$(printf '%s' "$mget" | sed -n 's/^calls=\([0-9]*\).*/\1/p' | head -1)
    rejected=$(printf '%s' "$mget" | sed -n 's/.*rejected_calls=\([0-9]*\).*/\1/p')
    [ "${calls:-0}" -ge 1 ] && [ "${rejected:-0}" -ge 1 ] && break
    R DEL "$bad" > /dev/null
done
[ "${rejected:-0}" -ge 1 ] || h_fail "no MGET was refused ($mget)"
[ "${calls:-0}" -ge 1 ] || h_fail "the refused MGET was the first (no page read before it): $mget"
[ "$code" -ge 500 ] || h_fail "a query whose MGET failed answered $code: $(cat "$H_TMP/q.json")"
grep -q '"error"' "$H_TMP/q.json" || h_fail "no error in the answer: $(cat "$H_TMP/q.json")"
! grep -q '"total"' "$H_TMP/q.json" || h_fail "a partial total was answered: $(cat "$H_TMP/q.json")"
# and the same query answers the whole total once the key can be read
want=$(( 9250 + 5000 + 1 ))
agg_get t "/v1/totals?prefix=n&window=86400" | grep -qE '"total":'"$want"'[,}]' \
    || h_fail "after the fault the total is not $want: $(agg_get t "/v1/totals?prefix=n&window=86400" | head -c 300)"
h_ok "MGET refused after $calls page(s) read: the query answered $code with an error, no partial total; $want after"

h_stop t
