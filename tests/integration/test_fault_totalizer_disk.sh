#!/usr/bin/env bash
# test_fault_totalizer_disk.sh — the totalizer's held-counts files on a disk
# that refuses (docs/totalizer.md, "Exactness"; docs/formats.md, "Held
# counts"): <state_dir>/totalizer is a small tmpfs of its own, in a private
# mount namespace (the test re-runs itself under `unshare -m`; it needs root,
# and says so and passes without it).  The oracle is the lines this test
# sent, counted per key.
#  1. Full: Redis away, 3000 counts over 2000 keys held, SIGTERM: the file
#     cannot be written; the stop says that exactly 3000 counts were lost
#     (not kept), and no file or temp file is left behind to be applied in
#     part later.
#  2. Read-only: counts kept at a stop with Redis away are applied at the
#     next start, but the file cannot be removed; the start after that reads
#     the same file again and Redis still holds each count exactly once (the
#     file's batch ids, already in Redis, stop the second application).
set -euo pipefail
if [ -z "${FAULT_TZ_DISK_NS:-}" ]; then
    if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
        echo "ok 1 - skipped: needs root and unshare -m (a tmpfs of its own for state_dir/totalizer)"
        exit 0
    fi
    exec env FAULT_TZ_DISK_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
held=$H_TMP/state/totalizer
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log t; ls -la "$held" >&2 || true; }; umount "$held" 2>/dev/null; h_cleanup' EXIT

mkdir -p "$held"
mount -t tmpfs -o size=8k,mode=0700 tmpfs "$held"
tz_setup fd-a
read_again() { [ "$(grep -c 'cannot remove applied held-counts file' "$H_TMP/t.log")" -ge 2 ]; }

# 1. full: the file cannot be written at stop
sent=$H_TMP/sent1.txt; : > "$sent"
agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start"
h_stop r1
tz_feed "$sent" 1 3000 2000 "$uport"
h_wait_until 20 lines_are 3000 || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 3000"
h_stop t 10 || h_fail "daemon still running 10 s after SIGTERM"
agg_log_has t 'cannot keep held counts' || h_fail "no log line for the file that could not be written"
agg_log_has t 'redis unreachable at stop: 3000 count\(s\) of 3000 not written and not kept' \
    || h_fail "the stop did not report the 3000 counts lost: $(grep 'at stop' "$H_TMP/t.log" || true)"
! agg_log_has t 'kept in' || h_fail "the stop reported counts kept it could not write"
[ -z "$(ls -A "$held")" ] || h_fail "left in $held: $(ls -A "$held")"
h_ok "full state_dir/totalizer at stop: exactly the 3000 counts held reported lost; no file or temp file left to apply in part"

# 2. read-only: the file applied at start cannot be removed
mount -o remount,size=1m "$held"
sent=$H_TMP/sent2.txt; : > "$sent"
agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start (2)"
h_stop r1
tz_feed "$sent" 1 500 7 "$uport"
h_wait_until 20 lines_are 500 || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 500"
h_stop t 10 || h_fail "daemon still running 10 s after SIGTERM (2)"
[ -n "$(find "$held" -name '*.held')" ] || h_fail "no held-counts file under $held"
mount -o remount,ro "$held"
h_restart_redis r1
agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start (3)"
h_wait_until 20 stored_is "$sent" || h_fail "Redis holds: $(tz_stored r1 n | tr '\n' ' '); want $(tz_oracle "$sent" | tr '\n' ' ')"
h_wait_until 10 agg_log_has t 'cannot remove applied held-counts file' \
    || h_fail "no log line for the applied file that could not be removed"
[ "$(metric aggregatord_totalizer_restored_total)" = 500 ] || h_fail "restored_total $(metric aggregatord_totalizer_restored_total), want 500"
h_stop t
[ -n "$(find "$held" -name '*.held')" ] || h_fail "the held-counts file went from a read-only directory"
agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start (4)"
h_wait_until 20 read_again \
    || h_fail "the file left in place was not read again"
stored_is "$sent" || h_fail "after reading the file again Redis holds: $(tz_stored r1 n | tr '\n' ' '); want $(tz_oracle "$sent" | tr '\n' ' ')"
h_stop t
h_ok "read-only state_dir/totalizer: the applied file stays; read again at the next start, each count still once in Redis"
