#!/usr/bin/env bash
# test_fault_sweep_reads.sh — the sweep's reads failing: master cannot be
# read back for the events, a page read or master's versions refused, and
# master's session settings refused; each fault injected for real at the
# exact statement (master behind the fault proxy, cut while the sweep waits
# for a lock the test holds on the member; a privilege revoked while it
# waits), each checked against what this script inserted (master's rows,
# the member's rows, the Kafka topic):
#  - master lost after the member's delete committed: the moved rows'
#    "closed" events carry the member's copies, one per closed session, none
#    for the open one of the page, nor for a row changed on the member
#    before the delete (it stays, and moves with its change next time);
#    master and the member exact; none either for a session master holds
#    open again (reopened by another writer before the read-back);
#  - master lost after stale closing committed, the member's copy's UPDATE
#    timing out on a lock: the "stale-closed" events carry the session ids
#    (and the cause) only, one per session; master keeps the closed rows, the
#    next sweep leaves them closed;
#  - `log_bin = false` with a master user lacking BINLOG ADMIN: the session
#    setting is refused, named in the error, nothing leaves the member;
#  - master's row of a stale-closed session wider than the row buffer (a
#    column widened on master): logged, no truncated event, the others'
#    events carry master's rows;
#  - a member row with a time before 1970 (no UNIX time): left on the member
#    and logged, the others moved;
#  - SELECT revoked on the member while page 1's delete waits: page 1 moves,
#    page 2's read fails; SELECT revoked on master instead: page 1's events
#    carry the member's copies, page 2's read of master's versions fails
#    (page 2 all closed and new to master: the load's count of the sessions
#    master holds fails); a row changed on the member while the delete
#    waits, with SELECT revoked meanwhile: the lookup of the rows left
#    fails, the delete is rolled back whole; exact after the next sweep
#    once granted;
#  - two members holding the same closed session, SELECT revoked on master
#    while both deletes wait: both fall back to the members' copies, and the
#    session gets exactly one "closed" event (each member's other session
#    one each); master holds it once.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { tail -n 30 "$H_TMP"/once*.log >&2 2>/dev/null || true; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb m1 ms
h_start_faultproxy px "$ms_PORT"
h_start_kafka k aggregatord.radacct

sweep() { sweep_bg "$1"; wait "$SWEEP_PID"; }	# sweep_bg: common.sh

# master through the proxy, Kafka on
sweep_conf "$H_TMP/s.conf" "kafka = { enabled = true; brokers = \"$k_BOOTSTRAP\"; properties = [ \"message.timeout.ms=5000\" ]; };" m1
sed -i -e "s/port = $ms_PORT;/port = $px_PORT;/" -e "s/timeout = 5;/timeout = 20;/" "$H_TMP/s.conf"
grep -q "port = $px_PORT;" "$H_TMP/s.conf" || h_fail "the config does not point at the proxy"

# the events of sessions PREFIX-* so far, one "key<TAB>json" per line, sorted
events() { kcat -b "$k_BOOTSTRAP" -C -t aggregatord.radacct -o beginning -e -q -f '%k\t%s\n' |
           awk -F'\t' -v p="$1-" 'index($1, p) == 1' | LC_ALL=C sort; }
# one line per event: key, event, member, in, out, stop set, cause
ev_view() { events "$1" | while IFS=$'\t' read -r key json; do
    printf '%s\t%s\n' "$key" "$(jq -r '[.event, (.member // "-"), (.acctinputoctets // "-"), (.acctoutputoctets // "-"),
        (if has("acctstoptime") then (.acctstoptime != null) else "-" end), .acctterminatecause] | map(tostring) | join(" ")' <<< "$json")"
done | LC_ALL=C sort; }
# the keys of the events of PREFIX (their shape), the publish envelope's aside
ev_keys() { events "$1" | cut -f2 | jq -c 'keys - ["elected", "epoch", "node"]' | LC_ALL=C sort -u; }

sess_open lm m1

# ============ master lost between the member's delete and the read-back ============
load_schema m1 ms
# one page (batch 3): c-1 and c-2 closed, c-3 open
Q m1 "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
        acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause) VALUES
      ('s1', 'c-1', 'u', '10.0.0.1', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 10 MINUTE, NOW() - INTERVAL 5 MINUTE, 900, 11, 12, 'User-Request'),
      ('s2', 'c-2', 'u', '10.0.0.1', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 10 MINUTE, NOW() - INTERVAL 5 MINUTE, 900, 21, 22, 'Lost-Carrier'),
      ('s3', 'c-3', 'u', '10.0.0.1', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 10 MINUTE, NULL, 600, 31, 32, '')"
Q m1 "SET GLOBAL innodb_lock_wait_timeout = 50"
sess lm "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'c-2' FOR UPDATE;"
sess_mark lm locked1
sweep_bg "$H_TMP/s.conf"
h_wait_until 30 in_lock_wait m1 'DELETE t FROM%' || h_fail "the sweep's delete never waited for c-2"
# master has committed the page; its connection is reset before the read-back
[ "$(Q ms "SELECT COUNT(*) FROM radacct")" = 3 ] || h_fail "master does not hold the page while the delete waits"
h_fault px cut > /dev/null
sess lm "ROLLBACK;"
sess_mark lm released1
wait "$SWEEP_PID" || true	# (whether the pass reports the lost master is not the point)
log_has "member 'm1': .*the events of 2 moved row\(s\) carry the member's copies" \
    || h_fail "the moved rows' events did not fall back to the member's copies: $(cat "$ONCE_LOG")"
diff <(printf 'c-1\tclosed m1 11 12 true User-Request\nc-2\tclosed m1 21 22 true Lost-Carrier\n') <(ev_view c) \
    || h_fail "not one closed event per moved session with the member's copy"
[ "$(Q m1 "SELECT GROUP_CONCAT(acctuniqueid ORDER BY acctuniqueid) FROM radacct")" = c-3 ] || h_fail "m1 does not keep exactly the open c-3"
[ "$(Q ms "SELECT GROUP_CONCAT(CONCAT(acctuniqueid, ':', acctinputoctets, ':', acctstoptime IS NULL) ORDER BY acctuniqueid) FROM radacct")" = \
  "c-1:11:0,c-2:21:0,c-3:31:1" ] || h_fail "master does not hold the page as inserted"
h_ok "master lost after the member's delete: one closed event per moved session from the member's copy, none for the open one; data exact"

# --- the same, with a row changed on the member between the read and the delete ---
load_schema m1 ms
Q m1 "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
        acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause) VALUES
      ('s1', 'v-1', 'u', '10.0.0.1', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 10 MINUTE, NOW() - INTERVAL 5 MINUTE, 900, 11, 12, 'User-Request'),
      ('s2', 'v-2', 'u', '10.0.0.1', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 10 MINUTE, NOW() - INTERVAL 5 MINUTE, 900, 21, 22, 'Lost-Carrier')"
sess lm "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'v-2' FOR UPDATE;"
sess_mark lm locked1b
sweep_bg "$H_TMP/s.conf"
h_wait_until 30 in_lock_wait m1 'DELETE t FROM%' || h_fail "the sweep's delete never waited for v-2"
h_fault px cut > /dev/null
# (as a late Accounting packet would: v-2 changed after the sweep read it)
sess lm "UPDATE radius.radacct SET acctinputoctets = 99 WHERE acctuniqueid = 'v-2'; COMMIT;"
sess_mark lm released1b
wait "$SWEEP_PID" || true
log_has "member 'm1': .*the events of 1 moved row\(s\) carry the member's copies" \
    || h_fail "the moved row's event did not fall back to the member's copy: $(cat "$ONCE_LOG")"
diff <(printf 'v-1\tclosed m1 11 12 true User-Request\n') <(ev_view v) || h_fail "not exactly v-1's closed event: $(ev_view v)"
[ "$(Q m1 "SELECT GROUP_CONCAT(CONCAT(acctuniqueid, ':', acctinputoctets)) FROM radacct")" = v-2:99 ] || h_fail "m1 does not keep exactly the changed v-2"
[ "$(Q ms "SELECT GROUP_CONCAT(CONCAT(acctuniqueid, ':', acctinputoctets) ORDER BY acctuniqueid) FROM radacct")" = "v-1:11,v-2:21" ] \
    || h_fail "master does not hold the page as read"
sweep "$H_TMP/s.conf" || h_fail "the recovery sweep failed: $(cat "$ONCE_LOG")"
[ "$(Q ms "SELECT GROUP_CONCAT(CONCAT(acctuniqueid, ':', acctinputoctets) ORDER BY acctuniqueid) FROM radacct")" = "v-1:11,v-2:99" ] \
    && [ "$(sw_count m1)" = 0 ] || h_fail "v-2's change not carried to master by the next sweep"
diff <(printf 'v-1\tclosed m1 11 12 true User-Request\nv-2\tclosed m1 99 22 true Lost-Carrier\n') <(ev_view v) || h_fail "v-2's event after the recovery: $(ev_view v)"
h_ok "master lost and a row changed before the delete: the changed row stays and gives no event, the moved one its member copy's; exact after"

# --- master's copy reopened by another writer before the read-back: no event yet ---
load_schema m1 ms
Q m1 "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
        acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause) VALUES
      ('s1', 'o-1', 'u', '10.0.0.1', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 10 MINUTE, NOW() - INTERVAL 5 MINUTE, 900, 11, 12, 'User-Request')"
sess lm "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'o-1' FOR UPDATE;"
sess_mark lm locked1c
sweep_bg "$H_TMP/s.conf"
h_wait_until 30 in_lock_wait m1 'DELETE t FROM%' || h_fail "the sweep's delete never waited for o-1"
Q ms "UPDATE radacct SET acctstoptime = NULL, acctterminatecause = '', acctinputoctets = 40 WHERE acctuniqueid = 'o-1'"
sess lm "ROLLBACK;"
sess_mark lm released1c
wait "$SWEEP_PID" || h_fail "the sweep failed: $(cat "$ONCE_LOG")"
[ "$(sw_count m1)" = 0 ] || h_fail "o-1 not moved"
[ "$(Q ms "SELECT CONCAT(acctinputoctets, ':', acctstoptime IS NULL) FROM radacct WHERE acctuniqueid = 'o-1'")" = 40:1 ] \
    || h_fail "master's o-1 is not as the other writer left it"
[ -z "$(ev_view o)" ] || h_fail "an event for a session master holds open: $(ev_view o)"
h_ok "master's copy reopened between the upsert and the read-back: no event while master holds it open"

# ============ master lost between stale closing's commit and the read-back ============
load_schema m1 ms
# t-1..3 quiet for two hours, on master and (open copies) on m1
for s in m1 ms; do
    Q "$s" "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
              acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause)
            SELECT CONCAT('s', seq), CONCAT('t-', seq), 'u', '10.0.0.1', NOW() - INTERVAL 3 HOUR,
              NOW() - INTERVAL 2 HOUR, 3600, seq, seq, '' FROM seq_1_to_3"
done
# m1's copy t-2 is locked: stale closing's UPDATE of the copies waits, then times out
Q m1 "SET GLOBAL innodb_lock_wait_timeout = 6"
sess lm "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 't-2' FOR UPDATE;"
sess_mark lm locked2
sweep_bg "$H_TMP/s.conf"
h_wait_until 30 in_lock_wait m1 'UPDATE%' || h_fail "stale closing's UPDATE of m1's copies never waited for t-2"
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctterminatecause = 'Stale-Session'")" = 3 ] || h_fail "master's stale closing not committed while the copies wait"
h_fault px cut > /dev/null
wait "$SWEEP_PID" || true
sess lm "ROLLBACK;"
sess_mark lm released2
Q m1 "SET GLOBAL innodb_lock_wait_timeout = 50"
log_has "sweep: master: .*the stale-closed events carry only the session ids" \
    || h_fail "the stale-closed events did not fall back to the ids: $(cat "$ONCE_LOG")"
diff <(printf 't-%d\tstale-closed - - - - Stale-Session\n' 1 2 3) <(ev_view t) || h_fail "not one stale-closed event per session"
[ "$(ev_keys t)" = '["acctterminatecause","acctuniqueid","event"]' ] || h_fail "the fallback events carry more than the ids: $(ev_keys t)"
# m1: the copy before the locked one closed, the locked one and after still open
[ "$(Q m1 "SELECT GROUP_CONCAT(CONCAT(acctuniqueid, ':', acctstoptime IS NULL) ORDER BY acctuniqueid) FROM radacct")" = "t-1:0,t-2:1,t-3:1" ] \
    || h_fail "m1's copies: $(Q m1 "SELECT acctuniqueid, acctstoptime FROM radacct")"
stale_master() { Q ms "SELECT COUNT(*), COUNT(DISTINCT acctuniqueid), SUM(acctinputoctets) FROM radacct
                       WHERE acctterminatecause = 'Stale-Session' AND acctstoptime = acctupdatetime AND acctsessiontime = 3600" | tr '\t' ' '; }
[ "$(stale_master)" = "3 3 6" ] || h_fail "master's stale-closed rows: $(stale_master)"
# the next sweep: m1's still-open copies are not newer than master's closed rows
sweep "$H_TMP/s.conf" || h_fail "the recovery sweep failed: $(cat "$ONCE_LOG")"
[ "$(stale_master)" = "3 3 6" ] || h_fail "the recovery sweep reopened or changed master's stale-closed rows: $(stale_master)"
[ "$(Q ms "SELECT COUNT(*) FROM radacct")" = 3 ] || h_fail "master holds more than the three sessions"
[ "$(sw_count m1)" = 0 ] || h_fail "m1's copies were not moved or removed as superseded"
# (a new process: its table of published versions starts empty, so t-1's
# closed copy moving gives master's closed row once more, as docs/sweep.md
# says of a restart; t-2 and t-3, removed as superseded, give none)
diff <(printf 't-1\tclosed m1 1 1 true Stale-Session\n'; printf 't-%d\tstale-closed - - - - Stale-Session\n' 1 2 3) <(ev_view t) \
    || h_fail "the recovery sweep's events: $(ev_view t)"
h_ok "master lost after stale closing, a member copy's UPDATE timing out: one id-only stale-closed event each; master stays closed"

# ============ log_bin = false, the master user may not set sql_log_bin ============
load_schema m1 ms
sw_rows m1 1 3
Q ms "CREATE USER IF NOT EXISTS 'nb'@'127.0.0.1'; GRANT ALL ON radius.* TO 'nb'@'127.0.0.1'"
sed -e '/master = {/s/user = "root";/user = "nb"; log_bin = false;/' "$H_TMP/s.conf" > "$H_TMP/nb.conf"
grep -q 'user = "nb"; log_bin = false;' "$H_TMP/nb.conf" || h_fail "the config's master user not set"
if sweep "$H_TMP/nb.conf"; then h_fail "a sweep whose master session setting was refused reported success"; fi
log_has "master: session settings: .*denied" || h_fail "the failure does not name the session settings: $(cat "$ONCE_LOG")"
[ "$(sw_count m1)" = 3 ] && [ "$(sw_count ms)" = 0 ] || h_fail "rows moved although master's session was refused"
Q ms "GRANT BINLOG ADMIN ON *.* TO 'nb'@'127.0.0.1'"
sweep "$H_TMP/nb.conf" || h_fail "the sweep failed once BINLOG ADMIN was granted: $(cat "$ONCE_LOG")"
[ "$(sw_master_of m1)" = "$(sw_expect 3)" ] && [ "$(sw_count m1)" = 0 ] || h_fail "not exact once granted: $(sw_master_of m1)"
h_ok "log_bin = false without BINLOG ADMIN: the session setting refused and named, nothing moved; exact once granted"

# ============ master's row of a stale session wider than the row buffer ============
load_schema m1 ms
Q ms "ALTER TABLE radacct MODIFY username VARCHAR(200) NOT NULL DEFAULT ''"
Q ms "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
        acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause)
      SELECT CONCAT('s', seq), CONCAT('w-', seq), IF(seq = 2, REPEAT('x', 150), 'u'), '10.0.0.1', NOW() - INTERVAL 3 HOUR,
        NOW() - INTERVAL 2 HOUR, 3600, seq, seq, '' FROM seq_1_to_3"
sweep "$H_TMP/s.conf" || h_fail "the sweep failed: $(cat "$ONCE_LOG")"
log_has "master's row of session 'w-2' has a value wider than 131 bytes; no event for it" || h_fail "the wide row's missing event not logged"
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctterminatecause = 'Stale-Session' AND acctstoptime = acctupdatetime")" = 3 ] \
    || h_fail "master's three stale sessions not closed"
[ "$(Q ms "SELECT LENGTH(username) FROM radacct WHERE acctuniqueid = 'w-2'")" = 150 ] || h_fail "master's wide row changed"
diff <(printf 'w-%d\tstale-closed - %d %d true Stale-Session\n' 1 1 1 3 3 3) <(ev_view w) \
    || h_fail "not a stale-closed event with master's row for each row that fits, and none for the wide one: $(ev_view w)"
h_ok "master's stale-closed row wider than the row buffer: logged, no truncated event; the others' events carry master's rows"

# ============ a member row with a time before 1970 ============
load_schema m1 ms
sw_rows m1 1 3
Q m1 "UPDATE radacct SET acctstarttime = '1969-12-31 23:00:00' WHERE acctuniqueid = 'm1-2'"
sweep "$H_TMP/s.conf" || h_fail "the sweep failed: $(cat "$ONCE_LOG")"
log_has "member 'm1': row radacctid 2 has a time with no UNIX time .*left on the member" || h_fail "the row before 1970 not logged"
[ "$(Q m1 "SELECT GROUP_CONCAT(acctuniqueid) FROM radacct")" = m1-2 ] || h_fail "m1 does not keep exactly the row before 1970"
[ "$(Q ms "SELECT GROUP_CONCAT(CONCAT(acctuniqueid, ':', acctinputoctets, ':', acctoutputoctets) ORDER BY acctuniqueid) FROM radacct")" = "m1-1:1:7,m1-3:3:21" ] \
    || h_fail "master does not hold exactly the two other rows"
h_ok "a member row with a time before 1970: left on the member and logged, the others moved"

# ============ a page read refused, master's versions refused ============
Q m1 "CREATE USER IF NOT EXISTS 'rd'@'127.0.0.1'; GRANT SELECT, UPDATE, DELETE ON radius.radacct TO 'rd'@'127.0.0.1';
      GRANT CREATE TEMPORARY TABLES ON radius.* TO 'rd'@'127.0.0.1'"
Q ms "CREATE USER IF NOT EXISTS 'rd'@'127.0.0.1'"
sed -e 's/user = "root";/user = "rd";/g' "$H_TMP/s.conf" > "$H_TMP/rd.conf"
grants() {	# rd's privileges back, after a revoke
    Q m1 "GRANT SELECT, UPDATE, DELETE ON radius.radacct TO 'rd'@'127.0.0.1'"
    Q ms "GRANT SELECT, INSERT, UPDATE ON radius.radacct TO 'rd'@'127.0.0.1'"
}
# hold_delete: --once sweep of rd.conf held in page 1's delete (m1-2 locked on m1)
hold_delete() {
    sess lm "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'm1-2' FOR UPDATE;"
    sess_mark lm "hold$1"
    sweep_bg "$H_TMP/rd.conf"
    h_wait_until 30 in_lock_wait m1 'DELETE t FROM%' || h_fail "the sweep's delete never waited for m1-2: $(cat "$ONCE_LOG")"
}
load_schema m1 ms
grants
sw_rows m1 1 9
hold_delete 3
Q m1 "REVOKE SELECT ON radius.radacct FROM 'rd'@'127.0.0.1'"
sess lm "ROLLBACK;"
sess_mark lm released3
if wait "$SWEEP_PID"; then h_fail "a sweep whose page read was refused reported success"; fi
log_has "member 'm1': reading a page: SELECT command denied" || h_fail "the failure is not page 2's read: $(cat "$ONCE_LOG")"
[ "$(sw_master_of m1)" = "$(sw_expect 3)" ] || h_fail "master does not hold exactly page 1: $(sw_master_of m1)"
[ "$(Q m1 "SELECT GROUP_CONCAT(acctuniqueid ORDER BY radacctid) FROM radacct")" = "m1-4,m1-5,m1-6,m1-7,m1-8,m1-9" ] || h_fail "m1 does not keep pages 2 and 3"
grants
sweep "$H_TMP/rd.conf" || h_fail "the recovery sweep failed: $(cat "$ONCE_LOG")"
[ "$(sw_master_of m1)" = "$(sw_expect 9)" ] && [ "$(sw_count m1)" = 0 ] || h_fail "not exact after the recovery sweep: $(sw_master_of m1)"
h_ok "SELECT revoked on the member during page 1's delete: page 1 moved, page 2's read refused and named; exact once granted"

load_schema m1 ms
grants
sw_rows m1 1 6
ev_view m1 > "$H_TMP/ev-before.txt"	# (m1-* events of the sections above)
Q m1 "UPDATE radacct SET acctstoptime = NULL, acctterminatecause = '' WHERE acctuniqueid = 'm1-6'"
hold_delete 4
Q ms "REVOKE SELECT ON radius.radacct FROM 'rd'@'127.0.0.1'"
sess lm "ROLLBACK;"
sess_mark lm released4
if wait "$SWEEP_PID"; then h_fail "a sweep whose read of master's versions was refused reported success"; fi
log_has "member 'm1': prepare: SELECT command denied.*the events of 3 moved row\(s\) carry the member's copies" \
    || h_fail "page 1's events did not fall back to the member's copies: $(cat "$ONCE_LOG")"
log_has "member 'm1': prepare: SELECT command denied[^;]*(;|$)" || h_fail "page 2 did not fail on master's read"
[ "$(sw_master_of m1)" = "$(sw_expect 3)" ] || h_fail "master does not hold exactly page 1: $(sw_master_of m1)"
[ "$(Q m1 "SELECT GROUP_CONCAT(acctuniqueid ORDER BY radacctid) FROM radacct")" = "m1-4,m1-5,m1-6" ] || h_fail "m1 does not keep page 2"
ev_view m1 > "$H_TMP/ev-after.txt"
diff <(printf 'm1-%d\tclosed m1 %d %d true User-Request\n' 1 1 7 2 2 14 3 3 21) <(comm -13 "$H_TMP/ev-before.txt" "$H_TMP/ev-after.txt") \
    || h_fail "page 1's events: $(comm -13 "$H_TMP/ev-before.txt" "$H_TMP/ev-after.txt")"
grants
sweep "$H_TMP/rd.conf" || h_fail "the recovery sweep failed: $(cat "$ONCE_LOG")"
[ "$(sw_master_of m1)" = "6 6 21 147" ] && [ "$(Q m1 "SELECT GROUP_CONCAT(acctuniqueid) FROM radacct")" = m1-6 ] \
    || h_fail "not exact after the recovery sweep: $(sw_master_of m1)"
h_ok "SELECT revoked on master during page 1's delete: page 1's events from the member's copies, page 2 refused at master's versions; exact once granted"

# page 2 all closed and new to master: its first master statement is the
# load's count of the sessions master holds (prepared by page 1, refused
# at its execution)
load_schema m1 ms
grants
sw_rows m1 1 6
hold_delete 5
Q ms "REVOKE SELECT ON radius.radacct FROM 'rd'@'127.0.0.1'"
sess lm "ROLLBACK;"
sess_mark lm released5
if wait "$SWEEP_PID"; then h_fail "a sweep whose count of master's sessions was refused reported success"; fi
log_has "member 'm1': looking up the page's sessions on master: SELECT command denied" \
    || h_fail "page 2 did not fail at the load's count: $(cat "$ONCE_LOG")"
[ "$(sw_master_of m1)" = "$(sw_expect 3)" ] || h_fail "master does not hold exactly page 1: $(sw_master_of m1)"
[ "$(Q m1 "SELECT GROUP_CONCAT(acctuniqueid ORDER BY radacctid) FROM radacct")" = "m1-4,m1-5,m1-6" ] || h_fail "m1 does not keep page 2"
grants
sweep "$H_TMP/rd.conf" || h_fail "the recovery sweep failed: $(cat "$ONCE_LOG")"
[ "$(sw_master_of m1)" = "$(sw_expect 6)" ] && [ "$(sw_count m1)" = 0 ] || h_fail "not exact after the recovery sweep: $(sw_master_of m1)"
h_ok "SELECT revoked on master during page 1's delete, page 2 new to master: refused at the load's count, nothing of it on master; exact once granted"

# a row changed while page 1's delete waits (the test's session holds it,
# changes it and commits): the delete leaves it, and the lookup of the rows
# left on the member is refused (SELECT revoked meanwhile): the member's
# transaction is rolled back whole, master holds page 1 as read
load_schema m1 ms
grants
sw_rows m1 1 3
hold_delete 6
Q m1 "REVOKE SELECT ON radius.radacct FROM 'rd'@'127.0.0.1'"
sess lm "UPDATE radius.radacct SET acctinputoctets = 1000, acctupdatetime = acctupdatetime + INTERVAL 1 MINUTE WHERE acctuniqueid = 'm1-2'; COMMIT;"
sess_mark lm released6
if wait "$SWEEP_PID"; then h_fail "a sweep whose lookup of the rows left was refused reported success"; fi
log_has "member 'm1': prepare: SELECT command denied" || h_fail "the failure is not the member's lookup: $(cat "$ONCE_LOG")"
[ "$(sw_master_of m1)" = "$(sw_expect 3)" ] || h_fail "master does not hold page 1 as read: $(sw_master_of m1)"
[ "$(Q m1 "SELECT GROUP_CONCAT(CONCAT(acctuniqueid, ':', acctinputoctets) ORDER BY radacctid) FROM radacct")" = "m1-1:1,m1-2:1000,m1-3:3" ] \
    || h_fail "m1 does not keep page 1 whole (its delete rolled back): $(Q m1 "SELECT GROUP_CONCAT(acctuniqueid) FROM radacct")"
grants
sweep "$H_TMP/rd.conf" || h_fail "the recovery sweep failed: $(cat "$ONCE_LOG")"
[ "$(sw_master_of m1)" = "3 3 1004 42" ] && [ "$(sw_count m1)" = 0 ] || h_fail "not exact after the recovery sweep: $(sw_master_of m1)"
h_ok "a row changed during page 1's delete, the lookup of the rows left refused: the member's delete rolled back whole; exact, with the change, once granted"

# ============ the same closed session on two members, master unreadable ============
h_start_mariadb m2
load_schema m1 m2 ms
grants
Q m2 "CREATE USER IF NOT EXISTS 'rd'@'127.0.0.1'; GRANT SELECT, UPDATE, DELETE ON radius.radacct TO 'rd'@'127.0.0.1';
      GRANT CREATE TEMPORARY TABLES ON radius.* TO 'rd'@'127.0.0.1'"
Q m2 "SET GLOBAL innodb_lock_wait_timeout = 50"
sweep_conf "$H_TMP/two.conf" "kafka = { enabled = true; brokers = \"$k_BOOTSTRAP\"; properties = [ \"message.timeout.ms=5000\" ]; };" m1 m2
sed -i -e 's/user = "root";/user = "rd";/g' -e "s/timeout = 5;/timeout = 20;/" "$H_TMP/two.conf"
for n in m1 m2; do
    Q $n "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
            acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause) VALUES
          ('s', 'dup-1', 'u', '10.0.0.1', '2026-01-01 10:00:00', '2026-01-01 10:10:00', '2026-01-01 10:15:00', 900, 41, 42, 'User-Request'),
          ('s', 'dup-$n', 'u', '10.0.0.1', '2026-01-01 10:00:00', '2026-01-01 10:10:00', '2026-01-01 10:15:00', 900, 5, 6, 'Lost-Carrier')"
done
sess_open lm2 m2
sess lm "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'dup-1' FOR UPDATE;"
sess_mark lm dup1
sess lm2 "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'dup-1' FOR UPDATE;"
sess_mark lm2 dup2
sweep_bg "$H_TMP/two.conf"
h_wait_until 30 in_lock_wait m1 'DELETE t FROM%' || h_fail "m1's delete never waited for dup-1: $(cat "$ONCE_LOG")"
h_wait_until 30 in_lock_wait m2 'DELETE t FROM%' || h_fail "m2's delete never waited for dup-1: $(cat "$ONCE_LOG")"
[ "$(Q ms "SELECT GROUP_CONCAT(CONCAT(acctuniqueid, ':', acctinputoctets) ORDER BY acctuniqueid) FROM radacct")" = "dup-1:41,dup-m1:5,dup-m2:5" ] \
    || h_fail "master does not hold both pages once while the deletes wait"
Q ms "REVOKE SELECT ON radius.radacct FROM 'rd'@'127.0.0.1'"
sess lm "ROLLBACK;"
sess_mark lm released6
sess lm2 "ROLLBACK;"
sess_mark lm2 released7
wait "$SWEEP_PID" || true	# (stale closing is refused too; not what is checked here)
for n in m1 m2; do
    log_has "member '$n': prepare: SELECT command denied.*the events of 2 moved row\(s\) carry the member's copies" \
        || h_fail "$n's events did not fall back to its copies: $(cat "$ONCE_LOG")"
    [ "$(sw_count $n)" = 0 ] || h_fail "$n still holds $(sw_count $n) rows"
done
[ "$(Q ms "SELECT COUNT(*), SUM(acctinputoctets) FROM radacct" | tr '\t' ' ')" = "3 51" ] || h_fail "master does not hold the three sessions once"
got=$(ev_view dup | cut -d' ' -f1,3-)
exp=$(printf 'dup-1\tclosed 41 42 true User-Request\ndup-m1\tclosed 5 6 true Lost-Carrier\ndup-m2\tclosed 5 6 true Lost-Carrier')
[ "$got" = "$exp" ] || h_fail "the events are not one per session: $got"
ev_view dup | grep -q "^dup-m1	closed m1 " && ev_view dup | grep -q "^dup-m2	closed m2 " || h_fail "the events do not name their members"
grants
h_ok "the same closed session on two members, master unreadable: both fall back to their copies, one \"closed\" event for it; master holds it once"
sess_close lm2
sess_close lm
