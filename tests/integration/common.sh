# common.sh — helpers shared by the integration tests that run the daemon.
#
# Sourced after tests/harness/lib.sh.  $AGG_BUILD names the build directory
# (build, or build-san under SANITIZE=); the binaries under test are
# $AGGD and $AGGCTL.

# shellcheck shell=bash
: "${AGG_BUILD:=build}"
AGGD=$H_TOP/$AGG_BUILD/aggregatord
AGGCTL=$H_TOP/$AGG_BUILD/aggregatorctl
[ -x "$AGGD" ] || { echo "common.sh: $AGGD is not built (run make)" >&2; exit 1; }

# Sanitizer runs: fail the daemon on the first report, and keep the report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# agg_start NAME CONF [ENV=VALUE ...]: start the daemon as NAME with CONF;
# its log is $H_TMP/NAME.log.  Sets NAME_URL from the config's http.listen.
agg_start() {
    local name=$1 conf=$2 listen
    shift 2
    listen=$(sed -n 's/.*listen *= *"\([^"]*\)".*/\1/p' "$conf" | head -n 1)
    export "${name}_URL=http://${listen}"
    h_spawn "$name" "$H_TMP/$name.log" env "$@" "$AGGD" -c "$conf"
}

# agg_get NAME PATH [curl args]: GET from NAME's API; prints the body.
# Sends $AGG_TOKEN as the bearer token when it is set.
agg_get() {
    local name=$1 path=$2 url
    shift 2
    url=$(eval "printf %s \"\$${name}_URL\"")
    if [ -n "${AGG_TOKEN:-}" ]; then
        set -- -H "Authorization: Bearer $AGG_TOKEN" "$@"
    fi
    curl -sS --max-time 5 "$@" "$url$path"
}

# agg_healthy NAME: /healthz answers.
agg_healthy() {
    agg_get "$1" /healthz -f >/dev/null 2>&1
}

# agg_metric NAME SERIES: print the value of one exact series from /metrics.
agg_metric() {
    agg_get "$1" /metrics | awk -v s="$2" '$1 == s { print $2 }'
}

# agg_metric_is NAME SERIES VALUE: for h_wait_until.
agg_metric_is() {
    [ "$(agg_metric "$1" "$2")" = "$3" ]
}

# agg_log_has NAME REGEX: the daemon's log has a matching line.
agg_log_has() {
    grep -Eq -- "$2" "$H_TMP/$1.log"
}

# agg_dump_log NAME: show the daemon's log (on failure).
agg_dump_log() {
    echo "--- log of $1 ---" >&2
    cat "$H_TMP/$1.log" >&2 || true
}
