#!/usr/bin/env bash
# check-examples.sh BUILD — every example config in conf/examples/ passes
# `aggregatord -n` (make kit-check), and there is one per deployment.  Each
# is checked from a private copy (mode 0600, as it would be installed with
# its secrets), so the warnings shown are the file's own.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
for want in totalizer election-pair sweeper rollup-location rollup-master; do
    [ -f "conf/examples/$want.conf" ] || { echo "check-examples: conf/examples/$want.conf is missing" >&2; fail=1; }
done
n=0
for f in conf/examples/*.conf; do
    install -m 0600 "$f" "$tmp/$(basename "$f")"
    if out=$("$build/aggregatord" -n -c "$tmp/$(basename "$f")" 2>"$tmp/err") &&
       [ "$out" = "configuration OK" ]; then
        n=$((n + 1))
        sed "s|$tmp/|conf/examples/|; s|^|  warning: |" "$tmp/err"
    else
        echo "check-examples: $f does not pass aggregatord -n:" >&2
        cat "$tmp/err" >&2
        fail=1
    fi
done
[ $fail -eq 0 ] || exit 1
echo "examples: $n configs pass aggregatord -n"
