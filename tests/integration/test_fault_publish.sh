#!/usr/bin/env bash
# test_fault_publish.sh — the producer's fault paths (docs/election.md):
#   - back-pressure: librdkafka's queue full (queue.buffering.max.messages
#     = 50, the broker frozen); the events wait in the daemon's queue; the
#     broker thawed, each reaches the topic exactly once, none dropped;
#   - a stop with undelivered events (the broker down): librdkafka's queue
#     is purged into the spool; the spool holds exactly those events, the
#     restart delivers each once (never sent: no duplicate allowed);
#   - demotion mid-produce: two nodes of a group fed the same lines, the
#     broker frozen while the active one produces, then it is forced
#     standby: what it handed to librdkafka is delivered, it produces no
#     more than PRODUCE_CHECK (64) events after its demotion, and the
#     documented consumer keeps every number (the new active node produces
#     its held copies).
# The oracle is the numbers sent (key seq;N;s;...), counted on the topic.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { for n in p a b; do [ -f "$H_TMP/$n.log" ] && agg_dump_log $n; done; }; h_cleanup' EXIT

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_start_redis r
declare -A UPORT
conf() {	# NAME ELECTION
    UPORT[$1]=$(h_free_port udp)
    mkdir -p "$H_TMP/$1"
    cat > "$H_TMP/$1.conf" <<CONF
node = { name = "$1"; state_dir = "$H_TMP/$1"; };
http = { listen = "127.0.0.1:$(h_free_port tcp)"; };
redis = { port = $r_PORT; };
$2
kafka = { brokers = "$k_BOOTSTRAP"; properties = [ "linger.ms=5", "queue.buffering.max.messages=50" ]; };
totalizer = { flush_ms = 200; threads = 1; rules = (
  { prefix = "seq"; listen = "127.0.0.1:${UPORT[$1]}"; match = "seq=(\\\\d+)"; matched = "\$1"; source = "s"; } ); };
CONF
}
send() { seq "$2" "$3" | sed 's/^/seq=/' | "$H_BIN/htool" udp-send -n 50 127.0.0.1 "${UPORT[$1]}"; }
# NODE FROM TO: the numbers FROM..TO on the topic from NODE, one an event
numbers() {
    kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q -f '%k\t%s\n' 2>/dev/null |
        grep -F "\"node\":\"$1\"" | cut -f1 | awk -F';' -v a="$2" -v b="$3" '$2 >= a && $2 <= b { print $2 }'
}
once_each() {	# NODE FROM TO: each number once, nothing else
    diff <(numbers "$1" "$2" "$3" | sort -n) <(seq "$2" "$3") > "$H_TMP/once.diff"
}
m() { agg_metric "$1" "$2"; }
queued_some() { [ "$(m "$1" aggregatord_publish_queued)" -gt 0 ] 2>/dev/null; }

# --- back-pressure: librdkafka's queue full ---
conf p "election = { enabled = false; };"
agg_start p "$H_TMP/p.conf"
h_wait_until 10 agg_healthy p || h_fail "p did not start"
send p 1 20
h_wait_until 20 once_each p 1 20 || h_fail "broker answering: $(tr '\n' ' ' < "$H_TMP/once.diff")"
h_kafka_freeze k
send p 21 500
h_wait_until 10 queued_some p || h_fail "nothing waits in the daemon's queue behind librdkafka's 50"
q=$(m p aggregatord_publish_queued)
h_kafka_thaw k
h_wait_until 30 once_each p 1 500 || h_fail "after the thaw: $(tr '\n' ' ' < "$H_TMP/once.diff" | head -c 300)"
[ "$(m p 'aggregatord_publish_dropped_total{cause="queue_full"}')" = 0 ] || h_fail "events dropped as queue_full"
[ "$(m p aggregatord_publish_spooled_total)" = 0 ] || h_fail "events spooled"
h_ok "librdkafka's queue full (broker frozen): $q events waited in the daemon's queue; thawed, each of the 500 on the topic once, none dropped"

# --- stop with undelivered events: purged into the spool, replayed after the restart ---
h_kafka_down k
send p 501 600
h_wait_until 10 eval '[ "$(m p '"'"'aggregatord_publish_events_total{topic="totals"}'"'"')" = 600 ]' \
    || h_fail "$(m p 'aggregatord_publish_events_total{topic="totals"}') of 600 events handed to the publish path"
h_stop p 15 || h_fail "p did not exit"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
[ "$(spool_keys "$H_TMP/p/spool"/*.spool | cut -d';' -f2 | sort -n | tr '\n' ' ')" = "$(seq 501 600 | tr '\n' ' ')" ] \
    || h_fail "the spool after the stop holds: $(spool_keys "$H_TMP/p/spool"/*.spool | cut -d';' -f2 | sort -n | tr '\n' ' ' | head -c 300)"
agg_log_has p "[0-9]+ event\(s\) not delivered within 2500 ms: spooling them" || h_fail "the purge was not logged"
h_ok "SIGTERM with the broker down: the 100 undelivered events (in librdkafka's queue, and behind it) spooled, exactly 501-600"
h_kafka_up k
agg_start p "$H_TMP/p.conf"
h_wait_until 10 agg_healthy p || h_fail "p did not restart"
h_wait_until 30 once_each p 1 600 || h_fail "after the restart: $(tr '\n' ' ' < "$H_TMP/once.diff" | head -c 300)"
h_wait_until 10 eval '[ -z "$(ls "$H_TMP/p/spool"/*.spool 2>/dev/null)" ]' || h_fail "spool not emptied"
h_stop p 15
agg_log_has p "may already be on the topic" && h_fail "events never sent counted as possibly on the topic"
once_each p 1 600 || h_fail "after the stop: $(tr '\n' ' ' < "$H_TMP/once.diff" | head -c 300)"
h_ok "restarted with the broker up: 501-600 replayed, each of the 600 on the topic exactly once"

# --- demotion mid-produce ---
for n in a b; do
    conf $n "election = { cluster = \"dm\"; interval_ms = 200; ttl_ms = 1500; standby_window_ms = 60000; };"
done
agg_start a "$H_TMP/a.conf"
h_wait_until 10 agg_metric_is a aggregatord_election_role 1 || h_fail "a is not elected active"
agg_start b "$H_TMP/b.conf"
h_wait_until 10 agg_metric_is b aggregatord_election_peers 1 || h_fail "b does not see a"
h_kafka_freeze k
send a 2001 2400
send b 2001 2400
h_wait_until 10 queued_some a || h_fail "a's queue does not fill behind the frozen broker"
h_wait_until 10 agg_metric_is b aggregatord_publish_queued 400 || h_fail "b holds $(m b aggregatord_publish_queued) of 400"
h_signal a RTMIN+2
h_wait_until 10 agg_metric_is b aggregatord_election_role 1 || h_fail "b did not take over"
P=$(m a aggregatord_publish_produced_total)
h_kafka_thaw k
h_wait_until 30 kept_all 2001 2400 || h_fail "the consumer misses: $(missing 2001 2400)"
h_wait_until 20 eval '[ "$(m a aggregatord_publish_delivered_total)" = "$(m a aggregatord_publish_produced_total)" ]' \
    || h_fail "a's events in flight: produced $(m a aggregatord_publish_produced_total), delivered $(m a aggregatord_publish_delivered_total)"
Pa=$(m a aggregatord_publish_produced_total)
[ "$Pa" -le $((P + 64)) ] || h_fail "a produced $((Pa - P)) events after its demotion (bound 64)"
na=$(numbers a 2001 2400 | wc -l)
[ "$na" = "$Pa" ] || h_fail "a produced $Pa events, $na of them on the topic"
[ "$(numbers a 2001 2400 | sort -u | wc -l)" = "$na" ] || h_fail "a's events duplicated on the topic"
[ "$(m a aggregatord_publish_queued)" = $((400 - Pa)) ] || h_fail "a holds $(m a aggregatord_publish_queued), produced $Pa of 400"
once_each b 2001 2400 || h_fail "b's copies: $(tr '\n' ' ' < "$H_TMP/once.diff" | head -c 300)"
h_ok "demoted mid-produce (broker frozen): a's $Pa events in flight delivered once each, $((Pa - P)) produced after the demotion (bound 64), the other $((400 - Pa)) held; b produced its 400 copies; the consumer keeps every number"
h_stop a 15; h_stop b 15
