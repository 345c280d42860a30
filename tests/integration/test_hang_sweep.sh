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
Q() { local n=$1; shift; h_mysql "$n" radius -N -B -e "$*"; }
h_start_faultproxy pa "$a_PORT"

# rows NODE FROM TO: closed sessions NODE-FROM..NODE-TO, acctinputoctets = the number
rows() {
    local i v=
    for ((i = $2; i <= $3; i++)); do
        v+="${v:+,}('s-$1-$i','$1-$i','u','10.0.0.1','1',NOW() - INTERVAL 20 MINUTE,NOW() - INTERVAL 15 MINUTE,NOW() - INTERVAL 10 MINUTE,600,$i,1,'User-Request')"
    done
    Q "$1" "INSERT INTO radacct (acctsessionid,acctuniqueid,username,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause) VALUES $v"
}
count() { Q "$1" "SELECT COUNT(*) FROM radacct"; }
# master's sessions of node N: count, distinct ids, sum of acctinputoctets
master_of() { Q ms "SELECT COUNT(*), COUNT(DISTINCT acctuniqueid), COALESCE(SUM(acctinputoctets),0) FROM radacct WHERE acctuniqueid LIKE '$1-%'" | tr '\t' ' '; }
expect() { # N FROM..TO as "count distinct sum" for sessions 1..TO
    echo "$1 $1 $(( $1 * ($1 + 1) / 2 ))"
}

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
rows a 1 20
rows b 1 20
agg_start d "$H_TMP/d.conf"
h_wait_until 20 eval '[ "$(count a)" = 0 ] && [ "$(count b)" = 0 ] && [ "$(count ms)" = 40 ]' \
    || h_fail "first sweep: a=$(count a) b=$(count b) master=$(count ms)"
h_ok "both members swept through the passing proxy (40 sessions on master)"

# freeze a right after a cycle ends (the next starts 2 s later), then add rows
cycles() { agg_metric d aggregatord_sweep_cycles_total; }
c0=$(cycles)
h_wait_until 10 eval '[ "$(cycles)" -gt "$c0" ]' || h_fail "no cycle ends"
h_fault pa freeze > /dev/null
rows a 21 40
rows b 21 40
h_wait_until 20 eval '[ "$(count b)" = 0 ]' || h_fail "b's rows stay on b while a hangs: $(count b)"
[ "$(master_of b)" = "$(expect 40)" ] || h_fail "b on master: $(master_of b), want $(expect 40)"
[ "$(count a)" = 20 ] || h_fail "a: $(count a) rows, want its 20 new ones"
agg_get d /healthz -f > /dev/null || h_fail "/healthz while a hangs"
h_ok "a frozen: b's 20 new closed rows reach master and leave b; a keeps its rows"

t0=$(h__now_us)
h_stop d 60 || h_fail "the daemon did not exit"
took=$(h__elapsed "$t0")
[ $(( $(h__now_us) - t0 )) -le 10000000 ] || h_fail "SIGTERM while a hangs: exit took $took s"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
h_ok "SIGTERM while member a hangs: exit 0 after $took s"
[ "$(master_of a)" = "$(expect 20)" ] || h_fail "a on master after the stop: $(master_of a), want $(expect 20)"
[ "$(master_of b)" = "$(expect 40)" ] || h_fail "b on master after the stop: $(master_of b)"
h_ok "after the stop nothing is lost or doubled on master (a: $(master_of a); b: $(master_of b))"

# --- the deadline: counted, logged once, b goes on ---
conf 2
: > "$H_TMP/d.log"
agg_start d "$H_TMP/d.conf"
h_wait_until 20 eval '[ "$(agg_metric d "aggregatord_sweep_timeouts_total{member=\"a\"}")" -ge 2 ]' \
    || h_fail "a's timeouts: $(agg_metric d 'aggregatord_sweep_timeouts_total{member="a"}')"
[ "$(grep -c "member 'a'.*timed out: logged again" "$H_TMP/d.log")" = 1 ] || h_fail "a's timeout is not logged once"
rows b 41 60
h_wait_until 20 eval '[ "$(count b)" = 0 ]' || h_fail "b's rows stay on b while a times out"
[ "$(agg_metric d 'aggregatord_sweep_timeouts_total{member="b"}')" = 0 ] || h_fail "b counted timeouts"
h_ok "timeout = 2: a's timeouts counted ($(agg_metric d 'aggregatord_sweep_timeouts_total{member="a"}')), logged once; b swept on"

h_fault pa pass > /dev/null
h_wait_until 40 eval '[ "$(count a)" = 0 ]' || h_fail "a's rows not swept after pass: $(count a)"
agg_log_has d "member 'a' is reachable again" || h_fail "no 'reachable again' line"
h_stop d 10 || h_fail "the daemon did not exit"
[ "$(master_of a)" = "$(expect 40)" ] || h_fail "a on master: $(master_of a), want $(expect 40)"
[ "$(master_of b)" = "$(expect 60)" ] || h_fail "b on master: $(master_of b), want $(expect 60)"
[ "$(count ms)" = 100 ] && [ "$(count b)" = 0 ] || h_fail "master $(count ms), b $(count b)"
h_ok "after pass: every session on master once (a: $(master_of a); b: $(master_of b)), none left on the members"
