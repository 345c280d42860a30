#!/usr/bin/env bash
# test_sweep_precedence.sh — synthetic closes against real data, and the
# sweep's radacct events, against real MariaDB servers with FreeRADIUS's
# schema and the Kafka mock broker.
#
# Precedence (docs/sweep.md, "The precedence rule"):
#  - a session the sweep stale-closed whose NAS then sends an Interim-Update
#    (a slow NAS): master takes the real open copy with its newer counters,
#    the member keeps it; its Stop later closes it with the real figures;
#  - a real Stop that arrives after the stale close, even with an earlier
#    stop time, beats the stale close;
#  - an Accounting-On close (NAS-Reboot) on one member against the real Stop
#    on the other: the Stop wins, in both member orders, although the
#    Accounting-On is later;
#  - an open copy no newer than the stale close (the interim the close was
#    based on) does not reopen the session: it is removed as superseded.
# Events (topic aggregatord.radacct, consumed with kcat):
#  - a closed row FreeRADIUS changes between the sweep's read and its delete
#    gives exactly one event over the cycles, whose columns are master's row;
#  - a session stale-closed with copies on both members: one event, master's
#    row; identical Stops on both members: one event (the daemon running:
#    a restart may repeat an event, with the same content, never hide one).
# The oracle for every figure is the rows the test wrote, or master's table.
# shellcheck source-path=SCRIPTDIR disable=SC2154  # m1_PORT, k_BOOTSTRAP etc. come from lib.sh
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { for f in "$H_TMP"/once*.log "$H_TMP"/race.log "$H_TMP"/d.log; do [ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }; done; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb m1 m2 ms
h_start_kafka k aggregatord.radacct

conf() { local f=$1; shift; sweep_conf "$f" "kafka = { enabled = true; brokers = \"$k_BOOTSTRAP\"; properties = [ \"message.timeout.ms=5000\" ]; };" "$@"; }	# FILE MEMBER...
conf "$H_TMP/both.conf" m1 m2
conf "$H_TMP/m1.conf" m1
conf "$H_TMP/m2.conf" m2
sweep() { sweep_once "$1" ok; }	# CONF (common.sh)

COLS="acctsessionid,acctuniqueid,username,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause"
# one fixed base, half an hour ago in the servers' zone (they run in this
# shell's, SYSTEM: the sweep keeps each server's zone)
T="TIMESTAMP('$(date -d '-30 min' '+%Y-%m-%d %H:%M:%S')')"
at() { [ "$1" = NULL ] && echo NULL || echo "$T + INTERVAL $1 MINUTE"; }
row() {	# MEMBER UNIQUEID START_MIN UPDATE_MIN STOP_MIN|NULL SESSTIME IN OUT CAUSE [NAS]
    Q "$1" "INSERT INTO radacct ($COLS) VALUES ('s-$2','$2','user-$2','${10:-10.0.0.1}','1',
        $(at "$3"), $(at "$4"), $(at "$5"), $6, $7, $8, '$9')"
}
# what master holds of a session: open?, update, stop (minutes from T), session time, in, out, cause
mrow() { Q ms "SELECT acctstoptime IS NULL, TIMESTAMPDIFF(MINUTE, $T, acctupdatetime),
    COALESCE(TIMESTAMPDIFF(MINUTE, $T, acctstoptime), 'NULL'), acctsessiontime, acctinputoctets,
    acctoutputoctets, acctterminatecause FROM radacct WHERE acctuniqueid = '$1'"; }
expect_master() {	# UNIQUEID EXPECTED WHAT
    local got
    got=$(mrow "$1")
    [ "$got" = "$2" ] || h_fail "$3: master holds '$got' for $1, expected '$2'"
}
holds() { Q "$1" "SELECT COUNT(*) FROM radacct WHERE acctuniqueid = '$2'"; }

# --- a slow NAS: stale-closed, then its Interim-Update, then its Stop -------
load_schema m1 m2 ms
row m1 u_slow -180 -120 NULL 3600 10 10 ''
sweep "$H_TMP/both.conf"
expect_master u_slow "0	-120	-120	3600	10	10	Stale-Session" "stale closing"
sweep "$H_TMP/both.conf"	# moves m1's stale-closed copy
[ "$(holds m1 u_slow)" = 0 ] || h_fail "m1 kept its stale-closed copy"
# the NAS's interim reaches m2, which has no row: FreeRADIUS's INSERT fallback
row m2 u_slow -180 25 NULL 12300 500 600 ''
sweep "$H_TMP/both.conf"
expect_master u_slow "1	25	NULL	12300	500	600	" "an interim newer than the stale close"
[ "$(holds m2 u_slow)" = 1 ] || h_fail "m2's open copy (newer than the stale close) was deleted"
# its Stop reaches m1 (no row there either: INSERT fallback sets update = stop)
row m1 u_slow -180 28 28 12480 700 800 User-Request
sweep "$H_TMP/both.conf"
sweep "$H_TMP/both.conf"	# m2's open copy, superseded once the Stop is on master
expect_master u_slow "0	28	28	12480	700	800	User-Request" "the Stop after the reopened session"
[ "$(holds m1 u_slow)$(holds m2 u_slow)" = 00 ] || h_fail "copies of u_slow left: m1 $(holds m1 u_slow), m2 $(holds m2 u_slow)"
h_ok "a stale-closed session whose NAS sends an interim is reopened on master with the newer counters, and its Stop closes it with the real figures"

# --- a real Stop beats the stale close, whatever the times; an interim no newer does not reopen
load_schema m1 m2 ms
row m1 u_late -180 -120 NULL 3600 10 10 ''
row m1 u_same -180 -120 NULL 3600 20 20 ''
sweep "$H_TMP/both.conf"
sweep "$H_TMP/both.conf"
expect_master u_late "0	-120	-120	3600	10	10	Stale-Session" "stale closing"
# the Stop, from a NAS whose clock is 5 minutes behind, lands on m2
row m2 u_late -180 -125 -125 3300 900 950 Lost-Carrier
# the very interim the stale close was based on, from a member that missed the close
row m2 u_same -180 -120 NULL 3600 20 20 ''
sweep "$H_TMP/m2.conf"
expect_master u_late "0	-125	-125	3300	900	950	Lost-Carrier" "a real Stop after the stale close"
expect_master u_same "0	-120	-120	3600	20	20	Stale-Session" "the interim the stale close was based on"
[ "$(holds m2 u_late)$(holds m2 u_same)" = 00 ] || h_fail "m2 kept u_late ($(holds m2 u_late)) or u_same ($(holds m2 u_same))"
h_ok "a real Stop beats a stale close even with an earlier stop time; an open copy no newer than the close is superseded"

# --- Accounting-On (NAS-Reboot) on one member, the real Stop on the other ---
for order in "m1 m2" "m2 m1"; do
    load_schema m1 m2 ms
    row m1 u_nas 0 10 15 900 900 990 User-Request 10.0.0.9
    row m2 u_nas 0 10 NULL 600 600 660 '' 10.0.0.9
    # the stock accounting-on query on m2, 5 minutes after the real Stop
    Q m2 "UPDATE radacct SET acctstoptime = $T + INTERVAL 20 MINUTE,
          acctsessiontime = 1200, acctterminatecause = 'NAS-Reboot'
          WHERE acctstoptime IS NULL AND nasipaddress = '10.0.0.9' AND acctstarttime <= $T + INTERVAL 20 MINUTE"
    for m in $order; do
        sweep "$H_TMP/$m.conf"
    done
    expect_master u_nas "0	10	15	900	900	990	User-Request" "order $order: Accounting-On against the real Stop"
    [ "$(holds m1 u_nas)$(holds m2 u_nas)" = 00 ] || h_fail "order $order: copies of u_nas left"
done
h_ok "a real Stop beats a later Accounting-On close (NAS-Reboot), in both member orders"

# --- events -----------------------------------------------------------------
# every event of SESSION on the topic so far (the sweeps have exited, so
# their events were delivered): one JSON object per line
events() { kcat -b "$k_BOOTSTRAP" -C -t aggregatord.radacct -o beginning -e -q -f '%k\t%s\n' |
           awk -F'\t' -v k="$1" '$1 == k { print $2 }'; }
ALL="acctsessionid acctuniqueid username realm nasipaddress nasportid nasporttype acctstarttime acctupdatetime acctstoptime acctinterval acctsessiontime acctauthentic connectinfo_start connectinfo_stop acctinputoctets acctoutputoctets calledstationid callingstationid acctterminatecause servicetype framedprotocol framedipaddress framedipv6address framedipv6prefix framedinterfaceid delegatedipv6prefix class"
# master's row, every column, as mariadb prints it (NULL for NULL)
master_all() { Q ms "SELECT ${ALL// /,} FROM radacct WHERE acctuniqueid = '$1'"; }
event_all() { jq -r --arg cols "$ALL" '. as $e | [$cols | split(" ")[] | $e[.] | if . == null then "NULL" else tostring end] | @tsv'; }
one_event_is_master() {	# SESSION EVENT-KIND WHAT
    local ev n
    ev=$(events "$1")
    n=$(printf '%s' "$ev" | grep -c . || true)
    [ "$n" = 1 ] || h_fail "$3: $n events for $1, expected one: $ev"
    [ "$(jq -r .event <<< "$ev")" = "$2" ] || h_fail "$3: event kind $(jq -r .event <<< "$ev"), expected $2"
    diff <(master_all "$1") <(event_all <<< "$ev") > "$H_TMP/ediff.txt" ||
        h_fail "$3: the event's columns differ from master's row (< master, > event): $(cat "$H_TMP/ediff.txt")"
}

# a closed row FreeRADIUS changes between the sweep's read and its delete
load_schema m1 m2 ms
sweep_race "$H_TMP/m1.conf"
grep -q "changed since read" "$H_TMP/race.log" || h_fail "the race did not happen: $(cat "$H_TMP/race.log")"
[ "$(events u_race | grep -c . || true)" = 0 ] || h_fail "an event for a row left on the member: $(events u_race)"
sweep "$H_TMP/m1.conf"
sweep "$H_TMP/m1.conf"
[ "$(holds m1 u_race)" = 0 ] || h_fail "u_race was not moved"
[ "$(Q ms "SELECT acctinputoctets FROM radacct WHERE acctuniqueid = 'u_race'")" = 150 ] || h_fail "master lacks the update"
one_event_is_master u_race closed "a row changed between read and delete"
h_ok "a row changed between read and delete: one closed event over three cycles, its columns master's row"

# stale-closed with copies on both members; identical Stops on both members;
# the daemon, cycling every second (one process remembers what it published)
row m1 u_st -180 -120 NULL 3600 10 10 ''
row m2 u_st -180 -120 NULL 3600 10 10 ''
row m1 u_dup 0 10 30 1800 7000 7000 User-Request
row m2 u_dup 0 10 30 1800 7000 7000 User-Request
hport=$(h_free_port tcp)
sed -e "s/^sweep = { stale_after = 3600;/sweep = { interval = 1; stale_after = 3600;/" "$H_TMP/both.conf" > "$H_TMP/d.conf"
echo "http = { listen = \"127.0.0.1:$hport\"; };" >> "$H_TMP/d.conf"
agg_start d "$H_TMP/d.conf"
members_empty() { [ "$(holds m1 u_st)$(holds m2 u_st)$(holds m1 u_dup)$(holds m2 u_dup)" = 0000 ]; }
h_wait_until 20 members_empty || h_fail "copies left on the members: $(cat "$H_TMP/d.log")"
c0=$(agg_metric d aggregatord_sweep_cycles_total)
h_wait_until 20 sh -c "[ \$(curl -s http://127.0.0.1:$hport/metrics | awk '\$1 == \"aggregatord_sweep_cycles_total\" { print \$2 }') -ge $((c0 + 2)) ]" \
    || h_fail "the daemon stopped cycling"
h_stop d
[ "$H_EXIT_STATUS" = 0 ] || h_fail "the daemon exited with $H_EXIT_STATUS: $(cat "$H_TMP/d.log")"
one_event_is_master u_st stale-closed "a session stale-closed with copies on two members"
one_event_is_master u_dup closed "identical Stops on two members"
h_ok "a stale-closed session publishes once, identical Stops on two members once, each with master's row"
