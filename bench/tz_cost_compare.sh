#!/usr/bin/env bash
# tz_cost_compare.sh BUILD_A BUILD_B [ROUNDS] — the totalizer's CPU cost per
# million lines of two builds of the daemon (directories holding an
# `aggregatord`), measured interleaved (A, B, A, B, ...; ROUNDS each,
# default 2) against one Redis, with the bench's config and the same sent
# lines; prints each run, the best (lowest) of each and B's cost as a ratio
# of A's.  CPU time, not a rate: it holds still when the sender and Redis
# take a varying share of the cores.  For comparing two commits, e.g. before
# and after a change: check the older one out in a worktree, `make` there,
# and pass both build directories.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/harness/lib.sh
. bench/totalizer_bench.sh
[ $# -ge 2 ] || { echo "usage: $0 BUILD_A BUILD_B [ROUNDS]" >&2; exit 2; }
a=$1 b=$2 rounds=${3:-2}
h_init
totalizer_bench_build
h_start_redis r
declare -A best=()
for ((round = 1; round <= rounds; round++)); do
    for build in "$a" "$b"; do
        uport=$(h_free_port udp) tport=$(h_free_port tcp)
        h_redis r FLUSHALL > /dev/null
        totalizer_bench_conf "$H_TMP/c.conf" "$uport" "$tport" "$r_PORT" "$H_TMP/state-$round-${build//\//_}"
        h_spawn tz "$H_TMP/tz.log" "$build/aggregatord" -c "$H_TMP/c.conf"
        h_wait_until 10 curl -sf "http://127.0.0.1:$tport/healthz" -o /dev/null
        lines() { curl -sf "http://127.0.0.1:$tport/metrics" | awk '$1 == "aggregatord_totalizer_lines_total" { print $2 }'; }
        totalizer_cpu_cost "$(h_pid tz)" 127.0.0.1 "$uport" lines 10
        h_stop tz
        printf '  round %d %-40s %6s CPU ms per million lines (%s not counted)\n' \
            "$round" "$build" "$TOTALIZER_CPU_MS_PER_M" "$TOTALIZER_CPU_LOST"
        if [ -z "${best[$build]:-}" ] || [ "$TOTALIZER_CPU_MS_PER_M" -lt "${best[$build]}" ]; then
            best[$build]=$TOTALIZER_CPU_MS_PER_M
        fi
    done
done
printf 'totalizer CPU per million lines (10-line datagrams, 300k lines/s): %s %s ms, %s %s ms, ratio B/A %s\n' \
    "$a" "${best[$a]}" "$b" "${best[$b]}" "$(awk -v x="${best[$a]}" -v y="${best[$b]}" 'BEGIN { printf "%.2f", x ? y / x : 0 }')"
