#!/usr/bin/env bash
# test_fault_rollup.sh — the rollup master as a daemon, against locations
# that fail.  Two real location daemons (loc-a, loc-b) whose InfluxDB is a
# closed port, so they write nothing themselves: the test places each
# location's hour files, index and done marker in its state_dir by hand
# (usage_cli synth, four VMs a file labelled with the location), and the
# daemon serves them through its own API.  The oracle: the VM lines of each
# file placed, decoded before the master ever sees them; a merged file must
# hold exactly the lines of the honest files for that account and hour.
#   1. One master, hours H (the last whole one) back to H-5, each with its
#      own fault at loc-b: H all honest (acme at both, beta at loc-a only);
#      H-1 loc-b has no listing yet (404), then its file arrives late;
#      H-2 loc-b's acme.bin holds beta's records; H-3 loc-b's acme.bin
#      holds hour H-4; H-4 loc-b's acme.bin is not a usage file; H-5
#      loc-b serves loc-a's own file (two names configured for one location
#      would count its VMs twice).  Each bad
#      hour is merged with exactly loc-a's VMs, incomplete, and loc-b's
#      copy of it is not kept as done; the master asks loc-b again every
#      retry_s (the errors counted keep growing); once loc-b serves the
#      honest files every hour is completed, exactly both locations' VMs.
#   2. A fresh master whose usage/ is a full 256 KiB tmpfs: no merged file,
#      no temp file left, the failure counted; the kept copies are done, so
#      nothing is fetched again, yet once space is freed the hours are
#      merged, complete and exact (the failed merge is retried).
#   3. A master reloaded from [loc-x] (a closed port, retry_s 3600) to
#      [loc-a, loc-x, loc-n, loc-e]: loc-a, new in the list, is asked at
#      once (a retry time kept by position would have made it wait an
#      hour); loc-n answers a page that is not an hour listing; loc-e (a
#      static file server: no location of ours can list a bad name) lists
#      "../../escape", "a/b", ".hidden" and a number: refused and counted
#      in aggregatord_rollup_skipped_accounts_total, nothing written
#      outside state_dir; acme for H holds exactly loc-a's VMs, incomplete;
#      loc-g (the static server too) lists acme for H and answers 404 for its
#      file, loc-d lists it and closes without a byte when asked for the
#      file: nothing of loc-g or loc-d kept, acme unchanged.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
MNT=
cleanup() {
    local rc=$1
    [ -z "$MNT" ] || umount "$MNT" 2>/dev/null || true
    [ "$rc" -eq 0 ] || for n in m m2 m3 la lb; do agg_dump_log $n; done
    h_cleanup
}
trap 'cleanup $?' EXIT
CLI=$H_TOP/$AGG_BUILD/usage_cli

# the masters work on the last whole hour and the ones before it: the test
# must not straddle an hour
agg_room_before 3600
now=$(date +%s)
H=$(( now / 3600 * 3600 - 3600 ))
hp() { date -u -d "@$1" +%Y/%m/%d/%H; }
hk() { date -u -d "@$1" +%Y%m%d%H; }
dead=$(h_free_port tcp)		# nothing listens here: InfluxDB and loc-x
token=loc-secret
export AGG_TOKEN=$token

declare -A PORT LOC=([la]=loc-a [lb]=loc-b)
for n in la lb; do
    PORT[$n]=$(h_free_port tcp)
    cat > "$H_TMP/$n.conf" <<CONF
node = { name = "$n"; state_dir = "$H_TMP/state-$n"; };
http = { listen = "127.0.0.1:${PORT[$n]}"; token = "$token"; };
rollup = { role = "location"; location = "${LOC[$n]}"; catch_up_hours = 0; delay = 0;
  influxdb = { url = "http://127.0.0.1:$dead"; timeout = 2; }; };
CONF
done

# place N HOUR ACCOUNT SEED [HONEST|other-account A|other-hour H2|other-location L|garbage]:
# N's file for ACCOUNT and HOUR, listed in its index and the hour marked
# done.  An honest file's VM lines go to $H_TMP/want-<hour>-<account>-<N>.
place() {
    local n=$1 h=$2 acc=$3 seed=$4 how=${5:-honest} arg=${6:-}
    local d=$H_TMP/state-$n/usage f
    f=$d/$acc/$(hp "$h").bin
    mkdir -p "${f%/*}" "$d/.index" "$d/.done"
    case $how in
    honest) "$CLI" synth 4 --account "$acc" --hour "$h" --seed "$seed" --location "${LOC[$n]}" "$f.new" ;;
    other-account) "$CLI" synth 4 --account "$arg" --hour "$h" --seed "$seed" --location "${LOC[$n]}" "$f.new" ;;
    other-hour) "$CLI" synth 4 --account "$acc" --hour "$arg" --seed "$seed" --location "${LOC[$n]}" "$f.new" ;;
    other-location) "$CLI" synth 4 --account "$acc" --hour "$h" --seed "$seed" --location "$arg" "$f.new" ;;
    garbage) head -c 3000 /dev/urandom > "$f.new" ;;
    esac
    mv "$f.new" "$f"
    grep -qx "$acc" "$d/.index/$(hk "$h")" 2>/dev/null || echo "$acc" >> "$d/.index/$(hk "$h")"
    : > "$d/.done/$(hk "$h")"
    local want=$H_TMP/want-$(hk "$h")-$acc-$n
    rm -f "$want"
    [ "$how" != honest ] || "$CLI" decode "$f" | sed -n 's/^vm\[[0-9]*\]: //p' > "$want"
    [ "$how" != honest ] || [ "$(wc -l < "$want")" = 4 ] || h_fail "the oracle for $f: $(cat "$want")"
}

# merged M HOUR ACCOUNT COMPLETE LOCS N...: master M's merged file for
# ACCOUNT and HOUR says COMPLETE and LOCS and holds exactly the VM lines
# placed honestly at locations N...
merged() {
    local m=$1 h=$2 acc=$3 complete=$4 locs=$5 n want=() f
    shift 5
    f=$H_TMP/state-$m/usage/$acc/$(hp "$h").bin
    [ -f "$f" ] || { h__err "$m: no merged file for $acc $(hp "$h")"; return 1; }
    "$CLI" decode "$f" > "$H_TMP/got.txt" || return 1
    grep -qx "complete: $complete" "$H_TMP/got.txt" && grep -qx "locations: $locs" "$H_TMP/got.txt" \
        || { h__err "$m $acc $(hp "$h"): $(head -5 "$H_TMP/got.txt" | tr '\n' ';')"; return 1; }
    for n; do want+=("$H_TMP/want-$(hk "$h")-$acc-$n"); done
    diff <(sed -n 's/^vm\[[0-9]*\]: //p' "$H_TMP/got.txt" | sort) <(cat "${want[@]}" | sort) >&2 \
        || { h__err "$m $acc $(hp "$h"): the merged VMs differ from the oracle (above)"; return 1; }
}
kept_done() {	# M LOC HOUR: M keeps LOC's copy of HOUR as done
    [ -e "$H_TMP/state-$1/locations/$2/.done/$(hk "$3")" ]
}

# hours and their faults at loc-b (loc-a is honest everywhere)
place la $H acme 1; place la $H beta 2; place lb $H acme 3
place la $((H - 3600)) acme 4					# loc-b: no listing yet
place la $((H - 7200)) acme 6; place lb $((H - 7200)) acme 7 other-account beta
place la $((H - 10800)) acme 8; place lb $((H - 10800)) acme 9 other-hour $((H - 14400))
place la $((H - 14400)) acme 10; place lb $((H - 14400)) acme 11 garbage
place la $((H - 18000)) acme 12; place lb $((H - 18000)) acme 13 other-location loc-a	# a second name for loc-a's URL
agg_start la "$H_TMP/la.conf"
agg_start lb "$H_TMP/lb.conf"
for n in la lb; do
    h_wait_until 15 eval "agg_get $n /v1/usage/$(hp $H) 2>/dev/null | grep -q acme" \
        || h_fail "$n does not serve its hour: $(agg_get $n "/v1/usage/$(hp $H)")"
done

master_conf() {	# NAME LATE_HOURS RETRY_S LOCATIONS...: LOCATIONS as name=url
    local m=$1 late=$2 retry=$3 l list=
    shift 3
    [ -n "${PORT[$m]:-}" ] || PORT[$m]=$(h_free_port tcp)
    for l; do list+="${list:+,}
    { name = \"${l%%=*}\"; url = \"${l#*=}\"; token = \"$token\"; }"; done
    cat > "$H_TMP/$m.conf" <<CONF
node = { name = "$m"; state_dir = "$H_TMP/state-$m"; };
http = { listen = "127.0.0.1:${PORT[$m]}"; token = "$token"; };
rollup = { role = "master"; retry_s = $retry; at_minute = 0; delay = 0; late_hours = $late;
  influxdb = { timeout = 3; }; locations = ( $list ); };
CONF
}
LA=http://127.0.0.1:${PORT[la]}
LB=http://127.0.0.1:${PORT[lb]}

# --- 1. faults at loc-b, hour by hour; loc-b asked again until it serves the right files ---
master_conf m 5 3 loc-a=$LA loc-b=$LB
agg_start m "$H_TMP/m.conf"
first() {
    merged m $H acme true "loc-a loc-b" la lb && merged m $H beta true loc-a la &&
        for k in 1 2 3 4 5; do merged m $((H - 3600 * k)) acme false loc-a la || return 1; done
}
h_wait_until 30 first 2>/dev/null || { first; h_fail "the first merge of hours H..H-5"; }
for k in 1 2 3 4 5; do ! kept_done m loc-b $((H - 3600 * k)) || h_fail "loc-b's copy of H-$k kept as done"; done
h_ok "hour H merged complete and exact from both locations; H-1..H-5 merged with exactly loc-a's VMs, incomplete, loc-b's copies not kept"
agg_log_has m "location 'loc-b': GET .*/$(hp $((H - 3600))): HTTP 404" || h_fail "no 404 logged for H-1"
agg_log_has m "location 'loc-b': acme.bin is not that account's hour" || h_fail "another account's file not refused"
[ "$(grep -c "acme.bin is not that account's hour" "$H_TMP/m.log")" -ge 2 ] || h_fail "another hour's file not refused"
agg_log_has m "location 'loc-b': acme.bin: " || h_fail "the undecodable file not refused"
agg_log_has m "location 'loc-b': acme.bin is the file of location 'loc-a'" || h_fail "loc-a's file served as loc-b's not refused"
h_ok "loc-b refused: listing 404 (H-1), beta's records as acme.bin (H-2), hour H-4 as H-3, a file that is not a usage file (H-4), loc-a's own file (H-5: two names for one location would count it twice)"
e0=$(agg_metric m aggregatord_rollup_errors_total)
h_wait_until 30 eval '[ "$(agg_metric m aggregatord_rollup_errors_total)" -gt '"$e0"' ]' \
    || h_fail "loc-b not asked again: errors_total stays $e0"
[ "$(agg_metric m aggregatord_rollup_locations_missing)" = 1 ] || h_fail "locations_missing $(agg_metric m aggregatord_rollup_locations_missing)"
h_ok "loc-b asked again after retry_s (aggregatord_rollup_errors_total $e0 -> $(agg_metric m aggregatord_rollup_errors_total)), locations_missing 1"
for k in 1 2 3 4 5; do place lb $((H - 3600 * k)) acme $((20 + k)); done
t0=$(h__now_us)
whole() {
    for k in 0 1 2 3 4 5; do merged m $((H - 3600 * k)) acme true "loc-a loc-b" la lb || return 1; done
    merged m $H beta true loc-a la
}
h_wait_until 40 whole 2>/dev/null || { whole; h_fail "the late and corrected hours were not merged"; }
h_ok "loc-b's late and corrected files fetched in $(h__elapsed "$t0") s: H..H-5 complete, each exactly both locations' VMs"
h_stop m

# --- 2. usage/ full: nothing partial, counted, merged once space is back ---
master_conf m2 1 3 loc-a=$LA loc-b=$LB
MNT=$H_TMP/state-m2/usage
mkdir -p "$MNT"
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$MNT" || h_fail "cannot mount a tmpfs (the test needs root)"
dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
agg_start m2 "$H_TMP/m2.conf"
h_wait_until 30 eval 'kept_done m2 loc-a $H && kept_done m2 loc-b $H && kept_done m2 loc-a $((H - 3600)) && kept_done m2 loc-b $((H - 3600))' \
    || h_fail "the kept copies of H and H-1 were not fetched"
h_wait_until 15 eval '[ "$(agg_metric m2 aggregatord_rollup_errors_total)" -ge 1 ]' || h_fail "the failed merge not counted"
agg_log_has m2 "No space left on device" || h_fail "no ENOSPC logged"
left=$(find "$MNT" -mindepth 1 ! -name filler ! -type d | head -5)
[ -z "$left" ] || h_fail "files left in the full usage/: $left"
h_ok "usage/ full: the kept copies fetched, no merged or temp file left, the failure counted ($(agg_metric m2 aggregatord_rollup_errors_total))"
rm -f "$MNT/filler"
t0=$(h__now_us)
full_ok() {
    for k in 0 1; do merged m2 $((H - 3600 * k)) acme true "loc-a loc-b" la lb || return 1; done
    merged m2 $H beta true loc-a la && [ -e "$MNT/.done/$(hk $H)" ]
}
h_wait_until 30 full_ok 2>/dev/null || { full_ok; h_fail "the hours were not merged once space was back"; }
h_ok "space back: H and H-1 merged in $(h__elapsed "$t0") s, complete and exact"
h_stop m2
umount "$MNT" && MNT=

# --- 3. a reload that puts a new location first; a non-listing; bad account names ---
mkdir -p "$H_TMP/www"
echo '<html>not a listing</html>' > "$H_TMP/www/page.html"
echo '{"hour":"x","complete":true,"accounts":["../../escape","a/b",".hidden",7]}' > "$H_TMP/www/bad.json"
# loc-g: H's listing names acme, whose file is not there (404 after the listing)
mkdir -p "$H_TMP/www/g/v1/usage/$(hp $H)"
rmdir "$H_TMP/www/g/v1/usage/$(hp $H)"
echo '{"hour":"x","complete":true,"accounts":["acme"]}' > "$H_TMP/www/g/v1/usage/$(hp $H)"
PORT[www]=$(h_free_port tcp)
h_spawn www "$H_TMP/www.log" python3 -m http.server --bind 127.0.0.1 --directory "$H_TMP/www" "${PORT[www]}"
h_wait_until 10 h_port_open "${PORT[www]}" || h_fail "the static server did not start"
WWW=http://127.0.0.1:${PORT[www]}
# loc-d: the same listing as loc-g, from a server that closes the
# connection without a byte when asked for a file (no answer after the listing)
cat > "$H_TMP/drop.py" <<'PY'
import http.server, socket, sys
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith(".bin"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        super().do_GET()
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])),
    lambda *a: H(*a, directory=sys.argv[2])).serve_forever()
PY
PORT[drop]=$(h_free_port tcp)
h_spawn drop "$H_TMP/drop.log" python3 "$H_TMP/drop.py" "${PORT[drop]}" "$H_TMP/www"
h_wait_until 10 h_port_open "${PORT[drop]}" || h_fail "the dropping server did not start"
master_conf m3 0 3600 loc-x=http://127.0.0.1:$dead
agg_start m3 "$H_TMP/m3.conf"
h_wait_until 30 eval '[ "$(agg_metric m3 aggregatord_rollup_errors_total)" -ge 1 ]' || h_fail "loc-x was not asked"
master_conf m3 0 3600 loc-a=$LA loc-x=http://127.0.0.1:$dead "loc-n=$WWW/page.html?" "loc-e=$WWW/bad.json?" "loc-g=$WWW/g" "loc-d=http://127.0.0.1:${PORT[drop]}/g"
h_signal m3 HUP
h_wait_until 30 eval 'kept_done m3 loc-a $H' || h_fail "loc-a, put first by a reload, was not asked (loc-x's retry time applied to it)"
h_wait_until 15 eval 'merged m3 $H acme false loc-a la 2>/dev/null' || { merged m3 $H acme false loc-a la; h_fail "acme from loc-a"; }
h_ok "reload from [loc-x] to [loc-a, loc-x, ...]: loc-a asked at once, acme exactly loc-a's VMs, incomplete"
agg_log_has m3 "location 'loc-n': GET .*: not an hour listing" || h_fail "the non-listing not refused"
h_wait_until 15 eval '[ "$(agg_metric m3 aggregatord_rollup_skipped_accounts_total)" = 4 ]' \
    || h_fail "bad account names counted: $(agg_metric m3 aggregatord_rollup_skipped_accounts_total), want 4"
[ -z "$(find "$H_TMP" -name escape -o -name hidden -o -name .hidden | head -3)" ] || h_fail "a bad name reached the disk"
[ ! -e "$H_TMP/state-m3/locations/loc-e/a" ] || h_fail "a/b written"
h_ok "loc-n's page refused as not an hour listing; loc-e's 4 bad account names refused and counted, nothing written for them"
h_wait_until 15 agg_log_has m3 "location 'loc-g': GET $WWW/g/v1/usage/$(hp $H)/acme.bin: HTTP 404" || h_fail "loc-g's missing file not reported"
[ ! -e "$H_TMP/state-m3/locations/loc-g/.done/$(hk $H)" ] && [ ! -e "$H_TMP/state-m3/locations/loc-g/.index/$(hk $H)" ] \
    || h_fail "loc-g's hour kept though its file was missing"
merged m3 $H acme false loc-a la || h_fail "acme after loc-g's missing file"
h_wait_until 15 agg_log_has m3 "location 'loc-d': 127.0.0.1:${PORT[drop]} did not answer with HTTP" || h_fail "loc-d's lost answer not reported"
[ -n "$(grep " \"GET /g/v1/usage/$(hp $H) " "$H_TMP/drop.log")" ] || h_fail "loc-d's listing was never asked"
[ ! -e "$H_TMP/state-m3/locations/loc-d/.done/$(hk $H)" ] && [ ! -e "$H_TMP/state-m3/locations/loc-d/acme" ] \
    || h_fail "loc-d's hour kept though its file never came"
merged m3 $H acme false loc-a la || h_fail "acme after loc-d's lost answer"
h_ok "loc-g lists a file it then answers 404 for, loc-d closes without answering for it: neither hour kept, acme stays exactly loc-a's VMs"
h_stop m3
h_stop la; h_stop lb
