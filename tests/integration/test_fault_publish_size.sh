#!/usr/bin/env bash
# test_fault_publish_size.sh — an event librdkafka refuses for good
# (docs/election.md, the publish path): a radacct row whose event is over
# the producer's message.max.bytes (1000 here).  rd_kafka_producev fails it
# with "message size too large", not a full queue: the event is dropped,
# logged and counted (_dropped_total{cause="produce_error"}), never retried
# (it would fail the same way) and never spooled; the sweep still moves the
# row to master, and the events of the other rows, before and after it in
# the same sweep, reach the topic once each.
# And a spool record over the limit (spooled before it was lowered): it is
# refused at its replay, counted, and its file kept as NAME.bad once the
# other records are delivered (it was kept as it was and replayed every
# 250 ms, each time a duplicate of the other records).
# The oracle: the rows and records the test wrote (master's rows; the
# topic's keys).
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { cat "$H_TMP"/once.log >&2 2>/dev/null || true; }; h_cleanup' EXIT

sweep_find_schema
h_start_mariadb m1 ms
load_schema m1 ms
h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
sweep_conf "$H_TMP/sw.conf" \
    "kafka = { brokers = \"$k_BOOTSTRAP\"; properties = [ \"linger.ms=5\", \"message.max.bytes=1000\" ]; };" m1
sw_rows m1 1 10
# row m1-11: its event (every column filled to its width) is over 1000 bytes
x() { printf "%${1}s" '' | tr ' ' "$2"; }
Q m1 "INSERT INTO radacct (acctsessionid,acctuniqueid,username,realm,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause,connectinfo_start,connectinfo_stop,calledstationid,callingstationid,class)
      VALUES ('$(x 64 s)','m1-11','$(x 64 u)','$(x 64 r)','10.0.0.1','1',NOW() - INTERVAL 20 MINUTE,NOW() - INTERVAL 15 MINUTE,NOW() - INTERVAL 10 MINUTE,600,11,77,'User-Request','$(x 128 c)','$(x 128 d)','$(x 50 e)','$(x 50 f)','$(x 64 g)')"
sw_rows m1 12 20
"$AGGD" -c "$H_TMP/sw.conf" --once sweep > "$H_TMP/once.log" 2>&1 || h_fail "--once sweep failed"
[ "$(sw_master_of m1)" = "$(sw_expect 20)" ] || h_fail "master holds $(sw_master_of m1), want $(sw_expect 20)"
[ "$(sw_count m1)" = 0 ] || h_fail "m1 still holds $(sw_count m1) rows"
h_ok "the sweep moved all 20 rows to master, the one with an oversized event too"
keys() { kcat -b "$k_BOOTSTRAP" -C -t aggregatord.radacct -o beginning -e -q -f '%k\n' 2>/dev/null | sort -t- -k2 -n; }
{ seq 1 10; seq 12 20; } | sed 's/^/m1-/' > "$H_TMP/want"
keys | diff - "$H_TMP/want" > "$H_TMP/topic.diff" || h_fail "the topic's radacct keys against m1-1..20 but 11: $(tr '\n' ' ' < "$H_TMP/topic.diff")"
grep -Eq "cannot produce to 'aggregatord.radacct': .*(too large|size)" "$H_TMP/once.log" || h_fail "the refused event was not logged"
[ "$(grep -c 'cannot produce' "$H_TMP/once.log")" = 1 ] || h_fail "more than one event refused: $(grep 'cannot produce' "$H_TMP/once.log")"
[ -z "$(ls "$H_TMP/state/spool"/*.spool 2>/dev/null)" ] || h_fail "the refused event was spooled: $(ls "$H_TMP/state/spool")"
h_ok "the oversized event refused by librdkafka: logged once, not spooled; the other 19 rows' events on the topic once each"

# --- a spool record over message.max.bytes (spooled before the limit was
# lowered; over 2 KiB, so its value is copied to the heap, not the stack):
# refused at its replay; the other records of its file go once ---
h_start_redis r
spool=$H_TMP/state/spool
mkdir -p "$spool"
cat > "$H_TMP/p.conf" <<CONF
node = { name = "p"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$(h_free_port tcp)"; };
redis = { port = $r_PORT; };
kafka = { brokers = "$k_BOOTSTRAP"; properties = [ "linger.ms=5", "message.max.bytes=1000" ]; };
CONF
ev() { printf 'seq;%d;s;0\t{"node":"p","epoch":1,"elected":false,"prefix":"seq","matched":"%d","source":"s","start_ts":0,"delta":1,"interval_start_ms":0,"flush_ms":200%s}\n' "$1" "$1" "${2:-}"; }
f=$spool/0000000000001-000001.spool
{ ev 1; ev 2; ev 3; ev 4 ",\"pad\":\"$(x 2500 p)\""; ev 5; ev 6; } | spool_write "$f"
cp "$f" "$H_TMP/orig"
tkeys() { kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q -f '%k\n' 2>/dev/null | cut -d';' -f2 | sort -n; }
printf '%s\n' 1 2 3 5 6 > "$H_TMP/want2"
agg_start p "$H_TMP/p.conf"
h_wait_until 10 agg_healthy p || h_fail "p did not start"
PE='aggregatord_publish_dropped_total{cause="produce_error"}'
h_wait_until 20 agg_metric_is p "$PE" 1 || h_fail "dropped{produce_error} $(agg_metric p "$PE"), want 1"
h_wait_until 20 eval 'tkeys | diff - "$H_TMP/want2" > "$H_TMP/t.diff"' || h_fail "the topic against 1-3, 5-6: $(tr '\n' ' ' < "$H_TMP/t.diff")"
h_wait_until 10 eval '[ ! -e "$f" ]' || h_fail "the replayed file is still there: $(ls "$spool"); replayed_total $(agg_metric p aggregatord_publish_replayed_total), on the topic: $(tkeys | tr "\n" " ")"
cmp -s "$f.bad" "$H_TMP/orig" || h_fail "the file with the refused record not kept as it was under .bad: $(ls "$spool")"
[ "$(agg_metric p aggregatord_publish_replayed_total)" = 6 ] && [ "$(agg_metric p "$PE")" = 1 ] \
    || h_fail "replayed_total $(agg_metric p aggregatord_publish_replayed_total) (want 6, once each), dropped{produce_error} $(agg_metric p "$PE") (want 1)"
h_stop p 10
tkeys | diff - "$H_TMP/want2" > "$H_TMP/t.diff" || h_fail "after the stop: $(tr '\n' ' ' < "$H_TMP/t.diff")"
h_ok "a spool record refused by librdkafka at its replay: dropped and counted once, its file kept as NAME.bad, the other 5 records on the topic once each"
