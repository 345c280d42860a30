#!/usr/bin/env bash
# test_fault_spool_perm.sh — a spool file the daemon cannot open (docs/formats.md,
# "The publish spool"): the daemon runs unprivileged, as a fresh uid owning
# its state directory (as systemd runs it), so a file mode stops it.  The
# ten oldest spool files are mode 0000 (more than the eight the daemon
# first makes room for in its list of files not to replay): the daemon logs
# each, leaves it as it is for an operator and replays the newer file past
# them, each of its records on the topic exactly once, never the refused
# files'.  The operator fixes the modes and restarts the daemon: the old
# files are replayed, so that each of the 200 numbers is on the topic
# exactly once.  Then a stop in the middle of
# a replay (the broker down; 50 records in librdkafka, 250 in the daemon's
# queue) with the spool directory made read-only: no record can be spooled
# again, so the replayed file must stay whole (none of it was delivered);
# the directory writable again and the broker up, the restart puts each of
# its records on the topic exactly once.  Last, a spool directory the
# daemon may write in but not list: said once (not once a tick), the file
# left; readable again, said so and replayed, each record once.
# The oracle is the numbers the test wrote (keys seq;N;s;0).
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || agg_dump_log p; h_cleanup' EXIT
[ "$(id -u)" = 0 ] || h_fail "needs root to run the daemon as a fresh uid (setpriv)"

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
U=$(fresh_id) || h_fail "no free uid"
chmod 0711 "$H_TMP"	# the uid may pass, not list
# the daemon from a copy the uid can reach whatever the checkout's modes
# (a coverage build still writes its counters beside the objects)
aggd=$H_TMP/aggregatord
install -m 0755 "$AGGD" "$aggd"
agg_gcov_any_uid
state=$H_TMP/state spool=$H_TMP/state/spool
mkdir -p "$spool"
conf=$H_TMP/p.conf
cat > "$conf" <<CONF
node = { name = "p"; state_dir = "$state"; };
http = { listen = "127.0.0.1:$(h_free_port tcp)"; };
kafka = { brokers = "$k_BOOTSTRAP"; properties = [ "linger.ms=5" ]; };
CONF
chmod 0644 "$conf"
ev() {
    printf 'seq;%d;s;0\t{"node":"p","epoch":1,"elected":false,"prefix":"seq","matched":"%d","source":"s","start_ts":0,"delta":1,"interval_start_ms":0,"flush_ms":200}\n' "$1" "$1"
}
new=$spool/0000000000001-000001.spool
for i in $(seq 0 9); do	# old files 0-9: the numbers 10i+1..10i+10
    seq $((10 * i + 1)) $((10 * i + 10)) | while read -r n; do ev "$n"; done |
        spool_write "$spool/0000000000000-00000$i.spool"
done
seq 101 200 | while read -r n; do ev "$n"; done | spool_write "$new"
(cd "$spool" && cat 0000000000000-*.spool) > "$H_TMP/old.copy"
chown -R "$U:$U" "$state"
chmod 0000 "$spool"/0000000000000-*.spool
start() {	# [CONF]
    local conf=${1:-$conf}
    export p_URL=http://$(sed -n 's/.*listen *= *"\([^"]*\)".*/\1/p' "$conf")
    h_spawn p "$H_TMP/p.log" setpriv --reuid="$U" --regid="$U" --clear-groups "$aggd" -c "$conf"
    h_wait_until 10 agg_healthy p || h_fail "the daemon did not start as uid $U"
}
on_topic_once() {	# FROM TO: each number once, nothing else
    diff <(seq_on_topic | sort -n) <(seq "$1" "$2") > "$H_TMP/topic.diff"
}

start
h_wait_until 20 on_topic_once 101 200 || h_fail "the newer file: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 300)"
for i in $(seq 0 9); do
    h_wait_until 10 agg_log_has p "cannot open spool file '$spool/0000000000000-00000$i.spool': Permission denied; left for an operator" \
        || h_fail "the refused file $i was not logged"
done
h_wait_until 10 eval '[ ! -e "$new" ]' || h_fail "the replayed file was not removed"
[ "$(stat -c %a "$spool"/0000000000000-*.spool | sort -u)" = 0 ] && (cd "$spool" && cat 0000000000000-*.spool) | cmp -s - "$H_TMP/old.copy" \
    || h_fail "the refused files were touched: $(ls -l "$spool")"
[ "$(agg_metric p aggregatord_publish_replayed_total)" = 100 ] || h_fail "replayed $(agg_metric p aggregatord_publish_replayed_total), want the newer file's 100"
h_stop p 15 || h_fail "p did not exit"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
on_topic_once 101 200 || h_fail "after the stop: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 300)"
h_ok "ten spool files mode 0000 (the daemon unprivileged): each logged and left as it was; the newer file replayed past them, each of 101-200 once"

chmod 0600 "$spool"/0000000000000-*.spool	# the operator's fix
start
h_wait_until 20 on_topic_once 1 200 || h_fail "after the fix: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 300)"
h_wait_until 10 eval '[ -z "$(ls "$spool")" ]' || h_fail "the replayed files were not removed: $(ls "$spool")"
h_stop p 15 || h_fail "p did not exit"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
h_ok "the modes fixed and the daemon restarted: the old files replayed, each of 1-200 on the topic exactly once"

# --- stopped in the middle of a replay, the spool directory read-only ---
h_kafka_down k
sed 's/"linger.ms=5"/"linger.ms=5", "queue.buffering.max.messages=50"/' "$conf" > "$H_TMP/q.conf"
chmod 0644 "$H_TMP/q.conf"
f=$spool/0000000000002-000001.spool
seq 201 500 | while read -r n; do ev "$n"; done | spool_write "$f"
cp "$f" "$H_TMP/f.copy"
chown "$U:$U" "$f"
start "$H_TMP/q.conf"
h_wait_until 10 agg_metric_is p aggregatord_publish_replayed_total 300 || h_fail "replayed $(agg_metric p aggregatord_publish_replayed_total) of 300"
h_wait_until 10 agg_metric_is p aggregatord_publish_queued 250 \
    || h_fail "the daemon's queue holds $(agg_metric p aggregatord_publish_queued) replayed events, want 250 behind librdkafka's 50"
chmod 0500 "$spool"
h_stop p 15 || h_fail "p did not exit"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
agg_log_has p "cannot open spool file '$spool/[0-9-]+[.]spool': Permission denied" || h_fail "the refused spooling was not logged"
[ "$(ls -A "$spool")" = "$(basename "$f")" ] && cmp -s "$f" "$H_TMP/f.copy" \
    || h_fail "the replayed file was not kept whole: $(ls -l "$spool")"
agg_log_has p ": 0 queued event\\(s\\) not produced at stop: spooling them to $spool \\(some not" \
    || h_fail "the stop did not report the 250 held records it could not spool"
h_ok "stopped in the middle of a replay with the spool directory read-only: nothing could be spooled again, the replayed file kept whole"

chmod 0700 "$spool"
h_kafka_up k
start
h_wait_until 30 on_topic_once 1 500 || h_fail "after the restart: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 300)"
h_wait_until 10 eval '[ ! -e "$f" ]' || h_fail "the replayed file was not removed"
h_stop p 15 || h_fail "p did not exit"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
h_ok "the directory writable again, the broker up: each of 201-500 on the topic exactly once (1-500 in all)"

# --- a spool directory the daemon cannot list (mode 0300: it may write in
# it, not read it): said once while it lasts, not a line a timer tick; once
# it can be read again, said so and the file replayed ---
g=$spool/0000000000003-000001.spool
seq 501 510 | while read -r n; do ev "$n"; done | spool_write "$g"
chown "$U:$U" "$g"
chmod 0300 "$spool"
start
unlisted="cannot list the spool directory '$spool': Permission denied; spooled events are not replayed until it can be"
h_wait_until 10 agg_log_has p "$unlisted" || h_fail "a spool directory the daemon cannot list was not logged"
# the replay timer runs every 250 ms: two seconds up is eight tries
h_wait_until 10 eval '[ "$(agg_metric p aggregatord_uptime_seconds | cut -d. -f1)" -ge 2 ]' || h_fail "no uptime"
[ -e "$g" ] || h_fail "the file was replayed from a directory the daemon cannot list"
chmod 0700 "$spool"
h_wait_until 20 on_topic_once 1 510 || h_fail "after the directory could be read: $(tr '\n' ' ' < "$H_TMP/topic.diff" | head -c 300)"
h_wait_until 10 agg_log_has p "the spool directory '$spool' can be listed again" || h_fail "listing again was not logged"
[ "$(grep -c "$unlisted" "$H_TMP/p.log")" = 1 ] || h_fail "said $(grep -c "$unlisted" "$H_TMP/p.log") times, want once"
h_stop p 15 || h_fail "p did not exit"
[ "$H_EXIT_STATUS" = 0 ] || h_fail "exit status $H_EXIT_STATUS"
h_ok "a spool directory the daemon cannot list: said once in eight tries, the file left; listable again: said, and 501-510 replayed once each"
