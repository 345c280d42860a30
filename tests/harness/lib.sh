# lib.sh — bash library for aggregatord's integration tests.
#
# Sourced by the scripts in tests/integration (`. tests/harness/lib.sh`), it
# starts throwaway servers (Redis, MariaDB, InfluxDB, a mock Kafka cluster)
# on 127.0.0.1, each on a free port and inside one temp dir per test run,
# waits for readiness by polling (never a fixed sleep), and makes sure that
# every process it started is gone when the test exits, however it exits:
# h_init installs an EXIT/INT/TERM/HUP trap, and every process is started
# through `htool spawn`, which gives it a parent-death signal so that even a
# test shell killed with SIGKILL takes its servers with it.
#
# Conventions:
#  - NAME is an identifier (m1, master, r).  Starting server NAME sets and
#    exports NAME_PORT and friends (r_PORT, m1_SOCK, i_URL, k_BOOTSTRAP) and
#    keeps its files in $H_TMP/NAME.
#  - Call the h_start_* and h_spawn functions from the test's main shell,
#    not inside $(...) or a pipeline: the variables they set would be lost
#    and the process would be killed when that subshell exits.
#  - Functions return non-zero after printing a lowercase message to stderr
#    that names the function and NAME (`h_start_mariadb m1: ...`), so under
#    `set -e` the test stops at the first failure.
#  - Environment: H_BIN (where htool and kafka_mock are; default
#    tests/harness in this repo), H_KEEP=1 (keep $H_TMP after the run),
#    H_START_TIMEOUT (seconds to wait for a server, default 30),
#    H_STOP_TIMEOUT (seconds h_stop waits, default 30), H_VERBOSE=1 (say on
#    stderr when each server is up and how long it took), H_CACHE_DIR (keep
#    an initialised MariaDB datadir there between runs; default: none).
#
# Needs bash 5 (EPOCHREALTIME), coreutils, curl, redis-server/redis-cli,
# mariadb-server/mariadb-client, influxd, kcat.

# shellcheck shell=bash disable=SC2034  # H_EXIT_STATUS etc. are read by the tests
if [ -n "${H__LOADED:-}" ]; then
    return 0
fi
H__LOADED=1

H_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
H_TOP=$(cd "$H_LIB_DIR/../.." && pwd -P)
: "${H_BIN:=$H_TOP/tests/harness}"
case $H_BIN in
    /*) ;;
    *) H_BIN=$PWD/$H_BIN ;;
esac
: "${H_START_TIMEOUT:=30}"
: "${H_STOP_TIMEOUT:=30}"

declare -gA H__PID=()        # NAME -> pid
declare -gA H__LOG=()        # NAME -> its log file (shown when something fails)
declare -gA H__LOGOFF=()     # NAME -> size of that log when last started
declare -gA H__PORT=()       # NAME -> main port
declare -gA H__DIR=()        # NAME -> $H_TMP/NAME
declare -gA H__BOOTSTRAP=()  # NAME -> kafka bootstrap address
declare -gA H__SRVARGS=()    # NAME -> extra server arguments (mariadbd), one string
declare -gA H__CHILD=()      # pid -> 1 while a child of this shell, not reaped
declare -gA H__STATUS=()     # pid -> exit status, once reaped
declare -ga H__ORDER=()      # NAMEs in registration order
H__MARIADB_TPL=              # pristine MariaDB datadir to copy
H_EXIT_STATUS=               # exit status of the process last stopped or waited for
H__NTEST=0
H__CLEANED=
H__SHELL=

# ---------------------------------------------------------------------------
# Internal helpers
# ---------------------------------------------------------------------------

# h__err MESSAGE...: prints MESSAGE on stderr.
h__err() {
    printf '%s\n' "$*" >&2
}

# h__note MESSAGE...: prints MESSAGE on stderr when H_VERBOSE=1.
h__note() {
    if [ "${H_VERBOSE:-0}" = 1 ]; then
        printf '# %s\n' "$*" >&2
    fi
}

# h__now_us: prints the wall clock in microseconds (no fork).
h__now_us() {
    local t=${EPOCHREALTIME//[.,]/}
    printf '%s\n' "$t"
}

# h__secs_to_us SECONDS: prints SECONDS (integer or decimal) in microseconds.
h__secs_to_us() {
    local s=$1 int frac
    case $s in
        *.*) int=${s%%.*}; frac=${s#*.} ;;
        *) int=$s; frac= ;;
    esac
    frac=${frac}000000
    frac=${frac:0:6}
    printf '%s\n' $(( 10#${int:-0} * 1000000 + 10#$frac ))
}

# h__elapsed START_US: prints the seconds since START_US, like "0.13".
h__elapsed() {
    local d=$(( ${EPOCHREALTIME//[.,]/} - $1 ))
    printf '%d.%02d\n' $(( d / 1000000 )) $(( d % 1000000 / 10000 ))
}

# h__tail FILE [N]: prints the last N (default 15) lines of FILE, indented,
# on stderr; says so when FILE is missing or empty.
h__tail() {
    local f=$1 n=${2:-15}
    if [ -s "$f" ]; then
        tail -n "$n" "$f" | sed 's/^/    /' >&2
    else
        printf '    (%s is empty or missing)\n' "$f" >&2
    fi
}

# h__check_name FUNC NAME: fails unless NAME is an identifier.
h__check_name() {
    if [[ ! $2 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        h__err "$1: bad name '$2' (want an identifier such as m1 or master)"
        return 1
    fi
}

# h__check_init FUNC: fails unless h_init has run in this shell.
h__check_init() {
    if [ -z "${H_TMP:-}" ] || [ -z "$H__SHELL" ] || [ ! -d "$H_TMP" ]; then
        h__err "$1: h_init has not been called"
        return 1
    fi
}

# h__tool FUNC TOOL: prints the path of harness tool TOOL, or fails with a
# message if it has not been built.
h__tool() {
    if [ ! -x "$H_BIN/$2" ]; then
        h__err "$1: $H_BIN/$2 is not built (build the harness tools first, or set H_BIN)"
        return 1
    fi
    printf '%s\n' "$H_BIN/$2"
}

# h__reap PID: if PID is a child of this shell that has exited, reaps it
# and records its exit status in H__STATUS (128+N when killed by signal N).
h__reap() {
    local st=0
    if [ -n "${H__CHILD[$1]:-}" ]; then
        wait "$1" 2>/dev/null || st=$?
        H__STATUS[$1]=$st
        unset 'H__CHILD[$1]'
    fi
}

# h__gone PID: succeeds when PID no longer runs (dead or a zombie), after
# reaping it.
h__gone() {
    local pid=$1 stat state
    if kill -0 "$pid" 2>/dev/null; then
        stat=
        read -r stat 2>/dev/null < "/proc/$pid/stat" || true
        state=${stat##*) }
        state=${state%% *}
        [ "$state" = Z ] || return 1
    fi
    h__reap "$pid"
    return 0
}

# h__wait_gone PID TIMEOUT_S: waits until PID is gone; fails on timeout.
h__wait_gone() {
    local pid=$1 deadline
    deadline=$(( $(h__now_us) + $(h__secs_to_us "$2") ))
    until h__gone "$pid"; do
        if [ "$(h__now_us)" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.05
    done
}

# h__spawn NAME OUT ERR LOG CMD [ARGS...]: starts CMD in the background
# with stdin from /dev/null, stdout appended to OUT and stderr to ERR,
# through `htool spawn` (default signal dispositions, SIGKILL when this shell
# dies), and registers it as NAME.  LOG is the file where the process writes
# its log (shown when something fails); its current size is remembered so
# that h__await only looks at what this run writes.
h__spawn() {
    local name=$1 out=$2 errf=$3 log=$4 parent=$BASHPID htool pid
    shift 4
    htool=$(h__tool "h_spawn $name" htool) || return 1
    H__LOGOFF[$name]=$(stat -c %s "$log" 2>/dev/null || echo 0)
    "$htool" spawn "$parent" "$@" < /dev/null >> "$out" 2>> "$errf" &
    pid=$!
    H__CHILD[$pid]=1
    h_register_pid "$name" "$pid" || return 1
    H__LOG[$name]=$log
}

# h__await FUNC NAME TIMEOUT_S WHAT CMD [ARGS...]: polls CMD (output
# discarded) until it succeeds while process NAME still runs.  Returns 0 when
# ready; 2 when the process exited and its log says an address was in use
# (the caller may retry on another port); 1 otherwise, after printing what
# failed and the tail of NAME's log.
h__await() {
    local func=$1 name=$2 timeout=$3 what=$4 pid deadline log
    shift 4
    pid=${H__PID[$name]}
    log=${H__LOG[$name]:-}
    deadline=$(( $(h__now_us) + $(h__secs_to_us "$timeout") ))
    while :; do
        if "$@" > /dev/null 2>&1; then
            return 0
        fi
        if h__gone "$pid"; then
            if [ -n "$log" ] && tail -c "+$(( ${H__LOGOFF[$name]:-0} + 1 ))" "$log" 2>/dev/null |
                    grep -qi 'address already in use'; then
                return 2
            fi
            h__err "$func $name: server exited (status ${H__STATUS[$pid]:-?}) before $what; log tail ($log):"
            h__tail "$log"
            return 1
        fi
        if [ "$(h__now_us)" -ge "$deadline" ]; then
            h__err "$func $name: server did not answer within $timeout s ($what); log tail ($log):"
            h__tail "$log"
            return 1
        fi
        sleep 0.05
    done
}

# ---------------------------------------------------------------------------
# Setup, cleanup and process bookkeeping
# ---------------------------------------------------------------------------

# h_init: creates $H_TMP (exported) and installs the cleanup trap on EXIT,
# INT, TERM and HUP.  Call once, from the test's main shell, before anything
# else.
h_init() {
    if [ -n "$H__SHELL" ]; then
        h__err "h_init: called twice"
        return 1
    fi
    H_TMP=$(mktemp -d "${TMPDIR:-/tmp}/aggd-test.XXXXXX") || {
        h__err "h_init: cannot create a temp dir under ${TMPDIR:-/tmp}"
        return 1
    }
    export H_TMP
    H__SHELL=$BASHPID
    trap h_cleanup EXIT
    # Bash reports a background job killed by a signal ("line N: PID Killed")
    # unless bash thinks that signal is trapped; h_kill and h_cleanup kill on
    # purpose.  (The kernel cannot ignore SIGKILL: this only quiets bash.)
    # shellcheck disable=SC2173
    trap '' KILL
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

# h_cleanup: the EXIT trap.  Sends SIGTERM to every registered process and
# every background job of this shell, SIGKILL to those still running after
# ~3 s, then removes $H_TMP unless H_KEEP=1.  On a failed run, prints the
# tail of each process's log.  Keeps the shell's exit status.  Safe to call
# more than once; does nothing in a subshell.
h_cleanup() {
    local rc=$? name pid deadline
    local -a pids=() left=()
    local -A seen=()
    set +e
    if [ -z "$H__SHELL" ] || [ "$BASHPID" != "$H__SHELL" ] || [ -n "$H__CLEANED" ]; then
        return "$rc"
    fi
    H__CLEANED=1
    trap - INT TERM HUP

    for name in "${H__ORDER[@]}"; do
        pids+=("${H__PID[$name]}")
    done
    for pid in $(jobs -p); do
        pids+=("$pid")
    done
    for pid in "${pids[@]}"; do
        [ -z "${seen[$pid]:-}" ] || continue
        seen[$pid]=1
        h__gone "$pid" || { kill -TERM "$pid" 2>/dev/null; left+=("$pid"); }
    done
    deadline=$(( $(h__now_us) + 3000000 ))
    while [ "${#left[@]}" -gt 0 ]; do
        pids=("${left[@]}")
        left=()
        for pid in "${pids[@]}"; do
            h__gone "$pid" || left+=("$pid")
        done
        [ "${#left[@]}" -gt 0 ] || break
        if [ "$(h__now_us)" -ge "$deadline" ]; then
            for pid in "${left[@]}"; do
                h__err "h_cleanup: pid $pid ignored SIGTERM for 3 s, sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null
                h__wait_gone "$pid" 5 || h__err "h_cleanup: pid $pid survived SIGKILL"
            done
            break
        fi
        sleep 0.05
    done

    if [ "$rc" != 0 ]; then
        for name in "${H__ORDER[@]}"; do
            if [ -n "${H__LOG[$name]:-}" ]; then
                h__err "--- $name: tail of ${H__LOG[$name]}"
                h__tail "${H__LOG[$name]}" 10
            fi
        done
    fi
    if [ "${H_KEEP:-0}" = 1 ]; then
        h__err "h_cleanup: keeping $H_TMP (H_KEEP=1)"
    else
        rm -rf "$H_TMP"
        if [ "$rc" != 0 ]; then
            h__err "h_cleanup: test failed (status $rc); run with H_KEEP=1 to keep its files"
        fi
    fi
    return "$rc"
}

# h_wait_until TIMEOUT_S CMD [ARGS...]: runs CMD every 50 ms until it
# succeeds (return 0) or TIMEOUT_S (may be decimal) has passed (return 1).
# CMD's output is not redirected.
h_wait_until() {
    local deadline
    if [ $# -lt 2 ]; then
        h__err "h_wait_until: usage: h_wait_until TIMEOUT_S CMD [ARGS...]"
        return 2
    fi
    deadline=$(( $(h__now_us) + $(h__secs_to_us "$1") ))
    shift
    while :; do
        if "$@"; then
            return 0
        fi
        if [ "$(h__now_us)" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.05
    done
}

# h_free_port [tcp|udp]: prints a port that is free on 127.0.0.1 (the
# kernel's choice for a bind to port 0) and that no earlier call of this
# test handed out.  The kernel picks at random from ~14,000 ports and the
# port is released before the caller's server binds it, so two calls made
# before either server starts can print the same port (one server then
# fails to bind and the other answers in its place); the ports handed out
# are kept in $H_TMP/.ports_given and a repeat is asked again.
h_free_port() {
    local htool p i given=${H_TMP:-/nonexistent}/.ports_given
    htool=$(h__tool h_free_port htool) || return 1
    for i in $(seq 100); do
        p=$("$htool" freeport "${1:-tcp}") || {
            h__err "h_free_port: htool freeport ${1:-tcp} failed"
            return 1
        }
        grep -qx "$p" "$given" 2>/dev/null && continue
        [ -z "${H_TMP:-}" ] || echo "$p" >> "$given"
        echo "$p"
        return 0
    done
    h__err "h_free_port: every port the kernel offered was handed out already"
    return 1
}

# h_port_open PORT: succeeds if something accepts TCP connections on
# 127.0.0.1:PORT.
h_port_open() {
    (exec 3<> "/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# h_register_pid NAME PID: makes h_stop/h_kill/h_pid know PID as NAME and
# h_cleanup kill it.  NAME may be reused once its previous process is gone.
h_register_pid() {
    local name=$1 pid=$2 old
    h__check_name h_register_pid "$name" || return 1
    if [[ ! $pid =~ ^[0-9]+$ ]]; then
        h__err "h_register_pid $name: bad pid '$pid'"
        return 1
    fi
    old=${H__PID[$name]:-}
    if [ -n "$old" ] && [ "$old" != "$pid" ] && ! h__gone "$old"; then
        h__err "h_register_pid $name: name already used by running pid $old"
        return 1
    fi
    [ -n "$old" ] || H__ORDER+=("$name")
    H__PID[$name]=$pid
}

# h_pid NAME: prints NAME's pid.
h_pid() {
    if [ -z "${H__PID[$1]:-}" ]; then
        h__err "h_pid $1: no such process registered"
        return 1
    fi
    printf '%s\n' "${H__PID[$1]}"
}

# h_running NAME: succeeds while NAME's process runs.
h_running() {
    local pid
    pid=$(h_pid "$1") || return 1
    ! h__gone "$pid"
}

# h_spawn NAME LOGFILE CMD [ARGS...]: starts any command (e.g. the daemon
# under test) in the background, stdout and stderr appended to LOGFILE, with
# default signal dispositions, and registers it as NAME.  The environment
# passes through (use `env VAR=... CMD` to add to it).
h_spawn() {
    local name=$1 log=$2
    h__check_init h_spawn || return 1
    h__check_name h_spawn "$name" || return 1
    shift 2
    if [ $# -eq 0 ]; then
        h__err "h_spawn $name: no command given"
        return 1
    fi
    h__spawn "$name" "$log" "$log" "$log" "$@"
}

# h_signal NAME SIG: sends signal SIG (a name like HUP or RTMIN+1, or a
# number) to NAME.
h_signal() {
    local pid
    pid=$(h_pid "$1") || return 1
    kill -s "$2" "$pid" 2>/dev/null || kill "-$2" "$pid" 2>/dev/null || {
        h__err "h_signal $1: cannot send SIG$2 to pid $pid (not running?)"
        return 1
    }
}

# h__finish FUNC NAME SIG TIMEOUT_S: sends SIG to NAME (unless it is already
# gone) and waits up to TIMEOUT_S for it to exit.  Sets H_EXIT_STATUS to its
# exit status (shell style: 128+N when killed by signal N) when known.
h__finish() {
    local func=$1 name=$2 sig=$3 timeout=$4 pid
    pid=$(h_pid "$name") || return 1
    H_EXIT_STATUS=
    if ! h__gone "$pid"; then
        kill "-$sig" "$pid" 2>/dev/null
        if ! h__wait_gone "$pid" "$timeout"; then
            h__err "$func $name: pid $pid still running $timeout s after SIG$sig; log tail (${H__LOG[$name]:-no log}):"
            [ -z "${H__LOG[$name]:-}" ] || h__tail "${H__LOG[$name]}"
            return 1
        fi
    fi
    H_EXIT_STATUS=${H__STATUS[$pid]:-}
}

# h_stop NAME [TIMEOUT_S]: sends SIGTERM to NAME and waits for it to exit
# (default H_STOP_TIMEOUT s); fails if it does not.  Sets H_EXIT_STATUS.
h_stop() {
    h__finish h_stop "$1" TERM "${2:-$H_STOP_TIMEOUT}"
}

# h_kill NAME: sends SIGKILL to NAME and waits for it to exit.  Sets
# H_EXIT_STATUS (137).
h_kill() {
    h__finish h_kill "$1" KILL 10
}

# h_wait_exit NAME TIMEOUT_S: waits for NAME to exit on its own (e.g. a
# `--once` run); fails on timeout.  Sets H_EXIT_STATUS.
h_wait_exit() {
    local pid
    pid=$(h_pid "$1") || return 1
    H_EXIT_STATUS=
    if ! h__wait_gone "$pid" "$2"; then
        h__err "h_wait_exit $1: pid $pid still running after $2 s"
        return 1
    fi
    H_EXIT_STATUS=${H__STATUS[$pid]:-}
}

# h_ok MESSAGE: prints "ok N - MESSAGE" (TAP style) on stdout.
h_ok() {
    H__NTEST=$(( H__NTEST + 1 ))
    printf 'ok %d - %s\n' "$H__NTEST" "$*"
}

# h_fail MESSAGE: prints "not ok N - MESSAGE" and exits 1.
h_fail() {
    H__NTEST=$(( H__NTEST + 1 ))
    printf 'not ok %d - %s\n' "$H__NTEST" "$*"
    exit 1
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------

# h__redis_is PORT PID: succeeds when the Redis answering on PORT is
# process PID (not some other server that got the port first).
h__redis_is() {
    local info
    info=$(redis-cli -h 127.0.0.1 -p "$1" info server 2>/dev/null) || return 1
    [[ $info == *"process_id:$2"[!0-9]* ]]
}

# h__redis_launch FUNC NAME: starts redis-server NAME on H__PORT[NAME] and
# waits until it answers (return codes as h__await).
h__redis_launch() {
    local func=$1 name=$2 port=${H__PORT[$2]} dir=${H__DIR[$2]}
    h__spawn "$name" "$dir/redis.log" "$dir/redis.log" "$dir/redis.log" \
        redis-server --port "$port" --bind 127.0.0.1 --protected-mode no \
        --save '' --appendonly no --dir "$dir" --daemonize no \
        --logfile '' --loglevel notice || return 1
    h__await "$func" "$name" "$H_START_TIMEOUT" "redis-cli answered" \
        h__redis_is "$port" "${H__PID[$name]}"
}

# h_start_redis NAME: starts an empty Redis without persistence on a free
# loopback port; exports NAME_PORT.
h_start_redis() {
    local name=$1 t0 rc _
    h__check_init h_start_redis || return 1
    h__check_name h_start_redis "$name" || return 1
    t0=$(h__now_us)
    H__DIR[$name]=$H_TMP/$name
    mkdir -p "${H__DIR[$name]}" || return 1
    for _ in 1 2 3; do
        H__PORT[$name]=$(h_free_port tcp) || return 1
        rc=0
        h__redis_launch h_start_redis "$name" || rc=$?
        [ "$rc" = 2 ] || break
        h__note "h_start_redis $name: port ${H__PORT[$name]} was taken, retrying"
    done
    if [ "$rc" != 0 ]; then
        [ "$rc" != 2 ] || h__err "h_start_redis $name: no free port after 3 tries"
        return 1
    fi
    export "${name}_PORT=${H__PORT[$name]}"
    h__note "h_start_redis $name: up on 127.0.0.1:${H__PORT[$name]} in $(h__elapsed "$t0") s"
}

# h_restart_redis NAME: stops NAME if it still runs, then starts it again on
# the same port (empty: there is no persistence).
h_restart_redis() {
    local name=$1 rc=0
    if [ -z "${H__PORT[$name]:-}" ]; then
        h__err "h_restart_redis $name: no such redis was started"
        return 1
    fi
    h_running "$name" && { h_stop "$name" || return 1; }
    h__redis_launch h_restart_redis "$name" || rc=$?
    if [ "$rc" = 2 ]; then
        h__err "h_restart_redis $name: port ${H__PORT[$name]} is taken by another process"
        h__tail "${H__LOG[$name]}"
    fi
    return "$rc"
}

# h_redis NAME [ARGS...]: runs redis-cli against NAME with ARGS.
h_redis() {
    local name=$1
    shift
    if [ -z "${H__PORT[$name]:-}" ]; then
        h__err "h_redis $name: no such redis was started"
        return 1
    fi
    redis-cli -h 127.0.0.1 -p "${H__PORT[$name]}" "$@"
}

# ---------------------------------------------------------------------------
# MariaDB
# ---------------------------------------------------------------------------

# Server options shared by mariadb-install-db and mariadbd.  Tuned for
# start-up speed and a small footprint; the flush settings still keep every
# committed transaction across a SIGKILL of the server (not of the machine).
H__MARIADB_OPTS=(
    --skip-name-resolve
    --innodb-buffer-pool-size=32M
    --innodb-log-file-size=4M
    --innodb-temp-data-file-path=ibtmp1:1M:autoextend
    --innodb-flush-log-at-trx-commit=2
    --innodb-doublewrite=0
    --innodb-buffer-pool-load-at-startup=0
    --innodb-buffer-pool-dump-at-shutdown=0
    --skip-log-bin
)

# h__mariadb_user_opt: prints --user=root when running as root (mariadbd
# refuses to run as root otherwise), nothing otherwise.
h__mariadb_user_opt() {
    if [ "$(id -u)" = 0 ]; then
        printf '%s\n' "--user=root"
    fi
}

# h__mariadb_template: makes sure a pristine datadir exists (root@localhost
# and root@127.0.0.1 with an empty password, no test db) and sets
# H__MARIADB_TPL to it.  It is initialised once per test run in
# $H_TMP/.mariadb-template, or, when H_CACHE_DIR is set, once per MariaDB
# version and option set in $H_CACHE_DIR (shared between runs; saves the
# ~1 s of mariadb-install-db per test).
h__mariadb_template() {
    local tpl=$H_TMP/.mariadb-template key cache stage
    [ -z "${H__MARIADB_TPL:-}" ] || [ ! -d "$H__MARIADB_TPL" ] || return 0
    if [ -n "${H_CACHE_DIR:-}" ]; then
        key=$({ mariadbd --version; id -u; printf '%s\n' "${H__MARIADB_OPTS[@]}"; } | cksum)
        cache=$H_CACHE_DIR/mariadb-template-${key%% *}
        if [ -d "$cache/data" ]; then
            H__MARIADB_TPL=$cache/data
            return 0
        fi
    fi
    rm -rf "$tpl"
    mkdir -p "$tpl" || return 1
    # shellcheck disable=SC2046
    if ! mariadb-install-db --no-defaults --auth-root-authentication-method=normal \
        --skip-test-db --datadir="$tpl/data.tmp" $(h__mariadb_user_opt) \
        "${H__MARIADB_OPTS[@]}" > "$tpl/install.log" 2>&1; then
        h__err "h_start_mariadb: mariadb-install-db failed; log tail ($tpl/install.log):"
        h__tail "$tpl/install.log"
        return 1
    fi
    mv "$tpl/data.tmp" "$tpl/data" || return 1
    H__MARIADB_TPL=$tpl/data
    if [ -n "${H_CACHE_DIR:-}" ]; then
        # Publish atomically; a concurrent run may win the race, which is fine.
        if mkdir -p "$H_CACHE_DIR" && stage=$(mktemp -d "$H_CACHE_DIR/.stage.XXXXXX"); then
            if cp -a "$tpl/data" "$stage/data" && mv -T "$stage" "$cache" 2>/dev/null; then
                :
            else
                rm -rf "$stage"
            fi
        fi
    fi
}

# h__mariadb_ping SOCK: succeeds when the server on SOCK answers.
h__mariadb_ping() {
    mariadb-admin --no-defaults -uroot --socket="$1" --connect-timeout=2 ping
}

# h__mariadb_spawn NAME: starts mariadbd for NAME (datadir, socket and port
# from its dir and H__PORT) without waiting.
h__mariadb_spawn() {
    local name=$1 dir=${H__DIR[$1]}
    # shellcheck disable=SC2046
    h__spawn "$name" "$dir/mariadbd.out" "$dir/mariadbd.out" "$dir/mariadb.log" \
        mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/mysqld.sock" \
        --port="${H__PORT[$name]}" --bind-address=127.0.0.1 \
        --tmpdir="$dir/tmp" --log-error="$dir/mariadb.log" \
        --pid-file="$dir/mariadbd.pid" $(h__mariadb_user_opt) \
        "${H__MARIADB_OPTS[@]}" ${H__SRVARGS[$name]:-} || return 1
}

# h__mariadb_await FUNC NAME: waits for NAME to answer (h__await codes).
h__mariadb_await() {
    h__await "$1" "$2" "$H_START_TIMEOUT" "mariadb-admin ping answered" \
        h__mariadb_ping "${H__DIR[$2]}/mysqld.sock"
}

# h_start_mariadb [--server-arg=ARG...] NAME [NAME...]: starts one MariaDB
# server per NAME, all at once, each with a fresh datadir copied from a
# template initialised once per run; waits until all answer.  Exports
# NAME_PORT (TCP on 127.0.0.1, user root, empty password) and NAME_SOCK
# (unix socket).  Each --server-arg=ARG (no spaces; e.g.
# --server-arg=--default-time-zone=-05:00) is passed to these servers'
# mariadbd, and again by h_restart_mariadb.
h_start_mariadb() {
    local name dir sock t0 rc _ srvargs=
    h__check_init h_start_mariadb || return 1
    while [ $# -gt 0 ]; do
        case $1 in
            --server-arg=*) srvargs="$srvargs ${1#--server-arg=}"; shift ;;
            *) break ;;
        esac
    done
    if [ $# -eq 0 ]; then
        h__err "h_start_mariadb: no name given"
        return 1
    fi
    t0=$(h__now_us)
    for name in "$@"; do
        h__check_name h_start_mariadb "$name" || return 1
    done
    h__mariadb_template || return 1
    for name in "$@"; do
        dir=$H_TMP/$name
        sock=$dir/mysqld.sock
        if [ "${#sock}" -gt 107 ]; then
            h__err "h_start_mariadb $name: socket path $sock is too long for a unix socket (use a shorter TMPDIR)"
            return 1
        fi
        if [ -e "$dir/data" ]; then
            h__err "h_start_mariadb $name: $dir/data already exists (use h_restart_mariadb)"
            return 1
        fi
        H__DIR[$name]=$dir
        H__SRVARGS[$name]=$srvargs
        mkdir -p "$dir/tmp" || return 1
        cp -a "$H__MARIADB_TPL" "$dir/data" || {
            h__err "h_start_mariadb $name: cannot copy the template datadir to $dir/data"
            return 1
        }
        H__PORT[$name]=$(h_free_port tcp) || return 1
        h__mariadb_spawn "$name" || return 1
    done
    for name in "$@"; do
        for _ in 1 2 3; do
            rc=0
            h__mariadb_await h_start_mariadb "$name" || rc=$?
            [ "$rc" = 2 ] || break
            h__note "h_start_mariadb $name: port ${H__PORT[$name]} was taken, retrying"
            H__PORT[$name]=$(h_free_port tcp) || return 1
            h__mariadb_spawn "$name" || return 1
        done
        if [ "$rc" != 0 ]; then
            [ "$rc" != 2 ] || h__err "h_start_mariadb $name: no free port after 3 tries"
            return 1
        fi
        export "${name}_PORT=${H__PORT[$name]}" "${name}_SOCK=${H__DIR[$name]}/mysqld.sock"
        h__note "h_start_mariadb $name: up on 127.0.0.1:${H__PORT[$name]} after $(h__elapsed "$t0") s"
    done
}

# h_restart_mariadb NAME: stops NAME if it still runs, then starts it again
# with the same datadir and port (after a SIGKILL, InnoDB recovers).
h_restart_mariadb() {
    local name=$1 rc=0
    if [ -z "${H__PORT[$name]:-}" ] || [ ! -d "${H__DIR[$name]:-}/data" ]; then
        h__err "h_restart_mariadb $name: no such mariadb was started"
        return 1
    fi
    h_running "$name" && { h_stop "$name" || return 1; }
    h__mariadb_spawn "$name" || return 1
    h__mariadb_await h_restart_mariadb "$name" || rc=$?
    if [ "$rc" = 2 ]; then
        h__err "h_restart_mariadb $name: port ${H__PORT[$name]} is taken by another process"
        h__tail "${H__LOG[$name]}"
    fi
    return "$rc"
}

# h_mysql NAME [ARGS...]: runs the mariadb client as root on NAME's socket
# with ARGS; stdin passes through (batch mode when it is not a terminal).
h_mysql() {
    local name=$1
    shift
    if [ -z "${H__DIR[$name]:-}" ]; then
        h__err "h_mysql $name: no such mariadb was started"
        return 1
    fi
    mariadb --no-defaults -uroot --socket="${H__DIR[$name]}/mysqld.sock" "$@"
}

# ---------------------------------------------------------------------------
# InfluxDB 1.x
# ---------------------------------------------------------------------------

# h__influx_config NAME RPC_PORT: writes NAME's influxd config file.
h__influx_config() {
    local name=$1 rpc=$2 dir=${H__DIR[$1]}
    # Debian's build reads "reporting-enabled" (default false); upstream 1.x
    # reads "reporting-disabled".  Unknown keys are ignored, so set both.
    cat > "$dir/influxdb.conf" <<EOF
# generated by tests/harness/lib.sh for '$name'
reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:$rpc"

[meta]
  dir = "$dir/meta"
  logging-enabled = false

[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${H__PORT[$name]}"
  auth-enabled = false
  log-enabled = false

[ifql]
  enabled = false

[continuous_queries]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true
EOF
}

# h__influx_is URL CONF: succeeds when the InfluxDB answering at URL is the
# one started with config file CONF (its /debug/vars shows the command line),
# not some other server that got the port first.
h__influx_is() {
    local vars
    curl -sf -o /dev/null --max-time 2 "$1/ping" || return 1
    vars=$(curl -sf --max-time 2 "$1/debug/vars") || return 1
    [[ $vars == *"\"$2\""* ]]
}

# h_start_influxdb NAME: starts an empty InfluxDB 1.x (no auth) on a free
# loopback port; exports NAME_PORT and NAME_URL (http://127.0.0.1:PORT).
h_start_influxdb() {
    local name=$1 dir t0 rc _ rpc
    h__check_init h_start_influxdb || return 1
    h__check_name h_start_influxdb "$name" || return 1
    t0=$(h__now_us)
    dir=$H_TMP/$name
    H__DIR[$name]=$dir
    mkdir -p "$dir" || return 1
    for _ in 1 2 3; do
        H__PORT[$name]=$(h_free_port tcp) || return 1
        rpc=$(h_free_port tcp) || return 1
        h__influx_config "$name" "$rpc" || return 1
        h__spawn "$name" "$dir/influxd.log" "$dir/influxd.log" "$dir/influxd.log" \
            influxd -config "$dir/influxdb.conf" || return 1
        rc=0
        h__await h_start_influxdb "$name" "$H_START_TIMEOUT" "/ping answered" \
            h__influx_is "http://127.0.0.1:${H__PORT[$name]}" "$dir/influxdb.conf" || rc=$?
        [ "$rc" = 2 ] || break
        h__note "h_start_influxdb $name: a port was taken, retrying"
    done
    if [ "$rc" != 0 ]; then
        [ "$rc" != 2 ] || h__err "h_start_influxdb $name: no free port after 3 tries"
        return 1
    fi
    export "${name}_PORT=${H__PORT[$name]}" "${name}_URL=http://127.0.0.1:${H__PORT[$name]}"
    h__note "h_start_influxdb $name: up on 127.0.0.1:${H__PORT[$name]} in $(h__elapsed "$t0") s"
}

# h_influx NAME QUERY [DB [EPOCH]]: runs InfluxQL QUERY on NAME over HTTP
# (POST, so CREATE/DROP work too) and prints the JSON answer.  EPOCH (h, m,
# s, ms, u, ns) returns times as numbers.  Fails when the HTTP request fails
# or the answer holds an "error".
h_influx() {
    local name=$1 q=$2 db=${3:-} epoch=${4:-} out
    local -a args
    if [ -z "${H__PORT[$name]:-}" ]; then
        h__err "h_influx $name: no such influxdb was started"
        return 1
    fi
    args=(-sS --fail-with-body --max-time 30 -XPOST
          "http://127.0.0.1:${H__PORT[$name]}/query" --data-urlencode "q=$q")
    [ -z "$db" ] || args+=(--data-urlencode "db=$db")
    [ -z "$epoch" ] || args+=(--data-urlencode "epoch=$epoch")
    if ! out=$(curl "${args[@]}" 2>&1); then
        h__err "h_influx $name: query '$q' failed: $out"
        return 1
    fi
    printf '%s\n' "$out"
    case $out in
        *'"error":'*)
            h__err "h_influx $name: query '$q' returned an error"
            return 1 ;;
    esac
}

# h_influx_write NAME DB [PRECISION] < LINES: writes line protocol from
# stdin to database DB of NAME (timestamps in PRECISION, default s).
h_influx_write() {
    local name=$1 db=$2 precision=${3:-s} out
    if [ -z "${H__PORT[$name]:-}" ]; then
        h__err "h_influx_write $name: no such influxdb was started"
        return 1
    fi
    if ! out=$(curl -sS --fail-with-body --max-time 30 -XPOST --data-binary @- \
        "http://127.0.0.1:${H__PORT[$name]}/write?db=$db&precision=$precision" 2>&1); then
        h__err "h_influx_write $name: write to db '$db' failed: $out"
        return 1
    fi
}

# ---------------------------------------------------------------------------
# Kafka (librdkafka mock cluster, see kafka_mock.c)
# ---------------------------------------------------------------------------

# h__kafka_ready BOOTSTRAP TOPIC...: succeeds when kcat's metadata lists
# every TOPIC (or, with none given, when the broker answers at all).
h__kafka_ready() {
    local b=$1 md t
    shift
    md=$(kcat -b "$b" -L -m 2 2>/dev/null) || return 1
    for t in "$@"; do
        case $md in
            *"topic \"$t\" "*) ;;
            *) return 1 ;;
        esac
    done
}

# h__kafka_bootstrap NAME: succeeds once kafka_mock has printed its
# bootstrap address, and stores it in H__PORT-style bookkeeping.
h__kafka_bootstrap() {
    local line=
    read -r line < "${H__DIR[$1]}/bootstrap" 2>/dev/null || true
    [ -n "$line" ] || return 1
    H__BOOTSTRAP[$1]=$line
}

# h_start_kafka NAME [-p PARTITIONS] [TOPIC...]: starts a one-broker mock
# Kafka cluster with the given topics (1 partition each unless -p); exports
# NAME_BOOTSTRAP (host:port) and NAME_PORT.  Topics not created here are
# auto-created on first use, with 4 partitions (the mock's default).
h_start_kafka() {
    local name=$1 dir km t0 rc
    local -a margs=() topics=()
    h__check_init h_start_kafka || return 1
    h__check_name h_start_kafka "$name" || return 1
    shift
    if [ "${1:-}" = -p ]; then
        margs=(-p "${2:-}")
        shift 2 || { h__err "h_start_kafka $name: -p needs a number"; return 1; }
    fi
    topics=("$@")
    km=$(h__tool "h_start_kafka $name" kafka_mock) || return 1
    t0=$(h__now_us)
    dir=$H_TMP/$name
    H__DIR[$name]=$dir
    mkdir -p "$dir" || return 1
    : > "$dir/bootstrap"
    h__spawn "$name" "$dir/bootstrap" "$dir/kafka.log" "$dir/kafka.log" \
        "$km" "${margs[@]}" "${topics[@]}" || return 1
    h__await h_start_kafka "$name" "$H_START_TIMEOUT" "the bootstrap address was printed" \
        h__kafka_bootstrap "$name" || return 1
    # h__await ran h__kafka_bootstrap in this shell, so H__BOOTSTRAP is set.
    rc=0
    h__await h_start_kafka "$name" "$H_START_TIMEOUT" "kcat -L listed the topics" \
        h__kafka_ready "${H__BOOTSTRAP[$name]}" "${topics[@]}" || rc=$?
    [ "$rc" = 0 ] || return 1
    H__PORT[$name]=${H__BOOTSTRAP[$name]##*:}
    export "${name}_BOOTSTRAP=${H__BOOTSTRAP[$name]}" "${name}_PORT=${H__PORT[$name]}"
    h__note "h_start_kafka $name: up on ${H__BOOTSTRAP[$name]} in $(h__elapsed "$t0") s"
}

# h_start_faultproxy NAME TARGET_PORT [TARGET_HOST]: starts a fault proxy
# (tests/harness/faultproxy.c) in front of a TCP server; exports NAME_PORT
# (point the client there instead of at the server).  It passes traffic
# until told otherwise with h_fault.
h_start_faultproxy() {
    local name=$1 tport=$2 thost=${3:-127.0.0.1} fp dir t0 ports
    h__check_init h_start_faultproxy || return 1
    h__check_name h_start_faultproxy "$name" || return 1
    fp=$(h__tool "h_start_faultproxy $name" faultproxy) || return 1
    t0=$(h__now_us)
    dir=$H_TMP/$name
    H__DIR[$name]=$dir
    mkdir -p "$dir" || return 1
    h__spawn "$name" "$dir/proxy.log" "$dir/proxy.log" "$dir/proxy.log" \
        "$fp" "$thost" "$tport" "$dir/ports" || return 1
    h__await h_start_faultproxy "$name" "$H_START_TIMEOUT" "the ports file was written" \
        test -s "$dir/ports" || return 1
    read -r ports < "$dir/ports"
    H__PORT[$name]=${ports%% *}
    H__FAULTCTL[$name]=${ports##* }
    export "${name}_PORT=${H__PORT[$name]}"
    h__note "h_start_faultproxy $name: 127.0.0.1:${H__PORT[$name]} -> $thost:$tport in $(h__elapsed "$t0") s"
}
declare -gA H__FAULTCTL=()    # NAME -> the fault proxy's control port

# h_fault NAME pass|freeze|trickle MS [reply]|cut|status: tells NAME's fault proxy
# what to do from now on (see faultproxy.c); prints its answer
# ("ok MODE conns=N"); fails if it does not answer ok.
h_fault() {
    local name=$1 reply=
    shift
    [ -n "${H__FAULTCTL[$name]:-}" ] || { h__err "h_fault: '$name' is not a fault proxy"; return 1; }
    exec {fd}<>"/dev/tcp/127.0.0.1/${H__FAULTCTL[$name]}" || {
        h__err "h_fault $name: the control port does not answer"
        return 1
    }
    printf '%s\n' "$*" >&"$fd"
    read -r -t 5 reply <&"$fd" || true
    exec {fd}>&-
    case $reply in
        ok*) printf '%s\n' "$reply" ;;
        *) h__err "h_fault $name $*: ${reply:-no answer}"; return 1 ;;
    esac
}

# h__kafka_updown NAME SIG WORD [CALLER]: sends SIG to NAME's kafka_mock
# and waits until it confirms "broker WORD" in its log.
h__kafka_updown() {
    local name=$1 sig=$2 word=$3 caller=${4:-h_kafka_$3} log n0 pid
    pid=$(h_pid "$name") || return 1
    log=${H__DIR[$name]:-}/kafka.log
    n0=$(grep -c "kafka_mock: broker $word\$" "$log" 2>/dev/null || true)
    kill "-$sig" "$pid" 2>/dev/null || {
        h__err "$caller $name: kafka_mock (pid $pid) is not running"
        return 1
    }
    h_wait_until 5 h__kafka_count_is_more "$log" "broker $word" "${n0:-0}" || {
        h__err "$caller $name: kafka_mock did not confirm 'broker $word' within 5 s; log tail ($log):"
        h__tail "$log"
        return 1
    }
}

# h__kafka_count_is_more LOG WORDS N: succeeds when LOG has more than N
# "kafka_mock: WORDS" lines.
h__kafka_count_is_more() {
    local n
    n=$(grep -c "kafka_mock: $2\$" "$1" 2>/dev/null || true)
    [ "${n:-0}" -gt "$3" ]
}

# h_kafka_down NAME: takes the mock broker down (connections closed and
# refused) until h_kafka_up NAME.
h_kafka_down() {
    h__kafka_updown "$1" USR1 down
}

# h_kafka_up NAME: brings the mock broker back up.
h_kafka_up() {
    h__kafka_updown "$1" USR2 up
}

# h_kafka_freeze NAME: the mock broker hangs: connections stay open and
# requests are read (a produce is even appended to the log), but nothing is
# answered, until h_kafka_thaw NAME.  (The fault proxy cannot do this for
# Kafka: clients reach the broker at the address its metadata advertises.)
h_kafka_freeze() {
    h__kafka_updown "$1" WINCH frozen h_kafka_freeze
}

# h_kafka_thaw NAME: the mock broker answers again (a response held while
# frozen goes out with the connection's next request; see kafka_mock.c).
h_kafka_thaw() {
    h__kafka_updown "$1" URG thawed h_kafka_thaw
}

# h_kafka_produce NAME TOPIC < LINES: produces one message per stdin line;
# a line "KEY<TAB>VALUE" gives the message a key.
h_kafka_produce() {
    local name=$1 topic=$2 err
    if [ -z "${H__BOOTSTRAP[$name]:-}" ]; then
        h__err "h_kafka_produce $name: no such kafka was started"
        return 1
    fi
    if ! err=$(kcat -b "${H__BOOTSTRAP[$name]}" -P -t "$topic" -K $'\t' 2>&1); then
        h__err "h_kafka_produce $name: kcat could not produce to topic '$topic': $err"
        return 1
    fi
}

# h_kafka_consume NAME TOPIC COUNT [TIMEOUT_S]: prints the first COUNT
# messages of TOPIC (all partitions, from the beginning), one per line as
# "KEY<TAB>VALUE"; fails if fewer arrive within TIMEOUT_S (default 10).
h_kafka_consume() {
    local name=$1 topic=$2 count=$3 timeout=${4:-10} out got
    if [ -z "${H__BOOTSTRAP[$name]:-}" ]; then
        h__err "h_kafka_consume $name: no such kafka was started"
        return 1
    fi
    out=$(mktemp "$H_TMP/.kcat.XXXXXX") || return 1
    if timeout "$timeout" kcat -b "${H__BOOTSTRAP[$name]}" -C -t "$topic" \
        -o beginning -c "$count" -q -f '%k\t%s\n' > "$out" 2> "$out.err"; then
        cat "$out"
        rm -f "$out" "$out.err"
        return 0
    fi
    got=$(wc -l < "$out")
    h__err "h_kafka_consume $name: got $got of $count messages from topic '$topic' within $timeout s; kcat said:"
    h__tail "$out.err" 5
    if [ "$got" -gt 0 ]; then
        h__err "  messages received:"
        h__tail "$out" 20
    fi
    rm -f "$out" "$out.err"
    return 1
}

# ---------------------------------------------------------------------------
# systemd notify socket
# ---------------------------------------------------------------------------

# h_start_notify NAME: listens on a unix datagram socket like systemd's
# NOTIFY_SOCKET; exports NAME_SOCKET (pass it as NOTIFY_SOCKET) and NAME_OUT
# (the file that receives each datagram followed by a newline).
h_start_notify() {
    local name=$1 dir htool
    h__check_init h_start_notify || return 1
    h__check_name h_start_notify "$name" || return 1
    htool=$(h__tool "h_start_notify $name" htool) || return 1
    dir=$H_TMP/$name
    H__DIR[$name]=$dir
    mkdir -p "$dir" || return 1
    : > "$dir/notify.out"
    h__spawn "$name" "$dir/notify.log" "$dir/notify.log" "$dir/notify.log" \
        "$htool" notify-listen "$dir/notify.sock" "$dir/notify.out" || return 1
    h__await h_start_notify "$name" 5 "the socket was bound" \
        test -S "$dir/notify.sock" || return 1
    export "${name}_SOCKET=$dir/notify.sock" "${name}_OUT=$dir/notify.out"
}
