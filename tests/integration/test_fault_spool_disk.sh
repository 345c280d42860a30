#!/usr/bin/env bash
# test_fault_spool_disk.sh — the publish spool on a disk that refuses
# (docs/formats.md, "The publish spool"): <state_dir>/spool is a small
# tmpfs of its own, in a private mount namespace (the test re-runs itself
# under `unshare -m`; it needs root, and says so and passes without it).
#   - read-only: a spool file already there is replayed once; the daemon
#     cannot remove it and does not replay it again (it was replayed every
#     250 ms, each time a duplicate of every record); a damaged one (a torn
#     tail) likewise, which it cannot rename to NAME.bad; events that fail
#     while the spool cannot be written are counted as lost
#     (_dropped_total{cause="disk"}), never as spooled; once writable, the
#     replayed file is removed and the damaged one kept, unchanged, as
#     NAME.bad;
#   - full: of the events that fail, those counted as spooled are exactly
#     the records in the spool files (read from the format, not by the
#     daemon), the rest counted as lost; space back and the broker up, the
#     spooled ones reach the topic once each;
#   - full while a spool file is replayed and fails again: its records stay
#     in their file (they were removed with it) and reach the topic later.
# The oracle is the numbers the test wrote or sent (keys seq;N;s;0).
set -euo pipefail
if [ -z "${FAULT_SPOOL_NS:-}" ]; then
    if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
        echo "ok 1 - skipped: needs root and unshare -m (a tmpfs of its own for the spool)"
        exit 0
    fi
    exec env FAULT_SPOOL_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log p; umount "$H_TMP/state/spool" 2>/dev/null; h_cleanup' EXIT

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_start_redis r
uport=$(h_free_port udp)
hport=$(h_free_port tcp)
spool=$H_TMP/state/spool
mkdir -p "$spool"
mount -t tmpfs -o size=64k,mode=0700 tmpfs "$spool"
conf=$H_TMP/p.conf
seq_conf "$conf" p "$H_TMP/state" "$uport" "$hport"
send() { seq_send "$uport" "$1" "$2"; }
topic_numbers() { seq_on_topic; }
topic_is() { diff <(topic_numbers | sort -n) <(sort -n "$1") > "$H_TMP/topic.diff"; }
ev() {
    printf 'seq;%d;s;0\t{"node":"p","epoch":1,"elected":false,"prefix":"seq","matched":"%d","source":"s","start_ts":0,"delta":1,"interval_start_ms":0,"flush_ms":200}\n' "$1" "$1"
}
m() { agg_metric p "$1"; }
DISK='aggregatord_publish_dropped_total{cause="disk"}'
metric_is() { [ "$(m "$1")" = "$2" ]; }

# --- read-only ---
seq 1 5 | while read -r n; do ev "$n"; done | spool_write "$spool/0000000000001-000001.spool"
torn=$spool/0000000000001-000002.spool
seq 6 8 | while read -r n; do ev "$n"; done | spool_write "$torn"
# a torn tail: a header announcing 200 value bytes, 10 of them written
printf 'AGS1\022\0\0\0\011\0\0\0\310\0\0\0\0\0\0\0aggregatord.totalsseq;9;s;0abcdefghij' >> "$torn"
cp "$torn" "$H_TMP/torn"
mount -o remount,ro "$spool"
agg_start p "$conf"
h_wait_until 10 agg_healthy p || h_fail "daemon did not start"
seq 1 8 > "$H_TMP/want"
h_wait_until 20 topic_is "$H_TMP/want" || h_fail "the spool files on a read-only disk: $(tr '\n' ' ' < "$H_TMP/topic.diff")"
h_wait_until 10 agg_log_has p "cannot remove replayed spool file" || h_fail "the failed removal was not logged"
h_wait_until 10 agg_log_has p "cannot rename replayed spool file '$torn'" || h_fail "the failed rename to .bad was not logged"
send 31 40
seq 31 40 >> "$H_TMP/want"
h_wait_until 30 topic_is "$H_TMP/want" || h_fail "live events after the replay: $(tr "\n" " " < "$H_TMP/topic.diff")"
[ "$(m aggregatord_publish_replayed_total)" = 8 ] || h_fail "an unremovable spool file was replayed again: replayed_total $(m aggregatord_publish_replayed_total)"
[ "$(m aggregatord_publish_spool_corrupt_total)" = 1 ] || h_fail "spool_corrupt_total $(m aggregatord_publish_spool_corrupt_total), want 1 (the torn tail, once)"
h_ok "read-only spool: its files replayed once (1-8 on the topic once each, not again while 31-40 went through), the torn one too though it cannot be renamed to .bad"
h_kafka_down k
send 11 30
h_wait_until 20 metric_is aggregatord_publish_failed_total 20 || h_fail "failed $(m aggregatord_publish_failed_total) of 20"
h_wait_until 5 metric_is "$DISK" 20 || h_fail "dropped{disk} $(m "$DISK"), 20 failed on a read-only spool"
[ "$(m aggregatord_publish_spooled_total)" = 0 ] || h_fail "spooled_total $(m aggregatord_publish_spooled_total) with nothing on disk"
agg_log_has p "cannot open spool file" || h_fail "the refused spool file was not logged"
h_ok "read-only spool, the broker down: the 20 failed events counted as lost (disk), none as spooled"

mount -o remount,rw "$spool"
h_wait_until 10 eval '[ ! -e "$spool/0000000000001-000001.spool" ]' || h_fail "the replayed file was not removed once the disk is writable"
h_wait_until 10 eval '[ ! -e "$torn" ]' || h_fail "the torn file was not renamed once the disk is writable"
cmp -s "$torn.bad" "$H_TMP/torn" || h_fail "the torn file not kept as it was under .bad: $(ls "$spool")"
[ "$(m aggregatord_publish_replayed_total)" = 8 ] || h_fail "replayed again once writable: $(m aggregatord_publish_replayed_total)"
h_ok "writable again: the replayed file removed, the torn one kept unchanged as NAME.bad, neither replayed a second time"

# --- full ---
# leave 8 KiB: room for some 30 records
avail=$(df -B1 --output=avail "$spool" | tail -n 1)
dd if=/dev/zero of="$spool/filler" bs=4096 count=$(( (avail - 8192) / 4096 )) 2>/dev/null
f0=$(m aggregatord_publish_failed_total) d0=$(m "$DISK")
h_kafka_down k
send 101 300
h_wait_until 30 metric_is aggregatord_publish_failed_total $((f0 + 200)) \
    || h_fail "failed $(( $(m aggregatord_publish_failed_total) - f0 )) of 200"
h_wait_until 5 eval '[ $(( $(m aggregatord_publish_spooled_total) + $(m "$DISK") - d0 )) = 200 ]' \
    || h_fail "of 200 failed: spooled $(m aggregatord_publish_spooled_total), lost $(( $(m "$DISK") - d0 ))"
spooled=$(m aggregatord_publish_spooled_total)
spool_keys "$spool"/*.spool | cut -d';' -f2 | sort -n > "$H_TMP/spooled"
[ "$(wc -l < "$H_TMP/spooled")" = "$spooled" ] && [ "$(uniq < "$H_TMP/spooled" | wc -l)" = "$spooled" ] \
    || h_fail "spooled_total $spooled, the spool files hold $(wc -l < "$H_TMP/spooled") records"
[ "$spooled" -gt 0 ] && [ "$spooled" -lt 200 ] || h_fail "spooled $spooled of 200 on an 8 KiB disk"
agg_log_has p "cannot write spool file" || h_fail "the full disk was not logged"
h_ok "full spool: of 200 failed events $spooled counted as spooled, exactly the records in the files; $((200 - spooled)) counted as lost (disk)"

# --- full while a spool file is replayed ---
rm -f "$spool/filler"
seq 501 510 | while read -r n; do ev "$n"; done | spool_write "$spool/0000000000002-000001.spool"
cp "$spool/0000000000002-000001.spool" "$H_TMP/f2"
dd if=/dev/zero of="$spool/filler2" bs=4096 count=64 2>/dev/null || true
r0=$(m aggregatord_publish_replayed_total)
replayed_more() { [ "$(m aggregatord_publish_replayed_total)" -ge $((r0 + 10)) ]; }
h_wait_until 20 replayed_more || h_fail "the spool was not replayed with the broker down"
h_wait_until 20 metric_is aggregatord_publish_failed_total $((f0 + 200 + 10)) \
    || h_fail "the replay did not fail: failed $(m aggregatord_publish_failed_total)"
cmp -s "$spool/0000000000002-000001.spool" "$H_TMP/f2" \
    || h_fail "a replayed file whose records could not be spooled again was removed: $(ls "$spool")"
h_ok "a replay failing again on a full disk: its file (501-510) stays as it was"

rm -f "$spool/filler" "$spool/filler2"
h_kafka_up k
{ cat "$H_TMP/spooled"; seq 501 510; } >> "$H_TMP/want"
h_wait_until 60 topic_is "$H_TMP/want" || h_fail "after space and the broker came back: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 400)"
h_wait_until 20 eval '[ -z "$(ls "$spool"/*.spool 2>/dev/null)" ]' || h_fail "spool not emptied: $(ls "$spool")"
h_stop p 10
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
topic_is "$H_TMP/want" || h_fail "after the stop: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 400)"
h_ok "space and the broker back: the $spooled spooled events and 501-510 on the topic once each, none of the lost ones"
