#!/usr/bin/env bash
# test_publish_standby_stop.sh — what a standby holds when it is stopped
# (docs/election.md, "Stopping a standby"): two nodes of one group fed the
# same numbered lines, a elected active, b standby holding its copies of
# the events for its window.  b is stopped: its held events are dropped and
# counted (logged "standby: N held event(s) dropped at stop",
# aggregatord_publish_dropped_total{cause="standby_stop"}), not spooled — a
# spool would produce them again the next time b is active, and a's copies
# are on the topic already.  The oracle: the numbers sent; the topic has
# each exactly once, from a, and b's spool directory is empty.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log a; agg_dump_log b; }; h_cleanup' EXIT

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_start_redis r
conf() { # NODE HTTP_PORT UDP_PORT
    mkdir -p "$H_TMP/$1"
    cat > "$H_TMP/$1.conf" <<CONF
node = { name = "$1"; state_dir = "$H_TMP/$1"; };
http = { listen = "127.0.0.1:$2"; };
redis = { port = $r_PORT; };
election = { cluster = "sb"; interval_ms = 200; ttl_ms = 1500; standby_window_ms = 60000; };
kafka = { brokers = "$k_BOOTSTRAP"; properties = [ "linger.ms=5" ]; };
totalizer = { flush_ms = 200; threads = 1; rules = (
  { prefix = "seq"; listen = "127.0.0.1:$3"; match = "seq=(\\\\d+)"; matched = "\$1"; source = "s"; } ); };
CONF
}
ua=$(h_free_port udp)
ub=$(h_free_port udp)
conf a "$(h_free_port tcp)" "$ua"
conf b "$(h_free_port tcp)" "$ub"
# (both count into one Redis, so its sums are doubled: the events are what
# is compared here)
agg_start a "$H_TMP/a.conf"
h_wait_until 10 agg_healthy a || h_fail "a did not start"
h_wait_until 10 agg_metric_is a aggregatord_election_role 1 || h_fail "a is not elected active"
agg_start b "$H_TMP/b.conf"
h_wait_until 10 agg_healthy b || h_fail "b did not start"
h_wait_until 10 agg_metric_is b aggregatord_election_peers 1 || h_fail "b does not see a"
[ "$(agg_metric b aggregatord_election_role)" = 0 ] || h_fail "b is not standby"
h_ok "a active, b standby in one group"

N=300
send() { seq 1 $N | sed 's/^/seq=/' | "$H_BIN/htool" udp-send -n 50 127.0.0.1 "$1"; }
send "$ua"
send "$ub"
numbers() { # NODE: the numbers of that node's totals events on the topic, one an event
    kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q -f '%k\t%s\n' 2>/dev/null |
        grep -F "\"node\":\"$1\"" | cut -f1 | awk -F';' '{ print $2 }'
}
h_wait_until 20 eval '[ "$(numbers a | sort -un | wc -l)" = $N ]' || h_fail "a produced $(numbers a | sort -un | wc -l) of $N"
h_wait_until 10 agg_metric_is b aggregatord_publish_queued $N || h_fail "b holds $(agg_metric b aggregatord_publish_queued) of $N"
h_ok "a produced its $N events; b holds its $N copies"

h_stop b 15 || h_fail "b did not exit"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "b exit status $H_EXIT_STATUS"
agg_log_has b "publish: standby: $N held event\(s\) dropped at stop" || h_fail "b did not log dropping its $N held events"
[ -z "$(ls "$H_TMP/b/spool" 2>/dev/null)" ] || h_fail "b spooled something: $(ls "$H_TMP/b/spool")"
[ -z "$(numbers b)" ] || h_fail "b produced $(numbers b | wc -l) events as standby"
h_stop a 15 || h_fail "a did not exit"
[ "$(numbers a | wc -l)" = $N ] && [ "$(numbers a | sort -un | wc -l)" = $N ] \
    || h_fail "the topic has $(numbers a | wc -l) events of a, $(numbers a | sort -un | wc -l) distinct, $N sent"
h_ok "b stopped as standby: its $N held events dropped and counted, nothing spooled; the topic has each of the $N numbers once, from a"
