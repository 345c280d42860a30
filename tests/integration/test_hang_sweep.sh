#!/usr/bin/env bash
# test_hang_sweep.sh — a member MariaDB that hangs (the fault proxy frozen:
# the connection open, no byte either way) does not stall the other member,
# and does not hold up the daemon's stop.  Members a (behind the proxy) and
# b, master ms, FreeRADIUS's schema; sweep timeout = 30 s (the default).
#   - a frozen right after a cycle, new closed rows on a and b: b's rows
#     reach master and leave b while a's thread hangs;
#   - SIGTERM while a hangs: exit 0 within 10 s (the MariaDB wait is
#     cancelled by the job's stop; before, the stop waited for the timeouts);
#   - nothing lost or doubled: master holds each session once, the sum of
#     a column set per row (an oracle computed here) is exact, after a
#     restart with a passing again every row is on master and none left on
#     the members;
#   - with timeout = 2: a's hang is counted (aggregatord_sweep_timeouts_total)
#     and logged once while b goes on.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log d; h_cleanup' EXIT

SCHEMA=$(ls /etc/freeradius/3.0/mods-config/sql/main/mysql/schema.sql 2>/dev/null || \
         find / -path '*/mods-config/sql/main/mysql/schema.sql' 2>/dev/null | head -n 1)
[ -n "$SCHEMA" ] || h_fail "FreeRADIUS's schema.sql not found (package freeradius-config)"
h_start_mariadb a b ms
for n in a b ms; do
    h_mysql "$n" -e "DROP DATABASE IF EXISTS radius; CREATE DATABASE radius"
    h_mysql "$n" radius < "$SCHEMA"
done
h_start_faultproxy pa "$a_PORT"


port=$(h_free_port tcp)
conf() { # TIMEOUT
    cat > "$H_TMP/d.conf" <<CONF
node = { name = "d"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$port"; };
sweep = { interval = 2; stale_after = 3600; batch = 50; timeout = $1;
  master = { host = "127.0.0.1"; port = $ms_PORT; user = "root"; };
  members = ( { name = "a"; host = "127.0.0.1"; port = $pa_PORT; user = "root"; },
              { name = "b"; host = "127.0.0.1"; port = $b_PORT; user = "root"; } ); };
CONF
}
conf 30
sw_rows a 1 20
sw_rows b 1 20
agg_start d "$H_TMP/d.conf"
h_wait_until 20 eval '[ "$(sw_count a)" = 0 ] && [ "$(sw_count b)" = 0 ] && [ "$(sw_count ms)" = 40 ]' \
    || h_fail "first sweep: a=$(sw_count a) b=$(sw_count b) master=$(sw_count ms)"
h_ok "both members swept through the passing proxy (40 sessions on master)"

# freeze a right after a cycle ends (the next starts 2 s later), then add rows
cycles() { agg_metric d aggregatord_sweep_cycles_total; }
c0=$(cycles)
h_wait_until 10 eval '[ "$(cycles)" -gt "$c0" ]' || h_fail "no cycle ends"
h_fault pa freeze > /dev/null
sw_rows a 21 40
sw_rows b 21 40
h_wait_until 20 eval '[ "$(sw_count b)" = 0 ]' || h_fail "b's rows stay on b while a hangs: $(sw_count b)"
[ "$(sw_master_of b)" = "$(sw_expect 40)" ] || h_fail "b on master: $(sw_master_of b), want $(sw_expect 40)"
[ "$(sw_count a)" = 20 ] || h_fail "a: $(sw_count a) rows, want its 20 new ones"
agg_get d /healthz -f > /dev/null || h_fail "/healthz while a hangs"
h_ok "a frozen: b's 20 new closed rows reach master and leave b; a keeps its rows"

t0=$(h__now_us)
h_stop d 60 || h_fail "the daemon did not exit"
took=$(h__elapsed "$t0")
[ $(( $(h__now_us) - t0 )) -le 10000000 ] || h_fail "SIGTERM while a hangs: exit took $took s"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
h_ok "SIGTERM while member a hangs: exit 0 after $took s"
[ "$(sw_master_of a)" = "$(sw_expect 20)" ] || h_fail "a on master after the stop: $(sw_master_of a), want $(sw_expect 20)"
[ "$(sw_master_of b)" = "$(sw_expect 40)" ] || h_fail "b on master after the stop: $(sw_master_of b)"
h_ok "after the stop nothing is lost or doubled on master (a: $(sw_master_of a); b: $(sw_master_of b))"

# --- the deadline: counted, logged once, b goes on ---
conf 2
: > "$H_TMP/d.log"
agg_start d "$H_TMP/d.conf"
h_wait_until 20 eval '[ "$(agg_metric d "aggregatord_sweep_timeouts_total{member=\"a\"}")" -ge 2 ]' \
    || h_fail "a's timeouts: $(agg_metric d 'aggregatord_sweep_timeouts_total{member="a"}')"
[ "$(grep -c "member 'a'.*timed out: logged again" "$H_TMP/d.log")" = 1 ] || h_fail "a's timeout is not logged once"
sw_rows b 41 60
h_wait_until 20 eval '[ "$(sw_count b)" = 0 ]' || h_fail "b's rows stay on b while a times out"
[ "$(agg_metric d 'aggregatord_sweep_timeouts_total{member="b"}')" = 0 ] || h_fail "b counted timeouts"
h_ok "timeout = 2: a's timeouts counted ($(agg_metric d 'aggregatord_sweep_timeouts_total{member="a"}')), logged once; b swept on"

h_fault pa pass > /dev/null
h_wait_until 40 eval '[ "$(sw_count a)" = 0 ]' || h_fail "a's rows not swept after pass: $(sw_count a)"
agg_log_has d "member 'a' is reachable again" || h_fail "no 'reachable again' line"
h_stop d 10 || h_fail "the daemon did not exit"
[ "$(sw_master_of a)" = "$(sw_expect 40)" ] || h_fail "a on master: $(sw_master_of a), want $(sw_expect 40)"
[ "$(sw_master_of b)" = "$(sw_expect 60)" ] || h_fail "b on master: $(sw_master_of b), want $(sw_expect 60)"
[ "$(sw_count ms)" = 100 ] && [ "$(sw_count b)" = 0 ] || h_fail "master $(sw_count ms), b $(sw_count b)"
h_ok "after pass: every session on master once (a: $(sw_master_of a); b: $(sw_master_of b)), none left on the members"
