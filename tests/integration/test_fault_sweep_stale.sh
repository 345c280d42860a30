#!/usr/bin/env bash
# test_fault_sweep_stale.sh — stale closing's remaining error paths, each
# fault real and at the exact statement, each checked against what this
# script inserted:
#  - master refuses stale closing's own connection (max_user_connections 1:
#    the member's thread holds the one allowed): the pass fails and says so,
#    the moved rows are exact, nothing is closed; closed once allowed, and
#    with no kafka section master is not read back for the events;
#  - the member's user may not UPDATE: its copies are left open (master's
#    rows closed, the pass succeeds) and the next sweep removes them as
#    superseded by master's closed rows, which it leaves as they are;
#  - the member refuses one copy's UPDATE at its execute (a trigger): the
#    copies before it closed, the rest left open, then all gone from it;
#  - master's user without UPDATE, then without SELECT on radacctid (nothing
#    to move): stale closing refused at the prepare, nothing closed.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { tail -n 30 "$H_TMP"/once*.log >&2 2>/dev/null || true; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb m1 ms

sweep() { sweep_once "$1"; }	# CONF -> exit status (common.sh)
# stale SERVER N: open sessions t-1..t-N, last updated 2 hours ago
stale() {
    Q "$1" "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
              acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause)
            SELECT CONCAT('s', seq), CONCAT('t-', seq), 'u', '10.0.0.1', NOW() - INTERVAL 3 HOUR,
              NOW() - INTERVAL 2 HOUR, 3600, seq, seq, '' FROM seq_1_to_$2"
}
# closed SERVER: "count distinct sum-in" of its sessions closed as stale at their last update
closed() { Q "$1" "SELECT COUNT(*), COUNT(DISTINCT acctuniqueid), COALESCE(SUM(acctinputoctets), 0) FROM radacct
                   WHERE acctterminatecause = 'Stale-Session' AND acctstoptime = acctupdatetime AND acctsessiontime = 3600" | tr '\t' ' '; }
open_on() { Q "$1" "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NULL"; }

sweep_conf "$H_TMP/s.conf" "" m1
sed -i -e "s/timeout = 5;/timeout = 20;/" "$H_TMP/s.conf"
load_schema m1 ms
for s in m1 ms; do
    Q "$s" "CREATE USER IF NOT EXISTS 'st'@'127.0.0.1'"
done
sed -e 's/user = "root";/user = "st";/g' "$H_TMP/s.conf" > "$H_TMP/st.conf"
grants() {	# MEMBER-PRIVILEGES: granted to st (table grants outlive a dropped table)
    Q m1 "GRANT $1 ON radius.radacct TO 'st'@'127.0.0.1'; GRANT CREATE TEMPORARY TABLES ON radius.* TO 'st'@'127.0.0.1'"
    Q ms "GRANT SELECT, INSERT, UPDATE ON radius.radacct TO 'st'@'127.0.0.1'"
}

# --- master refuses stale closing's connection ---
load_schema m1 ms
grants "SELECT, UPDATE, DELETE"
stale ms 4
sw_rows m1 1 3
Q ms "GRANT USAGE ON *.* TO 'st'@'127.0.0.1' WITH MAX_USER_CONNECTIONS 1"
if sweep "$H_TMP/st.conf"; then h_fail "a sweep whose stale closing could not connect reported success"; fi
log_has "sweep: master: cannot connect to master .*max_user_connections" || h_fail "the failure is not stale closing's connection: $(cat "$ONCE_LOG")"
[ "$(sw_master_of m1)" = "$(sw_expect 3)" ] && [ "$(sw_count m1)" = 0 ] || h_fail "the member's rows not moved exactly: $(sw_master_of m1)"
[ "$(open_on ms)" = 4 ] || h_fail "stale sessions closed without a connection"
Q ms "GRANT USAGE ON *.* TO 'st'@'127.0.0.1' WITH MAX_USER_CONNECTIONS 0"
readback_log_on ms
sweep "$H_TMP/st.conf" || h_fail "the sweep failed once connections were allowed: $(cat "$ONCE_LOG")"
[ "$(closed ms)" = "4 4 10" ] || h_fail "master's stale sessions after the recovery: $(closed ms)"
[ "$(sw_master_of m1)" = "$(sw_expect 3)" ] || h_fail "the moved rows changed: $(sw_master_of m1)"
# no kafka section: the stale-closed sessions' events are only counted
n_read=$(readbacks ms)
[ "$n_read" = 0 ] || h_fail "master was read back for stale-closed events with no kafka section: $n_read read(s)"
h_ok "master refusing stale closing's connection: named, nothing closed, moved rows exact; closed once allowed, master not read back without kafka"

# --- the member's user may not UPDATE: its copies stay open, then go as superseded ---
load_schema m1 ms
Q m1 "REVOKE UPDATE ON radius.radacct FROM 'st'@'127.0.0.1'"
grants "SELECT, DELETE"
stale ms 3
stale m1 3
sweep "$H_TMP/st.conf" || h_fail "the sweep failed: $(cat "$ONCE_LOG")"
[ "$(closed ms)" = "3 3 6" ] || h_fail "master's stale sessions not closed: $(closed ms)"
[ "$(open_on m1)" = 3 ] || h_fail "m1's copies changed although its user may not UPDATE"
sweep "$H_TMP/st.conf" || h_fail "the next sweep failed: $(cat "$ONCE_LOG")"
[ "$(sw_count m1)" = 0 ] || h_fail "m1's open copies not removed as superseded"
[ "$(closed ms)" = "3 3 6" ] && [ "$(sw_count ms)" = 3 ] || h_fail "master's closed rows changed by the open copies: $(closed ms)"
h_ok "the member's copies not closable (no UPDATE): left open, then removed as superseded; master's closed rows kept"

# --- the member refuses one of its copies' UPDATEs (a trigger, the 2nd of 3):
# the copies before it closed, the rest left open; the pass succeeds and the
# next sweep moves the closed one and removes the open ones as superseded ---
load_schema m1 ms
stale ms 3
stale m1 3
Q m1 "DELIMITER //
CREATE TRIGGER refuse BEFORE UPDATE ON radacct FOR EACH ROW
      IF NEW.acctuniqueid = 't-2' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused for the test'; END IF //"
sweep "$H_TMP/s.conf" || h_fail "the sweep failed on a member's refused copy: $(cat "$ONCE_LOG")"
[ "$(closed ms)" = "3 3 6" ] || h_fail "master's stale sessions not closed: $(closed ms)"
[ "$(closed m1)" = "1 1 1" ] || h_fail "m1's copies closed before the refused one: $(closed m1)"
[ "$(Q m1 "SELECT GROUP_CONCAT(acctuniqueid ORDER BY acctuniqueid) FROM radacct WHERE acctstoptime IS NULL")" = "t-2,t-3" ] ||
    h_fail "m1's copies from the refused one on not left open"
Q m1 "DROP TRIGGER refuse"
sweep "$H_TMP/s.conf" || h_fail "the next sweep failed: $(cat "$ONCE_LOG")"
[ "$(sw_count m1)" = 0 ] || h_fail "m1's copies not moved or removed as superseded"
[ "$(closed ms)" = "3 3 6" ] && [ "$(sw_count ms)" = 3 ] || h_fail "master's closed rows changed by m1's copies: $(closed ms)"
h_ok "a member refusing one copy's UPDATE: the copies before it closed, the rest left open, then all gone from it; master exact"

# denied_then_granted WHAT ERE GRANT: with master's three stale sessions
# (stale), the pass fails, its log matching ERE (WHAT names it), and
# nothing is closed; once GRANT has run on master, the next pass closes all
# three exactly.
denied_then_granted() {
    stale ms 3
    if sweep "$H_TMP/st.conf"; then h_fail "a sweep whose $1 was refused reported success"; fi
    log_has "$2" || h_fail "the failure is not $1: $(cat "$ONCE_LOG")"
    [ "$(open_on ms)" = 3 ] && [ "$(sw_count ms)" = 3 ] || h_fail "master's stale sessions changed by a failed pass"
    Q ms "$3"
    sweep "$H_TMP/st.conf" || h_fail "the sweep failed once granted: $(cat "$ONCE_LOG")"
    [ "$(closed ms)" = "3 3 6" ] && [ "$(sw_count ms)" = 3 ] || h_fail "master's stale sessions after the grant: $(closed ms)"
}

# --- master's user may not UPDATE (nothing to move, so only stale closing
# needs it): its UPDATE refused at the prepare, the pass fails and says so,
# nothing closed; closed once granted ---
load_schema m1 ms
grants "SELECT, UPDATE, DELETE"
Q ms "REVOKE UPDATE ON radius.radacct FROM 'st'@'127.0.0.1'"
denied_then_granted "the stale UPDATE's prepare" "sweep: master: prepare: .*UPDATE command denied" \
    "GRANT UPDATE ON radius.radacct TO 'st'@'127.0.0.1'"
h_ok "master's user without UPDATE: stale closing's UPDATE refused at its prepare, named, nothing closed; closed once granted"

# --- master's user may not read radacctid (SELECT granted on the other
# columns stale closing reads, UPDATE on the table; nothing to move): its
# SELECT refused at the prepare, the pass fails and says so, nothing
# closed; closed once the table's SELECT is granted back ---
load_schema m1 ms
grants "SELECT, UPDATE, DELETE"
Q ms "REVOKE SELECT ON radius.radacct FROM 'st'@'127.0.0.1';
      GRANT SELECT (acctuniqueid, acctstoptime, acctupdatetime, acctstarttime) ON radius.radacct TO 'st'@'127.0.0.1'"
denied_then_granted "the stale SELECT's prepare" "sweep: master: prepare: .*SELECT command denied.*radacctid" \
    "GRANT SELECT ON radius.radacct TO 'st'@'127.0.0.1'"
h_ok "master's user without SELECT on radacctid: stale closing's SELECT refused at its prepare, named, nothing closed; closed once granted"
