#!/usr/bin/env bash
# test_harness.sh — self-test of the integration test harness (tests/harness).
#
# Starts each kind of throwaway server the other integration tests rely on
# (one Redis, two MariaDB at once, one InfluxDB, one mock Kafka cluster),
# does one real round trip with each, stops each one and checks it is gone
# (pid dead, port closed).  It also checks htool's helpers, and that the
# harness cleans up after a test that fails half-way or is killed outright.
# Prints TAP-style "ok" lines; exits non-zero on the first failure.
# Needs the harness tools built (tests/harness/htool and kafka_mock).
# (NAME_PORT and friends are set by lib.sh; single-quoted $ args are meant.)
# shellcheck source-path=SCRIPTDIR disable=SC2154,SC2016
set -euo pipefail

# shellcheck source=../harness/lib.sh
. "$(dirname "$0")/../harness/lib.sh"
h_init

T0=$(h__now_us)

# step_start: remembers when the current step began.
step_start() {
    STEP_T0=$(h__now_us)
}

# ok MESSAGE: reports the current step as passed, with its duration.
ok() {
    h_ok "$* ($(h__elapsed "$STEP_T0") s)"
}

# assert_eq WHAT EXPECTED ACTUAL: fails the test unless both are equal.
assert_eq() {
    if [ "$2" != "$3" ]; then
        h_fail "$1: expected '$2', got '$3'"
    fi
}

# assert_gone NAME PID PORT: fails unless PID is dead and nothing listens on
# 127.0.0.1:PORT any more.
assert_gone() {
    if ! h__gone "$2"; then
        h_fail "$1: pid $2 still alive after stop"
    fi
    if h_port_open "$3"; then
        h_fail "$1: port $3 still open after stop"
    fi
}

# ---- fault proxy -----------------------------------------------------------
# A real Redis behind the proxy: each mode is seen from a real client.
step_start
h_start_redis fr
h_start_faultproxy fx "$fr_PORT"
assert_eq "PING through the proxy" PONG "$(redis-cli -p "$fx_PORT" PING)"
h_fault fx freeze > /dev/null
t0=$(h__now_us)
rc=0
out=$(timeout 1 redis-cli -p "$fx_PORT" PING 2>&1) || rc=$?
[ "$rc" = 124 ] || h_fail "frozen proxy: redis-cli did not hang (exit $rc, '$out')"
h_fault fx pass > /dev/null
assert_eq "PING after pass" PONG "$(redis-cli -p "$fx_PORT" PING)"
h_fault fx trickle 50 > /dev/null
t0=$(h__now_us)
assert_eq "PING trickled" PONG "$(redis-cli -p "$fx_PORT" PING)"
# "*1\r\n$4\r\nPING\r\n" is 14 bytes at 50 ms each way: at least 0.6 s.
el=$(( $(h__now_us) - t0 ))
[ "$el" -ge 600000 ] || h_fail "trickle 50: a PING took only $el us"
h_fault fx pass > /dev/null
exec {rfd}<>"/dev/tcp/127.0.0.1/$fx_PORT"
h_wait_until 5 eval '[[ $(h_fault fx status) == *conns=1* ]]' || h_fail "the open connection is not counted"
h_fault fx cut > /dev/null
rc=0
printf 'PING\r\n' >&"$rfd" 2>/dev/null && read -r -t 2 _ <&"$rfd" 2>/dev/null || rc=$?
[ "$rc" != 0 ] || h_fail "cut: the connection still answers"
exec {rfd}>&-
assert_eq "a new connection after cut" PONG "$(redis-cli -p "$fx_PORT" PING)"
h_stop fx
h_stop fr
ok "fault proxy: pass, freeze (hangs), trickle (slow), cut (reset), pass again"

# ---- htool -----------------------------------------------------------------
step_start
p=$(h_free_port)
u=$(h_free_port udp)
[[ $p =~ ^[0-9]+$ && $u =~ ^[0-9]+$ ]] || h_fail "h_free_port printed '$p' / '$u'"
ok "h_free_port: tcp $p, udp $u"

step_start
# 1000 ports asked before any is bound (as a test does for the servers it
# then starts): the kernel alone repeats ~35 of them
for i in $(seq 1000); do h_free_port; done > "$H_TMP/ports.txt"
dups=$(sort "$H_TMP/ports.txt" | uniq -d | wc -l)
[ "$(wc -l < "$H_TMP/ports.txt")" = 1000 ] && [ "$dups" = 0 ] \
    || h_fail "h_free_port: $dups port(s) handed out twice in one test of $(wc -l < "$H_TMP/ports.txt")"
ok "h_free_port: 1000 ports, none handed out twice"

step_start
h_start_notify n
printf 'READY=1\nSTATUS=two lines' | timeout 5 nc -U -u -q0 "$n_SOCKET"
printf 'STOPPING=1' | timeout 5 nc -U -u -q0 "$n_SOCKET"
h_wait_until 5 grep -q '^STOPPING=1$' "$n_OUT" || h_fail "notify-listen: datagrams not logged"
assert_eq "notify-listen output" $'READY=1\nSTATUS=two lines\nSTOPPING=1' "$(cat "$n_OUT")"
h_stop n
[ ! -e "$n_SOCKET" ] || h_fail "notify-listen left its socket behind"
ok "htool notify-listen logs datagrams verbatim and removes its socket"

step_start
port=$(h_free_port udp)
# -k: keep receiving from every sender (each udp-send uses a new source port).
h_spawn udprecv "$H_TMP/udp.out" nc -u -l -k 127.0.0.1 "$port"
# nc binds asynchronously; resend until the first datagram is seen.
h_wait_until 5 bash -c 'echo hello | "$1" udp-send 127.0.0.1 "$2"; grep -q hello "$3"' \
    _ "$H_BIN/htool" "$port" "$H_TMP/udp.out" || h_fail "udp-send: nothing received"
printf 'a\nb\nc\nd\ne\n' | "$H_BIN/htool" udp-send -n 2 -t 127.0.0.1 "$port"
h_wait_until 5 grep -q '^de$' "$H_TMP/udp.out" || h_fail "udp-send -n 2 -t: 'e' not received"
# Packed two lines per datagram, trailing newline trimmed: "a\nb" "c\nd" "e".
assert_eq "udp-send -n 2 -t" $'a\nbc\nde' "$(grep -v hello "$H_TMP/udp.out")"
h_stop udprecv
ok "htool udp-send sends lines, -n packs them, -t trims"

# ---- Redis -----------------------------------------------------------------
step_start
h_start_redis r
h_redis r set harness:key 'hello world' > /dev/null
assert_eq "redis GET" "hello world" "$(h_redis r get harness:key)"
ok "redis on $r_PORT: SET/GET round trip"

step_start
h_kill r
h_restart_redis r
assert_eq "redis after restart" "PONG" "$(h_redis r ping)"
ok "redis killed and restarted on the same port"

step_start
pid=$(h_pid r)
h_stop r
assert_eq "redis exit status" 0 "$H_EXIT_STATUS"
assert_gone redis "$pid" "$r_PORT"
ok "redis stopped: pid $pid dead, port $r_PORT closed"

# ---- MariaDB (two at once) ------------------------------------------------
step_start
h_start_mariadb m1 m2
ok "mariadb m1 on $m1_PORT and m2 on $m2_PORT started together"

step_start
for m in m1 m2; do
    h_mysql "$m" <<'SQL'
CREATE DATABASE radius;
CREATE TABLE radius.t (id INT PRIMARY KEY, v VARCHAR(32)) ENGINE=InnoDB;
SQL
    h_mysql "$m" -e "INSERT INTO radius.t VALUES (1, 'from $m')"
    port_var=${m}_PORT
    # Over TCP, as the daemon connects: root@127.0.0.1, empty password.
    got=$(mariadb --no-defaults -uroot -h127.0.0.1 -P"${!port_var}" -N -B \
        -e 'SELECT v FROM radius.t WHERE id = 1')
    assert_eq "mariadb $m select" "from $m" "$got"
done
ok "mariadb m1 and m2: create table, insert, select over TCP"

step_start
h_kill m1
h_restart_mariadb m1
assert_eq "mariadb m1 after restart" "from m1" \
    "$(h_mysql m1 -N -B -e 'SELECT v FROM radius.t WHERE id = 1')"
ok "mariadb m1 killed and restarted on port $m1_PORT with its data"

step_start
for m in m1 m2; do
    pid=$(h_pid "$m")
    port_var=${m}_PORT
    sock_var=${m}_SOCK
    h_stop "$m"
    assert_eq "mariadb $m exit status" 0 "$H_EXIT_STATUS"
    assert_gone "mariadb $m" "$pid" "${!port_var}"
    [ ! -e "${!sock_var}" ] || h_fail "mariadb $m: socket ${!sock_var} left behind"
done
ok "mariadb m1 and m2 stopped: pids dead, ports closed"

# ---- InfluxDB --------------------------------------------------------------
step_start
h_start_influxdb i
h_influx i 'CREATE DATABASE usage' > /dev/null
h_influx_write i usage <<'LP'
vm_usage,account=a1,cloudspace=c1,vm=v1 mem_mib=512,cpu_seconds=10 1700000000
vm_usage,account=a1,cloudspace=c1,vm=v1 mem_mib=1024,cpu_seconds=70 1700000060
LP
got=$(h_influx i 'SELECT mean(mem_mib) FROM vm_usage WHERE account = '"'a1'" usage s)
case $got in
    *'"values":[[0,768]]'*) ;;
    *) h_fail "influxdb query: unexpected answer $got" ;;
esac
ok "influxdb on $i_PORT: write two points, query mean back"

step_start
pid=$(h_pid i)
h_stop i
assert_eq "influxdb exit status" 0 "$H_EXIT_STATUS"
assert_gone influxdb "$pid" "$i_PORT"
ok "influxdb stopped: pid $pid dead, port $i_PORT closed"

# ---- Kafka mock ------------------------------------------------------------
step_start
h_start_kafka k aggregatord.events
printf 'key1\tvalue one\nkey2\tvalue two\n' | h_kafka_produce k aggregatord.events
assert_eq "kafka consume" $'key1\tvalue one\nkey2\tvalue two' \
    "$(h_kafka_consume k aggregatord.events 2 10)"
ok "kafka mock on $k_BOOTSTRAP: produce two messages with kcat, consume them back"

step_start
h_kafka_down k
if h_port_open "$k_PORT"; then
    h_fail "kafka mock: broker still accepts connections while down"
fi
h_kafka_up k
h_wait_until 5 h_port_open "$k_PORT" || h_fail "kafka mock: broker not back up"
printf 'key3\tafter outage\n' | h_kafka_produce k aggregatord.events
assert_eq "kafka consume after outage" $'key1\tvalue one\nkey2\tvalue two\nkey3\tafter outage' \
    "$(h_kafka_consume k aggregatord.events 3 10)"
ok "kafka mock: broker down refuses connections, back up keeps the log"

step_start
h_kafka_freeze k
h_port_open "$k_PORT" || h_fail "kafka mock: a frozen broker closed its port"
t0=$(h__now_us)
if printf 'key4\tfrozen\n' | timeout 10 kcat -b "$k_BOOTSTRAP" -P -t aggregatord.events -K $'\t' \
    -X message.timeout.ms=1500 > "$H_TMP/kcat-frozen.log" 2>&1; then
    h_fail "kafka mock: kcat produced to a frozen broker: $(cat "$H_TMP/kcat-frozen.log")"
fi
frozen_s=$(h__elapsed "$t0")
h_kafka_thaw k
printf 'key5\tthawed\n' | h_kafka_produce k aggregatord.events
h_kafka_consume k aggregatord.events 4 10 | grep -qx $'key5\tthawed' \
    || h_fail "kafka mock: the message produced after the thaw is not on the topic"
ok "kafka mock: a frozen broker keeps its port open and answers nothing (kcat gave up after $frozen_s s), thawed it takes messages again"

step_start
if h_kafka_consume k aggregatord.events 5 1 > /dev/null 2>&1; then
    h_fail "h_kafka_consume: succeeded with fewer messages than asked"
fi
ok "h_kafka_consume fails when too few messages arrive"

step_start
pid=$(h_pid k)
h_stop k
assert_eq "kafka mock exit status" 0 "$H_EXIT_STATUS"
assert_gone "kafka mock" "$pid" "$k_PORT"
ok "kafka mock stopped: pid $pid dead, port $k_PORT closed"

# ---- cleanup of a test that fails or is killed -----------------------------
# inner_script FILE MODE: writes a test script that starts a Redis and a
# Kafka mock, records their pids and temp dir in FILE.out, and then either
# fails (MODE=fail) or waits to be killed (MODE=hang).
inner_script() {
    cat > "$1" <<EOF
set -euo pipefail
. "$H_LIB_DIR/lib.sh"
h_init
h_start_redis ir
h_start_kafka ik t
echo "\$H_TMP \$(h_pid ir) \$(h_pid ik) \$ir_PORT" > "$1.out.tmp"
mv "$1.out.tmp" "$1.out"
if [ "$2" = fail ]; then
    false
fi
while :; do sleep 0.1; done
EOF
}

step_start
inner_script "$H_TMP/inner-fail.sh" fail
rc=0
H_KEEP=0 bash "$H_TMP/inner-fail.sh" > "$H_TMP/inner-fail.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || h_fail "inner failing script exited 0"
read -r itmp ipid1 ipid2 iport < "$H_TMP/inner-fail.sh.out"
assert_gone "inner redis" "$ipid1" "$iport"
h__gone "$ipid2" || h_fail "inner kafka mock $ipid2 survived"
[ ! -e "$itmp" ] || h_fail "inner temp dir $itmp not removed"
grep -q 'run with H_KEEP=1' "$H_TMP/inner-fail.log" || h_fail "inner failure not reported"
ok "a test failing half-way (status $rc) leaves no server and no temp dir"

step_start
inner_script "$H_TMP/inner-hang.sh" hang
h_spawn inner "$H_TMP/inner-hang.log" bash "$H_TMP/inner-hang.sh"
h_wait_until 20 test -s "$H_TMP/inner-hang.sh.out" || h_fail "inner script did not start its servers"
read -r itmp ipid1 ipid2 iport < "$H_TMP/inner-hang.sh.out"
h_kill inner
h_wait_until 5 eval 'h__gone "$ipid1" && h__gone "$ipid2"' || h_fail "servers of a SIGKILLed test still run"
rm -rf "$itmp"
ok "a test killed with SIGKILL takes its servers with it"

printf '# all done in %s s\n' "$(h__elapsed "$T0")"
