#!/usr/bin/env bash
# test_fault_totalizer_reload.sh — the totalizer's rule generations across
# reloads (docs/totalizer.md, "Exactness", Reload), against a real Redis:
#  1. SIGHUP while a receive thread is inside a long batch (lines that drive
#     a regex to its match limit, a few milliseconds each, hundreds queued):
#     the rules it runs are not freed under it.  Checked on data: Redis holds
#     each counted line once, and the per-rule series counts every matching
#     line sent (counts made on the old rules after the reload are not lost);
#     under the sanitizer build a use after free aborts the daemon.
#  2. More than 512 distinct rule names over the daemon's life (three
#     reloads of 256 renamed rules): a rule that comes after them keeps its
#     matched_total across a reload (its series never goes backwards), and a
#     rule removed and added back starts again at 0.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log t; h_cleanup' EXIT
HTOOL=$H_BIN/htool

h_start_redis r1
R() { h_redis r1 "$@"; }
uport=$(h_free_port udp)
hport=$(h_free_port tcp)
conf=$H_TMP/t.conf
# write_conf EXTRA: the config with rule n, the slow rule and EXTRA rules
write_conf() {
    cat > "$conf.new" <<CONF
node = { name = "fr-a"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$hport"; };
redis = { port = $r1_PORT; timeout_ms = 2000; };
totalizer = {
  flush_ms = 200; threads = 1;
  rules = (
    { name = "n"; prefix = "n"; listen = "127.0.0.1:$uport";
      match = "^line (\\\\d+) (\\\\S+)"; matched = "\$2"; source = "s"; ttl = 86400; buckets = 1; },
    { name = "slow"; prefix = "slow"; listen = "127.0.0.1:$uport";
      match = "^(a|aa)+\$"; matched = "x"; source = "s"; ttl = 86400; buckets = 1; }$1
  );
};
CONF
    mv "$conf.new" "$conf"
}
write_conf ""
"$AGGD" -n -c "$conf" >/dev/null || h_fail "config rejected: $("$AGGD" -n -c "$conf" 2>&1)"
metric() { tz_metric t "$1"; }
rule_matched() { metric "aggregatord_totalizer_matched_total{rule=\"$1\"}"; }
reloads() { grep -c 'rule(s) on .* address(es) in force' "$H_TMP/t.log" || true; }
# reload: SIGHUP and wait until the new rules are in force
reload() {
    local n; n=$(reloads)
    h_signal t HUP
    reloaded() { [ "$(reloads)" -gt "$n" ]; }
    h_wait_until 30 reloaded || h_fail "reload $((n + 1)) not applied"
}
stored() {
    R --scan --pattern 'n;*' | sort | while IFS= read -r k; do
        printf '%s %s\n' "$(printf '%s' "$k" | cut -d';' -f2)" "$(R GET "$k")"
    done | awk '{ n[$1] += $2 } END { for (k in n) print k, n[k] }' | sort
}
oracle() { awk '$1 == "line" { n[$3]++ } END { for (k in n) print k, n[k] }' "$1" | sort; }
stored_is() { [ "$(stored)" = "$(oracle "$1")" ]; }

agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start"

# --- 1. a reload while a receive thread is busy on the old rules ---
sent=$H_TMP/sent.txt
# 400 datagrams of one counted line and six lines that each run the slow
# rule to its match limit: seconds of work queued on the one thread
awk 'BEGIN { s = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab";
             for (i = 1; i <= 400; i++) { printf "line %d u%d\n", i, i % 13;
                                          for (j = 0; j < 6; j++) print s } }' > "$sent"
"$HTOOL" udp-send -n 7 127.0.0.1 "$uport" < "$sent"
busy() { [ "$(metric aggregatord_totalizer_lines_total)" -gt 0 ]; }
h_wait_until 10 busy || h_fail "no line received"
write_conf ',
    { name = "x"; prefix = "x"; listen = "127.0.0.1:'"$uport"'";
      match = "^x"; matched = "x"; source = "s"; ttl = 60; buckets = 1; }'
reload
left=$(( 2800 - $(metric aggregatord_totalizer_lines_total) ))
all_in() { [ "$(metric aggregatord_totalizer_lines_total)" = 2800 ]; }
h_wait_until 60 all_in || h_fail "lines received: $(metric aggregatord_totalizer_lines_total) of 2800"
[ "$left" -gt 0 ] || h_fail "the thread was done before the reload: nothing tested"
h_wait_until 20 stored_is "$sent" || h_fail "Redis holds: $(stored | tr '\n' ' '); want $(oracle "$sent" | tr '\n' ' ')"
h_wait_until 10 agg_metric_is t 'aggregatord_totalizer_matched_total{rule="n"}' 400 \
    || h_fail "matched_total{rule=\"n\"} $(rule_matched n), want 400 (counts on the old rules lost)"
agg_healthy t || h_fail "the daemon died"
h_ok "reload while a thread ran the old rules ($left of 2800 lines after it): Redis exact, matched_total{n} 400"

# --- 2. more than 512 rule names over the daemon's life ---
many() {	# many TAG: 254 rules named TAG0..TAG253
    local i
    for ((i = 0; i < 254; i++)); do
        printf ',\n    { name = "%s%d"; prefix = "%s%d"; listen = "127.0.0.1:%s"; match = "^zz"; matched = "z"; source = "s"; ttl = 60; buckets = 1; }' \
            "$1" "$i" "$1" "$i" "$uport"
    done
}
for tag in a b c; do
    write_conf "$(many $tag)"
    reload
done
fresh=',
    { name = "fresh"; prefix = "fresh"; listen = "127.0.0.1:'"$uport"'";
      match = "^fresh"; matched = "f"; source = "s"; ttl = 60; buckets = 1; }'
write_conf "$fresh"
reload
awk 'BEGIN { for (i = 0; i < 50; i++) print "fresh" }' | "$HTOOL" udp-send 127.0.0.1 "$uport"
h_wait_until 20 agg_metric_is t 'aggregatord_totalizer_matched_total{rule="fresh"}' 50 \
    || h_fail "matched_total{rule=\"fresh\"} $(rule_matched fresh), want 50"
n_before=$(rule_matched n)
reload
[ "$(rule_matched fresh)" = 50 ] || h_fail "after a reload matched_total{rule=\"fresh\"} went from 50 to $(rule_matched fresh)"
[ "$(rule_matched n)" = "$n_before" ] || h_fail "after a reload matched_total{rule=\"n\"} went from $n_before to $(rule_matched n)"
# removed, then added back: starts at 0
write_conf ""
reload
write_conf "$fresh"
reload
[ "$(rule_matched fresh)" = 0 ] || h_fail "a rule added back starts at $(rule_matched fresh), not 0"
h_ok "766 rule names over 6 reloads: a later rule keeps its series across a reload; one added back starts at 0"

h_stop t
