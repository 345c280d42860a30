#!/usr/bin/env bash
# test_totals_redis.sh — the totals query (src/totalizer/totals.c and
# window.c) against a real redis-server: SCAN + MGET paging, the window rule
# on buckets inside, straddling and outside a window, grouping by wildcards
# and literals, glob characters in a literal, unparsable and vanished keys,
# pro-rating checked against a schedule of send times (the current bucket, a
# gap, a window past the ttl), and a refused SCAN.
#
# Buckets are laid out around the current time rounded down to the width;
# the clock handed to the query is fixed relative to that base, so the
# expected totals do not depend on when the test runs.  The driver
# tests/harness/totals_cli.c is built by make into $AGG_BUILD/.
# shellcheck disable=SC2154  # r_PORT is exported by h_start_redis
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
: "${AGG_BUILD:=build}"
h_init

cli=$H_TOP/$AGG_BUILD/totals_cli
[ -x "$cli" ] || h_fail "$cli is not built (make check builds it)"

h_start_redis r

W=900                                   # bucket width: ttl 3600, 4 buckets
base=$(( $(date +%s) / W * W ))
NOW=$(( base + 300 ))                   # window 3600: lo = base - 4W + 300

# put KEY VALUE: as the counting side writes it (INCRBY, then EXPIRE ttl).
cmds=$H_TMP/load.txt
: > "$cmds"
put() {
    printf 'INCRBY "%s" %s\nEXPIRE "%s" 7200\n' "$1" "$2" "$1" >> "$cmds"
}
b() {   # b N: the bucket N widths from base
    echo $(( base + $1 * W ))
}
put "web_client;10.0.0.224,200;web1;$(b 0)" 4
put "web_client;10.0.0.224,200;web1;$(b -1)" 2
put "web_client;10.0.0.224,200;web1;$(b -4)" 3      # straddles: 600 of 900 s -> 2
put "web_client;10.0.0.224,200;web1;$(b -5)" 100    # before the window -> 0
put "web_client;10.0.0.224,200;web2;$(b -3)" 1
put "web_client;10.0.0.224,200;web2;$(b 1)" 50      # future -> 0
put "web_client;10.0.0.224,304;web1;$(b -2)" 2
put "web_client;10.0.0.9,404;web3;$(b -4)" 1        # straddles -> 0.667
put "web_client;a[1]*?;web1;$(b 0)" 5               # glob characters in a field
put "web_client;a1xy;web1;$(b 0)" 1000              # what an unescaped glob would match
put "web_client;bad;web1;notanumber" 7              # unparsable start_ts
put "web_clientx;10.0.0.224,200;web1;$(b 0)" 10000  # another prefix
printf 'SET "web_client;x;web1;%s" abc\n' "$(b 0)" >> "$cmds"        # unparsable value
printf 'RPUSH "web_client;list;web1;%s" 1\n' "$(b 0)" >> "$cmds"     # not a string: MGET nil
# Enough keys under a second prefix for several SCAN pages.
bulk_total=0
for i in $(seq 1 3000); do
    put "bulk;m$i;s$(( i % 3 ));$(b 0)" $(( i % 7 + 1 ))
    bulk_total=$(( bulk_total + i % 7 + 1 ))
done
h_redis r < "$cmds" > "$H_TMP/load.out" || h_fail "redis-cli could not load the keys"
grep -q ERR "$H_TMP/load.out" && h_fail "loading keys: $(grep ERR "$H_TMP/load.out" | head -n 1)"
[ "$(h_redis r dbsize)" = 3014 ] || h_fail "expected 3014 keys, redis has $(h_redis r dbsize)"
h_ok "loaded 3014 keys around $base (width $W)"

# q WINDOW [FIELD...]: run the query on web_client; the JSON goes to $out.
q() {
    local window=$1
    shift
    out=$("$cli" 127.0.0.1 "$r_PORT" web_client "$window" "$W" "$NOW" "$@") ||
        h_fail "totals_cli web_client $window $* failed"
}
# grand: the grand total of $out.
grand() {
    sed -n 's/.*\],"total":\([-0-9.]*\),"keys".*/\1/p' <<< "$out"
}
# rows: one line per row of $out, "field|field|...=TOTAL".
rows() {
    grep -oP '\{"fields":\[.*?\],"total":[-0-9.]+\}' <<< "$out" |
        sed -e 's/^{"fields":\[//' -e 's/\],"total":/=/' -e 's/}$//' -e 's/","/|/g' -e 's/"//g'
}
# keys NAME: one of the key counters of $out.
keys() {
    sed -n "s/.*\"keys\":{.*\"$1\":\([0-9]*\).*/\1/p" <<< "$out"
}
expect_rows() {   # WHAT EXPECTED-LINES
    local got
    got=$(rows)
    [ "$got" = "$2" ] || h_fail "$1: rows differ; got:
$got
expected:
$2"
}

q 3600
[ "$(grand)" = 1016.667 ] || h_fail "total web_client: $(grand), expected 1016.667 ($out)"
expect_rows "total web_client" "=1016.667"
if ! { [ "$(keys seen)" = 12 ] && [ "$(keys counted)" = 8 ] && [ "$(keys skipped)" = 2 ] &&
        [ "$(keys future)" = 1 ] && [ "$(keys missing)" = 1 ]; }; then
    h_fail "key counters: $out"
fi
h_ok "total over everything: whole buckets, 2/3 of the straddling ones, none older or future"

q 3600 '*'
expect_rows "grouped by matched" "a1xy=1000
10.0.0.224,200=9
a[1]*?=5
10.0.0.224,304=2
10.0.0.9,404=0.667"
grep -q '"group_by":\[0\]' <<< "$out" || h_fail "group_by: $out"
h_ok "grouped by matched, summed over sources, sorted by total"

q 3600 '*' '*'
expect_rows "grouped by matched and source" "a1xy|web1=1000
10.0.0.224,200|web1=8
a[1]*?|web1=5
10.0.0.224,304|web1=2
10.0.0.224,200|web2=1
10.0.0.9,404|web3=0.667"
h_ok "grouped by matched and source"

q 3600 10.0.0.224,200
expect_rows "literal matched" "=9"
q 3600 10.0.0.224,200 '*'
expect_rows "literal matched, by source" "web1=8
web2=1"
q 3600 '*' web3
expect_rows "by matched, literal source" "10.0.0.9,404=0.667"
h_ok "literals fix a field; wildcards group"

q 3600 'a[1]*?'
expect_rows "literal with glob characters" "=5"
h_ok "glob characters in a literal are escaped in SCAN MATCH"

q 86400
[ "$(grand)" = 1118 ] || h_fail "window longer than the data: $(grand), expected 1118"
q 600                                   # lo = base - 300: 1/3 of bucket -1
[ "$(grand)" = 1009.667 ] || h_fail "window of 600 s: $(grand), expected 1009.667"
h_ok "window longer than all data, and shorter than one bucket"

out=$("$cli" 127.0.0.1 "$r_PORT" bulk 3600 "$W" "$NOW" '*' '*') || h_fail "bulk query failed"
[ "$(grand)" = "$bulk_total" ] || h_fail "bulk: total $(grand), expected $bulk_total"
[ "$(rows | wc -l)" = 3000 ] || h_fail "bulk: $(rows | wc -l) rows, expected 3000"
[ "$(keys seen)" = 3000 ] || h_fail "bulk: seen $(keys seen)"
out=$("$cli" 127.0.0.1 "$r_PORT" bulk 3600 "$W" "$NOW" '*' s1) || h_fail "bulk query failed"
[ "$(rows | wc -l)" = 1000 ] || h_fail "bulk s1: $(rows | wc -l) rows, expected 1000"
h_ok "3000 keys over several SCAN pages: every key once"

# --- pro-rating against known send times: 6 h buckets (ttl 86400, 4 buckets) ---
# Three senders, one line per send time; each line lands in the bucket
# floor(t / W6) * W6 as the totalizer would put it.  The expected totals are
# the number of send times inside [now - window, now), counted from the
# schedule itself.  now is 3.5 h into the current bucket.
W6=21600
b6=$(( base / W6 * W6 ))
N6=$(( b6 + 12600 ))
sends=$H_TMP/sends.txt
{
    seq $(( b6 - W6 )) 4 $(( N6 - 1 )) | sed 's/^/flat;web1 /'       # every 4 s for 9.5 h
    seq $(( b6 - 2 * W6 )) 3 $(( N6 - 1 )) | sed 's/^/flat;web2 /'   # every 3 s for 15.5 h
    seq $(( b6 - 2 * W6 )) 2 $(( b6 - W6 - 1 )) | sed 's/^/stopped;web1 /'  # 6 h, then silence
} > "$sends"
awk -v w="$W6" '{ n[$1 ";" int($2 / w) * w]++ }
    END { for (k in n) printf "INCRBY \"steady;%s\" %d\nEXPIRE \"steady;%s\" 7200\n", k, n[k], k }' \
    "$sends" | h_redis r > "$H_TMP/load6.out" || h_fail "redis-cli could not load the 6 h buckets"
grep -q ERR "$H_TMP/load6.out" && h_fail "loading 6 h buckets: $(grep ERR "$H_TMP/load6.out" | head -n 1)"
# sent WINDOW: "matched|source=N" per sender with sends in the window, as rows() prints them.
sent() {
    awk -v lo=$(( N6 - $1 )) -v now="$N6" '$2 >= lo && $2 < now { n[$1]++ }
        END { for (k in n) { split(k, f, ";"); print n[k] "\t" f[1] "|" f[2] "=" n[k] } }' "$sends" |
        sort -k1,1nr -k2 | cut -f2
}
q6() {   # WINDOW [-t TTL]
    out=$("$cli" "${@:2}" 127.0.0.1 "$r_PORT" steady "$1" "$W6" "$N6" '*' '*') ||
        h_fail "totals_cli steady $1 failed"
}

q6 3600
expect_rows "window 3600 inside the current bucket" "$(sent 3600)"
[ "$(grand)" = 2100 ] || h_fail "window 3600: total $(grand), expected 2100 lines sent in the last hour"
h_ok "window 3600 in a 6 h bucket 3.5 h old: the lines of the last hour ($(grand)), not of time still to come"

q6 45000                                # lo halfway into the bucket the third sender stopped in
expect_rows "window 45000 over a gap" "$(sent 45000)"
h_ok "a bucket with no newer one ends at its width; one with a newer one ends there: $(grand) lines"

grep -q '"warnings":\[\]' <<< "$out" || h_fail "a warning without a ttl: $out"
q6 172800 -t 86400
expect_rows "window 172800" "$(sent 172800)"
grep -qF '"warnings":["window 172800 s is longer than the ttl of '"'steady'"' (86400 s): buckets older than 86400 s have expired' <<< "$out" ||
    h_fail "window past the ttl: no warning in $out"
q6 86400 -t 86400
grep -q '"warnings":\[\]' <<< "$out" || h_fail "a window of the ttl warned: $out"
h_ok "a window longer than the ttl warns that the oldest buckets have expired"

h_redis r config set requirepass sekrit > /dev/null
set +e
err=$("$cli" 127.0.0.1 "$r_PORT" web_client 3600 "$W" "$NOW" 2>&1)
rc=$?
set -e
h_redis r -a sekrit --no-auth-warning config set requirepass '' > /dev/null
[ $rc = 1 ] || h_fail "a refused SCAN exited $rc"
case $err in
    "totals_cli: redis SCAN failed: NOAUTH"*) ;;
    *) h_fail "a refused SCAN said: $err" ;;
esac
h_ok "a refused SCAN is an error naming the command"

