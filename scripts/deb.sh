#!/usr/bin/env bash
# Build the Debian package of snaptree: the release binary, its manual page, bash/zsh/fish
# completions, the README, the changelog and the example config, with `Depends` read from
# the binary itself (dpkg-shlibdeps).
#
#   bash scripts/deb.sh [OUT_DIR]        # builds the release binary first (cargo --locked)
#   SNAPTREE_BIN=path bash scripts/deb.sh  # packages that binary instead
#
# Prints the path of the .deb on its last line. Needs dpkg-dev (dpkg-deb, dpkg-shlibdeps).
# The maintainer field is $DEBFULLNAME <$DEBEMAIL>, as Debian's tools read them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/target/debian}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/snaptree-target}"
for tool in dpkg-deb dpkg-shlibdeps dpkg-architecture gzip readelf; do
    command -v "$tool" >/dev/null || { echo "deb.sh: $tool is missing (apt install dpkg-dev)" >&2; exit 2; }
done
bin="${SNAPTREE_BIN:-}"
if [ -z "$bin" ]; then
    (cd "$here" && cargo build --release --locked --bin snaptree >&2)
    bin="$CARGO_TARGET_DIR/release/snaptree"
fi
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/Cargo.toml" | head -n 1)"
arch="$(dpkg-architecture -qDEB_HOST_ARCH)"
[ -n "$version" ] || { echo "deb.sh: no version in Cargo.toml" >&2; exit 1; }

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/snaptree_${version}_$arch"
doc="$root/usr/share/doc/snaptree"
install -D -m 0755 "$bin" "$root/usr/bin/snaptree"
install -d "$root/usr/share/man/man1" "$doc/examples" \
    "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"
"$bin" man | gzip -9n >"$root/usr/share/man/man1/snaptree.1.gz"
"$bin" completions bash >"$root/usr/share/bash-completion/completions/snaptree"
"$bin" completions zsh >"$root/usr/share/zsh/vendor-completions/_snaptree"
"$bin" completions fish >"$root/usr/share/fish/vendor_completions.d/snaptree.fish"
install -m 0644 "$here/README.md" "$doc/README.md"
gzip -9n <"$here/CHANGELOG.md" >"$doc/changelog.gz"
install -m 0644 "$here/crates/backends/assets/config-template.toml" "$doc/examples/config.toml"
cat >"$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: snaptree

Files: *
Copyright: the snaptree authors
License: MIT or Apache-2.0
 On Debian systems the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
find "$root/usr/share" -type f -exec chmod 0644 {} +

# Depends: the shared libraries the binary links, as dpkg-shlibdeps finds their packages.
mkdir -p "$stage/debian"
printf 'Source: snaptree\n\nPackage: snaptree\nArchitecture: any\n' >"$stage/debian/control"
depends="$(cd "$stage" && dpkg-shlibdeps -O "$root/usr/bin/snaptree" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
[ -n "$depends" ] || { echo "deb.sh: dpkg-shlibdeps found no dependency" >&2; exit 1; }
# Packed relocations (build.rs) need glibc 2.36, which libc6's symbols file does not say:
# the binary asks for GLIBC_ABI_DT_RELR, so the package asks for that glibc.
if readelf -V "$root/usr/bin/snaptree" | grep -q GLIBC_ABI_DT_RELR; then
    depends="$(printf '%s' "$depends" | sed -E 's/libc6 \(>= [0-9.]+\)/libc6 (>= 2.36)/')"
    case "$depends" in *"libc6 (>= 2.36)"*) ;; *) depends="libc6 (>= 2.36), $depends" ;; esac
fi
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
install -d "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<CONTROL
Package: snaptree
Version: $version
Architecture: $arch
Maintainer: ${DEBFULLNAME:-snaptree maintainers} <${DEBEMAIL:-root@localhost}>
Installed-Size: $size
Depends: $depends
Recommends: openssh-client
Section: admin
Priority: optional
Description: terminal UI and CLI for VM snapshot trees (vSphere, OVHcloud VPS)
 snaptree browses and operates the snapshot trees of vSphere VMs and OVHcloud
 VPS in one keyboard-driven view, and the same from scripts: take, revert,
 delete, consolidate, rename, prune by policy, report and monitoring checks.
 Every change is re-checked, confirmed and written to an audit log first.
CONTROL
mkdir -p "$out"
deb="$out/snaptree_${version}_$arch.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
