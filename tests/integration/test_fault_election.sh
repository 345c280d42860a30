#!/usr/bin/env bash
# test_fault_election.sh — the election's fault paths with Redis answering
# errors (ACL NOPERM replies, a key of the wrong type), not a lost
# connection.  Two nodes a and b in one group; a sampler reads both roles
# and a's key in Redis all along, and the oracle is what it saw:
#  - SCAN, then MGET, denied to a alone (a has its own ACL user, redis.user;
#    b is "default"), on_redis_down=standby: a steps down by the end of its
#    lease and stops renewing its key, deleting it, so b is elected once
#    the key is gone, within ttl + interval; never both; back: a leads;
#  - a's SET denied (a read-only key pattern for a's key, switched at run
#    time with ACL SETUSER): a is standby by the end of its lease, b takes
#    over only once a's key is gone; never both active;
#  - SCAN, MGET denied (both nodes), after a reload to on_redis_down=keep:
#    a stays active by override, b standby, never both; back: one elected;
#  - TIME denied and a yield of a (on_redis_down=standby again): a cannot
#    attach, its key expires, b takes over; back: a behind b;
#  - the epoch bump denied (INCR) and the epoch key of the wrong type: the
#    elected node keeps the last epoch (status epoch_fresh=false), the key
#    is unchanged; back: a fresh epoch above every epoch seen;
#  - the key's DEL denied at a clean stop: the key stays until it expires,
#    and b takes over then, not earlier, within ttl + interval;
#  - keys of strangers in the group's pattern (a name with '+', a value no
#    timestamp, 150 more live keys): ignored;
#  - two nodes started with the same name: one is active, the other refuses
#    (standby, an error logged), never both; it takes over once the name
#    is free; its key taken over by another: standby until it is free;
#  - more than 256 live keys in a group: 256 read, logged; an epoch key
#    holding no number: no epoch read;
#  - a key taken by another after the node's last round: left alone at its
#    stop (compare-and-delete);
#  - Redis frozen from a node's start: no timestamp, no key, none deleted;
#  - SCAN denied after its first page: the node stands down, its key goes;
#  - Redis gone: the node steps down, and the key it could not delete is
#    logged then and at its stop.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/common.sh"
h_init
trap 'rc=$?; [ $rc -eq 0 ] || { for n in a b a2 c; do [ -f "$H_TMP/$n.log" ] && agg_dump_log $n; done; }; h_cleanup' EXIT

h_start_kafka k aggregatord.totals aggregatord.radacct aggregatord.usage
h_start_redis r
h_redis r ACL SETUSER admin on '>adm' '~*' '&*' +@all > /dev/null
adm() { h_redis r --user admin --pass adm --no-auth-warning "$@"; }
acl() {	# the daemons' users: "default" (b, a2) and "na" (a), alike
    h_redis r ACL SETUSER default "$@" > /dev/null
    h_redis r ACL SETUSER na "$@" > /dev/null
}
acl_all() { acl reset on nopass '~*' '&*' +@all; }
acl_all
INTERVAL=400 TTL=1000	# ms; the lease ends between two rounds
KEY_A="radius+7+a+attachment_time" EPOCH_KEY="radius+7+epoch"
declare -A HPORT UPORT
conf_for() {	# FILE NODE_NAME HTTP_PORT STATE ON_REDIS_DOWN UDP_PORT [REDIS_USER]
    cat > "$1" <<CONF
node = { name = "$2"; state_dir = "$4"; };
http = { listen = "127.0.0.1:$3"; };
redis = { port = $r_PORT; timeout_ms = 300; user = "${7:-}"; };
kafka = { enabled = true; brokers = "$k_BOOTSTRAP"; };
election = { cluster = "radius"; cluster_id = 7; interval_ms = $INTERVAL; ttl_ms = $TTL;
             standby_window_ms = 3000; on_redis_down = "$5"; };
totalizer = { flush_ms = 200; threads = 1; rules = (
  { prefix = "seq"; listen = "127.0.0.1:$6"; match = "seq=(\\\\d+)"; matched = "\$1"; source = "s"; } ); };
CONF
}
for n in a b a2 c; do HPORT[$n]=$(h_free_port tcp); UPORT[$n]=$(h_free_port udp); done
conf_for "$H_TMP/a.conf" a "${HPORT[a]}" "$H_TMP/state-a" standby "${UPORT[a]}" na
conf_for "$H_TMP/b.conf" b "${HPORT[b]}" "$H_TMP/state-b" standby "${UPORT[b]}"
# numbered events (totalizer lines, one `totals` event per number) sent to
# both nodes; the oracle is the numbers sent, kept by the consumer of
# docs/election.md (common.sh)
feed() {	# FROM TO
    local n
    for n in a b; do seq "$1" "$2" | sed 's/^/seq=/' | "$H_BIN/htool" udp-send -i 2000 127.0.0.1 "${UPORT[$n]}"; done
}
topic_has() {	# FROM TO: every number on the topic
    [ "$(kcat -b "$k_BOOTSTRAP" -C -t aggregatord.totals -o beginning -e -q -f '%k\n' 2>/dev/null | cut -d';' -f2 |
        sort -un | awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b' | wc -l)" = $(( $2 - $1 + 1 )) ]
}
role() { agg_metric "$1" aggregatord_election_role 2>/dev/null || echo x; }
both() { [ "$(role a)$(role b)" = "$1" ]; }
status_of() { agg_get "$1" /v1/status; }
now_ms() { date +%s%3N; }
after_ms() { local until=$(( $(now_ms) + $1 )); h_wait_until 30 sh -c "[ \$(date +%s%3N) -ge $until ]"; }
# The sampler: "ms role_a role_b a's_key_exists role_a_again" every few ms,
# all along.  The reads follow one another, tens of ms apart on a loaded
# machine: a that yields to b can be read active just before b is read
# active just after, with no overlap; so a sample shows both active only
# when a is read active again after b.  The three role reads are one curl
# (its URLs fetched in order, -w marking where each answer ends; a failed
# read is "x") and the key is read after them: two processes a sample, so
# a loaded machine still gives many samples while a fault lasts.
sampler() {
    # by the ports in the configs: a node started after the sampler (a2)
    # has no NAME_URL in the sampler's shell
    local ua=http://127.0.0.1:${HPORT[$1]}/metrics ub=http://127.0.0.1:${HPORT[$2]}/metrics t r1 r2 r3
    while :; do
        t=${EPOCHREALTIME/[.,]/}
        read -r r1 r2 r3 < <(curl -s --max-time 5 -w '\n@@end\n' "$ua" "$ub" "$ua" |
            awk '$1 == "aggregatord_election_role" { v = $2 } $1 == "@@end" { r[++n] = v; v = "" }
                 END { for (i = 1; i <= 3; i++) printf "%s ", (r[i] == "") ? "x" : r[i]; print "" }')
        printf '%s %s %s %s %s\n' "${t:0:13}" "$r1" "$r2" "$(adm EXISTS "$3")" "$r3"
    done
}
sample_start() { sampler "${1:-a}" "${2:-b}" "${3:-$KEY_A}" > "$H_TMP/samples" & SAMPLER=$!; }
# sample_stop: ends the sampling, once it holds at least 10 samples (on a
# loaded machine the window a step waits for can hold fewer; the sampling
# then goes on in the state the step left, where never_both holds too)
sample_stop() {
    h_wait_until 30 sh -c "[ \$(wc -l < '$H_TMP/samples') -ge 10 ]" || true
    kill "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
}
never_both() {	# WHAT: no sample with both nodes active
    local n
    n=$(awk '$2 == 1 && $3 == 1 && $5 == 1' "$H_TMP/samples" | wc -l)
    [ "$n" = 0 ] || h_fail "$1: both nodes active in $n sample(s) of $(wc -l < "$H_TMP/samples"): $(awk '$2 == 1 && $3 == 1 && $5 == 1' "$H_TMP/samples" | head -3 | tr '\n' ';')"
}
samples_ok() {	# enough samples, and both nodes read in some of them
    [ "$(wc -l < "$H_TMP/samples")" -ge 10 ] || h_fail "the sampler took too few samples"
    awk '$2 != "x" && $3 != "x" { ok = 1 } END { exit !ok }' "$H_TMP/samples" \
        || h_fail "the sampler never read both nodes' roles: $(head -3 "$H_TMP/samples" | tr '\n' ';')"
}
reload_to() {	# ON_REDIS_DOWN REDIS_TIMEOUT_MS: both nodes
    for n in a b; do
        sed -i "s/on_redis_down = \"[a-z]*\"/on_redis_down = \"$1\"/; s/timeout_ms = [0-9]*/timeout_ms = $2/" "$H_TMP/$n.conf"
        h_signal $n HUP
    done
    h_wait_until 10 sh -c "curl -s ${a_URL:-}/v1/status | grep -q '\"on_redis_down\":\"$1\"' && curl -s ${b_URL:-}/v1/status | grep -q '\"on_redis_down\":\"$1\"'" \
        || h_fail "reload to on_redis_down=$1 not applied"
}

agg_start a "$H_TMP/a.conf"
h_wait_until 10 agg_metric_is a aggregatord_election_role 1 || h_fail "a not active alone"
agg_start b "$H_TMP/b.conf"
h_wait_until 10 agg_metric_is b aggregatord_election_role 0 || h_fail "b not standby"
after_ms $((3 * INTERVAL))
both 10 || h_fail "start: a=$(role a) b=$(role b)"
h_ok "a active, b standby (interval $INTERVAL ms, ttl $TTL ms, on_redis_down=standby)"

# --- SCAN, then MGET, denied to a alone: a's SET still passes, so its key
# would be renewed by a node that cannot read, stands down, and keeps b
# standby: no node active.  The key must go once a is standby. ---
for cmd in scan mget; do
    sample_start
    after_ms 200
    h_redis r ACL SETUSER na "-$cmd" > /dev/null
    t0=$(now_ms)
    h_wait_until 10 both 01 || h_fail "$cmd denied to a alone: a=$(role a) b=$(role b), a's key pttl $(adm PTTL "$KEY_A"): want b elected"
    took=$(( $(now_ms) - t0 ))
    after_ms $((3 * INTERVAL))
    [ "$(adm EXISTS "$KEY_A")" = 0 ] || h_fail "$cmd denied: a's key renewed while a is standby (pttl $(adm PTTL "$KEY_A"))"
    status_of b | grep -q '"elected":true' || h_fail "$cmd denied to a: b active but not elected: $(status_of b)"
    agg_log_has a "NOPERM.*'$cmd'" || h_fail "$cmd denied: a did not log the NOPERM reply"
    agg_log_has b "NOPERM" && h_fail "$cmd denied to a alone: b saw a denial"
    t1=$(now_ms)
    acl_all
    h_wait_until 10 both 10 || h_fail "$cmd allowed again: a=$(role a) b=$(role b), want a (older) back"
    after_ms $((2 * INTERVAL))
    sample_stop
    samples_ok
    never_both "$cmd denied to a alone"
    # b active only once a's key was gone (while the fault lasted)
    bad=$(awk -v t="$t0" -v u="$t1" '$1 > t && $1 < u && $3 == 1 && $4 != 0' "$H_TMP/samples" | wc -l)
    [ "$bad" = 0 ] || h_fail "$cmd denied: b active while a's key still stood ($bad samples)"
    # the lease (ttl) runs out, a's key goes at once, b's next round elects it
    [ "$took" -le $((TTL + 2 * INTERVAL + 1500)) ] || h_fail "$cmd denied: b elected $took ms after the denial (ttl + 2 intervals = $((TTL + 2 * INTERVAL)) ms)"
    h_ok "$cmd denied to a alone (its ACL user), on_redis_down=standby: a standby, its key deleted, b elected $took ms after the denial (ttl $TTL), never both; allowed again: a leads"
done

# --- a's SET denied: NOPERM on its own key only (twice: where the lease ends
# between two rounds is a matter of phase) ---
for cycle in 1 2; do
    sample_start
    after_ms 200
    acl resetkeys "%R~$KEY_A" '~radius+7+b+*' "~$EPOCH_KEY"
    t0=$(now_ms)
    h_wait_until 10 both 01 || h_fail "SET denied to a: a=$(role a) b=$(role b), want b alone active"
    took=$(( $(now_ms) - t0 ))
    after_ms $((2 * INTERVAL))
    sample_stop
    samples_ok
    never_both "a's SET denied (cycle $cycle)"
    # b active only once a's key was gone (the first sample with b active
    # has no key of a, nor has any later one while the fault lasts)
    bad=$(awk '$3 == 1 && $4 != 0' "$H_TMP/samples" | wc -l)
    [ "$bad" = 0 ] || h_fail "b active while a's key still stood ($bad samples)"
    agg_log_has a "SET: .*(NOPERM|can't access)" || h_fail "a did not log the denied SET"
    acl_all
    h_wait_until 10 both 10 || h_fail "SET allowed again: a=$(role a) b=$(role b), want a (older) back"
    h_ok "cycle $cycle: a's SET denied: a standby, b active in $took ms (ttl $TTL), never both, b only after a's key expired; allowed again: a leads"
done

# --- SCAN and MGET denied to both, after a reload to on_redis_down=keep ---
reload_to keep 400
for cmd in scan mget; do
    sample_start
    after_ms 200
    acl "-$cmd"
    h_wait_until 10 sh -c "curl -s $a_URL/v1/status | grep -q 'on_redis_down=keep (was active)'" \
        || h_fail "$cmd denied: a's round does not follow on_redis_down=keep: $(status_of a)"
    after_ms $((2 * TTL))
    both 10 || h_fail "$cmd denied, keep: a=$(role a) b=$(role b)"
    status_of a | grep -q '"elected":false' || h_fail "$cmd denied: a still counts itself elected: $(status_of a)"
    agg_log_has b "NOPERM.*'$cmd'" || h_fail "$cmd denied: b did not log the NOPERM reply"
    acl_all
    h_wait_until 10 sh -c "curl -s $a_URL/v1/status | grep -q '\"elected\":true'" || h_fail "$cmd allowed again: a not elected"
    after_ms $((2 * INTERVAL))
    sample_stop
    samples_ok
    never_both "$cmd denied"
    both 10 || h_fail "$cmd allowed again: a=$(role a) b=$(role b)"
    h_ok "$cmd denied to both (NOPERM), on_redis_down=keep after a reload: a active by override, b standby, never both; allowed again: a elected"
done

# --- TIME denied, a yields (back to on_redis_down=standby) ---
reload_to standby 300
ts_a=$(adm GET "$KEY_A")
sample_start
acl -time
h_signal a RTMIN+0
h_wait_until 10 both 01 || h_fail "TIME denied, a yielded: a=$(role a) b=$(role b)"
agg_log_has a "TIME: NOPERM" || h_fail "a did not log TIME's NOPERM"
[ "$(adm EXISTS "$KEY_A")" = 0 ] || h_fail "a's key still stands without a timestamp"
acl_all
h_wait_until 10 sh -c "[ \"\$(redis-cli -p $r_PORT --user admin --pass adm --no-auth-warning GET $KEY_A)\" != '' ]" || h_fail "a did not attach again"
after_ms $((3 * INTERVAL))
sample_stop
samples_ok
never_both "TIME denied"
both 01 || h_fail "TIME allowed again: a=$(role a) b=$(role b), want a behind b"
[ "$(adm GET "$KEY_A")" -gt "$ts_a" ] || h_fail "a's timestamp did not change: $(adm GET "$KEY_A") (was $ts_a)"
h_ok "TIME denied at a's yield: a has no key, b takes over, never both; allowed again: a attached with a fresh timestamp behind b"

# --- the epoch bump denied (INCR), then the epoch key of the wrong type ---
ep0=$(adm GET "$EPOCH_KEY")
errs0=$(agg_metric a aggregatord_election_redis_errors_total)
acl -incr
h_signal b RTMIN+2	# b forced standby: a is elected and must take an epoch
h_wait_until 10 both 10 || h_fail "b forced standby: a=$(role a) b=$(role b)"
h_wait_until 5 sh -c "curl -s $a_URL/v1/status | grep -q '\"epoch_fresh\":false'" || h_fail "INCR denied: a's status: $(status_of a)"
status_of a | grep -q "\"elected\":true,\"epoch\":$ep0," || h_fail "INCR denied: a does not keep epoch $ep0: $(status_of a)"
[ "$(adm GET "$EPOCH_KEY")" = "$ep0" ] || h_fail "the epoch key changed while INCR was denied"
[ "$(agg_metric a aggregatord_election_redis_errors_total)" -gt "$errs0" ] || h_fail "the failed bump was not counted"
agg_log_has a "cannot take a new epoch" || h_fail "the failed bump was not logged"
acl_all
h_wait_until 10 sh -c "curl -s $a_URL/v1/status | grep -q '\"epoch_fresh\":true'" || h_fail "INCR allowed again: no fresh epoch: $(status_of a)"
ep1=$(adm GET "$EPOCH_KEY")
[ "$ep1" = $((ep0 + 1)) ] && [ "$(agg_metric a aggregatord_election_epoch)" = "$ep1" ] \
    || h_fail "epoch after the bump: key $ep1, a's $(agg_metric a aggregatord_election_epoch), want $((ep0 + 1))"
feed 1 100	# a elected at ep1 produces them
h_wait_until 20 topic_has 1 100 || h_fail "a's events (epoch $ep1) not on the topic"
h_ok "INCR denied: a elected keeps epoch $ep0 (epoch_fresh=false, counted, logged); allowed again: epoch $ep1"
# b restarted (it knows the epoch it kept, not a newer one a peer may
# have taken since); the key is of the wrong type, so it reads none and
# cannot take one: elected, it must not stamp its events
# "elected":true under an epoch below the one a took (consumers would
# fence them as a deposed leader's)
h_stop b
adm DEL "$EPOCH_KEY" > /dev/null
adm RPUSH "$EPOCH_KEY" junk > /dev/null
agg_start b "$H_TMP/b.conf"
h_wait_until 10 agg_metric_is b aggregatord_election_role 0 || h_fail "b restarted: not standby"
h_signal a RTMIN+2	# b is elected now, against a key of the wrong type
h_wait_until 10 both 01 || h_fail "a forced standby: a=$(role a) b=$(role b)"
h_wait_until 5 sh -c "curl -s $b_URL/v1/status | grep -q '\"epoch_fresh\":false'" || h_fail "wrong type: b's status: $(status_of b)"
agg_log_has b "WRONGTYPE" || h_fail "b did not log WRONGTYPE"
feed 101 200	# b, elected without an epoch, produces them
h_wait_until 20 topic_has 101 200 || h_fail "b's events not on the topic"
kept_all 1 200 || h_fail "the consumer of docs/election.md dropped numbers of b, elected without a fresh epoch: $(missing 1 200)"
h_signal a RTMIN+3	# a (older) is elected again, knows epoch $ep1
h_wait_until 10 both 10 || h_fail "a back to auto: a=$(role a) b=$(role b)"
adm DEL "$EPOCH_KEY" > /dev/null	# as after a Redis that lost it
h_wait_until 10 sh -c "curl -s $a_URL/v1/status | grep -q '\"epoch_fresh\":true'" || h_fail "key gone: a took no epoch: $(status_of a)"
[ "$(adm GET "$EPOCH_KEY")" = $((ep1 + 1)) ] && [ "$(agg_metric a aggregatord_election_epoch)" = $((ep1 + 1)) ] \
    || h_fail "after the lost key: epoch key $(adm GET "$EPOCH_KEY"), a's $(agg_metric a aggregatord_election_epoch), want $((ep1 + 1)) (never back)"
h_ok "epoch key of the wrong type: b elected without an epoch, its events kept by the consumer (all 200 numbers); key lost: a takes $((ep1 + 1)), never below what it saw"

# --- keys of strangers in the group's pattern: a name with '+', a value
# that is no timestamp (the smallest "timestamps" of all, were they read as
# nodes), and 150 more live keys (several SCAN pages, more peers than the
# log lists) ---
for i in $(seq 1 150); do echo "SET radius+7+ghost$i+attachment_time 99999999999999999 PX 60000"; done | adm > /dev/null
adm SET "radius+7+bad+name+attachment_time" 1 PX 60000 > /dev/null
adm SET "radius+7+junk+attachment_time" 0x1 PX 60000 > /dev/null
h_signal a RTMIN+2
h_wait_until 10 both 01 || h_fail "ghosts: a forced standby: a=$(role a) b=$(role b)"
h_signal a RTMIN+3
h_wait_until 10 both 10 || h_fail "ghosts: a back to auto: a=$(role a) b=$(role b)"
[ "$(status_of a | grep -o '"name":"ghost[0-9]*"' | sort -u | wc -l)" = 150 ] || h_fail "a does not see the 150 live keys"
status_of a | grep -q '"name":"\(bad\|junk\)' && h_fail "a counts a malformed key as a node"
agg_log_has b "peers: .*, \.\.\.$" || h_fail "the transition's peer list is not cut short"
adm --scan --pattern 'radius+7+ghost*' | sed 's/^/DEL /' | adm > /dev/null
h_ok "150 live keys of other names, a name with '+' and a value no timestamp: the elections go by a's and b's keys alone"

# --- the key's DEL denied at a clean stop ---
acl -del
sample_start
after_ms 200
pttl0=$(adm PTTL "$KEY_A")
h_stop a
t_exit=$(now_ms)
[ "$H_EXIT_STATUS" = 0 ] || h_fail "a exit status $H_EXIT_STATUS"
left=$(adm PTTL "$KEY_A")
[ "$left" -gt 0 ] || h_fail "a's key is gone at once though DEL was denied (pttl $left)"
h_wait_until 10 agg_metric_is b aggregatord_election_role 1 || h_fail "b did not take over after a's key expired"
took=$(( $(now_ms) - t_exit ))
after_ms 200
sample_stop
agg_log_has a "cannot delete key .* at stop \((NOPERM|ERR The user executing the script can.t run)" || h_fail "a did not log the denied DEL"
bad=$(awk '$3 == 1 && $4 != 0' "$H_TMP/samples" | wc -l)
[ "$bad" = 0 ] || h_fail "b active while a's key still stood ($bad samples)"
[ "$took" -le $((TTL + INTERVAL + 1500)) ] || h_fail "b took over $took ms after a's exit (ttl + interval = $((TTL + INTERVAL)) ms)"
acl_all
h_ok "DEL denied at stop: a's key stood $left ms more (pttl $pttl0 before the stop), b active $took ms after a's exit, only once it expired"

# --- two nodes with the same name ---
conf_for "$H_TMP/a2.conf" a "${HPORT[a2]}" "$H_TMP/state-a2" standby "${UPORT[a2]}"
h_signal b RTMIN+2	# b out of the way: a2 alone would be active
h_wait_until 10 agg_metric_is b aggregatord_election_role 0 || h_fail "b not forced standby"
agg_start a "$H_TMP/a.conf"
h_wait_until 10 agg_metric_is a aggregatord_election_role 1 || h_fail "a not active"
sample_start a a2
agg_start a2 "$H_TMP/a2.conf"
h_wait_until 10 agg_healthy a2 || h_fail "a2 does not answer"
after_ms $((4 * TTL))
sample_stop
samples_ok
never_both "two nodes named 'a'"
[ "$(role a)$(role a2)" = 10 ] || h_fail "same name: a=$(role a) a2=$(role a2), want the first alone active"
agg_log_has a2 "another node uses the name 'a'" || h_fail "a2 did not log the conflict"
status_of a2 | grep -q "two nodes of the group share its name" || h_fail "a2's status does not say why: $(status_of a2)"
h_stop a
h_wait_until 10 agg_metric_is a2 aggregatord_election_role 1 || h_fail "a2 did not take over once a left: $(status_of a2)"
h_ok "two nodes named 'a': the second refuses (standby, logged, in its status), never both active; it takes over once the first stops"
# its key taken over (a node of the same name took it while it expired)
adm SET "$KEY_A" 42 PX 1500 > /dev/null
h_wait_until 5 agg_metric_is a2 aggregatord_election_role 0 || h_fail "a2 active with its key held by another"
agg_log_has a2 "now holds 42, not this node's timestamp" || h_fail "a2 did not log its key taken"
h_wait_until 10 agg_metric_is a2 aggregatord_election_role 1 || h_fail "a2 did not take its key back once free"
[ "$(adm GET "$KEY_A")" != 42 ] || h_fail "a2 is active, its key holds another's value"
h_ok "a2's key taken by another: a2 standby, logged; the key free again: a2 active"

# --- a group of one node (cluster_id 8) with rounds a minute apart, so
# nothing runs between what the test does and its stop: 300 live keys of
# other names (more than the 256 a round reads); its key taken by another
# after its round ---
KEY_C="radius+8+c+attachment_time"
for i in $(seq 1 300); do echo "SET radius+8+ghost$i+attachment_time 99999999999999999 PX 120000"; done | adm > /dev/null
adm SET radius+8+epoch 12x > /dev/null	# no number: no epoch read
conf_for "$H_TMP/c.conf" c "${HPORT[c]}" "$H_TMP/state-c" standby "${UPORT[c]}"
sed -i 's/cluster_id = 7; interval_ms = [0-9]*; ttl_ms = [0-9]*;/cluster_id = 8; interval_ms = 60000; ttl_ms = 120000;/' "$H_TMP/c.conf"
agg_start c "$H_TMP/c.conf"
h_wait_until 10 sh -c "curl -s $c_URL/v1/status | grep -q '\"redis\":\"up\"'" || h_fail "c's first round did not end"
[ "$(adm EXISTS "$KEY_C")" = 1 ] || h_fail "c wrote no key"
npeers=$(agg_metric c aggregatord_election_peers)
[ "$npeers" -ge 255 ] && [ "$npeers" -le 256 ] || h_fail "c reads $npeers peers of 300 live keys, want the cap (256 keys, its own among them or not)"
agg_log_has c "more than 256 live keys match 'radius.8.\*.attachment_time': the rest are ignored" || h_fail "c did not log the keys it ignores"
[ "$(agg_metric c aggregatord_election_epoch)" = 0 ] || h_fail "c took '12x' for an epoch: $(agg_metric c aggregatord_election_epoch)"
h_ok "300 live keys in a group: a round reads 256 ($npeers peers besides the node), logged; an epoch key '12x' is no epoch"
adm SET "$KEY_C" 42 KEEPTTL > /dev/null	# another node's now
h_stop c
[ "$(adm GET "$KEY_C")" = 42 ] || h_fail "c's stop deleted a key it no longer held: $(adm GET "$KEY_C")"
agg_log_has c "key 'radius.8.c.attachment_time' no longer holds this node's timestamp [0-9]+ at stop: left alone" || h_fail "c did not log the key it left"
h_ok "a key taken by another after the node's last round: left alone at its stop (still 42)"
# c again, its Redis frozen from the start (a fault proxy): TIME does not
# answer, c has no timestamp: standby, no key written, none to delete at
# its stop
h_start_faultproxy rp "$r_PORT"
h_fault rp freeze
sed -i "s/port = $r_PORT;/port = $rp_PORT;/" "$H_TMP/c.conf"
mv "$H_TMP/c.log" "$H_TMP/c-1.log"
agg_start c "$H_TMP/c.conf"
h_wait_until 10 sh -c "curl -s $c_URL/v1/status | grep -q '\"redis\":\"down\"'" || h_fail "c's round with Redis frozen did not fail"
status_of c | grep -q '"role":"standby".*"reason":"redis unreachable: on_redis_down=standby"' || h_fail "c with Redis frozen: $(status_of c)"
agg_log_has c "TIME: " || h_fail "c did not log the TIME that did not answer"
h_stop c
[ "$H_EXIT_STATUS" = 0 ] || h_fail "c exit status $H_EXIT_STATUS"
[ "$(adm GET "$KEY_C")" = 42 ] || h_fail "c with no timestamp wrote its key: $(adm GET "$KEY_C")"
agg_log_has c "cannot delete key|deleted" && h_fail "c, never attached, tried to delete a key"
h_ok "Redis frozen from c's start: TIME unanswered, c standby with no key, nothing deleted at its stop"

# --- SCAN denied after its first page (only a cursor of 0 allowed; the
# 300 keys above make the keyspace span pages), to a2 (active) and b
# (forced standby): a2 stands down and deletes its key; allowed again: a2
# leads again ---
[ "$(adm SCAN 0 MATCH 'radius+7+*+attachment_time' COUNT 100 | head -n 1)" != 0 ] || h_fail "the keyspace fits one SCAN page"
[ "$(role a2)" = 1 ] || h_fail "a2 not active before the later SCAN pages are denied"
acl -scan '+scan|0'
h_wait_until 10 agg_metric_is a2 aggregatord_election_role 0 || h_fail "later SCAN pages denied: a2 still active"
h_wait_until 5 sh -c "[ \"\$(redis-cli -p $r_PORT --user admin --pass adm --no-auth-warning EXISTS $KEY_A)\" = 0 ]" || h_fail "later SCAN pages denied: a2's key stands while a2 is standby"
after_ms $((3 * INTERVAL))
[ "$(adm EXISTS "$KEY_A")" = 0 ] || h_fail "later SCAN pages denied: a2 renews its key while standby"
agg_log_has a2 "SCAN: NOPERM" || h_fail "a2 did not log the denied SCAN page"
acl_all
h_wait_until 10 agg_metric_is a2 aggregatord_election_role 1 || h_fail "SCAN allowed again: a2 not back"
h_ok "SCAN denied after its first page: a2 standby, its key deleted and not renewed; allowed again: a2 active"

# Redis gone under a2 (active, on_redis_down=standby): at the end of its
# lease it is standby, and the key it cannot delete is logged, then again
# at its stop
h_stop r
h_wait_until 10 agg_metric_is a2 aggregatord_election_role 0 || h_fail "a2 active with Redis gone for longer than ttl"
h_wait_until 5 agg_log_has a2 "cannot delete key .* while redis fails \(cannot connect" || h_fail "a2 did not log the key it could not delete on stepping down"
h_stop a2
agg_log_has a2 "cannot delete key .* at stop \(cannot connect" || h_fail "a2 did not log the key it could not delete at stop"
h_ok "Redis gone: a2 standby after ttl, the key it could not delete logged (standby and stop)"
h_stop b
