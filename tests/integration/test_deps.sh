#!/usr/bin/env bash
# test_deps.sh — scripts/deps.sh on a first run, without installing anything:
# stub dpkg-query (one package missing), apt-get (records its calls and
# whether the policy file was there) and id (root) come first in PATH, and
# DEPS_POLICY_RC_D points at a temp file.  Whether the policy file was
# already there (every Debian container image ships one) or not, deps.sh
# exits 0, keeps services from starting while apt-get runs, and leaves the
# policy file as it found it.
set -euo pipefail
. "$(dirname "$0")/../harness/lib.sh"
h_init

stub=$H_TMP/stub
mkdir -p "$stub"
cat > "$stub/dpkg-query" <<'EOF'
#!/bin/sh
# -W -f='${db:Status-Abbrev}' PKG: every package installed but kcat
for last; do :; done
[ "$last" = kcat ] && exit 1
printf 'ii '
EOF
cat > "$stub/apt-get" <<'EOF'
#!/bin/sh
# records the call and what the policy file said at that moment
{ printf 'apt-get %s | policy: ' "$*"; cat "$DEPS_POLICY_RC_D" 2>/dev/null | tr '\n' ' ' || printf 'none'; echo; } >> "$APT_LOG"
EOF
printf '#!/bin/sh\necho 0\n' > "$stub/id"
chmod 755 "$stub"/*

export DEPS_POLICY_RC_D=$H_TMP/policy-rc.d APT_LOG=$H_TMP/apt.log
deps() {	# -> deps.sh's exit status; its stderr in $H_TMP/deps.err
    local rc=0
    PATH=$stub:$PATH sh "$H_TOP/scripts/deps.sh" 2> "$H_TMP/deps.err" || rc=$?
    return $rc
}

# --- no policy file before: one is made for apt-get, then removed ---
: > "$APT_LOG"
rc=0; deps || rc=$?
[ $rc = 0 ] || h_fail "deps.sh exited $rc with no policy file before: $(cat "$H_TMP/deps.err")"
grep -q '^apt-get install .* kcat | policy: #!/bin/sh exit 101 $' "$APT_LOG" \
    || h_fail "apt-get install did not run with the exit-101 policy: $(cat "$APT_LOG")"
[ ! -e "$DEPS_POLICY_RC_D" ] || h_fail "deps.sh left the policy file it made"
h_ok "no policy-rc.d before: deps.sh installs under its own exit-101 policy, removes it, exits 0"

# --- a policy file there before: used as it is, kept, exit 0 ---
printf '#!/bin/sh\n# the image'"'"'s own\nexit 101\n' > "$DEPS_POLICY_RC_D"
chmod 755 "$DEPS_POLICY_RC_D"
before=$(sha256sum < "$DEPS_POLICY_RC_D")
: > "$APT_LOG"
rc=0; deps || rc=$?
[ $rc = 0 ] || h_fail "deps.sh exited $rc with a policy file already there: $(cat "$H_TMP/deps.err")"
grep -q "^apt-get install .* kcat | policy: #!/bin/sh # the image's own exit 101 \$" "$APT_LOG" \
    || h_fail "apt-get install did not run with the existing policy: $(cat "$APT_LOG")"
[ "$(sha256sum < "$DEPS_POLICY_RC_D")" = "$before" ] || h_fail "deps.sh changed or removed the existing policy file"
h_ok "policy-rc.d already there: deps.sh keeps it as it was and exits 0"

# --- nothing missing: no apt-get, exit 0 ---
printf '#!/bin/sh\nprintf "ii "\n' > "$stub/dpkg-query"
rm -f "$DEPS_POLICY_RC_D"
: > "$APT_LOG"
rc=0; deps || rc=$?
[ $rc = 0 ] && [ ! -s "$APT_LOG" ] && [ ! -e "$DEPS_POLICY_RC_D" ] \
    || h_fail "nothing missing: exit $rc, apt-get calls: $(cat "$APT_LOG")"
h_ok "nothing missing: deps.sh exits 0 without apt-get"
