#!/usr/bin/env bash
# Install Go and Debian's packaged govmomi, then build the vcsim used by the vSphere
# integration tests. Prints the binary's path on its last line.
#
#   bash .ci/vcsim.sh            # builds into ${SNAPTREE_VCSIM:-$HOME/.cache/snaptree-vcsim/vcsim}
#
# The tests find it through $SNAPTREE_VCSIM (or that default path).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${SNAPTREE_VCSIM:-$HOME/.cache/snaptree-vcsim/vcsim}"
src="$here/tests/vcsim/main.go"

if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/github.com/vmware/govmomi ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq golang-go golang-github-vmware-govmomi-dev >/dev/null
fi

# Rebuild only when the source changed (the build takes ~30 s on 2 cores).
if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
    mkdir -p "$(dirname "$out")"
    (cd "$here/tests/vcsim" && GO111MODULE=off GOPATH=/usr/share/gocode \
        GOCACHE="${GOCACHE:-$HOME/.cache/snaptree-vcsim/gocache}" go build -o "$out" main.go)
fi
echo "$out"
