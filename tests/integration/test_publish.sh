#!/usr/bin/env bash
# test_publish.sh — the Kafka side on one node (no election: the node is
# active): totalizer flushes arrive on <prefix>totals through the harness's
# broker, with node and epoch; the broker down for longer than
# message.timeout.ms, then up: every event arrives, from the spool; the
# spool survives a restart; a forced standby holds events and drops them
# after the window; SIGTERM flushes.  Checked on the topic's data: every
# event arrives (none lost, none foreign), an event that never went through
# the spool arrives exactly once, a spooled one at most twice (at least once:
# docs/election.md); the waits are for the data, not for exact counters (a
# spool retry during an outage spools an event again, so the spooled and
# delivered counts may overshoot).  The kafka section has no `enabled`
# key: present means enabled; `aggregatord -n` warns when a publishing job
# runs without one.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log p; h_cleanup' EXIT

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_start_redis r
uport=$(h_free_port udp)
hport=$(h_free_port tcp)
conf=$H_TMP/p.conf
cat > "$conf" <<CONF
node = { name = "p1"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$hport"; };
redis = { port = $r_PORT; };
kafka = { brokers = "$k_BOOTSTRAP"; properties = [ "message.timeout.ms=2000" ]; };
election = { enabled = false; standby_window_ms = 3000; };	# room for a stall between holding 131..140 and the promotion
totalizer = { flush_ms = 200; rules = (
  { prefix = "seq"; listen = "127.0.0.1:$uport"; match = "seq=(\\\\d+)"; matched = "\$1"; source = "s"; } ); };
CONF
send() { seq "$1" "$2" | sed 's/^/seq=/' | "$H_BIN/htool" udp-send 127.0.0.1 "$uport"; }
# the number of every message on the topic, from the start, duplicates kept
topic_nums() { seq_on_topic | sort -n; }
# has_all FROM TO: every number FROM..TO is on the topic (for h_wait_until)
has_all() {
    [ "$(topic_nums | sort -un | awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b' | wc -l)" = $(( $2 - $1 + 1 )) ]
}
# spool_has FROM TO: the spool files hold every number FROM..TO (the key is
# stored as it is: seq;N;s;TS)
spool_has() {
    [ "$(cat "$H_TMP"/state/spool/*.spool 2>/dev/null | grep -aoE 'seq;[0-9]+;' | cut -d';' -f2 |
        sort -un | awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b' | wc -l)" = $(( $2 - $1 + 1 )) ]
}
metric_ge() {	# NAME SERIES MIN: the series is at least MIN (for h_wait_until)
    local v; v=$(agg_metric "$1" "$2"); [ -n "$v" ] && [ "$v" -ge "$3" ]
}
# copies FROM TO MAX: every number FROM..TO is on the topic at least once and
# at most MAX times; prints how many extra copies there were
copies() {
    topic_nums | awk -v a="$1" -v b="$2" -v max="$3" '
        $1 >= a && $1 <= b { n[$1]++ }
        END {
            extra = 0
            for (i = a; i <= b; i++) {
                if (!(i in n)) { print "event " i " missing"; exit 1 }
                if (n[i] > max) { print "event " i " on the topic " n[i] " times (at most " max ")"; exit 1 }
                extra += n[i] - 1
            }
            print extra
        }'
}

# --- no kafka section, or enabled = false, with a job that publishes: -n warns ---
for k in "" "kafka = { enabled = false; brokers = \"$k_BOOTSTRAP\"; };"; do
    grep -v '^kafka' "$conf" > "$H_TMP/nok.conf"
    echo "$k" >> "$H_TMP/nok.conf"
    out=$("$AGGD" -n -c "$H_TMP/nok.conf" 2> "$H_TMP/nok.err") || h_fail "-n refused: $(cat "$H_TMP/nok.err")"
    [ "$out" = "configuration OK" ] || h_fail "-n said: $out"
    grep -q "nok.conf:[0-9]*: 'totalizer' publishes 'aggregatord.totals' events, but no kafka broker is configured" "$H_TMP/nok.err" \
        || h_fail "-n did not warn about dropped events (kafka: '${k:-none}'): $(cat "$H_TMP/nok.err")"
done
"$AGGD" -n -c "$conf" 2> "$H_TMP/ok.err" > /dev/null || h_fail "-n refused the test config"
grep -q "no kafka broker" "$H_TMP/ok.err" && h_fail "-n warned with a kafka section: $(cat "$H_TMP/ok.err")"
h_ok "-n warns when the totalizer runs without Kafka (no section, or enabled = false), not with a section"

agg_start p "$conf"
h_wait_until 10 agg_healthy p || h_fail "daemon did not start"

send 1 50
h_wait_until 15 has_all 1 50 || h_fail "expected events 1..50, the topic has: $(topic_nums | tr '\n' ' ')"
h_kafka_consume k aggregatord.totals 1 5 | grep -Eq '^seq;[0-9]+;s;[0-9]+	\{"node":"p1","epoch":0,"elected":false,"prefix":"seq","matched":"[0-9]+","source":"s","start_ts":[0-9]+,"delta":1,"interval_start_ms":[0-9]+,"flush_ms":200\}$' \
    || h_fail "event format: $(h_kafka_consume k aggregatord.totals 1 5)"
h_ok "totals events reach the topic with node, epoch, elected (false: no election) and the Redis key as message key"

# --- broker down past message.timeout.ms, then up ---
h_kafka_down k
send 51 100
h_wait_until 20 spool_has 51 100 || h_fail "events 51..100 not all in the spool files"
h_wait_until 10 metric_ge p aggregatord_publish_spooled_total 50 || h_fail "not spooled: $(agg_metric p aggregatord_publish_spooled_total)"
h_kafka_up k
h_wait_until 30 has_all 1 100 || h_fail "spool not replayed: delivered $(agg_metric p aggregatord_publish_delivered_total), the topic misses some of 1..100"
h_wait_until 10 sh -c "! ls $H_TMP/state/spool/*.spool >/dev/null 2>&1" || h_fail "spool file not removed after replay"
h_ok "broker down past message.timeout.ms: 50 events spooled, replayed, all 100 on the topic"

# --- the spool survives a restart ---
h_kafka_down k
send 101 120
h_wait_until 20 spool_has 101 120 || h_fail "events 101..120 not all in the spool files"
h_wait_until 10 metric_ge p aggregatord_publish_spooled_total 70 || h_fail "second outage not spooled: $(agg_metric p aggregatord_publish_spooled_total)"
h_stop p
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
ls "$H_TMP/state/spool/"*.spool > /dev/null || h_fail "spool gone at stop"
h_kafka_up k
agg_start p "$conf"
h_wait_until 30 metric_ge p aggregatord_publish_replayed_total 20 || h_fail "spool not replayed after restart"
h_wait_until 30 has_all 1 120 || h_fail "events missing after the restart: delivered $(agg_metric p aggregatord_publish_delivered_total)"
h_ok "spooled events survive a restart and are delivered after it"

# --- forced standby holds, then drops after the window; back to auto produces ---
h_signal p RTMIN+2
h_wait_until 5 agg_log_has p "role command 'standby'" || h_fail "standby not taken"
send 121 130
h_wait_until 10 agg_metric_is p 'aggregatord_publish_dropped_total{cause="standby_window"}' 10 \
    || h_fail "standby did not drop after the window: $(agg_metric p aggregatord_publish_queued) queued"
send 131 140
h_wait_until 5 agg_metric_is p aggregatord_publish_queued 10 || h_fail "standby does not hold events"
h_signal p RTMIN+3
h_wait_until 10 has_all 131 140 || h_fail "held events 131..140 not produced on promotion"
topic_nums > "$H_TMP/s4.txt"
grep -qx 135 "$H_TMP/s4.txt" || h_fail "held event 135 missing"
grep -qx 125 "$H_TMP/s4.txt" && h_fail "event 125 older than the window was produced"
h_ok "forced standby: holds events for standby_window_ms, drops older ones, produces the held ones on return"

# --- SIGTERM flushes ---
send 141 150
h_stop p
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
has_all 141 150 || h_fail "events lost at stop: the topic misses some of 141..150"
h_ok "SIGTERM flushes the producer"

# --- the whole topic: none lost, none foreign, duplicates only where the design allows ---
# Events 1..50 and 131..150 never went through the spool: exactly once.
# 51..120 were spooled (two outages, a restart): at least once, at most
# twice (a copy the broker took without acknowledging it in time, or a
# replay stopped between delivery and the file's removal).  121..130 were
# dropped by the standby window: never.
for r in "1 50 1" "131 150 1"; do
    # shellcheck disable=SC2086
    out=$(copies $r) || h_fail "never-spooled events ${r% *}: $out"
done
out=$(copies 51 120 2) || h_fail "spooled events 51..120: $out"
dup=$out
other=$(topic_nums | awk '$1 < 1 || ($1 > 120 && $1 < 131) || $1 > 150' | sort -un | tr '\n' ' ')
[ -z "$other" ] || h_fail "events that were dropped or never sent are on the topic: $other"
h_ok "the topic holds every event sent: 1..50 and 131..150 once, 51..120 at most twice ($dup extra copies), none of the dropped 121..130"
