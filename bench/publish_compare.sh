#!/usr/bin/env bash
# publish_compare.sh BUILD_A BUILD_B [ROUNDS] — the publish gate of two
# builds (directories holding a `bench_publish`), measured interleaved
# against one mock Kafka broker: per round, A raw, A gate, B raw, B gate
# (ROUNDS rounds, default 3).  Prints, per build and side, the best rate
# and the least CPU per event (whole process; producing thread, delivery
# reports, the rest), then each build's gate/raw rate ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/harness/lib.sh
[ $# -ge 2 ] || { echo "usage: $0 BUILD_A BUILD_B [ROUNDS]" >&2; exit 2; }
a=$1 b=$2 rounds=${3:-3}
h_init
h_start_kafka kb
for ((round = 1; round <= rounds; round++)); do
    for build in "$a" "$b"; do
        for side in raw gate; do
            rm -rf "$H_TMP/ps"; mkdir -p "$H_TMP/ps"
            echo "$build $("$build/bench_publish" "$kb_BOOTSTRAP" 1000000 "$H_TMP/ps" "$side")"
        done
    done
done > "$H_TMP/runs"
awk '
    { k = $1 " " $2
      if ($3 > rate[k]) rate[k] = $3
      if (!(k in cpu) || $4 < cpu[k]) { cpu[k] = $4; part[k] = sprintf("%.3f, %.3f, %.3f", $5, $6, $7) } }
    END {
        for (k in rate) printf "%-60s %10.0f /s   CPU %.3f us/event (%s)\n", k, rate[k], cpu[k], part[k]
        for (k in rate) { split(k, w, " "); if (w[2] == "gate") printf "%s: gate/raw %.2f\n", w[1], rate[k] / rate[w[1] " raw"] }
    }' "$H_TMP/runs" | sort
