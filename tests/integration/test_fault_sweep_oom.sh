#!/usr/bin/env bash
# test_fault_sweep_oom.sh — the sweep's out-of-memory paths against real
# servers: $AGG_BUILD/sweep_oom runs one `--once sweep` cycle with its Nth
# allocation failing (tests/harness/sweep_oom.c), for N = 1, 2, 3, ... until
# a cycle runs whole.  Nothing is reset between runs: each starts from what
# the previous one left, as a daemon's next cycle would.  Two members and
# master; the members hold closed sessions (3 pages of batch 3 each), open
# ones, a late interim of a session master holds closed (superseded), copies
# of sessions master holds open and stale (stale closing); master holds
# older open copies of some closed sessions (so pages go by the upsert, the
# others by LOAD DATA).  After EVERY run, checked against what this script
# inserted: every session is on its member or closed on master with its
# final counters, none on master twice, no counter on master above the
# session's, open rows still on their member, master's closed and stale rows
# never worse.  A second round adds closed sessions before each run
# (FreeRADIUS writing): a failure stops one member's pass, the other drains
# its backlog, so without them the later runs fail in idle cycles.  Then a
# plain `--once sweep`, and the exact end state.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { tail -n 30 "$H_TMP"/once*.log "$H_TMP"/oom.log >&2 2>/dev/null || true; }; h_cleanup' EXIT

OOM=$AGG_BUILD/sweep_oom
[ -x "$OOM" ] || h_fail "$OOM not built (make harness $OOM)"
sweep_find_schema
h_start_mariadb m1 m2 ms
load_schema m1 m2 ms
sweep_conf "$H_TMP/s.conf" "" m1 m2
sed -i -e "s/timeout = 5;/timeout = 20;/" "$H_TMP/s.conf"

K=7	# closed sessions per member: m1-1..m1-7, m2-1..m2-7 (sw_rows: in = i, out = 7 i)
COLS="acctsessionid,acctuniqueid,username,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause"
# open SERVER UNIQUEID UPDATED_MIN_AGO IN: an open session
open_row() {
    Q "$1" "INSERT INTO radacct ($COLS) VALUES ('s-$2','$2','u','10.0.0.1','1', NOW() - INTERVAL 180 MINUTE,
            NOW() - INTERVAL $3 MINUTE, NULL, 60, $4, $4, '')"
}
sw_rows m1 1 3
open_row m1 o-m1-1 1 5
sw_rows m1 4 "$K"
open_row m1 o-m1-2 1 6
open_row m1 t-1 120 1	# copies of master's stale sessions
open_row m1 t-2 120 2
sw_rows m2 1 4
open_row m2 o-m2-1 1 7
open_row m2 x-1 30 10	# a late interim of x-1, which master holds closed
sw_rows m2 5 "$K"
open_row m2 o-m2-2 1 8
# master: older open copies of m1-1, m1-2, m2-5; x-1 closed; stale t-1..t-3
for u in m1-1 m1-2 m2-5; do open_row ms "$u" 40 0; done
Q ms "INSERT INTO radacct ($COLS) VALUES ('s-x-1','x-1','u','10.0.0.1','1', NOW() - INTERVAL 180 MINUTE,
      NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 20 MINUTE, 9000, 1000, 1000, 'User-Request')"
for u in t-1 t-2 t-3; do open_row ms "$u" 120 3; done

EXPECT=$(for m in m1 m2; do for ((i = 1; i <= K; i++)); do echo "$m-$i"; done; done | sort)
# the invariant after any run, whatever failed
check() {
    local what=$1 on_members closed bad
    on_members=$( { Q m1 "SELECT acctuniqueid FROM radacct WHERE acctuniqueid LIKE 'm_-%'"
                    Q m2 "SELECT acctuniqueid FROM radacct WHERE acctuniqueid LIKE 'm_-%'"; } | sort)
    closed=$(Q ms "SELECT acctuniqueid FROM radacct WHERE acctuniqueid LIKE 'm_-%' AND acctstoptime IS NOT NULL
                   AND acctinputoctets = CAST(SUBSTRING_INDEX(acctuniqueid, '-', -1) AS UNSIGNED)
                   AND acctoutputoctets = 7 * acctinputoctets" | sort)
    local lost
    lost=$(comm -23 <(echo "$EXPECT") <(printf '%s\n' "$on_members" "$closed" | sort -u))
    [ -z "$lost" ] || h_fail "$what: sessions neither on their member nor closed on master: $(echo $lost)"
    bad=$(Q ms "SELECT CONCAT_WS(' ', COUNT(*) - COUNT(DISTINCT acctuniqueid),
                  SUM(acctuniqueid LIKE 'm_-%' AND (acctinputoctets > CAST(SUBSTRING_INDEX(acctuniqueid, '-', -1) AS UNSIGNED)
                                                 OR acctoutputoctets > 7 * CAST(SUBSTRING_INDEX(acctuniqueid, '-', -1) AS UNSIGNED))),
                  SUM(acctuniqueid = 'x-1' AND NOT (acctstoptime IS NOT NULL AND acctinputoctets = 1000 AND acctsessiontime = 9000)),
                  SUM(acctuniqueid LIKE 't-%'),
                  SUM(acctuniqueid LIKE 't-%' AND acctstoptime IS NOT NULL AND acctstoptime <> acctupdatetime))
                FROM radacct")
    [ "$bad" = "0 0 0 3 0" ] || h_fail "$what: master (twice, above the oracle, x-1 changed, stale count, stale closed wrongly): $bad"
    [ "$(Q m1 "SELECT COUNT(*) FROM radacct WHERE acctuniqueid LIKE 'o-%'")" = 2 ] &&
        [ "$(Q m2 "SELECT COUNT(*) FROM radacct WHERE acctuniqueid LIKE 'o-%'")" = 2 ] ||
        h_fail "$what: an open session left its member"
}
check "before any run"

# oom_round WHAT [BEFORE]: the loop over N, checking after each run; BEFORE
# (a command) runs before each run
oom_round() {
    local start=$SECONDS n=1 failed=0 rc
    while :; do
        [ -z "${2:-}" ] || $2
        rc=0
        "$OOM" "$H_TMP/s.conf" "$n" > "$H_TMP/oom.log" 2>&1 || rc=$?
        case $rc in
        0) failed=$((failed + 1)) ;;
        3) break ;;
        *) h_fail "$1: sweep_oom with allocation $n failing exited $rc: $(tail -n 20 "$H_TMP/oom.log")" ;;
        esac
        check "$1: after allocation $n failed"
        n=$((n + 1))
        [ $n -le 3000 ] || h_fail "$1: the cycle still failing an allocation at 3000"
    done
    [ $failed -ge 20 ] || h_fail "$1: only $failed allocation(s) failed: the driver reached little"
    h_ok "$1: $failed cycles, each with one allocation failing (N = 1 to $failed): after each, nothing lost, nothing twice, nothing above its counters ($((SECONDS - start)) s)"
}
oom_round "upserts, LOAD DATA, superseded, stale"
check "after the loop"

# Round 2: a failed allocation stops one member's pass, the other member's
# goes on, so the first runs drain the backlog and the later ones fail in an
# idle cycle.  Here FreeRADIUS keeps writing: before each run, 4 new closed
# sessions on each member (a full page and part of one, which master holds
# none of: LOAD DATA), so every run's failure can fall in a page.
more() {
    sw_rows m1 $((K + 1)) $((K + 4))
    sw_rows m2 $((K + 1)) $((K + 4))
    K=$((K + 4))
    EXPECT=$(for m in m1 m2; do for ((i = 1; i <= K; i++)); do echo "$m-$i"; done; done | sort)
}
oom_round "FreeRADIUS writing between the runs" more


check "after the loop"
sweep_once "$H_TMP/s.conf" ok
check "after a plain sweep"
[ "$(sw_master_of m1)" = "$(sw_expect $K)" ] && [ "$(sw_master_of m2)" = "$(sw_expect $K)" ] ||
    h_fail "master's closed sessions not exact: m1 $(sw_master_of m1), m2 $(sw_master_of m2)"
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctuniqueid LIKE 'm_-%' AND acctstoptime IS NULL")" = 0 ] ||
    h_fail "an older open copy on master not replaced by its closed session"
for m in m1 m2; do
    [ "$(Q $m "SELECT GROUP_CONCAT(acctuniqueid ORDER BY acctuniqueid) FROM radacct")" = "o-$m-1,o-$m-2" ] ||
        h_fail "$m holds more than its open sessions: $(Q $m "SELECT GROUP_CONCAT(acctuniqueid) FROM radacct")"
done
[ "$(Q ms "SELECT COUNT(*), SUM(acctinputoctets) FROM radacct WHERE acctuniqueid LIKE 'o-%' AND acctstoptime IS NULL" | tr '\t' ' ')" = "4 26" ] ||
    h_fail "master's copies of the open sessions not exact"
[ "$(Q ms "SELECT COUNT(*) FROM radacct WHERE acctuniqueid LIKE 't-%' AND acctterminatecause = 'Stale-Session' AND acctstoptime = acctupdatetime")" = 3 ] ||
    h_fail "master's stale sessions not all closed"
h_ok "then a plain sweep: every closed session on master once with exact sums, members hold only their open sessions, stale ones closed, x-1 kept"
