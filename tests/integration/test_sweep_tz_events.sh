#!/usr/bin/env bash
# test_sweep_tz_events.sh — the precedence rule's synthetic closes and the
# radacct events between servers in different time zones: member m1 at
# UTC-05:00, master at UTC+02:00 (--default-time-zone), the daemon cycling
# every second, events on the Kafka mock broker (consumed with kcat).
#  - two sessions on m1 quiet for two hours are stale-closed on master; their
#    stale-closed copies on m1 then move without a second event (the same
#    version, compared in real time across the two zones);
#  - u_stop: the NAS's Stop reaches m1 with a stop time ten minutes before the
#    stale close (its clock is behind); by local text it is also seven hours
#    "earlier".  The real Stop wins: master ends with it, in master's zone;
#  - u_reopen: an Interim-Update of five minutes ago reaches m1.  Its local
#    text is hours before master's stale close, but in real time it is newer:
#    master reopens the session with its counters and m1 keeps its copy (a
#    comparison by local text would delete it as superseded).  Its Stop then
#    closes it for good;
#  - each session gives exactly two events, stale-closed then closed, each
#    carrying master's row: DATETIME text in master's zone (UTC+02:00) and
#    the *_ts fields in UNIX seconds, both checked against the epoch seconds
#    the rows were written with.
# shellcheck source-path=SCRIPTDIR disable=SC2154  # m1_PORT, k_BOOTSTRAP etc. come from lib.sh
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { [ -f "$H_TMP/d.log" ] && { echo "--- d.log" >&2; cat "$H_TMP/d.log" >&2; }; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb --server-arg=--default-time-zone=-05:00 m1
h_start_mariadb --server-arg=--default-time-zone=+02:00 ms
h_start_kafka k aggregatord.radacct
for n in m1 ms; do
    h_mysql "$n" -e "CREATE DATABASE radius"
    h_mysql "$n" radius < "$SCHEMA"
done
[ "$(Q m1 "SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW())")" = -300 ] || h_fail "m1 is not at UTC-05:00"
[ "$(Q ms "SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW())")" = 120 ] || h_fail "master is not at UTC+02:00"

hport=$(h_free_port tcp)
cat > "$H_TMP/d.conf" <<EOF
node = { name = "sw"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$hport"; };
kafka = { enabled = true; brokers = "$k_BOOTSTRAP"; properties = [ "message.timeout.ms=5000" ]; };
sweep = { interval = 1; stale_after = 3600; batch = 5; timeout = 5;
  master = { host = "127.0.0.1"; port = $ms_PORT; user = "root"; };
  members = ( { name = "m1"; host = "127.0.0.1"; port = $m1_PORT; user = "root"; } ); };
EOF

NOW=$(date +%s)
# the oracle: epoch seconds as text in a zone given in hours east of UTC
at() { date -u -d "@$(($1 + $2 * 3600))" '+%Y-%m-%d %H:%M:%S'; }
COLS="acctsessionid,acctuniqueid,username,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause"
# as FreeRADIUS writes on m1: FROM_UNIXTIME() in m1's own zone
row() {	# UNIQUEID START UPDATE STOP|NULL SESSTIME OCTETS CAUSE  (epoch seconds)
    local stop=NULL
    [ "$4" = NULL ] || stop="FROM_UNIXTIME($4)"
    Q m1 "INSERT INTO radacct ($COLS) VALUES ('s-$1','$1','user-$1','10.0.0.1','1',
        FROM_UNIXTIME($2), FROM_UNIXTIME($3), $stop, $5, $6, $6, '$7')"
}
holds() { Q m1 "SELECT COUNT(*) FROM radacct WHERE acctuniqueid = '$1'"; }
# master's row: start, update, stop (text), session time, in, cause
mrow() { Q ms "SELECT acctstarttime, acctupdatetime, COALESCE(acctstoptime, 'NULL'), acctsessiontime,
    acctinputoctets, acctterminatecause FROM radacct WHERE acctuniqueid = '$1'"; }
master_is() { [ "$(mrow "$1")" = "$2" ]; }
expect_master() {	# UNIQUEID EXPECTED WHAT
    h_wait_until 20 master_is "$1" "$2" || h_fail "$3: master holds '$(mrow "$1")' for $1, expected '$2'"
}
# every event of SESSION so far, one JSON object per line
events() { kcat -b "$k_BOOTSTRAP" -C -t aggregatord.radacct -o beginning -e -q -f '%k\t%s\n' |
           awk -F'\t' -v k="$1" '$1 == k { print $2 }'; }
nevents() { events "$1" | grep -c . || true; }
nevents_is() { [ "$(nevents "$1")" = "$2" ]; }
# two more whole cycles after now (anything they would publish is out)
cycles_pass() {
    local c0
    c0=$(agg_metric d aggregatord_sweep_cycles_total)
    h_wait_until 20 sh -c "[ \$(curl -s http://127.0.0.1:$hport/metrics | awk '\$1 == \"aggregatord_sweep_cycles_total\" { print \$2 }') -ge $((c0 + 2)) ]" \
        || h_fail "the daemon stopped cycling"
}
# event N (1-based) of SESSION: kind, member, start/update/stop text, the three _ts, cause
event_fields() {
    events "$1" | sed -n "${2}p" | jq -r '[.event, (.member // "-"), .acctstarttime, .acctupdatetime,
        (.acctstoptime // "NULL"), .acctstarttime_ts, .acctupdatetime_ts, (.acctstoptime_ts // "NULL"),
        .acctterminatecause] | map(tostring) | @tsv'
}
expect_event() {	# SESSION N EXPECTED WHAT
    local got
    got=$(event_fields "$1" "$2")
    [ "$got" = "$3" ] || h_fail "$4: event $2 of $1 is '$got', expected '$3'"
}

START=$((NOW - 14400)) LAST=$((NOW - 7200))
row u_stop "$START" "$LAST" NULL 7200 70 ''
row u_reopen "$START" "$LAST" NULL 7200 80 ''
agg_start d "$H_TMP/d.conf"

# --- stale closing on master's clock; the members' stale copies move without a second event
expect_master u_stop "$(at $START 2)	$(at $LAST 2)	$(at $LAST 2)	7200	70	Stale-Session" "stale closing"
expect_master u_reopen "$(at $START 2)	$(at $LAST 2)	$(at $LAST 2)	7200	80	Stale-Session" "stale closing"
gone() { [ "$(holds u_stop)$(holds u_reopen)" = 00 ]; }
h_wait_until 20 gone || h_fail "m1's stale-closed copies were not moved"
cycles_pass
for u in u_stop u_reopen; do
    nevents_is $u 1 || h_fail "$u: $(nevents $u) events after stale closing and the move, expected one: $(events $u)"
    expect_event $u 1 "stale-closed	-	$(at $START 2)	$(at $LAST 2)	$(at $LAST 2)	$START	$LAST	$LAST	Stale-Session" \
        "the stale-closed event"
done
h_ok "stale-closed on master at UTC+02:00 from a member at UTC-05:00: one event each, times in master's zone and as UNIX seconds; the moved stale copies give none"

# --- the real Stop (10 min before the stale close) and a newer interim ------
STOP1=$((LAST - 600)) UPD2=$((NOW - 300))
row u_stop "$START" "$STOP1" "$STOP1" 6600 99 User-Request	# FreeRADIUS's INSERT fallback: no row on m1
row u_reopen "$START" "$UPD2" NULL 13800 500 ''
expect_master u_stop "$(at $START 2)	$(at $STOP1 2)	$(at $STOP1 2)	6600	99	User-Request" "a real Stop after the stale close"
expect_master u_reopen "$(at $START 2)	$(at $UPD2 2)	NULL	13800	500	" "an interim newer in real time than the stale close"
cycles_pass
[ "$(holds u_reopen)" = 1 ] || h_fail "m1's open copy of u_reopen (newer than the stale close) was deleted"
[ "$(holds u_stop)" = 0 ] || h_fail "m1 kept u_stop's Stop"
[ "$(Q m1 "SELECT acctupdatetime FROM radacct WHERE acctuniqueid = 'u_reopen'")" = "$(at $UPD2 -5)" ] ||
    h_fail "m1's copy of u_reopen is not in m1's zone"
master_is u_reopen "$(at $START 2)	$(at $UPD2 2)	NULL	13800	500	" || h_fail "u_reopen closed again: $(mrow u_reopen)"
nevents_is u_reopen 1 || h_fail "u_reopen reopened: $(nevents u_reopen) events, expected still one: $(events u_reopen)"
nevents_is u_stop 2 || h_fail "u_stop: $(nevents u_stop) events, expected two: $(events u_stop)"
expect_event u_stop 2 "closed	m1	$(at $START 2)	$(at $STOP1 2)	$(at $STOP1 2)	$START	$STOP1	$STOP1	User-Request" \
    "the closed event of the real Stop"
h_ok "across zones: a real Stop beats the stale close (one closed event, master's row); an interim newer in real time reopens the session and stays on the member"

# --- the reopened session's Stop (the Stop query leaves acctupdatetime) ----
STOP2=$((NOW - 60))
Q m1 "UPDATE radacct SET acctstoptime = FROM_UNIXTIME($STOP2), acctsessiontime = 14340, acctinputoctets = 520,
      acctoutputoctets = 520, acctterminatecause = 'User-Request' WHERE acctuniqueid = 'u_reopen'"
expect_master u_reopen "$(at $START 2)	$(at $UPD2 2)	$(at $STOP2 2)	14340	520	User-Request" "the Stop of the reopened session"
h_wait_until 20 sh -c "[ \"\$(mariadb --no-defaults -uroot --socket='$m1_SOCK' radius -N -e \"SELECT COUNT(*) FROM radacct\")\" = 0 ]" ||
    h_fail "rows left on m1: $(Q m1 "SELECT acctuniqueid FROM radacct")"
cycles_pass
h_stop d
[ "$H_EXIT_STATUS" = 0 ] || h_fail "the daemon exited with $H_EXIT_STATUS"
nevents_is u_reopen 2 || h_fail "u_reopen: $(nevents u_reopen) events, expected two: $(events u_reopen)"
expect_event u_reopen 2 "closed	m1	$(at $START 2)	$(at $UPD2 2)	$(at $STOP2 2)	$START	$UPD2	$STOP2	User-Request" \
    "the closed event of the reopened session"
nevents_is u_stop 2 || h_fail "u_stop: $(nevents u_stop) events at the end, expected two: $(events u_stop)"
[ "$(Q ms "SELECT COUNT(*), COUNT(DISTINCT acctuniqueid) FROM radacct")" = "2	2" ] || h_fail "master holds $(Q ms "SELECT COUNT(*) FROM radacct") rows"
h_ok "the reopened session's Stop closes it on master in master's zone; each session gave exactly two events, stale-closed then closed"
