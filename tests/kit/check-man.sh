#!/usr/bin/env bash
# check-man.sh BUILD — the man pages hold to the code (make man-lint).
#
# aggregatord.conf(5): every key the config parser accepts, as printed by
# BUILD/cfg_keys from the key tables (core, each job's, and the nested ones:
# sweep.master.host, totalizer.rules[].prefix ...), has an item
# ".It Cm KEY" in man/aggregatord.conf.5, and every such item is a real key.
# aggregatorctl(1): every command and option of aggregatorctl, taken from
# its usage texts (--help, `export` without arguments) and from the option
# names in src/ctl/*.c (getopt string, long options, "--name" literals,
# export's opt_value() names), is
# in man/aggregatorctl.1 (commands as "Ic NAME", options as "Fl X"/"Fl -NAME").
# aggregatord(8): every option of `aggregatord --help`.  Prints what is
# missing and exits 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
fail=0
miss() { echo "check-man: $*" >&2; fail=1; }

# --- aggregatord.conf(5) ---
conf5=man/aggregatord.conf.5
keys=$("$build/cfg_keys" conf/aggregatord.conf)
[ "$(wc -l <<<"$keys")" -gt 50 ] || miss "cfg_keys printed too few keys: $keys"
items=$(awk '$1 == ".It" && $2 == "Cm" { print $3 }' "$conf5" | sort -u)
while read -r k; do
    grep -qxF -- "$k" <<<"$items" || miss "$conf5 lacks the key '$k' (.It Cm $k)"
done <<<"$keys"
while read -r i; do
    grep -qxF -- "$i" <<<"$keys" || miss "$conf5 documents '$i', which is no key"
done <<<"$items"
# Nested tables are reached (the walk of the jobs' static tables works).
for k in sweep.master.host sweep.members[].name rollup.influxdb.url rollup.locations[].url \
         totalizer.rules[].prefix; do
    grep -qxF -- "$k" <<<"$keys" || miss "cfg_keys did not find the nested key '$k'"
done

# --- aggregatorctl(1) ---
ctl1=man/aggregatorctl.1
ctl=$build/aggregatorctl
help=$("$ctl" --help; "$ctl" export 2>&1 || true)
opts=$( { grep -oE '(^|[][ |,])--?[A-Za-z][A-Za-z-]*' <<<"$help" | sed 's/^[][ |,]//'
          grep -ohE '"--[A-Za-z][A-Za-z-]*"' src/ctl/aggregatorctl.c src/ctl/export.c | tr -d '"'
          grep -ohE 'opt_value\([^)]*"-[A-Za-z]"' src/ctl/export.c | grep -oE '"-[A-Za-z]"' | tr -d '"'
          sed -n 's/.*getopt_long([^"]*"+\{0,1\}\([A-Za-z:]*\)".*/\1/p' src/ctl/aggregatorctl.c |
              tr -d ':' | grep -o . | sed 's/^/-/'
          sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", [a-z_]*argument.*/--\1/p' src/ctl/aggregatorctl.c
        } | grep -vx -- '--' | sort -u)
[ "$(wc -l <<<"$opts")" -gt 10 ] || miss "found too few aggregatorctl options: $opts"
while read -r o; do
    grep -qE -- "(^\.| )Fl ${o#-}( |$)" "$ctl1" || miss "$ctl1 lacks the option '$o' (Fl ${o#-})"
done <<<"$opts"
cmds=$(sed -n '/^usage:/,/^options:/s/^  \([a-z][a-z]*\) .*/\1/p' <<<"$help" | sort -u)
[ "$(wc -l <<<"$cmds")" -ge 4 ] || miss "found too few aggregatorctl commands: $cmds"
while read -r c; do
    grep -qE -- "(^\.| )Ic $c( |$)" "$ctl1" || miss "$ctl1 lacks the command '$c' (Ic $c)"
done <<<"$cmds"
for r in $(sed -n 's/^  role \([a-z|]*\) .*/\1/p' <<<"$help" | tr '|' ' '); do
    grep -qE -- "Cm .*\b$r\b" "$ctl1" || miss "$ctl1 lacks the role '$r'"
done

# aggregatorctl --version, as the page says: "aggregatorctl VERSION", exit 0.
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
out=$("$ctl" --version) || miss "aggregatorctl --version exited $?"
[ "$out" = "aggregatorctl $version" ] || miss "aggregatorctl --version printed '$out', not 'aggregatorctl $version'"

# --- aggregatord(8) ---
d8=man/aggregatord.8
dopts=$("$build/aggregatord" --help | grep -oE '(^|[][ |,])--?[A-Za-z][A-Za-z-]*' | sed 's/^[][ |,]//' | sort -u)
while read -r o; do
    grep -qE -- "(^\.| )Fl ${o#-}( |$)" "$d8" || miss "$d8 lacks the option '$o' (Fl ${o#-})"
done <<<"$dopts"

[ $fail -eq 0 ] || exit 1
echo "man: $(wc -l <<<"$keys") config keys, $(wc -l <<<"$opts") aggregatorctl options," \
     "$(wc -l <<<"$cmds") commands, $(wc -l <<<"$dopts") aggregatord options documented"
