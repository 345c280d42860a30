#!/usr/bin/env bash
# check-install-kit.sh BUILD — `make install DESTDIR=... PREFIX=/usr` puts
# the man pages under MANDIR (PREFIX/share/man) and the bash completion
# under PREFIX/share/bash-completion/completions, mode 0644, and `man -l`
# renders the installed pages (make kit-check).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
make -s install BUILD="$build" DESTDIR="$tmp" PREFIX=/usr >/dev/null
fail=0
for f in share/man/man1/aggregatorctl.1 share/man/man5/aggregatord.conf.5 share/man/man8/aggregatord.8 \
         share/bash-completion/completions/aggregatorctl; do
    p=$tmp/usr/$f
    if [ ! -f "$p" ]; then
        echo "check-install-kit: make install did not install /usr/$f" >&2; fail=1; continue
    fi
    [ "$(stat -c %a "$p")" = 644 ] || { echo "check-install-kit: /usr/$f is mode $(stat -c %a "$p")" >&2; fail=1; }
    case $f in
        share/man/*) page=$(mandoc -Tascii "$p" | sed 's/.\x08//g')
            grep -qx 'NAME' <<<"$page" ||
            { echo "check-install-kit: /usr/$f does not render" >&2; fail=1; } ;;
    esac
done
[ $fail -eq 0 ] || exit 1
echo "install: man pages and bash completion under DESTDIR/usr/share"
