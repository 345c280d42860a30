#!/usr/bin/env bash
# test_clockstep.sh — the wall clock stepped back two hours while the daemon
# runs (libfaketime, its offset read from a file at every call: the Debian
# package `faketime`; CLOCK_MONOTONIC is left alone, as a real step leaves
# it): the totalizer keeps flushing every flush_ms and WATCHDOG=1 keeps
# coming.  The oracle is Redis (counts exact, and the keys' start_ts shows
# the daemon saw the step) and the NOTIFY_SOCKET listener.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log c; h_cleanup' EXIT

FT=$(faketime_lib) || h_fail "libfaketime is not installed (Debian package faketime; scripts/deps.sh)"

h_start_redis r
uport=$(h_free_port udp)
conf=$H_TMP/c.conf
cat > "$conf" <<CONF
node = { name = "c1"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$(h_free_port tcp)"; };
redis = { port = $r_PORT; };
totalizer = { flush_ms = 500; rules = (
  { prefix = "seq"; listen = "127.0.0.1:$uport"; match = "seq=(\\\\d+)"; matched = "\$1"; source = "s";
    ttl = 86400; buckets = 24; } ); };
CONF
R() { h_redis r "$@"; }
send() { seq "$1" "$2" | sed 's/^/seq=/' | "$H_BIN/htool" udp-send 127.0.0.1 "$uport"; }
pings() { grep -cx 'WATCHDOG=1' "$n_OUT" || true; }
ts_of() { R --scan --pattern "seq;$1;*" | sed 's/.*;//'; }

ft=$H_TMP/faketime.rc
echo "+0" > "$ft"
h_start_notify n
# A sanitized build must not insist on coming first in the library list.
agg_start c "$conf" LD_PRELOAD="$FT" FAKETIME_TIMESTAMP_FILE="$ft" FAKETIME_NO_CACHE=1 \
    FAKETIME_DONT_FAKE_MONOTONIC=1 NOTIFY_SOCKET="$n_SOCKET" WATCHDOG_USEC=4000000 \
    ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0"
h_wait_until 10 agg_healthy c || h_fail "daemon did not start"
send 1 50
h_wait_until 10 agg_metric_is c aggregatord_totalizer_counted_total 50 || h_fail "the first 50 counts were not flushed"
h_wait_until 10 sh -c "[ \$(grep -cx 'WATCHDOG=1' '$n_OUT') -ge 2 ]" || h_fail "no pings before the step"
h_ok "flushing and pinging under libfaketime"

# two hours: the keys' hour buckets differ by at least one even if an hour
# turns between the sends before and after the step
echo "-7200" > "$ft"
p0=$(pings)
# a flush interval and a watchdog interval for the step to be in force everywhere
h_wait_until 5 sh -c "[ \$(grep -cx 'WATCHDOG=1' '$n_OUT') -ge $((p0 + 1)) ]" || h_fail "no ping right after the step"
send 51 100
h_wait_until 15 agg_metric_is c aggregatord_totalizer_counted_total 100 ||
    h_fail "flushes stopped after the wall clock stepped back: counted $(agg_metric c aggregatord_totalizer_counted_total), want 100"
n=$(R --scan --pattern 'seq;*' | wc -l)
sum=$(R --scan --pattern 'seq;*' | xargs -r redis-cli -p "$r_PORT" MGET | awk '{ s += $1 } END { print s + 0 }')
[ "$n" = 100 ] && [ "$sum" = 100 ] || h_fail "Redis holds $n key(s) summing to $sum, want 100 and 100"
a=$(ts_of 1) b=$(ts_of 100)
[ -n "$a" ] && [ -n "$b" ] && [ "$b" -le $((a - 3600)) ] ||
    h_fail "the daemon did not see the step (start_ts $a before, $b after)"
h_ok "the wall clock stepped back two hours: flushes go on (100 counts exact in Redis, start_ts $a -> $b)"

p1=$(pings)
# 8 s at a ping every 2 s: 4 pings; ask for 3.
h_wait_until 20 sh -c "[ \$(grep -cx 'WATCHDOG=1' '$n_OUT') -ge $((p1 + 3)) ]" || h_fail "WATCHDOG=1 stopped after the step"
agg_log_has c 'withholding the watchdog' && h_fail "a ping was withheld after the step"
h_ok "WATCHDOG=1 keeps coming after the step, none withheld"
h_stop c 10
