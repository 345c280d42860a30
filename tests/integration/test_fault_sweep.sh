#!/usr/bin/env bash
# test_fault_sweep.sh — the sweep's error paths, each fault injected for real
# at the exact statement, each checked on the data afterwards against what
# this script inserted (not against anything the daemon computes):
#  - master's upsert: a lock wait that times out (retried, then given up), a
#    deadlock made with a second session (retried), the commit refused
#    (BACKUP STAGE BLOCK_COMMIT);
#  - the member's guarded delete: the staging insert (a MEMORY table that is
#    full), the join DELETE (a lock wait timing out, KILL QUERY during a
#    lock wait, DELETE revoked after the statement was prepared), the
#    member's commit refused;
#  - stale closing: more than one chunk (500) of stale sessions, and master
#    failing its SELECT ... FOR UPDATE, an UPDATE and its commit;
#  - as a daemon: a member down backs off 1, 2, 4, 8, 8 cycles, stale closing
#    waits for it until it has been away longer than stale_after, then runs;
#    the member back is swept at its next try.
# After each fault: master keeps every row it committed, the member keeps
# every row not deleted, and after the next cycle master holds each session
# exactly once with its newest copy and the members hold no closed row.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { tail -n 30 "$H_TMP"/once*.log >&2 2>/dev/null || true; agg_dump_log d 2>/dev/null || true; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb m1 m2 ms

sweep() { sweep_once "$1"; }	# CONF -> exit status (common.sh)
conf() {	# FILE BATCH MEMBER...: sweep_conf with its batch and a 20 s timeout
    local f=$1 b=$2
    shift 2
    sweep_conf "$f" "" "$@"
    sed -i -e "s/batch = 3;/batch = $b;/" -e "s/timeout = 5;/timeout = 20;/" "$f"
}

# hold_page2 PREFIX CONF: starts --once sweep of CONF (batch 3) held at page
# 2's upsert: master has older open copies of PREFIX-0004 and -0005 and
# session lk locks -0005 (-0004 keeps page 1's inserts out of that lock's
# gap).  Page 1 has moved when it returns; `sess lk "ROLLBACK;"` lets page 2 go.
hold_page2() {
    Q ms "INSERT INTO radacct (acctsessionid, acctuniqueid, acctstarttime, acctupdatetime, acctinputoctets, acctoutputoctets)
          VALUES ('s4', '$1-0004', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 15 MINUTE, 1, 1),
                 ('s5', '$1-0005', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 15 MINUTE, 1, 1)"
    sess lk "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = '$1-0005' FOR UPDATE;"
    sess_mark lk "hold-$1"
    sweep_bg "$2"
    h_wait_until 30 in_lock_wait ms 'INSERT INTO%' || h_fail "page 2 never waited on master"
    [ "$(ids m1 | head -n 1)" = "$1-0004" ] || h_fail "page 1 was not moved before page 2"
}

# --- the data and its oracle ---
# seed MEMBER PREFIX N OPEN: N sessions PREFIX-0001.. on MEMBER, every OPENth
# one open (0: none), updated 10 min ago (fresh); octets from the number.
seed() {
    local m=$1 p=$2 n=$3 o=$4
    Q "$m" "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
              acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause)
            SELECT CONCAT('s', seq), CONCAT('$p-', LPAD(seq, 4, '0')), 'u', '10.0.0.1', NOW() - INTERVAL 20 MINUTE,
              NOW() - INTERVAL 10 MINUTE, IF($o > 0 AND seq % GREATEST($o, 1) = 0, NULL, NOW() - INTERVAL 5 MINUTE),
              600, seq * 7, seq * 11, IF($o > 0 AND seq % GREATEST($o, 1) = 0, '', 'User-Request')
            FROM seq_1_to_$n"
}
expect() {	# PREFIX N OPEN: what master must hold of seed's sessions
    local p=$1 n=$2 o=$3 i st
    for ((i = 1; i <= n; i++)); do
        st=closed
        [ "$o" -gt 0 ] && [ $((i % o)) = 0 ] && st=open
        printf '%s-%04d\t%d\t%d\t%s\n' "$p" "$i" $((i * 7)) $((i * 11)) "$st"
    done
}
view() {	# SERVER: its sessions as expect() prints them
    Q "$1" "SELECT acctuniqueid, acctinputoctets, acctoutputoctets, IF(acctstoptime IS NULL, 'open', 'closed')
            FROM radacct ORDER BY acctuniqueid" | LC_ALL=C sort
}
ids() { Q "$1" "SELECT acctuniqueid FROM radacct ${2:-} ORDER BY acctuniqueid"; }
# exact PREFIX N OPEN: master holds each session once, as seeded; the members
# hold the open ones only
exact() {
    diff <(expect "$@" | LC_ALL=C sort) <(view ms) > "$H_TMP/diff.txt" \
        || h_fail "master differs from what was inserted (< expected, > master): $(head -20 "$H_TMP/diff.txt")"
    [ "$(Q ms "SELECT COUNT(*) - COUNT(DISTINCT acctuniqueid) FROM radacct")" = 0 ] || h_fail "a session twice on master"
    local m
    for m in m1 m2; do
        [ "$(Q $m "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NOT NULL")" = 0 ] \
            || h_fail "closed rows left on $m after the recovery sweep"
    done
}
fresh() { load_schema m1 m2 ms; }

conf "$H_TMP/b3.conf" 3 m1
conf "$H_TMP/b40.conf" 40 m1

# ============ master's upsert ============

# --- a lock wait on master times out: the page is rolled back and tried again ---
fresh
seed m1 a 9 0
# master holds an older open copy of a-0005 (page 2); another session locks it
Q ms "INSERT INTO radacct (acctsessionid, acctuniqueid, acctstarttime, acctupdatetime, acctinputoctets, acctoutputoctets)
      VALUES ('s5', 'a-0005', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 15 MINUTE, 1, 1)"
Q ms "SET GLOBAL innodb_lock_wait_timeout = 1"
sess_open lk ms
sess lk "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'a-0005' FOR UPDATE;"
sess_mark lk locked1
sweep_bg "$H_TMP/b3.conf"
h_wait_until 30 log_has "upsert into master.*Lock wait timeout.*trying again" || h_fail "no lock wait timeout retried"
sess lk "ROLLBACK;"
wait "$SWEEP_PID" || h_fail "the sweep failed though the lock was released during its retries"
[ "$(grep -c 'trying again' "$ONCE_LOG")" -le 4 ] || h_fail "more than 4 retries"
exact a 9 0
h_ok "master lock wait timing out: the page rolled back and retried, exact once the lock is gone"

# --- the lock held through every try: the member fails, nothing leaves it ---
fresh
seed m1 a 9 0
# (a-0004 there too: page 1's inserts go in the gap below it, not a-0005's)
Q ms "INSERT INTO radacct (acctsessionid, acctuniqueid, acctstarttime, acctupdatetime, acctinputoctets, acctoutputoctets)
      VALUES ('s4', 'a-0004', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 15 MINUTE, 1, 1),
             ('s5', 'a-0005', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 15 MINUTE, 1, 1)"
sess lk "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'a-0005' FOR UPDATE;"
sess_mark lk locked2
if sweep "$H_TMP/b3.conf"; then h_fail "a sweep whose upsert never got the lock reported success"; fi
[ "$(grep -c 'trying again' "$ONCE_LOG")" = 4 ] || h_fail "not 5 tries: $(grep -c 'trying again' "$ONCE_LOG") retries"
log_has "member 'm1': upsert into master" || h_fail "the failure does not name the upsert"
sess lk "ROLLBACK;"
# page 1 moved; pages 2 and 3 are still on m1, and master has not a-0004..6's page
diff <(printf 'a-%04d\n' 4 5 6 7 8 9) <(ids m1) || h_fail "m1 does not keep exactly the pages not moved"
diff <(printf 'a-%04d\n' 1 2 3 4 5) <(ids ms) || h_fail "master holds rows of the rolled-back page"
[ "$(Q ms "SELECT SUM(acctinputoctets) FROM radacct WHERE acctuniqueid IN ('a-0004', 'a-0005')")" = 2 ] || h_fail "the rolled-back page changed master's copy"
sweep "$H_TMP/b3.conf" || h_fail "the recovery sweep failed"
exact a 9 0
h_ok "master lock held through 5 tries: the member fails, the page stays on it, exact after the next sweep"

# --- a deadlock on master with a second session: the sweep's page is the victim, retried ---
fresh
seed m1 d 3 0
Q ms "INSERT INTO radacct (acctsessionid, acctuniqueid, acctstarttime, acctupdatetime, acctinputoctets, acctoutputoctets)
      VALUES ('s1', 'd-0001', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 15 MINUTE, 1, 1),
             ('s3', 'd-0003', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 15 MINUTE, 1, 1);
      CREATE TABLE ballast (i INT PRIMARY KEY) ENGINE=InnoDB"
Q ms "SET GLOBAL innodb_lock_wait_timeout = 30"
# the other session is the heavier transaction (so InnoDB picks the sweep's
# as the victim); it holds d-0003, the sweep takes d-0001 and waits for d-0003
sess lk "BEGIN; INSERT INTO radius.ballast SELECT seq FROM radius.seq_1_to_2000; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'd-0003' FOR UPDATE;"
sess_mark lk locked3
sweep_bg "$H_TMP/b3.conf"
h_wait_until 30 in_lock_wait ms 'INSERT INTO%' || { Q ms "SELECT * FROM information_schema.INNODB_TRX\G; SHOW PROCESSLIST" >&2; h_fail "the sweep's upsert never waited for d-0003"; }
sess lk "UPDATE radius.radacct SET acctinputoctets = 2 WHERE acctuniqueid = 'd-0001';"
h_wait_until 30 log_has "upsert into master.*Deadlock.*trying again" || h_fail "no deadlock retried: $(cat "$H_TMP/lk.log")"
sess lk "ROLLBACK;"
wait "$SWEEP_PID" || h_fail "the sweep failed after its deadlock"
exact d 3 0
h_ok "deadlock on master with another session: the sweep's page rolled back and retried, exact"

# --- master refuses the commit (BACKUP STAGE BLOCK_COMMIT): nothing leaves the member ---
fresh
seed m1 c 9 0
Q ms "SET GLOBAL lock_wait_timeout = 1"
sess lk "BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT;"
sess_mark lk blocked1
if sweep "$H_TMP/b3.conf"; then h_fail "a sweep whose master commit failed reported success"; fi
log_has "member 'm1': commit on master" || h_fail "the failure is not master's commit"
sess lk "BACKUP STAGE END;"
sess_mark lk unblocked1
[ "$(Q m1 "SELECT COUNT(*) FROM radacct")" = 9 ] || h_fail "rows left m1 although master's commit failed"
[ "$(Q ms "SELECT COUNT(*) FROM radacct")" = 0 ] || h_fail "master kept an uncommitted page"
Q ms "SET GLOBAL lock_wait_timeout = 86400"
sweep "$H_TMP/b3.conf" || h_fail "the recovery sweep failed"
exact c 9 0
h_ok "master's commit refused: nothing deleted from the member, exact after the next sweep"
# ============ the member's guarded delete ============

# --- the join DELETE waits for a row lock and times out (page 2 of 3) ---
# (the lock is taken once page 1 has moved: on a small table the DELETE's
# join reads the member's table in order, and would wait at page 1 already)
fresh
seed m1 e 9 4
Q m1 "SET GLOBAL innodb_lock_wait_timeout = 1"
Q ms "SET GLOBAL innodb_lock_wait_timeout = 50"
sess_open lm m1
hold_page2 e "$H_TMP/b3.conf"
sess lm "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'e-0005' FOR UPDATE;"
sess_mark lm locked4
sess lk "ROLLBACK;"
if wait "$SWEEP_PID"; then h_fail "a sweep whose delete timed out reported success"; fi
log_has "member 'm1': delete on the member.*Lock wait timeout" || h_fail "the failure is not the delete's lock wait"
sess lm "ROLLBACK;"
sess_mark lm released4
# page 1 (e-0001..3) moved; page 2 (e-0004 open, e-0005, e-0006) copied, not deleted
diff <(printf 'e-%04d\n' 4 5 6 7 8 9) <(ids m1) || h_fail "m1 does not keep exactly what was not deleted"
diff <(expect e 6 4 | LC_ALL=C sort) <(view ms) || h_fail "master does not hold pages 1 and 2 as committed"
sweep "$H_TMP/b3.conf" || h_fail "the recovery sweep failed"
exact e 9 4
Q m1 "SET GLOBAL innodb_lock_wait_timeout = 50"
h_ok "member delete timing out on a row lock: master keeps the page, the member every row of it, exact after"

# --- KILL QUERY of the sweep's DELETE while it waits for a lock ---
fresh
seed m1 k 9 0
hold_page2 k "$H_TMP/b3.conf"
sess lm "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 'k-0006' FOR UPDATE;"
sess_mark lm locked5
sess lk "ROLLBACK;"
h_wait_until 30 in_lock_wait m1 'DELETE t FROM%' || h_fail "the sweep's delete never waited"
for id in $(processlist m1 'DELETE t FROM%'); do Q m1 "KILL QUERY $id"; done
if wait "$SWEEP_PID"; then h_fail "a sweep whose delete was killed reported success"; fi
log_has "member 'm1': delete on the member.*interrupted" || h_fail "the failure is not the killed delete"
sess lm "ROLLBACK;"
sess_mark lm released5
diff <(printf 'k-%04d\n' 4 5 6 7 8 9) <(ids m1) || h_fail "m1 does not keep exactly the page whose delete was killed"
diff <(expect k 6 0 | LC_ALL=C sort) <(view ms) || h_fail "master does not hold pages 1 and 2 as committed"
sweep "$H_TMP/b3.conf" || h_fail "the recovery sweep failed"
exact k 9 0
h_ok "KILL QUERY of the member delete in its lock wait: nothing lost, exact after the next sweep"

# --- DELETE revoked after the statement was prepared (page 1 moved, page 2 refused) ---
fresh
seed m1 r 9 0
Q m1 "CREATE USER IF NOT EXISTS 'sw'@'127.0.0.1';
      GRANT SELECT, UPDATE, DELETE ON radius.radacct TO 'sw'@'127.0.0.1';
      GRANT CREATE TEMPORARY TABLES ON radius.* TO 'sw'@'127.0.0.1'"
sed "s/port = $m1_PORT; user = \"root\"/port = $m1_PORT; user = \"sw\"/" "$H_TMP/b3.conf" > "$H_TMP/b3-sw.conf"
hold_page2 r "$H_TMP/b3-sw.conf"
# (a table privilege: a connection sees its change at its next statement)
Q m1 "REVOKE DELETE ON radius.radacct FROM 'sw'@'127.0.0.1'"
sess lk "ROLLBACK;"
if wait "$SWEEP_PID"; then h_fail "a sweep whose delete was refused reported success"; fi
log_has "member 'm1': delete on the member.*DELETE command denied" || h_fail "the failure is not the refused delete"
diff <(printf 'r-%04d\n' 4 5 6 7 8 9) <(ids m1) || h_fail "m1 does not keep exactly what was not deleted"
diff <(printf 'r-%04d\n' 1 2 3 4 5 6) <(ids ms) || h_fail "master lacks page 2, committed before the delete"
Q m1 "GRANT DELETE ON radius.radacct TO 'sw'@'127.0.0.1'"
sweep "$H_TMP/b3-sw.conf" || h_fail "the recovery sweep failed"
exact r 9 0
h_ok "DELETE revoked between two pages: the refused page stays on the member, exact once granted"

# --- CREATE TEMPORARY TABLES revoked: the staging table cannot be made ---
fresh
seed m1 t 6 0
Q m1 "REVOKE CREATE TEMPORARY TABLES ON radius.* FROM 'sw'@'127.0.0.1'"
if sweep "$H_TMP/b3-sw.conf"; then h_fail "a sweep that could not make its staging table reported success"; fi
log_has "member 'm1': creating the staging table on the member: Access denied" || h_fail "the failure is not the staging table's: $(cat "$ONCE_LOG")"
diff <(printf 't-%04d\n' 1 2 3 4 5 6) <(ids m1) || h_fail "m1 lost rows it never deleted"
diff <(printf 't-%04d\n' 1 2 3) <(ids ms) || h_fail "master does not hold exactly page 1, committed before the delete"
Q m1 "GRANT CREATE TEMPORARY TABLES ON radius.* TO 'sw'@'127.0.0.1'"
sweep "$H_TMP/b3-sw.conf" || h_fail "the recovery sweep failed"
exact t 6 0
h_ok "CREATE TEMPORARY TABLES revoked: page 1 on master, nothing deleted from the member; exact once granted"

# --- the staging insert fails (the MEMORY staging table is full) ---
fresh
seed m1 f 40 0
Q m1 "SET GLOBAL max_heap_table_size = 16384"
if sweep "$H_TMP/b40.conf"; then h_fail "a sweep whose staging failed reported success"; fi
log_has "member 'm1': staging rows on the member.*is full" || h_fail "the failure is not the staging insert"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct")" = 40 ] || h_fail "rows left m1 although staging failed"
[ "$(Q ms "SELECT COUNT(*) FROM radacct")" = 40 ] || h_fail "master lacks the committed page"
Q m1 "SET GLOBAL max_heap_table_size = 16777216"
sweep "$H_TMP/b40.conf" || h_fail "the recovery sweep failed"
exact f 40 0
h_ok "staging insert failing (table full): master keeps the page, the member every row, exact after"

# --- the member refuses the commit of the delete ---
fresh
seed m1 g 9 0
Q m1 "SET GLOBAL lock_wait_timeout = 1"
sess lm "BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT;"
sess_mark lm blocked2
if sweep "$H_TMP/b3.conf"; then h_fail "a sweep whose member commit failed reported success"; fi
log_has "member 'm1': commit on the member" || h_fail "the failure is not the member's commit"
sess lm "BACKUP STAGE END;"
sess_mark lm unblocked2
Q m1 "SET GLOBAL lock_wait_timeout = 86400"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct")" = 9 ] || h_fail "rows left m1 although its commit failed"
diff <(printf 'g-%04d\n' 1 2 3) <(ids ms) || h_fail "master does not hold exactly page 1"
sweep "$H_TMP/b3.conf" || h_fail "the recovery sweep failed"
exact g 9 0
h_ok "member commit refused: the delete rolled back, master keeps the page, exact after the next sweep"

# ============ stale closing ============

# stale MEMBER PREFIX N: N open sessions, last updated 2 hours ago
stale() {
    Q "$1" "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
              acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause)
            SELECT CONCAT('s', seq), CONCAT('$2-', LPAD(seq, 4, '0')), 'u', '10.0.0.1', NOW() - INTERVAL 3 HOUR,
              NOW() - INTERVAL 2 HOUR, 3600, seq, seq, '' FROM seq_1_to_$3"
}
stale_ok() {	# SERVER PREFIX N: every one closed as stale, stop = last update
    [ "$(Q "$1" "SELECT COUNT(*) FROM radacct WHERE acctuniqueid LIKE '$2-%' AND acctterminatecause = 'Stale-Session'
                 AND acctstoptime = acctupdatetime AND acctsessiontime = 3600")" = "$3" ]
}

# --- more than one chunk: 1203 stale sessions, closed 500 at a time ---
fresh
stale m1 s 1203
conf "$H_TMP/b500.conf" 500 m1
sweep "$H_TMP/b500.conf" || h_fail "the sweep of 1203 stale sessions failed"
stale_ok ms s 1203 || h_fail "master: not every one of 1203 stale sessions closed"
[ "$(grep -c 'closed [0-9]* stale session' "$ONCE_LOG")" = 3 ] || h_fail "not closed in 3 chunks"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NULL")" = 0 ] || h_fail "m1's copies not closed"
sweep "$H_TMP/b500.conf" || h_fail "the next sweep failed"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct")" = 0 ] || h_fail "the closed copies did not move"
[ "$(Q ms "SELECT COUNT(*) FROM radacct")" = 1203 ] && stale_ok ms s 1203 || h_fail "master changed by the move of the closed copies"
h_ok "1203 stale sessions: closed in chunks of 500 on master and on the member, each once"

# --- master fails stale closing: its SELECT ... FOR UPDATE, an UPDATE, its commit ---
fresh
stale ms t 12
Q ms "SET GLOBAL innodb_lock_wait_timeout = 1"
sess lk "BEGIN; SELECT acctuniqueid FROM radius.radacct WHERE acctuniqueid = 't-0007' FOR UPDATE;"
sess_mark lk locked7
if sweep "$H_TMP/b3.conf"; then cat "$ONCE_LOG" "$H_TMP/lk.log" >&2; Q ms "SELECT acctuniqueid, acctstoptime FROM radacct" >&2; h_fail "a sweep whose stale closing failed reported success"; fi
log_has "master: finding stale sessions on master.*Lock wait timeout" || h_fail "the failure is not the stale SELECT"
sess lk "ROLLBACK;"
sess_mark lk released7
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NULL")" = 12 ] || h_fail "stale sessions closed by a failed pass"
# an UPDATE refused by the server (a trigger), the 9th of the chunk
Q ms "DELIMITER //
CREATE TRIGGER refuse BEFORE UPDATE ON radacct FOR EACH ROW
      IF NEW.acctuniqueid = 't-0009' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused for the test'; END IF //"
if sweep "$H_TMP/b3.conf"; then h_fail "a sweep whose stale UPDATE failed reported success"; fi
log_has "master: closing a stale session on master.*refused for the test" || h_fail "the failure is not the stale UPDATE"
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NULL")" = 12 ] || h_fail "the chunk was not rolled back whole"
Q ms "DROP TRIGGER refuse; SET GLOBAL lock_wait_timeout = 1"
sess lk "BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT;"
sess_mark lk blocked3
if sweep "$H_TMP/b3.conf"; then h_fail "a sweep whose stale commit failed reported success"; fi
log_has "master: commit on master" || h_fail "the failure is not the stale commit"
sess lk "BACKUP STAGE END;"
sess_mark lk unblocked3
Q ms "SET GLOBAL lock_wait_timeout = 86400; SET GLOBAL innodb_lock_wait_timeout = 50"
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NULL")" = 12 ] || h_fail "stale sessions closed by an uncommitted pass"
sweep "$H_TMP/b3.conf" || h_fail "the recovery sweep failed"
stale_ok ms t 12 || h_fail "not every stale session closed after the faults"
h_ok "stale closing's master errors (lock wait, a refused UPDATE, the commit): nothing closed, all closed after"
sess_close lk
sess_close lm

# ============ a member down, as a daemon ============
# m2 down: tried at cycles 1, 2, 4, 8, 16, 24, ... (back-off 1, 2, 4, 8);
# stale closing waits while it has been away less than stale_after (60 s,
# the least allowed), then runs; m2 back is swept at its next try.
fresh
stale ms w 5
seed m2 h 6 0
hport=$(h_free_port tcp)
sweep_conf "$H_TMP/d.conf" "http = { listen = \"127.0.0.1:$hport\"; };" m1 m2
sed -i -e "s/stale_after = 3600;/interval = 1; stale_after = 60;/" "$H_TMP/d.conf"
h_stop m2
t_down=$(date +%s)
agg_start d "$H_TMP/d.conf"
member_errors() { agg_metric d "aggregatord_sweep_errors_total{member=\"m2\"}"; }
h_wait_until 60 sh -c "[ \"\$(grep -c \"member 'm2'.*retrying in\" '$H_TMP/d.log')\" -ge 5 ]" \
    || h_fail "m2 not tried 5 times"
grep -o "member 'm2'.*retrying in [0-9]* cycle" "$H_TMP/d.log" | grep -o '[0-9]* cycle$' | head -n 5 | tr '\n' ' ' > "$H_TMP/backoff.txt"
[ "$(cat "$H_TMP/backoff.txt")" = "1 cycle 2 cycle 4 cycle 8 cycle 8 cycle " ] || h_fail "back-off is not 1 2 4 8 8: $(cat "$H_TMP/backoff.txt")"
[ "$(agg_get d /v1/status | jq -r '.jobs[] | select(.name == "sweep") | .status.members.m2.state')" = down ] || h_fail "status does not show m2 down"
# the stale sessions stay open until m2 has been away 60 s
if [ $(( $(date +%s) - t_down )) -lt 55 ]; then
    [ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NULL")" = 5 ] || h_fail "stale closing ran while m2 was away less than stale_after"
fi
h_wait_until 90 stale_ok ms w 5 || h_fail "stale closing never ran with m2 away longer than stale_after"
[ $(( $(date +%s) - t_down )) -ge 60 ] || h_fail "stale closing ran before m2 was away stale_after"
e0=$(member_errors)
h_restart_mariadb m2
h_wait_until 30 agg_log_has d "member 'm2' is reachable again" || h_fail "m2 back was not swept"
[ "$(member_errors)" = "$e0" ] || h_fail "errors counted after m2 came back"
[ "$(agg_get d /v1/status | jq -r '.jobs[] | select(.name == "sweep") | .status.members.m2.state')" = up ] || h_fail "status does not show m2 up"
diff <( (expect h 6 0; printf 'w-%04d\t%d\t%d\tclosed\n' 1 1 1 2 2 2 3 3 3 4 4 4 5 5 5) | LC_ALL=C sort) <(view ms) \
    || h_fail "master after m2's return differs from what was inserted"
[ "$(Q m2 "SELECT COUNT(*) FROM radacct")" = 0 ] || h_fail "m2's closed rows were not moved"
h_stop d
h_ok "member down: back-off 1 2 4 8 8, stale closing only once away longer than stale_after, swept on return"
