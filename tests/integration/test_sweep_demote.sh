#!/usr/bin/env bash
# test_sweep_demote.sh — a sweep stopped by demotion at a batch boundary,
# with the election on: two daemons (a active, b standby) sweep the same
# member into the same master.  a's sweep is held inside page 2 (its upsert
# waits for a row lock another session holds on master); a yields
# (SIGRTMIN+0: a real election hand-over, b active); the lock is released.
# The page in flight completes whole on a (committed on master, deleted from
# the member), a stops at the next batch boundary and closes no stale
# session; b, now active, sweeps the rest.  Checked against what this script
# inserted: master holds each of the 15 sessions once with its values, the
# member none; a moved exactly pages 1 and 2 (6 rows), b the other 9.
# Then b, active, is demoted inside stale closing (600 stale sessions,
# chunks of 500; its update of a member's copy held by a lock): the chunk
# in flight completes, b starts no other; a closes the 100 left.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log a; agg_dump_log b; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb m1 ms
h_start_redis r
load_schema m1 ms

declare -A HPORT
for n in a b; do
    HPORT[$n]=$(h_free_port tcp)
    sweep_conf "$H_TMP/$n.conf" "http = { listen = \"127.0.0.1:${HPORT[$n]}\"; };
redis = { port = $r_PORT; timeout_ms = 300; };
election = { cluster = \"radius\"; cluster_id = 9; interval_ms = 300; ttl_ms = 900; on_redis_down = \"standby\"; };" m1
    sed -i -e "s|node = { name = \"sw\"; state_dir = \"[^\"]*\"|node = { name = \"$n\"; state_dir = \"$H_TMP/state-$n\"|" \
        -e "s/stale_after = 3600;/interval = 1; stale_after = 3600;/" -e "s/timeout = 5;/timeout = 30;/" "$H_TMP/$n.conf"
    grep -q "name = \"$n\"" "$H_TMP/$n.conf" || h_fail "node name not set in $n.conf"
done
role() { agg_metric "$1" aggregatord_election_role 2>/dev/null || echo x; }
roles_are() { [ "$(role a)$(role b)" = "$1" ]; }
moved() { agg_metric "$1" "aggregatord_sweep_rows_moved_total{member=\"m1\"}"; }
moved_is() { [ "$(moved "$1")" = "$2" ]; }
cycles() { agg_metric "$1" aggregatord_sweep_cycles_total; }
cycles_ge() { local c; c=$(cycles "$1"); [ "${c:-0}" -ge "$2" ]; }
m1_empty() { [ "$(sw_count m1)" = 0 ]; }

agg_start a "$H_TMP/a.conf"
a_active() { [ "$(role a)" = 1 ]; }
h_wait_until 20 a_active || h_fail "a did not become active: $(role a)"
agg_start b "$H_TMP/b.conf"
h_wait_until 20 roles_are 10 || h_fail "not a active, b standby: $(role a)$(role b)"
# a has swept the empty member at least once
h_wait_until 20 cycles_ge a 1 || h_fail "a never completed a cycle"

# master: older open copies of m1-4 and m1-5 (page 2); another session locks
# m1-5 (m1-4 keeps page 1's inserts out of that lock's gap)
Q ms "INSERT INTO radacct (acctsessionid, acctuniqueid, acctstarttime, acctupdatetime, acctinputoctets, acctoutputoctets)
      VALUES ('s4', 'm1-4', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 18 MINUTE, 1, 1),
             ('s5', 'm1-5', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 18 MINUTE, 1, 1)"
Q ms "SET GLOBAL innodb_lock_wait_timeout = 60"
sess_open lk ms
sess lk "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'm1-5' FOR UPDATE;"
sess_mark lk locked
# 15 closed sessions on m1 (sw_rows: in = i, out = 7 i), five pages of 3
sw_rows m1 1 15
h_wait_until 30 in_lock_wait ms 'INSERT INTO%' || h_fail "a's page 2 never waited on master"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct WHERE acctuniqueid IN ('m1-1', 'm1-2', 'm1-3')")" = 0 ] || h_fail "page 1 not moved before page 2"
[ "$(moved a)" = 3 ] || h_fail "a moved $(moved a) rows before page 2, not 3"

# a yields: b takes over by election while a's page 2 waits
h_signal a RTMIN+0
h_wait_until 10 roles_are 01 || h_fail "a did not hand over to b: $(role a)$(role b)"
sess lk "ROLLBACK;"
sess_mark lk released
h_wait_until 30 agg_log_has a "member 'm1': node demoted, stopping at a batch boundary" \
    || h_fail "a did not stop at the batch boundary"
h_wait_until 60 m1_empty || h_fail "b did not sweep the rest: $(sw_count m1) rows left on m1"
[ "$(sw_master_of m1)" = "$(sw_expect 15)" ] || h_fail "master holds '$(sw_master_of m1)', expected '$(sw_expect 15)'"
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctuniqueid LIKE 'm1-%' AND acctstoptime IS NULL")" = 0 ] || h_fail "a session left open on master"
# the page in flight completed whole on a; nothing after it
[ "$(moved a)" = 6 ] || h_fail "a moved $(moved a) rows, not pages 1 and 2 (6)"
h_wait_until 20 moved_is b 9 || h_fail "b moved $(moved b) rows, not the other 9"
# a, standby, sweeps no more
c=$(cycles a)
cb=$(cycles b)
h_wait_until 20 cycles_ge b $((cb + 2)) || h_fail "b stopped cycling"
[ "$(cycles a)" -le $((c + 1)) ] || h_fail "a kept sweeping as standby"
! agg_log_has a "closed [0-9]* stale session" || h_fail "a closed stale sessions"
h_ok "demoted in page 2: the page completed whole on a (6 moved), a stopped at the boundary, b moved the other 9; master exact"
sess_close lk

# --- demoted inside stale closing: the chunk in flight completes, no next chunk ---
# b active now.  600 stale sessions on master (chunks of 500); m1 holds an
# open copy of q-1 (in chunk 1), locked by another session: b's update of
# the members' copies waits there, after chunk 1 committed on master.
stale_closed() { agg_metric "$1" aggregatord_sweep_stale_closed_total; }
closed_is() { [ "$(stale_closed "$1")" = "$2" ]; }
sa=$(stale_closed a)
sb=$(stale_closed b)
Q m1 "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
        acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause) VALUES ('s', 'q-1', 'u', '10.0.0.1',
        NOW() - INTERVAL 3 HOUR, NOW() - INTERVAL 2 HOUR, 3600, 1, 1, '')"
sess_open lm m1
sess lm "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'q-1' FOR UPDATE;"
sess_mark lm locked
Q ms "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
        acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause)
      SELECT CONCAT('s', seq), CONCAT('q-', seq), 'u', '10.0.0.1', NOW() - INTERVAL 3 HOUR, NOW() - INTERVAL 2 HOUR,
        3600, seq, seq, '' FROM seq_1_to_600"
h_wait_until 30 in_lock_wait m1 'UPDATE%' || h_fail "b's update of m1's copies never waited"
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctuniqueid LIKE 'q-%' AND acctstoptime IS NOT NULL")" = 500 ] \
    || h_fail "chunk 1 not committed on master while b waits on m1"
h_signal b RTMIN+0
h_wait_until 10 roles_are 10 || h_fail "b did not hand over to a: $(role a)$(role b)"
sess lm "ROLLBACK;"
sess_mark lm released
stale_done() { [ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctuniqueid LIKE 'q-%' AND acctstoptime IS NOT NULL")" = 600 ]; }
h_wait_until 60 stale_done || h_fail "the 600 stale sessions not all closed"
h_wait_until 20 closed_is a $((sa + 100)) || h_fail "a closed $(( $(stale_closed a) - sa )), not the 100 left"
closed_is b $((sb + 500)) || h_fail "b closed $(( $(stale_closed b) - sb )), not its one chunk (500)"
[ "$(Q ms "SELECT COUNT(*), COUNT(DISTINCT acctuniqueid), SUM(acctinputoctets) FROM radacct WHERE acctuniqueid LIKE 'q-%'
        AND acctterminatecause = 'Stale-Session' AND acctstoptime = acctupdatetime" | tr '\t' ' ')" = "600 600 180300" ] \
    || h_fail "master's stale-closed sessions are not the 600 inserted, each once"
h_ok "demoted inside stale closing: b's chunk of 500 completed, no next chunk; a closed the other 100; master exact"
sess_close lm
h_stop a
h_stop b
