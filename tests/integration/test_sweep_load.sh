#!/usr/bin/env bash
# test_sweep_load.sh — pages new to master go in by LOAD DATA LOCAL INFILE
# (docs/sweep.md, "Speed"); what master holds must be byte for byte what
# the upsert would have written.  Member m1 at UTC-05:00, master at
# UTC+02:00, batch 10.
#  - 25 rows (closed and open) whose text holds every byte LOAD DATA's
#    format escapes (tab, newline, carriage return, backslash, NUL, a
#    literal backslash-N), a non-ASCII letter, empty strings and NULLs: master
#    holds each value as the member has it (compared as HEX), each time as
#    the same instant (UNIX_TIMESTAMP on each server), and the loads ran
#    and were kept (master's Com_load and Com_rollback: a load that read a
#    value wrong would have been rolled back to the upsert);
#  - master with local_infile off: 15 more rows go in by the upsert, exact,
#    after one refused load, and the refusal is logged once;
#  - a load master takes with a warning (master's connectinfo_start narrowed, so
#    LOAD DATA LOCAL truncates with a warning where the upsert fails): the
#    load is rolled back, the upsert refuses the page, master holds none of
#    it and the member keeps it; once the column is wide again, the next
#    sweep moves it exact;
#  - a load that waits on another writer's uncommitted insert of one of its
#    sessions until master's lock wait timeout: rolled back (not taken for a
#    refusal), the upsert writes the page once the writer rolls back; master
#    exact;
#  - the rollback of a load master took with a warning (connectinfo_stop
#    narrowed) refused: the master user's MAX_QUERIES_PER_HOUR reached at
#    the ROLLBACK, found by raising the limit one statement at a time; the
#    cycle fails, master holds none of the page, the member keeps it; exact
#    once the limit and the column are lifted;
#  - a page new to master, then a page holding a session master has: the
#    first loaded, the second upserted with the newer version; master
#    exact; and with no kafka section master is not read back for events
#    (its general log).
# shellcheck source-path=SCRIPTDIR disable=SC2154  # m1_PORT etc. come from lib.sh
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { cat "$H_TMP"/once*.log >&2 2>/dev/null || true; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb --server-arg=--default-time-zone=-05:00 m1
h_start_mariadb --server-arg=--default-time-zone=+02:00 ms
load_schema m1 ms
sweep_conf "$H_TMP/sw.conf" "" m1
sed -i 's/batch = 3;/batch = 10;/' "$H_TMP/sw.conf"
sweep() { sweep_once "$H_TMP/sw.conf" "${1:-ok}"; }	# [fail]: the cycle is expected to fail (common.sh)
loads() { Q ms "SHOW GLOBAL STATUS LIKE 'Com_load'" | cut -f2; }
rollbacks() { Q ms "SHOW GLOBAL STATUS LIKE 'Com_rollback'" | cut -f2; }

# rows FROM TO: sessions l-FROM..l-TO on m1; every third open, the others
# closed; the text columns carry the awkward bytes, numbered
NOW=$(date +%s)
rows() {
    local i v= stop cause
    for ((i = $1; i <= $2; i++)); do
        if ((i % 3 == 0)); then stop=NULL; cause="''"; else stop="FROM_UNIXTIME($((NOW - 600 - i)))"; cause="'User-Request'"; fi
        v+="${v:+,}('s-$i','l-$i',CONCAT('u',CHAR(9),'tab',CHAR(10),'nl',CHAR(13),'cr',CHAR(92),'bs',CHAR(0),'nul',CHAR(92),'N-$i'),
            '','10.0.0.$((i % 250))',CONCAT('port',CHAR(9),'$i'),
            FROM_UNIXTIME($((NOW - 3600 - i))),FROM_UNIXTIME($((NOW - 900 - i))),$stop,$((2700 + i)),$((i * 1000)),$((i * 7000)),$cause,
            CONCAT('Z',CHAR(252 USING latin1),'rich $i'),NULL,IF($i % 2, '', CHAR(92)))"
    done
    Q m1 "INSERT INTO radacct (acctsessionid,acctuniqueid,username,realm,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause,calledstationid,class,callingstationid) VALUES $v"
}
# every column of sessions l-FROM..l-TO on NAME: text as HEX (NULL stays
# NULL), times as UNIX time, in acctuniqueid order
COLS_HEX="acctuniqueid"
for c in acctsessionid username realm nasipaddress nasportid nasporttype acctauthentic connectinfo_start \
         connectinfo_stop calledstationid callingstationid acctterminatecause servicetype framedprotocol \
         framedipaddress framedipv6address framedipv6prefix framedinterfaceid delegatedipv6prefix class; do
    COLS_HEX+=",HEX($c)"
done
COLS_HEX+=",acctinterval,acctsessiontime,acctinputoctets,acctoutputoctets"
COLS_HEX+=",UNIX_TIMESTAMP(acctstarttime),UNIX_TIMESTAMP(acctupdatetime),UNIX_TIMESTAMP(acctstoptime)"
dump() { Q "$1" "SELECT $COLS_HEX FROM radacct WHERE acctuniqueid LIKE 'l-%'" | LC_ALL=C sort; }
# the oracle: master must hold what it held plus every row on m1 now
want() { cat "$H_TMP/got$(($1 - 1))" 2>/dev/null || true; dump m1; }


# --- pages new to master: loaded, byte for byte ---
rows 1 25
want 1 | LC_ALL=C sort -u > "$H_TMP/want1"
[ "$(wc -l < "$H_TMP/want1")" = 25 ] || h_fail "seeding m1"
l0=$(loads)
r0=$(rollbacks)
sweep
dump ms > "$H_TMP/got1"
diff "$H_TMP/want1" "$H_TMP/got1" > "$H_TMP/diff1" || h_fail "master's rows differ from the member's: $(head -c 2000 "$H_TMP/diff1")"
l1=$(loads)
[ $((l1 - l0)) -ge 3 ] || h_fail "the pages did not go in by LOAD DATA: Com_load $l0 -> $l1"
# none rolled back to the upsert (which would hide a load that read a value wrong)
[ "$(rollbacks)" = "$r0" ] || h_fail "loads were rolled back: Com_rollback $r0 -> $(rollbacks)"
[ "$(Q m1 "SELECT COUNT(*), SUM(acctstoptime IS NULL) FROM radacct")" = "8	8" ] ||
    h_fail "m1 after the sweep: $(Q m1 "SELECT COUNT(*), SUM(acctstoptime IS NULL) FROM radacct")"
h_ok "25 rows new to master loaded ($((l1 - l0)) LOAD DATA): every value and time as the member holds it, in another zone"

# --- master refuses LOCAL INFILE: the upsert, exact ---
Q ms "SET GLOBAL local_infile = 0"
rows 26 40
want 2 | LC_ALL=C sort -u > "$H_TMP/want2"
sweep
dump ms > "$H_TMP/got2"
diff "$H_TMP/want2" "$H_TMP/got2" > "$H_TMP/diff2" || h_fail "after the refusal master's rows differ: $(head -c 2000 "$H_TMP/diff2")"
# one refused attempt (master counts it), then none
[ "$(loads)" -le $((l1 + 1)) ] || h_fail "loads went on while master refuses them: Com_load $l1 -> $(loads)"
[ "$(grep -c 'master refuses LOAD DATA LOCAL INFILE' "$H_TMP/once$n_once.log")" = 1 ] ||
    h_fail "the refusal was not logged once: $(grep -i 'load' "$H_TMP/once$n_once.log")"
h_ok "master with local_infile off: 15 more rows by the upsert, exact; the refusal logged once"

# --- a load with a warning: rolled back, the upsert decides ---
Q ms "SET GLOBAL local_infile = 1"
Q ms "ALTER TABLE radacct MODIFY connectinfo_start VARCHAR(10)"
rows 41 45
Q m1 "UPDATE radacct SET connectinfo_start = REPEAT('c', 40) WHERE acctuniqueid IN ('l-41','l-42','l-43','l-44','l-45')"
want 3 | LC_ALL=C sort -u > "$H_TMP/want3"
before=$(Q ms "SELECT COUNT(*) FROM radacct")
l2=$(loads)
sweep fail
[ "$(loads)" -gt "$l2" ] || h_fail "no load was tried"
[ "$(rollbacks)" -gt "$r0" ] || h_fail "the load was not rolled back"
[ "$(Q ms "SELECT COUNT(*) FROM radacct")" = "$before" ] || h_fail "master kept rows of a page it truncated"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct WHERE acctuniqueid IN ('l-41','l-42','l-43','l-44','l-45')")" = 5 ] ||
    h_fail "the member lost rows master never committed"
grep -q "Data too long for column 'connectinfo_start'" "$H_TMP/once$n_once.log" ||
    h_fail "the upsert's refusal was not reported: $(cat "$H_TMP/once$n_once.log")"
Q ms "ALTER TABLE radacct MODIFY connectinfo_start VARCHAR(128)"
sweep
dump ms > "$H_TMP/got3"
diff "$H_TMP/want3" "$H_TMP/got3" > "$H_TMP/diff3" || h_fail "after the column was widened: $(head -c 2000 "$H_TMP/diff3")"
h_ok "a load master truncated with a warning was rolled back; the upsert refused the page and the member kept it; moved exact once the column was wide again"

# --- a load that waits on a lock until it times out: rolled back, the upsert writes the page ---
# another writer's uncommitted insert of session l-47 (not counted: the
# count reads what is committed) holds its key; the load waits for it until
# master's lock wait timeout, the page goes to the upsert, which waits in
# turn until the writer rolls back: master holds the member's rows, exact
Q ms "SET GLOBAL innodb_lock_wait_timeout = 3"
rows 46 48
want 4 | LC_ALL=C sort -u > "$H_TMP/want4"
sess_open bl ms
sess bl "BEGIN; INSERT INTO radius.radacct (acctsessionid,acctuniqueid,username,nasipaddress,nasportid,acctstarttime) VALUES ('other','l-47','other','10.9.9.9','9',NOW());"
sess_mark bl held
l3=$(loads)
r3=$(rollbacks)
sweep_bg "$H_TMP/sw.conf"
h_wait_until 30 in_lock_wait ms 'LOAD DATA%' || h_fail "the load never waited for l-47: $(cat "$ONCE_LOG" "$H_TMP/bl.log")"
h_wait_until 30 in_lock_wait ms 'INSERT INTO%' || h_fail "the upsert never followed the timed-out load: $(cat "$ONCE_LOG")"
sess bl "ROLLBACK;"
sess_mark bl released
wait "$SWEEP_PID" || h_fail "the sweep failed: $(cat "$ONCE_LOG")"
dump ms > "$H_TMP/got4"
diff "$H_TMP/want4" "$H_TMP/got4" > "$H_TMP/diff4" || h_fail "after the load's lock wait: $(head -c 2000 "$H_TMP/diff4")"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct WHERE acctuniqueid IN ('l-46','l-47') OR acctstoptime IS NOT NULL")" = 0 ] ||
    h_fail "closed rows left on m1 after the sweep"
[ "$(loads)" = $((l3 + 1)) ] && [ "$(rollbacks)" -gt "$r3" ] ||
    h_fail "not one load rolled back: Com_load $l3 -> $(loads), Com_rollback $r3 -> $(rollbacks)"
grep -q 'master refuses LOAD DATA LOCAL INFILE' "$ONCE_LOG" && h_fail "a lock wait was taken for a refusal: $(cat "$ONCE_LOG")"
sess_close bl
h_ok "a load that waited on another writer's lock until the timeout: rolled back, the page written by the upsert once the lock went; master exact"

# --- the rollback of a load taken with a warning refused ---
Q ms "CREATE USER 'ql'@'127.0.0.1'; GRANT SELECT, INSERT, UPDATE ON radius.radacct TO 'ql'@'127.0.0.1'"
sed "s/port = $ms_PORT; user = \"root\";/port = $ms_PORT; user = \"ql\";/" "$H_TMP/sw.conf" > "$H_TMP/ql.conf"
grep -q 'user = "ql"' "$H_TMP/ql.conf" || h_fail "ql.conf does not name the master user"
Q ms "ALTER TABLE radacct MODIFY connectinfo_stop VARCHAR(10)"
rows 49 50
Q m1 "UPDATE radacct SET connectinfo_stop = REPEAT('c', 40) WHERE acctuniqueid IN ('l-49','l-50')"
want 5 | LC_ALL=C sort -u > "$H_TMP/want5"
hit=
for lim in 1 2 3 4 5 6 7 8; do
    Q ms "GRANT USAGE ON *.* TO 'ql'@'127.0.0.1' WITH MAX_QUERIES_PER_HOUR $lim; FLUSH USER_RESOURCES"
    sweep_once "$H_TMP/ql.conf" fail
    [ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctuniqueid IN ('l-49','l-50')")" = 0 ] ||
        h_fail "master kept rows of a page it never committed (limit $lim): $(cat "$ONCE_LOG")"
    [ "$(Q m1 "SELECT COUNT(*) FROM radacct WHERE acctuniqueid IN ('l-49','l-50')")" = 2 ] ||
        h_fail "the member lost rows master never committed (limit $lim)"
    if log_has "member 'm1': rolling back a page on master: User 'ql' has exceeded"; then hit=$lim; break; fi
done
[ -n "$hit" ] || h_fail "no limit stopped the load's rollback: $(cat "$ONCE_LOG")"
Q ms "GRANT USAGE ON *.* TO 'ql'@'127.0.0.1' WITH MAX_QUERIES_PER_HOUR 0; FLUSH USER_RESOURCES"
Q ms "ALTER TABLE radacct MODIFY connectinfo_stop VARCHAR(128)"
sweep_once "$H_TMP/ql.conf" ok
dump ms > "$H_TMP/got5"
diff "$H_TMP/want5" "$H_TMP/got5" > "$H_TMP/diff5" || h_fail "after the refused rollback: $(head -c 2000 "$H_TMP/diff5")"
h_ok "the rollback of a load taken with a warning refused (statement $hit of master's user): nothing of the page on master, the member kept it; exact once lifted"

# --- a page with a session master holds, after a page new to master: the
# first loaded, the second by the upsert with the precedence rule; with no
# kafka section master is not read back for events ---
Q m1 "DELETE FROM radacct"
Q ms "DELETE FROM radacct"
rows 111 111	# open: copied to master, kept on m1
sweep
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctuniqueid = 'l-111' AND acctstoptime IS NULL")" = 1 ] ||
    h_fail "master does not hold l-111 open"
rows 101 110
rows 112 120
# l-111 closes, newer than master's open copy, and moves behind the others
# in key order: page 1 (batch 10) is l-101..l-110, new to master; page 2
# holds l-111
Q m1 "UPDATE radacct SET radacctid = radacctid + 100000, acctstoptime = FROM_UNIXTIME($((NOW - 60))),
      acctupdatetime = FROM_UNIXTIME($((NOW - 60))), acctterminatecause = 'Lost-Carrier' WHERE acctuniqueid = 'l-111'"
dump m1 > "$H_TMP/want6"
[ "$(wc -l < "$H_TMP/want6")" = 20 ] || h_fail "seeding m1 for the held session"
l6=$(loads)
readback_log_on ms
sweep
# no kafka section: the moved rows' events are only counted, so master is
# not read back for them (its general log)
n_read=$(readbacks ms)
[ "$n_read" = 0 ] || h_fail "master was read back for events with no kafka section: $n_read read(s)"
dump ms > "$H_TMP/got6"
diff "$H_TMP/want6" "$H_TMP/got6" > "$H_TMP/diff6" || h_fail "master's rows differ: $(head -c 2000 "$H_TMP/diff6")"
[ "$(loads)" = $((l6 + 1)) ] || h_fail "page 1 (new to master) was not loaded, or page 2 (held) was: Com_load $l6 -> $(loads)"
[ "$(Q m1 "SELECT GROUP_CONCAT(acctuniqueid ORDER BY acctuniqueid) FROM radacct")" = "l-102,l-105,l-108,l-114,l-117,l-120" ] ||
    h_fail "m1 should keep only its open rows: $(Q m1 "SELECT GROUP_CONCAT(acctuniqueid ORDER BY acctuniqueid) FROM radacct")"
h_ok "a page new to master loaded, the next (holding a session master has) upserted with the newer version; master exact; no read-back without kafka"
