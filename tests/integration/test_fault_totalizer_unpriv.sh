#!/usr/bin/env bash
# test_fault_totalizer_unpriv.sh — the held-counts files of a totalizer run
# as a fresh uid, as systemd runs it (docs/totalizer.md, "Exactness"), where
# file modes refuse what root would be allowed.  Needs root only to switch
# uid (setpriv); says so and passes without it.  The oracle is the lines
# this test sent, counted per key; Redis restarts empty.
#  1. A held file the uid cannot read: refused at start and left in place,
#     none of its counts applied (new lines counted alone); once readable it
#     is applied at the next start, each count once.
#  2. state_dir/totalizer unreadable at start: nothing applied, the file
#     stays.  Then the directory gone and state_dir read-only at a stop with
#     Redis away: exactly the counts held are reported lost.  Restored, the
#     file of the first stop is applied, each count once, and nothing else.
set -euo pipefail
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
    echo "ok 1 - skipped: needs root and setpriv (to run the daemon as a fresh uid)"
    exit 0
fi
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log t; ls -laR "$H_TMP/state" >&2 || true; }; h_cleanup' EXIT

U=$(fresh_id) || h_fail "no free uid"
agg_gcov_any_uid
chmod 0711 "$H_TMP"
tz_setup fu-a
state=$H_TMP/state
mkdir -m 0700 "$state"
chown "$U:$U" "$state"
start_as_u() {
    export t_URL=http://127.0.0.1:$hport
    h_spawn t "$H_TMP/t.log" setpriv --reuid="$U" --regid="$U" --clear-groups "$AGGD" -c "$conf"
    h_wait_until 10 agg_healthy t || h_fail "daemon did not start as uid $U"
}
held_files() { find "$held" -name '*.held' 2>/dev/null; }
want() { cat "$@" > "$H_TMP/want.txt"; tz_oracle "$H_TMP/want.txt"; }
stored_want() { [ "$(stored)" = "$(want "$@")" ]; }
show() { echo "Redis holds: $(stored | tr '\n' ' '); want $(want "$@" | tr '\n' ' ')"; }

# 1. a held file the uid cannot read
sa=$H_TMP/sa.txt sb=$H_TMP/sb.txt; : > "$sa"; : > "$sb"
start_as_u
h_stop r1
feed "$sa" 1 1000 100
h_wait_until 20 lines_are 1000 || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 1000"
h_stop t 10 || h_fail "daemon still running 10 s after SIGTERM"
f=$(held_files)
[ -n "$f" ] && [ "$(stat -c %u "$f")" = "$U" ] || h_fail "no held-counts file of uid $U: $(ls -la "$held")"
chown root:root "$f"; chmod 0600 "$f"
h_restart_redis r1
start_as_u
h_wait_until 10 agg_log_has t "refused held-counts file '$f': Permission denied; left in place" \
    || h_fail "no refusal logged: $(grep -i held "$H_TMP/t.log" || true)"
[ "$(metric aggregatord_totalizer_held_files_refused_total)" = 1 ] || h_fail "held_files_refused_total $(metric aggregatord_totalizer_held_files_refused_total)"
feed "$sb" 1001 200 30
h_wait_until 20 stored_want "$sb" || h_fail "with the file refused: $(show "$sb")"
[ "$(metric aggregatord_totalizer_restored_total)" = 0 ] || h_fail "restored_total $(metric aggregatord_totalizer_restored_total) from a refused file"
h_stop t
[ "$(held_files)" = "$f" ] || h_fail "the refused file did not stay: $(ls -la "$held")"
chown "$U:$U" "$f"
start_as_u
h_wait_until 20 stored_want "$sa" "$sb" || h_fail "the file made readable: $(show "$sa" "$sb")"
h_wait_until 10 eval '[ -z "$(held_files)" ]' || h_fail "the applied file stayed"
[ "$(metric aggregatord_totalizer_restored_total)" = 1000 ] || h_fail "restored_total $(metric aggregatord_totalizer_restored_total), want 1000"
h_stop t
h_ok "a held file the uid cannot read: refused (Permission denied), left in place, none of its 1000 counts applied; readable again, applied at the next start, each count once"

# 2. state_dir/totalizer unreadable at start, then missing with state_dir read-only at a stop
sc=$H_TMP/sc.txt sd=$H_TMP/sd.txt se=$H_TMP/se.txt; : > "$sc"; : > "$sd"; : > "$se"
h_stop r1
start_as_u
feed "$sc" 1 400 40
h_wait_until 20 lines_are 400 || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 400"
h_stop t 10 || h_fail "daemon still running 10 s after SIGTERM (2)"
fc=$(held_files)
[ -n "$fc" ] || h_fail "no held-counts file for the 400 counts"
chown root:root "$held"
h_restart_redis r1
start_as_u
h_wait_until 10 agg_log_has t "cannot read '$held': Permission denied; counts kept at the last stop not applied" \
    || h_fail "no log line for the unreadable directory: $(grep -i held "$H_TMP/t.log" || true)"
feed "$sd" 401 300 30
h_wait_until 20 stored_want "$sd" || h_fail "with the directory unreadable: $(show "$sd")"
mv "$held" "$H_TMP/held.away"
chmod 0500 "$state"
h_stop r1
feed "$se" 701 300 30
h_wait_until 20 lines_are 600 || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 600"
kept_before=$(grep -c 'kept in' "$H_TMP/t.log")
h_stop t 10 || h_fail "daemon still running 10 s after SIGTERM (3)"
agg_log_has t "cannot create '$held': Permission denied" || h_fail "no log line for the directory that cannot be created"
agg_log_has t 'redis unreachable at stop: 300 count\(s\) of 300 not written and not kept' \
    || h_fail "the stop did not report the 300 counts lost: $(grep 'at stop' "$H_TMP/t.log" || true)"
[ "$(grep -c 'kept in' "$H_TMP/t.log")" = "$kept_before" ] || h_fail "the stop reported counts kept it could not write"
[ ! -e "$held" ] || h_fail "$held created by uid $U in a read-only state_dir"
chmod 0700 "$state"
mv "$H_TMP/held.away" "$held"
chown "$U:$U" "$held"
h_restart_redis r1
start_as_u
h_wait_until 20 stored_want "$sc" || h_fail "after the directory came back: $(show "$sc")"
h_wait_until 10 eval '[ -z "$(held_files)" ]' || h_fail "the applied file stayed"
[ "$(metric aggregatord_totalizer_restored_total)" = 400 ] || h_fail "restored_total $(metric aggregatord_totalizer_restored_total), want 400"
h_stop t
stored_want "$sc" || h_fail "after the stop: $(show "$sc")"
h_ok "state_dir/totalizer unreadable at start: its 400 counts not applied and kept; gone with state_dir read-only at a stop: exactly the 300 counts held reported lost; back: the 400 applied once, nothing else"
