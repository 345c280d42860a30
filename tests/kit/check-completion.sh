#!/usr/bin/env bash
# check-completion.sh BUILD — the bash completion of aggregatorctl (make
# kit-check): sourced into a plain bash, its function is called with
# COMP_WORDS/COMP_CWORD as readline would, and COMPREPLY is compared with
# what it must offer.  Every command and option that aggregatorctl's usage
# texts name must be offered somewhere.  Prints what differs, exits 1.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
comp=contrib/bash-completion/aggregatorctl
fail=0

# shellcheck source=/dev/null
. "$comp" || { echo "check-completion: cannot source $comp" >&2; exit 1; }
complete -p aggregatorctl | grep -q -- '-F _aggregatorctl' ||
    { echo "check-completion: $comp does not register _aggregatorctl" >&2; exit 1; }

# offered WORD... — the words offered for the command line WORD... (the last
# one being completed), sorted, on one line.
offered() {
    COMP_WORDS=(aggregatorctl "$@")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _aggregatorctl aggregatorctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" || true
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
expect() {
    local want=$1; shift
    local got; got=$(offered "$@")
    [ "$got" = "$want" ] || { echo "check-completion: 'aggregatorctl $*': offered '$got', want '$want'" >&2; fail=1; }
}

expect 'export role status total' ''
expect 'role' r
expect 'status' -s http://x s
expect '--help --json --version' --
expect 'active auto' role a
expect 'active auto standby yield' role ''
expect '' role active ''
expect '--json' status --
expect '--json --window' total web_client '*' --
expect '' total web_client --window ''
expect '--account' export --a
expect '--csv' export x.bin --c
expect '' export --account ''

# Files where files are asked for.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/usage.d"; touch "$tmp/acme.bin" "$tmp/notes.txt" "$tmp/agg.conf"
expect "$tmp/acme.bin $tmp/usage.d" export "$tmp/"
expect "$tmp/usage.d" export --dir "$tmp/u"
expect "$tmp/agg.conf" -c "$tmp/ag"
expect "$tmp/notes.txt" export x.bin -o "$tmp/n"

# Everything the usage texts name is offered.
all=" $(offered '') $(offered -) $(offered status -) $(offered total p -) $(offered role '') $(offered export -) "
help=$("$build/aggregatorctl" --help; "$build/aggregatorctl" export 2>&1 || true)
words=$( { grep -oE '(^|[][ |,])--?[A-Za-z][A-Za-z-]*' <<<"$help" | sed 's/^[][ |,]//'
           sed -n '/^usage:/,/^options:/s/^  \([a-z][a-z]*\) .*/\1/p' <<<"$help"
           sed -n 's/^  role \([a-z|]*\) .*/\1/p' <<<"$help" | tr '|' '\n'; } | sort -u)
for w in $words; do
    [[ $all == *" $w "* ]] || { echo "check-completion: '$w' (aggregatorctl's usage) is never offered" >&2; fail=1; }
done

[ $fail -eq 0 ] || exit 1
echo "completion: $(wc -w <<<"$words") commands, options and words offered as they should be"
