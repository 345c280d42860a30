#!/usr/bin/env bash
# totalizer_bench.sh — UDP line-rate benchmark pieces for the totalizer.
#
# The figure: sustained lines/s with zero loss (and the loss just above it)
# for 1-line and 10-line datagrams, found by a rising series of paced
# sends (udp_blast), each ~TOTALIZER_SECONDS long and at most
# TOTALIZER_MAX_LINES lines, stopping at the first rate with loss.  The
# baseline is the same series against udp_sink, a trivial recvmmsg receiver
# with the structure a fast daemon has (SO_REUSEPORT threads spread by a
# reuseport cBPF program), run on the same machine with the same sender.
#
# Executed: builds the tools and prints the sink's table.  Sourced (by
# bench/run.sh, after lib.sh and h_init): only defines the functions below.
#
#   totalizer_bench_build            builds udp_blast and udp_sink into the
#                                    temp dir; sets TOTALIZER_BLAST, TOTALIZER_SINK
#   totalizer_rate_probe SEND_HOST SEND_PORT CHECK_CMD [LINES_PER_DGRAM]
#                                    the series against any receiver (below)
#   totalizer_bench_conf FILE UDP_PORT HTTP_PORT REDIS_PORT STATE_DIR
#                                    the daemon's bench config
#   totalizer_cpu_cost PID SEND_HOST SEND_PORT CHECK_CMD [K] [LINES] [RATE]
#                                    the receiver PID's CPU ms per million lines
#   totalizer_sink_baseline [THREADS] [LINES_PER_DGRAM...]
#                                    the series against a fresh sink per size;
#                                    sets TOTALIZER_SINK_RATE_<K> (lines/s)
#
# Settings (environment): TOTALIZER_RATES (target lines/s, rising; finer
# near the top, where a step from 2 M to 3 M read as 0.67 or 1.00 of the
# sink and nothing between, and on past 3 M so the sink's series ends at
# a loss or at the sender, not at its last step),
# TOTALIZER_SECONDS (2), TOTALIZER_MAX_LINES (2000000), TOTALIZER_SOCKETS
# (sockets per sender, 1), TOTALIZER_SENDERS (parallel sender processes, 1:
# on 2 cores a second one mostly takes CPU from the receiver),
# TOTALIZER_BATCH (datagrams per sendmmsg, 64), TOTALIZER_SEED (1), TOTALIZER_RCVBUF (sink SO_RCVBUF bytes, 4194304; give
# the daemon the same `rcvbuf` for a fair comparison), TOTALIZER_QUIET_MS
# (300) and TOTALIZER_QUIET_MAX_S (5): how long the count must stay still,
# and the bound on that wait, TOTALIZER_RX_PID (receiver whose CPU use the
# probe reports).  Numbers are for this machine at this moment.

# shellcheck shell=bash
: "${TOTALIZER_RATES:=100000 200000 400000 700000 1000000 1500000 1750000 2000000 2250000 2500000 2750000 3000000 3500000 4000000 4500000 5000000}"
: "${TOTALIZER_SECONDS:=2}"
: "${TOTALIZER_MAX_LINES:=2000000}"
: "${TOTALIZER_SOCKETS:=1}"
: "${TOTALIZER_SENDERS:=1}"
: "${TOTALIZER_BATCH:=64}"
: "${TOTALIZER_SEED:=1}"
: "${TOTALIZER_RCVBUF:=4194304}"
: "${TOTALIZER_QUIET_MS:=300}"
: "${TOTALIZER_QUIET_MAX_S:=5}"

TOTALIZER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

# totalizer_bench_build: compiles bench/udp_blast.c and bench/udp_sink.c into
# $H_TMP (or a fresh temp dir) and sets TOTALIZER_BLAST and TOTALIZER_SINK.
totalizer_bench_build() {
    local out=${H_TMP:-}
    if [ -z "$out" ]; then
        out=$(mktemp -d "${TMPDIR:-/tmp}/totalizer-bench.XXXXXX") || return 1
    fi
    if ! cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$out/udp_blast" "$TOTALIZER_DIR/udp_blast.c" ||
       ! cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread -o "$out/udp_sink" "$TOTALIZER_DIR/udp_sink.c"; then
        echo "totalizer_bench_build: compile failed" >&2
        return 1
    fi
    TOTALIZER_BLAST=$out/udp_blast
    TOTALIZER_SINK=$out/udp_sink
}

# totalizer__now_ms: monotonic-enough wall clock in ms (no fork).
totalizer__now_ms() {
    local t=${EPOCHREALTIME//[.,]/}
    printf '%s\n' $(( t / 1000 ))
}

# totalizer__cpu_ticks PID: utime+stime of PID in clock ticks (0 if gone).
totalizer__cpu_ticks() {
    local stat
    if [ -n "${1:-}" ] && read -r stat 2>/dev/null < "/proc/$1/stat"; then
        stat=${stat##*) }
        # shellcheck disable=SC2086  # split into fields on purpose
        set -- $stat
        printf '%s\n' $(( ${12} + ${13} ))
    else
        printf '0\n'
    fi
}

# totalizer__count CHECK_CMD: the receiver's line count (digits only), or
# fails when CHECK_CMD prints no number.
totalizer__count() {
    local v
    v=$(eval "$1" 2>/dev/null) || true
    v=${v//[^0-9]/}
    [ -n "$v" ] || { echo "totalizer_rate_probe: CHECK_CMD printed no number: $1" >&2; return 1; }
    printf '%s\n' "$((10#$v))"
}

# totalizer_rate_probe SEND_HOST SEND_PORT CHECK_CMD [LINES_PER_DGRAM]
#
# Sends the rising series of TOTALIZER_RATES (lines/s) to SEND_HOST:SEND_PORT
# with LINES_PER_DGRAM (default 10) lines per datagram.  CHECK_CMD is eval'd
# in this shell (a shell function is fine) and must print the number of lines
# the receiver has received (counted, matching or not) since it started.
# After each step the probe waits until that number has not changed for
# TOTALIZER_QUIET_MS (bounded by TOTALIZER_QUIET_MAX_S; at once when it
# reaches the lines sent), then loss = sent - counted.  A receiver that only
# publishes its count every N ms needs TOTALIZER_QUIET_MS above N.
#
# Prints one row per step and stops at the first step with loss, or when the
# sender itself fell below 90% of the target (the receiver kept up with all
# it got: the zero-loss rate is at least that).  Sets:
#   TOTALIZER_ZERO_LOSS   lines/s actually sent in the fastest step without loss (0: none)
#   TOTALIZER_LOSS_RATE   lines/s sent in the first lossy step (empty: none)
#   TOTALIZER_LOSS_PCT    its loss in percent of the lines sent
#   TOTALIZER_LIMIT       "loss", "sender" or "series end": what ended the series
#   TOTALIZER_SENDER_CPU  sender CPU (% of one core) in the fastest zero-loss step
# Returns non-zero only on a usage or tool error.
totalizer_rate_probe() {
    local host=$1 port=$2 check=$3 k=${4:-10}
    local rate n sent secs got c0 c1 prev t_start t_change now loss pct
    local cpu_tx cpu_rx rx0 rx1 hz tmp i
    local -a pids=()
    if [ $# -lt 3 ] || [ -z "${TOTALIZER_BLAST:-}" ]; then
        echo "totalizer_rate_probe: usage: totalizer_rate_probe SEND_HOST SEND_PORT CHECK_CMD [LINES_PER_DGRAM] (after totalizer_bench_build)" >&2
        return 2
    fi
    hz=$(getconf CLK_TCK)
    tmp=$(mktemp -d "${H_TMP:-${TMPDIR:-/tmp}}/probe.XXXXXX") || return 1
    TOTALIZER_ZERO_LOSS=0 TOTALIZER_LOSS_RATE='' TOTALIZER_LOSS_PCT='' TOTALIZER_LIMIT="series end"
    TOTALIZER_SENDER_CPU=
    printf '  %8s %10s %10s %7s %7s %10s %10s\n' lines/dg target/s sent/s tx-cpu rx-cpu counted lost
    for rate in $TOTALIZER_RATES; do
        n=$(( rate * TOTALIZER_SECONDS ))
        [ "$n" -le "$TOTALIZER_MAX_LINES" ] || n=$TOTALIZER_MAX_LINES
        n=$(( n / k * k ))
        c0=$(totalizer__count "$check") || { rm -rf "$tmp"; return 1; }
        rx0=$(totalizer__cpu_ticks "${TOTALIZER_RX_PID:-}")
        # TOTALIZER_SENDERS processes, each its share of the lines and rate (seeds differ).
        for (( i = 0; i < TOTALIZER_SENDERS; i++ )); do
            "$TOTALIZER_BLAST" -v -n $(( n / TOTALIZER_SENDERS / k * k )) -k "$k" \
                --rate $(( rate / TOTALIZER_SENDERS )) --seed $(( TOTALIZER_SEED + i )) \
                --sockets "$TOTALIZER_SOCKETS" --batch "$TOTALIZER_BATCH" "$host" "$port" \
                > "$tmp/out.$i" 2>&1 &
            pids+=($!)
        done
        for i in "${!pids[@]}"; do
            wait "${pids[$i]}" || { echo "totalizer_rate_probe: udp_blast failed: $(cat "$tmp/out.$i")" >&2;
                                     rm -rf "$tmp"; return 1; }
        done
        pids=()
        # sent LINES DATAGRAMS SECONDS RATE / ... = NN% of one core
        read -r sent secs got cpu_tx < <(cat "$tmp"/out.* | awk '
            /^sent / { l += $2; if ($4 > s) s = $4 }
            /% of one core/ { sub(/.*= /, ""); c += $1 + 0 }
            END { printf "%d %.3f %.0f %.0f\n", l, s, (s > 0 ? l / s : 0), c }')
        rx1=$(totalizer__cpu_ticks "${TOTALIZER_RX_PID:-}")
        cpu_rx=-
        [ -z "${TOTALIZER_RX_PID:-}" ] ||
            cpu_rx=$(awk -v t=$(( rx1 - rx0 )) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.0f%%", (s > 0 ? 100 * t / hz / s : 0) }')

        # Wait for the receiver to go quiet (or to have everything).
        t_start=$(totalizer__now_ms) t_change=$t_start prev=-1
        while :; do
            c1=$(totalizer__count "$check") || { rm -rf "$tmp"; return 1; }
            now=$(totalizer__now_ms)
            [ $(( c1 - c0 )) -lt "$sent" ] || break
            if [ "$c1" != "$prev" ]; then
                prev=$c1 t_change=$now
            elif [ $(( now - t_change )) -ge "$TOTALIZER_QUIET_MS" ]; then
                break
            fi
            [ $(( now - t_start )) -lt $(( TOTALIZER_QUIET_MAX_S * 1000 )) ] || break
            sleep 0.05
        done
        loss=$(( sent - (c1 - c0) ))
        [ "$loss" -ge 0 ] || loss=0    # someone else sent too: not a loss
        printf '  %8d %10d %10d %6s%% %7s %10d %10d\n' "$k" "$rate" "$got" "$cpu_tx" "$cpu_rx" \
            $(( c1 - c0 )) "$loss"
        if [ "$loss" -gt 0 ]; then
            pct=$(awk -v l="$loss" -v s="$sent" 'BEGIN { printf "%.3f", 100 * l / s }')
            TOTALIZER_LOSS_RATE=$got TOTALIZER_LOSS_PCT=$pct TOTALIZER_LIMIT=loss
            break
        fi
        TOTALIZER_ZERO_LOSS=$got TOTALIZER_SENDER_CPU=$cpu_tx
        if [ $(( got * 10 )) -lt $(( rate * 9 )) ]; then
            TOTALIZER_LIMIT=sender
            break
        fi
    done
    rm -rf "$tmp"
}

# totalizer_cpu_cost PID SEND_HOST SEND_PORT CHECK_CMD [LINES_PER_DGRAM] [LINES] [RATE]
#
# The receiver's CPU cost per million lines, a figure that does not depend
# on how the sender, Redis and the receiver share the cores: sends LINES
# (default 2000000) in LINES_PER_DGRAM-line datagrams (10) at RATE lines/s
# (300000, well below where any receiver here loses), waits until CHECK_CMD
# (as for totalizer_rate_probe) has counted them all (or has gone quiet),
# and reads PID's user + system time from /proc before and after.  Sets
# TOTALIZER_CPU_MS_PER_M (CPU ms per million lines counted) and
# TOTALIZER_CPU_LOST (lines not counted: should be 0 at this rate).
totalizer_cpu_cost() {
    local pid=$1 host=$2 port=$3 check=$4 k=${5:-10} n=${6:-2000000} rate=${7:-300000}
    local hz c0 c1 t0 t1 now prev t_change
    hz=$(getconf CLK_TCK)
    n=$(( n / k * k ))
    c0=$(totalizer__count "$check") || return 1
    t0=$(totalizer__cpu_ticks "$pid")
    "$TOTALIZER_BLAST" -n "$n" -k "$k" --rate "$rate" --seed "$TOTALIZER_SEED" "$host" "$port" > /dev/null ||
        { echo "totalizer_cpu_cost: udp_blast failed" >&2; return 1; }
    prev=-1 t_change=$(totalizer__now_ms)
    while :; do
        c1=$(totalizer__count "$check") || return 1
        [ $(( c1 - c0 )) -lt "$n" ] || break
        now=$(totalizer__now_ms)
        if [ "$c1" != "$prev" ]; then
            prev=$c1 t_change=$now
        elif [ $(( now - t_change )) -ge 2000 ]; then
            break
        fi
        sleep 0.05
    done
    t1=$(totalizer__cpu_ticks "$pid")
    TOTALIZER_CPU_LOST=$(( n - (c1 - c0) ))
    TOTALIZER_CPU_MS_PER_M=$(awk -v t=$(( t1 - t0 )) -v hz="$hz" -v c=$(( c1 - c0 )) \
        'BEGIN { printf "%.0f", (c > 0 ? 1000 * t / hz / (c / 1e6) : 0) }')
}

# totalizer_bench_conf FILE UDP_PORT HTTP_PORT REDIS_PORT STATE_DIR: the
# daemon's config for the bench: 2 receive threads, the two sample rules on
# one port, rcvbuf TOTALIZER_RCVBUF, flush 1 s.
totalizer_bench_conf() {
    cat > "$1" <<CONF
node = { name = "bench"; state_dir = "$5"; };
log = { level = "warn"; };
http = { listen = "127.0.0.1:$3"; };
redis = { port = $4; };
totalizer = {
  flush_ms = 1000; threads = 2; rcvbuf = $TOTALIZER_RCVBUF;
  rules = (
    { prefix = "web_client"; listen = "127.0.0.1:$2";
      match = "^([^ ]+).*?\\"(?:GET|POST) .*? HTTP/[^\\"]*\\" (\\\\d\\\\d\\\\d)";
      matched = "\$1,\$2"; source = "web1"; },
    { prefix = "web_page"; listen = "127.0.0.1:$2";
      match = "\\"(?:GET|POST) ([^ ?\\"]*)[^\\"]*\\" \\\\d\\\\d\\\\d";
      matched = "\$1"; last_segment = true; lower = true; max_len = 32; source = "web1"; }
  );
};
CONF
}

# totalizer__sink_count FILE: the sink's running line count.
totalizer__sink_count() {
    cat "$1"
}

# totalizer_sink_baseline [THREADS] [LINES_PER_DGRAM...]: for each datagram
# size (default 1 and 10), starts a fresh udp_sink with THREADS (default 2)
# threads, runs totalizer_rate_probe against it, stops it and prints how its
# threads shared the datagrams.  Sets TOTALIZER_SINK_RATE_<K> (zero-loss
# lines/s), TOTALIZER_SINK_NOTE_<K> (what ended the series) and
# TOTALIZER_SINK_TXCPU_<K> (the sender's CPU there, % of one core).  Needs lib.sh
# and h_init (h_spawn, h_free_port).
totalizer_sink_baseline() {
    local threads=${1:-2} k port log cf note spread
    local -a rows=()
    shift || true
    [ $# -gt 0 ] || set -- 1 10
    [ -n "${TOTALIZER_BLAST:-}" ] || totalizer_bench_build || return 1
    echo "== totalizer baseline: udp_sink, $threads threads, rcvbuf $TOTALIZER_RCVBUF, $(nproc) cores, senders: $TOTALIZER_SENDERS x $TOTALIZER_SOCKETS socket(s), batch $TOTALIZER_BATCH"
    for k in "$@"; do
        port=$(h_free_port udp) || return 1
        log=$H_TMP/udp_sink.$k.log cf=$H_TMP/udp_sink.$k.count
        h_spawn tsink "$log" "$TOTALIZER_SINK" -v -t "$threads" --rcvbuf "$TOTALIZER_RCVBUF" \
            --count-file "$cf" 127.0.0.1 "$port" || return 1
        h_wait_until 10 test -s "$cf" || { echo "totalizer_sink_baseline: sink did not start" >&2; return 1; }
        TOTALIZER_RX_PID=$(h_pid tsink) totalizer_rate_probe 127.0.0.1 "$port" "totalizer__sink_count $cf" "$k" ||
            return 1
        h_stop tsink || return 1
        spread=$(awk '/ thread [0-9]+:/ { sub(":", "", $3); d[$3] = $7; t += $7; n++ }
                      END { for (i = 0; i < n; i++) printf " rx%d %.1f%%", i, t ? 100 * d[i] / t : 0 }' "$log")
        note=$TOTALIZER_LIMIT
        case $TOTALIZER_LIMIT in
            loss) note="first loss at $TOTALIZER_LOSS_RATE lines/s: $TOTALIZER_LOSS_PCT%" ;;
            sender) note="sender-bound: no loss at all the sender could do" ;;
        esac
        printf '  -> %d-line datagrams: zero loss up to %d lines/s (%s); sender %s%% of a core there\n' \
            "$k" "$TOTALIZER_ZERO_LOSS" "$note" "${TOTALIZER_SENDER_CPU:-?}"
        printf '     datagrams per sink thread:%s; %s\n' "$spread" "$(sed -n 's/.*reuseport cbpf //p' "$log")"
        printf -v "TOTALIZER_SINK_RATE_$k" '%s' "$TOTALIZER_ZERO_LOSS"
        printf -v "TOTALIZER_SINK_NOTE_$k" '%s' "$note"
        printf -v "TOTALIZER_SINK_TXCPU_$k" '%s' "${TOTALIZER_SENDER_CPU:-}"
        rows+=("$(printf '  %8d %16d   %s' "$k" "$TOTALIZER_ZERO_LOSS" "$note")")
    done
    printf '  %8s %16s   %s\n' lines/dg zero-loss-lines/s 'what ended the series'
    printf '%s\n' "${rows[@]}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    # shellcheck source=tests/harness/lib.sh
    . "$TOTALIZER_DIR/../tests/harness/lib.sh"
    h_init
    totalizer_bench_build
    totalizer_sink_baseline "${TOTALIZER_SINK_THREADS:-2}"
fi
