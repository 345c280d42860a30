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

port=$(h_free_port tcp)
conf=$H_TMP/aggregatord.conf
cat > "$conf" <<CONF
node = { name = "demo-a"; state_dir = "$H_TMP/state"; };
log  = { level = "info"; };
http = { listen = "127.0.0.1:$port"; token = "demo-token"; };
CONF

say "the config, checked as systemd's ExecStartPre does"
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

say "without the token, the API says no (except /healthz)"
run curl -s "http://127.0.0.1:$port/v1/status"; echo
run curl -s "http://127.0.0.1:$port/healthz"

say "systemctl stop (SIGTERM): clean exit"
h_stop a
echo "exit status: $H_EXIT_STATUS"
tail -n 3 "$H_TMP/demo-a.log" | sed 's/^/  log: /'
echo
echo "demo done."
