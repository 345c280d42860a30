#!/usr/bin/env bash
# test_totalizer_test_rules.sh — `aggregatord --test-rules` from the command
# line: CRLF and LF lines, a last line without a newline, an empty line, a
# line two rules match, a $peer rule (the peer is 127.0.0.1 there), a line
# that exhausts the regex match limit (reported, the next line still
# keyed), and the bucket start, each checked against keys written by hand
# and the clock read around the run.  No server: the command opens no socket.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'h_cleanup' EXIT

uport=$(h_free_port udp)
conf=$H_TMP/tr.conf
cat > "$conf" <<CONF
node = { name = "tr-a"; state_dir = "$H_TMP/state"; };
totalizer = {
  rules = (
    { prefix = "idr"; listen = "127.0.0.1:$uport"; match = "^id=([a-z0-9]+)";
      matched = "\$1"; source = "web1"; ttl = 86400; buckets = 1; },
    { name = "by_peer"; prefix = "peer"; listen = "127.0.0.1:$uport"; match = "^id=([a-z0-9]+)";
      matched = "p\$1"; ttl = 86400; buckets = 1; },
    { prefix = "slow"; listen = "127.0.0.1:$uport"; match = "^(\\\\w+\\\\s?)*!\$";
      matched = "\$1"; source = "web1"; ttl = 86400; buckets = 1; }
  );
};
CONF
"$AGGD" -n -c "$conf" >/dev/null || h_fail "config rejected: $("$AGGD" -n -c "$conf" 2>&1)"

# The input, byte for byte: line 1 ends in CRLF, line 3 is empty, line 5 is
# 60 word bytes and "!x" (the nested quantifier backtracks past the match
# limit), line 6 has no newline.
a60=$(printf 'a%.0s' $(seq 60))
t0=$(date +%s)
printf 'id=abc\r\nID=NOPE\n\nab cd!\n%s!x\nid=xyz' "$a60" \
    | "$AGGD" -c "$conf" --test-rules > "$H_TMP/out.txt" 2> "$H_TMP/err.txt" \
    || h_fail "--test-rules exited $?: $(cat "$H_TMP/err.txt")"
t1=$(date +%s)

# The bucket start the run saw: one of the two days around it (86400 s buckets).
ts=$(awk -F'\t' 'NR == 1 { n = split($3, f, ";"); print f[n] }' "$H_TMP/out.txt")
[ "$ts" = $((t0 / 86400 * 86400)) ] || [ "$ts" = $((t1 / 86400 * 86400)) ] \
    || h_fail "bucket start $ts is not the day of $t0..$t1"
want=$(printf '%s\n' \
    "1	idr	idr;abc;web1;$ts" \
    "1	by_peer	peer;pabc;127.0.0.1;$ts" \
    "2	no match" \
    "3	no match" \
    "4	slow	slow;cd;web1;$ts" \
    "5	slow	match error (resource limit)" \
    "5	no match" \
    "6	idr	idr;xyz;web1;$ts" \
    "6	by_peer	peer;pxyz;127.0.0.1;$ts")
[ "$(cat "$H_TMP/out.txt")" = "$want" ] \
    || h_fail "--test-rules printed:
$(cat -A "$H_TMP/out.txt")
wanted:
$want"
h_ok "--test-rules: CR and LF stripped, a last line without newline keyed, \$peer is 127.0.0.1, a match-limit line reported and the next one keyed"

# Nothing on stdin: nothing printed, success.
: > "$H_TMP/empty.in"
"$AGGD" -c "$conf" --test-rules < "$H_TMP/empty.in" > "$H_TMP/empty.txt" || h_fail "empty input: exit $?"
[ ! -s "$H_TMP/empty.txt" ] || h_fail "empty input printed: $(cat "$H_TMP/empty.txt")"
h_ok "--test-rules on empty input prints nothing and succeeds"
