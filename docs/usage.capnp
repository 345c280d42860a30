# usage.capnp — the rollup's hourly usage file: one message per account and hour.
#
# A file <state_dir>/usage/<account>/<YYYY>/<MM>/<DD>/<HH>.bin is a zlib stream
# (RFC 1950) of exactly one Cap'n Proto message in the standard stream framing
# whose root is HourUsage.  aggregatord writes it as a single segment in
# Cap'n Proto's canonical layout, with the VMs and locations sorted, so the
# same hour always gives the same bytes; readers (aggregatord's own, or the
# stock tool) accept any valid message, several segments and far pointers
# included.
#
# Reading a file with the stock tool:
#
#   zlib-flate -uncompress < 13.bin | capnp decode docs/usage.capnp HourUsage
#   (or: python3 -c 'import sys,zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))')
#
# Evolving the schema: add fields only at the end with the next ordinal
# (@5 in HourUsage, @11 in VmUsage); never renumber, retype or remove one.
# Old readers ignore new fields; new readers see a missing field as its
# default (0, false, empty).

@0xf90857834aff856e;

# Usage of one cloud account during one hour, UTC.
struct HourUsage {
  account @0 :Text;
  # The cloud account (the InfluxDB tag `account`).

  hourStart @1 :Int64;
  # Start of the hour, Unix seconds, UTC, a multiple of 3600: the file holds
  # usage in [hourStart, hourStart + 3600).

  locations @2 :List(Text);
  # Locations whose data is in this file, sorted (byte order).

  complete @3 :Bool;
  # Written by a master: every configured location contributed.  A location
  # node's own file has its one location and complete = true.

  vms @4 :List(VmUsage);
  # One record per VM, sorted by location, cloudspace, vm (byte order).
}

# Usage of one VM during the hour.
struct VmUsage {
  location @0 :Text;
  # The location (data centre) the VM ran in.

  cloudspace @1 :Text;
  # The cloudspace (the InfluxDB tag `cloudspace`).

  vm @2 :Text;
  # The VM (the InfluxDB tag `vm`).

  memMibMean @3 :Float64;
  # Mean memory in use over the hour's samples, MiB (2^20 bytes).

  diskGibMax @4 :Float64;
  # Largest provisioned disk seen in the hour, GiB (2^30 bytes).

  cpuSeconds @5 :Float64;
  # CPU time used in the hour, seconds (summed over the VM's vCPUs).

  ioRead @6 :UInt64;
  # Read operations in the hour, count.

  ioWrite @7 :UInt64;
  # Write operations in the hour, count.

  netTxBytes @8 :UInt64;
  # Bytes sent by the VM in the hour, bytes.

  netRxBytes @9 :UInt64;
  # Bytes received by the VM in the hour, bytes.

  samples @10 :UInt32;
  # Samples the figures come from, count.
}
