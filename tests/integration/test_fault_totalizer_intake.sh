#!/usr/bin/env bash
# test_fault_totalizer_intake.sh — the totalizer's intake paths where lines
# can be dropped or mislabelled (docs/totalizer.md, "Datagrams and lines",
# "Exactness"), against a real Redis, every check on what Redis holds or on
# the kernel's own count:
#  1. The default source (no `source` key: "$peer"), end to end: lines sent
#     from 127.0.0.1 and from 127.0.0.2 land in keys carrying each sender's
#     address, each with its own exact count.
#  2. Pending overflow: Redis stopped, 990 keys held (the batch that failed
#     and pending), then 1300 new keys of 2 lines each against
#     max_pending_keys = 1000: every held key is exact, every new key is
#     whole or absent (never a part), what is absent is what dropped_total
#     {cause="pending_overflow"} counts, and Redis gets every key held.
#  3. Kernel drops: a 4 KiB receive buffer and a burst of one-line
#     datagrams; the daemon's kernel_overflow count equals the drops the
#     kernel reports for the socket (/proc/net/udp), and lines counted +
#     dropped = lines sent.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log t; kill -CONT "$(h_pid r1 2>/dev/null)" 2>/dev/null || true; h_cleanup' EXIT
HTOOL=$H_BIN/htool

h_start_redis r1
R() { h_redis r1 "$@"; }
uport=$(h_free_port udp)
hport=$(h_free_port tcp)
conf=$H_TMP/t.conf
# write_conf RCVBUF
write_conf() {
cat > "$conf" <<CONF
node = { name = "fi-a"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$hport"; };
redis = { port = $r1_PORT; timeout_ms = 500; };
totalizer = {
  flush_ms = 200; threads = 1; rcvbuf = $1; max_pending_keys = 1000;
  rules = (
    { name = "n"; prefix = "n"; listen = "127.0.0.1:$uport";
      match = "^line (\\\\d+) (\\\\S+)"; matched = "\$2"; ttl = 86400; buckets = 1; }
  );
};
CONF
}
write_conf 8388608
"$AGGD" -n -c "$conf" >/dev/null || h_fail "config rejected: $("$AGGD" -n -c "$conf" 2>&1)"
metric() { tz_metric t "$1"; }
lines_are() { [ "$(metric aggregatord_totalizer_lines_total)" = "$1" ]; }
# stored: "matched source count" per key, sorted (summed over start_ts)
stored() {
    R --scan --pattern 'n;*' | sort | while IFS= read -r k; do
        printf '%s %s\n' "$(printf '%s' "$k" | cut -d';' -f2,3 | tr ';' ' ')" "$(R GET "$k")"
    done | awk '{ n[$1 " " $2] += $3 } END { for (k in n) print k, n[k] }' | sort
}
# send_from ADDR FILE: each line of FILE as one datagram from ADDR
send_from() {
    python3 - "$1" "$uport" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
for line in open(sys.argv[3], 'rb'):
    s.sendto(line, ('127.0.0.1', int(sys.argv[2])))
PY
}

agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start"

# --- 1. source = "$peer" by default ---
awk 'BEGIN { for (i = 1; i <= 60; i++) printf "line %d a%d\n", i, i % 3 }' > "$H_TMP/a.txt"
awk 'BEGIN { for (i = 1; i <= 40; i++) printf "line %d a%d\n", i, i % 2 }' > "$H_TMP/b.txt"
send_from 127.0.0.1 "$H_TMP/a.txt"
send_from 127.0.0.2 "$H_TMP/b.txt"
want=$( { awk '{ n[$3 " 127.0.0.1"]++ } END { for (k in n) print k, n[k] }' "$H_TMP/a.txt"
          awk '{ n[$3 " 127.0.0.2"]++ } END { for (k in n) print k, n[k] }' "$H_TMP/b.txt"; } | sort)
stored_is_want() { [ "$(stored)" = "$want" ]; }
h_wait_until 20 stored_is_want || h_fail "Redis holds: $(stored | tr '\n' ' '); want $(printf '%s' "$want" | tr '\n' ' ')"
h_ok "default source \$peer: keys carry 127.0.0.1 and 127.0.0.2, each count exact"

# --- 2. pending overflow while Redis is stopped ---
R FLUSHALL > /dev/null
c0=$(metric aggregatord_totalizer_counted_total)
l0=$(metric aggregatord_totalizer_lines_total)
e0=$(metric aggregatord_totalizer_redis_errors_total)
kill -STOP "$(h_pid r1)"
awk 'BEGIN { for (i = 0; i < 990; i++) printf "line %d p%d\n", i, i }' > "$H_TMP/p.txt"
"$HTOOL" udp-send -i 200 127.0.0.1 "$uport" < "$H_TMP/p.txt"
h_wait_until 20 lines_are $((l0 + 990)) || h_fail "lines received: $(( $(metric aggregatord_totalizer_lines_total) - l0 )) of 990"
errs_over() { [ "$(metric aggregatord_totalizer_redis_errors_total)" -gt "$1" ]; }
h_wait_until 20 errs_over "$e0" || h_fail "the write to a stopped Redis did not fail"
# every p key is held now (in the failed batch or in pending) before q comes
held_p() { [ "$(metric aggregatord_totalizer_pending_keys)" = 990 ]; }
h_wait_until 20 held_p || h_fail "pending_keys $(metric aggregatord_totalizer_pending_keys), want 990"
awk 'BEGIN { for (r = 0; r < 2; r++) for (i = 0; i < 1300; i++) printf "line %d q%d\n", i, i }' > "$H_TMP/q.txt"
"$HTOOL" udp-send -i 200 127.0.0.1 "$uport" < "$H_TMP/q.txt"
h_wait_until 30 lines_are $((l0 + 990 + 2600)) || h_fail "lines received: $(( $(metric aggregatord_totalizer_lines_total) - l0 )) of 3590"
po_seen() { [ "$(metric 'aggregatord_totalizer_dropped_total{cause="pending_overflow"}')" -gt 0 ]; }
h_wait_until 20 po_seen || h_fail "no pending_overflow drop counted"
# every line merged (the receive tables empty) while Redis is still away:
# what came after Redis answers is no overflow
h_wait_until 20 agg_metric_is t aggregatord_totalizer_keys 0 || h_fail "the receive tables still hold $(metric aggregatord_totalizer_keys) key(s)"
pk=$(metric aggregatord_totalizer_pending_keys)
kill -CONT "$(h_pid r1)"
po=$(metric 'aggregatord_totalizer_dropped_total{cause="pending_overflow"}')
settled() { [ $(( $(metric aggregatord_totalizer_counted_total) - c0 + $(metric 'aggregatord_totalizer_dropped_total{cause="pending_overflow"}') )) = 3590 ]; }
h_wait_until 30 settled || h_fail "counted $(( $(metric aggregatord_totalizer_counted_total) - c0 )) + pending_overflow $(metric 'aggregatord_totalizer_dropped_total{cause="pending_overflow"}') != 3590"
po=$(metric 'aggregatord_totalizer_dropped_total{cause="pending_overflow"}')
stored > "$H_TMP/stored2.txt"
bad=$(awk '$1 ~ /^p/ && $3 != 1 || $1 ~ /^q/ && $3 != 2' "$H_TMP/stored2.txt" | sed -n 1,5p)
[ -z "$bad" ] || h_fail "keys with a wrong count (p must be 1, q whole at 2): $bad"
np=$(grep -c '^p' "$H_TMP/stored2.txt" || true)
nq=$(grep -c '^q' "$H_TMP/stored2.txt" || true)
[ "$np" = 990 ] || h_fail "$np of the 990 held keys in Redis"
[ $(( nq * 2 + po )) = 2600 ] || h_fail "q keys stored $nq (x2) + dropped $po != 2600 lines"
[ "$nq" -gt 0 ] && [ "$nq" -lt 1300 ] || h_fail "$nq of 1300 new keys kept against max_pending_keys = 1000"
[ "$pk" = $((990 + nq)) ] || h_fail "held $pk key(s) before Redis came back, Redis got 990 + $nq"
h_ok "pending overflow: 990 held keys exact, $nq of 1300 new keys whole, $po line(s) of the rest counted as pending_overflow"

# --- 3. kernel drops on a tiny receive buffer (a restart: rcvbuf is read at start) ---
h_stop t
write_conf 4096
agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not restart"
l0=$(metric aggregatord_totalizer_lines_total)
k0=$(metric 'aggregatord_totalizer_dropped_total{cause="kernel_overflow"}')
hexport=$(printf '%04X' "$uport")
# udp_sum FIELD: FIELD of the port's sockets in /proc/net/udp, summed
# (drops: the last field, decimal; rx_queue: "tx:rx" in hex)
udp_sum() {
    awk -v p=":$hexport" -v f="$1" '$2 ~ p"$" { print (f == "rx_queue") ? "16#" substr($5, index($5, ":") + 1) : $NF }' /proc/net/udp |
        { s=0; while read -r v; do s=$((s + v)); done; echo $s; }
}
kdrops() { udp_sum drops; }
d0=$(kdrops)
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "line %d k%d\n", i, i % 50 }' > "$H_TMP/k.txt"
"$HTOOL" udp-send 127.0.0.1 "$uport" < "$H_TMP/k.txt"
# the kernel says how many it dropped on the next datagram the daemon reads:
# one more line once the burst is read, i.e. once the port's receive queues
# are empty (/proc/net/udp's rx_queue; a pause in the reading would let a
# datagram sent earlier be dropped too, with no datagram after it to tell)
rxq() { udp_sum rx_queue; }
h_wait_until 30 eval '[ "$(rxq)" = 0 ]' || h_fail "the burst is still being read ($(rxq) bytes queued)"
echo "line 0 last" | "$HTOOL" udp-send 127.0.0.1 "$uport"
lines=0 kd=0
accounted() {
    lines=$(( $(metric aggregatord_totalizer_lines_total) - l0 ))
    kd=$(( $(metric 'aggregatord_totalizer_dropped_total{cause="kernel_overflow"}') - k0 ))
    [ $((lines + kd)) = 20001 ]
}
h_wait_until 20 accounted || h_fail "lines $lines + kernel drops $kd != 20001 sent"
kernel=$(( $(kdrops) - d0 ))
[ "$kd" -gt 0 ] || h_fail "no kernel drop with a 4 KiB buffer (the test did not overflow it)"
[ "$kd" = "$kernel" ] || h_fail "daemon counts $kd kernel drops, /proc/net/udp $kernel"
h_ok "kernel drops: $kd counted = $kernel in /proc/net/udp; $lines lines + $kd dropped = 20001 sent"

h_stop t
