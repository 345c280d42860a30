#!/usr/bin/env bash
# test_sweep_schema.sh — the sweep checks the table's unique indexes at
# connect, on master and on every member:
#  - master without a UNIQUE index on acctuniqueid (an older schema: a
#    plain index) is refused, as a daemon: nothing copied or deleted, the
#    refusal counted in /metrics and shown by `aggregatorctl status`; the
#    ALTER TABLE the message gives, run as it is, fixes it and the next
#    cycle moves every session once;
#  - a UNIQUE index on acctsessionid (the old scripts' key), which would
#    merge two NASes' sessions with the same Acct-Session-Id into one row,
#    is refused; its ALTER fixes it and both sessions reach master;
#  - a member without the acctuniqueid index is refused, naming the member;
#  - a UNIQUE index that contains acctuniqueid is harmless and accepted.
# shellcheck source-path=SCRIPTDIR disable=SC2154  # m1_PORT etc. come from lib.sh
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { cat "$H_TMP"/once*.log "$H_TMP"/d.log >&2 2>/dev/null || true; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb m1 ms

hport=$(h_free_port tcp)
cat > "$H_TMP/sw.conf" <<EOF
node = { name = "sw"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$hport"; };
sweep = { interval = 1; stale_after = 3600; batch = 3; timeout = 5;
  master = { host = "127.0.0.1"; port = $ms_PORT; user = "root"; };
  members = ( { name = "m1"; host = "127.0.0.1"; port = $m1_PORT; user = "root"; } ); };
EOF
sweep() { sweep_once "$H_TMP/sw.conf"; }	# -> exit status; its log is $H_TMP/once$n_once.log
# the fixes the refusal gives, one a line
fixes() { grep -o 'fix: ALTER TABLE [^;]*' "$1" | sed 's/^fix: //' | sort -u; }

COLS="acctsessionid,acctuniqueid,username,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause"
row() {	# MEMBER SESSIONID UNIQUEID NAS OPEN|CLOSED OCTETS
    local stop="NOW() - INTERVAL 1 MINUTE"
    [ "$5" = CLOSED ] || stop=NULL
    Q "$1" "INSERT INTO radacct ($COLS) VALUES ('$2','$3','user','$4','1', NOW() - INTERVAL 10 MINUTE,
        NOW() - INTERVAL 2 MINUTE, $stop, 480, $6, $6, '')"
}
# two sessions per NAS pair with the same Acct-Session-Id, one open, one closed
scenario() {
    row m1 s1 u1 10.0.0.1 CLOSED 100
    row m1 s1 u2 10.0.0.2 CLOSED 200
    row m1 s2 u3 10.0.0.1 OPEN 300
    row m1 s2 u4 10.0.0.2 OPEN 400
}
master_view() { Q ms "SELECT acctuniqueid, acctsessionid, acctinputoctets, acctstoptime IS NULL FROM radacct ORDER BY acctuniqueid"; }
expected() { printf 'u1\ts1\t100\t0\nu2\ts1\t200\t0\nu3\ts2\t300\t1\nu4\ts2\t400\t1\n'; }

# --- master with a plain (non-unique) index on acctuniqueid, as a daemon ---
load_schema m1 ms
Q ms "ALTER TABLE radacct DROP INDEX acctuniqueid, ADD INDEX acctuniqueid (acctuniqueid)"
scenario
agg_start d "$H_TMP/sw.conf"
h_wait_until 20 sh -c "[ \"\$(curl -s http://127.0.0.1:$hport/metrics | awk '\$1 == \"aggregatord_sweep_master_schema_refused_total\" { print \$2 }')\" -ge 2 ] 2>/dev/null" \
    || h_fail "the refusal is not counted: $(agg_get d /metrics | grep schema)"
grep -q "table 'radacct' on master has no UNIQUE index on (acctuniqueid)" "$H_TMP/d.log" ||
    h_fail "the refusal does not name the table and the index: $(grep sweep "$H_TMP/d.log" | tail -n 3)"
[ "$(fixes "$H_TMP/d.log")" = 'ALTER TABLE `radius`.`radacct` DROP INDEX `acctuniqueid`, ADD UNIQUE INDEX `acctuniqueid` (`acctuniqueid`)' ] ||
    h_fail "the fix given: $(fixes "$H_TMP/d.log")"
[ "$(Q ms "SELECT COUNT(*) FROM radacct")" = 0 ] || h_fail "rows reached master though its table was refused"
[ "$(Q m1 "SELECT COUNT(*) FROM radacct")" = 4 ] || h_fail "rows left m1 though master's table was refused"
"$AGGCTL" -s "$d_URL" status --json > "$H_TMP/status.json"
grep -q '"master_schema":"refused"' "$H_TMP/status.json" || h_fail "status does not show the refusal: $(cat "$H_TMP/status.json")"
"$AGGCTL" -s "$d_URL" status > "$H_TMP/status.txt"
grep -q 'master_schema.*refused' "$H_TMP/status.txt" || h_fail "aggregatorctl status does not show the refusal: $(cat "$H_TMP/status.txt")"
h_ok "master without a unique acctuniqueid: refused with the table, the index and the fix; counted; shown in status; nothing moved"

# the operator runs the fix given; the daemon's next cycle moves everything once
Q ms "$(fixes "$H_TMP/d.log")"
h_wait_until 20 sh -c "[ \"\$(mariadb --no-defaults -uroot --socket='$m1_SOCK' radius -N -e 'SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NOT NULL')\" = 0 ]" \
    || h_fail "the sweep did not resume after the fix"
h_wait_until 20 sh -c "\"$AGGCTL\" -s \"$d_URL\" status --json | grep -q '\"master_schema\":\"ok\"'" \
    || h_fail "status still shows the refusal: $("$AGGCTL" -s "$d_URL" status --json)"
diff <(expected) <(master_view) > "$H_TMP/diff.txt" || h_fail "master after the fix: $(cat "$H_TMP/diff.txt")"
h_stop d
h_ok "the ALTER TABLE given fixes it: the next cycle moves every session once"

# --- a UNIQUE index on acctsessionid: would merge two NASes' sessions ---
load_schema m1 ms
Q ms "ALTER TABLE radacct ADD UNIQUE INDEX sessid (acctsessionid)"
scenario
if sweep; then h_fail "master with a unique acctsessionid was swept: master holds $(master_view | tr '\n' ' ')"; fi
grep -q "table 'radacct' on master has UNIQUE index \`sessid\` on (acctsessionid)" "$H_TMP/once$n_once.log" ||
    h_fail "the merging index is not named: $(cat "$H_TMP/once$n_once.log")"
[ "$(fixes "$H_TMP/once$n_once.log")" = 'ALTER TABLE `radius`.`radacct` DROP INDEX `sessid`, ADD INDEX `sessid` (`acctsessionid`)' ] ||
    h_fail "the fix given: $(fixes "$H_TMP/once$n_once.log")"
[ "$(Q ms "SELECT COUNT(*) FROM radacct")" = 0 ] && [ "$(Q m1 "SELECT COUNT(*) FROM radacct")" = 4 ] ||
    h_fail "rows moved though master's table was refused"
Q ms "$(fixes "$H_TMP/once$n_once.log")"
sweep || h_fail "the sweep after the fix failed: $(cat "$H_TMP/once$n_once.log")"
diff <(expected) <(master_view) > "$H_TMP/diff.txt" || h_fail "master after the fix: $(cat "$H_TMP/diff.txt")"
h_ok "a unique index that could merge distinct sessions (acctsessionid) is refused; its fix lets both sessions through"

# --- a member without the index; a harmless unique index on master ---
load_schema m1 ms
Q m1 "ALTER TABLE radacct DROP INDEX acctuniqueid"
Q ms "ALTER TABLE radacct ADD UNIQUE INDEX uid_nas (acctuniqueid, nasipaddress)"
scenario
if sweep; then h_fail "a member without a unique acctuniqueid was swept"; fi
grep -q "sweep: member 'm1': table 'radacct' on member 'm1' has no UNIQUE index on (acctuniqueid)" "$H_TMP/once$n_once.log" ||
    h_fail "the member's refusal: $(cat "$H_TMP/once$n_once.log")"
[ "$(fixes "$H_TMP/once$n_once.log")" = 'ALTER TABLE `radius`.`radacct` ADD UNIQUE INDEX `acctuniqueid` (`acctuniqueid`)' ] ||
    h_fail "the fix given: $(fixes "$H_TMP/once$n_once.log")"
grep -q "uid_nas" "$H_TMP/once$n_once.log" && h_fail "a unique index holding acctuniqueid was refused"
Q m1 "$(fixes "$H_TMP/once$n_once.log")"
sweep || h_fail "the sweep after the fix failed: $(cat "$H_TMP/once$n_once.log")"
diff <(expected) <(master_view) > "$H_TMP/diff.txt" || h_fail "master after the fix: $(cat "$H_TMP/diff.txt")"
h_ok "a member without the index is refused, named, with its fix; a unique index holding acctuniqueid is accepted"
