#!/usr/bin/env bash
# test_http_abuse.sh — the HTTP API stays up under abuse: 2,000 slow
# clients against a daemon with a 256-descriptor limit (the connection cap,
# the request deadline, no accept() spin), and /v1/usage/ files served from
# the file (16 slow downloads of a 60 MiB file, a FIFO, a symlink, "+1", a
# directory, a file past 64 MiB, bad names) and hour listings built from
# the index (its unsafe lines left out).
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log a; h_cleanup' EXIT
HFLOOD=$H_TOP/tests/harness/hflood
[ -x "$HFLOOD" ] || h_fail "$HFLOOD is not built (make harness)"

port=$(h_free_port tcp)
dead=$(h_free_port tcp)
state=$H_TMP/state
cat > "$H_TMP/a.conf" <<CONF
node = { name = "a"; state_dir = "$state"; };
http = { listen = "127.0.0.1:$port"; token = ""; request_timeout = 2; };
rollup = { role = "master"; retry_s = 3600; catch_up_hours = 0;
  locations = ( { name = "x"; url = "http://127.0.0.1:$dead"; token = "t"; } ); };
CONF
# The daemon gets 256 descriptors (soft limit; hflood raises its own).
ulimit -Sn 256
agg_start a "$H_TMP/a.conf"
h_wait_until 10 agg_healthy a || h_fail "daemon did not answer /healthz"
pid=$(pgrep -f -n "aggregatord -c $H_TMP/a.conf")
nfd() { find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }
base=$(nfd)
[ "$(agg_metric a aggregatord_http_connections_max)" = 192 ] \
    || h_fail "cap in force: $(agg_metric a aggregatord_http_connections_max), want 256 - 64"
agg_log_has a 'http.max_connections 512 lowered to 192' || h_fail "lowered cap not logged"
h_ok "the connection cap is lowered to fit 256 descriptors, and says so"

# --- 2,000 slowloris connections for 8 s; /healthz probed every 50 ms ---
log0=$(wc -c < "$H_TMP/a.log")
out=$("$HFLOOD" 127.0.0.1 "$port" 2000 8 50 /healthz)
echo "  hflood: $out"
eval "$(echo "$out" | tr ' ' '\n' | grep -E '^(probes|ok|failed|max_ms|slow|reconnects)=')"
[ "$probes" -ge 100 ] || h_fail "only $probes probes ran"
[ "$failed" = 0 ] || h_fail "$failed of $probes /healthz probes failed under 2,000 slow clients"
# 100 ms each, but for 1 in 50 held up to 1 s by the scheduler of a loaded
# 2-core machine (a loop the flood starves holds them all, for seconds)
[ "$slow" -le $(( probes / 50 )) ] && [ "$max_ms" -lt 1000 ] \
    || h_fail "$slow of $probes /healthz probes took 100 ms or more (1 in 50 allowed), the slowest $max_ms ms (limit 1000)"
h_ok "2,000 slow clients: $probes fresh /healthz probes all answered, $slow of them in 100 ms or more, slowest $max_ms ms"
grew=$(( $(wc -c < "$H_TMP/a.log") - log0 ))
[ "$grew" -lt 4096 ] || h_fail "the log grew by $grew bytes"
evicted=$(agg_metric a aggregatord_http_connections_evicted_total)
[ "$evicted" -gt 0 ] || h_fail "no connection evicted at the cap"
h_ok "the log grew by $grew bytes; $evicted waiting connections closed at the cap"
h_wait_until 10 sh -c "[ \$(find /proc/$pid/fd -mindepth 1 -maxdepth 1 | wc -l) -le $base ]" \
    || h_fail "descriptors did not return to $base: $(nfd)"
h_ok "descriptors back to the baseline ($base)"

# --- the request deadline is absolute: a byte a second does not extend it ---
d0=$(agg_metric a aggregatord_http_request_deadline_total)
{ printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n'; for i in 1 2 3 4 5 6 7 8; do sleep 0.5; printf 'X-%d: y\r\n' "$i"; done; } \
    | timeout 10 nc -q 5 127.0.0.1 "$port" > "$H_TMP/slow.out" || true
[ ! -s "$H_TMP/slow.out" ] || h_fail "a trickled request got an answer: $(head -c 200 "$H_TMP/slow.out")"
[ "$(agg_metric a aggregatord_http_request_deadline_total)" -gt "$d0" ] \
    || h_fail "the deadline drop was not counted"
h_ok "a request trickled a header every 0.5 s is closed at the 2 s deadline, unanswered"

# --- /v1/usage/: streamed, only regular files, strict hours ---
dir=$state/usage/acme/2026/11/23
mkdir -p "$dir"
head -c $((60 << 20)) /dev/urandom > "$dir/10.bin"
sum=$(sha256sum < "$dir/10.bin")
url="$a_URL/v1/usage/2026/11/23/10/acme.bin"
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
rss0=$(rss)
dls=()
for i in $(seq 1 16); do
    curl -s --limit-rate 4M -o "$H_TMP/dl$i" "$url" &
    dls+=($!)
done
running() { for p in "${dls[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
peak=0
while running; do
    r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
    t=$(date +%s%N)
    agg_healthy a || h_fail "/healthz did not answer during 16 downloads"
    hm=$(( ($(date +%s%N) - t) / 1000000 ))
    [ "$hm" -lt 1000 ] || h_fail "/healthz took $hm ms during the downloads"
    sleep 0.2
done
for p in "${dls[@]}"; do wait "$p" || h_fail "a download failed"; done
for i in $(seq 1 16); do
    [ "$(sha256sum < "$H_TMP/dl$i")" = "$sum" ] || h_fail "download $i differs from the file"
done
grow=$(( (peak - rss0) / 1024 ))
[ "$grow" -lt 64 ] || h_fail "RSS grew by $grow MiB serving 16 x 60 MiB"
h_ok "16 slow downloads of a 60 MiB file: all intact, RSS +$grow MiB, /healthz answered"
head=$(curl -s -I "$url")
echo "$head" | grep -qi "^Content-Length: $((60 << 20))" || h_fail "HEAD of the file: $head"
mkfifo "$dir/11.bin"
code() { curl -s -o /dev/null -w '%{http_code}' --path-as-is --max-time 5 "$@"; }
[ "$(code "$a_URL/v1/usage/2026/11/23/11/acme.bin")" = 404 ] || h_fail "a FIFO was not refused"
ln -s /etc/passwd "$dir/12.bin"
[ "$(code "$a_URL/v1/usage/2026/11/23/12/acme.bin")" = 404 ] || h_fail "a symlink was followed"
mkdir -p "$state/usage/acme/2026/12/01" && echo x > "$state/usage/acme/2026/12/01/12.bin"
[ "$(code "$a_URL/v1/usage/2026/12/+1/12/acme.bin")" = 400 ] || h_fail "day '+1' was served"
[ "$(code "$a_URL/v1/usage/2026/12/01/12/acme.bin")" = 200 ] || h_fail "day 01 not served"
agg_healthy a || h_fail "daemon died"
h_ok "FIFO and symlink get 404 without blocking; '+1' is not day 01"
# a directory, a file past the 64 MiB limit (sparse), names that are not
# ACCOUNT.bin or not a safe account: refused; an hour's listing keeps only
# the index's safe names (blank and unsafe lines, no final newline), says
# whether the hour is done, and is 404 without an index
mkdir "$dir/13.bin"
truncate -s $(( (64 << 20) + 1 )) "$dir/14.bin"
for p in 13/acme.bin 14/acme.bin 10/nobody.bin; do
    [ "$(code "$a_URL/v1/usage/2026/11/23/$p")" = 404 ] || h_fail "$p was not 404"
done
for p in 10/.bin 10/acme 10/acme.txt 10/.acme.bin "10/$(printf 'a%.0s' $(seq 1 200)).bin"; do
    [ "$(code "$a_URL/v1/usage/2026/11/23/$p")" = 400 ] || h_fail "$p was not refused (400)"
done
mkdir -p "$state/usage/.index" "$state/usage/.done"
printf 'acme\n\n../etc\n.hidden\nbeta' > "$state/usage/.index/2026112310"
listing() { curl -s --max-time 5 "$a_URL/v1/usage/2026/11/23/10"; }
[ "$(listing)" = '{"hour":"2026-11-23T10","complete":false,"accounts":["acme","beta"]}' ] \
    || h_fail "listing: $(listing)"
: > "$state/usage/.done/2026112310"
[ "$(listing)" = '{"hour":"2026-11-23T10","complete":true,"accounts":["acme","beta"]}' ] \
    || h_fail "listing of a done hour: $(listing)"
[ "$(code "$a_URL/v1/usage/2026/11/23/09")" = 404 ] || h_fail "an hour without an index was not 404"
h_ok "a directory and a file past 64 MiB get 404, names not ACCOUNT.bin 400; a listing keeps the index's safe names only"

# --- at the cap with every connection busy: 503 ---
sed -i 's/request_timeout = 2;/request_timeout = 2; max_connections = 16;/' "$H_TMP/a.conf"
h_signal a HUP
h_wait_until 10 agg_metric_is a aggregatord_http_connections_max 16 || h_fail "cap 16 not applied"
# One download at a time, each started only once the one before is being
# answered (bytes arrived): a connection that comes while another still
# waits for its request to be read makes room by closing that one, as the
# cap is meant to, and the test would count 15 busy ones.
dls=()
for i in $(seq 1 16); do
    curl -s --limit-rate 100k -o "$H_TMP/busy$i" "$url" &
    dls+=($!)
    h_wait_until 20 test -s "$H_TMP/busy$i" || h_fail "download $i did not start"
done
is503() { [ "$(code "$a_URL/healthz")" = 503 ]; }
h_wait_until 10 is503 || st=$(code "$a_URL/healthz")
for p in "${dls[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
[ -z "${st:-}" ] || h_fail "a new connection with 16 busy ones got $st, not 503"
h_wait_until 10 agg_healthy a || h_fail "/healthz after the downloads ended"
[ "$(agg_metric a aggregatord_http_connections_refused_total)" -ge 1 ] || h_fail "refusal not counted"
h_ok "with 16 connections busy answering, a 17th gets 503 and is counted"
