# sweep_bench.sh — sourced by bench/run.sh (after lib.sh, h_init).
#
# The sweep's speed (issue 5, "Speed"): two member MariaDBs loaded with
# FreeRADIUS's own schema, each seeded with CLOSED closed + OPEN open radacct
# rows (default 250k + 50k), swept into an empty master by
# `aggregatord --once sweep` (batch 1000), beside two baselines measured in
# the same run on the same data:
#   - the old way: per member, in turn, `mysqldump --replace` of every row
#     (open ones too: master must hold them, as the sweep's master does)
#     piped into `mysql` on master, then `DELETE FROM radacct WHERE
#     acctstoptime IS NOT NULL` on the member;
#   - the ceiling: `LOAD DATA LOCAL INFILE` of the same closed rows into an
#     empty master (insert only: no read from a member, no delete);
# and two bounds: the work floor (sb__floor), the server CPU any move of
# these rows needs, spread over every core; and the guarded floor
# (sb__guarded), the same work done as the sweep's guarantees require it
# (the sweep's pages, each its own transaction, the members' exact guard)
# with the least a client does, spread the same way.  Each method runs SWEEP_BENCH_RUNS
# times (default 2), interleaved, and keeps its best time.
# Seeding and restoring are not timed.  Each method starts from the same
# state: members reloaded from the same TSV (same radacctids), master empty,
# InnoDB purge caught up on all three servers.
#
# Usage: sweep_bench [CLOSED [OPEN]]     (rows per member)
# It starts (and stops at the end) three MariaDBs, swm1 swm2 swms.
# Environment: AGG_BUILD (default build), SWEEP_BENCH_RUNS, SWEEP_BENCH_BP (InnoDB buffer pool
# set on each server for the run, default 1G; see sb__setup),
# SWEEP_BENCH_PROFILE=1 (then an extra, untimed sweep with the servers'
# process lists sampled: where the member threads spend their time).
# shellcheck shell=bash disable=SC2154  # NAME_PORT, NAME_SOCK are set by h_start_mariadb

: "${AGG_BUILD:=build}"
SB_BATCH=1000   # the sweep's page (sweep.batch), also the guarded floor's
SB_COLS=acctsessionid,acctuniqueid,username,realm,nasipaddress,nasportid,nasporttype,acctstarttime,acctupdatetime,acctstoptime,acctinterval,acctsessiontime,acctauthentic,connectinfo_start,connectinfo_stop,acctinputoctets,acctoutputoctets,calledstationid,callingstationid,acctterminatecause,servicetype,framedprotocol,framedipaddress,framedipv6address,framedipv6prefix,framedinterfaceid,delegatedipv6prefix,class

# sb__gen TOTAL OPEN MEMBER NOW SEED: prints TOTAL radacct rows as a TSV
# for LOAD DATA (columns $SB_COLS, no radacctid; \N is NULL), in the order
# FreeRADIUS would have inserted them (by start time, over the last day
# before NOW).  OPEN of them, spread evenly, are open (no stop time, no
# cause, connectinfo_stop NULL as the Start query leaves it); the others
# closed with start < update < stop <= NOW - 60 and acctsessiontime = stop -
# start.  acctuniqueid is 32 hex digits, distinct within and across members
# (the third group is a bijection of MEMBER * 2^20 + row).  Times are UTC.
sb__gen() {
    awk -v TOTAL="$1" -v OPEN="$2" -v M="$3" -v NOW="$4" -v SEED="$5" '
    function ts(t,   z, era, doe, yoe, doy, mp, d, m, y, s) {	# epoch -> "Y-m-d H:M:S" UTC
        s = t % 86400; z = int(t / 86400) + 719468
        era = int(z / 146097); doe = z - era * 146097
        yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
        y = yoe + era * 400; doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
        mp = int((5 * doy + 2) / 153); d = doy - int((153 * mp + 2) / 5) + 1
        m = mp < 10 ? mp + 3 : mp - 9; if (m <= 2) y++
        return sprintf("%04d-%02d-%02d %02d:%02d:%02d", y, m, d, int(s / 3600), int(s % 3600 / 60), s % 60)
    }
    function h32() { return int(rand() * 4294967296) }
    function b() { return int(rand() * 256) }
    BEGIN {
        OFS = "\t"; srand(SEED)
        nc = split("User-Request User-Request User-Request User-Request User-Request " \
                   "User-Request User-Request User-Request User-Request Lost-Carrier " \
                   "Lost-Carrier Lost-Carrier Lost-Carrier Idle-Timeout Idle-Timeout " \
                   "Session-Timeout Session-Timeout NAS-Request Port-Error Admin-Reset", cause, " ")
        for (i = 1; i <= TOTAL; i++) {
            open = int(i * OPEN / TOTAL) != int((i - 1) * OPEN / TOTAL)
            start = NOW - 86400 + int(i * 86000 / TOTAL)
            avail = NOW - 60 - start			# >= 340 s
            v = M * 1048576 + i
            uid = sprintf("%08x%08x%08x%08x", h32(), h32(), (v * 2654435761) % 4294967296, h32())
            nas = int(rand() * 40)
            if (open) {
                dur = 1 + int(rand() * avail); upd = start + dur
                stop = "\\N"; tc = ""; cis = "\\N"
            } else {
                r = rand(); dur = 30 + int(r * r * (avail - 30))
                upd = start + 1 + int(rand() * (dur - 1))
                stop = ts(start + dur); tc = cause[1 + int(rand() * nc)]; cis = ""
            }
            p6 = rand() < 0.3
            print sprintf("%08X", h32()), uid, sprintf("user%05d@isp.example", int(rand() * 40000)), "",
                  sprintf("10.%d.%d.1", 20 + nas % 4, nas),
                  sprintf("ae0.%d:%d-%d", 2000 + nas, 100 + int(rand() * 50), 1000 + int(rand() * 3000)),
                  "Virtual", ts(start), ts(upd), stop, 300, dur, "RADIUS", "", cis,
                  int(rand() * dur * 20000), int(rand() * dur * 200000), sprintf("bras-%02d", nas),
                  sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b(), b(), b(), b(), b(), b()),
                  tc, "Framed-User", "PPP",
                  sprintf("100.%d.%d.%d", 64 + int(v / 65536) % 64, int(v / 256) % 256, v % 256), "",
                  p6 ? sprintf("2001:db8:%x:%x::/64", M, i % 65536) : "", "",
                  p6 ? sprintf("2001:db8:%x%02x:%x00::/56", M, int(i / 65536), i % 256) : "", "\\N"
        }
    }'
}

# sb__q NAME SQL: runs SQL in NAME's radius database (UTC), batch output.
sb__q() {
    h_mysql "$1" --local-infile=1 radius -N -B -e "SET time_zone = '+00:00'; $2"
}

# sb__load NAME TSV...: empties NAME's radacct (auto-increment back to 1) and
# loads the TSVs into it.
sb__load() {
    local name=$1 f sql="TRUNCATE radacct;"
    shift
    for f in "$@"; do
        sql+=" LOAD DATA LOCAL INFILE '$f' INTO TABLE radacct ($SB_COLS);"
    done
    sb__q "$name" "$sql"
}

# sb__purged NAME...: succeeds when InnoDB purge is done on each NAME (a
# big DELETE leaves work that would run during the next measurement).  The
# history length counts transactions, not rows: the old way's one DELETE of
# 250k rows is 1 for the ~15 CPU-seconds its purge takes, so only 0 is done.
sb__purged() {
    local n v
    for n in "$@"; do
        v=$(h_mysql "$n" -N -B -e "SELECT count FROM information_schema.INNODB_METRICS WHERE name = 'trx_rseg_history_len'" 2>/dev/null) || return 1
        [ "${v:-1}" = 0 ] || return 1
    done
}

# sb__wait_purge: waits (up to 300 s) until purge has caught up on the
# three servers; fails at once if one of them is not running.
sb__wait_purge() {
    local n
    for n in swm1 swm2 swms; do
        h_running "$n" || { echo "sweep_bench: MariaDB $n is not running" >&2; return 1; }
    done
    h_wait_until 300 sb__purged swm1 swm2 swms || echo "  (note: InnoDB purge still behind after 300 s)"
}

# sb__reset: members back to their seeded rows, master empty, purge done.
sb__reset() {
    local p1 p2 rc=0
    sb__load swm1 "$SB_DIR/m1.tsv" & p1=$!
    sb__load swm2 "$SB_DIR/m2.tsv" & p2=$!
    sb__q swms "TRUNCATE radacct" || rc=1
    wait "$p1" || rc=1
    wait "$p2" || rc=1
    [ "$rc" = 0 ] || { echo "sweep_bench: restoring the members failed" >&2; return 1; }
    sb__wait_purge
}

# sb__secs START_US END_US: prints the seconds between, like 12.345.
sb__secs() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'
}

# sb__rate ROWS SECS: rows per second, rounded.
sb__rate() {
    awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }'
}

# sb__ratio A B: A / B with two decimals.
sb__ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'
}

# sb__min A B: the smaller of two times (A may be empty: then B).
sb__min() {
    awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'
}

# sb__k N: 250000 -> 250k.
sb__k() {
    if [ $(( $1 % 1000 )) = 0 ]; then echo "$(( $1 / 1000 ))k"; else echo "$1"; fi
}


# sb__ticks NAME: CPU time (user + system, clock ticks) used so far by NAME.
sb__ticks() {
    local line
    local -a st
    read -r line < "/proc/$(h_pid "$1")/stat" || return 1
    read -r -a st <<< "${line##*) }"
    echo $(( st[11] + st[12] ))
}

# sb__tsecs TICKS: prints TICKS as seconds, like 12.3.
sb__tsecs() {
    awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'
}

# sb__cpu NAME...: prints the CPU seconds (user + system) used so far by the
# servers NAME... together.
sb__cpu() {
    local n t=0
    for n in "$@"; do
        t=$(( t + $(sb__ticks "$n") )) || return 1
    done
    sb__tsecs "$t"
}

# sb__cpus: prints the CPU seconds used so far by swm1, swm2 and swms, in
# that order.
sb__cpus() {
    local n
    for n in swm1 swm2 swms; do
        printf '%s ' "$(sb__tsecs "$(sb__ticks "$n")")" || return 1
    done
    echo
}

# sb__children_cpu FILE: writes to FILE the CPU seconds (user + system) of
# this shell's finished children so far (bash's `times`, second line; not
# in a $(...), whose subshell has children of its own).
sb__children_cpu() {
    times > "$1.times"
    awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%.2f", t }' \
        "$1.times" > "$1"
}

# sb__cpu_note CPU0 CPU1 CLIENT ROWS: the CPU seconds per 100k rows moved
# of each member, master and the client, between two sb__cpus readings;
# prints "m1 m2 master client".
sb__cpu_note() {
    awk -v a="$1" -v b="$2" -v c="$3" -v n="$4" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        printf "%.2f %.2f %.2f %.2f", (y[1] - x[1]) * 1e5 / n, (y[2] - x[2]) * 1e5 / n, (y[3] - x[3]) * 1e5 / n, c * 1e5 / n }'
}

# sb__since FILE0 FILE1 SUM: SUM plus the children's CPU seconds between two
# sb__children_cpu readings.
sb__since() {
    awk -v a="$(cat "$1")" -v b="$(cat "$2")" -v s="$3" 'BEGIN { printf "%.2f", s + b - a }'
}

# sb__parts_note MEMBER_TICKS MASTER_TICKS ROWS: the members' and master's
# CPU seconds per 100k rows moved; prints "members master".
sb__parts_note() {
    awk -v m="$1" -v s="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        printf "%.2f %.2f", m / hz * 1e5 / n, s / hz * 1e5 / n }'
}

# sb__cpu_min NOTE_A NOTE_B: of two sb__cpu_note readings, the one with the
# least CPU in all (A may be empty).
sb__cpu_min() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "") { print b; exit }
        split(a, x, " "); split(b, y, " ")
        print (y[1] + y[2] + y[3] + y[4] < x[1] + x[2] + x[3] + x[4]) ? b : a }'
}

# sb__setup CLOSED OPEN: starts the member servers swm1, swm2 and master
# swms, loads FreeRADIUS's schema, generates the TSVs and seeds the members.
sb__setup() {
    local closed=$1 open=$2 total=$(( $1 + $2 )) bp=${SWEEP_BENCH_BP:-1G} schema n c now t0
    SB_DIR=$H_TMP/sweepbench
    mkdir -p "$SB_DIR"
    schema=$(ls /etc/freeradius/3.0/mods-config/sql/main/mysql/schema.sql 2>/dev/null || \
             find / -path '*/mods-config/sql/main/mysql/schema.sql' 2>/dev/null | head -n 1)
    [ -n "$schema" ] || { echo "sweep_bench: FreeRADIUS's schema.sql not found (package freeradius-config)" >&2; return 1; }
    h_start_mariadb swm1 swm2 swms || return 1
    # lib.sh's servers are tuned to start fast (32M buffer pool, 4M redo
    # log): a 300k-row radacct with its 14 indexes does not fit, and every
    # method would measure disk thrashing instead of itself (seeding one
    # member took 69 s instead of 9).  Give each server what an accounting
    # database would have; all three methods run with it.
    for n in swm1 swm2 swms; do
        h_mysql "$n" -e "SET GLOBAL innodb_buffer_pool_size = $(numfmt --from=iec "$bp");
                         SET GLOBAL innodb_log_file_size = 512 * 1024 * 1024;
                         DROP DATABASE IF EXISTS radius; CREATE DATABASE radius" || return 1
        h_mysql "$n" radius < "$schema" || return 1
    done
    echo "  servers: MariaDB $(h_mysql swms -N -B -e 'SELECT VERSION()'), innodb_buffer_pool_size $bp," \
         "innodb_log_file_size 512M (set for this run), flush_log_at_trx_commit 2, no binlog"
    t0=${EPOCHREALTIME//[.,]/}
    now=$(date +%s)
    sb__gen "$total" "$open" 1 "$now" 11 > "$SB_DIR/m1.tsv" &
    sb__gen "$total" "$open" 2 "$now" 22 > "$SB_DIR/m2.tsv" || return 1
    wait $! || return 1
    for n in 1 2; do
        awk -F'\t' '$10 != "\\N"' "$SB_DIR/m$n.tsv" > "$SB_DIR/m$n.closed.tsv" || return 1
    done
    sb__reset || return 1
    for n in swm1 swm2; do
        c=$(sb__q "$n" "SELECT COUNT(*), SUM(acctstoptime IS NOT NULL), COUNT(DISTINCT acctuniqueid) FROM radacct")
        [ "$c" = "$total	$closed	$total" ] || { echo "sweep_bench: $n seeded wrong: rows, closed, distinct = $c" >&2; return 1; }
    done
    echo "  seeded in $(sb__secs "$t0" "${EPOCHREALTIME//[.,]/}") s (generated TSVs, LOAD DATA LOCAL; not timed;" \
         "members reloaded from them before each method)"
    cat > "$SB_DIR/sweep.conf" <<CONF
node = { name = "sweepbench"; state_dir = "$SB_DIR/state"; };
log = { level = "info"; };
sweep = { batch = $SB_BATCH; stale_after = 2592000; timeout = 120;
  master = { host = "127.0.0.1"; port = $swms_PORT; user = "root"; };
  members = (
    { name = "m1"; host = "127.0.0.1"; port = $swm1_PORT; user = "root"; },
    { name = "m2"; host = "127.0.0.1"; port = $swm2_PORT; user = "root"; }
  ); };
CONF
}

# sb__sweep CLOSED OPEN: one timed `aggregatord --once sweep` of both
# members into the empty master, then the checks.  Sets SB_SW_S (seconds),
# SB_RSS (peak KiB), SB_SW_CPU (a note on CPU use) and SB_SW_CPUN (CPU s
# per 100k rows moved: m1 m2 master daemon).
sb__sweep() {
    local closed=$1 open=$2 total=$(( $1 + $2 )) n c t0 t1 cpu0 cpu1 each0
    each0=$(sb__cpus)
    cpu0=$(sb__cpu swm1 swm2 swms)
    t0=${EPOCHREALTIME//[.,]/}
    if ! /usr/bin/time -f '%M %U %S' -o "$SB_DIR/sweep.time" "$AGG_BUILD/aggregatord" \
            -c "$SB_DIR/sweep.conf" --once sweep > "$SB_DIR/sweep.log" 2>&1; then
        echo "sweep_bench: aggregatord --once sweep failed:" >&2
        tail -n 20 "$SB_DIR/sweep.log" >&2
        return 1
    fi
    t1=${EPOCHREALTIME//[.,]/}
    cpu1=$(sb__cpu swm1 swm2 swms)
    SB_SW_S=$(sb__secs "$t0" "$t1")
    read -r SB_RSS n c < <(tail -n 1 "$SB_DIR/sweep.time")
    # the servers' CPU up to the end of the members' purge, as the old way's
    sb__wait_purge || return 1
    SB_SW_CPUN=$(sb__cpu_note "$each0" "$(sb__cpus)" "$(awk -v u="$n" -v s="$c" 'BEGIN { print u + s }')" $(( 2 * closed )))
    SB_SW_CPU="CPU: aggregatord $(awk -v u="$n" -v s="$c" 'BEGIN { printf "%.1f", u + s }') s,"
    SB_SW_CPU+=" the three mariadbd $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }') s, of $(awk -v s="$SB_SW_S" -v n="$(nproc)" 'BEGIN { printf "%.1f", s * n }') s available"
    c=$(sb__q swms "SELECT COUNT(*), SUM(acctstoptime IS NOT NULL), COUNT(DISTINCT acctuniqueid) FROM radacct")
    [ "$c" = "$(( 2 * total ))	$(( 2 * closed ))	$(( 2 * total ))" ] \
        || echo "  WARNING: after the sweep master holds rows, closed, distinct = $c (want $(( 2 * total )), $(( 2 * closed )), $(( 2 * total )))"
    for n in swm1 swm2; do
        c=$(sb__q "$n" "SELECT COUNT(*), SUM(acctstoptime IS NULL) FROM radacct")
        [ "$c" = "$open	$open" ] || echo "  WARNING: after the sweep $n holds rows, open = $c (want $open, $open)"
    done
}

# sb__oldway CLOSED OPEN: the old scripts' move doing the sweep's job, timed;
# sets SB_OLD_S.  Master must end up holding the open sessions too (the
# operators' reports read them there), so every row is dumped and REPLACEd
# into master, and only the closed ones are deleted from the member.
#
# mysqldump cannot leave out a column, and radacctid collides across
# members (each counts from 1): dumping radius.radacct with its ids would
# make member 2's REPLACEs delete member 1's rows on master.  The old
# scripts copied by the session's key, never the id, so the dump comes from
# a staging copy of the member's table without radacctid (made before the
# clock starts),
# with --complete-insert so master numbers the rows itself and REPLACE
# collides on acctuniqueid only.  Then the DELETE on the member's real
# table.  One member after the other, as a cron'd shell loop does.
sb__oldway() {
    local closed=$1 open=$2 n c t0 t1 a b sock dump stage each0
    local -a parts=()
    dump=$(command -v mysqldump || command -v mariadb-dump) || { echo "sweep_bench: no mysqldump" >&2; return 1; }
    a=${EPOCHREALTIME//[.,]/}
    for n in swm1 swm2; do
        h_mysql "$n" -e "DROP DATABASE IF EXISTS oldway; CREATE DATABASE oldway;
            CREATE TABLE oldway.radacct ENGINE = InnoDB AS SELECT $SB_COLS FROM radius.radacct" || return 1
    done
    stage=$(sb__secs "$a" "${EPOCHREALTIME//[.,]/}")
    sb__wait_purge || return 1
    each0=$(sb__cpus)
    sb__children_cpu "$SB_DIR/kids0"
    t0=${EPOCHREALTIME//[.,]/}
    for n in swm1 swm2; do
        sock=${n}_SOCK
        a=${EPOCHREALTIME//[.,]/}
        "$dump" --no-defaults -uroot --socket="${!sock}" --replace --no-create-info \
            --skip-add-locks --complete-insert oldway radacct \
            | h_mysql swms radius || { echo "sweep_bench: mysqldump | mysql from $n failed" >&2; return 1; }
        b=${EPOCHREALTIME//[.,]/}
        sb__q "$n" "DELETE FROM radacct WHERE acctstoptime IS NOT NULL" || return 1
        parts+=("$n: dump|mysql $(sb__secs "$a" "$b") s + DELETE $(sb__secs "$b" "${EPOCHREALTIME//[.,]/}") s;")
    done
    t1=${EPOCHREALTIME//[.,]/}
    SB_OLD_S=$(sb__secs "$t0" "$t1")
    # the servers' CPU up to the end of the members' purge (the delete's
    # cost lands there), the clients' (mysqldump, mysql) as they ran
    sb__children_cpu "$SB_DIR/kids1"
    c=$(awk -v a="$(cat "$SB_DIR/kids0")" -v b="$(cat "$SB_DIR/kids1")" 'BEGIN { print b - a }')
    sb__wait_purge || return 1
    SB_OLD_CPUN=$(sb__cpu_note "$each0" "$(sb__cpus)" "$c" $(( 2 * closed )))
    c=$(sb__q swms "SELECT COUNT(*), COUNT(DISTINCT acctuniqueid) FROM radacct")
    [ "$c" = "$(( 2 * (closed + open) ))	$(( 2 * (closed + open) ))" ] \
        || echo "  WARNING: after the old way master holds rows, distinct = $c (want $(( 2 * (closed + open) )))"
    for n in swm1 swm2; do h_mysql "$n" -e "DROP DATABASE oldway" || true; done
    echo "  old way: $SB_OLD_S s (${parts[*]} not counted: the staging copies without radacctid, $stage s);" \
         "master got all $(( 2 * (closed + open) )) rows, the members kept their open ones"
}

# sb__loaddata CLOSED: LOAD DATA LOCAL INFILE of the closed rows into an
# empty master, timed; sets SB_LD_S.
sb__loaddata() {
    local closed=$1 c t0 t1
    sb__q swms "TRUNCATE radacct" || return 1
    sb__wait_purge || return 1
    t0=${EPOCHREALTIME//[.,]/}
    sb__q swms "LOAD DATA LOCAL INFILE '$SB_DIR/m1.closed.tsv' INTO TABLE radacct ($SB_COLS);
                LOAD DATA LOCAL INFILE '$SB_DIR/m2.closed.tsv' INTO TABLE radacct ($SB_COLS)" || return 1
    t1=${EPOCHREALTIME//[.,]/}
    SB_LD_S=$(sb__secs "$t0" "$t1")
    c=$(sb__q swms "SELECT COUNT(*) FROM radacct")
    [ "$c" = $(( 2 * closed )) ] || echo "  WARNING: after LOAD DATA master holds $c rows (want $(( 2 * closed )))"
    echo "  LOAD DATA LOCAL INFILE of the same $(( 2 * closed )) closed rows (two files, one session): $SB_LD_S s"
}

# sb__members SQLFILE: each member in turn reads all its rows (one SELECT)
# and then runs SQLFILE, its closed rows' delete, purge included.  Sets
# SB_SEL and SB_DEL (the members' CPU ticks for the reads and the deletes)
# and SB_READ_CL (the client's CPU seconds receiving the rows).
sb__members() {
    local n a b
    SB_SEL=0 SB_DEL=0 SB_READ_CL=0
    for n in swm1 swm2; do
        sb__children_cpu "$SB_DIR/mkids0"
        a=$(sb__ticks "$n")
        sb__q "$n" "SELECT * FROM radacct" > /dev/null || return 1
        b=$(sb__ticks "$n")
        sb__children_cpu "$SB_DIR/mkids1"
        h_mysql "$n" radius < "$1" || return 1
        sb__wait_purge || return 1
        SB_SEL=$(( SB_SEL + b - a ))
        SB_DEL=$(( SB_DEL + $(sb__ticks "$n") - b ))
        SB_READ_CL=$(sb__since "$SB_DIR/mkids0" "$SB_DIR/mkids1" "$SB_READ_CL")
    done
}

# sb__floor CLOSED OPEN: the server work that any move of these rows has to
# do, measured on the same servers and data, each part alone and with its
# InnoDB purge finished: master taking every row the sweep writes (closed
# and open) by LOAD DATA, the cheapest way in; each member giving its rows
# (one SELECT) and deleting its closed ones (one DELETE, purge included).
# No client work is counted.  Spread perfectly over every core, that CPU
# time is the shortest any method could take here; sets SB_FLOOR_S (that
# bound, seconds) and prints the parts.
sb__floor() {
    local closed=$1 open=$2 a ld sel del total
    sb__reset || return 1
    a=$(sb__ticks swms)
    sb__load swms "$SB_DIR/m1.tsv" "$SB_DIR/m2.tsv" || return 1
    sb__wait_purge || return 1
    ld=$(( $(sb__ticks swms) - a ))
    echo "DELETE FROM radacct WHERE acctstoptime IS NOT NULL;" > "$SB_DIR/floor_delete.sql"
    sb__members "$SB_DIR/floor_delete.sql" || return 1
    sel=$SB_SEL del=$SB_DEL
    total=$(( ld + sel + del ))
    SB_FLOOR_CPUN=$(sb__parts_note $(( sel + del )) "$ld" $(( 2 * closed )))
    SB_FLOOR_S=$(awk -v t="$total" -v hz="$(getconf CLK_TCK)" -v n="$(nproc)" 'BEGIN { printf "%.3f", t / hz / n }')
    echo "  work floor (server CPU any move of these rows needs, each part alone, purge included):" \
         "master LOAD DATA of all $(( 2 * (closed + open) )) rows $(sb__tsecs "$ld") s," \
         "members reading them $(sb__tsecs "$sel") s, deleting the $(( 2 * closed )) closed ones $(sb__tsecs "$del") s;" \
         "$(sb__tsecs "$total") s of CPU = at best $SB_FLOOR_S s on $(nproc) cores"
}

# sb__guarded CLOSED OPEN: the work floor with the guarantees the sweep must
# keep (docs/sweep.md, "Why it cannot lose a row") and the least a client
# must do: master takes every row by LOAD DATA in the sweep's pages
# ($SB_BATCH rows, each page its own transaction), and each member, after its rows
# are read (one SELECT), deletes its closed ones a page at a time, each
# page in its own transaction and guarded as the sweep guards it: the
# page's closed rows copied on the server into a MEMORY staging table,
# then deleted by the join that checks every column.  The client is the
# `mariadb` command receiving the rows of the SELECTs and sending the
# pages' files; nothing else of a client is counted.  Left out, so that
# this stays a bound: master's precedence check, the events, and any
# waiting (each part runs alone and its CPU is spread perfectly over the
# cores).  Purge included.  Sets SB_GUARD_S (that CPU time over the cores,
# seconds) and SB_GUARD_CPUN ("members master client" per 100k closed
# rows), and prints the parts.
sb__guarded() {
    local closed=$1 open=$2 total=$(( $1 + $2 )) n a ld sel del all f cols cmp cl
    sb__reset || return 1
    mkdir -p "$SB_DIR/pages"
    rm -f "$SB_DIR/pages/"*
    split -l "$SB_BATCH" -a 4 -d "$SB_DIR/m1.tsv" "$SB_DIR/pages/m1." || return 1
    split -l "$SB_BATCH" -a 4 -d "$SB_DIR/m2.tsv" "$SB_DIR/pages/m2." || return 1
    # the statements go in by standard input: hundreds of them are too
    # long for one command line
    for f in "$SB_DIR/pages/"*; do
        echo "LOAD DATA LOCAL INFILE '$f' INTO TABLE radacct ($SB_COLS);"
    done > "$SB_DIR/guard_load.sql"
    cols=radacctid,$SB_COLS
    cmp=$(tr ',' '\n' <<< "$SB_COLS" | awk '{ printf " AND t.`%s` <=> s.`%s`", $1, $1 }')
    sb__children_cpu "$SB_DIR/gkids0"
    a=$(sb__ticks swms)
    h_mysql swms --local-infile=1 radius < "$SB_DIR/guard_load.sql" || return 1
    sb__children_cpu "$SB_DIR/gkids1"
    cl=$(sb__since "$SB_DIR/gkids0" "$SB_DIR/gkids1" 0)
    sb__wait_purge || return 1
    ld=$(( $(sb__ticks swms) - a ))
    awk -v n="$total" -v b="$SB_BATCH" -v cols="$cols" -v cmp="$cmp" 'BEGIN {
        print "SET autocommit = 0;"
        printf "CREATE TEMPORARY TABLE stage (PRIMARY KEY (radacctid)) ENGINE=MEMORY SELECT %s FROM radacct LIMIT 0;\n", cols
        for (p = 0; p * b < n; p++)
            printf "INSERT INTO stage SELECT %s FROM radacct WHERE radacctid BETWEEN %d AND %d AND acctstoptime IS NOT NULL;\nDELETE t FROM radacct t JOIN stage s ON t.radacctid = s.radacctid WHERE 1%s;\nDELETE FROM stage;\nCOMMIT;\n", cols, p * b + 1, p * b + b, cmp }' \
        > "$SB_DIR/guard_delete.sql"
    sb__members "$SB_DIR/guard_delete.sql" || return 1
    sel=$SB_SEL del=$SB_DEL
    cl=$(awk -v a="$cl" -v b="$SB_READ_CL" 'BEGIN { printf "%.2f", a + b }')
    for n in swm1 swm2; do
        f=$(sb__q "$n" "SELECT COUNT(*), SUM(acctstoptime IS NULL) FROM radacct")
        [ "$f" = "$open	$open" ] || { echo "sweep_bench: after the guarded floor's delete $n holds rows, open = $f (want $open, $open)" >&2; return 1; }
    done
    f=$(sb__q swms "SELECT COUNT(*) FROM radacct")
    [ "$f" = $(( 2 * total )) ] || { echo "sweep_bench: after the guarded floor's load master holds $f rows (want $(( 2 * total )))" >&2; return 1; }
    all=$(( ld + sel + del ))
    SB_GUARD_CPUN=$(sb__parts_note $(( sel + del )) "$ld" $(( 2 * closed )))
    SB_GUARD_CPUN+=" $(awk -v c="$cl" -v n=$(( 2 * closed )) 'BEGIN { printf "%.2f", c * 1e5 / n }')"
    SB_GUARD_S=$(awk -v t="$all" -v c="$cl" -v hz="$(getconf CLK_TCK)" -v n="$(nproc)" 'BEGIN { printf "%.3f", (t / hz + c) / n }')
    echo "  guarded floor (the floor's work in $SB_BATCH-row pages, each its own transaction, the members' deletes guarded as the sweep's, a bare client):" \
         "master $(sb__tsecs "$ld") s, members reading $(sb__tsecs "$sel") s, deleting $(sb__tsecs "$del") s, the client $cl s;" \
         "$(awk -v t="$all" -v c="$cl" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz + c }') s of CPU = at best $SB_GUARD_S s on $(nproc) cores"
}

# sb__sampler NAME OUT: until $SB_DIR/stop exists, samples NAME's process
# list every 50 ms over one connection: per sample a TICK line, then one
# line per statement running ("COMMAND<TAB>first 40 characters").
sb__sampler() {
    while [ ! -e "$SB_DIR/stop" ]; do
        echo "SELECT 'TICK', ''; SELECT COMMAND, LEFT(REPLACE(COALESCE(INFO, ''), CHAR(10), ' '), 40)
              FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()
              AND COMMAND NOT IN ('Sleep', 'Daemon');"
        sleep 0.05
    done | h_mysql "$1" -N -B > "$2"
}

# sb__profile CLOSED OPEN: an extra, untimed sweep of the same data with the
# three servers' process lists sampled; prints where the two member
# threads spent their time (thread-seconds per kind of statement, from the
# share of samples in which a statement of that kind was running).
sb__profile() {
    local closed=$1 open=$2 t0 t1 secs n p1 p2 p3 rc
    sb__reset || return 1
    rm -f "$SB_DIR/stop"
    sb__sampler swm1 "$SB_DIR/prof.swm1" & p1=$!
    sb__sampler swm2 "$SB_DIR/prof.swm2" & p2=$!
    sb__sampler swms "$SB_DIR/prof.swms" & p3=$!
    t0=${EPOCHREALTIME//[.,]/}
    rc=0
    "$AGG_BUILD/aggregatord" -c "$SB_DIR/sweep.conf" --once sweep > "$SB_DIR/prof.log" 2>&1 || rc=$?
    t1=${EPOCHREALTIME//[.,]/}
    : > "$SB_DIR/stop"
    wait "$p1" "$p2" "$p3" || true
    if [ "$rc" != 0 ]; then
        echo "sweep_bench: the profiled sweep failed:" >&2
        tail -n 5 "$SB_DIR/prof.log" >&2
        return 1
    fi
    secs=$(sb__secs "$t0" "$t1")
    echo "  profile of a second, untimed sweep ($secs s, two member threads = $(awk -v s="$secs" 'BEGIN { printf "%.1f", 2 * s }') thread-s;"
    echo "  process lists sampled every ~50 ms; thread-s = share of samples x duration):"
    for n in swm1 swm2 swms; do
        awk -F'\t' -v who="$n" -v secs="$secs" '
            $1 == "TICK" { ticks++; next }
            {
                s = (who == "swms") ? "master" : "member"
                k = s ": other " $1 " " substr($2, 1, 24)
                if ($2 ~ /^[Cc][Oo][Mm][Mm][Ii][Tt]/) k = s " commit"
                else if (s == "member" && $2 ~ /^SELECT `radacctid`/) k = "member read (SELECT page by radacctid)"
                else if (s == "member" && $2 ~ /^DELETE /) k = "member delete (exact rows, after the commit)"
                else if (s == "member" && $2 ~ /^INSERT /) k = "member delete: staging the rows (INSERT)"
                else if (s == "master" && $2 ~ /^INSERT /) k = "master upsert (INSERT ... ON DUPLICATE KEY UPDATE)"
                else if (s == "master" && $2 ~ /^SELECT `acctuniqueid`,`acctup/) k = "master superseded check (SELECT ... IN)"
                if ($1 == "Prepare") k = "prepare on " s
                n[k]++
            }
            END { for (k in n) printf "%s\t%.1f\n", k, ticks ? n[k] / ticks * secs : 0 }' "$SB_DIR/prof.$n"
    done | awk -F'\t' -v secs="$secs" '
        { t[$1] += $2; sum += $2 }
        END {
            for (k in t) printf "%.1f\t%s\n", t[k], k
            printf "%.1f\t%s\n", 2 * secs - sum, "neither server running a statement (client side, network)"
        }' | sort -t$'\t' -k1,1 -rn | awk -F'\t' -v secs="$secs" '
        { printf "    %-56s %7.1f thread-s  %5.1f%%\n", $2, $1, 100 * $1 / (2 * secs) }'
}

# sweep_bench [CLOSED [OPEN]]: the whole benchmark (rows per member; default
# 250000 closed + 50000 open).  SWEEP_BENCH_PROFILE=1 adds the profile of
# an extra sweep.
sweep_bench() {
    local closed=${1:-250000} open=${2:-50000} runs=${SWEEP_BENCH_RUNS:-2} total i
    local sw_s='' old_s='' ld_s='' fl_s='' gd_s='' rss=0 sw_rate old_rate ld_rate fl_rate gd_rate label sw_cpu='' old_cpu='' fl_cpu='' gd_cpu=''
    total=$(( closed + open ))
    [ -x /usr/bin/time ] || { echo "sweep_bench: /usr/bin/time is missing (package time)" >&2; return 1; }
    echo
    echo "== sweep ($(nproc) cores): 2 members x $(sb__k "$closed") closed + $(sb__k "$open") open radacct rows into an empty master"
    sb__setup "$closed" "$open" || return 1
    # The same work measures 15% apart from one run to the next on this
    # machine: every method runs $runs times, interleaved, each keeping its best.
    for ((i = 1; i <= runs; i++)); do
        echo "  -- run $i of $runs"
        [ "$i" = 1 ] || sb__reset || return 1
        sb__sweep "$closed" "$open" || return 1
        echo "  aggregatord --once sweep (batch $SB_BATCH, both members at once): $SB_SW_S s; it logged:" \
             "$(grep -o 'one cycle.*' "$SB_DIR/sweep.log" | tail -n 1)"
        echo "  checked: master holds all $(( 2 * total )) sessions ($(( 2 * closed )) closed), each member only its $open open rows"
        echo "  $SB_SW_CPU"
        sb__reset || return 1
        sb__oldway "$closed" "$open" || return 1
        sb__loaddata "$closed" || return 1
        sb__floor "$closed" "$open" || return 1
        sb__guarded "$closed" "$open" || return 1
        gd_s=$(sb__min "$gd_s" "$SB_GUARD_S")
        fl_cpu=$(sb__cpu_min "$fl_cpu" "$SB_FLOOR_CPUN"); gd_cpu=$(sb__cpu_min "$gd_cpu" "$SB_GUARD_CPUN")
        sw_s=$(sb__min "$sw_s" "$SB_SW_S"); old_s=$(sb__min "$old_s" "$SB_OLD_S")
        ld_s=$(sb__min "$ld_s" "$SB_LD_S"); fl_s=$(sb__min "$fl_s" "$SB_FLOOR_S")
        sw_cpu=$(sb__cpu_min "$sw_cpu" "$SB_SW_CPUN"); old_cpu=$(sb__cpu_min "$old_cpu" "$SB_OLD_CPUN")
        [ "$SB_RSS" -le "$rss" ] || rss=$SB_RSS
    done
    if [ "${SWEEP_BENCH_PROFILE:-0}" = 1 ]; then
        sb__profile "$closed" "$open" || return 1
    fi

    sw_rate=$(sb__rate $(( 2 * closed )) "$sw_s")
    old_rate=$(sb__rate $(( 2 * closed )) "$old_s")
    ld_rate=$(sb__rate $(( 2 * closed )) "$ld_s")
    fl_rate=$(sb__rate $(( 2 * closed )) "$fl_s")
    gd_rate=$(sb__rate $(( 2 * closed )) "$gd_s")
    label="sweep rows moved/s (2 members x $(sb__k "$closed") closed + $(sb__k "$open") open)"
    echo
    echo "best of $runs runs each:"
    printf '%s  %s /s   baseline %s /s (mysqldump --replace of every row | mysql, then DELETE of the closed)   ratio %s\n' \
        "$label" "$sw_rate" "$old_rate" "$(sb__ratio "$sw_rate" "$old_rate")"
    printf '%s  %s /s   baseline %s /s (LOAD DATA LOCAL INFILE into master)   ratio %s\n' \
        "$label" "$sw_rate" "$ld_rate" "$(sb__ratio "$sw_rate" "$ld_rate")"
    printf '%s  %s /s   bound %s /s (the work floor: its CPU time spread over %s cores)   ratio %s\n' \
        "$label" "$sw_rate" "$fl_rate" "$(nproc)" "$(sb__ratio "$sw_rate" "$fl_rate")"
    # the two goals against each other: what 1.5x the old way asks, as a
    # share of the floor (no method with a client or a guard can reach
    # the floor itself: it is the servers' CPU alone, spread perfectly)
    printf '  1.5x the old way = %s /s = %s of the work floor; the old way itself reaches %s of it\n' \
        "$(awk -v a="$old_rate" 'BEGIN { printf "%.0f", 1.5 * a }')" \
        "$(awk -v a="$old_rate" -v b="$fl_rate" 'BEGIN { printf "%.2f", (b > 0) ? 1.5 * a / b : 0 }')" \
        "$(sb__ratio "$old_rate" "$fl_rate")"
    # and both against the guarded floor: what the guarantees alone cost
    # the servers, still with no client and the cores perfectly shared
    printf '%s  %s /s   bound %s /s (the guarded floor: pages, transactions, the exact guard, a bare client)   ratio %s\n' \
        "$label" "$sw_rate" "$gd_rate" "$(sb__ratio "$sw_rate" "$gd_rate")"
    printf '  the guarded floor is %s of the work floor: 1.5x the old way asks %s of the guarded floor, 0.85 of the work floor asks %s of it\n' \
        "$(sb__ratio "$gd_rate" "$fl_rate")" \
        "$(awk -v a="$old_rate" -v b="$gd_rate" 'BEGIN { printf "%.2f", (b > 0) ? 1.5 * a / b : 0 }')" \
        "$(awk -v a="$fl_rate" -v b="$gd_rate" 'BEGIN { printf "%.2f", (b > 0) ? 0.85 * a / b : 0 }')"
    awk -v s="$sw_cpu" -v o="$old_cpu" 'BEGIN {
        split(s, a, " "); split(o, b, " ")
        ta = a[1] + a[2] + a[3] + a[4]; tb = b[1] + b[2] + b[3] + b[4]
        printf "sweep CPU s per 100k closed rows moved  %.2f   baseline %.2f (the old way)   ratio %.2f\n", ta, tb, (ta > 0) ? tb / ta : 0
        printf "  sweep:   member 1 %.2f, member 2 %.2f, master %.2f, aggregatord %.2f\n", a[1], a[2], a[3], a[4]
        printf "  old way: member 1 %.2f, member 2 %.2f, master %.2f, mysqldump + mysql %.2f\n", b[1], b[2], b[3], b[4]
        printf "  (servers up to the end of their InnoDB purge; least CPU of the runs)\n" }'
    awk -v f="$fl_cpu" -v g="$gd_cpu" 'BEGIN {
        split(f, a, " "); split(g, b, " ")
        printf "  work floor:    members %.2f, master %.2f (%.2f; no client)\n", a[1], a[2], a[1] + a[2]
        printf "  guarded floor: members %.2f, master %.2f, the mariadb client %.2f (%.2f)\n", b[1], b[2], b[3], b[1] + b[2] + b[3] }'
    echo "sweep rows read/s (all $(( 2 * total )) rows; open ones are copied too)  $(sb__rate $(( 2 * total )) "$sw_s") /s"
    echo "sweep peak RSS: $rss KiB"
    echo "  goals: >= 1.5x the old way: $(awk -v a="$sw_rate" -v b="$old_rate" 'BEGIN { print (a >= 1.5 * b) ? "met" : "NOT met" }');" \
         ">= 0.85 of the work floor: $(awk -v a="$sw_rate" -v b="$fl_rate" 'BEGIN { print (a >= 0.85 * b) ? "met" : "NOT met" }');" \
         "peak RSS < 64 MiB: $([ "$rss" -lt 65536 ] && echo met || echo "NOT met")"
    h_stop swm1 || true
    h_stop swm2 || true
    h_stop swms || true
}
