#!/usr/bin/env bash
# demo.sh — `make demo`: a throwaway aggregatord on loopback, shown as a new
# operator would meet it.  Everything lives in one temp dir and is stopped
# and removed at the end (H_KEEP=1 keeps the dir).  Each job adds its part.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/harness/lib.sh
: "${AGG_BUILD:=build}"
AGGD=$PWD/$AGG_BUILD/aggregatord
AGGCTL=$PWD/$AGG_BUILD/aggregatorctl
h_init

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "throwaway servers on loopback"
h_start_redis r
echo "redis on 127.0.0.1:$r_PORT"

port=$(h_free_port tcp)
uport=$(h_free_port udp)
conf=$H_TMP/aggregatord.conf
cat > "$conf" <<CONF
node = { name = "demo-a"; state_dir = "$H_TMP/state"; };
log  = { level = "info"; };
http = { listen = "127.0.0.1:$port"; token = "demo-token"; };
redis = { port = $r_PORT; };
totalizer = {
  flush_ms = 500;
  rules = (
    { prefix = "web_client"; listen = "127.0.0.1:$uport";
      match = "^([^ ]+).*?\\"(?:GET|POST) .*? HTTP/[^\\"]*\\" (\\\\d\\\\d\\\\d)";
      matched = "\$1,\$2"; source = "web1"; ttl = 86400; buckets = 4; },
    { prefix = "web_page"; listen = "127.0.0.1:$uport";
      match = "\\"(?:GET|POST) ([^ ?\\"]*)[^\\"]*\\" \\\\d\\\\d\\\\d";
      matched = "\$1"; last_segment = true; lower = true; max_len = 32; source = "web1"; }
  );
};
CONF

say "the config, checked as the unit's ExecReload does before a reload"
cat "$conf"
run "$AGGD" -n -c "$conf"

say "start the daemon (foreground, logs to $H_TMP/demo-a.log)"
h_start_notify n
h_spawn a "$H_TMP/demo-a.log" env NOTIFY_SOCKET="$n_SOCKET" "$AGGD" -c "$conf"
h_wait_until 10 curl -sf "http://127.0.0.1:$port/healthz" -o /dev/null
h_wait_until 5 grep -qx READY=1 "$n_OUT"
echo "systemd would have received:"; sed 's/^/  /' "$n_OUT"

say "aggregatorctl status (reads the URL and token from the config file)"
run "$AGGCTL" -c "$conf" status

say "a broken edit, then systemctl reload (SIGHUP): refused, still running"
cp "$conf" "$conf.good"
sed 's/level = "info";/level = "info"; colour = "blue";/' "$conf.good" > "$conf"
run "$AGGD" -n -c "$conf" || true
h_signal a HUP
h_wait_until 5 grep -q 'not reloading' "$H_TMP/demo-a.log"
grep -E "not reloading|colour" "$H_TMP/demo-a.log" | sed 's/^/  log: /'

say "a good edit (log level debug), SIGHUP: applied"
sed 's/level = "info"/level = "debug"/' "$conf.good" > "$conf"
h_signal a HUP
h_wait_until 5 grep -q 'reloaded (log level debug)' "$H_TMP/demo-a.log"
grep 'reloaded' "$H_TMP/demo-a.log" | sed 's/^/  log: /'

say "operator role overrides: SIGRTMIN+1 (force active), then aggregatorctl role auto"
h_signal a RTMIN+1
h_wait_until 5 grep -q "role command 'active'" "$H_TMP/demo-a.log"
run "$AGGCTL" -c "$conf" role auto

say "/metrics (Prometheus), checked by promtool"
curl -sf -H 'Authorization: Bearer demo-token' "http://127.0.0.1:$port/metrics" > "$H_TMP/metrics.txt"
grep -E '^aggregatord_(build_info|config_reloads_total|role_overrides_total)' "$H_TMP/metrics.txt" | sed 's/^/  /'
run promtool check metrics < "$H_TMP/metrics.txt"

say "totalizer: check the rules on a few lines first (--test-rules touches nothing)"
"$PWD/tests/harness/udp_blast" --print -n 20000 --clients 40 --pages 30 > "$H_TMP/access.log"
head -n 3 "$H_TMP/access.log" | sed 's/^/  /'
head -n 3 "$H_TMP/access.log" | "$AGGD" -c "$conf" --test-rules | sed 's/^/  /'

say "totalizer: stream the access log over UDP (as tail -F access.log | nc -u 127.0.0.1 $uport would)"
"$PWD/tests/harness/htool" udp-send 127.0.0.1 "$uport" < "$H_TMP/access.log"
echo "sent $(wc -l < "$H_TMP/access.log") lines, one datagram each"
export AGGREGATORD_TOKEN=demo-token
counted() { curl -sf -H 'Authorization: Bearer demo-token' "http://127.0.0.1:$port/metrics" |
            awk '$1 == "aggregatord_totalizer_lines_total" { l = $2 }
                 $1 ~ /^aggregatord_totalizer_matched_total/ { m += $2 }
                 $1 == "aggregatord_totalizer_counted_total" { c = $2 }
                 END { exit !(l == '"$(wc -l < "$H_TMP/access.log")"' && c == m) }'; }
h_wait_until 20 counted
echo "keys in redis: $(redis-cli -p "$r_PORT" DBSIZE) (e.g. $(redis-cli -p "$r_PORT" --scan --pattern 'web_client;*' | head -n 1))"
run "$AGGCTL" -c "$conf" total web_client '*' --window 3600 > "$H_TMP/total.txt"
head -n 6 "$H_TMP/total.txt"; echo "  ..."; tail -n 2 "$H_TMP/total.txt"
run "$AGGCTL" -c "$conf" total web_page '*' --window 3600 > "$H_TMP/pages.txt"
head -n 6 "$H_TMP/pages.txt"; echo "  ..."; tail -n 2 "$H_TMP/pages.txt"
run "$AGGCTL" -c "$conf" status

say "election + publish: two nodes in one group, one Kafka stream (a mock broker on loopback)"
h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
echo "kafka broker at $k_BOOTSTRAP"
for n in node-1 node-2; do
    up=$(h_free_port udp); hp=$(h_free_port tcp)
    eval "UP_${n//-/_}=$up HP_${n//-/_}=$hp"
    cat > "$H_TMP/$n.conf" <<CONF
node = { name = "$n"; state_dir = "$H_TMP/state-$n"; };
http = { listen = "127.0.0.1:$hp"; };
redis = { port = $r_PORT; };
kafka = { enabled = true; brokers = "$k_BOOTSTRAP"; };
election = { cluster = "demo"; interval_ms = 500; ttl_ms = 1500; };
totalizer = { flush_ms = 500; rules = (
  { prefix = "web_client"; listen = "127.0.0.1:$up";
    match = "^([^ ]+).*?\\"(?:GET|POST) .*? HTTP/[^\\"]*\\" (\\\\d\\\\d\\\\d)";
    matched = "\$1,\$2"; source = "web1"; } ); };
CONF
done
h_spawn n1 "$H_TMP/node-1.log" "$AGGD" -c "$H_TMP/node-1.conf"
h_wait_until 10 sh -c "curl -sf http://127.0.0.1:$HP_node_1/v1/status | grep -q '\"state\":\"active\"'"
h_spawn n2 "$H_TMP/node-2.log" "$AGGD" -c "$H_TMP/node-2.conf"
h_wait_until 10 sh -c "curl -sf http://127.0.0.1:$HP_node_2/v1/status | grep -q '\"state\":\"standby\"'"
for n in 1 2; do
    hp=$(eval echo "\$HP_node_$n")
    printf 'node-%s: ' "$n"; "$AGGCTL" -s "http://127.0.0.1:$hp" status | grep -E '^role'
done
echo "both nodes get the same log stream; only the active one produces to Kafka:"
head -n 2000 "$H_TMP/access.log" | tee >("$PWD/tests/harness/htool" udp-send 127.0.0.1 "$UP_node_2") \
    | "$PWD/tests/harness/htool" udp-send 127.0.0.1 "$UP_node_1"
h_wait_until 20 sh -c "[ \$(kcat -b $k_BOOTSTRAP -C -t aggregatord.totals -o beginning -e -q 2>/dev/null | wc -l) -gt 0 ]"
run kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q -c 3 -f 'key %k\nvalue %s\n'
echo "node-2 holds, produces nothing: $(curl -s http://127.0.0.1:$HP_node_2/metrics | awk '$1 == "aggregatord_publish_queued" { q = $2 } $1 == "aggregatord_publish_produced_total" { p = $2 } END { print q " held, " p " produced" }')"

say "failover: systemctl stop on the active node (SIGTERM), the standby takes over"
t0=$(date +%s%3N)
h_stop n1
h_wait_until 10 sh -c "curl -sf http://127.0.0.1:$HP_node_2/v1/status | grep -q '\"state\":\"active\"'"
echo "node-2 active $(( $(date +%s%3N) - t0 )) ms after the stop began"
"$AGGCTL" -s "http://127.0.0.1:$HP_node_2" status | grep -E '^role'
grep -E "election: .*(active|standby)" "$H_TMP/node-2.log" | tail -n 2 | sed 's/^/  log: /'
tail -n 2000 "$H_TMP/access.log" | "$PWD/tests/harness/htool" udp-send 127.0.0.1 "$UP_node_2"
h_wait_until 20 sh -c "kcat -b $k_BOOTSTRAP -C -t aggregatord.totals -o beginning -e -q 2>/dev/null | grep -q '\"node\":\"node-2\"'"
echo "events on the topic now come from node-2 with a higher epoch:"
kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q 2>/dev/null | grep -o '"node":"[^"]*","epoch":[0-9]*' | sort | uniq -c | sed 's/^/  /'

say "the epoch across restarts: Redis loses the group's keys while the node is down"
echo "node-2 keeps the highest epoch it has seen: $(cat "$H_TMP/state-node-2/election/epoch")"
h_stop n2
h_redis r --scan --pattern 'demo+*' | xargs -r redis-cli -p "$r_PORT" DEL > /dev/null
echo "node-2 stopped; the group's keys deleted from Redis (as a Redis restarted without persistence)"
h_spawn n2 "$H_TMP/node-2b.log" "$AGGD" -c "$H_TMP/node-2.conf"
h_wait_until 10 sh -c "curl -sf http://127.0.0.1:$HP_node_2/v1/status | grep -q '\"state\":\"active\"'"
"$AGGCTL" -s "http://127.0.0.1:$HP_node_2" status | grep -E '^role'
grep -E "election: epoch [0-9]+ seen before the restart" "$H_TMP/node-2b.log" | sed 's/^/  log: /'
echo "Redis's epoch key now: $(h_redis r GET demo+0+epoch) (not 1: consumers keep fencing by it)"
h_stop n2

say "sweep: FreeRADIUS radacct from two member databases into master"
h_start_mariadb acct1 acct2 master > /dev/null
SCHEMA=/etc/freeradius/3.0/mods-config/sql/main/mysql/schema.sql
for n in acct1 acct2 master; do
    h_mysql "$n" -e "CREATE DATABASE radius"
    h_mysql "$n" radius < "$SCHEMA"
done
echo "three MariaDB servers with FreeRADIUS's own schema ($SCHEMA)"
# Sessions as FreeRADIUS leaves them when a NAS round-robins its packets:
# some Stops on one member with a late interim on the other, some open.
COLS="acctsessionid,acctuniqueid,username,nasipaddress,nasportid,acctstarttime,acctupdatetime,acctstoptime,acctsessiontime,acctinputoctets,acctoutputoctets,acctterminatecause,framedipaddress"
for i in $(seq 1 40); do
    u=$(printf 'sess%04d' "$i"); m=$(( i % 2 ? 1 : 2 )); o=$(( 3 - m ))
    if [ $((i % 4)) = 0 ]; then	# open on both, the newer interim on one
        h_mysql acct$m radius -e "INSERT INTO radacct ($COLS) VALUES ('$u','$u','user$i','10.0.0.1','$i',UTC_TIMESTAMP() - INTERVAL 20 MINUTE,UTC_TIMESTAMP() - INTERVAL 5 MINUTE,NULL,900,${i}000,${i}500,'','100.64.0.$i')"
        h_mysql acct$o radius -e "INSERT INTO radacct ($COLS) VALUES ('$u','$u','user$i','10.0.0.1','$i',UTC_TIMESTAMP() - INTERVAL 20 MINUTE,UTC_TIMESTAMP() - INTERVAL 10 MINUTE,NULL,600,${i}0,${i}5,'','100.64.0.$i')"
    else	# Stop on one member, a stale interim on the other
        h_mysql acct$m radius -e "INSERT INTO radacct ($COLS) VALUES ('$u','$u','user$i','10.0.0.1','$i',UTC_TIMESTAMP() - INTERVAL 60 MINUTE,UTC_TIMESTAMP() - INTERVAL 30 MINUTE,UTC_TIMESTAMP() - INTERVAL 20 MINUTE,2400,${i}9000,${i}9500,'User-Request','100.64.0.$i')"
        h_mysql acct$o radius -e "INSERT INTO radacct ($COLS) VALUES ('$u','$u','user$i','10.0.0.1','$i',UTC_TIMESTAMP() - INTERVAL 60 MINUTE,UTC_TIMESTAMP() - INTERVAL 25 MINUTE,NULL,2100,${i}000,${i}500,'','100.64.0.$i')"
    fi
done
counts() { for n in acct1 acct2 master; do printf '  %-7s %s\n' "$n" "$(h_mysql $n radius -N -e "SELECT CONCAT(COUNT(*), ' rows: ', COALESCE(SUM(acctstoptime IS NOT NULL), 0), ' closed, ', COALESCE(SUM(acctstoptime IS NULL), 0), ' open') FROM radacct")"; done; }
echo "before:"; counts
cat > "$H_TMP/sweep.conf" <<CONF
node = { name = "sweeper"; state_dir = "$H_TMP/state-sweep"; };
kafka = { enabled = true; brokers = "$k_BOOTSTRAP"; };
sweep = { stale_after = 1800;
  master = { host = "127.0.0.1"; port = $master_PORT; user = "root"; };
  members = ( { name = "acct1"; host = "127.0.0.1"; port = $acct1_PORT; user = "root"; },
              { name = "acct2"; host = "127.0.0.1"; port = $acct2_PORT; user = "root"; } ); };
CONF
run "$AGGD" -c "$H_TMP/sweep.conf" --once sweep
echo "after one cycle:"; counts
echo "(open copies that lost to a Stop on the other member go in the next cycle, once master holds the Stop;"
echo " open rows master already holds at that version are not sent again: 0 copied)"
"$AGGD" -c "$H_TMP/sweep.conf" --once sweep 2>&1 | grep -E "member '[^']*': .* copied|one cycle" | sed 's/^/  /'
echo "after two:"; counts
echo "master's view of two sessions (a closed one: the Stop won over the later interim; an open one: the newer interim won):"
h_mysql master radius -e "SELECT acctuniqueid, acctstoptime IS NOT NULL AS closed, acctsessiontime, acctinputoctets, acctterminatecause FROM radacct WHERE acctuniqueid IN ('sess0001','sess0004')"
echo "moved sessions on the radacct topic:"
kcat -b "$k_BOOTSTRAP" -C -t aggregatord.radacct -o beginning -e -q -c 2 -f '  key %k: %s\n' 2>/dev/null | cut -c1-200

say "rollup: hourly usage per cloud account, two locations and a master"
h_start_influxdb i
now=$(date +%s); H=$(( now / 3600 * 3600 - 3600 )); HT=$(date -u -d "@$H" +%Y-%m-%dT%H); HP=$(date -u -d "@$H" +%Y/%m/%d/%H)
for db in usage_a usage_b; do h_influx i "CREATE DATABASE $db" > /dev/null; done
# an hour of samples, one a minute, for a few VMs per location (and the minute before the hour)
gen() {	# LOC-SUFFIX ACCOUNTS...
    local suffix=$1 acct vm t k; shift
    for acct in "$@"; do for vm in 1 2; do
        for k in $(seq -1 59); do
            t=$(( H + k * 60 ))
            echo "vm_usage,account=$acct,cloudspace=cs-$suffix,vm=$acct-vm$vm mem_mib=$(( 1024 * vm + k )),disk_gib=$(( 20 * vm )),cpu_seconds=$(( (k + 61) * 30 * vm )),io_read=$(( (k + 61) * 100 )),io_write=$(( (k + 61) * 50 )),net_tx_bytes=$(( (k + 61) * 1000000 )),net_rx_bytes=$(( (k + 61) * 2000000 )) $t"
        done
    done; done
}
gen a acme beta | h_influx_write i usage_a
gen b acme gamma | h_influx_write i usage_b
echo "InfluxDB loaded with hour $HT for loc-a (acme, beta) and loc-b (acme, gamma): $(h_influx i 'SELECT count(mem_mib) FROM vm_usage' usage_a | grep -o '"values":\[\[[^]]*' | awk -F, '{print $NF}') + $(h_influx i 'SELECT count(mem_mib) FROM vm_usage' usage_b | grep -o '"values":\[\[[^]]*' | awk -F, '{print $NF}') samples"
for n in a b; do
    p=$(h_free_port tcp); eval "RP_$n=$p"
    cat > "$H_TMP/loc-$n.conf" <<CONF
node = { name = "loc-$n"; state_dir = "$H_TMP/state-loc-$n"; };
http = { listen = "127.0.0.1:$p"; };
rollup = { role = "location"; location = "loc-$n"; catch_up_hours = 0;
  influxdb = { url = "$i_URL"; db = "usage_$n"; }; };
CONF
    run "$AGGD" -c "$H_TMP/loc-$n.conf" --once rollup --hour "$HT"
    h_spawn "loc$n" "$H_TMP/loc-$n.log" "$AGGD" -c "$H_TMP/loc-$n.conf"
done
h_wait_until 10 curl -sf "http://127.0.0.1:$RP_a/healthz" -o /dev/null
h_wait_until 10 curl -sf "http://127.0.0.1:$RP_b/healthz" -o /dev/null
cat > "$H_TMP/umaster.conf" <<CONF
node = { name = "usage-master"; state_dir = "$H_TMP/state-umaster"; };
rollup = { role = "master";
  locations = ( { name = "loc-a"; url = "http://127.0.0.1:$RP_a"; },
                { name = "loc-b"; url = "http://127.0.0.1:$RP_b"; } ); };
CONF
run curl -s "http://127.0.0.1:$RP_a/v1/usage/$HP"; echo
run "$AGGD" -c "$H_TMP/umaster.conf" --once rollup --hour "$HT"
f="$H_TMP/state-umaster/usage/acme/$HP.bin"
echo "the merged file for acme: $f ($(stat -c %s "$f") bytes, zlib of one Cap'n Proto message), read by the stock capnp tool:"
perl -MCompress::Zlib -0777 -ne 'print uncompress($_)' < "$f" | capnp decode docs/usage.capnp HourUsage | head -n 24
echo "  ..."
run "$AGGCTL" export "$f" --csv
run "$AGGCTL" export "$f" -o "$H_TMP/acme.xlsx"
ls -l "$H_TMP/acme.xlsx"
h_stop loca; h_stop locb

say "without the token, the API says no (except /healthz)"
run curl -s "http://127.0.0.1:$port/v1/status"; echo
run curl -s "http://127.0.0.1:$port/healthz"

say "systemctl stop (SIGTERM): clean exit"
h_stop a
echo "exit status: $H_EXIT_STATUS"
tail -n 3 "$H_TMP/demo-a.log" | sed 's/^/  log: /'
echo
echo "demo done."
