#!/usr/bin/env bash
# test_usage_capnp.sh — the usage file format against the stock Cap'n Proto
# tool (Debian capnproto): `capnp decode docs/usage.capnp HourUsage` reads
# what aggregatord writes (raw, and after zlib) with the right values; our
# bytes are Cap'n Proto's canonical form; messages written by `capnp encode`
# (one segment, and --segment-size small enough for many segments and far
# pointers) are read by our decoder with the right values; other framings
# are refused cleanly.  Also prints the file size per VM (the issue's goal:
# under 64 bytes per VM) for 10 and 1000 VMs.
#
# The driver tests/harness/usage_cli.c is built by make into $AGG_BUILD/.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
: "${AGG_BUILD:=build}"
h_init

cli=$H_TOP/$AGG_BUILD/usage_cli
schema=$H_TOP/docs/usage.capnp
[ -x "$cli" ] || h_fail "$cli is not built (make check builds it)"
command -v capnp >/dev/null || h_fail "capnp is not installed (Debian package capnproto)"
cd "$H_TMP"

capnp compile -o- "$schema" >/dev/null || h_fail "capnp compile refuses docs/usage.capnp"
h_ok "capnp compile accepts docs/usage.capnp"

# The fixed sample of usage_cli, as the stock tool prints it.
want_text='(account = "acme", hourStart = 1699999200, locations = ["loc-a", "loc-b"], complete = true, vms = [(location = "loc-a", cloudspace = "cs-1234", vm = "vm-5678-web", memMibMean = 2048.5, diskGibMax = 40, cpuSeconds = 1234.25, ioRead = 1000, ioWrite = 2000, netTxBytes = 300000, netRxBytes = 400000, samples = 60), (location = "loc-a", cloudspace = "cs-1234", vm = "vm-été-日", memMibMean = 512, diskGibMax = 20.5, cpuSeconds = 0.125, ioRead = 1, ioWrite = 2, netTxBytes = 3, netRxBytes = 4, samples = 59), (location = "loc-b", cloudspace = "cs-9", vm = "vm-max", memMibMean = 0, diskGibMax = 0, cpuSeconds = 0, ioRead = 18446744073709551615, ioWrite = 0, netTxBytes = 18446744073709551615, netRxBytes = 1, samples = 4294967295)])'

# ... and as usage_cli decode prints it.
want_dump=$(cat <<'EOF'
account: acme
hour_start: 1699999200
complete: true
locations: loc-a loc-b
vms: 3
vm[0]: location=loc-a cloudspace=cs-1234 vm=vm-5678-web mem_mib_mean=2048.5 disk_gib_max=40 cpu_seconds=1234.25 io_read=1000 io_write=2000 net_tx_bytes=300000 net_rx_bytes=400000 samples=60
vm[1]: location=loc-a cloudspace=cs-1234 vm=vm-été-日 mem_mib_mean=512 disk_gib_max=20.5 cpu_seconds=0.125 io_read=1 io_write=2 net_tx_bytes=3 net_rx_bytes=4 samples=59
vm[2]: location=loc-b cloudspace=cs-9 vm=vm-max mem_mib_mean=0 disk_gib_max=0 cpu_seconds=0 io_read=18446744073709551615 io_write=0 net_tx_bytes=18446744073709551615 net_rx_bytes=1 samples=4294967295
EOF
)

# --- our files, read by capnp -------------------------------------------

"$cli" encode --raw sample.raw
"$cli" encode sample.bin
got=$(capnp decode --short "$schema" HourUsage < sample.raw) ||
    h_fail "capnp decode refuses our raw message"
[ "$got" = "$want_text" ] || h_fail "capnp decode shows $got"
h_ok "capnp decode shows the right values of our raw message"

"$cli" unzlib < sample.bin > unzipped.raw || h_fail "our file is not one zlib stream"
cmp -s unzipped.raw sample.raw || h_fail "the zlib file does not hold the raw message"
got=$(capnp decode --short "$schema" HourUsage < unzipped.raw)
[ "$got" = "$want_text" ] || h_fail "capnp decode of the decompressed file shows $got"
h_ok "a decompressed file is the same message; capnp decode shows the right values"

# Canonical: capnp's canonical form (no segment table) is our segment, byte for byte.
capnp convert binary:canonical < sample.raw > canonical.flat ||
    h_fail "capnp convert binary:canonical refuses our message"
tail -c +9 sample.raw > ours.flat
cmp -s canonical.flat ours.flat || h_fail "our message is not in canonical form"
[ "$(head -c 8 sample.raw | od -An -tu4 | awk '{print $1}')" = 0 ] ||
    h_fail "our message has more than one segment"
h_ok "our message is a single segment in Cap'n Proto's canonical form"

# Encoding is deterministic.
"$cli" encode sample2.bin
cmp -s sample.bin sample2.bin || h_fail "two encodings of the same hour differ"
h_ok "the same hour gives the same bytes"

# Larger lists, with realistic names: capnp reads every VM.
for n in 10 1000; do
    "$cli" synth "$n" --raw "synth$n.raw"
    "$cli" synth "$n" "synth$n.bin"
    got=$(capnp decode --short "$schema" HourUsage < "synth$n.raw" | grep -o 'samples = 60' | wc -l)
    [ "$got" = "$n" ] || h_fail "capnp decode shows $got of $n VMs"
    tail -c +9 "synth$n.raw" > "synth$n.flat"
    capnp convert binary:canonical < "synth$n.raw" | cmp -s - "synth$n.flat" ||
        h_fail "the $n-VM message is not canonical"
    ours=$("$cli" decode "synth$n.bin" | grep -c '^vm\[')
    [ "$ours" = "$n" ] || h_fail "our decoder reads $ours of $n VMs"
done
h_ok "capnp decode reads all of 10 and 1000 VMs; both messages canonical"

per10=$(stat -c %s synth10.bin)
per1000=$(stat -c %s synth1000.bin)
printf '# zlib file bytes per VM: 10 VMs: %s.%s, 1000 VMs: %s.%s (goal: under 64)\n' \
    $(( per10 / 10 )) $(( per10 % 10 )) $(( per1000 / 1000 )) $(( per1000 % 1000 / 100 ))
if [ $(( per10 / 10 )) -ge 64 ] || [ $(( per1000 / 1000 )) -ge 64 ]; then
    h_fail "a file takes 64 bytes per VM or more"
fi
h_ok "files take under 64 bytes per VM (10 and 1000 VMs)"

# --- capnp's messages, read by us ---------------------------------------

printf '%s\n' "$want_text" > sample.txt
capnp encode "$schema" HourUsage < sample.txt > capnp1.raw
got=$("$cli" decode --raw capnp1.raw) || h_fail "our decoder refuses capnp encode's message"
[ "$got" = "$want_dump" ] || h_fail "our decoder reads capnp encode's message as: $got"
h_ok "our decoder reads capnp encode's single-segment message"

for size in 1 2 3 5 8 16 64; do
    capnp encode --segment-size="$size" "$schema" HourUsage < sample.txt > "seg$size.raw"
    segs=$(( $(head -c 4 "seg$size.raw" | od -An -tu4 | awk '{print $1}') + 1 ))
    if [ "$size" -le 16 ] && [ "$segs" -lt 2 ]; then
        h_fail "--segment-size=$size gave $segs segment(s): no far pointers to test"
    fi
    got=$("$cli" decode --raw "seg$size.raw") ||
        h_fail "our decoder refuses the --segment-size=$size message ($segs segments)"
    [ "$got" = "$want_dump" ] || h_fail "--segment-size=$size ($segs segments) reads as: $got"
    "$cli" zlib < "seg$size.raw" > "seg$size.bin"
    got=$("$cli" decode "seg$size.bin") || h_fail "the zlib'd --segment-size=$size message is refused"
    [ "$got" = "$want_dump" ] || h_fail "the zlib'd --segment-size=$size message reads as: $got"
    echo "# --segment-size=$size: $segs segment(s), read right"
done
h_ok "our decoder reads capnp encode's multi-segment messages (far pointers), raw and zlib'd"

# Round trip through the stock tool: ours -> text -> capnp's binary -> ours.
capnp decode "$schema" HourUsage < sample.raw | capnp encode --segment-size=4 "$schema" HourUsage > back.raw
got=$("$cli" decode --raw back.raw)
[ "$got" = "$want_dump" ] || h_fail "the round trip through capnp changed the hour: $got"
h_ok "ours -> capnp decode -> capnp encode -> ours keeps every value"

# Older writers: a message without the newer fields (here: only the first two
# of HourUsage) reads with defaults.
echo '(account = "old", hourStart = 3600)' | capnp encode "$schema" HourUsage > old.raw
got=$("$cli" decode --raw old.raw)
[ "$got" = "$(printf 'account: old\nhour_start: 3600\ncomplete: false\nlocations:\nvms: 0')" ] ||
    h_fail "a sparse message reads as: $got"
h_ok "a message with fields left out reads them as defaults"

# --- other framings are refused, with a reason ---------------------------

capnp encode --packed "$schema" HourUsage < sample.txt > packed.raw
if "$cli" decode --raw packed.raw > /dev/null 2> err.txt; then
    h_fail "a packed message was accepted"
fi
grep -q "usage_cli: 'packed.raw': " err.txt || h_fail "no reason for refusing a packed message"
capnp encode --flat "$schema" HourUsage < sample.txt > flat.raw
if "$cli" decode --raw flat.raw > /dev/null 2> err.txt; then
    h_fail "a message without segment table was accepted"
fi
if "$cli" decode sample.raw > /dev/null 2> err.txt; then
    h_fail "a raw message was accepted as a zlib file"
fi
grep -q "zlib" err.txt || h_fail "refusing a raw message as a file: $(cat err.txt)"
h_ok "packed, flat and uncompressed messages are refused as files, with a reason"
