#!/usr/bin/env bash
# test_election.sh — two daemons in one election group, fed the same stream
# of numbered events (totalizer lines mirrored to both, each flush a `totals`
# event per number): exactly one produces at a time; kill -9 of the active
# one: the other takes over within ttl + interval and every number reaches
# the topic at least once, duplicates only within the window; the same with
# a clean SIGTERM (well under a second); the signal table row by row; both
# nodes active, the standby forced active (SIGRTMIN+1), each with a numbered
# feed of its own: a consumer applying docs/election.md's rule keeps every
# number; Redis stopped: both follow on_redis_down.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log a; agg_dump_log b; }; h_cleanup' EXIT

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_start_redis r
INTERVAL=300 TTL=900 WINDOW=3000 RATE=400	# ms, ms, ms, lines/s
declare -A UPORT HPORT
conf_for() {	# NAME
    cat > "$H_TMP/$1.conf" <<CONF
node = { name = "$1"; state_dir = "$H_TMP/state-$1"; };
http = { listen = "127.0.0.1:${HPORT[$1]}"; };
redis = { port = $r_PORT; timeout_ms = 300; };
kafka = { enabled = true; brokers = "$k_BOOTSTRAP"; properties = [ "linger.ms=5" ]; };
election = { cluster = "radius"; cluster_id = 7; interval_ms = $INTERVAL; ttl_ms = $TTL;
             standby_window_ms = $WINDOW; on_redis_down = "active"; };
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
is_active() { [ "$(role "$1")" = 1 ]; }
is_standby() { [ "$(role "$1")" = 0 ]; }
now_ms() { date +%s%3N; }
# numbers sent to both nodes, RATE a second, in the background
feed() {	# FROM TO
    seq "$1" "$2" | sed 's/^/seq=/' > "$H_TMP/feed.txt"
    local gap=$(( 1000000 / RATE ))
    "$H_BIN/htool" udp-send -i "$gap" 127.0.0.1 "${UPORT[a]}" < "$H_TMP/feed.txt" &
    FEED_A=$!
    "$H_BIN/htool" udp-send -i "$gap" 127.0.0.1 "${UPORT[b]}" < "$H_TMP/feed.txt" &
    FEED_B=$!
}
feed_wait() { wait "$FEED_A" || true; wait "$FEED_B" || true; }
# its own numbers to each node (the senders of each node), in the background
feed_split() {	# FROM_A TO_A FROM_B TO_B
    local gap=$(( 1000000 / RATE ))
    seq "$1" "$2" | sed 's/^/seq=/' | "$H_BIN/htool" udp-send -i "$gap" 127.0.0.1 "${UPORT[a]}" &
    FEED_A=$!
    seq "$3" "$4" | sed 's/^/seq=/' | "$H_BIN/htool" udp-send -i "$gap" 127.0.0.1 "${UPORT[b]}" &
    FEED_B=$!
}
# consumer_kept, kept_all, missing: the documented consumer (common.sh).
topic_keys() { kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q -f '%k\n' 2>/dev/null | cut -d';' -f2; }
all_seen() {	# TO: every number 1..TO on the topic
    [ "$(topic_keys | sort -un | awk -v n="$1" '$1 >= 1 && $1 <= n' | wc -l)" = "$1" ]
}

agg_start a "$H_TMP/a.conf"
h_wait_until 10 is_active a || h_fail "a did not become active alone"
agg_start b "$H_TMP/b.conf"
h_wait_until 10 is_standby b || h_fail "b did not become standby"
sleep_rounds() { local until=$(( $(now_ms) + $1 )); h_wait_until 10 sh -c "[ \$(date +%s%3N) -ge $until ]"; }
sleep_rounds $((3 * INTERVAL))
is_active a && is_standby b || h_fail "after 3 rounds: a=$(role a) b=$(role b)"
agg_get b /v1/status | grep -q '"state":"standby"' || h_fail "b status lacks its role"
h_ok "two nodes, one group: a active, b standby"

# --- kill -9 of the active node ---
feed 1 2400
h_wait_until 20 sh -c "[ \$(curl -s ${a_URL}/metrics | awk '\$1 == \"aggregatord_publish_delivered_total\" { print \$2 }') -ge 300 ]" \
    || h_fail "a is not producing"
[ "$(agg_metric b aggregatord_publish_produced_total)" = 0 ] || h_fail "the standby produced"
[ "$(agg_metric b aggregatord_publish_queued)" -gt 0 ] || h_fail "the standby holds nothing"
h_kill a
t0=$(now_ms)
h_wait_until 10 is_active b || h_fail "b did not take over"
t1=$(now_ms)
took=$((t1 - t0))
# ttl + interval at most, and 700 ms for the polls (a curl each) on a
# loaded machine: below the 2 x ttl of a lease that ran out twice
[ $took -le $((TTL + INTERVAL + 700)) ] || h_fail "takeover after kill -9 took $took ms (ttl+interval = $((TTL + INTERVAL)))"
feed_wait
h_wait_until 30 all_seen 2400 || h_fail "numbers missing after the failover: $(topic_keys | sort -un | awk 'BEGIN { e = 1 } { while (e < $1) { printf "%d ", e; e++ } e = $1 + 1 }' | head -c 300)"
topic_keys | sort -n | uniq -d > "$H_TMP/dups.txt"
if [ -s "$H_TMP/dups.txt" ]; then
    span=$(( $(tail -1 "$H_TMP/dups.txt") - $(head -1 "$H_TMP/dups.txt") ))
    [ $span -le $(( RATE * (WINDOW + 1000) / 1000 )) ] || h_fail "duplicates span $span numbers, more than the window"
fi
epoch_b=$(agg_metric b aggregatord_election_epoch)
h_ok "kill -9 of the active: b active in $took ms; all 2400 numbers on the topic, $(wc -l < "$H_TMP/dups.txt") duplicate(s) within the window; epoch now $epoch_b"

# --- clean SIGTERM of the active node ---
agg_start a "$H_TMP/a.conf"
h_wait_until 10 is_standby a || h_fail "restarted a is not standby"
sleep_rounds $((2 * INTERVAL))
feed 2401 3600
h_wait_until 20 sh -c "[ \$(curl -s ${a_URL}/metrics | awk '\$1 == \"aggregatord_publish_queued\" { print \$2 }') -gt 100 ]" \
    || h_fail "a does not hold events"
t0=$(now_ms)
h_stop b
t_stop=$(now_ms)
h_wait_until 10 is_active a || h_fail "a did not take over after SIGTERM"
t1=$(now_ms)
[ "$H_EXIT_STATUS" = 0 ] || h_fail "b exit status $H_EXIT_STATUS"
took=$((t1 - t_stop))
[ $took -le 1000 ] || h_fail "takeover after a clean stop took $took ms"
feed_wait
h_wait_until 30 all_seen 3600 || h_fail "numbers missing after the clean failover"
[ "$(agg_metric a aggregatord_election_epoch)" -gt "$epoch_b" ] || h_fail "epoch did not grow"
kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o -5 -e -q -f '%s\n' 2>/dev/null | grep -q "\"node\":\"a\",\"epoch\":$(agg_metric a aggregatord_election_epoch)," \
    || h_fail "new leader's events do not carry its epoch"
h_ok "clean SIGTERM: a active $took ms after b exited (stop took $((t_stop - t0)) ms); all numbers; higher epoch stamped"

# --- the signal table, row by row (a active by timestamp, b standby) ---
agg_start b "$H_TMP/b.conf"
h_wait_until 10 is_standby b || h_fail "b back: not standby"
sleep_rounds $((2 * INTERVAL))
both() { [ "$(role a)$(role b)" = "$1" ]; }
h_signal a RTMIN+2; h_wait_until 5 both 01 || h_fail "SIGRTMIN+2 to a: a=$(role a) b=$(role b), want standby/active"
h_ok "SIGRTMIN+2 (36) to a: a forced standby, b takes over"
h_signal a RTMIN+3; h_wait_until 5 both 10 || h_fail "SIGRTMIN+3 to a: a=$(role a) b=$(role b)"
h_ok "SIGRTMIN+3 (37) to a: back to automatic, the older timestamp wins again"
h_signal a RTMIN+0; h_wait_until 5 both 01 || h_fail "SIGRTMIN+0 to a: a=$(role a) b=$(role b)"
agg_log_has a "yield" || h_fail "yield not logged"
h_ok "SIGRTMIN+0 (34) to a: fresh timestamp, a to the back of the line, b active"
h_signal a RTMIN+1; h_wait_until 5 both 11 || h_fail "SIGRTMIN+1 to a: a=$(role a) b=$(role b)"
h_ok "SIGRTMIN+1 (35) to a: a forced active, b stays active (as the table says)"
"$AGGCTL" -s "$a_URL" role auto > /dev/null
h_wait_until 5 both 01 || h_fail "role auto: a=$(role a) b=$(role b)"
h_ok "aggregatorctl role auto: a standby again behind b"

# --- both active by an override: the documented consumer keeps every event ---
epoch0=$(agg_metric b aggregatord_election_epoch)
h_signal a RTMIN+1; h_wait_until 5 both 11 || h_fail "SIGRTMIN+1 to a: a=$(role a) b=$(role b)"
feed_split 10001 11000 20001 21000
feed_wait
h_wait_until 30 kept_all 10001 11000 || h_fail "the consumer dropped numbers of forced a: $(missing 10001 11000)"
h_wait_until 30 kept_all 20001 21000 || h_fail "the consumer dropped numbers of elected b: $(missing 20001 21000)"
vals() { kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q -f '%k\t%s\n' 2>/dev/null |
    awk -F'\t' -v a="$1" -v b="$2" '{ split($1, f, ";") } f[2] >= a && f[2] <= b { print $2 }'; }
[ "$(vals 10001 11000 | grep -vc '^{"node":"a","epoch":[0-9]*,"elected":false,')" = 0 ] \
    || h_fail "forced a's events are not marked elected:false: $(vals 10001 11000 | head -2)"
[ "$(vals 20001 21000 | grep -vc "^{\"node\":\"b\",\"epoch\":$epoch0,\"elected\":true,")" = 0 ] \
    || h_fail "elected b's events are not marked elected:true with epoch $epoch0: $(vals 20001 21000 | head -2)"
[ "$(agg_metric b aggregatord_election_epoch)" = "$epoch0" ] || h_fail "the override changed the epoch"
"$AGGCTL" -s "$a_URL" role auto > /dev/null
h_wait_until 5 both 01 || h_fail "role auto: a=$(role a) b=$(role b)"
h_ok "a forced active beside elected b: the consumer of docs/election.md keeps all 2000 numbers (a elected:false, b elected:true at epoch $epoch0)"

# --- Redis stopped: both follow on_redis_down = active ---
h_stop r
h_wait_until 10 both 11 || h_fail "Redis down: a=$(role a) b=$(role b), want both active"
agg_healthy a && agg_healthy b || h_fail "a node stopped answering HTTP with Redis down"
h_restart_redis r
h_wait_until 10 sh -c "[ \"\$(curl -s ${a_URL}/metrics | awk '\$1 == \"aggregatord_election_role\" { print \$2 }')\$(curl -s ${b_URL}/metrics | awk '\$1 == \"aggregatord_election_role\" { print \$2 }')\" = 01 ] || [ \"\$(curl -s ${a_URL}/metrics | awk '\$1 == \"aggregatord_election_role\" { print \$2 }')\$(curl -s ${b_URL}/metrics | awk '\$1 == \"aggregatord_election_role\" { print \$2 }')\" = 10 ]" \
    || h_fail "Redis back: a=$(role a) b=$(role b), want exactly one active"
h_ok "Redis stopped: both active (on_redis_down=active); back: exactly one active"
h_stop a; h_stop b
