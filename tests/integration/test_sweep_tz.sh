#!/usr/bin/env bash
# test_sweep_tz.sh — the sweep between MariaDB servers in different time
# zones: member m1 runs at UTC-05:00, member m2 at UTC+03:00, master at
# UTC+02:00 (each started with --default-time-zone).  The members' rows are
# written as FreeRADIUS writes them: FROM_UNIXTIME() in a session of the
# server's own zone.  The oracle is computed here from epoch seconds with
# date(1): master must hold every time in its own zone (UTC+02:00), the
# members keep theirs.
#  - open sessions updated 5 minutes ago (20 on m1, 5 on m2), stale_after
#    one hour: none is closed;
#  - open sessions quiet for two hours (m1) and 90 minutes (m2): closed at
#    their last update, in each server's zone;
#  - one session open on both members, and one closed on both: the copy
#    that is later in real time wins, though its local text is earlier;
#  - the sweep says at connect that the zones differ.
# shellcheck source-path=SCRIPTDIR disable=SC2154  # m1_PORT etc. come from lib.sh
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { cat "$H_TMP"/once*.log >&2 2>/dev/null || true; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb --server-arg=--default-time-zone=-05:00 m1
h_start_mariadb --server-arg=--default-time-zone=+03:00 m2
h_start_mariadb --server-arg=--default-time-zone=+02:00 ms
for n in m1 m2 ms; do
    h_mysql "$n" -e "CREATE DATABASE radius"
    h_mysql "$n" radius < "$SCHEMA"
done
[ "$(Q m1 "SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW())")" = -300 ] || h_fail "m1 is not at UTC-05:00"

cat > "$H_TMP/sw.conf" <<EOF
node = { name = "sw"; state_dir = "$H_TMP/state"; };
sweep = { stale_after = 3600; batch = 7; timeout = 5;
  master = { host = "127.0.0.1"; port = $ms_PORT; user = "root"; };
  members = ( { name = "m1"; host = "127.0.0.1"; port = $m1_PORT; user = "root"; },
              { name = "m2"; host = "127.0.0.1"; port = $m2_PORT; user = "root"; } ); };
EOF
sweep() { sweep_once "$H_TMP/sw.conf" ok; }	# common.sh

NOW=$(date +%s)
# the oracle: epoch seconds as text in a zone given in hours east of UTC
at() { date -u -d "@$(($1 + $2 * 3600))" '+%Y-%m-%d %H:%M:%S'; }
COLS="acctsessionid,acctuniqueid,username,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause"
row() {	# MEMBER UNIQUEID START_AGO UPDATE_AGO STOP_AGO|NULL SESSTIME OCTETS CAUSE  (ages in seconds)
    local stop=NULL
    [ "$5" = NULL ] || stop="FROM_UNIXTIME($((NOW - $5)))"
    Q "$1" "INSERT INTO radacct ($COLS) VALUES ('s-$2','$2','user-$2','10.0.0.1','1',
        FROM_UNIXTIME($((NOW - $3))), FROM_UNIXTIME($((NOW - $4))), $stop, $6, $7, $7, '$8')"
}
for i in $(seq -w 1 20); do row m1 "f1_$i" 3000 300 NULL 2700 "$i" ''; done
for i in $(seq -w 1 5); do row m2 "f2_$i" 3000 300 NULL 2700 "$i" ''; done
row m1 old1 14400 7200 NULL 7200 70 ''
row m2 old2 9000 5400 NULL 3600 80 ''
# open on both: m1's interim (6 min ago) is the later one in real time; its
# local text (UTC-5) is hours before m2's (UTC+3)
row m1 x_open 3600 360 NULL 3240 600 ''
row m2 x_open 3600 600 NULL 3000 360 ''
# closed on both: m1's stop (20 min ago) is the later one
row m1 x_stop 3600 1500 1200 2400 1000 User-Request
row m2 x_stop 3600 1500 1800 1800 900 Lost-Carrier
[ "$(Q m1 "SELECT acctupdatetime FROM radacct WHERE acctuniqueid = 'old1'")" = "$(at $((NOW - 7200)) -5)" ] ||
    h_fail "m1 does not write its local time"

sweep
grep -q "member 'm1' runs in time zone -05:00 (UTC-05:00 now), master in +02:00 (UTC+02:00 now)" "$H_TMP/once1.log" ||
    h_fail "the zones' difference was not reported at connect: $(grep -i zone "$H_TMP/once1.log")"
grep -q "member 'm2' runs in time zone +03:00 (UTC+03:00 now), master in +02:00 (UTC+02:00 now)" "$H_TMP/once1.log" ||
    h_fail "m2's zone was not reported at connect: $(grep -i zone "$H_TMP/once1.log")"
h_ok "servers in different zones are named at connect"

closed=$(Q ms "SELECT GROUP_CONCAT(acctuniqueid ORDER BY acctuniqueid) FROM radacct WHERE acctstoptime IS NOT NULL")
[ "$closed" = "old1,old2,x_stop" ] || h_fail "master's closed sessions after the first cycle: $closed"
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NULL AND acctuniqueid LIKE 'f%'")" = 25 ] ||
    h_fail "fresh open sessions were closed"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NULL AND acctuniqueid LIKE 'f%'")" = 20 ] &&
    [ "$(Q m2 "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NULL AND acctuniqueid LIKE 'f%'")" = 5 ] ||
    h_fail "fresh open sessions were closed on a member"
# master's copies of the fresh sessions: the update time in master's zone
[ "$(Q ms "SELECT DISTINCT acctupdatetime FROM radacct WHERE acctuniqueid LIKE 'f%'")" = "$(at $((NOW - 300)) 2)" ] ||
    h_fail "fresh sessions' update time on master: $(Q ms "SELECT DISTINCT acctupdatetime FROM radacct WHERE acctuniqueid LIKE 'f%'") (want $(at $((NOW - 300)) 2))"
h_ok "open sessions updated 5 minutes ago on servers west and east of UTC: none closed; master holds their times in its zone"

# the stale ones: stop = last update, in each server's own zone
want="$(at $((NOW - 7200)) 2)	$(at $((NOW - 14400)) 2)	7200	Stale-Session"
[ "$(Q ms "SELECT acctstoptime, acctstarttime, acctsessiontime, acctterminatecause FROM radacct WHERE acctuniqueid = 'old1'")" = "$want" ] ||
    h_fail "old1 on master: $(Q ms "SELECT acctstoptime, acctstarttime, acctsessiontime, acctterminatecause FROM radacct WHERE acctuniqueid = 'old1'") (want $want)"
want="$(at $((NOW - 5400)) 2)	3600	Stale-Session"
[ "$(Q ms "SELECT acctstoptime, acctsessiontime, acctterminatecause FROM radacct WHERE acctuniqueid = 'old2'")" = "$want" ] ||
    h_fail "old2 on master: $(Q ms "SELECT acctstoptime, acctsessiontime, acctterminatecause FROM radacct WHERE acctuniqueid = 'old2'") (want $want)"
[ "$(Q m1 "SELECT acctstoptime FROM radacct WHERE acctuniqueid = 'old1'")" = "$(at $((NOW - 7200)) -5)" ] ||
    h_fail "old1's copy on m1: $(Q m1 "SELECT acctstoptime FROM radacct WHERE acctuniqueid = 'old1'")"
[ "$(Q m2 "SELECT acctstoptime FROM radacct WHERE acctuniqueid = 'old2'")" = "$(at $((NOW - 5400)) 3)" ] ||
    h_fail "old2's copy on m2: $(Q m2 "SELECT acctstoptime FROM radacct WHERE acctuniqueid = 'old2'")"
h_ok "sessions quiet for longer than stale_after: closed at their last update, in master's zone on master and the member's on the member"

# the cross-member merges
want="$(at $((NOW - 360)) 2)	3240	600"
[ "$(Q ms "SELECT acctupdatetime, acctsessiontime, acctinputoctets FROM radacct WHERE acctuniqueid = 'x_open' AND acctstoptime IS NULL")" = "$want" ] ||
    h_fail "x_open on master: $(Q ms "SELECT acctupdatetime, acctsessiontime, acctinputoctets FROM radacct WHERE acctuniqueid = 'x_open'") (want $want)"
want="$(at $((NOW - 1200)) 2)	2400	1000	User-Request"
[ "$(Q ms "SELECT acctstoptime, acctsessiontime, acctinputoctets, acctterminatecause FROM radacct WHERE acctuniqueid = 'x_stop'")" = "$want" ] ||
    h_fail "x_stop on master: $(Q ms "SELECT acctstoptime, acctsessiontime, acctinputoctets, acctterminatecause FROM radacct WHERE acctuniqueid = 'x_stop'") (want $want)"
h_ok "copies from members in different zones: the later one in real time wins, both for open and closed copies"

# the second cycle moves the stale-closed copies; master changes nothing
sum=$(Q ms "SELECT * FROM radacct ORDER BY acctuniqueid" | md5sum)
sweep
[ "$(Q ms "SELECT * FROM radacct ORDER BY acctuniqueid" | md5sum)" = "$sum" ] || h_fail "the second cycle changed master"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NOT NULL")" = 0 ] &&
    [ "$(Q m2 "SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NOT NULL")" = 0 ] ||
    h_fail "closed copies left on the members"
[ "$(Q ms "SELECT COUNT(*), COUNT(DISTINCT acctuniqueid) FROM radacct")" = "29	29" ] || h_fail "master holds $(Q ms "SELECT COUNT(*) FROM radacct") rows"
h_ok "the second cycle moves the stale-closed copies and leaves master as it was"
