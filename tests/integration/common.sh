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

# agg_room_before PERIOD_S: wait (up to 330 s) until the next multiple of
# PERIOD_S (3600: the hour, 86400: midnight UTC) is at least 5 minutes
# away, for a test whose oracle is "the last whole hour" or "the UTC day"
# and must not straddle a boundary; fails the test if none comes.
agg_room_before() {
    h_wait_until 330 eval '[ $(( $(date +%s) % '"$1"' )) -lt $(( '"$1"' - 300 )) ]' \
        || h_fail "no room of 5 minutes before a multiple of $1 s of the clock"
}

# agg_answers_fast NAME [BOUND_S]: /healthz, /metrics and /v1/status each
# answer 5 times, every answer within BOUND_S (default 0.100: the issue's
# bound, some 30 times what a loaded machine takes) but one, which must
# come within 1 s: on a loaded 2-core machine (a sanitizer build beside
# three servers) the scheduler can hold one curl or the daemon for a tenth
# of a second, while a loop blocked by what hangs holds every answer for the
# dependency's timeout (2 s and more in these tests).  Sets AGG_SLOWEST to
# the slowest answer seen (s).  For the hang tests: the loop does no I/O to
# a dependency, so what hangs must not show here.
agg_answers_fast() {
    local name=$1 bound=${2:-0.100} path k t over=0
    AGG_SLOWEST=0
    for path in /healthz /metrics /v1/status; do
        for k in 1 2 3 4 5; do
            t=$(agg_get "$name" "$path" -f -o /dev/null -w '%{time_total}') || { h__err "$path failed"; return 1; }
            AGG_SLOWEST=$(awk -v a="$AGG_SLOWEST" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
            awk -v t="$t" -v b="$bound" 'BEGIN { exit !(t < b) }' && continue
            over=$((over + 1))
            awk -v t="$t" 'BEGIN { exit !(t < 1) }' && [ "$over" -le 1 ] \
                || { h__err "$path took $t s (bound $bound s; answers over it: $over of 15, one within 1 s allowed)"; return 1; }
        done
    done
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

# tz_conf FILE NODE REDIS_PORT UDP_PORT HTTP_PORT: the totalizer fault
# tests' config: one rule "n" counting tz_feed's lines by key (source "s",
# one bucket of a day), flush 200 ms, 2 receive threads, Redis timeout
# 500 ms, state in $H_TMP/state; checked with -n.
tz_conf() {
    cat > "$1" <<CONF
node = { name = "$2"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$5"; };
redis = { port = $3; timeout_ms = 500; };
totalizer = {
  flush_ms = 200; threads = 2;
  rules = (
    { name = "n"; prefix = "n"; listen = "127.0.0.1:$4";
      match = "^line (\\\\d+) (\\\\S+)"; matched = "\$2"; source = "s"; ttl = 86400; buckets = 1; }
  );
};
CONF
    "$AGGD" -n -c "$1" > /dev/null || h_fail "config rejected: $("$AGGD" -n -c "$1" 2>&1)"
}
# fresh_id: a uid that is also a free gid, known to neither database: a
# daemon run as it (setpriv --reuid/--regid, as systemd does) is stopped by
# file modes, as root is not.
fresh_id() {
    local id
    for id in $(shuf -i 20000-59999 -n 200); do
        getent passwd "$id" >/dev/null || getent group "$id" >/dev/null || { echo "$id"; return 0; }
    done
    return 1
}
# agg_gcov_any_uid: on a coverage build ($AGG_BUILD holds gcov notes), let a
# daemon run as another uid record its counts: the counter files and their
# directories made writable by all.  Nothing on other builds.
agg_gcov_any_uid() {
    local d=$H_TOP/$AGG_BUILD
    [ -n "$(find "$d" -name '*.gcno' -print -quit 2>/dev/null)" ] || return 0
    find "$d" -name '*.gcno' -printf '%h\n' | sort -u | xargs -r chmod a+wx
    find "$d" -name '*.gcda' -exec chmod a+w {} +
}
# tz_metric NAME METRIC: a metric of daemon NAME, 0 when it is absent.
tz_metric() { local v; v=$(agg_metric "$1" "$2"); echo "${v:-0}"; }
# tz_setup NODE: what the totalizer fault tests start from: Redis r1 (R
# runs a command on it), a UDP port $uport and an HTTP port $hport, the
# config $conf (tz_conf) for a daemon the test starts as "t", $held (its
# held-counts directory), and metric, lines_are, feed (tz_feed to $uport),
# oracle, stored, stored_is (Redis against the lines sent) and
# no_held_files.  A test may define its own versions after it.
tz_setup() {
    h_start_redis r1
    R() { h_redis r1 "$@"; }
    uport=$(h_free_port udp)
    hport=$(h_free_port tcp)
    held=$H_TMP/state/totalizer
    conf=$H_TMP/t.conf
    tz_conf "$conf" "$1" "$r1_PORT" "$uport" "$hport"
    metric() { tz_metric t "$1"; }
    lines_are() { [ "$(metric aggregatord_totalizer_lines_total)" = "$1" ]; }
    feed() { tz_feed "$1" "$2" "$3" "$4" "$uport"; }
    oracle() { tz_oracle "$1"; }
    stored() { tz_stored r1 n; }
    stored_is() { [ "$(stored)" = "$(oracle "$1")" ]; }
    no_held_files() { [ -z "$(find "$held" -name '*.held' 2>/dev/null)" ]; }
}
# Totalizer counts against an oracle independent of the daemon: the lines a
# test sent, counted per key.  tz_feed FILE FIRST COUNT KEYS PORT appends
# COUNT numbered lines "line I uK" (FIRST.., K = I % KEYS) to FILE and sends
# them to 127.0.0.1:PORT; tz_oracle FILE prints "key count" per key, sorted;
# tz_stored REDIS PREFIX prints the same from the h_start_redis server REDIS
# (keys PREFIX;KEY;SOURCE;TS, summed over TS).  The rule that matches them:
#   match = "^line (\\\\d+) (\\\\S+)"; matched = "\$2";
tz_feed() {
    local f=$1 first=$2 count=$3 keys=$4 port=$5
    awk -v a="$first" -v n="$count" -v k="$keys" \
        'BEGIN { for (i = a; i < a + n; i++) printf "line %d u%d\n", i, i % k }' > "$f.new"
    cat "$f.new" >> "$f"
    "$H_BIN/htool" udp-send -n 20 127.0.0.1 "$port" < "$f.new"
}
tz_oracle() {
    awk '{ n[$3]++ } END { for (k in n) print k, n[k] }' "$1" | sort
}
tz_stored() {
    h_redis "$1" --scan --pattern "$2;*" | sort | while IFS= read -r k; do
        printf '%s %s\n' "$(printf '%s' "$k" | cut -d';' -f2)" "$(h_redis "$1" GET "$k")"
    done | awk '{ n[$1] += $2 } END { for (k in n) print k, n[k] }' | sort
}

# The "seq" tests: a totalizer rule `match = "seq=(\\\\d+)"; matched = "\$1"`
# turns each line seq=N into a key holding N, and each flush publishes a
# totals event whose key's second ';' field is N.
# seq_conf FILE NODE STATE_DIR UDP_PORT HTTP_PORT: a daemon counting seq
# lines into Redis r ($r_PORT) and publishing the totals events to Kafka
# ($k_BOOTSTRAP; linger 5 ms, message timeout 2 s), flush 200 ms.
seq_conf() {
    cat > "$1" <<CONF
node = { name = "$2"; state_dir = "$3"; };
http = { listen = "127.0.0.1:$5"; };
redis = { port = $r_PORT; };
kafka = { brokers = "$k_BOOTSTRAP"; properties = [ "linger.ms=5", "message.timeout.ms=2000" ]; };
totalizer = { flush_ms = 200; threads = 1; rules = (
  { prefix = "seq"; listen = "127.0.0.1:$4"; match = "seq=(\\\\d+)"; matched = "\$1"; source = "s"; } ); };
CONF
}
# seq_send PORT FROM TO: the lines seq=FROM..seq=TO to 127.0.0.1:PORT.
seq_send() { seq "$2" "$3" | sed 's/^/seq=/' | "$H_BIN/htool" udp-send -n 50 127.0.0.1 "$1"; }
# seq_on_topic: the N of every totals event on the topic ($k_BOOTSTRAP),
# from the start, one a line, in topic order, duplicates kept.
seq_on_topic() {
    kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q -f '%k\n' 2>/dev/null |
        awk -F';' '{ print $2 }'
}

# The consumer of docs/election.md ("The consumer's rule"), written from the
# rule, not from the code: per partition, in offset order, H = the largest
# epoch of an event marked "elected":true so far; an elected event with an
# epoch below H is dropped, any other event is kept (an event without the
# mark counts as elected: the rule as it was before overrides were marked).
# consumer_kept prints the numbers (the second ';' field of the key) of the
# events kept on aggregatord.totals at k_BOOTSTRAP.
consumer_kept() {
    kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q -f '%p\t%k\t%s\n' 2>/dev/null |
        awk -F'\t' '{
            elected = ($3 !~ /"elected":false/)
            if (!match($3, /"epoch":[0-9]+/)) { print "no-epoch"; next }
            ep = substr($3, RSTART + 8, RLENGTH - 8) + 0
            if (elected) {
                if (($1 in H) && ep < H[$1]) next
                if (!($1 in H) || ep > H[$1]) H[$1] = ep
            }
            split($2, f, ";"); print f[2]
        }'
}
kept_all() {	# FROM TO: the consumer kept every number FROM..TO
    [ "$(consumer_kept | sort -un | awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b' | wc -l)" = $(( $2 - $1 + 1 )) ]
}
missing() {	# FROM TO: numbers the consumer did not keep (for messages)
    consumer_kept | sort -un | awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b' |
        awk -v a="$1" -v b="$2" 'BEGIN { e = a } { while (e < $1) { printf "%d ", e; e++ } e = $1 + 1 } END { while (e <= b) { printf "%d ", e; e++ } }' | head -c 200
}

# ---- the sweep tests' MariaDB side ----
# sweep_find_schema: sets SCHEMA to FreeRADIUS's MySQL schema.sql (package
# freeradius-config), or fails the test.
sweep_find_schema() {
    SCHEMA=$(ls /etc/freeradius/3.0/mods-config/sql/main/mysql/schema.sql 2>/dev/null || \
             find / -path '*/mods-config/sql/main/mysql/schema.sql' 2>/dev/null | head -n 1)
    [ -n "$SCHEMA" ] || h_fail "FreeRADIUS's schema.sql not found (package freeradius-config)"
}
# load_schema NAME...: a fresh `radius` database with FreeRADIUS's schema on each.
load_schema() {
    local n
    for n in "$@"; do
        h_mysql "$n" -e "DROP DATABASE IF EXISTS radius; CREATE DATABASE radius"
        h_mysql "$n" radius < "$SCHEMA"
    done
}
# Q NAME SQL: the rows of one query on NAME's radius database, tab-separated.
Q() { local n=$1; shift; h_mysql "$n" radius -N -B -e "$*"; }
# sw_rows NODE FROM TO: closed sessions NODE-FROM..NODE-TO on NODE, ended ten
# minutes ago; acctinputoctets = the number, acctoutputoctets = 7 times it.
sw_rows() {
    local i v=
    for ((i = $2; i <= $3; i++)); do
        v+="${v:+,}('s-$1-$i','$1-$i','u','10.0.0.1','1',NOW() - INTERVAL 20 MINUTE,NOW() - INTERVAL 15 MINUTE,NOW() - INTERVAL 10 MINUTE,600,$i,$((7 * i)),'User-Request')"
    done
    Q "$1" "INSERT INTO radacct (acctsessionid,acctuniqueid,username,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause) VALUES $v"
}
# sw_count NAME: rows in NAME's radacct.
sw_count() { Q "$1" "SELECT COUNT(*) FROM radacct"; }
# sw_master_of NODE: master's (ms) committed sessions of NODE's sw_rows as
# "count distinct sum-in sum-out"; sw_expect N: what sessions 1..N give.
sw_master_of() { Q ms "SELECT COUNT(*), COUNT(DISTINCT acctuniqueid), COALESCE(SUM(acctinputoctets),0), COALESCE(SUM(acctoutputoctets),0) FROM radacct WHERE acctuniqueid LIKE '$1-%'" | tr '\t' ' '; }
sw_expect() { local s=$(( $1 * ($1 + 1) / 2 )); echo "$1 $1 $s $(( 7 * s ))"; }
# ---- a second session on a MariaDB server, fed statements as a test goes ----
# sess_open NAME SERVER: mariadb on SERVER's radius reading from a fifo;
# sess NAME SQL: send it SQL; sess_mark NAME WORD: send SELECT 'WORD' and wait
# until its output shows it (every statement before it has run).
declare -A SESS_FD=()
sess_open() {
    local name=$1 srv=$2 fd
    mkfifo "$H_TMP/$name.fifo"
    exec {fd}<>"$H_TMP/$name.fifo"
    SESS_FD[$name]=$fd
    h_spawn "$name" "$H_TMP/$name.log" sh -c \
        "exec mariadb --no-defaults -uroot --socket='${H__DIR[$srv]}/mysqld.sock' -N -n --force < '$H_TMP/$name.fifo'"
}
sess() { printf '%s\n' "$2" >&"${SESS_FD[$1]}"; }
sess_mark() {
    sess "$1" "SELECT 'mark-$2';"
    h_wait_until 20 grep -q "^mark-$2\$" "$H_TMP/$1.log" || h_fail "session $1 never reached $2: $(cat "$H_TMP/$1.log")"
}
sess_close() {
    sess "$1" "QUIT"
    exec {SESS_FD[$1]}>&-
    h_wait_exit "$1" 20 >/dev/null 2>&1 || true
    rm -f "$H_TMP/$1.fifo"
    unset "SESS_FD[$1]"
}
# processlist SERVER PATTERN: ids of the connections running a statement LIKE PATTERN
processlist() {
    Q "$1" "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '$2' AND ID <> CONNECTION_ID()"
}
in_lock_wait() {	# SERVER PATTERN: a statement LIKE PATTERN runs (held by a lock the test holds)
    [ -n "$(processlist "$1" "$2")" ]
}

# sweep_once CONF [ok|fail]: one `aggregatord --once sweep` with CONF, its
# log in $ONCE_LOG ($H_TMP/onceN.log, N counting the calls).  Returns its
# exit status; given ok (fail), fails the test unless it succeeded (failed).
# sweep_bg CONF: the same in the background, its pid in $SWEEP_PID.
# log_has ERE: the last one's log has a line matching ERE.
n_once=0
ONCE_LOG=
sweep_once() {
    local rc=0
    n_once=$((n_once + 1))
    ONCE_LOG=$H_TMP/once$n_once.log
    "$AGGD" -c "$1" --once sweep > "$ONCE_LOG" 2>&1 || rc=$?
    case ${2:-} in
    ok) [ $rc = 0 ] || h_fail "sweep $n_once ($1) failed: $(cat "$ONCE_LOG")"; rc=0 ;;
    fail) [ $rc != 0 ] || h_fail "sweep $n_once ($1) succeeded; it should have failed"; rc=0 ;;
    esac
    return $rc
}
sweep_bg() {
    n_once=$((n_once + 1))
    ONCE_LOG=$H_TMP/once$n_once.log
    "$AGGD" -c "$1" --once sweep > "$ONCE_LOG" 2>&1 &
    SWEEP_PID=$!
}
log_has() { grep -Eq -- "$1" "$ONCE_LOG"; }
# readback_log_on NAME: NAME's general log emptied and on (into its table);
# readbacks NAME: turns it off and prints how many times the sweep read
# whole rows back by acctuniqueid for events (ra_sql_rows: SELECT
# `acctsessionid`, ... executed) while it was on
readback_log_on() { Q "$1" "SET GLOBAL general_log = 0; SET GLOBAL log_output = 'TABLE'; TRUNCATE mysql.general_log; SET GLOBAL general_log = 1"; }
readbacks() {
    Q "$1" "SET GLOBAL general_log = 0"
    Q "$1" "SELECT COUNT(*) FROM mysql.general_log WHERE command_type = 'Execute' AND argument LIKE 'SELECT \`acctsessionid\`%'"
}

# sweep_conf FILE EXTRA MEMBER...: a config sweeping MEMBERs into ms (ports
# from lib.sh), stale_after 3600, batch 3; EXTRA is put in as is ("" for none).
sweep_conf() {
    local f=$1 extra=$2 first=1 m p
    shift 2
    {
        echo "node = { name = \"sw\"; state_dir = \"$H_TMP/state\"; };"
        [ -z "$extra" ] || echo "$extra"
        echo "sweep = { stale_after = 3600; batch = 3; timeout = 5;"
        echo "  master = { host = \"127.0.0.1\"; port = $ms_PORT; user = \"root\"; };"
        echo "  members = ("
        for m in "$@"; do
            p=$(eval echo "\$${m}_PORT")
            [ $first = 1 ] || echo ","
            first=0
            echo "    { name = \"$m\"; host = \"127.0.0.1\"; port = $p; user = \"root\"; }"
        done
        echo "  ); };"
    } > "$f"
}

# sweep_race M1CONF: the race of a closed row FreeRADIUS changes between the
# sweep's read and its delete.  Loads u_race (closed) on m1 and an open copy
# on ms, holds master's row lock from another session (its SLEEP(60) killed
# once the race is set up, so a slow machine cannot outlast it), runs
# `--once sweep` with M1CONF's timeout raised to 10 s, and once that sweep
# has read the row and waits for master, updates the row on m1 (as
# FreeRADIUS would); waits for the sweep (its log: $H_TMP/race.log).  Needs
# the test's row() and $COLS.
sweep_race() {
    row m1 u_race 0 10 30 1800 100 100 User-Request
    Q ms "INSERT INTO radacct ($COLS) VALUES ('s-u_race','u_race','x','10.0.0.1','1', NOW(), NOW(), NULL, 1, 1, 1, '')"
    h_spawn locker "$H_TMP/locker.log" mariadb --no-defaults -uroot --socket="$ms_SOCK" radius \
        -e "BEGIN; SELECT acctuniqueid FROM radacct WHERE acctuniqueid = 'u_race' FOR UPDATE; SELECT SLEEP(60); COMMIT;"
    # it holds the lock once its session is in the SLEEP (the FOR UPDATE is done)
    lock_held() {
        h_running locker || h_fail "the lock holder exited early: $(cat "$H_TMP/locker.log")"
        [ "$(Q ms "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)'")" = 1 ]
    }
    h_wait_until 10 lock_held || h_fail "the lock holder did not take the lock: $(cat "$H_TMP/locker.log")"
    sed 's/timeout = 5;/timeout = 10;/' "$1" > "$H_TMP/race-slow.conf"
    "$AGGD" -c "$H_TMP/race-slow.conf" --once sweep > "$H_TMP/race.log" 2>&1 &
    local sw=$!
    # the sweep has read the row and waits for master's lock: now FreeRADIUS writes
    h_wait_until 10 sh -c "[ \$(mariadb --no-defaults -uroot --socket='$ms_SOCK' -N -e \"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO %radacct%'\") -ge 1 ]" \
        || h_fail "the sweep never reached master"
    Q m1 "UPDATE radacct SET acctupdatetime = acctupdatetime + INTERVAL 1 MINUTE, acctinputoctets = 150 WHERE acctuniqueid = 'u_race'"
    # the race is set: master's lock goes (the holder's session killed, its
    # transaction rolled back) and the sweep's write goes on
    Q ms "KILL $(Q ms "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)'")"
    h_wait_until 10 eval '! h_running locker' || h_fail "the lock holder did not finish"
    wait $sw || h_fail "the raced sweep failed: $(cat "$H_TMP/race.log")"
}

# ---- the publish spool, read and written from docs/formats.md ----
# spool_write FILE: writes a spool file of the records on stdin, one a line,
# "KEY<TAB>VALUE[<TAB>TOPIC[<TAB>bad]]" (topic aggregatord.totals unless
# given; "bad": the record's CRC-32 is off by one).
spool_write() {
    perl -MCompress::Zlib -ne '
        BEGIN { open(OUT, ">", $ARGV[0]) or die "$ARGV[0]: $!"; shift @ARGV; binmode OUT }
        chomp; my ($k, $v, $t, $bad) = split /\t/, $_, 4; $t = "aggregatord.totals" unless length($t // "");
        my $c = crc32($t . $k . $v); $c = ($c + 1) & 0xffffffff if ($bad // "") eq "bad";
        print OUT "AGS1", pack("VVVV", length $t, length $k, length $v, $c), $t, $k, $v;
        END { close(OUT) or die }' "$1"
}
# spool_keys FILE...: the keys of the sound records of spool files, one a
# line; a file's reading stops at its first torn or corrupt record.
spool_keys() {
    perl -MCompress::Zlib -e '
        for my $f (@ARGV) {
            open(my $in, "<", $f) or next; binmode $in; local $/; my $b = <$in>; my $o = 0;
            while ($o + 20 <= length $b) {
                my ($m, $tl, $kl, $vl, $c) = unpack("a4VVVV", substr($b, $o, 20));
                last if $m ne "AGS1" || $o + 20 + $tl + $kl + $vl > length $b;
                my $body = substr($b, $o + 20, $tl + $kl + $vl);
                last if crc32($body) != $c;
                print substr($body, $tl, $kl), "\n"; $o += 20 + $tl + $kl + $vl;
            }
        }' "$@"
}

# faketime_lib: print the path of libfaketime's multi-threaded library (the
# Debian package faketime), or fail.
faketime_lib() {
    local f
    for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 /usr/lib/*/faketime/libfaketimeMT.so.1; do
        [ -e "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}
