#!/usr/bin/env bash
# test_rollup.sh — two location daemons and one master on one machine, a
# real InfluxDB 1.6 loaded with known samples for two locations: files per
# account appear with exactly the expected figures; the master merges them;
# with one location stopped the master writes an incomplete hour, and when
# it comes back the hour becomes complete without double counting; the
# /v1/usage API refuses hostile paths; a hostile account tag stays inside
# state_dir; an hour of 1,030 VMs (past the collector's first allocation)
# comes out whole; reruns give byte-identical files.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { for n in la lb m; do agg_dump_log $n; done; cat "$H_TMP"/once*.log >&2 2>/dev/null || true; }; h_cleanup' EXIT
CLI=$H_TOP/$AGG_BUILD/usage_cli

h_start_influxdb i
for db in usage_a usage_b; do h_influx i "CREATE DATABASE $db" > /dev/null; done
now=$(date +%s)
H=$(( now / 3600 * 3600 - 3 * 3600 ))		# a full hour, three hours ago
HT=$(date -u -d "@$H" +%Y-%m-%dT%H)
HP=$(date -u -d "@$H" +%Y/%m/%d/%H)
# loc-a: acme/vm1 (a counter reset inside the hour), acme/vm2, beta/vm3;
# loc-b: acme/vm9; a hostile account tag on loc-b.
{
    # the sample before the hour: counters' starting point only
    echo "vm_usage,account=acme,cloudspace=cs1,vm=vm1 mem_mib=999,disk_gib=999,cpu_seconds=1000,io_read=10,io_write=20,net_tx_bytes=100,net_rx_bytes=200 $((H - 60))"
    echo "vm_usage,account=acme,cloudspace=cs1,vm=vm1 mem_mib=100,disk_gib=10,cpu_seconds=1060,io_read=15,io_write=25,net_tx_bytes=150,net_rx_bytes=250 $H"
    echo "vm_usage,account=acme,cloudspace=cs1,vm=vm1 mem_mib=200,disk_gib=30,cpu_seconds=30,io_read=5,io_write=30,net_tx_bytes=160,net_rx_bytes=260 $((H + 1800))"
    echo "vm_usage,account=acme,cloudspace=cs1,vm=vm1 mem_mib=300,disk_gib=20,cpu_seconds=90,io_read=8,io_write=40,net_tx_bytes=200,net_rx_bytes=300 $((H + 3540))"
    echo "vm_usage,account=acme,cloudspace=cs1,vm=vm1 mem_mib=5000,disk_gib=500,cpu_seconds=9999,io_read=99,io_write=99,net_tx_bytes=999,net_rx_bytes=999 $((H + 3600))"
    echo "vm_usage,account=acme,cloudspace=cs2,vm=vm2 mem_mib=64,disk_gib=5,cpu_seconds=7,io_read=1,io_write=1,net_tx_bytes=1,net_rx_bytes=1 $((H + 600))"
    echo "vm_usage,account=beta,cloudspace=cs3,vm=vm3 mem_mib=10,disk_gib=1,cpu_seconds=0,io_read=0,io_write=0,net_tx_bytes=0,net_rx_bytes=0 $((H + 60))"
    echo "vm_usage,account=beta,cloudspace=cs3,vm=vm3 mem_mib=30,disk_gib=1,cpu_seconds=3600,io_read=4,io_write=4,net_tx_bytes=4,net_rx_bytes=4 $((H + 3600 - 1))"
} | h_influx_write i usage_a
{
    echo "vm_usage,account=acme,cloudspace=cs9,vm=vm9 mem_mib=1024,disk_gib=100,cpu_seconds=500,io_read=1,io_write=1,net_tx_bytes=1,net_rx_bytes=1 $((H + 60))"
    echo "vm_usage,account=acme,cloudspace=cs9,vm=vm9 mem_mib=2048,disk_gib=100,cpu_seconds=800,io_read=2,io_write=2,net_tx_bytes=2,net_rx_bytes=2 $((H + 120))"
    echo "vm_usage,account=../../../etc,cloudspace=x,vm=evil mem_mib=1,disk_gib=1,cpu_seconds=1,io_read=1,io_write=1,net_tx_bytes=1,net_rx_bytes=1 $((H + 60))"
} | h_influx_write i usage_b

declare -A HP_ ; token=loc-secret
loc_conf() {	# NAME LOC DB
    HP_[$1]=$(h_free_port tcp)
    cat > "$H_TMP/$1.conf" <<CONF
node = { name = "$1"; state_dir = "$H_TMP/state-$1"; };
http = { listen = "127.0.0.1:${HP_[$1]}"; token = "$token"; };
rollup = { role = "location"; location = "$2"; catch_up_hours = 0;
  influxdb = { url = "$i_URL"; db = "$3"; timeout = 10; }; };
CONF
}
loc_conf la loc-a usage_a
loc_conf lb loc-b usage_b
HP_[m]=$(h_free_port tcp)
cat > "$H_TMP/m.conf" <<CONF
node = { name = "m"; state_dir = "$H_TMP/state-m"; };
http = { listen = "127.0.0.1:${HP_[m]}"; };
rollup = { role = "master"; retry_s = 1;
  locations = ( { name = "loc-a"; url = "http://127.0.0.1:${HP_[la]}"; token = "$token"; },
                { name = "loc-b"; url = "http://127.0.0.1:${HP_[lb]}"; token = "$token"; } ); };
CONF
n_once=0
once() {	# NAME -> --once rollup --hour H
    n_once=$((n_once + 1))
    "$AGGD" -c "$H_TMP/$1.conf" --once rollup --hour "$HT" > "$H_TMP/once$n_once.log" 2>&1
}
show() { "$CLI" decode "$1" | grep '^vm\[' | sed 's/^vm\[[0-9]*\]: //'; }

# --- locations roll up the hour ---
once la || h_fail "loc-a rollup failed: $(cat "$H_TMP/once$n_once.log")"
once lb || h_fail "loc-b rollup failed"
f=$H_TMP/state-la/usage/acme/$HP.bin
[ -f "$f" ] || h_fail "no file $f"
show "$f" > "$H_TMP/acme-a.txt"
# vm1: mem mean (100+200+300)/3; disk max 30; cpu 60 + (reset) 30 + 60 = 150;
# io_read 5 + 5 + 3 = 13; io_write 5+5+10 = 20; tx 50+10+40 = 100; rx 50+10+40 = 100; 3 samples
grep -qx 'location=loc-a cloudspace=cs1 vm=vm1 mem_mib_mean=200 disk_gib_max=30 cpu_seconds=150 io_read=13 io_write=20 net_tx_bytes=100 net_rx_bytes=100 samples=3' "$H_TMP/acme-a.txt" \
    || h_fail "vm1's hour is wrong: $(cat "$H_TMP/acme-a.txt")"
grep -qx 'location=loc-a cloudspace=cs2 vm=vm2 mem_mib_mean=64 disk_gib_max=5 cpu_seconds=0 io_read=0 io_write=0 net_tx_bytes=0 net_rx_bytes=0 samples=1' "$H_TMP/acme-a.txt" \
    || h_fail "vm2's hour is wrong: $(cat "$H_TMP/acme-a.txt")"
show "$H_TMP/state-la/usage/beta/$HP.bin" | grep -qx 'location=loc-a cloudspace=cs3 vm=vm3 mem_mib_mean=20 disk_gib_max=1 cpu_seconds=3600 io_read=4 io_write=4 net_tx_bytes=4 net_rx_bytes=4 samples=2' \
    || h_fail "beta's hour is wrong"
h_ok "location files per account with the expected figures (mean, max, increases across a reset, the sample before the hour)"

# hostile tag: skipped, nothing outside state_dir
[ ! -e "$H_TMP/state-lb/etc" ] && [ ! -e "$H_TMP/etc" ] || h_fail "a hostile account tag escaped"
ls "$H_TMP/state-lb/usage" | grep -qx acme || h_fail "loc-b wrote no acme file"
[ "$(ls "$H_TMP/state-lb/usage" | grep -cv '^\.')" = 1 ] || h_fail "loc-b wrote more than acme: $(ls -a "$H_TMP/state-lb/usage")"
h_ok "a hostile account tag is skipped and stays inside state_dir"

# --- an hour of 1,030 VMs (past the collector's first 1,024 entries) ---
# loc-c: VM i (1..1030) of account acc-(i % 3), one sample with mem i and
# disk i % 7; two more hostile account tags (each skipped, one logged).
h_influx i "CREATE DATABASE usage_c" > /dev/null
for i in $(seq 1 1030); do
    echo "vm_usage,account=acc-$((i % 3)),cloudspace=cs,vm=v$i mem_mib=$i,disk_gib=$((i % 7)),cpu_seconds=0,io_read=0,io_write=0,net_tx_bytes=0,net_rx_bytes=0 $((H + i))"
done > "$H_TMP/many.lp"
{ cat "$H_TMP/many.lp"
  echo "vm_usage,account=a\ b,cloudspace=x,vm=evil mem_mib=1,disk_gib=1,cpu_seconds=1,io_read=1,io_write=1,net_tx_bytes=1,net_rx_bytes=1 $((H + 60))"
  echo "vm_usage,account=.hidden,cloudspace=x,vm=evil mem_mib=1,disk_gib=1,cpu_seconds=1,io_read=1,io_write=1,net_tx_bytes=1,net_rx_bytes=1 $((H + 60))"
} | h_influx_write i usage_c
loc_conf lc loc-c usage_c
once lc || h_fail "loc-c rollup failed: $(cat "$H_TMP/once$n_once.log")"
for a in 0 1 2; do
    show "$H_TMP/state-lc/usage/acc-$a/$HP.bin" > "$H_TMP/got-$a.txt"
    for i in $(seq 1 1030); do
        [ $((i % 3)) != $a ] || echo "location=loc-c cloudspace=cs vm=v$i mem_mib_mean=$i disk_gib_max=$((i % 7)) cpu_seconds=0 io_read=0 io_write=0 net_tx_bytes=0 net_rx_bytes=0 samples=1"
    done | sort > "$H_TMP/want-$a.txt"
    diff "$H_TMP/want-$a.txt" <(sort "$H_TMP/got-$a.txt") > "$H_TMP/diff.txt" \
        || h_fail "acc-$a's hour of many VMs differs: $(head -5 "$H_TMP/diff.txt")"
done
[ "$(ls "$H_TMP/state-lc/usage" | grep -v '^\.' | tr '\n' ' ')" = "acc-0 acc-1 acc-2 " ] \
    || h_fail "loc-c wrote: $(ls -a "$H_TMP/state-lc/usage")"
[ "$(grep -c "is not a safe file name" "$H_TMP/once$n_once.log")" = 1 ] || h_fail "the skipped names not logged once: $(cat "$H_TMP/once$n_once.log")"
h_ok "an hour of 1,030 VMs: every VM exactly once in its account's file; two more hostile tags skipped, logged once"

# reruns are byte-identical
md5=$(md5sum < "$f")
once la || h_fail "rerun failed"
[ "$(md5sum < "$f")" = "$md5" ] || h_fail "a rerun changed the file"
h_ok "rerunning an hour gives byte-identical files"

# --- the locations serve their files; the API refuses hostile paths ---
agg_start la "$H_TMP/la.conf"
agg_start lb "$H_TMP/lb.conf"
export AGG_TOKEN=$token
h_wait_until 10 agg_healthy la && h_wait_until 10 agg_healthy lb || h_fail "locations did not start"
agg_get la "/v1/usage/$HP" | grep -q '"accounts":\["acme","beta"\]' || h_fail "hour listing: $(agg_get la "/v1/usage/$HP")"
agg_get la "/v1/usage/$HP/acme.bin" -o "$H_TMP/got.bin"
cmp -s "$H_TMP/got.bin" "$f" || h_fail "served file differs"
code() { curl -s -o /dev/null -w '%{http_code}' --path-as-is -H "Authorization: Bearer $token" "$@"; }
[ "$(code "$la_URL/v1/usage/$HP/..%2f..%2fetc.bin")" = 400 ] || h_fail "traversal in the account not refused"
[ "$(code "$la_URL/v1/usage/$HP/../../../x")" = 400 ] || h_fail "dot-dot not refused"
[ "$(code "$la_URL/v1/usage/2026/13/01/00")" = 400 ] || h_fail "bad hour not refused"
[ "$(code "$la_URL/v1/usage/$HP/nobody.bin")" = 404 ] || h_fail "missing file not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$la_URL/v1/usage/$HP")" = 401 ] || h_fail "no token not refused"
h_ok "GET /v1/usage lists and serves files; hostile paths get 400, missing 404, no token 401"

# --- the master merges both locations ---
once m || h_fail "master failed: $(cat "$H_TMP/once$n_once.log")"
mf=$H_TMP/state-m/usage/acme/$HP.bin
"$CLI" decode "$mf" > "$H_TMP/merged.txt"
grep -qx 'complete: true' "$H_TMP/merged.txt" && grep -qx 'locations: loc-a loc-b' "$H_TMP/merged.txt" \
    || h_fail "merged header: $(head -5 "$H_TMP/merged.txt")"
[ "$(grep -c '^vm\[' "$H_TMP/merged.txt")" = 3 ] || h_fail "merged acme should have 3 VMs"
grep -q 'location=loc-b cloudspace=cs9 vm=vm9 mem_mib_mean=1536 disk_gib_max=100 cpu_seconds=300 ' "$H_TMP/merged.txt" \
    || h_fail "loc-b's VM wrong in the merge: $(cat "$H_TMP/merged.txt")"
h_ok "master merges per account with the contributing locations"

# --- a location down: incomplete, then complete without double counting ---
rm -rf "$H_TMP/state-m"
h_stop lb
once m && h_fail "master reported success with a location down" || true
grep -q "location 'loc-b'" "$H_TMP/once$n_once.log" || h_fail "the missing location is not named"
"$CLI" decode "$mf" > "$H_TMP/partial.txt"
grep -qx 'complete: false' "$H_TMP/partial.txt" && grep -qx 'locations: loc-a' "$H_TMP/partial.txt" \
    || h_fail "partial hour header: $(head -5 "$H_TMP/partial.txt")"
[ -f "$H_TMP/state-m/usage/beta/$HP.bin" ] || h_fail "the other location's accounts were not written"
# What the merged hours must hold, worked out from the samples loaded above
# (not from a merge): acme's three VMs once each, beta's one.
want_acme() { sort <<'EOF'
location=loc-a cloudspace=cs1 vm=vm1 mem_mib_mean=200 disk_gib_max=30 cpu_seconds=150 io_read=13 io_write=20 net_tx_bytes=100 net_rx_bytes=100 samples=3
location=loc-a cloudspace=cs2 vm=vm2 mem_mib_mean=64 disk_gib_max=5 cpu_seconds=0 io_read=0 io_write=0 net_tx_bytes=0 net_rx_bytes=0 samples=1
location=loc-b cloudspace=cs9 vm=vm9 mem_mib_mean=1536 disk_gib_max=100 cpu_seconds=300 io_read=1 io_write=1 net_tx_bytes=1 net_rx_bytes=1 samples=2
EOF
}
want_beta='location=loc-a cloudspace=cs3 vm=vm3 mem_mib_mean=20 disk_gib_max=1 cpu_seconds=3600 io_read=4 io_write=4 net_tx_bytes=4 net_rx_bytes=4 samples=2'
check_master() {	# WHEN: master's acme and beta hours against the oracle, complete
    "$CLI" decode "$mf" > "$H_TMP/m-acme.txt"
    grep -qx 'complete: true' "$H_TMP/m-acme.txt" && grep -qx 'locations: loc-a loc-b' "$H_TMP/m-acme.txt" \
        || h_fail "$1: acme's header: $(head -5 "$H_TMP/m-acme.txt")"
    show "$mf" | sort | diff <(want_acme) - > "$H_TMP/diff.txt" || h_fail "$1: acme's hour differs from the samples: $(cat "$H_TMP/diff.txt")"
    [ "$(show "$H_TMP/state-m/usage/beta/$HP.bin")" = "$want_beta" ] \
        || h_fail "$1: beta's hour: $(show "$H_TMP/state-m/usage/beta/$HP.bin")"
}
show "$mf" | sort | diff <(want_acme | grep '^location=loc-a ') - > "$H_TMP/diff.txt" \
    || h_fail "the partial hour differs from loc-a's samples: $(cat "$H_TMP/diff.txt")"
agg_start lb "$H_TMP/lb.conf"
h_wait_until 10 agg_healthy lb || h_fail "loc-b did not come back"
once m || h_fail "master after the location came back failed"
check_master "rebuilt once loc-b is back"
"$CLI" decode "$mf" > "$H_TMP/again.txt"
diff "$H_TMP/merged.txt" "$H_TMP/again.txt" > /dev/null || h_fail "the rebuilt hour differs from the all-up merge: $(diff "$H_TMP/merged.txt" "$H_TMP/again.txt")"
once m || h_fail "a second rebuild failed"
check_master "rebuilt a second time"
h_ok "a stopped location: incomplete hour with what arrived; back: complete, nothing counted twice"

# --- retention_days prunes old files (the daemon prunes at start, then hourly) ---
old=$(date -u -d '-500 days' +%Y/%m/%d)
recent=$(date -u -d '-10 days' +%Y/%m/%d)
mkdir -p "$H_TMP/state-la/usage/acme/$old" "$H_TMP/state-la/usage/acme/$recent"
cp "$f" "$H_TMP/state-la/usage/acme/$old/05.bin"
cp "$f" "$H_TMP/state-la/usage/acme/$recent/05.bin"
h_stop la
sed -i 's/^rollup = { role = "location";/rollup = { role = "location"; retention_days = 400;/' "$H_TMP/la.conf"
agg_start la "$H_TMP/la.conf"
h_wait_until 10 sh -c "[ ! -e '$H_TMP/state-la/usage/acme/$old' ]" || h_fail "a 500-day-old file was not pruned"
[ -f "$H_TMP/state-la/usage/acme/$recent/05.bin" ] && [ -f "$f" ] || h_fail "retention pruned recent files"
h_ok "retention_days prunes files older than the limit, keeps the rest"

# --- retention_days prunes the hour markers with the files they describe ---
# An hour three days back, planted from hour H's files and markers on loc-a
# and on the master (its merged files and both kept copies), and entries
# that are not hours; retention_days = 1.  After the daemons' first prune
# the old hour's files and markers are gone, hour H (three hours ago) keeps
# its own, is still served and merges exactly; the other entries stay.
OH=$((H - 72 * 3600)); OK=$(date -u -d "@$OH" +%Y%m%d%H); OP=$(date -u -d "@$OH" +%Y/%m/%d/%H)
HK=$(date -u -d "@$H" +%Y%m%d%H)
plant_old() {	# DIR: usage/ or a kept copy; hour OH from hour H, and two non-hours
    local d=$1 a k
    for a in $(cat "$d/.index/$HK"); do mkdir -p "$d/$a/${OP%/*}"; cp "$d/$a/$HP.bin" "$d/$a/$OP.bin"; done
    for k in index done merged; do [ ! -e "$d/.$k/$HK" ] || cp "$d/.$k/$HK" "$d/.$k/$OK"; done
    touch "$d/.index/notanhour" "$d/.done/$OK.tmp.1"
}
marks() {	# DIR KEY: the markers an hour has below DIR, one a line
    for k in index done merged; do [ ! -e "$1/.$k/$2" ] || echo "$k"; done
}
h_stop la
sed -i 's/retention_days = 400;/retention_days = 1;/' "$H_TMP/la.conf"
plant_old "$H_TMP/state-la/usage"
for d in usage locations/loc-a locations/loc-b; do plant_old "$H_TMP/state-m/$d"; done
[ "$(marks "$H_TMP/state-m/usage" "$OK" | tr '\n' ' ')" = "index done merged " ] \
    && [ "$(marks "$H_TMP/state-m/locations/loc-b" "$OK" | tr '\n' ' ')" = "index done " ] \
    && [ -f "$H_TMP/state-m/locations/loc-b/acme/$OP.bin" ] || h_fail "the old hour was not planted"
sed -i 's/^rollup = { role = "master";/rollup = { role = "master"; retention_days = 1; late_hours = 0;/' "$H_TMP/m.conf"
agg_start la "$H_TMP/la.conf"
agg_start m "$H_TMP/m.conf"
old_left() { find "$H_TMP/state-la" "$H_TMP/state-m" \( -name "$OK" -o -path "*/$OP.bin" \); }
h_wait_until 10 sh -c "[ -z \"\$(find '$H_TMP/state-la' '$H_TMP/state-m' \\( -name '$OK' -o -path '*/$OP.bin' \\))\" ]" \
    || h_fail "the old hour's files or markers were not pruned: $(old_left | sed "s|$H_TMP/||" | tr '\n' ' ')"
for d in state-la/usage state-m/usage state-m/locations/loc-a state-m/locations/loc-b; do
    [ -f "$H_TMP/$d/acme/$HP.bin" ] && [ -f "$H_TMP/$d/.index/$HK" ] && [ -f "$H_TMP/$d/.done/$HK" ] \
        || h_fail "$d: hour $HT lost its files or markers"
    [ -f "$H_TMP/$d/.index/notanhour" ] && [ -f "$H_TMP/$d/.done/$OK.tmp.1" ] || h_fail "$d: an entry that is no hour was pruned"
done
[ -f "$H_TMP/state-m/usage/.merged/$HK" ] || h_fail "the master's merged record of hour $HT was pruned"
agg_get la "/v1/usage/$HP" | grep -q '"accounts":\["acme","beta"\]' || h_fail "hour $HT listing after the prune: $(agg_get la "/v1/usage/$HP")"
[ "$(code "$la_URL/v1/usage/$OP")" = 404 ] || h_fail "the pruned hour is still listed: $(agg_get la "/v1/usage/$OP")"
h_stop m
once m || h_fail "master after the prune failed: $(cat "$H_TMP/once$n_once.log")"
check_master "merged again after the prune"
h_ok "retention_days prunes an old hour's markers with its files (location, master, kept copies); the recent hour is kept, served and merged exactly"

# hours the schedule would redo must be kept: -n refuses more
refused() {	# CONF KEY VALUE
    local err rc
    set +e; err=$("$AGGD" -n -c "$1" 2>&1); rc=$?; set -e
    [ $rc -eq 78 ] && echo "$err" | grep -q "'rollup.$2' ($3) reaches back further than 'rollup.retention_days' (1) keeps" \
        || h_fail "-n on $2 = $3 with retention_days = 1 (exit $rc): $err"
}
sed 's/catch_up_hours = 0;/catch_up_hours = 23;/' "$H_TMP/la.conf" > "$H_TMP/la23.conf"
refused "$H_TMP/la23.conf" catch_up_hours 23
sed 's/catch_up_hours = 0;/catch_up_hours = 22;/' "$H_TMP/la.conf" > "$H_TMP/la22.conf"
[ "$("$AGGD" -n -c "$H_TMP/la22.conf" 2>/dev/null)" = "configuration OK" ] || h_fail "-n on catch_up_hours = 22: $("$AGGD" -n -c "$H_TMP/la22.conf" 2>&1)"
sed 's/ late_hours = 0;//' "$H_TMP/m.conf" > "$H_TMP/m24.conf"
refused "$H_TMP/m24.conf" late_hours 24
h_ok "-n refuses catch_up_hours or late_hours reaching back past retention_days, naming both keys"

# --- a location whose InfluxDB fails still prunes: it backs off from the
# rolling, not from the prune (before, run_due returned before pruning) ---
h_stop la
plant_old "$H_TMP/state-la/usage"
[ -f "$H_TMP/state-la/usage/acme/$OP.bin" ] && [ -f "$H_TMP/state-la/usage/.done/$OK" ] || h_fail "the old hour was not planted again"
sed "s|url = \"$i_URL\"|url = \"http://127.0.0.1:$(h_free_port tcp)\"|; s/catch_up_hours = 0;/catch_up_hours = 2;/" \
    "$H_TMP/la.conf" > "$H_TMP/la-dead.conf"
grep -q "catch_up_hours = 2;" "$H_TMP/la-dead.conf" && ! grep -q "$i_URL" "$H_TMP/la-dead.conf" || h_fail "la-dead.conf not made"
agg_start la "$H_TMP/la-dead.conf"
h_wait_until 10 agg_log_has la "retrying in" || h_fail "the location with a dead InfluxDB did not fail an hour"
la_old_left() { find "$H_TMP/state-la" \( -name "$OK" -o -path "*/$OP.bin" \); }
h_wait_until 10 eval '[ -z "$(la_old_left)" ]' || h_fail "a location backing off did not prune: $(la_old_left | sed "s|$H_TMP/||" | tr '\n' ' ')"
h_stop la
agg_start la "$H_TMP/la.conf"
h_wait_until 10 agg_healthy la || h_fail "la did not start again"
h_ok "a location backing off from a failing InfluxDB still prunes the old hour's files and markers"

# --- as a daemon: metrics pass promtool ---
agg_get la /metrics > "$H_TMP/metrics.txt"
promtool check metrics < "$H_TMP/metrics.txt" || h_fail "promtool rejects the rollup metrics"
h_stop la; h_stop lb
h_ok "rollup metrics pass promtool; clean stops"
