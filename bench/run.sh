#!/usr/bin/env bash
# run.sh — `make bench`: builds and runs the benchmarks.  Each prints its
# figure beside a baseline measured in the same run, as a ratio.  Numbers
# are for this machine at this moment; no test asserts on them.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/harness/lib.sh
: "${AGG_BUILD:=build}"
h_init

cc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -o "$H_TMP/bench_core" bench/bench_core.c \
    "$AGG_BUILD/libagg.a" $(pkg-config --cflags --libs libconfig libevent libevent_pthreads) -pthread

port=$(h_free_port tcp)
cat > "$H_TMP/bench.conf" <<CONF
node = { name = "bench"; state_dir = "$H_TMP/state"; };
log = { level = "warn"; };
http = { listen = "127.0.0.1:$port"; };
CONF
h_spawn d "$H_TMP/d.log" "$AGG_BUILD/aggregatord" -c "$H_TMP/bench.conf"
h_wait_until 10 curl -sf "http://127.0.0.1:$port/healthz" -o /dev/null

echo "== foundation ($(nproc) cores)"
"$H_TMP/bench_core" conf/aggregatord.conf "http://127.0.0.1:$port"
rss=$(awk '/VmHWM/ { print $2, $3 }' "/proc/$(h_pid d)/status")
echo "daemon peak RSS (idle, after the HTTP runs): $rss"
h_stop d
