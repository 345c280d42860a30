#!/usr/bin/env bash
# test_fault_spool_clock.sh — a spool file name that exists already
# (docs/formats.md, "The publish spool"): names are the wall clock's
# milliseconds and a sequence the process starts at 1, so a clock stepped
# back, or a restart within one millisecond, can give the name of a file
# left to replay.  Here the clock is held (libfaketime) at the instant of
# a file left by an earlier run, whose last record
# is torn; the broker is down, so the records replayed from that file fail and are spooled again.
# Appended to the file they came from, they would sit behind its torn
# tail and go with it when it is kept as .bad: lost.  The daemon takes the
# next name instead and logs it; restarted with the broker back (and the
# real clock: librdkafka's timed waits follow the faked one), each of the
# file's sound records is on the topic exactly once; the torn file is
# kept, unchanged, as .bad.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log p; h_cleanup' EXIT

FT=$(faketime_lib) || h_fail "libfaketime is not installed (Debian package faketime; scripts/deps.sh)"
HELD="2026-01-01 00:00:00"	# libfaketime: an absolute time without "@" stands still
ms=$(LD_PRELOAD="$FT" FAKETIME="$HELD" TZ=UTC date +%s%3N)
[ "$ms" = 1767225600000 ] || h_fail "libfaketime does not hold the clock here: $ms"

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_kafka_down k
spool=$H_TMP/state/spool
mkdir -p "$spool"
old=$spool/$ms-000001.spool	# the name the daemon's first file will have
ev() {
    printf 'seq;%d;s;0\t{"node":"p","epoch":1,"elected":false,"prefix":"seq","matched":"%d","source":"s","start_ts":0,"delta":1,"interval_start_ms":0,"flush_ms":200}\n' "$1" "$1"
}
seq 1 10 | while read -r n; do ev "$n"; done | spool_write "$old"
printf 'AGS1\001\000' >> "$old"	# a record cut short by a crash
cp "$old" "$H_TMP/old.copy"
conf=$H_TMP/p.conf
cat > "$conf" <<CONF
node = { name = "p"; state_dir = "$H_TMP/state"; };
http = { listen = "127.0.0.1:$(h_free_port tcp)"; };
kafka = { brokers = "$k_BOOTSTRAP"; properties = [ "linger.ms=5", "message.timeout.ms=3000" ]; };
CONF
# The clock runs until the daemon is up (librdkafka's start waits on it),
# then stands still at the old file's instant, well before the replayed
# records time out.  A sanitized build must not insist on coming first in
# the library list.
ft=$H_TMP/faketime.rc
echo "+0" > "$ft"
agg_start p "$conf" LD_PRELOAD="$FT" FAKETIME_TIMESTAMP_FILE="$ft" FAKETIME_NO_CACHE=1 TZ=UTC \
    FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
h_wait_until 10 agg_healthy p || h_fail "the daemon did not start"
echo "$HELD" > "$ft"
h_wait_until 20 eval '[ -e "$old.bad" ] && [ ! -e "$old" ]' || h_fail "the torn file was not kept as .bad: $(ls "$spool")"
cmp -s "$old.bad" "$H_TMP/old.copy" || h_fail "the torn file was changed (records appended to it?)"
h_wait_until 5 agg_log_has p "spool file '$old' exists already \\(the clock stepped back\\?\\); taking the next name" \
    || h_fail "the replayed records' spooling did not step past the existing name"
new=$spool/$ms-000002.spool
h_wait_until 10 eval '[ "$(spool_keys "$new" 2>/dev/null | cut -d";" -f2 | sort -n | tr "\n" " ")" = "1 2 3 4 5 6 7 8 9 10 " ]' \
    || h_fail "the spooled-again records are not in $new: $(spool_keys "$new" 2>/dev/null | tr '\n' ' ')"
h_ok "the clock held at an existing spool file's name: its records, failed again, spooled under the next name; the torn file kept unchanged as .bad"

# librdkafka's timed waits follow the held wall clock too, so it would not
# reconnect in time: the daemon is restarted on the real clock
h_stop p 15 || h_fail "p did not exit"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
h_kafka_up k
agg_start p "$conf"
on_topic_once() { diff <(seq_on_topic | sort -n) <(seq 1 10) > "$H_TMP/topic.diff"; }
h_wait_until 30 on_topic_once || h_fail "after the broker came back: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 300)"
h_wait_until 10 eval '[ ! -e "$new" ]' || h_fail "the replayed file was not removed: $(ls "$spool")"
h_stop p 15 || h_fail "p did not exit"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
on_topic_once || h_fail "after the stop: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 300)"
cmp -s "$old.bad" "$H_TMP/old.copy" || h_fail "the .bad file changed"
h_ok "restarted with the broker back: each of 1-10 on the topic exactly once, the .bad file as it was"
