#!/usr/bin/env bash
# test_reload.sh — SIGHUP while every job works.  One daemon runs the sweep
# (two members and master, FreeRADIUS's schema, sessions arriving: start,
# interim, stop), the election (Redis), a rollup location (InfluxDB, hours
# being caught up) and the totalizer (lines arriving over UDP).  It is
# reloaded many times mid-work: unchanged, and with a reloadable key of the
# sweep, the rollup and the election changed.  After each reload every
# counter of /metrics (each `*_total` series with its labels) is at least
# what it was before; none disappears.  Afterwards the data are exact:
# master holds every session once with its final counters, the rows moved
# summed over the members equal the rows that left them, Redis holds every
# line once, the rollup files hold the hours' figures.  Each section's
# change takes effect (the sweep's interval, the rollup's catch_up_hours,
# the election's ttl_ms and interval_ms); a restart-only key
# (election.cluster) is logged and not applied.  A member removed from the
# config: its series go, the other member's continue.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log a; cat "$H_TMP/writer.err" >&2 2>/dev/null || true; }; h_cleanup' EXIT
CLI=$H_TOP/$AGG_BUILD/usage_cli

sweep_find_schema
h_start_mariadb m1 m2 ms
load_schema m1 m2 ms
h_start_redis r
h_start_influxdb i
h_influx i "CREATE DATABASE usage_r" > /dev/null

# --- InfluxDB: one VM, two samples in each of the 8 hours before the last
# one due (at_minute 0, delay 0: the last hour that ended).  Hour j (0..7,
# 7 the last): mem 10j then 10j+20, disk j+5 then j+3, cpu 100j+10 then
# 100j+60: its file says mem_mib_mean=10j+10 disk_gib_max=j+5 and
# cpu_seconds=100 (50 since the sample before the hour, then 50) for j >= 1.
now=$(date +%s)
LAST=$(( now - now % 3600 - 3600 ))
hour_of() { echo $(( LAST - (7 - $1) * 3600 )); }
for j in 0 1 2 3 4 5 6 7; do
    h=$(hour_of $j)
    echo "vm_usage,account=acme,cloudspace=cs1,vm=vm1 mem_mib=$((10 * j)),disk_gib=$((j + 5)),cpu_seconds=$((100 * j + 10)),io_read=0,io_write=0,net_tx_bytes=0,net_rx_bytes=0 $((h + 60))"
    echo "vm_usage,account=acme,cloudspace=cs1,vm=vm1 mem_mib=$((10 * j + 20)),disk_gib=$((j + 3)),cpu_seconds=$((100 * j + 60)),io_read=0,io_write=0,net_tx_bytes=0,net_rx_bytes=0 $((h + 3540))"
done | h_influx_write i usage_r
hour_file() { echo "$H_TMP/state/usage/acme/$(date -u -d "@$(hour_of "$1")" +%Y/%m/%d/%H).bin"; }
hour_want() { echo "location=loc-r cloudspace=cs1 vm=vm1 mem_mib_mean=$((10 * $1 + 10)) disk_gib_max=$(($1 + 5)) cpu_seconds=100 io_read=0 io_write=0 net_tx_bytes=0 net_rx_bytes=0 samples=2"; }
hour_got() { "$CLI" decode "$(hour_file "$1")" | grep '^vm\[' | sed 's/^vm\[[0-9]*\]: //'; }

# --- the config: conf FILE SWEEP_INTERVAL BATCH CATCH_UP EL_INTERVAL EL_TTL CLUSTER MEMBERS ---
hport=$(h_free_port tcp)
uport=$(h_free_port udp)
conf=$H_TMP/a.conf
conf() {
    local f=$1 sint=$2 batch=$3 cu=$4 eint=$5 ettl=$6 cluster=$7 first=1 m
    shift 7
    {
        cat <<CONF
node = { name = "a"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$hport"; };
redis = { port = $r_PORT; timeout_ms = 500; };
election = { cluster = "$cluster"; interval_ms = $eint; ttl_ms = $ettl; standby_window_ms = 5000; };
totalizer = { flush_ms = 200; threads = 2; rules = (
  { prefix = "rl"; listen = "127.0.0.1:$uport"; match = "k=(\\\\w+)"; matched = "\$1"; source = "s"; } ); };
rollup = { role = "location"; location = "loc-r"; at_minute = 0; delay = 0; catch_up_hours = $cu;
  influxdb = { url = "$i_URL"; db = "usage_r"; timeout = 20; }; };
sweep = { interval = $sint; batch = $batch; timeout = 10; stale_after = 3600;
  master = { host = "127.0.0.1"; port = $ms_PORT; user = "root"; };
  members = (
CONF
        for m in "$@"; do
            [ $first = 1 ] || echo ","
            first=0
            echo "    { name = \"$m\"; host = \"127.0.0.1\"; port = $(eval echo "\$${m}_PORT"); user = \"root\"; }"
        done
        echo "  ); };"
    } > "$f"
    "$AGGD" -n -c "$f" > "$H_TMP/n.out" 2>&1 || h_fail "config refused: $(cat "$H_TMP/n.out")"
}

# --- counters: every *_total series of BEFORE is in AFTER with a value at least
# as large; GONE_RE (an awk regex, may be empty) names series allowed to go.
# Prints each offender; fails when there is one.
counters_kept() {	# BEFORE AFTER [GONE_RE]
    awk -v gone="${3:-}" '
        function series(line) { sub(/ [^ ]+$/, "", line); return line }
        /^#/ || NF < 2 { next }
        FNR == NR { k = series($0); if (k ~ /^[a-zA-Z_:]+_total($|\{)/) b[k] = $NF; next }
        { a[series($0)] = $NF }
        END {
            bad = 0
            for (k in b) {
                if (!(k in a)) {
                    if (gone != "" && k ~ gone) continue
                    print "gone: " k " (was " b[k] ")"; bad = 1
                } else if (a[k] + 0 < b[k] + 0) {
                    print "backwards: " k ": " b[k] " -> " a[k]; bad = 1
                }
            }
            exit bad
        }' "$1" "$2"
}
scrape() {	# FILE: a fresh copy of /metrics in FILE
    agg_get a /metrics > "$1"
    [ -s "$1" ] || h_fail "/metrics answered nothing"
}
metric_sum() {	# FILE NAME: the sum of NAME's series in FILE
    awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $NF } END { print s + 0 }' "$1"
}
nreload=0
# reload WHAT [GONE_RE]: SIGHUP with $conf as it is now; the counters after it
# are compared with those just before.
reload() {
    local what=$1 before=$H_TMP/metrics.$((nreload + 1)).before after=$H_TMP/metrics.$((nreload + 1)).after
    scrape "$before"
    nreload=$((nreload + 1))
    h_signal a HUP
    h_wait_until 20 agg_metric_is a 'aggregatord_config_reloads_total{result="ok"}' $nreload \
        || h_fail "reload $nreload ($what) not applied"
    scrape "$after"
    counters_kept "$before" "$after" "${2:-}" > "$H_TMP/kept.txt" \
        || h_fail "reload $nreload ($what): counters went backwards or disappeared: $(head -20 "$H_TMP/kept.txt")"
    LAST_SCRAPE=$after
}
read_sum() { agg_get a /metrics | awk '/^aggregatord_sweep_rows_read_total\{/ { s += $NF } END { print s + 0 }'; }
# work_since N: the sweep read more rows than N (it works between reloads)
work_since() { [ "$(read_sum)" -gt "$1" ]; }

conf "$conf" 1 20 2 200 1000 rl m1 m2
agg_start a "$conf"
h_wait_until 15 agg_healthy a || h_fail "the daemon did not start"
h_wait_until 15 agg_metric_is a aggregatord_election_role 1 || h_fail "not elected active"
# hours 6 and 7 are in catch_up_hours 2's window even if the hour turned
# since LAST was taken (hours 6..8 then)
h_wait_until 30 test -f "$(hour_file 7)" -a -f "$(hour_file 6)" || h_fail "the rollup did not catch up the last hours"

# --- the work: sessions on both members (FreeRADIUS's start, interim, stop) ---
COLS="acctsessionid,acctuniqueid,username,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause"
# session k: opened in round r, an interim in r+1, stopped in r+2 with
# session time k % 1000 + 10, k*10 octets in, k*20 out.  m1 has k = 100r..100r+4,
# m2 100r+50..100r+54.  Every k written is in sessions.txt once its insert is in.
ids() { local r=$1 off=$2; echo $((100 * r + off)) $((100 * r + off + 1)) $((100 * r + off + 2)) $((100 * r + off + 3)) $((100 * r + off + 4)); }
round_sql() {	# R OFF OPEN(0|1): insert round R, interim R-1, stop R-2 (OPEN=0: stop R-1 and R too)
    local r=$1 off=$2 k
    if [ "$r" -gt 0 ]; then
        for k in $(ids "$r" "$off"); do
            echo "INSERT INTO radacct ($COLS) VALUES ('s$k','u$k','user$k','10.0.0.1','1',NOW(),NOW(),NULL,0,0,0,'');"
        done
    fi
    if [ "$3" = 1 ]; then
        for k in $(ids $((r - 1)) "$off"); do
            echo "UPDATE radacct SET acctupdatetime = NOW(), acctsessiontime = 1, acctinputoctets = $k, acctoutputoctets = $k WHERE acctuniqueid = 'u$k';"
        done
        set -- $((r - 2))
    else
        set -- $((r - 2)) $((r - 1)) "$r"
    fi
    for r in "$@"; do
        for k in $(ids "$r" "$off"); do
            echo "UPDATE radacct SET acctstoptime = NOW(), acctsessiontime = $((k % 1000 + 10)), acctinputoctets = $((k * 10)), acctoutputoctets = $((k * 20)), acctterminatecause = 'User-Request' WHERE acctuniqueid = 'u$k';"
        done
    done
}
writer() {	# until $H_TMP/stop exists; then stops every open session
    local r=0
    while [ ! -e "$H_TMP/stop" ]; do
        r=$((r + 1))
        round_sql $r 0 1 | h_mysql m1 radius || { echo "writer: m1 round $r failed" > "$H_TMP/writer.err"; return 1; }
        round_sql $r 50 1 | h_mysql m2 radius || { echo "writer: m2 round $r failed" > "$H_TMP/writer.err"; return 1; }
        { ids $r 0; ids $r 50; } | tr ' ' '\n' >> "$H_TMP/sessions.txt"
        sleep 0.1	# pacing: about 100 sessions a second, not a wait
    done
    round_sql $((r + 1)) 0 0 | sed '/^INSERT/d' | h_mysql m1 radius || { echo "writer: m1 last stops failed" > "$H_TMP/writer.err"; return 1; }
    round_sql $((r + 1)) 50 0 | sed '/^INSERT/d' | h_mysql m2 radius || { echo "writer: m2 last stops failed" > "$H_TMP/writer.err"; return 1; }
    echo done > "$H_TMP/writer.done"
}
: > "$H_TMP/sessions.txt"
writer &
WRITER=$!
# lines for the totalizer: k=a .. k=g, 20000 of them at 1000 a second
seq 1 20000 | awk '{ printf "k=%c\n", 97 + $1 % 7 }' > "$H_TMP/lines.txt"
"$H_BIN/htool" udp-send -i 1000 127.0.0.1 "$uport" < "$H_TMP/lines.txt" &
SENDER=$!

# --- reloads mid-work ---
read0=0
written() { wc -l < "$H_TMP/sessions.txt"; }
written_since() { [ "$(written)" -ge $(($1 + 20)) ]; }
between() {	# wait until two more rounds of sessions are written and the sweep read more rows
    local w0
    w0=$(written)
    h_wait_until 30 written_since "$w0" || h_fail "the writer does not write: $(cat "$H_TMP/writer.err" 2>/dev/null)"
    h_wait_until 30 work_since "$read0" || h_fail "the sweep does no work between reloads"
    read0=$(read_sum)
}
between
reload "unchanged"
between
reload "unchanged"
between
conf "$conf" 2 35 2 200 1000 rl m1 m2
reload "sweep: interval 1 -> 2, batch 20 -> 35"
between
reload "unchanged"
conf "$conf" 2 35 5 200 1000 rl m1 m2
reload "rollup: catch_up_hours 2 -> 5"
reload "unchanged, the rollup catching up"
between
conf "$conf" 2 35 5 300 3000 rl m1 m2
reload "election: interval_ms 200 -> 300, ttl_ms 1000 -> 3000"
between
conf "$conf" 2 35 5 300 3000 rlx m1 m2
reload "election: cluster rl -> rlx (restart only)"
between
conf "$conf" 1 20 5 300 3000 rlx m1 m2
reload "sweep: interval 2 -> 1, batch 35 -> 20"
kill -0 "$WRITER" 2>/dev/null || h_fail "the writer died: $(cat "$H_TMP/writer.err" 2>/dev/null)"
between
reload "unchanged"
h_ok "$nreload reloads while the sweep, the totalizer, the rollup and the election work: no *_total series went backwards or disappeared"

# --- the data, once the work is over ---
touch "$H_TMP/stop"
wait "$WRITER" || h_fail "the writer failed: $(cat "$H_TMP/writer.err" 2>/dev/null)"
wait "$SENDER" || h_fail "the line sender failed"
nsess=$(wc -l < "$H_TMP/sessions.txt")
members_empty() { [ "$(Q m1 "SELECT COUNT(*) FROM radacct")" = 0 ] && [ "$(Q m2 "SELECT COUNT(*) FROM radacct")" = 0 ]; }
h_wait_until 60 members_empty || h_fail "rows left on the members: m1 $(Q m1 "SELECT COUNT(*) FROM radacct"), m2 $(Q m2 "SELECT COUNT(*) FROM radacct")"
sort -n "$H_TMP/sessions.txt" | awk '{ printf "u%d\t0\t%d\t%d\t%d\tUser-Request\n", $1, $1 % 1000 + 10, $1 * 10, $1 * 20 }' | sort > "$H_TMP/want-master.txt"
Q ms "SELECT acctuniqueid, acctstoptime IS NULL, acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause FROM radacct" | sort > "$H_TMP/got-master.txt"
diff "$H_TMP/want-master.txt" "$H_TMP/got-master.txt" > "$H_TMP/diff.txt" || h_fail "master differs from the sessions written: $(head -10 "$H_TMP/diff.txt")"
[ "$(Q ms "SELECT COUNT(*), COUNT(DISTINCT acctuniqueid) FROM radacct")" = "$nsess	$nsess" ] || h_fail "master holds a session twice"
m=$H_TMP/metrics.data
scrape "$m"
moved=$(metric_sum "$m" aggregatord_sweep_rows_moved_total)
sup=$(metric_sum "$m" aggregatord_sweep_superseded_deleted_total)
[ "$moved" = "$nsess" ] && [ "$sup" = 0 ] || h_fail "rows moved summed over the members: $moved (superseded $sup), but $nsess rows left them: $(grep '^aggregatord_sweep_rows_moved_total' "$m" | tr '\n' ' ')"
h_ok "after the reloads master holds each of the $nsess sessions once with its final counters; the members are empty; rows moved summed over the members = $moved"

rl_sum() { redis-cli -p "$r_PORT" --scan --pattern 'rl;*' | xargs -r redis-cli -p "$r_PORT" MGET | awk '{ s += $1 } END { print s + 0 }'; }
h_wait_until 20 sh -c "[ \"\$(redis-cli -p $r_PORT --scan --pattern 'rl;*' | xargs -r redis-cli -p $r_PORT MGET | awk '{ s += \$1 } END { print s + 0 }')\" = 20000 ]" \
    || h_fail "Redis holds $(rl_sum) counts, 20000 lines were sent; drops: $(agg_get a /metrics | grep '^aggregatord_totalizer_dropped' | tr '\n' ' ')"
sort "$H_TMP/lines.txt" | uniq -c | awk '{ sub(/^k=/, "", $2); print "rl;" $2 ";s", $1 }' | sort > "$H_TMP/want-redis.txt"
redis-cli -p "$r_PORT" --scan --pattern 'rl;*' | sort > "$H_TMP/keys.txt"
paste -d' ' "$H_TMP/keys.txt" <(xargs -a "$H_TMP/keys.txt" -d '\n' redis-cli -p "$r_PORT" MGET) |
    awk '{ k = $1; sub(/;[0-9]+$/, "", k); s[k] += $2 } END { for (k in s) print k, s[k] }' | sort > "$H_TMP/got-redis.txt"
diff "$H_TMP/want-redis.txt" "$H_TMP/got-redis.txt" > "$H_TMP/diff.txt" || h_fail "Redis differs from the lines sent: $(head -5 "$H_TMP/diff.txt")"
h_ok "Redis holds each of the 20000 lines once, key by key"

# the rollup: catch_up_hours 5 took effect (hours 3..7 whatever the clock did
# meanwhile; 2 too unless the hour turned), each file exact, hour 0 outside
h_wait_until 30 sh -c "for j in 3 4 5 6 7; do f=\$(date -u -d @\$(( $LAST - (7 - j) * 3600 )) +%Y/%m/%d/%H); [ -f '$H_TMP/state/usage/acme/'\$f.bin ] || exit 1; done" \
    || h_fail "the rollup did not catch up 5 hours after the reload: $(find "$H_TMP/state/usage" -name '*.bin' | sort | tr '\n' ' ')"
for j in 2 3 4 5 6 7; do
    [ "$j" != 2 ] || [ -f "$(hour_file 2)" ] || continue
    [ "$(hour_got $j)" = "$(hour_want $j)" ] || h_fail "hour $j: $(hour_got $j), want $(hour_want $j)"
done
[ ! -f "$(hour_file 0)" ] || h_fail "hour 0 is outside catch_up_hours, yet rolled up"
h_ok "the rollup's catch_up_hours 2 -> 5 took effect on reload; every hour's file exact"

# --- each section's change took effect; the restart-only key did not ---
st=$(agg_get a /v1/status)
grep -q '"interval_ms":300' <<< "$st" && grep -q '"ttl_ms":3000' <<< "$st" || h_fail "the election's new settings not in status: $st"
pttl() { redis-cli -p "$r_PORT" PTTL 'rl+0+a+attachment_time'; }
long_ttl() { [ "$(pttl)" -gt 1500 ]; }
h_wait_until 10 long_ttl || h_fail "the node's key lives $(pttl) ms: ttl_ms 3000 not applied"
agg_log_has a "'election.cluster' cannot change at runtime: keeping the old value until restart" \
    || h_fail "the changed cluster was not logged as restart-only"
grep -q '"cluster":"rl"' <<< "$st" || h_fail "the cluster changed at runtime: $st"
[ -z "$(redis-cli -p "$r_PORT" --scan --pattern 'rlx+*')" ] || h_fail "keys of cluster rlx in Redis: $(redis-cli -p "$r_PORT" --scan --pattern 'rlx+*')"
h_ok "election: interval_ms and ttl_ms applied at reload (the key lives $(pttl) ms); cluster (restart only) logged and kept"

# the sweep's interval: 3600 (a reload runs one cycle), then 1: cycles run on
# their own (at 3600 only the reload's one would)
conf "$conf" 3600 20 5 300 3000 rlx m1 m2
reload "sweep: interval 1 -> 3600"
cycles_past() { [ "$(agg_metric a aggregatord_sweep_cycles_total)" -gt "$1" ]; }
# the reload's cycle is over (cycles_total counts a cycle at its end)
h_wait_until 20 cycles_past "$(metric_sum "$H_TMP/metrics.$nreload.before" aggregatord_sweep_cycles_total)" \
    || h_fail "no cycle after the reload to interval 3600"
c0=$(agg_metric a aggregatord_sweep_cycles_total)
conf "$conf" 1 20 5 300 3000 rlx m1 m2
reload "sweep: interval 3600 -> 1"
h_wait_until 20 sh -c "[ \$(curl -s $a_URL/metrics | awk '\$1 == \"aggregatord_sweep_cycles_total\" { print \$2 }') -ge $((c0 + 3)) ]" \
    || h_fail "interval 1 not applied: cycles $(agg_metric a aggregatord_sweep_cycles_total), $c0 before the reload"
h_ok "sweep: interval applied at reload (3600, then 1: cycles run again on their own)"

# --- a member removed: its series go, the other's continue ---
conf "$conf" 1 20 5 300 3000 rlx m1
reload "sweep: member m2 removed" 'member="m2"'
if grep -q 'member="m2"' "$LAST_SCRAPE"; then h_fail "m2's series still shown after its removal"; fi
[ "$(metric_sum "$LAST_SCRAPE" 'aggregatord_sweep_rows_moved_total{member="m1"}')" -gt 0 ] || h_fail "m1's counters lost"
h_ok "a member removed: its series disappear, the other member's continue"
