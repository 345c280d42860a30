# election_bench.sh — sourced by bench/run.sh (after lib.sh, h_init).
#
# Failover: two nodes in one group with the default timings (interval
# 500 ms, ttl 1500 ms, window 5000 ms), fed the same numbered stream; ten
# times, kill -9 the active node, time until the other is active, restart
# the killed one (it comes back standby).  Then every number must be on
# the topic: events lost (must be 0) and duplicates are counted.
# Throughput: bench_publish (the gate vs. raw producev, same run).
# shellcheck shell=bash

election_bench() {
    local k=$1 rport=$2 n cycles=10 rate=400
    declare -A up hp
    for n in a b; do
        up[$n]=$(h_free_port udp); hp[$n]=$(h_free_port tcp)
        cat > "$H_TMP/e$n.conf" <<CONF
node = { name = "$n"; state_dir = "$H_TMP/estate-$n"; };
log = { level = "warn"; };
http = { listen = "127.0.0.1:${hp[$n]}"; };
redis = { port = $rport; };
kafka = { enabled = true; brokers = "$k"; topic_prefix = "fo."; };
election = { cluster = "bench"; };
totalizer = { flush_ms = 200; threads = 1; rules = (
  { prefix = "seq"; listen = "127.0.0.1:${up[$n]}"; match = "seq=(\\\\d+)"; matched = "\$1"; source = "s"; } ); };
CONF
    done
    erole() { curl -s "http://127.0.0.1:${hp[$1]}/metrics" | awk '$1 == "aggregatord_election_role" { print $2 }'; }
    estart() { h_spawn "e$1" "$H_TMP/e$1.log" "$AGG_BUILD/aggregatord" -c "$H_TMP/e$1.conf"; }
    estart a
    h_wait_until 10 sh -c "[ \"\$(curl -s http://127.0.0.1:${hp[a]}/metrics | awk '\$1 == \"aggregatord_election_role\" { print \$2 }')\" = 1 ]"
    estart b
    h_wait_until 10 sh -c "[ \"\$(curl -s http://127.0.0.1:${hp[b]}/metrics | awk '\$1 == \"aggregatord_election_role\" { print \$2 }')\" = 0 ]"
    local total=$(( cycles * 4 * rate + 4 * rate ))
    seq 1 "$total" | sed 's/^/seq=/' > "$H_TMP/efeed.txt"
    "$H_BIN/htool" udp-send -i $((1000000 / rate)) 127.0.0.1 "${up[a]}" < "$H_TMP/efeed.txt" & local fa=$!
    "$H_BIN/htool" udp-send -i $((1000000 / rate)) 127.0.0.1 "${up[b]}" < "$H_TMP/efeed.txt" & local fb=$!
    local times=() i active standby t0 t1
    for i in $(seq 1 "$cycles"); do
        if [ "$(erole a)" = 1 ]; then active=a standby=b; else active=b standby=a; fi
        # let the standby fill its window a little
        t0=$(( $(date +%s%3N) + 1500 )); h_wait_until 10 sh -c "[ \$(date +%s%3N) -ge $t0 ]"
        h_kill "e$active"
        t0=$(date +%s%3N)
        h_wait_until 10 sh -c "[ \"\$(curl -s http://127.0.0.1:${hp[$standby]}/metrics | awk '\$1 == \"aggregatord_election_role\" { print \$2 }')\" = 1 ]" \
            || { echo "  failover $i: no takeover" >&2; return 1; }
        t1=$(date +%s%3N)
        times+=($((t1 - t0)))
        estart "$active"
        h_wait_until 10 sh -c "[ \"\$(curl -s http://127.0.0.1:${hp[$active]}/metrics | awk '\$1 == \"aggregatord_election_role\" { print \$2 }')\" = 0 ]"
    done
    wait "$fa" || true; wait "$fb" || true
    # every number on the topic?
    local got lost dups
    h_wait_until 30 sh -c "[ \$(kcat -b $k -C -t fo.totals -o beginning -e -q -f '%k\n' 2>/dev/null | cut -d';' -f2 | sort -un | wc -l) -ge $total ]" || true
    kcat -b "$k" -C -t fo.totals -o beginning -e -q -f '%k\n' 2>/dev/null | cut -d';' -f2 > "$H_TMP/eseen.txt"
    got=$(sort -un "$H_TMP/eseen.txt" | wc -l)
    lost=$(( total - got ))
    dups=$(( $(wc -l < "$H_TMP/eseen.txt") - got ))
    local sorted med max
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    med=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
    max=$(echo "$sorted" | tail -1)
    echo "  kill -9 failovers: ${times[*]} ms"
    printf '%-46s %12s   baseline %12s (ttl_ms + interval_ms, the bound)   ratio %.2f\n' \
        "failover after kill -9, median ms ($cycles runs)" "$med" 2000 "$(awk -v a="$med" 'BEGIN { print a / 2000 }')"
    printf '%-46s %12s   baseline %12s (ttl_ms + interval_ms, the bound)   ratio %.2f\n' \
        "failover after kill -9, max ms" "$max" 2000 "$(awk -v a="$max" 'BEGIN { print a / 2000 }')"
    echo "  events sent $total, on the topic $got distinct: lost $lost (must be 0), duplicates $dups (from the last window before each failover)"
    h_stop ea || true; h_stop eb || true
}
