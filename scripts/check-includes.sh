#!/usr/bin/env bash
# check-includes.sh — the include rules of the tree (docs/architecture.md),
# checked over the #include lines of src/ and include/.  Run by `make check`.
#
#   core <- publish <- jobs (election, totalizer, sweep, rollup) <- daemon
#   - core includes only core;
#   - publish includes core and publish;
#   - a job includes core, publish and its own group, never another job and
#     never the daemon (daemon.h is private to it);
#   - daemon (main, the loop, the job table, the status routes) assembles
#     the rest and may include any group;
#   - ctl (the client) includes core, ctl and the rollup's file codec (usage.h).
#   - A pure core (the files listed in PURE) includes no MariaDB, hiredis,
#     librdkafka or libevent header, directly or through a project header.
#
# Prints one line per broken rule ("FILE: includes HEADER (GROUP): RULE") and
# exits 1 if there is any; prints "include rules: N files OK" otherwise.
set -u
shopt -s nullglob
cd "$(dirname "$0")/.." || exit 1

PURE="src/core/buf.c src/core/json.c src/core/addr.c src/core/role.c src/core/smap.c
src/publish/gateq.c src/election/elect_decide.c
src/totalizer/rules.c src/totalizer/tally.c src/totalizer/window.c
src/sweep/radacct.c src/sweep/ra_seen.c
src/rollup/vm_hour.c src/rollup/influx_parse.c src/rollup/influx_query.c src/rollup/usage_capnp.c
src/rollup/rollup_hours.c"
IO_RE='^(mysql\.h|mariadb/|hiredis/|librdkafka/|event2/)'

declare -A group_of=()     # header file name -> group
for h in include/*/*.h; do
    g=${h#include/}; g=${g%%/*}
    group_of[$(basename "$h")]=$g
done

allowed() {   # allowed FROM_GROUP TO_GROUP HEADER FILE
    local from=$1 to=$2 hdr=$3 file=$4
    [ "$from" = "$to" ] && return 0
    case $from in
        daemon) return 0 ;;
        core) return 1 ;;
        publish) [ "$to" = core ] ;;
        ctl) [ "$to" = core ] || [ "$hdr" = usage.h ] ;;
        *) [ "$to" = core ] || [ "$to" = publish ] ;;
    esac
}

# the system headers a project header pulls in, through its own includes
declare -A sys_of=()
header_sys() {   # header_sys NAME: prints the system headers NAME reaches
    local name=$1 path
    [ -n "${sys_of[$name]+x}" ] && { printf '%s' "${sys_of[$name]}"; return; }
    sys_of[$name]=""
    path=$(ls include/*/"$name" 2>/dev/null | head -n 1)
    [ -n "$path" ] || return
    local out="" inc
    while read -r inc; do
        case $inc in
            \<*) out+="${inc:1:${#inc}-2} " ;;
            \"*) out+=$(header_sys "${inc:1:${#inc}-2}") ;;
        esac
    done < <(sed -n 's/^#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$path")
    sys_of[$name]=$out
    printf '%s' "$out"
}

bad=0 n=0
for f in src/*.c src/*/*.c include/*/*.h; do
    n=$((n + 1))
    case $f in
        src/*) from=${f#src/}; from=${from%%/*} ;;
        include/*) from=${f#include/}; from=${from%%/*} ;;
    esac
    pure=0
    case " $(echo $PURE) " in *" $f "*) pure=1 ;; esac
    while read -r inc; do
        case $inc in
            \"*)
                hdr=${inc:1:${#inc}-2}
                to=${group_of[$hdr]:-}
                if [ -z "$to" ]; then
                    echo "$f: includes \"$hdr\", which is in no group under include/"
                    bad=$((bad + 1))
                elif ! allowed "$from" "$to" "$hdr" "$f"; then
                    echo "$f: includes $hdr ($to): $from may not depend on $to"
                    bad=$((bad + 1))
                fi
                if [ $pure = 1 ]; then
                    for s in $(header_sys "$hdr"); do
                        if [[ $s =~ $IO_RE ]]; then
                            echo "$f: pure core reaches <$s> through $hdr"
                            bad=$((bad + 1))
                        fi
                    done
                fi
                ;;
            \<*)
                s=${inc:1:${#inc}-2}
                if [ $pure = 1 ] && [[ $s =~ $IO_RE ]]; then
                    echo "$f: pure core includes <$s>"
                    bad=$((bad + 1))
                fi
                ;;
        esac
    done < <(sed -n 's/^#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f")
done
for p in $PURE; do
    [ -e "$p" ] || { echo "$p: listed as a pure core but missing"; bad=$((bad + 1)); }
done
if [ $bad -gt 0 ]; then
    echo "include rules: $bad broken (docs/architecture.md, 'The tree')"
    exit 1
fi
echo "include rules: $n files OK"
