#!/usr/bin/env bash
# test_durable_spool.sh — an event counts as spooled only once its spool
# file and the spool directory are on disk (docs/formats.md, "The publish
# spool"): the broker down past message.timeout.ms, N numbered events fail
# to the spool; as soon as aggregatord_publish_spooled_total reaches N the
# daemon is killed with SIGKILL, and what a power cut at that moment would
# take away is taken away: the daemon runs under syncwatch.so, which logs
# every fsync/fdatasync of a path under the spool directory; a spool file
# whose directory was not fsynced after the file was first synced is
# removed, and every file is cut to the size it had at its last sync.  The
# broker comes back, the daemon starts again and replays the spool: every
# number is on the topic (the oracle: the numbers sent, counted distinct by
# a consumer of the topic).
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log p; cat "$H_TMP/sync.log" >&2 2>/dev/null || true; }; h_cleanup' EXIT
watch=$H_BIN/syncwatch.so
[ -f "$watch" ] || h_fail "$watch is not built (make harness)"

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_start_redis r
uport=$(h_free_port udp)
hport=$(h_free_port tcp)
mkdir -p "$H_TMP/state/spool"
state=$(realpath "$H_TMP/state")
spool=$state/spool
conf=$H_TMP/p.conf
seq_conf "$conf" p1 "$state" "$uport" "$hport"
"$AGGD" -n -c "$conf" >/dev/null || h_fail "config rejected: $("$AGGD" -n -c "$conf" 2>&1)"
# AddressSanitizer wants its runtime first in the preload list; syncwatch
# only wraps two libc calls, so the order does not matter here.
start() {
    agg_start p "$conf" LD_PRELOAD="$watch" SYNCWATCH_DIR="$spool" SYNCWATCH_LOG="$H_TMP/sync.log" \
        ASAN_OPTIONS="${ASAN_OPTIONS}:verify_asan_link_order=0"
    h_wait_until 10 agg_healthy p || h_fail "daemon did not start"
}
send() { seq_send "$uport" "$1" "$2"; }
# numbers on the topic, distinct, sorted
on_topic() { seq_on_topic | sort -un; }
topic_has_all() { [ "$(on_topic | wc -l)" = "$1" ]; }

# power_cut: keep of each spool file what the sync log says was durable.
power_cut() {
    local f first size dir_after
    for f in "$spool"/*.spool; do
        [ -e "$f" ] || continue
        first=$(grep -n -F "file $f " "$H_TMP/sync.log" | head -n 1 | cut -d: -f1)
        if [ -z "$first" ]; then
            echo "# power cut: $f never synced: removed"; rm -f "$f"; continue
        fi
        dir_after=$(awk -v n="$first" -v d="dir $spool" 'NR > n && $0 == d { print "y"; exit }' "$H_TMP/sync.log")
        if [ "$dir_after" != y ]; then
            echo "# power cut: the directory entry of $f never synced: removed"; rm -f "$f"; continue
        fi
        size=$(grep -F "file $f " "$H_TMP/sync.log" | tail -n 1 | awk '{ print $3 }')
        echo "# power cut: $f kept, cut to its synced $size of $(stat -c %s "$f") bytes"
        truncate -s "$size" "$f"
    done
}

N=400
start
send 1 20
h_wait_until 20 topic_has_all 20 || h_fail "the broker up: $(on_topic | wc -l) of 20 numbers on the topic"
d0=$(agg_metric p aggregatord_publish_delivered_total)
h_kafka_down k
send 21 $N
spooled_all() { [ "$(agg_metric p aggregatord_publish_spooled_total)" -ge $((N - 20)) ] 2>/dev/null; }
h_wait_until 30 spooled_all || h_fail "spooled $(agg_metric p aggregatord_publish_spooled_total) of $((N - 20))"
h_kill p
power_cut
ls "$spool"/*.spool > /dev/null 2>&1 || h_fail "nothing of the spool survives the power cut"
h_kafka_up k
start
h_wait_until 60 topic_has_all $N \
    || h_fail "$(on_topic | wc -l) of $N numbers on the topic after the restart (delivered before the outage: $d0); missing: $(comm -13 <(on_topic | sort) <(seq 1 $N | sort) | head -20 | tr '\n' ' ')"
h_stop p 10
h_ok "$((N - 20)) events spooled with the broker down, SIGKILL and a simulated power cut at once: all $N numbers on the topic after the restart"
