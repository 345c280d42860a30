#!/bin/sh
# deps.sh — install the Debian packages aggregatord builds, tests and demos with.
#
# Called by `make demo` and `make check` (and usable by hand).  It asks dpkg
# which packages are missing and installs only those, with apt-get, as root.
# Services that the packages would start at install time (mariadb, redis,
# influxdb, freeradius) are kept from starting: the tests and the demo run
# their own throwaway servers on loopback.
#
# DEPS_POLICY_RC_D (default /usr/sbin/policy-rc.d) names the policy file that
# keeps services from starting; tests/integration/test_deps.sh points it at
# a temp file, with stub dpkg-query, apt-get and id first in PATH, to check
# the exit status and the clean-up without installing anything.
set -eu

PKGS="build-essential pkg-config
libmariadb-dev libhiredis-dev librdkafka-dev libevent-dev libconfig-dev
zlib1g-dev check libpcre2-dev libxlsxwriter-dev gcovr
mariadb-server mariadb-client redis-server redis-tools influxdb influxdb-client
freeradius freeradius-mysql freeradius-utils freeradius-config
kcat capnproto prometheus systemd curl netcat-openbsd procps
unzip libxml2-utils perl clang libclang-rt-14-dev
mandoc bash-completion jq
debhelper dpkg-dev fakeroot lintian devscripts bubblewrap faketime"

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case "$st" in
        ii*) ;;
        *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing Debian packages:$missing" >&2
    echo "deps.sh: run 'sudo scripts/deps.sh' (apt-get needs root), then retry" >&2
    exit 1
fi

echo "deps.sh: installing:$missing" >&2
# Keep package scripts from starting system services.
policy=${DEPS_POLICY_RC_D:-/usr/sbin/policy-rc.d}
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps.sh: done" >&2
