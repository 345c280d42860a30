#!/usr/bin/env bash
# test_rollup_config.sh — what `aggregatord -n` refuses in the rollup
# section (exit 78, naming the key and why) and what it accepts: each
# refusal is a config that would otherwise start a daemon writing files
# under a wrong name, asking nobody, or quoting a bad identifier into
# InfluxDB's query.  Then `--once rollup` with a bad --hour, and without
# one (the last whole hour).  No server is needed.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'h_cleanup' EXIT

# conf FILE ROLLUP-BODY: a config whose rollup section is BODY
conf() {
    cat > "$1" <<CONF
node = { name = "n"; state_dir = "$H_TMP/state"; };
rollup = { $2 };
CONF
    chmod 0600 "$1"
}
loc1='{ name = "loc-a"; url = "http://127.0.0.1:1"; }'
# refused BODY MESSAGE: -n exits 78 and prints MESSAGE (a fixed string)
refused() {
    local err rc
    conf "$H_TMP/c.conf" "$1"
    set +e; err=$("$AGGD" -n -c "$H_TMP/c.conf" 2>&1); rc=$?; set -e
    [ $rc -eq 78 ] && grep -qF -- "$2" <<< "$err" || h_fail "-n on rollup = { $1 } (exit $rc): $err"
}
accepted() {
    local out
    conf "$H_TMP/c.conf" "$1"
    out=$("$AGGD" -n -c "$H_TMP/c.conf" 2>&1) && [ "$(tail -n 1 <<< "$out")" = "configuration OK" ] \
        || h_fail "-n refuses rollup = { $1 }: $out"
}

refused 'role = "location";' "'rollup.location' is required for role \"location\""
refused 'role = "location"; location = ".hidden";' "must not start with '.'"
refused 'role = "location"; location = "a/b";' "may hold only letters"
accepted 'role = "location"; location = "loc-a";'
refused 'role = "master";' "'rollup.locations' needs at least one location for role \"master\""
list=$loc1
for i in $(seq 1 64); do list+=", { name = \"l$i\"; url = \"http://127.0.0.1:$i\"; }"; done
refused "role = \"master\"; locations = ( $list );" "'rollup.locations' has more than 64 locations"
refused "role = \"master\"; locations = ( $loc1, { name = \"loc-b\"; url = \"http://127.0.0.1:2\"; }, $loc1 );" \
    "'rollup.locations[2].name' 'loc-a' is used by location 0 too"
refused 'role = "master"; locations = ( { name = "loc-a"; url = "https://127.0.0.1:1"; } );' "must be an http:// URL"
refused 'role = "master"; locations = ( { name = "loc-a"; url = "http://"; } );' "must be an http:// URL"
accepted "role = \"master\"; locations = ( $loc1, { name = \"loc-b\"; url = \"http://127.0.0.1:2\"; } );"
h_ok "role: a location without its name, a master without locations, more than 64, a name used twice, a URL that is not http:// are refused"

ident() {	# KEY VALUE MESSAGE: an InfluxDB identifier refused
    refused "role = \"location\"; location = \"loc-a\"; influxdb = { $1 = \"$2\"; };" "$3"
}
ident measurement 'vm\"usage' "contains a double quote"
ident tag_account '' "is empty"
ident field_cpu "$(printf 'c%.0s' $(seq 1 300))" "is longer than 255 bytes"
ident tag_vm 'vm\\name' "contains a backslash"
refused 'role = "location"; location = "loc-a"; influxdb = { url = "ftp://x"; };' "must be an http:// URL"
refused 'role = "location"; location = "loc-a"; influxdb = { db = ""; };' "rollup.influxdb.db"
accepted 'role = "location"; location = "loc-a"; influxdb = { url = "http://db:8086"; db = "usage_a"; measurement = "vm.usage-1"; tag_account = "tenant"; field_net_rx = "rx_bytes"; };'
h_ok "influxdb: a measurement, tag or field name InfluxDB would need quoting for, an empty one, a non-http URL, an empty db are refused; plain ones accepted"

# --once: a bad --hour is refused before anything is asked; without --hour
# the last whole hour is rolled (its InfluxDB is a closed port here: the
# failure names that hour, and nothing is written)
conf "$H_TMP/c.conf" "role = \"location\"; location = \"loc-a\"; influxdb = { url = \"http://127.0.0.1:$(h_free_port tcp)\"; timeout = 2; };"
rc=0; err=$("$AGGD" -c "$H_TMP/c.conf" --once rollup --hour 2026-13-01T00 2>&1) || rc=$?
[ $rc = 1 ] && grep -qxF "aggregatord: --hour '2026-13-01T00' is not YYYY-MM-DDTHH" <<< "$err" || h_fail "--hour 2026-13-01T00 (exit $rc): $err"
before=$(date -u -d "@$(( $(date +%s) / 3600 * 3600 - 3600 ))" +%Y-%m-%dT%H)
rc=0; err=$("$AGGD" -c "$H_TMP/c.conf" --once rollup 2>&1) || rc=$?
after=$(date -u -d "@$(( $(date +%s) / 3600 * 3600 - 3600 ))" +%Y-%m-%dT%H)
[ $rc = 1 ] && { grep -q "rollup: hour $before: influxdb .*connection refused" <<< "$err" \
    || grep -q "rollup: hour $after: influxdb .*connection refused" <<< "$err"; } || h_fail "--once without --hour (exit $rc): $err"
[ -z "$(find "$H_TMP/state" -type f 2>/dev/null | head -1)" ] || h_fail "files written by a failed --once: $(find "$H_TMP/state" -type f)"
h_ok "--once: a bad --hour refused; without one, the last whole hour ($before) is rolled; a failure writes nothing"
