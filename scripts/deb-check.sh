#!/usr/bin/env bash
# Install a snaptree .deb with dpkg, check what it put in place and run the installed
# binary on the demo estate, then remove it. CI runs it on the package scripts/deb.sh built.
#
#   bash scripts/deb-check.sh target/debian/snaptree_0.1.0_amd64.deb
set -euo pipefail
deb="$1"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
fail() { echo "deb-check: $*" >&2; exit 1; }
dpkg-deb --field "$deb" Package Version Architecture Depends
$sudo dpkg -i "$deb"
trap '$sudo dpkg -r snaptree >/dev/null' EXIT
for f in /usr/bin/snaptree /usr/share/man/man1/snaptree.1.gz \
    /usr/share/bash-completion/completions/snaptree /usr/share/zsh/vendor-completions/_snaptree \
    /usr/share/fish/vendor_completions.d/snaptree.fish /usr/share/doc/snaptree/README.md \
    /usr/share/doc/snaptree/examples/config.toml /usr/share/doc/snaptree/copyright; do
    [ -s "$f" ] || fail "$f is missing or empty"
done
zcat /usr/share/man/man1/snaptree.1.gz | grep -q '^\.SH EXIT STATUS' || fail "the manual has no EXIT STATUS"
listed="$(cd / && XDG_STATE_HOME="$(mktemp -d)" /usr/bin/snaptree --demo ls --json)"
machines="$(printf '%s' "$listed" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["machines"]))')"
[ "$machines" -gt 0 ] || fail "the installed binary listed no machine of the demo"
echo "deb-check: installed, $machines demo machines listed by /usr/bin/snaptree --demo ls"
