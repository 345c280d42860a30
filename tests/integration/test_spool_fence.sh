#!/usr/bin/env bash
# test_spool_fence.sh — events replayed from the spool are never fenced by
# the consumer's rule (docs/election.md).  Two daemons in one group; a
# elected (epoch E) with the broker down past message.timeout.ms: its
# numbered events go to its spool.  a is forced standby, b is elected
# (E+1) and produces its own numbers; the broker comes back; a returns to
# auto, is elected again and replays its spool.  A consumer written from
# the rule must keep every number of both: the replayed events, stamped
# with the old epoch, are marked "elected":false.  Then a spool file of a
# release that stored the values as they were produced (elected:true, or
# no mark at all) is replayed: its events are kept too.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log a; agg_dump_log b; }; h_cleanup' EXIT

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_start_redis r
declare -A UPORT HPORT
conf_for() {	# NAME
    cat > "$H_TMP/$1.conf" <<CONF
node = { name = "$1"; state_dir = "$H_TMP/state-$1"; };
http = { listen = "127.0.0.1:${HPORT[$1]}"; };
redis = { port = $r_PORT; timeout_ms = 300; };
kafka = { brokers = "$k_BOOTSTRAP"; properties = [ "linger.ms=5", "message.timeout.ms=2000" ]; };
election = { cluster = "spool"; cluster_id = 3; interval_ms = 300; ttl_ms = 900;
             standby_window_ms = 3000; on_redis_down = "active"; };
totalizer = { flush_ms = 200; threads = 1; rules = (
  { prefix = "seq"; listen = "127.0.0.1:${UPORT[$1]}"; match = "seq=(\\\\d+)"; matched = "\$1"; source = "s"; } ); };
CONF
}
for n in a b; do
    UPORT[$n]=$(h_free_port udp)
    HPORT[$n]=$(h_free_port tcp)
    conf_for $n
done
role() { agg_metric "$1" aggregatord_election_role 2>/dev/null || echo x; }
both() { [ "$(role a)$(role b)" = "$1" ]; }
epoch() { agg_metric "$1" aggregatord_election_epoch; }
send() {	# NODE FROM TO
    seq "$2" "$3" | sed 's/^/seq=/' | "$H_BIN/htool" udp-send 127.0.0.1 "${UPORT[$1]}"
}
metric_ge() { [ "$(agg_metric "$1" "$2")" -ge "$3" ] 2>/dev/null; }
# consumer_kept, kept_all, missing: the documented consumer (common.sh).
topic_has_all() {	# FROM TO: every number FROM..TO is on the topic (kept or not)
    [ "$(kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q -f '%k\n' 2>/dev/null |
        cut -d';' -f2 | sort -un | awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b' | wc -l)" = $(( $2 - $1 + 1 )) ]
}
vals() {	# FROM TO: the values of numbers FROM..TO on the topic
    kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q -f '%k\t%s\n' 2>/dev/null |
        awk -F'\t' -v a="$1" -v b="$2" '{ split($1, f, ";") } f[2] >= a && f[2] <= b { print $2 }'
}

agg_start a "$H_TMP/a.conf"
h_wait_until 10 sh -c "[ \"\$(curl -s ${a_URL}/metrics | awk '\$1 == \"aggregatord_election_role\" { print \$2 }')\" = 1 ]" \
    || h_fail "a did not become active alone"
agg_start b "$H_TMP/b.conf"
h_wait_until 10 both 10 || h_fail "a=$(role a) b=$(role b), want a active, b standby"
send a 1 50
h_wait_until 20 kept_all 1 50 || h_fail "a's first events: missing $(missing 1 50)"
E=$(epoch a)
h_ok "a elected at epoch $E, b standby; a's first 50 events on the topic"

# --- the broker down past message.timeout.ms: a's events go to its spool ---
h_kafka_down k
send a 101 200
h_wait_until 20 metric_ge a aggregatord_publish_spooled_total 100 \
    || h_fail "a did not spool its events: spooled $(agg_metric a aggregatord_publish_spooled_total)"
h_ok "broker down: a spooled its 100 events (epoch $E)"

# --- a forced standby: b elected at a higher epoch, produces once the broker is back ---
h_signal a RTMIN+2
h_wait_until 10 both 01 || h_fail "SIGRTMIN+2 to a: a=$(role a) b=$(role b), want standby/active"
Eb=$(epoch b)
[ "$Eb" -gt "$E" ] || h_fail "b elected without a new epoch: $Eb (a had $E)"
h_kafka_up k
send b 1001 1050
h_wait_until 30 kept_all 1001 1050 || h_fail "b's events: missing $(missing 1001 1050)"
[ "$(vals 1001 1050 | grep -vc "^{\"node\":\"b\",\"epoch\":$Eb,\"elected\":true,")" = 0 ] \
    || h_fail "b's events are not elected at epoch $Eb: $(vals 1001 1050 | head -2)"
[ "$(agg_metric a aggregatord_publish_replayed_total)" = 0 ] || h_fail "standby a replayed its spool"
h_ok "b elected at epoch $Eb and its 50 events on the topic; a, standby, holds its spool"

# --- a back to auto: elected again, replays its spool; the consumer keeps it all ---
h_signal a RTMIN+3
h_wait_until 10 both 10 || h_fail "SIGRTMIN+3 to a: a=$(role a) b=$(role b), want active/standby"
h_wait_until 30 metric_ge a aggregatord_publish_replayed_total 100 \
    || h_fail "a did not replay its spool: replayed $(agg_metric a aggregatord_publish_replayed_total)"
h_wait_until 30 topic_has_all 101 200 || h_fail "a's replayed events did not reach the topic"
h_wait_until 10 kept_all 101 200 \
    || h_fail "the consumer of docs/election.md dropped replayed events (epoch $E < $Eb): missing $(missing 101 200)"
kept_all 1 50 && kept_all 1001 1050 || h_fail "the consumer lost earlier events"
[ "$(vals 101 200 | grep -vc "^{\"node\":\"a\",\"epoch\":$E,\"elected\":false,")" = 0 ] \
    || h_fail "replayed events are not marked elected:false with their epoch $E: $(vals 101 200 | grep -v '"elected":false' | head -2)"
h_wait_until 10 sh -c "! ls $H_TMP/state-a/spool/*.spool >/dev/null 2>&1" || h_fail "a's spool file not removed after the replay"
h_ok "a elected again at epoch $(epoch a): its 100 spooled events replayed with epoch $E, marked elected:false, all kept by the consumer"

# --- a spool file of an older release: values as produced, elected or unmarked ---
old=$H_TMP/old.spool
{
    for n in 3001 3002 3003; do
        printf 'seq;%d;s;0\t{"node":"a","epoch":%d,"elected":true,"prefix":"seq","matched":"%d","source":"s","start_ts":0,"delta":1,"interval_start_ms":0,"flush_ms":200}\n' "$n" "$E" "$n"
    done
    for n in 3004 3005 3006; do
        printf 'seq;%d;s;0\t{"node":"a","epoch":%d,"prefix":"seq","matched":"%d","source":"s","start_ts":0,"delta":1,"interval_start_ms":0,"flush_ms":200}\n' "$n" "$E" "$n"
    done
} | spool_write "$old"
r0=$(agg_metric a aggregatord_publish_replayed_total)
mv "$old" "$H_TMP/state-a/spool/0000000000001-000001.spool"
h_wait_until 30 metric_ge a aggregatord_publish_replayed_total $((r0 + 6)) \
    || h_fail "the older release's spool file was not replayed"
h_wait_until 30 topic_has_all 3001 3006 || h_fail "the older release's spooled events did not reach the topic"
h_wait_until 10 kept_all 3001 3006 \
    || h_fail "the consumer dropped events of an older release's spool file: missing $(missing 3001 3006)"
[ "$(vals 3001 3006 | grep -vc "^{\"node\":\"a\",\"epoch\":$E,\"elected\":false,\"prefix\":\"seq\",")" = 0 ] \
    || h_fail "an older release's records were not marked elected:false: $(vals 3001 3006 | head -3)"
h_ok "an older release's spool file (elected:true, and no mark at all) replayed marked elected:false, all kept"
h_stop a; h_stop b
