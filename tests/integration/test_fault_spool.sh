#!/usr/bin/env bash
# test_fault_spool.sh — the publish spool's recovery from damaged files,
# and its rotation (docs/formats.md, "The publish spool"):
#   - hand-made spool files put in <state_dir>/spool before the start, each
#     with good records first: a torn tail (a crash mid-write), a record
#     with a bad checksum followed by good ones, a record for a topic the
#     node does not produce, an empty file, a file with nothing good.  Every
#     good record reaches the topic exactly once; each bad place is counted
#     (aggregatord_publish_spool_corrupt_total, _dropped_total{cause=
#     "unknown_topic"}); a file that held one is kept, as it was, under
#     NAME.spool.bad for an operator (never replayed again); the empty one
#     is removed; nothing is left to replay.
#   - rotation: the spool file is closed at 64 MiB; the test knob
#     AGGREGATORD_TEST_SPOOL_ROTATE_BYTES lowers that so that a few hundred
#     events fill many files; every event spooled is replayed once across
#     them.
# The oracle is what the test wrote (or sent): numbered keys seq;N;s;0,
# counted on the topic by a consumer, duplicates included.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log p; h_cleanup' EXIT

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_start_redis r
uport=$(h_free_port udp)
hport=$(h_free_port tcp)
spool=$H_TMP/state/spool
mkdir -p "$spool"
conf=$H_TMP/p.conf
seq_conf "$conf" p "$H_TMP/state" "$uport" "$hport"
# the numbers in the keys of the totals events on the topic, one an event
topic_numbers() { seq_on_topic; }
# EXPECTED-NUMBERS-FILE: the topic holds each of them exactly once, nothing else
topic_is() { diff <(topic_numbers | sort -n) "$1" > "$H_TMP/topic.diff"; }
ev() {	# N [TOPIC [bad]]: one record line for spool_write
    printf 'seq;%d;s;0\t{"node":"p","epoch":1,"elected":false,"prefix":"seq","matched":"%d","source":"s","start_ts":0,"delta":1,"interval_start_ms":0,"flush_ms":200}\t%s\t%s\n' \
        "$1" "$1" "${2:-}" "${3:-}"
}
metric_ge() { [ "$(agg_metric p "$1")" -ge "$2" ] 2>/dev/null; }
no_spool_left() { [ -z "$(ls "$spool"/*.spool 2>/dev/null)" ]; }

# --- damaged files, written before the start ---
f() { echo "$spool/000000000000$1-000001.spool"; }
{ for n in 1 2 3 4 5; do ev $n; done; } | spool_write "$(f 1)"
# a torn tail: a header announcing 200 value bytes, 10 of them written
printf 'AGS1\022\0\0\0\011\0\0\0\310\0\0\0\0\0\0\0aggregatord.totalsseq;6;s;0abcdefghij' >> "$(f 1)"
{ for n in 11 12 13 14 15; do ev $n; done; ev 16 "" bad; for n in 17 18 19 20; do ev $n; done; } | spool_write "$(f 2)"
{ for n in 21 22 23; do ev $n; done; ev 24 aggregatord.nosuch; ev 25; ev 26; } | spool_write "$(f 3)"
: > "$(f 4)"
ev 31 "" bad | spool_write "$(f 5)"
for i in 1 2 3 5; do cp "$(f $i)" "$H_TMP/orig$i"; done
{ seq 1 5; seq 11 15; seq 17 20; seq 21 23; seq 25 26; } > "$H_TMP/want1"

agg_start p "$conf"
h_wait_until 10 agg_healthy p || h_fail "daemon did not start"
h_wait_until 30 no_spool_left || h_fail "the spool was not emptied: $(ls "$spool")"
h_wait_until 20 topic_is "$H_TMP/want1" || h_fail "the topic against the good records: $(cat "$H_TMP/topic.diff" | tr '\n' ' ')"
h_ok "damaged spool files: the $(wc -l < "$H_TMP/want1") good records on the topic once each (those after a bad checksum too), none of the bad ones"

[ "$(agg_metric p aggregatord_publish_spool_corrupt_total)" = 3 ] \
    || h_fail "spool_corrupt_total $(agg_metric p aggregatord_publish_spool_corrupt_total), want 3 (a torn tail, two bad checksums)"
[ "$(agg_metric p 'aggregatord_publish_dropped_total{cause="unknown_topic"}')" = 1 ] \
    || h_fail "dropped{unknown_topic} $(agg_metric p 'aggregatord_publish_dropped_total{cause="unknown_topic"}'), want 1"
[ "$(agg_metric p aggregatord_publish_replayed_total)" = "$(wc -l < "$H_TMP/want1")" ] \
    || h_fail "replayed_total $(agg_metric p aggregatord_publish_replayed_total)"
for i in 1 2 3 5; do
    cmp -s "$(f $i).bad" "$H_TMP/orig$i" || h_fail "$(basename "$(f $i)") not kept as it was under .bad: $(ls "$spool")"
done
[ ! -e "$(f 4)" ] && [ ! -e "$(f 4).bad" ] || h_fail "the empty spool file was kept: $(ls "$spool")"
agg_log_has p "spool file '$(f 2)': bad checksum at byte [0-9]+" || h_fail "the bad checksum was not logged"
agg_log_has p "kept as '$(f 5).bad'" || h_fail "the file with nothing good was not logged as kept"
h_ok "each bad place counted (3 corrupt, 1 unknown topic), the 4 files holding one kept unchanged as NAME.spool.bad, the empty one removed"
h_stop p 10
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
topic_is "$H_TMP/want1" || h_fail "after the stop, the topic against the good records: $(cat "$H_TMP/topic.diff" | tr '\n' ' ')"
[ -z "$(ls "$spool"/*.spool 2>/dev/null)" ] || h_fail "a .bad file was replayed or renamed back: $(ls "$spool")"
h_ok "nothing replayed twice: after the stop the topic still holds each good record once"

# --- rotation: many small files, every event replayed once ---
rm -f "$spool"/*.bad
ROT=8192 N=600
agg_start p "$conf" AGGREGATORD_TEST_SPOOL_ROTATE_BYTES=$ROT
h_wait_until 10 agg_healthy p || h_fail "daemon did not start"
h_kafka_down k
seq 1001 $((1000 + N)) | sed 's/^/seq=/' | "$H_BIN/htool" udp-send -n 50 127.0.0.1 "$uport"
h_wait_until 30 metric_ge aggregatord_publish_spooled_total $N \
    || h_fail "spooled $(agg_metric p aggregatord_publish_spooled_total) of $N"
files=$(ls "$spool"/*.spool | wc -l)
[ "$files" -ge 8 ] || h_fail "$N events spooled into $files file(s) with a rotation at $ROT bytes"
biggest=$(stat -c %s "$spool"/*.spool | sort -n | tail -n 1)
[ "$biggest" -lt $((ROT + 1024)) ] || h_fail "a spool file grew to $biggest bytes past the rotation at $ROT"
[ "$(spool_keys "$spool"/*.spool | cut -d';' -f2 | sort -n | uniq | wc -l)" = $N ] \
    || h_fail "the spool files hold $(spool_keys "$spool"/*.spool | wc -l) records, $N were spooled"
h_ok "$N events spooled with the broker down: rotated into $files files of at most $biggest bytes (rotation at $ROT), each event in them once"
h_kafka_up k
{ cat "$H_TMP/want1"; seq 1001 $((1000 + N)); } | sort -n > "$H_TMP/want2"
h_wait_until 60 no_spool_left || h_fail "the spool was not emptied: $(ls "$spool" | wc -l) file(s) left"
h_wait_until 20 topic_is "$H_TMP/want2" || h_fail "the topic after the replay: $(head -c 300 "$H_TMP/topic.diff" | tr '\n' ' ')"
h_stop p 10
topic_is "$H_TMP/want2" || h_fail "the topic after the stop: $(head -c 300 "$H_TMP/topic.diff" | tr '\n' ' ')"
h_ok "the broker back: the $files rotated files replayed oldest first and removed, each of the $N events on the topic exactly once"
