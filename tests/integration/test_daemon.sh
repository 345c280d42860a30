#!/usr/bin/env bash
# test_daemon.sh — the foundation, driven through the real binary: config
# check (-n), start-up and /healthz, systemd notifications, /metrics through
# promtool, aggregatorctl, bearer token, hostile HTTP, a refused and an
# applied SIGHUP, the realtime signals, and a clean SIGTERM.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log a; h_cleanup' EXIT

# --- aggregatord -n ---
out=$("$AGGD" -n -c "$H_TOP/conf/aggregatord.conf" 2>"$H_TMP/n.err")
[ "$out" = "configuration OK" ] || h_fail "-n on the sample config said: $out"
grep -q "'http.token' is still the sample placeholder \"CHANGE-ME\": set a secret" "$H_TMP/n.err" \
    || h_fail "-n does not tell to set the token: $(cat "$H_TMP/n.err")"
h_ok "-n accepts the annotated sample config and tells to set its token placeholder"

for tok in '' CHANGE-ME; do
    printf 'http = {\n  listen = "0.0.0.0:8089";\n  token = "%s";\n};\n' "$tok" > "$H_TMP/open.conf"
    set +e
    err=$("$AGGD" -n -c "$H_TMP/open.conf" 2>&1)
    rc=$?
    set -e
    [ $rc -eq 78 ] || h_fail "-n with listen 0.0.0.0 and token '$tok' exited $rc"
    echo "$err" | grep -q "open.conf:3: 'http.listen' is \"0.0.0.0:8089\", beyond loopback: 'http.token' must be set" \
        || h_fail "-n said: $err"
done
h_ok "-n refuses an empty or placeholder token on a non-loopback listen address"

printf 'node = {\n  name = "a";\n  colour = "blue";\n};\n' > "$H_TMP/bad.conf"
set +e
err=$("$AGGD" -n -c "$H_TMP/bad.conf" 2>&1)
rc=$?
set -e
[ $rc -eq 78 ] || h_fail "-n on a broken file exited $rc, want 78 (EX_CONFIG)"
[ "$err" = "$H_TMP/bad.conf:3: unknown key 'node.colour'" ] || h_fail "-n said: $err"
h_ok "-n refuses a broken file with FILE:LINE and exit 78 (EX_CONFIG)"

# --- start ---
port=$(h_free_port tcp)
conf=$H_TMP/a.conf
write_conf() {	# LEVEL TOKEN [extra line]
    cat > "$conf" <<CONF
node = { name = "node-a"; state_dir = "$H_TMP/state"; };
log = { level = "$1"; };
http = { listen = "127.0.0.1:$port"; token = "$2"; };
${3:-}
CONF
}
write_conf info ""
h_start_notify n
agg_start a "$conf" NOTIFY_SOCKET="$n_SOCKET" WATCHDOG_USEC=300000
h_wait_until 10 agg_healthy a || h_fail "daemon did not answer /healthz"
h_ok "daemon starts and answers /healthz"
h_wait_until 5 grep -qx 'READY=1' "$n_OUT" || h_fail "no READY=1 on NOTIFY_SOCKET"
grep -q '^STATUS=node node-a' "$n_OUT" || h_fail "no STATUS= line"
h_ok "READY=1 and STATUS= reach NOTIFY_SOCKET"
h_wait_until 5 grep -qx 'WATCHDOG=1' "$n_OUT" || h_fail "no WATCHDOG=1 with WATCHDOG_USEC set"
h_ok "WATCHDOG=1 pings at half of WATCHDOG_USEC"
[ -d "$H_TMP/state" ] || h_fail "state_dir was not created"

# --- metrics and status ---
agg_get a /metrics > "$H_TMP/metrics.txt"
promtool check metrics < "$H_TMP/metrics.txt" || h_fail "promtool rejects /metrics"
grep -q '^aggregatord_build_info{version="[^"]*"} 1$' "$H_TMP/metrics.txt" || h_fail "no build info"
h_ok "/metrics passes promtool check metrics"
"$AGGCTL" -s "$a_URL" status > "$H_TMP/status.txt"
grep -Eq '^node +node-a$' "$H_TMP/status.txt" || h_fail "aggregatorctl status: $(cat "$H_TMP/status.txt")"
grep -Eq '^role +auto' "$H_TMP/status.txt" || h_fail "status shows no role"
"$AGGCTL" -c "$conf" status --json | grep -q '"node":"node-a"' || h_fail "status --json"
h_ok "aggregatorctl status (table, --json, -c FILE)"

# aggregatorctl is a small client: it reads the core sections of the config
# alone (job sections, even unknown ones, are not read) and links no server
# library.
{ cat "$conf"; printf 'sweep = { master = { host = "x"; }; members = ( ); };\nfuture_job = { a = 1; };\n'; } > "$H_TMP/ctl-jobs.conf"
"$AGGCTL" -c "$H_TMP/ctl-jobs.conf" status --json | grep -q '"node":"node-a"' ||
    h_fail "aggregatorctl -c with job sections (read without the job table) failed"
libs=$(ldd "$AGGCTL")
if grep -Eq 'librdkafka|libmariadb|libhiredis|libevent|libpcre2' <<< "$libs"; then
    h_fail "aggregatorctl links a server library: $(grep -E 'rdkafka|mariadb|hiredis|event|pcre2' <<< "$libs" | tr '\n' ' ')"
fi
h_ok "aggregatorctl reads the core sections alone and links no server library (ldd)"

# --- hostile HTTP ---
code() { curl -s -o /dev/null -w '%{http_code}' --path-as-is --max-time 5 "$@"; }
[ "$(code "$a_URL/v1/../../etc/passwd")" = 400 ] || h_fail "dot-dot path not refused"
[ "$(code "$a_URL/v1/%2e%2e/x")" = 400 ] || h_fail "encoded dot-dot not refused"
[ "$(code "$a_URL/v1/a%00b")" = 400 ] || h_fail "NUL in path not refused"
[ "$(code "$a_URL/nope")" = 404 ] || h_fail "unknown path not 404"
agg_get a /nope | grep -q '"error"' || h_fail "404 without JSON error"
[ "$(code -X POST "$a_URL/metrics")" = 405 ] || h_fail "POST /metrics not 405"
[ "$(code -X POST -H 'Content-Type: application/json' -d '{"role":"boss"}' "$a_URL/v1/role")" = 400 ] || h_fail "bad role not 400"
[ "$(code -X POST --data-binary @<(head -c 200000 /dev/zero | tr '\0' x) "$a_URL/v1/role")" = 413 ] \
    || h_fail "oversize body not refused"
[ "$(code -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' x)" "$a_URL/healthz")" -ge 400 ] \
    || h_fail "oversize headers not refused"
printf 'GARBAGE\r\n\r\n' | timeout 5 nc -q 1 127.0.0.1 "$port" >/dev/null || true
agg_healthy a || h_fail "daemon died on hostile HTTP"
h_ok "hostile paths, methods, bodies and headers get 4xx; daemon lives"

# --- HTTP framing: HEAD, two Content-Length ---
printf 'HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
    | timeout 5 nc -q 5 127.0.0.1 "$port" > "$H_TMP/head.out" || true
grep -q '^HTTP/1.1 200' "$H_TMP/head.out" || h_fail "HEAD: $(cat -A "$H_TMP/head.out")"
grep -qi '^Content-Length: 12' "$H_TMP/head.out" || h_fail "HEAD without the GET's length: $(cat -A "$H_TMP/head.out")"
[ "$(sed '1,/^\r$/d' "$H_TMP/head.out" | wc -c)" = 0 ] || h_fail "HEAD sent a body: $(cat -A "$H_TMP/head.out")"
h_ok "HEAD answers with the GET's Content-Length and no body"
printf 'POST /v1/role HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\nContent-Length: 17\r\nContent-Length: 2\r\n\r\n{"role":"yield"}\n' "$port" \
    | timeout 5 nc -q 5 127.0.0.1 "$port" > "$H_TMP/cl.out" || true
head -n 1 "$H_TMP/cl.out" | grep -q '^HTTP/1.1 400' || h_fail "two Content-Length: $(head -n 1 "$H_TMP/cl.out")"
[ "$(agg_metric a 'aggregatord_role_overrides_total{command="yield"}')" = 0 ] || h_fail "two Content-Length: role applied"
h_ok "two Content-Length headers: 400, nothing applied"

# --- POST /v1/role: only JSON, no query string, a Host naming this server ---
[ "$(code -X POST -H 'Content-Type: text/plain' -d '{"role":"standby"}' "$a_URL/v1/role")" = 415 ] \
    || h_fail "text/plain role change not refused"
[ "$(code -X POST -H 'Content-Type: application/json' "$a_URL/v1/role?role=standby")" = 400 ] \
    || h_fail "query-string role change not refused"
[ "$(code -X POST -H 'Host: evil.example:'"$port" -H 'Content-Type: application/json' \
       -d '{"role":"standby"}' "$a_URL/v1/role")" = 403 ] || h_fail "foreign Host not refused"
[ "$(agg_metric a 'aggregatord_role_overrides_total{command="standby"}')" = 0 ] \
    || h_fail "a refused role change was applied"
agg_get a /v1/status | grep -q '"mode":"auto"' || h_fail "a refused role change changed the mode"
h_ok "POST /v1/role refuses text/plain (415), ?role= (400) and a foreign Host (403); mode unchanged"

# --- SIGHUP with a broken file: refused, old config kept ---
cp "$conf" "$H_TMP/good.conf"
printf 'log = { level = "debug"; };\nhttp = { max_body = "big"; };\n' > "$conf"
: > "$n_OUT"
h_signal a HUP
h_wait_until 10 agg_metric_is a 'aggregatord_config_reloads_total{result="failed"}' 1 \
    || h_fail "failed reload not counted"
agg_log_has a "config file '$conf' has errors, not reloading" || h_fail "no refusal message"
agg_log_has a "$conf:2: 'http.max_body' must be an integer" || h_fail "no FILE:LINE in the log"
[ "$(agg_metric a aggregatord_config_last_reload_successful)" = 0 ] || h_fail "last reload gauge"
agg_get a /v1/status | grep -q '"log_level":"info"' || h_fail "broken reload changed the level"
h_wait_until 5 grep -qx 'READY=1' "$n_OUT" || h_fail "no READY=1 after the refused reload"
grep -qx 'RELOADING=1' "$n_OUT" || h_fail "no RELOADING=1"
h_ok "SIGHUP with a broken file: refused with FILE:LINE, counted, old config kept"

# --- SIGHUP with a good file: applied ---
write_conf debug "s3cret"
chmod 0644 "$conf"	# a token others can read: warned about below
h_signal a HUP
auth=(-H 'Authorization: Bearer s3cret')
export AGG_TOKEN=s3cret
h_wait_until 10 agg_metric_is a 'aggregatord_config_reloads_total{result="ok"}' 1 \
    || h_fail "good reload not counted"
agg_get a /v1/status | grep -q '"log_level":"debug"' || h_fail "good reload not applied"
h_ok "SIGHUP with a good file applies it (log level debug)"
want_warn="$conf:3: 'http.token' is a secret in a file readable by others (mode 0644)"
grep -F "$want_warn" "$H_TMP/a.log" | grep -q '^<4>' || h_fail "the reload did not warn about the readable token"
out=$("$AGGD" -n -c "$conf" 2>&1)
grep -Fq "$want_warn" <<< "$out" && grep -qx 'configuration OK' <<< "$out" || h_fail "-n did not warn: $out"
chmod 0600 "$conf"
[ "$("$AGGD" -n -c "$conf" 2>&1)" = "configuration OK" ] || h_fail "-n on a 0600 file: $("$AGGD" -n -c "$conf" 2>&1)"
h_ok "a token in a file others can read: -n and the reload warn with FILE:LINE; 0600 is quiet"
[ "$(code "$a_URL/v1/status")" = 401 ] || h_fail "no token: not 401"
[ "$(code -H 'Authorization: Bearer wrong' "$a_URL/v1/status")" = 401 ] || h_fail "wrong token: not 401"
[ "$(code "${auth[@]}" "$a_URL/v1/status")" = 200 ] || h_fail "right token refused"
[ "$(code "$a_URL/healthz")" = 200 ] || h_fail "/healthz needs no token"
[ "$(code -H 'Authorization: bearer s3cret' "$a_URL/v1/status")" = 200 ] || h_fail "lowercase bearer refused"
"$AGGCTL" -c "$conf" status >/dev/null || h_fail "aggregatorctl does not take the token from -c"
h_ok "bearer token from the reloaded config: 401 without, 200 with; /healthz open"

# --- realtime signals ---
for i in 0 1 2 3; do
    h_signal a "RTMIN+$i"
done
for cmd in yield active standby auto; do
    h_wait_until 10 agg_metric_is a "aggregatord_role_overrides_total{command=\"$cmd\"}" 1 \
        || h_fail "SIGRTMIN for '$cmd' not recorded"
done
agg_healthy a || h_fail "daemon died on a realtime signal"
agg_log_has a "role command 'active' from signal" || h_fail "role command not logged"
"$AGGCTL" -c "$conf" role standby | grep -q 'forced-standby' || h_fail "aggregatorctl role"
h_ok "SIGRTMIN+0..3 are recorded, logged, survived; aggregatorctl role works"

# --- SIGTERM ---
: > "$n_OUT"
t0=$(date +%s%N)
h_stop a 5
t1=$(date +%s%N)
[ "$H_EXIT_STATUS" = 0 ] || h_fail "SIGTERM exit status $H_EXIT_STATUS"
ms=$(( (t1 - t0) / 1000000 ))
[ $ms -lt 2000 ] || h_fail "SIGTERM took $ms ms"
grep -qx 'STOPPING=1' "$n_OUT" || h_fail "no STOPPING=1"
h_ok "SIGTERM: STOPPING=1, exit 0 in $ms ms"
