#!/usr/bin/env bash
# test_fault_totalizer_listen.sh — the totalizer's UDP sockets across
# reloads (docs/totalizer.md, Reload), against a real Redis; the oracle is
# the lines this test sent, counted per key, and the kernel's socket table
# (ss) for what is bound.
#  1. A reload whose second new address is taken by another process (bound
#     between the config check, which does not bind, and the reload): the
#     totalizer refuses the new rules and keeps counting on the old ones,
#     and the first new address, already opened, is closed again.
#  2. A reload moving the rule to another port: the old socket is closed,
#     lines to the new one are counted, each once.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log t; ss -Hlun >&2 || true; }; h_cleanup' EXIT

tz_setup fl-a
bound() { [ -n "$(ss -Hlun "sport = :$1")" ]; }
in_force() { grep -c 'rule(s) on .* address(es) in force' "$H_TMP/t.log" || true; }
# conf_on PORT [PORT2]: rule n on PORT, and a rule m on PORT2 when given
conf_on() {
    local extra=""
    [ -z "${2:-}" ] || extra=",
    { name = \"m\"; prefix = \"m\"; listen = \"127.0.0.1:$2\";
      match = \"^line (\\\\\\\\d+) (\\\\\\\\S+)\"; matched = \"\$2\"; source = \"s\"; ttl = 86400; buckets = 1; }"
    cat > "$conf.new" <<CONF
node = { name = "fl-a"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$hport"; };
redis = { port = $r1_PORT; timeout_ms = 500; };
totalizer = {
  flush_ms = 200; threads = 2;
  rules = (
    { name = "n"; prefix = "n"; listen = "127.0.0.1:$1";
      match = "^line (\\\\d+) (\\\\S+)"; matched = "\$2"; source = "s"; ttl = 86400; buckets = 1; }$extra
  );
};
CONF
    "$AGGD" -n -c "$conf.new" > /dev/null || h_fail "config rejected: $("$AGGD" -n -c "$conf.new" 2>&1)"
    mv "$conf.new" "$conf"
}
s1=$H_TMP/s1.txt s2=$H_TMP/s2.txt; : > "$s1"; : > "$s2"

agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start"
feed "$s1" 1 300 30
h_wait_until 20 stored_is "$s1" || h_fail "Redis holds: $(stored | tr '\n' ' ')"

# 1. the second new address taken
p2=$(h_free_port udp)
p3=$(h_free_port udp)
[ "$p2" != "$p3" ] || p3=$(h_free_port udp)
h_spawn hold "$H_TMP/hold.log" python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $p3))
time.sleep(3600)"
h_wait_until 10 bound "$p3" || h_fail "the holder did not bind $p3"
conf_on "$p2" "$p3"
h_signal t HUP
h_wait_until 20 agg_log_has t "job 'totalizer' refused its new settings" || h_fail "the reload was not refused"
agg_log_has t "cannot listen on UDP '127.0.0.1:$p3': Address already in use" || h_fail "no log line for the taken address"
! bound "$p2" || h_fail "127.0.0.1:$p2, opened for the refused rules, stays bound: $(ss -Hlunp "sport = :$p2")"
bound "$uport" || h_fail "the old address was closed by a refused reload"
feed "$s1" 301 200 30
h_wait_until 20 stored_is "$s1" || h_fail "after the refused reload Redis holds: $(stored | tr '\n' ' '); want $(oracle "$s1" | tr '\n' ' ')"
[ -z "$(R --scan --pattern 'm;*')" ] || h_fail "rule m of the refused config counted"
h_ok "a reload with a new address taken by another process: refused, the old rules count on (500 lines exact), the other new address closed again"

# 2. the rule moved to another port
h_stop hold
n=$(in_force)
conf_on "$p2"
h_signal t HUP
moved() { [ "$(in_force)" -gt "$n" ]; }
h_wait_until 20 moved || h_fail "the reload to $p2 was not applied"
agg_log_has t "no rule listens on udp 127.0.0.1:$uport any more: closed" || h_fail "no log line for the closed address"
h_wait_until 5 eval '! bound "$uport"' || h_fail "127.0.0.1:$uport still bound: $(ss -Hlunp "sport = :$uport")"
bound "$p2" || h_fail "127.0.0.1:$p2 not bound after the reload"
tz_feed "$s2" 501 200 20 "$p2"
cat "$s1" "$s2" > "$H_TMP/all.txt"
h_wait_until 20 stored_is "$H_TMP/all.txt" || h_fail "after the move Redis holds: $(stored | tr '\n' ' '); want $(oracle "$H_TMP/all.txt" | tr '\n' ' ')"
h_stop t
stored_is "$H_TMP/all.txt" || h_fail "after the stop Redis holds: $(stored | tr '\n' ' ')"
h_ok "a reload moving the rule to another port: the old socket closed, the 200 lines to the new one counted once, the 500 before kept"
