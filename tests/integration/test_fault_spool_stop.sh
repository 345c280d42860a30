#!/usr/bin/env bash
# test_fault_spool_stop.sh — a stop or a demotion in the middle of a spool replay,
# and spool files it cannot replay (docs/formats.md, "The publish spool";
# docs/election.md, stopping a standby):
#   - a spool file of 300 records is replayed with the broker down and
#     librdkafka's queue at 50 (queue.buffering.max.messages): 50 wait in
#     librdkafka, 250 in the daemon's queue, all from that file.  SIGTERM:
#     the 50 are purged and spooled again from their delivery reports, the
#     250 spooled again from the daemon's queue; the replayed file is then
#     done with and removed.  The spool holds each of the 300 exactly once
#     (read from the format, not by the daemon); the restart with the
#     broker up puts each on the topic exactly once (never sent, so no
#     duplicate allowed), past two older files it cannot replay (a
#     directory under a spool file's name, a sparse file over 128 MiB),
#     left for an operator;
#   - demoted in the middle of a replay (election on): the replayed events
#     are held past standby_window_ms (live ones are dropped; the replayed
#     ones are this node's only copies); active again, each record reaches
#     the topic once (they were dropped and their whole file replayed
#     again: the part already delivered came twice);
#   - stopped as a standby in the middle of a replay: the held replayed
#     events are spooled again, the replayed file removed; each record in
#     the spool once.
# The oracle is the numbers the test wrote (keys seq;N;s;0).
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log p; h_cleanup' EXIT

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_start_redis r
spool=$H_TMP/state/spool
mkdir -p "$spool"
conf=$H_TMP/p.conf
cat > "$conf" <<CONF
node = { name = "p"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$(h_free_port tcp)"; };
redis = { port = $r_PORT; };
kafka = { brokers = "$k_BOOTSTRAP"; properties = [ "linger.ms=5", "queue.buffering.max.messages=50" ]; };
CONF
topic_numbers() { seq_on_topic; }
topic_is() { diff <(topic_numbers | sort -n) "$1" > "$H_TMP/topic.diff"; }
ev() {
    printf 'seq;%d;s;0\t{"node":"p","epoch":1,"elected":false,"prefix":"seq","matched":"%d","source":"s","start_ts":0,"delta":1,"interval_start_ms":0,"flush_ms":200}\n' "$1" "$1"
}
m() { agg_metric p "$1"; }

f=$spool/0000000000001-000001.spool
seq 1 300 | while read -r n; do ev "$n"; done | spool_write "$f"
seq 1 300 > "$H_TMP/want"
h_kafka_down k
agg_start p "$conf"
h_wait_until 10 agg_healthy p || h_fail "daemon did not start"
h_wait_until 10 agg_metric_is p aggregatord_publish_replayed_total 300 || h_fail "replayed $(m aggregatord_publish_replayed_total) of 300"
h_wait_until 10 agg_metric_is p aggregatord_publish_queued 250 \
    || h_fail "the daemon's queue holds $(m aggregatord_publish_queued) replayed events, want 250 behind librdkafka's 50"
h_stop p 15 || h_fail "p did not exit"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
[ ! -e "$f" ] || h_fail "the replayed file was kept though each of its records was spooled again: $(ls "$spool")"
[ -z "$(ls "$spool"/*.bad 2>/dev/null)" ] || h_fail "a file kept as bad: $(ls "$spool")"
spool_keys "$spool"/*.spool | cut -d';' -f2 | sort -n > "$H_TMP/spooled"
diff "$H_TMP/spooled" "$H_TMP/want" > "$H_TMP/spool.diff" \
    || h_fail "the spool after the stop against 1-300: $(tr '\n' ' ' < "$H_TMP/spool.diff" | head -c 300)"
agg_log_has p "250 queued event\(s\) not produced at stop: spooling them" || h_fail "the 250 queued at the stop were not logged"
agg_log_has p "may already be on the topic" && h_fail "events never sent counted as possibly on the topic"
h_ok "SIGTERM mid-replay, the broker down: the 50 in librdkafka and the 250 queued spooled again, each of 1-300 in the spool once, the replayed file removed"

# older than the re-spooled files, two the daemon cannot replay: a
# directory under a spool file's name (read() fails) and a sparse file
# over the 128 MiB limit; each is left for an operator and must not hold
# back the newer files
unreadable=$spool/0000000000000-000001.spool big=$spool/0000000000000-000002.spool
mkdir "$unreadable"
truncate -s 200M "$big"
spool_files() { find "$spool" -maxdepth 1 -type f -name '*.spool' ! -name "$(basename "$big")"; }
h_kafka_up k
agg_start p "$conf"
h_wait_until 10 agg_healthy p || h_fail "p did not restart"
h_wait_until 30 topic_is "$H_TMP/want" || h_fail "after the restart: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 300)"
h_wait_until 10 eval '[ -z "$(spool_files)" ]' || h_fail "spool not emptied: $(ls "$spool")"
[ -d "$unreadable" ] && [ "$(stat -c %s "$big")" = $((200 << 20)) ] || h_fail "the unreadable files were touched: $(ls -l "$spool")"
agg_log_has p "cannot read spool file '$unreadable'; left for an operator" || h_fail "the unreadable file was not logged"
agg_log_has p "spool file '$big' is unreadable or too large; left for an operator" || h_fail "the file over 128 MiB was not logged"
[ "$(m aggregatord_publish_replayed_total)" = 300 ] || h_fail "replayed_total $(m aggregatord_publish_replayed_total), want 300"
h_stop p 10
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
topic_is "$H_TMP/want" || h_fail "after the stop: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 300)"
rmdir "$unreadable"; rm -f "$big"
h_ok "restarted with the broker up: each of 1-300 on the topic exactly once; an unreadable and an oversized older spool file left for an operator, not holding back the newer ones"

# --- demoted, then stopped, during a replay (election on, one node) ---
uport=$(h_free_port udp)
cat > "$H_TMP/e.conf" <<CONF
node = { name = "p"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$(h_free_port tcp)"; };
redis = { port = $r_PORT; };
election = { cluster = "ds"; interval_ms = 200; ttl_ms = 1500; standby_window_ms = 1000; };
kafka = { brokers = "$k_BOOTSTRAP"; properties = [ "linger.ms=5", "queue.buffering.max.messages=50" ]; };
totalizer = { flush_ms = 200; threads = 1; rules = (
  { prefix = "seq"; listen = "127.0.0.1:$uport"; match = "seq=(\\\\d+)"; matched = "\$1"; source = "s"; } ); };
CONF
WINDOW='aggregatord_publish_dropped_total{cause="standby_window"}'
# FROM TO: a spool file of FROM..TO replayed with the broker down: 50 in
# librdkafka, the rest in the daemon's queue; then forced standby
replay_then_demote() {
    rm -f "$spool"/*
    seq "$1" "$2" | while read -r n; do ev "$n"; done | spool_write "$spool/0000000000002-000001.spool"
    h_kafka_down k
    agg_start p "$H_TMP/e.conf"
    h_wait_until 10 agg_metric_is p aggregatord_election_role 1 || h_fail "p is not elected active"
    h_wait_until 10 agg_metric_is p aggregatord_publish_replayed_total 300 || h_fail "replayed $(m aggregatord_publish_replayed_total) of 300"
    h_wait_until 10 agg_metric_is p aggregatord_publish_queued 250 || h_fail "queued $(m aggregatord_publish_queued), want 250"
    h_signal p RTMIN+2
    h_wait_until 10 agg_metric_is p aggregatord_election_role 0 || h_fail "p is not standby"
    # live events held by the standby: dropped past the window, as they
    # should be (the active node has its own copies); the replayed ones
    # are this node's only copies: held
    seq 5001 5010 | sed 's/^/seq=/' | "$H_BIN/htool" udp-send 127.0.0.1 "$uport"
    h_wait_until 20 agg_metric_is p "$WINDOW" 10 || h_fail "dropped{standby_window} $(m "$WINDOW"), want the 10 live events"
    [ "$(m aggregatord_publish_queued)" = 250 ] || h_fail "the standby holds $(m aggregatord_publish_queued) of the 250 replayed events past its window"
}

seq 1001 1300 >> "$H_TMP/want"
replay_then_demote 1001 1300
h_kafka_up k
h_wait_until 20 agg_metric_is p aggregatord_publish_delivered_total 50 || h_fail "delivered $(m aggregatord_publish_delivered_total) of the 50 in librdkafka"
h_signal p RTMIN+1
h_wait_until 10 agg_metric_is p aggregatord_election_role 1 || h_fail "p is not forced active"
h_wait_until 30 topic_is "$H_TMP/want" || h_fail "after the demotion and back: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 400)"
h_wait_until 10 eval '[ -z "$(ls "$spool"/*.spool 2>/dev/null)" ]' || h_fail "spool not emptied: $(ls "$spool")"
h_stop p 10
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
topic_is "$H_TMP/want" || h_fail "after the stop: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 300)"
h_ok "demoted mid-replay: the 250 replayed events held past the window (the 10 live ones dropped); the 50 in librdkafka delivered; active again, each of 1001-1300 on the topic exactly once"

replay_then_demote 2001 2300
h_stop p 15 || h_fail "p did not exit"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
spool_keys "$spool"/*.spool | cut -d';' -f2 | sort -n > "$H_TMP/spooled"
diff "$H_TMP/spooled" <(seq 2001 2300) > "$H_TMP/spool.diff" \
    || h_fail "the spool after a standby's stop against 2001-2300: $(tr '\n' ' ' < "$H_TMP/spool.diff" | head -c 300)"
h_ok "stopped as a standby mid-replay, the broker down: each of 2001-2300 in the spool once (the 50 purged, the 250 held), the replayed file removed"
seq 2001 2300 >> "$H_TMP/want"
h_kafka_up k
agg_start p "$H_TMP/e.conf"
h_wait_until 30 topic_is "$H_TMP/want" || h_fail "after the restart: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 400)"
h_wait_until 10 eval '[ -z "$(ls "$spool"/*.spool 2>/dev/null)" ]' || h_fail "spool not emptied: $(ls "$spool")"
h_stop p 10
topic_is "$H_TMP/want" || h_fail "after the stop: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 300)"
h_ok "restarted: each of 1-300, 1001-1300 and 2001-2300 on the topic exactly once"
