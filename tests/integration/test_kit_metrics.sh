#!/usr/bin/env bash
# test_kit_metrics.sh — the operator's kit queries metrics that exist: one
# daemon with every job on (totalizer and election against a real Redis,
# sweep between two real MariaDB servers, a rollup location on a real
# InfluxDB, events to the harness's Kafka broker) runs until each job has
# done real work; then every metric name that contrib/grafana/aggregatord.json
# queries (its panels and its variables) and that
# contrib/prometheus/aggregatord.rules.yml alerts on has samples in its
# /metrics.  The dashboard covers what an operator watches (role and epoch,
# totalizer rates, drops, pending keys, flush time, sweep rows, lag and
# failures, rollup hours and duration, the publish path, reloads, watchdog).
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log kit; h_cleanup' EXIT
dash=$H_TOP/contrib/grafana/aggregatord.json
rules=$H_TOP/contrib/prometheus/aggregatord.rules.yml

jq -e '.panels | length > 10' "$dash" >/dev/null || h_fail "$dash is not a dashboard (jq)"
# Every name the dashboard queries: the panels' exprs and the variables' queries.
dnames=$(jq -r '[.. | objects | (.expr?, .definition?) | strings] | .[]' "$dash" |
         grep -oE 'aggregatord_[a-z0-9_]+' | sort -u)
rnames=$(grep -oE 'aggregatord_[a-z0-9_]+' "$rules" | sort -u)
for want in election_role election_epoch totalizer_lines_total totalizer_matched_total \
            totalizer_unmatched_total totalizer_dropped_total totalizer_pending_keys \
            totalizer_flush_duration_seconds sweep_rows_moved_total sweep_oldest_closed_age_seconds \
            sweep_errors_total rollup_completed_total rollup_locations_missing \
            rollup_query_duration_seconds publish_queued publish_spooled_total \
            publish_produced_total publish_failed_total config_reloads_total watchdog_skipped_total; do
    grep -qx "aggregatord_$want" <<<"$dnames" || h_fail "the dashboard does not show aggregatord_$want"
done
h_ok "the dashboard is JSON and shows the $(wc -l <<<"$dnames") metrics an operator watches"

h_start_redis r
h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_start_mariadb m1 ms
h_start_influxdb i
h_influx i "CREATE DATABASE usage" >/dev/null
sweep_find_schema
load_schema m1 ms
Q m1 "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,
      acctupdatetime, acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets)
      VALUES ('s1', 'u1', 'alice', '10.0.0.1', NOW() - INTERVAL 1 HOUR, NOW() - INTERVAL 1 MINUTE,
              NOW() - INTERVAL 1 MINUTE, 3540, 100, 200)"

uport=$(h_free_port udp)
hport=$(h_free_port tcp)
conf=$H_TMP/kit.conf
cat > "$conf" <<CONF
node = { name = "kit"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$hport"; };
redis = { port = $r_PORT; };
kafka = { brokers = "$k_BOOTSTRAP"; };
election = { cluster = "kit"; interval_ms = 100; ttl_ms = 500; standby_window_ms = 2000; };
totalizer = { flush_ms = 200; rules = (
  { prefix = "web"; listen = "127.0.0.1:$uport"; match = "^GET (\\\\S+)"; matched = "\$1"; source = "s"; } ); };
sweep = { interval = 1; timeout = 5;
  master = { host = "127.0.0.1"; port = $ms_PORT; user = "root"; };
  members = ( { name = "m1"; host = "127.0.0.1"; port = $m1_PORT; user = "root"; } ); };
rollup = { role = "location"; location = "loc-a"; catch_up_hours = 1;
  influxdb = { url = "$i_URL"; db = "usage"; timeout = 10; }; };
CONF
agg_start kit "$conf"
h_wait_until 20 agg_healthy kit
for j in totalizer election sweep rollup; do
    h_wait_until 20 agg_metric_is kit "aggregatord_job_running{job=\"$j\"}" 1
done
h_wait_until 20 agg_metric_is kit aggregatord_election_role 1
# Real work: a line counted into Redis, the closed session moved, an hour
# rolled up from InfluxDB, events produced to Kafka.
printf 'GET /a\nPOST /b\n' | "$H_BIN/htool" udp-send 127.0.0.1 "$uport"
h_wait_until 20 agg_metric_is kit aggregatord_totalizer_counted_total 1
h_wait_until 20 agg_metric_is kit 'aggregatord_sweep_rows_moved_total{member="m1"}' 1
h_wait_until 30 eval '[ "$(agg_metric kit aggregatord_rollup_completed_total)" -ge 1 ]'
h_wait_until 20 eval '[ "$(agg_metric kit aggregatord_publish_delivered_total)" -ge 2 ]'
h_ok "a daemon with every job on has done each job's work"

agg_get kit /metrics > "$H_TMP/metrics"
have=$(grep -v '^#' "$H_TMP/metrics" | sed -E 's/[{ ].*//' | sort -u)
missing=""
for n in $dnames; do grep -qx "$n" <<<"$have" || missing="$missing $n"; done
[ -z "$missing" ] || h_fail "the dashboard queries metrics /metrics does not have:$missing"
h_ok "all $(wc -l <<<"$dnames") metric names the dashboard queries are in /metrics"
missing=""
for n in $rnames; do grep -qx "$n" <<<"$have" || missing="$missing $n"; done
[ -z "$missing" ] || h_fail "the alert rules use metrics /metrics does not have:$missing"
h_ok "all $(wc -l <<<"$rnames") metric names the alert rules use are in /metrics"
