#!/usr/bin/env bash
# test_export.sh — `aggregatorctl export`, offline, on real usage files: the
# .xlsx of one hour (unzipped, its sheet XML and shared strings read cell by
# cell), the CSV (exact text, quoting, formula guard), and the invoice
# workbook over a range of hours with a complete, a missing, an incomplete
# and an unreadable hour (summary rows and totals, one sheet per UTC day,
# exit status), plus usage errors.
#
# Files come from tests/harness/usage_cli.c (the fixed sample) and from the
# stock `capnp encode` (hours with known figures), compressed by usage_cli.
# Needs unzip and xmllint (Debian unzip, libxml2-utils) and capnp.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
: "${AGG_BUILD:=build}"
h_init

cli=$H_TOP/$AGG_BUILD/usage_cli
ctl=$H_TOP/$AGG_BUILD/aggregatorctl
schema=$H_TOP/docs/usage.capnp
[ -x "$cli" ] || h_fail "$cli is not built (make check builds it)"
[ -x "$ctl" ] || h_fail "$ctl is not built"
for tool in unzip xmllint capnp; do
    command -v "$tool" >/dev/null || h_fail "$tool is not installed"
done
cd "$H_TMP"
# Offline: no daemon anywhere, and a config file that does not exist.
export AGGREGATORD_URL=http://127.0.0.1:9
ctl() {
    "$ctl" -c /nonexistent/aggregatord.conf "$@"
}

# unpack X.xlsx DIR: the workbook's parts under DIR.
unpack() {
    rm -rf "$2" && mkdir -p "$2" && unzip -q -o "$1" -d "$2"
}

# cell DIR SHEET REF: the cell's value (shared strings resolved; "" if empty).
cell() {
    local x=$1/xl/worksheets/$2.xml t v
    t=$(xmllint --xpath "string(//*[local-name()='c'][@r='$3']/@t)" "$x")
    v=$(xmllint --xpath "string(//*[local-name()='c'][@r='$3']/*[local-name()='v'])" "$x")
    if [ "$t" = s ]; then
        xmllint --xpath "string((//*[local-name()='si'])[$((v + 1))])" "$1/xl/sharedStrings.xml"
    else
        printf '%s' "$v"
    fi
}

# expect DIR SHEET REF VALUE
expect() {
    local got
    got=$(cell "$1" "$2" "$3")
    [ "$got" = "$4" ] || h_fail "$2!$3 is '$got', want '$4'"
}

# file TEXT OUT: a usage file from a capnp text literal.
file() {
    mkdir -p "$(dirname "$2")"
    printf '%s\n' "$1" | capnp encode "$schema" HourUsage | "$cli" zlib > "$2"
}

# --- one hour as .xlsx ----------------------------------------------------

"$cli" encode sample.bin
ctl export sample.bin -o sample.xlsx || h_fail "export -o failed"
unpack sample.xlsx s
xmllint --noout s/xl/worksheets/sheet1.xml s/xl/sharedStrings.xml s/xl/workbook.xml ||
    h_fail "the workbook's XML is not well-formed"
grep -q '<sheet name="2023-11-14T22"' s/xl/workbook.xml || h_fail "sheet not named for the hour"
expect s sheet1 A1 "Usage of account acme, 2023-11-14 22:00 to 23:00 UTC"
expect s sheet1 A2 "complete: every configured location contributed (loc-a, loc-b)"
cols=ABCDEFGHIJK
i=0
for head in "location" "cloudspace" "vm" "mean memory (MiB)" "max disk (GiB)" "CPU (seconds)" \
            "read IOs (operations)" "write IOs (operations)" "net tx (bytes)" "net rx (bytes)" \
            "samples"; do
    expect s sheet1 "${cols:i:1}4" "$head"
    i=$((i + 1))
done
h_ok "one hour's sheet: title, completeness, header with units"

expect s sheet1 A5 loc-a
expect s sheet1 B5 cs-1234
expect s sheet1 C5 vm-5678-web
expect s sheet1 D5 2048.5
expect s sheet1 E5 40
expect s sheet1 F5 1234.25
expect s sheet1 G5 1000
expect s sheet1 H5 2000
expect s sheet1 I5 300000
expect s sheet1 J5 400000
expect s sheet1 K5 60
expect s sheet1 C6 "vm-été-日"
expect s sheet1 K6 59
expect s sheet1 A7 loc-b
expect s sheet1 K7 4294967295
h_ok "one row per VM with every figure (UTF-8 names kept)"

expect s sheet1 A8 total
expect s sheet1 C8 "3 VMs"
expect s sheet1 D8 2560.5
expect s sheet1 E8 60.5
expect s sheet1 F8 1234.375
expect s sheet1 H8 2002
expect s sheet1 J8 400005
expect s sheet1 K8 4294967414
h_ok "a totals row (sums; memory and disk: the sum of the per-VM figures)"

# --- one hour as CSV ------------------------------------------------------

ctl export sample.bin --csv > sample.csv || h_fail "export --csv failed"
cat > want.csv <<'EOF'
location,cloudspace,vm,mean memory (MiB),max disk (GiB),CPU (seconds),read IOs (operations),write IOs (operations),net tx (bytes),net rx (bytes),samples
loc-a,cs-1234,vm-5678-web,2048.5,40,1234.25,1000,2000,300000,400000,60
loc-a,cs-1234,vm-été-日,512,20.5,0.125,1,2,3,4,59
loc-b,cs-9,vm-max,0,0,0,18446744073709551615,0,18446744073709551615,1,4294967295
total,,3 VMs,2560.5,60.5,1234.375,18446744073709552616,2002,18446744073709851618,400005,4294967414
EOF
diff want.csv sample.csv >&2 || h_fail "the CSV differs"
h_ok "CSV: the same header, a row per VM, exact counters, a totals row"

file '(account = "odd", hourStart = 0, complete = true, locations = ["l"],
       vms = [(location = "q\"uote", cloudspace = "a,b", vm = "=1+2", samples = 1),
              (location = "bad\xff\xfeutf8", cloudspace = "line\nbreak", vm = "-x", samples = 2)])' odd.bin
ctl export odd.bin --csv > odd.csv
cat > want.csv <<'EOF'
location,cloudspace,vm,mean memory (MiB),max disk (GiB),CPU (seconds),read IOs (operations),write IOs (operations),net tx (bytes),net rx (bytes),samples
"q""uote","a,b","'=1+2",0,0,0,0,0,0,0,1
EOF
printf 'bad\xff\xfeutf8,"line\nbreak","'"'"'-x",0,0,0,0,0,0,0,2\ntotal,,2 VMs,0,0,0,0,0,0,0,3\n' >> want.csv
cmp -s want.csv odd.csv || { diff want.csv odd.csv >&2; h_fail "CSV quoting differs"; }
h_ok "CSV quotes commas, quotes and newlines, and guards formula-like fields"

ctl export odd.bin -o odd.xlsx || h_fail "export of odd names failed"
unpack odd.xlsx o
xmllint --noout o/xl/sharedStrings.xml || h_fail "invalid UTF-8 broke the shared strings"
expect o sheet1 C5 "=1+2"
expect o sheet1 A6 "bad��utf8"
grep -q '<f>' o/xl/worksheets/sheet1.xml && h_fail "a name became a formula"
h_ok "xlsx: names stay text (never formulas), invalid UTF-8 becomes U+FFFD"

# --- the invoice ------------------------------------------------------------

H=1699999200    # 2023-11-14T22:00Z
u=state/usage/acme/2023/11
file "(account = \"acme\", hourStart = $H, locations = [\"loc-a\", \"loc-b\"], complete = true,
       vms = [(location = \"loc-a\", cloudspace = \"cs-1\", vm = \"vm-a\", memMibMean = 1024,
               diskGibMax = 20, cpuSeconds = 100.5, ioRead = 10, ioWrite = 20,
               netTxBytes = 1000, netRxBytes = 2000, samples = 60),
              (location = \"loc-b\", cloudspace = \"cs-2\", vm = \"vm-b\", memMibMean = 512.25,
               diskGibMax = 40, cpuSeconds = 0.5, ioRead = 1, ioWrite = 2,
               netTxBytes = 3, netRxBytes = 4, samples = 30)])" $u/14/22.bin
# 23:00 is missing.
file "(account = \"acme\", hourStart = $((H + 7200)), locations = [\"loc-a\"], complete = false,
       vms = [(location = \"loc-a\", cloudspace = \"cs-1\", vm = \"vm-a\", memMibMean = 2048,
               diskGibMax = 20, cpuSeconds = 50, ioRead = 5, ioWrite = 6,
               netTxBytes = 7, netRxBytes = 8, samples = 60)])" $u/15/00.bin
file "(account = \"acme\", hourStart = $((H + 10800)), locations = [\"loc-a\"], complete = true,
       vms = [(location = \"loc-a\", cloudspace = \"cs-1\", vm = \"vm-a\", memMibMean = 1000,
               diskGibMax = 20, cpuSeconds = 25.25, ioRead = 1, ioWrite = 1,
               netTxBytes = 1, netRxBytes = 1, samples = 60)])" $u/15/01.bin
# 02:00 holds another hour (a mislabelled file): unreadable, not counted.
cp $u/15/01.bin $u/15/02.bin

rc=0
ctl export --dir state/usage --account acme --from 2023-11-14T22 --to 2023-11-15T02 \
    -o inv.xlsx 2> inv.err || rc=$?
[ "$rc" = 1 ] || h_fail "an invoice with an unreadable hour exits $rc, want 1"
[ -s inv.xlsx ] || h_fail "no workbook written"
grep -q '2023-11-14T23: missing' inv.err || h_fail "the missing hour is not reported: $(cat inv.err)"
grep -q '2023-11-15T02: unreadable' inv.err || h_fail "the unreadable hour is not reported"
grep -q "5 hours: 2 complete, 1 incomplete, 1 missing, 1 unreadable" inv.err ||
    h_fail "no summary line: $(cat inv.err)"
h_ok "invoice: written; missing, incomplete and unreadable hours reported, exit 1"

unpack inv.xlsx i
names=$(grep -o '<sheet name="[^"]*"' i/xl/workbook.xml | sed 's/<sheet name="//; s/"$//' | tr '\n' ' ')
[ "$names" = "Summary 2023-11-14 2023-11-15 " ] || h_fail "sheets are: $names"
expect i sheet1 A1 "Usage of account acme, hours 2023-11-14T22 to 2023-11-15T02 UTC (5 hours)"
expect i sheet1 A2 "5 hours: 2 complete, 1 incomplete, 1 missing, 1 unreadable"
expect i sheet1 A5 "hour (UTC)"
expect i sheet1 E5 "memory (MiB-hours)"
expect i sheet1 A6 2023-11-14T22
expect i sheet1 B6 complete
expect i sheet1 C6 "loc-a, loc-b"
expect i sheet1 D6 2
expect i sheet1 E6 1536.25
expect i sheet1 G6 101
expect i sheet1 A7 2023-11-14T23
expect i sheet1 B7 missing
expect i sheet1 D7 ""
expect i sheet1 B8 incomplete
expect i sheet1 C8 loc-a
expect i sheet1 L8 60
expect i sheet1 B9 complete
expect i sheet1 A10 2023-11-15T02
case $(cell i sheet1 B10) in
    "unreadable: "*"holds account 'acme', hour 2023-11-15T01") ;;
    *) h_fail "the mislabelled hour shows: $(cell i sheet1 B10)" ;;
esac
h_ok "summary: one row per hour with its status, locations and totals"

expect i sheet1 A11 total
expect i sheet1 D11 4
expect i sheet1 E11 4584.25
expect i sheet1 F11 100
expect i sheet1 G11 176.25
expect i sheet1 H11 17
expect i sheet1 I11 29
expect i sheet1 J11 1011
expect i sheet1 K11 2013
expect i sheet1 L11 210
h_ok "summary totals over the readable hours"

expect i sheet2 A1 "hour (UTC)"
expect i sheet2 E1 "mean memory (MiB)"
expect i sheet2 A2 2023-11-14T22
expect i sheet2 D2 vm-a
expect i sheet2 E3 512.25
expect i sheet2 B4 total
expect i sheet2 D4 "2 VMs"
expect i sheet2 G4 101
expect i sheet3 A2 2023-11-15T00
expect i sheet3 A3 2023-11-15T01
expect i sheet3 F3 20
expect i sheet3 B4 total
expect i sheet3 E4 3048
h_ok "one detail sheet per UTC day: a row per VM and hour, the day's totals"

rm $u/15/02.bin
ctl export --dir state/usage --account acme --from 2023-11-14T22 --to 2023-11-15T02 \
    -o inv2.xlsx 2> inv2.err || h_fail "an invoice with only missing/incomplete hours failed"
grep -q "0 unreadable" inv2.err || h_fail "summary: $(cat inv2.err)"
unpack inv2.xlsx j
expect j sheet1 B10 missing
h_ok "missing and incomplete hours do not fail the export (exit 0)"

# --- errors -------------------------------------------------------------------

expect_rc() {   # expect_rc RC WHAT ARGS...
    local want=$1 what=$2 rc=0
    shift 2
    ctl "$@" > out.txt 2> err.txt || rc=$?
    [ "$rc" = "$want" ] || h_fail "$what: exit $rc, want $want ($(cat err.txt))"
    grep -q 'aggregatorctl' err.txt || h_fail "$what: no message"
}
expect_rc 2 "no output form" export sample.bin
expect_rc 2 "both output forms" export sample.bin --csv -o x.xlsx
expect_rc 2 "unknown option" export sample.bin --bogus
expect_rc 2 "bad hour" export --dir state/usage --account acme --from 2023-13-01T00 --to 2023-11-15T02 -o x.xlsx
expect_rc 2 "day 31 of November" export --dir state/usage --account acme --from 2023-11-31T00 --to 2023-12-01T00 -o x.xlsx
expect_rc 2 "invoice without -o" export --dir state/usage --account acme --from 2023-11-14T22 --to 2023-11-15T02
expect_rc 1 "--to before --from" export --dir state/usage --account acme --from 2023-11-15T02 --to 2023-11-14T22 -o x.xlsx
expect_rc 1 "an account with a slash" export --dir state/usage --account ../etc --from 2023-11-14T22 --to 2023-11-15T02 -o x.xlsx
expect_rc 1 "a year of hours and more" export --dir state/usage --account acme --from 2020-01-01T00 --to 2021-12-31T23 -o x.xlsx
expect_rc 1 "a missing file" export nosuch.bin --csv
grep -q "nosuch.bin': No such file" err.txt || h_fail "missing file: $(cat err.txt)"
head -c 200 /dev/urandom > junk.bin
expect_rc 1 "a corrupt file" export junk.bin -o junk.xlsx
[ ! -e junk.xlsx ] || h_fail "a workbook was written for a corrupt file"
expect_rc 1 "an unwritable output" export sample.bin -o /nonexistent/dir/x.xlsx
h_ok "usage errors exit 2, unreadable input and unwritable output exit 1, with a message"
