#!/usr/bin/env bash
# test_sweep.sh — the sweep against real MariaDB servers loaded with
# FreeRADIUS's own schema: sessions spread across two members in every
# order (start/interim/stop on different members, a late interim after the
# stop, Accounting-On closing a NAS's sessions, duplicate stops, a stale
# session), swept in both member orders: master holds every session once
# with the winning version, members hold only open sessions, the stale one
# is closed; a second sweep changes nothing.  Faults: the member delete
# failing after master committed (as a kill between the two would), a
# member down, master down, and a row FreeRADIUS updates between read and
# delete.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { cat "$H_TMP"/once*.log >&2 2>/dev/null || true; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb m1 m2 ms
load_schema m1 m2 ms

conf() { local f=$1; shift; sweep_conf "$f" "" "$@"; }	# FILE MEMBER...
conf "$H_TMP/both.conf" m1 m2
conf "$H_TMP/m1.conf" m1
conf "$H_TMP/m2.conf" m2
sweep() { sweep_once "$1"; }	# CONF -> exit status (common.sh)

# Rows as FreeRADIUS's queries would leave them; T is half an hour ago, in
# the servers' zone (they run in this shell's, SYSTEM).
COLS="acctsessionid,acctuniqueid,username,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause"
# one fixed base for every statement, so the copies' times relate exactly
T="TIMESTAMP('$(date -d '-30 min' '+%Y-%m-%d %H:%M:%S')')"
row() {	# MEMBER UNIQUEID START_MIN UPDATE_MIN STOP_MIN|NULL SESSTIME IN OUT CAUSE [NAS]
    local stop=NULL
    [ "$5" = NULL ] || stop="$T + INTERVAL $5 MINUTE"
    Q "$1" "INSERT INTO radacct ($COLS) VALUES ('s-$2','$2','user-$2','${10:-10.0.0.1}','1',
        $T + INTERVAL $3 MINUTE, $T + INTERVAL $4 MINUTE, $stop, $6, $7, $8, '$9')"
}
scenario() {
    # open on both, the later interim on m2 wins
    row m1 u_open 0 10 NULL 600 100 100 ''
    row m2 u_open 0 20 NULL 1200 200 200 ''
    # Stop on m1 (FreeRADIUS leaves acctupdatetime alone), a late interim on m2
    row m1 u_stop 0 10 30 1800 5000 5000 User-Request
    row m2 u_stop 0 20 NULL 1200 4000 4000 ''
    # an interim after the stop, with a later update time: the stop still wins
    row m1 u_after 0 5 25 1500 3000 3000 Lost-Carrier
    row m2 u_after 0 28 NULL 1680 3100 3100 ''
    # duplicate stops, identical
    row m1 u_dup 0 10 30 1800 7000 7000 User-Request
    row m2 u_dup 0 10 30 1800 7000 7000 User-Request
    # two stops, the later one wins
    row m1 u_two 0 10 30 1800 8000 8000 User-Request
    row m2 u_two 0 10 31 1860 8100 8100 Idle-Timeout
    # Accounting-On from NAS 10.0.0.9 closed the session on m2 (stock bulk query)
    row m1 u_nas 0 15 NULL 900 900 900 '' 10.0.0.9
    row m2 u_nas 0 15 NULL 900 900 900 '' 10.0.0.9
    Q m2 "UPDATE radacct SET acctstoptime = $T + INTERVAL 20 MINUTE,
          acctsessiontime = 1200, acctterminatecause = 'NAS-Reboot'
          WHERE acctstoptime IS NULL AND nasipaddress = '10.0.0.9'"
    # stale: no update for two hours
    row m1 u_stale -180 -120 NULL 3600 10 10 ''
    # fresh and open, on m2 only
    row m2 u_fresh 25 29 NULL 240 1 1 ''
}
# What master must hold: uniqueid, open?, session time, cause
expected() {
    cat <<'EXP'
u_after	0	1500	Lost-Carrier
u_dup	0	1800	User-Request
u_fresh	1	240	
u_nas	0	1200	NAS-Reboot
u_open	1	1200	
u_stale	0	3600	Stale-Session
u_stop	0	1800	User-Request
u_two	0	1860	Idle-Timeout
EXP
}
master_view() { Q ms "SELECT acctuniqueid, acctstoptime IS NULL, acctsessiontime, acctterminatecause FROM radacct ORDER BY acctuniqueid"; }
# every column that matters, times relative to the session's start (the two
# loads happen at different moments)
master_sum() { Q ms "SELECT acctuniqueid, TIMESTAMPDIFF(SECOND, acctstarttime, acctupdatetime),
    TIMESTAMPDIFF(SECOND, acctstarttime, acctstoptime), acctsessiontime, acctinputoctets,
    acctoutputoctets, acctterminatecause, username, nasipaddress FROM radacct ORDER BY acctuniqueid" | md5sum; }

# What master is sent: a trigger (the test's, not the sweep's) notes every
# row an INSERT (or upsert) hands it, so "not sent again" is read from data.
sent_log() {
    Q ms "CREATE TABLE agg_test_sent (acctuniqueid VARCHAR(32) NOT NULL);
          CREATE TRIGGER agg_test_sent_t BEFORE INSERT ON radacct FOR EACH ROW
              INSERT INTO agg_test_sent VALUES (NEW.acctuniqueid)"
}
sent() { Q ms "SELECT GROUP_CONCAT(acctuniqueid ORDER BY acctuniqueid) FROM agg_test_sent"; }
for order in "m1 m2" "m2 m1"; do
    load_schema m1 m2 ms
    sent_log
    scenario
    for m in $order; do
        sweep "$H_TMP/$m.conf" || h_fail "sweep of $m failed: $(cat "$H_TMP/once$n_once.log")"
    done
    sweep "$H_TMP/both.conf" || h_fail "second sweep failed"	# moves the stale-closed copies
    diff <(expected) <(master_view) > "$H_TMP/diff.txt" || h_fail "order $order: master differs: $(cat "$H_TMP/diff.txt")"
    [ "$(Q ms "SELECT COUNT(*), COUNT(DISTINCT acctuniqueid) FROM radacct")" = "8	8" ] || h_fail "duplicates on master"
    # the stale session: stop = last update, session time consistent
    [ "$(Q ms "SELECT acctstoptime = acctupdatetime AND acctsessiontime = TIMESTAMPDIFF(SECOND, acctstarttime, acctstoptime) FROM radacct WHERE acctuniqueid = 'u_stale'")" = 1 ] \
        || h_fail "stale session not closed consistently"
    # members keep only open sessions that master does not hold closed
    [ "$(Q m1 "SELECT GROUP_CONCAT(acctuniqueid ORDER BY acctuniqueid) FROM radacct")" = "u_open" ] \
        || h_fail "order $order: m1 holds $(Q m1 "SELECT GROUP_CONCAT(acctuniqueid) FROM radacct")"
    [ "$(Q m2 "SELECT GROUP_CONCAT(acctuniqueid ORDER BY acctuniqueid) FROM radacct")" = "u_fresh,u_open" ] \
        || h_fail "order $order: m2 holds $(Q m2 "SELECT GROUP_CONCAT(acctuniqueid) FROM radacct")"
    sum1=$(master_sum)
    [ -n "$(sent)" ] || h_fail "order $order: the trigger saw nothing sent to master"
    Q ms "DELETE FROM agg_test_sent"
    sweep "$H_TMP/both.conf" || h_fail "third sweep failed"
    [ "$(master_sum)" = "$sum1" ] || h_fail "a rerun changed master"
    eval "SUM_${order// /_}=\$sum1"
    # the open rows left are unchanged (m2's) or beaten (m1's u_open): none is sent again
    [ "$(sent)" = NULL ] || h_fail "order $order: unchanged open rows were sent to master again: $(sent)"
    # an interim on m2 changes u_fresh: that one row is sent, and master follows it
    Q m2 "UPDATE radacct SET acctupdatetime = acctupdatetime + INTERVAL 1 MINUTE, acctsessiontime = 300,
          acctinputoctets = 2 WHERE acctuniqueid = 'u_fresh'"
    sweep "$H_TMP/both.conf" || h_fail "fourth sweep failed"
    [ "$(sent)" = u_fresh ] || h_fail "order $order: master was sent '$(sent)', not the changed open row u_fresh alone"
    [ "$(Q ms "SELECT acctstoptime IS NULL, acctsessiontime, acctinputoctets FROM radacct WHERE acctuniqueid = 'u_fresh'")" = "1	300	2" ] ||
        h_fail "order $order: master did not take the interim: $(Q ms "SELECT acctsessiontime FROM radacct WHERE acctuniqueid = 'u_fresh'")"
    h_ok "members swept in order $order: master holds every session once with the winning version; members only open ones; stale closed; a rerun changes nothing and sends no unchanged open row; a changed one is sent"
done
[ "$SUM_m1_m2" = "$SUM_m2_m1" ] || h_fail "the two member orders give different masters"
h_ok "both member orders give the same master"

# --- the member delete fails after master committed (as a kill between the two would) ---
load_schema m1 m2 ms
scenario
# every privilege the sweep needs on a member but DELETE: it fails at the
# delete itself, not before (at the staging table)
Q m1 "CREATE USER 'nodel'@'127.0.0.1'; GRANT SELECT, UPDATE ON radius.radacct TO 'nodel'@'127.0.0.1';
      GRANT CREATE TEMPORARY TABLES ON radius.* TO 'nodel'@'127.0.0.1'"
sed "s/port = $m1_PORT; user = \"root\"/port = $m1_PORT; user = \"nodel\"/" "$H_TMP/m1.conf" > "$H_TMP/m1-nodel.conf"
before=$(Q m1 "SELECT COUNT(*) FROM radacct")
if sweep "$H_TMP/m1-nodel.conf"; then h_fail "a sweep whose delete fails reported success"; fi
grep -q "member 'm1':.*DELETE command denied" "$H_TMP/once$n_once.log" || h_fail "the failure is not the member's delete: $(cat "$H_TMP/once$n_once.log")"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct")" = "$before" ] || h_fail "rows left m1 although the delete failed"
[ "$(Q ms "SELECT COUNT(*) FROM radacct")" -gt 0 ] || h_fail "master got nothing"
sweep "$H_TMP/m1.conf" && sweep "$H_TMP/m2.conf" && sweep "$H_TMP/both.conf" || h_fail "recovery sweeps failed"
diff <(expected) <(master_view) > "$H_TMP/diff.txt" || h_fail "after the failed delete master differs: $(cat "$H_TMP/diff.txt")"
[ "$(Q ms "SELECT COUNT(*) FROM radacct")" = 8 ] || h_fail "duplicates after recovery"
h_ok "delete failing after the master commit: nothing lost, nothing doubled after the next sweep"

# --- a member down: the other goes on; master down: nothing deleted anywhere ---
load_schema m1 m2 ms
scenario
h_stop m2
if sweep "$H_TMP/both.conf"; then h_fail "a sweep with a member down reported success"; fi
grep -q "member 'm2'" "$H_TMP/once$n_once.log" || h_fail "the failure does not name m2"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NOT NULL")" = 0 ] || h_fail "m1 was not swept while m2 was down"
# stale closing skipped without m2's view: m1's stale session reached master open, and nothing is closed as stale
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctuniqueid = 'u_stale' AND acctstoptime IS NULL")" = 1 ] \
    || h_fail "stale closing ran without m2's view: master's u_stale: $(Q ms "SELECT acctstoptime, acctterminatecause FROM radacct WHERE acctuniqueid = 'u_stale'")"
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctterminatecause = 'Stale-Session'")" = 0 ] &&
    [ "$(Q m1 "SELECT COUNT(*) FROM radacct WHERE acctterminatecause = 'Stale-Session' OR (acctuniqueid = 'u_stale' AND acctstoptime IS NOT NULL)")" = 0 ] \
    || h_fail "stale closing ran without m2's view: a session was closed as stale"
h_restart_mariadb m2
h_stop ms
c1=$(Q m1 "SELECT COUNT(*) FROM radacct"); c2=$(Q m2 "SELECT COUNT(*) FROM radacct")
if sweep "$H_TMP/both.conf"; then h_fail "a sweep with master down reported success"; fi
grep -q "master" "$H_TMP/once$n_once.log" || h_fail "the failure does not name master"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct")" = "$c1" ] && [ "$(Q m2 "SELECT COUNT(*) FROM radacct")" = "$c2" ] \
    || h_fail "rows deleted from a member while master was down"
h_restart_mariadb ms
sweep "$H_TMP/both.conf" && sweep "$H_TMP/both.conf" || h_fail "sweeps after the outages failed"
diff <(expected) <(master_view) > "$H_TMP/diff.txt" || h_fail "after the outages master differs: $(cat "$H_TMP/diff.txt")"
h_ok "member down: skipped and named, the other swept; master down: nothing deleted; both back: exact"

# --- a row updated between read and delete survives to the next cycle ---
load_schema m1 m2 ms
sweep_race "$H_TMP/m1.conf"
[ "$(Q m1 "SELECT acctinputoctets FROM radacct WHERE acctuniqueid = 'u_race'")" = 150 ] || h_fail "the updated row was deleted"
grep -q "changed since read" "$H_TMP/race.log" || h_fail "the skipped delete was not logged"
sweep "$H_TMP/m1.conf" || h_fail "next sweep failed"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct")" = 0 ] || h_fail "the updated row was not moved by the next sweep"
[ "$(Q ms "SELECT acctinputoctets FROM radacct WHERE acctuniqueid = 'u_race'")" = 150 ] || h_fail "master lacks the update"
h_ok "a row FreeRADIUS updated between read and delete survives, and the next sweep moves the new version"

# --- as a daemon: cycles on its own, metrics pass promtool, status per member ---
load_schema m1 m2 ms
scenario
hport=$(h_free_port tcp)
sed -e "s/^sweep = { stale_after = 3600;/sweep = { interval = 1; stale_after = 3600;/" "$H_TMP/both.conf" > "$H_TMP/d.conf"
echo "http = { listen = \"127.0.0.1:$hport\"; };" >> "$H_TMP/d.conf"
agg_start d "$H_TMP/d.conf"
h_wait_until 20 sh -c "[ \$(curl -s http://127.0.0.1:$hport/metrics | awk '\$1 == \"aggregatord_sweep_cycles_total\" { print \$2 }') -ge 2 ]" \
    || h_fail "the daemon does not cycle"
diff <(expected) <(master_view) > "$H_TMP/diff.txt" || h_fail "daemon sweep: master differs: $(cat "$H_TMP/diff.txt")"
agg_get d /metrics > "$H_TMP/metrics.txt"
promtool check metrics < "$H_TMP/metrics.txt" || h_fail "promtool rejects the sweep metrics"
grep -q '^aggregatord_sweep_rows_moved_total{member="m1"} [1-9]' "$H_TMP/metrics.txt" || h_fail "no per-member metrics"
"$AGGCTL" -s "$d_URL" status > "$H_TMP/status.txt"
grep -q '^\[sweep\]' "$H_TMP/status.txt" && grep -q 'm2:' "$H_TMP/status.txt" || h_fail "status lacks the sweep: $(cat "$H_TMP/status.txt")"
h_stop d
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
h_ok "daemon mode: cycles every interval, per-member metrics pass promtool, status shows members"

# --- the table is checked at connect: missing columns are named ---
Q m2 "ALTER TABLE radacct DROP COLUMN class, DROP COLUMN framedinterfaceid"
if sweep "$H_TMP/m2.conf"; then h_fail "a table without its columns was swept"; fi
grep -q "table 'radacct' on member 'm2' lacks column(s): framedinterfaceid, class" "$H_TMP/once$n_once.log" \
    || h_fail "missing columns not named: $(cat "$H_TMP/once$n_once.log")"
h_ok "a member table lacking columns is refused, naming them"

# --- a value wider than the sweep's row buffer: the row stays, nothing truncated reaches master ---
load_schema m1 ms
row m1 u_ok 0 10 30 1800 5 5 User-Request
row m1 u_wide 0 10 30 1800 5 5 User-Request
Q m1 "UPDATE radacct SET connectinfo_start = REPEAT(_utf8mb4 X'C3A9', 100) WHERE acctuniqueid = 'u_wide'"
sweep "$H_TMP/m1.conf" || h_fail "sweep with a wide row failed: $(cat "$H_TMP/once$n_once.log")"
grep -q "row radacctid [0-9]* has a value wider than 131 bytes; left on the member" "$H_TMP/once$n_once.log" \
    || h_fail "the wide row was not reported: $(cat "$H_TMP/once$n_once.log")"
[ "$(Q ms "SELECT GROUP_CONCAT(acctuniqueid) FROM radacct")" = u_ok ] || h_fail "master holds $(Q ms "SELECT GROUP_CONCAT(acctuniqueid) FROM radacct")"
[ "$(Q m1 "SELECT GROUP_CONCAT(acctuniqueid), CHAR_LENGTH(MAX(connectinfo_start)) FROM radacct")" = "u_wide	100" ] \
    || h_fail "m1 holds $(Q m1 "SELECT GROUP_CONCAT(acctuniqueid) FROM radacct")"
h_ok "a row with a value too wide to carry whole stays on the member, reported; the others move"
