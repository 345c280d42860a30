#!/usr/bin/env bash
# run.sh — `make bench`: builds and runs the benchmarks.  Each prints its
# figure beside a baseline measured in the same run, as a ratio.  Numbers
# are for this machine at this moment; no test asserts on them.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/harness/lib.sh
: "${AGG_BUILD:=build}"
h_init


port=$(h_free_port tcp)
cat > "$H_TMP/bench.conf" <<CONF
node = { name = "bench"; state_dir = "$H_TMP/state"; };
log = { level = "warn"; };
http = { listen = "127.0.0.1:$port"; };
CONF
h_spawn d "$H_TMP/d.log" "$AGG_BUILD/aggregatord" -c "$H_TMP/bench.conf"
h_wait_until 10 curl -sf "http://127.0.0.1:$port/healthz" -o /dev/null

h_start_redis r
echo "== foundation ($(nproc) cores)"
"$AGG_BUILD/bench_core" conf/aggregatord.conf "http://127.0.0.1:$port" "$r_PORT"
rss=$(awk '/VmHWM/ { print $2, $3 }' "/proc/$(h_pid d)/status")
echo "daemon peak RSS (idle, after the HTTP runs): $rss"
h_stop d

# ---------------------------------------------------------------------------
# totalizer: zero-loss line rate end to end into Redis, beside the raw sink
# ---------------------------------------------------------------------------
. bench/totalizer_bench.sh
totalizer_bench_build

uport=$(h_free_port udp)
tport=$(h_free_port tcp)
totalizer_bench_conf "$H_TMP/tz.conf" "$uport" "$tport" "$r_PORT" "$H_TMP/state-tz"
h_spawn tz "$H_TMP/tz.log" "$AGG_BUILD/aggregatord" -c "$H_TMP/tz.conf"
h_wait_until 10 curl -sf "http://127.0.0.1:$tport/healthz" -o /dev/null
tmetric() { curl -sf "http://127.0.0.1:$tport/metrics" | awk -v s="$1" '$1 == s { print $2 }'; }
tz_lines() { tmetric aggregatord_totalizer_lines_total; }
# the sink and the daemon in turns, twice; each keeps its best rate
declare -A TZ_RATE SINK_RATE SINK_TXCPU
for round in 1 2; do
    echo
    echo "-- round $round of 2"
    totalizer_sink_baseline 2 1 10
    for k in 1 10; do
        v=TOTALIZER_SINK_RATE_$k c=TOTALIZER_SINK_TXCPU_$k
        [ "${!v:-0}" -le "${SINK_RATE[$k]:-0}" ] || { SINK_RATE[$k]=${!v}; SINK_TXCPU[$k]=${!c}; }
    done
    echo
    echo "== totalizer: aggregatord, 2 rx threads, the two sample rules, rcvbuf $TOTALIZER_RCVBUF, flush 1 s, into Redis"
    for k in 1 10; do
        TOTALIZER_QUIET_MS=400 TOTALIZER_RX_PID=$(h_pid tz) totalizer_rate_probe 127.0.0.1 "$uport" tz_lines "$k"
        [ "$TOTALIZER_ZERO_LOSS" -le "${TZ_RATE[$k]:-0}" ] || TZ_RATE[$k]=$TOTALIZER_ZERO_LOSS
        note=$TOTALIZER_LIMIT
        case $TOTALIZER_LIMIT in
            loss) note="first loss at $TOTALIZER_LOSS_RATE lines/s: $TOTALIZER_LOSS_PCT%" ;;
            sender) note="sender-bound" ;;
        esac
        printf '  -> %d-line datagrams: zero loss up to %d lines/s (%s)\n' "$k" "$TOTALIZER_ZERO_LOSS" "$note"
    done
done
# Everything received must be in Redis: counted == matched.
matched_sum() { curl -sf "http://127.0.0.1:$tport/metrics" | awk '$1 ~ /^aggregatord_totalizer_matched_total/ { s += $2 } END { print s }'; }
h_wait_until 30 sh -c "[ \"\$(curl -sf http://127.0.0.1:$tport/metrics | awk '\$1 == \"aggregatord_totalizer_counted_total\" { print \$2 }')\" = \"$(matched_sum)\" ]" \
    && echo "  Redis holds every matched line: counted_total = matched = $(matched_sum)" \
    || echo "  WARNING: counted_total $(tmetric aggregatord_totalizer_counted_total) != matched $(matched_sum)"

# Redis commands per second follow distinct keys, not lines.
redis_cmds() { redis-cli -p "$r_PORT" INFO stats | awk -F: '/^total_commands_processed/ { print $2 + 0 }'; }
for rate in 100000 1000000; do
    c0=$(redis_cmds); t0=$(date +%s.%N)
    "$TOTALIZER_BLAST" -n $((rate * 3)) -k 10 --rate "$rate" 127.0.0.1 "$uport" > /dev/null
    sleep_until=$(( $(date +%s) + 2 ))
    h_wait_until 5 sh -c "[ \$(date +%s) -ge $sleep_until ]"
    c1=$(redis_cmds); t1=$(date +%s.%N)
    awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v r="$rate" \
        'BEGIN { printf "  Redis commands/s while fed %7d lines/s: %6.1f\n", r, (b - a) / (e - s) }'
done

r1=${TZ_RATE[1]:-0} r10=${TZ_RATE[10]:-0}
s1=${SINK_RATE[1]:-0} s10=${SINK_RATE[10]:-0}
echo
echo "best of 2 interleaved rounds each:"
printf '%-46s %12s   baseline %12s (raw recvmmsg sink)   ratio %s\n' \
    "totalizer zero-loss lines/s, 1-line datagrams" "$r1" "$s1" "$(awk -v a="$r1" -v b="$s1" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
printf '%-46s %12s   baseline %12s (raw recvmmsg sink)   ratio %s\n' \
    "totalizer zero-loss lines/s, 10-line datagrams" "$r10" "$s10" "$(awk -v a="$r10" -v b="$s10" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
# CPU per million lines: the daemon's and a sink's, each best of two
# interleaved runs; a figure that holds still however the cores are shared.
sport=$(h_free_port udp)
h_spawn tsink "$H_TMP/sink-cpu.log" "$TOTALIZER_SINK" -t 2 --rcvbuf "$TOTALIZER_RCVBUF" \
    --count-file "$H_TMP/sink-cpu.count" 127.0.0.1 "$sport"
h_wait_until 10 test -s "$H_TMP/sink-cpu.count"
cpu_d= cpu_s=
for round in 1 2; do
    totalizer_cpu_cost "$(h_pid tz)" 127.0.0.1 "$uport" tz_lines 10
    [ -n "$cpu_d" ] && [ "$cpu_d" -le "$TOTALIZER_CPU_MS_PER_M" ] || cpu_d=$TOTALIZER_CPU_MS_PER_M
    totalizer_cpu_cost "$(h_pid tsink)" 127.0.0.1 "$sport" "totalizer__sink_count $H_TMP/sink-cpu.count" 10
    [ -n "$cpu_s" ] && [ "$cpu_s" -le "$TOTALIZER_CPU_MS_PER_M" ] || cpu_s=$TOTALIZER_CPU_MS_PER_M
done
h_stop tsink
printf '%-46s %12s   baseline %12s (raw recvmmsg sink)   ratio %s\n' \
    "totalizer CPU ms per million lines, 10-line" "$cpu_d" "$cpu_s" "$(awk -v a="$cpu_d" -v b="$cpu_s" 'BEGIN { printf "%.2f", a ? b / a : 0 }')"
# Where the daemon's CPU per line goes: the same rules over the same lines
# in process on one thread (bench/rules_cost.c), in CPU ns per line, beside
# the daemon's whole cost per line (its CPU ms per million lines is its ns
# per line); the rest is the kernel's receive path (about the sink's cost),
# the receive loop and the flush.
"$TOTALIZER_BLAST" --print -n 65536 --seed "$TOTALIZER_SEED" > "$H_TMP/tz-lines"
"$AGG_BUILD/rules_cost" "$H_TMP/tz.conf" "$H_TMP/tz-lines" > "$H_TMP/rules-cost.out"
rc_ns() { awk -v f="$1" '$1 == f { print $2 }' "$H_TMP/rules-cost.out"; }
for f in "match:  regex search alone (PCRE2 JIT)" "apply:  rule_apply (search + key)" \
         "tally:  rule_apply + tally add (all of it)"; do
    ns=$(rc_ns "${f%%:*}")
    printf '%-46s %12s   of the daemon, per line %8s ns                 share %s\n' \
        "${f#*:}, ns/line" "$ns" "$cpu_d" "$(awk -v a="$ns" -v b="$cpu_d" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
done
sed -n 's/^# /  (rules_cost: /p' "$H_TMP/rules-cost.out" | sed 's/$/)/'
# What 0.85 of the sink leaves the daemon: at that rate the sender takes
# its CPU per line (measured at the sink's fastest zero-loss step) and the
# daemon may have the rest of the two cores.  Beside it, the daemon's own
# floor: the kernel's receive path (the sink's whole CPU per line) and the
# regex search, which no receiver of these rules avoids.
awk -v s="$s10" -v tx="${SINK_TXCPU[10]:-}" -v d="$cpu_d" -v sink="$cpu_s" -v m="$(rc_ns match)" -v n="$(nproc)" 'BEGIN {
    if (s <= 0 || tx == "") exit
    g = 0.85 * s; txns = tx / 100 * 1e9 / s; left = (n * 1e9 - g * txns) / g
    printf "%-46s %12.0f   the daemon spends %8s ns/line; its floor (sink %s + search %s) %.0f\n",
        "0.85 of the sink leaves the daemon, ns/line", left, d, sink, m, sink + m
    printf "  (at %.0f lines/s the sender takes %.0f ns of CPU per line, %s%% of a core at the sink'"'"'s %d/s; %d cores)\n", g, txns, tx, s, n
}'
echo "daemon peak RSS: $(awk '/VmHWM/ { print $2, $3 }' "/proc/$(h_pid tz)/status")"
h_stop tz

# ---------------------------------------------------------------------------
# election + publish: failover and the gate's cost
# ---------------------------------------------------------------------------
. bench/election_bench.sh
h_start_kafka kb
echo
echo "== election + publish ($(nproc) cores, mock Kafka broker, Redis)"
# raw, gate, raw, gate: the best rate of each side, and the least CPU per
# event of each, split by thread (bench_publish.c says what each part is)
for round in 1 2; do
    for side in raw gate; do
        rm -rf "$H_TMP/pubstate"; mkdir -p "$H_TMP/pubstate"
        "$AGG_BUILD/bench_publish" "$kb_BOOTSTRAP" 1000000 "$H_TMP/pubstate" "$side"
    done
done > "$H_TMP/publish.out"
awk '
    { if ($2 > rate[$1]) rate[$1] = $2
      if (!($1 in cpu) || $3 < cpu[$1]) { cpu[$1] = $3; prod[$1] = $4; dr[$1] = $5; rest[$1] = $6 } }
    END {
        printf "%-44s %12.0f /s   baseline %12.0f /s (raw rd_kafka_producev loop)   ratio %.2f (goal 0.90)\n",
            "events through the publish gate, delivered", rate["gate"], rate["raw"], rate["gate"] / rate["raw"]
        printf "%-44s %12.3f us   baseline %12.3f us                              ratio %.2f\n",
            "  CPU per event, whole process", cpu["gate"], cpu["raw"], cpu["raw"] / cpu["gate"]
        printf "    gate: producing thread %.3f, event loop (the reports left when producing stops) %.3f, librdkafka and publish threads %.3f us\n",
            prod["gate"], dr["gate"], rest["gate"]
        printf "    raw:  producing thread (reports served there) %.3f, librdkafka threads %.3f us\n",
            prod["raw"], rest["raw"]
        printf "    (best rate and least CPU of 2 interleaved runs each, 1,000,000 events)\n"
    }' "$H_TMP/publish.out"
election_bench "$kb_BOOTSTRAP" "$r_PORT"

# ---------------------------------------------------------------------------
# sweep: rows moved per second vs. the old scripts and LOAD DATA
# ---------------------------------------------------------------------------
. bench/sweep_bench.sh
echo
sweep_bench

# ---------------------------------------------------------------------------
# rollup: 100k VMs in 10k accounts, one hour
# ---------------------------------------------------------------------------
. bench/rollup_bench.sh
echo
echo "== rollup ($(nproc) cores, InfluxDB 1.6 on the same cores)"
h_start_influxdb ib
RB_VMS=${RB_VMS:-100000} RB_ACCOUNTS=${RB_ACCOUNTS:-10000}
RB_H=$(( $(date +%s) / 3600 * 3600 - 2 * 3600 ))
rollup_load_influx "$ib_URL" usage "$RB_VMS" "$RB_ACCOUNTS" "$RB_H"
rollup_influx_bench "$ib_URL" usage "$RB_H" 2
RB_HT=$(date -u -d "@$RB_H" +%Y-%m-%dT%H)
# loc_conf NAME PORT: a location's config (its own state_dir and HTTP port)
loc_conf() {
    cat > "$H_TMP/rb-$1.conf" <<CONF
node = { name = "rb-$1"; state_dir = "$H_TMP/rb-$1"; };
log = { level = "warn"; };
http = { listen = "127.0.0.1:$2"; };
rollup = { role = "location"; location = "$1"; catch_up_hours = 0;
  influxdb = { url = "$ib_URL"; db = "usage"; timeout = 600; }; };
CONF
}
declare -A rport=()
for loc in loc-a loc-b loc-c; do
    rport[$loc]=$(h_free_port tcp)
    loc_conf "$loc" "${rport[$loc]}"
done
t0=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$H_TMP/rb-rss" "$AGG_BUILD/aggregatord" -c "$H_TMP/rb-loc-a.conf" --once rollup --hour "$RB_HT" > "$H_TMP/rb-loc-a.log" 2>&1
t1=$(date +%s.%N)
loc_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
files=$(find "$H_TMP/rb-loc-a/usage" -name '*.bin' | wc -l)
bytes=$(find "$H_TMP/rb-loc-a/usage" -name '*.bin' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
printf '%-46s %12s s   baseline %12s s (influx_read_hour: read and parse the rows)   ratio %.2f\n' \
    "location rollup of one hour, files included" "$loc_s" "$ROLLUP_READ_S" "$(awk -v a="$loc_s" -v b="$ROLLUP_READ_S" 'BEGIN { print a / b }')"
echo "  $files files, $bytes bytes: $(awk -v b="$bytes" -v v="$RB_VMS" 'BEGIN { printf "%.1f", b / v }') bytes per VM (goal < 64); peak RSS $(cat "$H_TMP/rb-rss") KiB"
# master: three locations fetched and merged.  Each location writes its own
# files (a file names its location, and master refuses one served by
# another), from the same InfluxDB: loc-b and loc-c are rolled up untimed.
for loc in loc-b loc-c; do
    "$AGG_BUILD/aggregatord" -c "$H_TMP/rb-$loc.conf" --once rollup --hour "$RB_HT" > "$H_TMP/rb-$loc.log" 2>&1
done
for loc in loc-a loc-b loc-c; do
    h_spawn "rb${loc#loc-}" "$H_TMP/rb-$loc-d.log" "$AGG_BUILD/aggregatord" -c "$H_TMP/rb-$loc.conf"
    h_wait_until 10 curl -sf "http://127.0.0.1:${rport[$loc]}/healthz" -o /dev/null
done
cat > "$H_TMP/rb-m.conf" <<CONF
node = { name = "rb-m"; state_dir = "$H_TMP/rb-m"; };
log = { level = "warn"; };
rollup = { role = "master"; influxdb = { timeout = 600; };
  locations = ( { name = "loc-a"; url = "http://127.0.0.1:${rport[loc-a]}"; },
                { name = "loc-b"; url = "http://127.0.0.1:${rport[loc-b]}"; },
                { name = "loc-c"; url = "http://127.0.0.1:${rport[loc-c]}"; } ); };
CONF
t0=$(date +%s.%N)
if ! "$AGG_BUILD/aggregatord" -c "$H_TMP/rb-m.conf" --once rollup --hour "$RB_HT" > "$H_TMP/rb-m.log" 2>&1; then
    echo "rollup master --once failed:" >&2
    cat "$H_TMP/rb-m.log" >&2
    exit 1
fi
t1=$(date +%s.%N)
m_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
printf '%-46s %12s s   baseline %12s s (one location rollup)                    ratio %.2f\n' \
    "master fetch + merge of 3 locations x $RB_VMS VMs" "$m_s" "$loc_s" "$(awk -v a="$m_s" -v b="$loc_s" 'BEGIN { print a / b }')"
for loc in loc-a loc-b loc-c; do
    h_stop "rb${loc#loc-}"
done
