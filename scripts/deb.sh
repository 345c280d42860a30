#!/usr/bin/env bash
# deb.sh VERSION OUTDIR — the Debian package, with the Debian tools.
#
# Called by `make deb`.  Copies the source (the files git knows, or the
# whole tree less build output when this is no git checkout) to
# OUTDIR/src/aggregatord-VERSION, runs `dpkg-buildpackage -us -uc -b` there
# (so the package's `make clean` never touches this tree's build/ and the
# results do not land beside the checkout), and moves the .deb, .buildinfo
# and .changes to OUTDIR.  Refuses when debian/changelog's version is not
# the Makefile's VERSION.
set -euo pipefail

version=$1
out=$2
top=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$top"

cl=$(dpkg-parsechangelog -S Version)
if [ "$cl" != "$version" ]; then
    echo "deb.sh: debian/changelog is at $cl, the Makefile's VERSION is $version:" \
        "add an entry (dch -v $version)" >&2
    exit 1
fi

src=$out/src/aggregatord-$version
rm -rf "$out"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # tracked and new files (as they are in the tree), not ignored ones
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            if [ -e "$f" ]; then printf '%s\0' "$f"; fi
        done | tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude=./build --exclude=./build-san --exclude=./build-cov --exclude=./.git -cf - . | tar -xf - -C "$src"
fi

# The package is the release build whatever make runs this: no SANITIZE or
# COVERAGE (nor the rest of an enclosing make's command line) reaches it.
(cd "$src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE -u COVERAGE \
    dpkg-buildpackage -us -uc -b -jauto) > "$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log" >&2
    echo "deb.sh: dpkg-buildpackage failed (log: $out/build.log)" >&2
    exit 1
}
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/
rm -rf "$out/src"
ls "$out"/*.deb
