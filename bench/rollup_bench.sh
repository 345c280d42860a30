# rollup_bench.sh — sourced by bench/run.sh (after lib.sh, h_init): the
# rollup's InfluxDB side (issue 6, "Speed").
#
#   rollup_load_influx URL DB VMS ACCOUNTS HOUR_START
#       creates DB and loads VMS VMs spread over ACCOUNTS accounts, one sample
#       a minute for the hour starting at HOUR_START and the hour before it
#       (120 points per VM, 7 fields each), with bench/influx_load.c (built
#       into $H_TMP on first use): line protocol series by series, 60k-line
#       batches, ROLLUP_LOAD_CONNS (2) connections.  Then waits until
#       InfluxDB's compactions are done.  Prints the load figures; sets
#       ROLLUP_LOAD_SECONDS and ROLLUP_LOAD_POINTS.
#   rollup_influx_bench URL DB HOUR_START [RUNS]
#       times, RUNS times each (default 2) and interleaved, the same hour's
#       query three ways: curl of the raw answer to /dev/null (InfluxDB
#       alone), influx_read_hour (read and parse the rows: the floor) and
#       influx_rollup_hour (the rollup's query, arithmetic included), through
#       $AGG_BUILD/influx_cli.  Prints the medians and the rollup / floor
#       ratio; sets ROLLUP_RAW_S, ROLLUP_READ_S, ROLLUP_ROLLUP_S.
#
# Numbers are for this machine at this moment (InfluxDB 1.6 shares the same
# cores); no test asserts on them.
# shellcheck shell=bash

ROLLUP_BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
: "${ROLLUP_LOAD_CONNS:=2}"

# rollup__build: compiles bench/influx_load.c once; sets ROLLUP_INFLUX_LOAD.
rollup__build() {
    local out=${H_TMP:-}
    [ -z "${ROLLUP_INFLUX_LOAD:-}" ] || [ ! -x "$ROLLUP_INFLUX_LOAD" ] || return 0
    if [ -z "$out" ]; then
        out=$(mktemp -d "${TMPDIR:-/tmp}/rollup-bench.XXXXXX") || return 1
    fi
    if ! cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread -o "$out/influx_load" \
            "$ROLLUP_BENCH_DIR/influx_load.c"; then
        echo "rollup__build: compile failed" >&2
        return 1
    fi
    ROLLUP_INFLUX_LOAD=$out/influx_load
}

# rollup__compacting URL: succeeds while InfluxDB runs a compaction or holds
# a cache snapshot in progress (from /debug/vars).
rollup__compacting() {
    local n
    n=$(curl -sf --max-time 5 "$1/debug/vars" |
        grep -o '"[A-Za-z0-9]*CompactionsActive":[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }')
    [ "${n:-0}" -gt 0 ]
}

# rollup__quiet URL: waits (up to 10 min) until no compaction ran in 3
# consecutive polls 1 s apart.
rollup__quiet() {
    local calm=0 _
    for _ in $(seq 1 600); do
        if rollup__compacting "$1"; then
            calm=0
        else
            calm=$((calm + 1))
            [ "$calm" -lt 3 ] || return 0
        fi
        sleep 1
    done
    echo "rollup__quiet: InfluxDB still compacting after 10 min" >&2
}

rollup_load_influx() {
    local url=$1 db=$2 vms=$3 accounts=$4 hour=$5 t0 out
    rollup__build || return 1
    curl -sf --max-time 30 -XPOST "$url/query" --data-urlencode "q=CREATE DATABASE \"$db\"" > /dev/null || {
        echo "rollup_load_influx: cannot create database '$db' at $url" >&2
        return 1
    }
    t0=$(date +%s.%N)
    out=$("$ROLLUP_INFLUX_LOAD" "$url" "$db" "$vms" "$accounts" "$hour" "$ROLLUP_LOAD_CONNS") || {
        echo "rollup_load_influx: influx_load failed" >&2
        return 1
    }
    rollup__quiet "$url"
    ROLLUP_LOAD_SECONDS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    ROLLUP_LOAD_POINTS=$(( vms * 120 ))
    echo "  loaded $vms VMs x 120 samples ($ROLLUP_LOAD_POINTS points, $accounts accounts): $out"
    echo "  load time with compactions settled: $ROLLUP_LOAD_SECONDS s"
}

# rollup__median V...: prints the median of its arguments.
rollup__median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

rollup_influx_bench() {
    local url=$1 db=$2 hour=$3 runs=${4:-2} cli=${AGG_BUILD:-build}/influx_cli q k t0 out
    local -a raw=() rd=() ru=()
    [ -x "$cli" ] || { echo "rollup_influx_bench: $cli is not built" >&2; return 1; }
    q='SELECT "mem_mib","disk_gib","cpu_seconds","io_read","io_write","net_tx_bytes","net_rx_bytes" FROM "vm_usage"'
    q="$q WHERE time >= $((hour - 3600))s AND time < $((hour + 3600))s GROUP BY \"account\",\"cloudspace\",\"vm\""
    for k in $(seq 1 "$runs"); do
        t0=$(date +%s.%N)
        curl -sf --max-time 3600 -G "$url/query" --data-urlencode "db=$db" --data-urlencode epoch=s \
            --data-urlencode chunked=true --data-urlencode chunk_size=10000 --data-urlencode "q=$q" -o /dev/null
        raw+=("$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')")
        out=$("$cli" -t 3600 -r "$url" "$db" "$hour" 2> /dev/null) || { echo "rollup_influx_bench: read failed" >&2; return 1; }
        rd+=("$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<< "$out")")
        echo "    run $k: raw ${raw[-1]} s; read: $out"
        out=$("$cli" -t 3600 -q "$url" "$db" "$hour" 2> /dev/null) || { echo "rollup_influx_bench: rollup failed" >&2; return 1; }
        ru+=("$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<< "$out")")
        echo "    run $k: rollup: $out"
    done
    ROLLUP_RAW_S=$(rollup__median "${raw[@]}")
    ROLLUP_READ_S=$(rollup__median "${rd[@]}")
    ROLLUP_ROLLUP_S=$(rollup__median "${ru[@]}")
    printf '%-46s %8.2f s   floor (influx_read_hour) %8.2f s   ratio %s\n' \
        "rollup query (influx_rollup_hour), median" "$ROLLUP_ROLLUP_S" "$ROLLUP_READ_S" \
        "$(awk -v a="$ROLLUP_ROLLUP_S" -v b="$ROLLUP_READ_S" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
    printf '%-46s %8.2f s   (curl to /dev/null: InfluxDB alone)\n' "raw answer, median" "$ROLLUP_RAW_S"
}
