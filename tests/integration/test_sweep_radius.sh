#!/usr/bin/env bash
# test_sweep_radius.sh — the sweep against real FreeRADIUS traffic.
#
# Two member MariaDBs (m1, m2) and a master (ms), all with FreeRADIUS's own
# schema; two FreeRADIUS servers, rd1 writing to m1 and rd2 to m2 with the
# stock sql module and queries.  radclient sends Start / Interim-Update /
# Stop for a few hundred sessions, round-robined across the two servers
# packet by packet (a session's Start can land on rd1 and its Stop on rd2),
# with Event-Timestamp, Acct-Session-Time and the octet counters (some past
# 4 GiB, so with Gigawords) growing packet by packet.  Some sessions stay
# open; some went quiet two hours ago (stale); one NAS's sessions are never
# stopped and that NAS sends an Accounting-On; some sessions get a late
# Interim-Update (a retransmission from before the Stop) on the server that
# did not see the Stop.
#
# While generating the packets the script models what FreeRADIUS's stock
# queries make of each packet on each member, and checks the members
# against that model before sweeping.  From the model it derives what master
# must hold after a sweep (the precedence rule of the brief: a closed copy
# beats an open one, then the later GREATEST(acctupdatetime, acctstoptime),
# then the larger acctsessiontime, then the larger octets; open sessions
# quiet for longer than stale_after closed as Stale-Session at their last
# update) and what the members must still hold (the copies of sessions that
# are open on master, untouched).  Then `aggregatord --once sweep` twice:
# every session once on master with what the packets said, closed rows gone
# from the members, and the second run changes nothing on master.
# shellcheck source-path=SCRIPTDIR disable=SC2154  # m1_PORT etc. come from lib.sh
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/radius.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; if [ $rc -ne 0 ]; then for f in "$H_TMP"/sweep*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 40 "$f" >&2; }; done; fi; h_cleanup' EXIT

NS=${NS:-300}                 # sessions
STALE_AFTER=1800
export LC_ALL=C

# elapsed since STEP_T0, for the ok lines
step() { STEP_T0=$(h__now_us); }
took() { h__elapsed "$STEP_T0"; }

# --- servers ---------------------------------------------------------------
step
h_start_mariadb m1 m2 ms
for db in m1 m2 ms; do
    h_radius_schema "$db"
done
h_ok "MariaDB m1, m2 (members) and ms (master) with FreeRADIUS's schema ($(took) s)"

step
h_start_radiusd rd1 m1
t_rd1=$(took)
step
h_start_radiusd rd2 m2
t_rd2=$(took)
h_ok "radiusd rd1 (-> m1) up in $t_rd1 s, rd2 (-> m2) in $t_rd2 s"

# --- traffic and the model of the members ------------------------------------
# Session i: NAS 10.0.0.(1 + i % 4), port 1000 + i.  Kinds:
#   reboot  NAS 10.0.0.4: never stopped; that NAS's Accounting-On goes to rd1
#   stale   open, last packet about 100 minutes ago
#   open    open, recent
#   closed  Start, 0-3 Interim-Updates, Stop; some get a late Interim-Update
# Packet j of a session (j = 0 is the Start) is at s + 250 j + i % 7, with
# Acct-Session-Time = that - s, so every copy agrees on acctstarttime.
NOW=$(date +%s)
TS_ON=$((NOW - 60))
declare -a UID_ SID USER NAS PORT FIP CSID S K KIND LATE STOPSRV
declare -A COPY=()    # "m|i" -> "start upd stop stime in out cause" ('-' = NULL / empty)
for ((i = 0; i < NS; i++)); do
    SID[i]=$(printf '%08X' $((0x5A000 + i * 7)))
    USER[i]=$(printf 'user%04d@isp.example' "$i")
    NAS[i]=10.0.0.$((1 + i % 4))
    PORT[i]=$((1000 + i))
    FIP[i]=100.64.$((i / 250)).$((i % 250 + 1))
    CSID[i]=$(printf '02-00-00-%02X-%02X-%02X' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))
    K[i]=$((i % 4))
    LATE[i]=0
    if ((i % 4 == 3)); then
        KIND[i]=reboot
        S[i]=$((NOW - 1400 + i % 200))
    elif ((i % 15 == 0)); then
        KIND[i]=stale
        S[i]=$((NOW - 7200 + i))
    elif ((i % 5 == 2)); then
        KIND[i]=open
        S[i]=$((NOW - 1400 + i % 200))
    else
        KIND[i]=closed
        S[i]=$((NOW - 1400 + i % 200))
        ((K[i] == 0 || i % 9 != 0)) || LATE[i]=1
    fi
done
# the Acct-Unique-Session-Id the stock acct_unique policy computes
for ((i = 0; i < NS; i++)); do
    UID_[i]=$(h_radius_unique_id "User-Name=${USER[i]}" "Acct-Session-Id=${SID[i]}" \
        "NAS-IP-Address=${NAS[i]}" "NAS-Port=${PORT[i]}")
done

# pkt I J: sets P_TS P_ST P_IN P_OUT for packet J of session I.
pkt() {
    local i=$1 j=$2
    P_TS=${S[i]}
    ((j == 0)) || P_TS=$((S[i] + 250 * j + i % 7))
    P_ST=$((P_TS - S[i]))
    P_IN=$((j * (150000 + i * 1013)))
    if ((i % 10 == 4)); then
        P_OUT=$((j * 3000000000 + i))     # past 2^32 from the 2nd interim on
    else
        P_OUT=$((j * (400000 + i * 2039)))
    fi
}

# model TYPE M I: what the stock queries do with (P_*) on member M.
model() {
    local type=$1 m=$2 i=$3 key="$2|$3" st up sp stm in out cause
    local -a c
    if [ -n "${COPY[$key]:-}" ]; then
        read -r -a c <<< "${COPY[$key]}"
        st=${c[0]} up=${c[1]} sp=${c[2]} stm=${c[3]} in=${c[4]} out=${c[5]} cause=${c[6]}
        case $type in
            Start) st=$P_TS up=$P_TS ;;                 # start: INSERT fails, UPDATE
            Interim-Update) up=$P_TS stm=$P_ST in=$P_IN out=$P_OUT ;;   # acctstoptime untouched
            Stop) sp=$P_TS stm=$P_ST in=$P_IN out=$P_OUT cause=User-Request ;;  # acctupdatetime untouched
        esac
    else
        case $type in
            Start) st=$P_TS up=$P_TS sp=- stm=0 in=0 out=0 cause=- ;;
            Interim-Update) st=$((P_TS - P_ST)) up=$P_TS sp=- stm=$P_ST in=$P_IN out=$P_OUT cause=- ;;
            Stop) st=$((P_TS - P_ST)) up=$P_TS sp=$P_TS stm=$P_ST in=$P_IN out=$P_OUT cause=User-Request ;;
        esac
    fi
    COPY[$key]="$st $up $sp $stm $in $out $cause"
}

# emit TYPE I J FILE: appends packet J of session I to FILE.
emit() {
    local type=$1 i=$2 j=$3
    local -a attrs=("User-Name=${USER[i]}" "NAS-IP-Address=${NAS[i]}" "NAS-Port=${PORT[i]}"
        "Framed-IP-Address=${FIP[i]}" "Calling-Station-Id=${CSID[i]}" "Event-Timestamp=$P_TS")
    if [ "$type" != Start ]; then
        attrs+=("Acct-Session-Time=$P_ST"
            "Acct-Input-Octets=$((P_IN & 0xFFFFFFFF))" "Acct-Output-Octets=$((P_OUT & 0xFFFFFFFF))")
        ((P_IN >> 32 == 0)) || attrs+=("Acct-Input-Gigawords=$((P_IN >> 32))")
        ((P_OUT >> 32 == 0)) || attrs+=("Acct-Output-Gigawords=$((P_OUT >> 32))")
    fi
    h_radacct_req "$type" "${SID[i]}" "${attrs[@]}" >> "$4"
}

# Build the phases: phase j holds packet j of every session that has one (no
# two packets of one session in a phase, so the parallel sends of a phase
# cannot reorder a session); then the late interims.  A global counter
# alternates the servers packet by packet.
step
mkdir -p "$H_TMP/pk"
npk=0
nphase=0
declare -A ON=()      # "m|i" -> 1 when a packet of session i went to member m
for ((j = 0; j <= 4; j++)); do
    for ((i = 0; i < NS; i++)); do
        stopj=$((K[i] + 1))
        if ((j < stopj)); then
            ((j == 0)) && type=Start || type=Interim-Update
        elif ((j == stopj)) && [ "${KIND[i]}" = closed ]; then
            type=Stop
        else
            continue
        fi
        m=$((npk % 2 + 1))
        npk=$((npk + 1))
        pkt "$i" "$j"
        emit "$type" "$i" "$j" "$H_TMP/pk/p$j.rd$m"
        model "$type" "m$m" "$i"
        ON["m$m|$i"]=1
        [ "$type" != Stop ] || STOPSRV[i]=$m
    done
    nphase=$((nphase + 1))
done
nlate=0
for ((i = 0; i < NS; i++)); do
    ((LATE[i])) || continue
    m=$((3 - STOPSRV[i]))              # the server that did not see the Stop
    pkt "$i" 1                          # a retransmitted first interim
    emit Interim-Update "$i" 1 "$H_TMP/pk/p5.rd$m"
    model Interim-Update "m$m" "$i"
    npk=$((npk + 1))
    nlate=$((nlate + 1))
done
t_gen=$(took)

step
for ((j = 0; j <= 5; j++)); do
    pids=()
    for m in 1 2; do
        f=$H_TMP/pk/p$j.rd$m
        [ -s "$f" ] || continue
        h_radacct_file "rd$m" "$f" 32 2> "$f.err" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || { cat "$H_TMP"/pk/p$j.rd*.err >&2; h_fail "phase $j: not every packet was acknowledged"; }
    done
done
# the reboot NAS comes back: Accounting-On to rd1 only (closes its open rows on m1)
h_radacct rd1 Accounting-On 00000000 NAS-IP-Address=10.0.0.4 Event-Timestamp=$TS_ON
npk=$((npk + 1))
for ((i = 3; i < NS; i += 4)); do
    key="m1|$i"
    [ -n "${COPY[$key]:-}" ] || continue
    read -r -a c <<< "${COPY[$key]}"
    if [ "${c[2]}" = - ] && ((c[0] <= TS_ON)); then
        COPY[$key]="${c[0]} ${c[1]} $TS_ON $((TS_ON - c[0])) ${c[4]} ${c[5]} NAS-Reboot"
    fi
done
t_traffic=$(took)
nsplit=0
for ((i = 0; i < NS; i++)); do
    [ -z "${ON[m1|$i]:-}" ] || [ -z "${ON[m2|$i]:-}" ] || nsplit=$((nsplit + 1))
done
[ "$nsplit" -gt $((NS / 2)) ] || h_fail "only $nsplit sessions were spread over both servers"
h_ok "$npk packets for $NS sessions ($nlate late interims, 1 Accounting-On) acknowledged by rd1/rd2 in $t_traffic s (generated in $t_gen s); $nsplit sessions on both members"

# --- the members hold what the stock queries make of the packets -----------
SELECT_ROWS="SELECT acctuniqueid, acctsessionid, username, nasipaddress, nasportid,
    framedipaddress, callingstationid, UNIX_TIMESTAMP(acctstarttime),
    UNIX_TIMESTAMP(acctupdatetime), IFNULL(UNIX_TIMESTAMP(acctstoptime), '-'),
    acctsessiontime, acctinputoctets, acctoutputoctets,
    IF(acctterminatecause = '', '-', acctterminatecause)
  FROM radacct ORDER BY acctuniqueid"
# rows DB: prints DB's radacct as the model's lines.
rows() {
    h_mysql "$1" radius -N -B -e "$SELECT_ROWS"
}
# line I "start upd stop stime in out cause": prints session I's row line.
line() {
    local i=$1
    local -a c
    read -r -a c <<< "$2"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${UID_[i]}" "${SID[i]}" \
        "${USER[i]}" "${NAS[i]}" "${PORT[i]}" "${FIP[i]}" "${CSID[i]}" "${c[@]}"
}
# model_rows M: prints the model of member M, sorted like rows.
model_rows() {
    local i
    for ((i = 0; i < NS; i++)); do
        [ -z "${COPY[$1|$i]:-}" ] || line "$i" "${COPY[$1|$i]}"
    done | sort
}
for m in m1 m2; do
    model_rows "$m" > "$H_TMP/want.$m"
    rows "$m" > "$H_TMP/pre.$m"
    diff "$H_TMP/want.$m" "$H_TMP/pre.$m" > "$H_TMP/diff.$m" ||
        h_fail "member $m differs from the model of the stock queries (< model, > $m): $(head -6 "$H_TMP/diff.$m")"
done
h_ok "m1 ($(wc -l < "$H_TMP/pre.m1") rows) and m2 ($(wc -l < "$H_TMP/pre.m2") rows) hold what the stock queries make of the packets; acctuniqueid = md5(User-Name,Acct-Session-Id,NAS-IP-Address,NAS-Identifier,NAS-Port-ID,NAS-Port)"

# --- what master and the members must hold after the sweep ------------------
# better A B: succeeds when copy A beats copy B (the precedence rule).
better() {
    local -a a b
    local ga gb
    read -r -a a <<< "$1"
    read -r -a b <<< "$2"
    if [ "${a[2]}" != - ] && [ "${b[2]}" = - ]; then return 0; fi
    if [ "${a[2]}" = - ] && [ "${b[2]}" != - ]; then return 1; fi
    ga=${a[1]}; [ "${a[2]}" = - ] || ((a[2] <= ga)) || ga=${a[2]}
    gb=${b[1]}; [ "${b[2]}" = - ] || ((b[2] <= gb)) || gb=${b[2]}
    ((ga != gb)) && { ((ga > gb)); return; }
    ((a[3] != b[3])) && { ((a[3] > b[3])); return; }
    ((a[4] != b[4])) && { ((a[4] > b[4])); return; }
    ((a[5] > b[5]))
}
declare -A MASTER=()
nclosed=0 nopen=0 nstale=0 nreboot=0
for ((i = 0; i < NS; i++)); do
    w=
    for m in m1 m2; do
        v=${COPY[$m|$i]:-}
        [ -n "$v" ] || continue
        if [ -z "$w" ] || better "$v" "$w"; then w=$v; fi
    done
    read -r -a c <<< "$w"
    if [ "${c[2]}" = - ] && ((c[1] < NOW - STALE_AFTER)); then
        w="${c[0]} ${c[1]} ${c[1]} $((c[1] - c[0])) ${c[4]} ${c[5]} Stale-Session"
        nstale=$((nstale + 1))
    fi
    MASTER[$i]=$w
    case $w in
        *" - "*) nopen=$((nopen + 1)) ;;
        *NAS-Reboot) nreboot=$((nreboot + 1)); nclosed=$((nclosed + 1)) ;;
        *) nclosed=$((nclosed + 1)) ;;
    esac
done
for ((i = 0; i < NS; i++)); do
    line "$i" "${MASTER[$i]}"
done | sort > "$H_TMP/want.ms"
# the members keep their (untouched) copies of the sessions open on master
for m in m1 m2; do
    for ((i = 0; i < NS; i++)); do
        [ -n "${COPY[$m|$i]:-}" ] || continue
        case ${MASTER[$i]} in *" - "*) line "$i" "${COPY[$m|$i]}" ;; esac
    done | sort > "$H_TMP/keep.$m"
done
# sanity of the scenario itself: each check below has something to bite on
if [ "$nstale" = 0 ] || [ "$nreboot" = 0 ] || [ "$nopen" = 0 ] || [ "$nclosed" = 0 ]; then
    h_fail "scenario: closed $nclosed, open $nopen, stale $nstale, NAS-Reboot $nreboot"
fi
h_ok "expected on master: $NS sessions, $nclosed closed ($nreboot by the Accounting-On), $nstale stale, $nopen open"

# --- the sweep ----------------------------------------------------------------
conf=$H_TMP/sweep.conf
cat > "$conf" <<CONF
node = { name = "sweep-a"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$(h_free_port tcp)"; };
sweep = { interval = 60; stale_after = $STALE_AFTER; batch = 100; master_writers = 2;
  master = { host = "127.0.0.1"; port = $ms_PORT; user = "root"; password = ""; database = "radius"; };
  members = ( { name = "m1"; host = "127.0.0.1"; port = $m1_PORT; user = "root"; password = ""; database = "radius"; },
              { name = "m2"; host = "127.0.0.1"; port = $m2_PORT; user = "root"; password = ""; database = "radius"; } ); };
CONF
"$AGGD" -n -c "$conf" > /dev/null 2>&1 || h_fail "config rejected: $("$AGGD" -n -c "$conf" 2>&1)"

# sweep N: one `--once sweep`, its output in $H_TMP/sweepN.log.
sweep() {
    local rc=0
    step
    timeout 60 "$AGGD" -c "$conf" --once sweep > "$H_TMP/sweep$1.log" 2>&1 || rc=$?
    [ "$rc" = 0 ] || h_fail "sweep $1: --once sweep exited $rc: $(tail -n 3 "$H_TMP/sweep$1.log")"
    T_SWEEP=$(took)
}
# check_master WHEN: master holds exactly the expected rows.
check_master() {
    local n d
    n=$(h_mysql ms radius -N -B -e 'SELECT COUNT(*), COUNT(DISTINCT acctuniqueid) FROM radacct')
    [ "$n" = "$NS	$NS" ] || h_fail "$1: master holds $n rows / sessions, want $NS of each"
    rows ms > "$H_TMP/got.ms"
    if ! diff "$H_TMP/want.ms" "$H_TMP/got.ms" > "$H_TMP/diff.ms"; then
        d=$(grep -c '^[<>]' "$H_TMP/diff.ms" || true)
        h_fail "$1: master differs from the packets ($d lines; < want, > got): $(head -6 "$H_TMP/diff.ms")"
    fi
}
# master_dump: every column but radacctid, for the idempotence check.
master_dump() {
    h_mysql ms radius -N -B -e "SELECT * FROM radacct ORDER BY acctuniqueid" | cut -f 2-
}

sweep 1
check_master "after sweep 1"
h_ok "sweep 1 ($T_SWEEP s): master holds each of the $NS sessions once; closed ones with the Stop's stop time and final counters (Gigawords included), open ones with their latest interim, NAS-Reboot and Stale-Session closes as expected"

# after one sweep: nothing open lost; nothing closed left but maybe the
# copies the stale closing just closed (moved by the next sweep)
for m in m1 m2; do
    rows "$m" > "$H_TMP/post1.$m"
    missing=$(comm -23 "$H_TMP/keep.$m" "$H_TMP/post1.$m" | wc -l)
    [ "$missing" = 0 ] || h_fail "after sweep 1, $m lost $missing open copies: $(comm -23 "$H_TMP/keep.$m" "$H_TMP/post1.$m" | head -3)"
    awk -F'\t' '$10 != "-" && $14 != "Stale-Session"' "$H_TMP/post1.$m" > "$H_TMP/closed1.$m"
    [ ! -s "$H_TMP/closed1.$m" ] ||
        h_fail "after sweep 1, $m still holds $(wc -l < "$H_TMP/closed1.$m") closed rows: $(head -3 "$H_TMP/closed1.$m")"
done
h_ok "after sweep 1 the members keep every open copy and no closed row (m1: $(wc -l < "$H_TMP/post1.m1"), m2: $(wc -l < "$H_TMP/post1.m2") rows)"

master_dump > "$H_TMP/dump1.ms"
sweep 2
master_dump > "$H_TMP/dump2.ms"
diff "$H_TMP/dump1.ms" "$H_TMP/dump2.ms" > "$H_TMP/diff.idem" ||
    h_fail "sweep 2 changed master: $(head -6 "$H_TMP/diff.idem")"
check_master "after sweep 2"
h_ok "sweep 2 ($T_SWEEP s) leaves master unchanged (idempotent)"

for m in m1 m2; do
    rows "$m" > "$H_TMP/post2.$m"
    diff "$H_TMP/keep.$m" "$H_TMP/post2.$m" > "$H_TMP/diff.post.$m" ||
        h_fail "after sweep 2, $m should hold exactly its copies of the sessions open on master (< want, > got): $(head -6 "$H_TMP/diff.post.$m")"
done
h_ok "after sweep 2 the members hold only their untouched copies of the $nopen open sessions (m1: $(wc -l < "$H_TMP/keep.m1"), m2: $(wc -l < "$H_TMP/keep.m2") rows); closed, late-interim and NAS-Reboot copies gone"
