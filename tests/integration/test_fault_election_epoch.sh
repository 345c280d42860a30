#!/usr/bin/env bash
# test_fault_election_epoch.sh — the epoch across restarts (docs/election.md,
# "The epoch across restarts").  Two nodes a and b in one group take epochs
# 1 to 3 (a, then b, then a again: b was standby when a took 3); each keeps
# the highest it saw in <state_dir>/election/epoch.  Both stop, and Redis
# loses every key (FLUSHALL, as a Redis restarted without persistence):
# b, started alone and elected, takes 4, never an epoch at or below one
# already stamped on events (consumers would fence the new leader's events
# as a deposed leader's).  A file that cannot be used (no number, another
# group's) is logged and ignored, and rewritten once the node reads the
# group's epoch.  A node that cannot write its file (its directory
# read-only, the daemon unprivileged) logs it once, keeps leading with the
# epoch it took, and writes the file once it can.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { for n in a b c; do [ -f "$H_TMP/$n.log" ] && agg_dump_log $n; done; }; h_cleanup' EXIT

h_start_redis r
conf_for() {	# FILE NODE_NAME STATE CLUSTER_ID
    cat > "$1" <<CONF
node = { name = "$2"; state_dir = "$3"; };
http = { listen = "127.0.0.1:$(h_free_port tcp)"; };
redis = { port = $r_PORT; timeout_ms = 300; };
election = { cluster = "radius"; cluster_id = $4; interval_ms = 300; ttl_ms = 900; };
CONF
}
conf_for "$H_TMP/a.conf" a "$H_TMP/state-a" 7
conf_for "$H_TMP/b.conf" b "$H_TMP/state-b" 7
role() { agg_metric "$1" aggregatord_election_role 2>/dev/null || echo x; }
both() { [ "$(role a)$(role b)" = "$1" ]; }
epoch() { agg_metric "$1" aggregatord_election_epoch; }
kept() { cat "$H_TMP/state-$1/election/epoch" 2>/dev/null; }

agg_start a "$H_TMP/a.conf"
h_wait_until 10 agg_metric_is a aggregatord_election_role 1 || h_fail "a not active alone"
agg_start b "$H_TMP/b.conf"
h_wait_until 10 both 10 || h_fail "a then b: a=$(role a) b=$(role b)"
h_signal a RTMIN+2	# a forced standby: b elected
h_wait_until 10 both 01 || h_fail "a forced standby: a=$(role a) b=$(role b)"
h_signal a RTMIN+3	# a back to auto, behind b
h_signal b RTMIN+2	# b forced standby: a elected
h_wait_until 10 both 10 || h_fail "b forced standby: a=$(role a) b=$(role b)"
h_signal b RTMIN+3
h_wait_until 10 agg_metric_is b aggregatord_election_epoch 3 || h_fail "epochs: a $(epoch a), b $(epoch b), want 3"
[ "$(epoch a)" = 3 ] && [ "$(h_redis r GET radius+7+epoch)" = 3 ] || h_fail "a's epoch $(epoch a), the key $(h_redis r GET radius+7+epoch)"
h_wait_until 5 eval '[ "$(kept a)" = "radius+7 3" ] && [ "$(kept b)" = "radius+7 3" ]' \
    || h_fail "kept: a '$(kept a)', b '$(kept b)', want 'radius+7 3' each"
[ "$(stat -c %a "$H_TMP/state-a/election/epoch" "$H_TMP/state-b/election/epoch" | sort -u)" = 600 ] \
    || h_fail "modes: $(stat -c '%n %a' "$H_TMP"/state-?/election/epoch)"
h_ok "epochs 1-3 taken by a, b, a; each node keeps 3 (b saw it as standby), mode 0600"

# the standby first: stopped second, b could be elected in the moment
# between a's stop and its own (a round during its stop) and take epoch 4
h_stop b
h_stop a
h_redis r FLUSHALL > /dev/null	# as a Redis restarted without persistence
agg_start b "$H_TMP/b.conf"
h_wait_until 10 agg_metric_is b aggregatord_election_role 1 || h_fail "b not active alone"
h_wait_until 5 agg_metric_is b aggregatord_election_epoch 4 \
    || h_fail "after the restart with Redis emptied: b took epoch $(epoch b), want 4 (above the 3 already stamped)"
[ "$(h_redis r GET radius+7+epoch)" = 4 ] || h_fail "the key holds $(h_redis r GET radius+7+epoch), want 4"
agg_log_has b "epoch 3 seen before the restart" || h_fail "b did not say what it remembered"
h_wait_until 5 eval '[ "$(kept b)" = "radius+7 4" ]' || h_fail "b keeps '$(kept b)', want 'radius+7 4'"
h_ok "both stopped, Redis emptied: b elected alone takes epoch 4, not 1"

bad_file() {	# CONTENT LOG_PATTERN WHAT: a starts with it; b leads at epoch 4
    printf '%s\n' "$1" > "$H_TMP/state-a/election/epoch"
    agg_start a "$H_TMP/a.conf"
    h_wait_until 10 agg_metric_is a aggregatord_election_epoch 4 || h_fail "a with $3: epoch $(epoch a), want the group's 4"
    agg_log_has a "$2" || h_fail "$3 was not logged"
    h_wait_until 5 eval '[ "$(kept a)" = "radius+7 4" ]' || h_fail "with $3 a keeps '$(kept a)' after reading 4"
    h_stop a
}
bad_file 'radius+7 junk' 'does not hold "radius\+7 EPOCH"; ignored' "a file with no number"
bad_file 'radius+9 12' "is not for group 'radius\+7'; ignored" "another group's file"
h_stop b
h_ok "a file with no number, then another group's: logged and ignored, rewritten with the group's epoch"

# --- a node that cannot write its file: unprivileged, the directory read-only ---
[ "$(id -u)" = 0 ] || h_fail "needs root to run the daemon as a fresh uid (setpriv)"
U=$(fresh_id) || h_fail "no free uid"
chmod 0711 "$H_TMP"
aggd=$H_TMP/aggregatord
install -m 0755 "$AGGD" "$aggd"
agg_gcov_any_uid
conf_for "$H_TMP/c.conf" c "$H_TMP/state-c" 8
chmod 0644 "$H_TMP/c.conf"
mkdir -p "$H_TMP/state-c/election"
chown -R "$U:$U" "$H_TMP/state-c"
chmod 0500 "$H_TMP/state-c/election"
export c_URL=http://$(sed -n 's/.*listen *= *"\([^"]*\)".*/\1/p' "$H_TMP/c.conf")
h_spawn c "$H_TMP/c.log" setpriv --reuid="$U" --regid="$U" --clear-groups "$aggd" -c "$H_TMP/c.conf"
h_wait_until 10 agg_metric_is c aggregatord_election_role 1 || h_fail "c not active alone"
[ "$(epoch c)" = 1 ] || h_fail "c's epoch $(epoch c), want 1"
h_wait_until 5 agg_log_has c "cannot keep epoch 1 in '$H_TMP/state-c/election/epoch': .*Permission denied" \
    || h_fail "the failed write was not logged"
# the thread tries again every round (300 ms): two seconds up is six tries
h_wait_until 10 eval '[ "$(agg_metric c aggregatord_uptime_seconds | cut -d. -f1)" -ge 2 ]' || h_fail "no uptime"
[ "$(grep -c "cannot keep epoch 1" "$H_TMP/c.log")" = 1 ] || h_fail "said $(grep -c "cannot keep epoch 1" "$H_TMP/c.log") times, want once"
[ "$(role c)" = 1 ] && [ "$(epoch c)" = 1 ] || h_fail "c: role $(role c), epoch $(epoch c)"
chmod 0700 "$H_TMP/state-c/election"
h_wait_until 5 eval '[ "$(cat "$H_TMP/state-c/election/epoch" 2>/dev/null)" = "radius+8 1" ]' || h_fail "c did not write its file once it could"
agg_log_has c "epoch 1 kept in '$H_TMP/state-c/election/epoch' again" || h_fail "writing again was not logged"
h_stop c
[ "$H_EXIT_STATUS" = 0 ] || h_fail "c's exit status $H_EXIT_STATUS"
h_ok "c unprivileged, its election directory read-only: logged once, still leading at epoch 1; writable again: kept, and said"
