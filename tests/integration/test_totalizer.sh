#!/usr/bin/env bash
# test_totalizer.sh — the totalizer end to end: synthetic Apache lines over
# UDP loopback in 1-line and 10-line datagrams into a real Redis, compared
# key by key with counts computed independently (awk) from the same input;
# TTLs; Redis killed and restarted mid-stream; a rule added by SIGHUP while
# traffic flows; hostile datagrams; --test-rules; SIGTERM flushes.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { agg_dump_log t; tail -5 "$H_TMP/r1.log" >&2 || true; }; h_cleanup' EXIT
BLAST=$H_BIN/udp_blast

# Redis with an fsync'd append-only file, so a kill -9 loses nothing it acknowledged.
rport=$(h_free_port tcp)
mkdir -p "$H_TMP/rdata"
start_redis() {
    h_spawn "$1" "$H_TMP/$1.log" redis-server --port "$rport" --bind 127.0.0.1 --save '' \
        --appendonly yes --appendfsync always --dir "$H_TMP/rdata" --daemonize no
    h_wait_until 20 sh -c "redis-cli -p $rport ping 2>/dev/null | grep -q PONG"
}
R() { redis-cli -p "$rport" "$@"; }
start_redis r1

uport=$(h_free_port udp)
hport=$(h_free_port tcp)
conf=$H_TMP/t.conf
rules() {
cat <<CONF
    { prefix = "web_client"; listen = "127.0.0.1:$uport";
      match = "^([^ ]+).*?\\"(?:GET|POST) .*? HTTP/[^\\"]*\\" (\\\\d\\\\d\\\\d)";
      matched = "\$1,\$2"; source = "web1"; ttl = 86400; buckets = 4; },
    { prefix = "web_page"; listen = "127.0.0.1:$uport";
      match = "\\"(?:GET|POST) ([^ ?\\"]*)[^\\"]*\\" \\\\d\\\\d\\\\d";
      matched = "\$1"; last_segment = true; lower = true; max_len = 32; source = "web1"; }$1
CONF
}
write_conf() {	# FLUSH_MS [extra rule text]
    cat > "$conf" <<CONF
node = { name = "tz-a"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$hport"; };
redis = { port = $rport; timeout_ms = 300; };
totalizer = {
  flush_ms = $1; threads = 2; allow = [ "127.0.0.1/32", "::1/128" ];
  rules = (
$(rules "${2:-}")
  );
};
CONF
}
write_conf 200
"$AGGD" -n -c "$conf" >/dev/null || h_fail "config rejected: $("$AGGD" -n -c "$conf" 2>&1)"

# --- --test-rules ---
printf '%s\n' '10.9.8.7 - - [x] "GET /A/B/Index.HTML?q=1 HTTP/1.1" 304 1 "-" "ua"' 'nothing here' \
    | "$AGGD" -c "$conf" --test-rules > "$H_TMP/tr.txt"
grep -Pq '^1\tweb_client\tweb_client;10\.9\.8\.7,304;web1;\d+$' "$H_TMP/tr.txt" || h_fail "test-rules: $(cat "$H_TMP/tr.txt")"
grep -Pq '^1\tweb_page\tweb_page;index\.html;web1;\d+$' "$H_TMP/tr.txt" || h_fail "test-rules page"
grep -Pq '^2\tno match$' "$H_TMP/tr.txt" || h_fail "test-rules no match"
h_ok "--test-rules prints the keys each line would bump"

# --- keypattern room: -n refuses a long literal; one at the limit cuts matched safely ---
lit() { printf "%${1}s" '' | tr ' ' L; }
A600=$(printf '%600s' '' | tr ' ' A)
kconf() {	# LITERAL_LENGTH -> a config with one rule whose keypattern holds that literal
    cat <<CONF
totalizer = {
  rules = (
    { prefix = "long"; listen = "127.0.0.1:$uport"; match = "v=(.*)"; matched = "\$1";
      source = "\$peer";
      keypattern = "<prefix>;<matched>;<source>;$(lit "$1");<start_ts>"; }
  );
};
CONF
}
kconf 235 > "$H_TMP/long.conf"
if "$AGGD" -n -c "$H_TMP/long.conf" > "$H_TMP/long.out" 2>&1; then h_fail "-n accepted a keypattern with no room: $(cat "$H_TMP/long.out")"; fi
# 249 - (4 prefix + 235 text + 4 ';') - 64 ($peer) - 20 (start_ts) = -78
grep -Fq "$H_TMP/long.conf:3: totalizer.rules[0]: 'keypattern' leaves -78 bytes for <matched>, at least 32 needed" "$H_TMP/long.out" \
    || h_fail "-n message: $(cat "$H_TMP/long.out")"
kconf 126 > "$H_TMP/long.conf"
"$AGGD" -n -c "$H_TMP/long.conf" > "$H_TMP/long.out" 2>&1 && h_fail "-n accepted 31 bytes of room"
grep -Fq "'keypattern' leaves 31 bytes" "$H_TMP/long.out" || h_fail "-n message at 31: $(cat "$H_TMP/long.out")"
kconf 125 > "$H_TMP/long.conf"
"$AGGD" -n -c "$H_TMP/long.conf" > /dev/null || h_fail "a keypattern at the limit refused: $("$AGGD" -n -c "$H_TMP/long.conf" 2>&1)"
# --test-rules' peer is 127.0.0.1 and today's start_ts has 10 digits: matched gets
# 249 - (4 + 125 + 4) - 9 - 10 = 97 bytes and the key is 249 bytes long.
printf 'v=%s\n' "$A600" | "$AGGD" -c "$H_TMP/long.conf" --test-rules > "$H_TMP/tr2.txt"
want_key_re="^long;${A600:0:97};127\.0\.0\.1;$(lit 125);[0-9]{10}\$"
k=$(cut -f3 "$H_TMP/tr2.txt")
[ "${#k}" = 249 ] && grep -Eq "$want_key_re" <<< "$k" || h_fail "key at the limit: $(cat "$H_TMP/tr2.txt")"
h_ok "-n refuses a keypattern leaving under 32 bytes with FILE:LINE and the numbers; one at the limit keys a 600-byte field in 249 bytes"

agg_start t "$conf"
h_wait_until 10 agg_healthy t || h_fail "daemon did not start"

# Expected totals, computed with awk from the lines themselves.
expect() {	# FILE -> "key-without-ts count" lines, sorted
    awk -F'"' '
    {
        n = split($2, rq, " ")
        if ((rq[1] != "GET" && rq[1] != "POST") || rq[3] !~ /^HTTP\//) next
        split($1, a, " "); split($3, b, " ")
        client["web_client;" a[1] "," b[1] ";web1"]++
        p = rq[2]; sub(/\?.*/, "", p); sub(/\/$/, "", p); sub(/.*\//, "", p)
        p = tolower(substr(p, 1, 32))
        client["web_page;" p ";web1"]++
    }
    END { for (k in client) print k, client[k] }' "$1" | sort
}
actual() {	# -> "key-without-ts count" lines from Redis, summed over buckets
    R --scan --pattern 'web_*' | sort > "$H_TMP/keys.txt"
    [ -s "$H_TMP/keys.txt" ] || return 0
    paste -d' ' "$H_TMP/keys.txt" <(xargs -a "$H_TMP/keys.txt" -d '\n' redis-cli -p "$rport" MGET) |
        awk '{ k = $1; sub(/;[0-9]+$/, "", k); s[k] += $2 } END { for (k in s) print k, s[k] }' | sort
}
counted_is() { agg_metric_is t aggregatord_totalizer_counted_total "$1"; }

# --- 1-line and 10-line datagrams: exact ---
"$BLAST" --print -n 50000 > "$H_TMP/in50k.txt"
cat "$H_TMP/in50k.txt" "$H_TMP/in50k.txt" > "$H_TMP/in.txt"
"$BLAST" -n 50000 -k 1 --rate 40000 127.0.0.1 "$uport" > /dev/null
"$BLAST" -n 50000 -k 10 --rate 200000 127.0.0.1 "$uport" > /dev/null
expect "$H_TMP/in.txt" > "$H_TMP/want.txt"
want_total=$(awk '{ s += $2 } END { print s }' "$H_TMP/want.txt")
h_wait_until 20 counted_is "$want_total" || h_fail "counted $(agg_metric t aggregatord_totalizer_counted_total), want $want_total; drops: $(agg_get t /metrics | grep dropped_total | tr '\n' ' ')"
actual > "$H_TMP/got.txt"
diff "$H_TMP/want.txt" "$H_TMP/got.txt" > "$H_TMP/diff.txt" || h_fail "Redis differs from the input: $(head -5 "$H_TMP/diff.txt")"
[ "$(agg_metric t aggregatord_totalizer_lines_total)" = 100000 ] || h_fail "lines_total"
h_ok "100k lines (1-line and 10-line datagrams): $(wc -l < "$H_TMP/want.txt") keys in Redis equal the input's counts"

# keys match the pattern, TTLs set
bad=$(grep -Evc '^web_(client|page);[^;]*;web1;[0-9]+$' "$H_TMP/keys.txt" || true)
[ "$bad" = 0 ] || h_fail "$bad keys do not match <prefix>;<matched>;<source>;<start_ts>"
awk -F';' '$4 % 21600 != 0 { bad = 1 } END { exit bad }' "$H_TMP/keys.txt" || h_fail "start_ts not aligned to 21600 s"
k=$(head -1 "$H_TMP/keys.txt")
ttl=$(R TTL "$k")
[ "$ttl" -gt 86000 ] && [ "$ttl" -le 86400 ] || h_fail "TTL of $k is $ttl"
h_ok "keys match the pattern, start_ts aligned, TTL set"
agg_get t /metrics > "$H_TMP/metrics.txt"
promtool check metrics < "$H_TMP/metrics.txt" || h_fail "promtool rejects /metrics with the totalizer"
"$AGGCTL" -s "$t_URL" status | grep -Eq '^ +lines +100000$' || h_fail "status lacks the totalizer"
h_ok "/metrics with totalizer series passes promtool; aggregatorctl status shows the job"

# --- Redis killed (kill -9) and restarted mid-stream: still exact ---
R FLUSHALL > /dev/null
base=$(agg_metric t aggregatord_totalizer_counted_total)
"$BLAST" -n 60000 -k 5 --rate 20000 127.0.0.1 "$uport" > "$H_TMP/blast.out" &
blast=$!
h_wait_until 10 sh -c "[ \$(redis-cli -p $rport DBSIZE) -gt 0 ]" || h_fail "no writes before the kill"
h_kill r1
h_wait_until 10 agg_metric_is t aggregatord_totalizer_redis_up 0 || h_fail "outage not noticed"
start_redis r2
wait "$blast"
"$BLAST" --print -n 60000 > "$H_TMP/in2.txt"
expect "$H_TMP/in2.txt" > "$H_TMP/want2.txt"
want2=$(awk '{ s += $2 } END { print s }' "$H_TMP/want2.txt")
h_wait_until 20 counted_is $((base + want2)) || h_fail "after the outage: counted $(agg_metric t aggregatord_totalizer_counted_total), want $((base + want2))"
actual > "$H_TMP/got2.txt"
diff "$H_TMP/want2.txt" "$H_TMP/got2.txt" > "$H_TMP/diff.txt" || h_fail "after the outage Redis differs: $(head -5 "$H_TMP/diff.txt")"
[ "$(agg_metric t aggregatord_totalizer_redis_errors_total)" -gt 0 ] || h_fail "no redis error counted"
agg_log_has t "holding [0-9]+ key" || h_fail "outage not logged"
h_ok "Redis killed and restarted mid-stream: every count arrives exactly once"

# --- a rule added by SIGHUP while traffic flows: nothing lost ---
R FLUSHALL > /dev/null
base=$(agg_metric t aggregatord_totalizer_counted_total)
"$BLAST" -n 60000 -k 5 --rate 20000 127.0.0.1 "$uport" > /dev/null &
blast=$!
h_wait_until 10 sh -c "[ \$(redis-cli -p $rport DBSIZE) -gt 0 ]"
write_conf 200 ',
    { prefix = "web_status"; listen = "127.0.0.1:'"$uport"'"; match = "\" (\\d\\d\\d) "; matched = "$1"; source = "web1"; }'
"$AGGD" -n -c "$conf" > /dev/null || h_fail "new rule rejected: $("$AGGD" -n -c "$conf" 2>&1)"
h_signal t HUP
h_wait_until 10 agg_metric_is t 'aggregatord_config_reloads_total{result="ok"}' 1 || h_fail "reload not applied"
wait "$blast"
old_sum() {
    redis-cli -p "$rport" --scan --pattern 'web_[cp]*' | xargs -r redis-cli -p "$rport" MGET | awk '{ s += $1 } END { print s + 0 }'
}
want2_total=$(awk '{ s += $2 } END { print s }' "$H_TMP/want2.txt")
h_wait_until 20 sh -c "[ \"\$(redis-cli -p $rport --scan --pattern 'web_[cp]*' | xargs -r redis-cli -p $rport MGET | awk '{ s += \$1 } END { print s + 0 }')\" = $want2_total ]" \
    || h_fail "after the reload the old rules hold $(old_sum), want $want2_total"
actual | grep -v '^web_status;' > "$H_TMP/got3.txt" || true
diff "$H_TMP/want2.txt" "$H_TMP/got3.txt" > "$H_TMP/diff.txt" || h_fail "reload lost counts: $(head -5 "$H_TMP/diff.txt")"
new=$(R --scan --pattern 'web_status;*' | xargs -r redis-cli -p "$rport" MGET | awk '{ s += $1 } END { print s + 0 }')
[ "$new" -gt 0 ] && [ "$new" -le 60000 ] || h_fail "the new rule counted $new"
m=$(agg_get t /metrics)
grep -q '^aggregatord_totalizer_matched_total{rule="web_status"} [1-9]' <<< "$m" || h_fail "no metrics for the new rule"
h_ok "SIGHUP adding a rule mid-stream: old rules exact, the new rule counted $new"

# --- aggregatorctl total / GET /v1/totals against known bucket contents ---
R FLUSHALL > /dev/null
now=$(date +%s); b0=$(( now / 21600 * 21600 ))
R INCRBY "web_client;10.0.0.224,200;web1;$b0" 7 > /dev/null
R INCRBY "web_client;10.0.0.224,200;web2;$((b0 - 21600))" 10 > /dev/null
R INCRBY "web_client;10.0.0.224,304;web1;$b0" 2 > /dev/null
R INCRBY "web_client;10.0.0.9,200;web1;$((b0 - 4 * 86400))" 99 > /dev/null	# outside the window
R INCRBY "web_client;bad key" 5 > /dev/null
"$AGGCTL" -s "$t_URL" total web_client '*' --window 172800 > "$H_TMP/total.txt" 2> "$H_TMP/total.err"
grep -Eq '^10\.0\.0\.224,200 +17$' "$H_TMP/total.txt" || h_fail "total: $(cat "$H_TMP/total.txt")"
# The window is longer than the rule's ttl (86400): the reply warns of expired buckets.
ttl_warn="window 172800 s is longer than the ttl of 'web_client' (86400 s): buckets older than 86400 s have expired"
grep -qF "aggregatorctl: warning: $ttl_warn" "$H_TMP/total.err" || h_fail "no ttl warning: $(cat "$H_TMP/total.err")"
grep -Eq '^10\.0\.0\.224,304 +2$' "$H_TMP/total.txt" || h_fail "total row 2"
grep -Eq '^total +19$' "$H_TMP/total.txt" || h_fail "total line"
"$AGGCTL" -s "$t_URL" total web_client '*' '*' --window 172800 | grep -Eq '^10\.0\.0\.224,200 +web2 +10$' \
    || h_fail "grouping by source"
"$AGGCTL" -s "$t_URL" total web_client 10.0.0.224,304 --window 172800 --json > "$H_TMP/total.json"
grep -q '"total":2}' "$H_TMP/total.json" || h_fail "a literal field"
grep -qF "\"warnings\":[\"$ttl_warn" "$H_TMP/total.json" || h_fail "no ttl warning in --json: $(cat "$H_TMP/total.json")"
"$AGGCTL" -s "$t_URL" total web_client --window 86400 > "$H_TMP/total.txt" 2> "$H_TMP/total.err"
grep -q 'warning' "$H_TMP/total.err" && h_fail "a window of the ttl warned: $(cat "$H_TMP/total.err")"
agg_get t '/v1/totals?prefix=web_client&window=7200&ttl=3600' | grep -qF '"warnings":["window 7200 s is longer than the ttl of '"'web_client'"' (3600 s)' \
    || h_fail "ttl= does not set the ttl"
[ "$(agg_get t '/v1/totals?prefix=web_client&window=x' -o /dev/null -w '%{http_code}')" = 400 ] || h_fail "bad window not 400"
[ "$(agg_get t '/v1/totals?prefix=nope' -o /dev/null -w '%{http_code}')" = 400 ] || h_fail "unknown prefix not 400"
# Each refused query: 400 and the reason, before any Redis command.
bad_query() {	# QUERY MESSAGE
    local code
    code=$(agg_get t "/v1/totals?$1" -o "$H_TMP/bad.json" -w '%{http_code}')
    [ "$code" = 400 ] && grep -qF -- "$2" "$H_TMP/bad.json" \
        || h_fail "/v1/totals?$1: $code $(cat "$H_TMP/bad.json"); want 400 and: $2"
}
many=$(for i in $(seq 17); do printf '&field=f%d' "$i"; done)
bad_query '' "'prefix' is required"
bad_query 'prefix=' "'prefix' is required"
bad_query 'prefix=web_client&window=' "'window' must be a number of seconds"
bad_query 'prefix=web_client&window=0' "'window' must be a number of seconds"
bad_query 'prefix=web_client&width=0' "'width' must be a number of seconds"
bad_query 'prefix=web_client&width=99999999999' "'width' must be a number of seconds"
bad_query 'prefix=web_client&ttl=-5' "'ttl' must be a number of seconds"
bad_query "prefix=web_client$many" "too many 'field' parameters"
bad_query 'prefix=web_client&field=a%3Bb' "field 1 'a;b' contains ';'"
bad_query 'prefix=no%3Bpe&width=900' "prefix 'no;pe' contains ';'"
# A prefix no rule has, with its width given: answered from Redis.
R INCRBY "other;x;s;$b0" 5 > /dev/null
agg_get t "/v1/totals?prefix=other&width=21600&window=43200" | grep -qE '"total":5[,}]' \
    || h_fail "a prefix with width=: $(agg_get t "/v1/totals?prefix=other&width=21600&window=43200")"
h_ok "aggregatorctl total and /v1/totals: grouping, literals, window, a window past the ttl warned, each refused query's reason, a prefix of no rule with its width"

# Keys written by anything else with Redis access reach the operator's terminal:
# aggregatorctl shows their non-printable bytes as \xNN.
R INCRBY "web_client;$(printf '\033[2J\033[31mred\233\007');web1;$b0" 3 > /dev/null
"$AGGCTL" -s "$t_URL" total web_client '*' --window 172800 > "$H_TMP/total2.txt" 2>&1 || h_fail "total with escapes: $(cat -v "$H_TMP/total2.txt")"
grep -Eq '^\\x1b\[2J\\x1b\[31mred\\x9b\\x07 +3$' "$H_TMP/total2.txt" || h_fail "escaped row: $(cat -v "$H_TMP/total2.txt")"
grep -Eq '^total +22$' "$H_TMP/total2.txt" || h_fail "total with the escaped row: $(cat -v "$H_TMP/total2.txt")"
LC_ALL=C grep -q "[[:cntrl:]]" <(tr -d '\n' < "$H_TMP/total2.txt") && h_fail "raw control bytes in the table: $(cat -v "$H_TMP/total2.txt")"
LC_ALL=C grep -qP '[\x80-\xff]' "$H_TMP/total2.txt" && h_fail "raw high bytes in the table: $(cat -v "$H_TMP/total2.txt")"
h_ok "aggregatorctl total shows control and high bytes of keys as \\xNN"

# --- hostile datagrams: counted, nothing crashes, counting stays exact ---
send_raw() {	# SRC_ADDR PAYLOAD_PERL_EXPR
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ARGV[0]", LocalAddr => $ARGV[1],
                                      Proto => "udp") or die "socket: $!";
        my $p = eval $ARGV[2]; defined($s->send($p)) or die "send: $!";' "$uport" "$1" "$2"
}
R FLUSHALL > /dev/null
d0=$(agg_metric t aggregatord_totalizer_datagrams_total)
send_raw 127.0.0.1 '""'                                      # empty
send_raw 127.0.0.1 'join "", map { chr(int(rand(256))) } 1..4000'   # binary
send_raw 127.0.0.1 '"x" x 65000'                             # 64 KiB, one oversize line
send_raw 127.0.0.1 '("\n" x 100) . ("\r\n" x 100)'           # only empty lines
send_raw 127.0.0.1 '"a;b\x00c\xff \"GET /x;y HTTP/1.1\" 200 1\n"'  # NUL, ';' in a field
send_raw 127.0.0.2 '"10.1.1.1 - - [x] \"GET /denied HTTP/1.1\" 200 1"'  # outside allow
h_wait_until 10 agg_metric_is t aggregatord_totalizer_datagrams_total $((d0 + 6)) || h_fail "hostile datagrams not all seen"
[ "$(agg_metric t 'aggregatord_totalizer_dropped_total{cause="allow"}')" = 1 ] || h_fail "allow-list drop not counted"
[ "$(agg_metric t 'aggregatord_totalizer_dropped_total{cause="oversize"}')" = 1 ] || h_fail "oversize line not counted"
agg_healthy t || h_fail "daemon died"
# Every datagram above is received and decided (datagrams_total, the drop
# counts).  A flush begun after that would carry a count of any of them:
# two markers from an allowed address, the second sent once the first is in
# Redis, so the flush that brings the second began after all of the above.
marker() {	# NAME: send a line for page NAME, wait for its key
    send_raw 127.0.0.1 "\"10.1.1.1 - - [x] \\\"GET /$1 HTTP/1.1\\\" 200 1\""
    h_wait_until 10 sh -c "redis-cli -p $rport --scan --pattern 'web_page;$1;*' | grep -q ." \
        || h_fail "marker $1 not counted: $(R --scan --pattern 'web_page;*' | tr '\n' ' ')"
}
marker mark1
marker mark2
R --scan --pattern 'web_page;denied;*' | grep -q . && h_fail "a datagram from outside the allow list was counted"
R --scan --pattern 'web_page;x\\x3by;*' | grep -q . || h_fail "';' in a field was not escaped: $(R --scan --pattern 'web_page;x*')"
# counting stays exact (after the reload that added web_status): of the
# datagrams above only the NUL/';' line and the two markers are requests;
# each bumps web_client, web_page and web_status once: 3 per prefix, and
# web_page's keys are x;y, mark1 and mark2, once each.
sums() {	# -> "prefix sum" lines, every counter key in Redis (not the batch ids)
    R --scan | grep -v '^aggregatord:batch:' | sort > "$H_TMP/hk.txt"
    paste -d' ' <(cut -d';' -f1 "$H_TMP/hk.txt") <(xargs -a "$H_TMP/hk.txt" -d '\n' redis-cli -p "$rport" MGET) |
        awk '{ s[$1] += $2 } END { for (p in s) print p, s[p] }' | sort
}
[ "$(sums | tr '\n' ' ')" = "web_client 3 web_page 3 web_status 3 " ] || h_fail "hostile datagrams: Redis holds $(sums | tr '\n' ' ')"
[ "$(R --scan --pattern 'web_page;*' | xargs -d '\n' -n 1 redis-cli -p "$rport" GET | sort -u)" = 1 ] \
    || h_fail "a web_page key counted more than once: $(R --scan --pattern 'web_page;*' | tr '\n' ' ')"
h_ok "empty, binary, 64 KiB, NUL/';' and foreign datagrams: counted or dropped, never a crash; after the flush that would count them Redis holds exactly the 3 requests"

# --- a keypattern at the limit, over UDP: a 600-byte field is cut, the key stays whole ---
write_conf 200 ',
    { prefix = "long"; listen = "127.0.0.1:'"$uport"'"; match = "v=(.*)"; matched = "$1";
      source = "$peer"; keypattern = "<prefix>;<matched>;<source>;'"$(lit 125)"';<start_ts>"; }'
"$AGGD" -n -c "$conf" > /dev/null || h_fail "rule at the limit rejected: $("$AGGD" -n -c "$conf" 2>&1)"
r0=$(agg_metric t 'aggregatord_config_reloads_total{result="ok"}')
h_signal t HUP
h_wait_until 10 agg_metric_is t 'aggregatord_config_reloads_total{result="ok"}' $((r0 + 1)) || h_fail "reload with the rule at the limit"
send_raw 127.0.0.1 "\"v=\" . (\"A\" x 600)"
h_wait_until 10 sh -c "redis-cli -p $rport --scan --pattern 'long;*' | grep -q ." || h_fail "no key for the long line"
k=$(R --scan --pattern 'long;*')
[ "$(wc -l <<< "$k")" = 1 ] && [ "${#k}" = 249 ] && grep -Eq "$want_key_re" <<< "$k" || h_fail "key at the limit in Redis: $k"
[ "$(R GET "$k")" = 1 ] || h_fail "the long line counted $(R GET "$k") times"
agg_healthy t || h_fail "daemon died"
h_ok "a keypattern at the limit over UDP: one 249-byte key, matched cut at 97 bytes, counted once"

# --- SIGTERM flushes what it holds ---
write_conf 60000
h_signal t HUP
h_wait_until 10 agg_metric_is t 'aggregatord_config_reloads_total{result="ok"}' 3 || h_fail "reload to flush_ms=60000"
# flushes come on multiples of 60 s of the clock: start well clear of one
h_wait_until 60 sh -c 's=$(date +%S | sed "s/^0//"); [ "$s" -ge 5 ] && [ "$s" -lt 40 ]'
R FLUSHALL > /dev/null
l0=$(agg_metric t aggregatord_totalizer_lines_total)
"$BLAST" -n 1000 -k 10 127.0.0.1 "$uport" > /dev/null
h_wait_until 10 agg_metric_is t aggregatord_totalizer_lines_total $((l0 + 1000)) || h_fail "lines not received"
[ "$(R DBSIZE)" = 0 ] || h_fail "flushed before the stop"
h_stop t 10
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
"$BLAST" --print -n 1000 > "$H_TMP/in4.txt"
expect "$H_TMP/in4.txt" > "$H_TMP/want4.txt"
actual > "$H_TMP/got4.txt"
diff "$H_TMP/want4.txt" "$H_TMP/got4.txt" > /dev/null || h_fail "SIGTERM did not flush exactly"
h_ok "SIGTERM flushes held counts before exit"
