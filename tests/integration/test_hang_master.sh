#!/usr/bin/env bash
# test_hang_master.sh — the sweep's MASTER MariaDB hangs (a fault proxy
# between the sweep and master; members a and b and the locker reach their
# servers directly).  One daemon runs the sweep (interval 2 s, one page of
# 50) and a totalizer (flush 200 ms) into Redis.
#
# The moment frozen is the dangerous one: master has EXECUTED a page's
# upsert and its answer is on the way back, so the rows sit on master in a
# transaction the sweep has not committed.  To get there, another session
# locks the gap above master's last row (SELECT ... WHERE radacctid > MAX
# FOR UPDATE in a transaction, then SLEEP: inserts wait, the sweep's reads
# and stale closing do not), new closed rows go onto a and b, the sweep's
# write (its upsert, or its LOAD DATA of rows new to master) reaches master
# and waits for the lock (seen in PROCESSLIST); then
# the proxy freezes, the lock is released, master runs the upsert (seen
# in INNODB_TRX: one transaction with rows modified) and its answer is held
# by the proxy.  The lock is released by killing its session once the proxy
# is frozen, so no sleep decides the order.  A sweep that took a lost answer
# for success, or deleted before the commit, would lose these rows when
# master rolls back.
#
#   - freeze: /healthz, /metrics, /v1/status answer within 100 ms (the
#     issue's bound; typical answers take a few ms, so the margin covers a
#     loaded 2-core machine); the totalizer counts every line sent (Redis
#     exact); no row leaves a member; every session is on its member or
#     committed on master at every look (member first, then master: a row
#     leaves the member only after master committed it); SIGTERM: exit 0
#     within 10 s;
#   - restart with the proxy passing: master holds every session once, the
#     sums of acctinputoctets and acctoutputoctets exact (an oracle: the
#     values inserted here), no closed row left on a member;
#   - the same with the proxy trickling (a byte every 200 ms each way):
#     master answers, slowly, so rows move, but never before master
#     committed them (the invariant above, looked at until one member's
#     rows have moved); SIGTERM
#     within 10 s; exact after a restart;
#   - sweep.timeout = 3, master frozen mid-upsert as above: the upsert's
#     read times out, the member's cycle fails and deletes nothing; the
#     hang is counted (aggregatord_sweep_timeouts_total{member}) and logged
#     once per member; after pass the rows move, exact, and "reachable
#     again" is logged.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log d; cat "$H_TMP/locker.log" >&2 2>/dev/null || true; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb a b ms
load_schema a b ms
h_start_redis r
h_start_faultproxy pm "$ms_PORT"

# nothing_lost N: every session 1..N of a and b is on its member or on
# master (the member read first: a row leaves it only after master committed)
nothing_lost() {
    local n m
    for n in a b; do
        m=$( { Q "$n" "SELECT acctuniqueid FROM radacct"; Q ms "SELECT acctuniqueid FROM radacct WHERE acctuniqueid LIKE '$n-%'"; } | sort -u | wc -l)
        [ "$m" = "$1" ] || { h__err "$n: $m of its $1 sessions on it or on master"; return 1; }
    done
}
total() {
    redis-cli -p "$r_PORT" --scan --pattern 'hang;*' | xargs -r redis-cli -p "$r_PORT" MGET \
        | awk '{ s += $1 } END { print s + 0 }'
}
sent=0
send_lines() {	# N: N more lines to the totalizer, then Redis holds every one
    local k
    for ((k = sent + 1; k <= sent + $1; k++)); do echo "x $k"; done | "$H_BIN/htool" udp-send -i 200 127.0.0.1 "$uport"
    sent=$((sent + $1))
    h_wait_until 10 eval '[ "$(total)" = "$sent" ]' || h_fail "totalizer: $(total) counted in Redis, $sent sent"
}

port=$(h_free_port tcp)
uport=$(h_free_port udp)
conf() { # TIMEOUT
    cat > "$H_TMP/d.conf" <<CONF
node = { name = "d"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$port"; };
redis = { host = "127.0.0.1"; port = $r_PORT; };
totalizer = { flush_ms = 200;
  rules = ( { prefix = "hang"; listen = "127.0.0.1:$uport"; match = "^(x) "; matched = "\$1"; source = "s"; } ); };
sweep = { interval = 2; stale_after = 3600; batch = 50; timeout = $1;
  master = { host = "127.0.0.1"; port = $pm_PORT; user = "root"; };
  members = ( { name = "a"; host = "127.0.0.1"; port = $a_PORT; user = "root"; },
              { name = "b"; host = "127.0.0.1"; port = $b_PORT; user = "root"; } ); };
CONF
}
all_moved() {	# N: both members empty, master holds N sessions of each
    [ "$(sw_count a)" = 0 ] && [ "$(sw_count b)" = 0 ] &&
        [ "$(sw_master_of a)" = "$(sw_expect "$1")" ] && [ "$(sw_master_of b)" = "$(sw_expect "$1")" ]
}

conf 30
sw_rows a 1 10
sw_rows b 1 10
agg_start d "$H_TMP/d.conf"
h_wait_until 20 all_moved 10 || h_fail "first sweep: a=$(sw_count a) b=$(sw_count b) master a: $(sw_master_of a), b: $(sw_master_of b)"
h_ok "both members swept into master through the passing proxy"

# hang_mid_upsert MODE N0 N1: rows N0..N1 onto a and b; the sweep's upsert
# held by a lock on master; the proxy set to MODE; the lock released (its
# session killed, so no sleep decides when) and master runs the upsert.
hang_mid_upsert() {
    local mode=$1 mx
    # the gap above the last row: new rows wait, reads and stale closing do not
    mx=$(Q ms "SELECT COALESCE(MAX(radacctid), 0) FROM radacct")
    h_spawn locker "$H_TMP/locker.log" mariadb --no-defaults -uroot --socket="$ms_SOCK" radius \
        -e "BEGIN; SELECT radacctid FROM radacct WHERE radacctid > $mx FOR UPDATE; SELECT SLEEP(60); COMMIT;"
    lock_held() {
        h_running locker || h_fail "the lock holder exited early: $(cat "$H_TMP/locker.log")"
        [ "$(Q ms "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)'")" = 1 ]
    }
    h_wait_until 10 lock_held || h_fail "the lock holder did not take the lock"
    sw_rows a "$2" "$3"
    sw_rows b "$2" "$3"
    upsert_waits() {
        [ "$(Q ms "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO%radacct%' OR INFO LIKE 'LOAD DATA%radacct%'")" -ge 1 ]
    }
    h_wait_until 10 upsert_waits || h_fail "the sweep's upsert never reached master"
    h_fault pm $mode > /dev/null
    Q ms "KILL $(Q ms "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)'")"
    h_wait_until 10 eval '! h_running locker' || h_fail "the lock holder did not finish"
    # master ran the upsert: a transaction with rows modified, not committed
    upserted() {
        [ "$(Q ms "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_rows_modified > 0")" -ge 1 ]
    }
    h_wait_until 10 upserted || h_fail "master did not run the upsert"
}

# --- freeze with master inside an upsert ---
hang_mid_upsert freeze 11 20
agg_answers_fast d || h_fail "the API while master hangs"
h_ok "master frozen mid-upsert (executed, not committed, its answer held): /healthz, /metrics, /v1/status within 100 ms (slowest $AGG_SLOWEST s)"
send_lines 200
h_ok "the totalizer counts on while master hangs: $sent lines sent, $(total) in Redis"
nothing_lost 20 || h_fail "a session is neither on its member nor committed on master"
[ "$(sw_count a)" = 10 ] && [ "$(sw_count b)" = 10 ] || h_fail "rows left a member while master hangs: a=$(sw_count a) b=$(sw_count b)"
[ "$(sw_master_of a)" = "$(sw_expect 10)" ] || h_fail "master committed a's rows: $(sw_master_of a)"
t0=$(h__now_us)
h_stop d 30 || h_fail "the daemon did not exit"
took=$(h__elapsed "$t0")
[ $(( $(h__now_us) - t0 )) -le 10000000 ] || h_fail "SIGTERM while master hangs: exit took $took s"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
h_ok "SIGTERM while master hangs mid-upsert: exit 0 after $took s"
[ "$(sw_count a)" = 10 ] && [ "$(sw_count b)" = 10 ] || h_fail "rows left a member: a=$(sw_count a) b=$(sw_count b)"
h_ok "no row deleted from a member while master did not answer (a and b keep their 10 new rows)"

h_fault pm pass > /dev/null
agg_start d "$H_TMP/d.conf"
h_wait_until 60 all_moved 20 || h_fail "after pass: a=$(sw_count a) b=$(sw_count b) master a: $(sw_master_of a), b: $(sw_master_of b)"
h_ok "restart with the proxy passing: every session on master once, sums exact (a: $(sw_master_of a); b: $(sw_master_of b)), none left on the members"

# --- trickle: master answers a byte every 200 ms ---
hang_mid_upsert "trickle 200" 21 30
agg_answers_fast d || h_fail "the API while master trickles"
h_ok "master trickling: /healthz, /metrics, /v1/status within 100 ms (slowest $AGG_SLOWEST s)"
send_lines 200
# the held answer trickles back, the sweep commits, and only then deletes:
# look until one member's new rows have moved
looks=0
moved_safely() {
    looks=$((looks + 1))
    nothing_lost 30 || h_fail "look $looks: a session is neither on its member nor committed on master"
    [ "$(sw_count a)" = 0 ] || [ "$(sw_count b)" = 0 ]
}
h_wait_until 40 moved_safely || h_fail "no member's rows moved through the trickling proxy: a=$(sw_count a) b=$(sw_count b)"
h_ok "the totalizer counts on ($sent in Redis); rows moved through the trickle (a=$(sw_count a) b=$(sw_count b) left), at each of $looks looks every session on its member or committed on master"
t0=$(h__now_us)
h_stop d 30 || h_fail "the daemon did not exit"
took=$(h__elapsed "$t0")
[ $(( $(h__now_us) - t0 )) -le 10000000 ] || h_fail "SIGTERM while master trickles: exit took $took s"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
h_ok "SIGTERM while master trickles: exit 0 after $took s"
nothing_lost 30 || h_fail "after the stop: a session is neither on its member nor on master"
h_fault pm pass > /dev/null
agg_start d "$H_TMP/d.conf"
h_wait_until 60 all_moved 30 || h_fail "after pass: a=$(sw_count a) b=$(sw_count b) master a: $(sw_master_of a), b: $(sw_master_of b)"
h_stop d 10 || h_fail "the daemon did not exit"
h_ok "restart after the trickle: every session once, exact (a: $(sw_master_of a); b: $(sw_master_of b))"

# --- the deadline: master hangs mid-upsert past sweep.timeout ---
# The upsert's answer is held until the read times out (3 s): the member's
# cycle fails, and must delete nothing; then each reconnect times out.
conf 3
: > "$H_TMP/d.log"
agg_start d "$H_TMP/d.conf"
h_wait_until 10 agg_healthy d || h_fail "the daemon did not start"
hang_mid_upsert freeze 31 40
tm() { agg_metric d "aggregatord_sweep_timeouts_total{member=\"$1\"}"; }
h_wait_until 40 eval '[ "$(tm a)" -ge 2 ] && [ "$(tm b)" -ge 2 ]' || h_fail "timeouts: a $(tm a), b $(tm b)"
for n in a b; do
    [ "$(grep -c "member '$n'.*timed out: logged again" "$H_TMP/d.log")" = 1 ] || h_fail "$n's timeout is not logged once"
done
nothing_lost 40 || h_fail "a session is neither on its member nor committed on master"
[ "$(sw_count a)" = 10 ] && [ "$(sw_count b)" = 10 ] || h_fail "rows left a member after master timed out: a=$(sw_count a) b=$(sw_count b)"
agg_answers_fast d || h_fail "the API while master times out"
h_ok "timeout = 3, master frozen mid-upsert: the hang counted (a $(tm a), b $(tm b)), logged once per member; nothing left the members"
h_fault pm pass > /dev/null
h_wait_until 60 all_moved 40 || h_fail "after pass: a=$(sw_count a) b=$(sw_count b) master a: $(sw_master_of a), b: $(sw_master_of b)"
agg_log_has d "member 'a' is reachable again" || h_fail "no 'reachable again' line"
h_stop d 10 || h_fail "the daemon did not exit"
[ "$(sw_count ms)" = 80 ] || h_fail "master holds $(sw_count ms) rows, want 80"
h_ok "after pass: every session on master once (a: $(sw_master_of a); b: $(sw_master_of b)), none left on the members"
