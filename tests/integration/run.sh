#!/usr/bin/env bash
# run.sh — run every integration test (tests/integration/test_*.sh), or the
# ones named on the command line, one after another.  Each test is a bash
# script that starts its own servers and exits non-zero on failure.  Prints
# each test's verdict and time, the output of failed ones, and a closing
# "N passed, N failed" line; exits 1 if any failed.
set -u
cd "$(dirname "$0")/../.." || exit 1

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    tests=(tests/integration/test_*.sh)
fi

pass=0
fail=0
failed=()
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    out=$(mktemp)
    start=$(date +%s.%N)
    if bash "$t" >"$out" 2>&1; then
        rc=0
    else
        rc=$?
    fi
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        printf 'PASS  %-28s %6ss  (%s checks)\n' "$name" "$secs" "$(grep -c '^ok ' "$out")"
    else
        fail=$((fail + 1))
        failed+=("$name")
        printf 'FAIL  %-28s %6ss  (exit %d)\n' "$name" "$secs" "$rc"
        sed 's/^/    | /' "$out" | tail -n 80
    fi
    rm -f "$out"
done
echo
[ $fail -eq 0 ] || echo "failed: ${failed[*]}"
echo "integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
