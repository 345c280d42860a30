#!/usr/bin/env bash
# test_hang_http.sh — the HTTP client (src/core/httpc.c, used by
# aggregatorctl and the rollup master's location fetches) has one deadline
# for the whole exchange, not one per recv.  `aggregatorctl -T 1000` gives
# up after about 1 s, with a timeout message and a non-zero exit, against:
# a real daemon behind the fault proxy frozen or trickling (one byte every
# 300 ms each way), and a server that reads the request at once and sends
# its answer one byte every 300 ms (nc fed by a loop; the proxy's trickle
# slows the request too, so this is the case a per-recv timeout misses).
# Bound: 2.5 s for a 1 s deadline (the issue asks ~1.5 s; the margin is for
# a loaded 2-core machine).  Before the fix the trickling answer was read
# whole, 0.3 s a byte: about 20 s.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log a; h_cleanup' EXIT

port=$(h_free_port tcp)
cat > "$H_TMP/a.conf" <<CONF
node = { name = "node-a"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$port"; };
CONF
agg_start a "$H_TMP/a.conf"
h_wait_until 10 agg_healthy a || h_fail "daemon did not answer /healthz"
h_start_faultproxy px "$port"
url=http://127.0.0.1:$px_PORT

"$AGGCTL" -s "$url" -T 1000 status | grep -Eq '^node +node-a$' \
    || h_fail "aggregatorctl status through the passing proxy"
h_ok "aggregatorctl answers through the proxy in pass mode"

# ctl_bounded MODE: aggregatorctl -T 1000 status returns non-zero within
# 2.5 s, saying it timed out.
ctl_bounded() {
    local t0 rc=0 el
    t0=$(h__now_us)
    timeout 30 "$AGGCTL" -s "$url" -T 1000 status > "$H_TMP/out" 2> "$H_TMP/err" || rc=$?
    el=$(h__elapsed "$t0")
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || h_fail "$1: aggregatorctl exited $rc after $el s: $(cat "$H_TMP/err")"
    grep -q 'timed out after 1000 ms' "$H_TMP/err" || h_fail "$1: no timeout message: $(cat "$H_TMP/err")"
    [ $(( $(h__now_us) - t0 )) -le 2500000 ] || h_fail "$1: aggregatorctl -T 1000 took $el s"
    h_ok "$1: aggregatorctl -T 1000 gives up after $el s (exit $rc): $(cat "$H_TMP/err")"
}

h_fault px trickle 300 > /dev/null
ctl_bounded "trickle 300"
h_fault px freeze > /dev/null
ctl_bounded "freeze"
h_fault px pass > /dev/null
"$AGGCTL" -s "$url" -T 1000 status | grep -Eq '^node +node-a$' \
    || h_fail "aggregatorctl status after pass"
h_ok "after pass the same client answers again"

# A server that answers at once, one byte every 300 ms (about 20 s in all).
cat > "$H_TMP/slow.sh" <<'EOS'
resp=$'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"node":"slow","role":"auto"}'
coproc NC { exec nc -l 127.0.0.1 "$1"; }
while IFS= read -r line <&"${NC[0]}"; do [ "$line" = $'\r' ] && break; done
for ((i = 0; i < ${#resp}; i++)); do
    printf '%s' "${resp:i:1}" >&"${NC[1]}" 2>/dev/null || exit 0
    sleep 0.3
done
EOS
sport=$(h_free_port tcp)
h_spawn slow "$H_TMP/slow.log" bash "$H_TMP/slow.sh" "$sport"
h_wait_until 10 eval "ss -Hltn 'sport = :$sport' | grep -q ." || h_fail "the slow server does not listen"
url=http://127.0.0.1:$sport
ctl_bounded "an answer trickling at one byte per 300 ms"
